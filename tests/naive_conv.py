"""Seed 002's loop algorithm of convolution, generalised to any padding, stride and dilation.

A second, independent reference for the fast im2col convolution in ``npconv.ops.conv``: it walks
over every example, output pixel and filter exactly as ``conv_forward``/``conv_backward`` of seed
002 do, so it is slow and only for small test shapes.
"""

from __future__ import annotations

import numpy as np


def _pad(x, pads):
    (top, bottom), (left, right) = pads
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _group_channels(c, kernel, groups):
    """The input channels output channel ``c`` sees: its group's block of ``C_in / groups``."""
    c_in_g, c_out = kernel.shape[2], kernel.shape[3]
    g = c // (c_out // groups)
    return slice(g * c_in_g, (g + 1) * c_in_g)


def naive_conv_forward(x, kernel, bias, strides, pads, dilation, groups=1):
    """out[i, h, w, c] = sum(window * kernel[..., c]) + bias[c]; seed 002's conv_forward.

    With ``groups``, the window holds only output channel c's group of input channels."""
    (sh, sw), (dh, dw) = strides, dilation
    kh, kw, _, c_out = kernel.shape
    xp = _pad(x, pads)
    m, hp, wp, _ = xp.shape
    n_h = (hp - dh * (kh - 1) - 1) // sh + 1
    n_w = (wp - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((m, n_h, n_w, c_out), dtype=np.float64)
    for i in range(m):
        for h in range(n_h):
            vert = slice(h * sh, h * sh + dh * (kh - 1) + 1, dh)
            for w in range(n_w):
                horiz = slice(w * sw, w * sw + dw * (kw - 1) + 1, dw)
                a_slice = xp[i, vert, horiz, :]
                for c in range(c_out):
                    window = a_slice[..., _group_channels(c, kernel, groups)]
                    out[i, h, w, c] = np.sum(window * kernel[..., c]) + (
                        0.0 if bias is None else bias[c]
                    )
    return out


def naive_conv_backward(d_out, x, kernel, strides, pads, dilation, groups=1):
    """Seed 002's conv_backward: (dx, d_kernel, d_bias) by adding each window's share."""
    (sh, sw), (dh, dw) = strides, dilation
    kh, kw, _, c_out = kernel.shape
    xp = _pad(x, pads)
    dxp = np.zeros_like(xp, dtype=np.float64)
    d_kernel = np.zeros(kernel.shape, dtype=np.float64)
    d_bias = np.zeros(c_out, dtype=np.float64)
    m, n_h, n_w, _ = d_out.shape
    for i in range(m):
        for h in range(n_h):
            vert = slice(h * sh, h * sh + dh * (kh - 1) + 1, dh)
            for w in range(n_w):
                horiz = slice(w * sw, w * sw + dw * (kw - 1) + 1, dw)
                for c in range(c_out):
                    g = d_out[i, h, w, c]
                    group = _group_channels(c, kernel, groups)
                    dxp[i, vert, horiz, group] += kernel[..., c] * g
                    d_kernel[..., c] += xp[i, vert, horiz, group] * g
                    d_bias[c] += g
    (top, _), (left, _) = pads
    dx = dxp[:, top:top + x.shape[1], left:left + x.shape[2], :]
    return dx, d_kernel, d_bias
