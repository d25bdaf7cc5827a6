"""compile(weighted_metrics=...), Keras 3's: weighted by sample_weight (and class_weight's
weights) in fit, evaluate, validation and the *_on_batch methods, while metrics= stay
unweighted; the log names ("weighted_<name>" where metrics already has the name), several
outputs, zero weights, save/load, errors. Expected values are weighted means computed by hand
from the model's predictions (learning rate 0 where fit must not move the weights)."""

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.layers import Dense, Input
from npconv.models import Sequential
from npconv.training import metrics


def _model(lr=0.0, seed=0, **compile_kwargs):
    npconv.set_random_seed(seed)
    model = Sequential([Input((4,)), Dense(3, activation="softmax", dtype="float64")])
    model.compile(optimizer=npconv.optimizers.SGD(learning_rate=lr),
                  loss="sparse_categorical_crossentropy", **compile_kwargs)
    return model


def _data(n=30, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), rng.integers(0, 3, n), rng.uniform(0.0, 3.0, n)


def _matches(model, x, y):
    return (np.argmax(model.predict(x, verbose=0), axis=1) == y).astype(np.float64)


def _weighted_mean(values, w):
    return float(np.sum(values * w) / np.sum(w))


def test_evaluate_weighs_weighted_metrics_only():
    x, y, w = _data()
    model = _model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    result = model.evaluate(x, y, sample_weight=w, batch_size=7, verbose=0, return_dict=True)
    assert list(result) == ["loss", "accuracy", "weighted_accuracy"]
    assert model.metrics_names == ["loss", "accuracy", "weighted_accuracy"]
    hits = _matches(model, x, y)
    assert _weighted_mean(hits, w) != pytest.approx(hits.mean())  # the weights matter here
    assert result["accuracy"] == pytest.approx(hits.mean(), rel=1e-12)
    assert result["weighted_accuracy"] == pytest.approx(_weighted_mean(hits, w), rel=1e-12)
    # without weights both are the plain mean
    plain = model.evaluate(x, y, verbose=0, return_dict=True)
    assert plain["weighted_accuracy"] == pytest.approx(hits.mean(), rel=1e-12)
    assert model.evaluate(x, y, sample_weight=w, verbose=0) == pytest.approx(
        list(result.values()), rel=1e-12)


def test_a_weighted_metric_alone_keeps_its_name():
    x, y, w = _data()
    model = _model(weighted_metrics=["accuracy", "sparse_top_k_categorical_accuracy"])
    result = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert list(result) == ["loss", "accuracy", "sparse_top_k_categorical_accuracy"]
    assert result["accuracy"] == pytest.approx(_weighted_mean(_matches(model, x, y), w))
    assert result["sparse_top_k_categorical_accuracy"] == 1.0  # k=5 > 3 classes


def test_on_batch_methods_and_class_weight():
    x, y, w = _data()
    model = _model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    hits = _matches(model, x, y)  # learning rate 0: the step does not change them
    r = model.test_on_batch(x, y, sample_weight=w, return_dict=True)
    assert r["accuracy"] == pytest.approx(hits.mean())
    assert r["weighted_accuracy"] == pytest.approx(_weighted_mean(hits, w), rel=1e-12)
    r = model.train_on_batch(x, y, sample_weight=w, return_dict=True)
    assert r["weighted_accuracy"] == pytest.approx(_weighted_mean(hits, w), rel=1e-12)
    class_weight = {0: 0.5, 1: 3.0}  # class 2 weighs 1
    cw = np.array([class_weight.get(int(c), 1.0) for c in y])
    r = model.train_on_batch(x, y, class_weight=class_weight, return_dict=True)
    assert r["accuracy"] == pytest.approx(hits.mean())
    assert r["weighted_accuracy"] == pytest.approx(_weighted_mean(hits, cw), rel=1e-12)
    history = model.fit(x, y, class_weight=class_weight, batch_size=8, verbose=0)
    assert history.history["weighted_accuracy"][0] == pytest.approx(_weighted_mean(hits, cw),
                                                                    rel=1e-12)
    assert history.history["accuracy"][0] == pytest.approx(hits.mean())


def test_fit_and_its_validation_pass_with_sample_weights():
    x, y, w = _data(40)
    xv, yv, wv = _data(20, seed=5)
    model = _model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    history = model.fit(x, y, sample_weight=w, validation_data=(xv, yv, wv), batch_size=6,
                        epochs=2, shuffle=True, seed=3, verbose=0)
    assert list(history.history) == ["loss", "accuracy", "weighted_accuracy", "val_loss",
                                     "val_accuracy", "val_weighted_accuracy"]
    hits, val_hits = _matches(model, x, y), _matches(model, xv, yv)
    h = history.history
    assert h["weighted_accuracy"] == pytest.approx([_weighted_mean(hits, w)] * 2, rel=1e-12)
    assert h["accuracy"] == pytest.approx([hits.mean()] * 2, rel=1e-12)
    assert h["val_weighted_accuracy"] == pytest.approx([_weighted_mean(val_hits, wv)] * 2,
                                                       rel=1e-12)
    assert h["val_accuracy"] == pytest.approx([val_hits.mean()] * 2, rel=1e-12)
    # validation_split carries the last samples' weights into the validation pass
    history = model.fit(x, y, sample_weight=w, validation_split=0.25, batch_size=6, verbose=0)
    assert history.history["val_weighted_accuracy"][0] == pytest.approx(
        _weighted_mean(hits[30:], w[30:]), rel=1e-12)


