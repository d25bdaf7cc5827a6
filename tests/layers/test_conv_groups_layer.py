"""Conv2D(groups=): the op underneath, weights and their count, config, repr, summary, saving,
channels_first, blocked inference, symbolic shapes and errors."""

import numpy as np
import pytest

import npconv
from npconv import io as npio
from npconv.layers.base import SymbolicTensor
from npconv.layers.conv import Conv2D
from npconv.models.cost import layer_cost
from npconv.ops.conv import conv2d_backward, conv2d_forward


def _x(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_grouped_layer_uses_the_grouped_op():
    layer = Conv2D(6, (3, 2), strides=(2, 1), padding="same", dilation_rate=(1, 2), groups=3,
                   bias_initializer="random_normal")
    x = _x((2, 7, 6, 9), np.float64)
    y = layer(x)
    assert layer.kernel.shape == (3, 2, 3, 6) and layer.bias.shape == (6,)
    expected, cache = conv2d_forward(x, layer.kernel.value, layer.bias.value, (2, 1), "same",
                                     (1, 2), groups=3)
    np.testing.assert_array_equal(y, expected)
    g = _x(y.shape, np.float64, seed=1)
    dx = layer.backward(g)
    ref = conv2d_backward(g, cache)
    np.testing.assert_array_equal(dx, ref[0])
    np.testing.assert_array_equal(layer.kernel.grad, ref[1])
    np.testing.assert_array_equal(layer.bias.grad, ref[2])


def test_grouped_weights_counts_and_initializer():
    layer = Conv2D(16, 3, groups=4)
    layer(_x((1, 8, 8, 8)))
    assert layer.kernel.shape == (3, 3, 2, 16)
    assert layer.count_params() == 3 * 3 * 2 * 16 + 16
    limit = np.sqrt(6 / (9 * 2 + 9 * 16))  # Glorot on the grouped kernel's fans, as Keras
    assert np.abs(layer.kernel.value).max() <= limit
    assert np.abs(layer.kernel.value).max() > np.sqrt(6 / (9 * 8 + 9 * 16))
    cost = layer_cost(layer, batch_size=2)
    assert cost["macs"] == 2 * 6 * 6 * 16 * 3 * 3 * 2
    assert cost["im2col_bytes"] == 2 * 6 * 6 * 3 * 3 * 8 * 4  # the patches hold all 8 channels


def test_grouped_model_summary_counts():
    model = npconv.Sequential([npconv.Input((8, 8, 6)), Conv2D(12, 3, groups=3, name="g"),
                               Conv2D(12, 1, name="p")])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    grouped = 3 * 3 * 2 * 12 + 12
    row = next(line for line in lines if line.strip().startswith("g (Conv2D)"))
    assert row.split()[-1] == f"{grouped:,}"
    assert f"Total params: {grouped + 12 * 12 + 12:,}" in text
    assert model.count_params() == grouped + 12 * 12 + 12


def test_grouped_config_repr_and_round_trip():
    layer = Conv2D(8, 3, strides=2, groups=4, name="r")
    config = layer.get_config()
    assert config["groups"] == 4
    clone = Conv2D.from_config(config)
    assert clone.groups == 4 and clone.get_config() == config
    assert repr(layer) == "Conv2D(8, kernel_size=(3, 3), strides=(2, 2), groups=4, name='r')"
    assert "groups" not in repr(Conv2D(8, 3))
    assert Conv2D(8, 3).get_config()["groups"] == 1
    assert Conv2D(8, 3, groups=np.int64(2)).groups == 2
    old = dict(Conv2D(8, 3, name="o").get_config())
    del old["groups"]  # a config written before groups existed
    assert Conv2D.from_config(old).groups == 1


def test_grouped_model_saved_and_loaded(tmp_path):
    npconv.utils.set_random_seed(3)
    model = npconv.Sequential([
        npconv.Input((9, 9, 4)), Conv2D(8, 3, groups=2, activation="relu"),
        Conv2D(8, 3, groups=8, padding="same"), npconv.layers.GlobalAveragePooling2D(),
        npconv.layers.Dense(3, activation="softmax"),
    ])
    x = _x((16, 9, 9, 4))
    y = np.random.default_rng(1).integers(0, 3, 16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "grouped.npconv"
    model.save(path)
    loaded = npio.load_model(path)
    assert [layer.groups for layer in loaded.layers[:2]] == [2, 8]
    assert loaded.layers[0].kernel.shape == (3, 3, 2, 8)
    assert loaded.layers[1].kernel.shape == (3, 3, 1, 8)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # the optimizer state came back too
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_grouped_channels_first_is_channels_last_transposed():
    x = _x((2, 7, 5, 6), np.float64)
    last = Conv2D(4, (3, 2), strides=2, padding="same", groups=2, bias_initializer="ones")
    first = Conv2D(4, (3, 2), strides=2, padding="same", groups=2,
                   data_format="channels_first")
    y_last = last(x)
    first(x.transpose(0, 3, 1, 2))
    first.set_weights(last.get_weights())
    y_first = first(x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(y_first, y_last.transpose(0, 3, 1, 2), rtol=1e-14)
    g = _x(y_last.shape, np.float64, seed=3)
    dx_last = last.backward(g)
    dx_first = first.backward(g.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(dx_first, dx_last.transpose(0, 3, 1, 2), rtol=1e-13)
    np.testing.assert_allclose(first.kernel.grad, last.kernel.grad, rtol=1e-13)


def test_grouped_blocked_inference_equals_one_pass_and_its_backward():
    """A large inference batch runs in blocks through out= (the grouped op writes each
    block's output channels); a backward after it rebuilds the grouped patches."""
    layer = Conv2D(8, 3, padding="same", groups=4, activation="relu", dtype="float64")
    x = _x((64, 16, 16, 8), np.float64)
    layer(x[:1])
    step = layer._block_images(x.shape)
    assert step < x.shape[0], "expected inference in blocks"
    y = layer(x)
    ref, cache = conv2d_forward(x, layer.kernel.value, layer.bias.value, 1, "same", 1,
                                groups=4)
    np.testing.assert_allclose(y, np.maximum(ref, 0), rtol=1e-13, atol=1e-13)
    g = _x(y.shape, np.float64, seed=4)
    dx = layer.backward(g)
    ref_dx, ref_dk, _ = conv2d_backward(g * (ref > 0), cache)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, ref_dk, rtol=1e-12, atol=1e-12)


def test_grouped_symbolic_shapes():
    t = SymbolicTensor((None, 28, 28, 6))
    t = Conv2D(12, 3, groups=3)(t)
    assert t.shape == (None, 26, 26, 12)
    t = Conv2D(12, 3, strides=2, padding="same", groups=12)(t)
    assert t.shape == (None, 13, 13, 12)


def test_grouped_errors():
    for bad in (0, -1, 2.5, True, "2", None):
        with pytest.raises(ValueError, match=r"Conv2D g: expected groups to be a positive "
                                             rf"int. Received: groups={bad!r}"):
            Conv2D(4, 3, groups=bad, name="g")
    with pytest.raises(ValueError, match=r"Conv2D g: expected filters to be divisible by "
                                         r"groups .* Received: filters=6, groups=4"):
        Conv2D(6, 3, groups=4, name="g")
    layer = Conv2D(6, 3, groups=3, name="c")
    with pytest.raises(ValueError, match=r"c: Conv2D with groups=3 expects a number of input "
                                         r"channels divisible by 3. Received an input of "
                                         r"shape \(1, 5, 5, 4\) with 4 channels"):
        layer(_x((1, 5, 5, 4)))
    with pytest.raises(ValueError, match="divisible by 3. Received an input of shape "
                                         r"\(None, 5, 5, 5\)"):
        layer(SymbolicTensor((None, 5, 5, 5)))
    with pytest.raises(ValueError, match=r"divisible by 3. Received an input of shape "
                                         r"\(None, 8, 8, 2\)"):
        Conv2D(6, 3, groups=3, name="b").build((None, 8, 8, 2))
    with pytest.raises(ValueError, match=r"shape \(1, 4, 5, 5\) with 4 channels"):  # NCHW
        Conv2D(6, 3, groups=3, data_format="channels_first")(_x((1, 4, 5, 5)))
    assert not layer.built
    layer(_x((1, 5, 5, 6)))
    with pytest.raises(ValueError, match=r"c: expected an input with 6 channels \(the kernel "
                                         r"\(3, 3, 2, 6\) was built for it, 3 groups of 2\). "
                                         r"Received an input of shape \(1, 5, 5, 9\) with 9"):
        layer(_x((1, 5, 5, 9)))
    with pytest.raises(ValueError, match=r"c: weight 'kernel' expects shape \(3, 3, 2, 6\). "
                                         r"Received shape \(3, 3, 6, 6\)"):
        layer.set_weights([np.zeros((3, 3, 6, 6)), np.zeros(6)])  # an ungrouped kernel


def test_a_channels_first_group_error_shows_the_shape_as_given():
    import pytest

    from npconv.layers import Conv2D

    with pytest.raises(ValueError, match=r"Received an input of shape \(None, 5, 10, 10\) with "
                                         r"5 channels"):
        Conv2D(4, 3, groups=2, data_format="channels_first").build((None, 5, 10, 10))
