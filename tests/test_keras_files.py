"""Reading Keras 3's own files: models saved by real Keras 3.15.1 (torch backend) with
``model.save("x.keras")`` / ``model.save_weights("x.weights.h5")`` load in npconv and predict
what Keras predicted. The files and Keras's predictions were made by
tests/data/keras_files/make_fixtures.py (not run here: it needs Keras)."""

import io
import json
import os
import shutil
import sys
import zipfile

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.models import Model, Sequential

DATA = os.path.join(os.path.dirname(__file__), "data", "keras_files")
MODELS = ["seed001_mnist_cnn", "lenet5_like", "bn_dropout", "functional_merge", "text_conv1d",
          "many_layers", "shared_two_inputs", "adapted_normalization", "volumes_3d",
          "functional_1d", "volume_decoder"]
COMPILED = {"seed001_mnist_cnn": ("RMSprop", "sparse_categorical_crossentropy"),
            "lenet5_like": ("SGD", "categorical_crossentropy"),
            "bn_dropout": ("Adam", "sparse_categorical_crossentropy"),
            "functional_merge": ("Adam", "sparse_categorical_crossentropy"),
            "text_conv1d": ("Adam", "binary_crossentropy"),
            "many_layers": ("AdamW", "categorical_crossentropy"),
            "volumes_3d": ("Adam", "sparse_categorical_crossentropy"),
            "volume_decoder": ("Adam", "mean_squared_error")}
NO_ACCURACY = {"many_layers", "volume_decoder"}  # (compiled with other metrics, or none)
TWO_INPUTS = {"shared_two_inputs"}


def _fixture(name):
    return os.path.join(DATA, name)


def _needs_h5py():
    pytest.importorskip("h5py", reason="the test extra installs h5py (Keras files' weights)")


