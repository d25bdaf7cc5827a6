"""Loss functions as pure forward/backward pairs (the math behind ``npconv.training.losses``).

Every loss here is *per sample*: ``forward`` returns one value per position of the prediction
without its last (class / feature) axis, shape ``pred.shape[:-1]`` -- for a batch ``(N, C)``
that is ``(N,)``. ``backward(d_loss, cache)`` takes the upstream gradient with that same
per-sample shape (``np.full(N, 1 / N)`` for a batch mean) and returns the gradient w.r.t. the
prediction. The reduction to one number (Keras's ``"sum_over_batch_size"``) is the caller's job.
The overlap losses at the end (Dice, Tversky) are the exception: they sum over the axes
given (all by default), so their values have the shape of the axes left.

The math, for one sample with class scores ``z`` (logits) or probabilities ``p`` and a
target ``t`` (one-hot, or any distribution):

    softmax cross-entropy     L = -sum_k t_k * log_softmax(z)_k      dL/dz = softmax(z) * sum(t) - t
    categorical CE on probs   L = -sum_k t_k * log(clip(p_k / sum(p), eps, 1 - eps))
    sigmoid binary CE         L = mean_k [max(z, 0) - z t + log(1 + exp(-|z|))]
                                                                     dL/dz = (sigmoid(z) - t) / K
    binary CE on probs        L = -mean_k [t log(clip(p)) + (1 - t) log(1 - clip(p))]
    mean squared error        L = mean_k (p_k - t_k)^2               dL/dp = 2 (p - t) / K
    mean absolute error       L = mean_k |p_k - t_k|                 dL/dp = sign(p - t) / K
    huber (delta d)           L = mean_k h(p_k - t_k), h(e) = e^2 / 2 if |e| <= d
                                  else d |e| - d^2 / 2               dL/dp = clip(p - t, -d, d) / K

``eps = 1e-7`` is Keras's ``backend.epsilon()``: on probabilities Keras renormalises, then
clips to ``[eps, 1 - eps]`` before the log; the clipped entries get no gradient, exactly
as automatic differentiation of that formula gives. Integer ("sparse") labels are accepted by
the cross-entropies wherever a one-hot target is: ``labels`` of shape ``pred.shape[:-1]``.

These functions check shapes (a wrong shape is a ValueError, never a broadcast) but leave the
Keras conveniences (squeezing ``(N, 1)`` labels, label smoothing) to the loss classes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

EPSILON = 1e-7  # Keras's backend.epsilon(): the clip for probabilities


# ----------------------------------------------------------------------------- helpers
def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x - logsumexp(x)`` along ``axis``, stable for any magnitude; keeps the dtype."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _check_pred(pred, where: str) -> np.ndarray:
    pred = np.asarray(pred)
    if pred.dtype.kind != "f":
        raise TypeError(f"{where}: expected floating-point predictions. "
                        f"Received dtype {pred.dtype}")
    if pred.ndim < 1:
        raise ValueError(f"{where}: expected predictions of rank >= 1 with classes on the last "
                         f"axis. Received shape {pred.shape}")
    return pred


def _check_same_shape(target: np.ndarray, pred: np.ndarray, where: str) -> None:
    if target.shape != pred.shape:
        raise ValueError(f"{where}: expected targets of the same shape as the predictions "
                         f"{pred.shape}. Received targets of shape {target.shape}")


def _check_sparse_labels(labels, pred: np.ndarray, where: str) -> np.ndarray:
    """Integer class ids of shape ``pred.shape[:-1]`` inside ``[0, C)``, as int64."""
    labels = np.asarray(labels)
    if labels.shape != pred.shape[:-1]:
        raise ValueError(f"{where}: expected integer labels of shape {pred.shape[:-1]} for "
                         f"predictions of shape {pred.shape}. Received labels of shape "
                         f"{labels.shape}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{where}: expected integer class labels. Received non-integer "
                             "float labels")
    elif labels.dtype.kind not in "iub":
        raise TypeError(f"{where}: expected integer class labels. Received dtype {labels.dtype}")
    labels = labels.astype(np.int64)
    n_classes = pred.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        bad = labels[(labels < 0) | (labels >= n_classes)]
        raise ValueError(f"{where}: expected labels in [0, {n_classes}) for {n_classes} classes. "
                         f"Received label {int(bad.flat[0])}")
    return labels


def one_hot(labels: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    """``(..., num_classes)`` one-hot rows for integer ``labels`` (assumed in range)."""
    out = np.zeros(labels.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


def _dense_or_sparse(target, pred, where):
    """(dense_target_or_None, labels_or_None): float targets of pred's shape or int labels."""
    target = np.asarray(target)
    if target.ndim != pred.ndim:
        return None, _check_sparse_labels(target, pred, where)
    if target.shape[:-1] == pred.shape[:-1] and target.shape != pred.shape:
        raise ValueError(f"{where}: expected one-hot targets with {pred.shape[-1]} classes "
                         f"(shape {pred.shape}). Received targets of shape {target.shape} "
                         f"({target.shape[-1]} classes)")
    _check_same_shape(target, pred, where)
    if target.dtype.kind not in "fiub":
        raise TypeError(f"{where}: expected numeric targets. Received dtype {target.dtype}")
    return target.astype(pred.dtype, copy=False), None


