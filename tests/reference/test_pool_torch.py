"""Pooling against PyTorch 2.13: forward and input gradients over random configurations.

PyTorch is NCHW; our ops are NHWC, so inputs go in as ``x.transpose(0, 3, 1, 2)``. PyTorch's own
``padding`` is symmetric, so TensorFlow "same" padding (odd pixel bottom/right) is built
explicitly: ``-inf`` cells for max pooling, and for average pooling the window sum divided by the
number of real pixels (the window sum of a padded ones-image).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.ops.padding import resolve_padding  # noqa: E402
from npconv.ops.pool import (  # noqa: E402
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d_backward,
    global_avg_pool2d_forward,
    global_max_pool2d_backward,
    global_max_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

TOL = {np.float64: dict(rtol=1e-6, atol=1e-9), np.float32: dict(rtol=1e-4, atol=1e-5)}
OPS = {
    "max": (max_pool2d_forward, max_pool2d_backward),
    "avg": (avg_pool2d_forward, avg_pool2d_backward),
}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: threads only add contention on a busy machine. Restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def to_torch(x_nhwc):
    return torch.from_numpy(np.ascontiguousarray(x_nhwc.transpose(0, 3, 1, 2))).requires_grad_()


def to_nhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 1)


def torch_pool(mode, xt, pool, strides, pads):
    """PyTorch's pooling of ``xt`` (NCHW) with explicit ((top, bottom), (left, right)) pads."""
    (top, bottom), (left, right) = pads
    torch_pads = (left, right, top, bottom)
    if mode == "max":
        return F.max_pool2d(F.pad(xt, torch_pads, value=-float("inf")), pool, strides)
    window_sum = F.avg_pool2d(F.pad(xt, torch_pads), pool, strides, divisor_override=1)
    ones = torch.ones((1, 1) + tuple(xt.shape[2:]), dtype=xt.dtype)
    real_pixels = F.avg_pool2d(F.pad(ones, torch_pads), pool, strides, divisor_override=1)
    return window_sum / real_pixels


def random_config(rng):
    kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
    sh, sw = (int(v) for v in rng.integers(1, 4, size=2))
    if rng.random() < 0.25:
        sh, sw = kh, kw
    padding = "same" if rng.random() < 0.5 else "valid"
    shape = (int(rng.integers(1, 4)), int(rng.integers(kh, kh + 8)),
             int(rng.integers(kw, kw + 8)), int(rng.integers(1, 5)))
    return shape, (kh, kw), (sh, sw), padding


def compare(mode, dtype, x, pool, strides, padding, rng):
    forward, backward = OPS[mode]
    pads = resolve_padding(padding, x.shape[1:3], pool, strides)
    out, cache = forward(x, pool, strides, padding)
    xt = to_torch(x)
    yt = torch_pool(mode, xt, pool, strides, pads)
    d_out = rng.standard_normal(out.shape).astype(dtype)
    yt.backward(torch.from_numpy(np.ascontiguousarray(d_out.transpose(0, 3, 1, 2))))
    dx = backward(d_out, cache)
    msg = f"{mode} {np.dtype(dtype).name} shape={x.shape} pool={pool} strides={strides} {padding}"
    assert out.dtype == dx.dtype == dtype, msg
    np.testing.assert_allclose(out, to_nhwc(yt), err_msg="forward " + msg, **TOL[dtype])
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1),
                               err_msg="backward " + msg, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["max", "avg"])
def test_random_configs_match_torch(mode, dtype):
    rng = np.random.default_rng({"max": 10, "avg": 20}[mode] + (dtype == np.float32))
    for _ in range(150):
        shape, pool, strides, padding = random_config(rng)
        x = rng.standard_normal(shape).astype(dtype)
        compare(mode, dtype, x, pool, strides, padding, rng)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool_ties_go_where_torch_sends_them(dtype):
    # Integer-valued inputs and ReLU zeros: many tied maxima; PyTorch picks the first one.
    rng = np.random.default_rng(30)
    for trial in range(100):
        shape, pool, strides, padding = random_config(rng)
        if trial % 2:
            x = rng.integers(-1, 2, size=shape).astype(dtype)
        else:
            x = np.maximum(rng.standard_normal(shape), 0).astype(dtype)
        compare("max", dtype, x, pool, strides, padding, rng)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_pool_windows_of_minus_inf_send_their_gradient_to_a_real_pixel(dtype):
    # A window whose real pixels are all -inf (a mask) ties with its padding; torch's own
    # padding gives it to the window's first real pixel, never to a padded cell (where it
    # was lost: all -inf, pool 3, stride 1, "same" on 2x2 gave dx.sum() == 1, not 4).
    # Configurations whose "same" pads are symmetric, so torch's padding= is the reference.
    rng = np.random.default_rng(33)
    done = 0
    while done < 60:
        shape, pool, strides, _ = random_config(rng)
        pads = resolve_padding("same", shape[1:3], pool, strides)
        if any(a != b for a, b in pads):
            continue
        done += 1
        x = rng.standard_normal(shape)
        x[rng.random(shape) < (1.0 if done % 3 == 0 else 0.7)] = -np.inf
        x = x.astype(dtype)
        out, cache = max_pool2d_forward(x, pool, strides, "same")
        xt = to_torch(x)
        yt = F.max_pool2d(xt, pool, strides, padding=(pads[0][0], pads[1][0]))
        d_out = rng.standard_normal(out.shape).astype(dtype)
        yt.backward(torch.from_numpy(np.ascontiguousarray(d_out.transpose(0, 3, 1, 2))))
        msg = f"shape={shape} pool={pool} strides={strides} pads={pads}"
        np.testing.assert_array_equal(out, to_nhwc(yt), err_msg="forward " + msg)
        np.testing.assert_allclose(max_pool2d_backward(d_out, cache),
                                   xt.grad.numpy().transpose(0, 2, 3, 1),
                                   err_msg="backward " + msg, **TOL[dtype])