def _rewritten(tmp_path, name, edit=None, drop=()):
    """A copy of fixture ``name`` whose config.json went through ``edit`` (a function of the
    parsed JSON) and without the members in ``drop``."""
    out = tmp_path / name
    with zipfile.ZipFile(_fixture(name)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename in drop:
                continue
            data = src.read(info.filename)
            if info.filename == "config.json" and edit is not None:
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            dst.writestr(info.filename, data)
    return str(out)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("load", [npconv.models.load_model, npconv.saving.load_model])
def test_a_keras_file_predicts_what_keras_predicted(name, load):
    _needs_h5py()
    model = load(_fixture(f"{name}.keras"))
    x = np.load(_fixture(f"{name}.input.npy"))
    expected = np.load(_fixture(f"{name}.pred.npy"))
    got = model.predict(list(x) if name in TWO_INPUTS else x, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    if name not in COMPILED:
        assert not model.compiled
        return
    assert model.compiled
    optimizer, loss = COMPILED[name]
    assert type(model.optimizer).__name__ == optimizer
    assert model.loss.name == loss
    if name not in NO_ACCURACY:
        assert model._metric_specs == ["accuracy"]


def test_class_records_in_compile_config_keep_their_arguments():
    """Keras's CategoricalCrossentropy records axis=-1 (npconv's has no axis: it failed
    "unexpected keyword argument 'axis'"), AdamW its weight decay, a metric its k."""
    _needs_h5py()
    model = npconv.models.load_model(_fixture("many_layers.keras"))
    assert model.loss.get_config()["label_smoothing"] == pytest.approx(0.1)
    assert model.optimizer.get_config()["weight_decay"] == pytest.approx(0.004)
    (metric,) = model._metric_specs
    assert type(metric).__name__ == "TopKCategoricalAccuracy"
    assert metric.get_config()["k"] == 1
    conv = model.layers[2]
    assert type(conv).__name__ == "Conv2D"
    assert conv.get_config()["kernel_regularizer"]["config"]["l2"] == pytest.approx(1e-3)


def test_a_shared_layer_is_one_layer_called_twice():
    _needs_h5py()
    model = npconv.models.load_model(_fixture("shared_two_inputs.keras"))
    assert [layer.name for layer in model.layers].count("shared") == 1


def test_the_kind_of_model_and_its_layers_come_from_the_file():
    _needs_h5py()
    seq = npconv.models.load_model(_fixture("bn_dropout.keras"))
    assert isinstance(seq, Sequential)
    bn = [layer for layer in seq.layers if type(layer).__name__ == "BatchNormalization"]
    assert [b.momentum for b in bn] == [0.99, 0.9]
    # the file's moving statistics (fitted two steps in Keras), not the initial 0 and 1
    assert not np.allclose(bn[0].moving_mean.value, 0)
    assert not np.allclose(bn[0].moving_variance.value, 1)
    merge = npconv.models.load_model(_fixture("functional_merge.keras"))
    assert isinstance(merge, Model) and not isinstance(merge, Sequential)
    assert merge.name == "merge_net"
    assert [type(layer).__name__ for layer in merge.layers].count("Concatenate") == 2
    assert merge.count_params() == 6 * 3 * 3 * 2 + 6 + 6 * 2 + 6 + 4 * 9 * 6 + 4 + 50 * 4 + 4


def test_compile_false_loads_an_uncompiled_model():
    _needs_h5py()
    model = npconv.models.load_model(_fixture("lenet5_like.keras"), compile=False)
    assert not model.compiled


def test_the_optimizer_takes_the_files_configuration():
    _needs_h5py()
    config = npconv.models.load_model(_fixture("lenet5_like.keras")).optimizer.get_config()
    assert config["learning_rate"] == pytest.approx(0.05)
    assert config["momentum"] == pytest.approx(0.9)


def test_a_loaded_keras_model_trains_in_npconv():
    _needs_h5py()
    model = npconv.models.load_model(_fixture("text_conv1d.keras"))
    x = np.load(_fixture("text_conv1d.input.npy"))
    before = model.get_weights()
    model.fit(x, np.array([0, 1, 1, 0], np.float32), epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def _merge_net_in_npconv():
    """functional_merge's architecture written in npconv (layer names differ from the file:
    Keras matches weights by class and position)."""
    inputs = layers.Input(shape=(10, 10, 2))
    a = layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    b = layers.Conv2D(6, 1)(inputs)
    s = layers.Add()([a, b])
    c = layers.Conv2D(4, 3, padding="same", activation="tanh")(s)
    m = layers.Concatenate(axis=-1)([s, c])
    p = layers.GlobalAveragePooling2D()(m)
    q = layers.Flatten()(layers.MaxPooling2D(5)(m))
    x = layers.Concatenate()([p, q])
    return Model(inputs, layers.Dense(4, activation="softmax")(x))


def test_load_weights_reads_a_keras_weights_h5_file():
    _needs_h5py()
    model = _merge_net_in_npconv()
    model.load_weights(_fixture("functional_merge.weights.h5"))
    x = np.load(_fixture("functional_merge.input.npy"))
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               np.load(_fixture("functional_merge.pred.npy")),
                               rtol=1e-5, atol=1e-6)


def test_load_weights_reads_the_weights_of_a_keras_archive():
    _needs_h5py()
    model = Sequential([
        layers.Input((12, 12, 3)), layers.Conv2D(8, 3, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.Activation("relu"), layers.MaxPooling2D(),
        layers.Dropout(0.25), layers.Flatten(), layers.Dense(16),
        layers.BatchNormalization(momentum=0.9, epsilon=1e-3), layers.ReLU(),
        layers.Dropout(0.5), layers.Dense(3, activation="softmax")])
    model.load_weights(_fixture("bn_dropout.keras"))
    x = np.load(_fixture("bn_dropout.input.npy"))
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               np.load(_fixture("bn_dropout.pred.npy")), rtol=1e-5, atol=1e-6)


def test_weights_of_the_wrong_shape_are_refused_and_nothing_is_assigned():
    _needs_h5py()
    inputs = layers.Input(shape=(10, 10, 2))
    a = layers.Conv2D(6, 3, padding="same")(inputs)
    b = layers.Conv2D(6, 1)(inputs)
    s = layers.Add()([a, b])
    c = layers.Conv2D(5, 3, padding="same")(s)  # 5 filters where the file has 4
    m = layers.Concatenate()([s, c])
    p = layers.GlobalAveragePooling2D()(m)
    q = layers.Flatten()(layers.MaxPooling2D(5)(m))
    model = Model(inputs, layers.Dense(4)(layers.Concatenate()([p, q])))
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"Conv2D.*kernel expects shape \(3, 3, 6, 5\).*"
                                         r"conv2d_2/vars/0 has shape \(3, 3, 6, 4\)"):
        model.load_weights(_fixture("functional_merge.weights.h5"))
    assert all(np.array_equal(x, y) for x, y in zip(before, model.get_weights(), strict=True))


def test_a_config_whose_weights_do_not_fit_is_refused(tmp_path):
    _needs_h5py()

    def edit(config):
        config["config"]["layers"][1]["config"]["filters"] = 31

    path = _rewritten(tmp_path, "seed001_mnist_cnn.keras", edit)
    with pytest.raises(ValueError, match="layer 'conv2d' .*expects shape"):
        npconv.models.load_model(path)


def test_without_h5py_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "h5py", None)  # (import h5py raises ImportError)
    with pytest.raises(ImportError, match=r"needs h5py: pip install h5py.*keras-files"):
        npconv.models.load_model(_fixture("lenet5_like.keras"))
    with pytest.raises(ImportError, match="pip install h5py"):
        _merge_net_in_npconv().load_weights(_fixture("functional_merge.weights.h5"))


