"""Pooling ops: the seeds' numbers, a naive loop reference, finite differences, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from npconv.ops.padding import resolve_padding
from npconv.ops.pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d_backward,
    global_avg_pool2d_forward,
    global_max_pool2d_backward,
    global_max_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from tests.finite_differences import central_differences
from tests.naive_pool import pool_backward, pool_forward

OPS = {
    "max": (max_pool2d_forward, max_pool2d_backward),
    "average": (avg_pool2d_forward, avg_pool2d_backward),
}


def distinct_values(rng, shape):
    """Values at least 1/size apart (no ties, no near-ties): max pooling is differentiable."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) / size - 0.5).astype(np.float64)


def numerical_grad(f, x, d_out, eps=1e-6):
    """Central differences of ``sum(f(x) * d_out)`` with respect to every element of ``x``."""
    return central_differences(lambda: np.sum(f(x) * d_out), x, eps)


# ---------------------------------------------------------------------------- the seeds
SEED000 = np.arange(32, dtype=float).reshape(1, 4, 4, 2)


def test_seed000_average_pooling_2x2_stride_1():
    out, _ = avg_pool2d_forward(SEED000, (2, 2), strides=1)
    assert out.shape == (1, 3, 3, 2)
    np.testing.assert_array_equal(out[0, :, :, 0], [[5, 7, 9], [13, 15, 17], [21, 23, 25]])
    np.testing.assert_array_equal(out[0, :, :, 1], [[6, 8, 10], [14, 16, 18], [22, 24, 26]])


def test_seed000_max_pooling_2x2_stride_1():
    out, _ = max_pool2d_forward(SEED000, (2, 2), strides=1)
    assert out.shape == (1, 3, 3, 2)
    np.testing.assert_array_equal(out[0, :, :, 0], [[10, 12, 14], [18, 20, 22], [26, 28, 30]])
    np.testing.assert_array_equal(out[0, :, :, 1], [[11, 13, 15], [19, 21, 23], [27, 29, 31]])


def test_seed000_global_pooling():
    avg, _ = global_avg_pool2d_forward(SEED000)
    mx, _ = global_max_pool2d_forward(SEED000)
    assert avg.shape == mx.shape == (1, 2)
    np.testing.assert_array_equal(avg, [[15, 16]])
    np.testing.assert_array_equal(mx, [[30, 31]])


def test_seed001_max_pooling_4x4():
    feature_map = np.array([[1, 3, 2, 1],
                            [4, 6, 5, 2],
                            [7, 8, 9, 3],
                            [4, 5, 2, 1]], dtype=np.float32).reshape(1, 4, 4, 1)
    out, _ = max_pool2d_forward(feature_map, 2, strides=2)
    np.testing.assert_array_equal(out[0, :, :, 0], [[6, 5], [8, 9]])


def test_seed002_line_detector_average_pooling():
    # Seed 002's 6x6 feature map of the vertical-line detector: each row is [0, 0, 3, 3, 0, 0].
    feature_map = np.tile([0.0, 0, 3, 3, 0, 0], (6, 1)).reshape(1, 6, 6, 1)
    out, _ = avg_pool2d_forward(feature_map, (2, 2))   # Keras's default AveragePooling2D()
    assert out.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(out[0, :, :, 0], np.tile([0.0, 3, 0], (3, 1)))


def test_seed004_shapes():
    # Seed 004 pools a (4, 4, 1) fragment with window 2 and stride 2 into 2x2 (its input is
    # not printed, so only the shapes and the max >= mean relation can be checked).
    x = np.random.default_rng(4).random((1, 4, 4, 1)).astype(np.float32)
    mx, _ = max_pool2d_forward(x, 2, 2)
    avg, _ = avg_pool2d_forward(x, 2, 2)
    assert mx.shape == avg.shape == (1, 2, 2, 1)
    assert np.all(mx >= avg)


# Seed 002's printed numbers lost their minus signs; the signs are those computed from the same
# random draws (magnitudes as printed).
SEED002_STRIDE1_MAX = [[1.96710175, 0.84616065, 1.27375593],
                       [1.96710175, 0.84616065, 1.23616403],
                       [1.62765075, 1.12141771, 1.2245077]]
