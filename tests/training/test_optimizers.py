"""Optimizers and schedules: Keras's documented examples, plain-loop twins of Keras's update
rules, clipping, weight decay, schedules vs closed forms, exact resume through safetensors."""

import math

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from npconv.layers.base import Weight
from npconv.training import optimizers, schedules


def make_weights(rng, dtype=np.float64, shapes=((3, 4), (4,), (2, 2, 3))):
    return [Weight(f"w{i}", rng.normal(size=s).astype(dtype)) for i, s in enumerate(shapes)]


def grad_sequence(rng, weights, steps):
    return [[rng.normal(size=w.shape).astype(w.value.dtype) for w in weights]
            for _ in range(steps)]


def run(opt, weights, grads):
    for step in grads:
        for w, g in zip(weights, step, strict=True):
            w.grad = g
        opt.apply_gradients(weights)
    return [w.value.copy() for w in weights]


# --------------------------------------------------- twins written from Keras's source
def keras_twin(kind, w0, grads, lr=0.01, **hp):
    """One weight, plain float64 scalars-and-arrays transcription of keras/src/optimizers."""
    w = w0.astype(np.float64).copy()
    zeros = np.zeros_like(w)
    m, v, a, vhat = zeros.copy(), zeros.copy(), zeros.copy(), zeros.copy()
    wd = hp.get("weight_decay")
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        if hp.get("clipnorm"):
            c = hp["clipnorm"]
            g = g * c / max(np.sqrt(np.sum(g * g)), c)
        if hp.get("clipvalue"):
            g = np.clip(g, -hp["clipvalue"], hp["clipvalue"])
        if wd:
            w = w - w * wd * lr
        if kind == "sgd":
            mom = hp.get("momentum", 0.0)
            if mom:
                m = mom * m - lr * g
                w = w + (mom * m - lr * g if hp.get("nesterov") else m)
            else:
                w = w - lr * g
        elif kind == "rmsprop":
            rho, eps, mom = hp.get("rho", 0.9), hp.get("epsilon", 1e-7), hp.get("momentum", 0.0)
            v = rho * v + (1 - rho) * g * g
            if hp.get("centered"):
                a = rho * a + (1 - rho) * g
                inc = lr * g / np.sqrt(v - a * a + eps)
            else:
                inc = lr * g / np.sqrt(v + eps)
            if mom:
                m = mom * m + inc
                w = w - m
            else:
                w = w - inc
        elif kind == "adam":
            b1, b2, eps = hp.get("beta_1", 0.9), hp.get("beta_2", 0.999), hp.get("epsilon", 1e-7)
            alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            m = m + (g - m) * (1 - b1)
            v = v + (g * g - v) * (1 - b2)
            if hp.get("amsgrad"):
                vhat = np.maximum(vhat, v)
                w = w - m * alpha / (np.sqrt(vhat) + eps)
            else:
                w = w - m * alpha / (np.sqrt(v) + eps)
    return w


TWIN_CASES = [
    ("sgd", optimizers.SGD, {}),
    ("sgd", optimizers.SGD, {"momentum": 0.9}),
    ("sgd", optimizers.SGD, {"momentum": 0.8, "nesterov": True}),
    ("sgd", optimizers.SGD, {"momentum": 0.5, "weight_decay": 0.1}),
    ("rmsprop", optimizers.RMSprop, {}),
    ("rmsprop", optimizers.RMSprop, {"momentum": 0.7, "rho": 0.8}),
    ("rmsprop", optimizers.RMSprop, {"centered": True}),
    ("rmsprop", optimizers.RMSprop, {"centered": True, "momentum": 0.5, "epsilon": 1e-3}),
    ("adam", optimizers.Adam, {}),
    ("adam", optimizers.Adam, {"amsgrad": True, "beta_1": 0.8}),
    ("adam", optimizers.Adam, {"weight_decay": 0.05, "clipnorm": 0.5}),
    ("adam", optimizers.AdamW, {"weight_decay": 0.004}),
    ("sgd", optimizers.SGD, {"momentum": 0.9, "clipvalue": 0.3}),
]


