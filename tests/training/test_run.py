"""npconv.training.run: configuration checks, seed 003's splits, the per-epoch print, and an
exact resume after Ctrl-C (at the end of an epoch and in the middle of one) on Fashion-MNIST."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import sys

import numpy as np
import pytest

from npconv.data import random_split
from npconv.training.callbacks import Callback
from npconv.training.run import (
    STATE_FILE,
    NotResumableError,
    RunConfig,
    RunConfigError,
    TrainingInterrupted,
    _plots,
    _sigint_deferred,
    epoch_block,
    load_checkpoint,
    resume,
    split_data,
    train,
)

QUICK = dict(model="strided_cnn", dataset="fashion_mnist", epochs=3, batch_size=64, limit=256,
             seed=11, download=False)
STEPS = 4  # 256 samples / 64


def quiet(*args, **kwargs):
    pass


# ---------------------------------------------------------------------------- configuration
@pytest.mark.parametrize("change, needle", [
    (dict(model="resnet"), "unknown model 'resnet'"),
    (dict(dataset="imagenet"), "unknown dataset 'imagenet'"),
    (dict(optimizer="lamb"), "unknown optimizer 'lamb'"),
    (dict(epochs=0), "epochs"),
    (dict(epochs=2.5), "epochs"),
    (dict(batch_size=0), "batch_size"),
    (dict(learning_rate=-1e-3), "learning_rate"),
    (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(validation_split=1.0), "validation_split"),
    (dict(seed=-1), "seed"),
    (dict(limit=0), "limit"),
    (dict(image_size=(28,)), "image_size"),
    (dict(color_mode="cmyk"), "color_mode"),
])
def test_config_errors_name_the_value(change, needle):
    with pytest.raises(RunConfigError, match=needle):
        RunConfig(**change).validate()


def test_config_round_trips_through_json():
    config = RunConfig(**QUICK, validation_split=0.25, image_size=(32, 30))
    again = RunConfig.from_json(json.loads(json.dumps(config.to_json())))
    assert again == config
    with pytest.raises(ValueError, match="unknown entries"):
        RunConfig.from_json({"model": "lenet5", "colour": "red"})


# ---------------------------------------------------------------------------- splits
def _numbered(n, side=2):
    """Images whose every pixel is their index, so each sample can be recognised."""
    x = np.repeat(np.arange(n, dtype=np.uint8)[:, None, None], side * side, 1)
    return x.reshape(n, side, side), (np.arange(n) % 10).astype(np.uint8)


def test_default_split_is_seed_003s_70_30_split_of_the_test_set():
    train_set, test_set = _numbered(50), _numbered(100)
    s = split_data(train_set, test_set, limit=20)
    assert s.sizes() == {"train": 20, "validation": 70, "test": 30}
    np.testing.assert_array_equal(s.x_train[:, 0, 0, 0] * 255, np.arange(20))  # the first 20
    val_ids = np.rint(s.x_val[:, 0, 0, 0] * 255).astype(int)
    test_ids = np.rint(s.x_test[:, 0, 0, 0] * 255).astype(int)
    assert sorted(np.r_[val_ids, test_ids]) == list(range(100))  # each sample exactly once
    (xv, _), (xt, _) = random_split(*test_set, [0.7, 0.3], seed=20)
    np.testing.assert_array_equal(val_ids, xv[:, 0, 0])
    np.testing.assert_array_equal(test_ids, xt[:, 0, 0])
    assert s.x_train.dtype == np.float32 and s.x_train.shape == (20, 2, 2, 1)
    assert s.y_train.dtype == np.int64 and "70% validation" in s.description


def test_validation_split_holds_out_part_of_the_training_set():
    s = split_data(_numbered(40), _numbered(10), validation_split=0.25)
    assert s.sizes() == {"train": 30, "validation": 10, "test": 10}
    ids = np.rint(np.r_[s.x_train[:, 0, 0, 0], s.x_val[:, 0, 0, 0]] * 255).astype(int)
    assert sorted(ids) == list(range(40))
    np.testing.assert_array_equal(np.rint(s.x_test[:, 0, 0, 0] * 255), np.arange(10))


def test_image_folder_without_test_set_is_split_three_ways():
    x, y = _numbered(40)
    s = split_data((x[..., None], y), (None, None))
    assert s.sizes() == {"train": 28, "validation": 6, "test": 6}
    with pytest.raises(RunConfigError, match="leave no training data"):
        split_data((x[..., None], y), (None, None), validation_split=0.9)


def test_empty_split_is_an_error():
    with pytest.raises(RunConfigError, match="every part needs one"):
        split_data(_numbered(5), _numbered(1))


# ---------------------------------------------------------------------------- printing
def test_epoch_block_is_seed_003s_format():
    logs = {"loss": 0.25671, "accuracy": 0.92194, "val_loss": 0.07481, "val_accuracy": 0.97572}
    assert epoch_block(0, logs) == (
        "epoch: 0\ntrain: \n\tloss: 0.2567\n\taccuracy: 0.9219\n"
        "validation: \n\tloss: 0.0748\n\taccuracy: 0.9757\n" + "-" * 20)


def test_ctrl_c_waits_while_a_checkpoint_is_written():
    done = []
    with pytest.raises(KeyboardInterrupt):
        with _sigint_deferred():
            signal.raise_signal(signal.SIGINT)
            done.append("written")  # still runs: the interrupt is held back
    assert done == ["written"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored_while_a_checkpoint_is_written():
    # a run started with SIGINT ignored (`npconv train ... &` from a script) ran on through
    # every Ctrl-C except one arriving while a checkpoint was written, which stopped it
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        try:
            with _sigint_deferred():
                signal.raise_signal(signal.SIGINT)
        except KeyboardInterrupt:  # (caught: it would stop the whole test session)
            pytest.fail("an ignored SIGINT stopped the checkpoint")
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------------- runs
class InterruptAt(Callback):
    """Raise KeyboardInterrupt after ``batches`` training batches, or at the end of ``epoch``."""

    def __init__(self, batches=None, epoch=None):
        super().__init__()
        self.batches, self.epoch, self.seen = batches, epoch, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.batches is not None and self.seen == self.batches:
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "full"
    return train(RunConfig(**QUICK), out, verbose=0, print_fn=quiet, command=["test"])


def _weights(path):
    return load_checkpoint(path).get_weights()


def test_run_outputs_agree_with_its_history(uninterrupted):
    r = uninterrupted
    assert r.output.joinpath("last.npconv").is_file() and r.output.joinpath("best.npconv").is_file()
    assert set(r.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in r.history.values())
    saved = json.loads((r.output / "history.json").read_text())
    assert saved == {"epoch": [0, 1, 2], **r.history}
    with open(r.output / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2]
    for key, values in r.history.items():
        assert [float(row[key]) for row in rows] == values  # repr round-trips exactly
    info = json.loads((r.output / "run.json").read_text())
    assert info["status"] == "completed" and info["command"]["argv"] == ["test"]
    assert info["config"] == RunConfig(**QUICK).to_json()
    assert info["metrics"] == r.metrics
    assert r.metrics["val_accuracy"] == r.history["val_accuracy"][-1]
    assert info["data"]["sizes"] == {"train": 256, "validation": 7000, "test": 3000}
    best_epoch = int(np.argmax(r.history["val_accuracy"]))
    assert info["best"] == {"epoch": best_epoch,
                            "val_accuracy": r.history["val_accuracy"][best_epoch]}
    cm = np.array(info["confusion_matrix"])
    assert cm.sum() == 3000 and np.trace(cm) / 3000 == pytest.approx(r.metrics["test_accuracy"])
    # the final model is last.npconv, with the optimizer's state: 3 epochs of 4 steps
    model = load_checkpoint(r.output / "last.npconv")
    assert model.optimizer.iterations == 3 * STEPS
    for a, b in zip(model.get_weights(), r.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_resume_after_interrupts_gives_the_same_weights_bit_for_bit(uninterrupted, tmp_path):
    out = tmp_path / "interrupted"
    # Ctrl-C in the middle of the first epoch: only the initial state can be kept
    with pytest.raises(TrainingInterrupted, match="after 0 of 3 epochs") as info:
        train(RunConfig(**QUICK), out, verbose=0, print_fn=quiet,
              callbacks=[InterruptAt(batches=2)])
    assert isinstance(info.value, KeyboardInterrupt)
    assert "npconv train --resume" in str(info.value)
    assert json.loads((out / STATE_FILE).read_text())["epochs_done"] == 0
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    # resumed, then interrupted again at the end of epoch 1 (after its checkpoint)
    with pytest.raises(TrainingInterrupted, match="after 2 of 3 epochs"):
        resume(out, verbose=0, print_fn=quiet, callbacks=[InterruptAt(epoch=1)])
    after_two = _weights(out / "last.npconv")
    result = resume(out, verbose=0, print_fn=quiet)

    final = result.model.get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(after_two, final, strict=True))
    for a, b in zip(final, uninterrupted.model.get_weights(), strict=True):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    assert result.history == uninterrupted.history
    assert result.metrics == uninterrupted.metrics
    assert (out / "history.csv").read_text() == (uninterrupted.output / "history.csv").read_text()
    for a, b in zip(_weights(out / "best.npconv"),
                    _weights(uninterrupted.output / "best.npconv"), strict=True):
        np.testing.assert_array_equal(a, b)
    info = json.loads((out / "run.json").read_text())
    assert [r["after_epochs"] for r in info["resumed"]] == [0, 2]


@pytest.mark.parametrize("phase", ["test", "plots"])
def test_ctrl_c_after_the_last_epoch_is_finished_by_resume(uninterrupted, tmp_path, monkeypatch,
                                                            phase):
    """Ctrl-C during the test or the plots left run.json "running" without metrics, and
    --resume answered 'already done 3 of 3 epochs'."""
    from npconv.training import metrics, run

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    target = (metrics, "confusion_matrix") if phase == "test" else (run, "_plots")
    real = getattr(*target)
    monkeypatch.setattr(*target, ctrl_c)
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="during the test, after all 3 of 3 epochs") \
            as info:
        train(RunConfig(**QUICK), out, verbose=0, print_fn=quiet)
    assert info.value.finishing and f"npconv train --resume {out}" in str(info.value)
    saved = json.loads((out / "run.json").read_text())
    assert saved["status"] == "interrupted" and saved["epochs_done"] == 3
    assert "metrics" not in saved
    monkeypatch.setattr(*target, real)

    printed = []
    result = resume(out, verbose=0, print_fn=printed.append)
    assert printed[0].startswith(f"finishing {out}: all 3 epochs are done")
    assert not any(p.startswith("epoch: ") for p in printed)  # no epoch trained again
    assert result.metrics == uninterrupted.metrics
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and info["metrics"] == uninterrupted.metrics
    assert info["confusion_matrix"] == json.loads(
        (uninterrupted.output / "run.json").read_text())["confusion_matrix"]
    assert load_checkpoint(out / "last.npconv").optimizer.iterations == 3 * STEPS
    with pytest.raises(RunConfigError, match="already done 3 of 3 epochs"):  # now it is done
        resume(out, verbose=0, print_fn=quiet)


def test_an_error_during_the_test_marks_the_run_failed_and_resume_finishes_it(tmp_path,
                                                                            monkeypatch):
    from npconv.training import run

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run, "_plots", broken)
    out = tmp_path / "run"
    config = RunConfig(**{**QUICK, "epochs": 1})
    with pytest.raises(RuntimeError, match="disk full"):
        train(config, out, verbose=0, print_fn=quiet)
    saved = json.loads((out / "run.json").read_text())
    assert saved["status"] == "failed" and saved["error"] == "RuntimeError: disk full"
    monkeypatch.undo()
    resume(out, verbose=0, print_fn=quiet)
    saved = json.loads((out / "run.json").read_text())
    assert saved["status"] == "completed" and "error" not in saved and "metrics" in saved


def test_resume_and_train_refuse_what_they_cannot_do(uninterrupted, tmp_path):
    with pytest.raises(RunConfigError, match="already done 3 of 3 epochs"):
        resume(uninterrupted.output, verbose=0, print_fn=quiet)
    with pytest.raises(RunConfigError, match="already holds a run"):
        train(RunConfig(**QUICK), uninterrupted.output, verbose=0, print_fn=quiet)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        resume(tmp_path / "nothing", print_fn=quiet)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        resume(tmp_path / "broken", print_fn=quiet)


def _pop(key):
    return lambda d: d.pop(key)


def _set(key, value):
    return lambda d: d.__setitem__(key, value)


@pytest.mark.parametrize("file, damage, needle", [
    ("state.json", _pop("shuffle_rng"), "state.json: 'shuffle_rng' is missing"),
    ("state.json", _pop("epochs_done"), "'epochs_done' is missing"),
    ("state.json", _set("epochs_done", -1), "'epochs_done' to be an int >= 0. Received -1"),
    ("state.json", _set("epochs_done", "2"), "'epochs_done' to be an int >= 0. Received '2'"),
    ("state.json", _set("epochs_done", True), "'epochs_done' to be an int >= 0"),
    ("state.json", _set("epochs_done", 2.0), "'epochs_done' to be an int >= 0"),
    ("state.json", _set("shuffle_rng", "abc"), "'shuffle_rng' is not a numpy generator state"),
    ("state.json", _set("shuffle_rng", {"bit_generator": "PCG64"}), "'shuffle_rng' is not a"),
    ("state.json", _set("global_rng", {"bit_generator": "MT19937", "state": {}}),
     "'global_rng' is not a numpy generator state"),
    ("state.json", _set("history", [1, 2]), "'history' to be an object"),
    ("state.json", _set("history", {"loss": [1.0, "x", 2.0]}), "history['loss'] to be a list"),
    ("state.json", _set("epochs_done", 2), "] holds 3 epochs, but epochs_done is 2"),
    ("state.json", _set("best", {"epoch": 7, "val_accuracy": 0.5}), "'best' to be null or"),
    ("state.json", _set("best", [0, 0.5]), "'best' to be null or"),
    ("state.json", _set("optimizer_iterations", "12"), "'optimizer_iterations' to be an int"),
    ("state.json", lambda d: d.clear() or d.update({"a": 1}) or None, "'epochs_done' is missing"),
    ("state.json", "[]", "state.json: expected a JSON object. Received list"),
    ("state.json", "{oops", "state.json: is not valid JSON"),
    ("state.json", None, "state.json: missing"),
    ("run.json", _set("config", "mnist"), "run.json: expected a 'config' object"),
    ("run.json", lambda d: d["config"].update(epochs=0), "run.json: its config is not valid"),
    ("run.json", lambda d: d["config"].update(colour=1), "its config is not valid"),
    ("run.json", _set("resumed", "yes"), "'resumed' to be a list"),
    ("last.npconv", None, "last.npconv: missing"),
])
def test_a_damaged_run_is_not_resumable_and_is_left_as_it_was(uninterrupted, tmp_path, file,
                                                              damage, needle):
    """A damaged state.json gave a Python traceback (KeyError 'shuffle_rng', TypeError...)."""
    out = tmp_path / "damaged"
    shutil.copytree(uninterrupted.output, out)
    path = out / file
    if damage is None:
        path.unlink()
    elif isinstance(damage, str):
        path.write_text(damage)
    else:
        data = json.loads(path.read_text())
        damage(data)
        path.write_text(json.dumps(data))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(NotResumableError, match="^not a resumable run: ") as info:
        resume(out, verbose=0, print_fn=quiet)
    assert needle in str(info.value) and "\n" not in str(info.value)
    assert str(out) in str(info.value)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing written



def test_a_model_and_a_state_from_different_epochs_are_not_resumed(uninterrupted, tmp_path):
    # last.npconv is written before state.json: a run killed between the two left a model one
    # epoch ahead of its state, and the resume trained that epoch again, silently
    out = tmp_path / "torn"
    shutil.copytree(uninterrupted.output, out)
    state = json.loads((out / "state.json").read_text())
    assert state["optimizer_iterations"] == 3 * STEPS
    state["optimizer_iterations"] = 2 * STEPS  # as state.json after epoch 2
    (out / "state.json").write_text(json.dumps(state))
    info = json.loads((out / "run.json").read_text())
    info["status"] = "running"  # (a resume then only finishes the run, if it may resume)
    (out / "run.json").write_text(json.dumps(info))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(NotResumableError, match=r"last\.npconv holds the model after 12 "
                                                r"training steps, but .*state\.json was written "
                                                r"after 8: the two are from different epochs"):
        resume(out, verbose=0, print_fn=quiet)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing written

@pytest.mark.parametrize("where", ["file", "under a file", "train is a file"])
def test_a_bad_tensorboard_folder_fails_before_the_run_folder_is_written(tmp_path, where):
    """--tensorboard FILE failed after run.json, state.json and last.npconv were written: a
    run that could be neither resumed (same error) nor redone ('already holds a run')."""
    (tmp_path / "file").write_text("not a folder")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "train").write_text("not a folder")
    logdir = {"file": tmp_path / "file", "under a file": tmp_path / "file" / "tb",
              "train is a file": tmp_path / "logs"}[where]
    out = tmp_path / "run"
    with pytest.raises(RunConfigError, match="TensorBoard folder .* (is a file|cannot be created)"):
        train(RunConfig(**{**QUICK, "tensorboard": str(logdir)}), out, verbose=0,
              print_fn=quiet)
    assert not out.exists()


def test_resume_checks_the_tensorboard_folder_before_writing(uninterrupted, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(uninterrupted.output, out)
    info = json.loads((out / "run.json").read_text())
    info["config"]["tensorboard"] = str(out / "history.csv")
    (out / "run.json").write_text(json.dumps(info))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RunConfigError, match="history.csv is a file, not a folder"):
        resume(out, epochs=4, verbose=0, print_fn=quiet)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_load_checkpoint_reads_files_with_one_element_optimizer_scalars(uninterrupted, tmp_path):
    """Files written before io.save_model kept 0-d scalars hold iterations as shape (1,)."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    path = uninterrupted.output / "last.npconv"
    with safe_open(str(path), framework="np") as f:
        metadata = f.metadata()
    del metadata["npconv.header_sha256"]  # (as old files: written before it was recorded)
    tensors = load_file(str(path))
    tensors["opt/iterations"] = tensors["opt/iterations"].reshape(1)
    tensors["opt/learning_rate"] = tensors["opt/learning_rate"].reshape(1)
    save_file(tensors, str(tmp_path / "old.npconv"), metadata=metadata)
    model = load_checkpoint(tmp_path / "old.npconv")
    assert model.optimizer.iterations == 3 * STEPS
    assert load_checkpoint(tmp_path / "old.npconv", optimizer_state=False).optimizer.iterations == 0



