"""Conv1D, Conv1DTranspose, DepthwiseConv1D, SeparableConv1D (and the aliases Convolution1D,
SeparableConvolution1D): Keras 3's arguments, shapes and parameter counts, finite differences
in float64, PyTorch parity over random configurations (forward and every gradient, both data
formats), causality, config and model-file round trips, errors, training with fit."""

import numpy as np
import pytest

import npconv
from npconv import constraints, layers, regularizers
from npconv import io as npio
from npconv.layers import (
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    DepthwiseConv1D,
    Input,
    SeparableConv1D,
)
from npconv.layers.base import SymbolicTensor
from npconv.models.sequential import Sequential
from npconv.random import set_random_seed
from tests.finite_differences import central_differences


def _x(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _randomize(layer, rng):
    """Random values for every weight (the biases too), in the layer's dtype."""
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.weights])


# ------------------------------------------------------------------ Keras's shapes and counts
# Keras 3's own test cases (keras/src/layers/convolutional/*_test.py) and docstring examples,
# channels_last, then the same read channels_first.
KERAS_CASES = [
    (Conv1D, dict(filters=5, kernel_size=2), (3, 5, 4), (3, 4, 5)),
    (Conv1D, dict(filters=6, kernel_size=2, padding="same", dilation_rate=(2,), groups=2),
     (3, 4, 4), (3, 4, 6)),
    (Conv1D, dict(filters=6, kernel_size=2, padding="causal", dilation_rate=(2,), groups=2),
     (3, 4, 4), (3, 4, 6)),
    (Conv1D, dict(filters=6, kernel_size=2, strides=(2,), groups=2), (3, 5, 4), (3, 2, 6)),
    (Conv1D, dict(filters=32, kernel_size=3, activation="relu"), (4, 10, 128), (4, 8, 32)),
    (Conv1DTranspose, dict(filters=5, kernel_size=2, strides=2), (2, 8, 4), (2, 16, 5)),
    (Conv1DTranspose, dict(filters=6, kernel_size=2, strides=3, padding="same",
                           output_padding=2, dilation_rate=(1,)), (2, 8, 4), (2, 23, 6)),
    (Conv1DTranspose, dict(filters=6, kernel_size=(2,), strides=(2,)), (2, 8, 4), (2, 16, 6)),
    (Conv1DTranspose, dict(filters=32, kernel_size=3, strides=2, activation="relu"),
     (4, 10, 128), (4, 21, 32)),
    (DepthwiseConv1D, dict(kernel_size=2, depth_multiplier=5), (3, 5, 4), (3, 4, 20)),
    (DepthwiseConv1D, dict(kernel_size=2, depth_multiplier=6, padding="same",
                           dilation_rate=(2,)), (3, 4, 4), (3, 4, 24)),
    (DepthwiseConv1D, dict(kernel_size=2, depth_multiplier=6, strides=(2,)), (3, 5, 4),
     (3, 2, 24)),
    (DepthwiseConv1D, dict(kernel_size=3, depth_multiplier=3, strides=2, activation="relu"),
     (4, 10, 12), (4, 4, 36)),
    (SeparableConv1D, dict(filters=5, kernel_size=2, depth_multiplier=5), (3, 5, 4),
     (3, 4, 5)),
    (SeparableConv1D, dict(filters=6, kernel_size=2, depth_multiplier=6, padding="same",
                           dilation_rate=(2,)), (3, 4, 4), (3, 4, 6)),
    (SeparableConv1D, dict(filters=6, kernel_size=(2,), depth_multiplier=6, strides=(2,)),
     (3, 5, 4), (3, 2, 6)),
]


def _channels_first(shape):
    return (shape[0], shape[2], shape[1])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("cls, kwargs, in_shape, out_shape", KERAS_CASES)
def test_output_shapes_are_keras(cls, kwargs, in_shape, out_shape, data_format):
    if data_format == "channels_first":
        in_shape, out_shape = _channels_first(in_shape), _channels_first(out_shape)
    layer = cls(**kwargs, data_format=data_format)
    assert layer.compute_output_shape(in_shape) == out_shape  # Keras's call, before build
    assert layer(SymbolicTensor((None, *in_shape[1:]))).shape == (None, *out_shape[1:])
    assert layer(_x(in_shape, np.float32)).shape == out_shape
    assert layer.output_shape == (None, *out_shape[1:])
    assert len(layer.trainable_weights) == (3 if cls is SeparableConv1D else 2)
    assert layer.non_trainable_weights == [] and layer.losses == []


