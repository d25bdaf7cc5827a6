"""resize_forward/backward (Keras's Resizing) against PyTorch 2.13's F.interpolate(size=...):
bilinear = mode="bilinear", align_corners=False (antialias False and True), Keras's half-pixel
nearest = mode="nearest-exact"; forward and input gradients over random sizes, both dtypes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.layers import Resizing  # noqa: E402
from npconv.ops.resize import resize_backward, resize_forward  # noqa: E402

TOL = {np.float64: dict(rtol=1e-6, atol=1e-9), np.float32: dict(rtol=1e-4, atol=1e-5)}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _torch(x, size, mode, antialias, d_out):
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_()
    if mode == "nearest":
        yt = F.interpolate(xt, size=size, mode="nearest-exact")
    else:
        yt = F.interpolate(xt, size=size, mode="bilinear", align_corners=False,
                           antialias=antialias)
    yt.backward(torch.from_numpy(np.ascontiguousarray(d_out.transpose(0, 3, 1, 2))))
    return yt.detach().numpy().transpose(0, 2, 3, 1), xt.grad.numpy().transpose(0, 2, 3, 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode,antialias", [("bilinear", False), ("bilinear", True),
                                            ("nearest", False)])
def test_random_sizes_match_torch(mode, antialias, dtype):
    rng = np.random.default_rng(70 + 2 * antialias + (mode == "nearest") * 5
                                + (dtype == np.float32))
    for _ in range(150):
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 14)), int(rng.integers(1, 14)),
                 int(rng.integers(1, 4)))
        # torch 2.13's antialias path repeats the first row when the output width is 1
        # (checked by hand: rows resized independently must differ); npconv's does not
        size = (int(rng.integers(1, 14)), int(rng.integers(2 if antialias else 1, 14)))
        x = rng.standard_normal(shape).astype(dtype)
        out, cache = resize_forward(x, size, mode, antialias)
        d_out = rng.standard_normal(out.shape).astype(dtype)
        dx = resize_backward(d_out, cache)
        ref_out, ref_dx = _torch(x, size, mode, antialias, d_out)
        msg = f"{mode} antialias={antialias} {np.dtype(dtype).name} shape={shape} size={size}"
        assert out.dtype == dx.dtype == dtype and out.shape == ref_out.shape, msg
        np.testing.assert_allclose(out, ref_out, err_msg="forward " + msg, **TOL[dtype])
        np.testing.assert_allclose(dx, ref_dx, err_msg="backward " + msg, **TOL[dtype])


def test_keras_nearest_is_not_torch_nearest():
    x = np.arange(3.0).reshape(1, 1, 3, 1)
    out, _ = resize_forward(x, (1, 2), "nearest")
    np.testing.assert_array_equal(out.ravel(), [0, 2])      # floor((o + 0.5) * 3 / 2)
    t = F.interpolate(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), size=(1, 2),
                      mode="nearest")
    np.testing.assert_array_equal(t.numpy().ravel(), [0, 1])  # floor(o * 3 / 2)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_channels_first_layer_matches_torch(interpolation):
    rng = np.random.default_rng(80)
    x = rng.standard_normal((2, 3, 9, 7))                    # NCHW
    layer = Resizing(4, 11, interpolation=interpolation, data_format="channels_first")
    y = layer(x)
    d = rng.standard_normal(y.shape)
    dx = layer.backward(d)
    ref_y, ref_dx = _torch(x.transpose(0, 2, 3, 1), (4, 11), interpolation, False,
                           d.transpose(0, 2, 3, 1))
    np.testing.assert_allclose(y, ref_y.transpose(0, 3, 1, 2), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dx, ref_dx.transpose(0, 3, 1, 2), rtol=1e-6, atol=1e-9)


def test_normalization_matches_torch_standardization():
    from npconv.layers import Normalization

    rng = np.random.default_rng(81)
    x = rng.standard_normal((16, 5, 4, 3)) * 3 + 2
    layer = Normalization(axis=-1, dtype="float64")
    layer.adapt(x)
    xt = torch.from_numpy(x).requires_grad_()
    var, mean = torch.var_mean(xt.detach(), dim=(0, 1, 2), unbiased=False)
    yt = (xt - mean) / torch.sqrt(var)
    d = rng.standard_normal(x.shape)
    yt.backward(torch.from_numpy(d))
    np.testing.assert_allclose(layer(x), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.backward(d), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
