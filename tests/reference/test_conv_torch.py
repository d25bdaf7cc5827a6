"""conv2d and Conv2D against PyTorch (torch.nn.functional.conv2d), forward and all gradients."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.layers.conv import Conv2D  # noqa: E402
from npconv.ops.conv import conv2d_backward, conv2d_forward  # noqa: E402
from npconv.ops.padding import resolve_padding  # noqa: E402

TOL = {np.float64: 1e-6, np.float32: 1e-4}


def _close(ours, theirs, dtype, what, config):
    theirs = theirs.detach().numpy()
    scale = max(float(np.abs(theirs).max()), 1.0)
    np.testing.assert_allclose(ours, theirs, rtol=TOL[dtype], atol=TOL[dtype] * 1e-2 * scale,
                               err_msg=f"{what} differs from torch for {config}")


def _torch_conv(x, kernel, bias, strides, pads, dilation, g, native_padding=None):
    """torch's conv2d on NCHW copies; returns (out, dx, d_kernel, d_bias) in NHWC/HWIO order."""
    xt = torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)
    wt = torch.tensor(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), requires_grad=True)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    if native_padding is None:
        (top, bottom), (left, right) = pads
        inp = F.pad(xt, (left, right, top, bottom))
        out = F.conv2d(inp, wt, bt, stride=strides, padding=0, dilation=dilation)
    else:
        out = F.conv2d(xt, wt, bt, stride=strides, padding=native_padding, dilation=dilation)
    out.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))
    return (out.permute(0, 2, 3, 1), xt.grad.permute(0, 2, 3, 1), wt.grad.permute(2, 3, 1, 0),
            None if bt is None else bt.grad)


def _random_config(rng):
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    d = tuple(int(v) for v in rng.integers(1, 3, size=2)) if rng.random() < 0.4 else (1, 1)
    s = tuple(int(v) for v in rng.integers(1, 4, size=2)) if rng.random() < 0.6 else (1, 1)
    h = int(rng.integers(max(1, d[0] * (kh - 1) + 1 - 2), 11))
    w = int(rng.integers(max(1, d[1] * (kw - 1) + 1 - 2), 11))
    kind = rng.integers(0, 5)
    if kind == 0:
        padding = "valid"
    elif kind == 1:
        padding = "same"
    elif kind == 2:
        padding = int(rng.integers(0, 3))
    elif kind == 3:
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    else:
        padding = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(2))
    pads = resolve_padding(padding, (h, w), (kh, kw), s, d)
    if (h + sum(pads[0]) < d[0] * (kh - 1) + 1) or (w + sum(pads[1]) < d[1] * (kw - 1) + 1):
        return _random_config(rng)  # the kernel does not fit: tested among the errors
    n = int(rng.integers(1, 4))
    c_in = int(rng.choice([1, 2, 3, 5, 20]))
    c_out = int(rng.integers(1, 6))
    return dict(n=n, h=h, w=w, c_in=c_in, kh=kh, kw=kw, c_out=c_out, strides=s,
                padding=padding, dilation=d, bias=bool(rng.random() < 0.8), pads=pads)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_matches_torch_random_configs(dtype):
    rng = np.random.default_rng(2024 if dtype is np.float64 else 2025)
    for _ in range(200):
        c = _random_config(rng)
        x = rng.standard_normal((c["n"], c["h"], c["w"], c["c_in"])).astype(dtype)
        if rng.random() < 0.3:  # a non-contiguous view of the same values
            x = np.asfortranarray(x)
        kernel = rng.standard_normal((c["kh"], c["kw"], c["c_in"], c["c_out"])).astype(dtype)
        bias = rng.standard_normal(c["c_out"]).astype(dtype) if c["bias"] else None
        out, cache = conv2d_forward(x, kernel, bias, c["strides"], c["padding"], c["dilation"])
        assert out.dtype == dtype
        g = rng.standard_normal(out.shape).astype(dtype)
        dx, dk, db = conv2d_backward(g, cache)
        t_out, t_dx, t_dk, t_db = _torch_conv(x, kernel, bias, c["strides"], c["pads"],
                                              c["dilation"], g)
        assert out.shape == tuple(t_out.shape), c
        _close(out, t_out, dtype, "output", c)
        _close(dx, t_dx, dtype, "dx", c)
        _close(dk, t_dk, dtype, "d_kernel", c)
        if bias is not None:
            _close(db, t_db, dtype, "d_bias", c)
            assert db.dtype == dtype
        assert dx.dtype == dtype and dk.dtype == dtype


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_torch_native_padding_arguments():
    """Symmetric int/pair padding and torch's own padding="same" (stride 1) agree too."""
    rng = np.random.default_rng(7)
    for padding, torch_padding, d in (
        (1, 1, (1, 1)), ((2, 0), (2, 0), (1, 1)), ("same", "same", (1, 1)),
        ("same", "same", (2, 1)), ("valid", "valid", (1, 2)),
    ):
        for kh, kw in ((3, 3), (2, 4), (1, 5)):
            x = rng.standard_normal((2, 9, 10, 3))
            kernel = rng.standard_normal((kh, kw, 3, 4))
            bias = rng.standard_normal(4)
            out, cache = conv2d_forward(x, kernel, bias, 1, padding, d)
            g = rng.standard_normal(out.shape)
            ours = (out, *conv2d_backward(g, cache))
            theirs = _torch_conv(x, kernel, bias, (1, 1), None, d, g, native_padding=torch_padding)
            for a, b, what in zip(ours, theirs, ("out", "dx", "d_kernel", "d_bias"), strict=True):
                _close(a, b, np.float64, what, (padding, d, kh, kw))