def _keras_steps(length, k, s, d, padding):
    """keras.src.ops.operation_utils.compute_conv_output_shape along one axis."""
    if padding == "valid":
        return (length - d * (k - 1) - 1) // s + 1
    return (length - 1) // s + 1  # "same" and "causal"


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
def test_conv1d_output_steps_follow_keras_formula(padding):
    rng = np.random.default_rng(7)
    for _ in range(40):
        k, s, d = (int(v) for v in rng.integers(1, 5, 3))
        length = int(rng.integers(d * (k - 1) + 1, 30))
        layer = Conv1D(3, k, strides=s, dilation_rate=d, padding=padding)
        expected = _keras_steps(length, k, s, d, padding)
        assert layer.compute_output_shape((None, length, 2)) == (None, expected, 3)
        assert layer(_x((1, length, 2))).shape == (1, expected, 3)
    assert Conv1D(3, 2).compute_output_shape((None, None, 4)) == (None, None, 3)
    assert Conv1D(3, 2)(SymbolicTensor((None, None, 4))).shape == (None, None, 3)


@pytest.mark.parametrize("make, params, weight_shapes", [
    (lambda: Conv1D(32, 3), 800, [(3, 8, 32), (32,)]),
    (lambda: Conv1D(32, 3, groups=4), 3 * 2 * 32 + 32, [(3, 2, 32), (32,)]),
    (lambda: Conv1D(32, 5, use_bias=False, padding="causal"), 5 * 8 * 32, [(5, 8, 32)]),
    (lambda: Conv1DTranspose(16, 3), 3 * 16 * 8 + 16, [(3, 16, 8), (16,)]),
    (lambda: DepthwiseConv1D(3, depth_multiplier=2), 3 * 8 * 2 + 16, [(3, 8, 2), (16,)]),
    (lambda: SeparableConv1D(32, 3), 3 * 8 + 8 * 32 + 32, [(3, 8, 1), (1, 8, 32), (32,)]),
    (lambda: SeparableConv1D(4, 3, depth_multiplier=2, use_bias=False),
     3 * 8 * 2 + 16 * 4, [(3, 8, 2), (1, 16, 4)]),
])
def test_weights_and_summary_parameter_counts_are_keras(make, params, weight_shapes):
    layer = make()
    model = Sequential([Input((100, 8)), layer])
    assert [w.shape for w in layer.weights] == weight_shapes
    assert layer.count_params() == model.count_params() == params
    lines = []
    model.summary(print_fn=lines.append)
    row = next(line for line in lines if line.strip().startswith(layer.name))
    assert row.split()[-1] == f"{params:,}"
    assert f"Total params: {params:,}" in "\n".join(lines)


def test_keras_names_defaults_and_aliases():
    assert layers.Convolution1D is Conv1D
    assert layers.SeparableConvolution1D is SeparableConv1D
    assert npconv.layers.Conv1D is Conv1D
    assert [Conv1D(2, 3).name, Conv1DTranspose(2, 3).name, DepthwiseConv1D(3).name,
            SeparableConv1D(2, 3).name, Conv1D(2, 3).name] == [
        "conv1d", "conv1d_transpose", "depthwise_conv1d", "separable_conv1d", "conv1d_1"]
    conv = Conv1D(4, 3)
    assert (conv.kernel_size, conv.strides, conv.padding, conv.data_format,
            conv.dilation_rate, conv.groups, conv.activation, conv.use_bias) == (
        (3,), (1,), "valid", "channels_last", (1,), 1, None, True)
    assert Conv1D(4, (5,), strides=[2], dilation_rate=np.int64(1)).kernel_size == (5,)
    config = conv.get_config()
    assert (config["kernel_initializer"], config["bias_initializer"]) == (
        "glorot_uniform", "zeros")
    t = Conv1DTranspose(4, 3)
    assert (t.strides, t.output_padding, t.dilation_rate) == ((1,), None, (1,))
    assert Conv1DTranspose(4, 3, strides=3, output_padding=2).output_padding == (2,)
    dw = DepthwiseConv1D(3)
    assert (dw.depth_multiplier, dw.strides, dw.padding) == (1, (1,), "valid")
    sep = SeparableConv1D(2, 3)
    assert (sep.depth_multiplier, sep.strides, sep.padding, sep.use_bias) == (
        1, (1,), "valid", True)
    # the positional order is Keras's (data_format before dilation_rate, groups after)
    positional = Conv1D(6, 3, 2, "same", "channels_first", 1, 3)
    assert (positional.strides, positional.padding, positional.data_format,
            positional.groups) == ((2,), "same", "channels_first", 3)
    # a 1-D layer is not a Conv2D (TensorBoard and viz look for "the first Conv2D")
    assert not isinstance(Conv1D(2, 3), Conv2D)


# ------------------------------------------------------------------ numbers
FD_CASES = [
    lambda: Conv1D(3, 3, strides=2, padding="same", activation="tanh"),
    lambda: Conv1D(4, 2, padding="causal", dilation_rate=2, groups=2,
                   data_format="channels_first", activation="tanh"),
    lambda: Conv1DTranspose(3, 3, strides=2, padding="same", output_padding=1,
                            activation="tanh"),
    lambda: Conv1DTranspose(2, 2, dilation_rate=2, data_format="channels_first"),
    lambda: DepthwiseConv1D(3, depth_multiplier=2, padding="same", activation="tanh"),
    lambda: DepthwiseConv1D(2, strides=2, data_format="channels_first"),
    lambda: SeparableConv1D(3, 2, dilation_rate=2, depth_multiplier=2, activation="tanh",
                            data_format="channels_first"),
    lambda: SeparableConv1D(2, 3, strides=2, padding="same"),
]


