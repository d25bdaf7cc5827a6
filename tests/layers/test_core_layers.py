"""Dense, Flatten, Dropout, Activation, ReLU, LeakyReLU, Softmax layers."""

import numpy as np
import pytest

import npconv.activations as kact
from npconv.layers.activation import LeakyReLU, ReLU, Softmax
from npconv.layers.base import SymbolicTensor
from npconv.layers.core import Activation, Dense, Dropout, Flatten
from npconv.random import set_random_seed
from tests.finite_differences import central_differences

RNG = np.random.default_rng(5)


def numeric_grad(f, x, d_out, eps=1e-6):
    """Central differences of ``sum(f() * d_out)`` with respect to ``x`` (float64)."""
    return central_differences(lambda: np.sum(f() * d_out), x, eps)


def roundtrip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return clone


# ---------------------------------------------------------------------------- Dense
@pytest.mark.parametrize("activation", [None, "relu", "tanh", "sigmoid", "softmax", kact.relu])
def test_dense_forward_backward_with_fused_activation(activation):
    layer = Dense(4, activation=activation, dtype="float64")
    x = RNG.standard_normal((5, 3))
    y = layer(x)
    k, b = layer.get_weights()
    assert k.shape == (3, 4) and b.shape == (4,)
    b = RNG.standard_normal(4)
    layer.set_weights([k, b])
    y = layer(x)
    act = {None: lambda z: z, "relu": kact.relu, "tanh": np.tanh, "sigmoid": kact.sigmoid,
           "softmax": kact.softmax, kact.relu: kact.relu}[activation]
    np.testing.assert_allclose(y, act(x @ k + b), rtol=1e-12)
    d_out = RNG.standard_normal(y.shape)
    dx = layer.backward(d_out)
    np.testing.assert_allclose(dx, numeric_grad(lambda: layer(x), x, d_out), rtol=1e-5,
                               atol=1e-8)
    layer(x)
    layer.backward(d_out)
    np.testing.assert_allclose(layer.kernel.grad,
                               numeric_grad(lambda: layer(x), layer.kernel.value, d_out),
                               rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(layer.bias.grad,
                               numeric_grad(lambda: layer(x), layer.bias.value, d_out),
                               rtol=1e-5, atol=1e-8)


def test_dense_defaults_shapes_config_and_input_dim():
    layer = Dense(10, input_dim=784)
    assert layer.input_shape_arg == (784,)
    y = layer(np.zeros((2, 784), np.float32))
    assert y.dtype == np.float32 and y.shape == (2, 10)
    assert layer.count_params() == 7850
    np.testing.assert_array_equal(layer.bias.value, 0)
    limit = np.sqrt(6 / (784 + 10))  # glorot_uniform
    assert np.abs(layer.kernel.value).max() <= limit
    assert layer.output_shape == (None, 10)
    assert layer.compute_output_shape((None, 7, 784)) == (None, 7, 10)
    clone = roundtrip(Dense(3, activation="softmax", use_bias=False, name="head"))
    assert clone.activation.name == "softmax" and clone.use_bias is False
    no_bias = Dense(2, use_bias=False)
    no_bias(np.ones((1, 3)))
    assert len(no_bias.weights) == 1


def test_dense_rank3_input_and_symbolic():
    layer = Dense(6)
    out = layer(SymbolicTensor((None, 4, 5)))
    assert out.shape == (None, 4, 6)
    y = layer(RNG.standard_normal((2, 4, 5)).astype(np.float32))
    assert y.shape == (2, 4, 6)
    assert layer.backward(np.ones_like(y)).shape == (2, 4, 5)


def test_dense_errors():
    layer = Dense(3)
    layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"dense.*last dimension 4.*\(2, 5\)"):
        layer(np.ones((2, 5)))
    with pytest.raises(ValueError, match="positive int.*units=0"):
        Dense(0)
    with pytest.raises(ValueError, match="units=2.5"):
        Dense(2.5)
    with pytest.raises(ValueError, match="unknown activation"):
        Dense(2, activation="swishy")
    with pytest.raises(ValueError, match="rank >= 2"):
        Dense(2)(np.ones(3))
    with pytest.raises(TypeError, match="unexpected keyword"):
        Dense(2, units_out=3)


