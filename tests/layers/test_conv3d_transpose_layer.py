"""Conv3DTranspose (alias Convolution3DTranspose): Keras 3.15.1's signature, shapes and
parameter counts (recorded from Keras), Keras's numbers with Keras's own weights
(tests/data/keras_conv3d_transpose.npz), finite differences through the layer in both data
formats, config and model-file round trips, summary counts and costs, an autoencoder that
learns, errors naming the layer."""

import inspect
import json
import os

import numpy as np
import pytest

import npconv
from npconv import constraints, layers, regularizers
from npconv import io as npio
from npconv.layers import Conv3D, Conv3DTranspose, Input
from npconv.layers.base import SymbolicTensor
from npconv.models.cost import layer_cost
from npconv.models.sequential import Sequential
from npconv.ops.conv3d_transpose import conv3d_transpose_forward
from npconv.random import set_random_seed
from tests.finite_differences import central_differences

KERAS_REFERENCE = os.path.join(os.path.dirname(__file__), os.pardir, "data",
                               "keras_conv3d_transpose.npz")


def _x(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# Keras 3.15.1 (torch backend) on an input (2, 3, 4, 5, 2): output shape, count_params(),
# kernel shape, and the output shape of the channels_first layer on (2, 2, 3, 4, 5).
KERAS_CASES = [
    (dict(filters=3, kernel_size=2), (2, 4, 5, 6, 3), 51, (2, 2, 2, 3, 2), (2, 3, 4, 5, 6)),
    (dict(filters=4, kernel_size=(3, 2, 1), strides=2, padding="same"), (2, 6, 8, 10, 4), 52,
     (3, 2, 1, 4, 2), (2, 4, 6, 8, 10)),
    (dict(filters=2, kernel_size=3, strides=(2, 3, 1), padding="valid"), (2, 7, 12, 7, 2), 110,
     (3, 3, 3, 2, 2), (2, 2, 7, 12, 7)),
    (dict(filters=2, kernel_size=(1, 2, 3), strides=3, padding="valid"), (2, 9, 12, 15, 2), 26,
     (1, 2, 3, 2, 2), (2, 2, 9, 12, 15)),
    (dict(filters=5, kernel_size=3, strides=(2, 2, 3), padding="same",
          output_padding=(1, 0, 2)), (2, 6, 7, 15, 5), 275, (3, 3, 3, 5, 2), (2, 5, 6, 7, 15)),
    (dict(filters=2, kernel_size=(2, 3, 2), strides=(2, 2, 2), padding="valid",
          output_padding=1), (2, 7, 10, 11, 2), 50, (2, 3, 2, 2, 2), (2, 2, 7, 10, 11)),
    (dict(filters=3, kernel_size=(4, 3, 2), strides=2, padding="same",
          output_padding=(1, 1, 0)), (2, 5, 8, 8, 3), 147, (4, 3, 2, 3, 2), (2, 3, 5, 8, 8)),
    (dict(filters=2, kernel_size=2, dilation_rate=(2, 1, 3), padding="valid"),
     (2, 5, 5, 8, 2), 34, (2, 2, 2, 2, 2), (2, 2, 5, 5, 8)),
    (dict(filters=2, kernel_size=3, dilation_rate=2, padding="same"), (2, 3, 4, 5, 2), 110,
     (3, 3, 3, 2, 2), (2, 2, 3, 4, 5)),
    (dict(filters=1, kernel_size=1, use_bias=False), (2, 3, 4, 5, 1), 2, (1, 1, 1, 1, 2),
     (2, 1, 3, 4, 5)),
]

# inspect.signature(keras.layers.Conv3DTranspose.__init__), Keras 3.15.1: note data_format
# before output_padding (Conv2DTranspose has them the other way round)
KERAS_SIGNATURE = [
    ("filters", inspect.Parameter.empty), ("kernel_size", inspect.Parameter.empty),
    ("strides", (1, 1, 1)), ("padding", "valid"), ("data_format", None),
    ("output_padding", None), ("dilation_rate", (1, 1, 1)), ("activation", None),
    ("use_bias", True), ("kernel_initializer", "glorot_uniform"),
    ("bias_initializer", "zeros"), ("kernel_regularizer", None), ("bias_regularizer", None),
    ("activity_regularizer", None), ("kernel_constraint", None), ("bias_constraint", None),
]


@pytest.mark.parametrize("kwargs, out_shape, params, kernel_shape, first_shape", KERAS_CASES)
def test_shapes_and_parameter_counts_are_keras(kwargs, out_shape, params, kernel_shape,
                                               first_shape):
    layer = Conv3DTranspose(**kwargs)
    assert layer(SymbolicTensor((None, 3, 4, 5, 2))).shape == (None, *out_shape[1:])
    assert layer(_x((2, 3, 4, 5, 2), np.float32)).shape == out_shape
    assert layer.count_params() == params and layer.kernel.shape == kernel_shape
    assert layer.compute_output_shape((2, 3, 4, 5, 2)) == out_shape
    first = Conv3DTranspose(**kwargs, data_format="channels_first")
    assert first(_x((2, 2, 3, 4, 5), np.float32)).shape == first_shape
    assert first.kernel.shape == kernel_shape
    # (compute_output_shape is in NDHWC, as every npconv layer's; output_shape_for public)
    assert first.output_shape_for((None, 2, 3, 4, None)) == (None, *first_shape[1:4], None)


def test_signature_defaults_and_alias_are_keras():
    assert layers.Convolution3DTranspose is Conv3DTranspose
    assert Conv3DTranspose(2, 2).name.startswith("conv3d_transpose")  # Keras's automatic name
    params = list(inspect.signature(Conv3DTranspose.__init__).parameters.values())[1:]
    assert [(p.name, p.default) for p in params[:-1]] == KERAS_SIGNATURE
    assert params[-1].kind is inspect.Parameter.VAR_KEYWORD
    layer = Conv3DTranspose(4, 3)
    assert (layer.kernel_size, layer.strides, layer.dilation_rate, layer.output_padding) == (
        (3, 3, 3), (1, 1, 1), (1, 1, 1), None)
    assert layer.padding == "valid" and layer.data_format == "channels_last"
    assert layer.activation is None and layer.use_bias
    layer(_x((1, 2, 2, 2, 2), np.float32))
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    np.testing.assert_array_equal(layer.bias.value, 0)
    assert layer.kernel.value.dtype == np.float32
    # positionally, the fifth argument is data_format, as in Keras
    assert Conv3DTranspose(2, 3, 1, "same", "channels_first").data_format == "channels_first"


@pytest.mark.parametrize("case", ["same_strided", "valid_output_padding_channels_first",
                                  "same_dilated_odd_crop"])
def test_keras_numbers_with_keras_weights(case):
    """Keras 3.15.1's own layer, its drawn weights and its output
    (tests/data/make_keras_conv3d_transpose.py): npconv with those weights gives the same."""
    data = np.load(KERAS_REFERENCE)
    kwargs = json.loads(str(data[f"{case}/kwargs"]))
    layer = Conv3DTranspose(**kwargs)
    x = data[f"{case}/x"]
    layer(x)
    layer.set_weights([data[f"{case}/kernel"], data[f"{case}/bias"]])
    y = layer(x)
    assert y.dtype == np.float32 and y.shape == data[f"{case}/y"].shape
    np.testing.assert_allclose(y, data[f"{case}/y"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_finite_differences_of_input_kernel_and_bias(data_format):
    layer = Conv3DTranspose(3, (2, 3, 2), strides=(2, 1, 2), padding="same",
                            output_padding=(1, 0, 0), dilation_rate=(1, 1, 1),
                            activation="tanh", data_format=data_format, dtype="float64",
                            bias_initializer="random_normal")
    shape = (2, 2, 2, 3, 2) if data_format == "channels_first" else (2, 2, 3, 2, 2)
    x = _x(shape)
    y = layer.forward(x, training=True)
    g = _x(y.shape, seed=2)
    dx = layer.backward(g)
    grads = {w.name: w.grad.copy() for w in layer.weights}

    def loss():
        return float(np.sum(layer.forward(x, training=True) * g))

    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-8)
    for w in layer.weights:
        np.testing.assert_allclose(grads[w.name], central_differences(loss, w.value),
                                   rtol=1e-6, atol=1e-8, err_msg=w.name)
    layer.forward(x, training=True)
    layer.backward(g)
    for w in layer.weights:
        np.testing.assert_array_equal(w.grad, grads[w.name])


def test_layer_is_the_op_and_channels_first_is_channels_last_transposed():
    x = _x((2, 3, 2, 4, 3))
    last = Conv3DTranspose(2, (3, 2, 2), strides=(1, 2, 2), padding="same",
                           bias_initializer="random_normal", dtype="float64")
    y_last = last(x)
    ref, _ = conv3d_transpose_forward(x, last.kernel.value, last.bias.value, (1, 2, 2), "same")
    np.testing.assert_array_equal(y_last, ref)
    first = Conv3DTranspose(2, (3, 2, 2), strides=(1, 2, 2), padding="same",
                            data_format="channels_first", dtype="float64")
    first(x.transpose(0, 4, 1, 2, 3))
    first.set_weights(last.get_weights())
    np.testing.assert_allclose(first(x.transpose(0, 4, 1, 2, 3)),
                               y_last.transpose(0, 4, 1, 2, 3), rtol=1e-13)
    g = _x(y_last.shape, seed=3)
    np.testing.assert_allclose(first.backward(g.transpose(0, 4, 1, 2, 3)),
                               last.backward(g).transpose(0, 4, 1, 2, 3), rtol=1e-12)
    np.testing.assert_allclose(first.kernel.grad, last.kernel.grad, rtol=1e-12)
    # it undoes a strided Conv3D's shape, as in a 3-D autoencoder
    down = Conv3D(3, 3, strides=2, padding="same")(_x((1, 8, 6, 4, 2), np.float32))
    assert Conv3DTranspose(2, 3, strides=2, padding="same")(down).shape == (1, 8, 6, 4, 2)


def test_dtypes_activation_and_need_input_grad():
    layer = Conv3DTranspose(2, 2, activation="relu", kernel_initializer="ones",
                            bias_initializer="ones")
    y = layer(np.ones((1, 1, 1, 1, 3), dtype=np.int64))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, 4)  # each output voxel: 3 channels x 1 + the bias
    layer.backward(np.ones(y.shape, np.float64))
    assert layer.kernel.grad.dtype == layer.bias.grad.dtype == np.float32
    layer.need_input_grad = False
    layer.forward(np.ones((1, 1, 1, 1, 3), np.float32), training=True)
    assert layer.backward(np.ones(y.shape, np.float32)) is None
    np.testing.assert_array_equal(layer.kernel.grad, 1)
    no_bias = Conv3DTranspose(2, 2, use_bias=False)
    no_bias(np.ones((1, 2, 2, 2, 1)))
    assert [w.name for w in no_bias.weights] == ["kernel"]


def test_regularizers_and_constraints_reach_their_weights():
    layer = Conv3DTranspose(4, 2, kernel_regularizer=regularizers.L2(0.5),
                            bias_regularizer="l1", activity_regularizer="l2",
                            kernel_constraint=constraints.max_norm(2.0),
                            bias_constraint="non_neg", bias_initializer="ones")
    layer(_x((1, 2, 2, 2, 2), np.float32))
    assert layer.kernel.constraint is layer.kernel_constraint is not None
    assert layer.bias.constraint is not None
    assert layer.losses[:2] == pytest.approx([0.5 * np.sum(layer.kernel.value ** 2), 0.01 * 4])
    assert len(layer.losses) == 3


CONFIG_CASES = [
    dict(filters=8, kernel_size=3),
    dict(filters=2, kernel_size=(3, 1, 2), strides=(2, 3, 1), padding="SAME",
         output_padding=(1, 2, 0), dilation_rate=(1, 1, 1), activation="relu", use_bias=False,
         kernel_initializer="he_normal", bias_initializer="ones",
         kernel_regularizer=regularizers.L2(0.1), activity_regularizer="l1",
         kernel_constraint=constraints.max_norm(3), data_format="channels_first", name="t",
         input_shape=(3, 4, 4, 4), dtype="float64"),
]


@pytest.mark.parametrize("kwargs", CONFIG_CASES)
def test_config_round_trip(kwargs):
    layer = Conv3DTranspose(**kwargs)
    config = layer.get_config()
    clone = Conv3DTranspose.from_config(config)
    assert type(clone) is Conv3DTranspose and clone.get_config() == config
    assert isinstance(config["kernel_size"], list) and len(config["kernel_size"]) == 3
    again = layers.deserialize(layers.serialize(layer))
    assert type(again) is Conv3DTranspose and again.get_config() == config


def test_config_values_and_repr():
    config = Conv3DTranspose(4, 3, strides=2, padding="same", output_padding=(1, 0, 1),
                             name="c").get_config()
    assert {k: config[k] for k in ("filters", "kernel_size", "strides", "padding",
                                   "output_padding", "dilation_rate", "data_format")} == dict(
        filters=4, kernel_size=[3, 3, 3], strides=[2, 2, 2], padding="same",
        output_padding=[1, 0, 1], dilation_rate=[1, 1, 1], data_format="channels_last")
    assert Conv3DTranspose(2, 2).get_config()["output_padding"] is None
    assert repr(Conv3DTranspose(4, (1, 2, 3), strides=(1, 1, 2), output_padding=(0, 0, 1),
                                name="r")) == (
        "Conv3DTranspose(4, kernel_size=(1, 2, 3), strides=(1, 1, 2), "
        "output_padding=(0, 0, 1), name='r')")


def _autoencoder():
    """A 3-D convolutional autoencoder: (6, 6, 6, 1) -> (3, 3, 3, 4) -> (6, 6, 6, 1)."""
    return Sequential([
        Input((6, 6, 6, 1)),
        Conv3D(4, 3, strides=2, padding="same", activation="relu"),
        Conv3DTranspose(4, 3, strides=2, padding="same", activation="relu"),
        Conv3DTranspose(1, 3, padding="same"),
    ])


def _volumes(n, rng):
    """A bright 2x2x2 cube somewhere in a dark 6x6x6 volume."""
    x = np.zeros((n, 6, 6, 6, 1), np.float32)
    for i in range(n):
        z, r, c = rng.integers(0, 5, 3)
        x[i, z:z + 2, r:r + 2, c:c + 2] = 1.0
    return x


def test_a_3d_autoencoder_learns_with_fit():
    set_random_seed(2)
    x = _volumes(128, np.random.default_rng(3))
    model = _autoencoder()
    model.compile(optimizer=npconv.optimizers.Adam(learning_rate=0.01), loss="mse")
    losses = model.fit(x, x, epochs=12, batch_size=32, verbose=0).history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses


def test_model_file_round_trip(tmp_path):
    set_random_seed(0)
    model = _autoencoder()
    x = _volumes(16, np.random.default_rng(1))
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "ae.npconv"
    model.save(path)
    loaded = npio.load_model(path)
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert [a.get_config() for a in loaded.layers] == [b.get_config() for b in model.layers]
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.fit(x, x, epochs=1, batch_size=8, verbose=0, shuffle=False)  # optimizer state too
    model.fit(x, x, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    clone = npconv.models.model_from_json(model.to_json())
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]


def test_summary_counts_and_costs_are_keras():
    # Keras 3.15.1, the same Sequential: count_params() == 657, per layer [112, 436, 109],
    # output shapes (None, 3, 3, 3, 4), (None, 6, 6, 6, 4), (None, 6, 6, 6, 1)
    model = _autoencoder()
    assert [layer.count_params() for layer in model.layers] == [112, 436, 109]
    assert model.count_params() == 657
    up = model.layers[1]
    cost = layer_cost(up, batch_size=2)
    assert cost["macs"] == 2 * 3 ** 3 * 4 * (27 * 4)  # input values x kd*kh*kw*filters
    assert cost["im2col_bytes"] == 0
    lines = []
    model.summary(print_fn=lines.append)
    row = next(line for line in lines if line.strip().startswith(up.name))
    assert "(None, 6, 6, 6, 4)" in row and "436" in row
    assert "Total params: 657" in "\n".join(lines)


def test_constructor_errors_name_the_layer():
    cases = [  # (Keras raises a ValueError for each, in its own words)
        (lambda: Conv3DTranspose(2, 3, strides=2, output_padding=2, name="a"),
         r"Conv3DTranspose a: strides must be greater than output_padding. Received "
         r"strides=\(2, 2, 2\), output_padding=\(2, 2, 2\)"),
        (lambda: Conv3DTranspose(2, 3, strides=(2, 2, 1), output_padding=(1, 1, 1)),
         r"strides must be greater than output_padding. Received strides=\(2, 2, 1\)"),
        (lambda: Conv3DTranspose(2, 3, output_padding=(1, 1)),
         r"expected output_padding to be an int or a tuple of 3 ints"),
        (lambda: Conv3DTranspose(2, 3, strides=2, output_padding=-1),
         r"expected output_padding to be >= 0"),
        (lambda: Conv3DTranspose(2, 3, padding="causal", name="a"),
         r"Conv3DTranspose a: expected padding to be 'valid' or 'same'. "
         r"Received: padding='causal'"),
        (lambda: Conv3DTranspose(2, 3, padding=1), r"expected padding to be 'valid' or 'same'"),
        (lambda: Conv3DTranspose(2, (3, 3), name="a"),
         r"Conv3DTranspose a: expected kernel_size to be an int or a tuple of 3 ints. "
         r"Received: kernel_size=\(3, 3\)"),
        (lambda: Conv3DTranspose(2, 0), r"expected kernel_size to be >= 1"),
        (lambda: Conv3DTranspose(2, 3, strides=(1, 0, 1)), r"expected strides to be >= 1"),
        (lambda: Conv3DTranspose(0, 3), r"Conv3DTranspose .*: expected filters to be a "
                                        r"positive int. Received: filters=0"),
        (lambda: Conv3DTranspose(2, 3, data_format="NCDHW"), r"data_format"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        Conv3DTranspose(2, 3, groups=2)  # (Keras: a ValueError, "Unrecognized keyword")


def test_call_errors_name_the_layer():
    layer = Conv3DTranspose(2, 2, name="c")
    for bad in ((2, 4, 4, 2), (4, 10)):  # (Keras: "expected min_ndim=5, found ndim=4")
        with pytest.raises(ValueError, match=r"c: Conv3DTranspose expects a 5-D input "
                                             r"\(batch, depth, height, width, channels\). "
                                             rf"Received an input of shape \({bad[0]}, "):
            layer(_x(bad))
    with pytest.raises(ValueError, match=r"c: Conv3DTranspose expects a 5-D input \(batch, "
                                         r"channels, depth, height, width\)"):
        Conv3DTranspose(2, 2, data_format="channels_first", name="c")(
            SymbolicTensor((None, 8, 8, 8)))
    with pytest.raises(ValueError, match="channel dimension of the input"):
        Conv3DTranspose(2, 2)(SymbolicTensor((None, 4, 4, 4, None)))
    assert not layer.built
    layer(_x((1, 2, 2, 2, 3)))
    with pytest.raises(ValueError, match=r"c: expected an input with 3 channels .* with 4 "
                                         r"channels"):  # (Keras: "expected axis -1 ... 3")
        layer(_x((1, 2, 2, 2, 4)))
    with pytest.raises(ValueError, match="c: expected a gradient of the output's shape"):
        layer.backward(np.ones((1, 2, 2, 2, 2)))
    with pytest.raises(RuntimeError, match="backward called before"):
        Conv3DTranspose(2, 2).backward(np.ones((1, 2, 2, 2, 2)))
    with pytest.raises(ValueError, match=r"e: Conv3DTranspose .*output would be empty. "
                                         r"Received an input of shape \(1, 1, 1, 1, 1\)"):
        Conv3DTranspose(2, 2, strides=2, padding="same", output_padding=0, name="e")(
            _x((1, 1, 1, 1, 1)))
    with pytest.raises(ValueError, match=r"z: Conv3DTranspose expected an input without an "
                                         r"empty spatial axis \(0 pixels in height\)"):
        Conv3DTranspose(2, 2, name="z")(SymbolicTensor((None, 2, 0, 2, 1)))
    layer = Conv3DTranspose(4, 2, name="h")
    layer(_x((1, 2, 2, 2, 3)))
    with pytest.raises(ValueError, match=r"h: weight 'kernel' expects shape \(2, 2, 2, 4, 3\)"):
        layer.set_weights([np.zeros((2, 2, 4, 3)), np.zeros(4)])  # a 2-D layer's kernel
