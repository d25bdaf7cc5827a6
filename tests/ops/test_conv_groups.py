"""Grouped conv2d (groups=G): the naive loops, finite differences, a block-diagonal ungrouped
kernel, the depthwise op, out=, need_dx, dtypes and errors."""

import numpy as np
import pytest

from npconv.ops.conv import conv2d_backward, conv2d_forward
from npconv.ops.depthwise_conv import depthwise_conv2d_backward, depthwise_conv2d_forward
from npconv.ops.padding import resolve_padding
from tests.finite_differences import central_differences
from tests.naive_conv import naive_conv_backward, naive_conv_forward

# (batch, h, w, c_in, kh, kw, c_out, strides, padding, dilation, bias, groups)
GROUPED = [
    (2, 5, 5, 4, 3, 3, 6, 1, "valid", 1, True, 2),
    (2, 6, 5, 6, 3, 3, 6, 2, 1, 1, True, 3),                    # stride > dilation: tiles
    (1, 6, 7, 8, 2, 3, 4, (2, 1), ((1, 0), (0, 2)), 1, False, 4),
    (2, 7, 6, 4, 3, 3, 8, 1, "same", 2, True, 4),               # groups == C_in, 2 per group
    (2, 8, 7, 6, 3, 2, 6, (2, 3), "same", (2, 1), True, 2),
    (1, 5, 5, 3, 3, 3, 3, 3, 1, 1, True, 3),                    # depthwise, one tile
    (2, 4, 4, 6, 1, 1, 4, 1, "valid", 1, True, 2),              # 1x1
    (2, 5, 6, 6, 1, 1, 9, 2, "valid", 1, False, 3),             # 1x1, strided
    (2, 6, 6, 4, 2, 2, 4, (1, 2), (1, 0), (2, 1), True, 2),     # explicit pair padding
]


