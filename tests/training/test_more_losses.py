"""Keras 3's other losses: Keras's documented numbers, float64 central finite differences of
every gradient (with sample weights, "sum", 3-D targets and each option), dtypes, names,
configs, training and save/load, bad arguments."""

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.training import losses, metrics
from tests.finite_differences import central_differences


# ------------------------------------------------------------ Keras's documented values
def test_keras_documented_values():
    yt, yp = np.array([[0, 1], [0, 0.0]]), np.array([[0.6, 0.4], [0.4, 0.6]])
    assert losses.KLDivergence()(yt, yp) == pytest.approx(0.458, abs=5e-4)
    assert losses.KLDivergence()(yt, yp, sample_weight=np.array([0.8, 0.2])) == pytest.approx(
        0.366, abs=1e-3)  # the docs print 3 digits, truncated
    np.testing.assert_allclose(losses.binary_focal_crossentropy(yt, yp, gamma=2),
                               [0.330, 0.206], atol=5e-4)
    yt = np.array([[0.0, 1, 0], [0, 0, 1]])
    yp = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    cfce = losses.CategoricalFocalCrossentropy()
    assert cfce(yt, yp) == pytest.approx(0.23315276, rel=1e-6)
    assert cfce(yt, yp, sample_weight=np.array([0.3, 0.7])) == pytest.approx(0.1632, abs=5e-5)
    assert losses.CategoricalFocalCrossentropy(reduction="sum")(yt, yp) == pytest.approx(
        0.46631, abs=5e-6)
    np.testing.assert_allclose(losses.categorical_focal_crossentropy(yt, yp),
                               [3.2058331e-05, 4.6627346e-01], rtol=1e-6)
    yt, yp = np.array([0, 1, 0, 0.0]), np.array([-18.6, 0.51, 2.94, -12.8])
    assert losses.BinaryFocalCrossentropy(gamma=2.0, from_logits=True)(yt, yp) == \
        pytest.approx(0.691, abs=5e-4)
    assert losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=2.0,
                                          from_logits=True)(yt, yp) == pytest.approx(0.51, abs=5e-4)
    yt, yp = np.array([[0, 1], [0, 0.0]]), np.array([[-18.6, 0.51], [2.94, -12.8]])
    assert losses.BinaryFocalCrossentropy(gamma=3, from_logits=True)(yt, yp) == pytest.approx(
        0.647, abs=5e-4)
    assert losses.BinaryFocalCrossentropy(gamma=4, from_logits=True, reduction="sum")(
        yt, yp) == pytest.approx(1.222, abs=5e-4)
    assert losses.BinaryFocalCrossentropy(apply_class_balancing=True, gamma=4, from_logits=True,
                                          reduction="sum")(yt, yp) == pytest.approx(0.914,
                                                                                    abs=5e-4)
    np.testing.assert_allclose(
        losses.cosine_similarity(np.array([[0.0, 1], [1, 1], [1, 1]]),
                                 np.array([[1.0, 0], [1, 1], [-1, -1]])), [0, -1, 1], atol=1e-7)
    assert losses.LogCosh()(np.array([[0.0, 1], [0, 0]]), np.array([[1.0, 1], [0, 0]])) == \
        pytest.approx(0.108, abs=5e-4)


def test_formulas_by_hand():
    t = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    p = np.array([[0.3, -0.8, 2.0], [0.1, 0.5, -1.5]])
    s = 2 * t - 1  # {0, 1} targets are read as {-1, 1}
    np.testing.assert_allclose(losses.hinge(t, p), np.maximum(1 - s * p, 0).mean(1))
    np.testing.assert_allclose(losses.squared_hinge(t, p), (np.maximum(1 - s * p, 0) ** 2).mean(1))
    t3 = np.array([[-1.0, 0.5, 2.0]])  # not all {0, 1}: used as they are
    np.testing.assert_allclose(losses.hinge(t3, p[:1]), np.maximum(1 - t3 * p[:1], 0).mean(1))
    pos, neg = (t * p).sum(1), ((1 - t) * p).max(1)
    np.testing.assert_allclose(losses.categorical_hinge(t, p), np.maximum(neg - pos + 1, 0))
    q = np.abs(p) + 0.1
    np.testing.assert_allclose(losses.poisson(t, q), (q - t * np.log(q + 1e-7)).mean(1))
    np.testing.assert_allclose(losses.log_cosh(t, p), np.log(np.cosh(p - t)).mean(1), rtol=1e-12)
    msle = (np.log(np.maximum(p, 1e-7) + 1) - np.log(np.maximum(t, 1e-7) + 1)) ** 2
    np.testing.assert_allclose(losses.msle(t, p), msle.mean(1))
    np.testing.assert_allclose(losses.mape(t, p),
                               100 * np.abs((t - p) / np.maximum(np.abs(t), 1e-7)).mean(1))
    tc, pc = np.clip(t, 1e-7, 1), np.clip(p, 1e-7, 1)
    np.testing.assert_allclose(losses.kld(t, p), (tc * np.log(tc / pc)).sum(1))
    # saturated errors stay finite (log cosh ~ |x| - log 2)
    assert losses.log_cosh(np.zeros((1, 1)), np.array([[1000.0]]))[0] == pytest.approx(
        1000 - np.log(2))


