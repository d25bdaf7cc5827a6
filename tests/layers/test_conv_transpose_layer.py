"""Conv2DTranspose: Keras's arguments, kernel order and sizes, the op's numbers, finite
differences through the layer, config round trip, regularizers, model files, errors."""

import numpy as np
import pytest

from npconv import io as npio
from npconv import regularizers
from npconv.layers import Conv2D, Conv2DTranspose
from npconv.layers.base import SymbolicTensor
from npconv.layers.input import Input
from npconv.models.sequential import Sequential
from npconv.ops.conv_transpose import conv2d_transpose_forward
from npconv.random import set_random_seed
from tests.finite_differences import central_differences


def _x(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_shapes_and_weights_as_keras():
    layer = Conv2DTranspose(4, 3, strides=2, padding="same")
    assert layer(_x((2, 5, 6, 3))).shape == (2, 10, 12, 4)
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert layer.kernel.shape == (3, 3, 4, 3)  # (kh, kw, filters, C_in)
    assert layer.count_params() == 3 * 3 * 4 * 3 + 4
    assert Conv2DTranspose(2, 3)(SymbolicTensor((None, 5, 5, 1))).shape == (None, 7, 7, 2)
    assert Conv2DTranspose(2, 2, strides=3)(SymbolicTensor((None, 5, 4, 1))).shape == (
        None, 15, 12, 2)
    assert Conv2DTranspose(2, 3, strides=2, output_padding=1)(
        SymbolicTensor((None, 5, 5, 1))).shape == (None, 12, 12, 2)
    assert Conv2DTranspose(2, 3, dilation_rate=2, data_format="channels_first")(
        SymbolicTensor((None, 1, 5, 5))).shape == (None, 2, 9, 9)
    dflt = Conv2DTranspose(2, 3)
    assert (dflt.strides, dflt.padding, dflt.output_padding, dflt.data_format,
            dflt.dilation_rate, dflt.activation, dflt.use_bias) == (
        (1, 1), "valid", None, "channels_last", (1, 1), None, True)


def test_layer_uses_the_op_and_undoes_a_conv2d_shape():
    x = _x((2, 4, 5, 3), np.float64)
    layer = Conv2DTranspose(2, (3, 2), strides=(2, 1), padding="same", dilation_rate=(1, 2),
                            bias_initializer="random_normal")
    y = layer(x)
    ref, _ = conv2d_transpose_forward(x, layer.kernel.value, layer.bias.value, (2, 1), "same",
                                      None, (1, 2))
    np.testing.assert_array_equal(y, ref)
    down = Conv2D(3, 3, strides=2, padding="same")(_x((1, 8, 8, 2)))
    assert Conv2DTranspose(2, 3, strides=2, padding="same")(down).shape == (1, 8, 8, 2)


@pytest.mark.parametrize("kwargs", [
    dict(strides=(2, 1), padding="same", activation="tanh"),
    dict(strides=2, output_padding=(1, 0), dilation_rate=(1, 2), activation="sigmoid"),
])
def test_layer_finite_differences_with_activation(kwargs):
    layer = Conv2DTranspose(3, (2, 3), bias_initializer="random_normal", dtype="float64",
                            **kwargs)
    x = _x((2, 3, 4, 2), np.float64)
    y = layer(x)
    g = _x(y.shape, np.float64, seed=2)
    dx = layer.backward(g)
    grads = {w.name: w.grad.copy() for w in layer.weights}

    def loss():
        return float(np.sum(layer(x) * g))

    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-8)
    for w in layer.weights:
        np.testing.assert_allclose(grads[w.name], central_differences(loss, w.value),
                                   rtol=1e-6, atol=1e-8, err_msg=w.name)
    layer(x)
    layer.backward(g)
    for w in layer.weights:
        np.testing.assert_array_equal(w.grad, grads[w.name])


