"""fit / evaluate / predict on batches that come ready-made (npconv.training.batches):
generators, Keras-style PyDatasets, iterables that start again (a torch DataLoader), with
``steps_per_epoch``, ``validation_steps``, ``validation_freq``; against the same batches as
arrays, and Keras's errors and warnings."""

import warnings

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.training import batches as batches_module


def _model(seed=0):
    npconv.set_random_seed(seed)
    model = npconv.Sequential([npconv.Input((5,)), layers.Dense(4, activation="relu"),
                               layers.Dense(3, activation="softmax")])
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=40, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)).astype(np.float32), rng.integers(0, 3, n)


class Batches:
    """A Keras ``PyDataset``: ``len`` batches, ``[i]`` the i-th, ``on_epoch_end``."""

    def __init__(self, x, y, batch_size, sample_weight=None):
        self.x, self.y, self.batch_size, self.sample_weight = x, y, batch_size, sample_weight
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        if self.sample_weight is None:
            return self.x[sl], self.y[sl]
        return self.x[sl], self.y[sl], self.sample_weight[sl]

    def on_epoch_end(self):
        self.epochs_ended += 1


class Loader:
    """An iterable that starts a new pass at each ``iter()`` (as a torch DataLoader), with
    batches as lists ``[x, y]``."""

    def __init__(self, x, y, batch_size):
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        for i in range(len(self)):
            sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
            yield [self.x[sl], self.y[sl]]


def _generator(x, y, batch_size, passes=1):
    for _ in range(passes):
        for i in range(0, len(x), batch_size):
            yield x[i:i + batch_size], y[i:i + batch_size]


def _weights(model):
    return [w.copy() for w in model.get_weights()]


