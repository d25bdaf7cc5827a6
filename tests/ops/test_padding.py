"""zero_pad (seed 002), resolve_padding and conv_output_size (seed 000's formula)."""

import numpy as np
import pytest

from npconv.ops.padding import (
    conv_output_size,
    resolve_padding,
    zero_pad,
    zero_pad_backward,
    zero_pad_forward,
)


def test_seed002_zero_pad():
    rs = np.random.RandomState(1)  # the stream of the seed's np.random.seed(1)
    x = rs.randn(4, 3, 3, 2)
    x_pad = zero_pad(x, 3)
    assert x.shape == (4, 3, 3, 2)
    assert x_pad.shape == (4, 9, 9, 2)
    # seed 002 lost its minus signs in extraction; the magnitudes and these signs are the original
    np.testing.assert_allclose(
        x[1, 1],
        [[0.90085595, -0.68372786], [-0.12289023, -0.93576943], [-0.26788808, 0.53035547]],
        atol=5e-9,
    )
    np.testing.assert_array_equal(x_pad[1, 1], np.zeros((9, 2)))
    np.testing.assert_array_equal(x_pad[:, 3:6, 3:6, :], x)
    assert x_pad.dtype == np.float64


def test_seed002_keras_zero_padding_keeps_integers():
    x = np.arange(4, dtype=np.int32).reshape(1, 1, 2, 2)
    y = zero_pad(x, 1)
    assert y.shape == (1, 3, 4, 2)
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y[0, 1], [[0, 0], [0, 1], [2, 3], [0, 0]])
    assert y.sum() == 6


@pytest.mark.parametrize(
    "pad, expected",
    [(2, ((2, 2), (2, 2))), ((1, 3), ((1, 1), (3, 3))), (((0, 2), (3, 1)), ((0, 2), (3, 1))),
     (0, ((0, 0), (0, 0)))],
)
def test_zero_pad_forms(pad, expected):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    y = zero_pad(x, pad)
    (t, b), (l, r) = expected
    assert y.shape == (2, 3 + t + b, 4 + l + r, 5)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[:, t:t + 3, l:l + 4], x)
    assert np.count_nonzero(y) == np.count_nonzero(x)
    assert y is not x


