"""The seeds' Keras snippets run on npconv with only their import lines changed.

Each snippet below is copied from /work/shared/seeds/*.txt (indentation restored where the
extraction flattened it). ``run_snippet`` replaces the listed import lines -- and checks that
each replaced line really is in the snippet -- then ``exec``s the text, capturing what it
prints. Where a snippet needs more than an import change, the comment says what and why.
"""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest

from npconv.utils import clear_session


def run_snippet(code: str, replacements: dict[str, str], namespace=None):
    """Replace import lines, exec the snippet; return (namespace, printed text)."""
    for old, new in replacements.items():
        assert old in code, f"the snippet does not contain {old!r}"
        code = code.replace(old, new)
    clear_session()  # automatic layer names start at conv2d, dense ... as in a fresh Keras
    ns = dict(namespace or {})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<seed snippet>", "exec"), ns)  # noqa: S102 - the point of the test
    return ns, out.getvalue()


def summary_rows(text: str):
    """[(name, type, output shape, params)] parsed from a printed summary.

    Cells are read by the header's column positions; a cell wrapped onto continuation lines
    (long names) is joined back with spaces.
    """
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if "Layer (type)" in line)
    c1, c2 = lines[header].index("Output Shape") - 1, lines[header].index("Param #") - 1
    c3 = lines[header].find("Connected to") - 1
    body = lines[header + 2:]
    body = body[:next(i for i, line in enumerate(body) if line.startswith("="))]
    groups, current = [], []
    for line in body + [""]:
        if line.strip():
            current.append(line)
        elif current:
            groups.append(current)
            current = []
    rows = []
    for group in groups:
        def cell(a, b, group=group):
            return " ".join(line[a:b].strip() for line in group if line[a:b].strip())
        first = cell(0, c1)
        m = re.fullmatch(r"(\S+) \((\w+)\)", first)
        assert m, f"cannot parse layer cell {first!r}"
        params = cell(c2, c3 if c3 > 0 else None)
        rows.append((m[1], m[2], cell(c1, c2), int(params.replace(",", ""))))
    return rows


def summary_total(text: str, which: str) -> int:
    m = re.search(rf"^{which} params: ([\d,]+)", text, re.MULTILINE)
    assert m, f"no '{which} params' line in:\n{text}"
    return int(m[1].replace(",", ""))


# ------------------------------------------------------------------------------ seed 000
SEED000_CONV = """
from keras.layers import Conv2D

conv_1 = Conv2D(
    filters=64,
    kernel_size=(3, 3),
    padding="same",
    strides=(1, 1),
    dilation_rate=(1, 1),
)

result = conv_1(images)
print(f"images shape: {images.shape}")
print(f"result shape: {result.shape}")
"""


def test_seed000_conv2d_same_keeps_height_and_width():
    # The seed feeds a (12, 224, 224, 3) batch from a torch DataLoader through keras's
    # Permute; we feed an NHWC batch directly (4 images: the shape is the point).
    images = np.random.default_rng(0).random((4, 224, 224, 3), dtype=np.float32)
    ns, printed = run_snippet(SEED000_CONV, {"from keras.layers import Conv2D":
                                             "from npconv.layers import Conv2D"},
                              {"images": images})
    assert printed.splitlines() == ["images shape: (4, 224, 224, 3)",
                                    "result shape: (4, 224, 224, 64)"]
    assert ns["result"].dtype == np.float32


SEED000_AVG = """
from keras.layers import AveragePooling2D

avg_pooing_layer = AveragePooling2D((2, 2), strides=1)

a = np.arange(32, dtype=float).reshape(1, 4, 4, 2)

result = avg_pooing_layer(a).cpu().numpy()

print("differences in shapes")
print(a.shape)
print(result.shape)
print("-" * 20)

print("1st channel")
print(a[0, :, :, 0])
print("-" * 20)

print("second channel")
print(a[0, :, :, 1])
print("-" * 20)

print("result of the 1st channel")
print(result[0, :, :, 0])
print("-" * 20)

print("result of the 2nd channel")
print(result[0, :, :, 1])
print("-" * 20)
"""

