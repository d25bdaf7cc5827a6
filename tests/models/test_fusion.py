"""A ReLU moved past the max pool that reads it (npconv.models.fusion) changes no number.

Each model runs twice on the same batch: as built (the ReLU applied after the pool) and with
the pairs cleared (every layer in its own order), and outputs, weight gradients and the input
gradient must be exactly equal (as values: a zero gradient may be -0.0 in one and +0.0 in the
other, see npconv.models.fusion). Inputs and kernels are small multiples of 1/4, so that
windows with tied maxima, all-negative windows and exact zeros are common.
"""

from __future__ import annotations

import numpy as np
import pytest

from npconv import layers
from npconv.layers.conv import Conv2D
from npconv.models import Model, Sequential, fusion, zoo
from npconv.ops import activations


def _quarters(rng, shape, dtype, low=-4, high=5):
    return (rng.integers(low, high, shape) / 4).astype(dtype)


def _run(model, x, training=True):
    out = model.forward(x, training=training)
    d = np.random.default_rng(7).standard_normal(out.shape).astype(out.dtype)
    dx = model.backward(d, need_input_grad=True)
    return out, [w.grad.copy() for w in model.trainable_weights], dx


def _assert_fusion_changes_nothing(model, x, training=True):
    assert model._relu_pools, "expected a ReLU + max-pool pair in this model"
    fused = _run(model, x, training)
    pairs, model._relu_pools = model._relu_pools, {}
    plain = _run(model, x, training)
    model._relu_pools = pairs
    np.testing.assert_array_equal(fused[0], plain[0])
    for g1, g2 in zip(fused[1], plain[1], strict=True):
        np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(fused[2], plain[2])
    return fused


def _random_pair_model(rng, data_format, separate_relu, global_pool):
    kernel = int(rng.integers(1, 4))
    conv = Conv2D(int(rng.integers(1, 5)), kernel, strides=int(rng.integers(1, 3)),
                  padding=str(rng.choice(["valid", "same"])),
                  activation=None if separate_relu else "relu", data_format=data_format)
    stack = [conv] + ([layers.Activation("relu")] if separate_relu else [])
    if global_pool:
        stack.append(layers.GlobalMaxPooling2D(data_format=data_format))
    else:
        pool = int(rng.integers(1, 4))
        stack += [layers.MaxPooling2D(pool, strides=int(rng.integers(1, pool + 1)),
                                      padding=str(rng.choice(["valid", "same"])),
                                      data_format=data_format),
                  layers.Flatten()]
    return Sequential(stack + [layers.Dense(3)])


@pytest.mark.parametrize("seed", range(24))
def test_random_relu_pool_pairs_give_the_unfused_numbers(seed):
    rng = np.random.default_rng(seed)
    data_format = "channels_first" if seed % 2 else "channels_last"
    dtype = np.float64 if seed % 3 == 0 else np.float32
    model = _random_pair_model(rng, data_format, separate_relu=seed % 4 == 1,
                               global_pool=seed % 6 == 5)
    c = int(rng.integers(1, 4))
    hw = (int(rng.integers(8, 12)), int(rng.integers(8, 12)))
    shape = (5, c, *hw) if data_format == "channels_first" else (5, *hw, c)
    x = _quarters(rng, shape, dtype)
    model.forward(x)
    for w in model.trainable_weights:
        w.value[...] = _quarters(rng, w.value.shape, dtype, -2, 3)
    _assert_fusion_changes_nothing(model, x, training=True)
    _assert_fusion_changes_nothing(model, x, training=False)


@pytest.mark.parametrize("seed", range(12))
def test_random_relu_1d_max_pool_pairs_give_the_unfused_numbers(seed):
    # MaxPooling1D / GlobalMaxPooling1D (the 2-D pools on (N, 1, steps, C)) after a ReLU layer
    # on sequences (a Dense on the last axis here; a Conv1D the same way)
    rng = np.random.default_rng(100 + seed)
    data_format = "channels_first" if seed % 2 else "channels_last"
    dtype = np.float64 if seed % 3 == 0 else np.float32
    separate_relu, global_pool = seed % 4 == 1, seed % 6 == 5
    # (channels_first reads the Dense's units as the steps: at least the pool's 3)
    stack = [layers.Dense(int(rng.integers(3, 6)), activation=None if separate_relu else "relu")]
    stack += [layers.Activation("relu")] if separate_relu else []
    if global_pool:
        stack.append(layers.GlobalMaxPooling1D(data_format=data_format))
    else:
        pool = int(rng.integers(1, 4))
        stack += [layers.MaxPooling1D(pool, strides=int(rng.integers(1, pool + 1)),
                                      padding=str(rng.choice(["valid", "same"])),
                                      data_format=data_format),
                  layers.Flatten()]
    model = Sequential(stack + [layers.Dense(3)])
    x = _quarters(rng, (5, int(rng.integers(6, 10)), int(rng.integers(1, 4))), dtype)
    model.forward(x)
    for w in model.trainable_weights:
        w.value[...] = _quarters(rng, w.value.shape, dtype, -2, 3)
    _assert_fusion_changes_nothing(model, x, training=True)
    _assert_fusion_changes_nothing(model, x, training=False)


