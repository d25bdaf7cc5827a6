"""Dice and Tversky (Keras 3's segmentation losses): values by hand, what alpha and beta
weigh, float64 central finite differences of every gradient (each axis form, reductions,
sample weights), float32, names and configs, Keras argument errors, training and save/load
of a compiled model."""

import json

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.io import load_model
from npconv.random import set_random_seed
from npconv.training import losses, metrics
from tests.finite_differences import central_differences

# two 2x2 one-channel masks (N, H, W, C) and predictions
Y_TRUE = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]])
Y_PRED = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]])


def test_dice_by_hand_per_sample_and_batch_wide():
    # sample 0: I = 1, sum t + sum p = 2 + 2; sample 1: I = 0.4, 2 + 1.3
    per_sample = losses.dice(Y_TRUE, Y_PRED, axis=(1, 2, 3))
    np.testing.assert_allclose(per_sample, [1 - 2 / 4, 1 - 0.8 / 3.3], rtol=1e-6)
    whole = losses.dice(Y_TRUE, Y_PRED)
    assert whole.shape == () and whole == pytest.approx(1 - 2.8 / 7.3, rel=1e-6)
    assert losses.Dice()(Y_TRUE, Y_PRED) == pytest.approx(float(whole))
    assert losses.Dice(axis=(1, 2, 3))(Y_TRUE, Y_PRED) == pytest.approx(per_sample.mean())
    assert losses.Dice(axis=(1, 2, 3), reduction="sum")(Y_TRUE, Y_PRED) == pytest.approx(
        per_sample.sum())
    # a perfect mask: 0 (up to eps); a disjoint one: 1
    assert losses.dice(Y_TRUE, Y_TRUE) == pytest.approx(0, abs=1e-7)
    assert losses.dice(Y_TRUE, 1 - Y_TRUE) == pytest.approx(1)
    # per sample and channel: (N, C) values, their mean
    per_channel = losses.dice(Y_TRUE, Y_PRED, axis=(1, 2))
    assert per_channel.shape == (2, 1)


def test_tversky_alpha_weighs_false_positives_and_beta_false_negatives():
    t = np.array([[1.0, 1.0, 0.0, 0.0]])
    only_fp = np.array([[1.0, 1.0, 1.0, 1.0]])  # TP 2, FP 2, FN 0
    only_fn = np.array([[1.0, 0.0, 0.0, 0.0]])  # TP 1, FP 0, FN 1
    assert losses.tversky(t, only_fp, alpha=1.0, beta=0.0) == pytest.approx(1 - 2 / 4)
    assert losses.tversky(t, only_fp, alpha=0.0, beta=1.0) == pytest.approx(0, abs=1e-7)
    assert losses.tversky(t, only_fn, alpha=0.0, beta=1.0) == pytest.approx(1 - 1 / 2)
    assert losses.tversky(t, only_fn, alpha=1.0, beta=0.0) == pytest.approx(0, abs=1e-7)
    # alpha = beta = 0.5 is Dice; alpha = beta = 1 is 1 - IoU (Jaccard)
    np.testing.assert_allclose(losses.tversky(Y_TRUE, Y_PRED, axis=(1, 2, 3)),
                               losses.dice(Y_TRUE, Y_PRED, axis=(1, 2, 3)), rtol=1e-6)
    hard = (Y_PRED > 0.5).astype(float)
    iou = metrics.BinaryIoU(target_class_ids=[1])
    iou.update_state(Y_TRUE, hard)
    assert losses.tversky(Y_TRUE, hard, alpha=1.0, beta=1.0) == pytest.approx(
        1 - iou.result(), rel=1e-6)


def _numeric(loss, t, p, sw):
    return central_differences(lambda: loss(t, p, sample_weight=sw), p)


def _cases():
    rng = np.random.default_rng(0)
    masks = (rng.random((3, 4, 5, 2)) < 0.4).astype(float)
    soft = rng.uniform(0.05, 0.95, (3, 4, 5, 2))
    for axis in (None, (1, 2, 3), (1, 2), -1, [2, 1], (0, 1, 2)):
        yield f"dice axis={axis}", losses.Dice(axis=axis), masks, soft
        yield f"tversky axis={axis}", losses.Tversky(alpha=0.3, beta=0.7, axis=axis), masks, \
            soft
    yield "tversky soft targets", losses.Tversky(alpha=0.8, beta=0.1, axis=(1, 2, 3)), \
        rng.uniform(0, 1, (3, 4, 5, 2)), soft
    yield "dice (N, K)", losses.Dice(axis=1), masks[:, :, 0, 0], soft[:, :, 0, 0]


CASES = list(_cases())


def _weightings():
    """Every case with each reduction; per-sample weights only where the loss keeps the
    batch axis (a batch-wide value refuses them: test_argument_and_input_errors)."""
    for case in CASES:
        _, loss, t, p = case
        kept = loss._keeps_batch_axis(np.ndim(loss.call(t, p)))
        for weighting in ("plain", "sum", *(("weighted", "mean_with_sample_weight") if kept
                                            else ())):
            yield pytest.param(case, weighting, kept, id=f"{case[0]}-{weighting}")


