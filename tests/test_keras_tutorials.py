"""Typical Keras tutorial code runs on npconv with only its import lines changed.

Each snippet is written as keras.io / tensorflow.org tutorials write it (the "Simple MNIST
convnet", "Basic classification", the functional-API toy ResNet, callbacks, saving, transfer
learning's frozen layers, binary classification, regression). ``run_snippet`` (from
test_seed_snippets) replaces the Keras import lines by npconv's and ``exec``s the text; the
data are small synthetic arrays (or a slice of Fashion-MNIST) so that the whole file is fast.
Each test then checks what the snippet computed, not only that it ran.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.test_seed_snippets import run_snippet

TF_KERAS = {"from tensorflow import keras": "import npconv as keras",
            "from tensorflow.keras import layers": "from npconv import layers"}


@pytest.fixture
def data():
    """Images (200, 8, 8, 1) in [0, 1] and 4 classes that depend on the pixels (learnable)."""
    rng = np.random.default_rng(0)
    x = rng.random((200, 8, 8, 1)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype("int64") + 2 * (x[:, :4].mean(axis=(1, 2, 3)) > 0.5)
    return {"x_train": x, "y_train": y}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets save "model.keras", "best.keras" ... in the cwd


# ------------------------------------------------------------------ keras.io simple convnet
MNIST_CONVNET = """
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

num_classes = 10
input_shape = (28, 28, 1)

(x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
x_train, y_train, x_test, y_test = x_train[:1000], y_train[:1000], x_test[:300], y_test[:300]

x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
print("x_train shape:", x_train.shape)
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)

model.summary()

batch_size = 128
epochs = 2

model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
                    validation_split=0.1, verbose=0)

score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
"""


def test_keras_io_simple_mnist_convnet_on_fashion_mnist():
    ns, out = run_snippet(MNIST_CONVNET, TF_KERAS)
    assert "x_train shape: (1000, 28, 28, 1)" in out
    assert "Total params: 34,826" in out  # the keras.io page's count
    history = ns["history"].history
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history["loss"]) == 2 and history["loss"][1] < history["loss"][0]
    loss, acc = ns["score"]
    assert isinstance(loss, float) and isinstance(acc, float)
    assert acc > 0.4  # 10 classes: chance is 0.1


# ------------------------------------------------ tensorflow.org basic classification
BASIC_CLASSIFICATION = """
import numpy as np
from tensorflow import keras

train_images = (x_train[..., 0] * 255).astype("uint8")   # (N, 28, 28)-like uint8 images
train_images = train_images / 255.0

model = keras.Sequential([
    keras.layers.Flatten(input_shape=(8, 8)),
    keras.layers.Dense(32, activation='relu'),
    keras.layers.Dense(4)
])
model.compile(optimizer='adam',
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=['accuracy'])
model.fit(train_images, y_train, epochs=3, verbose=0)
test_loss, test_acc = model.evaluate(train_images, y_train, verbose=2)
print('Test accuracy:', test_acc)

probability_model = keras.Sequential([model, keras.layers.Softmax()])
predictions = probability_model.predict(train_images)
img = train_images[1]
img = (np.expand_dims(img, 0))
predictions_single = probability_model.predict(img)
label = np.argmax(predictions_single[0])
"""


def test_basic_classification_wraps_a_model_in_sequential_with_softmax(data):
    ns, _ = run_snippet(BASIC_CLASSIFICATION, {"from tensorflow import keras":
                                               "import npconv as keras"}, data)
    logits = ns["model"].predict(ns["train_images"], verbose=0)
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ns["predictions"], expected, rtol=1e-5, atol=1e-7)
    assert ns["predictions_single"].shape == (1, 4)
    assert ns["label"] == np.argmax(expected[1])


# ------------------------------------------------------------------ functional toy ResNet
TOY_RESNET = """
from tensorflow import keras
from tensorflow.keras import layers