@pytest.mark.parametrize("kind,cls,hp", TWIN_CASES, ids=[f"{c[1].__name__}-{c[2]}"
                                                          for c in TWIN_CASES])
def test_update_rules_match_keras_formulas(kind, cls, hp):
    rng = np.random.default_rng(len(str(hp)))
    weights = make_weights(rng)
    start = [w.value.copy() for w in weights]
    grads = grad_sequence(rng, weights, 20)
    lr = 0.05
    final = run(cls(learning_rate=lr, **hp), weights, grads)
    for i, w0 in enumerate(start):
        expected = keras_twin(kind, w0, [step[i] for step in grads], lr=lr, **hp)
        np.testing.assert_allclose(final[i], expected, rtol=1e-12, atol=1e-14)


def test_keras_documented_examples():
    # keras/src/optimizers/rmsprop.py docstring: var 10, loss var^2 / 2, lr 0.1 -> 9.683772
    w = Weight("v", np.array([10.0], dtype=np.float32))
    w.grad = w.value.copy()
    optimizers.RMSprop(learning_rate=0.1).apply_gradients([w])
    assert w.value[0] == pytest.approx(9.683772, abs=1e-6)
    # Adam's first step moves each weight by lr (bias-corrected m / sqrt(v) = sign(g))
    w = Weight("v", np.array([10.0, -3.0]))
    w.grad = w.value.copy()
    optimizers.Adam(learning_rate=0.1).apply_gradients([w])
    np.testing.assert_allclose(w.value, [9.9, -2.9], rtol=1e-6)
    # SGD: w -= lr * g
    w = Weight("v", np.array([1.0]))
    w.grad = np.array([1.0])
    optimizers.SGD(learning_rate=0.1).apply_gradients([w])
    assert w.value[0] == pytest.approx(0.9)


def test_defaults_are_keras_3s():
    sgd, rms, adam, adamw = (optimizers.get(n) for n in ("SGD", "rmsprop", "Adam", "adamw"))
    assert (sgd.learning_rate, sgd.momentum, sgd.nesterov, sgd.name) == (0.01, 0.0, False, "SGD")
    assert (rms.learning_rate, rms.rho, rms.momentum, rms.epsilon, rms.centered) == (
        0.001, 0.9, 0.0, 1e-7, False)
    assert (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon, adam.amsgrad) == (
        0.001, 0.9, 0.999, 1e-7, False)
    assert adam.weight_decay is None and adamw.weight_decay == 0.004
    for opt in (sgd, rms, adam, adamw):
        assert opt.clipnorm is None and opt.clipvalue is None and opt.global_clipnorm is None
        assert opt.iterations == 0


# ---------------------------------------------------------------- clipping, decay
def test_clipping_matches_keras_formulas_and_leaves_grads_alone():
    g = [np.array([3.0, 4.0]), np.array([[12.0]])]  # norms 5 and 12, global norm 13
    for kwargs, expected in [
        ({"clipnorm": 2.0}, [g[0] * 2 / 5, g[1] * 2 / 12]),
        ({"clipnorm": 100.0}, g),
        ({"global_clipnorm": 6.5}, [g[0] / 2, g[1] / 2]),
        ({"global_clipnorm": 100.0}, g),
        ({"clipvalue": 3.5}, [np.array([3.0, 3.5]), np.array([[3.5]])]),
    ]:
        weights = [Weight("a", np.zeros(2)), Weight("b", np.zeros((1, 1)))]
        for w, gi in zip(weights, g, strict=True):
            w.grad = gi.copy()
        optimizers.SGD(learning_rate=1.0, **kwargs).apply_gradients(weights)
        for w, e, gi in zip(weights, expected, g, strict=True):
            np.testing.assert_allclose(w.value, -e, rtol=1e-12, err_msg=str(kwargs))
            np.testing.assert_array_equal(w.grad, gi)  # the gradient itself is not clipped
    with pytest.raises(ValueError, match="only one of clipnorm"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)