SEED000_AVG_OUT = """differences in shapes
(1, 4, 4, 2)
(1, 3, 3, 2)
--------------------
1st channel
[[ 0.  2.  4.  6.]
 [ 8. 10. 12. 14.]
 [16. 18. 20. 22.]
 [24. 26. 28. 30.]]
--------------------
second channel
[[ 1.  3.  5.  7.]
 [ 9. 11. 13. 15.]
 [17. 19. 21. 23.]
 [25. 27. 29. 31.]]
--------------------
result of the 1st channel
[[ 5.  7.  9.]
 [13. 15. 17.]
 [21. 23. 25.]]
--------------------
result of the 2nd channel
[[ 6.  8. 10.]
 [14. 16. 18.]
 [22. 24. 26.]]
--------------------
"""

SEED000_GAP = """
from keras.layers import GlobalAveragePooling2D

avg_pooing_layer = GlobalAveragePooling2D()

a = np.arange(32, dtype=float).reshape(1, 4, 4, 2)

result = avg_pooing_layer(a).cpu().numpy()

print("difference in shapes")
print(a.shape)
print(result.shape)
print("-" * 20)

print("result")
print(result)
print("-" * 20)
"""

SEED000_MAX = SEED000_AVG.replace(
    "from keras.layers import AveragePooling2D", "from keras.layers import MaxPool2D").replace(
    "avg_pooing_layer = AveragePooling2D((2, 2), strides=1)",
    "avg_pooing_layer = MaxPool2D((2, 2), strides=1)")

SEED000_MAX_OUT = SEED000_AVG_OUT.replace(
    "[[ 5.  7.  9.]\n [13. 15. 17.]\n [21. 23. 25.]]",
    "[[10. 12. 14.]\n [18. 20. 22.]\n [26. 28. 30.]]").replace(
    "[[ 6.  8. 10.]\n [14. 16. 18.]\n [22. 24. 26.]]",
    "[[11. 13. 15.]\n [19. 21. 23.]\n [27. 29. 31.]]")

SEED000_GMP = """
max_pooling_layer = GlobalMaxPooling2D()

a = np.arange(32, dtype=float).reshape(1, 4, 4, 2)

result = max_pooling_layer(a).cpu().numpy()

print("difference in shapes")
print(a.shape)
print(result.shape)
print("-" * 20)

print("result")
print(result)
print("-" * 20)
"""

# Keras with the torch backend returns torch tensors, hence the seed's ``.cpu().numpy()``;
# npconv's layer outputs answer it too (npconv.tensor.Tensor): only the imports change.


def test_seed000_average_pooling_table():
    _, printed = run_snippet(SEED000_AVG, {"from keras.layers import AveragePooling2D":
                                           "from npconv.layers import AveragePooling2D"},
                             {"np": np})
    assert printed == SEED000_AVG_OUT


def test_seed000_max_pooling_table():
    _, printed = run_snippet(SEED000_MAX, {"from keras.layers import MaxPool2D":
                                           "from npconv.layers import MaxPool2D"},
                             {"np": np})
    assert printed == SEED000_MAX_OUT


def test_seed000_global_average_pooling():
    _, printed = run_snippet(SEED000_GAP, {"from keras.layers import GlobalAveragePooling2D":
                                           "from npconv.layers import GlobalAveragePooling2D"},
                             {"np": np})
    assert printed == "difference in shapes\n(1, 4, 4, 2)\n(1, 2)\n" + "-" * 20 + \
        "\nresult\n[[15. 16.]]\n" + "-" * 20 + "\n"


def test_seed000_global_max_pooling():
    # The seed's snippet has no import line (it relies on an earlier cell); we prepend one.
    code = "from keras.layers import GlobalMaxPooling2D\n" + SEED000_GMP
    _, printed = run_snippet(code, {"from keras.layers import GlobalMaxPooling2D":
                                    "from npconv.layers import GlobalMaxPooling2D"},
                             {"np": np})
    assert printed == "difference in shapes\n(1, 4, 4, 2)\n(1, 2)\n" + "-" * 20 + \
        "\nresult\n[[30. 31.]]\n" + "-" * 20 + "\n"


SEED000_DROPOUT = """
from keras import Sequential
from keras.layers import Dropout, Dense, Input

model = Sequential(
    [
        Input(shape=(1024,)),
        Dropout(0.2),
        Dense(512, activation="relu"),
        Dropout(0.2),
        Dense(128, activation="relu"),
        Dropout(0.2),
        Dense(10, activation="relu"),
    ]
)
model.summary()
"""


