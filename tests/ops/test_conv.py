"""conv2d forward/backward: seeds' numbers, finite differences, the naive loop reference, errors."""

import itertools
import math

import numpy as np
import pytest

from npconv.ops.conv import (
    col2im,
    conv2d_backward,
    conv2d_forward,
    conv_single_step,
    im2col,
)
from npconv.ops.padding import resolve_padding
from tests.finite_differences import central_differences
from tests.naive_conv import naive_conv_backward, naive_conv_forward


# ------------------------------------------------------------------ the seeds
def test_seed000_average_kernel():
    image = np.arange(36).reshape(1, 6, 6, 1)
    kernel = np.ones((3, 3, 1, 1)) / 9
    out, _ = conv2d_forward(image, kernel)
    assert out.shape == (1, 4, 4, 1)
    assert out[0, 0, 0, 0] == pytest.approx(7.0)
    # each 3x3 average of the arange image is its centre pixel
    np.testing.assert_allclose(out[0, :, :, 0], np.arange(36).reshape(6, 6)[1:5, 1:5])


def test_seed002_conv_single_step():
    rs = np.random.RandomState(1)  # the stream of the seed's np.random.seed(1)
    a_slice_prev = rs.randn(4, 4, 3)
    W = rs.randn(4, 4, 3)
    b = rs.randn(1, 1, 1)
    Z = conv_single_step(a_slice_prev, W, b)
    assert Z == pytest.approx(-6.999089450680221, rel=1e-14)
    with pytest.raises(ValueError, match="conv_single_step: expected a_slice_prev and W"):
        conv_single_step(a_slice_prev, W[:3], b)


