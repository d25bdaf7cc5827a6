"""Losses against PyTorch: values and autograd gradients over random configurations.

torch's functional losses (cross_entropy, nll_loss, binary_cross_entropy(_with_logits),
mse_loss) are the gold values. On probabilities Keras renormalises and clips to [1e-7, 1-1e-7]
before the log; for the *gradient* w.r.t. the probabilities that renormalisation matters (it
adds a constant per row), so there the torch twin is Keras's formula written in torch ops and
differentiated by autograd, while the values are also checked against plain nll_loss(log p).
"""

import numpy as np
import pytest

from npconv.training import losses

torch = pytest.importorskip("torch")
F = torch.nn.functional

EPS = 1e-7
TOL = {np.float64: {"rtol": 1e-6, "atol": 1e-12}, np.float32: {"rtol": 1e-4, "atol": 1e-6}}


def configs(seed, count=60):
    rng = np.random.default_rng(seed)
    for i in range(count):
        dtype = np.float64 if i % 2 == 0 else np.float32
        n, c = int(rng.integers(1, 33)), int(rng.integers(2, 12))
        z = (rng.normal(size=(n, c)) * rng.uniform(0.1, 4)).astype(dtype)
        y = rng.integers(0, c, size=n)
        yield rng, dtype, z, y


def torch_grad(fn, x, *targets):
    """(value, d value / d x) of ``fn(x_tensor, *target_tensors)`` by torch autograd."""
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt, *(torch.tensor(t) for t in targets))
    out.backward()
    return out.item(), xt.grad.numpy()


def check(ours, theirs, dtype, what):
    value, grad = ours
    t_value, t_grad = theirs
    assert grad.dtype == dtype, what
    np.testing.assert_allclose(value, t_value, **TOL[dtype], err_msg=what)
    np.testing.assert_allclose(grad, t_grad, **TOL[dtype], err_msg=what)


def test_sparse_and_categorical_ce_from_logits():
    for rng, dtype, z, y in configs(0):
        yt = torch.tensor(y)
        check(losses.SparseCategoricalCrossentropy(from_logits=True).forward_backward(y, z),
              torch_grad(lambda zt, yt=yt: F.cross_entropy(zt, yt), z), dtype, "sparse logits")
        # soft targets and label smoothing: torch takes class probabilities as targets
        soft = rng.dirichlet(np.ones(z.shape[1]), size=z.shape[0]).astype(dtype)
        st = torch.tensor(soft)
        check(losses.CategoricalCrossentropy(from_logits=True).forward_backward(soft, z),
              torch_grad(lambda zt, st=st: F.cross_entropy(zt, st), z), dtype, "soft")
        s = float(rng.uniform(0, 0.5))
        onehot = np.eye(z.shape[1], dtype=dtype)[y]
        check(losses.CategoricalCrossentropy(from_logits=True, label_smoothing=s)
              .forward_backward(onehot, z),
              torch_grad(lambda zt, yt=yt, s=s: F.cross_entropy(zt, yt, label_smoothing=s), z),
              dtype, "smoothing")


def keras_prob_ce_in_torch(pt, target):
    q = pt / pt.sum(-1, keepdim=True)
    return -(target * torch.log(q.clamp(EPS, 1 - EPS))).sum(-1).mean()


def test_ce_on_probabilities():
    for _rng, dtype, z, y in configs(1):
        p = np.exp(z - z.max(1, keepdims=True))
        p = (p / p.sum(1, keepdims=True)).astype(dtype)
        onehot = np.eye(z.shape[1], dtype=dtype)[y]
        ours = losses.SparseCategoricalCrossentropy().forward_backward(y, p)
        twin = torch_grad(keras_prob_ce_in_torch, p, onehot)
        check(ours, twin, dtype, "sparse probs")
        check(losses.CategoricalCrossentropy().forward_backward(onehot, p), twin, dtype,
              "categorical probs")
        # the value is torch's plain nll_loss(log p) wherever nothing is clipped
        if p[np.arange(len(y)), y].min() > EPS:
            t_val = F.nll_loss(torch.log(torch.tensor(p)), torch.tensor(y)).item()
            assert ours[0] == pytest.approx(t_val, rel=TOL[dtype]["rtol"])
        # fused path: the gradient w.r.t. the logits is torch's cross_entropy gradient
        if p.min() > EPS:
            check(losses.SparseCategoricalCrossentropy().fused_softmax_backward(y, p),
                  torch_grad(lambda zt, y=y: F.cross_entropy(zt, torch.tensor(y)),
                             z.astype(np.float64)), dtype, "fused softmax")