def _scale_rows(grad: np.ndarray, d_loss, pred: np.ndarray, where: str) -> np.ndarray:
    d_loss = np.asarray(d_loss)
    if d_loss.shape != pred.shape[:-1]:
        raise ValueError(f"{where}: expected d_loss of the per-sample shape {pred.shape[:-1]}. "
                         f"Received shape {d_loss.shape}")
    grad *= d_loss.astype(pred.dtype, copy=False)[..., None]
    return grad


# ----------------------------------------------------------------- softmax cross-entropy
class SoftmaxCECache(NamedTuple):
    """What :func:`softmax_cross_entropy_backward` needs."""

    probs: np.ndarray
    target: np.ndarray | None  # dense targets, or None when labels are sparse
    labels: np.ndarray | None


def softmax_cross_entropy_forward(logits, labels):
    """Cross-entropy of ``softmax(logits)`` against ``labels``, from the logits (stable).

    logits: ``(..., C)`` float. labels: integer class ids ``(...)`` or a target distribution
    ``(..., C)`` (one-hot or smoothed). Returns ``(loss, cache)`` with loss of shape ``(...)``
    in nats. Equals ``torch.nn.functional.cross_entropy(..., reduction="none")``.
    """
    where = "softmax_cross_entropy"
    logits = _check_pred(logits, where)
    target, sparse = _dense_or_sparse(labels, logits, where)
    logp = log_softmax(logits)
    if sparse is not None:
        loss = -np.take_along_axis(logp, sparse[..., None], axis=-1)[..., 0]
    else:
        loss = -np.sum(target * logp, axis=-1)
    return loss, SoftmaxCECache(np.exp(logp), target, sparse)


def softmax_cross_entropy_backward(d_loss, cache: SoftmaxCECache) -> np.ndarray:
    """``d_logits = (softmax(z) * sum(t) - t) * d_loss`` per sample; shape of the logits."""
    probs = cache.probs
    if cache.labels is not None:
        grad = probs.copy()
        idx = cache.labels[..., None]
        np.put_along_axis(grad, idx, np.take_along_axis(grad, idx, axis=-1) - 1, axis=-1)
    else:
        grad = probs * np.sum(cache.target, axis=-1, keepdims=True) - cache.target
    return _scale_rows(grad, d_loss, probs, "softmax_cross_entropy_backward")


def softmax_cross_entropy_from_probs_backward(d_loss, probs, labels) -> np.ndarray:
    """Gradient w.r.t. the *logits* given the softmax output ``probs`` (the fused path).

    The chain rule through the softmax collapses to ``probs * sum(t) - t``: this is stable
    even when the plain gradient ``-t / p`` of the probabilities would blow up.
    """
    where = "softmax_cross_entropy_from_probs"
    probs = _check_pred(probs, where)
    target, sparse = _dense_or_sparse(labels, probs, where)
    return softmax_cross_entropy_backward(d_loss, SoftmaxCECache(probs, target, sparse))


# ------------------------------------------------------ categorical CE on probabilities
class ProbCECache(NamedTuple):
    """What :func:`categorical_crossentropy_backward` needs."""

    probs: np.ndarray
    q: np.ndarray  # probs / sum(probs)
    inside: np.ndarray  # where eps <= q <= 1 - eps (the clip passes the gradient)
    target: np.ndarray | None
    labels: np.ndarray | None


def categorical_crossentropy_forward(probs, labels, epsilon: float = EPSILON):
    """Keras's cross-entropy on probabilities: renormalise, clip to ``[eps, 1-eps]``, ``-log``.

    probs: ``(..., C)`` non-negative scores (a softmax output). labels as for
    :func:`softmax_cross_entropy_forward`. Returns ``(loss, cache)``, loss of shape ``(...)``.
    """
    where = "categorical_crossentropy"
    probs = _check_pred(probs, where)
    target, sparse = _dense_or_sparse(labels, probs, where)
    q = probs / np.sum(probs, axis=-1, keepdims=True)
    clipped = np.clip(q, epsilon, 1 - epsilon)
    logq = np.log(clipped)
    if sparse is not None:
        loss = -np.take_along_axis(logq, sparse[..., None], axis=-1)[..., 0]
    else:
        loss = -np.sum(target * logq, axis=-1)
    inside = (q >= epsilon) & (q <= 1 - epsilon)  # bounds included, as torch.clamp
    return loss, ProbCECache(probs, q, inside, target, sparse)


