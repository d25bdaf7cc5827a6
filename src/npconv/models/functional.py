"""The functional ``Model``: a graph of layer calls from ``Input`` tensors to outputs.

Forward runs the layers in topological order; backward runs them in reverse, summing the
gradients of a tensor that feeds several layers (a residual branch); a layer's ReLU that only
a max pool reads is applied after the pool, on fewer values (:mod:`npconv.models.fusion`,
the same numbers). Training methods
(``compile``, ``fit``, ``evaluate``, ``predict``) live in :mod:`npconv.training.loop` and are
attached here so that ``model.fit(...)`` reads as in Keras.
"""

from __future__ import annotations

import contextvars

import numpy as np

from ..layers.base import (
    LAYER_HOLDERS,
    Layer,
    SymbolicTensor,
    _snake_case,
    get_layer_class,
    reserve_names,
    unique_name,
)
from ..layers.input import InputLayer
from ..tensor import as_tensor
from . import fusion, parallel, tracing
from .keras_order import keras_order


class _Node:
    """One layer call: ``layer`` reads tensors ``parents`` (indices) and writes tensor ``out``;
    ``training`` (True/False) fixes this call's mode, None follows the model's."""

    __slots__ = ("layer", "parents", "out", "training")

    def __init__(self, layer, parents, out, training=None):
        self.layer, self.parents, self.out, self.training = layer, parents, out, training


class _ModelCall:
    """One call of a model used as a layer in another's graph (its layers run inlined):
    ``model``, the symbolic ``inputs`` it read and ``outputs`` it gave, its ``training``."""

    __slots__ = ("model", "inputs", "outputs", "training")

    def __init__(self, model, inputs, outputs, training):
        self.model, self.inputs, self.outputs, self.training = model, inputs, outputs, training


def _add_call_gradients(layer, shared_grads: dict) -> None:
    """After one call's backward of a shared layer: its weights' ``grad`` becomes the sum
    over the calls back-propagated so far in this pass."""
    weights = layer.trainable_weights
    earlier = shared_grads.get(id(layer))
    if earlier is not None:
        for w, g in zip(weights, earlier, strict=True):
            if g is not None and w.grad is not None:
                w.grad = w.grad + g
    shared_grads[id(layer)] = [w.grad for w in weights]


#: True while a model is rebuilt from its config (a file, a clone): the names were checked
#: when it was built, and the layers of the models it used as layers are its own now.
_NAMES_FROM_FILE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "npconv_names_from_file", default=False)


