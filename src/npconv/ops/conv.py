"""2-D convolution (cross-correlation, as in every deep-learning library), forward and backward.

Shapes (NHWC, as in seed 002's NumPy code and Keras)::

    x       (N, H, W, C_in)          input batch
    kernel  (kh, kw, C_in, C_out)    one (kh, kw, C_in) filter per output channel
    bias    (C_out,)
    out     (N, H_out, W_out, C_out)

Seed 002 computes every output pixel with ``conv_single_step``: the sum of a window of the padded
input times one filter, plus its bias. Here all windows are gathered at once into the *im2col*
matrix ``cols`` of shape ``(N * H_out * W_out, kh * kw * C_in)`` -- one row per output pixel, one
column per kernel weight -- so the whole convolution is one matrix multiply::

    out = cols @ kernel.reshape(kh * kw * C_in, C_out) + bias

and the backward pass is two more (seed 002's formulas (1)-(3) summed over every window)::

    d_kernel = cols.T @ d_out          d_bias = d_out summed over N, H_out, W_out
    d_cols   = d_out @ kernel.T        dx = col2im(d_cols): each window's gradient added back

Output size (seed 000): ``H_out = floor((H + pad_top + pad_bottom - d * (kh - 1) - 1) / s) + 1``.

The paragraphs below are speed tricks around those three products (and the grouped form).
The plain version, seed 002's loops over examples, pixels and filters, is
``tests/naive_conv.py``, the tests' reference.

With few output channels (LeNet's 6 and 16) that multiply has only C_out columns, which the
BLAS runs slowly, so the forward pass and d_kernel use a *banded* form instead: one row per
block of ``B`` neighbouring output pixels of a row, holding the ``kh`` input rows under them
(``kh * W_b * C_in`` values, ``W_b = (B - 1) * s + d * (kw - 1) + 1``), times a banded matrix
that holds the kernel ``B`` times, shifted by the stride: ``(kh * W_b * C_in, B * C_out)``.
The products are the same; the zeros of the band add nothing. The output comes out in NHWC
order.

With few *input* channels (LeNet's C3 has 6) d_cols has only C_in columns per kernel offset,
and both its multiply and col2im run slowly; dx then comes from *rows* instead: each output
row's gradient ``d_out[n, y]`` (``W_out * C_out`` values) times one matrix that holds every
kernel row as a band, ``(W_out * C_out, kh * W_pad * C_in)``, gives that row's contribution to
``kh`` whole rows of the padded dx, which are added back at ``y * s + i * d``.

A large padded input with several channels is not padded at all: the patch matrix is
copied from the input itself, one block of output pixels at a time whose windows reach
the same kernel offsets inside it (the interior, then border rows and columns, whose
offsets in the padding are zeros). The matrix is the same; the padded copy is never
written and read again.

With a stride that does not divide the dilation (one larger than it, such as any stride > 1
at dilation 1), neighbouring kernel offsets of different windows never touch the same pixel,
so col2im adds a *tile* of ``s / gcd(s, d)`` offsets per axis in one pass (the strided CNN's
stride-2 3x3 convolution: 4 passes instead of 9).

*Grouped* convolution (``groups=G``, Keras's and torch's): the kernel is ``(kh, kw, C_in / G,
C_out)`` and output channels ``g * C_out / G ...`` see only input channels ``g * C_in / G ...``.
The windows are gathered once, group-major, into ``(G, N * H_out * W_out, kh * kw * C_in / G
[+ 1])`` (one copy of the strided view, a ones column per group for the bias), and one batched
``np.matmul`` with the kernel as ``(G, kh * kw * C_in / G [+ 1], C_out / G)`` writes each
group's block of output channels. The backward is two more batched multiplies (d_kernel and
d_bias; d_cols). With several channels per group, the patches are gathered from a group-major
copy of the input ``(G, N, H, W, C_in / G)`` (a window row is one run of values), and d_cols
comes per kernel offset as ``(G, M, C_in / G)`` blocks added into a group-major dx; with one
channel per group, d_cols is added back a tile of kernel offsets at a time, as in the tiled
col2im. Neither the banded form nor dx by rows applies; ``groups=1`` is the ungrouped code
above, unchanged.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._checks import as_pair, check_rank, float_array
from .padding import Pads, resolve_padding


def conv_single_step(a_slice_prev, W, b) -> float:
    """Seed 002's single step: one filter ``W`` on one window ``a_slice_prev``, plus bias ``b``.

    a_slice_prev, W: ``(f, f, n_C_prev)``; b: one number (shape ``(1, 1, 1)`` in the seed).
    Returns the scalar ``sum(a_slice_prev * W) + b``.
    """
    a_slice_prev, W, b = np.asarray(a_slice_prev), np.asarray(W), np.asarray(b)
    if a_slice_prev.shape != W.shape:
        raise ValueError(f"conv_single_step: expected a_slice_prev and W of the same shape. "
                         f"Received {a_slice_prev.shape} and {W.shape}")
    if b.size != 1:
        raise ValueError(f"conv_single_step: expected b to hold one number. "
                         f"Received shape {b.shape}")
    return float(np.sum(a_slice_prev * W)) + float(b.reshape(()))


def _window_starts(offset: int, dilation: int, stride: int, n_out: int) -> slice:
    """Pixels of the padded input that kernel offset ``offset`` touches, one per output pixel."""
    start = offset * dilation
    return slice(start, start + stride * (n_out - 1) + 1, stride)


def _pad(x: np.ndarray, pads: Pads) -> np.ndarray:
    """``x`` zero-padded in H and W; ``x`` itself (no copy) when there is nothing to pad."""
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    xp = np.zeros((n, h + top + bottom, w + left + right, c), dtype=x.dtype)
    xp[:, top:top + h, left:left + w, :] = x
    return xp


def _im2col_padded(xp, kernel_hw, strides, dilation, out_hw, ones_column=False) -> np.ndarray:
    """im2col of an already padded input: a ``(N * H_out * W_out, kh * kw * C)`` matrix.

    It is C-contiguous, except for one input channel, where it is the transpose of a
    C-contiguous ``(kh * kw, N * H_out * W_out)`` array (each kernel offset copies one
    contiguous block; the matrix multiplies read either layout without a copy).
    ``ones_column=True`` appends a last column of ones, so that a bias appended to the
    kernel matrix as its last row is added by the matrix multiply itself (and the bias
    gradient comes out of the kernel-gradient multiply): one pass over the output saved.
    """
    n, _, _, c = xp.shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
    extra = 1 if ones_column else 0
    if kh == kw == 1 and sh == sw == 1 and xp.flags.c_contiguous and not extra:
        return xp.reshape(n * ho * wo, c)  # a 1x1 convolution is already a matrix multiply
    if c == 1:
        cols_t = np.empty((kh * kw + extra, n, ho, wo), dtype=xp.dtype)
        for i in range(kh):
            for j in range(kw):
                cols_t[i * kw + j] = xp[:, _window_starts(i, dh, sh, ho),
                                        _window_starts(j, dw, sw, wo), 0]
        if extra:
            cols_t[-1] = 1
        return cols_t.reshape(kh * kw + extra, n * ho * wo).T
    # windows[n, y, x, i, j, c] = xp[n, y*sh + i*dh, x*sw + j*dw, c]: a view, copied once
    s_n, s_h, s_w, s_c = xp.strides
    windows = as_strided(xp, shape=(n, ho, wo, kh, kw, c),
                         strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c),
                         writeable=False)
    if not extra:
        return np.ascontiguousarray(windows).reshape(n * ho * wo, kh * kw * c)
    k = kh * kw * c
    cols = np.empty((n, ho, wo, k + 1), dtype=xp.dtype)
    cols[..., k] = 1
    cols[..., :k].reshape(n, ho, wo, kh, kw, c)[...] = windows  # (splitting the last axis
    return cols.reshape(n * ho * wo, k + 1)                        #  of a view: still a view)


#: Input bytes per block of windows from which :func:`_im2col` reads an unpadded input in
#: place (measured here: each block costs ~10 us of set-up; the pad it saves ~160 us per MB).
IMPLICIT_PAD_BYTES_PER_BLOCK = 96 << 10


@functools.lru_cache(maxsize=512)
def _valid_segments(n_in, n_out, k, s, d, pad) -> tuple[tuple[int, int, int, int], ...]:
    """Runs ``(y0, y1, i0, i1)`` of output pixels ``y0 .. y1 - 1`` along one axis whose
    windows hold real pixels exactly at kernel offsets ``i0 .. i1 - 1`` (``i0 == i1``: none),
    for an input of ``n_in`` pixels padded by ``pad`` before it.

    Offset i of output y reads pixel ``y * s + i * d - pad``; both ends of the outputs for
    which that is inside the input only fall as i grows, so each run's offsets are
    consecutive."""
    lo = [min(max(-((i * d - pad) // s), 0), n_out) for i in range(k)]  # first y, ceil
    hi = [min(max((n_in - 1 + pad - i * d) // s + 1, 0), n_out) for i in range(k)]  # past last
    bounds = sorted({0, n_out, *lo, *hi})
    runs = []
    for y0, y1 in itertools.pairwise(bounds):
        valid = [i for i in range(k) if lo[i] <= y0 and y1 <= hi[i]]
        runs.append((y0, y1, valid[0], valid[-1] + 1) if valid else (y0, y1, 0, 0))
    return tuple(runs)


def _im2col(x, kernel_hw, strides, dilation, pads, out_hw, ones_column=False) -> np.ndarray:
    """:func:`_im2col_padded` of ``x`` zero-padded by ``pads``, the same matrix.

    A large input with several channels is not padded: its windows are copied from ``x``
    itself, one block of output pixels at a time whose windows hold real pixels at the same
    kernel offsets (the interior, then the border rows and columns, where the offsets that
    fall into the padding are zeros). That saves writing the padded copy and reading it
    again (the strided CNN's second conv at 45 images: 0.255 -> 0.20 ms)."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
    (top, bottom), (left, right) = pads
    if c == 1 or top == bottom == left == right == 0:
        return _im2col_padded(_pad(x, pads), kernel_hw, strides, dilation, out_hw, ones_column)
    rows = _valid_segments(h, ho, kh, sh, dh, top)
    columns = _valid_segments(w, wo, kw, sw, dw, left)
    if x.nbytes < len(rows) * len(columns) * IMPLICIT_PAD_BYTES_PER_BLOCK:
        return _im2col_padded(_pad(x, pads), kernel_hw, strides, dilation, out_hw, ones_column)
    k = kh * kw * c
    extra = 1 if ones_column else 0
    cols = np.empty((n, ho, wo, k + extra), dtype=x.dtype)
    if extra:
        cols[..., k] = 1
    windows = cols[..., :k].reshape(n, ho, wo, kh, kw, c)
    s_n, s_h, s_w, s_c = x.strides
    for y0, y1, i0, i1 in rows:
        for x0, x1, j0, j1 in columns:
            block = windows[:, y0:y1, x0:x1]
            if (i0, i1, j0, j1) != (0, kh, 0, kw):
                block[...] = 0  # (a border block: its offsets in the padding stay 0)
            if i0 < i1 and j0 < j1:
                first = x[:, y0 * sh + i0 * dh - top:, x0 * sw + j0 * dw - left:]
                block[:, :, :, i0:i1, j0:j1] = as_strided(
                    first, shape=(n, y1 - y0, x1 - x0, i1 - i0, j1 - j0, c),
                    strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c),
                    writeable=False)
    return cols.reshape(n * ho * wo, k + extra)