def categorical_crossentropy_backward(d_loss, cache: ProbCECache) -> np.ndarray:
    """Exact gradient of :func:`categorical_crossentropy_forward` w.r.t. ``probs``.

    With ``q = p / S`` and ``a = dL/dq = -t / q`` (zero where clipped):
    ``dL/dp_j = (a_j - sum_k a_k q_k) / S``.
    """
    q = cache.q
    if cache.labels is not None:
        target = one_hot(cache.labels, q.shape[-1], q.dtype)
    else:
        target = cache.target
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(cache.inside, -target / q, 0).astype(q.dtype, copy=False)
    s = np.sum(cache.probs, axis=-1, keepdims=True)
    grad = (a - np.sum(a * q, axis=-1, keepdims=True)) / s
    return _scale_rows(grad, d_loss, q, "categorical_crossentropy_backward")


# ------------------------------------------------------------------- binary cross-entropy
class SigmoidBCECache(NamedTuple):
    """What :func:`sigmoid_binary_crossentropy_backward` needs."""

    logits: np.ndarray
    target: np.ndarray


def sigmoid_binary_crossentropy_forward(logits, targets):
    """Binary cross-entropy of ``sigmoid(logits)`` from the logits, averaged on the last axis.

    ``max(z, 0) - z t + log1p(exp(-|z|))`` never overflows. logits, targets: same shape
    ``(..., K)``; targets in [0, 1]. Returns ``(loss, cache)``, loss of shape ``(...)``.
    """
    where = "sigmoid_binary_crossentropy"
    logits = _check_pred(logits, where)
    targets = np.asarray(targets)
    _check_same_shape(targets, logits, where)
    targets = targets.astype(logits.dtype, copy=False)
    elem = np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits)))
    return np.mean(elem, axis=-1), SigmoidBCECache(logits, targets)


def sigmoid_binary_crossentropy_backward(d_loss, cache: SigmoidBCECache) -> np.ndarray:
    """``d_logits = (sigmoid(z) - t) / K * d_loss``."""
    logits = cache.logits
    grad = (_sigmoid(logits) - cache.target) / logits.shape[-1]
    return _scale_rows(grad, d_loss, logits, "sigmoid_binary_crossentropy_backward")


def sigmoid_binary_crossentropy_from_probs_backward(d_loss, probs, targets) -> np.ndarray:
    """Gradient w.r.t. the logits given ``probs = sigmoid(logits)``: ``(p - t) / K`` (fused)."""
    where = "sigmoid_binary_crossentropy_from_probs"
    probs = _check_pred(probs, where)
    targets = np.asarray(targets)
    _check_same_shape(targets, probs, where)
    grad = (probs - targets.astype(probs.dtype, copy=False)) / probs.shape[-1]
    return _scale_rows(grad, d_loss, probs, "sigmoid_binary_crossentropy_from_probs_backward")


class BCECache(NamedTuple):
    """What :func:`binary_crossentropy_backward` needs."""

    clipped: np.ndarray
    inside: np.ndarray
    target: np.ndarray


def binary_crossentropy_forward(probs, targets, epsilon: float = EPSILON):
    """Keras's binary cross-entropy on probabilities (clipped to ``[eps, 1-eps]``).

    probs, targets: same shape ``(..., K)``. Returns ``(loss, cache)``, loss of shape ``(...)``
    (the mean over the last axis, as ``keras.losses.binary_crossentropy``).
    """
    where = "binary_crossentropy"
    probs = _check_pred(probs, where)
    targets = np.asarray(targets)
    _check_same_shape(targets, probs, where)
    targets = targets.astype(probs.dtype, copy=False)
    clipped = np.clip(probs, epsilon, 1 - epsilon)
    elem = -(targets * np.log(clipped) + (1 - targets) * np.log(1 - clipped))
    inside = (probs >= epsilon) & (probs <= 1 - epsilon)  # bounds included
    return np.mean(elem, axis=-1), BCECache(clipped, inside, targets)


