"""Adagrad against torch.optim.Adagrad over 20 steps of a fixed random gradient sequence.

Keras divides by sqrt(a + eps), torch by sqrt(a) + eps; both start the accumulator at
``initial_accumulator_value`` and add g^2 before the step. So:
- with eps = 0 on both sides the rules are identical: compared to torch.optim.Adagrad at
  eps = 0, over random learning rates, initial accumulators, dtypes, with decoupled weight
  decay (applied by hand before torch's step: torch's weight_decay is an L2 term) and clipping;
- Keras's eps placement is checked with a twin in torch tensor ops, and shown to differ from
  torch's own eps when the accumulator is small.
"""

import numpy as np
import pytest

from npconv.training import optimizers, schedules
from tests.reference.test_optimizers_torch import assert_same, random_hparams, run_ours, run_torch
from tests.reference.test_optimizers_torch import setup as gradient_steps

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("seed", range(8))
def test_adagrad_equals_torch_at_zero_epsilon(seed):
    lr, _, dtype = random_hparams(seed)
    init = [0.1, 0.0, 1.0, 0.01][seed % 4]
    values, grads = gradient_steps(seed, dtype)
    ours = run_ours(optimizers.Adagrad(lr, initial_accumulator_value=init, epsilon=0.0),
                    values, grads)
    theirs = run_torch(lambda p: torch.optim.Adagrad(p, lr=lr, initial_accumulator_value=init,
                                                     eps=0.0), values, grads)
    assert_same(ours, theirs, dtype, f"Adagrad lr={lr} init={init}")


@pytest.mark.parametrize("seed", range(4))
def test_adagrad_weight_decay_and_clipping_equal_torch(seed):
    lr, _, dtype = random_hparams(seed)
    values, grads = gradient_steps(seed, dtype, scale=3.0)
    wd = 0.1

    def decay(params, lr):
        for p in params:
            p.mul_(1 - lr * wd)

    def make(p):
        return torch.optim.Adagrad(p, lr=lr, eps=0.0, initial_accumulator_value=0.1)

    assert_same(run_ours(optimizers.Adagrad(lr, epsilon=0.0, weight_decay=wd), values, grads),
                run_torch(make, values, grads, pre_step=decay), dtype, "Adagrad weight decay")
    assert_same(run_ours(optimizers.Adagrad(lr, epsilon=0.0, clipvalue=0.7), values, grads),
                run_torch(make, values, grads,
                          clip=lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.7)),
                dtype, "Adagrad clipvalue")
    assert_same(run_ours(optimizers.Adagrad(lr, epsilon=0.0, global_clipnorm=2.0), values,
                         grads),
                run_torch(make, values, grads,
                          clip=lambda ps: torch.nn.utils.clip_grad_norm_(ps, 2.0)),
                dtype, "Adagrad global_clipnorm")


def test_adagrad_with_a_schedule_matches_torch_lambda_lr():
    sched = schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.5)
    values, grads = gradient_steps(1, np.float64)
    ours = run_ours(optimizers.Adagrad(sched, epsilon=0.0), values, grads)
    theirs = run_torch(lambda p: torch.optim.Adagrad(p, lr=0.05, eps=0.0,
                                                     initial_accumulator_value=0.1),
                       values, grads, scheduler=lambda o: torch.optim.lr_scheduler.LambdaLR(
                           o, lambda s: 0.5 ** (s / 4)))
    assert_same(ours, theirs, np.float64, "Adagrad + ExponentialDecay")


def keras_adagrad_in_torch(params, grads, lr, init, eps):
    """Keras's rule (eps inside the square root), in torch tensor ops."""
    acc = [torch.full_like(p, init) for p in params]
    for step in grads:
        for i, (p, g) in enumerate(zip(params, step, strict=True)):
            g = torch.tensor(g)
            acc[i] = acc[i] + g * g
            p -= lr * g / torch.sqrt(acc[i] + eps)
    return [p.numpy() for p in params]


@pytest.mark.parametrize("seed", range(4))
def test_adagrad_keras_epsilon_placement(seed):
    lr, _, dtype = random_hparams(seed)
    values, grads = gradient_steps(seed, dtype, scale=1e-3)  # small accumulator: eps matters
    ours = run_ours(optimizers.Adagrad(lr, initial_accumulator_value=0.0, epsilon=1e-5),
                    values, grads)
    twin = keras_adagrad_in_torch([torch.tensor(v.copy()) for v in values], grads, lr, 0.0,
                                  1e-5)
    assert_same(ours, twin, dtype, "Adagrad Keras eps")
    theirs = run_torch(lambda p: torch.optim.Adagrad(p, lr=lr, eps=1e-5), values, grads)
    gap = max(np.max(np.abs(a - b)) for a, b in zip(ours, theirs, strict=True))
    assert gap > 1e-3 * lr
