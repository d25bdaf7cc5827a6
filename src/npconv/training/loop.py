"""compile / fit / evaluate / predict: the Keras training loop over npconv models.

One training step: forward (training=True) -> loss and its gradient w.r.t. the output
(fused with a softmax or sigmoid output layer) -> model.backward -> optimizer step.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from ..random import make_generator
from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module


# ---------------------------------------------------------------------------- compile
def compile(model, optimizer="rmsprop", loss=None, metrics=None):  # noqa: A001 - Keras name
    """Configure ``model`` for training: optimizer, loss and metrics (Keras names or objects)."""
    if loss is None:
        raise ValueError(f"{model.name}.compile: a loss is required, e.g. "
                         "loss='sparse_categorical_crossentropy'")
    model.optimizer = optimizers_module.get(optimizer)
    model.loss = losses_module.get(loss)
    model._metric_specs = list(metrics or [])
    model.compiled = True
    model._fused = None  # decided once the graph is known


def _require_compiled(model, what):
    if not getattr(model, "compiled", False):
        raise RuntimeError(f"{model.name}: call model.compile(optimizer, loss, metrics) before "
                           f"{what}")


def _make_metrics(model):
    """Metrics starting from zero: a Metric instance given to compile is the same object each
    time, so its state is reset (as Keras does at every epoch and evaluate)."""
    metric_objs = [metrics_module.get(m, loss=model.loss) for m in model._metric_specs]
    for m in metric_objs:
        m.reset_state()
    return metric_objs


def _fusion(model):
    """'softmax' or 'sigmoid' when the loss gradient can be fused with the output activation."""
    if model._fused is None:
        model._fused = ""
        if not model._multi_output and model._nodes:
            last = model._nodes[-1].layer
            act = getattr(last, "activation", None)
            name = getattr(act, "name", None)
            if not getattr(model.loss, "from_logits", True):
                if name == "softmax" and hasattr(model.loss, "fused_softmax_backward"):
                    axis_ok = getattr(act, "axis", -1) in (-1, None)
                    model._fused = "softmax" if axis_ok else ""
                elif name == "sigmoid" and hasattr(model.loss, "fused_sigmoid_backward"):
                    model._fused = "sigmoid"
    return model._fused


# ---------------------------------------------------------------------------- data
def _check_xy(model, x, y, where):
    if getattr(model, "_multi_input", False):
        if len(model.inputs) == 1 and not isinstance(x, (list, tuple)):
            x = [x]
        x = [np.asarray(a) for a in x] if isinstance(x, (list, tuple)) else np.asarray(x)
    else:
        # One input: a Python list is the samples themselves (nested lists), or [array].
        if isinstance(x, (list, tuple)) and len(x) == 1 and np.ndim(x[0]) > 1:
            x = x[0]
        x = np.asarray(x)
    if not isinstance(x, list) and x.ndim == 0:
        raise ValueError(f"{model.name}.{where}: expected x as an array of samples. "
                         f"Received {type(x).__name__}")
    n = len(x[0]) if isinstance(x, list) else len(x)
    if y is not None:
        y = np.asarray(y)
        if len(y) != n:
            raise ValueError(f"{model.name}.{where}: x and y must have the same number of samples."
                             f" Received {n} inputs and {len(y)} targets")
    if n == 0:
        raise ValueError(f"{model.name}.{where}: received an empty dataset")
    return x, y, n


def _take(x, idx):
    return [a[idx] for a in x] if isinstance(x, list) else x[idx]


def _batch_slices(n, batch_size):
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def _check_batch_size(model, batch_size, where):
    if batch_size is None:
        return 32
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{model.name}.{where}: expected batch_size to be a positive int. "
                         f"Received: batch_size={batch_size!r}")
    return int(batch_size)


# ---------------------------------------------------------------------------- steps
def _train_step(model, xb, yb, metric_objs):
    y_pred = model.forward(xb, training=True)
    fused = _fusion(model)
    if fused == "softmax":
        loss_value, d_out = model.loss.fused_softmax_backward(yb, y_pred)
    elif fused == "sigmoid":
        loss_value, d_out = model.loss.fused_sigmoid_backward(yb, y_pred)
    else:
        loss_value, d_out = model.loss.forward_backward(yb, y_pred)
    model.backward(d_out, fused_output_activation=bool(fused))
    model.optimizer.apply_gradients(model.trainable_weights)
    for m in metric_objs:
        m.update_state(yb, y_pred)
    return float(loss_value), len(yb)


def train_on_batch(model, x, y, return_dict=False):
    """One optimizer step on one batch; returns the loss (and metrics) on that batch."""
    _require_compiled(model, "train_on_batch")
    x, y, _ = _check_xy(model, x, y, "train_on_batch")
    metric_objs = _make_metrics(model)
    loss_value, _ = _train_step(model, x, y, metric_objs)
    return _format_results(loss_value, metric_objs, return_dict)


def test_on_batch(model, x, y, return_dict=False):
    """Loss and metrics on one batch, in inference mode."""
    _require_compiled(model, "test_on_batch")
    x, y, _ = _check_xy(model, x, y, "test_on_batch")
    metric_objs = _make_metrics(model)
    y_pred = model.forward(x, training=False)
    for m in metric_objs:
        m.update_state(y, y_pred)
    return _format_results(float(model.loss(y, y_pred)), metric_objs, return_dict)


def predict_on_batch(model, x):
    """The model's output on one batch, in inference mode."""
    return model.forward(x, training=False)