# ---------------------------------------------------------------------------- Flatten
def test_flatten_seed_003_and_integers_kept():
    a2 = np.arange(0, 16).reshape((2, 2, 4))[None]
    layer = Flatten()
    out = layer(a2)
    assert out.shape == (1, 16)
    np.testing.assert_array_equal(out, [list(range(16))])
    assert layer.compute_output_shape((None, 2, 2, 4)) == (None, 16)
    assert layer.compute_output_shape((None, None, 4)) == (None, None)


def test_flatten_channels_first_uses_channels_last_order_like_keras():
    x = RNG.standard_normal((2, 3, 4, 5))  # NCHW
    layer = Flatten(data_format="channels_first")
    out = layer(x)
    np.testing.assert_array_equal(out, x.transpose(0, 2, 3, 1).reshape(2, -1))
    d = RNG.standard_normal(out.shape)
    np.testing.assert_array_equal(layer.backward(d),
                                  d.reshape(2, 4, 5, 3).transpose(0, 3, 1, 2))
    x3 = RNG.standard_normal((2, 3, 4))  # (N, C, L)
    layer3 = Flatten(data_format="channels_first")
    out3 = layer3(x3)
    np.testing.assert_array_equal(out3, x3.transpose(0, 2, 1).reshape(2, -1))
    np.testing.assert_array_equal(layer3.backward(out3), x3)
    assert roundtrip(layer).data_format == "channels_first"


def test_flatten_backward_and_symbolic():
    layer = Flatten()
    out = layer(SymbolicTensor((None, 7, 7, 8)))
    assert out.shape == (None, 392)  # seed 004: 8 maps of 7x7 -> 392 units
    x = RNG.standard_normal((3, 7, 7, 8)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(layer.backward(y), x)


# ---------------------------------------------------------------------------- Dropout
def test_dropout_seed_004_training_and_inference():
    x = np.array([[-1.1899604, 1.1257381, 0.8904383, 0.812129, 0.36669895, 0.56058276,
                   -0.48239076, -0.29940066, -0.39049834, 0.69480914]], dtype=np.float32)
    layer = Dropout(0.5, seed=0)
    np.testing.assert_array_equal(layer(x), x)  # training=False by default
    y = layer(x, training=True)
    kept = y != 0
    np.testing.assert_array_equal(y[kept], 2 * x[kept])
    assert 0 < kept.sum() < 10
    d = RNG.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(d), np.where(kept, 2 * d, 0))


def test_dropout_seeding():
    x = np.ones((4, 50))
    a, b = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    first = a(x, training=True)
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, a(x, training=True))  # the generator advances
    set_random_seed(1)
    c = Dropout(0.5)(x, training=True)
    set_random_seed(1)
    np.testing.assert_array_equal(c, Dropout(0.5)(x, training=True))


def test_dropout_noise_shape_channels_first_config_and_errors():
    layer = Dropout(0.5, noise_shape=(None, None, 1, 1), seed=2, data_format="channels_first")
    x = np.ones((2, 3, 4, 4))
    y = layer(x, training=True)
    assert np.all(y == y[:, :, :1, :1])  # whole NCHW channels dropped
    clone = roundtrip(layer)
    assert clone.rate == 0.5 and clone.noise_shape == (None, None, 1, 1) and clone.seed == 2
    for bad in (-0.1, 1.0, 2, "0.5", None):
        with pytest.raises(ValueError, match=r"Dropout expects rate.*\[0, 1\)"):
            Dropout(bad)
    with pytest.raises(ValueError, match="seed"):
        Dropout(0.5, seed=-1)


