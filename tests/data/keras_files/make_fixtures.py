"""Write the Keras 3 files that tests/test_keras_files.py reads (CI does not run this).

Made with Keras 3.15.1, torch backend, h5py 3.x:

    KERAS_BACKEND=torch python tests/data/keras_files/make_fixtures.py

    KERAS_BACKEND=torch python tests/data/keras_files/make_fixtures.py depth_order ...

(naming models writes only those; without names every fixture is rewritten).

For each model NAME it writes NAME.keras (``model.save``), NAME.input.npy (a fixed input)
and NAME.pred.npy (``model.predict`` on that input, inference mode), and for one model
NAME.weights.h5 (``model.save_weights``). bn_dropout is fitted for two steps on random data
first, so that its BatchNormalization moving statistics are not the initial ones and its
file holds optimizer variables. The others keep their seeded initial weights (no optimizer
variables: the files stay small; seed001_mnist_cnn's 104k weights are most of it).
"""

import json
import os
import sys

import keras
import numpy as np
from keras import layers

HERE = os.path.dirname(os.path.abspath(__file__))


def seed001_mnist_cnn():
    """The MNIST CNN of seed 001 (functional), compiled as there (rmsprop), not fitted."""
    inputs = keras.Input(shape=(28, 28, 1))
    x = layers.Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = layers.MaxPooling2D(pool_size=2)(x)
    x = layers.Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, (28, 28, 1), None


def lenet5_like():
    """LeNet-5's layout (sigmoid, average pooling), smaller dense layers; Sequential."""
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(6, 5, padding="same", activation="sigmoid"),
        layers.AveragePooling2D(2),
        layers.Conv2D(16, 5, activation="sigmoid"),
        layers.AveragePooling2D(pool_size=(2, 2), strides=2),
        layers.Flatten(),
        layers.Dense(32, activation="sigmoid"),
        layers.Dense(16, activation="sigmoid"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model, (28, 28, 1), None


def bn_dropout():
    """BatchNormalization after a convolution and a dense layer, Dropout; fitted two steps
    with Adam (moving statistics and optimizer variables in the file)."""
    model = keras.Sequential([
        keras.Input(shape=(12, 12, 3)),
        layers.Conv2D(8, 3, padding="same", use_bias=False),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.MaxPooling2D(),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(16),
        layers.BatchNormalization(momentum=0.9, epsilon=1e-3),
        layers.ReLU(),
        layers.Dropout(0.5),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, (12, 12, 3), "sparse3"


def functional_merge():
    """A functional model with two branches merged by Add and Concatenate."""
    inputs = keras.Input(shape=(10, 10, 2), name="image")
    a = layers.Conv2D(6, 3, padding="same", activation="relu", name="branch_a")(inputs)
    b = layers.Conv2D(6, 1, name="branch_b")(inputs)
    s = layers.Add()([a, b])
    c = layers.Conv2D(4, 3, padding="same", activation="tanh")(s)
    m = layers.Concatenate(axis=-1)([s, c])
    p = layers.GlobalAveragePooling2D()(m)
    q = layers.Flatten()(layers.MaxPooling2D(5)(m))
    x = layers.Concatenate()([p, q])
    outputs = layers.Dense(4, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name="merge_net")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, (10, 10, 2), None


def text_conv1d():
    """Embedding + Conv1D + global max pooling, binary output (the Keras text CNN)."""
    model = keras.Sequential([
        keras.Input(shape=(20,), dtype="int32"),
        layers.Embedding(50, 8),
        layers.Conv1D(12, 3, activation="relu"),
        layers.MaxPooling1D(2),
        layers.Conv1D(12, 3, activation="relu", padding="same"),
        layers.GlobalMaxPooling1D(),
        layers.Dense(8, activation="relu"),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    return model, (20,), None


def with_lambda():
    """A Lambda layer of a Python lambda: Keras marshals its bytecode into the file."""
    model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(2),
                              layers.Lambda(lambda x: x * 2.0)])
    return model, (4,), None


def many_layers():
    """One Sequential through many of the layers npconv reads (a regularizer, depthwise,
    separable and transposed convolution, the normalizations, PReLU ...), compiled with class
    records (AdamW, a label-smoothed loss, a metric with an argument)."""
    model = keras.Sequential([
        keras.Input((8, 8, 3)), layers.Rescaling(1 / 2.0, offset=0.1), layers.ZeroPadding2D(1),
        layers.Conv2D(4, 3, strides=2, kernel_regularizer=keras.regularizers.l2(1e-3)),
        layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2),
        layers.SeparableConv2D(5, 3, padding="same"), layers.Conv2DTranspose(3, 2, strides=2),
        layers.UpSampling2D(), layers.LayerNormalization(), layers.GroupNormalization(groups=3),
        layers.PReLU(), layers.LeakyReLU(0.2), layers.GlobalMaxPooling2D(),
        layers.Reshape((3, 1)), layers.Flatten(), layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=3e-4),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                  metrics=[keras.metrics.TopKCategoricalAccuracy(k=1)])
    return model, (8, 8, 3), None


def shared_two_inputs():
    """Two inputs, one Dense layer called on each (a shared layer), Subtract; its input file
    holds both inputs stacked on a first axis."""
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    shared = layers.Dense(4, activation="relu", name="shared")
    merged = layers.Concatenate()([shared(a), shared(b), layers.Subtract()([a, b])])
    return keras.Model([a, b], layers.Dense(1, name="out")(merged)), (6,), "two inputs"


def adapted_normalization():
    """A Normalization layer adapted to data (its mean, variance and count in the file)."""
    norm = layers.Normalization()
    norm.adapt(np.random.default_rng(3).random((20, 4), dtype=np.float32))
    return keras.Sequential([keras.Input((4,)), norm, layers.Dense(2)]), (4,), None


def depth_order():
    """Three Dense layers whose call order (npconv's) differs from Keras's model.layers order
    (by depth: the deeper branch's first layer comes first); every kernel 4x4, so weights
    matched in the wrong order would load without a shape error. Also written as
    NAME.weights.h5."""
    inputs = keras.Input((4,))
    x1 = layers.Dense(4, activation="tanh")(inputs)
    x2 = layers.Dense(4)(layers.Dense(4, activation="relu")(inputs))
    return keras.Model(inputs, layers.Add()([x1, x2])), (4,), None


def nested_models():
    """A Sequential used as a layer of a functional model with two outputs, one of them
    the nested model's."""
    inputs = keras.Input((6,), name="x")
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="relu"),
                              layers.Dense(2)], name="inner")
    h = layers.Dense(4, name="h")(inputs)
    out_a = inner(h)
    out_b = layers.Dense(1, name="side")(layers.Concatenate()([h, out_a]))
    return keras.Model(inputs, [out_a, out_b], name="outer"), (6,), None


