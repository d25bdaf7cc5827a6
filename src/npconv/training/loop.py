"""compile / fit / evaluate / predict: the Keras training loop over npconv models.

One training step: forward (training=True) -> loss and its gradient w.r.t. the output
(fused with a softmax or sigmoid output layer) -> model.backward -> the regularization
penalties' gradients added to the weights' grads -> optimizer step.

As Keras, the reported loss is the data loss plus the penalties (``model.losses``), and the
data loss of a batch with ``sample_weight`` w is ``sum(w * per_sample_loss) / batch_size``
(the "sum_over_batch_size" reduction); ``class_weight={class: weight}`` becomes per-sample
weights (the sample's class weight; 1 for a class not in the dict).
"""

from __future__ import annotations

import itertools
import math
import sys
import time

import numpy as np

from . import batches, multi_output
from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .log_values import log_value, shown_number


# ---------------------------------------------------------------------------- compile
def _check_execution_options(name, run_eagerly, steps_per_execution, jit_compile,
                             auto_scale_loss) -> None:
    where = f"{name}.compile"
    for option, value in (("run_eagerly", run_eagerly), ("auto_scale_loss", auto_scale_loss)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{where}: expected {option} to be a bool. Received: "
                            f"{option}={value!r}")
    if not (isinstance(jit_compile, (bool, np.bool_)) or jit_compile == "auto"):
        raise ValueError(f"{where}: expected jit_compile to be True, False or 'auto'. "
                         f"Received: jit_compile={jit_compile!r}")
    if not isinstance(steps_per_execution, (int, np.integer)) or isinstance(
            steps_per_execution, bool) or steps_per_execution != 1:
        raise ValueError(f"{where}: steps_per_execution other than 1 is not supported (npconv "
                         "runs every step, and its batch callbacks, on its own). Received: "
                         f"steps_per_execution={steps_per_execution!r}")


def compile(model, optimizer="rmsprop", loss=None, metrics=None,  # noqa: A001 - Keras name
            loss_weights=None, weighted_metrics=None, *, run_eagerly=False,
            steps_per_execution=1, jit_compile="auto", auto_scale_loss=True):
    """Configure ``model`` for training: optimizer, loss and metrics (Keras names or objects).

    As Keras 3, ``metrics`` ignore the sample weights; ``weighted_metrics`` (the same forms)
    are weighted by ``sample_weight`` (or the weights ``class_weight`` gives) in fit, evaluate,
    the validation passes (``validation_data=(x, y, sample_weight)``) and the ``*_on_batch``
    methods. They log after ``metrics``, under the same names, or ``"weighted_<name>"`` when
    a metric of ``metrics`` has the name (see :func:`metrics.log_names`).

    A model with several outputs takes a loss per output (one for all, a list in output
    order or a dict by output name), ``loss_weights`` and metrics per output
    (:mod:`npconv.training.multi_output`).

    Keras 3's execution options are accepted so that the guides' calls run; none changes
    anything here: NumPy always runs eagerly (``run_eagerly``), there is no compiler
    (``jit_compile`` True, False or "auto") and no float16 loss scaling
    (``auto_scale_loss``). ``steps_per_execution`` must be 1: every step runs, and calls the
    batch callbacks, on its own."""
    _check_execution_options(model.name, run_eagerly, steps_per_execution, jit_compile,
                             auto_scale_loss)
    if loss is None:
        raise ValueError(f"{model.name}.compile: a loss is required, e.g. "
                         "loss='sparse_categorical_crossentropy'")
    if model.trainable_weights:  # a Lambda without a gradient after a trainable layer
        model._check_gradient_paths()
    outputs = getattr(model, "outputs", None) or []
    if (getattr(model, "_multi_output", False) and len(outputs) > 1) or isinstance(
            loss, multi_output.MultiOutputLoss):
        _compile_outputs(model, optimizer, loss, metrics, loss_weights, outputs,
                         weighted_metrics)
        return
    if loss_weights is not None and loss_weights not in (1, [1], (1,)) and not (
            isinstance(loss_weights, dict) and list(loss_weights.values()) == [1]):
        raise ValueError(f"{model.name}.compile: loss_weights weigh the losses of several "
                         f"outputs; this model has one (scale the learning rate instead). "
                         f"Received: loss_weights={loss_weights!r}")
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]  # Keras's one loss per output, for the one output
    elif isinstance(loss, dict) and len(loss) == 1:
        names = set(model._output_keys_or_names()) if outputs else set()
        key = next(iter(loss))
        if names and key not in names:
            raise ValueError(f"{model.name}.compile: loss is keyed by output name; this model's "
                             f"output is {sorted(names)}. Received key {key!r}")
        loss = loss[key]
    elif isinstance(loss, (list, tuple, dict)):
        raise ValueError(f"{model.name}.compile: expected one loss for the model's one output. "
                         f"Received {len(loss)} in a {type(loss).__name__}")
    model.optimizer = optimizers_module.get(optimizer)
    model.loss = losses_module.get(loss)
    losses_module.check_reduces(model.loss, f"{model.name}.compile")
    model._metric_specs = _one_output_metrics(model, metrics, outputs)
    model._weighted_metric_specs = _one_output_metrics(model, weighted_metrics, outputs,
                                                       "weighted_metrics")
    _check_distinct_instances(model, [*model._metric_specs, *model._weighted_metric_specs])
    model._metric_objs = None  # the metrics of the last fit/evaluate: see model_metrics
    model._loss_tracker = metrics_module.Mean(name="loss")
    model.compiled = True
    model._fused = None  # decided at the first step (see _fusion)


