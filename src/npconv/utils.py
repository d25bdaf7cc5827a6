"""Keras's ``utils``: seeding, one-hot labels, clearing layer names."""

from __future__ import annotations

import numpy as np

from .layers.base import reset_name_counters
from .random import set_random_seed

__all__ = ["set_random_seed", "to_categorical", "clear_session"]


def to_categorical(y, num_classes=None, dtype="float32") -> np.ndarray:
    """One-hot encode integer labels ``y`` of shape (N,) (or (N, 1)) into (N, num_classes)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 1 and y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)  # float labels holding whole numbers (e.g. read from a CSV)
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"to_categorical: expected 1-D integer labels. Received shape {y.shape} "
                         f"and dtype {y.dtype}")
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}). Received labels "
                         f"from {y.min()} to {y.max()}")
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def clear_session() -> None:
    """Restart automatic layer names (``conv2d``, ``conv2d_1`` ...) as Keras's clear_session."""
    reset_name_counters()