# ------------------------------------------------------------ gradients by differences
def _numeric(loss, t, p, sw):
    return central_differences(lambda: loss(t, p, sample_weight=sw), p)


def _cases():
    rng = np.random.default_rng(0)
    n, k = 5, 4

    def dirichlet():  # away from 0, where differences of h = 1e-6 are exact enough
        return 0.7 * rng.dirichlet(np.ones(k), size=n) + 0.3 / k

    prob = dirichlet()
    onehot = np.eye(k)[rng.integers(0, k, n)]
    binary = (rng.random((n, k)) < 0.5).astype(float)
    signs = 2 * binary - 1
    normal = rng.normal(size=(n, k))
    positive = rng.uniform(0.1, 3, size=(n, k))
    yield "kl", losses.KLDivergence(), dirichlet(), prob
    yield "kl clipped", losses.KLDivergence(), onehot, prob  # targets 0 clip to eps
    yield "poisson", losses.Poisson(), rng.poisson(2, size=(n, k)).astype(float), positive
    yield "hinge 01", losses.Hinge(), binary, normal
    yield "hinge pm", losses.Hinge(), signs, normal * 2
    yield "squared hinge", losses.SquaredHinge(), binary, normal
    yield "categorical hinge", losses.CategoricalHinge(), onehot, normal
    yield "log cosh", losses.LogCosh(), normal, rng.normal(size=(n, k)) * 3
    yield "msle", losses.MeanSquaredLogarithmicError(), positive, rng.uniform(0.05, 4, (n, k))
    yield "mape", losses.MeanAbsolutePercentageError(), normal, rng.normal(size=(n, k))
    yield "cosine", losses.CosineSimilarity(), normal, rng.normal(size=(n, k))
    yield "bfce", losses.BinaryFocalCrossentropy(), binary, rng.uniform(0.05, 0.95, (n, k))
    yield "bfce logits balanced smooth", losses.BinaryFocalCrossentropy(
        apply_class_balancing=True, alpha=0.3, gamma=1.5, from_logits=True,
        label_smoothing=0.2), binary, normal * 2
    yield "bfce gamma 0", losses.BinaryFocalCrossentropy(gamma=0), binary, \
        rng.uniform(0.05, 0.95, (n, k))
    yield "cfce", losses.CategoricalFocalCrossentropy(), onehot, prob
    yield "cfce unnormalised", losses.CategoricalFocalCrossentropy(gamma=3.0), onehot, \
        positive
    yield "cfce logits alpha list smooth", losses.CategoricalFocalCrossentropy(
        alpha=[0.1, 0.2, 0.3, 0.4], gamma=1.0, from_logits=True, label_smoothing=0.1), \
        onehot, normal * 2
    yield "cfce soft", losses.CategoricalFocalCrossentropy(gamma=0.5), prob, dirichlet()


