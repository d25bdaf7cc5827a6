"""Weight initializers with Keras names and formulas.

An initializer is called as ``init(shape, dtype, rng)`` and returns a new array. The random
ones take Keras's ``seed=``: with a seed they draw the same values at every call (``rng`` is
then ignored); without one they draw from ``rng``, or npconv's shared generator. Fans follow
Keras: for a kernel ``(kh, kw, c_in, c_out)`` fan_in = kh*kw*c_in and fan_out = kh*kw*c_out;
for a dense kernel ``(n_in, n_out)`` they are n_in and n_out.
"""

from __future__ import annotations

import math

import numpy as np


def compute_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of ``shape``."""
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype, rng)`` and ``get_config``."""

    def get_config(self) -> dict:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _generator(seed, rng):
    if seed is not None:
        return np.random.default_rng(seed)
    if rng is None:
        from .random import global_generator

        return global_generator()
    return rng


def _with_seed(config: dict, seed) -> dict:
    return config if seed is None else {**config, "seed": seed}


class Zeros(Initializer):
    def __call__(self, shape, dtype=np.float32, rng=None):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype=np.float32, rng=None):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = float(value)

    def __call__(self, shape, dtype=np.float32, rng=None):
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def __call__(self, shape, dtype=np.float32, rng=None):
        rng = _generator(self.seed, rng)
        return rng.normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return _with_seed({"mean": self.mean, "stddev": self.stddev}, self.seed)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def __call__(self, shape, dtype=np.float32, rng=None):
        rng = _generator(self.seed, rng)
        return rng.uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return _with_seed({"minval": self.minval, "maxval": self.maxval}, self.seed)


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: variance = scale / fan, uniform or truncated normal."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"VarianceScaling: unknown mode. Received: mode={mode!r}")
        if distribution not in ("uniform", "truncated_normal", "untruncated_normal"):
            raise ValueError(
                f"VarianceScaling: unknown distribution. Received: distribution={distribution!r}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution
        self.seed = seed

    def __call__(self, shape, dtype=np.float32, rng=None):
        rng = _generator(self.seed, rng)
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), size=shape).astype(dtype)
        # Truncated at two standard deviations; 0.8796... is the std of the truncated unit normal.
        std = math.sqrt(variance) / 0.87962566103423978
        return (_truncated_unit_normal(rng, shape) * std).astype(dtype)

    def get_config(self):
        return _with_seed({"scale": self.scale, "mode": self.mode,
                           "distribution": self.distribution}, self.seed)


def _truncated_unit_normal(rng, shape) -> np.ndarray:
    """Standard normal values redrawn until all lie within two standard deviations (Keras's
    ``truncated_normal``); a loop over redraw rounds (each redraws the few outside)."""
    values = rng.normal(0.0, 1.0, size=shape)
    outside = np.abs(values) > 2.0
    while outside.any():
        values[outside] = rng.normal(0.0, 1.0, size=int(outside.sum()))
        outside = np.abs(values) > 2.0
    return values


class TruncatedNormal(Initializer):
    """Keras's TruncatedNormal: ``mean + stddev * z`` with ``z`` a standard normal redrawn
    outside [-2, 2] (so the values lie within two ``stddev`` of the mean)."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def __call__(self, shape, dtype=np.float32, rng=None):
        rng = _generator(self.seed, rng)
        return (self.mean + self.stddev * _truncated_unit_normal(rng, shape)).astype(dtype)

    def get_config(self):
        return _with_seed({"mean": self.mean, "stddev": self.stddev}, self.seed)


class Orthogonal(Initializer):
    """Keras's Orthogonal: the weight, seen as a ``(prod(shape[:-1]), shape[-1])`` matrix, has
    orthonormal rows or columns (whichever are fewer), times ``gain``: the Q of a QR
    decomposition of a normal matrix, its columns' signs fixed by R's diagonal."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = float(gain), seed

    def __call__(self, shape, dtype=np.float32, rng=None):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: expected a weight shape of rank >= 2. Received "
                             f"shape {shape}")
        rng = _generator(self.seed, rng)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        flat = rng.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(flat)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape).astype(dtype)

    def get_config(self):
        return _with_seed({"gain": self.gain}, self.seed)


def GlorotUniform(seed=None):  # noqa: N802 - Keras name
    return _named(VarianceScaling(1.0, "fan_avg", "uniform", seed=seed), "glorot_uniform")


def GlorotNormal(seed=None):  # noqa: N802
    return _named(VarianceScaling(1.0, "fan_avg", "truncated_normal", seed=seed), "glorot_normal")


