"""Batch normalization over every axis but the last (NHWC: over N, H, W; 2-D: over N), and
layer normalization over chosen axes of each sample (:func:`layer_norm_forward`, below).

Forward, for each channel c (Keras's defaults momentum=0.99, epsilon=1e-3)::

    training:   mean = mean(x),  var = mean((x - mean)**2)     (batch statistics, biased)
    inference:  mean = moving_mean, var = moving_var
    x_hat = (x - mean) / sqrt(var + epsilon)
    out   = gamma * x_hat + beta

In training mode the moving statistics are updated as Keras does,
``moving = moving * momentum + batch * (1 - momentum)``, with the *biased* batch variance.
(PyTorch's ``running_var`` uses the unbiased variance ``var * n / (n - 1)`` and its
``momentum`` is Keras's ``1 - momentum``.) The op only computes the new values
(``cache.new_moving_mean``, ``cache.new_moving_var``); the layer copies them into its weights.

Backward, with ``m`` values per channel::

    d_beta  = sum(d_out)           d_gamma = sum(d_out * x_hat)
    training:   dx = gamma / sqrt(var + eps) * (d_out - mean(d_out) - x_hat * mean(d_out * x_hat))
    inference:  dx = gamma / sqrt(var + eps) * d_out        (mean and var are constants)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._checks import float_array

__all__ = ["batch_norm_forward", "batch_norm_backward", "layer_norm_forward",
           "layer_norm_backward", "group_norm_forward", "group_norm_backward",
           "unit_norm_forward", "unit_norm_backward"]


class BatchNormCache(NamedTuple):
    """What :func:`batch_norm_backward` needs, and the new moving statistics for the layer."""

    x_hat: np.ndarray           # normalised input, x's shape
    scale: np.ndarray           # gamma / sqrt(var + eps), shape (C,)
    training: bool
    has_gamma: bool
    has_beta: bool
    new_moving_mean: np.ndarray | None  # Keras's updated moving statistics (training only)
    new_moving_var: np.ndarray | None


def _channel_vector(v, name: str, channels: int, dtype, default: float):
    if v is None:
        return np.full(channels, default, dtype=dtype)
    v = np.asarray(v)
    if v.shape != (channels,):
        raise ValueError(f"batch_norm: expected {name} of shape ({channels},), one value per "
                         f"channel of the input's last axis. Received shape {v.shape}")
    return v.astype(dtype, copy=False)


def batch_norm_forward(x, gamma, beta, moving_mean, moving_var, training,
                       momentum=0.99, epsilon=1e-3):
    """Normalise ``x`` (..., C) per channel; returns ``(out, cache)``.

    ``gamma``/``beta`` (C,) may be None (Keras's ``scale=False``/``center=False``).
    ``moving_mean``/``moving_var`` (C,) are used in inference and updated (in the cache, not in
    place) in training. ``out`` has x's shape and dtype.
    """
    x = float_array(x, "batch_norm")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input with at least 2 dimensions (batch, ..., "
                         f"channels). Received an input of shape {x.shape}")
    if not 0 <= momentum <= 1:
        raise ValueError(f"batch_norm: expected momentum in [0, 1]. Received: momentum={momentum}")
    if not epsilon > 0:
        raise ValueError(f"batch_norm: expected epsilon > 0. Received: epsilon={epsilon}")
    c, dtype = x.shape[-1], x.dtype
    g = _channel_vector(gamma, "gamma", c, dtype, 1.0)
    b = _channel_vector(beta, "beta", c, dtype, 0.0)
    moving_mean = _channel_vector(moving_mean, "moving_mean", c, dtype, 0.0)
    moving_var = _channel_vector(moving_var, "moving_var", c, dtype, 1.0)
    axes = tuple(range(x.ndim - 1))

    if training:
        if x.size == 0:  # no values: the batch statistics (and the moving ones) would be NaN
            raise ValueError(f"batch_norm: training needs at least one value per channel. "
                             f"Received an empty input of shape {x.shape}")
        mean = x.mean(axis=axes)
        centered = x - mean
        # One refinement step: in float32 the first mean is off by ~1e-7 of |mean|, which is
        # large next to the spread when |mean| >> std; the mean of the residuals corrects it.
        correction = centered.mean(axis=axes)
        mean += correction
        centered -= correction
        x_hat = np.square(centered)  # (a buffer: x_hat is written into it below)
        var = x_hat.mean(axis=axes)  # biased, as Keras and torch normalise
        new_mean = moving_mean * dtype.type(momentum) + mean * dtype.type(1 - momentum)
        new_var = moving_var * dtype.type(momentum) + var * dtype.type(1 - momentum)
    else:
        mean, var = moving_mean, moving_var
        new_mean = new_var = None
        centered = x - mean
        x_hat = centered
    inv_std = 1 / np.sqrt(var + dtype.type(epsilon))
    # the same products as (x - mean) * inv_std * gamma + beta, in as few new arrays as
    # possible (each is a pass over memory the size of x)
    np.multiply(centered, inv_std, out=x_hat)
    out = x_hat * g
    out += b
    cache = BatchNormCache(x_hat, g * inv_std, bool(training), gamma is not None,
                           beta is not None, new_mean, new_var)
    return out, cache


def batch_norm_backward(d_out, cache: BatchNormCache):
    """Gradients ``(dx, d_gamma, d_beta)``; ``d_gamma``/``d_beta`` are None where the forward
    had no gamma/beta."""
    d_out = np.asarray(d_out)
    x_hat = cache.x_hat
    if d_out.shape != x_hat.shape:
        raise ValueError(f"batch_norm_backward: expected d_out of shape {x_hat.shape}. "
                         f"Received shape {d_out.shape}")
    axes = tuple(range(d_out.ndim - 1))
    d_beta = d_out.sum(axis=axes)
    product = d_out * x_hat  # (a buffer, reused below)
    d_gamma = product.sum(axis=axes)
    if cache.training:
        # scale * (d_out - d_beta / m - x_hat * (d_gamma / m)), the same operations in two
        # arrays the size of x instead of five
        m = x_hat.size // x_hat.shape[-1]
        dx = d_out - d_beta / m
        dx -= np.multiply(x_hat, d_gamma / m, out=product)
        dx *= cache.scale
    else:
        dx = d_out * cache.scale
    return (dx, d_gamma if cache.has_gamma else None, d_beta if cache.has_beta else None)


# ---------------------------------------------------------------------------- layer norm
class LayerNormCache(NamedTuple):
    """What :func:`layer_norm_backward` needs."""

    x_hat: np.ndarray           # normalised input, x's shape
    inv_std: np.ndarray         # 1 / sqrt(var + eps), x's shape with 1 on ``axes``
    gamma: np.ndarray | None    # broadcast shape (x's sizes on ``axes``, 1 elsewhere)
    axes: tuple
    has_beta: bool


def _layer_norm_axes(axes, ndim: int, where: str) -> tuple:
    """``axes`` (an int or a sequence of ints, negatives allowed) as sorted non-negative ints."""
    items = (axes,) if isinstance(axes, (int, np.integer)) else (
        tuple(axes) if isinstance(axes, (list, tuple)) else ())
    ok = len(items) > 0 and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                                and -ndim <= a < ndim for a in items)
    normalised = tuple(sorted({int(a) % ndim for a in items})) if ok else ()
    if not ok or len(normalised) != len(items):
        raise ValueError(f"{where}: expected axes to be distinct ints in [-{ndim}, {ndim}) "
                         f"(axes of the {ndim}-D input). Received: axes={axes!r}")
    return normalised


def layer_norm_forward(x, gamma, beta, axes=-1, epsilon=1e-3):
    """Normalise ``x`` over ``axes`` (each sample and position separately); ``(out, cache)``.

    ``mean``/``var`` (biased) over ``axes``; ``out = (x - mean) / sqrt(var + epsilon) * gamma
    + beta``. ``gamma``/``beta`` have the shape of x's sizes on the sorted ``axes``
    (``x.shape[-1]`` for the default), or None (Keras's ``scale=False``/``center=False``).
    """
    x = float_array(x, "layer_norm")
    axes = _layer_norm_axes(axes, x.ndim, "layer_norm")
    if not epsilon > 0:
        raise ValueError(f"layer_norm: expected epsilon > 0. Received: epsilon={epsilon}")
    if any(x.shape[a] == 0 for a in axes):  # (an empty batch is fine: an empty output)
        raise ValueError(f"layer_norm: expected the normalized axes {axes} to be non-empty. "
                         f"Received shape {x.shape}")
    dtype = x.dtype
    param_shape = tuple(x.shape[a] for a in axes)
    bshape = tuple(s if i in axes else 1 for i, s in enumerate(x.shape))

    def param(v, name):
        if v is None:
            return None
        v = np.asarray(v)
        if v.shape != param_shape:
            raise ValueError(f"layer_norm: expected {name} of shape {param_shape} (the input's "
                             f"sizes on axes {axes}). Received shape {v.shape}")
        return v.astype(dtype, copy=False).reshape(bshape)

    g, b = param(gamma, "gamma"), param(beta, "beta")
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    # One refinement step (as batch_norm): float32's first mean is off by ~1e-7 of |mean|.
    correction = centered.mean(axis=axes, keepdims=True)
    centered -= correction
    var = np.square(centered).mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + dtype.type(epsilon))
    x_hat = centered * inv_std
    out = x_hat * g if g is not None else x_hat.copy()
    if b is not None:
        out += b
    return out, LayerNormCache(x_hat, inv_std, g, axes, b is not None)


def layer_norm_backward(d_out, cache: LayerNormCache):
    """Gradients ``(dx, d_gamma, d_beta)``; ``d_gamma``/``d_beta`` are None where the forward
    had no gamma/beta. With ``g = d_out * gamma`` and means over ``axes``::

        dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))
        d_gamma = sum(d_out * x_hat) and d_beta = sum(d_out) over the other axes
    """
    d_out = np.asarray(d_out)
    x_hat, axes = cache.x_hat, cache.axes
    if d_out.shape != x_hat.shape:
        raise ValueError(f"layer_norm_backward: expected d_out of shape {x_hat.shape}. "
                         f"Received shape {d_out.shape}")
    others = tuple(i for i in range(d_out.ndim) if i not in axes)
    param_shape = tuple(x_hat.shape[a] for a in axes)
    d_gamma = d_beta = None
    if cache.gamma is not None:
        d_gamma = (d_out * x_hat).sum(axis=others).reshape(param_shape)
        g = d_out * cache.gamma
    else:
        g = d_out
    if cache.has_beta:
        d_beta = d_out.sum(axis=others).reshape(param_shape)
    dx = g - g.mean(axis=axes, keepdims=True)
    dx -= x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
    dx *= cache.inv_std
    return dx, d_gamma, d_beta


# ---------------------------------------------------------------------------- group norm
class GroupNormCache(NamedTuple):
    """What :func:`group_norm_backward` needs."""

    x_hat: np.ndarray           # normalised input, grouped: (N, S, G, C // G)
    inv_std: np.ndarray         # 1 / sqrt(var + eps), (N, 1, G, 1)
    gamma: np.ndarray | None    # (G, C // G)
    has_beta: bool
    axis: int                   # the channel axis of the input (non-negative)
    moved_shape: tuple          # the input's shape with the channel axis moved last


def group_norm_forward(x, gamma, beta, groups, axis=-1, epsilon=1e-3):
    """Group normalization (Wu & He 2018; Keras 3's GroupNormalization, torch's
    ``F.group_norm``): the ``C`` channels on ``axis`` are cut into ``groups`` blocks of
    ``C // groups`` consecutive channels; each sample's block is normalised over its channels
    and every other non-batch axis, with its mean and (biased) variance::

        out = (x - mean) / sqrt(var + epsilon) * gamma + beta      gamma, beta: (C,) or None

    ``groups = 1`` normalises each sample as a whole, ``groups = C`` each channel (instance
    normalization). Returns ``(out, cache)``; ``out`` has x's shape and dtype.
    """
    x = float_array(x, "group_norm")
    if x.ndim < 2:
        raise ValueError(f"group_norm: expected an input with at least 2 dimensions (batch, "
                         f"..., channels). Received an input of shape {x.shape}")
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) \
            or not -x.ndim <= axis < x.ndim or axis % x.ndim == 0:
        raise ValueError(f"group_norm: expected axis to be a non-batch axis of the "
                         f"{x.ndim}-D input. Received: axis={axis!r}")
    axis = int(axis) % x.ndim
    c = x.shape[axis]
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1 \
            or c % groups:
        raise ValueError(f"group_norm: expected groups to be an int >= 1 that divides the "
                         f"{c} channels on axis {axis}. Received: groups={groups!r}")
    if not epsilon > 0:
        raise ValueError(f"group_norm: expected epsilon > 0. Received: epsilon={epsilon}")
    moved = np.moveaxis(x, axis, -1)  # (a view; none for axis -1)
    n, cg = x.shape[0], c // groups
    spatial = int(np.prod(moved.shape[1:-1]))  # every non-batch, non-channel axis
    if spatial * cg == 0:
        raise ValueError(f"group_norm: expected non-empty groups. Received shape {x.shape}")
    grouped = moved.reshape(n, spatial, groups, cg)
    dtype = x.dtype

    def param(v, name):
        if v is None:
            return None
        v = np.asarray(v)
        if v.shape != (c,):
            raise ValueError(f"group_norm: expected {name} of shape ({c},), one value per "
                             f"channel on axis {axis}. Received shape {v.shape}")
        return v.astype(dtype, copy=False).reshape(groups, cg)

    g, b = param(gamma, "gamma"), param(beta, "beta")
    axes = (1, 3)
    centered = grouped - grouped.mean(axis=axes, keepdims=True)
    # One refinement step (as batch_norm): float32's first mean is off by ~1e-7 of |mean|.
    centered -= centered.mean(axis=axes, keepdims=True)
    var = np.square(centered).mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + dtype.type(epsilon))
    x_hat = centered * inv_std
    out = x_hat * g if g is not None else x_hat.copy()
    if b is not None:
        out += b
    out = np.moveaxis(out.reshape(moved.shape), -1, axis)
    return out, GroupNormCache(x_hat, inv_std, g, b is not None, axis, moved.shape)


def group_norm_backward(d_out, cache: GroupNormCache):
    """Gradients ``(dx, d_gamma, d_beta)`` (None where the forward had no gamma/beta). With
    ``g = d_out * gamma`` and means over each sample's group::

        dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat))
        d_gamma = sum(d_out * x_hat), d_beta = sum(d_out) over all but the channel axis
    """
    d_out = np.asarray(d_out)
    x_hat, axis, moved_shape = cache.x_hat, cache.axis, cache.moved_shape
    shape = np.moveaxis(np.empty(moved_shape, dtype=np.bool_), -1, axis).shape
    if d_out.shape != shape:
        raise ValueError(f"group_norm_backward: expected d_out of shape {shape}. "
                         f"Received shape {d_out.shape}")
    d = np.moveaxis(d_out, axis, -1).reshape(x_hat.shape)
    c = moved_shape[-1]
    d_gamma = d_beta = None
    if cache.gamma is not None:
        d_gamma = (d * x_hat).sum(axis=(0, 1)).reshape(c)
        g = d * cache.gamma
    else:
        g = d
    if cache.has_beta:
        d_beta = d.sum(axis=(0, 1)).reshape(c)
    axes = (1, 3)
    dx = g - g.mean(axis=axes, keepdims=True)
    dx -= x_hat * (g * x_hat).mean(axis=axes, keepdims=True)
    dx *= cache.inv_std
    return np.moveaxis(dx.reshape(moved_shape), -1, axis), d_gamma, d_beta


# ---------------------------------------------------------------------------- unit norm
class UnitNormCache(NamedTuple):
    """What :func:`unit_norm_backward` needs."""

    y: np.ndarray               # the output x * inv_norm
    inv_norm: np.ndarray        # 1 / sqrt(max(sum(x**2), epsilon)), 1 on ``axes``
    scaled: np.ndarray          # bool, where sum(x**2) > epsilon (the norm divides)
    axes: tuple


def unit_norm_forward(x, axes=-1, epsilon=1e-12):
    """L2 normalization over ``axes`` (Keras 3's UnitNormalization)::

        out = x / sqrt(max(sum(x**2), epsilon))

    (torch's ``F.normalize(x, dim=axes, eps=e)`` is ``x / max(norm, e)``: the two agree
    wherever ``sum(x**2) >= max(epsilon, e**2)``.) Returns ``(out, cache)``.
    """
    x = float_array(x, "unit_norm")
    axes = _layer_norm_axes(axes, x.ndim, "unit_norm")
    if not epsilon > 0:
        raise ValueError(f"unit_norm: expected epsilon > 0. Received: epsilon={epsilon}")
    dtype = x.dtype
    square_sum = np.square(x).sum(axis=axes, keepdims=True)
    eps = dtype.type(epsilon)
    scaled = square_sum > eps
    inv_norm = 1 / np.sqrt(np.maximum(square_sum, eps))
    y = x * inv_norm
    return y, UnitNormCache(y, inv_norm, scaled, axes)


def unit_norm_backward(d_out, cache: UnitNormCache):
    """``dx = inv_norm * (d_out - y * sum(d_out * y))`` where the norm divides; where
    ``epsilon`` bounds it the factor is a constant and ``dx = inv_norm * d_out``."""
    d_out = np.asarray(d_out)
    y = cache.y
    if d_out.shape != y.shape:
        raise ValueError(f"unit_norm_backward: expected d_out of shape {y.shape}. "
                         f"Received shape {d_out.shape}")
    along = (d_out * y).sum(axis=cache.axes, keepdims=True)
    along = np.where(cache.scaled, along, 0).astype(y.dtype, copy=False)
    return (d_out - y * along) * cache.inv_norm