def test_channels_first_dtypes_and_need_input_grad():
    x = _x((2, 4, 3, 3), np.float64)
    last = Conv2DTranspose(2, 3, strides=2, padding="same", bias_initializer="ones")
    first = Conv2DTranspose(2, 3, strides=2, padding="same", data_format="channels_first")
    y_last = last(x)
    first(x.transpose(0, 3, 1, 2))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first(x.transpose(0, 3, 1, 2)), y_last.transpose(0, 3, 1, 2),
                               rtol=1e-13)
    g = _x(y_last.shape, np.float64, seed=3)
    np.testing.assert_allclose(first.backward(g.transpose(0, 3, 1, 2)),
                               last.backward(g).transpose(0, 3, 1, 2), rtol=1e-12)
    layer = Conv2DTranspose(2, 3)
    y = layer(np.ones((1, 3, 3, 2), dtype=np.int64))
    assert y.dtype == np.float32
    layer.backward(np.ones(y.shape, np.float32))
    assert layer.kernel.grad.dtype == layer.bias.grad.dtype == np.float32
    layer.need_input_grad = False
    layer(np.ones((1, 3, 3, 2), np.float32))
    assert layer.backward(np.ones(y.shape, np.float32)) is None


def test_config_round_trip_and_regularizers():
    for kwargs in (
        dict(filters=3, kernel_size=3),
        dict(filters=2, kernel_size=(3, 1), strides=(2, 3), padding="SAME", output_padding=(1, 2),
             dilation_rate=(1, 1), activation="relu", use_bias=False,
             kernel_initializer="he_normal", bias_initializer="ones",
             kernel_regularizer=regularizers.L2(0.1), data_format="channels_first", name="t",
             input_shape=(3, 8, 8), dtype="float64"),
    ):
        layer = Conv2DTranspose(**kwargs)
        config = layer.get_config()
        clone = Conv2DTranspose.from_config(config)
        assert type(clone) is Conv2DTranspose and clone.get_config() == config
    assert config["output_padding"] == [1, 2] and config["padding"] == "same"
    assert repr(Conv2DTranspose(4, 3, strides=2, output_padding=1, name="r")) == (
        "Conv2DTranspose(4, kernel_size=(3, 3), strides=(2, 2), output_padding=(1, 1), "
        "name='r')")
    layer = Conv2DTranspose(2, 2, kernel_regularizer=regularizers.L2(0.5))
    layer(_x((1, 3, 3, 2)))
    assert layer.losses == pytest.approx([0.5 * np.sum(layer.kernel.value ** 2)])


def test_save_and_load_through_the_model_file(tmp_path):
    set_random_seed(0)
    model = Sequential([Input(shape=(6, 6, 2)), Conv2D(4, 3, strides=2, padding="same"),
                        Conv2DTranspose(2, 3, strides=2, padding="same", activation="relu",
                                        bias_initializer="random_normal")])
    x = _x((16, 6, 6, 2), seed=1)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.npconv")
    loaded = npio.load_model(tmp_path / "m.npconv")
    assert type(loaded.layers[-1]) is Conv2DTranspose
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_errors():
    with pytest.raises(ValueError, match=r"Conv2DTranspose .*: expected filters to be a "
                                         r"positive int. Received: filters=0"):
        Conv2DTranspose(0, 3)
    with pytest.raises(ValueError, match="Conv2DTranspose: expected padding to be 'valid' or "
                                         "'same'. Received: padding=1"):
        Conv2DTranspose(2, 3, padding=1)
    with pytest.raises(ValueError, match=r"strides must be greater than output_padding. "
                                         r"Received strides=\(2, 2\), output_padding=\(2, 2\)"):
        Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="expected output_padding to be >= 0"):
        Conv2DTranspose(2, 3, strides=2, output_padding=-1)
    with pytest.raises(ValueError, match="expected kernel_size to be >= 1"):
        Conv2DTranspose(2, 0)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        Conv2DTranspose(2, 3, groups=2)
    layer = Conv2DTranspose(2, 3, name="c")
    with pytest.raises(ValueError, match=r"c: Conv2DTranspose expects a 4-D input"):
        layer(_x((5, 5, 3)))
    layer(_x((1, 5, 5, 3)))
    with pytest.raises(ValueError, match=r"c: expected an input with 3 channels .* with 4 "
                                         r"channels"):
        layer(_x((1, 5, 5, 4)))
    with pytest.raises(ValueError, match="expected a gradient of the output's shape"):
        layer.backward(np.ones((1, 5, 5, 2)))
    with pytest.raises(RuntimeError, match="backward called before"):
        Conv2DTranspose(2, 3).backward(np.ones((1, 1, 1, 2)))
    with pytest.raises(ValueError, match=r"e: .*output would be empty.* Received an input of "
                                         r"shape \(1, 1, 1, 1\)"):
        Conv2DTranspose(2, 2, strides=2, padding="same", output_padding=0, name="e")(
            _x((1, 1, 1, 1)))
