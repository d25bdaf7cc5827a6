"""What users see of a model used as a layer of another, as Keras 3 shows it.

The expectations are what Keras 3.15.1 (torch backend) printed and returned for the same
models: ``model.layers`` lists the nested model as one entry (itself), ``summary()`` gives it
one row and ``summary(expand_nested=True)`` its layers under it (Keras's rich table marks them
"└ "), freezing the entry freezes its weights in the outer model, and the config holds the
nested model whole. The graph still runs the inner layers inlined (``_flat_layers``).
"""

import json
import re

import numpy as np
import pytest

import npconv
from npconv import Input, Model, Sequential, layers


def _seq_in_seq():
    inner = Sequential([Input((4,)), layers.Dense(8, name="d1"), layers.Dense(2, name="d2")],
                       name="inner")
    return Sequential([inner, layers.Dense(1, name="head")], name="outer")


def _func_in_seq():
    x = Input((4,), name="finner_in")
    y = layers.Dense(2, name="f2")(layers.Dense(8, name="f1")(x))
    return Sequential([Model(x, y, name="finner"), layers.Dense(1, name="head2")],
                      name="outer2")


def _seq_in_func():
    inner = Sequential([Input((4,)), layers.Dense(8, name="s1"), layers.Dense(2, name="s2")],
                       name="inner3")
    x = Input((4,), name="inp")
    return Model(x, layers.Dense(1, name="head3")(inner(x)), name="outer3")


def _two_levels():
    a = Sequential([Input((4,)), layers.Dense(3, name="a1")], name="lvl2")
    b = Sequential([a, layers.Dense(2, name="b1")], name="lvl1")
    return Sequential([b, layers.Dense(1, name="c1")], name="top")


BUILDERS = {"seq_in_seq": _seq_in_seq, "func_in_seq": _func_in_seq,
            "seq_in_func": _seq_in_func, "two_levels": _two_levels}

# (Keras's model.layers: name, class)
KERAS_LAYERS = {
    "seq_in_seq": [("inner", "Sequential"), ("head", "Dense")],
    "func_in_seq": [("finner", "Functional"), ("head2", "Dense")],
    "seq_in_func": [("inp", "InputLayer"), ("inner3", "Sequential"), ("head3", "Dense")],
    "two_levels": [("lvl1", "Sequential"), ("c1", "Dense")],
}

# Keras's summary rows (depth, "name (type)", output shape, params); depth > 0: expand_nested
KERAS_ROWS = {
    "seq_in_seq": [(0, "inner (Sequential)", "(None, 2)", "58"),
                   (1, "d1 (Dense)", "(None, 8)", "40"),
                   (1, "d2 (Dense)", "(None, 2)", "18"),
                   (0, "head (Dense)", "(None, 1)", "3")],
    "func_in_seq": [(0, "finner (Functional)", "(None, 2)", "58"),
                    (1, "finner_in (InputLayer)", "(None, 4)", "0"),
                    (1, "f1 (Dense)", "(None, 8)", "40"),
                    (1, "f2 (Dense)", "(None, 2)", "18"),
                    (0, "head2 (Dense)", "(None, 1)", "3")],
    "seq_in_func": [(0, "inp (InputLayer)", "(None, 4)", "0"),
                    (0, "inner3 (Sequential)", "(None, 2)", "58"),
                    (1, "s1 (Dense)", "(None, 8)", "40"),
                    (1, "s2 (Dense)", "(None, 2)", "18"),
                    (0, "head3 (Dense)", "(None, 1)", "3")],
    "two_levels": [(0, "lvl1 (Sequential)", "(None, 2)", "23"),
                   (1, "lvl2 (Sequential)", "(None, 3)", "15"),
                   (2, "a1 (Dense)", "(None, 3)", "15"),
                   (1, "b1 (Dense)", "(None, 2)", "8"),
                   (0, "c1 (Dense)", "(None, 1)", "3")],
}

# Keras's get_config()["layers"] (class_name, name); npconv's Sequential keeps its input as
# "input_shape" where Keras writes an InputLayer entry first
CONFIG_LAYERS = {
    "seq_in_seq": [("Sequential", "inner"), ("Dense", "head")],
    "func_in_seq": [("Functional", "finner"), ("Dense", "head2")],
    "seq_in_func": [("InputLayer", "inp"), ("Sequential", "inner3"), ("Dense", "head3")],
    "two_levels": [("Sequential", "lvl1"), ("Dense", "c1")],
}


