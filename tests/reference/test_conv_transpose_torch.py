"""conv2d_transpose and Conv2DTranspose against PyTorch (F.conv_transpose2d, cropped or
zero-extended to Keras's output size), forward and all gradients, random configurations."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.layers.conv_transpose import Conv2DTranspose  # noqa: E402
from npconv.ops.conv_transpose import (  # noqa: E402
    conv2d_transpose_backward,
    conv2d_transpose_forward,
)
from tests.reference.test_conv_torch import _close  # noqa: E402


def _torch_transpose(x, kernel, bias, strides, dilation, out_hw, g):
    """torch's full conv_transpose2d, then Keras's crop (the odd pixel at the bottom/right)
    or zero extension, then the bias; returns (out, dx, d_kernel, d_bias) in npconv's orders."""
    xt = torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)
    wt = torch.tensor(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)), requires_grad=True)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    full = F.conv_transpose2d(xt, wt, None, stride=strides, dilation=dilation)
    (lh, lw), (ho, wo) = full.shape[2:], out_hw
    top, left = max(lh - ho, 0) // 2, max(lw - wo, 0) // 2
    out = F.pad(full, (-left, wo - lw + left, -top, ho - lh + top))
    if bt is not None:
        out = out + bt.view(1, -1, 1, 1)
    out.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))
    return (out.permute(0, 2, 3, 1), xt.grad.permute(0, 2, 3, 1), wt.grad.permute(2, 3, 1, 0),
            None if bt is None else bt.grad)


def _random_config(rng):
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    d = tuple(int(v) for v in rng.integers(1, 3, size=2)) if rng.random() < 0.4 else (1, 1)
    s = tuple(int(v) for v in rng.integers(1, 4, size=2)) if rng.random() < 0.7 else (1, 1)
    op = (None if rng.random() < 0.5
          else tuple(int(rng.integers(0, s[a])) for a in range(2)))
    return dict(n=int(rng.integers(1, 4)), h=int(rng.integers(1, 7)), w=int(rng.integers(1, 7)),
                c_in=int(rng.choice([1, 2, 3, 5, 20])), kh=kh, kw=kw,
                filters=int(rng.integers(1, 6)), strides=s, dilation=d, output_padding=op,
                padding=str(rng.choice(["valid", "same"])), bias=bool(rng.random() < 0.8))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_transpose_matches_torch_random_configs(dtype):
    rng = np.random.default_rng(5051 if dtype is np.float64 else 5052)
    tested = 0
    while tested < 160:
        c = _random_config(rng)
        x = rng.standard_normal((c["n"], c["h"], c["w"], c["c_in"])).astype(dtype)
        if rng.random() < 0.3:  # a non-contiguous view of the same values
            x = np.asfortranarray(x)
        kernel = rng.standard_normal((c["kh"], c["kw"], c["filters"], c["c_in"])).astype(dtype)
        bias = rng.standard_normal(c["filters"]).astype(dtype) if c["bias"] else None
        args = (c["strides"], c["padding"], c["output_padding"], c["dilation"])
        try:
            out, cache = conv2d_transpose_forward(x, kernel, bias, *args)
        except ValueError as err:  # "same" with an even kernel and no room: an empty output
            assert "output would be empty" in str(err)
            continue
        tested += 1
        assert out.dtype == dtype
        g = rng.standard_normal(out.shape).astype(dtype)
        dx, dk, db = conv2d_transpose_backward(g, cache)
        t_out, t_dx, t_dk, t_db = _torch_transpose(x, kernel, bias, c["strides"],
                                                   c["dilation"], out.shape[1:3], g)
        assert out.shape == tuple(t_out.shape), c
        _close(out, t_out, dtype, "output", c)
        _close(dx, t_dx, dtype, "dx", c)
        _close(dk, t_dk, dtype, "d_kernel", c)
        assert dx.dtype == dk.dtype == dtype
        if bias is not None:
            _close(db, t_db, dtype, "d_bias", c)


def test_valid_padding_is_torchs_own_output_padding():
    """"valid" with output_padding p is torch's conv_transpose2d(padding=0, output_padding=p)."""
    rng = np.random.default_rng(12)
    for s, op, d in (((2, 3), (1, 2), (1, 1)), ((3, 2), (2, 0), (1, 2)), ((1, 1), (0, 0), 2)):
        x = rng.standard_normal((2, 4, 3, 3))
        kernel = rng.standard_normal((3, 2, 5, 3))
        bias = rng.standard_normal(5)
        out, _ = conv2d_transpose_forward(x, kernel, bias, s, "valid", op, d)
        t = F.conv_transpose2d(torch.tensor(x.transpose(0, 3, 1, 2).copy()),
                               torch.tensor(kernel.transpose(3, 2, 0, 1).copy()),
                               torch.tensor(bias), stride=s, output_padding=op, dilation=d)
        _close(out, t.permute(0, 2, 3, 1), np.float64, "output", (s, op, d))


def test_same_padding_is_torchs_padding_when_the_crop_is_even():
    """"same" crops k - s pixels (k the dilated kernel), the odd one at the bottom/right: when
    k - s is even, that is torch's padding=(k - s) // 2 (when odd, torch would crop the
    other side: the random configurations above crop torch's full output instead)."""
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 4, 5, 3))
    kernel = rng.standard_normal((3, 4, 2, 3))
    out, _ = conv2d_transpose_forward(x, kernel, None, (1, 2), "same")
    t = F.conv_transpose2d(torch.tensor(x.transpose(0, 3, 1, 2).copy()),
                           torch.tensor(kernel.transpose(3, 2, 0, 1).copy()), stride=(1, 2),
                           padding=(1, 1))
    assert out.shape == (2, 4, 10, 2)
    _close(out, t.permute(0, 2, 3, 1), np.float64, "output", "same")


def test_layer_matches_torch_module_channels_first():
    rng = np.random.default_rng(14)
    layer = Conv2DTranspose(4, (3, 2), strides=(2, 1), padding="valid", output_padding=(1, 0),
                            dilation_rate=(1, 2), data_format="channels_first",
                            bias_initializer="random_normal", dtype="float64")
    module = torch.nn.ConvTranspose2d(3, 4, (3, 2), stride=(2, 1), output_padding=(1, 0),
                                      dilation=(1, 2), dtype=torch.float64)
    x = rng.standard_normal((2, 3, 5, 4))
    layer(x)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(np.ascontiguousarray(
            layer.kernel.value.transpose(3, 2, 0, 1))))
        module.bias.copy_(torch.tensor(layer.bias.value))
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
