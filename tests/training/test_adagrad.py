"""Adagrad: Keras 3's rule (keras/src/optimizers/adagrad.py: accumulator starts at
initial_accumulator_value, a += g^2, w -= lr * g / sqrt(a + epsilon)) against a plain-loop
transcription over many steps, with the common arguments (weight decay, the three clippings,
schedules); Keras's defaults, the name "adagrad", config and state round trips."""

import math

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from npconv.layers.base import Weight
from npconv.training import optimizers, schedules
from tests.training.test_optimizers import grad_sequence, make_weights, run


def keras_adagrad(w0s, grads, lr=0.01, initial_accumulator_value=0.1, epsilon=1e-7,
                  weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """All weights, float64, in the order Keras's base optimizer applies things."""
    ws = [w.astype(np.float64).copy() for w in w0s]
    accs = [np.full_like(w, initial_accumulator_value) for w in ws]
    for t, step in enumerate(grads):
        rate = lr(t) if callable(lr) else lr
        gs = [g.astype(np.float64) for g in step]
        if clipnorm:
            gs = [g * clipnorm / max(np.sqrt(np.sum(g * g)), clipnorm) for g in gs]
        if global_clipnorm:
            norm = math.sqrt(sum(np.sum(g * g) for g in gs))
            gs = [g * global_clipnorm / max(norm, global_clipnorm) for g in gs]
        if clipvalue:
            gs = [np.clip(g, -clipvalue, clipvalue) for g in gs]
        for i, g in enumerate(gs):
            if weight_decay:
                ws[i] = ws[i] - ws[i] * weight_decay * rate
            accs[i] = accs[i] + g * g
            ws[i] = ws[i] - rate * g / np.sqrt(accs[i] + epsilon)
    return ws


CASES = [
    {},
    {"initial_accumulator_value": 0.0, "epsilon": 1e-3},
    {"initial_accumulator_value": 2.5},
    {"weight_decay": 0.05},
    {"clipnorm": 0.8},
    {"clipvalue": 0.3},
    {"global_clipnorm": 1.2},
]


@pytest.mark.parametrize("hp", CASES, ids=[str(c) for c in CASES])
def test_update_rule_matches_keras_formula_over_steps(hp):
    rng = np.random.default_rng(len(str(hp)))
    weights = make_weights(rng)
    start = [w.value.copy() for w in weights]
    grads = grad_sequence(rng, weights, 25)
    final = run(optimizers.Adagrad(learning_rate=0.05, **hp), weights, grads)
    expected = keras_adagrad(start, grads, lr=0.05, **hp)
    for f, e in zip(final, expected, strict=True):
        np.testing.assert_allclose(f, e, rtol=1e-12, atol=1e-14)


def test_schedule_is_evaluated_at_iterations():
    sched = schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    rng = np.random.default_rng(3)
    weights = make_weights(rng)
    start = [w.value.copy() for w in weights]
    grads = grad_sequence(rng, weights, 10)
    final = run(optimizers.Adagrad(sched), weights, grads)
    expected = keras_adagrad(start, grads, lr=lambda t: 0.1 * 0.5 ** (t / 3))
    for f, e in zip(final, expected, strict=True):
        np.testing.assert_allclose(f, e, rtol=1e-12, atol=1e-14)


def test_first_step_by_hand():
    # a = 0.1 + 0.3^2 = 0.19; w = 1 - 0.1 * 0.3 / sqrt(0.19 + 1e-7)
    w = Weight("v", np.array([1.0]))
    w.grad = np.array([0.3])
    opt = optimizers.Adagrad(learning_rate=0.1)
    opt.apply_gradients([w])
    assert w.value[0] == pytest.approx(1 - 0.03 / math.sqrt(0.19 + 1e-7), rel=1e-15)
    np.testing.assert_allclose(opt.get_state()["accumulator.0"], [0.19], rtol=1e-15)


def test_defaults_name_and_get():
    opt = optimizers.get("adagrad")
    assert type(opt) is optimizers.Adagrad and opt.name == "adagrad"
    assert (opt.learning_rate, opt.initial_accumulator_value, opt.epsilon) == (0.001, 0.1, 1e-7)
    assert opt.weight_decay is None and opt.clipnorm is None and opt.clipvalue is None
    assert opt.global_clipnorm is None and opt.iterations == 0
    assert type(optimizers.get("Adagrad")) is optimizers.Adagrad
    import npconv

    assert npconv.optimizers.Adagrad is optimizers.Adagrad


def test_float32_stays_float32_and_tracks_float64():
    rng = np.random.default_rng(4)
    w64 = make_weights(rng)
    w32 = [Weight(w.name, w.value.astype(np.float32)) for w in w64]
    grads = grad_sequence(rng, w64, 15)
    grads32 = [[g.astype(np.float32) for g in step] for step in grads]
    f64 = run(optimizers.Adagrad(0.05), w64, grads)
    f32 = run(optimizers.Adagrad(0.05), w32, grads32)
    for a, b in zip(f32, f64, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_gradients_are_left_alone_and_updates_in_place():
    w = Weight("v", np.ones(3))
    g = np.array([0.5, -2.0, 3.0])
    w.grad = g
    before = w.value
    optimizers.Adagrad(0.1, clipvalue=1.0).apply_gradients([w])
    assert w.value is before
    np.testing.assert_array_equal(g, [0.5, -2.0, 3.0])


def test_config_round_trip_with_a_schedule():
    opt = optimizers.Adagrad(schedules.CosineDecay(0.01, 20), initial_accumulator_value=0.5,
                             epsilon=1e-6, clipnorm=2.0, name="ada")
    config = opt.get_config()
    assert config["initial_accumulator_value"] == 0.5 and config["epsilon"] == 1e-6
    again = optimizers.Adagrad.from_config(config)
    assert again.get_config() == config
    via_get = optimizers.get({"class_name": "Adagrad", "config": config})
    assert type(via_get) is optimizers.Adagrad and via_get.get_config() == config


def test_state_round_trip_resumes_exactly():
    rng = np.random.default_rng(5)
    weights = make_weights(rng, np.float32)
    grads = grad_sequence(rng, weights, 20)
    opt = optimizers.Adagrad(0.05, initial_accumulator_value=0.2)
    run(opt, weights, grads[:10])
    state = opt.get_state()
    assert sorted(k for k in state if k.startswith("accumulator")) == [
        "accumulator.0", "accumulator.1", "accumulator.2"]
    blob = st_save(state)
    saved = [w.value.copy() for w in weights]
    expected = run(opt, weights, grads[10:])
    restored = [Weight(w.name, v.copy()) for w, v in zip(weights, saved, strict=True)]
    fresh = optimizers.Adagrad.from_config(opt.get_config())
    fresh.set_state(st_load(blob), restored)
    assert fresh.iterations == 10
    for e, g in zip(expected, run(fresh, restored, grads[10:]), strict=True):
        np.testing.assert_array_equal(g, e)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Adagrad: expected initial_accumulator_value >= 0. "
                                         r"Received: initial_accumulator_value=-0.1"):
        optimizers.Adagrad(initial_accumulator_value=-0.1)
    with pytest.raises(ValueError, match=r"Adagrad: expected epsilon to be a number. "
                                         r"Received: epsilon='small'"):
        optimizers.Adagrad(epsilon="small")
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.Adagrad(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="unexpected state entry 'velocity.0'"):
        optimizers.Adagrad().set_state({"iterations": np.array(1), "velocity.0": np.zeros(2)},
                                       [Weight("w", np.zeros(2))])
