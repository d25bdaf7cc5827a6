"""Helper processes under what real programs do: two threads at once, fork, a user's own
initializer and regularizer, and models rebuilt or dropped many times (no descriptor or
shared-memory leak)."""

from __future__ import annotations

import gc
import os
import threading

import numpy as np
import pytest

import npconv
from npconv import _workers, layers, regularizers
from npconv.models import parallel
from tests.models.test_parallel import _restore_threads, _wait_for_helpers, needs_helpers

__all__ = ["_restore_threads"]  # the autouse fixture, shared with test_parallel


def _small_cnn(**conv_kwargs):
    npconv.set_random_seed(0)
    model = npconv.Sequential([
        npconv.Input((12, 12, 1)), layers.Conv2D(4, 3, activation="relu", **conv_kwargs),
        layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def _data(seed=1, n=64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 12, 12, 1)).astype(np.float32), rng.integers(0, 10, n)


def _with_helpers(model, x):
    npconv.set_num_threads(2)
    _wait_for_helpers(1)
    model.predict(x, verbose=0)


@needs_helpers
def test_two_threads_predicting_at_once_get_their_own_answers():
    model = _small_cnn()
    xa, _ = _data(1)
    xb, _ = _data(2)
    _with_helpers(model, xa)
    expected = {"a": model.predict(xa, verbose=0), "b": model.predict(xb, verbose=0)}
    wrong, done = [], {"a": 0, "b": 0}

    def work(name, x):
        for _ in range(60):
            if not np.allclose(model.predict(x, verbose=0), expected[name], atol=1e-6):
                wrong.append(name)
            done[name] += 1

    threads = [threading.Thread(target=work, args=(n, x), daemon=True)
               for n, x in (("a", xa), ("b", xb))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung waiting for a helper"
    assert done == {"a": 60, "b": 60} and not wrong


@needs_helpers
def test_two_threads_training_two_models_match_one_process():
    x, y = _data(3)
    results = {}

    models = {key: _small_cnn() for key in ("serial", "a", "b")}  # seeded here, not in
    # the threads: two threads seeding the global generator at once draw each other's numbers

    def train(key):
        model = models[key]
        for _ in range(15):
            model.train_on_batch(x, y)
        results[key] = model.get_weights()

    npconv.set_num_threads(1)
    train("serial")
    _with_helpers(_small_cnn(), x)
    threads = [threading.Thread(target=train, args=(k,), daemon=True) for k in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    for key in "ab":
        for got, ref in zip(results[key], results["serial"], strict=True):
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


@needs_helpers
@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_trains_on_its_own_copy_of_the_weights():
    model = _small_cnn()
    x, y = _data(4)
    _with_helpers(model, x)
    model.train_on_batch(x, y)
    assert isinstance(model._process_state, parallel._ProcessState)  # weights shared now
    before = [w.copy() for w in model.get_weights()]
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: train (its first split batch must not hang), report, leave
        try:
            for _ in range(3):
                model.train_on_batch(x, y)
            moved = max(float(np.abs(a - b).max())
                        for a, b in zip(model.get_weights(), before, strict=True))
            os.write(write, f"{moved:.6g} {model.predict(x, verbose=0).shape[0]}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        moved, rows = pipe.read().split()
    os.waitpid(pid, 0)
    assert float(moved) > 0 and int(rows) == 64  # the child trained and predicted
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)  # and the parent's weights did not move


def _my_initializer(shape, dtype=None, rng=None):
    return np.full(shape, 0.01, dtype or "float32")


class _MyL2(regularizers.Regularizer):
    def __call__(self, w):
        return 1e-3 * float(np.sum(w * w))

    def gradient(self, w):
        return 2e-3 * w

    def get_config(self):
        return {}


@needs_helpers
@pytest.mark.parametrize("conv_kwargs", [{"kernel_initializer": _my_initializer},
                                         {"kernel_regularizer": _MyL2()}],
                         ids=["initializer", "regularizer"])
def test_a_users_own_initializer_or_regularizer_trains_as_in_one_process(conv_kwargs):
    # A helper cannot build such a model from its config: it runs in this process only.
    x, y = _data(5)
    npconv.set_num_threads(1)
    serial = _small_cnn(**conv_kwargs)
    losses = [serial.train_on_batch(x, y) for _ in range(5)]
    model = _small_cnn(**conv_kwargs)
    _with_helpers(model, x)
    npconv.set_random_seed(0)
    model.set_weights(_small_cnn(**conv_kwargs).get_weights())
    got = [model.train_on_batch(x, y) for _ in range(5)]
    np.testing.assert_allclose(got, losses, rtol=1e-5)
    assert not _workers._broken


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


@needs_helpers
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts /proc/self/fd")
def test_rebuilt_helper_states_close_their_shared_files():
    model = _small_cnn()
    x, y = _data(6)
    _with_helpers(model, x)
    model.train_on_batch(x, y)
    start = _open_fds()
    for i in range(30):  # each toggle changes the config: a new shared weights file
        model.layers[0].trainable = bool(i % 2)
        model.train_on_batch(x, y)
    assert _open_fds() <= start + 2
    for _ in range(30):  # models made and dropped (a hyper-parameter search)
        other = _small_cnn()
        other.train_on_batch(x, y)
        del other
    gc.collect()  # a model's layers refer to it: the collector frees dropped ones
    assert _open_fds() <= start + 2
