"""depthwise_conv2d and separable_conv2d: naive loops, finite differences, channel order,
dtypes, non-contiguous input, idempotent backward, errors."""

import numpy as np
import pytest

from npconv.ops.conv import conv2d_forward
from npconv.ops.depthwise_conv import (
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from tests.finite_differences import central_differences

# (n, h, w, c, kh, kw, m, strides, padding, dilation, bias)
CONFIGS = [
    (1, 5, 5, 1, 3, 3, 1, 1, "valid", 1, True),
    (2, 6, 7, 3, 3, 2, 2, (2, 1), "same", (1, 2), True),
    (2, 5, 4, 2, 2, 2, 3, 2, "same", 1, False),
    (1, 7, 6, 4, 3, 3, 1, 3, 1, 1, True),
    (3, 4, 5, 2, 1, 1, 2, 1, ((1, 0), (0, 2)), 1, True),
    (1, 8, 8, 3, 2, 3, 2, (1, 2), "valid", (3, 1), False),
]


def _make(config, rng, dtype=np.float64):
    n, h, w, c, kh, kw, m, strides, padding, dilation, bias = config
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c, m)).astype(dtype)
    b = rng.standard_normal(c * m).astype(dtype) if bias else None
    return x, kernel, b, dict(strides=strides, padding=padding, dilation=dilation)


def _naive_depthwise(x, kernel, bias, strides, padding, dilation):
    """Each output channel c*M+m as its own single-channel conv2d (the definition)."""
    kh, kw, c, m = kernel.shape
    outs = []
    for ci in range(c):
        for mi in range(m):
            outs.append(conv2d_forward(x[..., ci:ci + 1], kernel[:, :, ci:ci + 1, mi:mi + 1],
                                       None, strides, padding, dilation)[0])
    out = np.concatenate(outs, axis=-1)
    return out if bias is None else out + bias


@pytest.mark.parametrize("config", CONFIGS)
def test_forward_is_one_conv_per_channel_in_keras_order(config):
    rng = np.random.default_rng(CONFIGS.index(config))
    x, kernel, bias, kw = _make(config, rng)
    out, _ = depthwise_conv2d_forward(x, kernel, bias, **kw)
    np.testing.assert_allclose(out, _naive_depthwise(x, kernel, bias, **kw), rtol=1e-12,
                               atol=1e-12)


def test_channel_order_is_channel_major():
    """Output channel c * M + m comes from input channel c and filter m."""
    x = np.zeros((1, 3, 3, 2))
    x[..., 1] = 1  # only input channel 1 is non-zero
    kernel = np.zeros((1, 1, 2, 3))
    kernel[0, 0, 1] = [10, 20, 30]
    out, _ = depthwise_conv2d_forward(x, kernel)
    np.testing.assert_array_equal(out[0, 0, 0], [0, 0, 0, 10, 20, 30])


@pytest.mark.parametrize("config", CONFIGS)
def test_depthwise_backward_finite_differences(config):
    rng = np.random.default_rng(7 + CONFIGS.index(config))
    x, kernel, bias, kw = _make(config, rng)
    out, cache = depthwise_conv2d_forward(x, kernel, bias, **kw)
    g = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(depthwise_conv2d_forward(x, kernel, bias, **kw)[0] * g))

    dx, dk, db = depthwise_conv2d_backward(g, cache)
    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dk, central_differences(loss, kernel), rtol=1e-6, atol=1e-7)
    if bias is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, central_differences(loss, bias), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("config", CONFIGS)
def test_separable_backward_finite_differences(config):
    rng = np.random.default_rng(17 + CONFIGS.index(config))
    x, dw, _, kw = _make(config, rng)
    filters = 3
    pw = rng.standard_normal((1, 1, dw.shape[2] * dw.shape[3], filters))
    bias = rng.standard_normal(filters) if config[-1] else None
    out, cache = separable_conv2d_forward(x, dw, pw, bias, **kw)
    g = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(separable_conv2d_forward(x, dw, pw, bias, **kw)[0] * g))

    dx, d_dw, d_pw, db = separable_conv2d_backward(g, cache)
    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d_dw, central_differences(loss, dw), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(d_pw, central_differences(loss, pw), rtol=1e-6, atol=1e-7)
    if bias is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, central_differences(loss, bias), rtol=1e-6, atol=1e-7)


