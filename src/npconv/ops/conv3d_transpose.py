"""Transposed 3-D convolution ("deconvolution" of volumes), forward and backward, with
Keras's sizes.

Shapes (NDHWC, Keras's kernel order)::

    x       (N, D, H, W, C_in)
    kernel  (kd, kh, kw, filters, C_in)     as the kernel of the conv3d it transposes
    bias    (filters,)
    out     (N, D_out, H_out, W_out, filters)

As the 2-D op :mod:`npconv.ops.conv_transpose`, with one more axis: each input voxel's
``C_in`` values times the kernel give a ``(kd, kh, kw, filters)`` window, added into the
output at ``(z * s_d + a * d_d, y * s_h + i * d_h, x * s_w + j * d_w)`` -- conv3d's col2im of
``x @ kernel.T`` (:mod:`npconv.ops.conv3d`, one pass per kernel offset). Its backward pass
is a convolution: ``dx = im2col(d_out) @ kernel`` and ``d_kernel = im2col(d_out).T @ x``
(conv3d's im2col, one strided copy).

Output size per axis is Keras's (:func:`npconv.ops.conv_transpose.output_sizes`)::

    output_padding None:  "valid": n * s + max(d * (k - 1) + 1 - s, 0)       "same": n * s
    output_padding p:     (n - 1) * s + d * (k - 1) + 1 - 2 * pad + p
                          (pad = 0 for "valid", (d * (k - 1) + 1) // 2 for "same")

and the output is the full one (``L = (n - 1) * s + d * (k - 1) + 1`` voxels per axis) from
voxel ``max(L - n_out, 0) // 2`` on (TensorFlow's crop: the odd voxel at the back, bottom,
right), with zeros where it reaches past ``L``. torch's ``conv_transpose3d(padding=0,
output_padding=0)`` gives the full output; crop or pad it to compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_rank, float_array
from ._volumes import as_triple
from .conv import check_bias
from .conv3d import _col2im, _im2col
from .conv_transpose import _check_mode, check_output_padding, full_geometry, output_sizes

__all__ = ["Conv3DTransposeCache", "conv3d_transpose_backward", "conv3d_transpose_forward",
           "conv3d_transpose_output_size"]

_AXES = "(depth, height, width)"


def conv3d_transpose_output_size(input_dhw, kernel_size, strides=1, padding="valid",
                                 output_padding=None, dilation=1,
                                 where="conv3d_transpose"):
    """Keras's ``(D_out, H_out, W_out)`` of a transposed 3-D convolution (a None input size
    stays None). Arguments: ints or ``(depth, height, width)`` triples (voxels)."""
    k = as_triple(kernel_size, "kernel_size", where)
    s = as_triple(strides, "strides", where)
    d = as_triple(dilation, "dilation", where)
    _check_mode(padding, where)
    op = check_output_padding(output_padding, s, where, as_tuple=as_triple)
    return output_sizes(input_dhw, k, s, d, padding, op, where, _AXES)


@dataclass(frozen=True)
class Conv3DTransposeCache:
    """What :func:`conv3d_transpose_backward` needs (opaque to callers)."""

    x: np.ndarray  # (N, D, H, W, C_in), C-contiguous, in the compute dtype
    kernel: np.ndarray  # as given to the forward
    has_bias: bool
    strides: tuple
    dilation: tuple
    full_shape: tuple  # (N, P_d, P_h, P_w, filters): the full output, extended to hold the crop
    offsets: tuple  # (front, top, left) of the output in the full one
    out_dhw: tuple


def conv3d_transpose_forward(x, kernel, bias=None, strides=1, padding="valid",
                             output_padding=None, dilation=1):
    """Transposed 3-D convolution of an NDHWC batch. Returns ``(out, cache)``.

    x: ``(N, D, H, W, C_in)``; kernel: ``(kd, kh, kw, filters, C_in)``; bias: ``(filters,)``
    or None. padding: ``"valid"`` or ``"same"``; output_padding: None, an int or a triple,
    each below its stride; strides, dilation: int or triple >= 1 (voxels). Sizes as in the
    module docstring. out: ``(N, D_out, H_out, W_out, filters)`` in the common float dtype of
    ``x`` and ``kernel``.
    """
    where = "conv3d_transpose"
    x = float_array(x, where)
    kernel = float_array(kernel, where)
    check_rank(x, 5, where, "(batch, depth, height, width, channels)")
    check_rank(kernel, 5, where + " kernel", "(kd, kh, kw, filters, in_channels)")
    *kernel_dhw, filters, c_in = kernel.shape
    kernel_dhw = tuple(kernel_dhw)
    if x.shape[4] != c_in:
        raise ValueError(f"{where}: the input has {x.shape[4]} channels (shape {x.shape}) but "
                         f"the kernel {kernel.shape} expects {c_in} input channels (its last "
                         "axis)")
    if min(x.shape[1:4]) < 1:
        raise ValueError(f"{where}: expected an input with depth, height and width >= 1. "
                         f"Received an input of shape {x.shape}")
    bias = check_bias(bias, filters, where)
    s = as_triple(strides, "strides", where)
    d = as_triple(dilation, "dilation", where)
    n, *in_dhw, _ = x.shape
    out_dhw = conv3d_transpose_output_size(in_dhw, kernel_dhw, s, padding, output_padding, d,
                                           where)
    offsets, extended = full_geometry(in_dhw, kernel_dhw, s, d, out_dhw)
    full_shape = (n, *extended, filters)
    dtype = np.result_type(x.dtype, kernel.dtype)
    x = np.ascontiguousarray(x, dtype=dtype)
    k_mat = kernel.astype(dtype, copy=False).reshape(-1, c_in)  # (kd * kh * kw * filters, C_in)
    # each input voxel's window of the output: one row of conv3d's d_cols (groups = 1)
    cols = (x.reshape(-1, c_in) @ k_mat.T)[None]
    out_full = _col2im(cols, full_shape, kernel_dhw, s, d, tuple(in_dhw))
    (f, t, left), (do, ho, wo) = offsets, out_dhw
    out = out_full
    if out_full.shape[1:4] != out_dhw:
        out = np.ascontiguousarray(out_full[:, f:f + do, t:t + ho, left:left + wo])
    if bias is not None:
        out += bias.astype(dtype, copy=False)
    cache = Conv3DTransposeCache(x, kernel, bias is not None, s, d, full_shape, offsets, out_dhw)
    return out, cache


def conv3d_transpose_backward(d_out, cache: Conv3DTransposeCache, *, need_dx: bool = True):
    """Gradients of :func:`conv3d_transpose_forward`: ``(dx, d_kernel, d_bias)``.

    d_out: ``(N, D_out, H_out, W_out, filters)``. dx has the input's shape, d_kernel the
    kernel's, d_bias ``(filters,)`` (None without bias). ``need_dx=False`` returns dx as
    None (the patches are still gathered: d_kernel needs them).
    """
    kernel, x = cache.kernel, cache.x
    *kernel_dhw, filters, c_in = kernel.shape
    n, *in_dhw, _ = x.shape
    (f, t, left), (do, ho, wo) = cache.offsets, cache.out_dhw
    expected = (n, do, ho, wo, filters)
    d_out = np.asarray(d_out)
    if d_out.shape != expected:
        raise ValueError(f"conv3d_transpose_backward: expected d_out of shape {expected}. "
                         f"Received {d_out.shape}")
    dtype = x.dtype
    d_out = d_out.astype(dtype, copy=False)
    d_bias = d_out.sum(axis=(0, 1, 2, 3)) if cache.has_bias else None
    if cache.full_shape == expected:
        d_full = d_out  # (im2col reads through its strides: no copy needed)
    else:
        d_full = np.zeros(cache.full_shape, dtype=dtype)
        d_full[:, f:f + do, t:t + ho, left:left + wo] = d_out
    cols = _im2col(d_full, tuple(kernel_dhw), cache.strides, cache.dilation, tuple(in_dhw),
                   1)[0]  # (N * D * H * W, kd * kh * kw * filters)
    x2 = x.reshape(-1, c_in)
    d_kernel = (cols.T @ x2).reshape(kernel.shape).astype(kernel.dtype, copy=False)
    if not need_dx:
        return None, d_kernel, d_bias
    k_mat = kernel.astype(dtype, copy=False).reshape(-1, c_in)
    dx = (cols @ k_mat).reshape(x.shape)
    return dx, d_kernel, d_bias
