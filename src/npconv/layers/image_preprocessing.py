"""Keras 3's image preprocessing layers that reshape or recolour images (no weights).

    Resizing(64, 64)            every image resized (bilinear: torch's align_corners=False)
    CenterCrop(24, 24)          the central window; smaller images: Keras's smart resize
    RandomCrop(24, 24)          training: one random window per batch; inference: smart resize
    RandomContrast(0.2)         training: (x - mean) * f + mean per image, clipped to value_range
    RandomBrightness(0.2)       training: x + delta per image, clipped to value_range

Each has a backward pass, so it can sit inside a trained model (as the Keras guides put
augmentation layers after ``Input``). Crops and resizes are linear maps of the pixels: their
backward is the adjoint (:func:`npconv.ops.resize.resize_backward`, zeros outside a crop). The
colour layers' clip passes the gradient where the unclipped value lies inside ``value_range``
(edges included, as ``torch.clamp`` and ``tf.clip_by_value``).

"Smart resize" (Keras's ``image_utils.smart_resize``): the largest centred window with the target
aspect ratio, resized bilinearly to the target size.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..ops.resize import (
    RESIZE_INTERPOLATIONS,
    aspect_crop_box,
    aspect_pad,
    resize_backward,
    resize_forward,
)
from ._seeded import SeededDraws, is_seed
from .base import Layer

__all__ = ["CenterCrop", "RandomBrightness", "RandomContrast", "RandomCrop", "Resizing"]

_KERAS_ONLY = ("bicubic", "lanczos3", "lanczos5", "area", "gaussian", "mitchellcubic")


# ----------------------------------------------------------------------------- checks
def _check_size(where, height, width):
    for name, value in (("height", height), ("width", width)):
        if (not isinstance(value, (numbers.Integral, np.integer)) or isinstance(value, bool)
                or value < 1):
            raise ValueError(f"{where}: expected {name} to be a positive int. "
                             f"Received: {name}={value!r}")
    return int(height), int(width)


def _check_seed(where, seed):
    if not is_seed(seed):
        raise ValueError(f"{where}: expected seed to be None or a non-negative int. "
                         f"Received: seed={seed!r}")
    return None if seed is None else int(seed)


def _is_number(value):
    return (isinstance(value, (numbers.Real, np.floating, np.integer))
            and not isinstance(value, bool) and math.isfinite(value))


def _check_value_range(where, value_range):
    if (not isinstance(value_range, (tuple, list)) or len(value_range) != 2
            or not all(_is_number(v) for v in value_range)):
        raise ValueError(f"{where}: expected value_range to be a list of two numbers "
                         f"[low, high]. Received: value_range={value_range!r}")
    low, high = sorted(float(v) for v in value_range)
    return low, high


def _check_factor(where, factor, bounds, single):
    """Keras's factor: a number or a pair (lower, upper), each within ``bounds``."""
    message = (f"{where}: expected factor to be a number (or a list of two numbers) in the "
               f"range [{bounds[0]}, {bounds[1]}]. Received: factor={factor!r}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or not all(_is_number(f) for f in factor):
            raise ValueError(message)
        pair = tuple(float(f) for f in factor)
    elif _is_number(factor):
        pair = single(float(factor))
    else:
        raise ValueError(message)
    if not all(bounds[0] <= f <= bounds[1] for f in pair):
        raise ValueError(message)
    return pair


def _check_images(layer, shape):
    if len(shape) != 4:
        layout = ("(batch, channels, height, width)" if layer.data_format == "channels_first"
                  else "(batch, height, width, channels)")
        raise ValueError(f"{layer.name}: {type(layer).__name__} expects a batch of images of "
                         f"rank 4 {layout}, or one image of rank 3. Received input of shape "
                         f"{tuple(shape)}")
    _, h, w, _ = layer._to_internal_shape(tuple(shape))
    if (h is not None and h < 1) or (w is not None and w < 1):
        raise ValueError(f"{layer.name}: expected images with height and width >= 1. "
                         f"Received input of shape {tuple(shape)}")


class OneImageOrBatch:
    """Mixin of the image preprocessing and augmentation layers (put before ``Layer``): an
    unbatched image ``(height, width, channels)`` (channels first: ``(c, h, w)``) runs as a
    batch of one and comes back unbatched, as Keras's "3D (unbatched) or 4D (batched)"
    inputs (the TensorFlow tutorial's ``resize_and_rescale(image)``); its backward takes and
    gives the unbatched shape. Symbolic inputs stay batched (rank 4)."""

    _unbatched = False

    def forward(self, inputs, training=False, *, activation=True):
        if np.ndim(inputs) == 3 and not isinstance(inputs, (list, tuple)):
            y = super().forward(np.asarray(inputs)[None], training, activation=activation)
            self._unbatched = True
            return y[0]
        self._unbatched = False
        return super().forward(inputs, training, activation=activation)

    def backward(self, d_out, *, through_activation=True):
        if self._unbatched:
            return super().backward(np.asarray(d_out)[None],
                                    through_activation=through_activation)[0]
        return super().backward(d_out, through_activation=through_activation)


# ------------------------------------------------------- crop, pad, resize (and back)
def _crop_pad_resize(x, window=None, pad=None, size=None, interpolation="bilinear",
                     antialias=False, fill_value=0.0):
    """``x`` (NHWC) cut to ``window = (top, left, h, w)``, padded by ``pad = (rows, cols)`` on
    both sides with ``fill_value``, then resized to ``size``. Returns ``(out, cache)``."""
    out = x
    if window is not None:
        top, left, h, w = window
        out = out[:, top:top + h, left:left + w, :]
    if pad is not None and any(pad):
        rows, cols = pad
        out = np.pad(out, ((0, 0), (rows, rows), (cols, cols), (0, 0)),
                     constant_values=out.dtype.type(fill_value))
    resize_cache = None
    if size is not None and tuple(out.shape[1:3]) != tuple(size):
        out, resize_cache = resize_forward(out, size, interpolation, antialias)
    if out is x or not out.flags.owndata:
        out = out.copy()
    return out, (x.shape, window, pad, resize_cache)


def _crop_pad_resize_backward(d, cache):
    x_shape, window, pad, resize_cache = cache
    if resize_cache is not None:
        d = resize_backward(d, resize_cache)
    if pad is not None and any(pad):
        rows, cols = pad
        d = d[:, rows:d.shape[1] - rows, cols:d.shape[2] - cols, :]
    if window is not None:
        top, left, h, w = window
        full = np.zeros(x_shape, dtype=d.dtype)
        full[:, top:top + h, left:left + w, :] = d
        return full
    return np.array(d)  # a copy: never d_out itself


def _smart_resize(x, size):
    """Keras's smart resize of an NHWC batch to ``size``: ``(out, cache)``."""
    _, h, w, _ = x.shape
    return _crop_pad_resize(x, window=aspect_crop_box(h, w, *size), size=size)


class _Geometric(OneImageOrBatch, Layer):
    """Shared parts of the layers that give every image the size ``(height, width)``."""

    batch_independent = True

    def _init_size(self, height, width, data_format, kwargs):
        where = type(self).__name__
        size = _check_size(where, height, width)
        super().__init__(data_format=data_format or "channels_last", **kwargs)
        self.height, self.width = size
        self._cache = None

    def _check_input_shape(self, shape):
        _check_images(self, shape)

    def compute_output_shape(self, input_shape):
        n, _, _, c = input_shape
        return (n, self.height, self.width, c)

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return _crop_pad_resize_backward(d_out, self._cache)

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "data_format": self.data_format}


