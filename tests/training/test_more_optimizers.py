"""Adamax, Adadelta, Lion and Ftrl: Keras 3's rules (keras/src/optimizers/{adamax, adadelta,
lion, ftrl}.py) transcribed line by line as plain float64 loops, against ours over many steps
with the common arguments (weight decay, the three clippings, schedules); Keras's defaults and
names, float32 in place, config and state round trips, a model file resuming mid-training."""

import math

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

import npconv
from npconv.layers.base import Weight
from npconv.training import optimizers, schedules
from tests.training.test_optimizers import grad_sequence, make_weights, run


def _clip(gs, clipnorm=None, clipvalue=None, global_clipnorm=None):
    if clipnorm:
        gs = [g * clipnorm / max(np.sqrt(np.sum(g * g)), clipnorm) for g in gs]
    if global_clipnorm:
        norm = math.sqrt(sum(np.sum(g * g) for g in gs))
        gs = [g * global_clipnorm / max(norm, global_clipnorm) for g in gs]
    if clipvalue:
        gs = [np.clip(g, -clipvalue, clipvalue) for g in gs]
    return gs


def keras_rule(kind, w0s, grads, lr=0.001, weight_decay=None, clipnorm=None, clipvalue=None,
               global_clipnorm=None, **hp):
    """All weights, float64, as Keras's base optimizer (clip, decay) and update_step do it."""
    ws = [w.astype(np.float64).copy() for w in w0s]
    zeros = [np.zeros_like(w) for w in ws]
    s1 = [z.copy() for z in zeros]  # m / accumulated_grad / momentum / accumulator
    s2 = [z.copy() for z in zeros]  # u / accumulated_delta_var / linear
    if kind == "ftrl":
        s1 = [np.full_like(w, hp.get("initial_accumulator_value", 0.1)) for w in ws]
    for iterations, step in enumerate(grads):
        rate = lr(iterations) if callable(lr) else lr
        gs = _clip([g.astype(np.float64) for g in step], clipnorm, clipvalue, global_clipnorm)
        for i, g in enumerate(gs):
            if weight_decay:
                ws[i] = ws[i] - ws[i] * weight_decay * rate
            if kind == "adamax":
                b1, b2, eps = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999), \
                    hp.get("epsilon", 1e-7)
                beta_1_power = b1 ** (iterations + 1)
                s1[i] = s1[i] + (g - s1[i]) * (1 - b1)
                s2[i] = np.maximum(b2 * s2[i], np.abs(g))
                ws[i] = ws[i] - (rate * s1[i]) / ((1 - beta_1_power) * (s2[i] + eps))
            elif kind == "adadelta":
                rho, eps = hp.get("rho", 0.95), hp.get("epsilon", 1e-7)
                s1[i] = rho * s1[i] + (1 - rho) * g * g
                delta = -(np.sqrt(s2[i] + eps) * g) / np.sqrt(s1[i] + eps)
                s2[i] = rho * s2[i] + (1 - rho) * delta * delta
                ws[i] = ws[i] + rate * delta
            elif kind == "lion":
                b1, b2 = hp.get("beta_1", 0.9), hp.get("beta_2", 0.99)
                ws[i] = ws[i] - rate * np.sign(s1[i] * b1 + g * (1 - b1))
                s1[i] = s1[i] * b2 + g * (1 - b2)
            elif kind == "ftrl":
                power = hp.get("learning_rate_power", -0.5)
                l1 = hp.get("l1_regularization_strength", 0.0)
                l2 = hp.get("l2_regularization_strength", 0.0) + hp.get("beta", 0.0) / (2 * rate)
                shrink = hp.get("l2_shrinkage_regularization_strength", 0.0)
                accum, linear = s1[i], s2[i]
                grad_to_use = g + 2 * shrink * ws[i]
                new_accum = accum + g * g
                linear = linear + grad_to_use - (
                    (new_accum ** -power - accum ** -power) / rate) * ws[i]
                quadratic = new_accum ** -power / rate + 2 * l2
                ws[i] = (np.clip(linear, -l1, l1) - linear) / quadratic
                s1[i], s2[i] = new_accum, linear
    return ws


CLASSES = {"adamax": optimizers.Adamax, "adadelta": optimizers.Adadelta,
           "lion": optimizers.Lion, "ftrl": optimizers.Ftrl}
COMMON = [{}, {"weight_decay": 0.05}, {"clipnorm": 0.8}, {"clipvalue": 0.3},
          {"global_clipnorm": 1.2}]
