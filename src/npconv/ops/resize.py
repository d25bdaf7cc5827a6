"""Up-sampling by integer factors on NHWC batches (Keras's ``UpSampling2D``), and resizing to
any size (:func:`resize_forward`, Keras's ``Resizing``; described after the up-sampling code).

``upsampling2d_forward(x, size=(2, 2), interpolation="nearest")`` makes each image
``size[0]`` times taller and ``size[1]`` times wider:

- ``"nearest"``: every pixel becomes a ``size[0] x size[1]`` block of copies
  (``out[n, i, j, c] = x[n, i // sh, j // sw, c]``, PyTorch's ``mode="nearest"`` for integer
  factors). One broadcast + reshape; the backward sums each block (a reshape and a sum).
- ``"bilinear"``: Keras's (TensorFlow's half-pixel centres), PyTorch's
  ``F.interpolate(mode="bilinear", align_corners=False)``. Output pixel ``o`` of an axis of
  ``n`` pixels reads the input at ``src = (o + 0.5) * n / (n * s) - 0.5``, clamped at 0, as the
  blend ``(1 - t) * x[i0] + t * x[i1]`` with ``i0 = floor(src)``, ``i1 = min(i0 + 1, n - 1)``,
  ``t = src - i0``. Bilinear is separable: one 1-D interpolation over the rows, then one over
  the columns, each from index and weight arrays computed once per call. The backward applies
  the transposes: each 1-D interpolation is a small ``(n * s, n)`` matrix ``M`` (two
  non-zeros a row), and its gradient is one matrix product ``M.T @ d`` per axis.

Shapes: ``x`` is ``(batch, height, width, channels)`` with height and width >= 1; the output is
``(batch, height * sh, width * sw, channels)``. float32 stays float32 and float64 stays
float64 (the weights are computed in float64 and rounded once); integers become float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import as_pair, check_choice, float_array, float_images

INTERPOLATIONS = ("nearest", "bilinear")


@dataclass(frozen=True)
class UpSamplingCache:
    """What :func:`upsampling2d_backward` needs (opaque to callers)."""

    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    size: tuple[int, int]
    interpolation: str
    rows: np.ndarray | None = None   # bilinear: (out_h, h) interpolation matrix
    cols: np.ndarray | None = None   # bilinear: (out_w, w)

    @property
    def out_shape(self) -> tuple[int, int, int, int]:
        n, h, w, c = self.x_shape
        return (n, h * self.size[0], w * self.size[1], c)


def linear_weights(n: int, scale: int):
    """``(i0, i1, w0, w1)`` (float64 weights) of the half-pixel 1-D linear interpolation of an
    axis of ``n`` pixels to ``n * scale``: ``out[o] = w0[o] * x[i0[o]] + w1[o] * x[i1[o]]``."""
    out = n * scale
    src = (np.arange(out, dtype=np.float64) + 0.5) * (n / out) - 0.5
    src = np.maximum(src, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.intp), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w1 = src - i0
    return i0, i1, 1.0 - w1, w1


def _matrix(n: int, scale: int, dtype) -> np.ndarray:
    """The ``(n * scale, n)`` matrix of :func:`linear_weights` (rows sum to 1)."""
    i0, i1, w0, w1 = linear_weights(n, scale)
    m = np.zeros((n * scale, n), dtype=np.float64)
    rows = np.arange(n * scale)
    np.add.at(m, (rows, i0), w0)   # i0 == i1 at the last pixel: the two weights add up
    np.add.at(m, (rows, i1), w1)
    return m.astype(dtype)


def _interpolate(x, axis, weights):
    """Apply the 1-D interpolation along ``axis`` (1 or 2) of an NHWC array by gathering the
    two neighbours (no multiply by the matrix's zeros: inf/NaN stay where they are)."""
    i0, i1, w0, w1 = weights
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    a = np.take(x, i0, axis=axis)
    a *= w0.astype(x.dtype).reshape(shape)
    b = np.take(x, i1, axis=axis)
    b *= w1.astype(x.dtype).reshape(shape)
    a += b
    return a


def upsampling2d_forward(x, size=(2, 2), interpolation="nearest"):
    """Up-sample each image by integer factors ``size = (sh, sw)`` (an int means both).

    interpolation: ``"nearest"`` or ``"bilinear"`` (see the module docstring).
    Returns ``(out, cache)``, out of shape ``(batch, height * sh, width * sw, channels)``.
    """
    where = "upsampling2d_forward"
    size = as_pair(size, "size", where)
    interpolation = check_choice(interpolation, "interpolation", set(INTERPOLATIONS), where)
    x = float_images(x, where)
    n, h, w, c = x.shape
    sh, sw = size
    if interpolation == "nearest":
        out = np.broadcast_to(x[:, :, None, :, None, :], (n, h, sh, w, sw, c))
        out = out.reshape(n, h * sh, w * sw, c)   # a copy: the broadcast view is not reshapable
        return out, UpSamplingCache(x.shape, x.dtype, size, interpolation)
    out = x
    if sh > 1:
        out = _interpolate(out, 1, linear_weights(h, sh))
    if sw > 1:
        out = _interpolate(out, 2, linear_weights(w, sw))
    if out is x:
        out = x.copy()
    cache = UpSamplingCache(x.shape, x.dtype, size, interpolation,
                            rows=_matrix(h, sh, x.dtype) if sh > 1 else None,
                            cols=_matrix(w, sw, x.dtype) if sw > 1 else None)
    return out, cache


def upsampling2d_backward(d_out, cache: UpSamplingCache):
    """Gradient of :func:`upsampling2d_forward`: d_out ``(batch, H * sh, W * sw, channels)`` ->
    dx ``(batch, H, W, channels)``. Never modifies ``d_out``."""
    d_out = float_array(d_out, "upsampling2d_backward", cache.dtype)
    if d_out.shape != cache.out_shape:
        raise ValueError(f"upsampling2d_backward: expected d_out of shape {cache.out_shape} "
                         f"(the forward output's shape). Received d_out of shape {d_out.shape}")
    n, h, w, c = cache.x_shape
    sh, sw = cache.size
    if cache.interpolation == "nearest":
        return d_out.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4))
    d = d_out
    if cache.cols is not None:
        # (w, W*sw) @ (n * H*sh, W*sw, c) -> (n * H*sh, w, c)
        d = cache.cols.T @ d.reshape(n * h * sh, w * sw, c)
        d = d.reshape(n, h * sh, w, c)
    if cache.rows is not None:
        # (h, H*sh) @ (n, H*sh, w*c) -> (n, h, w*c)
        d = cache.rows.T @ d.reshape(n, h * sh, w * c)
        d = d.reshape(n, h, w, c)
    if d is d_out:
        d = d_out.copy()
    return np.ascontiguousarray(d)