def test_a_truncated_keras_file_is_refused(tmp_path):
    path = tmp_path / "cut.keras"
    data = open(_fixture("lenet5_like.keras"), "rb").read()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable Keras .keras file.*truncated"):
        npconv.models.load_model(str(path))


def test_an_archive_without_its_weights_is_refused(tmp_path):
    path = _rewritten(tmp_path, "lenet5_like.keras", drop=("model.weights.h5",))
    with pytest.raises(ValueError, match="has no model.weights.h5"):
        npconv.models.load_model(path)


def test_a_zip_without_config_json_is_not_taken_for_a_keras_file(tmp_path):
    # (a PyTorch checkpoint is a zip too: still refused as npconv refused it)
    path = _rewritten(tmp_path, "lenet5_like.keras", drop=("config.json",))
    with pytest.raises(ValueError, match="a zip archive .*not an npconv file"):
        npconv.models.load_model(path)


def test_an_unknown_layer_class_is_named(tmp_path):
    def edit(config):
        config["config"]["layers"][2]["class_name"] = "LSTM"

    path = _rewritten(tmp_path, "lenet5_like.keras", edit)
    with pytest.raises(ValueError, match=r"layer 'average_pooling2d' \(LSTM\): npconv has no "
                                         "layer class 'LSTM'"):
        npconv.models.load_model(path)


def test_an_option_npconv_lacks_is_refused_not_dropped(tmp_path):
    def edit(config):
        config["config"]["layers"][2]["config"]["renorm"] = True

    path = _rewritten(tmp_path, "bn_dropout.keras", edit)
    with pytest.raises(ValueError, match=r"\(BatchNormalization\): renorm=True is not supported"):
        npconv.models.load_model(path)


def test_a_lambda_with_marshalled_bytecode_is_refused():
    for safe_mode in (True, False):
        with pytest.raises(ValueError, match=r"'lambda' \(Lambda\).*bytecode.*never"):
            npconv.models.load_model(_fixture("with_lambda.keras"), safe_mode=safe_mode)


