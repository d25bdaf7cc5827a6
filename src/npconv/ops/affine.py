"""Projective/affine resampling of NHWC batches (Keras 3's ``ops.image.affine_transform``).

``affine_transform_forward(images, transforms, interpolation="bilinear", fill_mode="constant",
fill_value=0.0)`` gives each image its own transform: a row of 8 numbers
``[a0, a1, a2, b0, b1, b2, c0, c1]`` (TensorFlow's and Keras's convention) that maps a point
``(x, y)`` of the *output* (x along the width, y along the height, pixel centres at integer
coordinates, (0, 0) the centre of the top-left pixel) to the point of the *input* it reads::

    k = c0 * x + c1 * y + 1
    x_in = (a0 * x + a1 * y + a2) / k,    y_in = (b0 * x + b1 * y + b2) / k

``[1, 0, 0, 0, 1, 0, 0, 0]`` is the identity. The input is read there with

- ``"bilinear"``: the four pixels around ``(y_in, x_in)``, weighted
  ``(1 - fy) (1 - fx)``, ``(1 - fy) fx``, ``fy (1 - fx)``, ``fy fx``
  (``fy = y_in - floor(y_in)``, ``fx`` the same);
- ``"nearest"``: the pixel at ``(round(y_in), round(x_in))``, halves rounded away from zero
  (TensorFlow's ``std::round``, JAX's).

A pixel index outside the image is brought back by ``fill_mode``, per axis of ``n`` pixels
(the image extended as in scipy.ndimage, each corner of the bilinear stencil on its own):

- ``"reflect"``  ``d c b a | a b c d | d c b a``  (half-sample symmetric, period 2n);
- ``"wrap"``     ``a b c d | a b c d | a b c d``  (periodic, period n; scipy's "grid-wrap");
- ``"nearest"``  ``a a a a | a b c d | d d d d``  (the edge pixel);
- ``"mirror"``   ``d c b | a b c d | c b a``      (whole-sample symmetric, period 2n - 2);
- ``"constant"`` ``k k k k | a b c d | k k k k``  with ``k = fill_value``: a stencil corner
  outside the image reads ``fill_value`` (so bilinear blends the edge into it; scipy's
  "grid-constant").

This is what Keras 3's NumPy and JAX backends compute. TensorFlow's kernel differs in one
place: its "wrap" maps the continuous coordinate, so a point between the last and the first
pixel reads the first pixel instead of blending the two. Points whose coordinates are not
finite (``k = 0``) read ``fill_value`` in every mode.

The backward pass is the adjoint of this sampling: each output gradient is sent back to the
pixels it was read from, with the same weights (one ``np.bincount`` over flat
``(pixel, channel)`` indices per stencil corner); what the fill value contributed has no
input, so it gets no gradient. Nearest sends each gradient to the one pixel read.
A loop over every pixel and corner, the tests' reference, is ``tests/naive_affine.py``.

Shapes: ``images`` is ``(batch, height, width, channels)``; ``transforms`` is ``(batch, 8)``
or ``(8,)`` (the same transform for every image). The output has the images' shape and dtype
(float32 stays float32, float64 stays float64, integers become float32); coordinates and
weights are computed in float64 and rounded once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import check_choice, check_rank, float_array

__all__ = ["AffineCache", "FILL_MODES", "INTERPOLATIONS", "affine_transform_backward",
           "affine_transform_forward", "fill_indices", "source_coordinates"]

_LAYOUT = "(batch, height, width, channels)"
INTERPOLATIONS = ("bilinear", "nearest")
FILL_MODES = ("constant", "mirror", "nearest", "reflect", "wrap")
#: Coordinates are clipped to +-this before they become integer indices (no overflow).
_COORD_LIMIT = float(2 ** 40)


@dataclass(frozen=True)
class AffineCache:
    """What :func:`affine_transform_backward` needs (opaque to callers)."""

    shape: tuple[int, int, int, int]
    dtype: np.dtype
    #: (corners, batch * height * width): flat input pixel read by each output pixel's corner
    index: np.ndarray
    #: (corners, batch * height * width) float64: its weight (0 where it read fill_value)
    weight: np.ndarray


def source_coordinates(transforms: np.ndarray, height: int, width: int):
    """``(x_in, y_in)``, each ``(batch, height, width)`` float64: the input point each output
    pixel reads under the rows of ``transforms`` (``(batch, 8)``)."""
    t = np.asarray(transforms, dtype=np.float64)
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, i, None, None] for i in range(8))
    y = np.arange(height, dtype=np.float64)[None, :, None]
    x = np.arange(width, dtype=np.float64)[None, None, :]
    k = c0 * x + c1 * y + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        x_in = (a0 * x + a1 * y + a2) / k
        y_in = (b0 * x + b1 * y + b2) / k
    return x_in, y_in


def fill_indices(index: np.ndarray, n: int, fill_mode: str):
    """Integer pixel indices brought into ``[0, n)`` by ``fill_mode``: ``(index, inside)``,
    ``inside`` False where the pixel lies outside (only ``"constant"`` reads fill_value there)."""
    inside = (index >= 0) & (index < n)
    if fill_mode == "constant":
        return np.where(inside, index, 0), inside
    if n == 1:
        return np.zeros_like(index), inside
    if fill_mode == "nearest":
        return np.clip(index, 0, n - 1), inside
    if fill_mode == "wrap":
        return np.mod(index, n), inside
    if fill_mode == "reflect":
        m = np.mod(index, 2 * n)
        return np.where(m < n, m, 2 * n - 1 - m), inside
    # mirror
    m = np.mod(index, 2 * n - 2)
    return np.where(m < n, m, 2 * n - 2 - m), inside


def _round_half_away(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5))


def _prepare(v: np.ndarray, finite: np.ndarray | None) -> np.ndarray:
    """Flat coordinates, non-finite ones replaced by 0 (they read fill_value) and all
    clipped to +-_COORD_LIMIT (no integer overflow)."""
    v = v.reshape(-1)
    if finite is not None:
        v = np.where(finite, v, 0.0)
    if v.size and (v.min() < -_COORD_LIMIT or v.max() > _COORD_LIMIT):
        v = np.clip(v, -_COORD_LIMIT, _COORD_LIMIT)
    return v


def _stencil(x_in, y_in, shape, interpolation, fill_mode):
    """Flat input indices and float64 weights of each output pixel's stencil corners:
    ``(index, weight, outside)``, the first two ``(corners, n * h * w)``, ``outside`` the
    total weight that reads fill_value (``(n * h * w,)``, None when there is none)."""
    n, h, w, _ = shape
    finite = np.isfinite(x_in) & np.isfinite(y_in)
    finite = None if finite.all() else finite.reshape(-1)
    x_in, y_in = _prepare(x_in, finite), _prepare(y_in, finite)
    base = np.repeat(np.arange(n, dtype=np.intp) * (h * w), h * w)
    if interpolation == "nearest":
        rows = [(_round_half_away(y_in).astype(np.intp), None)]
        cols = [(_round_half_away(x_in).astype(np.intp), None)]
    else:
        y0, x0 = np.floor(y_in), np.floor(x_in)
        fy, fx = y_in - y0, x_in - x0
        y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
        rows = [(y0, 1.0 - fy), (y0 + 1, fy)]
        cols = [(x0, 1.0 - fx), (x0 + 1, fx)]
    # each row and column index brought into the image once, shared by two corners
    rows = [fill_indices(i, h, fill_mode) + (wk,) for i, wk in rows]
    cols = [fill_indices(j, w, fill_mode) + (wk,) for j, wk in cols]
    corners = len(rows) * len(cols)
    index = np.empty((corners, y_in.size), dtype=np.intp)
    weight = np.empty((corners, y_in.size), dtype=np.float64)
    outside = None
    k = 0
    for iy, in_y, wy in rows:   # a handful of stencil corners
        row_start = base + iy * w
        for ix, in_x, wx in cols:
            np.add(row_start, ix, out=index[k])
            if wy is None:
                weight[k] = 1.0
            else:
                np.multiply(wy, wx, out=weight[k])
            reads = (in_y & in_x) if fill_mode == "constant" else None
            if finite is not None:
                reads = finite if reads is None else reads & finite
            if reads is not None and not reads.all():
                missed = np.where(reads, 0.0, weight[k])
                weight[k][~reads] = 0.0
                outside = missed if outside is None else outside + missed
            k += 1
    return index, weight, outside


def _check_transforms(transforms, n, where) -> np.ndarray:
    t = np.asarray(transforms)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected transforms to be real numbers. "
                        f"Received dtype {t.dtype}")
    if t.ndim == 1 and t.shape == (8,):
        t = np.broadcast_to(t, (n, 8))
    if t.shape != (n, 8):
        raise ValueError(f"{where}: expected transforms of shape (8,) or (batch, 8) = "
                         f"({n}, 8), one row [a0, a1, a2, b0, b1, b2, c0, c1] per image. "
                         f"Received transforms of shape {np.shape(transforms)}")
    return t.astype(np.float64)


def affine_transform_forward(images, transforms, interpolation="bilinear",
                             fill_mode="constant", fill_value=0.0):
    """Resample each image of ``images`` (NHWC) through its row of ``transforms``.

    interpolation: ``"bilinear"`` or ``"nearest"``; fill_mode: ``"constant"``,
    ``"reflect"``, ``"wrap"``, ``"nearest"`` or ``"mirror"`` (see the module docstring).
    Returns ``(out, cache)``, ``out`` of the images' shape.
    """
    where = "affine_transform_forward"
    interpolation = check_choice(interpolation, "interpolation", set(INTERPOLATIONS), where)
    fill_mode = check_choice(fill_mode, "fill_mode", set(FILL_MODES), where)
    try:
        fill_value = float(fill_value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: expected fill_value to be a number. "
                         f"Received: fill_value={fill_value!r}") from None
    x = float_array(images, where)
    check_rank(x, 4, where, _LAYOUT)
    n, h, w, c = x.shape
    if h < 1 or w < 1:
        raise ValueError(f"{where}: expected images with height and width >= 1. "
                         f"Received images of shape {x.shape}")
    t = _check_transforms(transforms, n, where)
    x_in, y_in = source_coordinates(t, h, w)
    index, weight, outside = _stencil(x_in, y_in, x.shape, interpolation, fill_mode)
    flat = x.reshape(n * h * w, c)
    out = np.zeros((n * h * w, c), dtype=x.dtype)
    for k in range(len(index)):   # the stencil's corners (1 or 4)
        out += weight[k].astype(x.dtype)[:, None] * flat[index[k]]
    if outside is not None and fill_value != 0.0:
        out += (outside * fill_value).astype(x.dtype)[:, None]
    return out.reshape(x.shape), AffineCache(x.shape, x.dtype, index, weight)


def affine_transform_backward(d_out, cache: AffineCache):
    """Gradient of :func:`affine_transform_forward` w.r.t. the images: d_out of the output's
    shape -> d_images of the images' shape (new array; ``d_out`` is never modified)."""
    where = "affine_transform_backward"
    d_out = float_array(d_out, where, cache.dtype)
    if d_out.shape != cache.shape:
        raise ValueError(f"{where}: expected d_out of shape {cache.shape} (the forward "
                         f"output's shape). Received d_out of shape {d_out.shape}")
    n, h, w, c = cache.shape
    size = n * h * w * c
    d = d_out.reshape(n * h * w, c)
    channels = np.arange(c, dtype=np.intp)
    grad = np.zeros(size, dtype=np.float64)
    for k in range(len(cache.index)):   # the stencil's corners (1 or 4)
        flat = (cache.index[k][:, None] * c + channels).reshape(-1)
        grad += np.bincount(flat, weights=(cache.weight[k][:, None] * d).reshape(-1),
                            minlength=size)
    return grad.astype(cache.dtype, copy=False).reshape(cache.shape)
