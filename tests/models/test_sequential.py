"""``Sequential``: the ways Keras builds one (list, add, Input, input_shape=, first call)."""

from __future__ import annotations

import numpy as np
import pytest

from npconv.layers.conv import Conv2D
from npconv.layers.core import Dense, Dropout, Flatten
from npconv.layers.input import Input, InputLayer
from npconv.layers.pooling import MaxPooling2D
from npconv.models.functional import Model
from npconv.models.sequential import Sequential


def _layers():
    return [Conv2D(4, 3, activation="relu"), MaxPooling2D(2), Flatten(), Dense(3)]


def _check_built(model):
    assert model.built
    assert model.input_shape == (None, 8, 8, 2)
    assert model.output_shape == (None, 3)
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert model.count_params() == (2 * 9 * 4 + 4) + (3 * 3 * 4 * 3 + 3)


def test_list_with_input():
    _check_built(Sequential([Input(shape=(8, 8, 2))] + _layers()))


def test_list_with_input_layer():
    _check_built(Sequential([InputLayer(shape=(8, 8, 2))] + _layers()))


def test_add_with_input_shape_on_first_layer():
    model = Sequential()
    layers = _layers()
    model.add(Conv2D(4, 3, activation="relu", input_shape=(8, 8, 2)))
    assert model.built and model.output_shape == (None, 6, 6, 4)
    for layer in layers[1:]:
        model.add(layer)
    _check_built(model)


def test_add_with_input():
    model = Sequential()
    model.add(Input(shape=(8, 8, 2)))
    for layer in _layers():
        model.add(layer)
    _check_built(model)


def test_built_by_first_call_or_build():
    model = Sequential(_layers())
    assert not model.built
    with pytest.raises(ValueError, match="not built"):
        model.count_params()
    lines = []  # Keras 3 prints an unbuilt model's layers rather than raising
    model.summary(print_fn=lines.append)
    assert any("0 (unbuilt)" in line for line in lines)
    y = model.predict(np.zeros((2, 8, 8, 2), np.float32))
    assert y.shape == (2, 3)
    _check_built(model)
    other = Sequential(_layers())
    other.build((None, 8, 8, 2))
    _check_built(other)


def test_sequential_equals_the_layers_called_in_turn():
    rng = np.random.default_rng(0)
    layers = _layers()
    model = Sequential([Input(shape=(8, 8, 2))] + layers)
    x = rng.standard_normal((3, 8, 8, 2)).astype(np.float32)
    y = x
    for layer in layers:
        y = layer(y)
    np.testing.assert_array_equal(model.predict(x), y)
    assert isinstance(model, Model)


def test_pop_and_errors():
    model = Sequential([Input(shape=(8, 8, 2))] + _layers())
    last = model.pop()
    assert isinstance(last, Dense)
    assert model.output_shape == (None, 36)
    with pytest.raises(ValueError, match="already in the model"):
        model.add(model.layers[0])
    with pytest.raises(TypeError, match="expected a Layer. Received ndarray"):
        model.add(np.zeros(3))
    with pytest.raises(ValueError, match="Input can only be the first entry"):
        model.add(Input(shape=(3,)))
    with pytest.raises(ValueError, match="no layer to pop"):
        Sequential().pop()
    with pytest.raises(ValueError, match="has no layers"):
        Sequential().predict(np.zeros((1, 3)))


def test_wrong_input_shape_is_a_clear_error():
    model = Sequential([Input(shape=(8, 8, 2))] + _layers())
    with pytest.raises(ValueError, match=r"expected input of shape \(batch,\) \+ \(8, 8, 2\). "
                                         r"Received an input of shape \(1, 8, 8, 3\)"):
        model.predict(np.zeros((1, 8, 8, 3)))


def test_config_round_trip():
    rng = np.random.default_rng(1)
    model = Sequential([Input(shape=(8, 8, 2))] + _layers()[:3] + [Dropout(0.3), Dense(3)])
    model.set_weights([rng.standard_normal(w.shape) for w in model.get_weights()])
    clone = Sequential.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    x = rng.standard_normal((4, 8, 8, 2)).astype(np.float32)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]


def test_a_stack_of_image_layers_takes_one_unbatched_image():
    """The TensorFlow data-augmentation tutorial's ``resize_and_rescale(image)``: a Sequential
    of Resizing and Rescaling called on one (h, w, c) image (Keras builds it on that shape,
    and the image layers take "3D (unbatched) or 4D (batched)" inputs). npconv built it for
    batches of (w, c) rows and Resizing refused rank 3. The image runs as a batch of one."""
    from npconv import layers as L

    image = np.random.default_rng(0).random((8, 6, 3)).astype("float32") * 255
    resize_and_rescale = Sequential([L.Resizing(4, 5), L.Rescaling(1.0 / 255)])
    one = resize_and_rescale(image)
    assert one.shape == (4, 5, 3)
    batch = resize_and_rescale(image[None])  # built for batches of (8, 6, 3) images
    np.testing.assert_array_equal(one, batch[0])
    assert resize_and_rescale.predict(image[None], verbose=0).shape == (1, 4, 5, 3)
    flip = Sequential([L.RandomFlip("horizontal", seed=3)])
    assert flip(image, training=False).shape == image.shape
    np.testing.assert_array_equal(flip(image, training=False), image)
    # only where the first layer takes one image: a Dense stack still reads rank 3 as a batch
    dense = Sequential([L.Dense(2)])
    assert dense(image).shape == (8, 6, 2)
