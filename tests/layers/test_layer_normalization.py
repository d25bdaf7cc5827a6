"""LayerNormalization: Keras 3's defaults and weight shapes, axes (lists, negatives,
channels_first), the same in both modes, gradients by finite differences, the data-parallel
split, config round trip, the model file, clear errors."""

import numpy as np
import pytest

from npconv import io as npio
from npconv.layers import Conv2D, Dense, Flatten, Input, LayerNormalization
from npconv.layers.base import SymbolicTensor, get_layer_class
from npconv.models.functional import Model
from npconv.random import set_random_seed
from tests.finite_differences import central_differences

RNG = np.random.default_rng(22)


def test_defaults_weights_and_formula():
    layer = LayerNormalization()
    assert layer.axis == -1 and layer.epsilon == 1e-3 and layer.center and layer.scale
    assert layer.name.startswith("layer_normalization")
    x = RNG.standard_normal((4, 3, 3, 5)).astype(np.float32) * 0.05
    y = np.asarray(layer(x))
    assert y.dtype == np.float32
    assert [w.name for w in layer.weights] == ["gamma", "beta"]
    assert [w.shape for w in layer.weights] == [(5,), (5,)]
    assert layer.count_params() == 10
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(layer(x, training=True), y)  # no batch statistics


def test_axis_list_gives_keras_shapes():
    layer = LayerNormalization(axis=[1, 2, 3])
    layer(np.ones((5, 2, 3, 4), np.float32))
    assert layer.gamma.shape == (2, 3, 4) and layer.beta.shape == (2, 3, 4)
    layer = LayerNormalization(axis=(-1, 1), center=False)
    layer(np.ones((5, 2, 3, 4), np.float32))
    assert [w.name for w in layer.weights] == ["gamma"] and layer.gamma.shape == (2, 4)
    bare = LayerNormalization(axis=[2], scale=False, center=False)
    y = np.asarray(bare(np.arange(24.0).reshape(1, 2, 3, 4)))
    assert bare.weights == [] and bare.count_params() == 0
    np.testing.assert_allclose(y.mean(axis=2), 0, atol=1e-6)


