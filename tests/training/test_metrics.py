"""Metrics on hand-made cases, Keras's choice of "accuracy", the confusion matrix vs a loop."""

import numpy as np
import pytest

from npconv.training import losses, metrics

SCORES = np.array([[0.1, 0.7, 0.2],   # predicts 1
                   [0.5, 0.3, 0.2],   # predicts 0
                   [0.2, 0.2, 0.6],   # predicts 2
                   [0.4, 0.4, 0.2]])  # tie -> first index, 0
LABELS = np.array([1, 2, 2, 1])


def test_sparse_and_categorical_accuracy_by_hand():
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(LABELS, SCORES)
    assert m.result() == pytest.approx(2 / 4)
    m.update_state(LABELS[:2, None], SCORES[:2])  # (N, 1) labels, a second batch: 1 of 2 right
    assert m.result() == pytest.approx(3 / 6)
    assert m.name == "sparse_categorical_accuracy"
    m.reset_state()
    assert m.result() == 0.0
    c = metrics.CategoricalAccuracy()
    c.update_state(np.eye(3)[LABELS], SCORES)
    assert c.result() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="sparse_categorical_accuracy"):
        c.update_state(LABELS, SCORES)
    with pytest.raises(ValueError, match=r"sparse_categorical_accuracy.*\(4,\).*\(3,\)"):
        m.update_state(LABELS[:3], SCORES)


def test_binary_and_plain_accuracy_by_hand():
    b = metrics.BinaryAccuracy()
    b.update_state(np.array([1, 0, 1, 0]), np.array([[0.9], [0.6], [0.5], [0.1]]))
    assert b.result() == pytest.approx(2 / 4)  # 0.5 is not > 0.5
    b2 = metrics.BinaryAccuracy(threshold=0.55)
    b2.update_state(np.array([[1, 0], [0, 0]]), np.array([[0.6, 0.6], [0.1, 0.2]]))
    assert b2.result() == pytest.approx(3 / 4)
    a = metrics.Accuracy()
    a.update_state([1, 2, 3, 4], [1, 2, 0, 4])
    assert a.result() == pytest.approx(0.75)


def test_top_k_counts_ties_like_keras():
    t = metrics.SparseTopKCategoricalAccuracy(k=2)
    t.update_state(LABELS, SCORES)
    # row 0: 1 is top; row 1: 2 (0.2) is 3rd; row 2: top; row 3: 1 ties for top
    assert t.result() == pytest.approx(3 / 4)
    t1 = metrics.TopKCategoricalAccuracy(k=1)
    t1.update_state(np.eye(3)[LABELS], SCORES)
    assert t1.result() == pytest.approx(3 / 4)  # the tie on row 3 counts, unlike argmax
    t5 = metrics.SparseTopKCategoricalAccuracy()  # k=5 >= C: always right
    t5.update_state(LABELS, SCORES)
    assert t5.result() == 1.0
    with pytest.raises(ValueError, match="k"):
        metrics.TopKCategoricalAccuracy(k=0)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        t.update_state(np.array([0, 1, 2, 3]), SCORES)


def test_top_k_matches_a_sorting_reference():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n, c = int(rng.integers(1, 20)), int(rng.integers(2, 9))
        k = int(rng.integers(1, c + 2))
        scores = rng.integers(0, 4, size=(n, c)).astype(float)  # many ties
        labels = rng.integers(0, c, size=n)
        expected = [float(scores[i, labels[i]] >= np.sort(scores[i])[::-1][min(k, c) - 1])
                    for i in range(n)]
        got = metrics.sparse_top_k_categorical_accuracy(labels, scores, k=k)
        np.testing.assert_array_equal(got, expected)


def test_mean_is_weighted_like_the_keras_loss_tracker():
    m = metrics.Mean(name="loss")
    m.update_state(2.0, sample_weight=32)
    m.update_state(5.0, sample_weight=8)
    assert m.result() == pytest.approx((2 * 32 + 5 * 8) / 40)
    m.reset_state()
    m.update_state(np.array([1.0, 2.0, 3.0]))
    assert m.result() == pytest.approx(2.0)
    s = metrics.SparseCategoricalAccuracy()
    s.update_state(LABELS, SCORES, sample_weight=np.array([1.0, 0.0, 3.0, 0.0]))
    assert s.result() == pytest.approx(4 / 4)


