"""ops.norm: batch normalization forward (both modes), moving statistics, backward."""

import numpy as np
import pytest

from npconv.ops.norm import batch_norm_backward, batch_norm_forward
from tests.finite_differences import central_differences

RNG = np.random.default_rng(7)


def numeric_grad(f, x, d_out, eps=1e-6):
    """Central differences of ``sum(f() * d_out)`` with respect to ``x`` (float64)."""
    return central_differences(lambda: np.sum(f() * d_out), x, eps)


def make(shape, dtype=np.float64):
    c = shape[-1]
    x = (RNG.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma = RNG.uniform(0.5, 1.5, c).astype(dtype)
    beta = RNG.standard_normal(c).astype(dtype)
    mm = RNG.standard_normal(c).astype(dtype)
    mv = RNG.uniform(0.5, 2.0, c).astype(dtype)
    return x, gamma, beta, mm, mv


@pytest.mark.parametrize("shape", [(6, 3), (2, 3, 4, 5), (3, 2, 4)])
@pytest.mark.parametrize("training", [True, False])
def test_backward_matches_finite_differences(shape, training):
    x, gamma, beta, mm, mv = make(shape)
    d_out = RNG.standard_normal(shape)
    out, cache = batch_norm_forward(x, gamma, beta, mm, mv, training, 0.9, 1e-3)
    dx, dg, db = batch_norm_backward(d_out, cache)

    def f():
        return batch_norm_forward(x, gamma, beta, mm, mv, training, 0.9, 1e-3)[0]

    np.testing.assert_allclose(dx, numeric_grad(f, x, d_out), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(dg, numeric_grad(f, gamma, d_out), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, numeric_grad(f, beta, d_out), rtol=1e-6, atol=1e-8)


def test_training_forward_normalises_and_updates_moving_stats():
    x, gamma, beta, mm, mv = make((4, 3, 3, 2))
    out, cache = batch_norm_forward(x, gamma, beta, mm, mv, True, momentum=0.99, epsilon=1e-3)
    mean = x.mean(axis=(0, 1, 2))
    var = x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3) * gamma + beta)
    np.testing.assert_allclose(((out - beta) / gamma).mean(axis=(0, 1, 2)), 0, atol=1e-12)
    np.testing.assert_allclose(cache.new_moving_mean, mm * 0.99 + mean * 0.01)
    np.testing.assert_allclose(cache.new_moving_var, mv * 0.99 + var * 0.01)  # biased var


def test_inference_uses_moving_stats_and_does_not_update():
    x, gamma, beta, mm, mv = make((5, 3))
    out, cache = batch_norm_forward(x, gamma, beta, mm, mv, False)
    np.testing.assert_allclose(out, (x - mm) / np.sqrt(mv + 1e-3) * gamma + beta)
    assert cache.new_moving_mean is None and cache.new_moving_var is None


def test_without_gamma_and_beta():
    x, _, _, mm, mv = make((5, 3))
    out, cache = batch_norm_forward(x, None, None, mm, mv, True)
    np.testing.assert_allclose(out, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3))
    dx, dg, db = batch_norm_backward(np.ones_like(out), cache)
    assert dg is None and db is None
    np.testing.assert_allclose(dx, 0, atol=1e-12)  # the sum of a normalised batch is constant


@pytest.mark.parametrize("training", [True, False])
def test_float32_kept_and_backward_pure(training):
    x, gamma, beta, mm, mv = make((3, 4, 4, 2), np.float32)
    copies = [a.copy() for a in (x, gamma, beta, mm, mv)]
    out, cache = batch_norm_forward(x, gamma, beta, mm, mv, training)
    assert out.dtype == np.float32
    if training:
        assert cache.new_moving_mean.dtype == np.float32
        assert cache.new_moving_var.dtype == np.float32
    d_out = RNG.standard_normal(out.shape).astype(np.float32)
    d_copy = d_out.copy()
    g1 = batch_norm_backward(d_out, cache)
    g2 = batch_norm_backward(d_out, cache)
    for a, b in zip(g1, g2, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(d_out, d_copy)
    for a, b in zip((x, gamma, beta, mm, mv), copies, strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_inputs():
    x, gamma, beta, mm, mv = make((4, 3))
    with pytest.raises(ValueError, match="batch_norm: expected gamma of shape \\(3,\\)"):
        batch_norm_forward(x, np.ones(4), beta, mm, mv, True)
    with pytest.raises(ValueError, match="moving_var"):
        batch_norm_forward(x, gamma, beta, mm, np.ones((3, 1)), False)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        batch_norm_forward(np.ones(3), gamma, beta, mm, mv, True)
    with pytest.raises(ValueError, match="momentum"):
        batch_norm_forward(x, gamma, beta, mm, mv, True, momentum=1.5)
    with pytest.raises(ValueError, match="epsilon"):
        batch_norm_forward(x, gamma, beta, mm, mv, True, epsilon=0.0)
    _, cache = batch_norm_forward(x, gamma, beta, mm, mv, True)
    with pytest.raises(ValueError, match="batch_norm_backward"):
        batch_norm_backward(np.ones((4, 4)), cache)


def test_float32_training_mode_is_accurate_when_the_mean_dwarfs_the_spread():
    # a mean 1e4 times the standard deviation: a one-pass float32 mean is off by about its
    # last bit, which is large next to the spread; the refined mean keeps x_hat exact
    rng = np.random.default_rng(487)
    x = (rng.standard_normal((64, 5, 5, 8)) * 0.01 + 100).astype(np.float32)
    gamma, beta = np.ones(8, np.float32), np.zeros(8, np.float32)
    stats = (np.zeros(8, np.float32), np.ones(8, np.float32))
    out32, _ = batch_norm_forward(x, gamma, beta, *stats, training=True)
    out64, _ = batch_norm_forward(x.astype(np.float64), gamma.astype(np.float64),
                                  beta.astype(np.float64), *(s.astype(np.float64) for s in stats),
                                  training=True)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out64, atol=2e-6)
