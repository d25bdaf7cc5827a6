"""Keras 3's other metrics in use: the loss metrics against their loss functions, Keras's
string names in compile, the names fit logs them under ("f1_score", "mean_io_u",
"r2_score", "true_positives", ...), evaluate against the metric run on the predictions,
compile's refusal of per-class results, a compiled model saved and loaded with each."""

import json

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv import metrics as public_metrics
from npconv.io import load_model
from npconv.random import set_random_seed
from npconv.training import losses, metrics

# ------------------------------------------------------------------- loss metrics
LOSS_METRICS = [
    (metrics.BinaryCrossentropy, losses.binary_crossentropy, "binary_crossentropy", {}),
    (metrics.BinaryCrossentropy, losses.binary_crossentropy, "binary_crossentropy",
     {"from_logits": True, "label_smoothing": 0.1}),
    (metrics.CategoricalCrossentropy, losses.categorical_crossentropy,
     "categorical_crossentropy", {"label_smoothing": 0.2}),
    (metrics.SparseCategoricalCrossentropy, losses.sparse_categorical_crossentropy,
     "sparse_categorical_crossentropy", {"from_logits": True}),
    (metrics.KLDivergence, losses.kl_divergence, "kl_divergence", {}),
    (metrics.Poisson, losses.poisson, "poisson", {}),
    (metrics.Hinge, losses.hinge, "hinge", {}),
    (metrics.SquaredHinge, losses.squared_hinge, "squared_hinge", {}),
    (metrics.CategoricalHinge, losses.categorical_hinge, "categorical_hinge", {}),
    (metrics.LogCoshError, losses.log_cosh, "logcosh", {}),
]


def loss_metric_data(rng, cls):
    probs = rng.dirichlet(np.ones(4), size=6)
    labels = rng.integers(0, 4, 6)
    if cls is metrics.SparseCategoricalCrossentropy:
        return labels, rng.normal(size=(6, 4))
    if cls in (metrics.CategoricalCrossentropy, metrics.CategoricalHinge):
        return np.eye(4)[labels], probs
    return (rng.random((6, 4)) < 0.5).astype(float), 0.05 + 0.9 * rng.random((6, 4))


@pytest.mark.parametrize("cls, fn, name, options", LOSS_METRICS)
def test_loss_metrics_are_the_weighted_mean_of_the_loss_over_batches(cls, fn, name, options):
    rng = np.random.default_rng(0)
    m = cls(**options)
    assert m.name == name
    values, weights = [], []
    for _ in range(3):
        y_true, y_pred = loss_metric_data(rng, cls)
        w = rng.uniform(0, 2, 6)
        m.update_state(y_true, y_pred, sample_weight=w)
        values.append(fn(y_true, y_pred, **options))
        weights.append(w)
    values, weights = np.concatenate(values), np.concatenate(weights)
    assert m.result() == pytest.approx(np.sum(values * weights) / np.sum(weights), rel=1e-12)
    config = json.loads(json.dumps(m.get_config()))
    again = cls.from_config(config)
    assert again.get_config() == config and again.name == name
    m.reset_state()
    assert m.result() == 0.0


