"""Metrics under Keras's path: ``from npconv.metrics import SparseCategoricalAccuracy``.

The classes and functions live in :mod:`npconv.training.metrics` and the modules beside it
(confusion counts, F-scores, IoU, R2, the metrics of the losses).
"""

from .training.confusion_metrics import (
    FalseNegatives,
    FalsePositives,
    PrecisionAtRecall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from .training.fscore_metrics import F1Score, FBetaScore
from .training.iou_metrics import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from .training.loss_metrics import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    Hinge,
    KLDivergence,
    LogCoshError,
    Poisson,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
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
from .training.regression_metrics import R2Score

__all__ = ["AUC", "Accuracy", "BinaryAccuracy", "BinaryCrossentropy", "BinaryIoU",
           "CategoricalAccuracy", "CategoricalCrossentropy", "CategoricalHinge",
           "CosineSimilarity", "F1Score", "FBetaScore", "FalseNegatives", "FalsePositives",
           "Hinge", "IoU", "KLDivergence", "LogCoshError", "Mean", "MeanAbsoluteError",
           "MeanAbsolutePercentageError", "MeanIoU", "MeanMetricWrapper", "MeanSquaredError",
           "MeanSquaredLogarithmicError", "Metric", "OneHotIoU", "OneHotMeanIoU", "Poisson",
           "Precision", "PrecisionAtRecall", "R2Score", "Recall", "RecallAtPrecision",
           "RootMeanSquaredError", "SensitivityAtSpecificity", "SparseCategoricalAccuracy",
           "SparseCategoricalCrossentropy", "SparseTopKCategoricalAccuracy",
           "SpecificityAtSensitivity", "SquaredHinge", "TopKCategoricalAccuracy",
           "TrueNegatives", "TruePositives", "accuracy", "binary_accuracy",
           "categorical_accuracy", "confusion_matrix", "cosine_similarity", "get",
           "mean_absolute_error", "mean_squared_error", "sparse_categorical_accuracy",
           "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy"]
