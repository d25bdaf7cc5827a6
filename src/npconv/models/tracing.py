"""Tracing a Python ``call`` made of layer calls into a graph of layers.

Both subclassed models (``class M(npconv.Model)``) and layers built from other layers
(``class Block(npconv.layers.Layer)`` whose attributes hold layers) are traced here: ``call``
runs on symbolic ``Input`` tensors, and the tensors it returns describe the graph, which a
functional :class:`~npconv.models.functional.Model` then runs forward and backward.
"""

from __future__ import annotations

from ..layers.base import Layer, SymbolicTensor, _takes_training, held_layers
from ..layers.input import Input, InputLayer


def attribute_layers(owner) -> list:
    """The layers ``owner`` holds as attributes (in lists, tuples and dicts too), in
    assignment order, each once."""
    return held_layers(owner, (Layer,))


def traced_tensors(outputs) -> list:
    """The tensors a traced call made to reach ``outputs``, in a fixed (depth-first) order."""
    seen, order = set(), []

    def visit(t):
        if not isinstance(t, SymbolicTensor) or id(t) in seen:
            return
        seen.add(id(t))
        for p in t.parents:
            visit(p)
        order.append(t)

    for t in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        visit(t)
    return order


def _layer_calls(tensors) -> list:
    """The kinds of layer behind ``tensors`` (classes: a layer made inside call is a new
    object in each trace)."""
    return [type(t.layer) for t in tensors]


def trace_call(call, shapes, several: bool, where: str, what: str, keys=None,
               input_names=None):
    """Run ``call`` (a bound method) on symbolic inputs of ``shapes`` (each without the batch
    dimension) and return ``(arg, outputs)``: the inputs as ``call`` received them (one
    tensor, a list, or a dict by ``keys``) and the tensors it returned.

    When ``call`` takes ``training``, it is traced once per mode: the same layers must run
    (no Python control flow on ``training``), and a layer call whose ``training`` follows
    the argument follows the model's mode at run time. ``where`` names the caller in
    errors, ``what`` says what is traced ("a subclassed model's call"). ``input_names``
    names the ``Input`` tensors (else automatic names).
    """
    takes_training = _takes_training(call)

    def trace(training):
        names = input_names or [None] * len(shapes)
        inputs = [Input(shape=s, name=n) for s, n in zip(shapes, names, strict=True)]
        arg = dict(zip(keys, inputs, strict=True)) if keys else inputs if several else inputs[0]
        try:
            out = call(arg, training=training) if takes_training else call(arg)
        except Exception as err:
            raise TypeError(
                f"{where}: {what} is traced into a graph of npconv layers on its first "
                f"input, and tracing failed: {type(err).__name__}: {err}. Use only npconv "
                "layers (Add, Concatenate, Activation, ... for arithmetic; + and * of two "
                "layer outputs; npconv.activations functions) inside call: other NumPy "
                "operations on the traced tensors have no gradient here") from err
        return arg, out

    if takes_training:
        # One graph serves both modes. Traced once per mode: the same layers must run
        # (no Python control flow on ``training``, as ``if training: x = self.drop(x)``;
        # ``self.drop(x, training=training)`` is Keras's way, and works), and a call
        # whose training follows the model's argument (True, then False) follows the
        # model's mode at run time; one fixed in call (the same in both) stays fixed.
        _, for_training = trace(True)
        arg, outputs = trace(False)
        train_tensors = traced_tensors(for_training)
        tensors = traced_tensors(outputs)
        if _layer_calls(train_tensors) != _layer_calls(tensors):
            raise ValueError(
                f"{where}: call runs other layers when training=True than when it is "
                "False (Python control flow on training); npconv traces call into one "
                "graph for both modes: pass training to the layers instead, e.g. "
                "self.dropout(x, training=training)")
        for when_training, t in zip(train_tensors, tensors, strict=True):
            if when_training.training != t.training:
                t.training = None
    else:
        arg, outputs = trace(None)
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    if not outs or not all(isinstance(t, SymbolicTensor) for t in outs):
        raise TypeError(f"{where}: expected call to return the output of npconv layers "
                        f"(or a list of them). Received {type(outputs).__name__}")
    if any(t.layer is not None and isinstance(t.layer, InputLayer) for t in outs):
        raise ValueError(f"{where}: call returned its input unchanged; a model needs at "
                         "least one layer")
    return arg, outputs