def sequential_in_sequential():
    """A Sequential whose second entry is a Sequential."""
    inner = keras.Sequential([keras.Input((5,)), layers.Dense(3, activation="tanh"),
                              layers.Dense(3)], name="block")
    return keras.Sequential([keras.Input((4,)), layers.Dense(5), inner, layers.Dense(2)],
                            name="stack"), (4,), None


def two_outputs_compiled():
    """Two outputs with a loss, a loss weight and metrics each (compile_config lists)."""
    inputs = keras.Input((5,), name="x")
    h = layers.Dense(6, activation="relu")(inputs)
    cls = layers.Dense(3, activation="softmax", name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    model = keras.Model(inputs, [cls, reg], name="two_heads")
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"],
                  loss_weights=[1.0, 0.25], metrics=[["accuracy"], ["mae"]])
    return model, (5,), None


def two_outputs_dict():
    """The same heads compiled with dicts keyed by output name."""
    model, shape, _ = two_outputs_compiled()
    model.compile(optimizer="sgd", loss={"cls": "sparse_categorical_crossentropy",
                                         "reg": "mae"},
                  loss_weights={"cls": 0.5, "reg": 2.0}, metrics={"cls": ["accuracy"]})
    return model, shape, None


#: optimizer-state fixtures: fitted two steps, saved, then one more step on a fixed batch
OPTIMIZER_STATE = {
    "sgd_momentum": lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
    "sgd_nesterov": lambda: keras.optimizers.SGD(learning_rate=0.05, momentum=0.8,
                                                 nesterov=True),
    "rmsprop_state": lambda: keras.optimizers.RMSprop(learning_rate=0.01),
    "rmsprop_centered": lambda: keras.optimizers.RMSprop(learning_rate=0.01, momentum=0.5,
                                                         centered=True),
    "adam_state": lambda: keras.optimizers.Adam(learning_rate=0.01),
    "adam_amsgrad": lambda: keras.optimizers.Adam(learning_rate=0.01, amsgrad=True),
    "adamw_state": lambda: keras.optimizers.AdamW(learning_rate=0.01, weight_decay=0.05),
    "adamax_state": lambda: keras.optimizers.Adamax(learning_rate=0.01),
    "adagrad_state": lambda: keras.optimizers.Adagrad(learning_rate=0.05),
    "lion_state": lambda: keras.optimizers.Lion(learning_rate=0.001),
    "nadam_state": lambda: keras.optimizers.Nadam(learning_rate=0.01),
}