class Model:
    """A model built from symbolic tensors: ``Model(inputs=Input(...), outputs=...)``."""

    def __init__(self, inputs=None, outputs=None, name=None):
        default = _snake_case(type(self).__name__) if self._subclassed() else self._default_name()
        self.name = name or unique_name(default)
        self.compiled = False
        self.optimizer = self.loss = None
        self.stop_training = False
        self.history = None
        self._nodes: list[_Node] = []
        self._graph_ready = False
        #: the models used as layers of this one, by name: their layers are this model's
        #: (inlined), and get_layer(name) still finds the model, as in Keras
        self._submodels: dict = {}
        #: the models called as layers directly in this one (each once, in call order): with
        #: the layers placed directly, the names that must be unique (Keras's operations)
        self._submodel_list: list = []
        # A Sequential without an input shape is built by its first call, which reads these.
        self._multi_input = self._multi_output = False
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError(f"{self.name}: a functional model needs both inputs= and "
                                 "outputs=")
            self._init_graph(inputs, outputs)

    @staticmethod
    def _default_name() -> str:
        return "functional"

    # ------------------------------------------------------------------ graph
    def _init_graph(self, inputs, outputs) -> None:
        #: the keys of a dict of inputs (Keras's ``Model(inputs={"a": ..., "b": ...})``):
        #: data then comes as a dict with these keys; else None (keyed by Input name)
        self._input_keys = None
        if isinstance(inputs, dict):
            self._input_keys = [str(k) for k in inputs]
            inputs = list(inputs.values())
        #: the keys of a dict of outputs (Keras's ``Model(x, {"cls": ..., "box": ...})``):
        #: predictions then come as a dict, and losses and targets are keyed by them
        self._output_keys = None
        if isinstance(outputs, dict):
            self._output_keys = [str(k) for k in outputs]
            outputs = list(outputs.values())
        if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
            outputs = outputs[0]  # one output: as Keras (its unpack_singleton), no list
        self._multi_input = isinstance(inputs, (list, tuple))
        self._multi_output = isinstance(outputs, (list, tuple))
        self.inputs = list(inputs) if self._multi_input else [inputs]
        self.outputs = list(outputs) if self._multi_output else [outputs]
        for t in self.inputs + self.outputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"{self.name}: inputs and outputs must be symbolic tensors from "
                                f"npconv.Input and layer calls. Received {type(t).__name__}")
        for t in self.inputs:
            if not isinstance(t.layer, InputLayer):
                raise ValueError(f"{self.name}: every input must come from npconv.Input(). "
                                 f"Received {t}")

        index = {id(t): i for i, t in enumerate(self.inputs)}
        nodes: list[_Node] = []
        shapes: list = []  # each node's output shape
        owners: list = []  # each node's model used as a layer here (None: a layer's own call)
        model_calls: list = []  # and that model's call (_ModelCall)

        def visit(t: SymbolicTensor) -> int:
            if id(t) in index:
                return index[id(t)]
            sub = getattr(t, "_from_model", None)
            if sub is not None:
                self._submodels.update(sub._submodels)
                self._submodels.setdefault(sub.name, sub)
                if all(sub is not other for other in self._submodel_list):
                    self._submodel_list.append(sub)
            if isinstance(t.layer, InputLayer):
                raise ValueError(f"{self.name}: the graph is disconnected: {t.layer.name} "
                                 "is used but is not among the model's inputs")
            parents = [visit(p) for p in t.parents]
            index[id(t)] = len(index)
            nodes.append(_Node(t.layer, parents, index[id(t)], t.training))
            shapes.append(t.shape)
            owners.append(getattr(t, "_in_model", None))
            model_calls.append(getattr(t, "_in_call", None))
            return index[id(t)]

        self._output_ids = [visit(t) for t in self.outputs]
        self._check_block_sharing(nodes)
        if type(self)._checks_names and not self._subclassed() and not _NAMES_FROM_FILE.get():
            self._check_unique_names(nodes)
        self._nodes = nodes
        #: per node, the model called as a layer in this graph whose (inlined) call it is,
        #: else None: what :attr:`layers` and the summary show in its layers' place
        self._node_owners = owners
        self._node_calls = model_calls
        self._call_io = {id(c): ([index.get(id(t)) for t in c.inputs],
                                 [index.get(id(t)) for t in c.outputs])
                         for c in model_calls if c is not None}
        self._n_tensors = len(index)
        #: whether a layer may lack a gradient (a Lambda): only then does each training step
        #: check the paths to it (_check_gradient_paths)
        self._may_lack_gradient = any(hasattr(type(n.layer), "differentiable") for n in nodes)
        #: each node's output shape in this graph (summary: a layer built in another model,
        #: e.g. an augmentation Sequential stacked after a Resizing, has its own output_shape)
        self._node_shapes = shapes
        calls: dict[int, int] = {}
        for node in nodes:
            calls[id(node.layer)] = calls.get(id(node.layer), 0) + 1
        #: the nodes of layers called more than once (shared weights): each call keeps its
        #: own caches (_forward_serial) and the calls' weight gradients add up
        self._shared_nodes = frozenset(k for k, node in enumerate(nodes)
                                       if calls[id(node.layer)] > 1)
        for k in self._shared_nodes:
            if nodes[k].layer.activity_regularizer is not None:
                raise ValueError(f"{self.name}: the layer '{nodes[k].layer.name}' has an "
                                 "activity_regularizer and is called at several places; "
                                 "npconv keeps one penalty per layer: give each call a "
                                 "layer of its own")
        self._relu_pools = {
            k: v for k, v in fusion.relu_pool_pairs(nodes, len(self.inputs),
                                                    self._output_ids).items()
            if k not in self._shared_nodes and v not in self._shared_nodes}
        # per node, the tensors no later node reads: dropped once it ran (a forward pass then
        # holds only the caches, not every layer's output as well)
        last_reader = {}
        for k, node in enumerate(nodes):
            for p in node.parents:
                last_reader[p] = k
        keep = set(self._output_ids) | set(range(len(self.inputs)))
        self._last_reads = [[p for p in dict.fromkeys(node.parents)
                             if last_reader[p] == k and p not in keep]
                            for k, node in enumerate(nodes)]
        self._graph_ready = True

    #: Whether the names of the layers placed in the model must be unique (Keras's functional
    #: models and Sequential; not a composite layer's traced graph).
    _checks_names = True

    def _check_unique_names(self, nodes) -> None:
        """Keras's rule: the layers placed in a model (and the models used as layers, one
        name each) have distinct names; a file refers to them by name. The layers of a model
        used as a layer are not placed here (npconv inlines them: two copies of one saved
        model hold equal inner names, which Keras keeps apart as each model's own)."""
        inner = {id(layer) for sub in self._submodel_list for layer in sub._unique_layers()}
        placed = {id(t.layer): t.layer for t in self.inputs}
        placed.update((id(n.layer), n.layer) for n in nodes if id(n.layer) not in inner)
        count: dict[str, int] = {}
        for op in [*placed.values(), *self._submodel_list]:
            count[op.name] = count.get(op.name, 0) + 1
        for name, k in count.items():
            if k > 1:
                raise ValueError(f'{self.name}: The name "{name}" is used {k} times in the '
                                 "model. All layer names should be unique (give each layer, "
                                 "or each copy of a model used as a layer, its own name=)")

    def _check_block_sharing(self, nodes) -> None:
        """Refuse a layer that a layer built from other layers (a composite block) holds and
        that runs elsewhere in this graph too, at a node of its own or in another block: the
        block's inner calls would overwrite the other call's caches (and its gradients).
        A layer called at several nodes of one graph, or a whole block at several, is fine."""
        owner = {id(node.layer): None for node in nodes}  # None: a node of this graph
        for block in {id(n.layer): n.layer for n in nodes}.values():
            for inner in _inner_layers(block):
                if id(inner) in owner and owner[id(inner)] is not block:
                    other = owner[id(inner)]
                    elsewhere = ("at a node of this model of its own" if other is None
                                 else f"inside '{other.name}'")
                    raise ValueError(
                        f"{self.name}: the layer '{inner.name}' runs inside the custom layer "
                        f"'{block.name}' and also {elsewhere}; npconv cannot share a layer "
                        "between a layer built from other layers and the rest of a model "
                        "(one call would overwrite the other's caches). Give each place a "
                        "layer of its own, or build the block as a functional sub-model "
                        "(npconv.Model), whose layers can be shared")
                owner[id(inner)] = block

    @property
    def layers(self) -> list:
        """Every layer once, input layers included, in Keras 3's order (deepest from the
        outputs first: :mod:`npconv.models.keras_order`; the summary and
        :meth:`get_weights` follow it); a model used as a layer is one entry, itself
        (Keras's nested models: ``model.layers[1].trainable = False`` freezes it). A
        subclassed model lists its layers in call order, without input layers, or, not yet
        traced, those among its attributes."""
        if not self._graph_ready:
            return tracing.attribute_layers(self)
        if not self._subclassed():
            return keras_order(self)
        owners = getattr(self, "_node_owners", None) or [None] * len(self._nodes)
        unique = {}
        for node, owner in zip(self._nodes, owners, strict=True):
            entry = node.layer if owner is None else owner
            unique.setdefault(id(entry), entry)
        return list(unique.values())  # as Keras: a subclassed model lists no InputLayer

    def _flat_layers(self) -> list[Layer]:
        """The layers the graph runs, in call order, the input layers first (a shared layer
        once), those of models used as layers in their place: what the engine, the weights
        and the file work on (:attr:`layers` is Keras's view, with nested models whole)."""
        if not self._graph_ready:
            return tracing.attribute_layers(self)
        unique = {id(n.layer): n.layer for n in self._nodes}
        if self._subclassed():
            return list(unique.values())
        return [t.layer for t in self.inputs] + list(unique.values())

    # ------------------------------------------------------------------ subclassed models
    def call(self, inputs, training=False):
        """Keras's ``call``. A subclass overrides it with calls of npconv layers; the model
        traces it on symbolic tensors into its graph on its first input (or :meth:`build`),
        so its backward pass, saving and helper processes are those of a functional model.
        Here (a functional model) it runs the graph."""
        return self.forward(inputs, training=training)

    def _subclassed(self) -> bool:
        return type(self).call is not Model.call

    def build(self, input_shape) -> None:
        """Build a subclassed model from ``input_shape`` (batch dimension included; a list of
        shapes for several inputs), as ``keras.Model.build``. A functional model is built."""
        if self._graph_ready:
            return
        if not self._subclassed():
            self._require_graph("build")
        if isinstance(input_shape, dict):  # call takes a dict of inputs
            self._trace_call([tuple(v)[1:] for v in input_shape.values()], True,
                             keys=[str(k) for k in input_shape])
            return
        several = isinstance(input_shape, (list, tuple)) and len(input_shape) > 0 and (
            isinstance(input_shape[0], (list, tuple)))
        shapes = [tuple(s)[1:] for s in input_shape] if several else [tuple(input_shape)[1:]]
        self._trace_call(shapes, several)

    def _trace_call(self, shapes, several: bool, keys=None) -> None:
        arg, outputs = tracing.trace_call(self.call, shapes, several,
                                          f"{self.name} ({type(self).__name__}.call)",
                                          "a subclassed model's call", keys=keys)
        self._init_graph(arg, outputs)

    def get_layer(self, name=None, index=None) -> Layer:
        """A layer by ``name`` or by position in :attr:`layers`. A name that two layers of
        models used as layers share (two copies of one saved model) is asked of the model
        that holds it: ``model.get_layer("copy").get_layer("dense")``."""
        if index is not None and name is not None:
            raise ValueError(f"{self.name}.get_layer: give a layer name or an index, not both. "
                             f"Received: name={name!r}, index={index!r}")
        if index is not None:
            layers = self.layers
            if (not isinstance(index, (int, np.integer)) or isinstance(index, bool)
                    or not -len(layers) <= index < len(layers)):
                raise ValueError(f"{self.name}.get_layer: expected an index in "
                                 f"[{-len(layers)}, {len(layers)}) (the model has "
                                 f"{len(layers)} layers). Received: index={index!r}")
            return layers[index]
        entries = self.layers
        found = [entry for entry in entries if entry.name == name]
        if len(found) == 1:
            return found[0]
        # npconv's own: a layer of a model used as a layer, by its name (Keras asks the model
        # that holds it: model.get_layer("base").get_layer("conv"))
        flat = [layer for layer in self._flat_layers() if layer.name == name]
        found = found or flat
        if len(found) > 1:
            holders = [sub.name for sub in self._submodels.values()
                       if any(layer in found for layer in sub._unique_layers())]
            raise ValueError(f"{self.name}: {len(found)} layers are named {name!r} (in the "
                             f"models used as layers {holders}): ask the model that holds "
                             f"the one you mean, e.g. model.get_layer({holders[-1]!r})"
                             f".get_layer({name!r})" if holders else
                             f"{self.name}: {len(found)} layers are named {name!r} (a model "
                             "that used copies of one model as layers, rebuilt from its "
                             "file): take one by position, model.get_layer(index=...)")
        if found:
            return found[0]
        sub = self._submodels.get(name)
        ours = {id(layer) for layer in self._flat_layers()}
        if sub is not None and all(id(layer) in ours for layer in sub._unique_layers()):
            return sub  # a model used as a layer deeper down (its layers are ours)
        raise ValueError(f"{self.name}: no layer named {name!r}. "
                         f"Layers: {[entry.name for entry in entries]}")

    @property
    def built(self) -> bool:
        return self._graph_ready

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes if self._multi_input else shapes[0]

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes if self._multi_output else shapes[0]

    @property
    def input(self):
        """The input tensor (a list for several inputs), as Keras's ``model.input``."""
        self._require_graph("model.input")
        return self.inputs if self._multi_input else self.inputs[0]

    @property
    def output(self):
        """The output tensor (a list for several outputs), as Keras's ``model.output``."""
        self._require_graph("model.output")
        return self.outputs if self._multi_output else self.outputs[0]

    # ------------------------------------------------------------------ weights
    def _unique_layers(self):
        return [layer for layer in self._flat_layers() if not isinstance(layer, InputLayer)]

    @property
    def weights(self):
        """Every weight, entry by entry of :attr:`layers` (Keras's order; a model used as a
        layer gives its own ``weights``), each once."""
        return self._weights_of("weights")

    def _weights_of(self, kind: str) -> list:
        """``kind`` ("weights", "trainable_weights" or "non_trainable_weights") of every
        entry of :attr:`layers`, in that order, each weight once (a layer shared with a
        model used as a layer)."""
        seen: set = set()
        out = []
        for entry in self.layers:
            if isinstance(entry, InputLayer):
                continue
            for w in (entry._weights if kind == "weights" and not isinstance(entry, Model)
                      else getattr(entry, kind)):
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    def _file_weights(self) -> list:
        """The weights in the model file's order (``w/<position>/...``): layer by layer as
        the graph runs them (:meth:`_unique_layers`), the order of every file npconv wrote."""
        return [w for layer in self._unique_layers() for w in layer._weights]

    @property
    def trainable(self) -> bool:
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value) -> None:
        """``model.trainable = False`` freezes every layer (Keras's transfer-learning idiom)."""
        self._trainable = bool(value)
        for layer in self._unique_layers():
            layer.trainable = self._trainable
        for sub in self._submodels.values():  # models used as layers (their layers are ours):
            sub._trainable = self._trainable  # Keras sets trainable recursively on them too

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return self._weights_of("trainable_weights")

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._weights_of("non_trainable_weights")

    @property
    def losses(self) -> list[float]:
        """The layers' regularization penalties (Keras's ``model.losses``), added to the loss
        that ``fit`` and ``evaluate`` report."""
        return [p for layer in self._unique_layers() for p in layer.losses]

    def add_regularization_gradients(self) -> None:
        """Add every penalty's gradient to its weight's ``grad`` (after :meth:`backward`)."""
        for layer in self._unique_layers():
            layer.add_regularization_gradients()

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight, layer by layer, each layer in its Keras order."""
        self._require_graph("get_weights")
        return [w.value.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Set every weight from a list in :meth:`get_weights` order (shapes must match)."""
        self._require_graph("set_weights")
        weights = list(weights)
        ours = self.weights
        if len(weights) != len(ours):
            raise ValueError(f"{self.name}: expected {len(ours)} weight arrays "
                             f"{[w.shape for w in ours]}. Received {len(weights)} arrays")
        arrays = [w._checked_value(new, self.name)  # all checked before any is written
                  for w, new in zip(ours, weights, strict=True)]
        for w, new in zip(ours, arrays, strict=True):
            w.assign(new, self.name)

    def count_params(self) -> int:
        self._require_graph("count_params")
        return int(sum(w.value.size for w in self.weights))

    def _require_graph(self, what: str) -> None:
        if not self._graph_ready:
            raise ValueError(f"{self.name}: the model has no input shape yet, so it is not "
                             f"built; {what} needs it. Give the first layer input_shape=, start "
                             "with npconv.Input(shape), or call the model on data first")

    # ------------------------------------------------------------------ running
    def _ensure_graph_for(self, xs) -> None:
        """Build the graph from the first real input: a subclassed model traces its call
        (Sequential overrides this)."""
        if not self._graph_ready and self._subclassed():
            several = isinstance(xs, list) and len(xs) > 1
            self._trace_call([x.shape[1:] for x in xs], several)
        self._require_graph("running the model")

    def _inputs_by_name(self, x: dict, where: str) -> list:
        """A dict of input arrays keyed by Input name (or by the keys of the dict the model
        was built from), in the model's input order."""
        if not self._graph_ready and self._subclassed():  # its call takes a dict: trace one
            arrays = {str(k): np.asarray(v) for k, v in x.items()}
            self._trace_call([a.shape[1:] for a in arrays.values()], True, keys=list(arrays))
        if not self._graph_ready:
            raise ValueError(f"{self.name}.{where}: inputs by name need a built model")
        names = getattr(self, "_input_keys", None) or [t.layer.name for t in self.inputs]
        if set(x) != set(names):
            raise ValueError(f"{self.name}.{where}: expected a dict with the input names "
                             f"{names}. Received keys {sorted(map(str, x))}")
        return [x[name] for name in names]

    def _as_input_list(self, x) -> list[np.ndarray]:
        if isinstance(x, dict):
            x = self._inputs_by_name(x, "call")
        if (not self._graph_ready and self._subclassed() and isinstance(x, (list, tuple))
                and len(x) > 1):
            return [np.asarray(a) for a in x]  # several inputs: the trace will know
        if self._multi_input:
            if len(self.inputs) == 1 and not isinstance(x, (list, tuple)):
                x = [x]  # inputs=[inp] (e.g. model.inputs) takes a plain array too, as Keras
            if not isinstance(x, (list, tuple)) or len(x) != len(self.inputs):
                received = (f"a {type(x).__name__} of {len(x)}"
                            if isinstance(x, (list, tuple)) else type(x).__name__)
                raise ValueError(f"{self.name}: expected a list of {len(self.inputs)} input "
                                 f"arrays. Received {received}")
            return [np.asarray(a) for a in x]
        if isinstance(x, (list, tuple)) and len(x) == 1 and np.ndim(x[0]) > 1:
            x = x[0]
        return [np.asarray(x)]

    def _prepare_inputs(self, x) -> list[np.ndarray]:
        """``x`` as the list of input arrays, the graph built, each input's shape checked."""
        xs = self._as_input_list(x)
        self._ensure_graph_for(xs)
        for t, a in zip(self.inputs, xs, strict=True):
            t.layer._check_input_shape(a.shape)
        return xs

    def forward(self, x, training=False):
        """Run the model on arrays; keeps every layer's cache for :meth:`backward`.

        A large batch runs in parts on several threads (:mod:`npconv.models.parallel`) when
        every layer allows it; the result is the same as in one piece.
        """
        return self._forward_inputs(self._prepare_inputs(x), training)

    def _forward_inputs(self, xs, training):
        """:meth:`forward` of inputs :meth:`_prepare_inputs` already checked."""
        self._parallel_run = None
        n = len(xs[0]) if xs[0].ndim else 0
        if all(a.ndim and len(a) == n for a in xs):
            slices = parallel.plan_parts(self, n, training)
            if slices is not None:
                out = parallel.run_forward(self, slices, xs, training)
                if out is not None:
                    return out
        return self._forward_serial(xs, training)

    def _forward_serial(self, xs, training):
        values: list = [None] * self._n_tensors
        values[:len(xs)] = xs
        relu_pools = self._relu_pools
        # This pass's record for the backward (set on self: a replica keeps its own):
        # the layers run without their ReLU, and per max pool the ReLU moved past it with
        # its cache (models.fusion); each layer is marked as last run by this pass.
        token = self._forward_token = object()
        self._skipped_activation = skipped = set()
        self._moved_activations = moved = {}
        self._call_states = states = {}  # per call of a shared layer: its caches
        shared = self._shared_nodes
        for k, node in enumerate(self._nodes):
            layer = node.layer
            arg = ([values[p] for p in node.parents] if layer.multiple_inputs
                   else values[node.parents[0]])
            mode = training if node.training is None else node.training
            if mode is None and layer._graph is None:  # a direct call without a mode: the
                mode = layer.training_by_default  # layer's default (a composite: its layers')
            if k in relu_pools and fusion.moves_activation(layer):
                skipped.add(k)
                moved[relu_pools[k]] = layer.activation
                y = layer.forward(arg, training=mode, activation=False)
            else:
                y = layer.forward(arg, training=mode)
                if k in moved:
                    y, cache = moved[k].forward(y)
                    moved[k] = (moved[k], cache)
            layer._forward_owner = token
            if k in shared:
                states[k] = layer._call_state()
            values[node.out] = y
            for p in self._last_reads[k]:
                values[p] = None
        outs = [values[i] for i in self._output_ids]
        return outs if self._multi_output else outs[0]

    def __call__(self, x, training=None):
        if isinstance(x, dict) and x and all(isinstance(t, SymbolicTensor) for t in x.values()):
            if not self._graph_ready and self._subclassed():
                self._trace_call([t.shape[1:] for t in x.values()], True,
                                 keys=[str(k) for k in x])
            x = self._inputs_by_name(x, "call")
        if isinstance(x, SymbolicTensor) or (isinstance(x, (list, tuple)) and x
                                             and isinstance(x[0], SymbolicTensor)):
            return self._call_symbolic(x, training)
        # built first (a subclassed model traces its call, a Sequential its stack), so
        # that what it holds is known
        xs = self._prepare_inputs(x)
        if training is None and self._augments_by_default():
            # Keras: each layer takes its own call's default, so augmentation layers
            # augment (the tutorials' `data_augmentation(images)`); the others infer
            self._parallel_run = None
            return self._keyed(as_tensor(self._forward_serial(xs, None)))
        return self._keyed(as_tensor(self._forward_inputs(xs, bool(training))))

    def _augments_by_default(self) -> bool:
        """Whether a layer of this (built) model, or of a composite layer in it, trains
        when called without a mode (see :attr:`Layer.training_by_default`)."""
        return any(node.layer._augments_by_default() for node in self._nodes)

    @property
    def output_names(self) -> list[str]:
        """The names of the layers that give the outputs (Keras's ``model.output_names``)."""
        return [t.layer.name for t in getattr(self, "outputs", None) or []]

    def _output_keys_or_names(self) -> list[str]:
        """What losses, metrics, targets and logs are keyed by: the keys of a dict of
        outputs, else the output layers' names."""
        return list(getattr(self, "_output_keys", None) or self.output_names)

    def _keyed(self, outputs):
        """The outputs as the user gave them to ``Model``: a dict by key, or as they are."""
        keys = getattr(self, "_output_keys", None)
        if not keys:
            return outputs
        return dict(zip(keys, outputs if self._multi_output else [outputs], strict=True))

    def _call_symbolic(self, x, training=None):
        """A model used as a layer of another (Keras's nested models, e.g. a pretrained base):
        its layers are called again on ``x``, so the outer graph holds them (the same
        objects: the weights are shared, and ``base.trainable = False`` freezes them there)."""
        tensors = list(x) if isinstance(x, (list, tuple)) else [x]
        if not all(isinstance(t, SymbolicTensor) for t in tensors):
            raise TypeError(f"{self.name}: cannot mix symbolic tensors and arrays in one call")
        if not self._graph_ready:
            self.build([(None, *t.shape[1:]) for t in tensors] if len(tensors) > 1
                       else (None, *tensors[0].shape[1:]))
        if len(tensors) != len(self.inputs):
            raise ValueError(f"{self.name}: expected {len(self.inputs)} input tensor(s). "
                             f"Received {len(tensors)}")
        for t, inp in zip(tensors, self.inputs, strict=True):
            if tuple(t.shape[1:]) != tuple(inp.shape[1:]):
                raise ValueError(f"{self.name}: expected an input of shape {inp.shape}. "
                                 f"Received {t.shape}")
        values = tensors + [None] * len(self._nodes)
        for node in self._nodes:
            args = [values[p] for p in node.parents]
            mode = training if node.training is None else node.training
            values[node.out] = node.layer(args if node.layer.multiple_inputs else args[0],
                                          training=mode)
        outs = [values[i] for i in self._output_ids]
        call = _ModelCall(self, tensors, outs, training)
        for t in values[len(tensors):]:
            t._in_model = self  # the outer graph shows this model in its layers' place
            t._in_call = call  # (and saves it whole)
        for t in outs:
            t._from_model = self  # for the outer model's get_layer(self.name)
        return self._keyed(outs if self._multi_output else outs[0])

    def backward(self, d_outputs, *, fused_output_activation=False, need_input_grad=False,
                 release_caches=False):
        """Back-propagate ``d_outputs`` (w.r.t. the outputs) through every layer.

        Fills each trainable weight's ``grad``. ``fused_output_activation`` means the gradients
        are already w.r.t. the output layers' pre-activations (softmax + cross-entropy fused).
        Returns the gradient w.r.t. the input(s) when ``need_input_grad``.
        ``release_caches=True`` drops each layer's forward caches once it is back-propagated
        (as PyTorch frees its graph): a training step's peak memory is then lower, and a
        second backward needs a new forward pass first.
        """
        run = getattr(self, "_parallel_run", None)
        if run is not None:
            return run.backward(d_outputs, fused_output_activation, need_input_grad,
                                release_caches)
        return self._backward_serial(d_outputs, fused_output_activation=fused_output_activation,
                                     need_input_grad=need_input_grad,
                                     release_caches=release_caches)

    def _backward_serial(self, d_outputs, *, fused_output_activation, need_input_grad,
                         release_caches=False):
        d_list = list(d_outputs) if self._multi_output else [d_outputs]
        grads: list = [None] * self._n_tensors
        for i, d in zip(self._output_ids, d_list, strict=True):
            grads[i] = d if grads[i] is None else grads[i] + d
        n_inputs = len(self.inputs)
        output_ids = set(self._output_ids)
        token = getattr(self, "_forward_token", None)
        skipped = getattr(self, "_skipped_activation", ())
        moved = getattr(self, "_moved_activations", {})
        states = getattr(self, "_call_states", {})
        shared_grads: dict = {}  # a shared layer's weight gradients of its later calls
        learns = self._trainable_upstream()
        for k in range(len(self._nodes) - 1, -1, -1):
            node = self._nodes[k]
            d = grads[node.out]
            grads[node.out] = None
            if d is None:  # nothing after it needed its gradient
                if release_caches and k not in self._shared_nodes:
                    node.layer.release_caches()
                continue
            if getattr(node.layer, "_forward_owner", None) is not token:
                raise RuntimeError(
                    f"{self.name}.backward: layer {node.layer.name} has run again since this "
                    "model's forward pass (called directly or by another model that shares "
                    "it), so its caches are not this pass's; run this model's forward again "
                    "before its backward")
            if k in self._shared_nodes and k in states:
                node.layer._restore_call_state(states[k])  # this call's caches (gone once
                # released)
            node.layer._check_caches_kept()
            if k in moved:  # the producer's ReLU, applied after this max pool
                activation, cache = moved[k]
                d = activation.backward(d, cache)
            # d_input is needed when a trainable weight lies before this layer (not only
            # when it reads a model input: a Rescaling or a Lambda first, then a Conv2D)
            node.layer.need_input_grad = need_input_grad or any(learns[p] for p in node.parents)
            through = k not in skipped and not (fused_output_activation
                                                and node.out in output_ids)
            dx = node.layer.backward(d, through_activation=through)
            if k in self._shared_nodes:
                _add_call_gradients(node.layer, shared_grads)
            if release_caches:
                node.layer.release_caches()
                states.pop(k, None)
                if k in moved:
                    moved[k] = (activation, None)
            if not node.layer.need_input_grad:
                continue
            dxs = dx if node.layer.multiple_inputs else [dx]
            for p, g in zip(node.parents, dxs, strict=True):
                grads[p] = g if grads[p] is None else grads[p] + g
        if need_input_grad:
            ins = grads[:n_inputs]
            return ins if self._multi_input else ins[0]
        return None

    def _trainable_upstream(self) -> list[bool]:
        """Per tensor of the graph: whether a trainable weight lies on a path to it (its
        gradient is then needed to train that weight)."""
        learns = [False] * self._n_tensors
        for node in self._nodes:
            learns[node.out] = (any(learns[p] for p in node.parents)
                                or bool(node.layer.trainable_weights))
        return learns

    def _check_gradient_paths(self) -> None:
        """Refuse to train when a layer without a gradient (a ``Lambda`` without
        ``backward=``) has trainable weights before it: called by ``compile`` and at each
        ``fit``/``train_on_batch``, before any step."""
        if not self._graph_ready or not getattr(self, "_may_lack_gradient", True):
            return
        before: list[list[str]] = [[] for _ in range(self._n_tensors)]
        for node in self._nodes:
            names = list(dict.fromkeys(n for p in node.parents for n in before[p]))
            if (getattr(node.layer, "differentiable", True) is False and names):
                from ..layers.lambda_layer import no_gradient_message

                raise ValueError(no_gradient_message(node.layer, names[-3:]))
            if node.layer.trainable_weights:
                names.append(node.layer.name)
            before[node.out] = names

    # ------------------------------------------------------------------ config
    def _graph_config(self) -> dict:
        """The architecture as this class's own ``get_config`` gives it, whatever a subclass
        overrides ``get_config`` with (Keras's subclassed models describe their constructor
        arguments there): what the model file and the helper processes rebuild from."""
        return type(self)._config_class().get_config(self)

    @classmethod
    def _config_class(cls):
        return Model

    def _graph_kind(self) -> str:
        """"Sequential" or "Functional": which class rebuilds :meth:`_graph_config`."""
        return "Sequential" if self._config_class().__name__ == "Sequential" else "Functional"

    def get_config(self) -> dict:
        """A JSON-able description of the architecture (no weights). A model used as a layer
        is one entry, its own config (as Keras saves it), unless one of its layers also runs
        elsewhere in this graph: then every layer is an entry of its own."""
        self._require_graph("get_config")
        index_of = {}
        layers = []
        for i, t in enumerate(self.inputs):
            index_of[i] = t.layer.name
            layers.append({"class_name": "InputLayer", "config": t.layer.get_config(),
                           "inbound": []})
        units = self._config_units()
        calls: dict[int, int] = {}
        # Each entry's key in the file is its name; a second layer of the same name (from two
        # copies of one model used as layers, inlined here) gets "name#2" ("key" in its entry)
        keys: dict[int, str] = {}
        used = {t.layer.name for t in self.inputs}
        for op, _, _, _ in units:
            if id(op) not in keys:
                key, n = op.name, 1
                while key in used:
                    n += 1
                    key = f"{op.name}#{n}"
                used.add(key)
                keys[id(op)] = key
        for op, parents, outs, training in units:
            name = keys[id(op)]
            k = calls[id(op)] = calls.get(id(op), 0) + 1
            inbound = [index_of[p] for p in parents]
            base = name if k == 1 else f"{name}@{k}"
            if isinstance(op, Model) and len(op.outputs) > 1:
                index_of.update((out, f"{base}:{j}") for j, out in enumerate(outs))
            else:
                index_of[outs[0]] = base
            if k == 1 and isinstance(op, Model):
                entry = {"class_name": op._graph_kind(), "config": op._graph_config(),
                         "inbound": inbound}
                if name != op.name:
                    entry["key"] = name
            elif k == 1:
                entry = {"class_name": type(op).__name__, "config": op.get_config(),
                         "inbound": inbound}
                # (a custom layer's get_config may leave out its name, as the Keras saving
                # guide's CustomLayer does: the key then says which layer the inbound
                # names mean, as Keras's per-layer "name" does)
                if name != op.name or entry["config"].get("name") != name:
                    entry["key"] = name
            else:  # the k-th call of a shared layer (or model): its output is "name@k"
                entry = {"shared": name, "call": k, "inbound": inbound}
            if training is not None:
                entry["training"] = training
            layers.append(entry)
        extra = {"input_keys": self._input_keys} if getattr(self, "_input_keys", None) else {}
        if getattr(self, "_output_keys", None):
            extra["output_keys"] = self._output_keys
        if not self.trainable:
            extra["trainable"] = False
        return {"name": self.name, "layers": layers, **extra,
                "inputs": [t.layer.name for t in self.inputs],
                "outputs": [index_of[i] for i in self._output_ids],
                "multi_input": self._multi_input, "multi_output": self._multi_output}

    def _config_units(self) -> list:
        """The graph as the file describes it: ``(op, parent tensors, output tensors,
        training)`` per layer call, or per call of a model used as a layer (in an order where
        each reads only tensors written before). Every layer call, when a layer of such a
        model also runs outside that call's model."""
        calls = getattr(self, "_node_calls", None) or [None] * len(self._nodes)
        where: dict[int, set] = {}  # id(layer) -> the models (or None) it runs in here
        for node, call in zip(self._nodes, calls, strict=True):
            where.setdefault(id(node.layer), set()).add(None if call is None
                                                        else id(call.model))
        nested = any(c is not None for c in calls) and all(len(m) == 1 for m in where.values())
        io = getattr(self, "_call_io", {})  # id(call) -> its inputs' and outputs' indices
        nested = nested and all(None not in io[id(c)][0] for c in calls if c is not None)
        units, seen = [], set()
        for node, call in zip(self._nodes, calls, strict=True):
            if call is None or not nested:
                units.append((node.layer, node.parents, [node.out], node.training))
            elif id(call) not in seen:
                seen.add(id(call))
                units.append((call.model, *io[id(call)], call.training))
        # a model call stands where its first layer ran; one of its inputs may be written
        # later (a second input's branch): each unit once all it reads is written
        written = set(range(len(self.inputs)))
        ordered = []
        while units:
            k = next(i for i, u in enumerate(units) if all(p in written for p in u[1]))
            unit = units.pop(k)
            ordered.append(unit)
            written.update(o for o in unit[2] if o is not None)
        return ordered

    @classmethod
    def from_config(cls, config: dict):
        tensors: dict[str, SymbolicTensor] = {}
        by_name: dict[str, Layer] = {}
        for spec in config["layers"]:
            if "shared" in spec:  # a later call of a layer (or model) built above
                layer = by_name[spec["shared"]]
                parents = [tensors[name] for name in spec["inbound"]]
                key = f"{spec['shared']}@{spec['call']}"
                if isinstance(layer, Model):
                    _call_model(layer, key, parents, spec.get("training"), tensors)
                    continue
                tensors[key] = layer(parents if layer.multiple_inputs else parents[0],
                                     training=spec.get("training"))
                continue
            if spec["class_name"] in ("Sequential", "Functional"):  # a model used as a layer
                sub = _model_class(spec["class_name"], cls.__name__).from_config(
                    dict(spec["config"]))
                key = spec.get("key", sub.name)
                _call_model(sub, key, [tensors[name] for name in spec["inbound"]],
                            spec.get("training"), tensors)
                by_name[key] = sub
                continue
            layer_cls = get_layer_class(spec["class_name"])
            layer = layer_cls.from_config(dict(spec["config"]))
            if isinstance(layer, InputLayer):
                tensors[layer.name] = layer.output
                continue
            key = spec.get("key", layer.name)
            parents = [tensors[name] for name in spec["inbound"]]
            tensors[key] = layer(parents if layer.multiple_inputs else parents[0],
                                 training=spec.get("training"))
            by_name[key] = layer
        inputs = [tensors[n] for n in config["inputs"]]
        outputs = [tensors[n] for n in config["outputs"]]
        if config.get("input_keys"):
            inputs = dict(zip(config["input_keys"], inputs, strict=True))
        if config.get("output_keys"):
            outputs = dict(zip(config["output_keys"], outputs, strict=True))
        token = _NAMES_FROM_FILE.set(True)  # (inlined inner layers may share names)
        try:
            model = cls(inputs=inputs if config.get("multi_input") or isinstance(inputs, dict)
                        else inputs[0],
                        outputs=outputs if config.get("multi_output") or isinstance(outputs, dict)
                        else outputs[0],
                        name=config.get("name"))
        finally:
            _NAMES_FROM_FILE.reset(token)
        if config.get("trainable") is False:  # (its layers' configs say so each)
            model._trainable = False
        # a head added to a loaded model in a fresh session gets names of its own
        reserve_names([model.name, *(layer.name for layer in model._flat_layers()),
                       *model._submodels])
        return model

    def to_json(self, **kwargs) -> str:
        """The architecture (no weights) as a JSON string, as Keras's ``model.to_json()``;
        ``kwargs`` go to ``json.dumps``. :func:`npconv.models.model_from_json` reads it back."""
        import json

        from .. import __version__

        return json.dumps({"class_name": self._graph_kind(), "config": self._graph_config(),
                           "npconv_version": __version__}, **kwargs)

    # ------------------------------------------------------------------ display
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None, *, show_cost=False, batch_size=1):
        """Print the Keras summary table (Keras's arguments, in Keras's order).

        ``line_length``: characters per line. ``positions``: where each column ends, as
        fractions of the line (or characters, if the last is above 1). ``print_fn`` receives
        each line (default ``print``). ``show_trainable=True`` adds Keras's "Trainable" column
        (Y, N, or - for a layer without weights). ``layer_range=[first, last]``: only the rows
        from the first layer whose name matches ``first`` to the last matching ``last``
        (names or regular expressions; the totals stay the whole model's). A model used as a
        layer is one row (its output shape and parameters); ``expand_nested=True`` shows its
        layers under it, marked ``└`` (as Keras). npconv's own, keywords:
        ``show_cost=True`` adds the multiply-adds and activation memory at ``batch_size``.
        """
        from .summary import print_summary

        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn,
                      expand_nested=expand_nested, show_trainable=show_trainable,
                      layer_range=layer_range, show_cost=show_cost, batch_size=batch_size)

    def __repr__(self) -> str:
        built = "" if self._graph_ready else ", not built"
        return f"<{type(self).__name__} name={self.name}, layers={len(self.layers)}{built}>"

    # ------------------------------------------------------------------ metrics (Keras names)
    @property
    def metrics(self) -> list:
        """Keras's ``model.metrics``: a ``Mean`` named "loss" then the compiled metrics, in the
        order of :meth:`evaluate`'s list, holding the results of the last fit epoch,
        evaluate or ``*_on_batch`` call; empty before compile."""
        from ..training import loop

        return loop.model_metrics(self)

    def reset_metrics(self) -> None:
        """Reset every metric of :attr:`metrics` (the loss tracker too), as Keras's."""
        for metric in self.metrics:
            metric.reset_state()

    def get_metrics_result(self) -> dict:
        """``{name: value}`` of :attr:`metrics` as they stand (Keras's), as Python floats
        (a NumPy array for a metric with several values: one per class or threshold)."""
        from ..training.log_values import log_value

        return {metric.name: log_value(metric.result()) for metric in self.metrics}

    @property
    def metrics_names(self) -> list[str]:
        """``["loss", "accuracy", ...]`` after compile: the names of :meth:`evaluate`'s
        values, so that ``dict(zip(model.metrics_names, model.evaluate(x, y)))`` names each
        (with no compiled metric, evaluate returns the loss alone, as Keras)."""
        return [m.name for m in self.metrics]