CASES = list(_cases())


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("weighting", ["plain", "weighted", "sum"])
def test_gradients_match_finite_differences(case, weighting):
    _, loss, t, p = case
    p = p.copy()
    sw = None
    if weighting == "weighted":
        sw = np.linspace(0.2, 1.8, len(p))
    if weighting == "sum":
        loss = type(loss).from_config({**loss.get_config(), "reduction": "sum"})
    value, grad = loss.forward_backward(t, p, sample_weight=sw)
    assert value == pytest.approx(loss(t, p, sample_weight=sw), rel=1e-15)
    assert grad.shape == p.shape and grad.dtype == np.float64
    np.testing.assert_allclose(grad, _numeric(loss, t, p, sw), rtol=1e-6, atol=1e-8)
    assert np.abs(grad).max() > 1e-4  # not vacuous


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_three_dimensional_targets_and_float32(case):
    _, loss, t, p = case
    t3 = np.stack([t, t[::-1]], axis=1)  # (N, 2, K): per-sample losses (N, 2)
    p3 = np.stack([p, p[::-1] * 0.9], axis=1).copy()
    sw = np.linspace(0.5, 1.5, len(p))
    value, grad = loss.forward_backward(t3, p3, sample_weight=sw)
    assert loss.call(t3, p3).shape == p3.shape[:2]
    np.testing.assert_allclose(grad, _numeric(loss, t3, p3, sw), rtol=1e-6, atol=1e-8)
    v32, g32 = loss.forward_backward(t3.astype(np.float32), p3.astype(np.float32),
                                     sample_weight=sw)
    assert g32.dtype == np.float32 and isinstance(v32, float)
    np.testing.assert_allclose(v32, value, rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(g32, grad, rtol=2e-3, atol=1e-4)


def test_cosine_similarity_along_another_axis():
    rng = np.random.default_rng(1)
    t, p = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    loss = losses.CosineSimilarity(axis=1)
    per = loss.call(t, p)
    cos = (t * p).sum(1) / np.linalg.norm(t, axis=1) / np.linalg.norm(p, axis=1)
    np.testing.assert_allclose(per, -cos, rtol=1e-12)
    _, grad = loss.forward_backward(t, p)
    np.testing.assert_allclose(grad, _numeric(loss, t, p, None), rtol=1e-6, atol=1e-8)
    # a zero prediction: the norm counts as 1e-7 (Keras's normalize); value 0, finite gradient
    value, grad = losses.CosineSimilarity().forward_backward(t[:, :, 0], np.zeros((3, 4)))
    assert value == 0 and np.all(np.isfinite(grad))


def test_clipped_entries_get_no_gradient():
    t = np.array([[0.5, 0.5]])
    _, grad = losses.KLDivergence().forward_backward(t, np.array([[0.0, 1.5]]))
    np.testing.assert_array_equal(grad, [[0.0, 0.0]])  # both outside [eps, 1]
    _, grad = losses.MeanSquaredLogarithmicError().forward_backward(t, np.array([[-1.0, 1.0]]))
    assert grad[0, 0] == 0 and grad[0, 1] != 0


# ------------------------------------------------------------ names, configs, training
NAMES = {
    "kl_divergence": losses.KLDivergence, "kld": losses.KLDivergence,
    "KLD": losses.KLDivergence, "KLDivergence": losses.KLDivergence,
    "poisson": losses.Poisson, "hinge": losses.Hinge, "squared_hinge": losses.SquaredHinge,
    "categorical_hinge": losses.CategoricalHinge, "log_cosh": losses.LogCosh,
    "msle": losses.MeanSquaredLogarithmicError, "MSLE": losses.MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": losses.MeanSquaredLogarithmicError,
    "mape": losses.MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": losses.MeanAbsolutePercentageError,
    "cosine_similarity": losses.CosineSimilarity,
    "binary_focal_crossentropy": losses.BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": losses.CategoricalFocalCrossentropy,
    "CategoricalFocalCrossentropy": losses.CategoricalFocalCrossentropy,
}


@pytest.mark.parametrize("name", list(NAMES))
def test_get_by_keras_name(name):
    loss = losses.get(name)
    assert type(loss) is NAMES[name]
    assert getattr(npconv.losses, type(loss).__name__) is type(loss)
    again = losses.get({"class_name": type(loss).__name__, "config": loss.get_config()})
    assert again.get_config() == loss.get_config()


def test_default_names_configs_and_functions():
    assert losses.LogCosh().name == "log_cosh" and losses.KLDivergence().name == "kl_divergence"
    bfce = losses.BinaryFocalCrossentropy()
    assert bfce.get_config() == {
        "name": "binary_focal_crossentropy", "reduction": "sum_over_batch_size",
        "apply_class_balancing": False, "alpha": 0.25, "gamma": 2.0, "from_logits": False,
        "label_smoothing": 0.0, "axis": -1}
    cfce = losses.CategoricalFocalCrossentropy(alpha=[0.2, 0.8], name="f")
    assert losses.CategoricalFocalCrossentropy.from_config(cfce.get_config()).get_config() == \
        cfce.get_config() == {"name": "f", "reduction": "sum_over_batch_size",
                              "alpha": [0.2, 0.8], "gamma": 2.0, "from_logits": False,
                              "label_smoothing": 0.0, "axis": -1}
    assert losses.CosineSimilarity(axis=1).get_config()["axis"] == 1
    for fn, cls in ((losses.kl_divergence, losses.KLDivergence),
                    (losses.poisson, losses.Poisson), (losses.log_cosh, losses.LogCosh),
                    (losses.mape, losses.MeanAbsolutePercentageError),
                    (losses.categorical_focal_crossentropy, losses.CategoricalFocalCrossentropy)):
        assert type(losses.get(fn)) is cls


def test_metrics_of_the_same_names():
    t, p = np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[1.0, 0.0], [2.0, 2.0]])
    m = metrics.get("cosine_similarity")  # Keras's metric: +cos (the loss is -cos)
    m.update_state(t, p)
    assert type(m) is npconv.metrics.CosineSimilarity and m.result() == pytest.approx(0.5)
    m = metrics.get("kl_divergence")
    m.update_state(np.array([[0.2, 0.8]]), np.array([[0.5, 0.5]]))
    assert m.result() == pytest.approx(0.2 * np.log(0.4) + 0.8 * np.log(1.6))


