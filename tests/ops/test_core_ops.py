"""ops.core: dense, flatten, dropout."""

import numpy as np
import pytest

from npconv.ops.core import (
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    flatten_backward,
    flatten_forward,
)
from tests.finite_differences import central_differences

RNG = np.random.default_rng(99)


def numeric_grad(f, x, d_out, eps=1e-6):
    """Central differences of ``sum(f() * d_out)`` with respect to ``x`` (float64)."""
    return central_differences(lambda: np.sum(f() * d_out), x, eps)


# ---------------------------------------------------------------------------- dense
@pytest.mark.parametrize("x_shape", [(4, 3), (2, 3, 3), (2, 2, 3, 3)])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_backward_matches_finite_differences(x_shape, use_bias):
    x = RNG.standard_normal(x_shape)
    kernel = RNG.standard_normal((3, 5))
    bias = RNG.standard_normal(5) if use_bias else None
    out, cache = dense_forward(x, kernel, bias)
    assert out.shape == x_shape[:-1] + (5,)
    np.testing.assert_allclose(out, np.einsum("...i,io->...o", x, kernel)
                               + (bias if use_bias else 0))
    d_out = RNG.standard_normal(out.shape)
    dx, dk, db = dense_backward(d_out, cache)

    def f():
        return dense_forward(x, kernel, bias)[0]

    np.testing.assert_allclose(dx, numeric_grad(f, x, d_out), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dk, numeric_grad(f, kernel, d_out), rtol=1e-6, atol=1e-8)
    if use_bias:
        np.testing.assert_allclose(db, numeric_grad(f, bias, d_out), rtol=1e-6, atol=1e-8)
    else:
        assert db is None