SEED002_STRIDE1_AVG = [[0.44497696, -0.00261695, -0.31040307],
                       [0.50811474, -0.23493734, -0.23961183],
                       [0.11872677, 0.17255229, -0.22112197]]
SEED002_STRIDE2_MAX = [[[1.74481176, 0.90159072, 1.65980218],
                        [1.74481176, 1.6924546, 1.65980218]],
                       [[1.13162939, 1.51981682, 2.18557541],
                        [1.13162939, 1.6924546, 2.18557541]]]
SEED002_STRIDE2_AVG = [[[-0.17313416, 0.32377198, -0.34317572],
                        [0.02030094, 0.14141479, -0.01231585]],
                       [[0.42944926, 0.08446996, -0.27290905],
                        [0.15077452, 0.28911175, 0.00123239]]]


def test_seed002_pool_forward():
    seed_rng = np.random.RandomState(1)   # the seed's np.random.seed(1) stream
    a_prev = seed_rng.randn(2, 5, 5, 3)
    a, _ = max_pool2d_forward(a_prev, 3, strides=1)
    assert a.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(a[1, 1], SEED002_STRIDE1_MAX, atol=1e-8)
    a, _ = avg_pool2d_forward(a_prev, 3, strides=1)
    np.testing.assert_allclose(a[1, 1], SEED002_STRIDE1_AVG, atol=1e-8)
    a, _ = max_pool2d_forward(a_prev, 3, strides=2)
    assert a.shape == (2, 2, 2, 3)
    np.testing.assert_allclose(a[0], SEED002_STRIDE2_MAX, atol=1e-8)
    a, _ = avg_pool2d_forward(a_prev, 3, strides=2)
    np.testing.assert_allclose(a[1], SEED002_STRIDE2_AVG, atol=1e-8)


def test_seed002_pool_backward():
    seed_rng = np.random.RandomState(1)   # the seed's np.random.seed(1) stream
    a_prev = seed_rng.randn(5, 5, 3, 2)
    a, cache_max = max_pool2d_forward(a_prev, 2, strides=1)
    assert a.shape == (5, 4, 2, 2)
    d_a = seed_rng.randn(5, 4, 2, 2)
    d_a_prev1 = max_pool2d_backward(d_a, cache_max)
    _, cache_avg = avg_pool2d_forward(a_prev, 2, strides=1)
    d_a_prev2 = avg_pool2d_backward(d_a, cache_avg)
    assert d_a_prev1.shape == d_a_prev2.shape == (5, 5, 3, 2)
    np.testing.assert_allclose(d_a_prev1[1, 1], [[0, 0], [5.05844394, -1.68282702], [0, 0]],
                               atol=1e-8)
    np.testing.assert_allclose(d_a_prev2[1, 1], [[0.08485462, 0.2787552],
                                                 [1.26461098, -0.25749373],
                                                 [1.17975636, -0.53624893]], atol=1e-8)


def test_naive_reference_reproduces_seed002():
    # The test's second reference is itself anchored to the seed's numbers.
    seed_rng = np.random.RandomState(1)   # the seed's np.random.seed(1) stream
    a_prev = seed_rng.randn(2, 5, 5, 3)
    a = pool_forward(a_prev, (3, 3), (2, 2), mode="average")
    np.testing.assert_allclose(a[1], SEED002_STRIDE2_AVG, atol=1e-8)


# ---------------------------------------------------------------------------- vs the naive loops
def random_config(rng):
    kh, kw = rng.integers(1, 5, size=2)
    sh, sw = rng.integers(1, 4, size=2)
    if rng.random() < 0.3:           # the tiled fast path: stride == pool
        sh, sw = kh, kw
    padding = "same" if rng.random() < 0.4 else "valid"
    h = int(rng.integers(kh, kh + 6))
    w = int(rng.integers(kw, kw + 6))
    n, c = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    return (n, h, w, c), (int(kh), int(kw)), (int(sh), int(sw)), padding