def test_channels_first_normalises_the_callers_axes():
    x = RNG.standard_normal((2, 3, 4, 5))
    ours = LayerNormalization(axis=1, data_format="channels_first", dtype="float64")
    plain = LayerNormalization(axis=1, dtype="float64")  # 4-D NHWC seen as is: axis 1 = rows
    y = np.asarray(ours(x))
    assert ours.gamma.shape == (3,)
    x_last = x.transpose(0, 2, 3, 1)
    z = np.asarray(LayerNormalization(axis=-1, dtype="float64")(x_last))
    np.testing.assert_allclose(y, z.transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-14)
    assert plain(x).shape == x.shape and plain.gamma.shape == (3,)
    d = RNG.standard_normal(x.shape)
    dx = ours.backward(d)
    reference = LayerNormalization(axis=-1, dtype="float64")
    reference(x_last)
    np.testing.assert_allclose(dx, reference.backward(d.transpose(0, 2, 3, 1)).transpose(
        0, 3, 1, 2), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("axis,data_format", [(-1, None), ([1, 2], None), ([1, 2, 3], None),
                                              (1, "channels_first"),
                                              ([2, 3], "channels_first")])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
def test_gradients_match_finite_differences(axis, data_format, center, scale):
    layer = LayerNormalization(axis=axis, center=center, scale=scale, dtype="float64",
                               data_format=data_format)
    x = RNG.standard_normal((2, 3, 4, 2)) * 2 + 0.5
    d_out = RNG.standard_normal(x.shape)
    layer(x)
    for w in layer.weights:  # away from the ones/zeros start
        w.assign(RNG.uniform(0.5, 1.5, w.shape))

    def loss():
        return np.sum(np.asarray(layer.forward(x, training=True)) * d_out)

    numeric = [central_differences(loss, x)] + [central_differences(loss, w.value)
                                                for w in layer.weights]
    loss()
    dx = layer.backward(d_out)
    np.testing.assert_allclose(dx, numeric[0], rtol=1e-5, atol=1e-7)
    for w, num in zip(layer.weights, numeric[1:], strict=True):
        np.testing.assert_allclose(w.grad, num, rtol=1e-5, atol=1e-7, err_msg=w.name)
    np.testing.assert_array_equal(layer.backward(d_out), dx)  # twice: the same


def test_splits_the_batch_in_both_modes():
    layer = LayerNormalization()
    layer(np.ones((2, 3), np.float32))
    assert layer.splits_batch(training=True) and layer.splits_batch(training=False)


def test_config_round_trip_and_symbolic_shapes():
    layer = LayerNormalization(axis=[1, -1], epsilon=1e-5, center=False,
                               gamma_initializer="zeros", name="ln")
    config = layer.get_config()
    assert config["axis"] == [1, -1] and config["epsilon"] == 1e-5 and not config["center"]
    clone = get_layer_class("LayerNormalization").from_config(config)
    assert clone.get_config() == config
    assert LayerNormalization().get_config()["axis"] == -1
    out = LayerNormalization()(Input(shape=(4, 4, 3)))
    assert isinstance(out, SymbolicTensor) and out.shape == (None, 4, 4, 3)


def test_trains_and_survives_the_model_file(tmp_path):
    set_random_seed(0)
    inputs = Input(shape=(5, 5, 2))
    x = Conv2D(4, 3)(inputs)
    x = LayerNormalization(axis=[1, 2, 3])(x)
    outputs = Dense(3, activation="softmax")(Flatten()(x))
    model = Model(inputs, outputs)
    rng = np.random.default_rng(3)
    data, labels = rng.standard_normal((16, 5, 5, 2)).astype(np.float32), rng.integers(0, 3, 16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(data, labels, epochs=2, batch_size=8, verbose=0)
    ln = next(layer for layer in model.layers if isinstance(layer, LayerNormalization))
    assert not np.allclose(ln.gamma.value, 1)  # trained
    model.save(tmp_path / "ln.npconv")
    loaded = npio.load_model(tmp_path / "ln.npconv")
    ln2 = next(layer for layer in loaded.layers if isinstance(layer, LayerNormalization))
    assert ln2.axis == [1, 2, 3]
    for a, b in zip(ln.get_weights(), ln2.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_errors():
    for bad in ("1", 1.5, [1, 1], [], None, True):
        with pytest.raises(ValueError, match="LayerNormalization expects axis.*Received"):
            LayerNormalization(axis=bad)
    for bad in (0, -1e-3, "1e-3"):
        with pytest.raises(ValueError, match="epsilon > 0"):
            LayerNormalization(epsilon=bad)
    with pytest.raises(ValueError, match=r"ln1: LayerNormalization expects an input of rank >= 2"):
        LayerNormalization(name="ln1")(np.ones(3))
    with pytest.raises(ValueError, match="axis=3 must name distinct non-batch axes of the 3-D"):
        LayerNormalization(axis=3)(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="non-batch"):
        LayerNormalization(axis=0)(np.ones((2, 3)))
    with pytest.raises(ValueError, match="non-batch"):
        LayerNormalization(axis=[1, -2])(np.ones((2, 3, 4)))
    layer = LayerNormalization()
    layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"expected sizes \(4,\) on axis -1.*\(2, 5\)"):
        layer(np.ones((2, 5)))
    with pytest.raises(ValueError, match="must be known"):
        LayerNormalization(axis=1)(Input(shape=(None, 3)))
    with pytest.raises(RuntimeError, match="before"):
        LayerNormalization().backward(np.ones((2, 3)))


def test_an_empty_batch_gives_an_empty_output_as_the_other_layers():
    from npconv.layers import LayerNormalization

    layer = LayerNormalization()
    out = layer.forward(np.zeros((0, 4, 4, 3), np.float32), training=True)
    assert out.shape == (0, 4, 4, 3)
    dx = layer.backward(np.zeros((0, 4, 4, 3), np.float32))
    assert dx.shape == (0, 4, 4, 3)
    np.testing.assert_array_equal(layer.gamma.grad, np.zeros(3))
    with pytest.raises(ValueError, match=r"normalized axes \(3,\) to be non-empty"):
        LayerNormalization()(np.zeros((2, 4, 4, 0), np.float32))