@pytest.mark.parametrize("loss,expected", [
    ("sparse_categorical_crossentropy", metrics.SparseCategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), metrics.SparseCategoricalAccuracy),
    ("categorical_crossentropy", metrics.CategoricalAccuracy),
    ("binary_crossentropy", metrics.BinaryAccuracy),
])
def test_accuracy_follows_the_loss(loss, expected):
    for name in ("accuracy", "acc"):
        m = metrics.get(name, loss=loss)
        assert type(m) is expected and m.name == name


def test_accuracy_follows_the_shapes_as_keras_3():
    assert type(metrics.get("accuracy", loss="mse", output_shape=(None, 1))) is \
        metrics.BinaryAccuracy
    assert type(metrics.get("accuracy", output_shape=(None, 10), y_true_shape=(None,))) is \
        metrics.SparseCategoricalAccuracy
    assert type(metrics.get("accuracy", output_shape=(None, 10), y_true_shape=(None, 10))) is \
        metrics.CategoricalAccuracy
    auto = metrics.get("accuracy")  # nothing known yet: decided on the first batch
    auto.update_state(LABELS, SCORES)
    assert auto.kind == "sparse" and auto.result() == pytest.approx(0.5)
    auto = metrics.get("accuracy")
    auto.update_state(np.eye(3)[LABELS], SCORES)
    assert auto.kind == "categorical" and auto.name == "accuracy"


def test_get_other_identifiers():
    assert type(metrics.get("sparse_categorical_accuracy")) is metrics.SparseCategoricalAccuracy
    assert metrics.get("binary_accuracy").name == "binary_accuracy"
    m = metrics.BinaryAccuracy(threshold=0.3)
    assert metrics.get(m) is m
    mse = metrics.get("mse")
    mse.update_state(np.array([[1.0], [2.0]]), np.array([[0.0], [2.0]]))
    assert mse.name == "mse" and mse.result() == pytest.approx(0.5)
    custom = metrics.get(lambda t, p: np.abs(t - p))
    custom.update_state(np.array([1.0, 2.0]), np.array([2.0, 2.0]))
    assert custom.result() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        metrics.get("f1")


def test_confusion_matrix_matches_a_loop():
    rng = np.random.default_rng(1)
    for _ in range(30):
        c = int(rng.integers(2, 8))
        n = int(rng.integers(0, 60))
        t, p = rng.integers(0, c, size=n), rng.integers(0, c, size=n)
        expected = np.zeros((c, c), dtype=np.int64)
        for ti, pi in zip(t, p, strict=True):
            expected[ti, pi] += 1
        cm = metrics.confusion_matrix(t, p, num_classes=c)
        assert cm.dtype == np.int64
        np.testing.assert_array_equal(cm, expected)
        assert cm.sum() == n
    # scores are turned into predictions by argmax; num_classes inferred
    cm = metrics.confusion_matrix(LABELS, SCORES)
    np.testing.assert_array_equal(cm, [[0, 0, 0], [1, 1, 0], [1, 0, 1]])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        metrics.confusion_matrix([0, 1, 2], [0, 1, 1], num_classes=2)
    with pytest.raises(ValueError, match="same length"):
        metrics.confusion_matrix([0, 1, 2], [0, 1])


