"""RandomFlip: the identity at inference; in training each image flipped or not (a naive
per-image loop is the reference), the backward the same flip of the gradient."""

from __future__ import annotations

import numpy as np
import pytest

import npconv
from npconv import layers


def _which(x, y, axis):
    """Per image: True where y is x flipped along ``axis`` (and not x itself)."""
    flipped = np.array([np.flip(img, axis=axis - 1) for img in x])
    same = np.array([np.array_equal(a, b) for a, b in zip(y, x, strict=True)])
    mirrored = np.array([np.array_equal(a, b) for a, b in zip(y, flipped, strict=True)])
    assert np.all(same | mirrored), "every image is itself or its mirror image"
    return mirrored & ~same


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_horizontal_flips_some_images_and_its_backward_flips_their_gradients(dtype):
    rng = np.random.default_rng(0)
    x = rng.random((64, 5, 7, 3)).astype(dtype)
    layer = layers.RandomFlip("horizontal", seed=3)
    np.testing.assert_array_equal(layer(x, training=False), x)  # inference: unchanged
    y = layer.forward(x, training=True)
    assert y.dtype == dtype and y.shape == x.shape
    which = _which(x, y, axis=2)
    assert 16 < which.sum() < 48  # about half of 64
    d = rng.random(x.shape).astype(dtype)
    dx = layer.backward(d)
    expected = np.array([np.flip(g, axis=1) if w else g for g, w in zip(d, which, strict=True)])
    np.testing.assert_array_equal(dx, expected)
    np.testing.assert_allclose(np.sum(d * y), np.sum(dx * x), rtol=1e-6)  # the adjoint
    assert not np.shares_memory(dx, d)


def test_horizontal_and_vertical_draw_the_two_flips_independently():
    x = np.random.default_rng(1).random((400, 3, 4, 1))
    y = layers.RandomFlip(seed=0).forward(x, training=True)  # Keras's default mode
    combos = set()
    for img, out in zip(x, y, strict=True):
        for h in (False, True):
            for v in (False, True):
                ref = img[:, ::-1] if h else img
                ref = ref[::-1] if v else ref
                if np.array_equal(out, ref):
                    combos.add((h, v))
    assert combos == {(False, False), (False, True), (True, False), (True, True)}
    y = layers.RandomFlip("vertical", seed=0).forward(x, training=True)
    assert 0 < _which(x, y, axis=1).sum() < 400


def test_channels_first_flips_along_width_and_seeds_repeat():
    x = np.random.default_rng(2).random((32, 2, 4, 5)).astype(np.float32)  # NCHW
    y = layers.RandomFlip("horizontal", seed=7, data_format="channels_first").forward(
        x, training=True)
    nhwc = _which(x.transpose(0, 2, 3, 1), y.transpose(0, 2, 3, 1), axis=2)
    assert 0 < nhwc.sum() < 32
    again = layers.RandomFlip("horizontal", seed=7, data_format="channels_first")
    np.testing.assert_array_equal(again.forward(x, training=True), y)
    npconv.set_random_seed(5)
    a = layers.RandomFlip().forward(x.transpose(0, 2, 3, 1), training=True)
    npconv.set_random_seed(5)
    np.testing.assert_array_equal(layers.RandomFlip().forward(x.transpose(0, 2, 3, 1),
                                                              training=True), a)


def test_in_a_model_as_the_keras_guides_use_it(tmp_path):
    npconv.set_random_seed(0)
    inputs = npconv.Input((6, 6, 1))
    h = layers.RandomFlip("horizontal")(inputs)
    h = layers.Conv2D(2, 3, activation="relu")(h)
    outputs = layers.Dense(2, activation="softmax")(layers.Flatten()(h))
    model = npconv.Model(inputs, outputs)
    model.summary(print_fn=lambda line: None)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 6, 6, 1)).astype(np.float32), rng.integers(0, 2, 16)
    model.compile("sgd", "sparse_categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(),
                                                        strict=True))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = npconv.models.load_model(path)
    assert loaded.layers[1].get_config()["mode"] == "horizontal"
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_errors_name_the_layer_and_what_was_expected():
    with pytest.raises(ValueError, match="RandomFlip expects mode to be one of"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="RandomFlip expects seed"):
        layers.RandomFlip(seed=-1)
    with pytest.raises(ValueError, match=r"rank 4 \(N, H, W, C\), or one image of rank 3. "
                                         r"Received input of shape "
                                         r"\((None|2), 3\)"):
        layers.RandomFlip(name="flip")(np.ones((2, 3)))
    with pytest.raises(ValueError, match="flip2: RandomFlip expects a batch of images"):
        layers.RandomFlip(name="flip2")(npconv.Input((3,)))


