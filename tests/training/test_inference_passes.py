"""evaluate and predict run a large batch as several forward passes when the model's largest
layer output would exceed ``loop.INFERENCE_BYTES_PER_CORE`` per core; the results are those of
one pass (float32 to 1e-6: the parts' GEMMs see other row counts)."""

from __future__ import annotations

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.models import Model, Sequential, zoo
from npconv.training import loop


@pytest.fixture(autouse=True)
def _two_threads():
    before = npconv._threads._requested
    npconv.set_num_threads(2)
    yield
    npconv._threads._requested = before


def _count_forwards(monkeypatch, model):
    sizes = []
    forward = type(model).forward

    def counting(self, x, training=False):
        sizes.append(len(x[0]) if isinstance(x, list) else len(x))
        return forward(self, x, training=training)

    monkeypatch.setattr(type(model), "forward", counting)
    return sizes


def _compiled_cnn():
    npconv.set_random_seed(0)
    model = zoo.mnist_cnn()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_passes_follow_the_largest_output_and_the_cores_in_use():
    model = _compiled_cnn()
    x = np.zeros((4, 28, 28, 1), np.float32)
    per_core = loop.INFERENCE_BYTES_PER_CORE // (26 * 26 * 32 * 4)  # the first conv's output
    assert loop._images_per_inference_pass(model, x) == per_core * 2
    npconv.set_num_threads(1)
    assert loop._images_per_inference_pass(model, x) == per_core
    npconv.set_num_threads(3)
    assert loop._images_per_inference_pass(model, x) == per_core * 3
    fresh = Sequential([layers.Conv2D(8, 3), layers.Flatten(), layers.Dense(3)])
    assert loop._images_per_inference_pass(fresh, np.zeros((2, 10, 10, 1))) == (
        loop.INFERENCE_BYTES_PER_CORE // (8 * 8 * 8 * 8)) * 3  # built here; float64 input


def test_models_whose_samples_see_their_batch_run_whole(monkeypatch):
    """A softmax over the batch axis, or a layer of the user's: one pass, as one part."""

    class Centre(layers.Layer):
        def call(self, x, training=False):
            return x - x.mean(axis=0)

        def compute_output_shape(self, input_shape):
            return input_shape

    for odd in (layers.Softmax(axis=0), Centre()):
        model = Sequential([layers.Input((6,)), layers.Dense(4), odd])
        model.compile(loss="mse")
        assert loop._images_per_inference_pass(model, np.zeros((3, 6))) is None
    x = np.random.default_rng(2).random((60, 6))
    whole = model.predict(x, batch_size=60)
    monkeypatch.setattr(loop, "INFERENCE_BYTES_PER_CORE", 1)
    np.testing.assert_array_equal(model.predict(x, batch_size=60), whole)


def test_a_wrong_input_shape_names_the_whole_batch(monkeypatch):
    model = _compiled_cnn()
    monkeypatch.setattr(loop, "INFERENCE_BYTES_PER_CORE", 8 * 26 * 26 * 32 * 4)
    with pytest.raises(ValueError, match=r"\(100, 28, 27, 1\)"):
        model.predict(np.zeros((100, 28, 27, 1), np.float32), batch_size=100)


def test_evaluate_and_predict_in_passes_equal_one_pass(monkeypatch):
    model = _compiled_cnn()
    rng = np.random.default_rng(0)
    x = rng.random((100, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 100)
    monkeypatch.setattr(loop, "INFERENCE_BYTES_PER_CORE", 1 << 40)
    whole_eval = model.evaluate(x, y, batch_size=100, verbose=0)
    whole_pred = model.predict(x, batch_size=100)
    monkeypatch.setattr(loop, "INFERENCE_BYTES_PER_CORE", 20 * 26 * 26 * 32 * 4)
    sizes = _count_forwards(monkeypatch, model)
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=100, verbose=0), whole_eval,
                               rtol=1e-6)
    assert sizes == [33, 33, 34]  # at most 2 x 20 images per pass, in equal passes
    np.testing.assert_allclose(model.predict(x, batch_size=100), whole_pred, rtol=1e-6,
                               atol=1e-7)
    assert sizes[3:] == [33, 33, 34]


def test_multi_output_predict_in_passes(monkeypatch):
    inputs = layers.Input((6, 6, 2))
    conv = layers.Conv2D(4, 3, activation="relu")(inputs)
    flat = layers.Flatten()(conv)
    model = Model(inputs, [layers.Dense(2)(flat), layers.Dense(3)(flat)])
    x = np.random.default_rng(1).random((50, 6, 6, 2), dtype=np.float32)
    whole = model.predict(x, batch_size=50)
    monkeypatch.setattr(loop, "INFERENCE_BYTES_PER_CORE", 8 * 4 * 4 * 4 * 4)
    parts = model.predict(x, batch_size=50)
    assert isinstance(parts, list) and len(parts) == 2
    for a, b in zip(whole, parts, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_a_fused_softmax_over_axes_with_the_batch_runs_whole():
    """An output activation normalised over several axes, the batch among them (Keras 3's
    ``softmax(x, axis=(0, 1))`` as a layer's activation): the batch is never cut into parts,
    so the output sums to 1 over those axes."""
    from npconv.ops import activations

    for axes in ((0, 1), [1, -2], (-2,)):
        act = activations.Activation("softmax", activations.softmax_forward,
                                     activations.softmax_backward, axis=axes)
        dense = layers.Dense(3, activation=act)
        model = Sequential([layers.Input((5,)), dense])
        assert not dense.splits_batch(False) and not dense.splits_batch(True)
        y = model.predict(np.random.default_rng(3).random((64, 5)), batch_size=64, verbose=0)
        np.testing.assert_allclose(y.sum(axis=tuple(axes)), 1.0, rtol=1e-6)
    per_sample = layers.Dense(3, activation=activations.Activation(
        "softmax", activations.softmax_forward, activations.softmax_backward, axis=(1,)))
    Sequential([layers.Input((5,)), per_sample])
    assert per_sample.splits_batch(False)
