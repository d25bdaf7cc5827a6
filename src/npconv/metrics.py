"""Metrics under Keras's path: ``from npconv.metrics import SparseCategoricalAccuracy``.

The classes and functions live in :mod:`npconv.training.metrics`.
"""

from .training.metrics import (
    AUC,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    CosineSimilarity,
    Mean,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanMetricWrapper,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Metric,
    Precision,
    Recall,
    RootMeanSquaredError,
    SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    TopKCategoricalAccuracy,
    accuracy,
    binary_accuracy,
    categorical_accuracy,
    confusion_matrix,
    cosine_similarity,
    get,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_accuracy,
    sparse_top_k_categorical_accuracy,
    top_k_categorical_accuracy,
)

__all__ = ["AUC", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "CosineSimilarity",
           "Mean", "MeanAbsoluteError", "MeanAbsolutePercentageError",
           "MeanMetricWrapper", "MeanSquaredError", "MeanSquaredLogarithmicError",
           "Metric", "Precision", "Recall", "RootMeanSquaredError",
           "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
           "TopKCategoricalAccuracy", "accuracy", "binary_accuracy", "categorical_accuracy",
           "confusion_matrix", "cosine_similarity", "get", "mean_absolute_error",
           "mean_squared_error",
           "sparse_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy"]
