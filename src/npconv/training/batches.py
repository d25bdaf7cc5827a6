"""Batches that come ready-made: Python generators and iterators, Keras's ``PyDataset`` /
``Sequence`` (``len`` and ``[i]``), and other iterables of batches such as a torch
``DataLoader`` -- what Keras's ``fit``, ``evaluate`` and ``predict`` take besides arrays.

Each batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a list counts as a
tuple, as in Keras's ``unpack_x_y_sample_weight``), with arrays or anything NumPy converts
(torch CPU tensors).

Steps per epoch:
- a dataset with ``len`` and ``[i]``: ``len(data)`` batches, in shuffled order when
  ``shuffle=True``; its ``on_epoch_end()`` is called after each epoch, as Keras does;
- an iterable that starts again (a ``DataLoader``): one full pass per epoch;
- a one-shot iterator (a generator): until it is exhausted, or ``steps`` batches per epoch
  from the same iterator; when it runs dry, training stops with a warning, as in Keras.
``steps`` (Keras's ``steps_per_epoch`` / ``steps``) caps the batches per epoch in every case.
"""

from __future__ import annotations

import warnings

import numpy as np

RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset "
           "or generator can generate at least `steps_per_epoch * epochs` batches.")


def is_source(data) -> bool:
    """Whether ``data`` gives batches rather than being the samples (arrays, lists of arrays,
    dicts of arrays, anything with ``__array__``)."""
    if isinstance(data, (np.ndarray, list, tuple, dict, str, bytes)) or hasattr(data,
                                                                               "__array__"):
        return False
    return hasattr(data, "__iter__") or (hasattr(data, "__getitem__")
                                         and hasattr(data, "__len__"))


def unpack(batch):
    """``(x, y, sample_weight)`` of one batch (None for what it does not hold)."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None, None
    if not 1 <= len(batch) <= 3:
        raise ValueError("expected each batch as x, (x,), (x, y) or (x, y, sample_weight). "
                         f"Received a tuple of {len(batch)}")
    return batch + (None,) * (3 - len(batch))


def check_steps(steps, name: str, where: str):
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{where}: expected {name} to be a positive int or None. "
                         f"Received: {name}={steps!r}")
    return int(steps)


class BatchSource:
    """The batches of ``data`` epoch after epoch (see the module docstring).

    ``steps``: batches per epoch at most (None: all). ``where`` names the caller in errors.
    """

    def __init__(self, data, steps=None, shuffle=False, where="fit"):
        self.data, self.steps, self.shuffle, self.where = data, steps, bool(shuffle), where
        self.indexed = (hasattr(data, "__getitem__") and hasattr(data, "__len__")
                        and not hasattr(data, "__next__"))
        self.restarts = self.indexed or iter(data) is not data
        self._iterator = None
        self._warned = False

    @property
    def steps_per_epoch(self) -> int | None:
        """Batches in one epoch, when known in advance (for the progress bar)."""
        length = len(self.data) if hasattr(self.data, "__len__") else None
        if length is not None and self.restarts:
            return length if self.steps is None else min(self.steps, length)
        return self.steps

    def epoch(self, rng=None):
        """The next epoch's batches, unpacked: ``(x, y, sample_weight)``."""
        if self.indexed:
            count = len(self.data)
            order = rng.permutation(count) if self.shuffle and rng is not None else range(count)
            for step, index in enumerate(order):
                if self.steps is not None and step >= self.steps:
                    break
                yield self._unpack(self.data[int(index)])
            return
        if self._iterator is None or (self.restarts and self.steps is None):
            self._iterator = iter(self.data)
        step, fresh = 0, False
        while self.steps is None or step < self.steps:
            try:
                batch = next(self._iterator)
            except StopIteration:
                if self.restarts and self.steps is not None and step and not fresh:
                    self._iterator, fresh = iter(self.data), True  # a DataLoader's next pass
                    continue
                if self.steps is not None and step:
                    self.warn_ran_out()  # a generator that ran dry before `steps` batches
                return
            step, fresh = step + 1, False
            yield self._unpack(batch)

    def end_epoch(self) -> None:
        """Keras's ``PyDataset.on_epoch_end()``, when the dataset has one."""
        hook = getattr(self.data, "on_epoch_end", None)
        if callable(hook):
            hook()

    def _unpack(self, batch):
        try:
            return unpack(batch)
        except ValueError as err:
            raise ValueError(f"{self.where}: {err}") from None

    def warn_ran_out(self) -> None:
        """Keras's warning when the data end before the epochs do (once per run)."""
        if not self._warned:
            self._warned = True
            warnings.warn(RAN_OUT, UserWarning, stacklevel=5)
