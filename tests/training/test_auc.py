"""AUC against Keras's threshold-bucket counting written out as loops (the reference), against
hand areas, and against scikit-learn's roc_auc_score / average_precision_score with many
thresholds; accumulation over batches, sample and label weights, multi_label, from_logits,
by name and instance in compile, config round trip, errors."""

import math

import numpy as np
import pytest

import npconv
from npconv import metrics as public_metrics
from npconv.layers import Dense, Input
from npconv.models.sequential import Sequential
from npconv.random import set_random_seed
from npconv.training import metrics

EPS = 1e-7


# --------------------------------------------------------------- the loop reference
def keras_thresholds(num_thresholds=200, thresholds=None):
    if thresholds is not None:
        inner = sorted(float(t) for t in thresholds)
    else:
        inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
    ends = [0.0, *inner, 1.0]
    n = len(ends)
    evenly = all(abs(ends[i] - i / (n - 1)) <= EPS + 1e-8 * abs(i / (n - 1))
                 for i in range(n))
    return [0.0 - EPS, *inner, 1.0 + EPS], evenly


def reference_counts(y_true, y_pred, weights, thresholds, evenly):
    """Keras's update_confusion_matrix_variables, one entry and one threshold at a time: the
    bucket ceil(p * (T - 1)) - 1 (at least 0) of p clipped to [0, 1] for evenly spaced
    thresholds (in float32, as Keras computes it), else p > threshold."""
    n_t = len(thresholds)
    tp, fp, tn, fn = ([0.0] * n_t for _ in range(4))
    for t, p, w in zip(y_true, y_pred, weights, strict=True):
        if evenly:
            clipped = np.float32(min(max(float(p), 0.0), 1.0))
            bucket = max(math.ceil(float(clipped * np.float32(n_t - 1))) - 1, 0)
        for i in range(n_t):
            predicted = bucket >= i if evenly else float(p) > thresholds[i]
            if t != 0:
                if predicted:
                    tp[i] += w
                else:
                    fn[i] += w
            elif predicted:
                fp[i] += w
            else:
                tn[i] += w
    return tp, fp, tn, fn


def div(a, b):
    return a / b if b != 0 else 0.0


def reference_area(counts, curve, method):
    tp, fp, tn, fn = counts
    n = len(tp)
    if curve == "PR" and method == "interpolation":  # Keras's interpolate_pr_auc
        total = 0.0
        for i in range(n - 1):
            dtp = tp[i] - tp[i + 1]
            p0, p1 = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
            slope = div(dtp, max(p0 - p1, 0))
            intercept = tp[i + 1] - slope * p1
            ratio = div(p0, max(p1, 0)) if p0 > 0 and p1 > 0 else 1.0
            total += div(slope * (dtp + intercept * math.log(ratio)), max(tp[i + 1] + fn[i + 1], 0))
        return total
    recall = [div(tp[i], tp[i] + fn[i]) for i in range(n)]
    if curve == "ROC":
        x, y = [div(fp[i], fp[i] + tn[i]) for i in range(n)], recall
    else:
        x, y = recall, [div(tp[i], tp[i] + fp[i]) for i in range(n)]
    total = 0.0
    for i in range(n - 1):
        h = {"interpolation": (y[i] + y[i + 1]) / 2, "minoring": min(y[i], y[i + 1]),
             "majoring": max(y[i], y[i + 1])}[method]
        total += (x[i] - x[i + 1]) * h
    return total


def reference_auc(y_true, y_pred, weights=None, num_thresholds=200, thresholds=None,
                  curve="ROC", method="interpolation"):
    y_true, y_pred = np.ravel(y_true), np.ravel(y_pred)
    weights = np.ones(len(y_pred)) if weights is None else np.ravel(weights)
    thr, evenly = keras_thresholds(num_thresholds, thresholds)
    return reference_area(reference_counts(y_true, y_pred, weights, thr, evenly), curve, method)


