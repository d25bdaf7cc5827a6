"""affine_transform ops: the naive per-pixel loop (tests/naive_affine.py) and
scipy.ndimage.map_coordinates as references for every interpolation and fill mode, known
values (identity, integer shifts, Keras's fill pictures), finite differences of the backward,
the contracts (dtype kept, inputs never modified, backward twice the same), bad inputs."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from npconv.ops.affine import (
    FILL_MODES,
    affine_transform_backward,
    affine_transform_forward,
    source_coordinates,
)
from tests.finite_differences import central_differences
from tests.naive_affine import affine_backward, affine_forward

INTERPOLATIONS = ["bilinear", "nearest"]
IDENTITY = np.array([1.0, 0, 0, 0, 1, 0, 0, 0])
# scipy.ndimage's names for the same extensions (its "constant" and "wrap" are others)
SCIPY_MODES = {"reflect": "reflect", "wrap": "grid-wrap", "nearest": "nearest",
               "mirror": "mirror", "constant": "grid-constant"}


def random_transforms(rng, n, h, w, projective=False):
    """Rotations, scales, shears and shifts that send some points far outside the image."""
    angle = rng.uniform(-np.pi, np.pi, n)
    scale = rng.uniform(0.5, 1.8, (2, n))
    t = np.zeros((n, 8))
    t[:, 0], t[:, 1] = scale[0] * np.cos(angle), -np.sin(angle) + rng.uniform(-0.3, 0.3, n)
    t[:, 3], t[:, 4] = np.sin(angle), scale[1] * np.cos(angle)
    t[:, 2] = rng.uniform(-1.5, 1.5, n) * w
    t[:, 5] = rng.uniform(-1.5, 1.5, n) * h
    if projective:
        t[:, 6:] = rng.uniform(-0.02, 0.02, (n, 2))
    return t


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_matches_the_naive_loop(interpolation, fill_mode):
    rng = np.random.default_rng(zlib.crc32(f"{interpolation} {fill_mode}".encode()))
    for trial in range(6):
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(1, 7)),
                 int(rng.integers(1, 4)))
        x = rng.standard_normal(shape)
        t = random_transforms(rng, shape[0], shape[1], shape[2], projective=trial % 2 == 1)
        fill = float(rng.uniform(-2, 2))
        out, cache = affine_transform_forward(x, t, interpolation, fill_mode, fill)
        msg = f"{interpolation} {fill_mode} shape={shape}"
        np.testing.assert_allclose(out, affine_forward(x, t, interpolation, fill_mode, fill),
                                   rtol=1e-12, atol=1e-12, err_msg=msg)
        d = rng.standard_normal(shape)
        np.testing.assert_allclose(affine_transform_backward(d, cache),
                                   affine_backward(d, t, interpolation, fill_mode),
                                   rtol=1e-12, atol=1e-12, err_msg=msg)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_matches_scipy_map_coordinates(interpolation, fill_mode):
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 9, 11, 2))
    t = random_transforms(rng, 3, 9, 11)
    out, _ = affine_transform_forward(x, t, interpolation, fill_mode, 0.3)
    x_in, y_in = source_coordinates(t, 9, 11)
    order = {"bilinear": 1, "nearest": 0}[interpolation]
    ref = np.array([[ndimage.map_coordinates(x[b, :, :, ch], [y_in[b], x_in[b]], order=order,
                                             mode=SCIPY_MODES[fill_mode], cval=0.3)
                     for ch in range(2)] for b in range(3)]).transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identity_is_exact_and_keeps_the_dtype(interpolation, fill_mode, dtype):
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 3)).astype(dtype)
    out, cache = affine_transform_forward(x, IDENTITY, interpolation, fill_mode, 9.0)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, x)
    d = np.random.default_rng(2).standard_normal(x.shape).astype(dtype)
    dx = affine_transform_backward(d, cache)
    assert dx.dtype == dtype
    np.testing.assert_array_equal(dx, d)


def test_the_fill_modes_draw_keras_pictures():
    # one row a b c d (1, 2, 3, 4) read at x = -4 .. 7: shift right by 4 (a2 = -4)
    row = np.array([1.0, 2, 3, 4]).reshape(1, 1, 4, 1)
    t = np.array([1.0, 0, -4, 0, 1, 0, 0, 0])

    def read(mode):   # output pixel 0 reads x_in = a2 (nearest: the pixel itself)
        return [affine_transform_forward(row, [1, 0, a2, 0, 1, 0, 0, 0], "nearest", mode,
                                         9)[0][0, 0, 0, 0] for a2 in np.arange(12) - 4.0]

    assert read("reflect") == [4, 3, 2, 1, 1, 2, 3, 4, 4, 3, 2, 1]
    assert read("wrap") == [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]
    assert read("nearest") == [1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 4, 4]
    assert read("mirror") == [3, 4, 3, 2, 1, 2, 3, 4, 3, 2, 1, 2]
    assert read("constant") == [9, 9, 9, 9, 1, 2, 3, 4, 9, 9, 9, 9]
    # a whole-image shift by 4: the output's left half is the fill
    img = np.arange(8.0).reshape(1, 1, 8, 1)
    out, _ = affine_transform_forward(img, t, "bilinear", "constant", -1)
    np.testing.assert_array_equal(out[0, 0, :, 0], [-1, -1, -1, -1, 0, 1, 2, 3])
    out, _ = affine_transform_forward(img, t, "bilinear", "wrap")
    np.testing.assert_array_equal(out[0, 0, :, 0], np.roll(np.arange(8.0), 4))


def test_bilinear_blends_the_edge_with_the_fill_value_and_halves_round_away_from_zero():
    img = np.array([2.0, 4.0]).reshape(1, 1, 2, 1)
    half_left = [1, 0, -0.5, 0, 1, 0, 0, 0]   # reads x = -0.5, 0.5
    out, _ = affine_transform_forward(img, half_left, "bilinear", "constant", 10.0)
    np.testing.assert_allclose(out[0, 0, :, 0], [6.0, 3.0])
    out, _ = affine_transform_forward(img, half_left, "bilinear", "reflect")
    np.testing.assert_allclose(out[0, 0, :, 0], [2.0, 3.0])
    out, _ = affine_transform_forward(img, half_left, "bilinear", "wrap")
    np.testing.assert_allclose(out[0, 0, :, 0], [3.0, 3.0])
    out, _ = affine_transform_forward(img, half_left, "nearest", "constant", 10.0)
    np.testing.assert_allclose(out[0, 0, :, 0], [10.0, 4.0])   # -0.5 -> -1, 0.5 -> 1


def test_rotation_by_a_quarter_turn_about_the_centre_is_rot90():
    x = np.random.default_rng(3).standard_normal((2, 5, 5, 2))
    # Keras's RandomRotation matrix for angle pi/2 on a 5x5 image: x_in = -y + 4, y_in = x,
    # a counter-clockwise quarter turn as Keras's docs say (np.rot90's k=1)
    t = np.array([0.0, -1, 4, 1, 0, 0, 0, 0])
    out, _ = affine_transform_forward(x, t, "bilinear", "constant")
    np.testing.assert_allclose(out, np.rot90(x, k=1, axes=(1, 2)), atol=1e-15)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_backward_matches_finite_differences(interpolation, fill_mode):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 5, 2))
    t = random_transforms(rng, 2, 4, 5, projective=True)
    r = rng.standard_normal(x.shape)

    def f():
        return float(np.sum(affine_transform_forward(x, t, interpolation, fill_mode, 0.7)[0]
                            * r))

    numeric = central_differences(f, x)
    _, cache = affine_transform_forward(x, t, interpolation, fill_mode, 0.7)
    np.testing.assert_allclose(affine_transform_backward(r, cache), numeric,
                               rtol=1e-6, atol=1e-8)


def test_backward_is_the_adjoint_never_modifies_d_out_and_repeats():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 7, 4)).astype(np.float32)
    x_copy = x.copy()
    t = random_transforms(rng, 3, 6, 7)
    out, cache = affine_transform_forward(x, t, "bilinear", "reflect")
    np.testing.assert_array_equal(x, x_copy)
    d = rng.standard_normal(out.shape).astype(np.float32)
    d_copy = d.copy()
    dx = affine_transform_backward(d, cache)
    np.testing.assert_array_equal(d, d_copy)
    np.testing.assert_array_equal(affine_transform_backward(d, cache), dx)
    np.testing.assert_allclose(np.sum(d.astype(np.float64) * out),
                               np.sum(dx.astype(np.float64) * x), rtol=1e-5)
    assert dx.dtype == np.float32 and not np.shares_memory(dx, d)


def test_non_contiguous_and_integer_images():
    x = np.random.default_rng(6).standard_normal((2, 3, 5, 4))   # NCHW
    t = random_transforms(np.random.default_rng(6), 2, 5, 4)
    out, _ = affine_transform_forward(x.transpose(0, 2, 3, 1), t, "bilinear", "nearest")
    ref, _ = affine_transform_forward(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), t,
                                      "bilinear", "nearest")
    np.testing.assert_array_equal(out, ref)
    ints = np.arange(24).reshape(1, 4, 6, 1)
    out, _ = affine_transform_forward(ints, IDENTITY, "nearest", "constant")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ints)


def test_points_at_infinity_read_the_fill_value():
    x = np.ones((1, 3, 3, 1))
    t = np.array([1.0, 0, 0, 0, 1, 0, -1.0, 0])   # k = 1 - x: zero at x = 1
    out, cache = affine_transform_forward(x, t, "bilinear", "reflect", 5.0)
    np.testing.assert_array_equal(out[0, :, 1, 0], [5.0, 5.0, 5.0])
    assert np.isfinite(out).all()
    dx = affine_transform_backward(np.ones_like(out), cache)
    assert np.isfinite(dx).all()


def test_bad_arguments_are_named():
    x = np.zeros((2, 3, 3, 1))
    with pytest.raises(ValueError, match="affine_transform_forward: expected interpolation "
                                         "to be one of"):
        affine_transform_forward(x, IDENTITY, "bicubic")
    with pytest.raises(ValueError, match="expected fill_mode to be one of"):
        affine_transform_forward(x, IDENTITY, "bilinear", "edge")
    with pytest.raises(ValueError, match=r"expected transforms of shape \(8,\) or \(batch, 8\) "
                                         r"= \(2, 8\).*Received transforms of shape \(3, 8\)"):
        affine_transform_forward(x, np.zeros((3, 8)))
    with pytest.raises(ValueError, match="expected a 4-D input"):
        affine_transform_forward(np.zeros((3, 3)), IDENTITY)
    with pytest.raises(ValueError, match="expected fill_value to be a number"):
        affine_transform_forward(x, IDENTITY, fill_value="zero")
    _, cache = affine_transform_forward(x, IDENTITY)
    with pytest.raises(ValueError, match=r"expected d_out of shape \(2, 3, 3, 1\)"):
        affine_transform_backward(np.zeros((2, 3, 3, 2)), cache)
