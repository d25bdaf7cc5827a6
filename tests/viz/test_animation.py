"""conv_animation_frames: windows follow stride, padding and dilation; values equal npconv's ops.
animate_convolution / animate_pooling: GIFs with one frame per output pixel."""

import itertools

import numpy as np
import pytest

from npconv.ops.conv import conv2d_forward
from npconv.ops.padding import conv_output_size, resolve_padding
from npconv.ops.pool import avg_pool2d_forward, max_pool2d_forward
from npconv.viz.animation import (
    animate_convolution,
    animate_pooling,
    conv_animation_frames,
    output_size_formula,
)

Image = pytest.importorskip("PIL.Image")


def test_seed_000_first_window_is_the_average_7():
    anim = conv_animation_frames(6, 3)
    np.testing.assert_array_equal(anim.values, np.arange(36).reshape(6, 6))
    np.testing.assert_allclose(anim.kernel, np.full((3, 3), 1 / 9))
    assert anim.output_shape == (4, 4)
    first = anim.frames[0]
    assert first.output_index == (0, 0)
    assert [tuple(c) for c in first.cells] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2),
                                               (2, 0), (2, 1), (2, 2)]
    assert first.value == pytest.approx(7.0)
    assert anim.formulas[0] == "H_out = floor((6 + 2*0 - 1*(3-1) - 1)/1) + 1 = 4"


def _fits(size, k, s, d, padding):
    pads = resolve_padding(padding, size, k, s, d)
    return all(d[a] * (k[a] - 1) + 1 <= size[a] + sum(pads[a]) for a in range(2))


def _configs():
    rng = np.random.default_rng(0)
    for _ in range(60):
        h, w = rng.integers(3, 9, size=2)
        k = tuple(int(v) for v in rng.integers(1, 4, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        d = tuple(int(v) for v in rng.integers(1, 3, size=2))
        padding = [0, 1, (2, 1), ((0, 1), (2, 0)), "same", "valid"][int(rng.integers(6))]
        if _fits((int(h), int(w)), k, s, d, padding):   # windows larger than the input: errors
            yield (int(h), int(w)), k, s, d, padding, int(rng.integers(1 << 30))


@pytest.mark.parametrize("size, k, s, d, padding, seed", list(_configs()))
def test_windows_and_values_match_conv2d(size, k, s, d, padding, seed):
    (h, w) = size
    pads = resolve_padding(padding, size, k, s, d)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(size)
    kernel = rng.standard_normal(k)
    anim = conv_animation_frames(size, k, s, padding, d, values=x, kernel=kernel)
    out, _ = conv2d_forward(x[None, :, :, None], kernel[:, :, None, None], None, s, padding, d)
    out = out[0, :, :, 0]
    assert anim.output_shape == out.shape
    assert anim.output_shape == conv_output_size(size, k, s, pads, d)
    assert len(anim.frames) == out.shape[0] * out.shape[1]
    np.testing.assert_array_equal(
        anim.output_indices, list(itertools.product(range(out.shape[0]), range(out.shape[1]))))
    np.testing.assert_allclose(anim.frame_values, out.reshape(-1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(anim.output, out, rtol=1e-12, atol=1e-12)
    # every window: taps at i*s + a*d, j*s + b*d in padded coordinates, in kernel order
    (top, bottom), (left, right) = pads
    assert anim.padded.shape == (h + top + bottom, w + left + right)
    assert anim.is_padding.sum() == anim.padded.size - h * w
    for f in anim.frames:
        i, j = f.output_index
        expected = [(i * s[0] + a * d[0], j * s[1] + b * d[1])
                    for a in range(k[0]) for b in range(k[1])]
        assert [tuple(c) for c in f.cells] == expected


@pytest.mark.parametrize("mode, op", [("max", max_pool2d_forward), ("average", avg_pool2d_forward)])
@pytest.mark.parametrize("size, pool, stride, padding", [
    (6, 2, None, "valid"), (5, 2, None, "same"), (7, 3, 2, "same"), ((5, 6), (2, 3), 1, "valid"),
])
def test_pooling_values_match_the_pool_ops(mode, op, size, pool, stride, padding):
    rng = np.random.default_rng(3)
    hw = (size, size) if isinstance(size, int) else size
    x = rng.standard_normal(hw)
    anim = conv_animation_frames(size, pool, pool if stride is None else stride, padding,
                                 values=x, mode=mode)
    out, _ = op(x[None, :, :, None], pool, stride, padding)
    assert anim.kernel is None
    assert anim.output_shape == out.shape[1:3]
    np.testing.assert_allclose(anim.frame_values, out.reshape(-1), rtol=1e-12)


def test_formula_with_values():
    assert (output_size_formula(6, 3, 2, (1, 1), 2)
            == "out = floor((6 + 2*1 - 2*(3-1) - 1)/2) + 1 = 2")
    assert (output_size_formula(6, 3, 2, (0, 1), 1, "W_out")
            == "W_out = floor((6 + 0+1 - 1*(3-1) - 1)/2) + 1 = 3")


def test_errors():
    with pytest.raises(ValueError, match="conv_animation_frames: expected values of shape"):
        conv_animation_frames(6, 3, values=np.zeros((5, 5)))
    with pytest.raises(ValueError, match="kernel of shape"):
        conv_animation_frames(6, 3, kernel=np.ones((2, 2)))
    with pytest.raises(ValueError, match="window spans"):
        conv_animation_frames(4, 3, dilation=2)
    with pytest.raises(ValueError, match="no dilation"):
        conv_animation_frames(6, 2, mode="max", dilation=2)
    with pytest.raises(ValueError, match="padding"):
        conv_animation_frames(6, 2, padding=1, mode="max")
    with pytest.raises(ValueError, match="mode"):
        conv_animation_frames(6, 2, mode="median")


def _read_gif(path):
    with Image.open(path) as im:
        assert im.format == "GIF"
        return im.n_frames, im.size


@pytest.mark.parametrize("kwargs, frames", [
    ({}, 16), ({"stride": 2}, 4), ({"padding": 1}, 36), ({"dilation": 2}, 4),
    ({"stride": 2, "padding": 1, "dilation": 2}, 4), ({"padding": "same", "stride": 2}, 9),
])
def test_gif_has_one_frame_per_output_pixel(tmp_path, kwargs, frames):
    path = animate_convolution(6, 3, path=tmp_path / "conv.gif", **kwargs)
    assert path == str(tmp_path / "conv.gif")
    n, (width, height) = _read_gif(path)
    assert n == frames
    assert width > 300 and height > 300
    assert (tmp_path / "conv.gif").stat().st_size < 300_000
    assert [p.name for p in tmp_path.iterdir()] == ["conv.gif"]   # no temporary file left
    assert (tmp_path / "conv.gif").stat().st_mode & 0o044   # readable by others, not 0600


def test_frames_show_the_window(tmp_path):
    images = animate_convolution(6, 3, stride=2, padding=1, dilation=2)
    assert len(images) == 4
    assert all(im.size == images[0].size and im.mode == "RGB" for im in images)
    # consecutive frames differ (the window moves and a new output cell appears)
    for a, b in zip(images, images[1:], strict=False):
        assert np.any(np.asarray(a) != np.asarray(b))


@pytest.mark.parametrize("mode", ["max", "average"])
def test_pooling_gif(tmp_path, mode):
    path = animate_pooling(6, 2, mode=mode, path=tmp_path / "pool.gif")
    assert _read_gif(path)[0] == 9
    assert len(animate_pooling(5, 2, padding="same", mode=mode)) == 9
