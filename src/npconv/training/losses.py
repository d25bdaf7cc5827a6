"""Keras-style losses: ``loss(y_true, y_pred) -> float`` and its gradient for the fit loop.

A loss object reduces the per-sample values of ``npconv.ops.losses`` with Keras's default
``"sum_over_batch_size"``: the (optionally weighted) sum divided by the number of per-sample
values -- the batch mean (Keras 3's other reductions: see :data:`REDUCTIONS`). Three entry
points:

    loss(y_true, y_pred)                       -> float
    loss.forward_backward(y_true, y_pred)      -> (float, d_y_pred)        d_y_pred like y_pred
    loss.fused_softmax_backward(y_true, probs) -> (float, d_logits)        CE after a softmax
    loss.fused_sigmoid_backward(y_true, probs) -> (float, d_logits)        BCE after a sigmoid

``loss.fused_activation`` says which fused path applies ("softmax", "sigmoid" or None): when
the model ends in that activation, it can ask for the gradient w.r.t. the pre-activation
logits, ``(probs - onehot) / N``, which is exact and stable where the plain ``-t / p`` is not.

Shapes follow Keras: sparse labels ``(N,)`` or ``(N, 1)``; for the other losses, ``y_true`` and
``y_pred`` whose ranks differ by one through a trailing axis of size 1 are aligned as Keras's
``squeeze_or_expand_to_same_rank`` does -- ``y_true (N,)`` with ``y_pred (N, 1)`` is read as
``(N, 1)``, never broadcast to ``(N, N)``. Any other mismatch is a ValueError naming the loss.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..ops import losses as L
from ..tensor import as_result


def _squeeze_or_expand(y_true: np.ndarray, y_pred: np.ndarray):
    """Keras's ``squeeze_or_expand_to_same_rank``: align ranks differing by a trailing 1."""
    rt, rp = y_true.ndim, y_pred.ndim
    if rt == rp + 1 and y_true.shape[-1] == 1:
        if rp == 1:
            y_pred = y_pred[:, None]
        else:
            y_true = y_true[..., 0]
    elif rp == rt + 1 and y_pred.shape[-1] == 1:
        if rt == 1:
            y_true = y_true[:, None]
        else:
            y_pred = y_pred[..., 0]
    return y_true, y_pred


