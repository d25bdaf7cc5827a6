"""Check a layer's or model's backward pass against central finite differences.

This is the check npconv's own tests use, for anyone who writes a layer::

    from npconv.gradcheck import gradient_check
    report = gradient_check(MyLayer(), x)      # prints a table, returns a report
    assert report.passed

How it works, in float64 whatever the layer's dtype:

1. A float64 copy of the layer or model is made (the original is never touched).
2. The loss is ``L = sum(out * R)`` for a fixed random ``R`` (so ``dL/dout = R``), or a real
   loss ``loss(y, out)`` when ``y`` is given.
3. The analytic gradients come from one ``backward`` pass: every trainable weight's ``grad`` and
   the gradient w.r.t. the input.
4. For a few coordinates of each tensor (all of them for tensors with at most ``max_checks``
   entries) the numerical gradient is ``(L(v + eps) - L(v - eps)) / (2 eps)``.
5. A coordinate's relative error is ``|a - n| / max(|a|, |n|, floor)``: relative where
   gradients are large, and not fooled by rounding noise on tiny entries. ``floor`` is the
   larger of ``1e-3 * scale`` (``scale``: the tensor's largest gradient entry) and
   ``10 * noise / rtol``, ``noise = 2**-52 * max(|L|, 1) / eps`` being the rounding error of one
   difference quotient (what finite differences cannot resolve). A tensor passes when its
   largest error is ``<= rtol``.

It also checks the backward contract (``docs/internals.md``): backward must not modify
``d_out``, and calling it twice must give identical gradients. A forward pass that is not
deterministic cannot be checked and is reported as a failure; npconv's own random layers
(Dropout) are made deterministic by rewinding their generators before every forward pass.
Finite differences are meaningless exactly at kinks (ReLU at 0, ties in max pooling); random
continuous inputs avoid them with probability one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .random import make_generator

__all__ = ["GradCheckRow", "GradCheckReport", "gradient_check"]


@dataclass(frozen=True)
class GradCheckRow:
    """The result for one tensor: a trainable weight or an input."""

    name: str
    shape: tuple
    checked: int            # coordinates compared
    max_abs_error: float
    max_rel_error: float
    passed: bool
    note: str = ""


@dataclass
class GradCheckReport:
    """Rows per tensor plus contract notes; ``passed`` is True when everything passed."""

    rows: list[GradCheckRow]
    eps: float
    rtol: float
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems and all(r.passed for r in self.rows)

    def __bool__(self) -> bool:
        return self.passed

    def row(self, name: str) -> GradCheckRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"gradient_check report: no row {name!r}; rows: "
                       f"{[r.name for r in self.rows]}")

    def __str__(self) -> str:
        name_w = max([len("name")] + [len(r.name) for r in self.rows])
        shape_w = max([len("shape")] + [len(str(r.shape)) for r in self.rows])
        lines = [f"Gradient check (float64, central differences, eps={self.eps:g}, "
                 f"rtol={self.rtol:g})",
                 f"{'name':<{name_w}}  {'shape':<{shape_w}}  checked  max abs err  "
                 f"max rel err  result"]
        for r in self.rows:
            result = "ok" if r.passed else "FAIL"
            if r.note:
                result += f" ({r.note})"
            lines.append(f"{r.name:<{name_w}}  {str(r.shape):<{shape_w}}  {r.checked:>7}  "
                         f"{r.max_abs_error:>11.2e}  {r.max_rel_error:>11.2e}  {result}")
        lines.extend(f"problem: {p}" for p in self.problems)
        lines.append("PASSED: every checked gradient matches its finite differences"
                     if self.passed else "FAILED")
        return "\n".join(lines)


# ---------------------------------------------------------------------------- helpers
def _is_model(obj) -> bool:
    from .models.functional import Model

    return isinstance(obj, Model)


def _layers_of(obj):
    """The layers of a model or layer, and the sublayers of composite layers among them."""
    layers = obj._flat_layers() if _is_model(obj) else [obj]  # (a nested model's layers)
    return [inner for layer in layers for inner in [layer, *_sublayers_of(layer)]]


def _sublayers_of(layer):
    subs = getattr(layer, "_sublayer_list", ())
    return [inner for sub in subs for inner in [sub, *_sublayers_of(sub)]]


def _float64_clone(obj):
    """A deep copy of ``obj`` whose weights (and future weights) are float64. What a model
    keeps of its batches run in parts (``_parallel_run``: the helper processes and their
    locks; ``_process_state``: the weights' shared-memory mapping) is not copied: the
    clone's own passes run in one piece or set up their own."""
    memo = {id(held): None for held in (getattr(obj, name, None) for name in
                                        ("_parallel_run", "_process_state"))
            if held is not None}
    clone = copy.deepcopy(obj, memo)
    for layer in _layers_of(clone):
        layer.dtype = np.dtype(np.float64)
        for w in layer.weights:
            w.value = np.array(w.value, dtype=np.float64, order="C")
            w.grad = None
    return clone


def _as_float64_inputs(x):
    if isinstance(x, (list, tuple)):
        return [np.array(a, dtype=np.float64, order="C") for a in x], True
    return [np.array(x, dtype=np.float64, order="C")], False


def _outputs_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _pick(size: int, max_checks: int, rng) -> np.ndarray:
    if size <= max_checks:
        return np.arange(size)
    return np.sort(rng.choice(size, size=max_checks, replace=False))


# ---------------------------------------------------------------------------- the check
def gradient_check(layer_or_model, x, y=None, loss=None, eps=1e-6, rtol=1e-5, max_checks=30,
                   training=True, seed=0, check_input=True, print_fn=print) -> GradCheckReport:
    """Compare ``layer_or_model``'s backward with central finite differences in float64.

    layer_or_model: an npconv ``Layer`` (built or not) or ``Model``; it is copied, never changed.
    x: the input array (a list for multi-input layers/models). Any float or int dtype.
    y, loss: when ``y`` is given, the loss is ``loss(y, out)`` (an npconv loss object or Keras
    name; default the model's compiled loss); otherwise ``sum(out * R)`` for a fixed random ``R``.
    eps: finite-difference step. rtol: largest relative error that passes (see module doc).
    max_checks: coordinates compared per tensor (chosen at random with ``seed``).
    training: passed to the forward pass (True checks the training path, e.g. batch norm's
    batch statistics). check_input: also check the gradient w.r.t. ``x``.
    print_fn: receives the report's table (``None`` prints nothing).
    Returns a :class:`GradCheckReport` (``.passed``, ``.rows``, ``str(report)``).
    """
    where = "gradient_check"
    from .layers.base import Layer

    if not isinstance(layer_or_model, Layer) and not _is_model(layer_or_model):
        raise TypeError(f"{where}: expected an npconv Layer or Model. "
                        f"Received {type(layer_or_model).__name__}")
    if not eps > 0 or not rtol > 0:
        raise ValueError(f"{where}: expected eps > 0 and rtol > 0. Received: eps={eps!r}, "
                         f"rtol={rtol!r}")
    if int(max_checks) < 1:
        raise ValueError(f"{where}: expected max_checks >= 1. Received: max_checks={max_checks!r}")
    rng = make_generator(seed)
    is_model = _is_model(layer_or_model)
    clone = _float64_clone(layer_or_model)
    xs, multi = _as_float64_inputs(x)

    # Random layers (Dropout) draw from npconv's shared generator or their own: rewinding
    # them before every forward pass gives the same masks each time, so the function being
    # differentiated is fixed. The caller's shared generator is left as it was.
    from . import random as npconv_random

    shared = npconv_random.global_generator()
    for layer in _layers_of(clone):
        if hasattr(layer, "own_generator"):
            layer.own_generator()  # (a seeded Dropout makes its generator at its first draw)
    generators = [shared] + [v for layer in _layers_of(clone) for v in vars(layer).values()
                             if isinstance(v, np.random.Generator) and v is not shared]
    rng_states = [g.bit_generator.state for g in generators]

    def forward():
        for g, state in zip(generators, rng_states, strict=True):
            g.bit_generator.state = state
        return clone.forward(xs if multi else xs[0], training=training)

    out = forward()
    outs = _outputs_list(out)
    if y is None:
        R = [rng.standard_normal(np.shape(o)) for o in outs]

        def loss_and_grad(o):
            os_ = _outputs_list(o)
            return (float(sum(np.sum(a * r) for a, r in zip(os_, R, strict=True))),
                    [r.copy() for r in R])
    else:
        from .training import losses as losses_module

        loss_obj = loss if loss is not None else getattr(layer_or_model, "loss", None)
        if loss_obj is None:
            raise ValueError(f"{where}: y was given but no loss: pass loss=... (a name such as "
                             "'sparse_categorical_crossentropy' or an npconv loss object)")
        loss_obj = losses_module.get(loss_obj)
        if len(outs) != 1:
            raise ValueError(f"{where}: a loss with y needs a single-output model; use y=None "
                             f"for {len(outs)} outputs")

        def loss_and_grad(o):
            value, grad = loss_obj.forward_backward(y, o)
            return float(value), [np.asarray(grad, dtype=np.float64)]

    def loss_value():  # (an activity regularizer's penalty is part of it: its backward
        value = loss_and_grad(forward())[0]  # adds the penalty's gradient)
        return value + sum(layer._activity_loss for layer in _layers_of(clone)
                           if getattr(layer, "activity_regularizer", None) is not None)

    problems = []
    out_again = _outputs_list(forward())
    if not all(np.array_equal(a, b) for a, b in zip(outs, out_again, strict=True)):
        problems.append("two forward passes on the same input differ (randomness not drawn "
                        "from npconv's generators?): finite differences cannot be trusted")

    # ---- analytic gradients (twice: backward must be repeatable and leave d_out alone)
    # named "layer/weight" in a model or a composite layer (the sublayer that holds it)
    holder = {id(w): layer.name for layer in _layers_of(clone) for w in layer._weights
              if getattr(layer, "_graph", None) is None}
    top = clone._flat_layers() if is_model else [clone]
    nested = is_model or bool(getattr(clone, "_sublayer_list", ()))
    weights = [(f"{holder.get(id(w), layer.name)}/{w.name}" if nested else w.name, w)
               for layer in top for w in layer.trainable_weights]

    def backward(d_out):
        d_arg = d_out if isinstance(out, (list, tuple)) else d_out[0]
        if is_model:
            return clone.backward(d_arg, need_input_grad=True)
        clone.need_input_grad = True
        return clone.backward(d_arg)

    out = forward()
    _, d_out = loss_and_grad(out)
    d_out_before = [d.copy() for d in d_out]
    dx = backward(d_out)
    grads = [None if w.grad is None else np.array(w.grad, dtype=np.float64) for _, w in weights]
    if not all(np.array_equal(a, b) for a, b in zip(d_out, d_out_before, strict=True)):
        problems.append("backward modified its d_out argument")
    dx2 = backward(d_out_before)
    grads2 = [None if w.grad is None else np.array(w.grad) for _, w in weights]
    dxs = _outputs_list(dx) if multi else [dx]
    dxs2 = _outputs_list(dx2) if multi else [dx2]
    repeat_ok = all((a is None and b is None) or (a is not None and b is not None
                                                  and np.array_equal(a, b))
                    for a, b in zip(grads + dxs, grads2 + dxs2, strict=True))
    if not repeat_ok:
        problems.append("calling backward twice gave different gradients")

    # ---- numerical gradients
    targets = [(name, w.value, g) for (name, w), g in zip(weights, grads, strict=True)]
    if check_input:
        for k, (xa, g) in enumerate(zip(xs, dxs, strict=True)):
            name = f"input[{k}]" if multi else "input"
            targets.append((name, xa, None if g is None else np.asarray(g, dtype=np.float64)))

    # Rounding error of one difference quotient: what finite differences cannot resolve.
    noise = np.finfo(np.float64).eps * max(abs(loss_value()), 1.0) / eps
    rows = []
    for name, array, analytic in targets:
        shape = tuple(array.shape)
        if analytic is None or np.shape(analytic) != shape:
            note = ("no gradient computed" if analytic is None
                    else f"gradient has shape {np.shape(analytic)}")
            rows.append(GradCheckRow(name, shape, 0, np.inf, np.inf, False, note))
            continue
        idx = _pick(array.size, int(max_checks), rng)
        numeric = np.empty(len(idx))
        flat = array.reshape(-1)   # a view: perturbing it perturbs the weight or the input
        for n, k in enumerate(idx):
            original = flat[k]
            flat[k] = original + eps
            plus = loss_value()
            flat[k] = original - eps
            minus = loss_value()
            flat[k] = original
            numeric[n] = (plus - minus) / (2 * eps)
        a = analytic.reshape(-1)[idx]
        scale = max(float(np.max(np.abs(analytic))), float(np.max(np.abs(numeric))), 1e-300)
        floor = max(1e-3 * scale, 10 * noise / rtol)
        abs_err = np.abs(a - numeric)
        rel_err = abs_err / np.maximum(np.maximum(np.abs(a), np.abs(numeric)), floor)
        worst = float(rel_err.max())
        finite = bool(np.all(np.isfinite(a)) and np.all(np.isfinite(numeric)))
        rows.append(GradCheckRow(name, shape, len(idx), float(abs_err.max()), worst,
                                 finite and worst <= rtol, "" if finite else "not finite"))
    shared.bit_generator.state = rng_states[0]
    report = GradCheckReport(rows, float(eps), float(rtol), problems)
    if print_fn is not None:
        print_fn(str(report))
    return report
