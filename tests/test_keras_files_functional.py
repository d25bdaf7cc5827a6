"""Functional models and models used as layers in Keras 3 files: written by
``npconv.keras_files.save_keras_model`` in the layout Keras itself writes (compared here
with the files real Keras 3.15.1 wrote for the same architectures, made by
tests/data/keras_files/make_fixtures.py), and read back from Keras's files."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.keras_files import save_keras_model
from npconv.models import Model, Sequential

DATA = os.path.join(os.path.dirname(__file__), "data", "keras_files")
h5py = pytest.importorskip("h5py", reason="the test extra installs h5py (Keras files' weights)")


def _fixture(name):
    return os.path.join(DATA, name)


def _predictions(name):
    try:
        return [np.load(_fixture(f"{name}.pred.npy"))]
    except FileNotFoundError:
        return list(np.load(_fixture(f"{name}.pred.npz")).values())


def _archive(path):
    """(config.json parsed, {h5 group of variables: (name attribute, [shapes])})."""
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
        groups = {}
        with h5py.File(io.BytesIO(zf.read("model.weights.h5")), "r") as h5:
            def visit(name, obj):
                if name.endswith("vars") and isinstance(obj, h5py.Group):
                    groups[name] = (obj.attrs.get("name"),
                                    [obj[str(i)].shape for i in range(len(obj))])
            h5.visititems(visit)
    return config, groups


def _classes(config):
    """The class names of a model record's layers, nested models' as (class, [inner])."""
    out = []
    for record in config["config"]["layers"]:
        if record["class_name"] in ("Sequential", "Functional"):
            out.append((record["class_name"], _classes(record)))
        else:
            out.append(record["class_name"])
    return out


def _depth_order_in_npconv():
    """depth_order's architecture: npconv calls the layers in another order than Keras
    lists them (x1's Dense first; Keras lists the deeper branch's first Dense first)."""
    inputs = layers.Input((4,))
    x1 = layers.Dense(4, activation="tanh")(inputs)
    x2 = layers.Dense(4)(layers.Dense(4, activation="relu")(inputs))
    return Model(inputs, layers.Add()([x1, x2]))


def _nested_in_npconv():
    inputs = layers.Input((6,), name="x")
    inner = Sequential([layers.Input((4,)), layers.Dense(3, activation="relu"),
                        layers.Dense(2)], name="inner")
    h = layers.Dense(4, name="h")(inputs)
    out_a = inner(h)
    out_b = layers.Dense(1, name="side")(layers.Concatenate()([h, out_a]))
    return Model(inputs, [out_a, out_b], name="outer")


def _sequential_in_sequential_in_npconv():
    inner = Sequential([layers.Input((5,)), layers.Dense(3, activation="tanh"),
                        layers.Dense(3)], name="block")
    return Sequential([layers.Input((4,)), layers.Dense(5), inner, layers.Dense(2)],
                      name="stack")


def _shared_in_npconv():
    a, b = layers.Input((6,), name="a"), layers.Input((6,), name="b")
    shared = layers.Dense(4, activation="relu", name="shared")
    merged = layers.Concatenate()([shared(a), shared(b), layers.Subtract()([a, b])])
    return Model([a, b], layers.Dense(1, name="out")(merged))


def _merge_in_npconv():
    inputs = layers.Input(shape=(10, 10, 2), name="image")
    a = layers.Conv2D(6, 3, padding="same", activation="relu", name="branch_a")(inputs)
    b = layers.Conv2D(6, 1, name="branch_b")(inputs)
    s = layers.Add()([a, b])
    c = layers.Conv2D(4, 3, padding="same", activation="tanh")(s)
    m = layers.Concatenate(axis=-1)([s, c])
    p = layers.GlobalAveragePooling2D()(m)
    q = layers.Flatten()(layers.MaxPooling2D(5)(m))
    x = layers.Concatenate()([p, q])
    return Model(inputs, layers.Dense(4, activation="softmax", name="probs")(x),
                 name="merge_net")


SAME_ARCHITECTURE = {"depth_order": _depth_order_in_npconv, "nested_models": _nested_in_npconv,
                     "sequential_in_sequential": _sequential_in_sequential_in_npconv,
                     "shared_two_inputs": _shared_in_npconv,
                     "functional_merge": _merge_in_npconv}


@pytest.mark.parametrize("name", sorted(SAME_ARCHITECTURE))
def test_the_file_has_the_layout_keras_wrote_for_the_same_architecture(tmp_path, name):
    """Layer classes in Keras's model.layers order, each layer's HDF5 group and weight
    shapes: what Keras wrote for the architecture (Keras numbers the groups by that order,
    so any other order loads weights into the wrong layers)."""
    model = SAME_ARCHITECTURE[name]()
    path = str(tmp_path / "m.keras")
    save_keras_model(model, path)
    ours, our_groups = _archive(path)
    theirs, their_groups = _archive(_fixture(f"{name}.keras"))
    assert ours["class_name"] == theirs["class_name"]
    assert _classes(ours) == _classes(theirs)
    assert {g: shapes for g, (_, shapes) in our_groups.items()} == \
        {g: shapes for g, (_, shapes) in their_groups.items() if not g.startswith("optimizer")}
    if ours["class_name"] == "Functional":
        for key in ("input_layers", "output_layers"):
            assert np.shape(ours["config"][key]) == np.shape(theirs["config"][key])
        for record in ours["config"]["layers"]:
            for node in record["inbound_nodes"]:
                assert set(node) == {"args", "kwargs"}
                for arg in np.ravel(node["args"]):
                    assert arg["class_name"] == "__keras_tensor__"
                    assert len(arg["config"]["keras_history"]) == 3


@pytest.mark.parametrize("name", sorted(SAME_ARCHITECTURE))
def test_npconv_reads_back_what_it_wrote(tmp_path, name):
    model = SAME_ARCHITECTURE[name]()
    rng = np.random.default_rng(5)
    for w in model.weights:  # (biases non-zero too)
        w.assign(rng.standard_normal(w.value.shape).astype(np.float32))
    path = str(tmp_path / "m.keras")
    save_keras_model(model, path)
    again = npconv.models.load_model(path)
    assert type(again) is type(model)
    x = np.load(_fixture(f"{name}.input.npy"))
    x = list(x) if len(model.inputs) > 1 else x
    got, want = again.predict(x, verbose=0), model.predict(x, verbose=0)
    for g, w in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want], strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name", ["depth_order", "nested_models", "sequential_in_sequential"])
def test_keras_files_of_these_architectures_predict_what_keras_predicted(name):
    model = npconv.models.load_model(_fixture(f"{name}.keras"))
    got = model.predict(np.load(_fixture(f"{name}.input.npy")), verbose=0)
    got = got if isinstance(got, list) else [got]
    for g, w in zip(got, _predictions(name), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_a_nested_model_is_one_layer_of_the_loaded_model():
    outer = npconv.models.load_model(_fixture("nested_models.keras"))
    assert [type(x).__name__ for x in outer.layers] == [
        "InputLayer", "Dense", "Sequential", "Concatenate", "Dense"]
    inner = outer.get_layer("inner")
    assert [type(x).__name__ for x in inner.layers] == ["Dense", "Dense"]
    assert [x.units for x in inner.layers] == [3, 2]
    stack = npconv.models.load_model(_fixture("sequential_in_sequential.keras"))
    assert isinstance(stack.layers[1], Sequential) and stack.layers[1].name == "block"


def test_load_weights_matches_layers_in_keras_order_not_call_order():
    """Keras numbers a functional model's weight groups by its model.layers order (by
    depth); matched in npconv's call order, the three 4x4 kernels of this model loaded into
    the wrong layers without any error."""
    model = _depth_order_in_npconv()
    model.load_weights(_fixture("depth_order.weights.h5"))
    np.testing.assert_allclose(model.predict(np.load(_fixture("depth_order.input.npy")),
                                             verbose=0),
                               np.load(_fixture("depth_order.pred.npy")), rtol=1e-5, atol=1e-6)


def test_a_nested_models_weights_of_the_wrong_shape_name_the_group(tmp_path):
    def edit(config):
        inner = config["config"]["layers"][2]
        assert inner["class_name"] == "Sequential"
        inner["config"]["layers"][1]["config"]["units"] = 5

    path = tmp_path / "bad.keras"
    with zipfile.ZipFile(_fixture("nested_models.keras")) as src, \
            zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            dst.writestr(info.filename, data)
    with pytest.raises(ValueError, match=r"layer 'dense_3' \(Dense\) weight kernel expects shape "
                                         r"\(4, 5\); layers/sequential/layers/dense/vars/0 has "
                                         r"shape \(4, 3\)"):
        npconv.models.load_model(str(path))


def test_load_weights_into_a_model_with_a_nested_model():
    model = _nested_in_npconv()
    source = npconv.models.load_model(_fixture("nested_models.keras"))
    model.load_weights(_fixture("nested_models.keras"))
    for a, b in zip(model.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_what_keras_could_not_read_is_refused_before_anything_is_written(tmp_path):
    inputs = layers.Input((3,))
    keyed = Model(inputs, {"a": layers.Dense(1)(inputs), "b": layers.Dense(2)(inputs)})
    with pytest.raises(ValueError, match="dict of tensors"):
        save_keras_model(keyed, str(tmp_path / "d.keras"))

    class Net(Model):
        def __init__(self):
            super().__init__()
            self.d = layers.Dense(2)

        def call(self, x, training=False):
            return self.d(x)

    net = Net()
    net.predict(np.zeros((1, 3), np.float32), verbose=0)
    with pytest.raises(ValueError, match="subclassed model"):
        save_keras_model(net, str(tmp_path / "s.keras"))
    lam = layers.Lambda(lambda t: t * 2)
    inputs = layers.Input((3,))
    with pytest.raises(ValueError, match=r"\(Lambda\) has no Keras equivalent"):
        save_keras_model(Model(inputs, lam(layers.Dense(3)(inputs))), str(tmp_path / "l.keras"))
    with pytest.raises(TypeError, match="expected an npconv Sequential or functional Model"):
        save_keras_model(layers.Dense(2), str(tmp_path / "x.keras"))
    assert not os.listdir(tmp_path)


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    import npconv._keras_writer as writer

    path = tmp_path / "m.keras"
    save_keras_model(_depth_order_in_npconv(), str(path))
    before = path.read_bytes()

    def broken(group, model):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "write_weights", broken)
    with pytest.raises(OSError, match="disk full"):
        save_keras_model(_nested_in_npconv(), str(path))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.keras"]


@pytest.mark.parametrize("name", ["two_outputs_compiled", "two_outputs_dict"])
def test_per_output_losses_weights_and_metrics_evaluate_as_in_keras(name):
    """compile_config's loss, loss_weights and metrics as lists (one per output) or dicts by
    output name: npconv's evaluate gives the logs Keras's gave on the same batch."""
    import json

    model = npconv.models.load_model(_fixture(f"{name}.keras"))
    x = np.load(_fixture(f"{name}.input.npy"))
    for got, want in zip(model.predict(x, verbose=0), _predictions(name), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    targets = [np.array([0, 1, 2, 0]), np.linspace(-1, 1, 4, dtype="float32")[:, None]]
    logs = model.evaluate(x, targets, return_dict=True, verbose=0)
    with open(_fixture(f"{name}.evaluate.json")) as f:
        keras_logs = json.load(f)
    assert sorted(logs) == sorted(keras_logs)
    for key, value in keras_logs.items():
        assert logs[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_loss_weights_that_are_not_numbers_are_refused(tmp_path):
    def edit(config):
        config["compile_config"]["loss_weights"] = ["heavy", 1.0]

    path = tmp_path / "w.keras"
    with zipfile.ZipFile(_fixture("two_outputs_compiled.keras")) as src, \
            zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            dst.writestr(info.filename, data)
    with pytest.raises(ValueError, match=r"w.keras: compile_config: expected loss_weights to "
                                         r"be numbers .*Received \['heavy', 1.0\]"):
        npconv.models.load_model(str(path))
    assert npconv.models.load_model(str(path), compile=False).count_params() > 0