def _format_results(loss_value, metric_objs, return_dict):
    if return_dict:
        return {"loss": loss_value, **{m.name: float(m.result()) for m in metric_objs}}
    if not metric_objs:
        return loss_value
    return [loss_value] + [float(m.result()) for m in metric_objs]


# ---------------------------------------------------------------------------- fit
def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"expected verbose to be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    return verbose


def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0, seed=None):
    """Train ``model`` for ``epochs`` passes over ``(x, y)``; returns a ``History``.

    As Keras: ``validation_split`` holds out the *last* fraction of the samples (before
    shuffling); ``validation_data=(x_val, y_val)`` takes precedence. Shuffling draws from
    ``seed`` or the run-wide generator (``npconv.utils.set_random_seed``).
    """
    _require_compiled(model, "fit")
    verbose = _resolve_verbose(verbose)
    batch_size = _check_batch_size(model, batch_size, "fit")
    x, y, n = _check_xy(model, x, y, "fit")
    if y is None:
        raise ValueError(f"{model.name}.fit: y (the targets) is required")
    if not 0.0 <= float(validation_split) < 1.0:
        raise ValueError(f"{model.name}.fit: expected validation_split in [0, 1). "
                         f"Received: validation_split={validation_split!r}")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"{model.name}.fit: expected epochs to be a non-negative int. "
                         f"Received: epochs={epochs!r}")
    if validation_data is None and validation_split:
        n_val = int(math.floor(n * float(validation_split)))
        if n_val == 0 or n_val == n:
            raise ValueError(f"{model.name}.fit: validation_split={validation_split} leaves "
                             f"{n - n_val} training and {n_val} validation samples out of {n}")
        split = n - n_val
        validation_data = (_take(x, slice(split, None)), y[split:])
        x, y, n = _take(x, slice(0, split)), y[:split], split
    if validation_data is not None:
        if len(validation_data) != 2:
            raise ValueError(f"{model.name}.fit: expected validation_data=(x_val, y_val). "
                             f"Received a tuple of {len(validation_data)}")
        _check_xy(model, validation_data[0], validation_data[1], "fit(validation_data)")

    rng = make_generator(seed)
    model._ensure_graph_for([x[0] if isinstance(x, list) else x])
    history = callbacks_module.History()
    cb_list = callbacks_module.CallbackList(
        list(callbacks or []), model=model, verbose=verbose, epochs=epochs,
        steps=math.ceil(n / batch_size), history=history)
    model.stop_training = False
    cb_list.on_train_begin()
    slices = _batch_slices(n, batch_size)
    for epoch in range(initial_epoch, epochs):
        cb_list.on_epoch_begin(epoch)
        order = rng.permutation(n) if shuffle else None
        metric_objs = _make_metrics(model)
        loss_sum, seen = 0.0, 0
        for step, sl in enumerate(slices):
            idx = order[sl] if order is not None else sl
            cb_list.on_train_batch_begin(step)
            batch_loss, count = _train_step(model, _take(x, idx), y[idx], metric_objs)
            loss_sum += batch_loss * count
            seen += count
            logs = {"loss": loss_sum / seen, **{m.name: float(m.result()) for m in metric_objs}}
            cb_list.on_train_batch_end(step, logs)
            if model.stop_training:
                break
        epoch_logs = dict(logs)
        if validation_data is not None:
            val = evaluate(model, validation_data[0], validation_data[1],
                           batch_size=batch_size, verbose=0, return_dict=True)
            epoch_logs.update({f"val_{k}": v for k, v in val.items()})
        cb_list.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    cb_list.on_train_end()
    model.history = history
    return history


