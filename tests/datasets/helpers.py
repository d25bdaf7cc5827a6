"""Small hand-made datasets and a local HTTP server for the dataset tests."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np

from npconv.datasets import cifar10, mnist
from npconv.datasets.idx import write_idx
from npconv.datasets.lookup import DatasetSpec

MNIST_NAMES = (mnist.TRAIN_IMAGES, mnist.TRAIN_LABELS, mnist.TEST_IMAGES, mnist.TEST_LABELS)


def tiny_mnist_arrays(marker: int, n_train: int = 6, n_test: int = 4):
    """MNIST-shaped arrays whose pixel [0, 0, 0] of x_train is ``marker`` (tells copies apart)."""
    rng = np.random.default_rng(marker)
    x_train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    x_train[0, 0, 0] = marker
    y_train = rng.integers(0, 10, n_train, dtype=np.uint8)
    x_test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    y_test = rng.integers(0, 10, n_test, dtype=np.uint8)
    return {mnist.TRAIN_IMAGES: x_train, mnist.TRAIN_LABELS: y_train,
            mnist.TEST_IMAGES: x_test, mnist.TEST_LABELS: y_test}


def write_tiny_mnist(folder: Path, marker: int, *, gz: bool = True, skip=()) -> dict:
    """Write a tiny MNIST-like set into ``folder``; returns the arrays by canonical name."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = tiny_mnist_arrays(marker)
    for name, arr in arrays.items():
        if name not in skip:
            write_idx(folder / (name if gz else name[:-3]), arr)
    return arrays


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def spec_for(spec: DatasetSpec, payloads: dict[str, bytes]) -> DatasetSpec:
    """``spec`` with the checksums and sizes of ``payloads`` (hand-made files served locally)."""
    files = tuple(
        dataclasses.replace(rf, sha256=hashlib.sha256(payloads[rf.name]).hexdigest(),
                            size=len(payloads[rf.name]))
        for rf in spec.files
    )
    return dataclasses.replace(spec, files=files)


# ---------------------------------------------------------------------------- CIFAR-10


def cifar_records(n: int, seed: int) -> np.ndarray:
    """``n`` random CIFAR-10 binary records (n, 3073): label byte then CHW pixels."""
    rng = np.random.default_rng(seed)
    rec = rng.integers(0, 256, (n, cifar10.RECORD), dtype=np.uint8)
    rec[:, 0] = rng.integers(0, 10, n)
    return rec


def tar_gz(members: dict[str, bytes], extra=(), compression: str = "gz") -> bytes:
    """A tar holding ``members`` (name -> bytes) and any ``extra`` entries (a TarInfo, or a
    ``(TarInfo, bytes)`` pair); gzipped unless ``compression=""``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=f"w:{compression}") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for entry in extra:
            info, data = entry if isinstance(entry, tuple) else (entry, None)
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return buf.getvalue()


def cifar_members(sizes=(3, 2, 4, 1, 2), n_test=3):
    """The six batch files (in the archive's folder) and their records by batch name."""
    records = {f"data_batch_{i + 1}.bin": cifar_records(n, seed=i) for i, n in enumerate(sizes)}
    records["test_batch.bin"] = cifar_records(n_test, seed=99)
    members = {f"cifar-10-batches-bin/{k}": v.tobytes() for k, v in records.items()}
    members["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\nautomobile\n"
    return members, records


# ---------------------------------------------------------------------------- HTTP


class LocalServer:
    """An HTTP server on 127.0.0.1 serving ``files`` (path -> bytes) from a thread."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[str] = []
        self.short: set[str] = set()  # paths answered with fewer bytes than Content-Length
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server hook's name)
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "File not found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.short else body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def closed_port_url() -> str:
    """The URL of a port on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
