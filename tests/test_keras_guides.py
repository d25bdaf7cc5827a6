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


# ------------------------------------------------------------------ training: datasets
PY_DATASET_WITH_BATCH_SIZE = """
import numpy as np
import torch
import keras
from keras import layers

rng = np.random.default_rng(0)
x_train = rng.random((96, 784)).astype("float32")
y_train = rng.integers(0, 10, 96).astype("float32")
x_val, y_val = x_train[-32:], y_train[-32:]


def get_compiled_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy"])
    return model


class ExamplePyDataset(keras.utils.PyDataset):
    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x = x
        self.y = y
        self.batch_size = batch_size

    def __len__(self):
        return int(np.ceil(len(self.x) / float(self.batch_size)))

    def __getitem__(self, idx):
        batch_x = self.x[idx * self.batch_size : (idx + 1) * self.batch_size]
        batch_y = self.y[idx * self.batch_size : (idx + 1) * self.batch_size]
        return batch_x, batch_y


train_py_dataset = ExamplePyDataset(x_train, y_train, batch_size=32)
val_py_dataset = ExamplePyDataset(x_val, y_val, batch_size=32)
model = get_compiled_model()
history = model.fit(train_py_dataset, batch_size=64, validation_data=val_py_dataset, epochs=1)
evaluated = model.evaluate(val_py_dataset)


class ExampleTorchDataset(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, idx):
        return self.x[idx], self.y[idx]


train_dataloader = torch.utils.data.DataLoader(
    ExampleTorchDataset(x_train, y_train), batch_size=32, shuffle=True)
val_dataloader = torch.utils.data.DataLoader(
    ExampleTorchDataset(x_val, y_val), batch_size=32, shuffle=True)
model = get_compiled_model()
torch_history = model.fit(train_dataloader, batch_size=64, validation_data=val_dataloader,
                          epochs=1)
predicted = model.predict(val_py_dataset, batch_size=64)
"""


def test_fit_on_a_py_dataset_or_a_dataloader_ignores_batch_size_as_keras():
    """The guide calls ``fit(train_py_dataset, batch_size=64, ...)`` (and the same with a
    torch DataLoader); Keras 3 ignores ``batch_size`` there, npconv raised "the batch_size
    argument is not supported"."""
    pytest.importorskip("torch")
    ns, _ = run_snippet(PY_DATASET_WITH_BATCH_SIZE, KERAS_LAYERS)
    assert ns["history"].params["steps"] == 3  # the dataset's batches of 32, not 64
    assert len(ns["torch_history"].history["val_loss"]) == 1
    assert ns["predicted"].shape == (32, 10)


# ------------------------------------------------------------------ transfer learning
RECURSIVE_TRAINABLE = """
import numpy as np
import keras

inner_model = keras.Sequential(
    [
        keras.Input(shape=(3,)),
        keras.layers.Dense(3, activation="relu"),
        keras.layers.Dense(3, activation="relu"),
    ]
)

model = keras.Sequential(
    [
        keras.Input(shape=(3,)),
        inner_model,
        keras.layers.Dense(3, activation="sigmoid"),
    ]
)

model.trainable = False  # Freeze the outer model

assert inner_model.trainable == False  # All layers in `model` are now frozen
assert inner_model.layers[0].trainable == False  # `trainable` is propagated recursively
"""


def test_trainable_is_set_recursively_on_a_nested_model():
    """The guide's ``assert inner_model.trainable == False`` failed: the outer model froze
    the inner model's layers but left the inner model's own flag True."""
    ns, _ = run_snippet(RECURSIVE_TRAINABLE, KERAS)
    inner, model = ns["inner_model"], ns["model"]
    assert inner.trainable_weights == [] and model.trainable_weights == []
    model.trainable = True  # unfreezing for fine-tuning unfreezes it again
    assert inner.trainable and len(inner.trainable_weights) == 4
    assert len(model.trainable_weights) == 6

    import npconv as keras  # the functional form: features = base(inputs)
    inputs = keras.Input((3,))
    base = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    x = keras.Input((3,))
    outer = keras.Model(x, keras.layers.Dense(2)(base(x)))
    outer.trainable = False
    assert not base.trainable and base.trainable_weights == []


# ------------------------------------------------------------------ training: several outputs
MULTI_OUTPUT_METRICS = """
import numpy as np
import keras
from keras import layers

image_input = keras.Input(shape=(32, 32, 3), name="img_input")
other_input = keras.Input(shape=(20, 10, 1), name="ts_input")  # (the guide's is a Conv1D series)
x1 = layers.Conv2D(3, 3)(image_input)
x1 = layers.GlobalMaxPooling2D()(x1)
x2 = layers.Conv2D(3, 3)(other_input)
x2 = layers.GlobalMaxPooling2D()(x2)
x = layers.concatenate([x1, x2])
score_output = layers.Dense(1, name="score_output")(x)
class_output = layers.Dense(5, name="class_output")(x)
model = keras.Model(inputs=[image_input, other_input], outputs=[score_output, class_output])

model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss={
        "score_output": keras.losses.MeanSquaredError(),
        "class_output": keras.losses.CategoricalCrossentropy(),
    },
    metrics={
        "score_output": [
            keras.metrics.MeanAbsolutePercentageError(),
            keras.metrics.MeanAbsoluteError(),
        ],
        "class_output": [keras.metrics.CategoricalAccuracy()],
    },
    loss_weights={"score_output": 2.0, "class_output": 1.0},
)
img_data = np.random.random_sample(size=(100, 32, 32, 3))
ts_data = np.random.random_sample(size=(100, 20, 10, 1))
score_targets = np.random.random_sample(size=(100, 1))
class_targets = np.random.random_sample(size=(100, 5))
model.fit({"img_input": img_data, "ts_input": ts_data},
          {"score_output": score_targets, "class_output": class_targets},
          batch_size=32, epochs=1, verbose=0)
results = model.evaluate([img_data, ts_data], [score_targets, class_targets], verbose=0,
                         return_dict=True)
model.save("multi.keras")
reloaded = keras.models.load_model("multi.keras")
"""