def test_seed001_cnn_shapes_against_torch_float32():
    """The seed-001 MNIST CNN's three convolutions at their real sizes, in float32."""
    rng = np.random.default_rng(8)
    for n, h, c_in, c_out in ((8, 28, 1, 32), (8, 13, 32, 64), (8, 5, 64, 128)):
        x = rng.random((n, h, h, c_in), dtype=np.float32)
        kernel = (rng.standard_normal((3, 3, c_in, c_out)) * 0.1).astype(np.float32)
        bias = rng.standard_normal(c_out).astype(np.float32)
        out, cache = conv2d_forward(x, kernel, bias)
        g = rng.standard_normal(out.shape).astype(np.float32)
        ours = (out, *conv2d_backward(g, cache))
        theirs = _torch_conv(x, kernel, bias, (1, 1), ((0, 0), (0, 0)), (1, 1), g)
        for a, b, what in zip(ours, theirs, ("out", "dx", "d_kernel", "d_bias"), strict=True):
            _close(a, b, np.float32, what, (n, h, c_in, c_out))


def test_conv2d_layer_matches_torch_module():
    """Conv2D with weights copied into torch.nn.Conv2d, channels_first on both sides."""
    rng = np.random.default_rng(9)
    layer = Conv2D(5, (3, 2), strides=(2, 1), padding=(1, 0), dilation_rate=(1, 2),
                   data_format="channels_first", dtype="float64")
    module = torch.nn.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                             dtype=torch.float64)
    x = rng.standard_normal((4, 3, 9, 7))
    layer(x)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(np.ascontiguousarray(
            layer.kernel.value.transpose(3, 2, 0, 1))))
        module.bias.copy_(torch.tensor(rng.standard_normal(5)))
    layer.set_weights([layer.kernel.value, module.bias.detach().numpy()])
    y = layer(x)
    xt = torch.tensor(x, requires_grad=True)
    yt = module(xt)
    _close(y, yt, np.float64, "output", "layer")
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    yt.backward(torch.tensor(g))
    _close(dx, xt.grad, np.float64, "dx", "layer")
    _close(layer.kernel.grad, module.weight.grad.permute(2, 3, 1, 0), np.float64, "dk", "layer")
    _close(layer.bias.grad, module.bias.grad, np.float64, "db", "layer")
