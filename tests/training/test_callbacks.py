"""Callbacks: each one's behaviour in a real ``fit``.

A ``_Script`` callback placed first writes a chosen value into the epoch logs, so the monitors
(EarlyStopping, ModelCheckpoint, ReduceLROnPlateau) see a sequence we control.
"""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from npconv.io import load_model
from npconv.layers.core import Dense
from npconv.layers.input import Input
from npconv.models.sequential import Sequential
from npconv.random import set_random_seed
from npconv.training import optimizers
from npconv.training.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
)


class _Script(Callback):
    """Puts ``values[epoch]`` into ``logs[key]`` at each epoch end."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, list(values)

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class _Recorder(Callback):
    """Records the weights at each epoch end and the learning rate at each batch start."""

    def __init__(self):
        super().__init__()
        self.weights, self.lrs, self.batches = [], [], 0

    def on_train_batch_begin(self, batch, logs=None):
        self.lrs.append(self.model.optimizer.learning_rate)

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def _setup(lr=0.1, n=20, hidden="relu"):
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = Sequential([Input(shape=(4,)), Dense(5, activation=hidden),
                        Dense(2, activation="softmax")])
    model.compile(optimizer=optimizers.SGD(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, x, y


def test_early_stopping_restores_best_weights():
    model, x, y = _setup()
    rec = _Recorder()
    stop = EarlyStopping(monitor="score", mode="min", patience=2, restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=10, verbose=0,
                        callbacks=[_Script("score", [3.0, 1.0, 2.0, 2.5, 0.5, 0.1]), rec, stop])
    # best at epoch 1; epochs 2 and 3 do not improve -> stop after epoch 3
    assert history.epoch == [0, 1, 2, 3]
    assert stop.stopped_epoch == 3 and stop.best == 1.0 and stop.best_epoch == 1
    for a, b in zip(model.get_weights(), rec.weights[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(rec.weights[3][0], rec.weights[1][0])


def test_early_stopping_without_restore_keeps_last_weights():
    model, x, y = _setup()
    rec = _Recorder()
    model.fit(x, y, epochs=10, batch_size=10, verbose=0,
              callbacks=[_Script("score", [1.0, 2.0, 2.0, 0.0]), rec,
                         EarlyStopping(monitor="score", mode="min", patience=1)])
    assert len(rec.weights) == 2
    for a, b in zip(model.get_weights(), rec.weights[-1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_on_real_val_loss_and_min_delta():
    model, x, y = _setup(lr=0.0)  # nothing changes: val_loss is flat
    history = model.fit(x, y, epochs=10, batch_size=10, validation_split=0.5, verbose=0,
                        callbacks=[EarlyStopping(patience=3)])
    assert len(history.epoch) == 4  # epoch 0 sets the best, 1..3 do not improve


def test_early_stopping_restores_best_weights_when_training_runs_to_the_end():
    """Keras 3 restores in on_train_end: also when patience never ran out."""
    model, x, y = _setup()
    rec = _Recorder()
    stop = EarlyStopping(monitor="score", mode="min", patience=5, restore_best_weights=True)
    history = model.fit(x, y, epochs=4, batch_size=10, verbose=0,
                        callbacks=[_Script("score", [3.0, 1.0, 2.0, 2.5]), rec, stop])
    assert history.epoch == [0, 1, 2, 3] and stop.stopped_epoch == 0
    assert stop.best_epoch == 1
    for a, b in zip(model.get_weights(), rec.weights[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(rec.weights[3][0], rec.weights[1][0])


def test_early_stopping_with_a_baseline_no_epoch_beats_restores_the_best_epoch():
    """Keras 3: best_weights are recorded from the first monitored epoch, the best epoch is the
    best one seen even above the baseline, and only beating the baseline resets patience."""
    model, x, y = _setup()
    rec = _Recorder()
    stop = EarlyStopping(monitor="score", mode="min", patience=2, baseline=0.5,
                         restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=10, verbose=0,
                        callbacks=[_Script("score", [2.0, 1.0, 1.5, 1.7, 0.1]), rec, stop])
    # epoch 1 improves (not below the baseline: no reset) -> epoch 2 is the 3rd without -> stop
    assert history.epoch == [0, 1, 2] and stop.stopped_epoch == 2
    assert stop.best == 1.0 and stop.best_epoch == 1 and stop.best_weights is not None
    for a, b in zip(model.get_weights(), rec.weights[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_baseline_beaten_resets_patience_and_first_epoch_is_kept(capsys):
    model, x, y = _setup()
    rec = _Recorder()
    stop = EarlyStopping(monitor="score", mode="min", patience=1, baseline=0.5, verbose=1,
                         restore_best_weights=True)
    history = model.fit(x, y, epochs=10, batch_size=10, verbose=0,
                        callbacks=[_Script("score", [0.4, 0.3, 0.35, 0.2]), rec, stop])
    assert history.epoch == [0, 1, 2] and stop.best_epoch == 1
    for a, b in zip(model.get_weights(), rec.weights[1], strict=True):
        np.testing.assert_array_equal(a, b)
    out = capsys.readouterr().out
    assert "Epoch 3: early stopping" in out and "best epoch: 2" in out
    # a score that never improves on the first epoch: the first epoch's weights come back
    model, x, y = _setup()
    rec = _Recorder()
    stop = EarlyStopping(monitor="score", mode="min", patience=1, baseline=0.5,
                         restore_best_weights=True)
    model.fit(x, y, epochs=10, batch_size=10, verbose=0,
              callbacks=[_Script("score", [0.9, 0.9, 0.9]), rec, stop])
    assert stop.best_epoch == 0
    for a, b in zip(model.get_weights(), rec.weights[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_save_best_only(tmp_path):
    model, x, y = _setup()
    rec = _Recorder()
    pattern = os.fspath(tmp_path / "ckpt-{epoch:02d}.npconv")
    best = os.fspath(tmp_path / "best.npconv")
    scores = [0.9, 0.5, 0.7, 0.4, 0.6]
    model.fit(x, y, epochs=5, batch_size=10, verbose=0,
              callbacks=[_Script("val_loss", scores), rec,
                         ModelCheckpoint(pattern, save_best_only=True),
                         ModelCheckpoint(best, save_best_only=True)])
    # improvements at epochs 1, 2 and 4 (1-based): 0.9, 0.5, 0.4
    assert sorted(os.listdir(tmp_path)) == ["best.npconv", "ckpt-01.npconv", "ckpt-02.npconv",
                                            "ckpt-04.npconv"]
    restored = load_model(best)
    for a, b in zip(restored.get_weights(), rec.weights[3], strict=True):
        np.testing.assert_array_equal(a, b)
    second = load_model(tmp_path / "ckpt-02.npconv")
    for a, b in zip(second.get_weights(), rec.weights[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_checkpoint_every_epoch_weights_only(tmp_path):
    model, x, y = _setup()
    path = tmp_path / "w-{epoch}-{loss:.3f}.weights"
    history = model.fit(x, y, epochs=2, batch_size=10, verbose=0,
                        callbacks=[ModelCheckpoint(path, save_weights_only=True)])
    names = sorted(os.listdir(tmp_path))
    assert names == [f"w-{e + 1}-{history.history['loss'][e]:.3f}.weights" for e in range(2)]
    other, _, _ = _setup()
    other.load_weights(tmp_path / names[-1])
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    for bad in (0, -1, True, 2.5, "batch"):
        with pytest.raises(ValueError, match="expected save_freq='epoch' or a positive int"):
            ModelCheckpoint(path, save_freq=bad)


def test_model_checkpoint_every_n_batches_counts_across_epochs(tmp_path):
    """Keras's save_freq=N: a save every N batches, the count running on across epochs."""
    model, x, y = _setup(n=30)

    class Weights(Callback):
        def __init__(self):
            super().__init__()
            self.after = []

        def on_train_batch_end(self, batch, logs=None):
            self.after.append([w.copy() for w in self.model.get_weights()])

    seen = Weights()
    pattern = os.fspath(tmp_path / "e{epoch}-b{batch}.npconv")
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, shuffle=False,  # 3 batches an epoch
              callbacks=[seen, ModelCheckpoint(pattern, save_freq=2)])
    assert sorted(os.listdir(tmp_path)) == ["e1-b2.npconv", "e2-b1.npconv", "e2-b3.npconv"]
    for name, step in (("e1-b2.npconv", 1), ("e2-b1.npconv", 3), ("e2-b3.npconv", 5)):
        for a, b in zip(load_model(tmp_path / name).get_weights(), seen.after[step],
                        strict=True):
            np.testing.assert_array_equal(a, b)


