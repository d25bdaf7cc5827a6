"""A batch run in parts, on threads or in helper processes, gives what the one-piece run
gives.

Every case runs the same model twice on the same batch, with ``set_num_threads(1)`` (one
piece) and with 2 or 3 parts, and compares outputs, weight gradients and input gradients.
float64 agrees to 1e-12; float32 to 2e-6 (sums grouped differently). The ``backend`` fixture
runs each case with threads and, where helper processes work (Linux), with processes.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import npconv
from npconv import _threads, _workers, layers
from npconv.models import parallel, zoo

pytestmark = pytest.mark.skipif(not _threads._blas_controller(),
                                reason="threadpoolctl cannot limit this BLAS: batches never "
                                       "split here (tested by test_no_blas_control_runs_serially)")

BACKENDS = ["threads"] + (["processes"] if _workers.available() else [])


def _wait_for_helpers(count, timeout=60.0):
    deadline = time.monotonic() + timeout
    while _workers.ready_workers(count) is None:
        assert time.monotonic() < deadline, "npconv helper processes did not start"
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _restore_threads():
    before = _threads._requested
    yield
    _threads._requested = before


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """'threads' (helpers hidden) or 'processes' (two helpers started and ready)."""
    if request.param == "threads":
        monkeypatch.setattr(_workers, "ready_workers", lambda count: None)
    else:
        _wait_for_helpers(2)
    return request.param


def _expected_run(backend):
    return parallel.ProcessRun if backend == "processes" else parallel.ParallelRun


def _run(model, xs, threads, training=True, need_input_grad=True, seed=1):
    npconv.set_num_threads(threads)
    out = model.forward(xs, training=training)
    outs = out if isinstance(out, list) else [out]
    rng = np.random.default_rng(seed)
    d = [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]
    dx = model.backward(d if isinstance(out, list) else d[0], need_input_grad=need_input_grad)
    split = model._parallel_run is not None
    grads = [None if w.grad is None else w.grad.copy() for w in model.trainable_weights]
    return outs, grads, dx, split


def _assert_same(a, b, dtype):
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-6, atol=2e-6)
    a_list = a if isinstance(a, list) else [a]
    b_list = b if isinstance(b, list) else [b]
    assert len(a_list) == len(b_list)
    for u, v in zip(a_list, b_list, strict=True):
        scale = max(float(np.max(np.abs(u))), 1e-30)
        np.testing.assert_allclose(np.asarray(u) / scale, np.asarray(v) / scale, **tol)


def _compare(model, xs, threads=2, dtype=np.float32, training=True, backend=None):
    serial = _run(model, xs, 1, training)
    split = _run(model, xs, threads, training)
    assert not serial[3]
    assert split[3], "expected the batch to run in parts"
    if backend is not None:
        assert isinstance(model._parallel_run, _expected_run(backend))
    _assert_same(serial[0], split[0], dtype)
    for g1, g2 in zip(serial[1], split[1], strict=True):
        _assert_same(g1, g2, dtype)
    _assert_same(serial[2], split[2], dtype)


@pytest.mark.parametrize("name", ["mnist_cnn", "lenet5", "strided_cnn", "mnist_cnn_no_pool"])
def test_zoo_models_split_equals_one_piece(name, backend):
    npconv.utils.set_random_seed(3)
    model = getattr(zoo, name)()
    x = np.random.default_rng(0).random((37, 28, 28, 1), dtype=np.float32)  # parts 18 + 19
    _compare(model, x, backend=backend)
    _compare(model, x, threads=3)


def test_float64_residual_branches_and_concatenate(backend):
    npconv.utils.set_random_seed(4)
    inp = npconv.Input(shape=(9, 8, 3))
    a = layers.Conv2D(4, 3, padding="same", activation="relu", dtype="float64")(inp)
    b = layers.Conv2D(4, 1, dtype="float64")(inp)
    s = layers.Add()([a, b])
    c = layers.Concatenate()([s, layers.MaxPooling2D(3, strides=1, padding="same")(a)])
    g = layers.GlobalAveragePooling2D()(c)
    out = layers.Dense(5, activation="softmax", dtype="float64")(g)
    model = npconv.Model(inp, out)
    x = np.random.default_rng(1).standard_normal((20, 9, 8, 3))
    _compare(model, x, dtype=np.float64, backend=backend)


def test_multi_input_multi_output_channels_first(backend):
    npconv.utils.set_random_seed(5)
    i1 = npconv.Input(shape=(2, 10, 10))
    i2 = npconv.Input(shape=(6,))
    f = layers.Flatten()(layers.Conv2D(3, 3, strides=2, data_format="channels_first",
                                       activation="tanh")(i1))
    h = layers.Concatenate()([f, i2])
    o1 = layers.Dense(4)(h)
    o2 = layers.Dense(2, activation="sigmoid")(layers.Dropout(0.5)(h))
    model = npconv.Model([i1, i2], [o1, o2])
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((24, 2, 10, 10)).astype(np.float32),
          rng.standard_normal((24, 6)).astype(np.float32)]
    _compare(model, xs, training=False, backend=backend)  # Dropout: identity in inference
    _, _, _, split = _run(model, xs, 2, training=True)
    assert not split  # Dropout draws one mask for the whole batch while training


def test_batch_norm_splits_only_in_inference(backend):
    npconv.utils.set_random_seed(6)
    model = npconv.Sequential([npconv.Input(shape=(6, 6, 2)), layers.Conv2D(3, 3),
                               layers.BatchNormalization(), layers.Flatten(), layers.Dense(3)])
    x = np.random.default_rng(3).standard_normal((32, 6, 6, 2)).astype(np.float32)
    assert not _run(model, x, 2, training=True)[3]
    _compare(model, x, training=False, backend=backend)


def test_small_batches_and_replicas_run_in_one_piece(monkeypatch):
    monkeypatch.setattr(_workers, "ready_workers", lambda count: None)  # threads
    npconv.utils.set_random_seed(7)
    model = zoo.lenet5()
    npconv.set_num_threads(2)
    x = np.zeros((2 * parallel.MIN_PART - 1, 28, 28, 1), np.float32)
    model.forward(x)
    assert model._parallel_run is None
    model.forward(np.zeros((2 * parallel.MIN_PART, 28, 28, 1), np.float32))
    run = model._parallel_run
    assert run is not None and len(run.slices) == 2
    assert all(r._parallel_run is None for r in run.replicas[1:])


def test_backward_twice_same_gradients_and_inputs_unchanged(backend):
    npconv.utils.set_random_seed(8)
    model = zoo.strided_cnn()
    npconv.set_num_threads(2)
    x = np.random.default_rng(4).random((32, 28, 28, 1), dtype=np.float32)
    x_before = x.copy()
    out = model.forward(x, training=True)
    d = np.random.default_rng(5).standard_normal(out.shape).astype(np.float32)
    d_before = d.copy()
    model.backward(d)
    first = [w.grad.copy() for w in model.trainable_weights]
    model.backward(d)
    for g1, w in zip(first, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(g1, w.grad)
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_array_equal(d, d_before)


def test_backward_with_a_wrong_batch_names_the_model(backend):
    model = zoo.strided_cnn()
    npconv.set_num_threads(2)
    out = model.forward(np.zeros((32, 28, 28, 1), np.float32), training=True)
    with pytest.raises(ValueError, match=r"strided_cnn.*batch of 32"):
        model.backward(np.zeros((31, out.shape[1]), np.float32))


def test_an_error_in_a_worker_is_raised():
    model = zoo.strided_cnn()
    npconv.set_num_threads(2)
    x = np.zeros((32, 28, 28, 1), np.float32)
    model.forward(x)
    second = model._nodes[1].layer

    def broken(*args, **kwargs):
        raise RuntimeError("boom in a part")

    second.call = broken  # the replicas copy it: both parts fail
    with pytest.raises(RuntimeError, match="boom in a part"):
        model.forward(x)
    del second.call
    assert model.forward(x).shape == (32, 10)


def test_fit_with_threads_matches_one_piece(backend):
    x = np.random.default_rng(6).random((96, 28, 28, 1), dtype=np.float32)
    y = np.random.default_rng(7).integers(0, 10, 96)
    weights = {}
    for threads in (1, 2):
        npconv.set_num_threads(threads)
        npconv.utils.set_random_seed(9)
        model = zoo.strided_cnn()
        model.compile(optimizer=npconv.optimizers.SGD(0.05, momentum=0.9),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=True)
        weights[threads] = model.get_weights()
    for a, b in zip(weights[1], weights[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_custom_layer_subclass_runs_in_one_piece():
    class Noisy(layers.Dense):  # defined outside npconv: it may keep per-batch state
        pass

    model = npconv.Sequential([npconv.Input(shape=(4,)), Noisy(3)])
    npconv.set_num_threads(2)
    model.forward(np.zeros((64, 4), np.float32))
    assert model._parallel_run is None


def test_no_blas_control_runs_serially(monkeypatch):
    monkeypatch.setattr(_threads, "_blas", False)
    model = zoo.strided_cnn()
    npconv.set_num_threads(2)
    model.forward(np.zeros((64, 28, 28, 1), np.float32))
    assert model._parallel_run is None


def test_num_threads_setting_and_environment(monkeypatch):
    npconv.set_num_threads(3)
    assert npconv.get_num_threads() == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_num_threads"):
            npconv.set_num_threads(bad)
    _threads._requested = None
    monkeypatch.setenv("NPCONV_NUM_THREADS", "1")
    assert npconv.get_num_threads() == 1
    monkeypatch.setenv("NPCONV_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="NPCONV_NUM_THREADS.*'two'"):
        npconv.get_num_threads()


def test_part_slices_cover_the_batch():
    for n in (16, 17, 63, 64, 255):
        for parts in (2, 3, 4):
            slices = parallel.part_slices(n, parts)
            sizes = [s.stop - s.start for s in slices]
            assert sum(sizes) == n and max(sizes) - min(sizes) <= 1
            assert slices[0].start == 0 and slices[-1].stop == n


# ---------------------------------------------------------------------------- helper processes
needs_helpers = pytest.mark.skipif(not _workers.available(),
                                   reason="helper processes need memfd and fd passing (Linux)")


def _process_forward(model, x, training=False):
    npconv.set_num_threads(2)
    _wait_for_helpers(1)
    out = model.forward(x, training=training)
    assert isinstance(model._parallel_run, parallel.ProcessRun)
    return out


def _serial_forward(model, x, training=False):
    npconv.set_num_threads(1)
    return model.forward(x, training=training)


@needs_helpers
def test_helpers_see_weights_set_rebound_and_changed_config():
    npconv.utils.set_random_seed(10)
    model = zoo.strided_cnn()
    x = np.random.default_rng(8).random((32, 28, 28, 1), dtype=np.float32)
    _process_forward(model, x)
    model.set_weights([w * 0.5 for w in model.get_weights()])  # in place: shared file
    np.testing.assert_allclose(_process_forward(model, x), _serial_forward(model, x),
                               rtol=1e-6, atol=1e-7)
    kernel = model.layers[0].kernel
    kernel.value = kernel.value * -1.0  # rebound: the weights are shared again
    np.testing.assert_allclose(_process_forward(model, x), _serial_forward(model, x),
                               rtol=1e-6, atol=1e-7)
    model.layers[0].activation = npconv.ops.activations.get("tanh")  # a new config
    np.testing.assert_allclose(_process_forward(model, x), _serial_forward(model, x),
                               rtol=1e-6, atol=1e-7)


@needs_helpers
def test_a_dead_helper_means_one_piece_from_then_on():
    model = zoo.strided_cnn()
    x = np.random.default_rng(9).random((32, 28, 28, 1), dtype=np.float32)
    _process_forward(model, x)
    expected = _serial_forward(model, x)
    helper = _workers._workers[0]
    helper.process.kill()
    helper.process.wait()
    npconv.set_num_threads(2)
    try:
        np.testing.assert_allclose(model.forward(x), expected, rtol=1e-6, atol=1e-7)
        assert not isinstance(model._parallel_run, parallel.ProcessRun)
        assert _workers.ready_workers(1) is None
    finally:
        _workers._broken = False  # later tests may start new helpers


@needs_helpers
def test_helper_replies_follow_their_requests_and_errors_keep_their_type():
    _wait_for_helpers(1)
    helper = _workers.ready_workers(1)[0]
    stale = helper.send({"op": "no-such-op"})  # its reply is never waited for
    with pytest.raises(ValueError, match="unknown request 'again'"):
        helper.request({"op": "again"})
    assert stale < helper._seq
    with pytest.raises(RuntimeError, match="KeyError"):
        helper.request({"op": "forward", "key": "missing", "inputs": [], "training": False,
                        "out_at": 0})
    assert helper.request({"op": "drop", "key": "missing"})["seq"] == helper._seq


@needs_helpers
def test_many_models_are_forgotten_by_the_helpers_oldest_first():
    x = np.random.default_rng(10).random((16, 28, 28, 1), dtype=np.float32)
    models = [zoo.lenet5() for _ in range(parallel.MAX_MODELS_PER_HELPER + 2)]
    for model in models:
        _process_forward(model, x)
    helper = _workers.ready_workers(1)[0]
    assert len(helper.models) <= parallel.MAX_MODELS_PER_HELPER
    np.testing.assert_allclose(_process_forward(models[0], x), _serial_forward(models[0], x),
                               rtol=1e-6, atol=1e-7)


def test_blas_limited_holds_one_thread_and_restores_the_count():
    libs = _threads._blas_controller().lib_controllers
    before = [lib.get_num_threads() for lib in libs]
    with _threads.blas_limited():
        assert all(lib.get_num_threads() == 1 for lib in libs)
        with _threads.blas_limited():  # nested: still one, and the outer restore is intact
            assert all(lib.get_num_threads() == 1 for lib in libs)
        assert all(lib.get_num_threads() == 1 for lib in libs)
    assert [lib.get_num_threads() for lib in libs] == before
    with pytest.raises(KeyError), _threads.blas_limited():
        raise KeyError("an error inside the block")
    assert [lib.get_num_threads() for lib in libs] == before


# ---------------------------------------------------------------------------- the sockets
@needs_helpers
@pytest.mark.parametrize("spin_s", [0.0, 0.01])
def test_inbox_takes_messages_and_descriptors(spin_s):
    import os
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    inbox = _workers.Inbox(ours)
    try:
        theirs.send(b"first")
        theirs.send(b"")  # an empty message is a message, not the end
        r, w = os.pipe()
        socket.send_fds(theirs, [b"with a descriptor"], [w])
        os.close(w)
        assert inbox.receive(spin_s) == (b"first", [])
        assert inbox.receive(spin_s) == (b"", [])
        data, fds = inbox.receive(spin_s)
        assert data == b"with a descriptor" and len(fds) == 1
        os.write(fds[0], b"x")
        os.close(fds[0])
        assert os.read(r, 1) == b"x"
        os.close(r)
        started = time.perf_counter()
        theirs.close()  # the peer's end closed: b"" at once, not after the spin
        assert inbox.receive(spin_s) == (b"", [])
        assert time.perf_counter() - started < 1.0
    finally:
        ours.close()


@needs_helpers
def test_inbox_refuses_a_message_larger_than_its_buffer(monkeypatch):
    import socket

    monkeypatch.setattr(_workers, "_MAX_MESSAGE", 16)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        inbox = _workers.Inbox(ours)
        theirs.send(b"x" * 17)
        with pytest.raises(_workers.WorkerError, match="larger than 16 bytes"):
            inbox.receive()
        theirs.send(b"y" * 16)
        assert inbox.receive() == (b"y" * 16, [])
    finally:
        ours.close()
        theirs.close()


def test_spin_time_from_the_environment(monkeypatch):
    monkeypatch.delenv("NPCONV_SPIN_US", raising=False)
    monkeypatch.setattr(_threads, "_cpus", lambda: 2)
    npconv.set_num_threads(2)
    assert _workers.spin_seconds() == _workers.SPIN_S
    npconv.set_num_threads(3)  # more parts than CPUs: no polling unless asked for
    assert _workers.spin_seconds() == 0.0
    monkeypatch.setenv("NPCONV_SPIN_US", "300")
    assert _workers.spin_seconds() == pytest.approx(300e-6)
    monkeypatch.setenv("NPCONV_SPIN_US", "0")
    assert _workers.spin_seconds() == 0.0
    monkeypatch.setenv("NPCONV_SPIN_US", "150")
    assert _workers.spin_seconds() == pytest.approx(150e-6)
    for bad in ("-1", "soon", "nan", "inf", "2e6"):
        monkeypatch.setenv("NPCONV_SPIN_US", bad)
        with pytest.raises(ValueError, match=f"NPCONV_SPIN_US.*{bad!r}"):
            _workers.spin_seconds()


# ---------------------------------------------------------------------------- released caches
@pytest.mark.parametrize("threads", [1, 2])
def test_backward_that_releases_caches_gives_the_same_gradients(backend, threads):
    npconv.utils.set_random_seed(12)
    model = zoo.mnist_cnn()  # with ReLUs moved past its max pools (models.fusion)
    x = np.random.default_rng(13).random((32, 28, 28, 1), dtype=np.float32)
    npconv.set_num_threads(threads)
    out = model.forward(x, training=True)
    d = np.random.default_rng(14).standard_normal(out.shape).astype(np.float32)
    model.backward(d)
    kept = [w.grad.copy() for w in model.trainable_weights]
    model.forward(x, training=True)
    model.backward(d, release_caches=True)
    for g, w in zip(kept, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(g, w.grad)
    assert all(layer._cache is None for layer in model.layers if hasattr(layer, "_cache"))
    with pytest.raises(RuntimeError, match=r"dense: the caches .* release_caches=True"):
        model.backward(d)
    model.forward(x, training=True)  # a new forward pass: backward works again
    model.backward(d)
    for g, w in zip(kept, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(g, w.grad)


def test_a_layer_after_released_caches_asks_for_a_forward():
    layer = layers.Conv2D(4, 3, activation="relu")
    x = np.random.default_rng(15).random((2, 6, 6, 1), dtype=np.float32)
    y = layer.forward(x, training=True)
    layer.backward(np.ones_like(y))
    layer.release_caches()
    with pytest.raises(RuntimeError, match="run the forward pass again"):
        layer.backward(np.ones_like(y))
    layer.forward(x, training=True)
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_fit_releases_each_steps_caches():
    npconv.utils.set_random_seed(16)
    model = zoo.strided_cnn()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(17)
    model.fit(rng.random((40, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 40),
              batch_size=20, epochs=1, verbose=0)
    assert all(getattr(layer, "_cache", None) is None for layer in model.layers)


# ------------------------------------------------------------------ a step in one exchange
def _two_ways(model, x, y, sw):
    """(loss, outputs, grads) of a training step by train_in_parts, and by forward, the loss's
    fused gradient and backward in parts (the path it replaces)."""
    from npconv.training.loop import _fusion

    fused = _fusion(model)
    npconv.set_num_threads(2)
    _wait_for_helpers(1)
    done = parallel.train_in_parts(model, x, y, sw, fused)
    assert done is not None, "expected the step to run in helper processes"
    grads = [w.grad.copy() for w in model.trainable_weights]
    out = model.forward(x, training=True)
    assert isinstance(model._parallel_run, parallel.ProcessRun)
    method = (model.loss.fused_softmax_backward if fused == "softmax"
              else model.loss.fused_sigmoid_backward)
    value, d = method(y, out, sample_weight=sw)
    model.backward(d, fused_output_activation=True)
    return done, (value, out, [w.grad.copy() for w in model.trainable_weights]), grads


@needs_helpers
@pytest.mark.parametrize("case", ["sparse", "sparse_weighted", "sparse_sum", "onehot_smooth",
                                  "binary", "scalar_weight", "column_weight"])
def test_train_in_parts_gives_the_numbers_of_the_two_exchange_step(case):
    npconv.utils.set_random_seed(20)
    rng = np.random.default_rng(21)
    x = rng.random((40, 28, 28, 1), dtype=np.float32)
    sw = None
    if case == "binary":
        model = npconv.Sequential([npconv.Input((28, 28, 1)), layers.Conv2D(4, 3, strides=2),
                                   layers.Flatten(), layers.Dense(3, activation="sigmoid")])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy")
        y = (rng.random((40, 3)) > 0.5).astype(np.float32)
    else:
        model = zoo.lenet5()
        loss = {"sparse": "sparse_categorical_crossentropy",
                "sparse_weighted": "sparse_categorical_crossentropy",
                "scalar_weight": "sparse_categorical_crossentropy",
                "column_weight": "sparse_categorical_crossentropy",
                "sparse_sum": npconv.losses.SparseCategoricalCrossentropy(reduction="sum"),
                "onehot_smooth": npconv.losses.CategoricalCrossentropy(label_smoothing=0.1)}
        model.compile(optimizer="rmsprop", loss=loss[case])
        y = rng.integers(0, 10, 40)
        if case == "onehot_smooth":
            y = np.eye(10, dtype=np.float32)[y]
        if case == "sparse_weighted":
            sw = rng.random(40)
        if case == "scalar_weight":
            sw = 0.5
        if case == "column_weight":  # Keras's (N, 1) weights
            sw = rng.random((40, 1))
    (value, outputs), (ref_value, ref_out, ref_grads), grads = _two_ways(model, x, y, sw)
    assert value == ref_value
    np.testing.assert_array_equal(outputs, ref_out)
    for g, r in zip(grads, ref_grads, strict=True):
        np.testing.assert_array_equal(g, r)


def _lenet_with_helpers(loss="sparse_categorical_crossentropy"):
    """A compiled LeNet-5, two threads, a helper ready: a training step may use helpers."""
    model = zoo.lenet5()
    model.compile(optimizer="rmsprop", loss=loss)
    npconv.set_num_threads(2)
    _wait_for_helpers(1)
    return model


@needs_helpers
def test_train_in_parts_falls_back_where_it_does_not_apply(monkeypatch):
    rng = np.random.default_rng(22)
    x, y = rng.random((32, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 32)
    model = _lenet_with_helpers()
    assert parallel.train_in_parts(model, x, y, None, "") is None  # no fused gradient
    assert parallel.train_in_parts(model, x, y[:20], None, "softmax") is None  # ragged labels
    assert parallel.train_in_parts(model, x[:12], y[:12], None, "softmax") is None  # too small

    class MyLoss(npconv.losses.SparseCategoricalCrossentropy):
        pass

    model.compile(optimizer="rmsprop", loss=MyLoss())
    assert parallel.train_in_parts(model, x, y, None, "softmax") is None  # not npconv's own
    model.compile(optimizer="rmsprop", loss=npconv.losses.SparseCategoricalCrossentropy(
        reduction="mean_with_sample_weight"))  # its divisor is the whole batch's weights
    assert parallel.train_in_parts(model, x, y, np.ones(32), "softmax") is None
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    monkeypatch.setattr(_workers, "ready_workers", lambda count: None)
    assert parallel.train_in_parts(model, x, y, None, "softmax") is None  # threads only
    npconv.set_num_threads(1)
    assert parallel.train_in_parts(model, x, y, None, "softmax") is None  # one piece


@needs_helpers
def test_train_in_parts_sees_a_rebound_weight_and_a_changed_config():
    # A model the helpers hold is sent to them before its config is checked (the check
    # runs while they work): a stale part must be dropped and run again, never used.
    npconv.utils.set_random_seed(29)
    rng = np.random.default_rng(30)
    x, y = rng.random((32, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 32)
    model = _lenet_with_helpers()
    assert parallel.train_in_parts(model, x, y, None, "softmax") is not None  # set up
    conv = model.layers[0]
    for change in ("rebound", "config"):
        if change == "rebound":
            conv.kernel.value = conv.kernel.value * -1.0
        else:
            conv.activation = npconv.ops.activations.get("tanh")
        npconv.set_num_threads(2)
        done = parallel.train_in_parts(model, x, y, None, "softmax")
        assert done is not None
        grads = [w.grad.copy() for w in model.trainable_weights]
        npconv.set_num_threads(1)
        out = model.forward(x, training=True)
        value, d = model.loss.fused_softmax_backward(y, out)
        model.backward(d, fused_output_activation=True)
        np.testing.assert_allclose(done[0], value, rtol=1e-5)
        np.testing.assert_allclose(done[1], out, rtol=1e-5, atol=1e-6)
        for g, w in zip(grads, model.trainable_weights, strict=True):
            np.testing.assert_allclose(g, w.grad, rtol=1e-4, atol=1e-6)


@needs_helpers
def test_train_in_parts_names_the_whole_batch_in_a_label_error():
    rng = np.random.default_rng(23)
    model = _lenet_with_helpers()
    x = rng.random((32, 28, 28, 1), dtype=np.float32)
    onehot = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 32)]
    with pytest.raises(ValueError, match=r"labels of shape \(32,\).*Received y_true of shape "
                                         r"\(32, 10\)"):
        model.train_on_batch(x, onehot)
    # the helper is still in step: the next batch trains as in one piece
    y = rng.integers(0, 10, 32)
    weights = [w.copy() for w in model.get_weights()]
    loss_parts = model.train_on_batch(x, y)
    model.set_weights(weights)
    npconv.set_num_threads(1)
    assert loss_parts == pytest.approx(model.train_on_batch(x, y), rel=1e-6)


@needs_helpers
def test_a_helper_dying_in_a_training_step_means_the_step_runs_in_one_piece():
    npconv.utils.set_random_seed(24)
    rng = np.random.default_rng(25)
    x, y = rng.random((32, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 32)
    model = zoo.strided_cnn()
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")
    weights = [w.copy() for w in model.get_weights()]
    npconv.set_num_threads(1)
    expected = model.train_on_batch(x, y)
    after = [w.copy() for w in model.get_weights()]
    model.set_weights(weights)
    model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy")  # fresh slots
    npconv.set_num_threads(2)
    _wait_for_helpers(1)
    helper = _workers._workers[0]
    helper.process.kill()
    helper.process.wait()
    try:
        assert model.train_on_batch(x, y) == pytest.approx(expected, rel=1e-6)
        for a, b in zip(after, model.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    finally:
        _workers._broken = False


@needs_helpers
def test_a_bad_spin_setting_raises_before_a_helper_starts(monkeypatch):
    started = []
    monkeypatch.setattr(_workers.subprocess, "Popen", lambda *a, **k: started.append(a))
    monkeypatch.setenv("NPCONV_SPIN_US", "abc")
    with pytest.raises(ValueError, match="NPCONV_SPIN_US"):
        _workers.Worker()
    assert not started


@needs_helpers
def test_train_in_parts_leaves_bad_weights_and_labels_to_the_usual_step():
    rng = np.random.default_rng(26)
    model = _lenet_with_helpers()
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64)
    assert parallel.train_in_parts(model, x, y.astype(object), None, "softmax") is None
    assert parallel.train_in_parts(model, x, y, np.ones((64, 2)), "softmax") is None
    with pytest.raises(ValueError, match=r"sample_weight of shape \(64,\) or \(64, 1\)\. "
                                         r"Received shape \(64, 2\)"):
        model.train_on_batch(x, y, sample_weight=np.ones((64, 2)))
    with pytest.raises((TypeError, ValueError), match="sparse_categorical_crossentropy"):
        model.train_on_batch(x, y.astype(object))


@needs_helpers
def test_helpers_see_a_list_attribute_changed_in_place():
    # The helper's config check keeps a deep copy: an in-place change is a change.
    npconv.utils.set_random_seed(27)
    pool = layers.MaxPooling2D(pool_size=2, strides=1, padding="same")
    model = npconv.Sequential([npconv.Input((8, 8, 3)), layers.Conv2D(4, 3, padding="same"),
                               pool, layers.Flatten(), layers.Dense(5)])
    x = np.random.default_rng(28).random((32, 8, 8, 3), dtype=np.float32)
    pool.pool_size = [2, 2]
    np.testing.assert_allclose(_process_forward(model, x), _serial_forward(model, x),
                               rtol=1e-6, atol=1e-7)
    pool.pool_size[0] = pool.pool_size[1] = 3
    expected = _serial_forward(model, x)
    assert not np.allclose(expected, _serial_forward_with_pool(model, pool, x, (2, 2)))
    np.testing.assert_allclose(_process_forward(model, x), expected, rtol=1e-6, atol=1e-7)


def _serial_forward_with_pool(model, pool, x, size):
    saved = pool.pool_size
    pool.pool_size = size
    try:
        return _serial_forward(model, x)
    finally:
        pool.pool_size = saved


def test_a_helper_whose_parent_left_before_it_was_ready_exits_quietly():
    # A short script can end while its helper is still importing npconv: the helper's
    # "ready" then meets a closed socket, and it must exit without a traceback.
    import os
    import socket
    import subprocess
    import sys

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    src = os.path.dirname(os.path.dirname(os.path.abspath(npconv.__file__)))
    env = dict(os.environ, PYTHONPATH=src, NPCONV_SPIN_US="0")
    helper = subprocess.Popen([sys.executable, "-m", "npconv._worker_main",
                               str(theirs.fileno())], pass_fds=(theirs.fileno(),), env=env,
                              stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    theirs.close()
    ours.close()
    _, err = helper.communicate(timeout=60)
    assert helper.returncode == 0 and err == b"", err.decode()


# ------------------------------------------------------------------ grouped convolutions
def _grouped_cnn(dtype="float32"):
    """Conv2D(groups=) layers the helpers rebuild from the config: 4 -> 8 (2 groups),
    8 -> 8 (4 groups, strided), 8 -> 8 (groups == channels: depthwise)."""
    return npconv.Sequential([
        npconv.Input((12, 12, 4)),
        layers.Conv2D(8, 3, padding="same", groups=2, activation="relu", dtype=dtype),
        layers.Conv2D(8, 3, strides=2, groups=4, activation="relu", dtype=dtype),
        layers.Conv2D(8, 3, groups=8, dtype=dtype),
        layers.Flatten(),
        layers.Dense(5, activation="softmax", dtype=dtype),
    ])


def test_grouped_conv_model_split_equals_one_piece(backend):
    npconv.utils.set_random_seed(30)
    model = _grouped_cnn()
    x = np.random.default_rng(31).random((33, 12, 12, 4), dtype=np.float32)
    _compare(model, x, backend=backend)
    npconv.utils.set_random_seed(30)
    model = _grouped_cnn("float64")
    _compare(model, x.astype(np.float64), dtype=np.float64, backend=backend)


@needs_helpers
def test_grouped_conv_model_trains_identically_with_helpers(monkeypatch):
    """A step in one exchange with the helpers gives the step's numbers bit for bit, and
    fit with helpers the weights of fit in one piece."""
    npconv.utils.set_random_seed(32)
    rng = np.random.default_rng(33)
    x, y = rng.random((40, 12, 12, 4), dtype=np.float32), rng.integers(0, 5, 40)
    model = _grouped_cnn()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    (value, outputs), (ref_value, ref_out, ref_grads), grads = _two_ways(model, x, y, None)
    assert value == ref_value
    np.testing.assert_array_equal(outputs, ref_out)
    for g, r in zip(grads, ref_grads, strict=True):
        np.testing.assert_array_equal(g, r)
    exchanges = []
    original = parallel.train_in_parts

    def spy(*args):
        done = original(*args)
        exchanges.append(done is not None)
        return done

    monkeypatch.setattr(parallel, "train_in_parts", spy)
    weights = {}
    for threads in (1, 2):
        npconv.set_num_threads(threads)
        if threads == 2:
            _wait_for_helpers(1)
            exchanges.clear()
        npconv.utils.set_random_seed(34)
        model = _grouped_cnn()
        model.compile(optimizer=npconv.optimizers.SGD(0.05, momentum=0.9),
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=20, epochs=2, verbose=0, shuffle=False)
        weights[threads] = model.get_weights()
    assert exchanges == [True] * 4, "expected every step of the second fit in the helpers"
    for a, b in zip(weights[1], weights[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