def test_seed_001_cnn_pairs_both_convolutions_with_their_pools():
    model = zoo.mnist_cnn()
    assert model._relu_pools == {0: 1, 2: 3}
    x = _quarters(np.random.default_rng(0), (6, 28, 28, 1), np.float32, 0, 5)
    _assert_fusion_changes_nothing(model, x)


def test_large_inference_batch_in_blocks(monkeypatch):
    """Conv2D's blocked inference (in-place activation per block) skips the moved ReLU too."""
    monkeypatch.setattr(Conv2D, "_BLOCK_BYTES", 1)
    model = zoo.mnist_cnn()
    x = _quarters(np.random.default_rng(1), (20, 28, 28, 1), np.float32, 0, 5)
    _assert_fusion_changes_nothing(model, x, training=False)


def _pair_tail(inputs, x):
    return layers.Dense(2)(layers.Flatten()(layers.MaxPooling2D(2)(x)))


def test_no_pair_where_the_activation_output_is_read_twice_or_is_a_model_output():
    inputs = layers.Input((6, 6, 2))
    conv = Conv2D(2, 3, padding="same", activation="relu")(inputs)
    twice = layers.Add()([conv, layers.MaxPooling2D(1)(conv)])
    assert Model(inputs, _pair_tail(inputs, twice))._relu_pools == {}  # the last pool reads Add
    conv = Conv2D(2, 3, activation="relu")(inputs)
    both = Model(inputs, [conv, layers.MaxPooling2D(2)(conv)])
    assert both._relu_pools == {}


def test_no_pair_for_average_pools_subclassed_layers_or_an_input():
    class MyMaxPool(layers.MaxPooling2D):
        pass

    class MyConv(Conv2D):  # e.g. one that applies its activation in its own call
        pass

    for conv, pool in ((Conv2D(2, 3, activation="relu"), layers.AveragePooling2D(2)),
                       (Conv2D(2, 3, activation="relu"), MyMaxPool(2)),
                       (MyConv(2, 3, activation="relu"), layers.MaxPooling2D(2))):
        model = Sequential([conv, pool, layers.Flatten()])
        model.build((None, 6, 6, 1))
        assert model._relu_pools == {}
    model = Sequential([layers.MaxPooling2D(2), layers.Flatten()])
    model.build((None, 6, 6, 1))
    assert model._relu_pools == {}


@pytest.mark.parametrize("activation", [None, "tanh", "sigmoid", "leaky_relu", "elu"])
def test_only_the_plain_relu_moves(activation):
    model = Sequential([Conv2D(2, 3, activation=activation), layers.MaxPooling2D(2),
                        layers.Flatten(), layers.Dense(2)])
    x = _quarters(np.random.default_rng(2), (3, 8, 8, 1), np.float64)
    model.forward(x, training=True)
    assert not fusion.moves_activation(model.layers[0])
    assert model._moved_activations == {} and model._skipped_activation == set()


def test_relu_with_a_max_value_does_not_move():
    relu6 = activations.Activation("relu", activations.relu_forward, activations.relu_backward,
                                   max_value=6.0)
    conv = Conv2D(2, 3, activation=relu6)
    assert not fusion.moves_activation(conv)
    assert fusion.moves_activation(Conv2D(2, 3, activation="relu"))


def test_an_activation_replaced_after_building_is_checked_at_each_forward():
    model = zoo.mnist_cnn()
    x = _quarters(np.random.default_rng(3), (4, 28, 28, 1), np.float32, 0, 5)
    model.forward(x)
    model.layers[1].activation = activations.get("tanh")
    out = model.forward(x, training=True)
    assert set(model._moved_activations) == {3} and model._skipped_activation == {2}
    pairs, model._relu_pools = model._relu_pools, {}
    np.testing.assert_array_equal(out, model.forward(x, training=True))
    model._relu_pools = pairs


def test_forward_without_activation_returns_the_pre_activation_and_backward_starts_there():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 6, 6, 2))
    with_relu = Conv2D(3, 3, activation="relu")
    z = with_relu.forward(x, training=True, activation=False)
    assert (z < 0).any()
    plain = Conv2D(3, 3)
    plain.forward(x)
    plain.set_weights(with_relu.get_weights())
    np.testing.assert_array_equal(z, plain.forward(x, training=True))
    d = rng.standard_normal(z.shape)
    np.testing.assert_array_equal(with_relu.backward(d), plain.backward(d))
    np.testing.assert_array_equal(with_relu.kernel.grad, plain.kernel.grad)
    y = with_relu.forward(x, training=True)  # the next forward applies it again
    np.testing.assert_array_equal(y, np.maximum(z, 0))
    np.testing.assert_array_equal(with_relu.backward(d), plain.backward(d * (z > 0)))


