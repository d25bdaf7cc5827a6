"""Argument helpers of the 3-D (volume) ops: triples of window sizes and of paddings.

A volume batch is ``(batch, depth, height, width, channels)`` (:data:`LAYOUT`).
"""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import check_rank, float_array

LAYOUT = "(batch, depth, height, width, channels)"

Pads3 = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def as_triple(value, name: str, where: str, *, minimum: int = 1) -> tuple[int, int, int]:
    """``value`` as three ints ``>= minimum`` (depth, height, width); an int means it thrice."""
    if _is_int(value):
        triple = (int(value),) * 3
    elif isinstance(value, (tuple, list)) and len(value) == 3 and all(map(_is_int, value)):
        triple = tuple(int(v) for v in value)
    else:
        raise ValueError(f"{where}: expected {name} to be an int or a tuple of 3 ints. "
                         f"Received: {name}={value!r}")
    if min(triple) < minimum:
        raise ValueError(f"{where}: expected {name} to be >= {minimum}. "
                         f"Received: {name}={value!r}")
    return triple


def normalize_pads3d(pad, where: str = "padding", name: str = "padding", *,
                     modes: str = "") -> Pads3:
    """``pad`` as ``((front, back), (top, bottom), (left, right))`` of ints >= 0.

    Accepts an int (all six sides), a triple ``(depth, height, width)`` (both sides of each)
    or the three pairs (Keras's ZeroPadding3D and Cropping3D arguments). ``modes``: the
    string paddings the caller also accepts, for the error message (``"'valid', 'same', "``).
    """
    if _is_int(pad) or (isinstance(pad, (tuple, list)) and len(pad) == 3
                        and all(map(_is_int, pad))):
        d, h, w = as_triple(pad, name, where, minimum=0)
        return ((d, d), (h, h), (w, w))
    if (isinstance(pad, (tuple, list)) and len(pad) == 3
            and all(isinstance(p, (tuple, list)) and len(p) == 2 and all(map(_is_int, p))
                    for p in pad)):
        pads = tuple((int(a), int(b)) for a, b in pad)
        if min(min(p) for p in pads) < 0:
            raise ValueError(f"{where}: expected {name} to be >= 0. Received: {name}={pad!r}")
        return pads
    raise ValueError(f"{where}: expected {name} to be {modes}an int, a tuple of 3 ints or 3 pairs "
                     f"((front, back), (top, bottom), (left, right)). Received: {name}={pad!r}")


def float_volumes(x, where: str) -> np.ndarray:
    """``x`` as a float volume batch with at least one voxel per volume, or a clear error."""
    x = float_array(x, where)
    check_rank(x, 5, where, LAYOUT)
    if min(x.shape[1:4]) < 1:
        raise ValueError(f"{where}: expected an input with depth, height and width >= 1. "
                         f"Received an input of shape {x.shape}")
    return x
