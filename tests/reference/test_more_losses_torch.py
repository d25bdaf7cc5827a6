"""The other Keras losses against PyTorch: values and autograd gradients.

Where torch has the loss, its function is the gold value: ``kl_div`` (on Keras's clipped
inputs: Keras clips both sides to [1e-7, 1], torch's xlogy gives 0 where t = 0, so the clip
is written into the torch call), ``poisson_nll_loss(log_input=False, eps=1e-7)``,
``cosine_similarity``, ``binary_cross_entropy`` and ``nll_loss`` for the focal losses at
gamma = 0. Elsewhere (the hinges, log-cosh, MSLE, MAPE, the focal factors) the twin is
Keras's formula written in torch ops and differentiated by torch's autograd: clamp passes the
gradient at its bounds, ``amax`` shares it between ties, as npconv's backward does.
"""

import math

import numpy as np
import pytest

from npconv.training import losses
from tests.reference.test_losses_torch import TOL, check, torch_grad

torch = pytest.importorskip("torch")
F = torch.nn.functional

EPS = 1e-7


def configs(seed, count=30):
    rng = np.random.default_rng(seed)
    for i in range(count):
        dtype = np.float64 if i % 2 == 0 else np.float32
        n, c = int(rng.integers(1, 17)), int(rng.integers(2, 9))
        yield rng, dtype, n, c


def _probs(rng, n, c, dtype):
    return (0.8 * rng.dirichlet(np.ones(c), size=n) + 0.2 / c).astype(dtype)


def test_kl_divergence_is_torch_kl_div():
    for rng, dtype, n, c in configs(0):
        p, t = _probs(rng, n, c, dtype), _probs(rng, n, c, dtype)
        t[0, 0] = 0  # clipped to 1e-7 on Keras's side
        check(losses.KLDivergence().forward_backward(t, p),
              torch_grad(lambda pt, tt: F.kl_div(torch.log(pt.clamp(EPS, 1)), tt.clamp(EPS, 1),
                                                 reduction="none").sum(-1).mean(), p, t),
              dtype, "kl_divergence")
        w = rng.uniform(0, 2, n).astype(dtype)
        check(losses.KLDivergence().forward_backward(t, p, sample_weight=w),
              torch_grad(lambda pt, tt, wt: (F.kl_div(torch.log(pt), tt.clamp(EPS, 1),
                                                      reduction="none").sum(-1) * wt).mean(),
                         p, t, w), dtype, "kl_divergence weighted")


def test_poisson_is_torch_poisson_nll():
    for rng, dtype, n, c in configs(1):
        p = rng.uniform(0.05, 3, (n, c)).astype(dtype)
        t = rng.poisson(1.5, (n, c)).astype(dtype)
        check(losses.Poisson().forward_backward(t, p),
              torch_grad(lambda pt, tt: F.poisson_nll_loss(pt, tt, log_input=False, full=False,
                                                           eps=EPS), p, t), dtype, "poisson")


@pytest.mark.parametrize("axis", [-1, 1])
def test_cosine_similarity_is_minus_torch_cosine_similarity(axis):
    for rng, dtype, n, c in configs(2):
        shape = (n, c) if axis == -1 else (n, c, 3)
        p, t = (rng.normal(size=shape).astype(dtype) for _ in range(2))
        check(losses.CosineSimilarity(axis=axis).forward_backward(t, p),
              torch_grad(lambda pt, tt: -F.cosine_similarity(pt, tt, dim=axis).mean(), p, t),
              dtype, f"cosine axis={axis}")


def _hinge_targets(t):
    return 2 * t - 1 if bool(((t == 0) | (t == 1)).all()) else t


def test_hinges():
    for rng, dtype, n, c in configs(3):
        z = (rng.normal(size=(n, c)) * 2).astype(dtype)
        binary = (rng.random((n, c)) < 0.5).astype(dtype)
        for t in (binary, 2 * binary - 1):
            check(losses.Hinge().forward_backward(t, z),
                  torch_grad(lambda zt, tt: (1 - _hinge_targets(tt) * zt).clamp(min=0).mean(),
                             z, t), dtype, "hinge")
            check(losses.SquaredHinge().forward_backward(t, z),
                  torch_grad(lambda zt, tt: ((1 - _hinge_targets(tt) * zt).clamp(min=0) ** 2)
                             .mean(), z, t), dtype, "squared_hinge")
        onehot = np.eye(c, dtype=dtype)[rng.integers(0, c, n)]

        def categorical(zt, tt):
            pos = (tt * zt).sum(-1)
            neg = ((1 - tt) * zt).amax(-1)
            return (neg - pos + 1).clamp(min=0).mean()

        check(losses.CategoricalHinge().forward_backward(onehot, z),
              torch_grad(categorical, z, onehot), dtype, "categorical_hinge")
        tied = np.zeros_like(z)  # every wrong class ties at 0: amax shares the gradient
        check(losses.CategoricalHinge().forward_backward(onehot, tied),
              torch_grad(categorical, tied, onehot), dtype, "categorical_hinge ties")