def binary_crossentropy_backward(d_loss, cache: BCECache) -> np.ndarray:
    """``dL/dp = (p - t) / (p (1 - p)) / K`` where unclipped, 0 where clipped."""
    p, t = cache.clipped, cache.target
    grad = np.where(cache.inside, (p - t) / (p * (1 - p)), 0).astype(p.dtype, copy=False)
    grad /= p.shape[-1]
    return _scale_rows(grad, d_loss, p, "binary_crossentropy_backward")


# --------------------------------------------------------------------- mean squared error
def _difference(pred, target, where):
    """``(pred, pred - target)`` of the regression losses, after the shape check."""
    pred = _check_pred(pred, where)
    target = np.asarray(target)
    _check_same_shape(target, pred, where)
    if target.dtype.kind not in "fiub":  # complex lost its imaginary part, None became NaN
        raise TypeError(f"{where}: expected numeric targets. Received dtype {target.dtype}")
    return pred, pred - target.astype(pred.dtype, copy=False)


class MSECache(NamedTuple):
    """What :func:`mean_squared_error_backward` needs."""

    diff: np.ndarray


def mean_squared_error_forward(pred, target):
    """``mean((pred - target)^2)`` over the last axis; pred, target of the same shape."""
    where = "mean_squared_error"
    pred, diff = _difference(pred, target, where)
    return np.mean(np.square(diff), axis=-1), MSECache(diff)


def mean_squared_error_backward(d_loss, cache: MSECache) -> np.ndarray:
    """``dL/dpred = 2 (pred - target) / K * d_loss``."""
    diff = cache.diff
    grad = diff * (2 / diff.shape[-1])
    return _scale_rows(grad, d_loss, diff, "mean_squared_error_backward")


# --------------------------------------------------------------------- mean absolute error
class MAECache(NamedTuple):
    """What :func:`mean_absolute_error_backward` needs."""

    diff: np.ndarray


def mean_absolute_error_forward(pred, target):
    """``mean(|pred - target|)`` over the last axis; pred, target of the same shape."""
    where = "mean_absolute_error"
    pred, diff = _difference(pred, target, where)
    return np.mean(np.abs(diff), axis=-1), MAECache(diff)


def mean_absolute_error_backward(d_loss, cache: MAECache) -> np.ndarray:
    """``dL/dpred = sign(pred - target) / K * d_loss`` (0 where pred == target, as autograd's
    gradient of ``abs`` at 0 in TensorFlow and PyTorch)."""
    diff = cache.diff
    grad = np.sign(diff) / diff.shape[-1]
    return _scale_rows(grad.astype(diff.dtype, copy=False), d_loss, diff,
                       "mean_absolute_error_backward")


# --------------------------------------------------------------------- huber
class HuberCache(NamedTuple):
    """What :func:`huber_backward` needs."""

    diff: np.ndarray
    delta: float


def huber_forward(pred, target, delta: float = 1.0):
    """Keras's Huber loss, mean over the last axis, with ``e = pred - target``:
    ``0.5 e^2`` where ``|e| <= delta``, else ``delta |e| - 0.5 delta^2``."""
    where = "huber"
    pred, diff = _difference(pred, target, where)
    abs_diff = np.abs(diff)
    d = pred.dtype.type(delta)
    values = np.where(abs_diff <= d, 0.5 * np.square(diff), d * abs_diff - 0.5 * d * d)
    return np.mean(values, axis=-1).astype(pred.dtype, copy=False), HuberCache(diff, delta)


def huber_backward(d_loss, cache: HuberCache) -> np.ndarray:
    """``dL/dpred = clip(pred - target, -delta, delta) / K * d_loss``."""
    diff = cache.diff
    d = diff.dtype.type(cache.delta)
    grad = np.clip(diff, -d, d) / diff.shape[-1]
    return _scale_rows(grad.astype(diff.dtype, copy=False), d_loss, diff, "huber_backward")


# ========================================================== Keras 3's other losses
# Each is per sample (a reduction over the last axis) with Keras's formula and epsilon; the
# backward is what automatic differentiation of that formula gives: a clip passes the gradient
# where the value lies inside its bounds, bounds included (TensorFlow's and PyTorch's rule),
# and ``maximum(x, c)`` passes it to ``x`` where ``x >= c`` (TensorFlow's).
#
#   kl_divergence             sum_k t_k log(t_k / p_k), t and p clipped to [eps, 1]
#   poisson                   mean_k p_k - t_k log(p_k + eps)
#   hinge / squared_hinge     mean_k max(1 - t_k p_k, 0) (squared); {0, 1} targets -> {-1, 1}
#   categorical_hinge         max(max_k (1 - t_k) p_k - sum_k t_k p_k + 1, 0)
#   log_cosh                  mean_k x + softplus(-2x) - log 2,  x = p - t      d/dx = tanh(x)
#   mean_squared_log_error    mean_k (log(max(p, eps) + 1) - log(max(t, eps) + 1))^2
#   mean_abs_percentage_error 100 mean_k |(t - p) / max(|t|, eps)|
#   cosine_similarity         -sum_k t_k p_k / (max(|t|, eps) max(|p|, eps))
#   binary_focal              mean_k w (1 - p_t)^gamma bce(t, p),  p_t = t p + (1 - t)(1 - p)
#   categorical_focal         sum_k alpha_k (1 - q_k)^gamma (-t_k log q_k),  q = clip(p / sum p)