LAYER_HOLDERS.append(Model)  # a layer may hold a model (and call it in its call)


def _call_model(model, key, parents, training, tensors) -> None:
    """Call ``model`` (a model used as a layer, rebuilt from a file) on ``parents``; its
    outputs are ``tensors[key]`` (several: ``key:0``, ``key:1``, ...)."""
    out = model._call_symbolic(parents, training)
    outs = list(out.values()) if isinstance(out, dict) else (
        list(out) if isinstance(out, (list, tuple)) else [out])
    if len(model.outputs) > 1:
        tensors.update((f"{key}:{j}", t) for j, t in enumerate(outs))
    else:
        tensors[key] = outs[0]


def _inner_layers(layer) -> list:
    """The layers a composite block runs, its blocks' too (none for other layers)."""
    graph = layer._graph
    if graph is None:
        return []
    return [w for sub in graph.sublayers for w in (sub, *_inner_layers(sub))]


def _model_class(kind: str, where: str):
    from .. import layers  # noqa: F401 - registers every layer class for from_config
    from .sequential import Sequential

    classes = {"Sequential": Sequential, "Functional": Model, "Model": Model}
    if kind not in classes:
        raise ValueError(f"{where}: expected class_name 'Sequential' or 'Functional'. "
                         f"Received: {kind!r}")
    return classes[kind]