def test_mean_squared_error_and_its_root_as_keras():
    from npconv import metrics as M

    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((4, 3)), rng.standard_normal((4, 3))) for _ in range(3)]
    weights = [rng.random(4) for _ in range(3)]
    mse, rmse, weighted = M.get("mse"), M.RootMeanSquaredError(), M.RootMeanSquaredError()
    for (t, p), w in zip(batches, weights, strict=True):
        mse.update_state(t, p)
        rmse.update_state(t, p)
        weighted.update_state(t, p, sample_weight=w)
    t_all = np.concatenate([b[0] for b in batches])
    p_all = np.concatenate([b[1] for b in batches])
    w_all = np.concatenate(weights)
    se = (p_all - t_all) ** 2
    assert mse.name == "mse" and mse.result() == pytest.approx(se.mean(), rel=1e-12)
    # the root of the running mean over every entry, not a mean of per-batch roots
    assert rmse.result() == pytest.approx(np.sqrt(se.mean()), rel=1e-12)
    expected = np.sqrt(np.sum(se * w_all[:, None]) / (3 * np.sum(w_all)))
    assert weighted.result() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(M.mean_squared_error(t_all, p_all), se.mean(axis=-1))
    assert type(M.get("mean_squared_error")) is M.MeanSquaredError
    assert type(M.get("root_mean_squared_error")) is M.RootMeanSquaredError
    rmse.reset_state()
    assert rmse.result() == 0.0
    with pytest.raises(ValueError, match="root_mean_squared_error"):
        rmse.update_state(np.zeros((2, 3)), np.zeros((2, 4)))


def test_regression_model_reports_mse_and_rmse_and_saves_them(tmp_path):
    import npconv
    from npconv import layers
    from npconv import metrics as M

    npconv.set_random_seed(0)
    model = npconv.Sequential([npconv.Input((3,)), layers.Dense(2)])
    model.compile("sgd", "mse", metrics=["mse", M.RootMeanSquaredError()])
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    history = model.fit(x, y, batch_size=5, epochs=2, verbose=0)
    assert {"loss", "mse", "root_mean_squared_error"} <= set(history.history)
    loss, mse, rmse = model.evaluate(x, y, verbose=0)
    assert mse == pytest.approx(loss, rel=1e-6) and rmse == pytest.approx(np.sqrt(mse))
    model.save(tmp_path / "m.npconv")
    again = npconv.load_model(tmp_path / "m.npconv")
    assert again.evaluate(x, y, verbose=0) == pytest.approx([loss, mse, rmse], rel=1e-6)


class _TruePositives(metrics.Metric):
    """The Keras training guide's CategoricalTruePositives, its keras.ops written in NumPy."""

    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.reshape(np.argmax(y_pred, axis=1), (-1, 1))
        values = (np.asarray(y_true).reshape(-1, 1).astype("int32") == y_pred).astype("float32")
        if sample_weight is not None:
            values = values * np.reshape(sample_weight, (-1, 1))
        self.true_positives.assign_add(np.sum(values))

    def result(self):
        return self.true_positives.value

    def reset_state(self):
        self.true_positives.assign(0.0)


def test_a_keras_style_metric_subclass_with_add_variable_runs_in_fit_and_evaluate():
    """Metric.__init__ called the subclass's reset_state before its __init__ had made the
    variable (AttributeError: no attribute 'true_positives'), and add_variable did not exist."""
    from npconv.layers.core import Dense
    from npconv.layers.input import Input
    from npconv.models.sequential import Sequential

    m = _TruePositives()
    assert m.name == "categorical_true_positives" and len(m.variables) == 1
    m.update_state([0, 1, 2], np.eye(3)[[0, 2, 2]])
    assert float(m.result()) == 2.0
    m.reset_state()
    assert float(m.result()) == 0.0

    rng = np.random.default_rng(0)
    x, y = rng.random((30, 4)).astype("float32"), rng.integers(0, 3, 30)
    model = Sequential([Input((4,)), Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=[_TruePositives()])
    model.fit(x, y, epochs=1, batch_size=10, verbose=0)
    result = model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)
    expected = np.sum(np.argmax(model.predict(x, verbose=0), axis=1) == y)
    assert result["categorical_true_positives"] == expected  # summed, not a per-batch mean


