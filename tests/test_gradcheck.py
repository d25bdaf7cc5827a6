"""npconv.gradcheck.gradient_check: passes on correct layers and models, fails on wrong ones."""

import numpy as np
import pytest

from npconv.gradcheck import gradient_check
from npconv.layers import (
    Add,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPooling2D,
)
from npconv.layers.base import Layer
from npconv.models.sequential import Sequential
from npconv.models.zoo import lenet5, same_cnn


def rand(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


class Scale(Layer):
    """y = x * w (one weight per channel). ``wrong`` forgets x in dL/dw."""

    def __init__(self, wrong=False, **kwargs):
        super().__init__(**kwargs)
        self.wrong = wrong

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), "ones")
        self.w.value[...] = np.linspace(0.5, 1.5, input_shape[-1])

    def call(self, x, training=False):
        self._x = x
        return x * self.w.value

    def call_backward(self, d_out):
        axes = tuple(range(d_out.ndim - 1))
        self.w.grad = d_out.sum(axis=axes) if self.wrong else (d_out * self._x).sum(axis=axes)
        return d_out * self.w.value


class WritesIntoDOut(Scale):
    def call_backward(self, d_out):
        dx = super().call_backward(d_out)
        d_out *= 2.0   # forbidden: backward must not modify its input
        return dx


@pytest.mark.parametrize("layer, shape", [
    (lambda: Conv2D(4, 3, strides=2, padding="same", activation="relu"), (2, 7, 7, 3)),
    (lambda: Conv2D(3, (2, 3), padding=1, dilation_rate=2), (2, 6, 7, 2)),
    (lambda: Dense(5, activation="tanh"), (3, 6)),
    (lambda: BatchNormalization(), (4, 3, 3, 2)),
    (lambda: MaxPooling2D(2), (2, 5, 5, 2)),
    (lambda: MaxPooling2D(3, strides=2, padding="same"), (2, 6, 5, 2)),
    (lambda: AveragePooling2D(3, 2, padding="same"), (2, 5, 5, 2)),
    (lambda: Flatten(), (2, 3, 3, 2)),
    (lambda: Scale(), (2, 4, 3)),
])
def test_correct_layers_pass(layer, shape):
    lines = []
    report = gradient_check(layer(), rand(shape), print_fn=lines.append)
    assert report.passed, str(report)
    assert bool(report)
    assert lines == [str(report)]
    assert report.row("input").checked == min(30, int(np.prod(shape)))
    assert all(r.max_rel_error <= 1e-5 for r in report.rows)


def test_rows_name_every_trainable_weight_and_the_input():
    report = gradient_check(Conv2D(2, 3), rand((1, 5, 5, 2)), print_fn=None, max_checks=7)
    assert [r.name for r in report.rows] == ["kernel", "bias", "input"]
    assert [r.shape for r in report.rows] == [(3, 3, 2, 2), (2,), (1, 5, 5, 2)]
    assert [r.checked for r in report.rows] == [7, 2, 7]
    text = str(report)
    assert "kernel" in text and "PASSED" in text and "max rel err" in text


def test_batch_norm_inference_mode_and_float32_layer_untouched():
    layer = BatchNormalization()
    x = rand((4, 3, 3, 2), dtype=np.float32)
    layer(x)                                   # built in float32
    before = [w.copy() for w in layer.get_weights()]
    report = gradient_check(layer, x, training=False, print_fn=None)
    assert report.passed, str(report)
    assert all(w.value.dtype == np.float32 for w in layer.weights)
    for a, b in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_wrong_layer_fails():
    report = gradient_check(Scale(wrong=True), rand((2, 4, 3), seed=1), print_fn=None)
    assert not report.passed
    assert not report.row("w").passed
    assert report.row("w").max_rel_error > 1e-2
    assert report.row("input").passed        # only the weight gradient is wrong
    assert "FAIL" in str(report) and "FAILED" in str(report)


def test_backward_that_modifies_d_out_fails():
    report = gradient_check(WritesIntoDOut(), rand((2, 3)), print_fn=None)
    assert not report.passed
    assert any("d_out" in p for p in report.problems)


