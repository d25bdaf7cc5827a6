"""Keras's model subclassing: ``class M(npconv.Model)`` with layers as attributes and a
``call`` made of layer calls, traced into a functional graph on its first input."""

import numpy as np
import pytest

import npconv
from npconv import layers


class Residual(npconv.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = layers.Conv2D(4, 3, padding="same", activation="relu")
        self.conv_2 = layers.Conv2D(4, 3, padding="same")
        self.add = layers.Add()
        self.drop = layers.Dropout(0.5)
        self.pool = layers.GlobalAveragePooling2D()
        self.head = layers.Dense(3, activation="softmax")

    def call(self, x, training=False):
        h = self.conv(x)
        h = self.add([h, self.conv_2(h)])
        h = self.drop(h, training=training)
        return self.head(self.pool(h))


def _functional_twin():
    inp = npconv.Input((8, 8, 1))
    h = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    h = layers.Add()([h, layers.Conv2D(4, 3, padding="same")(h)])
    h = layers.Dropout(0.5)(h)
    out = layers.Dense(3, activation="softmax")(layers.GlobalAveragePooling2D()(h))
    return npconv.Model(inp, out)


def _data(n=48):
    rng = np.random.default_rng(0)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, n)


def test_before_its_first_input_a_subclassed_model_lists_its_attribute_layers():
    model = Residual()
    assert model.name.startswith("residual") and not model.built
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "Conv2D", "Add", "Dropout", "GlobalAveragePooling2D", "Dense"]
    assert "not built" in repr(model)


def test_it_trains_as_the_functional_model_of_the_same_layers():
    x, y = _data()
    histories, predictions = [], []
    for make in (Residual, _functional_twin):
        npconv.set_random_seed(3)
        model = make()
        model.build((None, 8, 8, 1))  # its weights drawn now, as the functional model's
        model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
        npconv.set_random_seed(4)  # the same dropout masks
        histories.append(model.fit(x, y, epochs=2, batch_size=16, verbose=0).history)
        predictions.append(model.predict(x, verbose=0))
    assert histories[0] == histories[1]
    np.testing.assert_array_equal(predictions[0], predictions[1])


def test_training_reaches_the_layers_it_passes_training_to():
    x, _ = _data(8)
    model = Residual()
    np.testing.assert_array_equal(model(x), model(x))
    npconv.set_random_seed(5)
    assert not np.array_equal(model(x, training=True), model(x))  # the dropout is active


def test_build_save_and_load(tmp_path):
    x, y = _data()
    model = Residual()
    model.build((None, 8, 8, 1))
    assert model.built and model.count_params() == 40 + 148 + 15
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "residual.npconv")
    loaded = npconv.models.load_model(tmp_path / "residual.npconv")
    assert type(loaded) is npconv.Model  # its graph and weights, as a functional model
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_call_without_training_and_with_several_inputs():
    class TwoInputs(npconv.Model):
        def __init__(self):
            super().__init__()
            self.join = layers.Concatenate()
            self.dense = layers.Dense(2)

        def call(self, inputs):
            return self.dense(self.join(inputs))

    model = TwoInputs()
    a, b = np.ones((3, 4), np.float32), np.ones((3, 2), np.float32)
    assert model([a, b]).shape == (3, 2)
    assert model.input_shape == [(None, 4), (None, 2)]
    for first_use in ("fit", "train_on_batch"):  # traced by the training call itself
        fresh = TwoInputs()
        fresh.compile("sgd", "mse")
        getattr(fresh, first_use)([a, b], np.zeros((3, 2)), **(
            {"verbose": 0} if first_use == "fit" else {}))
        assert fresh.input_shape == [(None, 4), (None, 2)]


