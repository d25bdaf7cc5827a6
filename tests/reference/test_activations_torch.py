"""Activations against PyTorch: forward and gradient over randomized configurations."""

import numpy as np
import pytest

from npconv.layers.activation import LeakyReLU, ReLU, Softmax
from npconv.ops import activations as A

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-6, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-6)}
N_CONFIGS = 40


def configs(seed, dtype):
    """Random shapes (rank 1-4), scales and a few exact zeros (where relu's kink is)."""
    rng = np.random.default_rng(seed)
    for _ in range(N_CONFIGS):
        shape = tuple(rng.integers(1, 6, size=rng.integers(1, 5)))
        x = (rng.standard_normal(shape) * rng.choice([0.1, 1.0, 10.0, 100.0])).astype(dtype)
        x.reshape(-1)[:: max(1, x.size // 3)] = 0
        dy = rng.standard_normal(shape).astype(dtype)
        yield rng, x, dy


def torch_pair(fn, x, dy):
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = fn(xt)
    yt.backward(torch.from_numpy(dy.copy()))
    return yt.detach().numpy(), xt.grad.numpy()


def check(ours, theirs, dtype, what):
    assert ours.dtype == dtype, f"{what}: dtype {ours.dtype}, expected {dtype}"
    np.testing.assert_allclose(ours, theirs, **TOL[dtype], err_msg=what)


CASES = {
    "relu": (A.relu_forward, A.relu_backward, F.relu),
    "tanh": (A.tanh_forward, A.tanh_backward, torch.tanh),
    "sigmoid": (A.sigmoid_forward, A.sigmoid_backward, torch.sigmoid),
    "linear": (A.linear_forward, A.linear_backward, lambda t: t * 1),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_elementwise_matches_torch(name, dtype):
    fwd, bwd, tfn = CASES[name]
    for i, (_, x, dy) in enumerate(configs(10 + sorted(CASES).index(name), dtype)):
        y, cache = fwd(x)
        ty, tdx = torch_pair(tfn, x, dy)
        check(y, ty, dtype, f"{name} forward, config {i}, shape {x.shape}")
        check(bwd(dy, cache), tdx, dtype, f"{name} backward, config {i}, shape {x.shape}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_leaky_relu_matches_torch(dtype):
    for i, (rng, x, dy) in enumerate(configs(3, dtype)):
        slope = float(rng.choice([0.01, 0.2, 0.3, 0.5]))
        y, cache = A.leaky_relu_forward(x, slope)
        ty, tdx = torch_pair(lambda t, s=slope: F.leaky_relu(t, s), x, dy)
        check(y, ty, dtype, f"leaky_relu forward {i}")
        check(A.leaky_relu_backward(dy, cache), tdx, dtype, f"leaky_relu backward {i}")
        layer = LeakyReLU(negative_slope=slope)
        check(layer(x), ty, dtype, f"LeakyReLU layer {i}")
        check(layer.backward(dy), tdx, dtype, f"LeakyReLU layer backward {i}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_matches_torch(dtype):
    for i, (rng, x, dy) in enumerate(configs(4, dtype)):
        axis = int(rng.integers(-x.ndim, x.ndim))
        y, cache = A.softmax_forward(x, axis)
        ty, tdx = torch_pair(lambda t, a=axis: F.softmax(t, dim=a), x, dy)
        check(y, ty, dtype, f"softmax forward {i} axis {axis}")
        check(A.softmax_backward(dy, cache), tdx, dtype, f"softmax backward {i} axis {axis}")
        layer = Softmax(axis=axis)
        check(layer(x), ty, dtype, f"Softmax layer {i}")
        check(layer.backward(dy), tdx, dtype, f"Softmax layer backward {i}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_keras_relu_options_match_torch_composition(dtype):
    """Keras's relu(x, negative_slope, max_value, threshold) written with torch ops."""
    for i, (rng, x, dy) in enumerate(configs(5, dtype)):
        slope = float(rng.choice([0.0, 0.1, 0.3]))
        max_value = None if rng.random() < 0.3 else float(rng.choice([1.0, 6.0, 50.0]))
        threshold = float(rng.choice([0.0, 0.0, 0.5, 2.0]))
        xs = x.copy()
        kinks = [threshold] + ([] if max_value is None else [max_value])
        for k in kinks:  # torch's clamp and ours differ only exactly at these points
            xs[xs == k] += 0.25

        def reference(t, a=slope, m=max_value, th=threshold):
            top = t if m is None else torch.clamp(t, max=m)
            return torch.where(t > th, top, a * (t - th))

        layer = ReLU(max_value=max_value, negative_slope=slope, threshold=threshold)
        ty, tdx = torch_pair(reference, xs, dy)
        check(layer(xs), ty, dtype, f"ReLU layer {i} ({slope}, {max_value}, {threshold})")
        check(layer.backward(dy), tdx, dtype, f"ReLU layer backward {i}")


def test_sigmoid_extremes_match_torch():
    x = np.array([-1e4, -100.0, -20.0, 20.0, 100.0, 1e4], dtype=np.float32)
    np.testing.assert_allclose(A.sigmoid(x), torch.sigmoid(torch.from_numpy(x)).numpy(),
                               rtol=1e-6, atol=1e-30)


def _axes_configs(seed, dtype):
    """Inputs of rank 2-4 with a random set of axes (Keras 3's softmax over several axes)."""
    for rng, x, dy in configs(seed, dtype):
        if x.ndim < 2:
            continue
        k = int(rng.integers(1, x.ndim + 1))
        axes = tuple(int(a) for a in rng.choice(x.ndim, size=k, replace=False))
        axes = tuple(a - x.ndim if rng.random() < 0.3 else a for a in axes)
        yield rng, x, dy, axes


def _torch_over_axes(fn, axes):
    """torch's softmax/log_softmax over several dims: those moved last and flattened."""
    def apply(t):
        dims = [a % t.ndim for a in axes]
        keep = [d for d in range(t.ndim) if d not in dims]
        moved = t.permute(*keep, *dims)
        out = fn(moved.reshape(*moved.shape[:len(keep)], -1), -1).reshape(moved.shape)
        return out.permute(*np.argsort(keep + dims).tolist())
    return apply


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_and_log_softmax_over_several_axes_match_torch(dtype):
    """Keras 3's ``softmax(x, axis=(1, 2))`` and ``Softmax(axis=[1, 2])``: one distribution
    over the named axes together (npconv refused a tuple with a TypeError from a
    comparison, and the layer refused a list)."""
    for i, (_, x, dy, axes) in enumerate(_axes_configs(6, dtype)):
        what = f"config {i}, shape {x.shape}, axes {axes}"
        for fwd, bwd, tfn in ((A.softmax_forward, A.softmax_backward, F.softmax),
                              (A.log_softmax_forward, A.log_softmax_backward, F.log_softmax)):
            y, cache = fwd(x, axes)
            ty, tdx = torch_pair(_torch_over_axes(tfn, axes), x, dy)
            check(y, ty, dtype, f"{fwd.__name__} {what}")
            check(bwd(dy, cache), tdx, dtype, f"{bwd.__name__} {what}")
        ty, tdx = torch_pair(_torch_over_axes(F.softmax, axes), x, dy)
        layer = Softmax(axis=list(axes))
        check(layer(x), ty, dtype, f"Softmax layer {what}")
        check(layer.backward(dy), tdx, dtype, f"Softmax layer backward {what}")
        if x.ndim == 4:  # channels_first: the axes are the caller's (NCHW) ones
            layer = Softmax(axis=list(axes), data_format="channels_first")
            check(layer(x), ty, dtype, f"Softmax channels_first {what}")
            check(layer.backward(dy), tdx, dtype, f"Softmax channels_first backward {what}")
