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
                   (an int, or, as Keras 3, a tuple of axes: one distribution over all of them)
    linear(x)      = x

Layers take an activation through :func:`get`, which returns an :class:`Activation`
(``name``, ``forward``, ``backward``, ``__call__``) or ``None`` for "no activation".
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .._checks import float_array
from .merge import reduce_to_shape

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


def _keep_where(values: np.ndarray, positive: np.ndarray, *, invert=False) -> np.ndarray:
    """``values`` where ``positive`` (where not ``positive`` with ``invert``), +0.0 elsewhere,
    bit for bit as ``np.where(positive, values, 0)`` (inf and NaN included), but several times
    faster than ``np.where`` on an unpredictable mask: a bitwise AND of the floats' bit
    patterns with all-ones (True) or all-zeros (False) unsigned ints of the same width."""
    utype = np.dtype(f"u{values.dtype.itemsize}")
    # 1 -> 0xff...f (unsigned wrap-around), 0 -> 0; cast and negation in one ufunc pass
    # (astype then negative is ten times slower: numpy's bool -> uint casts are not vectorized);
    # inverted: 1 - 1 -> 0, 0 - 1 -> 0xff...f
    if invert:
        bits = np.subtract(positive.view(np.uint8), 1, dtype=utype)
    else:
        bits = np.negative(positive.view(np.uint8), dtype=utype)
    # (the AND writes into the mask's buffer: one output-sized temporary, not two)
    return np.bitwise_and(np.ascontiguousarray(values).view(utype), bits,
                          out=bits).view(values.dtype)


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
    """``dx = dy`` where ``x > 0``, else 0 (the gradient at exactly 0 is 0, as in torch).

    With Keras's options (``negative_slope``, ``max_value``, ``threshold``) ``dx = dy *`` the
    slope :func:`relu_forward` recorded: 1 inside, ``negative_slope`` at or below
    ``threshold``, 0 at or above ``max_value``.
    """
    if isinstance(cache, _ReluCache):
        dy = float_array(_check_grad(dy, cache.slope, "relu_backward"), "relu_backward")
        return dy * cache.slope
    if isinstance(cache, _ReluOutCache):
        y = cache.y
        dy = float_array(_check_grad(dy, y, "relu_backward"), "relu_backward")
        # torch passes the gradient where not y <= 0: y > 0 and NaN of either sign (inf - inf
        # gives a NaN with the sign bit set). Exact for any dy, inf and NaN included.
        return _keep_where(dy, y <= 0, invert=True)
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
    np.divide(x.dtype.type(1), y, out=y)  # = np.reciprocal, bit for bit, and 2x faster here
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
    axis: int | tuple[int, ...]


def softmax_axis(axis, shape: tuple, where: str):
    """``axis`` as NumPy's reductions take it for an input of ``shape``: an int in
    ``[-ndim, ndim)``, or (Keras 3's softmax over several axes) a tuple or list of distinct
    ones, returned as a sorted tuple of non-negative axes. A TypeError or ValueError naming
    ``where`` otherwise."""
    ndim = len(shape)
    several = isinstance(axis, (tuple, list))
    items = list(axis) if several else [axis]
    if not items or not all(isinstance(a, (numbers.Integral, np.integer))
                            and not isinstance(a, (bool, np.bool_)) for a in items):
        raise TypeError(f"{where}: expected axis to be an int or a tuple of ints. "
                        f"Received: axis={axis!r}")
    if not all(-ndim <= a < ndim for a in items):
        raise ValueError(f"{where}: expected axis in [{-ndim}, {ndim}) for an input of shape "
                         f"{tuple(shape)}. Received: axis={axis!r}")
    if not several:
        return int(axis)
    normalized = sorted(int(a) % ndim for a in items)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"{where}: expected distinct axes for an input of shape "
                         f"{tuple(shape)}. Received: axis={axis!r}")
    return tuple(normalized)


