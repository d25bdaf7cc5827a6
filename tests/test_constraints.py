"""npconv.constraints: Keras 3's formulas, the layers' *_constraint arguments, the optimizer
applying them after each update (also when a batch trains in parts), configs and files."""

from __future__ import annotations

import time

import numpy as np
import pytest

import npconv
from npconv import _threads, _workers, constraints, layers
from npconv.models import parallel

EPS = 1e-7


# ---------------------------------------------------------------- references (per slice)
def _slices(w, axis):
    """``w`` as rows (one per slice along ``axis``) and the function putting rows back."""
    axes = list(range(w.ndim)) if axis is None else (
        [a % w.ndim for a in axis] if isinstance(axis, list) else [axis % w.ndim])
    rest = [a for a in range(w.ndim) if a not in axes]
    moved = np.transpose(w, rest + axes)
    rows = moved.reshape(int(np.prod([w.shape[a] for a in rest])), -1)

    def back(new_rows):
        out = new_rows.reshape(moved.shape)
        return np.transpose(out, np.argsort(rest + axes))

    return rows, back


def ref_max_norm(w, max_value, axis):
    rows, back = _slices(np.asarray(w, np.float64), axis)
    out = np.empty_like(rows)
    for i, row in enumerate(rows):  # the slow, obvious way: one slice at a time
        norm = np.linalg.norm(row)
        out[i] = row * (min(max(norm, 0.0), max_value) / (EPS + norm))
    return back(out)


def ref_min_max_norm(w, min_value, max_value, rate, axis):
    rows, back = _slices(np.asarray(w, np.float64), axis)
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        norm = np.linalg.norm(row)
        desired = rate * min(max(norm, min_value), max_value) + (1 - rate) * norm
        out[i] = row * (desired / (EPS + norm))
    return back(out)


def ref_unit_norm(w, axis):
    rows, back = _slices(np.asarray(w, np.float64), axis)
    return back(np.stack([row / (EPS + np.linalg.norm(row)) for row in rows]))


