"""Loss functions as pure forward/backward pairs (the math behind ``npconv.training.losses``).

Every loss here is *per sample*: ``forward`` returns one value per position of the prediction
without its last (class / feature) axis, shape ``pred.shape[:-1]`` -- for a batch ``(N, C)``
that is ``(N,)``. ``backward(d_loss, cache)`` takes the upstream gradient with that same
per-sample shape (``np.full(N, 1 / N)`` for a batch mean) and returns the gradient w.r.t. the
prediction. The reduction to one number (Keras's ``"sum_over_batch_size"``) is the caller's job.

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
    probs: np.ndarray
    q: np.ndarray  # probs / sum(probs)
    inside: np.ndarray  # where eps < q < 1 - eps (the clip passes the gradient)
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
    inside = (q > epsilon) & (q < 1 - epsilon)
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
    inside = (probs > epsilon) & (probs < 1 - epsilon)
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
    return pred, pred - target.astype(pred.dtype, copy=False)


class MSECache(NamedTuple):
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
