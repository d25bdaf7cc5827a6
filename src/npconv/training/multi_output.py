"""Training a model with several outputs, as Keras does.

``compile(loss=...)`` takes one loss for every output, a list in output order, or a dict by
output name (an output without a loss is not trained); ``loss_weights`` (a list or a dict)
scale them. The training loss is ``sum_i w_i * loss_i(y_i, pred_i)`` and each output's
gradient is ``w_i`` times its own loss's gradient. ``metrics`` are given per output (a list
of lists or a dict by output name; a flat list with one entry per output), and logs name
them ``"<output>_<metric>"`` beside ``"<output>_loss"``; ``weighted_metrics`` take the same
forms, are weighted by the sample weights (one per sample, for every output) and come after
them in the logs (``"<output>_weighted_<metric>"`` where the name is already taken, as
Keras). Targets come as a list in output order or a dict by output name.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import losses as losses_module
from . import metrics as metrics_module


def _per_output(value, names, what, where):
    """``value`` as a list with one entry per output: a list/tuple of that length, a dict by
    output name (missing names give None), or one value for every output."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"{where}: {what} is keyed by output name; the outputs are "
                             f"{names}. Received unknown keys {unknown}")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"{where}: expected {what} for each of the {len(names)} outputs "
                             f"{names}. Received {len(value)}")
        return list(value)
    return [value] * len(names)


