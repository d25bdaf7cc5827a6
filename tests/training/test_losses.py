"""Losses: Keras's formulas by hand, finite-difference gradients, fused paths, bad input."""

import re

import numpy as np
import pytest

from npconv.ops import losses as ops_losses
from npconv.training import losses
from tests.finite_differences import central_differences

EPS = 1e-7


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def numeric_grad(f, x, h=1e-6):
    """Central differences of the scalar f at x (float64)."""
    return central_differences(lambda: f(x), x, h)


def random_case(rng, n=None, c=None):
    n = n or int(rng.integers(1, 7))
    c = c or int(rng.integers(2, 6))
    z = rng.normal(size=(n, c)) * rng.uniform(0.3, 3)
    y = rng.integers(0, c, size=n)
    return z, y, np.eye(c)[y]


# ------------------------------------------------------------------ values by hand
def test_sparse_ce_on_probabilities_is_keras_clipped_mean():
    p = np.array([[0.7, 0.2, 0.1], [0.0, 1.0, 0.0], [0.25, 0.25, 0.5]])
    y = np.array([0, 0, 2])
    # Keras: p / sum(p), clip to [1e-7, 1 - 1e-7], -log at the label, mean over the batch
    expected = np.mean([-np.log(0.7), -np.log(EPS), -np.log(0.5)])
    assert losses.SparseCategoricalCrossentropy()(y, p) == pytest.approx(expected, rel=1e-12)
    assert losses.get("sparse_categorical_crossentropy")(y[:, None], p) == pytest.approx(expected)
    per = losses.sparse_categorical_crossentropy(y, p)
    np.testing.assert_allclose(per, [-np.log(0.7), -np.log(EPS), -np.log(0.5)], rtol=1e-12)


def test_categorical_ce_renormalises_and_smooths_like_keras():
    p = np.array([[2.0, 1.0, 1.0], [1.0, 1.0, 2.0]])  # not normalised: Keras divides by the sum
    t = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    q = p / p.sum(1, keepdims=True)
    assert losses.CategoricalCrossentropy()(t, p) == pytest.approx(
        np.mean(-np.sum(t * np.log(q), 1)), rel=1e-12)
    s = 0.1
    ts = t * (1 - s) + s / 3
    assert losses.CategoricalCrossentropy(label_smoothing=s)(t, p) == pytest.approx(
        np.mean(-np.sum(ts * np.log(q), 1)), rel=1e-12)


def test_binary_ce_and_mse_by_hand():
    p = np.array([[0.9, 0.2], [0.4, 1.0]])
    t = np.array([[1.0, 0.0], [1.0, 1.0]])
    c = np.clip(p, EPS, 1 - EPS)
    elem = -(t * np.log(c) + (1 - t) * np.log(1 - c))
    assert losses.BinaryCrossentropy()(t, p) == pytest.approx(elem.mean(), rel=1e-12)
    np.testing.assert_allclose(losses.binary_crossentropy(t, p), elem.mean(1), rtol=1e-12)
    z = np.array([[30.0, -40.0], [0.5, -2.0]])  # saturated logits stay finite
    elem = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    assert losses.BinaryCrossentropy(from_logits=True)(t, z) == pytest.approx(elem.mean())
    ts = t * 0.8 + 0.1
    elem = -(ts * np.log(c) + (1 - ts) * np.log(1 - c))
    assert losses.BinaryCrossentropy(label_smoothing=0.2)(t, p) == pytest.approx(elem.mean())
    assert losses.get("mse")(t, p) == pytest.approx(np.mean((p - t) ** 2))
    np.testing.assert_allclose(losses.mse(t, p), np.mean((p - t) ** 2, axis=1))


def test_mse_aligns_n_with_n1_like_keras_and_never_broadcasts():
    y_true = np.array([1.0, 2.0, 3.0])
    y_pred = np.array([[1.5], [2.0], [2.0]])
    # Keras's squeeze_or_expand_to_same_rank reads y_true (N,) as (N, 1): 3 values, not 9
    value, grad = losses.MeanSquaredError().forward_backward(y_true, y_pred)
    assert value == pytest.approx((0.25 + 0 + 1) / 3)
    assert grad.shape == (3, 1)
    np.testing.assert_allclose(grad[:, 0], 2 * (y_pred[:, 0] - y_true) / 3)
    value, grad = losses.MeanSquaredError().forward_backward(y_true[:, None], y_pred[:, 0])
    assert grad.shape == (3,)
    with pytest.raises(ValueError, match="mean_squared_error.*shape"):
        losses.MeanSquaredError()(np.ones(4), y_pred)
    with pytest.raises(ValueError, match="mean_squared_error"):
        losses.MeanSquaredError()(np.ones((3, 2)), np.ones((3, 4)))


