"""Transposed 2-D convolution ("deconvolution"), forward and backward, with Keras's sizes.

Shapes (NHWC, Keras's kernel order)::

    x       (N, H, W, C_in)
    kernel  (kh, kw, filters, C_in)     as the kernel of the conv2d it transposes
    bias    (filters,)
    out     (N, H_out, W_out, filters)

The forward pass of a transposed convolution is the backward-to-input of a convolution:
each input pixel's ``C_in`` values times the kernel give a ``(kh, kw, filters)`` window,
added into the output at ``(y * s + i * d, x * s + j * d)`` -- conv2d's col2im of
``x @ kernel.T``. Its backward pass is a convolution: ``dx = im2col(d_out) @ kernel`` and
``d_kernel = im2col(d_out).T @ x``. Both reuse conv2d's pieces (im2col, col2im by kernel
offsets).

All windows together cover the *full* output ``L = (H - 1) * s + d * (k - 1) + 1`` pixels
long. Keras's output size (``keras.src.utils.conv_utils``-style, per axis)::

    output_padding None:  "valid": H * s + max(d * (k - 1) + 1 - s, 0)       "same": H * s
    output_padding p:     (H - 1) * s + d * (k - 1) + 1 - 2 * pad + p
                          (pad = 0 for "valid", (d * (k - 1) + 1) // 2 for "same")

and the output is the full one from pixel ``max(L - H_out, 0) // 2`` on (TensorFlow's "same"
rule: the odd pixel cropped at the bottom/right), with zeros where it reaches past ``L``.
torch's ``conv_transpose2d(padding=0, output_padding=0)`` gives the full output; crop or pad
it to compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import as_pair, check_rank, float_array
from .conv import _col2im_blocks, _im2col_padded, check_bias

__all__ = ["check_output_padding", "conv2d_transpose_backward", "conv2d_transpose_forward",
           "conv_transpose_output_size", "full_geometry", "output_sizes"]


def _output_length(size, kernel, stride, dilation, padding, output_padding):
    k_eff = dilation * (kernel - 1) + 1
    if output_padding is None:
        if padding == "valid":
            return size * stride + max(k_eff - stride, 0)
        return size * stride
    pad = 0 if padding == "valid" else k_eff // 2
    return (size - 1) * stride + k_eff - 2 * pad + output_padding


def _check_mode(padding, where):
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        return padding.lower()
    raise ValueError(f"{where}: expected padding to be 'valid' or 'same'. "
                     f"Received: padding={padding!r}")


def check_output_padding(output_padding, strides, where, *, as_tuple=as_pair):
    """``output_padding`` as ints >= 0 below the strides (Keras's rule), one per axis
    (``as_tuple``: ``as_pair`` for 2-D, ``as_triple`` for 3-D), or None."""
    if output_padding is None:
        return None
    op = as_tuple(output_padding, "output_padding", where, minimum=0)
    if any(p >= s for p, s in zip(op, strides, strict=True)):
        raise ValueError(f"{where}: strides must be greater than output_padding. "
                         f"Received strides={strides}, output_padding={op}")
    return op


def output_sizes(input_sizes, kernel, strides, dilation, padding, output_padding, where,
                 axes="(height, width)"):
    """Keras's output size along each axis of a transposed convolution, from per-axis
    tuples (``output_padding`` already checked, or None; an input size of None stays None).
    ``axes`` names the axes in the error for an empty output."""
    mode = _check_mode(padding, where)
    op = output_padding or (None,) * len(kernel)
    out = tuple(None if n is None else _output_length(n, k, s, d, mode, p)
                for n, k, s, d, p in zip(input_sizes, kernel, strides, dilation, op,
                                         strict=True))
    if any(size is not None and size < 1 for size in out):
        raise ValueError(f"{where}: the output would be empty: {axes}={out} for the "
                         f"input {tuple(input_sizes)}, kernel {tuple(kernel)}, strides "
                         f"{tuple(strides)}, padding {mode!r}, output_padding "
                         f"{output_padding}, dilation {tuple(dilation)}")
    return out


def conv_transpose_output_size(input_hw, kernel_size, strides=1, padding="valid",
                               output_padding=None, dilation=1, where="conv2d_transpose"):
    """Keras's ``(H_out, W_out)`` of a transposed convolution (None stays None)."""
    k = as_pair(kernel_size, "kernel_size", where)
    s = as_pair(strides, "strides", where)
    d = as_pair(dilation, "dilation", where)
    _check_mode(padding, where)
    op = check_output_padding(output_padding, s, where)
    return output_sizes(input_hw, k, s, d, padding, op, where)


def full_geometry(in_sizes, kernel, strides, dilation, out_sizes):
    """Where the output lies in the full output of a transposed convolution, per axis:
    ``(offsets, extended)``. The full output is ``L = (n - 1) * s + d * (k - 1) + 1`` long;
    the output starts at ``max(L - n_out, 0) // 2`` (TensorFlow's crop, the odd pixel at the
    end), and ``extended = max(L, offset + n_out)`` holds it where it reaches past ``L``."""
    full = tuple((n - 1) * s + d * (k - 1) + 1
                 for n, k, s, d in zip(in_sizes, kernel, strides, dilation, strict=True))
    offsets = tuple(max(f - o, 0) // 2 for f, o in zip(full, out_sizes, strict=True))
    extended = tuple(max(f, t + o) for f, t, o in zip(full, offsets, out_sizes, strict=True))
    return offsets, extended


@dataclass(frozen=True)
class Conv2DTransposeCache:
    """What :func:`conv2d_transpose_backward` needs (opaque to callers)."""

    x: np.ndarray
    kernel: np.ndarray
    has_bias: bool
    strides: tuple
    dilation: tuple
    full_shape: tuple  # (N, P_h, P_w, filters): the full output, extended to hold the crop
    offsets: tuple  # (top, left) of the output in the full one
    out_hw: tuple


def conv2d_transpose_forward(x, kernel, bias=None, strides=1, padding="valid",
                             output_padding=None, dilation=1):
    """Transposed 2-D convolution of an NHWC batch. Returns ``(out, cache)``.

    x: ``(N, H, W, C_in)``; kernel: ``(kh, kw, filters, C_in)``; bias: ``(filters,)`` or None.
    padding: ``"valid"`` or ``"same"``; output_padding: None, an int or a pair, each below
    its stride; strides, dilation: int or pair >= 1. Sizes as in the module docstring.
    out: ``(N, H_out, W_out, filters)`` in the common float dtype of ``x`` and ``kernel``.
    """
    where = "conv2d_transpose"
    x = float_array(x, where)
    kernel = float_array(kernel, where)
    check_rank(x, 4, where, "(batch, height, width, channels)")
    check_rank(kernel, 4, where + " kernel", "(kh, kw, filters, in_channels)")
    kh, kw, filters, c_in = kernel.shape
    if x.shape[3] != c_in:
        raise ValueError(f"{where}: the input has {x.shape[3]} channels (shape {x.shape}) but the "
                         f"kernel {kernel.shape} expects {c_in} input channels (its last axis)")
    bias = check_bias(bias, filters, where)
    s = as_pair(strides, "strides", where)
    d = as_pair(dilation, "dilation", where)
    n, h, w, _ = x.shape
    out_hw = conv_transpose_output_size((h, w), (kh, kw), s, padding, output_padding, d, where)
    offsets, extended = full_geometry((h, w), (kh, kw), s, d, out_hw)
    full_shape = (n, *extended, filters)
    dtype = np.result_type(x.dtype, kernel.dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    k_blocks = kernel.astype(dtype, copy=False).reshape(kh * kw, filters, c_in)
    x2 = x.reshape(n * h * w, c_in)
    out_full = _col2im_blocks(x2, k_blocks, full_shape, (kh, kw), s, d, (h, w))
    (top, left), (ho, wo) = offsets, out_hw
    out = np.ascontiguousarray(out_full[:, top:top + ho, left:left + wo])
    if bias is not None:
        out += bias.astype(dtype, copy=False)
    cache = Conv2DTransposeCache(x, kernel, bias is not None, s, d, full_shape, offsets, out_hw)
    return out, cache


def conv2d_transpose_backward(d_out, cache: Conv2DTransposeCache, *, need_dx: bool = True):
    """Gradients of :func:`conv2d_transpose_forward`: ``(dx, d_kernel, d_bias)``.

    d_out: ``(N, H_out, W_out, filters)``. dx has the input's shape, d_kernel the kernel's,
    d_bias ``(filters,)`` (None without bias). ``need_dx=False`` returns dx as None.
    """
    kernel, x = cache.kernel, cache.x
    kh, kw, filters, c_in = kernel.shape
    n, h, w, _ = x.shape
    (top, left), (ho, wo) = cache.offsets, cache.out_hw
    expected = (n, ho, wo, filters)
    d_out = np.asarray(d_out)
    if d_out.shape != expected:
        raise ValueError(f"conv2d_transpose_backward: expected d_out of shape {expected}. "
                         f"Received {d_out.shape}")
    dtype = x.dtype
    d_out = d_out.astype(dtype, copy=False)
    d_bias = d_out.sum(axis=(0, 1, 2)) if cache.has_bias else None
    d_full = np.zeros(cache.full_shape, dtype=dtype)
    d_full[:, top:top + ho, left:left + wo] = d_out
    cols = _im2col_padded(d_full, (kh, kw), cache.strides, cache.dilation, (h, w))
    x2 = x.reshape(n * h * w, c_in)
    d_kernel = (cols.T @ x2).reshape(kernel.shape).astype(kernel.dtype, copy=False)
    if not need_dx:
        return None, d_kernel, d_bias
    k_mat = kernel.astype(dtype, copy=False).reshape(kh * kw * filters, c_in)
    dx = (cols @ k_mat).reshape(x.shape)
    return dx, d_kernel, d_bias
