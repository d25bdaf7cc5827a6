"""UpSampling2D against PyTorch 2.13: ``F.interpolate(scale_factor=size, mode="nearest")`` and
``mode="bilinear", align_corners=False`` (Keras's half-pixel bilinear), forward and input
gradients, the op over random configurations in both dtypes and the layer in both data formats.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.layers import UpSampling2D  # noqa: E402
from npconv.ops.resize import upsampling2d_backward, upsampling2d_forward  # noqa: E402

TOL = {np.float64: dict(rtol=1e-6, atol=1e-9), np.float32: dict(rtol=1e-4, atol=1e-5)}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_upsample(xt, size, mode):
    extra = {"align_corners": False} if mode == "bilinear" else {}
    return F.interpolate(xt, scale_factor=size, mode=mode, **extra)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_random_configs_match_torch(mode, dtype):
    rng = np.random.default_rng({"nearest": 40, "bilinear": 50}[mode] + (dtype == np.float32))
    for _ in range(120):
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 9)), int(rng.integers(1, 9)),
                 int(rng.integers(1, 5)))
        size = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        x = rng.standard_normal(shape).astype(dtype)
        out, cache = upsampling2d_forward(x, size, mode)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_()
        yt = torch_upsample(xt, size, mode)
        d_out = rng.standard_normal(out.shape).astype(dtype)
        yt.backward(torch.from_numpy(np.ascontiguousarray(d_out.transpose(0, 3, 1, 2))))
        dx = upsampling2d_backward(d_out, cache)
        msg = f"{mode} {np.dtype(dtype).name} shape={shape} size={size}"
        assert out.dtype == dx.dtype == dtype, msg
        np.testing.assert_allclose(out, yt.detach().numpy().transpose(0, 2, 3, 1),
                                   err_msg="forward " + msg, **TOL[dtype])
        np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1),
                                   err_msg="backward " + msg, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_channels_first_layer_matches_torch(mode, dtype):
    rng = np.random.default_rng(60)
    for _ in range(20):
        shape = tuple(int(v) for v in rng.integers(1, 6, size=4))   # NCHW
        size = tuple(int(v) for v in rng.integers(1, 4, size=2))
        x = rng.standard_normal(shape).astype(dtype)
        layer = UpSampling2D(size, data_format="channels_first", interpolation=mode)
        y = layer(x)
        xt = torch.from_numpy(x.copy()).requires_grad_()
        yt = torch_upsample(xt, size, mode)
        d = rng.standard_normal(y.shape).astype(dtype)
        yt.backward(torch.from_numpy(d))
        assert y.dtype == dtype
        np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
        np.testing.assert_allclose(layer.backward(d), xt.grad.numpy(), **TOL[dtype])


def test_seed001_sized_feature_maps_match_torch():
    # a decoder-sized case: (8, 7, 7, 64) doubled, float32, both modes
    rng = np.random.default_rng(61)
    x = rng.standard_normal((8, 7, 7, 64)).astype(np.float32)
    for mode in ("nearest", "bilinear"):
        out, cache = upsampling2d_forward(x, 2, mode)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_()
        yt = torch_upsample(xt, (2, 2), mode)
        d = rng.standard_normal(out.shape).astype(np.float32)
        yt.backward(torch.from_numpy(np.ascontiguousarray(d.transpose(0, 3, 1, 2))))
        np.testing.assert_allclose(out, yt.detach().numpy().transpose(0, 2, 3, 1),
                                   **TOL[np.float32])
        np.testing.assert_allclose(upsampling2d_backward(d, cache),
                                   xt.grad.numpy().transpose(0, 2, 3, 1), **TOL[np.float32])