def test_decoupled_weight_decay_uses_the_current_learning_rate():
    w = Weight("w", np.array([2.0]))
    w.grad = np.array([0.0])
    opt = optimizers.SGD(learning_rate=0.1, weight_decay=0.5)
    opt.apply_gradients([w])
    assert w.value[0] == pytest.approx(2.0 - 0.1 * 0.5 * 2.0)
    with pytest.raises(ValueError, match="AdamW.*weight_decay"):
        optimizers.AdamW(weight_decay=None)


def test_skips_frozen_and_gradless_weights_and_counts_iterations():
    rng = np.random.default_rng(3)
    a, b, c = make_weights(rng)
    a.grad, b.grad, c.grad = np.ones(a.shape), None, np.ones(c.shape)
    c.trainable = False
    b0, c0 = b.value.copy(), c.value.copy()
    opt = optimizers.Adam()
    assert opt.apply_gradients([a, b, c]) == 1
    np.testing.assert_array_equal(b.value, b0)
    np.testing.assert_array_equal(c.value, c0)
    assert set(opt.get_state()) == {"iterations", "learning_rate", "momentum.0", "velocity.0"}
    a.grad = None
    with pytest.raises(ValueError, match="no gradients"):
        opt.apply_gradients([a, b, c])
    a.grad = np.ones((2, 2))
    with pytest.raises(ValueError, match="shape"):
        opt.apply_gradients([a])
    # Keras's (grad, variable) pairs work too
    opt.apply_gradients([(np.ones(a.shape), a)])
    assert opt.iterations == 2


@pytest.mark.parametrize("cls,hp", [(optimizers.SGD, {"momentum": 0.9, "nesterov": True}),
                                    (optimizers.RMSprop, {"centered": True, "momentum": 0.5}),
                                    (optimizers.Adam, {"amsgrad": True}),
                                    (optimizers.AdamW, {"global_clipnorm": 1.0})])
def test_float32_stays_float32_and_tracks_float64(cls, hp):
    rng = np.random.default_rng(4)
    w32 = make_weights(rng, np.float32)
    w64 = [Weight(w.name, w.value.astype(np.float64)) for w in w32]
    grads = grad_sequence(rng, w32, 20)
    opt32 = cls(learning_rate=0.01, **hp)
    run(opt32, w32, grads)
    run(cls(learning_rate=0.01, **hp), w64, [[g.astype(np.float64) for g in s] for s in grads])
    for a, b in zip(w32, w64, strict=True):
        assert a.value.dtype == np.float32
        np.testing.assert_allclose(a.value, b.value, rtol=1e-4, atol=1e-5)
    assert all(v.dtype == np.float32 for k, v in opt32.get_state().items()
               if k not in ("iterations", "learning_rate"))


def test_updates_are_in_place():
    w = Weight("w", np.ones(3, dtype=np.float32))
    before = w.value
    w.grad = np.ones(3, dtype=np.float32)
    optimizers.Adam().apply_gradients([w])
    assert w.value is before


# -------------------------------------------------------------- state and config
@pytest.mark.parametrize("cls,hp", [(optimizers.SGD, {"momentum": 0.9}),
                                    (optimizers.RMSprop, {"centered": True, "momentum": 0.3}),
                                    (optimizers.Adam, {"amsgrad": True}),
                                    (optimizers.AdamW, {}),
                                    (optimizers.Adam, {"learning_rate": schedules.CosineDecay(
                                        0.01, 15, warmup_target=0.05, warmup_steps=3)})])
