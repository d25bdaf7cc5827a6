"""PReLU, ELU, GroupNormalization and UnitNormalization against their torch twins, forward
and gradients, over randomized configurations.

- PReLU shared over H, W (``shared_axes=[1, 2]`` on NHWC) is ``torch.nn.PReLU(C)`` on NCHW;
  PReLU with one alpha per value (Keras's default) is checked against the formula
  ``torch.where(x > 0, x, alpha * x)`` under autograd (torch's PReLU takes only per-channel
  weights). Inputs include exact zeros: both sides give alpha as d/dx there.
- GroupNormalization on NHWC (axis -1) and NCHW (axis 1) is ``F.group_norm`` on NCHW with
  eps equal to Keras's epsilon.
- UnitNormalization is ``F.normalize(x, dim=axes)`` where ``sum(x**2) >= 1e-12`` (Keras
  bounds the squared sum, torch the norm: they differ only for norms below 1e-6).
"""

import numpy as np
import pytest

from npconv import layers
from npconv.ops.norm import group_norm_backward, group_norm_forward

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}


def t(a, grad=False):
    out = torch.from_numpy(np.ascontiguousarray(a).copy())
    return out.requires_grad_(True) if grad else out


def _with_zeros(x, rng):
    x = x.copy()
    x.flat[rng.choice(x.size, max(1, x.size // 10), replace=False)] = 0
    return x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_prelu_shared_over_space_is_torch_prelu(dtype):
    rng = np.random.default_rng(0)
    for i in range(20):
        n, h, w, c = (int(v) for v in rng.integers(1, 6, 4))
        x = _with_zeros(rng.standard_normal((n, h, w, c)).astype(dtype), rng)
        alpha = rng.uniform(-0.5, 1.0, c).astype(dtype)
        layer = layers.PReLU(shared_axes=[1, 2], dtype=dtype.__name__)
        layer.build((None, h, w, c))
        assert layer.alpha.shape == (1, 1, c)
        layer.set_weights([alpha.reshape(1, 1, c)])
        y = layer.forward(x, training=True)
        d = rng.standard_normal(y.shape).astype(dtype)
        dx = layer.backward(d)

        twin = torch.nn.PReLU(num_parameters=c, dtype=getattr(torch, dtype.__name__))
        with torch.no_grad():
            twin.weight.copy_(t(alpha))
        xt = t(x.transpose(0, 3, 1, 2), True)
        yt = twin(xt)
        yt.backward(t(d.transpose(0, 3, 1, 2)))
        what = f"config {i}: x {x.shape}"
        np.testing.assert_allclose(y, yt.detach().numpy().transpose(0, 2, 3, 1),
                                   **TOL[dtype], err_msg=what)
        np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), **TOL[dtype],
                                   err_msg=what)
        np.testing.assert_allclose(layer.alpha.grad.ravel(), twin.weight.grad.numpy(),
                                   **TOL[dtype], err_msg=what)


@pytest.mark.parametrize("shared_axes", [None, [1], [2, 3], [3]])
def test_prelu_per_element_alphas_match_the_formula(shared_axes):
    rng = np.random.default_rng(1)
    x = _with_zeros(rng.standard_normal((4, 3, 5, 2)), rng)
    layer = layers.PReLU(shared_axes=shared_axes, alpha_initializer="random_normal",
                         dtype="float64")
    y = layer.forward(x, training=True)
    d = rng.standard_normal(y.shape)
    dx = layer.backward(d)
    xt, at = t(x, True), t(layer.alpha.value, True)
    yt = torch.where(xt > 0, xt, at * xt)
    yt.backward(t(d))
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[np.float64])
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[np.float64])
    np.testing.assert_allclose(layer.alpha.grad, at.grad.numpy(), **TOL[np.float64])


@pytest.mark.parametrize("alpha", [1.0, 0.3, 2.5])
def test_elu_is_torch_elu(alpha):
    rng = np.random.default_rng(2)
    x = _with_zeros(rng.standard_normal((3, 4, 5)) * 3, rng)
    layer = layers.ELU(alpha=alpha, dtype="float64")
    y = layer.forward(x)
    d = rng.standard_normal(y.shape)
    xt = t(x, True)
    yt = torch.nn.ELU(alpha=alpha)(xt)
    yt.backward(t(d))
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[np.float64])
    np.testing.assert_allclose(layer.backward(d), xt.grad.numpy(), **TOL[np.float64])


