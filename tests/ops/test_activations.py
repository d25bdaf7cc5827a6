"""ops.activations and the Keras path npconv.activations: values, gradients, get/serialize."""

import warnings

import numpy as np
import pytest

import npconv.activations as kact
from npconv.ops import activations as A
from tests.finite_differences import central_differences

RNG = np.random.default_rng(1234)


def numeric_grad(f, x, dy, eps=1e-6):
    """Central differences of ``sum(f(x) * dy)`` with respect to ``x`` (float64)."""
    return central_differences(lambda: np.sum(f(x) * dy), x, eps)


def away_from(x, points, margin=1e-3):
    """Move values within ``margin`` of a kink so finite differences stay on one side."""
    x = x.copy()
    for p in points:
        near = np.abs(x - p) < margin
        x[near] = p + 10 * margin
    return x


PAIRS = {
    "relu": (A.relu_forward, A.relu_backward, [0.0]),
    "leaky_relu": (A.leaky_relu_forward, A.leaky_relu_backward, [0.0]),
    "tanh": (A.tanh_forward, A.tanh_backward, []),
    "sigmoid": (A.sigmoid_forward, A.sigmoid_backward, []),
    "softmax": (A.softmax_forward, A.softmax_backward, []),
    "linear": (A.linear_forward, A.linear_backward, []),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4, 5)])
def test_backward_matches_finite_differences(name, shape):
    fwd, bwd, kinks = PAIRS[name]
    x = away_from(RNG.standard_normal(shape) * 2, kinks)
    dy = RNG.standard_normal(shape)
    y, cache = fwd(x)
    dx = bwd(dy, cache)
    expected = numeric_grad(lambda v: fwd(v)[0], x, dy)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_softmax_axis_gradient_and_sum(axis):
    x = RNG.standard_normal((3, 4, 5))
    y, cache = A.softmax_forward(x, axis=axis)
    np.testing.assert_allclose(y.sum(axis=axis), 1.0, rtol=1e-12)
    dy = RNG.standard_normal(x.shape)
    expected = numeric_grad(lambda v: A.softmax_forward(v, axis=axis)[0], x, dy)
    np.testing.assert_allclose(A.softmax_backward(dy, cache), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("opts", [dict(negative_slope=0.1), dict(max_value=1.5),
                                  dict(threshold=0.5), dict(negative_slope=0.2, max_value=2.0,
                                                            threshold=0.7)])
def test_keras_relu_options_values_and_gradient(opts):
    x = away_from(RNG.standard_normal((4, 6)) * 2,
                  [0.0, opts.get("threshold", 0.0), opts.get("max_value", 1e9)])
    a, m, t = opts.get("negative_slope", 0.0), opts.get("max_value"), opts.get("threshold", 0.0)
    y, cache = A.relu_forward(x, **opts)
    expected = np.where(x > t, x if m is None else np.minimum(x, m), a * (x - t))
    np.testing.assert_allclose(y, expected)
    dy = RNG.standard_normal(x.shape)
    num = numeric_grad(lambda v: A.relu_forward(v, **opts)[0], x, dy)
    np.testing.assert_allclose(A.relu_backward(dy, cache), num, rtol=1e-6, atol=1e-9)


def test_relu_gradient_at_zero_is_zero_like_torch():
    x = np.array([-1.0, 0.0, 1.0])
    _, cache = A.relu_forward(x)
    np.testing.assert_array_equal(A.relu_backward(np.ones(3), cache), [0.0, 0.0, 1.0])


def test_leaky_relu_defaults_and_values():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(A.leaky_relu(x), [-0.4, 0.0, 3.0])  # keras.activations: 0.2
    np.testing.assert_allclose(A.leaky_relu(x, negative_slope=0.5), [-1.0, 0.0, 3.0])


def test_seed_003_relu_on_arange():
    # seed 003: relu(torch.arange(-5, 6)) -> [0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]
    out = kact.relu(np.arange(-5, 6))
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5])
    assert out.dtype == np.float32


