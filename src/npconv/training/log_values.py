"""The values of the logs of ``fit`` and ``evaluate`` (History, the progress bar, callbacks),
as Keras 3 makes and shows them.

A metric's result is one number (a float in the logs) or, for ``F1Score()`` /
``FBetaScore()`` (``average=None``: one score per class), ``R2Score(class_aggregation=None)``
(one per output) and the confusion metrics with several ``thresholds`` (``Precision``,
``Recall``, ``TruePositives`` ...: one per threshold), a 1-D array: Keras's
``pythonify_logs`` tries ``float(value)`` and keeps the array when that fails. Then, as Keras:

- the progress bar and the verbose lines show the mean of the array (``f1_score: 0.2652``);
- ``CSVLogger`` writes the string ``"[v1, v2, ...]"`` (its quotes included, which the csv
  module doubles);
- a callback that compares values (EarlyStopping, ReduceLROnPlateau) cannot order arrays
  (Keras fails inside there with "Boolean value of Tensor ... is ambiguous"): npconv says
  which metric and what to monitor instead (:func:`monitored_number`).
"""

from __future__ import annotations

import numpy as np


def log_value(result):
    """A metric's ``result()`` as the logs hold it: a float for one number, else a plain
    ``numpy.ndarray`` copy (its own values, not the metric's state or a Tensor view)."""
    values = np.asarray(result)
    if values.ndim == 0:
        return float(values)
    return np.array(values, dtype=values.dtype if values.dtype.kind == "f" else np.float64)


def shown_number(value) -> float:
    """The number the progress bar and the verbose lines show: the value, or the mean of an
    array (Keras's ``Progbar`` takes ``np.mean`` of a value that is not a float)."""
    return float(np.mean(value)) if np.ndim(value) else float(value)


def csv_cell(value):
    """What Keras's ``CSVLogger`` writes for a log value: strings and numbers as they are,
    an iterable (not a 0-d array) as ``'"[' + ", ".join(map(str, value)) + ']"'``."""
    if isinstance(value, str) or np.ndim(value) == 0:
        return value
    return f'"[{", ".join(map(str, value))}]"'


def monitored_number(value, monitor, where) -> float:
    """The value of ``monitor`` as a float, or a ValueError naming ``where`` when it is an
    array (one value per class or threshold) that cannot be compared with a best so far."""
    if np.ndim(value):
        raise ValueError(
            f"{where}: monitor={monitor!r} is an array of {np.size(value)} values (one per "
            f"class or threshold: {np.asarray(value).tolist()}), which cannot be compared "
            "with the best so far; monitor a metric with one number instead (e.g. "
            "F1Score(average='macro'), or one Precision/Recall per threshold with its own "
            "name) or 'loss' / 'val_loss'")
    return float(value)
