"""Keras's ``utils``: seeding, one-hot labels, clearing layer names."""

from __future__ import annotations

import numpy as np

from .layers.base import reset_name_counters
from .random import set_random_seed

__all__ = ["set_random_seed", "to_categorical", "clear_session"]


def to_categorical(y, num_classes=None, dtype="float32") -> np.ndarray:
    """One-hot encode integer labels ``y`` of any shape into ``shape + (num_classes,)``.

    Keras's rule for the shape: a trailing axis of 1 on an array of rank >= 2 is dropped
    first, so labels (N, 1) give (N, num_classes) as labels (N,) do, and (N, T) give
    (N, T, num_classes). ``num_classes`` defaults to ``max(y) + 1``.
    """
    y = np.asarray(y)
    shape = y.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)  # float labels holding whole numbers (e.g. read from a CSV)
    if y.dtype.kind not in "iu":
        raise ValueError(f"to_categorical: expected integer labels. Received shape {y.shape} "
                         f"and dtype {y.dtype}")
    flat = y.reshape(-1)
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}). Received labels "
                         f"from {flat.min()} to {flat.max()}")
    out = np.zeros((flat.shape[0], num_classes), dtype=dtype)
    out[np.arange(flat.shape[0]), flat] = 1
    return out.reshape(shape + (num_classes,))


def clear_session() -> None:
    """Restart automatic layer names (``conv2d``, ``conv2d_1`` ...) as Keras's clear_session."""
    reset_name_counters()
