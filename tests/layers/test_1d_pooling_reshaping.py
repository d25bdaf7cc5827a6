"""The 1-D poolings and reshapings (MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D,
GlobalMaxPooling1D, UpSampling1D, ZeroPadding1D, Cropping1D) and SpatialDropout1D, all run by
the 2-D layers' code on (batch, 1, steps, channels):

- float64 central finite differences of every backward, both data formats where Keras has one;
- PyTorch 2.13 (``F.max_pool1d``, ``F.avg_pool1d``, ``F.adaptive_*_pool1d``, ``torch.amax``,
  ``F.interpolate(mode="nearest")``, ``F.pad``, ``F.dropout1d``) over random configurations,
  forward and input gradient, with Keras's "same" padding built explicitly as in
  tests/reference/test_pool_torch.py (the odd padding step at the end);
- output shapes against a table of Keras 3.15.1's ``compute_output_shape`` and its formulas;
- Keras's argument errors, naming the layer; configs; a model file; summary, cost and bench.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import npconv
from npconv import gradient_check, layers
from npconv import io as npio
from npconv.bench import bench_model
from npconv.layers import (
    AveragePooling1D,
    AvgPool1D,
    Cropping1D,
    Dense,
    GlobalAveragePooling1D,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    GlobalMaxPooling1D,
    Input,
    MaxPool1D,
    MaxPooling1D,
    SpatialDropout1D,
    UpSampling1D,
    ZeroPadding1D,
)
from npconv.layers.base import SymbolicTensor, get_layer_class
from npconv.models.cost import layer_cost
from npconv.models.functional import Model
from npconv.random import global_generator, set_random_seed
from tests.finite_differences import central_differences

FORMATS = ["channels_last", "channels_first"]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}


def _in_format(x_ncl, data_format):
    """An (N, C, L) array (torch's layout) in ``data_format``'s layout."""
    return x_ncl if data_format == "channels_first" else np.ascontiguousarray(
        x_ncl.transpose(0, 2, 1))


def _to_ncl(a, data_format):
    return a if data_format == "channels_first" else a.transpose(0, 2, 1)


def _re_shape(shape):
    return re.escape(str(tuple(shape)))


def _tf_same_pads(steps, pool, stride):
    """TensorFlow's "same" padding of one axis, written out here as the reference:
    ``ceil(steps / stride)`` outputs, the odd padding step at the end."""
    out = -(-steps // stride)
    total = max((out - 1) * stride + pool - steps, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------------------- names, values
def test_aliases_names_and_exports():
    assert MaxPool1D is MaxPooling1D and AvgPool1D is AveragePooling1D
    assert GlobalMaxPool1D is GlobalMaxPooling1D and GlobalAvgPool1D is GlobalAveragePooling1D
    for name in ("MaxPooling1D", "MaxPool1D", "AveragePooling1D", "AvgPool1D",
                 "GlobalAveragePooling1D", "GlobalAvgPool1D", "GlobalMaxPooling1D",
                 "GlobalMaxPool1D", "UpSampling1D", "ZeroPadding1D", "Cropping1D",
                 "SpatialDropout1D"):
        assert name in layers.__all__ and getattr(npconv.layers, name) is getattr(layers, name)
    # Keras's automatic names
    made = [MaxPooling1D(), AveragePooling1D(2), GlobalAveragePooling1D(), GlobalMaxPooling1D(),
            UpSampling1D(), ZeroPadding1D(), Cropping1D(), SpatialDropout1D(0.5)]
    assert [m.name for m in made] == [
        "max_pooling1d", "average_pooling1d", "global_average_pooling1d",
        "global_max_pooling1d", "up_sampling1d", "zero_padding1d", "cropping1d",
        "spatial_dropout1d"]
    # not the 2-D classes (a model or a user telling them apart by isinstance)
    assert not isinstance(MaxPooling1D(), layers.MaxPooling2D)
    assert not isinstance(ZeroPadding1D(), layers.ZeroPadding2D)
    assert not isinstance(SpatialDropout1D(0.1), layers.SpatialDropout2D)
    for m in made:
        m(np.zeros((1, 6, 2)))
        assert m.built and m.count_params() == 0 and m.weights == []


def test_keras_docstring_examples():
    x = np.array([1.0, 2, 3, 4, 5]).reshape(1, 5, 1)
    out = {
        (MaxPooling1D, 1, "valid"): [2, 3, 4, 5], (MaxPooling1D, 2, "valid"): [2, 4],
        (MaxPooling1D, 1, "same"): [2, 3, 4, 5, 5],
        (AveragePooling1D, 1, "valid"): [1.5, 2.5, 3.5, 4.5],
        (AveragePooling1D, 2, "valid"): [1.5, 3.5],
        (AveragePooling1D, 1, "same"): [1.5, 2.5, 3.5, 4.5, 5],
    }
    for (cls, strides, padding), expected in out.items():
        y = cls(pool_size=2, strides=strides, padding=padding)(x)
        np.testing.assert_array_equal(np.asarray(y)[0, :, 0], expected)
    seq = np.arange(12).reshape(2, 2, 3)
    padded = ZeroPadding1D(padding=2)(seq)
    assert padded.dtype == seq.dtype  # integers kept, as Keras prints them
    np.testing.assert_array_equal(padded[0], [[0, 0, 0], [0, 0, 0], [0, 1, 2], [3, 4, 5],
                                              [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(UpSampling1D(size=2)(seq)[1],
                                  [[6, 7, 8], [6, 7, 8], [9, 10, 11], [9, 10, 11]])
    cropped = Cropping1D(cropping=1)(np.arange(12).reshape(2, 3, 2))
    np.testing.assert_array_equal(cropped, [[[2, 3]], [[8, 9]]])
    assert GlobalAveragePooling1D()(np.random.default_rng(0).random((2, 3, 4))).shape == (2, 4)


# ---------------------------------------------------------------------------- finite differences
_FD_LAYERS = [  # (label, layer from a data_format or None where Keras has none, (N, C, L))
    ("max valid", lambda f: MaxPooling1D(3, strides=2, data_format=f), (2, 3, 8)),
    ("max same", lambda f: MaxPooling1D(3, strides=2, padding="same", data_format=f), (2, 3, 8)),
    ("max tiled", lambda f: MaxPooling1D(2, data_format=f), (2, 2, 7)),
    ("avg valid", lambda f: AveragePooling1D(2, strides=1, data_format=f), (2, 3, 6)),
    ("avg same", lambda f: AveragePooling1D(4, strides=3, padding="same", data_format=f),
     (2, 3, 8)),
    ("avg tiled", lambda f: AveragePooling1D(3, data_format=f), (2, 2, 9)),
    ("gap", lambda f: GlobalAveragePooling1D(data_format=f), (2, 3, 5)),
    ("gap keepdims", lambda f: GlobalAveragePooling1D(data_format=f, keepdims=True), (2, 3, 5)),
    ("gmp", lambda f: GlobalMaxPooling1D(data_format=f), (2, 3, 5)),
    ("gmp keepdims", lambda f: GlobalMaxPooling1D(data_format=f, keepdims=True), (2, 3, 5)),
    ("zero pad", lambda f: ZeroPadding1D((1, 2), data_format=f), (2, 3, 4)),
    ("up", lambda f: UpSampling1D(3), (2, 3, 4)),
    ("crop", lambda f: Cropping1D((2, 1)), (2, 3, 6)),
]
#: Every layer in both data formats, but UpSampling1D and Cropping1D: channels_last only,
#: as Keras's (they refuse a data_format: see the errors below).
FD_CASES = [(label, make, ncl, data_format) for label, make, ncl in _FD_LAYERS
            for data_format in (FORMATS if label not in ("up", "crop") else FORMATS[:1])]


@pytest.mark.parametrize("case", FD_CASES, ids=[f"{c[0]}-{c[3]}" for c in FD_CASES])
def test_backward_matches_finite_differences(case):
    label, make, ncl, data_format = case
    rng = np.random.default_rng(len(label))
    x = _in_format(rng.standard_normal(ncl), data_format)  # continuous: no tied maxima
    layer = make(data_format)
    y = np.asarray(layer.forward(x, training=True))
    r = rng.standard_normal(y.shape)
    numeric = central_differences(lambda: float(np.sum(np.asarray(layer.forward(x)) * r)), x)
    layer.forward(x, training=True)
    dx = layer.backward(r)
    assert dx.shape == x.shape and dx.dtype == np.float64
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8, err_msg=label)
    np.testing.assert_array_equal(layer.backward(r), dx)  # twice: the same


def test_spatial_dropout_backward_by_finite_differences():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 6))
    d_out = rng.standard_normal(x.shape)
    layer = SpatialDropout1D(0.5, seed=5, dtype="float64")
    layer.own_generator()
    state = layer._rng.bit_generator.state

    def f():
        layer._rng.bit_generator.state = state  # the same mask each time
        return float(np.sum(np.asarray(layer.forward(x, training=True)) * d_out))

    numeric = central_differences(f, x)
    f()
    dx = layer.backward(d_out)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)
    assert (dx == 0).any() and (dx != 0).any()
    layer.forward(x, training=False)
    np.testing.assert_array_equal(layer.backward(d_out), d_out)


def test_gradient_check_of_a_model_of_every_1d_layer():
    set_random_seed(2)
    inputs = Input(shape=(11, 3))
    x = ZeroPadding1D((2, 1))(inputs)
    x = Dense(4, activation="tanh")(x)
    x = MaxPooling1D(3, strides=2, padding="same")(x)
    x = SpatialDropout1D(0.3, seed=1)(x)
    x = UpSampling1D(2)(x)
    x = Cropping1D((1, 2))(x)
    x = AveragePooling1D(2, strides=1, data_format="channels_first")(x)  # (N, 4 channels, ...)
    a = GlobalAveragePooling1D()(x)
    b = GlobalMaxPooling1D(data_format="channels_first")(x)
    model = Model(inputs, Dense(2)(layers.Concatenate()([a, b])))
    data = np.random.default_rng(3).standard_normal((2, 11, 3))
    report = gradient_check(model, data, print_fn=None)
    assert report.passed, str(report)


# ---------------------------------------------------------------------------- PyTorch
@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: threads only add contention
    yield torch
    torch.set_num_threads(threads)


def _torch_window_pool(torch, mode, xt, pool, stride, padding):
    """torch's pooling of ``xt`` (N, C, L) with Keras's padding: "same" as explicit pads,
    ``-inf`` for max, and for the mean the window sum over the count of real steps."""
    F = torch.nn.functional
    steps = xt.shape[2]
    pads = _tf_same_pads(steps, pool, stride) if padding == "same" else (0, 0)
    if mode == "max":
        return F.max_pool1d(F.pad(xt, pads, value=-float("inf")), pool, stride)
    ones = torch.ones((1, 1, steps), dtype=xt.dtype)
    # F.avg_pool1d divides both by pool: their ratio is sum / real steps
    return F.avg_pool1d(F.pad(xt, pads), pool, stride) / F.avg_pool1d(F.pad(ones, pads), pool,
                                                                       stride)


def _compare_with_torch(torch, layer, x_ncl, torch_fn, data_format, dtype, rng, what,
                        training=False):
    x = _in_format(x_ncl.astype(dtype), data_format)
    y = np.asarray(layer.forward(x, training=training))
    xt = torch.from_numpy(np.ascontiguousarray(x_ncl.astype(dtype))).requires_grad_()
    yt = torch_fn(xt)
    d = rng.standard_normal(y.shape).astype(dtype)
    d_t = _to_ncl(d, data_format) if d.ndim == 3 else d
    yt.backward(torch.from_numpy(np.ascontiguousarray(d_t)))
    dx = layer.backward(d)
    y_t = yt.detach().numpy()
    assert y.dtype == dx.dtype == dtype, what
    np.testing.assert_allclose(_to_ncl(y, data_format) if y.ndim == 3 else y, y_t,
                               err_msg="forward " + what, **TOL[dtype])
    np.testing.assert_allclose(_to_ncl(dx, data_format), xt.grad.numpy(),
                               err_msg="backward " + what, **TOL[dtype])
    return y


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_window_pools_match_torch(torch, mode, dtype):
    rng = np.random.default_rng({"max": 70, "avg": 80}[mode] + (dtype == np.float32))
    cls = MaxPooling1D if mode == "max" else AveragePooling1D
    counts = {"same": 0, "valid": 0, "asymmetric": 0}
    for trial in range(150):
        pool, stride = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        if rng.random() < 0.25:
            stride = pool
        padding = "same" if rng.random() < 0.5 else "valid"
        n, c = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        steps = int(rng.integers(1 if padding == "same" else pool, pool + 10))
        data_format = FORMATS[trial % 2]
        if trial % 5 == 4:  # integer values and ReLU zeros: tied maxima go where torch's go
            x = rng.integers(-1, 2, size=(n, c, steps)).astype(float)
        else:
            x = rng.standard_normal((n, c, steps))
        layer = cls(pool, strides=None if stride == pool and trial % 3 else stride,
                    padding=padding, data_format=data_format)
        what = f"{mode} {np.dtype(dtype).name} ncl={x.shape} pool={pool} stride={stride} " \
               f"{padding} {data_format}"
        _compare_with_torch(
            torch, layer, x,
            lambda xt, p=pool, s=stride, pad=padding: _torch_window_pool(torch, mode, xt, p, s,
                                                                         pad),
            data_format, dtype, rng, what, training=trial % 4 != 0)
        counts[padding] += 1
        left, right = _tf_same_pads(steps, pool, stride)
        counts["asymmetric"] += padding == "same" and left != right
    assert min(counts.values()) >= 10, counts


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_symmetric_same_average_matches_count_include_pad_false(torch, dtype):
    # where Keras's "same" pads are symmetric, torch's own padding= is the reference
    F = torch.nn.functional
    rng = np.random.default_rng(81)
    checked = 0
    for _ in range(200):
        pool, stride = int(rng.integers(1, 6)), int(rng.integers(1, 4))
        steps = int(rng.integers(1, 12))
        left, right = _tf_same_pads(steps, pool, stride)
        if left != right or left > pool // 2:
            continue
        x = rng.standard_normal((2, 3, steps))
        data_format = FORMATS[checked % 2]
        layer = AveragePooling1D(pool, strides=stride, padding="same", data_format=data_format)
        _compare_with_torch(
            torch, layer, x,
            lambda xt, p=pool, s=stride, pad=left: F.avg_pool1d(xt, p, s, padding=pad,
                                                                 count_include_pad=False),
            data_format, dtype, rng, f"steps={steps} pool={pool} stride={stride}")
        checked += 1
    assert checked >= 30


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pools_match_torch_adaptive_pools(torch, dtype, keepdims):
    F = torch.nn.functional
    rng = np.random.default_rng(82 + keepdims)
    for trial in range(40):
        n, c, steps = (int(v) for v in rng.integers(1, 7, size=3))
        x = rng.standard_normal((n, c, steps))  # no ties (continuous values)
        data_format = FORMATS[trial % 2]
        for cls, adaptive in ((GlobalAveragePooling1D, F.adaptive_avg_pool1d),
                              (GlobalMaxPooling1D, F.adaptive_max_pool1d)):
            layer = cls(data_format=data_format, keepdims=keepdims)

            def fn(xt, adaptive=adaptive):
                out = adaptive(xt, 1)  # (N, C, 1)
                return out if keepdims else out[:, :, 0]

            y = _compare_with_torch(torch, layer, x, fn, data_format, dtype, rng,
                                    f"{cls.__name__} ncl={x.shape} {data_format}")
            expected = ((n, c, 1) if data_format == "channels_first" else (n, 1, c)) \
                if keepdims else (n, c)
            assert y.shape == expected


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_max_splits_tied_maxima_as_torch_amax(torch, dtype):
    # Keras's GlobalMaxPooling1D is ops.max: torch.amax, which splits the gradient among ties
    rng = np.random.default_rng(83)
    x = rng.integers(-2, 3, size=(3, 4, 6)).astype(float)
    x[0, 1, :] = 7.0  # a channel of one value: each step gets 1/6
    for data_format in FORMATS:
        for keepdims in (False, True):
            layer = GlobalMaxPooling1D(data_format=data_format, keepdims=keepdims)
            _compare_with_torch(torch, layer, x,
                                lambda xt, k=keepdims: torch.amax(xt, dim=2, keepdim=k),
                                data_format, dtype, rng, f"{data_format} keepdims={keepdims}")


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_upsampling_matches_torch_interpolate_nearest(torch, dtype):
    F = torch.nn.functional
    rng = np.random.default_rng(84)
    for _ in range(40):
        n, c, steps = (int(v) for v in rng.integers(1, 7, size=3))
        size = int(rng.integers(1, 5))
        x = rng.standard_normal((n, c, steps))
        _compare_with_torch(torch, UpSampling1D(size), x,
                            lambda xt, s=size: F.interpolate(xt, scale_factor=s, mode="nearest"),
                            "channels_last", dtype, rng, f"ncl={x.shape} size={size}")


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_padding_and_cropping_match_torch_pad(torch, dtype):
    # F.pad with negative amounts crops
    F = torch.nn.functional
    rng = np.random.default_rng(85)
    for trial in range(60):
        n, c, steps = (int(v) for v in rng.integers(1, 7, size=3))
        x = rng.standard_normal((n, c, steps))
        before, after = (int(v) for v in rng.integers(0, 4, size=2))
        data_format = FORMATS[trial % 2]
        padding = before if trial % 3 == 0 else (before, after)
        pads = (before, before) if trial % 3 == 0 else (before, after)
        _compare_with_torch(torch, ZeroPadding1D(padding, data_format=data_format), x,
                            lambda xt, p=pads: F.pad(xt, p), data_format, dtype, rng,
                            f"pad {pads} ncl={x.shape} {data_format}")
        if before + after < steps:
            _compare_with_torch(torch, Cropping1D((before, after)), x,
                                lambda xt, p=(before, after): F.pad(xt, (-p[0], -p[1])),
                                "channels_last", dtype, rng, f"crop {pads} ncl={x.shape}")


class _FixedDraw:
    """A stand-in generator whose ``random(shape)`` keeps exactly the channels torch kept."""

    def __init__(self, keep):
        self.keep = keep

    def random(self, shape):
        assert shape == self.keep.shape
        return np.where(self.keep, 0.999, 0.0)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spatial_dropout_matches_torch_dropout1d(torch, dtype, monkeypatch):
    """torch's F.dropout1d draws the channel mask; npconv's SpatialDropout1D is given the same
    mask (its stream differs) and must give torch's output and gradient."""
    import npconv.ops.core as ops_core

    real = ops_core.make_generator
    monkeypatch.setattr(ops_core, "make_generator",
                        lambda g: g if isinstance(g, _FixedDraw) else real(g))
    F = torch.nn.functional
    rng = np.random.default_rng(86)
    for i in range(40):
        n, c, steps = (int(s) for s in rng.integers(1, 6, size=3))
        p = float(rng.choice([0.1, 0.25, 0.5, 0.8]))
        x = rng.uniform(0.5, 2, (n, c, steps))  # no zeros: the mask is visible
        torch.manual_seed(i)
        keep = F.dropout1d(torch.from_numpy(x), p, training=True).numpy()[:, :, 0] != 0
        layer = SpatialDropout1D(p, seed=0, dtype=dtype)
        layer._rng = _FixedDraw(keep[:, None, None, :])  # the (N, 1, 1, C) mask of the row
        torch.manual_seed(i)
        _compare_with_torch(torch, layer, x, lambda xt, p=p: F.dropout1d(xt, p, training=True),
                            "channels_last", dtype, rng, f"ncl={x.shape} p={p}", training=True)
        xin = _in_format(x.astype(dtype), "channels_last")
        np.testing.assert_array_equal(layer.forward(xin, training=False), xin)


# ---------------------------------------------------------------------------- shapes
#: Keras 3.15.1's compute_output_shape (torch backend) for these layers and input shapes.
KERAS_SHAPES = [
    ("MaxPooling1D", {}, (None, 10, 3), (None, 5, 3)),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2}, (None, 10, 3), (None, 4, 3)),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (None, 10, 3),
     (None, 5, 3)),
    ("MaxPooling1D", {"pool_size": 4, "strides": 1, "padding": "same",
                      "data_format": "channels_first"}, (None, 3, 7), (None, 3, 7)),
    ("MaxPooling1D", {"pool_size": 2}, (None, None, 5), (None, None, 5)),
    ("MaxPooling1D", {"pool_size": 5, "strides": 3, "data_format": "channels_first"},
     (4, 2, 11), (4, 2, 3)),
    ("AveragePooling1D", {"pool_size": 2}, (None, 9, 4), (None, 4, 4)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1}, (None, 9, 4), (None, 7, 4)),
    ("AveragePooling1D", {"pool_size": 3, "strides": 4, "padding": "same"}, (2, 9, 4),
     (2, 3, 4)),
    ("AveragePooling1D", {"pool_size": 2, "padding": "same", "data_format": "channels_first"},
     (None, 4, 9), (None, 4, 5)),
    ("GlobalAveragePooling1D", {}, (None, 9, 4), (None, 4)),
    ("GlobalAveragePooling1D", {"keepdims": True}, (None, 9, 4), (None, 1, 4)),
    ("GlobalAveragePooling1D", {"data_format": "channels_first"}, (None, 4, 9), (None, 4)),
    ("GlobalAveragePooling1D", {"data_format": "channels_first", "keepdims": True},
     (None, 4, 9), (None, 4, 1)),
    ("GlobalMaxPooling1D", {}, (3, None, 4), (3, 4)),
    ("GlobalMaxPooling1D", {"keepdims": True}, (None, 9, 4), (None, 1, 4)),
    ("GlobalMaxPooling1D", {"data_format": "channels_first", "keepdims": True},
     (None, 4, None), (None, 4, 1)),
    ("UpSampling1D", {}, (None, 5, 3), (None, 10, 3)),
    ("UpSampling1D", {"size": 3}, (2, 5, 3), (2, 15, 3)),
    ("UpSampling1D", {"size": 1}, (None, None, 3), (None, None, 3)),
    ("ZeroPadding1D", {}, (None, 5, 3), (None, 7, 3)),
    ("ZeroPadding1D", {"padding": (0, 3)}, (None, 5, 3), (None, 8, 3)),
    ("ZeroPadding1D", {"padding": 2, "data_format": "channels_first"}, (None, 3, 5),
     (None, 3, 9)),
    ("ZeroPadding1D", {"padding": (1, 0)}, (None, None, 3), (None, None, 3)),
    ("Cropping1D", {}, (None, 5, 3), (None, 3, 3)),
    ("Cropping1D", {"cropping": (0, 3)}, (None, 5, 3), (None, 2, 3)),
    ("Cropping1D", {"cropping": 2}, (2, 7, 3), (2, 3, 3)),
    ("Cropping1D", {"cropping": (1, 2)}, (None, None, 3), (None, None, 3)),
    ("SpatialDropout1D", {"rate": 0.3}, (None, 5, 3), (None, 5, 3)),
]


