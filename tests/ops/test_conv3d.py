"""conv3d_forward / conv3d_backward: float64 finite differences of every gradient over several
geometries, Keras's "same" padding (values computed by Keras 3.15.1), the 2-D op as the case
of depth 1, dtypes, need_dx and errors naming the op."""

import numpy as np
import pytest

from npconv.ops.conv import conv2d_forward
from npconv.ops.conv3d import (
    as_triple,
    conv3d_backward,
    conv3d_forward,
    normalize_pads3d,
    resolve_padding3d,
)
from tests.finite_differences import central_differences

# (x shape NDHWC, kernel (kd, kh, kw), c_out, strides, padding, dilation, bias, groups)
GEOMETRIES = [
    ((2, 4, 5, 4, 3), (2, 2, 2), 4, 1, "valid", 1, True, 1),
    ((1, 5, 4, 6, 2), (3, 2, 3), 3, (2, 1, 2), "valid", 1, True, 1),         # strides
    ((2, 5, 5, 4, 2), (3, 3, 2), 2, 2, "same", 1, True, 1),                  # same, strided
    ((1, 6, 5, 5, 2), (2, 2, 2), 3, 1, "same", (2, 1, 2), False, 1),         # dilation
    ((1, 4, 5, 5, 4), (2, 3, 2), 6, (1, 2, 1), 1, 1, True, 2),               # groups, int pad
    ((2, 3, 4, 4, 3), (1, 2, 2), 3, 1, ((1, 0), (0, 2), (1, 1)), 1, True, 3),  # depthwise
    ((1, 4, 4, 5, 4), (2, 2, 3), 4, (2, 1, 1), (1, 0, 1), (1, 2, 1), True, 4),  # triple pad
    ((2, 3, 3, 3, 2), (1, 1, 1), 3, 1, "valid", 1, True, 1),                 # 1x1x1
]


def _make(geometry, rng, dtype=np.float64):
    x_shape, k, c_out, strides, padding, dilation, has_bias, groups = geometry
    x = rng.standard_normal(x_shape).astype(dtype)
    kernel = rng.standard_normal((*k, x_shape[-1] // groups, c_out)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype) if has_bias else None
    return x, kernel, bias, dict(strides=strides, padding=padding, dilation=dilation,
                                 groups=groups)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_backward_matches_finite_differences(geometry):
    rng = np.random.default_rng(7)
    x, kernel, bias, kw = _make(geometry, rng)
    out, cache = conv3d_forward(x, kernel, bias, **kw)
    g = rng.standard_normal(out.shape)
    dx, dk, db = conv3d_backward(g, cache)

    def loss():
        return float(np.sum(conv3d_forward(x, kernel, bias, **kw)[0] * g))

    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dk, central_differences(loss, kernel), rtol=1e-6, atol=1e-7)
    if bias is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, central_differences(loss, bias), rtol=1e-6, atol=1e-7)
    assert dx.shape == x.shape and dk.shape == kernel.shape


def test_depth_one_is_the_2d_convolution():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 1, 7, 6, 4))
    kernel = rng.standard_normal((1, 3, 2, 2, 6))
    bias = rng.standard_normal(6)
    out, _ = conv3d_forward(x, kernel, bias, (1, 2, 1), ((0, 0), (1, 1), (0, 1)), (1, 1, 2),
                            groups=2)
    ref, _ = conv2d_forward(x[:, 0], kernel[0], bias, (2, 1), ((1, 1), (0, 1)), (1, 2),
                            groups=2)
    np.testing.assert_allclose(out[:, 0], ref, rtol=1e-12, atol=1e-12)