def test_sample_weight_and_sum_reduction():
    rng = np.random.default_rng(0)
    z, y, _ = random_case(rng, n=5, c=4)
    per = losses.sparse_categorical_crossentropy(y, z, from_logits=True)
    w = rng.uniform(0, 2, size=5)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert loss(y, z, sample_weight=w) == pytest.approx(np.sum(per * w) / 5)
    summed = losses.SparseCategoricalCrossentropy(from_logits=True, reduction="sum")
    assert summed(y, z) == pytest.approx(per.sum())
    f = lambda zz: loss(y, zz, sample_weight=w)  # noqa: E731
    np.testing.assert_allclose(loss.forward_backward(y, z, sample_weight=w)[1],
                               numeric_grad(f, z.copy()), rtol=1e-6, atol=1e-9)



def test_sample_weight_ranks_align_as_in_keras():
    """Keras squeezes a trailing axis of 1 off the weights and adds missing trailing axes:
    (N, 1) weighs losses (N,) as (N,) does, (N,) and (N, 1) weigh losses (N, T) per sample."""
    rng = np.random.default_rng(1)
    z, y, _ = random_case(rng, n=5, c=4)
    w = rng.uniform(0, 2, size=5)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert loss(y, z, sample_weight=w[:, None]) == loss(y, z, sample_weight=w)
    np.testing.assert_array_equal(loss.forward_backward(y, z, sample_weight=w[:, None])[1],
                                  loss.forward_backward(y, z, sample_weight=w)[1])
    mse = losses.MeanSquaredError()
    t, p = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 3, 2))
    per = np.mean((t - p) ** 2, axis=-1)  # (5, 3)
    expected = np.sum(per * w[:, None]) / per.size
    assert mse(t, p, sample_weight=w) == pytest.approx(expected)
    assert mse(t, p, sample_weight=w[:, None]) == pytest.approx(expected)
    for bad in (np.ones((5, 2)), np.ones(4), np.ones((5, 1, 1))):
        with pytest.raises(ValueError, match=re.escape(
                f"sample_weight of shape (5,) or (5, 1). Received shape {bad.shape}")):
            loss(y, z, sample_weight=bad)
    with pytest.raises(ValueError, match=r"mean_squared_error: .*Received shape \(5, 2\)"):
        mse(t, p, sample_weight=np.ones((5, 2)))


# ------------------------------------------------------------ gradients (float64 FD)
SCCE, CCE, BCE = (losses.SparseCategoricalCrossentropy, losses.CategoricalCrossentropy,
                  losses.BinaryCrossentropy)
LOSS_CASES = [
    ("sparse_logits", lambda: SCCE(from_logits=True), "sparse", "z"),
    ("sparse_probs", lambda: losses.SparseCategoricalCrossentropy(), "sparse", "p"),
    ("cat_logits", lambda: losses.CategoricalCrossentropy(from_logits=True), "onehot", "z"),
    ("cat_probs", lambda: losses.CategoricalCrossentropy(), "onehot", "p"),
    ("cat_smooth", lambda: losses.CategoricalCrossentropy(label_smoothing=0.2), "onehot", "p"),
    ("cat_smooth_logits", lambda: CCE(from_logits=True, label_smoothing=0.3), "onehot", "z"),
    ("bce_logits", lambda: losses.BinaryCrossentropy(from_logits=True), "binary", "z"),
    ("bce_probs", lambda: losses.BinaryCrossentropy(), "binary", "sig"),
    ("bce_smooth", lambda: losses.BinaryCrossentropy(label_smoothing=0.1), "binary", "sig"),
    ("mse", losses.MeanSquaredError, "real", "z"),
    ("mae", losses.MeanAbsoluteError, "real", "z"),
    ("huber", losses.Huber, "real", "z"),
    ("huber_delta_0.3", lambda: losses.Huber(delta=0.3), "real", "z"),
]