def model_from_json(json_string, custom_objects=None):
    """A new model (fresh weights, not compiled) from :meth:`Model.to_json`'s text (Keras's
    ``keras.models.model_from_json``). ``custom_objects`` gives the functions of ``Lambda``
    layers by name (``{"scale": scale}``), as for ``load_model``; custom layer classes are
    found by class name once their module is imported."""
    import json

    from ..layers.lambda_layer import custom_object_scope

    if not isinstance(custom_objects, (dict, type(None))):
        raise TypeError(f"model_from_json: expected custom_objects to be a dict of names. "
                        f"Received {type(custom_objects).__name__}")
    try:
        spec = json.loads(json_string)
    except (TypeError, ValueError) as err:
        raise ValueError(f"model_from_json: expected the JSON text of model.to_json(). "
                         f"Received text that is not JSON ({err})") from None
    if not isinstance(spec, dict) or "config" not in spec or "class_name" not in spec:
        raise ValueError("model_from_json: expected an object with 'class_name' and 'config' "
                         "(the text of model.to_json())")
    cls = _model_class(spec["class_name"], "model_from_json")
    with custom_object_scope(custom_objects or {}):
        return cls.from_config(spec["config"])


def clone_model(model):
    """The same architecture with new layers and freshly initialised weights (Keras's
    ``keras.models.clone_model``): layer names and configs are kept, weights are drawn again
    from the initializers, and the clone is not compiled. A ``Lambda``'s clone calls the
    same function objects (lambdas too)."""
    from ..layers.lambda_layer import live_functions

    if not isinstance(model, Model):
        raise TypeError(f"clone_model: expected a Sequential or functional Model. "
                        f"Received {type(model).__name__}")
    with live_functions(model._flat_layers()):  # a Lambda's clone runs the same function
        return _model_class(model._graph_kind(), "clone_model").from_config(
            model._graph_config())


def _attach_training_methods() -> None:
    """Attach compile/fit/evaluate/predict (defined in training.loop) to Model lazily."""

    def _method(name):
        def method(self, *args, **kwargs):
            from ..training import loop

            return getattr(loop, name)(self, *args, **kwargs)

        method.__name__ = name
        method.__doc__ = f"See :func:`npconv.training.loop.{name}`."
        return method

    for name in ("compile", "fit", "evaluate", "predict", "train_on_batch", "test_on_batch",
                 "predict_on_batch", "save", "save_weights", "load_weights"):
        setattr(Model, name, _method(name))


_attach_training_methods()
