"""Conv3D (alias Convolution3D): Keras 3's shapes and parameter counts (recorded from Keras
3.15.1), float64 finite differences through the layer in both data formats, arguments and
errors naming the layer, regularizers and constraints, config and model-file round trips,
summary counts and costs, bench rows, and a small model that learns with fit."""

import numpy as np
import pytest

import npconv
from npconv import constraints, layers, regularizers
from npconv import io as npio
from npconv.bench import bench_model
from npconv.layers import Conv3D, Input
from npconv.layers.base import SymbolicTensor
from npconv.models.cost import layer_cost
from npconv.models.sequential import Sequential
from npconv.random import set_random_seed
from tests.finite_differences import central_differences


def _x(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# Keras 3.15.1 (torch backend) on an input (2, 7, 8, 9, 6): output shape, count_params(),
# kernel shape. "same" with strides pads the odd pixel at the end: ceil(n / s) per axis.
KERAS_CASES = [
    (dict(filters=5, kernel_size=2), (2, 6, 7, 8, 5), 245, (2, 2, 2, 6, 5)),
    (dict(filters=6, kernel_size=(2, 3, 1), strides=2, padding="same"), (2, 4, 4, 5, 6), 222,
     (2, 3, 1, 6, 6)),
    (dict(filters=6, kernel_size=3, strides=(2, 3, 2), padding="same"), (2, 4, 3, 5, 6), 978,
     (3, 3, 3, 6, 6)),
    (dict(filters=4, kernel_size=3, strides=(2, 2, 3), padding="valid"), (2, 3, 3, 3, 4), 652,
     (3, 3, 3, 6, 4)),
    (dict(filters=6, kernel_size=2, dilation_rate=(2, 1, 2), padding="same", groups=2),
     (2, 7, 8, 9, 6), 150, (2, 2, 2, 3, 6)),
    (dict(filters=6, kernel_size=2, dilation_rate=2, groups=3), (2, 5, 6, 7, 6), 102,
     (2, 2, 2, 2, 6)),
]


@pytest.mark.parametrize("kwargs, out_shape, params, kernel_shape", KERAS_CASES)
def test_shapes_and_parameter_counts_are_keras(kwargs, out_shape, params, kernel_shape):
    layer = Conv3D(**kwargs)
    assert layer(SymbolicTensor((None, 7, 8, 9, 6))).shape == (None, *out_shape[1:])
    assert layer(_x((2, 7, 8, 9, 6), np.float32)).shape == out_shape
    assert layer.count_params() == params and layer.kernel.shape == kernel_shape
    first = Conv3D(**kwargs, data_format="channels_first")
    y = first(_x((2, 6, 7, 8, 9), np.float32))
    assert y.shape == (out_shape[0], out_shape[4], *out_shape[1:4])
    assert first.kernel.shape == kernel_shape


def test_channels_first_shape_is_keras():
    # Keras: Conv3D(2, (2, 3, 3), data_format="channels_first") on (2, 3, 6, 7, 8)
    layer = Conv3D(2, (2, 3, 3), data_format="channels_first")
    assert layer(_x((2, 3, 6, 7, 8), np.float32)).shape == (2, 2, 5, 5, 6)
    assert layer.kernel.shape == (2, 3, 3, 3, 2)
    assert layer.output_shape == (None, 2, 5, 5, 6)


def test_keras_names_defaults_and_alias():
    assert layers.Convolution3D is Conv3D
    layer = Conv3D(4, 3)
    assert (layer.kernel_size, layer.strides, layer.dilation_rate) == ((3, 3, 3),) + (
        (1, 1, 1),) * 2
    assert layer.padding == "valid" and layer.groups == 1 and layer.use_bias
    assert layer.data_format == "channels_last" and layer.activation is None
    layer(_x((1, 4, 4, 4, 2), np.float32))
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    np.testing.assert_array_equal(layer.bias.value, 0)
    limit = np.sqrt(6 / (27 * 2 + 27 * 4))  # glorot_uniform: fan_in, fan_out with the window
    assert np.abs(layer.kernel.value).max() <= limit
    assert layer.kernel.value.dtype == np.float32


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_finite_differences_of_input_kernel_and_bias(data_format):
    layer = Conv3D(4, (2, 3, 2), strides=(2, 1, 1), padding="same", dilation_rate=(1, 1, 2),
                   groups=2, activation="tanh", data_format=data_format, dtype="float64")
    shape = (2, 4, 3, 5, 5) if data_format == "channels_first" else (2, 3, 5, 5, 4)
    x = _x(shape)
    y = layer(x)
    rng = np.random.default_rng(1)
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.weights])
    g = rng.standard_normal(y.shape)
    layer.forward(x, training=True)
    dx = layer.backward(g)

    def loss():
        return float(np.sum(layer.forward(x, training=True) * g))

    d_kernel, d_bias = layer.kernel.grad.copy(), layer.bias.grad.copy()
    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d_kernel, central_differences(loss, layer.kernel.value),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d_bias, central_differences(loss, layer.bias.value),
                               rtol=1e-6, atol=1e-8)