def test_batches_from_a_generator_carry_their_weights():
    x, y, w = _data()
    model = _model(weighted_metrics=["accuracy"])
    batches = [(x[i:i + 8], y[i:i + 8], w[i:i + 8]) for i in range(0, 30, 8)]
    result = model.evaluate(iter(batches), verbose=0, return_dict=True)
    assert result["accuracy"] == pytest.approx(_weighted_mean(_matches(model, x, y), w))


def test_zero_weights():
    x, y, w = _data()
    w[::2] = 0.0
    model = _model(weighted_metrics=["accuracy", "sparse_categorical_crossentropy"])
    result = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    kept = slice(1, None, 2)
    subset = model.evaluate(x[kept], y[kept], sample_weight=w[kept], verbose=0,
                            return_dict=True)
    assert result["accuracy"] == pytest.approx(subset["accuracy"], rel=1e-12)
    ce = "sparse_categorical_crossentropy"
    assert result[ce] == pytest.approx(subset[ce], rel=1e-12)
    assert result[ce] != pytest.approx(model.evaluate(x, y, verbose=0, return_dict=True)[ce])
    none = model.evaluate(x, y, sample_weight=np.zeros(30), verbose=0, return_dict=True)
    assert none["accuracy"] == 0.0 and none[ce] == 0.0  # nothing weighed: 0, as Keras


def test_names_taken_twice():
    x, y, w = _data()
    model = _model(metrics=["accuracy", "accuracy"],
                   weighted_metrics=["accuracy", "accuracy", "sparse_top_k_categorical_accuracy"])
    result = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    assert list(result) == ["loss", "accuracy", "accuracy_1", "weighted_accuracy",
                            "weighted_accuracy_1", "sparse_top_k_categorical_accuracy"]
    assert result["accuracy_1"] == result["accuracy"]
    assert result["weighted_accuracy_1"] == result["weighted_accuracy"]
    # model.metrics: the loss tracker, then the metrics under their log names
    assert [m.name for m in model.metrics] == list(result)
    assert [float(m.result()) for m in model.metrics] == list(result.values())


def test_metric_instances_and_auc():
    x, y, w = _data(60)
    y2 = (y == 1).astype(np.float64)[:, None]
    npconv.set_random_seed(0)
    model = Sequential([Input((4,)), Dense(1, activation="sigmoid", dtype="float64")])
    auc = metrics.AUC(name="auc")
    model.compile(optimizer=npconv.optimizers.SGD(learning_rate=0.0), loss="binary_crossentropy",
                  metrics=["auc"], weighted_metrics=[auc])
    result = model.evaluate(x, y2, sample_weight=w, batch_size=16, verbose=0, return_dict=True)
    assert list(result) == ["loss", "auc", "weighted_auc"]
    pred = model.predict(x, verbose=0)
    direct, plain = metrics.AUC(), metrics.AUC()
    direct.update_state(y2, pred, sample_weight=w)
    plain.update_state(y2, pred)
    assert result["weighted_auc"] == pytest.approx(direct.result(), rel=1e-12)
    assert result["auc"] == pytest.approx(plain.result(), rel=1e-12)
    assert result["weighted_auc"] != pytest.approx(result["auc"])
    assert model.metrics[2].metric is auc  # the instance given to compile holds the counts
    assert auc.result() == result["weighted_auc"]


def _two_outputs(seed=0):
    npconv.set_random_seed(seed)
    a = npconv.Input((4,), name="a")
    h = layers.Dense(6, activation="tanh", dtype="float64")(a)
    cls = layers.Dense(3, activation="softmax", name="cls", dtype="float64")(h)
    reg = layers.Dense(1, name="reg", dtype="float64")(h)
    return npconv.Model(a, [cls, reg])


@pytest.mark.parametrize("form", ["dict", "list"])
def test_several_outputs(form):
    x, y, w = _data(36)
    r = (x[:, :1] * 2.0)
    model = _two_outputs()
    weighted = ({"cls": ["accuracy"], "reg": ["mae", "mse"]} if form == "dict"
                else [["accuracy"], ["mae", "mse"]])
    model.compile(npconv.optimizers.SGD(learning_rate=0.0),
                  loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  metrics={"reg": ["mae"]}, weighted_metrics=weighted)
    result = model.evaluate(x, [y, r], sample_weight=w, batch_size=10, verbose=0,
                            return_dict=True)
    assert list(result) == ["loss", "cls_loss", "reg_loss", "reg_mae", "cls_accuracy",
                            "reg_weighted_mae", "reg_mse"]
    p_cls, p_reg = model.predict(x, verbose=0)
    hits = (np.argmax(p_cls, 1) == y).astype(np.float64)
    abs_err, sq_err = np.abs(p_reg - r)[:, 0], ((p_reg - r) ** 2)[:, 0]
    assert result["cls_accuracy"] == pytest.approx(_weighted_mean(hits, w), rel=1e-12)
    assert result["reg_mae"] == pytest.approx(abs_err.mean(), rel=1e-12)
    assert result["reg_weighted_mae"] == pytest.approx(_weighted_mean(abs_err, w), rel=1e-12)
    assert result["reg_mse"] == pytest.approx(_weighted_mean(sq_err, w), rel=1e-12)
    history = model.fit(x, [y, r], sample_weight=w, validation_data=(x, [y, r], w),
                        batch_size=9, verbose=0)
    assert history.history["reg_weighted_mae"][0] == pytest.approx(result["reg_weighted_mae"])
    assert history.history["val_reg_mse"][0] == pytest.approx(result["reg_mse"])


