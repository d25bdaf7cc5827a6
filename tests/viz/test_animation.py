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
ImageSequence = pytest.importorskip("PIL.ImageSequence")


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


@pytest.mark.parametrize("name, fmt", [("anim.png", "PNG"), ("anim.APNG", "PNG"),
                                       ("anim.webp", "WEBP")])
def test_the_extension_chooses_the_animation_format(tmp_path, name, fmt):
    """A .png path got GIF bytes; the format now follows the extension, as for the plots."""
    if fmt == "WEBP":
        from PIL import features

        if not features.check("webp"):
            pytest.skip("this Pillow has no WebP support")
    path = animate_convolution(6, 3, stride=2, path=tmp_path / name)
    if fmt == "PNG":  # the GIF's frames: the same 48-colour palette
        gif = animate_convolution(6, 3, stride=2, path=tmp_path.parent / f"{tmp_path.name}.gif")
        with Image.open(gif) as im:
            expected = [np.asarray(im.convert("RGB")) for _ in ImageSequence.Iterator(im)]
    else:  # lossless WebP: the RGB frames themselves
        expected = [np.asarray(f) for f in animate_convolution(6, 3, stride=2)]
    with Image.open(path) as im:
        assert im.format == fmt and im.n_frames == 4 and getattr(im, "is_animated", False)
        for k, frame in enumerate(expected):
            im.seek(k)
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), frame)
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert animate_pooling(4, 2, path=tmp_path / "pool.png").endswith("pool.png")


@pytest.mark.parametrize("name", ["anim.xyz", "anim", "anim.jpg"])
def test_an_extension_that_is_no_animation_format_is_a_clear_error(tmp_path, name):
    for animate in (animate_convolution, animate_pooling):
        with pytest.raises(ValueError, match=rf"{animate.__name__}: cannot tell the animation "
                                             r"format .*\.gif, \.png or \.apng .* or \.webp"):
            animate(6, 2, path=tmp_path / name)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- large inputs
# The peak resident memory of this process since its exec: /proc's VmHWM (ru_maxrss would
# also count the forked copy of the parent, i.e. pytest's own size).
_LARGE = """
import sys
from npconv.viz.animation import animate_convolution
animate_convolution(64, 3, stride=8, path=sys.argv[1])
with open("/proc/self/status") as f:
    print(next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) // 1024)
"""