@pytest.mark.parametrize("name,make,target,pred", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_gradient_matches_central_differences(name, make, target, pred):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    loss = make()
    for _ in range(25):
        z, y, onehot = random_case(rng)
        if pred == "p":
            # unnormalised positive scores too: the renormalisation is part of the gradient;
            # probabilities >= ~1e-3 keep central differences accurate
            x = softmax(np.clip(z, -3, 3)) * rng.uniform(0.5, 2.0)
        elif pred == "sig":
            x = 1 / (1 + np.exp(-np.clip(z, -6, 6)))
        else:
            x = z
        y_true = {"sparse": y, "onehot": onehot, "binary": (rng.random(z.shape) < 0.5) * 1.0,
                  "real": rng.normal(size=z.shape)}[target]
        x_before, y_before = x.copy(), np.copy(y_true)
        value, grad = loss.forward_backward(y_true, x)
        assert value == pytest.approx(loss(y_true, x), rel=1e-12)
        num = numeric_grad(lambda xx: loss(y_true, xx), x.copy())  # noqa: B023
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-8, err_msg=name)
        # inputs untouched, and a second call gives the same result
        np.testing.assert_array_equal(x, x_before)
        np.testing.assert_array_equal(y_true, y_before)
        np.testing.assert_array_equal(loss.forward_backward(y_true, x)[1], grad)


def test_clipped_probabilities_get_no_gradient():
    p = np.array([[1e-9, 1 - 1e-9]])
    _, grad = losses.SparseCategoricalCrossentropy().forward_backward(np.array([0]), p)
    # q_0 < eps is clipped, so only the renormalisation term remains: dL/dp = -a.q / S = 0
    np.testing.assert_allclose(grad, 0, atol=1e-12)
    _, grad = losses.BinaryCrossentropy().forward_backward(np.array([[1.0]]), np.array([[0.0]]))
    assert grad[0, 0] == 0


# -------------------------------------------------------------------- fused paths
def softmax_backward(dp, p):
    return p * (dp - np.sum(dp * p, axis=-1, keepdims=True))


@pytest.mark.parametrize("make,kind", [
    (losses.SparseCategoricalCrossentropy, "sparse"),
    (losses.CategoricalCrossentropy, "onehot"),
    (lambda: losses.CategoricalCrossentropy(label_smoothing=0.15), "onehot"),
])
def test_fused_softmax_equals_chained_plain_gradient(make, kind):
    rng = np.random.default_rng(1)
    loss = make()
    assert loss.fused_activation == "softmax"
    for _ in range(50):
        z, y, onehot = random_case(rng)
        p = softmax(z)
        y_true = y if kind == "sparse" else onehot
        value, d_logits = loss.fused_softmax_backward(y_true, p)
        plain_value, d_p = loss.forward_backward(y_true, p)
        assert value == pytest.approx(plain_value, rel=1e-12)
        np.testing.assert_allclose(d_logits, softmax_backward(d_p, p), rtol=1e-9, atol=1e-12)
        t = loss._smooth(onehot, p) if kind == "onehot" else onehot
        np.testing.assert_allclose(d_logits, (p - t) / len(y), rtol=1e-9, atol=1e-15)
        # and it equals the gradient of the from-logits loss
        from_logits = type(loss)(from_logits=True, **(
            {"label_smoothing": loss.label_smoothing} if kind == "onehot" else {}))
        np.testing.assert_allclose(d_logits, from_logits.forward_backward(y_true, z)[1],
                                   rtol=1e-9, atol=1e-15)


