"""Stateful Keras-like metrics and a confusion matrix.

A metric accumulates over batches: ``update_state(y_true, y_pred)``, ``result() -> float``,
``reset_state()``, and has the ``name`` Keras reports in ``History`` ("accuracy" when asked
for "accuracy"). The accuracies are means of per-sample 0/1 matches (Keras's
``MeanMetricWrapper``), counted exactly (float64 totals).

    sparse_categorical_accuracy   argmax(y_pred) == y_true                  labels (N,) or (N, 1)
    categorical_accuracy          argmax(y_pred) == argmax(y_true)          one-hot (N, C)
    binary_accuracy               (y_pred > threshold) == y_true, mean over the last axis
    top_k (sparse_)categorical    score of the true class >= the k-th largest score (ties count)
    accuracy                      y_pred == y_true exactly (``keras.metrics.Accuracy``)
    mean_absolute_error ("mae")   mean over the last axis of |y_pred - y_true| (regression)
    precision / recall            TP / (TP + FP) and TP / (TP + FN), counted over every entry
                                  with y_pred > threshold (0.5) as positive (``Precision``)

``get("accuracy", loss=..., output_shape=...)`` picks one of the first three as Keras does.
"""

from __future__ import annotations

import numpy as np

from . import losses as _losses


# ----------------------------------------------------------------------- shape helpers
def _arrays(y_true, y_pred, where):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    for arr, what in ((y_true, "y_true"), (y_pred, "y_pred")):
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{where}: expected a numeric {what}. Received dtype {arr.dtype}")
    return y_true, y_pred


def _sparse_labels(y_true, y_pred, where):
    """Labels of shape ``y_pred.shape[:-1]`` (``(N, 1)`` squeezed) for ``(N, C)`` scores."""
    if y_pred.ndim < 1:
        raise ValueError(f"{where}: expected y_pred with classes on the last axis. "
                         f"Received shape {y_pred.shape}")
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"{where}: expected labels of shape {y_pred.shape[:-1]} for y_pred of "
                         f"shape {y_pred.shape}. Received y_true of shape {y_true.shape}")
    return y_true


def _same_shape(y_true, y_pred, where):
    y_true, y_pred = _losses._squeeze_or_expand(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{where}: expected y_true of the same shape as y_pred {y_pred.shape}. "
                         f"Received y_true of shape {y_true.shape}")
    return y_true, y_pred


# ------------------------------------------------------------- per-sample match functions
def accuracy(y_true, y_pred) -> np.ndarray:
    """1.0 where ``y_pred == y_true`` exactly (labels against labels)."""
    y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, "accuracy"), "accuracy")
    return (y_true == y_pred).astype(np.float64)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per sample: 1.0 where the highest score is the label's class (first index on ties)."""
    where = "sparse_categorical_accuracy"
    y_true, y_pred = _arrays(y_true, y_pred, where)
    labels = _sparse_labels(y_true, y_pred, where)
    return (np.argmax(y_pred, axis=-1) == labels).astype(np.float64)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per sample: 1.0 where ``argmax(y_pred) == argmax(y_true)`` (one-hot targets)."""
    where = "categorical_accuracy"
    y_true, y_pred = _arrays(y_true, y_pred, where)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{where}: expected one-hot y_true of shape {y_pred.shape}. Received "
                         f"shape {y_true.shape} (integer labels need sparse_categorical_accuracy)")
    return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float64)


def binary_accuracy(y_true, y_pred, threshold=0.5) -> np.ndarray:
    """Per sample: the fraction of ``(y_pred > threshold) == y_true`` over the last axis."""
    where = "binary_accuracy"
    y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, where), where)
    matches = (y_pred > threshold).astype(y_true.dtype) == y_true
    if matches.ndim == 0:
        return matches.astype(np.float64)
    return np.mean(matches, axis=-1, dtype=np.float64)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Per sample: ``mean(|y_pred - y_true|)`` over the last axis (regression targets)."""
    where = "mean_absolute_error"
    y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, where), where)
    diff = np.abs(y_pred.astype(np.float64) - y_true)
    return diff if diff.ndim <= 1 else np.mean(diff, axis=-1)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Per sample: ``mean((y_pred - y_true)^2)`` over the last axis (regression targets)."""
    where = "mean_squared_error"
    y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, where), where)
    diff = np.square(y_pred.astype(np.float64) - y_true)
    return diff if diff.ndim <= 1 else np.mean(diff, axis=-1)


def _in_top_k(labels, y_pred, k):
    n_classes = y_pred.shape[-1]
    if k >= n_classes:
        return np.ones(labels.shape, dtype=np.float64)
    kth = np.partition(y_pred, n_classes - k, axis=-1)[..., n_classes - k]
    true_score = np.take_along_axis(y_pred, labels[..., None].astype(np.int64), axis=-1)[..., 0]
    return (true_score >= kth).astype(np.float64)


def _check_labels_range(labels, n_classes, where):
    labels = np.asarray(labels)
    if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):
        raise ValueError(f"{where}: expected integer class labels. Received non-integer floats")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{where}: expected labels in [0, {n_classes}). Received labels in "
                         f"[{labels.min()}, {labels.max()}]")
    return labels


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5) -> np.ndarray:
    """Per sample: 1.0 where the label's score is among the ``k`` largest."""
    where = "sparse_top_k_categorical_accuracy"
    y_true, y_pred = _arrays(y_true, y_pred, where)
    labels = _check_labels_range(_sparse_labels(y_true, y_pred, where), y_pred.shape[-1], where)
    return _in_top_k(labels, y_pred, k)


