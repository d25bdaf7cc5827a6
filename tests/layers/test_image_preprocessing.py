"""Resizing, CenterCrop, RandomCrop, RandomContrast, RandomBrightness: Keras 3's semantics
against naive per-pixel / per-image loops, float64 finite differences of every backward, seeded
randomness, Keras's argument checks, config and model-file round trips, training in a model."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import npconv
from npconv import gradient_check, layers
from npconv.layers.base import SymbolicTensor, get_layer_class


# ------------------------------------------------------------------ naive references
def naive_resize(x, out_h, out_w, mode):
    """Per output pixel: Keras's half-pixel bilinear / nearest, written out."""
    n, h, w, c = x.shape
    out = np.zeros((n, out_h, out_w, c))

    def taps(o, n_in, n_out):
        if mode == "nearest":
            return [(min(math.floor((o + 0.5) * n_in / n_out), n_in - 1), 1.0)]
        s = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = min(math.floor(s), n_in - 1)
        return [(i0, 1 - (s - i0)), (min(i0 + 1, n_in - 1), s - i0)]

    for i in range(out_h):
        for j in range(out_w):
            for a, wa in taps(i, h, out_h):
                for b, wb in taps(j, w, out_w):
                    out[:, i, j, :] += wa * wb * x[:, a, b, :]
    return out


def keras_crop_box(h, w, th, tw):
    crop_h = max(min(h, int(float(w * th) / tw)), 1)
    crop_w = max(min(w, int(float(h * tw) / th)), 1)
    return int(float(h - crop_h) / 2), int(float(w - crop_w) / 2), crop_h, crop_w


def smart_resize(x, th, tw):
    top, left, ch, cw = keras_crop_box(x.shape[1], x.shape[2], th, tw)
    return naive_resize(x[:, top:top + ch, left:left + cw], th, tw, "bilinear")


def check_gradients(layer, x, training=False):
    report = gradient_check(layer, x, print_fn=None, training=training, max_checks=40)
    assert report.passed, str(report)


# ------------------------------------------------------------------ Resizing
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_resizing_equals_the_naive_loop_both_ways(mode):
    rng = np.random.default_rng(0)
    for _ in range(15):
        shape = (2, int(rng.integers(1, 9)), int(rng.integers(1, 9)), 2)
        size = (int(rng.integers(1, 9)), int(rng.integers(1, 9)))
        x = rng.standard_normal(shape)
        np.testing.assert_allclose(layers.Resizing(*size, interpolation=mode)(x),
                                   naive_resize(x, *size, mode), rtol=1e-12, atol=1e-12)


def test_resizing_defaults_shapes_and_dtypes():
    layer = layers.Resizing(5, 7)
    assert (layer.height, layer.width, layer.interpolation) == (5, 7, "bilinear")
    assert not layer.crop_to_aspect_ratio and not layer.pad_to_aspect_ratio
    assert layer.fill_mode == "constant" and layer.fill_value == 0.0 and not layer.antialias
    assert layer.name.startswith("resizing")
    assert layers.Resizing(3, 4)(SymbolicTensor((None, 9, 9, 2))).shape == (None, 3, 4, 2)
    assert layers.Resizing(3, 4, data_format="channels_first")(
        SymbolicTensor((None, 2, None, None))).shape == (None, 2, 3, 4)
    assert layers.Resizing(2, 2)(np.arange(16).reshape(1, 4, 4, 1)).dtype == np.float32
    x = np.ones((1, 3, 3, 1))
    assert layers.Resizing(3, 3)(x).dtype == np.float64
    np.testing.assert_array_equal(layers.Resizing(3, 3)(x), x)  # same size: a copy


