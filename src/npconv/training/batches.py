"""The batches of an epoch, as Keras's ``EpochIterator`` gives them, from arrays or from
batches that come ready-made: Python generators and iterators, Keras's ``PyDataset`` /
``Sequence`` (``len`` and ``[i]``), and other iterables of batches such as a torch
``DataLoader`` -- what Keras's ``fit``, ``evaluate`` and ``predict`` take.

A ready-made batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)`` (a list counts
as a tuple, as in Keras's ``unpack_x_y_sample_weight``), with arrays or anything NumPy
converts (torch CPU tensors).

Steps (Keras's rules):
- without ``steps``: each epoch is one full pass (arrays and ``[i]`` datasets in a new
  shuffled order when ``shuffle``; an iterable gives a new iterator; a one-shot generator
  runs until it is exhausted, and the epochs after that find no batch: ``fit`` then stops
  with Keras's "ran out of data" warning);
- with ``steps`` (``steps_per_epoch``, ``validation_steps``, ``steps``): each epoch takes the
  next ``steps`` batches of the same pass, which carries on across epochs; when the pass
  ends early the epoch stops there with Keras's "ran out of data" warning, and the next
  epoch starts a new pass.
A dataset's ``on_epoch_begin()`` and ``on_epoch_end()`` are called around each epoch, as
Keras does.
"""

from __future__ import annotations

import collections
import math
import operator
import os
import sys
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


class LazyGenerator:
    """``npconv.random.make_generator(seed)``, made at the first draw: a run-wide seed
    (``seed=None``) is then drawn after the weights a model builds from its first batch, in
    the order fit has always used (so a seed reproduces the same run)."""

    def __init__(self, seed=None):
        from ..random import make_generator

        self._make, self._seed = make_generator, seed
        self._rng = None if seed is None else make_generator(seed)  # (checks the seed)

    def permutation(self, n):
        if self._rng is None:
            self._rng = self._make(self._seed)
        return self._rng.permutation(n)


# ---------------------------------------------------------------------------- adapters
class ArrayBatches:
    """Batches of ``(x, y, sample_weight)`` arrays (x and y: an array or a list of arrays;
    y None for predict),
    ``batch_size`` samples each, a new order per pass when ``shuffle`` (drawn from ``rng``)."""

    def __init__(self, x, y, sample_weight, batch_size, shuffle=False, rng=None):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.shuffle, self.rng = shuffle, rng
        self.n = len(x[0]) if isinstance(x, list) else len(x)
        self.batch_size = batch_size
        self.num_batches = math.ceil(self.n / batch_size)

    def passes(self):
        """A new pass over the batches."""
        order = self.rng.permutation(self.n) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            sl = slice(start, min(start + self.batch_size, self.n))
            idx = order[sl] if order is not None else sl
            sw = None if self.sample_weight is None else self.sample_weight[idx]
            yield take(self.x, idx), None if self.y is None else take(self.y, idx), sw

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


class DatasetBatches:
    """A Keras ``PyDataset``: ``len(data)`` batches, ``data[i]`` the i-th; a new (shuffled
    when ``shuffle``) order of the batches per pass.

    With ``data.workers > 1`` (Keras's loading option) the batches are read by that many
    threads, up to ``max(workers, data.max_queue_size)`` batches ahead of training, and
    still given in order; ``use_multiprocessing`` reads with threads as well. The threads
    never read past the end of the epoch under way (:attr:`read_limit`): a dataset that
    changes in ``on_epoch_end`` / ``on_epoch_begin`` gives the same batches as with one
    reader."""

    def __init__(self, data, shuffle=False, rng=None):
        self.data, self.shuffle, self.rng = data, shuffle, rng
        self.num_batches = len(data)
        self.workers = _loading_option(data, "workers", 1, minimum=0)
        self.ahead = max(self.workers, _loading_option(data, "max_queue_size", 10, minimum=1))
        #: batches of the current pass that may be read by the end of this epoch (None: all);
        #: set by :class:`EpochIterator` at each epoch
        self.read_limit = None

    def passes(self):
        count = len(self.data)
        order = self.rng.permutation(count) if self.shuffle and self.rng is not None else None
        indices = (int(order[i]) if order is not None else i for i in range(count))
        if self.workers <= 1:
            for i in indices:
                yield self.data[i]
        else:
            yield from _read_ahead(self.data, indices, self.workers, self.ahead,
                                   lambda: self.read_limit)

    def on_epoch_begin(self) -> None:
        hook = getattr(self.data, "on_epoch_begin", None)
        if callable(hook):
            hook()

    def on_epoch_end(self) -> None:
        hook = getattr(self.data, "on_epoch_end", None)
        if callable(hook):
            hook()


def _loading_option(data, name, default, minimum):
    """``data.<name>`` (a PyDataset's ``workers`` or ``max_queue_size``) as an int, checked."""
    value = getattr(data, name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{type(data).__name__}: expected {name} to be an int >= {minimum}. "
                         f"Received: {name}={value!r}")
    return int(value)


