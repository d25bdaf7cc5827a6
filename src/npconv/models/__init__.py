"""Models: ``Sequential``, the functional ``Model``, ``load_model`` and the seeds' model zoo."""

from .functional import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential"]