def test_dense_float32_kept_and_backward_pure():
    x = RNG.standard_normal((4, 3)).astype(np.float32)
    kernel = RNG.standard_normal((3, 2)).astype(np.float32)
    bias = np.ones(2, np.float32)
    copies = [x.copy(), kernel.copy(), bias.copy()]
    out, cache = dense_forward(x, kernel, bias)
    assert out.dtype == np.float32
    d_out = np.ones_like(out)
    g1, g2 = dense_backward(d_out, cache), dense_backward(d_out, cache)
    for a, b in zip(g1, g2, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    for a, b in zip((x, kernel, bias), copies, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(d_out, 1)


def test_dense_bad_shapes():
    with pytest.raises(ValueError, match="dense: expected an input with last dimension 3"):
        dense_forward(np.ones((2, 4)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="dense: expected a bias of shape \\(2,\\)"):
        dense_forward(np.ones((2, 3)), np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="rank >= 2"):
        dense_forward(np.ones(3), np.ones((3, 2)))
    with pytest.raises(ValueError, match="2-D kernel"):
        dense_forward(np.ones((2, 3)), np.ones((3, 2, 1)))
    _, cache = dense_forward(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="dense_backward"):
        dense_backward(np.ones((2, 3)), cache)


# ---------------------------------------------------------------------------- flatten
def test_flatten_seed_003():
    # seed 003: torch.arange(0, 16).reshape((2, 2, 4)).unsqueeze(0) flattens to (1, 16) in order
    a2 = np.arange(0, 16).reshape((2, 2, 4))[None]
    out, cache = flatten_forward(a2)
    assert out.shape == (1, 16)
    np.testing.assert_array_equal(out, [np.arange(16)])
    assert out.dtype == a2.dtype
    back = flatten_backward(out, cache)
    np.testing.assert_array_equal(back, a2)


def test_flatten_shapes_and_errors():
    assert flatten_forward(np.ones(4))[0].shape == (4, 1)
    assert flatten_forward(np.ones((0, 3, 2)))[0].shape == (0, 6)
    x = RNG.standard_normal((2, 3, 4, 5))
    out, cache = flatten_forward(x)
    d = RNG.standard_normal(out.shape)
    np.testing.assert_array_equal(flatten_backward(d, cache), d.reshape(x.shape))
    with pytest.raises(ValueError, match="flatten_backward"):
        flatten_backward(np.ones((2, 59)), cache)
    with pytest.raises(ValueError, match="flatten"):
        flatten_forward(np.float32(1.0))


# ---------------------------------------------------------------------------- dropout
def test_dropout_seed_004_rate_half():
    # seed 004: Dropout(0.5) on 10 values: the kept ones are doubled, the others are 0.
    x = np.array([[-1.1899604, 1.1257381, 0.8904383, 0.812129, 0.36669895, 0.56058276,
                   -0.48239076, -0.29940066, -0.39049834, 0.69480914]], dtype=np.float32)
    printed = np.array([[-2.3799207, 0, 0, 1.624258, 0, 0, -0.9647815, -0.5988013, 0,
                         1.3896183]], dtype=np.float32)
    kept_in_seed = printed != 0
    np.testing.assert_allclose(printed[kept_in_seed], 2 * x[kept_in_seed], rtol=1e-6)
    out, cache = dropout_forward(x, 0.5, training=True, rng=np.random.default_rng(4))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[cache.mask], x[cache.mask] * 2)
    np.testing.assert_array_equal(out[~cache.mask], 0)
    assert 0 < cache.mask.sum() < 10


def test_dropout_rate_statistics_and_scaling():
    x = np.ones((200, 500))
    out, cache = dropout_forward(x, 0.3, True, rng=1)
    assert abs(cache.mask.mean() - 0.7) < 0.01
    assert set(np.unique(out)) == {0.0, 1 / 0.7}
    assert abs(out.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation


def test_dropout_backward_matches_finite_differences_with_fixed_mask():
    x = RNG.standard_normal((3, 4, 2))
    rate = 0.4
    out, cache = dropout_forward(x, rate, True, rng=np.random.default_rng(0))
    d_out = RNG.standard_normal(out.shape)
    dx = dropout_backward(d_out, cache)
    scale = cache.mask / (1 - rate)

    def f():  # the same mask, as a function of x
        return x * scale

    np.testing.assert_allclose(dx, numeric_grad(f, x, d_out), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(dx, dropout_backward(d_out, cache))


def test_dropout_identity_when_not_training_or_rate_zero():
    x = RNG.standard_normal((4, 5)).astype(np.float32)
    for training, rate in [(False, 0.5), (True, 0.0)]:
        out, cache = dropout_forward(x, rate, training)
        np.testing.assert_array_equal(out, x)
        assert cache.mask is None
        np.testing.assert_array_equal(dropout_backward(np.ones_like(x), cache), 1)


def test_dropout_noise_shape_drops_whole_channels():
    x = np.ones((2, 3, 3, 4))
    out, cache = dropout_forward(x, 0.5, True, rng=3, noise_shape=(None, 1, 1, None))
    assert cache.mask.shape == (2, 1, 1, 4)
    per_channel = out.reshape(2, 9, 4)
    assert np.all(per_channel == per_channel[:, :1, :])
    with pytest.raises(ValueError, match="noise_shape"):
        dropout_forward(x, 0.5, True, noise_shape=(2, 2, 1, 4))
    with pytest.raises(ValueError, match="noise_shape"):
        dropout_forward(x, 0.5, True, noise_shape=(2, 4))


def test_a_shorter_noise_shape_broadcasts_as_keras_random_dropout():
    """keras.random.dropout fills an entry None with the input's size on the same axis,
    counted from the first (its _get_concrete_noise_shape), then broadcasts the mask to the
    input (trailing axes aligned), also when noise_shape has fewer entries than x has axes."""
    x = RNG.standard_normal((2, 3, 3, 4))
    out, cache = dropout_forward(x, 0.5, True, rng=4, noise_shape=(1, 4))
    assert cache.mask.shape == (1, 1, 1, 4)
    np.testing.assert_array_equal(out, x * cache.mask / 0.5)
    assert cache.mask.any() and not cache.mask.all()  # (rng=4 drops some of the 4 channels)
    d = RNG.standard_normal(x.shape)
    np.testing.assert_array_equal(dropout_backward(d, cache), d * cache.mask / 0.5)
    assert dropout_forward(x, 0.5, True, rng=4, noise_shape=(4,))[1].mask.shape == (1, 1, 1, 4)
    # None takes the size of the axis at its own position: axis 0 here (4), which then
    # aligns with the input's third axis (also 4)
    wide = np.ones((4, 5, 4, 3))
    assert dropout_forward(wide, 0.5, True, rng=1, noise_shape=(None, 3))[1].mask.shape == (
        1, 1, 4, 3)
    with pytest.raises(ValueError, match=r"^dropout: expected noise_shape .* to broadcast to "
                                         r"the input's shape \(2, 5, 4, 3\)\. Received: "
                                         r"noise_shape=\(None, 3\)"):
        dropout_forward(np.ones((2, 5, 4, 3)), 0.5, True, noise_shape=(None, 3))  # (2, 3)
    with pytest.raises(ValueError, match="noise_shape"):
        dropout_forward(x, 0.5, True, noise_shape=(1, 2, 3, 3, 4))  # more axes than x


def test_dropout_seeded_rng_reproducible_and_input_untouched():
    x = RNG.standard_normal((5, 6))
    copy = x.copy()
    a, _ = dropout_forward(x, 0.5, True, rng=11)
    b, _ = dropout_forward(x, 0.5, True, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x, copy)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5, "0.5", True, None])
def test_dropout_rejects_bad_rate(rate):
    with pytest.raises(ValueError, match=r"dropout: expected rate.*\[0, 1\)"):
        dropout_forward(np.ones(3), rate, True)


def test_dropout_backward_wrong_shape():
    _, cache = dropout_forward(np.ones((2, 3)), 0.5, True, rng=0)
    with pytest.raises(ValueError, match="dropout_backward"):
        dropout_backward(np.ones((3, 2)), cache)
