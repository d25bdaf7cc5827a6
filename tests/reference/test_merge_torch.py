"""Multiply against PyTorch 2.13 autograd (``x_1 * ... * x_k``): forward and every input's
gradient over random shapes and input counts, in both dtypes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from npconv.layers import Multiply  # noqa: E402

TOL = {np.float64: dict(rtol=1e-6, atol=1e-9), np.float32: dict(rtol=1e-4, atol=1e-5)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multiply_matches_torch(dtype):
    rng = np.random.default_rng(70 + (dtype == np.float32))
    for _ in range(40):
        k = int(rng.integers(2, 5))
        shape = tuple(int(v) for v in rng.integers(1, 5, size=int(rng.integers(2, 5))))
        xs = [rng.standard_normal(shape).astype(dtype) for _ in range(k)]
        layer = Multiply()
        y = layer(xs)
        ts = [torch.from_numpy(x.copy()).requires_grad_() for x in xs]
        yt = ts[0]
        for t in ts[1:]:
            yt = yt * t
        d = rng.standard_normal(y.shape).astype(dtype)
        yt.backward(torch.from_numpy(d))
        assert y.dtype == dtype
        np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
        for g, t in zip(layer.backward(d), ts, strict=True):
            assert g.dtype == dtype
            np.testing.assert_allclose(g, t.grad.numpy(), **TOL[dtype])
