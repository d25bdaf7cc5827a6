"""Adamax and Adadelta against torch.optim over 20 steps of fixed random gradient sequences.

- Adamax: Keras keeps u = max(beta_2 u, |g|) and divides by (1 - beta_1^t)(u + eps); torch
  keeps u = max(beta_2 u, |g| + eps) and divides by (1 - beta_1^t) u. At eps = 0 the rules
  are identical: compared to torch.optim.Adamax at eps = 0 over random learning rates, betas
  and both dtypes. Keras's placement (eps outside the running max) is checked with a twin in
  torch tensor ops at eps = 1e-3, and shown to differ from torch's own eps there.
- Adadelta: the same rule on both sides, eps inside both square roots (torch's defaults are
  lr=1.0, eps=1e-6; Keras's 0.001, 1e-7): compared to torch.optim.Adadelta with the same lr,
  rho and eps.
Decoupled weight decay is applied by hand before torch's step (torch's weight_decay is an L2
term); clipping by torch.nn.utils.
"""

import numpy as np
import pytest

from npconv.training import optimizers
from tests.reference.test_optimizers_torch import assert_same, random_hparams, run_ours, run_torch
from tests.reference.test_optimizers_torch import setup as gradient_steps

torch = pytest.importorskip("torch")


def _decay(wd):
    def decay(params, lr):
        for p in params:
            p.mul_(1 - lr * wd)
    return decay


@pytest.mark.parametrize("seed", range(8))
def test_adamax_equals_torch_at_zero_epsilon(seed):
    lr, beta_1, dtype = random_hparams(seed)
    beta_2 = [0.999, 0.99, 0.9, 0.5][seed % 4]
    values, grads = gradient_steps(seed, dtype)
    ours = run_ours(optimizers.Adamax(lr, beta_1=beta_1, beta_2=beta_2, epsilon=0.0),
                    values, grads)
    theirs = run_torch(lambda p: torch.optim.Adamax(p, lr=lr, betas=(beta_1, beta_2), eps=0.0),
                       values, grads)
    assert_same(ours, theirs, dtype, f"Adamax lr={lr} betas=({beta_1}, {beta_2})")


def keras_adamax_in_torch(params, grads, lr, b1, b2, eps):
    """Keras's rule (eps added to the running max, not inside it), in torch tensor ops."""
    m = [torch.zeros_like(p) for p in params]
    u = [torch.zeros_like(p) for p in params]
    for t, step in enumerate(grads, start=1):
        for i, (p, g) in enumerate(zip(params, step, strict=True)):
            g = torch.tensor(g)
            m[i] = m[i] + (g - m[i]) * (1 - b1)
            u[i] = torch.maximum(b2 * u[i], g.abs())
            p -= lr * m[i] / ((1 - b1**t) * (u[i] + eps))
    return [p.numpy() for p in params]


@pytest.mark.parametrize("seed", range(4))
def test_adamax_keras_epsilon_placement(seed):
    lr, b1, dtype = random_hparams(seed)
    values, grads = gradient_steps(seed, dtype, scale=1e-3)  # small gradients: eps matters
    eps = 1e-3
    ours = run_ours(optimizers.Adamax(lr, beta_1=b1, epsilon=eps), values, grads)
    twin = keras_adamax_in_torch([torch.tensor(v.copy()) for v in values], grads, lr, b1,
                                 0.999, eps)
    assert_same(ours, twin, dtype, "Adamax Keras eps")
    theirs = run_torch(lambda p: torch.optim.Adamax(p, lr=lr, betas=(b1, 0.999), eps=eps),
                       values, grads)
    gap = max(np.max(np.abs(a - b)) for a, b in zip(ours, theirs, strict=True))
    assert gap > 1e-3 * lr


@pytest.mark.parametrize("seed", range(4))
def test_adamax_weight_decay_and_clipping_equal_torch(seed):
    lr, b1, dtype = random_hparams(seed)
    values, grads = gradient_steps(seed, dtype, scale=3.0)

    def make(p):
        return torch.optim.Adamax(p, lr=lr, betas=(b1, 0.999), eps=0.0)

    assert_same(run_ours(optimizers.Adamax(lr, beta_1=b1, epsilon=0.0, weight_decay=0.1),
                         values, grads),
                run_torch(make, values, grads, pre_step=_decay(0.1)), dtype, "weight decay")
    assert_same(run_ours(optimizers.Adamax(lr, beta_1=b1, epsilon=0.0, global_clipnorm=2.0),
                         values, grads),
                run_torch(make, values, grads,
                          clip=lambda ps: torch.nn.utils.clip_grad_norm_(ps, 2.0)),
                dtype, "global_clipnorm")


@pytest.mark.parametrize("seed", range(8))
def test_adadelta_equals_torch(seed):
    lr = [1.0, 0.5, 2.0, 0.1][seed % 4]  # Keras's 0.001 would move the weights ~1e-7
    _, rho, dtype = random_hparams(seed)
    eps = [1e-7, 1e-6, 1e-3][seed % 3]
    values, grads = gradient_steps(seed, dtype)
    ours = run_ours(optimizers.Adadelta(lr, rho=rho, epsilon=eps), values, grads)
    theirs = run_torch(lambda p: torch.optim.Adadelta(p, lr=lr, rho=rho, eps=eps),
                       values, grads)
    assert_same(ours, theirs, dtype, f"Adadelta lr={lr} rho={rho} eps={eps}")


@pytest.mark.parametrize("seed", range(4))
def test_adadelta_weight_decay_and_clipping_equal_torch(seed):
    _, rho, dtype = random_hparams(seed)
    values, grads = gradient_steps(seed, dtype, scale=3.0)

    def make(p):
        return torch.optim.Adadelta(p, lr=1.0, rho=rho, eps=1e-7)

    assert_same(run_ours(optimizers.Adadelta(1.0, rho=rho, weight_decay=0.05), values, grads),
                run_torch(make, values, grads, pre_step=_decay(0.05)), dtype, "weight decay")
    assert_same(run_ours(optimizers.Adadelta(1.0, rho=rho, clipvalue=0.7), values, grads),
                run_torch(make, values, grads,
                          clip=lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.7)),
                dtype, "clipvalue")
