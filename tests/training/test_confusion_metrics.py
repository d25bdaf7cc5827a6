"""TruePositives / FalsePositives / TrueNegatives / FalseNegatives against scikit-learn's
confusion_matrix at each threshold, and PrecisionAtRecall, RecallAtPrecision,
SensitivityAtSpecificity, SpecificityAtSensitivity against the operating points of
scikit-learn's roc_curve / precision_recall_curve: streamed over batches, with sample
weights, class_id, Keras's documented values, config round trip and argument errors."""

import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

from npconv import metrics as public_metrics
from npconv.training import metrics

COUNTS = {"tp": metrics.TruePositives, "fp": metrics.FalsePositives,
          "tn": metrics.TrueNegatives, "fn": metrics.FalseNegatives}


def sklearn_counts(y_true, y_pred, weight, threshold):
    """(tp, fp, tn, fn) of y_pred > threshold against y_true != 0, every entry."""
    cm = confusion_matrix(np.ravel(y_true) != 0, np.ravel(y_pred) > threshold,
                          labels=[False, True], sample_weight=np.ravel(weight))
    (tn, fp), (fn, tp) = cm
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn}


def batches(rng, n_batches=3, shape=(7, 4), weighted=False):
    for _ in range(n_batches):
        y_true = (rng.random(shape) < 0.4).astype(np.float32)
        y_pred = rng.random(shape).astype(np.float32)
        w = rng.uniform(0, 2, shape[0]) if weighted else None
        yield y_true, y_pred, w


@pytest.mark.parametrize("thresholds", [None, 0.3, [0.7, 0.2, 0.45],  # unsorted: kept order
                                        [0.0, 0.25, 0.5, 0.75, 1.0],  # evenly: Keras's buckets
                                        (0.1, 0.9)])
@pytest.mark.parametrize("weighted", [False, True])
def test_counts_stream_over_batches_as_sklearn(thresholds, weighted):
    rng = np.random.default_rng(1)
    data = list(batches(rng, weighted=weighted))
    listed = [0.5] if thresholds is None else (
        list(thresholds) if isinstance(thresholds, (list, tuple)) else [thresholds])
    yt = np.concatenate([b[0] for b in data])
    yp = np.concatenate([b[1] for b in data])
    w = (np.ones(yt.shape) if not weighted
         else np.concatenate([np.repeat(b[2][:, None], 4, 1) for b in data]))
    for kind, cls in COUNTS.items():
        m = cls(thresholds=thresholds)
        for y_true, y_pred, sw in data:
            m.update_state(y_true, y_pred, sample_weight=sw)
        expected = [sklearn_counts(yt, yp, w, t)[kind] for t in listed]
        got = m.result()
        if len(listed) == 1:
            assert isinstance(got, float)
            got = [got]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12,
                                   err_msg=f"{kind} {thresholds}")
        m.reset_state()
        assert m.result() == (0.0 if len(listed) == 1 else [0.0] * len(listed))


def test_counts_keras_documented_values_and_names():
    cases = [(metrics.TruePositives, [0, 1, 1, 1], [1, 0, 1, 1]),
             (metrics.FalsePositives, [0, 1, 0, 0], [0, 0, 1, 1]),
             (metrics.TrueNegatives, [0, 1, 0, 0], [1, 1, 0, 0]),
             (metrics.FalseNegatives, [0, 1, 1, 1], [0, 1, 0, 0])]
    for cls, y_true, y_pred in cases:
        m = cls()
        m.update_state(y_true, y_pred)
        assert m.result() == 2.0
        m.reset_state()
        m.update_state(y_true, y_pred, sample_weight=[0, 0, 1, 0])
        assert m.result() == 1.0
    assert [cls().name for cls in COUNTS.values()] == [
        "true_positives", "false_positives", "true_negatives", "false_negatives"]
    assert public_metrics.TruePositives is metrics.TruePositives


def test_counts_prediction_at_zero_and_above_one_on_an_evenly_spaced_grid():
    # Keras's bucket counting: p = 0 is above no threshold (not even 0), p > 1 is clipped to 1,
    # so it is above every threshold but the last (1.0)
    m = metrics.TruePositives(thresholds=[0.0, 0.5, 1.0])
    m.update_state([1, 1, 1], [0.0, 0.7, 1.5])
    assert m.result() == [2.0, 2.0, 0.0]
    direct = metrics.TruePositives(thresholds=[0.0, 1.0])  # two: compared directly
    direct.update_state([1, 1, 1], [0.0, 0.7, 1.5])
    assert direct.result() == [2.0, 1.0]


