'''Metrics whose result is an array (``F1Score()``/``FBetaScore()`` with Keras's default
``average=None``, ``R2Score(class_aggregation=None)``, the confusion metrics with several
thresholds) in ``fit`` / ``evaluate``, as Keras 3.15.1 (torch backend) does it.

What Keras does (run with ``KERAS_BACKEND=torch``: a Dense(3, softmax) model, compiled with
``metrics=[F1Score(), Precision(thresholds=[0.3, 0.6])]``, fit 2 epochs with validation):

- ``history.history["f1_score"]`` is a list of 1-D ``np.ndarray`` (one per epoch), the loss a
  list of floats; ``evaluate`` returns ``[loss, array, array]`` and, with
  ``return_dict=True``, ``{"f1_score": array, "loss": float, "precision": array}``;
- the verbose lines print the mean of an array: ``f1_score: 0.2652`` for
  ``[0.25, 0.0, 0.54545]``;
- CSVLogger writes the cell ``"""[0.24999996, 0.0, 0.54545444]"""`` (the string
  ``'"[' + ", ".join(map(str, value)) + ']"'``, whose quotes csv doubles);
- EarlyStopping / ReduceLROnPlateau monitoring ``f1_score`` fail inside their comparison
  ("RuntimeError: Boolean value of Tensor with more than one value is ambiguous"): npconv
  raises a ValueError naming the callback and the metric instead;
- ModelCheckpoint(save_best_only=True) monitoring it warns "Can save best model only when
  `monitor` is a scalar value. Received: [...]. Falling back to `save_best_only=False`." and
  saves every epoch.
'''

import csv
import re

import numpy as np
import pytest

import npconv
from npconv import callbacks, layers, metrics
from npconv.io import load_model
from npconv.optimizers import SGD
from npconv.random import set_random_seed
from npconv.training.log_values import csv_cell, log_value, shown_number


def _data(n=12):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]
    return x, y


def _model(lr=0.0, extra=()):
    """lr=0: the weights stay, so each epoch's metrics are those of the one fixed model."""
    set_random_seed(0)
    model = npconv.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(SGD(learning_rate=lr), "categorical_crossentropy",
                  metrics=[metrics.F1Score(), metrics.Precision(thresholds=[0.3, 0.6]),
                           *extra])
    return model


def _direct(model, x, y):
    """The metrics computed on the model's predictions, outside fit."""
    p = model.predict(x, verbose=0)
    f1 = metrics.F1Score()
    f1.update_state(y, p)
    precision = metrics.Precision(thresholds=[0.3, 0.6])
    precision.update_state(y, p)
    return np.asarray(f1.result()), np.asarray(precision.result())


def test_compile_takes_metrics_with_several_values():
    """compile refused F1Score() (average=None), R2Score(class_aggregation=None) and
    several thresholds, which Keras takes."""
    model = npconv.Sequential([layers.Input((3,)), layers.Dense(2, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy",
                  metrics=[metrics.F1Score(), metrics.FBetaScore(beta=2.0),
                           metrics.R2Score(class_aggregation=None),
                           metrics.TruePositives(thresholds=[0.2, 0.8]),
                           metrics.Recall(thresholds=[0.3, 0.7])])
    assert model.compiled


def test_fit_history_holds_per_epoch_arrays_equal_to_the_metric_on_the_data():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=2, batch_size=6, verbose=0, validation_data=(x, y))
    f1, precision = _direct(model, x, y)
    assert f1.shape == (3,) and precision.shape == (2,)
    for key, expected in [("f1_score", f1), ("val_f1_score", f1),
                          ("precision", precision), ("val_precision", precision)]:
        values = history.history[key]
        assert len(values) == 2
        for v in values:
            assert type(v) is np.ndarray  # a plain array, as Keras's History
            np.testing.assert_allclose(v, expected, rtol=1e-6)
    assert all(type(v) is float for v in history.history["loss"])
    # each epoch's entry is its own array, not one object shared (or the metric's state)
    assert history.history["f1_score"][0] is not history.history["f1_score"][1]


def test_fit_with_training_records_each_epochs_arrays():
    x, y = _data(24)
    model = _model(lr=0.5)
    history = model.fit(x, y, epochs=3, batch_size=24, verbose=0, shuffle=False)
    # one batch per epoch: epoch e's metric is that of the weights before its step
    assert not np.allclose(history.history["precision"][0], history.history["precision"][2])
    for v in history.history["f1_score"]:
        assert v.shape == (3,)


def test_evaluate_returns_arrays_in_the_list_and_the_dict():
    x, y = _data()
    model = _model()
    f1, precision = _direct(model, x, y)
    loss, got_f1, got_precision = model.evaluate(x, y, verbose=0)
    assert type(loss) is float
    np.testing.assert_allclose(got_f1, f1, rtol=1e-6)
    np.testing.assert_allclose(got_precision, precision, rtol=1e-6)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs) == ["f1_score", "loss", "precision"]
    assert type(logs["loss"]) is float and logs["loss"] == loss
    np.testing.assert_allclose(logs["f1_score"], f1, rtol=1e-6)
    np.testing.assert_allclose(logs["precision"], precision, rtol=1e-6)
    result = model.get_metrics_result()
    np.testing.assert_allclose(result["f1_score"], f1, rtol=1e-6)


