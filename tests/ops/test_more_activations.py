"""Keras 3's further activations (elu, selu, gelu, silu, softplus, softsign, hard_sigmoid,
hard_silu, exponential, relu6, mish, log_softmax): values against their formulas, gradients
against central differences in float64, stability, registration and the layer argument."""

import math
import warnings
import zlib

import numpy as np
import pytest

import npconv.activations as kact
from npconv.layers import Conv2D, Dense
from npconv.ops import activations as A
from tests.finite_differences import central_differences

# name -> (forward, backward, kinks to keep finite differences away from)
PAIRS = {
    "elu": (A.elu_forward, A.elu_backward, [0.0]),
    "selu": (A.selu_forward, A.selu_backward, [0.0]),
    "gelu": (A.gelu_forward, A.gelu_backward, []),
    "gelu_tanh": (lambda x: A.gelu_forward(x, approximate=True), A.gelu_backward, []),
    "silu": (A.silu_forward, A.silu_backward, []),
    "softplus": (A.softplus_forward, A.softplus_backward, []),
    "softsign": (A.softsign_forward, A.softsign_backward, [0.0]),
    "hard_sigmoid": (A.hard_sigmoid_forward, A.hard_sigmoid_backward, [-3.0, 3.0]),
    "hard_silu": (A.hard_silu_forward, A.hard_silu_backward, [-3.0, 3.0]),
    "exponential": (A.exponential_forward, A.exponential_backward, []),
    "relu6": (A.relu6_forward, A.relu6_backward, [0.0, 6.0]),
    "mish": (A.mish_forward, A.mish_backward, []),
    "log_softmax": (A.log_softmax_forward, A.log_softmax_backward, []),
    "elu_alpha": (lambda x: A.elu_forward(x, alpha=0.3), A.elu_backward, [0.0]),
}

SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805


def _phi(v):
    return 0.5 * math.erfc(-v / math.sqrt(2))


# Reference formulas, element by element with Python's math (independent of the vectorized code)
FORMULAS = {
    "elu": lambda v: v if v > 0 else math.expm1(v),
    "elu_alpha": lambda v: v if v > 0 else 0.3 * math.expm1(v),
    "selu": lambda v: SELU_SCALE * (v if v > 0 else SELU_ALPHA * math.expm1(v)),
    "gelu": lambda v: v * _phi(v),
    # 0.5 * (1 + tanh(u)) written as 1 / (1 + exp(-2u)): no cancellation for v << 0
    "gelu_tanh": lambda v: v / (1 + math.exp(-2 * math.sqrt(2 / math.pi)
                                            * (v + 0.044715 * v ** 3))),
    "silu": lambda v: v / (1 + math.exp(-v)),
    "softplus": lambda v: math.log1p(math.exp(v)) if v < 30 else v + math.exp(-v),
    "softsign": lambda v: v / (1 + abs(v)),
    "hard_sigmoid": lambda v: min(max(v / 6 + 0.5, 0.0), 1.0),
    "hard_silu": lambda v: v * min(max(v / 6 + 0.5, 0.0), 1.0),
    "exponential": math.exp,
    "relu6": lambda v: min(max(v, 0.0), 6.0),
    "mish": lambda v: v * math.tanh(math.log1p(math.exp(v)) if v < 30 else v),
}


def _away_from(x, points, margin=1e-3):
    x = x.copy()
    for p in points:
        x[np.abs(x - p) < margin] = p + 10 * margin
    return x


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_values_match_the_formula(name):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal(200) * 4, [0.0, -3.0, 3.0, 6.0, -8.5, 12.0]])
    y, _ = PAIRS[name][0](x)
    expected = np.array([FORMULAS[name](float(v)) for v in x])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-300)