def test_fused_sigmoid_equals_chained_plain_gradient():
    rng = np.random.default_rng(2)
    loss = losses.BinaryCrossentropy()
    assert loss.fused_activation == "sigmoid"
    for _ in range(50):
        z = rng.normal(size=(int(rng.integers(1, 6)), int(rng.integers(1, 4))))
        p = 1 / (1 + np.exp(-z))
        t = (rng.random(z.shape) < 0.5) * 1.0
        value, d_logits = loss.fused_sigmoid_backward(t, p)
        plain_value, d_p = loss.forward_backward(t, p)
        assert value == pytest.approx(plain_value)
        np.testing.assert_allclose(d_logits, d_p * p * (1 - p), rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(d_logits, (p - t) / p.size, rtol=1e-9, atol=1e-15)
    # (N,) labels with an (N, 1) sigmoid output
    p = np.array([[0.2], [0.9]])
    _, d = loss.fused_sigmoid_backward(np.array([0, 1]), p)
    np.testing.assert_allclose(d, (p - [[0], [1]]) / 2)


def test_fused_is_stable_where_the_plain_gradient_is_not():
    p = np.array([[1e-30, 1.0 - 1e-30]], dtype=np.float64)
    value, d = losses.SparseCategoricalCrossentropy().fused_softmax_backward(np.array([0]), p)
    assert value == pytest.approx(-np.log(EPS))
    np.testing.assert_allclose(d, [[-1.0, 1.0]], atol=1e-12)


def test_fused_refused_for_from_logits_and_absent_for_mse():
    with pytest.raises(ValueError, match="from_logits=True"):
        losses.SparseCategoricalCrossentropy(from_logits=True).fused_softmax_backward(
            np.array([0]), np.array([[0.5, 0.5]]))
    assert losses.SparseCategoricalCrossentropy(from_logits=True).fused_activation is None
    assert losses.MeanSquaredError().fused_activation is None


# ------------------------------------------------------------------- dtype, errors
@pytest.mark.parametrize("make,y", [
    (losses.SparseCategoricalCrossentropy, np.array([0, 2])),
    (lambda: losses.SparseCategoricalCrossentropy(from_logits=True), np.array([0, 2])),
    (losses.CategoricalCrossentropy, np.eye(3)[[0, 2]]),
    (losses.BinaryCrossentropy, np.array([[1, 0, 1], [0, 0, 1]])),
    (lambda: losses.BinaryCrossentropy(from_logits=True), np.array([[1, 0, 1], [0, 0, 1]])),
    (losses.MeanSquaredError, np.ones((2, 3))),
])
def test_float32_stays_float32(make, y):
    p = np.array([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]], dtype=np.float32)
    loss = make()
    value, grad = loss.forward_backward(y, p)
    assert grad.dtype == np.float32 and grad.shape == p.shape
    assert isinstance(value, float)
    assert loss.call(y, p).dtype == np.float32
    if loss.fused_activation == "softmax":
        assert loss.fused_softmax_backward(y, p)[1].dtype == np.float32
    grad64 = loss.forward_backward(y, p.astype(np.float64))[1]
    np.testing.assert_allclose(grad, grad64, rtol=1e-4, atol=1e-6)


def test_bad_labels_raise_clear_errors():
    p = softmax(np.zeros((3, 4)))
    sparse = losses.SparseCategoricalCrossentropy()
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*\[0, 4\).*4"):
        sparse(np.array([0, 4, 1]), p)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*\[0, 4\)"):
        sparse(np.array([0, -1, 1]), p)
    with pytest.raises(ValueError, match=r"sparse_categorical_crossentropy.*shape \(3,\).*\(2,\)"):
        sparse(np.array([0, 1]), p)
    with pytest.raises(ValueError, match="integer"):
        sparse(np.array([0.5, 1, 2]), p)
    sparse(np.array([0.0, 1.0, 3.0]), p)  # integral floats are labels, as Keras casts them
    cat = losses.CategoricalCrossentropy()
    with pytest.raises(ValueError, match=r"categorical_crossentropy.*5 classes.*has 4"):
        cat(np.eye(5)[[0, 1, 2]], p)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        cat(np.array([0, 1, 2]), p)  # the hint names the loss that takes labels
    with pytest.raises(ValueError, match="binary_crossentropy"):
        losses.BinaryCrossentropy()(np.ones((3, 2)), np.full((3, 4), 0.5))
    with pytest.raises(TypeError, match="floating-point"):
        losses.MeanSquaredError()(np.ones(3), np.ones(3, dtype=int))
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(TypeError, match="from_logits"):
        losses.BinaryCrossentropy(from_logits="yes")


