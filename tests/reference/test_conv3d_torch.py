"""conv3d against PyTorch (``F.conv3d`` on NCDHW, permuted): forward and every gradient over
seeded random geometries (strides, "same"/explicit padding, dilation, groups, bias or not),
float32 and float64.

Weights: npconv's kernel ``(kd, kh, kw, C_in / G, C_out)`` is torch's
``(C_out, C_in / G, kd, kh, kw)`` transposed (4, 3, 0, 1, 2).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.ops.conv3d import conv3d_backward, conv3d_forward, resolve_padding3d  # noqa: E402

pytestmark = pytest.mark.torch

TOL = {np.float64: 1e-7, np.float32: 1e-4}


def _close(ours, theirs, dtype, what, config):
    theirs = theirs.detach().numpy()
    scale = max(float(np.abs(theirs).max()), 1.0)
    np.testing.assert_allclose(ours, theirs, rtol=TOL[dtype], atol=TOL[dtype] * scale,
                               err_msg=f"{what} differs from torch for {config}")


def _random_config(rng):
    groups = int(rng.choice([1, 1, 2, 3]))
    c_in = groups * int(rng.integers(1, 4))
    c_out = groups * int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 4, size=3))
    d = tuple(int(v) for v in rng.integers(1, 3, size=3)) if rng.random() < 0.4 else (1, 1, 1)
    s = tuple(int(v) for v in rng.integers(1, 4, size=3)) if rng.random() < 0.6 else (1, 1, 1)
    size = tuple(int(rng.integers(max(1, d[a] * (k[a] - 1) + 1 - 2), 8)) for a in range(3))
    padding = ["valid", "same", int(rng.integers(0, 2)),
               tuple(int(v) for v in rng.integers(0, 3, size=3)),
               tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(3)),
               ][int(rng.integers(0, 5))]
    pads = resolve_padding3d(padding, size, k, s, d)
    if any(size[a] + sum(pads[a]) < d[a] * (k[a] - 1) + 1 for a in range(3)):
        return _random_config(rng)
    return dict(n=int(rng.integers(1, 3)), size=size, c_in=c_in, k=k, c_out=c_out, strides=s,
                padding=padding, dilation=d, groups=groups, bias=bool(rng.random() < 0.8),
                pads=pads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv3d_matches_torch_random_configs(dtype):
    rng = np.random.default_rng(311 if dtype is np.float32 else 312)
    for _ in range(50):
        c = _random_config(rng)
        x = rng.standard_normal((c["n"], *c["size"], c["c_in"])).astype(dtype)
        kernel = rng.standard_normal((*c["k"], c["c_in"] // c["groups"],
                                      c["c_out"])).astype(dtype)
        bias = rng.standard_normal(c["c_out"]).astype(dtype) if c["bias"] else None
        out, cache = conv3d_forward(x, kernel, bias, c["strides"], c["padding"], c["dilation"],
                                    groups=c["groups"])
        assert out.dtype == dtype
        g = rng.standard_normal(out.shape).astype(dtype)
        dx, dk, db = conv3d_backward(g, cache)

        xt = torch.tensor(np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3)), requires_grad=True)
        wt = torch.tensor(np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2)),
                          requires_grad=True)
        bt = None if bias is None else torch.tensor(bias, requires_grad=True)
        (front, back), (top, bottom), (left, right) = c["pads"]
        t_out = F.conv3d(F.pad(xt, (left, right, top, bottom, front, back)), wt, bt,
                         stride=c["strides"], dilation=c["dilation"], groups=c["groups"])
        t_out.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 4, 1, 2, 3))))
        assert out.shape == tuple(t_out.permute(0, 2, 3, 4, 1).shape), c
        _close(out, t_out.permute(0, 2, 3, 4, 1), dtype, "output", c)
        _close(dx, xt.grad.permute(0, 2, 3, 4, 1), dtype, "dx", c)
        _close(dk, wt.grad.permute(2, 3, 4, 1, 0), dtype, "d_kernel", c)
        assert dx.dtype == dk.dtype == dtype
        if bias is not None:
            _close(db, bt.grad, dtype, "d_bias", c)
            assert db.dtype == dtype


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
def test_torch_same_padding_agrees_at_stride_one():
    """torch's own padding="same" (stride 1 only) gives the same output: same pads."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 6, 4, 3))
    kernel = rng.standard_normal((3, 2, 4, 3, 2))
    out, _ = conv3d_forward(x, kernel, padding="same", dilation=(1, 2, 1))
    t_out = F.conv3d(torch.tensor(x.transpose(0, 4, 1, 2, 3).copy()),
                     torch.tensor(kernel.transpose(4, 3, 0, 1, 2).copy()), padding="same",
                     dilation=(1, 2, 1))
    _close(out, t_out.permute(0, 2, 3, 4, 1), np.float64, "output", "same")
