"""conv3d_transpose: Keras's output sizes per axis, the adjoint of conv3d (its forward is
conv3d's input gradient), float64 finite differences of dx, d_kernel and d_bias over a grid
of strides, paddings, output paddings and dilations (non-cubic shapes, batch 1), dtypes,
non-contiguous input, idempotent backward, errors."""

import itertools

import numpy as np
import pytest

from npconv.ops.conv3d import conv3d_backward, conv3d_forward
from npconv.ops.conv3d_transpose import (
    conv3d_transpose_backward,
    conv3d_transpose_forward,
    conv3d_transpose_output_size,
)
from tests.finite_differences import central_differences

# (n, (d, h, w), c_in, (kd, kh, kw), filters, strides, padding, output_padding, dilation, bias)
CONFIGS = [
    (1, (2, 2, 2), 1, (2, 2, 2), 1, 1, "valid", None, 1, True),
    (2, (2, 3, 1), 2, (3, 2, 1), 3, (2, 1, 3), "same", None, 1, True),
    (1, (1, 2, 3), 3, (2, 3, 2), 2, (2, 3, 2), "valid", (1, 2, 0), 1, False),
    (2, (3, 1, 2), 2, (1, 2, 2), 2, 3, "same", None, (1, 2, 1), True),  # kernel < stride
    (1, (2, 2, 1), 2, (3, 3, 2), 2, 2, "same", 1, (2, 1, 1), True),
    (1, (2, 1, 2), 1, (2, 1, 3), 3, (1, 2, 2), "valid", (0, 1, 1), (2, 1, 1), True),
    (2, (1, 1, 1), 2, (2, 2, 2), 2, 2, "valid", None, 1, True),  # one voxel
    (1, (3, 2, 2), 2, (2, 2, 3), 1, (1, 1, 2), "same", (0, 0, 1), (1, 2, 1), False),
]
# The grid of geometries every config above is also run at (on a small fixed shape).
GRID = list(itertools.product([1, (2, 1, 3)], ["valid", "same"], [None, "max"],
                              [1, (1, 2, 1)]))


def _make(config, rng, dtype=np.float64):
    n, dhw, c_in, k, f, strides, padding, op, dilation, bias = config
    x = rng.standard_normal((n, *dhw, c_in)).astype(dtype)
    kernel = rng.standard_normal((*k, f, c_in)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if bias else None
    return x, kernel, b, dict(strides=strides, padding=padding, output_padding=op,
                              dilation=dilation)


def _check_gradients(x, kernel, bias, kw, rng):
    out, cache = conv3d_transpose_forward(x, kernel, bias, **kw)
    g = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(conv3d_transpose_forward(x, kernel, bias, **kw)[0] * g))

    dx, dk, db = conv3d_transpose_backward(g, cache)
    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dk, central_differences(loss, kernel), rtol=1e-6, atol=1e-7)
    if bias is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, central_differences(loss, bias), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("size, kernel, stride, padding, op, dilation, expected", [
    (5, 3, 1, "valid", None, 1, 7), (5, 3, 2, "valid", None, 1, 11),
    (5, 2, 3, "valid", None, 1, 15),  # n * s + max(k - s, 0)
    (5, 3, 2, "same", None, 1, 10), (5, 3, 2, "valid", 1, 1, 12),
    (5, 3, 2, "same", 1, 1, 10), (5, 4, 2, "same", 1, 1, 9), (5, 3, 1, "valid", None, 2, 9),
    (5, 3, 2, "same", None, 2, 10), (1, 1, 1, "valid", None, 1, 1),
])
def test_keras_output_sizes_on_each_axis(size, kernel, stride, padding, op, dilation,
                                         expected):
    for axis in range(3):
        def one(v, other, axis=axis):
            return tuple(v if a == axis else other for a in range(3))
        got = conv3d_transpose_output_size(
            one(size, 2), one(kernel, 1), one(stride, 1), padding,
            None if op is None else one(op, 0), one(dilation, 1))
        assert got == one(expected, 2)  # (a 1-voxel kernel keeps the other axes)
    assert conv3d_transpose_output_size((None, 4, 2), 3, 2, "same") == (None, 8, 4)


