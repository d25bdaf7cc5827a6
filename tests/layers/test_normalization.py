"""BatchNormalization layer: weights, modes, moving statistics, axes, config, errors."""

import numpy as np
import pytest

from npconv.layers.base import SymbolicTensor
from npconv.layers.normalization import BatchNormalization
from tests.finite_differences import central_differences

RNG = np.random.default_rng(21)


def numeric_grad(f, x, d_out, eps=1e-6):
    """Central differences of ``sum(f() * d_out)`` with respect to ``x`` (float64)."""
    return central_differences(lambda: np.sum(f() * d_out), x, eps)


def test_weights_in_keras_order_and_defaults():
    layer = BatchNormalization()
    y = layer(RNG.standard_normal((4, 3, 3, 5)).astype(np.float32))
    assert y.dtype == np.float32
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    gamma, beta, mm, mv = layer.get_weights()
    np.testing.assert_array_equal(gamma, 1)
    np.testing.assert_array_equal(beta, 0)
    np.testing.assert_array_equal(mm, 0)
    np.testing.assert_array_equal(mv, 1)
    assert layer.count_params() == 20
    assert layer.momentum == 0.99 and layer.epsilon == 0.001


def test_training_updates_moving_stats_inference_does_not():
    layer = BatchNormalization(momentum=0.9, dtype="float64")
    x = RNG.standard_normal((8, 3)) * 3 + 2
    layer(x, training=False)
    np.testing.assert_array_equal(layer.moving_mean.value, 0)
    y = layer(x, training=True)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3))
    np.testing.assert_allclose(layer.moving_mean.value, 0.1 * x.mean(0))
    np.testing.assert_allclose(layer.moving_variance.value, 0.9 + 0.1 * x.var(0))
    mm, mv = layer.moving_mean.value.copy(), layer.moving_variance.value.copy()
    y_inf = layer(x, training=False)
    np.testing.assert_allclose(y_inf, (x - mm) / np.sqrt(mv + 1e-3))
    np.testing.assert_array_equal(layer.moving_mean.value, mm)


def test_frozen_layer_runs_in_inference_mode():
    layer = BatchNormalization(trainable=False, dtype="float64")
    x = RNG.standard_normal((6, 2)) + 5
    y = layer(x, training=True)
    np.testing.assert_allclose(y, x / np.sqrt(1 + 1e-3))
    np.testing.assert_array_equal(layer.moving_mean.value, 0)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("center,scale", [(True, True), (False, True), (True, False)])
def test_gradients_match_finite_differences(training, center, scale):
    layer = BatchNormalization(center=center, scale=scale, momentum=0.5, dtype="float64")
    x = RNG.standard_normal((3, 2, 2, 3))
    layer(x)
    weights = layer.get_weights()
    rng_weights = [RNG.uniform(0.5, 1.5, w.shape) for w in weights]
    layer.set_weights(rng_weights)
    d_out = RNG.standard_normal(x.shape)

    def f():  # keep the moving statistics fixed while differentiating
        snapshot = layer.get_weights()
        y = layer(x, training=training)
        layer.set_weights(snapshot)
        return y

    f()
    dx = layer.backward(d_out)
    np.testing.assert_allclose(dx, numeric_grad(f, x, d_out), rtol=1e-5, atol=1e-8)
    for w in layer.trainable_weights:
        f()
        layer.backward(d_out)
        np.testing.assert_allclose(w.grad, numeric_grad(f, w.value, d_out),
                                   rtol=1e-5, atol=1e-8)
    assert len(layer.trainable_weights) == int(center) + int(scale)


def test_axis_1_on_nchw_equals_channels_last_on_nhwc():
    x = RNG.standard_normal((4, 3, 5, 5))  # NCHW
    cf = BatchNormalization(axis=1, dtype="float64")
    cl = BatchNormalization(dtype="float64")
    df = BatchNormalization(data_format="channels_first", dtype="float64")  # axis -1 -> C
    y = cf(x, training=True)
    y_cl = cl(x.transpose(0, 2, 3, 1), training=True)
    np.testing.assert_allclose(y, y_cl.transpose(0, 3, 1, 2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(df(x, training=True), y, rtol=1e-12, atol=1e-12)
    assert cf.moving_mean.shape == (3,) and df.moving_mean.shape == (3,)
    np.testing.assert_allclose(cf.moving_mean.value, cl.moving_mean.value)
    d = RNG.standard_normal(x.shape)
    np.testing.assert_allclose(cf.backward(d), cl.backward(d.transpose(0, 2, 3, 1))
                               .transpose(0, 3, 1, 2), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(cf.gamma.grad, cl.gamma.grad, rtol=1e-10)


def test_config_roundtrip_and_shapes():
    layer = BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False,
                               gamma_initializer="zeros", name="bn")
    config = layer.get_config()
    clone = BatchNormalization.from_config(config)
    assert clone.get_config() == config
    assert layer.compute_output_shape((None, 3, 4, 4)) == (None, 3, 4, 4)
    out = BatchNormalization()(SymbolicTensor((None, 7, 7, 16)))
    assert out.shape == (None, 7, 7, 16)


def test_errors():
    layer = BatchNormalization()
    layer(np.ones((2, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"expected 3 channels on axis -1.*\(2, 4, 4, 5\)"):
        layer(np.ones((2, 4, 4, 5)))
    with pytest.raises(ValueError, match="axis=0"):
        BatchNormalization(axis=0)(np.ones((2, 3)))
    with pytest.raises(ValueError, match="axis=4"):
        BatchNormalization(axis=4)(np.ones((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="one int"):
        BatchNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match="momentum"):
        BatchNormalization(momentum=2)
    with pytest.raises(ValueError, match="epsilon"):
        BatchNormalization(epsilon=0)
    with pytest.raises(ValueError, match="rank >= 2"):
        BatchNormalization()(np.ones(3))
    with pytest.raises(RuntimeError, match="before"):
        BatchNormalization().backward(np.ones((2, 3)))


def test_channels_first_default_axis_survives_a_model_file(tmp_path):
    # data_format="channels_first" makes the default axis=-1 mean the NCHW channels: the
    # config must keep it, or the loaded model's weights have the wrong shape (W's)
    import npconv

    layer = BatchNormalization(data_format="channels_first")
    assert BatchNormalization.from_config(layer.get_config()).data_format == "channels_first"
    model = npconv.models.Sequential([npconv.Input((6, 4, 4)), layer])
    x = RNG.standard_normal((2, 6, 4, 4)).astype(np.float32)
    model.compile("sgd", "mse")
    model.fit(x, x, epochs=1, verbose=0)  # moving statistics that are not the initial ones
    model.save(tmp_path / "m.keras")
    loaded = npconv.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert "data_format" not in BatchNormalization().get_config()