def _col2im_padded(cols, padded_shape, kernel_hw, strides, dilation, out_hw) -> np.ndarray:
    """Adjoint of :func:`_im2col_padded`: add every window's row back to its pixels."""
    n, _, _, c = padded_shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
    if kh == kw == 1 and sh == sw == 1:
        return cols.reshape(padded_shape)
    dxp = np.zeros(padded_shape, dtype=cols.dtype)
    if c == 1:
        blocks = np.ascontiguousarray(cols.T).reshape(kh, kw, n, ho, wo)
        for i in range(kh):
            for j in range(kw):
                dxp[:, _window_starts(i, dh, sh, ho), _window_starts(j, dw, sw, wo), 0] += (
                    blocks[i, j]
                )
        return dxp
    cols = cols.reshape(n, ho, wo, kh, kw, c)
    for i in range(kh):
        for j in range(kw):
            dxp[:, _window_starts(i, dh, sh, ho), _window_starts(j, dw, sw, wo), :] += (
                cols[:, :, :, i, j, :]
            )
    return dxp


#: Bytes of d_cols blocks computed at once in a backward (a group of kernel offsets, each
#: added into dx before the next group): the whole (kh * kw, M, C_in) array was the largest
#: temporary of a training step (4.5 MB for the seed-001 CNN's middle conv at 32 images).
DX_GROUP_BYTES = 3 << 19


