"""What a new user does wrong or unusually, and what npconv must answer.

Broken model files (valid safetensors whose metadata has the wrong types), saved metrics
that must come back as they were, wrong input shapes, out-of-range labels, empty arrays,
odd dtypes and memory layouts: each either works as Keras does or raises a ValueError /
TypeError naming the model or layer, what was expected and what came.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import npconv as keras
from npconv import layers
from npconv.metrics import MeanMetricWrapper


def _small_model(compile_kwargs=None):
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(2, 3),
                              layers.MaxPooling2D(), layers.Flatten(),
                              layers.Dense(3, activation="softmax")])
    model.compile(**(compile_kwargs or {"optimizer": "adam",
                                        "loss": "sparse_categorical_crossentropy",
                                        "metrics": ["accuracy"]}))
    return model


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.random((30, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 30)


# ---------------------------------------------------------------------- saved metrics
def test_a_metric_object_keeps_its_configuration_across_save_and_load(tmp_path, xy):
    x, y = xy
    y1 = keras.utils.to_categorical(y, 3)
    model = _small_model({"optimizer": "adam", "loss": "categorical_crossentropy",
                          "metrics": [keras.metrics.TopKCategoricalAccuracy(k=2),
                                      keras.metrics.BinaryAccuracy(threshold=0.3, name="ba")]})
    model.fit(x, y1, epochs=1, verbose=0)
    model.save(tmp_path / "m.npconv")
    again = keras.models.load_model(tmp_path / "m.npconv")
    expected = model.evaluate(x, y1, verbose=0, return_dict=True)
    assert again.evaluate(x, y1, verbose=0, return_dict=True) == expected
    assert expected["top_k_categorical_accuracy"] < 1.0  # k=2 of 3 classes; k=5 would give 1


def test_a_metric_function_can_be_saved_and_loaded(tmp_path, xy):
    x, y = xy
    model = _small_model({"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                          "metrics": [keras.metrics.sparse_categorical_accuracy]})
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.npconv")
    again = keras.models.load_model(tmp_path / "m.npconv")
    assert (again.evaluate(x, y, verbose=0, return_dict=True)
            == model.evaluate(x, y, verbose=0, return_dict=True))


def test_a_custom_metric_fails_to_compile_on_load_with_a_hint(tmp_path, xy):
    x, y = xy
    model = _small_model({"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                          "metrics": [MeanMetricWrapper(lambda t, p: p.max(-1), name="conf")]})
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.npconv")
    with pytest.raises(ValueError, match="compile=False"):
        keras.models.load_model(tmp_path / "m.npconv")
    again = keras.models.load_model(tmp_path / "m.npconv", compile=False)
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


# ---------------------------------------------------------------------- broken metadata
def _rewrite_metadata(raw: bytes, **changes) -> bytes:
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    header["__metadata__"].update(changes)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return len(text).to_bytes(8, "little") + text + raw[8 + n:]


@pytest.mark.parametrize("key", ["npconv.architecture", "npconv.compile", "npconv.kind"])
@pytest.mark.parametrize("value", ["5", "[1, 2]", '"text"', '{"layers": 3}'])
def test_metadata_of_the_wrong_type_is_a_value_error_naming_the_file(tmp_path, xy, key, value):
    model = _small_model()
    model.save(tmp_path / "good.npconv")
    bad = tmp_path / "bad.npconv"
    bad.write_bytes(_rewrite_metadata((tmp_path / "good.npconv").read_bytes(), **{key: value}))
    try:
        keras.models.load_model(bad)
    except ValueError as exc:
        assert "bad.npconv" in str(exc)
    # (some of these still describe a loadable model, e.g. kind "text" -> functional Model)


# ---------------------------------------------------------------------- inputs
def test_images_without_the_channel_axis_name_the_expected_and_received_shapes(xy):
    x, y = xy
    model = _small_model()
    with pytest.raises(ValueError, match=r"\(8, 8, 1\).*\(30, 8, 8\)|\(8, 8, 1\).*8, 8\)"):
        model.predict(x[..., 0], verbose=0)
    with pytest.raises(ValueError, match=r"expected input of shape"):
        model.fit(x[..., 0], y, verbose=0)


def test_labels_out_of_range_and_empty_data_are_value_errors(xy):
    x, y = xy
    model = _small_model()
    with pytest.raises(ValueError, match=r"labels in \[0, 3\)"):
        model.fit(x, y + 3, verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="same number of samples"):
        model.fit(x, y[:10], verbose=0)


def test_float16_fortran_and_strided_inputs_give_the_float32_result(xy):
    x, _ = xy
    model = _small_model()
    expected = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(np.asfortranarray(x), verbose=0), expected)
    doubled = np.repeat(x, 2, axis=1)[:, ::2]
    np.testing.assert_array_equal(model.predict(doubled, verbose=0), expected)
    half = model.predict(x.astype(np.float16), verbose=0)
    assert half.dtype == np.float32
    np.testing.assert_allclose(half, model.predict(x.astype(np.float16).astype(np.float32),
                                                   verbose=0), rtol=1e-6)


def test_fit_before_compile_is_a_clear_error(xy):
    x, y = xy
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Flatten(), layers.Dense(3)])
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(x, y, verbose=0)


def test_train_into_an_existing_file_is_refused_before_loading_data(tmp_path):
    from npconv.training.run import RunConfig, RunConfigError, train

    target = tmp_path / "model.npconv"
    target.write_bytes(b"keep me")
    with pytest.raises(RunConfigError, match="is a file, not a folder"):
        train(RunConfig(epochs=1), output=target, verbose=0, print_fn=lambda *a: None)
    assert target.read_bytes() == b"keep me"


def test_to_categorical_takes_whole_float_labels_and_rejects_fractions():
    from npconv.utils import to_categorical

    np.testing.assert_array_equal(to_categorical(np.array([0.0, 2.0, 1.0])),
                                  to_categorical(np.array([0, 2, 1])))
    with pytest.raises(ValueError, match="to_categorical: expected integer labels"):
        to_categorical(np.array([0.5, 1.0]))


def test_to_categorical_on_n_d_labels_appends_the_class_axis_as_keras():
    """Keras returns ``shape + (num_classes,)``, dropping a trailing axis of 1 (rank >= 2)
    first; a 2-D array of labels was rejected here."""
    from npconv.utils import to_categorical

    y = np.array([[0, 1], [2, 1]])
    out = to_categorical(y)
    assert out.shape == (2, 2, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.float32)[y])
    assert to_categorical(y[..., None], 4).shape == (2, 2, 4)  # (2, 2, 1): the 1 is dropped
    assert to_categorical(np.array([[2], [0]])).shape == (2, 3)  # (N, 1) as (N,)
    np.testing.assert_array_equal(to_categorical(np.array([1]), 2), [[0, 1]])  # rank 1 kept
    np.testing.assert_array_equal(to_categorical(2, 3), [0, 0, 1])  # one label: (C,)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        to_categorical(y, 2)


# ---------------------------------------------------------------------------- engine edge cases
def test_batch_norm_refuses_to_train_on_an_empty_batch_and_keeps_its_statistics():
    bn = layers.BatchNormalization()
    bn(np.ones((2, 4, 4, 3), np.float32))
    before = [w.copy() for w in bn.get_weights()]
    with pytest.raises(ValueError, match=r"batch_norm: training needs at least one value .* "
                                         r"\(0, 4, 4, 3\)"):
        bn(np.zeros((0, 4, 4, 3), np.float32), training=True)
    for a, b in zip(before, bn.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert bn(np.zeros((0, 4, 4, 3), np.float32)).shape == (0, 4, 4, 3)  # inference is fine


def test_average_pooling_backward_of_an_empty_batch():
    from npconv.ops import avg_pool2d_backward, avg_pool2d_forward

    out, cache = avg_pool2d_forward(np.zeros((0, 6, 6, 3), np.float32), 2)
    assert avg_pool2d_backward(np.zeros(out.shape, np.float32), cache).shape == (0, 6, 6, 3)


@pytest.mark.parametrize("layer, x", [
    (layers.Activation("linear"), np.zeros((2, 3), np.float32)),
    (layers.MaxPooling2D(data_format="channels_first"), np.zeros((1, 3, 4, 4), np.float32)),
    (layers.BatchNormalization(), np.zeros((1, 4, 4, 3), np.float32)),
    (layers.ZeroPadding2D(1, data_format="channels_first"), np.zeros((1, 2, 3, 3), np.float32)),
])
def test_backward_with_a_gradient_of_the_wrong_shape_names_the_layer(layer, x):
    y = layer(x)
    for wrong in (np.zeros((7, 5)), np.zeros(y.shape[1:])):
        with pytest.raises(ValueError, match=rf"{layer.name}: expected a gradient of the "
                                             rf"output's shape"):
            layer.backward(wrong)
    assert layer.backward(np.ones_like(y)).shape == x.shape


def test_data_format_none_means_channels_last_as_in_keras():
    for layer in (layers.Conv2D(2, 3, data_format=None), layers.Flatten(data_format=None),
                  layers.ZeroPadding2D(1, data_format=None),
                  layers.MaxPooling2D(data_format=None)):
        assert layer.data_format == "channels_last"


def test_complex_and_string_input_are_refused_by_layers_with_weights():
    with pytest.raises(TypeError, match=r"dense.*real numeric array.*complex128"):
        layers.Dense(2, name="dense")(np.ones((1, 3)) + 1j)
    with pytest.raises(TypeError, match=r"conv.*real numeric array"):
        layers.Conv2D(2, 1, name="conv")(np.array([[[["a"]]]]))


@pytest.mark.parametrize("dtype", ["float16", "int32", "complex64"])
def test_layer_dtype_must_be_float32_or_float64(dtype):
    with pytest.raises(ValueError, match=rf"c: expected dtype 'float32' or 'float64'. "
                                         rf"Received: dtype='{dtype}'"):
        layers.Conv2D(16, 3, dtype=dtype, name="c")


def test_relu_passes_the_gradient_of_a_nan_of_either_sign_as_torch():
    from npconv.ops import relu_backward, relu_forward

    with np.errstate(invalid="ignore"):
        x = np.array([np.inf, 1.0, -1.0, 0.0, -0.0, np.nan]) - np.array([np.inf, 0, 0, 0, 0, 0])
    assert np.signbit(x[0]) and np.isnan(x[0])  # inf - inf: a NaN with the sign bit set
    y, cache = relu_forward(x)
    np.testing.assert_array_equal(relu_backward(np.full(6, 3.0), cache), [3, 3, 0, 0, 0, 3])


def test_keras_ops_names_say_what_npconv_ops_is():
    """``keras.ops.mean`` (the Keras guides' custom losses and metrics) found npconv.ops, the
    blocks' forward/backward functions, and failed with a bare "has no attribute 'mean'"."""
    with pytest.raises(AttributeError, match=r"'mean': npconv.ops holds the CNN blocks' "
                                             r"forward/backward functions.*not Keras 3's "
                                             r"keras.ops.*use numpy.mean"):
        keras.ops.mean  # noqa: B018
    with pytest.raises(AttributeError, match="'convert_to_numpy': npconv.ops holds"):
        keras.ops.convert_to_numpy  # noqa: B018
    assert not hasattr(keras.ops, "__wrapped__")
    from npconv.ops import norm  # submodules still import

    assert norm.__name__ == "npconv.ops.norm"


@pytest.mark.parametrize("loss", ["mean_squared_error", "mean_absolute_error", "huber"])
@pytest.mark.parametrize("y_true", [np.ones((2, 3)) + 1j, np.full((2, 3), "a"),
                                    np.full((2, 3), None)])
def test_regression_losses_refuse_complex_string_and_object_targets(loss, y_true):
    """MSE/MAE/Huber cast y_true to the predictions' dtype: a complex target lost its
    imaginary part (a ComplexWarning only), None gave a NaN loss, a string a bare
    "could not convert" ValueError. The other losses already said so."""
    fn = keras.losses.get(loss)
    with pytest.raises(TypeError, match=r"expected numeric targets. Received dtype"):
        fn(y_true, np.ones((2, 3), np.float32))


def test_reshape_of_a_scalar_names_the_layer():
    """Reshape on a 0-D input failed with a bare IndexError (x.shape[0])."""
    with pytest.raises(ValueError, match=r"r: Reshape expects an input with a batch "
                                         r"dimension. Received an input of shape \(\)"):
        layers.Reshape((-1,), name="r")(np.float32(1.0))


@pytest.mark.parametrize("bad", [lambda w: w + 1j, lambda w: np.full(w.shape, "a")])
def test_set_weights_refuses_complex_and_strings_and_writes_nothing(xy, bad):
    """A complex weight lost its imaginary part (a ComplexWarning only); a string in the
    last array failed with a bare "could not convert" after the first arrays were written."""
    model = _small_model()
    before = model.get_weights()
    wrong = before[:-1] + [bad(before[-1])]
    with pytest.raises(TypeError, match=r"sequential.*: weight 'bias' expects real numbers. "
                                        r"Received dtype"):
        model.set_weights([w + 1 for w in wrong[:-1]] + wrong[-1:])
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    dense = model.layers[-1]
    with pytest.raises(TypeError, match=rf"{dense.name}: weight 'bias' expects real numbers"):
        dense.set_weights([before[-2] + 1, bad(before[-1])])
    np.testing.assert_array_equal(dense.get_weights()[0], before[-2])


def test_one_callback_not_in_a_list_is_taken_as_keras_does(xy):
    """Keras flattens ``callbacks``, so ``fit(..., callbacks=EarlyStopping())`` runs; here it
    failed with "'EarlyStopping' object is not iterable" (and ``callbacks=5`` with "'int'
    object is not iterable")."""
    x, y = xy
    seen = []

    class Count(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    model = _small_model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=Count())
    model.evaluate(x, y, verbose=0, callbacks=Count())
    assert seen == [0, 1]
    with pytest.raises(TypeError, match="fit: callbacks must be npconv Callback objects. "
                                        "Received int"):
        model.fit(x, y, verbose=0, callbacks=5)


def test_save_and_load_name_a_path_that_is_not_one(tmp_path):
    """``model.save(5)`` / ``load_model(None)`` failed with os.fspath's bare "expected str,
    bytes or os.PathLike object", and a bytes path with tempfile's "Can't mix bytes and
    non-bytes in path components"."""
    model = _small_model()
    with pytest.raises(TypeError, match=rf"{model.name}.save: expected a file path .*"
                                        r"Received: 5 of type int"):
        model.save(5)
    with pytest.raises(TypeError, match=r"expected a file path .* Received: None"):
        keras.models.load_model(None)
    target = tmp_path / "m.npconv"
    model.save(bytes(target))
    again = keras.models.load_model(bytes(target))
    assert [w.shape for w in again.get_weights()] == [w.shape for w in model.get_weights()]


@pytest.mark.parametrize("axis", [4, 7, -5])
def test_concatenate_on_an_axis_the_inputs_lack_names_the_layer(axis):
    """axis=7 on 4-D inputs was taken modulo the rank for the shape check, then failed with a
    bare IndexError (x.shape[7]) or numpy's AxisError."""
    x = np.ones((2, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match=rf"cat: axis={axis} is out of range for inputs of "
                                         r"rank 4"):
        layers.Concatenate(axis=axis, name="cat")([x, x])
    with pytest.raises(ValueError, match=rf"axis={axis} is out of range"):
        layers.Concatenate(axis=axis)([keras.Input((4, 4, 3)), keras.Input((4, 4, 3))])


@pytest.mark.parametrize("threshold", ["0.5", None, 0, 1, 1.5, -0.2, True])
def test_binary_accuracy_threshold_outside_0_1_is_refused_as_in_keras(threshold):
    """Keras raises for a threshold outside (0, 1); here 1.5 or -1 gave a constant accuracy
    and "0.5" or None a bare numpy/Python TypeError at the first update_state."""
    with pytest.raises(ValueError, match=r"BinaryAccuracy: expected threshold to be a number "
                                         r"in \(0, 1\)"):
        keras.metrics.BinaryAccuracy(threshold=threshold)


@pytest.mark.parametrize("wrong", [lambda y: y + 1j, lambda y: np.full(y.shape, "a")])
def test_backward_with_a_complex_or_string_gradient_names_the_layer(wrong):
    """A complex d_out lost its imaginary part (a ComplexWarning only), a string one failed
    with a bare "could not convert string to float"."""
    for layer in (layers.Conv2D(2, 3, name="c"),
                  keras.Sequential([keras.Input((5, 5, 3)), layers.Flatten(name="c")])):
        y = layer(np.ones((2, 5, 5, 3), np.float32))
        with pytest.raises(TypeError, match=r"c: expected a real numeric gradient"):
            layer.backward(wrong(np.asarray(y)))


def test_inputs_of_different_lengths_are_a_value_error_naming_them():
    """Two inputs of 8 and 5 samples failed with a bare IndexError from the batching."""
    a, b = keras.Input((4,), name="a"), keras.Input((6,), name="b")
    model = keras.Model([a, b], layers.Dense(1)(layers.Concatenate()([a, b])))
    model.compile(optimizer="adam", loss="mse")
    xs = [np.ones((8, 4)), np.ones((5, 6))]
    match = r"every input must have the same number of samples. Received \{'a': 8, 'b': 5\}"
    with pytest.raises(ValueError, match=rf"fit: {match}"):
        model.fit(xs, np.ones((8, 1)), verbose=0)
    with pytest.raises(ValueError, match=rf"predict: {match}"):
        model.predict(xs, verbose=0)


def test_get_layer_by_an_index_out_of_range_is_a_value_error_as_in_keras():
    """``get_layer(index=9)`` on a model of 4 layers was a bare IndexError (Keras: a
    ValueError), and a name together with an index silently used the index."""
    model = _small_model()
    assert model.get_layer(index=-1) is model.layers[-1]
    with pytest.raises(ValueError, match=r"get_layer: expected an index in \[-4, 4\) \(the "
                                         r"model has 4 layers\). Received: index=9"):
        model.get_layer(index=9)
    with pytest.raises(ValueError, match="not both"):
        model.get_layer(model.layers[0].name, index=1)


@pytest.mark.parametrize("num_classes", ["3", 2.0, -1, 0, True])
def test_to_categorical_names_a_num_classes_that_is_not_a_positive_int(num_classes):
    """"3" failed with numpy's UFuncTypeError, 2.0 with a bare "'float' object cannot be
    interpreted as an integer", 0 and -1 with "labels must be in [0, 0)"."""
    from npconv.utils import to_categorical

    with pytest.raises(ValueError, match=r"to_categorical: expected num_classes to be a "
                                         r"positive int or None"):
        to_categorical([0, 1], num_classes)


def test_normalization_adapt_on_empty_data_is_refused_and_keeps_the_state():
    """adapt() on an empty array set the mean and variance to NaN (with numpy's "Mean of
    empty slice" warnings only), so that every later call gave NaN; an empty batch among
    good ones did the same."""
    norm = layers.Normalization(name="norm")
    norm.adapt(np.arange(8.0).reshape(4, 2))
    before = norm.get_weights()
    with pytest.raises(ValueError, match=r"norm: adapt\(\) needs at least one value per "
                                         r"feature. Received an empty array of shape \(0, 2\)"):
        norm.adapt(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="Received only empty batches"):
        norm.adapt(iter([np.zeros((0, 2)), np.zeros((0, 2))]))
    for a, b in zip(before, norm.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    norm.adapt(iter([np.zeros((0, 2)), np.arange(8.0).reshape(4, 2)]))
    for a, b in zip(before, norm.get_weights(), strict=True):
        np.testing.assert_allclose(a, b)


@pytest.mark.parametrize("split", ["0.2", "a", True])
def test_validation_split_must_be_a_number(xy, split):
    """validation_split="0.2" was taken as 0.2 through float(), "a" failed with float()'s
    bare "could not convert string to float"; None means no split, as in Keras."""
    x, y = xy
    model = _small_model()
    with pytest.raises(ValueError, match=r"fit: expected validation_split in \[0, 1\). "
                                         rf"Received: validation_split={split!r}"):
        model.fit(x, y, validation_split=split, verbose=0)
    assert "val_loss" not in model.fit(x, y, validation_split=None, verbose=0).history


@pytest.mark.parametrize("initial_epoch", [-1, 1.5, "1"])
def test_initial_epoch_must_be_a_non_negative_int(xy, initial_epoch):
    """initial_epoch=-1 ran an extra epoch numbered -1 (range(-1, epochs)); 1.5 or "1"
    failed with range()'s bare TypeError."""
    x, y = xy
    model = _small_model()
    with pytest.raises(ValueError, match=r"fit: expected initial_epoch to be a non-negative "
                                         r"int"):
        model.fit(x, y, epochs=1, initial_epoch=initial_epoch, verbose=0)


def test_class_weight_with_a_weight_that_is_not_a_number_names_it(xy):
    """{0: "a"} failed with float()'s bare "could not convert string to float: 'a'"."""
    x, y = xy
    model = _small_model()
    with pytest.raises(TypeError, match=r"fit: expected class_weight's weights to be numbers. "
                                        r"Received: class_weight\[0\]='a'"):
        model.fit(x, y, class_weight={0: "a", 1: 1.0, 2: 1.0}, verbose=0)


def test_to_categorical_takes_bool_labels_as_keras():
    np.testing.assert_array_equal(keras.utils.to_categorical(np.array([True, False, True])),
                                  [[0, 1], [1, 0], [0, 1]])


@pytest.mark.parametrize("bad", [0, -2, 1.5, "4", True])
def test_input_refuses_a_batch_size_that_is_not_a_positive_int(bad):
    with pytest.raises(ValueError, match=r"InputLayer: expected batch_size to be a positive int "
                                         r"or None\. Received: batch_size="):
        keras.Input((3,), batch_size=bad)
    assert keras.Input((3,), batch_size=np.int64(4)).shape == (4, 3)


@pytest.mark.parametrize("bad, needle", [
    (5, r"expected noise_shape to be a list or tuple of None or ints >= 1\. Received: "
        r"noise_shape=5"),
    ((None, 2, 1, 3), r"expected noise_shape \(at most 4 entries; an entry None takes the "
                      r"input's size on the axis at its position; .*\) to broadcast to the "
                      r"input's shape \(2, 4, 5, 3\)"),
    ((None, 1, 1), r"expected noise_shape .* to broadcast to the input's shape"),
])
def test_dropout_names_itself_for_a_bad_noise_shape(bad, needle):
    x = np.ones((2, 4, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"dropout: " + needle):
        layers.Dropout(0.5, noise_shape=bad, name="dropout")(x, training=True)
