"""Models: ``Sequential``, the functional ``Model``, ``load_model``, ``save_model``,
``model_from_json``, ``clone_model`` and the seeds' model zoo."""

from ..io import load_model, save_model
from .functional import Model, clone_model, model_from_json
from .sequential import Sequential
from .zoo import (
    ZOO,
    alexnet,
    get_model,
    lenet5,
    mnist_cnn,
    mnist_cnn_no_pool,
    same_cnn,
    strided_cnn,
)

__all__ = [
    "Model", "Sequential", "clone_model", "load_model", "model_from_json", "save_model", "ZOO",
    "get_model",
    "alexnet", "lenet5", "mnist_cnn", "mnist_cnn_no_pool", "same_cnn", "strided_cnn",
]