@pytest.mark.parametrize("name, kwargs, shape, expected", KERAS_SHAPES)
def test_output_shapes_are_keras_compute_output_shape(name, kwargs, shape, expected):
    layer = get_layer_class(name)(**kwargs)
    assert layer.compute_output_shape(shape) == expected
    assert layer.output_shape_for(shape) == expected
    assert layer(SymbolicTensor(shape)).shape == expected
    full = tuple(7 if d is None else d for d in shape)
    y = layer(np.random.default_rng(0).standard_normal(full))
    assert all(e is None or e == got for e, got in zip(expected, y.shape, strict=True))
    assert layer.output_shape == (None,) + expected[1:]


def _keras_pool_steps(steps, pool, stride, padding):
    """Keras's compute_pooling_output_shape for one axis."""
    if padding == "valid":
        return math.floor((steps - pool) / stride) + 1
    return math.floor((steps - 1) / stride) + 1


def test_random_output_shapes_follow_keras_formulas():
    rng = np.random.default_rng(9)
    for trial in range(200):
        data_format = FORMATS[trial % 2]
        n, c, steps = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 15))
        shape = (n, c, steps) if data_format == "channels_first" else (n, steps, c)
        x = np.zeros(shape)

        def of(layer_steps, k=c, n=n, fmt=data_format):
            return (n, k, layer_steps) if fmt == "channels_first" else (n, layer_steps, k)

        pool, stride = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        padding = "same" if rng.random() < 0.5 or steps < pool else "valid"
        for cls in (MaxPooling1D, AveragePooling1D):
            layer = cls(pool, stride, padding, data_format)
            expected = of(_keras_pool_steps(steps, pool, stride, padding))
            assert layer(x).shape == layer.compute_output_shape(shape) == expected
        before, after = (int(v) for v in rng.integers(0, 4, size=2))
        assert ZeroPadding1D((before, after), data_format)(x).shape == of(steps + before + after)
        if data_format == "channels_last":
            size = int(rng.integers(1, 4))
            assert UpSampling1D(size)(x).shape == of(steps * size)
            if before + after < steps:
                assert Cropping1D((before, after))(x).shape == of(steps - before - after)