def _one_output_metrics(model, metrics, outputs, what="metrics") -> list:
    """``compile``'s metrics (or weighted_metrics) for a model with one output: a list, or
    Keras's per-output forms for that one output (``{name: [...]}``, ``[[...]]``), each
    checked here."""
    if isinstance(metrics, dict):
        metrics = _by_the_output_name(model, metrics, f"{what} is", "compile")
    elif (isinstance(metrics, (list, tuple)) and len(metrics) == 1
          and isinstance(metrics[0], (list, tuple))):
        metrics = metrics[0]  # one list per output, for the one output
    if isinstance(metrics, (str, metrics_module.Metric)) or callable(metrics):
        metrics = [metrics]
    specs = list(metrics or [])
    _check_specs(model, specs, model.loss, what)
    return specs


def _check_specs(model, specs, loss, what):
    """An unknown name is an error at compile, not at the first fit."""
    for spec in specs:
        try:
            metrics_module.get(spec, loss=loss)
        except ValueError as exc:
            raise ValueError(f"{model.name}.compile: {what}: {exc}") from None


def _check_distinct_instances(model, specs):
    """One Metric instance counts for one entry: given twice (say in metrics and in
    weighted_metrics), its counts would mix both."""
    seen = set()
    for spec in specs:
        if isinstance(spec, metrics_module.Metric):
            if id(spec) in seen:
                raise ValueError(f"{model.name}.compile: the same {type(spec).__name__} "
                                 f"instance (name {spec.name!r}) is given twice in metrics / "
                                 "weighted_metrics; give each entry its own instance")
            seen.add(id(spec))


def _compile_outputs(model, optimizer, loss, metrics, loss_weights, outputs,
                     weighted_metrics=None):
    names = model._output_keys_or_names()
    where = f"{model.name}.compile"
    if not isinstance(loss, multi_output.MultiOutputLoss):
        loss = multi_output.MultiOutputLoss(
            multi_output._per_output(loss, names, "losses", where), loss_weights, names)
    model.optimizer = optimizers_module.get(optimizer)
    model.loss = loss
    model._metric_specs = multi_output.metric_specs(metrics, names, where)
    model._weighted_metric_specs = multi_output.metric_specs(weighted_metrics, names, where,
                                                             "weighted_metrics")
    for specs, what in ((model._metric_specs, "metrics"),
                        (model._weighted_metric_specs, "weighted_metrics")):
        for i, name in enumerate(names):
            _check_specs(model, specs[name], loss.losses[i], what)
    _check_distinct_instances(model, [spec for specs in (model._metric_specs,
                                                         model._weighted_metric_specs)
                                      for per_output in specs.values() for spec in per_output])
    model._metric_objs = None
    model._loss_tracker = metrics_module.Mean(name="loss")
    model.compiled = True
    model._fused = None


def _require_compiled(model, what):
    if not getattr(model, "compiled", False):
        raise RuntimeError(f"{model.name}: call model.compile(optimizer, loss, metrics) before "
                           f"{what}")


def _make_metrics(model):
    """Metrics starting from zero: a Metric instance given to compile is the same object each
    time, so its state is reset (as Keras does at every epoch and evaluate)."""
    weighted_specs = getattr(model, "_weighted_metric_specs", None)
    if isinstance(model.loss, multi_output.MultiOutputLoss):
        metric_objs = multi_output.make_metrics(model.loss, model._metric_specs, weighted_specs)
    else:
        built = [(metrics_module.get(m, loss=model.loss), False) for m in model._metric_specs]
        built += [(metrics_module.get(m, loss=model.loss), True) for m in weighted_specs or []]
        names = metrics_module.log_names([("", m.name, weighted) for m, weighted in built])
        # a metric of ``metrics`` under its own name is itself (model.metrics holds it)
        metric_objs = [m if not weighted and name == m.name
                       else metrics_module.CompiledMetric(m, name, weighted)
                       for (m, weighted), name in zip(built, names, strict=True)]
    for m in metric_objs:
        m.reset_state()
    model._metric_objs = metric_objs
    return metric_objs


def _update_metrics(metric_objs, y, y_pred, sample_weight) -> None:
    """One batch into the compiled metrics: the sample weights go to the weighted ones only."""
    for m in metric_objs:
        if isinstance(m, metrics_module.CompiledMetric):
            m.update_state(y, y_pred, sample_weight=sample_weight)
        else:
            m.update_state(y, y_pred)


def _report_loss(model, value) -> None:
    """The loss tracker of ``model.metrics`` holds the loss last reported."""
    model._loss_tracker.reset_state()
    model._loss_tracker.update_state(value)


def model_metrics(model) -> list:
    """Keras's ``model.metrics``: a ``Mean`` named "loss" then the compiled metrics, in the
    order of ``evaluate``'s list, holding the results of the last fit epoch (or batch),
    evaluate or ``*_on_batch`` call (0.0 before any); empty before compile."""
    if not getattr(model, "compiled", False):
        return []
    if model._metric_objs is None:
        _make_metrics(model)
    return [model._loss_tracker, *model._metric_objs]


def _fusion(model):
    """'softmax' or 'sigmoid' when the loss gradient can be fused with the output activation.

    Decided for the current output layer, its activation and the loss, and decided again
    when any of them changes (a Sequential's pop()/add() after compile rebuilds the graph
    with a new output layer; a new compile): a stale 'softmax' would take a softmax's
    gradient through some other output layer.
    """
    last = model._nodes[-1].layer if model._nodes and not model._multi_output else None
    graph = getattr(last, "_graph", None)  # a composite layer: its graph's output layer's
    act = graph.output_activation() if graph is not None else getattr(last, "activation", None)
    key = (last, act, model.loss)
    cached = getattr(model, "_fused", None)
    if cached is not None and all(a is b for a, b in zip(cached[0], key, strict=True)):
        return cached[1]
    fused = ""
    name = getattr(act, "name", None)
    if last is not None and not getattr(model.loss, "from_logits", True):
        if name == "softmax" and hasattr(model.loss, "fused_softmax_backward"):
            # (p - t) is the gradient of a softmax over the classes, the last axis, only
            axis = getattr(act, "kwargs", {}).get("axis", -1)
            fused = "softmax" if isinstance(axis, int) and axis == -1 else ""
        elif name == "sigmoid" and hasattr(model.loss, "fused_sigmoid_backward"):
            fused = "sigmoid"
    model._fused = (key, fused)
    return fused