def _pair(pred, target, where):
    """``(pred, target)`` of the same shape, the target numeric and cast to pred's dtype."""
    pred = _check_pred(pred, where)
    target = np.asarray(target)
    _check_same_shape(target, pred, where)
    if target.dtype.kind not in "fiub":
        raise TypeError(f"{where}: expected numeric targets. Received dtype {target.dtype}")
    return pred, target.astype(pred.dtype, copy=False)


def _rows(grad, d_loss, pred, where):
    return _scale_rows(grad.astype(pred.dtype, copy=False), d_loss, pred, where)


class ElementwiseCache(NamedTuple):
    """The gradient of the per-sample loss w.r.t. each prediction entry, kept from the
    forward (these losses' gradients cost no more than their values)."""

    grad: np.ndarray


def _elementwise_backward(d_loss, cache: ElementwiseCache, where) -> np.ndarray:
    return _rows(cache.grad.copy(), d_loss, cache.grad, where)


def kl_divergence_forward(pred, target, epsilon: float = EPSILON):
    """Keras's ``kl_divergence``: ``sum(t log(t / p))`` over the last axis, both clipped to
    ``[eps, 1]``; ``dL/dp = -t / p`` where ``eps <= p <= 1``, else 0."""
    where = "kl_divergence"
    pred, target = _pair(pred, target, where)
    t = np.clip(target, epsilon, 1)
    p = np.clip(pred, epsilon, 1)
    values = np.sum(t * np.log(t / p), axis=-1)
    inside = (pred >= epsilon) & (pred <= 1)
    return values, ElementwiseCache(np.where(inside, -t / p, 0).astype(pred.dtype, copy=False))


def kl_divergence_backward(d_loss, cache):
    """Gradient of :func:`kl_divergence_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "kl_divergence_backward")


def poisson_forward(pred, target, epsilon: float = EPSILON):
    """Keras's ``poisson``: ``mean(p - t log(p + eps))``; ``dL/dp = (1 - t / (p + eps)) / K``."""
    pred, target = _pair(pred, target, "poisson")
    values = np.mean(pred - target * np.log(pred + epsilon), axis=-1)
    grad = (1 - target / (pred + epsilon)) / pred.shape[-1]
    return values, ElementwiseCache(grad.astype(pred.dtype, copy=False))


def poisson_backward(d_loss, cache):
    """Gradient of :func:`poisson_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "poisson_backward")


def hinge_targets(target: np.ndarray) -> np.ndarray:
    """Keras's ``convert_binary_labels_to_hinge``: targets that are all 0 or 1 become -1 or 1;
    any others are left as they are (decided over the whole array given, as Keras does per
    batch)."""
    if target.size and np.all((target == 0) | (target == 1)):
        return 2 * target - 1
    return target


def hinge_forward(pred, target, squared: bool = False):
    """Keras's ``hinge`` (``squared_hinge``): ``mean(max(1 - t p, 0))`` (its square) over the
    last axis, {0, 1} targets read as {-1, 1}."""
    where = "squared_hinge" if squared else "hinge"
    pred, target = _pair(pred, target, where)
    t = hinge_targets(target)
    margin = 1 - t * pred
    active = margin >= 0
    kept = np.maximum(margin, 0)
    k = pred.shape[-1]
    if squared:
        values = np.mean(np.square(kept), axis=-1)
        grad = -2 * t * kept / k
    else:
        values = np.mean(kept, axis=-1)
        grad = np.where(active, -t, 0) / k
    return values, ElementwiseCache(grad.astype(pred.dtype, copy=False))


def hinge_backward(d_loss, cache):
    """Gradient of :func:`hinge_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "hinge_backward")


def categorical_hinge_forward(pred, target):
    """Keras's ``categorical_hinge``: ``max(neg - pos + 1, 0)`` with ``pos = sum(t p)`` and
    ``neg = max((1 - t) p)`` over the last axis. The max's gradient is shared equally by tied
    entries (TensorFlow's ``reduce_max`` and torch's ``amax``)."""
    pred, target = _pair(pred, target, "categorical_hinge")
    pos = np.sum(target * pred, axis=-1)
    scaled = (1 - target) * pred
    neg = np.max(scaled, axis=-1)
    margin = neg - pos + 1
    values = np.maximum(margin, 0)
    ties = scaled == neg[..., None]
    share = ties / np.sum(ties, axis=-1, keepdims=True)
    grad = (share * (1 - target) - target) * (margin >= 0)[..., None]
    return values, ElementwiseCache(grad.astype(pred.dtype, copy=False))


def categorical_hinge_backward(d_loss, cache):
    """Gradient of :func:`categorical_hinge_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "categorical_hinge_backward")