# ---------------------------------------------------------------------------- configs
def test_configs_hold_keras_arguments_and_round_trip():
    made = [
        (MaxPooling1D(3, strides=1, padding="SAME", data_format="channels_first", name="mp"),
         {"pool_size": (3,), "strides": (1,), "padding": "same",
          "data_format": "channels_first"}),
        (MaxPooling1D(), {"pool_size": (2,), "strides": (2,), "padding": "valid",
                          "data_format": "channels_last"}),
        (AveragePooling1D([4], strides=(2,), data_format=None),
         {"pool_size": (4,), "strides": (2,), "padding": "valid",
          "data_format": "channels_last"}),
        (GlobalAveragePooling1D(keepdims=True), {"data_format": "channels_last",
                                                 "keepdims": True}),
        (GlobalMaxPooling1D(data_format="channels_first"),
         {"data_format": "channels_first", "keepdims": False}),
        (UpSampling1D(3), {"size": 3}),
        (ZeroPadding1D(2, data_format="channels_first"),
         {"padding": (2, 2), "data_format": "channels_first"}),
        (Cropping1D((0, 2)), {"cropping": (0, 2)}),
        (SpatialDropout1D(0.25, seed=7), {"rate": 0.25, "seed": 7}),
    ]
    for layer, keras_args in made:
        config = layer.get_config()
        assert config == {"name": layer.name, "trainable": True, **keras_args}, config
        restored = get_layer_class(type(layer).__name__).from_config(
            json.loads(json.dumps(config)))  # JSON: tuples come back as lists
        assert type(restored) is type(layer)
        assert restored.get_config() == config
        x = np.random.default_rng(1).standard_normal((2, 8, 8))
        np.testing.assert_array_equal(restored(x), layer(x))


