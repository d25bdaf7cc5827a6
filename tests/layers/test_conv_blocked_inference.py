"""Conv2D's blocked inference path (large batches, activation fused per block) gives the same
outputs as the one-pass forward, and a backward after it the same gradients."""

import numpy as np
import pytest

from npconv.layers.conv import Conv2D


def _pair(activation, data_format, dtype, **kwargs):
    a = Conv2D(4, 3, activation=activation, data_format=data_format, dtype=dtype, **kwargs)
    b = Conv2D(4, 3, activation=activation, data_format=data_format, dtype=dtype, **kwargs)
    return a, b


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "softmax", "elu"])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blocked_inference_matches_the_one_pass_forward(activation, data_format, dtype):
    rng = np.random.default_rng(11)
    shape = (70, 3, 9, 9) if data_format == "channels_first" else (70, 9, 9, 3)
    x = rng.standard_normal(shape).astype(dtype)
    blocked, plain = _pair(activation, data_format, dtype, padding="same", strides=2)
    blocked._BLOCK_BYTES = 1          # force blocks of 8 images
    blocked(x[:1])
    plain(x[:1])
    plain.set_weights(blocked.get_weights())
    tol = 1e-5 if dtype == np.float32 else 1e-12
    y_blocked = blocked(x)                   # inference: blocks
    y_plain = plain(x, training=True)        # one pass
    assert y_blocked.dtype == dtype and y_blocked.shape == y_plain.shape
    np.testing.assert_allclose(y_blocked, y_plain, rtol=tol, atol=tol)
    d = rng.standard_normal(y_plain.shape).astype(dtype)
    dx_blocked = blocked.backward(d)          # rebuilds the patch matrix from x
    dx_plain = plain.backward(d)
    np.testing.assert_allclose(dx_blocked, dx_plain, rtol=tol, atol=tol)
    for wa, wb in zip(blocked.weights, plain.weights, strict=True):
        np.testing.assert_allclose(wa.grad, wb.grad, rtol=tol, atol=tol * 10)
    np.testing.assert_array_equal(blocked.backward(d), dx_blocked)   # twice: identical


def test_small_batches_and_training_take_one_pass():
    layer = Conv2D(2, 3, activation="relu")
    layer(np.zeros((1, 6, 6, 1), np.float32))
    assert layer._block_images((4, 6, 6, 1)) == 4
    layer._BLOCK_BYTES = 1
    assert layer._block_images((64, 6, 6, 1)) == 8
    x = np.random.default_rng(0).standard_normal((64, 6, 6, 1)).astype(np.float32)
    layer(x, training=True)
    assert layer._cache is not None and layer._cache.cols.shape[0] == 64 * 16
