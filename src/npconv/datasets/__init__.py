"""Datasets: MNIST, Fashion-MNIST, CIFAR-10, image folders, and the IDX file format.

Keras paths work: ``from npconv.datasets import mnist; (x_train, y_train), (x_test, y_test) =
mnist.load_data()``. Where the files are looked for and how they are downloaded:
:mod:`npconv.datasets.lookup`. What is available on this machine: :func:`available`.
"""

from . import cifar10, fashion_mnist, mnist
from .catalog import DatasetStatus, available, available_report
from .folders import image_folder
from .idx import read_idx, write_idx
from .lookup import DatasetNotFoundError, DownloadError

__all__ = [
    "DatasetNotFoundError",
    "DatasetStatus",
    "DownloadError",
    "available",
    "available_report",
    "cifar10",
    "fashion_mnist",
    "image_folder",
    "mnist",
    "read_idx",
    "write_idx",
]
