"""Keras's Intersection-over-Union metrics (semantic segmentation), from a confusion matrix
summed over batches.

Every entry of a label map is one prediction: ``y_true`` and ``y_pred`` are class labels of
any shape (``(N, H, W)``; a trailing axis of 1 is dropped), or one-hot / scores along
``axis`` when ``sparse_y_true`` / ``sparse_y_pred`` is False (their argmax is the label).
The ``(C, C)`` matrix ``M`` (row: true class, column: predicted class) adds each entry's
weight; then for class ``c``::

    IoU_c = M_cc / (sum_k M_ck + sum_k M_kc - M_cc + eps)        eps = 1e-7

and the result is the mean of ``IoU_c`` over ``target_class_ids``, counting only the
classes whose denominator is not 0 (a class that appears nowhere is left out), divided by
``count + eps``. ``ignore_class`` (e.g. 255, a "void" label): entries with that true label
count for nothing. ``sample_weight``: a scalar, one per sample (``(N,)``), or one per entry
(the label map's shape, with or without a trailing axis of 1).

``IoU(num_classes, target_class_ids)``; ``MeanIoU(num_classes)``: every class;
``BinaryIoU(target_class_ids=(0, 1), threshold=0.5)``: ``y_pred >= threshold`` is class 1;
``OneHotIoU`` / ``OneHotMeanIoU``: one-hot ``y_true`` (and scores ``y_pred``).
"""

from __future__ import annotations

import numbers

import numpy as np

from . import losses as _losses
from .metrics import _EPSILON, Metric, _check_labels_range, _entry_weights


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