def test_model_file_round_trip_training_summary_cost_and_bench(tmp_path):
    set_random_seed(4)
    inputs = Input(shape=(12, 3))
    x = ZeroPadding1D((1, 2), name="pad")(inputs)
    x = Dense(6, activation="relu", name="mix")(x)
    x = MaxPooling1D(2, name="pool")(x)                                        # (None, 7, 6)
    x = SpatialDropout1D(0.4, seed=3, name="drop")(x)
    x = UpSampling1D(2, name="up")(x)                                          # (None, 14, 6)
    x = Cropping1D((1, 1), name="crop")(x)                                     # (None, 12, 6)
    x = AveragePooling1D(3, strides=2, padding="same", data_format="channels_first",
                         name="avg_cf")(x)                                     # (None, 12, 3)
    x = ZeroPadding1D(1, data_format="channels_first", name="pad_cf")(x)       # (None, 12, 5)
    a = GlobalAveragePooling1D(name="gap")(x)                                  # (None, 5)
    b = GlobalMaxPooling1D(data_format="channels_first", keepdims=True, name="gmp")(x)
    b = layers.Flatten()(b)                                                    # (None, 12)
    outputs = Dense(3, activation="softmax")(layers.Concatenate()([a, b]))
    model = Model(inputs, outputs)
    rng = np.random.default_rng(5)
    data = rng.standard_normal((16, 12, 3)).astype(np.float32)
    labels = rng.integers(0, 3, 16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(data, labels, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    model.save(tmp_path / "seq.npconv")
    loaded = npio.load_model(tmp_path / "seq.npconv")
    np.testing.assert_array_equal(loaded.predict(data, verbose=0), model.predict(data, verbose=0))
    for name in ("pad", "pool", "drop", "up", "crop", "avg_cf", "pad_cf", "gap", "gmp"):
        assert loaded.get_layer(name).get_config() == model.get_layer(name).get_config()
    expected_shapes = {"pad": (None, 15, 3), "pool": (None, 7, 6), "drop": (None, 7, 6),
                       "up": (None, 14, 6), "crop": (None, 12, 6), "avg_cf": (None, 12, 3),
                       "pad_cf": (None, 12, 5), "gap": (None, 5), "gmp": (None, 12, 1)}
    lines = []
    loaded.summary(print_fn=lines.append, show_cost=True)
    for name, shape in expected_shapes.items():
        layer = loaded.get_layer(name)
        assert layer.output_shape == shape
        row = [line for line in lines if f"{name} ({type(layer).__name__})" in line]
        assert len(row) == 1 and re.search(re.escape(str(shape)) + r"\s+0\s", row[0]), row
        cost = layer_cost(layer, batch_size=4)
        assert cost == {"macs": 0, "im2col_bytes": 0,
                        "activation_bytes": 4 * math.prod(shape[1:]) * 4}
    assert loaded.count_params() == model.count_params() == (3 * 6 + 6) + (17 * 3 + 3)
    report = bench_model(loaded, batch_size=4, repeats=1, warmup=0)
    rows = {r["name"]: r for r in report.rows}
    for name, shape in expected_shapes.items():
        assert rows[name]["output_shape"] == (4,) + shape[1:]
        assert rows[name]["macs"] == 0
        # timed backward where training needs its d_input: after the first Dense
        assert (rows[name]["backward_ms"] > 0) == (name != "pad"), name


# ---------------------------------------------------------------------------- SpatialDropout1D
def test_spatial_dropout_drops_whole_channels_and_scales():
    x = np.random.default_rng(0).uniform(0.5, 1.5, (6, 9, 8)).astype(np.float32)
    layer = SpatialDropout1D(0.4, seed=1)
    y = np.asarray(layer(x, training=True))
    assert y.dtype == np.float32 and y.shape == x.shape
    ratio = y / x
    kept = ratio[:, :1, :] != 0                         # (N, 1, C)
    assert np.all((ratio == 0) | np.isclose(ratio, 1 / 0.6, rtol=1e-6))
    np.testing.assert_array_equal(ratio != 0, np.broadcast_to(kept, x.shape))  # per (n, c)
    assert 0 < kept.sum() < kept.size
    assert len({kept[i].tobytes() for i in range(6)}) > 1  # each sample its own draw
    np.testing.assert_array_equal(layer(x), x)          # inference: the identity
    np.testing.assert_array_equal(SpatialDropout1D(0.0)(x, training=True), x)
    y = np.asarray(SpatialDropout1D(0.3, seed=0)(np.ones((400, 2, 50)), training=True))
    assert abs((y[:, 0] != 0).mean() - 0.7) < 0.01


def test_spatial_dropout_seeding_follows_spatial_dropout2d():
    x = np.ones((4, 3, 16))
    a, b = SpatialDropout1D(0.5, seed=3), SpatialDropout1D(0.5, seed=3)
    first = np.asarray(a(x, training=True))
    np.testing.assert_array_equal(first, b(x, training=True))
    assert not np.array_equal(first, a(x, training=True))  # its generator advances
    # the same draws as SpatialDropout2D's on the (N, 1, steps, C) view
    two_d = layers.SpatialDropout2D(0.5, seed=3)(x[:, None], training=True)
    np.testing.assert_array_equal(first, np.asarray(two_d)[:, 0])
    set_random_seed(1)
    c = np.asarray(SpatialDropout1D(0.5)(x, training=True))
    set_random_seed(1)
    np.testing.assert_array_equal(c, SpatialDropout1D(0.5)(x, training=True))
    state = global_generator().bit_generator.state
    SpatialDropout1D(0.5)(x, training=False)
    assert global_generator().bit_generator.state == state  # inference draws nothing
    layer = SpatialDropout1D(0.5)
    layer(x)
    assert layer.splits_batch(training=False) and not layer.splits_batch(training=True)


# ---------------------------------------------------------------------------- errors
WINDOWED = [MaxPooling1D, AveragePooling1D]


@pytest.mark.parametrize("cls", WINDOWED)
def test_pool_argument_errors(cls):
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"^{name}: expected pool_size to be >= 1. "
                                         r"Received: pool_size=0$"):
        cls(pool_size=0)
    with pytest.raises(ValueError, match=rf"{name}: expected pool_size to be >= 1.*=-2"):
        cls(pool_size=-2)
    with pytest.raises(ValueError, match=rf"{name}: expected pool_size to be an int or a tuple "
                                         r"of one int. Received: pool_size=\(2, 2\)"):
        cls(pool_size=(2, 2))
    for bad in (2.0, "2", True, None):
        with pytest.raises(ValueError, match=rf"{name}: expected pool_size to be an int"):
            cls(pool_size=bad)
    with pytest.raises(ValueError, match=rf"{name}: expected strides to be >= 1.*strides=-1"):
        cls(2, strides=-1)
    with pytest.raises(ValueError, match=rf"{name}: expected strides to be >= 1.*strides=0"):
        cls(2, strides=0)
    with pytest.raises(ValueError, match=rf"{name}: expected padding to be one of.*'causal'"):
        cls(2, padding="causal")
    with pytest.raises(ValueError, match=r"expected data_format to be one of.*'nwc'"):
        cls(2, data_format="nwc")
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        cls(2, kernel_size=3)
    with pytest.raises(TypeError, match="pool_size"):
        AveragePooling1D()  # no default, as in Keras


@pytest.mark.parametrize("cls", WINDOWED)
def test_window_longer_than_the_input_is_an_error(cls):
    layer = cls(pool_size=4, name="too_long")
    with pytest.raises(ValueError, match=r"too_long: the pool window of 4 steps is longer than "
                                         r"the input's 3 steps with padding='valid'. Received "
                                         r"an input of shape \(1, 3, 5\)"):
        layer(np.zeros((1, 3, 5)))
    with pytest.raises(ValueError, match=r"window of 4 steps is longer than the input's 3 steps"):
        cls(4, data_format="channels_first")(SymbolicTensor((None, 5, 3)))
    assert cls(4, padding="same")(np.zeros((1, 3, 5))).shape == (1, 1, 5)  # "same" fits


ALL_FACTORIES = [
    lambda: MaxPooling1D(name="L"), lambda: AveragePooling1D(2, name="L"),
    lambda: GlobalAveragePooling1D(name="L"), lambda: GlobalMaxPooling1D(name="L"),
    lambda: UpSampling1D(name="L"), lambda: ZeroPadding1D(name="L"),
    lambda: Cropping1D(name="L"), lambda: SpatialDropout1D(0.5, name="L"),
]


@pytest.mark.parametrize("make", ALL_FACTORIES)
@pytest.mark.parametrize("shape", [(4, 6), (2, 4, 6, 3), (5,)])
def test_input_that_is_not_3d_is_an_error(make, shape):
    layer = make()
    layout = r"\(batch, steps, channels\)"
    with pytest.raises(ValueError, match=rf"^L: expected a 3-D input {layout}. Received an "
                                         rf"input of shape {_re_shape(shape)}$"):
        layer(np.zeros(shape), training=True)
    with pytest.raises(ValueError, match=r"L: expected a 3-D input"):
        make()(SymbolicTensor((None,) + shape[1:]))


def test_channels_first_errors_give_that_layout():
    with pytest.raises(ValueError, match=r"expected a 3-D input \(batch, channels, steps\)"):
        MaxPooling1D(data_format="channels_first")(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"expected an input with at least one step"):
        GlobalMaxPooling1D(data_format="channels_first")(np.zeros((2, 3, 0)))


@pytest.mark.parametrize("cls", [GlobalAveragePooling1D, GlobalMaxPooling1D])
def test_global_pool_argument_errors(cls):
    with pytest.raises(TypeError, match=r"expected keepdims to be a bool. Received: keepdims=1"):
        cls(keepdims=1)
    with pytest.raises(ValueError, match="expected data_format to be one of"):
        cls(data_format="ncw")


def test_global_average_pooling_has_no_mask():
    x = np.ones((2, 5, 3))
    layer = GlobalAveragePooling1D(name="gap")
    with pytest.raises(ValueError, match=r"gap: npconv has no masking, so "
                                         r"GlobalAveragePooling1D takes no mask"):
        layer(x, mask=np.ones((2, 5), bool))
    np.testing.assert_array_equal(layer(x, mask=None), np.ones((2, 3)))  # None: no mask
    assert "mask" in (GlobalAveragePooling1D.__doc__ or "")


@pytest.mark.parametrize("cls, name", [(ZeroPadding1D, "padding"), (Cropping1D, "cropping")])
def test_padding_and_cropping_argument_errors(cls, name):
    where = f"{cls.__name__} c"
    for bad, shown in ((-1, "-1"), ((1, -2), r"\(1, -2\)")):
        with pytest.raises(ValueError, match=rf"^{where}: expected {name} to be >= 0. "
                                             rf"Received: {name}={shown}$"):
            cls(bad, name="c")
    for bad in ((1, 2, 3), (1,), "1", 1.5, True, ((1, 1), (1, 1))):
        with pytest.raises(ValueError, match=rf"{where}: expected {name} to be an int or a "
                                             rf"pair of ints"):
            cls(bad, name="c")
    assert cls(0).get_config()[name] == (0, 0)


@pytest.mark.parametrize("cropping, steps", [((2, 3), 5), ((3, 3), 5), (4, 8), ((0, 0), 0)])
def test_cropping_more_than_the_length_is_an_error(cropping, steps):
    # Keras: "`cropping` parameter of `Cropping1D` layer must be smaller than the input length"
    message = (r"c: Cropping1D expected a cropping smaller than the input's \d+ steps \(at "
               r"least one step left\). Received: cropping=\(\d, \d\) for an input of shape ")
    with pytest.raises(ValueError, match=message):
        Cropping1D(cropping, name="c")(np.ones((2, steps, 3)))
    if steps:  # (an Input of 0 steps is refused by Input itself)
        with pytest.raises(ValueError, match=message):
            Cropping1D(cropping, name="c")(Input(shape=(steps, 3)))
    total = sum(cropping) if isinstance(cropping, tuple) else 2 * cropping
    assert Cropping1D(cropping)(np.ones((2, total + 1, 3))).shape == (2, 1, 3)  # one left


def test_upsampling_argument_errors():
    with pytest.raises(ValueError, match=r"^UpSampling1D: expected size to be >= 1. "
                                         r"Received: size=0$"):
        UpSampling1D(0)
    for bad in ((2,), 2.0, "2", True):
        with pytest.raises(TypeError, match=r"UpSampling1D: expected size to be an int"):
            UpSampling1D(bad)
    with pytest.raises(ValueError, match=r"expected an input with at least one step"):
        UpSampling1D(2, name="u")(np.zeros((2, 0, 3)))


@pytest.mark.parametrize("cls, args", [(UpSampling1D, ()), (Cropping1D, ()),
                                       (SpatialDropout1D, (0.5,))])
def test_layers_without_keras_data_format_refuse_one(cls, args):
    name = cls.__name__
    for value in ("channels_first", "channels_last"):
        with pytest.raises(TypeError, match=rf"^{name}: unexpected keyword argument\(s\): "
                                            rf"data_format \({name} takes \(batch, steps, "
                                            rf"features\) only"):
            cls(*args, data_format=value)


def test_spatial_dropout_argument_errors():
    for bad in (-0.1, 1.0, "0.5", None, True):
        with pytest.raises(ValueError, match=r"SpatialDropout1D expects rate.*\[0, 1\).*Received"):
            SpatialDropout1D(bad)
    with pytest.raises(ValueError, match="SpatialDropout1D expects seed"):
        SpatialDropout1D(0.5, seed=-1)
    with pytest.raises(TypeError, match=r"^SpatialDropout1D: unexpected keyword argument\(s\): "
                                        r"noise_shape \(the mask's shape is \(N, 1, C\)"):
        SpatialDropout1D(0.5, noise_shape=(None, 1, None))
    with pytest.raises(TypeError, match=r"SpatialDropout2D: .*noise_shape \(the mask's shape "
                                        r"is \(N, 1, 1, C\)"):
        layers.SpatialDropout2D(0.5, noise_shape=(None, 1, 1, None))


@pytest.mark.parametrize("make", ALL_FACTORIES)
def test_backward_before_call_and_wrong_gradient_shape(make):
    with pytest.raises(RuntimeError, match="backward called before"):
        make().backward(np.zeros((1, 1, 1)))
    layer = make()
    y = layer(np.zeros((2, 6, 3)))
    with pytest.raises(ValueError, match=rf"L: expected a gradient of the output's shape "
                                         rf"{_re_shape(y.shape)}"):
        layer.backward(np.zeros((2,) + tuple(d + 1 for d in y.shape[1:])))

