"""An npconv model's layers as Keras 3 sees them: the order of ``model.layers`` and the
HDF5 group of each layer's weights.

Keras names a layer's group in ``model.weights.h5`` by its class and its place among the
layers of that class in ``model.layers`` (``layers/dense``, ``layers/dense_1``...), so a
file written or read in another order assigns weights to the wrong layers (silently, where
two layers' weights have the same shapes). A Sequential lists its layers in call order, the
InputLayer not among them; a functional model lists every layer (its InputLayers too) in the
order of Keras's ``ops.function.map_graph``, which npconv's ``model.layers`` follows
(npconv.models.keras_order). A model used as a layer is one entry (class ``Sequential`` or
``Functional``) whose weights are a subgroup.
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


def keras_layers(model) -> list:
    """``model.layers`` as Keras lists them: a Sequential's without its InputLayer, a
    functional model's as they are (already Keras's order: npconv.models.keras_order),
    after :func:`units` has checked that Keras could hold the graph."""
    from .models.sequential import Sequential

    if isinstance(model, Sequential):
        return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    units(model)
    return model.layers
