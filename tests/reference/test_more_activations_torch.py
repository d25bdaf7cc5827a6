"""Keras 3's further activations against torch.nn.functional: forward and gradient over
randomized shapes, scales and the kinks, in float64 and float32."""

import zlib

import numpy as np
import pytest

from npconv.ops import activations as A

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-6, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-6)}
N_CONFIGS = 30

# name -> (npconv forward, npconv backward, torch function)
CASES = {
    "elu": (A.elu_forward, A.elu_backward, F.elu),
    "elu_alpha": (lambda x: A.elu_forward(x, alpha=0.4), A.elu_backward,
                  lambda t: F.elu(t, alpha=0.4)),
    "selu": (A.selu_forward, A.selu_backward, F.selu),
    "gelu": (A.gelu_forward, A.gelu_backward, F.gelu),
    "gelu_tanh": (lambda x: A.gelu_forward(x, approximate=True), A.gelu_backward,
                  lambda t: F.gelu(t, approximate="tanh")),
    "silu": (A.silu_forward, A.silu_backward, F.silu),
    "softplus": (A.softplus_forward, A.softplus_backward, F.softplus),
    "softsign": (A.softsign_forward, A.softsign_backward, F.softsign),
    "hard_sigmoid": (A.hard_sigmoid_forward, A.hard_sigmoid_backward, F.hardsigmoid),
    "hard_silu": (A.hard_silu_forward, A.hard_silu_backward, F.hardswish),
    "exponential": (A.exponential_forward, A.exponential_backward, torch.exp),
    "relu6": (A.relu6_forward, A.relu6_backward, F.relu6),
    "mish": (A.mish_forward, A.mish_backward, F.mish),
    "log_softmax": (A.log_softmax_forward, A.log_softmax_backward,
                    lambda t: F.log_softmax(t, dim=-1)),
    "log_softmax_axis0": (lambda x: A.log_softmax_forward(x, axis=0), A.log_softmax_backward,
                          lambda t: F.log_softmax(t, dim=0)),
}
KINKS = [0.0, -3.0, 3.0, 6.0]


def configs(seed, dtype, name):
    """Random shapes (rank 1-4), scales up to 30, and exact kink values mixed in."""
    rng = np.random.default_rng(seed)
    scales = [0.1, 1.0, 3.0] if name == "exponential" else [0.1, 1.0, 4.0, 30.0]
    for _ in range(N_CONFIGS):
        shape = tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(1, 5)))
        x = (rng.standard_normal(shape) * rng.choice(scales)).astype(dtype)
        flat = x.reshape(-1)
        flat[:: max(1, x.size // 4)] = rng.choice(KINKS)
        dy = rng.standard_normal(shape).astype(dtype)
        yield x, dy


def torch_pair(fn, x, dy):
    """torch's values and gradient in float64 for the same inputs (float32 included: torch's
    float32 tanh-GELU gradient is 0 from x ~ -5 where 1 - tanh**2 rounds to 0, while the true
    value, and npconv's, is still -1e-6)."""
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    yt = fn(xt)
    yt.backward(torch.from_numpy(dy.astype(np.float64)))
    return yt.detach().numpy(), xt.grad.numpy()


def torch_pair_same_dtype(fn, x, dy):
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = fn(xt)
    yt.backward(torch.from_numpy(dy.copy()))
    return yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_and_gradient_match_torch(name, dtype):
    fwd, bwd, tfn = CASES[name]
    for x, dy in configs(zlib.crc32(name.encode()), dtype, name):
        y, cache = fwd(x)
        dx = bwd(dy, cache)
        y_t, dx_t = torch_pair(tfn, x, dy)
        assert y.dtype == dtype and dx.dtype == dtype
        np.testing.assert_allclose(y, y_t, **TOL[dtype], err_msg=f"{name} forward")
        np.testing.assert_allclose(dx, dx_t, **TOL[dtype], err_msg=f"{name} gradient")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tails_match_torch(dtype):
    # far tails: softplus(x) = x, gelu's x * Phi(x) for very negative x, mish, selu saturation
    x = np.array([-80.0, -40.0, -12.0, -6.0, 6.0, 12.0, 25.0, 40.0, 80.0], dtype=dtype)
    dy = np.ones_like(x)
    for name in ["softplus", "gelu", "gelu_tanh", "mish", "silu", "selu", "elu", "softsign"]:
        fwd, bwd, tfn = CASES[name]
        y, cache = fwd(x)
        y_t, dx_t = torch_pair(tfn, x, dy)
        np.testing.assert_allclose(y, y_t, **TOL[dtype], err_msg=name)
        np.testing.assert_allclose(bwd(dy, cache), dx_t, **TOL[dtype], err_msg=name)


@pytest.mark.parametrize("name", sorted(set(CASES) - {"gelu_tanh"}))
def test_float32_matches_torch_float32(name):
    fwd, bwd, tfn = CASES[name]
    for x, dy in configs(zlib.crc32(name.encode()) + 1, np.float32, name):
        y, cache = fwd(x)
        y_t, dx_t = torch_pair_same_dtype(tfn, x, dy)
        np.testing.assert_allclose(y, y_t, **TOL[np.float32], err_msg=f"{name} forward")
        np.testing.assert_allclose(bwd(dy, cache), dx_t, **TOL[np.float32],
                                   err_msg=f"{name} gradient")