# ---------------------------------------------------------------------------- data
def _check_xy(model, x, y, where):
    x = _arrays_in(model, x, "x", where)
    if y is not None:
        y = _arrays_in(model, y, "y", where)
    if not model._graph_ready and model._subclassed():
        model._ensure_graph_for(model._as_input_list(x))  # traced: its inputs are known
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
                         f"Received a single value: {x!r}")
    n = len(x[0]) if isinstance(x, list) else len(x)
    if isinstance(x, list) and any(a.ndim == 0 or len(a) != n for a in x):
        names = [t.layer.name for t in model.inputs] if model._graph_ready else []
        names += [f"input {i}" for i in range(len(names), len(x))]
        sizes = {name: (len(a) if a.ndim else "a single value")
                 for name, a in zip(names, x, strict=False)}
        raise ValueError(f"{model.name}.{where}: every input must have the same number of "
                         f"samples. Received {sizes}")
    if y is not None:
        several = getattr(model, "_multi_output", False) and len(model.outputs) > 1
        y = multi_output.targets(model, y, where) if several else np.asarray(y)
        for targets in (y if several else [y]):
            if targets.ndim == 0 or len(targets) != n:
                raise ValueError(f"{model.name}.{where}: x and y must have the same number of "
                                 f"samples. Received {n} inputs and "
                                 f"{len(targets) if targets.ndim else 'a single value as'} "
                                 "targets")
    if n == 0:
        raise ValueError(f"{model.name}.{where}: received an empty dataset")
    return x, y, n


def _arrays_in(model, data, what, where):
    """``data`` (x or y) with a dict of inputs put in the model's input order (Keras keys
    them by Input name); generators and iterators here (as y, or as a batch's x) and strings
    refused by their type."""
    if isinstance(data, dict) and what == "x":
        return model._inputs_by_name(data, where)
    if isinstance(data, dict) and getattr(model, "_multi_output", False):
        return data  # targets by output name (multi_output.targets)
    if what == "y" and not getattr(model, "_multi_output", False):
        data = _one_output_targets(model, data, where)
    if isinstance(data, (str, bytes, dict)) or (
            not isinstance(data, (list, tuple)) and not hasattr(data, "__array__")
            and not hasattr(data, "__len__") and hasattr(data, "__iter__")):
        several = "inputs" if what == "x" else "outputs"
        raise TypeError(f"{model.name}.{where}: expected {what} as NumPy arrays (a list of "
                        f"arrays for several {several}, or a dict by name); a generator or "
                        "dataset of batches goes in x alone, its batches holding (x, y). "
                        f"Received {type(data).__name__}")
    return data


def _by_the_output_name(model, mapping, what, where):
    """The value of a one-output model's ``{output name: value}`` (Keras's per-output form),
    or a clear error when the key is not its output's name."""
    names = model._output_keys_or_names() if getattr(model, "outputs", None) else []
    if len(mapping) != 1 or (names and next(iter(mapping)) not in names):
        raise ValueError(f"{model.name}.{where}: {what} keyed by output name; this model's "
                         f"output is {names}. Received keys {sorted(map(str, mapping))}")
    return next(iter(mapping.values()))


def _one_output_targets(model, y, where):
    """Keras's per-output forms of a one-output model's targets: ``[y]`` and ``{name: y}``."""
    if isinstance(y, dict):
        return _by_the_output_name(model, y, "targets", where)
    if isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "__array__"):
        return y[0]  # one array per output, for the one output ([[0, 0, 1]] is one sample)
    return y


def _count(y) -> int:
    """The samples in a batch's targets (a list of arrays for several outputs)."""
    return len(y[0]) if isinstance(y, list) else len(y)


_take = batches.take


#: Bytes of the largest layer output per core in one forward pass of evaluate/predict: a
#: larger batch runs as several passes, whose outputs are concatenated. No backward follows,
#: so no cache needs the whole batch, and each pass's temporaries fit in the memory the
#: training steps already hold (3 MB: 36 images per core for the seed-001 CNN, about one
#: training part). Measured on the seed-001 CNN's 5-epoch run, evaluate at batch 256 (128
#: images per core) raised the peak by 21 MB in the main process and 31 MB in the helper; in
#: passes of at most 36 images per core by 0 and 2 MB, and 5-8 % faster. LeNet-5 keeps whole
#: batches of 256; the strided CNN runs them in two passes (3-6 % slower than whole).
INFERENCE_BYTES_PER_CORE = 3 << 20