def test_sigmoid_and_softmax_stable_for_huge_inputs():
    x = np.array([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4], dtype=np.float32)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        s = A.sigmoid(x)
        p = A.softmax(x)
        t = A.tanh(x)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(p)) and np.all(np.isfinite(t))
    np.testing.assert_allclose(s[[0, -1]], [0.0, 1.0])
    assert s[3] == 0.5
    np.testing.assert_allclose(p.sum(), 1.0, rtol=1e-6)
    assert p[-1] == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_dtype_preserved_and_backward_pure(name, dtype):
    fwd, bwd, _ = PAIRS[name]
    x = RNG.standard_normal((3, 5)).astype(dtype)
    x_copy = x.copy()
    y, cache = fwd(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(x, x_copy)
    dy = RNG.standard_normal(y.shape).astype(dtype)
    dy_copy = dy.copy()
    dx1 = bwd(dy, cache)
    dx2 = bwd(dy, cache)
    assert dx1.dtype == dtype
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_array_equal(dy, dy_copy)
    np.testing.assert_array_equal(x, x_copy)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_backward_rejects_wrong_gradient_shape(name):
    fwd, bwd, _ = PAIRS[name]
    _, cache = fwd(np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        bwd(np.ones((3,)), cache)


def test_get_names_functions_objects():
    assert A.get(None) is None
    assert A.get("linear") is None and A.get("LINEAR") is None
    assert A.get(A.linear) is None
    for name in ["relu", "tanh", "sigmoid", "softmax", "leaky_relu"]:
        act = A.get(name)
        assert act.name == name
        assert A.get(name.upper()) is act
        assert A.get(getattr(A, name)) is act
        assert A.get(getattr(kact, name)) is act
        assert A.get(act) is act
        assert A.serialize(act) == name
    assert A.serialize(None) == "linear"
    custom = A.Activation("square", lambda x: (x * x, x), lambda dy, x: 2 * x * dy)
    assert A.get(custom) is custom
    assert custom(np.array([3.0]))[0] == 9.0
    assert A.serialize(custom) == "square"


def test_activation_object_forward_backward_call():
    act = A.get("sigmoid")
    x = np.array([[-1.0, 0.5]])
    y, cache = act.forward(x)
    np.testing.assert_allclose(act(x), y)
    np.testing.assert_allclose(act.backward(np.ones_like(y), cache), y * (1 - y))


def test_get_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown activation.*Expected one of \[.*relu.*\]"
                                         r".*Received: 'foo'"):
        A.get("foo")


def test_get_rejects_callables_without_backward_and_other_types():
    with pytest.raises(TypeError, match="backward"):
        A.get(np.exp)
    with pytest.raises(TypeError, match="activations.get"):
        A.get(3)


def test_keras_path_accepts_lists_returns_arrays():
    out = kact.tanh([0.0, 1.0])
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, np.tanh([0.0, 1.0]))
    np.testing.assert_allclose(kact.sigmoid([0.0]), [0.5])
    np.testing.assert_allclose(kact.softmax([[1.0, 1.0]]), [[0.5, 0.5]])
    np.testing.assert_allclose(kact.linear([1, 2]), [1.0, 2.0])
    np.testing.assert_allclose(kact.relu([-1.0, 2.0], max_value=1.0), [0.0, 1.0])
    assert kact.get("relu") is A.get("relu")
    assert kact.serialize(kact.get("tanh")) == "tanh"


def test_softmax_bad_axis_and_relu_bad_options():
    with pytest.raises(ValueError, match="softmax.*axis"):
        A.softmax(np.ones((2, 3)), axis=2)
    with pytest.raises(ValueError, match="relu.*>= 0"):
        A.relu(np.ones(3), negative_slope=-1.0)
    with pytest.raises(TypeError, match="real numeric"):
        A.relu(np.array(["a"]))


def test_relu_with_max_value_gives_positive_zero_below_the_threshold():
    # np.where(above, x, 0 * (x - t)) would give -0.0 for negative x; Keras and torch print 0.
    y, _ = A.relu_forward(np.array([-1.0, -0.5, 7.0, 2.0]), max_value=6.0)
    np.testing.assert_array_equal(y, [0.0, 0.0, 6.0, 2.0])
    assert not np.signbit(y).any()


def test_softmax_axes_tuple_errors_name_the_op():
    x = np.ones((2, 3, 4))
    for fn in (A.softmax, A.log_softmax):
        name = fn.__name__
        with pytest.raises(ValueError, match=rf"{name}: expected axis in \[-3, 3\).*\(1, 3\)"):
            fn(x, axis=(1, 3))
        with pytest.raises(ValueError, match=rf"{name}: expected distinct axes.*\(1, -2\)"):
            fn(x, axis=(1, -2))
        with pytest.raises(TypeError, match=rf"{name}: expected axis to be an int or a tuple"):
            fn(x, axis=1.5)
        with pytest.raises(TypeError, match=rf"{name}: expected axis to be an int or a tuple"):
            fn(x, axis=())
    # a list is a tuple of axes too; the result sums to 1 over them
    np.testing.assert_allclose(A.softmax(x, axis=[1, 2]).sum(axis=(1, 2)), 1.0)
