"""Data augmentation layers (Keras's preprocessing layers that run only while training).

    RandomFlip("horizontal")   each image of a training batch mirrored left-right with
                               probability 1/2; the identity at inference

The flip is a permutation of the pixels, so the backward pass is the same flip of the
gradient: exact, and a layer with a backward like any other (it can sit inside a model that
is trained, as in the Keras guides: ``x = RandomFlip("horizontal")(inputs)``).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..random import make_generator
from .base import Layer

__all__ = ["RandomFlip"]

_MODES = {"horizontal": (True, False), "vertical": (False, True),
          "horizontal_and_vertical": (True, True)}


class RandomFlip(Layer):
    """Keras's ``RandomFlip(mode="horizontal_and_vertical", seed=None)``.

    In training (``fit``, or ``training=True``) each image of the batch is flipped
    left-right (``"horizontal"``: along W), top-bottom (``"vertical"``: along H), or, for
    ``"horizontal_and_vertical"``, each of the two independently, with probability 1/2 per
    image. At inference the input passes unchanged. Input: a batch of images, NHWC (NCHW
    with ``data_format="channels_first"``). ``seed``: an int gives the layer its own
    generator; None draws from npconv's shared one (``set_random_seed`` fixes it).
    """

    batch_independent = True

    def splits_batch(self, training) -> bool:
        # While training, the flips are drawn for the whole batch from one generator.
        return not training and super().splits_batch(training)

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(mode, str) or mode not in _MODES:
            raise ValueError(f"{self.name}: RandomFlip expects mode to be one of "
                             f"{sorted(_MODES)}. Received: mode={mode!r}")
        if seed is not None and (not isinstance(seed, (numbers.Integral, np.integer))
                                 or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"{self.name}: RandomFlip expects seed to be None or a "
                             f"non-negative int. Received: seed={seed!r}")
        self.mode = mode
        self.seed = None if seed is None else int(seed)
        self._rng = None  # a seeded layer's own generator, made at its first draw
        self._cache = None

    def _check_rank(self, shape):
        if len(shape) != 4:
            raise ValueError(f"{self.name}: RandomFlip expects a batch of images of rank 4 "
                             f"(N, H, W, C). Received input of shape {tuple(shape)}")

    def compute_output_shape(self, input_shape):
        self._check_rank(input_shape)
        return input_shape

    def call(self, x, training=False):
        self._check_rank(x.shape)
        if not training:
            self._cache = None
            return x
        if self.seed is None:
            rng = make_generator()
        else:
            if self._rng is None:
                self._rng = make_generator(self.seed)
            rng = self._rng
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
        return {**super().get_config(), "mode": self.mode, "seed": self.seed}


def _flip(x, masks):
    """``x`` with the images of each mask reversed along its axis (a new array)."""
    out = x
    for axis, which in masks:
        if not which.any():
            continue
        flipped = np.flip(out, axis=axis)
        out = np.where(which[:, None, None, None], flipped, out)
    return out if out is not x else x.copy()