def softmax_forward(x, axis=-1):
    """Softmax along ``axis``: ``exp(x - max) / sum(exp(x - max))``.

    ``axis``: an int, or a tuple of axes normalised together (Keras 3's ``softmax(x,
    axis=(1, 2))``). Subtracting the maximum changes nothing mathematically and keeps
    ``exp`` from overflowing. Returns ``(y, cache)``.
    """
    x = float_array(x, "softmax")
    if x.ndim == 0:
        raise ValueError("softmax: expected an input with at least 1 dimension. "
                         "Received a scalar")
    axis = softmax_axis(axis, x.shape, "softmax")
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
        """``(y, cache)``: y of x's shape and float dtype."""
        return self._forward(x, **self.kwargs)

    def backward(self, dy, cache):
        """``dx`` of dy's shape, from ``dy`` (the gradient w.r.t. y) and the forward's cache."""
        return self._backward(dy, cache)

    @property
    def inplace(self) -> bool:
        """True when :meth:`apply_inplace` can compute this activation in an array's memory
        (relu with Keras's defaults, sigmoid, tanh: element-wise, cache = the output)."""
        spec = _INPLACE.get(self._forward)
        return spec is not None and spec[0](self.kwargs)

    def apply_inplace(self, x) -> None:
        """Overwrite the float array ``x`` with the activation of ``x``, bit for bit what
        :meth:`forward` returns (for a caller that owns ``x``, e.g. a block of a layer's
        fresh output). Only when :attr:`inplace`; a ValueError otherwise."""
        if not self.inplace:
            raise ValueError(f"Activation {self.name!r}: no in-place form for {self!r}")
        if not isinstance(x, np.ndarray) or x.dtype.kind != "f" or x.ndim == 0:
            raise TypeError(f"Activation {self.name!r}.apply_inplace: expected a float array "
                            f"with at least one axis. Received {type(x).__name__}")
        _INPLACE[self._forward][1](x)

    @property
    def commutes_with_max(self) -> bool:
        """True for the plain ReLU: ``f(max(window)) == max(f(window))``, and the gradients
        agree too, ties included (ReLU only makes ties where ``x <= 0``, and its gradient is 0
        there), so it may be applied after a max pool instead of before."""
        return self._forward is relu_forward and _plain_relu(self.kwargs)

    def output_cache(self, y):
        """The backward cache for an output ``y`` computed by :meth:`apply_inplace`."""
        if not self.inplace:
            raise ValueError(f"Activation {self.name!r}: no in-place form for {self!r}")
        return _INPLACE[self._forward][2](y)

    def __call__(self, x):
        if not isinstance(x, np.ndarray) and hasattr(x, "_apply_activation"):
            return x._apply_activation(self)  # a symbolic tensor: an Activation layer
        return self._forward(x, **self.kwargs)[0]

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"Activation({self.name!r}{args})"


def _relu_inplace(x):
    np.maximum(x, x.dtype.type(0), out=x)   # as relu_forward


def _sigmoid_inplace(x):
    np.negative(x, out=x)                   # the same steps as sigmoid_forward
    with np.errstate(over="ignore"):
        np.exp(x, out=x)
    x += x.dtype.type(1)
    np.divide(x.dtype.type(1), x, out=x)


def _plain_relu(kwargs):
    return (kwargs.get("negative_slope", 0) == 0 and kwargs.get("max_value") is None
            and kwargs.get("threshold", 0) == 0)


# forward function -> (accepts its kwargs?, apply in place, backward cache of the output)
_INPLACE = {
    relu_forward: (_plain_relu, _relu_inplace, _ReluOutCache),
    sigmoid_forward: (lambda kwargs: not kwargs, _sigmoid_inplace, lambda y: y),
    tanh_forward: (lambda kwargs: not kwargs, lambda x: np.tanh(x, out=x), lambda y: y),
}


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


