"""npconv: convolutional neural networks in NumPy, exact against PyTorch, with Keras names.

``import npconv as keras`` gives the Keras paths the seeds use: ``npconv.layers``,
``npconv.Input``, ``npconv.Model``, ``npconv.Sequential``, ``npconv.models``,
``npconv.activations``, ``npconv.optimizers``, ``npconv.losses``, ``npconv.metrics``,
``npconv.callbacks``, ``npconv.datasets``, ``npconv.utils``, ``npconv.regularizers``,
``npconv.constraints``, ``npconv.preprocessing``,
``npconv.saving``, ``npconv.backend``.

Everything is imported on first use, so ``import npconv`` itself costs almost nothing.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_ATTRIBUTES = {
    "Input": ("npconv.layers.input", "Input"),
    "Model": ("npconv.models.functional", "Model"),
    "Sequential": ("npconv.models.sequential", "Sequential"),
    "load_model": ("npconv.io", "load_model"),
    "set_random_seed": ("npconv.random", "set_random_seed"),
    "gradient_check": ("npconv.gradcheck", "gradient_check"),
    "set_num_threads": ("npconv._threads", "set_num_threads"),
    "get_num_threads": ("npconv._threads", "get_num_threads"),
    # Keras 3's top-level base classes (``class MyLayer(keras.Layer)``)
    "Layer": ("npconv.layers.base", "Layer"),
    "Loss": ("npconv.training.losses", "Loss"),
    "Metric": ("npconv.training.metrics", "Metric"),
    "Optimizer": ("npconv.training.optimizers", "Optimizer"),
}
_SUBMODULES = {
    "activations", "backend", "bench", "callbacks", "constraints", "data", "datasets",
    "initializers", "io", "layers", "losses", "metrics", "models", "ops", "optimizers",
    "preprocessing", "random", "regularizers", "saving", "training", "utils", "viz",
}

__all__ = sorted(set(_ATTRIBUTES) | _SUBMODULES | {"__version__", "version"})


def version() -> str:
    """npconv's version (Keras 3's ``keras.version()``)."""
    return __version__


def __getattr__(name):
    if name in _ATTRIBUTES:
        module, attribute = _ATTRIBUTES[name]
        value = getattr(importlib.import_module(module), attribute)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"npconv.{name}")
    else:
        raise AttributeError(f"module 'npconv' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