class Loss:
    """Base class. Subclasses define ``_forward(y_true, y_pred) -> (per_sample, cache)`` and
    ``_backward(d_per_sample, cache) -> d_y_pred`` on aligned arrays."""

    fused_activation: str | None = None
    _default_name = "loss"

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size"):
        if not (reduction is None or isinstance(reduction, str)) or reduction not in REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: expected reduction to be one of "
                             f"{list(REDUCTIONS)}. Received: reduction={reduction!r}")
        self.name = name or self._default_name
        self.reduction = reduction

    # -- what a subclass defines (npconv has no automatic differentiation: a Keras-style
    # subclass with only ``call`` has no gradient, and says so)
    def _forward(self, y_true, y_pred):
        raise TypeError(_no_gradient_message(type(self)))

    def _backward(self, d_per_sample, cache):
        raise TypeError(_no_gradient_message(type(self)))

    # -- alignment and reduction shared by all losses
    def _align(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        if y_pred.dtype.kind != "f":
            raise TypeError(f"{self.name}: expected floating-point predictions. "
                            f"Received dtype {y_pred.dtype}")
        original = np.asarray(y_true)
        y_true, aligned = _squeeze_or_expand(original, y_pred)
        if y_true.shape != aligned.shape:
            hint = ""
            if original.shape == y_pred.shape[:-1] and self.fused_activation == "softmax":
                hint = " (integer labels need sparse_categorical_crossentropy)"
            elif original.ndim == y_pred.ndim and original.shape[:-1] == y_pred.shape[:-1]:
                hint = (f" (y_true has {original.shape[-1]} classes on its last axis, "
                        f"y_pred has {y_pred.shape[-1]})")
            raise ValueError(f"{self.name}: expected y_true of the same shape as y_pred "
                             f"{y_pred.shape}. Received y_true of shape {original.shape}{hint}")
        return y_true, aligned

    def _per_sample(self, y_true, y_pred):
        """(per-sample losses, cache, original y_pred shape)."""
        y_pred_arr = np.asarray(y_pred)
        t, p = self._align(y_true, y_pred_arr)
        try:
            values, cache = self._forward(t, p)
        except (ValueError, TypeError) as err:  # name the loss, keep the op's explanation
            head, _, rest = str(err).partition(": ")
            msg = rest if rest and " " not in head else str(err)
            raise type(err)(f"{self.name}: {msg}") from None
        return values, cache, y_pred_arr.shape

    def _weights(self, values: np.ndarray, sample_weight, size=None) -> np.ndarray:
        """d(reduced loss)/d(per-sample loss): the weights ``w`` (ones without
        ``sample_weight``) divided by the reduction's divisor: ``size`` for
        ``"sum_over_batch_size"`` and ``"mean"`` (default ``values.size``; the rows of a split
        batch pass the whole batch's), the sum of the weights as given for
        ``"mean_with_sample_weight"``, 1 for ``"sum"`` and no reduction. A divisor of 0 gives
        0, as Keras's ``divide_no_nan``."""
        if sample_weight is None:
            sw = None
            w = np.ones(values.shape, dtype=values.dtype)
        else:
            sw = self._align_weights(np.asarray(sample_weight, dtype=values.dtype), values)
            w = np.broadcast_to(sw, values.shape).astype(values.dtype)
        divisor = values.size if size is None else size
        if self.reduction == "mean_with_sample_weight" and sw is not None:
            divisor = np.sum(sw)
        elif self.reduction not in ("sum_over_batch_size", "mean", "mean_with_sample_weight"):
            divisor = 1
        if divisor == 0:
            return np.zeros_like(w)
        return w / values.dtype.type(divisor) if divisor != 1 else w

    def _align_weights(self, sw: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Keras's rank alignment of the weights to the per-sample losses: a scalar weighs
        every value, a trailing axis of 1 is dropped (``(N, 1)`` for losses ``(N,)``), missing
        trailing axes are added (``(N,)`` for ``(N, T)``); what is left must broadcast to the
        losses' shape with the batch axis matching."""
        if sw.ndim == 0:
            return sw
        received = sw.shape
        if sw.ndim == values.ndim + 1 and sw.shape[-1] == 1:
            sw = sw[..., 0]
        if 1 <= sw.ndim < values.ndim:
            sw = sw.reshape(sw.shape + (1,) * (values.ndim - sw.ndim))
        if sw.ndim == values.ndim and values.ndim and sw.shape[0] == values.shape[0] and all(
                a in (1, b) for a, b in zip(sw.shape[1:], values.shape[1:], strict=True)):
            return sw
        shapes = f"{values.shape[:1]} or {values.shape[:1] + (1,)}"
        if values.ndim > 1:
            shapes = f"{values.shape[:1]}, {values.shape} or one that broadcasts to it"
        raise ValueError(f"{self.name}: expected sample_weight of shape {shapes}. Received "
                         f"shape {received} for per-sample losses of shape {values.shape}")

    def _reduce(self, values, sample_weight) -> tuple[float, np.ndarray]:
        w = self._weights(values, sample_weight)
        return float(np.sum(values * w)), w

    # -- public API
    def __call__(self, y_true, y_pred, sample_weight=None):
        """The reduced loss (the batch mean by default) as a Python float (an
        :class:`npconv.tensor.Scalar`, which also answers Keras's ``.numpy()``); with
        ``reduction=None`` or ``"none"``, the weighted per-sample losses as Keras returns them:
        shape ``y_pred.shape[:-1]``, but ``(N, 1)`` for losses ``(N,)`` weighed by ``(N, 1)``
        (Keras's ``squeeze_or_expand_to_same_rank`` expands rank-1 losses to the weights)."""
        values, _, _ = self._per_sample(y_true, y_pred)
        if self.reduction in (None, "none"):
            weighted = values * self._weights(values, sample_weight)
            if values.ndim == 1 and np.ndim(sample_weight) == 2 and np.shape(
                    sample_weight)[-1] == 1:
                weighted = weighted[:, None]
            return as_result(weighted)
        return as_result(self._reduce(values, sample_weight)[0])

    def forward_backward(self, y_true, y_pred, sample_weight=None):
        """``(loss, d_y_pred)``: the reduced loss and its gradient, shape and dtype of y_pred."""
        check_reduces(self, "forward_backward")
        values, cache, shape = self._per_sample(y_true, y_pred)
        value, w = self._reduce(values, sample_weight)
        return value, self._backward(w, cache).reshape(shape)

    def call(self, y_true, y_pred) -> np.ndarray:
        """Per-sample losses (Keras's ``Loss.call``), shape ``y_pred.shape[:-1]``."""
        return self._per_sample(y_true, y_pred)[0]

    # -- the fused gradients, also for rows of a batch split over processes
    def fused_rows(self, y_true, probs, sample_weight=None, batch_size=None):
        """``(per-sample losses, d_logits)`` of the fused path (:attr:`fused_activation`)
        for these rows of a batch of ``batch_size`` samples (default: the rows are the batch).

        Both are row by row, so the rows of a split batch give exactly the rows of the whole
        batch's ``fused_*_backward`` gradient; the reduced loss is ``np.sum(values * w)``
        with ``w = _weights(all values, sample_weight)``.
        """
        kind = self.fused_activation
        if kind is None:
            raise ValueError(f"{self.name}: this loss has no fused gradient "
                             "(from_logits=True, or not a cross-entropy)")
        values, cache, shape = self._per_sample(y_true, probs)
        size = None
        if batch_size is not None and values.ndim:
            size = values.size // max(len(values), 1) * batch_size
        w = self._weights(values, sample_weight, size)
        return values, self._fused_gradient(w, cache, probs).reshape(shape)

    def _fused_gradient(self, w, cache, probs):
        raise TypeError(f"{type(self).__name__} has no fused gradient")

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


#: Keras 3's reductions: "sum_over_batch_size" and "mean" divide the weighted sum by the
#: number of per-sample values, "mean_with_sample_weight" by the sum of the weights, "sum"
#: by nothing; None and "none" keep the per-sample values.
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def check_reduces(loss, where) -> None:
    """Training needs one number to minimise: a loss with no reduction is refused."""
    if loss.reduction in (None, "none"):
        raise ValueError(
            f"{where}: the loss {loss.name!r} has reduction={loss.reduction!r}, which gives "
            "one value per sample, and training minimises one number: use "
            "reduction='sum_over_batch_size' (the default), 'mean', "
            "'mean_with_sample_weight' or 'sum'")


def _no_gradient_message(cls) -> str:
    return (f"{cls.__name__}: a Loss subclass must define _forward(y_true, y_pred) -> "
            "(per_sample_losses, cache) and _backward(d_per_sample, cache) -> d_y_pred with "
            "NumPy; npconv has no automatic differentiation, so a Keras-style call() alone "
            "gives no gradient to train with")


def _check_defines_gradient(loss):
    """``loss`` (a Loss instance) after checking that its class defines its forward and
    backward: refused at compile, not at the first training step."""
    cls = type(loss)
    if cls._forward is Loss._forward or cls._backward is Loss._backward:
        raise TypeError(f"losses.get: {_no_gradient_message(cls)}")
    return loss


def _check_from_logits(value, where):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{where}: expected from_logits to be a bool. Received: "
                        f"from_logits={value!r}")
    return bool(value)


def _smoothed_targets(t, p, smoothing, classes):
    """Numeric targets in the predictions' dtype, smoothed toward ``1 / classes``:
    ``t (1 - s) + s / classes`` (Keras's label smoothing; 2 classes for the binary losses,
    the size of the last axis for the categorical ones)."""
    if t.dtype.kind not in "fiub":
        raise TypeError(f"expected numeric targets. Received dtype {t.dtype}")
    t = t.astype(p.dtype, copy=False)
    if smoothing:
        t = t * (1 - smoothing) + smoothing / classes
    return t


def _check_smoothing(value, where):
    if not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{where}: expected label_smoothing in [0, 1]. Received: "
                         f"label_smoothing={value!r}")
    return float(value)


