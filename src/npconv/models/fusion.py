"""A ReLU moved past the max pool that reads it: the same numbers on fewer elements.

    max_pool(relu(z)) == relu(max_pool(z))

value for value, and the gradients agree too: where a window's maximum m is positive, the
first maximum of relu(z) is the first maximum of z, so both send the gradient to the same
cell; where m <= 0, both send 0 (ReLU's gradient there). So when a layer's fused ReLU feeds a
max pool and nothing else, a model runs the layer without its activation, pools the
pre-activation and applies the ReLU to the pooled output: 4x fewer elements for a 2x2 pool,
forward and backward (seed 001's two convolutions and AlexNet's three, for example), and
8x fewer for a 2x2x2 volume pool. The 1-D, 2-D and 3-D max pools and their global forms
all pair.

The values are the same bit for bit, except that a zero gradient may come out as -0.0 where
the unfused run gives +0.0, and that with NaN in a window the cell that receives the gradient
may differ (the max pool leaves it unspecified then).
"""

from __future__ import annotations

from ..layers.base import Layer
from ..layers.pooling import GlobalMaxPooling2D, MaxPooling2D
from ..layers.pooling1d import GlobalMaxPooling1D, MaxPooling1D
from ..layers.pooling3d import GlobalMaxPooling3D, MaxPooling3D

_MAX_POOLS = (MaxPooling2D, GlobalMaxPooling2D, MaxPooling1D, GlobalMaxPooling1D,
              MaxPooling3D, GlobalMaxPooling3D)


def relu_pool_pairs(nodes, n_inputs: int, output_ids) -> dict[int, int]:
    """``{producer position: max-pool position}`` over a model's ``nodes`` (topological
    order): each pair is an npconv max pool and the layer whose output it alone reads (not a
    model input or output). Whether the producer's activation is a plain ReLU is checked at
    each forward (:func:`moves_activation`), as a layer's activation may be replaced."""
    readers = [0] * (n_inputs + len(nodes))
    for node in nodes:
        for p in node.parents:
            readers[p] += 1
    producer_of = {node.out: k for k, node in enumerate(nodes)}
    pairs = {}
    for j, node in enumerate(nodes):
        if type(node.layer) not in _MAX_POOLS:
            continue
        (t,) = node.parents
        if t < n_inputs or t in output_ids or readers[t] != 1:
            continue
        i = producer_of[t]
        producer = nodes[i].layer
        # npconv's own layers only: a subclass defined elsewhere may apply its activation
        # in its own way.
        if (type(producer).__module__.startswith("npconv.") and not producer.multiple_inputs
                and type(producer).forward is Layer.forward):
            pairs[i] = j
    return pairs


def moves_activation(layer) -> bool:
    """Whether ``layer``'s fused activation may be applied after the max pool that reads it."""
    activation = getattr(layer, "activation", None)
    return (activation is not None and activation.commutes_with_max
            and getattr(layer, "activity_regularizer", None) is None)