def optimizer_state(name):
    """A small CNN (a convolution, BatchNormalization, a frozen Dense) trained two steps with
    the optimizer ``name``; NAME.keras then holds the optimizer variables. Writes NAME.x.npy,
    NAME.y.npy (the next batch) and NAME.after.npz (the weights after one more Keras step on
    it), so npconv's next step can be compared with Keras's."""
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    frozen = layers.Dense(6, name="frozen")
    frozen.trainable = False
    model = keras.Sequential([
        keras.Input((6, 6, 1)), layers.Conv2D(3, 3, activation="relu"),
        layers.BatchNormalization(), layers.Flatten(), frozen,
        layers.Dense(3, activation="softmax")])
    model.compile(optimizer=OPTIMIZER_STATE[name](), loss="sparse_categorical_crossentropy")
    x = rng.random((8, 6, 6, 1), dtype=np.float32)
    model.fit(x, rng.integers(0, 3, 8), batch_size=4, epochs=1, shuffle=False, verbose=0)
    model.save(os.path.join(HERE, f"{name}.keras"))
    x_next = rng.random((4, 6, 6, 1), dtype=np.float32)
    y_next = rng.integers(0, 3, 4)
    model.train_on_batch(x_next, y_next)
    np.save(os.path.join(HERE, f"{name}.x.npy"), x_next)
    np.save(os.path.join(HERE, f"{name}.y.npy"), y_next)
    np.savez(os.path.join(HERE, f"{name}.after.npz"),
             *[np.asarray(w) for w in model.get_weights()])