def test_get_and_config_round_trip():
    for name, cls in [("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
                      ("categorical_crossentropy", losses.CategoricalCrossentropy),
                      ("binary_crossentropy", losses.BinaryCrossentropy),
                      ("mse", losses.MeanSquaredError), ("mean_squared_error",
                                                         losses.MeanSquaredError),
                      ("MSE", losses.MeanSquaredError),
                      ("SparseCategoricalCrossentropy", losses.SparseCategoricalCrossentropy)]:
        assert type(losses.get(name)) is cls
    assert losses.get("mse").name == "mean_squared_error"
    obj = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    assert losses.get(obj) is obj
    assert type(losses.get(losses.binary_crossentropy)) is losses.BinaryCrossentropy
    assert type(losses.get(losses.mse)) is losses.MeanSquaredError
    assert losses.get(None) is None
    clone = losses.CategoricalCrossentropy.from_config(obj.get_config())
    assert clone.get_config() == obj.get_config()
    clone = losses.get({"class_name": "CategoricalCrossentropy", "config": obj.get_config()})
    assert clone.from_logits and clone.label_smoothing == 0.1
    with pytest.raises(ValueError, match="unknown loss 'lovasz_hinge'"):
        losses.get("lovasz_hinge")
    with pytest.raises(ValueError, match="subclass Loss"):
        losses.get(lambda a, b: a - b)


def test_ops_log_softmax_is_stable_and_ops_keep_shapes():
    z = np.array([[1000.0, 0.0, -1000.0]])
    np.testing.assert_allclose(ops_losses.log_softmax(z), [[0.0, -1000.0, -2000.0]])
    z = np.random.default_rng(3).normal(size=(2, 3, 5))
    y = np.random.default_rng(4).integers(0, 5, size=(2, 3))
    loss, cache = ops_losses.softmax_cross_entropy_forward(z, y)
    assert loss.shape == (2, 3)
    d = ops_losses.softmax_cross_entropy_backward(np.ones((2, 3)), cache)
    np.testing.assert_allclose(d, softmax(z) - np.eye(5)[y])
    with pytest.raises(ValueError, match="d_loss"):
        ops_losses.softmax_cross_entropy_backward(np.ones(6), cache)


def test_huber_and_mean_absolute_error_follow_keras_formulas_and_names():
    y_true = np.array([[0.0, 1.0, 2.0], [1.0, -1.0, 0.5]])
    y_pred = np.array([[0.5, 3.0, 2.0], [-2.0, -1.2, 0.5]])
    e = y_pred - y_true
    h = np.where(np.abs(e) <= 1.0, 0.5 * e**2, np.abs(e) - 0.5)
    np.testing.assert_allclose(losses.huber(y_true, y_pred), h.mean(-1))
    np.testing.assert_allclose(losses.mean_absolute_error(y_true, y_pred), np.abs(e).mean(-1))
    assert losses.Huber()(y_true, y_pred) == pytest.approx(h.mean())
    h2 = np.where(np.abs(e) <= 2.0, 0.5 * e**2, 2.0 * np.abs(e) - 2.0)
    assert losses.Huber(delta=2.0)(y_true, y_pred) == pytest.approx(h2.mean())
    assert losses.MeanAbsoluteError()(y_true, y_pred, sample_weight=[1.0, 0.0]) == pytest.approx(
        np.abs(e[0]).mean() / 2)
    for name, cls in [("huber", losses.Huber), ("Huber", losses.Huber),
                      ("mae", losses.MeanAbsoluteError), ("MAE", losses.MeanAbsoluteError),
                      ("mean_absolute_error", losses.MeanAbsoluteError),
                      ("MeanAbsoluteError", losses.MeanAbsoluteError)]:
        assert type(losses.get(name)) is cls, name
    assert type(losses.get(losses.huber)) is losses.Huber
    assert type(losses.get(losses.mae)) is losses.MeanAbsoluteError
    assert losses.Huber().name == "huber_loss" and losses.mae is losses.mean_absolute_error
    clone = losses.get({"class_name": "Huber", "config": losses.Huber(delta=0.5).get_config()})
    assert clone.delta == 0.5
    for bad in (0, -1.0, float("inf"), "1", True):
        with pytest.raises(ValueError, match="Huber: expected delta to be a positive number"):
            losses.Huber(delta=bad)
    with pytest.raises(ValueError, match="mean_absolute_error"):
        losses.MeanAbsoluteError()(np.ones((3, 2)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="huber"):
        losses.Huber()(np.ones((3, 2)), np.ones((3, 4)))


def test_a_regression_model_trains_with_huber_and_mae_and_saves_the_delta(tmp_path):
    from npconv.io import load_model
    from npconv.layers.core import Dense
    from npconv.layers.input import Input
    from npconv.models.sequential import Sequential
    from npconv.random import set_random_seed
    from npconv.training.optimizers import Adam

    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    for loss in (losses.Huber(delta=0.5), "mae"):
        model = Sequential([Input(shape=(3,)), Dense(1)])
        model.compile(optimizer=Adam(0.05), loss=loss)
        first = model.evaluate(x, y, verbose=0)
        model.fit(x, y, epochs=20, batch_size=16, verbose=0)
        assert model.evaluate(x, y, verbose=0) < 0.2 * first
    model.compile(optimizer="sgd", loss=losses.Huber(delta=0.5))
    model.save(tmp_path / "h.npconv")
    assert load_model(tmp_path / "h.npconv").loss.delta == 0.5


def test_a_keras_style_loss_subclass_with_only_call_is_refused_clearly_at_compile():
    """The Keras training guide's CustomMSE(keras.losses.Loss) defines call() only: compile
    accepted it and fit failed deep inside with "'CustomMSE' object has no attribute
    '_forward'"."""
    from npconv.layers.core import Dense
    from npconv.layers.input import Input
    from npconv.models.sequential import Sequential

    class CustomMSE(losses.Loss):
        def call(self, y_true, y_pred):
            return np.mean(np.square(y_true - y_pred), axis=-1)

    model = Sequential([Input((3,)), Dense(2)])
    message = ("CustomMSE: a Loss subclass must define _forward.* and _backward.*npconv has no "
               "automatic differentiation")
    with pytest.raises(TypeError, match=message):
        model.compile("sgd", loss=CustomMSE())
    with pytest.raises(TypeError, match=message):
        model.compile("sgd", loss=CustomMSE)
    with pytest.raises(TypeError, match=message):
        model.compile("sgd", loss={"dense": CustomMSE()})
    with pytest.raises(TypeError, match="a Loss subclass must define _forward"):
        CustomMSE().forward_backward(np.ones((2, 2)), np.ones((2, 2)))


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "mean", "sum",
                                       "mean_with_sample_weight"])