def test_crop_and_pad_to_aspect_ratio_follow_keras():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 10, 3))
    # crop: the largest centred window of the target's aspect ratio, then resized
    y = layers.Resizing(4, 4, crop_to_aspect_ratio=True)(x)
    np.testing.assert_allclose(y, naive_resize(x[:, :, 2:8], 4, 4, "bilinear"), atol=1e-12)
    # pad: the short side padded evenly with fill_value (Keras: int((10*4/4 - 6) / 2) = 2 rows)
    y = layers.Resizing(10, 10, pad_to_aspect_ratio=True, fill_value=-3.0)(x)
    padded = np.pad(x, ((0, 0), (2, 2), (0, 0), (0, 0)), constant_values=-3.0)
    np.testing.assert_allclose(y, padded, atol=1e-12)
    y = layers.Resizing(5, 4, pad_to_aspect_ratio=True, fill_value=1.0)(x[:, :, :3])  # tall
    padded = np.pad(x[:, :, :3], ((0, 0), (0, 0), (0, 0), (0, 0)), constant_values=1.0)
    # width 3, height 6: Keras's pad_w = int(6 * 4 / 5) = 4 -> int((4 - 3) / 2) = 0 columns
    np.testing.assert_allclose(y, naive_resize(padded, 5, 4, "bilinear"), atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    {}, {"interpolation": "nearest"}, {"antialias": True}, {"crop_to_aspect_ratio": True},
    {"pad_to_aspect_ratio": True, "fill_value": 0.5}, {"data_format": "channels_first"}])
def test_resizing_backward_passes_finite_differences(kwargs):
    x = np.random.default_rng(2).standard_normal((2, 7, 5, 3))
    check_gradients(layers.Resizing(4, 9, **kwargs), x)
    check_gradients(layers.Resizing(3, 2, **kwargs), x)


def test_resizing_errors_name_the_layer_and_the_value():
    with pytest.raises(ValueError, match=r"Resizing: expected height to be a positive int. "
                                         r"Received: height=0"):
        layers.Resizing(0, 3)
    with pytest.raises(ValueError, match="width"):
        layers.Resizing(3, 2.5)
    with pytest.raises(ValueError, match="Keras also has 'bicubic'; npconv does not"):
        layers.Resizing(3, 3, interpolation="bicubic")
    with pytest.raises(ValueError, match="one of"):
        layers.Resizing(3, 3, interpolation="cubic")
    with pytest.raises(ValueError, match="only one of pad_to_aspect_ratio"):
        layers.Resizing(3, 3, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="fill_mode='constant'"):
        layers.Resizing(3, 3, fill_mode="reflect")
    with pytest.raises(ValueError, match=r"rz: Resizing expects a batch of images of rank 4"):
        layers.Resizing(3, 3, name="rz")(np.ones((2, 3)))


# ------------------------------------------------------------------ CenterCrop
def test_center_crop_takes_the_central_window_or_smart_resizes():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 9, 8, 3))
    y = layers.CenterCrop(4, 5)(x)
    np.testing.assert_array_equal(y, x[:, 2:6, 1:6])  # int(5 / 2) = 2, int(3 / 2) = 1
    assert not np.shares_memory(y, x)
    np.testing.assert_allclose(layers.CenterCrop(12, 6)(x), smart_resize(x, 12, 6), atol=1e-12)
    np.testing.assert_allclose(layers.CenterCrop(5, 10)(x), smart_resize(x, 5, 10), atol=1e-12)
    layer = layers.CenterCrop(4, 5)
    layer(x)
    dx = layer.backward(np.ones((2, 4, 5, 3)))
    assert dx.sum() == 2 * 4 * 5 * 3 and dx[:, 2:6, 1:6].sum() == dx.sum()


