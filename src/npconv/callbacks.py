"""Keras path ``npconv.callbacks`` (``keras.callbacks``)."""

from .training.backup_and_restore import BackupAndRestore
from .training.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)

__all__ = [
    "BackupAndRestore", "CSVLogger", "Callback", "EarlyStopping", "History", "LambdaCallback",
    "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger", "ReduceLROnPlateau",
    "TerminateOnNaN",
]


def __getattr__(name):
    if name == "TensorBoard":  # tensorboardX is optional: import only when asked for
        from .training.tensorboard import TensorBoard

        return TensorBoard
    raise AttributeError(f"module 'npconv.callbacks' has no attribute {name!r}")
