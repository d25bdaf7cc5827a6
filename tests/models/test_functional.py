"""The functional ``Model``: graph building, forward = manual composition, backward = central
finite differences through the whole graph (branches summed), weights, config round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from npconv.layers.conv import Conv2D
from npconv.layers.core import Dense, Flatten
from npconv.layers.input import Input
from npconv.layers.merge import Add, Concatenate
from npconv.layers.normalization import BatchNormalization
from npconv.layers.pooling import MaxPooling2D
from npconv.models.functional import Model
from npconv.random import set_random_seed
from tests.naive_conv import naive_conv_forward

F64 = "float64"


def residual_model(dtype=F64):
    """in -> conv3x3 same relu (a) ; conv1x1 (b) ; a + b (s) ; concat[s, a] ; pool ; dense tanh.

    ``a`` feeds both the Add and the Concatenate, so its gradient is a sum of two branches.
    """
    inputs = Input(shape=(6, 6, 2))
    a = Conv2D(3, 3, padding="same", activation="relu", dtype=dtype, name="conv_a")(inputs)
    b = Conv2D(3, 1, dtype=dtype, name="conv_b")(inputs)
    s = Add(name="add")([a, b])
    c = Concatenate(name="concat")([s, a])
    p = MaxPooling2D(2, name="pool")(c)
    f = Flatten(name="flatten")(p)
    outputs = Dense(4, activation="tanh", dtype=dtype, name="head")(f)
    return Model(inputs=inputs, outputs=outputs, name="residual")


def _randomize(model, rng):
    model.set_weights([rng.standard_normal(w.shape) * 0.5 for w in model.get_weights()])


def manual_forward(model, x):
    """The same network written out with NumPy and the naive loop convolution."""
    ka, ba = model.get_layer("conv_a").get_weights()
    kb, bb = model.get_layer("conv_b").get_weights()
    kd, bd = model.get_layer("head").get_weights()
    a = np.maximum(naive_conv_forward(x, ka, ba, (1, 1), ((1, 1), (1, 1)), (1, 1)), 0)
    b = naive_conv_forward(x, kb, bb, (1, 1), ((0, 0), (0, 0)), (1, 1))
    c = np.concatenate([a + b, a], axis=-1)
    n, h, w, ch = c.shape
    p = c.reshape(n, h // 2, 2, w // 2, 2, ch).max(axis=(2, 4))
    return np.tanh(p.reshape(n, -1) @ kd + bd)


def test_graph_structure_and_get_layer():
    model = residual_model()
    names = [layer.name for layer in model.layers]
    assert names[0].startswith("input_layer")
    assert names[1:] == ["conv_a", "conv_b", "add", "concat", "pool", "flatten", "head"]
    assert model.get_layer("add") is model.layers[3]
    assert model.get_layer(index=1).name == "conv_a"
    assert model.input_shape == (None, 6, 6, 2)
    assert model.output_shape == (None, 4)
    assert model.get_layer("concat").output_shape == (None, 6, 6, 6)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    # conv_a 2*9*3+3, conv_b 2*3+3, head (3*3*6)*4+4
    assert model.count_params() == 57 + 9 + 220


def test_forward_equals_manual_composition():
    rng = np.random.default_rng(0)
    model = residual_model()
    _randomize(model, rng)
    x = rng.standard_normal((3, 6, 6, 2))
    y = model.predict(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, manual_forward(model, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(model(x), y)


def _loss(model, x, r):
    return float(np.sum(model.forward(x) * r))


def test_backward_matches_central_finite_differences():
    rng = np.random.default_rng(1)
    model = residual_model()
    _randomize(model, rng)
    x = rng.standard_normal((2, 6, 6, 2))
    r = rng.standard_normal((2, 4))
    x_before, r_before = x.copy(), r.copy()

    model.forward(x, training=True)
    dx = model.backward(r, need_input_grad=True)
    grads = [w.grad.copy() for w in model.trainable_weights]
    np.testing.assert_array_equal(r, r_before)  # d_out untouched
    np.testing.assert_array_equal(x, x_before)

    eps = 1e-6
    # every input entry
    num_dx = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num_dx[idx] = (_loss(model, xp, r) - _loss(model, xm, r)) / (2 * eps)
    np.testing.assert_allclose(dx, num_dx, rtol=1e-6, atol=1e-8)
    # every weight entry (286 of them: the whole model)
    for w, g in zip(model.trainable_weights, grads, strict=True):
        num = np.zeros_like(w.value)
        for idx in np.ndindex(w.shape):
            old = w.value[idx]
            w.value[idx] = old + eps
            lp = _loss(model, x, r)
            w.value[idx] = old - eps
            lm = _loss(model, x, r)
            w.value[idx] = old
            num[idx] = (lp - lm) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8, err_msg=w.name)

    # Backward twice from the same forward: identical results, grads overwritten (not summed).
    model.forward(x, training=True)
    dx2 = model.backward(r, need_input_grad=True)
    np.testing.assert_array_equal(dx2, dx)
    dx3 = model.backward(r, need_input_grad=True)
    np.testing.assert_array_equal(dx3, dx)
    for w, g in zip(model.trainable_weights, grads, strict=True):
        np.testing.assert_array_equal(w.grad, g)


def test_branch_gradient_is_the_sum_of_both_paths():
    """y = Add([x, x]) through one Input: dy/dx = 2 (the tensor feeds the Add twice)."""
    inputs = Input(shape=(3,))
    y = Add()([inputs, inputs])
    model = Model(inputs, y)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(model.predict(x), 2 * x)
    model.forward(x)
    d = np.ones((2, 3))
    np.testing.assert_array_equal(model.backward(d, need_input_grad=True), 2 * d)


def test_multi_input_multi_output():
    set_random_seed(3)
    in1, in2 = Input(shape=(4,)), Input(shape=(2,))
    h = Concatenate()([in1, in2])
    o1 = Dense(3, dtype=F64)(h)
    o2 = Dense(1, dtype=F64)(in1)
    model = Model(inputs=[in1, in2], outputs=[o1, o2])
    rng = np.random.default_rng(3)
    x1, x2 = rng.standard_normal((5, 4)), rng.standard_normal((5, 2))
    y1, y2 = model.predict([x1, x2], batch_size=2)
    k1, b1, k2, b2 = model.get_weights()
    np.testing.assert_allclose(y1, np.concatenate([x1, x2], 1) @ k1 + b1, rtol=1e-13)
    np.testing.assert_allclose(y2, x1 @ k2 + b2, rtol=1e-13)
    model.forward([x1, x2])
    d1, d2 = np.ones((5, 3)), np.ones((5, 1))
    g1, g2 = model.backward([d1, d2], need_input_grad=True)
    np.testing.assert_allclose(g1, d1 @ k1[:4].T + d2 @ k2.T, rtol=1e-13)
    np.testing.assert_allclose(g2, d1 @ k1[4:].T, rtol=1e-13)
    with pytest.raises(ValueError, match="list of 2 input arrays"):
        model.predict(x1)


def test_get_set_weights_errors_change_nothing():
    model = residual_model()
    before = model.get_weights()
    assert [w.shape for w in before] == [(3, 3, 2, 3), (3,), (1, 1, 2, 3), (3,), (54, 4), (4,)]
    # get_weights returns copies
    before[0][...] = 99.0
    assert not np.any(model.get_weights()[0] == 99.0)
    before = model.get_weights()
    with pytest.raises(ValueError, match="expected 6 weight arrays.*Received 5"):
        model.set_weights(before[:5])
    bad = [w + 1.0 for w in before]
    bad[-1] = np.zeros(5)  # the last one has the wrong shape: nothing may be assigned
    with pytest.raises(ValueError, match=r"expects shape \(4,\). Received shape \(5,\)"):
        model.set_weights(bad)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    # a correct call sets every weight, in get_weights order
    new = [w + 1.0 for w in before]
    model.set_weights(new)
    for a, b in zip(model.get_weights(), new, strict=True):
        np.testing.assert_array_equal(a, b)


def test_config_round_trip_gives_identical_predictions():
    rng = np.random.default_rng(4)
    model = residual_model()
    _randomize(model, rng)
    config = json.loads(json.dumps(model.get_config()))  # JSON-able
    clone = Model.from_config(config)
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    assert [a.name for a in clone.layers] == [b.name for b in model.layers]
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((3, 6, 6, 2))
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    assert json.loads(json.dumps(clone.get_config())) == config


def test_batch_norm_statistics_in_weights_and_config():
    inputs = Input(shape=(4, 4, 3))
    x = Conv2D(5, 3, name="c")(inputs)
    x = BatchNormalization(name="bn")(x)
    model = Model(inputs, Flatten()(x))
    names = [w.name for w in model.weights]
    assert names == ["kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in model.non_trainable_weights] == ["moving_mean", "moving_variance"]
    clone = Model.from_config(model.get_config())
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_a_layer_used_twice_is_listed_once_and_rebuilt_shared():
    inputs = Input(shape=(4,))
    dense = Dense(4, name="shared")
    model = Model(inputs, dense(dense(inputs)))
    assert [layer.name for layer in model.layers] == [inputs.layer.name, "shared"]
    assert model.count_params() == 20
    clone = Model.from_config(model.get_config())
    assert len(clone.weights) == 2 and len(clone._nodes) == 2
    assert clone._nodes[0].layer is clone._nodes[1].layer


def test_bad_graphs_are_clear_errors():
    a, b = Input(shape=(3,)), Input(shape=(3,))
    s = Add()([a, b])
    with pytest.raises(ValueError, match="disconnected"):
        Model(inputs=a, outputs=s)
    with pytest.raises(ValueError, match="both inputs= and outputs="):
        Model(inputs=a)
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(inputs=a, outputs=np.zeros(3))
    model = Model(inputs=[a, b], outputs=s)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch,\) \+ \(3,\)"):
        model.predict([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="incompatible shapes: on axis 1"):
        Add()([Input(shape=(3,)), Input(shape=(4,))])


def test_too_few_input_arrays_say_how_many_came():
    from npconv.layers import Add

    a, b = Input((3,)), Input((3,))
    model = Model([a, b], Dense(1)(Add()([a, b])))
    with pytest.raises(ValueError, match=r"expected a list of 2 input arrays\. "
                                         r"Received a list of 1"):
        model.predict([np.zeros((4, 3))])
    with pytest.raises(ValueError, match=r"Received ndarray"):
        model.predict(np.zeros((4, 3)))


def test_outputs_as_a_dict_as_keras():
    """Keras 3's Model(x, {"cls": ..., "reg": ...}): predictions come as a dict, and losses,
    metrics, targets and logs are keyed by its keys; a file keeps them."""
    import npconv

    rng = np.random.default_rng(0)
    x = rng.random((16, 6)).astype(np.float32)
    y_cls, y_reg = rng.integers(0, 3, 16), rng.random((16, 1)).astype(np.float32)
    set_random_seed(0)
    inp = Input((6,))
    hidden = Dense(8, activation="relu")(inp)
    model = Model(inp, {"cls": Dense(3, activation="softmax", name="c")(hidden),
                        "reg": Dense(1, name="r")(hidden)})
    assert model.output_names == ["c", "r"]  # the layers' names, as Keras
    model.compile("sgd", {"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  metrics={"cls": ["accuracy"]})
    history = model.fit(x, {"cls": y_cls, "reg": y_reg}, epochs=1, verbose=0)
    assert sorted(history.history) == ["cls_accuracy", "cls_loss", "loss", "reg_loss"]
    predicted = model.predict(x, verbose=0)
    assert list(predicted) == ["cls", "reg"] and predicted["cls"].shape == (16, 3)
    assert list(model(x)) == ["cls", "reg"] and list(model.predict_on_batch(x)) == ["cls", "reg"]
    again = npconv.models.model_from_json(model.to_json())
    again.set_weights(model.get_weights())
    np.testing.assert_array_equal(again.predict(x, verbose=0)["reg"], predicted["reg"])
    outer = Input((6,))
    assert list(model(outer)) == ["cls", "reg"]  # nested: a dict of tensors


def test_one_output_in_a_list_or_a_dict():
    import npconv

    x = np.random.default_rng(1).random((8, 4)).astype(np.float32)
    y = np.arange(8) % 3
    inp = Input((4,))
    listed = Model(inp, [Dense(3, activation="softmax")(inp)])  # Keras unpacks it
    listed.compile("sgd", "sparse_categorical_crossentropy")
    listed.fit(x, y, verbose=0)
    assert isinstance(listed.predict(x, verbose=0), np.ndarray)
    inp = Input((4,))
    keyed = Model(inp, {"only": Dense(3, activation="softmax")(inp)})
    keyed.compile("sgd", {"only": "sparse_categorical_crossentropy"})
    keyed.fit(x, {"only": y}, verbose=0)
    keyed.fit(x, y, verbose=0)
    assert list(keyed.predict(x, verbose=0)) == ["only"]
    assert list(npconv.models.model_from_json(keyed.to_json())(x)) == ["only"]


def test_one_output_takes_keras_per_output_metrics_and_targets():
    """A one-output model (one key, or [out]) accepts metrics and targets in the per-output
    forms its loss already took; a wrong key names the expected one at compile time."""
    x = np.random.default_rng(2).random((8, 4)).astype(np.float32)
    y = np.arange(8) % 3
    inp = Input((4,))
    keyed = Model(inp, {"cls": Dense(3, activation="softmax", name="c")(inp)})
    keyed.compile("sgd", {"cls": "sparse_categorical_crossentropy"},
                  metrics={"cls": ["accuracy"]})
    history = keyed.fit(x, {"cls": y}, verbose=0, validation_data=(x, {"cls": y}))
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    inp = Input((4,))
    listed = Model(inp, [Dense(3, activation="softmax", name="c2")(inp)])
    listed.compile("sgd", ["sparse_categorical_crossentropy"], metrics=[["accuracy"]])
    loss, accuracy = listed.evaluate(x, [y], verbose=0)
    assert loss == listed.evaluate(x, y, verbose=0)[0]
    listed.compile("sgd", "sparse_categorical_crossentropy", metrics={"c2": "accuracy"})
    listed.fit(x, {"c2": y}, verbose=0)
    inp = Input((4,))  # a one-sample target as a nested Python list stays one sample
    one_hot = Model(inp, Dense(3, activation="softmax")(inp))
    one_hot.compile("sgd", "categorical_crossentropy")
    one_hot.train_on_batch(x[:1], [[0, 0, 1]])
    one_hot.fit(x[:1], [[0.0, 1.0, 0.0]], verbose=0)
    with pytest.raises(ValueError, match=r"this model's output is \['cls'\]. Received keys "
                                         r"\['cl'\]"):
        keyed.compile("sgd", "sparse_categorical_crossentropy", metrics={"cl": ["accuracy"]})
    with pytest.raises(ValueError, match=r"unknown metric"):
        keyed.compile("sgd", "sparse_categorical_crossentropy", metrics=["acuracy"])
    keyed.compile("sgd", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"output is \['cls'\]. Received keys \['cl'\]"):
        keyed.fit(x, {"cl": y}, verbose=0)


def test_test_on_batch_reports_this_batchs_output_losses():
    rng = np.random.default_rng(3)
    x = rng.random((8, 4)).astype(np.float32)
    y_cls, y_reg = rng.integers(0, 3, 8), rng.random((8, 1)).astype(np.float32)
    inp = Input((4,))
    model = Model(inp, {"cls": Dense(3, activation="softmax")(inp), "reg": Dense(1)(inp)})
    model.compile("sgd", {"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    got = model.test_on_batch(x, {"cls": y_cls, "reg": y_reg}, return_dict=True)
    assert got == pytest.approx(model.evaluate(x, {"cls": y_cls, "reg": y_reg}, verbose=0,
                                               return_dict=True), rel=1e-6)


def test_d_input_only_where_a_trainable_weight_lies_before_the_layer():
    """A weightless first layer (Rescaling) or a frozen one: the layer after it computes no
    d_input (as if it read the model input); the weights' gradients are unchanged."""
    from npconv.layers.shape import Rescaling

    rng = np.random.default_rng(0)
    inputs = Input(shape=(6, 6, 1))
    h = Rescaling(0.5, dtype=F64)(inputs)
    h = Conv2D(2, 3, dtype=F64, name="c1")(h)
    h = Conv2D(2, 3, dtype=F64, name="c2")(h)
    model = Model(inputs, Dense(1, dtype=F64, name="out")(Flatten()(h)))
    x = rng.standard_normal((2, 6, 6, 1))
    model.forward(x, training=True)
    model.backward(np.ones((2, 1)))
    grads = {n: model.get_layer(n).kernel.grad.copy() for n in ("c1", "c2", "out")}
    assert not model.get_layer("c1").need_input_grad
    assert model.get_layer("c2").need_input_grad
    model.get_layer("c1").trainable = False
    model.forward(x, training=True)
    model.backward(np.ones((2, 1)))
    assert not model.get_layer("c2").need_input_grad  # nothing before it learns now
    for n in ("c2", "out"):
        np.testing.assert_array_equal(model.get_layer(n).kernel.grad, grads[n])


def test_input_takes_keras3_batch_shape():
    """keras.Input(batch_shape=(None, 28, 28, 1)) (Keras 3's form, also in its saved
    configs) was a TypeError."""
    import npconv

    t = npconv.Input(batch_shape=(None, 6, 6, 2), name="img")
    assert t.shape == (None, 6, 6, 2) and t.layer.shape == (6, 6, 2)
    assert npconv.Input(batch_shape=(8, 3)).shape == (8, 3)
    model = npconv.Model(t, npconv.layers.GlobalAveragePooling2D()(t))
    assert model.predict(np.ones((4, 6, 6, 2)), verbose=0).shape == (4, 2)
    with pytest.raises(ValueError, match="InputLayer: give either shape= .* or batch_shape="):
        npconv.Input(shape=(3,), batch_shape=(None, 3))
    with pytest.raises(ValueError, match="InputLayer: expected batch_shape=.*at least one axis"):
        npconv.Input(batch_shape=(None,))