class _CrossEntropy(Loss):
    """Shared fused paths of the cross-entropies on probabilities."""

    def __init__(self, from_logits=False, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        self.from_logits = _check_from_logits(from_logits, type(self).__name__)

    @property
    def fused_activation(self):
        return None if self.from_logits else self._fused_with

    def _check_fusable(self, activation):
        if self.from_logits:
            raise ValueError(f"{self.name}: the fused {activation} gradient is for "
                             "from_logits=False (predictions that went through the "
                             f"{activation}); this loss has from_logits=True")

    def _fused_backward(self, y_true, probs, sample_weight):
        """``(loss, d_logits)`` of the fused path (``fused_softmax/sigmoid_backward``)."""
        self._check_fusable(self._fused_with)
        values, cache, shape = self._per_sample(y_true, probs)
        value, w = self._reduce(values, sample_weight)
        return value, self._fused_gradient(w, cache, probs).reshape(shape)

    def _fused_gradient(self, w, cache, probs):
        """The softmax's (sigmoid losses override it). The forward checked the labels or
        targets: the chain rule's formula directly."""
        return L.softmax_cross_entropy_backward(
            w, L.SoftmaxCECache(cache.probs, cache.target, cache.labels))

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


class SparseCategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with integer labels ``(N,)`` or ``(N, 1)`` and predictions ``(N, C)``.

    ``from_logits=False``: predictions are probabilities (Keras clips them to
    ``[1e-7, 1 - 1e-7]``); ``True``: they are logits and a stable log-softmax is used.
    """

    _default_name = "sparse_categorical_crossentropy"
    _fused_with = "softmax"

    def _align(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        if y_pred.dtype.kind != "f":
            raise TypeError(f"{self.name}: expected floating-point predictions. "
                            f"Received dtype {y_pred.dtype}")
        y_true = np.asarray(y_true)
        if y_true.ndim == y_pred.ndim and y_true.ndim >= 1 and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]  # Keras accepts labels of shape (N, 1)
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(f"{self.name}: expected integer labels of shape {y_pred.shape[:-1]}"
                             f" (or {y_pred.shape[:-1] + (1,)}) for y_pred of shape "
                             f"{y_pred.shape}. Received y_true of shape {y_true.shape}")
        return y_true, y_pred

    def _forward(self, t, p):
        if self.from_logits:
            return L.softmax_cross_entropy_forward(p, t)
        return L.categorical_crossentropy_forward(p, t)

    def _backward(self, d, cache):
        if self.from_logits:
            return L.softmax_cross_entropy_backward(d, cache)
        return L.categorical_crossentropy_backward(d, cache)

    def fused_softmax_backward(self, y_true, probs, sample_weight=None):
        """``(loss, d_logits)`` for ``probs = softmax(logits)``: ``d_logits = (p - onehot) / N``."""
        return self._fused_backward(y_true, probs, sample_weight)


class CategoricalCrossentropy(_CrossEntropy):
    """Cross-entropy with one-hot (or soft) targets ``(N, C)``; optional label smoothing
    ``t * (1 - s) + s / C`` as Keras."""

    _default_name = "categorical_crossentropy"
    _fused_with = "softmax"

    def __init__(self, from_logits=False, label_smoothing=0.0, name=None,
                 reduction="sum_over_batch_size"):
        super().__init__(from_logits=from_logits, name=name, reduction=reduction)
        self.label_smoothing = _check_smoothing(label_smoothing, type(self).__name__)

    def _smooth(self, t, p):
        return _smoothed_targets(t, p, self.label_smoothing, p.shape[-1])

    def _forward(self, t, p):
        t = self._smooth(t, p) if t.shape == p.shape else t
        if self.from_logits:
            return L.softmax_cross_entropy_forward(p, t)
        return L.categorical_crossentropy_forward(p, t)

    _backward = SparseCategoricalCrossentropy._backward

    def fused_softmax_backward(self, y_true, probs, sample_weight=None):
        """``(loss, d_logits)`` for ``probs = softmax(logits)``: ``d_logits = (p - t) / N``."""
        return self._fused_backward(y_true, probs, sample_weight)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_CrossEntropy):
    """Binary cross-entropy, averaged over the last axis then over the batch (Keras).

    Targets in [0, 1] of y_pred's shape (``(N,)`` with ``(N, 1)`` is aligned). Optional label
    smoothing ``t * (1 - s) + 0.5 * s``.
    """

    _default_name = "binary_crossentropy"
    _fused_with = "sigmoid"

    def __init__(self, from_logits=False, label_smoothing=0.0, name=None,
                 reduction="sum_over_batch_size"):
        super().__init__(from_logits=from_logits, name=name, reduction=reduction)
        self.label_smoothing = _check_smoothing(label_smoothing, type(self).__name__)

    def _forward(self, t, p):
        t = _smoothed_targets(t, p, self.label_smoothing, 2)
        if self.from_logits:
            return L.sigmoid_binary_crossentropy_forward(p, t)
        return L.binary_crossentropy_forward(p, t)

    def _backward(self, d, cache):
        if self.from_logits:
            return L.sigmoid_binary_crossentropy_backward(d, cache)
        return L.binary_crossentropy_backward(d, cache)

    def fused_sigmoid_backward(self, y_true, probs, sample_weight=None):
        """``(loss, d_logits)`` for ``probs = sigmoid(logits)``: ``d_logits = (p - t) / size``."""
        return self._fused_backward(y_true, probs, sample_weight)

    def _fused_gradient(self, w, cache, probs):
        p = np.asarray(probs).reshape(cache.target.shape)
        return L.sigmoid_binary_crossentropy_from_probs_backward(w, p, cache.target)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class MeanSquaredError(Loss):
    """``mean((y_pred - y_true)^2)`` over the last axis, then over the batch."""

    _default_name = "mean_squared_error"

    def _forward(self, t, p):
        return L.mean_squared_error_forward(p, t)

    def _backward(self, d, cache):
        return L.mean_squared_error_backward(d, cache)


class MeanAbsoluteError(Loss):
    """``mean(|y_pred - y_true|)`` over the last axis, then over the batch."""

    _default_name = "mean_absolute_error"

    def _forward(self, t, p):
        return L.mean_absolute_error_forward(p, t)

    def _backward(self, d, cache):
        return L.mean_absolute_error_backward(d, cache)


class Huber(Loss):
    """Keras's Huber loss: with ``e = y_pred - y_true``, ``0.5 e^2`` where ``|e| <= delta`` and
    ``delta |e| - 0.5 delta^2`` elsewhere, averaged over the last axis, then over the batch
    (torch's ``huber_loss`` with ``reduction="mean"`` averages all elements at once: the same
    number without sample weights)."""

    _default_name = "huber_loss"

    def __init__(self, delta=1.0, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        if (isinstance(delta, (bool, np.bool_)) or not isinstance(delta, numbers.Real)
                or not 0 < delta < float("inf")):
            raise ValueError(f"Huber: expected delta to be a positive number. Received: "
                             f"delta={delta!r}")
        self.delta = float(delta)

    def _forward(self, t, p):
        return L.huber_forward(p, t, self.delta)

    def _backward(self, d, cache):
        return L.huber_backward(d, cache)

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


# ---------------------------------------------------------------- Keras 3's other losses
def _check_real(value, name, where, low=None, high=None):
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or (low is not None and value < low)
            or (high is not None and value > high)):
        bounds = ("a number" if low is None and high is None else
                  f"a number in [{low}, {high}]" if high is not None else f"a number >= {low}")
        raise ValueError(f"{where}: expected {name} to be {bounds}. Received: "
                         f"{name}={value!r}")
    return float(value)


def _check_axis_last(axis, where):
    if axis != -1 or isinstance(axis, bool):
        raise ValueError(f"{where}: only axis=-1 (the last axis) is supported. Received: "
                         f"axis={axis!r}")
    return -1


class _Elementwise(Loss):
    """A loss of ``npconv.ops.losses`` whose forward keeps its gradient (ElementwiseCache)."""

    _op = None  # (forward, backward) names in npconv.ops.losses

    def _op_kwargs(self) -> dict:
        return {}

    def _forward(self, t, p):
        return getattr(L, f"{self._op}_forward")(p, t, **self._op_kwargs())

    def _backward(self, d, cache):
        return getattr(L, f"{self._op}_backward")(d, cache)


class KLDivergence(_Elementwise):
    """Keras's ``KLDivergence``: ``sum(t log(t / p))`` over the last axis with ``t`` and
    ``p`` clipped to ``[1e-7, 1]`` (torch's ``kl_div(log(p), t)`` where nothing is clipped,
    summed over the last axis)."""

    _default_name = "kl_divergence"
    _op = "kl_divergence"


class Poisson(_Elementwise):
    """Keras's ``Poisson``: ``mean(p - t log(p + 1e-7))`` over the last axis (torch's
    ``poisson_nll_loss(p, t, log_input=False, eps=1e-7)``)."""

    _default_name = "poisson"
    _op = "poisson"


class Hinge(_Elementwise):
    """Keras's ``Hinge``: ``mean(max(1 - t p, 0))`` over the last axis; targets that are all
    0 or 1 (in the batch) are read as -1 or 1."""

    _default_name = "hinge"
    _op = "hinge"


class SquaredHinge(_Elementwise):
    """Keras's ``SquaredHinge``: ``mean(max(1 - t p, 0)^2)``; {0, 1} targets as {-1, 1}."""

    _default_name = "squared_hinge"
    _op = "hinge"

    def _op_kwargs(self):
        return {"squared": True}


