"""Custom layers built from other layers (Keras's recursively composable layers): a
``Layer`` subclass whose attributes hold layers and whose ``call`` calls them is traced into
a graph of them. Against finite differences, a PyTorch twin, save/load, clone, freezing,
shared calls, parts of batches, and the refusals."""

import numpy as np
import pytest

import npconv
import npconv as keras
from npconv import layers


class ConvBlock(keras.layers.Layer):
    """The README's block: conv, batch norm, ReLU (a function of npconv.activations), pool."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = keras.layers.Conv2D(filters, 3, padding="same")
        self.bn = keras.layers.BatchNormalization()
        self.pool = keras.layers.MaxPooling2D()

    def call(self, x, training=False):
        x = self.conv(x)
        x = self.bn(x, training=training)
        return self.pool(keras.activations.relu(x))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


class Residual(keras.layers.Layer):
    """``x + conv2(relu(conv1(x)))``: the input is read twice (a branch and the skip)."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv1 = layers.Conv2D(filters, 3, padding="same", activation="relu")
        self.conv2 = layers.Conv2D(filters, 3, padding="same")

    def call(self, x):
        return x + self.conv2(self.conv1(x))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


class Stage(keras.layers.Layer):
    """Blocks holding blocks, in a list."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.blocks = [ConvBlock(filters), Residual(filters)]

    def call(self, x, training=False):
        for block in self.blocks:
            x = block(x, training=training)
        return x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def _data(n=8, shape=(8, 8, 3), seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *shape)).astype(dtype), rng.integers(0, 3, n)


def _model(dtype="float64", seed=0):
    npconv.set_random_seed(seed)
    return keras.Sequential([keras.Input((8, 8, 3)), Stage(4, dtype=dtype), layers.Flatten(),
                             layers.Dense(3, dtype=dtype)])


# ---------------------------------------------------------------------------- gradients
@pytest.mark.parametrize(("make", "trainable"), [(lambda: ConvBlock(3), 4),
                                                 (lambda: Residual(3), 4),
                                                 (lambda: Stage(3), 8)],
                         ids=["conv_block", "residual", "nested"])
def test_input_and_weight_gradients_match_finite_differences(make, trainable):
    x, _ = _data(n=3, shape=(6, 6, 3))
    block = make()
    report = npconv.gradient_check(block, x, print_fn=None)
    assert report.passed, str(report)
    names = {row.name for row in report.rows}  # every trainable weight has its own row
    assert "input" in names and len(names) == trainable + 1


def test_a_model_of_blocks_and_a_block_called_twice_match_finite_differences():
    x, y = _data(n=4)
    model = _model()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    report = npconv.gradient_check(model, x, y=y, print_fn=None)
    assert report.passed, str(report)

    block = Residual(3, dtype="float64")  # one block, two calls: the gradients add up
    inp = npconv.Input((5, 5, 3))
    shared = npconv.Model(inp, layers.Flatten()(block(block(inp))))
    assert npconv.gradient_check(shared, x[:, :5, :5], print_fn=None).passed


# ---------------------------------------------------------------------------- PyTorch twin
def _torch_forward(torch, params, x, bn_state):
    F = torch.nn.functional
    ck, cb, gamma, beta, k1, b1, k2, b2, dk, db = params

    def conv(h, k, b):
        return F.conv2d(h, k.permute(3, 2, 0, 1), b, padding=1)

    h = conv(x.permute(0, 3, 1, 2), ck, cb)
    h = F.batch_norm(h, bn_state[0], bn_state[1], gamma, beta, training=True, momentum=0.01,
                     eps=1e-3)
    h = F.max_pool2d(F.relu(h), 2)
    h = h + conv(F.relu(conv(h, k1, b1)), k2, b2)
    return h.permute(0, 2, 3, 1).reshape(len(x), -1) @ dk + db


def _torch_params(torch, model):
    weights = model.get_weights()  # ConvBlock: k, b, gamma, beta, mean, var; Residual; Dense
    trainable = [weights[i] for i in (0, 1, 2, 3, 6, 7, 8, 9, 10, 11)]
    params = [torch.tensor(w, requires_grad=True) for w in trainable]
    return params, [torch.tensor(weights[4]), torch.tensor(weights[5])]


def test_forward_and_gradients_match_a_torch_twin():
    torch = pytest.importorskip("torch")
    model = _model()
    x, y = _data()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    params, bn_state = _torch_params(torch, model)
    out = model.forward(x, training=True)
    _, d = model.loss.forward_backward(y, out)
    model.backward(d)
    theirs = _torch_forward(torch, params, torch.tensor(x), bn_state)
    torch.nn.functional.cross_entropy(theirs, torch.tensor(y)).backward()
    np.testing.assert_allclose(out, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    for w, p in zip(model.trainable_weights, params, strict=True):
        np.testing.assert_allclose(w.grad, p.grad.numpy(), rtol=1e-8, atol=1e-12)


def _keras_rmsprop(torch, params, lr=1e-3, rho=0.9, eps=1e-7):
    """Keras's RMSprop in torch ops (torch.optim's adds eps outside the square root; the
    conv bias before a batch norm has a zero gradient, which eps=0 would turn into NaN)."""
    squares = [torch.zeros_like(p) for p in params]

    def step():
        with torch.no_grad():
            for p, s in zip(params, squares, strict=True):
                s.mul_(rho).add_((1 - rho) * p.grad ** 2)
                p.sub_(lr * p.grad / torch.sqrt(s + eps))
    return step


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
def test_training_steps_match_a_torch_twin(optimizer):
    torch = pytest.importorskip("torch")
    model = _model()
    x, y = _data(n=12)
    ours = (npconv.optimizers.SGD(learning_rate=0.05) if optimizer == "sgd"
            else npconv.optimizers.RMSprop(learning_rate=1e-3))
    model.compile(ours, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    params, bn_state = _torch_params(torch, model)
    step = (torch.optim.SGD(params, lr=0.05).step if optimizer == "sgd"
            else _keras_rmsprop(torch, params))
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for start in range(0, 12, 4):
        batch = slice(start, start + 4)
        logits = _torch_forward(torch, params, torch.tensor(x[batch]), bn_state)
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor(y[batch]))
        for p in params:
            p.grad = None
        loss.backward()
        step()
    for w, p in zip(model.trainable_weights, params, strict=True):
        np.testing.assert_allclose(w.value, p.detach().numpy(), rtol=1e-7, atol=1e-10)


# ---------------------------------------------------------------------------- the Keras API
def test_the_readme_example_trains_saves_loads_and_clones(tmp_path):
    x, y = _data(n=16, shape=(28, 28, 1), dtype=np.float32)
    model = keras.Sequential([keras.Input((28, 28, 1)), ConvBlock(8), ConvBlock(16),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    lines = []
    model.summary(print_fn=lines.append)
    row = next(line for line in lines if "(ConvBlock)" in line)
    assert "(None, 14, 14, 8)" in row and "112" in row  # 80 conv + 32 batch-norm params
    model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert not np.array_equal(before[0], model.get_weights()[0])
    assert model.count_params() == 112 + 1232 + 784 * 10 + 10
    model.save(tmp_path / "blocks.npconv")
    loaded = npconv.load_model(tmp_path / "blocks.npconv", custom_objects={"ConvBlock": ConvBlock})
    assert [type(layer).__name__ for layer in loaded.layers[:2]] == ["ConvBlock", "ConvBlock"]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.optimizer.iterations == model.optimizer.iterations
    clone = npconv.models.clone_model(model)
    assert clone.layers[0].filters == 8 and clone.count_params() == model.count_params()
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])


def test_weights_in_sublayer_order_get_set_and_count():
    block = Stage(4)
    assert not block.built and block.weights == []
    block(np.zeros((1, 8, 8, 3), np.float32))
    conv_block, residual = block.blocks
    expected = conv_block.conv._weights + conv_block.bn._weights + residual.conv1._weights + \
        residual.conv2._weights
    assert [id(w) for w in block._weights] == [id(w) for w in expected]
    assert len(block.trainable_weights) == 8 and len(block.non_trainable_weights) == 2
    assert block.count_params() == 4 * (27 + 1) + 4 * 4 + 2 * (4 * (36 + 1))
    doubled = [w * 2 for w in block.get_weights()]
    block.set_weights(doubled)
    np.testing.assert_array_equal(residual.conv2.kernel.numpy(), doubled[-2])
    with pytest.raises(ValueError, match=r"stage.*expected a list of 10 weight arrays"):
        block.set_weights(doubled[:-1])


def test_freezing_a_block_freezes_its_sublayers_and_its_batch_norm_statistics():
    x, y = _data(n=8)
    model = _model()
    stage = model.layers[0]
    stage.trainable = False
    assert not stage.blocks[0].bn.trainable and stage.trainable_weights == []
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = stage.get_weights()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    for a, b in zip(before, stage.get_weights(), strict=True):  # moving statistics too
        np.testing.assert_array_equal(a, b)
    stage.trainable = True
    stage.blocks[1].conv2.trainable = False  # one sublayer frozen: only its weights go
    assert len(stage.trainable_weights) == 6 and len(model.trainable_weights) == 8


def test_blocks_in_a_functional_and_in_a_subclassed_model():
    class Net(npconv.Model):
        def __init__(self):
            super().__init__()
            self.stage = Stage(4, dtype="float64")
            self.flat = layers.Flatten()
            self.head = layers.Dense(3, dtype="float64")

        def call(self, x, training=False):
            return self.head(self.flat(self.stage(x, training=training)))

    x, y = _data(n=8)
    histories = []
    for make in ("sequential", "functional", "subclassed"):
        npconv.set_random_seed(0)
        if make == "sequential":
            model = _model()
        elif make == "functional":
            inp = npconv.Input((8, 8, 3))
            out = layers.Dense(3, dtype="float64")(layers.Flatten()(Stage(4, dtype="float64")(
                inp)))
            model = npconv.Model(inp, out)
        else:
            model = Net()
            model.build((None, 8, 8, 3))
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        histories.append(model.fit(x, y, batch_size=4, epochs=2, shuffle=False,
                                   verbose=0).history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-12)
    np.testing.assert_allclose(histories[2], histories[0], rtol=1e-12)


def test_a_softmax_at_the_end_of_a_block_fuses_with_the_loss_as_a_plain_output_layer():
    from npconv.training import loop

    class Head(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.flat = layers.Flatten()
            self.dense = layers.Dense(3, activation="softmax")

        def call(self, x):
            return self.dense(self.flat(x))

    x, y = _data(n=8, dtype=np.float32)
    weights = []
    for in_block in (True, False):
        npconv.set_random_seed(1)
        if in_block:
            model = keras.Sequential([keras.Input((8, 8, 3)), Head()])
        else:
            model = keras.Sequential([keras.Input((8, 8, 3)), layers.Flatten(),
                                      layers.Dense(3, activation="softmax")])
        model.compile("sgd", "sparse_categorical_crossentropy")
        assert loop._fusion(model) == "softmax"
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_float64_input_builds_float64_sublayers():
    block = Stage(2)
    x, _ = _data(n=2)
    assert block(x).dtype == np.float64
    assert all(w.value.dtype == np.float64 for w in block.weights)


# ---------------------------------------------------------------------------- parts of batches
def test_parts_of_a_batch_run_on_threads_with_the_one_piece_numbers(monkeypatch):
    from npconv import _threads, _workers
    from npconv.models import parallel

    if not _threads._blas_controller():
        pytest.skip("threadpoolctl cannot limit this BLAS: batches never split here")
    before = _threads._requested
    x, _ = _data(n=48, shape=(8, 8, 4), dtype=np.float32)
    try:
        results = []
        for threads in (1, 2):
            npconv.set_num_threads(threads)
            npconv.set_random_seed(0)
            inp = npconv.Input((8, 8, 4))
            model = npconv.Model(inp, layers.Dense(2)(layers.Flatten()(Residual(4)(inp))))
            if threads == 2 and _workers.available():
                from tests.models.test_parallel import _wait_for_helpers

                _wait_for_helpers(1)  # ready, yet not asked: they cannot import the block
            out = model.forward(x, training=True)
            dx = model.backward(np.ones_like(out), need_input_grad=True)
            if threads == 2:
                assert isinstance(model._parallel_run, parallel.ParallelRun)
                assert parallel._config_of(model) is None
            results.append([out, dx] + [w.grad for w in model.trainable_weights])
    finally:
        _threads._requested = before
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)


@pytest.mark.parametrize("shape", ["one", "shared", "nested"])
def test_fit_with_parts_on_threads_trains_as_one_piece(shape):
    """Each thread's replica of a block releases and restores its own sublayers' caches (the
    replicas' graph listed the original sublayers: fit crashed, a shared block's backward
    read the other part's caches)."""
    from npconv import _threads

    if not _threads._blas_controller():
        pytest.skip("threadpoolctl cannot limit this BLAS: batches never split here")
    x = np.random.default_rng(0).random((64, 8, 8, 3)).astype(np.float32)
    y = np.random.default_rng(1).random((64, 2)).astype(np.float32)
    before = _threads._requested
    try:
        weights = []
        for threads in (1, 2):
            npconv.set_num_threads(threads)
            npconv.set_random_seed(0)
            inp = npconv.Input((8, 8, 3))
            if shape == "one":
                out = Residual(3)(inp)
            elif shape == "shared":
                block = Residual(3)
                out = block(layers.Conv2D(3, 1)(block(inp)))
            else:
                out = Stage(3)(inp)
            model = npconv.Model(inp, layers.Dense(2)(layers.Flatten()(out)))
            model.compile("sgd", "mse")
            model.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
            weights.append(model.get_weights())
    finally:
        _threads._requested = before
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_blocks_weights_and_get_weights_line_up():
    block = Stage(4)
    block(np.zeros((1, 8, 8, 3), np.float32))
    assert [w.shape for w in block.weights] == [a.shape for a in block.get_weights()]
    for w, a in zip(block.weights, block.get_weights(), strict=True):
        np.testing.assert_array_equal(w.numpy(), a)


def test_a_block_with_batch_norm_keeps_the_batch_whole_while_training():
    from npconv.models import parallel

    model = _model(dtype="float32")
    model.build((None, 8, 8, 3))
    assert not model.layers[0].splits_batch(True) and model.layers[0].splits_batch(False)
    assert parallel.plan_parts(model, 64, True) is None


# ---------------------------------------------------------------------------- own contracts
class ScaledDense(keras.layers.Layer):
    """A layer with its own call_backward that drives a sublayer by hand (today's contract)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(2)

    def call(self, x):
        return 2 * np.asarray(self.dense(x))

    def call_backward(self, d_out):
        return self.dense.backward(2 * d_out)


def test_a_layer_with_its_own_call_backward_runs_it_and_lists_its_sublayers_weights():
    layer = ScaledDense()
    x = np.random.default_rng(0).standard_normal((3, 4))
    y = layer(x)
    assert layer._graph is None
    np.testing.assert_allclose(y, 2 * (x @ layer.dense.kernel.value + layer.dense.bias.value),
                               rtol=1e-6)
    assert [id(w) for w in layer.weights] == [id(w) for w in layer.dense.weights]
    report = npconv.gradient_check(layer, x, print_fn=None)
    assert report.passed, str(report)


def test_own_weights_beside_sublayers_are_refused_with_the_fix():
    class Scaled(keras.layers.Layer):
        def __init__(self):
            super().__init__(name="scaled")
            self.dense = layers.Dense(2)

        def build(self, input_shape):
            self.scale = self.add_weight("scale", (2,), "ones")

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match=r"scaled \(Scaled\).*weights of its own.*'scale'.*"
                                         "call_backward"):
        Scaled()(np.ones((2, 3)))


def test_what_a_trace_cannot_take_is_refused_with_the_reason():
    class Branchy(keras.layers.Layer):
        def __init__(self):
            super().__init__(name="branchy")
            self.dense = layers.Dense(2)
            self.drop = layers.Dropout(0.5)

        def call(self, x, training=False):
            x = self.dense(x)
            return self.drop(x) if training else x

    class Doubles(keras.layers.Layer):
        def __init__(self):
            super().__init__(name="doubles")
            self.dense = layers.Dense(2)

        def call(self, x):
            return np.tanh(self.dense(x))  # (a NumPy function: `* 2` is a Rescaling now)

    class Two(keras.layers.Layer):
        def __init__(self):
            super().__init__(name="two")
            self.a, self.b = layers.Dense(2), layers.Dense(3)

        def call(self, x):
            return [self.a(x), self.b(x)]

    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"branchy \(Branchy\)\.call.*control flow on training"):
        Branchy()(x)
    with pytest.raises(TypeError, match=r"doubles \(Doubles\)\.call.*tracing failed.*"
                                        "SymbolicTensor.*only npconv layers"):
        Doubles()(x)
    with pytest.raises(ValueError, match=r"two \(Two\)\.call: expected one output tensor"):
        Two()(x)


def test_bad_input_names_the_block_and_what_it_expected():
    block = Residual(3, name="res")
    block(np.zeros((2, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"res: expected an input of shape \(batch,\) \+ "
                                         r"\(5, 5, 3\).*Received an input of shape \(2, 6, 6, 3\)"):
        block(np.zeros((2, 6, 6, 3), np.float32))
    with pytest.raises(TypeError, match="res: a layer built from other layers takes one input"):
        block([np.zeros((2, 5, 5, 3)), np.zeros((2, 5, 5, 3))])
    with pytest.raises(TypeError, match="res: expected a real numeric array"):
        block(np.full((2, 5, 5, 3), "a"))
    with pytest.raises(ValueError, match=r"res: expected a gradient of the output's shape"):
        block.backward(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"channels_first.*passes it to them"):
        Residual(3, data_format="channels_first")(np.zeros((1, 3, 5, 5)))


def test_a_second_backward_after_released_caches_says_so():
    block = ConvBlock(2, name="cb")
    out = block.forward(np.ones((2, 4, 4, 1)), training=True)
    block.backward(np.ones_like(out))
    block.release_caches()
    with pytest.raises(RuntimeError, match="cb: the caches of the last forward pass were "
                                           "released"):
        block.backward(np.ones_like(out))


# ---------------------------------------------------------------------------- symbolic tensors
def test_arithmetic_and_activation_functions_on_layer_outputs_are_layers_a_file_keeps(tmp_path):
    inp = npconv.Input((4,))
    d = layers.Dense(3, dtype="float64")(inp)
    h = keras.activations.relu(d, negative_slope=0.1) + d  # ReLU(negative_slope=0.1), Add
    out = keras.activations.get("tanh")(h) * d             # Activation("tanh"), Multiply
    model = npconv.Model(inp, out)
    assert [type(layer).__name__ for layer in model.layers[1:]] == [
        "Dense", "ReLU", "Add", "Activation", "Multiply"]
    x = np.random.default_rng(0).standard_normal((3, 4))
    kernel, bias = model.layers[1].get_weights()
    z = x @ kernel + bias
    np.testing.assert_allclose(model.predict(x, verbose=0),
                               np.tanh(np.where(z > 0, z, 0.1 * z) + z) * z, rtol=1e-12)
    assert npconv.gradient_check(model, x, print_fn=None).passed
    model.save(tmp_path / "arith.npconv")
    loaded = npconv.load_model(tmp_path / "arith.npconv")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(TypeError, match=r"activations.elu\(alpha=2.0\) on a layer output"):
        keras.activations.elu(d, alpha=2.0)
    with pytest.raises(TypeError):  # (a number is a Rescaling now: test_scalar_arithmetic)
        d * np.ones(2)
    diff = npconv.Model(inp, layers.Dense(2)(inp) - layers.Dense(2)(inp))  # a Subtract
    assert type(diff.layers[-1]).__name__ == "Subtract"
    first, second = diff.layers[1].get_weights(), diff.layers[2].get_weights()
    np.testing.assert_allclose(diff.predict(x, verbose=0),
                               (x @ first[0] + first[1]) - (x @ second[0] + second[1]),
                               rtol=1e-6, atol=1e-6)


class Holds(keras.layers.Layer):
    """A block around a layer it is given (which may run elsewhere too)."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = inner
        self.conv = layers.Conv2D(3, 1)

    def call(self, x):
        return self.conv(self.inner(x))


def test_a_layer_inside_a_block_and_elsewhere_too_is_refused_with_the_fix():
    """Its calls overwrote each other's caches: fit crashed on the backward."""
    shared = layers.Conv2D(3, 3, padding="same", name="shared_conv")
    inp = npconv.Input((8, 8, 3))
    with pytest.raises(ValueError, match=r"'shared_conv' runs inside the custom layer 'h1' "
                                         r"and also at a node of this model.*sub-model"):
        npconv.Model(inp, Holds(shared, name="h1")(shared(inp)))
    inp = npconv.Input((8, 8, 3))
    with pytest.raises(ValueError, match=r"'shared_conv' runs inside .* and also inside"):
        npconv.Model(inp, Holds(shared, name="h3")(Holds(shared, name="h2")(inp)))
    with pytest.raises(ValueError, match=r"'shared_conv' runs inside"):
        npconv.Sequential([npconv.Input((8, 8, 3)), shared, Holds(shared, name="h4")])
    block = Holds(layers.Conv2D(3, 3, padding="same"))  # a whole block twice is fine
    inp = npconv.Input((8, 8, 3))
    model = npconv.Model(inp, layers.Dense(2)(layers.Flatten()(block(block(inp)))))
    model.compile("sgd", "mse")
    model.fit(np.ones((16, 8, 8, 3), np.float32), np.zeros((16, 2), np.float32), verbose=0)
