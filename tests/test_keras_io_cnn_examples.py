"""keras.io's CNN examples that tests/test_keras_tutorials.py does not cover, run as text
with only their import lines changed: "Convolutional autoencoder for image denoising"
(Conv2DTranspose with strides), "Image segmentation with a U-Net-like architecture" (its
``keras.utils.Sequence`` of Oxford-pets files read with
``tensorflow.keras.preprocessing.image.load_img``, per-pixel sparse cross-entropy) and
"Image classification from scratch"'s Xception-like ``make_model`` at full width. Images are
small and few and the epochs fewer; the printed parameter totals are the keras.io pages' own.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.test_seed_snippets import run_snippet, summary_rows


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


# ------------------------------------------------------------ denoising autoencoder
AUTOENCODER = """
import numpy as np
from keras import layers
from keras.models import Model


def preprocess(array):
    array = array.astype("float32") / 255.0
    array = np.reshape(array, (len(array), 28, 28, 1))
    return array


def noise(array):
    noise_factor = 0.4
    noisy_array = array + noise_factor * np.random.normal(loc=0.0, scale=1.0, size=array.shape)
    return np.clip(noisy_array, 0.0, 1.0)


train_data = preprocess(train_digits)
test_data = preprocess(test_digits)
noisy_train_data = noise(train_data)
noisy_test_data = noise(test_data)

input = layers.Input(shape=(28, 28, 1))

# Encoder
x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(input)
x = layers.MaxPooling2D((2, 2), padding="same")(x)
x = layers.Conv2D(32, (3, 3), activation="relu", padding="same")(x)
x = layers.MaxPooling2D((2, 2), padding="same")(x)

# Decoder
x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2DTranspose(32, (3, 3), strides=2, activation="relu", padding="same")(x)
x = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)

# Autoencoder
autoencoder = Model(input, x)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
autoencoder.summary()

autoencoder.fit(x=train_data, y=train_data, epochs=2, batch_size=128, shuffle=True,
                validation_data=(test_data, test_data), verbose=0)
predictions = autoencoder.predict(test_data, verbose=0)

history = autoencoder.fit(x=noisy_train_data, y=train_data, epochs=2, batch_size=128,
                          shuffle=True, validation_data=(noisy_test_data, test_data), verbose=0)
predictions = autoencoder.predict(noisy_test_data, verbose=0)
"""


def _digits(rng, n):
    """Blurry blobs in uint8, like MNIST's strokes on black."""
    yy, xx = np.mgrid[:28, :28]
    centres = rng.uniform(8, 20, (n, 2, 1, 1))
    blobs = np.exp(-((yy - centres[:, 0]) ** 2 + (xx - centres[:, 1]) ** 2) / 18)
    return (blobs * 255).astype("uint8")


def test_keras_io_denoising_autoencoder_with_strided_conv2d_transpose():
    import npconv

    rng = np.random.default_rng(0)
    np.random.seed(0)  # noqa: NPY002 - the example's noise() draws from NumPy's global state
    ns, out = run_snippet(AUTOENCODER, {"from keras import layers": "from npconv import layers",
                                        "from keras.models import Model":
                                            "from npconv.models import Model"},
                          {"train_digits": _digits(rng, 256), "test_digits": _digits(rng, 64)})
    assert "Total params: 28,353" in out  # the keras.io page's count
    rows = summary_rows(out)
    assert [r[2] for r in rows if r[1] == "Conv2DTranspose"] == ["(None, 14, 14, 32)",
                                                                 "(None, 28, 28, 32)"]
    assert [r[3] for r in rows][1:] == [320, 0, 9248, 0, 9248, 9248, 289]
    loss = ns["history"].history["loss"]
    assert loss[-1] < loss[0]
    predictions, clean = ns["predictions"], ns["test_data"]
    assert predictions.shape == (64, 28, 28, 1) and predictions.dtype == np.float32
    model = ns["autoencoder"]
    p = np.clip(predictions, 1e-7, 1 - 1e-7)  # Keras's binary cross-entropy on probabilities
    expected = -(clean * np.log(p) + (1 - clean) * np.log(1 - p)).mean()
    assert model.evaluate(ns["noisy_test_data"], clean, verbose=0) == pytest.approx(expected,
                                                                                   rel=1e-5)
    model.save("autoencoder.keras")
    again = npconv.models.load_model("autoencoder.keras")
    np.testing.assert_array_equal(again.predict(ns["noisy_test_data"], verbose=0), predictions)


