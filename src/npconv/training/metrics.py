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
    cosine_similarity             cos(y_true, y_pred) along an axis (the loss of that name is -cos)
    precision / recall            TP / (TP + FP) and TP / (TP + FN), counted over every entry
                                  with y_pred > threshold (0.5) as positive (``Precision``)
    auc                           area under the ROC or PR curve from counts at fixed thresholds,
                                  summed over batches (``AUC``, Keras's bucket counting)

``get("accuracy", loss=..., output_shape=...)`` picks one of the first three as Keras does.

Keras 3's other metrics live beside this module and are reached through it: the confusion
counts and the At-metrics (``confusion_metrics``), F-scores (``fscore_metrics``), IoUs
(``iou_metrics``), R2 (``regression_metrics``) and the means of losses (``loss_metrics``).
"""

from __future__ import annotations

import functools

import numpy as np

from ..layers.base import _snake_case
from ..tensor import as_result
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


def cosine_similarity(y_true, y_pred, axis=-1) -> np.ndarray:
    """Per sample: the cosine of the angle between ``y_true`` and ``y_pred`` along ``axis``
    (Keras's metric; the loss ``cosine_similarity`` is its negative)."""
    return -_losses.cosine_similarity(y_true, y_pred, axis=axis)


def _in_top_k(labels, y_pred, k):
    n_classes = y_pred.shape[-1]
    if k >= n_classes:
        return np.ones(labels.shape, dtype=np.float64)
    kth = np.partition(y_pred, n_classes - k, axis=-1)[..., n_classes - k]
    true_score = np.take_along_axis(y_pred, labels[..., None].astype(np.int64), axis=-1)[..., 0]
    return (true_score >= kth).astype(np.float64)


def _check_labels_range(labels, n_classes, where, what=None):
    """``labels`` as int64 labels in ``[0, n_classes)``, else a ValueError naming ``where``
    (and ``what``, the argument they came in, when given)."""
    labels = np.asarray(labels)
    of = f" in {what}" if what else ""
    if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):
        raise ValueError(f"{where}: expected integer class labels{of}. Received non-integer "
                         "floats")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"{where}: expected labels in [0, {n_classes}){of}. Received labels "
                         f"in [{labels.min()}, {labels.max()}]")
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
def _result_as_tensor(result):
    """``result`` (a metric's method) returning what Keras code reads with ``.numpy()``."""
    if getattr(result, "_npconv_result", False):
        return result

    @functools.wraps(result)
    def wrapped(self):
        return as_result(result(self))

    wrapped._npconv_result = True
    return wrapped


