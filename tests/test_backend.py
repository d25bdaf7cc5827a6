"""npconv.backend: Keras's settings under Keras's names, and clear_session."""

import subprocess
import sys

import numpy as np

import npconv
from npconv import backend as K
from npconv.layers import Conv2D, Dense


def test_settings_are_keras_defaults_and_true_of_npconv():
    assert K.floatx() == "float32"
    assert K.epsilon() == 1e-7
    assert K.image_data_format() == "channels_last"
    assert K.backend() == "numpy"
    layer = Dense(2)
    layer(np.ones((1, 3), dtype=np.int64))  # not float64 input, which builds float64
    assert layer.kernel.value.dtype == np.dtype(K.floatx())
    from npconv.ops.losses import EPSILON

    assert EPSILON == K.epsilon()


def test_clear_session_restarts_layer_names():
    assert Conv2D(1, 1).name == "conv2d"
    assert Conv2D(1, 1).name == "conv2d_1"
    K.clear_session()
    assert Conv2D(1, 1).name == "conv2d"


def test_lazy_submodules():
    assert npconv.backend is K
    assert npconv.regularizers.L2 is not None
    assert npconv.bench is not None
    code = ("import sys, npconv; assert 'numpy' not in sys.modules; "
            "assert {'backend', 'regularizers', 'bench'} <= set(dir(npconv))")
    subprocess.run([sys.executable, "-c", code], check=True)