class Resizing(_Geometric):
    """Keras 3's ``Resizing(height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, antialias=False,
    data_format=None)``: each image resized to ``(height, width)`` in training and inference.

    interpolation: ``"bilinear"`` (half-pixel, = torch's ``F.interpolate(mode="bilinear",
    align_corners=False)``; ``antialias=True`` shrinks with the widened triangle filter, =
    torch's ``antialias=True``) or ``"nearest"`` (Keras's half-pixel nearest, = torch's
    ``"nearest-exact"``). crop_to_aspect_ratio: resize the largest centred window with the
    target's aspect ratio (no distortion). pad_to_aspect_ratio: pad the short side evenly with
    ``fill_value`` to that aspect ratio first. Integer images become float32.
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        where = "Resizing"
        key = interpolation.lower() if isinstance(interpolation, str) else interpolation
        if key not in RESIZE_INTERPOLATIONS:
            extra = (f" (Keras also has {key!r}; npconv does not implement it)"
                     if key in _KERAS_ONLY else "")
            raise ValueError(f"{where}: expected interpolation to be one of "
                             f"{list(RESIZE_INTERPOLATIONS)}{extra}. "
                             f"Received: interpolation={interpolation!r}")
        if fill_mode != "constant":
            raise ValueError(f"{where}: only fill_mode='constant' is supported (as in Keras). "
                             f"Received: fill_mode={fill_mode!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{where}: only one of pad_to_aspect_ratio and "
                             "crop_to_aspect_ratio can be True. Received both True")
        if not _is_number(fill_value):
            raise ValueError(f"{where}: expected fill_value to be a finite number. "
                             f"Received: fill_value={fill_value!r}")
        self._init_size(height, width, data_format, kwargs)
        self.interpolation = key
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.antialias = bool(antialias)

    def call(self, x, training=False):
        _, h, w, _ = x.shape
        size = (self.height, self.width)
        window = aspect_crop_box(h, w, *size) if self.crop_to_aspect_ratio else None
        pad = aspect_pad(h, w, *size) if self.pad_to_aspect_ratio else None
        y, self._cache = _crop_pad_resize(x, window, pad, size, self.interpolation,
                                          self.antialias, self.fill_value)
        return y

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


class CenterCrop(_Geometric):
    """Keras 3's ``CenterCrop(height, width, data_format=None)``: the central
    ``(height, width)`` window of each image (the window starts at ``int((H - height) / 2)``);
    an image smaller than that in either side is smart-resized instead (Keras's: the largest
    centred window with the target's aspect ratio, resized bilinearly). Training and inference
    alike."""

    def __init__(self, height, width, data_format=None, **kwargs):
        self._init_size(height, width, data_format, kwargs)

    def call(self, x, training=False):
        _, h, w, _ = x.shape
        dh, dw = h - self.height, w - self.width
        if dh >= 0 and dw >= 0:
            window = (int(dh / 2), int(dw / 2), self.height, self.width)
            y, self._cache = _crop_pad_resize(x, window=window)
        else:
            y, self._cache = _smart_resize(x, (self.height, self.width))
        return y


class RandomCrop(SeededDraws, _Geometric):
    """Keras 3's ``RandomCrop(height, width, seed=None, data_format=None)``.

    Training (``fit``, ``training=True``), images at least ``(height, width)``: one random
    window of that size for the whole batch (Keras crops every image of a batch at the same
    place), its corner uniform over the valid positions. Inference, and training on smaller
    images: Keras's documented smart resize (the largest centred window with the target's
    aspect ratio, resized bilinearly). ``seed``: an int gives the layer its own generator;
    None draws from npconv's shared one (``set_random_seed`` fixes it).
    """

    training_by_default = True  # Keras: called directly, it augments (see Layer)

    def splits_batch(self, training) -> bool:
        return not training and super().splits_batch(training)  # one window per batch

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        seed = _check_seed("RandomCrop", seed)
        self._init_size(height, width, data_format, kwargs)
        self._set_seed(seed)

    def call(self, x, training=False):
        _, h, w, _ = x.shape
        if training and h >= self.height and w >= self.width:
            rng = self._generator()
            top = int(rng.integers(0, h - self.height + 1))
            left = int(rng.integers(0, w - self.width + 1))
            y, self._cache = _crop_pad_resize(x, window=(top, left, self.height, self.width))
        else:
            y, self._cache = _smart_resize(x, (self.height, self.width))
        return y

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


# --------------------------------------------------------------------------- colour
class _RandomColour(SeededDraws, OneImageOrBatch, Layer):
    """Shared parts of RandomContrast and RandomBrightness: a value per image, drawn in
    training only; the output clipped to ``value_range``; the identity at inference."""

    training_by_default = True  # Keras: called directly, it augments (see Layer)

    batch_independent = True

    def splits_batch(self, training) -> bool:
        return not training and super().splits_batch(training)

    def _init_common(self, value_range, seed, kwargs):
        where = type(self).__name__
        value_range = _check_value_range(where, value_range)
        seed = _check_seed(where, seed)
        super().__init__(**kwargs)
        self.value_range = value_range
        self._set_seed(seed)
        self._cache = None

    def _draw(self, n, low, high):
        rng = self._generator()
        return rng.uniform(low, high, size=(n, 1, 1, 1))

    def _check_input_shape(self, shape):
        _check_images(self, shape)

    def _clip(self, z):
        low, high = self.value_range
        low, high = z.dtype.type(low), z.dtype.type(high)
        inside = (z >= low) & (z <= high)
        return np.clip(z, low, high), inside

    def call(self, x, training=False):
        if not training:
            self._cache = None
            return x
        return self._adjust(x)

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor),
                "value_range": list(self.value_range), "seed": self.seed,
                "data_format": self.data_format}


class RandomContrast(_RandomColour):
    """Keras 3's ``RandomContrast(factor, value_range=(0, 255), seed=None)``.

    Training: each image gets a contrast factor ``f`` uniform in ``[1 - lower, 1 + upper]``
    (``factor`` a number in [0, 1]: lower = upper = factor; or a pair ``(lower, upper)``); each
    channel of it becomes ``(x - mean) * f + mean`` (``mean`` over its pixels), clipped to
    ``value_range``. Inference: the identity.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        self.factor = _check_factor("RandomContrast", factor, (0.0, 1.0), lambda f: (f, f))
        self._init_common(value_range, seed, kwargs)

    def _adjust(self, x):
        lower, upper = self.factor
        f = self._draw(len(x), 1.0 - lower, 1.0 + upper).astype(x.dtype)
        mean = x.mean(axis=(1, 2), keepdims=True)
        y, inside = self._clip((x - mean) * f + mean)
        self._cache = (f, inside)
        return y

    def call_backward(self, d_out):
        if self._cache is None:  # inference: the identity
            return d_out
        f, inside = self._cache
        g = np.where(inside, d_out, d_out.dtype.type(0))
        # z = f * x + (1 - f) * mean(x): its transpose spreads (1 - f) * mean(g) over the pixels
        return f * g + (1 - f) * g.mean(axis=(1, 2), keepdims=True)


class RandomBrightness(_RandomColour):
    """Keras 3's ``RandomBrightness(factor, value_range=(0, 255), seed=None)``.

    Training: each image gets ``delta`` uniform in ``[lower, upper] * (high - low)``
    (``factor`` a number in [-1, 1]: ``(-|factor|, |factor|)``; or a pair, sorted), added to
    every value, then clipped to ``value_range = (low, high)``. Inference: the identity.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        pair = _check_factor("RandomBrightness", factor, (-1.0, 1.0),
                             lambda f: (-abs(f), abs(f)))
        self.factor = tuple(sorted(pair))
        self._init_common(value_range, seed, kwargs)

    def _adjust(self, x):
        lower, upper = self.factor
        low, high = self.value_range
        delta = (self._draw(len(x), lower, upper) * (high - low)).astype(x.dtype)
        y, inside = self._clip(x + delta)
        self._cache = inside
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            return d_out
        return np.where(self._cache, d_out, d_out.dtype.type(0))
