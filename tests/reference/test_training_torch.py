"""Whole training runs against a PyTorch twin: same architecture, same initial weights, same
batches -> the same weights after 20 optimizer steps (float64, 1e-6 relative).

Weight layouts: npconv conv kernels (kh, kw, c_in, c_out) are torch's (c_out, c_in, kh, kw)
transposed; Dense kernels (in, out) are torch Linear's (out, in) transposed. npconv flattens
NHWC, so the twin permutes its NCHW activations to NHWC before flattening.

npconv's side is the real ``model.fit`` (shuffle=False, batches of 10 over 100 samples, two
epochs = 20 steps); the twin walks the same batches with ``F.cross_entropy`` on the logits
(= sparse categorical cross-entropy on the softmax, far from the clipping region).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.layers.conv import Conv2D  # noqa: E402
from npconv.layers.core import Activation, Dense, Flatten  # noqa: E402
from npconv.layers.input import Input  # noqa: E402
from npconv.layers.normalization import BatchNormalization  # noqa: E402
from npconv.layers.pooling import MaxPooling2D  # noqa: E402
from npconv.models.sequential import Sequential  # noqa: E402
from npconv.random import set_random_seed  # noqa: E402
from npconv.training import optimizers  # noqa: E402

N, BATCH, EPOCHS = 100, 10, 2
RTOL, ATOL = 1e-6, 1e-10


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, 8, 8, 2))
    y = rng.integers(0, 3, N)
    return x, y


def _model(activation="relu", batch_norm=False, seed=0):
    set_random_seed(seed)
    layers = [Input(shape=(8, 8, 2)), Conv2D(4, 3, dtype="float64")]
    if batch_norm:
        layers.append(BatchNormalization(dtype="float64"))
    layers += [Activation(activation), MaxPooling2D(2), Flatten(),
               Dense(3, activation="softmax", dtype="float64")]
    return Sequential(layers)


def _to_torch(model, batch_norm):
    """The twin's parameters (leaf tensors) and BN buffers from npconv's weights."""
    w = model.get_weights()
    kernel, bias = w[0], w[1]
    params = {"conv_w": torch.tensor(kernel.transpose(3, 2, 0, 1).copy()),
              "conv_b": torch.tensor(bias)}
    buffers = {}
    rest = w[2:]
    if batch_norm:
        gamma, beta, mean, var = rest[:4]
        params["gamma"], params["beta"] = torch.tensor(gamma), torch.tensor(beta)
        buffers = {"mean": torch.tensor(mean), "var": torch.tensor(var)}
        rest = rest[4:]
    params["dense_w"] = torch.tensor(rest[0].T.copy())
    params["dense_b"] = torch.tensor(rest[1])
    for p in params.values():
        p.requires_grad_(True)
    return params, buffers


def _twin_loss(params, buffers, xb, yb, activation):
    x = torch.from_numpy(xb).permute(0, 3, 1, 2)
    x = F.conv2d(x, params["conv_w"], params["conv_b"])
    if "gamma" in params:
        # Keras momentum 0.99 is torch momentum 0.01; epsilon 1e-3 in both.
        x = F.batch_norm(x, buffers["mean"], buffers["var"], params["gamma"], params["beta"],
                         training=True, momentum=0.01, eps=1e-3)
    x = torch.relu(x) if activation == "relu" else torch.tanh(x)
    x = F.max_pool2d(x, 2)
    x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC flatten, as npconv
    logits = F.linear(x, params["dense_w"], params["dense_b"])
    return F.cross_entropy(logits, torch.from_numpy(yb))


def _batches(x, y):
    for _ in range(EPOCHS):
        for i in range(0, N, BATCH):
            yield x[i:i + BATCH], y[i:i + BATCH]


def _train_twin(params, buffers, x, y, activation, step):
    """Run the twin over the same batches; ``step(params_list, t)`` updates after backward."""
    plist = list(params.values())
    losses = []
    for t, (xb, yb) in enumerate(_batches(x, y), start=1):
        for p in plist:
            p.grad = None
        loss = _twin_loss(params, buffers, xb, yb, activation)
        loss.backward()
        step(plist, t)
        losses.append(loss.item())
    return losses


def _compare(model, params, buffers, batch_norm):
    w = model.get_weights()
    np.testing.assert_allclose(w[0], params["conv_w"].detach().numpy().transpose(2, 3, 1, 0),
                               rtol=RTOL, atol=ATOL, err_msg="conv kernel")
    np.testing.assert_allclose(w[1], params["conv_b"].detach().numpy(), rtol=RTOL, atol=ATOL)
    rest = w[2:]
    if batch_norm:
        np.testing.assert_allclose(rest[0], params["gamma"].detach().numpy(), rtol=RTOL,
                                   atol=ATOL, err_msg="gamma")
        np.testing.assert_allclose(rest[1], params["beta"].detach().numpy(), rtol=RTOL,
                                   atol=ATOL, err_msg="beta")
        np.testing.assert_allclose(rest[2], buffers["mean"].numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg="moving_mean")
        # moving_variance is not compared: Keras averages the biased batch variance, torch
        # the unbiased one (n / (n - 1) larger); both normalise with the biased one.
        rest = rest[4:]
    np.testing.assert_allclose(rest[0], params["dense_w"].detach().numpy().T, rtol=RTOL,
                               atol=ATOL, err_msg="dense kernel")
    np.testing.assert_allclose(rest[1], params["dense_b"].detach().numpy(), rtol=RTOL, atol=ATOL)


def _fit(model, optimizer, x, y):
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    assert model.optimizer.iterations == EPOCHS * N // BATCH == 20
    return history


def _check_history(history, twin_losses):
    per_epoch = np.reshape(twin_losses, (EPOCHS, -1)).mean(axis=1)
    np.testing.assert_allclose(history.history["loss"], per_epoch, rtol=1e-10)


# ------------------------------------------------------------------------------ SGD (torch.optim)
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_matches_torch_optim(batch_norm, nesterov):
    # Keras: v = m v - lr g; w += v (nesterov: w += m v - lr g). torch: b = m b + g;
    # w -= lr b (nesterov: w -= lr (g + m b)). With v = -lr b they are the same update.
    x, y = _data(1)
    model = _model(batch_norm=batch_norm, seed=1)
    params, buffers = _to_torch(model, batch_norm)
    opt = torch.optim.SGD(params.values(), lr=0.05, momentum=0.9, nesterov=nesterov)
    twin = _train_twin(params, buffers, x, y, "relu", lambda plist, t: opt.step())
    history = _fit(model, optimizers.SGD(0.05, momentum=0.9, nesterov=nesterov), x, y)
    _compare(model, params, buffers, batch_norm)
    _check_history(history, twin)


# ------------------------------------------------------------------------------ RMSprop / Adam
def _keras_rmsprop(lr, rho, eps):
    """Keras's RMSprop in torch ops: s = rho s + (1 - rho) g^2; w -= lr g / sqrt(s + eps).
    torch.optim.RMSprop divides by sqrt(s) + eps instead, hence this hand-written twin."""
    state = {}

    def step(plist, t):
        with torch.no_grad():
            for i, p in enumerate(plist):
                s = state.setdefault(i, torch.zeros_like(p))
                s.mul_(rho).add_((1 - rho) * p.grad * p.grad)
                p -= lr * p.grad / torch.sqrt(s + eps)

    return step


def _keras_adam(lr, b1, b2, eps):
    """Keras's Adam in torch ops: bias correction folded into the step size and epsilon added
    to sqrt(v) uncorrected. torch.optim.Adam adds eps to sqrt(v / (1 - b2^t)), a different
    number for eps > 0, hence this hand-written twin."""
    state = {}

    def step(plist, t):
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        with torch.no_grad():
            for i, p in enumerate(plist):
                m, v = state.setdefault(i, (torch.zeros_like(p), torch.zeros_like(p)))
                m.add_((1 - b1) * (p.grad - m))
                v.add_((1 - b2) * (p.grad * p.grad - v))
                p -= alpha * m / (torch.sqrt(v) + eps)

    return step


@pytest.mark.parametrize("batch_norm", [False, True])
def test_rmsprop_matches_keras_formula_on_torch_gradients(batch_norm):
    x, y = _data(2)
    model = _model(batch_norm=batch_norm, seed=2)
    params, buffers = _to_torch(model, batch_norm)
    twin = _train_twin(params, buffers, x, y, "relu", _keras_rmsprop(0.01, 0.9, 1e-7))
    history = _fit(model, optimizers.RMSprop(0.01, rho=0.9, epsilon=1e-7), x, y)
    _compare(model, params, buffers, batch_norm)
    _check_history(history, twin)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_adam_matches_keras_formula_on_torch_gradients(batch_norm):
    x, y = _data(3)
    model = _model(batch_norm=batch_norm, seed=3)
    params, buffers = _to_torch(model, batch_norm)
    twin = _train_twin(params, buffers, x, y, "relu", _keras_adam(0.01, 0.9, 0.999, 1e-7))
    history = _fit(model, optimizers.Adam(0.01), x, y)
    _compare(model, params, buffers, batch_norm)
    _check_history(history, twin)


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_epsilon_zero_matches_torch_optim_itself(name):
    """With epsilon = 0 Keras's and torch's formulas coincide, so torch.optim.Adam/RMSprop are
    the twin directly. tanh (no dead units) keeps every gradient, hence every denominator,
    non-zero."""
    x, y = _data(4)
    model = _model(activation="tanh", seed=4)
    params, buffers = _to_torch(model, False)
    if name == "adam":
        opt = torch.optim.Adam(params.values(), lr=0.01, betas=(0.9, 0.999), eps=0.0)
        ours = optimizers.Adam(0.01, epsilon=0.0)
    else:
        opt = torch.optim.RMSprop(params.values(), lr=0.01, alpha=0.9, eps=0.0)
        ours = optimizers.RMSprop(0.01, rho=0.9, epsilon=0.0)
    twin = _train_twin(params, buffers, x, y, "tanh", lambda plist, t: opt.step())
    history = _fit(model, ours, x, y)
    _compare(model, params, buffers, False)
    _check_history(history, twin)