@pytest.mark.parametrize("make, steps", [
    (lambda x, y: _generator(x, y, 8, passes=2), 5),  # a one-shot generator needs the steps
    (lambda x, y: Batches(x, y, 8), None),
    (lambda x, y: Loader(x, y, 8), None),
])
def test_fit_on_batches_equals_fit_on_the_same_arrays(make, steps):
    x, y = _data()
    reference = _model()
    ref_history = reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model = _model()
    history = model.fit(make(x, y), epochs=2, shuffle=False, verbose=0,
                        steps_per_epoch=steps)
    for a, b in zip(_weights(model), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    assert history.history.keys() == ref_history.history.keys()
    np.testing.assert_allclose(history.history["loss"], ref_history.history["loss"],
                               rtol=1e-12)


def test_a_pydataset_is_shuffled_by_batches_and_told_each_epoch_end():
    x, y = _data(48)
    data = Batches(x, y, 16)
    seen = []

    class Record(npconv.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    model = _model()
    model.fit(data, epochs=3, shuffle=True, seed=5, verbose=0, callbacks=[Record()])
    assert data.epochs_ended == 3 and seen == [0, 1, 2] * 3
    # the batch order is a permutation per epoch: the same weights as the arrays in that order
    reference = _model()
    rng = np.random.default_rng(5)  # fit's shuffling generator for seed=5
    for _ in range(3):
        for i in rng.permutation(3):
            reference.train_on_batch(*data[int(i)])
    for a, b in zip(_weights(model), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)


def test_steps_per_epoch_takes_batches_from_one_generator_across_epochs():
    x, y = _data(32)
    model = _model()
    history = model.fit(_generator(x, y, 8), steps_per_epoch=2, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    reference = _model()
    reference.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # the 4 batches
    for a, b in zip(_weights(model), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_generator_that_runs_dry_stops_training_with_keras_warning():
    x, y = _data(16)
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(_generator(x, y, 8), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1  # the second epoch found no batch
    with pytest.warns(UserWarning, match="steps_per_epoch \\* epochs"):
        history = _model().fit(_generator(x, y, 8), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 1  # 2 of 3 batches, then nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one pass for one epoch: no warning
        _model().fit(_generator(x, y, 8), epochs=1, verbose=0)


def test_a_loader_shorter_than_steps_per_epoch_stops_the_epoch_as_keras():
    """Keras's EpochIterator: the pass ends, the epoch stops there with a warning, and the
    next epoch starts a new pass (it does not wrap around within an epoch)."""
    x, y = _data(24)
    counted = []

    class Count(npconv.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            counted.append(self.params["steps"])

    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(Loader(x, y, 8), steps_per_epoch=5, epochs=2, verbose=0,
                            callbacks=[Count()])
    reference = _model()
    for _ in range(2):
        for i in (0, 8, 16):
            reference.train_on_batch(x[i:i + 8], y[i:i + 8])
    for a, b in zip(_weights(model), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    assert counted == [5, 5] and len(history.history["loss"]) == 2  # Keras's params["steps"]


class Indexed(Batches):
    """A PyDataset that records which batches were asked for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked = []

    def __getitem__(self, i):
        self.asked.append(i)
        return super().__getitem__(i)


def test_steps_carry_on_across_epochs_as_keras():
    x, y = _data(40)
    data = Indexed(x, y, 10)  # 4 batches
    _model().fit(data, epochs=3, steps_per_epoch=2, shuffle=False, verbose=0)
    assert data.asked == [0, 1, 2, 3, 0, 1]  # the pass carries on, then starts again
    val = Indexed(x, y, 10)
    with pytest.warns(UserWarning, match="ran out of data"):
        _model().fit(x, y, epochs=3, batch_size=10, validation_data=val, validation_steps=3,
                     verbose=0)
    assert val.asked == [0, 1, 2, 3, 0, 1, 2]  # 3, then 1 (the pass ended), then 3
    seen = []

    class Record(npconv.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(batch)

    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(x, y, batch_size=10, epochs=2, steps_per_epoch=3, shuffle=False, verbose=0,
                  callbacks=[Record()])
    reference = _model()
    for i in (0, 10, 20, 30):  # arrays too: batches 0-2, then batch 3 and the warning
        reference.train_on_batch(x[i:i + 10], y[i:i + 10])
    for a, b in zip(_weights(model), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    assert seen == [0, 1, 2, 0]


def test_a_used_up_validation_generator_skips_validation_with_a_warning():
    x, y = _data(40)
    model = _model()
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(x, y, epochs=2, batch_size=10, verbose=0,
                            validation_data=_generator(x, y, 10))
    assert len(history.history["loss"]) == 2 and len(history.history["val_loss"]) == 1


def test_evaluate_tells_a_pydataset_its_epoch_ended():
    x, y = _data(20)
    data = Batches(x, y, 10)
    _model().evaluate(data, verbose=0)
    assert data.epochs_ended == 1


def test_steps_per_epoch_caps_the_batches_of_arrays():
    x, y = _data(40)
    seen = []

    class Record(npconv.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)

    with pytest.warns(UserWarning, match="ran out of data") as caught:
        _model().fit(x, y, batch_size=8, steps_per_epoch=3, epochs=2, verbose=0,
                     callbacks=[Record()])
    assert caught[0].filename == __file__  # shown at the user's fit
    assert seen == [0, 1, 2, 0, 1]  # 5 batches: 3, then the 2 left of the pass


def test_evaluate_and_predict_on_batches_equal_the_arrays():
    x, y = _data(30)
    sw = np.linspace(0.5, 2.0, 30)
    model = _model()
    expected = model.evaluate(x, y, batch_size=8, sample_weight=sw, verbose=0)
    got = model.evaluate(Batches(x, y, 8, sw), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    plain = model.evaluate(x, y, batch_size=8, verbose=0)
    np.testing.assert_allclose(model.evaluate(_generator(x, y, 8), verbose=0), plain,
                               rtol=1e-6)
    np.testing.assert_allclose(model.evaluate(Batches(x, y, 8), steps=2, verbose=0),
                               model.evaluate(x[:16], y[:16], batch_size=8, verbose=0),
                               rtol=1e-6)
    probs = model.predict(x, batch_size=8)
    np.testing.assert_array_equal(model.predict(_generator(x, y, 8)), probs)  # y not used
    np.testing.assert_array_equal(model.predict(x[i:i + 8] for i in range(0, 30, 8)), probs)
    np.testing.assert_array_equal(model.predict(Loader(x, y, 8), steps=2), probs[:16])


def test_validation_data_as_batches_with_steps_and_freq():
    x, y = _data(32)
    model = _model()
    history = model.fit(x, y, batch_size=8, epochs=4, verbose=0, shuffle=False,
                        validation_data=Batches(x, y, 8), validation_steps=2,
                        validation_freq=2)
    val = history.history["val_loss"]
    assert len(val) == 2 and len(history.history["loss"]) == 4  # after epochs 2 and 4
    # the second pass takes the next 2 batches (Keras keeps one validation iterator)
    assert val[-1] == pytest.approx(model.evaluate(x[16:], y[16:], batch_size=8, verbose=0)[0],
                                    rel=1e-6)
    reference = _model()
    ref = reference.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False,
                        validation_data=(x, y), validation_batch_size=32)
    assert ref.history["val_loss"][-1] == pytest.approx(
        reference.evaluate(x, y, batch_size=32, verbose=0)[0], rel=1e-6)


def test_class_weight_applies_to_each_generated_batch():
    x, y = _data(32)
    weights = {0: 2.0, 1: 0.5}
    reference = _model()
    reference.fit(x, y, batch_size=8, shuffle=False, class_weight=weights, verbose=0)
    model = _model()
    model.fit(_generator(x, y, 8), class_weight=weights, verbose=0)
    for a, b in zip(_weights(model), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)


def test_torch_dataloader_batches_train_the_model():
    torch = pytest.importorskip("torch")
    x, y = _data(32)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
        batch_size=8, shuffle=False)
    model = _model()
    model.fit(loader, epochs=2, shuffle=False, verbose=0)
    reference = _model()
    reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(_weights(model), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.predict(loader), model.predict(x, batch_size=8))


@pytest.mark.parametrize("kwargs, message", [
    (dict(y=np.zeros(8)), "the y argument is not supported"),
    (dict(sample_weight=np.ones(8)), "the sample_weight argument is not supported"),
    (dict(validation_split=0.2), "validation_split is only supported for arrays"),
    (dict(steps_per_epoch=0), "expected steps_per_epoch to be a positive int"),
    (dict(steps_per_epoch=True), "expected steps_per_epoch to be a positive int"),
    (dict(validation_freq=0), "expected validation_freq to be a positive int"),
    (dict(validation_data=5), "expected validation_data=.*Received int"),
])
def test_fit_on_a_generator_refuses_what_its_batches_give(kwargs, message):
    x, y = _data(8)
    model = _model()
    with pytest.raises(ValueError, match=message) as info:
        model.fit(_generator(x, y, 4), verbose=0, **kwargs)
    assert model.name in str(info.value)


def test_a_generator_ignores_batch_size_as_keras():
    """Keras 3's get_data_adapter passes batch_size only to its array adapter: a generator
    (as a PyDataset or a DataLoader) keeps its own batches for fit, evaluate and predict."""
    x, y = _data(24)
    reference = _model()
    reference.fit(_generator(x, y, 8), epochs=1, verbose=0)
    model = _model()
    model.fit(_generator(x, y, 8), batch_size=64, epochs=1, verbose=0)
    for a, b in zip(_weights(model), _weights(reference), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        model.evaluate(_generator(x, y, 8), batch_size=64, verbose=0),
        model.evaluate(_generator(x, y, 8), verbose=0))
    np.testing.assert_array_equal(model.predict(_generator(x, y, 8), batch_size=64),
                                  model.predict(x, batch_size=8))


@pytest.mark.parametrize("batch, error, message", [
    ((np.zeros((4, 5)),), ValueError, "a batch without targets"),
    ((np.zeros((4, 5)), np.zeros(4), None, 1), ValueError, "a tuple of 4"),
    ((np.zeros((4, 5)), np.zeros(3)), ValueError, "Received 4 inputs and 3"),
    ((np.zeros((4, 6)), np.zeros(4)), ValueError, "6"),
    ((iter([1]), np.zeros(4)), TypeError, "Received list_iterator"),
])
def test_a_bad_batch_is_a_clear_error(batch, error, message):
    model = _model()
    with pytest.raises(error, match=message):
        model.fit(iter([batch]), verbose=0)


def test_evaluate_or_predict_of_an_empty_generator_says_so():
    model = _model()
    with pytest.raises(ValueError, match="gave no batch"):
        model.evaluate(iter([]), verbose=0)
    with pytest.raises(ValueError, match="gave no batch"):
        model.predict(iter([]))


def test_what_counts_as_a_source_of_batches():
    x, y = _data(4)
    assert batches_module.is_source(_generator(x, y, 2))
    assert batches_module.is_source(Batches(x, y, 2)) and batches_module.is_source(iter([]))
    for data in (x, [x], (x,), {"a": x}, "abc", b"ab", np.float32(1)):
        assert not batches_module.is_source(data)
    assert batches_module.unpack([x, y])[1] is y and batches_module.unpack(x) == (x, None, None)


def _input_and_deferred_twins():
    """The same seeded model twice: with an Input, and built by fit from its first batch."""
    for with_input in (True, False):
        npconv.set_random_seed(0)
        stack = [layers.Dense(3, activation="softmax")]
        model = npconv.Sequential(([npconv.Input((5,))] if with_input else []) + stack)
        model.compile("sgd", "sparse_categorical_crossentropy")
        yield model


def test_a_model_built_by_fit_draws_the_same_weights_and_order_as_its_input_twin():
    """fit's shuffling generator is made after the weights a model builds from its first
    batch (the order fit has always used), so a seed gives one run whichever way it is built."""
    x, y = _data(16)
    histories = [model.fit(x, y, batch_size=4, epochs=2, verbose=0).history["loss"]
                 for model in _input_and_deferred_twins()]
    assert histories[0] == histories[1]


def test_every_begin_hook_gets_its_end_when_the_data_run_out():
    x, y = _data(40)
    events = []

    class Hooks(npconv.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"epoch_begin{epoch}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"epoch_end{epoch}")

        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_test_end(self, logs=None):
            events.append("test_end")

    with pytest.warns(UserWarning, match="ran out of data"):
        _model().fit(x, y, epochs=2, batch_size=10, verbose=0, callbacks=[Hooks()],
                     validation_data=_generator(x, y, 20))
    assert events == ["epoch_begin0", "test_begin", "test_end", "epoch_end0",
                      "epoch_begin1", "test_begin", "test_end", "epoch_end1"]
    events.clear()
    with pytest.warns(UserWarning, match="ran out of data"):
        _model().fit(_generator(x, y, 10), epochs=3, verbose=0, callbacks=[Hooks()])
    assert events == ["epoch_begin0", "epoch_end0"]  # no epoch begins without a batch


def test_a_dataloader_over_an_iterable_dataset_without_length():
    torch = pytest.importorskip("torch")
    x, y = _data(24)

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(zip(torch.from_numpy(x), torch.from_numpy(y), strict=True))

    loader = torch.utils.data.DataLoader(Stream(), batch_size=8)
    model = _model()
    model.fit(loader, epochs=2, verbose=0)
    reference = _model()
    reference.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(_weights(model), _weights(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(model.predict(loader), model.predict(x), rtol=1e-6)


def test_on_epoch_begin_runs_before_the_epoch_draws_its_first_batch():
    """A curriculum dataset set up by an epoch-begin callback (or a torch sampler's
    set_epoch) sees the epoch before its first batch is drawn, as in Keras."""
    x, y = _data(16)

    class Curriculum(npconv.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=2)
            self.epoch, self.seen, self.begun = None, [], 0

        def __len__(self):
            return 2

        def __getitem__(self, i):
            self.seen.append((self.epoch, i))
            return x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8]

        def on_epoch_begin(self):
            self.begun += 1

    data = Curriculum()
    set_epoch = npconv.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: setattr(data, "epoch", epoch))
    _model().fit(data, epochs=3, shuffle=False, verbose=0, callbacks=[set_epoch])
    # (two workers read an epoch's two batches at once, in either order)
    assert sorted(data.seen) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert data.begun == 3 and data.workers == 2 and data.num_batches == 2
    with pytest.raises(NotImplementedError, match="defines __len__"):
        len(npconv.utils.Sequence())


def test_a_shuffled_dataset_builds_a_deferred_model_before_drawing_its_order():
    x, y = _data(24)
    results = []
    for model in _input_and_deferred_twins():
        model.fit(Batches(x, y, 8), epochs=2, shuffle=True, verbose=0)
        results.append(model.get_weights())
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_generator_ending_at_an_epoch_boundary_begins_no_further_epoch():
    x, y = _data(32)
    events = []

    class Hooks(npconv.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            events.append(f"begin{epoch}")

        def on_epoch_end(self, epoch, logs=None):
            events.append(f"end{epoch}")

    with pytest.warns(UserWarning, match="ran out of data"):
        history = _model().fit(_generator(x, y, 8), steps_per_epoch=2, epochs=5, verbose=0,
                               callbacks=[Hooks()])
    assert events == ["begin0", "end0", "begin1", "end1"] and history.epoch == [0, 1]


def test_an_empty_dataset_or_generator_is_a_clear_error():
    with pytest.raises(ValueError, match="gave no batch"):
        _model().fit(Batches(np.zeros((0, 5), np.float32), np.zeros(0), 4), verbose=0)
    for steps in (None, 2):
        with pytest.raises(ValueError, match="gave no batch"):
            _model().fit(iter([]), epochs=3, steps_per_epoch=steps, verbose=0)


class SlowBatches(npconv.utils.PyDataset):
    """Batches that take a while to load and record how many loads overlapped."""

    def __init__(self, x, y, batch_size, fail_at=None, **kwargs):
        super().__init__(**kwargs)
        import threading

        self.x, self.y, self.batch_size, self.fail_at = x, y, batch_size, fail_at
        self.lock, self.active, self.most, self.threads = threading.Lock(), 0, 0, set()

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        import threading
        import time

        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
            self.threads.add(threading.current_thread().name)
        time.sleep(0.02)
        with self.lock:
            self.active -= 1
        if i == self.fail_at:
            raise OSError(f"batch {i}: unreadable file")
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[sl], self.y[sl]


@pytest.mark.parametrize("shuffle", [False, True])
def test_workers_read_batches_in_threads_and_train_as_one_reader(shuffle):
    import threading

    x, y = _data(48)
    before = threading.active_count()
    serial = _model()
    serial.fit(SlowBatches(x, y, 8), epochs=2, shuffle=shuffle, verbose=0)
    data = SlowBatches(x, y, 8, workers=3, max_queue_size=2)
    model = _model()
    history = model.fit(data, epochs=2, shuffle=shuffle, verbose=0, validation_data=data)
    assert data.most >= 2, "expected batches read at the same time"
    assert all(name.startswith("npconv-batches") for name in data.threads)
    for a, b in zip(_weights(model), _weights(serial), strict=True):
        np.testing.assert_array_equal(a, b)  # the same batches in the same order
    assert len(history.history["val_loss"]) == 2
    np.testing.assert_array_equal(model.predict(data, verbose=0), model.predict(x, verbose=0))
    assert model.evaluate(data, verbose=0) == model.evaluate(x, y, batch_size=8, verbose=0)
    assert threading.active_count() == before, "a loading thread outlived its pass"


def test_a_worker_s_error_comes_at_its_batch_and_stops_the_threads():
    import threading

    x, y = _data(48)
    before = threading.active_count()
    data = SlowBatches(x, y, 8, fail_at=3, workers=2)
    seen = []
    record = npconv.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    with pytest.raises(OSError, match="batch 3: unreadable file"):
        _model().fit(data, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    assert seen == [0, 1, 2]
    assert threading.active_count() == before


def test_steps_per_epoch_with_workers_carry_the_pass_on():
    x, y = _data(48)
    serial, threaded = _model(), _model()
    serial.fit(SlowBatches(x, y, 8), epochs=4, steps_per_epoch=3, shuffle=False, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 6 batches in epochs of 3: no pass runs out
        threaded.fit(SlowBatches(x, y, 8, workers=2), epochs=4, steps_per_epoch=3,
                     shuffle=False, verbose=0)
    for a, b in zip(_weights(threaded), _weights(serial), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("option, value", [("workers", -1), ("workers", 2.5),
                                           ("max_queue_size", 0), ("workers", True)])
def test_bad_loading_options_are_named(option, value):
    x, y = _data(16)
    data = SlowBatches(x, y, 8)
    setattr(data, option, value)
    with pytest.raises(ValueError, match=f"SlowBatches: expected {option} to be an int"):
        _model().fit(data, epochs=1, verbose=0)


def _loading_threads():
    import threading

    return [t for t in threading.enumerate() if t.name.startswith("npconv-batches")]


@pytest.mark.parametrize("where", ["fit", "validation", "evaluate", "predict"])
def test_loading_threads_end_when_fit_evaluate_or_predict_raise(where):
    # an error raised outside the pass (a callback's, the model's, Ctrl-C) kept the pass
    # alive through the exception's traceback, and with it the read-ahead threads (in a
    # notebook, sys.last_traceback keeps them until the next error)
    x, y = _data(48)
    data = SlowBatches(x, y, 8, workers=3)

    def stop(batch, logs=None):
        if batch == 1:
            raise KeyboardInterrupt

    cb = npconv.callbacks.LambdaCallback(
        on_train_batch_end=stop if where == "fit" else None,
        on_test_batch_end=stop if where in ("validation", "evaluate") else None,
        on_predict_batch_end=stop if where == "predict" else None)
    model = _model()
    with pytest.raises(KeyboardInterrupt) as caught:
        if where in ("fit", "validation"):
            model.fit(data, epochs=1, verbose=0, callbacks=[cb], validation_data=data)
        elif where == "evaluate":
            model.evaluate(data, verbose=0, callbacks=[cb])
        else:
            model.predict(data, verbose=0, callbacks=[cb])
    assert caught.value.__traceback__ is not None  # the traceback is still alive here
    assert _loading_threads() == []


def test_loading_threads_end_when_fit_stops_mid_pass():
    x, y = _data(48)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _model().fit(SlowBatches(x, y, 8, workers=2), epochs=3, steps_per_epoch=2,
                     verbose=0)
    assert _loading_threads() == []


def test_read_ahead_stops_at_the_end_of_the_epoch():
    """With steps_per_epoch carrying the pass over, the threads read no batch of the next
    epoch before on_epoch_end / on_epoch_begin ran: a dataset that changes there gives
    the same batches as with one reader (the read-ahead crossed the epoch before)."""
    x, y = _data(48)

    class Reversing(SlowBatches):
        def __init__(self, **kwargs):
            super().__init__(x, y, 8, **kwargs)
            self.flipped, self.read = False, []

        def __getitem__(self, i):
            i = len(self) - 1 - i if self.flipped else i
            self.read.append(i)
            return super().__getitem__(i)

        def on_epoch_end(self):
            self.flipped = not self.flipped

    reads = []
    for workers in (1, 3):
        data = Reversing(workers=workers, max_queue_size=6)
        _model().fit(data, epochs=2, steps_per_epoch=3, shuffle=False, verbose=0)
        reads.append(sorted(data.read[:3]) + sorted(data.read[3:]))
    assert reads[0] == [0, 1, 2, 0, 1, 2]
    assert reads[1] == reads[0]
