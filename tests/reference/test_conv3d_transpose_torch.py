"""conv3d_transpose and Conv3DTranspose against PyTorch (``F.conv_transpose3d`` on NCDHW),
forward and every gradient over seeded random geometries, float64 (1e-6) and float32 (1e-4).

Weights: npconv's (Keras's) kernel ``(kd, kh, kw, filters, C_in)`` is torch's
``(C_in, filters, kd, kh, kw)`` transposed (4, 3, 0, 1, 2).

Keras's sizes in torch's terms: torch's ``conv_transpose3d(padding=0, output_padding=0)``
is the full output, ``L = (n - 1) * s + d * (k - 1) + 1`` voxels per axis. Keras's output
(``n_out`` voxels, :mod:`npconv.ops.conv3d_transpose`) starts at voxel
``max(L - n_out, 0) // 2`` of it (the odd voxel cropped at the end, which torch's symmetric
``padding`` cannot say) and is zero past ``L`` (``output_padding`` or "valid" with a kernel
shorter than the stride). So the reference crops or zero-extends torch's full output with
``F.pad`` and adds the bias after: gradients flow through the crop as through Keras's.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.layers import Conv3DTranspose  # noqa: E402
from npconv.ops.conv3d_transpose import (  # noqa: E402
    conv3d_transpose_backward,
    conv3d_transpose_forward,
)

pytestmark = pytest.mark.torch

TOL = {np.float64: 1e-6, np.float32: 1e-4}
CONFIGS_PER_DTYPE = 60


def _close(ours, theirs, dtype, what, config):
    theirs = theirs.detach().numpy()
    scale = max(float(np.abs(theirs).max()), 1.0)
    np.testing.assert_allclose(ours, theirs, rtol=TOL[dtype], atol=TOL[dtype] * scale,
                               err_msg=f"{what} differs from torch for {config}")


def _torch_transpose(x, kernel, bias, strides, dilation, out_dhw, g):
    """torch's full conv_transpose3d, Keras's crop or zero extension, the bias; returns
    (out, dx, d_kernel, d_bias) in npconv's layouts."""
    xt = torch.tensor(np.ascontiguousarray(x.transpose(0, 4, 1, 2, 3)), requires_grad=True)
    wt = torch.tensor(np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2)),
                      requires_grad=True)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    full = F.conv_transpose3d(xt, wt, None, stride=strides, dilation=dilation)
    pads = []
    for length, n_out in reversed(list(zip(full.shape[2:], out_dhw, strict=True))):
        start = max(length - n_out, 0) // 2
        pads += [-start, n_out - length + start]  # (F.pad: last axis first, before/after)
    out = F.pad(full, pads)
    if bt is not None:
        out = out + bt.view(1, -1, 1, 1, 1)
    out.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 4, 1, 2, 3))))
    return (out.permute(0, 2, 3, 4, 1), xt.grad.permute(0, 2, 3, 4, 1),
            wt.grad.permute(2, 3, 4, 1, 0), None if bt is None else bt.grad)


def _random_config(rng):
    k = tuple(int(v) for v in rng.integers(1, 4, size=3))
    d = tuple(int(v) for v in rng.integers(1, 3, size=3)) if rng.random() < 0.35 else (1, 1, 1)
    s = tuple(int(v) for v in rng.integers(1, 4, size=3)) if rng.random() < 0.7 else (1, 1, 1)
    op = (None if rng.random() < 0.5 else tuple(int(rng.integers(0, s[a])) for a in range(3)))
    return dict(n=int(rng.integers(1, 3)), size=tuple(int(v) for v in rng.integers(1, 5, 3)),
                c_in=int(rng.choice([1, 2, 3, 5])), k=k, filters=int(rng.integers(1, 5)),
                strides=s, dilation=d, output_padding=op,
                padding=str(rng.choice(["valid", "same"])), bias=bool(rng.random() < 0.8))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv3d_transpose_matches_torch_random_configs(dtype):
    rng = np.random.default_rng(6061 if dtype is np.float64 else 6062)
    tested = cropped = extended = 0
    while tested < CONFIGS_PER_DTYPE:
        c = _random_config(rng)
        x = rng.standard_normal((c["n"], *c["size"], c["c_in"])).astype(dtype)
        if rng.random() < 0.3:  # a non-contiguous view of the same values
            x = np.asfortranarray(x)
        kernel = rng.standard_normal((*c["k"], c["filters"], c["c_in"])).astype(dtype)
        bias = rng.standard_normal(c["filters"]).astype(dtype) if c["bias"] else None
        args = (c["strides"], c["padding"], c["output_padding"], c["dilation"])
        try:
            out, cache = conv3d_transpose_forward(x, kernel, bias, *args)
        except ValueError as err:  # "same" with an even kernel and no room: an empty output
            assert "output would be empty" in str(err)
            continue
        tested += 1
        assert out.dtype == dtype
        g = rng.standard_normal(out.shape).astype(dtype)
        dx, dk, db = conv3d_transpose_backward(g, cache)
        t_out, t_dx, t_dk, t_db = _torch_transpose(x, kernel, bias, c["strides"],
                                                   c["dilation"], out.shape[1:4], g)
        full = [(n - 1) * s + dl * (k - 1) + 1 for n, s, dl, k in
                zip(c["size"], c["strides"], c["dilation"], c["k"], strict=True)]
        cropped += any(f > o for f, o in zip(full, out.shape[1:4], strict=True))
        extended += any(f < o for f, o in zip(full, out.shape[1:4], strict=True))
        assert out.shape == tuple(t_out.shape), c
        _close(out, t_out, dtype, "output", c)
        _close(dx, t_dx, dtype, "dx", c)
        _close(dk, t_dk, dtype, "d_kernel", c)
        assert dx.dtype == dk.dtype == dtype
        if bias is None:
            assert db is None
        else:
            _close(db, t_db, dtype, "d_bias", c)
    assert cropped >= 10 and extended >= 10  # both sides of Keras's size rule were exercised


