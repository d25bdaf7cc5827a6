"""Optimizers against torch.optim over 20 steps of a fixed random gradient sequence.

Where Keras and PyTorch write the same rule differently we say how they meet:
- SGD momentum: Keras keeps v = m v - lr g and adds it; torch keeps b = m b + g and subtracts
  lr b. With a constant lr, v = -lr b, so the weights agree (nesterov likewise).
- RMSprop: Keras divides by sqrt(s + eps), torch by sqrt(s) + eps. With eps = 0 the rules are
  identical, so we compare to torch.optim.RMSprop at eps = 0, and check Keras's eps placement
  with a twin written in torch tensor ops.
- Adam: Keras uses lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps), torch
  lr m_hat / (sqrt(v_hat) + eps): equal at eps = 0 (compared to torch.optim.Adam), and
  Keras's eps placement is checked with a twin in torch tensor ops (torch's eps is Keras's
  eps / sqrt(1 - b2^t), which matters for small gradients).
- Decoupled weight decay (Keras's weight_decay) is torch.optim.AdamW's; for SGD/RMSprop torch's
  weight_decay is an L2 term instead, so there the decay w *= 1 - lr wd is applied by hand
  before torch's step.
"""

import numpy as np
import pytest

from npconv.layers.base import Weight
from npconv.training import optimizers, schedules

torch = pytest.importorskip("torch")

STEPS = 20
SHAPES = ((3, 5), (5,), (2, 3, 2, 4))
TOL = {np.float64: {"rtol": 1e-6, "atol": 1e-9}, np.float32: {"rtol": 1e-4, "atol": 1e-5}}


def setup(seed, dtype, scale=1.0):
    rng = np.random.default_rng(seed)
    values = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    grads = [[(rng.normal(size=s) * scale).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return values, grads


def run_ours(opt, values, grads):
    weights = [Weight(f"w{i}", v.copy()) for i, v in enumerate(values)]
    for step in grads:
        for w, g in zip(weights, step, strict=True):
            w.grad = g
        opt.apply_gradients(weights)
    return [w.value for w in weights]


def run_torch(make_opt, values, grads, pre_step=None, clip=None, scheduler=None):
    params = [torch.tensor(v.copy(), requires_grad=True) for v in values]
    opt = make_opt(params)
    sched = scheduler(opt) if scheduler else None
    for step in grads:
        for p, g in zip(params, step, strict=True):
            p.grad = torch.tensor(g)
        if clip:
            clip(params)
        if pre_step:
            with torch.no_grad():
                pre_step(params, opt.param_groups[0]["lr"])
        opt.step()
        if sched:
            sched.step()
    return [p.detach().numpy() for p in params]


def assert_same(ours, theirs, dtype, what):
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **TOL[dtype], err_msg=what)


def random_hparams(seed):
    rng = np.random.default_rng(seed)
    return (float(rng.choice([1e-3, 1e-2, 0.05])), float(rng.uniform(0.5, 0.99)),
            np.float64 if seed % 2 == 0 else np.float32)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum(seed, nesterov):
    lr, m, dtype = random_hparams(seed)
    values, grads = setup(seed, dtype)
    ours = run_ours(optimizers.SGD(lr, momentum=m, nesterov=nesterov), values, grads)
    theirs = run_torch(lambda p: torch.optim.SGD(p, lr=lr, momentum=m, nesterov=nesterov),
                       values, grads)
    assert_same(ours, theirs, dtype, f"SGD lr={lr} momentum={m} nesterov={nesterov}")


@pytest.mark.parametrize("seed", range(4))
def test_sgd_plain_weight_decay_and_clipping(seed):
    lr, _, dtype = random_hparams(seed)
    values, grads = setup(seed, dtype, scale=3.0)
    assert_same(run_ours(optimizers.SGD(lr), values, grads),
                run_torch(lambda p: torch.optim.SGD(p, lr=lr), values, grads), dtype, "SGD")
    wd = 0.1

    def decay(params, lr):
        for p in params:
            p.mul_(1 - lr * wd)

    assert_same(run_ours(optimizers.SGD(lr, momentum=0.9, weight_decay=wd), values, grads),
                run_torch(lambda p: torch.optim.SGD(p, lr=lr, momentum=0.9), values, grads,
                          pre_step=decay), dtype, "SGD weight decay")
    assert_same(run_ours(optimizers.SGD(lr, clipvalue=0.7), values, grads),
                run_torch(lambda p: torch.optim.SGD(p, lr=lr), values, grads,
                          clip=lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.7)),
                dtype, "clipvalue")

    # torch's clip_grad_norm_ divides by norm + 1e-6 (Keras by the norm): a 1e-7 relative gap
    def per_weight(ps):
        for p in ps:
            torch.nn.utils.clip_grad_norm_([p], 1.5)

    assert_same(run_ours(optimizers.SGD(lr, clipnorm=1.5), values, grads),
                run_torch(lambda p: torch.optim.SGD(p, lr=lr), values, grads, clip=per_weight),
                dtype, "clipnorm")
    assert_same(run_ours(optimizers.SGD(lr, global_clipnorm=2.0), values, grads),
                run_torch(lambda p: torch.optim.SGD(p, lr=lr), values, grads,
                          clip=lambda ps: torch.nn.utils.clip_grad_norm_(ps, 2.0)),
                dtype, "global_clipnorm")


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_equals_torch_at_zero_epsilon(seed, centered):
    lr, rho, dtype = random_hparams(seed)
    momentum = [0.0, 0.5, 0.9][seed % 3]
    values, grads = setup(seed, dtype)
    ours = run_ours(optimizers.RMSprop(lr, rho=rho, momentum=momentum, epsilon=0.0,
                                       centered=centered), values, grads)
    theirs = run_torch(lambda p: torch.optim.RMSprop(p, lr=lr, alpha=rho, eps=0.0,
                                                     momentum=momentum, centered=centered),
                       values, grads)
    assert_same(ours, theirs, dtype, f"RMSprop rho={rho} momentum={momentum}")