def top_k_categorical_accuracy(y_true, y_pred, k=5) -> np.ndarray:
    """Per sample: 1.0 where the one-hot class's score is among the ``k`` largest."""
    where = "top_k_categorical_accuracy"
    y_true, y_pred = _arrays(y_true, y_pred, where)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{where}: expected one-hot y_true of shape {y_pred.shape}. Received "
                         f"shape {y_true.shape}")
    return _in_top_k(np.argmax(y_true, axis=-1), y_pred, k)


# ----------------------------------------------------------------------------- metrics
class Metric:
    """Base class: a running weighted mean of per-sample values."""

    def __init__(self, name: str):
        self.name = name
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def _accumulate(self, values: np.ndarray, sample_weight=None) -> None:
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            self.total += float(np.sum(values))
            self.count += values.size
            return
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.ndim and values.ndim and sw.shape != values.shape:
            if sw.shape != values.shape[:1]:
                raise ValueError(f"{self.name}: expected sample_weight of shape "
                                 f"{values.shape[:1]} or {values.shape}. Received {sw.shape}")
            sw = sw.reshape(sw.shape + (1,) * (values.ndim - 1))
        sw = np.broadcast_to(sw, values.shape)
        self.total += float(np.sum(values * sw))
        self.count += float(np.sum(sw))

    def result(self) -> float:
        """The mean so far (0.0 before any update, as Keras)."""
        return self.total / self.count if self.count else 0.0

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, result={self.result():.6g}>"


class Mean(Metric):
    """The (weighted) mean of the values given; the fit loop's loss tracker."""

    def __init__(self, name: str = "mean"):
        super().__init__(name)

    def update_state(self, values, sample_weight=None) -> None:
        self._accumulate(values, sample_weight)


