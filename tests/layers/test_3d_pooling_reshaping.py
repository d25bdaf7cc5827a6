"""Keras's 3-D pooling and reshaping layers (npconv.layers.pooling3d, .reshaping3d):

- output shapes of real Keras 3.15.1 (torch backend), recorded here as literals;
- both data formats run through the ops (channels_first = channels_last on the transposed
  input), layer gradients by float64 finite differences;
- Keras's argument errors naming the layer; configs (JSON round trip), a model file, summary
  rows, layer_cost, and a small volume model whose loss drops in fit;
- SpatialDropout3D drops whole channels.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from npconv import io as npio
from npconv import layers
from npconv.layers import (
    AveragePooling3D,
    Cropping3D,
    Dense,
    GlobalAveragePooling3D,
    GlobalMaxPooling3D,
    Input,
    MaxPooling3D,
    SpatialDropout3D,
    UpSampling3D,
    ZeroPadding3D,
)
from npconv.layers.base import get_layer_class
from npconv.models.cost import layer_cost
from npconv.models.functional import Model
from npconv.optimizers import Adam
from npconv.random import set_random_seed
from tests.finite_differences import central_differences

L = layers

#: (layer source, input shape, Keras 3.15.1's output shape), from
#: ``KERAS_BACKEND=torch python -c "keras.layers.<source>(np.zeros(shape)).shape"``.
KERAS_SHAPES = [
    ("MaxPooling3D()", (2, 5, 6, 7, 3), (2, 2, 3, 3, 3)),
    ("MaxPooling3D((2,3,1), strides=(1,2,3), padding='same')", (2, 5, 6, 7, 3), (2, 5, 3, 3, 3)),
    ("MaxPooling3D(3, strides=2, padding='valid')", (1, 7, 8, 9, 2), (1, 3, 3, 4, 2)),
    ("MaxPooling3D(2, data_format='channels_first')", (2, 3, 5, 6, 7), (2, 3, 2, 3, 3)),
    ("MaxPooling3D(3, padding='same')", (2, 2, 6, 7, 3), (2, 1, 2, 3, 3)),
    ("AveragePooling3D((3,2,2), strides=(2,1,3), padding='same')", (2, 5, 6, 7, 3),
     (2, 3, 6, 3, 3)),
    ("AveragePooling3D(2, padding='same', data_format='channels_first')", (2, 3, 5, 6, 7),
     (2, 3, 3, 3, 4)),
    ("GlobalAveragePooling3D()", (2, 5, 6, 7, 3), (2, 3)),
    ("GlobalMaxPooling3D(keepdims=True)", (2, 5, 6, 7, 3), (2, 1, 1, 1, 3)),
    ("GlobalMaxPooling3D(data_format='channels_first', keepdims=True)", (2, 3, 5, 6, 7),
     (2, 3, 1, 1, 1)),
    ("UpSampling3D((1,2,3))", (2, 5, 6, 7, 3), (2, 5, 12, 21, 3)),
    ("UpSampling3D(2, data_format='channels_first')", (2, 3, 5, 6, 7), (2, 3, 10, 12, 14)),
    ("ZeroPadding3D(2)", (2, 5, 6, 7, 3), (2, 9, 10, 11, 3)),
    ("ZeroPadding3D((1,2,3))", (2, 5, 6, 7, 3), (2, 7, 10, 13, 3)),
    ("ZeroPadding3D(((0,1),(2,3),(4,5)), data_format='channels_first')", (2, 3, 5, 6, 7),
     (2, 3, 6, 11, 16)),
    ("Cropping3D()", (2, 5, 6, 7, 3), (2, 3, 4, 5, 3)),
    ("Cropping3D((1,2,0))", (2, 5, 6, 7, 3), (2, 3, 2, 7, 3)),
    ("Cropping3D(((0,1),(2,3),(1,0)), data_format='channels_first')", (2, 3, 5, 6, 7),
     (2, 3, 4, 1, 6)),
    ("SpatialDropout3D(0.3)", (2, 5, 6, 7, 3), (2, 5, 6, 7, 3)),
]


@pytest.mark.parametrize("source,shape,expected", KERAS_SHAPES)
def test_output_shapes_are_keras(source, shape, expected):
    layer = eval("L." + source)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    assert np.asarray(layer(x)).shape == expected
    assert layer.output_shape_for(shape) == expected
    assert tuple(layer.compute_output_shape(layer._to_internal_shape(shape))) == \
        layer._to_internal_shape(expected) if len(expected) == 5 else expected
    symbolic = layer.output_shape_for((None, *shape[1:]))
    assert symbolic == (None, *expected[1:])


LAYER_MAKERS = [
    lambda fmt: MaxPooling3D((2, 3, 1), strides=(1, 2, 2), padding="same", data_format=fmt),
    lambda fmt: AveragePooling3D(2, strides=1, padding="same", data_format=fmt),
    lambda fmt: GlobalAveragePooling3D(data_format=fmt, keepdims=True),
    lambda fmt: GlobalMaxPooling3D(data_format=fmt),
    lambda fmt: UpSampling3D((2, 1, 2), data_format=fmt),
    lambda fmt: ZeroPadding3D(((1, 0), (0, 2), (1, 1)), data_format=fmt),
    lambda fmt: Cropping3D(((1, 0), (0, 1), (1, 1)), data_format=fmt),
]


@pytest.mark.parametrize("make", LAYER_MAKERS)
def test_channels_first_is_channels_last_on_the_transposed_input(make):
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5, 2))   # NDHWC
    last, first = make("channels_last"), make("channels_first")
    y_last = np.asarray(last(x))
    y_first = np.asarray(first(x.transpose(0, 4, 1, 2, 3)))
    to_first = (lambda a: a.transpose(0, 4, 1, 2, 3)) if y_last.ndim == 5 else (lambda a: a)
    np.testing.assert_array_equal(y_first, to_first(y_last))
    g = np.random.default_rng(2).standard_normal(y_last.shape)
    np.testing.assert_allclose(first.backward(to_first(g)),
                               last.backward(g).transpose(0, 4, 1, 2, 3), rtol=1e-12)


@pytest.mark.parametrize("fmt", ["channels_last", "channels_first"])
@pytest.mark.parametrize("make", LAYER_MAKERS)
def test_layer_backward_matches_finite_differences(make, fmt):
    layer = make(fmt)
    x = np.random.default_rng(3).standard_normal((2, 2, 3, 4, 3))
    y = np.asarray(layer(x))
    g = np.random.default_rng(4).standard_normal(y.shape)
    dx = layer.backward(g)
    numeric = central_differences(lambda: float(np.sum(np.asarray(layer(x)) * g)), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make,error,message", [
    (lambda: MaxPooling3D((2, 2)), ValueError, r"MaxPooling3D: expected pool_size to be an int "
     r"or a tuple of 3 ints. Received: pool_size=\(2, 2\)"),
    (lambda: MaxPooling3D(0), ValueError, "MaxPooling3D: expected pool_size to be >= 1"),
    (lambda: MaxPooling3D(2, strides=(1, 2)), ValueError, "MaxPooling3D: expected strides"),
    (lambda: AveragePooling3D(2, padding="full"), ValueError, "AveragePooling3D.*padding"),
    (lambda: AveragePooling3D(), TypeError, "pool_size"),
    (lambda: MaxPooling3D(2, data_format="nchw"), ValueError, "data_format"),
    (lambda: GlobalMaxPooling3D(keepdims=1), TypeError, "keepdims to be a bool"),
    (lambda: UpSampling3D((2, 2)), ValueError, "UpSampling3D: expected size to be an int or a "
     "tuple of 3 ints"),
    (lambda: UpSampling3D(0), ValueError, "UpSampling3D: expected size to be >= 1"),
    (lambda: ZeroPadding3D((1, 2)), ValueError, "ZeroPadding3D .*expected padding to be an int"),
    (lambda: ZeroPadding3D(-1), ValueError, "ZeroPadding3D .*padding to be >= 0"),
    (lambda: Cropping3D((1, 2)), ValueError, "Cropping3D .*expected cropping"),
    (lambda: Cropping3D(-1), ValueError, "Cropping3D .*cropping to be >= 0"),
    (lambda: SpatialDropout3D(1.5), ValueError, "SpatialDropout3D expects rate"),
    (lambda: SpatialDropout3D(0.5, noise_shape=(1, 1, 1, 1, 1)), TypeError, "noise_shape"),
])
def test_argument_errors_name_the_layer(make, error, message):
    with pytest.raises(error, match=message):
        make()


@pytest.mark.parametrize("layer,shape,message", [
    (MaxPooling3D(name="mp"), (2, 6, 7, 3), r"mp: expected a 5-D input \(batch, depth, height, "
     r"width, channels\)"),
    (MaxPooling3D(3, name="mp3"), (2, 2, 6, 7, 3), "mp3: the pool window"),
    (GlobalAveragePooling3D(data_format="channels_first", name="g"), (2, 3, 4),
     r"g: expected a 5-D input \(batch, channels, depth, height, width\)"),
    (Cropping3D(((2, 3), (0, 0), (0, 0)), name="c"), (2, 5, 6, 7, 3),
     "c: Cropping3D expected a cropping smaller"),
    (UpSampling3D(name="u"), (2, 5, 6), "u: expected a 5-D input"),
    (ZeroPadding3D(name="z"), (2, 5, 6, 7), "z: expected a 5-D input"),
    (SpatialDropout3D(0.2, name="s"), (2, 5, 6, 7), "s: expected a 5-D input"),
])
def test_input_errors_name_the_layer(layer, shape, message):
    with pytest.raises(ValueError, match=message):
        layer(np.zeros(shape, np.float32))


# ---------------------------------------------------------------------------- configs, files
ALL_LAYERS = [
    MaxPooling3D((2, 3, 1), strides=(1, 2, 2), padding="same", data_format="channels_first"),
    AveragePooling3D(2), GlobalAveragePooling3D(keepdims=True),
    GlobalMaxPooling3D(data_format="channels_first"), UpSampling3D((1, 2, 3)),
    ZeroPadding3D(((1, 0), (0, 2), (1, 1))), Cropping3D(1, data_format="channels_first"),
    SpatialDropout3D(0.25, seed=3, data_format="channels_first"),
]


@pytest.mark.parametrize("layer", ALL_LAYERS, ids=lambda layer: type(layer).__name__)
def test_config_round_trips_through_json(layer):
    config = layer.get_config()
    restored = get_layer_class(type(layer).__name__).from_config(json.loads(json.dumps(config)))
    assert type(restored) is type(layer)
    assert restored.get_config() == config
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 6, 4))
    np.testing.assert_array_equal(restored(x), layer(x))


def test_keras_defaults_names_and_aliases():
    assert MaxPooling3D().get_config()["pool_size"] == (2, 2, 2)
    assert MaxPooling3D(3).get_config()["strides"] == (3, 3, 3)
    assert MaxPooling3D().data_format == "channels_last"
    assert ZeroPadding3D().padding == ((1, 1), (1, 1), (1, 1))
    assert Cropping3D().cropping == ((1, 1), (1, 1), (1, 1))
    assert UpSampling3D().size == (2, 2, 2)
    assert L.MaxPool3D is MaxPooling3D and L.AvgPool3D is AveragePooling3D
    assert L.GlobalMaxPool3D is GlobalMaxPooling3D and L.GlobalAvgPool3D is GlobalAveragePooling3D
    names = {type(layer).__name__: re.sub(r"_\d+$", "", layer.name) for layer in ALL_LAYERS}
    assert names == {"MaxPooling3D": "max_pooling3d", "AveragePooling3D": "average_pooling3d",
                     "GlobalAveragePooling3D": "global_average_pooling3d",
                     "GlobalMaxPooling3D": "global_max_pooling3d",
                     "UpSampling3D": "up_sampling3d", "ZeroPadding3D": "zero_padding3d",
                     "Cropping3D": "cropping3d", "SpatialDropout3D": "spatial_dropout3d"}


def test_padding_and_cropping_keep_integers():
    x = np.arange(2 * 3 * 3 * 3).reshape(2, 3, 3, 3, 1).astype(np.int32)
    assert np.asarray(ZeroPadding3D(1)(x)).dtype == np.int32
    assert np.asarray(Cropping3D(1)(x)).dtype == np.int32


def test_model_file_round_trip_summary_cost_and_a_fit_that_learns(tmp_path):
    set_random_seed(7)
    inputs = Input(shape=(6, 6, 6, 2))
    x = ZeroPadding3D(1, name="pad")(inputs)                                  # (None, 8, 8, 8, 2)
    x = Dense(4, activation="relu", name="mix")(x)
    x = MaxPooling3D(2, name="pool")(x)                                       # (None, 4, 4, 4, 4)
    x = SpatialDropout3D(0.2, seed=1, name="drop")(x)
    x = UpSampling3D((1, 1, 2), name="up")(x)                                 # (None, 4, 4, 8, 4)
    x = Cropping3D(((0, 1), (1, 0), (2, 2)), name="crop")(x)                  # (None, 3, 3, 4, 4)
    x = AveragePooling3D(2, strides=1, padding="same", data_format="channels_first",
                         name="avg_cf")(x)                                    # (None, 3, 3, 4, 4)
    a = GlobalAveragePooling3D(name="gap")(x)                                 # (None, 4)
    b = GlobalMaxPooling3D(data_format="channels_first", keepdims=True, name="gmp")(x)
    b = layers.Flatten()(b)                                                   # (None, 3)
    outputs = Dense(2, activation="softmax")(layers.Concatenate()([a, b]))
    model = Model(inputs, outputs)
    rng = np.random.default_rng(5)
    data = rng.standard_normal((32, 6, 6, 6, 2)).astype(np.float32)
    labels = rng.integers(0, 2, 32)
    data[..., 0] += (2 * labels - 1)[:, None, None, None]   # class = the sign of channel 0's mean
    model.compile(optimizer=Adam(0.02), loss="sparse_categorical_crossentropy")
    history = model.fit(data, labels, epochs=15, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses
    model.save(tmp_path / "vol.npconv")
    loaded = npio.load_model(tmp_path / "vol.npconv")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    expected_shapes = {"pad": (None, 8, 8, 8, 2), "pool": (None, 4, 4, 4, 4),
                       "drop": (None, 4, 4, 4, 4), "up": (None, 4, 4, 8, 4),
                       "crop": (None, 3, 3, 4, 4), "avg_cf": (None, 3, 3, 4, 4),
                       "gap": (None, 4), "gmp": (None, 3, 1, 1, 1)}
    lines = []
    loaded.summary(print_fn=lines.append, show_cost=True)
    for name, shape in expected_shapes.items():
        layer = loaded.get_layer(name)
        assert layer.get_config() == model.get_layer(name).get_config()
        assert layer.output_shape == shape
        row = [line for line in lines if f"{name} ({type(layer).__name__})" in line]
        assert len(row) == 1 and re.search(re.escape(str(shape)) + r"\s+0\s", row[0]), row
        assert layer_cost(layer, batch_size=4) == {
            "macs": 0, "im2col_bytes": 0, "activation_bytes": 4 * math.prod(shape[1:]) * 4}
    assert loaded.count_params() == (2 * 4 + 4) + (7 * 2 + 2)


def test_spatial_dropout_drops_whole_channels_and_scales():
    x = np.random.default_rng(0).uniform(0.5, 1.5, (6, 3, 4, 5, 8)).astype(np.float32)
    for fmt, axes in (("channels_last", (1, 2, 3)), ("channels_first", (2, 3, 4))):
        xin = x if fmt == "channels_last" else x.transpose(0, 4, 1, 2, 3)
        layer = SpatialDropout3D(0.4, seed=1, data_format=fmt)
        y = np.asarray(layer(xin, training=True))
        ratio = y / xin
        assert np.all((ratio == 0) | np.isclose(ratio, 1 / 0.6, rtol=1e-6))
        kept = (ratio != 0).all(axis=axes)
        np.testing.assert_array_equal(kept, (ratio != 0).any(axis=axes))   # whole channels
        assert 0 < kept.sum() < kept.size
        np.testing.assert_allclose(layer.backward(np.ones_like(y)), ratio, rtol=1e-6)
        np.testing.assert_array_equal(layer(xin, training=False), xin)