def test_dropout_with_a_shorter_noise_shape_as_keras():
    """Keras's Dropout gives noise_shape to keras.random.dropout, which broadcasts a shorter
    mask shape: (1, C) on an NHWC input drops the same channels of every sample and pixel."""
    x = np.ones((3, 4, 4, 6))
    layer = Dropout(0.5, noise_shape=(1, 6), seed=3)
    y = layer(x, training=True)
    assert np.all(y == y[:1, :1, :1, :]) and 0 < np.count_nonzero(y[0, 0, 0]) < 6
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)
    assert roundtrip(layer).noise_shape == (1, 6)
    # channels_first: (C, 1, 1) reads the input's (C, H, W), whole channels shared by the batch
    first = Dropout(0.5, noise_shape=(6, 1, 1), seed=3, data_format="channels_first")
    z = first(np.ones((3, 6, 4, 4)), training=True)
    assert np.all(z == z[:1, :, :1, :1]) and 0 < np.count_nonzero(z[0, :, 0, 0]) < 6
    # an entry None takes the size of the input's axis at its position (Keras's rule)
    odd = Dropout(0.5, noise_shape=(None, 6), name="odd")
    assert odd(np.ones((4, 2, 4, 6)), training=True).shape == (4, 2, 4, 6)  # mask (4, 6)
    with pytest.raises(ValueError, match=r"odd: expected noise_shape .* to broadcast to the "
                                         r"input's shape \(3, 4, 4, 6\)"):
        odd(x, training=True)  # mask (3, 6) against the input's trailing (4, 6)
    symbolic = Dropout(0.5, noise_shape=(1, 6))(SymbolicTensor((None, 4, 4, 6)))
    assert symbolic.shape == (None, 4, 4, 6)
    with pytest.raises(ValueError, match=r"expected noise_shape .* to broadcast"):
        Dropout(0.5, noise_shape=(1, 5))(SymbolicTensor((None, 4, 4, 6)))


# ---------------------------------------------------------------------------- Activation
@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "softmax", "leaky_relu", "linear"])
def test_activation_layer(name):
    layer = Activation(name)
    x = RNG.standard_normal((3, 4)) + 0.01
    fn = getattr(kact, name)
    np.testing.assert_allclose(layer(x), fn(x))
    d = RNG.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(d), numeric_grad(lambda: layer(x), x, d),
                               rtol=1e-5, atol=1e-8)
    assert roundtrip(layer).get_config()["activation"] == name


def test_activation_layer_accepts_functions_and_casts_ints():
    layer = Activation(kact.tanh)
    assert layer.get_config()["activation"] == "tanh"
    y = Activation("relu")(np.arange(-2, 3))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 2])


# ---------------------------------------------------------------------------- ReLU & co
def test_relu_layer_seed_003():
    out = ReLU()(np.arange(-5, 6))
    np.testing.assert_array_equal(out, [0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5])


@pytest.mark.parametrize("kwargs", [{}, {"max_value": 1.0}, {"negative_slope": 0.1},
                                    {"threshold": 0.5, "max_value": 6.0, "negative_slope": 0.2}])
def test_relu_layer_options_and_gradient(kwargs):
    layer = ReLU(**kwargs)
    x = RNG.standard_normal((4, 5)) * 2
    for kink in (0.0, kwargs.get("threshold", 0.0), kwargs.get("max_value", 99.0)):
        x[np.abs(x - kink) < 1e-3] += 0.01
    np.testing.assert_allclose(layer(x), kact.relu(x, **kwargs))
    d = RNG.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(d), numeric_grad(lambda: layer(x), x, d),
                               rtol=1e-6, atol=1e-9)
    assert roundtrip(layer).get_config() == layer.get_config()


def test_relu_layer_max_value_clips():
    np.testing.assert_array_equal(ReLU(max_value=6.0)(np.array([-1.0, 3.0, 10.0])), [0, 3, 6])
    with pytest.raises(ValueError, match="max_value"):
        ReLU(max_value=-1)
    with pytest.raises(ValueError, match="negative_slope"):
        ReLU(negative_slope=-0.5)