def test_channels_first_is_channels_last_transposed():
    last = Conv3D(3, 2, padding="same", strides=2, name="l")
    first = Conv3D(3, 2, padding="same", strides=2, data_format="channels_first", name="f")
    x = _x((2, 5, 4, 3, 2), np.float32)
    y_last = last(x)
    first(x.transpose(0, 4, 1, 2, 3))
    first.set_weights(last.get_weights())
    y_first = first(x.transpose(0, 4, 1, 2, 3))
    np.testing.assert_allclose(y_first, y_last.transpose(0, 4, 1, 2, 3), rtol=1e-6)
    g = _x(y_last.shape, np.float32, 3)
    dx_last = last.backward(g)
    dx_first = first.backward(g.transpose(0, 4, 1, 2, 3))
    np.testing.assert_allclose(dx_first, dx_last.transpose(0, 4, 1, 2, 3), rtol=1e-5)
    np.testing.assert_allclose(first.kernel.grad, last.kernel.grad, rtol=1e-5)


def test_activation_initializers_and_need_input_grad():
    layer = Conv3D(2, 2, activation="relu", kernel_initializer="ones", bias_initializer="ones",
                   use_bias=True)
    y = layer(np.full((1, 2, 2, 2, 1), -1.0, np.float32))
    np.testing.assert_array_equal(y, 0)  # relu(-8 + 1)
    y = layer(np.ones((1, 2, 2, 2, 1), np.float32))
    np.testing.assert_array_equal(y, 9)
    layer.need_input_grad = False
    layer.forward(np.ones((1, 2, 2, 2, 1), np.float32), training=True)
    assert layer.backward(np.ones((1, 1, 1, 1, 2), np.float32)) is None
    np.testing.assert_array_equal(layer.kernel.grad, 1)
    no_bias = Conv3D(2, 2, use_bias=False)
    no_bias(np.ones((1, 2, 2, 2, 1)))
    assert [w.name for w in no_bias.weights] == ["kernel"]


def test_regularizers_and_constraints_reach_their_weights():
    conv = Conv3D(4, 2, kernel_regularizer=regularizers.L2(0.5), bias_regularizer="l1",
                  activity_regularizer="l2", kernel_constraint=constraints.max_norm(2.0),
                  bias_constraint="non_neg", bias_initializer="ones")
    conv(_x((1, 3, 3, 3, 2), np.float32))
    assert conv.kernel.constraint is conv.kernel_constraint is not None
    assert conv.bias.constraint is not None
    assert conv.losses[:2] == pytest.approx([0.5 * np.sum(conv.kernel.value ** 2), 0.01 * 4])
    assert len(conv.losses) == 3


CONFIG_CASES = [
    dict(filters=8, kernel_size=3),
    dict(filters=4, kernel_size=(3, 1, 2), strides=(2, 1, 1), padding="SAME",
         dilation_rate=(1, 2, 1), groups=2, activation="relu", use_bias=False,
         kernel_initializer="he_normal", bias_initializer="ones",
         data_format="channels_first", name="c", kernel_regularizer="l2",
         activity_regularizer="l1", kernel_constraint=constraints.max_norm(3),
         input_shape=(4, 6, 6, 6), dtype="float64"),
    dict(filters=2, kernel_size=2, padding=((1, 0), (0, 2), (1, 1)), name="p"),
    dict(filters=2, kernel_size=2, padding=(1, 0, 2), name="q"),
]


@pytest.mark.parametrize("kwargs", CONFIG_CASES)
def test_config_round_trip(kwargs):
    layer = Conv3D(**kwargs)
    config = layer.get_config()
    clone = Conv3D.from_config(config)
    assert type(clone) is Conv3D and clone.get_config() == config
    assert isinstance(config["kernel_size"], list) and len(config["kernel_size"]) == 3
    again = layers.deserialize(layers.serialize(layer))
    assert type(again) is Conv3D and again.get_config() == config


