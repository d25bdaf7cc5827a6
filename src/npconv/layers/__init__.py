"""Keras-named layers over :mod:`npconv.ops`."""

from .base import Layer, SymbolicTensor, Weight

__all__ = ["Layer", "SymbolicTensor", "Weight"]
