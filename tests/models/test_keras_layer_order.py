"""``model.layers``, ``get_weights``, ``weights`` and the summary of branching functional
models in Keras 3.15.1's order, and model files that keep their own (older) order.

The expected lists were printed by Keras 3.15.1 (torch backend) for the same models
(``[l.name for l in model.layers]`` and ``[w.shape for w in model.get_weights()]``).
npconv listed the layers in the order it runs them (each input's branch in turn), so a
two-input model's ``get_weights()`` did not fit Keras's ``set_weights`` of the same model.
"""

from __future__ import annotations

import os

import numpy as np

import npconv as keras
from npconv import layers
from npconv.models import load_model

FILES = os.path.join(os.path.dirname(__file__), os.pardir, "data", "npconv_files")


def _names(model):
    return [layer.name for layer in model.layers]


def _shapes(model):
    return [tuple(w.shape) for w in model.get_weights()]


def _assert_slots_fit(model):
    """Each of Adam's slots (``momentum.<i>``: i a position in the list given) was put
    back onto its own weight (the shapes here are all different)."""
    state = model.optimizer.get_state(model.weights)
    for i, w in enumerate(model.weights):
        assert state[f"momentum.{i}"].shape == state[f"velocity.{i}"].shape == w.shape


def _uneven_branches():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    xa = layers.Dense(5, name="da1")(a)
    xa = layers.Dense(5, name="da3")(layers.Dense(5, name="da2")(xa))
    xb = layers.Dense(5, name="db1")(b)
    out = layers.Dense(2, name="out")(layers.Add(name="add")([xa, xb]))
    return keras.Model([a, b], out)


def test_uneven_branches():
    model = _uneven_branches()
    assert _names(model) == ["a", "da1", "da2", "b", "da3", "db1", "add", "out"]
    assert _shapes(model) == [(4, 5), (5,), (5, 5), (5,), (5, 5), (5,), (3, 5), (5,), (5, 2),
                              (2,)]
    rows = []
    model.summary(print_fn=rows.append, line_length=120)
    names = [r.split()[0] for r in rows
             if r.startswith(" ") and "(" in r.split()[1] and not r.startswith(" Layer (")]
    assert names == _names(model)


def test_a_conv_branch_and_a_vector_branch():
    img, v = keras.Input((8, 8, 1), name="img"), keras.Input((3,), name="v")
    x = layers.Flatten(name="flat")(layers.Conv2D(2, 3, name="conv")(img))
    y = layers.Dense(4, name="dv")(v)
    model = keras.Model([img, v], layers.Dense(1, name="out")(
        layers.Concatenate(name="cat")([y, x])))
    assert _names(model) == ["img", "v", "conv", "dv", "flat", "cat", "out"]
    assert _shapes(model) == [(3, 3, 1, 2), (2,), (3, 4), (4,), (76, 1), (1,)]
    assert [tuple(w.shape) for w in model.weights] == _shapes(model)
    assert [tuple(w.shape) for w in model.trainable_weights] == _shapes(model)


def test_inputs_listed_in_another_order_and_a_late_input():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    out = layers.Dense(2, name="out")(layers.Concatenate(name="cat")(
        [layers.Dense(5, name="da")(a), layers.Dense(6, name="db")(b)]))
    assert _names(keras.Model([b, a], out)) == ["a", "b", "da", "db", "cat", "out"]
    c = keras.Input((2,), name="c")
    h = layers.Dense(3, name="h")(layers.Concatenate(name="cat1")([a, b]))
    o1 = layers.Dense(1, name="o1")(layers.Concatenate(name="cat2")([c, h]))
    o2 = layers.Dense(1, name="o2")(h)
    model = keras.Model([a, b, c], [o1, o2])
    assert _names(model) == ["a", "b", "cat1", "c", "h", "cat2", "o1", "o2"]
    assert _shapes(model) == [(7, 3), (3,), (5, 1), (1,), (3, 1), (1,)]


