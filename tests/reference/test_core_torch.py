"""Dense, flatten and dropout against PyTorch over randomized configurations."""

import numpy as np
import pytest

from npconv.layers.core import Dense, Dropout, Flatten
from npconv.ops.core import (
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    flatten_backward,
    flatten_forward,
)

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-6, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}


def t(a, grad=False):
    out = torch.from_numpy(np.ascontiguousarray(a).copy())
    return out.requires_grad_(True) if grad else out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_matches_torch_linear(dtype):
    rng = np.random.default_rng(31)
    tol = TOL[dtype]
    for i in range(100):
        lead = tuple(int(s) for s in rng.integers(1, 5, size=rng.integers(1, 4)))
        n_in, n_out = (int(v) for v in rng.integers(1, 9, size=2))
        x = rng.standard_normal(lead + (n_in,)).astype(dtype)
        kernel = rng.standard_normal((n_in, n_out)).astype(dtype)
        bias = rng.standard_normal(n_out).astype(dtype) if rng.random() < 0.7 else None
        d_out = rng.standard_normal(lead + (n_out,)).astype(dtype)
        out, cache = dense_forward(x, kernel, bias)
        dx, dk, db = dense_backward(d_out, cache)

        xt, wt = t(x, True), t(kernel.T, True)  # torch's weight is (n_out, n_in)
        bt = None if bias is None else t(bias, True)
        yt = F.linear(xt, wt, bt)
        yt.backward(t(d_out))
        what = f"config {i}: x {x.shape}, kernel {kernel.shape}, bias {bias is not None}"
        assert out.dtype == dtype and dx.dtype == dtype and dk.dtype == dtype
        np.testing.assert_allclose(out, yt.detach().numpy(), **tol, err_msg=what)
        np.testing.assert_allclose(dx, xt.grad.numpy(), **tol, err_msg=what)
        np.testing.assert_allclose(dk, wt.grad.numpy().T, **tol, err_msg=what)
        if bias is not None:
            np.testing.assert_allclose(db, bt.grad.numpy(), **tol, err_msg=what)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_layer_matches_nn_linear(dtype):
    rng = np.random.default_rng(32)
    tol = TOL[dtype]
    for activation, t_act in [(None, lambda z: z), ("relu", F.relu), ("tanh", torch.tanh),
                              ("softmax", lambda z: F.softmax(z, dim=-1))]:
        layer = Dense(7, activation=activation, dtype=dtype)
        twin = torch.nn.Linear(5, 7).to(torch.float64 if dtype == np.float64 else torch.float32)
        x = rng.standard_normal((6, 5)).astype(dtype)
        layer(x)
        layer.set_weights([twin.weight.detach().numpy().T, twin.bias.detach().numpy()])
        d = rng.standard_normal((6, 7)).astype(dtype)
        y = layer(x)
        dx = layer.backward(d)
        xt = t(x, True)
        yt = t_act(twin(xt))
        yt.backward(t(d))
        np.testing.assert_allclose(y, yt.detach().numpy(), **tol, err_msg=str(activation))
        np.testing.assert_allclose(dx, xt.grad.numpy(), **tol, err_msg=str(activation))
        np.testing.assert_allclose(layer.kernel.grad, twin.weight.grad.numpy().T, **tol)
        np.testing.assert_allclose(layer.bias.grad, twin.bias.grad.numpy(), **tol)


def test_flatten_matches_torch_flatten():
    rng = np.random.default_rng(33)
    for _ in range(50):
        shape = tuple(int(s) for s in rng.integers(1, 5, size=rng.integers(2, 6)))
        x = rng.standard_normal(shape)
        out, cache = flatten_forward(x)
        xt = t(x, True)
        yt = torch.nn.Flatten()(xt)
        d = rng.standard_normal(out.shape)
        yt.backward(t(d))
        np.testing.assert_array_equal(out, yt.detach().numpy())
        np.testing.assert_array_equal(flatten_backward(d, cache), xt.grad.numpy())
    # seed 003's example, through the layer
    a2 = torch.arange(0, 16).reshape((2, 2, 4)).unsqueeze(0)
    np.testing.assert_array_equal(Flatten()(a2.numpy()), torch.nn.Flatten()(a2).numpy())


