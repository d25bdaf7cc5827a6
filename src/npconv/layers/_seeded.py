"""The seed of a layer that draws random numbers (augmentation, noise, random crops).

``seed=None`` draws from npconv's shared generator (``npconv.random.set_random_seed`` fixes
it); an int gives the layer its own generator, made at its first draw, so that two seeded
layers draw the same numbers whatever else the run draws. ``gradient_check`` finds that
generator through :meth:`SeededDraws.own_generator` and rewinds it before every pass.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..random import make_generator

__all__ = ["SeededDraws", "is_seed"]


def is_seed(seed) -> bool:
    """Whether ``seed`` is a valid layer seed: None or an int >= 0 (not a bool)."""
    return seed is None or (isinstance(seed, (numbers.Integral, np.integer))
                            and not isinstance(seed, bool) and seed >= 0)


class SeededDraws:
    """Mixin (put before ``Layer``): ``self.seed`` and the generator the layer draws from.
    The layer validates its seed (with its own error message, see :func:`is_seed`) and calls
    :meth:`_set_seed` in its constructor."""

    seed = None
    _rng = None

    def _set_seed(self, seed) -> None:
        self.seed = None if seed is None else int(seed)
        self._rng = None  # a seeded layer's own generator, made at its first draw

    def own_generator(self):
        """A seeded layer's generator (made on first use), or None without a seed."""
        if self.seed is not None and self._rng is None:
            self._rng = make_generator(self.seed)
        return self._rng

    def _generator(self):
        """The generator of the next draw: the layer's own, or npconv's shared one."""
        return make_generator() if self.seed is None else self.own_generator()
