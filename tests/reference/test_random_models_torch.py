"""Random small Sequential CNNs against a PyTorch twin: outputs, input gradient and every
weight gradient of ``sum(out * R)``, in float64 (1e-6 relative) and float32 (1e-4).

Each seed draws a stack of Conv2D (kernel, stride, dilation, padding "valid"/"same"/int/pair/
nested pairs, bias or not, fused activation or not), ZeroPadding2D, MaxPooling2D /
AveragePooling2D (pool size, strides, "valid"/"same"), BatchNormalization (training or
inference mode, random gamma/beta/moving statistics), Activation layers, then Flatten or a
global pooling, and one or two Dense layers; half of the models are channels_first.

The twin is written with torch.nn.functional on NCHW tensors, with the weights copied:
conv kernels (kh, kw, cin, cout) -> (cout, cin, kh, kw), dense (in, out) -> (out, in).
Keras's "same" padding is explicit and asymmetric (the odd pixel bottom/right) via F.pad;
max pooling pads with -inf; "same" average pooling divides by the real pixels only. npconv
flattens channels-last (also for channels_first input, as Keras), so the twin permutes to
NHWC before flattening.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.layers.conv import Conv2D  # noqa: E402
from npconv.layers.core import Activation, Dense, Flatten  # noqa: E402
from npconv.layers.input import Input  # noqa: E402
from npconv.layers.normalization import BatchNormalization  # noqa: E402
from npconv.layers.pooling import (  # noqa: E402
    AveragePooling2D,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
)
from npconv.layers.reshaping import ZeroPadding2D  # noqa: E402
from npconv.models.sequential import Sequential  # noqa: E402

ACTIVATIONS = ["relu", "tanh", "sigmoid"]
TORCH_ACT = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
             None: lambda t: t}
N_MODELS = 40


# ---------------------------------------------------------------------------- random specs
def _same_pads(size, k_eff, stride):
    total = max((math.ceil(size / stride) - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def random_spec(seed):
    """A list of layer specs (dicts) and the input shape (H, W, C), all sizes valid."""
    rng = np.random.default_rng(seed)
    h, w, c = int(rng.integers(5, 12)), int(rng.integers(5, 12)), int(rng.integers(1, 4))
    spec = {"input": (h, w, c), "channels_first": bool(rng.integers(2)),
            "training": bool(rng.integers(2)), "layers": []}
    for _ in range(int(rng.integers(1, 5))):
        kind = rng.choice(["conv", "conv", "conv", "maxpool", "avgpool", "bn", "act", "zeropad"])
        if kind == "conv":
            k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            d = (1, 1) if rng.random() < 0.6 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            s = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
            choice = rng.integers(5)
            if choice == 0:
                padding, pads = "valid", ((0, 0), (0, 0))
            elif choice == 1:
                padding = "same"
                pads = (_same_pads(h, d[0] * (k[0] - 1) + 1, s[0]),
                        _same_pads(w, d[1] * (k[1] - 1) + 1, s[1]))
            elif choice == 2:
                p = int(rng.integers(0, 3))
                padding, pads = p, ((p, p), (p, p))
            elif choice == 3:
                p = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
                padding, pads = p, ((p[0], p[0]), (p[1], p[1]))
            else:
                pads = tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(2))
                padding = pads
            hp, wp = h + sum(pads[0]), w + sum(pads[1])
            ke = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
            if ke[0] > hp or ke[1] > wp:
                continue
            filters = int(rng.integers(1, 5))
            act = rng.choice([None, *ACTIVATIONS])
            spec["layers"].append({"kind": "conv", "filters": filters, "kernel": k, "strides": s,
                                   "dilation": d, "padding": padding, "pads": pads,
                                   "activation": None if act is None else str(act),
                                   "use_bias": bool(rng.random() < 0.8)})
            h, w, c = (hp - ke[0]) // s[0] + 1, (wp - ke[1]) // s[1] + 1, filters
        elif kind in ("maxpool", "avgpool"):
            k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            s = None if rng.random() < 0.4 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            st = k if s is None else s
            padding = str(rng.choice(["valid", "same"]))
            if padding == "same":
                pads = (_same_pads(h, k[0], st[0]), _same_pads(w, k[1], st[1]))
                oh, ow = math.ceil(h / st[0]), math.ceil(w / st[1])
            else:
                if k[0] > h or k[1] > w:
                    continue
                pads = ((0, 0), (0, 0))
                oh, ow = (h - k[0]) // st[0] + 1, (w - k[1]) // st[1] + 1
            spec["layers"].append({"kind": kind, "pool": k, "strides": s, "padding": padding,
                                   "pads": pads})
            h, w = oh, ow
        elif kind == "bn":
            spec["layers"].append({"kind": "bn"})
        elif kind == "act":
            spec["layers"].append({"kind": "act", "activation": str(rng.choice(ACTIVATIONS))})
        else:
            p = tuple((int(rng.integers(0, 2)), int(rng.integers(0, 2))) for _ in range(2))
            spec["layers"].append({"kind": "zeropad", "pads": p})
            h, w = h + sum(p[0]), w + sum(p[1])
    spec["head"] = str(rng.choice(["flatten", "flatten", "gap", "gmp"]))
    spec["dense"] = [int(rng.integers(1, 6)) for _ in range(int(rng.integers(1, 3)))]
    spec["dense_act"] = [None if rng.random() < 0.3 else str(rng.choice(ACTIVATIONS))
                         for _ in spec["dense"]]
    spec["batch"] = int(rng.integers(1, 5)) if not spec["training"] else int(rng.integers(2, 5))
    return spec


# ---------------------------------------------------------------------------- npconv side
def build_npconv(spec, dtype):
    fmt = "channels_first" if spec["channels_first"] else "channels_last"
    h, w, c = spec["input"]
    layers = [Input(shape=(c, h, w) if spec["channels_first"] else (h, w, c))]
    for ls in spec["layers"]:
        kind = ls["kind"]
        if kind == "conv":
            layers.append(Conv2D(ls["filters"], ls["kernel"], strides=ls["strides"],
                                 padding=ls["padding"], dilation_rate=ls["dilation"],
                                 activation=ls["activation"], use_bias=ls["use_bias"],
                                 data_format=fmt, dtype=dtype))
        elif kind in ("maxpool", "avgpool"):
            cls = MaxPooling2D if kind == "maxpool" else AveragePooling2D
            layers.append(cls(ls["pool"], strides=ls["strides"], padding=ls["padding"],
                              data_format=fmt, dtype=dtype))
        elif kind == "bn":
            layers.append(BatchNormalization(data_format=fmt, dtype=dtype))
        elif kind == "act":
            layers.append(Activation(ls["activation"], dtype=dtype))
        else:
            layers.append(ZeroPadding2D(ls["pads"], data_format=fmt, dtype=dtype))
    head = {"flatten": Flatten, "gap": GlobalAveragePooling2D, "gmp": GlobalMaxPooling2D}
    layers.append(head[spec["head"]](data_format=fmt, dtype=dtype))
    for units, act in zip(spec["dense"], spec["dense_act"], strict=True):
        layers.append(Dense(units, activation=act, dtype=dtype))
    return Sequential(layers)


def randomize_weights(model, seed):
    """Weights far from their initial values (BN: gamma, beta, moving stats with var > 0)."""
    rng = np.random.default_rng(seed + 10_000)
    new = []
    for wt in model.weights:
        v = rng.standard_normal(wt.value.shape) * 0.5
        if wt.name in ("gamma", "moving_variance"):
            v = 0.5 + np.abs(v)
        new.append(v)
    model.set_weights(new)


# ---------------------------------------------------------------------------- torch twin
def _pad_hw(t, pads, value=0.0):
    (top, bottom), (left, right) = pads
    if top == bottom == left == right == 0:
        return t
    return F.pad(t, (left, right, top, bottom), value=value)


def torch_twin(spec, model, x_np, dtype):
    """Forward of the twin on NCHW; returns (out, leaf params by npconv weight id, x leaf,
    {bn layer index: its input tensor})."""
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    x = torch.tensor(x_np, dtype=tdt, requires_grad=True)
    t = x if spec["channels_first"] else x.permute(0, 3, 1, 2)
    params, bn_inputs = {}, {}

    def leaf(weight, value):
        p = torch.tensor(np.ascontiguousarray(value), dtype=tdt, requires_grad=weight.trainable)
        params[id(weight)] = p
        return p

    layers = model.layers
    for i, ls in enumerate(spec["layers"]):
        layer = layers[i]
        kind = ls["kind"]
        if kind == "conv":
            kw = leaf(layer.kernel, layer.kernel.value.transpose(3, 2, 0, 1))
            kb = leaf(layer.bias, layer.bias.value) if ls["use_bias"] else None
            t = F.conv2d(_pad_hw(t, ls["pads"]), kw, kb, stride=ls["strides"],
                         dilation=ls["dilation"])
            t = TORCH_ACT[ls["activation"]](t)
        elif kind == "maxpool":
            st = ls["strides"] or ls["pool"]
            t = F.max_pool2d(_pad_hw(t, ls["pads"], -math.inf), ls["pool"], st)
        elif kind == "avgpool":
            st = ls["strides"] or ls["pool"]
            sums = F.avg_pool2d(_pad_hw(t, ls["pads"]), ls["pool"], st, divisor_override=1)
            ones = torch.ones_like(t[:1, :1])
            counts = F.avg_pool2d(_pad_hw(ones, ls["pads"]), ls["pool"], st, divisor_override=1)
            t = sums / counts
        elif kind == "bn":
            gamma, beta = leaf(layer.gamma, layer.gamma.value), leaf(layer.beta, layer.beta.value)
            mean = torch.tensor(layer.moving_mean.value, dtype=tdt)
            var = torch.tensor(layer.moving_variance.value, dtype=tdt)
            bn_inputs[i] = t
            t = F.batch_norm(t, mean, var, gamma, beta, training=spec["training"],
                             momentum=0.0, eps=layer.epsilon)
        elif kind == "act":
            t = TORCH_ACT[ls["activation"]](t)
        else:
            t = _pad_hw(t, ls["pads"])
    if spec["head"] == "flatten":
        t = t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
    elif spec["head"] == "gap":
        t = t.mean(dim=(2, 3))
    else:
        t = t.amax(dim=(2, 3))
    for j, act in enumerate(spec["dense_act"]):
        layer = layers[len(spec["layers"]) + 1 + j]
        wk = leaf(layer.kernel, layer.kernel.value.T)
        wb = leaf(layer.bias, layer.bias.value)
        t = TORCH_ACT[act](F.linear(t, wk, wb))
    return t, params, x, bn_inputs


def _to_npconv_layout(weight, grad):
    g = grad.detach().numpy()
    if g.ndim == 4:
        return g.transpose(2, 3, 1, 0)  # (cout, cin, kh, kw) -> (kh, kw, cin, cout)
    if g.ndim == 2:
        return g.T
    return g


# ---------------------------------------------------------------------------- the test
def _close(actual, expected, rtol, what):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-3)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def run_case(seed, dtype):
    spec = random_spec(seed)
    model = build_npconv(spec, np.dtype(dtype).name)
    randomize_weights(model, seed)
    h, w, c = spec["input"]
    rng = np.random.default_rng(seed + 20_000)
    shape = (spec["batch"], c, h, w) if spec["channels_first"] else (spec["batch"], h, w, c)
    x = rng.standard_normal(shape).astype(dtype)
    before = [v.copy() for v in model.get_weights()]

    out = model.forward(x.copy(), training=spec["training"])
    r = rng.standard_normal(out.shape).astype(dtype)
    dx = model.backward(r, need_input_grad=True)

    t_out, params, t_x, bn_inputs = torch_twin(spec, model, x, dtype)
    (t_out * torch.tensor(r, dtype=t_out.dtype)).sum().backward()

    rtol = 1e-6 if dtype == np.float64 else 1e-4
    assert out.dtype == dtype and dx.dtype == dtype
    _close(out, t_out.detach().numpy(), rtol, f"seed {seed} output {spec}")
    _close(dx, t_x.grad.numpy(), rtol, f"seed {seed} input gradient {spec}")
    for wt in model.trainable_weights:
        _close(wt.grad, _to_npconv_layout(wt, params[id(wt)].grad), rtol,
               f"seed {seed} gradient of {wt.name} {spec}")
        assert wt.grad.dtype == dtype
    # Keras's moving statistics: moving * 0.99 + batch * 0.01, with the biased batch variance.
    for i, t_in in bn_inputs.items():
        layer = model.layers[i]
        if spec["training"]:
            mean = t_in.detach().numpy().mean(axis=(0, 2, 3))
            var = t_in.detach().numpy().var(axis=(0, 2, 3))
            k = [j for j, lyr in enumerate(model.layers) if lyr is layer][0]
            offset = sum(len(lyr.weights) for lyr in model.layers[:k])
            _close(layer.moving_mean.value, before[offset + 2] * 0.99 + mean * 0.01, rtol,
                   f"seed {seed} moving mean")
            _close(layer.moving_variance.value, before[offset + 3] * 0.99 + var * 0.01, rtol,
                   f"seed {seed} moving variance")


@pytest.mark.parametrize("seed", range(N_MODELS))
def test_random_model_float64(seed):
    run_case(seed, np.float64)


@pytest.mark.parametrize("seed", range(N_MODELS))
def test_random_model_float32(seed):
    run_case(seed, np.float32)


def test_the_random_models_cover_every_option():
    specs = [random_spec(s) for s in range(N_MODELS)]
    layers = [ls for s in specs for ls in s["layers"]]
    kinds = {ls["kind"] for ls in layers}
    assert kinds == {"conv", "maxpool", "avgpool", "bn", "act", "zeropad"}
    conv_paddings = {type(ls["padding"]).__name__ if not isinstance(ls["padding"], str)
                     else ls["padding"] for ls in layers if ls["kind"] == "conv"}
    assert {"valid", "same", "int", "tuple"} <= conv_paddings
    assert any(ls["kind"] == "conv" and max(ls["dilation"]) > 1 for ls in layers)
    assert any(ls["kind"] == "conv" and max(ls["strides"]) > 1 for ls in layers)
    assert any(ls["kind"] == "avgpool" and ls["padding"] == "same" for ls in layers)
    assert any(ls["kind"] == "maxpool" and ls["padding"] == "same" for ls in layers)
    assert {s["channels_first"] for s in specs} == {True, False}
    assert {s["training"] for s in specs if any(ls["kind"] == "bn" for ls in s["layers"])} == {
        True, False}
    assert {s["head"] for s in specs} == {"flatten", "gap", "gmp"}