def test_a_copied_fixture_loads_from_a_path_object(tmp_path):
    _needs_h5py()
    target = tmp_path / "model.keras"
    shutil.copy(_fixture("lenet5_like.keras"), target)
    assert npconv.models.load_model(target).count_params() > 0


def test_a_corrupt_or_keras_2_hdf5_file_is_refused(tmp_path):
    h5py = pytest.importorskip("h5py", reason="the test extra installs h5py")
    garbage = tmp_path / "x.weights.h5"
    garbage.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    model = _merge_net_in_npconv()
    with pytest.raises(ValueError, match="not a readable HDF5 file"):
        model.load_weights(str(garbage))
    legacy = tmp_path / "keras2.h5"
    with h5py.File(legacy, "w") as f:
        f.create_group("model_weights")
    with pytest.raises(ValueError, match="without Keras 3's 'layers' group.*Keras 2"):
        model.load_weights(str(legacy))


@pytest.mark.parametrize("offset,error", [(27180, "RuntimeError"), (1946, "KeyError")])
def test_a_weights_file_damaged_inside_is_refused_with_a_value_error(tmp_path, offset, error):
    # One zeroed byte inside the HDF5 structure: the file still opens, and h5py raises
    # RuntimeError or KeyError at the group it cannot walk (found by fuzzing damaged files)
    _needs_h5py()
    data = bytearray(open(_fixture("functional_merge.weights.h5"), "rb").read())
    assert data[offset] != 0
    data[offset] = 0
    damaged = tmp_path / "damaged.weights.h5"
    damaged.write_bytes(bytes(data))
    model = _merge_net_in_npconv()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=f"weights file is damaged \\({error}.*nothing was"):
        model.load_weights(str(damaged))
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    archive = tmp_path / "damaged.keras"  # the same damage inside a .keras archive
    with zipfile.ZipFile(_fixture("functional_merge.keras")) as src, \
            zipfile.ZipFile(archive, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, bytes(data) if info.filename == "model.weights.h5"
                         else src.read(info.filename))
    with pytest.raises(ValueError, match="weights file is damaged"):
        npconv.models.load_model(str(archive))


@pytest.mark.parametrize("edit", [
    lambda c: c["config"]["layers"][1].update(class_name={"name": "Conv2D"}),
    lambda c: c["config"]["layers"][1].update(module=3),
    lambda c: c["config"]["layers"][1]["config"].update(
        dtype={"class_name": "DTypePolicy", "config": ["float32"]}),
    lambda c: c["config"]["layers"][1]["inbound_nodes"][0]["args"][0].update(config=[1]),
    lambda c: c["config"].update(output_layers=[{"a": 1}]),
], ids=["class_name a dict", "module a number", "dtype config a list", "tensor record a list",
        "output_layers of dicts"])
def test_a_config_of_the_wrong_json_types_is_a_value_error(tmp_path, edit):
    # (found by fuzzing config.json: TypeError/AttributeError escaped from the reader)
    path = _rewritten(tmp_path, "functional_merge.keras", edit)
    with pytest.raises(ValueError, match="npconv: .*functional_merge.keras"):
        npconv.models.load_model(path)