@pytest.mark.parametrize("size", [(4, 5), (12, 6), (3, 12)])
def test_center_crop_backward_passes_finite_differences(size):
    x = np.random.default_rng(4).standard_normal((2, 9, 8, 2))
    check_gradients(layers.CenterCrop(*size), x)
    check_gradients(layers.CenterCrop(*size, data_format="channels_first"),
                    np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


# ------------------------------------------------------------------ RandomCrop
def _offset(x, y):
    """The (top, left) at which y is a window of x, the same for every image."""
    h, w = y.shape[1:3]
    found = [(t, l) for t in range(x.shape[1] - h + 1) for l in range(x.shape[2] - w + 1)
             if np.array_equal(x[:, t:t + h, l:l + w], y)]
    assert len(found) == 1
    return found[0]


def test_random_crop_training_window_is_shared_by_the_batch_and_uniform():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 6, 2))
    layer = layers.RandomCrop(4, 4, seed=11)
    seen = set()
    for _ in range(200):
        y = layer.forward(x, training=True)
        seen.add(_offset(x, y))
    assert seen == {(t, l) for t in range(4) for l in range(3)}  # every position drawn
    again = layers.RandomCrop(4, 4, seed=11)
    first = layers.RandomCrop(4, 4, seed=11).forward(x, training=True)
    np.testing.assert_array_equal(again.forward(x, training=True), first)
    top, left = _offset(x, first)
    d = rng.standard_normal(first.shape)
    dx = again.backward(d)
    expected = np.zeros_like(x)
    expected[:, top:top + 4, left:left + 4] = d
    np.testing.assert_array_equal(dx, expected)


def test_random_crop_inference_and_small_images_smart_resize():
    x = np.random.default_rng(6).standard_normal((2, 8, 10, 2))
    layer = layers.RandomCrop(4, 6, seed=0)
    np.testing.assert_allclose(layer(x, training=False), smart_resize(x, 4, 6), atol=1e-12)
    np.testing.assert_allclose(layer.forward(x[:, :3], training=True),
                               smart_resize(x[:, :3], 4, 6), atol=1e-12)
    npconv.set_random_seed(3)
    a = layers.RandomCrop(4, 6).forward(x, training=True)
    npconv.set_random_seed(3)
    np.testing.assert_array_equal(layers.RandomCrop(4, 6).forward(x, training=True), a)


@pytest.mark.parametrize("training", [True, False])
def test_random_crop_backward_passes_finite_differences(training):
    x = np.random.default_rng(7).standard_normal((2, 7, 6, 2))
    check_gradients(layers.RandomCrop(4, 3, seed=1), x, training=training)
    check_gradients(layers.RandomCrop(9, 3, seed=1), x, training=training)


# ------------------------------------------------------------------ colour
def test_random_contrast_per_image_factor_mean_and_clip():
    rng = np.random.default_rng(8)
    x = rng.uniform(100, 150, (300, 4, 5, 3))
    layer = layers.RandomContrast(0.4, seed=2)
    np.testing.assert_array_equal(layer(x, training=False), x)            # inference: the identity
    y = layer.forward(x, training=True)
    mean = x.mean(axis=(1, 2), keepdims=True)
    f = ((y - mean) / (x - mean))[:, 0, 0, 0]                 # no clipping in [50, 200]
    np.testing.assert_allclose((y - mean), (x - mean) * f[:, None, None, None], atol=1e-9)
    assert 0.6 <= f.min() < 0.65 and 1.35 < f.max() <= 1.4  # uniform in [1 - 0.4, 1 + 0.4]
    assert layers.RandomContrast((0.1, 0.3)).factor == (0.1, 0.3)
    clipped = layers.RandomContrast(1.0, value_range=(110, 140), seed=0).forward(
        x, training=True)
    assert clipped.min() >= 110 and clipped.max() <= 140


def test_random_brightness_per_image_delta_scaled_by_the_range_and_clipped():
    x = np.random.default_rng(9).uniform(0.3, 0.7, (400, 2, 3, 3))
    layer = layers.RandomBrightness(0.2, value_range=(0, 1), seed=4)
    np.testing.assert_array_equal(layer(x, training=False), x)
    y = layer.forward(x, training=True)
    delta = (y - x)[:, 0, 0, 0]
    np.testing.assert_allclose(y - x, np.broadcast_to(delta[:, None, None, None], x.shape),
                               atol=1e-12)
    assert -0.2 <= delta.min() < -0.18 and 0.18 < delta.max() <= 0.2
    assert layers.RandomBrightness(-0.3).factor == (-0.3, 0.3)
    assert layers.RandomBrightness((0.5, -0.1)).factor == (-0.1, 0.5)
    y = layers.RandomBrightness((0.9, 1.0), value_range=(0, 1), seed=0).forward(
        x, training=True)
    np.testing.assert_array_equal(y, 1.0)                      # all clipped to white
    layer = layers.RandomBrightness((0.9, 1.0), value_range=(0, 1), seed=0)
    layer.forward(x, training=True)
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), 0.0)  # clip's gradient


