"""Small tools between a dataset and a model: split, batch, scale, one-hot.

Seed 003 splits MNIST's test set into validation and test data, 70/30::

    (x_val, y_val), (x_test, y_test) = random_split(x_test, y_test, [0.7, 0.3], seed=20)

and then iterates over shuffled mini-batches::

    for xb, yb in batches(to_float(x_train), y_train, batch_size=64, seed=0): ...

Every random choice draws from a seed or a ``numpy.random.Generator`` (None: a child of
npconv's run-wide generator, see :mod:`npconv.random`), so a run is reproducible. Batches are
taken with index arrays: there is no Python loop over samples.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .random import make_generator


def _length(x, y, where: str) -> int:
    if x is None or np.ndim(x) == 0:
        raise ValueError(f"{where}: expected x to be an array with a sample axis. Received: {x!r}")
    n = len(x)
    if y is not None and (np.ndim(y) == 0 or len(y) != n):
        got = "a scalar" if np.ndim(y) == 0 else f"{len(y)} samples"
        raise ValueError(f"{where}: expected y to have as many samples as x ({n}). Received {got}")
    return n


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)


def split_lengths(n: int, lengths, where: str = "random_split") -> list[int]:
    """Sizes of the parts: ints summing to ``n``, or fractions summing to 1.

    Fractions are rounded down, then the leftover samples go one each to the first parts, as
    ``torch.utils.data.random_split`` does (10000 by [0.7, 0.3] -> [7000, 3000]).
    """
    lengths = list(lengths)
    if not lengths:
        raise ValueError(f"{where}: expected at least one length. Received: lengths={lengths}")
    if all(_is_int(v) for v in lengths):
        if min(lengths) < 0 or sum(lengths) != n:
            raise ValueError(f"{where}: expected non-negative sizes summing to the {n} samples. "
                             f"Received: lengths={lengths}")
        return [int(v) for v in lengths]
    if not all(isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 <= v <= 1
               for v in lengths) or not math.isclose(sum(lengths), 1.0, abs_tol=1e-6):
        raise ValueError(f"{where}: expected fractions in [0, 1] summing to 1, or int sizes "
                         f"summing to {n}. Received: lengths={lengths}")
    sizes = [math.floor(n * f) for f in lengths]
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    return sizes


def random_split(x, y=None, lengths=(0.8, 0.2), *, seed=None):
    """Shuffle the samples and cut them into parts of the given ``lengths`` (sizes or fractions).

    Returns a list with one ``(x_part, y_part)`` per length (just ``x_part`` if ``y`` is None).
    Each sample lands in exactly one part. ``seed``: int, Generator or None.
    """
    if y is not None and np.ndim(y) == 1 and len(y) == len(lengths) != len(x) \
            and not np.issubdtype(np.asarray(y).dtype, np.integer):
        raise ValueError("random_split: y looks like the lengths; to split x alone call "
                         f"random_split(x, lengths={list(y)}). Received: y={list(y)}")
    n = _length(x, y, "random_split")
    sizes = split_lengths(n, lengths)
    order = make_generator(seed).permutation(n)
    bounds = np.cumsum([0, *sizes])
    parts = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        idx = order[start:stop]
        parts.append(np.asarray(x)[idx] if y is None else (np.asarray(x)[idx], np.asarray(y)[idx]))
    return parts


def train_val_split(x, y=None, validation_split: float = 0.2, *, shuffle: bool = True, seed=None):
    """Split into training and validation data: ``((x_train, y_train), (x_val, y_val))``.

    ``validation_split``: the fraction held out (floor(n * fraction) samples). ``shuffle=False``
    holds out the *last* samples, as Keras's ``fit(validation_split=...)`` does.
    """
    if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) \
            or not 0 <= validation_split < 1:
        raise ValueError("train_val_split: expected validation_split in [0, 1). "
                         f"Received: validation_split={validation_split!r}")
    n = _length(x, y, "train_val_split")
    n_val = math.floor(n * validation_split)
    order = make_generator(seed).permutation(n) if shuffle else np.arange(n)
    x = np.asarray(x)
    train, val = order[: n - n_val], order[n - n_val:]
    if y is None:
        return x[train], x[val]
    y = np.asarray(y)
    return (x[train], y[train]), (x[val], y[val])


class Batches:
    """Mini-batches of ``(x, y)``; each ``iter()`` is one epoch over every sample once.

    With ``shuffle=True`` every epoch uses a new permutation drawn from one generator made
    from ``seed``, so the sequence of epochs is reproducible. ``len()`` is the number of
    batches per epoch. ``drop_last=True`` drops a last batch smaller than ``batch_size``.
    """

    def __init__(self, x, y=None, batch_size: int = 32, *, shuffle: bool = True, seed=None,
                 drop_last: bool = False):
        if not _is_int(batch_size) or batch_size < 1:
            raise ValueError(f"batches: expected batch_size to be an int >= 1. "
                             f"Received: batch_size={batch_size!r}")
        self.n = _length(x, y, "batches")
        self.x = np.asarray(x)
        self.y = None if y is None else np.asarray(y)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self._rng = make_generator(seed) if shuffle else None

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)

    def __iter__(self):
        order = self._rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.x[idx] if self.y is None else (self.x[idx], self.y[idx])


def batches(x, y=None, batch_size: int = 32, shuffle: bool = True, seed=None,
            drop_last: bool = False) -> Batches:
    """Mini-batches of ``(x, y)`` (or of ``x`` alone): see :class:`Batches`."""
    return Batches(x, y, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)


def to_float(x, scale: float = 255.0, dtype=np.float32) -> np.ndarray:
    """Pixels to floats: ``x / scale`` as float32 (uint8 images -> [0, 1]).

    A 3-D input (N, H, W), e.g. MNIST, gains a channel axis: (N, H, W, 1), the NHWC layout the
    layers expect. Other ranks keep their shape.
    """
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not scale > 0:
        raise ValueError(f"to_float: expected scale > 0. Received: scale={scale!r}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"to_float: expected a numeric array. Received dtype {arr.dtype}")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"to_float: expected a float dtype. Received: dtype={dtype}")
    out = arr.astype(dtype) / dtype.type(scale)
    return out[..., None] if out.ndim == 3 else out


def one_hot(y, num_classes: int | None = None, dtype=np.float32) -> np.ndarray:
    """Integer labels (N,) or (N, 1) -> one-hot rows (N, num_classes), like Keras's to_categorical.

    ``num_classes=None`` uses ``max(y) + 1``. Labels must be whole numbers in
    ``[0, num_classes)``.
    """
    labels = np.asarray(y)
    if labels.ndim >= 2 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.dtype.kind == "f":
        if not np.all(labels == np.round(labels)):
            raise ValueError("one_hot: expected whole-number labels. Received fractional values")
    elif labels.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected integer labels. Received dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    if num_classes is None:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    elif not _is_int(num_classes) or num_classes < 1:
        raise ValueError(f"one_hot: expected num_classes to be an int >= 1. "
                         f"Received: num_classes={num_classes!r}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"one_hot: expected labels in [0, {num_classes - 1}]. Received labels "
                         f"from {int(labels.min())} to {int(labels.max())}")
    return np.eye(num_classes, dtype=dtype)[labels]
