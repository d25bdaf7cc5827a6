"""Add and Multiply broadcast axes of size 1, as Keras's merge layers do (an attention gate
``(N, H, W, 1)`` times features ``(N, H, W, C)``): values, gradients by finite differences
(summed over the broadcast axes) and against torch's autograd, shapes in a functional model."""

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.ops.merge import multiply_backward, multiply_forward
from tests.finite_differences import central_differences

CASES = [[(2, 4, 4, 3), (2, 4, 4, 1)], [(2, 1, 4, 3), (2, 4, 1, 3), (2, 4, 4, 1)],
         [(3, 5), (3, 1)], [(1, 2, 2, 3), (1, 2, 2, 3)]]


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize("shapes", CASES)
@pytest.mark.parametrize("kind", ["add", "multiply"])
def test_values_and_gradients(kind, shapes):
    xs = _inputs(shapes)
    layer = layers.Add() if kind == "add" else layers.Multiply()
    out = layer.forward(xs)
    expected = xs[0]
    for x in xs[1:]:
        expected = expected + x if kind == "add" else expected * x
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    d = np.random.default_rng(1).standard_normal(out.shape)
    grads = layer.backward(d)
    for x, g in zip(xs, grads, strict=True):
        assert g.shape == x.shape
        numeric = central_differences(lambda: np.sum(layer.forward(xs) * d), x, 1e-6)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shapes", CASES)
def test_multiply_matches_torch(shapes):
    torch = pytest.importorskip("torch")
    xs = _inputs(shapes, seed=2)
    out, cache = multiply_forward(xs)
    d = np.random.default_rng(3).standard_normal(out.shape)
    grads = multiply_backward(d, cache)
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    t_out = ts[0]
    for t in ts[1:]:
        t_out = t_out * t
    t_out.backward(torch.tensor(d))
    np.testing.assert_allclose(out, t_out.detach().numpy(), rtol=1e-12)
    for g, t in zip(grads, ts, strict=True):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_a_gate_in_a_functional_model_trains():
    npconv.set_random_seed(0)
    inp = npconv.Input((6, 6, 2))
    features = layers.Conv2D(4, 3, padding="same")(inp)
    gate = layers.Conv2D(1, 1, activation="sigmoid")(features)
    gated = layers.Multiply()([features, gate])
    assert gated.shape == (None, 6, 6, 4)
    out = layers.Dense(2, activation="softmax")(layers.Flatten()(layers.Add()([gated, gate])))
    model = npconv.Model(inp, out)
    model.compile("sgd", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    history = model.fit(rng.random((16, 6, 6, 2), dtype=np.float32), rng.integers(0, 2, 16),
                        epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    with pytest.raises(ValueError, match="on axis 3 the sizes must agree or be 1"):
        layers.Add()([features, layers.Conv2D(3, 1)(inp)])


def test_mixed_precision_inputs_give_float64_in_any_order():
    a32, a64 = np.ones((2, 3), np.float32), np.full((2, 3), 1e-9)
    for order in ([a64, a32, a32], [a32, a32, a64]):
        for layer in (layers.Add(), layers.Multiply()):
            out = layer.forward(order)
            assert out.dtype == np.float64
    assert layers.Add().forward([a32, a32, a64])[0, 0] - 2 == pytest.approx(1e-9)
