"""Learning-rate schedules with Keras 3 names and formulas (``keras.optimizers.schedules``).

A schedule is a callable of the optimizer step (``optimizer.iterations`` *before* the update, so
the first update uses ``schedule(0)``) returning a Python float.

    ExponentialDecay        lr0 * rate ** (step / decay_steps)   (exponent floored if staircase)
    PiecewiseConstantDecay  values[0] while step <= boundaries[0], ..., values[-1] after the last
    CosineDecay             lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, T) / T)) + alpha),
                            optionally after a linear warmup from lr0 to warmup_target
    InverseTimeDecay        lr0 / (1 + rate * step / decay_steps)  (step / decay_steps floored
                            if staircase)
    PolynomialDecay         (lr0 - end) * (1 - min(step, T) / T) ** power + end; with cycle, T
                            is decay_steps times ceil(step / decay_steps) (1 at step 0)
    CosineDecayRestarts     SGDR: cosine decay over first_decay_steps, then restarts, each
                            period t_mul times longer and m_mul times lower
"""

from __future__ import annotations

import math
import numbers


def _check_step(step, where: str) -> float:
    try:
        value = float(step)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: expected the step to be a number. Received: step={step!r}") \
            from None
    if value < 0:
        raise ValueError(f"{where}: expected a step >= 0. Received: step={step!r}")
    return value


def _python_number(value):
    """A real number as a Python int or float (a numpy scalar would not go into JSON)."""
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _positive(value, name: str, where: str):
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{where}: expected {name} > 0. Received: {name}={value!r}")
    return _python_number(value)