OWN = {
    "adamax": [{"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3}, {"beta_1": 0.0}],
    "adadelta": [{"rho": 0.5, "epsilon": 1e-4}, {"rho": 0.99, "epsilon": 1e-7}],
    "lion": [{"beta_1": 0.5, "beta_2": 0.9}, {"beta_1": 1.0, "beta_2": 0.0}],
    "ftrl": [{"learning_rate_power": -0.3, "initial_accumulator_value": 0.5},
             {"l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02},
             {"l2_shrinkage_regularization_strength": 0.03, "beta": 0.1},
             {"learning_rate_power": 0.0, "initial_accumulator_value": 0.0}],
}
CASES = [(kind, hp) for kind in CLASSES for hp in COMMON + OWN[kind]]


@pytest.mark.parametrize(("kind", "hp"), CASES, ids=[f"{k}-{h}" for k, h in CASES])
def test_update_rule_matches_keras_formula_over_steps(kind, hp):
    rng = np.random.default_rng(len(str(hp)) + len(kind))
    weights = make_weights(rng)
    start = [w.value.copy() for w in weights]
    grads = grad_sequence(rng, weights, 40)
    lr = 1.0 if kind == "adadelta" else 0.05  # Adadelta's steps are small: show them
    final = run(CLASSES[kind](learning_rate=lr, **hp), weights, grads)
    expected = keras_rule(kind, start, grads, lr=lr, **hp)
    for f, e, s in zip(final, expected, start, strict=True):
        np.testing.assert_allclose(f, e, rtol=1e-12, atol=1e-14)
        assert np.max(np.abs(f - s)) > 1e-3  # the weights did move


@pytest.mark.parametrize("kind", list(CLASSES))
def test_schedule_is_evaluated_at_iterations(kind):
    sched = schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    rng = np.random.default_rng(3)
    weights = make_weights(rng)
    start = [w.value.copy() for w in weights]
    grads = grad_sequence(rng, weights, 10)
    final = run(CLASSES[kind](sched), weights, grads)
    expected = keras_rule(kind, start, grads, lr=lambda t: 0.1 * 0.5 ** (t / 3))
    for f, e in zip(final, expected, strict=True):
        np.testing.assert_allclose(f, e, rtol=1e-12, atol=1e-14)


def test_first_steps_by_hand():
    # Adamax t = 1: m = 0.1 g, u = |g|: w -= lr * 0.1 g / (0.1 (|g| + eps))
    g, lr = -0.3, 0.1
    w = Weight("v", np.array([1.0]))
    w.grad = np.array([g])
    optimizers.Adamax(lr).apply_gradients([w])
    assert w.value[0] == pytest.approx(1 - lr * g / (abs(g) + 1e-7), rel=1e-14)
    # Adadelta t = 1: a = 0.05 g^2, delta = sqrt(eps) / sqrt(a + eps) * g
    w = Weight("v", np.array([1.0]))
    w.grad = np.array([g])
    optimizers.Adadelta(1.0).apply_gradients([w])
    a = 0.05 * g * g
    assert w.value[0] == pytest.approx(1 - math.sqrt(1e-7) / math.sqrt(a + 1e-7) * g, rel=1e-14)
    # Lion: m starts at 0, so the first step is -lr * sign(g), whatever |g|
    w = Weight("v", np.array([1.0, 2.0, 3.0]))
    w.grad = np.array([1e-9, -5.0, 0.0])
    opt = optimizers.Lion(0.01)
    opt.apply_gradients([w])
    np.testing.assert_array_equal(w.value, [0.99, 2.01, 3.0])
    np.testing.assert_allclose(opt.get_state()["momentum.0"], [1e-11, -0.05, 0.0], rtol=1e-12)


@pytest.mark.parametrize(("cls", "name", "defaults"), [
    (optimizers.Adamax, "adamax",
     {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    (optimizers.Adadelta, "adadelta", {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7}),
    (optimizers.Lion, "lion", {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99}),
    (optimizers.Ftrl, "ftrl",
     {"learning_rate": 0.001, "learning_rate_power": -0.5, "initial_accumulator_value": 0.1,
      "l1_regularization_strength": 0.0, "l2_regularization_strength": 0.0,
      "l2_shrinkage_regularization_strength": 0.0, "beta": 0.0}),
])
def test_defaults_name_and_get(cls, name, defaults):
    opt = optimizers.get(name)
    assert type(opt) is cls and opt.name == name
    config = opt.get_config()
    assert {k: config[k] for k in defaults} == defaults
    assert config["weight_decay"] is None and config["clipnorm"] is None
    assert type(optimizers.get(cls.__name__)) is cls
    assert getattr(npconv.optimizers, cls.__name__) is cls
    again = cls.from_config(config)
    assert again.get_config() == config
    via_get = optimizers.get({"class_name": cls.__name__, "config": config})
    assert type(via_get) is cls and via_get.get_config() == config


@pytest.mark.parametrize("kind", list(CLASSES))
def test_config_round_trip_with_a_schedule(kind):
    opt = CLASSES[kind](schedules.CosineDecay(0.01, 20), clipnorm=2.0, weight_decay=0.01,
                        name="mine")
    config = opt.get_config()
    assert config["name"] == "mine" and config["clipnorm"] == 2.0
    assert CLASSES[kind].from_config(config).get_config() == config


@pytest.mark.parametrize("kind", list(CLASSES))
def test_float32_stays_float32_in_place_and_tracks_float64(kind):
    rng = np.random.default_rng(4)
    w64 = make_weights(rng)
    w32 = [Weight(w.name, w.value.astype(np.float32)) for w in w64]
    arrays = [w.value for w in w32]
    grads = grad_sequence(rng, w64, 30)
    grads32 = [[g.astype(np.float32) for g in step] for step in grads]
    kept = [g.copy() for g in grads32[-1]]
    f64 = run(CLASSES[kind](0.01), w64, grads)
    opt32 = CLASSES[kind](0.01)
    f32 = run(opt32, w32, grads32)
    for w, arr in zip(w32, arrays, strict=True):
        assert w.value is arr  # updated in place
    for g, k in zip(grads32[-1], kept, strict=True):
        np.testing.assert_array_equal(g, k)  # gradients left alone
    assert all(s.dtype == np.float32 for s in opt32.get_state().values()
               if s.dtype.kind == "f" and s.ndim)
    for a, b in zip(f32, f64, strict=True):
        assert a.dtype == np.float32
        if kind == "lion":  # a sign: a float32 rounding flips a near-zero step now and then
            assert np.mean(np.abs(a - b) < 1e-5) > 0.95
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


SLOTS = {"adamax": ["momentum", "norm"], "adadelta": ["accumulated_delta_var",
                                                      "accumulated_grad"],
         "lion": ["momentum"], "ftrl": ["accumulator", "linear"]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(CLASSES))
def test_state_round_trip_resumes_exactly(kind, dtype):
    rng = np.random.default_rng(5)
    weights = make_weights(rng, dtype)
    grads = grad_sequence(rng, weights, 20)
    opt = CLASSES[kind](0.05, clipvalue=1.5)
    run(opt, weights, grads[:10])
    state = opt.get_state()
    assert sorted(k for k in state if "." in k) == sorted(
        f"{s}.{i}" for s in SLOTS[kind] for i in range(3))
    blob = st_save(state)
    saved = [w.value.copy() for w in weights]
    expected = run(opt, weights, grads[10:])
    restored = [Weight(w.name, v.copy()) for w, v in zip(weights, saved, strict=True)]
    fresh = CLASSES[kind].from_config(opt.get_config())
    fresh.set_state(st_load(blob), restored)
    assert fresh.iterations == 10
    for e, g in zip(expected, run(fresh, restored, grads[10:]), strict=True):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("optimizer", [
    lambda: optimizers.Adamax(learning_rate=0.01),
    lambda: optimizers.Adadelta(learning_rate=1.0, rho=0.9),
    lambda: optimizers.Lion(learning_rate=0.003, weight_decay=0.01),
    lambda: optimizers.Ftrl(learning_rate=0.05, l1_regularization_strength=0.001),
    "adamax", "adadelta", "lion", "ftrl",
])
def test_model_file_resumes_training_exactly(tmp_path, optimizer):
    from tests.test_io import test_training_resumes_exactly

    test_training_resumes_exactly(tmp_path, optimizer if callable(optimizer)
                                  else lambda: optimizers.get(optimizer))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Adamax: expected beta_2 in \[0, 1\]. "
                                         r"Received: beta_2=1.5"):
        optimizers.Adamax(beta_2=1.5)
    with pytest.raises(ValueError, match=r"Adadelta: expected rho in \[0, 1\]. "
                                         r"Received: rho=-0.1"):
        optimizers.Adadelta(rho=-0.1)
    with pytest.raises(ValueError, match=r"Adadelta: expected epsilon to be a number. "
                                         r"Received: epsilon='tiny'"):
        optimizers.Adadelta(epsilon="tiny")
    with pytest.raises(ValueError, match=r"Lion: expected beta_1 in \(0, 1\] .*"
                                         r"Received: beta_1=0"):
        optimizers.Lion(beta_1=0)
    with pytest.raises(ValueError, match=r"Ftrl: expected learning_rate_power <= 0. "
                                         r"Received: learning_rate_power=0.5"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match=r"Ftrl: expected l1_regularization_strength >= 0"):
        optimizers.Ftrl(l1_regularization_strength=-1)
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.Lion(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="unexpected state entry 'velocity.0'"):
        optimizers.Adamax().set_state({"iterations": np.array(1), "velocity.0": np.zeros(2)},
                                      [Weight("w", np.zeros(2))])
    w = Weight("w", np.zeros(2))
    w.grad = np.ones(2)
    with pytest.raises(ValueError, match="Ftrl divides by the learning rate, which is 0"):
        optimizers.Ftrl(0.0).apply_gradients([w])


# Keras 3's optimizers also take use_ema, ema_momentum, ema_overwrite_frequency,
# loss_scale_factor and gradient_accumulation_steps, and their get_config writes them: a Keras
# snippet `Adam(1e-3, use_ema=False)` or a Keras config was a TypeError here.
KERAS_EXTRAS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                "loss_scale_factor": None, "gradient_accumulation_steps": None}


@pytest.mark.parametrize("name", sorted(optimizers._BY_NAME))
def test_keras_ema_free_arguments_are_accepted_and_change_nothing(name):
    cls = optimizers._BY_NAME[name]
    rng = np.random.default_rng(3)
    w_plain, w_extras = make_weights(rng), make_weights(np.random.default_rng(3))
    grads = grad_sequence(rng, w_plain, 4)
    plain = run(cls(learning_rate=0.01), w_plain, grads)
    extras = run(cls(learning_rate=0.01, **KERAS_EXTRAS), w_extras, grads)
    for a, b in zip(plain, extras, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_keras_config_with_the_ema_arguments_loads():
    config = {"name": "adam", "learning_rate": 0.002, "weight_decay": None, "clipnorm": None,
              "global_clipnorm": None, "clipvalue": None, **KERAS_EXTRAS, "beta_1": 0.8,
              "beta_2": 0.99, "epsilon": 1e-07, "amsgrad": False}
    for opt in (optimizers.Adam.from_config(config),
                optimizers.get({"class_name": "Adam", "config": config})):
        assert isinstance(opt, optimizers.Adam)
        assert (opt.learning_rate, opt.beta_1, opt.beta_2) == (0.002, 0.8, 0.99)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"use_ema": True}, ValueError, "SGD: use_ema=True .* not implemented"),
    ({"gradient_accumulation_steps": 4}, ValueError,
     "SGD: gradient_accumulation_steps is not implemented.*Received: "
     "gradient_accumulation_steps=4"),
    ({"loss_scale_factor": 128.0}, ValueError, "SGD: loss_scale_factor is not implemented"),
    ({"momentun": 0.9}, TypeError, r"SGD: unexpected keyword argument\(s\) \['momentun'\]"),
])
def test_keras_arguments_npconv_does_not_implement_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        optimizers.SGD(**kwargs)