class MeanMetricWrapper(Metric):
    """Mean over samples of ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn, name: str | None = None, **kwargs):
        self.fn = fn
        self._fn_kwargs = kwargs
        super().__init__(name or getattr(fn, "__name__", "metric"))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        self._accumulate(self.fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, **self._fn_kwargs}


class Accuracy(MeanMetricWrapper):
    def __init__(self, name="accuracy"):
        super().__init__(accuracy, name)

    def get_config(self):
        return {"name": self.name}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


class CategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name, threshold=threshold)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        _check_k(k, type(self).__name__)
        super().__init__(top_k_categorical_accuracy, name, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        _check_k(k, type(self).__name__)
        super().__init__(sparse_top_k_categorical_accuracy, name, k=k)


class MeanAbsoluteError(MeanMetricWrapper):
    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name)


class MeanSquaredError(MeanMetricWrapper):
    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name)


class RootMeanSquaredError(Metric):
    """``sqrt`` of the (weighted) mean of the squared errors of every entry seen, as Keras's
    (the root of the running mean, not a mean of per-batch roots)."""

    def __init__(self, name="root_mean_squared_error"):
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        where = self.name
        y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, where), where)
        self._accumulate(np.square(y_pred.astype(np.float64) - y_true), sample_weight)

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class _ConfusionCounts(Metric):
    """True/false positives and false negatives of ``y_pred > threshold`` against
    ``y_true != 0``, summed over batches and over every entry (Keras's binary and multi-label
    counting); ``class_id`` counts only that column of the last axis. ``thresholds``: None
    (0.5), a number, or a list of numbers (then ``result()`` is a list, one per threshold)."""

    def __init__(self, thresholds=None, class_id=None, name=None):
        where = type(self).__name__
        self.init_thresholds = thresholds
        items = [0.5] if thresholds is None else (
            list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds])
        if not items or not all(isinstance(t, (int, float, np.integer, np.floating))
                                and not isinstance(t, bool) and 0 <= t <= 1 for t in items):
            raise ValueError(f"{where}: expected thresholds to be None, a number in [0, 1] or "
                             f"a list of them. Received: thresholds={thresholds!r}")
        self.thresholds = np.array(items, dtype=np.float64)
        if class_id is not None and (not isinstance(class_id, (int, np.integer))
                                     or isinstance(class_id, bool) or class_id < 0):
            raise ValueError(f"{where}: expected class_id to be None or a non-negative int. "
                             f"Received: class_id={class_id!r}")
        self.class_id = None if class_id is None else int(class_id)
        super().__init__(name or where.lower())  # "precision", "recall"

    def reset_state(self) -> None:
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        where = self.name
        y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, where), where)
        if self.class_id is not None:
            if y_pred.ndim == 0 or self.class_id >= y_pred.shape[-1]:
                raise ValueError(f"{where}: class_id={self.class_id} needs y_pred with more than "
                                 f"{self.class_id} entries on its last axis. Received y_pred of "
                                 f"shape {y_pred.shape}")
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        if sample_weight is None:
            weight = np.ones(y_pred.shape)
        else:
            weight = np.asarray(sample_weight, dtype=np.float64)
            if weight.ndim and weight.shape != y_pred.shape:
                if y_pred.ndim == 0 or weight.shape != y_pred.shape[:1]:
                    raise ValueError(f"{where}: expected sample_weight of shape "
                                     f"{y_pred.shape[:1]} or {y_pred.shape}. Received "
                                     f"{weight.shape}")
                weight = weight.reshape(weight.shape + (1,) * (y_pred.ndim - 1))
            weight = np.broadcast_to(weight, y_pred.shape)
        positive = (y_true != 0).reshape(-1)
        weight = weight.reshape(-1)
        predicted = y_pred.reshape(1, -1) > self.thresholds[:, None]  # (thresholds, entries)
        self.true_positives += (predicted & positive) @ weight
        self.false_positives += (predicted & ~positive) @ weight
        self.false_negatives += (~predicted & positive) @ weight

    def _ratio(self, denominator_extra):
        denominator = self.true_positives + denominator_extra
        values = np.divide(self.true_positives, denominator, out=np.zeros_like(denominator),
                           where=denominator != 0)  # 0 without any counts, as Keras
        if isinstance(self.init_thresholds, (list, tuple)):
            return [float(v) for v in values]
        return float(values[0])

    def get_config(self) -> dict:
        thresholds = self.init_thresholds
        if isinstance(thresholds, tuple):
            thresholds = list(thresholds)
        return {"name": self.name, "thresholds": thresholds, "class_id": self.class_id}


class Precision(_ConfusionCounts):
    """Keras's ``Precision``: ``TP / (TP + FP)`` of ``y_pred > threshold`` (0.5) against
    ``y_true != 0``, over every entry (binary or multi-label probabilities) or, with
    ``class_id``, that column only. 0.0 before any predicted positive."""

    def result(self):
        return self._ratio(self.false_positives)


class Recall(_ConfusionCounts):
    """Keras's ``Recall``: ``TP / (TP + FN)`` of ``y_pred > threshold`` (0.5) against
    ``y_true != 0``, over every entry or, with ``class_id``, that column only. 0.0 before any
    positive label."""

    def result(self):
        return self._ratio(self.false_negatives)


def _check_k(k, where):
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"{where}: expected k to be an int >= 1. Received: k={k!r}")


class _AutoAccuracy(MeanMetricWrapper):
    """"accuracy" whose kind is chosen on the first batch from the shapes, as Keras 3 does:
    binary if y_pred's last axis is 1, sparse if y_true has fewer axes (or a last axis of 1),
    categorical otherwise."""

    def __init__(self, name="accuracy"):
        super().__init__(self._resolve, name)
        self.kind = None

    def _resolve(self, y_true, y_pred):
        if self.kind is None:
            self.kind = _accuracy_kind(np.shape(y_true), np.shape(y_pred))
        return _ACCURACY_FNS[self.kind](y_true, y_pred)


_ACCURACY_FNS = {"binary": binary_accuracy, "sparse": sparse_categorical_accuracy,
                 "categorical": categorical_accuracy}
_ACCURACY_CLASSES = {"binary": BinaryAccuracy, "sparse": SparseCategoricalAccuracy,
                     "categorical": CategoricalAccuracy}
_LOSS_TO_KIND = {"sparse_categorical_crossentropy": "sparse",
                 "categorical_crossentropy": "categorical", "binary_crossentropy": "binary"}


def _accuracy_kind(y_true_shape, y_pred_shape):
    if y_pred_shape and y_pred_shape[-1] == 1:
        return "binary"
    if y_true_shape is not None and (
        len(y_true_shape) < len(y_pred_shape) or (y_true_shape and y_true_shape[-1] == 1)
    ):
        return "sparse"
    return "categorical"


_BY_NAME = {
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "binary_accuracy": BinaryAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean": Mean,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
    "precision": Precision,
    "recall": Recall,
}
_BY_CLASS_NAME = {cls.__name__: cls for cls in (*_BY_NAME.values(), Accuracy)}


def get(identifier, loss=None, output_shape=None, y_true_shape=None) -> Metric:
    """A Metric from a name, a Metric instance or class, or a function ``f(y_true, y_pred)``.

    "accuracy" / "acc" becomes the accuracy that fits the task (named as asked): from the
    ``loss`` (sparse / categorical / binary cross-entropy), else from ``output_shape`` (last
    axis 1: binary) and ``y_true_shape``, else decided on the first batch. Names of losses
    ("mse", ...) give the mean of that loss.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            kind = None
            loss_obj = _losses.get(loss) if loss is not None else None
            if loss_obj is not None:
                kind = _LOSS_TO_KIND.get(loss_obj._default_name)
            if kind is None and output_shape is not None:
                output_shape = tuple(output_shape)
                if output_shape[-1] == 1 or y_true_shape is not None:
                    kind = _accuracy_kind(y_true_shape, output_shape)
            if kind is None:
                return _AutoAccuracy(name=identifier)
            return _ACCURACY_CLASSES[kind](name=identifier)
        if key in _BY_NAME:
            return _BY_NAME[key](name=identifier)
        if identifier in _BY_CLASS_NAME:
            return _BY_CLASS_NAME[identifier]()
        try:
            loss_obj = _losses.get(identifier)
        except ValueError:
            known = sorted(["accuracy", "acc", *_BY_NAME, *_BY_CLASS_NAME])
            raise ValueError(f"metrics.get: unknown metric {identifier!r}. Known: {known} and "
                             "the loss names") from None
        return MeanMetricWrapper(loss_obj.call, name=identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier)
    raise ValueError(f"metrics.get: could not interpret metric identifier {identifier!r}")


