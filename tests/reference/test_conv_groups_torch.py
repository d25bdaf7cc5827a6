"""Grouped conv2d and Conv2D(groups=) against PyTorch (``F.conv2d(..., groups=)``): forward and
all gradients over random configurations, the layer against ``nn.Conv2d(groups=)``, and SGD
steps of a small model with a grouped convolution against a torch twin.

Weights: npconv's grouped kernel ``(kh, kw, C_in / G, C_out)`` is torch's
``(C_out, C_in / G, kh, kw)`` transposed (3, 2, 0, 1), as for an ungrouped one.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import npconv  # noqa: E402
from npconv import layers  # noqa: E402
from npconv.ops.conv import conv2d_backward, conv2d_forward  # noqa: E402
from npconv.ops.padding import resolve_padding  # noqa: E402

TOL = {np.float64: 1e-6, np.float32: 1e-4}


def _close(ours, theirs, dtype, what, config):
    theirs = theirs.detach().numpy()
    scale = max(float(np.abs(theirs).max()), 1.0)
    np.testing.assert_allclose(ours, theirs, rtol=TOL[dtype], atol=TOL[dtype] * 1e-2 * scale,
                               err_msg=f"{what} differs from torch for {config}")


def _to_torch_kernel(kernel):
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


def _random_config(rng):
    groups = int(rng.choice([2, 3, 4]))
    c_in = groups * int(rng.integers(1, 4))
    c_out = groups * int(rng.integers(1, 4))
    if rng.random() < 0.2:  # groups == C_in: depthwise with a multiplier
        c_in = groups
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    d = tuple(int(v) for v in rng.integers(1, 3, size=2)) if rng.random() < 0.4 else (1, 1)
    s = tuple(int(v) for v in rng.integers(1, 4, size=2)) if rng.random() < 0.6 else (1, 1)
    h = int(rng.integers(max(1, d[0] * (kh - 1) + 1 - 2), 11))
    w = int(rng.integers(max(1, d[1] * (kw - 1) + 1 - 2), 11))
    padding = ["valid", "same", int(rng.integers(0, 3)),
               (int(rng.integers(0, 3)), int(rng.integers(0, 3))),
               tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(2))
               ][int(rng.integers(0, 5))]
    pads = resolve_padding(padding, (h, w), (kh, kw), s, d)
    if (h + sum(pads[0]) < d[0] * (kh - 1) + 1) or (w + sum(pads[1]) < d[1] * (kw - 1) + 1):
        return _random_config(rng)
    return dict(n=int(rng.integers(1, 4)), h=h, w=w, c_in=c_in, kh=kh, kw=kw, c_out=c_out,
                strides=s, padding=padding, dilation=d, groups=groups,
                bias=bool(rng.random() < 0.8), pads=pads)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_grouped_conv2d_matches_torch_random_configs(dtype):
    rng = np.random.default_rng(3024 if dtype is np.float64 else 3025)
    for _ in range(150):
        c = _random_config(rng)
        x = rng.standard_normal((c["n"], c["h"], c["w"], c["c_in"])).astype(dtype)
        if rng.random() < 0.3:
            x = np.asfortranarray(x)
        kernel = rng.standard_normal((c["kh"], c["kw"], c["c_in"] // c["groups"],
                                      c["c_out"])).astype(dtype)
        bias = rng.standard_normal(c["c_out"]).astype(dtype) if c["bias"] else None
        out, cache = conv2d_forward(x, kernel, bias, c["strides"], c["padding"], c["dilation"],
                                    groups=c["groups"])
        assert out.dtype == dtype
        g = rng.standard_normal(out.shape).astype(dtype)
        dx, dk, db = conv2d_backward(g, cache)

        xt = torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)
        wt = torch.tensor(_to_torch_kernel(kernel), requires_grad=True)
        bt = None if bias is None else torch.tensor(bias, requires_grad=True)
        (top, bottom), (left, right) = c["pads"]
        t_out = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, bt, stride=c["strides"],
                         dilation=c["dilation"], groups=c["groups"])
        t_out.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 3, 1, 2))))
        assert out.shape == tuple(t_out.permute(0, 2, 3, 1).shape), c
        _close(out, t_out.permute(0, 2, 3, 1), dtype, "output", c)
        _close(dx, xt.grad.permute(0, 2, 3, 1), dtype, "dx", c)
        _close(dk, wt.grad.permute(2, 3, 1, 0), dtype, "d_kernel", c)
        assert dx.dtype == dtype and dk.dtype == dtype
        if bias is not None:
            _close(db, bt.grad, dtype, "d_bias", c)
            assert db.dtype == dtype


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_grouped_layer_matches_torch_module(data_format):
    rng = np.random.default_rng(9)
    layer = layers.Conv2D(6, (3, 2), strides=(2, 1), padding=(1, 0), dilation_rate=(1, 2),
                          groups=3, data_format=data_format, dtype="float64")
    module = torch.nn.Conv2d(9, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2),
                             groups=3, dtype=torch.float64)
    x_nchw = rng.standard_normal((4, 9, 9, 7))
    x = x_nchw if data_format == "channels_first" else x_nchw.transpose(0, 2, 3, 1)
    layer(x)
    assert layer.kernel.shape == (3, 2, 3, 6)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(_to_torch_kernel(layer.kernel.value)))
        module.bias.copy_(torch.tensor(rng.standard_normal(6)))
    layer.set_weights([layer.kernel.value, module.bias.detach().numpy()])
    y = layer(x)
    xt = torch.tensor(x_nchw, requires_grad=True)
    yt = module(xt)
    to_ours = (lambda t: t) if data_format == "channels_first" else (
        lambda t: t.permute(0, 2, 3, 1))
    _close(y, to_ours(yt), np.float64, "output", data_format)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    g_nchw = g if data_format == "channels_first" else g.transpose(0, 3, 1, 2)
    yt.backward(torch.tensor(np.ascontiguousarray(g_nchw)))
    _close(dx, to_ours(xt.grad), np.float64, "dx", data_format)
    _close(layer.kernel.grad, module.weight.grad.permute(2, 3, 1, 0), np.float64, "dk",
           data_format)
    _close(layer.bias.grad, module.bias.grad, np.float64, "db", data_format)


def test_sgd_steps_of_a_grouped_model_match_a_torch_twin():
    """Conv2D(8, 3, groups=2) -> relu -> Conv2D(6, 3, groups=2) -> flatten -> Dense(3) with
    softmax, trained by fit (SGD with momentum, 10 steps) in float64, against a torch twin
    with the same initial weights and batches."""
    npconv.utils.set_random_seed(5)
    model = npconv.Sequential([
        npconv.Input((7, 7, 4)),
        layers.Conv2D(8, 3, groups=2, activation="relu", dtype="float64"),
        layers.Conv2D(6, 3, strides=2, padding="same", groups=2, dtype="float64",
                      bias_initializer="random_normal"),
        layers.Flatten(),
        layers.Dense(3, activation="softmax", dtype="float64"),
    ])
    rng = np.random.default_rng(6)
    x = rng.standard_normal((40, 7, 7, 4))
    y = rng.integers(0, 3, 40)
    k1, b1, k2, b2, wd, bd = (w.copy() for w in model.get_weights())
    params = [torch.tensor(_to_torch_kernel(k1)), torch.tensor(b1),
              torch.tensor(_to_torch_kernel(k2)), torch.tensor(b2),
              torch.tensor(wd.T.copy()), torch.tensor(bd)]
    for p in params:
        p.requires_grad_(True)
    model.compile(optimizer=npconv.optimizers.SGD(0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)

    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    for _ in range(2):
        for start in range(0, 40, 8):
            xb = torch.tensor(x[start:start + 8]).permute(0, 3, 1, 2)
            h = torch.relu(F.conv2d(xb, params[0], params[1], groups=2))
            h = F.conv2d(F.pad(h, (1, 1, 1, 1)), params[2], params[3], stride=2, groups=2)
            logits = h.permute(0, 2, 3, 1).reshape(8, -1) @ params[4].T + params[5]
            loss = F.cross_entropy(logits, torch.tensor(y[start:start + 8]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    ours = model.get_weights()
    theirs = [params[0].detach().numpy().transpose(2, 3, 1, 0), params[1].detach().numpy(),
              params[2].detach().numpy().transpose(2, 3, 1, 0), params[3].detach().numpy(),
              params[4].detach().numpy().T, params[5].detach().numpy()]
    for a, b, before in zip(ours, theirs, (k1, b1, k2, b2, wd, bd), strict=True):
        assert not np.allclose(a, before)  # the steps moved every weight
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-10)