def test_reduce_lr_on_plateau_lowers_the_learning_rate():
    model, x, y = _setup(lr=0.1)
    rec = _Recorder()
    history = model.fit(x, y, epochs=5, batch_size=20, verbose=0,
                        callbacks=[_Script("val_loss", [1.0, 1.0, 1.0, 0.5, 0.5]), rec,
                                   ReduceLROnPlateau(factor=0.5, patience=1, min_delta=0.0)])
    # epoch 0 sets the best; 1 and 2 stall (patience 1: halve each time); 3 improves; 4 stalls
    assert rec.lrs == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.025])
    assert model.optimizer.learning_rate == pytest.approx(0.0125)
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025, 0.025])


def test_reduce_lr_respects_min_lr_and_cooldown():
    model, x, y = _setup(lr=0.1)
    rec = _Recorder()
    model.fit(x, y, epochs=6, batch_size=20, verbose=0,
              callbacks=[_Script("val_loss", [1.0] * 6), rec,
                         ReduceLROnPlateau(factor=0.1, patience=1, cooldown=2, min_lr=0.005)])
    # Keras's rule: reduce after epoch 1 (cooldown 2); epoch 2 is in cooldown; the counter
    # reaches 0 at epoch 3, which counts as a stall and reduces (to min_lr); then it stays.
    assert rec.lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.005, 0.005])
    with pytest.raises(ValueError, match="0 < factor < 1"):
        ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_sets_the_rate_each_epoch():
    model, x, y = _setup(lr=0.1)
    rec = _Recorder()
    seen = []

    def schedule(epoch, lr):
        seen.append((epoch, lr))
        return 0.2 * 0.5**epoch

    w0 = model.get_weights()
    history = model.fit(x, y, epochs=3, batch_size=20, verbose=0, shuffle=False,
                        callbacks=[LearningRateScheduler(schedule), rec])
    assert rec.lrs == pytest.approx([0.2, 0.1, 0.05])
    assert seen[0] == (0, pytest.approx(0.1)) and seen[1] == (1, pytest.approx(0.2))
    assert history.history["learning_rate"] == pytest.approx([0.2, 0.1, 0.05])
    # the first step really used 0.2: redo it by hand with plain SGD
    model.set_weights(w0)
    model.compile(optimizer=optimizers.SGD(0.2), loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), rec.weights[0], strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="invalid learning rate"):
        model.fit(x, y, epochs=1, verbose=0,
                  callbacks=[LearningRateScheduler(lambda e, lr: float("nan"))])
    with pytest.raises(TypeError, match="schedule must be callable"):
        LearningRateScheduler(0.1)


