"""The optimizer state of a Keras 3 ``.keras`` file (its ``optimizer/vars``) continues in
npconv: each fixture is a small CNN (a convolution, BatchNormalization, a frozen Dense)
trained two steps by real Keras 3.15.1 and saved; Keras then took one more step on a fixed
batch and recorded the weights (NAME.after.npz). npconv's next step from the file must land
on the same weights. Made by tests/data/keras_files/make_fixtures.py."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

import npconv

DATA = os.path.join(os.path.dirname(__file__), "data", "keras_files")
h5py = pytest.importorskip("h5py", reason="the test extra installs h5py (Keras files' weights)")
OPTIMIZERS = {"sgd_momentum": "SGD", "sgd_nesterov": "SGD", "rmsprop_state": "RMSprop",
              "rmsprop_centered": "RMSprop", "adam_state": "Adam", "adam_amsgrad": "Adam",
              "adamw_state": "AdamW", "adamax_state": "Adamax", "adagrad_state": "Adagrad",
              "lion_state": "Lion", "nadam_state": "Nadam"}


def _fixture(name):
    return os.path.join(DATA, name)


def _next_step(model, name):
    """The weights after one more step on the fixture's batch, as model.fit takes it."""
    x, y = np.load(_fixture(f"{name}.x.npy")), np.load(_fixture(f"{name}.y.npy"))
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


def _largest_difference(weights, name):
    keras_after = list(np.load(_fixture(f"{name}.after.npz")).values())
    return max(float(np.max(np.abs(a - b))) for a, b in zip(weights, keras_after, strict=True))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_the_next_step_is_the_step_keras_took(name):
    model = npconv.models.load_model(_fixture(f"{name}.keras"))
    assert type(model.optimizer).__name__ == OPTIMIZERS[name]
    assert model.optimizer.iterations == 2
    assert _largest_difference(_next_step(model, name), name) < 1e-5
    assert model.optimizer.iterations == 3


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_fresh_optimizer_would_take_another_step(name):
    """(What the test above tells apart: the same weights and configuration without the
    saved state step elsewhere.)"""
    model = npconv.models.load_model(_fixture(f"{name}.keras"), compile=False)
    loaded = npconv.models.load_model(_fixture(f"{name}.keras"))
    model.compile(optimizer=type(loaded.optimizer).from_config(loaded.optimizer.get_config()),
                  loss="sparse_categorical_crossentropy")
    assert _largest_difference(_next_step(model, name), name) > 1e-4


def _with_weights_edited(tmp_path, name, edit_h5=None, edit_config=None):
    """A copy of fixture ``name`` with its model.weights.h5 changed by ``edit_h5`` (an open
    h5py.File) and its config.json by ``edit_config``."""
    out = tmp_path / f"{name}.keras"
    with zipfile.ZipFile(_fixture(f"{name}.keras")) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "model.weights.h5" and edit_h5 is not None:
                buffer = io.BytesIO(data)
                with h5py.File(buffer, "r+") as h5:
                    edit_h5(h5)
                data = buffer.getvalue()
            if info.filename == "config.json" and edit_config is not None:
                config = json.loads(data)
                edit_config(config)
                data = json.dumps(config).encode()
            dst.writestr(info.filename, data)
    return str(out)


def test_a_slot_of_the_wrong_shape_is_refused(tmp_path):
    def edit(h5):
        del h5["optimizer/vars/3"]
        h5["optimizer/vars/3"] = np.zeros((2, 2), np.float32)

    path = _with_weights_edited(tmp_path, "adam_state", edit_h5=edit)
    with pytest.raises(ValueError, match=r"adam_state.keras: optimizer/vars/3 \(Adam velocity "
                                         r"of weight 'kernel', #0 of the trainable weights\) "
                                         r"has shape \(2, 2\); the weight has shape "
                                         r"\(3, 3, 1, 3\)"):
        npconv.models.load_model(path)


def test_an_unmapped_optimizer_starts_afresh_with_a_warning(tmp_path):
    def edit(config):
        config["compile_config"]["optimizer"] = {"class_name": "Ftrl",
                                                 "config": {"learning_rate": 0.01}}

    path = _with_weights_edited(tmp_path, "adam_state", edit_config=edit)
    with pytest.warns(UserWarning, match=r"Ftrl optimizer's saved state is not restored "
                                         r"\(npconv restores .* only, not Ftrl's\)"):
        model = npconv.models.load_model(path)
    assert model.optimizer.iterations == 0


def test_a_state_that_does_not_fit_the_configuration_is_skipped_with_a_warning(tmp_path):
    """(As Keras: its optimizer then skips loading the variables, with a warning.)"""
    def edit(config):
        config["compile_config"]["optimizer"]["config"]["amsgrad"] = True

    path = _with_weights_edited(tmp_path, "adam_state", edit_config=edit)
    with pytest.warns(UserWarning, match=r"holds 14 optimizer variables; Adam as configured, "
                                         r"over the model's 6 trainable weights, has 20"):
        model = npconv.models.load_model(path)
    assert model.optimizer.iterations == 0


def test_nadams_running_product_is_checked(tmp_path):
    def edit(h5):
        last = str(len(h5["optimizer/vars"]) - 1)
        h5["optimizer/vars"][last][()] = 0.5

    path = _with_weights_edited(tmp_path, "nadam_state", edit_h5=edit)
    with pytest.raises(ValueError, match=r"Nadam's u_product\) is 0.5; after 2 steps"):
        npconv.models.load_model(path)


def test_compile_false_reads_no_optimizer():
    model = npconv.models.load_model(_fixture("adam_state.keras"), compile=False)
    assert not model.compiled
