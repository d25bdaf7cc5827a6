"""The order in which Keras 3 lists a functional model's layers (its ``map_graph``).

npconv runs a graph's nodes in the order a depth-first walk from the outputs finishes them
(each input's branch before the next). Keras 3 lists ``model.layers`` otherwise, and its
summary, ``get_weights`` and ``weights`` follow that list:

1. A depth-first walk from each output in turn, through each node's inputs in order,
   numbers the operations (layers, input layers, models used as layers) as it first
   meets them: the output layer is 0.
2. A node's depth is its distance from the outputs: 0 for a node nothing in the graph
   reads, else one more than the deepest node that reads it (an operation called at
   several nodes takes the deepest of them, as Keras's loop decides it).
3. The operations are sorted by depth, deepest first, and by their number within a depth.
   An input that no output depends on comes at depth 0, before the others there.

With two inputs a, b and branches a -> da1 -> da2 -> da3 and b -> db1 joined by an Add,
npconv runs a, b, da1, da2, da3, db1, add, out and Keras lists
a, da1, da2, b, da3, db1, add, out (b is as far from the output as da2).

A model used as a layer is one operation here (one node per call), as in Keras.
"""

from __future__ import annotations


def keras_order(model) -> list:
    """The entries of ``model.layers`` (input layers, layers, models used as layers) in
    Keras 3's order; ``model`` is a functional :class:`~npconv.models.functional.Model`
    with its graph built."""
    nodes = model._nodes
    owners = getattr(model, "_node_owners", None) or [None] * len(nodes)
    calls = getattr(model, "_node_calls", None) or [None] * len(nodes)
    call_io = getattr(model, "_call_io", {})
    # Keras's nodes: {key: (operation, the tensors it reads)}, and each tensor's producer
    keras_nodes: dict = {}
    producer: dict[int, tuple] = {}
    for i, t in enumerate(model.inputs):
        keras_nodes[("input", i)] = (t.layer, [])
        producer[i] = ("input", i)
    for k, node in enumerate(nodes):
        call = calls[k]
        if call is None:
            key = ("node", k)
            keras_nodes[key] = (node.layer, list(node.parents))
        else:  # one call of a model used as a layer: one node, reading the call's inputs
            key = ("call", id(call))
            if key not in keras_nodes:
                reads = [t for t in call_io[id(call)][0] if t is not None]
                keras_nodes[key] = (owners[k], reads)
        producer[node.out] = key

    number: dict[int, int] = {}  # id(operation) -> when the walk first met it
    finished: set = set()
    walked: list = []  # the nodes, each after the nodes it reads

    def walk(tensor: int) -> None:
        key = producer[tensor]
        if key in finished:
            return
        operation, reads = keras_nodes[key]
        number.setdefault(id(operation), len(number))
        for t in reads:
            walk(t)
        finished.add(key)
        walked.append(key)

    for t in model._output_ids:
        walk(t)

    node_depth: dict = {}
    depth_of: dict[int, int] = {}  # id(operation) -> depth
    operations: dict[int, object] = {}
    for key in reversed(walked):
        operation, reads = keras_nodes[key]
        depth = max(node_depth.setdefault(key, 0), depth_of.get(id(operation), 0))
        depth_of[id(operation)] = node_depth[key] = depth
        operations[id(operation)] = operation
        for t in reads:
            parent = producer[t]
            node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for t in model.inputs:  # an input no output depends on (Keras keeps it, at depth 0)
        if id(t.layer) not in depth_of:
            depth_of[id(t.layer)], number[id(t.layer)] = 0, -1
            operations[id(t.layer)] = t.layer
    return sorted(operations.values(), key=lambda op: (-depth_of[id(op)], number[id(op)]))