def test_loss_metrics_keras_documented_values():
    def run(m, yt, yp, sw=None):
        m.update_state(np.array(yt, float), np.array(yp, float), sample_weight=sw)
        return m.result()

    yt, yp = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    assert run(metrics.KLDivergence(), yt, yp) == pytest.approx(0.45814306, rel=1e-6)
    assert run(metrics.KLDivergence(), yt, yp, [1, 0]) == pytest.approx(0.9162892, rel=1e-6)
    assert run(metrics.BinaryCrossentropy(), yt, yp) == pytest.approx(0.81492424, rel=1e-6)
    assert run(metrics.BinaryCrossentropy(), yt, yp, [1, 0]) == pytest.approx(0.9162905,
                                                                               rel=1e-6)
    assert run(metrics.Hinge(), yt, yp) == pytest.approx(1.3)
    assert run(metrics.SquaredHinge(), yt, yp, [1, 0]) == pytest.approx(1.46)
    assert run(metrics.CategoricalHinge(), yt, yp) == pytest.approx(1.4)
    assert run(metrics.Poisson(), yt, [[1, 1], [0, 0]]) == pytest.approx(0.49999997, rel=1e-6)
    assert run(metrics.LogCoshError(), yt, [[1, 1], [0, 0]], [1, 0]) == pytest.approx(
        0.21689045, rel=1e-6)
    cce = run(metrics.CategoricalCrossentropy(), [[0, 1, 0], [0, 0, 1]],
              [[0.05, 0.95, 0], [0.1, 0.8, 0.1]], np.array([0.3, 0.7]))
    assert cce == pytest.approx(1.6271976, rel=1e-6)
    scce = metrics.SparseCategoricalCrossentropy()
    scce.update_state([1, 2], np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]]))
    assert scce.result() == pytest.approx(1.1769392, rel=1e-6)
    with pytest.raises(ValueError, match=r"CategoricalCrossentropy: only axis=-1 \(the last "
                                         r"axis\) is supported\. Received: axis=1"):
        metrics.CategoricalCrossentropy(axis=1)
    with pytest.raises(TypeError, match=r"BinaryCrossentropy: expected from_logits to be a "
                                        r"bool"):
        metrics.BinaryCrossentropy(from_logits="yes")