class Metric:
    """Base class: a running weighted mean of per-sample values.

    A Keras-style subclass makes its state in ``__init__`` with :meth:`add_variable` (or
    :meth:`add_weight`) after ``super().__init__(name=name, **kwargs)``, and defines
    ``update_state``, ``result`` and, if it likes, ``reset_state`` (by default every variable
    goes back to its initial value). The variables are NumPy-backed (``assign``,
    ``assign_add``, ``value``, ``numpy()``; they read as arrays), so ``update_state`` is
    written with NumPy.

    ``_direction`` (a class or instance attribute, as Keras's): ``"up"`` for a metric that
    grows as the model improves, ``"down"`` for one that shrinks; the callbacks' ``mode="auto"``
    reads it, and refuses a monitored metric that has none (the counts, ``Mean``, a function).
    """

    def __init_subclass__(cls, **kwargs):
        # every subclass's result(), a user's Keras-style one too, gives a Scalar or a Tensor
        super().__init_subclass__(**kwargs)
        if "result" in cls.__dict__:
            cls.result = _result_as_tensor(cls.__dict__["result"])

    def __init__(self, name: str | None = None, dtype=None):
        self.name = name or _snake_case(type(self).__name__)
        self.dtype = np.dtype(dtype or "float32")
        self._variables: list = []
        self._initial_values: list = []
        # Not the subclass's reset_state: as in Keras, a subclass's may read variables that
        # its __init__ makes after this call (nor a metric it wraps: CompiledMetric's).
        self.total = 0.0
        self.count = 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0
        for variable, initial in zip(self._variables, self._initial_values, strict=True):
            variable.assign(initial)
        # Keras's default resets the variables of the metrics this one holds too (an F1
        # built from a Precision and a Recall, without a reset_state of its own)
        for metric in self._sub_metrics():
            metric.reset_state()

    def _sub_metrics(self) -> list:
        """The Metric objects held in this one's attributes (directly or in a list, tuple
        or dict), as Keras's tracker finds them."""
        found = []
        for value in vars(self).values():
            items = (value.values() if isinstance(value, dict)
                     else value if isinstance(value, (list, tuple)) else (value,))
            found.extend(v for v in items if isinstance(v, Metric) and v is not self)
        return found

    @property
    def variables(self) -> list:
        """The variables made by :meth:`add_variable`, in order, then those of the metrics
        this one holds (Keras's order)."""
        return [*self._variables, *(v for m in self._sub_metrics() for v in m.variables)]

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum",
                     name=None):
        """A state variable (Keras's ``Metric.add_variable``): a non-trainable weight of
        ``shape`` filled by ``initializer`` (a name such as ``"zeros"``, an initializer, or a
        callable ``f(shape, dtype)``), reset to that value by the default ``reset_state``."""
        from ..initializers import Initializer
        from ..initializers import get as get_initializer
        from ..layers.base import Weight

        where = f"{self.name}.add_variable"
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        if not (isinstance(shape, (tuple, list)) and all(
                isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0
                for d in shape)):
            raise TypeError(f"{where}: expected shape to be a tuple of ints >= 0. Received: "
                            f"shape={shape!r}")
        shape = tuple(int(d) for d in shape)
        dtype = np.dtype(dtype or self.dtype)
        if initializer is None:
            initializer = "zeros"
        if isinstance(initializer, (str, dict)):
            initializer = get_initializer(initializer, where)
        if not callable(initializer):
            raise TypeError(f"{where}: expected initializer to be a name, an initializer or a "
                            f"callable f(shape, dtype). Received: initializer={initializer!r}")
        value = (initializer(shape, dtype) if isinstance(initializer, Initializer)
                 else np.asarray(initializer(shape, dtype), dtype=dtype))
        value = np.array(np.broadcast_to(value, shape), dtype=dtype)
        variable = Weight(name or f"variable_{len(self._variables)}", value, trainable=False)
        self._variables.append(variable)
        self._initial_values.append(value.copy())
        return variable

    def add_weight(self, name=None, shape=(), initializer="zeros", dtype=None):
        """Keras's older name for :meth:`add_variable` (``name`` first)."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    def _accumulate(self, values: np.ndarray, sample_weight=None) -> None:
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            self.total += float(np.sum(values))
            self.count += values.size
            return
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.ndim and values.ndim and sw.shape != values.shape:
            if sw.shape != values.shape[:1]:
                forms = (str(values.shape) if values.ndim == 1
                         else f"{values.shape[:1]} or {values.shape}")
                raise ValueError(f"{self.name}: expected sample_weight of shape {forms}. "
                                 f"Received {sw.shape}")
            sw = sw.reshape(sw.shape + (1,) * (values.ndim - 1))
        sw = np.broadcast_to(sw, values.shape)
        self.total += float(np.sum(values * sw))
        self.count += float(np.sum(sw))

    @_result_as_tensor
    def result(self) -> float:
        """The mean so far (0.0 before any update, as Keras); as every metric's result, one
        number comes as :class:`npconv.tensor.Scalar` (a float with Keras's ``numpy()``),
        several as :class:`npconv.tensor.Tensor`."""
        return self.total / self.count if self.count else 0.0

    def __call__(self, *args, **kwargs):
        """Keras's ``metric(y_true, y_pred)``: :meth:`update_state` with these arguments,
        then the :meth:`result` so far (the state keeps accumulating)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        result = self.result()
        if np.ndim(result):  # one value per threshold or per class
            shown = "[" + ", ".join(f"{float(v):.6g}" for v in np.ravel(result)) + "]"
        else:
            shown = f"{float(result):.6g}"
        return f"<{type(self).__name__} name={self.name}, result={shown}>"


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
        # Keras's get_object_name: the callable's name, its __name__, else its class's
        super().__init__(name or getattr(fn, "name", None) or getattr(fn, "__name__", None)
                         or _snake_case(type(fn).__name__))
        if getattr(type(self), "_direction", None) is None and _is_a_loss(fn):
            self._direction = "down"  # Keras's: the mean of a Keras loss is minimised

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        self._accumulate(self.fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self) -> dict:
        return {"name": self.name, **self._fn_kwargs}


def _is_a_loss(fn) -> bool:
    """``fn`` is one of npconv's losses (a Loss or one of the loss functions)."""
    if isinstance(fn, _losses.Loss):
        return True
    try:
        return fn in _losses._BY_FUNCTION
    except TypeError:  # an unhashable callable
        return False


class Accuracy(MeanMetricWrapper):
    _direction = "up"
    def __init__(self, name="accuracy"):
        super().__init__(accuracy, name)

    def get_config(self):
        return {"name": self.name}


class SparseCategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"
    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name)


class CategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"
    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name)


class BinaryAccuracy(MeanMetricWrapper):
    _direction = "up"
    def __init__(self, name="binary_accuracy", threshold=0.5):
        if (not isinstance(threshold, (int, float, np.integer, np.floating))
                or isinstance(threshold, bool) or not 0 < threshold < 1):
            raise ValueError(f"{type(self).__name__}: expected threshold to be a number in "
                             f"(0, 1), as Keras. Received: threshold={threshold!r}")
        super().__init__(binary_accuracy, name, threshold=threshold)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"
    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        _check_k(k, type(self).__name__)
        super().__init__(top_k_categorical_accuracy, name, k=k)


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    _direction = "up"
    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy"):
        _check_k(k, type(self).__name__)
        super().__init__(sparse_top_k_categorical_accuracy, name, k=k)


class MeanAbsoluteError(MeanMetricWrapper):
    _direction = "down"
    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name)


class MeanSquaredError(MeanMetricWrapper):
    _direction = "down"
    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """Keras's metric: the mean over samples of ``100 mean(|(t - p) / max(|t|, 1e-7)|)``
    (the loss of that name)."""
    _direction = "down"

    def __init__(self, name="mean_absolute_percentage_error"):
        super().__init__(_losses.mean_absolute_percentage_error, name)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """Keras's metric: the mean over samples of ``mean((log1p(p) - log1p(t))^2)``, negative
    values taken as 0 (the loss of that name)."""
    _direction = "down"

    def __init__(self, name="mean_squared_logarithmic_error"):
        super().__init__(_losses.mean_squared_logarithmic_error, name)


class CosineSimilarity(MeanMetricWrapper):
    """Keras's ``CosineSimilarity`` metric: the mean cosine (+1 for the same direction)."""
    _direction = "up"

    def __init__(self, name="cosine_similarity", axis=-1):
        super().__init__(cosine_similarity, name, axis=axis)


