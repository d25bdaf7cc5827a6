"""compile / fit / evaluate / predict: Keras semantics, training mode, seeding, the fused
softmax + cross-entropy gradient, and a short real training on Fashion-MNIST."""

from __future__ import annotations

import numpy as np
import pytest

from npconv.layers.base import Layer
from npconv.layers.conv import Conv2D
from npconv.layers.core import Dense, Dropout, Flatten
from npconv.layers.input import Input
from npconv.layers.normalization import BatchNormalization
from npconv.layers.pooling import MaxPooling2D
from npconv.models.sequential import Sequential
from npconv.random import set_random_seed
from npconv.training import losses, metrics, optimizers
from npconv.training.callbacks import History


def _data(n=40, d=6, classes=3, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(dtype)
    w = rng.standard_normal((d, classes))
    y = np.argmax(x @ w, axis=1)
    return x, y


def _mlp(d=6, classes=3, dtype=None, seed=0):
    set_random_seed(seed)
    return Sequential([Input(shape=(d,)), Dense(8, activation="tanh", dtype=dtype),
                       Dense(classes, activation="softmax", dtype=dtype)])


# ------------------------------------------------------------------------------ compile
def test_compile_with_strings_and_objects():
    x, y = _data()
    a = _mlp()
    a.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    assert isinstance(a.optimizer, optimizers.SGD) and a.optimizer.learning_rate == 0.01
    assert isinstance(a.loss, losses.SparseCategoricalCrossentropy)
    b = _mlp()
    b.compile(optimizer=optimizers.SGD(learning_rate=0.01),
              loss=losses.SparseCategoricalCrossentropy(),
              metrics=[metrics.SparseCategoricalAccuracy(name="accuracy")])
    ha = a.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, validation_split=0.25)
    hb = b.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0, validation_split=0.25)
    # A metric object given to compile is reused: its counts restart at every epoch and at
    # every evaluation, so its history is the same as the string's.
    assert ha.history == hb.history
    assert b.evaluate(x, y, verbose=0) == a.evaluate(x, y, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_compile_and_fit_errors():
    x, y = _data()
    model = _mlp()
    with pytest.raises(RuntimeError, match="call model.compile"):
        model.fit(x, y)
    with pytest.raises(RuntimeError, match="call model.compile"):
        model.evaluate(x, y)
    with pytest.raises(ValueError, match="a loss is required"):
        model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        model.compile(optimizer="adamm", loss="mse")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="same number of samples. Received 40 inputs and 39"):
        model.fit(x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="batch_size to be a positive int. Received: batch_size=0"):
        model.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match=r"validation_split in \[0, 1\)"):
        model.fit(x, y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match="y \\(the targets\\) is required"):
        model.fit(x, verbose=0)
    with pytest.raises(ValueError, match="empty dataset"):
        model.fit(x[:0], y[:0], verbose=0)


# ------------------------------------------------------------------------------ fit / history
def test_fit_returns_history_with_keras_keys():
    x, y = _data(n=50)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0)
    assert isinstance(history, History) and model.history is history
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 3 for v in history.history.values())
    assert history.epoch == [0, 1, 2]
    for acc in history.history["accuracy"] + history.history["val_accuracy"]:
        assert 0.0 <= acc <= 1.0
    # The last val_loss is the model's loss on the last 20% of the samples after training.
    loss, acc = model.evaluate(x[40:], y[40:], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-12)
    assert history.history["val_accuracy"][-1] == pytest.approx(acc, rel=1e-12)


