"""model.to_json / models.model_from_json (architecture only) and models.clone_model (same
architecture, fresh weights), as Keras."""

import json

import numpy as np
import pytest

import npconv
from npconv.layers import (
    Add,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
)
from npconv.models import Model, Sequential, clone_model, model_from_json


def _sequential():
    return Sequential([Input((8, 8, 1)), Conv2D(4, 3, activation="gelu", padding="same"),
                       BatchNormalization(), MaxPooling2D(), Flatten(), Dropout(0.2),
                       Dense(3, activation="softmax", kernel_regularizer="l2")])


def _functional():
    inp = Input((6,))
    a = Dense(4, activation="relu", name="a")(inp)
    b = Dense(4, name="b")(inp)
    out = Dense(2, name="out")(Add()([a, b]))
    return Model(inputs=inp, outputs=out, name="res")


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_json_round_trip_is_the_same_architecture(build):
    model = build()
    text = model.to_json()
    spec = json.loads(text)
    assert spec["class_name"] in ("Sequential", "Functional")
    again = model_from_json(text)
    assert type(again) is type(model)
    assert again.get_config() == model.get_config()
    assert [w.shape for w in again.weights] == [w.shape for w in model.weights]
    assert again.to_json() == text
    assert not again.compiled
    again.set_weights(model.get_weights())
    x = np.random.default_rng(0).standard_normal((2,) + model.input_shape[1:])
    np.testing.assert_allclose(again.predict(x), model.predict(x), rtol=1e-6)
    assert json.loads(model.to_json(indent=2)) == spec  # kwargs go to json.dumps


def test_model_from_json_rejects_other_text():
    with pytest.raises(ValueError, match="not JSON"):
        model_from_json("not json")
    with pytest.raises(ValueError, match="class_name"):
        model_from_json(json.dumps({"layers": []}))
    with pytest.raises(ValueError, match="'Sequential' or 'Functional'"):
        model_from_json(json.dumps({"class_name": "Pipeline", "config": {}}))


@pytest.mark.parametrize("build", [_sequential, _functional])
def test_clone_has_fresh_weights_and_new_layers(build):
    model = build()
    model.compile("adam", "mse")
    clone = clone_model(model)
    assert type(clone) is type(model)
    assert clone.get_config() == model.get_config()
    assert not clone.compiled
    assert all(a is not b for a, b in zip(clone.layers, model.layers, strict=True))
    kernels = [(w.value, v.value) for w, v in zip(model.weights, clone.weights, strict=True)
               if w.name == "kernel"]
    assert kernels and all(not np.array_equal(a, b) for a, b in kernels)
    # training the clone leaves the original alone
    before = model.get_weights()
    x = np.random.default_rng(1).standard_normal((4,) + model.input_shape[1:])
    clone.compile("sgd", "mse")
    clone.fit(x, np.zeros((4,) + clone.output_shape[1:]), epochs=1, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_clone_of_an_unbuilt_sequential_and_bad_input():
    model = Sequential([Dense(3), Dense(1)])
    clone = clone_model(model)
    assert len(clone.layers) == 2 and not clone.built
    with pytest.raises(TypeError, match="clone_model: expected"):
        clone_model(Dense(3))


def test_keras_paths():
    assert npconv.models.clone_model is clone_model
    assert npconv.models.model_from_json is model_from_json