@pytest.mark.parametrize("mode", ["max", "average"])
def test_matches_naive_loops_on_random_configs(mode):
    forward, backward = OPS[mode]
    rng = np.random.default_rng(2002 if mode == "max" else 2003)
    for trial in range(120):
        shape, pool, strides, padding = random_config(rng)
        x = rng.standard_normal(shape)
        if trial % 3 == 0:   # many ties (like ReLU zeros): the first maximum must win
            x = rng.integers(0, 3, size=shape).astype(np.float64)
        pads = resolve_padding(padding, shape[1:3], pool, strides)
        out, cache = forward(x, pool, strides, padding)
        msg = f"{mode} shape={shape} pool={pool} strides={strides} padding={padding}"
        np.testing.assert_allclose(out, pool_forward(x, pool, strides, pads, mode),
                                   rtol=1e-12, atol=1e-12, err_msg=msg)
        d_out = rng.standard_normal(out.shape)
        np.testing.assert_allclose(backward(d_out, cache),
                                   pool_backward(d_out, x, pool, strides, pads, mode),
                                   rtol=1e-12, atol=1e-12, err_msg=msg)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("shape", [(2, 26, 26, 3), (2, 11, 11, 4), (1, 7, 9, 2)])
def test_tiled_fast_path_with_floor(mode, shape):
    # The seed-001 CNN's 2x2/2 pools: 26 -> 13 and 11 -> 5 (the last row and column dropped).
    forward, backward = OPS[mode]
    rng = np.random.default_rng(11)
    x = np.maximum(rng.standard_normal(shape), 0)   # ReLU output: ties at zero
    out, cache = forward(x, 2)
    assert out.shape == (shape[0], shape[1] // 2, shape[2] // 2, shape[3])
    np.testing.assert_allclose(out, pool_forward(x, (2, 2), (2, 2), mode=mode), rtol=1e-12)
    d_out = rng.standard_normal(out.shape)
    dx = backward(d_out, cache)
    np.testing.assert_allclose(dx, pool_backward(d_out, x, (2, 2), (2, 2), mode=mode),
                               rtol=1e-12, atol=1e-15)
    assert np.all(dx[:, 2 * out.shape[1]:] == 0) and np.all(dx[:, :, 2 * out.shape[2]:] == 0)


# ---------------------------------------------------------------------------- finite differences
FD_CASES = [
    ((2, 5, 5, 2), (2, 2), (2, 2), "valid"),
    ((1, 6, 7, 2), (3, 3), (1, 1), "valid"),     # overlapping
    ((2, 5, 6, 1), (3, 2), (2, 1), "valid"),     # non-square pool and strides
    ((1, 5, 5, 2), (2, 2), (2, 2), "same"),      # odd padding pixel at bottom/right
    ((2, 4, 7, 1), (3, 3), (2, 3), "same"),
    ((1, 3, 3, 1), (3, 3), (1, 1), "same"),      # windows at the corners are mostly padding
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(("shape", "pool", "strides", "padding"), FD_CASES)
def test_finite_differences(mode, shape, pool, strides, padding):
    forward, backward = OPS[mode]
    rng = np.random.default_rng(7)
    x = distinct_values(rng, shape)
    out, cache = forward(x, pool, strides, padding)
    d_out = rng.standard_normal(out.shape)
    numeric = numerical_grad(lambda v: forward(v, pool, strides, padding)[0], x, d_out)
    np.testing.assert_allclose(backward(d_out, cache), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("op", ["avg", "max"])
def test_global_finite_differences(op, keepdims):
    forward, backward = {
        "avg": (global_avg_pool2d_forward, global_avg_pool2d_backward),
        "max": (global_max_pool2d_forward, global_max_pool2d_backward),
    }[op]
    rng = np.random.default_rng(8)
    x = distinct_values(rng, (2, 3, 4, 3))
    out, cache = forward(x, keepdims=keepdims)
    assert out.shape == ((2, 1, 1, 3) if keepdims else (2, 3))
    d_out = rng.standard_normal(out.shape)
    numeric = numerical_grad(lambda v: forward(v, keepdims=keepdims)[0], x, d_out)
    np.testing.assert_allclose(backward(d_out, cache), numeric, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------- semantics
def test_max_pool_ties_go_to_the_first_element_in_row_major_order():
    x = np.zeros((1, 2, 2, 1))
    _, cache = max_pool2d_forward(x, 2)
    dx = max_pool2d_backward(np.ones((1, 1, 1, 1)), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0], [0, 0]])
    x = np.array([[0.0, 5], [5, 5]]).reshape(1, 2, 2, 1)
    _, cache = max_pool2d_forward(x, 2)
    dx = max_pool2d_backward(np.ones((1, 1, 1, 1)), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 1], [0, 0]])