class CategoricalHinge(_Elementwise):
    """Keras's ``CategoricalHinge``: ``max(max((1 - t) p) - sum(t p) + 1, 0)`` per sample,
    one-hot targets."""

    _default_name = "categorical_hinge"
    _op = "categorical_hinge"


class LogCosh(_Elementwise):
    """Keras's ``LogCosh``: ``mean(log(cosh(p - t)))`` over the last axis, computed as
    ``x + softplus(-2x) - log 2`` (no overflow)."""

    _default_name = "log_cosh"
    _op = "log_cosh"


class MeanSquaredLogarithmicError(_Elementwise):
    """Keras's ``MeanSquaredLogarithmicError``: ``mean((log(max(p, eps) + 1) -
    log(max(t, eps) + 1))^2)`` over the last axis."""

    _default_name = "mean_squared_logarithmic_error"
    _op = "mean_squared_logarithmic_error"


class MeanAbsolutePercentageError(_Elementwise):
    """Keras's ``MeanAbsolutePercentageError``: ``100 mean(|(t - p) / max(|t|, eps)|)``."""

    _default_name = "mean_absolute_percentage_error"
    _op = "mean_absolute_percentage_error"


class CosineSimilarity(_Elementwise):
    """Keras's ``CosineSimilarity``: ``-sum(l2_normalize(t) * l2_normalize(p))`` along
    ``axis`` (a norm below 1e-7 counts as 1e-7): -1 for the same direction, so minimising it
    aligns the predictions with the targets. torch: ``-cosine_similarity(p, t, dim=axis)``."""

    _default_name = "cosine_similarity"
    _op = "cosine_similarity"

    def __init__(self, axis=-1, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"CosineSimilarity: expected axis to be an int. Received: "
                            f"axis={axis!r}")
        self.axis = int(axis)

    def _forward(self, t, p):
        axis = self.axis
        if not -p.ndim <= axis < p.ndim:
            raise ValueError(f"expected axis in [-{p.ndim}, {p.ndim}) for y_pred of shape "
                             f"{p.shape}. Received: axis={axis}")
        values, cache = L.cosine_similarity_forward(np.moveaxis(p, axis, -1),
                                                    np.moveaxis(t, axis, -1))
        return values, (axis, cache)

    def _backward(self, d, cache):
        axis, inner = cache
        return np.moveaxis(L.cosine_similarity_backward(d, inner), -1, axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class BinaryFocalCrossentropy(Loss):
    """Keras's ``BinaryFocalCrossentropy`` (Lin et al., 2018): the binary cross-entropy of
    each entry times ``(1 - p_t)^gamma``, ``p_t = t p + (1 - t)(1 - p)``, and, with
    ``apply_class_balancing``, by ``alpha`` for class 1 and ``1 - alpha`` for class 0; the
    mean over the last axis. Label smoothing ``t (1 - s) + s / 2``. ``from_logits``: the
    sigmoid is taken first and Keras's clipped cross-entropy of its probabilities is used.
    No fused gradient with a sigmoid output: the gradient goes through the activation."""

    _default_name = "binary_focal_crossentropy"

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        where = type(self).__name__
        if not isinstance(apply_class_balancing, (bool, np.bool_)):
            raise TypeError(f"{where}: expected apply_class_balancing to be a bool. "
                            f"Received: apply_class_balancing={apply_class_balancing!r}")
        self.apply_class_balancing = bool(apply_class_balancing)
        self.alpha = _check_real(alpha, "alpha", where)
        self.gamma = _check_real(gamma, "gamma", where, low=0)
        self.from_logits = _check_from_logits(from_logits, where)
        self.label_smoothing = _check_smoothing(label_smoothing, where)
        self.axis = _check_axis_last(axis, where)

    def _forward(self, t, p):
        t = _smoothed_targets(t, p, self.label_smoothing, 2)
        return L.binary_focal_crossentropy_forward(
            p, t, gamma=self.gamma, alpha=self.alpha,
            apply_class_balancing=self.apply_class_balancing, from_logits=self.from_logits)

    def _backward(self, d, cache):
        return L.binary_focal_crossentropy_backward(d, cache)

    def get_config(self):
        return {**super().get_config(), "apply_class_balancing": self.apply_class_balancing,
                "alpha": self.alpha, "gamma": self.gamma, "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis}


class CategoricalFocalCrossentropy(Loss):
    """Keras's ``CategoricalFocalCrossentropy``: with ``q`` the predictions renormalised to
    sum 1 and clipped to ``[1e-7, 1 - 1e-7]`` (after a softmax when ``from_logits``), the sum
    over classes of ``alpha (1 - q)^gamma (-t log q)``; ``alpha`` a number or a list of one
    per class. One-hot targets; label smoothing ``t (1 - s) + s / C``."""

    _default_name = "categorical_focal_crossentropy"

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        where = type(self).__name__
        if isinstance(alpha, (list, tuple, np.ndarray)):
            alpha = [_check_real(a, "alpha", where) for a in np.asarray(alpha).ravel().tolist()]
            if not alpha:
                raise ValueError(f"{where}: expected alpha to be a number or one number per "
                                 "class. Received: alpha=[]")
        else:
            alpha = _check_real(alpha, "alpha", where)
        self.alpha = alpha
        self.gamma = _check_real(gamma, "gamma", where, low=0)
        self.from_logits = _check_from_logits(from_logits, where)
        self.label_smoothing = _check_smoothing(label_smoothing, where)
        self.axis = _check_axis_last(axis, where)

    def _forward(self, t, p):
        if isinstance(self.alpha, list) and len(self.alpha) != p.shape[-1]:
            raise ValueError(f"expected one alpha per class ({p.shape[-1]} classes in "
                             f"y_pred). Received {len(self.alpha)} alphas")
        t = _smoothed_targets(t, p, self.label_smoothing, p.shape[-1])
        return L.categorical_focal_crossentropy_forward(
            p, t, gamma=self.gamma, alpha=self.alpha, from_logits=self.from_logits)

    def _backward(self, d, cache):
        return L.categorical_focal_crossentropy_backward(d, cache)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "gamma": self.gamma,
                "from_logits": self.from_logits, "label_smoothing": self.label_smoothing,
                "axis": self.axis}


class _Overlap(Loss):
    """Dice / Tversky: one value per position of the axes that ``axis`` leaves (None sums
    every axis: one value for the batch)."""

    _op = None

    def __init__(self, reduction="sum_over_batch_size", name=None, axis=None):
        super().__init__(name=name, reduction=reduction)
        self.axis = _check_overlap_axis(axis, type(self).__name__)

    def _op_kwargs(self) -> dict:
        return {}

    def _forward(self, t, p):
        return getattr(L, f"{self._op}_forward")(p, t, axis=self.axis, **self._op_kwargs())

    def _backward(self, d, cache):
        return getattr(L, f"{self._op}_backward")(d, cache)

    def _align_weights(self, sw, values):
        if sw.ndim and not self._keeps_batch_axis(values.ndim):
            raise ValueError(
                f"{self.name}: with axis={self.axis!r} the loss sums over the batch axis, so "
                "it has no per-sample values to weigh: give axis the axes of one sample, "
                "e.g. axis=(1, 2, 3) for (N, H, W, C) predictions, to use sample_weight or "
                "class_weight (a scalar weight works with any axis)")
        return super()._align_weights(sw, values)

    def _keeps_batch_axis(self, values_ndim) -> bool:
        if self.axis is None:
            return False
        axes = (self.axis,) if isinstance(self.axis, int) else self.axis
        ndim = values_ndim + len(axes)
        return all(a % ndim != 0 for a in axes)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _check_overlap_axis(axis, where):
    """None, an int, or a list of ints (kept as a list: a config is JSON)."""
    def is_int(a):
        return isinstance(a, numbers.Integral) and not isinstance(a, (bool, np.bool_))

    if axis is None or is_int(axis):
        return None if axis is None else int(axis)
    if isinstance(axis, (list, tuple)) and all(is_int(a) for a in axis):
        return [int(a) for a in axis]
    raise TypeError(f"{where}: expected axis to be None, an int or a tuple of ints. Received: "
                    f"axis={axis!r}")


class Dice(_Overlap):
    """Keras's ``Dice(reduction="sum_over_batch_size", name="dice", axis=None)``:
    ``1 - 2 sum(t p) / (sum(t) + sum(p) + 1e-7)`` with the sums over ``axis`` -- None: over
    everything, one value for the batch; ``axis=(1, 2, 3)`` on ``(N, H, W, C)`` masks: one
    per image, then their mean. Targets and predictions in [0, 1] (a sigmoid or softmax)."""

    _default_name = "dice"
    _op = "dice"

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None):
        super().__init__(reduction=reduction, name=name, axis=axis)


