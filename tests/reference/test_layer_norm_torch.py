"""Layer normalization against torch.nn.functional.layer_norm over randomized configurations.

torch normalises over the trailing ``normalized_shape``; for a set of axes that is not
trailing, the torch side permutes those axes to the end first (and back after). eps is set
equal to Keras's epsilon (torch's default is 1e-5, Keras's 1e-3; both inside the sqrt of the
biased variance).

In float32 torch's dx is the less exact side where the normalised groups are small (sizes 1
or 2, a small epsilon): for (2, 2) with eps 1e-5 it is off the exact value by 2e-5, npconv
by 1e-6; for one value per group the exact dx is 0 and torch's rounding leaves a variance of
~1e-14 that 1/sqrt(var + eps) amplifies to 3e-5. So float32's dx is checked against torch run
in float64 on the same values (the exact answer) always, and against torch's float32 too
wherever torch's float32 is itself within the tolerance of its float64.
"""

import numpy as np
import pytest

from npconv.layers.normalization import LayerNormalization
from npconv.ops.norm import layer_norm_backward, layer_norm_forward

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-6, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}


def t(a, grad=False):
    out = torch.from_numpy(np.ascontiguousarray(a).copy())
    return out.requires_grad_(True) if grad else out


def configs(seed, dtype, n=120):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        rank = int(rng.integers(2, 5))
        shape = tuple(int(s) for s in rng.integers(1, 6, size=rank))
        k = int(rng.integers(1, rank))
        axes = tuple(sorted(int(a) for a in rng.choice(np.arange(1, rank), k, replace=False)))
        x = (rng.standard_normal(shape) * rng.uniform(0.1, 3) + rng.uniform(-3, 3)).astype(dtype)
        pshape = tuple(shape[a] for a in axes)
        yield dict(
            x=x, axes=axes,
            gamma=rng.uniform(0.5, 1.5, pshape).astype(dtype) if rng.random() < 0.8 else None,
            beta=rng.standard_normal(pshape).astype(dtype) if rng.random() < 0.8 else None,
            epsilon=float(rng.choice([1e-5, 1e-3, 0.1])),
            d_out=rng.standard_normal(shape).astype(dtype),
        )


def torch_layer_norm(c, as_type):
    """torch's F.layer_norm over ``c["axes"]`` (moved last, then back) on ``as_type`` of the
    config's arrays: the output and the gradients (dx, d_gamma, d_beta; None when absent)."""
    x, axes = c["x"], c["axes"]
    perm = tuple(a for a in range(x.ndim) if a not in axes) + axes
    xt = t(as_type(x), True)
    gt = None if c["gamma"] is None else t(as_type(c["gamma"]), True)
    bt = None if c["beta"] is None else t(as_type(c["beta"]), True)
    yt = F.layer_norm(xt.permute(perm), tuple(x.shape[a] for a in axes), gt, bt,
                      eps=c["epsilon"]).permute(tuple(np.argsort(perm)))
    yt.backward(t(as_type(c["d_out"])))
    grads = [None if v is None else v.grad.numpy() for v in (xt, gt, bt)]
    return yt.detach().numpy(), grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_norm_matches_torch(dtype):
    tol = TOL[dtype]
    for i, c in enumerate(configs(7, dtype)):
        x, axes = c["x"], c["axes"]
        what = f"config {i}: x {x.shape}, axes {axes}, eps {c['epsilon']}"
        out, cache = layer_norm_forward(x, c["gamma"], c["beta"], axes, c["epsilon"])
        ours = layer_norm_backward(c["d_out"], cache)
        y_t, grads_t = torch_layer_norm(c, lambda a: a)
        assert out.dtype == dtype and ours[0].dtype == dtype
        np.testing.assert_allclose(out, y_t, **tol, err_msg=f"forward, {what}")
        exact = grads_t if dtype == np.float64 else torch_layer_norm(
            c, lambda a: a.astype(np.float64))[1]
        for name, g, g_t, g_exact in zip(("dx", "d_gamma", "d_beta"), ours, grads_t, exact,
                                         strict=True):
            assert (g is None) == (g_t is None), name
            if g is None:
                continue
            np.testing.assert_allclose(g, g_exact, **tol, err_msg=f"{name} vs float64, {what}")
            if np.allclose(g_t, g_exact, **tol):  # torch's float32 within tolerance itself
                np.testing.assert_allclose(g, g_t, **tol, err_msg=f"{name}, {what}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_matches_nn_layer_norm(dtype):
    """The layer (trailing axes, channels_last and channels_first) against torch's module."""
    rng = np.random.default_rng(8)
    tol = TOL[dtype]
    for i in range(30):
        shape = (int(rng.integers(1, 5)),) + tuple(int(s) for s in rng.integers(1, 6, size=3))
        trailing = int(rng.integers(1, 4))
        axis = -1 if trailing == 1 else list(range(4 - trailing, 4))
        x = rng.standard_normal(shape).astype(dtype)
        d = rng.standard_normal(shape).astype(dtype)
        layer = LayerNormalization(axis=axis, epsilon=1e-3, dtype=dtype)
        layer(x)
        module = torch.nn.LayerNorm(shape[4 - trailing:], eps=1e-3, dtype=torch.from_numpy(
            x).dtype)
        with torch.no_grad():
            module.weight.copy_(t(rng.uniform(0.5, 1.5, module.weight.shape).astype(dtype)))
            module.bias.copy_(t(rng.standard_normal(module.bias.shape).astype(dtype)))
        layer.set_weights([module.weight.detach().numpy(), module.bias.detach().numpy()])
        y = np.asarray(layer(x, training=True))
        dx = layer.backward(d)
        xt = t(x, True)
        yt = module(xt)
        yt.backward(t(d))
        what = f"config {i}: x {shape}, axis {axis}"
        np.testing.assert_allclose(y, yt.detach().numpy(), **tol, err_msg=what)
        np.testing.assert_allclose(dx, xt.grad.numpy(), **tol, err_msg=what)
        np.testing.assert_allclose(layer.gamma.grad, module.weight.grad.numpy(), **tol,
                                   err_msg=what)
        np.testing.assert_allclose(layer.beta.grad, module.bias.grad.numpy(), **tol,
                                   err_msg=what)
