"""Element-wise activations and softmax, each with its forward and backward pass.

Every activation comes as a pair of pure functions
    ``name_forward(x) -> (y, cache)``       y has x's shape and float dtype
    ``name_backward(dy, cache) -> dx``      dx = dy * dy/dx (softmax: a Jacobian-vector product)
plus a plain function ``name(x) -> y`` for direct use (Keras's ``keras.activations.relu``).

The maths:
    relu(x)        = max(0, x)                 relu'(x) = 1 if x > 0 else 0 (0 at x == 0, as torch)
    leaky_relu(x)  = x if x > 0 else a * x     a = negative_slope (0.2, as keras.activations)
    tanh(x)                                    tanh'(x) = 1 - tanh(x)**2
    sigmoid(x)     = 1 / (1 + exp(-x))         sigmoid'(x) = s * (1 - s)
    softmax(x)_i   = exp(x_i) / sum_j exp(x_j) dx = y * (dy - sum(dy * y))   along ``axis``
    linear(x)      = x

Layers take an activation through :func:`get`, which returns an :class:`Activation`
(``name``, ``forward``, ``backward``, ``__call__``) or ``None`` for "no activation".
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import float_array

__all__ = [
    "Activation",
    "get",
    "serialize",
    "relu", "relu_forward", "relu_backward",
    "leaky_relu", "leaky_relu_forward", "leaky_relu_backward",
    "tanh", "tanh_forward", "tanh_backward",
    "sigmoid", "sigmoid_forward", "sigmoid_backward",
    "softmax", "softmax_forward", "softmax_backward",
    "linear", "linear_forward", "linear_backward",
]


def _check_grad(dy, like: np.ndarray, where: str) -> np.ndarray:
    """``dy`` as an array of exactly ``like``'s shape (never broadcast a wrong gradient)."""
    dy = np.asarray(dy)
    if dy.shape != like.shape:
        raise ValueError(f"{where}: expected a gradient of shape {like.shape} (the forward "
                         f"output's). Received shape {dy.shape}")
    return dy


# ---------------------------------------------------------------------------- relu
class _MaskCache(NamedTuple):
    positive: np.ndarray  # bool, where the output follows x with slope 1
    negative_slope: float


class _ReluCache(NamedTuple):
    slope: np.ndarray  # the local derivative dy/dx, x's dtype


class _ReluOutCache(NamedTuple):
    y: np.ndarray  # the output max(x, 0): y > 0 exactly where x > 0


