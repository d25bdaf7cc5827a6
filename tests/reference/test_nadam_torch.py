"""Nadam against torch.optim.NAdam over 20 steps of fixed random gradient sequences.

Keras's momentum schedule is u_t = beta_1 (1 - 0.5 * 0.96^t); torch's is
beta_1 (1 - 0.5 * 0.96^(t * momentum_decay)) with momentum_decay=0.004 by default (a far
slower warm-up), so torch's default NAdam is a different optimizer. With momentum_decay=1.0
the schedules, the momentum products, the two Nesterov terms and the denominator
sqrt(v / (1 - beta_2^t)) + eps are the same on both sides, epsilon included: compared so,
over random learning rates, betas, epsilons and both dtypes, with decoupled weight decay
(applied by hand before torch's step: torch's weight_decay is an L2 term) and clipping.
"""

import numpy as np
import pytest

from npconv.training import optimizers
from tests.reference.test_optimizers_torch import assert_same, random_hparams, run_ours, run_torch
from tests.reference.test_optimizers_torch import setup as gradient_steps

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("seed", range(10))
def test_nadam_equals_torch_nadam_with_momentum_decay_1(seed):
    lr, beta_1, dtype = random_hparams(seed)
    rng = np.random.default_rng(100 + seed)
    beta_2 = float(rng.choice([0.9, 0.99, 0.999]))
    eps = float(rng.choice([1e-7, 1e-3, 1e-8]))
    values, grads = gradient_steps(seed, dtype)
    ours = run_ours(optimizers.Nadam(lr, beta_1=beta_1, beta_2=beta_2, epsilon=eps),
                    values, grads)
    theirs = run_torch(lambda p: torch.optim.NAdam(p, lr=lr, betas=(beta_1, beta_2), eps=eps,
                                                   momentum_decay=1.0), values, grads)
    assert_same(ours, theirs, dtype, f"Nadam lr={lr} betas=({beta_1}, {beta_2}) eps={eps}")


@pytest.mark.parametrize("seed", range(4))
def test_nadam_weight_decay_and_clipping_equal_torch(seed):
    lr, beta_1, dtype = random_hparams(seed)
    values, grads = gradient_steps(seed, dtype, scale=3.0)
    wd = 0.1

    def decay(params, lr):
        for p in params:
            p.mul_(1 - lr * wd)

    def make(p):
        return torch.optim.NAdam(p, lr=lr, betas=(beta_1, 0.999), eps=1e-7, momentum_decay=1.0)

    assert_same(run_ours(optimizers.Nadam(lr, beta_1=beta_1, weight_decay=wd), values, grads),
                run_torch(make, values, grads, pre_step=decay), dtype, "Nadam weight decay")
    assert_same(run_ours(optimizers.Nadam(lr, beta_1=beta_1, clipvalue=0.7), values, grads),
                run_torch(make, values, grads,
                          clip=lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.7)),
                dtype, "Nadam clipvalue")
    assert_same(run_ours(optimizers.Nadam(lr, beta_1=beta_1, global_clipnorm=2.0), values,
                         grads),
                run_torch(make, values, grads,
                          clip=lambda ps: torch.nn.utils.clip_grad_norm_(ps, 2.0)),
                dtype, "Nadam global_clipnorm")


def test_torch_default_momentum_decay_is_a_different_rule():
    """The test above is not vacuous: torch's default schedule moves the weights elsewhere."""
    values, grads = gradient_steps(0, np.float64)
    ours = run_ours(optimizers.Nadam(0.01), values, grads)
    theirs = run_torch(lambda p: torch.optim.NAdam(p, lr=0.01, eps=1e-7), values, grads)
    assert max(np.abs(a - b).max() for a, b in zip(ours, theirs, strict=True)) > 1e-4