class MultiOutputLoss:
    """The weighted sum of one loss per output; ``y_true`` and ``y_pred`` are lists in output
    order. ``last_values`` holds each output's reduced loss of the last call (None for an
    output without a loss), read by the ``"<output>_loss"`` metrics."""

    def __init__(self, losses, loss_weights=None, output_names=None, name="loss"):
        names = list(output_names) if output_names is not None else [
            f"output_{i}" for i in range(len(losses))]
        self.output_names = names
        self.losses = [None if spec is None else losses_module.get(spec) for spec in losses]
        if len(self.losses) != len(names):
            raise ValueError(f"compile: expected one loss per output ({len(names)}). "
                             f"Received {len(self.losses)}")
        if all(loss is None for loss in self.losses):
            raise ValueError("compile: every output's loss is None: nothing to train")
        for loss, output in zip(self.losses, names, strict=True):
            if loss is not None:
                losses_module.check_reduces(loss, f"compile: output {output!r}")
        weights = _per_output(1.0 if loss_weights is None else loss_weights, names,
                              "loss_weights", "compile")
        for w in weights:
            if w is not None and (not isinstance(w, numbers.Real) or not np.isfinite(w)):
                raise ValueError(f"compile: expected loss_weights to be finite numbers. "
                                 f"Received {weights}")
        self.loss_weights = [1.0 if w is None else float(w) for w in weights]
        self.name = name
        self.last_values: list = [None] * len(names)

    def _check(self, y_true, y_pred):
        if not isinstance(y_pred, list) or len(y_pred) != len(self.losses):
            raise ValueError(f"{self.name}: expected the model's {len(self.losses)} outputs")
        if not isinstance(y_true, list) or len(y_true) != len(self.losses):
            raise ValueError(f"{self.name}: expected targets for each of the outputs "
                             f"{self.output_names}")

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        self._check(y_true, y_pred)
        total = 0.0
        for i, (loss, w) in enumerate(zip(self.losses, self.loss_weights, strict=True)):
            if loss is None:
                continue
            self.last_values[i] = loss(y_true[i], y_pred[i], sample_weight=sample_weight)
            total += w * self.last_values[i]
        return total

    def forward_backward(self, y_true, y_pred, sample_weight=None):
        """``(total loss, [d y_pred_i])``: an output without a loss gets a zero gradient."""
        self._check(y_true, y_pred)
        total, grads = 0.0, []
        for i, (loss, w) in enumerate(zip(self.losses, self.loss_weights, strict=True)):
            pred = np.asarray(y_pred[i])
            if loss is None:
                grads.append(np.zeros_like(pred))
                continue
            value, grad = loss.forward_backward(y_true[i], pred, sample_weight=sample_weight)
            self.last_values[i] = value
            total += w * value
            grads.append(grad * grad.dtype.type(w) if w != 1.0 else grad)
        return total, grads

    def get_config(self) -> dict:
        return {"losses": [None if loss is None else
                           {"class_name": type(loss).__name__, "config": loss.get_config()}
                           for loss in self.losses],
                "loss_weights": self.loss_weights, "output_names": self.output_names,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        parts = ", ".join(f"{n}: {loss.name if loss else None} x {w:g}" for n, loss, w in
                          zip(self.output_names, self.losses, self.loss_weights, strict=True))
        return f"MultiOutputLoss({parts})"


class OutputLoss(metrics_module.Metric):
    """``"<output>_loss"``: the mean over batches of one output's reduced loss, as computed
    by the model's :class:`MultiOutputLoss` in the same step (weighted by batch size).

    Its ``_direction`` is "down", so that ``mode="auto"`` minimises ``"<output>_loss"``
    (Keras 3.15 knows only ``"loss"`` and raises for it, as for ``"<output>_<metric>"``)."""

    _direction = "down"

    def __init__(self, loss: MultiOutputLoss, index: int):
        self.loss, self.index = loss, index
        super().__init__(f"{loss.output_names[index]}_loss")

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        value = self.loss.last_values[self.index]
        n = len(y_pred[self.index])
        self.total += float(value) * n
        self.count += n


class OutputMetric(metrics_module.CompiledMetric):
    """A metric of one output, named ``"<output>_<metric>"`` (or as :func:`metrics.log_names`
    renames it); weighted by the batch's sample weights if it came from ``weighted_metrics``."""

    def __init__(self, metric: metrics_module.Metric, index: int, output_name: str,
                 weighted: bool = False, name: str | None = None):
        self.index = index
        super().__init__(metric, name or f"{output_name}_{metric.name}", weighted)

    def _targets(self, y_true, y_pred):
        return y_true[self.index], y_pred[self.index]


def metric_specs(metrics, names, where, what="metrics") -> dict:
    """``compile``'s ``metrics`` (or ``weighted_metrics``) for several outputs as
    ``{output name: [specs]}``."""
    if metrics is None:
        return {name: [] for name in names}
    if isinstance(metrics, dict):
        per = _per_output(metrics, names, what, where)
    elif isinstance(metrics, (list, tuple)) and len(metrics) == len(names):
        per = list(metrics)
    else:
        raise ValueError(f"{where}: for a model with the outputs {names}, expected {what} "
                         "as a list with one entry per output (a metric or a list of them) "
                         f"or a dict by output name. Received {metrics!r}")
    return {name: [] if m is None else list(m) if isinstance(m, (list, tuple)) else [m]
            for name, m in zip(names, per, strict=True)}


def make_metrics(loss: MultiOutputLoss, specs: dict, weighted_specs: dict | None = None) -> list:
    """The per-output losses, then each output's metrics, then each output's weighted
    metrics, reset (Keras's order of logs, and its names: :func:`metrics.log_names`)."""
    objs: list = [OutputLoss(loss, i) for i, inner in enumerate(loss.losses)
                  if inner is not None]
    built = []  # (inner metric, output index, weighted)
    for weighted, per_output in ((False, specs), (True, weighted_specs or {})):
        for i, name in enumerate(loss.output_names):
            for spec in per_output.get(name, []):
                built.append((metrics_module.get(spec, loss=loss.losses[i]), i, weighted))
    names = metrics_module.log_names(
        [(f"{loss.output_names[i]}_", inner.name, weighted) for inner, i, weighted in built])
    for (inner, i, weighted), log_name in zip(built, names, strict=True):
        objs.append(OutputMetric(inner, i, loss.output_names[i], weighted, log_name))
    for m in objs:
        m.reset_state()
    return objs


def targets(model, y, where):
    """``y`` for a model with several outputs as a list of arrays in output order."""
    names = model._output_keys_or_names()
    if isinstance(y, dict):
        missing = sorted(set(names) - set(y))
        unknown = sorted(set(y) - set(names))
        if missing or unknown:
            raise ValueError(f"{model.name}.{where}: expected targets keyed by the output names "
                             f"{names}. Received keys {sorted(map(str, y))}")
        return [np.asarray(y[name]) for name in names]
    if not isinstance(y, (list, tuple)) or len(y) != len(names):
        raise ValueError(f"{model.name}.{where}: expected targets for each of the "
                         f"{len(names)} outputs {names} (a list in output order or a dict by "
                         f"output name). Received {type(y).__name__}"
                         + (f" of {len(y)}" if isinstance(y, (list, tuple)) else ""))
    return [np.asarray(a) for a in y]