def _keep_where(values: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """``values`` where ``positive``, +0.0 elsewhere, bit for bit as
    ``np.where(positive, values, 0)`` (inf and NaN included), but several times faster than
    ``np.where`` on an unpredictable mask: a bitwise AND of the floats' bit patterns with
    all-ones (True) or all-zeros (False) unsigned ints of the same width."""
    utype = np.dtype(f"u{values.dtype.itemsize}")
    # 1 -> 0xff...f (unsigned wrap-around), 0 -> 0; cast and negation in one ufunc pass
    # (astype then negative is ten times slower: numpy's bool -> uint casts are not vectorized)
    bits = np.negative(positive.view(np.uint8), dtype=utype)
    return np.bitwise_and(np.ascontiguousarray(values).view(utype), bits).view(values.dtype)


def relu_forward(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """ReLU: ``max(0, x)``. Returns ``(y, cache)``.

    The optional arguments are Keras's (``keras.activations.relu``, ``keras.layers.ReLU``)::

        y = min(x, max_value)                 where x > threshold
        y = negative_slope * (x - threshold)  elsewhere

    The derivative is 1 for ``threshold < x < max_value``, ``negative_slope`` for
    ``x <= threshold`` (so 0 at x == 0 for the plain ReLU, as torch) and 0 for ``x >= max_value``.
    """
    x = float_array(x, "relu")
    if negative_slope == 0 and max_value is None and threshold == 0:  # the plain ReLU
        if x.ndim == 0:
            positive = x > 0
            return np.where(positive, x, x.dtype.type(0)), _MaskCache(positive, 0.0)
        y = np.maximum(x, x.dtype.type(0))  # NaN stays NaN, as in torch
        return y, _ReluOutCache(y)
    if negative_slope < 0 or threshold < 0 or (max_value is not None and max_value < 0):
        raise ValueError("relu: expected negative_slope, threshold and max_value >= 0. Received: "
                         f"negative_slope={negative_slope}, max_value={max_value}, "
                         f"threshold={threshold}")
    t, a = x.dtype.type(threshold), x.dtype.type(negative_slope)
    above = x > t
    # a == 0 would give -0.0 for x < t (0 * negative); Keras and torch print 0
    y = np.where(above, x, a * (x - t) if a else x.dtype.type(0))
    slope = np.where(above, x.dtype.type(1), a)
    if max_value is not None:
        m = x.dtype.type(max_value)
        y = np.where(above & (x >= m), m, y)
        slope[above & (x >= m)] = 0
    return y, _ReluCache(slope)


def relu_backward(dy, cache):
    """``dx = dy`` where ``x > 0``, else 0 (the gradient at exactly 0 is 0, as in torch)."""
    if isinstance(cache, _ReluCache):
        dy = float_array(_check_grad(dy, cache.slope, "relu_backward"), "relu_backward")
        return dy * cache.slope
    if isinstance(cache, _ReluOutCache):
        y = cache.y
        dy = float_array(_check_grad(dy, y, "relu_backward"), "relu_backward")
        # y > 0 as the integer view of y's bits: false for +0, -0 (x <= 0) and true for NaN
        # (torch passes the gradient where not y <= 0). Exact for any dy, inf and NaN included.
        positive = y.view(np.dtype(f"i{y.dtype.itemsize}")) > 0
        return _keep_where(dy, positive)
    dy = float_array(_check_grad(dy, cache.positive, "relu_backward"), "relu_backward")
    return np.where(cache.positive, dy, dy.dtype.type(0))


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """``max(0, x)`` element-wise (lists and arrays accepted; ints become float32).

    ``negative_slope``, ``max_value`` and ``threshold`` as in ``keras.activations.relu``.
    """
    return relu_forward(x, negative_slope, max_value, threshold)[0]


# ---------------------------------------------------------------------------- leaky relu
def leaky_relu_forward(x, negative_slope=0.2):
    """Leaky ReLU: ``x`` if ``x > 0`` else ``negative_slope * x``. Returns ``(y, cache)``."""
    x = float_array(x, "leaky_relu")
    slope = float(negative_slope)
    positive = x > 0
    return np.where(positive, x, x * x.dtype.type(slope)), _MaskCache(positive, slope)


def leaky_relu_backward(dy, cache: _MaskCache):
    """``dx = dy`` where ``x > 0``, else ``negative_slope * dy``."""
    dy = _check_grad(dy, cache.positive, "leaky_relu_backward")
    dy = float_array(dy, "leaky_relu_backward")
    return np.where(cache.positive, dy, dy * dy.dtype.type(cache.negative_slope))


def leaky_relu(x, negative_slope=0.2):
    """Leaky ReLU element-wise; ``negative_slope`` defaults to 0.2 as ``keras.activations``."""
    return leaky_relu_forward(x, negative_slope)[0]


# ---------------------------------------------------------------------------- tanh
def tanh_forward(x):
    """Hyperbolic tangent. Returns ``(y, cache)``; the cache is ``y`` itself."""
    y = np.tanh(float_array(x, "tanh"))
    return y, y


def tanh_backward(dy, cache):
    """``dx = dy * (1 - y**2)``."""
    y = cache
    dy = _check_grad(dy, y, "tanh_backward")
    return dy * (1 - y * y)


def tanh(x):
    """``tanh(x)`` element-wise."""
    return tanh_forward(x)[0]


# ---------------------------------------------------------------------------- sigmoid
def sigmoid_forward(x):
    """Logistic sigmoid ``1 / (1 + exp(-x))``. Returns ``(y, cache)``; the cache is ``y``.

    For x < -88 (float32) ``exp(-x)`` overflows to inf and ``1 / (1 + inf)`` is the right 0,
    so the overflow is silenced, not avoided; every step is exact to rounding (no cancellation).
    It runs in place in one buffer (a few passes over memory, no slow ``np.where``).
    """
    x = float_array(x, "sigmoid")
    y = np.negative(x.reshape(-1)).reshape(x.shape)  # (0-d: a 0-d array, not a scalar)
    with np.errstate(over="ignore"):
        np.exp(y, out=y)
    y += x.dtype.type(1)
    np.reciprocal(y, out=y)
    return y, y


def sigmoid_backward(dy, cache):
    """``dx = dy * y * (1 - y)``."""
    y = cache
    dy = _check_grad(dy, y, "sigmoid_backward")
    if y.ndim == 0 or np.result_type(y, dy) != y.dtype:
        return dy * (y * (1 - y))
    dx = np.subtract(y.dtype.type(1), y)  # the same products as above, in one buffer
    dx *= y
    dx *= dy
    return dx


def sigmoid(x):
    """``1 / (1 + exp(-x))`` element-wise, numerically stable."""
    return sigmoid_forward(x)[0]


# ---------------------------------------------------------------------------- softmax
class _SoftmaxCache(NamedTuple):
    y: np.ndarray
    axis: int


def softmax_forward(x, axis=-1):
    """Softmax along ``axis``: ``exp(x - max) / sum(exp(x - max))``.

    Subtracting the maximum changes nothing mathematically and keeps ``exp`` from
    overflowing. Returns ``(y, cache)``.
    """
    x = float_array(x, "softmax")
    if x.ndim == 0:
        raise ValueError("softmax: expected an input with at least 1 dimension. "
                         "Received a scalar")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"softmax: expected axis in [{-x.ndim}, {x.ndim}) for an input of "
                         f"shape {x.shape}. Received: axis={axis}")
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    y = e / e.sum(axis=axis, keepdims=True)
    return y, _SoftmaxCache(y, axis)


def softmax_backward(dy, cache: _SoftmaxCache):
    """Jacobian-vector product: ``dx = y * (dy - sum(dy * y, axis))``."""
    y, axis = cache
    dy = _check_grad(dy, y, "softmax_backward")
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """Softmax along ``axis`` (default the last)."""
    return softmax_forward(x, axis)[0]


# ---------------------------------------------------------------------------- linear
def linear_forward(x):
    """Identity. Returns ``(x, cache)`` (the cache records the shape for the check)."""
    x = float_array(x, "linear")
    return x, x.shape


def linear_backward(dy, cache):
    """``dx = dy``."""
    dy = np.asarray(dy)
    if dy.shape != tuple(cache):
        raise ValueError(f"linear_backward: expected a gradient of shape {tuple(cache)}. "
                         f"Received shape {dy.shape}")
    return dy


def linear(x):
    """Identity (Keras's ``"linear"``), returned as a float array."""
    return linear_forward(x)[0]


# ---------------------------------------------------------------------------- objects
class Activation:
    """An activation as an object: ``forward(x) -> (y, cache)``, ``backward(dy, cache) -> dx``.

    ``kwargs`` are fixed keyword arguments of the forward function (``negative_slope``,
    ``axis``). Calling the object returns ``y`` only.
    """

    def __init__(self, name: str, forward, backward, **kwargs):
        self.name = name
        self._forward = forward
        self._backward = backward
        self.kwargs = kwargs

    def forward(self, x):
        return self._forward(x, **self.kwargs)

    def backward(self, dy, cache):
        return self._backward(dy, cache)

    def __call__(self, x):
        return self._forward(x, **self.kwargs)[0]

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"Activation({self.name!r}{args})"


_ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("relu", relu_forward, relu_backward),
    "leaky_relu": Activation("leaky_relu", leaky_relu_forward, leaky_relu_backward),
    "tanh": Activation("tanh", tanh_forward, tanh_backward),
    "sigmoid": Activation("sigmoid", sigmoid_forward, sigmoid_backward),
    "softmax": Activation("softmax", softmax_forward, softmax_backward),
    "linear": Activation("linear", linear_forward, linear_backward),
}

