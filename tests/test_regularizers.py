"""npconv.regularizers (Keras's names, defaults and formulas) and their plumbing: layers'
kernel_regularizer/bias_regularizer, model.losses, the training step, save/load."""

import numpy as np
import pytest

import npconv
from npconv import regularizers as R
from npconv.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D
from npconv.models import Sequential
from tests.finite_differences import central_differences


def test_keras3_defaults_and_formulas():
    x = np.array([[1.0, -2.0], [0.0, 3.0]])
    assert R.L1().get_config() == {"l1": 0.01}
    assert R.L2().get_config() == {"l2": 0.01}
    assert R.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert R.l1_l2().get_config() == {"l1": 0.01, "l2": 0.01}
    assert R.L1(0.3)(x) == pytest.approx(0.3 * 6)
    assert R.L2(0.1)(x) == pytest.approx(0.1 * 14)
    assert R.L1L2(l1=0.2, l2=0.5)(x) == pytest.approx(0.2 * 6 + 0.5 * 14)
    assert R.L2(2.0)(np.ones((5, 5))) == pytest.approx(50.0)  # Keras's docstring example
    assert R.l1 is R.L1 and R.l2 is R.L2


@pytest.mark.parametrize("reg", [R.L1(0.3), R.L2(0.7), R.L1L2(0.2, 0.5)])
def test_gradient_matches_central_differences(reg):
    x = np.random.default_rng(0).standard_normal((3, 4))
    g = reg.gradient(x)
    np.testing.assert_allclose(g, central_differences(lambda: reg(x), x), rtol=1e-6, atol=1e-9)
    for dtype in (np.float32, np.float64):
        assert reg.gradient(x.astype(dtype)).dtype == dtype
    assert R.L1(1.0).gradient(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]  # sign(0) = 0, as torch


def test_get_and_serialization():
    assert R.get(None) is None
    assert R.get("l2") == R.L2(0.01)
    assert R.get("L1") == R.L1(0.01)
    assert R.get("l1_l2") == R.L1L2(0.01, 0.01)
    assert R.get(R.L2) == R.L2()
    reg = R.L1L2(l1=0.001, l2=0.02)
    assert R.get(reg) is reg
    assert R.get(R.serialize(reg)) == reg
    assert R.deserialize({"module": "keras.regularizers", "class_name": "L2",
                          "config": {"l2": 0.5}, "registered_name": None}) == R.L2(0.5)
    with pytest.raises(ValueError, match="unknown regularizer 'l3'"):
        R.get("l3")
    with pytest.raises(TypeError, match="no gradient"):
        R.get(lambda w: 0.0)
    with pytest.raises(ValueError, match="non-negative"):
        R.L2(-1.0)
    with pytest.raises(ValueError, match="non-negative"):
        R.L1(float("nan"))


def test_layers_take_the_keras_arguments_without_their_own_code():
    dense = Dense(3, kernel_regularizer="l2", bias_regularizer=R.L1(0.1))
    conv = Conv2D(2, 3, kernel_regularizer=R.l2(1e-3))
    assert dense.kernel_regularizer == R.L2(0.01) and dense.bias_regularizer == R.L1(0.1)
    assert conv.kernel_regularizer == R.L2(1e-3) and conv.bias_regularizer is None
    dense(np.ones((2, 4)))
    conv(np.ones((1, 5, 5, 1)))
    assert dense.kernel.regularizer == R.L2(0.01) and dense.bias.regularizer == R.L1(0.1)
    assert conv.bias.regularizer is None
    k = dense.kernel.value
    assert dense.losses == pytest.approx([0.01 * float(np.sum(k.astype(np.float64) ** 2)), 0.0])
    clone = Dense.from_config(dense.get_config())
    assert clone.kernel_regularizer == dense.kernel_regularizer
    assert clone.bias_regularizer == dense.bias_regularizer
    assert "kernel_regularizer" not in Dense(3).get_config()  # unchanged without one


def test_bad_regularizer_arguments_are_named():
    with pytest.raises(ValueError, match="dense_x: kernel_regularizer"):
        Dense(3, kernel_regularizer="l3", name="dense_x")
    layer = MaxPooling2D(kernel_regularizer="l2")
    with pytest.raises(ValueError, match="no weight named 'kernel'"):
        layer(np.ones((1, 4, 4, 1)))
    d = Dense(3, use_bias=False, bias_regularizer="l2")  # accepted, as Keras
    d(np.ones((1, 2)))
    assert d.kernel.regularizer is None


def test_frozen_layers_have_no_penalty():
    d = Dense(2, kernel_regularizer="l2")
    d(np.ones((1, 3)))
    assert len(d.losses) == 1
    d.trainable = False
    assert d.losses == []


def _model(dtype="float64"):
    return Sequential([
        Input((6, 6, 2)),
        Conv2D(3, 3, kernel_regularizer=R.L2(0.05), bias_regularizer=R.L1(0.02),
               dtype=dtype),
        Flatten(),
        Dense(4, activation="softmax", kernel_regularizer=R.L1L2(0.01, 0.03), dtype=dtype),
    ])


