"""Nadam: Keras 3's rule (keras/src/optimizers/nadam.py: the momentum schedule
u_t = beta_1 (1 - 0.5 * 0.96^t), its running product u_product, bias-corrected v, epsilon
added to sqrt(v_hat)) against a plain-loop transcription over many steps, with the common
arguments (weight decay, the three clippings, schedules); Keras's defaults, the name "nadam",
config and state round trips (u_product recomputed from iterations on resume)."""

import math

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from npconv.layers.base import Weight
from npconv.training import optimizers, schedules
from tests.training.test_optimizers import grad_sequence, make_weights, run


def keras_nadam(w0s, grads, lr=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
    """All weights, float64, line by line as Keras's Nadam and its base optimizer do it."""
    ws = [w.astype(np.float64).copy() for w in w0s]
    ms = [np.zeros_like(w) for w in ws]
    vs = [np.zeros_like(w) for w in ws]
    u_product = 1.0
    for iterations, step in enumerate(grads):
        rate = lr(iterations) if callable(lr) else lr
        gs = [g.astype(np.float64) for g in step]
        if clipnorm:
            gs = [g * clipnorm / max(np.sqrt(np.sum(g * g)), clipnorm) for g in gs]
        if global_clipnorm:
            norm = math.sqrt(sum(np.sum(g * g) for g in gs))
            gs = [g * global_clipnorm / max(norm, global_clipnorm) for g in gs]
        if clipvalue:
            gs = [np.clip(g, -clipvalue, clipvalue) for g in gs]
        # _backend_update_step: u_product first, once per step
        u_product = u_product * beta_1 * (1.0 - 0.5 * 0.96 ** (iterations + 1))
        for i, g in enumerate(gs):
            if weight_decay:
                ws[i] = ws[i] - ws[i] * weight_decay * rate
            local_step, next_step = iterations + 1, iterations + 2
            u_t = beta_1 * (1.0 - 0.5 * (0.96**local_step))
            u_t_1 = beta_1 * (1.0 - 0.5 * (0.96**next_step))
            u_product_t = u_product
            u_product_t_1 = u_product_t * u_t_1
            beta_2_power = beta_2**local_step
            ms[i] = ms[i] + (g - ms[i]) * (1 - beta_1)
            vs[i] = vs[i] + (g * g - vs[i]) * (1 - beta_2)
            m_hat = u_t_1 * ms[i] / (1 - u_product_t_1) + (1 - u_t) * g / (1 - u_product_t)
            v_hat = vs[i] / (1 - beta_2_power)
            ws[i] = ws[i] - m_hat * rate / (np.sqrt(v_hat) + epsilon)
    return ws


CASES = [
    {},
    {"beta_1": 0.5, "beta_2": 0.9, "epsilon": 1e-3},
    {"beta_1": 0.0},
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
    grads = grad_sequence(rng, weights, 60)
    final = run(optimizers.Nadam(learning_rate=0.05, **hp), weights, grads)
    expected = keras_nadam(start, grads, lr=0.05, **hp)
    for f, e in zip(final, expected, strict=True):
        np.testing.assert_allclose(f, e, rtol=1e-12, atol=1e-14)


def test_schedule_is_evaluated_at_iterations():
    sched = schedules.ExponentialDecay(0.1, decay_steps=3, decay_rate=0.5)
    rng = np.random.default_rng(3)
    weights = make_weights(rng)
    start = [w.value.copy() for w in weights]
    grads = grad_sequence(rng, weights, 10)
    final = run(optimizers.Nadam(sched), weights, grads)
    expected = keras_nadam(start, grads, lr=lambda t: 0.1 * 0.5 ** (t / 3))
    for f, e in zip(final, expected, strict=True):
        np.testing.assert_allclose(f, e, rtol=1e-12, atol=1e-14)


def test_first_step_by_hand():
    # t = 1: u1 = 0.9 (1 - 0.48) = 0.468, u2 = 0.9 (1 - 0.5 * 0.9216) = 0.48528, P1 = u1;
    # m = 0.1 g, v = 0.001 g^2; m_hat = u2 m / (1 - u1 u2) + (1 - u1) g / (1 - u1);
    # v_hat = g^2; w -= lr m_hat / (|g| + eps)
    g, lr = 0.3, 0.1
    u1, u2 = 0.9 * (1 - 0.5 * 0.96), 0.9 * (1 - 0.5 * 0.96**2)
    m_hat = u2 * 0.1 * g / (1 - u1 * u2) + (1 - u1) * g / (1 - u1)
    v_hat = 0.001 * g * g / (1 - 0.999)
    w = Weight("v", np.array([1.0]))
    w.grad = np.array([g])
    opt = optimizers.Nadam(learning_rate=lr)
    opt.apply_gradients([w])
    assert w.value[0] == pytest.approx(1 - lr * m_hat / (math.sqrt(v_hat) + 1e-7), rel=1e-14)
    state = opt.get_state()
    assert sorted(state) == ["iterations", "learning_rate", "momentum.0", "velocity.0"]
    np.testing.assert_allclose(state["momentum.0"], [0.1 * g], rtol=1e-15)


def test_defaults_name_and_get():
    opt = optimizers.get("nadam")
    assert type(opt) is optimizers.Nadam and opt.name == "nadam"
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    assert opt.weight_decay is None and opt.clipnorm is None and opt.clipvalue is None
    assert opt.global_clipnorm is None and opt.iterations == 0
    assert type(optimizers.get("Nadam")) is optimizers.Nadam
    import npconv

    assert npconv.optimizers.Nadam is optimizers.Nadam


def test_float32_stays_float32_and_tracks_float64():
    rng = np.random.default_rng(4)
    w64 = make_weights(rng)
    w32 = [Weight(w.name, w.value.astype(np.float32)) for w in w64]
    grads = grad_sequence(rng, w64, 30)
    grads32 = [[g.astype(np.float32) for g in step] for step in grads]
    f64 = run(optimizers.Nadam(0.01), w64, grads)
    f32 = run(optimizers.Nadam(0.01), w32, grads32)
    for a, b in zip(f32, f64, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_gradients_are_left_alone_and_updates_in_place():
    w = Weight("v", np.ones(3))
    g = np.array([0.5, -2.0, 3.0])
    w.grad = g
    before = w.value
    optimizers.Nadam(0.1, clipvalue=1.0).apply_gradients([w])
    assert w.value is before
    np.testing.assert_array_equal(g, [0.5, -2.0, 3.0])


def test_config_round_trip_with_a_schedule():
    opt = optimizers.Nadam(schedules.CosineDecay(0.01, 20), beta_1=0.8, beta_2=0.99,
                           epsilon=1e-6, clipnorm=2.0, name="nad")
    config = opt.get_config()
    assert (config["beta_1"], config["beta_2"], config["epsilon"]) == (0.8, 0.99, 1e-6)
    again = optimizers.Nadam.from_config(config)
    assert again.get_config() == config
    via_get = optimizers.get({"class_name": "Nadam", "config": config})
    assert type(via_get) is optimizers.Nadam and via_get.get_config() == config


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_round_trip_resumes_exactly(dtype):
    rng = np.random.default_rng(5)
    weights = make_weights(rng, dtype)
    grads = grad_sequence(rng, weights, 20)
    opt = optimizers.Nadam(0.05, beta_1=0.85)
    run(opt, weights, grads[:10])
    state = opt.get_state()
    assert sorted(k for k in state if "." in k) == [
        "momentum.0", "momentum.1", "momentum.2", "velocity.0", "velocity.1", "velocity.2"]
    blob = st_save(state)
    saved = [w.value.copy() for w in weights]
    expected = run(opt, weights, grads[10:])
    restored = [Weight(w.name, v.copy()) for w, v in zip(weights, saved, strict=True)]
    fresh = optimizers.Nadam.from_config(opt.get_config())
    fresh.set_state(st_load(blob), restored)
    assert fresh.iterations == 10
    for e, g in zip(expected, run(fresh, restored, grads[10:]), strict=True):
        np.testing.assert_array_equal(g, e)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Nadam: expected beta_1 in \[0, 1\]. "
                                         r"Received: beta_1=1.5"):
        optimizers.Nadam(beta_1=1.5)
    with pytest.raises(ValueError, match=r"Nadam: expected epsilon to be a number. "
                                         r"Received: epsilon='small'"):
        optimizers.Nadam(epsilon="small")
    with pytest.raises(ValueError, match=r"Nadam: expected learning_rate >= 0"):
        optimizers.Nadam(learning_rate=-1.0)
    with pytest.raises(ValueError, match="only one of clipnorm, clipvalue and global_clipnorm"):
        optimizers.Nadam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="unexpected state entry 'accumulator.0'"):
        optimizers.Nadam().set_state({"iterations": np.array(1), "accumulator.0": np.zeros(2)},
                                     [Weight("w", np.zeros(2))])