def _rows(model, line_length=90, **kwargs):
    """The summary's rows as (depth, "name (type)", shape, params)."""
    lines = []
    model.summary(print_fn=lines.append, line_length=line_length, **kwargs)
    start = next(i for i, line in enumerate(lines) if line.startswith("="))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("="))
    rows = []
    for line in lines[start + 1:end]:
        if not line.strip():
            continue
        indent, _, rest = line.partition("└ ") if "└ " in line else (" ", "", line[1:])
        assert indent == " " + "   " * ((len(indent) - 1) // 3)  # Keras's 3 per level
        cells = re.split(r"\s{2,}", rest.strip())
        rows.append(((len(indent) - 1) // 3, *cells[:3]))
    return rows


@pytest.mark.parametrize("case", list(BUILDERS))
def test_layers_list_the_nested_model_as_one_entry_as_keras(case):
    model = BUILDERS[case]()
    expected = KERAS_LAYERS[case]
    assert [(e.name, "Functional" if type(e) is Model else type(e).__name__)
            for e in model.layers] == expected
    assert len(model.layers) == len(expected)
    entry = model.get_layer(expected[-2][0])
    assert isinstance(entry, Model) and entry is model.layers[-2]
    assert model.get_layer(index=-2) is entry
    # the engine's view is unchanged: the layers as they run, the inner ones in its place
    assert all(not isinstance(layer, Model) for layer in model._flat_layers())
    assert [w.shape for w in model.weights] == [
        w.shape for layer in model._flat_layers() for w in layer.weights]


@pytest.mark.parametrize("case", list(BUILDERS))
def test_summary_one_row_per_nested_model_and_expand_nested_as_keras(case):
    model = BUILDERS[case]()
    expanded = KERAS_ROWS[case]
    assert _rows(model) == [r for r in expanded if r[0] == 0]
    assert _rows(model, expand_nested=True) == expanded


@pytest.mark.parametrize("case", list(BUILDERS))
def test_freezing_the_entry_freezes_its_weights_in_the_outer_model_as_keras(case):
    model = BUILDERS[case]()
    assert (len(model.trainable_weights), len(model.weights)) == (6, 6)  # Keras's counts
    entry = next(e for e in model.layers if isinstance(e, Model))
    entry.trainable = False
    assert (len(model.trainable_weights), len(model.non_trainable_weights)) == (2, 4)
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 3 (12.00 B)" in lines  # the head's 2 + 1 weights


def test_frozen_nested_model_is_not_trained_by_fit():
    model = _seq_in_func()
    model.layers[1].trainable = False
    before = model.layers[1].get_weights()
    head = model.layers[2].get_weights()
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32)
    model.fit(x, np.ones((8, 1), np.float32), epochs=2, verbose=0)
    for a, b in zip(before, model.layers[1].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(head[0], model.layers[2].get_weights()[0])


@pytest.mark.parametrize("case", list(BUILDERS))
def test_config_holds_the_nested_model_whole_as_keras(case):
    config = BUILDERS[case]().get_config()
    assert [(s["class_name"], s["config"]["name"]) for s in config["layers"]] == \
        CONFIG_LAYERS[case]
    json.dumps(config)
    if case == "two_levels":
        inner = config["layers"][0]["config"]
        assert [(s["class_name"], s["config"]["name"]) for s in inner["layers"]] == [
            ("Sequential", "lvl2"), ("Dense", "b1")]


def test_a_layer_of_a_nested_model_by_name_is_npconvs_own():
    """Keras: "No such layer: d1. Existing layers are: ['inner', 'head']"; npconv finds it
    (code written for npconv's earlier flattened view keeps working)."""
    model = _seq_in_seq()
    assert model.get_layer("d1") is model.get_layer("inner").get_layer("d1")
    with pytest.raises(ValueError, match=r"no layer named 'nope'. Layers: \['inner', 'head'\]"):
        model.get_layer("nope")


def test_pop_removes_the_nested_model_whole_as_keras():
    model = _seq_in_seq()
    model.pop()
    assert [e.name for e in model.layers] == ["inner"]
    assert model.pop().name == "inner"
    assert model.layers == [] and model._flat_layers() == []


@pytest.mark.parametrize("case", list(BUILDERS))
def test_save_load_keeps_the_nested_view_and_the_weights(tmp_path, case):
    npconv.set_random_seed(3)
    model = BUILDERS[case]()
    entry = next(e for e in model.layers if isinstance(e, Model))
    entry.trainable = False
    x = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = npconv.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [e.name for e in loaded.layers] == [e.name for e in model.layers]
    assert _rows(loaded, expand_nested=True) == _rows(model, expand_nested=True)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    loaded_entry = loaded.get_layer(entry.name)
    assert isinstance(loaded_entry, Model) and loaded_entry.trainable is False
    assert len(loaded.trainable_weights) == 2
    clone = npconv.models.clone_model(model)
    assert [e.name for e in clone.layers] == [e.name for e in model.layers]


def test_old_flat_configs_still_load():
    """Before, npconv saved the inner layers in the nested model's place: such a config (the
    same as a flat model of those layers) loads into the model it describes."""
    old_sequential = {"name": "outer", "input_shape": [4], "layers": [
        {"class_name": "Dense", "config": layers.Dense(8, name="d1").get_config()},
        {"class_name": "Dense", "config": layers.Dense(2, name="d2").get_config()},
        {"class_name": "Dense", "config": layers.Dense(1, name="head").get_config()}]}
    model = Sequential.from_config(old_sequential)
    assert [e.name for e in model.layers] == ["d1", "d2", "head"]
    assert model.count_params() == 61
    x = Input((4,), name="inp")
    flat = Model(x, layers.Dense(1, name="h")(layers.Dense(2, name="b")(x)), name="old")
    again = Model.from_config(flat.get_config())
    assert [e.name for e in again.layers] == ["inp", "b", "h"]


def test_a_model_called_twice_and_a_two_input_model_round_trip(tmp_path):
    a, b = Input((3,)), Input((3,))
    sub = Model([a, b], [layers.Dense(2, name="p")(a), layers.Add(name="q")([a, b])],
                name="sub")
    shared = Sequential([Input((3,)), layers.Dense(3, name="sh")], name="shared")
    u, w = Input((3,), name="u"), Input((3,), name="w")
    o1, o2 = sub([u, layers.Dense(3, name="pre")(w)])
    out = layers.Concatenate(name="cat")([layers.Dense(3, name="post")(o1), shared(o2),
                                          shared(u)])
    model = Model([u, w], out, name="m")
    # Keras 3.15.1's order (deepest from the output first: w is one step further than u)
    assert [e.name for e in model.layers] == ["w", "u", "pre", "sub", "post", "shared", "cat"]
    lines = []
    model.summary(print_fn=lines.append, line_length=150)
    row = next(line for line in lines if line.startswith(" sub (Functional)"))
    assert re.split(r"\s{2,}", row.strip()) == [
        "sub (Functional)", "[(None, 2), (None, 3)]", "8", "u, pre"]  # (each input once)
    model.save(tmp_path / "m.keras")
    loaded = npconv.models.load_model(tmp_path / "m.keras")
    v = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict([v, v + 1], verbose=0),
                                  model.predict([v, v + 1], verbose=0))
    assert [e.name for e in loaded.layers] == [e.name for e in model.layers]
    assert loaded.count_params() == model.count_params()


def test_an_unbuilt_model_given_as_an_entry_is_built_with_the_outer_one():
    """The tutorials' data_augmentation Sequential (no input shape) after an Input: the
    summary's row for it asked its count_params, "the model has no input shape yet"."""
    augment = Sequential([layers.RandomFlip("horizontal"), layers.Rescaling(0.5)],
                         name="augment")
    model = Sequential([Input((6, 6, 1)), augment, layers.Flatten(name="flat"),
                        layers.Dense(2, name="out")])
    assert augment.built and augment.output_shape == (None, 6, 6, 1)
    assert _rows(model)[0] == (0, "augment (Sequential)", "(None, 6, 6, 1)", "0")
    later = Sequential([Sequential([layers.Dense(3, name="d")], name="block"),
                        layers.Dense(1, name="o")])
    later(np.zeros((2, 5), np.float32))  # built by its first data
    assert later.get_layer("block").count_params() == 18


def test_a_layer_running_inside_and_outside_a_nested_model_saves_flat(tmp_path):
    """A layer shared by a nested model and the outer graph cannot be saved inside the
    nested model's config (the file would make two layers of it): the model is saved layer by
    layer, as before, and loads with one layer and one set of weights."""
    dense = layers.Dense(4, name="both")
    a = Input((4,))
    sub = Model(a, dense(a), name="sub")
    x = Input((4,), name="x")
    model = Model(x, layers.Add(name="add")([sub(x), dense(x)]), name="m")
    assert [e.name for e in model.layers] == ["x", "sub", "both", "add"]  # (called here too)
    assert all(s.get("class_name") not in ("Functional", "Sequential")
               for s in model.get_config()["layers"])
    model.save(tmp_path / "m.keras")
    loaded = npconv.models.load_model(tmp_path / "m.keras")
    v = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(v, verbose=0), model.predict(v, verbose=0))
    assert loaded.count_params() == model.count_params() == 20
