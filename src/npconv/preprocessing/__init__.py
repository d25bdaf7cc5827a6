"""Keras's ``keras.preprocessing`` paths, which keras.io's image examples still use
(``keras.preprocessing.image.load_img``, ``tf.keras.preprocessing.image_dataset_from_directory``,
``from tensorflow.keras.preprocessing.image import load_img``): the same functions as
:mod:`npconv.utils`' image utilities (:mod:`npconv.datasets.images`).

``image``: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``; here:
``image_dataset_from_directory``. Not here: Keras's ``smart_resize``, ``sequence`` and the
text and time-series datasets."""

from __future__ import annotations

from . import image

__all__ = ["image", "image_dataset_from_directory"]


def __getattr__(name):
    if name == "image_dataset_from_directory":  # (imported on first use, as in npconv.utils)
        from ..datasets import images

        value = images.image_dataset_from_directory
        globals()[name] = value
        return value
    raise AttributeError(f"module 'npconv.preprocessing' has no attribute {name!r}")
