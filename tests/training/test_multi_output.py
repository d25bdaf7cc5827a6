"""Models with several outputs, as Keras trains them: a loss per output (one for all, a list
or a dict), loss_weights, metrics per output named "<output>_<metric>", targets as a list or
a dict by output name; the total gradient equals finite differences of the weighted sum;
save/load keeps it all."""

import numpy as np
import pytest

import npconv
from npconv import layers
from tests.finite_differences import central_differences


def _model(dtype=None, seed=0):
    npconv.set_random_seed(seed)
    a = npconv.Input((4,), name="a")
    b = npconv.Input((2,), name="b")
    h = layers.Dense(6, activation="tanh", dtype=dtype)(layers.Concatenate()([a, b]))
    cls = layers.Dense(3, activation="softmax", name="cls", dtype=dtype)(h)
    reg = layers.Dense(1, name="reg", dtype=dtype)(h)
    return npconv.Model([a, b], [cls, reg])


def _data(n=40, seed=1):
    rng = np.random.default_rng(seed)
    xa, xb = rng.random((n, 4)), rng.random((n, 2))
    return [xa, xb], [rng.integers(0, 3, n), (xa.sum(1) - xb.sum(1))[:, None]]


COMPILE = dict(loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
               loss_weights={"cls": 1.0, "reg": 0.5},
               metrics={"cls": ["accuracy"], "reg": ["mae"]})


def test_logs_name_each_output_and_the_loss_is_the_weighted_sum():
    model = _model()
    model.compile("sgd", **COMPILE)
    x, y = _data()
    history = model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=0)
    assert list(history.history) == [
        "loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae",
        "val_loss", "val_cls_loss", "val_reg_loss", "val_cls_accuracy", "val_reg_mae"]
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    p_cls, p_reg = model.predict(x, verbose=0)
    ce = -np.mean(np.log(np.clip(p_cls[np.arange(40), y[0]], 1e-7, 1)))
    mse = np.mean((p_reg - y[1]) ** 2)
    assert result["cls_loss"] == pytest.approx(ce, rel=1e-6)
    assert result["reg_loss"] == pytest.approx(mse, rel=1e-6)
    assert result["loss"] == pytest.approx(ce + 0.5 * mse, rel=1e-6)
    assert result["cls_accuracy"] == np.mean(np.argmax(p_cls, 1) == y[0])
    assert model.evaluate(x, y, verbose=0) == list(result.values())


def test_targets_by_name_a_list_of_losses_and_one_loss_for_all():
    x, y = _data()
    runs = []
    for y_form, loss in ((y, ["sparse_categorical_crossentropy", "mse"]),
                         ({"reg": y[1], "cls": y[0]}, COMPILE["loss"])):
        model = _model()
        model.compile("sgd", loss=loss)
        runs.append(model.fit({"a": x[0], "b": x[1]}, y_form, epochs=1, batch_size=8,
                              shuffle=False, verbose=0).history)
    assert runs[0] == runs[1]
    model = _model()
    model.compile("sgd", "mse")  # Keras: the same loss for every output
    assert [loss.name for loss in model.loss.losses] == ["mean_squared_error"] * 2


def test_the_gradient_is_that_of_the_weighted_sum():
    model = _model(dtype="float64")
    model.compile("sgd", **COMPILE)
    x, y = _data(n=6)
    x = [a.astype(np.float64) for a in x]
    out = model.forward(x, training=True)
    _, d_out = model.loss.forward_backward(y, out)
    model.backward(d_out)
    kernel = model.get_layer(index=3).kernel  # the shared trunk's Dense
    numeric = central_differences(lambda: model.loss(y, model.forward(x)), kernel.value, 1e-6)
    np.testing.assert_allclose(kernel.grad, numeric, rtol=1e-6, atol=1e-9)


def test_an_output_without_a_loss_is_not_trained():
    model = _model()
    model.compile("sgd", loss={"cls": "sparse_categorical_crossentropy"})
    x, y = _data()
    reg_before = [w.copy() for w in model.get_layer("reg").get_weights()]
    history = model.fit(x, {"cls": y[0], "reg": y[1]}, epochs=1, batch_size=8, verbose=0)
    assert "reg_loss" not in history.history and "cls_loss" in history.history
    for before, after in zip(reg_before, model.get_layer("reg").get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)


def test_save_and_load_keep_the_losses_weights_and_metrics(tmp_path):
    model = _model()
    model.compile("adam", **COMPILE)
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "two_heads.npconv")
    loaded = npconv.models.load_model(tmp_path / "two_heads.npconv")
    assert loaded.loss.loss_weights == [1.0, 0.5]
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    h1 = model.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0).history
    h2 = loaded.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0).history
    assert h1 == h2


def test_what_does_not_fit_is_named():
    model = _model()
    x, y = _data()
    with pytest.raises(ValueError, match=r"losses for each of the 2 outputs \['cls', 'reg'\]"):
        model.compile("sgd", ["mse"] * 3)
    with pytest.raises(ValueError, match=r"unknown keys \['out'\]"):
        model.compile("sgd", {"out": "mse"})
    with pytest.raises(ValueError, match="one entry per output"):
        model.compile("sgd", "mse", metrics=["mae", "mae", "mae"])
    with pytest.raises(ValueError, match="finite numbers"):
        model.compile("sgd", "mse", loss_weights=[1.0, float("nan")])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"targets for each of the 2 outputs"):
        model.fit(x, y[0], verbose=0)
    with pytest.raises(ValueError, match=r"output names \['cls', 'reg'\]. Received keys "):
        model.fit(x, {"cls": y[0]}, verbose=0)
    with pytest.raises(ValueError, match="class_weight is for a model with one output"):
        model.fit(x, y, class_weight={0: 2.0}, verbose=0)
    single = npconv.Sequential([npconv.Input((3,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="loss_weights weigh the losses of several outputs"):
        single.compile("sgd", "mse", loss_weights=[0.5])