SHAPES_AXES = [((5, 3), 0), ((5, 3), 1), ((5, 3), -1), ((3, 3, 2, 4), [0, 1, 2]),
               ((3, 3, 2, 4), 3), ((2, 3, 4), [0, 2]), ((6,), 0), ((4, 3), None)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, axis", SHAPES_AXES)
def test_formulas_match_a_slice_by_slice_reference(dtype, shape, axis):
    rng = np.random.default_rng(len(shape) + (0 if axis is None else 7))
    w = (rng.standard_normal(shape) * 2).astype(dtype)
    tol = dict(rtol=1e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    cases = [
        (constraints.MaxNorm(1.5, axis=axis), ref_max_norm(w, 1.5, axis)),
        (constraints.MaxNorm(100, axis=axis), ref_max_norm(w, 100, axis)),  # below: ~unchanged
        (constraints.MinMaxNorm(1.0, 2.0, rate=1.0, axis=axis),
         ref_min_max_norm(w, 1.0, 2.0, 1.0, axis)),
        (constraints.MinMaxNorm(0.5, 0.8, rate=0.3, axis=axis),
         ref_min_max_norm(w, 0.5, 0.8, 0.3, axis)),
        (constraints.UnitNorm(axis=axis), ref_unit_norm(w, axis)),
    ]
    for constraint, expected in cases:
        got = constraint(w)
        assert got.dtype == dtype, constraint
        assert got.shape == w.shape
        np.testing.assert_allclose(got, expected, **tol, err_msg=repr(constraint))
    non_neg = constraints.NonNeg()(w)
    assert non_neg.dtype == dtype
    np.testing.assert_array_equal(non_neg, np.where(w > 0, w, 0))
    assert not np.shares_memory(non_neg, w)


def test_defaults_aliases_and_epsilon_as_keras():
    assert constraints.max_norm is constraints.MaxNorm
    assert constraints.min_max_norm is constraints.MinMaxNorm
    assert constraints.non_neg is constraints.NonNeg
    assert constraints.unit_norm is constraints.UnitNorm
    assert constraints.MaxNorm().get_config() == {"max_value": 2, "axis": 0}
    assert constraints.MinMaxNorm().get_config() == {"min_value": 0.0, "max_value": 1.0,
                                                     "rate": 1.0, "axis": 0}
    assert constraints.UnitNorm().get_config() == {"axis": 0}
    assert constraints.NonNeg().get_config() == {}
    # Keras's numbers: a column of norm 1 under max_norm(2) shrinks by 1 / (1 + 1e-7)
    w = np.array([[0.6], [0.8]])
    np.testing.assert_allclose(constraints.MaxNorm(2)(w), w / (1 + 1e-7), rtol=0, atol=1e-16)
    # a zero column stays zero (no division by zero)
    assert np.all(constraints.UnitNorm()(np.zeros((3, 2), np.float32)) == 0)
    base = constraints.Constraint()
    w = np.ones(3)
    assert base(w) is w and base.get_config() == {}
    import npconv as keras

    assert keras.constraints is constraints and "constraints" in dir(npconv)


def test_get_serialize_deserialize():
    assert constraints.get(None) is None
    for name, cls in [("max_norm", constraints.MaxNorm), ("MaxNorm", constraints.MaxNorm),
                      ("non_neg", constraints.NonNeg), ("NonNeg", constraints.NonNeg),
                      ("unit_norm", constraints.UnitNorm),
                      ("min_max_norm", constraints.MinMaxNorm)]:
        assert type(constraints.get(name)) is cls
    c = constraints.MinMaxNorm(0.1, 3, rate=0.5, axis=[0, 1, 2])
    assert constraints.get(c) is c
    assert type(constraints.get(constraints.UnitNorm)) is constraints.UnitNorm
    config = constraints.serialize(c)
    assert config == {"class_name": "MinMaxNorm",
                      "config": {"min_value": 0.1, "max_value": 3, "rate": 0.5,
                                 "axis": [0, 1, 2]}}
    assert constraints.deserialize(config) == c and constraints.get(config) == c
    # Keras 3's dicts carry module and registered_name too
    keras_dict = {"module": "keras.constraints", "class_name": "MaxNorm",
                  "config": {"max_value": 3, "axis": 0}, "registered_name": None}
    assert constraints.deserialize(keras_dict) == constraints.MaxNorm(3)
    assert constraints.serialize(None) is None
    assert constraints.MaxNorm(3, axis=(0, 1)).axis == [0, 1]  # JSON keeps lists
    fn = np.abs
    assert constraints.get(fn) is fn  # any function of the weight (as Keras)


@pytest.mark.parametrize("make, error, message", [
    (lambda: constraints.get("max_nrom"), ValueError, "unknown constraint 'max_nrom'"),
    (lambda: constraints.get(42), TypeError, "Received: 42"),
    (lambda: constraints.deserialize({"class_name": "Clip", "config": {}}), ValueError,
     "unknown constraint class 'Clip'"),
    (lambda: constraints.MaxNorm(-1), ValueError, r"MaxNorm: expected max_value .*>= 0.*"
                                                  r"Received: max_value=-1"),
    (lambda: constraints.MaxNorm("2"), ValueError, "MaxNorm: expected max_value"),
    (lambda: constraints.MaxNorm(float("inf")), ValueError, "MaxNorm: expected max_value"),
    (lambda: constraints.MinMaxNorm(rate=1.5), ValueError,
     r"MinMaxNorm: expected rate to be a number in \[0.0, 1.0\]. Received: rate=1.5"),
    (lambda: constraints.MinMaxNorm(rate=-0.1), ValueError, "MinMaxNorm: expected rate"),
    (lambda: constraints.MinMaxNorm(min_value=-1), ValueError, "MinMaxNorm: expected min_value"),
    (lambda: constraints.MinMaxNorm(2, 1), ValueError, "MinMaxNorm: expected min_value <= "
                                                       "max_value"),
    (lambda: constraints.UnitNorm(axis="rows"), ValueError, "UnitNorm: expected axis"),
    (lambda: constraints.UnitNorm(axis=[0, 0]), ValueError, "distinct"),
    (lambda: constraints.UnitNorm(axis=True), ValueError, "UnitNorm: expected axis"),
    (lambda: constraints.UnitNorm(axis=2)(np.ones((2, 3))), ValueError,
     r"UnitNorm\(axis=2\): axis=2 is not an axis of the weight of shape \(2, 3\)"),
    (lambda: constraints.serialize(np.abs), TypeError, "only Constraint objects can be saved"),
    (lambda: layers.Dense(2, kernel_constraint="maxnorm", name="head"), ValueError,
     "head: kernel_constraint: constraints.get: unknown constraint 'maxnorm'"),
    (lambda: layers.BatchNormalization(gamma_constraint=3), TypeError,
     "BatchNormalization: gamma_constraint"),
    (lambda: layers.SeparableConv2D(2, 3, pointwise_constraint="x"), ValueError,
     "SeparableConv2D: pointwise_constraint"),
    (lambda: layers.MaxPooling2D(kernel_constraint="non_neg"), TypeError,
     "unexpected keyword argument.*kernel_constraint"),
    (lambda: layers.DepthwiseConv2D(3, kernel_constraint="non_neg"), TypeError,
     "unexpected keyword argument.*kernel_constraint"),  # Keras's name: depthwise_constraint
])
def test_bad_arguments_are_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


LAYER_CASES = [
    (lambda: layers.Dense(3, kernel_constraint="max_norm", bias_constraint="non_neg"),
     (4, 5), {"kernel": constraints.MaxNorm, "bias": constraints.NonNeg}),
    (lambda: layers.Conv2D(3, 3, kernel_constraint=constraints.max_norm(3, axis=[0, 1, 2]),
                           bias_constraint="unit_norm"),
     (2, 6, 6, 2), {"kernel": constraints.MaxNorm, "bias": constraints.UnitNorm}),
    (lambda: layers.Conv2DTranspose(2, 3, kernel_constraint="non_neg"), (2, 4, 4, 3),
     {"kernel": constraints.NonNeg}),
    (lambda: layers.DepthwiseConv2D(3, depthwise_constraint="unit_norm",
                                    bias_constraint="non_neg"), (2, 5, 5, 2),
     {"kernel": constraints.UnitNorm, "bias": constraints.NonNeg}),
    (lambda: layers.SeparableConv2D(4, 3, depthwise_constraint="max_norm",
                                    pointwise_constraint="non_neg", bias_constraint="non_neg"),
     (2, 5, 5, 2), {"depthwise_kernel": constraints.MaxNorm,
                    "pointwise_kernel": constraints.NonNeg, "bias": constraints.NonNeg}),
    (lambda: layers.BatchNormalization(beta_constraint="non_neg", gamma_constraint="unit_norm"),
     (4, 3), {"beta": constraints.NonNeg, "gamma": constraints.UnitNorm}),
    (lambda: layers.LayerNormalization(gamma_constraint="non_neg"), (4, 3),
     {"gamma": constraints.NonNeg}),
    (lambda: layers.GroupNormalization(2, beta_constraint="non_neg"), (4, 4),
     {"beta": constraints.NonNeg}),
    (lambda: layers.PReLU(alpha_constraint="non_neg"), (4, 3), {"alpha": constraints.NonNeg}),
]


@pytest.mark.parametrize("case", range(len(LAYER_CASES)))
def test_layer_arguments_reach_the_weights_and_round_trip(case):
    make, shape, expected = LAYER_CASES[case]
    layer = make()
    layer(np.ones(shape, np.float32))
    by_name = {w.name: w.constraint for w in layer.weights}
    for name, cls in expected.items():
        assert type(by_name.pop(name)) is cls
    assert all(c is None for c in by_name.values())  # the others: none (moving stats ...)
    config = layer.get_config()
    again = type(layer).from_config(config)
    again(np.ones(shape, np.float32))
    assert again.get_config() == config
    assert [w.constraint for w in again.weights] == [w.constraint for w in layer.weights]
    import json

    json.dumps(config)


def test_configs_say_none_and_keras_configs_load():
    config = layers.Dense(2).get_config()
    assert config["kernel_constraint"] is None and config["bias_constraint"] is None
    assert layers.PReLU().get_config()["alpha_constraint"] is None
    bn = layers.BatchNormalization().get_config()
    assert bn["beta_constraint"] is None and bn["gamma_constraint"] is None
    assert "kernel_constraint" not in layers.MaxPooling2D().get_config()
    keras_conv = {"filters": 4, "kernel_size": [3, 3], "kernel_constraint": {
        "module": "keras.constraints", "class_name": "MaxNorm",
        "config": {"max_value": 3, "axis": [0, 1, 2]}, "registered_name": None},
        "bias_constraint": None}
    conv = layers.Conv2D.from_config(keras_conv)
    assert conv.kernel_constraint == constraints.MaxNorm(3, axis=[0, 1, 2])
    assert conv.bias_constraint is None


def _fit(model, x, y, lr=5.0, epochs=3, batch_size=16, optimizer=None):
    model.compile(optimizer=optimizer or npconv.optimizers.SGD(lr), loss="mse")
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=False)


def test_constraints_hold_after_fit_with_a_large_learning_rate():
    npconv.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 6, 6, 2)).astype(np.float32)
    y = (rng.standard_normal((32, 3)) * 20).astype(np.float32)
    model = npconv.Sequential([
        npconv.Input((6, 6, 2)),
        layers.Conv2D(4, 3, kernel_constraint=constraints.max_norm(0.5, axis=[0, 1, 2]),
                      bias_constraint="non_neg"),
        layers.BatchNormalization(gamma_constraint=constraints.MinMaxNorm(0.5, 1.0)),
        layers.PReLU(alpha_constraint="non_neg"),
        layers.Flatten(),
        layers.Dense(3, kernel_constraint=constraints.UnitNorm(axis=0)),
    ])
    before = model.layers[0].kernel.numpy()
    _fit(model, x, y, lr=2.0)
    conv, bn, prelu, _, dense = model.layers
    assert not np.allclose(conv.kernel.value, before)  # it trained
    filter_norms = np.sqrt(np.sum(conv.kernel.value ** 2, axis=(0, 1, 2)))
    assert filter_norms.max() <= 0.5 * (1 + 1e-6)
    assert np.all(conv.bias.value >= 0) and np.all(prelu.alpha.value >= 0)
    g = np.linalg.norm(bn.gamma.value)
    assert 0.5 * (1 - 1e-6) <= g <= 1.0 * (1 + 1e-6)
    np.testing.assert_allclose(np.linalg.norm(dense.kernel.value, axis=0), 1, rtol=1e-5)
    assert conv.kernel.dtype == np.float32
    # the glorot kernel started outside the bound: the constraint brought it in
    assert np.sqrt(np.sum(before ** 2, axis=(0, 1, 2))).min() > 0.5
    assert np.all(np.isfinite(conv.kernel.value))


