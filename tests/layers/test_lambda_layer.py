"""layers.Lambda: forward, shapes, several inputs, training where no gradient flows through it,
the clear refusal where one would, the npconv-only ``backward=``, and saving by name."""

import json

import numpy as np
import pytest

import npconv as keras
from npconv import layers
from npconv.io import load_model
from npconv.models import clone_model
from npconv.saving import custom_object_scope, register_keras_serializable
from tests.finite_differences import central_differences


def scale(x):
    return x / 255.0


def crop(x, margin=1):
    return x[:, margin:-margin, margin:-margin, :]


def square(x):
    return x ** 2


def square_backward(d_out, x):
    return 2 * x * d_out


def _images(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 8, 8, 1)).astype(np.float32),
            rng.integers(0, 3, n))


# ---------------------------------------------------------------- forward and shapes
def test_forward_values_arguments_and_training_flag():
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_array_equal(layers.Lambda(lambda t: t ** 2)(x), x ** 2)
    np.testing.assert_array_equal(
        layers.Lambda(lambda t, k: t * k, arguments={"k": 3.0})(x), x * 3.0)
    seen = []
    flagged = layers.Lambda(lambda t, training=None: seen.append(training) or t)
    flagged(x, training=True)
    flagged(x)
    assert seen[-2:] == [True, False]


def test_integer_input_becomes_float32_as_other_layers_without_weights():
    y = layers.Lambda(scale)(np.full((2, 3), 255, np.uint8))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, np.ones((2, 3), np.float32))


def test_output_shape_is_inferred_given_as_a_tuple_or_as_a_function():
    inputs = keras.Input(shape=(8, 8, 3))
    assert layers.Lambda(crop)(inputs).shape == (None, 6, 6, 3)
    assert layers.Lambda(crop, arguments={"margin": 2})(inputs).shape == (None, 4, 4, 3)
    assert layers.Lambda(lambda t: t.mean(axis=(1, 2)))(inputs).shape == (None, 3)
    assert layers.Lambda(crop, output_shape=(6, 6, 3))(inputs).shape == (None, 6, 6, 3)
    # Keras 3: a function gets the whole input shape and gives the whole output shape
    by_function = layers.Lambda(lambda t: t.reshape(len(t), -1),
                                output_shape=lambda s: (s[0], s[1] * s[2] * s[3]))
    assert by_function(inputs).shape == (None, 192)
    assert by_function(np.zeros((2, 8, 8, 3))).shape == (2, 192)


def test_inference_failure_and_shape_mismatch_are_clear_errors():
    inputs = keras.Input(shape=(8, 8, 3))
    with pytest.raises(ValueError, match=r"boom: cannot infer the Lambda's output shape.*"
                                         r"give output_shape"):
        layers.Lambda(lambda t: t.reshape(5, 7), name="boom")(inputs)
    with pytest.raises(ValueError, match="unknown size"):
        layers.Lambda(square, name="open")(keras.Input(shape=(None, 3)))
    assert layers.Lambda(square, output_shape=(None, 3))(
        keras.Input(shape=(None, 3))).shape == (None, None, 3)
    wrong = layers.Lambda(crop, output_shape=(5, 5, 3), name="liar")
    with pytest.raises(ValueError, match=r"liar: expected the Lambda's output to have shape "
                                         r"\(2, 5, 5, 3\).*Received shape \(2, 6, 6, 3\)"):
        wrong(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="two: a Lambda returns one array"):
        layers.Lambda(lambda t: (t, t), name="two")(np.zeros((2, 3)))


def test_constructor_errors_name_the_argument():
    with pytest.raises(TypeError, match="expects a callable function"):
        layers.Lambda(3)
    with pytest.raises(ValueError, match="mask is not supported"):
        layers.Lambda(square, mask=square)
    with pytest.raises(TypeError, match="arguments to be a dict"):
        layers.Lambda(square, arguments=[1])
    with pytest.raises(ValueError, match="output_shape to be a tuple"):
        layers.Lambda(square, output_shape="(3,)")
    with pytest.raises(TypeError, match="backward"):
        layers.Lambda(square, backward=lambda d: d)
    with pytest.raises(TypeError, match="data_format"):
        layers.Lambda(square, data_format="channels_first")