def test_global_max_ties_share_the_gradient():
    # As Keras's ops.max on every backend (torch.amax, reduce_max): an even split.
    x = np.array([[1.0, 3], [3, 3]]).reshape(1, 2, 2, 1)
    _, cache = global_max_pool2d_forward(x)
    dx = global_max_pool2d_backward(np.array([[2.0]]), cache)
    np.testing.assert_allclose(dx[0, :, :, 0], [[0, 2 / 3], [2 / 3, 2 / 3]], rtol=1e-15)


def test_same_max_pool_never_picks_padding():
    x = -np.arange(1, 26, dtype=np.float64).reshape(1, 5, 5, 1)   # all negative: zeros would win
    out, cache = max_pool2d_forward(x, 2, 2, "same")
    assert out.shape == (1, 3, 3, 1)
    assert out[0, 2, 2, 0] == -25.0
    dx = max_pool2d_backward(np.ones(out.shape), cache)
    assert dx.sum() == 9.0


def test_same_average_pool_counts_only_real_pixels():
    x = np.ones((1, 5, 5, 1))
    out, _ = avg_pool2d_forward(x, 2, 2, "same")
    np.testing.assert_array_equal(out, np.ones((1, 3, 3, 1)))
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    out, _ = avg_pool2d_forward(x, 2, 2, "same")
    np.testing.assert_allclose(out[0, :, :, 0], [[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2],
                                                 [(6 + 7) / 2, 8]])


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_same_output_sizes_follow_tensorflow(padding):
    x = np.zeros((1, 7, 8, 1))
    out, _ = max_pool2d_forward(x, (3, 2), (2, 3), padding)
    expected = (4, 3) if padding == "same" else (3, 3)
    assert out.shape[1:3] == expected


@pytest.mark.parametrize("mode", ["max", "average"])
def test_strides_default_to_pool_size(mode):
    forward, _ = OPS[mode]
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 2))
    np.testing.assert_array_equal(forward(x, 3)[0], forward(x, 3, strides=3)[0])


@pytest.mark.parametrize("mode", ["max", "average"])
def test_non_contiguous_input(mode):
    forward, backward = OPS[mode]
    rng = np.random.default_rng(3)
    base = rng.standard_normal((3, 8, 9, 10))
    x = base.transpose(0, 2, 1, 3)[::2, :, 1:, ::3]     # (2, 9, 7, 4), no contiguous axis order
    assert not x.flags.c_contiguous
    out, cache = forward(x, (2, 3), (1, 2), "same")
    contiguous_out, contiguous_cache = forward(np.ascontiguousarray(x), (2, 3), (1, 2), "same")
    np.testing.assert_array_equal(out, contiguous_out)
    d_out = rng.standard_normal(out.shape)
    d_non_contiguous = np.asfortranarray(d_out)
    np.testing.assert_array_equal(backward(d_non_contiguous, cache),
                                  backward(d_out, contiguous_cache))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_dtype_is_kept(dtype, mode, padding):
    forward, backward = OPS[mode]
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3)).astype(dtype)
    out, cache = forward(x, 2, padding=padding)
    assert out.dtype == dtype
    assert backward(np.ones(out.shape, dtype=dtype), cache).dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_dtype_is_kept(dtype):
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3)).astype(dtype)
    for forward, backward in [(global_avg_pool2d_forward, global_avg_pool2d_backward),
                              (global_max_pool2d_forward, global_max_pool2d_backward)]:
        out, cache = forward(x)
        assert out.dtype == dtype
        assert backward(np.ones(out.shape, dtype=dtype), cache).dtype == dtype


def test_integer_input_is_pooled_as_float32():
    x = np.arange(16).reshape(1, 4, 4, 1)
    out, _ = max_pool2d_forward(x, 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0, :, :, 0], [[5, 7], [13, 15]])