def test_mean_absolute_percentage_error_metric_on_one_output_of_two():
    """``keras.metrics.MeanAbsolutePercentageError`` (in the guide's per-output metrics)
    was an AttributeError; its value is Keras's ``100 mean(|(t - p) / max(|t|, 1e-7)|)``."""
    import npconv as keras

    ns, _ = run_snippet(MULTI_OUTPUT_METRICS, KERAS_LAYERS)
    model, results, t = ns["model"], ns["results"], ns["score_targets"]
    score, _ = model.predict([ns["img_data"], ns["ts_data"]], verbose=0)
    expected = np.mean(100 * np.abs((t - score) / np.maximum(np.abs(t), 1e-7)))
    assert results["score_output_mean_absolute_percentage_error"] == pytest.approx(expected,
                                                                                 rel=1e-6)
    assert results["loss"] == pytest.approx(2 * results["score_output_loss"]
                                            + results["class_output_loss"], rel=1e-6)
    metric = keras.metrics.MeanSquaredLogarithmicError()
    metric.update_state([[1.0, 2.0]], [[0.5, 3.0]])
    assert metric.result() == pytest.approx(
        np.mean((np.log1p([0.5, 3.0]) - np.log1p([1.0, 2.0])) ** 2))
    assert keras.metrics.get("MeanAbsolutePercentageError").name == \
        "mean_absolute_percentage_error"
    assert ns["reloaded"].count_params() == model.count_params()


# ------------------------------------------------------------------ saving: serialization
SERIALIZATION = """
import numpy as np
import keras

keras.saving.get_custom_objects().clear()


@keras.saving.register_keras_serializable(package="my_package", name="custom_fn")
def custom_fn(x):
    return x**2


registered = dict(keras.saving.get_custom_objects())

my_reg = keras.regularizers.L1(0.005)
config = keras.saving.serialize_keras_object(my_reg)
print(config)
new_reg = keras.saving.deserialize_keras_object(config)


class CustomLayer(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, inputs):
        return inputs

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


layer = CustomLayer(5)
serialized_layer = keras.layers.serialize(layer)
new_layer = keras.layers.deserialize(
    serialized_layer, custom_objects={"CustomLayer": CustomLayer}
)
dense_config = keras.layers.serialize(keras.layers.Dense(3, activation="relu"))
new_dense = keras.saving.deserialize_keras_object(dense_config)
"""


@pytest.fixture
def _registry_kept():
    """The guide clears the registered custom objects: give the other tests theirs back."""
    from npconv.saving import get_custom_objects

    kept = dict(get_custom_objects())
    yield
    get_custom_objects().clear()
    get_custom_objects().update(kept)


@pytest.mark.usefixtures("_registry_kept")
def test_the_saving_guides_serialization_helpers():
    """``keras.saving.get_custom_objects``, ``serialize_keras_object``,
    ``deserialize_keras_object`` and ``keras.layers.serialize``/``deserialize`` were
    AttributeErrors."""
    ns, out = run_snippet(SERIALIZATION, KERAS)
    assert list(ns["registered"]) == ["my_package>custom_fn"]
    assert ns["config"] == {"module": "keras.regularizers", "class_name": "L1",
                            "config": {"l1": 0.005}, "registered_name": None}
    assert ns["new_reg"].get_config() == {"l1": 0.005}
    assert ns["serialized_layer"]["class_name"] == "CustomLayer"
    assert ns["serialized_layer"]["module"] is None
    assert type(ns["new_layer"]).__name__ == "CustomLayer" and ns["new_layer"].units == 5
    assert ns["dense_config"]["module"] == "keras.layers"
    assert ns["new_dense"].units == 3 and ns["new_dense"].get_config() == \
        ns["dense_config"]["config"]
    import npconv as keras
    with pytest.raises(TypeError, match="serializes layers and regularizers"):
        keras.saving.serialize_keras_object(keras.optimizers.Adam())


def test_keras_utils_has_the_saving_aliases():
    """Keras 3 exports the saving helpers from keras.utils as well as keras.saving."""
    import npconv.saving
    import npconv.utils

    for name in ("custom_object_scope", "get_custom_objects", "register_keras_serializable",
                 "serialize_keras_object", "deserialize_keras_object",
                 "get_registered_object"):
        assert getattr(npconv.utils, name) is getattr(npconv.saving, name), name
        assert name in dir(npconv.utils)