class RootMeanSquaredError(Metric):
    """``sqrt`` of the (weighted) mean of the squared errors of every entry seen, as Keras's
    (the root of the running mean, not a mean of per-batch roots)."""
    _direction = "down"

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
    (0.5), a number, or a list of numbers (then ``result()`` is a list, one per threshold,
    when there are several). ``top_k``: only the k largest predictions of each row (the
    first of equal ones; k at most the size of that axis) can count as positive, as Keras's;
    the default threshold is then Keras's -1e10, so that those k all do."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None):
        where = type(self).__name__
        self.init_thresholds = thresholds
        if top_k is not None and (not isinstance(top_k, (int, np.integer))
                                  or isinstance(top_k, bool) or top_k < 1):
            raise ValueError(f"{where}: expected top_k to be None or a positive int. "
                             f"Received: top_k={top_k!r}")
        self.top_k = None if top_k is None else int(top_k)
        items = [0.5] if thresholds is None else (
            list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds])
        if not items or not all(isinstance(t, (int, float, np.integer, np.floating))
                                and not isinstance(t, bool) and 0 <= t <= 1 for t in items):
            raise ValueError(f"{where}: expected thresholds to be None, a number in [0, 1] or "
                             f"a list of them. Received: thresholds={thresholds!r}")
        if thresholds is None and top_k is not None:
            items = [_NEG_INF]
        self.thresholds = np.array(items, dtype=np.float64)
        if class_id is not None and (not isinstance(class_id, (int, np.integer))
                                     or isinstance(class_id, bool) or class_id < 0):
            raise ValueError(f"{where}: expected class_id to be None or a non-negative int. "
                             f"Received: class_id={class_id!r}")
        self.class_id = None if class_id is None else int(class_id)
        super().__init__(name or where.lower())  # "precision", "recall"
        self.reset_state()  # the counts (Metric.__init__ resets only its own state)

    def reset_state(self) -> None:
        n = len(self.thresholds)
        self.true_positives = np.zeros(n)
        self.false_positives = np.zeros(n)
        self.false_negatives = np.zeros(n)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        where = self.name
        y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, where), where)
        if self.top_k is not None:
            if y_pred.ndim == 0 or y_pred.shape[-1] < self.top_k:  # as Keras's ops.top_k
                raise ValueError(f"{where}: top_k={self.top_k} needs y_pred with at least "
                                 f"{self.top_k} entries on its last axis. Received y_pred of "
                                 f"shape {y_pred.shape}")
            y_pred = _keep_top_k(y_pred, self.top_k)
        if self.class_id is not None:
            if y_pred.ndim == 0 or self.class_id >= y_pred.shape[-1]:
                raise ValueError(f"{where}: class_id={self.class_id} needs y_pred with more than "
                                 f"{self.class_id} entries on its last axis. Received y_pred of "
                                 f"shape {y_pred.shape}")
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        weight = _entry_weights(sample_weight, y_pred.shape, where)
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
        if len(values) > 1:
            return [float(v) for v in values]
        return float(values[0])  # one threshold, even in a list: a number, as Keras

    def get_config(self) -> dict:
        thresholds = self.init_thresholds
        if isinstance(thresholds, tuple):
            thresholds = list(thresholds)
        return {"name": self.name, "thresholds": thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


#: Keras's ``metrics_utils.NEG_INF``: the value of the predictions outside the top k.
_NEG_INF = -1e10


def _keep_top_k(y_pred, k):
    """``y_pred`` with all but the ``k`` largest entries of each row (last axis; the first
    of equal ones, as ``top_k``) set to -1e10."""
    order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(y_pred.shape, dtype=bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return np.where(keep, y_pred, _NEG_INF)


class Precision(_ConfusionCounts):
    """Keras's ``Precision``: ``TP / (TP + FP)`` of ``y_pred > threshold`` (0.5) against
    ``y_true != 0``, over every entry (binary or multi-label probabilities) or, with
    ``class_id``, that column only. 0.0 before any predicted positive."""
    _direction = "up"

    def result(self):
        return self._ratio(self.false_positives)


class Recall(_ConfusionCounts):
    """Keras's ``Recall``: ``TP / (TP + FN)`` of ``y_pred > threshold`` (0.5) against
    ``y_true != 0``, over every entry or, with ``class_id``, that column only. 0.0 before any
    positive label."""
    _direction = "up"

    def result(self):
        return self._ratio(self.false_negatives)


_EPSILON = 1e-7  # Keras's backend.epsilon(): the end thresholds -1e-7 and 1 + 1e-7
_AUC_CURVES = ("ROC", "PR")
_AUC_SUMMATIONS = ("interpolation", "minoring", "majoring")


class AUC(Metric):
    """Keras's ``AUC``: the area under the ROC or precision-recall curve, from confusion
    counts at ``num_thresholds`` thresholds summed over batches.

    The thresholds are ``-1e-7, 1/(T-1), ..., (T-2)/(T-1), 1 + 1e-7`` (or
    ``[-1e-7, *sorted(thresholds), 1 + 1e-7]``); an entry counts as predicted positive at a
    threshold when ``y_pred > threshold`` (``sigmoid(y_pred)`` with ``from_logits``), and as
    positive when ``y_true != 0``. As Keras: with evenly spaced thresholds the entry falls in
    bucket ``ceil(p * (T - 1)) - 1`` of ``p`` clipped to [0, 1] (one ``bincount``, then a
    reverse cumulative sum gives every threshold's counts); other thresholds are compared
    directly (``searchsorted``). ``multi_label=False`` counts every entry (a one-hot
    ``(N, C)`` target is flattened, each entry a binary decision); ``True`` keeps a curve per
    column of the last axis and returns the mean of their areas (``label_weights``: a
    weighted mean). ``label_weights`` without ``multi_label`` weigh each entry by its column.

    Summation: "interpolation" is the trapezoid rule on ROC and, for PR, Davis & Goadrich's
    interpolation of precision between thresholds (Keras's ``interpolate_pr_auc``);
    "minoring" / "majoring" take the lower / upper of the two heights (a Riemann sum).
    Keras's curve "PRGAIN" is not implemented.
    """
    _direction = "up"

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        where = "AUC"
        curve_key = curve.upper() if isinstance(curve, str) else curve
        if curve_key not in _AUC_CURVES:
            raise ValueError(f"{where}: expected curve to be one of {list(_AUC_CURVES)}. "
                             f"Received: curve={curve!r}")
        method = summation_method.lower() if isinstance(summation_method, str) else None
        if method not in _AUC_SUMMATIONS:
            raise ValueError(f"{where}: expected summation_method to be one of "
                             f"{list(_AUC_SUMMATIONS)}. Received: "
                             f"summation_method={summation_method!r}")
        if thresholds is not None:
            items = list(thresholds) if isinstance(thresholds, (list, tuple, np.ndarray)) \
                else None
            if not items or not all(
                    isinstance(t, (int, float, np.integer, np.floating))
                    and not isinstance(t, bool) and 0 <= t <= 1 for t in items):
                raise ValueError(f"{where}: expected thresholds to be None or a non-empty "
                                 f"list of numbers in [0, 1]. Received: thresholds="
                                 f"{thresholds!r}")
            inner = sorted(float(t) for t in items)
            self.num_thresholds = len(inner) + 2
            ends = np.array([0.0, *inner, 1.0])
            self._evenly = bool(np.allclose(
                ends, np.arange(len(ends), dtype=np.float32) / (len(ends) - 1),
                atol=_EPSILON))  # Keras's is_evenly_distributed_thresholds
        else:
            if (not isinstance(num_thresholds, (int, np.integer))
                    or isinstance(num_thresholds, bool) or num_thresholds <= 1):
                raise ValueError(f"{where}: expected num_thresholds to be an int > 1. "
                                 f"Received: num_thresholds={num_thresholds!r}")
            self.num_thresholds = int(num_thresholds)
            inner = [(i + 1) * 1.0 / (self.num_thresholds - 1)
                     for i in range(self.num_thresholds - 2)]
            self._evenly = True
        self._init_thresholds = None if thresholds is None else inner
        self._thresholds = np.array([0.0 - _EPSILON, *inner, 1.0 + _EPSILON])
        self.curve = curve_key
        self.summation_method = method
        if num_labels is not None and (not isinstance(num_labels, (int, np.integer))
                                       or isinstance(num_labels, bool) or num_labels < 1):
            raise ValueError(f"{where}: expected num_labels to be None or an int >= 1. "
                             f"Received: num_labels={num_labels!r}")
        if num_labels is not None and not multi_label:
            raise ValueError(f"{where}: num_labels is needed only when multi_label is True. "
                             f"Received: num_labels={num_labels!r}, multi_label={multi_label!r}")
        self.multi_label = bool(multi_label)
        self.num_labels = None if num_labels is None else int(num_labels)
        if label_weights is not None:
            label_weights = np.asarray(label_weights, dtype=np.float64)
            if label_weights.ndim != 1 or label_weights.size == 0 or np.any(label_weights < 0):
                raise ValueError(f"{where}: expected label_weights to be a 1-D list of "
                                 f"non-negative numbers, one per label. Received shape "
                                 f"{label_weights.shape}")
            if self.num_labels is not None and label_weights.size != self.num_labels:
                raise ValueError(f"{where}: expected {self.num_labels} label_weights (one per "
                                 f"label). Received {label_weights.size}")
        self.label_weights = label_weights
        self.from_logits = bool(from_logits)
        super().__init__(name or "auc")
        self.reset_state()  # the counts (Metric.__init__ resets only its own state)

    @property
    def thresholds(self) -> list:
        """Every threshold, the two end ones (``-1e-7`` and ``1 + 1e-7``) included."""
        return [float(t) for t in self._thresholds]

    def reset_state(self) -> None:
        if self.multi_label and self.num_labels is None and not hasattr(self, "_labels"):
            shape = None  # built on the first batch, from y_pred's last axis
        else:
            labels = getattr(self, "_labels", self.num_labels)
            shape = (self.num_thresholds,) if not self.multi_label else (
                self.num_thresholds, labels)
        self._zero(shape)

    def _zero(self, shape):
        for attr in ("true_positives", "false_positives", "true_negatives",
                     "false_negatives"):
            setattr(self, attr, None if shape is None else np.zeros(shape))

    def _weights(self, sample_weight, shape):
        """Each entry's weight: the sample's (broadcast over its row) times its label's."""
        where = self.name
        weight = _entry_weights(sample_weight, shape, where)
        if self.label_weights is not None and not self.multi_label:
            if len(shape) == 0 or shape[-1] != self.label_weights.size:
                raise ValueError(f"{where}: expected y_pred with {self.label_weights.size} "
                                 f"labels on its last axis (one per label_weight). Received "
                                 f"shape {shape}")
            weight = weight * self.label_weights
        return weight

    def _buckets(self, p):
        return _threshold_buckets(p, self._thresholds, self._evenly, with_epsilon=True)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        where = self.name
        y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, where), where)
        if y_pred.dtype.kind != "f":
            y_pred = y_pred.astype(np.float32)
        if self.from_logits:
            from ..ops.activations import sigmoid_forward

            y_pred = sigmoid_forward(y_pred)[0]
        weight = self._weights(sample_weight, y_pred.shape)
        positive = y_true != 0
        n_t = self.num_thresholds
        if self.multi_label:
            if y_pred.ndim < 2:
                raise ValueError(f"{where}: multi_label=True expects y_pred of shape "
                                 f"(N, labels). Received shape {y_pred.shape}")
            labels = y_pred.shape[-1]
            expected = self.num_labels if self.true_positives is None else \
                self.true_positives.shape[1]
            if expected is not None and labels != expected:
                raise ValueError(f"{where}: expected y_pred with {expected} labels on its last "
                                 f"axis. Received shape {y_pred.shape}")
            if self.label_weights is not None and labels != self.label_weights.size:
                raise ValueError(f"{where}: expected y_pred with {self.label_weights.size} "
                                 f"labels (one per label_weight). Received shape "
                                 f"{y_pred.shape}")
            if self.true_positives is None:
                self._labels = labels
                self._zero((n_t, labels))
            rows = (y_pred.reshape(-1, labels), positive.reshape(-1, labels),
                    weight.reshape(-1, labels))
            # label j's buckets are j*(T+1) ... j*(T+1) + T: one bincount for all labels
            index = (self._buckets(rows[0]) + 1) + np.arange(labels) * (n_t + 1)
            size = labels * (n_t + 1)
            pos_w, neg_w = rows[2] * rows[1], rows[2] * ~rows[1]
            tp_b = np.bincount(index.reshape(-1), pos_w.reshape(-1), size).reshape(labels, -1)
            fp_b = np.bincount(index.reshape(-1), neg_w.reshape(-1), size).reshape(labels, -1)
            # counts at threshold i: entries in buckets >= i (bucket -1 sits at column 0)
            # and the negatives: buckets below i (as _counts_at_thresholds)
            tp = np.cumsum(tp_b[:, ::-1], axis=1)[:, ::-1][:, 1:].T
            fp = np.cumsum(fp_b[:, ::-1], axis=1)[:, ::-1][:, 1:].T
            tn = np.cumsum(fp_b, axis=1)[:, :-1].T
            fn = np.cumsum(tp_b, axis=1)[:, :-1].T
        else:
            tp, fp, tn, fn = _counts_at_thresholds(
                y_pred, positive, weight, self._thresholds, self._evenly, with_epsilon=True)
        self.true_positives += tp
        self.false_positives += fp
        self.false_negatives += fn
        self.true_negatives += tn

    def _mean_over_labels(self, per_threshold):
        if not self.multi_label:
            return float(np.sum(per_threshold))
        by_label = np.sum(per_threshold, axis=0)
        if self.label_weights is None:
            return float(np.mean(by_label))
        total = float(np.sum(self.label_weights))
        return float(np.sum(by_label * self.label_weights) / total) if total else 0.0

    def interpolate_pr_auc(self) -> float:
        """Keras's PR area with Davis & Goadrich's interpolation: between two thresholds,
        precision is taken as ``TP / (TP + FP)`` with TP linear in TP + FP, integrated over
        recall in closed form (section 4 of the 2006 paper)."""
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        prec_slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - prec_slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        safe_p_ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increment = _divide_no_nan(prec_slope * (dtp + intercept * np.log(safe_p_ratio)),
                                   np.maximum(tp[1:] + fn[1:], 0))
        return self._mean_over_labels(increment)

    def result(self) -> float:
        if self.true_positives is None:
            return 0.0  # multi_label, before any batch
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self.interpolate_pr_auc()
        tp, fp = self.true_positives, self.false_positives
        recall = _divide_no_nan(tp, tp + self.false_negatives)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + self.true_negatives), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return self._mean_over_labels((x[:-1] - x[1:]) * heights)

    def get_config(self) -> dict:
        return {"num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method, "name": self.name,
                "thresholds": self._init_thresholds, "multi_label": self.multi_label,
                "num_labels": self.num_labels,
                "label_weights": None if self.label_weights is None
                else [float(w) for w in self.label_weights],
                "from_logits": self.from_logits}


