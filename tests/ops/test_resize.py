"""UpSampling ops: known values, nearest == np.repeat, finite differences of both backwards,
the contracts (dtype kept, inputs never modified, backward twice the same), bad inputs."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from npconv.ops.resize import linear_weights, upsampling2d_backward, upsampling2d_forward
from tests.finite_differences import central_differences

SIZES = [(1, 1), (2, 2), (3, 2), (1, 4), (2, 3)]


def test_nearest_is_a_block_repeat():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    out, _ = upsampling2d_forward(x, (2, 3))
    np.testing.assert_array_equal(out, np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))
    assert upsampling2d_forward(x, 2)[0].shape == (2, 6, 8, 5)


def test_bilinear_known_values():
    # half-pixel centres: 2 pixels [0, 1] doubled -> 0, 0.25, 0.75, 1 (edges clamp)
    x = np.array([0.0, 1.0]).reshape(1, 1, 2, 1)
    out, _ = upsampling2d_forward(x, (1, 2), "bilinear")
    np.testing.assert_allclose(out[0, 0, :, 0], [0, 0.25, 0.75, 1])
    # tripled: sources (o + 0.5) / 3 - 0.5 = -1/3, 0, 1/3, 2/3, 1, 4/3 -> clamped to [0, 1]
    out, _ = upsampling2d_forward(x, (1, 3), "bilinear")
    np.testing.assert_allclose(out[0, 0, :, 0], [0, 0, 1 / 3, 2 / 3, 1, 1], rtol=1e-15)
    # separable: a 2x2 image equals rows then columns
    img = np.array([[1.0, 2.0], [3.0, 5.0]]).reshape(1, 2, 2, 1)
    out, _ = upsampling2d_forward(img, 2, "bilinear")
    rows = np.array([[1, 2], [1.5, 2.75], [2.5, 4.25], [3, 5]])
    cols = np.stack([rows[:, 0], 0.75 * rows[:, 0] + 0.25 * rows[:, 1],
                     0.25 * rows[:, 0] + 0.75 * rows[:, 1], rows[:, 1]], axis=1)
    np.testing.assert_allclose(out[0, :, :, 0], cols, rtol=1e-15)


def test_linear_weights_sum_to_one_and_stay_in_range():
    for n in (1, 2, 5):
        for s in (1, 2, 3, 4):
            i0, i1, w0, w1 = linear_weights(n, s)
            assert i0.min() >= 0 and i1.max() <= n - 1
            np.testing.assert_allclose(w0 + w1, 1.0, rtol=0, atol=0)
            assert (w0 >= 0).all() and (w1 >= 0).all()


def test_a_constant_image_stays_constant():
    x = np.full((1, 3, 4, 2), 7.25)
    for mode in ("nearest", "bilinear"):
        np.testing.assert_array_equal(upsampling2d_forward(x, (3, 2), mode)[0], 7.25)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (2, 3, 4, 2), (1, 4, 1, 3), (3, 2, 3, 1)])
def test_backward_matches_finite_differences(mode, size, shape):
    rng = np.random.default_rng(zlib.crc32(repr((mode, size, shape)).encode()))
    x = rng.standard_normal(shape)
    out, cache = upsampling2d_forward(x, size, mode)
    d_out = rng.standard_normal(out.shape)
    dx = upsampling2d_backward(d_out, cache)
    numeric = central_differences(
        lambda: np.sum(upsampling2d_forward(x, size, mode)[0] * d_out), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_dtype_contracts_and_idempotent_backward(mode):
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 3, 4, 3)).astype(dtype)
        x_copy = x.copy()
        out, cache = upsampling2d_forward(x, (2, 3), mode)
        assert out.dtype == dtype and out.flags.c_contiguous
        d_out = rng.standard_normal(out.shape).astype(dtype)
        d_copy = d_out.copy()
        dx1 = upsampling2d_backward(d_out, cache)
        dx2 = upsampling2d_backward(d_out, cache)
        assert dx1.dtype == dtype and dx1.shape == x.shape
        np.testing.assert_array_equal(dx1, dx2)
        np.testing.assert_array_equal(d_out, d_copy)
        np.testing.assert_array_equal(x, x_copy)
    out, _ = upsampling2d_forward(np.arange(4).reshape(1, 2, 2, 1), 2, mode)
    assert out.dtype == np.float32


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_non_contiguous_input(mode):
    x = np.random.default_rng(2).standard_normal((4, 6, 5, 6))[::2, ::-1, :, 1::2]
    np.testing.assert_array_equal(upsampling2d_forward(x, (2, 3), mode)[0],
                                  upsampling2d_forward(np.ascontiguousarray(x), (2, 3), mode)[0])


def test_size_one_is_a_copy():
    x = np.random.default_rng(3).standard_normal((1, 2, 3, 1))
    for mode in ("nearest", "bilinear"):
        out, cache = upsampling2d_forward(x, 1, mode)
        np.testing.assert_array_equal(out, x)
        assert out is not x
        d = np.ones_like(out)
        dx = upsampling2d_backward(d, cache)
        np.testing.assert_array_equal(dx, d)
        assert dx is not d


def test_bad_inputs():
    x = np.zeros((1, 2, 2, 1))
    with pytest.raises(ValueError, match=r"upsampling2d_forward: expected size to be >= 1. "
                                         r"Received: size=0"):
        upsampling2d_forward(x, 0)
    with pytest.raises(ValueError, match="expected size to be an int or a pair of ints"):
        upsampling2d_forward(x, 1.5)
    with pytest.raises(ValueError, match=r"expected interpolation to be one of \['bilinear', "
                                         r"'nearest'\]. Received: interpolation='bicubic'"):
        upsampling2d_forward(x, 2, "bicubic")
    with pytest.raises(ValueError, match=r"expected a 4-D input \(batch, height, width, "
                                         r"channels\). Received an input of shape \(2, 2\)"):
        upsampling2d_forward(np.zeros((2, 2)), 2)
    with pytest.raises(ValueError, match="height and width >= 1"):
        upsampling2d_forward(np.zeros((1, 0, 2, 1)), 2)
    with pytest.raises(TypeError, match="expected a real numeric array"):
        upsampling2d_forward(np.zeros((1, 2, 2, 1), complex), 2)
    _, cache = upsampling2d_forward(x, 2, "bilinear")
    with pytest.raises(ValueError, match=r"upsampling2d_backward: expected d_out of shape "
                                         r"\(1, 4, 4, 1\).*Received d_out of shape \(1, 2, 2, 1\)"):
        upsampling2d_backward(x, cache)
