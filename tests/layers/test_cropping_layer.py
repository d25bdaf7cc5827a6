"""Cropping2D and its op: Keras's cropping forms, values against slicing, the backward against
finite differences in float64 (both data formats), dtypes, symbolic shapes, config, a model
file round trip and the errors for bad cropping and inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from npconv import io as npio
from npconv.layers import Conv2D, Cropping2D, Dense, Flatten, Input
from npconv.layers.base import get_layer_class
from npconv.models.functional import Model
from npconv.ops.padding import crop2d_backward, crop2d_forward
from npconv.random import set_random_seed
from tests.finite_differences import central_differences


@pytest.mark.parametrize("cropping, crops", [
    (1, ((1, 1), (1, 1))), ((2, 0), ((2, 2), (0, 0))), (((1, 0), (2, 3)), ((1, 0), (2, 3))),
    ([[0, 2], [1, 0]], ((0, 2), (1, 0))), (np.int64(0), ((0, 0), (0, 0))),
])
def test_cropping_forms_and_values(cropping, crops):
    x = np.random.default_rng(0).standard_normal((2, 6, 7, 3))
    layer = Cropping2D(cropping)
    assert layer.cropping == crops
    (t, b), (left, r) = crops
    y = layer(x)
    np.testing.assert_array_equal(y, x[:, t:6 - b, left:7 - r, :])
    assert y.flags.c_contiguous and not np.shares_memory(y, x)


def test_default_crops_nothing():
    x = np.ones((1, 2, 2, 1))
    assert Cropping2D().cropping == ((0, 0), (0, 0))
    np.testing.assert_array_equal(Cropping2D()(x), x)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("cropping", [((1, 2), (0, 1)), 1, (0, 2)])
def test_backward_matches_finite_differences(cropping, data_format):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 6, 3) if data_format == "channels_last" else (2, 3, 5, 6))
    layer = Cropping2D(cropping, data_format=data_format)
    y = layer(x)
    r = rng.standard_normal(y.shape)
    grad = layer.backward(r)
    assert grad.shape == x.shape
    numeric = central_differences(lambda: float(np.sum(layer(x) * r)), x)
    np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-9)


def test_channels_first_crops_the_last_two_axes():
    x = np.arange(2 * 3 * 5 * 6, dtype=np.float32).reshape(2, 3, 5, 6)
    y = Cropping2D(((1, 0), (2, 1)), data_format="channels_first")(x)
    np.testing.assert_array_equal(y, x[:, :, 1:, 2:5])


def test_op_backward_pads_with_zeros():
    d = np.arange(1, 5, dtype=np.float64).reshape(1, 2, 2, 1)
    _, cache = crop2d_forward(np.zeros((1, 4, 3, 1)), ((1, 1), (0, 1)))
    dx = crop2d_backward(d, cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 0, 0], [1, 2, 0], [3, 4, 0], [0, 0, 0]])
    assert not np.shares_memory(dx, d)
    with pytest.raises(ValueError, match=r"crop2d_backward: expected d_out of shape "
                                         r"\(1, 2, 2, 1\). Received \(1, 2, 3, 1\)"):
        crop2d_backward(np.ones((1, 2, 3, 1)), cache)


def test_dtypes_kept():
    ints = np.arange(16, dtype=np.int32).reshape(1, 4, 4, 1)
    assert Cropping2D(1)(ints).dtype == np.int32
    assert Cropping2D(1)(ints.astype(np.float64)).dtype == np.float64
    layer = Cropping2D(1)
    layer(np.ones((1, 4, 4, 1), np.float32))
    assert layer.backward(np.ones((1, 2, 2, 1), np.float32)).dtype == np.float32


def test_symbolic_shapes_and_config_round_trip():
    inputs = Input(shape=(8, 9, 2))
    y = Cropping2D(((1, 2), (3, 0)), name="crop")(inputs)
    assert y.shape == (None, 5, 6, 2)
    assert Cropping2D(1, data_format="channels_first")(Input(shape=(2, 8, 9))).shape == (
        None, 2, 6, 7)
    assert Cropping2D(1)(Input(shape=(None, None, 3))).shape == (None, None, None, 3)
    layer = y.layer
    config = layer.get_config()
    assert config["cropping"] == [[1, 2], [3, 0]] and config["data_format"] == "channels_last"
    restored = get_layer_class("Cropping2D").from_config(json.loads(json.dumps(config)))
    assert type(restored) is Cropping2D and restored.cropping == ((1, 2), (3, 0))
    assert restored.get_config() == config


def test_model_file_round_trip_and_summary(tmp_path):
    set_random_seed(5)
    inputs = Input(shape=(6, 6, 2))
    x = Conv2D(3, 3, padding="same")(inputs)
    x = Cropping2D(((1, 0), (0, 2)), name="crop")(x)
    x = Cropping2D(1, data_format="channels_first", name="crop_cf")(x)
    model = Model(inputs, Dense(2)(Flatten()(x)))
    # read as NCHW: 5 channels, 4 x 3 pixels -> 2 x 1
    assert model.get_layer("crop_cf").output_shape == (None, 5, 2, 1)
    data = np.random.default_rng(6).standard_normal((4, 6, 6, 2)).astype(np.float32)
    model.save(tmp_path / "crop.npconv")
    loaded = npio.load_model(tmp_path / "crop.npconv")
    assert loaded.get_layer("crop").cropping == ((1, 0), (0, 2))
    assert loaded.get_layer("crop_cf").data_format == "channels_first"
    np.testing.assert_array_equal(loaded.predict(data, verbose=0),
                                  model.predict(data, verbose=0))
    lines = []
    loaded.summary(print_fn=lines.append)
    assert any("crop (Cropping2D)" in line and "(None, 5, 4, 3)" in line for line in lines)


@pytest.mark.parametrize("cropping, message", [
    (-1, r"Cropping2D c: expected cropping to be >= 0. Received: cropping=-1"),
    ((1, -2), r"Cropping2D c: expected cropping to be >= 0. Received: cropping=\(1, -2\)"),
    (((0, 1), (-1, 0)), r"Cropping2D c: expected cropping to be >= 0. Received: "
                        r"cropping=\(\(0, 1\), \(-1, 0\)\)"),
    ("same", r"Cropping2D c: expected cropping to be an int, a pair of ints or "
             r"\(\(top, bottom\), \(left, right\)\). Received: cropping='same'"),
    ((1, 2, 3), r"Cropping2D c: expected cropping to be an int, a pair.*Received: "
                r"cropping=\(1, 2, 3\)"),
    (((1, 2), 3), r"Received: cropping=\(\(1, 2\), 3\)"),
    (((1, 2, 3), (0, 0)), r"Received: cropping=\(\(1, 2, 3\), \(0, 0\)\)"),
    (1.5, r"Received: cropping=1.5"),
    (True, r"Received: cropping=True"),
])
def test_bad_cropping(cropping, message):
    with pytest.raises(ValueError, match=message):
        Cropping2D(cropping, name="c")


@pytest.mark.parametrize("cropping, shape", [
    (((2, 2), (0, 0)), (1, 4, 5, 1)),   # height used up exactly
    (((0, 0), (3, 3)), (1, 4, 5, 1)),   # more than the width
])
def test_cropping_that_leaves_nothing(cropping, shape):
    message = (r"c: Cropping2D expected a cropping smaller than the input's height and width.*"
               r"Received: cropping=.* for an input of shape ")
    with pytest.raises(ValueError, match=message):
        Cropping2D(cropping, name="c")(np.ones(shape))
    with pytest.raises(ValueError, match=message):
        Cropping2D(cropping, name="c")(Input(shape=shape[1:]))
    with pytest.raises(ValueError, match=r"crop2d_forward: expected a cropping smaller"):
        crop2d_forward(np.ones(shape), cropping)
    # channels_first reads the height and width from the last two axes
    with pytest.raises(ValueError, match=message):
        Cropping2D(cropping, data_format="channels_first", name="c")(np.ones((1, 1) + shape[1:3]))
    assert Cropping2D(1, data_format="channels_first")(np.ones((1, 1, 3, 3))).shape == (1, 1, 1, 1)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"c: Cropping2D expects a 4-D input \(batch, height, "
                                         r"width, channels\). Received an input of shape \(3, 3\)"):
        Cropping2D(1, name="c")(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"expected a 4-D input"):
        crop2d_forward(np.zeros((2, 3, 3)), 1)
    with pytest.raises(RuntimeError, match="backward called before"):
        layer = Cropping2D(1)
        layer.build((1, 4, 4, 1))
        layer.call_backward(np.ones((1, 2, 2, 1)))
    with pytest.raises(ValueError, match="data_format"):
        Cropping2D(1, data_format="nhwc")
