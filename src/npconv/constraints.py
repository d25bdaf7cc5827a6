"""Weight constraints under Keras's names: ``from npconv.constraints import max_norm``.

A constraint maps a weight array ``w`` to its projection; the optimizer applies it after each
update of a trainable weight that has one (``w <- constraint(w)``, in place), as Keras 3's
``BaseOptimizer.apply`` does. With ``norms = sqrt(sum(w**2, axis, keepdims=True))`` and
``eps = npconv.backend.epsilon()`` (1e-7)::

    MaxNorm(max_value=2, axis=0)       w * clip(norms, 0, max_value) / (eps + norms)
    MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)
                                       w * (rate * clip(norms, min_value, max_value)
                                            + (1 - rate) * norms) / (eps + norms)
    NonNeg()                           maximum(w, 0)
    UnitNorm(axis=0)                   w / (eps + norms)

computed in the weight's dtype (float32 stays float32). ``axis=0`` constrains each column of
a Dense kernel ``(n_in, units)``; for a Conv2D kernel ``(kh, kw, c_in, filters)``,
``axis=[0, 1, 2]`` constrains each filter. ``max_norm``, ``min_max_norm``, ``non_neg`` and
``unit_norm`` are the classes under their lower-case names (as in Keras). Layers take them as
``Dense(64, kernel_constraint=max_norm(3), bias_constraint="non_neg")``; a custom layer as
``add_weight(..., constraint=...)``.

Unlike Keras, the arguments are checked when the constraint is made (a negative
``max_value``, ``min_value > max_value``, a ``rate`` outside [0, 1] or an axis that is not an
int is a ValueError naming the constraint); Keras would compute with them.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._config_value import ConfigValue

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm",
           "min_max_norm", "non_neg", "unit_norm", "get", "serialize", "deserialize"]

#: Constraint classes by name, npconv's and every subclass defined since (deserialize finds a
#: user's class by its name once it is defined, as layers are found).
_CLASSES: dict[str, type] = {}


def _number(value, name: str, where: str, *, low=0.0, high=None):
    """A finite real in [low, high], kept an int when it is one (Keras's configs keep
    ``max_value=2``), or a ValueError naming ``where``."""
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < low or (high is not None and value > high)):
        bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{where}: expected {name} to be a number {bound}. "
                         f"Received: {name}={value!r}")
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _axis(axis, where: str):
    """An int, a list of distinct ints (a tuple becomes a list, as it is saved in JSON) or
    None (the norm of the whole weight)."""
    if axis is None:
        return None
    items = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not items or not all(isinstance(a, (numbers.Integral, np.integer))
                            and not isinstance(a, (bool, np.bool_)) for a in items) \
            or len(set(int(a) for a in items)) != len(items):
        raise ValueError(f"{where}: expected axis to be an int or a list of distinct ints. "
                         f"Received: axis={axis!r}")
    return [int(a) for a in items] if isinstance(axis, (list, tuple)) else int(axis)


def _float_weight(w) -> np.ndarray:
    """``w`` as a float array (an integer one as float32, Keras's floatx)."""
    w = np.asarray(w)
    return w if w.dtype.kind == "f" else w.astype(np.float32)


class Constraint(ConfigValue):
    """Base class: ``constraint(w)`` returns the projected weight (the base: ``w`` itself).

    A subclass defines ``__call__(w)`` and, if its constructor takes arguments,
    ``get_config()`` returning them, so that ``from_config(get_config())`` rebuilds it
    (as in Keras).
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _CLASSES[cls.__name__] = cls

    def __call__(self, w):
        return w


_CLASSES["Constraint"] = Constraint


class _NormConstraint(Constraint):
    """The norms of ``w`` along ``self.axis`` (keepdims), in ``w``'s dtype."""

    def _norms(self, w: np.ndarray) -> np.ndarray:
        try:
            return np.sqrt(np.sum(np.square(w), axis=None if self.axis is None
                                  else (tuple(self.axis) if isinstance(self.axis, list)
                                        else self.axis), keepdims=True))
        except np.exceptions.AxisError:
            raise ValueError(f"{self!r}: axis={self.axis} is not an axis of the weight of "
                             f"shape {w.shape}") from None

    @staticmethod
    def _epsilon(dtype) -> np.floating:
        from .backend import epsilon

        return dtype.type(epsilon())


class MaxNorm(_NormConstraint):
    """Each slice along ``axis`` scaled to a norm of at most ``max_value``:
    ``w * clip(norms, 0, max_value) / (epsilon + norms)`` (a norm below ``max_value``
    shrinks by the factor ``norm / (norm + 1e-7)``, as in Keras)."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = _number(max_value, "max_value", "MaxNorm")
        self.axis = _axis(axis, "MaxNorm")

    def __call__(self, w):
        w = _float_weight(w)
        norms = self._norms(w)
        desired = np.clip(norms, 0, w.dtype.type(self.max_value))
        return w * (desired / (self._epsilon(w.dtype) + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(_NormConstraint):
    """Each slice's norm moved towards [min_value, max_value] by ``rate`` (1: onto it):
    ``w * (rate * clip(norms, min_value, max_value) + (1 - rate) * norms)
    / (epsilon + norms)``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        where = "MinMaxNorm"
        self.min_value = _number(min_value, "min_value", where)
        self.max_value = _number(max_value, "max_value", where)
        if self.min_value > self.max_value:
            raise ValueError(f"{where}: expected min_value <= max_value. Received: "
                             f"min_value={min_value!r}, max_value={max_value!r}")
        self.rate = _number(rate, "rate", where, high=1.0)
        self.axis = _axis(axis, where)

    def __call__(self, w):
        w = _float_weight(w)
        t = w.dtype.type
        norms = self._norms(w)
        desired = (t(self.rate) * np.clip(norms, t(self.min_value), t(self.max_value))
                   + t(1 - self.rate) * norms)
        return w * (desired / (self._epsilon(w.dtype) + norms))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """``maximum(w, 0)``: negative entries become 0."""

    def __call__(self, w):
        w = np.asarray(w)
        return np.maximum(w, w.dtype.type(0))


class UnitNorm(_NormConstraint):
    """Each slice along ``axis`` scaled to norm 1: ``w / (epsilon + norms)``."""

    def __init__(self, axis=0):
        self.axis = _axis(axis, "UnitNorm")

    def __call__(self, w):
        w = _float_weight(w)
        return w / (self._epsilon(w.dtype) + self._norms(w))

    def get_config(self) -> dict:
        return {"axis": self.axis}


max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
unit_norm = UnitNorm

#: The names ``get`` takes: Keras's class names and their snake_case forms.
_BY_NAME = {"MaxNorm": MaxNorm, "max_norm": MaxNorm, "MinMaxNorm": MinMaxNorm,
            "min_max_norm": MinMaxNorm, "NonNeg": NonNeg, "non_neg": NonNeg,
            "UnitNorm": UnitNorm, "unit_norm": UnitNorm, "Constraint": Constraint,
            "constraint": Constraint}


def serialize(constraint) -> dict | None:
    """``{"class_name": ..., "config": {...}}`` for a config (``None`` stays ``None``)."""
    if constraint is None:
        return None
    if not isinstance(constraint, Constraint):
        raise TypeError("constraints.serialize: only Constraint objects can be saved (a plain "
                        "function cannot: subclass npconv.constraints.Constraint with "
                        f"__call__ and get_config). Received {constraint!r}")
    return {"class_name": type(constraint).__name__, "config": constraint.get_config()}


def deserialize(config: dict, custom_objects=None) -> Constraint:
    """Rebuild a constraint from :func:`serialize`'s dict (Keras's extra keys are ignored);
    a subclass of :class:`Constraint` defined before is found by its class name."""
    if not isinstance(config, dict):
        raise TypeError(f"constraints.deserialize: expected a dict with 'class_name' and "
                        f"'config'. Received {config!r}")
    name = config.get("class_name")
    cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Constraint)):
        known = sorted(_CLASSES)
        raise ValueError(f"constraints.deserialize: unknown constraint class {name!r}. "
                         f"Expected one of {known} (or a Constraint subclass defined before "
                         "loading)")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """A constraint from ``None``, a name (``"max_norm"``, ``"NonNeg"`` ...), a serialized
    dict, a :class:`Constraint` instance or class, or any callable ``w -> w'`` (as Keras;
    such a function cannot be saved in a model file)."""
    if identifier is None or isinstance(identifier, Constraint):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"constraints.get: unknown constraint {identifier!r}. "
                             f"Expected one of {sorted(_BY_NAME)}")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type):
        if issubclass(identifier, Constraint):
            return identifier()
    elif callable(identifier):
        return identifier
    raise TypeError("constraints.get: expected None, a name, a dict, a Constraint or a "
                    f"function of the weight. Received: {identifier!r}")
