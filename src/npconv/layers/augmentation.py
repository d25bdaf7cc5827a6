"""Data augmentation layers (Keras's preprocessing layers that run only while training).

    RandomFlip("horizontal")   each image of a training batch mirrored left-right with
                               probability 1/2; the identity at inference
    RandomRotation(0.1)        each image turned about its centre by its own random angle,
                               up to 0.1 * 2 pi either way
    RandomZoom(0.1)            each image zoomed in or out by up to 10% about its centre
    RandomTranslation(0.1, 0.2)  each image shifted by up to 10% of its height, 20% of its width

The flip is a permutation of the pixels, so the backward pass is the same flip of the
gradient: exact, and a layer with a backward like any other (it can sit inside a model that
is trained, as in the Keras guides: ``x = RandomFlip("horizontal")(inputs)``). The rotation,
zoom and translation resample the image through an affine transform
(:mod:`npconv.ops.affine`, Keras 3's ``affine_transform``): linear in the pixels, so their
backward is the exact adjoint of the sampling (``affine_transform_backward``).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..ops.affine import affine_transform_backward, affine_transform_forward
from ..random import make_generator
from ._seeded import SeededDraws, is_seed
from .base import Layer
from .image_preprocessing import OneImageOrBatch

__all__ = ["RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom"]

_MODES = {"horizontal": (True, False), "vertical": (False, True),
          "horizontal_and_vertical": (True, True)}


class _RandomImageLayer(SeededDraws, OneImageOrBatch, Layer):
    """What the augmentation layers share: they augment only in training (the identity at
    inference), draw the random parameters of a whole batch from one generator (so a batch
    is never split while training), validate their seed and take a batch of images (or one
    unbatched image, :class:`OneImageOrBatch`)."""

    training_by_default = True  # Keras: called directly, it augments (see Layer)

    batch_independent = True

    def splits_batch(self, training) -> bool:
        # While training, the random parameters are drawn for the whole batch at once.
        return not training and super().splits_batch(training)

    def _init_seed(self, seed):
        if not is_seed(seed):
            raise ValueError(f"{self.name}: {type(self).__name__} expects seed to be None or "
                             f"a non-negative int. Received: seed={seed!r}")
        self._set_seed(seed)

    def _check_rank(self, shape):
        if len(shape) != 4:
            layout = ("(N, C, H, W)" if self.data_format == "channels_first"
                      else "(N, H, W, C)")
            raise ValueError(f"{self.name}: {type(self).__name__} expects a batch of images "
                             f"of rank 4 {layout}, or one image of rank 3. Received input of "
                             f"shape {tuple(shape)}")

    def _check_input_shape(self, shape):
        self._check_rank(shape)  # (before the build: the error shows the shape given)

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return input_shape


class RandomFlip(_RandomImageLayer):
    """Keras's ``RandomFlip(mode="horizontal_and_vertical", seed=None)``.

    In training (``fit``, or ``training=True``) each image of the batch is flipped
    left-right (``"horizontal"``: along W), top-bottom (``"vertical"``: along H), or, for
    ``"horizontal_and_vertical"``, each of the two independently, with probability 1/2 per
    image. At inference the input passes unchanged. Input: a batch of images, NHWC (NCHW
    with ``data_format="channels_first"``). ``seed``: an int gives the layer its own
    generator; None draws from npconv's shared one (``set_random_seed`` fixes it).
    """

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(mode, str) or mode not in _MODES:
            raise ValueError(f"{self.name}: RandomFlip expects mode to be one of "
                             f"{sorted(_MODES)}. Received: mode={mode!r}")
        self._init_seed(seed)
        self.mode = mode
        self._cache = None

    def call(self, x, training=False):
        self._check_rank(x.shape)
        if not training:
            self._cache = None
            return x
        rng = self._generator()
        horizontal, vertical = _MODES[self.mode]
        masks = []  # per flip: (axis, which images), drawn in this order
        if horizontal:
            masks.append((2, rng.random(len(x)) < 0.5))
        if vertical:
            masks.append((1, rng.random(len(x)) < 0.5))
        self._cache = masks
        return _flip(x, masks)

    def call_backward(self, d_out):
        if self._cache is None:  # inference: the identity
            return d_out
        return _flip(d_out, self._cache)  # flips along different axes commute

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "seed": self.seed,
                "data_format": self.data_format}


def _flip(x, masks):
    """``x`` with the images of each mask reversed along its axis (a new array)."""
    out = x
    for axis, which in masks:
        if not which.any():
            continue
        flipped = np.flip(out, axis=axis)
        out = np.where(which[:, None, None, None], flipped, out)
    return out if out is not x else x.copy()


# ---------------------------------------------------------------- rotation, zoom, translation
_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _is_number(value) -> bool:
    return isinstance(value, (numbers.Real, np.integer, np.floating)) and not isinstance(
        value, bool)


def _factor_range(layer, value, name):
    """Keras's factor: a number f in [-1, 1] -> (-|f|, |f|); a pair in [-1, 1] -> sorted."""
    kind = type(layer).__name__
    pair = isinstance(value, (tuple, list)) and len(value) == 2
    numbers_ok = all(_is_number(v) for v in value) if pair else _is_number(value)
    values = [float(v) for v in value] if pair and numbers_ok else (
        [float(value)] if numbers_ok else [])
    if not numbers_ok or not all(-1.0 <= v <= 1.0 for v in values):
        raise ValueError(f"{layer.name}: {kind} expects {name} to be a number (or a list of two "
                         f"numbers) in the range [-1, 1]. Received: {name}={value!r}")
    if pair:
        return tuple(sorted(values))
    return (-abs(values[0]), abs(values[0]))