# ---------------------------------------------------------------------------- any size
# Keras's ``keras.ops.image.resize`` (the ``Resizing`` layer): each image to ``(height,
# width)``, any sizes, half-pixel centres on every backend (JAX's ``jax.image.resize``,
# TensorFlow's ``tf.image.resize``):
#
# - ``"bilinear"``: as ``upsampling2d_forward`` above, the blend of the two nearest input pixels
#   at ``src = (o + 0.5) * n_in / n_out - 0.5`` (clamped), = torch's ``F.interpolate(size=...,
#   mode="bilinear", align_corners=False, antialias=False)``; Keras's default ``antialias=False``.
# - ``"bilinear"`` with ``antialias=True`` when shrinking: the triangle filter stretched to
#   ``n_in / n_out`` input pixels, normalized per output pixel (JAX's ``scale_and_translate``,
#   = torch's ``antialias=True``); when growing it is plain bilinear.
# - ``"nearest"``: input pixel ``floor((o + 0.5) * n_in / n_out)`` (JAX's and TensorFlow's
#   half-pixel nearest, = torch's ``mode="nearest-exact"``, not torch's ``"nearest"``, which
#   reads ``floor(o * n_in / n_out)``), computed in integers: exact for every size.
#
# Each axis is a small ``(n_out, n_in)`` matrix ``M`` of at most a few non-zeros a row: the
# forward gathers those taps (no multiply by zeros: an inf stays where it is), the backward is
# one matrix product ``M.T @ d`` per axis (the adjoint).

RESIZE_INTERPOLATIONS = ("bilinear", "nearest")


@dataclass(frozen=True)
class ResizeCache:
    """What :func:`resize_backward` needs (opaque to callers)."""

    x_shape: tuple[int, int, int, int]
    dtype: np.dtype
    rows: np.ndarray | None   # (out_h, h) matrix, None when the height is kept
    cols: np.ndarray | None   # (out_w, w)
    out_shape: tuple[int, int, int, int]