def test_state_round_trip_resumes_exactly(cls, hp):
    rng = np.random.default_rng(5)
    weights = make_weights(rng, np.float32)
    grads = grad_sequence(rng, weights, 20)
    opt = cls(**hp)
    run(opt, weights, grads[:10])
    blob = st_save(opt.get_state())  # what a checkpoint file holds
    saved_values = [w.value.copy() for w in weights]
    expected = run(opt, weights, grads[10:])

    restored_weights = [Weight(w.name, v.copy()) for w, v in zip(weights, saved_values,
                                                                strict=True)]
    fresh = cls.from_config(opt.get_config())
    fresh.set_state(st_load(blob), restored_weights)
    assert fresh.iterations == 10
    got = run(fresh, restored_weights, grads[10:])
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(g, e)


def test_state_keeps_a_changed_learning_rate_and_checks_shapes():
    rng = np.random.default_rng(6)
    weights = make_weights(rng)
    opt = optimizers.SGD(momentum=0.9)
    run(opt, weights, grad_sequence(rng, weights, 2))
    opt.learning_rate = 0.123  # e.g. by ReduceLROnPlateau
    other = optimizers.SGD(momentum=0.9)
    other.set_state(opt.get_state(), weights)
    assert other.learning_rate == 0.123 and other.iterations == 2
    with pytest.raises(ValueError, match="momentum.0.*shape"):
        optimizers.SGD(momentum=0.9).set_state(opt.get_state(), weights[::-1])
    with pytest.raises(ValueError, match="unexpected state entry 'velocity.0'"):
        optimizers.SGD(momentum=0.9).set_state({"iterations": np.array(1),
                                                "velocity.0": np.zeros((3, 4))}, weights)
    with pytest.raises(ValueError, match="weight #7"):
        optimizers.SGD().set_state({"iterations": np.array(1),
                                    "momentum.7": np.zeros((3, 4))}, weights)


def test_state_keyed_by_weight_follows_the_weights_not_the_order_seen():
    """The optimizer first sees weights b and c (a frozen), then a. Keyed by the caller's
    order (a list, or a mapping {key: weight}), the slots come back on the same weights of a
    copy, which then continues exactly as the original."""
    rng = np.random.default_rng(7)
    a, b, c = make_weights(rng, shapes=((3, 4), (3, 4), (3, 4)))
    opt = optimizers.Adam(0.01)
    a.trainable = False
    run(opt, [a, b, c], grad_sequence(rng, [a, b, c], 3))
    a.trainable = True
    run(opt, [a, b, c], grad_sequence(rng, [a, b, c], 2))
    assert {k for k in opt.get_state() if k.startswith("momentum")} == {
        "momentum.0", "momentum.1", "momentum.2"}  # 0 and 1 are b and c: the order first seen
    keys = ("w/x", "w/y", "w/z")
    blob_list = st_save(opt.get_state([a, b, c]))
    blob_map = st_save(opt.get_state(dict(zip(keys, (a, b, c), strict=True))))
    assert {k for k in st_load(blob_map) if k.startswith("momentum")} == {
        "momentum/w/x", "momentum/w/y", "momentum/w/z"}
    values = [w.value.copy() for w in (a, b, c)]
    grads = grad_sequence(rng, [a, b, c], 3)
    expected = run(opt, [a, b, c], grads)
    for blob, as_map in ((blob_list, False), (blob_map, True)):
        copies = [Weight(w.name, v.copy()) for w, v in zip((a, b, c), values, strict=True)]
        fresh = optimizers.Adam(0.01)
        fresh.set_state(st_load(blob), dict(zip(keys, copies, strict=True)) if as_map
                        else copies)
        assert fresh.iterations == 5
        for e, g in zip(expected, run(fresh, copies, grads), strict=True):
            np.testing.assert_array_equal(g, e)


