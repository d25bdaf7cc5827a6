"""Subtract, Average, Maximum and Minimum: the ops and the layers against finite differences in
float64 (broadcast shapes included), the tie rule of Maximum/Minimum by hand, Keras's shape
checks, functional forms, config round trip and a model file round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from npconv import io as npio
from npconv.layers import (
    Average,
    Conv2D,
    Dense,
    Flatten,
    Input,
    Maximum,
    Minimum,
    Subtract,
    average,
    maximum,
    minimum,
    subtract,
)
from npconv.layers.base import SymbolicTensor, get_layer_class
from npconv.models.functional import Model
from npconv.ops.merge import (
    average_backward,
    average_forward,
    maximum_backward,
    maximum_forward,
    minimum_backward,
    minimum_forward,
    subtract_backward,
    subtract_forward,
)
from npconv.random import set_random_seed
from tests.finite_differences import central_differences

OPS = {"subtract": (subtract_forward, subtract_backward),
       "average": (average_forward, average_backward),
       "maximum": (maximum_forward, maximum_backward),
       "minimum": (minimum_forward, minimum_backward)}
LAYERS = {"subtract": Subtract, "average": Average, "maximum": Maximum, "minimum": Minimum}


def _expected(kind, xs):
    if kind == "subtract":
        return xs[0] - xs[1]
    if kind == "average":
        return sum(xs[1:], xs[0]) / len(xs)
    ufunc = np.maximum if kind == "maximum" else np.minimum
    out = xs[0]
    for x in xs[1:]:
        out = ufunc(out, x)
    return out


def _tie_free(shapes, seed, gap=1e-3):
    """Random float64 inputs whose broadcast pairs differ by more than ``gap`` everywhere, so
    that central differences (eps 1e-6) never cross a kink of max/min."""
    rng = np.random.default_rng(seed)
    while True:
        xs = [rng.standard_normal(s) for s in shapes]
        if all(np.abs(a - b).min() > gap for i, a in enumerate(xs) for b in xs[i + 1:]):
            return xs


SAME = [[(2, 3)] * 2, [(1, 4, 3, 2)] * 3, [(3, 2, 2)] * 5]
BROADCAST = [[(2, 4, 4, 3), (2, 4, 4, 1)], [(2, 1, 4, 3), (2, 4, 1, 3), (2, 4, 4, 1)],
             [(3, 1), (3, 5)], [(2, 1, 1, 1), (2, 3, 1, 2)]]


@pytest.mark.parametrize("kind", list(OPS))
@pytest.mark.parametrize("shapes", SAME + BROADCAST)
def test_op_backward_matches_finite_differences(kind, shapes):
    if kind == "subtract":
        shapes = shapes[:2]
    forward, backward = OPS[kind]
    xs = _tie_free(shapes, seed=len(shapes) * 7 + len(shapes[0]))
    out, cache = forward(xs)
    np.testing.assert_allclose(out, _expected(kind, xs), rtol=1e-14)
    d_out = np.random.default_rng(5).standard_normal(out.shape)
    grads = backward(d_out, cache)
    assert len(grads) == len(xs)
    for x, g in zip(xs, grads, strict=True):
        assert g.shape == x.shape and g.dtype == np.float64
        numeric = central_differences(lambda: np.sum(forward(xs)[0] * d_out), x)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kind", list(LAYERS))
@pytest.mark.parametrize("shapes", [[(2, 3, 3, 2)] * 3, [(2, 3, 1, 2), (2, 1, 3, 2)]])
def test_layer_backward_matches_finite_differences(kind, shapes):
    if kind == "subtract":
        shapes = shapes[:2]
    xs = _tie_free(shapes, seed=11)
    layer = LAYERS[kind]()
    out = layer(xs)
    np.testing.assert_allclose(out, _expected(kind, xs), rtol=1e-14)
    d_out = np.random.default_rng(6).standard_normal(out.shape)
    grads = layer.backward(d_out)
    for x, g in zip(xs, grads, strict=True):
        numeric = central_differences(lambda: np.sum(layer.forward(xs) * d_out), x)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9)


def test_maximum_ties_split_pairwise_left_to_right():
    # max(max(a, b), c): column 0 a three-way tie, 1 a tie of a and b that c beats,
    # 2 a tie of the running max (b) and c, 3 no tie (a wins)
    a = np.array([[1.0, 2.0, 0.0, 9.0]])
    b = np.array([[1.0, 2.0, 5.0, 1.0]])
    c = np.array([[1.0, 3.0, 5.0, 0.0]])
    out, cache = maximum_forward([a, b, c])
    np.testing.assert_array_equal(out, [[1, 3, 5, 9]])
    ga, gb, gc = maximum_backward(np.full((1, 4), 8.0), cache)
    np.testing.assert_array_equal(ga, [[2, 0, 0, 8]])
    np.testing.assert_array_equal(gb, [[2, 0, 4, 0]])
    np.testing.assert_array_equal(gc, [[4, 8, 4, 0]])
    # the order matters: max(max(c, a), b) gives b, the last, the half of a three-way tie
    gc2, ga2, gb2 = maximum_backward(np.full((1, 4), 8.0), maximum_forward([c, a, b])[1])
    np.testing.assert_array_equal([gc2[0, 0], ga2[0, 0], gb2[0, 0]], [2, 2, 4])


def test_minimum_ties_split_and_broadcast_sums():
    a = np.array([[1.0, 2.0], [3.0, 0.0]])
    b = np.array([[1.0], [1.0]])  # broadcast over axis 1
    out, cache = minimum_forward([a, b])
    np.testing.assert_array_equal(out, [[1, 1], [1, 0]])
    ga, gb = minimum_backward(np.ones((2, 2)), cache)
    np.testing.assert_array_equal(ga, [[0.5, 0], [0, 1]])
    np.testing.assert_array_equal(gb, [[1.5], [1]])  # 0.5 (tie) + 1 ; 1 + 0


def test_average_and_subtract_gradients_are_new_arrays():
    x = np.ones((2, 3))
    d = np.arange(6.0).reshape(2, 3)
    d_copy = d.copy()
    g = average_backward(d, average_forward([x, x, x])[1])
    assert not any(np.shares_memory(a, b) for i, a in enumerate(g) for b in g[i + 1:])
    g2 = subtract_backward(d, subtract_forward([x, x])[1])
    np.testing.assert_array_equal(g2[0], d)
    np.testing.assert_array_equal(g2[1], -d)
    assert not any(np.shares_memory(h, d) for h in g + g2)
    np.testing.assert_array_equal(d, d_copy)


@pytest.mark.parametrize("kind", list(OPS))
def test_op_dtypes(kind):
    forward, backward = OPS[kind]
    for dtype in (np.float32, np.float64):
        xs = [np.ones((2, 3), dtype), np.full((2, 3), 2, dtype)]
        out, cache = forward(xs)
        assert out.dtype == dtype
        assert all(g.dtype == dtype for g in backward(np.ones((2, 3), dtype), cache))
    assert forward([np.ones(2, np.float32), np.ones(2)])[0].dtype == np.float64


@pytest.mark.parametrize("kind", list(OPS))
def test_op_bad_inputs(kind):
    forward, backward = OPS[kind]
    name = f"{kind}_forward"
    with pytest.raises(ValueError, match=rf"{name}: expected a list of (at least|exactly) 2 "
                                         r"arrays. Received 1"):
        forward([np.ones((2, 2))])
    with pytest.raises(ValueError, match=rf"{name}: inputs have incompatible shapes: on axis 1 "
                                         r".*Received shapes \[\(2, 3\), \(2, 2\)\]"):
        forward([np.ones((2, 3)), np.ones((2, 2))])
    _, cache = forward([np.ones((2, 3)), np.ones((2, 3))])
    with pytest.raises(ValueError, match=rf"{kind}_backward: expected d_out of shape \(2, 3\)"):
        backward(np.ones((3, 2)), cache)


def test_subtract_op_takes_exactly_two():
    with pytest.raises(ValueError, match=r"subtract_forward: expected a list of exactly 2 "
                                         r"arrays. Received 3"):
        subtract_forward([np.ones((1, 2))] * 3)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_layer_shape_checks(kind):
    cls = LAYERS[kind]
    count = "exactly" if kind == "subtract" else "at least"
    with pytest.raises(ValueError, match=rf"m: expected a list of {count} 2 inputs"
                                         r".* Received 1"):
        cls(name="m")([np.ones((2, 3))])
    with pytest.raises(ValueError, match=rf"m: expected a list of {count} 2 inputs"
                                         r".* Received 1"):
        cls(name="m")([Input(shape=(3,))])
    with pytest.raises(ValueError, match=r"m: inputs have incompatible shapes.*Received "
                                         r"shapes \[\(None, 3\), \(None, 4\)\]"):
        cls(name="m")([Input(shape=(3,)), Input(shape=(4,))])
    with pytest.raises(ValueError, match="expected inputs of one rank"):
        cls()([np.ones((2, 3)), np.ones((2, 3, 1))])
    with pytest.raises(ValueError, match=r"cannot merge tensors with different batch sizes"):
        cls()([np.ones((2, 3)), np.ones((4, 3))])
    with pytest.raises(TypeError, match="expected a list of input arrays"):
        cls()(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="backward called before"):
        cls().backward(np.ones((2, 3)))


def test_subtract_refuses_three_inputs():
    with pytest.raises(ValueError, match=r"sub: expected a list of exactly 2 inputs \(Subtract "
                                         r"computes x1 - x2\). Received 3"):
        Subtract(name="sub")([np.ones((2, 3))] * 3)
    assert Average()([np.ones((2, 3))] * 3).shape == (2, 3)


def test_functional_forms_and_symbolic_shapes():
    a, b, c = Input(shape=(4, 1)), Input(shape=(1, 3)), Input(shape=(4, 3))
    for fn, cls in ((subtract, Subtract), (average, Average), (maximum, Maximum),
                    (minimum, Minimum)):
        out = fn([a, b], name=f"{fn.__name__}_ab")
        assert isinstance(out.layer, cls) and out.shape == (None, 4, 3)
        assert out.layer.name == f"{fn.__name__}_ab"
    assert maximum([a, b, c]).shape == (None, 4, 3)
    assert Minimum()([SymbolicTensor((8, 5)), SymbolicTensor((None, 1))]).shape == (8, 5)


@pytest.mark.parametrize("kind", list(LAYERS))
def test_get_config_round_trip(kind):
    layer = LAYERS[kind](name=f"my_{kind}")
    config = layer.get_config()
    restored = get_layer_class(LAYERS[kind].__name__).from_config(json.loads(json.dumps(config)))
    assert type(restored) is LAYERS[kind] and restored.get_config() == config


def _merge_model():
    inputs = Input(shape=(4, 4, 2))
    a = Conv2D(3, 3, padding="same", name="a")(inputs)
    b = Conv2D(3, 1, name="b")(inputs)
    c = Conv2D(1, 1, name="c")(inputs)  # broadcast over the channels
    d = Subtract(name="sub")([a, b])
    e = Average(name="avg")([d, b, c])
    f = Maximum(name="max")([e, a, c])
    g = Minimum(name="min")([f, b])
    outputs = Dense(2, name="head")(Flatten()(g))
    return Model(inputs, outputs)


def test_model_file_round_trip(tmp_path):
    set_random_seed(3)
    model = _merge_model()
    x = np.random.default_rng(4).standard_normal((3, 4, 4, 2)).astype(np.float32)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((3, 2), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "merges.npconv")
    loaded = npio.load_model(tmp_path / "merges.npconv")
    for name, cls in (("sub", Subtract), ("avg", Average), ("max", Maximum), ("min", Minimum)):
        assert type(loaded.get_layer(name)) is cls
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    lines = []
    loaded.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for name in ("sub (Subtract)", "avg (Average)", "max (Maximum)", "min (Minimum)"):
        assert name in text
