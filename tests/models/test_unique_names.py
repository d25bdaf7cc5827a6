"""Keras's unique layer names: refused among the layers placed in a model; the inner layers
of models used as layers (inlined by npconv) may share names, and still save, load, train
and summarise right."""

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.models import Model, Sequential, load_model


def test_sequential_refuses_two_layers_of_one_name():
    with pytest.raises(ValueError, match="All layers added to a Sequential model should have "
                                         "unique names. Name 'x' is already the name of a "
                                         "layer in this model"):
        Sequential([layers.Dense(2, name="x"), layers.Dense(2, name="x")])
    model = Sequential([layers.Input((3,), name="x")])
    with pytest.raises(ValueError, match="Name 'x' is already"):
        model.add(layers.Dense(2, name="x"))
    with pytest.raises(ValueError, match="already in the model"):  # the same layer twice
        d = layers.Dense(3)
        Sequential([layers.Input((3,)), d, d])


def test_functional_refuses_two_distinct_layers_of_one_name():
    inputs = layers.Input((3,))
    h = layers.Dense(3, name="x")(inputs)
    with pytest.raises(ValueError, match='The name "x" is used 2 times in the model'):
        Model(inputs, layers.Dense(2, name="x")(h))
    shared = layers.Dense(3, name="s")  # one layer called twice is fine
    Model(inputs, shared(shared(inputs)))


def _saved_base(tmp_path):
    inputs = layers.Input((3,))
    h = layers.Dense(4, name="d1", activation="relu")(inputs)
    base = Model(inputs, layers.Dense(2, name="d2")(h), name="base")
    base.save(tmp_path / "base.keras")
    return tmp_path / "base.keras"


def test_two_copies_of_a_model_need_their_own_names_as_in_keras(tmp_path):
    path = _saved_base(tmp_path)
    a, b = load_model(path), load_model(path)
    x = layers.Input((3,))
    with pytest.raises(ValueError, match='The name "base" is used 2 times'):
        Model(x, layers.Subtract()([a(x), b(x)]))
    with pytest.raises(ValueError, match="Name 'base' is already"):
        Sequential([layers.Input((3,)), a, layers.Dense(3), b])


@pytest.mark.parametrize("kind", ["functional", "sequential"])
def test_two_copies_of_a_loaded_model_save_load_and_train(tmp_path, kind):
    path = _saved_base(tmp_path)
    a, b = load_model(path), load_model(path)
    b.name = "copy"
    b.set_weights([w + 1 for w in b.get_weights()])
    if kind == "functional":
        x = layers.Input((3,))
        outer = Model(x, layers.Subtract()([a(x), b(x)]))
        expected = lambda v: a.predict(v, verbose=0) - b.predict(v, verbose=0)  # noqa: E731
    else:  # (a 2 -> 3 inner layer between the copies)
        b_in = Sequential([layers.Input((2,)), layers.Dense(3, name="between")])
        outer = Sequential([layers.Input((3,)), a, b_in, b])
        expected = lambda v: b.predict(b_in.predict(a.predict(v, verbose=0), verbose=0),  # noqa: E731
                                       verbose=0)
    v = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    np.testing.assert_allclose(outer.predict(v, verbose=0), expected(v), rtol=1e-6)
    assert [layer.name for layer in outer._flat_layers()].count("d1") == 2
    assert outer.get_layer("copy").get_layer("d1") is b.get_layer("d1")
    with pytest.raises(ValueError, match=r"2 layers are named 'd1'.*'base', 'copy'.*"
                                         r"get_layer\('copy'\).get_layer\('d1'\)"):
        outer.get_layer("d1")
    lines = []
    outer.summary(print_fn=lines.append, expand_nested=True)
    assert sum(line.lstrip().startswith("└ d1 (Dense)") for line in lines) == 2
    if kind == "functional":  # each copy's d1 reads the input once, d2 its own d1
        rows = [line.split()[1:] for line in lines
                if line.lstrip().startswith(("└ d1 ", "└ d2 "))]
        assert [r[0] for r in rows] == ["d1", "d2", "d1", "d2"]
        inner_input = a.inputs[0].layer.name  # (each copy's rows: its own graph)
        assert [r[-1] for r in rows] == [inner_input, "d1", inner_input, "d1"]
        assert not any(r[-2].endswith(",") for r in rows)  # (each read once, not twice)
    outer.save(tmp_path / "outer.keras")
    loaded = load_model(tmp_path / "outer.keras")
    np.testing.assert_array_equal(loaded.predict(v, verbose=0), outer.predict(v, verbose=0))
    # the weights went to the right copies (b's biases are a's + 1)
    firsts = [layer for layer in loaded._flat_layers() if layer.name == "d1"]
    np.testing.assert_array_equal(firsts[0].get_weights()[1], a.get_layer("d1").get_weights()[1])
    np.testing.assert_array_equal(firsts[1].get_weights()[1], b.get_layer("d1").get_weights()[1])
    clone = npconv.models.clone_model(outer)
    assert [layer.name for layer in clone.layers] == [layer.name for layer in outer.layers]
    with pytest.raises(ValueError, match=r"get_layer\('copy'\).get_layer\('d1'\)"):
        loaded.get_layer("d1")  # (the file keeps each copy a model, as Keras's)
    outer.compile("sgd", "mse")
    outer.fit(v, np.zeros((5, outer.output_shape[-1]), np.float32), epochs=1, verbose=0)
    loaded.compile("sgd", "mse")
    loaded.fit(v, np.zeros((5, outer.output_shape[-1]), np.float32), epochs=1, verbose=0)


def test_old_files_without_keys_still_load():
    inputs = layers.Input((3,))
    model = Model(inputs, layers.Dense(2, name="only")(inputs))
    config = model.get_config()
    assert all("key" not in spec for spec in config["layers"])
    Model.from_config(config)


def test_a_head_added_to_a_model_loaded_in_a_fresh_session(tmp_path):
    # The layers of a loaded model keep the names of the session that built them; the
    # next automatic names of this session must not repeat them (Keras 3's do, and
    # 'load a model, add a Dense head' then fails with 'The name "dense" is used 2 times').
    npconv.utils.clear_session()
    inputs = layers.Input((4,))
    base = Model(inputs, layers.Dense(2)(layers.Dense(3)(inputs)))
    base.save(tmp_path / "base.npconv")
    stack = Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(2)])
    stack.save(tmp_path / "stack.npconv")
    x = np.random.default_rng(0).standard_normal((2, 4)).astype("float32")

    npconv.utils.clear_session()  # a fresh session
    loaded = load_model(tmp_path / "base.npconv")
    head = layers.Dense(1)
    model = Model(loaded.input, head(loaded.output))
    assert head.name not in {layer.name for layer in loaded.layers}
    second_input = layers.Input((4,))  # a second model input: not the loaded input's name
    assert second_input.layer.name != loaded.input.layer.name
    assert model.predict(x, verbose=0).shape == (2, 1)

    npconv.utils.clear_session()
    loaded = load_model(tmp_path / "stack.npconv")
    loaded.add(layers.Dense(1))  # was: Name 'dense_1' is already the name of a layer
    names = [layer.name for layer in loaded.layers]
    assert names[:2] == [layer.name for layer in stack.layers] and len(set(names)) == 3
    loaded.save(tmp_path / "again.npconv")
    np.testing.assert_array_equal(load_model(tmp_path / "again.npconv").predict(x, verbose=0),
                                  loaded.predict(x, verbose=0))
