"""Precision and Recall: Keras's counting (y_pred > threshold against y_true != 0, over every
entry; class_id picks a column), accumulation over batches, thresholds lists, sample weights,
0.0 with nothing to count, by name in compile(metrics=[...]), config round trip, errors.
Every expected value is a hand count."""

import numpy as np
import pytest

import npconv
from npconv import metrics as public_metrics
from npconv.layers import Dense, Input
from npconv.models.sequential import Sequential
from npconv.random import set_random_seed
from npconv.training import metrics

Y_TRUE = np.array([1, 0, 1, 1, 0, 0, 1, 0])
Y_PRED = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.5, 0.51, 0.1])
# > 0.5: predicted positive at 0, 1, 3, 6 (0.5 itself is not: strict >)
# TP: 0, 3, 6 -> 3; FP: 1 -> 1; FN: 2 -> 1


def test_binary_hand_counts():
    p, r = metrics.Precision(), metrics.Recall()
    p.update_state(Y_TRUE, Y_PRED)
    r.update_state(Y_TRUE, Y_PRED)
    assert p.result() == 3 / 4 and r.result() == 3 / 4
    assert (p.true_positives[0], p.false_positives[0], p.false_negatives[0]) == (3, 1, 1)
    assert p.name == "precision" and r.name == "recall"


def test_accumulates_over_batches_and_resets():
    p, r = metrics.Precision(), metrics.Recall()
    for sl in (slice(0, 3), slice(3, 8)):
        p.update_state(Y_TRUE[sl], Y_PRED[sl])
        r.update_state(Y_TRUE[sl], Y_PRED[sl])
    assert p.result() == 3 / 4 and r.result() == 3 / 4
    r.update_state([1, 1], [0.2, 0.3])  # two more false negatives
    assert r.result() == 3 / 6
    p.reset_state()
    assert p.result() == 0.0  # nothing predicted positive: 0, as Keras's divide_no_nan
    r.reset_state()
    r.update_state([0, 0], [0.9, 0.1])
    assert r.result() == 0.0  # no positive labels


def test_multi_label_counts_every_entry_and_class_id_one_column():
    y_true = np.array([[1, 0, 1], [0, 1, 1], [1, 1, 0], [0, 0, 1]])
    y_pred = np.array([[0.8, 0.3, 0.6], [0.7, 0.9, 0.2], [0.4, 0.6, 0.1], [0.1, 0.2, 0.95]])
    # all entries: predicted (row, col) (0,0)T (0,2)T (1,0)F (1,1)T (2,1)T (3,2)T -> TP 5, FP 1
    # positives missed: (1,2), (2,0) -> FN 2
    p, r = metrics.Precision(), metrics.Recall()
    p.update_state(y_true, y_pred)
    r.update_state(y_true, y_pred)
    assert p.result() == 5 / 6 and r.result() == 5 / 7
    # class 0: predicted rows 0 (T), 1 (F); positives rows 0, 2 -> P 1/2, R 1/2
    # class 2: predicted rows 0 (T), 3 (T); positives rows 0, 1, 3 -> P 1, R 2/3
    for cid, prec, rec in ((0, 1 / 2, 1 / 2), (2, 1.0, 2 / 3)):
        p, r = metrics.Precision(class_id=cid), metrics.Recall(class_id=cid)
        p.update_state(y_true, y_pred)
        r.update_state(y_true, y_pred)
        assert p.result() == prec and r.result() == rec, cid


def test_thresholds_single_and_list():
    p = metrics.Precision(thresholds=0.55)  # predicted: 0, 1, 3 -> TP 2, FP 1
    p.update_state(Y_TRUE, Y_PRED)
    assert p.result() == 2 / 3
    many = metrics.Recall(thresholds=[0.0, 0.5, 0.8])
    many.update_state(Y_TRUE, Y_PRED)
    # > 0.0: every positive found (1); > 0.5: 3/4; > 0.8: only index 0 -> 1/4
    assert many.result() == [1.0, 3 / 4, 1 / 4]


