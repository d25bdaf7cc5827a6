"""Keras's ``activity_regularizer=``: ``regularizer(output)`` joins the loss at each call, and
its gradient the layer's backward: finite differences of the whole training loss, the loss
value by hand, evaluate's per-batch average, configs and files."""

import numpy as np
import pytest

import npconv
from npconv import layers, optimizers, regularizers
from npconv.models import load_model
from tests.finite_differences import central_differences

F64 = "float64"


def _dense_model(output_regularizer="l1"):
    return npconv.Sequential([
        layers.Input((3,), dtype=F64),
        layers.Dense(4, activation="tanh", dtype=F64,
                     activity_regularizer=regularizers.l2(0.1)),
        layers.Dense(3, activation="softmax", dtype=F64,
                     activity_regularizer=output_regularizer)])


def _conv_model():
    # relu then a max pool: npconv would apply the ReLU after the pool; not here, the
    # penalty reads the conv's relu output itself
    return npconv.Sequential([
        layers.Input((6, 6, 2), dtype=F64),
        layers.Conv2D(3, 3, padding="same", activation="relu", dtype=F64,
                      activity_regularizer=regularizers.L1L2(l1=0.01, l2=0.02)),
        layers.MaxPooling2D(), layers.Flatten(),
        layers.Dense(3, activation="softmax", dtype=F64)])


def _data(shape, n=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)), np.eye(3)[rng.integers(0, 3, n)]


def _total_loss(model, x, y):
    out = model.forward(x, training=True)
    return float(model.loss(y, out)) + float(sum(model.losses))


@pytest.mark.parametrize("make, shape, loss", [
    (_dense_model, (3,), "categorical_crossentropy"),  # fused softmax + cross-entropy
    (_dense_model, (3,), "mse"),
    (lambda: _dense_model(None), (3,), "categorical_crossentropy"),
    (_conv_model, (6, 6, 2), "categorical_crossentropy"),
])
def test_training_step_gradient_matches_finite_differences(make, shape, loss):
    model = make()
    model.compile(optimizers.SGD(learning_rate=1.0), loss)
    x, y = _data(shape)
    weights = model.trainable_weights
    numeric = []
    for w in weights:
        numeric.append(central_differences(lambda: _total_loss(model, x, y), w.value))
    before = [w.value.copy() for w in weights]
    expected_loss = _total_loss(model, x, y)
    reported = model.train_on_batch(x, y)
    np.testing.assert_allclose(reported, expected_loss, rtol=1e-12)
    for w, b, g in zip(weights, before, numeric, strict=True):
        np.testing.assert_allclose(b - w.value, g, rtol=1e-6, atol=1e-9, err_msg=w.name)


def test_input_gradient_matches_finite_differences():
    model = _conv_model()
    model.compile("sgd", "mse")
    x, y = _data((6, 6, 2))
    model.forward(x, training=True)
    _, d_out = model.loss.forward_backward(y, model.forward(x, training=True))
    analytic = model.backward(d_out, need_input_grad=True)
    numeric = central_differences(lambda: _total_loss(model, x, y), x)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


def test_loss_value_by_hand():
    model = _dense_model()
    model.compile("sgd", "categorical_crossentropy")
    x, y = _data((3,))
    (k1, b1), (k2, b2) = model.layers[0].get_weights(), model.layers[1].get_weights()
    h = np.tanh(x @ k1 + b1)
    z = h @ k2 + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    data = np.mean(-np.sum(y * np.log(p), axis=1))
    by_hand = data + 0.1 * np.sum(h ** 2) + 0.01 * np.sum(np.abs(p))  # Keras: no / batch
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), by_hand, rtol=1e-12)
    np.testing.assert_allclose(model.test_on_batch(x, y), by_hand, rtol=1e-12)
    assert len(model.losses) == 2  # one per layer with an activity regularizer
    # torch's twin computes the same
    torch = pytest.importorskip("torch")
    t = torch.tensor(x)
    th = torch.tanh(t @ torch.tensor(k1) + torch.tensor(b1))
    tz = th @ torch.tensor(k2) + torch.tensor(b2)
    tp = torch.softmax(tz, dim=1)
    total = (torch.nn.functional.cross_entropy(tz, torch.tensor(y)) + 0.1 * (th ** 2).sum()
             + 0.01 * tp.abs().sum())
    np.testing.assert_allclose(by_hand, float(total), rtol=1e-12)


def test_evaluate_averages_each_batch_penalty():
    model = _dense_model()
    model.compile("sgd", "categorical_crossentropy")
    x, y = _data((3,), n=5)
    parts = [(slice(0, 2), 2), (slice(2, 4), 2), (slice(4, 5), 1)]
    expected = sum(model.test_on_batch(x[s], y[s]) * n for s, n in parts) / 5
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=2, verbose=0), expected,
                               rtol=1e-12)


def test_config_round_trip_and_file(tmp_path):
    model = _conv_model()
    config = model.layers[0].get_config()
    assert config["activity_regularizer"] == {"class_name": "L1L2",
                                              "config": {"l1": 0.01, "l2": 0.02}}
    assert layers.Conv2D.from_config(config).activity_regularizer.get_config() == {
        "l1": 0.01, "l2": 0.02}
    assert "activity_regularizer" not in layers.Dense(2).get_config()
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    x, _ = _data((6, 6, 2))
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_allclose(loaded.losses, model.losses, rtol=1e-12)


def test_the_layer_keeps_its_batch_whole():
    layer = layers.Dense(2, activity_regularizer="l2")
    assert not layer.splits_batch(True) and not layer.splits_batch(False)
    assert layers.Dense(2).splits_batch(True)


def test_errors_name_the_layer():
    with pytest.raises(ValueError, match="d: activity_regularizer"):
        layers.Dense(2, name="d", activity_regularizer="nope")
    shared = layers.Dense(3, activity_regularizer="l2", name="twice")
    inputs = layers.Input((3,))
    with pytest.raises(ValueError, match="'twice' has an activity_regularizer and is called "
                                         "at several places"):
        npconv.Model(inputs, shared(shared(inputs)))


@pytest.mark.parametrize("make, shape", [(_dense_model, (3,)), (_conv_model, (6, 6, 2))])
def test_gradient_check_counts_the_penalty(make, shape):
    x, y = _data(shape)
    model = make()
    assert npconv.gradient_check(model, x, print_fn=None).passed
    assert npconv.gradient_check(model, x, y, loss="categorical_crossentropy",
                                 print_fn=None).passed
    layer = layers.Dense(3, activation="tanh", activity_regularizer="l1_l2")
    assert npconv.gradient_check(layer, x.reshape(len(x), -1), print_fn=None).passed