def test_seed000_dropout_dense_sequential_summary():
    ns, printed = run_snippet(SEED000_DROPOUT, {
        "from keras import Sequential": "from npconv import Sequential",
        "from keras.layers import Dropout, Dense, Input":
            "from npconv.layers import Dropout, Dense, Input"})
    rows = summary_rows(printed)
    assert rows == [
        ("dropout", "Dropout", "(None, 1024)", 0),
        ("dense", "Dense", "(None, 512)", 1024 * 512 + 512),
        ("dropout_1", "Dropout", "(None, 512)", 0),
        ("dense_1", "Dense", "(None, 128)", 512 * 128 + 128),
        ("dropout_2", "Dropout", "(None, 128)", 0),
        ("dense_2", "Dense", "(None, 10)", 128 * 10 + 10),
    ]
    total = 1024 * 512 + 512 + 512 * 128 + 128 + 128 * 10 + 10
    assert summary_total(printed, "Total") == total == 591_754
    assert summary_total(printed, "Trainable") == total
    assert summary_total(printed, "Non-trainable") == 0
    model = ns["model"]
    x = np.random.default_rng(1).standard_normal((3, 1024)).astype(np.float32)
    # Dropout is the identity at inference: predict is deterministic.
    np.testing.assert_array_equal(model.predict(x), model.predict(x))


# ------------------------------------------------------------------------------ seed 001
SEED001_CNN = """
from tensorflow import keras
#from tensorflow.keras import layers
# Input layer for 28x28 grayscale images
inputs = keras.Input(shape=(28, 28, 1))
# Convolutional layers
x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
x = layers.MaxPooling2D(pool_size=2)(x)
x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
x = layers.MaxPooling2D(pool_size=2)(x)
x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
# Flattening before Dense layers
x = layers.Flatten()(x)
# Dense (fully-connected) output layer
outputs = layers.Dense(10, activation="softmax")(x)
# Define the model
model = keras.Model(inputs=inputs, outputs=outputs)
# View the model structure clearly
model.summary()
"""

# The seed's import of layers is commented out (its run fails with NameError: layers);
# DESIGN.md records the intent, `from tensorflow.keras import layers`.
SEED001_IMPORTS = {"from tensorflow import keras": "import npconv as keras",
                   "#from tensorflow.keras import layers": "from npconv import layers"}

SEED001_NO_POOL = """
inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
x = layers.Flatten()(x)
outputs = layers.Dense(10, activation="softmax")(x)
model_no_max_pool = keras.Model(inputs=inputs, outputs=outputs)
"""


def test_seed001_mnist_cnn_summary():
    ns, printed = run_snippet(SEED001_CNN, SEED001_IMPORTS)
    assert printed.startswith('Model: "functional"')
    rows = summary_rows(printed)
    assert [(r[2], r[3]) for r in rows] == [
        ("(None, 28, 28, 1)", 0),
        ("(None, 26, 26, 32)", 320),
        ("(None, 13, 13, 32)", 0),
        ("(None, 11, 11, 64)", 18_496),
        ("(None, 5, 5, 64)", 0),
        ("(None, 3, 3, 128)", 73_856),
        ("(None, 1152)", 0),
        ("(None, 10)", 11_530),
    ]
    assert [r[1] for r in rows] == ["InputLayer", "Conv2D", "MaxPooling2D", "Conv2D",
                                    "MaxPooling2D", "Conv2D", "Flatten", "Dense"]
    assert summary_total(printed, "Total") == 104_202
    assert summary_total(printed, "Trainable") == 104_202
    assert summary_total(printed, "Non-trainable") == 0
    # The same table through an injected print function, line by line.
    lines = []
    ns["model"].summary(print_fn=lines.append)
    assert "\n".join(lines) + "\n" == printed
    probs = ns["model"].predict(np.random.default_rng(0).random((2, 28, 28, 1)))
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)


def test_seed001_no_max_pool_variant():
    code = "from tensorflow import keras\n#from tensorflow.keras import layers\n" + \
        SEED001_NO_POOL
    ns, _ = run_snippet(code, SEED001_IMPORTS)
    model = ns["model_no_max_pool"]
    assert model.count_params() == 712_202
    assert model.get_layer(index=3).output_shape == (None, 22, 22, 128)
    assert model.output_shape == (None, 10)