class IoU(Metric):
    """Keras's ``IoU``: the mean IoU of the classes ``target_class_ids`` (see the module
    docstring)."""
    _direction = "up"

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        where = type(self).__name__
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(f"{where}: expected num_classes to be an int >= 1. Received: "
                             f"num_classes={num_classes!r}")
        if (not isinstance(target_class_ids, (list, tuple)) or not target_class_ids
                or not all(_is_int(c) for c in target_class_ids)):
            raise ValueError(f"{where}: expected target_class_ids to be a non-empty list or "
                             f"tuple of class ids (ints). Received: "
                             f"target_class_ids={target_class_ids!r}")
        if min(target_class_ids) < 0 or max(target_class_ids) >= num_classes:
            bad = max(target_class_ids) if max(target_class_ids) >= num_classes \
                else min(target_class_ids)
            raise ValueError(f"{where}: target class id {bad} is out of range, which is "
                             f"[0, {num_classes})")
        if ignore_class is not None and not _is_int(ignore_class):
            raise ValueError(f"{where}: expected ignore_class to be None or an int (a label, "
                             f"e.g. 255). Received: ignore_class={ignore_class!r}")
        for arg, value in (("sparse_y_true", sparse_y_true), ("sparse_y_pred", sparse_y_pred)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{where}: expected {arg} to be a bool. Received: "
                                f"{arg}={value!r}")
        if not _is_int(axis):
            raise TypeError(f"{where}: expected axis to be an int. Received: axis={axis!r}")
        self.num_classes = int(num_classes)
        self.target_class_ids = [int(c) for c in target_class_ids]
        self.ignore_class = None if ignore_class is None else int(ignore_class)
        self.sparse_y_true, self.sparse_y_pred = bool(sparse_y_true), bool(sparse_y_pred)
        self.axis = int(axis)
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self) -> None:
        super().reset_state()
        self.total_cm = np.zeros((self.num_classes, self.num_classes))

    def _labels(self, y, sparse, what):
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: expected a numeric {what}. Received dtype {y.dtype}")
        if sparse:
            return y
        if not -y.ndim <= self.axis < y.ndim:
            raise ValueError(f"{self.name}: expected {what} with classes on axis {self.axis} "
                             f"(sparse_{what}=False). Received shape {y.shape}")
        return np.argmax(y, axis=self.axis)

    def _predicted_labels(self, y_pred):
        return self._labels(y_pred, self.sparse_y_pred, "y_pred")

    def _shape_hint(self, y_pred, t, p) -> str:
        """Why label maps ``t`` (from y_true) and ``p`` (from ``y_pred``) may differ in shape:
        scores passed as labels, or the other way round."""
        if self.sparse_y_pred and p.ndim == t.ndim + 1:
            return f": scores along axis {self.axis} need sparse_y_pred=False"
        if not self.sparse_y_pred and np.shape(y_pred) == t.shape:
            return (f": y_pred of shape {t.shape} holds labels already, which need "
                    "sparse_y_pred=True")
        if self.sparse_y_true and t.ndim == p.ndim + 1:
            return f": a one-hot y_true along axis {self.axis} needs sparse_y_true=False"
        return ""

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        where = self.name
        t = self._labels(y_true, self.sparse_y_true, "y_true")
        p = self._predicted_labels(y_pred)
        t, p = _losses._squeeze_or_expand(t, p)
        if t.shape != p.shape:
            raise ValueError(f"{where}: expected y_true and y_pred to give label maps of the "
                             f"same shape. Received {t.shape} (y_true) and {p.shape} (y_pred)"
                             f"{self._shape_hint(y_pred, t, p)}")
        w = _entry_weights(sample_weight, t.shape, where).reshape(-1)
        t, p = t.reshape(-1), p.reshape(-1)
        if self.ignore_class is not None:
            keep = t != self.ignore_class
            t, p, w = t[keep], p[keep], w[keep]
        t = _check_labels_range(t, self.num_classes, where, "y_true")
        try:
            p = _check_labels_range(p, self.num_classes, where, "y_pred")
        except ValueError as err:
            if not self.sparse_y_pred:
                raise
            raise ValueError(f"{err} (scores or probabilities need sparse_y_pred=False, or "
                             "BinaryIoU for one probability per entry)") from None
        cm = np.bincount(t * self.num_classes + p, weights=w,
                         minlength=self.num_classes ** 2)
        self.total_cm += cm.reshape(self.num_classes, self.num_classes)

    def result(self) -> float:
        cm = self.total_cm
        true_positives = np.diag(cm)
        denominator = cm.sum(axis=0) + cm.sum(axis=1) - true_positives
        ids = self.target_class_ids
        tp, den = true_positives[ids], denominator[ids]
        valid = np.sum(den > 1e-9)  # a class seen nowhere is left out of the mean
        return float(np.sum(tp / (den + _EPSILON)) / (valid + _EPSILON))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": str(self.dtype), "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class BinaryIoU(IoU):
    """Keras's ``BinaryIoU``: IoU of classes 0 and 1 (``target_class_ids``), where
    ``y_pred >= threshold`` is predicted class 1; ``y_true`` holds 0 and 1."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        if not isinstance(threshold, numbers.Real) or isinstance(threshold, (bool, np.bool_)):
            raise ValueError(f"BinaryIoU: expected threshold to be a number. Received: "
                             f"threshold={threshold!r}")
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name,
                         dtype=dtype)
        self.threshold = float(threshold)

    def _shape_hint(self, y_pred, t, p) -> str:
        return ""  # (y_pred is one probability per entry: nothing to pick)

    def _predicted_labels(self, y_pred):
        y_pred = np.asarray(y_pred)
        if y_pred.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: expected a numeric y_pred. Received dtype "
                            f"{y_pred.dtype}")
        return (y_pred >= self.threshold).astype(np.int64)

    def get_config(self) -> dict:
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "name": self.name, "dtype": str(self.dtype)}


class MeanIoU(IoU):
    """Keras's ``MeanIoU``: the mean IoU of every class (the U-Net examples' metric)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        ids = list(range(num_classes)) if _is_int(num_classes) and num_classes >= 1 else [0]
        super().__init__(num_classes, ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """Keras's ``OneHotIoU``: :class:`IoU` with one-hot ``y_true`` (and, by default, scores
    ``y_pred``) along ``axis``."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """Keras's ``OneHotMeanIoU``: :class:`MeanIoU` with one-hot ``y_true`` (and, by default,
    scores ``y_pred``) along ``axis``."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["sparse_y_true"]
        return config


_BY_NAME = {"io_u": IoU, "binary_io_u": BinaryIoU, "mean_io_u": MeanIoU,
            "one_hot_io_u": OneHotIoU, "one_hot_mean_io_u": OneHotMeanIoU}
__all__ = ["BinaryIoU", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU"]