@pytest.mark.parametrize("case, weighting, batch_kept", list(_weightings()))
def test_gradients_match_finite_differences(case, weighting, batch_kept):
    _, loss, t, p = case
    p = p.copy()
    sw = np.linspace(0.2, 1.8, len(p)) if batch_kept and weighting != "plain" else None
    if weighting in ("sum", "mean_with_sample_weight"):
        loss = type(loss).from_config({**loss.get_config(), "reduction": weighting})
    value, grad = loss.forward_backward(t, p, sample_weight=sw)
    assert value == pytest.approx(loss(t, p, sample_weight=sw), rel=1e-15)
    assert grad.shape == p.shape and grad.dtype == np.float64
    np.testing.assert_allclose(grad, _numeric(loss, t, p, sw), rtol=1e-6, atol=1e-9)
    assert np.abs(grad).max() > 1e-4  # not vacuous


def test_float32_stays_float32_and_matches_float64():
    loss = losses.Tversky(alpha=0.4, beta=0.6, axis=(1, 2, 3))
    _, _, t, p = CASES[3]
    v64, g64 = loss.forward_backward(t, p)
    v32, g32 = loss.forward_backward(t.astype(np.float32), p.astype(np.float32))
    assert g32.dtype == np.float32 and isinstance(v32, float)
    assert loss.call(t.astype(np.float32), p.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(v32, v64, rtol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-4, atol=1e-7)


def test_names_configs_and_functions():
    assert type(losses.get("dice")) is losses.Dice and type(losses.get("Tversky")) is \
        losses.Tversky
    assert losses.get(losses.dice).name == "dice" and losses.get(losses.tversky).name == \
        "tversky"
    assert npconv.losses.Dice is losses.Dice and npconv.losses.tversky is losses.tversky
    t = losses.Tversky(alpha=0.2, beta=0.8, axis=(1, 2, 3), name="tv", reduction="sum")
    config = json.loads(json.dumps(t.get_config()))
    assert config == {"name": "tv", "reduction": "sum", "axis": [1, 2, 3], "alpha": 0.2,
                      "beta": 0.8}
    again = losses.get({"class_name": "Tversky", "config": config})
    assert again.get_config() == config
    assert losses.Dice().get_config() == {"name": "dice", "reduction": "sum_over_batch_size",
                                          "axis": None}
    # as a metric: the mean over batches of the loss's value
    m = metrics.get("dice")
    m.update_state(Y_TRUE, Y_PRED)
    assert m.result() == pytest.approx(float(losses.dice(Y_TRUE, Y_PRED)))


def test_argument_and_input_errors():
    with pytest.raises(TypeError, match=r"Dice: expected axis to be None, an int or a tuple "
                                        r"of ints\. Received: axis=1\.5"):
        losses.Dice(axis=1.5)
    with pytest.raises(ValueError, match=r"Tversky: expected alpha to be a number\. Received: "
                                         r"alpha='big'"):
        losses.Tversky(alpha="big")
    with pytest.raises(ValueError, match=r"dice: expected axis to be None, or axes in \[-4, 4\) "
                                         r"of predictions of rank 4\. Received: axis=\[1, 4\]"):
        losses.Dice(axis=(1, 4))(Y_TRUE, Y_PRED)
    with pytest.raises(ValueError, match=r"dice: expected distinct axes\. Received: "
                                         r"axis=\[1, -3\]"):
        losses.Dice(axis=(1, -3))(Y_TRUE, Y_PRED)
    with pytest.raises(ValueError, match=r"tversky: with axis=None the loss sums over the batch "
                                         r"axis, so it has no per-sample values to weigh"):
        losses.Tversky()(Y_TRUE, Y_PRED, sample_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"dice: with axis=\[0, 1, 2\] the loss sums over"):
        losses.Dice(axis=(0, 1, 2))(Y_TRUE, Y_PRED, sample_weight=np.ones(2))
    assert losses.Dice()(Y_TRUE, Y_PRED, sample_weight=2.0) == pytest.approx(
        2 * losses.Dice()(Y_TRUE, Y_PRED))  # a scalar weight scales any form
    with pytest.raises(ValueError, match=r"dice: expected y_true of the same shape as y_pred"):
        losses.Dice()(Y_TRUE[:, :1], Y_PRED)


def test_trains_a_segmentation_model_and_saves_with_it(tmp_path):
    set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 8, 8, 1)).astype(np.float32)
    y = (x > 0.2).astype(np.float32)
    model = npconv.Sequential([layers.Input((8, 8, 1)),
                               layers.Conv2D(4, 3, padding="same", activation="relu"),
                               layers.Conv2D(1, 1, activation="sigmoid")])
    model.compile("adam", losses.Dice(axis=(1, 2, 3)),
                  metrics=[metrics.BinaryIoU(target_class_ids=[1])])
    history = model.fit(x, y, epochs=8, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "dice.npconv"
    model.save(path)
    again = load_model(path)
    assert type(again.loss) is losses.Dice and again.loss.axis == [1, 2, 3]
    assert again.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    tv = npconv.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(1, 1, activation="sigmoid")])
    tv.compile("adam", "tversky")
    tv.fit(x, y, epochs=1, batch_size=8, verbose=0)
    with pytest.raises(ValueError, match=r"tversky: with axis=None the loss sums over the batch"):
        tv.fit(x, y, epochs=1, batch_size=8, verbose=0, sample_weight=np.ones(16))
