"""``import npconv as keras``: the Keras import paths the seeds use exist and are the real things,
and ``import npconv`` alone stays light (submodules load on first use)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import npconv


def test_top_level_names():
    from npconv.layers.input import Input
    from npconv.models.functional import Model
    from npconv.models.sequential import Sequential

    assert npconv.Input is Input
    assert npconv.Model is Model
    assert npconv.Sequential is Sequential
    assert issubclass(npconv.Sequential, npconv.Model)
    assert callable(npconv.load_model)
    with pytest.raises(AttributeError, match="no attribute 'Conv3D'"):
        npconv.Conv3D  # noqa: B018


@pytest.mark.parametrize("name", ["Conv2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D",
                                  "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Dense",
                                  "Flatten", "Dropout", "Activation", "BatchNormalization",
                                  "ZeroPadding2D", "Input", "InputLayer", "Add", "Concatenate",
                                  "Multiply", "UpSampling2D", "Subtract", "Average", "Maximum",
                                  "Minimum", "Cropping2D"])
def test_layers_path(name):
    from npconv.layers.base import Layer

    layer = getattr(npconv.layers, name)
    assert name == "Input" or issubclass(layer, Layer)
    # `from keras.layers import X` -> `from npconv.layers import X`
    module = importlib.import_module("npconv.layers")
    assert getattr(module, name) is layer


def test_models_path():
    from npconv.models import (  # noqa: F401 - the import is the test
        Model,
        Sequential,
        alexnet,
        lenet5,
        load_model,
        mnist_cnn,
        mnist_cnn_no_pool,
        same_cnn,
        strided_cnn,
        zoo,
    )

    assert Model is npconv.Model and Sequential is npconv.Sequential
    assert load_model is npconv.load_model
    for name in ("alexnet", "lenet5", "mnist_cnn", "mnist_cnn_no_pool", "same_cnn",
                 "strided_cnn"):
        assert getattr(npconv.models, name) is getattr(zoo, name)


def test_activations_path():
    import numpy as np

    from npconv.activations import relu, sigmoid, softmax, tanh

    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(relu(x), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(tanh(x), np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-15)
    np.testing.assert_allclose(softmax(x), np.exp(x) / np.exp(x).sum(), rtol=1e-15)
    assert npconv.activations.relu is relu


def test_training_paths():
    """keras.optimizers.Adam, keras.losses..., keras.metrics..., keras.callbacks...: both as
    attributes and through `from npconv.X import Y`."""
    from npconv.callbacks import (  # noqa: F401
        CSVLogger,
        EarlyStopping,
        History,
        LearningRateScheduler,
        ModelCheckpoint,
        ReduceLROnPlateau,
        TerminateOnNaN,
    )
    from npconv.losses import CategoricalCrossentropy, SparseCategoricalCrossentropy  # noqa: F401
    from npconv.metrics import Accuracy, SparseCategoricalAccuracy  # noqa: F401
    from npconv.optimizers import SGD, Adam, RMSprop  # noqa: F401
    from npconv.training import callbacks, losses, metrics, optimizers

    assert npconv.optimizers.Adam is optimizers.Adam is Adam
    assert npconv.optimizers.SGD is optimizers.SGD
    assert npconv.optimizers.RMSprop is optimizers.RMSprop
    assert npconv.losses.SparseCategoricalCrossentropy is losses.SparseCategoricalCrossentropy
    assert npconv.metrics.SparseCategoricalAccuracy is metrics.SparseCategoricalAccuracy
    assert npconv.callbacks.EarlyStopping is callbacks.EarlyStopping is EarlyStopping
    assert npconv.callbacks.ModelCheckpoint is callbacks.ModelCheckpoint


def test_optimizers_schedules_is_a_module_as_in_keras():
    """`from keras.optimizers.schedules import ExponentialDecay` (and `import
    keras.optimizers.schedules`) work in Keras; they did not here (ModuleNotFoundError)."""
    import npconv.optimizers.schedules as by_import
    from npconv.optimizers import schedules
    from npconv.optimizers.schedules import (
        CosineDecay,
        ExponentialDecay,
        LearningRateSchedule,
        PiecewiseConstantDecay,
    )
    from npconv.training import schedules as real

    assert by_import is schedules is npconv.optimizers.schedules
    assert ExponentialDecay is real.ExponentialDecay
    assert CosineDecay is real.CosineDecay and PiecewiseConstantDecay is real.PiecewiseConstantDecay
    assert LearningRateSchedule is real.LearningRateSchedule
    assert schedules.deserialize is real.deserialize and schedules.serialize is real.serialize
    lr = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    assert npconv.optimizers.SGD(learning_rate=lr).learning_rate == 0.1


def test_datasets_and_utils_paths():
    from npconv.datasets import cifar10, fashion_mnist, mnist
    from npconv.random import set_random_seed

    for module in (mnist, fashion_mnist, cifar10):
        assert callable(module.load_data)
    assert npconv.datasets.mnist is mnist
    assert npconv.datasets.fashion_mnist is fashion_mnist
    assert npconv.datasets.cifar10 is cifar10
    assert npconv.utils.set_random_seed is set_random_seed
    assert callable(npconv.utils.to_categorical)


def test_dir_lists_the_keras_paths():
    names = dir(npconv)
    for name in ("layers", "models", "Input", "Model", "Sequential", "optimizers", "losses",
                 "metrics", "callbacks", "datasets", "utils", "activations"):
        assert name in names


_PROBE = """
import json, sys, time
t = time.perf_counter()
import npconv
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "modules": sorted(sys.modules)}))
"""


def test_import_npconv_is_light():
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                            check=True, timeout=60)
    report = json.loads(result.stdout)
    loaded = set(report["modules"])
    print(f"import npconv took {report['seconds'] * 1000:.1f} ms")  # informative, not asserted
    heavy = {"npconv.layers", "npconv.models", "npconv.ops", "npconv.training", "npconv.io",
             "npconv.datasets", "numpy", "torch", "matplotlib", "safetensors", "tqdm"}
    assert not heavy & loaded, f"import npconv loaded {sorted(heavy & loaded)}"
    assert "npconv" in loaded


def test_helper_imports_load_no_random_generator_and_no_libcrypto():
    # What npconv's helper process imports (npconv._worker_main.main): numpy.random and
    # hashlib (libcrypto) would add ~6 MB to every helper's memory for nothing.
    probe = ("import json, sys\n"
             "import npconv._worker_main, npconv.layers, npconv.models.functional\n"
             "print(json.dumps(sorted(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, timeout=60)
    loaded = set(json.loads(result.stdout))
    assert "npconv.layers" in loaded
    assert not loaded & {"numpy.random", "hashlib", "_hashlib"}, loaded & {
        "numpy.random", "hashlib", "_hashlib"}


def test_a_model_built_without_drawing_weights_has_zeros(monkeypatch):
    import numpy as np

    from npconv.layers import base

    monkeypatch.setattr(base, "DRAW_WEIGHTS", False)
    layer = npconv.layers.Dense(3, kernel_initializer="glorot_uniform")
    layer.forward(np.ones((2, 4), np.float32))
    assert not np.any(layer.kernel.value) and layer.kernel.value.dtype == np.float32


def test_utils_normalize_as_keras():
    import numpy as np

    from npconv import utils

    x = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, -1.0]], np.float32)
    out = utils.normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0, 0], [2 ** -0.5, -(2 ** -0.5)]], rtol=1e-6)
    np.testing.assert_allclose(utils.normalize(x, axis=0, order=1),
                               x / np.abs(x).sum(axis=0), rtol=1e-6)
    assert utils.normalize(np.array([[1, 1]])).dtype == np.float64
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        utils.normalize(x, axis=2)


def test_keras3_top_level_base_classes_version_and_saving_helpers(tmp_path):
    """``keras.Layer``, ``keras.Loss``, ``keras.Metric``, ``keras.Optimizer``,
    ``keras.version()`` and ``keras.models.save_model`` were AttributeErrors."""
    from npconv.layers.base import Layer
    from npconv.training.losses import Loss
    from npconv.training.metrics import Metric
    from npconv.training.optimizers import Optimizer

    assert npconv.Layer is Layer and npconv.Loss is Loss and npconv.Metric is Metric
    assert npconv.Optimizer is Optimizer
    assert npconv.version() == npconv.__version__
    assert npconv.models.save_model is npconv.saving.save_model

    @npconv.saving.register_keras_serializable(package="MyLayers")
    class Doubling(npconv.Layer):
        """A custom layer as the guides decorate it."""

    assert issubclass(Doubling, Layer)  # returned unchanged
    model = npconv.Sequential([npconv.Input((3,)), npconv.layers.Dense(2)])
    npconv.models.save_model(model, str(tmp_path / "m.keras"))
    assert npconv.saving.load_model(str(tmp_path / "m.keras")).count_params() == 8
