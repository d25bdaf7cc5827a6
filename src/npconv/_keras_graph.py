"""An npconv model's layers as Keras 3 sees them: the order of ``model.layers`` and the
HDF5 group of each layer's weights.

Keras names a layer's group in ``model.weights.h5`` by its class and its place among the
layers of that class in ``model.layers`` (``layers/dense``, ``layers/dense_1``...), so a
file written or read in another order assigns weights to the wrong layers (silently, where
two layers' weights have the same shapes). A Sequential lists its layers in call order, the
InputLayer not among them; a functional model lists every layer (its InputLayers too) in the
order of Keras's ``ops.function.map_graph``: by decreasing depth from the outputs, then by
the order a depth-first walk from the outputs first reaches each layer. A model used as a
layer is one entry (class ``Sequential`` or ``Functional``) whose weights are a subgroup.
"""

from __future__ import annotations

import re


def snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: the HDF5 group of a layer of class ``name``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def keras_paths(class_names) -> list[str]:
    """Each layer's HDF5 group, as Keras names it: ``layers/`` + its class in snake case,
    ``_1``, ``_2``... for the second and later of a class (in ``model.layers`` order)."""
    used: dict[str, int] = {}
    paths = []
    for class_name in class_names:
        base = snake_case(class_name)
        if base in used:
            used[base] += 1
            paths.append(f"layers/{base}_{used[base]}")
        else:
            used[base] = 0
            paths.append(f"layers/{base}")
    return paths


def keras_class(op) -> str:
    """The class name Keras gives ``op`` (a layer, or a model used as a layer)."""
    from .models.functional import Model
    from .models.sequential import Sequential

    if isinstance(op, Sequential):
        return "Sequential"
    if isinstance(op, Model):
        return "Functional"
    return type(op).__name__


def units(model) -> list[tuple]:
    """The calls of a functional ``model`` as Keras's graph holds them: ``(op, input tensor
    indices, output tensor indices, training)``, a model used as a layer one call (npconv
    inlines its layers). Refused when a layer of such a model also runs outside it (Keras
    could not hold that graph)."""
    found = model._config_units()
    inner = {id(layer): sub for sub in model._submodel_list for layer in sub._flat_layers()}
    for op, *_ in found:
        if id(op) in inner:
            raise ValueError(f"{model.name}: the layer {op.name!r} of the model "
                             f"{inner[id(op)].name!r} (used as a layer) also runs outside "
                             "it; a Keras file cannot hold that graph")
    return found


def functional_order(model, calls) -> list:
    """The ops of functional ``model`` (InputLayers, layers, models used as layers) in the
    order of Keras's ``model.layers`` (``map_graph``), from its ``calls`` (:func:`units`)."""
    n_inputs = len(model.inputs)
    # a node per InputLayer and per call; producer[t] = the node that writes tensor t
    nodes = [(t.layer, [], [i]) for i, t in enumerate(model.inputs)]
    nodes += [(op, list(parents), list(outs)) for op, parents, outs, _ in calls]
    producer = {}
    for k, (_, _, outs) in enumerate(nodes):
        for t in outs:
            if t is not None:
                producer[t] = k
    finished, order, first_seen = set(), [], {}

    def walk(t):  # _build_map_helper: pre-order op indices, post-order nodes
        k = producer[t]
        if k in finished:
            return
        op, parents, _ = nodes[k]
        first_seen.setdefault(id(op), len(first_seen))
        for p in parents:
            walk(p)
        finished.add(k)
        order.append(k)

    for t in model._output_ids:
        walk(t)
    node_depth: dict[int, int] = {}
    op_depth: dict[int, int] = {}
    for k in reversed(order):
        op, parents, _ = nodes[k]
        depth = max(node_depth.setdefault(k, 0), op_depth.get(id(op), 0))
        op_depth[id(op)] = node_depth[k] = depth
        for p in parents:
            parent = producer[p]
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    ops = {id(op): op for op, _, _ in nodes}
    for i in range(n_inputs):  # an input no output depends on
        op = nodes[i][0]
        if id(op) not in op_depth:
            op_depth[id(op)], first_seen[id(op)] = 0, -1
    return sorted((ops[key] for key in op_depth),
                  key=lambda op: (-op_depth[id(op)], first_seen[id(op)]))


def keras_layers(model) -> list:
    """``model.layers`` in Keras's order: a Sequential's without its InputLayer, a
    functional model's by :func:`functional_order`."""
    from .models.sequential import Sequential

    if isinstance(model, Sequential):
        return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    return functional_order(model, units(model))