def test_forward_is_the_adjoint_of_conv3d():
    """<conv3d(y), z> == <y, conv3d_transpose(z)> when the sizes correspond, and the
    transposed conv equals conv3d's input gradient."""
    rng = np.random.default_rng(0)
    for padding in ("valid", "same"):
        y = rng.standard_normal((2, 7, 6, 5, 3))  # the transposed conv's output size
        kernel = rng.standard_normal((3, 2, 2, 3, 4))  # conv3d: (kd, kh, kw, C_in, C_out)
        strides, dilation = (2, 1, 2), (1, 2, 1)
        x, cache = conv3d_forward(y, kernel, None, strides, padding, dilation)
        z = rng.standard_normal(x.shape)
        natural = conv3d_transpose_output_size(x.shape[1:4], (3, 2, 2), strides, padding,
                                               (0, 0, 0), dilation)
        op = tuple(int(v) for v in np.array(y.shape[1:4]) - natural)
        t, _ = conv3d_transpose_forward(z, kernel, None, strides, padding, op, dilation)
        assert t.shape == y.shape
        np.testing.assert_allclose(np.sum(x * z), np.sum(y * t), rtol=1e-12)
        np.testing.assert_allclose(t, conv3d_backward(z, cache)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", CONFIGS)
def test_backward_finite_differences(config):
    rng = np.random.default_rng(7 + CONFIGS.index(config))
    x, kernel, bias, kw = _make(config, rng)
    _check_gradients(x, kernel, bias, kw, rng)


@pytest.mark.parametrize("strides, padding, op, dilation", GRID)
def test_backward_finite_differences_grid(strides, padding, op, dilation):
    """Every stride x padding x output_padding x dilation pairing, batch 1, a non-cubic
    volume and kernel (op "max": the largest output_padding each stride allows)."""
    rng = np.random.default_rng(100 + GRID.index((strides, padding, op, dilation)))
    s = (strides,) * 3 if isinstance(strides, int) else strides
    output_padding = None if op is None else tuple(v - 1 for v in s)
    x = rng.standard_normal((1, 2, 3, 1, 2))
    kernel = rng.standard_normal((2, 1, 3, 2, 2))
    bias = rng.standard_normal(2)
    _check_gradients(x, kernel, bias, dict(strides=strides, padding=padding,
                                           output_padding=output_padding, dilation=dilation),
                     rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x, kernel, bias, kw = _make(CONFIGS[1], np.random.default_rng(4), dtype)
    out, cache = conv3d_transpose_forward(x, kernel, bias, **kw)
    dx, dk, db = conv3d_transpose_backward(np.ones(out.shape, np.float64), cache)
    assert out.dtype == dx.dtype == dk.dtype == db.dtype == dtype


def test_non_contiguous_input_and_idempotent_backward():
    rng = np.random.default_rng(5)
    x, kernel, bias, kw = _make(CONFIGS[4], rng)
    out, cache = conv3d_transpose_forward(np.asfortranarray(x), np.asfortranarray(kernel), bias,
                                          **kw)
    ref, ref_cache = conv3d_transpose_forward(x, kernel, bias, **kw)
    np.testing.assert_allclose(out, ref, rtol=1e-14, atol=1e-14)
    g = rng.standard_normal(out.shape)
    g_copy, x_copy, k_copy = g.copy(), x.copy(), kernel.copy()
    first = conv3d_transpose_backward(g, cache)
    second = conv3d_transpose_backward(np.asfortranarray(g), cache)
    for a, b, r in zip(first, second, conv3d_transpose_backward(g, ref_cache), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(a, r, rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(conv3d_transpose_backward(g, cache)[0], first[0])
    np.testing.assert_array_equal(g, g_copy)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(kernel, k_copy)
    dx, dk, _ = conv3d_transpose_backward(g, cache, need_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dk, first[1])


def test_a_full_sized_output_gathers_d_out_through_its_strides():
    """"valid" with kernel >= stride: the output is the full one (no crop, no extension), and
    the backward gathers d_out's windows from d_out itself: a reversed (negative-stride)
    view must give what its contiguous copy gives."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 2, 2, 1))
    kernel = rng.standard_normal((2, 2, 2, 1, 1))
    out, cache = conv3d_transpose_forward(x, kernel, None, 1, "valid")
    assert out.shape == (1, 3, 3, 3, 1)
    g = rng.standard_normal((1, 3, 3, 3, 1))[:, ::-1, :, ::-1]
    for got, ref in zip(conv3d_transpose_backward(g, cache),
                        conv3d_transpose_backward(np.ascontiguousarray(g), cache), strict=True):
        np.testing.assert_array_equal(got, ref)


def test_errors():
    x = np.zeros((2, 3, 3, 3, 4))
    k = np.zeros((3, 3, 3, 2, 4))
    with pytest.raises(ValueError, match=r"conv3d_transpose: expected a 5-D input .* "
                                         r"\(3, 3, 3, 4\)"):
        conv3d_transpose_forward(x[0], k)
    with pytest.raises(ValueError, match="conv3d_transpose kernel: expected a 5-D input"):
        conv3d_transpose_forward(x, k[0])
    with pytest.raises(ValueError, match=r"conv3d_transpose: the input has 2 channels .* "
                                         r"expects 4 input channels \(its last axis\)"):
        conv3d_transpose_forward(x[..., :2], k)
    with pytest.raises(ValueError, match=r"conv3d_transpose: expected bias of shape \(2,\)"):
        conv3d_transpose_forward(x, k, np.zeros(4))
    with pytest.raises(ValueError, match="conv3d_transpose: expected padding to be 'valid' or "
                                         "'same'. Received: padding=1"):
        conv3d_transpose_forward(x, k, padding=1)
    with pytest.raises(ValueError, match=r"strides must be greater than output_padding. "
                                         r"Received strides=\(2, 2, 1\), output_padding="
                                         r"\(1, 0, 1\)"):
        conv3d_transpose_forward(x, k, strides=(2, 2, 1), output_padding=(1, 0, 1))
    with pytest.raises(ValueError, match="expected output_padding to be >= 0"):
        conv3d_transpose_forward(x, k, strides=2, output_padding=-1)
    with pytest.raises(ValueError, match="expected output_padding to be an int or a tuple of "
                                         "3 ints"):
        conv3d_transpose_forward(x, k, strides=2, output_padding=(1, 1))
    with pytest.raises(ValueError, match="conv3d_transpose: expected strides to be >= 1"):
        conv3d_transpose_forward(x, k, strides=0)
    with pytest.raises(ValueError, match="conv3d_transpose: expected dilation to be an int or "
                                         "a tuple of 3 ints"):
        conv3d_transpose_forward(x, k, dilation=(1, 2))
    with pytest.raises(ValueError, match=r"output would be empty: \(depth, height, width\)="
                                         r"\(0, 0, 0\)"):
        conv3d_transpose_forward(np.zeros((1, 1, 1, 1, 4)), np.zeros((2, 2, 2, 2, 4)), None,
                                 2, "same", 0)
    with pytest.raises(ValueError, match="depth, height and width >= 1"):
        conv3d_transpose_forward(np.zeros((1, 0, 2, 2, 4)), k)
    with pytest.raises(TypeError):
        conv3d_transpose_forward(x.astype(str), k)
    out, cache = conv3d_transpose_forward(x, k)
    with pytest.raises(ValueError, match=r"conv3d_transpose_backward: expected d_out of shape "
                                         r"\(2, 5, 5, 5, 2\). Received \(2, 5, 5, 5, 4\)"):
        conv3d_transpose_backward(np.zeros((2, 5, 5, 5, 4)), cache)
