"""A layer called more than once in a model (Keras's shared layers: Siamese towers, a
weight-tied block): one set of weights, each call with its own caches, the gradient the sum
over the calls; against finite differences, a PyTorch twin, save/load and the parts run in
helper processes."""

import numpy as np
import pytest

import npconv
from npconv import layers
from tests.finite_differences import central_differences


def _siamese(dtype="float64", seed=0):
    npconv.set_random_seed(seed)
    a, b = npconv.Input((6, 6, 1)), npconv.Input((6, 6, 1))
    conv = layers.Conv2D(3, 3, activation="relu", dtype=dtype, name="tower_conv")
    pool = layers.MaxPooling2D(2, dtype=dtype, name="tower_pool")
    flat = layers.Flatten(dtype=dtype)
    dense = layers.Dense(4, activation="tanh", dtype=dtype, name="tower_dense")
    ta = dense(flat(pool(conv(a))))
    tb = dense(flat(pool(conv(b))))
    merged = layers.Concatenate(dtype=dtype)([ta, tb])
    out = layers.Dense(2, activation="softmax", dtype=dtype, name="head")(merged)
    return npconv.Model([a, b], out)


def _data(n=5, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, 6, 6, 1)), rng.standard_normal((n, 6, 6, 1))], \
        rng.integers(0, 2, n)


def test_one_set_of_weights_and_the_gradient_sums_the_calls():
    model = _siamese()
    assert [layer.name for layer in model.layers if layer.name.startswith("tower")] == [
        "tower_conv", "tower_pool", "tower_dense"]
    assert len(model.weights) == 6
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = _data()
    out = model.forward(x, training=True)
    _, d = model.loss.forward_backward(y, out)
    model.backward(d)
    for weight in model.get_layer("tower_conv").kernel, model.get_layer("tower_dense").bias:
        numeric = central_differences(lambda: model.loss(y, model.forward(x)), weight.value,
                                      1e-6)
        np.testing.assert_allclose(weight.grad, numeric, rtol=1e-6, atol=1e-9)


def test_training_matches_a_torch_twin_using_its_modules_twice():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    model = _siamese()
    model.compile(npconv.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy")
    x, y = _data(n=8)
    ck, cb, dk, db, hk, hb = (torch.tensor(w, requires_grad=True) for w in model.get_weights())
    params = [ck, cb, dk, db, hk, hb]
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    opt = torch.optim.SGD(params, lr=0.1)

    def tower(img):  # NHWC in, NHWC flatten order as npconv's Flatten
        h = F.relu(F.conv2d(img.permute(0, 3, 1, 2), ck.permute(3, 2, 0, 1), cb))
        h = F.max_pool2d(h, 2).permute(0, 2, 3, 1).reshape(len(img), -1)
        return torch.tanh(h @ dk + db)

    for start in range(0, 8, 4):
        xa, xb = (torch.tensor(v[start:start + 4]) for v in x)
        logits = torch.cat([tower(xa), tower(xb)], dim=1) @ hk + hb
        loss = F.cross_entropy(logits, torch.tensor(y[start:start + 4]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for ours, theirs in zip(model.get_weights(), params, strict=True):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-6, atol=1e-10)


def test_save_and_load_keep_the_sharing(tmp_path):
    model = _siamese()
    x, _ = _data()
    model.save(tmp_path / "siamese.npconv")
    loaded = npconv.models.load_model(tmp_path / "siamese.npconv")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    conv_nodes = [n for n in loaded._nodes if n.layer.name == "tower_conv"]
    assert len(conv_nodes) == 2 and conv_nodes[0].layer is conv_nodes[1].layer


@pytest.mark.parametrize("backend", ["helpers", "threads"])
def test_parts_in_helpers_or_threads_give_the_one_piece_numbers(backend, monkeypatch):
    from npconv import _threads, _workers
    from npconv.models import parallel
    from tests.models.test_parallel import _wait_for_helpers

    x, y = _data(n=48)
    x = [v.astype(np.float32) for v in x]
    results = []
    before = _threads._requested
    for threads in (1, 2):
        npconv.set_num_threads(threads)
        model = _siamese(dtype="float32")
        model.compile("rmsprop", "sparse_categorical_crossentropy")
        if threads == 2:
            if backend == "threads":
                monkeypatch.setattr(_workers, "ready_workers", lambda count: None)
            elif _workers.available():
                _wait_for_helpers(1)
            else:
                pytest.skip("helper processes need Linux")
        model.fit(x, y, batch_size=24, epochs=2, shuffle=False, verbose=0)
        if threads == 2:  # the parts really ran apart
            if backend == "threads":
                assert isinstance(model._parallel_run, parallel.ParallelRun)
            else:
                assert getattr(model, "_process_state", None) is not None
        results.append(model.get_weights())
    _threads._requested = before
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_summary_lists_every_calls_inputs_and_a_sequential_refuses_the_tie():
    model = _siamese()
    lines = []
    model.summary(print_fn=lines.append)
    conv_row = next(line for line in lines if line.lstrip().startswith("tower_conv"))
    assert conv_row.count("input_layer") == 2  # both towers' inputs
    dense = layers.Dense(4)
    inp = npconv.Input((4,))
    tied = npconv.Model(inp, dense(dense(inp)))
    with pytest.raises(TypeError, match="a layer called twice cannot be an entry"):
        npconv.Sequential([npconv.Input((4,)), tied, layers.Dense(2)])


def test_a_second_backward_after_released_caches_says_so():
    dense = layers.Dense(3)
    inp = npconv.Input((3,))
    model = npconv.Model(inp, dense(dense(inp)))
    out = model.forward(np.ones((2, 3), np.float32), training=True)
    model.backward(np.ones_like(out), release_caches=True)
    with pytest.raises(RuntimeError, match="caches of the last forward pass were released"):
        model.backward(np.ones_like(out))