# ---------------------------------------------------------------------------- evaluate / predict
def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", return_dict=False,
             callbacks=None):
    """Loss and metrics over ``(x, y)`` in inference mode, as Keras returns them."""
    _require_compiled(model, "evaluate")
    verbose = _resolve_verbose(verbose)
    batch_size = _check_batch_size(model, batch_size, "evaluate")
    x, y, n = _check_xy(model, x, y, "evaluate")
    if y is None:
        raise ValueError(f"{model.name}.evaluate: y (the targets) is required")
    metric_objs = _make_metrics(model)
    loss_sum = 0.0
    bar = _progress(verbose, len(_batch_slices(n, batch_size)), "evaluate")
    for sl in _batch_slices(n, batch_size):
        y_pred = model.forward(_take(x, sl), training=False)
        loss_sum += float(model.loss(y[sl], y_pred)) * len(y[sl])
        for m in metric_objs:
            m.update_state(y[sl], y_pred)
        if bar is not None:
            bar.update(1)
            bar.set_postfix({"loss": f"{loss_sum / (sl.stop):.4f}",
                             **{m.name: f"{float(m.result()):.4f}" for m in metric_objs}})
    if bar is not None:
        bar.close()
    return _format_results(loss_sum / n, metric_objs, return_dict)


def predict(model, x, batch_size=None, verbose=0, callbacks=None):
    """The model's outputs for ``x``, computed in batches in inference mode."""
    verbose = _resolve_verbose(verbose)
    batch_size = _check_batch_size(model, batch_size, "predict")
    x, _, n = _check_xy(model, x, None, "predict")
    outs = []
    bar = _progress(verbose, len(_batch_slices(n, batch_size)), "predict")
    for sl in _batch_slices(n, batch_size):
        outs.append(model.forward(_take(x, sl), training=False))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if isinstance(outs[0], list):
        return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
    return np.concatenate(outs) if len(outs) > 1 else outs[0]


def _progress(verbose, total, desc):
    if verbose != 1:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stdout, leave=True,
                dynamic_ncols=True)


# ---------------------------------------------------------------------------- saving
def save(model, path, include_optimizer=True):
    """Save architecture, weights and (optionally) optimizer state to one file (see npconv.io)."""
    from .. import io

    io.save_model(model, path, include_optimizer=include_optimizer)


def save_weights(model, path):
    """Save only the weights (safetensors)."""
    from .. import io

    io.save_weights(model, path)


def load_weights(model, path):
    """Load weights saved by :func:`save_weights` or :func:`save` into ``model``."""
    from .. import io

    io.load_weights(model, path)