def resize_taps(n_in: int, n_out: int, interpolation="bilinear", antialias=False):
    """``(index, weight)``, both ``(n_out, k)``: output pixel ``o`` of a 1-D resize of ``n_in``
    pixels to ``n_out`` is ``sum_j weight[o, j] * x[index[o, j]]`` (weights in float64)."""
    o = np.arange(n_out)
    if interpolation == "nearest":
        index = np.minimum(((2 * o + 1) * n_in) // (2 * n_out), n_in - 1)
        return index[:, None], np.ones((n_out, 1))
    if not antialias or n_out >= n_in:
        src = np.maximum((o + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.intp), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        t = src - i0
        return np.stack([i0, i1], axis=1), np.stack([1.0 - t, t], axis=1)
    scale = n_in / n_out                       # > 1: the filter spans `scale` pixels each side
    centre = (o + 0.5) * scale                 # in input coordinates (pixel i spans [i, i + 1])
    first = np.floor(centre - scale).astype(np.intp)
    k = int(np.ceil(2 * scale)) + 2
    index = first[:, None] + np.arange(k)[None, :]
    weight = np.maximum(0.0, 1.0 - np.abs(index + 0.5 - centre[:, None]) / scale)
    inside = (index >= 0) & (index < n_in)
    weight = np.where(inside, weight, 0.0)
    weight /= weight.sum(axis=1, keepdims=True)
    return np.clip(index, 0, n_in - 1), weight


def _taps_matrix(index, weight, n_in):
    m = np.zeros((index.shape[0], n_in))
    rows = np.broadcast_to(np.arange(index.shape[0])[:, None], index.shape)
    np.add.at(m, (rows, index), weight)       # clipped taps share a column: their weights add
    return m


def _apply_taps(x, axis, index, weight):
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    out = None
    for j in range(index.shape[1]):           # a handful of taps, not pixels
        w = weight[:, j]
        if not w.any():
            continue
        term = np.take(x, index[:, j], axis=axis)
        if not np.all(w == 1.0):
            term *= w.astype(x.dtype).reshape(shape)
        out = term if out is None else np.add(out, term, out=out)
    return out


def resize_forward(x, size, interpolation="bilinear", antialias=False):
    """Resize each image of an NHWC batch to ``size = (height, width)``.

    interpolation: ``"bilinear"`` or ``"nearest"``; antialias: only for ``"bilinear"`` (see
    above). Returns ``(out, cache)``, out of shape ``(batch, height, width, channels)``.
    """
    where = "resize_forward"
    size = as_pair(size, "size", where)
    interpolation = check_choice(interpolation, "interpolation", set(RESIZE_INTERPOLATIONS),
                                 where)
    x = float_images(x, where)
    n, h, w, c = x.shape
    out_h, out_w = size
    aa = bool(antialias) and interpolation == "bilinear"
    out = x
    rows = cols = None
    if out_h != h:
        taps = resize_taps(h, out_h, interpolation, aa)
        out = _apply_taps(out, 1, *taps)
        rows = _taps_matrix(*taps, h).astype(x.dtype)
    if out_w != w:
        taps = resize_taps(w, out_w, interpolation, aa)
        out = _apply_taps(out, 2, *taps)
        cols = _taps_matrix(*taps, w).astype(x.dtype)
    if out is x:
        out = x.copy()
    return out, ResizeCache(x.shape, x.dtype, rows, cols, (n, out_h, out_w, c))


def resize_backward(d_out, cache: ResizeCache):
    """Gradient of :func:`resize_forward`: d_out ``(batch, height, width, channels)`` -> dx of
    the input's shape. Never modifies ``d_out``."""
    d_out = float_array(d_out, "resize_backward", cache.dtype)
    if d_out.shape != cache.out_shape:
        raise ValueError(f"resize_backward: expected d_out of shape {cache.out_shape} (the "
                         f"forward output's shape). Received d_out of shape {d_out.shape}")
    n, h, w, c = cache.x_shape
    _, out_h, out_w, _ = cache.out_shape
    d = d_out
    if cache.cols is not None:
        d = (cache.cols.T @ d.reshape(n * out_h, out_w, c)).reshape(n, out_h, w, c)
    if cache.rows is not None:
        d = (cache.rows.T @ d.reshape(n, out_h, w * c)).reshape(n, h, w, c)
    if d is d_out:
        d = d_out.copy()
    return np.ascontiguousarray(d)


def aspect_crop_box(height, width, target_height, target_width):
    """Keras's ``crop_to_aspect_ratio`` window ``(top, left, crop_height, crop_width)``: the
    largest centred window of ``(height, width)`` with the target's aspect ratio."""
    crop_h = max(min(height, int(float(width * target_height) / target_width)), 1)
    crop_w = max(min(width, int(float(height * target_width) / target_height)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def aspect_pad(height, width, target_height, target_width):
    """Keras's ``pad_to_aspect_ratio`` margins ``(rows, cols)`` added on both sides of each
    image (one of them 0): the padded image has about the target's aspect ratio."""
    pad_h = max(height, int(float(width * target_height) / target_width))
    pad_w = max(width, int(float(height * target_width) / target_height))
    rows, cols = int(float(pad_h - height) / 2), int(float(pad_w - width) / 2)
    return (rows, 0) if rows > 0 else (0, cols)
