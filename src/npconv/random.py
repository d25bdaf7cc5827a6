"""The run-wide random generator.

Every random thing in npconv (weight initialisation, dropout masks, shuffling) draws from a
``numpy.random.Generator``. Objects that take ``seed=`` get their own generator; the others
share this module's, which :func:`set_random_seed` resets, so one call seeds a whole run.
"""

from __future__ import annotations

import numpy as np

# Created on first use: importing numpy.random costs ~6 MB of memory (it loads libcrypto for
# its seeding), which npconv's helper processes, whose weights come from their parent, never need.
_GENERATOR = None


def set_random_seed(seed: int) -> None:
    """Seed npconv's shared generator (and Python's and NumPy's legacy ones, as Keras does)."""
    global _GENERATOR
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative int. Received: seed={seed!r}")
    import random  # Python's (imported here: it loads hashlib's libcrypto)

    _GENERATOR = np.random.default_rng(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 - seeds user code that uses it


def global_generator() -> np.random.Generator:
    """The shared generator (changes identity when :func:`set_random_seed` is called)."""
    global _GENERATOR
    if _GENERATOR is None:
        _GENERATOR = np.random.default_rng()
    return _GENERATOR


def make_generator(seed=None) -> np.random.Generator:
    """A generator from ``seed``.

    None -> a child of the shared generator; int -> a fresh one; Generator -> itself.
    """
    if seed is None:
        return np.random.default_rng(global_generator().integers(0, 2**63 - 1))
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ValueError(
        "expected seed to be None, a non-negative int or a numpy Generator. "
        f"Received: seed={seed!r}"
    )