inputs = keras.Input(shape=(8, 8, 1), name="img")
x = layers.Conv2D(8, 3, activation="relu", padding="same")(inputs)
block_1_output = layers.MaxPooling2D(2)(x)

x = layers.Conv2D(8, 3, activation="relu", padding="same")(block_1_output)
x = layers.Conv2D(8, 3, activation="relu", padding="same")(x)
block_2_output = layers.add([x, block_1_output])

x = layers.Conv2D(8, 3, activation="relu", padding="same")(block_2_output)
x = layers.GlobalAveragePooling2D()(x)
x = layers.Dense(16, activation="relu")(x)
x = layers.Dropout(0.5)(x)
outputs = layers.Dense(4)(x)

model = keras.Model(inputs, outputs, name="toy_resnet")
model.summary()
model.compile(
    optimizer=keras.optimizers.RMSprop(1e-3),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["acc"],
)
history = model.fit(x_train, y_train, batch_size=64, epochs=1, validation_split=0.2, verbose=0)
"""


def test_functional_toy_resnet_with_layers_add_function(data):
    ns, out = run_snippet(TOY_RESNET, TF_KERAS, data)
    assert "toy_resnet" in out and "Add" in out
    assert sorted(ns["history"].history) == ["acc", "loss", "val_acc", "val_loss"]


def test_merge_functions_equal_the_layers():
    import npconv as keras
    from npconv.layers.merge import add, concatenate

    rng = np.random.default_rng(1)
    a, b = rng.random((2, 4, 4, 3)).astype("float32"), rng.random((2, 4, 4, 3)).astype("float32")
    np.testing.assert_array_equal(add([a, b]), a + b)
    np.testing.assert_array_equal(concatenate([a, b], axis=1), np.concatenate([a, b], axis=1))
    inp = keras.Input(shape=(4, 4, 3))
    branch = keras.layers.Conv2D(3, 1)(inp)
    assert add([inp, branch]).shape == (None, 4, 4, 3)
    assert concatenate([inp, branch]).shape == (None, 4, 4, 6)
    model = keras.Model(inp, add([inp, branch]))
    np.testing.assert_allclose(model(a), a + model.layers[1](a), rtol=1e-6)


# ------------------------------------------------------------------ callbacks and saving
CALLBACKS_AND_SAVING = """
from tensorflow import keras
from tensorflow.keras import layers

model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Conv2D(4, 3, activation="relu"),
    layers.BatchNormalization(),
    layers.GlobalAveragePooling2D(),
    layers.Dense(4, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
callbacks = [
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=2),
    keras.callbacks.ModelCheckpoint("best.keras", save_best_only=True),
]
history = model.fit(x_train, y_train, batch_size=32, epochs=3, validation_split=0.2,
                    callbacks=callbacks, verbose=0)
print(history.history["val_accuracy"])
model.save("model.keras")
reloaded = keras.models.load_model("model.keras")
best = keras.models.load_model("best.keras")
first_layer_weights = model.layers[0].get_weights()
predicted_classes = reloaded.predict(x_train).argmax(axis=1)
"""


def test_callbacks_checkpoint_save_and_load(data):
    ns, _ = run_snippet(CALLBACKS_AND_SAVING, TF_KERAS, data)
    model, reloaded = ns["model"], ns["reloaded"]
    np.testing.assert_array_equal(reloaded.predict(data["x_train"], verbose=0),
                                  model.predict(data["x_train"], verbose=0))
    assert os.path.exists("best.keras") and ns["best"].count_params() == model.count_params()
    kernel, bias = ns["first_layer_weights"]
    assert kernel.shape == (3, 3, 1, 4) and bias.shape == (4,)
    assert ns["predicted_classes"].shape == (200,)
    assert len(ns["history"].history["val_accuracy"]) == 3


# ------------------------------------------------------------------ frozen layers
FROZEN = """
from tensorflow import keras
from tensorflow.keras import layers