def _images_per_inference_pass(model, x):
    """Images per evaluate/predict pass for batches like ``x`` (see INFERENCE_BYTES_PER_CORE),
    or None for whole batches: an output size unknown, or a layer whose output for a sample
    depends on the others in its batch (a softmax over the batch axis, a layer of the user's:
    the rule of :func:`npconv.models.parallel.plan_parts`)."""
    from .. import _threads
    from ..models import parallel

    xs = model._as_input_list(x)
    model._ensure_graph_for(xs)  # a Sequential builds from its first input, as in forward
    itemsize = max([w.value.itemsize for w in model.weights]
                   + [a.dtype.itemsize for a in xs if a.dtype.kind == "f"], default=4)
    largest = 0
    for node in model._nodes:
        shape = node.layer.output_shape
        if (not isinstance(shape, tuple) or any(d is None for d in shape[1:])
                or not parallel._splits(node.layer, False)):
            return None
        largest = max(largest, math.prod(shape[1:]) * itemsize)
    if not largest:
        return None
    cores = _threads.get_num_threads() if _threads.parallel_available() else 1
    return max(8, INFERENCE_BYTES_PER_CORE // largest) * cores


def _inference_forward(model, x, images_per_pass):
    """``model.forward(x, training=False)`` in equal passes of at most ``images_per_pass``
    images (None: one pass). Inputs of unequal lengths or shapes the model's inputs do not
    take run in one pass, so that the error names the whole batch."""
    from ..models import parallel

    xs = model._as_input_list(x)
    n = len(xs[0]) if xs[0].ndim else 0
    if images_per_pass is None or n <= images_per_pass or any(
            a.ndim == 0 or len(a) != n for a in xs):
        return model.forward(x, training=False)
    model._prepare_inputs(x)  # the whole batch's shapes checked: an error names them
    passes = math.ceil(n / images_per_pass)
    outs = [model.forward(_take(x, sl), training=False)
            for sl in parallel.part_slices(n, passes)]
    return parallel._concat(outs, isinstance(outs[0], list))


def _check_batch_size(model, batch_size, where):
    if batch_size is None:
        return 32
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"{model.name}.{where}: expected batch_size to be a positive int. "
                         f"Received: batch_size={batch_size!r}")
    return int(batch_size)


def _check_sample_weight(model, sample_weight, n, where):
    """``sample_weight`` as a float array with one weight per sample (first axis n), or None."""
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight)
    if sw.dtype.kind not in "biuf":
        raise TypeError(f"{model.name}.{where}: expected sample_weight to be numbers. "
                        f"Received dtype {sw.dtype}")
    if sw.ndim == 0 or sw.shape[0] != n:
        raise ValueError(f"{model.name}.{where}: expected sample_weight with one weight per "
                         f"sample, shape ({n},). Received shape {sw.shape}")
    return sw.astype(np.float64) if sw.dtype.kind != "f" else sw


def _class_weight_to_sample_weight(model, y, class_weight, where):
    """Keras's ``class_weight``: each sample weighs its class's weight (1 when not listed).

    The class is the label itself (integer labels, shape (N,) or (N, 1)) or the argmax of a
    one-hot row (N, C).
    """
    if not isinstance(class_weight, dict):
        raise TypeError(f"{model.name}.{where}: expected class_weight to be a dict "
                        f"{{class_index: weight}}. Received {type(class_weight).__name__}")
    for key, weight in class_weight.items():
        if (not isinstance(weight, (int, float, np.integer, np.floating))
                or isinstance(weight, bool)):
            raise TypeError(f"{model.name}.{where}: expected class_weight's weights to be "
                            f"numbers. Received: class_weight[{key!r}]={weight!r}")
    y = np.asarray(y)
    if y.ndim > 2:
        raise ValueError(f"{model.name}.{where}: class_weight needs targets of shape (N,), "
                         f"(N, 1) or one-hot (N, C). Received shape {y.shape}")
    if y.ndim == 2:
        y = np.argmax(y, axis=1) if y.shape[1] > 1 else y[:, 0]
    labels = np.round(y).astype(np.int64)
    classes, inverse = np.unique(labels, return_inverse=True)
    table = np.ones(len(classes), dtype=np.float64)
    for i, c in enumerate(classes):  # one entry per class, not per sample
        if int(c) in class_weight:
            table[i] = float(class_weight[int(c)])
    return table[inverse.reshape(-1)]


def _regularization(model) -> float:
    """Add the penalties' gradients to the grads; the total penalty (0.0 without any)."""
    penalties = model.losses
    if not penalties:
        return 0.0
    model.add_regularization_gradients()
    return float(sum(penalties))


# ---------------------------------------------------------------------------- steps
NO_TRAINABLE_WEIGHTS = "The model does not have any trainable weights."


def _frozen_step(model, xb, yb, metric_objs, sample_weight, warned):
    """A step of a model without trainable weights (``model.trainable = False``), as Keras:
    the forward in training mode, the loss and the metrics, no backward and no update (the
    optimizer's iterations stay). Warns once per ``warned`` (a list: one fit), as Keras's
    ``"The model does not have any trainable weights."``."""
    import warnings

    if not warned:
        warnings.warn(NO_TRAINABLE_WEIGHTS, UserWarning, stacklevel=5)  # the user's fit
        warned.append(True)
    y_pred = model.forward(xb, training=True)
    loss_value = float(model.loss(yb, y_pred, sample_weight=sample_weight))
    _update_metrics(metric_objs, yb, y_pred, sample_weight)
    return loss_value + float(sum(model.losses)), _count(yb)


def _train_step(model, xb, yb, metric_objs, sample_weight=None, warned=None):
    """One optimizer step on a batch: ``(loss + penalties, batch size)``. ``warned`` (a list
    that ``fit`` keeps for its run) says whether the frozen-model warning was given."""
    from ..models import parallel

    trainable = model.trainable_weights
    if not trainable:
        return _frozen_step(model, xb, yb, metric_objs, sample_weight,
                            [] if warned is None else warned)
    model._check_gradient_paths()  # before any weight changes (trainable may have changed)
    fused = _fusion(model)
    sw = sample_weight
    done = parallel.train_in_parts(model, xb, yb, sw, fused)
    if done is not None:  # in helper processes, with one exchange per step
        loss_value, y_pred = done
    else:
        y_pred = model.forward(xb, training=True)
        if fused == "softmax":
            loss_value, d_out = model.loss.fused_softmax_backward(yb, y_pred, sample_weight=sw)
        elif fused == "sigmoid":
            loss_value, d_out = model.loss.fused_sigmoid_backward(yb, y_pred, sample_weight=sw)
        else:
            loss_value, d_out = model.loss.forward_backward(yb, y_pred, sample_weight=sw)
        model.backward(d_out, fused_output_activation=bool(fused), release_caches=True)
    penalty = _regularization(model)
    model.optimizer.apply_gradients(trainable)
    _update_metrics(metric_objs, yb, y_pred, sw)
    return float(loss_value) + penalty, _count(yb)


