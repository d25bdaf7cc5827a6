"""RandomRotation, RandomZoom, RandomTranslation: the identity at inference and with factor 0;
Keras's transform matrices (known rotations, zooms and shifts; every drawn parameter within
its range); seeds; a backward that is the adjoint of the sampling (the naive loop and float64
finite differences through a re-seeded layer); channels_first; in a model as the Keras
tutorials use them (fit, summary, save/load); Keras's argument errors."""

from __future__ import annotations

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.ops.affine import affine_transform_forward
from tests.finite_differences import central_differences
from tests.naive_affine import affine_backward, affine_forward

LAYERS = {
    "rotation": lambda **kw: layers.RandomRotation(0.2, **kw),
    "zoom": lambda **kw: layers.RandomZoom((-0.3, 0.4), **kw),
    "zoom_wh": lambda **kw: layers.RandomZoom(0.3, (-0.2, 0.5), **kw),
    "translation": lambda **kw: layers.RandomTranslation(0.3, (-0.2, 0.25), **kw),
}


def rows_of(layer, x):
    """The transform rows a fresh layer with ``layer``'s seed draws first for batch ``x``."""
    twin = type(layer).from_config(layer.get_config())
    _, h, w, _ = twin._to_internal_shape(x.shape)
    return twin._rows(twin.get_random_transformation(x), h, w)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_inference_and_factor_zero_are_the_identity(kind):
    x = np.random.default_rng(0).random((5, 6, 7, 2)).astype(np.float32)
    layer = LAYERS[kind](seed=1)
    out = layer(x, training=False)  # (a direct call without a mode augments, as Keras)
    np.testing.assert_array_equal(out, x)
    d = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(d), d)
    zero = {"rotation": layers.RandomRotation(0.0), "zoom": layers.RandomZoom(0),
            "zoom_wh": layers.RandomZoom(0.0, 0.0),
            "translation": layers.RandomTranslation(0, 0.0)}[kind]
    for fill_mode in ("reflect", "constant"):
        zero.fill_mode = fill_mode
        np.testing.assert_array_equal(zero.forward(x, training=True), x)


def test_known_rotation_zoom_and_translation():
    x = np.random.default_rng(1).standard_normal((2, 5, 5, 3))
    quarter = layers.RandomRotation((0.25, 0.25), fill_mode="constant")   # angle pi / 2
    np.testing.assert_allclose(quarter.forward(x, training=True),
                               np.rot90(x, k=1, axes=(1, 2)), atol=1e-12)
    half = layers.RandomRotation((-0.5, -0.5))
    np.testing.assert_allclose(half.forward(x, training=True), x[:, ::-1, ::-1], atol=1e-12)
    # zoom in by 2 (factor -0.5): the output reads centre + 0.5 * (p - centre)
    img = np.random.default_rng(2).standard_normal((1, 4, 6, 1))
    zoom = layers.RandomZoom((-0.5, -0.5), fill_mode="nearest")
    expected = affine_forward(img, [[0.5, 0, 2.5 / 2, 0, 0.5, 1.5 / 2, 0, 0]], "bilinear",
                              "nearest", 0.0)
    np.testing.assert_allclose(zoom.forward(img, training=True), expected, atol=1e-12)
    # zoom out by 2 on both axes, width alone by 1.5
    wide = layers.RandomZoom((1, 1), (0.5, 0.5), fill_mode="constant")
    expected = affine_forward(img, [[1.5, 0, -1.25, 0, 2, -1.5, 0, 0]], "bilinear",
                              "constant", 0.0)
    np.testing.assert_allclose(wide.forward(img, training=True), expected, atol=1e-12)
    # a shift down by 1 and left by 3 pixels: whole pixels, exact
    shift = layers.RandomTranslation((0.25, 0.25), (-0.5, -0.5), fill_mode="constant",
                                     fill_value=-7)
    out = shift.forward(img, training=True)
    np.testing.assert_array_equal(out[:, 1:, :3], img[:, :-1, 3:])
    assert np.all(out[:, :1] == -7) and np.all(out[:, :, 3:] == -7)


