"""Max, average and global pooling of volume batches ``(batch, depth, height, width, channels)``.

As :mod:`npconv.ops.pool` does for images, the loops over examples, voxels and channels become a
loop over the ``kd * kh * kw`` window offsets ``(dd, di, dj)``: the voxels at one offset of
every window form one strided view of the (padded) input,
``x[:, dd : dd + sd*(out_d-1) + 1 : sd, di : ... : sh, dj : ... : sw, :]``, and the output is
the running max (or sum) of those views.

- max: each window's gradient goes to ONE voxel, its maximum; on ties the first one in the
  window's (depth, height, width) row-major order, as torch's ``max_pool3d`` (its CPU kernel
  replaces the running maximum only on a strictly greater value). A window whose real voxels
  are all ``-inf`` gives it to its first real voxel (torch's too), never to a padded cell.
  (A window holding NaN outputs NaN; which voxel then gets its gradient is unspecified.)
- average: each window spreads its gradient evenly over the voxels it averaged.

Padding is ``"valid"`` or ``"same"`` (Keras/TensorFlow: ``out = ceil(in / stride)`` per axis,
the odd padding voxel at the back/bottom/right). Padded cells never take part: max pooling
pads with ``-inf``; average pooling divides by the number of real voxels in each window
(Keras; torch's ``count_include_pad=False``).

The global poolings reduce depth, height and width to one value per channel; global max
splits a channel's gradient evenly among its tied maxima, as Keras's ``ops.max`` (and
``torch.amax``) do.

``pool_size`` and ``strides`` are int or ``(depth, height, width)`` triples, in voxels.
float32 stays float32 and float64 stays float64; integer input is pooled as float32.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .._checks import check_choice, float_array
from ._volumes import as_triple, float_volumes
from .padding import same_pads

__all__ = [
    "avg_pool3d_backward", "avg_pool3d_forward", "global_avg_pool3d_backward",
    "global_avg_pool3d_forward", "global_max_pool3d_backward", "global_max_pool3d_forward",
    "max_pool3d_backward", "max_pool3d_forward",
]


@dataclass(frozen=True)
class Pool3DCache:
    """What a 3-D window pooling backward needs (opaque to callers)."""

    where: str
    x_shape: tuple[int, ...]
    dtype: np.dtype
    pool: tuple[int, int, int]
    strides: tuple[int, int, int]
    pads: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
    out_shape: tuple[int, ...]
    argmax: np.ndarray | None = None   # max: offset (dd * kh + di) * kw + dj of each winner
    counts: np.ndarray | None = None   # average: real voxels per window, (out_d, out_h, out_w, 1)


@dataclass(frozen=True)
class GlobalPool3DCache:
    """What a 3-D global pooling backward needs (opaque to callers)."""

    where: str
    x_shape: tuple[int, ...]
    dtype: np.dtype
    keepdims: bool
    ties: np.ndarray | None = None     # global max: (batch, d * h * w, channels), bool
    counts: np.ndarray | None = None   # global max: tied maxima per (batch, channel)


# ---------------------------------------------------------------------------- helpers
def _setup(where, x, pool_size, strides, padding):
    """Check the arguments; return (x, pool, strides, pads, out_dhw)."""
    x = float_volumes(x, where)
    pool = as_triple(pool_size, "pool_size", where)
    strides = pool if strides is None else as_triple(strides, "strides", where)
    padding = check_choice(padding, "padding", {"valid", "same"}, where)
    sizes = x.shape[1:4]
    pads = (tuple(same_pads(n, k, s) for n, k, s in zip(sizes, pool, strides, strict=True))
            if padding == "same" else ((0, 0),) * 3)
    padded = tuple(n + sum(p) for n, p in zip(sizes, pads, strict=True))
    if any(n < k for n, k in zip(padded, pool, strict=True)):
        raise ValueError(
            f"{where}: the pool window {pool} is larger than the (padded) input's depth, height "
            f"and width {padded}. Received an input of shape {x.shape} with padding={padding!r}")
    out = tuple((n - k) // s + 1 for n, k, s in zip(padded, pool, strides, strict=True))
    return x, pool, strides, pads, out


def _window_views(x, pool, strides, out_dhw):
    """Yield ``(k, view)`` per window offset ``(dd, di, dj)``, ``k = (dd * kh + di) * kw + dj``
    (row-major window order), ``view[n, a, i, j, c] = x[n, a*sd + dd, i*sh + di, j*sw + dj, c]``."""
    for k, offset in enumerate(itertools.product(*(range(p) for p in pool))):
        index = tuple(slice(o, o + s * (n - 1) + 1, s)
                      for o, s, n in zip(offset, strides, out_dhw, strict=True))
        yield k, x[(slice(None), *index, slice(None))]


def _pad(x, pads, value):
    if not any(a or b for a, b in pads):
        return x
    n, *sizes, c = x.shape
    out = np.full((n, *(s + a + b for s, (a, b) in zip(sizes, pads, strict=True)), c), value,
                  dtype=x.dtype)
    out[_inner(pads, sizes)] = x
    return out


def _inner(pads, sizes):
    """The index of the unpadded region inside a padded array."""
    return (slice(None), *(slice(a, a + s) for (a, _), s in zip(pads, sizes, strict=True)),
            slice(None))


def _padded_zeros(cache):
    n, *sizes, c = cache.x_shape
    shape = (n, *(s + a + b for s, (a, b) in zip(sizes, cache.pads, strict=True)), c)
    return np.zeros(shape, dtype=cache.dtype)


def _crop(dxp, cache):
    return np.ascontiguousarray(dxp[_inner(cache.pads, cache.x_shape[1:4])])


def _check_d_out(d_out, cache):
    d_out = float_array(d_out, cache.where, cache.dtype)
    if d_out.shape != cache.out_shape:
        raise ValueError(f"{cache.where}: expected d_out of shape {cache.out_shape} (the forward "
                         f"output's shape). Received d_out of shape {d_out.shape}")
    return d_out


def _first_real(pad_before, stride, out):
    """Per output position along one axis: the first window offset on a real voxel."""
    return np.maximum(pad_before - np.arange(out) * stride, 0)


def _real_counts(size, pool, stride, pad_before, out):
    """How many real (unpadded) voxels each window covers along one axis."""
    start = np.arange(out) * stride - pad_before
    return np.minimum(start + pool, size) - np.maximum(start, 0)


# ---------------------------------------------------------------------------- max pooling
def max_pool3d_forward(x, pool_size=(2, 2, 2), strides=None, padding="valid"):
    """Max pooling: the maximum of each ``pool_size`` window of each volume.

    x: ``(batch, depth, height, width, channels)``. pool_size, strides: int or ``(depth,
    height, width)`` in voxels; strides default to ``pool_size``. padding: ``"valid"`` or
    ``"same"``. Returns ``(out, cache)``, out of shape ``(batch, out_d, out_h, out_w,
    channels)``.
    """
    where = "max_pool3d_forward"
    x, pool, strides, pads, out_dhw = _setup(where, x, pool_size, strides, padding)
    views = _window_views(_pad(x, pads, -np.inf), pool, strides, out_dhw)
    _, first = next(views)
    out, new_out = first.copy(), np.empty_like(first)
    argmax = np.zeros(out.shape, dtype=np.min_scalar_type(int(np.prod(pool)) - 1))
    wins = np.empty(out.shape, dtype=bool)
    for k, view in views:
        np.maximum(out, view, out=new_out)
        # Offset k wins where the max grew (strictly): on ties the earlier offset keeps it.
        # Offsets only grow, so "argmax = k where wins" is max(argmax, k * wins).
        np.not_equal(new_out, out, out=wins)
        out, new_out = new_out, out
        np.maximum(argmax, np.multiply(wins, argmax.dtype.type(k)), out=argmax)
    lost = np.isneginf(out)
    if lost.any():  # all real voxels -inf: the first real one, not a padded cell, wins
        (kh, kw) = pool[1:]
        fd, fh, fw = (_first_real(p[0], s, o) for p, s, o in zip(pads, strides, out_dhw,
                                                                    strict=True))
        first_real = (fd[:, None, None] * kh + fh[None, :, None]) * kw + fw[None, None, :]
        argmax[lost] = np.broadcast_to(first_real[None, ..., None], out.shape)[lost]
    cache = Pool3DCache("max_pool3d_backward", x.shape, x.dtype, pool, strides, pads, out.shape,
                        argmax=argmax)
    return out, cache


def max_pool3d_backward(d_out, cache: Pool3DCache):
    """Gradient of :func:`max_pool3d_forward`: each window's ``d_out`` goes to its maximum.

    d_out: ``(batch, out_d, out_h, out_w, channels)``. Returns dx, the input's shape.
    """
    d_out = _check_d_out(d_out, cache)
    dxp = _padded_zeros(cache)
    won = np.empty(d_out.shape, dtype=bool)
    share = np.empty(d_out.shape, dtype=cache.dtype)
    for k, view in _window_views(dxp, cache.pool, cache.strides, cache.out_shape[1:4]):
        np.equal(cache.argmax, k, out=won)
        view += np.multiply(d_out, won, out=share)   # overlapping windows add up
    return _crop(dxp, cache)


# ---------------------------------------------------------------------------- average pooling
def avg_pool3d_forward(x, pool_size=(2, 2, 2), strides=None, padding="valid"):
    """Average pooling: the mean of each ``pool_size`` window of each volume.

    With ``padding="same"`` each window averages only its real voxels (Keras; torch's
    ``count_include_pad=False``). Arguments and shapes as :func:`max_pool3d_forward`.
    """
    where = "avg_pool3d_forward"
    x, pool, strides, pads, out_dhw = _setup(where, x, pool_size, strides, padding)
    views = _window_views(_pad(x, pads, 0), pool, strides, out_dhw)
    _, first = next(views)
    total = first.copy()
    for _, view in views:
        total += view
    fd, fh, fw = (_real_counts(*args) for args in zip(x.shape[1:4], pool, strides,
                                                        (p[0] for p in pads), out_dhw,
                                                        strict=True))
    counts = (fd[:, None, None] * fh[None, :, None] * fw[None, None, :]).astype(x.dtype)
    out = np.divide(total, counts[..., None], out=total)
    cache = Pool3DCache("avg_pool3d_backward", x.shape, x.dtype, pool, strides, pads, out.shape,
                        counts=counts[..., None])
    return out, cache


def avg_pool3d_backward(d_out, cache: Pool3DCache):
    """Gradient of :func:`avg_pool3d_forward`: ``d_out / count`` spread over each window.

    d_out: ``(batch, out_d, out_h, out_w, channels)``. Returns dx, the input's shape.
    """
    d_out = _check_d_out(d_out, cache)
    share = d_out / cache.counts
    dxp = _padded_zeros(cache)
    for _, view in _window_views(dxp, cache.pool, cache.strides, cache.out_shape[1:4]):
        view += share
    return _crop(dxp, cache)


# ---------------------------------------------------------------------------- global pooling
def _global_d_out(d_out, cache):
    d_out = float_array(d_out, cache.where, cache.dtype)
    n, *_, c = cache.x_shape
    expected = (n, 1, 1, 1, c) if cache.keepdims else (n, c)
    if d_out.shape != expected:
        raise ValueError(f"{cache.where}: expected d_out of shape {expected} (the forward "
                         f"output's shape). Received d_out of shape {d_out.shape}")
    return d_out.reshape(n, c)


def global_avg_pool3d_forward(x, keepdims=False):
    """The mean of each channel over depth, height and width.

    x: ``(batch, depth, height, width, channels)``. Returns ``(out, cache)``, out of shape
    ``(batch, channels)``, or ``(batch, 1, 1, 1, channels)`` with ``keepdims=True``.
    """
    x = float_volumes(x, "global_avg_pool3d_forward")
    out = x.mean(axis=(1, 2, 3), keepdims=bool(keepdims))
    return out, GlobalPool3DCache("global_avg_pool3d_backward", x.shape, x.dtype, bool(keepdims))


def global_avg_pool3d_backward(d_out, cache: GlobalPool3DCache):
    """Gradient of :func:`global_avg_pool3d_forward`: ``d_out / (d * h * w)`` everywhere."""
    d_out = _global_d_out(d_out, cache)
    dx = np.empty(cache.x_shape, dtype=cache.dtype)
    dx[...] = (d_out / np.prod(cache.x_shape[1:4]))[:, None, None, None, :]
    return dx


def global_max_pool3d_forward(x, keepdims=False):
    """The maximum of each channel over depth, height and width.

    Shapes as :func:`global_avg_pool3d_forward`. The backward splits each channel's gradient
    evenly among its tied maxima (Keras's ``ops.max``); a channel holding NaN sends it to its
    first NaN.
    """
    x = float_volumes(x, "global_max_pool3d_forward")
    n, d, h, w, c = x.shape
    flat = x.reshape(n, d * h * w, c)  # not -1: undetermined for an empty batch
    out = flat.max(axis=1)
    ties = flat == out[:, None, :]
    counts = ties.sum(axis=1)
    if not counts.all():  # NaN != NaN: its first occurrence takes the gradient
        lost = np.nonzero(counts == 0)
        ties[lost[0], flat.argmax(axis=1)[lost], lost[1]] = True
        counts[lost] = 1
    if keepdims:
        out = out.reshape(n, 1, 1, 1, c)
    cache = GlobalPool3DCache("global_max_pool3d_backward", x.shape, x.dtype, bool(keepdims),
                              ties=ties, counts=counts)
    return out, cache


def global_max_pool3d_backward(d_out, cache: GlobalPool3DCache):
    """Gradient of :func:`global_max_pool3d_forward`: ``d_out / ties`` at each channel's
    maxima, 0 elsewhere."""
    d_out = _global_d_out(d_out, cache)
    share = (d_out / cache.counts).astype(cache.dtype, copy=False)
    dx = np.where(cache.ties, share[:, None, :], np.zeros((), cache.dtype))
    return dx.reshape(cache.x_shape)