ALL_OPS = [
    (lambda x: max_pool2d_forward(x, 3, 2, "same"), max_pool2d_backward),
    (lambda x: max_pool2d_forward(x, 2), max_pool2d_backward),
    (lambda x: avg_pool2d_forward(x, 3, 1, "same"), avg_pool2d_backward),
    (lambda x: avg_pool2d_forward(x, 2), avg_pool2d_backward),
    (global_avg_pool2d_forward, global_avg_pool2d_backward),
    (global_max_pool2d_forward, global_max_pool2d_backward),
]


@pytest.mark.parametrize(("forward", "backward"), ALL_OPS)
def test_pure_functions_and_idempotent_backward(forward, backward):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 6, 3))
    x_copy = x.copy()
    out, cache = forward(x)
    d_out = rng.standard_normal(out.shape)
    d_copy = d_out.copy()
    first = backward(d_out, cache)
    second = backward(d_out, cache)
    np.testing.assert_array_equal(first, second)
    assert first is not second
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(d_out, d_copy)
    first[...] = 123.0      # the returned gradient owns its memory: the next call is unaffected
    np.testing.assert_array_equal(backward(d_out, cache), second)


def test_batch_of_one_and_single_pixel_windows():
    x = np.random.default_rng(1).standard_normal((1, 3, 4, 2))
    out, cache = max_pool2d_forward(x, 1)
    np.testing.assert_array_equal(out, x)
    d = np.ones_like(out)
    np.testing.assert_array_equal(max_pool2d_backward(d, cache), d)
    out, _ = avg_pool2d_forward(x, (3, 4))
    np.testing.assert_allclose(out[:, 0, 0, :], x.mean(axis=(1, 2)))


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("forward", [max_pool2d_forward, avg_pool2d_forward])
def test_bad_arguments(forward):
    name = forward.__name__
    x = np.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match=rf"{name}: expected a 4-D input.*\(4, 4, 1\)"):
        forward(np.zeros((4, 4, 1)), 2)
    with pytest.raises(ValueError, match=rf"{name}: expected pool_size to be >= 1.*pool_size=0"):
        forward(x, 0)
    with pytest.raises(ValueError, match=rf"{name}: expected strides to be >= 1.*strides=\(1, 0\)"):
        forward(x, 2, (1, 0))
    with pytest.raises(ValueError, match=rf"{name}: expected pool_size to be an int or a pair"):
        forward(x, (2, 2, 2))
    with pytest.raises(ValueError, match=rf"{name}: expected padding to be one of.*'full'"):
        forward(x, 2, padding="full")
    with pytest.raises(ValueError, match=rf"{name}: the pool window \(5, 2\) is larger"):
        forward(x, (5, 2))
    with pytest.raises(TypeError, match=rf"{name}: expected a real numeric array"):
        forward(x.astype(complex), 2)
    out, _ = forward(x, (5, 2), 1, padding="same")   # "same" pads the input to fit the window
    assert out.shape == (1, 4, 4, 1)


@pytest.mark.parametrize("mode", ["max", "average"])
def test_backward_rejects_wrong_d_out_shape(mode):
    forward, backward = OPS[mode]
    _, cache = forward(np.zeros((2, 4, 4, 3)), 2)
    with pytest.raises(ValueError, match=r"backward: expected d_out of shape \(2, 2, 2, 3\)"):
        backward(np.zeros((2, 2, 2, 1)), cache)   # would broadcast: must not
    with pytest.raises(ValueError, match=r"Received d_out of shape \(2, 3, 2, 2\)"):
        backward(np.zeros((2, 3, 2, 2)), cache)


def test_global_bad_input():
    with pytest.raises(ValueError, match=r"global_avg_pool2d_forward: expected a 4-D input"):
        global_avg_pool2d_forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"global_max_pool2d_forward: expected a 4-D input"):
        global_max_pool2d_forward(np.zeros((2, 3, 3)))
    _, cache = global_max_pool2d_forward(np.zeros((2, 3, 3, 4)))
    with pytest.raises(ValueError, match=r"global_max_pool2d_backward: expected d_out of shape "
                                         r"\(2, 4\)"):
        global_max_pool2d_backward(np.zeros((2, 1, 1, 4)), cache)
    _, cache = global_avg_pool2d_forward(np.zeros((2, 3, 3, 4)), keepdims=True)
    with pytest.raises(ValueError, match=r"expected d_out of shape \(2, 1, 1, 4\)"):
        global_avg_pool2d_backward(np.zeros((2, 4)), cache)