SEED001_FEATURE_MAPS = """
import matplotlib.pyplot as plt
from tensorflow.keras.models import Model
from tensorflow.keras.datasets import mnist
from tensorflow.keras import layers, Input
# Load MNIST image
(train_images, _), _ = mnist.load_data()
img = train_images[1] / 255.0
img_input = img.reshape(1,28,28,1)
# Define convolutional model with 4 filters
inputs = Input(shape=(28,28,1))
conv = layers.Conv2D(100, kernel_size=3, activation='relu')(inputs)
model = Model(inputs, conv)
# Get feature maps
feature_maps = model.predict(img_input)
# Plot feature maps
fig, axes = plt.subplots(1, 6, figsize=(12,4))
for i in range(6):
    axes[i].imshow(feature_maps[0,:,:,i], cmap='gray')
    axes[i].axis('off')
    axes[i].set_title(f'Filter {i+1}')
plt.suptitle('Filter Activations', fontsize=16)
plt.show()
"""


def test_seed001_feature_maps():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # MNIST is not installed on this machine (and tests never download); Fashion-MNIST, the
    # same IDX format and shapes, is -- so the dataset import names it instead.
    ns, _ = run_snippet(SEED001_FEATURE_MAPS, {
        "from tensorflow.keras.models import Model": "from npconv.models import Model",
        "from tensorflow.keras.datasets import mnist":
            "from npconv.datasets import fashion_mnist as mnist",
        "from tensorflow.keras import layers, Input": "from npconv import layers, Input"})
    try:
        fmaps = ns["feature_maps"]
        assert fmaps.shape == (1, 26, 26, 100)
        assert fmaps.dtype == np.float32  # float64 pixels are cast to the float32 weights
        assert (fmaps >= 0).all() and fmaps.max() > 0
        assert len(ns["fig"].axes) == 6
        # The feature maps are the layer's correlation of the image, with relu.
        kernel, bias = ns["model"].get_weights()
        img = ns["img_input"].astype(np.float32)
        manual = sum(img[:, i:i + 26, j:j + 26, :] @ kernel[i, j]
                     for i in range(3) for j in range(3)) + bias
        np.testing.assert_allclose(fmaps, np.maximum(manual, 0), rtol=1e-5, atol=1e-5)
    finally:
        plt.close("all")


# ------------------------------------------------------------------------------ seed 002
SEED002_DETECTOR = """
from numpy import asarray
from keras.models import Sequential
from keras.layers import Conv2D
# define input data
data = [[0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 0, 0, 0]]
data = asarray(data)
data = data.reshape(1, 8, 8, 1)
# create model
model = Sequential()
model.add(Conv2D(1, (3,3), activation='relu', input_shape=(8, 8, 1)))
# summarize model
model.summary()
# define a vertical line detector
detector = [[[[0]],[[1]],[[0]]],
            [[[0]],[[1]],[[0]]],
            [[[0]],[[1]],[[0]]]]
weights = [asarray(detector), asarray([0.0])]
# store the weights in the model
model.set_weights(weights)
# apply filter to input data
yhat = model.predict(data)
# enumerate rows
for r in range(yhat.shape[1]):
    # print each column in the row
    print([yhat[0,r,c,0] for c in range(yhat.shape[2])])
"""

SEED002_POOL = SEED002_DETECTOR.replace(
    "from keras.layers import Conv2D\n",
    "from keras.layers import Conv2D\nfrom keras.layers import AveragePooling2D\n").replace(
    "input_shape=(8, 8, 1)))\n", "input_shape=(8, 8, 1)))\nmodel.add(AveragePooling2D())\n")

SEED002_IMPORTS = {"from keras.models import Sequential": "from npconv.models import Sequential",
                   "from keras.layers import Conv2D": "from npconv.layers import Conv2D"}


def test_seed002_vertical_line_detector():
    ns, printed = run_snippet(SEED002_DETECTOR, SEED002_IMPORTS)
    rows = summary_rows(printed)
    assert rows == [("conv2d", "Conv2D", "(None, 6, 6, 1)", 10)]
    assert summary_total(printed, "Total") == 10
    yhat = ns["yhat"]
    assert yhat.shape == (1, 6, 6, 1)
    for r in range(6):
        assert [float(yhat[0, r, c, 0]) for c in range(6)] == [0.0, 0.0, 3.0, 3.0, 0.0, 0.0]
    assert len(printed.strip().splitlines()[-6:]) == 6


def test_seed002_vertical_line_detector_with_average_pooling():
    ns, printed = run_snippet(SEED002_POOL, {
        **SEED002_IMPORTS,
        "from keras.layers import AveragePooling2D": "from npconv.layers import AveragePooling2D"})
    rows = summary_rows(printed)
    assert rows == [("conv2d", "Conv2D", "(None, 6, 6, 1)", 10),
                    ("average_pooling2d", "AveragePooling2D", "(None, 3, 3, 1)", 0)]
    yhat = ns["yhat"]
    assert yhat.shape == (1, 3, 3, 1)
    for r in range(3):
        assert [float(yhat[0, r, c, 0]) for c in range(3)] == [0.0, 3.0, 0.0]