def test_config_values_and_repr():
    config = Conv3D(4, 3, strides=2, padding="same", groups=2, name="c").get_config()
    assert {k: config[k] for k in ("filters", "kernel_size", "strides", "padding",
                                   "dilation_rate", "groups", "data_format")} == dict(
        filters=4, kernel_size=[3, 3, 3], strides=[2, 2, 2], padding="same",
        dilation_rate=[1, 1, 1], groups=2, data_format="channels_last")
    assert Conv3D(2, 2, padding=(1, 0, 2)).get_config()["padding"] == [[1, 1], [0, 0], [2, 2]]
    assert repr(Conv3D(4, (1, 2, 3), strides=(1, 1, 2), name="r")) == (
        "Conv3D(4, kernel_size=(1, 2, 3), strides=(1, 1, 2), name='r')")


def _tiny_model():
    return Sequential([
        Input((6, 6, 6, 1)),
        Conv3D(4, 3, activation="relu"),
        Conv3D(4, 2, strides=2, padding="same", groups=2, activation="relu"),
        layers.Flatten(), layers.Dense(2, activation="softmax"),
    ])


def _blobs(n, rng):
    """Class 1: a bright 2x2x2 cube somewhere in a noisy 6x6x6 volume; class 0: noise only."""
    y = rng.integers(0, 2, n)
    x = 0.3 * rng.standard_normal((n, 6, 6, 6, 1))
    for i in np.flatnonzero(y):
        z, r, c = rng.integers(0, 5, 3)
        x[i, z:z + 2, r:r + 2, c:c + 2] += 1.5
    return x.astype(np.float32), y


def test_a_tiny_conv3d_model_learns_with_fit():
    set_random_seed(4)
    rng = np.random.default_rng(5)
    x, y = _blobs(192, rng)
    model = _tiny_model()
    model.compile(optimizer=npconv.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    losses = model.fit(x, y, epochs=16, batch_size=32, verbose=0).history["loss"]
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.5 * losses[0], losses
    x_test, y_test = _blobs(96, rng)
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.85


def test_model_file_round_trip(tmp_path):
    set_random_seed(0)
    model = _tiny_model()
    rng = np.random.default_rng(1)
    x, y = _blobs(16, rng)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "conv3d.npconv"
    model.save(path)
    loaded = npio.load_model(path)
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert [a.get_config() for a in loaded.layers] == [b.get_config() for b in model.layers]
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)  # optimizer state too
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    clone = npconv.models.model_from_json(model.to_json())
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]


def test_summary_counts_and_costs_are_keras():
    # Keras 3.15.1: Sequential([Input((8, 8, 8, 2)), Conv3D(4, 3, activation="relu"),
    # Flatten(), Dense(3)]).count_params() == 2815, per layer [220, 0, 2595]
    model = Sequential([Input((8, 8, 8, 2)), Conv3D(4, 3, activation="relu"),
                        layers.Flatten(), layers.Dense(3)])
    assert model.count_params() == 2815
    assert [layer.count_params() for layer in model.layers] == [220, 0, 2595]
    conv = model.layers[0]
    cost = layer_cost(conv, batch_size=2)
    assert cost["macs"] == 2 * 6 ** 3 * 4 * (27 * 2)  # output values x kd*kh*kw*C_in
    assert cost["im2col_bytes"] == 2 * 6 ** 3 * 27 * 2 * 4
    lines = []
    model.summary(print_fn=lines.append, show_cost=True)
    text = "\n".join(lines)
    row = next(line for line in lines if line.strip().startswith(conv.name))
    assert "(None, 6, 6, 6, 4)" in row and "220" in row and "46,656" in row
    assert "Total params: 2,815" in text
    grouped = Conv3D(6, 2, groups=3)
    grouped(_x((1, 3, 3, 3, 6), np.float32))
    assert layer_cost(grouped)["macs"] == 8 * 6 * 8 * 2  # C_in / groups per output value
    report = bench_model(model, batch_size=2, repeats=1, warmup=0)
    assert report.rows[0]["macs"] == cost["macs"]


