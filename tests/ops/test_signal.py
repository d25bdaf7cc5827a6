"""Seed 001's convolution examples, and agreement with numpy.convolve / scipy.signal."""

import numpy as np
import pytest

from npconv.ops.signal import convolve, convolve2d, correlate2d

MODES = ["full", "same", "valid"]


# ------------------------------------------------------------------ seed 001's printed results
def test_seed001_simple_convolution():
    out = convolve(np.array([1, 2, 3]), np.array([4, 5]), mode="full")
    np.testing.assert_array_equal(out, [4, 13, 22, 15])
    assert out.dtype.kind == "i"  # integers stay integers, as in numpy
    assert f"{out}" == "[ 4 13 22 15]"


def test_seed001_two_dice():
    die = np.array([1 / 6] * 6)
    sum_two_dice = convolve(die, die, mode="full")
    np.testing.assert_allclose(
        sum_two_dice,
        [0.02777778, 0.05555556, 0.08333333, 0.11111111, 0.13888889, 0.16666667,
         0.13888889, 0.11111111, 0.08333333, 0.05555556, 0.02777778],
        atol=5e-9,
    )
    np.testing.assert_allclose(sum_two_dice, np.array([1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1]) / 36)


def test_seed001_die_and_biased_coin():
    die = np.array([1 / 6] * 6)
    sum_pr = convolve(die, [0.3, 0.7], mode="full")
    np.testing.assert_allclose(
        sum_pr,
        [0.05, 0.16666667, 0.16666667, 0.16666667, 0.16666667, 0.16666667, 0.11666667],
        atol=5e-9,
    )
    assert np.sum(sum_pr) == pytest.approx(1.0, abs=1e-15)


def test_seed001_3x3_image():
    image = np.array([[1, 2, 1], [0, 1, 0], [2, 1, 3]])
    kernel = np.array([[1, 0], [-1, 1]])
    np.testing.assert_array_equal(convolve2d(image, kernel, mode="valid"), [[0, 1], [0, 4]])
    np.testing.assert_array_equal(correlate2d(image, kernel, mode="valid"), [[2, 1], [-1, 3]])


def test_seed001_5x5_image():
    image = np.array([
        [1, 2, 3, 0, 1],
        [0, 1, 2, 3, 4],
        [1, 0, 1, 2, 3],
        [0, 1, 0, 1, 2],
        [3, 2, 1, 0, 1],
    ])
    kernel = np.array([[1, 0], [-1, 1]])
    np.testing.assert_array_equal(
        convolve2d(image, kernel, mode="valid"),
        [[0, 1, 6, 3], [-1, 0, 1, 2], [2, -1, 0, 1], [1, 2, -1, 0]],
    )
    np.testing.assert_array_equal(
        correlate2d(image, kernel, mode="valid"),
        [[2, 3, 4, 1], [-1, 2, 3, 4], [2, -1, 2, 3], [-1, 0, -1, 2]],
    )


def test_seed001_diagonal_kernels():
    image = np.eye(5, dtype=int)
    np.testing.assert_array_equal(correlate2d(image, np.array([[1, 0], [0, 1]]), "valid"),
                                  2 * np.eye(4, dtype=int))
    np.testing.assert_array_equal(
        correlate2d(image, np.array([[1, 1], [1, 1]]), "valid"),
        [[2, 1, 0, 0], [1, 2, 1, 0], [0, 1, 2, 1], [0, 0, 1, 2]],
    )
    np.testing.assert_array_equal(correlate2d(image, np.zeros((2, 2), int), "valid"),
                                  np.zeros((4, 4)))
    # the anti-diagonal kernel never sees two diagonal pixels at once
    np.testing.assert_array_equal(
        correlate2d(image, np.array([[0, 1], [1, 0]]), "valid"),
        [[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]],
    )


# ------------------------------------------------------------------ against numpy / scipy
@pytest.mark.parametrize("mode", MODES)
def test_convolve_matches_numpy(mode):
    rng = np.random.default_rng(0)
    for _ in range(150):
        m, n = rng.integers(1, 12, size=2)
        a, v = rng.standard_normal(m), rng.standard_normal(n)
        expected = np.convolve(a, v, mode=mode)
        got = convolve(a, v, mode=mode)
        assert got.shape == expected.shape, (m, n)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    ints = rng.integers(-5, 6, size=7), rng.integers(-5, 6, size=4)
    np.testing.assert_array_equal(convolve(*ints, mode=mode), np.convolve(*ints, mode=mode))


@pytest.mark.parametrize("mode", MODES)
def test_2d_match_scipy(mode):
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(150):
        h, w, kh, kw = rng.integers(1, 8, size=4)
        image, kernel = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
        for ours, theirs in ((convolve2d, signal.convolve2d), (correlate2d, signal.correlate2d)):
            try:
                expected = theirs(image, kernel, mode=mode)
            except ValueError:  # 'valid' with neither input larger in both axes
                with pytest.raises(ValueError, match="at least as large"):
                    ours(image, kernel, mode=mode)
                continue
            got = ours(image, kernel, mode=mode)
            assert got.shape == expected.shape, (ours.__name__, h, w, kh, kw)
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
            checked += 1
    assert checked > 150


def test_2d_integers_stay_integers():
    signal = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(2)
    image, kernel = rng.integers(-9, 10, (6, 5)), rng.integers(-3, 4, (3, 2))
    for mode in MODES:
        got = convolve2d(image, kernel, mode)
        assert got.dtype.kind == "i"
        np.testing.assert_array_equal(got, signal.convolve2d(image, kernel, mode))
        np.testing.assert_array_equal(correlate2d(image, kernel, mode),
                                      signal.correlate2d(image, kernel, mode))


def test_convolution_is_flipped_correlation():
    rng = np.random.default_rng(3)
    image, kernel = rng.standard_normal((6, 7)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(convolve2d(image, kernel), correlate2d(image, kernel[::-1, ::-1]))


def test_inputs_not_modified():
    image = np.arange(20.0).reshape(4, 5)
    kernel = np.array([[1.0, -1.0], [2.0, 0.5]])
    before = image.copy(), kernel.copy()
    convolve2d(image, kernel, "same")
    correlate2d(image, kernel, "full")
    np.testing.assert_array_equal(image, before[0])
    np.testing.assert_array_equal(kernel, before[1])


# ------------------------------------------------------------------ errors
def test_errors():
    with pytest.raises(ValueError, match="convolve: expected mode"):
        convolve([1, 2], [1], mode="circular")
    with pytest.raises(ValueError, match="convolve: expected a to be non-empty"):
        convolve([], [1])
    with pytest.raises(ValueError, match="1-D"):
        convolve(np.ones((2, 2)), [1])
    with pytest.raises(ValueError, match="convolve2d: expected in1 to be a 2-D"):
        convolve2d(np.ones(3), np.ones((2, 2)))
    with pytest.raises(ValueError, match="correlate2d: expected in2 to be a 2-D"):
        correlate2d(np.ones((3, 3)), np.ones((2, 2, 1)))
    with pytest.raises(ValueError, match="at least as large"):
        correlate2d(np.ones((3, 5)), np.ones((4, 2)), mode="valid")
    with pytest.raises(TypeError, match="real numeric"):
        correlate2d(np.array([["a"]]), np.ones((1, 1)))
