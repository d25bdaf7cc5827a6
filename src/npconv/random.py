"""The run-wide random generator.

Every random thing in npconv (weight initialisation, dropout masks, shuffling) draws from a
``numpy.random.Generator``. Objects that take ``seed=`` get their own generator; the others
share this module's, which :func:`set_random_seed` resets, so one call seeds a whole run.
"""

from __future__ import annotations

import random as _py_random

import numpy as np

_GENERATOR = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed npconv's shared generator (and Python's and NumPy's legacy ones, as Keras does)."""
    global _GENERATOR
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative int. Received: seed={seed!r}")
    _GENERATOR = np.random.default_rng(int(seed))
    _py_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 - seeds user code that uses it


def global_generator() -> np.random.Generator:
    """The shared generator (changes identity when :func:`set_random_seed` is called)."""
    return _GENERATOR


def make_generator(seed=None) -> np.random.Generator:
    """A generator from ``seed``.

    None -> a child of the shared generator; int -> a fresh one; Generator -> itself.
    """
    if seed is None:
        return np.random.default_rng(_GENERATOR.integers(0, 2**63 - 1))
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ValueError(
        "expected seed to be None, a non-negative int or a numpy Generator. "
        f"Received: seed={seed!r}"
    )
