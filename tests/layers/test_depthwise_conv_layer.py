"""DepthwiseConv2D and SeparableConv2D: Keras's arguments and shapes, the ops' numbers,
finite differences through the layer, config round trip, regularizers, model files, errors."""

import numpy as np
import pytest

from npconv import io as npio
from npconv import regularizers
from npconv.layers import DepthwiseConv2D, SeparableConv2D
from npconv.layers.base import SymbolicTensor
from npconv.layers.core import Dense, Flatten
from npconv.layers.input import Input
from npconv.models.sequential import Sequential
from npconv.ops.depthwise_conv import depthwise_conv2d_forward, separable_conv2d_forward
from npconv.random import set_random_seed
from tests.finite_differences import central_differences


def _x(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_shapes_weights_and_param_counts_as_keras():
    layer = DepthwiseConv2D(3, depth_multiplier=2)
    y = layer(_x((2, 8, 7, 3)))
    assert y.shape == (2, 6, 5, 6)
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert layer.kernel.shape == (3, 3, 3, 2) and layer.bias.shape == (6,)
    assert layer.count_params() == 3 * 3 * 3 * 2 + 6
    sep = SeparableConv2D(5, 3, strides=2, padding="same", depth_multiplier=2)
    y = sep(_x((2, 8, 7, 3)))
    assert y.shape == (2, 4, 4, 5)
    assert [w.name for w in sep.weights] == ["depthwise_kernel", "pointwise_kernel", "bias"]
    assert sep.pointwise_kernel.shape == (1, 1, 6, 5)
    assert sep.count_params() == 3 * 3 * 3 * 2 + 6 * 5 + 5
    t = SeparableConv2D(4, (3, 1), dilation_rate=(2, 1))(SymbolicTensor((None, 9, 9, 2)))
    assert t.shape == (None, 5, 9, 4)
    t = DepthwiseConv2D(2, strides=2, padding="same", data_format="channels_first")(
        SymbolicTensor((None, 3, 5, 5)))
    assert t.shape == (None, 3, 3, 3)
    assert DepthwiseConv2D(1, use_bias=False)(_x((1, 2, 2, 4))).shape == (1, 2, 2, 4)


def test_defaults_are_keras_3s():
    dw = DepthwiseConv2D(3)
    assert (dw.strides, dw.padding, dw.depth_multiplier, dw.data_format, dw.dilation_rate,
            dw.activation, dw.use_bias) == ((1, 1), "valid", 1, "channels_last", (1, 1), None,
                                            True)
    config = dw.get_config()
    assert (config["depthwise_initializer"], config["bias_initializer"]) == (
        "glorot_uniform", "zeros")
    sep = SeparableConv2D(2, 3)
    assert (sep.strides, sep.padding, sep.depth_multiplier, sep.use_bias) == (
        (1, 1), "valid", 1, True)


def test_layers_use_the_ops():
    x = _x((2, 7, 6, 3), np.float64)
    dw = DepthwiseConv2D((3, 2), strides=(2, 1), padding="same", depth_multiplier=2,
                         dilation_rate=(1, 2), bias_initializer="random_normal")
    y = dw(x)
    assert dw.kernel.value.dtype == np.float64
    ref, _ = depthwise_conv2d_forward(x, dw.kernel.value, dw.bias.value, (2, 1), "same", (1, 2))
    np.testing.assert_array_equal(y, ref)
    sep = SeparableConv2D(4, 2, padding=((1, 0), (0, 1)), depth_multiplier=3)
    y = sep(x)
    ref, _ = separable_conv2d_forward(x, sep.depthwise_kernel.value, sep.pointwise_kernel.value,
                                      sep.bias.value, 1, ((1, 0), (0, 1)))
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize("make", [
    lambda: DepthwiseConv2D((2, 3), strides=(1, 2), padding="same", depth_multiplier=2,
                            activation="tanh", bias_initializer="random_normal",
                            dtype="float64"),
    lambda: SeparableConv2D(3, 2, dilation_rate=(2, 1), depth_multiplier=2, activation="tanh",
                            bias_initializer="random_normal", dtype="float64"),
])
def test_layer_finite_differences_with_activation(make):
    layer = make()
    x = _x((2, 5, 6, 2), np.float64)
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
    # backward again: the same gradients, overwritten, not accumulated
    layer(x)
    layer.backward(g)
    for w in layer.weights:
        np.testing.assert_array_equal(w.grad, grads[w.name])


@pytest.mark.parametrize("cls, args", [(DepthwiseConv2D, ()), (SeparableConv2D, (4,))])
def test_channels_first_is_channels_last_transposed(cls, args):
    x = _x((2, 7, 5, 3), np.float64)
    last = cls(*args, (3, 2), strides=2, padding="same", depth_multiplier=2,
               bias_initializer="ones")
    first = cls(*args, (3, 2), strides=2, padding="same", depth_multiplier=2,
                data_format="channels_first")
    y_last = last(x)
    first(x.transpose(0, 3, 1, 2))
    first.set_weights(last.get_weights())
    y_first = first(x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(y_first, y_last.transpose(0, 3, 1, 2), rtol=1e-13)
    g = _x(y_last.shape, np.float64, seed=3)
    dx_last = last.backward(g)
    dx_first = first.backward(g.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(dx_first, dx_last.transpose(0, 3, 1, 2), rtol=1e-12)
    for a, b in zip(first.weights, last.weights, strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12)


@pytest.mark.parametrize("cls, args", [(DepthwiseConv2D, ()), (SeparableConv2D, (2,))])
def test_dtypes_and_need_input_grad(cls, args):
    layer = cls(*args, 3)
    y = layer(np.ones((1, 5, 5, 2), dtype=np.int64))
    assert y.dtype == np.float32
    layer.backward(np.ones(y.shape, np.float32))
    assert all(w.grad.dtype == np.float32 for w in layer.weights)
    layer.need_input_grad = False
    layer(_x((1, 5, 5, 2)))
    assert layer.backward(np.ones(y.shape, np.float32)) is None


def test_config_round_trip():
    for cls, kwargs in (
        (DepthwiseConv2D, dict(kernel_size=3)),
        (DepthwiseConv2D, dict(kernel_size=(3, 1), strides=(2, 1), padding="SAME",
                               depth_multiplier=3, dilation_rate=2, activation="relu",
                               use_bias=False, depthwise_initializer="he_normal",
                               bias_initializer="ones", data_format="channels_first",
                               depthwise_regularizer=regularizers.L2(0.1),
                               bias_regularizer="l1", name="d", input_shape=(3, 8, 8),
                               dtype="float64")),
        (SeparableConv2D, dict(filters=2, kernel_size=2, padding=((1, 2), (0, 3)))),
        (SeparableConv2D, dict(filters=4, kernel_size=3, strides=2, padding="same",
                               depth_multiplier=2, activation="sigmoid",
                               pointwise_initializer="zeros",
                               depthwise_regularizer="l2", pointwise_regularizer="l1",
                               data_format="channels_first", name="s")),
    ):
        layer = cls(**kwargs)
        config = layer.get_config()
        clone = cls.from_config(config)
        assert type(clone) is cls
        assert clone.get_config() == config
    assert repr(DepthwiseConv2D(3, strides=2, depth_multiplier=2, name="r")) == (
        "DepthwiseConv2D(kernel_size=(3, 3), strides=(2, 2), depth_multiplier=2, name='r')")
    assert repr(SeparableConv2D(4, 3, padding="same", name="q")) == (
        "SeparableConv2D(4, kernel_size=(3, 3), padding='same', name='q')")


def test_regularizers_penalise_their_weights():
    dw = DepthwiseConv2D(2, depthwise_regularizer=regularizers.L2(0.5), bias_regularizer="l1",
                         bias_initializer="ones")
    dw(_x((1, 4, 4, 2)))
    assert dw.losses == pytest.approx([0.5 * np.sum(dw.kernel.value ** 2), 0.01 * 2])
    sep = SeparableConv2D(3, 2, depthwise_regularizer=regularizers.L1(0.1),
                          pointwise_regularizer=regularizers.L2(0.2))
    sep(_x((1, 4, 4, 2)))
    assert sep.losses == pytest.approx([0.1 * np.abs(sep.depthwise_kernel.value).sum(),
                                        0.2 * np.sum(sep.pointwise_kernel.value ** 2)])
    sep.backward(np.zeros((1, 3, 3, 3), np.float32))
    sep.add_regularization_gradients()
    np.testing.assert_allclose(sep.pointwise_kernel.grad, 0.4 * sep.pointwise_kernel.value,
                               rtol=1e-6)


def test_save_and_load_through_the_model_file(tmp_path):
    set_random_seed(0)
    model = Sequential([
        Input(shape=(8, 8, 2)),
        DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation="relu",
                        bias_initializer="random_normal"),
        SeparableConv2D(4, 3, strides=2, depth_multiplier=2, activation="relu",
                        pointwise_regularizer="l2"),
        Flatten(), Dense(3, activation="softmax"),
    ])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 8, 8, 2)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.npconv")
    loaded = npio.load_model(tmp_path / "m.npconv")
    assert [type(a).__name__ for a in loaded.layers] == [type(b).__name__ for b in model.layers]
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[1].get_config() == model.layers[1].get_config()


# ------------------------------------------------------------------ errors
def test_constructor_errors():
    with pytest.raises(ValueError, match=r"DepthwiseConv2D .*: expected depth_multiplier to be "
                                         r"a positive int. Received: depth_multiplier=0"):
        DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"SeparableConv2D .*: expected filters to be a "
                                         r"positive int. Received: filters=1.5"):
        SeparableConv2D(1.5, 3)
    with pytest.raises(ValueError, match="DepthwiseConv2D .*: expected kernel_size to be >= 1"):
        DepthwiseConv2D(0)
    with pytest.raises(ValueError, match="expected strides to be >= 1"):
        SeparableConv2D(2, 3, strides=(1, 0))
    with pytest.raises(ValueError, match="expected dilation_rate to be >= 1"):
        DepthwiseConv2D(3, dilation_rate=0)
    with pytest.raises(ValueError, match="expected padding to be 'valid', 'same'"):
        DepthwiseConv2D(3, padding="causal")
    with pytest.raises(ValueError, match="data_format"):
        SeparableConv2D(2, 3, data_format="NCHW")
    with pytest.raises(ValueError, match="unknown activation"):
        DepthwiseConv2D(3, activation="swishy")
    with pytest.raises(ValueError, match="depthwise_regularizer"):
        DepthwiseConv2D(3, depthwise_regularizer="l3")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        DepthwiseConv2D(3, filters=2)


@pytest.mark.parametrize("cls, args", [(DepthwiseConv2D, ()), (SeparableConv2D, (2,))])
def test_call_errors(cls, args):
    kind = cls.__name__
    layer = cls(*args, 3, name="c")
    with pytest.raises(ValueError, match=rf"c: {kind} expects a 4-D input \(batch, height, "
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
    with pytest.raises(ValueError, match="expected a gradient of the output's shape"):
        layer.backward(np.ones((1, 2, 2, 2)))
    with pytest.raises(RuntimeError, match="backward called before"):
        cls(*args, 3).backward(np.ones((1, 1, 1, 2)))
    with pytest.raises(ValueError, match=f"{kind} expects a 4-D input"):
        cls(*args, 3)(SymbolicTensor((None, 28, 28)))
    with pytest.raises(ValueError, match="channel dimension of the input"):
        cls(*args, 3)(SymbolicTensor((None, 28, 28, None)))