def test_sample_weight_weights_the_counts():
    w = np.array([2, 1, 1, 3, 1, 1, 0, 1])
    p, r = metrics.Precision(), metrics.Recall()
    p.update_state(Y_TRUE, Y_PRED, sample_weight=w)
    r.update_state(Y_TRUE, Y_PRED, sample_weight=w)
    # TP weights 2 + 3 + 0 = 5, FP 1, FN (index 2) 1
    assert p.result() == 5 / 6 and r.result() == 5 / 6
    with pytest.raises(ValueError, match="sample_weight"):
        p.update_state(Y_TRUE, Y_PRED, sample_weight=np.ones(3))


def test_labels_of_shape_n_1_against_n_and_other_truthy_labels():
    p = metrics.Precision()
    p.update_state(Y_TRUE[:, None].astype(np.float32), Y_PRED.astype(np.float32))
    assert p.result() == 3 / 4
    q = metrics.Precision()
    q.update_state(np.where(Y_TRUE == 1, 5, 0), Y_PRED)  # any nonzero label is positive
    assert q.result() == 3 / 4


def test_get_by_name_class_and_config_round_trip():
    assert type(metrics.get("precision")) is metrics.Precision
    assert type(metrics.get("recall")) is metrics.Recall
    assert type(metrics.get("Precision")) is metrics.Precision
    assert type(metrics.get(metrics.Recall)) is metrics.Recall
    assert public_metrics.Precision is metrics.Precision
    m = metrics.Recall(thresholds=[0.2, 0.7], class_id=1, name="rec1")
    config = m.get_config()
    assert config == {"name": "rec1", "thresholds": [0.2, 0.7], "top_k": None, "class_id": 1}
    assert metrics.Recall.from_config(config).get_config() == config


def test_in_compile_fit_and_evaluate_by_name():
    set_random_seed(0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)[:, None]
    model = Sequential([Input(shape=(4,)), Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy",
                  metrics=["precision", "recall", metrics.Precision(thresholds=0.7, name="p70")])
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for key in ("precision", "recall", "p70"):
        assert len(history.history[key]) == 2
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = np.asarray(model.predict(x, verbose=0))[:, 0]
    tp = np.sum((pred > 0.5) & (y[:, 0] == 1))
    fp = np.sum((pred > 0.5) & (y[:, 0] == 0))
    fn = np.sum((pred <= 0.5) & (y[:, 0] == 1))
    expected = (tp / (tp + fp) if tp + fp else 0.0, tp / (tp + fn) if tp + fn else 0.0)
    assert 0 < expected[0] < 1 or 0 < expected[1] < 1  # not a trivial count
    assert results["precision"] == pytest.approx(expected[0], abs=1e-12)
    assert results["recall"] == pytest.approx(expected[1], abs=1e-12)


def test_bad_arguments_and_inputs():
    for bad in (1.5, -0.1, "0.5", [], [0.2, 2.0], True):
        with pytest.raises(ValueError, match=r"Precision: expected thresholds.*Received"):
            metrics.Precision(thresholds=bad)
    with pytest.raises(ValueError, match=r"Recall: expected class_id.*Received: class_id=-1"):
        metrics.Recall(class_id=-1)
    with pytest.raises(ValueError, match=r"class_id=3 needs y_pred with more than 3 entries"):
        metrics.Recall(class_id=3).update_state(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="precision: expected y_true of the same shape"):
        metrics.Precision().update_state(np.ones((4, 2)), np.ones((4, 3)))
    with pytest.raises(TypeError, match="numeric"):
        metrics.Precision().update_state(np.array(["a"]), np.ones(1))


@pytest.mark.parametrize("cls", [npconv.metrics.Precision, npconv.metrics.Recall])
def test_a_list_of_thresholds_in_compile_gives_one_value_per_threshold(cls):
    """Its result is a list (evaluate failed with "float() argument must be ... not 'list'"
    deep in the loop, then compile refused it); as Keras, evaluate gives an array of one value
    per threshold, and one threshold in a list a number."""
    model = npconv.Sequential([npconv.Input((3,)), npconv.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[cls(thresholds=[0.3, 0.6])])
    loss, values = model.evaluate(np.ones((4, 3)), np.ones(4), verbose=0)
    assert type(values) is np.ndarray and values.shape == (2,)
    model.compile("adam", "binary_crossentropy", metrics=[cls(thresholds=[0.3])])
    loss, value = model.evaluate(np.ones((4, 3)), np.ones(4), verbose=0)
    assert type(value) is float
    metric = cls(thresholds=[0.3, 0.6])
    metric.update_state(np.array([1, 0, 1]), np.array([0.4, 0.5, 0.7]))
    assert len(metric.result()) == 2


def test_top_k_keeps_the_k_largest_of_each_row_as_keras():
    # Keras's docstring example: with equal scores the first k entries are kept
    m = metrics.Precision(top_k=2)
    m.update_state([0, 0, 1, 1], [1, 1, 1, 1])
    assert m.result() == 0.0
    y_true = np.array([[0, 1, 1], [1, 0, 0]])
    y_pred = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.4]])
    for k, precision, recall in [(1, 1.0, 2 / 3), (2, 3 / 4, 1.0), (3, 3 / 6, 1.0)]:
        p, r = metrics.Precision(top_k=k), metrics.Recall(top_k=k)
        p.update_state(y_true, y_pred)
        r.update_state(y_true, y_pred)
        assert (p.result(), r.result()) == pytest.approx((precision, recall)), k
    # a threshold still applies to the kept ones; class_id reads its column after the top k
    p = metrics.Precision(thresholds=0.35, top_k=2)
    p.update_state(y_true, y_pred)
    assert p.result() == pytest.approx(2 / 3)  # kept and > 0.35: 0.6 (TP), 0.5 (TP), 0.4 (FP)
    r = metrics.Recall(top_k=1, class_id=2)
    r.update_state(y_true, y_pred)
    assert r.result() == 0.0  # row 0's class 2 (0.3) is not its top 1
    again = metrics.Precision.from_config(metrics.Precision(top_k=2, name="p2").get_config())
    assert (again.top_k, again.name) == (2, "p2")
    with pytest.raises(ValueError, match=r"Precision: expected top_k to be None or a positive "
                                         r"int\. Received: top_k=0"):
        metrics.Precision(top_k=0)