def test_terminate_on_nan_stops_at_the_first_bad_batch(capsys):
    model, x, y = _setup(hidden="tanh")  # tanh carries the NaN through (see the report on relu)
    x = x.copy()
    x[12] = np.nan  # in the second batch of 10
    rec = _Recorder()
    history = model.fit(x, y, epochs=5, batch_size=10, shuffle=False, verbose=0,
                        callbacks=[rec, TerminateOnNaN()])
    assert rec.batches == 2
    assert len(history.epoch) == 1 and np.isnan(history.history["loss"][0])
    assert "invalid loss" in capsys.readouterr().out


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    model, x, y = _setup()
    path = tmp_path / "log.csv"
    history = model.fit(x, y, epochs=3, batch_size=10, validation_split=0.5, verbose=0,
                        callbacks=[CSVLogger(path)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    for i, key in enumerate(rows[0][1:], start=1):
        assert [float(r[i]) for r in rows[1:]] == history.history[key]
    # append=True continues the file without a second header
    model.fit(x, y, epochs=1, batch_size=10, validation_split=0.5, verbose=0,
              callbacks=[CSVLogger(path, append=True)])
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 5 and rows[4][0] == "0" and rows.count(rows[0]) == 1


def test_progress_verbose_2_prints_one_line_per_epoch(capsys):
    model, x, y = _setup()
    model.fit(x, y, epochs=2, batch_size=10, verbose=2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Epoch 1/2 - ") and "loss: " in lines[0]
    assert "accuracy: " in lines[1]


def test_callbacks_must_be_callback_objects():
    model, x, y = _setup()
    with pytest.raises(TypeError, match="callbacks must be npconv Callback objects"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[lambda: None])


# ------------------------------------------------------------------------------ hooks
class _Log(Callback):
    """Records every hook call as (hook, batch or epoch, logs)."""

    _HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
              "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
              "on_predict_begin", "on_predict_end", "on_predict_batch_begin",
              "on_predict_batch_end")

    def __init__(self):
        super().__init__()
        self.calls = []
        for hook in self._HOOKS:
            setattr(self, hook, self._recorder(hook))

    def _recorder(self, hook):
        def record(*args, logs=None):
            if args and isinstance(args[-1], dict) and logs is None:
                *args, logs = args
            self.calls.append((hook, *args, dict(logs) if logs is not None else None))
        return record

    def names(self, prefix=""):
        return [c[0] for c in self.calls if c[0].startswith(prefix)]


def test_keras_style_on_batch_begin_and_end_are_called_during_fit():
    """In Keras, Callback.on_train_batch_begin/end forward to on_batch_begin/end (the older
    names many tutorials override); overriding those was silently never called here."""

    class OldStyle(Callback):
        def __init__(self):
            super().__init__()
            self.begins, self.ends = [], []

        def on_batch_begin(self, batch, logs=None):
            self.begins.append(batch)

        def on_batch_end(self, batch, logs=None):
            self.ends.append((batch, sorted(logs)))

    model, x, y = _setup()
    cb = OldStyle()
    model.fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[cb])
    assert cb.begins == [0, 1, 0, 1]
    assert cb.ends == [(0, ["accuracy", "loss"]), (1, ["accuracy", "loss"])] * 2


def test_evaluate_calls_the_test_hooks_with_keras_logs():
    model, x, y = _setup()
    log = _Log()
    result = model.evaluate(x, y, batch_size=8, verbose=0, callbacks=[log])
    assert log.names() == ["on_test_begin"] + ["on_test_batch_begin", "on_test_batch_end"] * 3 \
        + ["on_test_end"]
    assert [c[1] for c in log.calls if c[0] == "on_test_batch_end"] == [0, 1, 2]
    final = log.calls[-1][-1]
    assert final == pytest.approx({"loss": result[0], "accuracy": result[1]})
    assert log.calls[-2][-1] == pytest.approx(final)  # the last batch's running logs
    assert log.model is model and log.params["steps"] == 3


def test_predict_calls_the_predict_hooks_with_the_batch_outputs():
    model, x, y = _setup()
    log = _Log()
    out = model.predict(x, batch_size=8, callbacks=[log])
    assert log.names() == ["on_predict_begin"] + [
        "on_predict_batch_begin", "on_predict_batch_end"] * 3 + ["on_predict_end"]
    batches = [c[-1]["outputs"] for c in log.calls if c[0] == "on_predict_batch_end"]
    np.testing.assert_array_equal(np.concatenate(batches), out)


def test_fit_validation_calls_the_test_hooks_each_epoch_as_keras():
    model, x, y = _setup()
    log = _Log()
    model.fit(x, y, epochs=2, batch_size=10, validation_split=0.5, verbose=0, callbacks=[log])
    names = [n for n in log.names() if not n.startswith("on_test_batch")]
    assert names == ["on_train_begin",
                     "on_epoch_begin", "on_test_begin", "on_test_end", "on_epoch_end",
                     "on_epoch_begin", "on_test_begin", "on_test_end", "on_epoch_end",
                     "on_train_end"]
    assert log.names("on_test_batch_end") == ["on_test_batch_end"] * 2


def test_evaluate_and_predict_check_their_callbacks():
    model, x, y = _setup()
    with pytest.raises(TypeError, match="evaluate: callbacks must be npconv Callback objects"):
        model.evaluate(x, y, verbose=0, callbacks=[object()])
    with pytest.raises(TypeError, match="predict: callbacks must be npconv Callback objects"):
        model.predict(x, callbacks=[object()])


def test_learning_rate_scheduler_takes_a_one_argument_schedule_as_keras():
    """Keras calls schedule(epoch) when the schedule takes no lr (the learning-rate-finder
    tutorials' ``lambda epoch: 1e-3 * 10 ** (epoch / 20)``); it raised a TypeError here."""
    model, x, y = _setup(lr=0.1)
    rec = _Recorder()
    history = model.fit(x, y, epochs=3, batch_size=20, verbose=0, shuffle=False,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1)), rec])
    assert rec.lrs == pytest.approx([0.01, 0.02, 0.03])
    assert history.history["learning_rate"] == pytest.approx([0.01, 0.02, 0.03])