@pytest.mark.parametrize("make", FD_CASES)
def test_finite_differences_of_input_and_every_weight(make):
    layer = make()
    shape = (2, 4, 7) if layer.data_format == "channels_first" else (2, 7, 4)
    x = _x(shape)
    layer(x)
    _randomize(layer, np.random.default_rng(1))
    assert all(w.value.dtype == np.float64 for w in layer.weights)
    y = layer(x)
    g = _x(y.shape, seed=2)
    dx = layer.backward(g)
    grads = {w.name: w.grad.copy() for w in layer.weights}
    assert all(grads[w.name].shape == w.shape for w in layer.weights)

    def loss():
        return float(np.sum(layer(x) * g))

    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-8)
    for w in layer.weights:
        np.testing.assert_allclose(grads[w.name], central_differences(loss, w.value),
                                   rtol=1e-6, atol=1e-8, err_msg=w.name)
    layer(x)  # a second backward: the same gradients, overwritten, not accumulated
    layer.backward(g)
    for w in layer.weights:
        np.testing.assert_array_equal(w.grad, grads[w.name])


@pytest.mark.parametrize("make", [
    lambda df: Conv1D(4, 3, strides=2, padding="causal", groups=2, data_format=df),
    lambda df: Conv1DTranspose(3, 3, strides=2, padding="same", data_format=df),
    lambda df: DepthwiseConv1D(3, depth_multiplier=2, padding="same", data_format=df),
    lambda df: SeparableConv1D(3, 2, depth_multiplier=2, data_format=df),
])
def test_channels_first_is_channels_last_transposed(make):
    x = _x((2, 9, 4))
    last, first = make("channels_last"), make("channels_first")
    last(x)
    _randomize(last, np.random.default_rng(3))
    first(x.transpose(0, 2, 1))
    first.set_weights(last.get_weights())
    y_last = last(x)
    y_first = first(x.transpose(0, 2, 1))
    np.testing.assert_array_equal(y_first, y_last.transpose(0, 2, 1))
    g = _x(y_last.shape, seed=4)
    dx_last = last.backward(g)
    dx_first = first.backward(g.transpose(0, 2, 1))
    np.testing.assert_array_equal(dx_first, dx_last.transpose(0, 2, 1))
    for a, b in zip(first.weights, last.weights, strict=True):
        np.testing.assert_array_equal(a.grad, b.grad)


def test_conv1d_is_conv2d_on_one_row():
    """The design, checked: Conv1D's numbers are Conv2D's with a 1-row kernel on 1-row
    images (so every path of the 2-D op serves the 1-D layer)."""
    x = _x((3, 11, 6))
    one = Conv1D(4, 3, strides=2, padding="same", dilation_rate=1, groups=2)
    two = Conv2D(4, (1, 3), strides=(1, 2), padding="same", groups=2)
    one(x)
    _randomize(one, np.random.default_rng(5))
    two(x[:, None])
    two.set_weights([one.kernel.value[None], one.bias.value])
    np.testing.assert_array_equal(one(x), two(x[:, None])[:, 0])
    g = _x((3, 6, 4), seed=6)
    np.testing.assert_array_equal(one.backward(g), two.backward(g[:, None])[:, 0])
    np.testing.assert_array_equal(one.kernel.grad, two.kernel.grad[0])


def test_causal_output_never_reads_the_future():
    layer = Conv1D(3, 3, padding="causal", dilation_rate=2)
    x = _x((2, 12, 2))
    y = np.array(layer(x))
    for t in (0, 4, 10):
        later = x.copy()
        later[:, t + 1:] = _x(later[:, t + 1:].shape, seed=t + 1)
        y2 = np.array(layer(later))
        np.testing.assert_array_equal(y2[:, :t + 1], y[:, :t + 1])
        assert not np.allclose(y2[:, t + 1:], y[:, t + 1:])
    # = "valid" on the input left-padded with d * (k - 1) = 4 zeros
    valid = Conv1D(3, 3, dilation_rate=2)
    valid(x)
    valid.set_weights(layer.get_weights())
    padded = np.concatenate([np.zeros((2, 4, 2)), x], axis=1)
    np.testing.assert_array_equal(valid(padded), y)


