"""Keras pooling layers: seed 000's tables, shapes, config round trip, data_format, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from npconv.layers.base import SymbolicTensor, get_layer_class
from npconv.layers.pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
)
from npconv.ops.pool import max_pool2d_backward, max_pool2d_forward

SEED000 = np.arange(32, dtype=float).reshape(1, 4, 4, 2)
WINDOWED = [MaxPooling2D, AveragePooling2D]
GLOBAL = [GlobalMaxPooling2D, GlobalAveragePooling2D]


def test_aliases_are_the_same_classes():
    assert MaxPool2D is MaxPooling2D
    assert AvgPool2D is AveragePooling2D
    assert GlobalMaxPool2D is GlobalMaxPooling2D
    assert GlobalAvgPool2D is GlobalAveragePooling2D


def test_seed000_tables():
    avg = AveragePooling2D((2, 2), strides=1)(SEED000)
    mx = MaxPool2D((2, 2), strides=1)(SEED000)
    assert avg.shape == mx.shape == (1, 3, 3, 2)
    np.testing.assert_array_equal(avg[0, :, :, 0], [[5, 7, 9], [13, 15, 17], [21, 23, 25]])
    np.testing.assert_array_equal(avg[0, :, :, 1], [[6, 8, 10], [14, 16, 18], [22, 24, 26]])
    np.testing.assert_array_equal(mx[0, :, :, 0], [[10, 12, 14], [18, 20, 22], [26, 28, 30]])
    np.testing.assert_array_equal(mx[0, :, :, 1], [[11, 13, 15], [19, 21, 23], [27, 29, 31]])
    np.testing.assert_array_equal(GlobalAveragePooling2D()(SEED000), [[15, 16]])
    np.testing.assert_array_equal(GlobalMaxPooling2D()(SEED000), [[30, 31]])


def test_seed001_cnn_pool_shapes():
    # Seed 001: MaxPooling2D(pool_size=2) after 26x26x32 and 11x11x64 feature maps.
    layer = MaxPooling2D(pool_size=2)
    assert layer(np.zeros((2, 26, 26, 32), np.float32)).shape == (2, 13, 13, 32)
    assert MaxPooling2D(pool_size=2)(np.zeros((2, 11, 11, 64), np.float32)).shape == (2, 5, 5, 64)
    symbolic = MaxPooling2D(pool_size=2)(SymbolicTensor((None, 11, 11, 64)))
    assert symbolic.shape == (None, 5, 5, 64)
    assert layer.output_shape == (None, 13, 13, 32)
    assert layer.count_params() == 0 and layer.weights == []


@pytest.mark.parametrize("cls", WINDOWED)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_output_shape_matches_call(cls, padding):
    layer = cls((3, 2), strides=(2, 1), padding=padding)
    x = np.random.default_rng(0).standard_normal((2, 7, 6, 3)).astype(np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    assert layer.output_shape_for(x.shape) == y.shape
    assert y.shape == ((2, 4, 6, 3) if padding == "same" else (2, 3, 5, 3))


@pytest.mark.parametrize("cls", WINDOWED + GLOBAL)
def test_backward_matches_op_and_is_idempotent(cls):
    layer = cls() if cls in GLOBAL else cls(2, strides=1, padding="same")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 4, 3))
    y = layer(x, training=True)
    d = rng.standard_normal(y.shape)
    dx1 = layer.backward(d)
    dx2 = layer.backward(d)
    assert dx1.shape == x.shape and dx1.dtype == np.float64
    np.testing.assert_array_equal(dx1, dx2)
    # Pooling is positively homogeneous of degree 1, so Euler: sum(dx * x) == sum(d * y)
    np.testing.assert_allclose(np.sum(dx1 * x), np.sum(d * y), rtol=1e-10)


def test_max_pool_layer_backward_routes_to_the_max():
    x = np.array([[1.0, 4], [3, 2]]).reshape(1, 2, 2, 1)
    layer = MaxPooling2D()
    layer(x)
    dx = layer.backward(np.full((1, 1, 1, 1), 7.0))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 7], [0, 0]])


@pytest.mark.parametrize("cls", WINDOWED)
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_channels_first_equals_transposed_channels_last(cls, padding):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 7, 5, 3))
    last = cls(3, strides=2, padding=padding)
    first = cls(3, strides=2, padding=padding, data_format="channels_first")
    y_last = last(x)
    y_first = first(x.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(y_first, y_last.transpose(0, 3, 1, 2))
    assert first.output_shape == (None,) + y_first.shape[1:]
    d = rng.standard_normal(y_last.shape)
    np.testing.assert_array_equal(first.backward(d.transpose(0, 3, 1, 2)),
                                  last.backward(d).transpose(0, 3, 1, 2))


@pytest.mark.parametrize("cls", GLOBAL)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_channels_first_and_keepdims(cls, keepdims):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 5, 3))
    last = cls(keepdims=keepdims)
    first = cls(data_format="channels_first", keepdims=keepdims)
    y_last = last(x)
    y_first = first(x.transpose(0, 3, 1, 2))
    if keepdims:
        assert y_last.shape == (2, 1, 1, 3) and y_first.shape == (2, 3, 1, 1)
        np.testing.assert_array_equal(y_first, y_last.transpose(0, 3, 1, 2))
    else:
        assert y_last.shape == y_first.shape == (2, 3)
        np.testing.assert_array_equal(y_first, y_last)
    assert first.output_shape == (None,) + y_first.shape[1:]
    d = rng.standard_normal(y_last.shape)
    d_first = d.transpose(0, 3, 1, 2) if keepdims else d
    np.testing.assert_array_equal(first.backward(d_first), last.backward(d).transpose(0, 3, 1, 2))


@pytest.mark.parametrize("cls", WINDOWED)
def test_get_config_round_trip(cls):
    layer = cls(pool_size=(3, 2), strides=(1, 2), padding="SAME", data_format="channels_first",
                name="pool_a")
    config = layer.get_config()
    assert config["pool_size"] == (3, 2) and config["strides"] == (1, 2)
    assert config["padding"] == "same" and config["data_format"] == "channels_first"
    restored = get_layer_class(cls.__name__).from_config(json.loads(json.dumps(config)))
    assert type(restored) is cls
    assert restored.get_config() == config
    x = np.random.default_rng(4).standard_normal((1, 2, 6, 6))
    np.testing.assert_array_equal(restored(x), layer(x))


@pytest.mark.parametrize("cls", WINDOWED + GLOBAL)
def test_data_format_none_means_channels_last(cls):
    # Keras's signatures default to data_format=None (the global image_data_format)
    assert cls(data_format=None).get_config()["data_format"] == "channels_last"


def test_strides_default_to_pool_size_in_config():
    assert MaxPooling2D(3).get_config()["strides"] == (3, 3)
    assert MaxPooling2D().get_config()["pool_size"] == (2, 2)


@pytest.mark.parametrize("cls", GLOBAL)
def test_global_get_config_round_trip(cls):
    layer = cls(data_format="channels_first", keepdims=True, name="gp")
    config = layer.get_config()
    assert config["keepdims"] is True and config["data_format"] == "channels_first"
    restored = cls.from_config(json.loads(json.dumps(config)))
    assert restored.get_config() == config


def test_integer_input_becomes_float32():
    y = MaxPooling2D()(np.arange(16).reshape(1, 4, 4, 1))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y[0, :, :, 0], [[5, 7], [13, 15]])


def test_layer_agrees_with_op_on_non_contiguous_input():
    x = np.random.default_rng(5).standard_normal((4, 9, 8, 6))[::2, ::-1, :, 1::2]
    np.testing.assert_array_equal(MaxPooling2D(3, 2, "same")(x),
                                  max_pool2d_forward(np.ascontiguousarray(x), 3, 2, "same")[0])


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("cls", WINDOWED)
def test_constructor_validation(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"^{name}: expected pool_size to be >= 1. "
                                         r"Received: pool_size=0$"):
        cls(pool_size=0)
    with pytest.raises(ValueError, match=rf"{name}: expected strides to be >= 1.*strides=-1"):
        cls(strides=-1)
    with pytest.raises(ValueError, match=rf"{name}: expected pool_size to be an int or a pair"):
        cls(pool_size=(2, 2, 2))
    with pytest.raises(ValueError, match=rf"{name}: expected padding to be one of.*'causal'"):
        cls(padding="causal")
    with pytest.raises(ValueError, match="expected data_format to be one of"):
        cls(data_format="nhwc")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        cls(kernel_size=3)


def test_pool_size_message_from_the_brief():
    with pytest.raises(ValueError) as err:
        MaxPooling2D(pool_size=0)
    assert str(err.value) == "MaxPooling2D: expected pool_size to be >= 1. Received: pool_size=0"


@pytest.mark.parametrize("cls", WINDOWED + GLOBAL)
def test_three_d_input_is_an_error(cls):
    layer = cls(name="pool_x")
    with pytest.raises(ValueError, match=r"pool_x: expected a 4-D input \(batch, height, width, "
                                         r"channels\). Received an input of shape \(4, 4, 2\)"):
        layer(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="expected a 4-D input"):
        cls()(SymbolicTensor((None, 4, 4)))


@pytest.mark.parametrize("cls", WINDOWED)
def test_window_larger_than_input_is_an_error(cls):
    layer = cls(pool_size=(3, 3), name="too_big")
    with pytest.raises(ValueError, match=r"too_big: the pool window \(3, 3\) is larger than the "
                                         r"input's height and width \(2, 5\)"):
        layer(np.zeros((1, 2, 5, 1)))
    with pytest.raises(ValueError, match=r"the pool window \(3, 3\) is larger"):
        cls((3, 3), data_format="channels_first")(SymbolicTensor((None, 1, 2, 5)))
    # "same" padding makes any window fit
    assert cls((3, 3), padding="same")(np.zeros((1, 2, 5, 1))).shape == (1, 1, 2, 1)


def test_global_keepdims_must_be_bool():
    with pytest.raises(TypeError, match="expected keepdims to be a bool. Received: keepdims=1"):
        GlobalMaxPooling2D(keepdims=1)


@pytest.mark.parametrize("cls", WINDOWED + GLOBAL)
def test_backward_before_call_is_an_error(cls):
    with pytest.raises(RuntimeError, match="backward called before"):
        cls().backward(np.zeros((1, 1, 1, 1)))


def test_backward_rejects_wrong_gradient_shape():
    layer = MaxPooling2D()
    layer(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"max_pooling2d: expected a gradient of the output's "
                                         r"shape \(2, 2, 2, 3\)"):
        layer.backward(np.zeros((2, 2, 2, 1)))
    # the op itself checks too, for callers that use it directly
    out, cache = max_pool2d_forward(np.zeros((2, 4, 4, 3)), 2)
    with pytest.raises(ValueError, match=r"expected d_out of shape \(2, 2, 2, 3\)"):
        max_pool2d_backward(np.zeros((2, 2, 2, 1)), cache)