# ------------------------------------------------------------------ U-Net on Oxford pets
OXFORD_PETS = """
import os

input_dir = "images/"
target_dir = "annotations/trimaps/"
img_size = (32, 32)
num_classes = 3
batch_size = 4

input_img_paths = sorted(
    [os.path.join(input_dir, fname) for fname in os.listdir(input_dir) if fname.endswith(".jpg")]
)
target_img_paths = sorted(
    [
        os.path.join(target_dir, fname)
        for fname in os.listdir(target_dir)
        if fname.endswith(".png") and not fname.startswith(".")
    ]
)
print("Number of samples:", len(input_img_paths))

from tensorflow.keras.preprocessing.image import load_img
from PIL import ImageOps

img = ImageOps.autocontrast(load_img(target_img_paths[9]))

from tensorflow import keras
import numpy as np
from tensorflow.keras.preprocessing.image import load_img


class OxfordPets(keras.utils.Sequence):
    def __init__(self, batch_size, img_size, input_img_paths, target_img_paths):
        self.batch_size = batch_size
        self.img_size = img_size
        self.input_img_paths = input_img_paths
        self.target_img_paths = target_img_paths

    def __len__(self):
        return len(self.target_img_paths) // self.batch_size

    def __getitem__(self, idx):
        i = idx * self.batch_size
        batch_input_img_paths = self.input_img_paths[i : i + self.batch_size]
        batch_target_img_paths = self.target_img_paths[i : i + self.batch_size]
        x = np.zeros((self.batch_size,) + self.img_size + (3,), dtype="float32")
        for j, path in enumerate(batch_input_img_paths):
            img = load_img(path, target_size=self.img_size)
            x[j] = img
        y = np.zeros((self.batch_size,) + self.img_size + (1,), dtype="uint8")
        for j, path in enumerate(batch_target_img_paths):
            img = load_img(path, target_size=self.img_size, color_mode="grayscale")
            y[j] = np.expand_dims(img, 2)
            y[j] -= 1
        return x, y


from tensorflow.keras import layers


def get_model(img_size, num_classes):
    inputs = keras.Input(shape=img_size + (3,))
    x = layers.Conv2D(32, 3, strides=2, padding="same")(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous_block_activation = x

    for filters in [64, 128, 256]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(filters, 1, strides=2, padding="same")(
            previous_block_activation
        )
        x = layers.add([x, residual])
        previous_block_activation = x

    for filters in [256, 128, 64, 32]:
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.Conv2DTranspose(filters, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.UpSampling2D(2)(x)
        residual = layers.UpSampling2D(2)(previous_block_activation)
        residual = layers.Conv2D(filters, 1, padding="same")(residual)
        x = layers.add([x, residual])
        previous_block_activation = x

    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    model = keras.Model(inputs, outputs)
    return model


keras.backend.clear_session()
model = get_model(img_size, num_classes)
model.summary()

import random

val_samples = 8
random.Random(1337).shuffle(input_img_paths)
random.Random(1337).shuffle(target_img_paths)
train_input_img_paths = input_img_paths[:-val_samples]
train_target_img_paths = target_img_paths[:-val_samples]
val_input_img_paths = input_img_paths[-val_samples:]
val_target_img_paths = target_img_paths[-val_samples:]
train_gen = OxfordPets(batch_size, img_size, train_input_img_paths, train_target_img_paths)
val_gen = OxfordPets(batch_size, img_size, val_input_img_paths, val_target_img_paths)

model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
callbacks = [
    keras.callbacks.ModelCheckpoint("oxford_segmentation.h5", save_best_only=True)
]
epochs = 3
history = model.fit(train_gen, epochs=epochs, validation_data=val_gen, callbacks=callbacks,
                    verbose=0)

val_gen = OxfordPets(batch_size, img_size, val_input_img_paths, val_target_img_paths)
val_preds = model.predict(val_gen, verbose=0)


def display_mask(i):
    mask = np.argmax(val_preds[i], axis=-1)
    mask = np.expand_dims(mask, axis=-1)
    img = ImageOps.autocontrast(keras.preprocessing.image.array_to_img(mask))
    return img


mask = display_mask(2)
"""