def test_dtypes_and_need_input_grad():
    for layer in (Conv1D(2, 3), Conv1DTranspose(2, 3), DepthwiseConv1D(3),
                  SeparableConv1D(2, 3)):
        y = layer(np.ones((2, 6, 3), dtype=np.int64))
        assert y.dtype == np.float32 and all(w.dtype == np.float32 for w in layer.weights)
        dx = layer.backward(np.ones(y.shape, np.float32))
        assert dx.dtype == np.float32 and dx.shape == (2, 6, 3)
        assert all(w.grad.dtype == np.float32 for w in layer.weights)
        layer.need_input_grad = False
        layer(_x((2, 6, 3), np.float32))
        assert layer.backward(np.ones(y.shape, np.float32)) is None


def test_blocked_inference_equals_training_pass_and_its_backward():
    layer = Conv1D(16, 3, padding="same", activation="relu", dtype="float64")
    x = _x((400, 60, 8))
    layer(x[:1])
    assert layer._block_images((400, 1, 60, 8)) < 400, "expected inference in blocks"
    y_infer = np.array(layer(x, training=False))
    y_train = np.array(layer(x, training=True))
    g = _x(y_train.shape, seed=1)
    dx_train = layer.backward(g)
    dk_train = layer.kernel.grad.copy()
    np.testing.assert_allclose(y_infer, y_train, rtol=1e-13, atol=1e-13)
    layer(x, training=False)
    np.testing.assert_allclose(layer.backward(g), dx_train, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, dk_train, rtol=1e-12, atol=1e-12)


def test_regularizers_and_constraints_reach_their_weights():
    conv = Conv1D(4, 3, kernel_regularizer=regularizers.L2(0.5), bias_regularizer="l1",
                  activity_regularizer="l2", kernel_constraint=constraints.max_norm(2.0),
                  bias_constraint="non_neg", bias_initializer="ones")
    conv(_x((1, 6, 2), np.float32))
    assert conv.kernel.constraint is conv.kernel_constraint is not None
    assert conv.bias.constraint is not None
    assert conv.losses[:2] == pytest.approx([0.5 * np.sum(conv.kernel.value ** 2), 0.01 * 4])
    assert len(conv.losses) == 3  # the activity penalty of the output
    dw = DepthwiseConv1D(3, depthwise_regularizer=regularizers.L1(0.1),
                         depthwise_constraint=constraints.non_neg())
    dw(_x((1, 6, 2), np.float32))
    assert dw.losses == pytest.approx([0.1 * np.abs(dw.kernel.value).sum()])
    assert dw.kernel.constraint is dw.depthwise_constraint is not None
    sep = SeparableConv1D(3, 2, pointwise_regularizer=regularizers.L2(0.2),
                          pointwise_constraint=constraints.unit_norm())
    sep(_x((1, 6, 2), np.float32))
    assert sep.losses == pytest.approx([0.2 * np.sum(sep.pointwise_kernel.value ** 2)])
    assert sep.pointwise_kernel.constraint is not None
    sep.backward(np.zeros((1, 5, 3), np.float32))
    sep.add_regularization_gradients()
    np.testing.assert_allclose(sep.pointwise_kernel.grad, 0.4 * sep.pointwise_kernel.value,
                               rtol=1e-6)
    t = Conv1DTranspose(2, 3, kernel_regularizer="l2", kernel_constraint="non_neg")
    t(_x((1, 4, 2), np.float32))
    assert len(t.losses) == 1 and t.kernel.constraint is not None


# ------------------------------------------------------------------ config and files
CONFIG_CASES = [
    (Conv1D, dict(filters=8, kernel_size=3)),
    (Conv1D, dict(filters=4, kernel_size=(5,), strides=2, padding="CAUSAL", dilation_rate=2,
                  groups=2, activation="relu", use_bias=False, kernel_initializer="he_normal",
                  bias_initializer="ones", data_format="channels_first", name="c",
                  kernel_regularizer="l2", activity_regularizer="l1",
                  kernel_constraint=constraints.max_norm(3), input_shape=(4, 20),
                  dtype="float64")),
    (Conv1DTranspose, dict(filters=3, kernel_size=4, strides=3, padding="same",
                           output_padding=1, activation="sigmoid", bias_regularizer="l1",
                           data_format="channels_first", name="t")),
    (DepthwiseConv1D, dict(kernel_size=3, strides=2, padding="same", depth_multiplier=3,
                           depthwise_initializer="zeros", depthwise_regularizer="l2",
                           depthwise_constraint="non_neg", name="d")),
    (SeparableConv1D, dict(filters=4, kernel_size=3, dilation_rate=2, depth_multiplier=2,
                           pointwise_initializer="he_uniform", pointwise_regularizer="l1",
                           pointwise_constraint="unit_norm", data_format="channels_first",
                           name="s")),
]


@pytest.mark.parametrize("cls, kwargs", CONFIG_CASES)
def test_config_round_trip(cls, kwargs):
    layer = cls(**kwargs)
    config = layer.get_config()
    clone = cls.from_config(config)
    assert type(clone) is cls and clone.get_config() == config
    assert isinstance(config["kernel_size"], list) and len(config["kernel_size"]) == 1
    again = layers.deserialize(layers.serialize(layer))
    assert type(again) is cls and again.get_config() == config


