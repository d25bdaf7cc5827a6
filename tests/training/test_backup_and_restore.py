"""BackupAndRestore: a fit interrupted by an exception (a callback's error, Ctrl-C) and run
again with the same callback resumes at the backup's epoch with the same weights and
optimizer state, and ends with the weights of an uninterrupted run (no shuffling), also in
a freshly built model; save_freq in batches, double_checkpoint's fallback, the deletion on
success, the file itself, wrong models and arguments."""

import os

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.callbacks import BackupAndRestore, Callback
from npconv.random import set_random_seed

X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
Y = (X @ np.array([[1.0], [-2.0], [0.5], [0.0]], np.float32) + 0.3).astype(np.float32)


def make_model(seed=0, units=8):
    set_random_seed(seed)
    model = npconv.Sequential([layers.Input((4,)), layers.Dense(units, activation="relu"),
                               layers.Dense(1)])
    model.compile(npconv.optimizers.Adam(learning_rate=0.01), "mse", metrics=["mae"])
    return model


def fit(model, callbacks, epochs=6, **kwargs):
    return model.fit(X, Y, epochs=epochs, batch_size=8, shuffle=False, verbose=0,
                     callbacks=callbacks, **kwargs)


class RaiseAt(Callback):
    """Raise ``error`` when epoch ``epoch`` begins (or at its batch ``batch``)."""

    def __init__(self, epoch, batch=None, error=None):
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, None
        self.error = RuntimeError("interrupting") if error is None else error

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch
        if epoch == self.epoch and self.batch is None:
            raise self.error

    def on_train_batch_begin(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise self.error


def optimizer_state(model):
    return model.optimizer.get_state(model.weights)


def assert_same_state(a, b):
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(x, y)
    sa, sb = optimizer_state(a), optimizer_state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


@pytest.fixture
def reference():
    model = make_model()
    history = fit(model, [])
    return model, history


@pytest.mark.parametrize("fresh_model", [False, True])
def test_an_interrupted_fit_resumes_and_ends_as_an_uninterrupted_one(tmp_path, reference,
                                                                     fresh_model):
    ref_model, ref_history = reference
    backup = BackupAndRestore(tmp_path / "backup")
    model = make_model()
    with pytest.raises(RuntimeError, match="interrupting"):
        fit(model, [backup, RaiseAt(4)])
    assert sorted(os.listdir(tmp_path / "backup")) == ["latest.npconv"]
    if fresh_model:  # a new process: another model of the same architecture, compiled anew
        model = make_model(seed=123)

    class Probe(Callback):  # after BackupAndRestore: what the first epoch starts from
        def on_train_begin(self, logs=None):
            self.iterations = int(self.model.optimizer.iterations)

    probe = Probe()
    history = fit(model, [backup, probe])
    assert probe.iterations == 4 * 5  # 4 epochs of 5 batches were backed up
    assert history.epoch == [4, 5] and len(history.history["loss"]) == 2
    np.testing.assert_array_equal(history.history["loss"], ref_history.history["loss"][4:])
    assert_same_state(model, ref_model)
    assert not (tmp_path / "backup").exists()  # deleted once fit ended without an exception


def test_ctrl_c_mid_epoch_resumes_that_epoch_from_the_last_batch_backup(tmp_path):
    backup = BackupAndRestore(tmp_path, save_freq=3)
    model = make_model()

    class Capture(Callback):  # the state at each backup (BackupAndRestore runs first)
        def __init__(self):
            super().__init__()
            self.seen, self.saved = 0, None

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen % 3 == 0:
                self.saved = (self.model.get_weights(), optimizer_state(self.model))

    capture = Capture()
    with pytest.raises(KeyboardInterrupt):
        fit(model, [backup, capture, RaiseAt(2, batch=3, error=KeyboardInterrupt())])
    assert capture.seen == 13  # last backup after 12 batches: epoch 2, its batch 2

    class Probe(Callback):
        def on_train_begin(self, logs=None):
            self.weights, self.state = self.model.get_weights(), optimizer_state(self.model)

    probe = Probe()
    resumed = make_model(seed=7)
    history = fit(resumed, [backup, probe])
    assert history.epoch == [2, 3, 4, 5]  # the interrupted epoch again, from its start
    for got, want in zip(probe.weights, capture.saved[0], strict=True):
        np.testing.assert_array_equal(got, want)
    for key, want in capture.saved[1].items():
        np.testing.assert_array_equal(probe.state[key], want, err_msg=key)
    assert int(probe.state["iterations"]) == 12


def test_double_checkpoint_falls_back_to_the_backup_before(tmp_path, reference):
    ref_model, _ = reference
    backup = BackupAndRestore(tmp_path, double_checkpoint=True)
    model = make_model()
    with pytest.raises(RuntimeError):
        fit(model, [backup, RaiseAt(3)])
    assert sorted(os.listdir(tmp_path)) == ["latest.npconv", "previous.npconv"]
    latest = tmp_path / "latest.npconv"
    data = bytearray(latest.read_bytes())
    data[-5] ^= 0xFF  # a byte of a weight changed on disk: its checksum fails
    latest.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=r"latest\.npconv could not be read \(npconv: .* is "
                                         r"corrupt.*resumed from .*previous\.npconv"):
        history = fit(model, [backup])
    assert history.epoch == [2, 3, 4, 5]  # previous.npconv: after 2 epochs
    assert_same_state(model, ref_model)
    assert not tmp_path.exists()