def _factor_config(value):
    """A factor as given (None, a number or a pair), as JSON data: Python floats in a list."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return [float(v) for v in value]
    return float(value)


class _RandomAffine(_RandomImageLayer):
    """The shared machinery of RandomRotation, RandomZoom and RandomTranslation: arguments,
    the generator, inference pass-through, and the resampling by :mod:`npconv.ops.affine`
    with each image's own transform row. Subclasses draw the transformation
    (``_draw(rng, n, height, width) -> dict``, Keras's keys) and turn it into the rows
    (``_rows(transformation, height, width) -> (n, 8)``)."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        kind = type(self).__name__
        if not isinstance(fill_mode, str) or fill_mode not in _FILL_MODES:
            raise ValueError(f"{self.name}: {kind} expects fill_mode to be one of "
                             f"{list(_FILL_MODES)}. Received: fill_mode={fill_mode!r}")
        if not isinstance(interpolation, str) or interpolation not in _INTERPOLATIONS:
            raise ValueError(f"{self.name}: {kind} expects interpolation to be one of "
                             f"{list(_INTERPOLATIONS)}. Received: "
                             f"interpolation={interpolation!r}")
        self._init_seed(seed)
        if not _is_number(fill_value):
            raise ValueError(f"{self.name}: {kind} expects fill_value to be a number. "
                             f"Received: fill_value={fill_value!r}")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = float(fill_value)
        self._cache = None

    def _generator(self, seed=None):
        """``get_random_transformation``'s ``seed`` (an int or a Generator), else the layer's."""
        return super()._generator() if seed is None else make_generator(seed)

    def get_random_transformation(self, data, training=True, seed=None):
        """Keras's: the random parameters for a batch ``data`` (in this layer's
        data_format), drawn from this layer's generator (or from ``seed``: an int or a
        numpy Generator); None when not ``training``."""
        if not training:
            return None
        shape = np.shape(data)
        self._check_rank(shape)
        n, h, w, _ = self._to_internal_shape(tuple(shape))
        return self._draw(self._generator(seed), n, h, w)

    def call(self, x, training=False):
        self._check_rank(x.shape)
        if not training:
            self._cache = None
            return x
        n, h, w, _ = x.shape
        rows = self._rows(self._draw(self._generator(), n, h, w), h, w)
        out, self._cache = affine_transform_forward(x, rows, self.interpolation,
                                                    self.fill_mode, self.fill_value)
        return out

    def call_backward(self, d_out):
        if self._cache is None:  # inference: the identity
            return d_out
        return affine_transform_backward(d_out, self._cache)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "seed": self.seed,
                "fill_value": self.fill_value, "data_format": self.data_format}