def train_on_batch(model, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
    """One optimizer step on one batch; returns the loss (and metrics) on that batch."""
    _require_compiled(model, "train_on_batch")
    x, y, n = _check_xy(model, x, y, "train_on_batch")
    if y is None:
        raise ValueError(f"{model.name}.train_on_batch: y (the targets) is required")
    sample_weight = _resolve_weights(model, y, n, sample_weight, class_weight, "train_on_batch")
    model._ensure_graph_for(x if isinstance(x, list) else [x])  # weights exist: _train_step
    metric_objs = _make_metrics(model)
    loss_value, _ = _train_step(model, x, y, metric_objs, sample_weight)
    _report_loss(model, loss_value)
    return _format_results(loss_value, metric_objs, return_dict)


def test_on_batch(model, x, y=None, sample_weight=None, return_dict=False):
    """Loss and metrics on one batch, in inference mode."""
    _require_compiled(model, "test_on_batch")
    x, y, n = _check_xy(model, x, y, "test_on_batch")
    if y is None:
        raise ValueError(f"{model.name}.test_on_batch: y (the targets) is required")
    sample_weight = _check_sample_weight(model, sample_weight, n, "test_on_batch")
    metric_objs = _make_metrics(model)
    y_pred = model.forward(x, training=False)
    # the loss first: a per-output loss metric reads the values it has just computed
    loss_value = float(model.loss(y, y_pred, sample_weight=sample_weight))
    _update_metrics(metric_objs, y, y_pred, sample_weight)
    loss_value += float(sum(model.losses))
    _report_loss(model, loss_value)
    return _format_results(loss_value, metric_objs, return_dict)


def _resolve_weights(model, y, n, sample_weight, class_weight, where):
    """The per-sample weights from ``sample_weight`` or ``class_weight`` (not both, as Keras)."""
    if class_weight is not None and sample_weight is not None:
        raise ValueError(f"{model.name}.{where}: give sample_weight or class_weight, not both "
                         "(multiply the class weights into sample_weight instead)")
    if class_weight is not None:
        if isinstance(y, list):
            raise ValueError(f"{model.name}.{where}: class_weight is for a model with one "
                             "output (as in Keras); give sample_weight instead")
        return _class_weight_to_sample_weight(model, y, class_weight, where)
    return _check_sample_weight(model, sample_weight, n, where)


def predict_on_batch(model, x):
    """The model's output on one batch, in inference mode (a dict for outputs given as a
    dict, as Keras)."""
    return model._keyed(model.forward(x, training=False))


def _format_results(loss_value, metric_objs, return_dict):
    if return_dict:
        return {"loss": loss_value, **{m.name: log_value(m.result()) for m in metric_objs}}
    if not metric_objs:
        return loss_value
    return [loss_value] + [log_value(m.result()) for m in metric_objs]


# ---------------------------------------------------------------------------- fit
def _resolve_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"expected verbose to be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    return verbose


def fit(model, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
        validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
        sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
        validation_batch_size=None, validation_freq=1, seed=None):
    """Train ``model`` for ``epochs`` passes over ``(x, y)``; returns a ``History``.

    As Keras: ``validation_split`` holds out the *last* fraction of the samples (before
    shuffling), with their sample weights; ``validation_data=(x_val, y_val)`` or
    ``(x_val, y_val, val_sample_weight)`` takes precedence (or batches, as for ``x``), run
    every ``validation_freq`` epochs in batches of ``validation_batch_size``.
    ``sample_weight`` (one weight per sample) or ``class_weight`` ({class: weight}) weight the
    training loss and the ``weighted_metrics`` (not the ``metrics``, as Keras 3). Shuffling
    draws from ``seed`` or the run-wide generator (``npconv.utils.set_random_seed``).

    ``x`` may also give the batches itself (a generator, a Keras ``PyDataset``, a torch
    ``DataLoader``; see :mod:`npconv.training.batches`): then ``y``, ``batch_size`` and
    ``sample_weight`` come from its batches. ``steps_per_epoch`` caps the batches per epoch
    (for arrays too); ``validation_steps`` those of a validation pass over batches.
    """
    _require_compiled(model, "fit")
    verbose = _resolve_verbose(verbose)
    where = f"{model.name}.fit"
    steps_per_epoch = batches.check_steps(steps_per_epoch, "steps_per_epoch", where)
    validation_steps = batches.check_steps(validation_steps, "validation_steps", where)
    freq = batches.check_steps(validation_freq, "validation_freq", where)
    if validation_split is None:  # (Keras: falsy, no split)
        validation_split = 0.0
    if (not isinstance(validation_split, (int, float, np.integer, np.floating))
            or isinstance(validation_split, bool) or not 0.0 <= validation_split < 1.0):
        raise ValueError(f"{where}: expected validation_split in [0, 1). "
                         f"Received: validation_split={validation_split!r}")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"{where}: expected epochs to be a non-negative int. "
                         f"Received: epochs={epochs!r}")
    if (not isinstance(initial_epoch, (int, np.integer)) or isinstance(initial_epoch, bool)
            or initial_epoch < 0):
        raise ValueError(f"{where}: expected initial_epoch to be a non-negative int. "
                         f"Received: initial_epoch={initial_epoch!r}")
    rng = batches.LazyGenerator(seed)
    from_source = batches.is_source(x)
    if from_source:
        _check_source_arguments(where, y=y, sample_weight=sample_weight,
                                validation_split=validation_split)
        adapter = batches.adapter_for(x, shuffle, rng)
        if isinstance(adapter, batches.DatasetBatches) and not model._graph_ready and len(x):
            # built from the first batch before its order is drawn (as arrays are)
            _source_batch(model, *batches.unpack(x[0]), class_weight)
        data = batches.EpochIterator(adapter, steps_per_epoch, where, unpacked=True)
    else:
        batch_size = _check_batch_size(model, batch_size, "fit")
        x, y, n = _check_xy(model, x, y, "fit")
        if y is None:
            raise ValueError(f"{where}: y (the targets) is required")
        sample_weight = _resolve_weights(model, y, n, sample_weight, class_weight, "fit")
        if validation_data is None and validation_split:
            validation_data, (x, y, sample_weight, n) = _split_off(
                model, x, y, sample_weight, n, validation_split)
            if class_weight is not None:  # as Keras: class weights weigh the training only
                validation_data = validation_data[:2]
        data = batches.EpochIterator(
            batches.ArrayBatches(x, y, sample_weight, batch_size, shuffle, rng),
            steps_per_epoch, where)
        model._ensure_graph_for([x[0] if isinstance(x, list) else x])
    validation = None
    if validation_data is not None:
        validation_batch_size = (batch_size if validation_batch_size is None
                                 else _check_batch_size(model, validation_batch_size, "fit"))
        # one iterator for the whole run, as Keras: validation_steps carry on across epochs
        validation = _validation_batches(model, validation_data, validation_batch_size,
                                         validation_steps)

    cb_list = None
    try:
        history = callbacks_module.History()
        cb_list = callbacks_module.CallbackList(
            callbacks, model=model, verbose=verbose, epochs=epochs,
            steps=data.steps_per_epoch, history=history)
        model.stop_training = False
        model._initial_epoch = None
        cb_list.on_train_begin()
        # a callback restoring a backup (BackupAndRestore) says where to start, as Keras's
        initial_epoch = model._initial_epoch or initial_epoch
        warned = []  # the no-trainable-weights warning, once per fit
        training_logs = None  # the last epoch's logs, for on_train_end (as Keras)
        for epoch in range(initial_epoch, epochs):
            epoch_batches = data.epoch()
            if data.one_shot:
                # a generator (which no epoch callback can steer): is there a batch left? If not,
                # as Keras, warn; and stop before an epoch begins that has nothing to train on
                first = next(epoch_batches, None)
                if first is None:
                    if epoch == initial_epoch:
                        raise ValueError(f"{where}: the generator or dataset gave no batch")
                    data.warn_ran_out()
                    break
                epoch_batches = itertools.chain([first], epoch_batches)
            # other data: the epoch's callbacks before its first batch is drawn, as Keras
            cb_list.on_epoch_begin(epoch)
            metric_objs = _make_metrics(model)
            loss_sum, seen, logs = 0.0, 0, None
            for step, (xb, yb, sw) in enumerate(epoch_batches):
                if from_source:
                    xb, yb, sw = _source_batch(model, xb, yb, sw, class_weight)
                cb_list.on_train_batch_begin(step)
                batch_loss, count = _train_step(model, xb, yb, metric_objs, sw, warned)
                loss_sum += batch_loss * count
                seen += count
                logs = {"loss": loss_sum / seen,
                        **{m.name: log_value(m.result()) for m in metric_objs}}
                _report_loss(model, logs["loss"])
                cb_list.on_train_batch_end(step, logs)
                if model.stop_training:
                    break
            if logs is None:  # a dataset or loader of no batches
                raise ValueError(f"{where}: the dataset gave no batch for epoch {epoch + 1}")
            epoch_logs = dict(logs)
            if validation is not None and (epoch + 1) % freq == 0:
                # as Keras: the validation pass calls the callbacks' on_test_* hooks
                val = _evaluate_batches(model, validation, cb_list, verbose=0, return_dict=True,
                                        from_source=batches.is_source(validation_data),
                                        where=f"{model.name}.fit(validation_data)")
                if val is None:  # a validation generator that is used up
                    validation.warn_ran_out()
                else:
                    epoch_logs.update({f"val_{k}": v for k, v in val.items()})
            cb_list.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if model.stop_training:
                break
        cb_list.on_train_end(training_logs)
        model.history = history
        return history
    finally:  # a PyDataset's read-ahead threads end with fit, also when it raises
        model._initial_epoch = None
        if cb_list is not None:  # a progress bar left open by an exception (Ctrl-C)
            cb_list.close()
        data.close()
        if validation is not None:
            validation.close()