def test_same_padding_puts_the_odd_pixel_at_the_end_as_keras():
    # Keras 3.15.1 (torch backend): Conv3D(1, k, strides=2, padding="same", use_bias=False,
    # kernel_initializer="ones") on np.arange(n ** 3).reshape(1, n, n, n, 1)
    ones = np.ones((2, 2, 2, 1, 1))
    x5 = np.arange(125.0).reshape(1, 5, 5, 5, 1)
    out, _ = conv3d_forward(x5, ones, strides=2, padding="same")
    assert out.shape == (1, 3, 3, 3, 1)
    assert out.ravel()[:8].tolist() == [124.0, 140.0, 76.0, 204.0, 220.0, 116.0, 132.0, 140.0]
    out, _ = conv3d_forward(x5, np.ones((3, 3, 3, 1, 1)), strides=2, padding="same")
    assert out.shape == (1, 3, 3, 3, 1)
    assert out.ravel()[:4].tolist() == [124.0, 204.0, 148.0, 276.0]
    x6 = np.arange(216.0).reshape(1, 6, 6, 6, 1)
    out, _ = conv3d_forward(x6, np.ones((3, 3, 3, 1, 1)), strides=2, padding="same")
    assert out.shape == (1, 3, 3, 3, 1)
    assert out.ravel()[:4].tolist() == [1161.0, 1215.0, 837.0, 1485.0]
    assert resolve_padding3d("same", 6, 3, 2) == ((0, 1), (0, 1), (0, 1))
    assert resolve_padding3d("SAME", (5, 6, 7), (3, 3, 2), (2, 2, 3)) == (
        (1, 1), (0, 1), (0, 1))


def test_output_size_formula():
    x = np.zeros((1, 9, 8, 7, 1))
    out, _ = conv3d_forward(x, np.zeros((3, 2, 2, 1, 2)), strides=(2, 3, 1),
                            padding=((1, 0), (0, 2), (1, 1)), dilation=(2, 1, 3))
    # floor((n + pads - d * (k - 1) - 1) / s) + 1 per axis
    assert out.shape == (1, (9 + 1 - 4 - 1) // 2 + 1, (8 + 2 - 1 - 1) // 3 + 1,
                         (7 + 2 - 3 - 1) // 1 + 1, 2)


def test_dtypes_need_dx_and_channel_layout():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 4, 4, 2)).astype(np.float32)
    kernel = rng.standard_normal((2, 2, 2, 2, 3)).astype(np.float32)
    out, cache = conv3d_forward(x, kernel, np.zeros(3, np.float32))
    assert out.dtype == np.float32
    dx, dk, db = conv3d_backward(np.ones(out.shape, np.float32), cache)
    assert dx.dtype == dk.dtype == db.dtype == np.float32
    none, dk2, _ = conv3d_backward(np.ones(out.shape, np.float32), cache, need_dx=False)
    assert none is None
    np.testing.assert_array_equal(dk, dk2)
    out_int, _ = conv3d_forward(np.ones((1, 2, 2, 2, 1), np.int64), np.ones((1, 1, 1, 1, 1)))
    assert out_int.dtype == np.float64  # the common dtype of float32 input and float64 kernel
    # a non-contiguous (channels-first transposed) input gives the same result
    x_t = np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3)).transpose(0, 2, 3, 4, 1)
    np.testing.assert_array_equal(conv3d_forward(x_t, kernel)[0], conv3d_forward(x, kernel)[0])