# ============================================================================ more activations
# Keras 3's other built-in activations, appended here with their own registration so that
# they need nothing above to change. Each is exact against torch's function of the same
# maths (torch's gradient convention at the kinks):
#
#   elu(x, a=1)     x if x > 0 else a * (exp(x) - 1)         d: 1 if x > 0 else a * exp(x)
#   selu(x)         scale * elu(x, alpha), Keras's and torch's alpha = 1.6732632423543772,
#                   scale = 1.0507009873554805
#   gelu(x)         x * Phi(x), Phi the standard normal CDF  d: Phi(x) + x * phi(x)
#   gelu(x, approximate=True)  0.5 * x * (1 + tanh(u)), u = sqrt(2/pi) * (x + 0.044715 * x**3)
#                   computed as x * sigmoid(2u) (= the same, without 1 + tanh's cancellation)
#   silu(x)         x * sigmoid(x)  (also "swish")           d: s * (1 + x * (1 - s))
#   softplus(x)     log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))   d: sigmoid(x)
#   softsign(x)     x / (1 + |x|)                            d: 1 / (1 + |x|)**2
#   hard_sigmoid(x) clip(x / 6 + 1/2, 0, 1) (Keras 3 = torch's hardsigmoid)  d: 1/6 inside
#   hard_silu(x)    x * hard_sigmoid(x)  (also "hard_swish")
#   exponential(x)  exp(x)                                   d: exp(x)
#   relu6(x)        min(max(x, 0), 6)                        d: 1 for 0 < x < 6
#   mish(x)         x * tanh(softplus(x))                    d: t + x * sigmoid(x) * (1 - t**2)
#   log_softmax(x)  x - log(sum(exp(x)))  along ``axis``     dx = dy - softmax(x) * sum(dy)

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _check_x_grad(dy, x: np.ndarray, where: str) -> np.ndarray:
    return float_array(_check_grad(dy, x, where), where)


# ---------------------------------------------------------------------------- elu / selu
class _EluCache(NamedTuple):
    x: np.ndarray
    alpha: float
    scale: float


def elu_forward(x, alpha=1.0):
    """ELU: ``x`` for x > 0, ``alpha * (exp(x) - 1)`` otherwise (``expm1``, exact near 0)."""
    x = float_array(x, "elu")
    a = x.dtype.type(alpha)
    y = np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))
    return y, _EluCache(x, float(alpha), 1.0)


def elu_backward(dy, cache: _EluCache):
    """``dx = dy`` where x > 0, else ``dy * alpha * exp(x)`` (scaled by ``scale`` for selu)."""
    x, alpha, scale = cache
    dy = _check_x_grad(dy, x, "elu_backward")
    t = x.dtype.type
    slope = np.where(x > 0, t(scale), t(scale * alpha) * np.exp(np.minimum(x, 0)))
    return dy * slope


def elu(x, alpha=1.0):
    """ELU element-wise, ``alpha=1.0`` as ``keras.activations.elu``."""
    return elu_forward(x, alpha)[0]


def selu_forward(x):
    """SELU: ``scale * elu(x, alpha)`` with the self-normalising constants."""
    x = float_array(x, "selu")
    t = x.dtype.type
    y = np.where(x > 0, t(_SELU_SCALE) * x,
                 t(_SELU_SCALE * _SELU_ALPHA) * np.expm1(np.minimum(x, 0)))
    return y, _EluCache(x, _SELU_ALPHA, _SELU_SCALE)


selu_backward = elu_backward


def selu(x):
    """SELU element-wise (use with the ``lecun_normal`` initializer)."""
    return selu_forward(x)[0]


