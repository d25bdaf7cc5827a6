"""Randomized layer-level parity with PyTorch 2.13: the loops of round 10's op/layer fuzz that
found the most corners, kept small (a few seconds in all).

Each case draws a configuration, runs the Keras-named layer (or loss, or optimizer) the way a
user does -- ``layer(x, training=...)`` then ``layer.backward(d_out)`` -- and compares the output,
dx and every weight gradient with torch autograd computed in float64 on the same values.
Inputs and output gradients come in random memory layouts (Fortran order, reversed strides,
strided slices), as integers, channels_first, batch 1 and 1x1 images; a kernel wider than its
padded input must raise a ValueError naming the layer.

References that torch itself gets wrong here, worked around (and kept visible):
- ``F.interpolate(..., antialias=True)`` in 2-D is wrong when an output side is 1 ((5, 2) ->
  (3, 1)) and returns zeros for (4, 1) -> (11, 1); the filter is separable, so the reference
  resizes one axis at a time with the other axis doubled (:func:`_resize_one_axis`).
- ``F.batch_norm`` and ``F.group_norm`` refuse one value per channel/group while training;
  Keras normalises it to beta, so those cases use the formula in torch ops.
"""

import numpy as np
import pytest

from npconv import layers
from npconv.layers.base import Weight
from npconv.training import losses as LS
from npconv.training import optimizers as O

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.torch

TOL = {np.float64: 1e-6, np.float32: 1e-4}


def _close(ours, ref, dtype, what):
    ref = ref.detach().double().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} vs torch {ref.shape}"
    tol = TOL[dtype]
    scale = max(float(np.max(np.abs(ref), initial=0.0)), 1.0)
    np.testing.assert_allclose(ours, ref, rtol=tol,
                               atol=tol * scale * (1.0 if dtype is np.float32 else 0.1),
                               err_msg=what)


def _layout(rng, a):
    """The same values in a random memory layout."""
    kind = rng.integers(0, 5)
    if kind == 1:
        return np.asfortranarray(a)
    if kind == 2:
        return np.ascontiguousarray(a[::-1])[::-1]
    if kind == 3:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., 1::2] = a
        return big[..., 1::2]
    return a


def _same(size, k, s, d=1):
    """TensorFlow's "same" padding (before, after), the odd pixel after."""
    total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _nchw(x, cf):
    a = np.asarray(x, dtype=np.float64)
    return torch.tensor(np.ascontiguousarray(a if cf else a.transpose(0, 3, 1, 2)),
                        requires_grad=True)


def _back(t, cf):
    a = t.detach().numpy() if isinstance(t, torch.Tensor) else t
    return a if cf else a.transpose(0, 2, 3, 1)


def _run_layer(rng, layer, x, dtype, training=True):
    """(y, dx, d_out) of the layer with d_out in a random layout; checks d_out and x unchanged."""
    y = np.array(layer(x, training=training))
    assert y.dtype == dtype, f"{layer.name}: output dtype {y.dtype}"
    g = _layout(rng, rng.standard_normal(y.shape).astype(dtype))
    g0, x0 = g.copy(), np.array(x, copy=True)
    dx = layer.backward(g)
    np.testing.assert_array_equal(g, g0, err_msg="backward changed d_out")
    np.testing.assert_array_equal(x, x0, err_msg="the layer changed its input")
    assert dx.dtype == dtype
    return y, dx, g


def _conv_input(rng, n, h, w, c, dtype, cf):
    if rng.random() < 0.1:  # integer images become float32 (or the layer's dtype)
        x = rng.integers(-3, 4, size=(n, h, w, c))
    else:
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
    x = _layout(rng, x)
    return x.transpose(0, 3, 1, 2) if cf else x


def _geometry(rng):
    k = tuple(int(v) for v in rng.integers(1, 6, size=2))
    s = tuple(int(v) for v in rng.integers(1, 5, size=2)) if rng.random() < 0.6 else (1, 1)
    d = tuple(int(v) for v in rng.integers(1, 4, size=2)) if rng.random() < 0.35 else (1, 1)
    h, w = (1, 1) if rng.random() < 0.1 else tuple(int(v) for v in rng.integers(1, 11, size=2))
    return k, s, d, h, w


