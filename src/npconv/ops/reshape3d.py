"""Zero padding, cropping and nearest up-sampling of volume batches (Keras's ZeroPadding3D,
Cropping3D and UpSampling3D).

x is ``(batch, depth, height, width, channels)``; pads and crops are ``((front, back), (top,
bottom), (left, right))`` in voxels (an int or a ``(depth, height, width)`` triple also). The
backward of padding is cropping the gradient, and the other way round. Nearest up-sampling
repeats each voxel into a ``sd x sh x sw`` block (``out[n, a, i, j, c] = x[n, a // sd,
i // sh, j // sw, c]``, torch's ``F.interpolate(mode="nearest")`` for integer factors); its
backward sums each block's gradient.

Padding and cropping keep any numeric dtype (integers too); up-sampling gives floats
(integers become float32), as the 2-D ops.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_rank, float_array
from ._volumes import LAYOUT, as_triple, float_volumes, normalize_pads3d

__all__ = ["crop3d_backward", "crop3d_forward", "upsampling3d_backward", "upsampling3d_forward",
           "zero_pad3d_backward", "zero_pad3d_forward"]


def _inner(pads, sizes):
    return (slice(None), *(slice(a, a + s) for (a, _), s in zip(pads, sizes, strict=True)),
            slice(None))


def _check_d_out(d_out, expected, where):
    d_out = np.asarray(d_out)
    if d_out.shape != tuple(expected):
        raise ValueError(f"{where}: expected d_out of shape {tuple(expected)} (the forward "
                         f"output's shape). Received d_out of shape {d_out.shape}")
    return d_out


def zero_pad3d_forward(x, padding):
    """Zeros around the depth, height and width of each volume.

    Returns ``(y, cache)``, y a new array ``(batch, d + front + back, h + top + bottom,
    w + left + right, channels)`` of x's dtype.
    """
    where = "zero_pad3d_forward"
    x = np.asarray(x)
    check_rank(x, 5, where, LAYOUT)
    pads = normalize_pads3d(padding, where)
    n, *sizes, c = x.shape
    y = np.zeros((n, *(s + a + b for s, (a, b) in zip(sizes, pads, strict=True)), c),
                 dtype=x.dtype)
    y[_inner(pads, sizes)] = x
    return y, (x.shape, pads)


def zero_pad3d_backward(d_out, cache):
    """Gradient of :func:`zero_pad3d_forward`: the centre of ``d_out`` (a new array)."""
    x_shape, pads = cache
    n, *sizes, c = x_shape
    expected = (n, *(s + a + b for s, (a, b) in zip(sizes, pads, strict=True)), c)
    d_out = _check_d_out(d_out, expected, "zero_pad3d_backward")
    return d_out[_inner(pads, sizes)].copy()


def crop3d_forward(x, cropping):
    """Remove ``cropping`` voxels from the faces of each volume.

    The cropping must leave at least one voxel along each axis. Returns ``(y, cache)``, y a new
    contiguous array ``(batch, d - front - back, h - top - bottom, w - left - right,
    channels)`` of x's dtype.
    """
    where = "crop3d_forward"
    x = np.asarray(x)
    check_rank(x, 5, where, LAYOUT)
    crops = normalize_pads3d(cropping, where, "cropping")
    n, *sizes, c = x.shape
    if any(a + b >= s for (a, b), s in zip(crops, sizes, strict=True)):
        raise ValueError(f"{where}: expected a cropping smaller than the input's depth, height "
                         f"and width (at least one voxel kept along each). Received: "
                         f"cropping={crops} for an input of shape {x.shape}")
    kept = [s - a - b for (a, b), s in zip(crops, sizes, strict=True)]
    y = x[_inner(crops, kept)].copy()
    return y, (x.shape, crops)


def crop3d_backward(d_out, cache):
    """Gradient of :func:`crop3d_forward`: ``d_out`` padded back with zeros to the input's
    shape (a new array)."""
    x_shape, crops = cache
    n, *sizes, c = x_shape
    kept = [s - a - b for (a, b), s in zip(crops, sizes, strict=True)]
    d_out = _check_d_out(d_out, (n, *kept, c), "crop3d_backward")
    dx = np.zeros(x_shape, dtype=d_out.dtype)
    dx[_inner(crops, kept)] = d_out
    return dx


def upsampling3d_forward(x, size=(2, 2, 2)):
    """Nearest up-sampling: every voxel a ``size = (sd, sh, sw)`` block of copies.

    x: ``(batch, d, h, w, channels)``. Returns ``(y, cache)``, y ``(batch, d * sd, h * sh,
    w * sw, channels)``.
    """
    where = "upsampling3d_forward"
    x = float_volumes(x, where)
    sd, sh, sw = as_triple(size, "size", where)
    n, d, h, w, c = x.shape
    y = np.empty((n, d, sd, h, sh, w, sw, c), dtype=x.dtype)
    y[...] = x[:, :, None, :, None, :, None, :]
    return y.reshape(n, d * sd, h * sh, w * sw, c), (x.shape, (sd, sh, sw), x.dtype)


def upsampling3d_backward(d_out, cache):
    """Gradient of :func:`upsampling3d_forward`: each block's gradients summed."""
    (n, d, h, w, c), (sd, sh, sw), dtype = cache
    where = "upsampling3d_backward"
    d_out = _check_d_out(float_array(d_out, where, dtype), (n, d * sd, h * sh, w * sw, c), where)
    return d_out.reshape(n, d, sd, h, sh, w, sw, c).sum(axis=(2, 4, 6))
