"""What Keras code does with a layer's output and with its weights: ``layer(x).numpy()``,
``.cpu().numpy()``, ``np.asarray(layer.kernel)``, ``layer.kernel.numpy()``, arithmetic on
weights, ``assign_add``; and custom layers whose ``call`` takes no ``training``."""

import numpy as np
import pytest

import npconv
from npconv import layers
from npconv.tensor import Tensor


def _model():
    npconv.set_random_seed(0)
    return npconv.Sequential([npconv.Input((6, 6, 1)), layers.Conv2D(2, 3), layers.Flatten(),
                              layers.Dense(3, activation="softmax")])


def test_calling_a_layer_or_model_gives_a_tensor_with_numpy_and_cpu():
    x = np.arange(32, dtype=float).reshape(1, 4, 4, 2)
    out = layers.AveragePooling2D((2, 2), strides=1)(x)
    assert isinstance(out, Tensor) and isinstance(out, np.ndarray)
    plain = out.cpu().numpy()
    assert type(plain) is np.ndarray and plain.shape == (1, 3, 3, 2)
    np.testing.assert_array_equal(plain, layers.AveragePooling2D((2, 2), strides=1).forward(x))
    assert np.shares_memory(plain, out)  # a view, as TensorFlow's numpy() may be
    model = _model()
    batch = np.random.default_rng(1).random((4, 6, 6, 1), dtype=np.float32)
    called = model(batch)
    assert isinstance(called, Tensor)
    np.testing.assert_array_equal(called.numpy(), model.predict(batch, verbose=0))
    assert type(model.predict(batch, verbose=0)) is np.ndarray  # predict gives NumPy, as Keras
    # arithmetic stays an array; reductions to one number give NumPy scalars
    assert type(called.sum()) is np.float32 and type(np.max(called)) is np.float32
    assert type(np.asarray(called)) is np.ndarray


def test_weights_read_as_arrays():
    model = _model()
    kernel = model.layers[0].kernel
    as_array = np.asarray(kernel)
    assert as_array.shape == (3, 3, 1, 2) and as_array.dtype == np.float32
    assert as_array is kernel.value  # no copy for np.asarray
    copied = kernel.numpy()
    assert copied is not kernel.value and np.array_equal(copied, kernel.value)
    assert kernel.dtype == np.float32 and kernel.ndim == 4 and kernel.size == 18
    np.testing.assert_array_equal(np.array(model.weights[0]), kernel.value)
    np.testing.assert_array_equal(kernel * 2, kernel.value * 2)
    np.testing.assert_array_equal(2 * kernel, kernel.value * 2)
    np.testing.assert_array_equal(kernel - kernel, np.zeros((3, 3, 1, 2), np.float32))
    np.testing.assert_array_equal(kernel[0], kernel.value[0])
    np.testing.assert_array_equal(np.abs(kernel), np.abs(kernel.value))
    assert float(np.sum(kernel)) == pytest.approx(float(kernel.value.sum()))
    assert len(kernel) == 3 and bool(model.layers[0].bias)
    # reading never writes: the results are new arrays
    before = kernel.value.copy()
    kernel[0][...] = 5
    result = kernel + 1
    result[...] = 7
    np.testing.assert_array_equal(kernel.value, before)
    assert kernel in model.weights and len({kernel, model.layers[0].bias}) == 2


def test_assign_add_and_sub_write_in_place_with_shape_checks():
    model = _model()
    bias = model.layers[0].bias
    storage = bias.value
    bias.assign_add(np.array([1.0, 2.0]))
    bias.assign_sub(0.5)
    np.testing.assert_array_equal(bias.value, [0.5, 1.5])
    assert bias.value is storage
    with pytest.raises(ValueError, match=r"assign_add: weight 'bias' expects shape \(2,\)"):
        bias.assign_add(np.ones(3))