@pytest.mark.parametrize("compiled", ["adam", [1], {"optimizer": {"class_name": "Adam",
                                                                 "config": [1]}}])
def test_load_checkpoint_of_a_bad_training_configuration_names_the_file(uninterrupted,
                                                                          tmp_path, compiled):
    # an edited npconv.compile (checksums recomputed) gave a bare TypeError "string indices
    # must be integers": a traceback from npconv evaluate / predict / --resume
    from safetensors.numpy import load_file

    from npconv.io import _serialize

    path = uninterrupted.output / "last.npconv"
    raw = path.read_bytes()
    meta = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])["__metadata__"]
    meta = {k: json.loads(v) for k, v in meta.items() if not k.endswith("_sha256")}
    meta["npconv.compile"] = compiled
    bad = tmp_path / "edited.npconv"
    bad.write_bytes(b"".join(bytes(p) for p in _serialize(load_file(str(path)), meta)))
    with pytest.raises(ValueError, match="cannot restore the optimizer recorded in it") as info:
        load_checkpoint(bad)
    assert str(bad) in str(info.value)

def test_without_matplotlib_the_plots_are_a_one_line_note(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    notes = []
    written = _plots(tmp_path, {"loss": [1.0, 0.5]}, np.eye(2, dtype=np.int64), ["a", "b"],
                     notes.append)
    assert written == [] and not any(tmp_path.iterdir())
    assert len(notes) == 1 and "\n" not in notes[0] and "matplotlib is not installed" in notes[0]


def test_load_checkpoint_restores_the_slots_of_a_model_with_batch_norm(tmp_path):
    """Model files key optimizer slots by weight (opt/velocity/w/0002/...); load_checkpoint
    hands them to set_state with model.trainable_weights, which skip BatchNormalization's
    moving statistics: the slots still land on their own weights."""
    from npconv import layers
    from npconv.models.sequential import Sequential
    from npconv.random import set_random_seed

    set_random_seed(0)
    model = Sequential([layers.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.BatchNormalization(),
                        layers.Flatten(), layers.Dense(3, activation="softmax")])
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 6, 6, 1)).astype(np.float32), rng.integers(0, 3, 16)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "last.npconv")
    loaded = load_checkpoint(tmp_path / "last.npconv")
    want, got = model.optimizer.get_state(model.weights), loaded.optimizer.get_state(loaded.weights)
    assert sorted(got) == sorted(want) and "velocity.6" in got  # the Dense kernel, after 4 BN
    for key, value in want.items():
        np.testing.assert_array_equal(got[key], value)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's overflow, in every thread