def test_metric_add_variable_defaults_and_errors():
    class Counts(metrics.Metric):
        def __init__(self):
            super().__init__()
            self.ones = self.add_variable((2,), initializer="ones", name="ones")
            self.counts = self.add_weight(name="counts", shape=(3,), dtype="int64")

        def update_state(self, values):
            self.counts.assign_add(np.bincount(values, minlength=3))
            self.ones.assign_add(1.0)

        def result(self):
            return self.counts.numpy()

    m = Counts()
    assert m.name == "counts" and m.counts.dtype == np.int64 and m.ones.dtype == np.float32
    m.update_state([0, 2, 2])
    np.testing.assert_array_equal(m.result(), [1, 0, 2])
    np.testing.assert_array_equal(m.ones.value, [2.0, 2.0])
    m.reset_state()  # the default: every variable back to its initializer's value
    np.testing.assert_array_equal(m.result(), [0, 0, 0])
    np.testing.assert_array_equal(m.ones.value, [1.0, 1.0])
    with pytest.raises(TypeError, match="counts.add_variable: expected shape to be a tuple"):
        m.add_variable(shape="3")
    with pytest.raises(ValueError, match="counts.add_variable"):
        m.add_variable(initializer="nope")


def test_a_metric_is_callable_as_in_keras_standalone_examples():
    """``m(y_true, y_pred)`` (Keras's standalone usage) was "object is not callable"."""
    m = metrics.SparseCategoricalAccuracy()
    assert m([[1], [2]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]) == 0.5
    assert m([[1]], [[0.1, 0.6, 0.3]]) == pytest.approx(2 / 3)  # accumulates, as Keras
    mean = metrics.Mean()
    assert mean([1, 3, 5, 7]) == 4.0
    assert mean([2], sample_weight=[4]) == pytest.approx((16 + 8) / 8)


def test_default_reset_state_resets_the_metrics_a_metric_holds():
    """Keras's default reset_state resets the variables of the metrics a metric holds (an
    F1 made of a Precision and a Recall, without its own reset_state): they kept their
    counts, so model.reset_metrics() and every new epoch or evaluate carried them on."""
    from npconv import layers, models

    class F1(metrics.Metric):
        def __init__(self, name="f1", **kwargs):
            super().__init__(name=name, **kwargs)
            self.parts = [metrics.Precision(), metrics.Recall()]
            self.tp = self.add_variable(shape=(), name="tp")

        def update_state(self, y_true, y_pred, sample_weight=None):
            for m in self.parts:
                m.update_state(y_true, y_pred, sample_weight)
            self.tp.assign_add(float(np.sum((np.asarray(y_pred) > 0.5) & (y_true != 0))))

        def result(self):
            p, r = (m.result() for m in self.parts)
            return 2 * p * r / (p + r) if p + r else 0.0

    f1 = F1()
    y, p = np.array([[1], [0], [1]]), np.array([[0.9], [0.8], [0.1]])
    assert f1(y, p) == pytest.approx(0.5)
    assert len(f1.variables) == 1 + 0  # its own; Precision/Recall keep NumPy counts
    f1.reset_state()
    assert f1.result() == 0.0 and float(f1.tp.value) == 0.0
    assert f1(y[:1], p[:1]) == pytest.approx(1.0)  # this batch alone, not the one before

    x = np.random.default_rng(0).normal(size=(12, 3)).astype(np.float32)
    yy = (x[:, :1] > 0).astype(int)
    model = models.Sequential([layers.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=[F1()])
    model.evaluate(x, yy, verbose=0)
    model.reset_metrics()
    assert model.get_metrics_result()["f1"] == 0.0
    first = model.evaluate(x[:6], yy[:6], verbose=0, return_dict=True)["f1"]
    fresh = F1()
    assert first == pytest.approx(fresh(yy[:6], model.predict(x[:6], verbose=0)))


def test_a_loss_object_or_callable_instance_as_a_metric_logs_under_its_name_as_keras():
    """Keras's get_object_name: a callable's ``name``, else its ``__name__``, else its class
    name in snake case (npconv logged both as "metric")."""
    from npconv import losses

    class WorstScore:
        def __call__(self, y_true, y_pred):
            return np.max(y_pred, axis=-1)

    assert metrics.get(losses.SparseCategoricalCrossentropy(name="ce")).name == "ce"
    assert metrics.get(losses.CategoricalHinge()).name == "categorical_hinge"
    assert metrics.get(WorstScore()).name == "worst_score"
    assert metrics.get(np.mean).name == "mean"
