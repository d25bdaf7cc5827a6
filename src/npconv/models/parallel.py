"""One model on parts of a batch at once: data parallelism over the CPU's cores.

NumPy runs element-wise work (im2col copies, activations, pooling, col2im) on one core, and
only the matrix multiplies use the second one, badly for the small ones. So a model cuts a
large enough batch of N samples into T contiguous parts (T = ``npconv.get_num_threads()``).
Part 0 runs on the model itself, with the BLAS held to one thread; the others run

- in helper processes (:class:`ProcessRun`, :mod:`npconv._workers`; Linux) once they are
  ready: each holds a copy of the model built from its config whose weights are views of a
  shared memory file (:class:`_SharedWeights`), or else
- in threads (:class:`ParallelRun`, :func:`npconv._threads.run_parallel`), each through a
  *replica*: a shallow copy of every layer, with the same weight arrays and its own caches
  and gradients.

Backward runs each part again where its forward ran, and each weight's gradient is the sum of
the parts' gradients, added in part order, so that results never depend on timing.

Exact by construction: a layer takes part only if its output for a sample depends on that
sample alone (``Layer.splits_batch(training)``: every built-in layer, except
BatchNormalization and Dropout while training), and the gradient of a loss over the batch
is the sum of its parts' gradients. Only the grouping of floating-point sums changes (float32
weights differ from a one-piece run by about 1e-7 relative, as with another BLAS thread count).
The loss, its gradient w.r.t. the outputs, the metrics and the optimizer see the whole batch.
"""

from __future__ import annotations

import copy
import math
import os
import weakref

import numpy as np

from .. import _threads
from ..layers.base import Weight

#: Fewest samples per part: below it the threads' hand-off costs more than they save.
MIN_PART = 8


def _splits(layer, training) -> bool:
    # Only npconv's own layers: a subclass defined elsewhere may keep state per batch. A
    # composite layer runs its traced graph, never its own call: its sublayers decide.
    return ((type(layer).__module__.startswith("npconv.") or layer._graph is not None)
            and layer.splits_batch(training))