def _entry_weights(sample_weight, shape, where) -> np.ndarray:
    """float64 weights of ``shape`` (ones without ``sample_weight``): a scalar weighs every
    entry, one weight per sample (``(N,)`` or ``(N, 1, ..., 1)``) weighs its row, one per
    position (``shape[:-1]``, e.g. a pixel's of ``(N, H, W, C)`` masks: Keras expands a
    weight by one axis at the end) weighs the last axis there, and weights of ``shape`` (or
    ``shape + (1,)``) weigh each entry. Anything else is a ValueError naming ``where``,
    never a broadcast of another shape."""
    if sample_weight is None:
        return np.ones(shape)
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == len(shape) + 1 and sw.shape[-1] == 1:
        sw = sw[..., 0]
    if len(shape) > 2 and sw.shape == shape[:-1]:
        sw = sw[..., None]
    elif sw.ndim and sw.shape != shape:
        if len(shape) == 0 or sw.shape not in (shape[:1], shape[:1] + (1,) * (len(shape) - 1)):
            forms = (str(shape) if len(shape) <= 1 else f"{shape[:1]} or {shape}"
                     if len(shape) == 2 else f"{shape[:1]}, {shape[:-1]} or {shape}")
            raise ValueError(f"{where}: expected sample_weight of shape {forms}. "
                             f"Received {np.shape(sample_weight)}")
        sw = sw.reshape(sw.shape[:1] + (1,) * (len(shape) - 1))
    return np.broadcast_to(sw, shape).astype(np.float64)