def _group_configs(seed, dtype, n=60):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        groups = int(rng.integers(1, 5))
        c = groups * int(rng.integers(1, 4))
        spatial = tuple(int(s) for s in rng.integers(1, 5, int(rng.integers(0, 3))))
        shape = (int(rng.integers(2, 4)), *spatial, c)  # channels last (torch: N > 1)
        x = (rng.standard_normal(shape) * rng.uniform(0.1, 3) + rng.uniform(-3, 3))
        yield dict(x=x.astype(dtype), groups=groups,
                   gamma=rng.uniform(0.5, 1.5, c).astype(dtype) if rng.random() < 0.8 else None,
                   beta=rng.standard_normal(c).astype(dtype) if rng.random() < 0.8 else None,
                   epsilon=float(rng.choice([1e-5, 1e-3, 0.1])),
                   d_out=rng.standard_normal(shape).astype(dtype),
                   channels_first=bool(rng.random() < 0.5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_group_norm_matches_torch(dtype):
    for i, c in enumerate(_group_configs(3, dtype)):
        x, d_out = c["x"], c["d_out"]
        to_first = (0, x.ndim - 1, *range(1, x.ndim - 1))
        if c["channels_first"]:  # the op on NC... input with axis=1
            x, d_out, axis = x.transpose(to_first), d_out.transpose(to_first), 1
        else:
            axis = -1
        out, cache = group_norm_forward(x, c["gamma"], c["beta"], c["groups"], axis,
                                        c["epsilon"])
        dx, d_gamma, d_beta = group_norm_backward(d_out, cache)
        assert out.dtype == dtype and dx.dtype == dtype

        def torch_side(as_type, c=c, x=x, d_out=d_out, axis=axis, to_first=to_first):
            first = x if axis == 1 else x.transpose(to_first)
            xt = t(as_type(first), True)
            gt = None if c["gamma"] is None else t(as_type(c["gamma"]), True)
            bt = None if c["beta"] is None else t(as_type(c["beta"]), True)
            # (torch's backward fails without a weight or a bias: "tensor does not have a
            # device"; ones and zeros that need no gradient stand in for them)
            ch = first.shape[1]
            yt = F.group_norm(xt, c["groups"],
                              t(as_type(np.ones(ch, dtype))) if gt is None else gt,
                              t(as_type(np.zeros(ch, dtype))) if bt is None else bt,
                              eps=c["epsilon"])
            yt.backward(t(as_type(d_out if axis == 1 else d_out.transpose(to_first))))
            back = (lambda a: a) if axis == 1 else (
                lambda a: a.transpose(0, *range(2, a.ndim), 1))
            return (back(yt.detach().numpy()), back(xt.grad.numpy()),
                    None if gt is None else gt.grad.numpy(),
                    None if bt is None else bt.grad.numpy())

        ref = torch_side(lambda a: a)
        exact = ref if dtype == np.float64 else torch_side(lambda a: a.astype(np.float64))
        what = f"config {i}: x {x.shape}, groups {c['groups']}, axis {axis}, eps {c['epsilon']}"
        # float32: against torch run in float64 too (torch's float32 is the less exact side
        # for groups of one value, whose variance it leaves at ~1e-14 instead of 0; as in
        # test_layer_norm_torch)
        np.testing.assert_allclose(out, exact[0], **TOL[dtype], err_msg=f"forward, {what}")
        if dtype == np.float32 and np.allclose(ref[0], exact[0], **TOL[dtype]):
            np.testing.assert_allclose(out, ref[0], **TOL[dtype], err_msg=f"forward, {what}")
        for name, ours, g in zip(("dx", "d_gamma", "d_beta"), (dx, d_gamma, d_beta),
                                 exact[1:], strict=True):
            if g is None:
                assert ours is None, f"{name}, {what}"
            else:
                np.testing.assert_allclose(ours, g, **TOL[dtype], err_msg=f"{name}, {what}")


def test_group_normalization_layer_channels_first_is_torch():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 6, 5, 4))  # NCHW
    d = rng.standard_normal(x.shape)
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    xt = t(x, True)
    yt = F.group_norm(xt, 3, t(gamma), t(beta), eps=1e-3)
    yt.backward(t(d))
    for layer in (layers.GroupNormalization(3, axis=1, dtype="float64"),
                  layers.GroupNormalization(3, data_format="channels_first", dtype="float64")):
        layer.build(x.shape)
        layer.set_weights([gamma, beta])
        np.testing.assert_allclose(layer.forward(x, training=True), yt.detach().numpy(),
                                   **TOL[np.float64])
        np.testing.assert_allclose(layer.backward(d), xt.grad.numpy(), **TOL[np.float64])


@pytest.mark.parametrize("axis, dim", [(-1, -1), (1, 1), ([1, 2], (1, 2)), ([1, 2, 3], (1, 2, 3))])
def test_unit_normalization_is_torch_normalize(axis, dim):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5, 2))
    x[0, 0, 0] *= 1e-4  # a small norm, still above 1e-6
    d = rng.standard_normal(x.shape)
    layer = layers.UnitNormalization(axis=axis, dtype="float64")
    y = layer.forward(x)
    xt = t(x, True)
    yt = F.normalize(xt, dim=dim)
    yt.backward(t(d))
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[np.float64])
    np.testing.assert_allclose(layer.backward(d), xt.grad.numpy(), **TOL[np.float64])


def test_unit_normalization_of_a_zero_vector_is_keras_not_torch():
    """Keras bounds sum(x**2) by 1e-12, torch the norm: at x = 0 Keras's factor is 1e6,
    torch's 1e12 (both give y = 0; the gradient is d times that factor)."""
    x = np.zeros((2, 3))
    x[1] = [1e-8, 0, 0]
    d = np.arange(6.0).reshape(2, 3) + 1
    layer = layers.UnitNormalization(dtype="float64")
    np.testing.assert_allclose(layer.forward(x), x * 1e6)
    np.testing.assert_allclose(layer.backward(d), d * 1e6)
    xt = t(x, True)
    F.normalize(xt, dim=-1).backward(t(d))
    assert not np.allclose(xt.grad.numpy(), d * 1e6)