# ----------------------------------------------------------------- names in compile
@pytest.mark.parametrize("name, cls", [
    ("f1_score", metrics.F1Score), ("f_beta_score", metrics.FBetaScore),
    ("r2_score", metrics.R2Score), ("true_positives", metrics.TruePositives),
    ("false_positives", metrics.FalsePositives), ("true_negatives", metrics.TrueNegatives),
    ("false_negatives", metrics.FalseNegatives), ("binary_io_u", metrics.BinaryIoU),
    ("binary_crossentropy", metrics.BinaryCrossentropy), ("bce", metrics.BinaryCrossentropy),
    ("categorical_crossentropy", metrics.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", metrics.SparseCategoricalCrossentropy),
    ("kl_divergence", metrics.KLDivergence), ("poisson", metrics.Poisson),
    ("hinge", metrics.Hinge), ("squared_hinge", metrics.SquaredHinge),
    ("categorical_hinge", metrics.CategoricalHinge), ("log_cosh_error", metrics.LogCoshError)])
def test_keras_string_names(name, cls):
    m = metrics.get(name)
    assert type(m) is cls and m.name == name  # named as asked, as npconv's other names
    assert type(metrics.get(cls.__name__)) is cls
    assert getattr(public_metrics, cls.__name__) is cls


@pytest.mark.parametrize("name, needs", [
    ("mean_io_u", "MeanIoU(num_classes=...)"), ("IoU", "IoU(num_classes=..., "
                                                        "target_class_ids=...)"),
    ("precision_at_recall", "PrecisionAtRecall(recall=...)"),
    ("SpecificityAtSensitivity", "SpecificityAtSensitivity(sensitivity=...)")])
def test_names_of_metrics_that_need_arguments_say_so(name, needs):
    with pytest.raises(ValueError, match=rf"metrics\.get: {name!r} is .*: pass "
                                         rf"{needs.replace('(', '[(]').replace(')', '[)]')}"):
        metrics.get(name)


# -------------------------------------------------------------- fit, evaluate, saving
def segmentation_model():
    model = npconv.Sequential([
        layers.Input((8, 8, 2)), layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.Conv2D(3, 1, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=[metrics.MeanIoU(num_classes=3, sparse_y_pred=False), "accuracy"])
    return model


def segmentation_data(rng, n=12):
    x = rng.normal(size=(n, 8, 8, 2)).astype(np.float32)
    labels = (x[..., 0] > 0.3).astype(np.int64) + (x[..., 1] > 0.8)
    return x, labels


def test_mean_iou_in_fit_logs_and_evaluate(tmp_path):
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = segmentation_data(rng)
    model = segmentation_model()  # the U-Net examples' MeanIoU on per-pixel softmax scores
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0, validation_data=(x, y))
    assert {"mean_io_u", "val_mean_io_u", "accuracy"} <= set(history.history)
    assert len(history.history["mean_io_u"]) == 2
    results = model.evaluate(x, y, batch_size=5, verbose=0, return_dict=True)
    direct = metrics.MeanIoU(num_classes=3, sparse_y_pred=False)
    direct.update_state(y, model.predict(x, verbose=0))
    assert results["mean_io_u"] == pytest.approx(direct.result(), rel=1e-12)
    path = tmp_path / "seg.npconv"
    model.save(path)
    again = load_model(path)
    assert [type(m).__name__ for m in again._metric_specs[:1]] == ["MeanIoU"]
    assert again._metric_specs[0].get_config() == model._metric_specs[0].get_config()
    assert again.evaluate(x, y, batch_size=5, verbose=0, return_dict=True) == results


def classifier(metrics_list, loss="binary_crossentropy", outputs=3, activation="sigmoid"):
    model = npconv.Sequential([layers.Input((4,)), layers.Dense(outputs,
                                                                 activation=activation)])
    model.compile("adam", loss, metrics=metrics_list)
    return model


def test_classification_metrics_in_fit_under_keras_names(tmp_path):
    set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, :3] + 0.3 * rng.normal(size=(40, 3)) > 0).astype(np.float32)
    made = [metrics.F1Score(average="macro", threshold=0.5),
            metrics.FBetaScore(average="weighted", beta=2.0, threshold=0.5),
            "true_positives", metrics.FalseNegatives(thresholds=0.3),
            metrics.PrecisionAtRecall(0.6), metrics.RecallAtPrecision(0.6),
            metrics.SensitivityAtSpecificity(0.5), metrics.SpecificityAtSensitivity(0.5),
            metrics.BinaryIoU(), "binary_crossentropy", metrics.Hinge()]
    model = classifier(made)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25)
    names = ["f1_score", "fbeta_score", "true_positives", "false_negatives",
             "precision_at_recall", "recall_at_precision", "sensitivity_at_specificity",
             "specificity_at_sensitivity", "binary_io_u", "binary_crossentropy", "hinge"]
    assert list(history.history) == ["loss", *names, "val_loss", *(f"val_{n}" for n in names)]
    results = model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    for name, spec in zip(names, made, strict=True):
        fresh = metrics.get(spec) if isinstance(spec, str) else type(spec).from_config(
            spec.get_config())
        fresh.update_state(y, pred)
        assert results[name] == pytest.approx(fresh.result(), rel=1e-12), name
    path = tmp_path / "clf.npconv"
    model.save(path)
    again = load_model(path)
    assert again.evaluate(x, y, batch_size=7, verbose=0, return_dict=True) == results


def test_r2_score_and_regression_metrics_in_fit(tmp_path):
    set_random_seed(2)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 4)).astype(np.float32)
    y = x[:, :2] * [1.0, -2.0] + 0.1 * rng.normal(size=(32, 2)).astype(np.float32)
    model = classifier(["r2_score", metrics.R2Score(class_aggregation="variance_weighted_average",
                                                     name="r2_vw"), metrics.LogCoshError()],
                       loss="mse", outputs=2, activation=None)
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert set(history.history) == {"loss", "r2_score", "r2_vw", "logcosh"}
    assert history.history["r2_score"][-1] > history.history["r2_score"][0]
    path = tmp_path / "reg.npconv"
    model.save(path)
    again = load_model(path)
    assert again.evaluate(x, y, verbose=0, return_dict=True) == model.evaluate(
        x, y, verbose=0, return_dict=True)
