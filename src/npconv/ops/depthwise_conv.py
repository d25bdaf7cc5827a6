"""Depthwise and depthwise-separable 2-D convolution, forward and backward.

Shapes (NHWC, Keras's kernel order)::

    x          (N, H, W, C)                input batch
    kernel     (kh, kw, C, M)              M = depth_multiplier filters per input channel
    out        (N, H_out, W_out, C * M)    channel ``c * M + m`` = input channel c, filter m

Each input channel is convolved with its own M filters, never mixed with the others (torch's
``conv2d(..., groups=C)`` with weight ``kernel.reshape(kh, kw, C * M, 1)`` moved to
``(C * M, 1, kh, kw)``)::

    out[n, y, x, c * M + m] = sum_{i, j} xp[n, y * s + i * d, x * s + j * d, c] * kernel[i, j, c, m]

A depthwise conv has no GEMM to gather windows for: the loop runs over the ``kh * kw`` kernel
offsets, each a strided view of the padded input (the same windows as conv2d's im2col and
col2im, with the same geometry and padding rules) times that offset's ``(C, M)`` weights.

The separable convolution is the depthwise one followed by a 1x1 convolution (one GEMM,
conv2d's own 1x1 path) with kernel ``(1, 1, C * M, filters)`` and one bias after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_rank, float_array
from .conv import (
    _crop,
    _geometry,
    _pad,
    _padded_shape,
    _window_starts,
    check_bias,
    conv2d_backward,
    conv2d_forward,
)
from .padding import Pads


@dataclass(frozen=True)
class DepthwiseConv2DCache:
    """What :func:`depthwise_conv2d_backward` needs (opaque to callers)."""

    xp: np.ndarray  # the padded input (x itself without padding)
    kernel: np.ndarray
    has_bias: bool
    x_shape: tuple
    pads: Pads
    strides: tuple
    dilation: tuple
    out_hw: tuple


def depthwise_conv2d_forward(x, kernel, bias=None, strides=1, padding="valid", dilation=1):
    """Depthwise 2-D convolution of an NHWC batch. Returns ``(out, cache)``.

    x: ``(N, H, W, C)``; kernel: ``(kh, kw, C, M)``; bias: ``(C * M,)`` or None.
    strides, dilation, padding: as in :func:`npconv.ops.conv.conv2d_forward` (``"same"`` is
    TensorFlow's, the odd pixel at the bottom/right). out: ``(N, H_out, W_out, C * M)`` in
    the common float dtype of ``x`` and ``kernel``.
    """
    where = "depthwise_conv2d"
    x = float_array(x, where)
    kernel = float_array(kernel, where)
    check_rank(x, 4, where, "(batch, height, width, channels)")
    check_rank(kernel, 4, where + " kernel", "(kh, kw, in_channels, depth_multiplier)")
    kh, kw, c, m = kernel.shape
    if x.shape[3] != c:
        raise ValueError(f"{where}: the input has {x.shape[3]} channels (shape {x.shape}) but the "
                         f"kernel {kernel.shape} expects {c} input channels")
    bias = check_bias(bias, c * m, where)
    dtype = np.result_type(x.dtype, kernel.dtype)
    s, d, pads, (ho, wo) = _geometry(x.shape, (kh, kw), strides, padding, dilation, where)
    xp = _pad(x.astype(dtype, copy=False), pads)
    k = kernel.astype(dtype, copy=False)
    n = x.shape[0]
    out = np.zeros((n, ho, wo, c, m), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            window = xp[:, _window_starts(i, d[0], s[0], ho), _window_starts(j, d[1], s[1], wo)]
            out += window[..., None] * k[i, j]
    out = out.reshape(n, ho, wo, c * m)
    if bias is not None:
        out += bias.astype(dtype, copy=False)
    cache = DepthwiseConv2DCache(xp, kernel, bias is not None, x.shape, pads, s, d, (ho, wo))
    return out, cache


def depthwise_conv2d_backward(d_out, cache: DepthwiseConv2DCache, *, need_dx: bool = True):
    """Gradients of :func:`depthwise_conv2d_forward`: ``(dx, d_kernel, d_bias)``.

    d_out: ``(N, H_out, W_out, C * M)``. dx has the input's shape, d_kernel the kernel's,
    d_bias ``(C * M,)`` (None without bias). ``need_dx=False`` returns dx as None.
    """
    kernel = cache.kernel
    kh, kw, c, m = kernel.shape
    (ho, wo), s, d = cache.out_hw, cache.strides, cache.dilation
    n = cache.x_shape[0]
    expected = (n, ho, wo, c * m)
    d_out = np.asarray(d_out)
    if d_out.shape != expected:
        raise ValueError(f"depthwise_conv2d_backward: expected d_out of shape {expected}. "
                         f"Received {d_out.shape}")
    dtype = cache.xp.dtype
    g = d_out.astype(dtype, copy=False).reshape(n * ho * wo, c, m)
    d_bias = g.sum(axis=0).reshape(c * m) if cache.has_bias else None
    k = kernel.astype(dtype, copy=False)
    d_kernel = np.empty(kernel.shape, dtype=dtype)
    dxp = np.zeros(_padded_shape(cache.x_shape, cache.pads), dtype=dtype) if need_dx else None
    for i in range(kh):
        rows = _window_starts(i, d[0], s[0], ho)
        for j in range(kw):
            cols = _window_starts(j, d[1], s[1], wo)
            window = cache.xp[:, rows, cols].reshape(n * ho * wo, c)
            d_kernel[i, j] = np.einsum("pc,pcm->cm", window, g)
            if need_dx:
                dxp[:, rows, cols] += np.einsum("pcm,cm->pc", g, k[i, j]).reshape(n, ho, wo, c)
    d_kernel = d_kernel.astype(kernel.dtype, copy=False)
    dx = _crop(dxp, cache.x_shape, cache.pads) if need_dx else None
    return dx, d_kernel, d_bias


@dataclass(frozen=True)
class SeparableConv2DCache:
    """What :func:`separable_conv2d_backward` needs (opaque to callers)."""

    depthwise: DepthwiseConv2DCache
    pointwise: object  # conv2d's cache of the 1x1 convolution


def separable_conv2d_forward(x, depthwise_kernel, pointwise_kernel, bias=None, strides=1,
                             padding="valid", dilation=1):
    """Depthwise-separable 2-D convolution of an NHWC batch. Returns ``(out, cache)``.

    x: ``(N, H, W, C)``; depthwise_kernel: ``(kh, kw, C, M)``; pointwise_kernel:
    ``(1, 1, C * M, filters)``; bias: ``(filters,)`` or None, added after the pointwise step.
    out: ``(N, H_out, W_out, filters)``; strides, padding, dilation apply to the depthwise step.
    """
    where = "separable_conv2d"
    pointwise_kernel = float_array(pointwise_kernel, where)
    depthwise_kernel = float_array(depthwise_kernel, where)
    check_rank(pointwise_kernel, 4, where + " pointwise kernel", "(1, 1, channels, filters)")
    check_rank(depthwise_kernel, 4, where + " depthwise kernel",
               "(kh, kw, in_channels, depth_multiplier)")
    kh, kw, c, m = depthwise_kernel.shape
    if pointwise_kernel.shape[:3] != (1, 1, c * m):
        raise ValueError(f"{where}: expected a pointwise kernel of shape (1, 1, {c * m}, filters) "
                         f"for the depthwise kernel {depthwise_kernel.shape}. "
                         f"Received shape {pointwise_kernel.shape}")
    bias = check_bias(bias, pointwise_kernel.shape[3], where)
    z, d_cache = depthwise_conv2d_forward(x, depthwise_kernel, None, strides, padding, dilation)
    out, p_cache = conv2d_forward(z, pointwise_kernel, bias)
    return out, SeparableConv2DCache(d_cache, p_cache)


def separable_conv2d_backward(d_out, cache: SeparableConv2DCache, *, need_dx: bool = True):
    """Gradients of :func:`separable_conv2d_forward`:
    ``(dx, d_depthwise_kernel, d_pointwise_kernel, d_bias)``."""
    d_out = np.asarray(d_out)
    expected = (*cache.pointwise.x_shape[:3], cache.pointwise.kernel.shape[3])
    if d_out.shape != expected:
        raise ValueError(f"separable_conv2d_backward: expected d_out of shape {expected}. "
                         f"Received {d_out.shape}")
    dz, d_pointwise, d_bias = conv2d_backward(d_out, cache.pointwise)
    dx, d_depthwise, _ = depthwise_conv2d_backward(dz, cache.depthwise, need_dx=need_dx)
    return dx, d_depthwise, d_pointwise, d_bias