def test_several_inputs_are_a_list_as_keras_passes():
    a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    diff = layers.Lambda(lambda xs: xs[0] - 2 * xs[1], name="diff")([a, b])
    assert diff.shape == (None, 4)
    model = keras.Model([a, b], diff)
    xa, xb = np.ones((3, 4), np.float32), np.full((3, 4), 0.25, np.float32)
    np.testing.assert_array_equal(model.predict([xa, xb], verbose=0), xa - 2 * xb)
    assert model.get_layer("diff").multiple_inputs


# ---------------------------------------------------------------- training without a gradient
def _lambda_first(function=scale):
    return keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Lambda(function),
                             layers.Conv2D(4, 3, activation="relu"), layers.Flatten(),
                             layers.Dense(3, activation="softmax")])


def test_a_leading_lambda_trains_exactly_as_the_same_model_on_transformed_data():
    x, y = _images()
    keras.utils.set_random_seed(0)
    with_lambda = _lambda_first()
    plain = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.Flatten(), layers.Dense(3, activation="softmax")])
    plain.set_weights(with_lambda.get_weights())
    for model in (with_lambda, plain):
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    # batches of 4: neither model splits a batch over threads, so sums group alike
    h1 = with_lambda.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    h2 = plain.fit(scale(x), y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    assert h1.history["loss"] == h2.history["loss"]
    assert h1.history["loss"][-1] < h1.history["loss"][0]
    for a, b in zip(with_lambda.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(with_lambda.predict(x, verbose=0),
                                  plain.predict(scale(x), verbose=0))


def test_a_lambda_after_a_weightless_layer_still_needs_no_gradient():
    x, y = _images()
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Rescaling(1 / 255),
                              layers.Lambda(crop), layers.Conv2D(4, 3), layers.Flatten(),
                              layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def _lambda_after_conv(**kwargs):
    return [layers.Conv2D(2, 3, name="conv"), layers.Lambda(square, name="sq", **kwargs),
            layers.Flatten(), layers.Dense(3, activation="softmax")]


def test_a_gradient_through_a_lambda_is_refused_at_compile_naming_it():
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), *_lambda_after_conv()])
    with pytest.raises(ValueError, match=r"sq: a gradient would have to flow back through "
                                         r"this Lambda layer \(trainable layers before it: "
                                         r"conv\).*backward="):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")


@pytest.mark.parametrize("step", ["fit", "train_on_batch"])
def test_an_unbuilt_model_is_refused_at_its_first_step_before_any_weight_changes(step):
    x, y = _images(8)
    model = keras.Sequential(_lambda_after_conv())  # no input shape: compile cannot tell
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="sq: a gradient would have to flow back"):
        if step == "fit":
            model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        else:
            model.train_on_batch(x, y)
    before = model.get_weights()
    # trainable changed after compile: refused at the step, and nothing was updated
    with pytest.raises(ValueError, match="sq:"):
        model.train_on_batch(x, y)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # inference always works
    assert model.predict(x, verbose=0).shape == (8, 3)
    assert np.isfinite(model.evaluate(x, y, verbose=0))