def test_save_and_load_keep_weighted_metrics(tmp_path):
    x, y, w = _data()
    model = _model(metrics=["accuracy"],
                   weighted_metrics=["accuracy", metrics.AUC(num_thresholds=50, name="a50")])
    y1 = np.eye(3)[y]
    model.compile(npconv.optimizers.SGD(learning_rate=0.0), loss="categorical_crossentropy",
                  metrics=["accuracy"],
                  weighted_metrics=["accuracy", metrics.AUC(num_thresholds=50, name="a50")])
    expected = model.evaluate(x, y1, sample_weight=w, verbose=0, return_dict=True)
    model.save(tmp_path / "m.npconv")
    loaded = npconv.models.load_model(tmp_path / "m.npconv")
    got = loaded.evaluate(x, y1, sample_weight=w, verbose=0, return_dict=True)
    assert list(got) == ["loss", "accuracy", "weighted_accuracy", "a50"]
    assert got == pytest.approx(expected, rel=1e-12)
    assert loaded.metrics[3].metric.num_thresholds == 50
    two = _two_outputs()
    two.compile("sgd", loss=["sparse_categorical_crossentropy", "mse"],
                weighted_metrics={"reg": ["mae"]})
    two.save(tmp_path / "two.npconv")
    again = npconv.models.load_model(tmp_path / "two.npconv")
    r = x[:, :1]
    assert list(again.evaluate(x, [y, r], verbose=0, return_dict=True)) == [
        "loss", "cls_loss", "reg_loss", "reg_mae"]


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"compile: weighted_metrics: metrics.get: unknown "
                                         r"metric 'acuracy'"):
        _model(weighted_metrics=["acuracy"])
    with pytest.raises(ValueError, match=r"compile: metrics: metrics.get: unknown metric"):
        _model(metrics=["acuracy"])
    auc = metrics.AUC()
    with pytest.raises(ValueError, match=r"the same AUC instance \(name 'auc'\) is given twice"):
        _model(metrics=[auc], weighted_metrics=[auc])
    model = _two_outputs()
    loss = ["sparse_categorical_crossentropy", "mse"]
    with pytest.raises(ValueError, match=r"weighted_metrics is keyed by output name; the "
                                         r"outputs are \['cls', 'reg'\]. Received unknown "
                                         r"keys \['clss'\]"):
        model.compile("sgd", loss=loss, weighted_metrics={"clss": ["accuracy"]})
    with pytest.raises(ValueError, match=r"expected weighted_metrics as a list with one entry "
                                         r"per output"):
        model.compile("sgd", loss=loss, weighted_metrics=["accuracy"])
    with pytest.raises(ValueError, match=r"compile: weighted_metrics: .*unknown metric 'mea'"):
        model.compile("sgd", loss=loss, weighted_metrics={"reg": ["mea"]})
    one = _model()
    with pytest.raises(ValueError, match=r"weighted_metrics is keyed by output name"):
        one.compile("sgd", loss="mse", weighted_metrics={"nope": ["mae"]})


def test_class_weight_does_not_weigh_the_validation_split():
    # Keras 3 splits (x, y, sample_weight) off first and applies class_weight to the
    # training batches only: val_loss and val_weighted_* were weighted by the class weights
    x, y, w = _data(40)
    class_weight = {0: 1.0, 1: 5.0, 2: 0.5}
    model = _model(metrics=["accuracy"], weighted_metrics=["accuracy"])
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0, validation_split=0.25,
                        class_weight=class_weight)
    plain = model.evaluate(x[30:], y[30:], batch_size=10, verbose=0, return_dict=True)
    assert history.history["val_loss"] == [plain["loss"]]
    assert history.history["val_weighted_accuracy"] == [plain["weighted_accuracy"]]
    assert history.history["val_accuracy"] == [plain["accuracy"]]
    # an explicit sample_weight is split with the samples, as Keras
    history = model.fit(x, y, batch_size=10, epochs=1, verbose=0, validation_split=0.25,
                        sample_weight=w)
    weighted = model.evaluate(x[30:], y[30:], sample_weight=w[30:], batch_size=10, verbose=0,
                              return_dict=True)
    assert history.history["val_weighted_accuracy"] == [weighted["weighted_accuracy"]]