def test_a_shared_layer_an_unused_input_and_outputs_in_reverse():
    a, b, c = (keras.Input((4,), name=n) for n in "abc")
    shared = layers.Dense(4, name="shared")
    x = layers.Dense(4, name="mid")(shared(a))
    out = layers.Dense(2, name="out")(layers.Add(name="add")([x, shared(b)]))
    assert _names(keras.Model([a, b], out)) == ["a", "shared", "b", "mid", "add", "out"]
    out = layers.Dense(1, name="out")(layers.Add(name="add")([layers.Dense(4, name="da")(a), b]))
    assert _names(keras.Model([a, c, b], out)) == ["a", "da", "b", "add", "c", "out"]
    h = layers.Dense(4, name="h")(a)
    o1 = layers.Dense(1, name="o1")(layers.Dense(3, name="deep")(h))
    o2 = layers.Dense(1, name="o2")(layers.Add(name="add")([h, b]))
    model = keras.Model([a, b], [o2, o1])
    assert _names(model) == ["a", "h", "b", "add", "deep", "o2", "o1"]
    assert _shapes(model) == [(4, 4), (4,), (4, 3), (3,), (4, 1), (1,), (3, 1), (1,)]


def test_nested_models_are_one_entry_in_keras_order():
    ia, ib = keras.Input((4,), name="ia"), keras.Input((3,), name="ib")
    inner = keras.Model([ia, ib], layers.Dense(2, name="inner_out")(
        layers.Concatenate(name="inner_cat")([layers.Dense(3, name="inner_a")(ia), ib])),
        name="inner")
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    side = layers.Dense(2, name="side")(layers.Dense(5, name="side0")(b))
    model = keras.Model([a, b], layers.Dense(1, name="out")(
        layers.Add(name="add")([inner([a, b]), side])))
    assert _names(model) == ["b", "a", "side0", "inner", "side", "add", "out"]
    assert _shapes(model) == [(3, 5), (5,), (4, 3), (3,), (6, 2), (2,), (5, 2), (2,), (2, 1),
                              (1,)]
    seq = keras.Sequential([keras.Input((4,)), layers.Dense(4, name="s1"),
                            layers.Dense(4, name="s2")], name="seq")
    i2 = keras.Input((4,), name="i2")
    wrap = keras.Model(i2, seq(layers.Dense(4, name="pre")(i2)), name="wrap")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = keras.Model([a, b], layers.Dense(1, name="out")(layers.Concatenate(name="cat")(
        [layers.Dense(4, name="db")(b), wrap(a)])))
    assert _names(model) == ["b", "a", "db", "wrap", "cat", "out"]
    assert _shapes(model) == [(4, 4), (4,)] * 4 + [(8, 1), (1,)]


def test_set_weights_takes_keras_order_and_a_save_load_keeps_every_weight(tmp_path):
    model = _uneven_branches()
    rng = np.random.default_rng(0)
    new = [rng.standard_normal(s).astype(np.float32) for s in _shapes(model)]
    model.set_weights(new)
    assert [w.name for w in model.layers[1].weights] == ["kernel", "bias"]
    np.testing.assert_array_equal(model.layers[1].get_weights()[0], new[0])  # da1
    np.testing.assert_array_equal(model.get_layer("db1").get_weights()[0], new[6])
    model.compile("adam", "mse")
    x = [rng.standard_normal((4, 4)).astype(np.float32),
         rng.standard_normal((4, 3)).astype(np.float32)]
    model.fit(x, np.zeros((4, 2), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "m.npconv")
    loaded = load_model(tmp_path / "m.npconv")
    for w1, w2 in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(w1, w2)
    _assert_slots_fit(loaded)


def test_a_file_written_before_the_keras_order_still_loads():
    """two_inputs_round11.npconv: written by round 11's npconv (layers then listed as
    img, v, dv, conv, flat, cat, out), after one Adam step; its prediction for the input
    below was 0.2991690933704376."""
    model = load_model(os.path.join(FILES, "two_inputs_round11.npconv"))
    assert _names(model) == ["img", "v", "conv", "dv", "flat", "cat", "out"]
    assert _shapes(model) == [(3, 3, 1, 2), (2,), (3, 4), (4,), (36, 1), (1,)]
    x = [np.linspace(-1, 1, 36, dtype=np.float32).reshape(1, 6, 6, 1),
         np.array([[1, -2, 3]], np.float32)]
    assert model.predict(x, verbose=0).tolist() == [[0.2991690933704376]]
    _assert_slots_fit(model)