def data(n=300, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(rng.random(n) * 0.7 + 0.25 * y, 0, 1)
    if ties:  # values on and near the thresholds, and the ends
        p[:40] = np.round(p[:40] * 9) / 9
        p[40:44] = [0.0, 1.0, 0.0, 1.0]
    return y, p.astype(np.float32)


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("method", ["interpolation", "minoring", "majoring"])
@pytest.mark.parametrize("num_thresholds", [2, 3, 10, 200])
def test_matches_the_loop_reference(curve, method, num_thresholds):
    y, p = data(ties=True)
    m = metrics.AUC(num_thresholds=num_thresholds, curve=curve, summation_method=method)
    m.update_state(y, p)
    expected = reference_auc(y, p, num_thresholds=num_thresholds, curve=curve, method=method)
    assert m.result() == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("thresholds", [[0.3, 0.5, 0.9], [0.5], [0.25, 0.5, 0.75], [0.0, 1.0]])
@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_explicit_thresholds_match_the_reference(thresholds, curve):
    y, p = data(ties=True, seed=3)
    m = metrics.AUC(thresholds=thresholds, curve=curve)
    m.update_state(y, p)
    assert m.num_thresholds == len(thresholds) + 2
    assert m.thresholds[0] == -EPS and m.thresholds[-1] == 1 + EPS
    expected = reference_auc(y, p, thresholds=thresholds, curve=curve)
    assert m.result() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_confusion_counts_equal_the_reference_exactly():
    y, p = data(ties=True, seed=5)
    w = np.random.default_rng(2).integers(0, 4, len(y)).astype(np.float64)
    for kwargs in ({"num_thresholds": 17}, {"thresholds": [0.1, 0.45, 0.8]}):
        m = metrics.AUC(**kwargs)
        m.update_state(y, p, sample_weight=w)
        thr, evenly = keras_thresholds(kwargs.get("num_thresholds"), kwargs.get("thresholds"))
        tp, fp, tn, fn = reference_counts(y, p, w, thr, evenly)
        np.testing.assert_array_equal(m.true_positives, tp)
        np.testing.assert_array_equal(m.false_positives, fp)
        np.testing.assert_array_equal(m.true_negatives, tn)
        np.testing.assert_array_equal(m.false_negatives, fn)


def test_hand_area():
    # four distinct scores in four buckets: the ROC points are exact and the trapezoids give
    # the rank statistic: of the 4 (pos, neg) pairs, 3 are ordered right -> 0.75
    m = metrics.AUC()
    m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert m.result() == pytest.approx(0.75, abs=1e-12)
    perfect = metrics.AUC(summation_method="minoring")
    perfect.update_state([0, 1], [0.2, 0.9])
    assert perfect.result() == pytest.approx(1.0)
    assert metrics.AUC().result() == 0.0  # before any update


def test_against_sklearn_with_many_thresholds():
    sk = pytest.importorskip("sklearn.metrics")
    y, p = data(n=2000, seed=7)
    w = np.random.default_rng(4).random(len(y))
    roc = metrics.AUC(num_thresholds=20000)
    roc.update_state(y, p, sample_weight=w)
    assert roc.result() == pytest.approx(sk.roc_auc_score(y, p, sample_weight=w), abs=2e-4)
    pr = metrics.AUC(num_thresholds=20000, curve="PR")
    pr.update_state(y, p, sample_weight=w)
    expected = sk.average_precision_score(y, p, sample_weight=w)
    assert pr.result() == pytest.approx(expected, abs=2e-3)
    coarse = metrics.AUC()  # Keras's 200 thresholds: close, not equal
    coarse.update_state(y, p)
    assert coarse.result() == pytest.approx(sk.roc_auc_score(y, p), abs=5e-3)


def test_accumulates_over_batches_and_resets():
    y, p = data(seed=9)
    whole, parts = metrics.AUC(num_thresholds=50), metrics.AUC(num_thresholds=50)
    whole.update_state(y, p)
    for sl in (slice(0, 7), slice(7, 120), slice(120, None)):
        parts.update_state(y[sl], p[sl])
    np.testing.assert_array_equal(parts.true_positives, whole.true_positives)
    np.testing.assert_array_equal(parts.true_negatives, whole.true_negatives)
    assert parts.result() == whole.result()
    parts.reset_state()
    assert parts.result() == 0.0 and not parts.true_positives.any()
    parts.update_state(y[:50], p[:50])
    fresh = metrics.AUC(num_thresholds=50)
    fresh.update_state(y[:50], p[:50])
    assert parts.result() == fresh.result()


def test_sample_weights_repeat_and_drop_samples():
    y, p = data(n=60, seed=11)
    w = np.random.default_rng(0).integers(0, 3, len(y))
    weighted = metrics.AUC()
    weighted.update_state(y, p, sample_weight=w)
    repeated = metrics.AUC()
    repeated.update_state(np.repeat(y, w), np.repeat(p, w))
    assert weighted.result() == pytest.approx(repeated.result(), rel=1e-12)
    column = metrics.AUC()
    column.update_state(y[:, None], p[:, None], sample_weight=w[:, None])
    assert column.result() == pytest.approx(weighted.result(), rel=1e-12)
    with pytest.raises(ValueError, match=r"auc: expected sample_weight of shape \(60,\)"):
        weighted.update_state(y, p, sample_weight=np.ones(3))


def test_one_hot_targets_flatten_when_not_multi_label():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(12)
    labels = rng.integers(0, 3, 400)
    y = np.eye(3)[labels]
    logits = rng.standard_normal((400, 3)) + 1.5 * y
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = metrics.AUC()
    m.update_state(y, probs.astype(np.float32))
    assert m.result() == pytest.approx(reference_auc(y, probs.astype(np.float32)), rel=1e-12)
    many = metrics.AUC(num_thresholds=20000)
    many.update_state(y, probs)
    assert many.result() == pytest.approx(sk.roc_auc_score(y.ravel(), probs.ravel()), abs=2e-4)
    # sample weights are per sample: each weighs its row's three entries
    w = rng.random(400)
    mw = metrics.AUC()
    mw.update_state(y, probs.astype(np.float32), sample_weight=w)
    expected = reference_auc(y, probs.astype(np.float32), np.repeat(w, 3))
    assert mw.result() == pytest.approx(expected, rel=1e-12)


def test_multi_label_is_the_mean_of_the_labels_areas():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(13)
    y = rng.integers(0, 2, (500, 4))
    p = np.clip(rng.random((500, 4)) * 0.8 + 0.2 * y, 0, 1).astype(np.float32)
    for curve in ("ROC", "PR"):
        m = metrics.AUC(multi_label=True, curve=curve)
        m.update_state(y[:100], p[:100])
        m.update_state(y[100:], p[100:])
        per_label = [reference_auc(y[:, j], p[:, j], curve=curve) for j in range(4)]
        assert m.true_positives.shape == (200, 4)
        assert m.result() == pytest.approx(np.mean(per_label), rel=1e-12)
        weighted = metrics.AUC(multi_label=True, curve=curve, label_weights=[1, 0, 2, 1],
                               num_labels=4)
        weighted.update_state(y, p)
        expected = np.dot(per_label, [1, 0, 2, 1]) / 4
        assert weighted.result() == pytest.approx(expected, rel=1e-12)
    many = metrics.AUC(multi_label=True, num_thresholds=20000)
    many.update_state(y, p)
    assert many.result() == pytest.approx(sk.roc_auc_score(y, p, average="macro"), abs=2e-4)
    assert metrics.AUC(multi_label=True).result() == 0.0  # not built yet
    with pytest.raises(ValueError, match=r"auc: expected y_pred with 4 labels"):
        m.update_state(y[:, :3], p[:, :3])
    with pytest.raises(ValueError, match=r"multi_label=True expects y_pred of shape"):
        metrics.AUC(multi_label=True).update_state(y[:, 0], p[:, 0])


def test_label_weights_without_multi_label_weigh_each_entry():
    rng = np.random.default_rng(14)
    y = rng.integers(0, 2, (80, 3))
    p = rng.random((80, 3)).astype(np.float32)
    m = metrics.AUC(label_weights=[0.5, 0.0, 2.0])
    m.update_state(y, p)
    expected = reference_auc(y, p, np.tile([0.5, 0.0, 2.0], 80))
    assert m.result() == pytest.approx(expected, rel=1e-12)


def test_from_logits_applies_the_sigmoid():
    rng = np.random.default_rng(15)
    y = rng.integers(0, 2, 200)
    logits = (rng.standard_normal(200) * 2 + y).astype(np.float32)
    m = metrics.AUC(from_logits=True)
    m.update_state(y, logits)
    probs = (1 / (1 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    assert m.result() == pytest.approx(reference_auc(y, probs), rel=1e-12)
    plain = metrics.AUC()  # logits as probabilities: clipped to [0, 1], another area
    plain.update_state(y, logits)
    assert plain.result() != pytest.approx(m.result())


def test_by_name_class_and_config_round_trip():
    assert type(metrics.get("auc")) is metrics.AUC and metrics.get("auc").name == "auc"
    assert type(metrics.get("AUC")) is metrics.AUC
    assert public_metrics.AUC is metrics.AUC
    m = metrics.AUC(num_thresholds=7, curve="pr", summation_method="majoring", name="prauc",
                    multi_label=True, num_labels=2, label_weights=[1, 3], from_logits=True)
    config = m.get_config()
    assert config == {"num_thresholds": 7, "curve": "PR", "summation_method": "majoring",
                      "name": "prauc", "thresholds": None, "multi_label": True,
                      "num_labels": 2, "label_weights": [1.0, 3.0], "from_logits": True}
    assert metrics.AUC.from_config(config).get_config() == config
    t = metrics.AUC(thresholds=[0.7, 0.2])
    assert t.get_config()["thresholds"] == [0.2, 0.7]
    assert metrics.AUC.from_config(t.get_config()).thresholds == t.thresholds


def test_in_compile_fit_and_evaluate_by_name_and_instance():
    set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + 0.5 * rng.standard_normal(96) > 0).astype(np.float32)[:, None]
    model = Sequential([Input(shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["auc", metrics.AUC(curve="PR", name="pr_auc")])
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert len(history.history["auc"]) == 2 and len(history.history["pr_auc"]) == 2
    results = model.evaluate(x, y, batch_size=10, verbose=0, return_dict=True)
    pred = np.asarray(model.predict(x, verbose=0))
    assert 0.5 < results["auc"] < 1
    assert results["auc"] == pytest.approx(reference_auc(y, pred), rel=1e-12)
    assert results["pr_auc"] == pytest.approx(reference_auc(y, pred, curve="PR"), rel=1e-12)


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match=r"AUC: expected curve to be one of \['ROC', 'PR'\]. "
                                         r"Received: curve='PRGAIN'"):
        metrics.AUC(curve="PRGAIN")
    with pytest.raises(ValueError, match=r"AUC: expected summation_method.*'careful'"):
        metrics.AUC(summation_method="careful")
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match=r"AUC: expected num_thresholds to be an int > 1"):
            metrics.AUC(num_thresholds=bad)
    for bad in ([], [0.5, 1.5], 0.5, ["a"]):
        with pytest.raises(ValueError, match=r"AUC: expected thresholds"):
            metrics.AUC(thresholds=bad)
    with pytest.raises(ValueError, match=r"num_labels is needed only when multi_label"):
        metrics.AUC(num_labels=3)
    with pytest.raises(ValueError, match=r"expected 3 label_weights"):
        metrics.AUC(multi_label=True, num_labels=3, label_weights=[1, 2])
    with pytest.raises(ValueError, match=r"auc: expected y_true of the same shape"):
        metrics.AUC().update_state(np.ones((4, 2)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"expected y_pred with 2 labels on its last axis"):
        metrics.AUC(label_weights=[1, 2]).update_state(np.ones((4, 3)), np.ones((4, 3)))
    with pytest.raises(TypeError, match="auc: expected a numeric y_true"):
        metrics.AUC().update_state(np.array(["a"]), np.ones(1))



@pytest.mark.parametrize("thresholds", [None, [0.3, 0.5, 0.8]])
def test_nan_predictions_count_as_negative_at_every_threshold(thresholds):
    # NaN > threshold is False (Keras's comparisons): a NaN entry is a FN or a TN at every
    # threshold, as if it had weight 0 for TP/FP. The bucket path crashed in bincount
    # ("'list' argument must have no negative elements"), the explicit one counted it positive
    y, p = data(60, seed=3)
    nan = np.zeros(p.shape, bool)
    nan[[1, 4, 7, 30]] = True
    with_nan = metrics.AUC(thresholds=thresholds)
    with_nan.update_state(y, np.where(nan, np.float32(np.nan), p))
    masked = metrics.AUC(thresholds=thresholds)
    masked.update_state(y, p, sample_weight=(~nan).astype(np.float64))
    assert np.array_equal(with_nan.true_positives, masked.true_positives)
    assert np.array_equal(with_nan.false_positives, masked.false_positives)
    assert np.array_equal(with_nan.true_positives + with_nan.false_negatives,
                          np.full(with_nan.num_thresholds, float((y != 0).sum())))
    assert np.array_equal(with_nan.false_positives + with_nan.true_negatives,
                          np.full(with_nan.num_thresholds, float((y == 0).sum())))
    assert math.isfinite(with_nan.result())
    multi = metrics.AUC(multi_label=True)
    multi.update_state(y.reshape(20, 3), np.where(nan, np.nan, p).reshape(20, 3))
    assert math.isfinite(multi.result())


def test_a_wrong_sample_weight_shape_is_named_once():
    metric = npconv.metrics.AUC()
    with pytest.raises(ValueError, match=r"auc: expected sample_weight of shape \(100,\)\. "
                                         r"Received \(7,\)"):
        metric.update_state(np.ones(100), np.full(100, 0.5), sample_weight=np.ones(7))
    with pytest.raises(ValueError, match=r"of shape \(4,\) or \(4, 3\)\. Received \(2,\)"):
        metric.update_state(np.ones((4, 3)), np.full((4, 3), 0.5), sample_weight=np.ones(2))