def test_a_large_input_is_drawn_smaller_and_streamed_with_bounded_memory(tmp_path):
    """Every frame was kept as RGB plus a quantized copy at 34-pixel cells: a 40x40 input was
    OOM-killed. This 64x64 input (64 frames of 2654x2312 pixels before: ~1.6 GB) must stay
    small: frames of at most MAX_FRAME_PIXELS, drawn and encoded one at a time."""
    import os
    import subprocess
    import sys

    if not os.path.exists("/proc/self/status"):
        pytest.skip("needs Linux's /proc/self/status to measure peak memory")
    path = tmp_path / "large.gif"
    done = subprocess.run([sys.executable, "-c", _LARGE, str(path)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    peak_mib = int(done.stdout.split()[-1])
    assert peak_mib < 300, f"peak memory {peak_mib} MiB"
    from npconv.viz.animation import MAX_FRAME_PIXELS

    n, (width, height) = _read_gif(path)
    assert n == 8 * 8
    assert width * height <= MAX_FRAME_PIXELS and width > 1000
    with Image.open(path) as im:  # the last frame: every output cell written
        im.seek(n - 1)
        last = np.asarray(im.convert("RGB"))
    assert last.shape == (height, width, 3) and len(np.unique(last.reshape(-1, 3), axis=0)) > 4


def test_absurd_sizes_are_refused_before_drawing(tmp_path):
    from npconv.viz.animation import MAX_FRAMES, draw_frames

    with pytest.raises(ValueError, match=f"39,204 frames .* more than the {MAX_FRAMES:,}"):
        animate_convolution(200, 3, path=tmp_path / "a.gif")
    with pytest.raises(ValueError, match="too large to draw: even with 4-pixel cells"):
        animate_convolution(300, 3, stride=100, path=tmp_path / "b.gif")
    with pytest.raises(ValueError, match="give path= to write the GIF frame by frame"):
        draw_frames(conv_animation_frames(40, 3))   # 1444 frames as a list: ~6 GiB
    with pytest.raises(ValueError, match="cell"):
        animate_convolution(6, 3, cell=0)
    assert list(tmp_path.iterdir()) == []


def test_larger_inputs_get_smaller_cells_and_numbers():
    from npconv.viz.animation import MAX_FRAME_PIXELS, _layout, iter_frames

    anim = conv_animation_frames(40, 3, stride=18)   # 3x3 output: 9 frames
    frames = list(iter_frames(anim))
    assert len(frames) == 9
    width, height = frames[0].size
    assert width * height <= MAX_FRAME_PIXELS
    assert all(f.size == (width, height) for f in frames)
    layout = _layout(anim, 34, 12)
    assert layout.cell < 34 and layout.fit_labels and layout.cell_font_size < 11
    seed = _layout(conv_animation_frames(6, 3), 34, 12)   # the seed's size: as asked
    assert (seed.cell, seed.cell_font_size, seed.fit_labels) == (34, 11, False)
    assert next(iter_frames(conv_animation_frames(6, 3))).size == (687, 340)


def test_gif_writer_round_trips_every_frame(tmp_path):
    """The streaming writer: changed boxes with transparent unchanged pixels, local colour
    tables, an identical frame folded into the previous one's duration."""
    import io

    from PIL import ImageDraw

    from npconv.viz._gif import GifWriter

    base = Image.new("RGB", (120, 70), (255, 255, 255))
    ImageDraw.Draw(base).text((4, 4), "npconv 123", fill=(30, 30, 30))
    frames = []
    for k in range(5):
        im = base.copy()
        draw = ImageDraw.Draw(im)
        draw.rectangle((5 + 20 * k, 30, 20 + 20 * k, 45), fill=(255, 196, 110),
                       outline=(214, 110, 0), width=3)
        draw.text((4, 55), f"out = {k * k}", fill=(30, 30, 30))
        frames.append(im)
    frames.insert(3, frames[2].copy())   # shown twice as long
    palette = frames[-1].quantize(colors=48, dither=Image.Dither.NONE)
    quantized = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    buf = io.BytesIO()
    writer = GifWriter(buf, base.size, duration_ms=300)
    for q in quantized:
        writer.add(q)
    writer.close()
    assert writer.frames == 5
    with Image.open(io.BytesIO(buf.getvalue())) as gif:
        assert gif.n_frames == 5 and gif.info["loop"] == 0
        expected = [q for i, q in enumerate(quantized) if i != 3]
        for i, want in enumerate(expected):
            gif.seek(i)
            np.testing.assert_array_equal(np.asarray(gif.convert("RGB")),
                                          np.asarray(want.convert("RGB")))
            assert gif.info["duration"] == (600 if i == 2 else 300)


def test_the_title_fits_in_the_frame():
    """A pooling window with 'same' padding on one side only has a long title ("padding (top
    0, bottom 1, left 0, right 1)"); the frame was sized for the grids and the sums only, and
    the title ran off its right edge ("right 1)" was cut)."""
    from npconv.viz._util import load_font
    from npconv.viz.animation import _title, iter_frames

    anim = conv_animation_frames(5, 2, stride=2, padding="same", mode="max")
    frame = np.asarray(next(iter_frames(anim)).convert("L"))
    title_width = load_font(12).getlength(_title(anim))
    assert frame.shape[1] >= 16 + title_width + 8
    band = frame[6:26]                        # the title's line
    ink = np.nonzero((band < 200).any(axis=0))[0]
    assert ink.max() < frame.shape[1] - 8     # a white margin after the title's last letter
