"""depthwise_conv2d / separable_conv2d and their layers against PyTorch (conv2d with
groups=C_in, then a 1x1 conv2d), forward and all gradients, over random configurations."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.layers.depthwise_conv import DepthwiseConv2D, SeparableConv2D  # noqa: E402
from npconv.ops.depthwise_conv import (  # noqa: E402
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from tests.reference.test_conv_torch import _close, _random_config  # noqa: E402


def _t(a, grad=True):
    return torch.tensor(np.ascontiguousarray(a), requires_grad=grad)


def _torch_depthwise_weight(kernel):
    """Keras (kh, kw, C, M) -> torch (C * M, 1, kh, kw): output channel c * M + m."""
    kh, kw, c, m = kernel.shape
    return kernel.reshape(kh, kw, c * m, 1).transpose(2, 3, 0, 1)


def _torch_separable(x, dw, pw, bias, strides, pads, dilation, g):
    """torch's two convs on NCHW copies; (out, dx, d_dw, d_pw, d_bias) in npconv's orders."""
    kh, kw, c, m = dw.shape
    xt = _t(x.transpose(0, 3, 1, 2))
    dwt = _t(_torch_depthwise_weight(dw))
    pwt = None if pw is None else _t(pw.transpose(3, 2, 0, 1))
    bt = None if bias is None else _t(bias)
    (top, bottom), (left, right) = pads
    z = F.conv2d(F.pad(xt, (left, right, top, bottom)), dwt, bt if pw is None else None,
                 stride=strides, dilation=dilation, groups=c)
    out = z if pw is None else F.conv2d(z, pwt, bt)
    out.backward(_t(g.transpose(0, 3, 1, 2), grad=False))
    d_dw = dwt.grad.numpy().transpose(2, 3, 0, 1).reshape(kh, kw, c, m)
    return (out.detach().permute(0, 2, 3, 1), xt.grad.permute(0, 2, 3, 1), d_dw,
            None if pw is None else pwt.grad.permute(2, 3, 1, 0),
            None if bt is None else bt.grad)


def _close_np(ours, theirs, dtype, what, config):
    _close(ours, torch.as_tensor(np.asarray(theirs)), dtype, what, config)


def _inputs(rng, c, dtype):
    x = rng.standard_normal((c["n"], c["h"], c["w"], c["c_in"])).astype(dtype)
    if rng.random() < 0.3:  # a non-contiguous view of the same values
        x = np.asfortranarray(x)
    return x


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_depthwise_conv2d_matches_torch_random_configs(dtype):
    rng = np.random.default_rng(3031 if dtype is np.float64 else 3032)
    for _ in range(150):
        c = _random_config(rng)
        m = int(rng.integers(1, 4))
        c["depth_multiplier"] = m
        x = _inputs(rng, c, dtype)
        kernel = rng.standard_normal((c["kh"], c["kw"], c["c_in"], m)).astype(dtype)
        bias = rng.standard_normal(c["c_in"] * m).astype(dtype) if c["bias"] else None
        out, cache = depthwise_conv2d_forward(x, kernel, bias, c["strides"], c["padding"],
                                              c["dilation"])
        assert out.dtype == dtype
        g = rng.standard_normal(out.shape).astype(dtype)
        dx, dk, db = depthwise_conv2d_backward(g, cache)
        t_out, t_dx, t_dk, _, t_db = _torch_separable(x, kernel, None, bias, c["strides"],
                                                      c["pads"], c["dilation"], g)
        assert out.shape == tuple(t_out.shape), c
        _close(out, t_out, dtype, "output", c)
        _close(dx, t_dx, dtype, "dx", c)
        _close_np(dk, t_dk, dtype, "d_kernel", c)
        assert dx.dtype == dk.dtype == dtype
        if bias is not None:
            _close(db, t_db, dtype, "d_bias", c)
            assert db.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_separable_conv2d_matches_torch_random_configs(dtype):
    rng = np.random.default_rng(4041 if dtype is np.float64 else 4042)
    for _ in range(120):
        c = _random_config(rng)
        m = int(rng.integers(1, 4))
        c["depth_multiplier"] = m
        x = _inputs(rng, c, dtype)
        dw = rng.standard_normal((c["kh"], c["kw"], c["c_in"], m)).astype(dtype)
        pw = rng.standard_normal((1, 1, c["c_in"] * m, c["c_out"])).astype(dtype)
        bias = rng.standard_normal(c["c_out"]).astype(dtype) if c["bias"] else None
        out, cache = separable_conv2d_forward(x, dw, pw, bias, c["strides"], c["padding"],
                                              c["dilation"])
        g = rng.standard_normal(out.shape).astype(dtype)
        dx, d_dw, d_pw, db = separable_conv2d_backward(g, cache)
        t_out, t_dx, t_dw, t_pw, t_db = _torch_separable(x, dw, pw, bias, c["strides"],
                                                         c["pads"], c["dilation"], g)
        assert out.shape == tuple(t_out.shape), c
        _close(out, t_out, dtype, "output", c)
        _close(dx, t_dx, dtype, "dx", c)
        _close_np(d_dw, t_dw, dtype, "d_depthwise", c)
        _close(d_pw, t_pw, dtype, "d_pointwise", c)
        assert out.dtype == dx.dtype == d_dw.dtype == d_pw.dtype == dtype
        if bias is not None:
            _close(db, t_db, dtype, "d_bias", c)


def test_layers_match_torch_modules_channels_first():
    """The layers with weights copied into torch.nn.Conv2d(groups=C) (+ a 1x1 Conv2d)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 4, 9, 8))
    dw_layer = DepthwiseConv2D((3, 2), strides=(2, 1), padding="valid", depth_multiplier=2,
                               dilation_rate=(1, 2), data_format="channels_first",
                               bias_initializer="random_normal", dtype="float64")
    dw_module = torch.nn.Conv2d(4, 8, (3, 2), stride=(2, 1), dilation=(1, 2), groups=4,
                                dtype=torch.float64)
    sep_layer = SeparableConv2D(5, 3, padding=1, depth_multiplier=3,
                                data_format="channels_first",
                                bias_initializer="random_normal", dtype="float64")
    sep_dw = torch.nn.Conv2d(4, 12, 3, padding=1, groups=4, bias=False, dtype=torch.float64)
    sep_pw = torch.nn.Conv2d(12, 5, 1, dtype=torch.float64)
    dw_layer(x)
    sep_layer(x)
    with torch.no_grad():
        dw_module.weight.copy_(torch.tensor(_torch_depthwise_weight(dw_layer.kernel.value)))
        dw_module.bias.copy_(torch.tensor(dw_layer.bias.value))
        sep_dw.weight.copy_(torch.tensor(_torch_depthwise_weight(
            sep_layer.depthwise_kernel.value)))
        sep_pw.weight.copy_(torch.tensor(np.ascontiguousarray(
            sep_layer.pointwise_kernel.value.transpose(3, 2, 0, 1))))
        sep_pw.bias.copy_(torch.tensor(sep_layer.bias.value))
    for layer, module in ((dw_layer, dw_module),
                          (sep_layer, torch.nn.Sequential(sep_dw, sep_pw))):
        y = layer(x)
        xt = torch.tensor(x, requires_grad=True)
        yt = module(xt)
        _close(y, yt, np.float64, "output", layer.name)
        g = rng.standard_normal(y.shape)
        dx = layer.backward(g)
        yt.backward(torch.tensor(g))
        _close(dx, xt.grad, np.float64, "dx", layer.name)
    kh, kw, c, m = dw_layer.kernel.shape
    _close(dw_layer.kernel.grad, dw_module.weight.grad.permute(2, 3, 0, 1).reshape(kh, kw, c, m),
           np.float64, "d_kernel", "depthwise")
    _close(dw_layer.bias.grad, dw_module.bias.grad, np.float64, "d_bias", "depthwise")
    _close(sep_layer.depthwise_kernel.grad,
           sep_dw.weight.grad.permute(2, 3, 0, 1).reshape(3, 3, 4, 3), np.float64,
           "d_depthwise", "separable")
    _close(sep_layer.pointwise_kernel.grad, sep_pw.weight.grad.permute(2, 3, 1, 0), np.float64,
           "d_pointwise", "separable")
    _close(sep_layer.bias.grad, sep_pw.bias.grad, np.float64, "d_bias", "separable")
