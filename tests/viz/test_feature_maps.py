"""feature_maps equals running the model up to the chosen layer."""

import numpy as np
import pytest

from npconv.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from npconv.models.functional import Model
from npconv.models.sequential import Sequential
from npconv.models.zoo import mnist_cnn
from npconv.viz.feature_maps import feature_maps, find_layer, first_conv_layer


@pytest.fixture(scope="module")
def image():
    return np.random.default_rng(0).random((28, 28, 1)).astype(np.float32)


def test_equals_seed_001_sub_model(image):
    model = mnist_cnn()
    conv = model.layers[1]
    sub = Model(inputs=model.inputs[0], outputs=_output_tensor(model, conv))
    expected = sub.predict(image[None])
    maps = feature_maps(model, image, conv.name)
    assert maps.shape == (26, 26, 32) and maps.dtype == np.float32
    np.testing.assert_array_equal(maps, expected[0])
    np.testing.assert_array_equal(feature_maps(model, image, 1), maps)
    np.testing.assert_array_equal(feature_maps(model, image, conv), maps)
    np.testing.assert_array_equal(feature_maps(model, image[:, :, 0], conv.name), maps)


def _output_tensor(model, layer):
    stack = list(model.outputs)
    while stack:
        t = stack.pop()
        if t.layer is layer:
            return t
        stack.extend(t.parents)
    raise AssertionError("layer not found")


def test_equals_layer_by_layer_forward(image):
    model = Sequential([Input(shape=(28, 28, 1)), Conv2D(4, 3, activation="relu"),
                        MaxPooling2D(2), Conv2D(6, 3, strides=2), Flatten(), Dense(3)])
    batch = np.stack([image, image[::-1]])
    x = batch
    for k, layer in enumerate(model.layers):
        x = layer(x)
        np.testing.assert_array_equal(feature_maps(model, batch, k), x)
        # one image alone: same numbers up to float32 GEMM blocking
        np.testing.assert_allclose(feature_maps(model, batch[1], layer.name), x[1], rtol=1e-5,
                                   atol=1e-6)
    np.testing.assert_array_equal(feature_maps(model, batch, -1), model.predict(batch))


def test_unbuilt_sequential_builds_from_the_image(image):
    model = Sequential([Conv2D(2, 3), Flatten()])
    maps = feature_maps(model, image, 0)
    assert maps.shape == (26, 26, 2)
    np.testing.assert_array_equal(maps, model.layers[0](image[None])[0])


def test_lookup_and_errors(image):
    model = mnist_cnn()
    assert first_conv_layer(model) is model.layers[1]
    assert find_layer(model, -1) is model.layers[-1]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        feature_maps(model, image, "nope")
    with pytest.raises(ValueError, match="out of range"):
        feature_maps(model, image, 99)
    with pytest.raises(TypeError, match="name, an index or a Layer"):
        feature_maps(model, image, 1.5)
    with pytest.raises(ValueError, match=r"feature_maps: the model expects inputs of shape"):
        feature_maps(model, np.zeros((2, 2, 28, 28, 1)), 1)
    with pytest.raises(ValueError, match="is not part of this model"):
        feature_maps(model, image, Conv2D(2, 3))
    with pytest.raises(ValueError, match="has no Conv2D"):
        first_conv_layer(Sequential([Dense(2, input_shape=(3,))]))