def test_one_sgd_step_equals_the_penalty_written_by_hand():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6, 6, 2))
    y = rng.integers(0, 4, size=5)
    reg_model, plain = _model(), _model()
    plain.set_weights(reg_model.get_weights())
    for layer in plain.layers:  # same architecture, penalties removed
        for w in layer._weights:
            w.regularizer = None
    lr = 0.1
    for m in (reg_model, plain):
        m.compile(optimizer=npconv.optimizers.SGD(learning_rate=lr),
                  loss="sparse_categorical_crossentropy")
    w0 = reg_model.get_weights()
    loss_reg = reg_model.train_on_batch(x, y)
    loss_plain = plain.train_on_batch(x, y)
    k1, b1, k2, b2 = w0
    penalty = (0.05 * np.sum(k1 ** 2) + 0.02 * np.sum(np.abs(b1))
               + 0.01 * np.sum(np.abs(k2)) + 0.03 * np.sum(k2 ** 2))
    assert loss_reg == pytest.approx(loss_plain + penalty, rel=1e-12)
    # plain's step is w - lr * g; the penalised step also subtracts lr * the penalty gradient
    extra = [2 * 0.05 * k1, 0.02 * np.sign(b1), 0.01 * np.sign(k2) + 2 * 0.03 * k2, 0 * b2]
    for got, base, e in zip(reg_model.get_weights(), plain.get_weights(), extra, strict=True):
        np.testing.assert_allclose(got, base - lr * e, rtol=1e-12, atol=1e-14)


def test_gradient_of_the_penalised_loss_by_finite_differences():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 6, 6, 2))
    y = rng.integers(0, 4, size=3)
    model = _model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    loss = model.loss

    def total():
        return loss(y, model.forward(x)) + sum(model.losses)

    probs = model.forward(x, training=True)
    _, d = loss.fused_softmax_backward(y, probs)
    model.backward(d, fused_output_activation=True)
    model.add_regularization_gradients()
    kernels = [w for w in model.trainable_weights if w.name == "kernel"]
    grads = [w.grad.copy() for w in kernels]  # (the biases start at 0, |b|'s kink: below)
    for w, g in zip(kernels, grads, strict=True):
        numeric = central_differences(total, w.value)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9, err_msg=w.name)


def test_penalised_gradient_with_nonzero_biases():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 6, 2))
    y = rng.integers(0, 4, size=3)
    model = _model()
    model.set_weights([w + 0.1 * rng.standard_normal(w.shape) + 0.05
                       for w in model.get_weights()])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    probs = model.forward(x, training=True)
    _, d = model.loss.fused_softmax_backward(y, probs)
    model.backward(d, fused_output_activation=True)
    model.add_regularization_gradients()
    grads = [w.grad.copy() for w in model.trainable_weights]
    for w, g in zip(model.trainable_weights, grads, strict=True):
        numeric = central_differences(
            lambda: model.loss(y, model.forward(x)) + sum(model.losses), w.value)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-9, err_msg=w.name)


def test_fit_and_evaluate_report_the_penalty():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 4, size=8)
    model = _model("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    data_loss = model.loss(y, model.predict(x))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(data_loss + sum(model.losses),
                                                            rel=1e-6)
    model.fit(x, y, epochs=2, verbose=0)
    assert all(p > 0 for p in model.losses[:1])


def test_save_load_and_json_keep_the_regularizers(tmp_path):
    model = _model("float32")
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    path = tmp_path / "m.npconv"
    model.save(path)
    loaded = npconv.load_model(path)
    conv, dense = loaded.layers[0], loaded.layers[2]
    assert conv.kernel_regularizer == R.L2(0.05) and conv.bias_regularizer == R.L1(0.02)
    assert dense.kernel_regularizer == R.L1L2(0.01, 0.03)
    assert loaded.losses == pytest.approx(model.losses)
    again = npconv.models.model_from_json(model.to_json())
    assert again.layers[2].kernel_regularizer == R.L1L2(0.01, 0.03)


def test_a_custom_regularizer_gets_a_config_from_its_constructor_arguments():
    class Scaled(R.Regularizer):
        def __init__(self, strength=0.5):
            self.strength = strength

        def __call__(self, x):
            return self.strength * float(np.sum(np.abs(x)))

    reg = Scaled(0.25)
    assert reg.get_config() == {"strength": 0.25}
    assert Scaled.from_config(reg.get_config()) == reg
    assert repr(reg) == "Scaled(strength=0.25)"
    assert R.Regularizer().get_config() == {}

    class Hidden(R.Regularizer):
        def __init__(self, strength):
            self._s = strength

    with pytest.raises(TypeError, match=r"Hidden.get_config: the constructor argument "
                                        r"'strength' is not kept as self.strength"):
        Hidden(1.0).get_config()