@pytest.mark.parametrize(("loss", "activation", "kind"), [
    ("categorical_focal_crossentropy", "softmax", "onehot"),
    (losses.CategoricalFocalCrossentropy(from_logits=True), None, "onehot"),
    ("binary_focal_crossentropy", "sigmoid", "binary"),
    ("kl_divergence", "softmax", "onehot"),
    ("categorical_hinge", None, "onehot"),
    ("squared_hinge", "tanh", "binary"),
    ("log_cosh", None, "regression"),
    ("cosine_similarity", None, "regression"),
])
def test_trains_and_saves(tmp_path, loss, activation, kind):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    w = rng.normal(size=(6, 3))
    if kind == "onehot":
        y = np.eye(3, dtype=np.float32)[np.argmax(x @ w, 1)]
    elif kind == "binary":
        y = (x @ w > 0).astype(np.float32)
    else:
        y = (x @ w).astype(np.float32)
    npconv.utils.set_random_seed(0)
    model = npconv.Sequential([layers.Input(shape=(6,)), layers.Dense(3, activation=activation)])
    model.compile(optimizer=npconv.optimizers.Adam(0.05), loss=loss)
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "m.npconv")
    again = npconv.models.load_model(tmp_path / "m.npconv")
    assert again.loss.get_config() == model.loss.get_config()
    assert again.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0),
                                                            rel=1e-6)


def test_bad_arguments():
    with pytest.raises(TypeError, match="BinaryFocalCrossentropy: expected from_logits to be "
                                        "a bool. Received: from_logits='yes'"):
        losses.BinaryFocalCrossentropy(from_logits="yes")
    with pytest.raises(ValueError, match=r"BinaryFocalCrossentropy: expected gamma to be a "
                                         r"number >= 0. Received: gamma=-1"):
        losses.BinaryFocalCrossentropy(gamma=-1)
    with pytest.raises(TypeError, match="expected apply_class_balancing to be a bool"):
        losses.BinaryFocalCrossentropy(apply_class_balancing=1)
    with pytest.raises(ValueError, match=r"CategoricalFocalCrossentropy: expected "
                                         r"label_smoothing in \[0, 1\]"):
        losses.CategoricalFocalCrossentropy(label_smoothing=2)
    with pytest.raises(ValueError, match="only axis=-1"):
        losses.CategoricalFocalCrossentropy(axis=0)
    with pytest.raises(ValueError, match="expected alpha to be a number. Received: alpha='a'"):
        losses.CategoricalFocalCrossentropy(alpha="a")
    with pytest.raises(ValueError, match=r"categorical_focal_crossentropy: expected one alpha "
                                         r"per class \(3 classes in y_pred\). Received 2"):
        losses.CategoricalFocalCrossentropy(alpha=[0.5, 0.5])(np.eye(3), np.eye(3))
    with pytest.raises(TypeError, match="CosineSimilarity: expected axis to be an int"):
        losses.CosineSimilarity(axis=1.5)
    with pytest.raises(ValueError, match=r"cosine_similarity: expected axis in \[-2, 2\)"):
        losses.CosineSimilarity(axis=2)(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"kl_divergence: expected y_true of the same shape "
                                         r"as y_pred \(2, 3\)"):
        losses.KLDivergence()(np.ones((2, 4)), np.ones((2, 3)))
    with pytest.raises(TypeError, match="poisson: expected floating-point predictions"):
        losses.Poisson()(np.ones((2, 3)), np.ones((2, 3), dtype=int))
    with pytest.raises(ValueError, match="expected reduction to be one of"):
        losses.Hinge(reduction="average")
