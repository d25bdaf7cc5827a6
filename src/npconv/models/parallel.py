"""One model on parts of a batch at once: data parallelism over the CPU's cores.

NumPy runs element-wise work (im2col copies, activations, pooling, col2im) on one core, and
only the matrix multiplies use the second one, badly for the small ones. So a model cuts a
large enough batch of N samples into T contiguous parts (T = ``npconv.get_num_threads()``)
and runs part ``k`` through *replica* ``k`` in its own thread (:func:`npconv._threads.run_parallel`,
with the BLAS held to one thread). A replica is a shallow copy of every layer: the same
weight arrays, its own caches and gradients. Backward runs each part's replica again, in its
thread, and each weight's gradient is the sum of the parts' gradients, added in part order,
so that results never depend on thread timing.

Exact by construction: a layer takes part only if its output for a sample depends on that
sample alone (``Layer.splits_batch(training)``: every built-in layer, except
BatchNormalization and Dropout while training), and the gradient of a loss over the batch
is the sum of its parts' gradients. Only the grouping of floating-point sums changes (float32
weights differ from a one-piece run by about 1e-7 relative, as with another BLAS thread count).
The loss, its gradient w.r.t. the outputs, the metrics and the optimizer see the whole batch.
"""

from __future__ import annotations

import copy

import numpy as np

from .. import _threads
from ..layers.base import Weight

#: Fewest samples per part: below it the threads' hand-off costs more than they save.
MIN_PART = 8


def _splits(layer, training) -> bool:
    # Only npconv's own layers: a subclass defined elsewhere may keep state per batch.
    return (type(layer).__module__.startswith("npconv.")
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
    mapping = {}
    for w in layer._weights:
        mapping[id(w)] = Weight(w.name, w.value, w.trainable, w.regularizer)
    twin._weights = [mapping[id(w)] for w in layer._weights]
    for key, value in vars(layer).items():
        if isinstance(value, Weight) and id(value) in mapping:
            setattr(twin, key, mapping[id(value)])
    return twin


def _replica_model(model):
    from .functional import _Node

    twin = copy.copy(model)
    twin._is_replica = True
    twin._parallel_run = None
    twin._nodes = [_Node(_replica_layer(n.layer), n.parents, n.out) for n in model._nodes]
    return twin


def _concat(outs_per_part, multi: bool):
    if multi:
        return [np.concatenate([outs[i] for outs in outs_per_part])
                for i in range(len(outs_per_part[0]))]
    return np.concatenate(outs_per_part)


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

    def backward(self, d_outputs, fused_output_activation, need_input_grad):
        d_list = list(d_outputs) if self.model._multi_output else [d_outputs]
        for d in d_list:
            if np.shape(d)[:1] != (self.n,):
                raise ValueError(f"{self.model.name}.backward: expected gradients for a batch "
                                 f"of {self.n} samples (the last forward's). Received shape "
                                 f"{np.shape(d)}")

        def task(replica, part):
            ds = [np.asarray(d)[part] for d in d_list]
            arg = ds if self.model._multi_output else ds[0]
            return lambda: replica._backward_serial(
                arg, fused_output_activation=fused_output_activation,
                need_input_grad=need_input_grad)

        tasks = [task(r, s) for r, s in zip(self.replicas, self.slices, strict=True)]
        results = _threads.run_parallel(tasks)
        if results is None:
            results = [t() for t in tasks]
        self._sum_gradients()
        if not need_input_grad:
            return None
        return _concat(results, self.model._multi_input)

    def _sum_gradients(self) -> None:
        layers = [[n.layer for n in r._nodes] for r in self.replicas]
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
