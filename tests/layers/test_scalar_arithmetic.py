"""Arithmetic with a number on symbolic tensors (``x * 2``, ``1 - x``, ``x / 255.0``,
``x ** 2`` ...): NumPy's values bit for bit, gradients, save/load and summary."""

import numpy as np
import pytest

from npconv.layers import (
    Absolute,
    Dense,
    FloorDivide,
    Input,
    Mod,
    Power,
    Rescaling,
    TrueDivide,
)
from npconv.models import Model, load_model
from tests.finite_differences import central_differences

OPS = {
    "x*2": lambda t: t * 2, "2*x": lambda t: 2 * t, "x+1": lambda t: t + 1,
    "1+x": lambda t: 1 + t, "1-x": lambda t: 1 - t, "x-0.5": lambda t: t - 0.5,
    "x*0.1+0.2": lambda t: t * 0.1 + 0.2, "x/255.0": lambda t: t / 255.0,
    "x/3": lambda t: t / 3, "3/x": lambda t: 3 / t, "-x": lambda t: -t,
    "x**2": lambda t: t ** 2, "x**3": lambda t: t ** 3, "x**0.5": lambda t: t ** 0.5,
    "x**-1": lambda t: t ** -1, "np.float32(2)*x": lambda t: np.float32(2) * t,
    # the sign of zero: x + 0 turns -0.0 into +0.0, x - 0 and x * c keep it, 0 - x of +0.0
    # is +0.0 where -x is -0.0 (the batch holds both zeros)
    "x+0": lambda t: t + 0, "x+0.0": lambda t: t + 0.0, "0+x": lambda t: 0 + t,
    "x-0": lambda t: t - 0, "x-0.0": lambda t: t - 0.0, "x+-0.0": lambda t: t + -0.0,
    "0-x": lambda t: 0 - t, "-0.0-x": lambda t: -0.0 - t, "x*-1": lambda t: t * -1,
    "0*x": lambda t: 0 * t, "x*-2.5": lambda t: t * -2.5, "x*1": lambda t: t * 1,
    "abs(x)": abs,  # (its gradient at 0 is 0, as torch's sign(x); so are central differences)
    "2**x": lambda t: 2 ** t, "0.5**x": lambda t: 0.5 ** t, "e**x": lambda t: np.e ** t,
    # floor division's gradient is 0 and x % c's 1, c % x's -(c // x), as torch's; NumPy's
    # values, zeros' signs included (torch's remainder keeps x's sign on a zero remainder);
    # 3.3, not 3: the batch's 0.25 would sit on a jump of 3 // x
    "x//2": lambda t: t // 2, "x//-1.5": lambda t: t // -1.5, "3.3//x": lambda t: 3.3 // t,
    "x%2": lambda t: t % 2, "x%-1.5": lambda t: t % -1.5, "3.3%x": lambda t: 3.3 % t,
}


def _positive(name, for_gradients=False):
    """Whether the expression needs a positive batch: fractional powers and divisions by x;
    for central differences also // and % (their jumps are at x = 0)."""
    jumps = for_gradients and ("//" in name or "%" in name)
    return "**x" not in name and "**" in name or "/x" in name or "%x" in name or jumps


def _batch(dtype, positive=False):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5)).astype(dtype)
    x[0, 0, :3] = [0.0, -0.0, 1.0]
    if positive:
        x = np.abs(x) + dtype(0.25)
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", OPS)
def test_bit_identical_to_numpy(name, dtype):
    op = OPS[name]
    x = _batch(dtype, _positive(name))
    inputs = Input((3, 5), dtype=np.dtype(dtype).name)
    model = Model(inputs, op(inputs))
    out = np.asarray(model.predict(x, verbose=0))
    expected = op(x)
    assert out.dtype == expected.dtype == dtype
    # bit for bit, the sign of zero included
    np.testing.assert_array_equal(out.view(np.uint8), expected.view(np.uint8))


def test_division_is_not_rescaling():
    # why x / 255.0 has a layer of its own: x * (1 / 255) differs in the last bit
    x = np.arange(256, dtype=np.float32)
    assert not np.array_equal(x / 255.0, x * np.float32(1 / 255))
    inputs = Input((256,))
    out = Model(inputs, inputs / 255.0).predict(x[None], verbose=0)[0]
    np.testing.assert_array_equal(out, x / 255.0)