class _Counting(constraints.Constraint):
    calls = 0

    def __call__(self, w):
        type(self).calls += 1
        return np.clip(w, -0.1, 0.1)


def test_only_constrained_trainable_weights_are_touched_once_per_step():
    _Counting.calls = 0
    npconv.set_random_seed(1)
    model = npconv.Sequential([npconv.Input((4,)), layers.Dense(3, kernel_constraint=_Counting()),
                               layers.Dense(2)])
    x = np.ones((8, 4), np.float32)
    _fit(model, x, np.ones((8, 2), np.float32), lr=1.0, epochs=2, batch_size=4)
    assert _Counting.calls == 4  # 2 epochs x 2 batches, the kernel only
    assert np.abs(model.layers[0].kernel.value).max() <= 0.1
    # a frozen layer's weights are not updated, so not constrained either
    model.layers[0].trainable = False
    _fit(model, x, np.ones((8, 2), np.float32), lr=1.0, epochs=1, batch_size=4)
    assert _Counting.calls == 4


def test_add_weight_constraint_in_a_custom_layer_and_functions():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones",
                                     constraint="non_neg", name="s")
            self.t = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                     constraint=lambda w: np.clip(w, -0.25, 0.25), name="t")

        def call(self, x):
            self._x = x
            return x * self.s.value + self.t.value

        def call_backward(self, d):
            self.s.grad = np.sum(d * self._x, axis=0)
            self.t.grad = np.sum(d, axis=0)
            return d * self.s.value

    layer = Scale()
    model = npconv.Sequential([npconv.Input((3,)), layer])
    x = np.ones((8, 3), np.float32)
    _fit(model, x, np.full((8, 3), -5.0, np.float32), lr=1.0, epochs=2, batch_size=8)
    assert isinstance(layer.s.constraint, constraints.NonNeg)
    assert np.all(layer.s.value >= 0) and np.abs(layer.t.value).max() <= 0.25
    with pytest.raises(TypeError, match="only Constraint objects can be saved"):
        constraints.serialize(layer.t.constraint)
    with pytest.raises(ValueError, match=r"add_weight: constraint: .*unknown constraint 'pos'"):
        layer.add_weight(shape=(2,), constraint="pos")