def test_config_values_and_repr():
    config = Conv1D(4, 3, strides=2, padding="causal", groups=2, name="c").get_config()
    assert {k: config[k] for k in ("filters", "kernel_size", "strides", "padding",
                                   "dilation_rate", "groups", "data_format")} == dict(
        filters=4, kernel_size=[3], strides=[2], padding="causal", dilation_rate=[1],
        groups=2, data_format="channels_last")
    assert Conv1DTranspose(2, 3, strides=2, output_padding=1).get_config()[
        "output_padding"] == [1]
    assert repr(Conv1D(4, 3, strides=2, padding="causal", name="r")) == (
        "Conv1D(4, kernel_size=(3,), strides=(2,), padding='causal', name='r')")
    assert repr(Conv1D(4, 3, name="q")) == "Conv1D(4, kernel_size=(3,), name='q')"
    assert repr(DepthwiseConv1D(3, depth_multiplier=2, name="d")) == (
        "DepthwiseConv1D(kernel_size=(3,), depth_multiplier=2, name='d')")
    assert repr(Conv1DTranspose(2, 3, strides=2, output_padding=1, name="t")) == (
        "Conv1DTranspose(2, kernel_size=(3,), strides=(2,), output_padding=(1,), name='t')")


def test_model_file_round_trip_with_every_1d_layer(tmp_path):
    set_random_seed(0)
    model = Sequential([
        Input((16, 3)),
        Conv1D(6, 3, padding="causal", groups=3, activation="relu",
               bias_initializer="random_normal"),
        DepthwiseConv1D(3, depth_multiplier=2, padding="same", activation="relu"),
        SeparableConv1D(4, 3, strides=2, pointwise_regularizer="l2"),
        Conv1DTranspose(5, 3, strides=2, output_padding=1, activation="relu"),
        Conv1D(4, 2, data_format="channels_first"),
        layers.Flatten(), layers.Dense(3, activation="softmax"),
    ])
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "seq.npconv"
    model.save(path)
    loaded = npio.load_model(path)
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert [a.get_config() for a in loaded.layers] == [b.get_config() for b in model.layers]
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)  # optimizer state too
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    clone = npconv.models.model_from_json(model.to_json())
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    assert clone.output_shape == model.output_shape == (None, 3)


def test_variable_length_sequences_in_a_functional_model():
    """Keras's Input((None, features)): the steps are known only at each call."""
    inp = Input((None, 3))
    h = Conv1D(8, 3, padding="causal", activation="relu")(inp)
    h = SeparableConv1D(4, 3, padding="same")(h)
    model = npconv.Model(inp, Conv1DTranspose(2, 2, strides=2)(h))
    assert model.output_shape == (None, None, 2)
    for steps in (10, 17):
        assert model.predict(_x((2, steps, 3), np.float32), verbose=0).shape == (2, 2 * steps, 2)
    built = Conv1D(32, 3)
    built.build((None, 100, 8))  # Keras's build by hand, on the user's 3-D shape
    assert built.built and built.kernel.shape == (3, 8, 32)
    assert built.output_shape == (None, 98, 32)