def _make(config, rng, dtype=np.float64):
    n, h, w, c_in, kh, kw, c_out, strides, padding, dilation, has_bias, groups = config
    x = rng.standard_normal((n, h, w, c_in)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c_in // groups, c_out)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype) if has_bias else None
    return x, kernel, bias, dict(strides=strides, padding=padding, dilation=dilation,
                                 groups=groups)


def _geometry(config):
    n, h, w, c_in, kh, kw, c_out, strides, padding, dilation, _, _ = config
    s = (strides, strides) if isinstance(strides, int) else strides
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    return s, resolve_padding(padding, (h, w), (kh, kw), s, d), d


def _block_diagonal(kernel, groups):
    """The ungrouped (kh, kw, C_in, C_out) kernel equal to the grouped one: zeros off the
    diagonal blocks."""
    kh, kw, cg, c_out = kernel.shape
    full = np.zeros((kh, kw, cg * groups, c_out), dtype=kernel.dtype)
    fg = c_out // groups
    for g in range(groups):
        full[:, :, g * cg:(g + 1) * cg, g * fg:(g + 1) * fg] = kernel[..., g * fg:(g + 1) * fg]
    return full


@pytest.mark.parametrize("config", GROUPED)
def test_grouped_matches_naive_loops(config):
    rng = np.random.default_rng(GROUPED.index(config))
    x, kernel, bias, kw = _make(config, rng)
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    assert cache.groups == config[-1]
    s, pads, d = _geometry(config)
    groups = config[-1]
    np.testing.assert_allclose(out, naive_conv_forward(x, kernel, bias, s, pads, d, groups),
                               rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    dx, dk, db = conv2d_backward(g, cache)
    ndx, ndk, ndb = naive_conv_backward(g, x, kernel, s, pads, d, groups)
    assert dx.shape == x.shape and dk.shape == kernel.shape
    np.testing.assert_allclose(dx, ndx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dk, ndk, rtol=1e-12, atol=1e-12)
    if bias is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, ndb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", GROUPED)
def test_grouped_backward_finite_differences(config):
    rng = np.random.default_rng(17)
    x, kernel, bias, kw = _make(config, rng)
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    g = rng.standard_normal(out.shape)

    def loss():
        return float(np.sum(conv2d_forward(x, kernel, bias, **kw)[0] * g))

    dx, dk, db = conv2d_backward(g, cache)
    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(dk, central_differences(loss, kernel), rtol=1e-6, atol=1e-7)
    if bias is not None:
        np.testing.assert_allclose(db, central_differences(loss, bias), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("config", GROUPED)
def test_grouped_equals_ungrouped_with_a_block_diagonal_kernel(config):
    rng = np.random.default_rng(30 + GROUPED.index(config))
    x, kernel, bias, kw = _make(config, rng)
    groups = kw.pop("groups")
    full = _block_diagonal(kernel, groups)
    out, cache = conv2d_forward(x, kernel, bias, **kw, groups=groups)
    ref, ref_cache = conv2d_forward(x, full, bias, **kw)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    dx, dk, db = conv2d_backward(g, cache)
    rdx, rdk, rdb = conv2d_backward(g, ref_cache)
    np.testing.assert_allclose(dx, rdx, rtol=1e-12, atol=1e-12)
    # the grouped kernel's gradient is the diagonal blocks of the full one's
    mask = _block_diagonal(np.ones_like(kernel), groups) != 0
    np.testing.assert_allclose(_block_diagonal(dk, groups), rdk * mask, rtol=1e-12,
                               atol=1e-12)
    if bias is not None:
        np.testing.assert_allclose(db, rdb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("multiplier", [1, 3])
def test_groups_equal_to_the_input_channels_is_the_depthwise_op(multiplier):
    rng = np.random.default_rng(40)
    x = rng.standard_normal((2, 9, 8, 4))
    dw_kernel = rng.standard_normal((3, 2, 4, multiplier))
    bias = rng.standard_normal(4 * multiplier)
    args = dict(strides=(2, 1), padding="same", dilation=(1, 2))
    ref, ref_cache = depthwise_conv2d_forward(x, dw_kernel, bias, **args)
    # depthwise output channel c * M + m is group c's m-th filter
    kernel = dw_kernel.reshape(3, 2, 1, 4 * multiplier)
    out, cache = conv2d_forward(x, kernel, bias, **args, groups=4)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    dx, dk, db = conv2d_backward(g, cache)
    rdx, rdk, rdb = depthwise_conv2d_backward(g, ref_cache)
    np.testing.assert_allclose(dx, rdx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dk, rdk.reshape(kernel.shape), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, rdb, rtol=1e-12, atol=1e-12)


def test_groups_one_is_the_ungrouped_path():
    rng = np.random.default_rng(41)
    x, kernel, bias, _ = _make((2, 6, 6, 3, 3, 3, 4, 1, "same", 1, True, 1), rng)
    out, cache = conv2d_forward(x, kernel, bias, padding="same")
    for groups in (1, np.int64(1)):
        out1, cache1 = conv2d_forward(x, kernel, bias, padding="same", groups=groups)
        assert cache1.groups == 1 and cache1.cols.ndim == 2
        np.testing.assert_array_equal(out1, out)
    g = rng.standard_normal(out.shape)
    for a, b in zip(conv2d_backward(g, cache), conv2d_backward(g, cache1), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grouped_out_buffer_dtypes_and_need_dx(dtype):
    rng = np.random.default_rng(42)
    x, kernel, bias, kw = _make(GROUPED[1], rng, dtype)
    saved = [x.copy(), kernel.copy(), bias.copy()]
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    assert out.dtype == dtype and out.flags.c_contiguous
    buffer = np.full_like(out, np.nan)
    assert conv2d_forward(x, kernel, bias, **kw, out=buffer)[0] is buffer
    np.testing.assert_array_equal(buffer, out)
    g = rng.standard_normal(out.shape).astype(dtype)
    g_saved = g.copy()
    first = conv2d_backward(g, cache)
    second = conv2d_backward(g, cache)
    for a, b in zip(first, second, strict=True):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(g, g_saved)
    for arr, before in zip((x, kernel, bias), saved, strict=True):
        np.testing.assert_array_equal(arr, before)
    dx, dk, db = conv2d_backward(g, cache, need_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dk, first[1])
    np.testing.assert_array_equal(db, first[2])
    with pytest.raises(ValueError, match="conv2d: expected out= to be a C-contiguous"):
        conv2d_forward(x, kernel, bias, **kw, out=buffer[:1])


def test_grouped_non_contiguous_input():
    rng = np.random.default_rng(43)
    x = rng.standard_normal((3, 10, 9, 12))[::2, ::-1, 1::2, ::2]  # 6 channels, strided
    kernel = np.asfortranarray(rng.standard_normal((3, 2, 2, 6)))
    out, cache = conv2d_forward(x, kernel, None, strides=(1, 2), padding="same", groups=3)
    ref, ref_cache = conv2d_forward(np.ascontiguousarray(x), np.ascontiguousarray(kernel), None,
                                    strides=(1, 2), padding="same", groups=3)
    np.testing.assert_array_equal(out, ref)
    g = np.asfortranarray(rng.standard_normal(out.shape))
    for a, b in zip(conv2d_backward(g, cache)[:2], conv2d_backward(g, ref_cache)[:2],
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_grouped_errors():
    x = np.zeros((2, 5, 5, 6))
    k = np.zeros((3, 3, 3, 4))  # 2 groups of 3 input channels
    conv2d_forward(x, k, groups=2)
    conv2d_forward(x, k, groups=np.int32(2))
    for bad in (0, -2, 2.0, 1.0, True, "2", None):
        with pytest.raises(ValueError, match=r"conv2d: expected groups to be a positive int\. "
                                             rf"Received: groups={bad!r}"):
            conv2d_forward(x, k, groups=bad)
    with pytest.raises(ValueError, match=r"conv2d: the kernel \(3, 3, 2, 4\) has 4 output "
                                         r"channels, not divisible by groups=3"):
        conv2d_forward(x, np.zeros((3, 3, 2, 4)), groups=3)
    with pytest.raises(ValueError, match=r"conv2d: the input has 6 channels \(shape "
                                         r"\(2, 5, 5, 6\)\) but the kernel \(3, 3, 2, 4\) "
                                         r"with groups=2 expects 4 \(2 groups of 2\)"):
        conv2d_forward(x, np.zeros((3, 3, 2, 4)), groups=2)
    with pytest.raises(ValueError, match=r"conv2d: the input has 6 channels .* kernel \(3, 3, "
                                         r"6, 4\) with groups=2 expects 12 \(2 groups of 6\)"):
        conv2d_forward(x, np.zeros((3, 3, 6, 4)), groups=2)  # an ungrouped kernel
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(4,\)"):
        conv2d_forward(x, k, np.zeros(2), groups=2)
    out, cache = conv2d_forward(x, k, groups=2)
    with pytest.raises(ValueError, match=r"conv2d_backward: expected d_out of shape "
                                         r"\(2, 3, 3, 4\)"):
        conv2d_backward(np.zeros((2, 3, 3, 2)), cache)


@pytest.mark.parametrize("group_bytes", [1, 3 << 19])
def test_grouped_dx_one_offset_at_a_time_or_all_at_once(group_bytes, monkeypatch):
    """Several channels per group: d_cols blocks of a group of offsets at a time
    (DX_GROUP_BYTES), one offset at a time when it is tiny; both equal the naive loops."""
    import npconv.ops.conv as conv_module

    monkeypatch.setattr(conv_module, "DX_GROUP_BYTES", group_bytes)
    config = (2, 7, 8, 6, 3, 3, 4, (2, 1), "same", (1, 2), True, 2)
    rng = np.random.default_rng(44)
    x, kernel, bias, kw = _make(config, rng)
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    g = rng.standard_normal(out.shape)
    s, pads, d = _geometry(config)
    np.testing.assert_allclose(conv2d_backward(g, cache)[0],
                               naive_conv_backward(g, x, kernel, s, pads, d, 2)[0],
                               rtol=1e-12, atol=1e-12)
