"""Zero padding, its inverse cropping, and the output-size arithmetic of convolution and
pooling (seeds 000, 002).

Layout is NHWC: ``x`` has shape ``(batch, height, width, channels)``; padding adds zeros to
height and width only, and cropping (Keras's ``Cropping2D``) removes rows and columns there; the
backward of each is the other (the centre of the gradient, or the gradient padded with zeros).

The output size of a window of ``k`` pixels, dilated by ``d``, moved by a stride ``s`` over an
input of ``n`` pixels with ``p_total`` pixels of padding (seed 000's formula)::

    n_out = floor((n + p_total - d * (k - 1) - 1) / s) + 1

``"same"`` padding follows Keras/TensorFlow: ``n_out = ceil(n / s)`` and the total padding is
``max((n_out - 1) * s + d * (k - 1) + 1 - n, 0)``, with the odd pixel at the bottom/right.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import as_pair, check_rank

Pads = tuple[tuple[int, int], tuple[int, int]]


def _is_int(value) -> bool:
    return isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)


def normalize_pads(pad, where: str = "padding", name: str = "padding") -> Pads:
    """``pad`` as ``((top, bottom), (left, right))`` of ints >= 0.

    Accepts an int (all four sides), a pair ``(vertical, horizontal)`` (both sides of each), or
    ``((top, bottom), (left, right))``.
    """
    if _is_int(pad) or (
        isinstance(pad, (tuple, list)) and len(pad) == 2 and all(_is_int(p) for p in pad)
    ):
        ph, pw = as_pair(pad, name, where, minimum=0)
        return ((ph, ph), (pw, pw))
    if (
        isinstance(pad, (tuple, list))
        and len(pad) == 2
        and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pad)
        and all(_is_int(v) for p in pad for v in p)
    ):
        pads = ((int(pad[0][0]), int(pad[0][1])), (int(pad[1][0]), int(pad[1][1])))
        if min(min(p) for p in pads) < 0:
            raise ValueError(f"{where}: expected {name} to be >= 0. Received: {name}={pad!r}")
        return pads
    raise ValueError(
        f"{where}: expected {name} to be an int, a pair of ints or ((top, bottom), (left, right)). "
        f"Received: {name}={pad!r}"
    )


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding of one axis: ``(before, after)``, the odd pixel after."""
    out = -(-size // stride)  # ceil(size / stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def resolve_padding(padding, input_hw, kernel_hw, strides=1, dilation=1,
                    where: str = "padding") -> Pads:
    """The explicit ``((top, bottom), (left, right))`` padding for a window op.

    ``padding`` is ``"valid"`` (none), ``"same"`` (Keras/TensorFlow semantics, also for
    stride > 1), an int, a pair ``(vertical, horizontal)`` or ``((top, bottom), (left, right))``.
    ``input_hw``, ``kernel_hw``, ``strides`` and ``dilation`` are ints or pairs (pixels).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return ((0, 0), (0, 0))
        if mode == "same":
            hw = as_pair(input_hw, "input size", where, minimum=0)
            k = as_pair(kernel_hw, "kernel_size", where)
            s = as_pair(strides, "strides", where)
            d = as_pair(dilation, "dilation", where)
            return (same_pads(hw[0], k[0], s[0], d[0]), same_pads(hw[1], k[1], s[1], d[1]))
        raise ValueError(
            f"{where}: expected padding to be 'valid', 'same', an int, a pair or "
            f"((top, bottom), (left, right)). Received: padding={padding!r}"
        )
    return normalize_pads(padding, where)


def conv_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1):
    """Output size of a convolution or pooling window (seed 000's formula).

    ``padding`` is per side as in the seeds (``2 * P`` pixels in total for an int ``P``), a pair,
    ``((top, bottom), (left, right))``, ``"valid"`` or ``"same"``. Returns an int when every
    argument is an int (and the padding symmetric), else a pair ``(height, width)``.
    A non-positive size means the window does not fit.
    """
    where = "conv_output_size"
    all_ints = all(_is_int(v) for v in (input_size, kernel_size, stride, dilation)) and (
        _is_int(padding) or isinstance(padding, str)
    )
    n = as_pair(input_size, "input_size", where, minimum=0)
    k = as_pair(kernel_size, "kernel_size", where)
    s = as_pair(stride, "stride", where)
    d = as_pair(dilation, "dilation", where)
    pads = resolve_padding(padding, n, k, s, d, where)
    out = tuple(
        (n[a] + sum(pads[a]) - d[a] * (k[a] - 1) - 1) // s[a] + 1 for a in range(2)
    )
    return out[0] if all_ints else out


def zero_pad(x, pad) -> np.ndarray:
    """Pad the height and width of a batch of NHWC images with zeros (seed 002).

    x: ``(m, n_H, n_W, n_C)`` of any numeric dtype (kept, integers included).
    pad: int, ``(vertical, horizontal)`` or ``((top, bottom), (left, right))``, in pixels.
    Returns a new array ``(m, n_H + top + bottom, n_W + left + right, n_C)``.
    """
    x = np.asarray(x)
    check_rank(x, 4, "zero_pad", "(batch, height, width, channels)")
    (top, bottom), (left, right) = normalize_pads(pad, "zero_pad", "pad")
    m, h, w, c = x.shape
    out = np.zeros((m, h + top + bottom, w + left + right, c), dtype=x.dtype)
    out[:, top:top + h, left:left + w, :] = x
    return out


def zero_pad_forward(x, pad):
    """:func:`zero_pad` returning ``(x_pad, cache)`` for :func:`zero_pad_backward`."""
    x_pad = zero_pad(x, pad)
    pads = normalize_pads(pad, "zero_pad", "pad")
    return x_pad, (np.shape(x), pads)


def zero_pad_backward(d_out, cache) -> np.ndarray:
    """Gradient of :func:`zero_pad`: the centre of ``d_out`` (a new array)."""
    x_shape, ((top, _), (left, _)) = cache
    d_out = np.asarray(d_out)
    expected = (
        x_shape[0], x_shape[1] + sum(cache[1][0]), x_shape[2] + sum(cache[1][1]), x_shape[3]
    )
    if d_out.shape != expected:
        raise ValueError(
            f"zero_pad_backward: expected d_out of shape {expected}. Received {d_out.shape}"
        )
    return d_out[:, top:top + x_shape[1], left:left + x_shape[2], :].copy()


def crop2d_forward(x, cropping):
    """Remove ``cropping`` rows and columns from each NHWC image (Keras's ``Cropping2D``).

    x: ``(m, n_H, n_W, n_C)`` of any numeric dtype (kept). cropping: int, ``(vertical,
    horizontal)`` or ``((top, bottom), (left, right))``, ints >= 0 that leave at least one row
    and one column. Returns ``(y, cache)``, ``y`` a new contiguous array
    ``(m, n_H - top - bottom, n_W - left - right, n_C)``.
    """
    x = np.asarray(x)
    check_rank(x, 4, "crop2d_forward", "(batch, height, width, channels)")
    crops = normalize_pads(cropping, "crop2d_forward", "cropping")
    (top, bottom), (left, right) = crops
    _, h, w, _ = x.shape
    if top + bottom >= h or left + right >= w:
        raise ValueError(f"crop2d_forward: expected a cropping smaller than the input's height "
                         f"and width (at least one row and column kept). Received: "
                         f"cropping={crops} for an input of shape {x.shape}")
    y = x[:, top:h - bottom, left:w - right, :].copy()
    return y, (x.shape, crops)


def crop2d_backward(d_out, cache) -> np.ndarray:
    """Gradient of :func:`crop2d_forward`: ``d_out`` padded back with zeros to the input's
    shape (a new array)."""
    x_shape, ((top, bottom), (left, right)) = cache
    d_out = np.asarray(d_out)
    expected = (x_shape[0], x_shape[1] - top - bottom, x_shape[2] - left - right, x_shape[3])
    if d_out.shape != expected:
        raise ValueError(
            f"crop2d_backward: expected d_out of shape {expected}. Received {d_out.shape}"
        )
    dx = np.zeros(x_shape, dtype=d_out.dtype)
    dx[:, top:top + expected[1], left:left + expected[2], :] = d_out
    return dx