def keras_rmsprop_in_torch(params, grads, lr, rho, eps, momentum):
    """Keras's rule (eps inside the square root), in torch tensor ops."""
    s = [torch.zeros_like(p) for p in params]
    m = [torch.zeros_like(p) for p in params]
    for step in grads:
        for i, (p, g) in enumerate(zip(params, step, strict=True)):
            g = torch.tensor(g)
            s[i] = rho * s[i] + (1 - rho) * g * g
            inc = lr * g / torch.sqrt(s[i] + eps)
            m[i] = momentum * m[i] + inc
            p -= m[i] if momentum else inc
    return [p.numpy() for p in params]


@pytest.mark.parametrize("seed", range(6))
def test_rmsprop_keras_epsilon_placement(seed):
    lr, rho, dtype = random_hparams(seed)
    values, grads = setup(seed, dtype, scale=1e-3)  # small gradients: eps = 1e-5 matters
    for momentum in (0.0, 0.6):
        ours = run_ours(optimizers.RMSprop(lr, rho=rho, momentum=momentum, epsilon=1e-5),
                        values, grads)
        twin = keras_rmsprop_in_torch([torch.tensor(v.copy()) for v in values], grads, lr,
                                      rho, 1e-5, momentum)
        assert_same(ours, twin, dtype, "RMSprop Keras eps")
        theirs = run_torch(lambda p, mo=momentum: torch.optim.RMSprop(
            p, lr=lr, alpha=rho, eps=1e-5, momentum=mo), values, grads)
        # ... and the placement is visible: torch's sqrt(s) + eps differs
        gap = max(np.max(np.abs(a - b)) for a, b in zip(ours, theirs, strict=True))
        assert gap > 1e-4 * lr


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_equals_torch_at_zero_epsilon(seed, amsgrad):
    lr, b1, dtype = random_hparams(seed)
    b2 = [0.999, 0.99, 0.9][seed % 3]
    values, grads = setup(seed, dtype)
    ours = run_ours(optimizers.Adam(lr, beta_1=b1, beta_2=b2, epsilon=0.0, amsgrad=amsgrad),
                    values, grads)
    theirs = run_torch(lambda p: torch.optim.Adam(p, lr=lr, betas=(b1, b2), eps=0.0,
                                                  amsgrad=amsgrad), values, grads)
    assert_same(ours, theirs, dtype, f"Adam b1={b1} b2={b2} amsgrad={amsgrad}")


@pytest.mark.parametrize("seed", range(6))
def test_adamw_equals_torch(seed):
    lr, b1, dtype = random_hparams(seed)
    wd = [0.004, 0.01, 0.1][seed % 3]
    values, grads = setup(seed, dtype)
    ours = run_ours(optimizers.AdamW(lr, weight_decay=wd, beta_1=b1, epsilon=0.0), values, grads)
    theirs = run_torch(lambda p: torch.optim.AdamW(p, lr=lr, betas=(b1, 0.999), eps=0.0,
                                                   weight_decay=wd), values, grads)
    assert_same(ours, theirs, dtype, f"AdamW wd={wd}")


def keras_adam_in_torch(params, grads, lr, b1, b2, eps):
    """Keras's rule (eps added to sqrt(v) before the bias correction), in torch tensor ops."""
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for t, step in enumerate(grads, start=1):
        alpha = lr * (1 - b2**t) ** 0.5 / (1 - b1**t)
        for i, (p, g) in enumerate(zip(params, step, strict=True)):
            g = torch.tensor(g)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            p -= alpha * m[i] / (torch.sqrt(v[i]) + eps)
    return [p.numpy() for p in params]


@pytest.mark.parametrize("seed", range(4))
def test_adam_keras_epsilon_placement(seed):
    lr, b1, dtype = random_hparams(seed)
    values, grads = setup(seed, dtype, scale=1e-4)  # small gradients: eps = 1e-7 matters
    ours = run_ours(optimizers.Adam(lr, beta_1=b1), values, grads)
    twin = keras_adam_in_torch([torch.tensor(v.copy()) for v in values], grads, lr, b1, 0.999,
                               1e-7)
    assert_same(ours, twin, dtype, "Adam Keras eps")
    # torch's eps acts after the correction, i.e. Keras's eps / sqrt(1 - b2^t): visibly different
    theirs = run_torch(lambda p: torch.optim.Adam(p, lr=lr, betas=(b1, 0.999), eps=1e-7),
                       values, grads)
    gap = max(np.max(np.abs(a - b)) for a, b in zip(ours, theirs, strict=True))
    assert gap > 1e-3 * lr


def test_adam_with_exponential_decay_matches_torch_lambda_lr():
    sched = schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.5)
    values, grads = setup(1, np.float64)
    ours = run_ours(optimizers.Adam(sched, epsilon=0.0), values, grads)
    # torch's LambdaLR multiplies the base lr by f(step) with step = updates done so far,
    # the same step Keras passes to the schedule
    theirs = run_torch(lambda p: torch.optim.Adam(p, lr=0.05, eps=0.0), values, grads,
                       scheduler=lambda o: torch.optim.lr_scheduler.LambdaLR(
                           o, lambda s: 0.5 ** (s / 4)))
    assert_same(ours, theirs, np.float64, "Adam + ExponentialDecay")