def test_freezing_the_layers_before_it_lets_the_rest_train():
    x, y = _images()
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)), *_lambda_after_conv()])
    model.get_layer("conv").trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    frozen = model.get_layer("conv").get_weights()
    history = model.fit(x / 255, y, epochs=3, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for a, b in zip(frozen, model.get_layer("conv").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    model.trainable = False  # a frozen model's fit runs no backward at all
    with pytest.warns(UserWarning, match="does not have any trainable weights"):
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)


def test_a_standalone_lambda_backward_without_a_gradient_is_a_clear_error():
    layer = layers.Lambda(square, name="alone")
    layer(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="alone: a gradient would have to flow back"):
        layer.backward(np.ones((2, 3)))


# ---------------------------------------------------------------- backward= (npconv only)
def test_backward_extension_matches_finite_differences_through_a_small_model():
    rng = np.random.default_rng(3)
    inputs = keras.Input(shape=(5,))
    h = layers.Dense(4, dtype="float64", name="d1")(inputs)
    h = layers.Lambda(square, backward=square_backward, name="sq")(h)
    outputs = layers.Dense(2, activation="tanh", dtype="float64", name="d2")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")  # accepted: the Lambda has a gradient
    x = rng.standard_normal((3, 5))
    r = rng.standard_normal((3, 2))

    def loss():
        return float(np.sum(model.predict(x, verbose=0) * r))

    model.forward(x, training=True)
    dx = model.backward(r, need_input_grad=True)
    kernel = model.get_layer("d1").kernel
    analytic_kernel = np.array(kernel.grad)
    np.testing.assert_allclose(analytic_kernel, central_differences(loss, kernel.value),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dx, central_differences(loss, x), rtol=1e-6, atol=1e-8)


def test_backward_extension_with_several_inputs_and_arguments():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    product = layers.Lambda(lambda xs, k: k * xs[0] * xs[1], arguments={"k": 2.0},
                            backward=lambda d, xs, k: [k * d * xs[1], k * d * xs[0]])
    product([a, b])
    da, db = product.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(da, 2.0 * b)
    np.testing.assert_array_equal(db, 2.0 * a)


def test_backward_extension_trains_and_a_wrong_gradient_shape_is_refused():
    x, y = _images()
    model = keras.Sequential([keras.Input(shape=(8, 8, 1)),
                              *_lambda_after_conv(backward=square_backward)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x / 255, y, epochs=4, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    bad = layers.Lambda(square, backward=lambda d, x: d[:1], name="bad")
    bad(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"bad: expected backward to return a gradient of the "
                                         r"input's shape \(2, 3\)"):
        bad.backward(np.ones((2, 3)))


# ---------------------------------------------------------------- config and saving
def test_config_is_json_and_round_trips_with_custom_objects():
    layer = layers.Lambda(crop, output_shape=(4, 4, 1), arguments={"margin": 2},
                          backward=square_backward, name="c")
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["function"] == {"name": "crop", "module": __name__}
    again = layers.Lambda.from_config(config, custom_objects={"crop": crop,
                                                              "square_backward": square_backward})
    assert again.function is crop and again.backward_function is square_backward
    assert again.arguments == {"margin": 2} and again.get_config() == config
    assert repr(again) == "<Lambda name=c, function=crop, backward=square_backward, built=False>"
    with pytest.raises(ValueError, match="arguments=.*cannot be saved in a model file"):
        layers.Lambda(crop, arguments={"w": np.ones(2)}).get_config()


def test_save_and_load_with_custom_objects(tmp_path):
    x, _ = _images(4)
    model = _lambda_first(crop)
    model.save(tmp_path / "m.npconv")
    with pytest.raises(ValueError, match=r"cannot find the function 'crop'.*"
                                         r"custom_objects=\{'crop': crop\}"):
        load_model(tmp_path / "m.npconv")
    loaded = load_model(tmp_path / "m.npconv", custom_objects={"crop": crop})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(loaded.layers[0]).__name__ == "Lambda"  # (a Sequential lists no Input)


def test_registered_functions_load_without_custom_objects(tmp_path):
    @register_keras_serializable(package="test_lambda")
    def halve(x):
        return x / 2

    model = _lambda_first(halve)
    assert model.layers[0].get_config()["function"]["name"] == "test_lambda>halve"
    model.save(tmp_path / "m.npconv")
    x, _ = _images(4)
    np.testing.assert_array_equal(load_model(tmp_path / "m.npconv").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


def test_registering_a_name_again_replaces_it_as_keras_3(tmp_path):
    # Keras 3's register_keras_serializable does not raise on a name registered before (Keras
    # 2's did: "... has already been registered to ..."): a notebook cell run twice, or a
    # function fixed and registered again, gives the latest; a file then loads with it.
    @register_keras_serializable(package="test_again")
    def scale(x):
        return x / 2

    model = _lambda_first(scale)
    model.save(tmp_path / "m.npconv")

    @register_keras_serializable(package="test_again")
    def scale(x):  # noqa: F811 - the same name, registered again
        return x / 4

    assert keras.saving.get_registered_object("test_again>scale") is scale
    x, _ = _images(4)
    loaded = load_model(tmp_path / "m.npconv")
    np.testing.assert_array_equal(loaded.layers[0](x), np.asarray(x, np.float32) / 4)


def test_an_anonymous_lambda_saves_but_loading_says_how_to_name_it(tmp_path):
    model = _lambda_first(lambda x: x / 255.0)
    model.save(tmp_path / "anon.npconv")
    with pytest.raises(ValueError, match=r"anonymous function.*def scale\(x\).*"
                                         r"custom_objects=\{'scale': scale\}"):
        load_model(tmp_path / "anon.npconv")


def test_nothing_in_a_file_is_imported_or_run():
    # a config naming a real function of a module is not looked up there
    config = layers.Lambda(square, name="s").get_config()
    config["function"] = {"name": "system", "module": "os"}
    with pytest.raises(ValueError, match="cannot find the function 'system'"):
        layers.Lambda.from_config(config)
    with custom_object_scope({"system": square}):  # only what the user hands over
        assert layers.Lambda.from_config(config).function is square
    # Keras 3 keeps a lambda's bytecode in its config: refused, never run
    config["function"] = {"class_name": "__lambda__", "config": {"code": "4wEAAAAA"}}
    with pytest.raises(ValueError, match="bytecode is never loaded"):
        layers.Lambda.from_config(config)


def test_summary_layers_and_clone_keep_the_function():
    model = _lambda_first(lambda x: x * 0.5)
    lines = []
    model.summary(print_fn=lines.append)
    assert any("lambda (Lambda)" in line and "(None, 8, 8, 1)" in line for line in lines)
    assert isinstance(model.layers[0], layers.Lambda)
    twin = clone_model(model)
    assert twin.layers[0].function is model.layers[0].function
    assert twin.layers[0] is not model.layers[0]
    x, _ = _images(2)
    twin.set_weights(model.get_weights())
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))


def test_to_json_and_model_from_json_take_the_function_by_name():
    from npconv.models import model_from_json

    model = _lambda_first(crop)
    text = model.to_json()
    with pytest.raises(ValueError, match="cannot find the function 'crop'"):
        model_from_json(text)
    again = model_from_json(text, custom_objects={"crop": crop})
    assert again.layers[0].function is crop
    assert again.layers[1].output_shape == (None, 4, 4, 4)


def test_a_lambda_that_mixes_samples_is_never_run_on_parts_of_a_batch(monkeypatch):
    from npconv import _threads
    from npconv.models import parallel

    monkeypatch.setattr(_threads, "parallel_available", lambda: True)
    monkeypatch.setattr(_threads, "get_num_threads", lambda: 2)
    plain = keras.Sequential([keras.Input(shape=(8, 8, 1)), layers.Rescaling(0.5),
                              layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(3)])
    assert parallel.plan_parts(plain, 64, training=False) is not None  # (the control)
    model = _lambda_first(lambda x: x - x.mean(axis=0))
    assert parallel.plan_parts(model, 64, training=False) is None
    assert parallel.plan_parts(model, 64, training=True) is None


def test_a_lambda_of_several_inputs_saves_and_loads(tmp_path):
    a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))

    def difference(xs):
        return xs[0] - xs[1]

    model = keras.Model([a, b], layers.Dense(2)(layers.Lambda(difference)([a, b])))
    model.save(tmp_path / "two.npconv")
    loaded = load_model(tmp_path / "two.npconv", custom_objects={"difference": difference})
    xa, xb = np.ones((3, 4), np.float32), np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(loaded.predict([xa, xb], verbose=0),
                                  model.predict([xa, xb], verbose=0))


def test_a_keras_snippet_runs_with_model_add():
    model = keras.Sequential()
    model.add(keras.Input(shape=(3,)))
    model.add(layers.Lambda(lambda x: x ** 2))
    np.testing.assert_array_equal(model.predict(np.full((2, 3), 3.0), verbose=0),
                                  np.full((2, 3), 9.0))
