"""Reshape, Permute and Rescaling: values, gradients, symbolic shapes, configs and errors."""

import numpy as np
import pytest

from npconv.layers import Conv2D, Input, Permute, Rescaling, Reshape
from npconv.models import Model
from tests.finite_differences import central_differences


def _numeric_grad(f, x, eps=1e-6):
    return central_differences(lambda: f(x), x, eps)


@pytest.mark.parametrize("layer", [Reshape((-1, 3)), Reshape((3, 8)), Permute((3, 1, 2)),
                                   Rescaling(0.5, offset=-1.0)],
                         ids=["reshape-infer", "reshape", "permute", "rescaling"])
def test_backward_matches_finite_differences(layer):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 3, 4))
    r = rng.standard_normal(layer(x).shape)
    analytic = layer.backward(r)
    numeric = _numeric_grad(lambda v: float(np.sum(layer(v) * r)), x.copy())
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


def test_seed000_permute_puts_torch_channels_last():
    # seed 000: images = Permute((2, 3, 1))(images) turns a (12, 3, 224, 224) batch NHWC
    images = np.random.default_rng(1).random((2, 3, 8, 8), dtype=np.float32)
    out = Permute((2, 3, 1))(images)
    assert out.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(out, images.transpose(0, 2, 3, 1))


def test_values_and_dtypes():
    x = np.arange(12, dtype=np.int32).reshape(1, 2, 6)
    assert Reshape((3, 4))(x).dtype == np.int32
    np.testing.assert_array_equal(Reshape((3, 4))(x), x.reshape(1, 3, 4))
    y = Rescaling(1 / 255)(np.array([[0, 255]], dtype=np.uint8))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [[0.0, 1.0]])
    assert Rescaling(2.0)(np.ones((1, 2), np.float64)).dtype == np.float64


def test_symbolic_shapes_and_config_round_trip():
    inputs = Input((784,))
    x = Reshape((28, 28, 1))(inputs)
    x = Rescaling(1 / 255)(x)
    x = Conv2D(2, 3)(x)
    outputs = Permute((3, 1, 2))(x)
    model = Model(inputs, outputs)
    assert model.output_shape == (None, 2, 26, 26)
    rebuilt = Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    batch = np.random.default_rng(2).integers(0, 256, (3, 784)).astype(np.uint8)
    np.testing.assert_array_equal(rebuilt.predict(batch), model.predict(batch))


@pytest.mark.parametrize("make, message", [
    (lambda: Reshape((2, -1, -1)), "at most one -1"),
    (lambda: Reshape((0, 3)), "positive ints"),
    (lambda: Permute((1, 3)), "permutation"),
    (lambda: Permute((0, 1, 2)), "permutation"),
    (lambda: Rescaling(float("nan")), "finite"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_inputs():
    with pytest.raises(ValueError, match="cannot reshape"):
        Reshape((5, 5))(np.zeros((2, 24)))
    with pytest.raises(ValueError, match="expects a 4-D input"):
        Permute((2, 3, 1))(np.zeros((2, 3, 4)))