model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Conv2D(4, 3, activation="relu"),
    layers.Flatten(),
    layers.Dense(4, activation="softmax"),
])
model.layers[0].trainable = False
frozen_before = model.layers[0].get_weights()
dense_before = model.layers[2].get_weights()
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=1, verbose=0)
model.summary()
"""


def test_a_frozen_layer_does_not_change(data):
    ns, out = run_snippet(FROZEN, TF_KERAS, data)
    model = ns["model"]
    for before, after in zip(ns["frozen_before"], model.layers[0].get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(ns["dense_before"][0], model.layers[2].get_weights()[0])
    assert "Trainable params: 580" in out and "Non-trainable params: 40" in out


# ------------------------------------------------------------------ binary and regression
BINARY = """
from tensorflow import keras
from tensorflow.keras import layers

y_binary = (y_train > 1).astype("float32").reshape(-1, 1)
model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Flatten(),
    layers.Dense(16, activation="relu"),
    layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_binary, epochs=3, batch_size=16, verbose=0)
loss, acc = model.evaluate(x_train, y_binary, verbose=0)
"""


def test_binary_classification_with_sigmoid(data):
    ns, _ = run_snippet(BINARY, TF_KERAS, data)
    p = ns["model"].predict(data["x_train"], verbose=0)
    assert p.shape == (200, 1)
    y = ns["y_binary"]
    assert ns["acc"] == pytest.approx(np.mean((p > 0.5) == y))
    expected_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert ns["loss"] == pytest.approx(expected_loss, rel=1e-4)


REGRESSION = """
from tensorflow import keras
from tensorflow.keras import layers

targets = x_train.mean(axis=(1, 2, 3))
model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Flatten(),
    layers.Dense(16, activation="relu"),
    layers.Dense(1),
])
model.compile(optimizer="adam", loss="mse", metrics=["mae"])
history = model.fit(x_train, targets, epochs=2, verbose=0)
mse, mae = model.evaluate(x_train, targets, verbose=0)
"""


def test_regression_with_mse_loss_and_mae_metric(data):
    ns, _ = run_snippet(REGRESSION, TF_KERAS, data)
    assert sorted(ns["history"].history) == ["loss", "mae"]
    pred = ns["model"].predict(data["x_train"], verbose=0)[:, 0]
    targets = ns["targets"]
    assert ns["mae"] == pytest.approx(np.mean(np.abs(pred - targets)), rel=1e-5)
    assert ns["mse"] == pytest.approx(np.mean((pred - targets) ** 2), rel=1e-4)


def test_mean_absolute_error_metric_class():
    from npconv.metrics import MeanAbsoluteError, get

    m = MeanAbsoluteError()
    m.update_state(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.5, 2.0], [1.0, 4.0]]))
    assert m.name == "mean_absolute_error"
    assert m.result() == pytest.approx((0.25 + 1.0) / 2)
    assert get("mae").name == "mae"


# ------------------------------------------------------------------ data in the forms people pass
ODD_DATA = """
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers

x_uint8 = (x_train * 255).astype("uint8")
model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Rescaling(1.0 / 255),
    layers.Conv2D(4, 3, activation="relu"),
    layers.Flatten(),
    layers.Dense(4, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
h_column = model.fit(x_uint8, y_train.reshape(-1, 1), epochs=1, batch_size=1000, verbose=0)
h_lists = model.fit(x_uint8.tolist(), y_train.tolist(), epochs=1, batch_size=64, verbose=0)
h_zero = model.fit(x_uint8, y_train, epochs=0, verbose=0)
h_partial = model.fit(x_uint8[:70], y_train[:70], epochs=1, batch_size=32, verbose=0)
from_list = model.predict(x_uint8[:3].tolist())
from_array = model.predict(x_uint8[:3])
results = model.evaluate(x_uint8, y_train, verbose=0, return_dict=True)
"""


def test_uint8_images_python_lists_column_labels_and_odd_batch_sizes(data):
    ns, _ = run_snippet(ODD_DATA, TF_KERAS, data)
    assert len(ns["h_column"].history["loss"]) == 1  # batch_size > N: one batch
    assert len(ns["h_lists"].history["loss"]) == 1  # nested Python lists are the samples
    assert ns["h_zero"].history == {}
    np.testing.assert_array_equal(ns["from_list"], ns["from_array"])
    assert set(ns["results"]) == {"loss", "accuracy"}


FEATURE_EXTRACTION = """
from tensorflow import keras
from tensorflow.keras import layers

inputs = keras.Input(shape=(8, 8, 1))
x = layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
x = layers.Flatten()(x)
outputs = layers.Dense(4, activation="softmax", name="predictions")(x)
model = keras.Model(inputs=inputs, outputs=outputs)

feature_extractor = keras.Model(inputs=model.input, outputs=model.get_layer("conv").output)
features = feature_extractor.predict(x_train[:5])
extractor = keras.Model(inputs=model.inputs,
                        outputs=[layer.output for layer in model.layers[1:]])
all_features = extractor(x_train[:5])
"""


def test_feature_extraction_with_model_input_and_layer_output(data):
    ns, _ = run_snippet(FEATURE_EXTRACTION, TF_KERAS, data)
    conv = ns["model"].get_layer("conv")
    np.testing.assert_array_equal(ns["features"], conv(data["x_train"][:5]))
    assert [a.shape for a in ns["all_features"]] == [(5, 6, 6, 4), (5, 144), (5, 4)]
    np.testing.assert_array_equal(ns["all_features"][2], ns["model"].predict(data["x_train"][:5]))


def test_evaluate_without_targets_is_a_clear_error(data):
    import npconv as keras

    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"evaluate: y \(the targets\) is required"):
        model.evaluate(data["x_train"], verbose=0)


def test_a_functional_model_in_sequential():
    import npconv as keras

    inp = keras.Input(shape=(4,))
    inner = keras.Model(inp, keras.layers.Dense(2)(inp))
    outer = keras.Sequential([inner, keras.layers.Softmax()])  # a plain stack: its layers
    x = np.random.default_rng(0).random((3, 4), dtype=np.float32)
    np.testing.assert_allclose(outer(x), keras.activations.softmax(inner(x)), rtol=1e-6)
    a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    branchy = keras.Model([a, b], keras.layers.Add()([a, b]))
    with pytest.raises(TypeError, match="with branches or a layer called twice cannot be an entry"):
        keras.Sequential([branchy, keras.layers.Softmax()])


# ------------------------------------------------------------------ transfer learning
TRANSFER = """
from tensorflow import keras
from tensorflow.keras import layers

base_model = keras.Sequential([
    keras.Input(shape=(8, 8, 1)),
    layers.Conv2D(4, 3, activation="relu"),
    layers.GlobalAveragePooling2D(),
])
base_model.trainable = False
base_before = base_model.get_weights()
model = keras.Sequential([base_model, layers.Dense(4, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x_train, y_train, epochs=2, verbose=0)
model.summary()
"""


def test_a_frozen_base_model_does_not_change(data):
    ns, out = run_snippet(TRANSFER, TF_KERAS, data)
    for before, after in zip(ns["base_before"], ns["base_model"].get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    assert ns["base_model"].trainable_weights == []
    assert len(ns["model"].trainable_weights) == 2  # the new Dense head
    assert "Trainable params: 20" in out and "Non-trainable params: 40" in out


def test_seeded_initializers_repeat_and_unseeded_ones_can_be_called_alone():
    import npconv as keras

    init = keras.initializers.HeNormal(seed=1)
    np.testing.assert_array_equal(init((3, 3, 1, 4)), init((3, 3, 1, 4)))
    first = keras.layers.Conv2D(4, 3, kernel_initializer=keras.initializers.HeNormal(seed=7))
    second = keras.layers.Conv2D(4, 3, kernel_initializer=keras.initializers.HeNormal(seed=7))
    x = np.zeros((1, 5, 5, 1), dtype="float32")
    first(x), second(x)
    np.testing.assert_array_equal(first.get_weights()[0], second.get_weights()[0])
    assert keras.initializers.RandomNormal(stddev=1.0, seed=3).get_config()["seed"] == 3
    assert keras.initializers.GlorotUniform()((20, 30)).shape == (20, 30)  # no rng given


# ------------------------------------------------------- keras.io image classification from scratch
IMAGES_FROM_SCRATCH = """
import numpy as np
import keras
from keras import layers
import matplotlib.pyplot as plt

keras.utils.set_random_seed(1337)
image_size = (24, 24)
batch_size = 8

train_ds, val_ds = keras.utils.image_dataset_from_directory(
    "PetImages",
    validation_split=0.2,
    subset="both",
    seed=1337,
    image_size=image_size,
    batch_size=batch_size,
)

plt.figure(figsize=(10, 10))
for images, labels in train_ds.take(1):
    for i in range(4):
        ax = plt.subplot(2, 2, i + 1)
        plt.imshow(np.array(images[i]).astype("uint8"))
        plt.title(int(labels[i]))
        plt.axis("off")

data_augmentation_layers = [
    layers.RandomFlip("horizontal"),
]


def data_augmentation(images):
    for layer in data_augmentation_layers:
        images = layer(images)
    return images


train_ds = train_ds.map(
    lambda img, label: (data_augmentation(img), label),
)
train_ds = train_ds.prefetch(4)
val_ds = val_ds.prefetch(4)

inputs = keras.Input(shape=image_size + (3,))
x = layers.Rescaling(1.0 / 255)(inputs)
x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
x = layers.GlobalAveragePooling2D()(x)
outputs = layers.Dense(1)(x)
model = keras.Model(inputs, outputs)

model.compile(
    optimizer=keras.optimizers.Adam(3e-3),
    loss=keras.losses.BinaryCrossentropy(from_logits=True),
    metrics=[keras.metrics.BinaryAccuracy(name="acc")],
)
history = model.fit(train_ds, epochs=6, validation_data=val_ds, verbose=0)

img = keras.utils.load_img("PetImages/Cat/3.jpg", target_size=image_size)
img_array = keras.utils.img_to_array(img)
img_array = np.array([img_array])  # Create batch axis
predictions = model.predict(img_array, verbose=0)
score = float(1 / (1 + np.exp(-predictions[0][0])))
print(f"This image is {100 * (1 - score):.2f}% cat and {100 * score:.2f}% dog.")
"""


def test_image_classification_from_a_directory():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, base in (("Cat", (200, 60, 40)), ("Dog", (40, 60, 200))):
        os.makedirs(f"PetImages/{name}")
        for i in range(20):
            pixels = np.clip(rng.normal(base, 30, (30 + i, 28, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(f"PetImages/{name}/{i}.jpg")
    open("PetImages/Cat/Thumbs.db", "wb").close()  # skipped: not an image extension
    ns, out = run_snippet(IMAGES_FROM_SCRATCH, {"import keras\n": "import npconv as keras\n",
                                                "from keras import layers":
                                                    "from npconv import layers"})
    plt.close("all")
    assert out.splitlines()[:3] == ["Found 40 files belonging to 2 classes.",
                                    "Using 32 files for training.",
                                    "Using 8 files for validation."]
    assert ns["train_ds"].class_names == ["Cat", "Dog"]
    history = ns["history"].history
    assert len(history["val_acc"]) == 6 and history["loss"][-1] < history["loss"][0]
    assert history["val_acc"][-1] >= 0.75
    assert "% cat and" in out and ns["score"] < 0.5