def test_rank_error_of_a_channels_first_flip_shows_the_nchw_layout():
    # RandomFlip's message once said (N, H, W, C) whatever its data_format
    with pytest.raises(ValueError, match=r"RandomFlip expects a batch of images of rank 4 "
                                         r"\(N, C, H, W\)"):
        layers.RandomFlip(data_format="channels_first")(np.ones((2, 3)))


def test_seeded_augmentation_and_noise_layers_repeat_their_draws():
    x = np.random.default_rng(0).random((3, 5, 6, 2)).astype(np.float32)
    for make in (lambda: layers.RandomFlip(seed=4), lambda: layers.RandomRotation(0.2, seed=4),
                 lambda: layers.RandomCrop(3, 4, seed=4),
                 lambda: layers.RandomBrightness(0.3, seed=4),
                 lambda: layers.GaussianNoise(0.1, seed=4),
                 lambda: layers.GaussianDropout(0.3, seed=4)):
        first, second = make(), make()
        np.testing.assert_array_equal(first(x, training=True), second(x, training=True))
        assert first.own_generator() is first.own_generator()


def test_channels_first_survives_get_config():
    # a saved RandomFlip(data_format="channels_first") loaded as channels_last would flip
    # NCHW batches along H instead of W
    layer = layers.RandomFlip("horizontal", seed=1, data_format="channels_first")
    config = layer.get_config()
    assert config["data_format"] == "channels_first"
    x = np.random.default_rng(3).random((16, 2, 3, 4))
    np.testing.assert_array_equal(layers.RandomFlip.from_config(config).forward(x, training=True),
                                  layer.forward(x, training=True))


AUGMENTING = [lambda: layers.RandomFlip(seed=3), lambda: layers.RandomRotation(0.2, seed=3),
              lambda: layers.RandomZoom(0.2, seed=3),
              lambda: layers.RandomTranslation(0.2, 0.2, seed=3),
              lambda: layers.RandomContrast(0.5, value_range=(0, 1), seed=3),
              lambda: layers.RandomBrightness(0.3, value_range=(0, 1), seed=3),
              lambda: layers.RandomCrop(4, 4, seed=3)]


@pytest.mark.parametrize("make", AUGMENTING)
def test_a_direct_call_augments_as_keras_tutorials_show(make):
    """Keras's augmentation layers default to training=True when called directly, so the
    tutorials' `data_augmentation(images)` shows augmented images; npconv returned them
    unchanged. predict, evaluate and training=False infer."""
    x = np.random.default_rng(0).random((16, 8, 8, 1)).astype(np.float32)
    direct, inference = np.asarray(make()(x)), np.asarray(make()(x, training=False))
    assert not np.array_equal(direct, inference)
    block = npconv.Sequential([make(), layers.Dropout(0.9, seed=0)])  # unbuilt, as tutorials
    augmented = np.asarray(block(x))
    np.testing.assert_array_equal(augmented, direct)  # (same seed) and Dropout stays off
    model = npconv.Sequential([npconv.Input((8, 8, 1)), make(), layers.Flatten()])
    assert not np.array_equal(np.asarray(model(x)), inference.reshape(16, -1))
    np.testing.assert_array_equal(model.predict(x, verbose=0), inference.reshape(16, -1))
    np.testing.assert_array_equal(np.asarray(model(x, training=False)),
                                  inference.reshape(16, -1))


def test_other_layers_still_infer_in_a_direct_call():
    x = np.ones((4, 6), np.float32)
    assert np.array_equal(np.asarray(layers.Dropout(0.5, seed=0)(x)), x)
    assert np.array_equal(np.asarray(layers.GaussianNoise(0.5, seed=0)(x)), x)
    model = npconv.Sequential([npconv.Input((6,)), layers.Dropout(0.5, seed=0)])
    assert np.array_equal(np.asarray(model(x)), x)


