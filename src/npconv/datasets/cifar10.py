"""CIFAR-10: 50,000 training and 10,000 test colour images, 32 x 32, 10 classes.

``from npconv.datasets import cifar10; (x_train, y_train), (x_test, y_test) = cifar10.load_data()``
gives x uint8 (N, 32, 32, 3) channels-last and y uint8 (N, 1), as Keras does.

Read from the official *binary* archive ``cifar-10-binary.tar.gz`` (never the pickled Python
version: unpickling a downloaded file can run code). Its folder ``cifar-10-batches-bin/`` holds
``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``; each is a run of
3073-byte records: 1 label byte then 3072 pixel bytes, the red, green and blue 32 x 32 planes
(CHW). The archive is read in memory, member by member; nothing is extracted to disk. An already
extracted ``cifar-10-batches-bin`` folder beside it (or in ``path=``) is read too.

Every read of the archive checks its integrity, not only downloads: the gzip stream is read to
its end, so its CRC-32 and length trailer are verified (a tar reader alone stops at the tar's
end-of-archive blocks and never looks at the trailer, so a flipped byte in the deflate data
would give wrong pixels silently), and a file of exactly the official archive's size must also
have its SHA-256. A failed check is a ``ValueError`` naming the file, never a partial array.
"""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from .lookup import DatasetSpec, RemoteFile, locate

ARCHIVE = "cifar-10-binary.tar.gz"
FOLDER = "cifar-10-batches-bin"
TRAIN_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_BATCH = "test_batch.bin"
RECORD = 1 + 3 * 32 * 32
MAX_RECORDS = 10000  # per batch file in the official archive

SPEC = DatasetSpec(
    name="cifar-10",
    title="CIFAR-10",
    description="tiny colour images, 50000 train + 10000 test, 32x32x3, 10 classes",
    files=(RemoteFile(
        ARCHIVE, "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171,
        alternatives=(FOLDER,),
    ),),
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
)

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")


def decode_batch(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch -> x uint8 (N, 32, 32, 3), y uint8 (N, 1); ``where`` names it."""
    if len(data) == 0 or len(data) % RECORD or len(data) > MAX_RECORDS * RECORD:
        raise ValueError(
            f"cifar10: {where}: expected a whole number (1 to {MAX_RECORDS}) of {RECORD}-byte "
            f"records. Received {len(data)} bytes"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    y = records[:, :1].copy()
    if int(y.max()) > 9:
        raise ValueError(f"cifar10: {where}: expected labels 0-9. Received a label {int(y.max())}")
    x = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()  # CHW -> HWC
    return x, y


class _HashingReader:
    """A read-only file that feeds every byte read from ``raw`` into a SHA-256."""

    def __init__(self, raw):
        self.raw, self.digest, self.size = raw, hashlib.sha256(), 0

    def read(self, n=-1):
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def readable(self):
        return True


def _read_archive(archive: Path) -> dict[str, bytes]:
    """The six batch files of ``archive``, read in memory by streaming through the tar.gz.

    The gzip stream is decompressed to its very end so that its CRC-32 and size are checked;
    a file of the official archive's size must also have its SHA-256 (see the module docstring).
    """
    wanted = set(TRAIN_BATCHES) | {TEST_BATCH}
    batches: dict[str, bytes] = {}
    official = SPEC.files[0]  # looked up at call time: tests substitute their own SPEC
    try:
        with open(archive, "rb") as raw:
            hashed = _HashingReader(raw)
            with gzip.GzipFile(fileobj=hashed, mode="rb") as gz:
                with tarfile.open(fileobj=gz, mode="r|") as tar:
                    for member in tar:
                        p = PurePosixPath(member.name)
                        if p.name not in wanted or len(p.parts) > 2:
                            continue
                        where = f"{archive}:{member.name}"
                        if not member.isfile():
                            raise ValueError(f"cifar10: {where} is not a regular file")
                        if p.name in batches:
                            raise ValueError(f"cifar10: {archive}: {p.name} appears twice")
                        if member.size % RECORD or not 0 < member.size <= MAX_RECORDS * RECORD:
                            raise ValueError(
                                f"cifar10: {where}: expected a whole number (1 to {MAX_RECORDS})"
                                f" of {RECORD}-byte records. Received {member.size} bytes"
                            )
                        batches[p.name] = tar.extractfile(member).read()
                # the tar reader stops at the end-of-archive blocks; the gzip trailer (CRC-32
                # and length of the data) is only checked once the stream is read to its end
                while gz.read(1 << 20):
                    pass
            while hashed.read(1 << 20):  # bytes after the gzip stream count for the SHA-256
                pass
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise ValueError(f"cifar10: {archive}: broken, corrupted or truncated archive "
                         f"({err}); delete it and download it again") from None
    if hashed.size == official.size and hashed.digest.hexdigest() != official.sha256.lower():
        raise ValueError(
            f"cifar10: {archive}: corrupted archive: it has the size of the official "
            f"{official.name} ({official.size} bytes) but not its SHA-256 (got "
            f"{hashed.digest.hexdigest()}, expected {official.sha256}); delete it and "
            "download it again")
    missing = sorted(wanted - set(batches))
    if missing:
        raise ValueError(f"cifar10: {archive}: lacks {', '.join(missing)}")
    return batches


def _read_folder(folder: Path) -> dict[str, bytes]:
    missing = [n for n in (*TRAIN_BATCHES, TEST_BATCH) if not (folder / n).is_file()]
    if missing:
        raise ValueError(f"cifar10: {folder}: lacks {', '.join(missing)}")
    return {n: (folder / n).read_bytes() for n in (*TRAIN_BATCHES, TEST_BATCH)}


def read_binary(source) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Decode ``cifar-10-binary.tar.gz`` or an extracted ``cifar-10-batches-bin`` folder."""
    source = Path(source)
    batches = _read_folder(source) if source.is_dir() else _read_archive(source)
    train = [decode_batch(batches[n], f"{source}:{n}") for n in TRAIN_BATCHES]
    x_test, y_test = decode_batch(batches[TEST_BATCH], f"{source}:{TEST_BATCH}")
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return (x_train, y_train), (x_test, y_test)


def load_data(path=None, *, download: bool = True, download_base=None):
    """CIFAR-10 as ``((x_train, y_train), (x_test, y_test))``: x (N, 32, 32, 3), y (N, 1), uint8.

    ``path``: a folder holding ``cifar-10-binary.tar.gz`` or ``cifar-10-batches-bin/`` (the
    only place looked at when given). ``download``: fetch the archive (163 MiB) into the cache.
    """
    located = locate(SPEC, path, download=download, download_base=download_base)
    return read_binary(located.files[ARCHIVE])