def test_drawn_parameters_cover_their_ranges_one_per_image():
    x = np.zeros((4000, 3, 4, 1))
    rotation = layers.RandomRotation((0.3, -0.2), seed=0)   # a pair is sorted, as in Keras
    assert rotation.factor == (-0.2, 0.3)
    matrix = rotation.get_random_transformation(x)["rotation_matrix"]
    turns = np.arctan2(matrix[:, 3], matrix[:, 0]) / (2 * np.pi)
    assert -0.2 <= turns.min() < -0.19 and 0.29 < turns.max() <= 0.3
    assert abs(turns.mean() - 0.05) < 0.01
    np.testing.assert_allclose(matrix[:, 4], matrix[:, 0])
    np.testing.assert_allclose(matrix[:, 1], -matrix[:, 3])
    # every rotation keeps the centre ((W - 1) / 2, (H - 1) / 2) = (1.5, 1) in place
    np.testing.assert_allclose(matrix[:, 0] * 1.5 + matrix[:, 1] * 1 + matrix[:, 2], 1.5)
    np.testing.assert_allclose(matrix[:, 3] * 1.5 + matrix[:, 4] * 1 + matrix[:, 5], 1.0)
    assert layers.RandomRotation(0.1).factor == (-0.1, 0.1)
    assert layers.RandomRotation(-0.1).factor == (-0.1, 0.1)

    zoom = layers.RandomZoom(0.2, seed=0).get_random_transformation(x)
    assert 0.8 <= zoom["height_zoom"].min() < 0.81 and 1.19 < zoom["height_zoom"].max() <= 1.2
    np.testing.assert_array_equal(zoom["width_zoom"], zoom["height_zoom"])   # aspect kept
    zoom = layers.RandomZoom(0.2, (0.1, 0.3), seed=0).get_random_transformation(x)
    assert 1.1 <= zoom["width_zoom"].min() and zoom["width_zoom"].max() <= 1.3
    assert not np.array_equal(zoom["width_zoom"], zoom["height_zoom"])

    shift = layers.RandomTranslation(0.5, (-0.25, 0), seed=0).get_random_transformation(x)
    dx, dy = shift["translations"].T   # pixels: fractions of the width 4 and height 3
    assert -1.0 <= dx.min() < -0.99 and -0.01 < dx.max() <= 0
    assert -1.5 <= dy.min() < -1.49 and 1.49 < dy.max() <= 1.5
    assert rotation.get_random_transformation(x, training=False) is None


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_seeds_repeat_and_every_image_gets_its_own_transform(kind):
    x = np.random.default_rng(3).random((6, 8, 8, 2)).astype(np.float32)
    a = LAYERS[kind](seed=5)
    first = a.forward(x, training=True)
    np.testing.assert_array_equal(LAYERS[kind](seed=5).forward(x, training=True), first)
    assert not np.array_equal(a.forward(x, training=True), first)   # the next draw
    np.testing.assert_array_equal(first, affine_transform_forward(
        x, rows_of(a, x), a.interpolation, a.fill_mode, a.fill_value)[0])
    rows = rows_of(a, x)
    assert len({tuple(r) for r in rows}) == len(x)
    npconv.set_random_seed(9)
    unseeded = LAYERS[kind]().forward(x, training=True)
    npconv.set_random_seed(9)
    np.testing.assert_array_equal(LAYERS[kind]().forward(x, training=True), unseeded)
    assert first.dtype == np.float32
    assert LAYERS[kind](seed=5).forward(x.astype(np.float64), training=True).dtype == np.float64


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_backward_is_the_adjoint_and_matches_finite_differences(kind, fill_mode, interpolation):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 5, 6, 2))
    r = rng.standard_normal(x.shape)
    make = LAYERS[kind]
    kw = dict(seed=8, fill_mode=fill_mode, interpolation=interpolation, fill_value=0.5)
    layer = make(**kw)
    out = layer.forward(x, training=True)
    dx = layer.backward(r)
    rows = rows_of(layer, x)
    np.testing.assert_allclose(out, affine_forward(x, rows, interpolation, fill_mode, 0.5),
                               atol=1e-12)
    np.testing.assert_allclose(dx, affine_backward(r, rows, interpolation, fill_mode),
                               atol=1e-12)
    # a fresh layer with the same seed draws the same transforms: f(x) is a fixed function
    numeric = central_differences(
        lambda: float(np.sum(make(**kw).forward(x, training=True) * r)), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_channels_first_matches_channels_last(kind):
    x = np.random.default_rng(5).random((3, 2, 6, 7)).astype(np.float32)   # NCHW
    first = LAYERS[kind](seed=2, data_format="channels_first")
    last = LAYERS[kind](seed=2)
    y = first.forward(x, training=True)
    np.testing.assert_array_equal(y, last.forward(x.transpose(0, 2, 3, 1), training=True)
                                  .transpose(0, 3, 1, 2))
    d = np.random.default_rng(6).random(y.shape).astype(np.float32)
    np.testing.assert_array_equal(first.backward(d), last.backward(d.transpose(0, 2, 3, 1))
                                  .transpose(0, 3, 1, 2))
    rows = LAYERS[kind](seed=2, data_format="channels_first")
    assert np.allclose(rows_of(rows, x), rows_of(last, x.transpose(0, 2, 3, 1)))
    config = first.get_config()
    assert config["data_format"] == "channels_first"
    np.testing.assert_array_equal(type(first).from_config(config).forward(x, training=True), y)


def test_in_a_model_as_the_keras_tutorials_use_them(tmp_path):
    npconv.set_random_seed(0)
    data_augmentation = npconv.Sequential([
        layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.1),
        layers.RandomTranslation(0.1, 0.1, fill_mode="constant")])
    model = npconv.Sequential([
        npconv.Input((28, 28, 1)), data_augmentation,
        layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(2), layers.Flatten(),
        layers.Dense(10, activation="softmax")])
    lines = []
    model.summary(print_fn=lines.append)
    assert any("random_rotation" in line or "sequential" in line for line in lines)
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, 32)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(),
                                                        strict=True))
    path = str(tmp_path / "augmented.keras")
    model.save(path)
    loaded = npconv.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(loaded.layers[0], npconv.Sequential)  # the nested model, as Keras
    random = [layer for layer in loaded.layers[0].layers
              if type(layer).__name__.startswith("Random")]
    assert [type(layer).__name__ for layer in random] == [   # the nested model's layers
        "RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation"]
    assert random[1].get_config()["factor"] == [-0.1, 0.1]
    assert random[3].get_config()["fill_mode"] == "constant"


