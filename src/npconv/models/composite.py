"""Layers built from other layers (Keras's "recursively composable layers").

A ``Layer`` subclass whose attributes hold layers and which defines ``call`` but not
``call_backward`` is *composite*: on build, its ``call`` is traced (as a subclassed model's,
:func:`npconv.models.tracing.trace_call`) into a :class:`LayerGraph`, a functional model of
its sublayers, and the layer then runs that graph: forward, backward (the sublayers' own
gradients), caches, parts of batches. Its weights are its sublayers' (the attributes' in
assignment order, then those of layers made inside ``call``); its config is what its
``get_config`` says (Keras: the constructor makes the sublayers again, and the weights are
restored in order).

Refused, with the reason: weights of its own (``add_weight``: the graph cannot differentiate
NumPy arithmetic on them), several inputs or outputs, ``data_format="channels_first"``. A
layer that defines ``call_backward`` keeps its own contract and is never traced.
"""

from __future__ import annotations

from ..layers.base import Layer, held_layers
from . import tracing
from .functional import Model


def is_composite(layer) -> bool:
    """Whether ``layer`` is built by tracing its ``call`` (see the module docstring)."""
    cls = type(layer)
    return (cls.call is not Layer.call and cls.call_backward is Layer.call_backward
            and bool(held_layers(layer)))


def _where(layer) -> str:
    return f"{layer.name} ({type(layer).__name__})"


def _refuse_own_weights(layer) -> None:
    names = [w.name for w in layer._weights]
    if names:
        subs = [sub.name for sub in held_layers(layer)]
        raise ValueError(
            f"{_where(layer)}: a layer built from other layers ({subs}) cannot also have "
            f"weights of its own (made with add_weight: {names}): npconv traces its call "
            "into a graph of those layers, and NumPy arithmetic on its own weights would have "
            "no gradient. Move the weights into a layer of their own (with call and "
            "call_backward) held as an attribute, or define call_backward for this layer "
            "(its forward and backward then run as written)")


def _share_dtype(layer) -> None:
    """A float64 composite (``dtype=`` or a float64 first input) makes float64 sublayers,
    unless they say otherwise or are built already."""
    if layer.dtype is None:
        return
    for sub in held_layers(layer):
        if isinstance(sub, Layer) and sub.dtype is None and not sub.built:
            sub.dtype = layer.dtype


def build_graph(layer, input_shape) -> None:
    """Trace ``layer.call`` for ``input_shape`` (batch included) into ``layer._graph``;
    ``layer._weights`` becomes its sublayers' weights."""
    where = _where(layer)
    if layer.data_format == "channels_first":
        raise ValueError(f"{where}: data_format='channels_first' is for layers that compute "
                         "on their own; a layer built from other layers passes it to them "
                         "(e.g. Conv2D(..., data_format='channels_first'))")
    if type(layer).build is not Layer.build and not layer._weights and not any(
            getattr(sub, "built", False) for sub in held_layers(layer)):
        layer.build(tuple(input_shape))  # Keras's build, e.g. building sublayers ahead
    _refuse_own_weights(layer)
    _share_dtype(layer)
    arg, outputs = tracing.trace_call(
        layer.call, [tuple(input_shape)[1:]], False, f"{where}.call",
        "the call of a layer built from other layers", input_names=[f"{layer.name}_input"])
    if isinstance(outputs, (list, tuple)):
        raise ValueError(f"{where}.call: expected one output tensor. Received a "
                         f"{type(outputs).__name__} of {len(outputs)}; a subclassed Model "
                         "can have several outputs")
    graph = LayerGraph(layer, arg, outputs)
    layer._graph = graph
    layer._sublayer_list = graph.sublayers
    layer._weights = [w for sub in graph.sublayers for w in sub._weights]


class LayerGraph(Model):
    """The traced graph of a composite layer: one input, one output."""

    _checks_names = False  # (Keras checks no names of a layer's sublayers)

    def __init__(self, owner, inputs, outputs):
        super().__init__(inputs, outputs, name=owner.name)
        in_graph = {id(n.layer): n.layer for n in self._nodes}
        ordered = {id(sub): sub for sub in held_layers(owner) if id(sub) in in_graph}
        ordered.update(in_graph)  # layers made inside call, and those of held models, last
        #: the sublayers in Keras order (attributes first), each once
        self.sublayers = tuple(ordered.values())

    def splits_batch(self, training) -> bool:
        """Whether every sublayer may run on parts of a batch (see models.parallel)."""
        from .parallel import _splits

        return all(n.layer.built and _splits(n.layer, training) for n in self._nodes)

    def output_activation(self):
        """The activation of the layer that computes the output (None when a shared layer
        does): a loss may fuse its gradient with it, as with an ordinary output layer."""
        node = self._nodes[-1]
        if self._output_ids != [node.out] or len(self._nodes) - 1 in self._shared_nodes:
            return None
        inner = node.layer._graph
        return inner.output_activation() if inner is not None else node.layer.activation

    def release_caches(self) -> None:
        for sub in self.sublayers:
            sub.release_caches()
        self._call_states = {}
        self._moved_activations = {}

    def pass_state(self):
        """This graph's last forward pass as the sublayers hold it (for a composite layer
        called at several nodes of a model: each call's caches)."""
        record = {k: getattr(self, k, None) for k in (
            "_forward_token", "_skipped_activation", "_moved_activations", "_call_states")}
        return record, [(sub, sub._call_state()) for sub in self.sublayers]

    def restore_pass_state(self, state) -> None:
        record, per_layer = state
        vars(self).update(record)
        for sub, sub_state in per_layer:
            sub._restore_call_state(sub_state)


def check_input(layer, inputs):
    """``inputs`` as the array the graph takes, with the layer named in errors."""
    import numpy as np

    if isinstance(inputs, (list, tuple)) and any(isinstance(a, np.ndarray) for a in inputs):
        raise TypeError(f"{layer.name}: a layer built from other layers takes one input "
                        f"array. Received a {type(inputs).__name__} of {len(inputs)}; a "
                        "subclassed Model can take several inputs")
    x = np.asarray(inputs)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{layer.name}: expected a real numeric array. "
                        f"Received dtype {x.dtype}")
    expected = layer._graph.inputs[0].shape[1:] if layer._graph is not None else None
    if expected is not None and tuple(x.shape[1:]) != tuple(expected):
        raise ValueError(f"{layer.name}: expected an input of shape (batch,) + "
                         f"{tuple(expected)} (it was built for it). Received an input of "
                         f"shape {x.shape}")
    return x