def test_a_constraint_returning_another_shape_is_an_error():
    npconv.set_random_seed(2)
    model = npconv.Sequential([npconv.Input((4,)),
                               layers.Dense(3, kernel_constraint=lambda w: w[0])])
    with pytest.raises(ValueError, match="constraint .* of weight 'kernel' returned shape"):
        _fit(model, np.ones((4, 4), np.float32), np.ones((4, 3), np.float32), epochs=1)


class MyClip(constraints.Constraint):
    def __init__(self, limit=1.0):
        self.limit = limit

    def __call__(self, w):
        return np.clip(w, -self.limit, self.limit)

    def get_config(self):
        return {"limit": self.limit}


def test_save_and_load_keep_the_constraints(tmp_path):
    npconv.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 5, 5, 1)).astype(np.float32)
    y = rng.standard_normal((16, 2)).astype(np.float32) * 10
    model = npconv.Sequential([
        npconv.Input((5, 5, 1)),
        layers.Conv2D(3, 3, kernel_constraint=constraints.MaxNorm(0.7, axis=[0, 1, 2])),
        layers.GroupNormalization(3, gamma_constraint="non_neg"),
        layers.Flatten(),
        layers.Dense(2, kernel_constraint=MyClip(0.05), bias_constraint="non_neg")])
    _fit(model, x, y, optimizer=npconv.optimizers.Adam(0.5), epochs=1)
    path = tmp_path / "m.npconv"
    model.save(path)
    loaded = npconv.models.load_model(path)
    assert [w.constraint for w in loaded.weights] == [w.constraint for w in model.weights]
    assert isinstance(loaded.layers[-1].kernel_constraint, MyClip)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # both go on training the same way, constrained
    _fit(model, x, y, optimizer=npconv.optimizers.Adam(0.5), epochs=1)
    _fit(loaded, x, y, optimizer=npconv.optimizers.Adam(0.5), epochs=1)
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert np.abs(loaded.layers[-1].kernel.value).max() <= 0.05
    # by custom_objects too, and through clone_model (the config)
    again = npconv.models.load_model(path, custom_objects={"MyClip": MyClip})
    assert again.layers[-1].kernel_constraint == MyClip(0.05)
    clone = npconv.models.clone_model(model)
    assert clone.layers[-1].kernel_constraint == MyClip(0.05)


