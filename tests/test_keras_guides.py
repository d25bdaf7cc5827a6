"""The keras.io guides' snippets run on npconv with only their import lines changed.

"Transfer learning & fine-tuning", "Save, serialize, and export models", "Training &
evaluation with the built-in methods" and "Writing your own callbacks", as Keras 3 writes
them; snippets that need TensorFlow/JAX tensors, ``keras.ops`` or automatic differentiation
are left out, and small random arrays stand in for the guides' downloads. Each test checks
what the snippet computed. tests/test_keras_tutorials.py covers the parts that the
tutorials share with these guides (frozen layers, a frozen base model, callbacks and saving).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_seed_snippets import run_snippet

KERAS = {"import keras\n": "import npconv as keras\n"}
KERAS_LAYERS = {**KERAS, "from keras import layers": "from npconv import layers"}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets save "custom_model.keras" ... in the cwd


# ------------------------------------------------------------------ saving: custom objects
CUSTOM_LAYER_WITHOUT_NAME = """
import numpy as np
import keras


@keras.saving.register_keras_serializable(package="MyLayers")
class CustomLayer(keras.layers.Layer):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {"factor": self.factor}


def get_model():
    inputs = keras.Input(shape=(4,))
    mid = CustomLayer(0.5)(inputs)
    outputs = keras.layers.Dense(1, activation="relu")(mid)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mean_squared_error")
    return model


def train_model(model):
    input = np.random.random((4, 4))
    target = np.random.random((4, 1))
    model.fit(input, target, verbose=0)
    return model


test_input = np.random.random((4, 4))
model = get_model()
model = train_model(model)
model.save("custom_model.keras")
reconstructed_model = keras.models.load_model("custom_model.keras")
np.testing.assert_allclose(model.predict(test_input), reconstructed_model.predict(test_input))
with keras.saving.custom_object_scope({"CustomLayer": CustomLayer}):
    in_scope = keras.models.load_model("custom_model.keras")
"""


def test_a_custom_layer_whose_config_has_no_name_saves_and_loads():
    """The guide's ``CustomLayer.get_config`` returns only ``{"factor": ...}``: loading
    failed with "cannot rebuild the architecture: 'custom_layer'" (the file's inbound
    names referred to the layer by a name its config did not carry)."""
    ns, _ = run_snippet(CUSTOM_LAYER_WITHOUT_NAME, KERAS)
    x = ns["test_input"]
    np.testing.assert_allclose(ns["in_scope"].predict(x, verbose=0),
                               ns["model"].predict(x, verbose=0))
    assert ns["reconstructed_model"].layers[1].factor == 0.5
