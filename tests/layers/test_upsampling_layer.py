"""UpSampling2D: Keras's signature and defaults, shapes (symbolic too), channels_first, the op
through the layer, config round trip, save/load through the model file, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from npconv import io as npio
from npconv.layers import Conv2D, Dense, Flatten, Input, UpSampling2D
from npconv.layers.base import SymbolicTensor, get_layer_class
from npconv.models.functional import Model
from npconv.models.sequential import Sequential
from npconv.ops.resize import upsampling2d_backward, upsampling2d_forward
from npconv.random import set_random_seed

MODES = ["nearest", "bilinear"]


def test_keras_defaults():
    layer = UpSampling2D()
    assert layer.size == (2, 2) and layer.interpolation == "nearest"
    assert layer.data_format == "channels_last" and layer.name.startswith("up_sampling2d")
    assert UpSampling2D(3).size == (3, 3)
    assert UpSampling2D([1, 4]).size == (1, 4)
    assert UpSampling2D(interpolation="BILINEAR").interpolation == "bilinear"


@pytest.mark.parametrize("mode", MODES)
def test_layer_equals_op_and_backward_is_idempotent(mode):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 4))
    layer = UpSampling2D((3, 2), interpolation=mode)
    y = layer(x)
    out, cache = upsampling2d_forward(x, (3, 2), mode)
    np.testing.assert_array_equal(y, out)
    d = rng.standard_normal(y.shape)
    dx = layer.backward(d)
    np.testing.assert_array_equal(dx, upsampling2d_backward(d, cache))
    np.testing.assert_array_equal(layer.backward(d), dx)


@pytest.mark.parametrize("mode", MODES)
def test_channels_first_equals_transposed_channels_last(mode):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5))          # NCHW
    first = UpSampling2D((2, 3), data_format="channels_first", interpolation=mode)
    last = UpSampling2D((2, 3), interpolation=mode)
    y_first, y_last = first(x), last(x.transpose(0, 2, 3, 1))
    assert y_first.shape == (2, 3, 8, 15)
    np.testing.assert_array_equal(y_first, y_last.transpose(0, 3, 1, 2))
    d = rng.standard_normal(y_last.shape)
    np.testing.assert_array_equal(first.backward(d.transpose(0, 3, 1, 2)),
                                  last.backward(d).transpose(0, 3, 1, 2))
    assert first.output_shape == (None, 3, 8, 15)


def test_symbolic_shapes_and_unknown_sizes():
    out = UpSampling2D((2, 3))(SymbolicTensor((None, 4, 5, 6)))
    assert out.shape == (None, 8, 15, 6)
    out = UpSampling2D(2, data_format="channels_first")(SymbolicTensor((None, 6, None, 5)))
    assert out.shape == (None, 6, None, 10)


def test_integer_input_becomes_float32_and_float64_is_kept():
    y = UpSampling2D()(np.arange(4).reshape(1, 2, 2, 1))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 0, 1, 1], [0, 0, 1, 1],
                                                  [2, 2, 3, 3], [2, 2, 3, 3]])
    assert UpSampling2D(interpolation="bilinear")(np.zeros((1, 2, 2, 1))).dtype == np.float64


@pytest.mark.parametrize("mode", MODES)
def test_get_config_round_trip(mode):
    layer = UpSampling2D((3, 2), data_format="channels_first", interpolation=mode, name="up_a")
    config = layer.get_config()
    assert config["size"] == (3, 2) and config["interpolation"] == mode
    assert config["data_format"] == "channels_first"
    restored = get_layer_class("UpSampling2D").from_config(json.loads(json.dumps(config)))
    assert type(restored) is UpSampling2D
    assert restored.get_config() == config
    x = np.random.default_rng(2).standard_normal((1, 2, 3, 3))
    np.testing.assert_array_equal(restored(x), layer(x))
    assert UpSampling2D(data_format=None).get_config()["data_format"] == "channels_last"


@pytest.mark.parametrize("mode", MODES)
def test_save_load_through_the_model_file(tmp_path, mode):
    set_random_seed(0)
    inputs = Input(shape=(4, 4, 1))
    x = Conv2D(2, 3, padding="same", activation="relu")(inputs)
    x = UpSampling2D((2, 3), interpolation=mode)(x)
    outputs = Dense(3, activation="softmax")(Flatten()(x))
    model = Model(inputs, outputs)
    rng = np.random.default_rng(3)
    data, labels = rng.standard_normal((16, 4, 4, 1)).astype(np.float32), rng.integers(0, 3, 16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(data, labels, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "up.npconv")
    loaded = npio.load_model(tmp_path / "up.npconv")
    up = [layer for layer in loaded.layers if isinstance(layer, UpSampling2D)]
    assert len(up) == 1 and up[0].size == (2, 3) and up[0].interpolation == mode
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))


def test_sequential_trains_through_it():
    set_random_seed(1)
    model = Sequential([Input(shape=(3, 3, 2)), UpSampling2D(interpolation="bilinear"),
                        Conv2D(2, 3), Flatten(), Dense(2, activation="softmax")])
    assert model.layers[0].output_shape == (None, 6, 6, 2)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((8, 3, 3, 2)).astype(np.float32), rng.integers(0, 2, 8)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


# ---------------------------------------------------------------------------- errors
def test_constructor_validation():
    with pytest.raises(ValueError, match=r"^UpSampling2D: expected size to be >= 1. "
                                         r"Received: size=0$"):
        UpSampling2D(0)
    with pytest.raises(ValueError, match=r"UpSampling2D: expected size to be an int or a pair "
                                         r"of ints. Received: size=\(2, 2, 2\)"):
        UpSampling2D((2, 2, 2))
    with pytest.raises(ValueError, match=r"UpSampling2D: expected interpolation to be one of "
                                         r"\['nearest', 'bilinear'\] \(Keras also has 'bicubic'; "
                                         r"npconv does not implement it\). "
                                         r"Received: interpolation='bicubic'"):
        UpSampling2D(interpolation="bicubic")
    with pytest.raises(ValueError, match=r"Received: interpolation='cubic'$"):
        UpSampling2D(interpolation="cubic")
    with pytest.raises(ValueError, match="expected data_format to be one of"):
        UpSampling2D(data_format="nhwc")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        UpSampling2D(pool_size=2)


def test_bad_input_shapes():
    with pytest.raises(ValueError, match=r"up_x: expected a 4-D input \(batch, height, width, "
                                         r"channels\). Received an input of shape \(4, 4, 2\)"):
        UpSampling2D(name="up_x")(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match=r"expected a 4-D input \(batch, channels, height, "
                                         r"width\)"):
        UpSampling2D(data_format="channels_first")(SymbolicTensor((None, 4, 4)))
    with pytest.raises(ValueError, match="height and width >= 1"):
        UpSampling2D()(np.zeros((1, 0, 3, 1)))


def test_backward_errors():
    with pytest.raises(RuntimeError, match="backward called before"):
        UpSampling2D().backward(np.zeros((1, 2, 2, 1)))
    layer = UpSampling2D()
    layer(np.zeros((2, 2, 2, 3)))
    with pytest.raises(ValueError, match=r"up_sampling2d.*: expected a gradient of the output's "
                                         r"shape \(2, 4, 4, 3\)"):
        layer.backward(np.zeros((2, 2, 2, 3)))