def _waves(n, steps, rng):
    """Class 0: a slow sine, class 1: a fast one; random phase and amplitude, noise."""
    labels = rng.integers(0, 2, n)
    t = np.arange(steps)
    freq = np.where(labels == 1, 0.35, 0.08)[:, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    amp = rng.uniform(0.5, 1.5, (n, 1))
    x = amp * np.sin(freq * t + phase) + 0.1 * rng.standard_normal((n, steps))
    return x[..., None].astype(np.float32), labels


def test_a_sequential_conv1d_model_learns_with_fit():
    set_random_seed(2)
    rng = np.random.default_rng(3)
    x, y = _waves(256, 32, rng)
    model = Sequential([
        Input((32, 1)),
        Conv1D(8, 5, padding="causal", activation="relu"),
        Conv1D(8, 3, strides=2, activation="relu"),
        layers.Flatten(), layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=npconv.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < 0.1 * losses[0], losses
    x_test, y_test = _waves(128, 32, rng)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy > 0.9


# ------------------------------------------------------------------ errors
def test_constructor_errors_name_the_layer():
    cases = [
        (lambda: Conv1D(2, 3, padding="full", name="a"),
         r"Conv1D a: expected padding to be 'valid', 'same' or 'causal'. "
         r"Received: padding='full'"),
        (lambda: DepthwiseConv1D(3, padding="causal", name="a"),
         r"DepthwiseConv1D a: expected padding to be 'valid' or 'same' \('causal' is "
         r"Conv1D's only\)"),
        (lambda: SeparableConv1D(2, 3, padding="Causal", name="a"),
         r"SeparableConv1D a: expected padding to be 'valid' or 'same' \('causal'"),
        (lambda: Conv1DTranspose(2, 3, padding="causal", name="a"),
         r"Conv1DTranspose a: expected padding to be 'valid' or 'same'"),
        (lambda: Conv1D(2, 3, padding=1, name="a"), r"Conv1D a: expected padding to be"),
        (lambda: Conv1D(2, (3, 3), name="a"),
         r"Conv1D a: expected kernel_size to be an int or a tuple of one int. "
         r"Received: kernel_size=\(3, 3\)"),
        (lambda: Conv1D(2, 0), r"Conv1D conv1d: expected kernel_size to be >= 1"),
        (lambda: Conv1D(2, 3, strides=(0,)), r"expected strides to be >= 1"),
        (lambda: DepthwiseConv1D(3, dilation_rate=2.0), r"DepthwiseConv1D .*: expected "
         r"dilation_rate to be an int or a tuple of one int"),
        (lambda: Conv1D(0, 3), r"Conv1D .*: expected filters to be a positive int. "
         r"Received: filters=0"),
        (lambda: Conv1DTranspose(2.5, 3), r"Conv1DTranspose .*: expected filters to be a "
         r"positive int"),
        (lambda: Conv1D(6, 3, groups=4, name="g"),
         r"Conv1D g: expected filters to be divisible by groups .* filters=6, groups=4"),
        (lambda: Conv1D(6, 3, groups=0), r"expected groups to be a positive int"),
        (lambda: Conv1DTranspose(2, 3, strides=2, output_padding=2, name="o"),
         r"Conv1DTranspose o: strides must be greater than output_padding. "
         r"Received strides=\(2,\), output_padding=\(2,\)"),
        (lambda: Conv1DTranspose(2, 3, output_padding=-1),
         r"expected output_padding to be >= 0"),
        (lambda: SeparableConv1D(2, 3, depth_multiplier=0),
         r"SeparableConv1D .*: expected depth_multiplier to be a positive int"),
        (lambda: Conv1D(2, 3, data_format="NCW"), r"data_format"),
        (lambda: Conv1D(2, 3, activation="swishy"), r"unknown activation"),
        (lambda: Conv1D(2, 3, kernel_regularizer="l3"), r"kernel_regularizer"),
        (lambda: DepthwiseConv1D(3, depthwise_regularizer="l3"), r"depthwise_regularizer"),
    ]
    for make, message in cases:
        with pytest.raises(ValueError, match=message):
            make()
    with pytest.raises(TypeError, match="Conv1D: unexpected keyword argument.*: output_padding"):
        Conv1D(2, 3, output_padding=1)
    with pytest.raises(TypeError, match="unexpected keyword argument.*: groups"):
        SeparableConv1D(2, 3, groups=2)


@pytest.mark.parametrize("cls, args", [(Conv1D, (2,)), (Conv1DTranspose, (2,)),
                                       (DepthwiseConv1D, ()), (SeparableConv1D, (2,))])
def test_call_errors_name_the_layer(cls, args):
    kind = cls.__name__
    layer = cls(*args, 3, name="c")
    for bad in ((4, 10), (2, 8, 8, 3)):  # a Dense batch, an image batch
        with pytest.raises(ValueError, match=rf"c: {kind} expects a 3-D input \(batch, steps, "
                                             rf"channels\). Received an input of shape "
                                             rf"\({bad[0]}, {bad[1]}"):
            layer(_x(bad))
    with pytest.raises(ValueError, match=r"c: .* expects a 3-D input \(batch, channels, "
                                         r"steps\)"):
        cls(*args, 3, data_format="channels_first", name="c")(SymbolicTensor((None, 8)))
    with pytest.raises(ValueError, match="channel dimension of the input"):
        cls(*args, 3)(SymbolicTensor((None, 10, None)))
    assert not layer.built
    layer(_x((1, 6, 3)))
    with pytest.raises(ValueError, match=r"c: expected an input with 3 channels .* with 4 "
                                         r"channels"):
        layer(_x((1, 6, 4)))
    with pytest.raises(ValueError, match="c: expected a gradient of the output's shape"):
        layer.backward(np.ones((1, 2, 2)))
    with pytest.raises(RuntimeError, match="backward called before"):
        cls(*args, 3).backward(np.ones((1, 4, 2)))


def test_too_short_inputs_and_group_mismatch():
    with pytest.raises(ValueError, match=r"s: the kernel \(3,\) \(dilation \(2,\)\) spans 5 "
                                         r"steps, more than the padded input's 4. Received an "
                                         r"input of shape \(1, 4, 2\)"):
        Conv1D(2, 3, dilation_rate=2, name="s")(_x((1, 4, 2)))
    Conv1D(2, 3, dilation_rate=2, padding="causal")(_x((1, 1, 2)))  # causal pads enough
    with pytest.raises(ValueError, match="spans 3 steps"):
        SeparableConv1D(2, 3)(SymbolicTensor((None, 2, 5)))
    with pytest.raises(ValueError, match=r"e: Conv1DTranspose with kernel_size=\(2,\).*the "
                                         r"output would be empty. Received an input of shape "
                                         r"\(1, 1, 3\)"):
        Conv1DTranspose(2, 2, padding="same", output_padding=0, name="e")(_x((1, 1, 3)))
    with pytest.raises(ValueError, match=r"g: Conv1D with groups=2 expects a number of input "
                                         r"channels divisible by 2. Received an input of shape "
                                         r"\(None, 3, 10\) with 3 channels"):
        Conv1D(4, 3, groups=2, data_format="channels_first", name="g").build((None, 3, 10))
    layer = Conv1D(4, 3, groups=2, name="h")
    layer(_x((1, 8, 6)))
    with pytest.raises(ValueError, match=r"h: weight 'kernel' expects shape \(3, 3, 4\)"):
        layer.set_weights([np.zeros((1, 3, 3, 4)), np.zeros(4)])  # a 2-D layer's kernel


def test_a_transposed_convolution_of_an_empty_input_is_an_error():
    """An input with 0 steps (or 0 rows) has no values to spread: an error naming the layer,
    not an output of only the bias (torch refuses it too)."""
    with pytest.raises(ValueError, match=r"t1: Conv1DTranspose expected an input without an "
                                         r"empty spatial axis \(0 steps\)\. Received an input "
                                         r"of shape \(2, 0, 3\)"):
        Conv1DTranspose(2, 3, name="t1")(_x((2, 0, 3)))
    with pytest.raises(ValueError, match=r"t2: .*\(0 steps\)\. Received an input of shape "
                                         r"\(2, 3, 0\)"):
        Conv1DTranspose(2, 3, data_format="channels_first", name="t2")(_x((2, 3, 0)))
    with pytest.raises(ValueError, match=r"t3: Conv2DTranspose expected an input without an "
                                         r"empty spatial axis \(0 pixels in height\)"):
        layers.Conv2DTranspose(2, 3, name="t3")(_x((1, 0, 4, 3)))
    assert Conv1DTranspose(2, 3)(_x((2, 1, 3))).shape == (2, 3, 2)  # one step is enough


# ------------------------------------------------------------------ PyTorch
def _keras_same_pads(length, k, s, d):
    """TensorFlow's "same": ceil(L / s) outputs, the odd padding step on the right."""
    total = max(((length + s - 1) // s - 1) * s + d * (k - 1) + 1 - length, 0)
    return total // 2, total - total // 2


def _random_layer(rng, kind, dtype):
    """A random 1-D layer of ``kind`` and the input it is checked on, (N, steps, C)."""
    k, length, n = int(rng.integers(1, 5)), int(rng.integers(1, 13)), int(rng.integers(1, 4))
    d = int(rng.integers(1, 3)) if rng.random() < 0.4 else 1
    s = int(rng.integers(1, 4)) if rng.random() < 0.6 else 1
    common = dict(kernel_size=k, strides=s, dilation_rate=d, dtype=dtype.__name__,
                  data_format=str(rng.choice(["channels_last", "channels_first"])),
                  use_bias=bool(rng.random() < 0.8))
    if kind == "conv":
        groups = int(rng.choice([1, 1, 2, 3]))
        c = groups * int(rng.integers(1, 4))
        layer = Conv1D(groups * int(rng.integers(1, 4)), groups=groups,
                       padding=str(rng.choice(["valid", "same", "causal"])), **common)
    elif kind == "transpose":
        c = int(rng.integers(1, 6))
        output_padding = None if rng.random() < 0.5 else int(rng.integers(0, s))
        layer = Conv1DTranspose(int(rng.integers(1, 6)), output_padding=output_padding,
                                padding=str(rng.choice(["valid", "same"])), **common)
    else:
        c = int(rng.integers(1, 5))
        cls = DepthwiseConv1D if kind == "depthwise" else SeparableConv1D
        args = () if kind == "depthwise" else (int(rng.integers(1, 6)),)
        layer = cls(*args, depth_multiplier=int(rng.integers(1, 4)),
                    padding=str(rng.choice(["valid", "same"])), **common)
    return layer, rng.standard_normal((n, length, c)).astype(dtype)


def _to_torch_weights(layer):
    """The layer's weights as torch's (out, in / groups, k) tensors (requiring grad) and the
    functions that bring torch's gradients back to Keras's shapes."""
    torch = pytest.importorskip("torch")

    def t(a):
        return torch.tensor(np.ascontiguousarray(a), requires_grad=True)

    def flip(a):  # (k, A, B) <-> (B, A, k)
        return np.asarray(a).transpose(2, 1, 0)

    out = []
    for w in layer.weights:
        v = w.value
        if w.name == "bias":
            out.append((t(v), np.asarray))
        elif isinstance(layer, DepthwiseConv1D) or w.name == "depthwise_kernel":
            k, c, m = v.shape  # (k, C, M) -> (C * M, 1, k): output channel c * M + m
            out.append((t(v.reshape(k, c * m).T[:, None, :]),
                        lambda g, k=k, c=c, m=m: np.asarray(g)[:, 0, :].T.reshape(k, c, m)))
        else:
            out.append((t(flip(v)), flip))
    return out


def _torch_reference(layer, x, g):
    """torch.nn.functional on NCL copies: (out, dx, weight grads), in the layer's layout."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    first = layer.data_format == "channels_first"
    x_ncl = x if first else x.transpose(0, 2, 1)
    xt = torch.tensor(np.ascontiguousarray(x_ncl), requires_grad=True)
    weights = _to_torch_weights(layer)
    tensors = [w for w, _ in weights]
    bias = tensors[-1] if layer.use_bias else None
    (k,), (s,), (d,) = layer.kernel_size, layer.strides, layer.dilation_rate
    length = x_ncl.shape[2]
    if isinstance(layer, Conv1DTranspose):
        full = F.conv_transpose1d(xt, tensors[0], None, stride=s, dilation=d)
        steps = layer.output_shape[2 if first else 1]
        left = max(full.shape[2] - steps, 0) // 2  # Keras's crop, or zeros past the end
        out = F.pad(full, (-left, steps - full.shape[2] + left))
        if bias is not None:
            out = out + bias.view(1, -1, 1)
    else:
        if layer.padding == "causal":
            pads = (d * (k - 1), 0)
        elif layer.padding == "same":
            pads = _keras_same_pads(length, k, s, d)
        else:
            pads = (0, 0)
        xp = F.pad(xt, pads)
        if isinstance(layer, Conv1D):
            out = F.conv1d(xp, tensors[0], bias, stride=s, dilation=d, groups=layer.groups)
        elif isinstance(layer, DepthwiseConv1D):
            out = F.conv1d(xp, tensors[0], bias, stride=s, dilation=d, groups=x_ncl.shape[1])
        else:
            z = F.conv1d(xp, tensors[0], None, stride=s, dilation=d, groups=x_ncl.shape[1])
            out = F.conv1d(z, tensors[1], bias)
    g_ncl = g if first else g.transpose(0, 2, 1)
    out.backward(torch.tensor(np.ascontiguousarray(g_ncl)))
    back = (lambda a: a) if first else (lambda a: a.transpose(0, 2, 1))
    grads = [to_keras(w.grad.numpy()) for w, to_keras in weights]
    return back(out.detach().numpy()), back(xt.grad.numpy()), grads


TORCH_TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["conv", "transpose", "depthwise", "separable"])
def test_layers_match_torch_over_random_configurations(kind, dtype):
    pytest.importorskip("torch")
    kinds = ["conv", "transpose", "depthwise", "separable"]
    rng = np.random.default_rng(1000 + 10 * kinds.index(kind) + (dtype is np.float32))
    tested = refused = 0
    formats, paddings = set(), set()
    while tested < 40:
        layer, x = _random_layer(rng, kind, dtype)
        if layer.data_format == "channels_first":
            x = x.transpose(0, 2, 1)
        if rng.random() < 0.3:
            x = np.asfortranarray(x)  # a non-contiguous view of the same values
        try:
            layer(x)
        except ValueError as err:  # the kernel does not fit, or an empty transposed output
            assert str(err).startswith(f"{layer.name}: ")
            assert "spans" in str(err) or "output would be empty" in str(err)
            refused += 1
            continue
        tested += 1
        formats.add(layer.data_format)
        paddings.add(layer.padding)
        _randomize(layer, rng)
        y = layer(x, training=True)
        g = rng.standard_normal(y.shape).astype(dtype)
        dx = layer.backward(g)
        t_out, t_dx, t_grads = _torch_reference(layer, np.asarray(x), g)
        what = f"{layer!r} on {x.shape}"
        scale = max(1.0, float(np.abs(t_out).max()))
        tol = dict(TORCH_TOL[dtype], atol=TORCH_TOL[dtype]["atol"] * scale)
        assert y.shape == t_out.shape and y.dtype == dtype, what
        np.testing.assert_allclose(y, t_out, **tol, err_msg=f"output of {what}")
        np.testing.assert_allclose(dx, t_dx, **tol, err_msg=f"dx of {what}")
        for w, t_grad in zip(layer.weights, t_grads, strict=True):
            assert w.grad.shape == w.shape and w.grad.dtype == dtype
            np.testing.assert_allclose(w.grad, t_grad, **tol, err_msg=f"{w.name} of {what}")
    assert formats == {"channels_last", "channels_first"}
    assert paddings >= {"valid", "same"} and ("causal" in paddings or kind != "conv")
    assert refused < tested
