"""Keras path ``npconv.saving`` (``keras.saving``): ``save_model`` and ``load_model``.

The same functions as :mod:`npconv.io`'s, so that ``keras.saving.load_model(path)`` and
``keras.saving.save_model(model, path, overwrite=True)`` run after changing the import line.
"""

from .io import load_model, save_model

__all__ = ["load_model", "save_model"]
