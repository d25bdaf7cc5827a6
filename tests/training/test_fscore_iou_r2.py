"""F1Score / FBetaScore against scikit-learn's f1_score / fbeta_score, the IoU metrics
against jaccard_score and confusion_matrix, R2Score against r2_score: streamed over several
random batches, with sample weights, every averaging, Keras's documented values, config
round trip and argument errors naming the metric."""

import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score, fbeta_score, jaccard_score, r2_score

from npconv import metrics as public_metrics
from npconv.training import metrics


def stream(metric, parts):
    for part in parts:
        metric.update_state(*part)
    return metric.result()


# --------------------------------------------------------------------------- F-scores
def multi_hot_batches(rng, n_batches=3, n=9, classes=4, weighted=False):
    for _ in range(n_batches):
        y_true = (rng.random((n, classes)) < 0.45).astype(np.float32)
        y_pred = rng.random((n, classes)).astype(np.float32)
        yield y_true, y_pred, (rng.uniform(0, 2, n) if weighted else None)


@pytest.mark.parametrize("average", [None, "micro", "macro", "weighted"])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_fbeta_multi_label_as_sklearn(average, beta, weighted):
    rng = np.random.default_rng(7)
    parts = list(multi_hot_batches(rng, weighted=weighted))
    yt = np.concatenate([p[0] for p in parts])
    predicted = np.concatenate([p[1] for p in parts]) > 0.4
    w = np.concatenate([p[2] for p in parts]) if weighted else None
    m = (metrics.F1Score(average=average, threshold=0.4) if beta == 1.0
         else metrics.FBetaScore(average=average, beta=beta, threshold=0.4))
    got = stream(m, parts)
    expected = fbeta_score(yt, predicted, beta=beta, average=average, sample_weight=w,
                           zero_division=0)
    if beta == 1.0:
        np.testing.assert_allclose(expected, f1_score(yt, predicted, average=average,
                                                      sample_weight=w, zero_division=0))
    assert isinstance(got, np.ndarray if average is None else float)
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-6)  # Keras's eps = 1e-7


@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
def test_f1_threshold_none_is_the_argmax_as_sklearn_on_labels(average):
    rng = np.random.default_rng(3)
    parts = []
    for _ in range(3):
        labels = rng.integers(0, 5, 11)
        scores = rng.random((11, 5))
        parts.append((np.eye(5)[labels], scores / scores.sum(1, keepdims=True), None))
    got = stream(metrics.F1Score(average=average), parts)
    yt = np.concatenate([p[0].argmax(1) for p in parts])
    yp = np.concatenate([p[1].argmax(1) for p in parts])
    expected = f1_score(yt, yp, average=average, labels=range(5), zero_division=0)
    assert got == pytest.approx(expected, rel=2e-6, abs=1e-6)