# ---------------------------------------------------------------------------- gelu
def _erfc(t: np.ndarray) -> np.ndarray:
    """The complementary error function in float64, relative error below 1e-12.

    NumPy has no erf: for |t| < 2 the everywhere-positive series
    ``erf(t) = 2/sqrt(pi) * exp(-t**2) * sum_n 2**n t**(2n+1) / (1*3*...*(2n+1))`` (30 terms);
    beyond, the continued fraction ``erfc(t) = exp(-t**2)/sqrt(pi) / (t + (1/2)/(t + 1/(t +
    (3/2)/(t + ...))))`` (40 levels), and ``erfc(-t) = 2 - erfc(t)``. Loops run over terms.
    """
    t = np.asarray(t, dtype=np.float64)
    out = np.empty_like(t)
    a = np.abs(t)
    small = a < 2.0
    ts = t[small]
    term = ts.copy()
    total = ts.copy()
    two_t2 = 2.0 * ts * ts
    for n in range(1, 30):
        term *= two_t2 / (2 * n + 1)
        total += term
    out[small] = 1.0 - (2.0 / np.sqrt(np.pi)) * np.exp(-ts * ts) * total
    big = ~small
    ab = a[big]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        f = ab.copy()
        for k in range(40, 0, -1):
            f = ab + (k / 2.0) / f
        tail = np.exp(-ab * ab) / np.sqrt(np.pi) / f
    tail = np.where(np.isinf(ab), 0.0, tail)  # erfc(inf) = 0 (inf / inf above)
    out[big] = np.where(t[big] > 0, tail, 2.0 - tail)
    return out


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = erfc(-x / sqrt(2)) / 2, accurate in both tails; in x's dtype."""
    return (0.5 * _erfc(-np.asarray(x, dtype=np.float64) / np.sqrt(2.0))).astype(x.dtype)


class _GeluCache(NamedTuple):
    x: np.ndarray
    approximate: bool


_SQRT_2_OVER_PI = 0.7978845608028654  # sqrt(2 / pi)
_GELU_CUBIC = 0.044715


def gelu_forward(x, approximate=False):
    """GELU: ``x * Phi(x)`` (exact, Keras's default) or the tanh approximation."""
    x = float_array(x, "gelu")
    t = x.dtype.type
    if approximate:
        # 0.5 * (1 + tanh(u)) = sigmoid(2u), exact where 1 + tanh(u) would cancel (x << 0)
        with np.errstate(over="ignore"):  # |x| ~ 1e100: x**3 = inf, sigmoid(inf) = 1
            two_u = t(2 * _SQRT_2_OVER_PI) * (x + t(_GELU_CUBIC) * x * x * x)
        y = x * sigmoid_forward(two_u)[0]
    else:
        y = x * _normal_cdf(x)
    return y, _GeluCache(x, bool(approximate))


def gelu_backward(dy, cache: _GeluCache):
    """Exact: ``dy * (Phi(x) + x * phi(x))``; approximate: the tanh form's derivative."""
    x, approximate = cache
    dy = _check_x_grad(dy, x, "gelu_backward")
    t = x.dtype.type
    if approximate:
        # with s = sigmoid(2u): y = x * s, dy/dx = s + x * 2 * s * (1 - s) * du/dx
        with np.errstate(over="ignore", invalid="ignore"):  # |x| ~ 1e100: x**3 = inf
            two_u = t(2 * _SQRT_2_OVER_PI) * (x + t(_GELU_CUBIC) * x * x * x)
            s, s_neg = sigmoid_forward(two_u)[0], sigmoid_forward(-two_u)[0]  # s_neg = 1 - s
            du = t(_SQRT_2_OVER_PI) * (t(1) + t(3 * _GELU_CUBIC) * x * x)
            saturated = s * s_neg
            bump = np.where(saturated == 0, t(0), t(2) * x * saturated * du)
        slope = s + bump
    else:
        with np.errstate(over="ignore"):  # x * x = inf for huge |x|: the density is 0
            pdf = t(1 / np.sqrt(2 * np.pi)) * np.exp(t(-0.5) * x * x)
        slope = _normal_cdf(x) + x * pdf
    return dy * slope


def gelu(x, approximate=False):
    """GELU element-wise; ``approximate=False`` as ``keras.activations.gelu``."""
    return gelu_forward(x, approximate)[0]


# ---------------------------------------------------------------------------- silu / swish
class _SiluCache(NamedTuple):
    x: np.ndarray
    s: np.ndarray  # sigmoid(x)


