"""Batch normalization against torch.nn.functional.batch_norm, in both modes.

Conventions converted here: torch wants channels on axis 1 (we keep them last); torch's
momentum is 1 - Keras's; torch's running_var is updated with the *unbiased* batch variance,
Keras's (and ours) with the biased one.
"""

import numpy as np
import pytest

from npconv.layers.normalization import BatchNormalization
from npconv.ops.norm import batch_norm_backward, batch_norm_forward

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-6, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}


def to_torch_layout(a):
    """(N, ..., C) -> (N, C, ...)."""
    return np.moveaxis(a, -1, 1)


def from_torch_layout(a):
    return np.moveaxis(a, 1, -1)


def configs(seed, dtype, n=60):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        rank = int(rng.integers(2, 5))
        shape = tuple(int(s) for s in rng.integers(1, 5, size=rank))
        shape = (int(rng.integers(2, 5)),) + shape[1:]  # torch needs > 1 value per channel
        c = shape[-1]
        x = (rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)).astype(dtype)
        params = dict(
            gamma=rng.uniform(0.5, 1.5, c).astype(dtype),
            beta=rng.standard_normal(c).astype(dtype),
            mm=rng.standard_normal(c).astype(dtype),
            mv=rng.uniform(0.5, 2.0, c).astype(dtype),
            momentum=float(rng.choice([0.0, 0.5, 0.9, 0.99])),
            epsilon=float(rng.choice([1e-5, 1e-3, 0.1])),
        )
        d_out = rng.standard_normal(shape).astype(dtype)
        yield x, params, d_out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(training, dtype):
    tol = TOL[dtype]
    for i, (x, p, d_out) in enumerate(configs(int(training), dtype)):
        what = f"config {i}, shape {x.shape}, training={training}"
        out, cache = batch_norm_forward(x, p["gamma"], p["beta"], p["mm"], p["mv"], training,
                                        p["momentum"], p["epsilon"])
        dx, dg, db = batch_norm_backward(d_out, cache)

        xt = torch.from_numpy(to_torch_layout(x).copy()).requires_grad_(True)
        gt = torch.from_numpy(p["gamma"].copy()).requires_grad_(True)
        bt = torch.from_numpy(p["beta"].copy()).requires_grad_(True)
        rm, rv = torch.from_numpy(p["mm"].copy()), torch.from_numpy(p["mv"].copy())
        yt = F.batch_norm(xt, rm, rv, gt, bt, training=training,
                          momentum=1 - p["momentum"], eps=p["epsilon"])
        yt.backward(torch.from_numpy(to_torch_layout(d_out).copy()))

        assert out.dtype == dtype and dx.dtype == dtype
        np.testing.assert_allclose(out, from_torch_layout(yt.detach().numpy()), **tol,
                                   err_msg=f"forward, {what}")
        np.testing.assert_allclose(dx, from_torch_layout(xt.grad.numpy()), **tol,
                                   err_msg=f"dx, {what}")
        np.testing.assert_allclose(dg, gt.grad.numpy(), **tol, err_msg=f"d_gamma, {what}")
        np.testing.assert_allclose(db, bt.grad.numpy(), **tol, err_msg=f"d_beta, {what}")

        if training:
            m = p["momentum"]
            np.testing.assert_allclose(cache.new_moving_mean, rm.numpy(), **tol,
                                       err_msg=f"moving mean, {what}")
            # torch: rv = m * mv + (1 - m) * var_unbiased; Keras uses var_biased = var_unb*(n-1)/n
            n = x.size // x.shape[-1]
            var_biased = x.astype(np.float64).var(axis=tuple(range(x.ndim - 1)))
            if m < 1:
                var_unbiased = (rv.numpy().astype(np.float64) - m * p["mv"]) / (1 - m)
                np.testing.assert_allclose(var_unbiased * (n - 1) / n, var_biased, **tol,
                                           err_msg=f"torch's unbiased variance, {what}")
            np.testing.assert_allclose(cache.new_moving_var, m * p["mv"] + (1 - m) * var_biased,
                                       **tol, err_msg=f"moving variance, {what}")
        else:
            np.testing.assert_array_equal(rm.numpy(), p["mm"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_matches_batchnorm2d_over_steps(dtype):
    """Keras-style layer on NCHW (axis=1) vs nn.BatchNorm2d: 3 training steps, then eval."""
    rng = np.random.default_rng(8)
    tol = TOL[dtype]
    layer = BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, dtype=dtype)
    twin = torch.nn.BatchNorm2d(4, eps=1e-5, momentum=0.1).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    gamma, beta = rng.uniform(0.5, 1.5, 4).astype(dtype), rng.standard_normal(4).astype(dtype)
    layer(np.zeros((2, 4, 3, 3), dtype))
    layer.set_weights([gamma, beta, np.zeros(4), np.ones(4)])
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(gamma))
        twin.bias.copy_(torch.from_numpy(beta))
    for step in range(3):
        x = (rng.standard_normal((5, 4, 3, 3)) * 2 + 1).astype(dtype)
        d = rng.standard_normal(x.shape).astype(dtype)
        y = layer(x, training=True)
        dx = layer.backward(d)
        twin.train()
        twin.zero_grad()
        xt = torch.from_numpy(x).requires_grad_(True)
        yt = twin(xt)
        yt.backward(torch.from_numpy(d))
        np.testing.assert_allclose(y, yt.detach().numpy(), **tol, err_msg=f"step {step}")
        np.testing.assert_allclose(dx, xt.grad.numpy(), **tol, err_msg=f"dx step {step}")
        np.testing.assert_allclose(layer.gamma.grad, twin.weight.grad.numpy(), **tol)
        np.testing.assert_allclose(layer.beta.grad, twin.bias.grad.numpy(), **tol)
        np.testing.assert_allclose(layer.moving_mean.value, twin.running_mean.numpy(), **tol)
    # Eval with torch's running statistics loaded (its variance is the unbiased one).
    layer.moving_variance.assign(twin.running_var.numpy())
    twin.eval()
    x = rng.standard_normal((2, 4, 3, 3)).astype(dtype)
    np.testing.assert_allclose(layer(x, training=False),
                               twin(torch.from_numpy(x)).detach().numpy(), **tol)