def _threshold_buckets(p, thresholds, evenly, with_epsilon) -> np.ndarray:
    """For each entry of ``p``, the index of the last of the (sorted) ``thresholds`` it
    exceeds, -1 for none. A NaN exceeds none (``NaN > threshold`` is False, as Keras's
    comparisons give): it counts as predicted negative at every threshold.

    ``evenly`` (thresholds ``0, 1/(T-1), ..., 1``, possibly with the ends moved out by
    1e-7): Keras's optimized path, in ``p``'s float type: bucket ``ceil(p (T - 1)) - 1`` of
    ``p`` clipped to [0, 1], at least 0 when ``with_epsilon`` (the end thresholds -1e-7 and
    1 + 1e-7 of AUC: every p in [0, 1] exceeds the first). Else ``p > threshold`` by
    ``searchsorted``."""
    nan = np.isnan(p)
    if evenly:
        p = np.clip(p, 0.0, 1.0)
        scale = p.dtype.type(len(thresholds) - 1)
        buckets = np.ceil(np.where(nan, 0, p) * scale) - 1
        if with_epsilon:
            buckets = np.maximum(buckets, 0)
        buckets = buckets.astype(np.int64)
    else:
        buckets = np.searchsorted(thresholds, p, side="left") - 1
    if nan.any():
        buckets[nan] = -1
    return buckets