def test_repr_of_a_metric_whose_result_is_a_list():
    # several thresholds give a list of results: repr shows them (it raised a TypeError)
    p = metrics.Precision(thresholds=[0.3, 0.6])
    p.update_state(np.array([1, 0, 1]), np.array([0.4, 0.5, 0.7]))
    assert repr(p) == "<Precision name=precision, result=[0.666667, 1]>"
    assert repr(metrics.Precision()) == "<Precision name=precision, result=0>"


@pytest.mark.parametrize("cls", [metrics.Precision, metrics.Recall])
def test_top_k_above_the_number_of_classes_is_an_error_as_keras(cls):
    """Keras 3's _filter_top_k calls ops.top_k(y_pred, k), which refuses k above the size of
    the last axis (tf.math.top_k, torch.topk); npconv kept every entry without a word."""
    metric = cls(top_k=4, name="my_metric")
    with pytest.raises(ValueError, match=r"my_metric: top_k=4 needs y_pred with at least 4 "
                                         r"entries on its last axis\. Received y_pred of "
                                         r"shape \(2, 3\)"):
        metric.update_state(np.array([[0, 1, 1], [1, 0, 0]]), np.full((2, 3), 0.5))
    assert metric.result() == 0.0  # nothing was counted
    with pytest.raises(ValueError, match=r"top_k=1 needs y_pred with at least 1 entries"):
        cls(top_k=1).update_state(1.0, 0.7)  # a scalar has no axis to take the top k of
    exactly = cls(top_k=3)  # k equal to the number of classes keeps every entry
    exactly.update_state(np.array([[0, 1, 1], [1, 0, 0]]), np.full((2, 3), 0.5))
    assert exactly.result() == pytest.approx(0.5 if cls is metrics.Precision else 1.0)