class Tversky(_Overlap):
    """Keras's ``Tversky(alpha=0.5, beta=0.5, reduction=..., name="tversky", axis=None)``
    (Salehi et al., 2017): ``1 - TP / (TP + alpha FP + beta FN + 1e-7)`` with ``TP =
    sum(t p)``, ``FP = sum(p (1 - t))``, ``FN = sum(t (1 - p))`` over ``axis``, as :class:`Dice`.
    ``alpha`` weighs the false positives and ``beta`` the false negatives, as documented and
    as Keras computes it since keras-team/keras#23333 (before that fix Keras applied them the
    other way round; the two agree for alpha == beta)."""

    _default_name = "tversky"
    _op = "tversky"

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky",
                 axis=None):
        super().__init__(reduction=reduction, name=name, axis=axis)
        self.alpha = _check_real(alpha, "alpha", type(self).__name__)
        self.beta = _check_real(beta, "beta", type(self).__name__)

    def _op_kwargs(self):
        return {"alpha": self.alpha, "beta": self.beta}

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


# ---------------------------------------------------------------- per-sample functions
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False) -> np.ndarray:
    """Per-sample cross-entropy for integer labels, shape ``y_pred.shape[:-1]``."""
    return SparseCategoricalCrossentropy(from_logits=from_logits).call(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample cross-entropy for one-hot targets, shape ``y_pred.shape[:-1]``."""
    return CategoricalCrossentropy(from_logits=from_logits,
                                   label_smoothing=label_smoothing).call(y_true, y_pred)


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0):
    """Per-sample binary cross-entropy (mean over the last axis)."""
    return BinaryCrossentropy(from_logits=from_logits,
                              label_smoothing=label_smoothing).call(y_true, y_pred)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean squared error (mean over the last axis)."""
    return MeanSquaredError().call(y_true, y_pred)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean absolute error (mean over the last axis)."""
    return MeanAbsoluteError().call(y_true, y_pred)


def huber(y_true, y_pred, delta=1.0) -> np.ndarray:
    """Per-sample Huber loss (mean over the last axis), Keras's ``keras.losses.huber``."""
    return Huber(delta=delta).call(y_true, y_pred)


def kl_divergence(y_true, y_pred) -> np.ndarray:
    """Per-sample Kullback-Leibler divergence (Keras's ``keras.losses.kl_divergence``)."""
    return KLDivergence().call(y_true, y_pred)


def poisson(y_true, y_pred) -> np.ndarray:
    """Per-sample Poisson loss (mean over the last axis)."""
    return Poisson().call(y_true, y_pred)


def hinge(y_true, y_pred) -> np.ndarray:
    """Per-sample hinge loss (mean over the last axis)."""
    return Hinge().call(y_true, y_pred)


def squared_hinge(y_true, y_pred) -> np.ndarray:
    """Per-sample squared hinge loss (mean over the last axis)."""
    return SquaredHinge().call(y_true, y_pred)


def categorical_hinge(y_true, y_pred) -> np.ndarray:
    """Per-sample categorical hinge loss."""
    return CategoricalHinge().call(y_true, y_pred)


def log_cosh(y_true, y_pred) -> np.ndarray:
    """Per-sample log-cosh error (mean over the last axis)."""
    return LogCosh().call(y_true, y_pred)


def mean_squared_logarithmic_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean squared logarithmic error (mean over the last axis)."""
    return MeanSquaredLogarithmicError().call(y_true, y_pred)


def mean_absolute_percentage_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean absolute percentage error (mean over the last axis)."""
    return MeanAbsolutePercentageError().call(y_true, y_pred)


def cosine_similarity(y_true, y_pred, axis=-1) -> np.ndarray:
    """Per-sample negative cosine similarity along ``axis`` (Keras's loss function)."""
    return CosineSimilarity(axis=axis).call(y_true, y_pred)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25,
                              gamma=2.0, from_logits=False, label_smoothing=0.0,
                              axis=-1) -> np.ndarray:
    """Per-sample binary focal cross-entropy (mean over the last axis)."""
    return BinaryFocalCrossentropy(apply_class_balancing, alpha, gamma, from_logits,
                                   label_smoothing, axis).call(y_true, y_pred)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1) -> np.ndarray:
    """Per-sample categorical focal cross-entropy."""
    return CategoricalFocalCrossentropy(alpha, gamma, from_logits, label_smoothing,
                                        axis).call(y_true, y_pred)