def _pets(n=24):
    """Oxford-pets-like files: JPEG photos and PNG trimaps (1 pet, 2 background, 3 border)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    os.makedirs("images")
    os.makedirs("annotations/trimaps")
    for i in range(n):
        h, w = 40 + i % 5, 36 + i % 3
        img = np.clip(rng.normal(120, 40, (h, w, 3)), 0, 255).astype("uint8")
        cy, cx = rng.integers(10, 25, 2)
        yy, xx = np.mgrid[:h, :w]
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        trimap = np.full((h, w), 2, np.uint8)
        trimap[d2 < 110] = 3
        trimap[d2 < 80] = 1
        img[d2 < 80] = [220, 180, 60]
        Image.fromarray(img).save(f"images/pet_{i:02d}.jpg")
        Image.fromarray(trimap).save(f"annotations/trimaps/pet_{i:02d}.png")
    open("annotations/trimaps/._pet_00.png", "wb").close()  # macOS's files, skipped


def test_keras_io_unet_segmentation_with_a_sequence_and_keras_preprocessing_paths():
    import npconv

    _pets()
    ns, out = run_snippet(OXFORD_PETS, {"from tensorflow import keras": "import npconv as keras",
                                        "from tensorflow.keras import layers":
                                            "from npconv import layers",
                                        "tensorflow.keras.preprocessing": "npconv.preprocessing"})
    assert "Number of samples: 24" in out
    # the keras.io page's counts
    assert "Total params: 2,058,979" in out
    assert "Trainable params: 2,055,203" in out and "Non-trainable params: 3,776" in out
    val_preds = ns["val_preds"]
    assert val_preds.shape == (8, 32, 32, 3)
    np.testing.assert_allclose(val_preds.sum(-1), 1, rtol=1e-5)
    assert ns["mask"].size == (32, 32) and ns["mask"].mode == "L"
    loss = ns["history"].history["loss"]
    assert loss[-1] < loss[0]
    # the per-pixel sparse cross-entropy is the mean over every pixel of every image
    val_gen = ns["val_gen"]
    y = np.concatenate([val_gen[i][1] for i in range(len(val_gen))])
    assert set(np.unique(y)) <= {0, 1, 2}
    p = np.take_along_axis(val_preds, y.astype(np.int64), axis=-1)
    expected = -np.log(np.clip(p, 1e-7, 1)).mean()
    assert ns["model"].evaluate(val_gen, verbose=0) == pytest.approx(expected, rel=1e-5)
    best = npconv.models.load_model("oxford_segmentation.h5")
    assert best.count_params() == 2_058_979
    ns["model"].save("unet.keras")
    again = npconv.models.load_model("unet.keras")
    np.testing.assert_array_equal(again.predict(val_gen, verbose=0), val_preds)


def test_keras_preprocessing_paths_are_the_utils_image_functions():
    import npconv as keras
    from npconv.preprocessing.image import array_to_img, img_to_array, load_img, save_img

    assert load_img is keras.utils.load_img and img_to_array is keras.utils.img_to_array
    assert array_to_img is keras.utils.array_to_img and save_img is keras.utils.save_img
    assert (keras.preprocessing.image_dataset_from_directory
            is keras.utils.image_dataset_from_directory)
    with pytest.raises(AttributeError, match="npconv.preprocessing.image"):
        keras.preprocessing.image.ImageDataGenerator  # noqa: B018


# ---------------------------------------------- image classification from scratch, full model
FROM_SCRATCH = """
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers

image_size = (32, 32)
batch_size = 16

train_ds, val_ds = tf.keras.preprocessing.image_dataset_from_directory(
    "PetImages",
    validation_split=0.2,
    subset="both",
    seed=1337,
    image_size=image_size,
    batch_size=batch_size,
)

data_augmentation = keras.Sequential(
    [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
    ]
)

train_ds = train_ds.map(lambda img, label: (data_augmentation(img), label))


def make_model(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)

    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(128, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    previous_block_activation = x

    for size in [256, 512, 728]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)

        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)

        residual = layers.Conv2D(size, 1, strides=2, padding="same")(
            previous_block_activation
        )
        x = layers.add([x, residual])
        previous_block_activation = x

    x = layers.SeparableConv2D(1024, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)

    x = layers.GlobalAveragePooling2D()(x)
    if num_classes == 2:
        activation = "sigmoid"
        units = 1
    else:
        activation = "softmax"
        units = num_classes

    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(units, activation=activation)(x)
    return keras.Model(inputs, outputs)


model = make_model(input_shape=image_size + (3,), num_classes=2)
keras.utils.plot_model(model, show_shapes=True)
model.summary()

callbacks = [
    keras.callbacks.ModelCheckpoint("save_at_{epoch}.keras"),
]
model.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss="binary_crossentropy",
    metrics=["accuracy"],
)
history = model.fit(train_ds, epochs=1, callbacks=callbacks, validation_data=val_ds, verbose=0)

img = keras.preprocessing.image.load_img("PetImages/Cat/3.jpg", target_size=image_size)
img_array = keras.preprocessing.image.img_to_array(img)
img_array = np.expand_dims(img_array, 0)

predictions = model.predict(img_array, verbose=0)
score = float(predictions[0][0])
print(f"This image is {100 * (1 - score):.2f}% cat and {100 * score:.2f}% dog.")
"""


def test_keras_io_image_classification_from_scratch_xception_like_model():
    from PIL import Image

    import npconv

    rng = np.random.default_rng(0)
    for name, base in (("Cat", (200, 60, 40)), ("Dog", (40, 60, 200))):
        os.makedirs(f"PetImages/{name}")
        for i in range(12):
            pixels = np.clip(rng.normal(base, 30, (36 + i, 32, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(f"PetImages/{name}/{i}.jpg")
    ns, out = run_snippet(FROM_SCRATCH, {"import tensorflow as tf\n": "",
                                         "from tensorflow import keras": "import npconv as keras",
                                         "from tensorflow.keras import layers":
                                             "from npconv import layers",
                                         "tf.keras.": "keras."}, {"np": np})
    assert out.splitlines()[:3] == ["Found 24 files belonging to 2 classes.",
                                    "Using 20 files for training.",
                                    "Using 4 files for validation."]
    # the architecture's count (the page draws it with plot_model rather than printing it):
    # entry 3,584 + 512; per block (256, 512, 728) two separable convs, two batch norms and
    # the 1x1 residual conv; then 753,048 + 4,096 and the Dense layer's 1,025
    assert "Total params: 2,731,065" in out and "Non-trainable params: 8,288" in out
    rows = {r[0]: r for r in summary_rows(out)}
    assert rows["separable_conv2d_6"][2:] == ("(None, 2, 2, 1024)", 753048)
    assert os.path.exists("model.png") and os.path.exists("save_at_1.keras")
    assert "% cat and" in out
    model = ns["model"]
    again = npconv.models.load_model("save_at_1.keras")
    np.testing.assert_array_equal(again.predict(ns["img_array"], verbose=0), ns["predictions"])
    assert model.predict(ns["img_array"], verbose=0)[0, 0] == ns["predictions"][0, 0]