def test_numpy_arithmetic_in_call_is_refused_with_the_reason():
    class Doubles(npconv.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return np.tanh(self.dense(x))  # (a NumPy function: `* 2` is a Rescaling now)

    class Identity(npconv.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match=r"Doubles.call\).*traced.*SymbolicTensor.*only npconv "
                                        "layers"):
        Doubles()(np.ones((2, 3)))
    with pytest.raises(ValueError, match="returned its input unchanged"):
        Identity().build((None, 3))


# ------------------------------------------------------------ inputs by name, losses per output
def _two_inputs(outputs=1):
    a, b = npconv.Input((4,), name="a"), npconv.Input((2,), name="b")
    h = layers.Concatenate()([a, b])
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    if outputs == 1:
        return npconv.Model([a, b], cls)
    return npconv.Model([a, b], [cls, layers.Dense(1, name="reg")(h)])


def test_inputs_as_a_dict_by_input_name():
    npconv.set_random_seed(7)
    model = _two_inputs()
    rng = np.random.default_rng(8)
    xa, xb = rng.random((16, 4), dtype=np.float32), rng.random((16, 2), dtype=np.float32)
    y = rng.integers(0, 3, 16)
    np.testing.assert_array_equal(model({"b": xb, "a": xa}), model([xa, xb]))
    model.compile("sgd", {"cls": "sparse_categorical_crossentropy"})
    assert model.evaluate({"a": xa, "b": xb}, y, verbose=0) == model.evaluate([xa, xb], y,
                                                                              verbose=0)
    model.fit({"a": xa, "b": xb}, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"input names \['a', 'b'\]. Received keys \['a', 'c'\]"):
        model.predict({"a": xa, "c": xb}, verbose=0)


def test_compile_takes_one_loss_per_output_for_the_one_output():
    model = _two_inputs()
    model.compile("sgd", ["sparse_categorical_crossentropy"])
    assert model.loss.name == "sparse_categorical_crossentropy"
    with pytest.raises(ValueError, match=r"output is \['cls'\]. Received key 'reg'"):
        model.compile("sgd", {"reg": "mse"})
    with pytest.raises(ValueError, match="expected one loss for the model's one output"):
        model.compile("sgd", ["mse", "mse"])


def test_fit_names_the_type_it_cannot_take():
    model = npconv.Sequential([npconv.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    labels = (np.zeros(4) for _ in range(2))
    with pytest.raises(TypeError, match="a generator or dataset of batches goes in x alone"
                                        ".*Received generator"):
        model.fit(np.ones((4, 3)), labels, verbose=0)
    with pytest.raises(TypeError, match="Received str"):
        model.fit("abc", np.zeros(3), verbose=0)
    with pytest.raises(ValueError, match="Received a single value"):
        model.fit(np.float32(3), np.zeros(1), verbose=0)


class WithConstructorConfig(npconv.Model):
    """Keras's guide: get_config gives the constructor's arguments."""

    def __init__(self, filters=4, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = layers.Conv2D(filters, 3, activation="relu")
        self.flat = layers.Flatten()
        self.head = layers.Dense(3, activation="softmax")

    def call(self, x):
        return self.head(self.flat(self.conv(x)))

    def get_config(self):
        return {"filters": self.filters}


def test_a_get_config_of_constructor_arguments_does_not_reach_the_graph(tmp_path):
    # The helper processes and the model file rebuild from the traced graph's config.
    from npconv import _threads, _workers
    from tests.models.test_parallel import _wait_for_helpers

    x, y = _data(64)
    model = WithConstructorConfig()
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.predict(x, verbose=0)
    before = _threads._requested
    npconv.set_num_threads(2)
    if _workers.available():
        _wait_for_helpers(1)
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    if _workers.available():
        assert getattr(model, "_process_state", None) is not None  # it ran in the helpers
    _threads._requested = before
    assert model.get_config() == {"filters": 4}
    model.save(tmp_path / "subclass.npconv")
    loaded = npconv.models.load_model(tmp_path / "subclass.npconv")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_layers_held_in_a_list_are_listed_and_no_input_layer_after_build():
    class Blocks(npconv.Model):
        def __init__(self):
            super().__init__()
            self.blocks = [layers.Dense(3, activation="relu"), layers.Dense(3)]
            self.head = layers.Dense(1)

        def call(self, inputs):
            x = inputs
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    model = Blocks()
    before = [layer.name for layer in model.layers]
    assert len(before) == 3
    model.build(((None, 5),))  # one input given as a tuple of shapes
    assert [layer.name for layer in model.layers] == before
    assert len(model.get_weights()) == 6


def test_a_subclassed_model_as_an_entry_of_a_sequential():
    class Block(npconv.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(4, activation="relu")

        def call(self, x):
            return self.dense(x)

    model = npconv.Sequential([npconv.Input((6,)), layers.Dense(3), Block(), layers.Dense(1)])
    assert model.count_params() == 21 + 16 + 5
    assert model(np.ones((2, 6), np.float32)).shape == (2, 1)
    with pytest.raises(TypeError, match="not built yet: build it first"):
        npconv.Sequential([Block(), layers.Dense(1)])  # nothing says its input shape


def test_a_dict_of_inputs_for_a_functional_or_a_subclassed_model(tmp_path):
    rng = np.random.default_rng(9)
    data = {"u": rng.random((8, 3), dtype=np.float32), "v": rng.random((8, 2), dtype=np.float32)}
    y = rng.random((8, 1), dtype=np.float32)
    npconv.set_random_seed(10)
    u, v = npconv.Input((3,), name="u_input"), npconv.Input((2,), name="v_input")
    functional = npconv.Model({"u": u, "v": v},
                              layers.Dense(1, name="out")(layers.Concatenate()([u, v])))

    class Joined(npconv.Model):
        def __init__(self):
            super().__init__()
            self.join = layers.Concatenate()
            self.out = layers.Dense(1)

        def call(self, inputs):
            return self.out(self.join([inputs["u"], inputs["v"]]))

    subclassed = Joined()
    subclassed.compile("sgd", "mse")
    subclassed.fit(data, y, epochs=1, verbose=0)  # traced by fit, from the dict
    for model in (functional, subclassed):
        assert model._input_keys == ["u", "v"]
        model.set_weights(functional.get_weights())
        np.testing.assert_allclose(model(data), np.concatenate([data["u"], data["v"]], 1)
                                   @ functional.get_weights()[0] + functional.get_weights()[1],
                                   rtol=1e-6)
    functional.save(tmp_path / "dict.npconv")
    loaded = npconv.models.load_model(tmp_path / "dict.npconv")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0),
                                  functional.predict(data, verbose=0))
    with pytest.raises(ValueError, match=r"input names \['u', 'v'\]. Received keys \['u'\]"):
        functional.predict({"u": data["u"]}, verbose=0)


def test_a_layer_made_inside_call_with_a_training_argument():
    # Each trace makes a new Add: the same kinds of layer, so no branching on training.
    class Residual(npconv.Model):
        def __init__(self):
            super().__init__()
            self.inner = layers.Dense(4)
            self.head = layers.Dense(2)

        def call(self, x, training=False):
            return self.head(layers.Add()([x, self.inner(x)]))

    model = Residual()
    model.compile("sgd", "mse")
    model.fit(np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32), verbose=0)
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Add", "Dense"]


def test_build_from_a_dict_of_shapes():
    class Joined(npconv.Model):
        def __init__(self):
            super().__init__()
            self.join = layers.Concatenate()
            self.out = layers.Dense(1)

        def call(self, inputs):
            return self.out(self.join([inputs["u"], inputs["v"]]))

    model = Joined()
    model.build({"u": (None, 6), "v": (None, 3)})
    assert model._input_keys == ["u", "v"] and model.count_params() == 10