def test_constructor_errors_name_the_layer():
    cases = [
        (lambda: Conv3D(2, 3, padding="causal", name="a"),
         r"Conv3D a: expected padding to be 'valid', 'same' or explicit pads. "
         r"Received: padding='causal'"),
        (lambda: Conv3D(2, 3, padding=((1, 1), (1, 1)), name="a"),
         r"Conv3D a: expected padding to be 'valid', 'same', an int, a tuple of 3 ints"),
        (lambda: Conv3D(2, (3, 3), name="a"),
         r"Conv3D a: expected kernel_size to be an int or a tuple of 3 ints. "
         r"Received: kernel_size=\(3, 3\)"),
        (lambda: Conv3D(2, 0), r"Conv3D conv3d.*: expected kernel_size to be >= 1"),
        (lambda: Conv3D(2, 3, strides=(1, 0, 1)), r"expected strides to be >= 1"),
        (lambda: Conv3D(2, 3, dilation_rate=2.0), r"Conv3D .*: expected dilation_rate to be an "
         r"int or a tuple of 3 ints"),
        (lambda: Conv3D(0, 3), r"Conv3D .*: expected filters to be a positive int. "
         r"Received: filters=0"),
        (lambda: Conv3D(5, 3, groups=2, name="g"),
         r"Conv3D g: expected filters to be divisible by groups .* filters=5, groups=2"),
        (lambda: Conv3D(6, 3, groups=0), r"expected groups to be a positive int"),
        (lambda: Conv3D(2, 3, data_format="NCDHW"), r"data_format"),
        (lambda: Conv3D(2, 3, activation="swishy"), r"unknown activation"),
        (lambda: Conv3D(2, 3, kernel_regularizer="l3"), r"kernel_regularizer"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()
    with pytest.raises(TypeError, match="Conv3D: unexpected keyword argument.*: output_padding"):
        Conv3D(2, 3, output_padding=1)


def test_call_errors_name_the_layer():
    layer = Conv3D(2, 2, name="c")
    for bad in ((2, 8, 8, 3), (4, 10)):
        with pytest.raises(ValueError, match=r"c: Conv3D expects a 5-D input \(batch, depth, "
                                             r"height, width, channels\). Received an input "
                                             rf"of shape \({bad[0]}, {bad[1]}"):
            layer(_x(bad))
    with pytest.raises(ValueError, match=r"c: Conv3D expects a 5-D input \(batch, channels, "
                                         r"depth, height, width\)"):
        Conv3D(2, 2, data_format="channels_first", name="c")(SymbolicTensor((None, 8, 8, 8)))
    with pytest.raises(ValueError, match="channel dimension of the input"):
        Conv3D(2, 2)(SymbolicTensor((None, 4, 4, 4, None)))
    assert not layer.built
    layer(_x((1, 3, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"c: expected an input with 3 channels .* with 4 "
                                         r"channels"):
        layer(_x((1, 3, 3, 3, 4)))
    with pytest.raises(ValueError, match="c: expected a gradient of the output's shape"):
        layer.backward(np.ones((1, 2, 2, 1, 2)))
    with pytest.raises(RuntimeError, match="backward called before"):
        Conv3D(2, 2).backward(np.ones((1, 2, 2, 2, 2)))
    with pytest.raises(ValueError, match=r"s: the kernel \(2, 3, 2\) \(dilation \(1, 2, 1\)\) "
                                         r"spans 5 pixels in height, more than the padded "
                                         r"input's 4. Received an input of shape "
                                         r"\(1, 3, 4, 3, 1\)"):
        Conv3D(2, (2, 3, 2), dilation_rate=(1, 2, 1), name="s")(_x((1, 3, 4, 3, 1)))
    Conv3D(2, 3, padding="same")(_x((1, 1, 1, 1, 1)))  # "same" pads enough
    with pytest.raises(ValueError, match=r"g: Conv3D with groups=2 expects a number of input "
                                         r"channels divisible by 2. Received an input of shape "
                                         r"\(None, 3, 4, 4, 4\) with 3 channels"):
        Conv3D(4, 2, groups=2, data_format="channels_first", name="g").build(
            (None, 3, 4, 4, 4))
    layer = Conv3D(4, 2, groups=2, name="h")
    layer(_x((1, 3, 3, 3, 6)))
    with pytest.raises(ValueError, match=r"h: weight 'kernel' expects shape \(2, 2, 2, 3, 4\)"):
        layer.set_weights([np.zeros((2, 2, 3, 4)), np.zeros(4)])  # a 2-D layer's kernel