@pytest.mark.parametrize("make", [
    lambda: layers.RandomContrast(0.5, value_range=(-1, 1), seed=3),
    lambda: layers.RandomBrightness(0.3, value_range=(-1, 1), seed=3),
    lambda: layers.RandomContrast((0.2, 0.9), value_range=(-1.5, 1.5), seed=5,
                                  data_format="channels_first")])
def test_colour_backward_passes_finite_differences_with_some_values_clipped(make):
    x = np.random.default_rng(10).standard_normal((3, 4, 5, 2))
    layer = make()
    y = layer.forward(x, training=True)
    assert np.any(np.isin(y, layer.value_range))  # some values clipped at the range
    check_gradients(make(), x, training=True)
    check_gradients(make(), x, training=False)


def test_colour_argument_errors():
    with pytest.raises(ValueError, match=r"RandomContrast: expected factor to be a number .* "
                                         r"\[0.0, 1.0\]. Received: factor=1.5"):
        layers.RandomContrast(1.5)
    with pytest.raises(ValueError, match="factor"):
        layers.RandomContrast((0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match=r"RandomBrightness: .*\[-1.0, 1.0\]"):
        layers.RandomBrightness((-2, 0.5))
    with pytest.raises(ValueError, match="value_range to be a list of two numbers"):
        layers.RandomBrightness(0.1, value_range=(0,))
    with pytest.raises(ValueError, match="seed"):
        layers.RandomContrast(0.1, seed=-2)
    with pytest.raises(ValueError, match="RandomCrop: expected seed"):
        layers.RandomCrop(2, 2, seed="a")
    with pytest.raises(ValueError, match="rank 4"):  # (one (h, w, c) image is a batch of one)
        layers.RandomContrast(0.1)(np.ones((2, 3)))


# ------------------------------------------------------------------ config, files, training
ALL = [
    lambda: layers.Resizing(6, 5, interpolation="nearest", pad_to_aspect_ratio=True,
                            fill_value=2.0, name="rs"),
    lambda: layers.Resizing(6, 5, antialias=True, crop_to_aspect_ratio=True),
    lambda: layers.CenterCrop(6, 5, data_format="channels_first"),
    lambda: layers.RandomCrop(6, 5, seed=3),
    lambda: layers.RandomContrast((0.1, 0.3), value_range=(0, 1), seed=1),
    lambda: layers.RandomBrightness(0.2, value_range=[0, 1], seed=2),
]


@pytest.mark.parametrize("make", ALL)
def test_get_config_round_trips_through_json(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    clone = get_layer_class(type(layer).__name__).from_config(config)
    assert clone.get_config() == json.loads(json.dumps(layer.get_config()))


def test_a_sequential_with_them_fits_saves_and_loads(tmp_path):
    npconv.set_random_seed(0)
    model = npconv.Sequential([
        layers.Input((10, 9, 1)),
        layers.RandomContrast(0.2, value_range=(0, 1), seed=1),
        layers.RandomBrightness(0.1, value_range=(0, 1), seed=2),
        layers.RandomCrop(8, 8, seed=3),
        layers.Resizing(6, 6),
        layers.Conv2D(2, 3, activation="relu"),
        layers.CenterCrop(3, 3),
        layers.Flatten(),
        layers.Dense(2, activation="softmax"),
    ])
    rng = np.random.default_rng(11)
    x, y = rng.random((32, 10, 9, 1)).astype(np.float32), rng.integers(0, 2, 32)
    model.compile("adam", "sparse_categorical_crossentropy")
    before = model.get_weights()
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(),
                                                        strict=True))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = npconv.models.load_model(path)
    assert [type(l).__name__ for l in loaded.layers] == [type(l).__name__ for l in model.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
