"""Check by hand that real Keras 3 reads what npconv.keras_files.save_keras_model writes
(CI does not run this: it needs Keras). From the repository root:

    KERAS_BACKEND=torch PYTHONPATH=src python tests/data/keras_files/keras_reads_npconv.py

For each npconv model below (random weights, biases and BatchNormalization statistics
included) it writes NAME.keras to a temporary folder, loads it with keras.models.load_model
and prints the largest difference between Keras's and npconv's predictions (float32); it
exits with status 1 if one exceeds 1e-5.

Then the training state: each optimizer-state fixture (trained two steps in Keras) is
loaded in npconv, written back with save_keras_model, loaded in Keras, which takes the
fixture's next step: the weights must be the ones Keras reached from its own file
(NAME.after.npz). And an npconv model trained two steps (two outputs, loss weights, a
metric each) is written and continued one step in Keras and in npconv: the same weights.
"""

import os
import sys
import tempfile

import keras
import numpy as np

import npconv
from npconv import layers
from npconv.keras_files import save_keras_model
from npconv.models import Model, Sequential


def branches():
    i = layers.Input((8, 8, 3), name="img")
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(i)
    b = layers.Conv2D(4, 1)(layers.Conv2D(4, 3, padding="same")(i))
    s = layers.Add()([a, b])
    c = layers.Concatenate()([s, layers.Conv2D(2, 1)(s)])
    x = layers.GlobalAveragePooling2D()(c)
    return Model(i, layers.Dense(3, activation="softmax")(x), name="branches"), [(8, 8, 3)]


def depth_order():
    i = layers.Input((4,))
    x1 = layers.Dense(4, activation="tanh")(i)
    x2 = layers.Dense(4)(layers.Dense(4, activation="relu")(i))
    return Model(i, layers.Add()([x1, x2])), [(4,)]


def multi_io_shared():
    a, b = layers.Input((6,), name="a"), layers.Input((6,), name="b")
    shared = layers.Dense(4, activation="relu", name="shared")
    m = layers.Concatenate()([shared(a), shared(b), layers.Subtract()([a, b])])
    o1 = layers.Dense(1, name="o1")(m)
    o2 = layers.Dense(3, activation="softmax", name="o2")(
        layers.Multiply()([shared(a), shared(b)]))
    return Model([a, b], [o1, o2], name="multi_io"), [(6,), (6,)]


def nested_sequential():
    inner = Sequential([layers.Input((4,)), layers.Dense(3), layers.Dense(2)], name="inner")
    i = layers.Input((6,))
    h = layers.Dense(4)(i)
    return Model(i, layers.Add()([inner(h), layers.Dense(2)(h)]), name="outer"), [(6,)]


def nested_functional_twice():
    j = layers.Input((4,))
    block = Model(j, layers.Dense(4, activation="relu")(j), name="block")
    i = layers.Input((4,))
    return Model(i, layers.Dense(2)(block(block(i)))), [(4,)]


def sequential_in_sequential():
    sub = Sequential([layers.Input((4,)), layers.Dense(3, activation="tanh"),
                      layers.Dense(2)], name="sub")
    return Sequential([layers.Input((4,)), layers.Dense(4), sub, layers.Dense(1)],
                      name="seq"), [(4,)]


def batchnorm_functional():
    i = layers.Input((6, 6, 2))
    x = layers.BatchNormalization()(layers.Conv2D(3, 3)(i))
    return Model(i, layers.Dense(2)(layers.Flatten()(x))), [(6, 6, 2)]


def main():
    rng = np.random.default_rng(0)
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for make in (branches, depth_order, multi_io_shared, nested_sequential,
                     nested_functional_twice, sequential_in_sequential, batchnorm_functional):
            model, shapes = make()
            for w in model.weights:
                if "variance" in w.name:
                    w.assign(rng.random(w.value.shape).astype(np.float32) + 0.5)
                else:
                    w.assign(rng.standard_normal(w.value.shape).astype(np.float32) * 0.5)
            xs = [rng.random((3, *s), dtype=np.float32) for s in shapes]
            xs = xs if len(xs) > 1 else xs[0]
            path = os.path.join(folder, f"{make.__name__}.keras")
            save_keras_model(model, path)
            ours = model.predict(xs, verbose=0)
            theirs = keras.models.load_model(path).predict(xs, verbose=0)
            ours = ours if isinstance(ours, list) else [ours]
            theirs = theirs if isinstance(theirs, list) else [theirs]
            diff = max(float(np.max(np.abs(np.asarray(t) - o)))
                       for t, o in zip(theirs, ours, strict=True))
            worst = max(worst, diff)
            print(f"{make.__name__:26s} Keras {keras.__version__} loads it; "
                  f"max abs diff {diff:.2e}")
    worst = max(worst, continue_in_keras())
    return 0 if worst <= 1e-5 else 1


HERE = os.path.dirname(os.path.abspath(__file__))
STATE_FIXTURES = ("sgd_momentum", "sgd_nesterov", "rmsprop_state", "rmsprop_centered",
                  "adam_state", "adam_amsgrad", "adamw_state", "adamax_state",
                  "adagrad_state", "lion_state", "nadam_state")


def continue_in_keras():
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for name in STATE_FIXTURES:
            model = npconv.models.load_model(os.path.join(HERE, f"{name}.keras"))
            path = os.path.join(folder, f"{name}.keras")
            save_keras_model(model, path)
            again = keras.models.load_model(path)
            x = np.load(os.path.join(HERE, f"{name}.x.npy"))
            y = np.load(os.path.join(HERE, f"{name}.y.npy"))
            again.train_on_batch(x, y)
            want = list(np.load(os.path.join(HERE, f"{name}.after.npz")).values())
            diff = max(float(np.max(np.abs(np.asarray(a) - b)))
                       for a, b in zip(again.get_weights(), want, strict=True))
            worst = max(worst, diff)
            print(f"{name:26s} Keras continues npconv's copy of its state: "
                  f"max abs diff {diff:.2e}")
        rng = np.random.default_rng(3)
        i = layers.Input((5,), name="x")
        h = layers.Dense(6, activation="relu")(i)
        model = Model(i, [layers.Dense(3, activation="softmax", name="cls")(h),
                          layers.Dense(1, name="reg")(h)])
        model.compile(optimizer=npconv.training.optimizers.Adam(0.01),
                      loss=["sparse_categorical_crossentropy", "mse"],
                      loss_weights=[1.0, 0.3], metrics=[["accuracy"], ["mae"]])
        x = rng.random((8, 5), dtype=np.float32)
        y = [rng.integers(0, 3, 8), rng.random((8, 1), dtype=np.float32)]
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        path = os.path.join(folder, "two_heads.keras")
        save_keras_model(model, path)
        theirs = keras.models.load_model(path)
        theirs.train_on_batch(x[:4], [y[0][:4], y[1][:4]])
        model.train_on_batch(x[:4], [y[0][:4], y[1][:4]])
        diff = max(float(np.max(np.abs(np.asarray(a) - b)))
                   for a, b in zip(theirs.get_weights(), model.get_weights(), strict=True))
        worst = max(worst, diff)
        print(f"{'two_heads (npconv-trained)':26s} next step in Keras and npconv: "
              f"max abs diff {diff:.2e}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
