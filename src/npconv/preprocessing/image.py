"""Keras's ``keras.preprocessing.image``: ``load_img``, ``img_to_array``, ``array_to_img``,
``save_img`` (:mod:`npconv.datasets.images`, imported on first use, as in
:mod:`npconv.utils`)."""

from __future__ import annotations

_IMAGE_UTILS = ("load_img", "img_to_array", "array_to_img", "save_img")

__all__ = [*_IMAGE_UTILS]


def __getattr__(name):
    if name in _IMAGE_UTILS:
        from ..datasets import images

        value = getattr(images, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'npconv.preprocessing.image' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