def test_separable_is_depthwise_then_pointwise():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 5, 3))
    dw = rng.standard_normal((3, 3, 3, 2))
    pw = rng.standard_normal((1, 1, 6, 4))
    bias = rng.standard_normal(4)
    out, _ = separable_conv2d_forward(x, dw, pw, bias, 2, "same")
    z, _ = depthwise_conv2d_forward(x, dw, None, 2, "same")
    np.testing.assert_allclose(out, z @ pw[0, 0] + bias, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    rng = np.random.default_rng(4)
    x, kernel, bias, kw = _make(CONFIGS[1], rng, dtype)
    out, cache = depthwise_conv2d_forward(x, kernel, bias, **kw)
    dx, dk, db = depthwise_conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dk.dtype == db.dtype == dtype


def test_non_contiguous_input_and_idempotent_backward():
    rng = np.random.default_rng(5)
    x, kernel, bias, kw = _make(CONFIGS[1], rng)
    xf = np.asfortranarray(x)
    kernel_view = np.asfortranarray(kernel)
    out, cache = depthwise_conv2d_forward(xf, kernel_view, bias, **kw)
    ref, ref_cache = depthwise_conv2d_forward(x, kernel, bias, **kw)
    np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-14)
    g = rng.standard_normal(out.shape)
    g_copy, x_copy = g.copy(), x.copy()
    first = depthwise_conv2d_backward(g, cache)
    second = depthwise_conv2d_backward(g, cache)
    for a, b, r in zip(first, second, depthwise_conv2d_backward(g, ref_cache), strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, r, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(g, g_copy)
    np.testing.assert_array_equal(xf, x_copy)
    dx, dk, _ = depthwise_conv2d_backward(g, cache, need_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dk, first[1])


def test_output_size_follows_conv2d():
    rng = np.random.default_rng(6)
    for config in CONFIGS:
        x, kernel, bias, kw = _make(config, rng)
        out, _ = depthwise_conv2d_forward(x, kernel, bias, **kw)
        ref, _ = conv2d_forward(x, np.ones((*kernel.shape[:3], 1)), None, **kw)
        assert out.shape == (*ref.shape[:3], kernel.shape[2] * kernel.shape[3])


def test_errors():
    x = np.zeros((2, 5, 5, 3))
    k = np.zeros((3, 3, 3, 2))
    with pytest.raises(ValueError, match=r"depthwise_conv2d: expected a 4-D input .* "
                                         r"\(5, 5, 3\)"):
        depthwise_conv2d_forward(x[0], k)
    with pytest.raises(ValueError, match="depthwise_conv2d kernel: expected a 4-D input"):
        depthwise_conv2d_forward(x, k[0])
    with pytest.raises(ValueError, match="depthwise_conv2d: the input has 2 channels"):
        depthwise_conv2d_forward(x[..., :2], k)
    with pytest.raises(ValueError, match=r"depthwise_conv2d: expected bias of shape \(6,\). "
                                         r"Received shape \(3,\)"):
        depthwise_conv2d_forward(x, k, np.zeros(3))
    with pytest.raises(ValueError, match="depthwise_conv2d: .* larger than the padded input"):
        depthwise_conv2d_forward(x, k, dilation=3)
    with pytest.raises(ValueError, match="depthwise_conv2d: expected strides to be >= 1"):
        depthwise_conv2d_forward(x, k, strides=0)
    with pytest.raises(ValueError, match="depthwise_conv2d: expected padding to be 'valid'"):
        depthwise_conv2d_forward(x, k, padding="full")
    with pytest.raises(TypeError, match="depthwise_conv2d: expected a real numeric array"):
        depthwise_conv2d_forward(x.astype(np.complex64), k)
    out, cache = depthwise_conv2d_forward(x, k)
    with pytest.raises(ValueError, match=r"depthwise_conv2d_backward: expected d_out of shape "
                                         r"\(2, 3, 3, 6\). Received \(2, 3, 3, 3\)"):
        depthwise_conv2d_backward(np.zeros((2, 3, 3, 3)), cache)
    pw = np.zeros((1, 1, 6, 4))
    with pytest.raises(ValueError, match=r"separable_conv2d: expected a pointwise kernel of "
                                         r"shape \(1, 1, 6, filters\)"):
        separable_conv2d_forward(x, k, np.zeros((1, 1, 3, 4)))
    with pytest.raises(ValueError, match=r"separable_conv2d: expected bias of shape \(4,\)"):
        separable_conv2d_forward(x, k, pw, np.zeros(6))
    with pytest.raises(ValueError, match="separable_conv2d pointwise kernel: expected a 4-D"):
        separable_conv2d_forward(x, k, pw[0])
    out, cache = separable_conv2d_forward(x, k, pw)
    with pytest.raises(ValueError, match=r"separable_conv2d_backward: expected d_out of shape "
                                         r"\(2, 3, 3, 4\)"):
        separable_conv2d_backward(np.zeros((2, 3, 3, 6)), cache)
