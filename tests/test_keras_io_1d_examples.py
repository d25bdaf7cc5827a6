"""keras.io's examples with the 1-D layers and the Keras 3 API pages' snippets of the new
metrics, losses and BackupAndRestore, run as a new user would: their text with only the
import lines changed (and, where a page downloads data, small synthetic data of the real
layout in its place; no internet here).

- "Timeseries classification from scratch" (Conv1D + BatchNormalization + ReLU blocks,
  GlobalAveragePooling1D, ModelCheckpoint / ReduceLROnPlateau / EarlyStopping) on FordA-format
  TSV files (label -1/1, then the z-normalized series) of a learnable synthetic task;
- "Text classification from scratch" and "Using pre-trained word embeddings" (Conv1D,
  MaxPooling1D, GlobalMaxPooling1D). npconv has no Embedding layer: one-hot inputs through
  ``Dense(embedding_dim, use_bias=False)`` stand in for it -- the same numbers, since an
  embedding lookup is a one-hot row times the embedding matrix -- and the integer
  ``TextVectorization`` output becomes one-hot arrays;
- the docstring examples that keras.io's API pages print for FBetaScore, F1Score, the
  confusion counts, Precision, Recall, the At-metrics, AUC, IoU, BinaryIoU, MeanIoU,
  OneHotIoU, OneHotMeanIoU, R2Score, Dice (and Tversky, documented as equal to Dice at
  alpha = beta = 0.5) and BackupAndRestore: each printed value compared with npconv's;
- the 1-D layers' pages: Conv1D, Conv1DTranspose, DepthwiseConv1D, GlobalAveragePooling1D,
  ZeroPadding1D, UpSampling1D (Keras 3's printed shapes and arrays), MaxPooling1D and
  AveragePooling1D (tf.keras's printed arrays; Keras 3's pages print none), and
  SeparableConv1D, whose example Keras itself cannot run.

Keras's values are float32, npconv's float64: a printed value is matched to float32's
precision, or to its last printed digit where the page rounded it by hand (OneHotIoU's
0.071, OneHotMeanIoU's 0.048, SensitivityAtSpecificity's 0.333333). F1Score's page prints
its array after an assignment (``result = metric.result()``); the bound value is compared.

Where npconv and the pages part, by design: BackupAndRestore's example fits Dense(10) to
targets of shape (5,), which Keras broadcasts over the 10 outputs and npconv refuses (no
silent broadcasting); the word-embeddings page prints "Non-trainable params: 0" beside its
``trainable=False`` Embedding, npconv counts that layer's 2,000,200 weights as
non-trainable.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import math
import re

import numpy as np
import pytest

import npconv
from tests.test_seed_snippets import run_snippet, summary_rows

KERAS = {"import keras\n": "import npconv as keras\n"}
KERAS_LAYERS = {**KERAS, "from keras import layers": "from npconv import layers"}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the examples write best_model.keras, model.png, backups


# ------------------------------------------------------- timeseries classification (FordA)
TIMESERIES = """
import keras
import numpy as np
import matplotlib.pyplot as plt


def readucr(filename):
    data = np.loadtxt(filename, delimiter="\\t")
    y = data[:, 0]
    x = data[:, 1:]
    return x, y.astype(int)


root_url = "https://raw.githubusercontent.com/hfawaz/cd-diagram/master/FordA/"

x_train, y_train = readucr(root_url + "FordA_TRAIN.tsv")
x_test, y_test = readucr(root_url + "FordA_TEST.tsv")

classes = np.unique(np.concatenate((y_train, y_test), axis=0))

plt.figure()
for c in classes:
    c_x_train = x_train[y_train == c]
    plt.plot(c_x_train[0], label="class " + str(c))
plt.legend(loc="best")
plt.show()
plt.close()

x_train = x_train.reshape((x_train.shape[0], x_train.shape[1], 1))
x_test = x_test.reshape((x_test.shape[0], x_test.shape[1], 1))

num_classes = len(np.unique(y_train))

idx = np.random.permutation(len(x_train))
x_train = x_train[idx]
y_train = y_train[idx]

y_train[y_train == -1] = 0
y_test[y_test == -1] = 0


def make_model(input_shape):
    input_layer = keras.layers.Input(input_shape)

    conv1 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(
        input_layer
    )
    conv1 = keras.layers.BatchNormalization()(conv1)
    conv1 = keras.layers.ReLU()(conv1)

    conv2 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(
        conv1
    )
    conv2 = keras.layers.BatchNormalization()(conv2)
    conv2 = keras.layers.ReLU()(conv2)

    conv3 = keras.layers.Conv1D(filters=64, kernel_size=3, padding="same")(
        conv2
    )
    conv3 = keras.layers.BatchNormalization()(conv3)
    conv3 = keras.layers.ReLU()(conv3)

    gap = keras.layers.GlobalAveragePooling1D()(conv3)

    output_layer = keras.layers.Dense(num_classes, activation="softmax")(gap)

    return keras.models.Model(inputs=input_layer, outputs=output_layer)


model = make_model(input_shape=x_train.shape[1:])
keras.utils.plot_model(model, show_shapes=True)

epochs = 500
batch_size = 32

