"""The seeds' networks, each a function ``name(input_shape=..., num_classes=...) -> Model``.

- ``mnist_cnn`` (seed 001): 28x28x1 -> conv32 -> pool -> conv64 -> pool -> conv128 (3x3x128)
  -> dense; 104,202 parameters.
- ``mnist_cnn_no_pool`` (seed 001): the same without pooling, 22x22x128 before Flatten;
  712,202 parameters.
- ``same_cnn`` (seed 002): 32x32x3, conv16 "same" + BN + ReLU, conv32 "same"/2 + BN + ReLU,
  average pool 4 -> dense.
- ``strided_cnn`` (seed 003): 28x28x1, convs with padding 1 and strides 2, 2, 3 -> 3x3x128
  -> dense 128 -> dense.
- ``lenet5`` (seed 000's LeNet notebook): 28x28x1, sigmoid convs 6 "same" and 16, average
  pools, dense 120-84.
- ``alexnet`` (seed 000, torchvision's layout): 224x224x3, 1000 classes; 61,100,840 parameters.

Every output layer is a Dense with softmax, to be trained with a cross-entropy loss.
"""

from __future__ import annotations

from ..layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
)
from .functional import Model
from .sequential import Sequential


def mnist_cnn(input_shape=(28, 28, 1), num_classes=10, name="mnist_cnn") -> Model:
    """Seed 001's MNIST CNN (functional API, as the seed writes it)."""
    inputs = Input(shape=input_shape)
    x = Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    x = MaxPooling2D(pool_size=2)(x)
    x = Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = MaxPooling2D(pool_size=2)(x)
    x = Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = Flatten()(x)
    outputs = Dense(num_classes, activation="softmax")(x)
    return Model(inputs=inputs, outputs=outputs, name=name)


def mnist_cnn_no_pool(input_shape=(28, 28, 1), num_classes=10,
                      name="mnist_cnn_no_pool") -> Model:
    """Seed 001's variant without max pooling."""
    inputs = Input(shape=input_shape)
    x = Conv2D(filters=32, kernel_size=3, activation="relu")(inputs)
    x = Conv2D(filters=64, kernel_size=3, activation="relu")(x)
    x = Conv2D(filters=128, kernel_size=3, activation="relu")(x)
    x = Flatten()(x)
    outputs = Dense(num_classes, activation="softmax")(x)
    return Model(inputs=inputs, outputs=outputs, name=name)


def same_cnn(input_shape=(32, 32, 3), num_classes=10, name="same_cnn") -> Sequential:
    """Seed 002's small CNN with "same" padding, batch normalization and average pooling."""
    return Sequential([
        Input(shape=input_shape),
        Conv2D(16, 3, padding="same"),
        BatchNormalization(),
        Activation("relu"),
        Conv2D(32, 3, strides=2, padding="same"),
        BatchNormalization(),
        Activation("relu"),
        AveragePooling2D(pool_size=4, strides=4),
        Flatten(),
        Dense(num_classes, activation="softmax"),
    ], name=name)


def strided_cnn(input_shape=(28, 28, 1), num_classes=10, name="strided_cnn") -> Sequential:
    """Seed 003's MNIST CNN: strided convolutions instead of pooling (128x3x3 before Flatten)."""
    return Sequential([
        Input(shape=input_shape),
        Conv2D(32, 3, strides=2, padding=1, activation="relu"),
        Conv2D(64, 3, strides=2, padding=1, activation="relu"),
        Conv2D(128, 3, strides=3, padding=1, activation="relu"),
        Flatten(),
        Dense(128, activation="relu"),
        Dense(num_classes, activation="softmax"),
    ], name=name)


def lenet5(input_shape=(28, 28, 1), num_classes=10, name="lenet5") -> Sequential:
    """LeNet-5 as seed 000's notebook builds it (sigmoid activations, average pooling)."""
    return Sequential([
        Input(shape=input_shape),
        Conv2D(6, (5, 5), padding="same", activation="sigmoid"),
        AveragePooling2D((2, 2), strides=2),
        Conv2D(16, (5, 5), padding="valid", activation="sigmoid"),
        AveragePooling2D((2, 2), strides=2),
        Flatten(),
        Dense(120, activation="sigmoid"),
        Dense(84, activation="sigmoid"),
        Dense(num_classes, activation="softmax"),
    ], name=name)


def alexnet(input_shape=(224, 224, 3), num_classes=1000, dropout=0.5,
            name="alexnet") -> Sequential:
    """AlexNet in torchvision's layout (same parameter count: 61,100,840 for 1000 classes).

    torchvision's adaptive average pool to 6x6 is the identity for 224x224 inputs, whose
    last feature map is already 6x6, so it is left out; other input sizes give other
    Dense widths.
    """
    return Sequential([
        Input(shape=input_shape),
        Conv2D(64, 11, strides=4, padding=2, activation="relu"),
        MaxPooling2D(3, strides=2),
        Conv2D(192, 5, padding=2, activation="relu"),
        MaxPooling2D(3, strides=2),
        Conv2D(384, 3, padding=1, activation="relu"),
        Conv2D(256, 3, padding=1, activation="relu"),
        Conv2D(256, 3, padding=1, activation="relu"),
        MaxPooling2D(3, strides=2),
        Flatten(),
        Dropout(dropout),
        Dense(4096, activation="relu"),
        Dropout(dropout),
        Dense(4096, activation="relu"),
        Dense(num_classes, activation="softmax"),
    ], name=name)


ZOO = {
    "mnist_cnn": mnist_cnn,
    "mnist_cnn_no_pool": mnist_cnn_no_pool,
    "same_cnn": same_cnn,
    "strided_cnn": strided_cnn,
    "lenet5": lenet5,
    "alexnet": alexnet,
}


def get_model(name: str, **kwargs) -> Model:
    """Build the zoo model ``name`` (see :data:`ZOO`) with ``input_shape``/``num_classes``."""
    if name not in ZOO:
        raise ValueError(f"unknown model {name!r}. Expected one of {sorted(ZOO)}")
    return ZOO[name](**kwargs)