def dice(y_true, y_pred, axis=None) -> np.ndarray:
    """Keras's ``keras.losses.dice``: the Dice loss over ``axis`` (a scalar for None)."""
    return Dice(axis=axis).call(y_true, y_pred)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None) -> np.ndarray:
    """Keras's ``keras.losses.tversky``: the Tversky loss over ``axis`` (a scalar for None)."""
    return Tversky(alpha=alpha, beta=beta, axis=axis).call(y_true, y_pred)


mse = mean_squared_error
mae = mean_absolute_error
kld = kl_divergence
msle = mean_squared_logarithmic_error
mape = mean_absolute_percentage_error

_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "poisson": Poisson,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "log_cosh": LogCosh,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "msle": MeanSquaredLogarithmicError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mape": MeanAbsolutePercentageError,
    "cosine_similarity": CosineSimilarity,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
    "dice": Dice,
    "tversky": Tversky,
}
_BY_CLASS_NAME = {cls.__name__: cls for cls in set(_BY_NAME.values())}
_BY_FUNCTION = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
    mean_absolute_error: MeanAbsoluteError,
    huber: Huber,
    kl_divergence: KLDivergence,
    poisson: Poisson,
    hinge: Hinge,
    squared_hinge: SquaredHinge,
    categorical_hinge: CategoricalHinge,
    log_cosh: LogCosh,
    mean_squared_logarithmic_error: MeanSquaredLogarithmicError,
    mean_absolute_percentage_error: MeanAbsolutePercentageError,
    cosine_similarity: CosineSimilarity,
    binary_focal_crossentropy: BinaryFocalCrossentropy,
    categorical_focal_crossentropy: CategoricalFocalCrossentropy,
    dice: Dice,
    tversky: Tversky,
}


def get(identifier):
    """A Loss from a Keras name, a Loss instance or class, one of this module's functions, or a
    ``{"class_name": ..., "config": ...}`` dict. ``get(None)`` is None."""
    if identifier is None:
        return identifier
    if isinstance(identifier, Loss):
        return _check_defines_gradient(identifier)
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower()) or _BY_CLASS_NAME.get(identifier)
        if cls is None:
            raise ValueError(f"losses.get: unknown loss {identifier!r}. Known names: "
                             f"{sorted(_BY_NAME) + sorted(_BY_CLASS_NAME)}")
        return cls()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_CLASS_NAME.get(identifier["class_name"])
        if cls is None:
            raise ValueError(f"losses.get: unknown loss class {identifier['class_name']!r}. "
                             f"Known: {sorted(_BY_CLASS_NAME)}")
        return cls.from_config(dict(identifier.get("config", {})))
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return _check_defines_gradient(identifier())
    if callable(identifier) and identifier in _BY_FUNCTION:
        return _BY_FUNCTION[identifier]()
    raise ValueError(f"losses.get: could not interpret loss identifier {identifier!r}: expected "
                     "a name, a Loss instance or one of npconv's loss functions (a custom "
                     "function has no gradient here: subclass Loss with _forward/_backward)")