def test_fscore_keras_documented_values_and_argmax_ties():
    y_true = np.array([[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    y_pred = np.array([[0.2, 0.6, 0.7], [0.2, 0.6, 0.6], [0.6, 0.8, 0.0]])
    m = metrics.F1Score(threshold=0.5)
    m.update_state(y_true, y_pred)
    np.testing.assert_allclose(m.result(), [0.5, 0.8, 0.6666667], rtol=1e-6)
    m = metrics.FBetaScore(beta=2.0, threshold=0.5)
    m.update_state(y_true, y_pred)
    np.testing.assert_allclose(m.result(), [0.3846154, 0.90909094, 0.8333334], rtol=1e-6)
    # threshold None: every entry equal to the row's maximum is predicted; a zero row is not
    m = metrics.F1Score(average="micro")
    m.update_state(np.array([[1, 0, 0], [0, 0, 1]]), np.array([[0.4, 0.4, 0.2], [0, 0, 0]]))
    # predicted (0,0) TP, (0,1) FP; row 1 nothing: FN -> P 1/2, R 1/2
    assert m.result() == pytest.approx(0.5, abs=1e-6)
    assert (metrics.F1Score().name, metrics.FBetaScore().name) == ("f1_score", "fbeta_score")
    assert metrics.F1Score().result() == 0.0  # before any batch
    assert public_metrics.F1Score is metrics.F1Score


def test_fscore_sample_weight_forms_and_reset():
    rng = np.random.default_rng(0)
    y_true, y_pred = (rng.random((6, 3)) < 0.5).astype(float), rng.random((6, 3))
    w = rng.uniform(0.5, 2, 6)
    results = []
    for sw in (w, w[:, None], np.repeat(w[:, None], 3, 1)):
        m = metrics.F1Score(average="macro", threshold=0.5)
        m.update_state(y_true, y_pred, sample_weight=sw)
        results.append(m.result())
    assert results[0] == results[1] == results[2]
    m.reset_state()
    assert m.result() == 0.0
    m.update_state(y_true[:, :2], y_pred[:, :2])  # after a reset, any number of classes
    with pytest.raises(ValueError, match=r"f1_score: expected y_pred with 2 classes, as the "
                                         r"batches before\. Received shape \(6, 3\)"):
        m.update_state(y_true, y_pred)


def test_fscore_argument_errors_and_config():
    with pytest.raises(ValueError, match=r"FBetaScore: expected average to be one of \[None, "
                                         r"'micro', 'macro', 'weighted'\]\. Received: "
                                         r"average='samples'"):
        metrics.FBetaScore(average="samples")
    with pytest.raises(ValueError, match=r"FBetaScore: expected beta to be a number > 0\. "
                                         r"Received: beta=0"):
        metrics.FBetaScore(beta=0)
    with pytest.raises(ValueError, match=r"F1Score: expected threshold to be None or a number "
                                         r"with 0 < threshold <= 1\. Received: threshold=0"):
        metrics.F1Score(threshold=0)
    with pytest.raises(ValueError, match=r"f1_score: expected y_true and y_pred of shape "
                                         r"\(batch_size, classes\)\. Received y_pred of shape "
                                         r"\(2, 3, 4\)"):
        metrics.F1Score().update_state(np.ones((2, 3, 4)), np.ones((2, 3, 4)))
    f1 = metrics.F1Score(average="weighted", threshold=0.3, name="f1w")
    assert f1.get_config() == {"name": "f1w", "dtype": "float32", "average": "weighted",
                               "threshold": 0.3}
    fb = metrics.FBetaScore(average="micro", beta=0.5)
    for m in (f1, fb):
        config = json.loads(json.dumps(m.get_config()))
        assert type(m).from_config(config).get_config() == config


# ------------------------------------------------------------------------------- IoU
def label_batches(rng, n_batches=3, shape=(2, 5, 6), classes=4, weighted=False):
    for _ in range(n_batches):
        y_true = rng.integers(0, classes, shape)
        y_pred = np.where(rng.random(shape) < 0.6, y_true, rng.integers(0, classes, shape))
        yield y_true, y_pred, (rng.uniform(0, 2, shape[0]) if weighted else None)


def sklearn_mean_iou(yt, yp, w, classes, targets):
    per_class = jaccard_score(yt, yp, labels=list(range(classes)), average=None,
                              sample_weight=w, zero_division=0)
    cm = confusion_matrix(yt, yp, labels=list(range(classes)), sample_weight=w)
    present = (cm.sum(0) + cm.sum(1))[targets] > 0  # Keras leaves out classes seen nowhere
    return float(np.mean(per_class[targets][present])), cm


def flat(parts, index, weighted, shape):
    if index == 2:
        return (np.concatenate([np.repeat(p[2], np.prod(shape[1:])) for p in parts])
                if weighted else None)
    return np.concatenate([p[index].reshape(-1) for p in parts])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("targets", [[0, 1, 2, 3], [2], [0, 3]])
def test_iou_and_mean_iou_as_sklearn(weighted, targets):
    rng = np.random.default_rng(5)
    shape = (2, 5, 6)
    parts = list(label_batches(rng, shape=shape, classes=4, weighted=weighted))
    parts.append((np.full(shape, 1), np.full(shape, 1), parts[0][2]))  # class 4 never seen
    yt, yp, w = (flat(parts, i, weighted, shape) for i in range(3))
    expected, cm = sklearn_mean_iou(yt, yp, w, 5, targets)
    m = metrics.IoU(num_classes=5, target_class_ids=targets)
    assert stream(m, parts) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(m.total_cm, cm, rtol=1e-12)
    if targets == [0, 1, 2, 3]:
        mean = metrics.MeanIoU(num_classes=5)
        expected_all, _ = sklearn_mean_iou(yt, yp, w, 5, [0, 1, 2, 3, 4])
        assert stream(mean, parts) == pytest.approx(expected_all, rel=1e-6)
        assert mean.name == "mean_io_u" and m.name == "io_u"


def test_one_hot_iou_ignore_class_and_dense_predictions():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 3, (4, 6, 6))
    labels[0, :2] = 255  # a "void" border: left out
    scores = rng.random((4, 6, 6, 3))
    pred = scores.argmax(-1)
    keep = labels.reshape(-1) != 255
    yt, yp = labels.reshape(-1)[keep], pred.reshape(-1)[keep]
    expected, _ = sklearn_mean_iou(yt, yp, None, 3, [0, 1, 2])
    m = metrics.MeanIoU(num_classes=3, ignore_class=255, sparse_y_pred=False)
    m.update_state(labels[..., None], scores)  # (N, H, W, 1) labels: the trailing 1 dropped
    assert m.result() == pytest.approx(expected, rel=1e-6)
    one_hot = np.eye(3)[np.where(labels == 255, 0, labels)]
    m = metrics.OneHotMeanIoU(num_classes=3)
    m.update_state(one_hot[1:], scores[1:])
    expected, _ = sklearn_mean_iou(labels[1:].reshape(-1), pred[1:].reshape(-1), None, 3,
                                   [0, 1, 2])
    assert m.result() == pytest.approx(expected, rel=1e-6)
    m = metrics.OneHotIoU(num_classes=3, target_class_ids=[1])
    m.update_state(one_hot[1:], scores[1:])
    assert m.result() == pytest.approx(jaccard_score(labels[1:].reshape(-1),
                                                     pred[1:].reshape(-1), labels=[1],
                                                     average=None)[0], rel=1e-6)


def test_binary_iou_thresholds_with_greater_or_equal():
    rng = np.random.default_rng(2)
    y_true = (rng.random((3, 8, 8, 1)) < 0.3).astype(np.float32)
    y_pred = rng.random((3, 8, 8, 1)).astype(np.float32)
    y_pred[0, 0, 0, 0] = 0.5  # exactly the threshold: class 1 (>=)
    w = rng.uniform(0, 1, 3)
    m = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.5)
    m.update_state(y_true, y_pred, sample_weight=w)
    yt, yp = y_true.reshape(-1).astype(int), (y_pred.reshape(-1) >= 0.5).astype(int)
    expected, _ = sklearn_mean_iou(yt, yp, np.repeat(w, 64), 2, [0, 1])
    assert m.result() == pytest.approx(expected, rel=1e-6)
    assert m.name == "binary_io_u"


def test_iou_keras_documented_values():
    def run(m, yt, yp, sw=None):
        m.reset_state()
        m.update_state(np.array(yt), np.array(yp), sample_weight=sw)
        return m.result()

    iou = metrics.IoU(num_classes=2, target_class_ids=[0])
    assert run(iou, [0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(1 / 3, rel=1e-6)
    assert run(iou, [0, 0, 1, 1], [0, 1, 0, 1], [0.3, 0.3, 0.3, 0.1]) == pytest.approx(
        1 / 3, rel=1e-6)
    b = metrics.BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    assert run(b, [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7]) == pytest.approx(1 / 3, rel=1e-6)
    assert run(b, [0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7], [0.2, 0.3, 0.4, 0.1]) == \
        pytest.approx(0.17361112, rel=1e-6)
    mean = metrics.MeanIoU(num_classes=2)
    assert run(mean, [0, 0, 1, 1], [0, 1, 0, 1], [0.3, 0.3, 0.3, 0.1]) == pytest.approx(
        0.23809525, rel=1e-6)
    yt = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]]
    yp = [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]]
    sw = [0.1, 0.2, 0.3, 0.4]
    assert run(metrics.OneHotIoU(num_classes=3, target_class_ids=[0, 2]), yt, yp, sw) == \
        pytest.approx(0.1 / 0.7 / 2, rel=1e-6)
    assert run(metrics.OneHotMeanIoU(num_classes=3), yt, yp, sw) == pytest.approx(
        0.1 / 0.7 / 3, rel=1e-5)
    assert metrics.MeanIoU(num_classes=3).result() == 0.0