def test_other_array_metrics_in_fit_and_evaluate():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = (x[:, :2] > 0).astype(np.float32)
    set_random_seed(0)
    model = npconv.Sequential([layers.Input((4,)), layers.Dense(2, activation="sigmoid")])
    model.compile(SGD(learning_rate=0.0), "binary_crossentropy",
                  metrics=[metrics.R2Score(class_aggregation=None),
                           metrics.TruePositives(thresholds=[0.2, 0.8]),
                           metrics.FBetaScore(beta=2.0, threshold=0.5)])
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    p = model.predict(x, verbose=0)
    expected = {}
    for m in (metrics.R2Score(class_aggregation=None),
              metrics.TruePositives(thresholds=[0.2, 0.8]),
              metrics.FBetaScore(beta=2.0, threshold=0.5)):
        m.update_state(y, p)
        expected[m.name] = np.asarray(m.result())
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    for name, value in expected.items():
        assert value.shape == (2,)
        np.testing.assert_allclose(history.history[name][0], value, rtol=1e-6)
        np.testing.assert_allclose(logs[name], value, rtol=1e-6)
    # TruePositives counts: whole numbers
    assert np.array_equal(logs["true_positives"], np.round(logs["true_positives"]))


def test_verbose_lines_show_the_mean_of_an_array(capsys):
    x, y = _data()
    model = _model()
    f1, precision = _direct(model, x, y)
    model.fit(x, y, epochs=1, batch_size=6, verbose=2)
    out = capsys.readouterr().out
    assert f"f1_score: {np.mean(f1):.4f}" in out
    assert f"precision: {np.mean(precision):.4f}" in out
    model.evaluate(x, y, verbose=2)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(rf"1/1 - \d+s - \d+[mu]?s/step - loss: \d\.\d{{4}} - "
                        rf"f1_score: {np.mean(f1):.4f} - precision: {np.mean(precision):.4f}",
                        line), line


def test_progress_bars_show_the_mean_of_an_array(capsys):
    x, y = _data()
    model = _model()
    f1, _ = _direct(model, x, y)
    model.fit(x, y, epochs=1, batch_size=6, verbose=1)
    assert f"f1_score={np.mean(f1):.4f}" in capsys.readouterr().out
    model.evaluate(x, y, verbose=1)
    assert f"f1_score={np.mean(f1):.4f}" in capsys.readouterr().out


def test_keras_literals_of_the_log_values():
    assert shown_number(np.array([0.25, 0.0, 0.54545444])) == pytest.approx(0.26515148)
    assert f"{shown_number(np.array([0.25, 0.0, 0.54545444])):.4f}" == "0.2652"  # Keras's
    assert csv_cell(np.array([0.24999996, 0.0, 0.54545444])) == '"[0.24999996, 0.0, 0.54545444]"'
    assert csv_cell(1.5) == 1.5 and csv_cell("NA") == "NA" and csv_cell(np.array(2.0)) == 2.0
    assert log_value([0.5, 0.25]).tolist() == [0.5, 0.25]  # Precision's list of thresholds
    assert type(log_value(np.float32(0.5))) is float


def test_csv_logger_writes_an_array_as_keras(tmp_path):
    path = tmp_path / "log.csv"
    cb = callbacks.CSVLogger(path)
    cb.on_train_begin()
    cb.on_epoch_end(0, {"loss": 1.5, "f1_score": np.array([0.25, 0.0, 0.5])})
    cb.on_epoch_end(1, {"loss": 1.25, "f1_score": np.array([0.5, 0.125, 0.75])})
    cb.on_train_end()
    # Keras 3.15.1's bytes for the same logs (its excel dialect: \r\n, doubled quotes;
    # logs without val_* values get val_* columns of NA)
    assert path.read_bytes() == (b'epoch,f1_score,loss,val_f1_score,val_loss\r\n'
                                 b'0,"""[0.25, 0.0, 0.5]""",1.5,NA,NA\r\n'
                                 b'1,"""[0.5, 0.125, 0.75]""",1.25,NA,NA\r\n')
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[1][1] == '"[0.25, 0.0, 0.5]"'


