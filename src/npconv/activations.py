"""Activation functions under Keras's names: ``from npconv.activations import relu``.

This is the Keras path (``from keras.activations import relu`` becomes
``from npconv.activations import relu``). The functions are those of
:mod:`npconv.ops.activations`: they accept lists or arrays and return NumPy arrays
(integers become float32; float32 and float64 are kept).

    relu(x, negative_slope=0.0, max_value=None, threshold=0.0)
    leaky_relu(x, negative_slope=0.2)
    tanh(x), sigmoid(x), linear(x)
    softmax(x, axis=-1), log_softmax(x, axis=-1)
    elu(x, alpha=1.0), selu(x), gelu(x, approximate=False)
    silu(x) (= swish), softplus(x), softsign(x), exponential(x), relu6(x), mish(x)
    hard_sigmoid(x) (Keras 3: clip(x / 6 + 0.5, 0, 1)), hard_silu(x) (= hard_swish)

``get(identifier)`` turns a name, one of these functions or an ``Activation`` into the
``Activation`` object layers use (``None`` for ``None`` and ``"linear"``: nothing to apply);
``serialize(activation)`` gives the name stored in a layer's config. Every name above works as
a layer argument: ``Conv2D(32, 3, activation="gelu")``.
"""

from .ops.activations import (
    Activation,
    elu,
    exponential,
    gelu,
    get,
    hard_sigmoid,
    hard_silu,
    hard_swish,
    leaky_relu,
    linear,
    log_softmax,
    mish,
    relu,
    relu6,
    selu,
    serialize,
    sigmoid,
    silu,
    softmax,
    softplus,
    softsign,
    swish,
    tanh,
)

__all__ = ["Activation", "elu", "exponential", "gelu", "get", "hard_sigmoid", "hard_silu",
           "hard_swish", "leaky_relu", "linear", "log_softmax", "mish", "relu", "relu6", "selu",
           "serialize", "sigmoid", "silu", "softmax", "softplus", "softsign", "swish", "tanh"]