def test_iou_errors_and_configs():
    with pytest.raises(ValueError, match=r"IoU: target class id 3 is out of range, which is "
                                         r"\[0, 3\)"):
        metrics.IoU(num_classes=3, target_class_ids=[0, 3])
    with pytest.raises(ValueError, match=r"MeanIoU: expected num_classes to be an int >= 1\. "
                                         r"Received: num_classes=0"):
        metrics.MeanIoU(num_classes=0)
    with pytest.raises(ValueError, match=r"IoU: expected target_class_ids to be a non-empty"):
        metrics.IoU(num_classes=3, target_class_ids=[])
    with pytest.raises(TypeError, match=r"MeanIoU: expected sparse_y_pred to be a bool"):
        metrics.MeanIoU(num_classes=3, sparse_y_pred="no")
    m = metrics.MeanIoU(num_classes=2)
    with pytest.raises(ValueError, match=r"mean_io_u: expected integer class labels in "
                                         r"y_pred\. Received non-integer floats \(scores or "
                                         r"probabilities need sparse_y_pred=False"):
        m.update_state(np.array([0, 1]), np.array([0.2, 0.9]))
    with pytest.raises(ValueError, match=r"mean_io_u: expected labels in \[0, 2\) in y_true\. "
                                         r"Received labels in \[0, 2\]"):
        m.update_state(np.array([0, 2]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"mean_io_u: expected y_true and y_pred to give label "
                                         r"maps of the same shape"):
        m.update_state(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"mean_io_u: expected sample_weight of shape \(2,\) "
                                         r"or \(2, 3\)\. Received \(3,\)"):
        m.update_state(np.zeros((2, 3)), np.zeros((2, 3)), sample_weight=np.ones(3))
    made = [metrics.IoU(4, [1, 2], name="iou12", ignore_class=255, axis=1),
            metrics.BinaryIoU([1], threshold=0.3), metrics.MeanIoU(3, sparse_y_pred=False),
            metrics.OneHotIoU(3, [0]), metrics.OneHotMeanIoU(5, ignore_class=0)]
    for metric in made:
        config = json.loads(json.dumps(metric.get_config()))
        assert type(metric).from_config(config).get_config() == config
    assert made[1].get_config() == {"target_class_ids": [1], "threshold": 0.3,
                                    "name": "binary_io_u", "dtype": "float32"}
    assert "target_class_ids" not in made[2].get_config()


def test_iou_label_errors_say_which_input_and_hint_only_where_it_fits():
    """A bad y_true is named as y_true, without the hint about y_pred's scores; scores given
    as sparse labels, or labels given as scores, are told which sparse_y_pred they need."""
    m = metrics.MeanIoU(num_classes=3)
    with pytest.raises(ValueError, match=r"mean_io_u: expected integer class labels in "
                                         r"y_true\. Received non-integer floats$"):
        m.update_state(np.array([0, 1.5]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"mean_io_u: expected labels in \[0, 3\) in y_true\. "
                                         r"Received labels in \[-1, 0\]$"):
        m.update_state(np.array([0, -1]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"in y_pred\. Received non-integer floats \(scores or "
                                         r"probabilities need sparse_y_pred=False"):
        m.update_state(np.array([0, 1]), np.array([0.2, 0.9]))
    labels, scores = np.zeros((2, 4, 4), int), np.full((2, 4, 4, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"Received \(2, 4, 4\) \(y_true\) and \(2, 4, 4, 3\) "
                                         r"\(y_pred\): scores along axis -1 need "
                                         r"sparse_y_pred=False"):
        m.update_state(labels, scores)
    with pytest.raises(ValueError, match=r"Received \(2, 4, 4\) \(y_true\) and \(2, 4\) "
                                         r"\(y_pred\): y_pred of shape \(2, 4, 4\) holds labels "
                                         r"already, which need sparse_y_pred=True"):
        metrics.MeanIoU(3, sparse_y_pred=False).update_state(labels, labels)
    m.update_state(labels, scores.argmax(-1))  # (and the state is unchanged by the errors)
    assert m.total_cm.sum() == 32


# -------------------------------------------------------------------------------- R2
@pytest.mark.parametrize("aggregation, multioutput", [
    ("uniform_average", "uniform_average"), ("variance_weighted_average", "variance_weighted"),
    (None, "raw_values")])
@pytest.mark.parametrize("weighted", [False, True])
def test_r2_as_sklearn_streamed(aggregation, multioutput, weighted):
    rng = np.random.default_rng(11)
    parts = []
    for _ in range(4):
        y_true = rng.normal(size=(8, 3)) * [1, 3, 0.5]
        y_pred = y_true + rng.normal(size=(8, 3)) * 0.7
        parts.append((y_true, y_pred, rng.uniform(0.2, 2, 8) if weighted else None))
    m = metrics.R2Score(class_aggregation=aggregation)
    got = stream(m, parts)
    yt = np.concatenate([p[0] for p in parts])
    yp = np.concatenate([p[1] for p in parts])
    w = np.concatenate([p[2] for p in parts]) if weighted else None
    np.testing.assert_allclose(got, r2_score(yt, yp, sample_weight=w, multioutput=multioutput),
                               rtol=1e-10)
    assert isinstance(got, float if aggregation else np.ndarray)


def test_r2_keras_value_adjusted_score_and_constant_targets():
    m = metrics.R2Score()
    m.update_state(np.array([[1.0], [4], [3]]), np.array([[2.0], [4], [4]]))
    assert m.result() == pytest.approx(0.57142854, rel=1e-7)
    rng = np.random.default_rng(4)
    yt, yp = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    adjusted = metrics.R2Score(num_regressors=3)
    adjusted.update_state(yt, yp)
    r2, n = r2_score(yt, yp), yt.size  # Keras's n counts every entry
    assert adjusted.result() == pytest.approx(1 - (1 - r2) * (n - 1) / (n - 3 - 1), rel=1e-12)
    few = metrics.R2Score(num_regressors=5)
    few.update_state(yt[:2, :1], yp[:2, :1])
    with pytest.warns(UserWarning, match=r"r2_score: more independent predictors \(5\) than "
                                         r"data points \(2\)"):
        assert few.result() == pytest.approx(r2_score(yt[:2, :1], yp[:2, :1]))
    flat_target = metrics.R2Score(class_aggregation=None)
    flat_target.update_state(np.array([[1.0, 2], [1, 3]]), np.array([[1.5, 2], [1, 3]]))
    np.testing.assert_array_equal(flat_target.result(), [0.0, 1.0])  # 1 - x/0 -> 0, as Keras
    assert metrics.R2Score().result() == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        perfect_constant = metrics.R2Score()
        perfect_constant.update_state(np.ones((3, 1)), np.ones((3, 1)))
        assert np.isnan(perfect_constant.result())  # 0 / 0, as Keras


def test_r2_errors_and_config():
    with pytest.raises(ValueError, match=r"R2Score: expected class_aggregation to be one of "
                                         r"\[None, 'uniform_average', "
                                         r"'variance_weighted_average'\]"):
        metrics.R2Score(class_aggregation="raw_values")
    with pytest.raises(ValueError, match=r"R2Score: expected num_regressors to be an int >= 0"):
        metrics.R2Score(num_regressors=-1)
    with pytest.raises(ValueError, match=r"r2_score: expected 2-D y_true and y_pred "
                                         r"\(batch_size, outputs\); one output is "
                                         r"\(batch_size, 1\)\. Received \(4,\) \(y_true\) and "
                                         r"\(4,\) \(y_pred\)"):
        metrics.R2Score().update_state(np.ones(4), np.ones(4))  # (not "of the same shape")
    with pytest.raises(ValueError, match=r"r2_score: expected y_true and y_pred of the same "
                                         r"shape \(batch_size, outputs\)\. Received \(4, 2\) "
                                         r"\(y_true\) and \(4, 3\) \(y_pred\)"):
        metrics.R2Score().update_state(np.ones((4, 2)), np.ones((4, 3)))
    m = metrics.R2Score()
    m.update_state(np.ones((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"r2_score: expected 2 outputs, as the batches before"):
        m.update_state(np.ones((2, 3)), np.zeros((2, 3)))
    r2 = metrics.R2Score(class_aggregation=None, num_regressors=2, name="r2")
    assert r2.get_config() == {"name": "r2", "dtype": "float32", "class_aggregation": None,
                               "num_regressors": 2}
    assert metrics.R2Score.from_config(r2.get_config()).get_config() == r2.get_config()