def _split_off(model, x, y, sample_weight, n, validation_split):
    """Keras's ``validation_split``: the last fraction of the samples, before shuffling.
    Returns ``(validation_data, (x, y, sample_weight, n))`` of what is left to train on."""
    n_val = int(math.floor(n * float(validation_split)))
    if n_val == 0 or n_val == n:
        raise ValueError(f"{model.name}.fit: validation_split={validation_split} leaves "
                         f"{n - n_val} training and {n_val} validation samples out of {n}")
    split = n - n_val
    validation = (_take(x, slice(split, None)), _take(y, slice(split, None)),
                  None if sample_weight is None else sample_weight[split:])
    train_sw = None if sample_weight is None else sample_weight[:split]
    return validation, (_take(x, slice(0, split)), _take(y, slice(0, split)), train_sw, split)


def _check_validation_data(model, validation_data):
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        received = (f"a tuple of {len(validation_data)}"
                    if isinstance(validation_data, (tuple, list))
                    else type(validation_data).__name__)
        raise ValueError(f"{model.name}.fit: expected validation_data=(x_val, y_val) or "
                         f"(x_val, y_val, val_sample_weight), or batches (a generator or "
                         f"dataset). Received {received}")
    _, _, n_val = _check_xy(model, validation_data[0], validation_data[1],
                            "fit(validation_data)")
    if len(validation_data) == 3:
        _check_sample_weight(model, validation_data[2], n_val, "fit(validation_data)")