def test_csv_logger_in_fit(tmp_path):
    x, y = _data()
    model = _model()
    f1, precision = _direct(model, x, y)
    path = tmp_path / "log.csv"
    model.fit(x, y, epochs=2, batch_size=6, verbose=0, validation_data=(x, y),
              callbacks=[callbacks.CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2
    for row in rows:
        for key, expected in [("f1_score", f1), ("val_precision", precision)]:
            cell = row[key]
            assert cell.startswith('"[') and cell.endswith(']"')
            np.testing.assert_allclose([float(v) for v in cell[2:-2].split(", ")], expected,
                                       rtol=1e-6)
        float(row["loss"])


@pytest.mark.parametrize("make", [
    lambda: callbacks.EarlyStopping(monitor="f1_score", mode="max"),
    lambda: callbacks.EarlyStopping(monitor="val_f1_score"),
    lambda: callbacks.ReduceLROnPlateau(monitor="val_precision", mode="max")])
def test_plateau_callbacks_monitoring_an_array_say_so(make):
    x, y = _data()
    cb = make()
    with pytest.raises(ValueError, match=rf"{type(cb).__name__}: monitor='{cb.monitor}' is an "
                                         r"array of \d values \(one per class or threshold"
                                         r".*monitor a metric with one number instead"):
        _model().fit(x, y, epochs=2, batch_size=6, verbose=0, validation_data=(x, y),
                     callbacks=[cb])


def test_early_stopping_on_the_loss_is_unaffected_by_array_metrics():
    x, y = _data()
    cb = callbacks.EarlyStopping(monitor="loss", patience=0)
    history = _model().fit(x, y, epochs=5, batch_size=6, verbose=0, callbacks=[cb])
    assert len(history.history["loss"]) == 2  # lr=0: no improvement after the first epoch


def test_model_checkpoint_best_only_on_an_array_warns_and_saves_every_epoch(tmp_path):
    x, y = _data()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "m{epoch}.npconv"), monitor="val_f1_score",
                                   save_best_only=True, mode="max")
    with pytest.warns(UserWarning, match=r"Can save best model only when `monitor` is a "
                                         r"scalar value\. Received: \[.*\]\. Falling back to "
                                         r"`save_best_only=False`\."):
        _model().fit(x, y, epochs=2, batch_size=6, verbose=0, validation_data=(x, y),
                     callbacks=[cb])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m1.npconv", "m2.npconv"]


def test_save_and_load_of_a_model_compiled_with_f1_score(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(x, y, epochs=1, batch_size=6, verbose=0)
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    model.save(tmp_path / "m.npconv")
    loaded = load_model(tmp_path / "m.npconv")
    after = loaded.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(after) == sorted(before)
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-6)
    history = loaded.fit(x, y, epochs=1, batch_size=6, verbose=0)
    assert history.history["f1_score"][0].shape == (3,)


def test_train_and_test_on_batch_return_arrays():
    """Keras: train_on_batch gives [1.0654, array([0.667, 0.5, 0.571])], test_on_batch's dict
    {"f1_score": array, "loss": float}."""
    x, y = _data()
    model = _model()
    f1, precision = _direct(model, x, y)
    loss, got_f1, got_precision = model.test_on_batch(x, y)
    np.testing.assert_allclose(got_f1, f1, rtol=1e-6)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert type(logs["loss"]) is float
    np.testing.assert_allclose(logs["precision"], precision, rtol=1e-6)


def test_array_metrics_of_a_model_with_two_outputs():
    x, y = _data()
    set_random_seed(0)
    inputs = layers.Input((4,))
    a = layers.Dense(3, activation="softmax", name="a")(inputs)
    b = layers.Dense(3, activation="softmax", name="b")(inputs)
    model = npconv.Model(inputs, [a, b])
    model.compile(SGD(learning_rate=0.0), ["categorical_crossentropy"] * 2,
                  metrics={"a": [metrics.F1Score()],
                           "b": ["accuracy", metrics.Precision(thresholds=[0.3, 0.6])]})
    history = model.fit(x, [y, y], epochs=1, batch_size=6, verbose=0,
                        validation_data=(x, [y, y]))
    pa, pb = model.predict(x, verbose=0)
    f1 = metrics.F1Score()
    f1.update_state(y, pa)
    precision = metrics.Precision(thresholds=[0.3, 0.6])
    precision.update_state(y, pb)
    for key, expected in [("a_f1_score", f1.result()), ("val_b_precision", precision.result())]:
        np.testing.assert_allclose(history.history[key][0], np.asarray(expected), rtol=1e-6)
    assert type(history.history["b_accuracy"][0]) is float
    values = model.evaluate(x, [y, y], verbose=0)
    assert [np.shape(v) for v in values] == [(), (), (), (3,), (), (2,)]


def test_plot_history_leaves_array_metrics_out(tmp_path):
    """read_history turned every value into a float: a History or CSVLogger file with an
    F1Score() was "only length-1 arrays can be converted" / "not a history CSV"."""
    pytest.importorskip("matplotlib")
    from npconv.viz.plots import plot_history, read_history

    x, y = _data()
    model = _model(extra=["accuracy"])
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=2, batch_size=6, verbose=0, validation_data=(x, y),
                        callbacks=[callbacks.CSVLogger(path)])
    for source in (history, history.history, path):
        logs = read_history(source)
        assert sorted(logs) == ["accuracy", "loss", "val_accuracy", "val_loss"]
        np.testing.assert_allclose(logs["loss"], history.history["loss"])
        plot_history(source, path=tmp_path / "h.png")
        assert (tmp_path / "h.png").stat().st_size > 0
