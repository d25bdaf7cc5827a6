"""Activation.apply_inplace gives bit for bit what forward gives, and a working cache."""

import numpy as np
import pytest

from npconv.ops.activations import Activation, get, relu_backward, relu_forward


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_apply_inplace_is_bit_identical_to_forward(name, dtype):
    act = get(name)
    assert act.inplace
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 7, 3)) * 40).astype(dtype)
    x[0, 0, :] = [0.0, -0.0, np.nan]
    x[1, 0, :] = [np.inf, -np.inf, -1000.0]
    y, cache = act.forward(x.copy())
    z = x.copy()
    act.apply_inplace(z)
    np.testing.assert_array_equal(z.view(f"u{z.itemsize}"), y.view(f"u{y.itemsize}"))
    d = rng.standard_normal(x.shape).astype(dtype)
    np.testing.assert_array_equal(act.backward(d, act.output_cache(z)), act.backward(d, cache))


def test_only_element_wise_activations_with_output_caches_run_in_place():
    assert not get("softmax").inplace
    assert not get("leaky_relu").inplace
    assert not Activation("relu", relu_forward, relu_backward, negative_slope=0.1).inplace
    assert Activation("relu", relu_forward, relu_backward).inplace
    with pytest.raises(ValueError, match="no in-place form"):
        get("softmax").apply_inplace(np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError, match="expected a float array"):
        get("relu").apply_inplace(np.zeros((2, 3), np.int32))
