"""fit/evaluate with sample_weight= and class_weight= (Keras's semantics: the weighted sum of
per-sample losses divided by the batch size, gradient included), and verbose=2's summary line
of evaluate/predict."""

import re

import numpy as np
import pytest

import npconv
from npconv.layers import Dense, Input
from npconv.models import Sequential
from tests.finite_differences import central_differences


def _model(activation="softmax", units=3, loss="sparse_categorical_crossentropy", lr=0.1):
    model = Sequential([Input((4,)), Dense(5, activation="tanh", dtype="float64"),
                        Dense(units, activation=activation, dtype="float64")])
    model.compile(optimizer=npconv.optimizers.SGD(learning_rate=lr), loss=loss,
                  metrics=["accuracy"] if loss.endswith("crossentropy") else None)
    return model


def _data(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), rng.integers(0, 3, size=n), rng.uniform(0.1, 3.0, n)


def test_weighted_loss_is_the_weighted_sum_over_the_batch_size():
    x, y, w = _data()
    model = _model()
    p = model.predict(x)
    per_sample = -np.log(p[np.arange(len(y)), y])
    expected = float(np.sum(w * per_sample) / len(y))
    got = model.evaluate(x, y, sample_weight=w, verbose=0)[0]
    assert got == pytest.approx(expected, rel=1e-12)
    assert model.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0)[0] == pytest.approx(
        expected, rel=1e-12)
    assert model.test_on_batch(x, y, sample_weight=w)[0] == pytest.approx(expected, rel=1e-12)
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(per_sample.mean(), rel=1e-12)


@pytest.mark.parametrize("activation, loss, units", [
    ("softmax", "sparse_categorical_crossentropy", 3),   # fused softmax path
    ("sigmoid", "binary_crossentropy", 1),               # fused sigmoid path
    (None, "mse", 1),                                    # plain forward_backward
])
def test_one_weighted_sgd_step_follows_the_weighted_gradient(activation, loss, units):
    x, y, w = _data(seed=1)
    if units == 1:
        y = (y > 0).astype(np.float64)
    lr = 0.1
    model = _model(activation, units, loss, lr)
    w0 = model.get_weights()
    loss_fn = model.loss

    def weighted():
        return loss_fn(y, model.predict(x), sample_weight=w)

    numeric = []
    for weight in model.weights:
        numeric.append(central_differences(weighted, weight.value))
    reported = model.train_on_batch(x, y, sample_weight=w)
    reported = reported[0] if isinstance(reported, list) else reported
    model.set_weights(w0)
    assert reported == pytest.approx(weighted(), rel=1e-12)
    model.train_on_batch(x, y, sample_weight=w)
    for new, old, g in zip(model.get_weights(), w0, numeric, strict=True):
        np.testing.assert_allclose(new, old - lr * g, rtol=1e-7, atol=1e-9)


def test_class_weight_is_the_per_sample_class_weight():
    x, y, _ = _data(n=8, seed=2)
    class_weight = {0: 0.5, 2: 4.0}  # class 1 missing: weight 1, as Keras
    expected_w = np.array([class_weight.get(int(c), 1.0) for c in y])
    a, b = _model(), _model()
    b.set_weights(a.get_weights())
    ha = a.fit(x, y, epochs=2, batch_size=3, shuffle=False, class_weight=class_weight,
               verbose=0)
    hb = b.fit(x, y, epochs=2, batch_size=3, shuffle=False, sample_weight=expected_w,
               verbose=0)
    assert ha.history["loss"] == pytest.approx(hb.history["loss"], rel=1e-12)
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)
    # one-hot targets: the class is the argmax
    c = _model("softmax", 3, "categorical_crossentropy")
    d = _model("softmax", 3, "categorical_crossentropy")
    d.set_weights(c.get_weights())
    onehot = npconv.utils.to_categorical(y, 3)
    hc = c.fit(x, onehot, epochs=1, shuffle=False, class_weight=class_weight, verbose=0)
    hd = d.fit(x, onehot, epochs=1, shuffle=False, sample_weight=expected_w, verbose=0)
    assert hc.history["loss"] == pytest.approx(hd.history["loss"], rel=1e-12)


def test_class_weight_changes_training():
    x, y, _ = _data(n=8, seed=3)
    a, b = _model(), _model()
    b.set_weights(a.get_weights())
    a.fit(x, y, epochs=1, shuffle=False, verbose=0)
    b.fit(x, y, epochs=1, shuffle=False, class_weight={0: 10.0}, verbose=0)
    assert not np.allclose(a.get_weights()[0], b.get_weights()[0])


def test_validation_split_keeps_the_tail_weights():
    x, y, w = _data(n=10, seed=4)
    model = _model(lr=0.0)  # no change: val_loss is the weighted loss on the last 3 samples
    history = model.fit(x, y, epochs=1, validation_split=0.3, sample_weight=w, verbose=0)
    expected = model.evaluate(x[7:], y[7:], sample_weight=w[7:], verbose=0)[0]
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-12)
    h3 = model.fit(x[:7], y[:7], epochs=1, validation_data=(x[7:], y[7:], w[7:]), verbose=0)
    assert h3.history["val_loss"][0] == pytest.approx(expected, rel=1e-12)



def test_a_column_of_weights_is_one_weight_per_sample_as_in_keras():
    x, y, w = _data(n=8, seed=5)
    runs = []
    for weights in (w, w[:, None]):
        npconv.set_random_seed(6)
        model = _model()
        history = model.fit(x, y, epochs=2, batch_size=4, shuffle=False, sample_weight=weights,
                            verbose=0)
        runs.append((history.history["loss"], model.get_weights(),
                     model.evaluate(x, y, sample_weight=weights, verbose=0)))
    assert runs[0][0] == runs[1][0] and runs[0][2] == runs[1][2]
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_bad_weights_are_named():
    x, y, w = _data()
    model = _model()
    with pytest.raises(ValueError, match=r"sample_weight with one weight per sample, shape "
                                         r"\(6,\). Received shape \(5,\)"):
        model.fit(x, y, sample_weight=w[:5], verbose=0)
    with pytest.raises(ValueError, match="not both"):
        model.fit(x, y, sample_weight=w, class_weight={0: 1.0}, verbose=0)
    with pytest.raises(TypeError, match="class_weight to be a dict"):
        model.fit(x, y, class_weight=[1.0, 2.0, 3.0], verbose=0)
    with pytest.raises(ValueError, match="evaluate: expected sample_weight"):
        model.evaluate(x, y, sample_weight=np.ones(7), verbose=0)


LINE = re.compile(r"^2/2 - \d+s - \d+(s|ms|us)/step - loss: \d+\.\d{4} - "
                  r"accuracy: \d\.\d{4}$")


def test_evaluate_verbose_2_prints_one_keras_line(capsys):
    x, y, _ = _data(n=40)
    model = _model()
    loss, acc = model.evaluate(x, y, verbose=2)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and LINE.match(out[0]), out
    assert f"loss: {loss:.4f}" in out[0] and f"accuracy: {acc:.4f}" in out[0]


def test_predict_verbose_2_prints_steps_and_time(capsys):
    x, _, _ = _data(n=40)
    model = _model()
    model.predict(x, verbose=2)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and re.match(r"^2/2 - \d+s - \d+(s|ms|us)/step$", out[0]), out
    model.predict(x, verbose=0)
    model.evaluate(x, np.zeros(40, dtype=int), verbose=0)
    assert capsys.readouterr().out == ""
