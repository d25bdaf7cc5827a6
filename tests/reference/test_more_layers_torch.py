"""Subtract, Average, Maximum, Minimum and Cropping2D against PyTorch 2.13 autograd: forward and
every input's gradient over random shapes (size-1 broadcasting included), in both dtypes; ties of
Maximum/Minimum with integer-valued inputs, exactly, against the same left-to-right chain of
``torch.maximum`` / ``torch.minimum``; Cropping2D against slicing in both data formats; and a
functional model with Subtract, Maximum and Cropping2D trained by SGD beside a torch twin."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from npconv.layers import (  # noqa: E402
    Average,
    Conv2D,
    Cropping2D,
    Dense,
    Flatten,
    Input,
    Maximum,
    Minimum,
    Subtract,
)
from npconv.models.functional import Model  # noqa: E402
from npconv.random import set_random_seed  # noqa: E402
from npconv.training import optimizers  # noqa: E402

TOL = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}
LAYERS = {"subtract": Subtract, "average": Average, "maximum": Maximum, "minimum": Minimum}


def _torch_merge(kind, ts):
    if kind == "subtract":
        return ts[0] - ts[1]
    if kind == "average":
        out = ts[0]
        for t in ts[1:]:
            out = out + t
        return out / len(ts)
    fn = torch.maximum if kind == "maximum" else torch.minimum
    out = ts[0]
    for t in ts[1:]:  # left to right, as Keras reduces
        out = fn(out, t)
    return out


def _random_shapes(rng, kind):
    k = 2 if kind == "subtract" else int(rng.integers(2, 5))
    full = [int(rng.integers(1, 4))] + [int(v) for v in
                                         rng.integers(1, 5, size=int(rng.integers(1, 4)))]
    shapes = []
    for _ in range(k):  # the batch axis stays; any other axis may be 1 (broadcast)
        shapes.append(tuple([full[0]] + [1 if rng.random() < 0.3 else d for d in full[1:]]))
    return shapes


def _compare(kind, xs, d, dtype, exact=False):
    layer = LAYERS[kind]()
    y = layer(xs)
    grads = layer.backward(d)
    ts = [torch.from_numpy(x.copy()).requires_grad_() for x in xs]
    yt = _torch_merge(kind, ts)
    yt.backward(torch.from_numpy(d.copy()))
    check = (np.testing.assert_array_equal if exact
             else lambda a, b: np.testing.assert_allclose(a, b, **TOL[dtype]))
    assert y.dtype == dtype and y.shape == tuple(yt.shape)
    check(y, yt.detach().numpy())
    assert len(grads) == len(xs)
    for g, t in zip(grads, ts, strict=True):
        assert g.dtype == dtype and g.shape == tuple(t.shape)
        check(g, t.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", list(LAYERS))
def test_merges_match_torch_on_random_shapes(kind, dtype):
    rng = np.random.default_rng(80 + list(LAYERS).index(kind) + 10 * (dtype == np.float32))
    for _ in range(30):
        shapes = _random_shapes(rng, kind)
        xs = [rng.standard_normal(s).astype(dtype) for s in shapes]
        d = rng.standard_normal(np.broadcast_shapes(*shapes)).astype(dtype)
        _compare(kind, xs, d, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["maximum", "minimum"])
def test_ties_match_torch_exactly(kind, dtype):
    # values in {-1, 0, 1}: most elements tie between two, three or four inputs; an
    # integer-valued d_out keeps every share (d/2, d/4, ...) and every broadcast sum exact
    rng = np.random.default_rng(90 + (kind == "minimum") + 10 * (dtype == np.float32))
    ties = 0
    for _ in range(40):
        shapes = _random_shapes(rng, kind)
        xs = [rng.integers(-1, 2, s).astype(dtype) for s in shapes]
        d = rng.integers(-4, 5, np.broadcast_shapes(*shapes)).astype(dtype)
        ties += int(np.sum(np.broadcast_arrays(*xs)[0] == np.broadcast_arrays(*xs)[1]))
        _compare(kind, xs, d, dtype, exact=True)
    assert ties > 100  # the case is really exercised


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cropping2d_matches_torch_slicing(data_format, dtype):
    rng = np.random.default_rng(100 + (data_format == "channels_first") + 2 * (dtype == np.float32))
    for _ in range(25):
        n, h, w, c = (int(v) for v in rng.integers(1, 7, size=4))
        h, w = h + 1, w + 1
        top, bottom = (int(v) for v in rng.multinomial(int(rng.integers(0, h)), [0.5, 0.5]))
        left, right = (int(v) for v in rng.multinomial(int(rng.integers(0, w)), [0.5, 0.5]))
        cropping = ((top, bottom), (left, right))
        shape = (n, h, w, c) if data_format == "channels_last" else (n, c, h, w)
        x = rng.standard_normal(shape).astype(dtype)
        layer = Cropping2D(cropping, data_format=data_format)
        y = layer(x)
        xt = torch.from_numpy(x.copy()).requires_grad_()
        if data_format == "channels_last":
            yt = xt[:, top:h - bottom, left:w - right, :]
        else:
            yt = xt[:, :, top:h - bottom, left:w - right]
        d = rng.standard_normal(tuple(yt.shape)).astype(dtype)
        yt.backward(torch.from_numpy(d))
        assert y.dtype == dtype
        np.testing.assert_array_equal(y, yt.detach().numpy())
        dx = layer.backward(d)
        assert dx.dtype == dtype
        np.testing.assert_array_equal(dx, xt.grad.numpy())


# ------------------------------------------------------------------ a functional model, trained
N, BATCH, EPOCHS, LR = 40, 10, 2, 0.05


def _model():
    set_random_seed(7)
    inputs = Input(shape=(7, 7, 2))
    a = Conv2D(4, 3, padding="same", dtype="float64", name="a")(inputs)
    b = Conv2D(4, 3, padding="same", activation="relu", dtype="float64", name="b")(inputs)
    c = Conv2D(1, 1, dtype="float64", name="c")(inputs)  # broadcast over the channels
    diff = Subtract(name="sub")([a, b])
    top = Maximum(name="max")([diff, b, c])
    cropped = Cropping2D(((1, 0), (2, 1)), name="crop")(top)
    outputs = Dense(3, activation="softmax", dtype="float64", name="head")(Flatten()(cropped))
    return Model(inputs, outputs)


def _twin_params(model):
    params = {}
    for name in ("a", "b", "c"):
        kernel, bias = model.get_layer(name).get_weights()
        params[name] = [torch.tensor(kernel.transpose(3, 2, 0, 1).copy()), torch.tensor(bias)]
    kernel, bias = model.get_layer("head").get_weights()
    params["head"] = [torch.tensor(kernel.T.copy()), torch.tensor(bias)]
    for pair in params.values():
        for p in pair:
            p.requires_grad_(True)
    return params


def _twin_loss(params, xb, yb):
    x = torch.from_numpy(xb).permute(0, 3, 1, 2)
    a = F.conv2d(x, *params["a"], padding=1)
    b = torch.relu(F.conv2d(x, *params["b"], padding=1))
    c = F.conv2d(x, *params["c"])
    top = torch.maximum(torch.maximum(a - b, b), c)
    cropped = top[:, :, 1:, 2:-1]
    flat = cropped.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # NHWC flatten, as npconv
    return F.cross_entropy(F.linear(flat, *params["head"]), torch.from_numpy(yb))


def test_functional_model_trains_like_a_torch_twin():
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((N, 7, 7, 2)), rng.integers(0, 3, N)
    model = _model()
    assert model.get_layer("crop").output_shape == (None, 6, 4, 4)
    params = _twin_params(model)
    opt = torch.optim.SGD([p for pair in params.values() for p in pair], lr=LR)
    twin_losses = []
    for _ in range(EPOCHS):
        for i in range(0, N, BATCH):
            opt.zero_grad()
            loss = _twin_loss(params, x[i:i + BATCH], y[i:i + BATCH])
            loss.backward()
            opt.step()
            twin_losses.append(loss.item())
    model.compile(optimizer=optimizers.SGD(LR), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    assert model.optimizer.iterations == EPOCHS * N // BATCH
    np.testing.assert_allclose(history.history["loss"],
                               np.reshape(twin_losses, (EPOCHS, -1)).mean(axis=1), rtol=1e-10)
    for name in ("a", "b", "c"):
        kernel, bias = model.get_layer(name).get_weights()
        np.testing.assert_allclose(kernel, params[name][0].detach().numpy().transpose(2, 3, 1, 0),
                                   rtol=1e-6, atol=1e-10, err_msg=name)
        np.testing.assert_allclose(bias, params[name][1].detach().numpy(), rtol=1e-6, atol=1e-10)
    kernel, bias = model.get_layer("head").get_weights()
    np.testing.assert_allclose(kernel, params["head"][0].detach().numpy().T, rtol=1e-6,
                               atol=1e-10)
    np.testing.assert_allclose(bias, params["head"][1].detach().numpy(), rtol=1e-6, atol=1e-10)
    # the weights moved: the comparison is not of the initial weights
    assert not np.allclose(kernel, _model().get_layer("head").get_weights()[0])