def silu_forward(x):
    """SiLU (swish): ``x * sigmoid(x)``."""
    x = float_array(x, "silu")
    s = sigmoid_forward(x)[0]
    return x * s, _SiluCache(x, s)


def silu_backward(dy, cache: _SiluCache):
    """``dx = dy * s * (1 + x * (1 - s))``."""
    x, s = cache
    dy = _check_x_grad(dy, x, "silu_backward")
    one = x.dtype.type(1)
    return dy * (s * (one + x * (one - s)))


def silu(x):
    """``x * sigmoid(x)`` element-wise (Keras's ``silu``, alias ``swish``)."""
    return silu_forward(x)[0]


swish = silu


# ---------------------------------------------------------------------------- softplus
def softplus_forward(x):
    """Softplus ``log(1 + exp(x))`` as ``max(x, 0) + log1p(exp(-|x|))``: no overflow for
    large x, no loss of precision for very negative x. The cache is ``x``."""
    x = float_array(x, "softplus")
    y = np.maximum(x, x.dtype.type(0)) + np.log1p(np.exp(-np.abs(x)))
    return y, x


def softplus_backward(dy, cache):
    """``dx = dy * sigmoid(x)``."""
    x = cache
    dy = _check_x_grad(dy, x, "softplus_backward")
    return dy * sigmoid_forward(x)[0]


def softplus(x):
    """``log(1 + exp(x))`` element-wise, numerically stable."""
    return softplus_forward(x)[0]


# ---------------------------------------------------------------------------- softsign
def softsign_forward(x):
    """Softsign ``x / (1 + |x|)``. The cache is ``x``."""
    x = float_array(x, "softsign")
    return x / (x.dtype.type(1) + np.abs(x)), x


def softsign_backward(dy, cache):
    """``dx = dy / (1 + |x|)**2``."""
    x = cache
    dy = _check_x_grad(dy, x, "softsign_backward")
    d = x.dtype.type(1) + np.abs(x)
    return dy / d / d  # not d * d, which overflows for |x| > 1e154


def softsign(x):
    """``x / (1 + |x|)`` element-wise."""
    return softsign_forward(x)[0]


# ---------------------------------------------------------------------------- hard sigmoid / silu
def hard_sigmoid_forward(x):
    """Keras 3's hard sigmoid ``clip(x / 6 + 1/2, 0, 1)`` (= ``relu6(x + 3) / 6``, torch's
    ``hardsigmoid``; Keras 2 used ``0.2 * x + 0.5``). The cache is ``x``."""
    x = float_array(x, "hard_sigmoid")
    t = x.dtype.type
    return np.clip(x / t(6) + t(0.5), t(0), t(1)), x


def hard_sigmoid_backward(dy, cache):
    """``dx = dy / 6`` for -3 < x < 3, else 0 (torch's convention at the kinks)."""
    x = cache
    dy = _check_x_grad(dy, x, "hard_sigmoid_backward")
    t = x.dtype.type
    return np.where((x > -3) & (x < 3), dy / t(6), t(0))


def hard_sigmoid(x):
    """``clip(x / 6 + 0.5, 0, 1)`` element-wise (Keras 3)."""
    return hard_sigmoid_forward(x)[0]


def hard_silu_forward(x):
    """Hard SiLU (hard swish): ``x * hard_sigmoid(x)``. The cache is ``x``."""
    x = float_array(x, "hard_silu")
    return x * hard_sigmoid_forward(x)[0], x


def hard_silu_backward(dy, cache):
    """``dx = 0`` for x <= -3, ``dy * (x / 3 + 1/2)`` for -3 < x < 3, ``dy`` from 3 on
    (torch's values at the kinks)."""
    x = cache
    dy = _check_x_grad(dy, x, "hard_silu_backward")
    t = x.dtype.type
    slope = np.where(x <= -3, t(0), np.where(x < 3, x / t(3) + t(0.5), t(1)))
    return dy * slope


def hard_silu(x):
    """``x * clip(x / 6 + 0.5, 0, 1)`` element-wise (alias ``hard_swish``)."""
    return hard_silu_forward(x)[0]