def test_seed002_conv_forward():
    rs = np.random.RandomState(1)  # the stream of the seed's np.random.seed(1)
    A_prev = rs.randn(2, 5, 7, 4)
    W = rs.randn(3, 3, 4, 8)
    b = rs.randn(1, 1, 1, 8)
    Z, cache = conv2d_forward(A_prev, W, b.reshape(8), strides=2, padding=1)
    assert Z.shape == (2, 3, 4, 8)
    assert Z.dtype == np.float64
    assert np.mean(Z) == pytest.approx(0.5511276474566768, rel=1e-13)
    np.testing.assert_allclose(
        Z[0, 2, 1],
        [-2.17796037, 8.07171329, -0.5772704, 3.36286738, 4.48113645, -2.89198428,
         10.99288867, 3.03171932],
        atol=5e-9,
    )
    # the seed's cache_conv[0][1][2][3] is A_prev[1, 2, 3]
    np.testing.assert_allclose(A_prev[1][2][3], [-1.1191154, 1.9560789, -0.3264995, -1.34267579],
                               atol=5e-9)
    # and every pixel is seed 002's conv_single_step on its window
    A_pad = np.pad(A_prev, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for c in range(8):
        assert Z[1, 1, 3, c] == pytest.approx(
            conv_single_step(A_pad[1, 2:5, 6:9, :], W[..., c], b[..., c]), rel=1e-12)


def test_seed002_conv_backward_matches_its_loops():
    rs = np.random.RandomState(1)  # the stream of the seed's np.random.seed(1)
    A_prev = rs.randn(10, 4, 4, 3)
    W = rs.randn(2, 2, 3, 8)
    b = rs.randn(1, 1, 1, 8)
    Z, cache = conv2d_forward(A_prev, W, b.reshape(8), strides=2, padding=2)
    dA, dW, db = conv2d_backward(Z, cache)
    pads = ((2, 2), (2, 2))
    ref = naive_conv_backward(Z, A_prev, W, (2, 2), pads, (1, 1))
    for got, expected in zip((dA, dW, db), ref, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-11)
    assert dA.shape == A_prev.shape and dW.shape == W.shape and db.shape == (8,)


@pytest.mark.parametrize(
    "shape, kernel, strides, padding, expected",
    [
        ((4, 128, 128, 3), (2, 2, 3, 6), 1, "same", (4, 128, 128, 6)),   # seed 002, Keras
        ((4, 128, 128, 3), (2, 2, 3, 4), 2, "valid", (4, 64, 64, 4)),    # seed 002
        ((4, 28, 28, 3), (3, 3, 3, 2), 1, "valid", (4, 26, 26, 2)),      # seed 002, TF
        ((1, 28, 28, 3), (3, 3, 3, 5), 1, "valid", (1, 26, 26, 5)),      # seed 004
        ((2, 28, 28, 1), (3, 3, 1, 32), 2, 1, (2, 14, 14, 32)),          # seed 003
        ((2, 14, 14, 32), (3, 3, 32, 64), 2, 1, (2, 7, 7, 64)),
        ((2, 7, 7, 64), (3, 3, 64, 128), 3, 1, (2, 3, 3, 128)),
        ((2, 24, 24, 3), (3, 3, 3, 4), 1, "same", (2, 24, 24, 4)),       # seed 000 (224 -> 224)
    ],
)
def test_seed_shapes(shape, kernel, strides, padding, expected):
    x = np.ones(shape, dtype=np.float32)
    out, _ = conv2d_forward(x, np.ones(kernel, dtype=np.float32), strides=strides,
                            padding=padding)
    assert out.shape == expected
    assert out.dtype == np.float32


# ------------------------------------------------------------------ configurations
# (batch, h, w, c_in, kh, kw, c_out, strides, padding, dilation, bias)
CONFIGS = [
    (2, 5, 5, 2, 3, 3, 3, 1, "valid", 1, True),
    (2, 6, 5, 2, 3, 3, 2, 2, 1, 1, True),
    (1, 5, 6, 3, 2, 3, 2, (2, 1), (1, 2), 1, True),
    (2, 5, 4, 2, 3, 2, 2, 1, ((0, 2), (1, 0)), 1, False),
    (2, 6, 6, 1, 2, 2, 3, 1, "same", 1, True),
    (2, 7, 6, 2, 3, 3, 2, 2, "same", 1, True),
    (1, 7, 7, 2, 3, 3, 2, 1, "valid", 2, True),
    (2, 8, 7, 2, 2, 3, 2, (2, 3), "same", (2, 1), True),
    (2, 4, 4, 3, 1, 1, 2, 1, "valid", 1, True),
    (2, 5, 5, 3, 1, 1, 2, 2, 1, 1, True),
    (1, 4, 4, 17, 2, 2, 3, 1, 1, 1, True),    # many channels: the 6-D window copy path
    (1, 3, 3, 2, 3, 3, 2, 1, "valid", 1, True),  # 1x1 output
    (3, 4, 5, 2, 4, 2, 1, 3, ((2, 1), (0, 3)), 1, True),
    # few output channels: the banded matrix multiply (see BANDED below)
    (2, 6, 8, 2, 3, 3, 6, 1, "same", 1, True),
    (2, 7, 9, 1, 3, 2, 8, (1, 2), "same", 1, True),
    (1, 9, 13, 3, 2, 3, 12, 1, "valid", (1, 2), False),
    (2, 8, 10, 2, 3, 3, 16, 2, ((1, 0), (2, 1)), (2, 1), True),
]
BANDED = CONFIGS[-4:]


def _make(config, rng, dtype=np.float64):
    n, h, w, c_in, kh, kw, c_out, strides, padding, dilation, has_bias = config
    x = rng.standard_normal((n, h, w, c_in)).astype(dtype)
    kernel = rng.standard_normal((kh, kw, c_in, c_out)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype) if has_bias else None
    return x, kernel, bias, dict(strides=strides, padding=padding, dilation=dilation)


def _pairs(config):
    n, h, w, c_in, kh, kw, c_out, strides, padding, dilation, _ = config
    s = (strides, strides) if isinstance(strides, int) else strides
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    return s, resolve_padding(padding, (h, w), (kh, kw), s, d), d


@pytest.mark.parametrize("config", CONFIGS)
def test_forward_and_backward_match_naive_loops(config):
    rng = np.random.default_rng(CONFIGS.index(config))
    x, kernel, bias, kw = _make(config, rng)
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    s, pads, d = _pairs(config)
    np.testing.assert_allclose(out, naive_conv_forward(x, kernel, bias, s, pads, d),
                               rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    dx, dk, db = conv2d_backward(g, cache)
    ndx, ndk, ndb = naive_conv_backward(g, x, kernel, s, pads, d)
    np.testing.assert_allclose(dx, ndx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dk, ndk, rtol=1e-12, atol=1e-12)
    if bias is None:
        assert db is None
    else:
        np.testing.assert_allclose(db, ndb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("config", CONFIGS)
def test_backward_finite_differences(config):
    rng = np.random.default_rng(7)
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


def test_random_configs_match_naive():
    rng = np.random.default_rng(11)
    for _ in range(60):
        kh, kw = rng.integers(1, 4, size=2)
        d = tuple(int(v) for v in rng.integers(1, 3, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        h = int(rng.integers(d[0] * (kh - 1) + 1, 9))
        w = int(rng.integers(d[1] * (kw - 1) + 1, 9))
        padding = [
            "valid", "same", int(rng.integers(0, 3)),
            ((int(rng.integers(0, 3)), int(rng.integers(0, 3))),
             (int(rng.integers(0, 3)), int(rng.integers(0, 3)))),
        ][rng.integers(0, 4)]
        n, c_in, c_out = (int(v) for v in rng.integers(1, 4, size=3))
        c_in = c_in if rng.random() < 0.7 else 20
        config = (n, h, w, c_in, int(kh), int(kw), c_out, s, padding, d, bool(rng.random() < .8))
        x, kernel, bias, kwargs = _make(config, rng)
        out, cache = conv2d_forward(x, kernel, bias, **kwargs)
        sp, pads, dp = _pairs(config)
        np.testing.assert_allclose(out, naive_conv_forward(x, kernel, bias, sp, pads, dp),
                                   rtol=1e-11, atol=1e-11, err_msg=str(config))
        g = rng.standard_normal(out.shape)
        for got, ref in zip(conv2d_backward(g, cache)[:2],
                            naive_conv_backward(g, x, kernel, sp, pads, dp)[:2], strict=True):
            np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-11, err_msg=str(config))


@pytest.mark.parametrize("config", BANDED)
def test_banded_configs_take_the_banded_path_and_equal_im2col(config, monkeypatch):
    import npconv.ops.conv as conv_module

    rng = np.random.default_rng(BANDED.index(config))
    x, kernel, bias, kw = _make(config, rng, np.float32)
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    assert cache.band is not None
    g = rng.standard_normal(out.shape).astype(np.float32)
    grads = conv2d_backward(g, cache)
    buffer = np.empty_like(out)
    assert conv2d_forward(x, kernel, bias, **kw, out=buffer)[0] is buffer
    monkeypatch.setattr(conv_module, "_band_width", lambda c_out, out_w: None)
    ref_out, ref_cache = conv2d_forward(x, kernel, bias, **kw)
    assert ref_cache.band is None
    np.testing.assert_allclose(out, ref_out, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(buffer, ref_out, rtol=1e-5, atol=1e-5)
    for got, ref in zip(grads, conv2d_backward(g, ref_cache), strict=True):
        if ref is None:
            assert got is None
        else:
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)


# one or two channels on the banded path: patches read from strips, against the plain view
STRIPS = [
    (2, 28, 28, 1, 5, 5, 6, 1, "same", 1, True),         # LeNet-5's C1
    (2, 9, 12, 1, 3, 3, 8, (2, 1), 1, (1, 2), False),     # vertical stride, dilated columns
    (1, 10, 16, 1, 2, 3, 12, (1, 2), "valid", 1, True),   # horizontal stride
]


@pytest.mark.parametrize("config", STRIPS)
def test_strip_configs_equal_the_plain_patches_and_naive(config, monkeypatch):
    import npconv.ops.conv as conv_module

    rng = np.random.default_rng(STRIPS.index(config))
    x, kernel, bias, kw = _make(config, rng)
    s, pads, d = _pairs(config)
    results = []
    for strip_values in (16, 0):  # strips, then the plain strided view
        monkeypatch.setattr(conv_module, "STRIP_VALUES", strip_values)
        out, cache = conv2d_forward(x, kernel, bias, **kw)
        assert cache.band is not None
        g = np.linspace(-1, 1, out.size).reshape(out.shape)
        results.append((out, *conv2d_backward(g, cache)))
    for got, ref in zip(*results, strict=True):
        if ref is not None:
            np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(results[0][0], naive_conv_forward(x, kernel, bias, s, pads, d),
                               rtol=1e-12, atol=1e-12)


def test_strips_of_a_non_contiguous_unpadded_input():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 12, 10, 3))[:, ::-1, :, 1:2]  # one channel, not contiguous
    kernel = rng.standard_normal((3, 3, 1, 6))
    out, cache = conv2d_forward(x, kernel, None)
    assert cache.band is not None and not x.flags.c_contiguous
    np.testing.assert_allclose(out, naive_conv_forward(x, kernel, None, (1, 1),
                                                       ((0, 0), (0, 0)), (1, 1)),
                               rtol=1e-12, atol=1e-12)


# few input channels: dx by rows (_row_dx), against d_cols + col2im and the naive loops
ROW_DX = [
    (2, 14, 14, 6, 5, 5, 16, 1, "valid", 1, True),      # LeNet-5's C3
    (2, 11, 12, 3, 3, 3, 4, 2, "same", 1, True),
    (2, 9, 10, 2, 3, 2, 3, (1, 2), ((2, 0), (1, 1)), (2, 2), False),
    (1, 8, 9, 4, 2, 3, 20, (3, 1), 1, (1, 2), True),
]


@pytest.mark.parametrize("config", ROW_DX)
def test_row_dx_configs_take_the_row_path_and_equal_col2im(config, monkeypatch):
    import npconv.ops.conv as conv_module

    rng = np.random.default_rng(ROW_DX.index(config))
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        x, kernel, bias, kw = _make(config, rng, dtype)
        out, cache = conv2d_forward(x, kernel, bias, **kw)
        padded_w = cache.x_shape[2] + sum(cache.pads[1])
        assert conv_module._uses_row_dx(x.shape[3], kernel.shape[1], padded_w)
        g = rng.standard_normal(out.shape).astype(dtype)
        dx = conv2d_backward(g, cache)[0]
        assert dx.dtype == dtype and dx.shape == x.shape
        s, pads, d = _pairs(config)
        np.testing.assert_allclose(dx, naive_conv_backward(g, x, kernel, s, pads, d)[0],
                                   rtol=tol, atol=tol)
        with monkeypatch.context() as patch:
            patch.setattr(conv_module, "_uses_row_dx", lambda c_in, kw, padded_w: False)
            np.testing.assert_allclose(dx, conv2d_backward(g, cache)[0], rtol=tol, atol=tol)


def test_row_dx_is_chosen_only_for_few_input_channels():
    from npconv.ops.conv import _uses_row_dx

    assert _uses_row_dx(6, 5, 14)        # LeNet-5's C3
    assert not _uses_row_dx(1, 5, 32)    # one channel: one multiply already
    assert not _uses_row_dx(32, 3, 13)   # seed 001's second conv: d_cols and col2im
    assert not _uses_row_dx(3, 3, 226)   # a wide image: too many zeros in the band


# strides larger than the dilation: dx adds a tile of kernel offsets at a time
TILED_DX = [
    (2, 14, 14, 32, 3, 3, 8, 2, 1, 1, True),              # the strided CNN's second conv
    (2, 7, 7, 40, 3, 3, 8, 3, 1, 1, True),                # its third: one tile, no overlap
    (2, 13, 11, 24, 5, 4, 4, (3, 2), "same", (2, 1), False),  # tiles of 2 x 2 offsets
    (1, 12, 12, 20, 3, 3, 3, (4, 1), ((2, 1), (0, 2)), (1, 2), True),  # (4 x 1), gaps
    (2, 9, 10, 36, 2, 3, 5, (1, 3), "valid", 1, True),     # tiles along the width only
    (2, 12, 13, 20, 3, 5, 4, (2, 4), 1, (2, 2), True),     # 1 x 2: offsets 2 apart overlap
    (1, 14, 9, 20, 3, 2, 4, (3, 1), 2, (2, 1), True),      # 3 x 1: 3 * (rows 2 apart)
]


def _spy_tiles(monkeypatch):
    import npconv.ops.conv as conv_module

    calls = []
    original = conv_module._col2im_tiles

    def spy(*args):
        calls.append(args[4])
        return original(*args)

    monkeypatch.setattr(conv_module, "_col2im_tiles", spy)
    return calls


@pytest.mark.parametrize("tile_bytes", [None, "row", 1])
@pytest.mark.parametrize("config", TILED_DX)
def test_tiled_dx_configs_take_the_tile_path_and_equal_naive(config, tile_bytes, monkeypatch):
    import npconv.ops.conv as conv_module

    rng = np.random.default_rng(TILED_DX.index(config))
    x, kernel, bias, kw = _make(config, rng)
    s, pads, d = _pairs(config)
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    m, c_in = out.shape[0] * out.shape[1] * out.shape[2], x.shape[3]
    if tile_bytes == "row":  # room for a row of offsets, not for the whole tile
        tile_bytes = m * c_in * x.itemsize * (s[1] // math.gcd(s[1], d[1]))
    if tile_bytes is not None:
        monkeypatch.setattr(conv_module, "TILE_BYTES", tile_bytes)
    calls = _spy_tiles(monkeypatch)
    g = rng.standard_normal(out.shape)
    dx = conv2d_backward(g, cache)[0]
    assert calls, "expected the tiled col2im"
    np.testing.assert_allclose(dx, naive_conv_backward(g, x, kernel, s, pads, d)[0],
                               rtol=1e-12, atol=1e-12)


def test_tiles_are_not_used_without_a_stride_larger_than_the_dilation(monkeypatch):
    from npconv.ops.conv import _tile_hw

    assert _tile_hw((1, 1), (1, 1)) == (1, 1)      # seed 001's convolutions
    assert _tile_hw((2, 2), (2, 2)) == (1, 1)      # offsets 2 apart overlap at stride 2
    assert _tile_hw((2, 3), (1, 2)) == (2, 3)      # 3y + 2i: a pixel once for i < 3
    assert _tile_hw((4, 6), (2, 4)) == (2, 3)
    assert _tile_hw((4, 1), (1, 1)) == (4, 1)
    calls = _spy_tiles(monkeypatch)
    rng = np.random.default_rng(0)
    x, kernel, bias, kw = _make((2, 8, 8, 20, 3, 3, 4, 2, 1, 2, True), rng)
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    conv2d_backward(np.ones_like(out), cache)
    assert calls == []


def _random_geometry(rng):
    """A random (x, kernel_hw, strides, dilation, pads, out_hw) whose kernel fits, with
    paddings up to 4 (windows wholly in the padding too) and strides larger than the kernel."""
    while True:
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        d = tuple(int(v) for v in rng.integers(1, 3, size=2))
        pads = tuple((int(rng.integers(0, 5)), int(rng.integers(0, 5))) for _ in range(2))
        n, h, w, c = (int(rng.integers(1, 3)), int(rng.integers(1, 9)),
                      int(rng.integers(1, 9)), int(rng.integers(2, 5)))
        padded = (h + sum(pads[0]), w + sum(pads[1]))
        reach = (d[0] * (kh - 1) + 1, d[1] * (kw - 1) + 1)
        if reach[0] <= padded[0] and reach[1] <= padded[1]:
            out_hw = ((padded[0] - reach[0]) // s[0] + 1, (padded[1] - reach[1]) // s[1] + 1)
            x = rng.standard_normal((n, h, w, c)).astype(np.float32)
            return x, (kh, kw), s, d, pads, out_hw


def test_unpadded_patches_equal_the_padded_ones_exactly(monkeypatch):
    import npconv.ops.conv as conv_module

    monkeypatch.setattr(conv_module, "IMPLICIT_PAD_BYTES_PER_BLOCK", 0)  # always unpadded
    rng = np.random.default_rng(21)
    for _ in range(400):
        x, kernel_hw, s, d, pads, out_hw = _random_geometry(rng)
        if rng.random() < 0.3:  # a non-contiguous input (every other column of a wider one)
            x = np.repeat(x, 2, axis=2)[:, :, ::2]
        for ones_column in (False, True):
            expected = conv_module._im2col_padded(conv_module._pad(x, pads), kernel_hw, s, d,
                                                  out_hw, ones_column)
            got = conv_module._im2col(x, kernel_hw, s, d, pads, out_hw, ones_column)
            np.testing.assert_array_equal(got, expected, err_msg=str((x.shape, kernel_hw, s,
                                                                        d, pads)))


def test_valid_segments_cover_the_outputs_with_the_offsets_inside_the_input():
    from npconv.ops.conv import _valid_segments

    rng = np.random.default_rng(4)
    for _ in range(300):
        n_in, k, s, d, pad = (int(v) for v in (rng.integers(1, 12), rng.integers(1, 6),
                                                rng.integers(1, 4), rng.integers(1, 3),
                                                rng.integers(0, 6)))
        n_out = (n_in + 2 * pad - d * (k - 1) - 1) // s + 1
        if n_out < 1:
            continue
        runs = _valid_segments(n_in, n_out, k, s, d, pad)
        assert [r[0] for r in runs][0] == 0 and runs[-1][1] == n_out
        assert all(a[1] == b[0] for a, b in itertools.pairwise(runs))
        for y0, y1, i0, i1 in runs:
            for y in range(y0, y1):
                inside = [i for i in range(k) if 0 <= y * s + i * d - pad < n_in]
                assert inside == list(range(i0, i1)), (n_in, k, s, d, pad, y)


def test_the_strided_cnn_convs_read_unpadded_inputs_and_match_naive(monkeypatch):
    import npconv.ops.conv as conv_module

    calls = []
    original = conv_module._pad
    monkeypatch.setattr(conv_module, "_pad", lambda *a: calls.append(a[0].shape) or original(*a))
    rng = np.random.default_rng(8)
    for config in [(16, 14, 14, 32, 3, 3, 64, 2, 1, 1, True),   # seed 003's second conv
                   (36, 7, 7, 64, 3, 3, 32, 3, 1, 1, False)]:    # its third, fewer outputs
        x, kernel, bias, kw = _make(config, rng)
        s, pads, d = _pairs(config)
        out, cache = conv2d_forward(x, kernel, bias, **kw)
        assert calls == [], "expected the patches from the unpadded input"
        np.testing.assert_allclose(out, naive_conv_forward(x, kernel, bias, s, pads, d),
                                   rtol=1e-12, atol=1e-12)
        g = rng.standard_normal(out.shape)
        for got, ref in zip(conv2d_backward(g, cache)[:2],
                            naive_conv_backward(g, x, kernel, s, pads, d)[:2], strict=True):
            np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ properties
def test_non_contiguous_input_and_kernel():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((3, 10, 9, 40))
    x = base[::2, ::-2, 1::2, ::2]  # negative and non-unit strides, 20 channels
    kernel = np.asfortranarray(rng.standard_normal((3, 2, 20, 4)))
    assert not x.flags.c_contiguous and not kernel.flags.c_contiguous
    for padding in ("valid", "same", ((1, 0), (0, 2))):
        out, cache = conv2d_forward(x, kernel, None, strides=(1, 2), padding=padding)
        ref, ref_cache = conv2d_forward(np.ascontiguousarray(x), np.ascontiguousarray(kernel),
                                        None, strides=(1, 2), padding=padding)
        np.testing.assert_allclose(out, ref, rtol=1e-13, atol=1e-13)
        g = rng.standard_normal(out.shape)
        g_view = np.asfortranarray(g)
        for a, b in zip(conv2d_backward(g_view, cache)[:2], conv2d_backward(g, ref_cache)[:2],
                        strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_one_by_one_non_contiguous():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 6, 3)).transpose(0, 2, 1, 3)
    kernel = rng.standard_normal((1, 1, 3, 5))
    out, cache = conv2d_forward(x, kernel)
    np.testing.assert_allclose(out, np.einsum("nhwc,cd->nhwd", x, kernel[0, 0]), rtol=1e-13)
    g = rng.standard_normal(out.shape)
    dx, dk, _ = conv2d_backward(g, cache)
    np.testing.assert_allclose(dx, np.einsum("nhwd,cd->nhwc", g, kernel[0, 0]), rtol=1e-12)
    np.testing.assert_allclose(dk[0, 0], np.einsum("nhwc,nhwd->cd", x, g), rtol=1e-12)


@pytest.mark.parametrize("config", [CONFIGS[1], CONFIGS[7], CONFIGS[8], CONFIGS[10]])
def test_backward_idempotent_and_input_preserving(config):
    rng = np.random.default_rng(5)
    x, kernel, bias, kw = _make(config, rng, np.float32)
    saved = [x.copy(), kernel.copy(), bias.copy()]
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    g = rng.standard_normal(out.shape).astype(np.float32)
    g_saved = g.copy()
    first = conv2d_backward(g, cache)
    second = conv2d_backward(g, cache)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a is not b
    np.testing.assert_array_equal(g, g_saved)
    for arr, before in zip((x, kernel, bias), saved, strict=True):
        np.testing.assert_array_equal(arr, before)
    out2, _ = conv2d_forward(x, kernel, bias, **kw)
    np.testing.assert_array_equal(out, out2)


def test_need_dx_false_skips_input_gradient():
    rng = np.random.default_rng(6)
    x, kernel, bias, kw = _make(CONFIGS[1], rng)
    out, cache = conv2d_forward(x, kernel, bias, **kw)
    g = rng.standard_normal(out.shape)
    dx, dk, db = conv2d_backward(g, cache, need_dx=False)
    assert dx is None
    full = conv2d_backward(g, cache)
    np.testing.assert_array_equal(dk, full[1])
    np.testing.assert_array_equal(db, full[2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    rng = np.random.default_rng(8)
    for config in CONFIGS:
        x, kernel, bias, kw = _make(config, rng, dtype)
        out, cache = conv2d_forward(x, kernel, bias, **kw)
        assert out.dtype == dtype
        grads = conv2d_backward(np.ones(out.shape, dtype), cache)
        assert all(gr.dtype == dtype for gr in grads if gr is not None)


def test_float32_close_to_float64():
    rng = np.random.default_rng(9)
    x, kernel, bias, kw = _make(CONFIGS[7], rng)
    out64, _ = conv2d_forward(x, kernel, bias, **kw)
    out32, _ = conv2d_forward(x.astype(np.float32), kernel.astype(np.float32),
                              bias.astype(np.float32), **kw)
    np.testing.assert_allclose(out32, out64, rtol=1e-5, atol=1e-5)


def test_integer_input_is_float32():
    out, _ = conv2d_forward(np.ones((1, 3, 3, 1), dtype=np.int64),
                            np.ones((2, 2, 1, 1), dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.full((1, 2, 2, 1), 4.0))


def test_batch_sizes():
    rng = np.random.default_rng(10)
    kernel = rng.standard_normal((3, 3, 2, 3))
    x = rng.standard_normal((5, 6, 6, 2))
    full, _ = conv2d_forward(x, kernel, strides=2, padding="same")
    for i in range(5):
        single, _ = conv2d_forward(x[i:i + 1], kernel, strides=2, padding="same")
        np.testing.assert_allclose(single[0], full[i], rtol=1e-13, atol=1e-13)


def test_im2col_col2im_are_adjoint():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 5, 6, 3))
    args = dict(kernel_size=(2, 3), strides=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2))
    cols = im2col(x, **args)
    assert cols.shape == (2 * 3 * 5, 2 * 3 * 3)
    y = rng.standard_normal(cols.shape)
    back = col2im(y, x.shape, **args)
    assert back.shape == x.shape
    # <im2col(x), y> == <x, col2im(y)>
    assert np.sum(cols * y) == pytest.approx(np.sum(x * back), rel=1e-12)
    with pytest.raises(ValueError, match="col2im: expected cols of shape"):
        col2im(y[1:], x.shape, **args)


# ------------------------------------------------------------------ errors
def test_errors():
    x = np.zeros((2, 5, 5, 3), dtype=np.float32)
    k = np.zeros((3, 3, 3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"conv2d: expected a 4-D input .* shape \(5, 5, 3\)"):
        conv2d_forward(x[0], k)
    with pytest.raises(ValueError, match="conv2d kernel: expected a 4-D input"):
        conv2d_forward(x, k[0])
    with pytest.raises(ValueError, match="conv2d: the input has 2 channels"):
        conv2d_forward(x[..., :2], k)
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(4,\)"):
        conv2d_forward(x, k, np.zeros(3))
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(4,\)"):
        conv2d_forward(x, k, np.zeros((1, 4)))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d_forward(x[:, :2], k)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv2d_forward(x, k, dilation=3)
    conv2d_forward(x[:, :2], k, padding=1)  # fits once padded
    with pytest.raises(ValueError, match="conv2d: expected strides to be >= 1"):
        conv2d_forward(x, k, strides=0)
    with pytest.raises(ValueError, match="conv2d: expected strides to be >= 1"):
        conv2d_forward(x, k, strides=(1, -1))
    with pytest.raises(ValueError, match="conv2d: expected dilation to be >= 1"):
        conv2d_forward(x, k, dilation=0)
    with pytest.raises(ValueError, match="conv2d: expected strides to be an int or a pair"):
        conv2d_forward(x, k, strides=1.5)
    with pytest.raises(ValueError, match="conv2d: expected padding to be 'valid', 'same'"):
        conv2d_forward(x, k, padding="causal")
    with pytest.raises(ValueError, match="conv2d: expected padding to be >= 0"):
        conv2d_forward(x, k, padding=-1)
    with pytest.raises(ValueError, match="conv2d: expected padding to be >= 0"):
        conv2d_forward(x, k, padding=((0, 0), (1, -2)))
    with pytest.raises(TypeError, match="conv2d: expected a real numeric array"):
        conv2d_forward(x.astype(np.complex64), k)
    out, cache = conv2d_forward(x, k)
    with pytest.raises(ValueError,
                       match=r"conv2d_backward: expected d_out of shape \(2, 3, 3, 4\)"):
        conv2d_backward(np.zeros((2, 3, 3, 1)), cache)
    with pytest.raises(ValueError, match="conv2d_backward: expected d_out of shape"):
        conv2d_backward(np.zeros((1, 3, 3, 4)), cache)