def HeUniform(seed=None):  # noqa: N802
    return _named(VarianceScaling(2.0, "fan_in", "uniform", seed=seed), "he_uniform")


def HeNormal(seed=None):  # noqa: N802
    return _named(VarianceScaling(2.0, "fan_in", "truncated_normal", seed=seed), "he_normal")


def LecunUniform(seed=None):  # noqa: N802
    return _named(VarianceScaling(1.0, "fan_in", "uniform", seed=seed), "lecun_uniform")


def LecunNormal(seed=None):  # noqa: N802
    return _named(VarianceScaling(1.0, "fan_in", "truncated_normal", seed=seed), "lecun_normal")


def _named(init: Initializer, name: str) -> Initializer:
    init.keras_name = name
    return init


class NotSaved(Initializer):
    """What a model file (or a helper process) keeps of a user's own initializer function or
    class: its name. Loading a model needs no initializer (the file has the weights); drawing
    new weights from it is a clear error."""

    def __init__(self, name: str = "custom"):
        self.name = str(name)

    def __call__(self, shape, dtype=None, rng=None):
        raise ValueError(f"initializer {self.name!r} was a function or class of your own, "
                         "kept by its name only: give it again (kernel_initializer=...) to "
                         "draw new weights")

    def get_config(self) -> dict:
        return {"name": self.name}


_BY_NAME = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_uniform": HeUniform,
    "he_normal": HeNormal,
    "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal,
    "variance_scaling": VarianceScaling,
    "truncated_normal": TruncatedNormal,
    "orthogonal": Orthogonal,
    # Keras's short aliases (Embedding's default embeddings_initializer is "uniform")
    "uniform": RandomUniform,
    "normal": RandomNormal,
}
#: Keras's class names of the same (``"GlorotUniform"``, as Keras 3's configs write them).
_BY_CLASS_NAME = {"".join(part.title() for part in name.split("_")): cls
                  for name, cls in _BY_NAME.items()}
_BY_CLASS_NAME["OrthogonalInitializer"] = Orthogonal  # (the name older Keras 3 files use)


def get(identifier, where: str = "initializer") -> Initializer:
    """An initializer from a Keras name, a config dict, or an initializer object."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, str):
        return _class_of(identifier, where)()
    if isinstance(identifier, dict) and "class_name" in identifier:
        # (Keras 3 also writes "module" and "registered_name": not needed here)
        config = identifier.get("config") or {}
        if identifier["class_name"] == "NotSaved":
            return NotSaved(**config)
        cls = _class_of(identifier["class_name"], where)
        try:
            return cls(**config)
        except TypeError as err:
            raise ValueError(f"{where}: initializer {identifier['class_name']!r} does not take "
                             f"the config {config!r}: {err}") from None
    if callable(identifier):
        if (isinstance(identifier, type) and issubclass(identifier, Initializer)) \
                or any(identifier is f for f in _BY_NAME.values()):
            return identifier()  # a class (or Keras-named factory): an instance, as Keras's
        return identifier  # get makes of kernel_initializer=HeNormal
    raise ValueError(f"{where}: cannot interpret initializer. Received: {identifier!r}")


def _class_of(name, where):
    """The initializer class (or Keras-named factory) of a Keras name, snake or CamelCase."""
    cls = _BY_NAME.get(name.lower()) if isinstance(name, str) else None
    cls = cls or (_BY_CLASS_NAME.get(name) if isinstance(name, str) else None)
    if cls is None:
        raise ValueError(f"{where}: unknown initializer. Expected one of {sorted(_BY_NAME)} "
                         f"(or Keras's class names, e.g. 'GlorotUniform'). Received: {name!r}")
    return cls


def serialize(init) -> str | dict:
    """A JSON-able description that :func:`get` turns back into the initializer."""
    if hasattr(init, "keras_name"):
        seed = getattr(init, "seed", None)  # (a seeded glorot_uniform keeps its seed)
        return init.keras_name if seed is None else {"class_name": init.keras_name,
                                                     "config": {"seed": seed}}
    for name, cls in _BY_NAME.items():
        if type(init) is cls:
            config = init.get_config()
            return name if not config else {"class_name": name, "config": config}
    if isinstance(init, NotSaved):
        return {"class_name": "NotSaved", "config": init.get_config()}
    name = getattr(init, "__qualname__", None) or type(init).__qualname__
    return {"class_name": "NotSaved", "config": {"name": name}}
