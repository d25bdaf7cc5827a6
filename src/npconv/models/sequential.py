"""``Sequential``: a plain stack of layers, each feeding the next."""

from __future__ import annotations

import numpy as np

from ..layers.base import Layer, SymbolicTensor, reserve_names
from ..layers.image_preprocessing import OneImageOrBatch
from ..layers.input import InputLayer
from ..tensor import as_tensor
from .functional import _NAMES_FROM_FILE, Model, _model_class


class Sequential(Model):
    """A linear stack of layers, built as soon as its input shape is known.

    The input shape comes from an ``Input`` (or ``InputLayer``) given first, from
    ``input_shape=`` on the first layer, or from the first array the model is called on.
    A Sequential given as an entry (``Sequential([model, Softmax()])``) contributes its layers,
    shared with it.
    """

    def __init__(self, layers=None, name=None):
        super().__init__(name=name)
        self._input_layer: InputLayer | None = None
        #: the layers the model runs, those of models given as entries in their place
        self._stack: list[Layer] = []
        #: the entries as given (a model given as an entry is one): Keras's ``layers``
        self._entries: list = []
        for layer in layers or []:
            self.add(layer)

    @staticmethod
    def _default_name() -> str:
        return "sequential"

    @classmethod
    def _config_class(cls):
        return Sequential

    def add(self, layer) -> None:
        """Append a layer or a model (or set the input with an ``Input`` tensor /
        ``InputLayer``). A model is one entry of :attr:`layers`; its layers run in its place."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            layer = layer.layer
        self._add(layer)
        if not isinstance(layer, InputLayer):
            self._entries.append(layer)

    def _add(self, layer) -> None:
        if not _NAMES_FROM_FILE.get() and isinstance(layer, (Layer, Model)):
            self._check_new_name(layer)
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._stack:
                raise ValueError(f"{self.name}: an Input can only be the first entry")
            self._input_layer = layer
            return
        if isinstance(layer, Sequential):
            # Keras nests the model as one layer; here its layers (the same objects, so the
            # same weights) are stacked in its place, which computes the same function.
            if not self._stack and self._input_layer is None and layer._input_layer is not None:
                self._input_layer = InputLayer(shape=layer._input_layer.shape)
            for inner in layer._stack:
                self._add(inner)
            self._record_submodel(layer)
            return
        if isinstance(layer, Model) and not layer._graph_ready and self._input_layer is not None:
            # a subclassed model or an unbuilt Sequential: built for what the stack gives it
            shape = (self._stack[-1].output_shape if self._stack
                     else (None, *self._input_layer.shape))
            layer.build(tuple(shape))
        if isinstance(layer, Model) and _is_chain(layer):
            # a functional model that is a plain stack: its layers, as for a Sequential
            if not self._stack and self._input_layer is None:
                self._input_layer = InputLayer(shape=layer.inputs[0].shape[1:])
            for node in layer._nodes:
                self._add(node.layer)
            self._record_submodel(layer)
            return
        if not isinstance(layer, Layer):
            hint = ""
            if isinstance(layer, Model) and not layer._graph_ready:
                hint = (" (a model that is not built yet: build it first, e.g. "
                        "model.build((None, 28, 28, 1)), or call it in the functional API, "
                        "outputs = model(inputs))")
            elif isinstance(layer, Model):
                hint = (" (a functional Model with branches or a layer called twice cannot "
                        "be an entry of a Sequential: use the functional API, "
                        "outputs = model(inputs))")
            raise TypeError(f"{self.name}: expected a Layer. Received {type(layer).__name__}"
                            f"{hint}")
        if any(layer is other for other in self._stack):
            raise ValueError(f"{self.name}: layer {layer.name} is already in the model")
        if not self._stack and self._input_layer is None and layer.input_shape_arg is not None:
            self._input_layer = InputLayer(shape=layer.input_shape_arg)
        self._stack.append(layer)
        if self._input_layer is not None:
            self._connect()

    def _check_new_name(self, entry) -> None:
        """Keras's rule: the entries added (a model whose layers are stacked in its place
        counts once, by its name) have distinct names."""
        inner = {id(layer) for sub in self._submodel_list for layer in sub._unique_layers()}
        entries = [*(layer for layer in self._stack if id(layer) not in inner),
                   *self._submodel_list]
        if self._input_layer is not None:
            entries.append(self._input_layer)
        if any(other.name == entry.name and other is not entry for other in entries):
            raise ValueError(f"{self.name}: All layers added to a Sequential model should have "
                             f"unique names. Name '{entry.name}' is already the name of a "
                             "layer in this model. Update the `name` argument to pass a "
                             "unique name.")

    def _record_submodel(self, model) -> None:
        """``get_layer(model.name)`` finds a model whose layers were stacked in its place."""
        self._submodels.update(model._submodels)
        self._submodels.setdefault(model.name, model)
        if all(model is not other for other in self._submodel_list):
            self._submodel_list.append(model)

    def pop(self):
        """Remove and return the last entry (a model given as an entry: all of it)."""
        if not self._entries:
            raise ValueError(f"{self.name}: there is no layer to pop")
        layer = self._entries.pop()
        if isinstance(layer, Model):
            del self._stack[len(self._stack) - len(layer._unique_layers()):]
            self._submodel_list = [m for m in self._submodel_list if m is not layer]
            self._submodels = {}
            for sub in self._submodel_list:
                self._submodels.update(sub._submodels)
                self._submodels.setdefault(sub.name, sub)
        else:
            self._stack.pop()
        if self._stack and self._input_layer is not None:
            self._connect()
        else:
            self._graph_ready = False
        return layer

    def _connect(self) -> None:
        x = self._input_layer.output
        for layer in self._stack:
            x = layer(x)
        self._init_graph(self._input_layer.output, x)
        self._build_model_entries()

    def _build_model_entries(self) -> None:
        """Build each model given as an entry unbuilt (``Sequential([Input(...), augment,
        ...])``) for the shape it gets here, as Keras builds it with the outer model: its
        ``count_params``, ``summary`` and ``get_config`` then work on it too."""
        position = 0  # where the entry's layers start in the stack
        for entry in self._entries:
            size = len(entry._unique_layers()) if isinstance(entry, Model) else 1
            if isinstance(entry, Model) and not entry._graph_ready and size:
                shape = (self._node_shapes[position - 1] if position
                         else (None, *self._input_layer.shape))
                entry.build(tuple(shape))
            position += size

    def __call__(self, x, training=None):
        if self._one_image(x):
            # the TensorFlow tutorial's resize_and_rescale(image): a stack that starts with an
            # image preprocessing/augmentation layer takes one (h, w, c) image as those layers
            # do (Keras builds its Sequential on the image's shape), as a batch of one
            return as_tensor(np.asarray(super().__call__(np.asarray(x)[None], training))[0])
        return super().__call__(x, training)

    def _one_image(self, x) -> bool:
        """Whether ``x`` is one unbatched image for a stack whose first layer takes one."""
        if (isinstance(x, (list, tuple, dict, SymbolicTensor)) or np.ndim(x) != 3
                or not self._stack or not isinstance(self._stack[0], OneImageOrBatch)):
            return False
        return self._input_layer is None or len(self._input_layer.shape) == 3

    def _ensure_graph_for(self, xs) -> None:
        if not self._graph_ready:
            if not self._stack:
                raise ValueError(f"{self.name}: the model has no layers")
            self._input_layer = InputLayer(shape=xs[0].shape[1:])
            self._connect()

    def build(self, input_shape) -> None:
        """Build from ``input_shape`` (batch dimension included), as ``keras.Sequential.build``."""
        if not self._graph_ready:
            self._input_layer = InputLayer(shape=tuple(input_shape)[1:])
            self._connect()

    @property
    def layers(self) -> list:
        """The entries (without the input layer, as Keras lists them): a model given as an
        entry is one, itself."""
        return list(self._entries)

    def _flat_layers(self) -> list[Layer]:
        """The layers the model runs, those of models given as entries in their place."""
        return list(self._stack)

    def _unique_layers(self):
        return list(self._stack)

    def get_config(self) -> dict:
        config = {"name": self.name, "layers": [_entry_config(e) for e in self._entries]}
        if self._input_layer is not None:
            config["input_shape"] = list(self._input_layer.shape)
        if not self.trainable:
            config["trainable"] = False
        return config

    @classmethod
    def from_config(cls, config: dict):
        from ..layers.base import get_layer_class

        model = cls(name=config.get("name"))
        token = _NAMES_FROM_FILE.set(True)  # (the layers of models stacked in place may
        try:                                # share names: two copies of one saved model)
            if config.get("input_shape") is not None:
                model.add(InputLayer(shape=tuple(config["input_shape"])))
            for spec in config["layers"]:
                if spec["class_name"] in ("Sequential", "Functional"):  # a model as an entry
                    model.add(_model_class(spec["class_name"], model.name).from_config(
                        dict(spec["config"])))
                    continue
                model.add(get_layer_class(spec["class_name"]).from_config(dict(spec["config"])))
        finally:
            _NAMES_FROM_FILE.reset(token)
        if config.get("trainable") is False:  # (its layers' configs say so each)
            model._trainable = False
        # a layer added to a loaded model in a fresh session gets a name of its own
        reserve_names([model.name, *(layer.name for layer in model._stack),
                       *(sub.name for sub in model._submodels.values())])
        return model


def _entry_config(entry) -> dict:
    """An entry's ``{"class_name", "config"}``: a model given as an entry is saved whole,
    as Keras saves it ("Sequential" or "Functional"; older npconv files hold its layers in
    its place, and load as they did)."""
    if isinstance(entry, Model):
        return {"class_name": entry._graph_kind(), "config": entry._graph_config()}
    return {"class_name": type(entry).__name__, "config": entry.get_config()}


def _is_chain(model) -> bool:
    """A built one-input, one-output functional model whose layers each read the previous
    one's output."""
    if not model._graph_ready or model._multi_input or model._multi_output:
        return False
    if model._shared_nodes:
        return False  # a layer called twice: the stack would hold it twice
    previous = 0
    for node in model._nodes:
        if list(node.parents) != [previous]:
            return False
        previous = node.out
    return model._output_ids == [previous]
