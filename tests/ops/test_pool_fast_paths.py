"""The pooling fast paths give bit-identical results to the general ones (ties included)."""

import numpy as np
import pytest

from npconv.ops.pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_without_recorded_winners_is_identical(dtype):
    rng = np.random.default_rng(7)
    for _ in range(60):
        n, c = rng.integers(1, 4), rng.integers(1, 6)
        kh, kw = rng.integers(1, 4, size=2)
        h, w = rng.integers(kh, 3 * kh + 2), rng.integers(kw, 3 * kw + 2)
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
        x = np.maximum(x, 0) if rng.random() < 0.5 else np.round(x)  # many ties
        pool = (int(kh), int(kw))
        out1, cache1 = max_pool2d_forward(x, pool)
        out2, cache2 = max_pool2d_forward(x, pool, record_argmax=False)
        np.testing.assert_array_equal(out1, out2)
        assert out2.dtype == dtype
        d = rng.standard_normal(out1.shape).astype(dtype)
        dx1 = max_pool2d_backward(d, cache1)
        dx2 = max_pool2d_backward(d, cache2)
        np.testing.assert_array_equal(dx1, dx2)
        np.testing.assert_array_equal(max_pool2d_backward(d, cache2), dx2)


def test_max_pool_fast_path_ties_go_to_the_first_element():
    x = np.array([[0.0, 5], [5, 5]]).reshape(1, 2, 2, 1)
    _, cache = max_pool2d_forward(x, 2, record_argmax=False)
    dx = max_pool2d_backward(np.ones((1, 1, 1, 1)), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 1], [0, 0]])
    x = np.zeros((1, 2, 2, 1))
    _, cache = max_pool2d_forward(x, 2, record_argmax=False)
    dx = max_pool2d_backward(np.ones((1, 1, 1, 1)), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_average_pool_matches_the_window_sum(dtype):
    rng = np.random.default_rng(8)
    for _ in range(60):
        n, c = rng.integers(1, 4), rng.integers(1, 7)
        kh, kw = (int(k) for k in rng.integers(1, 4, size=2))
        h, w = rng.integers(kh, 3 * kh + 2), rng.integers(kw, 3 * kw + 2)
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
        out, cache = avg_pool2d_forward(x, (kh, kw))
        oh, ow = h // kh, w // kw
        expected = np.zeros((n, oh, ow, c), dtype)
        for di in range(kh):   # the seed's definition: the sum of the window's pixels / count
            for dj in range(kw):
                expected += x[:, di:oh * kh:kh, dj:ow * kw:kw, :]
        tol = 1e-6 if dtype == np.float32 else 1e-12   # another summation order
        np.testing.assert_allclose(out, expected / (kh * kw), rtol=tol, atol=tol)
        assert out.dtype == dtype
        d = rng.standard_normal(out.shape).astype(dtype)
        dx = avg_pool2d_backward(d, cache)
        assert dx.dtype == dtype
        np.testing.assert_array_equal(dx, avg_pool2d_backward(d, cache))


def _avg_pool_both_ways(monkeypatch, x, pool, d):
    """(out, dx) of the tiled average pool with the column matrix multiply and without."""
    from npconv.ops import pool as pool_ops

    results = []
    for channels in (pool_ops.GEMM_POOL_CHANNELS, 0):
        monkeypatch.setattr(pool_ops, "GEMM_POOL_CHANNELS", channels)
        out, cache = avg_pool2d_forward(x, pool)
        results.append((out, avg_pool2d_backward(d, cache)))
    return results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_average_pool_column_multiply_equals_the_adds(monkeypatch, dtype):
    rng = np.random.default_rng(12)
    for _ in range(40):
        n, c = (int(v) for v in rng.integers(1, 4, size=2))
        c = int(rng.choice([1, 2, 6, 15]))
        kh, kw = (int(k) for k in rng.integers(1, 5, size=2))
        h, w = rng.integers(kh, 3 * kh + 2), rng.integers(kw, 3 * kw + 2)
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
        d = rng.standard_normal((n, h // kh, w // kw, c)).astype(dtype)
        (out1, dx1), (out2, dx2) = _avg_pool_both_ways(monkeypatch, x, (kh, kw), d)
        tol = 1e-6 if dtype == np.float32 else 1e-13  # 1/9 scaled after or before the sum
        np.testing.assert_allclose(out1, out2, rtol=tol, atol=tol)
        np.testing.assert_allclose(dx1, dx2, rtol=tol, atol=tol)
        if (kh * kw) & (kh * kw - 1) == 0 and kw <= 2:  # one add per sum: the same bits
            np.testing.assert_array_equal(out1, out2)
            np.testing.assert_array_equal(dx1, dx2)


def test_tiled_average_pool_keeps_inf_and_nan_in_their_channel(monkeypatch):
    # A multiply by 0/1 weights would turn an inf into NaN in the window's other channels.
    x = np.ones((1, 4, 4, 3), np.float32)
    x[0, 0, 0, 1] = np.inf
    x[0, 3, 3, 2] = np.nan
    d = np.ones((1, 2, 2, 3), np.float32)
    d[0, 1, 0, 0] = -np.inf
    for out, dx in _avg_pool_both_ways(monkeypatch, x, (2, 2), d):
        expected = np.ones((1, 2, 2, 3), np.float32)
        expected[0, 0, 0, 1] = np.inf
        expected[0, 1, 1, 2] = np.nan
        np.testing.assert_array_equal(out, expected)
        expected_dx = np.full((1, 4, 4, 3), 0.25, np.float32)
        expected_dx[0, 2:, :2, 0] = -np.inf
        np.testing.assert_array_equal(dx, expected_dx)