def log_cosh_forward(pred, target):
    """Keras's ``log_cosh``: ``mean(x + softplus(-2x) - log 2)``, ``x = p - t`` (stable for
    any ``x``); ``dL/dp = tanh(x) / K``."""
    pred, target = _pair(pred, target, "log_cosh")
    x = pred - target
    log2 = pred.dtype.type(np.log(2.0))
    values = np.mean(x + np.logaddexp(pred.dtype.type(0), -2 * x) - log2, axis=-1)
    return values, ElementwiseCache((np.tanh(x) / pred.shape[-1]).astype(pred.dtype, copy=False))


def log_cosh_backward(d_loss, cache):
    """Gradient of :func:`log_cosh_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "log_cosh_backward")


def mean_squared_logarithmic_error_forward(pred, target, epsilon: float = EPSILON):
    """Keras's ``mean_squared_logarithmic_error``: ``mean((log(max(p, eps) + 1) -
    log(max(t, eps) + 1))^2)``; ``dL/dp = 2 d / (max(p, eps) + 1) / K`` where ``p >= eps``."""
    pred, target = _pair(pred, target, "mean_squared_logarithmic_error")
    shifted = np.maximum(pred, epsilon) + 1
    diff = np.log(shifted) - np.log(np.maximum(target, epsilon) + 1)
    values = np.mean(np.square(diff), axis=-1)
    grad = np.where(pred >= epsilon, 2 * diff / shifted, 0) / pred.shape[-1]
    return values, ElementwiseCache(grad.astype(pred.dtype, copy=False))


def mean_squared_logarithmic_error_backward(d_loss, cache):
    """Gradient of :func:`mean_squared_logarithmic_error_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "mean_squared_logarithmic_error_backward")


def mean_absolute_percentage_error_forward(pred, target, epsilon: float = EPSILON):
    """Keras's ``mean_absolute_percentage_error``: ``100 mean(|(t - p) / max(|t|, eps)|)``;
    ``dL/dp = 100 sign(p - t) / max(|t|, eps) / K`` (0 where ``p == t``)."""
    pred, target = _pair(pred, target, "mean_absolute_percentage_error")
    scale = np.maximum(np.abs(target), epsilon)
    values = 100 * np.mean(np.abs((target - pred) / scale), axis=-1)
    grad = 100 * np.sign(pred - target) / scale / pred.shape[-1]
    return values, ElementwiseCache(grad.astype(pred.dtype, copy=False))


def mean_absolute_percentage_error_backward(d_loss, cache):
    """Gradient of :func:`mean_absolute_percentage_error_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "mean_absolute_percentage_error_backward")


def cosine_similarity_forward(pred, target, epsilon: float = EPSILON):
    """Keras's ``cosine_similarity`` over the last axis: ``-sum(t_n p_n)``, each vector
    divided by ``max(|v|, eps)`` (``ops.normalize``). The gradient w.r.t. ``p`` is
    ``-(t_n - (t_n . p_n) p_n) / |p|``, and ``-t_n / eps`` where ``|p| < eps``."""
    pred, target = _pair(pred, target, "cosine_similarity")
    t_norm = np.maximum(np.sqrt(np.sum(np.square(target), axis=-1, keepdims=True)), epsilon)
    p_len = np.sqrt(np.sum(np.square(pred), axis=-1, keepdims=True))
    p_norm = np.maximum(p_len, epsilon)
    t_n, p_n = target / t_norm, pred / p_norm
    cos = np.sum(t_n * p_n, axis=-1, keepdims=True)
    grad = -np.where(p_len >= epsilon, t_n - cos * p_n, t_n) / p_norm
    return -cos[..., 0], ElementwiseCache(grad.astype(pred.dtype, copy=False))