def _pads(padding, h, w, k, s, d):
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        return _same(h, k[0], s[0], d[0]), _same(w, k[1], s[1], d[1])
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if isinstance(padding[0], int):
        return (padding[0],) * 2, (padding[1],) * 2
    return padding


def _fits(h, w, k, d, pads):
    return all(dd * (kk - 1) + 1 <= size + sum(p)
               for dd, kk, size, p in zip(d, k, (h, w), pads, strict=True))


ACTIVATIONS = {None: lambda t: t, "relu": torch.relu, "sigmoid": torch.sigmoid,
               "tanh": torch.tanh, "gelu": F.gelu}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_layer_random_configs(dtype):
    """Kernels even and non-square, strides above the kernel, dilation, groups, every padding
    form, channels_first, fused activations, inference too (once on a batch large enough for
    the blocked path, the implicit-pad im2col and the banded GEMM)."""
    rng = np.random.default_rng(101 if dtype is np.float64 else 102)
    for case in range(36):
        k, s, d, h, w = _geometry(rng)
        padding = [
            "valid", "same", int(rng.integers(0, 3)),
            (int(rng.integers(0, 3)), int(rng.integers(0, 3))),
            tuple((int(rng.integers(0, 3)), int(rng.integers(0, 3))) for _ in range(2)),
        ][int(rng.integers(0, 5))]
        groups = int(rng.choice([1, 1, 2, 3]))
        c_in, filters, n = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4)), \
            int(rng.integers(1, 4))
        if case == 0:
            k, s, d, h, w, padding, groups = (3, 3), (1, 1), (1, 1), 24, 24, "same", 1
            c_in, filters, n = 12, 8, 16
        cf, bias = bool(rng.random() < 0.3), bool(rng.random() < 0.7)
        act = [None, "relu", "sigmoid", "tanh", "gelu"][int(rng.integers(0, 5))]
        training = case != 0 and bool(rng.random() < 0.6)
        config = dict(k=k, s=s, d=d, h=h, w=w, padding=padding, groups=groups, c_in=c_in,
                      filters=filters, n=n, cf=cf, act=act, training=training)
        layer = layers.Conv2D(filters, k, strides=s, padding=padding, dilation_rate=d,
                              groups=groups, use_bias=bias, activation=act, name="fuzzconv",
                              data_format="channels_first" if cf else "channels_last",
                              dtype=np.dtype(dtype).name)
        x = _conv_input(rng, n, h, w, c_in, dtype, cf)
        pads = _pads(padding, h, w, k, s, d)
        if not _fits(h, w, k, d, pads):
            with pytest.raises(ValueError, match="fuzzconv: the kernel"):
                layer(x)
            continue
        layer.build(x.shape)
        kernel = rng.standard_normal((*k, c_in // groups, filters)).astype(dtype)
        b = rng.standard_normal(filters).astype(dtype)
        layer.set_weights([kernel, b] if bias else [kernel])
        y, dx, g = _run_layer(rng, layer, x, dtype, training)
        xt = _nchw(x, cf)
        wt = torch.tensor(kernel.astype(np.float64).transpose(3, 2, 0, 1).copy(),
                          requires_grad=True)
        bt = torch.tensor(b.astype(np.float64), requires_grad=True) if bias else None
        (top, bottom), (left, right) = pads
        out = ACTIVATIONS[act](F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, bt,
                                        stride=s, dilation=d, groups=groups))
        out.backward(_nchw(g, cf).detach())
        _close(y, _back(out, cf), dtype, f"output {config}")
        _close(dx, _back(xt.grad.numpy(), cf), dtype, f"dx {config}")
        _close(layer.kernel.grad, wt.grad.numpy().transpose(2, 3, 1, 0), dtype, f"dk {config}")
        if bias:
            _close(layer.bias.grad, bt.grad, dtype, f"db {config}")


def _transpose_length(size, k, s, d, padding, op):
    """Keras's Conv2DTranspose output length."""
    k = d * (k - 1) + 1
    if op is None:
        return size * s + max(k - s, 0) if padding == "valid" else size * s
    return (size - 1) * s + k - 2 * (0 if padding == "valid" else k // 2) + op


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_conv2d_transpose_layer_random_configs(dtype):
    """torch's full transposed convolution, cropped (the odd pixel at the bottom/right) or
    zero-extended to Keras's size: "same"/"valid", output_padding, dilation, channels_first."""
    rng = np.random.default_rng(103 if dtype is np.float64 else 104)
    for _ in range(30):
        k, s, d, h, w = _geometry(rng)
        h, w = min(h, 6), min(w, 6)
        padding = str(rng.choice(["valid", "same"]))
        op = None if rng.random() < 0.5 else tuple(int(rng.integers(0, s[a])) for a in range(2))
        c_in, filters, n = int(rng.integers(1, 5)), int(rng.integers(1, 5)), \
            int(rng.integers(1, 4))
        cf = bool(rng.random() < 0.3)
        config = dict(k=k, s=s, d=d, h=h, w=w, padding=padding, op=op, cf=cf)
        ho = _transpose_length(h, k[0], s[0], d[0], padding, None if op is None else op[0])
        wo = _transpose_length(w, k[1], s[1], d[1], padding, None if op is None else op[1])
        layer = layers.Conv2DTranspose(filters, k, strides=s, padding=padding,
                                       output_padding=op, dilation_rate=d,
                                       data_format="channels_first" if cf else "channels_last",
                                       dtype=np.dtype(dtype).name)
        x = _conv_input(rng, n, h, w, c_in, dtype, cf)
        if ho <= 0 or wo <= 0:
            with pytest.raises(ValueError, match="empty"):
                layer(x)
            continue
        layer.build(x.shape)
        kernel = rng.standard_normal((*k, filters, c_in)).astype(dtype)
        b = rng.standard_normal(filters).astype(dtype)
        layer.set_weights([kernel, b])
        y, dx, g = _run_layer(rng, layer, x, dtype)
        xt = _nchw(x, cf)
        wt = torch.tensor(kernel.astype(np.float64).transpose(3, 2, 0, 1).copy(),
                          requires_grad=True)
        bt = torch.tensor(b.astype(np.float64), requires_grad=True)
        full = F.conv_transpose2d(xt, wt, None, stride=s, dilation=d)
        lh, lw = full.shape[2:]
        top, left = max(lh - ho, 0) // 2, max(lw - wo, 0) // 2
        out = F.pad(full, (-left, wo - lw + left, -top, ho - lh + top)) + bt.view(1, -1, 1, 1)
        out.backward(_nchw(g, cf).detach())
        _close(y, _back(out, cf), dtype, f"output {config}")
        _close(dx, _back(xt.grad.numpy(), cf), dtype, f"dx {config}")
        _close(layer.kernel.grad, wt.grad.numpy().transpose(2, 3, 1, 0), dtype, f"dk {config}")
        _close(layer.bias.grad, bt.grad, dtype, f"db {config}")


@pytest.mark.parametrize("separable", [False, True])
def test_depthwise_and_separable_layers_random_configs(separable):
    """depth_multiplier M: output channel c * M + m is torch's groups=C convolution; the
    separable layer adds the 1x1 pointwise GEMM; both dtypes, channels_first, odd layouts."""
    rng = np.random.default_rng(105 + separable)
    for _ in range(30):
        dtype = np.float64 if rng.random() < 0.5 else np.float32
        k, s, d, h, w = _geometry(rng)
        padding = str(rng.choice(["valid", "same"]))
        c, m, filters, n = (int(rng.integers(1, 5)), int(rng.integers(1, 4)),
                            int(rng.integers(1, 5)), int(rng.integers(1, 4)))
        cf = bool(rng.random() < 0.3)
        config = dict(k=k, s=s, d=d, h=h, w=w, padding=padding, c=c, m=m, cf=cf)
        fmt = "channels_first" if cf else "channels_last"
        name = "fuzzsep" if separable else "fuzzdw"
        if separable:
            layer = layers.SeparableConv2D(filters, k, strides=s, padding=padding,
                                           depth_multiplier=m, dilation_rate=d,
                                           data_format=fmt, dtype=np.dtype(dtype).name,
                                           name=name)
        else:
            layer = layers.DepthwiseConv2D(k, strides=s, padding=padding, depth_multiplier=m,
                                           dilation_rate=d, data_format=fmt,
                                           dtype=np.dtype(dtype).name, name=name)
        x = _conv_input(rng, n, h, w, c, dtype, cf)
        pads = _pads(padding, h, w, k, s, d)
        if not _fits(h, w, k, d, pads):
            with pytest.raises(ValueError, match=f"{name}: the kernel"):
                layer(x)
            continue
        layer.build(x.shape)
        dk = rng.standard_normal((*k, c, m)).astype(dtype)
        pk = rng.standard_normal((1, 1, c * m, filters)).astype(dtype)
        b = rng.standard_normal(filters if separable else c * m).astype(dtype)
        layer.set_weights([dk, pk, b] if separable else [dk, b])
        y, dx, g = _run_layer(rng, layer, x, dtype)
        xt = _nchw(x, cf)
        wt = torch.tensor(dk.astype(np.float64).transpose(2, 3, 0, 1).reshape(c * m, 1, *k),
                          requires_grad=True)
        (top, bottom), (left, right) = pads
        out = F.conv2d(F.pad(xt, (left, right, top, bottom)), wt, stride=s, dilation=d,
                       groups=c)
        if separable:
            pt = torch.tensor(pk.astype(np.float64)[0, 0].T[:, :, None, None].copy(),
                              requires_grad=True)
            out = F.conv2d(out, pt)
        bt = torch.tensor(b.astype(np.float64), requires_grad=True)
        out = out + bt.view(1, -1, 1, 1)
        out.backward(_nchw(g, cf).detach())
        _close(y, _back(out, cf), dtype, f"output {config}")
        _close(dx, _back(xt.grad.numpy(), cf), dtype, f"dx {config}")
        depthwise = layer.depthwise_kernel if separable else layer.kernel
        _close(depthwise.grad, wt.grad.numpy().reshape(c, m, *k).transpose(2, 3, 0, 1), dtype,
               f"d_depthwise {config}")
        if separable:
            _close(layer.pointwise_kernel.grad, pt.grad.numpy()[:, :, 0, 0].T[None, None],
                   dtype, f"d_pointwise {config}")
        _close(layer.bias.grad, bt.grad, dtype, f"db {config}")


def _resize_one_axis(t, size, axis, antialias):
    """torch's bilinear resize of NCHW ``t`` along ``axis`` (2 or 3) only, the other axis
    doubled so that no side is 1 (see the module docstring)."""
    if t.shape[axis] == size:
        return t
    other = 5 - axis
    doubled = torch.cat([t, t], dim=other)
    target = list(doubled.shape[2:])
    target[axis - 2] = size
    out = F.interpolate(doubled, size=tuple(target), mode="bilinear", align_corners=False,
                        antialias=antialias)
    return out.narrow(other, 0, t.shape[other])


def test_torch_antialias_is_wrong_at_output_side_1():
    """The reason for :func:`_resize_one_axis`: torch 2.13's 2-D antialiased resize to a
    width of 1 is not the separable filter it is everywhere else (so npconv cannot equal it)."""
    x = torch.tensor(np.arange(4.0).reshape(1, 1, 4, 1) ** 2)
    wrong = F.interpolate(x, size=(11, 1), mode="bilinear", align_corners=False, antialias=True)
    assert float(wrong.abs().max()) == 0.0
    ours = np.asarray(layers.Resizing(11, 1, antialias=True, dtype="float64")(
        x.numpy().transpose(0, 2, 3, 1)))
    _close(ours, _back(_resize_one_axis(x, 11, 2, True), False), np.float64, "(4, 1) -> (11, 1)")


def test_resizing_layer_random_sizes_including_output_sides_of_1():
    """Bilinear (antialias on or off) and half-pixel nearest, crop/pad to the aspect ratio
    (Keras pads the same margin on both sides), output sides of 1; forward and dx."""
    rng = np.random.default_rng(107)
    for _ in range(60):
        dtype = np.float64 if rng.random() < 0.5 else np.float32
        n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
        h, w = (int(v) for v in rng.integers(1, 10, size=2))
        th, tw = (int(v) for v in rng.integers(1, 12, size=2))
        if rng.random() < 0.3:
            tw = 1
        interp = str(rng.choice(["bilinear", "bilinear", "nearest"]))
        antialias = bool(rng.random() < 0.5)
        aspect = str(rng.choice(["none", "crop", "pad"]))
        cf = bool(rng.random() < 0.3)
        config = dict(hw=(h, w), size=(th, tw), interp=interp, antialias=antialias,
                      aspect=aspect, cf=cf)
        layer = layers.Resizing(th, tw, interpolation=interp, antialias=antialias,
                                crop_to_aspect_ratio=aspect == "crop",
                                pad_to_aspect_ratio=aspect == "pad", fill_value=1.5,
                                data_format="channels_first" if cf else "channels_last",
                                dtype=np.dtype(dtype).name)
        x = _layout(rng, rng.standard_normal((n, h, w, c)).astype(dtype))
        x = x.transpose(0, 3, 1, 2) if cf else x
        y, dx, g = _run_layer(rng, layer, x, dtype)
        xt = _nchw(x, cf)
        src = xt
        if aspect == "crop":
            ch = max(min(h, int(w * th / tw)), 1)
            cw = max(min(w, int(h * tw / th)), 1)
            t0, l0 = int((h - ch) / 2), int((w - cw) / 2)
            src = xt[:, :, t0:t0 + ch, l0:l0 + cw]
        elif aspect == "pad":
            t0 = int((max(h, int(w * th / tw)) - h) / 2)
            l0 = int((max(w, int(h * tw / th)) - w) / 2)
            src = F.pad(xt, (l0, l0, t0, t0), value=1.5)
        if interp == "bilinear":
            out = _resize_one_axis(_resize_one_axis(src, th, 2, antialias), tw, 3, antialias)
        else:
            out = F.interpolate(src, size=(th, tw), mode="nearest-exact")
        out.backward(_nchw(g, cf).detach())
        _close(y, _back(out, cf), dtype, f"output {config}")
        _close(dx, _back(xt.grad.numpy(), cf), dtype, f"dx {config}")


def test_batch_normalization_random_axes_momenta_and_moving_statistics():
    """Training and inference over random ranks, axes (negative too), momenta (0 and 1
    included), epsilons, center/scale; Keras's momentum is 1 - torch's, the moving mean is
    torch's running mean, the moving variance Keras's biased one (torch keeps the unbiased)."""
    rng = np.random.default_rng(108)
    for _ in range(40):
        dtype = np.float64 if rng.random() < 0.5 else np.float32
        rank = int(rng.choice([2, 3, 4, 4]))
        shape = (int(rng.integers(1, 5)),) + tuple(int(v) for v in
                                                   rng.integers(1, 5, size=rank - 1))
        x = _layout(rng, (rng.standard_normal(shape) * 2 + 1).astype(dtype))
        axis = int(rng.choice([a for a in range(1, rank)] + [a - rank for a in range(1, rank)]))
        momentum = float(rng.choice([0.99, 0.9, 0.0, 1.0, rng.uniform()]))
        eps = float(rng.choice([1e-3, 1e-5, 0.1]))
        center, scale, training = (bool(v) for v in rng.random(3) < (0.8, 0.8, 0.7))
        config = dict(shape=shape, axis=axis, momentum=momentum, center=center, scale=scale,
                      training=training)
        layer = layers.BatchNormalization(axis=axis, momentum=momentum, epsilon=eps,
                                          center=center, scale=scale, dtype=np.dtype(dtype).name)
        layer.build(x.shape)
        ax = axis % rank
        c = shape[ax]
        gamma, beta = rng.uniform(0.5, 2, c), rng.standard_normal(c)
        mm, mv = rng.standard_normal(c), rng.uniform(0.3, 3, c)
        layer.set_weights([v.astype(dtype) for v in
                           ([gamma] if scale else []) + ([beta] if center else []) + [mm, mv]])
        y, dx, g = _run_layer(rng, layer, x, dtype, training)
        xt = torch.tensor(np.moveaxis(x.astype(np.float64), ax, 1).copy(), requires_grad=True)
        gt = torch.tensor(gamma.astype(dtype).astype(np.float64), requires_grad=True)
        bt = torch.tensor(beta.astype(dtype).astype(np.float64), requires_grad=True)
        rm = torch.tensor(mm.astype(dtype).astype(np.float64))
        rv = torch.tensor(mv.astype(dtype).astype(np.float64))
        red = tuple(a for a in range(rank) if a != 1)
        view = [1, c] + [1] * (rank - 2)
        if training and xt[:, 0].numel() == 1:  # torch refuses; Keras gives beta
            mean = xt.mean(dim=red, keepdim=True)
            out = (xt - mean) / torch.sqrt(xt.var(dim=red, unbiased=False, keepdim=True) + eps)
            rm = momentum * rm + (1 - momentum) * mean.detach().reshape(-1)
        else:
            out = F.batch_norm(xt, rm, rv, None, None, training=training,
                               momentum=1 - momentum, eps=eps)
        out = out * (gt.view(view) if scale else 1) + (bt.view(view) if center else 0)
        out.backward(torch.tensor(np.moveaxis(g.astype(np.float64), ax, 1).copy()))
        _close(y, np.moveaxis(out.detach().numpy(), 1, ax), dtype, f"output {config}")
        _close(dx, np.moveaxis(xt.grad.numpy(), 1, ax), dtype, f"dx {config}")
        if scale:
            _close(layer.gamma.grad, gt.grad, dtype, f"d_gamma {config}")
        if center:
            _close(layer.beta.grad, bt.grad, dtype, f"d_beta {config}")
        _close(layer.moving_mean.value, rm, dtype, f"moving_mean {config}")
        biased = xt.detach().var(dim=red, unbiased=False).numpy() if training else None
        expected = (momentum * mv.astype(dtype) + (1 - momentum) * biased) if training \
            else mv.astype(dtype)
        _close(layer.moving_variance.value, expected, dtype, f"moving_variance {config}")


def _reduce(values, sw, reduction):
    """Keras 3's reduce_weighted_values, in torch."""
    if sw is not None:
        w = torch.tensor(np.asarray(sw, dtype=np.float64))
        if w.ndim == values.ndim + 1 and w.shape[-1] == 1:
            w = w[..., 0]
        while 0 < w.ndim < values.ndim:
            w = w.unsqueeze(-1)
        values = values * w
    if reduction == "sum":
        return values.sum()
    div = w.sum() if reduction == "mean_with_sample_weight" and sw is not None \
        else values.numel()
    return values.sum() / div if float(div) else values.sum() * 0


def test_cross_entropies_random_reductions_weights_and_clipping():
    """Categorical (one-hot or soft targets, label smoothing), sparse (labels (N,), (N, 1) or
    floats) and binary cross-entropy, from logits or probabilities (exact 0 and 1 included:
    clipped by Keras's [eps, 1 - eps] in the predictions' dtype), every reduction and weight
    shape ((N,), (N, 1), per value, scalar, all zeros), extra axes: the value and d_y_pred
    against torch autograd through Keras 3's formulas."""
    rng = np.random.default_rng(109)
    for _ in range(70):
        dtype = np.float64 if rng.random() < 0.5 else np.float32
        shape = (int(rng.integers(1, 6)),) + (() if rng.random() < 0.7
                                              else (int(rng.integers(1, 4)),))
        c = int(rng.integers(2, 6))
        kind = str(rng.choice(["cce", "sparse", "bce"]))
        from_logits = bool(rng.random() < 0.5)
        smoothing = 0.0 if kind == "sparse" else float(rng.choice([0.0, 0.1, 0.3]))
        reduction = str(rng.choice(["sum_over_batch_size", "sum", "mean",
                                    "mean_with_sample_weight"]))
        sw = [None, rng.uniform(0, 3, shape[0]), rng.uniform(0, 3, (shape[0], 1)),
              rng.uniform(0, 3, shape), float(rng.uniform(0.1, 3)),
              np.zeros(shape[0])][int(rng.integers(0, 6))]
        config = dict(kind=kind, shape=shape, c=c, from_logits=from_logits,
                      smoothing=smoothing, reduction=reduction,
                      sw=None if sw is None else np.shape(sw), dtype=np.dtype(dtype).name)
        z = rng.standard_normal(shape + (c,)) * float(rng.choice([0.5, 3, 8]))
        lo, hi = float(dtype(1e-7)), float(dtype(1) - dtype(1e-7))
        if kind == "bce":
            pred = z if from_logits else 1 / (1 + np.exp(-z))
            if not from_logits and rng.random() < 0.3:
                pred = np.where(rng.random(pred.shape) < 0.3, rng.integers(0, 2, pred.shape),
                                pred)
            t = rng.integers(0, 2, pred.shape).astype(dtype)
            y_true = t
            loss = LS.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing,
                                         reduction=reduction)
        else:
            pred = z if from_logits else np.exp(z) / np.exp(z).sum(-1, keepdims=True)
            if not from_logits and rng.random() < 0.3:  # exact zeros, then unnormalised
                pred = np.where(rng.random(pred.shape) < 0.3, 0, pred)
                pred = (pred + (pred.sum(-1, keepdims=True) == 0)) * rng.uniform(0.5, 2)
            labels = rng.integers(0, c, shape)
            t = np.eye(c)[labels]
            if kind == "sparse":
                y_true = [labels, labels[..., None], labels.astype(np.float32)][
                    int(rng.integers(0, 3))]
                loss = LS.SparseCategoricalCrossentropy(from_logits=from_logits,
                                                        reduction=reduction)
            else:
                y_true = t.astype(dtype)
                loss = LS.CategoricalCrossentropy(from_logits=from_logits,
                                                  label_smoothing=smoothing,
                                                  reduction=reduction)
        pred = pred.astype(dtype)
        value, grad = loss.forward_backward(y_true, pred, sample_weight=sw)
        assert grad.dtype == dtype and grad.shape == pred.shape
        pt = torch.tensor(pred.astype(np.float64), requires_grad=True)
        if kind == "bce":
            tt = torch.tensor(t.astype(np.float64)) * (1 - smoothing) + 0.5 * smoothing
            if from_logits:
                values = F.binary_cross_entropy_with_logits(pt, tt, reduction="none").mean(-1)
            else:
                p = torch.clamp(pt, lo, hi)
                values = -(tt * torch.log(p) + (1 - tt) * torch.log(1 - p)).mean(-1)
        else:
            tt = torch.tensor(t) * (1 - smoothing) + smoothing / c
            if from_logits:
                values = -(tt * torch.log_softmax(pt, -1)).sum(-1)
            else:
                q = torch.clamp(pt / pt.sum(-1, keepdim=True), lo, hi)
                values = -(tt * torch.log(q)).sum(-1)
        ref = _reduce(values, sw, reduction)
        ref.backward()
        _close(np.float64(value), ref, dtype, f"loss value {config}")
        _close(grad, pt.grad, dtype, f"d_y_pred {config}")


OPTIMIZERS = ["sgd", "rmsprop", "adam", "adamw", "adagrad", "adadelta", "nadam", "adamax"]


def _optimizer_pair(kind, rng, lr, wd):
    """(npconv optimizer, torch constructor, whether decay is applied to torch by hand) on
    the documented mapping: eps 0 where Keras places epsilon differently, Nadam with
    momentum_decay=1.0, decoupled decay (AdamW's) by hand for torch's L2-style ones."""
    b1, b2 = float(rng.choice([0.9, 0.5, 0.0])), float(rng.choice([0.999, 0.9, 0.5]))
    kw = {} if wd is None else {"weight_decay": wd}
    if kind == "sgd":
        m = float(rng.choice([0.0, 0.5, 0.9]))
        nest = m > 0 and bool(rng.random() < 0.5)
        return (O.SGD(lr, momentum=m, nesterov=nest, **kw),
                lambda p: torch.optim.SGD(p, lr=lr, momentum=m, nesterov=nest), True)
    if kind == "rmsprop":
        rho, m, cen = float(rng.choice([0.9, 0.5])), float(rng.choice([0.0, 0.9])), \
            bool(rng.random() < 0.5)
        return (O.RMSprop(lr, rho=rho, momentum=m, centered=cen, epsilon=0.0, **kw),
                lambda p: torch.optim.RMSprop(p, lr=lr, alpha=rho, eps=0.0, momentum=m,
                                              centered=cen), True)
    if kind in ("adam", "adamw"):
        ams = bool(rng.random() < 0.4)
        cls = O.AdamW if kind == "adamw" else O.Adam
        wd_used = (wd if wd is not None else 0.004) if kind == "adamw" else wd
        return (cls(lr, beta_1=b1, beta_2=b2, epsilon=0.0, amsgrad=ams,
                    **({} if wd_used is None else {"weight_decay": wd_used})),
                lambda p: torch.optim.AdamW(p, lr=lr, betas=(b1, b2), eps=0.0, amsgrad=ams,
                                            weight_decay=wd_used or 0.0), False)
    if kind == "adagrad":
        init = float(rng.choice([0.1, 1.0]))
        return (O.Adagrad(lr, initial_accumulator_value=init, epsilon=0.0, **kw),
                lambda p: torch.optim.Adagrad(p, lr=lr, eps=0.0,
                                              initial_accumulator_value=init), True)
    if kind == "adadelta":
        rho, eps = float(rng.choice([0.95, 0.5])), float(rng.choice([1e-7, 1e-3]))
        return (O.Adadelta(lr, rho=rho, epsilon=eps, **kw),
                lambda p: torch.optim.Adadelta(p, lr=lr, rho=rho, eps=eps), True)
    if kind == "nadam":
        eps = float(rng.choice([1e-7, 1e-3]))
        return (O.Nadam(lr, beta_1=b1, beta_2=b2, epsilon=eps, **kw),
                lambda p: torch.optim.NAdam(p, lr=lr, betas=(b1, b2), eps=eps,
                                            momentum_decay=1.0), True)
    return (O.Adamax(lr, beta_1=b1, beta_2=b2, epsilon=0.0, **kw),
            lambda p: torch.optim.Adamax(p, lr=lr, betas=(b1, b2), eps=0.0), True)


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_optimizer_first_steps_random_hyperparameters(kind):
    """1-4 steps of random gradients on weights of random shapes (0-d included), random
    hyperparameters, decoupled weight decay or none, float32 and float64: the weights'
    change equals torch.optim's."""
    rng = np.random.default_rng(110 + OPTIMIZERS.index(kind))
    for _ in range(12):
        dtype = np.float64 if rng.random() < 0.5 else np.float32
        lr = float(rng.choice([1.0, 0.5])) if kind == "adadelta" else \
            float(rng.choice([1e-3, 1e-2, 0.1]))
        wd = None if rng.random() < 0.5 else float(rng.choice([0.01, 0.1]))
        shapes = [tuple(int(v) for v in rng.integers(1, 4, size=int(rng.integers(0, 4))))
                  for _ in range(int(rng.integers(1, 4)))]
        steps = int(rng.integers(1, 5))
        scale = float(rng.choice([1e-3, 1.0, 10.0]))
        ours, make_torch, by_hand = _optimizer_pair(kind, rng, lr, wd)
        values = [rng.standard_normal(s).astype(dtype) for s in shapes]
        weights = [Weight(f"w{i}", v.copy()) for i, v in enumerate(values)]
        params = [torch.tensor(v.astype(np.float64), requires_grad=True) for v in values]
        theirs = make_torch(params)
        for _ in range(steps):
            grads = [(rng.standard_normal(s) * scale).astype(dtype) for s in shapes]
            for w, g in zip(weights, grads, strict=True):
                w.grad = g
            ours.apply_gradients(weights)
            for p, g in zip(params, grads, strict=True):
                p.grad = torch.tensor(g.astype(np.float64))
            if wd is not None and by_hand:
                with torch.no_grad():
                    for p in params:
                        p.mul_(1 - lr * wd)
            theirs.step()
        what = f"{kind} {ours.get_config()} {np.dtype(dtype).name} shapes={shapes}"
        for w, p, v in zip(weights, params, values, strict=True):
            assert w.value.dtype == dtype and w.value.shape == v.shape, what
            moved = p.detach().numpy() - v.astype(np.float64)
            np.testing.assert_allclose(w.value.astype(np.float64) - v, moved,
                                       rtol=1e-6 if dtype is np.float64 else 2e-3,
                                       atol=1e-12 if dtype is np.float64 else 1e-6,
                                       err_msg=what)
