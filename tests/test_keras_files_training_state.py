"""save_keras_model writes a compiled model's training configuration and its optimizer's
state as Keras 3 does: the ``optimizer/vars`` of a Keras fixture come back unchanged
through npconv (load, write), and npconv continues from what it wrote. (Keras 3.15.1's own
next step from these files equals its step from its own file: checked by hand with
tests/data/keras_files/keras_reads_npconv.py.)"""

import io
import json
import os
import zipfile

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.keras_files import save_keras_model
from npconv.models import Model

DATA = os.path.join(os.path.dirname(__file__), "data", "keras_files")
h5py = pytest.importorskip("h5py", reason="the test extra installs h5py (Keras files' weights)")
STATE = ["sgd_momentum", "sgd_nesterov", "rmsprop_state", "rmsprop_centered", "adam_state",
         "adam_amsgrad", "adamw_state", "adamax_state", "adagrad_state", "lion_state",
         "nadam_state"]


def _fixture(name):
    return os.path.join(DATA, name)


def _optimizer_vars(path):
    with zipfile.ZipFile(path) as zf, \
            h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as h5:
        group = h5.get("optimizer/vars")
        if group is None:
            return None
        return [np.asarray(group[str(i)][()]) for i in range(len(group))]


def _config(path):
    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read("config.json"))


@pytest.mark.parametrize("name", STATE)
def test_keras_optimizer_variables_come_back_as_keras_wrote_them(tmp_path, name):
    model = npconv.models.load_model(_fixture(f"{name}.keras"))
    path = str(tmp_path / "again.keras")
    save_keras_model(model, path)
    ours, theirs = _optimizer_vars(path), _optimizer_vars(_fixture(f"{name}.keras"))
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a.shape == b.shape, i
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=0, err_msg=f"optimizer/vars/{i}")
    written = _config(path)["compile_config"]["optimizer"]
    assert written["class_name"] == _config(_fixture(f"{name}.keras"))[
        "compile_config"]["optimizer"]["class_name"]


@pytest.mark.parametrize("name", ["adam_state", "rmsprop_centered", "nadam_state"])
def test_npconv_continues_from_the_state_it_wrote(tmp_path, name):
    path = str(tmp_path / "again.keras")
    save_keras_model(npconv.models.load_model(_fixture(f"{name}.keras")), path)
    model = npconv.models.load_model(path)
    x, y = np.load(_fixture(f"{name}.x.npy")), np.load(_fixture(f"{name}.y.npy"))
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    after = list(np.load(_fixture(f"{name}.after.npz")).values())
    for a, b in zip(model.get_weights(), after, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_per_output_losses_weights_and_metrics_are_written(tmp_path):
    """Read from Keras's file, written by npconv, read again: the logs of Keras's
    evaluate."""
    model = npconv.models.load_model(_fixture("two_outputs_compiled.keras"))
    path = str(tmp_path / "two.keras")
    save_keras_model(model, path)
    compile_config = _config(path)["compile_config"]
    assert compile_config["loss_weights"] == [1.0, 0.25]
    assert [r["class_name"] for r in compile_config["loss"]] == [
        "SparseCategoricalCrossentropy", "MeanSquaredError"]
    assert compile_config["metrics"] == {"cls": ["accuracy"], "reg": ["mae"]}
    again = npconv.models.load_model(path)
    x = np.load(_fixture("two_outputs_compiled.input.npy"))
    targets = [np.array([0, 1, 2, 0]), np.linspace(-1, 1, 4, dtype="float32")[:, None]]
    logs = again.evaluate(x, targets, return_dict=True, verbose=0)
    with open(_fixture("two_outputs_compiled.evaluate.json")) as f:
        keras_logs = json.load(f)
    assert sorted(logs) == sorted(keras_logs)
    for key, value in keras_logs.items():
        assert logs[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_an_uncompiled_model_has_no_training_configuration(tmp_path):
    path = str(tmp_path / "u.keras")
    save_keras_model(npconv.models.load_model(_fixture("adam_state.keras"), compile=False),
                     path)
    assert "compile_config" not in _config(path)
    assert _optimizer_vars(path) is None


def _small_compiled(optimizer):
    inputs = layers.Input((3,))
    model = Model(inputs, layers.Dense(2)(inputs))
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_an_optimizer_npconv_does_not_map_is_written_without_state_and_a_warning(tmp_path):
    from npconv.training import optimizers

    path = str(tmp_path / "f.keras")
    with pytest.warns(UserWarning, match=r"Ftrl optimizer's state is not written .*fresh"):
        save_keras_model(_small_compiled(optimizers.Ftrl(0.01)), path)
    assert _config(path)["compile_config"]["optimizer"]["class_name"] == "Ftrl"
    assert _optimizer_vars(path) is None


def test_a_learning_rate_schedule_is_refused_before_anything_is_written(tmp_path):
    from npconv.training import optimizers, schedules

    schedule = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.9)
    with pytest.raises(ValueError, match="learning rate is a schedule"):
        save_keras_model(_small_compiled(optimizers.SGD(schedule)), str(tmp_path / "s.keras"))
    assert not os.listdir(tmp_path)
