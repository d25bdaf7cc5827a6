"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28 x 28 grey, labels 0-9.

``from npconv.datasets import mnist; (x_train, y_train), (x_test, y_test) = mnist.load_data()``
gives uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,), as Keras does.
The four IDX files (gzipped or not) are looked up as described in :mod:`npconv.datasets.lookup`
(``path=`` is a folder here, not Keras's ``mnist.npz`` name) and downloaded if missing.
"""

from __future__ import annotations

import numpy as np

from .idx import read_idx
from .lookup import DatasetSpec, RemoteFile, locate

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"


def idx_files(checksums: dict[str, tuple[str, int]]) -> tuple[RemoteFile, ...]:
    """The four IDX files with their (sha256, size); each also accepted uncompressed."""
    return tuple(
        RemoteFile(name, sha, size, alternatives=(name[: -len(".gz")],))
        for name, (sha, size) in checksums.items()
    )


# SHA-256 and sizes of the files as served by the mirrors (the same bytes as LeCun's originals).
SPEC = DatasetSpec(
    name="mnist",
    title="MNIST",
    description="handwritten digits, 60000 train + 10000 test, 28x28 grey, 10 classes",
    files=idx_files({
        TRAIN_IMAGES: ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        TRAIN_LABELS: ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        TEST_IMAGES: ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        TEST_LABELS: ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    }),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
)

CLASS_NAMES = tuple(str(d) for d in range(10))


def load_idx_dataset(spec: DatasetSpec, path=None, *, download: bool = True,
                     download_base=None, num_classes: int = 10):
    """Read an MNIST-like ``spec``'s IDX files into ``((x_train, y_train), (x_test, y_test))``.

    Checks that images are (N, H, W) uint8, labels (N,) uint8 with the same N and values below
    ``num_classes``; anything else is a ``ValueError`` naming the file.
    """
    files = locate(spec, path, download=download, download_base=download_base).files

    def pair(images_name, labels_name):
        x, y = read_idx(files[images_name]), read_idx(files[labels_name])
        if x.ndim != 3 or x.dtype != np.uint8:
            raise ValueError(f"{spec.name}: {files[images_name]}: expected uint8 images of shape "
                             f"(N, H, W). Received {x.dtype} of shape {x.shape}")
        if y.ndim != 1 or y.dtype != np.uint8 or len(y) != len(x):
            raise ValueError(f"{spec.name}: {files[labels_name]}: expected {len(x)} uint8 labels "
                             f"to match the images. Received {y.dtype} of shape {y.shape}")
        if y.size and int(y.max()) >= num_classes:
            raise ValueError(f"{spec.name}: {files[labels_name]}: expected labels in "
                             f"[0, {num_classes - 1}]. Received a label {int(y.max())}")
        return x, y

    return pair(TRAIN_IMAGES, TRAIN_LABELS), pair(TEST_IMAGES, TEST_LABELS)


def load_data(path=None, *, download: bool = True, download_base=None):
    """MNIST as ``((x_train, y_train), (x_test, y_test))``, uint8, like ``keras.datasets.mnist``.

    ``path``: a folder holding the four files (the only place looked at when given).
    ``download``: fetch missing files into the cache. ``download_base``: mirror base URL(s).
    """
    return load_idx_dataset(SPEC, path, download=download, download_base=download_base)
