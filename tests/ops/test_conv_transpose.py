"""conv2d_transpose: Keras's output sizes, the adjoint of conv2d, finite differences, dtypes,
non-contiguous input, idempotent backward, errors."""

import numpy as np
import pytest

from npconv.ops.conv import conv2d_backward, conv2d_forward
from npconv.ops.conv_transpose import (
    conv2d_transpose_backward,
    conv2d_transpose_forward,
    conv_transpose_output_size,
)
from tests.finite_differences import central_differences

# (n, h, w, c_in, kh, kw, filters, strides, padding, output_padding, dilation, bias)
CONFIGS = [
    (1, 3, 3, 1, 3, 3, 1, 1, "valid", None, 1, True),
    (2, 3, 4, 2, 3, 2, 3, 2, "same", None, 1, True),
    (1, 4, 3, 3, 2, 2, 2, (2, 3), "valid", (1, 2), 1, False),
    (2, 2, 3, 2, 1, 2, 2, 3, "same", None, (1, 2), True),  # kernel smaller than the stride
    (1, 3, 2, 2, 3, 3, 2, 2, "same", 1, (2, 1), True),
    (1, 2, 2, 3, 4, 3, 2, (3, 2), "valid", None, 1, True),
]


def _make(config, rng, dtype=np.float64):
    n, h, w, c_in, kh, kw, f, strides, padding, op, dilation, bias = config
    x = rng.standard_normal((n, h, w, c_in)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, f, c_in)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if bias else None
    return x, kernel, b, dict(strides=strides, padding=padding, output_padding=op,
                              dilation=dilation)


@pytest.mark.parametrize("size, kernel, stride, padding, op, dilation, expected", [
    (5, 3, 1, "valid", None, 1, 7), (5, 3, 2, "valid", None, 1, 11),
    (5, 2, 3, "valid", None, 1, 15),  # H * s + max(k - s, 0)
    (5, 3, 2, "same", None, 1, 10), (5, 3, 2, "valid", 1, 1, 12),
    (5, 3, 2, "same", 1, 1, 10), (5, 4, 2, "same", 1, 1, 9), (5, 3, 1, "valid", None, 2, 9),
    (5, 3, 2, "same", None, 2, 10),
])
def test_keras_output_sizes(size, kernel, stride, padding, op, dilation, expected):
    assert conv_transpose_output_size((size, 1), (kernel, 1), (stride, 1), padding,
                                      None if op is None else (op, 0), (dilation, 1)) == (
        expected, 1)


def test_forward_is_the_adjoint_of_conv2d():
    """<conv2d(y), x> == <y, conv2d_transpose(x)> when the sizes correspond."""
    rng = np.random.default_rng(0)
    for padding in ("valid", "same"):
        y = rng.standard_normal((2, 8, 7, 3))  # the transposed conv's output size
        kernel = rng.standard_normal((3, 2, 3, 4))
        x, _ = conv2d_forward(y, kernel, None, 2, padding, (1, 2))
        z = rng.standard_normal(x.shape)
        op = tuple(int(v) for v in (np.array(y.shape[1:3]) - conv_transpose_output_size(
            x.shape[1:3], (3, 2), 2, padding, (0, 0), (1, 2))))
        t, _ = conv2d_transpose_forward(z, kernel, None, 2, padding, op, (1, 2))
        assert t.shape == y.shape
        np.testing.assert_allclose(np.sum(x * z), np.sum(y * t), rtol=1e-12)
        # and equals conv2d's input gradient
        _, cache = conv2d_forward(y, kernel, None, 2, padding, (1, 2))
        np.testing.assert_allclose(t, conv2d_backward(z, cache)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", CONFIGS)
def test_backward_finite_differences(config):
    rng = np.random.default_rng(7 + CONFIGS.index(config))
    x, kernel, bias, kw = _make(config, rng)
    out, cache = conv2d_transpose_forward(x, kernel, bias, **kw)
    g = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(conv2d_transpose_forward(x, kernel, bias, **kw)[0] * g))

    dx, dk, db = conv2d_transpose_backward(g, cache)
    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dk, central_differences(loss, kernel), rtol=1e-6, atol=1e-7)
    if bias is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, central_differences(loss, bias), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x, kernel, bias, kw = _make(CONFIGS[1], np.random.default_rng(4), dtype)
    out, cache = conv2d_transpose_forward(x, kernel, bias, **kw)
    dx, dk, db = conv2d_transpose_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dk.dtype == db.dtype == dtype


def test_non_contiguous_input_and_idempotent_backward():
    rng = np.random.default_rng(5)
    x, kernel, bias, kw = _make(CONFIGS[4], rng)
    out, cache = conv2d_transpose_forward(np.asfortranarray(x), np.asfortranarray(kernel), bias,
                                          **kw)
    ref, ref_cache = conv2d_transpose_forward(x, kernel, bias, **kw)
    np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-14)
    g = rng.standard_normal(out.shape)
    g_copy, x_copy = g.copy(), x.copy()
    first = conv2d_transpose_backward(g, cache)
    second = conv2d_transpose_backward(g, cache)
    for a, b, r in zip(first, second, conv2d_transpose_backward(g, ref_cache), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, r, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(g, g_copy)
    np.testing.assert_array_equal(x, x_copy)
    dx, dk, _ = conv2d_transpose_backward(g, cache, need_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dk, first[1])


def test_errors():
    x = np.zeros((2, 3, 3, 4))
    k = np.zeros((3, 3, 2, 4))
    with pytest.raises(ValueError, match=r"conv2d_transpose: expected a 4-D input .* "
                                         r"\(3, 3, 4\)"):
        conv2d_transpose_forward(x[0], k)
    with pytest.raises(ValueError, match="conv2d_transpose kernel: expected a 4-D input"):
        conv2d_transpose_forward(x, k[0])
    with pytest.raises(ValueError, match=r"conv2d_transpose: the input has 2 channels .* "
                                         r"expects 4 input channels \(its last axis\)"):
        conv2d_transpose_forward(x[..., :2], k)
    with pytest.raises(ValueError, match=r"conv2d_transpose: expected bias of shape \(2,\)"):
        conv2d_transpose_forward(x, k, np.zeros(4))
    with pytest.raises(ValueError, match="conv2d_transpose: expected padding to be 'valid' or "
                                         "'same'. Received: padding=1"):
        conv2d_transpose_forward(x, k, padding=1)
    with pytest.raises(ValueError, match=r"strides must be greater than output_padding. "
                                         r"Received strides=\(2, 2\), output_padding=\(2, 0\)"):
        conv2d_transpose_forward(x, k, strides=2, output_padding=(2, 0))
    with pytest.raises(ValueError, match="expected output_padding to be >= 0"):
        conv2d_transpose_forward(x, k, strides=2, output_padding=-1)
    with pytest.raises(ValueError, match="conv2d_transpose: expected strides to be >= 1"):
        conv2d_transpose_forward(x, k, strides=0)
    with pytest.raises(ValueError, match=r"output would be empty: \(height, width\)=\(0, 0\)"):
        conv2d_transpose_forward(np.zeros((1, 1, 1, 4)), np.zeros((2, 2, 2, 4)), None, 2,
                                 "same", 0)
    out, cache = conv2d_transpose_forward(x, k)
    with pytest.raises(ValueError, match=r"conv2d_transpose_backward: expected d_out of shape "
                                         r"\(2, 5, 5, 2\). Received \(2, 5, 5, 4\)"):
        conv2d_transpose_backward(np.zeros((2, 5, 5, 4)), cache)
