"""PReLU, ELU, GroupNormalization, UnitNormalization, Identity, ActivityRegularization and
AlphaDropout: float64 central finite differences of every backward, naive references,
Keras's argument errors, configs, model files, summary counts, fit in Sequential and
functional models (channels_first too), and the batch split of npconv.models.parallel.
(torch parity: tests/reference/test_new_layers_torch.py.)"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

import npconv
from npconv import _threads, gradient_check, layers
from npconv.layers.base import get_layer_class
from npconv.models import parallel
from npconv.ops.activations import prelu_backward, prelu_forward
from npconv.ops.core import alpha_dropout_backward, alpha_dropout_forward
from npconv.ops.norm import (
    group_norm_backward,
    group_norm_forward,
    unit_norm_backward,
    unit_norm_forward,
)
from tests.finite_differences import central_differences

ALPHA_P = -1.6732632423543772848170429916717 * 1.0507009873554804934193349852946


def _fd_check(forward, backward, inputs, seed=0, eps=1e-6):
    """Every gradient ``backward(d_out, cache)`` returns against central differences of
    ``sum(forward(*inputs) * R)`` w.r.t. each of ``inputs`` (float64 arrays, or None)."""
    out, cache = forward(*inputs)
    r = np.random.default_rng(seed).standard_normal(out.shape)
    grads = backward(r, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for k, (arr, g) in enumerate(zip(inputs, grads, strict=False)):
        if arr is None:
            assert g is None
            continue
        numeric = central_differences(lambda: float(np.sum(forward(*inputs)[0] * r)), arr,
                                      eps)
        np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8, err_msg=f"input {k}")


# ------------------------------------------------------------------ finite differences
@pytest.mark.parametrize("alpha_shape", [(3, 4, 5), (1, 1, 5), (3, 1, 1), (), (5,)])
def test_prelu_op_finite_differences(alpha_shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5))
    alpha = rng.uniform(-0.5, 1, alpha_shape)
    _fd_check(prelu_forward, prelu_backward, [x, alpha])
    y, _ = prelu_forward(x, alpha)
    np.testing.assert_array_equal(y, np.where(x > 0, x, alpha * x))


@pytest.mark.parametrize("shape, groups, axis, affine", [
    ((2, 3, 4, 6), 3, -1, True), ((2, 3, 4, 6), 1, -1, True), ((2, 3, 4, 6), 6, 3, False),
    ((3, 6, 2, 2), 2, 1, True), ((4, 8), 4, -1, True), ((2, 3, 4, 6), 2, 2, True),
    ((2, 5, 4), 2, 2, "gamma only")])
def test_group_norm_op_finite_differences(shape, groups, axis, affine):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape) * 2 + 1
    c = shape[axis]
    gamma = rng.uniform(0.5, 1.5, c) if affine else None
    beta = rng.standard_normal(c) if affine is True else None
    _fd_check(lambda a, g, b: group_norm_forward(a, g, b, groups, axis, 1e-3),
              group_norm_backward, [x, gamma, beta])


def _naive_group_norm(x, gamma, beta, groups, eps):
    """Per sample and group, a loop over both (the reference only): NHWC-like, axis -1."""
    out = np.empty_like(x)
    c = x.shape[-1]
    size = c // groups
    for n in range(x.shape[0]):
        for g in range(groups):
            block = x[n, ..., g * size:(g + 1) * size]
            out[n, ..., g * size:(g + 1) * size] = (
                (block - block.mean()) / np.sqrt(block.var() + eps))
    return out * gamma + beta


def test_group_norm_equals_the_naive_loops_and_keras_special_cases():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 5, 6)) * 3 - 2
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)
    for groups in (1, 2, 3, 6):
        out, _ = group_norm_forward(x, gamma, beta, groups, -1, 1e-3)
        np.testing.assert_allclose(out, _naive_group_norm(x, gamma, beta, groups, 1e-3),
                                   rtol=1e-12, atol=1e-12)
    # groups=1 is LayerNormalization over every non-batch axis (with default weights);
    # groups=-1 one group per channel (instance normalization)
    one = layers.GroupNormalization(1, dtype="float64")(x)
    np.testing.assert_allclose(one, layers.LayerNormalization(axis=[1, 2, 3],
                                                              dtype="float64")(x), atol=1e-12)
    inst = layers.GroupNormalization(-1, dtype="float64")(x)
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(inst, (x - mean) / np.sqrt(var + 1e-3), atol=1e-12)


@pytest.mark.parametrize("axes", [-1, 1, (1, 2), (1, 2, 3)])
def test_unit_norm_op_finite_differences(axes):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4, 2))
    _fd_check(lambda a: unit_norm_forward(a, axes), unit_norm_backward, [x])
    y, _ = unit_norm_forward(x, axes)
    keep = (axes,) if isinstance(axes, int) else axes
    np.testing.assert_allclose(np.sum(y ** 2, axis=keep), 1.0, rtol=1e-12)


def test_unit_norm_below_epsilon_is_a_constant_factor():
    x = np.full((1, 3), 1e-7)  # sum(x**2) = 3e-14 < 1e-12
    _fd_check(lambda a: unit_norm_forward(a), unit_norm_backward, [x], eps=1e-10)
    np.testing.assert_allclose(unit_norm_forward(x)[0], x * 1e6)


def test_alpha_dropout_op_finite_differences_and_formula():
    x = np.random.default_rng(5).standard_normal((4, 3, 5))
    _fd_check(lambda a: alpha_dropout_forward(a, 0.3, True, rng=7), alpha_dropout_backward,
              [x])
    y, cache = alpha_dropout_forward(x, 0.3, True, rng=7)
    mask = np.random.default_rng(7).random(x.shape) >= 0.3
    a = ((1 - 0.3) * (1 + 0.3 * ALPHA_P ** 2)) ** -0.5
    b = -a * ALPHA_P * 0.3
    np.testing.assert_allclose(y, a * np.where(mask, x, ALPHA_P) + b, rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: layers.PReLU(alpha_initializer="random_normal"),
    lambda: layers.PReLU(shared_axes=[1, 2], alpha_initializer="random_normal",
                         alpha_regularizer="l2"),
    lambda: layers.ELU(alpha=0.5),
    lambda: layers.GroupNormalization(2, gamma_initializer="random_normal",
                                      beta_initializer="random_normal"),
    lambda: layers.GroupNormalization(2, axis=1),
    lambda: layers.GroupNormalization(3, data_format="channels_first", center=False),
    lambda: layers.UnitNormalization(axis=[1, 2]),
    lambda: layers.UnitNormalization(data_format="channels_first"),
    lambda: layers.Identity(),
    lambda: layers.ActivityRegularization(l1=0.01, l2=0.02),
    lambda: layers.AlphaDropout(0.2, seed=3),
    lambda: layers.AlphaDropout(0.2, noise_shape=(None, 1, 1, 6)),
])
def test_layer_gradients_finite_differences(make):
    x = np.random.default_rng(6).standard_normal((3, 6, 4, 6))
    report = gradient_check(make(), x, print_fn=None)
    assert report.passed, str(report)


# ------------------------------------------------------------------ Keras's behaviour
def test_prelu_weights_and_keras_defaults():
    x = np.random.default_rng(7).standard_normal((2, 5, 4, 3)).astype(np.float32)
    layer = layers.PReLU()
    np.testing.assert_array_equal(layer(x), np.maximum(x, 0))  # alpha starts at zeros
    assert layer.alpha.shape == (5, 4, 3) and layer.count_params() == 60
    assert [w.name for w in layer.weights] == ["alpha"]
    shared = layers.PReLU(shared_axes=[1, 2])
    shared(x)
    assert shared.alpha.shape == (1, 1, 3)
    assert layers.PReLU(shared_axes=3).build((None, 5, 4, 3)) is None
    shared(np.ones((1, 9, 7, 3)))  # any size on the shared axes
    with pytest.raises(ValueError, match=r"p_re_lu_1: expected an input of shape \(batch, "
                                         r"1, 1, 3\)"):
        shared(np.ones((1, 5, 4, 2)))
    reg = layers.PReLU(alpha_initializer="ones", alpha_regularizer=npconv.regularizers.l2(0.5))
    reg(x)
    np.testing.assert_allclose(reg.losses, [0.5 * 60])


def test_elu_values():
    x = np.array([[-2.0, -0.5, 0.0, 1.5]])
    np.testing.assert_allclose(layers.ELU()(x), [[np.expm1(-2), np.expm1(-0.5), 0, 1.5]],
                               rtol=1e-7)
    np.testing.assert_allclose(layers.ELU(alpha=2.0)(x)[0, 0], 2 * np.expm1(-2), rtol=1e-7)


def test_identity_and_activity_regularization():
    x = np.random.default_rng(8).standard_normal((4, 3)).astype(np.float32)
    ident = layers.Identity()
    assert ident(x) is not None and np.array_equal(ident(x), x)
    np.testing.assert_array_equal(ident.backward(x * 2), x * 2)
    reg = layers.ActivityRegularization(l1=0.1, l2=0.2)
    np.testing.assert_array_equal(reg.forward(x, training=True), x)
    np.testing.assert_allclose(reg.losses, [0.1 * np.abs(x).sum() + 0.2 * (x ** 2).sum()],
                               rtol=1e-6)
    d = np.ones_like(x)
    np.testing.assert_allclose(reg.backward(d), d + 0.1 * np.sign(x) + 0.4 * x, rtol=1e-6)
    assert not reg.splits_batch(True) and not reg.splits_batch(False)
    config = reg.get_config()
    assert config["l1"] == 0.1 and config["l2"] == 0.2 and "activity_regularizer" not in config


def test_activity_regularization_joins_the_training_loss():
    npconv.set_random_seed(2)
    model = npconv.Sequential([layers.Input((3,), dtype="float64"),
                               layers.Dense(4, dtype="float64"),
                               layers.ActivityRegularization(l2=0.05),
                               layers.Dense(2, dtype="float64")])
    model.compile("sgd", "mse")
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    h = model.layers[0](x)
    by_hand = np.mean((model(x) - y) ** 2) + 0.05 * np.sum(h ** 2)
    np.testing.assert_allclose(model.test_on_batch(x, y), by_hand, rtol=1e-12)
    np.testing.assert_allclose(model.train_on_batch(x, y), by_hand, rtol=1e-12)


def test_alpha_dropout_keeps_mean_and_variance_seeds_and_inference():
    x = np.random.default_rng(10).standard_normal((400, 50, 10))
    layer = layers.AlphaDropout(0.2, seed=4)
    np.testing.assert_array_equal(layer(x), x)  # a direct call: inference
    y = layer.forward(x, training=True)
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
    a = (0.8 * (1 + 0.2 * ALPHA_P ** 2)) ** -0.5
    dropped = a * ALPHA_P - a * ALPHA_P * 0.2  # a * alpha_p + b
    assert abs(np.mean(np.isclose(y, dropped, rtol=1e-12)) - 0.2) < 0.005
    np.testing.assert_array_equal(layers.AlphaDropout(0.2, seed=4).forward(x, training=True), y)
    npconv.set_random_seed(1)
    a = layers.AlphaDropout(0.5).forward(x, training=True)
    npconv.set_random_seed(1)
    np.testing.assert_array_equal(layers.AlphaDropout(0.5).forward(x, training=True), a)
    np.testing.assert_array_equal(layers.AlphaDropout(0.0).forward(x, training=True), x)
    channels = layers.AlphaDropout(0.5, noise_shape=(None, 1, 10), seed=0)
    z = channels.forward(x[:4], training=True)
    a5 = (0.5 * (1 + 0.5 * ALPHA_P ** 2)) ** -0.5
    dropped = np.isclose(z, a5 * ALPHA_P * 0.5, rtol=1e-12)  # a * alpha_p + b
    assert np.all(dropped == dropped[:, :1]) and 0 < dropped.mean() < 1  # one mask per row
    f32 = layers.AlphaDropout(0.1)(np.ones((2, 3), np.float32), training=True)
    assert f32.dtype == np.float32
    assert layer.splits_batch(False) and not layer.splits_batch(True)


def test_argument_errors_name_the_layer():
    # (constraints are supported now: an unknown one is the error)
    with pytest.raises(ValueError, match=r"PReLU: alpha_constraint: .*unknown constraint"):
        layers.PReLU(alpha_constraint="positive", name="PReLU")
    with pytest.raises(ValueError, match=r"shared_axes to be distinct ints >= 1.*"
                                         r"Received: shared_axes=\[0\]"):
        layers.PReLU(shared_axes=[0])
    with pytest.raises(ValueError, match=r"shared_axes=\[4\] must name axes of the 4-D"):
        layers.PReLU(shared_axes=4)(np.ones((1, 2, 2, 2)))
    with pytest.raises(TypeError, match="PReLU takes no data_format"):
        layers.PReLU(data_format="channels_first")
    with pytest.raises(ValueError, match=r"alpha to be a finite number. Received: alpha='x'"):
        layers.ELU(alpha="x")
    with pytest.raises(ValueError, match=r"groups to be an int >= 1, or -1.*groups=0"):
        layers.GroupNormalization(groups=0)
    with pytest.raises(ValueError, match=r"number of groups \(32\) cannot be more than the "
                                         r"number of channels \(6\)"):
        layers.GroupNormalization()(np.ones((2, 6)))
    with pytest.raises(ValueError, match=r"number of groups \(4\) must divide the number of "
                                         r"channels \(6\)"):
        layers.GroupNormalization(4)(np.ones((2, 6)))
    with pytest.raises(ValueError, match=r"axis=0 must name a non-batch axis"):
        layers.GroupNormalization(2, axis=0)(np.ones((2, 6)))
    with pytest.raises(ValueError, match="epsilon > 0"):
        layers.GroupNormalization(2, epsilon=0)
    with pytest.raises(ValueError, match="gamma_constraint: .*unknown constraint 'positive'"):
        layers.GroupNormalization(2, gamma_constraint="positive")
    built = layers.GroupNormalization(2)
    built(np.ones((2, 6)))
    with pytest.raises(ValueError, match=r"expected 6 channels on axis -1"):
        built(np.ones((2, 4)))
    with pytest.raises(TypeError, match=r"expected an int or a list/tuple of distinct ints. "
                                        r"Received: axis='a'"):
        layers.UnitNormalization(axis="a")  # (Keras: TypeError too)
    with pytest.raises(ValueError, match=r"axis=3 must name distinct non-batch axes"):
        layers.UnitNormalization(axis=3)(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"AlphaDropout: expected rate to be a number in "
                                         r"\[0, 1\). Received: rate=1"):
        layers.AlphaDropout(1)
    with pytest.raises(ValueError, match=r"ActivityRegularization: .*l1.*Received: l1=-1"):
        layers.ActivityRegularization(l1=-1)


LAYERS = [
    lambda: layers.PReLU(shared_axes=[1, 2], alpha_initializer="ones",
                         alpha_regularizer="l2"),
    lambda: layers.ELU(alpha=0.4),
    lambda: layers.GroupNormalization(2, axis=1, epsilon=1e-5, center=False,
                                      gamma_regularizer="l1"),
    lambda: layers.UnitNormalization(axis=[1, 2]),
    lambda: layers.Identity(name="skip"),
    lambda: layers.ActivityRegularization(l2=0.01),
    lambda: layers.AlphaDropout(0.1, noise_shape=(None, 1, 1, 3), seed=2),
]


@pytest.mark.parametrize("make", LAYERS)
def test_get_config_round_trips_through_json(make):
    layer = make()
    config = json.loads(json.dumps(layer.get_config()))
    clone = get_layer_class(type(layer).__name__).from_config(config)
    assert clone.get_config() == json.loads(json.dumps(layer.get_config()))


def test_keras_configs_with_none_constraints_load():
    assert layers.PReLU.from_config({"alpha_constraint": None, "shared_axes": [1, 2],
                                     "alpha_initializer": "zeros",
                                     "alpha_regularizer": None}).shared_axes == [1, 2]
    layers.GroupNormalization.from_config({"groups": 4, "beta_constraint": None,
                                           "gamma_constraint": None})


def _cnn(x_shape, channels_first=False):
    npconv.set_random_seed(5)
    fmt = "channels_first" if channels_first else "channels_last"
    inp = npconv.Input(x_shape)
    h = layers.Conv2D(6, 3, padding="same", data_format=fmt)(inp)
    h = layers.GroupNormalization(3, axis=1 if channels_first else -1)(h)
    h = layers.PReLU(shared_axes=[2, 3] if channels_first else [1, 2])(h)
    h = layers.ELU()(h)
    h = layers.UnitNormalization(axis=1 if channels_first else -1)(h)
    h = layers.Identity()(h)
    h = layers.Flatten()(h)
    out = layers.Dense(3, activation="softmax")(h)
    return npconv.Model(inp, out)


@pytest.mark.parametrize("channels_first", [False, True])
def test_functional_fit_save_load_and_summary(tmp_path, channels_first):
    shape = (2, 6, 6) if channels_first else (6, 6, 2)
    model = _cnn(shape, channels_first)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((24, *shape)).astype(np.float32)
    y = rng.integers(0, 3, 24)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    prelu_row = next(line for line in text.splitlines() if "p_re_lu" in line)
    group_row = next(line for line in text.splitlines() if "group_normalization" in line)
    assert prelu_row.split()[-1] == "6" and group_row.split()[-1] == "12"
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = npconv.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_sequential_fit_with_every_new_layer(tmp_path):
    npconv.set_random_seed(6)
    model = npconv.Sequential([
        layers.Input((6, 6, 3)), layers.Conv2D(4, 3, activation="selu"),
        layers.AlphaDropout(0.1, seed=1), layers.GroupNormalization(2),
        layers.PReLU(), layers.ActivityRegularization(l1=1e-4), layers.Flatten(),
        layers.Dense(2, activation="softmax")])
    rng = np.random.default_rng(12)
    x = rng.standard_normal((16, 6, 6, 3)).astype(np.float32)
    y = rng.integers(0, 2, 16)
    model.compile("sgd", "sparse_categorical_crossentropy")
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(),
                                                        strict=True))
    model.save(tmp_path / "s.keras")
    loaded = npconv.models.load_model(tmp_path / "s.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------------ the batch split
def test_which_layers_split_a_batch():
    for layer in (layers.PReLU(), layers.ELU(), layers.GroupNormalization(2),
                  layers.UnitNormalization(), layers.Identity()):
        assert layer.splits_batch(True) and layer.splits_batch(False), layer.name
    assert not layers.AlphaDropout(0.2).splits_batch(True)
    assert layers.AlphaDropout(0.2).splits_batch(False)
    assert not layers.ActivityRegularization(0.1).splits_batch(False)


@pytest.mark.skipif(not _threads._blas_controller(), reason="batches never split here")
@pytest.mark.parametrize("backend", ["threads", "processes"])
@pytest.mark.parametrize("channels_first", [False, True])
def test_a_split_batch_gives_the_one_piece_numbers(monkeypatch, channels_first, backend):
    """Threads, and helper processes (which rebuild the model from its config)."""
    from npconv import _workers

    if backend == "threads":
        monkeypatch.setattr(_workers, "ready_workers", lambda count: None)
    elif not _workers.available():
        pytest.skip("no helper processes here")
    before = _threads._requested
    try:
        shape = (2, 6, 6) if channels_first else (6, 6, 2)
        model = _cnn(shape, channels_first)
        x = np.random.default_rng(13).standard_normal((32, *shape)).astype(np.float32)
        d = np.random.default_rng(14).standard_normal((32, 3)).astype(np.float32)
        runs = []
        for threads in (1, 2):
            npconv.set_num_threads(threads)
            if backend == "processes" and threads == 2:
                deadline = time.monotonic() + 60
                while _workers.ready_workers(1) is None:
                    assert time.monotonic() < deadline, "npconv helper processes did not start"
                    time.sleep(0.02)
            out = model.forward(x, training=True)
            dx = model.backward(d, need_input_grad=True)
            runs.append((out, dx, [w.grad.copy() for w in model.trainable_weights],
                         model._parallel_run))
        assert runs[0][3] is None and runs[1][3] is not None, "expected the batch in parts"
        expected = parallel.ProcessRun if backend == "processes" else parallel.ParallelRun
        assert isinstance(runs[1][3], expected)
        for a, b in zip(runs[0][:2] + tuple(runs[0][2]), runs[1][:2] + tuple(runs[1][2]),
                        strict=True):
            scale = max(float(np.max(np.abs(a))), 1e-30)
            np.testing.assert_allclose(a / scale, b / scale, rtol=2e-6, atol=2e-6)
    finally:
        _threads._requested = before


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_twice_same_gradients_inputs_unchanged_and_dtype(make, dtype):
    rng = np.random.default_rng(15)
    x = rng.standard_normal((3, 4, 5, 3)).astype(dtype)
    d = rng.standard_normal(x.shape).astype(dtype)
    x0, d0 = x.copy(), d.copy()
    layer = make()
    y = layer.forward(x, training=True)
    first = layer.backward(d)
    grads = [None if w.grad is None else w.grad.copy() for w in layer.trainable_weights]
    second = layer.backward(d)
    np.testing.assert_array_equal(first, second)
    for g, w in zip(grads, layer.trainable_weights, strict=True):
        np.testing.assert_array_equal(g, w.grad)
        assert w.grad.dtype == w.value.dtype
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(d, d0)
    assert y.dtype == dtype and first.dtype == dtype


def test_group_norm_channels_first_default_axis_survives_a_model_file(tmp_path):
    # data_format="channels_first" makes the default axis=-1 mean the NCHW channels: the
    # config must keep it, or the loaded layer normalises over W (or cannot be built)
    npconv.set_random_seed(3)
    layer = layers.GroupNormalization(3, data_format="channels_first")
    assert layers.GroupNormalization.from_config(layer.get_config()).data_format == \
        "channels_first"
    model = npconv.models.Sequential([npconv.Input((6, 4, 4)), layer])
    x = np.random.default_rng(0).standard_normal((2, 6, 4, 4)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    loaded = npconv.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # a channels_last layer's config stays Keras's (no data_format key)
    assert "data_format" not in layers.GroupNormalization(3).get_config()


def test_group_norm_input_of_another_rank_after_build_names_the_layer():
    layer = layers.GroupNormalization(2, name="gn")
    layer(np.zeros((2, 3, 3, 6), np.float32))
    with pytest.raises(ValueError, match=r"gn: expected a 4-D input.*\(2, 6\)"):
        layer(np.zeros((2, 6), np.float32))


def test_alpha_dropout_noise_shape_errors_name_the_layer():
    with pytest.raises(ValueError, match=r"ad: expected noise_shape to be a list or tuple of "
                                         r"None or ints >= 1\. Received: noise_shape=5"):
        layers.AlphaDropout(0.1, noise_shape=5, name="ad")
    layer = layers.AlphaDropout(0.1, noise_shape=(None, 2, 1, 1), name="ad2")
    with pytest.raises(ValueError, match=r"ad2: expected noise_shape .* to broadcast to the "
                                         r"input's shape \(2, 3, 3, 1\)"):
        layer(np.zeros((2, 3, 3, 1), np.float32), training=True)
    with pytest.raises(ValueError, match=r"^alpha_dropout: expected noise_shape"):
        alpha_dropout_forward(np.zeros((2, 3)), 0.5, True, 0, (2, 2))