def test_a_weights_file_of_another_model_is_refused(tmp_path):
    _needs_h5py()
    model = Sequential([layers.Input((4,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="holds weights for layers the model lacks"):
        model.load_weights(_fixture("functional_merge.weights.h5"))


@pytest.mark.parametrize("name", ["lenet5_like", "bn_dropout", "text_conv1d", "many_layers",
                                  "adapted_normalization", "volume_decoder"])
def test_save_keras_model_writes_a_keras_archive_npconv_reads_back(tmp_path, name):
    """(Real Keras 3.15.1 loads these files and predicts the same, checked by hand: see the
    module docstring of npconv.keras_files.)"""
    _needs_h5py()
    import h5py

    from npconv.keras_files import save_keras_model

    model = npconv.models.load_model(_fixture(f"{name}.keras"), compile=False)
    path = str(tmp_path / "out.keras")
    save_keras_model(model, path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(zf.read("config.json"))
        assert config["class_name"] == "Sequential"
        records = config["config"]["layers"]
        assert records[0]["class_name"] == "InputLayer"
        assert [r["class_name"] for r in records[1:]] == [type(x).__name__ for x in model.layers]
        with h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as h5:
            assert "layers" in h5 and "vars" in h5
    again = npconv.models.load_model(path)
    x = np.load(_fixture(f"{name}.input.npy"))
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_save_keras_model_writes_spatial_dropout_as_keras_takes_it(tmp_path):
    # Keras 3.15.1's SpatialDropout1D/2D/3D.__init__(rate, data_format=None, seed=None,
    # name=None, dtype=None) has no **kwargs: a "trainable" in the record made Keras's
    # load_model fail with "unexpected keyword argument 'trainable'" (found loading npconv's
    # file of the volumes_3d model in Keras)
    _needs_h5py()
    from npconv.keras_files import save_keras_model

    keras_init_args = {"rate", "data_format", "seed", "name", "dtype"}
    for layer, shape in ((layers.SpatialDropout1D(0.2), (6, 3)),
                         (layers.SpatialDropout2D(0.2), (4, 4, 3)),
                         (layers.SpatialDropout3D(0.2), (3, 3, 3, 2))):
        path = str(tmp_path / f"{layer.name}.keras")
        save_keras_model(Sequential([layers.Input(shape), layer]), path)
        with zipfile.ZipFile(path) as zf:
            record = json.loads(zf.read("config.json"))["config"]["layers"][1]
        assert set(record["config"]) <= keras_init_args, record
    model = npconv.models.load_model(_fixture("volumes_3d.keras"), compile=False)
    path = str(tmp_path / "volumes.keras")
    save_keras_model(model, path)
    x = np.load(_fixture("volumes_3d.input.npy"))
    np.testing.assert_array_equal(npconv.models.load_model(path).predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_save_keras_model_refuses_what_keras_could_not_read(tmp_path):
    _needs_h5py()
    from npconv.keras_files import save_keras_model

    model = Sequential([layers.Input((3,)), layers.Lambda(lambda x: x * 2)])
    with pytest.raises(ValueError, match=r"\(Lambda\) has no Keras equivalent"):
        save_keras_model(model, str(tmp_path / "l.keras"))
    # explicit pads are npconv's: real Keras 3.15.1 refused such a file ("`padding` must be
    # either 'valid' or 'same'")
    for conv, shape in ((layers.Conv2D(2, 3, padding=1), (4, 4, 2)),
                        (layers.Conv3D(2, 3, padding=((1, 0), (0, 1), (1, 1))), (4, 4, 4, 2))):
        model = Sequential([layers.Input(shape), conv])
        with pytest.raises(ValueError, match=r"explicit padding=.*ZeroPadding layer"):
            save_keras_model(model, str(tmp_path / "p.keras"))
    assert not os.listdir(tmp_path)


def test_save_keras_model_refuses_a_name_keras_would_not_read_as_a_keras_file(tmp_path):
    # Keras 3.15.1's load_model reads the archive only as "*.keras": "x.h5" it opens as its
    # legacy HDF5 format (OSError: file signature not found), "x", "x.zip" or "x.KERAS" it
    # refuses (File format not supported)
    _needs_h5py()
    from npconv.keras_files import save_keras_model

    model = Sequential([layers.Input((3,)), layers.Dense(2)])
    for name in ("x.h5", "x", "x.zip", "x.KERAS", "x.weights.h5"):
        with pytest.raises(ValueError, match=r"ending in '\.keras'.*" + name):
            save_keras_model(model, tmp_path / name)
    assert not os.listdir(tmp_path)
    save_keras_model(model, tmp_path / "x.keras")  # a pathlib.Path is a file name too
    assert os.listdir(tmp_path) == ["x.keras"]