def confusion_matrix(y_true, y_pred, num_classes=None) -> np.ndarray:
    """``(C, C)`` int64 counts: row = true class, column = predicted class.

    y_true: integer labels ``(N,)`` (or one-hot ``(N, C)``). y_pred: integer labels ``(N,)`` or
    scores ``(N, C)`` (their argmax is the prediction). ``num_classes`` defaults to
    ``max(label) + 1``. One ``np.bincount``, no loop over samples.
    """
    where = "confusion_matrix"
    y_true, y_pred = _arrays(y_true, y_pred, where)
    if y_pred.ndim == 2 and y_true.ndim == 1:
        y_pred = np.argmax(y_pred, axis=-1)
    if y_true.ndim == 2 and y_true.shape == y_pred.shape:
        y_true, y_pred = np.argmax(y_true, axis=-1), np.argmax(y_pred, axis=-1)
    if y_true.ndim == 2 and y_pred.ndim == 1:
        y_true = np.argmax(y_true, axis=-1)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape:
        raise ValueError(f"{where}: expected y_true and y_pred as labels of the same length "
                         f"(N,) (or (N, C) scores). Received shapes {y_true.shape} and "
                         f"{y_pred.shape}")
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    elif not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"{where}: expected num_classes to be an int >= 1. Received: "
                         f"num_classes={num_classes!r}")
    t = _check_labels_range(y_true, num_classes, where)
    p = _check_labels_range(y_pred, num_classes, where)
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)