def test_binary_ce():
    for rng, dtype, z, _ in configs(2):
        t = (rng.random(z.shape) < 0.5).astype(dtype)
        tt = torch.tensor(t)
        check(losses.BinaryCrossentropy(from_logits=True).forward_backward(t, z),
              torch_grad(lambda zt, tt=tt: F.binary_cross_entropy_with_logits(zt, tt), z),
              dtype, "bce logits")
        p = (1 / (1 + np.exp(-np.clip(z, -8, 8)))).astype(dtype)  # unclipped by Keras's eps
        check(losses.BinaryCrossentropy().forward_backward(t, p),
              torch_grad(lambda pt, tt=tt: F.binary_cross_entropy(pt, tt), p),
              dtype, "bce probs")
        z64 = np.clip(z, -8, 8).astype(np.float64)
        check(losses.BinaryCrossentropy().fused_sigmoid_backward(t, p),
              torch_grad(lambda zt, tt=tt: F.binary_cross_entropy_with_logits(zt, tt.double()),
                         z64),
              dtype, "fused sigmoid")
        soft = rng.random(z.shape).astype(dtype)  # soft targets work the same way
        check(losses.BinaryCrossentropy(from_logits=True).forward_backward(soft, z),
              torch_grad(F.binary_cross_entropy_with_logits, z, soft), dtype, "bce soft")


def test_mse():
    for rng, dtype, z, _ in configs(3):
        target = rng.normal(size=z.shape).astype(dtype)
        check(losses.MeanSquaredError().forward_backward(target, z),
              torch_grad(F.mse_loss, z, target),
              dtype, "mse")
        col, tcol = z[:, :1], target[:, 0]  # (N,) targets with an (N, 1) output
        check(losses.MeanSquaredError().forward_backward(tcol, col),
              torch_grad(lambda zt, tg: F.mse_loss(zt[:, 0], tg), col, tcol),
              dtype, "mse column")


def _keras_weighted(per_element, sample_weight):
    """Keras's reduction: mean over the last axis, then ``sum(w * l) / l.size`` over the
    per-sample losses ``l`` ((N,) or (N, T); ``sample_weight`` broadcasts to them)."""
    return (per_element.mean(-1) * sample_weight).mean()


@pytest.mark.parametrize("delta", [1.0, 0.4, 2.5])
def test_huber(delta):
    for rng, dtype, z, _ in configs(int(delta * 10) + 4):
        target = (rng.normal(size=z.shape) * 2).astype(dtype)
        check(losses.Huber(delta=delta).forward_backward(target, z),
              torch_grad(lambda zt, tg: F.huber_loss(zt, tg, delta=delta), z, target),
              dtype, f"huber delta={delta}")
        # (N, T, K): Keras's mean over the last axis then over the batch; with sample
        # weights that is not torch's mean over all elements, so weight torch's per-element
        # losses the Keras way
        z3 = z.reshape(z.shape[0], 1, -1).repeat(2, axis=1)
        t3 = rng.normal(size=z3.shape).astype(dtype)
        w = rng.uniform(0, 2, size=z3.shape[0]).astype(dtype)
        wt = torch.tensor(w)[:, None]
        check(losses.Huber(delta=delta).forward_backward(t3, z3, sample_weight=w),
              torch_grad(lambda zt, tg, wt=wt: _keras_weighted(
                  F.huber_loss(zt, tg, delta=delta, reduction="none"), wt), z3, t3),
              dtype, f"huber weighted delta={delta}")


def test_mean_absolute_error():
    for rng, dtype, z, _ in configs(5):
        target = rng.normal(size=z.shape).astype(dtype)
        check(losses.MeanAbsoluteError().forward_backward(target, z),
              torch_grad(F.l1_loss, z, target), dtype, "mae")
        w = rng.uniform(0, 2, size=z.shape[0]).astype(dtype)
        wt = torch.tensor(w)
        check(losses.MeanAbsoluteError().forward_backward(target, z, sample_weight=w),
              torch_grad(lambda zt, tg, wt=wt: _keras_weighted(
                  F.l1_loss(zt, tg, reduction="none"), wt), z, target),
              dtype, "mae weighted")
        col, tcol = z[:, :1], target[:, 0]  # (N,) targets with an (N, 1) output
        check(losses.MeanAbsoluteError().forward_backward(tcol, col),
              torch_grad(lambda zt, tg: F.l1_loss(zt[:, 0], tg), col, tcol), dtype, "mae column")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_probabilities_exactly_at_the_clip_bounds_keep_their_gradient_as_torch_clamp(dtype):
    """torch.clamp (and tf.clip_by_value) pass the gradient at the bounds themselves."""
    lo, hi = dtype(EPS), dtype(1) - dtype(EPS)
    p = np.array([[lo, hi], [hi, lo]], dtype=dtype)  # rows sum to 1: q == p exactly
    assert np.all(p / p.sum(-1, keepdims=True) == p)
    t = np.array([[1, 0], [0, 1]], dtype=dtype)
    ours = losses.CategoricalCrossentropy().forward_backward(t, p)[1]

    def keras_ce(pt, tt):
        q = pt / pt.sum(-1, keepdim=True)
        return -(tt * torch.log(torch.clamp(q, float(lo), float(hi)))).sum(-1).mean()

    _, theirs = torch_grad(keras_ce, p, t)
    assert np.all(np.abs(theirs) > 0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
    bp = np.array([[lo, hi]], dtype=dtype)
    bt = np.array([[1, 0]], dtype=dtype)
    ours = losses.BinaryCrossentropy().forward_backward(bt, bp)[1]
    _, theirs = torch_grad(lambda pt, tt: -(tt * torch.log(torch.clamp(pt, float(lo), float(hi)))
                                            + (1 - tt) * torch.log(1 - torch.clamp(
                                                pt, float(lo), float(hi)))).mean(), bp, bt)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)