def test_an_unreadable_latest_backup_never_becomes_the_previous_one(tmp_path):
    """After resuming from previous.npconv because latest.npconv was corrupt, the next backup
    keeps the readable one as previous.npconv rather than copying the corrupt one over it,
    so a second failure still has a backup to fall back on."""
    from npconv.training.backup_and_restore import load_backup

    backup = BackupAndRestore(tmp_path, double_checkpoint=True)
    model = make_model()
    with pytest.raises(RuntimeError):
        fit(model, [backup, RaiseAt(3)])
    latest = tmp_path / "latest.npconv"
    latest.write_bytes(latest.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="resumed from"), pytest.raises(RuntimeError):
        fit(model, [backup, RaiseAt(3)])  # resumes at epoch 2, backs up once, interrupted
    assert load_backup(make_model(), tmp_path / "previous.npconv")["epoch"] == 2
    assert load_backup(make_model(), latest)["epoch"] == 3


def test_without_double_checkpoint_a_corrupt_backup_is_an_error(tmp_path):
    backup = BackupAndRestore(tmp_path)
    model = make_model()
    with pytest.raises(RuntimeError):
        fit(model, [backup, RaiseAt(2)])
    latest = tmp_path / "latest.npconv"
    latest.write_bytes(latest.read_bytes()[:-10])
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"latest\.npconv is not a valid npconv file "
                                         r"\(truncated or corrupt"):
        fit(model, [backup])
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_deletes_only_its_own_files_and_keeps_them_when_asked(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    fit(make_model(), [BackupAndRestore(folder)], epochs=2)
    assert sorted(os.listdir(folder)) == ["notes.txt"]
    keep = BackupAndRestore(tmp_path / "kept", delete_checkpoint=False)
    model = make_model()
    fit(model, [keep], epochs=2)
    latest = tmp_path / "kept" / "latest.npconv"
    assert sorted(os.listdir(tmp_path / "kept")) == ["latest.npconv"]
    # npconv's own file: the weights load as a weights file would
    other = make_model(seed=5)
    other.load_weights(latest)
    for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # its epoch is the last one: another fit of 2 epochs has nothing left to do (as Keras)
    assert fit(make_model(), [keep], epochs=2).epoch == []
    assert fit(make_model(), [keep], epochs=3).epoch == [2]


def test_a_backup_of_another_model_is_refused_before_anything_changes(tmp_path):
    backup = BackupAndRestore(tmp_path, delete_checkpoint=False)
    fit(make_model(), [backup], epochs=1)
    other = make_model(units=5)
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"latest\.npconv: weight .* has shape \(4, 8\) but "
                                         r"the model's kernel expects \(4, 5\)"):
        fit(other, [backup], epochs=2)
    for a, b in zip(other.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    unbuilt = npconv.Sequential([layers.Dense(1)])
    unbuilt.compile("sgd", "mse")
    backup.set_model(unbuilt)
    with pytest.raises(ValueError, match=r"BackupAndRestore: there is a backup in .*, but the "
                                         r"model sequential.* is not built"):
        backup.on_train_begin()


def test_a_backup_of_another_optimizer_is_refused_before_anything_changes(tmp_path):
    """The same architecture compiled with another optimizer: the backup's optimizer state
    does not fit, so neither its weights nor its state are taken, and the error says what
    to do (not load_model's advice)."""
    backup = BackupAndRestore(tmp_path, delete_checkpoint=False)
    fit(make_model(), [backup], epochs=1)
    other = make_model(seed=3)
    other.compile(npconv.optimizers.SGD(0.01, momentum=0.9), "mse")
    before = other.get_weights()
    advice = r"compile the model as the run that wrote the backup, or delete the backup"
    with pytest.raises(ValueError, match=r"latest\.npconv: cannot restore the optimizer state "
                                         r"\(SGD: .*\); " + advice + " to start afresh") as err:
        fit(other, [backup], epochs=2)
    assert "load_model" not in str(err.value)
    for a, b in zip(other.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    assert int(other.optimizer.iterations) == 0


def test_argument_errors():
    with pytest.raises(ValueError, match=r"BackupAndRestore: empty backup_dir"):
        BackupAndRestore("")
    for freq in (0, "batch", True, 2.5):
        with pytest.raises(ValueError, match=r"BackupAndRestore: expected save_freq='epoch' or "
                                             r"a positive int \(batches\)\. Received: "
                                             rf"save_freq={freq!r}"):
            BackupAndRestore("b", save_freq=freq)
    with pytest.raises(TypeError, match=r"BackupAndRestore: expected double_checkpoint to be a "
                                        r"bool"):
        BackupAndRestore("b", double_checkpoint="yes")
    with pytest.raises(TypeError, match=r"BackupAndRestore: expected backup_dir to be a folder"):
        BackupAndRestore(3)


def test_a_backup_dir_that_is_a_file_fails_before_training(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    model = make_model()
    with pytest.raises(NotADirectoryError, match=r"BackupAndRestore: backup_dir .*file is a "
                                                 r"file, not a folder"):
        fit(model, [BackupAndRestore(path)])
    assert int(model.optimizer.iterations) == 0
