"""Dice and Tversky against PyTorch: Keras's formulas written in torch ops (torch has no
such loss) and differentiated by torch's autograd, reduced as Keras's
"sum_over_batch_size" / "sum" with per-sample weights, over random shapes, axes and
coefficients, float64 and float32."""

import numpy as np
import pytest

from npconv.training import losses
from tests.reference.test_losses_torch import check, torch_grad

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

EPS = 1e-7


def torch_dice(p, t, dims):
    inter = (t * p).sum(dim=dims)
    return 1 - 2 * inter / (t.sum(dim=dims) + p.sum(dim=dims) + EPS)


def torch_tversky(p, t, dims, alpha, beta):
    inter = (t * p).sum(dim=dims)
    fp = (p * (1 - t)).sum(dim=dims)
    fn = (t * (1 - p)).sum(dim=dims)
    return 1 - inter / (inter + alpha * fp + beta * fn + EPS)


def configs(seed, count=40):
    rng = np.random.default_rng(seed)
    for i in range(count):
        dtype = np.float64 if i % 2 == 0 else np.float32
        shape = tuple(int(d) for d in rng.integers(1, 6, size=int(rng.integers(2, 5))))
        ndim = len(shape)
        form = i % 4
        if form == 0:
            axis = None
        elif form == 1:
            axis = tuple(range(1, ndim))  # per sample
        elif form == 2:
            axis = int(rng.integers(1, ndim))  # one axis
        else:
            axis = tuple(sorted(rng.choice(np.arange(1, ndim), size=max(ndim - 2, 1),
                                           replace=False).tolist()))
        t = (rng.random(shape) < 0.4).astype(dtype) if i % 3 else rng.random(shape).astype(
            dtype)
        p = rng.uniform(0.02, 0.98, shape).astype(dtype)
        yield rng, dtype, axis, t, p


def _dims(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    return (axis,) if isinstance(axis, int) else axis


@pytest.mark.parametrize("kind", ["dice", "tversky"])
def test_values_and_gradients_are_torch_autograd(kind):
    for rng, dtype, axis, t, p in configs(0 if kind == "dice" else 1):
        alpha, beta = (0.5, 0.5) if kind == "dice" else rng.uniform(0, 1.5, 2)
        loss = (losses.Dice(axis=axis) if kind == "dice"
                else losses.Tversky(alpha=alpha, beta=beta, axis=axis))
        dims = _dims(axis, t.ndim)

        def values(pt, tt, dims=dims, alpha=alpha, beta=beta):
            if kind == "dice":
                return torch_dice(pt, tt, dims)
            return torch_tversky(pt, tt, dims, float(alpha), float(beta))

        what = f"{kind} {t.shape} axis={axis} {dtype.__name__}"
        check(loss.forward_backward(t, p), torch_grad(lambda pt, tt: values(pt, tt).mean(),
                                                      p, t), dtype, what)
        summed = type(loss).from_config({**loss.get_config(), "reduction": "sum"})
        check(summed.forward_backward(t, p), torch_grad(lambda pt, tt: values(pt, tt).sum(),
                                                        p, t), dtype, what + " sum")
        if axis is not None:  # one value per sample or more: per-sample weights
            w = rng.uniform(0, 2, t.shape[0]).astype(dtype)

            def weighted(pt, tt, wt):
                v = values(pt, tt)
                return (v * wt.reshape((-1,) + (1,) * (v.ndim - 1))).sum() / v.numel()

            check(loss.forward_backward(t, p, sample_weight=w),
                  torch_grad(weighted, p, t, w), dtype, what + " weighted")