def test_an_empty_batch_gives_an_empty_output_and_gradients_as_torch():
    # torch's F.conv3d maps a (0, C, D, H, W) batch to (0, C_out, ...); the 2-D op does too
    x = np.zeros((0, 4, 4, 4, 2))
    for groups in (1, 2):
        kernel = np.ones((2, 2, 2, 2 // groups, 4))
        out, cache = conv3d_forward(x, kernel, np.ones(4), padding="same", groups=groups)
        assert out.shape == (0, 4, 4, 4, 4)
        dx, dk, db = conv3d_backward(np.zeros(out.shape), cache)
        assert dx.shape == x.shape
        np.testing.assert_array_equal(dk, np.zeros(kernel.shape))
        np.testing.assert_array_equal(db, np.zeros(4))


def test_argument_helpers():
    assert as_triple(2, "strides", "w") == (2, 2, 2)
    assert as_triple([1, 2, 3], "strides", "w") == (1, 2, 3)
    assert normalize_pads3d(1) == ((1, 1),) * 3
    assert normalize_pads3d((1, 0, 2)) == ((1, 1), (0, 0), (2, 2))
    assert normalize_pads3d([[1, 0], [0, 2], [3, 1]]) == ((1, 0), (0, 2), (3, 1))
    for bad in [(1, 2), True, 1.0, "x"]:
        with pytest.raises(ValueError, match="w: expected strides to be an int or a tuple of 3"):
            as_triple(bad, "strides", "w")
    with pytest.raises(ValueError, match=">= 1"):
        as_triple((1, 0, 1), "strides", "w")
    with pytest.raises(ValueError, match=">= 0"):
        normalize_pads3d(((1, -1), (0, 0), (0, 0)))
    with pytest.raises(ValueError, match="an int, a tuple of 3 ints or 3 pairs"):
        normalize_pads3d(((1, 1), (0, 0)))
    with pytest.raises(ValueError, match="'valid', 'same', an int"):  # the conv's choices
        resolve_padding3d(((1, 1), (0, 0)), (4, 4, 4), 3)


@pytest.mark.parametrize("call, message", [
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 2)), np.zeros((2, 2, 2, 2, 1))),
     r"conv3d: expected a 5-D input \(batch, depth, height, width, channels\)"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 2)), np.zeros((2, 2, 2, 1))),
     "conv3d kernel: expected a 5-D input"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 3)), np.zeros((2, 2, 2, 2, 1))),
     "conv3d: the input has 3 channels .* expects 2"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 4)), np.zeros((2, 2, 2, 2, 3)), groups=2),
     "3 output channels, not divisible by groups=2"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 6)), np.zeros((2, 2, 2, 2, 4)), groups=2),
     r"with groups=2 \(2 groups of 2\) expects 4"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 2)), np.zeros((2, 2, 2, 2, 1)), groups=0),
     "conv3d: expected groups to be a positive int"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 2)), np.zeros((2, 2, 2, 2, 3)),
                            np.zeros(2)), r"conv3d: expected bias of shape \(3,\)"),
    (lambda: conv3d_forward(np.zeros((1, 2, 4, 4, 1)), np.zeros((3, 2, 2, 1, 1))),
     r"conv3d: the kernel \(kd, kh, kw\)=\(3, 2, 2\) .* spans \(3, 2, 2\) pixels"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 1)), np.zeros((2, 2, 2, 1, 1)),
                            padding="causal"), "conv3d: expected padding to be 'valid', 'same'"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 1)), np.zeros((2, 2, 2, 1, 1)),
                            strides=(1, 2)), "conv3d: expected strides to be an int or a tuple"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 1)), np.zeros((2, 2, 2, 1, 1)),
                            dilation=0), "conv3d: expected dilation to be >= 1"),
    (lambda: conv3d_backward(np.zeros((1, 3, 3, 2, 1)), conv3d_forward(
        np.zeros((1, 4, 4, 4, 1)), np.zeros((2, 2, 2, 1, 1)))[1]),
     r"conv3d_backward: expected d_out of shape \(1, 3, 3, 3, 1\)"),
    (lambda: conv3d_forward(np.zeros((1, 4, 4, 4, 1), complex), np.zeros((2, 2, 2, 1, 1))),
     "conv3d: expected a real numeric array"),
])
def test_errors_name_the_op(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


@pytest.mark.parametrize("kernel, strides, dilation", [
    ((3, 2, 4), (2, 2, 3), (1, 1, 1)),  # runs of s offsets, the last one partial
    ((3, 3, 2), (2, 1, 3), (1, 2, 1)),  # a run on some axes, one offset on the others
    ((2, 3, 3), (3, 2, 2), (2, 1, 2)),  # stride and dilation on one axis: one offset
])
def test_col2im_by_runs_of_offsets_is_the_offset_by_offset_sum(kernel, strides, dilation):
    """col2im adds a run of `stride` offsets in one pass when the dilation is 1: the result
    is the sum of each offset's block added to its own windows, one at a time."""
    from npconv.ops.conv3d import _col2im, _window_views

    rng = np.random.default_rng(sum(kernel) + sum(strides))
    out_dhw, n, c = (3, 2, 4), 2, 3
    padded = (n, *((o - 1) * s + d * (k - 1) + 1 + 1 for o, s, d, k in
                   zip(out_dhw, strides, dilation, kernel, strict=True)), c)
    d_cols = rng.standard_normal((1, n * 24, int(np.prod(kernel)) * c))
    expected = np.zeros(padded)
    windows = _window_views(expected, kernel, strides, dilation, out_dhw, 1)
    blocks = d_cols.reshape(1, n, *out_dhw, *kernel, c)
    for a, i, j in np.ndindex(*kernel):
        windows[..., a, i, j, :] += blocks[..., a, i, j, :]
    np.testing.assert_allclose(_col2im(d_cols, padded, kernel, strides, dilation, out_dhw),
                               expected, rtol=1e-14, atol=1e-14)
