"""Keras's ``utils``: seeding, one-hot labels, normalizing, clearing layer names, the
``PyDataset`` base class of datasets that give their batches by index, and the image
utilities (``image_dataset_from_directory``, ``load_img``, ``img_to_array``,
``array_to_img``, ``save_img``: :mod:`npconv.datasets.images`, imported on first use), and
``plot_model`` / ``model_to_dot`` (:mod:`npconv.viz.model_plot`, imported on first use), and
the ``keras.saving`` functions Keras 3 also has here (``custom_object_scope``,
``register_keras_serializable``, ``get_custom_objects``, ...: :mod:`npconv.saving`)."""

from __future__ import annotations

import numpy as np

from .layers.base import reset_name_counters
from .random import set_random_seed

_IMAGE_UTILS = ("image_dataset_from_directory", "load_img", "img_to_array", "array_to_img",
                "save_img")

_PLOT_UTILS = ("plot_model", "model_to_dot")

#: Keras 3's ``keras.utils`` aliases of ``keras.saving`` (:mod:`npconv.saving`).
_SAVING_UTILS = ("custom_object_scope", "get_custom_objects", "register_keras_serializable",
                 "serialize_keras_object", "deserialize_keras_object", "get_registered_object")

__all__ = ["set_random_seed", "to_categorical", "normalize", "clear_session", "PyDataset",
           "Sequence", *_IMAGE_UTILS, *_PLOT_UTILS, *_SAVING_UTILS]


def __getattr__(name):
    if name in _IMAGE_UTILS:  # (not at import: they are not needed to train on arrays)
        from .datasets import images

        value = getattr(images, name)
        globals()[name] = value
        return value
    if name in _PLOT_UTILS:
        from .viz import model_plot

        value = getattr(model_plot, name)
        globals()[name] = value
        return value
    if name in _SAVING_UTILS:
        from . import saving

        value = getattr(saving, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'npconv.utils' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def to_categorical(y, num_classes=None, dtype="float32") -> np.ndarray:
    """One-hot encode integer labels ``y`` of any shape into ``shape + (num_classes,)``.

    Keras's rule for the shape: a trailing axis of 1 on an array of rank >= 2 is dropped
    first, so labels (N, 1) give (N, num_classes) as labels (N,) do, and (N, T) give
    (N, T, num_classes). ``num_classes`` defaults to ``max(y) + 1``.
    """
    if num_classes is not None and (not isinstance(num_classes, (int, np.integer))
                                    or isinstance(num_classes, bool) or num_classes < 1):
        raise ValueError(f"to_categorical: expected num_classes to be a positive int or None. "
                         f"Received: num_classes={num_classes!r}")
    y = np.asarray(y)
    shape = y.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)  # float labels holding whole numbers (e.g. read from a CSV)
    elif y.dtype.kind == "b":
        y = y.astype(np.int64)  # False -> 0, True -> 1, as Keras's cast to int
    if y.dtype.kind not in "iu":
        raise ValueError(f"to_categorical: expected integer labels. Received shape {y.shape} "
                         f"and dtype {y.dtype}")
    flat = y.reshape(-1)
    if num_classes is None:
        num_classes = int(flat.max()) + 1 if flat.size else 0
    if flat.size and (flat.min() < 0 or flat.max() >= num_classes):
        raise ValueError(f"to_categorical: labels must be in [0, {num_classes}). Received labels "
                         f"from {flat.min()} to {flat.max()}")
    out = np.zeros((flat.shape[0], num_classes), dtype=dtype)
    out[np.arange(flat.shape[0]), flat] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis=-1, order=2) -> np.ndarray:
    """``x`` divided by its ``order``-norm along ``axis`` (Keras's ``utils.normalize``); slices
    whose norm is 0 stay as they are. Floating-point input keeps its dtype."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"normalize: expected numbers. Received dtype {x.dtype}")
    if x.ndim == 0:
        raise ValueError("normalize: expected an array with at least one axis. Received a "
                         "single value")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"normalize: axis {axis} is out of range for an input of shape "
                         f"{x.shape}")
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    norm[norm == 0] = 1
    return (x / norm).astype(x.dtype, copy=False)


def clear_session() -> None:
    """Restart automatic layer names (``conv2d``, ``conv2d_1`` ...) as Keras's clear_session."""
    reset_name_counters()


class PyDataset:
    """Base class of a dataset that gives its batches by index, as Keras's
    ``keras.utils.PyDataset``: define ``__len__`` (batches per epoch) and ``__getitem__(i)``
    (batch i: ``x``, ``(x, y)`` or ``(x, y, sample_weight)``), optionally ``on_epoch_begin``
    and ``on_epoch_end``; pass it to ``fit``/``evaluate``/``predict`` as ``x``.

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are Keras's loading options:
    with ``workers > 1``, ``fit``, ``evaluate`` and ``predict`` read the batches in that many
    threads, up to ``max(workers, max_queue_size)`` batches ahead, and still take them in
    order (for loading that waits on files or decoding; ``__getitem__`` must then be safe to
    call from several threads at once). ``use_multiprocessing=True`` reads with threads
    too: npconv starts no loader processes.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: a PyDataset defines "
                                  "__getitem__(index), which returns batch `index`")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__}: a PyDataset defines __len__, "
                                  "the number of batches")

    @property
    def num_batches(self) -> int:
        """Batches per epoch (Keras's ``num_batches``): ``len(self)``."""
        return len(self)

    def on_epoch_begin(self) -> None:
        """Called before each epoch (Keras's hook); nothing by default."""

    def on_epoch_end(self) -> None:
        """Called after each epoch (Keras's hook, e.g. to reshuffle); nothing by default."""


#: Keras 2's name of :class:`PyDataset`.
Sequence = PyDataset