def cosine_similarity_backward(d_loss, cache):
    """Gradient of :func:`cosine_similarity_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "cosine_similarity_backward")


def _focal_power(base, gamma):
    """``(base^gamma, d base^gamma / d base)`` for ``base`` in [0, 1] (0 derivative for
    ``gamma == 0``; at ``base == 0`` the derivative is 0 for ``gamma > 1``, ``1`` for
    ``gamma == 1``, and infinite below, as autodiff gives)."""
    if gamma == 0:
        return np.ones_like(base), np.zeros_like(base)
    with np.errstate(divide="ignore"):
        return np.power(base, gamma), gamma * np.power(base, gamma - 1)


def binary_focal_crossentropy_forward(pred, target, gamma=2.0, alpha=0.25,
                                      apply_class_balancing=False, from_logits=False,
                                      epsilon: float = EPSILON):
    """Keras's ``binary_focal_crossentropy`` (targets already smoothed): with ``p`` the
    probabilities (``sigmoid(pred)`` when ``from_logits``), ``bce`` Keras's clipped binary
    cross-entropy and ``p_t = t p + (1 - t)(1 - p)`` (unclipped), the mean over the last
    axis of ``w (1 - p_t)^gamma bce``, ``w = t alpha + (1 - t)(1 - alpha)`` when balancing
    classes, else 1."""
    pred, t = _pair(pred, target, "binary_focal_crossentropy")
    p = _sigmoid(pred) if from_logits else pred
    clipped = np.clip(p, epsilon, 1 - epsilon)
    bce = -(t * np.log(clipped) + (1 - t) * np.log(1 - clipped))
    p_t = t * p + (1 - t) * (1 - p)
    factor, d_factor = _focal_power(1 - p_t, gamma)
    elem = factor * bce
    d_bce = np.where((p >= epsilon) & (p <= 1 - epsilon),
                     -t / clipped + (1 - t) / (1 - clipped), 0)
    grad = factor * d_bce - d_factor * (2 * t - 1) * bce  # d elem / d p
    if apply_class_balancing:
        weight = t * alpha + (1 - t) * (1 - alpha)
        elem = weight * elem
        grad = weight * grad
    if from_logits:
        grad = grad * p * (1 - p)
    k = pred.shape[-1]
    return (np.mean(elem, axis=-1).astype(pred.dtype, copy=False),
            ElementwiseCache((grad / k).astype(pred.dtype, copy=False)))


def binary_focal_crossentropy_backward(d_loss, cache):
    """Gradient of :func:`binary_focal_crossentropy_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "binary_focal_crossentropy_backward")


def categorical_focal_crossentropy_forward(pred, target, gamma=2.0, alpha=0.25,
                                           from_logits=False, epsilon: float = EPSILON):
    """Keras's ``categorical_focal_crossentropy`` (targets already smoothed): ``y`` the
    probabilities (``softmax(pred)`` when ``from_logits``), ``q = clip(y / sum(y), eps,
    1 - eps)``, the sum over the last axis of ``alpha (1 - q)^gamma (-t log q)``; ``alpha`` a
    number or one per class."""
    pred, t = _pair(pred, target, "categorical_focal_crossentropy")
    alpha = np.asarray(alpha, dtype=pred.dtype)
    y = _softmax(pred) if from_logits else pred
    total = np.sum(y, axis=-1, keepdims=True)
    q = y / total
    clipped = np.clip(q, epsilon, 1 - epsilon)
    log_q = np.log(clipped)
    factor, d_factor = _focal_power(1 - clipped, gamma)
    values = np.sum(alpha * factor * (-t * log_q), axis=-1)
    # d elem_k / d q_k where the clip passes, then through q = y / sum(y)
    g_q = np.where((q >= epsilon) & (q <= 1 - epsilon),
                   -alpha * t * (factor / clipped - d_factor * log_q), 0)
    g_y = (g_q - np.sum(g_q * q, axis=-1, keepdims=True)) / total
    if from_logits:
        g_y = y * (g_y - np.sum(g_y * y, axis=-1, keepdims=True))
    return (values.astype(pred.dtype, copy=False),
            ElementwiseCache(g_y.astype(pred.dtype, copy=False)))


def categorical_focal_crossentropy_backward(d_loss, cache):
    """Gradient of :func:`categorical_focal_crossentropy_forward` w.r.t. ``pred``, of its shape:
    the per-entry gradient the forward kept, times ``d_loss`` (``pred.shape[:-1]``)."""
    return _elementwise_backward(d_loss, cache, "categorical_focal_crossentropy_backward")


# ------------------------------------------------------- overlap losses (segmentation)
#   dice                      1 - 2 I / (sum t + sum p + eps),             I = sum t p
#   tversky                   1 - I / (I + alpha FP + beta FN + eps),
#                             FP = sum p (1 - t), FN = sum t (1 - p)
# The sums run over ``axis`` (None: every axis), not over the last axis only: the loss has
# ``pred``'s shape without those axes (a scalar for None, ``(N,)`` for ``axis=(1, 2, 3)``
# on an ``(N, H, W, C)`` batch), and ``d_loss`` that shape.


class OverlapCache(NamedTuple):
    """The gradient of each loss value w.r.t. the entries it sums, and the summed axes."""

    grad: np.ndarray
    axes: tuple


def overlap_axes(axis, ndim: int, where: str) -> tuple:
    """``axis`` (None, an int or a sequence of ints) as sorted non-negative axes of an
    ``ndim``-dimensional prediction; None is every axis."""
    if axis is None:
        return tuple(range(ndim))
    items = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if not all(isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))
               and -ndim <= a < ndim for a in items):
        raise ValueError(f"{where}: expected axis to be None, or axes in [-{ndim}, {ndim}) of "
                         f"predictions of rank {ndim}. Received: axis={axis!r}")
    axes = tuple(sorted(int(a) % ndim for a in items))
    if len(set(axes)) != len(axes):
        raise ValueError(f"{where}: expected distinct axes. Received: axis={axis!r}")
    return axes


def _overlap_backward(d_loss, cache: OverlapCache, where) -> np.ndarray:
    grad, axes = cache
    kept = tuple(n for i, n in enumerate(grad.shape) if i not in axes)
    d_loss = np.asarray(d_loss)
    if d_loss.shape != kept:
        raise ValueError(f"{where}: expected d_loss of the loss's shape {kept}. Received shape "
                         f"{d_loss.shape}")
    return grad * np.expand_dims(d_loss.astype(grad.dtype, copy=False), axes)


def dice_forward(pred, target, axis=None, epsilon: float = EPSILON):
    """Keras's ``dice``: ``1 - 2 sum(t p) / (sum(t) + sum(p) + eps)`` over ``axis``. With
    ``I = sum(t p)`` and ``S = sum(t) + sum(p) + eps``, ``dL/dp = -2 (t S - I) / S^2``."""
    where = "dice"
    pred, t = _pair(pred, target, where)
    axes = overlap_axes(axis, pred.ndim, where)
    inter = np.sum(t * pred, axis=axes, keepdims=True)
    total = np.sum(t, axis=axes, keepdims=True) + np.sum(pred, axis=axes, keepdims=True) \
        + pred.dtype.type(epsilon)
    values = 1 - 2 * inter / total
    grad = -2 * (t * total - inter) / np.square(total)
    return (np.squeeze(values, axis=axes).astype(pred.dtype, copy=False),
            OverlapCache(grad.astype(pred.dtype, copy=False), axes))


def dice_backward(d_loss, cache: OverlapCache) -> np.ndarray:
    """Gradient of :func:`dice_forward` w.r.t. ``pred``: the kept per-entry gradient times
    ``d_loss`` (the loss's shape) broadcast over the summed axes."""
    return _overlap_backward(d_loss, cache, "dice_backward")


def tversky_forward(pred, target, alpha=0.5, beta=0.5, axis=None, epsilon: float = EPSILON):
    """Keras's ``tversky`` (Salehi et al., 2017): ``1 - I / D`` over ``axis`` with
    ``I = sum(t p)``, ``D = I + alpha sum(p (1 - t)) + beta sum(t (1 - p)) + eps``: ``alpha``
    weighs the false positives, ``beta`` the false negatives (alpha = beta = 0.5 is Dice).
    ``dL/dp = -(t D - I (t + alpha (1 - t) - beta t)) / D^2``."""
    where = "tversky"
    pred, t = _pair(pred, target, where)
    axes = overlap_axes(axis, pred.ndim, where)
    inter = np.sum(t * pred, axis=axes, keepdims=True)
    false_pos = np.sum(pred * (1 - t), axis=axes, keepdims=True)
    false_neg = np.sum(t * (1 - pred), axis=axes, keepdims=True)
    denom = inter + alpha * false_pos + beta * false_neg + pred.dtype.type(epsilon)
    values = 1 - inter / denom
    d_denom = t + alpha * (1 - t) - beta * t
    grad = -(t * denom - inter * d_denom) / np.square(denom)
    return (np.squeeze(values, axis=axes).astype(pred.dtype, copy=False),
            OverlapCache(grad.astype(pred.dtype, copy=False), axes))


def tversky_backward(d_loss, cache: OverlapCache) -> np.ndarray:
    """Gradient of :func:`tversky_forward` w.r.t. ``pred`` (see :func:`dice_backward`)."""
    return _overlap_backward(d_loss, cache, "tversky_backward")