def test_log_cosh_msle_mape():
    for rng, dtype, n, c in configs(4):
        p, t = (rng.normal(size=(n, c)).astype(dtype) for _ in range(2))
        check(losses.LogCosh().forward_backward(t, p),
              torch_grad(lambda pt, tt: torch.log(torch.cosh(pt - tt)).mean(), p, t),
              dtype, "log_cosh")
        big = (p * 40).astype(dtype)  # cosh overflows float32 here; Keras's formula does not
        check(losses.LogCosh().forward_backward(t, big),
              torch_grad(lambda pt, tt: ((pt - tt) + F.softplus(-2 * (pt - tt))
                                         - math.log(2)).mean(), big, t), dtype, "log_cosh big")
        check(losses.MeanSquaredLogarithmicError().forward_backward(t, p),
              torch_grad(lambda pt, tt: ((torch.log(pt.clamp(min=EPS) + 1)
                                          - torch.log(tt.clamp(min=EPS) + 1)) ** 2).mean(),
                         p, t), dtype, "msle")
        check(losses.MeanAbsolutePercentageError().forward_backward(t, p),
              torch_grad(lambda pt, tt: 100 * ((tt - pt) / tt.abs().clamp(min=EPS)).abs().mean(),
                         p, t), dtype, "mape")


def _bfce_twin(gamma, alpha, balance, logits, smoothing):
    def fn(zt, tt):
        tt = tt * (1 - smoothing) + 0.5 * smoothing
        p = torch.sigmoid(zt) if logits else zt
        q = p.clamp(EPS, 1 - EPS)
        bce = -(tt * torch.log(q) + (1 - tt) * torch.log(1 - q))
        p_t = tt * p + (1 - tt) * (1 - p)
        out = (1 - p_t) ** gamma * bce
        if balance:
            out = (tt * alpha + (1 - tt) * (1 - alpha)) * out
        return out.mean()
    return fn


@pytest.mark.parametrize(("gamma", "alpha", "balance", "logits", "smoothing"), [
    (2.0, 0.25, False, False, 0.0), (2.0, 0.25, True, True, 0.0), (0.5, 0.7, True, False, 0.1),
    (3.0, 0.25, False, True, 0.3), (1.0, 0.4, True, True, 0.0),
])
def test_binary_focal_crossentropy(gamma, alpha, balance, logits, smoothing):
    loss = losses.BinaryFocalCrossentropy(apply_class_balancing=balance, alpha=alpha,
                                          gamma=gamma, from_logits=logits,
                                          label_smoothing=smoothing)
    for rng, dtype, n, c in configs(5):
        z = (rng.normal(size=(n, c)) * 2).astype(dtype)
        p = z if logits else (1 / (1 + np.exp(-z))).astype(dtype)
        t = (rng.random((n, c)) < 0.5).astype(dtype)
        check(loss.forward_backward(t, p),
              torch_grad(_bfce_twin(gamma, alpha, balance, logits, smoothing), p, t),
              dtype, "binary focal")


def test_binary_focal_at_gamma_0_is_torch_binary_cross_entropy():
    for rng, dtype, n, c in configs(6):
        p = rng.uniform(0.02, 0.98, (n, c)).astype(dtype)
        t = rng.random((n, c)).astype(dtype)
        check(losses.BinaryFocalCrossentropy(gamma=0).forward_backward(t, p),
              torch_grad(F.binary_cross_entropy, p, t), dtype, "bfce gamma 0")


def _cfce_twin(gamma, alpha, logits, smoothing):
    def fn(zt, tt):
        tt = tt * (1 - smoothing) + smoothing / tt.shape[-1]
        y = torch.softmax(zt, -1) if logits else zt
        q = (y / y.sum(-1, keepdim=True)).clamp(EPS, 1 - EPS)
        a = torch.tensor(alpha, dtype=zt.dtype)
        return (a * (1 - q) ** gamma * (-tt * torch.log(q))).sum(-1).mean()
    return fn


@pytest.mark.parametrize(("gamma", "alpha", "logits", "smoothing"), [
    (2.0, 0.25, False, 0.0), (2.0, 0.25, True, 0.0), (0.5, "per class", False, 0.2),
    (3.0, "per class", True, 0.1),
])
def test_categorical_focal_crossentropy(gamma, alpha, logits, smoothing):
    for rng, dtype, n, c in configs(7):
        a = rng.uniform(0.1, 1, c).tolist() if alpha == "per class" else alpha
        loss = losses.CategoricalFocalCrossentropy(alpha=a, gamma=gamma, from_logits=logits,
                                                   label_smoothing=smoothing)
        z = (rng.normal(size=(n, c)) * 2).astype(dtype)
        p = z if logits else (rng.uniform(0.05, 1, (n, c))).astype(dtype)  # not normalised
        t = np.eye(c, dtype=dtype)[rng.integers(0, c, n)]
        check(loss.forward_backward(t, p), torch_grad(_cfce_twin(gamma, a, logits, smoothing),
                                                      p, t), dtype, "categorical focal")


def test_categorical_focal_at_gamma_0_alpha_1_is_torch_cross_entropy():
    for rng, dtype, n, c in configs(8):
        z = (rng.normal(size=(n, c)) * 2).astype(dtype)
        y = rng.integers(0, c, n)
        onehot = np.eye(c, dtype=dtype)[y]
        labels = torch.tensor(y)
        check(losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=0, from_logits=True)
              .forward_backward(onehot, z),
              torch_grad(lambda zt, yt=labels: F.cross_entropy(zt, yt), z),
              dtype, "cfce gamma 0 logits")
        p = torch.softmax(torch.tensor(z, dtype=torch.float64), -1).numpy().astype(dtype)
        if p.min() > 1e-6:  # nothing clipped
            value = losses.CategoricalFocalCrossentropy(alpha=1.0, gamma=0)(onehot, p)
            t_val = F.nll_loss(torch.log(torch.tensor(p)), torch.tensor(y)).item()
            assert value == pytest.approx(t_val, rel=TOL[dtype]["rtol"])