class Noisy(Layer):
    """Adds fresh noise from a generator npconv does not know about."""

    def call(self, x, training=False):
        return x + np.random.default_rng().standard_normal(x.shape)

    def call_backward(self, d_out):
        return d_out


def test_random_forward_is_reported():
    report = gradient_check(Noisy(), rand((4, 6)), print_fn=None)
    assert not report.passed
    assert any("forward" in p for p in report.problems)


@pytest.mark.parametrize("seed", [None, 3])
def test_dropout_in_training_mode_is_checked_with_fixed_masks(seed):
    from npconv.random import global_generator

    state = global_generator().bit_generator.state
    report = gradient_check(Dropout(0.5, seed=seed), rand((4, 6)), training=True, print_fn=None)
    assert report.passed, str(report)
    assert global_generator().bit_generator.state == state   # the caller's generator untouched


def test_multi_input_layer():
    report = gradient_check(Add(), [rand((2, 3)), rand((2, 3), seed=2)], print_fn=None)
    assert report.passed, str(report)
    assert [r.name for r in report.rows] == ["input[0]", "input[1]"]


def test_small_models_with_and_without_a_loss():
    model = lenet5(input_shape=(12, 12, 1))
    report = gradient_check(model, rand((2, 12, 12, 1)), y=np.array([1, 2]),
                            loss="sparse_categorical_crossentropy", max_checks=8, print_fn=None)
    assert report.passed, str(report)
    assert report.row(f"{model.layers[0].name}/kernel").shape == (5, 5, 1, 6)
    report = gradient_check(same_cnn(input_shape=(8, 8, 3)), rand((3, 8, 8, 3)), max_checks=8,
                            print_fn=None)
    assert report.passed, str(report)


def test_wrong_layer_inside_a_model_fails():
    model = Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), Scale(wrong=True), Flatten(),
                        Dense(3)])
    report = gradient_check(model, rand((2, 5, 5, 1)), print_fn=None)
    assert not report.passed
    failing = [r.name for r in report.rows if not r.passed]
    assert any(name.endswith("/w") for name in failing)


def test_errors():
    with pytest.raises(TypeError, match="gradient_check: expected an npconv Layer or Model"):
        gradient_check(lambda x: x, rand((2, 2)))
    with pytest.raises(ValueError, match="max_checks"):
        gradient_check(Dense(2), rand((2, 2)), max_checks=0)
    with pytest.raises(ValueError, match="no loss"):
        gradient_check(Dense(2), rand((2, 2)), y=np.array([0, 1]))


def test_a_non_contiguous_input_is_checked_not_read_as_zero_gradients():
    """A transposed input was copied in its own layout: its flat view was a copy, the
    nudges never reached the input, and every numeric gradient read 0 (a false FAILED)."""
    x = rand((3, 4, 5, 2)).transpose(0, 2, 1, 3)  # (3, 5, 4, 2), not C-contiguous
    assert not x.flags.c_contiguous
    report = gradient_check(Conv2D(2, 3), x, print_fn=None)
    assert report.passed, str(report)
    assert report.row("input").max_rel_error <= 1e-5


def test_a_model_that_ran_a_batch_in_parts_is_checked():
    """A model whose last batch ran in parts keeps that run (helper processes, hence locks)
    in _parallel_run, and its shared weights' mapping in _process_state: the float64 deep
    copy failed with "cannot pickle '_thread.lock'" (then 'mmap.mmap') after a fit or
    predict that used the helpers. Both are left out of the copy."""
    import threading

    class Run:  # what the record holds that deepcopy cannot copy
        def __init__(self):
            self.lock = threading.Lock()

    model = Sequential([Dense(3, activation="tanh"), Dense(2)])
    model.build((None, 4))
    run, state = Run(), Run()
    model._parallel_run, model._process_state = run, state  # (the latter holds an mmap)
    report = gradient_check(model, rand((5, 4)), print_fn=None)
    assert report.passed, str(report)
    assert model._parallel_run is run and model._process_state is state  # not touched