SEED002_CONV_SHAPES = """
from keras.layers import Conv2D
import tensorflow as tf
input_shape = (4, 128, 128, 3)
X = tf.random.normal(input_shape)
print(X.shape)
Y = Conv2D(input_shape=input_shape, kernel_size=(2,2), filters=6, strides=(1, 1), padding="same")(X)
print(Y.shape)
Y = Conv2D(input_shape=input_shape, kernel_size=(2,2), filters=4, strides=(2,2), padding="valid")(X)
print(Y.shape)
input_shape = (4, 28, 28, 3)
x = tf.random.normal(input_shape)
y = tf.keras.layers.Conv2D(2, 3, activation='relu', input_shape=input_shape[1:])(x)
print(y.shape)
input_shape = (1, 1, 2, 2)
x = np.arange(np.prod(input_shape)).reshape(input_shape)
y = tf.keras.layers.ZeroPadding2D(padding=1)(x)
"""

# ``import tensorflow as tf`` becomes a two-name stand-in: ``tf.keras`` is npconv and
# ``tf.random.normal`` a seeded NumPy normal draw (float32, as TensorFlow's).
_TF_STANDIN = ("import types, npconv; tf = types.SimpleNamespace(keras=npconv, random=types."
               "SimpleNamespace(normal=lambda shape: np.random.default_rng(0)."
               "standard_normal(shape).astype(np.float32)))")


def test_seed002_keras_conv2d_shapes():
    ns, printed = run_snippet(SEED002_CONV_SHAPES, {
        "from keras.layers import Conv2D": "from npconv.layers import Conv2D",
        "import tensorflow as tf": _TF_STANDIN}, {"np": np})
    assert printed.splitlines() == ["(4, 128, 128, 3)", "(4, 128, 128, 6)", "(4, 64, 64, 4)",
                                    "(4, 26, 26, 2)"]
    y = np.asarray(ns["y"])
    assert y.shape == (1, 3, 4, 2)
    expected = np.zeros((1, 3, 4, 2))
    expected[0, 1, 1:3, :] = [[0, 1], [2, 3]]
    np.testing.assert_array_equal(y, expected)


SEED002_SAME_MODEL = """
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
from keras.models import Sequential
from keras.layers.convolutional import Conv2D
from keras.layers import Dense, Activation, Flatten
# Create the model
model = Sequential()
#After which the Conv layers are added.
#In our case, they are Conv2D again, with 'same' as the value
#for padding for all three layers:
model.add(Conv2D(32, kernel_size=(3, 3), activation='relu', input_shape=input_shape, padding='same'))
model.add(Conv2D(64, kernel_size=(3, 3), activation='relu', padding='same'))
model.add(Conv2D(128, kernel_size=(3, 3), activation='relu', padding='same'))
#Then, like the "valid" padding scenario,
#we add a Flatten layer and two Dense ones,
#ending with a Softmax activated output:
model.add(Flatten())
model.add(Dense(256, activation='relu'))
model.summary()
"""  # noqa: E501 - the seed's line, kept verbatim


def test_seed002_same_padding_sequential():
    # The seed never defines input_shape; we give (8, 8, 1) (small, so Dense stays small).
    ns, printed = run_snippet(SEED002_SAME_MODEL, {
        "import tensorflow as tf": _TF_STANDIN,
        "from tensorflow import keras": "import npconv as keras",
        "from tensorflow.keras import layers": "from npconv import layers",
        "from keras.models import Sequential": "from npconv.models import Sequential",
        "from keras.layers.convolutional import Conv2D": "from npconv.layers import Conv2D",
        "from keras.layers import Dense, Activation, Flatten":
            "from npconv.layers import Dense, Activation, Flatten"},
        {"np": np, "input_shape": (8, 8, 1)})
    assert [(r[2], r[3]) for r in summary_rows(printed)] == [
        ("(None, 8, 8, 32)", 320),
        ("(None, 8, 8, 64)", 18_496),
        ("(None, 8, 8, 128)", 73_856),
        ("(None, 8192)", 0),
        ("(None, 256)", 8192 * 256 + 256),
    ]
    assert summary_total(printed, "Total") == 320 + 18_496 + 73_856 + 8192 * 256 + 256
