"""layer_norm_forward/backward: finite differences over axis sets, gamma/beta on or off,
dtype kept, a pure and repeatable backward, bad inputs."""

import numpy as np
import pytest

from npconv.ops.norm import layer_norm_backward, layer_norm_forward
from tests.finite_differences import central_differences

CASES = [((4, 5), (-1,)), ((3, 4, 5), (2,)), ((3, 4, 5), (1, 2)), ((2, 3, 4, 2), (1, 2, 3)),
         ((2, 3, 4, 2), (3,)), ((2, 3, 4, 2), (1,)), ((2, 3, 4, 2), (1, 3)), ((1, 1, 3), (-1,))]


@pytest.mark.parametrize("shape,axes", CASES)
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False),
                                          (False, False)])
def test_backward_matches_finite_differences(shape, axes, center, scale):
    rng = np.random.default_rng(hash((shape, axes)) % 2**32)
    x = rng.standard_normal(shape) * 2 + 1
    pshape = tuple(shape[a % len(shape)] for a in sorted(a % len(shape) for a in axes))
    gamma = rng.uniform(0.5, 1.5, pshape) if scale else None
    beta = rng.standard_normal(pshape) if center else None
    d_out = rng.standard_normal(shape)

    def loss():
        return np.sum(layer_norm_forward(x, gamma, beta, axes, 1e-3)[0] * d_out)

    out, cache = layer_norm_forward(x, gamma, beta, axes, 1e-3)
    dx, dg, db = layer_norm_backward(d_out, cache)
    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-5, atol=1e-7)
    if scale:
        np.testing.assert_allclose(dg, central_differences(loss, gamma), rtol=1e-5, atol=1e-7)
    else:
        assert dg is None
    if center:
        np.testing.assert_allclose(db, central_differences(loss, beta), rtol=1e-5, atol=1e-7)
    else:
        assert db is None


def test_forward_is_keras_formula_with_epsilon_inside_the_sqrt():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5)) * 0.01  # small variance: epsilon matters
    gamma, beta = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    out, _ = layer_norm_forward(x, gamma, beta, (1, 2), 1e-3)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)  # biased
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept_backward_pure_and_repeatable(dtype):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((4, 3, 6)) + 1000).astype(dtype)  # |mean| >> spread
    gamma, beta = np.ones(6, dtype), np.zeros(6, dtype)
    out, cache = layer_norm_forward(x, gamma, beta)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, (x.astype(np.float64) - x.astype(np.float64).mean(
        -1, keepdims=True)) / np.sqrt(x.astype(np.float64).var(-1, keepdims=True) + 1e-3),
        rtol=1e-4 if dtype == np.float32 else 1e-9, atol=1e-4 if dtype == np.float32 else 0)
    d = rng.standard_normal(x.shape).astype(dtype)
    d_copy = d.copy()
    first = layer_norm_backward(d, cache)
    second = layer_norm_backward(d, cache)
    np.testing.assert_array_equal(d, d_copy)
    for a, b in zip(first, second, strict=True):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)


def test_bad_inputs():
    x = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match=r"layer_norm: expected gamma of shape \(4,\).*\(3,\)"):
        layer_norm_forward(x, np.ones(3), None)
    with pytest.raises(ValueError, match=r"layer_norm: expected beta of shape \(3, 4\)"):
        layer_norm_forward(x, None, np.ones(4), (1, 2))
    for bad in (3, -4, (1, 1), (), "1", (1.0,), True):
        with pytest.raises(ValueError, match="layer_norm: expected axes.*Received"):
            layer_norm_forward(x, None, None, bad)
    with pytest.raises(ValueError, match="epsilon > 0"):
        layer_norm_forward(x, None, None, -1, 0.0)
    with pytest.raises(ValueError, match=r"normalized axes \(1,\) to be non-empty"):
        layer_norm_forward(np.ones((3, 0)), None, None)
    assert layer_norm_forward(np.ones((0, 3)), None, None)[0].shape == (0, 3)  # empty batch
    _, cache = layer_norm_forward(x, None, None)
    with pytest.raises(ValueError, match=r"layer_norm_backward: expected d_out of shape"):
        layer_norm_backward(np.ones((2, 3)), cache)