def _validation_batches(model, validation_data, batch_size, steps):
    """The batches of fit's validation passes: ready-made ones, or ``(x_val, y_val[,
    val_sample_weight])`` checked here (before training starts)."""
    where = f"{model.name}.fit(validation_data)"
    if batches.is_source(validation_data):
        return batches.EpochIterator(batches.adapter_for(validation_data), steps, where,
                                     unpacked=True)
    _check_validation_data(model, validation_data)
    x, y, n = _check_xy(model, validation_data[0], validation_data[1],
                        "fit(validation_data)")
    sw = None
    if len(validation_data) == 3:
        sw = _check_sample_weight(model, validation_data[2], n, "fit(validation_data)")
    return batches.EpochIterator(batches.ArrayBatches(x, y, sw, batch_size), steps, where)


def _check_source_arguments(where, *, y=None, sample_weight=None, validation_split=0.0):
    """Keras's errors for arguments that the batches of a generator or dataset give.
    ``batch_size`` is ignored, as Keras 3 does (its ``get_data_adapter`` gives it to the
    array adapter only; its training guide passes ``fit(py_dataset, batch_size=64)``)."""
    given = {"y": y, "sample_weight": sample_weight}
    for name, value in given.items():
        if value is not None:
            raise ValueError(f"{where}: the {name} argument is not supported when x gives "
                             f"the batches (a generator or dataset): its batches hold "
                             f"(x, y, sample_weight). Received: {name}={_short(value)}")
    if validation_split:
        raise ValueError(f"{where}: validation_split is only supported for arrays; with a "
                         "generator or dataset, give validation_data instead")


def _short(value) -> str:
    return (f"an array of shape {np.shape(value)}" if hasattr(value, "__len__")
            and not isinstance(value, str) else repr(value))


def _source_batch(model, x, y, sample_weight, class_weight, where="fit"):
    """One batch of a generator or dataset, checked as fit checks arrays:
    ``(x, y, per-sample weights or None)``."""
    if y is None:
        raise ValueError(f"{model.name}.{where}: a batch without targets: expected each "
                         "batch as (x, y) or (x, y, sample_weight)")
    x, y, n = _check_xy(model, x, y, where)
    model._ensure_graph_for(x if isinstance(x, list) else [x])
    return x, y, _resolve_weights(model, y, n, sample_weight, class_weight, where)


# ---------------------------------------------------------------------------- evaluate / predict
def evaluate(model, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
             steps=None, callbacks=None, return_dict=False):
    """Loss and metrics over ``(x, y)`` in inference mode, as Keras returns them.

    The loss is ``sum(sample_weight * per_sample_loss) / N`` (the plain mean without
    ``sample_weight``) plus the regularization penalties. ``verbose=1`` shows a progress bar,
    ``verbose=2`` prints one line at the end (``313/313 - 1s - 3ms/step - loss: ...``).
    ``callbacks`` get ``on_test_begin/end`` and ``on_test_batch_begin/end`` with the running
    loss and metrics, as in Keras. ``x`` may give the batches itself (see :func:`fit`);
    ``steps`` caps the batches.
    """
    _require_compiled(model, "evaluate")
    verbose = _resolve_verbose(verbose)
    where = f"{model.name}.evaluate"
    steps = batches.check_steps(steps, "steps", where)
    from_source = batches.is_source(x)
    if from_source:
        _check_source_arguments(where, y=y, sample_weight=sample_weight)
        data = batches.EpochIterator(batches.adapter_for(x), steps, where, unpacked=True)
    else:
        batch_size = _check_batch_size(model, batch_size, "evaluate")
        x, y, n = _check_xy(model, x, y, "evaluate")
        if y is None:
            raise ValueError(f"{where}: y (the targets) is required")
        sample_weight = _check_sample_weight(model, sample_weight, n, "evaluate")
        data = batches.EpochIterator(batches.ArrayBatches(x, y, sample_weight, batch_size),
                                     steps, where)
    try:
        result = _evaluate_batches(model, data, callbacks, verbose, return_dict,
                                   from_source, where)
    finally:
        data.close()
    if result is None:
        raise ValueError(f"{where}: the generator or dataset gave no batch")
    return result


def _evaluate_batches(model, data, callbacks, verbose, return_dict, from_source, where):
    """One evaluation pass over the next epoch of ``data`` (an EpochIterator), as
    :func:`evaluate` returns it; None when the pass gives no batch."""
    penalty = None  # the weights do not change here: read the penalties once, once built
    # (an activity regularizer's penalty is of each batch's outputs: read per batch and
    # averaged over the samples as the loss, as Keras's loss tracker)
    per_batch = any(layer.activity_regularizer is not None for layer in model._unique_layers())
    metric_objs = _make_metrics(model)
    loss_sum, penalty_sum, seen, logs = 0.0, 0.0, 0, None
    total = data.steps_per_epoch
    cb_list = _callback_list(model, callbacks, verbose, total, "evaluate")
    bar = _progress(verbose, total, "evaluate")
    start = time.perf_counter()
    cb_list.on_test_begin()
    step = -1
    for step, (xb, yb, sw) in enumerate(data.epoch()):
        if from_source:  # a generator's batch: checked here
            xb, yb, _ = _source_batch(model, xb, yb, None, None, "evaluate")
            sw = None if sw is None else _check_sample_weight(model, sw, _count(yb), "evaluate")
        cb_list.on_test_batch_begin(step)
        if step == 0:
            per_pass = _images_per_inference_pass(model, xb)
        y_pred = _inference_forward(model, xb, per_pass)
        if penalty is None or per_batch:
            penalty = float(sum(model.losses))
        count = _count(yb)
        loss_sum += float(model.loss(yb, y_pred, sample_weight=sw)) * count
        penalty_sum += penalty * count
        seen += count
        _update_metrics(metric_objs, yb, y_pred, sw)
        logs = {"loss": (loss_sum + penalty_sum) / seen,
                **{m.name: log_value(m.result()) for m in metric_objs}}
        cb_list.on_test_batch_end(step, logs)
        if bar is not None:
            bar.update(1)
            bar.set_postfix({k: f"{shown_number(v):.4f}" for k, v in logs.items()})
    if bar is not None:
        bar.close()
    if logs is None:
        cb_list.on_test_end({})  # (every on_test_begin gets its on_test_end)
        return None
    loss_value = (loss_sum + penalty_sum) / seen
    logs = {"loss": loss_value, **{m.name: log_value(m.result()) for m in metric_objs}}
    if verbose == 2:
        _print_summary_line(step + 1, time.perf_counter() - start, logs)
    _report_loss(model, loss_value)
    cb_list.on_test_end(dict(logs))
    return _format_results(loss_value, metric_objs, return_dict)