def _counts_at_thresholds(y_pred, positive, weight, thresholds, evenly, with_epsilon=False):
    """``(tp, fp, tn, fn)`` of every entry of ``y_pred`` at each of ``thresholds`` (any
    order; ``tp[i]``: weight of the positives with ``y_pred > thresholds[i]``); ``positive``
    and ``weight`` have y_pred's shape. One ``bincount`` of the entries' buckets, then
    cumulative sums: O(entries + thresholds), not a (thresholds, entries) table. ``evenly``
    / ``with_epsilon``: see :func:`_threshold_buckets`. FN and TN are sums of the buckets
    below, not the totals minus TP and FP (Keras's), which leave rounding residues where
    they are 0 (a recall of 1 - 1e-16 fails ``recall >= 1``)."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    n_t = len(thresholds)
    order = None
    if not evenly and np.any(np.diff(thresholds) < 0):
        order = np.argsort(thresholds, kind="stable")
        thresholds = thresholds[order]
    p, pos, w = np.reshape(y_pred, -1), np.reshape(positive, -1), np.reshape(weight, -1)
    index = _threshold_buckets(p, thresholds, evenly, with_epsilon) + 1
    pos_b = np.bincount(index, w * pos, n_t + 1)
    neg_b = np.bincount(index, w * ~pos, n_t + 1)
    counts = [np.cumsum(pos_b[::-1])[::-1][1:], np.cumsum(neg_b[::-1])[::-1][1:],
              np.cumsum(neg_b)[:-1], np.cumsum(pos_b)[:-1]]  # tp, fp, tn, fn
    if order is not None:  # back to the order given
        for c in counts:
            c[order] = c.copy()
    return tuple(counts)


def _divide_no_nan(a, b):
    """``a / b``, 0 where ``b == 0`` (Keras's ``divide_no_nan``)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return np.divide(a, b, out=np.zeros(a.shape), where=b != 0)


def _check_k(k, where):
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"{where}: expected k to be an int >= 1. Received: k={k!r}")


class CompiledMetric(Metric):
    """A metric that ``compile`` set up, under the name the logs give it: fed the batch's
    sample weights when it came from ``weighted_metrics`` (``weighted=True``; also the weights
    that ``class_weight`` makes), without them when it came from ``metrics`` (as Keras 3)."""

    def __init__(self, metric: Metric, name: str, weighted: bool = False):
        self.metric, self.weighted = metric, bool(weighted)
        super().__init__(name)

    @property
    def _direction(self):
        return getattr(self.metric, "_direction", None)

    def reset_state(self) -> None:
        if hasattr(self, "metric"):
            self.metric.reset_state()

    def _targets(self, y_true, y_pred):
        return y_true, y_pred

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        y_true, y_pred = self._targets(y_true, y_pred)
        if self.weighted and sample_weight is not None:
            self.metric.update_state(y_true, y_pred, sample_weight=sample_weight)
        else:
            self.metric.update_state(y_true, y_pred)

    def result(self):
        return self.metric.result()


