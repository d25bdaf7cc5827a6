"""Fashion-MNIST (Zalando): 60,000 training and 10,000 test images of clothes, 28 x 28 grey.

``from npconv.datasets import fashion_mnist; (x_train, y_train), (x_test, y_test) =
fashion_mnist.load_data()`` gives uint8 arrays shaped as MNIST's, as Keras does. Debian's
``dataset-fashion-mnist`` package installs the files in /usr/share/datasets/fashion-mnist/,
one of the places looked at (see :mod:`npconv.datasets.lookup`).

Debian's files hold the same images as the downloads but their gzip headers lack the original
file name, so their SHA-256 differs from the published one; checksums are only applied to
downloads, and the content of every file is checked by the IDX reader.
"""

from __future__ import annotations

from .lookup import DatasetSpec
from .mnist import TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, idx_files, load_idx_dataset

SPEC = DatasetSpec(
    name="fashion-mnist",
    title="Fashion-MNIST",
    description="Zalando clothes, 60000 train + 10000 test, 28x28 grey, 10 classes",
    files=idx_files({
        TRAIN_IMAGES: ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                       26421880),
        TRAIN_LABELS: ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        TEST_IMAGES: ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        TEST_LABELS: ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    }),
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    install_hint="apt-get install dataset-fashion-mnist (Debian/Ubuntu)",
)

CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


def load_data(path=None, *, download: bool = True, download_base=None):
    """Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))``, uint8, like Keras.

    ``path``: a folder holding the four files (the only place looked at when given).
    ``download``: fetch missing files into the cache. ``download_base``: mirror base URL(s).
    """
    return load_idx_dataset(SPEC, path, download=download, download_base=download_base)
