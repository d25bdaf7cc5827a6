"""A model used as a layer of another (Keras's nested models: a pretrained base, a block
built once as a Model): its layers join the outer graph, with their weights shared."""

import numpy as np
import pytest

import npconv
from npconv import layers


def _base(seed=0):
    npconv.set_random_seed(seed)
    inp = npconv.Input((8, 8, 1))
    h = layers.Conv2D(4, 3, activation="relu")(inp)
    h = layers.BatchNormalization()(h)
    return npconv.Model(inp, layers.MaxPooling2D()(h), name="base")


def _outer(base):
    inp = npconv.Input((8, 8, 1))
    features = base(inp, training=False)
    return npconv.Model(inp, layers.Dense(3, activation="softmax")(layers.Flatten()(features)))


def _data(n=24):
    rng = np.random.default_rng(1)
    return rng.random((n, 8, 8, 1), dtype=np.float32), rng.integers(0, 3, n)


def test_the_outer_model_computes_the_composition_with_the_same_weights():
    base = _base()
    outer = _outer(base)
    x, _ = _data()
    head = outer.layers[-1]
    expected = head(base(x).reshape(len(x), -1))
    np.testing.assert_allclose(outer.predict(x, verbose=0), expected, rtol=1e-6)
    assert {id(w) for w in base.weights} <= {id(w) for w in outer.weights}
    assert outer.count_params() == base.count_params() + 36 * 3 + 3


def test_a_frozen_base_stays_and_a_trainable_one_learns():
    x, y = _data()
    for frozen in (True, False):
        base = _base()
        base.trainable = not frozen
        outer = _outer(base)
        outer.compile("sgd", "sparse_categorical_crossentropy")
        before = [w.copy() for w in base.get_weights()]
        outer.fit(x, y, epochs=1, batch_size=8, verbose=0)
        same = all(np.array_equal(a, b) for a, b in zip(before, base.get_weights(),
                                                         strict=True))
        assert same == frozen


def test_save_and_load_the_outer_model(tmp_path):
    outer = _outer(_base())
    x, _ = _data()
    outer.save(tmp_path / "outer.npconv")
    loaded = npconv.models.load_model(tmp_path / "outer.npconv")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), outer.predict(x, verbose=0))


def test_an_unbuilt_sequential_is_built_by_the_call():
    npconv.set_random_seed(2)
    block = npconv.Sequential([layers.Dense(5, activation="relu"), layers.Dense(2)])
    inp = npconv.Input((3,))
    model = npconv.Model(inp, block(inp))
    assert block.built and model.output_shape == (None, 2)


def test_what_a_nested_call_cannot_do_is_named():
    base = _base()
    inp = npconv.Input((8, 8, 1))
    with pytest.raises(ValueError, match=r"base: expected an input of shape \(None, 8, 8, 1\)"):
        base(npconv.Input((9, 9, 1)))
    with pytest.raises(ValueError, match="expected 1 input tensor"):
        base([inp, inp])


# ------------------------------------------------------------------ training= at call time
def test_training_false_at_a_call_keeps_batch_norm_in_inference_while_fitting(tmp_path):
    base = _base()
    base.trainable = True  # fine-tuning, as Keras's transfer-learning guide does
    outer = _outer(base)   # base(inp, training=False)
    outer.compile("sgd", "sparse_categorical_crossentropy")
    bn = base.layers[2]
    moving = [w.copy() for w in bn.get_weights()[2:]]
    x, y = _data()
    kernel = base.layers[1].kernel.numpy()
    outer.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for before, after in zip(moving, bn.get_weights()[2:], strict=True):
        np.testing.assert_array_equal(before, after)  # no batch statistics taken
    assert not np.array_equal(kernel, base.layers[1].kernel.value)  # but the base trained
    outer.save(tmp_path / "outer.npconv")
    loaded = npconv.models.load_model(tmp_path / "outer.npconv")
    assert [n.training for n in loaded._nodes][:3] == [False, False, False]


def test_training_true_at_a_call_keeps_dropout_on_in_predict():
    npconv.set_random_seed(4)
    inp = npconv.Input((16,))
    out = layers.Dropout(0.5)(layers.Dense(16)(inp), training=True)  # Monte Carlo dropout
    model = npconv.Model(inp, out)
    x = np.ones((4, 16), np.float32)
    assert not np.array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert model.get_config()["layers"][-1]["training"] is True


def test_python_control_flow_on_training_in_call_is_refused():
    class Branchy(npconv.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(4)
            self.drop = layers.Dropout(0.5)

        def call(self, x, training=None):
            x = self.dense(x)
            if training:
                x = self.drop(x)
            return x

    with pytest.raises(ValueError, match="Python control flow on training.*"
                                         r"self.dropout\(x, training=training\)"):
        Branchy().build((None, 3))


def test_a_call_resolving_training_none_to_false_still_follows_fit():
    # Keras's fit calls call(x, training=True): a call that turns None into False must not
    # freeze its layers in inference.
    class Net(npconv.Model):
        def __init__(self):
            super().__init__()
            self.drop = layers.Dropout(0.5)
            self.bn = layers.BatchNormalization()
            self.head = layers.Dense(1)

        def call(self, x, training=None):
            if training is None:
                training = False
            return self.head(self.bn(self.drop(x, training=training), training=training))

    model = Net()
    model.compile("sgd", "mse")
    x = np.full((32, 4), 5.0, np.float32)
    model.fit(x, np.zeros((32, 1), np.float32), epochs=1, batch_size=32, verbose=0)
    assert np.all(model.bn.moving_mean.value > 0)  # batch statistics were taken
    assert [n.training for n in model._nodes] == [None, None, None]


def test_a_dict_model_called_on_a_dict_of_tensors():
    u, v = npconv.Input((6,)), npconv.Input((3,))
    inner = npconv.Model({"u": u, "v": v}, layers.Concatenate()([u, v]))
    a, b = npconv.Input((6,)), npconv.Input((3,))
    outer = npconv.Model([a, b], layers.Dense(2)(inner({"v": b, "u": a})))
    assert outer.output_shape == (None, 2)


def test_get_layer_finds_a_nested_model_by_name_as_keras():
    """model.get_layer("encoder") (the functional API guide's nested models) was "no layer
    named 'encoder'": the nested model's layers are inlined, and the model was not found."""
    base = _base()
    outer = _outer(base)
    assert outer.get_layer("base") is base
    assert outer.get_layer(base.layers[1].name) is base.layers[1]  # its layers as before
    inp = npconv.Input((8, 8, 1))
    twice = npconv.Model(inp, layers.Flatten()(outer(inp)), name="twice")
    assert twice.get_layer("base") is base and twice.get_layer(outer.name) is outer
    stack = npconv.Sequential([npconv.Sequential([npconv.Input((4,)), layers.Dense(3)],
                                                 name="inner"), layers.Dense(2)])
    inner = stack.get_layer("inner")
    assert isinstance(inner, npconv.Sequential) and stack.layers[0] is inner  # as Keras
    assert inner.layers[0] is stack._flat_layers()[0]  # (its layers run in its place)
    stack.pop()
    stack.pop()  # the inner model is gone (Keras pops the entry, the whole model)
    with pytest.raises(ValueError, match="no layer named 'inner'"):
        stack.get_layer("inner")
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        outer.get_layer("nope")