def test_learning_rate_scheduler_does_not_mask_a_type_error_inside_the_schedule():
    """The form is read from the signature: a TypeError inside a two-argument schedule is the
    schedule's own bug and reaches the caller (Keras would retry it as schedule(epoch))."""
    model, x, y = _setup()

    def broken(epoch, lr):
        return lr + "oops"

    with pytest.raises(TypeError, match="unsupported operand"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[LearningRateScheduler(broken)])
    with pytest.raises(TypeError, match=r"must take \(epoch, lr\) or \(epoch\)"):
        LearningRateScheduler(lambda: 0.1)


def test_on_train_end_receives_the_last_epochs_logs_as_keras():
    model, x, y = _setup()
    log = _Log()
    history = model.fit(x, y, epochs=2, batch_size=10, validation_split=0.5, verbose=0,
                        callbacks=[log])
    hook, logs = log.calls[-1][0], log.calls[-1][-1]
    assert hook == "on_train_end"
    assert sorted(logs) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert logs["loss"] == pytest.approx(history.history["loss"][-1])
    assert logs["val_loss"] == pytest.approx(history.history["val_loss"][-1])


def test_on_train_end_after_a_stop_inside_the_first_batch_gets_that_epochs_logs():
    class StopAtOnce(Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.stop_training = True

        def on_train_end(self, logs=None):
            self.logs = logs

    model, x, y = _setup()
    cb = StopAtOnce()
    model.fit(x, y, epochs=3, batch_size=5, verbose=0, callbacks=[cb])
    assert sorted(cb.logs) == ["accuracy", "loss"] and model.optimizer.iterations == 1


def test_lambda_callback_calls_its_functions_with_keras_arguments():
    model, x, y = _setup()
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, sorted(logs))),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, sorted(logs))),
        on_train_end=lambda logs: calls.append(("train_end", sorted(logs))),
        on_test_end=lambda logs: calls.append(("test_end", sorted(logs))),
        on_batch_begin=lambda batch, logs: calls.append(("old_batch_begin", batch)))
    model.fit(x, y, epochs=1, batch_size=10, validation_split=0.5, verbose=0, callbacks=[cb])
    keys = ["accuracy", "loss"]
    val_keys = keys + ["val_accuracy", "val_loss"]
    assert calls == [("train_begin", {}), ("epoch_begin", 0), ("old_batch_begin", 0),
                     ("batch_end", 0, keys), ("test_end", keys), ("epoch_end", 0, val_keys),
                     ("train_end", val_keys)]
    predicted = []
    model.predict(x, batch_size=10, callbacks=[LambdaCallback(
        on_predict_batch_end=lambda batch, logs: predicted.append(logs["outputs"].shape))])
    assert predicted == [(10, 2), (10, 2)]
    with pytest.raises(TypeError, match="LambdaCallback: unknown hook 'on_epochs_end'"):
        LambdaCallback(on_epochs_end=print)
    with pytest.raises(TypeError, match="LambdaCallback: expected on_epoch_end to be callable"):
        LambdaCallback(on_epoch_end=1)