def test_validation_split_trains_on_the_first_part_only():
    x, y = _data(n=50)
    a, b = _mlp(seed=5), _mlp(seed=5)
    for m in (a, b):
        m.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    a.fit(x, y, epochs=2, batch_size=10, validation_split=0.2, shuffle=False, verbose=0)
    b.fit(x[:40], y[:40], epochs=2, batch_size=10, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_validation_data_and_epoch_loss_is_sample_weighted_mean():
    x, y = _data(n=23)
    model = _mlp(dtype="float64")
    model.compile(optimizer=optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    # learning rate 0: the weights never move, so the epoch loss is the loss over all 23
    # samples (batches of 5, 5, 5, 5, 3 weighted by their sizes) and equals evaluate's.
    h = model.fit(x.astype(np.float64), y, batch_size=5, epochs=1, verbose=0,
                  validation_data=(x[:7].astype(np.float64), y[:7]))
    full = model.evaluate(x.astype(np.float64), y, batch_size=23, verbose=0)
    assert h.history["loss"][0] == pytest.approx(full, rel=1e-12)
    assert h.history["val_loss"][0] == pytest.approx(
        model.evaluate(x[:7].astype(np.float64), y[:7], verbose=0), rel=1e-12)


def test_evaluate_returns_loss_and_accuracy_as_keras():
    x, y = _data(n=37, seed=2)
    model = _mlp(dtype="float64")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    xs = x.astype(np.float64)
    result = model.evaluate(xs, y, batch_size=10, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    p = model.predict(xs)
    manual_loss = -np.mean(np.log(np.clip(p[np.arange(37), y], 1e-7, 1 - 1e-7)))
    manual_acc = np.mean(np.argmax(p, axis=1) == y)
    assert result[0] == pytest.approx(manual_loss, rel=1e-12)
    assert result[1] == pytest.approx(manual_acc, rel=1e-12)
    assert model.evaluate(xs, y, verbose=0, return_dict=True) == pytest.approx(
        {"loss": manual_loss, "accuracy": manual_acc}, rel=1e-12)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert model.evaluate(xs, y, verbose=0) == pytest.approx(manual_loss, rel=1e-12)
    assert model.test_on_batch(xs, y) == pytest.approx(manual_loss, rel=1e-12)


def test_metrics_names_zip_with_evaluate_as_keras():
    """``dict(zip(model.metrics_names, model.evaluate(x, y)))``: the common idiom."""
    x, y = _data(n=30, seed=3)
    model = _mlp()
    assert model.metrics_names == [] and model.metrics == []  # not compiled yet
    top2 = metrics.SparseTopKCategoricalAccuracy(k=2, name="top2")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", top2, "acc"])
    assert model.metrics_names == ["loss", "accuracy", "top2", "acc"]
    result = model.evaluate(x, y, verbose=0)
    named = dict(zip(model.metrics_names, result, strict=True))
    assert named == model.evaluate(x, y, verbose=0, return_dict=True)
    # model.metrics: the loss tracker first, then the compiled metrics, holding the results
    assert [m.name for m in model.metrics] == model.metrics_names
    assert model.metrics[2] is top2
    assert [float(m.result()) for m in model.metrics] == result
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert [float(m.result()) for m in model.metrics] == [history.history[k][-1]
                                                          for k in model.metrics_names]
    assert set(history.history) == set(model.metrics_names)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert model.metrics_names == ["loss"]


def test_predict_batching_equals_one_forward():
    rng = np.random.default_rng(3)
    set_random_seed(3)
    model = Sequential([Input(shape=(8, 8, 2)), Conv2D(4, 3, activation="relu", dtype="float64"),
                        MaxPooling2D(2), Flatten(), Dense(5, dtype="float64")])
    x = rng.standard_normal((23, 8, 8, 2))
    full = model.forward(x)
    for batch_size in (1, 7, 23, 100):
        np.testing.assert_allclose(model.predict(x, batch_size=batch_size), full,
                                   rtol=1e-13, atol=1e-14)
    np.testing.assert_array_equal(model.predict_on_batch(x), full)


# ------------------------------------------------------------------------------ training mode
class _Spy(Layer):
    """Identity layer recording the ``training`` flag of each call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.flags = []

    def call(self, x, training=False):
        self.flags.append(training)
        return x

    def call_backward(self, d_out):
        return d_out


def test_training_flag_reaches_layers_and_batch_norm_stats():
    x, y = _data(n=24)
    spy = _Spy()
    set_random_seed(0)
    model = Sequential([Input(shape=(6,)), Dense(8), BatchNormalization(), spy, Dropout(0.5),
                        Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    bn = model.layers[1]
    stats = [w.copy() for w in bn.get_weights()[2:]]
    model.predict(x)
    model.evaluate(x, y, verbose=0)
    assert spy.flags and not any(spy.flags)
    for a, b in zip(bn.get_weights()[2:], stats, strict=True):
        np.testing.assert_array_equal(a, b)  # inference leaves the moving stats alone
    spy.flags.clear()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert spy.flags == [True, True, True]
    for a, b in zip(bn.get_weights()[2:], stats, strict=True):
        assert not np.allclose(a, b)  # training updated them
    # Dropout is active in training: train_on_batch twice on the same weights with lr 0 gives
    # different losses (different masks); predict twice gives the same output.
    model.compile(optimizer=optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    assert model.train_on_batch(x, y) != model.train_on_batch(x, y)
    np.testing.assert_array_equal(model.predict(x), model.predict(x))


def test_set_random_seed_makes_fit_reproducible():
    x, y = _data(n=40)

    def run():
        set_random_seed(1234)
        model = Sequential([Input(shape=(6,)), Dense(16, activation="relu"), Dropout(0.3),
                            Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=3, batch_size=8, verbose=0)  # shuffled, with dropout
        return model.get_weights()

    first, second = run(), run()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    set_random_seed(4321)
    other = Sequential([Input(shape=(6,)), Dense(16)]).get_weights()
    assert not np.array_equal(other[0], first[0])


def test_fit_seed_argument_fixes_the_shuffle_order():
    x, y = _data(n=40)
    results = []
    for _ in range(2):
        model = _mlp(seed=9)
        model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        set_random_seed(len(results))  # a different global state each time ...
        model.fit(x, y, epochs=2, batch_size=8, seed=77, verbose=0)  # ... same shuffles
        results.append(model.get_weights())
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ fused gradient
def test_fused_softmax_cross_entropy_equals_unfused_chain():
    """The loop's step (fused: d_logits = (p - onehot) / N) equals the plain chain rule through
    the loss's d/dp and the softmax's Jacobian, on a case far from saturation."""
    x, y = _data(n=12, seed=4)
    xs = x.astype(np.float64) * 0.3
    model = _mlp(dtype="float64", seed=4)
    loss = losses.SparseCategoricalCrossentropy()
    probs = model.forward(xs, training=True)
    assert 0.05 < probs.min() and probs.max() < 0.95  # non-saturated: no clipping involved
    value, d_probs = loss.forward_backward(y, probs)
    model.backward(d_probs)  # through the softmax's own backward
    unfused = [w.grad.copy() for w in model.trainable_weights]
    before = model.get_weights()

    lr = 0.5
    model.compile(optimizer=optimizers.SGD(lr), loss=loss)
    reported = model.train_on_batch(xs, y)
    assert reported == pytest.approx(value, rel=1e-14)
    for w_new, w_old, g in zip(model.get_weights(), before, unfused, strict=True):
        np.testing.assert_allclose(w_new, w_old - lr * g, rtol=1e-10, atol=1e-13)
    # and the fused path really is the one the loop took
    from npconv.training.loop import _fusion

    assert _fusion(model) == "softmax"


@pytest.mark.parametrize("axis", [1, (1, 2)])
def test_a_softmax_not_over_the_last_axis_is_not_fused_with_the_cross_entropy(axis):
    """The fused gradient ``p - t`` holds for a softmax over the classes (the last axis)
    only: an output Activation normalised over other axes is trained through its own
    backward, so a step equals the plain chain rule."""
    from npconv.ops import activations
    from npconv.training.loop import _fusion

    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 4, 5)) * 0.3
    y = rng.random((6, 4, 3))
    y /= y.sum(axis=-1, keepdims=True)
    set_random_seed(6)
    act = activations.Activation("softmax", activations.softmax_forward,
                                 activations.softmax_backward, axis=axis)
    model = Sequential([Input(shape=(4, 5)), Dense(3, activation=act, dtype="float64")])
    loss = losses.CategoricalCrossentropy()
    value, d_probs = loss.forward_backward(y, model.forward(x, training=True))
    model.backward(d_probs)
    chained = [w.grad.copy() for w in model.trainable_weights]
    before = model.get_weights()
    model.compile(optimizer=optimizers.SGD(0.5), loss=loss)
    assert model.train_on_batch(x, y) == pytest.approx(value, rel=1e-14)
    assert _fusion(model) == ""
    for w_new, w_old, g in zip(model.get_weights(), before, chained, strict=True):
        np.testing.assert_allclose(w_new, w_old - 0.5 * g, rtol=1e-10, atol=1e-13)


def _head(kind):
    from npconv.layers.activation import Softmax

    if kind == "Softmax layer":
        return [Dense(3), Softmax()]
    return [Dense(3, activation=kind)]


@pytest.mark.parametrize("before, after", [("softmax", "sigmoid"), ("sigmoid", "softmax"),
                                           ("softmax", "Softmax layer")])
def test_fusion_is_decided_again_when_the_model_changes_after_compile(before, after):
    """pop() + add() after compile (and a first fit) changes the output layer: the fused
    gradient must follow the new one, so training equals that of a freshly compiled twin."""
    x, y = _data(n=24, seed=5)
    model = Sequential([Input(shape=(6,)), Dense(8, activation="tanh"), *_head(before)])
    model.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    model.pop()
    for layer in _head(after):
        model.add(layer)
    twin = Sequential([Input(shape=(6,)), Dense(8, activation="tanh"), *_head(after)])
    twin.set_weights(model.get_weights())
    twin.compile(optimizer=optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    twin.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    from npconv.training.loop import _fusion

    assert _fusion(model) == _fusion(twin)


# ------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def fashion():
    from npconv.datasets import fashion_mnist

    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(download=False)
    x_train = x_train[:3000, :, :, None].astype(np.float32) / 255
    x_test = x_test[:1000, :, :, None].astype(np.float32) / 255
    return x_train, y_train[:3000], x_test, y_test[:1000]


def test_short_fashion_mnist_training_beats_chance(fashion):
    x_train, y_train, x_test, y_test = fashion
    set_random_seed(0)
    model = Sequential([
        Input(shape=(28, 28, 1)),
        Conv2D(8, 3, activation="relu"),
        MaxPooling2D(2),
        Conv2D(16, 3, activation="relu"),
        MaxPooling2D(2),
        Flatten(),
        Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before_loss, before_acc = model.evaluate(x_test, y_test, verbose=0)
    history = model.fit(x_train, y_train, epochs=3, batch_size=32, verbose=0)
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    losses_per_epoch = history.history["loss"]
    assert losses_per_epoch[0] > losses_per_epoch[1] > losses_per_epoch[2]
    assert loss < before_loss - 1.0  # from ~ln(10) = 2.3 to clearly lower
    assert acc > 0.6, f"held-out accuracy {acc:.3f} after 3 epochs on 3,000 images"
    assert before_acc < 0.3


# ------------------------------------------------------------------------------ frozen models
def test_fit_on_a_fully_frozen_model_warns_once_and_updates_nothing_as_keras():
    """Keras 3 trains a model with no trainable weights by computing loss and metrics and
    warning "The model does not have any trainable weights."; here the optimizer raised
    "no gradients provided ... run the backward pass"."""
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, 96)
    model = Sequential([Input(shape=(6, 6, 2)), Conv2D(4, 3, activation="relu"),
                        BatchNormalization(), Flatten(), Dense(3, activation="softmax")])
    model.trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    with pytest.warns(UserWarning, match="does not have any trainable weights") as caught:
        history = model.fit(x, y, epochs=2, batch_size=32, verbose=0, shuffle=False)
    assert len([w for w in caught if "trainable weights" in str(w.message)]) == 1  # per fit
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer.iterations == 0
    loss, acc = model.evaluate(x, y, verbose=0)  # frozen BatchNormalization: inference mode
    assert history.history["loss"] == pytest.approx([loss, loss], rel=1e-5)
    assert history.history["accuracy"] == pytest.approx([acc, acc])
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        assert model.train_on_batch(x, y) == pytest.approx([loss, acc], rel=1e-5)
    model.trainable = True  # and it trains again
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert model.optimizer.iterations == 3


def test_compile_accepts_keras3_execution_options_that_change_nothing_here():
    """compile(..., jit_compile=False) / run_eagerly=True (in the Keras guides) were
    TypeErrors; they change nothing in NumPy, and the training is the same."""
    x, y = _data()
    runs = []
    for options in ({}, {"run_eagerly": True, "jit_compile": False, "steps_per_execution": 1,
                         "auto_scale_loss": False}, {"jit_compile": "auto"}):
        model = _mlp()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", **options)
        runs.append(model.fit(x, y, epochs=1, batch_size=10, verbose=0).history["loss"])
    assert runs[0] == runs[1] == runs[2]
    model = _mlp()
    with pytest.raises(ValueError, match="compile: steps_per_execution other than 1 is not "
                                         "supported.*Received: steps_per_execution=32"):
        model.compile("sgd", "mse", steps_per_execution=32)
    with pytest.raises(ValueError, match="compile: expected jit_compile to be True, False or "
                                         "'auto'"):
        model.compile("sgd", "mse", jit_compile="xla")
    with pytest.raises(TypeError, match="compile: expected run_eagerly to be a bool"):
        model.compile("sgd", "mse", run_eagerly="yes")


def test_get_metrics_result_and_reset_metrics_as_keras():
    """model.get_metrics_result() and model.reset_metrics() (Keras 3) were AttributeErrors."""
    x, y = _data(n=30, seed=3)
    model = _mlp()
    assert model.get_metrics_result() == {}
    model.compile(optimizer="sgd", loss="categorical_crossentropy",
                  metrics=["accuracy", metrics.Precision()])
    result = model.evaluate(x, np.eye(3)[y], verbose=0, return_dict=True)
    got = model.get_metrics_result()
    assert got == result and set(got) == {"loss", "accuracy", "precision"}
    model.reset_metrics()
    assert model.get_metrics_result() == {"loss": 0.0, "accuracy": 0.0, "precision": 0.0}