hard_swish = hard_silu


# ---------------------------------------------------------------------------- exponential
def exponential_forward(x):
    """``exp(x)``; inf where it overflows (silenced, as torch). The cache is ``y``."""
    x = float_array(x, "exponential")
    with np.errstate(over="ignore"):
        y = np.exp(x)
    return y, y


def exponential_backward(dy, cache):
    """``dx = dy * exp(x)``."""
    y = cache
    dy = _check_x_grad(dy, y, "exponential_backward")
    return dy * y


def exponential(x):
    """``exp(x)`` element-wise."""
    return exponential_forward(x)[0]


# ---------------------------------------------------------------------------- relu6
def relu6_forward(x):
    """``min(max(x, 0), 6)``. The cache is ``x``."""
    x = float_array(x, "relu6")
    t = x.dtype.type
    return np.minimum(np.maximum(x, t(0)), t(6)), x


def relu6_backward(dy, cache):
    """``dx = dy`` for 0 < x < 6, else 0 (torch's hardtanh convention at 0 and 6)."""
    x = cache
    dy = _check_x_grad(dy, x, "relu6_backward")
    return np.where((x > 0) & (x < 6), dy, dy.dtype.type(0))


def relu6(x):
    """``min(max(x, 0), 6)`` element-wise."""
    return relu6_forward(x)[0]


# ---------------------------------------------------------------------------- mish
class _MishCache(NamedTuple):
    x: np.ndarray
    tanh_sp: np.ndarray  # tanh(softplus(x))


def mish_forward(x):
    """Mish: ``x * tanh(softplus(x))``."""
    x = float_array(x, "mish")
    th = np.tanh(softplus_forward(x)[0])
    return x * th, _MishCache(x, th)


def mish_backward(dy, cache: _MishCache):
    """``dx = dy * (t + x * sigmoid(x) * (1 - t**2))``, t = tanh(softplus(x))."""
    x, th = cache
    dy = _check_x_grad(dy, x, "mish_backward")
    one = x.dtype.type(1)
    return dy * (th + x * sigmoid_forward(x)[0] * (one - th * th))


def mish(x):
    """``x * tanh(softplus(x))`` element-wise."""
    return mish_forward(x)[0]


# ---------------------------------------------------------------------------- log softmax
def log_softmax_forward(x, axis=-1):
    """Log-softmax along ``axis`` (an int or a tuple of axes, as :func:`softmax_forward`):
    ``(x - max) - log(sum(exp(x - max)))``."""
    x = float_array(x, "log_softmax")
    if x.ndim == 0:
        raise ValueError("log_softmax: expected an input with at least 1 dimension. "
                         "Received a scalar")
    axis = softmax_axis(axis, x.shape, "log_softmax")
    shifted = x - x.max(axis=axis, keepdims=True)
    y = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return y, _SoftmaxCache(y, axis)


def log_softmax_backward(dy, cache: _SoftmaxCache):
    """``dx = dy - softmax(x) * sum(dy, axis)``."""
    y, axis = cache
    dy = _check_grad(dy, y, "log_softmax_backward")
    return dy - np.exp(y) * dy.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """Log-softmax along ``axis`` (default the last)."""
    return log_softmax_forward(x, axis)[0]


_MORE = {
    "elu": (elu, elu_forward, elu_backward),
    "selu": (selu, selu_forward, selu_backward),
    "gelu": (gelu, gelu_forward, gelu_backward),
    "silu": (silu, silu_forward, silu_backward),
    "softplus": (softplus, softplus_forward, softplus_backward),
    "softsign": (softsign, softsign_forward, softsign_backward),
    "hard_sigmoid": (hard_sigmoid, hard_sigmoid_forward, hard_sigmoid_backward),
    "hard_silu": (hard_silu, hard_silu_forward, hard_silu_backward),
    "exponential": (exponential, exponential_forward, exponential_backward),
    "relu6": (relu6, relu6_forward, relu6_backward),
    "mish": (mish, mish_forward, mish_backward),
    "log_softmax": (log_softmax, log_softmax_forward, log_softmax_backward),
}
for _name, (_plain, _fwd, _bwd) in _MORE.items():
    _ACTIVATIONS[_name] = Activation(_name, _fwd, _bwd)
    _PLAIN_FUNCTIONS[_plain] = _name
    __all__ += [_name, f"{_name}_forward", f"{_name}_backward"]
