"""Feature maps: what one layer of a model outputs for an image (seed 001's "Filter Activations").

Seed 001 builds ``Model(inputs, conv)`` and calls ``predict``; :func:`feature_maps` does the same
for any layer of an existing model: it cuts the model's graph at that layer (the layers feeding
it, nothing after) and runs the image through, in inference mode.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["feature_maps", "find_layer", "first_conv_layer"]


def find_layer(model, layer):
    """``layer`` of ``model``: a name, an index into the layers it runs (those of a model
    used as a layer in its place: ``model._flat_layers()``), or the Layer itself."""
    from ..layers.base import Layer

    if isinstance(layer, Layer):
        if not any(layer is other for other in model._flat_layers()):
            raise ValueError(f"{model.name}: layer {layer.name} is not part of this model")
        return layer
    if isinstance(layer, str):
        return model.get_layer(name=layer)
    if isinstance(layer, numbers.Integral) and not isinstance(layer, bool):
        flat = model._flat_layers()
        n = len(flat)
        if not -n <= layer < n:
            raise ValueError(f"{model.name}: layer index {layer} is out of range for "
                             f"{n} layers {[item.name for item in flat]}")
        return flat[layer]
    raise TypeError(f"{model.name}: expected layer to be a name, an index or a Layer. "
                    f"Received {type(layer).__name__}")


def first_conv_layer(model):
    """The first ``Conv2D`` layer of ``model`` (ValueError if there is none)."""
    from ..layers.conv import Conv2D

    for layer in model._flat_layers():
        if isinstance(layer, Conv2D):
            return layer
    raise ValueError(f"{model.name}: the model has no Conv2D layer. "
                     f"Layers: {[layer.name for layer in model._flat_layers()]}")


def _as_batch(model, image):
    """``image`` as a batch for ``model``; also whether a batch axis was added."""
    x = np.asarray(image)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"feature_maps: expected a numeric image. Received dtype {x.dtype}")
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    if not model.built:
        # A Sequential without an input shape: take it from the image (one image, no batch).
        model.build((None,) + x.shape)
    rank = len(model.input_shape)
    if x.ndim == rank:
        return x, False
    if x.ndim == rank - 1:
        return x[None], True
    if x.ndim == rank - 2 and model.input_shape[-1] == 1:
        return x[None, ..., None], True
    raise ValueError(f"feature_maps: the model expects inputs of shape {model.input_shape}; "
                     f"expected one image of shape {tuple(model.input_shape[1:])} or a batch. "
                     f"Received shape {x.shape}")


def _tensor_of(model, layer):
    """The symbolic tensor ``layer`` produces in ``model``'s graph."""
    stack, seen = list(model.outputs), set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.layer is layer:
            return t
        stack.extend(t.parents)
    raise ValueError(f"{model.name}: layer {layer.name} does not feed the model's outputs")


def feature_maps(model, image, layer, training=False) -> np.ndarray:
    """The output of ``layer`` (name, index into ``model.layers``, or Layer) for ``image``.

    image: one image ``(H, W, C)`` (or ``(H, W)`` for one channel) or a batch ``(N, H, W, C)``.
    Returns ``(H', W', C')`` for one image, ``(N, H', W', C')`` for a batch (NHWC, the layer's
    output dtype); equal to running the model's layers up to and including ``layer``.
    """
    from ..layers.input import InputLayer
    from ..models.functional import Model

    x, added = _as_batch(model, image)
    target = find_layer(model, layer)
    if isinstance(target, InputLayer):
        out = x
    else:
        tensor = _tensor_of(model, target)
        sub = Model(inputs=model.inputs[0] if len(model.inputs) == 1 else model.inputs,
                    outputs=tensor, name=f"{model.name}_to_{target.name}")
        out = sub.forward(x, training=training)
    return out[0] if added else out