class _AugmentBlock(layers.Layer):
    """A custom layer built from other layers, as Keras's guides write them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flip = layers.RandomFlip("horizontal", seed=5)
        self.drop = layers.Dropout(0.9, seed=0)

    def call(self, x, training=None):
        return self.drop(self.flip(x, training=training), training=training)


class _AugmentModel(npconv.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flip = layers.RandomFlip("horizontal", seed=5)
        self.drop = layers.Dropout(0.9, seed=0)

    def call(self, x):
        return self.drop(self.flip(x))


def test_a_direct_call_augments_inside_composite_layers_and_unbuilt_subclassed_models():
    """Keras: a mode not given passes on as None and each sublayer takes its own call's
    default, so a custom layer or a subclassed model holding RandomFlip augments when called
    directly (Dropout stays off). npconv gave a composite layer False, and a subclassed
    model's first call (before its trace) ran as inference."""
    x = np.random.default_rng(0).random((32, 6, 6, 1)).astype(np.float32)
    flipped = np.asarray(layers.RandomFlip("horizontal", seed=5)(x))
    assert not np.array_equal(flipped, x)
    np.testing.assert_array_equal(np.asarray(_AugmentBlock()(x)), flipped)
    inp = npconv.Input((6, 6, 1))
    model = npconv.Model(inp, _AugmentBlock()(inp))
    np.testing.assert_array_equal(np.asarray(model(x)), flipped)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    np.testing.assert_array_equal(np.asarray(model(x, training=False)), x)
    subclassed = _AugmentModel()
    np.testing.assert_array_equal(np.asarray(subclassed(x)), flipped)  # its first call
    np.testing.assert_array_equal(subclassed.predict(x, verbose=0), x)
    np.testing.assert_array_equal(np.asarray(_AugmentBlock()(x, training=False)), x)


@pytest.mark.parametrize("make", [
    lambda: layers.RandomFlip(seed=4),
    lambda: layers.RandomRotation(0.2, seed=4),
    lambda: layers.RandomRotation(0.2, seed=4, interpolation="nearest", fill_mode="wrap"),
    lambda: layers.RandomZoom(0.3, 0.2, seed=4, fill_mode="constant", fill_value=0.5),
    lambda: layers.RandomTranslation(0.3, 0.3, seed=4, fill_mode="nearest")])
def test_gradient_check_through_a_model_with_a_seeded_augmentation_layer(make):
    """A seeded layer's generator is rewound by gradient_check (own_generator, as Dropout's):
    it was made at the first draw and not seen, so each nudged pass drew a new transform
    and the check failed with 'two forward passes on the same input differ'."""
    from npconv.gradcheck import gradient_check

    npconv.utils.set_random_seed(1)
    model = npconv.Sequential([npconv.Input((7, 6, 2)), layers.Conv2D(2, 2, padding="same"),
                               make(), layers.Flatten(), layers.Dense(3)])
    x = np.random.default_rng(0).random((3, 7, 6, 2))
    report = gradient_check(model, x, print_fn=lambda *a: None)
    assert report.passed, str(report)


@pytest.mark.parametrize("make", [lambda: layers.RandomFlip(), lambda: layers.RandomZoom(0.1),
                                  lambda: layers.RandomRotation(0.1)])
def test_rank_error_names_the_shape_given(make):
    """The rank error quoted the build's shape, (None, 3), for an input of shape (2, 3)."""
    with pytest.raises(ValueError, match=r"Received input of shape \(2, 3\)"):
        make()(np.ones((2, 3)))


ONE_IMAGE = [lambda: layers.RandomFlip(seed=2), lambda: layers.RandomRotation(0.2, seed=2),
             lambda: layers.RandomZoom(0.2, seed=2),
             lambda: layers.RandomTranslation(0.2, 0.1, seed=2),
             lambda: layers.RandomContrast(0.5, value_range=(0, 1), seed=2),
             lambda: layers.RandomBrightness(0.3, value_range=(0, 1), seed=2),
             lambda: layers.RandomCrop(4, 3, seed=2), lambda: layers.Resizing(4, 9),
             lambda: layers.CenterCrop(3, 4),
             lambda: layers.Resizing(3, 3, data_format="channels_first")]


@pytest.mark.parametrize("make", ONE_IMAGE)
@pytest.mark.parametrize("training", [True, False])
def test_one_unbatched_image_runs_as_a_batch_of_one(make, training):
    """Keras's image layers take "3D (unbatched) or 4D (batched)" inputs (the TensorFlow
    tutorial's resize_and_rescale(image)); npconv refused rank 3. The forward and backward
    of one image are those of the batch of one, unbatched."""
    rng = np.random.default_rng(1)
    image = rng.random((5, 6, 2))
    one, batch = make(), make()
    y = np.asarray(one(image, training=training))
    y_batch = np.asarray(batch(image[None], training=training))
    np.testing.assert_array_equal(y, y_batch[0])
    d = rng.standard_normal(y.shape)
    dx = one.backward(d)
    assert dx.shape == image.shape
    np.testing.assert_array_equal(dx, batch.backward(d[None])[0])
    with pytest.raises(ValueError, match="rank 4"):
        make()(np.zeros((2, 3)))
