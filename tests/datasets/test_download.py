"""Downloads from a local HTTP server on 127.0.0.1: verified, atomic, mirrors, clear errors."""

from __future__ import annotations

import os
import socket

import numpy as np
import pytest

from npconv.datasets import DatasetNotFoundError, DownloadError, mnist
from npconv.datasets.lookup import download_file, locate, mirror_bases

from .helpers import (
    MNIST_NAMES,
    LocalServer,
    closed_port_url,
    file_bytes,
    spec_for,
    write_tiny_mnist,
)


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Tiny MNIST files on a local server, and mnist.SPEC carrying their checksums."""
    arrays = write_tiny_mnist(tmp_path / "src", marker=9)
    payloads = file_bytes(tmp_path / "src")
    monkeypatch.setattr(mnist, "SPEC", spec_for(mnist.SPEC, payloads))
    with LocalServer({f"/mnist/{k}": v for k, v in payloads.items()}) as server:
        yield server, arrays, payloads


def test_good_download_is_cached_and_verified(served, isolated):
    server, arrays, payloads = served
    (x_train, y_train), (x_test, y_test) = mnist.load_data(download_base=server.url + "/mnist")
    np.testing.assert_array_equal(x_train, arrays[mnist.TRAIN_IMAGES])
    np.testing.assert_array_equal(y_test, arrays[mnist.TEST_LABELS])
    cached = isolated["cache"] / "mnist"
    assert file_bytes(cached) == payloads  # exactly the four files, no temporary file left
    assert len(server.requests) == 4
    mnist.load_data(download_base=server.url + "/mnist")
    assert len(server.requests) == 4  # the second load reads the cache
    assert locate(mnist.SPEC).source == "cache"


def test_mirror_from_environment_falls_back_to_the_next_address(served, isolated, monkeypatch):
    server, arrays, payloads = served
    monkeypatch.setenv("NPCONV_MIRROR", f"{closed_port_url()}, {server.url}/nothing-here "
                                        f"{server.url}/mnist/")
    located = locate(mnist.SPEC)
    assert located.source == "download" and located.folder == isolated["cache"] / "mnist"
    assert file_bytes(located.folder) == payloads
    assert sum(r.startswith("/nothing-here/") for r in server.requests) == 4  # 404s, then mirror 3


def test_only_missing_files_are_downloaded(served, isolated):
    server, arrays, payloads = served
    cached = isolated["cache"] / "mnist"
    cached.mkdir(parents=True)
    (cached / mnist.TRAIN_IMAGES).write_bytes(payloads[mnist.TRAIN_IMAGES])
    mnist.load_data(download_base=server.url + "/mnist")
    assert sorted(server.requests) == sorted(f"/mnist/{n}" for n in MNIST_NAMES[1:])


def test_wrong_checksum_leaves_nothing(served, isolated):
    server, arrays, payloads = served
    server.files[f"/mnist/{mnist.TEST_IMAGES}"] = b"x" * len(payloads[mnist.TEST_IMAGES])
    with pytest.raises(DatasetNotFoundError, match="SHA-256 mismatch") as info:
        mnist.load_data(download_base=server.url + "/mnist")
    assert f"{server.url}/mnist/{mnist.TEST_IMAGES}" in str(info.value)
    cached = isolated["cache"] / "mnist"
    # the files verified before the bad one stay (they are right); the bad one left no trace
    assert mnist.TEST_IMAGES not in os.listdir(cached)
    assert not [n for n in os.listdir(cached) if n.startswith(".")]


@pytest.mark.parametrize("body", [b"short", b"y" * 100_000], ids=["short", "long"])
def test_wrong_size_is_rejected(served, isolated, body):
    server, arrays, payloads = served
    server.files[f"/mnist/{mnist.TRAIN_IMAGES}"] = body
    with pytest.raises(DatasetNotFoundError, match="bytes"):
        mnist.load_data(download_base=server.url + "/mnist")
    cached = isolated["cache"] / "mnist"
    assert not cached.exists() or os.listdir(cached) == []


def test_interrupted_transfer_leaves_nothing(served, isolated):
    server, arrays, payloads = served
    server.short.add(f"/mnist/{mnist.TRAIN_IMAGES}")
    # the server promises more bytes than it sends: caught as a short read or by the size check
    size = len(payloads[mnist.TRAIN_IMAGES])
    with pytest.raises(DownloadError, match=f"IncompleteRead|received {size // 2} bytes, "
                                            f"expected {size}"):
        mnist.load_data(download_base=server.url + "/mnist")
    assert not (isolated["cache"] / "mnist").exists()  # nothing arrived: no empty folder


def test_the_error_lists_only_the_failures_of_the_file_that_failed(served, isolated):
    """Failures were collected across files: the error for the second file also listed the
    mirrors that had failed for the first one, which was in fact downloaded."""
    server, arrays, payloads = served
    del server.files[f"/mnist/{mnist.TRAIN_LABELS}"]
    bases = [f"{server.url}/nothing-here/", f"{server.url}/mnist/"]
    with pytest.raises(DownloadError) as info:
        mnist.load_data(download_base=bases)
    msg = str(info.value)
    assert f"could not download {mnist.TRAIN_LABELS}" in msg
    assert f"nothing-here/{mnist.TRAIN_LABELS}" in msg and f"mnist/{mnist.TRAIN_LABELS}" in msg
    assert f"nothing-here/{mnist.TRAIN_IMAGES}" not in msg  # it was downloaded from mirror 2
    assert (isolated["cache"] / "mnist" / mnist.TRAIN_IMAGES).is_file()


def test_connection_refused_lists_every_place(isolated):
    url = closed_port_url()
    with pytest.raises(DownloadError) as info:
        mnist.load_data(download_base=url)
    msg = str(info.value)
    assert "ConnectionRefusedError" in msg and url + mnist.TRAIN_IMAGES in msg
    assert str(isolated["cache"] / "mnist") in msg and str(isolated["system"] / "mnist") in msg
    assert "NPCONV_DATA" in msg and "path=" in msg
    assert not (isolated["cache"] / "mnist").exists()  # (an empty folder was left behind)
    # nor the cache root and ~/.cache it made on the way (an empty ~/.cache/npconv stayed)
    assert not isolated["cache"].exists() and not (isolated["home"] / ".cache").exists()


def test_a_failed_download_keeps_the_folders_it_did_not_create(isolated, monkeypatch):
    url = closed_port_url()
    root = isolated["cache"]
    root.mkdir(parents=True)  # an empty cache root the user made: not the download's to remove
    with pytest.raises(DownloadError):
        mnist.load_data(download_base=url)
    assert root.is_dir() and os.listdir(root) == []
    custom = isolated["home"] / "mine" / "cache"  # $NPCONV_CACHE, two folders deep
    monkeypatch.setenv("NPCONV_CACHE", str(custom))
    (isolated["home"] / "mine").mkdir()
    (isolated["home"] / "mine" / "keep.txt").write_text("x")
    with pytest.raises(DownloadError):
        mnist.load_data(download_base=url)
    assert not custom.exists() and (isolated["home"] / "mine" / "keep.txt").is_file()


def test_ctrl_c_during_a_download_leaves_no_empty_folder(isolated, monkeypatch):
    from npconv.datasets import lookup

    def interrupted(url, dest, *args, **kwargs):
        dest.parent.mkdir(parents=True, exist_ok=True)  # as atomic_path makes the folders
        raise KeyboardInterrupt

    monkeypatch.setattr(lookup, "download_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mnist.load_data(download_base=closed_port_url())
    assert not (isolated["home"] / ".cache").exists()


def test_timeout(tmp_path):
    with socket.socket() as listener:  # accepts connections (backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/f"
        with pytest.raises(OSError, match="timed out"):
            download_file(url, tmp_path / "f", "0" * 64, 10, timeout=0.3)
    assert os.listdir(tmp_path) == []


def test_download_base_must_be_http(isolated):
    with pytest.raises(ValueError, match="http:// or https://"):
        mnist.load_data(download_base="file:///etc/")
    assert mirror_bases(mnist.SPEC, "http://a/x, https://b/y/") == ["http://a/x/", "https://b/y/"]


def test_builtin_addresses(monkeypatch):
    monkeypatch.delenv("NPCONV_MIRROR")
    bases = mirror_bases(mnist.SPEC)
    assert bases[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/" and len(bases) == 2
    assert all(len(rf.sha256) == 64 for rf in mnist.SPEC.files)