def test_state_keyed_by_weight_with_a_plain_list_needs_exactly_the_weights_with_state():
    rng = np.random.default_rng(8)
    a, b, c = make_weights(rng)
    c.trainable = False  # c never gets a slot (as a BatchNormalization moving mean)
    opt = optimizers.SGD(momentum=0.9)
    run(opt, [a, b, c], grad_sequence(rng, [a, b, c], 2))
    state = opt.get_state({"w/0/a": a, "w/1/b": b, "w/2/c": c})
    assert sorted(state) == ["iterations", "learning_rate", "momentum/w/0/a", "momentum/w/1/b"]
    a.name, b.name = "a", "b"
    other = optimizers.SGD(momentum=0.9)
    other.set_state(state, [a, b])  # how npconv.training.run reloads: trainable_weights
    np.testing.assert_array_equal(other.get_state([a, b])["momentum.1"], state["momentum/w/1/b"])
    with pytest.raises(ValueError, match="slots for 2 weights but 3 weights were given"):
        optimizers.SGD(momentum=0.9).set_state(state, [a, b, c])
    with pytest.raises(ValueError, match="does not match the weight given"):
        optimizers.SGD(momentum=0.9).set_state(state, [b, a])
    with pytest.raises(ValueError, match="not among the weights given"):
        optimizers.SGD(momentum=0.9).set_state(state, {"w/0/a": a})
    with pytest.raises(ValueError, match="unexpected state entry 'momentum.0'"):
        optimizers.SGD(momentum=0.9).set_state(opt.get_state([a, b]), {"w/0/a": a, "w/1/b": b})


def test_get_config_round_trip_and_get():
    opt = optimizers.RMSprop(learning_rate=0.02, rho=0.8, momentum=0.1, centered=True,
                             clipnorm=1.0, name="r")
    clone = optimizers.get({"class_name": "RMSprop", "config": opt.get_config()})
    assert clone.get_config() == opt.get_config()
    sched = schedules.ExponentialDecay(0.1, 100, 0.5, staircase=True)
    opt = optimizers.SGD(learning_rate=sched)
    clone = optimizers.SGD.from_config(opt.get_config())
    assert isinstance(clone._learning_rate, schedules.ExponentialDecay)
    assert clone._learning_rate.get_config() == sched.get_config()
    assert optimizers.get(opt) is opt
    assert type(optimizers.get(optimizers.Adam)) is optimizers.Adam
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        optimizers.get("lamb")
    with pytest.raises(TypeError, match="schedule"):
        opt.learning_rate = 0.5
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.Adam(learning_rate=-1.0)


# --------------------------------------------------------------------- schedules
def test_schedules_match_closed_forms():
    ed = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    eds = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5, staircase=True)
    pw = schedules.PiecewiseConstantDecay([5, 10], [1.0, 0.5, 0.1])
    cd = schedules.CosineDecay(0.2, decay_steps=20, alpha=0.1)
    cw = schedules.CosineDecay(0.0, decay_steps=20, warmup_target=0.4, warmup_steps=4)
    for step in range(40):
        assert ed(step) == pytest.approx(0.1 * 0.5 ** (step / 10), rel=1e-14)
        assert eds(step) == pytest.approx(0.1 * 0.5 ** (step // 10), rel=1e-14)
        assert pw(step) == (1.0 if step <= 5 else 0.5 if step <= 10 else 0.1)
        s = min(step, 20)
        assert cd(step) == pytest.approx(0.2 * (0.9 * 0.5 * (1 + math.cos(math.pi * s / 20))
                                                + 0.1), rel=1e-14)
        if step < 4:
            assert cw(step) == pytest.approx(0.4 * step / 4)
        else:
            s = min(step - 4, 20)
            assert cw(step) == pytest.approx(0.4 * 0.5 * (1 + math.cos(math.pi * s / 20)),
                                             abs=1e-15)
    for sched in (ed, pw, cd, cw):
        clone = schedules.deserialize(schedules.serialize(sched))
        assert [clone(s) for s in range(30)] == [sched(s) for s in range(30)]
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="boundaries"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0])
    with pytest.raises(ValueError, match="increasing"):
        schedules.PiecewiseConstantDecay([3, 2], [1.0, 0.5, 0.1])


