"""Layers behind arithmetic with a number on a functional model's symbolic tensor.

Keras 3 turns ``x / 255.0`` or ``x ** 2`` on a symbolic tensor into an operation of its
graph; npconv into a layer each, with a backward, saved and summarised like any other:

    x * c, c * x, x + c, c + x, x - c, c - x, -x    Rescaling(scale, offset)  (shape.py)
    x / c, c / x                                     TrueDivide(c) / TrueDivide(c, reflected=True)
    x ** c, c ** x                                   Power(c) / Power(base=c)
    x // c, c // x                                   FloorDivide(c) / (c, reflected=True)
    x % c, c % x                                     Mod(c) / Mod(c, reflected=True)
    abs(x)                                           Absolute()

Each computes exactly what NumPy computes for the same expression on the layer's input (a
Python number next to an array keeps the array's dtype): ``x / 255.0`` is not
``x * (1 / 255)`` in floating point, hence a division layer of its own.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .base import Layer

__all__ = ["Absolute", "FloorDivide", "Mod", "Power", "TrueDivide"]


def _number(value, name: str, where: str):
    """``value`` as a finite Python int or float (as NumPy treats a Python number: the array's
    dtype is kept); a NumPy scalar is read as its Python value."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value):
        raise ValueError(f"{where}: expected {name} to be a finite number. "
                         f"Received: {name}={value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


class _WithConstant(Layer):
    """``x op constant``, or ``constant op x`` with ``reflected=True``; a divisor of 0 (not
    reflected) is refused."""

    batch_independent = True

    def __init__(self, constant, reflected=False, **kwargs):
        super().__init__(**kwargs)
        where = f"{type(self).__name__} {self.name}"
        self.constant = _number(constant, "constant", where)
        self.reflected = bool(reflected)
        if not self.reflected and self.constant == 0:
            raise ValueError(f"{where}: expected a non-zero divisor. "
                             f"Received: constant={constant!r}")

    def get_config(self):
        return {**super().get_config(), "constant": self.constant, "reflected": self.reflected}


class TrueDivide(_WithConstant):
    """``y = x / constant``, or ``y = constant / x`` with ``reflected=True`` (``c / x``)."""

    def call(self, x, training=False):
        if self.reflected:
            y = self.constant / x
            self._cache = (x, y)
            return y
        self._cache = None
        return x / self.constant

    def call_backward(self, d_out):
        if not self.reflected:
            return d_out / self.constant
        x, y = self._cache  # d(c / x)/dx = -c / x**2 = -y / x
        return d_out * (-y / x)


class FloorDivide(_WithConstant):
    """``y = x // constant``, or ``y = constant // x`` with ``reflected=True`` (NumPy's
    ``floor_divide``); the gradient is 0, as torch's ``div(..., rounding_mode="floor")``."""

    def call(self, x, training=False):
        return self.constant // x if self.reflected else x // self.constant

    def call_backward(self, d_out):
        return np.zeros_like(d_out)


class Mod(_WithConstant):
    """``y = x % constant``, or ``y = constant % x`` with ``reflected=True`` (NumPy's
    ``remainder``: the sign of the divisor, also on a zero). Gradient, as torch's
    ``remainder``: 1 for ``x % c``, ``-(c // x)`` for ``c % x``."""

    def call(self, x, training=False):
        if self.reflected:
            self._cache = x
            return self.constant % x
        self._cache = None
        return x % self.constant

    def call_backward(self, d_out):
        if not self.reflected:
            return d_out.copy()
        return d_out * -(self.constant // self._cache)


class Power(Layer):
    """``y = x ** exponent`` (NumPy's ``**``: ``x ** 2`` is ``x * x``), or with ``base``
    ``y = base ** x`` (``c ** x``; gradient ``c ** x * ln(c)`` as torch's: NaN for a negative
    base, and for a base of 0 it is 0 where ``x >= 0``)."""

    batch_independent = True

    def __init__(self, exponent=None, base=None, **kwargs):
        super().__init__(**kwargs)
        where = f"Power {self.name}"
        if (exponent is None) == (base is None):
            raise ValueError(f"{where}: expected either exponent (x ** exponent) or base "
                             f"(base ** x). Received: exponent={exponent!r}, base={base!r}")
        self.exponent = None if exponent is None else _number(exponent, "exponent", where)
        self.base = None if base is None else _number(base, "base", where)

    def call(self, x, training=False):
        if self.base is not None:
            y = self.base ** x
            self._cache = (x, y)
            return y
        self._cache = x
        return x ** self.exponent

    def call_backward(self, d_out):
        if self.base is not None:
            return d_out * self._base_gradient(*self._cache)
        x, p = self._cache, self.exponent
        if p == 0:
            return np.zeros_like(d_out)
        if p == 1:
            return d_out.copy()
        if p == 2:
            return d_out * (x + x)
        return d_out * (p * x ** (p - 1))

    def _base_gradient(self, x, y):
        """d(base ** x)/dx = y * ln(base), in x's dtype (torch's rule at base 0)."""
        c = self.base
        log_c = math.log(c) if c > 0 else (-math.inf if c == 0 else math.nan)
        with np.errstate(invalid="ignore"):  # (0 * -inf: replaced by 0 below)
            grad = y * x.dtype.type(log_c)
        if c == 0:
            grad = np.where(x >= 0, x.dtype.type(0), grad)
        return grad

    def get_config(self):
        return {**super().get_config(), "exponent": self.exponent, "base": self.base}


class Absolute(Layer):
    """``y = abs(x)`` (NumPy's ``np.abs``: ``abs(-0.0)`` is ``+0.0``); its gradient is
    ``sign(x)``, 0 at ``x = 0`` as torch's ``abs``."""

    batch_independent = True

    def call(self, x, training=False):
        self._cache = x
        return np.abs(x)

    def call_backward(self, d_out):
        return d_out * np.sign(self._cache)