def test_log_softmax_is_log_of_softmax():
    x = np.random.default_rng(3).standard_normal((4, 7)) * 5
    # (log of a softmax near 1 is itself only accurate to ~1e-16 absolute)
    np.testing.assert_allclose(A.log_softmax(x), np.log(A.softmax(x)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(A.log_softmax(x, axis=0), np.log(A.softmax(x, axis=0)),
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2, 3)])
def test_backward_matches_central_differences(name, shape):
    fwd, bwd, kinks = PAIRS[name]
    rng = np.random.default_rng(zlib.crc32(f"{name}{shape}".encode()))
    scale = 1.0 if name == "exponential" else 3.0  # keep exp(x) where differences are exact
    x = _away_from(rng.standard_normal(shape) * scale, kinks)
    dy = rng.standard_normal(shape)
    _, cache = fwd(x)
    dx = bwd(dy, cache)
    numeric = central_differences(lambda: float(np.sum(fwd(x)[0] * dy)), x)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept_inputs_untouched_backward_repeatable(name, dtype):
    fwd, bwd, _ = PAIRS[name]
    x = (np.random.default_rng(0).standard_normal((3, 5)) * 3).astype(dtype)
    dy = np.random.default_rng(1).standard_normal((3, 5)).astype(dtype)
    x0, dy0 = x.copy(), dy.copy()
    y, cache = fwd(x)
    dx1 = bwd(dy, cache)
    dx2 = bwd(dy, cache)
    assert y.dtype == dtype and dx1.dtype == dtype
    np.testing.assert_array_equal(dx1, dx2)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dy, dy0)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_backward_rejects_a_wrong_gradient_shape(name):
    fwd, bwd, _ = PAIRS[name]
    _, cache = fwd(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"gradient of shape \(2, 3\)"):
        bwd(np.ones((3, 2)), cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_inputs_are_finite_and_silent(dtype):
    big = 1e4 if dtype == np.float32 else 1e300
    x = np.array([-big, -1000.0, -100.0, -30.0, 0.0, 30.0, 100.0, 1000.0, big], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ["elu", "selu", "gelu", "gelu_tanh", "silu", "softplus", "softsign",
                     "hard_sigmoid", "hard_silu", "relu6", "mish", "log_softmax"]:
            fwd, bwd, _ = PAIRS[name]
            y, cache = fwd(x)
            dx = bwd(np.ones_like(x), cache)
            assert np.all(np.isfinite(y[1:-1])), name
            assert np.all(np.isfinite(dx)), name
        y, cache = A.exponential_forward(x)  # exp overflows to inf without a warning
        assert y[-1] == np.inf and y[0] == 0
    sp = A.softplus(x)
    assert sp[-2] == dtype(1000.0) and sp[0] == 0 and sp[1] == 0
    assert A.gelu(x)[-2] == dtype(1000.0) and A.gelu(x)[1] == 0


def test_gelu_tail_is_accurate():
    # x * Phi(x) for very negative x: 1 - erf would cancel; the erfc is exact in the tail
    x = np.array([-10.0, -20.0, -30.0, -37.0])
    expected = np.array([v * _phi(v) for v in x])
    np.testing.assert_allclose(A.gelu(x), expected, rtol=1e-11)


def test_hard_sigmoid_is_keras3s_formula_not_keras2s():
    # Keras 3: x / 6 + 0.5 (0.5 + 1/6 at x=1); Keras 2's 0.2 * x + 0.5 would give 0.7
    assert A.hard_sigmoid(np.array([1.0]))[0] == pytest.approx(0.5 + 1 / 6, rel=1e-15)
    np.testing.assert_array_equal(A.hard_sigmoid(np.array([-3.0, 3.0, -4.0, 4.0])),
                                  [0.0, 1.0, 0.0, 1.0])


KERAS_NAMES = ["elu", "selu", "gelu", "silu", "swish", "softplus", "softsign", "hard_sigmoid",
               "hard_silu", "hard_swish", "exponential", "relu6", "mish", "log_softmax"]


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_registered_under_keras_names_and_exported(name):
    act = A.get(name)
    plain = getattr(kact, name)
    x = np.linspace(-5, 5, 11)
    np.testing.assert_array_equal(act(x), plain(x))
    assert A.get(plain) is act
    assert A.get(A.serialize(act)) is act
    assert name in A.__all__ and name in kact.__all__


def test_aliases_serialize_under_the_main_name():
    assert A.serialize(A.get("swish")) == "silu"
    assert A.serialize(A.get("hard_swish")) == "hard_silu"
    assert kact.swish is kact.silu


def test_unknown_name_lists_the_new_ones():
    with pytest.raises(ValueError, match="gelu"):
        A.get("gelu2")


@pytest.mark.parametrize("name", ["gelu", "elu", "selu", "swish", "mish", "hard_sigmoid"])
def test_usable_as_a_layer_argument(name):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 6, 6, 3))
    layer = Conv2D(4, 3, activation=name)
    y = layer(x)
    pre = layer.call(x)  # before the fused activation
    np.testing.assert_allclose(y, A.get(name)(pre), rtol=1e-15)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    kernel = layer.kernel.value

    def loss():
        return float(np.sum(layer.forward(x) * dy))

    numeric = central_differences(loss, kernel)
    layer.forward(x)
    layer.backward(dy)
    np.testing.assert_allclose(layer.kernel.grad, numeric, rtol=1e-5, atol=1e-7)
    assert dx.shape == x.shape
    clone = Conv2D.from_config(layer.get_config())
    assert clone.activation is A.get(name)


def test_dense_with_gelu_round_trips_config():
    d = Dense(3, activation="gelu")
    d(np.ones((1, 2)))
    assert d.get_config()["activation"] == "gelu"
