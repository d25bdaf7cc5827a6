"""``mode="auto"`` of EarlyStopping, ReduceLROnPlateau and ModelCheckpoint, as Keras 3.15.1.

Keras decides the direction at the first epoch end: ``loss`` / ``val_loss`` is minimised,
any other name must be a compiled metric whose ``_direction`` is known, else a ValueError.
The expectations below were recorded with Keras 3.15.1 (torch backend) on the same model:
``Input((4,)) -> Dense(1, sigmoid)``, binary cross-entropy, ``fit(..., epochs=1,
validation_data=...)`` with the callback, reading ``callback.monitor_op`` (less / greater)
or the error.
"""

from __future__ import annotations

import numpy as np
import pytest

import npconv as keras
from npconv import layers, losses, metrics
from npconv.training.callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau

#: Keras 3.15.1's message, with the callback's class name and the monitor
KERAS_MESSAGE = ("{cls} callback received monitor={monitor}, but Keras isn't able to "
                 "automatically determine whether that metric should be maximized or "
                 "minimized. Pass `mode='max'` in order to monitor based on the highest metric "
                 "value, or pass `mode='min'` in order to use the lowest value.")


def _custom(y_true, y_pred):
    return np.mean(y_pred, axis=-1)


def _fit(metrics_, callback, outputs=1):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4)).astype("float32")
    y = (rng.random((16, 1)) > 0.5).astype("float32")
    inputs = keras.Input((4,))
    if outputs == 1:
        model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(inputs))
        targets = y
    else:
        model = keras.Model(inputs, [layers.Dense(1, activation="sigmoid", name=n)(inputs)
                                     for n in ("a", "b")])
        targets = [y, y]
    model.compile("sgd", "binary_crossentropy", metrics=metrics_)
    model.fit(x, targets, epochs=1, validation_data=(x, targets), verbose=0,
              callbacks=[callback])


def _callbacks(monitor, tmp_path, **kwargs):
    return [EarlyStopping(monitor=monitor, **kwargs),
            ReduceLROnPlateau(monitor=monitor, **kwargs),
            ModelCheckpoint(str(tmp_path / "m.npconv"), monitor=monitor, save_best_only=True,
                            **kwargs)]


# (compile's metrics, monitor, Keras 3.15.1's monitor_op as "min" (less) / "max" (greater))
INFERRED = [
    (lambda: ["accuracy"], "accuracy", "max"),
    (lambda: ["accuracy"], "val_accuracy", "max"),
    (lambda: ["accuracy"], "loss", "min"),
    (lambda: ["mse"], "mse", "min"),
    (lambda: [metrics.AUC()], "auc", "max"),
    (lambda: [metrics.AUC(name="roc_auc")], "val_roc_auc", "max"),
    (lambda: ["cosine_similarity"], "cosine_similarity", "max"),
    (lambda: [metrics.F1Score(average="micro")], "val_f1_score", "max"),
    (lambda: [metrics.MeanMetricWrapper(losses.mean_squared_error, name="mymse")], "mymse",
     "min"),
]


@pytest.mark.parametrize(("make_metrics", "monitor", "expected"), INFERRED)
def test_mode_auto_infers_what_keras_infers(make_metrics, monitor, expected, tmp_path):
    for callback in _callbacks(monitor, tmp_path):
        _fit(make_metrics(), callback)
        assert callback.mode == "auto"  # as Keras: the argument stays as given
        assert callback.monitor_mode == expected, type(callback).__name__


# (compile's metrics, monitor) for which Keras 3.15.1 raises its ValueError in all three
REFUSED = [
    (lambda: [metrics.TruePositives()], "true_positives"),
    (lambda: [metrics.FalseNegatives()], "val_false_negatives"),
    (lambda: [_custom], "_custom"),
    (lambda: ["mae"], "mean_absolute_error"),  # the log name is "mae"
    (lambda: ["accuracy"], "nonexistent"),
    (lambda: ["accuracy"], "learning_rate"),
]


@pytest.mark.parametrize(("make_metrics", "monitor"), REFUSED)
def test_mode_auto_refuses_a_metric_without_a_direction_as_keras(make_metrics, monitor,
                                                                 tmp_path):
    # npconv picked "min" for all of these, silently: a count of true positives minimised
    for callback in _callbacks(monitor, tmp_path):
        message = KERAS_MESSAGE.format(cls=type(callback).__name__, monitor=monitor)
        with pytest.raises(ValueError) as info:
            _fit(make_metrics(), callback)
        assert str(info.value) == message


def test_an_explicit_mode_monitors_any_metric(tmp_path):
    for mode in ("min", "max"):
        for callback in _callbacks("true_positives", tmp_path, mode=mode):
            _fit([metrics.TruePositives()], callback)
            assert callback.monitor_mode == mode and callback.best is not None


def test_a_user_metric_gives_its_direction_as_in_keras(tmp_path):
    class Score(metrics.Mean):
        def __init__(self):
            super().__init__(name="score")
            self._direction = "up"

        def update_state(self, y_true, y_pred, sample_weight=None):
            super().update_state(np.mean(y_pred))

    callback = EarlyStopping(monitor="val_score")
    _fit([Score()], callback)
    assert callback.monitor_mode == "max"


@pytest.mark.parametrize(("make_metrics", "monitor", "expected", "outputs"), [
    (lambda: ["auc", "auc"], "auc_1", "max", 1),
    (lambda: ["accuracy", metrics.TruePositives(name="accuracy")], "accuracy_1", None, 1),
    (lambda: {"a": "accuracy", "b": "mse"}, "val_a_accuracy", "max", 2),
    (lambda: {"a": "accuracy", "b": "mse"}, "b_mse", "min", 2),
    (lambda: {"a": "accuracy", "b": "mse"}, "val_b_loss", "min", 2),
])
def test_renamed_log_names_take_their_metrics_direction(make_metrics, monitor, expected,
                                                        outputs, tmp_path):
    """npconv's difference: Keras 3.15.1 compares the monitor with the metric objects'
    own names, so it raises for every renamed log name ("auc_1", "weighted_auc",
    "<output>_accuracy", "<output>_loss", recorded); npconv reads the metric behind the log
    name, and refuses only when that metric has no direction."""
    callback = EarlyStopping(monitor=monitor)
    if expected is None:
        with pytest.raises(ValueError, match="isn't able to automatically determine"):
            _fit(make_metrics(), callback, outputs)
    else:
        _fit(make_metrics(), callback, outputs)
        assert callback.monitor_mode == expected