def test_a_run_whose_loss_becomes_nan_stops_with_a_clear_error(tmp_path):
    """A far too large learning rate: the run stops at the first non-finite loss (run.json
    "failed") instead of training its epochs on NaN weights and reporting "done"."""
    from npconv.training.run import TrainingDiverged

    out = tmp_path / "run"
    config = RunConfig(**{**QUICK, "learning_rate": 1e9})
    with pytest.raises(
            TrainingDiverged, match=r"the training loss became (nan|inf) in epoch 0, batch \d+, "
                                    r"and the run stopped.*--lr 1e\+09"):
        train(config, out, verbose=0, print_fn=quiet)
    saved = json.loads((out / "run.json").read_text())
    assert saved["status"] == "failed" and saved["error"].startswith("TrainingDiverged")
    assert saved["epochs_done"] == 0


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_diverged_run_resumes_only_with_a_new_learning_rate(tmp_path):
    """A resume replays the run bit for bit, so a run that diverged would diverge again at
    the same step: it is refused at once, naming --lr; with a new learning rate it goes on
    from the last saved epoch (here epoch 0: the same weights as a new run at that rate)."""
    from npconv.training.run import TrainingDiverged

    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged):
        train(RunConfig(**{**QUICK, "learning_rate": 1e9}), out, verbose=0, print_fn=quiet)
    with pytest.raises(RunConfigError, match=r"the run in .* stopped because its training "
                                             r"diverged.*with --lr 1e\+09.*would diverge "
                                             r"again.*--resume .* --lr RATE"):
        resume(out, verbose=0, print_fn=quiet)
    with pytest.raises(RunConfigError, match="learning_rate"):
        resume(out, learning_rate=-1.0, verbose=0, print_fn=quiet)
    result = resume(out, learning_rate=1e-3, verbose=0, print_fn=quiet)
    saved = json.loads((out / "run.json").read_text())
    assert saved["status"] == "completed" and saved["config"]["learning_rate"] == 1e-3
    assert saved["resumed"][-1]["learning_rate"] == {"from": 1e9, "to": 1e-3}
    assert "error" not in saved and result.model.optimizer.learning_rate == 1e-3
    fresh = train(RunConfig(**QUICK), tmp_path / "fresh", verbose=0, print_fn=quiet)
    for a, b in zip(result.model.get_weights(), fresh.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_model_too_deep_for_the_images_says_so_before_a_run_folder_is_made(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RunConfigError, match=r"alexnet cannot take this data's 28x28 images: "
                                             r"max_pooling2d.*--image-size"):
        train(RunConfig(**{**QUICK, "model": "alexnet"}), out, verbose=0, print_fn=quiet)
    assert not out.exists()


def test_the_divergence_guard_also_stops_at_a_non_finite_validation_loss():
    """The last update of an epoch can break the weights with a finite training loss: the
    epoch's validation loss shows it, before the checkpoint (after the guard) saves them."""
    from npconv.training.run import TrainingDiverged, _DivergenceGuard

    guard = _DivergenceGuard(0.5)
    guard.on_epoch_begin(2)
    guard.on_epoch_end(2, {"loss": 0.3, "val_loss": 0.4})  # finite: nothing happens
    guard.on_train_batch_end(7, {"loss": 1e30})
    with pytest.raises(TrainingDiverged, match=r"the validation loss became nan in epoch 2's "
                                               r"end.*a new run with a smaller learning rate "
                                               r"than --lr 0\.5"):
        guard.on_epoch_end(2, {"loss": 0.3, "val_loss": float("nan")})
