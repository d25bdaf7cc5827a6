"""SpatialDropout2D: whole channels per sample, 1/(1-rate) scaling, identity at inference,
Dropout's seeding and data-parallel conventions, channels_first, its backward by finite
differences, config round trip, the model file, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from npconv import io as npio
from npconv.layers import Conv2D, Dense, Flatten, Input, SpatialDropout2D
from npconv.layers.base import get_layer_class
from npconv.models.functional import Model
from npconv.random import global_generator, set_random_seed
from tests.finite_differences import central_differences


def test_drops_whole_channels_per_sample_and_scales():
    x = np.random.default_rng(0).uniform(0.5, 1.5, (6, 5, 4, 8)).astype(np.float32)
    layer = SpatialDropout2D(0.4, seed=1)
    y = np.asarray(layer(x, training=True))
    assert y.dtype == np.float32 and y.shape == x.shape
    ratio = y / x
    kept = ratio[:, :1, :1, :] != 0
    assert np.all((ratio == 0) | np.isclose(ratio, 1 / 0.6, rtol=1e-6))
    np.testing.assert_array_equal(ratio != 0, np.broadcast_to(kept, x.shape))  # per (n, c)
    assert 0 < kept.sum() < kept.size
    assert not np.array_equal(kept[0], kept[1]) or not np.array_equal(kept[2], kept[3])
    np.testing.assert_array_equal(layer(x), x)  # inference: the identity
    np.testing.assert_array_equal(SpatialDropout2D(0.0)(x, training=True), x)


def test_keep_rate_is_one_minus_rate():
    y = np.asarray(SpatialDropout2D(0.3, seed=0)(np.ones((400, 1, 1, 50)), training=True))
    assert abs((y != 0).mean() - 0.7) < 0.01


def test_channels_first_drops_nchw_channels():
    x = np.ones((3, 4, 5, 6))
    layer = SpatialDropout2D(0.5, data_format="channels_first", seed=2)
    y = np.asarray(layer(x, training=True))
    assert np.all(y == y[:, :, :1, :1])
    # the same draw as channels_last on the transposed input
    z = np.asarray(SpatialDropout2D(0.5, seed=2)(x.transpose(0, 2, 3, 1), training=True))
    np.testing.assert_array_equal(y, z.transpose(0, 3, 1, 2))


def test_seeding_follows_dropout():
    x = np.ones((4, 2, 2, 16))
    a, b = SpatialDropout2D(0.5, seed=3), SpatialDropout2D(0.5, seed=3)
    first = np.asarray(a(x, training=True))
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, a(x, training=True))  # its generator advances
    set_random_seed(1)
    c = np.asarray(SpatialDropout2D(0.5)(x, training=True))
    set_random_seed(1)
    np.testing.assert_array_equal(c, SpatialDropout2D(0.5)(x, training=True))
    state = global_generator().bit_generator.state
    SpatialDropout2D(0.5)(x, training=False)
    assert global_generator().bit_generator.state == state  # inference draws nothing


def test_batch_split_only_outside_training():
    layer = SpatialDropout2D(0.5)
    layer(np.ones((2, 2, 2, 2)))
    assert layer.splits_batch(training=False) and not layer.splits_batch(training=True)
    zero = SpatialDropout2D(0.0)
    zero(np.ones((2, 2, 2, 2)))
    assert zero.splits_batch(training=True)  # rate 0 draws nothing: as Dropout


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_backward_by_finite_differences(data_format):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 3, 5))
    d_out = rng.standard_normal(x.shape)
    layer = SpatialDropout2D(0.5, seed=5, data_format=data_format, dtype="float64")
    layer.own_generator()
    state = layer._rng.bit_generator.state

    def f():
        layer._rng.bit_generator.state = state  # the same mask each time
        return np.sum(np.asarray(layer.forward(x, training=True)) * d_out)

    numeric = central_differences(f, x)
    f()
    dx = layer.backward(d_out)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(layer.backward(d_out), dx)  # twice: the same
    layer.forward(x, training=False)
    np.testing.assert_array_equal(layer.backward(d_out), d_out)


def test_config_round_trip_and_registry():
    layer = SpatialDropout2D(0.25, data_format="channels_first", seed=7, name="sd")
    config = layer.get_config()
    assert config == {"name": "sd", "trainable": True, "rate": 0.25, "seed": 7,
                      "data_format": "channels_first"}
    clone = get_layer_class("SpatialDropout2D").from_config(config)
    assert clone.get_config() == config
    assert SpatialDropout2D(0.5).name.startswith("spatial_dropout2d")
    assert SpatialDropout2D(0.5, data_format=None).data_format == "channels_last"


def test_errors_name_the_layer_and_what_came():
    for bad in (-0.1, 1.0, "0.5", None, True):
        with pytest.raises(ValueError, match=r"SpatialDropout2D expects rate.*\[0, 1\).*Received"):
            SpatialDropout2D(bad)
    with pytest.raises(ValueError, match="SpatialDropout2D expects seed"):
        SpatialDropout2D(0.5, seed=-1)
    with pytest.raises(ValueError, match="data_format"):
        SpatialDropout2D(0.5, data_format="nchw")
    with pytest.raises(TypeError, match="noise_shape"):
        SpatialDropout2D(0.5, noise_shape=(None, 1, 1, None))
    with pytest.raises(ValueError, match=r"sd3: SpatialDropout2D expects a 4-D input.*\(2, 5\)"):
        SpatialDropout2D(0.5, name="sd3")(np.ones((2, 5)), training=True)
    with pytest.raises(ValueError, match="4-D input"):
        SpatialDropout2D(0.5)(Input(shape=(3, 3)))


def test_trains_and_survives_the_model_file(tmp_path):
    set_random_seed(0)
    inputs = Input(shape=(5, 5, 2))
    x = Conv2D(4, 3, activation="relu")(inputs)
    x = SpatialDropout2D(0.5, seed=3)(x)
    outputs = Dense(3, activation="softmax")(Flatten()(x))
    model = Model(inputs, outputs)
    rng = np.random.default_rng(3)
    data, labels = rng.standard_normal((16, 5, 5, 2)).astype(np.float32), rng.integers(0, 3, 16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(data, labels, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    model.save(tmp_path / "sd.npconv")
    loaded = npio.load_model(tmp_path / "sd.npconv")
    sd = [layer for layer in loaded.layers if isinstance(layer, SpatialDropout2D)]
    assert len(sd) == 1 and sd[0].rate == 0.5 and sd[0].seed == 3
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
