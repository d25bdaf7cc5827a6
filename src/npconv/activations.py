"""Activation functions under Keras's names: ``from npconv.activations import relu``.

This is the Keras path (``from keras.activations import relu`` becomes
``from npconv.activations import relu``). The functions are those of
:mod:`npconv.ops.activations`: they accept lists or arrays and return NumPy arrays
(integers become float32; float32 and float64 are kept).

    relu(x, negative_slope=0.0, max_value=None, threshold=0.0)
    leaky_relu(x, negative_slope=0.2)
    tanh(x), sigmoid(x), linear(x)
    softmax(x, axis=-1)

``get(identifier)`` turns a name, one of these functions or an ``Activation`` into the
``Activation`` object layers use (``None`` for ``None`` and ``"linear"``: nothing to apply);
``serialize(activation)`` gives the name stored in a layer's config.
"""

from .ops.activations import (
    Activation,
    get,
    leaky_relu,
    linear,
    relu,
    serialize,
    sigmoid,
    softmax,
    tanh,
)

__all__ = ["Activation", "get", "leaky_relu", "linear", "relu", "serialize", "sigmoid",
           "softmax", "tanh"]