def test_every_hook_gets_a_logs_dict_by_position_as_keras():
    """The Keras guide's callbacks read ``logs.keys()`` in every hook and often declare
    ``def on_train_begin(self, logs)`` without a default: fit, evaluate and predict called
    on_train_begin() with no argument and passed logs=None to the begin hooks."""

    class Guide(Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_train_begin(self, logs):
            self.seen.append(("train_begin", sorted(logs.keys())))

        def on_epoch_begin(self, epoch, logs):
            self.seen.append(("epoch_begin", sorted(logs.keys())))

        def on_train_batch_begin(self, batch, logs):
            self.seen.append(("train_batch_begin", sorted(logs.keys())))

        def on_test_begin(self, logs):
            self.seen.append(("test_begin", sorted(logs.keys())))

        def on_test_batch_begin(self, batch, logs):
            self.seen.append(("test_batch_begin", sorted(logs.keys())))

        def on_predict_begin(self, logs):
            self.seen.append(("predict_begin", sorted(logs.keys())))

        def on_predict_batch_begin(self, batch, logs):
            self.seen.append(("predict_batch_begin", sorted(logs.keys())))

        def on_predict_end(self, logs):
            self.seen.append(("predict_end", sorted(logs.keys())))

        def on_train_end(self, logs):
            self.seen.append(("train_end", sorted(logs.keys())))

    model, x, y = _setup()
    cb = Guide()
    model.fit(x, y, epochs=1, batch_size=20, verbose=0, callbacks=[cb])
    model.evaluate(x, y, batch_size=20, verbose=0, callbacks=[cb])
    model.predict(x, batch_size=20, verbose=0, callbacks=[cb])
    assert cb.seen == [("train_begin", []), ("epoch_begin", []), ("train_batch_begin", []),
                       ("train_end", ["accuracy", "loss"]), ("test_begin", []),
                       ("test_batch_begin", []), ("predict_begin", []),
                       ("predict_batch_begin", []), ("predict_end", [])]


def test_a_checkpoint_filepath_field_missing_from_the_logs_is_named(tmp_path):
    """"model_{epoch:02d}-{val_loss:.2f}.keras" in a fit without validation was a bare
    KeyError: 'val_loss'."""
    model, x, y = _setup()
    path = str(tmp_path / "model_{epoch:02d}-{val_loss:.2f}.keras")
    with pytest.raises(KeyError, match=r"ModelCheckpoint: the filepath .* names \{val_loss\}, "
                                       r"which is not in the logs of this epoch \(available: "
                                       r"\['accuracy', 'epoch', 'loss'\]\).*validation_split"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(path)])
    with pytest.raises(KeyError, match=r"names \{acc\}, which is not in the logs of this batch"):
        model.fit(x, y, epochs=1, batch_size=10, verbose=0,
                  callbacks=[ModelCheckpoint(str(tmp_path / "m-{acc}.keras"), save_freq=2)])
    model.fit(x, y, epochs=1, verbose=0, validation_split=0.5,
              callbacks=[ModelCheckpoint(path)])
    assert len(list(tmp_path.glob("model_01-*.keras"))) == 1


def test_ctrl_c_closes_the_progress_bar_before_the_message(capsys):
    # An interrupted fit ends its tqdm bar's line at once: left open, the bar was drawn again
    # when garbage collected, after the "npconv: interrupted ..." message that follows.
    import gc

    from npconv.training.callbacks import Callback

    class Interrupt(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                raise KeyboardInterrupt

    model = Sequential([Input(shape=(3,)), Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((40, 3), np.float32)
    try:
        model.fit(x, np.zeros((40, 2), np.float32), batch_size=4, epochs=1, verbose=1,
                  callbacks=[Interrupt()])
    except KeyboardInterrupt:  # as npconv's main: the message while the traceback is alive
        print("MESSAGE")
    gc.collect()
    out = capsys.readouterr().out
    assert "3/10" in out
    assert out.endswith("MESSAGE\n"), out[-200:]