def part_slices(n: int, parts: int) -> list[slice]:
    """``parts`` contiguous slices of ``range(n)``, sizes differing by at most one."""
    bounds = [n * k // parts for k in range(parts + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def plan_parts(model, n: int, training: bool) -> list[slice] | None:
    """The parts to cut a batch of ``n`` samples into, or None to run it in one piece."""
    if getattr(model, "_is_replica", False) or not _threads.parallel_available():
        return None
    parts = min(_threads.get_num_threads(), n // MIN_PART)
    if parts < 2:
        return None
    for node in model._nodes:
        if not node.layer.built or not _splits(node.layer, training):
            return None
    return part_slices(n, parts)


def _replica_layer(layer):
    """A shallow copy of ``layer`` whose weights are new ``Weight`` objects around the same
    arrays (so its ``grad`` is its own)."""
    twin = copy.copy(layer)
    if layer._graph is not None:  # a composite layer: replicas of its sublayers
        twin._graph, replicas = _replica_model(layer._graph, with_layers=True)
        twin._sublayer_list = tuple(replicas[id(sub)] for sub in layer._sublayer_list)
        # the twin graph's caches and pass states are its replicas' (not the originals',
        # which run part 0 meanwhile)
        twin._graph.sublayers = twin._sublayer_list
        twin._weights = [w for sub in twin._sublayer_list for w in sub._weights]
        return twin
    mapping = {}
    for w in layer._weights:
        mapping[id(w)] = Weight(w.name, w.value, w.trainable, w.regularizer, w.constraint)
    twin._weights = [mapping[id(w)] for w in layer._weights]
    for key, value in vars(layer).items():
        if isinstance(value, Weight) and id(value) in mapping:
            setattr(twin, key, mapping[id(value)])
    return twin


def _replica_model(model, with_layers=False):
    """A shallow copy of ``model`` running on replicas of its layers (and, if
    ``with_layers``, the ``{id(layer): replica}`` mapping too)."""
    from .functional import _Node

    twin = copy.copy(model)
    twin._is_replica = True
    twin._parallel_run = None
    replicas = {}  # one replica per layer, also for a layer called at several nodes
    for n in model._nodes:
        if id(n.layer) not in replicas:
            replicas[id(n.layer)] = _replica_layer(n.layer)
    twin._nodes = [_Node(replicas[id(n.layer)], n.parents, n.out, n.training)
                   for n in model._nodes]
    return (twin, replicas) if with_layers else twin


def _concat(outs_per_part, multi: bool):
    if multi:
        return [np.concatenate([outs[i] for outs in outs_per_part])
                for i in range(len(outs_per_part[0]))]
    return np.concatenate(outs_per_part)


def _batch_gradients(model, d_outputs, n: int) -> list[np.ndarray]:
    """``d_outputs`` as a list of arrays, each checked to hold ``n`` samples (the batch of the
    forward pass that was run in parts)."""
    d_list = [np.asarray(d) for d in (d_outputs if model._multi_output else [d_outputs])]
    for d in d_list:
        if d.shape[:1] != (n,):
            raise ValueError(f"{model.name}.backward: expected gradients for a batch of {n} "
                             f"samples (the last forward's). Received shape {d.shape}")
    return d_list


def start_run(model, slices):
    """A run of the batch's parts in helper processes when they are ready (Linux), else in
    threads."""
    from .. import _workers

    workers = _workers.ready_workers(len(slices) - 1)
    if workers is not None:
        try:
            return ProcessRun(model, slices, workers)
        except NotForHelpers:
            pass
        except (OSError, _workers.WorkerError):
            _workers.mark_broken()
    return ParallelRun(model, slices)


def run_forward(model, slices, xs, training):
    """The model's output on ``xs`` computed in parts (recorded in ``model._parallel_run``
    for the backward), or None when the parts could not run in parallel."""
    from .. import _workers

    run = start_run(model, slices)
    try:
        out = run.forward(xs, training)
    except _workers.WorkerError:
        _workers.mark_broken()  # a helper died: this and later batches run without them
        return None
    if out is not None:
        model._parallel_run = run
    return out


class ParallelRun:
    """One forward pass run in parts, kept for its backward (:meth:`backward`)."""

    def __init__(self, model, slices):
        self.model = model
        self.slices = slices
        self.n = slices[-1].stop
        # Part 0 runs on the model's own layers, the others on replicas.
        self.replicas = [model] + [_replica_model(model) for _ in slices[1:]]

    def forward(self, xs, training):
        """The model's output on the whole batch ``xs`` (a list of input arrays), or None
        when the parts could not run in parallel (the caller then runs it in one piece)."""
        def task(replica, part):
            return lambda: replica._forward_serial([x[part] for x in xs], training)

        outs = _threads.run_parallel([task(r, s) for r, s in zip(self.replicas, self.slices,
                                                                  strict=True)])
        if outs is None:
            return None
        return _concat(outs, self.model._multi_output)

    def backward(self, d_outputs, fused_output_activation, need_input_grad,
                 release_caches=False):
        d_list = _batch_gradients(self.model, d_outputs, self.n)

        def task(replica, part):
            ds = [d[part] for d in d_list]
            arg = ds if self.model._multi_output else ds[0]
            return lambda: replica._backward_serial(
                arg, fused_output_activation=fused_output_activation,
                need_input_grad=need_input_grad, release_caches=release_caches)

        tasks = [task(r, s) for r, s in zip(self.replicas, self.slices, strict=True)]
        results = _threads.run_parallel(tasks)
        if results is None:
            results = [t() for t in tasks]
        self._sum_gradients()
        if not need_input_grad:
            return None
        return _concat(results, self.model._multi_input)

    def _sum_gradients(self) -> None:
        layers = [list({id(n.layer): n.layer for n in r._nodes}.values())
                  for r in self.replicas]  # each layer once (a shared one has several nodes)
        for per_part in zip(*layers, strict=True):
            for i, w in enumerate(per_part[0]._weights):
                grads = [layer._weights[i].grad for layer in per_part]
                if any(g is None for g in grads):
                    w.grad = None
                    continue
                total = grads[0] + grads[1]
                for g in grads[2:]:
                    total += g
                w.grad = total


# ---------------------------------------------------------------------------- processes
class _SharedWeights:
    """A model's weights moved into one shared memory file (``w.value`` becomes a view of
    it, updated in place by the optimizer as before), which helper processes map too."""

    def __init__(self, model):
        from .. import _workers

        weights = model.weights
        offsets, end = _workers.layout([(w.value.shape, w.value.dtype) for w in weights])
        self.buffer = _workers.Buffer(end)
        self.specs = [[o, list(w.value.shape), w.value.dtype.str]
                      for o, w in zip(offsets, weights, strict=True)]
        self.views = []
        for o, w in zip(offsets, weights, strict=True):
            view = self.buffer.view(o, w.value.shape, w.value.dtype)
            view[...] = w.value
            w.value = view
            self.views.append(view)

    def intact(self, weights) -> bool:
        """True while every weight still is its shared view (nobody rebound ``w.value``)."""
        return len(weights) == len(self.views) and all(
            w.value is v for w, v in zip(weights, self.views, strict=True))


class _ProcessState:
    """What a model's helpers were set up with: its config, shared weights and key."""

    _count = 0

    def __init__(self, model, config_text):
        _ProcessState._count += 1
        self.key = f"{os.getpid()}-{id(model)}-{_ProcessState._count}"
        self.config_text = config_text
        self.config = None  # the config dict it was last checked against (_process_state)
        self.shared = _SharedWeights(model)
        self.set_up = set()  # ids of the helpers that hold this model
        self.regions = {}  # exchange-buffer layouts by part size and input shapes (_region)


class NotForHelpers(Exception):
    """The helpers cannot run this model now (see :class:`ProcessRun`): use threads."""


def _config_of(model) -> dict | None:
    """What a helper builds the model from, or None when the model has no config (e.g. a
    function as its initializer) or holds a composite layer (a user's class, which the
    helper cannot import)."""
    if any(node.layer._graph is not None for node in model._nodes):
        return None
    try:
        return {"kind": model._graph_kind(), "config": model._graph_config()}
    except (ValueError, TypeError):
        return None


#: Models whose weights are in shared memory (a forked child gives them private copies).
_SHARED_MODELS: weakref.WeakSet = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The child's optimizer must not write into the parent's weights through the shared
    # file: each weight gets a private copy, and the model forgets its helper state.
    for model in list(_SHARED_MODELS):
        state = model.__dict__.pop("_process_state", None)
        model._parallel_run = None
        if state is None:
            continue
        shared = {id(v) for v in state.shared.views}
        for w in model.weights:
            if id(w.value) in shared:
                w.value = w.value.copy()
    _SHARED_MODELS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _process_state(model, workers, config):
    """The model's process state, (re)built when ``config`` (:func:`_config_of`) or its
    weights changed, and every worker in ``workers`` set up with it."""
    import json

    kind = config["kind"]
    state = getattr(model, "_process_state", None)
    weights = model.weights
    # The config as it was (a deep copy: a list attribute changed in place must not change
    # it too) compares in a few microseconds; the JSON text only when it differs.
    intact = state is not None and state.shared.intact(weights)
    if not intact or state.config != config:
        config_text = json.dumps(config, sort_keys=True)
        if not intact or state.config_text != config_text:
            state = _ProcessState(model, config_text)
            model._process_state = state
            _SHARED_MODELS.add(model)
        state.config = copy.deepcopy(config)
    for worker in workers:
        if id(worker) in state.set_up:
            continue
        old = worker.models.pop(id(model), None)
        if old is not None:
            _drop(worker, old)
        while len(worker.models) >= MAX_MODELS_PER_HELPER:  # forget the oldest model
            _drop(worker, worker.models.pop(next(iter(worker.models))))
        worker.request({"op": "setup", "key": state.key, "kind": kind,
                        "config": json.loads(state.config_text)["config"],
                        "weights": state.shared.specs, "size": state.shared.buffer.size},
                       [state.shared.buffer.fd])
        worker.models[id(model)] = (state.key, weakref.ref(state))
        state.set_up.add(id(worker))
    return state


#: Models a helper keeps set up (each holds a mapping of its weights).
MAX_MODELS_PER_HELPER = 8


def _drop(worker, entry) -> None:
    key, state_ref = entry
    state = state_ref()
    if state is not None:
        state.set_up.discard(id(worker))
    worker.send({"op": "drop", "key": key})


def _per_sample_bytes(shape) -> int | None:
    if any(d is None for d in shape[1:]):
        return None
    return math.prod(shape[1:]) * 8  # room for float64


class ProcessRun:
    """One forward pass whose parts 1.. run in helper processes (part 0 here), kept for its
    backward. Same contract as :class:`ParallelRun`."""

    def __init__(self, model, slices, workers):
        """Raises :class:`NotForHelpers` when the helpers cannot run this model now."""
        self.model, self.slices, self.workers = model, slices, workers
        self.n = slices[-1].stop
        from .. import _workers

        state = getattr(model, "_process_state", None)
        #: True when the helpers were set up for this model before and the check that the
        #: config and weights are still what they were set up with is left for
        #: :meth:`_confirm`, after the parts were sent (see there)
        self.unconfirmed = (state is not None and getattr(model, "_helpers_refused", None) is None
                            and all(id(w) in state.set_up for w in workers))
        if self.unconfirmed:
            with _workers.exclusive(blocking=False) as got:
                if not got:
                    raise NotForHelpers  # another thread is using them: threads for this one
            self.state = state
            return
        self._set_up()

    def _set_up(self) -> None:
        """Check the model's config and set the helpers up with it (and its shared
        weights) where they were not; raises :class:`NotForHelpers` when they cannot run
        it."""
        from .. import _workers

        with _workers.exclusive(blocking=False) as got:
            if not got:
                raise NotForHelpers  # another thread is using them: this batch in one piece
            self._set_up_holding_them()

    def _set_up_holding_them(self) -> None:
        """:meth:`_set_up` by a caller holding the helpers (``_workers.exclusive``)."""
        from .. import _workers

        model = self.model
        config = _config_of(model)
        refused = getattr(model, "_helpers_refused", None)
        if config is None or (refused is not None and refused == config):
            raise NotForHelpers
        try:
            self.state = _process_state(model, self.workers, config)
        except _workers.WorkerError:
            raise  # a helper died: the caller stops using them
        except (ValueError, TypeError, RuntimeError, KeyError):
            # e.g. a user's regularizer class, which a helper cannot import: this model
            # runs here only, until its config changes
            model._helpers_refused = copy.deepcopy(config)
            raise NotForHelpers from None

    def _confirm(self, seqs) -> bool:
        """Whether the replies to ``seqs`` (requests sent before the check) may be used.

        Checking the config (:func:`_config_of`, 20-70 us per call) before each request
        would delay every helper's part by that much. So a model the helpers hold runs
        first and is checked while they work, with the check :func:`_process_state` makes:
        the same config and every weight still its shared view. When either changed
        (rare: a layer attribute set, a weight rebound), the helpers ran a stale model: their
        replies are waited for and dropped (errors included), and the caller sets them up
        again and sends the parts anew. Part 0 ran on the model itself, which is current."""
        from .. import _workers

        if not self.unconfirmed:
            return True
        self.unconfirmed = False
        model, state = self.model, self.state
        config = _config_of(model)
        if (config is not None and getattr(model, "_process_state", None) is state
                and state.shared.intact(model.weights) and state.config == config):
            return True
        for worker, seq in zip(self.workers, seqs, strict=True):
            try:
                worker.wait(seq)
            except _workers.WorkerError:
                raise  # a helper died: the caller stops using them
            except (ValueError, TypeError, FloatingPointError, MemoryError, RuntimeError):
                pass  # the stale model failed there: its reply is dropped anyway
        return False

    def _region(self, part_n: int, xs):
        """Byte layout of a helper's exchange buffer for a part of ``part_n`` samples:
        inputs (``xs``: the model's inputs, then a training step's labels and sample
        weights), outputs, output gradients (or per-sample losses), input gradients, weight
        gradients (computed once per part size and input shapes)."""
        key = (part_n, tuple((x.shape[1:], x.dtype.str) for x in xs))
        if key not in self.state.regions:
            self.state.regions[key] = self._layout(part_n, xs)
        return self.state.regions[key]

    def _layout(self, part_n: int, xs):
        from .. import _workers

        model = self.model
        _, at = _workers.layout([((part_n,) + x.shape[1:], x.dtype) for x in xs])
        out_shapes = [t.shape for t in model.outputs]
        per = [_per_sample_bytes(s) for s in out_shapes]
        if None in per:
            return None
        out_at = at
        at += sum(part_n * p for p in per) + 64 * len(per)
        dout_at = at
        at += sum(part_n * p for p in per) + 64 * len(per)
        dx_at = at
        at += sum(part_n * math.prod(x.shape[1:]) * 8 + 64 for x in xs)
        grad_offsets, at = _workers.layout(
            [(w.value.shape, w.value.dtype) for w in model.weights], start=at)
        return {"out_at": out_at, "dout_at": dout_at, "dx_at": dx_at,
                "grads_at": grad_offsets, "size": at}

    def forward(self, xs, training):
        from .. import _workers

        with _workers.exclusive(blocking=False) as got:
            return self._forward(xs, training) if got else None

    def _forward(self, xs, training):
        from .. import _threads

        seqs = self._send_forward(xs, training)
        if seqs is None:
            return None
        with _threads.blas_limited():
            first = self.model._forward_serial([x[self.slices[0]] for x in xs], training)
        if not self._confirm(seqs):
            try:
                self._set_up_holding_them()
            except NotForHelpers:
                return None  # (the caller runs the batch in one piece)
            seqs = self._send_forward(xs, training)
            if seqs is None:
                return None
        outs = [first if isinstance(first, list) else [first]]
        for worker, seq in zip(self.workers, seqs, strict=True):
            reply = worker.wait(seq)
            outs.append([worker.exchange.view(o, s, d).copy() for o, s, d in reply["outputs"]])
        if not self.model._multi_output:
            outs = [o[0] for o in outs]
        return _concat(outs, self.model._multi_output)

    def _send_forward(self, xs, training):
        """Send each helper its part of the inputs; their sequence numbers (None when the
        outputs have no fixed size)."""
        from .. import _workers

        self.regions, seqs = [], []
        for worker, part in zip(self.workers, self.slices[1:], strict=True):
            region = self._region(part.stop - part.start, xs)
            if region is None:
                return None
            buffer = worker.exchange_buffer(region["size"])
            inputs = _workers.write_arrays(buffer.bytes, 0, [x[part] for x in xs])
            self.regions.append(region)
            seqs.append(worker.send({"op": "forward", "key": self.state.key,
                                     "inputs": inputs, "training": bool(training),
                                     "out_at": region["out_at"]}))
        return seqs

    def backward(self, d_outputs, fused_output_activation, need_input_grad,
                 release_caches=False):
        from .. import _workers

        with _workers.exclusive(blocking=True):  # the helpers hold this forward's caches
            return self._backward(d_outputs, fused_output_activation, need_input_grad,
                                  release_caches)

    def _backward(self, d_outputs, fused_output_activation, need_input_grad, release_caches):
        from .. import _threads, _workers

        model = self.model
        d_list = _batch_gradients(model, d_outputs, self.n)
        weights = model.weights
        seqs = []
        for worker, part, region in zip(self.workers, self.slices[1:], self.regions,
                                        strict=True):
            specs = _workers.write_arrays(worker.exchange.bytes, region["dout_at"],
                                          [d[part] for d in d_list])
            grads_at = [o if w.trainable else None
                        for o, w in zip(region["grads_at"], weights, strict=True)]
            seqs.append(worker.send({
                "op": "backward", "key": self.state.key, "d_outputs": specs,
                "fused": bool(fused_output_activation), "grads_at": grads_at,
                "dx_at": region["dx_at"] if need_input_grad else None,
                "release": bool(release_caches)}))
        first_d = [d[self.slices[0]] for d in d_list]
        with _threads.blas_limited():
            dx0 = model._backward_serial(first_d if model._multi_output else first_d[0],
                                         fused_output_activation=fused_output_activation,
                                         need_input_grad=need_input_grad,
                                         release_caches=release_caches)
        dxs = [dx0]
        for worker, seq, region in zip(self.workers, seqs, self.regions, strict=True):
            reply = worker.wait(seq)
            self._add_gradients(worker, reply, region, weights)
            if need_input_grad:
                parts = [worker.exchange.view(o, s, d).copy() for o, s, d in reply["dx"]]
                dxs.append(parts if model._multi_input else parts[0])
        if not need_input_grad:
            return None
        return _concat(dxs, model._multi_input)

    @staticmethod
    def _add_gradients(worker, reply, region, weights) -> None:
        """Add a helper's part gradients (in its exchange buffer) to the weights' ``grad``."""
        written = set(reply["grads"])
        # the views of the gradients in this helper's exchange buffer, made once per region
        # (the worker drops them when it replaces its buffer)
        views = worker.views.get(id(region))
        if views is None or views[0] is not region:
            views = worker.views[id(region)] = (region, [
                worker.exchange.view(offset, w.value.shape, w.value.dtype)
                for offset, w in zip(region["grads_at"], weights, strict=True)])
        for i, (w, part_grad) in enumerate(zip(weights, views[1], strict=True)):
            if w.grad is None:
                continue
            if i not in written:
                w.grad = None  # a part without this gradient: as in the threads' sum
                continue
            w.grad = w.grad + part_grad

    def train(self, xs, y, sample_weight, loss):
        """A training step's forward pass, fused loss gradient and backward pass, each part
        where it runs, in one exchange with each helper (no round trip for the loss between
        the passes). Returns ``(per-sample losses, outputs)`` of the whole batch; each
        weight's ``grad`` is the sum of the parts' (as after :meth:`backward`)."""
        from .. import _workers

        with _workers.exclusive(blocking=False) as got:
            return self._train(xs, y, sample_weight, loss) if got else None

    def _train(self, xs, y, sample_weight, loss):
        from .. import _threads

        model, n = self.model, self.n
        weights = model.weights
        seqs = self._send_train(xs, y, sample_weight, loss)
        if seqs is None:
            return None
        first = self.slices[0]
        with _threads.blas_limited():
            out = model._forward_serial([x[first] for x in xs], True)
            values, d_out = loss.fused_rows(
                y[first], out, None if sample_weight is None else sample_weight[first], n)
            model._backward_serial(d_out, fused_output_activation=True, need_input_grad=False,
                                   release_caches=True)
        if not self._confirm(seqs):
            try:
                self._set_up_holding_them()
            except NotForHelpers:
                return None  # (the caller runs the usual step)
            seqs = self._send_train(xs, y, sample_weight, loss)
            if seqs is None:
                return None
        outs, per_sample = [out], [values]
        for worker, seq, region in zip(self.workers, seqs, self.regions, strict=True):
            reply = worker.wait(seq)
            outs.append(worker.exchange.view(*reply["outputs"][0]).copy())
            per_sample.append(worker.exchange.view(*reply["values"]).copy())
            self._add_gradients(worker, reply, region, weights)
        return np.concatenate(per_sample), np.concatenate(outs)

    def _send_train(self, xs, y, sample_weight, loss):
        """Send each helper its part of a training step; their sequence numbers (None when
        the outputs have no fixed size)."""
        from .. import _workers

        weights = self.model.weights
        loss_spec = {"class_name": type(loss).__name__, "config": loss.get_config()}
        self.regions, seqs = [], []
        for worker, part in zip(self.workers, self.slices[1:], strict=True):
            arrays = [x[part] for x in xs] + [y[part]]
            if sample_weight is not None:
                arrays.append(sample_weight[part])
            region = self._region(part.stop - part.start, arrays)
            if region is None:
                return None
            specs = _workers.write_arrays(worker.exchange_buffer(region["size"]).bytes, 0,
                                          arrays)
            grads_at = [o if w.trainable else None
                        for o, w in zip(region["grads_at"], weights, strict=True)]
            self.regions.append(region)
            seqs.append(worker.send({
                "op": "train", "key": self.state.key, "inputs": specs[:len(xs)],
                "labels": specs[len(xs)],
                "sample_weight": specs[len(xs) + 1] if sample_weight is not None else None,
                "loss": loss_spec, "batch_size": self.n, "out_at": region["out_at"],
                "values_at": region["dout_at"], "grads_at": grads_at}))
        return seqs


def train_in_parts(model, x, y, sample_weight, fused):
    """One training step (forward, fused loss gradient, backward) with the batch's parts in
    helper processes, each part computing its own rows of the loss gradient: ``(loss value,
    outputs)``, or None when this does not apply (no helpers ready, a batch that does not
    split, several outputs, a loss of another kind), and the caller runs the usual step.

    The same numbers as the usual step in parts: the fused gradient is row by row
    (:meth:`npconv.training.losses.Loss.fused_rows`) and the loss is reduced over the
    concatenated per-sample losses as in one piece."""
    from .. import _workers
    from ..training import losses

    loss = model.loss
    if (not fused or model._multi_output or type(loss) not in losses._BY_CLASS_NAME.values()
            or loss.fused_activation != fused
            or loss.reduction not in ("sum_over_batch_size", "mean", "sum")):
        return None
    xs = model._prepare_inputs(x)
    n = len(xs[0]) if xs[0].ndim else 0
    y = np.asarray(y)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        if sample_weight.ndim == 0:
            sample_weight = np.full(n, sample_weight)
    if (not all(a.ndim and len(a) == n for a in xs) or y.ndim == 0 or len(y) != n
            or y.dtype.kind not in "biuf"
            or (sample_weight is not None and (len(sample_weight) != n
                                               or sample_weight.dtype.kind not in "biuf"))):
        return None  # the usual step, which explains what is wrong with the batch
    out_shape = (n,) + tuple(model.outputs[0].shape[1:])
    if (sample_weight is not None and sample_weight.ndim == len(out_shape)
            and sample_weight.shape[-1] == 1):
        sample_weight = sample_weight[..., 0]  # Keras's (N, 1) weights for losses (N,)
    if None in out_shape or (sample_weight is not None and sample_weight.ndim > 1
                             and sample_weight.shape != out_shape[:-1]):
        return None
    slices = plan_parts(model, n, True)
    if slices is None:
        return None
    workers = _workers.ready_workers(len(slices) - 1)
    if workers is None:
        return None
    # the labels' shape errors as the whole batch's (a part would name its own shape)
    loss._align(y, np.broadcast_to(np.zeros((), np.float32), out_shape))
    model._parallel_run = None
    try:
        run = ProcessRun(model, slices, workers)
        result = run.train(xs, y, sample_weight, loss)
    except NotForHelpers:
        return None
    except (OSError, _workers.WorkerError):
        _workers.mark_broken()  # a helper died: this step and later ones run without them
        return None
    if result is None:
        return None
    values, outputs = result
    value = float(np.sum(values * loss._weights(values, sample_weight)))
    return value, outputs