# ------------------------------------------------------------------------ X at Y
def grid_predictions(rng, n, num_thresholds=200):
    """Distinct predictions at the centres of Keras's threshold buckets: each gap between
    two of them holds a threshold, so Keras's grid sees every operating point sklearn does."""
    buckets = rng.choice(num_thresholds - 1, size=n, replace=False)
    return (buckets + 0.5) / (num_thresholds - 1)


def best_where(constrained, dependent, value):
    feasible = constrained >= value
    return float(np.max(dependent[feasible])) if feasible.any() else 0.0


def sklearn_roc_points(y, p, w):
    fpr, tpr, _ = roc_curve(y, p, sample_weight=w, drop_intermediate=False)
    return tpr, 1 - fpr  # sensitivity, specificity at every operating point


def sklearn_pr_points(y, p, w):
    precision, recall, _ = precision_recall_curve(y, p, sample_weight=w)
    # its last point (precision 1, recall 0) is no threshold's; Keras's highest threshold
    # (nothing predicted positive) has precision 0, recall 0
    return np.append(precision[:-1], 0.0), np.append(recall[:-1], 0.0)


AT_CASES = [(metrics.PrecisionAtRecall, "pr", lambda prec, rec: (rec, prec)),
            (metrics.RecallAtPrecision, "pr", lambda prec, rec: (prec, rec)),
            (metrics.SensitivityAtSpecificity, "roc", lambda sens, spec: (spec, sens)),
            (metrics.SpecificityAtSensitivity, "roc", lambda sens, spec: (sens, spec))]