ALL_OPTIMIZERS = [optimizers.SGD, optimizers.RMSprop, optimizers.Adam, optimizers.AdamW,
                  optimizers.Adagrad, optimizers.Adadelta, optimizers.Nadam, optimizers.Adamax,
                  optimizers.Lion, optimizers.Ftrl]


@pytest.mark.parametrize("cls", ALL_OPTIMIZERS, ids=lambda c: c.__name__)
def test_a_scalar_weight_steps_as_a_one_element_weight(cls):
    """A 0-d weight (Keras's ``add_weight(shape=())``, a learned temperature) takes the same
    steps as the same value held in shape (1,). Adadelta once raised a TypeError on it: its
    ``np.add`` of a 0-d array returned a NumPy scalar, then used as an ``out=`` buffer."""
    rng = np.random.default_rng(11)
    grads = rng.standard_normal(4)
    scalar, vector = Weight("t", np.array(0.7)), Weight("v", np.array([0.7]))
    for opt, weight, shape in ((cls(0.1), scalar, ()), (cls(0.1), vector, (1,))):
        for g in grads:
            weight.grad = np.full(shape, g)
            opt.apply_gradients([weight])
    assert scalar.value.shape == () and scalar.value.dtype == np.float64
    np.testing.assert_array_equal(scalar.value.reshape(1), vector.value)
    assert scalar.value != 0.7
