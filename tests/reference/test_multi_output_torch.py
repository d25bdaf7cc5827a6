"""A model with two outputs against a PyTorch twin: the same weights after 8 SGD steps of
``w_cls * cross_entropy + w_reg * mse`` (float64), with npconv's real ``fit``."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

import npconv  # noqa: E402
from npconv import layers  # noqa: E402


def test_two_heads_train_as_torch_with_loss_weights():
    npconv.set_random_seed(3)
    inp = npconv.Input((5,))
    h = layers.Dense(7, activation="tanh", dtype="float64")(inp)
    cls = layers.Dense(4, activation="softmax", name="cls", dtype="float64")(h)
    reg = layers.Dense(2, name="reg", dtype="float64")(h)
    model = npconv.Model(inp, [cls, reg])
    model.compile(npconv.optimizers.SGD(learning_rate=0.1),
                  loss=["sparse_categorical_crossentropy", "mse"], loss_weights=[0.7, 2.0])
    rng = np.random.default_rng(4)
    x = rng.standard_normal((32, 5))
    y_cls, y_reg = rng.integers(0, 4, 32), rng.standard_normal((32, 2))
    params = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    model.fit(x, [y_cls, y_reg], batch_size=4, epochs=1, shuffle=False, verbose=0)

    opt = torch.optim.SGD(params, lr=0.1)
    k1, b1, k2, b2, k3, b3 = params
    for start in range(0, 32, 4):
        xb = torch.tensor(x[start:start + 4])
        hidden = torch.tanh(xb @ k1 + b1)
        loss = (0.7 * F.cross_entropy(hidden @ k2 + b2, torch.tensor(y_cls[start:start + 4]))
                + 2.0 * F.mse_loss(hidden @ k3 + b3, torch.tensor(y_reg[start:start + 4])))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for ours, theirs in zip(model.get_weights(), params, strict=True):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-6, atol=1e-10)