@pytest.mark.parametrize("weights", ["none", "per_sample", "column", "scalar"])
def test_every_keras_reduction_and_its_gradient(reduction, weights):
    """Keras 3's reduce_values: the weighted sum over the per-sample losses, divided by their
    number ("sum_over_batch_size", "mean"), by the sum of the weights as given
    ("mean_with_sample_weight"; the number without weights) or by nothing ("sum")."""
    rng = np.random.default_rng(3)
    z, y, _ = random_case(rng, n=6, c=4)
    per = losses.sparse_categorical_crossentropy(y, z, from_logits=True)
    w = {"none": None, "per_sample": rng.uniform(0, 2, size=6),
         "column": rng.uniform(0, 2, size=(6, 1)), "scalar": 0.7}[weights]
    w_flat = np.ones(6) if w is None else np.broadcast_to(np.reshape(w, (-1,)), (6,))
    divisor = {"sum_over_batch_size": 6, "mean": 6, "sum": 1,
               "mean_with_sample_weight": 6 if w is None else np.sum(w)}[reduction]
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, reduction=reduction)
    assert loss(y, z, sample_weight=w) == pytest.approx(np.sum(per * w_flat) / divisor,
                                                        rel=1e-12)
    value, grad = loss.forward_backward(y, z, sample_weight=w)
    assert value == pytest.approx(loss(y, z, sample_weight=w), rel=1e-12)
    np.testing.assert_allclose(grad, numeric_grad(lambda zz: loss(y, zz, sample_weight=w),
                                                  z.copy()), rtol=1e-6, atol=1e-8)
    assert type(loss).from_config(loss.get_config()).reduction == reduction


def test_mean_with_sample_weight_of_zero_weights_is_zero_as_divide_no_nan():
    loss = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    value, grad = loss.forward_backward(np.ones((3, 2)), np.zeros((3, 2)), np.zeros(3))
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.zeros((3, 2)))