callbacks = [
    keras.callbacks.ModelCheckpoint(
        "best_model.keras", save_best_only=True, monitor="val_loss"
    ),
    keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", factor=0.5, patience=20, min_lr=0.0001
    ),
    keras.callbacks.EarlyStopping(monitor="val_loss", patience=50, verbose=1),
]
model.compile(
    optimizer="adam",
    loss="sparse_categorical_crossentropy",
    metrics=["sparse_categorical_accuracy"],
)
history = model.fit(
    x_train,
    y_train,
    batch_size=batch_size,
    epochs=epochs,
    callbacks=callbacks,
    validation_split=0.2,
    verbose=1,
)

model = keras.models.load_model("best_model.keras")

test_loss, test_acc = model.evaluate(x_test, y_test)

print("Test accuracy", test_acc)
print("Test loss", test_loss)

metric = "sparse_categorical_accuracy"
plt.figure()
plt.plot(history.history[metric])
plt.plot(history.history["val_" + metric])
plt.title("model " + metric)
plt.ylabel(metric, fontsize="large")
plt.xlabel("epoch", fontsize="large")
plt.legend(["train", "val"], loc="best")
plt.show()
plt.close()
"""


def _write_forda(path, n, length, seed):
    """A FordA-format TSV (label -1 or 1, then ``length`` values, z-normalized per series):
    class 1 hides a short burst of a 0.08 cycles/step tone at a random place in white noise,
    class -1 is noise alone -- found by a few filters wherever it lies, as FordA's engine
    fault is."""
    rng = np.random.default_rng(seed)
    y = rng.choice([-1, 1], n)
    x = rng.normal(size=(n, length))
    t = np.arange(length)
    burst = length // 2
    start = rng.integers(0, length - burst, n)[:, None]
    inside = (t >= start) & (t < start + burst)
    x += 1.5 * (y[:, None] == 1) * inside * np.sin(2 * np.pi * 0.08 * t)
    x = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    np.savetxt(path, np.column_stack([y, x]), delimiter="\t", fmt="%.5f")


def _run_timeseries(n_train, length, epochs, patience=None):
    import matplotlib

    matplotlib.use("Agg")  # plt.show() draws nowhere
    _write_forda("FordA_TRAIN.tsv", n_train, length, seed=0)
    _write_forda("FordA_TEST.tsv", n_train // 3, length, seed=1)
    replacements = {**KERAS,
                    '"https://raw.githubusercontent.com/hfawaz/cd-diagram/master/FordA/"': '""',
                    "epochs = 500": f"epochs = {epochs}", "verbose=1,": "verbose=0,",
                    "model.evaluate(x_test, y_test)": "model.evaluate(x_test, y_test, verbose=0)"}
    if patience is not None:  # the callbacks' patience shortened so that they fire
        replacements["patience=20"] = f"patience={patience[0]}"
        replacements["patience=50"] = f"patience={patience[1]}"
    npconv.set_random_seed(0)  # seeds np.random too: the example shuffles with it
    return run_snippet(TIMESERIES, replacements)


@pytest.mark.slow
def test_timeseries_classification_from_scratch_learns_forda_shaped_data():
    """3601 x 500 x 1 in the real FordA; 1920 x 32 x 1 here (for a few seconds of training:
    with batch_size=32, BatchNormalization's moving statistics need some hundred steps before
    the validation accuracy follows the training one, as on the keras.io page's plot)."""
    ns, out = _run_timeseries(1920, 32, epochs=8)
    model = ns["model"]  # the best checkpoint, loaded back
    assert [type(layer).__name__ for layer in model.layers] == (
        ["InputLayer"] + ["Conv1D", "BatchNormalization", "ReLU"] * 3
        + ["GlobalAveragePooling1D", "Dense"])
    # conv 3*1*64+64, then 3*64*64+64 twice; BatchNormalization 4*64 each; Dense 64*2+2
    assert model.count_params() == 256 + 2 * 12352 + 3 * 256 + 130 == 25858
    assert model.output_shape == (None, 2) and model.layers[-2].output_shape == (None, 64)
    history = ns["history"].history
    assert set(history) == {"loss", "sparse_categorical_accuracy", "val_loss",
                            "val_sparse_categorical_accuracy", "learning_rate"}
    train_acc, val_acc = history["sparse_categorical_accuracy"], history[
        "val_sparse_categorical_accuracy"]
    assert len(train_acc) == 8 and history["learning_rate"] == [0.001] * 8
    assert train_acc[-1] > train_acc[0] + 0.05 and train_acc[-1] > 0.85
    assert val_acc[0] < 0.6 < 0.8 < max(val_acc[-3:])  # the accuracy rises on unseen data
    # ModelCheckpoint(save_best_only=True, monitor="val_loss") kept the epoch of least
    # val_loss: reloaded, it scores that on the validation split (the last 20%, as Keras)
    x_train, y_train = ns["x_train"], ns["y_train"]
    split = math.ceil(len(x_train) * 0.8)
    reloaded_val_loss, _ = model.evaluate(x_train[split:], y_train[split:], verbose=0)
    assert reloaded_val_loss == pytest.approx(min(history["val_loss"]), rel=1e-6)
    assert 0.8 < ns["test_acc"] <= 1.0 and "Test accuracy" in out


def test_timeseries_example_callbacks_fire_by_keras_rules():
    """The same example with the callbacks' patience 20 and 50 cut to 1 and 3: the learning
    rate halves and training stops exactly when Keras 3's ReduceLROnPlateau (min_delta=1e-4)
    and EarlyStopping (min_delta=0) would, given the logged val_loss."""
    ns, _ = _run_timeseries(256, 16, epochs=30, patience=(1, 3))
    history = ns["history"].history
    val_loss, logged_lr = history["val_loss"], history["learning_rate"]
    # Keras 3's rules, replayed on the logged values (each epoch logs the rate it ran with)
    lr, expected_lr, stopped = 1e-3, [], None
    best_lr = best_es = np.inf
    wait_lr = wait_es = 0
    for epoch, current in enumerate(val_loss):
        expected_lr.append(lr)
        if current < best_lr - 1e-4:
            best_lr, wait_lr = current, 0
        else:
            wait_lr += 1
            if wait_lr >= 1 and lr > np.float32(1e-4):
                lr, wait_lr = max(lr * 0.5, 1e-4), 0
        wait_es += 1
        if current < best_es:
            best_es, wait_es = current, 0
        elif wait_es >= 3 and epoch > 0:
            stopped = epoch
            break
    assert stopped is not None and len(val_loss) == stopped + 1 < 30  # EarlyStopping fired
    np.testing.assert_allclose(logged_lr, expected_lr, rtol=1e-6)
    assert min(logged_lr) < 1e-3  # ReduceLROnPlateau fired
    # ModelCheckpoint, first in the list, saved the best epoch before ReduceLROnPlateau's
    # cut at that epoch's end: the reloaded optimizer has the rate that epoch ran with
    best = int(np.argmin(val_loss))
    assert ns["model"].optimizer.learning_rate == pytest.approx(logged_lr[best], rel=1e-6)


# ---------------------------------------------------------------- 1-D CNNs on text
TEXT_FROM_SCRATCH = """
import keras
import numpy as np
from keras import layers

# A integer input for vocab indices.
inputs = keras.Input(shape=(None,), dtype="int64")

# Next, we add a layer to map those vocab indices into a space of dimensionality
# 'embedding_dim'.
x = layers.Embedding(max_features, embedding_dim)(inputs)
x = layers.Dropout(0.5)(x)

# Conv1D + global max pooling
x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.Conv1D(128, 7, padding="valid", activation="relu", strides=3)(x)
x = layers.GlobalMaxPooling1D()(x)

# We add a vanilla hidden layer:
x = layers.Dense(128, activation="relu")(x)
x = layers.Dropout(0.5)(x)

# We project onto a single unit output layer, and squash it with a sigmoid:
predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)

model = keras.Model(inputs, predictions)

# Compile the model with binary crossentropy loss and an adam optimizer.
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

epochs = 3

# Fit the model using the train and test datasets.
model.fit(train_ds, validation_data=val_ds, epochs=epochs)

model.evaluate(test_ds)
"""

# an Embedding is a one-hot row times its matrix: one-hot inputs through a bias-free Dense
ONE_HOT_FOR_EMBEDDING = {
    'inputs = keras.Input(shape=(None,), dtype="int64")':
        'inputs = keras.Input(shape=(None, max_features), dtype="float32")',
    "x = layers.Embedding(max_features, embedding_dim)(inputs)":
        'x = layers.Dense(embedding_dim, use_bias=False, name="embedding")(inputs)',
    "model.fit(train_ds, validation_data=val_ds, epochs=epochs)":
        "history = model.fit(*train_ds, validation_data=val_ds, epochs=epochs, verbose=0)",
    "model.evaluate(test_ds)": "test_loss, test_acc = model.evaluate(*test_ds, verbose=0)",
}


def _token_sequences(rng, n, length, vocabulary, n_classes, phrase=3):
    """Integer sequences of random words (ids from n_classes + 1 up; 0 is padding) with one
    class-marking phrase -- ``phrase`` times word ``1 + label`` -- at a random place: a 1-D
    convolution finds it wherever it is. Returns (one-hot sequences, labels)."""
    labels = rng.integers(0, n_classes, n)
    ids = rng.integers(n_classes + 1, vocabulary, (n, length))
    start = rng.integers(0, length - phrase, n)
    ids[np.arange(n)[:, None], start[:, None] + np.arange(phrase)] = 1 + labels[:, None]
    return np.eye(vocabulary, dtype=np.float32)[ids], labels


def test_text_classification_from_scratch_conv1d_global_max_pooling():
    npconv.set_random_seed(0)
    rng = np.random.default_rng(0)
    max_features, embedding_dim, sequence_length = 40, 16, 48  # keras.io: 20000, 128, 500
    x, y = _token_sequences(rng, 1600, sequence_length, max_features, n_classes=2)
    namespace = {"max_features": max_features, "embedding_dim": embedding_dim,
                 "train_ds": (x[:1280], y[:1280]), "val_ds": (x[1280:1440], y[1280:1440]),
                 "test_ds": (x[1440:], y[1440:])}
    ns, _ = run_snippet(TEXT_FROM_SCRATCH, {**KERAS_LAYERS, **ONE_HOT_FOR_EMBEDDING}, namespace)
    model = ns["model"]
    # (48 - 7) // 3 + 1 = 14 steps, then (14 - 7) // 3 + 1 = 3, then the max over them
    assert [layer.output_shape for layer in model.layers[3:6]] == [
        (None, None, 128), (None, None, 128), (None, 128)]
    assert model.predict(x[:2], verbose=0).shape == (2, 1)
    assert model.layers[3].compute_output_shape((None, 48, 16)) == (None, 14, 128)
    accuracy = ns["history"].history["accuracy"]
    assert accuracy[-1] > accuracy[0] + 0.2 and ns["test_acc"] > 0.9


PRETRAINED_EMBEDDINGS = """
import numpy as np
import keras
from keras import layers

from keras.layers import Embedding

embedding_layer = Embedding(
    num_tokens,
    embedding_dim,
    trainable=False,
)
embedding_layer.build((1,))
embedding_layer.set_weights([embedding_matrix])

int_sequences_input = keras.Input(shape=(None,), dtype="int32")
embedded_sequences = embedding_layer(int_sequences_input)
x = layers.Conv1D(128, 5, activation="relu")(embedded_sequences)
x = layers.MaxPooling1D(5)(x)
x = layers.Conv1D(128, 5, activation="relu")(x)
x = layers.MaxPooling1D(5)(x)
x = layers.Conv1D(128, 5, activation="relu")(x)
x = layers.GlobalMaxPooling1D()(x)
x = layers.Dense(128, activation="relu")(x)
x = layers.Dropout(0.5)(x)
preds = layers.Dense(len(class_names), activation="softmax")(x)
model = keras.Model(int_sequences_input, preds)
model.summary()

model.compile(
    loss="sparse_categorical_crossentropy", optimizer="rmsprop", metrics=["acc"]
)
model.fit(x_train, y_train, batch_size=128, epochs=20, validation_data=(x_val, y_val))
"""

PRETRAINED_AS_ONE_HOT = {
    **KERAS_LAYERS,
    "from keras.layers import Embedding\n": "",
    "embedding_layer = Embedding(\n    num_tokens,\n    embedding_dim,\n":
        "embedding_layer = layers.Dense(\n    embedding_dim,\n    use_bias=False,\n"
        '    name="embedding",\n',
    "embedding_layer.build((1,))": "embedding_layer.build((None, num_tokens))",
    'keras.Input(shape=(None,), dtype="int32")': 'keras.Input(shape=(None, num_tokens))',
}


def test_pretrained_word_embeddings_summary_matches_keras_io():
    """The page's model at its real sizes (20,002 tokens, 100-d GloVe vectors, 20 classes):
    every layer's output shape and parameter count as keras.io prints them."""
    npconv.set_random_seed(0)
    namespace = {"num_tokens": 20002, "embedding_dim": 100, "class_names": [str(i) for i in
                                                                            range(20)],
                 "embedding_matrix": np.zeros((20002, 100))}  # float64, as the page's
    code = PRETRAINED_EMBEDDINGS[:PRETRAINED_EMBEDDINGS.index("\nmodel.compile(")]
    _, out = run_snippet(code, PRETRAINED_AS_ONE_HOT, namespace)
    keras_io = [  # the page's table after the Embedding row
        ("conv1d", "Conv1D", "(None, None, 128)", 64128),
        ("max_pooling1d", "MaxPooling1D", "(None, None, 128)", 0),
        ("conv1d_1", "Conv1D", "(None, None, 128)", 82048),
        ("max_pooling1d_1", "MaxPooling1D", "(None, None, 128)", 0),
        ("conv1d_2", "Conv1D", "(None, None, 128)", 82048),
        ("global_max_pooling1d", "GlobalMaxPooling1D", "(None, 128)", 0),
        ("dense", "Dense", "(None, 128)", 16512),
        ("dropout", "Dropout", "(None, 128)", 0),
        ("dense_1", "Dense", "(None, 20)", 2580)]
    rows = summary_rows(out)
    assert rows[1] == ("embedding", "Dense", "(None, None, 100)", 2000200)  # keras.io: Embedding
    assert rows[2:] == keras_io
    assert "Total params: 2,247,516 (8.57 MB)" in out
    # keras.io prints "Trainable params: 2,247,516" and "Non-trainable params: 0" beside its
    # trainable=False Embedding; npconv counts the frozen layer's weights as non-trainable
    assert "Non-trainable params: 2,000,200" in out


def test_pretrained_word_embeddings_trains_with_a_frozen_embedding():
    npconv.set_random_seed(0)
    rng = np.random.default_rng(1)
    num_tokens, embedding_dim = 30, 8  # keras.io: 20002 and 100
    # 160 >= 149 steps, the fewest that the three convolutions and two poolings leave one of
    x, y = _token_sequences(rng, 768, 160, num_tokens, n_classes=4, phrase=12)
    matrix = rng.normal(size=(num_tokens, embedding_dim))  # "GloVe" vectors, float64
    namespace = {"num_tokens": num_tokens, "embedding_dim": embedding_dim,
                 "class_names": ["a", "b", "c", "d"], "embedding_matrix": matrix,
                 "x_train": x[:640], "y_train": y[:640], "x_val": x[640:], "y_val": y[640:]}
    ns, _ = run_snippet(PRETRAINED_EMBEDDINGS, {
        **PRETRAINED_AS_ONE_HOT, "model.fit(x_train": "history = model.fit(x_train",
        "epochs=20,": "epochs=10, verbose=0,"}, namespace)
    kernel = ns["embedding_layer"].kernel.value
    assert kernel.dtype == np.float32  # set_weights cast the float64 matrix
    np.testing.assert_array_equal(kernel, matrix.astype(np.float32))  # and it stayed frozen
    history = ns["history"].history
    assert set(history) == {"loss", "acc", "val_loss", "val_acc"}
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_acc"][0] < 0.5 < 0.8 < max(history["val_acc"])


# ----------------------------------------------------------- the API pages' docstrings
NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
ROUNDED_BY_HAND = {"0.071", "0.048", "0.333333"}  # printed rounded, not as float32 prints


def run_doc(text, namespace=None):
    """Run a docstring's ``>>>`` examples in order; return [(source, printed, value)] for
    each one whose output the docs print: what the example printed (``print(y.shape)``),
    else the value of an expression, or of the name an assignment binds when the docs
    print one after it."""
    ns = {"keras": npconv, "np": np} if namespace is None else namespace
    shown = []
    for example in doctest.DocTestParser().get_examples(text):
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            try:
                value = eval(compile(example.source, "<doc>", "eval"), ns)  # noqa: S307
            except SyntaxError:
                exec(compile(example.source, "<doc>", "exec"), ns)  # noqa: S102
                bound = re.match(r"(\w+)\s*=", example.source)
                value = ns[bound[1]] if bound else None
        if stdout.getvalue():
            value = [float(v) for v in NUMBER.findall(stdout.getvalue())]
        if example.want.strip():
            shown.append((example.source.strip(), example.want.strip(), value))
    return shown


def assert_printed(shown):
    assert shown, "no printed value compared"
    for source, printed, value in shown:
        text = re.sub(r"dtype=\w+|shape=\([\d, ]*\)", "", printed)
        expected = [float(v) for v in NUMBER.findall(text)]
        got = np.ravel(np.asarray(value, dtype=np.float64))
        assert got.size == len(expected), f"{source}: printed {printed}, npconv {value!r}"
        for p, e, g in zip(NUMBER.findall(text), expected, got, strict=True):
            decimals = len(p.split(".")[1]) if "." in p else 0
            tol = 0.5 * 10.0 ** -decimals if p in ROUNDED_BY_HAND else 1e-7 + 3e-7 * abs(e)
            assert abs(g - e) <= tol, f"{source}: keras.io prints {printed}, npconv {value!r}"


FSCORE_DOCS = """
>>> metric = keras.metrics.FBetaScore(beta=2.0, threshold=0.5)
>>> y_true = np.array([[1, 1, 1],
...                    [1, 0, 0],
...                    [1, 1, 0]], np.int32)
>>> y_pred = np.array([[0.2, 0.6, 0.7],
...                    [0.2, 0.6, 0.6],
...                    [0.6, 0.8, 0.0]], np.float32)
>>> metric.update_state(y_true, y_pred)
>>> result = metric.result()
>>> result
[0.3846154 , 0.90909094, 0.8333334 ]

>>> metric = keras.metrics.F1Score(threshold=0.5)
>>> y_true = np.array([[1, 1, 1],
...                    [1, 0, 0],
...                    [1, 1, 0]], np.int32)
>>> y_pred = np.array([[0.2, 0.6, 0.7],
...                    [0.2, 0.6, 0.6],
...                    [0.6, 0.8, 0.0]], np.float32)
>>> metric.update_state(y_true, y_pred)
>>> result = metric.result()
array([0.5      , 0.8      , 0.6666667], dtype=float32)
"""

CONFUSION_DOCS = """
>>> m = keras.metrics.FalsePositives()
>>> m.update_state([0, 1, 0, 0], [0, 0, 1, 1])
>>> m.result()
2.0

>>> m.reset_state()
>>> m.update_state([0, 1, 0, 0], [0, 0, 1, 1], sample_weight=[0, 0, 1, 0])
>>> m.result()
1.0

>>> m = keras.metrics.FalseNegatives()
>>> m.update_state([0, 1, 1, 1], [0, 1, 0, 0])
>>> m.result()
2.0

>>> m.reset_state()
>>> m.update_state([0, 1, 1, 1], [0, 1, 0, 0], sample_weight=[0, 0, 1, 0])
>>> m.result()
1.0

>>> m = keras.metrics.TrueNegatives()
>>> m.update_state([0, 1, 0, 0], [1, 1, 0, 0])
>>> m.result()
2.0

>>> m.reset_state()
>>> m.update_state([0, 1, 0, 0], [1, 1, 0, 0], sample_weight=[0, 0, 1, 0])
>>> m.result()
1.0

>>> m = keras.metrics.TruePositives()
>>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
>>> m.result()
2.0

>>> m.reset_state()
>>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
>>> m.result()
1.0

>>> m = keras.metrics.Precision()
>>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
>>> m.result()
0.6666667

>>> m.reset_state()
>>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
>>> m.result()
1.0

>>> # With top_k=2, it will calculate precision over y_true[:2]
>>> # and y_pred[:2]
>>> m = keras.metrics.Precision(top_k=2)
>>> m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
>>> m.result()
0.0

>>> # With top_k=4, it will calculate precision over y_true[:4]
>>> # and y_pred[:4]
>>> m = keras.metrics.Precision(top_k=4)
>>> m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
>>> m.result()
0.5

>>> m = keras.metrics.Recall()
>>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
>>> m.result()
0.6666667

>>> m.reset_state()
>>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
>>> m.result()
1.0
"""

AT_METRIC_AND_AUC_DOCS = """
>>> m = keras.metrics.SensitivityAtSpecificity(0.5)
>>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
>>> m.result()
0.5

>>> m.reset_state()
>>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8],
...                sample_weight=[1, 1, 2, 2, 1])
>>> m.result()
0.333333

>>> m = keras.metrics.SpecificityAtSensitivity(0.5)
>>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
>>> m.result()
0.66666667

>>> m.reset_state()
>>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8],
...                sample_weight=[1, 1, 2, 2, 2])
>>> m.result()
0.5

>>> m = keras.metrics.PrecisionAtRecall(0.5)
>>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8])
>>> m.result()
0.5

>>> m.reset_state()
>>> m.update_state([0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8],
...                sample_weight=[2, 2, 2, 1, 1])
>>> m.result()
0.33333333

>>> m = keras.metrics.RecallAtPrecision(0.8)
>>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
>>> m.result()
0.5

>>> m.reset_state()
>>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9],
...                sample_weight=[1, 0, 0, 1])
>>> m.result()
1.0

>>> m = keras.metrics.AUC(num_thresholds=3)
>>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
>>> # threshold values are [0 - 1e-7, 0.5, 1 + 1e-7]
>>> # tp = [2, 1, 0], fp = [2, 0, 0], fn = [0, 1, 2], tn = [0, 2, 2]
>>> # tp_rate = recall = [1, 0.5, 0], fp_rate = [1, 0, 0]
>>> # auc = ((((1 + 0.5) / 2) * (1 - 0)) + (((0.5 + 0) / 2) * (0 - 0)))
>>> #     = 0.75
>>> m.result()
0.75

>>> m.reset_state()
>>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9],
...                sample_weight=[1, 0, 0, 1])
>>> m.result()
1.0
"""

IOU_DOCS = """
>>> # cm = [[1, 1],
>>> #        [1, 1]]
>>> # sum_row = [2, 2], sum_col = [2, 2], true_positives = [1, 1]
>>> # iou = true_positives / (sum_row + sum_col - true_positives))
>>> # iou = [0.33, 0.33]
>>> m = keras.metrics.IoU(num_classes=2, target_class_ids=[0])
>>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
>>> m.result()
0.33333334

>>> m.reset_state()
>>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1],
...                sample_weight=[0.3, 0.3, 0.3, 0.1])
>>> # cm = [[0.3, 0.3],
>>> #        [0.3, 0.1]]
>>> # sum_row = [0.6, 0.4], sum_col = [0.6, 0.4],
>>> # true_positives = [0.3, 0.1]
>>> # iou = [0.33, 0.14]
>>> m.result()
0.33333334

>>> m = keras.metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
>>> m.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])
>>> m.result()
0.33333334

>>> m.reset_state()
>>> m.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7],
...                sample_weight=[0.2, 0.3, 0.4, 0.1])
>>> # cm = [[0.2, 0.4],
>>> #        [0.3, 0.1]]
>>> # sum_row = [0.6, 0.4], sum_col = [0.5, 0.5],
>>> # true_positives = [0.2, 0.1]
>>> # iou = [0.222, 0.125]
>>> m.result()
0.17361112

>>> # cm = [[1, 1],
>>> #        [1, 1]]
>>> # sum_row = [2, 2], sum_col = [2, 2], true_positives = [1, 1]
>>> # iou = true_positives / (sum_row + sum_col - true_positives))
>>> # result = (1 / (2 + 2 - 1) + 1 / (2 + 2 - 1)) / 2 = 0.33
>>> m = keras.metrics.MeanIoU(num_classes=2)
>>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])
>>> m.result()
0.33333334

>>> m.reset_state()
>>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1],
...                sample_weight=[0.3, 0.3, 0.3, 0.1])
>>> m.result().numpy()
0.23809525

>>> y_true = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
>>> y_pred = np.array([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1],
...                       [0.1, 0.4, 0.5]])
>>> sample_weight = [0.1, 0.2, 0.3, 0.4]
>>> m = keras.metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2])
>>> m.update_state(
...     y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
>>> # cm = [[0, 0, 0.2+0.4],
>>> #       [0.3, 0, 0],
>>> #       [0, 0, 0.1]]
>>> # sum_row = [0.3, 0, 0.7], sum_col = [0.6, 0.3, 0.1]
>>> # true_positives = [0, 0, 0.1]
>>> # single_iou = true_positives / (sum_row + sum_col - true_positives))
>>> # mean_iou = (0 / (0.3 + 0.6 - 0) + 0.1 / (0.7 + 0.1 - 0.1)) / 2
>>> m.result()
0.071

>>> y_true = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]])
>>> y_pred = np.array([[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1],
...                       [0.1, 0.4, 0.5]])
>>> sample_weight = [0.1, 0.2, 0.3, 0.4]
>>> m = keras.metrics.OneHotMeanIoU(num_classes=3)
>>> m.update_state(
...     y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
>>> # cm = [[0, 0, 0.2+0.4],
>>> #       [0.3, 0, 0],
>>> #       [0, 0, 0.1]]
>>> # sum_row = [0.3, 0, 0.7], sum_col = [0.6, 0.3, 0.1]
>>> # true_positives = [0, 0, 0.1]
>>> # single_iou = true_positives / (sum_row + sum_col - true_positives))
>>> # mean_iou = (0 + 0 + 0.1 / (0.7 + 0.1 - 0.1)) / 3
>>> m.result()
0.048
"""

R2_DOCS = """
>>> y_true = np.array([[1], [4], [3]], dtype=np.float32)
>>> y_pred = np.array([[2], [4], [4]], dtype=np.float32)
>>> metric = keras.metrics.R2Score()
>>> metric.update_state(y_true, y_pred)
>>> result = metric.result()
>>> result
0.57142854
"""

DICE_DOCS = """
>>> y_true = [[[[1.0], [1.0]], [[0.0], [0.0]]],
...           [[[1.0], [1.0]], [[0.0], [0.0]]]]
>>> y_pred = [[[[0.0], [1.0]], [[0.0], [1.0]]],
...           [[[0.4], [0.0]], [[0.0], [0.9]]]]
>>> axis = (1, 2, 3)
>>> loss = keras.losses.dice(y_true, y_pred, axis=axis)
>>> assert loss.shape == (2,)
>>> loss
array([0.5, 0.75757575], shape=(2,), dtype=float32)

>>> loss = keras.losses.dice(y_true, y_pred)
>>> assert loss.shape == ()
>>> loss
array(0.6164384, shape=(), dtype=float32)

>>> y_true = np.array(y_true)
>>> y_pred = np.array(y_pred)
>>> loss = keras.losses.Dice(axis=axis, reduction=None)(y_true, y_pred)
>>> assert loss.shape == (2,)
>>> loss
array([0.5, 0.75757575], shape=(2,), dtype=float32)
"""


@pytest.mark.parametrize("docs", [FSCORE_DOCS, CONFUSION_DOCS, AT_METRIC_AND_AUC_DOCS, IOU_DOCS,
                                  R2_DOCS, DICE_DOCS],
                         ids=["fscore", "confusion", "at_metrics_auc", "iou", "r2", "dice"])
def test_keras_api_docstring_values(docs):
    assert_printed(run_doc(docs))


def test_the_printed_values_are_counted():
    counts = [len(run_doc(d)) for d in (FSCORE_DOCS, CONFUSION_DOCS, AT_METRIC_AND_AUC_DOCS,
                                        IOU_DOCS, R2_DOCS, DICE_DOCS)]
    assert counts == [2, 14, 10, 8, 1, 3]  # 38 printed values, each one compared


def test_tversky_at_one_half_is_the_documented_dice():
    """Keras's Tversky page has no example; it says alpha = beta = 0.5 gives the Dice loss."""
    ns = {"keras": npconv, "np": np}
    run_doc(DICE_DOCS, ns)
    y_true, y_pred = ns["y_true"], ns["y_pred"]
    assert npconv.losses.Tversky()(y_true, y_pred) == pytest.approx(0.6164384, abs=1e-7)
    assert npconv.losses.tversky(y_true, y_pred) == pytest.approx(0.6164384, abs=1e-7)
    np.testing.assert_allclose(npconv.losses.Tversky(axis=(1, 2, 3), reduction=None)(
        y_true, y_pred), [0.5, 0.75757575], atol=1e-7)


BACKUP_AND_RESTORE_DOCS = """
>>> class InterruptingCallback(keras.callbacks.Callback):
...   def on_epoch_begin(self, epoch, logs=None):
...     if epoch == 4:
...       raise RuntimeError('Interrupting!')
>>> callback = keras.callbacks.BackupAndRestore(backup_dir="/tmp/backup")
>>> model = keras.models.Sequential([keras.layers.Dense(10)])
>>> model.compile(keras.optimizers.SGD(), loss='mse')
>>> try:
...   model.fit(np.arange(100).reshape(5, 20), np.zeros(5), epochs=10,
...             batch_size=1, callbacks=[callback, InterruptingCallback()],
...             verbose=0)
... except:
...   pass
>>> history = model.fit(np.arange(100).reshape(5, 20), np.zeros(5),
...                     epochs=10, batch_size=1, callbacks=[callback],
...                     verbose=0)
>>> # Only 6 more epochs are run, since first training got interrupted at
>>> # zero-indexed epoch 4, second training will continue from 4 to 9.
>>> len(history.history['loss'])
>>> 6
"""


def test_backup_and_restore_docstring_resumes_at_the_interrupted_epoch():
    """The page's Dense(10) learns targets of shape (5,): Keras broadcasts each one over the
    10 outputs; npconv refuses a target shape that is not the output's (no silent
    broadcasting) -- the docs' bare ``except: pass`` hides that error in the first fit, the
    second shows it. With the targets of the output's shape, (5, 10), the docs' 6 follows."""
    text = BACKUP_AND_RESTORE_DOCS.replace('"/tmp/backup"', '"backup"')
    with pytest.raises(ValueError, match=r"mean_squared_error: expected y_true of the same "
                                         r"shape as y_pred \(1, 10\)\. Received y_true of "
                                         r"shape \(1,\)"):
        run_doc(text)
    ns = {"keras": npconv, "np": np}
    with np.errstate(over="ignore", invalid="ignore"):  # SGD on inputs up to 99 diverges
        run_doc(text.replace("np.zeros(5)", "np.zeros((5, 10))"), ns)
    assert len(ns["history"].history["loss"]) == 6
    assert ns["history"].epoch == [4, 5, 6, 7, 8, 9]


# the 1-D layers' pages: Keras 3 prints shapes and ZeroPadding1D's / UpSampling1D's arrays;
# for the pooling layers it prints nothing, so the values are those tf.keras's pages print
LAYER_DOCS = """
>>> # The inputs are 128-length vectors with 10 timesteps, and the
>>> # batch size is 4.
>>> x = np.random.rand(4, 10, 128)
>>> y = keras.layers.Conv1D(32, 3, activation='relu')(x)
>>> print(y.shape)
(4, 8, 32)

>>> x = np.random.rand(4, 10, 128)
>>> y = keras.layers.Conv1DTranspose(32, 3, 2, activation='relu')(x)
>>> print(y.shape)
(4, 21, 32)

>>> x = np.random.rand(4, 10, 12)
>>> y = keras.layers.DepthwiseConv1D(kernel_size=3,
...         depth_multiplier=3,
...         strides=2, activation='relu')(x)
>>> print(y.shape)
(4, 4, 36)

>>> x = np.random.rand(2, 3, 4)
>>> y = keras.layers.GlobalAveragePooling1D()(x)
>>> y.shape
(2, 4)

>>> input_shape = (2, 2, 3)
>>> x = np.arange(np.prod(input_shape)).reshape(input_shape)
>>> x
[[[ 0  1  2]
  [ 3  4  5]]
 [[ 6  7  8]
  [ 9 10 11]]]
>>> y = keras.layers.ZeroPadding1D(padding=2)(x)
>>> y
[[[ 0  0  0]
  [ 0  0  0]
  [ 0  1  2]
  [ 3  4  5]
  [ 0  0  0]
  [ 0  0  0]]
 [[ 0  0  0]
  [ 0  0  0]
  [ 6  7  8]
  [ 9 10 11]
  [ 0  0  0]
  [ 0  0  0]]]

>>> y = keras.layers.UpSampling1D(size=2)(x)
>>> y
[[[ 0.  1.  2.]
  [ 0.  1.  2.]
  [ 3.  4.  5.]
  [ 3.  4.  5.]]
 [[ 6.  7.  8.]
  [ 6.  7.  8.]
  [ 9. 10. 11.]
  [ 9. 10. 11.]]]

>>> x = np.array([1., 2., 3., 4., 5.])
>>> x = np.reshape(x, [1, 5, 1])
>>> max_pool_1d = keras.layers.MaxPooling1D(pool_size=2,
...    strides=1, padding="valid")
>>> max_pool_1d(x)
array([[[2.], [3.], [4.], [5.]]], dtype=float32)
>>> max_pool_1d = keras.layers.MaxPooling1D(pool_size=2,
...    strides=2, padding="valid")
>>> max_pool_1d(x)
array([[[2.], [4.]]], dtype=float32)
>>> max_pool_1d = keras.layers.MaxPooling1D(pool_size=2,
...    strides=1, padding="same")
>>> max_pool_1d(x)
array([[[2.], [3.], [4.], [5.], [5.]]], dtype=float32)
>>> avg_pool_1d = keras.layers.AveragePooling1D(pool_size=2,
...    strides=1, padding="valid")
>>> avg_pool_1d(x)
array([[[1.5], [2.5], [3.5], [4.5]]], dtype=float32)
>>> avg_pool_1d = keras.layers.AveragePooling1D(pool_size=2,
...    strides=2, padding="valid")
>>> avg_pool_1d(x)
array([[[1.5], [3.5]]], dtype=float32)
>>> avg_pool_1d = keras.layers.AveragePooling1D(pool_size=2,
...    strides=1, padding="same")
>>> avg_pool_1d(x)
array([[[1.5], [2.5], [3.5], [4.5], [5.]]], dtype=float32)
"""


def test_1d_layer_docstring_values():
    """DepthwiseConv1D's page continues its call without ``...`` (not runnable as printed);
    the prompts are added. MaxPooling1D/AveragePooling1D: tf.keras's printed arrays."""
    shown = run_doc(LAYER_DOCS)
    assert len(shown) == 13
    assert_printed(shown)
    ns = {"keras": npconv, "np": np}
    run_doc(LAYER_DOCS[:LAYER_DOCS.index(">>> y = keras.layers.UpSampling1D")], ns)
    assert ns["y"].dtype == np.int64  # ZeroPadding1D keeps the integers, as the page prints


def test_separable_conv1d_docstring_example_is_refused_as_in_keras():
    """SeparableConv1D's page calls ``SeparableConv1D(3, 4, 3, 2, activation='relu')`` and
    prints (4, 4, 4): its fourth positional argument is ``padding``, and Keras's own
    ``standardize_padding`` fails on the int 2 (``'int' object has no attribute 'lower'``);
    npconv refuses it with a ValueError that names the argument."""
    x = np.random.default_rng(0).random((4, 10, 12))
    with pytest.raises(ValueError, match=r"expected padding to be 'valid' or 'same'\. "
                                         r"Received: padding=2"):
        npconv.layers.SeparableConv1D(3, 4, 3, 2, activation="relu")(x)
    # the keywords it meant (filters=3, kernel_size=4, strides=3): (10 - 4) // 3 + 1 = 3 steps
    assert npconv.layers.SeparableConv1D(3, 4, strides=3, activation="relu")(x).shape == (
        4, 3, 3)