def log_names(entries) -> list[str]:
    """Keras 3's log names of compiled metrics. ``entries``: ``(prefix, name, weighted)`` in
    Keras's order (every output's ``metrics``, then every output's ``weighted_metrics``;
    ``prefix`` is ``"<output>_"`` or ""). A name taken before gets ``_1``, ``_2``, ... if
    unweighted; a weighted one becomes ``<prefix>weighted_<name>`` (then ``_1``, ...)."""
    counters: dict = {}
    names = []
    for prefix, name, weighted in entries:
        full = prefix + name
        if full not in counters:
            counters[full] = 1
        else:
            if weighted:
                full = f"{prefix}weighted_{name}"
            if weighted and full not in counters:
                counters[full] = 1
            else:
                index = counters[full]
                counters[full] += 1
                full = f"{full}_{index}"
        names.append(full)
    return names


class _AutoAccuracy(MeanMetricWrapper):
    """"accuracy" whose kind is chosen on the first batch from the shapes, as Keras 3 does:
    binary if y_pred's last axis is 1, sparse if y_true has fewer axes (or a last axis of 1),
    categorical otherwise."""
    _direction = "up"

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
    "cosine_similarity": CosineSimilarity,
    "precision": Precision,
    "recall": Recall,
    "auc": AUC,
}
_BY_CLASS_NAME = {cls.__name__: cls for cls in (*_BY_NAME.values(), Accuracy,
                                                   MeanAbsolutePercentageError,
                                                   MeanSquaredLogarithmicError)}

#: Keras 3's other metrics, in modules of their own that build on the classes here (so
#: they are imported when first asked for: ``npconv.training.metrics.F1Score``, or a name
#: given to :func:`get`). Each module's ``_BY_NAME`` maps Keras's string names to classes.
_MORE_MODULES = ("confusion_metrics", "fscore_metrics", "iou_metrics", "regression_metrics",
                 "loss_metrics")


def _more_modules() -> list:
    import importlib

    return [importlib.import_module(f"{__package__}.{name}") for name in _MORE_MODULES]


def __getattr__(name):
    if not name.startswith("__"):
        for module in _more_modules():
            if name in module.__all__:
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _more_by_name() -> tuple[dict, dict]:
    """``({Keras string name: class}, {class name: class})`` of the other modules."""
    by_name, by_class = {}, {}
    for module in _more_modules():
        by_name.update(module._BY_NAME)
        by_class.update({n: getattr(module, n) for n in module.__all__})
    return by_name, by_class


def _from_name(cls, identifier, name=None):
    """``cls(name=name)`` (``cls()`` without a name), or a ValueError saying which arguments
    a metric such as MeanIoU(num_classes) needs, rather than a TypeError from its
    constructor."""
    import inspect

    needed = [p.name for p in inspect.signature(cls).parameters.values()
              if p.default is inspect.Parameter.empty
              and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if needed:
        args = ", ".join(f"{n}=..." for n in needed)
        raise ValueError(f"metrics.get: {identifier!r} is {cls.__name__}, which needs "
                         f"{', '.join(needed)}: pass {cls.__name__}({args}) in metrics, not "
                         "its name")
    return cls() if name is None else cls(name=name)


def get(identifier, loss=None, output_shape=None, y_true_shape=None) -> Metric:
    """A Metric from a name, a Metric instance or class, or a function ``f(y_true, y_pred)``.

    "accuracy" / "acc" becomes the accuracy that fits the task (named as asked): from the
    ``loss`` (sparse / categorical / binary cross-entropy), else from ``output_shape`` (last
    axis 1: binary) and ``y_true_shape``, else decided on the first batch. Keras's names of
    the other metrics ("f1_score", "true_positives", "r2_score", "binary_io_u", "bce") and
    their class names give those (one that needs arguments, as MeanIoU's num_classes, is a
    ValueError saying so). Names of losses ("mse", ...) give the mean of that loss.
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
        more_by_name, more_by_class = _more_by_name()
        if key in _BY_NAME:
            return _BY_NAME[key](name=identifier)
        if key in more_by_name:
            return _from_name(more_by_name[key], identifier, name=identifier)
        if identifier in _BY_CLASS_NAME:
            return _BY_CLASS_NAME[identifier]()
        if identifier in more_by_class:
            return _from_name(more_by_class[identifier], identifier)
        try:
            loss_obj = _losses.get(identifier)
        except ValueError:
            known = sorted(["accuracy", "acc", *_BY_NAME, *_BY_CLASS_NAME, *more_by_name,
                            *more_by_class])
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