def test_valid_padding_is_torchs_own_output_padding():
    """"valid" with output_padding p is torch's conv_transpose3d(padding=0, output_padding=p)
    (the extension past the full output is zeros plus the bias, as torch's)."""
    rng = np.random.default_rng(21)
    for s, op, d in (((2, 3, 2), (1, 2, 0), (1, 1, 1)), ((3, 1, 2), (2, 0, 1), 1),
                     ((1, 1, 1), (0, 0, 0), (2, 1, 2))):
        x = rng.standard_normal((2, 3, 2, 3, 3))
        kernel = rng.standard_normal((3, 2, 2, 4, 3))
        bias = rng.standard_normal(4)
        out, _ = conv3d_transpose_forward(x, kernel, bias, s, "valid", op, d)
        t = F.conv_transpose3d(torch.tensor(x.transpose(0, 4, 1, 2, 3).copy()),
                               torch.tensor(kernel.transpose(4, 3, 0, 1, 2).copy()),
                               torch.tensor(bias), stride=s, output_padding=op, dilation=d)
        _close(out, t.permute(0, 2, 3, 4, 1), np.float64, "output", (s, op, d))


def test_same_padding_is_torchs_padding_when_the_crop_is_even():
    """"same" crops k - s voxels per axis (k the dilated kernel), the odd one at the end:
    when every k - s is even that is torch's padding=(k - s) // 2."""
    rng = np.random.default_rng(22)
    x = rng.standard_normal((2, 3, 4, 2, 3))
    kernel = rng.standard_normal((3, 4, 3, 2, 3))  # k - s: 2, 2, 0
    out, _ = conv3d_transpose_forward(x, kernel, None, (1, 2, 3), "same")
    t = F.conv_transpose3d(torch.tensor(x.transpose(0, 4, 1, 2, 3).copy()),
                           torch.tensor(kernel.transpose(4, 3, 0, 1, 2).copy()),
                           stride=(1, 2, 3), padding=(1, 1, 0))
    assert out.shape == (2, 3, 8, 6, 2)
    _close(out, t.permute(0, 2, 3, 4, 1), np.float64, "output", "same")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_matches_torch_module_channels_first(dtype):
    rng = np.random.default_rng(23)
    layer = Conv3DTranspose(4, (3, 2, 2), strides=(2, 1, 2), padding="valid",
                            output_padding=(1, 0, 1), data_format="channels_first",
                            bias_initializer="random_normal", dtype=np.dtype(dtype).name)
    module = torch.nn.ConvTranspose3d(3, 4, (3, 2, 2), stride=(2, 1, 2),
                                      output_padding=(1, 0, 1),
                                      dtype=torch.float64 if dtype is np.float64 else torch.float32)
    x = rng.standard_normal((2, 3, 4, 3, 5)).astype(dtype)
    layer(x)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(np.ascontiguousarray(
            layer.kernel.value.transpose(4, 3, 0, 1, 2))))
        module.bias.copy_(torch.tensor(layer.bias.value))
    y = layer(x)
    assert y.dtype == dtype
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    _close(y, yt, dtype, "output", "layer")
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = layer.backward(g)
    yt.backward(torch.tensor(g))
    _close(dx, xt.grad, dtype, "dx", "layer")
    _close(layer.kernel.grad, module.weight.grad.permute(2, 3, 4, 1, 0), dtype, "dk", "layer")
    _close(layer.bias.grad, module.bias.grad, dtype, "db", "layer")
