"""The layers of symbolic-tensor arithmetic against PyTorch 2.13 autograd: ``abs(x)``
(torch.abs), forward and gradient over random shapes, in both dtypes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from npconv.layers import Absolute  # noqa: E402

TOL = {np.float64: dict(rtol=1e-6, atol=1e-9), np.float32: dict(rtol=1e-4, atol=1e-5)}


def _cases(seed, dtype, count=20):
    """Random shapes of standard-normal values with some exact zeros of both signs."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        shape = tuple(int(v) for v in rng.integers(1, 5, size=int(rng.integers(2, 5))))
        x = rng.standard_normal(shape).astype(dtype)
        flat = x.reshape(-1)
        flat[rng.random(flat.size) < 0.2] = 0.0
        flat[rng.random(flat.size) < 0.1] = -0.0
        yield rng, x


def _against_torch(layer, torch_fn, x, rng, dtype):
    y = layer(x)
    t = torch.from_numpy(x.copy()).requires_grad_()
    yt = torch_fn(t)
    d = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(d))
    assert y.dtype == dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    dx = layer.backward(d)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, t.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_absolute_matches_torch(dtype):
    for rng, x in _cases(80 + (dtype == np.float32), dtype):
        _against_torch(Absolute(), torch.abs, x, rng, dtype)
