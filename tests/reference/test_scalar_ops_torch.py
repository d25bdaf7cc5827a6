"""The layers of symbolic-tensor arithmetic against PyTorch 2.13 autograd: ``abs(x)``
(torch.abs), ``c ** x`` (torch.pow(c, x)), ``x // c`` and ``c // x`` (torch.div with
rounding_mode="floor"), ``x % c`` and ``c % x`` (torch.remainder), forward and gradient over
random shapes and constants, in both dtypes."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from npconv.layers import Absolute, FloorDivide, Mod, Power  # noqa: E402

TOL = {np.float64: dict(rtol=1e-6, atol=1e-9), np.float32: dict(rtol=1e-4, atol=1e-5)}


def _cases(seed, dtype, count=20):
    """Random shapes of standard-normal values with some exact zeros of both signs."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        shape = tuple(int(v) for v in rng.integers(1, 5, size=int(rng.integers(2, 5))))
        x = rng.standard_normal(shape).astype(dtype)
        flat = x.reshape(-1)
        flat[rng.random(flat.size) < 0.2] = 0.0
        flat[rng.random(flat.size) < 0.1] = -0.0
        yield rng, x


def _against_torch(layer, torch_fn, x, rng, dtype):
    with np.errstate(all="ignore"):  # (0 ** x of x < 0 is inf, (-2) ** 0.5 nan: as torch)
        y = layer(x)
    t = torch.from_numpy(x.copy()).requires_grad_()
    yt = torch_fn(t)
    d = rng.standard_normal(y.shape).astype(dtype)
    yt.backward(torch.from_numpy(d))
    assert y.dtype == dtype
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    with np.errstate(all="ignore"):  # (c % x's gradient -(c // x) at x = 0: inf, as torch)
        dx = layer.backward(d)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx, t.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_absolute_matches_torch(dtype):
    for rng, x in _cases(80 + (dtype == np.float32), dtype):
        _against_torch(Absolute(), torch.abs, x, rng, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_number_to_the_power_x_matches_torch(dtype):
    """torch's gradient of c ** x is c ** x * ln(c): NaN for c < 0, and for c = 0 it is 0
    where x >= 0 (and -inf where x < 0)."""
    for rng, x in _cases(82 + (dtype == np.float32), dtype):
        for base in (float(rng.uniform(0.1, 3.0)), 2, 1, 0.0, -2.0):
            _against_torch(Power(base=base), lambda t, c=base: torch.pow(c, t), x, rng, dtype)


def _floors_and_remainders(c):
    """(npconv layer, torch function) of x // c, x % c, c // x, c % x (c as a tensor in the
    last two: torch has no gradient for a number's remainder)."""
    def full(t):
        return torch.full_like(t, c)

    return [(FloorDivide(c), lambda t: torch.div(t, c, rounding_mode="floor")),
            (Mod(c), lambda t: torch.remainder(t, c)),
            (FloorDivide(c, reflected=True),
             lambda t: torch.div(full(t), t, rounding_mode="floor")),
            (Mod(c, reflected=True), lambda t: torch.remainder(full(t), t))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_floor_division_and_remainder_match_torch(dtype):
    for rng, x in _cases(84 + (dtype == np.float32), dtype):
        c = float(rng.choice([-1, 1]) * rng.uniform(0.3, 3.0))
        for layer, torch_fn in _floors_and_remainders(c):
            _against_torch(layer, torch_fn, x * 4, rng, dtype)  # (x * 4: several floors)
