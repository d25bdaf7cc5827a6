"""The seeds' model zoo: parameter counts and output shapes (torch counts: tests/reference)."""

from __future__ import annotations

import numpy as np
import pytest

from npconv.models import zoo


def _conv(cin, cout, k):
    return k * k * cin * cout + cout


def _dense(n_in, n_out):
    return n_in * n_out + n_out


def test_mnist_cnn_seed001():
    model = zoo.mnist_cnn()
    assert model.count_params() == 104_202
    assert [layer.output_shape for layer in model.layers[1:]] == [
        (None, 26, 26, 32), (None, 13, 13, 32), (None, 11, 11, 64), (None, 5, 5, 64),
        (None, 3, 3, 128), (None, 1152), (None, 10)]


def test_mnist_cnn_no_pool_seed001():
    model = zoo.mnist_cnn_no_pool()
    assert model.count_params() == 712_202 == (
        _conv(1, 32, 3) + _conv(32, 64, 3) + _conv(64, 128, 3) + _dense(22 * 22 * 128, 10))


def test_lenet5():
    model = zoo.lenet5()
    assert model.count_params() == 61_706 == (
        _conv(1, 6, 5) + _conv(6, 16, 5) + _dense(400, 120) + _dense(120, 84) + _dense(84, 10))
    assert model.layers[3].output_shape == (None, 5, 5, 16)


def test_strided_cnn_seed003():
    model = zoo.strided_cnn()
    # seed 003's comments: 32x14x14, 64x7x7, 128x3x3
    assert [layer.output_shape for layer in model.layers[:3]] == [
        (None, 14, 14, 32), (None, 7, 7, 64), (None, 3, 3, 128)]
    expected = (_conv(1, 32, 3) + _conv(32, 64, 3) + _conv(64, 128, 3)
                + _dense(128 * 3 * 3, 128) + _dense(128, 10))
    assert model.count_params() == expected == 241_546


def test_same_cnn_seed002():
    model = zoo.same_cnn()
    # seed 002's torch model: Conv(3->16, pad 1) BN16 ReLU, Conv(16->32, pad 1, stride 2) BN32
    # ReLU, AvgPool(4) -> 32*4*4 -> Linear(512, 10). torch counts gamma/beta only; Keras also
    # counts each BN's moving mean/variance as non-trainable parameters.
    torch_params = _conv(3, 16, 3) + 2 * 16 + _conv(16, 32, 3) + 2 * 32 + _dense(32 * 4 * 4, 10)
    assert torch_params == 10_314
    assert sum(w.value.size for w in model.trainable_weights) == torch_params
    assert sum(w.value.size for w in model.non_trainable_weights) == 2 * 16 + 2 * 32
    assert model.count_params() == 10_410
    assert model.layers[-3].output_shape == (None, 4, 4, 32)


def test_alexnet_torchvision_count():
    model = zoo.alexnet()
    assert model.count_params() == 61_100_840
    assert model.output_shape == (None, 1000)
    assert model.get_layer(index=7).output_shape == (None, 6, 6, 256)


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_every_zoo_model_runs_and_ends_in_softmax(name):
    small = {"alexnet": dict(input_shape=(64, 64, 3), num_classes=7)}.get(name, {})
    model = zoo.get_model(name, **small)
    x = np.random.default_rng(0).random((2,) + model.input_shape[1:], dtype=np.float32)
    y = model.predict(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    assert model.layers[-1].activation.name == "softmax"


def test_unknown_zoo_name():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        zoo.get_model("resnet")
