"""Optimizers under Keras's path: ``from npconv.optimizers import Adam`` (``keras.optimizers``).

The classes live in :mod:`npconv.training.optimizers`; learning-rate schedules are the module
``npconv.optimizers.schedules`` as in Keras (``from npconv.optimizers.schedules import
ExponentialDecay``), the classes of :mod:`npconv.training.schedules`.
"""

from ..training.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Ftrl,
    Lion,
    Nadam,
    Optimizer,
    RMSprop,
    get,
)
from . import schedules

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lion", "Nadam",
           "Optimizer", "RMSprop", "get", "schedules"]