def test_flatten_channels_first_is_keras_order_not_torch_order():
    x = np.arange(24.0).reshape(1, 2, 3, 4)  # NCHW
    keras_order = Flatten(data_format="channels_first")(x)
    torch_order = torch.nn.Flatten()(t(x)).numpy()
    np.testing.assert_array_equal(keras_order, x.transpose(0, 2, 3, 1).reshape(1, -1))
    assert not np.array_equal(keras_order, torch_order)
    np.testing.assert_array_equal(np.sort(keras_order), np.sort(torch_order))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dropout_with_fixed_mask_matches_torch(dtype):
    """Our mask, applied in torch as x * mask / (1 - p): the same output and gradient."""
    rng = np.random.default_rng(34)
    tol = TOL[dtype]
    for i in range(100):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(1, 5)))
        p = float(rng.choice([0.1, 0.25, 0.5, 0.8]))
        x = rng.standard_normal(shape).astype(dtype)
        d = rng.standard_normal(shape).astype(dtype)
        out, cache = dropout_forward(x, p, True, rng=np.random.default_rng(i))
        dx = dropout_backward(d, cache)
        mask = t(cache.mask.astype(dtype))
        xt = t(x, True)
        yt = xt * mask / (1 - p)
        yt.backward(t(d))
        what = f"config {i}: shape {shape}, p={p}"
        assert out.dtype == dtype and dx.dtype == dtype
        np.testing.assert_allclose(out, yt.detach().numpy(), **tol, err_msg=what)
        np.testing.assert_allclose(dx, xt.grad.numpy(), **tol, err_msg=what)


def test_dropout_layer_statistics_like_torch_dropout():
    """Same keep rate and scaling as torch.nn.Dropout (the random streams differ)."""
    x = np.ones((100, 1000), np.float32)
    ours = Dropout(0.3, seed=0)(x, training=True)
    torch.manual_seed(0)
    theirs = torch.nn.Dropout(0.3).train()(t(x)).numpy()
    assert set(np.unique(ours)) == set(np.unique(theirs))
    assert abs((ours != 0).mean() - (theirs != 0).mean()) < 0.01
    np.testing.assert_array_equal(Dropout(0.3)(x, training=False),
                                  torch.nn.Dropout(0.3).eval()(t(x)).numpy())


class _FixedDraw:
    """A stand-in generator whose ``random(shape)`` gives the values that keep exactly the
    channels torch kept (>= rate) and drop the others."""

    def __init__(self, keep):
        self.keep = keep

    def random(self, shape):
        assert shape == self.keep.shape
        return np.where(self.keep, 0.999, 0.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spatial_dropout_matches_torch_dropout2d(dtype, monkeypatch):
    """torch's F.dropout2d draws the channel mask; npconv's SpatialDropout2D is given the same
    mask (its stream differs) and must give torch's output and autograd gradient."""
    import npconv.ops.core as ops_core
    from npconv.layers.core import SpatialDropout2D

    real = ops_core.make_generator
    monkeypatch.setattr(ops_core, "make_generator",
                        lambda g: g if isinstance(g, _FixedDraw) else real(g))

    rng = np.random.default_rng(35)
    tol = TOL[dtype]
    for i in range(60):
        n, c, h, w = (int(s) for s in rng.integers(1, 6, size=4))
        p = float(rng.choice([0.1, 0.25, 0.5, 0.8]))
        channels_first = bool(rng.random() < 0.5)
        x = rng.uniform(0.5, 2, (n, c, h, w)).astype(dtype)  # no zeros: the mask is visible
        d = rng.standard_normal(x.shape).astype(dtype)
        torch.manual_seed(i)
        xt = t(x, True)
        yt = F.dropout2d(xt, p, training=True)
        yt.backward(t(d))
        keep = yt.detach().numpy()[:, :, 0, 0] != 0  # (n, c)
        layer = SpatialDropout2D(p, seed=0, dtype=dtype,
                                 data_format="channels_first" if channels_first else None)
        layer._rng = _FixedDraw(keep[:, None, None, :])
        xin, dd = (x, d) if channels_first else (x.transpose(0, 2, 3, 1), d.transpose(0, 2, 3, 1))
        out = np.asarray(layer.forward(xin, training=True))
        dx = layer.backward(dd)
        if not channels_first:
            out, dx = out.transpose(0, 3, 1, 2), dx.transpose(0, 3, 1, 2)
        what = f"config {i}: x {x.shape}, p={p}, channels_first={channels_first}"
        assert out.dtype == dtype and dx.dtype == dtype
        np.testing.assert_allclose(out, yt.detach().numpy(), **tol, err_msg=what)
        np.testing.assert_allclose(dx, xt.grad.numpy(), **tol, err_msg=what)
        np.testing.assert_array_equal(layer.forward(xin, training=False), xin)