def _callback_list(model, callbacks, verbose, steps, where):
    """The callbacks of an evaluate or predict: fit's own list when fit validates, else a
    new list (without a progress-bar callback: evaluate and predict draw their own)."""
    if isinstance(callbacks, callbacks_module.CallbackList):
        return callbacks
    return callbacks_module.CallbackList(callbacks, model=model, verbose=verbose, epochs=1,
                                         steps=steps, progbar=False, where=where)


def predict(model, x, batch_size=None, verbose=0, steps=None, callbacks=None):
    """The model's outputs for ``x``, computed in batches in inference mode.

    ``verbose=1`` shows a progress bar, ``verbose=2`` prints ``313/313 - 0s - 1ms/step``.
    ``callbacks`` get ``on_predict_begin/end`` and ``on_predict_batch_begin/end`` (with
    ``{"outputs": the batch's outputs}``), as in Keras. ``x`` may give the batches itself
    (see :func:`fit`; a batch's targets, if any, are not used); ``steps`` caps the batches.
    """
    verbose = _resolve_verbose(verbose)
    where = f"{model.name}.predict"
    steps = batches.check_steps(steps, "steps", where)
    from_source = batches.is_source(x)
    if from_source:
        data = batches.EpochIterator(batches.adapter_for(x), steps, where, unpacked=True)
    else:
        batch_size = _check_batch_size(model, batch_size, "predict")
        x, _, n = _check_xy(model, x, None, "predict")
        data = batches.EpochIterator(batches.ArrayBatches(x, None, None, batch_size), steps,
                                     where)
    inputs, total = (xb for xb, _, _ in data.epoch()), data.steps_per_epoch
    try:
        outs = []
        cb_list = _callback_list(model, callbacks, verbose, total, "predict")
        bar = _progress(verbose, total, "predict")
        start = time.perf_counter()
        cb_list.on_predict_begin()
        for step, xb in enumerate(inputs):
            if from_source:
                xb = _check_xy(model, xb, None, "predict")[0]
                model._ensure_graph_for(xb if isinstance(xb, list) else [xb])
            cb_list.on_predict_batch_begin(step)
            if step == 0:
                per_pass = _images_per_inference_pass(model, xb)
            outs.append(_inference_forward(model, xb, per_pass))
            cb_list.on_predict_batch_end(step, {"outputs": model._keyed(outs[-1])})
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        if not outs:
            raise ValueError(f"{where}: the generator or dataset gave no batch")
        if verbose == 2:
            _print_summary_line(len(outs), time.perf_counter() - start, {})
    finally:
        data.close()
    cb_list.on_predict_end()
    if isinstance(outs[0], list):
        return model._keyed([np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))])
    return model._keyed(np.concatenate(outs) if len(outs) > 1 else outs[0])


def _format_step_time(seconds: float) -> str:
    """Keras's time per step: ``2s/step``, ``3ms/step`` or ``450us/step``."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/step"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/step"
    return f"{seconds * 1e6:.0f}us/step"


def _print_summary_line(steps: int, seconds: float, logs: dict) -> None:
    """verbose=2's one line, as Keras prints it: ``313/313 - 1s - 3ms/step - loss: 0.0325``."""
    parts = [f"{steps}/{steps}", f"{seconds:.0f}s", _format_step_time(seconds / steps)]
    shown = {k: shown_number(v) for k, v in logs.items()}  # an array: its mean, as Keras
    parts += [f"{k}: {v:.4f}" if abs(v) > 1e-3 else f"{k}: {v:.4e}" for k, v in shown.items()]
    print(" - ".join(parts), file=sys.stdout, flush=True)


def _progress(verbose, total, desc):
    if verbose != 1:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stdout, leave=True,
                dynamic_ncols=True)


# ---------------------------------------------------------------------------- saving
def save(model, path, overwrite=True, include_optimizer=True):
    """Save architecture, weights and (optionally) optimizer state to one file (see npconv.io).

    As Keras 3's ``model.save(filepath, overwrite=True)``; with ``overwrite=False`` an existing
    file is a ``FileExistsError`` (Keras asks on the terminal).
    """
    from .. import io

    io.save_model(model, path, overwrite=overwrite, include_optimizer=include_optimizer)


def save_weights(model, path, overwrite=True):
    """Save only the weights (safetensors); ``overwrite`` as :func:`save`."""
    from .. import io

    io.save_weights(model, path, overwrite=overwrite)


def load_weights(model, path):
    """Load weights saved by :func:`save_weights` or :func:`save` into ``model``."""
    from .. import io

    io.load_weights(model, path)
