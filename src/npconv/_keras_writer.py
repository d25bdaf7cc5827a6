"""An npconv model as the records of a Keras 3 ``config.json`` and the groups of its
``model.weights.h5`` (what :func:`npconv.keras_files.save_keras_model` writes).

A Sequential is ``{"class_name": "Sequential", "config": {"layers": [InputLayer, ...]}}``; a
functional model is ``{"class_name": "Functional", "config": {"layers": [...],
"input_layers", "output_layers"}}`` where each layer record carries its ``name`` and its
``inbound_nodes``: one ``{"args": [...], "kwargs": {...}}`` per call, each input a
``__keras_tensor__`` whose ``keras_history`` is ``[layer name, call index, output index]``.
A model used as a layer is a record of the same kind in its place.
"""

from __future__ import annotations

import numpy as np

from ._keras_graph import keras_class, keras_layers, keras_paths, units

#: npconv layers Keras has no class for (a Keras load would fail on them)
_NOT_IN_KERAS = ("Absolute", "FloorDivide", "Mod", "Power", "TrueDivide", "Lambda")
#: layers whose Keras constructor takes no ``trainable`` (Keras refuses the record with one)
_NO_TRAINABLE_ARG = ("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")


def model_record(model, where: str) -> dict:
    """The Keras record of ``model`` (a Sequential or a functional model)."""
    from .models.sequential import Sequential

    model._require_graph("save_keras_model")
    if isinstance(model, Sequential):
        records = [input_record(model.inputs[0])]
        records += [op_record(layer, where) for layer in keras_layers(model)]
        shape = records[0]["config"]["batch_shape"]
        return {"module": "keras", "class_name": "Sequential", "registered_name": None,
                "config": {"name": model.name, "trainable": model.trainable,
                           "layers": records, "build_input_shape": shape},
                "build_config": {"input_shape": shape}}
    if model._subclassed():
        raise ValueError(f"{where}: {model.name!r} is a subclassed model; Keras rebuilds one "
                         "only from its Python class, which a .keras file does not hold")
    if getattr(model, "_input_keys", None) or getattr(model, "_output_keys", None):
        raise ValueError(f"{where}: {model.name!r} takes or gives a dict of tensors; only "
                         "lists are written to Keras files")
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "registered_name": "Functional", "config": _functional_config(model, where),
            "build_config": {"input_shape": None}}


def _functional_config(model, where: str) -> dict:
    calls = units(model)
    shapes = {i: t.shape for i, t in enumerate(model.inputs)}
    shapes.update((node.out, shape) for node, shape in zip(model._nodes, model._node_shapes,
                                                            strict=True))
    history = {i: [t.layer.name, 0, 0] for i, t in enumerate(model.inputs)}
    inbound: dict[int, list] = {}
    for op, parents, outs, training in calls:
        nodes = inbound.setdefault(id(op), [])
        for j, t in enumerate(outs):
            if t is not None:
                history[t] = [op.name, len(nodes), j]
        args = [_tensor(shapes[p], history[p]) for p in parents]
        several = (len(op.inputs) > 1) if hasattr(op, "_nodes") else op.multiple_inputs
        kwargs = {} if training is None else {"training": bool(training)}
        nodes.append({"args": [args] if several else args, "kwargs": kwargs})
    records = []
    for op in model.layers:  # (Keras's order: npconv.models.keras_order)
        if type(op).__name__ == "InputLayer":
            record = input_record(op.output)
        else:
            record = op_record(op, where)
        records.append({**record, "name": op.name, "inbound_nodes": inbound.get(id(op), [])})

    def ends(tensors, several):
        found = [history[t] for t in tensors]
        return found if several else found[0]

    return {"name": model.name, "trainable": model.trainable, "layers": records,
            "input_layers": ends(range(len(model.inputs)), model._multi_input),
            "output_layers": ends(model._output_ids, model._multi_output)}


def _tensor(shape, history) -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, *shape[1:]], "dtype": "float32",
                       "keras_history": list(history)}}


def input_record(tensor) -> dict:
    shape = [None, *tensor.shape[1:]] if tensor.shape else None
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
            "config": {"batch_shape": shape, "dtype": str(getattr(tensor, "dtype", "float32")),
                       "sparse": False, "ragged": False, "name": tensor.layer.name}}


