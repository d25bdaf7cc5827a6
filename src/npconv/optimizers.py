"""Optimizers under Keras's path: ``from npconv.optimizers import Adam`` (``keras.optimizers``).

The classes live in :mod:`npconv.training.optimizers`; learning-rate schedules are
``npconv.optimizers.schedules`` as in Keras.
"""

from .training import schedules
from .training.optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, get

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "RMSprop", "get", "schedules"]
