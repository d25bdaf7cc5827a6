"""Weight penalties under Keras's names: ``from npconv.regularizers import l2``.

A regularizer maps a weight array ``x`` to a penalty that is added to the training loss
(Keras's ``model.losses``); here it also gives that penalty's gradient, which the training
loop adds to the weight's ``grad`` before the optimizer step::

    L1(l1)        penalty = l1 * sum(|x|)                   gradient = l1 * sign(x)  (0 at 0)
    L2(l2)        penalty = l2 * sum(x**2)                  gradient = 2 * l2 * x
    L1L2(l1, l2)  the sum of both

Note Keras's L2 has no factor 1/2: ``L2(0.01)`` adds ``0.01 * sum(w**2)``, whose gradient
``0.02 * w`` is twice the "weight decay" of ``torch.optim.SGD(weight_decay=0.01)``.

Defaults as Keras 3: ``L1(l1=0.01)``, ``L2(l2=0.01)``, ``L1L2(l1=0.0, l2=0.0)``;
``l1`` and ``l2`` are the classes under their lower-case names, ``l1_l2(l1=0.01, l2=0.01)``.
Layers take them as ``Dense(64, kernel_regularizer=l2(1e-4), bias_regularizer="l1")``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._config_value import ConfigValue

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize",
           "deserialize"]


def _factor(value, name: str, where: str) -> float:
    """A finite, non-negative float factor (Keras's ``validate_float_arg``)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < 0):
        raise ValueError(f"{where}: expected {name} to be a non-negative float. "
                         f"Received: {name}={value!r}")
    return float(value)


def _weight_array(x, where: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: expected a float weight array. Received dtype {x.dtype}")
    return x


class Regularizer(ConfigValue):
    """Base class: ``reg(x) -> float`` (the penalty) and ``reg.gradient(x)`` (d penalty / d x).

    A subclass defines ``__call__`` and ``gradient``. ``get_config`` returns the constructor's
    arguments, so that ``from_config(get_config())`` rebuilds it: by default each argument
    is read from the attribute of the same name (``self.strength = strength``); a subclass
    that stores them otherwise defines its own.
    """

    def __call__(self, x) -> float:
        return 0.0

    def gradient(self, x) -> np.ndarray:
        x = _weight_array(x, type(self).__name__)
        return np.zeros_like(x)

    def get_config(self) -> dict:
        import inspect

        config = {}
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if not hasattr(self, name):
                raise TypeError(f"{type(self).__name__}.get_config: the constructor argument "
                                f"{name!r} is not kept as self.{name}; define get_config() to "
                                "return the constructor's arguments")
            config[name] = getattr(self, name)
        return config


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x**2)``; both factors default to 0 (as Keras)."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1", "L1L2")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2", "L1L2")

    def __call__(self, x) -> float:
        x = _weight_array(x, type(self).__name__)
        penalty = 0.0
        if self.l1:
            penalty += self.l1 * float(np.sum(np.abs(x)))
        if self.l2:
            penalty += self.l2 * float(np.sum(np.square(x)))
        return penalty

    def gradient(self, x) -> np.ndarray:
        """``l1 * sign(x) + 2 * l2 * x`` in x's dtype (sign(0) = 0, as torch's |x|')."""
        x = _weight_array(x, type(self).__name__)
        g = np.zeros_like(x)
        if self.l1:
            g += x.dtype.type(self.l1) * np.sign(x)
        if self.l2:
            g += x.dtype.type(2 * self.l2) * x
        return g

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|x|)``, ``l1=0.01`` by default (Keras 3)."""

    def __init__(self, l1=0.01):
        super().__init__(l1=0.01 if l1 is None else l1, l2=0.0)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(x**2)``, ``l2=0.01`` by default (Keras 3)."""

    def __init__(self, l2=0.01):
        super().__init__(l1=0.0, l2=0.01 if l2 is None else l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


l1 = L1
l2 = L2


def l1_l2(l1=0.01, l2=0.01) -> L1L2:
    """An :class:`L1L2` with both factors 0.01 unless given (tf.keras's ``l1_l2``)."""
    return L1L2(l1=l1, l2=l2)


_BY_NAME = {"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": l1_l2,
            "l1l2": L1L2}
_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}


def serialize(regularizer) -> dict | None:
    """``{"class_name": ..., "config": {...}}`` for a config (``None`` stays ``None``)."""
    if regularizer is None:
        return None
    if not isinstance(regularizer, Regularizer):
        raise TypeError(f"regularizers.serialize: expected a Regularizer. "
                        f"Received {regularizer!r}")
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def deserialize(config: dict) -> Regularizer:
    """Rebuild a regularizer from :func:`serialize`'s dict (Keras's extra keys are ignored)."""
    name = config.get("class_name")
    if name not in _CLASSES:
        raise ValueError(f"regularizers.deserialize: unknown regularizer class {name!r}. "
                         f"Expected one of {sorted(_CLASSES)}")
    return _CLASSES[name].from_config(dict(config.get("config") or {}))


def get(identifier) -> Regularizer | None:
    """A regularizer from ``None``, a name (``"l1"``, ``"l2"``, ``"l1_l2"``, ``"L1L2"``), a
    serialized dict, a :class:`Regularizer` instance or class."""
    if identifier is None or isinstance(identifier, Regularizer):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"regularizers.get: unknown regularizer {identifier!r}. "
                             f"Expected one of {sorted(_BY_NAME)}")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    raise TypeError(
        "regularizers.get: expected None, a name, a dict or a Regularizer (a plain function "
        "has no gradient here: subclass Regularizer with __call__ and gradient). "
        f"Received: {identifier!r}"
    )
