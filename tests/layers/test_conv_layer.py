"""Conv2D and ZeroPadding2D: Keras semantics, the seeds' shapes, gradients, config, errors."""

import numpy as np
import pytest

from npconv.layers.base import SymbolicTensor
from npconv.layers.conv import Conv2D
from npconv.layers.reshaping import ZeroPadding2D
from npconv.ops import activations
from npconv.ops.conv import conv2d_backward, conv2d_forward


def _x(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ the seeds' shapes
def test_seed002_keras_examples():
    x = _x((4, 128, 128, 3))
    y = Conv2D(input_shape=(4, 128, 128, 3), kernel_size=(2, 2), filters=6, strides=(1, 1),
               padding="same")(x)
    assert y.shape == (4, 128, 128, 6)
    y = Conv2D(input_shape=(4, 128, 128, 3), kernel_size=(2, 2), filters=4, strides=(2, 2),
               padding="valid")(x)
    assert y.shape == (4, 64, 64, 4)
    y = Conv2D(2, 3, activation="relu", input_shape=(28, 28, 3))(_x((4, 28, 28, 3)))
    assert y.shape == (4, 26, 26, 2)
    assert y.min() >= 0


def test_seed004_shape():
    layer = Conv2D(filters=5, kernel_size=3, strides=1, padding="valid")
    assert layer(_x((1, 28, 28, 3))).shape == (1, 26, 26, 5)
    assert layer.count_params() == 3 * 3 * 3 * 5 + 5


def test_seed001_cnn_shapes_symbolically():
    shapes = []
    t = SymbolicTensor((None, 28, 28, 1))
    for layer in (Conv2D(32, 3, activation="relu"), Conv2D(64, 3, activation="relu"),
                  Conv2D(128, 3, activation="relu")):
        t = layer(t)
        shapes.append(t.shape)
    assert shapes == [(None, 26, 26, 32), (None, 24, 24, 64), (None, 22, 22, 128)]


def test_seed003_strided_cnn_channels_first():
    x = _x((2, 1, 28, 28))
    for filters, stride, expected in ((32, 2, (2, 32, 14, 14)), (64, 2, (2, 64, 7, 7)),
                                      (128, 3, (2, 128, 3, 3))):
        x = Conv2D(filters, 3, strides=stride, padding=1, data_format="channels_first")(x)
        assert x.shape == expected


def test_seed000_same_padding_shape():
    conv_1 = Conv2D(filters=64, kernel_size=(3, 3), padding="same", strides=(1, 1),
                    dilation_rate=(1, 1))
    assert conv_1.output_shape_for((12, 224, 224, 3)) == (12, 224, 224, 64)


# ------------------------------------------------------------------ numbers
def test_forward_backward_use_the_op():
    layer = Conv2D(3, (3, 2), strides=(2, 1), padding="same", dilation_rate=(1, 2),
                   bias_initializer="random_normal")
    x = _x((2, 7, 6, 4), np.float64)
    y = layer(x)
    assert layer.kernel.value.dtype == np.float64  # built for a float64 input
    expected, cache = conv2d_forward(x, layer.kernel.value, layer.bias.value, (2, 1), "same",
                                     (1, 2))
    np.testing.assert_array_equal(y, expected)
    g = _x(y.shape, np.float64, seed=1)
    dx = layer.backward(g)
    ref = conv2d_backward(g, cache)
    np.testing.assert_array_equal(dx, ref[0])
    np.testing.assert_array_equal(layer.kernel.grad, ref[1])
    np.testing.assert_array_equal(layer.bias.grad, ref[2])
    # grads are overwritten, never accumulated
    layer(x)
    layer.backward(g)
    np.testing.assert_array_equal(layer.kernel.grad, ref[1])


def test_layer_finite_differences_with_activation():
    layer = Conv2D(2, 2, padding=((1, 0), (0, 1)), activation="tanh",
                   bias_initializer="random_normal", dtype="float64")
    x = _x((1, 3, 4, 2), np.float64)
    y = layer(x)
    g = _x(y.shape, np.float64, seed=2)
    dx = layer.backward(g)
    kernel_grad = layer.kernel.grad.copy()
    eps = 1e-6

    def loss():
        return float(np.sum(layer(x) * g))

    for arr, analytic in ((x, dx), (layer.kernel.value, kernel_grad)):
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            plus = loss()
            arr[idx] = old - eps
            minus = loss()
            arr[idx] = old
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_activation_is_applied():
    x = _x((2, 6, 6, 3))
    plain = Conv2D(4, 3, name="plain")
    plain(x)
    relu = Conv2D(4, 3, activation=activations.get("relu"), name="with_relu")
    relu(x)
    relu.set_weights(plain.get_weights())
    np.testing.assert_array_equal(relu(x), np.maximum(plain(x), 0))


def test_channels_first_is_channels_last_transposed():
    x = _x((2, 7, 5, 3), np.float64)
    last = Conv2D(4, (3, 2), strides=2, padding="same", bias_initializer="ones")
    first = Conv2D(4, (3, 2), strides=2, padding="same", data_format="channels_first")
    y_last = last(x)
    y_first = first(x.transpose(0, 3, 1, 2))
    first.set_weights(last.get_weights())
    y_first = first(x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(y_first, y_last.transpose(0, 3, 1, 2), rtol=1e-14)
    g = _x(y_last.shape, np.float64, seed=3)
    dx_last = last.backward(g)
    dx_first = first.backward(g.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(dx_first, dx_last.transpose(0, 3, 1, 2), rtol=1e-13)
    np.testing.assert_allclose(first.kernel.grad, last.kernel.grad, rtol=1e-13)
    assert first.output_shape_for((None, 3, 7, 5)) == (None, 4, 4, 3)


def test_dtypes():
    layer = Conv2D(2, 3)
    y = layer(_x((1, 5, 5, 1), np.float64).astype(np.float32))
    assert layer.kernel.value.dtype == np.float32 and y.dtype == np.float32
    y = layer(np.ones((1, 5, 5, 1), dtype=np.int64))  # integers are cast to the weights' dtype
    assert y.dtype == np.float32
    layer.backward(np.ones(y.shape, np.float32))
    assert layer.kernel.grad.dtype == np.float32 and layer.bias.grad.dtype == np.float32


def test_need_input_grad_false_returns_none():
    layer = Conv2D(2, 3)
    y = layer(_x((2, 5, 5, 1)))
    layer.need_input_grad = False
    assert layer.backward(np.ones_like(y)) is None
    assert layer.kernel.grad.shape == (3, 3, 1, 2)


def test_no_bias():
    layer = Conv2D(2, 3, use_bias=False)
    layer(_x((1, 4, 4, 2)))
    assert [w.name for w in layer.weights] == ["kernel"]
    assert layer.count_params() == 36


def test_config_round_trip():
    for kwargs in (
        dict(filters=8, kernel_size=3),
        dict(filters=4, kernel_size=(3, 1), strides=(2, 1), padding="SAME", dilation_rate=2,
             activation="relu", use_bias=False, kernel_initializer="he_normal",
             bias_initializer="ones", data_format="channels_first", name="c",
             input_shape=(3, 8, 8), dtype="float64"),
        dict(filters=2, kernel_size=2, padding=((1, 2), (0, 3))),
    ):
        layer = Conv2D(**kwargs)
        config = layer.get_config()
        clone = Conv2D.from_config(config)
        assert clone.get_config() == config
        assert type(clone) is Conv2D
    assert config["padding"] == [[1, 2], [0, 3]]
    assert Conv2D(4, 3, padding="Same").get_config()["padding"] == "same"
    assert repr(Conv2D(4, 3, strides=2, padding="same", name="r")) == (
        "Conv2D(4, kernel_size=(3, 3), strides=(2, 2), padding='same', name='r')")


def test_weights_and_initializer():
    layer = Conv2D(16, 3)
    layer(_x((1, 8, 8, 4)))
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert layer.kernel.shape == (3, 3, 4, 16)
    limit = np.sqrt(6 / (9 * 4 + 9 * 16))  # Glorot uniform on Keras's fans
    assert np.abs(layer.kernel.value).max() <= limit
    np.testing.assert_array_equal(layer.bias.value, 0)


# ------------------------------------------------------------------ errors
def test_constructor_errors():
    with pytest.raises(ValueError, match=r"Conv2D .*: expected filters to be a positive int. "
                                         r"Received: filters=0"):
        Conv2D(0, 3)
    with pytest.raises(ValueError, match="Received: filters=2.5"):
        Conv2D(2.5, 3)
    with pytest.raises(ValueError, match="expected kernel_size to be >= 1"):
        Conv2D(2, 0)
    with pytest.raises(ValueError, match="expected strides to be >= 1"):
        Conv2D(2, 3, strides=(1, 0))
    with pytest.raises(ValueError, match="expected dilation_rate to be >= 1"):
        Conv2D(2, 3, dilation_rate=-1)
    with pytest.raises(ValueError, match="expected padding to be 'valid', 'same'"):
        Conv2D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="expected padding to be >= 0"):
        Conv2D(2, 3, padding=-1)
    with pytest.raises(ValueError, match="data_format"):
        Conv2D(2, 3, data_format="NHWC")
    with pytest.raises(ValueError, match="unknown activation"):
        Conv2D(2, 3, activation="swishy")
    with pytest.raises(ValueError, match=r"Conv2D .*: expected groups to be a positive int. "
                                         r"Received: groups=0"):
        Conv2D(2, 3, groups=0)  # (grouped convolution: tests/layers/test_conv_groups_layer.py)


def test_call_errors():
    layer = Conv2D(2, 3, name="c")
    with pytest.raises(ValueError, match=r"c: Conv2D expects a 4-D input \(batch, height, "
                                         r"width, channels\). Received an input of shape "
                                         r"\(5, 5, 3\)"):
        layer(_x((5, 5, 3)))
    with pytest.raises(ValueError, match="spans 3 pixels in height, more than the padded"):
        layer(_x((1, 2, 5, 3)))
    assert not layer.built
    layer(_x((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"c: expected an input with 3 channels .* with 4 "
                                         r"channels"):
        layer(_x((1, 5, 5, 4)))
    with pytest.raises(ValueError, match=r"c: expected a gradient of the output's shape "
                                         r"\(1, 3, 3, 2\) .* Received shape \(1, 2, 2, 2\)"):
        layer.backward(np.ones((1, 2, 2, 2)))
    fresh = Conv2D(2, 3, dilation_rate=3, name="d")
    with pytest.raises(ValueError, match="spans 7 pixels in width"):
        fresh(_x((1, 9, 6, 1)))
    with pytest.raises(RuntimeError, match="backward called before"):
        Conv2D(2, 3).backward(np.ones((1, 1, 1, 2)))
    with pytest.raises(ValueError, match="Conv2D expects a 4-D input"):
        Conv2D(2, 3)(SymbolicTensor((None, 28, 28)))


# ------------------------------------------------------------------ ZeroPadding2D
def test_seed002_keras_zero_padding2d():
    x = np.arange(4).reshape(1, 1, 2, 2)
    y = ZeroPadding2D(padding=1)(x)
    assert y.shape == (1, 3, 4, 2)
    assert y.dtype == x.dtype  # integers stay integers (Keras prints int32)
    np.testing.assert_array_equal(
        y, [[[[0, 0], [0, 0], [0, 0], [0, 0]],
             [[0, 0], [0, 1], [2, 3], [0, 0]],
             [[0, 0], [0, 0], [0, 0], [0, 0]]]])
    assert ZeroPadding2D(1)(x.astype(np.int32)).dtype == np.int32


@pytest.mark.parametrize("padding, shape", [(1, (2, 5, 6, 3)), ((1, 2), (2, 5, 8, 3)),
                                            (((1, 2), (3, 4)), (2, 6, 11, 3))])
def test_zero_padding2d_forms(padding, shape):
    layer = ZeroPadding2D(padding)
    x = _x((2, 3, 4, 3))
    y = layer(x)
    assert y.shape == shape and y.dtype == np.float32
    assert layer.output_shape_for((None, 3, 4, 3)) == (None,) + shape[1:]
    (top, _), (left, _) = layer.padding
    np.testing.assert_array_equal(y[:, top:top + 3, left:left + 4], x)
    g = _x(shape, seed=4)
    dx = layer.backward(g)
    np.testing.assert_array_equal(dx, g[:, top:top + 3, left:left + 4])
    clone = ZeroPadding2D.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_zero_padding2d_channels_first():
    x = _x((2, 3, 4, 5))  # NCHW
    y = ZeroPadding2D(((1, 0), (2, 1)), data_format="channels_first")(x)
    assert y.shape == (2, 3, 5, 8)
    np.testing.assert_array_equal(y[:, :, 1:, 2:7], x)


def test_zero_padding2d_errors():
    with pytest.raises(ValueError, match="ZeroPadding2D .*expected padding to be >= 0"):
        ZeroPadding2D(-1)
    with pytest.raises(ValueError, match="ZeroPadding2D .*expected padding"):
        ZeroPadding2D("same")
    with pytest.raises(ValueError, match="ZeroPadding2D expects a 4-D input"):
        ZeroPadding2D(1)(np.zeros((3, 3)))
