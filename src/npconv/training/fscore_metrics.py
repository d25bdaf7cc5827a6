"""Keras's ``FBetaScore`` and ``F1Score``: the F-score of thresholded predictions, per class
or averaged, from counts summed over batches.

Inputs are ``(N, C)``: one-hot or multi-hot ``y_true`` and scores ``y_pred``. A prediction is
1 where ``y_pred > threshold``, or, with ``threshold=None``, where it is the row's largest
(every entry equal to the maximum, and not 0). With ``p = y_pred`` so made and ``t = y_true``
(as given: soft targets count fractionally, as in Keras), per class ``c``::

    TP_c = sum_n w_n p t     FP_c = sum_n w_n p (1 - t)     FN_c = sum_n w_n (1 - p) t
    precision = TP / (TP + FP + eps)     recall = TP / (TP + FN + eps)       eps = 1e-7
    F = (1 + b^2) precision recall / (b^2 precision + recall + eps)

``average``: None, one score per class (an array); "micro", the counts summed over classes
first; "macro", the mean of the class scores; "weighted", their mean weighted by each
class's support ``sum_n w_n t``. The eps terms make the values differ from scikit-learn's
``fbeta_score`` by about 1e-7.
"""

from __future__ import annotations

import numbers

import numpy as np

from .metrics import _EPSILON, Metric, _arrays, _entry_weights, _same_shape

_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """Keras's ``FBetaScore(average=None, beta=1.0, threshold=None)`` (see the module
    docstring); ``result()`` is a float, or an array of one score per class for
    ``average=None`` (0.0 before any batch)."""
    _direction = "up"

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        where = type(self).__name__
        if not (average is None or isinstance(average, str)) or average not in _AVERAGES:
            raise ValueError(f"{where}: expected average to be one of {list(_AVERAGES)}. "
                             f"Received: average={average!r}")
        if (not isinstance(beta, numbers.Real) or isinstance(beta, (bool, np.bool_))
                or not 0 < beta < float("inf")):
            raise ValueError(f"{where}: expected beta to be a number > 0. Received: "
                             f"beta={beta!r}")
        if threshold is not None and (
                not isinstance(threshold, numbers.Real)
                or isinstance(threshold, (bool, np.bool_)) or not 0 < threshold <= 1):
            raise ValueError(f"{where}: expected threshold to be None or a number with "
                             f"0 < threshold <= 1. Received: threshold={threshold!r}")
        self.average = average
        self.beta = float(beta)
        self.threshold = None if threshold is None else float(threshold)
        super().__init__(name, dtype)
        self.reset_state()

    def reset_state(self) -> None:
        super().reset_state()
        self._classes = None  # known from the first batch
        self.true_positives = self.false_positives = self.false_negatives = None
        self.intermediate_weights = None

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        where = self.name
        y_true, y_pred = _same_shape(*_arrays(y_true, y_pred, where), where)
        if y_pred.ndim != 2:
            raise ValueError(f"{where}: expected y_true and y_pred of shape (batch_size, "
                             f"classes). Received y_pred of shape {y_pred.shape}")
        classes = y_pred.shape[1]
        if self._classes is not None and classes != self._classes:
            raise ValueError(f"{where}: expected y_pred with {self._classes} classes, as the "
                             f"batches before. Received shape {y_pred.shape}")
        y_pred = y_pred.astype(np.float64)
        if self.threshold is None:  # the row's largest, but a row of zeros stays zeros
            predicted = (y_pred >= np.max(y_pred, axis=-1, keepdims=True)) & (
                np.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        p, t = predicted.astype(np.float64), y_true.astype(np.float64)
        w = _entry_weights(sample_weight, y_pred.shape, where)
        axis = None if self.average == "micro" else 0
        counts = [np.sum(w * p * t, axis=axis), np.sum(w * p * (1 - t), axis=axis),
                  np.sum(w * (1 - p) * t, axis=axis), np.sum(w * t, axis=axis)]
        if self._classes is None:
            self._classes = classes
            self.true_positives, self.false_positives, self.false_negatives, \
                self.intermediate_weights = (np.zeros_like(c) for c in counts)
        self.true_positives += counts[0]
        self.false_positives += counts[1]
        self.false_negatives += counts[2]
        self.intermediate_weights += counts[3]

    def result(self):
        if self._classes is None:
            return 0.0
        tp = self.true_positives
        precision = tp / (tp + self.false_positives + _EPSILON)
        recall = tp / (tp + self.false_negatives + _EPSILON)
        b2 = self.beta ** 2
        score = (1 + b2) * (precision * recall / (b2 * precision + recall + _EPSILON))
        if self.average == "weighted":
            support = self.intermediate_weights
            return float(np.sum(score * support / (np.sum(support) + _EPSILON)))
        if self.average is not None:  # micro (one score already), macro
            return float(np.mean(score))
        return np.array(score)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": str(self.dtype), "average": self.average,
                "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """Keras's ``F1Score(average=None, threshold=None)``: :class:`FBetaScore` with
    ``beta=1``, the harmonic mean of precision and recall."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name,
                         dtype=dtype)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["beta"]
        return config


_BY_NAME = {"f1_score": F1Score, "f_beta_score": FBetaScore, "fbeta_score": FBetaScore}
__all__ = ["F1Score", "FBetaScore"]