def volumes_3d():
    """The 3-D layers in one channels_first Sequential: Conv3D ('same' with an even kernel
    and a stride, groups with dilation), BatchNormalization on axis 1, the window and global
    poolings, SpatialDropout3D, ZeroPadding3D, Cropping3D, UpSampling3D; fitted two steps.
    (No 'same' average pooling with uneven padding: Keras's torch backend pads that by
    replicating the edge voxels, which its other backends and npconv do not.)"""
    df = "channels_first"
    model = keras.Sequential([
        keras.Input((3, 7, 8, 6)),
        layers.Conv3D(4, (2, 3, 2), strides=(2, 1, 1), padding="same", data_format=df),
        layers.BatchNormalization(axis=1), layers.ReLU(),
        layers.MaxPooling3D((2, 2, 3), strides=(1, 2, 2), padding="same", data_format=df),
        layers.SpatialDropout3D(0.3, data_format=df),
        layers.ZeroPadding3D(((1, 0), (0, 2), (1, 1)), data_format=df),
        layers.Cropping3D(((0, 1), (1, 0), (0, 0)), data_format=df),
        layers.UpSampling3D((1, 2, 1), data_format=df),
        layers.AveragePooling3D(2, data_format=df),
        layers.Conv3D(4, 2, groups=2, dilation_rate=(1, 2, 1), activation="tanh",
                      data_format=df),
        layers.GlobalMaxPooling3D(data_format=df, keepdims=True), layers.Flatten(),
        layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, (3, 7, 8, 6), "sparse3"


def functional_1d():
    """A functional model through the 1-D layers after 2-D ones (Permute, Reshape, causal and
    transposed Conv1D, depthwise and separable 1-D, UnitNormalization, Softmax): Keras records
    ``kwargs={"mask": None}`` for GlobalAveragePooling1D's and Softmax's calls."""
    inp = keras.Input((12, 12, 3))
    x = layers.SeparableConv2D(6, 3, padding="same", depth_multiplier=2)(inp)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(5, 3, strides=2, padding="same", output_padding=1)(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Reshape((36, 5))(layers.Permute((2, 1, 3))(x))
    x = layers.Conv1D(4, 3, padding="causal", dilation_rate=2)(x)
    x = layers.SeparableConv1D(4, 3, padding="same")(x)
    x = layers.DepthwiseConv1D(3)(x)
    x = layers.Conv1DTranspose(3, 3, strides=2)(x)
    x = layers.UnitNormalization()(layers.ELU(alpha=0.5)(x))
    x = layers.GlobalAveragePooling1D()(x)
    return keras.Model(inp, layers.Softmax()(layers.Dense(4)(x))), (12, 12, 3), None


def volume_decoder():
    """A 3-D convolutional autoencoder: Conv3D down, Conv3DTranspose up ("same" with a
    stride, then "valid" with output_padding and a crop back by Cropping3D)."""
    model = keras.Sequential([
        keras.Input((4, 6, 4, 2)),
        layers.Conv3D(4, 3, strides=2, padding="same", activation="relu"),
        layers.Conv3DTranspose(3, 3, strides=(2, 2, 2), padding="same", activation="relu"),
        layers.Conv3DTranspose(2, (2, 3, 2), strides=(1, 2, 1), output_padding=(0, 1, 0),
                               bias_initializer="random_normal"),
        layers.Cropping3D(((0, 1), (2, 2), (0, 1))),
    ])
    model.compile(optimizer="adam", loss="mse")
    return model, (4, 6, 4, 2), None


def _inputs(shape, rng, n=4, vocab=50):
    if len(shape) == 1 and shape[0] == 20:
        return rng.integers(0, vocab, size=(n, *shape)).astype("int32")
    return rng.random((n, *shape), dtype=np.float32)


def _fit_two_steps(model, shape, kind, rng):
    x = _inputs(shape, rng, n=16)
    if kind == "categorical":
        y = np.eye(10, dtype="float32")[rng.integers(0, 10, 16)]
    elif kind == "sparse3":
        y = rng.integers(0, 3, 16)
    else:
        y = rng.integers(0, 2, (16, 1)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)


def main(names=()):
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    for make in (seed001_mnist_cnn, lenet5_like, bn_dropout, functional_merge, text_conv1d,
                 with_lambda, many_layers, shared_two_inputs, adapted_normalization,
                 depth_order, nested_models, sequential_in_sequential, two_outputs_compiled,
                 two_outputs_dict, volumes_3d, functional_1d, volume_decoder):
        name = make.__name__
        if names and name not in names:
            continue
        model, shape, fit_kind = make()
        if fit_kind == "two inputs":
            x = np.stack([_inputs(shape, rng), _inputs(shape, rng)])
            model.save(os.path.join(HERE, f"{name}.keras"))
            np.save(os.path.join(HERE, f"{name}.input.npy"), x)
            np.save(os.path.join(HERE, f"{name}.pred.npy"), model.predict(list(x), verbose=0))
            continue
        if fit_kind is not None:
            _fit_two_steps(model, shape, fit_kind, rng)
        model.save(os.path.join(HERE, f"{name}.keras"))
        if name == "with_lambda":
            continue
        x = _inputs(shape, rng)
        np.save(os.path.join(HERE, f"{name}.input.npy"), x)
        pred = model.predict(x, verbose=0)
        if isinstance(pred, list):  # several outputs
            np.savez(os.path.join(HERE, f"{name}.pred.npz"), *pred)
        else:
            np.save(os.path.join(HERE, f"{name}.pred.npy"), pred)
        if name.startswith("two_outputs"):  # the weighted loss and per-output metrics
            targets = [np.array([0, 1, 2, 0]), np.linspace(-1, 1, 4, dtype="float32")[:, None]]
            logs = model.evaluate(x, targets, return_dict=True, verbose=0)
            with open(os.path.join(HERE, f"{name}.evaluate.json"), "w") as f:
                json.dump({k: float(v) for k, v in logs.items()}, f, indent=1, sort_keys=True)
        if name in ("functional_merge", "depth_order"):
            model.save_weights(os.path.join(HERE, f"{name}.weights.h5"))
    for name in OPTIMIZER_STATE:  # (last: each sets the seed)
        if not names or name in names:
            optimizer_state(name)


if __name__ == "__main__":
    main(sys.argv[1:])