@pytest.mark.parametrize("memory_format", ["contiguous", "channels_last"])
def test_seed001_cnn_pools_match_torch_both_memory_formats(memory_format):
    rng = np.random.default_rng(31)
    for shape in [(4, 26, 26, 32), (4, 11, 11, 64)]:
        x = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)
        out, cache = max_pool2d_forward(x, 2)
        xt = to_torch(x)
        if memory_format == "channels_last":
            xt = xt.detach().to(memory_format=torch.channels_last).requires_grad_()
        yt = F.max_pool2d(xt, 2)
        d_out = rng.standard_normal(out.shape).astype(np.float32)
        yt.backward(torch.from_numpy(np.ascontiguousarray(d_out.transpose(0, 3, 1, 2))))
        np.testing.assert_array_equal(out, to_nhwc(yt))
        np.testing.assert_array_equal(max_pool2d_backward(d_out, cache),
                                      xt.grad.numpy().transpose(0, 2, 3, 1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_symmetric_same_average_matches_count_include_pad_false(dtype):
    # When TF "same" pads are symmetric, PyTorch's own count_include_pad=False is the reference.
    rng = np.random.default_rng(32)
    checked = 0
    for _ in range(200):
        shape, pool, strides, _ = random_config(rng)
        (top, bottom), (left, right) = resolve_padding("same", shape[1:3], pool, strides)
        if top != bottom or left != right or top > pool[0] // 2 or left > pool[1] // 2:
            continue
        x = rng.standard_normal(shape).astype(dtype)
        out, cache = avg_pool2d_forward(x, pool, strides, "same")
        xt = to_torch(x)
        yt = F.avg_pool2d(xt, pool, strides, padding=(top, left), count_include_pad=False)
        d_out = rng.standard_normal(out.shape).astype(dtype)
        yt.backward(torch.from_numpy(np.ascontiguousarray(d_out.transpose(0, 3, 1, 2))))
        np.testing.assert_allclose(out, to_nhwc(yt), **TOL[dtype])
        np.testing.assert_allclose(avg_pool2d_backward(d_out, cache),
                                   xt.grad.numpy().transpose(0, 2, 3, 1), **TOL[dtype])
        checked += 1
    assert checked >= 30


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_torch(dtype, keepdims):
    rng = np.random.default_rng(33)
    for _ in range(40):
        shape = tuple(int(v) for v in rng.integers(1, 7, size=4))
        x = rng.standard_normal(shape).astype(dtype)   # no ties (continuous values)
        for forward, backward, reduce in [
            (global_avg_pool2d_forward, global_avg_pool2d_backward, torch.mean),
            (global_max_pool2d_forward, global_max_pool2d_backward, torch.amax),
        ]:
            out, cache = forward(x, keepdims=keepdims)
            xt = to_torch(x)
            yt = reduce(xt, dim=(2, 3), keepdim=keepdims)
            d_out = rng.standard_normal(out.shape).astype(dtype)
            d_t = d_out.transpose(0, 3, 1, 2) if keepdims else d_out
            yt.backward(torch.from_numpy(np.ascontiguousarray(d_t)))
            expected = yt.detach().numpy()
            if keepdims:
                expected = expected.transpose(0, 2, 3, 1)
            np.testing.assert_allclose(out, expected, **TOL[dtype])
            np.testing.assert_allclose(backward(d_out, cache),
                                       xt.grad.numpy().transpose(0, 2, 3, 1), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_global_max_splits_the_gradient_among_ties_as_amax(dtype):
    # Keras's GlobalMaxPooling2D is ops.max: torch.amax on the torch backend, which splits
    # the gradient evenly among tied maxima (TensorFlow's reduce_max and JAX's max too)
    rng = np.random.default_rng(4)
    x = rng.integers(-2, 3, size=(3, 4, 5, 6)).astype(dtype)  # many ties
    x[0, :, :, 0] = 7.0                                       # a channel of one value
    for keepdims in (False, True):
        out, cache = global_max_pool2d_forward(x, keepdims=keepdims)
        d_out = rng.standard_normal(out.shape).astype(dtype)
        xt = to_torch(x)
        yt = torch.amax(xt, dim=(2, 3), keepdim=keepdims)
        d_t = d_out.transpose(0, 3, 1, 2) if keepdims else d_out
        yt.backward(torch.from_numpy(np.ascontiguousarray(d_t)))
        dx = global_max_pool2d_backward(d_out, cache)
        assert dx.dtype == dtype
        np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), **TOL[dtype])
    np.testing.assert_allclose(dx[0, :, :, 0], np.full((4, 5), d_out[0, 0, 0, 0] / 20),
                               rtol=1e-6)


def test_global_max_with_nan_sends_the_gradient_to_the_first_nan():
    x = np.array([[1.0, np.nan], [np.nan, 3.0]]).reshape(1, 2, 2, 1)
    out, cache = global_max_pool2d_forward(x)
    assert np.isnan(out).all()
    dx = global_max_pool2d_backward(np.full((1, 1), 2.0), cache)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 2], [0, 0]])