# Keras's aliases: the same Activation under a second name (it serializes as the first)
_ACTIVATIONS["swish"] = _ACTIVATIONS["silu"]
_ACTIVATIONS["hard_swish"] = _ACTIVATIONS["hard_silu"]
__all__ += ["swish", "hard_swish"]
del _name, _plain, _fwd, _bwd


# ---------------------------------------------------------------------------- symbolic tensors
def _traceable(plain, name):
    """``plain`` that, given a symbolic tensor (a layer output in a functional model or a
    traced call), returns an ``Activation`` layer's output instead, with the same keyword
    arguments, as Keras's ``keras.activations.relu(t)``."""
    import functools
    import inspect

    base = _ACTIVATIONS[name]
    signature = inspect.signature(plain)

    @functools.wraps(plain)
    def function(x, *args, **kwargs):
        if isinstance(x, np.ndarray) or not hasattr(x, "_apply_activation"):
            return plain(x, *args, **kwargs)
        bound = signature.bind(x, *args, **kwargs).arguments
        options = {k: v for k, v in bound.items() if k != "x"}
        return x._apply_activation(Activation(name, base._forward, base._backward, **options))

    return function


for _plain, _name in list(_PLAIN_FUNCTIONS.items()):
    _wrapped = _traceable(_plain, _name)
    globals()[_plain.__name__] = _wrapped
    _PLAIN_FUNCTIONS[_wrapped] = _name
swish, hard_swish = silu, hard_silu  # the aliases of the wrapped functions
del _plain, _name, _wrapped


# ---------------------------------------------------------------------------- prelu
class _PReluCache(NamedTuple):
    """What :func:`prelu_backward` needs."""

    x: np.ndarray
    alpha: np.ndarray  # x's dtype, its own shape (broadcasts to x's)


def prelu_forward(x, alpha):
    """Parametric ReLU: ``x`` where x > 0, ``alpha * x`` elsewhere (Keras's
    ``relu(x) - alpha * relu(-x)``, torch's ``F.prelu``). ``alpha`` broadcasts to x's shape
    without changing it (the layer's is x's shape without the batch axis, 1 on shared axes)."""
    x = float_array(x, "prelu")
    alpha = np.asarray(alpha)
    if alpha.ndim > x.ndim or np.broadcast_shapes(alpha.shape, x.shape) != x.shape:
        raise ValueError(f"prelu: expected alpha to broadcast to the input's shape {x.shape}. "
                         f"Received alpha of shape {alpha.shape}")
    alpha = alpha.astype(x.dtype, copy=False)
    return np.where(x > 0, x, alpha * x), _PReluCache(x, alpha)


def prelu_backward(dy, cache: _PReluCache):
    """``(dx, d_alpha)``: ``dx = dy`` where x > 0, else ``alpha * dy`` (torch's, also at x ==
    0); ``d_alpha = sum(dy * x where x <= 0)`` over the axes alpha is broadcast along."""
    x, alpha = cache
    dy = _check_x_grad(dy, x, "prelu_backward")
    positive = x > 0
    dx = np.where(positive, dy, alpha * dy)
    d_alpha = np.where(positive, 0, dy * x).astype(x.dtype, copy=False)
    lead = d_alpha.ndim - alpha.ndim  # the axes alpha lacks, then those it broadcasts
    d_alpha = reduce_to_shape(d_alpha.sum(axis=tuple(range(lead))), alpha.shape)
    return dx, d_alpha


__all__ += ["prelu_forward", "prelu_backward"]
