"""The 3-D pooling and reshaping ops (npconv.ops.pool3d, npconv.ops.reshape3d):

- float64 central finite differences of every backward;
- torch 2.13 parity (@pytest.mark.torch) over seeded randomized configurations: F.max_pool3d
  (Keras's "same" as explicit -inf pads, odd voxel at the end), F.avg_pool3d (a sum pool over
  explicit zero pads divided by the real-voxel count; count_include_pad=False where the pads
  are symmetric), adaptive pools / torch.amax, F.interpolate(mode="nearest"), F.pad; forward
  and input gradient;
- the max-pool tie rule (first maximum in (depth, height, width) order, as torch) and the
  all -inf window next to padding;
- op argument errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from npconv.ops import pool3d as P
from npconv.ops import reshape3d as R
from npconv.ops.padding import same_pads
from tests.finite_differences import central_differences

WINDOW_OPS = [(P.max_pool3d_forward, P.max_pool3d_backward),
              (P.avg_pool3d_forward, P.avg_pool3d_backward)]


def _fd_check(forward, backward, x, seed=0):
    """Compare backward(g) with the finite differences of sum(forward(x) * g)."""
    out, cache = forward(x)
    g = np.random.default_rng(seed).standard_normal(np.shape(out))
    numeric = central_differences(lambda: float(np.sum(forward(x)[0] * g)), x)
    np.testing.assert_allclose(backward(g, cache), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fwd,bwd", WINDOW_OPS)
@pytest.mark.parametrize("pool,strides,padding", [
    ((2, 2, 2), None, "valid"), ((3, 2, 1), (1, 2, 3), "same"), ((2, 3, 2), (2, 1, 1), "same"),
    (2, 1, "valid")])
def test_window_pool_backward_matches_finite_differences(fwd, bwd, pool, strides, padding):
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 3, 2))  # distinct: no ties
    _fd_check(lambda a: fwd(a, pool, strides, padding), bwd, x)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("fwd,bwd", [(P.global_avg_pool3d_forward, P.global_avg_pool3d_backward),
                                     (P.global_max_pool3d_forward, P.global_max_pool3d_backward)])
def test_global_pool_backward_matches_finite_differences(fwd, bwd, keepdims):
    x = np.random.default_rng(2).standard_normal((2, 3, 2, 4, 3))
    _fd_check(lambda a: fwd(a, keepdims), bwd, x)


@pytest.mark.parametrize("forward,backward", [
    (lambda a: R.zero_pad3d_forward(a, ((0, 1), (2, 0), (1, 1))), R.zero_pad3d_backward),
    (lambda a: R.crop3d_forward(a, ((1, 0), (0, 2), (1, 1))), R.crop3d_backward),
    (lambda a: R.upsampling3d_forward(a, (2, 1, 3)), R.upsampling3d_backward)])
def test_reshape_backward_matches_finite_differences(forward, backward):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 3, 2))
    _fd_check(forward, backward, x)


def test_max_pool_ties_go_to_the_first_voxel_in_depth_height_width_order():
    x = np.zeros((1, 2, 2, 2, 1))
    out, cache = P.max_pool3d_forward(x, 2)
    dx = P.max_pool3d_backward(np.ones_like(out), cache)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 0, 0] = 1
    np.testing.assert_array_equal(dx, expected)
    # the two maxima tie at (d=1, h=0, w=0) and (d=0, h=1, w=1): depth first wins the latter
    x = np.zeros((1, 2, 2, 2, 1))
    x[0, 1, 0, 0, 0] = x[0, 0, 1, 1, 0] = 5
    out, cache = P.max_pool3d_forward(x, 2)
    dx = P.max_pool3d_backward(np.ones_like(out), cache)
    assert dx[0, 0, 1, 1, 0] == 1 and dx.sum() == 1


def test_an_all_minus_inf_window_next_to_padding_gives_its_gradient_to_a_real_voxel():
    x = np.full((1, 3, 3, 3, 1), -np.inf)
    out, cache = P.max_pool3d_forward(x, 2, 2, "same")   # pads (0, 1) on each axis
    dx = P.max_pool3d_backward(np.ones_like(out), cache)
    assert dx.sum() == out.size                           # no gradient lost in the padding
    assert dx[0, 2, 2, 2, 0] == 1                         # the corner window's only real voxel


def test_dtypes_are_kept_and_integers_pool_as_float32():
    for dtype in (np.float32, np.float64):
        x = np.ones((1, 2, 2, 2, 1), dtype)
        for fwd, _ in WINDOW_OPS:
            assert fwd(x, 2)[0].dtype == dtype
    assert P.max_pool3d_forward(np.ones((1, 2, 2, 2, 1), np.int64), 2)[0].dtype == np.float32
    assert R.zero_pad3d_forward(np.ones((1, 1, 1, 1, 1), np.int32), 1)[0].dtype == np.int32
    assert R.crop3d_forward(np.ones((1, 3, 3, 3, 1), np.int32), 1)[0].dtype == np.int32


def test_global_pools_of_an_empty_batch_or_no_channels():
    # torch.amax/mean over (D, H, W) of an empty batch is (0, C); the 2-D global pools agree
    for fwd, bwd in ((P.global_max_pool3d_forward, P.global_max_pool3d_backward),
                     (P.global_avg_pool3d_forward, P.global_avg_pool3d_backward)):
        for shape in ((0, 2, 3, 4, 3), (2, 2, 3, 4, 0)):
            out, cache = fwd(np.zeros(shape))
            assert out.shape == (shape[0], shape[4])
            assert bwd(np.zeros(out.shape), cache).shape == shape


@pytest.mark.parametrize("call,message", [
    (lambda: P.max_pool3d_forward(np.ones((1, 4, 4, 1)), 2), r"max_pool3d_forward: expected a "
     r"5-D input \(batch, depth, height, width, channels\)"),
    (lambda: P.avg_pool3d_forward(np.ones((1, 4, 4, 4, 1)), (2, 2)), "pool_size to be an int "
     "or a tuple of 3 ints"),
    (lambda: P.avg_pool3d_forward(np.ones((1, 4, 4, 4, 1)), 2, 0), "strides to be >= 1"),
    (lambda: P.max_pool3d_forward(np.ones((1, 1, 4, 4, 1)), 2), "larger than the"),
    (lambda: P.max_pool3d_forward(np.ones((1, 4, 4, 4, 1)), 2, padding="full"), "padding"),
    (lambda: R.crop3d_forward(np.ones((1, 2, 4, 4, 1)), ((1, 1), (0, 0), (0, 0))),
     "crop3d_forward: expected a cropping smaller"),
    (lambda: R.zero_pad3d_forward(np.ones((1, 2, 4, 4, 1)), (1, 2)), "zero_pad3d_forward: "
     "expected padding to be an int, a tuple of 3 ints or 3 pairs"),
    (lambda: R.zero_pad3d_forward(np.ones((1, 2, 4, 4, 1)), -1), "padding to be >= 0"),
    (lambda: R.upsampling3d_forward(np.ones((1, 2, 4, 4, 1)), 0), "size to be >= 1"),
])
def test_op_argument_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_backward_refuses_a_d_out_of_the_wrong_shape():
    out, cache = P.max_pool3d_forward(np.ones((1, 4, 4, 4, 1)), 2)
    with pytest.raises(ValueError, match=r"max_pool3d_backward: expected d_out of shape "
                                         r"\(1, 2, 2, 2, 1\)"):
        P.max_pool3d_backward(np.ones((1, 2, 2, 1)), cache)


# ---------------------------------------------------------------------------- torch
@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def _ncdhw(torch, a):
    return torch.tensor(np.ascontiguousarray(a.transpose(0, 4, 1, 2, 3)), requires_grad=True)


def _ndhwc(t):
    return t.detach().numpy().transpose(0, 2, 3, 4, 1)


def _random_config(rng):
    shape = (int(rng.integers(1, 3)), *(int(v) for v in rng.integers(1, 7, 3)),
             int(rng.integers(1, 4)))
    padding = str(rng.choice(["valid", "same"]))
    for _ in range(100):
        pool = tuple(int(v) for v in rng.integers(1, 4, 3))
        strides = tuple(int(v) for v in rng.integers(1, 4, 3))
        if padding == "same" or all(k <= n for k, n in zip(pool, shape[1:4], strict=True)):
            return shape, pool, strides, padding
    return shape, (1, 1, 1), (1, 1, 1), padding


def _torch_pads(shape, pool, strides, padding):
    if padding == "valid":
        return ((0, 0),) * 3
    return tuple(same_pads(n, k, s) for n, k, s in zip(shape[1:4], pool, strides, strict=True))


def _flat(pads):  # F.pad's order: last axis first
    return [v for pair in reversed(pads) for v in pair]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_window_pools_match_torch_over_random_configurations(torch, dtype):
    F = torch.nn.functional
    rng = np.random.default_rng(11)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for trial in range(50):
        shape, pool, strides, padding = _random_config(rng)
        pads = _torch_pads(shape, pool, strides, padding)
        what = f"trial {trial}: {shape} pool={pool} strides={strides} padding={padding}"
        # max: ties drawn from few values so the tie rule is exercised
        x = rng.integers(-3, 4, shape).astype(dtype) if trial % 2 else \
            rng.standard_normal(shape).astype(dtype)
        out, cache = P.max_pool3d_forward(x, pool, strides, padding)
        t = _ncdhw(torch, x)
        ref = F.max_pool3d(F.pad(t, _flat(pads), value=-np.inf), pool, strides)
        g = rng.standard_normal(out.shape).astype(dtype)
        ref.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 4, 1, 2, 3))))
        np.testing.assert_array_equal(out, _ndhwc(ref), err_msg=what)
        np.testing.assert_allclose(P.max_pool3d_backward(g, cache), _ndhwc(t.grad), rtol=tol,
                                   atol=tol, err_msg=what)
        # average, real voxels only
        out, cache = P.avg_pool3d_forward(x, pool, strides, padding)
        t = _ncdhw(torch, x)
        ones = torch.ones_like(t)
        total = F.avg_pool3d(F.pad(t, _flat(pads)), pool, strides, divisor_override=1)
        count = F.avg_pool3d(F.pad(ones, _flat(pads)), pool, strides, divisor_override=1)
        ref = total / count
        ref.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 4, 1, 2, 3))))
        np.testing.assert_allclose(out, _ndhwc(ref), rtol=tol, atol=tol, err_msg=what)
        np.testing.assert_allclose(P.avg_pool3d_backward(g, cache), _ndhwc(t.grad), rtol=tol,
                                   atol=tol, err_msg=what)
        symmetric = all(a == b and a <= k // 2 and k <= n
                        for (a, b), k, n in zip(pads, pool, shape[1:4], strict=True))
        if symmetric:  # torch's own padding, count_include_pad=False
            direct = F.avg_pool3d(_ncdhw(torch, x), pool, strides, padding=[a for a, _ in pads],
                                  count_include_pad=False)
            np.testing.assert_allclose(out, _ndhwc(direct), rtol=tol, atol=tol, err_msg=what)


@pytest.mark.torch
def test_global_pools_match_torch_over_random_shapes(torch):
    F = torch.nn.functional
    rng = np.random.default_rng(12)
    for trial in range(50):
        shape = (int(rng.integers(1, 3)), *(int(v) for v in rng.integers(1, 6, 3)),
                 int(rng.integers(1, 4)))
        keepdims = bool(trial % 2)
        x = rng.integers(-2, 3, shape).astype(np.float64) if trial % 3 == 0 else \
            rng.standard_normal(shape)
        g = rng.standard_normal((shape[0], shape[4]))
        gk = g.reshape(shape[0], 1, 1, 1, shape[4]) if keepdims else g
        out, cache = P.global_avg_pool3d_forward(x, keepdims)
        t = _ncdhw(torch, x)
        ref = F.adaptive_avg_pool3d(t, 1)
        ref.backward(torch.tensor(g)[:, :, None, None, None])
        np.testing.assert_allclose(out.reshape(g.shape), ref.detach().numpy().reshape(g.shape),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(P.global_avg_pool3d_backward(gk, cache), _ndhwc(t.grad),
                                   rtol=1e-12, atol=1e-12)
        out, cache = P.global_max_pool3d_forward(x, keepdims)
        t = _ncdhw(torch, x)
        ref = torch.amax(t, dim=(2, 3, 4))   # Keras's ops.max: ties share the gradient
        ref.backward(torch.tensor(g))
        np.testing.assert_array_equal(out.reshape(g.shape), ref.detach().numpy())
        np.testing.assert_allclose(P.global_max_pool3d_backward(gk, cache), _ndhwc(t.grad),
                                   rtol=1e-12, atol=1e-12)
        if trial % 3:  # no ties: torch's adaptive max pool agrees too
            np.testing.assert_array_equal(
                out.reshape(g.shape),
                F.adaptive_max_pool3d(_ncdhw(torch, x), 1).detach().numpy().reshape(g.shape))


@pytest.mark.torch
def test_reshaping_ops_match_torch_over_random_configurations(torch):
    F = torch.nn.functional
    rng = np.random.default_rng(13)
    for trial in range(50):
        shape = (int(rng.integers(1, 3)), *(int(v) for v in rng.integers(1, 6, 3)),
                 int(rng.integers(1, 4)))
        x = rng.standard_normal(shape)
        what = f"trial {trial}: {shape}"
        pads = tuple(tuple(int(v) for v in rng.integers(0, 3, 2)) for _ in range(3))
        y, cache = R.zero_pad3d_forward(x, pads)
        t = _ncdhw(torch, x)
        ref = F.pad(t, _flat(pads))
        g = rng.standard_normal(y.shape)
        ref.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 4, 1, 2, 3))))
        np.testing.assert_array_equal(y, _ndhwc(ref), err_msg=what)
        np.testing.assert_array_equal(R.zero_pad3d_backward(g, cache), _ndhwc(t.grad))
        crops = tuple((int(a), int(b)) for a, b in
                      (rng.integers(0, n, 2) * (rng.random() < 0.8) for n in shape[1:4]))
        crops = tuple((a, b) if a + b < n else (0, 0)
                      for (a, b), n in zip(crops, shape[1:4], strict=True))
        y, cache = R.crop3d_forward(x, crops)
        t = _ncdhw(torch, x)
        ref = F.pad(t, [-v for v in _flat(crops)])   # negative pads crop
        g = rng.standard_normal(y.shape)
        ref.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 4, 1, 2, 3))))
        np.testing.assert_array_equal(y, _ndhwc(ref), err_msg=what)
        np.testing.assert_array_equal(R.crop3d_backward(g, cache), _ndhwc(t.grad))
        size = tuple(int(v) for v in rng.integers(1, 4, 3))
        y, cache = R.upsampling3d_forward(x, size)
        t = _ncdhw(torch, x)
        ref = F.interpolate(t, scale_factor=size, mode="nearest")
        g = rng.standard_normal(y.shape)
        ref.backward(torch.tensor(np.ascontiguousarray(g.transpose(0, 4, 1, 2, 3))))
        np.testing.assert_array_equal(y, _ndhwc(ref), err_msg=what)
        np.testing.assert_allclose(R.upsampling3d_backward(g, cache), _ndhwc(t.grad),
                                   rtol=1e-12, atol=1e-12)
