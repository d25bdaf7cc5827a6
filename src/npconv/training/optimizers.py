"""Optimizers with Keras 3 names, defaults and update rules (``keras/src/optimizers/*.py``).

One step, ``optimizer.apply_gradients(weights)``, for every trainable ``Weight`` whose ``grad``
is not None, in Keras's order:

1. clip the gradients (at most one of ``clipnorm`` -- each gradient to L2 norm <= c --,
   ``global_clipnorm`` -- all of them together --, ``clipvalue`` -- each entry to [-c, c]),
2. decoupled weight decay ``w -= lr * weight_decay * w`` (when ``weight_decay`` is set),
3. the optimizer's rule, with ``lr = learning_rate`` or ``learning_rate(iterations)``:

    SGD       v = momentum * v - lr * g;  w += v          (nesterov: w += momentum * v - lr * g)
              without momentum: w -= lr * g
    RMSprop   s = rho * s + (1 - rho) * g^2;  w -= lr * g / sqrt(s + epsilon)
              centered: a = rho * a + (1 - rho) * g, denominator sqrt(s - a^2 + epsilon);
              momentum: m = momentum * m + increment;  w -= m
    Adam      m += (1 - beta_1) (g - m);  v += (1 - beta_2) (g^2 - v)
              w -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
              (amsgrad: v_hat = max(v_hat, v) replaces v in the last line)
    AdamW     Adam with weight_decay=0.004 by default
    Nadam     u_i = beta_1 (1 - 0.5 * 0.96^i),  P_t = u_1 ... u_t (Keras's ``u_product``)
              m, v as Adam;  m_hat = u_{t+1} m / (1 - P_t u_{t+1}) + (1 - u_t) g / (1 - P_t)
              w -= lr * m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon)
    Adagrad   a += g^2 (a starts at initial_accumulator_value);  w -= lr * g / sqrt(a + epsilon)
    Adamax    m as Adam;  u = max(beta_2 * u, |g|);  w -= lr / (1 - beta_1^t) * m / (u + epsilon)
    Adadelta  a = rho a + (1 - rho) g^2;  delta = sqrt(d + epsilon) / sqrt(a + epsilon) * g
              d = rho d + (1 - rho) delta^2;  w -= lr * delta
    Lion      w -= lr * sign(beta_1 m + (1 - beta_1) g);  m = beta_2 m + (1 - beta_2) g
    Ftrl      FTRL-proximal (see the class)

4. each updated weight that has a ``constraint`` (``npconv.constraints``, e.g. a layer's
   ``kernel_constraint``) is projected in place: ``w[...] = constraint(w)`` (Keras 3's
   ``variable.assign(variable.constraint(variable))``); a weight without one costs one check,
5. ``iterations += 1`` (t above is ``iterations + 1``).

Note where epsilon sits: Keras's RMSprop and Adagrad put it *inside* the square root and Keras's
Adam adds it to ``sqrt(v)`` before bias correction; PyTorch puts it outside the root and after
the correction. The rules coincide for epsilon = 0 (see tests/reference/test_optimizers_torch.py).

Slots (momentum, velocity ...) are created lazily, in each weight's dtype, and updated in place
(float32 weights stay float32). ``get_state(weights)`` / ``set_state(state, weights)`` carry the
slots and ``iterations`` as a flat ``{str: ndarray}`` dict (safetensors-ready) for an exact resume;
each slot is keyed by its weight's place in ``weights`` (a model file: the weight's file key, so
the state comes back on the same weights whatever the trainable flags were or are).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import schedules as _schedules

_STATE_SCALARS = ("iterations", "learning_rate")


def _keyed(weights) -> tuple[list[str] | None, list]:
    """``(keys, weights)`` from a mapping ``{key: Weight}``, ``(None, weights)`` from a list."""
    if isinstance(weights, dict):
        return [str(k) for k in weights], list(weights.values())
    return None, list(weights)


def _check_nonneg(value, name, where, *, upper=None, allow_none=False):
    if value is None and allow_none:
        return None
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{where}: expected {name} to be a number. Received: {name}={value!r}")
    if value < 0 or (upper is not None and value > upper):
        bound = f"in [0, {upper}]" if upper is not None else ">= 0"
        raise ValueError(f"{where}: expected {name} {bound}. Received: {name}={value!r}")
    return float(value)


def _check_positive_or_none(value, name, where):
    if value is None:
        return None
    value = _check_nonneg(value, name, where)
    if value == 0:
        raise ValueError(f"{where}: expected {name} > 0 or None. Received: {name}={value!r}")
    return value


#: Keras 3's other optimizer arguments, at the values that leave the update as npconv's
#: (what Keras's ``get_config`` writes for an optimizer without them).
_KERAS_EXTRAS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                 "loss_scale_factor": None, "gradient_accumulation_steps": None}


def _check_keras_extras(kwargs, where) -> None:
    """Accept Keras's ``use_ema=False``, ``ema_*``, ``loss_scale_factor=None`` and
    ``gradient_accumulation_steps=None`` (a Keras snippet or config that names them); refuse
    what npconv does not implement, and unknown arguments, naming the optimizer."""
    unknown = sorted(k for k in kwargs if k not in _KERAS_EXTRAS)
    if unknown:
        raise TypeError(f"{where}: unexpected keyword argument(s) {unknown}")
    if kwargs.get("use_ema"):
        raise ValueError(f"{where}: use_ema=True (an exponential moving average of the "
                         "weights) is not implemented in npconv; use use_ema=False")
    for key in ("loss_scale_factor", "gradient_accumulation_steps"):
        if kwargs.get(key) is not None:
            raise ValueError(f"{where}: {key} is not implemented in npconv; leave it None. "
                             f"Received: {key}={kwargs[key]!r}")


class Optimizer:
    """Base class: learning rate, clipping, weight decay, iterations, slots and state.

    Subclasses list their slot names in ``_slot_names`` and implement
    ``_update(index, value, grad, lr)`` changing ``value`` in place.
    """

    _slot_names: tuple[str, ...] = ()
    _default_name = "optimizer"

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        where = type(self).__name__
        _check_keras_extras(kwargs, where)
        self.name = name or self._default_name
        self._learning_rate = None
        self.learning_rate = learning_rate
        self.weight_decay = _check_nonneg(weight_decay, "weight_decay", where, allow_none=True)
        self.clipnorm = _check_positive_or_none(clipnorm, "clipnorm", where)
        self.clipvalue = _check_positive_or_none(clipvalue, "clipvalue", where)
        self.global_clipnorm = _check_positive_or_none(global_clipnorm, "global_clipnorm", where)
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(f"{where}: only one of clipnorm, clipvalue and global_clipnorm can "
                             f"be set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self.iterations = 0
        self._weights: list = []  # every weight seen, in order: its position keys the state
        self._index: dict[int, int] = {}  # id(weight) -> position
        self._slots: dict[int, dict[str, np.ndarray]] = {}

    # ------------------------------------------------------------ learning rate
    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule is evaluated at ``iterations``)."""
        if callable(self._learning_rate):
            return float(self._learning_rate(self.iterations))
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        where = type(self).__name__
        if callable(value):
            self._learning_rate = value
            return
        if callable(self._learning_rate):
            raise TypeError(f"{self.name}: this optimizer was created with a learning-rate "
                            "schedule, so its learning rate cannot be set to a number")
        self._learning_rate = _check_nonneg(value, "learning_rate", where)

    # ------------------------------------------------------------ weights and slots
    def build(self, weights) -> None:
        """Register ``weights`` in order (their positions key ``get_state``); optional."""
        for w in weights:
            self._register(w)

    def _register(self, weight) -> int:
        key = id(weight)
        if key not in self._index:
            self._index[key] = len(self._weights)
            self._weights.append(weight)
        return self._index[key]

    def _slot(self, index: int, name: str, like: np.ndarray) -> np.ndarray:
        slots = self._slots.setdefault(index, {})
        if name not in slots:
            slots[name] = np.zeros_like(like)
        return slots[name]

    def _scratch(self, index: int, like: np.ndarray) -> np.ndarray:
        """A work buffer of ``like``'s shape and dtype kept between steps (not state: its
        contents are garbage), so that an update allocates no temporaries."""
        scratch = self.__dict__.setdefault("_scratch_buffers", {})
        buffer = scratch.get(index)
        if buffer is None or buffer.shape != like.shape or buffer.dtype != like.dtype:
            buffer = scratch[index] = np.empty_like(like)
        return buffer

    # ------------------------------------------------------------ the step
    def _collect(self, weights):
        """[(index, weight, grad)] for trainable weights with a gradient, grads checked."""
        pairs = []
        for item in weights:
            if isinstance(item, tuple):  # Keras's (grad, variable) pairs
                grad, weight = item
            else:
                weight, grad = item, getattr(item, "grad", None)
            if not hasattr(weight, "value"):
                raise TypeError(f"{self.name}: expected Weight objects (or (grad, Weight) "
                                f"pairs). Received {type(weight).__name__}")
            index = self._register(weight)
            if grad is None or not getattr(weight, "trainable", True):
                continue
            grad = np.asarray(grad)
            if grad.shape != weight.value.shape:
                raise ValueError(f"{self.name}: the gradient of weight '{weight.name}' has shape "
                                 f"{grad.shape}; expected the weight's shape {weight.value.shape}")
            if grad.dtype != weight.value.dtype:
                grad = grad.astype(weight.value.dtype)
            pairs.append((index, weight, grad))
        return pairs

    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        """Keras's clipping; returns new arrays (the weights' ``grad`` are never modified)."""
        if self.clipnorm is not None:
            out = []
            for g in grads:
                norm = float(np.sqrt(np.sum(np.square(g))))
                out.append(g * (self.clipnorm / max(norm, self.clipnorm)))
            return out
        if self.global_clipnorm is not None:
            norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads))
            scale = self.global_clipnorm * min(1 / norm if norm else math.inf,
                                               1 / self.global_clipnorm)
            return [g * scale for g in grads]
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def apply_gradients(self, weights) -> int:
        """Update every trainable weight in ``weights`` from its ``grad``, in place.

        ``weights``: ``Weight`` objects (those with ``grad`` None or ``trainable`` False are
        skipped) or Keras's ``(grad, weight)`` pairs. Returns the new ``iterations``.
        """
        pairs = self._collect(weights)
        if not pairs:
            raise ValueError(f"{self.name}: no gradients provided for any weight (every grad is "
                             "None: run the backward pass before the optimizer step)")
        grads = self._clip([g for _, _, g in pairs])
        lr = self.learning_rate
        if self.weight_decay:
            for _, weight, _ in pairs:
                weight.value *= 1 - lr * self.weight_decay
        for (index, weight, _), grad in zip(pairs, grads, strict=True):
            self._update(index, weight.value, grad, lr)
            constraint = getattr(weight, "constraint", None)
            if constraint is not None:
                self._constrain(weight, constraint)
        self.iterations += 1
        return self.iterations

    step = apply_gradients

    def _constrain(self, weight, constraint) -> None:
        """``weight.value[...] = constraint(weight.value)``: in place, so that arrays shared
        with others (a model's replicas, helper processes' shared memory) see it too."""
        value = weight.value
        new = np.asarray(constraint(value))
        if new.shape != value.shape:
            raise ValueError(f"{self.name}: the constraint {constraint!r} of weight "
                             f"'{weight.name}' returned shape {new.shape}; expected the "
                             f"weight's shape {value.shape}")
        if new.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: the constraint {constraint!r} of weight "
                            f"'{weight.name}' returned dtype {new.dtype}; expected real numbers")
        np.copyto(value, new, casting="unsafe")

    def _update(self, index: int, value: np.ndarray, grad: np.ndarray, lr: float) -> None:
        raise TypeError(f"{type(self).__name__} does not define _update(); optimizers must")

    # ------------------------------------------------------------ state for exact resume
    def get_state(self, weights=None) -> dict[str, np.ndarray]:
        """Copies of the slots plus ``"iterations"`` (and ``"learning_rate"`` when it is a
        number, since callbacks may change it).

        Each slot is keyed by the weight it belongs to: ``"<slot>.<i>"`` for ``weights[i]``
        when ``weights`` is a list (e.g. ``model.weights``), ``"<slot>/<key>"`` when it is a
        mapping ``{key: Weight}`` (npconv.io uses the weights' file keys), and without
        ``weights`` the position in the order this optimizer first saw each weight. Slots of
        weights not in ``weights`` (a layer popped from the model) are left out.
        """
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        if not callable(self._learning_rate):
            state["learning_rate"] = np.array(self._learning_rate, dtype=np.float64)
        if weights is None:
            names = {index: str(index) for index in self._slots}
            sep = "."
        else:
            keys, given = _keyed(weights)
            sep = "." if keys is None else "/"
            where = {id(w): str(i) if keys is None else keys[i] for i, w in enumerate(given)}
            names = {index: where.get(id(self._weights[index])) for index in self._slots}
        for index, slots in self._slots.items():
            if names[index] is None:
                continue
            for name, arr in slots.items():
                state[f"{name}{sep}{names[index]}"] = arr.copy()
        return state

    def set_state(self, state: dict, weights) -> None:
        """Restore ``get_state(weights)``'s output onto ``weights``: a list in the same order
        as when the state was saved (entries ``"<slot>.<i>"``), or a mapping ``{key: Weight}``
        (entries ``"<slot>/<key>"``, as a model file holds them).

        Entries ``"<slot>/<key>"`` given with a list: the list must be exactly the weights
        that hold state, in key order (``model.trainable_weights`` of a model whose weights all
        trained); a mapping from the file keys (what ``npconv.io.load_model`` passes) is exact
        whatever the trainable flags were.
        """
        keys, weights = _keyed(weights)
        by_key = None if keys is None else dict(zip(keys, range(len(weights)), strict=True))
        named = sorted({key.partition("/")[2] for key in state if "/" in key})
        if named and by_key is None:
            by_key = self._match_named(named, weights)
        slots: dict[int, dict[str, np.ndarray]] = {}
        for key, arr in state.items():
            if key in _STATE_SCALARS:
                continue
            if "/" in key:
                name, _, ref = key.partition("/")
                index = by_key.get(ref) if name in self._slot_names else None
                if name in self._slot_names and index is None:
                    raise ValueError(f"{self.name}: state entry {key!r} is for weight {ref!r}, "
                                     "which is not among the weights given")
            else:
                name, _, ref = key.rpartition(".")
                index = int(ref) if ref.isdigit() and keys is None else None
            if name not in self._slot_names or index is None:
                raise ValueError(f"{self.name}: unexpected state entry {key!r}; a "
                                 f"{type(self).__name__} has slots {list(self._slot_names)}")
            if index >= len(weights):
                raise ValueError(f"{self.name}: state entry {key!r} is for weight #{index}, but "
                                 f"{len(weights)} weights were given")
            target = weights[index].value
            arr = np.asarray(arr)
            if arr.shape != target.shape:
                raise ValueError(f"{self.name}: state entry {key!r} has shape {arr.shape}; "
                                 f"weight #{index} ('{weights[index].name}') has shape "
                                 f"{target.shape}")
            slots.setdefault(index, {})[name] = np.array(arr, dtype=target.dtype)
        # every weight that has state went through the same updates, so has the same slots:
        # one lacking a slot the others have lost it (and would restart it from zeros)
        every = set().union(*slots.values()) if slots else set()
        for index, held in slots.items():
            if held.keys() != every:
                missing = sorted(every - held.keys())
                raise ValueError(f"{self.name}: the state of weight #{index} "
                                 f"('{weights[index].name}') lacks its {missing} slot(s), "
                                 "which the other weights' state has")
        if "iterations" not in state:
            raise ValueError(f"{self.name}: the state has no 'iterations' entry")
        self.iterations = int(np.asarray(state["iterations"]))
        if "learning_rate" in state and not callable(self._learning_rate):
            self.learning_rate = float(np.asarray(state["learning_rate"]))
        self._weights, self._index, self._slots = [], {}, slots
        self.build(weights)

    def _match_named(self, named: list[str], weights: list) -> dict[str, int]:
        """``{key: i}`` pairing state keyed by weight (sorted keys) with a plain list of the
        weights holding state; refused unless counts, weight names and shapes agree."""
        hint = ("pass a mapping {key: Weight} of the model's weights (npconv.io.load_model "
                "does)")
        if len(named) != len(weights):
            raise ValueError(f"{self.name}: the state holds slots for {len(named)} weights but "
                             f"{len(weights)} weights were given; {hint}")
        for key, w in zip(named, weights, strict=True):
            if key.rpartition("/")[2] != w.name:
                raise ValueError(f"{self.name}: state for weight {key!r} does not match the "
                                 f"weight given in its place ('{w.name}'); {hint}")
        return {key: i for i, key in enumerate(named)}

    # ------------------------------------------------------------ config
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            lr = _schedules.serialize(lr)
        elif callable(lr):
            raise TypeError(f"{self.name}: cannot serialise a learning rate given as a plain "
                            "function; use a schedule from npconv.training.schedules")
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm,
                "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, iterations={self.iterations}>"


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum; Keras defaults."""

    _default_name = "SGD"
    _slot_names = ("momentum",)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name,
                         **kwargs)
        self.momentum = _check_nonneg(momentum, "momentum", "SGD", upper=1)
        self.nesterov = bool(nesterov)

    def _update(self, index, value, grad, lr):
        step = grad * lr  # lr * g, in the weight's dtype
        if self.momentum == 0:
            value -= step
            return
        v = self._slot(index, "momentum", value)
        v *= self.momentum
        v -= step  # v = momentum * v - lr * g
        if self.nesterov:
            value += v * self.momentum
            value -= step
        else:
            value += v

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop, Keras's formula (epsilon inside the square root); Keras defaults."""

    _default_name = "rmsprop"
    _slot_names = ("velocity", "momentum", "average_gradient")

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name,
                         **kwargs)
        self.rho = _check_nonneg(rho, "rho", "RMSprop", upper=1)
        self.momentum = _check_nonneg(momentum, "momentum", "RMSprop", upper=1)
        self.epsilon = _check_nonneg(epsilon, "epsilon", "RMSprop")
        self.centered = bool(centered)

    def _update(self, index, value, grad, lr):
        rho = self.rho
        s = self._slot(index, "velocity", value)
        tmp = self._scratch(index, value)  # every step below writes in place: no temporaries
        s *= rho
        np.multiply(grad, grad, out=tmp)
        tmp *= 1 - rho
        s += tmp  # s = rho * s + (1 - rho) * g^2
        if self.centered:
            a = self._slot(index, "average_gradient", value)
            a *= rho
            np.multiply(grad, 1 - rho, out=tmp)
            a += tmp  # a = rho * a + (1 - rho) * g
            np.square(a, out=tmp)
            np.subtract(s, tmp, out=tmp)
            tmp += self.epsilon
        else:
            np.add(s, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        increment = np.divide(grad, tmp, out=tmp)
        increment *= lr  # lr * g / sqrt(s + eps)
        if self.momentum > 0:
            m = self._slot(index, "momentum", value)
            m *= self.momentum
            m += increment
            value -= m
        else:
            value -= increment

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


def _update_moments(m, v, grad, tmp, beta_1, beta_2) -> None:
    """Adam's and Nadam's moving moments, in place, ``tmp`` a work buffer of their shape:
    ``m = beta_1 m + (1 - beta_1) g`` and ``v = beta_2 v + (1 - beta_2) g^2``."""
    np.subtract(grad, m, out=tmp)
    tmp *= 1 - beta_1
    m += tmp
    np.square(grad, out=tmp)
    tmp -= v
    tmp *= 1 - beta_2
    v += tmp


class Adam(Optimizer):
    """Adam with Keras's bias correction folded into the step size; Keras defaults."""

    _default_name = "adam"
    _slot_names = ("momentum", "velocity", "velocity_hat")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name,
                         **kwargs)
        where = type(self).__name__
        self.beta_1 = _check_nonneg(beta_1, "beta_1", where, upper=1)
        self.beta_2 = _check_nonneg(beta_2, "beta_2", where, upper=1)
        self.epsilon = _check_nonneg(epsilon, "epsilon", where)
        self.amsgrad = bool(amsgrad)

    def _update(self, index, value, grad, lr):
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        m = self._slot(index, "momentum", value)
        v = self._slot(index, "velocity", value)
        tmp = self._scratch(index, value)
        _update_moments(m, v, grad, tmp, self.beta_1, self.beta_2)
        if self.amsgrad:
            v_hat = self._slot(index, "velocity_hat", value)
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m, tmp, out=tmp)
        tmp *= alpha
        value -= tmp

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (``weight_decay=0.004`` by default, as Keras)."""

    _default_name = "adamw"

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: expected weight_decay to be a float. "
                             "Received: weight_decay=None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         clipnorm, clipvalue, global_clipnorm, name, **kwargs)


class Adagrad(Optimizer):
    """Adagrad, Keras 3's rule (``keras/src/optimizers/adagrad.py``) and defaults: each weight's
    accumulator starts at ``initial_accumulator_value``, then ``a += g^2`` and
    ``w -= lr * g / sqrt(a + epsilon)`` (epsilon inside the root; PyTorch adds it outside)."""

    _default_name = "adagrad"
    _slot_names = ("accumulator",)

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name,
                         **kwargs)
        self.initial_accumulator_value = _check_nonneg(
            initial_accumulator_value, "initial_accumulator_value", "Adagrad")
        self.epsilon = _check_nonneg(epsilon, "epsilon", "Adagrad")

    def _update(self, index, value, grad, lr):
        slots = self._slots.setdefault(index, {})
        a = slots.get("accumulator")
        if a is None:
            a = slots["accumulator"] = np.full_like(value, self.initial_accumulator_value)
        tmp = self._scratch(index, value)
        np.multiply(grad, grad, out=tmp)
        a += tmp  # a += g^2
        np.add(a, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(grad, tmp, out=tmp)
        tmp *= lr  # lr * g / sqrt(a + eps)
        value -= tmp

    def get_config(self):
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam, Keras 3's rule (``keras/src/optimizers/nadam.py``) and defaults: Adam with
    Nesterov momentum under the momentum schedule ``u_i = beta_1 * (1 - 0.5 * 0.96^i)``.

    At step ``t`` (``iterations + 1``), with ``P_t = u_1 * ... * u_t`` (Keras's ``u_product``)::

        m += (1 - beta_1) (g - m);  v += (1 - beta_2) (g^2 - v)
        m_hat = u_{t+1} m / (1 - P_t u_{t+1}) + (1 - u_t) g / (1 - P_t)
        w -= lr * m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon)

    ``P_t`` depends on ``t`` alone, so it is not stored: it is carried from step to step and
    recomputed from ``iterations`` after ``set_state`` (an exact resume from the slots
    ``momentum`` and ``velocity``). This is PyTorch's ``NAdam(momentum_decay=1.0)``; torch's
    default ``momentum_decay=0.004`` is a far slower schedule.
    """

    _default_name = "nadam"
    _slot_names = ("momentum", "velocity")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name,
                         **kwargs)
        where = type(self).__name__
        self.beta_1 = _check_nonneg(beta_1, "beta_1", where, upper=1)
        self.beta_2 = _check_nonneg(beta_2, "beta_2", where, upper=1)
        self.epsilon = _check_nonneg(epsilon, "epsilon", where)
        self._u_product = (0, 1.0)  # (t, P_t)

    def _u(self, i: int) -> float:
        return self.beta_1 * (1 - 0.5 * 0.96**i)

    def _u_product_at(self, t: int) -> float:
        """``P_t = u_1 * ... * u_t``, by one multiplication from the last step's."""
        done, product = self._u_product
        if done > t:
            done, product = 0, 1.0
        for i in range(done + 1, t + 1):
            product *= self._u(i)
        self._u_product = (t, product)
        return product

    def _update(self, index, value, grad, lr):
        t = self.iterations + 1
        u_t, u_next = self._u(t), self._u(t + 1)
        product = self._u_product_at(t)
        m = self._slot(index, "momentum", value)
        v = self._slot(index, "velocity", value)
        tmp = self._scratch(index, value)
        _update_moments(m, v, grad, tmp, self.beta_1, self.beta_2)
        np.divide(v, 1 - self.beta_2**t, out=tmp)
        np.sqrt(tmp, out=tmp)
        tmp += self.epsilon  # the denominator
        numerator = m * (u_next / (1 - product * u_next))
        numerator += grad * ((1 - u_t) / (1 - product))  # m_hat
        numerator /= tmp
        numerator *= lr
        value -= numerator

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax, Keras 3's rule (``keras/src/optimizers/adamax.py``) and defaults: Adam with the
    infinity norm. At step ``t`` (``iterations + 1``)::

        m += (1 - beta_1) (g - m);  u = max(beta_2 u, |g|)
        w -= lr * m / ((1 - beta_1^t) (u + epsilon))

    PyTorch's ``Adamax`` keeps ``u = max(beta_2 u, |g| + eps)`` and divides by ``u``: the
    rules coincide at epsilon = 0 (tests/reference/test_adamax_adadelta_torch.py).
    """

    _default_name = "adamax"
    _slot_names = ("momentum", "norm")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name,
                         **kwargs)
        where = type(self).__name__
        self.beta_1 = _check_nonneg(beta_1, "beta_1", where, upper=1)
        self.beta_2 = _check_nonneg(beta_2, "beta_2", where, upper=1)
        self.epsilon = _check_nonneg(epsilon, "epsilon", where)

    def _update(self, index, value, grad, lr):
        t = self.iterations + 1
        m = self._slot(index, "momentum", value)
        u = self._slot(index, "norm", value)
        tmp = self._scratch(index, value)
        np.subtract(grad, m, out=tmp)
        tmp *= 1 - self.beta_1
        m += tmp  # m = beta_1 m + (1 - beta_1) g
        u *= self.beta_2
        np.abs(grad, out=tmp)
        np.maximum(u, tmp, out=u)  # u = max(beta_2 u, |g|)
        np.add(u, self.epsilon, out=tmp)
        np.divide(m, tmp, out=tmp)
        tmp *= lr / (1 - self.beta_1**t)
        value -= tmp

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta, Keras 3's rule (``keras/src/optimizers/adadelta.py``) and defaults (note
    ``learning_rate=0.001``; the paper's rule is ``learning_rate=1.0``)::

        a = rho a + (1 - rho) g^2
        delta = -sqrt(d + epsilon) / sqrt(a + epsilon) * g
        d = rho d + (1 - rho) delta^2;  w += lr * delta

    This is PyTorch's ``Adadelta`` exactly (epsilon inside both roots there too; torch's
    defaults are ``lr=1.0, eps=1e-6``).
    """

    _default_name = "adadelta"
    _slot_names = ("accumulated_grad", "accumulated_delta_var")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name,
                         **kwargs)
        where = type(self).__name__
        self.rho = _check_nonneg(rho, "rho", where, upper=1)
        self.epsilon = _check_nonneg(epsilon, "epsilon", where)

    def _update(self, index, value, grad, lr):
        rho, eps = self.rho, self.epsilon
        a = self._slot(index, "accumulated_grad", value)
        d = self._slot(index, "accumulated_delta_var", value)
        tmp = self._scratch(index, value)
        a *= rho
        np.multiply(grad, grad, out=tmp)
        tmp *= 1 - rho
        a += tmp  # a = rho a + (1 - rho) g^2
        delta = np.add(a, eps, out=np.empty_like(a))  # an array also when a is 0-d
        np.sqrt(delta, out=delta)
        np.add(d, eps, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(tmp, delta, out=delta)
        delta *= grad  # -delta of Keras: sqrt(d + eps) / sqrt(a + eps) * g
        d *= rho
        np.multiply(delta, delta, out=tmp)
        tmp *= 1 - rho
        d += tmp  # d = rho d + (1 - rho) delta^2
        delta *= lr
        value -= delta

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion (Chen et al., 2023), Keras 3's rule (``keras/src/optimizers/lion.py``) and
    defaults::

        w -= lr * sign(beta_1 m + (1 - beta_1) g)
        m = beta_2 m + (1 - beta_2) g

    ``sign(0) = 0``. PyTorch has no Lion; its tests follow the paper's formula.
    """

    _default_name = "lion"
    _slot_names = ("momentum",)

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name,
                         **kwargs)
        where = type(self).__name__
        self.beta_1 = _check_nonneg(beta_1, "beta_1", where, upper=1)
        if self.beta_1 == 0:
            raise ValueError(f"{where}: expected beta_1 in (0, 1] (at 0 Lion is SignSGD). "
                             f"Received: beta_1={beta_1!r}")
        self.beta_2 = _check_nonneg(beta_2, "beta_2", where, upper=1)

    def _update(self, index, value, grad, lr):
        m = self._slot(index, "momentum", value)
        tmp = self._scratch(index, value)
        np.multiply(m, self.beta_1, out=tmp)
        tmp += grad * (1 - self.beta_1)
        np.sign(tmp, out=tmp)
        tmp *= lr
        value -= tmp
        m *= self.beta_2
        m += grad * (1 - self.beta_2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Ftrl(Optimizer):
    """FTRL-proximal, Keras 3's rule (``keras/src/optimizers/ftrl.py``) and defaults. With
    ``p = -learning_rate_power``, ``l1``, ``l2 = l2_regularization_strength + beta / (2 lr)``
    and ``l2_shrinkage``; the accumulator ``n`` starts at ``initial_accumulator_value``::

        n_new = n + g^2
        z += g + 2 l2_shrinkage w - (n_new^p - n^p) / lr * w
        w = (clip(z, -l1, l1) - z) / (n_new^p / lr + 2 l2);  n = n_new

    PyTorch has no Ftrl; its tests follow this formula.
    """

    _default_name = "ftrl"
    _slot_names = ("accumulator", "linear")

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5,
                 initial_accumulator_value=0.1, l1_regularization_strength=0.0,
                 l2_regularization_strength=0.0, l2_shrinkage_regularization_strength=0.0,
                 beta=0.0, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name,
                         **kwargs)
        where = type(self).__name__
        power = learning_rate_power
        if (isinstance(power, bool) or not isinstance(power, numbers.Real)
                or not math.isfinite(power) or power > 0):
            raise ValueError(f"{where}: expected learning_rate_power <= 0. Received: "
                             f"learning_rate_power={power!r}")
        self.learning_rate_power = float(power)
        self.initial_accumulator_value = _check_nonneg(
            initial_accumulator_value, "initial_accumulator_value", where)
        self.l1_regularization_strength = _check_nonneg(
            l1_regularization_strength, "l1_regularization_strength", where)
        self.l2_regularization_strength = _check_nonneg(
            l2_regularization_strength, "l2_regularization_strength", where)
        self.l2_shrinkage_regularization_strength = _check_nonneg(
            l2_shrinkage_regularization_strength, "l2_shrinkage_regularization_strength", where)
        self.beta = _check_nonneg(beta, "beta", where)

    def _update(self, index, value, grad, lr):
        if lr == 0:
            raise ValueError(f"{self.name}: Ftrl divides by the learning rate, which is 0")
        slots = self._slots.setdefault(index, {})
        n = slots.get("accumulator")
        if n is None:
            n = slots["accumulator"] = np.full_like(value, self.initial_accumulator_value)
        z = self._slot(index, "linear", value)
        power = -self.learning_rate_power
        l1 = self.l1_regularization_strength
        l2 = self.l2_regularization_strength + self.beta / (2 * lr)
        old_power = np.power(n, power)
        n += grad * grad  # n_new
        new_power = np.power(n, power)
        z += grad
        if self.l2_shrinkage_regularization_strength:
            z += value * (2 * self.l2_shrinkage_regularization_strength)
        old_power -= new_power
        old_power *= value
        old_power /= lr
        z += old_power  # z -= (n_new^p - n^p) / lr * w
        new_power /= lr
        new_power += 2 * l2  # the quadratic term
        np.clip(z, -l1, l1, out=value)
        value -= z
        value /= new_power

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength":
                    self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


_BY_NAME = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW, "adagrad": Adagrad,
            "nadam": Nadam, "adamax": Adamax, "adadelta": Adadelta, "lion": Lion, "ftrl": Ftrl}


def get(identifier) -> Optimizer:
    """An optimizer from a name ("sgd", "rmsprop", "adam", "adamw", "adagrad", "nadam",
    "adamax", "adadelta", "lion", "ftrl"; any case, Keras defaults), an Optimizer instance
    (returned as is) or class, or a ``{"class_name", "config"}`` dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"optimizers.get: unknown optimizer {identifier!r}. "
                             f"Known: {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:
        cls = _BY_NAME.get(str(identifier["class_name"]).lower())
        if cls is None:
            raise ValueError(f"optimizers.get: unknown optimizer class "
                             f"{identifier['class_name']!r}. Known: {sorted(_BY_NAME)}")
        return cls.from_config(identifier.get("config", {}))
    raise ValueError(f"optimizers.get: could not interpret optimizer identifier {identifier!r}")
