"""affine_transform against PyTorch 2.13's ``F.grid_sample``, forward and input gradients, over
random transforms in both dtypes.

Keras's coordinates are pixel indices (pixel centres at integers); grid_sample's are
normalised. The fill modes that grid_sample has, and how they line up:

- ``"constant"`` with fill_value 0 = ``padding_mode="zeros"`` (a corner outside reads 0);
- ``"nearest"`` = ``padding_mode="border"``;
- ``"reflect"`` (``d c b a | a b c d``, about the image's edges) =
  ``padding_mode="reflection", align_corners=False``: x_norm = (2 x + 1) / W - 1;
- ``"mirror"`` (``c b | a b c d``, about the edge pixels' centres) =
  ``padding_mode="reflection", align_corners=True``: x_norm = 2 x / (W - 1) - 1.

torch has no "wrap" and no other fill value (the naive loop checks those).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.ops.affine import (  # noqa: E402
    affine_transform_backward,
    affine_transform_forward,
    source_coordinates,
)
from tests.ops.test_affine import random_transforms  # noqa: E402

TOL = {np.float64: dict(rtol=1e-9, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-4)}
PADDING = {"constant": ("zeros", False), "nearest": ("border", False),
           "reflect": ("reflection", False), "mirror": ("reflection", True)}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_grid(t, h, w, align_corners):
    x_in, y_in = source_coordinates(t, h, w)
    if align_corners:
        gx, gy = 2 * x_in / max(w - 1, 1) - 1, 2 * y_in / max(h - 1, 1) - 1
    else:
        gx, gy = (2 * x_in + 1) / w - 1, (2 * y_in + 1) / h - 1
    return np.stack([gx, gy], axis=-1)   # (n, h, w, 2): x first, as grid_sample reads it


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fill_mode", sorted(PADDING))
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_random_transforms_match_grid_sample(interpolation, fill_mode, dtype):
    rng = np.random.default_rng(len(fill_mode) * 10 + len(interpolation)
                                + (dtype == np.float32))
    padding, align = PADDING[fill_mode]
    for _ in range(25):
        # mirror with align_corners=True needs 2 pixels an axis (torch divides by W - 1)
        low = 2 if fill_mode == "mirror" else 1
        shape = (int(rng.integers(1, 4)), int(rng.integers(low, 10)),
                 int(rng.integers(low, 10)), int(rng.integers(1, 4)))
        n, h, w, c = shape
        x = rng.standard_normal(shape).astype(dtype)
        t = random_transforms(rng, n, h, w, projective=True)
        out, cache = affine_transform_forward(x, t, interpolation, fill_mode, 0.0)
        xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).requires_grad_()
        grid = torch.from_numpy(torch_grid(t, h, w, align).astype(dtype))
        yt = F.grid_sample(xt, grid, mode=interpolation, padding_mode=padding,
                           align_corners=align)
        d_out = rng.standard_normal(out.shape).astype(dtype)
        yt.backward(torch.from_numpy(np.ascontiguousarray(d_out.transpose(0, 3, 1, 2))))
        dx = affine_transform_backward(d_out, cache)
        msg = f"{interpolation} {fill_mode} {np.dtype(dtype).name} shape={shape}"
        np.testing.assert_allclose(out, yt.detach().numpy().transpose(0, 2, 3, 1),
                                   **TOL[dtype], err_msg=msg)
        np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 3, 1), **TOL[dtype],
                                   err_msg=msg)