def test_a_custom_layer_whose_call_takes_no_training_argument():
    class Double(layers.Layer):
        def call(self, x):
            return x * 2

    class Noisy(layers.Layer):
        def call(self, x, training=False):
            return x + (1.0 if training else 0.0)

    np.testing.assert_array_equal(Double()(np.ones(3)).numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(Double().forward(np.ones(3), training=True), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(Noisy().forward(np.ones(3), training=True), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(Noisy()(np.ones(3)), [1.0, 1.0, 1.0])


def test_in_place_arithmetic_on_a_weight_changes_it_in_place():
    model = _model()
    layer = model.layers[0]
    kernel, storage = layer.kernel, layer.kernel.value
    before = storage.copy()
    layer.kernel += 1
    layer.kernel *= 2
    assert layer.kernel is kernel and kernel.value is storage
    np.testing.assert_array_equal(storage, (before + 1) * 2)
    with pytest.raises(ValueError, match=r"\+=: weight 'kernel' expects shape"):
        layer.kernel += np.ones(3)
    assert np.asarray(kernel, dtype=np.float32, copy=False) is storage
    with pytest.raises(ValueError, match="without a copy"):
        np.asarray(kernel, dtype=np.float64, copy=False)


def test_an_initializer_with_keras_signature_gets_no_generator():
    def keras_style(shape, dtype=None):
        return np.full(shape, 0.5, dtype or "float32")

    def npconv_style(shape, dtype=None, rng=None):
        assert rng is not None
        return rng.standard_normal(shape).astype(dtype)

    for init, check in ((keras_style, lambda k: np.all(k == 0.5)),
                        (npconv_style, lambda k: np.std(k) > 0)):
        dense = layers.Dense(4, kernel_initializer=init)
        dense(np.ones((1, 3), np.float32))
        assert check(dense.kernel.value)


def test_initializers_with_keras_documented_signatures():
    class FromKerasDocs(npconv.initializers.Initializer):
        def __call__(self, shape, dtype=None, **kwargs):
            return np.full(shape, 0.25, dtype=dtype)

    class Plain:
        def __call__(self, shape, dtype=None, **kwargs):
            return np.full(shape, 0.5, dtype=dtype)

    def keyword_rng(shape, dtype=None, *, rng=None):
        return rng.uniform(1, 2, size=shape).astype(dtype)

    for init, check in ((FromKerasDocs(), lambda k: np.all(k == 0.25)),
                        (Plain(), lambda k: np.all(k == 0.5)),
                        (keyword_rng, lambda k: np.all((k >= 1) & (k < 2)))):
        dense = layers.Dense(3, kernel_initializer=init)
        dense(np.ones((1, 2), np.float32))
        assert check(dense.kernel.value)


def test_a_layer_built_by_hand_is_not_built_again_by_its_first_call():
    dense = layers.Dense(2)
    dense.build((None, 3))
    assert dense.built and dense.output_shape == (None, 2)  # as Keras's build
    kernel = dense.kernel
    dense(np.ones((4, 3), np.float32))
    assert [w.name for w in dense.weights] == ["kernel", "bias"] and dense.kernel is kernel
    dense.build((None, 3))  # a second build keeps the weights
    assert dense.kernel is kernel


def test_build_by_hand_takes_the_public_shape_of_channels_first():
    conv = layers.Conv2D(4, 3, data_format="channels_first")
    conv.build((None, 3, 10, 10))  # (batch, channels, height, width): 3 input channels
    assert conv.built and conv.kernel.shape == (3, 3, 3, 4)
    assert conv.output_shape == (None, 4, 8, 8)
    assert conv(np.ones((2, 3, 10, 10), np.float32)).shape == (2, 4, 8, 8)


def test_a_keras_2_build_that_ends_with_super_build():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight("w", (input_shape[-1],), "ones")
            super().build(input_shape)

        def call(self, x):
            return x * self.w.value

        def call_backward(self, d_out):
            return d_out * self.w.value

    layer = Scale()
    layer.build((None, 5))
    assert layer.built and [w.shape for w in layer.weights] == [(5,)]
    np.testing.assert_array_equal(layer(np.full((2, 5), 2.0)), np.full((2, 5), 2.0))
    assert len(layer.weights) == 1


class _Linear(layers.Layer):
    """Keras 3's custom-layer example: weights from ``add_weight(shape=..., ...)``."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True,
                                 name="b")

    def call(self, x):
        self._x = x
        return x @ self.w.value + self.b.value

    def call_backward(self, d_out):
        self.w.grad = self._x.T @ d_out
        self.b.grad = d_out.sum(axis=0)
        return d_out @ self.w.value.T


def test_add_weight_takes_keras_3_arguments_and_the_layer_trains():
    from npconv.gradcheck import gradient_check

    npconv.set_random_seed(3)
    layer = _Linear(dtype="float64")
    x = np.random.default_rng(0).standard_normal((4, 5))
    layer(x)
    assert [(w.name, w.shape, w.dtype, w.trainable) for w in layer.weights] == [
        ("variable", (5, 3), np.float64, True), ("b", (3,), np.float64, True)]
    assert 0 < np.std(layer.w.numpy()) < 0.2  # random_normal (stddev 0.05), not zeros
    assert gradient_check(layer, x, print_fn=None).passed
    # positional Keras 3 order (shape, initializer, dtype, trainable), the default
    # initializer (glorot_uniform, as Keras), and npconv's / Keras 2's (name, shape, init)
    q = layer.add_weight((2, 2), "ones", "float32", False)
    assert (q.dtype, q.trainable, q.numpy().tolist()) == (np.float32, False, [[1, 1], [1, 1]])
    assert np.abs(layer.add_weight(shape=(40, 40)).numpy()).max() > 0
    assert layer.add_weight("kernel", (3,), "ones").name == "kernel"
    assert layer.add_weight(shape=4, initializer="zeros").shape == (4,)


@pytest.mark.parametrize("call, error, message", [
    (lambda l: l.add_weight(initializer="zeros"), TypeError, "needs a shape"),
    (lambda l: l.add_weight("w", (2,), shape=(2,)), TypeError, "both by position"),
    (lambda l: l.add_weight(shape=(2,), constraint="positive"), ValueError, "constraints"),
    (lambda l: l.add_weight(shape=(2,), colour="red"), TypeError, "colour"),
    (lambda l: l.add_weight(shape=(2, -1)), ValueError, "negative"),
    (lambda l: l.add_weight(shape=("a",)), TypeError, "tuple of ints"),
    (lambda l: l.add_weight(shape=(2,), dtype="int32"), ValueError, "float32 or float64"),
    (lambda l: l.add_weight((2,), "zeros", None, True, "extra"), TypeError, "at most 4"),
])
def test_add_weight_errors_name_the_layer(call, error, message):
    layer = _Linear(name="lin")
    with pytest.raises(error, match=message) as info:
        call(layer)
    assert "lin.add_weight" in str(info.value)
    assert layer.weights == []


def test_a_scalar_weight_keeps_its_shape_trains_saves_and_loads(tmp_path):
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.s = self.add_weight(shape=(), initializer="ones", name="s")

        def call(self, x):
            self._x = x
            return x * self.s.value

        def call_backward(self, d_out):
            self.s.grad = np.sum(d_out * self._x).astype(self.s.dtype)
            return d_out * self.s.value

    npconv.set_random_seed(0)
    scale = Scale()
    model = npconv.Sequential([npconv.Input((5,)), scale, layers.Dense(2)])
    assert scale.s.shape == ()  # (1,) before: np.ascontiguousarray makes 0-d arrays 1-d
    model.compile("rmsprop", "mse")
    model.fit(np.ones((4, 5), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    model.save(tmp_path / "m.npconv")
    again = npconv.load_model(tmp_path / "m.npconv", custom_objects={"Scale": Scale})
    assert again.layers[0].s.shape == () and again.layers[0].s.numpy() == scale.s.numpy()
    model.save_weights(tmp_path / "w.safetensors")
    again.load_weights(tmp_path / "w.safetensors")


def test_metric_results_answer_numpy_as_keras_tensors():
    """Keras's ``metric.result()`` and ``metric(y_true, y_pred)`` are tensors, read with
    ``.numpy()`` (MeanIoU's documented ``m.result().numpy()``, and
    ``keras.metrics.R2Score()(y, p).numpy()`` in user code); one number stays a float."""
    import json

    class Counter(npconv.Metric):  # a Keras-style subclass whose result is a Python float
        def __init__(self, name="counter"):
            super().__init__(name=name)
            self.n = self.add_variable(shape=(), name="n")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign_add(len(y_true))

        def result(self):
            return float(self.n.value)

    m = npconv.metrics.MeanIoU(num_classes=2)
    m.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    assert m.result().numpy() == pytest.approx(0.23809525, abs=1e-7)
    r2 = npconv.metrics.R2Score()(np.array([[1.0], [4.0], [3.0]]), np.array([[2.0], [4.0], [4.0]]))
    assert r2.numpy() == pytest.approx(0.57142854, abs=1e-7)
    f1 = npconv.metrics.F1Score(threshold=0.5)(np.eye(3), np.eye(3) * 0.9)
    assert type(f1.numpy()) is np.ndarray and f1.numpy().shape == (3,)
    counter = Counter()
    counter.update_state(np.zeros(4), np.zeros(4))
    for value in (m.result(), r2, counter.result(), npconv.metrics.Mean()([1.0, 2.0]),
                  npconv.metrics.AUC()([0, 1], [0.2, 0.9])):
        assert isinstance(value, float) and type(value.numpy()) is np.float64
        assert value.cpu() is value and value.numpy() == float(value)
        assert round(value, 2) == round(float(value), 2) and json.dumps(value)
        assert f"{value:.3f}" == f"{float(value):.3f}"
    assert counter.result().numpy() == 4.0
    assert type(m.result() + 1) is np.float64  # arithmetic gives plain NumPy numbers


def test_loss_results_answer_numpy_as_keras_tensors():
    """Keras's loss objects give tensors: its pages read ``bce(y_true, y_pred).numpy()``
    (0.815 in keras.losses.BinaryCrossentropy's docstring); reduction=None gives the
    per-sample values as a tensor too."""
    import json

    y_true = np.array([[0.0, 1.0], [0.0, 0.0]])
    y_pred = np.array([[0.6, 0.4], [0.4, 0.6]])
    bce = npconv.losses.BinaryCrossentropy()
    value = bce(y_true, y_pred)
    assert value.numpy() == pytest.approx(0.815, abs=1e-3)
    assert isinstance(value, float) and type(value.numpy()) is np.float64 and json.dumps(value)
    per_sample = npconv.losses.MeanSquaredError(reduction=None)(y_true, y_pred)
    np.testing.assert_allclose(per_sample.numpy(), [0.36, 0.26])
    assert type(per_sample.numpy()) is np.ndarray