def _read_ahead(data, indices, workers, ahead, limit):
    """``data[i]`` for each of ``indices``, in order, read by ``workers`` threads at most
    ``ahead`` batches ahead and never beyond the first ``limit()`` batches of the pass (None:
    no end; asked again at each batch, as an epoch raises it). A batch's error is raised
    where that batch is due; when the pass is closed early, the batches not yet started are
    cancelled and the running ones awaited, so no thread outlives the pass."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="npconv-batches")
    pending = collections.deque()
    started = 0

    def start_more():
        nonlocal started
        end = limit()
        while len(pending) < ahead and (end is None or started < end):
            i = next(indices, None)
            if i is None:
                return
            pending.append(pool.submit(operator.getitem, data, i))
            started += 1

    try:
        while True:
            start_more()
            if not pending:
                return
            batch = pending.popleft().result()
            start_more()
            yield batch
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


class IterableBatches:
    """An iterable of batches: one that starts again at each ``iter()`` (a DataLoader, whose
    ``len`` is its batches) or a one-shot iterator (a generator: length unknown)."""

    def __init__(self, data):
        self.data = data
        self.num_batches = None
        self.one_shot = iter(data) is data
        if not self.one_shot and hasattr(data, "__len__"):
            try:  # (a DataLoader over an IterableDataset has __len__ but raises TypeError)
                self.num_batches = len(data)
            except TypeError:
                pass

    def passes(self):
        return iter(self.data)

    def on_epoch_begin(self) -> None:
        pass

    def on_epoch_end(self) -> None:
        pass


def adapter_for(data, shuffle=False, rng=None):
    """The adapter of ready-made batches ``data`` (see :func:`is_source`)."""
    if (hasattr(data, "__getitem__") and hasattr(data, "__len__")
            and not hasattr(data, "__next__")):
        return DatasetBatches(data, shuffle, rng)
    return IterableBatches(data)


def take(x, idx):
    """Samples ``idx`` of ``x``, an array or a list of arrays (several inputs or outputs)."""
    return [a[idx] for a in x] if isinstance(x, list) else x[idx]


# ---------------------------------------------------------------------------- epochs
class EpochIterator:
    """The batches of each epoch from an adapter, with ``steps`` per epoch or full passes
    (the module docstring gives the rules). ``unpacked``: ready-made batches are unpacked
    into ``(x, y, sample_weight)`` (arrays' batches already are)."""

    def __init__(self, adapter, steps=None, where="fit", unpacked=False):
        self.adapter, self.steps, self.where = adapter, steps, where
        self.num_batches = adapter.num_batches  # None until a one-shot pass has ended
        self._unpack_batches = unpacked
        self._pass = None
        self._seen = 0
        self._warned = False

    @property
    def one_shot(self) -> bool:
        """Whether the batches come from a one-shot iterator (a generator)."""
        return getattr(self.adapter, "one_shot", False)

    @property
    def steps_per_epoch(self) -> int | None:
        """Batches in one epoch when known in advance (callbacks' ``params["steps"]``, the
        progress bar's total): ``steps`` when given, as Keras, else one pass's."""
        return self.steps if self.steps is not None else self.num_batches

    def epoch(self):
        """The next epoch's batches, ``(x, y, sample_weight)`` each."""
        self.adapter.on_epoch_begin()
        if self.steps is None or self._pass is None:
            self._pass, self._seen = iter(self.adapter.passes()), 0
        if hasattr(self.adapter, "read_limit"):  # read ahead no further than this epoch
            self.adapter.read_limit = None if self.steps is None else self._seen + self.steps
        taken = 0
        while self.steps is None or taken < self.steps:
            if self.num_batches is not None and self._seen >= self.num_batches:
                if self.steps is not None:
                    self.warn_ran_out()
                break
            try:
                batch = next(self._pass)
            except StopIteration:
                if self.num_batches is None:
                    self.num_batches = self._seen  # a one-shot pass: now its length is known
                if self.steps is not None and taken:  # (with none, the caller says what)
                    self.warn_ran_out()
                self._pass = None
                break
            self._seen += 1
            taken += 1
            yield self._unpack(batch) if self._unpack_batches else batch
        if self.num_batches is not None and self._seen >= self.num_batches:
            self._pass = None  # the pass is done: the next epoch starts a new one
        self.adapter.on_epoch_end()

    def close(self) -> None:
        """End the pass under way (fit, evaluate and predict call it when they return or
        raise): a PyDataset's read-ahead threads stop now, not when the garbage collector
        finds the pass (an exception's traceback keeps it alive, in a notebook until the
        next error). A user's iterator (a generator, a DataLoader's) is left as it is."""
        current, self._pass = self._pass, None
        if current is not None and not isinstance(self.adapter, IterableBatches):
            current.close()

    def _unpack(self, batch):
        try:
            return unpack(batch)
        except ValueError as err:
            raise ValueError(f"{self.where}: {err}") from None

    def warn_ran_out(self) -> None:
        """Keras's warning when the data end before the steps do (once per run), shown at
        the user's line that called fit/evaluate/predict."""
        if self._warned:
            return
        self._warned = True
        frame, level = sys._getframe(0), 1
        while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
            frame, level = frame.f_back, level + 1
        warnings.warn(RAN_OUT, UserWarning, stacklevel=level)


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
