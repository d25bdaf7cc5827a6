"""Losses under Keras's path: ``from npconv.losses import SparseCategoricalCrossentropy``.

The classes and functions live in :mod:`npconv.training.losses`.
"""

from .training.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Loss,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
    binary_crossentropy,
    categorical_crossentropy,
    get,
    mean_squared_error,
    mse,
    sparse_categorical_crossentropy,
)

__all__ = ["BinaryCrossentropy", "CategoricalCrossentropy", "Loss", "MeanSquaredError",
           "SparseCategoricalCrossentropy", "binary_crossentropy", "categorical_crossentropy",
           "get", "mean_squared_error", "mse", "sparse_categorical_crossentropy"]