# ---------------------------------------------------------------- batches in parts
BACKENDS = ["threads"] + (["processes"] if _workers.available() else [])


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    before = _threads._requested
    if request.param == "threads":
        monkeypatch.setattr(_workers, "ready_workers", lambda count: None)
    else:
        deadline = time.monotonic() + 60
        while _workers.ready_workers(1) is None:
            assert time.monotonic() < deadline, "npconv helper processes did not start"
            time.sleep(0.02)
    yield request.param
    _threads._requested = before


def _parallel_model():
    npconv.set_random_seed(4)
    return npconv.Sequential([
        npconv.Input((6, 6, 2), dtype="float64"),
        layers.Conv2D(4, 3, activation="relu", dtype="float64",
                      kernel_constraint=constraints.MaxNorm(0.3, axis=[0, 1, 2]),
                      bias_constraint="non_neg"),
        layers.Flatten(),
        layers.Dense(3, dtype="float64", kernel_constraint=constraints.UnitNorm())])


@pytest.mark.skipif(not _threads._blas_controller(), reason="batches never split here")
def test_two_threads_train_the_same_constrained_weights_as_one(backend, monkeypatch):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 6, 6, 2))
    y = rng.standard_normal((64, 3)) * 10
    npconv.set_num_threads(1)
    serial = _parallel_model()
    _fit(serial, x, y, lr=3.0, epochs=2, batch_size=32)
    runs = []
    start = parallel.start_run
    monkeypatch.setattr(parallel, "start_run",
                        lambda model, slices: runs.append(start(model, slices)) or runs[-1])
    npconv.set_num_threads(2)
    split = _parallel_model()
    _fit(split, x, y, lr=3.0, epochs=2, batch_size=32)
    expected = parallel.ProcessRun if backend == "processes" else parallel.ParallelRun
    assert len(runs) == 4 and all(type(r) is expected for r in runs)
    for a, b in zip(serial.get_weights(), split.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    kernel = split.layers[0].kernel.value
    assert np.sqrt(np.sum(kernel ** 2, axis=(0, 1, 2))).max() <= 0.3 * (1 + 1e-9)
    if backend == "processes":  # the constraint wrote into the shared weights, in place
        assert split._process_state.shared.intact(split.weights)


def test_keras_serialization_helpers_take_constraints():
    from npconv import saving

    c = constraints.MaxNorm(3, axis=[0, 1, 2])
    config = saving.serialize_keras_object(c)
    assert config == {"module": "keras.constraints", "class_name": "MaxNorm",
                      "config": {"max_value": 3, "axis": [0, 1, 2]}, "registered_name": None}
    assert saving.deserialize_keras_object(config) == c
    assert saving.deserialize_keras_object(
        {"module": "keras.constraints", "class_name": "MyClip", "config": {"limit": 2}},
        custom_objects={"MyClip": MyClip}) == MyClip(2)


def test_equal_constraints_hash_equal():
    # MaxNorm(2) == MaxNorm(2.0) (their configs compare equal), but the hash of the configs'
    # repr told '2' from '2.0': a set or dict kept both
    from npconv.constraints import MaxNorm, MinMaxNorm

    assert MaxNorm(2) == MaxNorm(2.0)
    assert hash(MaxNorm(2)) == hash(MaxNorm(2.0))
    assert hash(MinMaxNorm(0, 1)) == hash(MinMaxNorm())
    assert len({MaxNorm(3, axis=[0, 1]), MaxNorm(3.0, axis=[0, 1])}) == 1
    assert hash(MaxNorm(3, axis=[0, 1])) != hash(MaxNorm(3, axis=[0, 2]))