def test_optimizer_evaluates_the_schedule_at_iterations_before_the_update():
    sched = schedules.PiecewiseConstantDecay([1], [1.0, 0.1])
    w = Weight("w", np.zeros(1))
    opt = optimizers.SGD(learning_rate=sched)
    deltas = []
    for _ in range(4):
        w.grad = np.ones(1)
        before = w.value.copy()
        assert opt.learning_rate == sched(opt.iterations)
        opt.apply_gradients([w])
        deltas.append(float(before[0] - w.value[0]))
    np.testing.assert_allclose(deltas, [1.0, 1.0, 0.1, 0.1])  # steps 0, 1 <= boundary 1


def test_inverse_time_and_polynomial_decay_match_keras_closed_forms():
    """keras.optimizers.schedules.InverseTimeDecay and PolynomialDecay (in the Keras and TF
    tutorials) were AttributeErrors. Keras 3's formulas, written out."""
    it = schedules.InverseTimeDecay(0.1, decay_steps=5, decay_rate=0.5)
    its = schedules.InverseTimeDecay(0.1, decay_steps=5, decay_rate=0.5, staircase=True)
    pd = schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.01, power=0.5)
    pl = schedules.PolynomialDecay(0.2, decay_steps=8)  # linear to 1e-4
    pc = schedules.PolynomialDecay(0.1, decay_steps=10, end_learning_rate=0.0, power=2.0,
                                   cycle=True)
    for step in range(35):
        assert it(step) == pytest.approx(0.1 / (1 + 0.5 * step / 5), rel=1e-14)
        assert its(step) == pytest.approx(0.1 / (1 + 0.5 * (step // 5)), rel=1e-14)
        s = min(step, 10)
        assert pd(step) == pytest.approx(0.09 * (1 - s / 10) ** 0.5 + 0.01, rel=1e-14)
        s = min(step, 8)
        assert pl(step) == pytest.approx((0.2 - 1e-4) * (1 - s / 8) + 1e-4, rel=1e-14)
        span = 10 * max(1, math.ceil(step / 10))
        assert pc(step) == pytest.approx(0.1 * (1 - step / span) ** 2, abs=1e-16)
    assert pc(10) == 0.0 and pc(11) == pytest.approx(0.1 * (1 - 11 / 20) ** 2)
    for sched in (it, its, pd, pl, pc):
        clone = schedules.deserialize(schedules.serialize(sched))
        assert [clone(s) for s in range(30)] == [sched(s) for s in range(30)]
    from npconv.optimizers import schedules as keras_path

    assert keras_path.InverseTimeDecay is schedules.InverseTimeDecay
    assert keras_path.PolynomialDecay is schedules.PolynomialDecay
    with pytest.raises(ValueError, match="InverseTimeDecay: expected decay_steps > 0"):
        schedules.InverseTimeDecay(0.1, 0, 0.5)
    with pytest.raises(TypeError, match="PolynomialDecay: expected power to be a number"):
        schedules.PolynomialDecay(0.1, 10, power="2")
    with pytest.raises(ValueError, match="expected a step >= 0"):
        pd(-1)
    opt = optimizers.SGD(learning_rate=it)
    w = Weight("w", np.zeros(1))
    for _ in range(3):
        w.grad = np.ones(1)
        opt.apply_gradients([w])
    np.testing.assert_allclose(-w.value, [it(0) + it(1) + it(2)], rtol=1e-7)


def _sgdr_reference(step, lr0, first, t_mul, m_mul, alpha):
    """SGDR by walking the periods one by one (the schedule computes the period directly)."""
    cycle_step, cycle_len, restarts = float(step), float(first), 0
    while cycle_step >= cycle_len:
        cycle_step -= cycle_len
        cycle_len *= t_mul
        restarts += 1
    cosine = 0.5 * m_mul ** restarts * (1 + math.cos(math.pi * cycle_step / cycle_len))
    return lr0 * ((1 - alpha) * cosine + alpha)


@pytest.mark.parametrize("t_mul, m_mul, alpha", [(2.0, 1.0, 0.0), (1.0, 0.5, 0.1),
                                                 (1.5, 0.8, 0.05), (3.0, 1.0, 0.2)])
def test_cosine_decay_restarts_matches_walking_the_periods(t_mul, m_mul, alpha):
    """keras.optimizers.schedules.CosineDecayRestarts was an AttributeError."""
    sched = schedules.CosineDecayRestarts(0.1, 10, t_mul=t_mul, m_mul=m_mul, alpha=alpha)
    for step in [*range(0, 200, 3), 9.5, 10, 30, 70]:
        assert sched(step) == pytest.approx(_sgdr_reference(step, 0.1, 10, t_mul, m_mul, alpha),
                                            rel=1e-9, abs=1e-15), step
    assert sched(0) == pytest.approx(0.1)
    clone = schedules.deserialize(schedules.serialize(sched))
    assert [clone(s) for s in range(50)] == [sched(s) for s in range(50)]
    from npconv.optimizers import schedules as keras_path

    assert keras_path.CosineDecayRestarts is schedules.CosineDecayRestarts
    with pytest.raises(ValueError, match="CosineDecayRestarts: expected first_decay_steps > 0"):
        schedules.CosineDecayRestarts(0.1, 0)


@pytest.mark.parametrize("t_mul", [2.0, 3.0, 4.0, 1.5, 0.5])
def test_cosine_decay_restarts_restarts_at_each_period_start(t_mul):
    """A step that starts a period is the restart, full rate times m_mul ** i: the period
    came from floor(log(243) / log(3)) = 4 at t_mul=3, so step 1210 (the 5th restart) gave
    alpha instead of the restarted rate (Keras's float32 logs give 5)."""
    sched = schedules.CosineDecayRestarts(1.0, 10, t_mul=t_mul, m_mul=0.5, alpha=0.1)
    for i in range(1, 9):
        start = 10 * (1 - t_mul ** i) / (1 - t_mul)
        if start != round(start) or start > 1e6:
            continue
        assert sched(start) == pytest.approx(0.1 + 0.9 * 0.5 ** i, rel=1e-12), (i, start)
        assert sched(start) == pytest.approx(
            _sgdr_reference(start, 1.0, 10, t_mul, 0.5, 0.1), rel=1e-12)


def test_cosine_decay_restarts_past_the_shrinking_periods_says_so():
    """t_mul < 1: the periods sum to first_decay_steps / (1 - t_mul); a later step was a
    bare 'math domain error' (Keras's rate is NaN there)."""
    sched = schedules.CosineDecayRestarts(0.1, 10, t_mul=0.5)
    assert sched(19) == pytest.approx(_sgdr_reference(19, 0.1, 10, 0.5, 1.0, 0.0))
    with pytest.raises(ValueError, match=r"t_mul=0.5 < 1 .* end after .* = 20 steps"):
        sched(20)


def test_schedules_with_numpy_scalar_arguments_serialize_to_json():
    # decay_steps, warmup_steps and boundaries were kept as given: a numpy int64 (as from
    # len(x) // batch_size * epochs with numpy arrays) made the config not JSON-able
    import json

    f32, i64 = np.float32, np.int64
    for sched in (schedules.ExponentialDecay(f32(0.1), i64(10), f32(0.5)),
                  schedules.InverseTimeDecay(f32(0.1), i64(10), f32(0.5)),
                  schedules.PolynomialDecay(f32(0.1), i64(10), f32(0.01)),
                  schedules.CosineDecay(f32(0.1), i64(100), warmup_target=f32(0.2),
                                        warmup_steps=i64(3)),
                  schedules.CosineDecayRestarts(f32(0.1), i64(10), t_mul=f32(2.0)),
                  schedules.PiecewiseConstantDecay([i64(1), i64(5)], [f32(0.1), 0.2, 0.3])):
        clone = schedules.deserialize(json.loads(json.dumps(schedules.serialize(sched))))
        assert [clone(s) for s in (0, 2, 7, 40)] == [sched(s) for s in (0, 2, 7, 40)]