def test_leaky_relu_layer_default_and_alias():
    x = np.array([-1.0, 2.0])
    np.testing.assert_allclose(LeakyReLU()(x), [-0.3, 2.0])  # the layer's Keras default
    np.testing.assert_allclose(LeakyReLU(alpha=0.1)(x), [-0.1, 2.0])
    layer = LeakyReLU(negative_slope=0.25)
    xr = RNG.standard_normal((3, 3)) + 0.01
    d = RNG.standard_normal((3, 3))
    layer(xr)
    np.testing.assert_allclose(layer.backward(d), numeric_grad(lambda: layer(xr), xr, d),
                               rtol=1e-6, atol=1e-9)
    assert roundtrip(layer).negative_slope == 0.25


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_softmax_layer(axis):
    layer = Softmax(axis=axis)
    x = RNG.standard_normal((2, 3, 4))
    y = layer(x)
    np.testing.assert_allclose(y, kact.softmax(x, axis=axis))
    d = RNG.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(d), numeric_grad(lambda: layer(x), x, d),
                               rtol=1e-6, atol=1e-9)
    assert roundtrip(layer).axis == axis


def test_softmax_layer_channels_first_and_errors():
    x = RNG.standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(Softmax(axis=1, data_format="channels_first")(x),
                               kact.softmax(x, axis=1), rtol=1e-12)
    with pytest.raises(ValueError, match="axis=3 is out of range"):
        Softmax(axis=3)(np.ones((2, 3)))
    with pytest.raises(ValueError, match="axis"):
        Softmax(axis=1.5)


def test_softmax_layer_over_several_axes():
    """Keras 3's ``Softmax(axis=[1, 2])``: one distribution over both axes; the list is
    saved in the config; a batch axis among them keeps the batch whole; bad lists refused."""
    x = RNG.standard_normal((2, 3, 4, 5))
    layer = Softmax(axis=[1, 2])
    y = layer(x)
    np.testing.assert_allclose(y.sum(axis=(1, 2)), 1.0)
    np.testing.assert_allclose(y, kact.softmax(x, axis=(1, 2)), rtol=1e-12)
    d = RNG.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(d), numeric_grad(lambda: layer(x), x, d),
                               rtol=1e-6, atol=1e-9)
    again = roundtrip(layer)
    assert again.axis == [1, 2]
    np.testing.assert_allclose(again(x), y, rtol=1e-12)
    assert Softmax(axis=[-1]).axis == [-1]
    assert layer.splits_batch(False)
    whole = Softmax(axis=[0, 1])
    whole(x)
    assert not whole.splits_batch(False)
    with pytest.raises(ValueError, match="axis=\\[1, 4\\] is out of range"):
        Softmax(axis=[1, 4])(x)
    with pytest.raises(ValueError, match="distinct"):
        Softmax(axis=[1, 1])
    with pytest.raises(ValueError, match="distinct"):
        Softmax(axis=[1, -3])(x)
    with pytest.raises(ValueError, match="axis"):
        Softmax(axis=[])


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="before"):
        ReLU().backward(np.ones(3))


def test_dropout_draws_only_when_it_drops():
    from npconv.random import global_generator

    x = np.ones((4, 5), np.float32)
    state = global_generator().bit_generator.state
    for layer in (Dropout(0.5), Dropout(0.5, seed=3), Dropout(0.0)):
        np.testing.assert_array_equal(layer.forward(x, training=False), x)
    np.testing.assert_array_equal(Dropout(0.0).forward(x, training=True), x)
    assert global_generator().bit_generator.state == state  # inference consumed nothing
    seeded = Dropout(0.5, seed=3)
    assert seeded._rng is None  # made at the first draw, as a seeded generator
    first = seeded.forward(x, training=True)
    np.testing.assert_array_equal(first, Dropout(0.5, seed=3).forward(x, training=True))