def test_the_layers_chosen():
    inputs = Input((2,))
    assert type((inputs * 2).layer) is Rescaling
    assert (inputs * 2).layer.scale == 2.0 and (inputs * 2).layer.offset == 0.0
    assert ((1 - inputs).layer.scale, (1 - inputs).layer.offset) == (-1.0, 1.0)
    assert ((inputs - 0.5).layer.scale, (inputs - 0.5).layer.offset) == (1.0, -0.5)
    assert ((-inputs).layer.scale, (-inputs).layer.offset) == (-1.0, 0.0)
    assert type((inputs / 4).layer) is TrueDivide and not (inputs / 4).layer.reflected
    assert (4 / inputs).layer.reflected
    assert type((inputs ** 2).layer) is Power
    assert type(abs(inputs).layer) is Absolute
    assert ((2 ** inputs).layer.base, (2 ** inputs).layer.exponent) == (2, None)
    assert ((inputs ** 2).layer.base, (inputs ** 2).layer.exponent) == (None, 2)
    assert type((inputs // 2).layer) is FloorDivide and (2 // inputs).layer.reflected
    assert type((inputs % 2).layer) is Mod and (2 % inputs).layer.reflected
    assert not (inputs % 2).layer.reflected and (inputs % 2).layer.constant == 2
    assert (inputs * 2).shape == (None, 2)


@pytest.mark.parametrize("name", OPS)
def test_gradients_match_finite_differences(name):
    op = OPS[name]
    x = _batch(np.float64, _positive(name, for_gradients=True))
    inputs = Input((3, 5), dtype="float64")
    model = Model(inputs, op(inputs))
    r = np.random.default_rng(1).standard_normal(x.shape)

    def f():
        return float(np.sum(np.asarray(model.forward(x)) * r))

    numeric = central_differences(f, x)
    model.forward(x)
    analytic = model.backward(r, need_input_grad=True)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_power_zero_and_one_gradients():
    x = np.array([[0.0, 2.0, -3.0]])
    for p, expected in [(0, np.zeros_like(x)), (1, np.ones_like(x)), (2, 2 * x)]:
        layer = Power(p)
        layer(x)
        np.testing.assert_array_equal(layer.backward(np.ones_like(x)), expected)


def test_save_load_and_summary(tmp_path):
    inputs = Input((4,))
    h = (inputs / 255.0) * 2 - 1
    h = Dense(3)(h)
    outputs = 1 - (-h) ** 2 + 3 / (h * h + 1) + abs(h) + 0.5 ** h + h // 0.5 + 2 % (h * h + 1)
    model = Model(inputs, outputs)
    x = np.random.default_rng(3).integers(0, 256, (5, 4)).astype(np.float32)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "TrueDivide" in text and "Rescaling" in text and "Power" in text
    assert "Absolute" in text and "Total params: 15" in text  # Dense(3)'s 4 * 3 + 3 only
    assert "FloorDivide" in text and "Mod" in text
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    rebuilt = Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))


def test_the_sign_of_zero_survives_save_and_load(tmp_path):
    inputs = Input((3, 5))
    outputs = [op(inputs) for op in (OPS["-x"], OPS["x*-2.5"], OPS["0-x"], OPS["x+0"],
                                     OPS["x-0"])]
    model = Model(inputs, outputs)
    model.save(tmp_path / "zeros.keras")
    loaded = load_model(tmp_path / "zeros.keras")
    x = _batch(np.float32)
    for got, op in zip(loaded.predict(x, verbose=0), (OPS["-x"], OPS["x*-2.5"], OPS["0-x"],
                                                     OPS["x+0"], OPS["x-0"]), strict=True):
        np.testing.assert_array_equal(np.asarray(got).view(np.uint8), op(x).view(np.uint8))


def test_trains():
    inputs = Input((2,))
    model = Model(inputs, Dense(1)(inputs / 2.0 - 1) ** 2)
    model.compile("adam", "mse")
    x = np.random.default_rng(0).standard_normal((32, 2)).astype(np.float32)
    history = model.fit(x, np.ones((32, 1), np.float32), epochs=3, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_refused_operands():
    inputs = Input((2,))
    with pytest.raises(TypeError):  # an array is no number (no object array either)
        inputs * np.ones(2)
    with pytest.raises(TypeError):
        np.ones(2) - inputs
    with pytest.raises(TypeError, match="unsupported operand"):
        inputs + "1"
    with pytest.raises(TypeError, match="unsupported operand"):
        inputs * True
    with pytest.raises(ValueError, match="finite number"):
        inputs * float("inf")
    with pytest.raises(ValueError, match="non-zero divisor"):
        inputs / 0
    with pytest.raises(ValueError, match=r"FloorDivide .*: expected a non-zero divisor"):
        inputs // 0
    with pytest.raises(ValueError, match=r"Mod .*: expected a non-zero divisor"):
        inputs % 0.0
    with pytest.raises(ValueError, match=r"Mod .*finite number"):
        Mod(float("inf"))
    with pytest.raises(ValueError, match="TrueDivide .*finite number"):
        TrueDivide(float("nan"))
    with pytest.raises(ValueError, match="Power .*exponent"):
        Power("2")
    with pytest.raises(ValueError, match="Power .*finite number. Received: base=nan"):
        Power(base=float("nan"))
    with pytest.raises(ValueError, match=r"Power .*: expected either exponent \(x \*\* "
                                         r"exponent\) or base \(base \*\* x\)\. Received: "
                                         r"exponent=2, base=3"):
        Power(2, base=3)
    with pytest.raises(ValueError, match=r"Received: exponent=None, base=None"):
        Power()