def test_a_shared_layer_run_by_another_model_in_between_is_an_error():
    """A feature-map model shares the fused conv: its forward between the big model's forward
    and backward replaces the conv's caches, which the backward would silently use."""
    model = zoo.mnist_cnn()
    x = _quarters(np.random.default_rng(5), (4, 28, 28, 1), np.float32, 0, 5)
    features = Model(model.inputs[0], model.layers[1].output)
    out = model.forward(x, training=True)
    features.forward(x, training=True)
    name = model.layers[1].name
    with pytest.raises(RuntimeError, match=rf"{name} has run again since this model's forward"):
        model.backward(np.ones_like(out))
    model.layers[1].forward(x, training=True)  # called directly: the same
    with pytest.raises(RuntimeError, match="has run again"):
        model.backward(np.ones_like(out))
    model.forward(x, training=True)
    model.backward(np.ones_like(out))  # its own forward again: fine
    f = features.forward(x, training=True)
    features.backward(np.ones_like(f))  # and the sub-model's own pair is fine too


def _random_3d_pair_model(rng, data_format, separate_relu, global_pool):
    conv = layers.Conv3D(int(rng.integers(1, 4)), int(rng.integers(1, 3)),
                         strides=int(rng.integers(1, 3)),
                         padding=str(rng.choice(["valid", "same"])),
                         activation=None if separate_relu else "relu", data_format=data_format)
    stack = [conv] + ([layers.Activation("relu")] if separate_relu else [])
    if global_pool:
        stack.append(layers.GlobalMaxPooling3D(data_format=data_format))
    else:
        pool = int(rng.integers(1, 3))
        stack += [layers.MaxPooling3D(pool, strides=int(rng.integers(1, pool + 1)),
                                      padding=str(rng.choice(["valid", "same"])),
                                      data_format=data_format),
                  layers.Flatten()]
    return Sequential(stack + [layers.Dense(3)])


@pytest.mark.parametrize("seed", range(12))
def test_random_relu_3d_max_pool_pairs_give_the_unfused_numbers(seed):
    # MaxPooling3D / GlobalMaxPooling3D after a ReLU Conv3D (or a separate ReLU layer):
    # they were not paired, so the ReLU ran on 8x the elements of a 2x2x2 pool's output
    rng = np.random.default_rng(200 + seed)
    data_format = "channels_first" if seed % 2 else "channels_last"
    dtype = np.float64 if seed % 3 == 0 else np.float32
    model = _random_3d_pair_model(rng, data_format, separate_relu=seed % 4 == 1,
                                  global_pool=seed % 6 == 5)
    c = int(rng.integers(1, 3))
    dhw = tuple(int(rng.integers(4, 7)) for _ in range(3))
    shape = (3, c, *dhw) if data_format == "channels_first" else (3, *dhw, c)
    x = _quarters(rng, shape, dtype)
    model.forward(x)
    for w in model.trainable_weights:
        w.value[...] = _quarters(rng, w.value.shape, dtype, -2, 3)
    _assert_fusion_changes_nothing(model, x, training=True)
    _assert_fusion_changes_nothing(model, x, training=False)


@pytest.mark.parametrize("global_pool", [False, True])
@pytest.mark.parametrize("pool_dims", [1, 2, 3])
def test_nan_input_gives_the_unfused_numbers(pool_dims, global_pool):
    """NaN in some windows: the outputs (NaN where the unfused model has NaN) and every
    gradient are the same as unfused, bit for bit (assert_array_equal: NaN == NaN)."""
    rng = np.random.default_rng(300 + pool_dims)
    conv, pool, glob = {1: (layers.Conv1D, layers.MaxPooling1D, layers.GlobalMaxPooling1D),
                        2: (layers.Conv2D, layers.MaxPooling2D, layers.GlobalMaxPooling2D),
                        3: (layers.Conv3D, layers.MaxPooling3D, layers.GlobalMaxPooling3D)
                        }[pool_dims]
    stack = [conv(2, 1, activation="relu")]
    stack += [glob()] if global_pool else [pool(2), layers.Flatten()]
    model = Sequential(stack + [layers.Dense(2)])
    x = _quarters(rng, (2, *(4,) * pool_dims, 2), np.float32)
    x[0, 1] = np.nan  # one sample's second row / slice: the other sample stays finite
    model.forward(x)
    for w in model.trainable_weights:
        w.value[...] = _quarters(rng, w.value.shape, np.float32, -2, 3)
    out, grads, dx = _assert_fusion_changes_nothing(model, x)
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