@pytest.mark.parametrize("cls, curve, pick", AT_CASES)
@pytest.mark.parametrize("value", [0.2, 0.5, 0.8, 0.95, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_at_metrics_as_sklearn_curves_streamed(cls, curve, pick, value, weighted):
    rng = np.random.default_rng(int(value * 100) + weighted)
    n = 120
    p = grid_predictions(rng, n)
    y = (rng.random(n) < 0.35 + 0.4 * p).astype(int)  # informative, not separable
    w = rng.uniform(0.1, 3, n) if weighted else np.ones(n)
    m = cls(value)
    for part in np.array_split(np.arange(n), 4):
        m.update_state(y[part], p[part], sample_weight=w[part] if weighted else None)
    points = (sklearn_pr_points if curve == "pr" else sklearn_roc_points)(y, p, w)
    constrained, dependent = pick(*points)
    assert m.result() == pytest.approx(best_where(constrained, dependent, value), abs=1e-12)


def test_at_metrics_keras_documented_values():
    y_true, y_pred = [0, 0, 0, 1, 1], [0, 0.3, 0.8, 0.3, 0.8]
    for cls, value, plain, weights, weighted in [
            (metrics.SensitivityAtSpecificity, 0.5, 0.5, [1, 1, 2, 2, 1], 1 / 3),
            (metrics.SpecificityAtSensitivity, 0.5, 2 / 3, [1, 1, 2, 2, 2], 0.5),
            (metrics.PrecisionAtRecall, 0.5, 0.5, [2, 2, 2, 1, 1], 1 / 3)]:
        m = cls(value)
        m.update_state(y_true, y_pred)
        assert m.result() == pytest.approx(plain)
        m.reset_state()
        m.update_state(y_true, y_pred, sample_weight=weights)
        assert m.result() == pytest.approx(weighted)
    m = metrics.RecallAtPrecision(0.8)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert m.result() == 0.5
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == 1.0
    # a precision no threshold reaches: 0.0
    m = metrics.RecallAtPrecision(1.0)
    m.update_state([0, 1], [0.9, 0.1])
    assert m.result() == 0.0


def test_at_metrics_threshold_grid_class_id_and_one_threshold():
    m = metrics.PrecisionAtRecall(0.5, num_thresholds=5)
    assert m.thresholds == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert metrics.PrecisionAtRecall(0.5, num_thresholds=1).thresholds == [0.5]
    y_true = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    y_pred = np.array([[0.9, 0.2], [0.6, 0.7], [0.4, 0.8], [0.1, 0.3]])
    col = metrics.SensitivityAtSpecificity(0.5, class_id=1)
    col.update_state(y_true, y_pred)
    one = metrics.SensitivityAtSpecificity(0.5)
    one.update_state(y_true[:, 1], y_pred[:, 1])
    assert col.result() == one.result() == 1.0
    assert metrics.RecallAtPrecision(0.8).name == "recall_at_precision"


def test_configs_round_trip_through_json():
    made = [metrics.TruePositives(thresholds=(0.2, 0.6), name="tp"),
            metrics.FalseNegatives(thresholds=np.array([0.3])),
            metrics.PrecisionAtRecall(0.7, num_thresholds=50, class_id=2, name="par"),
            metrics.RecallAtPrecision(0.9), metrics.SensitivityAtSpecificity(0.4),
            metrics.SpecificityAtSensitivity(0.6, num_thresholds=10)]
    for m in made:
        config = json.loads(json.dumps(m.get_config()))
        again = type(m).from_config(config)
        assert again.get_config() == config and again.name == m.name
    assert made[0].get_config() == {"name": "tp", "dtype": "float32", "thresholds": [0.2, 0.6]}
    assert made[2].get_config() == {"name": "par", "dtype": "float32", "class_id": 2,
                                    "num_thresholds": 50, "recall": 0.7}


def test_argument_and_input_errors_name_the_metric():
    with pytest.raises(ValueError, match=r"TruePositives: expected thresholds to be None, a "
                                         r"number in \[0, 1\].*Received: thresholds=1.5"):
        metrics.TruePositives(thresholds=1.5)
    with pytest.raises(ValueError, match=r"FalsePositives: .*Received: thresholds=\[\]"):
        metrics.FalsePositives(thresholds=[])
    with pytest.raises(ValueError, match=r"PrecisionAtRecall: expected recall to be a number "
                                         r"in \[0, 1\]\. Received: recall=1.2"):
        metrics.PrecisionAtRecall(1.2)
    with pytest.raises(ValueError, match=r"SpecificityAtSensitivity: expected sensitivity"):
        metrics.SpecificityAtSensitivity(True)
    with pytest.raises(ValueError, match=r"RecallAtPrecision: expected num_thresholds to be an "
                                         r"int > 0\. Received: num_thresholds=0"):
        metrics.RecallAtPrecision(0.5, num_thresholds=0)
    with pytest.raises(ValueError, match=r"SensitivityAtSpecificity: expected class_id"):
        metrics.SensitivityAtSpecificity(0.5, class_id=-1)
    m = metrics.PrecisionAtRecall(0.5, class_id=3)
    with pytest.raises(ValueError, match=r"precision_at_recall: class_id=3 needs y_pred of "
                                         r"shape \(N, classes\) with more than 3 classes"):
        m.update_state(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"true_positives: expected y_true of the same shape"):
        metrics.TruePositives().update_state(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"true_negatives: expected sample_weight of shape "
                                         r"\(2,\) or \(2, 3\)\. Received \(3,\)"):
        metrics.TrueNegatives().update_state(np.ones((2, 3)), np.ones((2, 3)), np.ones(3))


@pytest.mark.parametrize("shape", [(3, 4, 4, 1), (3, 4, 4, 2)])
def test_one_weight_per_position_weighs_its_last_axis_as_keras(shape):
    """Keras expands a sample_weight by one axis at the end (``expand_dims(sw, -1)``): masks
    ``(N, H, W, C)`` (or ``(N, H, W, 1)``) take per-pixel weights ``(N, H, W)``, the same
    numbers as those weights repeated over the last axis; the IoUs, whose label maps keep
    Keras's trailing axis of 1, take them too."""
    rng = np.random.default_rng(8)
    y_true = (rng.random(shape) < 0.4).astype(np.float32)
    y_pred = rng.random(shape).astype(np.float32)
    w = rng.uniform(0, 2, shape[:-1])
    repeated = np.broadcast_to(w[..., None], shape)
    makers = [lambda: metrics.TruePositives(thresholds=[0.3, 0.6]),
              lambda: metrics.FalseNegatives(), lambda: metrics.PrecisionAtRecall(0.5),
              lambda: metrics.AUC(), lambda: metrics.Precision(), lambda: metrics.Recall(),
              lambda: metrics.BinaryIoU()]
    if shape[-1] == 1:
        makers.append(lambda: metrics.MeanIoU(2))
    for make in makers:
        per_position, per_entry = make(), make()
        target = (y_pred > 0.5).astype(int) if isinstance(per_position, metrics.MeanIoU) \
            else y_pred
        per_position.update_state(y_true, target, sample_weight=w)
        per_entry.update_state(y_true, target, sample_weight=repeated)
        np.testing.assert_allclose(per_position.result(), per_entry.result(), rtol=1e-12,
                                   err_msg=per_position.name)
    with pytest.raises(ValueError, match=r"\(3, 4\)"):  # neither a row nor a position each
        metrics.TruePositives().update_state(y_true, y_pred, sample_weight=w[..., 0])