class RandomRotation(_RandomAffine):
    """Keras's ``RandomRotation(factor, fill_mode="reflect", interpolation="bilinear",
    seed=None, fill_value=0.0, data_format=None)``.

    In training each image of the batch is rotated about its centre (the point
    ``((W - 1) / 2, (H - 1) / 2)`` of pixel-centre coordinates) by its own angle, drawn
    uniformly from ``[lower, upper] * 2 pi``: ``factor`` is a number f in [-1, 1] (the range
    ``[-|f|, |f|]``) or a pair ``(lower, upper)``. Positive angles turn the image
    counter-clockwise. Pixels that come from outside the image are filled by ``fill_mode``
    (``"reflect"``, ``"wrap"``, ``"constant"`` with ``fill_value``, ``"nearest"``; see
    :mod:`npconv.ops.affine`), read with ``"bilinear"`` or ``"nearest"`` interpolation.
    At inference the input passes unchanged. ``seed``: as in :class:`RandomFlip`.
    """

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.factor = _factor_range(self, factor, "factor")

    def _draw(self, rng, n, h, w):
        angle = rng.uniform(self.factor[0], self.factor[1], n) * (2 * np.pi)
        cos, sin = np.cos(angle), np.sin(angle)
        x_offset = ((w - 1) - (cos * (w - 1) - sin * (h - 1))) / 2
        y_offset = ((h - 1) - (sin * (w - 1) + cos * (h - 1))) / 2
        zeros = np.zeros(n)
        rotation = np.stack([cos, -sin, x_offset, sin, cos, y_offset, zeros, zeros], axis=1)
        return {"rotation_matrix": rotation, "image_height": h, "image_width": w,
                "batch_size": n}

    def _rows(self, transformation, h, w):
        return transformation["rotation_matrix"]

    def get_config(self):
        return {**super().get_config(), "factor": list(self.factor)}


class RandomZoom(_RandomAffine):
    """Keras's ``RandomZoom(height_factor, width_factor=None, fill_mode="reflect",
    interpolation="bilinear", seed=None, fill_value=0.0, data_format=None)``.

    In training each image is scaled about its centre: the output reads the input at
    ``centre + zoom * (point - centre)``, per axis, with ``zoom = 1 + u`` and ``u`` drawn
    uniformly from the factor's range, so a positive factor zooms out (the image shrinks,
    the border is filled by ``fill_mode``) and a negative one zooms in. ``height_factor``
    and ``width_factor``: a number f in [-1, 1] (the range ``[-|f|, |f|]``) or a pair
    ``(lower, upper)``; ``width_factor=None`` zooms both axes by the same amount (the
    aspect ratio kept). Interpolation, fill and seed as :class:`RandomRotation`; the
    identity at inference.
    """

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _factor_range(self, height_factor,
                                                             "height_factor")
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _factor_range(self, width_factor,
                                                               "width_factor")

    def _draw(self, rng, n, h, w):
        height_zoom = rng.uniform(1 + self.height_lower, 1 + self.height_upper, (n, 1))
        if self.width_factor is None:
            width_zoom = height_zoom.copy()
        else:
            width_zoom = rng.uniform(1 + self.width_lower, 1 + self.width_upper, (n, 1))
        return {"height_zoom": height_zoom, "width_zoom": width_zoom,
                "input_shape": (n, h, w)}

    def _rows(self, transformation, h, w):
        zx, zy = transformation["width_zoom"][:, 0], transformation["height_zoom"][:, 0]
        zeros = np.zeros(len(zx))
        return np.stack([zx, zeros, (w - 1) / 2 * (1 - zx), zeros, zy, (h - 1) / 2 * (1 - zy),
                         zeros, zeros], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": _factor_config(self.height_factor),
                "width_factor": _factor_config(self.width_factor)}


class RandomTranslation(_RandomAffine):
    """Keras's ``RandomTranslation(height_factor, width_factor, fill_mode="reflect",
    interpolation="bilinear", seed=None, fill_value=0.0, data_format=None)``.

    In training each image is shifted down by ``u * height`` and right by ``v * width``
    pixels (fractions allowed: bilinear interpolation), ``u`` and ``v`` drawn uniformly from
    ``height_factor``'s and ``width_factor``'s ranges (a number f in [-1, 1] means
    ``[-|f|, |f|]``; a pair ``(lower, upper)``; negative values shift up / left). The
    uncovered border is filled by ``fill_mode``. Interpolation, fill and seed as
    :class:`RandomRotation`; the identity at inference.
    """

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _factor_range(self, height_factor,
                                                             "height_factor")
        self.width_factor = width_factor
        self.width_lower, self.width_upper = _factor_range(self, width_factor, "width_factor")

    def _draw(self, rng, n, h, w):
        height = rng.uniform(self.height_lower, self.height_upper, (n, 1)) * h
        width = rng.uniform(self.width_lower, self.width_upper, (n, 1)) * w
        return {"translations": np.concatenate([width, height], axis=1),
                "input_shape": (n, h, w)}

    def _rows(self, transformation, h, w):
        dx, dy = transformation["translations"][:, 0], transformation["translations"][:, 1]
        ones, zeros = np.ones(len(dx)), np.zeros(len(dx))
        return np.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)

    def get_config(self):
        return {**super().get_config(), "height_factor": _factor_config(self.height_factor),
                "width_factor": _factor_config(self.width_factor)}
