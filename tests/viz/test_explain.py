"""explain_convolution: the window, padding, im2col row and value of one output pixel agree with
npconv's conv2d and im2col."""

import numpy as np
import pytest

from npconv.ops.conv import conv2d_forward, im2col
from npconv.ops.padding import resolve_padding
from npconv.viz.explain import explain_convolution


def test_seed_000_first_pixel():
    e = explain_convolution((6, 6), 3)
    assert e.value == pytest.approx(7.0)
    np.testing.assert_array_equal(e.im2col_row, [0, 1, 2, 6, 7, 8, 12, 13, 14])
    text = str(e)
    assert "0*0.111 + 1*0.111 + 2*0.111 + 6*0.111" in text
    assert text.rstrip().endswith("= 7")
    assert e.padding_cells.shape == (0, 2)
    assert e.receptive_field == ((0, 3), (0, 3))


def _fits(size, k, s, d, padding):
    pads = resolve_padding(padding, size, k, s, d)
    return all(d[a] * (k[a] - 1) + 1 <= size[a] + sum(pads[a]) for a in range(2))


def _configs():
    rng = np.random.default_rng(1)
    for _ in range(80):
        h, w, c = (int(v) for v in rng.integers(3, 9, size=3) // (1, 1, 2))
        k = tuple(int(v) for v in rng.integers(1, 4, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        d = tuple(int(v) for v in rng.integers(1, 3, size=2))
        padding = ["same", "valid", 1, (0, 2), ((1, 0), (0, 2))][int(rng.integers(5))]
        if _fits((h, w), k, s, d, padding):   # windows larger than the input: error cases
            yield (h, w, max(c, 1)), k, s, d, padding, int(rng.integers(1 << 30))


@pytest.mark.parametrize("shape, k, s, d, padding, seed", list(_configs()))
def test_matches_conv2d_and_im2col(shape, k, s, d, padding, seed):
    h, w, c = shape
    pads = resolve_padding(padding, (h, w), k, s, d)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    kernel = rng.standard_normal(k + (c,))
    out, _ = conv2d_forward(x[None], kernel[..., None], None, s, padding, d)
    cols = im2col(x[None], k, s, padding, d)
    oh, ow = out.shape[1:3]
    i, j = int(rng.integers(oh)), int(rng.integers(ow))
    e = explain_convolution(shape, k, s, padding, d, (i, j), x=x, kernel=kernel)
    assert e.output_shape == (oh, ow)
    assert e.pads == pads
    assert e.im2col_row_index == i * ow + j
    np.testing.assert_allclose(e.im2col_row, cols[i * ow + j], rtol=0, atol=0)
    assert e.value == pytest.approx(out[0, i, j, 0], rel=1e-12, abs=1e-12)
    (top, _), (left, _) = pads
    inside = ((e.input_cells[:, 0] >= 0) & (e.input_cells[:, 0] < h)
              & (e.input_cells[:, 1] >= 0) & (e.input_cells[:, 1] < w))
    assert len(e.padding_cells) == int((~inside).sum())
    # padding cells contribute zeros to the im2col row
    assert np.all(e.im2col_row.reshape(-1, c)[~inside] == 0)
    if inside.any():
        rows = e.input_cells[inside, 0]
        assert e.receptive_field[0] == (rows.min(), rows.max() + 1)


@pytest.mark.parametrize("h, k, s, expected", [
    (6, 3, 2, (0, 1)), (7, 3, 2, (1, 1)), (5, 4, 3, (1, 1)), (6, 1, 2, (0, 0)),
    (10, 5, 3, (2, 2)), (11, 5, 3, (1, 2)),
])
def test_same_padding_at_stride_above_one(h, k, s, expected):
    e = explain_convolution((h, h), k, strides=s, padding="same")
    assert e.pads == (expected, expected)
    assert e.pads_tblr == expected + expected
    assert e.output_shape == (-(-h // s),) * 2
    text = str(e)
    assert f"(top, bottom, left, right) padding = {expected + expected}" in text
    assert f"ceil({h}/{s})" in text


def test_negative_index_and_errors():
    e = explain_convolution((6, 6), 3, output_index=(-1, -1))
    assert e.output_index == (3, 3)
    with pytest.raises(ValueError, match="explain_convolution: the output is 4x4"):
        explain_convolution((6, 6), 3, output_index=(4, 0))
    with pytest.raises(ValueError, match="input_shape"):
        explain_convolution((6,), 3)
    with pytest.raises(ValueError, match="kernel of shape"):
        explain_convolution((6, 6), 3, kernel=np.ones((2, 2)))


def test_png(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    e = explain_convolution((6, 6), 3, strides=2, padding="same", output_index=(2, 2))
    path = e.to_png(tmp_path / "explain.png")
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == e.to_image().size
        assert im.size[1] > 7 * 34   # the 7x7 padded grid is drawn