#: Bytes of one tile's part of d_cols at most (:func:`_col2im_tiles`); larger tiles are cut
#: into rows of offsets, then single offsets.
TILE_BYTES = 4 << 20


def _add_blocks(dxp, blocks, first, kernel_hw, strides, dilation, out_hw) -> None:
    """Add d_cols blocks ``(g, N * H_out * W_out, C)`` of the kernel offsets ``first ..
    first + g - 1`` (row-major) back to the pixels of ``dxp`` their windows touched."""
    n, _, _, c = dxp.shape
    (_, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
    for b in range(blocks.shape[0]):
        i, j = divmod(first + b, kw)
        dxp[:, _window_starts(i, dh, sh, ho), _window_starts(j, dw, sw, wo), :] += (
            blocks[b].reshape(n, ho, wo, c)
        )


def _col2im_blocks(d2, k_blocks, padded_shape, kernel_hw, strides, dilation, out_hw):
    """:func:`_col2im_padded` of ``d_cols = d2 @ kernel.T`` without building d_cols whole.

    d2: ``(N * H_out * W_out, C_out)``; k_blocks: ``(kh * kw, C_in, C_out)``, the kernel by
    offset. Where the stride does not divide the dilation (any stride > 1 at dilation 1), the
    offsets go in *tiles* of ``s / gcd(s, d)`` per axis (:func:`_tile_hw`,
    :func:`_col2im_tiles`); otherwise one offset at a time:
    per offset o the ``(N * H_out * W_out, C_in)`` block ``d2 @ k_blocks[o].T``, one batched
    GEMM per group of offsets (:data:`DX_GROUP_BYTES`), each added into dx with C_in
    contiguous values on both sides (faster than reading the (M, kh*kw*C_in) matrix)."""
    (kh, kw), (sh, sw) = kernel_hw, strides
    k_t = k_blocks.transpose(0, 2, 1)
    if kh == kw == 1 and sh == sw == 1:
        return (d2 @ k_t[0]).reshape(padded_shape)
    if _tile_hw(strides, dilation) != (1, 1):
        return _col2im_tiles(d2, k_blocks, padded_shape, kernel_hw, strides, dilation, out_hw)
    dxp = np.zeros(padded_shape, dtype=d2.dtype)
    group = max(1, DX_GROUP_BYTES // max(1, d2.shape[0] * padded_shape[3] * d2.itemsize))
    for first in range(0, kh * kw, group):
        _add_blocks(dxp, np.matmul(d2, k_t[first:first + group]), first, kernel_hw, strides,
                    dilation, out_hw)
    return dxp


def _tile_hw(strides, dilation) -> tuple[int, int]:
    """Kernel offsets per tile in height and width. Offset i of output y reads pixel
    ``y * s + i * d``; two offsets less than ``t = s / gcd(s, d)`` apart never read the same
    pixel (``dy * s = di * d`` needs ``di`` to be a multiple of t), so the windows of one
    tile of ``t`` consecutive offsets never overlap."""
    return tuple(s // math.gcd(s, d) for s, d in zip(strides, dilation, strict=True))


def _col2im_tiles(d2, k_blocks, padded_shape, kernel_hw, strides, dilation, out_hw):
    """:func:`_col2im_blocks` for strides that do not divide the dilation, a tile of offsets
    at a time: the tile's ``(N * H_out * W_out, t_h * t_w * C_in)`` part of d_cols in one GEMM,
    added into dx in one pass (its windows do not overlap, see :func:`_tile_hw`; the
    first tile is written, not added). Fewer and longer passes than one per offset: the
    seeds' stride-2 3x3 convolution takes 4 instead of 9, a stride-3 3x3 one takes 1."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
    n, _, _, c = padded_shape
    kernel = k_blocks.reshape(kh, kw, c, k_blocks.shape[2])
    th, tw = _tile_hw(strides, dilation)
    offset_bytes = d2.shape[0] * c * d2.itemsize  # one offset's part of d_cols
    if offset_bytes * th * tw > TILE_BYTES:
        th = 1  # tiles of one kernel row, or of one offset: memory stays bounded
        tw = tw if offset_bytes * tw <= TILE_BYTES else 1
    dxp = np.zeros(padded_shape, dtype=d2.dtype)
    s_n, s_h, s_w, s_c = dxp.strides
    for i0 in range(0, kh, th):
        for j0 in range(0, kw, tw):
            ti, tj = min(th, kh - i0), min(tw, kw - j0)
            k_tile = kernel[i0:i0 + ti, j0:j0 + tj].reshape(ti * tj * c, -1)
            d_tile = (d2 @ k_tile.T).reshape(n, ho, wo, ti, tj, c)
            windows = as_strided(dxp[:, i0 * dh:, j0 * dw:], shape=(n, ho, wo, ti, tj, c),
                                 strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c))
            if i0 == j0 == 0:
                windows[...] = d_tile
            else:
                windows += d_tile
    return dxp


def _geometry(x_shape, kernel_hw, strides, padding, dilation, where):
    """Resolved (strides, dilation, pads, out_hw), with a clear error if the kernel cannot fit.

    Memoized: a layer calls it with the same arguments at every step, and resolving the
    arguments costs more Python time than a small convolution's arithmetic.
    """
    key = (tuple(x_shape), kernel_hw, strides, padding, dilation, where)
    if not _plain(key):  # e.g. lists, bools, floats, numpy ints: resolve (and check) each time
        return _resolve_geometry(*key)
    result = _GEOMETRY_CACHE.get(key)  # one lookup: another thread may clear() meanwhile
    if result is not None:
        return result
    if len(_GEOMETRY_CACHE) > 512:
        _GEOMETRY_CACHE.clear()
    _GEOMETRY_CACHE[key] = result = _resolve_geometry(*key)
    return result


_GEOMETRY_CACHE: dict = {}


def _plain(value) -> bool:
    """Only Python ints and strings, in tuples: keys that compare equal only when identical
    (``True == 1`` and ``2.0 == 2`` would let a bad argument hit a good one's entry)."""
    if type(value) is tuple:
        return all(_plain(v) for v in value)
    return type(value) is int or type(value) is str


def _resolve_geometry(x_shape, kernel_hw, strides, padding, dilation, where):
    s = as_pair(strides, "strides", where)
    d = as_pair(dilation, "dilation", where)
    kernel_hw = as_pair(tuple(kernel_hw), "kernel_size", where)
    pads = resolve_padding(padding, x_shape[1:3], kernel_hw, s, d, where)
    padded = (x_shape[1] + sum(pads[0]), x_shape[2] + sum(pads[1]))
    reach = (d[0] * (kernel_hw[0] - 1) + 1, d[1] * (kernel_hw[1] - 1) + 1)
    if reach[0] > padded[0] or reach[1] > padded[1]:
        raise ValueError(
            f"{where}: the kernel (kh, kw)={kernel_hw} with dilation {d} spans {reach} pixels, "
            f"larger than the padded input (height, width)={padded} "
            f"(input {tuple(x_shape[1:3])}, padding {pads})"
        )
    out_hw = ((padded[0] - reach[0]) // s[0] + 1, (padded[1] - reach[1]) // s[1] + 1)
    return s, d, pads, out_hw


def im2col(x, kernel_size, strides=1, padding=0, dilation=1) -> np.ndarray:
    """The im2col matrix of NHWC ``x``: ``(N * H_out * W_out, kh * kw * C)``.

    Row ``(n, y, x)`` holds the window under output pixel ``(y, x)`` of image ``n`` in
    ``(i, j, c)`` order, matching ``kernel.reshape(kh * kw * C, C_out)``.
    ``padding`` as in :func:`npconv.ops.padding.resolve_padding`.
    """
    x = np.asarray(x)
    check_rank(x, 4, "im2col", "(batch, height, width, channels)")
    kernel_hw = as_pair(kernel_size, "kernel_size", "im2col")
    s, d, pads, out_hw = _geometry(x.shape, kernel_hw, strides, padding, dilation, "im2col")
    return _im2col(x, kernel_hw, s, d, pads, out_hw)


def col2im(cols, x_shape, kernel_size, strides=1, padding=0, dilation=1) -> np.ndarray:
    """Adjoint of :func:`im2col`: sum each row of ``cols`` back into an array of ``x_shape``."""
    cols = np.asarray(cols)
    x_shape = tuple(x_shape)
    kernel_hw = as_pair(kernel_size, "kernel_size", "col2im")
    s, d, pads, out_hw = _geometry(x_shape, kernel_hw, strides, padding, dilation, "col2im")
    expected = (x_shape[0] * out_hw[0] * out_hw[1], kernel_hw[0] * kernel_hw[1] * x_shape[3])
    if cols.shape != expected:
        raise ValueError(f"col2im: expected cols of shape {expected}. Received {cols.shape}")
    return _crop(_col2im_padded(cols, _padded_shape(x_shape, pads), kernel_hw, s, d, out_hw),
                 x_shape, pads)


def _padded_shape(x_shape, pads):
    return (x_shape[0], x_shape[1] + sum(pads[0]), x_shape[2] + sum(pads[1]), x_shape[3])


def _crop(xp, x_shape, pads):
    (top, _), (left, _) = pads
    if xp.shape == tuple(x_shape):
        return xp
    return np.ascontiguousarray(xp[:, top:top + x_shape[1], left:left + x_shape[2], :])


def _uses_row_dx(c_in: int, kw: int, padded_w: int) -> bool:
    """Whether dx is computed by rows (:func:`_row_dx`) rather than d_cols and col2im.

    The rows' multiply does ``padded_w / kw`` times the useful products, at the speed of a large
    GEMM; d_cols runs at roughly ``1 / C_in`` of it. Measured here (dx of LeNet's C3, 6 input
    channels, 5x5 on 14x14: 3.4 -> 1.6 ms at batch 128), rows win while
    ``C_in * padded_w / kw <= 32``. One input channel has its own single multiply."""
    return 1 < c_in and c_in * padded_w <= 32 * kw


def _row_kernel(kernel, out_w, padded_w, strides, dilation):
    """``(W_out * C_out, kh * W_pad * C_in)``: entry ``[(x, o), (i, w, c)]`` is
    ``kernel[i, j, c, o]`` where ``w = x * s + j * d``, else 0."""
    kh, kw, c_in, c_out = kernel.shape
    mat = np.zeros((out_w, c_out, kh, padded_w, c_in), dtype=kernel.dtype)
    x = np.arange(out_w)[:, None]
    j = np.arange(kw)[None, :]
    # (two index arrays around slices: NumPy puts their (W_out, kw) axes first)
    mat[x, :, :, x * strides[1] + j * dilation[1], :] = kernel.transpose(1, 3, 0, 2)[j]
    return mat.reshape(out_w * c_out, kh * padded_w * c_in)


def _row_dx(d2, kernel, padded_shape, strides, dilation, out_hw) -> np.ndarray:
    """Padded dx from ``d2`` (the ``(N * H_out * W_out, C_out)`` output gradient) by rows:
    ``d_rows[n, y] = d_out[n, y] @ row kernel`` holds ``kh`` padded rows, added back at
    ``y * s + i * d`` (see the module docstring)."""
    n, _, padded_w, c_in = padded_shape
    kh = kernel.shape[0]
    (sh, _), (dh, _), (ho, wo) = strides, dilation, out_hw
    d_rows = d2.reshape(n * ho, -1) @ _row_kernel(kernel, wo, padded_w, strides, dilation)
    d_rows = d_rows.reshape(n, ho, kh, padded_w, c_in)
    dxp = np.zeros(padded_shape, dtype=d2.dtype)
    for i in range(kh):
        dxp[:, _window_starts(i, dh, sh, ho)] += d_rows[:, :, i]
    return dxp


def _band_width(c_out: int, out_w: int) -> int | None:
    """Output pixels per row of the banded matrix multiply, or None for im2col.

    Banded when there are few output channels (measured here: LeNet's 6 -> 1.4x, 16 -> 1.2x
    faster forward; at 32 im2col wins): the smallest divisor B of the output width with at
    least 24 output columns ``B * C_out``, up to 8 pixels."""
    if c_out > 16 or out_w < 2:
        return None
    for b in range(2, 9):
        if out_w % b == 0 and b * c_out >= 24:
            return b
    return None


def _band_rows(xp, kernel_hw, strides, dilation, out_hw, band, ones_column):
    """The banded patch matrix of a padded input: ``(N * H_out * W_out / B, kh * W_b * C
    [+ 1])``, row ``(n, y, block)`` holding the ``kh`` input rows under ``B`` outputs."""
    n, _, _, c = xp.shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
    w_b = (band - 1) * sw + (kw - 1) * dw + 1
    k = kh * w_b * c
    extra = 1 if ones_column else 0
    rows = np.empty((n, ho, wo // band, k + extra), dtype=xp.dtype)
    if extra:
        rows[..., k] = 1
    rows[..., :k].reshape(n, ho, wo // band, kh, w_b, c)[...] = _band_patches(
        xp, kh, w_b, (sh, sw * band), dh, (ho, wo // band))
    return rows.reshape(-1, k + extra)


#: Longest patch row (``W_b * C`` values) read from strips (see :func:`_band_patches`);
#: measured here: strips win for LeNet-5's 8 values, lose for its second conv's 36.
STRIP_VALUES = 16


def _band_patches(xp, kh, w_b, steps, dh, blocks_hw):
    """View ``(N, H_out, W_out / B, kh, W_b, C)`` of the ``kh`` input rows of ``W_b``
    pixels under each block of outputs (``steps``: pixels between blocks, down and across).

    With one or two channels a patch row is only a few values long, and copying such short
    runs is slow; the patches are then read from *strips*, a copy of the input cut into
    columns ``W_b`` pixels wide, where a block's ``kh`` rows follow each other (one run of
    ``kh * W_b * C`` values; LeNet-5's first conv: twice as fast, although the strips are
    one more copy)."""
    n, h_pad, _, c = xp.shape
    (sh, step_w), (ho, blocks) = steps, blocks_hw
    s_n, s_h, s_w, s_c = xp.strides
    if dh != 1 or w_b * c > STRIP_VALUES:
        return as_strided(xp, shape=(n, ho, blocks, kh, w_b, c),
                          strides=(s_n, s_h * sh, s_w * step_w, s_h * dh, s_w, s_c),
                          writeable=False)
    strips = np.ascontiguousarray(as_strided(
        xp, shape=(n, blocks, h_pad, w_b, c), strides=(s_n, s_w * step_w, s_h, s_w, s_c),
        writeable=False))
    t_n, t_b, t_h, t_w, t_c = strips.strides
    return as_strided(strips, shape=(n, ho, blocks, kh, w_b, c),
                      strides=(t_n, t_h * sh, t_b, t_h, t_w, t_c), writeable=False)


def _band_offsets(kw, strides, dilation, band):
    """``w_b`` index of kernel column j for output t of a block: ``t * s + j * d``."""
    return np.arange(band)[:, None] * strides[1] + np.arange(kw)[None, :] * dilation[1]


def _band_kernel(k_mat, kernel_shape, strides, dilation, band, bias):
    """The ``(kh * W_b * C_in [+ 1], B * C_out)`` banded matrix of the kernel (and bias)."""
    kh, kw, c_in, c_out = kernel_shape
    w_b = (band - 1) * strides[1] + (kw - 1) * dilation[1] + 1
    kernel = k_mat.reshape(kh, kw, c_in, c_out)
    mat = np.zeros((kh, w_b, c_in, band, c_out), dtype=k_mat.dtype)
    cols = _band_offsets(kw, strides, dilation, band)
    for t in range(band):
        # (an index array and an int, apart: NumPy puts the kw axis first)
        mat[:, cols[t], :, t, :] = kernel.transpose(1, 0, 2, 3)
    mat = mat.reshape(kh * w_b * c_in, band * c_out)
    if bias is not None:
        mat = np.concatenate([mat, np.tile(bias, band)[None, :]])
    return mat


def _band_kernel_grad(d_mat, kernel_shape, strides, dilation, band, has_bias):
    """Fold the gradient of the banded matrix back to the kernel's (and the bias's)."""
    kh, kw, c_in, c_out = kernel_shape
    w_b = (band - 1) * strides[1] + (kw - 1) * dilation[1] + 1
    n_k = kh * w_b * c_in
    d5 = d_mat[:n_k].reshape(kh, w_b, c_in, band, c_out)
    cols = _band_offsets(kw, strides, dilation, band)
    t = np.arange(band)[:, None]
    # d5[:, cols[t, j], :, t, :] for every (t, j): axes (band, kw, kh, c_in, c_out)
    d_kernel = d5[:, cols, :, t, :].sum(axis=0).transpose(1, 0, 2, 3)
    d_bias = d_mat[n_k].reshape(band, c_out).sum(axis=0) if has_bias else None
    return np.ascontiguousarray(d_kernel), d_bias


@dataclass(frozen=True)
class Conv2DCache:
    """What :func:`conv2d_backward` needs (opaque to callers)."""

    # (N * H_out * W_out, kh * kw * C_in [+ 1 ones column with a bias]), or the banded
    # rows (see _band_rows) when ``band`` is set
    cols: np.ndarray
    kernel: np.ndarray  # (kh, kw, C_in / groups, C_out), as given to the forward
    has_bias: bool
    x_shape: tuple
    pads: Pads
    strides: tuple
    dilation: tuple
    out_hw: tuple
    band: int | None = None
    groups: int = 1  # > 1: cols is the grouped (G, M, kh * kw * C_in / G [+ 1]) patch matrix


def _check_groups(groups, where) -> int:
    """``groups`` as a positive Python int, or a ValueError naming ``where``."""
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{where}: expected groups to be a positive int. "
                         f"Received: groups={groups!r}")
    return int(groups)


def _im2col_grouped(xp, kernel_hw, strides, dilation, out_hw, groups, ones_column):
    """The grouped patch matrix ``(G, N * H_out * W_out, kh * kw * C / G [+ 1])``: group g's
    rows hold its channels of every window, in ``(i, j, c)`` order (one copy of the view)."""
    n, h, w, c = xp.shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
    cg = c // groups
    if cg > 1:
        # From a group-major copy of the input (G, N, H, W, C / G), 9x smaller than the
        # patches for 3x3: a window row is then one run of kw * C / G values, not kw runs of
        # C / G (measured: 2x faster with 2 to 16 channels per group; slower with 1).
        xp = np.ascontiguousarray(xp.reshape(n, h, w, groups, cg).transpose(3, 0, 1, 2, 4))
        s_g, s_n, s_h, s_w, s_c = xp.strides
    else:
        s_n, s_h, s_w, s_c = xp.strides
        s_g = s_c * cg
    # windows[g, n, y, x, i, j, c] = xp[n, y*sh + i*dh, x*sw + j*dw, g * cg + c]
    windows = as_strided(xp, shape=(groups, n, ho, wo, kh, kw, cg),
                         strides=(s_g, s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c),
                         writeable=False)
    k = kh * kw * cg
    extra = 1 if ones_column else 0
    cols = np.empty((groups, n, ho, wo, k + extra), dtype=xp.dtype)
    if extra:
        cols[..., k] = 1
    cols[..., :k].reshape(groups, n, ho, wo, kh, kw, cg)[...] = windows
    return cols.reshape(groups, n * ho * wo, k + extra)


def _grouped_kernel(kernel, groups, bias):
    """``(G, kh * kw * C_in / G [+ 1], C_out / G)``: group g's filters (and bias as a last row)."""
    kh, kw, cg, c_out = kernel.shape
    k_g = kernel.reshape(kh * kw * cg, groups, c_out // groups).transpose(1, 0, 2)
    if bias is not None:
        k_g = np.concatenate([k_g, bias.reshape(groups, 1, c_out // groups)], axis=1)
    return k_g


def _col2im_grouped(d_cols, padded_shape, kernel_hw, strides, dilation, out_hw):
    """Padded dx from the grouped d_cols ``(G, N * H_out * W_out, kh * kw * C / G)``: each
    tile of kernel offsets (:func:`_tile_hw`: their windows never overlap) added in one pass,
    the first one written."""
    n, _, _, c = padded_shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
    groups = d_cols.shape[0]
    cg = c // groups
    # blocks[n, y, x, i, j, g, c]: a view of d_cols in the windows' order
    blocks = d_cols.reshape(groups, n, ho, wo, kh, kw, cg).transpose(1, 2, 3, 4, 5, 0, 6)
    th, tw = _tile_hw(strides, dilation)
    dxp = np.zeros(padded_shape, dtype=d_cols.dtype)
    s_n, s_h, s_w, s_c = dxp.strides
    for i0 in range(0, kh, th):
        for j0 in range(0, kw, tw):
            ti, tj = min(th, kh - i0), min(tw, kw - j0)
            windows = as_strided(dxp[:, i0 * dh:, j0 * dw:],
                                 shape=(n, ho, wo, ti, tj, groups, cg),
                                 strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw,
                                          s_c * cg, s_c))
            tile = blocks[:, :, :, i0:i0 + ti, j0:j0 + tj]
            if i0 == j0 == 0:
                windows[...] = tile
            else:
                windows += tile
    return dxp


def check_bias(bias, size, where):
    """``bias`` as a float array of shape ``(size,)`` (a clear error otherwise), or None."""
    if bias is None:
        return None
    bias = float_array(bias, where)
    if bias.shape != (size,):
        raise ValueError(f"{where}: expected bias of shape ({size},). Received shape {bias.shape}")
    return bias


def conv2d_forward(x, kernel, bias=None, strides=1, padding="valid", dilation=1, *, groups=1,
                   out=None):
    """2-D convolution of an NHWC batch. Returns ``(out, cache)``.

    x: ``(N, H, W, C_in)``; kernel: ``(kh, kw, C_in, C_out)``; bias: ``(C_out,)`` or None.
    strides, dilation: int or ``(vertical, horizontal)``, >= 1 (pixels).
    padding: ``"valid"``, ``"same"`` (Keras/TensorFlow: ``H_out = ceil(H / stride)``, the odd
    pixel at the bottom/right), an int, a pair or ``((top, bottom), (left, right))``.
    groups: output channel block g (``C_out / groups`` channels) sees only input channel
    block g; the kernel is then ``(kh, kw, C_in / groups, C_out)`` (Keras's and torch's
    grouped convolution; ``groups=C_in`` is a depthwise one).
    out: ``(N, H_out, W_out, C_out)`` in the common float dtype of ``x`` and ``kernel``
    (float32 stays float32; integer input is computed in float32). ``out=`` (optional): a
    C-contiguous array of exactly that shape and dtype to write the result into.
    """
    where = "conv2d"
    x = float_array(x, where)
    kernel = float_array(kernel, where)
    check_rank(x, 4, where, "(batch, height, width, channels)")
    check_rank(kernel, 4, where + " kernel", "(kh, kw, in_channels / groups, out_channels)")
    if type(groups) is not int or groups != 1:  # (True and 1.0 are not ints here)
        groups = _check_groups(groups, where)
    kh, kw, c_in, c_out = kernel.shape
    if groups != 1:
        if c_out % groups:
            raise ValueError(f"{where}: the kernel {kernel.shape} has {c_out} output channels, "
                             f"not divisible by groups={groups}")
        if x.shape[3] != c_in * groups:
            raise ValueError(f"{where}: the input has {x.shape[3]} channels (shape {x.shape}) "
                             f"but the kernel {kernel.shape} with groups={groups} expects "
                             f"{c_in * groups} ({groups} groups of {c_in})")
    elif x.shape[3] != c_in:
        raise ValueError(f"{where}: the input has {x.shape[3]} channels (shape {x.shape}) but the "
                         f"kernel {kernel.shape} expects {c_in} input channels")
    dtype = np.result_type(x.dtype, kernel.dtype)
    bias = check_bias(bias, c_out, where)
    s, d, pads, out_hw = _geometry(x.shape, (kh, kw), strides, padding, dilation, where)

    x = x.astype(dtype, copy=False)
    has_bias = bias is not None
    if groups != 1:
        return _grouped_forward(_pad(x, pads), kernel, bias, dtype, x.shape, s, d, pads, out_hw,
                                groups, out, where)
    k_mat = kernel.reshape(kh * kw * c_in, c_out).astype(dtype, copy=False)
    band = _band_width(c_out, out_hw[1])
    if band is not None:
        cols = _band_rows(_pad(x, pads), (kh, kw), s, d, out_hw, band, ones_column=has_bias)
        k_mat = _band_kernel(k_mat, kernel.shape, s, d, band,
                             bias.astype(dtype, copy=False) if has_bias else None)
    else:
        cols = _im2col(x, (kh, kw), s, d, pads, out_hw, ones_column=has_bias)
        if has_bias:  # [cols, 1] @ [[kernel], [bias]] = cols @ kernel + bias, in one multiply
            k_mat = np.concatenate([k_mat, bias.astype(dtype, copy=False)[None, :]])
    out_shape = (x.shape[0], out_hw[0], out_hw[1], c_out)
    if out is None:
        out = (cols @ k_mat).reshape(out_shape)
    else:
        _check_out(out, out_shape, dtype, where)
        np.matmul(cols, k_mat, out=out.reshape(cols.shape[0], k_mat.shape[1]))
    cache = Conv2DCache(cols, kernel, has_bias, x.shape, pads, s, d, out_hw, band)
    return out, cache


def _check_out(out, out_shape, dtype, where) -> None:
    if (not isinstance(out, np.ndarray) or out.shape != out_shape or out.dtype != dtype
            or not out.flags.c_contiguous):
        raise ValueError(f"{where}: expected out= to be a C-contiguous {dtype} array of "
                         f"shape {out_shape}. Received "
                         + (f"a {out.dtype} array of shape {out.shape}"
                            + ("" if out.flags.c_contiguous else ", not C-contiguous")
                            if isinstance(out, np.ndarray) else type(out).__name__))


def _grouped_forward(xp, kernel, bias, dtype, x_shape, s, d, pads, out_hw, groups, out, where):
    """:func:`conv2d_forward` for ``groups > 1`` (see the module docstring)."""
    kh, kw, _, c_out = kernel.shape
    has_bias = bias is not None
    cols = _im2col_grouped(xp, (kh, kw), s, d, out_hw, groups, ones_column=has_bias)
    k_g = _grouped_kernel(kernel.astype(dtype, copy=False), groups,
                          bias.astype(dtype, copy=False) if has_bias else None)
    out_shape = (x_shape[0], out_hw[0], out_hw[1], c_out)
    if out is None:
        out = np.empty(out_shape, dtype=dtype)
    else:
        _check_out(out, out_shape, dtype, where)
    # group g's (M, C_out / G) product goes straight into its block of output channels
    m = cols.shape[1]
    np.matmul(cols, k_g, out=out.reshape(m, groups, c_out // groups).transpose(1, 0, 2))
    cache = Conv2DCache(cols, kernel, has_bias, x_shape, pads, s, d, out_hw, groups=groups)
    return out, cache


def conv2d_backward(d_out, cache: Conv2DCache, *, need_dx: bool = True):
    """Gradients of :func:`conv2d_forward`: ``(dx, d_kernel, d_bias)``.

    d_out: ``(N, H_out, W_out, C_out)``, the loss gradient w.r.t. the output.
    dx has the input's shape, d_kernel the kernel's, d_bias ``(C_out,)`` (None without bias).
    ``need_dx=False`` skips dx (returned as None), e.g. for a network's first layer.
    """
    kernel = cache.kernel
    kh, kw, c_in, c_out = kernel.shape
    n = cache.x_shape[0]
    expected = (n, cache.out_hw[0], cache.out_hw[1], c_out)
    d_out = np.asarray(d_out)
    if d_out.shape != expected:
        raise ValueError(f"conv2d_backward: expected d_out of shape {expected}. "
                         f"Received {d_out.shape}")
    dtype = cache.cols.dtype
    d2 = d_out.astype(dtype, copy=False).reshape(-1, c_out)
    if cache.groups != 1:
        return _grouped_backward(d2, cache, need_dx)

    if cache.band is not None:
        d_mat = cache.cols.T @ d2.reshape(cache.cols.shape[0], -1)
        d_kernel, d_bias = _band_kernel_grad(d_mat, kernel.shape, cache.strides,
                                             cache.dilation, cache.band, cache.has_bias)
        d_kernel = d_kernel.astype(kernel.dtype, copy=False)
    else:
        d_cols_kernel = cache.cols.T @ d2  # with a bias, its last row (ones @ d2) is d_bias
        d_bias = d_cols_kernel[-1].copy() if cache.has_bias else None
        n_k = kh * kw * c_in
        d_kernel = d_cols_kernel[:n_k].reshape(kernel.shape).astype(kernel.dtype, copy=False)
    if not need_dx:
        return None, d_kernel, d_bias
    padded_shape = _padded_shape(cache.x_shape, cache.pads)
    if _uses_row_dx(c_in, kw, padded_shape[2]):
        dxp = _row_dx(d2, kernel.astype(dtype, copy=False), padded_shape, cache.strides,
                      cache.dilation, cache.out_hw)
        return _crop(dxp, cache.x_shape, cache.pads), d_kernel, d_bias
    k_blocks = kernel.reshape(kh * kw, c_in, c_out).astype(dtype, copy=False)
    if c_in == 1:  # one GEMM (kh*kw, C_out) @ (C_out, M) rather than kh*kw matrix-vector ones
        dxp = np.zeros(padded_shape, dtype=dtype)
        _add_blocks(dxp, (k_blocks[:, 0, :] @ d2.T)[:, :, None], 0, (kh, kw), cache.strides,
                    cache.dilation, cache.out_hw)
    else:
        dxp = _col2im_blocks(d2, k_blocks, padded_shape, (kh, kw), cache.strides,
                             cache.dilation, cache.out_hw)
    dx = _crop(dxp, cache.x_shape, cache.pads)
    return dx, d_kernel, d_bias


def _grouped_backward(d2, cache: Conv2DCache, need_dx: bool):
    """:func:`conv2d_backward` for ``groups > 1``: ``d2`` is the ``(M, C_out)`` gradient."""
    kernel, groups, cols = cache.kernel, cache.groups, cache.cols
    kh, kw, cg, c_out = kernel.shape
    dtype = cols.dtype
    # group g's (M, C_out / G) block of the gradient: a strided view, no copy
    d2_g = d2.reshape(d2.shape[0], groups, c_out // groups).transpose(1, 0, 2)
    d_k = np.matmul(cols.transpose(0, 2, 1), d2_g)  # (G, K_g [+ 1], C_out / G)
    n_k = kh * kw * cg
    d_kernel = np.ascontiguousarray(d_k[:, :n_k].transpose(1, 0, 2)).reshape(kernel.shape)
    d_kernel = d_kernel.astype(kernel.dtype, copy=False)
    d_bias = d_k[:, n_k].reshape(c_out) if cache.has_bias else None
    if not need_dx:
        return None, d_kernel, d_bias
    k_g = _grouped_kernel(kernel.astype(dtype, copy=False), groups, None)
    padded_shape = _padded_shape(cache.x_shape, cache.pads)
    if cg > 1:
        dxp = _grouped_dx_by_offsets(d2_g, k_g, padded_shape, (kh, kw), cache.strides,
                                     cache.dilation, cache.out_hw)
    else:
        d_cols = np.matmul(d2_g, k_g.transpose(0, 2, 1))  # (G, M, K_g)
        dxp = _col2im_grouped(d_cols, padded_shape, (kh, kw), cache.strides, cache.dilation,
                              cache.out_hw)
    return _crop(dxp, cache.x_shape, cache.pads), d_kernel, d_bias


def _grouped_dx_by_offsets(d2_g, k_g, padded_shape, kernel_hw, strides, dilation, out_hw):
    """Padded dx for ``C_in / G > 1``: per kernel offset o, every group's ``(M, C_in / G)``
    block of d_cols (one batched matmul over offsets and groups, a group of offsets at a time
    as in :func:`_col2im_blocks`), added into a group-major dx ``(G, N, H, W, C_in / G)`` with
    runs of ``W_out * C_in / G`` values on both sides, then moved back to NHWC in one copy."""
    n, h, w, c = padded_shape
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
    groups, m, f_g = d2_g.shape
    cg = c // groups
    k_t = k_g.reshape(groups, kh * kw, cg, f_g).transpose(1, 0, 3, 2)  # (o, G, C_out/G, cg)
    dxg = np.zeros((groups, n, h, w, cg), dtype=d2_g.dtype)
    step = max(1, DX_GROUP_BYTES // max(1, m * c * d2_g.itemsize))
    for first in range(0, kh * kw, step):
        blocks = np.matmul(d2_g[None], k_t[first:first + step])  # (o, G, M, cg)
        for b in range(blocks.shape[0]):
            i, j = divmod(first + b, kw)
            dxg[:, :, _window_starts(i, dh, sh, ho), _window_starts(j, dw, sw, wo)] += (
                blocks[b].reshape(groups, n, ho, wo, cg))
    return np.ascontiguousarray(dxg.transpose(1, 2, 3, 0, 4)).reshape(padded_shape)
