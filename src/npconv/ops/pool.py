"""Max, average and global pooling on NHWC batches (seeds 000, 001, 002, 004).

Seed 002's ``pool_forward`` slides an ``(f, f)`` window over every example, pixel and channel::

    for i, h, w, c:
        window = A_prev[i, h*stride : h*stride + f, w*stride : w*stride + f, c]
        A[i, h, w, c] = np.max(window)        # or np.mean(window)

Here the four loops become a loop over the ``kh * kw`` window offsets ``(di, dj)``: the pixels at
offset ``(di, dj)`` of every window form one strided view of the input,
``x[:, di : di + stride*(out_h-1) + 1 : stride, dj : ... : stride, :]``, and the output is the
running max (or sum) of those views. Batch, pixels and channels are handled by numpy at once.
Seed 002's loops themselves (corrected for any stride) are ``tests/naive_pool.py``, the tests'
reference.

Backward (seed 002's ``pool_backward``, corrected to use ``h * stride`` for any stride):

- max: each window sends its gradient to ONE element, its maximum; on ties the first one in
  row-major window order (as PyTorch does). The forward pass records which offset won. With
  ``record_argmax=False`` (inference) and windows that tile the input (``strides ==
  pool_size``, no padding: the usual 2x2 pool) it computes only the running maximum (~2x
  faster) and keeps references to ``x`` and ``out`` (do not modify them in place before the
  backward); a backward then finds each window's first offset equal to its maximum (slower
  than with the recorded winners, same result).
  (A window holding NaN outputs NaN; which element then gets its gradient is unspecified.)
- average: each window spreads its gradient evenly over the pixels it averaged.

Padding is ``"valid"`` (none) or ``"same"`` (Keras/TensorFlow: ``out = ceil(in / stride)``, the
odd padding pixel at the bottom/right). Padded cells never take part: max pooling pads with
``-inf``; average pooling divides by the number of real pixels in each window (Keras's
behaviour, PyTorch's ``count_include_pad=False``).

Shapes: ``x`` is ``(batch, height, width, channels)``; ``pool_size`` and ``strides`` are in pixels.
float32 stays float32 and float64 stays float64; integer input is pooled as float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import as_pair, check_choice, check_rank, float_array, float_images
from .padding import resolve_padding

_LAYOUT = "(batch, height, width, channels)"


@dataclass(frozen=True)
class PoolCache:
    """What a pooling backward needs (opaque to callers)."""

    where: str
    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    pool: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    out_shape: tuple[int, int, int, int]
    argmax: np.ndarray | None = None   # max: index di * kw + dj of each window's winner
    x: np.ndarray | None = None        # tiled max: the input and the output (references)
    out: np.ndarray | None = None
    counts: np.ndarray | None = None   # average: real pixels per window, (out_h, out_w, 1)

    @property
    def tiled(self) -> bool:
        """Windows tile the input without overlap or padding (e.g. 2x2 pools, stride 2)."""
        return self.strides == self.pool and self.pads == ((0, 0), (0, 0))


@dataclass(frozen=True)
class GlobalPoolCache:
    """What a global pooling backward needs (opaque to callers)."""

    where: str
    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    keepdims: bool
    ties: np.ndarray | None = None     # global max: (batch, height * width, channels), bool
    counts: np.ndarray | None = None   # global max: tied maxima per (batch, channel)


# ---------------------------------------------------------------------------- helpers
def _setup(where, x, pool_size, strides, padding):
    """Check the arguments; return (x, pool, strides, pads, (out_h, out_w))."""
    x = float_array(x, where)
    check_rank(x, 4, where, _LAYOUT)
    pool = as_pair(pool_size, "pool_size", where)
    strides = pool if strides is None else as_pair(strides, "strides", where)
    padding = check_choice(padding, "padding", {"valid", "same"}, where)
    _, h, w, _ = x.shape
    if h < 1 or w < 1:
        raise ValueError(f"{where}: expected an input with height and width >= 1. "
                         f"Received an input of shape {x.shape}")
    pads = resolve_padding(padding, (h, w), pool, strides, 1, where)
    padded = (h + sum(pads[0]), w + sum(pads[1]))
    if padded[0] < pool[0] or padded[1] < pool[1]:
        raise ValueError(
            f"{where}: the pool window {pool} is larger than the (padded) input's height and "
            f"width {padded}. Received an input of shape {x.shape} with padding={padding!r}"
        )
    out_hw = tuple((padded[a] - pool[a]) // strides[a] + 1 for a in range(2))
    return x, pool, strides, pads, out_hw


def _window_views(x, pool, strides, out_hw):
    """Yield ``(k, view)`` for each window offset ``(di, dj)``, ``k = di * kw + dj`` (row-major
    window order), where ``view[n, i, j, c] = x[n, i * sh + di, j * sw + dj, c]``."""
    (kh, kw), (sh, sw), (oh, ow) = pool, strides, out_hw
    for di in range(kh):
        for dj in range(kw):
            yield di * kw + dj, x[:, di:di + sh * (oh - 1) + 1:sh, dj:dj + sw * (ow - 1) + 1:sw, :]


def _pad(x, pads, value):
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return x
    n, h, w, c = x.shape
    out = np.full((n, h + top + bottom, w + left + right, c), value, dtype=x.dtype)
    out[:, top:top + h, left:left + w, :] = x
    return out


def _crop(dx_padded, cache):
    (top, _), (left, _) = cache.pads
    _, h, w, _ = cache.x_shape
    return dx_padded[:, top:top + h, left:left + w, :]


def _check_d_out(d_out, cache):
    d_out = float_array(d_out, cache.where, cache.dtype)
    if d_out.shape != cache.out_shape:
        raise ValueError(f"{cache.where}: expected d_out of shape {cache.out_shape} (the forward "
                         f"output's shape). Received d_out of shape {d_out.shape}")
    return d_out


def _tiled_zeros(cache):
    """dx for a tiled pool: zeros only needed where a floor division leaves pixels out."""
    (kh, kw), (oh, ow) = cache.pool, cache.out_shape[1:3]
    _, h, w, _ = cache.x_shape
    if oh * kh == h and ow * kw == w:
        return np.empty(cache.x_shape, dtype=cache.dtype)
    return np.zeros(cache.x_shape, dtype=cache.dtype)


def _padded_zeros(cache):
    n, h, w, c = cache.x_shape
    return np.zeros((n, h + sum(cache.pads[0]), w + sum(cache.pads[1]), c), dtype=cache.dtype)


def _tiles(dx, cache):
    """``dx`` viewed as ``(batch, out_h, kh, out_w, kw, channels)`` over the tiled region."""
    (kh, kw), (oh, ow) = cache.pool, cache.out_shape[1:3]
    n, _, _, c = dx.shape
    return dx[:, :oh * kh, :ow * kw, :].reshape(n, oh, kh, ow, kw, c)


def _real_pixel_counts(size, pool, stride, pad_before, out):
    """How many real (unpadded) pixels each window covers along one axis."""
    start = np.arange(out) * stride - pad_before
    return np.minimum(start + pool, size) - np.maximum(start, 0)


# ---------------------------------------------------------------------------- max pooling
def max_pool2d_forward(x, pool_size, strides=None, padding="valid", *, record_argmax=True):
    """Max pooling: the maximum of each ``pool_size`` window (seed 002's mode="max").

    x: ``(batch, height, width, channels)``. pool_size, strides: int or ``(vertical, horizontal)``
    in pixels; strides default to ``pool_size``. padding: ``"valid"`` or ``"same"``.
    ``record_argmax=False`` (inference) skips recording the winners where the windows tile the
    input (see the module docstring); the backward still works, more slowly.
    Returns ``(out, cache)``, out of shape ``(batch, out_h, out_w, channels)``.
    """
    where = "max_pool2d_forward"
    x, pool, strides, pads, out_hw = _setup(where, x, pool_size, strides, padding)
    if not record_argmax and strides == pool and pads == ((0, 0), (0, 0)):
        # Tiled windows, inference: the running maximum of the kh * kw offset views, nothing
        # else (recording the winners costs as much again).
        views = _window_views(x, pool, strides, out_hw)
        _, first = next(views)
        _, second = next(views, (None, None))
        if second is None:
            out = first.copy()
        else:
            out = np.maximum(first, second)
            for _, view in views:
                np.maximum(out, view, out=out)
        cache = PoolCache("max_pool2d_backward", x.shape, x.dtype, pool, strides, pads,
                          out.shape, x=x, out=out)
        return out, cache
    xp = _pad(x, pads, -np.inf)   # a padded cell never wins: every window holds a real pixel
    views = _window_views(xp, pool, strides, out_hw)
    _, first = next(views)
    out, new_out = first.copy(), np.empty_like(first)
    argmax = np.zeros(out.shape, dtype=np.min_scalar_type(pool[0] * pool[1] - 1))
    wins = np.empty(out.shape, dtype=bool)
    for k, view in views:
        np.maximum(out, view, out=new_out)
        # Offset k wins where the max changed, i.e. view > out strictly: on ties the earlier
        # offset keeps the win. (Comparing the two contiguous buffers is cheaper than reading
        # the strided view again.) Offsets only grow, so "argmax = k where wins" is
        # "argmax = max(argmax, k * wins)", two fast ufuncs.
        np.not_equal(new_out, out, out=wins)
        out, new_out = new_out, out
        np.maximum(argmax, np.multiply(wins, argmax.dtype.type(k)), out=argmax)
    _first_real_pixel_wins(argmax, out, pool, strides, pads)
    cache = PoolCache("max_pool2d_backward", x.shape, x.dtype, pool, strides, pads, out.shape,
                      argmax=argmax)
    return out, cache


def _first_real_pixel_wins(argmax, out, pool, strides, pads) -> None:
    """A window whose real pixels are all ``-inf`` ties with its padding: give it to its
    first real pixel (as torch's ``max_pool2d``), not to a padded cell, whose gradient would be
    lost. Only windows of the first rows and columns can start in the padding (offset 0 is
    real elsewhere), so only those are looked at."""
    (_, kw), (sh, sw), ((top, _), (left, _)) = pool, strides, pads
    oh, ow = out.shape[1:3]
    rows, cols = min(-(-top // sh), oh), min(-(-left // sw), ow)  # windows that start padded
    if not ((rows and np.isneginf(out[:, :rows]).any())
            or (cols and np.isneginf(out[:, :, :cols]).any())):
        return
    first = (np.maximum(top - np.arange(oh) * sh, 0)[:, None] * kw
             + np.maximum(left - np.arange(ow) * sw, 0)[None, :])  # di * kw + dj, real
    lost = np.isneginf(out)
    argmax[lost] = np.broadcast_to(first[None, :, :, None], out.shape)[lost]


def max_pool2d_backward(d_out, cache: PoolCache):
    """Gradient of :func:`max_pool2d_forward`: each window's ``d_out`` goes to its maximum.

    d_out: ``(batch, out_h, out_w, channels)``. Returns dx, ``(batch, height, width, channels)``.
    """
    d_out = _check_d_out(d_out, cache)
    won = np.empty(d_out.shape, dtype=bool)
    if cache.tiled:
        # Each input pixel lies in at most one window: write each offset's share, no summing.
        dx = _tiled_zeros(cache)
        tiles = _tiles(dx, cache)
        kw = cache.pool[1]
        if cache.argmax is not None:
            for k in range(cache.pool[0] * kw):
                np.equal(cache.argmax, k, out=won)
                np.multiply(d_out, won, out=tiles[:, :, k // kw, :, k % kw, :])
            return dx
        # Not recorded: a window's winner is its first offset (row-major) equal to its maximum:
        # offset k wins where x == out and no earlier offset has claimed the window yet.
        claimed = None
        for k, view in _window_views(cache.x, cache.pool, cache.strides, cache.out_shape[1:3]):
            np.equal(view, cache.out, out=won)
            if claimed is None:
                claimed = won.copy()
            else:
                np.greater(won, claimed, out=won)        # won and not claimed
                np.logical_or(claimed, won, out=claimed)
            np.multiply(d_out, won, out=tiles[:, :, k // kw, :, k % kw, :])
        return dx
    dxp = _padded_zeros(cache)
    share = np.empty(d_out.shape, dtype=cache.dtype)
    for k, view in _window_views(dxp, cache.pool, cache.strides, cache.out_shape[1:3]):
        np.equal(cache.argmax, k, out=won)
        view += np.multiply(d_out, won, out=share)   # overlapping windows add up
    return np.ascontiguousarray(_crop(dxp, cache))


# ---------------------------------------------------------------------------- average pooling
def avg_pool2d_forward(x, pool_size, strides=None, padding="valid"):
    """Average pooling: the mean of each ``pool_size`` window (seed 002's mode="average").

    With ``padding="same"`` each window averages only its real pixels (Keras; PyTorch's
    ``count_include_pad=False``). Arguments and shapes as :func:`max_pool2d_forward`.
    """
    where = "avg_pool2d_forward"
    x, pool, strides, pads, (oh, ow) = _setup(where, x, pool_size, strides, padding)
    if strides == pool and pads == ((0, 0), (0, 0)):
        return _tiled_avg_pool(x, pool, (oh, ow))
    xp = _pad(x, pads, 0)
    views = _window_views(xp, pool, strides, (oh, ow))
    _, first = next(views)
    total = first.copy()
    for _, view in views:
        total += view
    _, h, w, _ = x.shape
    rows = _real_pixel_counts(h, pool[0], strides[0], pads[0][0], oh)
    cols = _real_pixel_counts(w, pool[1], strides[1], pads[1][0], ow)
    counts = (rows[:, None] * cols[None, :]).astype(x.dtype)[:, :, None]
    out = np.divide(total, counts, out=total)
    cache = PoolCache("avg_pool2d_backward", x.shape, x.dtype, pool, strides, pads, out.shape,
                      counts=counts)
    return out, cache


#: Channels below which a tiled average pool sums each window's columns in one small matrix
#: multiply rather than ``kw`` strided adds (whose inner loops are only C long). Measured here
#: on LeNet's first pool, 6 channels at batch 128 on one core: forward 0.51 -> 0.41 ms,
#: backward 0.41 -> 0.31 ms (with the finiteness check); equal at 16 channels.
GEMM_POOL_CHANNELS = 16


def _column_matrix(kw, c, scale, dtype):
    """``(kw * C, C)``: entry ``[j * C + c, c]`` is ``scale``, the others 0 (one window row of
    ``kw`` pixels -> its C channels' sums, times ``scale``)."""
    return np.tile(np.eye(c, dtype=dtype) * dtype.type(scale), (kw, 1))


def _exact_scale(count: int) -> bool:
    return count & (count - 1) == 0  # 1 / count is exact in binary floating point


def _tiled_avg_pool(x, pool, out_hw):
    """Average pooling when the windows tile the input (e.g. 2x2, stride 2, no padding).

    Sums the kh rows of each window first, over whole contiguous image rows (long inner
    loops, not C-long ones), then the kw columns: ~2x faster than the offset views for few
    channels. The sum's order differs from the general path (rounding may differ by an ulp).
    Under :data:`GEMM_POOL_CHANNELS` channels the columns are summed by a matrix multiply
    with 0/1 weights (scaled by ``1 / (kh * kw)`` when that is exact); a non-finite sum would
    spread NaN (``inf * 0``) to its window's other channels, so then the adds run instead.
    """
    (kh, kw), (oh, ow) = pool, out_hw
    n, h, w, c = x.shape
    rows = x.reshape(n, h, w * c)[:, :oh * kh].reshape(n, oh, kh, w * c)
    total = np.add(rows[:, :, 0], rows[:, :, 1]) if kh > 1 else rows[:, :, 0].copy()
    for di in range(2, kh):
        total += rows[:, :, di]
    count = kh * kw
    out = None
    if c < GEMM_POOL_CHANNELS and kw > 1:
        exact = _exact_scale(count)
        mat = _column_matrix(kw, c, 1 / count if exact else 1, x.dtype)
        with np.errstate(invalid="ignore"):  # inf * 0: detected below
            out = total[:, :, :ow * kw * c].reshape(n * oh * ow, kw * c) @ mat
        out = out.reshape(n, oh, ow, c)
        if not exact:
            out /= x.dtype.type(count)
        if not np.isfinite(out).all():
            out = None
    if out is None:
        cols = total[:, :, :ow * kw * c].reshape(n, oh, ow, kw, c)
        out = cols[:, :, :, 0].copy()
        for dj in range(1, kw):
            out += cols[:, :, :, dj]
        out /= x.dtype.type(count)
    counts = np.full((oh, ow, 1), count, dtype=x.dtype)
    cache = PoolCache("avg_pool2d_backward", x.shape, x.dtype, pool, pool, ((0, 0), (0, 0)),
                      out.shape, counts=counts)
    return out, cache


def avg_pool2d_backward(d_out, cache: PoolCache):
    """Gradient of :func:`avg_pool2d_forward`: ``d_out / count`` spread over each window.

    d_out: ``(batch, out_h, out_w, channels)``. Returns dx, ``(batch, height, width, channels)``.
    """
    d_out = _check_d_out(d_out, cache)
    if cache.tiled:
        # Every window holds kh * kw pixels: one image row of shares (each share repeated kw
        # times, contiguous), copied to the kh rows of its windows.
        (kh, kw), (n, oh, ow, c) = cache.pool, cache.out_shape
        count = kh * kw
        row = None
        if c < GEMM_POOL_CHANNELS and kw > 1 and _exact_scale(count):
            # the repeat as a multiply by the transposed column matrix (see _tiled_avg_pool)
            mat = _column_matrix(kw, c, 1 / count, cache.dtype).T
            with np.errstate(invalid="ignore"):
                row = (d_out.reshape(n * oh * ow, c) @ mat).reshape(n, oh, ow * kw * c)
            if not np.isfinite(row).all():
                row = None
        if row is None:
            share = d_out / cache.dtype.type(count)
            row = np.repeat(share.reshape(n, oh, ow, 1, c), kw, axis=3)
            row = row.reshape(n, oh, ow * kw * c)
        dx = _tiled_zeros(cache)
        _, h, w, _ = cache.x_shape
        dx_rows = dx.reshape(n, h, w * c)[:, :oh * kh].reshape(n, oh, kh, w * c)  # views
        dx_rows[:, :, :, :row.shape[2]] = row[:, :, None, :]
        return dx
    share = d_out / cache.counts   # seed 002's distribute_value, for every window at once
    dxp = _padded_zeros(cache)
    for _, view in _window_views(dxp, cache.pool, cache.strides, cache.out_shape[1:3]):
        view += share
    return np.ascontiguousarray(_crop(dxp, cache))


# ---------------------------------------------------------------------------- global pooling
def _global_d_out(d_out, cache):
    d_out = float_array(d_out, cache.where, cache.dtype)
    n, _, _, c = cache.x_shape
    expected = (n, 1, 1, c) if cache.keepdims else (n, c)
    if d_out.shape != expected:
        raise ValueError(f"{cache.where}: expected d_out of shape {expected} (the forward "
                         f"output's shape). Received d_out of shape {d_out.shape}")
    return d_out.reshape(n, c)


def global_avg_pool2d_forward(x, keepdims=False):
    """The mean of each channel over height and width (seed 000's GlobalAveragePooling2D).

    x: ``(batch, height, width, channels)``. Returns ``(out, cache)``, out of shape
    ``(batch, channels)``, or ``(batch, 1, 1, channels)`` with ``keepdims=True``.
    """
    x = float_images(x, "global_avg_pool2d_forward")
    out = x.mean(axis=(1, 2), keepdims=bool(keepdims))
    cache = GlobalPoolCache("global_avg_pool2d_backward", x.shape, x.dtype, bool(keepdims))
    return out, cache


def global_avg_pool2d_backward(d_out, cache: GlobalPoolCache):
    """Gradient of :func:`global_avg_pool2d_forward`: ``d_out / (height * width)`` everywhere."""
    d_out = _global_d_out(d_out, cache)
    n, h, w, c = cache.x_shape
    dx = np.empty(cache.x_shape, dtype=cache.dtype)
    dx[...] = (d_out / (h * w))[:, None, None, :]
    return dx


def global_max_pool2d_forward(x, keepdims=False):
    """The maximum of each channel over height and width (seed 000's GlobalMaxPooling2D).

    Shapes as :func:`global_avg_pool2d_forward`. The backward splits each channel's gradient
    evenly among its tied maxima, as Keras's ``ops.max`` does on every backend (``torch.amax``,
    TensorFlow's ``reduce_max``, JAX's ``max``); a channel holding NaN sends it to its first
    NaN.
    """
    x = float_images(x, "global_max_pool2d_forward")
    n, h, w, c = x.shape
    flat = x.reshape(n, h * w, c)
    out = flat.max(axis=1)                              # (batch, channels)
    ties = flat == out[:, None, :]
    counts = ties.sum(axis=1)
    if not counts.all():  # NaN != NaN: its first occurrence takes the gradient
        lost = np.nonzero(counts == 0)
        ties[lost[0], flat.argmax(axis=1)[lost], lost[1]] = True
        counts[lost] = 1
    if keepdims:
        out = out.reshape(n, 1, 1, c)
    cache = GlobalPoolCache("global_max_pool2d_backward", x.shape, x.dtype, bool(keepdims),
                            ties=ties, counts=counts)
    return out, cache


def global_max_pool2d_backward(d_out, cache: GlobalPoolCache):
    """Gradient of :func:`global_max_pool2d_forward`: ``d_out / ties`` at each channel's
    maxima, 0 elsewhere."""
    d_out = _global_d_out(d_out, cache)
    share = (d_out / cache.counts).astype(cache.dtype, copy=False)
    dx = np.where(cache.ties, share[:, None, :], np.zeros((), cache.dtype))
    return dx.reshape(cache.x_shape)