_PLAIN_FUNCTIONS = {relu: "relu", leaky_relu: "leaky_relu", tanh: "tanh",
                    sigmoid: "sigmoid", softmax: "softmax", linear: "linear"}


def _name_of_function(fn):
    """The name of one of our plain functions (``npconv.activations`` re-exports them)."""
    try:
        return _PLAIN_FUNCTIONS.get(fn)
    except TypeError:  # an unhashable callable
        return None


def get(identifier) -> Activation | None:
    """Resolve an activation identifier to an :class:`Activation`, or ``None`` for none.

    ``None`` and ``"linear"`` (and the ``linear`` function) return ``None``: the identity
    need not be applied, so a layer skips it (``serialize(None)`` gives back ``"linear"``).
    A name (case-insensitive), an :class:`Activation`, or one of the plain functions
    (``npconv.ops.activations.relu``, ``npconv.activations.relu`` ...) give its Activation.
    """
    if identifier is None:
        return None
    if isinstance(identifier, Activation):
        return None if identifier.name == "linear" else identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _ACTIVATIONS:
            raise ValueError(f"activations.get: unknown activation function {identifier!r}. "
                             f"Expected one of {sorted(_ACTIVATIONS)}. Received: {identifier!r}")
        return None if key == "linear" else _ACTIVATIONS[key]
    if callable(identifier):
        name = _name_of_function(identifier)
        if name is None:
            raise TypeError(
                "activations.get: an arbitrary callable has no backward pass; pass a name "
                f"from {sorted(_ACTIVATIONS)} or an Activation(name, forward, backward). "
                f"Received: {identifier!r}"
            )
        return None if name == "linear" else _ACTIVATIONS[name]
    raise TypeError(f"activations.get: expected None, a name, an Activation or an activation "
                    f"function. Received: {identifier!r} of type {type(identifier).__name__}")


def serialize(activation) -> str:
    """The name to store in a layer's config (``"linear"`` for ``None``)."""
    if activation is None:
        return "linear"
    if isinstance(activation, Activation):
        return activation.name
    if isinstance(activation, str):
        return activation.lower()
    name = _name_of_function(activation) if callable(activation) else None
    if name is None:
        raise TypeError(f"activations.serialize: cannot serialize {activation!r}")
    return name
