"""Sample-weighted losses and L1/L2 penalties against torch autograd: the loss
``sum(w * cross_entropy(reduction='none')) / N`` (+ the penalties) and every weight gradient of
one training step, float64 and float32, over random configurations."""

import numpy as np
import pytest

import npconv
from npconv import regularizers as R
from npconv.layers import Conv2D, Dense, Flatten, Input
from npconv.models import Sequential

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-6, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-6)}


def _twin(model, x, y, w, l1, l2):
    """torch's loss and weight gradients for Conv2D(relu) -> Flatten -> Dense(softmax)."""
    k1, b1, k2, b2 = (torch.from_numpy(a.copy()).requires_grad_(True)
                      for a in model.get_weights())
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    h = F.relu(F.conv2d(xt, k1.permute(3, 2, 0, 1), b1))
    logits = h.permute(0, 2, 3, 1).reshape(len(x), -1) @ k2 + b2
    per_sample = F.cross_entropy(logits, torch.from_numpy(y), reduction="none")
    loss = (per_sample * torch.from_numpy(w)).sum() / len(x)
    loss = loss + l2 * (k1 ** 2).sum() + l1 * k2.abs().sum() + l2 * (k2 ** 2).sum()
    loss.backward()
    return float(loss.detach()), [t.grad.numpy() for t in (k1, b1, k2, b2)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_penalised_step_matches_torch(dtype):
    rng = np.random.default_rng(11)
    for trial in range(12):
        n, c, classes = int(rng.integers(1, 6)), int(rng.integers(1, 3)), int(rng.integers(2, 5))
        l1, l2 = float(rng.uniform(0, 0.05)), float(rng.uniform(0, 0.05))
        model = Sequential([
            Input((5, 5, c)),
            Conv2D(3, 3, activation="relu", kernel_regularizer=R.L2(l2), dtype=dtype),
            Flatten(),
            Dense(classes, activation="softmax", kernel_regularizer=R.L1L2(l1, l2),
                  dtype=dtype),
        ])
        model.compile(optimizer=npconv.optimizers.SGD(learning_rate=0.0),
                      loss="sparse_categorical_crossentropy")
        x = rng.standard_normal((n, 5, 5, c)).astype(dtype)
        y = rng.integers(0, classes, size=n)
        w = rng.uniform(0, 3, size=n).astype(dtype)
        expected_loss, expected_grads = _twin(model, x, y, w, l1, l2)
        loss = model.train_on_batch(x, y, sample_weight=w)
        assert loss == pytest.approx(expected_loss, rel=TOL[dtype]["rtol"]), trial
        for weight, g in zip(model.trainable_weights, expected_grads, strict=True):
            assert weight.grad.dtype == dtype
            np.testing.assert_allclose(weight.grad, g, **TOL[dtype],
                                       err_msg=f"trial {trial} {weight.name}")


def test_class_weight_matches_torch_weighted_cross_entropy_sum_over_batch():
    # Keras's class_weight is per-sample weighting divided by N, not torch's weight= mean
    rng = np.random.default_rng(12)
    logits = rng.standard_normal((7, 3))
    y = rng.integers(0, 3, size=7)
    cw = {0: 0.5, 1: 2.0, 2: 3.0}
    inp = Input((3,))
    model = npconv.Model(inp, npconv.layers.Activation("softmax")(inp))
    model.compile("sgd", "sparse_categorical_crossentropy")
    from npconv.training.loop import _class_weight_to_sample_weight

    w = _class_weight_to_sample_weight(model, y, cw, "test")
    got = model.evaluate(logits, y, sample_weight=w, verbose=0)
    per = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y), reduction="none")
    expected = float((per * torch.tensor([cw[int(c)] for c in y],
                                         dtype=torch.float64)).sum() / 7)
    assert got == pytest.approx(expected, rel=1e-10)
