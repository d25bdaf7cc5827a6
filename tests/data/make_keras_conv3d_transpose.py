"""Write tests/data/keras_conv3d_transpose.npz, the real-Keras reference that
tests/layers/test_conv3d_transpose_layer.py checks npconv's Conv3DTranspose against (CI does
not run this: it needs Keras).

Made with Keras 3.15.1, torch backend:

    KERAS_BACKEND=torch python tests/data/make_keras_conv3d_transpose.py

For each case NAME: the layer's keyword arguments (``NAME/kwargs``, JSON), an input
(``NAME/x``), the weights Keras drew (``NAME/kernel``, ``NAME/bias``) and Keras's output
(``NAME/y``), all float32.
"""

import json
import os

import keras
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = {
    "same_strided": (dict(filters=3, kernel_size=(3, 2, 2), strides=(2, 1, 2),
                          padding="same"), (2, 3, 4, 3, 2)),
    "valid_output_padding_channels_first": (
        dict(filters=2, kernel_size=2, strides=2, padding="valid", output_padding=(1, 0, 1),
             data_format="channels_first"), (1, 2, 3, 2, 4)),
    "same_dilated_odd_crop": (dict(filters=2, kernel_size=(2, 3, 4), dilation_rate=(2, 1, 1),
                                   padding="same", activation="tanh"), (1, 4, 3, 3, 1)),
}


def main():
    keras.utils.set_random_seed(12)
    rng = np.random.default_rng(12)
    arrays = {}
    for name, (kwargs, shape) in CASES.items():
        layer = keras.layers.Conv3DTranspose(**kwargs, bias_initializer="random_normal")
        x = rng.standard_normal(shape).astype("float32")
        y = keras.ops.convert_to_numpy(layer(x))
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
        arrays.update({f"{name}/kwargs": np.array(json.dumps(kwargs)), f"{name}/x": x,
                       f"{name}/kernel": kernel, f"{name}/bias": bias, f"{name}/y": y})
    np.savez_compressed(os.path.join(HERE, "keras_conv3d_transpose.npz"), **arrays)


if __name__ == "__main__":
    main()