def op_record(op, where: str) -> dict:
    """The record of a layer, or of a model used as a layer."""
    if hasattr(op, "_nodes"):  # a model
        record = model_record(op, where)
        record["build_config"] = {"input_shape": [None, *op.inputs[0].shape[1:]]
                                  if len(op.inputs) == 1 else
                                  [[None, *t.shape[1:]] for t in op.inputs]}
        return record
    class_name = type(op).__name__
    if not type(op).__module__.startswith("npconv.layers") or class_name in _NOT_IN_KERAS:
        raise ValueError(f"{where}: layer {op.name!r} ({class_name}) has no Keras "
                         "equivalent that Keras would read")
    config = {**op.get_config(), "dtype": "float32"}
    if not class_name.startswith("ZeroPadding") and not isinstance(
            config.get("padding", ""), str):
        # npconv's convolutions also take explicit pads; Keras's only 'valid', 'same' (and
        # 'causal' in 1-D), and its loader refuses the file
        raise ValueError(f"{where}: layer {op.name!r} ({class_name}) has explicit "
                         f"padding={config['padding']!r}, which Keras's {class_name} does not "
                         "take: put a ZeroPadding layer before it with padding='valid'")
    if class_name in _NO_TRAINABLE_ARG:
        del config["trainable"]
    record = {"module": "keras.layers", "class_name": class_name, "registered_name": None,
              "config": config}
    shape = getattr(op, "input_shape", None)
    if op._weights and shape is not None:
        if shape and isinstance(shape[0], tuple):
            record["build_config"] = {"input_shape": [[None, *s[1:]] for s in shape]}
        else:
            record["build_config"] = {"input_shape": [None, *shape[1:]]}
    return record


def write_weights(group, model) -> None:
    """``model``'s weights into the HDF5 ``group`` as Keras lays them out: ``vars`` (the
    model's own, none), then ``layers/<class>[_n]/vars/0, 1...`` per layer of
    :func:`keras_layers`, a model used as a layer a subgroup of the same layout."""
    group.create_group("vars").attrs["name"] = model.name
    ops = keras_layers(model)
    for op, path in zip(ops, keras_paths([keras_class(op) for op in ops]), strict=True):
        if hasattr(op, "_nodes"):
            write_weights(group.create_group(path), op)
            continue
        g = group.create_group(path).create_group("vars")
        g.attrs["name"] = op.name
        for i, w in enumerate(op._weights):
            g[str(i)] = np.asarray(w.value, dtype=np.float32)


# ------------------------------------------------------------ training configuration
def compile_record(model, where: str) -> dict | None:
    """Keras's ``compile_config`` for a compiled ``model`` (optimizer, loss, loss_weights,
    metrics and weighted metrics as Keras class records or names), None when it is not
    compiled. A learning-rate schedule is refused (npconv's schedules are not Keras's
    records)."""
    if not getattr(model, "compiled", False):
        return None
    optimizer = model.optimizer
    config = optimizer.get_config()
    if callable(getattr(optimizer, "_learning_rate", None)):
        raise ValueError(f"{where}: the optimizer's learning rate is a schedule; Keras files "
                         "are written with a constant learning rate only (compile with a "
                         "number, or save the model uncompiled)")
    loss, loss_weights = model.loss, None
    if type(loss).__name__ == "MultiOutputLoss":
        loss_weights = list(loss.loss_weights)
        loss = [None if x is None else _class_record(x, "keras.losses") for x in loss.losses]
    else:
        loss = _class_record(loss, "keras.losses")
    return {"optimizer": {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
                          "config": config, "registered_name": None},
            "loss": loss, "loss_weights": loss_weights,
            "metrics": _metric_records(model._metric_specs),
            "weighted_metrics": _metric_records(
                getattr(model, "_weighted_metric_specs", None) or None),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _class_record(obj, module: str):
    if isinstance(obj, str):
        return obj
    if isinstance(obj, type) or not hasattr(obj, "get_config"):
        name = getattr(obj, "__name__", None)
        if name is None:
            raise ValueError(f"a loss or metric {obj!r} that Keras could not rebuild")
        return name
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}


def _metric_records(specs):
    if specs is None:
        return None
    if isinstance(specs, dict):
        if not any(specs.values()):
            return None
        return {name: [_class_record(m, "keras.metrics") for m in per_output]
                for name, per_output in specs.items()}
    return [_class_record(m, "keras.metrics") for m in specs] or None


def write_optimizer(group, model, where: str) -> bool:
    """The optimizer's state as Keras's ``optimizer/vars`` (see npconv._keras_optimizer)
    into the HDF5 ``group``; False (nothing written) for a class whose state npconv does not
    map to Keras's."""
    from ._keras_optimizer import state_to_keras

    arrays = state_to_keras(model.optimizer, trainable_in_keras_order(model))
    if arrays is None:
        return False
    g = group.create_group("optimizer").create_group("vars")
    g.attrs["name"] = model.optimizer.name
    for i, a in enumerate(arrays):
        g[str(i)] = a
    return True


def trainable_in_keras_order(model) -> list:
    """``model``'s trainable weights in Keras's ``model.trainable_variables`` order."""
    found = []
    for op in keras_layers(model):
        if hasattr(op, "_nodes"):
            found += trainable_in_keras_order(op)
        elif type(op).__name__ != "InputLayer":
            found += list(op.trainable_weights)
    return found
