"""Multiply: the op and the layer (2 and more inputs) against finite differences in float64,
Keras's shape checks, config round trip, a functional gated model (forward = manual
composition, backward = finite differences through the graph), save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from npconv import io as npio
from npconv.gradcheck import gradient_check
from npconv.layers import Conv2D, Dense, Flatten, Input, Multiply, multiply
from npconv.layers.base import SymbolicTensor, get_layer_class
from npconv.models.functional import Model
from npconv.ops.merge import multiply_backward, multiply_forward
from npconv.random import set_random_seed
from tests.finite_differences import central_differences


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("shape", [(2, 3), (1, 4, 3, 2), (3,)])
def test_op_backward_matches_finite_differences(k, shape):
    rng = np.random.default_rng(10 * k + len(shape))
    xs = [rng.standard_normal(shape) for _ in range(k)]
    out, cache = multiply_forward(xs)
    np.testing.assert_allclose(out, np.prod(np.stack(xs), axis=0), rtol=1e-14)
    d_out = rng.standard_normal(out.shape)
    grads = multiply_backward(d_out, cache)
    assert len(grads) == k
    for i in range(k):
        numeric = central_differences(lambda: np.sum(multiply_forward(xs)[0] * d_out), xs[i])
        np.testing.assert_allclose(grads[i], numeric, rtol=1e-6, atol=1e-9)


def test_op_with_zeros_needs_no_division():
    a = np.array([[0.0, 2.0, 0.0]])
    b = np.array([[3.0, 0.0, 0.0]])
    c = np.array([[5.0, 7.0, 11.0]])
    grads = multiply_backward(np.ones((1, 3)), multiply_forward([a, b, c])[1])
    np.testing.assert_array_equal(grads[0], [[15, 0, 0]])
    np.testing.assert_array_equal(grads[1], [[0, 14, 0]])
    np.testing.assert_array_equal(grads[2], [[0, 0, 0]])
    assert all(np.isfinite(g).all() for g in grads)


def test_op_contracts():
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        xs = [rng.standard_normal((2, 3)).astype(dtype) for _ in range(3)]
        copies = [x.copy() for x in xs]
        out, cache = multiply_forward(xs)
        assert out.dtype == dtype
        d = rng.standard_normal(out.shape).astype(dtype)
        d_copy = d.copy()
        g1, g2 = multiply_backward(d, cache), multiply_backward(d, cache)
        for a, b in zip(g1, g2, strict=True):
            assert a.dtype == dtype
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(d, d_copy)
        for x, c in zip(xs, copies, strict=True):
            np.testing.assert_array_equal(x, c)
        assert not any(np.shares_memory(g, d) for g in g1)
    mixed, _ = multiply_forward([np.ones(2, np.float32), np.ones(2)])
    assert mixed.dtype == np.float64


def test_op_bad_inputs():
    with pytest.raises(ValueError, match=r"multiply_forward: expected a list of at least 2 "
                                         r"arrays. Received 1"):
        multiply_forward([np.ones(2)])
    with pytest.raises(ValueError, match=r"multiply_forward: inputs have incompatible shapes: "
                                         r"on axis 1 .*Received shapes \[\(2, 3\), \(2, 2\)\]"):
        multiply_forward([np.ones((2, 3)), np.ones((2, 2))])
    _, cache = multiply_forward([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"multiply_backward: expected d_out of shape \(2, 3\)"):
        multiply_backward(np.ones((3, 2)), cache)


@pytest.mark.parametrize("k", [2, 3])
def test_layer_gradient_check(k):
    rng = np.random.default_rng(k)
    xs = [rng.standard_normal((2, 4, 3, 2)) for _ in range(k)]
    report = gradient_check(Multiply(), xs, print_fn=None)
    assert report.passed, str(report)
    y = Multiply()(xs)
    np.testing.assert_allclose(y, np.prod(np.stack(xs), axis=0), rtol=1e-14)


def test_functional_form_and_symbolic_shapes():
    a, b = Input(shape=(4, 3)), Input(shape=(4, 3))
    out = multiply([a, b])
    assert isinstance(out.layer, Multiply) and out.shape == (None, 4, 3)
    assert Multiply()([SymbolicTensor((8, 5)), SymbolicTensor((None, 5))]).shape == (8, 5)


def test_keras_shape_checks():
    with pytest.raises(ValueError, match=r"mul: expected a list of at least 2 inputs. "
                                         r"Received 1"):
        Multiply(name="mul")([np.ones((2, 3))])
    with pytest.raises(ValueError, match=r"mul: inputs have incompatible shapes.*Received "
                                         r"shapes \[\(None, 3\), \(None, 4\)\]"):
        Multiply(name="mul")([Input(shape=(3,)), Input(shape=(4,))])
    with pytest.raises(ValueError, match="expected inputs of one rank"):   # no rank broadcast
        Multiply()([np.ones((2, 3)), np.ones((2, 3, 1))])
    with pytest.raises(ValueError, match=r"cannot merge tensors with different batch sizes. "
                                         r"Received shapes \[\(2, 3\), \(4, 3\)\]"):
        Multiply()([np.ones((2, 3)), np.ones((4, 3))])
    with pytest.raises(TypeError, match="expected a list of input arrays"):
        Multiply()(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="backward called before"):
        Multiply().backward(np.ones((2, 3)))


def test_get_config_round_trip():
    layer = Multiply(name="gate")
    config = layer.get_config()
    restored = get_layer_class("Multiply").from_config(json.loads(json.dumps(config)))
    assert type(restored) is Multiply and restored.get_config() == config


def gated_model(dtype="float64"):
    """x -> conv (features) ; conv sigmoid (gate) ; features * gate * x ; flatten ; dense."""
    inputs = Input(shape=(5, 5, 2))
    features = Conv2D(2, 3, padding="same", dtype=dtype, name="features")(inputs)
    gate = Conv2D(2, 1, activation="sigmoid", dtype=dtype, name="gate")(inputs)
    gated = Multiply(name="mul")([features, gate, inputs])
    outputs = Dense(3, dtype=dtype, name="head")(Flatten()(gated))
    return Model(inputs, outputs)


def test_functional_model_forward_and_gradients():
    set_random_seed(0)
    model = gated_model()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 5, 5, 2))
    features = model.get_layer("features")(x)
    gate = model.get_layer("gate")(x)
    kd, bd = model.get_layer("head").get_weights()
    expected = (features * gate * x).reshape(2, -1) @ kd + bd
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-12)
    report = gradient_check(model, x, print_fn=None, max_checks=20)
    assert report.passed, str(report)


def test_functional_model_trains_and_survives_save_load(tmp_path):
    set_random_seed(1)
    model = gated_model(dtype=None)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((16, 5, 5, 2)).astype(np.float32), rng.integers(0, 3, 16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    model.save(tmp_path / "gated.npconv")
    loaded = npio.load_model(tmp_path / "gated.npconv")
    assert isinstance(loaded.get_layer("mul"), Multiply)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