def test_zero_pad_backward_finite_differences():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 2, 2))
    pad = ((1, 0), (2, 1))
    y, cache = zero_pad_forward(x, pad)
    g = rng.standard_normal(y.shape)
    g_before = g.copy()
    dx = zero_pad_backward(g, cache)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        numeric[idx] = (np.sum(zero_pad(xp, pad) * g) - np.sum(zero_pad(xm, pad) * g)) / (2 * eps)
    np.testing.assert_allclose(dx, numeric, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(zero_pad_backward(g, cache), dx)
    np.testing.assert_array_equal(g, g_before)
    with pytest.raises(ValueError, match="zero_pad_backward: expected d_out of shape"):
        zero_pad_backward(g[:, 1:], cache)


def test_zero_pad_non_contiguous():
    x = np.arange(2 * 4 * 6 * 3, dtype=np.float64).reshape(2, 4, 6, 3)[:, ::2, ::-2]
    y = zero_pad(x, (1, 2))
    np.testing.assert_array_equal(y[:, 1:3, 2:5], x)


def test_zero_pad_errors():
    with pytest.raises(ValueError, match="zero_pad: expected a 4-D input"):
        zero_pad(np.zeros((3, 3, 2)), 1)
    with pytest.raises(ValueError, match="zero_pad: expected pad to be >= 0"):
        zero_pad(np.zeros((1, 3, 3, 2)), -1)
    with pytest.raises(ValueError, match="zero_pad: expected pad to be >= 0"):
        zero_pad(np.zeros((1, 3, 3, 2)), ((0, 1), (-1, 0)))
    with pytest.raises(ValueError, match="zero_pad: expected pad to be an int"):
        zero_pad(np.zeros((1, 3, 3, 2)), "same")
    with pytest.raises(ValueError, match="zero_pad: expected pad"):
        zero_pad(np.zeros((1, 3, 3, 2)), (1, 2, 3))


# ------------------------------------------------------------------ resolve_padding
def test_resolve_padding_valid_and_explicit():
    assert resolve_padding("valid", (5, 5), (3, 3)) == ((0, 0), (0, 0))
    assert resolve_padding("VALID", (5, 5), (3, 3)) == ((0, 0), (0, 0))
    assert resolve_padding(2, (5, 5), (3, 3)) == ((2, 2), (2, 2))
    assert resolve_padding((1, 0), (5, 5), (3, 3)) == ((1, 1), (0, 0))
    assert resolve_padding(((0, 1), (2, 3)), (5, 5), (3, 3)) == ((0, 1), (2, 3))


@pytest.mark.parametrize(
    "size, k, s, d, expected",
    [
        (5, 3, 1, 1, (1, 1)),
        (4, 2, 1, 1, (0, 1)),   # even kernel: the odd pixel goes bottom/right
        (128, 2, 1, 1, (0, 1)),
        (7, 3, 2, 1, (1, 1)),   # out = ceil(7/2) = 4, total = 3*2 + 3 - 7 = 2
        (6, 3, 2, 1, (0, 1)),   # out = 3, total = 2*2 + 3 - 6 = 1
        (5, 1, 2, 1, (0, 0)),
        (10, 3, 4, 1, (0, 1)),  # out = 3, total = 8 + 3 - 10 = 1
        (8, 3, 1, 2, (2, 2)),   # dilated kernel spans 5 pixels
        (3, 5, 3, 1, (1, 1)),   # out = 1, total = 5 - 3 = 2
        (9, 2, 3, 1, (0, 0)),   # out = 3, total = 6 + 2 - 9 < 0 -> 0
    ],
)
def test_same_padding_tensorflow_rule(size, k, s, d, expected):
    (top, bottom), (left, right) = resolve_padding("same", (size, size), (k, k), s, d)
    assert (top, bottom) == expected == (left, right)
    out = conv_output_size(size, k, s, ((top, bottom), (left, right)), d)
    assert out == (-(-size // s), -(-size // s))
    assert conv_output_size(size, k, s, "same", d) == -(-size // s)


def test_resolve_padding_errors():
    with pytest.raises(ValueError, match="conv2d: expected padding to be 'valid', 'same'"):
        resolve_padding("full", (5, 5), (3, 3), where="conv2d")
    with pytest.raises(ValueError, match=r"pool: expected padding to be >= 0. Received: "
                                         r"padding=-1"):
        resolve_padding(-1, (5, 5), (3, 3), where="pool")
    with pytest.raises(ValueError, match="expected strides to be >= 1"):
        resolve_padding("same", (5, 5), (3, 3), strides=0)
    with pytest.raises(ValueError, match="expected dilation to be >= 1"):
        resolve_padding("same", (5, 5), (3, 3), dilation=(1, 0))
    with pytest.raises(ValueError, match="expected padding"):
        resolve_padding(1.5, (5, 5), (3, 3))


# ------------------------------------------------------------------ conv_output_size
def test_conv_output_size_seed_formulas():
    # seed 000: 6x6 image, 3x3 kernel -> 4x4; seed 002: 5x7 input, f=3, pad 1, stride 2 -> 3x4
    assert conv_output_size(6, 3) == 4
    assert conv_output_size((5, 7), 3, stride=2, padding=1) == (3, 4)
    # seed 003's strided MNIST CNN: 28 -> 14 -> 7 -> 3
    assert conv_output_size(28, 3, 2, 1) == 14
    assert conv_output_size(14, 3, 2, 1) == 7
    assert conv_output_size(7, 3, 3, 1) == 3
    # seed 000's dilation formula: floor((W + 2P - D(K - 1) - 1) / S) + 1
    assert conv_output_size(10, 3, 1, 0, 2) == 6
    assert conv_output_size(224, 3, 1, "same") == 224
    assert conv_output_size((28, 28), (5, 5), (1, 1), "valid") == (24, 24)
    assert conv_output_size(32, 5, 1, ((1, 2), (0, 0))) == (31, 28)
    assert conv_output_size(2, 3) == 0  # the window does not fit


def test_conv_output_size_errors():
    with pytest.raises(ValueError, match="conv_output_size: expected stride to be >= 1"):
        conv_output_size(5, 3, stride=0)
    with pytest.raises(ValueError, match="conv_output_size: expected kernel_size"):
        conv_output_size(5, (3, 3, 3))