def _number(value, name: str, where: str) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{where}: expected {name} to be a number. Received: {name}={value!r}")
    return float(value)


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step) -> float`` and ``get_config``."""

    def __call__(self, step) -> float:
        raise TypeError(f"{type(self).__name__} does not define __call__(step); schedules must")

    def get_config(self) -> dict:
        raise TypeError(f"{type(self).__name__} does not define get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _StepDecay(LearningRateSchedule):
    """What Keras's ExponentialDecay and InverseTimeDecay share: ``initial_learning_rate``
    decayed by ``decay_rate`` along ``p = step / decay_steps`` (floored with ``staircase``,
    so the rate drops every ``decay_steps`` steps)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name=None):
        where = type(self).__name__
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where)
        self.decay_steps = _positive(decay_steps, "decay_steps", where)
        self.decay_rate = _number(decay_rate, "decay_rate", where)
        self.staircase = bool(staircase)
        self.name = where if name is None else name

    def _progress(self, step) -> float:
        p = _check_step(step, self.name) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; with ``staircase`` the
    exponent is floored, so the rate drops every ``decay_steps`` steps."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step) -> float:
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """The "step" schedule: ``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]``.

    ``values`` has one more entry than the strictly increasing ``boundaries``.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        where = "PiecewiseConstantDecay"
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"{where}: expected len(values) == len(boundaries) + 1. Received: "
                             f"boundaries={boundaries} of length {len(boundaries)}, "
                             f"values={values} of length {len(values)}")
        for b in boundaries:
            _number(b, "boundaries", where)
        if any(b1 >= b2 for b1, b2 in zip(boundaries[:-1], boundaries[1:], strict=True)):
            raise ValueError(f"{where}: expected strictly increasing boundaries. Received: "
                             f"boundaries={boundaries}")
        self.boundaries = [_python_number(b) for b in boundaries]
        self.values = [_number(v, "values", where) for v in values]
        self.name = name

    def __call__(self, step) -> float:
        step = _check_step(step, self.name)
        for boundary, value in zip(self.boundaries, self.values[:-1], strict=True):
            if step <= boundary:
                return value
        return self.values[-1]

    def get_config(self) -> dict:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from the initial (or warmup target) rate to ``alpha`` times it over
    ``decay_steps``, then constant; an optional linear warmup of ``warmup_steps`` first goes
    from ``initial_learning_rate`` to ``warmup_target``."""

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        where = "CosineDecay"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where)
        self.decay_steps = _positive(decay_steps, "decay_steps", where)
        self.alpha = _number(alpha, "alpha", where)
        self.name = name
        self.warmup_target = (None if warmup_target is None
                              else _number(warmup_target, "warmup_target", where))
        if not isinstance(warmup_steps, numbers.Real) or warmup_steps < 0:
            raise ValueError(f"{where}: expected warmup_steps >= 0. Received: "
                             f"warmup_steps={warmup_steps!r}")
        self.warmup_steps = _python_number(warmup_steps)

    def _decay(self, step: float, start: float) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step) -> float:
        step = _check_step(step, self.name)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (step / self.warmup_steps) + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; with ``staircase``
    ``step / decay_steps`` is floored, so the rate drops every ``decay_steps`` steps."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step) -> float:
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class PolynomialDecay(LearningRateSchedule):
    """From ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps`` along
    ``(1 - step / decay_steps) ** power``, then constant; with ``cycle`` the decay starts
    again from a longer span, the first multiple of ``decay_steps`` not below the step."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        where = "PolynomialDecay"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where)
        self.decay_steps = _positive(decay_steps, "decay_steps", where)
        self.end_learning_rate = _number(end_learning_rate, "end_learning_rate", where)
        self.power = _number(power, "power", where)
        self.cycle = bool(cycle)
        self.name = name

    def __call__(self, step) -> float:
        step = _check_step(step, self.name)
        span = self.decay_steps
        if self.cycle:
            span = span * (1.0 if step == 0 else math.ceil(step / self.decay_steps))
        else:
            step = min(step, span)
        fraction = 1 - step / span
        return ((self.initial_learning_rate - self.end_learning_rate) * fraction ** self.power
                + self.end_learning_rate)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "end_learning_rate": self.end_learning_rate,
                "power": self.power, "cycle": self.cycle, "name": self.name}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter), Keras's formula: the
    multiplier decays from 1 to ``alpha`` over ``first_decay_steps``; then it restarts, each
    period ``t_mul`` times longer than the last and starting ``m_mul`` times lower
    (``alpha`` stays a fraction of ``initial_learning_rate``)."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0,
                 alpha=0.0, name="SGDRDecay"):
        where = "CosineDecayRestarts"
        self.initial_learning_rate = _number(initial_learning_rate, "initial_learning_rate", where)
        self.first_decay_steps = _positive(first_decay_steps, "first_decay_steps", where)
        self.t_mul = _positive(t_mul, "t_mul", where)
        self.m_mul = _number(m_mul, "m_mul", where)
        self.alpha = _number(alpha, "alpha", where)
        self.name = name

    def __call__(self, step) -> float:
        fraction = _check_step(step, self.name) / self.first_decay_steps
        if self.t_mul == 1.0:
            i_restart = math.floor(fraction)
            fraction -= i_restart
        else:  # periods t_mul ** i: restart i starts at (1 - t_mul ** i) / (1 - t_mul)
            t_mul = self.t_mul
            inside = 1.0 - fraction * (1.0 - t_mul)
            if inside <= 0:  # t_mul < 1: the shrinking periods end at 1 / (1 - t_mul)
                raise ValueError(
                    f"{self.name}: with t_mul={t_mul!r} < 1 the periods shrink and end after "
                    f"first_decay_steps / (1 - t_mul) = "
                    f"{self.first_decay_steps / (1.0 - t_mul):g} steps (Keras's rate is NaN "
                    f"from there). Received: step={step!r}")

            def start(i):
                return (1.0 - t_mul ** i) / (1.0 - t_mul)

            i_restart = math.floor(math.log(inside) / math.log(t_mul))
            # the logarithms' rounding can put a step that starts a period in the one before
            # (t_mul=3: log(243) / log(3) = 4.999...): settle the period by its start
            while start(i_restart + 1) <= fraction:
                i_restart += 1
            while i_restart > 0 and start(i_restart) > fraction:
                i_restart -= 1
            fraction = (fraction - start(i_restart)) / t_mul ** i_restart
        cosine = 0.5 * self.m_mul ** i_restart * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict:
        return {"initial_learning_rate": self.initial_learning_rate,
                "first_decay_steps": self.first_decay_steps, "t_mul": self.t_mul,
                "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay,
                                           InverseTimeDecay, PolynomialDecay,
                                           CosineDecayRestarts)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": ...}`` (JSON-ready), as Keras serialises schedules."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict) -> LearningRateSchedule:
    """The schedule described by :func:`serialize`'s output."""
    name = config.get("class_name")
    if name not in SCHEDULES:
        raise ValueError(f"schedules.deserialize: unknown schedule {name!r}. "
                         f"Known: {sorted(SCHEDULES)}")
    return SCHEDULES[name].from_config(dict(config.get("config", {})))