def test_first_layer_of_a_model_trains_and_saves(tmp_path):
    npconv.set_random_seed(1)
    model = npconv.Sequential([
        npconv.Input((28, 28, 1)), layers.RandomRotation(0.1, seed=3),
        layers.Conv2D(2, 3, activation="relu"), layers.Flatten(),
        layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(1)
    x, y = rng.random((16, 28, 28, 1)).astype(np.float32), rng.integers(0, 3, 16)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    lines = []
    model.summary(print_fn=lines.append)
    row = next(line for line in lines if "random_rotation" in line)
    assert "RandomRotation" in row and "(None, 28, 28, 1)" in row and row.rstrip().endswith("0")
    path = str(tmp_path / "m.npconv")
    model.save(path)
    loaded = npconv.models.load_model(path)
    config = loaded.layers[0].get_config()
    assert (config["factor"], config["seed"], config["fill_mode"]) == ([-0.1, 0.1], 3,
                                                                       "reflect")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # a functional model with the augmentation in the middle, channels_first
    inputs = npconv.Input((1, 8, 8))
    h = layers.Conv2D(2, 3, padding="same", data_format="channels_first")(inputs)
    h = layers.RandomZoom(0.2, data_format="channels_first", seed=0)(h)
    outputs = layers.Dense(2, activation="softmax")(layers.Flatten()(h))
    functional = npconv.Model(inputs, outputs)
    functional.compile("sgd", "sparse_categorical_crossentropy")
    xs = rng.random((8, 1, 8, 8)).astype(np.float32)
    before = functional.get_weights()
    functional.fit(xs, rng.integers(0, 2, 8), epochs=1, batch_size=4, verbose=0)
    assert not np.array_equal(before[0], functional.get_weights()[0])   # the conv before it


def test_errors_name_the_layer_and_what_was_expected():
    with pytest.raises(ValueError, match=r"rot: RandomRotation expects factor to be a number "
                                         r"\(or a list of two numbers\) in the range \[-1, 1\]"
                                         r"\. Received: factor=1.5"):
        layers.RandomRotation(1.5, name="rot")
    with pytest.raises(ValueError, match=r"Received: factor=\(0.1, 0.2, 0.3\)"):
        layers.RandomRotation((0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="Received: factor='0.1'"):
        layers.RandomRotation("0.1")
    with pytest.raises(ValueError, match=r"RandomZoom expects width_factor .* "
                                         r"Received: width_factor=\(-2, 0\)"):
        layers.RandomZoom(0.1, (-2, 0))
    with pytest.raises(ValueError, match="RandomTranslation expects height_factor"):
        layers.RandomTranslation(None, 0.1)
    with pytest.raises(ValueError, match=r"RandomZoom expects fill_mode to be one of "
                                         r"\['reflect', 'wrap', 'constant', 'nearest'\]\. "
                                         r"Received: fill_mode='mirror'"):
        layers.RandomZoom(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="expects interpolation to be one of"):
        layers.RandomRotation(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match="RandomTranslation expects seed"):
        layers.RandomTranslation(0.1, 0.1, seed=-1)
    with pytest.raises(ValueError, match="expects fill_value to be a number"):
        layers.RandomRotation(0.1, fill_value=None)
    with pytest.raises(ValueError, match=r"aug: RandomRotation expects a batch of images of "
                                         r"rank 4 \(N, H, W, C\), or one image of rank 3\. "
                                         r"Received input of shape "
                                         r"\((None|2), 3\)"):
        layers.RandomRotation(0.1, name="aug")(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"rank 4 \(N, C, H, W\)"):
        layers.RandomZoom(0.1, data_format="channels_first")(npconv.Input((3, 4)))
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        layers.RandomRotation(0.1, value_range=(0, 1))


def test_numpy_scalar_factors_save_and_load(tmp_path):
    # RandomZoom and RandomTranslation once put the factors in their config as given: a
    # numpy float32 factor made model.save fail (not JSON serializable)
    f32 = np.float32
    model = npconv.Sequential([
        npconv.Input((6, 6, 1)), layers.RandomZoom(f32(0.25), (f32(-0.5), 0.25), seed=1),
        layers.RandomTranslation(f32(0.5), f32(0.25), seed=2)])
    path = str(tmp_path / "m.npconv")
    model.save(path)
    loaded = npconv.models.load_model(path)
    zoom, shift = (layer.get_config() for layer in loaded.layers)
    assert (zoom["height_factor"], zoom["width_factor"]) == (0.25, [-0.5, 0.25])
    assert (shift["height_factor"], shift["width_factor"]) == (0.5, 0.25)
    x = np.random.default_rng(0).random((2, 6, 6, 1)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x, training=True), model(x, training=True))
