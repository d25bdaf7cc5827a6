"""Argument checks shared by ops and layers.

Every error names the op or layer (``where``), what it expected and what it received,
in the style of Keras ("Received: strides=0").
"""

from __future__ import annotations

import numbers

import numpy as np


def as_pair(value, name: str, where: str, *, minimum: int = 1) -> tuple[int, int]:
    """Return ``value`` as a pair of ints ``>= minimum``; an int means the same value twice."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, bool)
                for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(
            f"{where}: expected {name} to be an int or a pair of ints. Received: {name}={value!r}"
        )
    if min(pair) < minimum:
        raise ValueError(
            f"{where}: expected {name} to be >= {minimum}. Received: {name}={value!r}"
        )
    return pair


def positive_int(value, name: str, where: str) -> int:
    """``value`` as a Python int >= 1 (a NumPy integer too, never a bool), or a ValueError
    naming ``where`` and the argument ``name``."""
    if (not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool)
            or value < 1):
        raise ValueError(f"{where}: expected {name} to be a positive int. "
                         f"Received: {name}={value!r}")
    return int(value)


def check_rank(x: np.ndarray, rank: int, where: str, layout: str = "") -> None:
    """Raise unless ``x`` has exactly ``rank`` dimensions."""
    if x.ndim != rank:
        hint = f" {layout}" if layout else ""
        raise ValueError(
            f"{where}: expected a {rank}-D input{hint}. Received an input of shape {x.shape}"
        )


def check_choice(value, name: str, choices, where: str):
    """Raise unless ``value`` is one of ``choices``; strings are compared case-insensitively."""
    key = value.lower() if isinstance(value, str) else value
    if key not in choices:
        raise ValueError(
            f"{where}: expected {name} to be one of {sorted(choices)}. Received: {name}={value!r}"
        )
    return key


def float_array(x, where: str, dtype=None) -> np.ndarray:
    """Return ``x`` as a floating array: float32/float64 kept, integers and bools cast to float32.

    ``dtype`` forces a float dtype. Complex or object input is an error.
    """
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected a real numeric array. Received dtype {arr.dtype}")
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype in (np.float32, np.float64):
        return arr
    return arr.astype(np.float32)  # float16, integers and bools


def float_images(x, where: str) -> np.ndarray:
    """``x`` as a float NHWC batch ``(batch, height, width, channels)`` with at least one
    pixel per image, or a clear error naming ``where``."""
    x = float_array(x, where)
    check_rank(x, 4, where, "(batch, height, width, channels)")
    if x.shape[1] < 1 or x.shape[2] < 1:
        raise ValueError(f"{where}: expected an input with height and width >= 1. "
                         f"Received an input of shape {x.shape}")
    return x
