"""GaussianNoise, GaussianDropout (statistics, seeds, identity at inference, backward) and
Normalization (Keras 3's docstring examples, adapt on arrays and batches, given mean/variance,
invert, finite differences, errors, weights kept by model files)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import npconv
from npconv import gradient_check, layers
from npconv.layers.base import get_layer_class


def test_gaussian_noise_statistics_seed_inference_and_backward():
    x = np.full((200, 10, 10, 1), 3.0)
    layer = layers.GaussianNoise(0.5, seed=1)
    np.testing.assert_array_equal(layer(x), x)
    y = layer.forward(x, training=True)
    noise = y - 3.0
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.5) < 0.01
    np.testing.assert_array_equal(layers.GaussianNoise(0.5, seed=1).forward(x, training=True), y)
    d = np.random.default_rng(0).standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(d), d)
    assert layers.GaussianNoise(0.1)(np.ones((2, 3), np.float32), training=True).dtype == \
        np.float32


def test_gaussian_dropout_statistics_and_backward_is_the_same_mask():
    x = np.full((100, 50, 40), 2.0)
    layer = layers.GaussianDropout(0.2, seed=3)
    np.testing.assert_array_equal(layer(x), x)
    y = layer.forward(x, training=True)
    mask = y / 2.0
    assert abs(mask.mean() - 1) < 0.005 and abs(mask.std() - np.sqrt(0.2 / 0.8)) < 0.005
    d = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(d), d * mask, rtol=1e-12)
    report = gradient_check(layers.GaussianDropout(0.3, seed=0), np.random.default_rng(2)
                            .standard_normal((3, 4, 5)), print_fn=None)
    assert report.passed, str(report)
    npconv.set_random_seed(4)
    a = layers.GaussianDropout(0.5).forward(x, training=True)
    npconv.set_random_seed(4)
    np.testing.assert_array_equal(layers.GaussianDropout(0.5).forward(x, training=True), a)


def test_noise_argument_errors():
    with pytest.raises(ValueError, match=r"GaussianNoise: expected stddev to be a number in "
                                         r"\[0, 1\]. Received: stddev=1.5"):
        layers.GaussianNoise(1.5)
    with pytest.raises(ValueError, match=r"GaussianDropout: .*\[0, 1\). Received: rate=1"):
        layers.GaussianDropout(1)
    with pytest.raises(ValueError, match="seed"):
        layers.GaussianNoise(0.1, seed=-1)


# ------------------------------------------------------------------ Normalization
def test_keras_docstring_examples():
    layer = layers.Normalization(axis=None)
    layer.adapt(np.array([1., 2., 3., 4., 5.], dtype="float32"))
    np.testing.assert_allclose(layer(np.array([1., 2., 3.], dtype="float32")),
                               [-1.4142135, -0.70710677, 0.], rtol=1e-6)
    adapt_data = np.array([[0., 7., 4.], [2., 9., 6.], [0., 7., 4.], [2., 9., 6.]], "float32")
    layer = layers.Normalization(axis=-1)
    layer.adapt(adapt_data)
    np.testing.assert_allclose(layer(np.array([[0., 7., 4.]], "float32")), [[-1., -1., -1.]])
    layer = layers.Normalization(mean=3., variance=2.)
    np.testing.assert_allclose(layer(np.array([[1.], [2.], [3.]], "float32")),
                               [[-1.4142135], [-0.70710677], [0.]], rtol=1e-6)
    layer = layers.Normalization(axis=-1, invert=True)
    layer.adapt(adapt_data)
    np.testing.assert_allclose(layer(np.array([[1., 2., 3.]], "float32")), [[2., 10., 8.]])


@pytest.mark.parametrize("axis", [-1, None, (1, 3), 2])
def test_adapt_over_batches_equals_adapt_over_the_array(axis):
    x = np.random.default_rng(5).standard_normal((30, 4, 3, 2)) * 5 + 1
    whole = layers.Normalization(axis=axis)
    whole.adapt(x)
    batched = layers.Normalization(axis=axis)
    batched.adapt(x[i:i + 7] for i in range(0, 30, 7))          # a generator, uneven batches
    listed = layers.Normalization(axis=axis)
    listed.adapt([(x[:10], None), (x[10:], None)])              # (x, y) batches
    for other in (batched, listed):
        for a, b in zip(whole.get_weights(), other.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    keep = () if axis is None else tuple(np.atleast_1d(axis) % 4)
    reduce = tuple(d for d in range(4) if d not in keep)
    np.testing.assert_allclose(whole.adapt_mean.value.ravel(), x.mean(axis=reduce).ravel(),
                               rtol=1e-6)
    np.testing.assert_allclose(whole.adapt_variance.value.ravel(), x.var(axis=reduce).ravel(),
                               rtol=1e-6)
    assert [w.name for w in whole.weights] == ["mean", "variance", "count"]
    assert not whole.trainable_weights


@pytest.mark.parametrize("invert", [False, True])
def test_backward_passes_finite_differences(invert):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 3, 4))
    layer = layers.Normalization(axis=(1, 2), invert=invert)
    layer.adapt(x * 3)
    report = gradient_check(layer, x, print_fn=None)
    assert report.passed, str(report)
    given = layers.Normalization(axis=-1, mean=[1.0, 2.0, 0.0, 1.0],
                                 variance=[4.0, 1.0, 0.0, 9.0], invert=invert)
    report = gradient_check(given, x, print_fn=None)
    assert report.passed, str(report)
    y = given(x)
    expected = (x - [1, 2, 0, 1]) / np.maximum(np.sqrt([4, 1, 0, 9]), 1e-7)
    if invert:
        expected = [1, 2, 0, 1] + x * np.maximum(np.sqrt([4, 1, 0, 9]), 1e-7)
    np.testing.assert_allclose(y, expected)


def test_normalization_errors():
    with pytest.raises(ValueError, match="both mean and variance must be set"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError, match="must have the same shape"):
        layers.Normalization(mean=[1.0, 2.0], variance=1.0)
    with pytest.raises(ValueError, match=r"rank of mean must be less than or equal"):
        layers.Normalization(axis=None, mean=[1.0], variance=[1.0])
    with pytest.raises(ValueError, match=r"axis values must be in the range \[-ndim, ndim\)"):
        layers.Normalization(axis=3)(np.ones((2, 3)))
    layer = layers.Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 3\)"):
        layer(np.ones((4, 5)))
    with pytest.raises(ValueError, match="given to the constructor"):
        layers.Normalization(mean=0.0, variance=1.0).adapt(np.ones((2, 2)))
    with pytest.raises(ValueError, match="no batches"):
        layers.Normalization().adapt(iter([]))


@pytest.mark.parametrize("make", [
    lambda: layers.GaussianNoise(0.2, seed=1), lambda: layers.GaussianDropout(0.1),
    lambda: layers.Normalization(axis=(1, 2), invert=True),
    lambda: layers.Normalization(mean=[1.0, 2.0], variance=[3.0, 4.0])])
def test_get_config_round_trips_through_json(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    clone = get_layer_class(type(layer).__name__).from_config(config)
    assert clone.get_config() == json.loads(json.dumps(layer.get_config()))


def test_an_adapted_normalization_trains_in_a_sequential_and_its_statistics_save(tmp_path):
    npconv.set_random_seed(1)
    rng = np.random.default_rng(7)
    x = (rng.random((40, 6, 6, 2)) * 255).astype(np.float32)
    y = rng.integers(0, 3, 40)
    norm = layers.Normalization()
    norm.adapt(x)
    model = npconv.Sequential([layers.Input((6, 6, 2)), norm, layers.GaussianNoise(0.1),
                               layers.Conv2D(3, 3, activation="relu"),
                               layers.GaussianDropout(0.2), layers.Flatten(),
                               layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=10, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    np.testing.assert_allclose(norm.adapt_mean.value, x.mean(axis=(0, 1, 2)), rtol=1e-5)
    path = str(tmp_path / "norm.keras")
    model.save(path)
    loaded = npconv.models.load_model(path)
    np.testing.assert_array_equal(loaded.layers[0].adapt_variance.value,
                                  norm.adapt_variance.value)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)


def test_mean_and_variance_attributes_as_keras():
    """TensorFlow's regression tutorial prints normalizer.mean.numpy() after adapt (an
    AttributeError here): Keras's broadcast-shaped mean and variance."""
    x = np.random.default_rng(0).random((20, 9)) * 10
    norm = layers.Normalization(axis=-1)
    assert norm.mean is None
    norm.adapt(x)
    assert norm.mean.shape == (1, 9) and norm.variance.shape == (1, 9)
    np.testing.assert_allclose(norm.mean.numpy()[0], x.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(norm.variance.numpy()[0], x.var(axis=0), rtol=1e-5)
    fixed = layers.Normalization(mean=[1.0, 2.0], variance=[4.0, 9.0])
    fixed.build((None, 5, 2))
    np.testing.assert_array_equal(np.asarray(fixed.mean), [[[1.0, 2.0]]])
    np.testing.assert_array_equal(np.asarray(fixed.variance), [[[4.0, 9.0]]])