@pytest.mark.parametrize("reduction", [None, "none"])
def test_no_reduction_gives_the_weighted_per_sample_losses(reduction):
    rng = np.random.default_rng(4)
    z, y, onehot = random_case(rng, n=5, c=3)
    w = rng.uniform(0, 2, size=5)
    loss = losses.CategoricalCrossentropy(from_logits=True, reduction=reduction)
    per = losses.categorical_crossentropy(onehot, z, from_logits=True)
    np.testing.assert_allclose(loss(onehot, z), per, rtol=1e-12)
    np.testing.assert_allclose(loss(onehot, z, sample_weight=w), per * w, rtol=1e-12)
    mse = losses.MeanSquaredError(reduction=reduction)(np.ones((2, 3, 4)), np.zeros((2, 3, 4)))
    assert mse.shape == (2, 3)
    with pytest.raises(ValueError, match=r"forward_backward: the loss 'categorical_crossentropy'"
                                         r" has reduction=.*one value per sample"):
        loss.forward_backward(onehot, z)


@pytest.mark.parametrize("reduction", [None, "none"])
def test_no_reduction_gives_the_shape_keras_weighs_the_losses_in(reduction):
    """Keras 3's reduce_weighted_values aligns weights and losses with
    squeeze_or_expand_to_same_rank before it multiplies: losses (N,) with weights (N, 1)
    are expanded to (N, 1), and an unreduced loss returns that product as it is."""
    rng = np.random.default_rng(5)
    z, _, onehot = random_case(rng, n=5, c=3)
    w = rng.uniform(0, 2, size=5)
    loss = losses.CategoricalCrossentropy(from_logits=True, reduction=reduction)
    per = losses.categorical_crossentropy(onehot, z, from_logits=True)
    column = loss(onehot, z, sample_weight=w[:, None])
    assert column.shape == (5, 1)
    np.testing.assert_allclose(column, (per * w)[:, None], rtol=1e-12)
    assert loss(onehot, z, sample_weight=w).shape == (5,)
    assert loss(onehot, z, sample_weight=2.0).shape == (5,)
    mse = losses.MeanSquaredError(reduction=reduction)
    t, p = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    per_pixel = losses.mean_squared_error(t, p)  # (2, 3): (2, 3, 1) weights are squeezed
    sw = rng.uniform(0, 2, size=(2, 3))
    np.testing.assert_allclose(mse(t, p, sample_weight=sw[..., None]), per_pixel * sw,
                               rtol=1e-12)
    assert mse(t, p, sample_weight=sw[:, :1]).shape == (2, 3)


def test_compile_refuses_a_loss_without_reduction():
    import npconv

    model = npconv.Sequential([npconv.Input((3,)), npconv.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"sequential.*compile: the loss 'mean_squared_error' "
                                         r"has reduction=None"):
        model.compile(loss=losses.MeanSquaredError(reduction=None))
    inputs = npconv.Input((3,))
    two = npconv.Model(inputs, [npconv.layers.Dense(2, name="a")(inputs),
                                npconv.layers.Dense(1, name="b")(inputs)])
    with pytest.raises(ValueError, match=r"compile: output 'b': the loss 'mean_squared_error' "
                                         r"has reduction='none'"):
        two.compile(loss=["mse", losses.MeanSquaredError(reduction="none")])


def test_fit_with_mean_with_sample_weight_matches_its_formula():
    """fit's step loss with reduction="mean_with_sample_weight" is sum(w * l) / sum(w) of the
    batch; the first step's loss is evaluated before the update."""
    import npconv

    rng = np.random.default_rng(5)
    x = rng.random((16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    w = rng.uniform(0.1, 2, size=16)
    npconv.utils.set_random_seed(1)
    model = npconv.Sequential([npconv.Input((4,)), npconv.layers.Dense(3, activation="softmax")])
    loss = losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight")
    model.compile(optimizer="sgd", loss=loss)
    expected = loss(y, model.predict(x, verbose=0), sample_weight=w)
    per = losses.sparse_categorical_crossentropy(y, model.predict(x, verbose=0))
    assert expected == pytest.approx(np.sum(per * w) / np.sum(w), rel=1e-5)
    assert model.train_on_batch(x, y, sample_weight=w) == pytest.approx(expected, rel=1e-5)
