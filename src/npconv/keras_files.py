"""Reading Keras 3's own files: ``model.keras`` (``model.save``) and ``x.weights.h5``
(``model.save_weights``), so that a model trained in Keras runs in npconv.

A ``.keras`` file is a zip archive holding ``config.json`` (the model as Keras's nested
``{"module", "class_name", "config", "registered_name", "build_config"}`` records, with the
``compile_config``), ``metadata.json`` and ``model.weights.h5``. The HDF5 file holds each
layer's variables as ``layers/<name>/vars/0``, ``vars/1``... where ``<name>`` is the layer's
class name in snake case, numbered in the model's layer order (``conv2d``, ``conv2d_1``), as
Keras reads them back; the optimizer's variables are under ``optimizer/vars``.

Reading HDF5 needs h5py (``pip install h5py``, or ``pip install npconv[keras-files]``), imported
only here. Nothing is unpickled and no code is run: a ``Lambda`` layer whose function Keras
marshalled into the file is refused (as Keras's ``safe_mode`` does). Every layer, option and
weight shape is checked before the model is returned or a weight assigned: a class or option
npconv lacks is a ``ValueError`` naming the layer, never a different model.

The optimizer continues from the file's state (iterations, learning rate and slots, from
``optimizer/vars``) for SGD, RMSprop, Adam, AdamW, Nadam, Adamax, Adagrad and Lion: the next
step in npconv is the step Keras takes (tests/test_keras_optimizer_state.py). For another
class, or a state whose size does not fit the configuration, the optimizer starts afresh
with a warning (Keras skips such a state with a warning too); a slot of the wrong shape is an
error. ``compile_config``'s loss, ``loss_weights``, metrics and weighted metrics are read
in each of Keras's forms (one, a list per output, a dict by output name); its
``run_eagerly``, ``steps_per_execution`` and ``jit_compile`` change nothing in npconv.

:func:`save_keras_model` writes the other way: an npconv ``Sequential`` or functional model
(branches, several inputs and outputs, merges, shared layers, models used as layers) as a
``.keras`` file that Keras 3 loads, with the training configuration and the optimizer's
state when it is compiled (checked by hand with Keras 3.15.1 on the torch backend by
tests/data/keras_files/keras_reads_npconv.py: predictions equal within 3e-7, Keras's next
training step from npconv's file equal to its step from its own).
``model.save("x.keras")`` still writes npconv's own file.

Keras numbers a layer's weight group by its place in Keras's ``model.layers``, which for a
functional model is by depth, not call order (npconv._keras_graph); a model used as a layer
(a Sequential or functional model nested in another) has its layers' groups inside its own.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import zipfile

import numpy as np

from ._keras_configs import KerasConfigError, layer_config, loss_or_metric, optimizer_config
from ._keras_graph import keras_paths as _keras_paths

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_WEIGHTS_MEMBER = "model.weights.h5"
#: an archive member larger than this many times its compressed size (and than 256 MiB) is
#: refused before it is inflated (a zip bomb), as Keras does
_MAX_EXPANSION = 100
_BOMB_FLOOR = 1 << 28
_MODEL_CLASSES = ("Sequential", "Functional", "Model")


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("npconv: reading a Keras file (.keras or .weights.h5) needs h5py: "
                          "pip install h5py (or pip install 'npconv[keras-files]')") from None
    return h5py


def is_keras_archive(path) -> bool:
    """Whether ``path`` is a zip archive with a ``config.json`` (a ``.keras`` file; a
    PyTorch checkpoint is a zip too, without it)."""
    try:
        with zipfile.ZipFile(path) as zf:
            return "config.json" in zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return os.path.splitext(str(path))[1].lower() == ".keras"


def _read_archive(path) -> tuple[dict, bytes]:
    """(the parsed config.json, the bytes of model.weights.h5) of a ``.keras`` file."""
    def bad(reason):
        raise ValueError(f"npconv: {path} is not a readable Keras .keras file ({reason}); "
                         "nothing was loaded")

    try:
        with zipfile.ZipFile(path) as zf:
            members = {info.filename: info for info in zf.infolist()}
            for name in ("config.json", _WEIGHTS_MEMBER):
                if name not in members:
                    bad(f"the archive has no {name}; it holds {sorted(members)}")
                info = members[name]
                if info.file_size > _BOMB_FLOOR and \
                        info.file_size > _MAX_EXPANSION * max(info.compress_size, 1):
                    bad(f"{name} would inflate to {info.file_size} bytes")
            config_text = zf.read("config.json")
            weights = zf.read(_WEIGHTS_MEMBER)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        bad(f"truncated or corrupt zip archive: {exc}")
    except (OSError, RuntimeError, ValueError) as exc:  # a bad CRC, a compression method
        if str(exc).startswith("npconv:"):
            raise
        bad(f"{type(exc).__name__}: {exc}")
    try:
        config = json.loads(config_text)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        bad(f"config.json is not JSON: {exc}")
    if not isinstance(config, dict) or "class_name" not in config:
        bad("config.json is not a Keras model record")
    return config, weights


def _open_h5(data, path):
    h5py = _h5py()
    try:
        return h5py.File(io.BytesIO(data) if isinstance(data, bytes) else data, "r")
    except OSError as exc:
        raise ValueError(f"npconv: {path}: the weights are not a readable HDF5 file ({exc}); "
                         "nothing was loaded") from None


@contextlib.contextmanager
def _read_h5(source, path):
    """The open HDF5 file ``source`` (a path or the bytes of an archive's member). h5py
    reports a damaged file's structure lazily, as OSError, RuntimeError or KeyError at the
    group it cannot walk: a ValueError naming the file here."""
    try:
        with _open_h5(source, path) as h5:
            yield h5
    except (OSError, RuntimeError, KeyError) as exc:
        raise ValueError(f"npconv: {path}: the weights file is damaged ({type(exc).__name__}: "
                         f"{exc}); nothing was loaded") from None


def _layer_vars(h5, group_path, path) -> tuple[list[np.ndarray], str | None]:
    """The arrays ``<group_path>/vars/0, 1...`` in order, and the layer name Keras recorded
    there (None when the file has none)."""
    group = h5.get(f"{group_path}/vars")
    if group is None:
        return [], None
    keys = list(group.keys())
    if sorted(keys, key=lambda k: (len(k), k)) != [str(i) for i in range(len(keys))]:
        raise ValueError(f"npconv: {path}: {group_path}/vars holds {sorted(keys)}, not the "
                         "variables 0, 1, ... Keras writes")
    try:
        arrays = [np.asarray(group[str(i)][()]) for i in range(len(keys))]
    except (OSError, TypeError, ValueError) as exc:
        raise ValueError(f"npconv: {path}: cannot read {group_path}/vars: {exc}") from None
    name = group.attrs.get("name")
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return arrays, name


def _matched_weights(h5, entries, path, check_names, prefix="") -> list:
    """``[(npconv Weight, array)]`` for ``entries`` ``(op, Keras class name, children)`` in
    Keras's layer order (``children`` the entries of a model used as a layer, else None),
    every count and shape checked first; ``check_names`` also compares the layer name Keras
    recorded with the layer's. ``prefix`` is the group of the model the entries belong to."""
    if f"{prefix}layers" not in h5 and (not prefix or any(
            children is not None or op._weights for op, _, children in entries)):
        raise ValueError(f"npconv: {path} is an HDF5 file without Keras 3's "
                         f"'{prefix}layers' group (it holds {sorted(h5[prefix or '/'].keys())}): "
                         "not a Keras 3 weights file (a Keras 2 .h5 file is not read; save it "
                         "from Keras 3)")
    assignments = []
    paths = [prefix + p for p in _keras_paths([keras_class for _, keras_class, _ in entries])]
    expected_groups = {p.rsplit("/", 1)[1] for p in paths}
    present = set(h5[f"{prefix}layers"].keys()) if f"{prefix}layers" in h5 else set()
    extra = sorted(present - expected_groups)
    if extra:
        raise ValueError(f"npconv: {path} holds weights for layers the model lacks: "
                         f"{extra} at {prefix}layers (the model has {sorted(expected_groups)})")
    for (layer, keras_class, children), group in zip(entries, paths, strict=True):
        if children is not None:  # a model used as a layer: its own layers below
            _, saved_name = _layer_vars(h5, group, path)
            if check_names and saved_name is not None and saved_name != layer.name:
                raise ValueError(f"npconv: {path}: {group} belongs to model {saved_name!r}, "
                                 f"but the configuration puts {layer.name!r} there")
            if group not in h5:
                raise ValueError(f"npconv: {path} has no weights for the model "
                                 f"{layer.name!r} ({keras_class}) used as a layer (no {group})")
            assignments += _matched_weights(h5, children, path, check_names, f"{group}/")
            continue
        arrays, saved_name = _layer_vars(h5, group, path)
        if check_names and saved_name is not None and saved_name != layer.name:
            raise ValueError(f"npconv: {path}: {group} belongs to layer {saved_name!r}, but "
                             f"the configuration puts {layer.name!r} there")
        ours = list(layer._weights)
        if len(arrays) != len(ours):
            raise ValueError(f"npconv: {path}: layer {layer.name!r} "
                             f"({type(layer).__name__}) has {len(ours)} weights "
                             f"{[w.name for w in ours]}, the file has {len(arrays)} at {group}")
        for i, (w, a) in enumerate(zip(ours, arrays, strict=True)):
            if a.shape != tuple(w.shape):
                raise ValueError(f"npconv: {path}: layer {layer.name!r} "
                                 f"({type(layer).__name__}) weight {w.name} expects shape "
                                 f"{tuple(w.shape)}; {group}/vars/{i} has shape {a.shape}")
            if a.dtype.kind not in "fiu":
                raise ValueError(f"npconv: {path}: {group}/vars/{i} has dtype {a.dtype}, "
                                 "not a number")
            assignments.append((w, a))
    return assignments


def _weight_entries(model) -> list:
    """The entries :func:`_matched_weights` takes for an npconv ``model``, in the order
    Keras gives its layers (not npconv's call order: Keras numbers the groups by it)."""
    from ._keras_graph import keras_class, keras_layers

    return [(op, keras_class(op), _weight_entries(op) if hasattr(op, "_nodes") else None)
            for op in keras_layers(model)]


def _build_op(spec, path):
    """``(op, entry)``: the npconv layer (or model used as a layer) of one Keras layer
    record, and its :func:`_matched_weights` entry."""
    if isinstance(spec, dict) and spec.get("class_name") in _MODEL_CLASSES:
        config = spec.get("config")
        if not isinstance(config, dict):
            raise ValueError(f"npconv: {path}: the model record {spec.get('name')!r} has no "
                             "config")
        model, entries = _build_model(spec["class_name"], config, config.get("name"), path)
        return model, (model, spec["class_name"] if spec["class_name"] != "Model"
                       else "Functional", entries)
    layer = _build_layer(spec, path)
    return layer, (layer, spec["class_name"], None)


def _build_model(kind, body, name, path):
    """(npconv model, its weight entries) from a Sequential or Functional config."""
    build = _sequential if kind == "Sequential" else _functional
    return build(body, name, path)


def _build_layer(spec, path):
    """An npconv layer from one Keras layer record."""
    from .layers.base import LAYER_REGISTRY

    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"npconv: {path}: a layer record without class_name: {spec!r}")
    class_name = spec["class_name"]
    config = spec.get("config") or {}
    name = config.get("name", "?") if isinstance(config, dict) else "?"
    where = f"npconv: {path}: layer {name!r} ({class_name})"
    cls = LAYER_REGISTRY.get(class_name)
    if cls is None or class_name.startswith("_") or not spec.get("module", "keras").startswith(
            "keras"):
        raise ValueError(f"{where}: npconv has no layer class {class_name!r} (module "
                         f"{spec.get('module')!r}); the layers it reads from Keras files are "
                         "listed in docs/reference.md")
    args = layer_config(class_name, config, where)
    try:
        return cls.from_config(args)
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError(f"{where}: npconv cannot build it from the Keras config: "
                         f"{exc}") from None


def _history(arg, path):
    """The (layer name, node index, tensor index) of a ``__keras_tensor__`` record."""
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        history = arg.get("config", {}).get("keras_history")
        if isinstance(history, list) and len(history) == 3:
            return tuple(history)
    raise ValueError(f"npconv: {path}: unreadable layer input {arg!r} (npconv reads calls on "
                     "Keras tensors only)")


def _node_inputs(node, path, where):
    """A node's inputs as histories (one, or a list: a merge layer's, a model's with several
    inputs) and its ``training=`` (None when the call gave none)."""
    if not isinstance(node, dict):
        raise ValueError(f"npconv: {path}: {where}: unreadable inbound node {node!r}")
    args, kwargs = node.get("args") or [], dict(node.get("kwargs") or {})
    if kwargs.get("mask", None) is None:  # (Keras records mask=None for a model's call)
        kwargs.pop("mask", None)
    training = kwargs.pop("training", None)
    if kwargs or len(args) != 1 or training not in (None, True, False):
        raise ValueError(f"npconv: {path}: {where}: a call with arguments other than one "
                         f"input and training= (args={len(args)}, kwargs={sorted(kwargs)}, "
                         f"training={training!r}) is not read")
    arg = args[0]
    if isinstance(arg, list):
        return [_history(a, path) for a in arg], training
    return _history(arg, path), training


def _functional(config, name, path):
    """An npconv functional Model and its layers in Keras's order, from a Functional
    config."""
    from .models.functional import Model

    specs = config.get("layers")
    if not isinstance(specs, list) or not specs:
        raise ValueError(f"npconv: {path}: the model config has no layers")
    layers, built = [], {}
    for spec in specs:
        layer, entry = _build_op(spec, path)
        lname = spec.get("name", layer.name)
        if lname in built:
            raise ValueError(f"npconv: {path}: two layers are named {lname!r}")
        built[lname] = (layer, spec)
        layers.append(entry)
    tensors = {}
    for lname, (layer, spec) in built.items():
        if spec["class_name"] == "InputLayer":
            tensors[(lname, 0, 0)] = layer.output
    pending = [(lname, i, node) for lname, (layer, spec) in built.items()
               if spec["class_name"] != "InputLayer"
               for i, node in enumerate(spec.get("inbound_nodes") or [])]
    while pending:  # a node waits until its inputs exist (Keras's own order may differ)
        left = []
        for lname, i, node in pending:
            inputs, training = _node_inputs(node, path, f"layer {lname!r}")
            wanted = inputs if isinstance(inputs, list) else [inputs]
            if not all(h in tensors for h in wanted):
                left.append((lname, i, node))
                continue
            layer = built[lname][0]
            args = [tensors[h] for h in wanted] if isinstance(inputs, list) else tensors[inputs]
            try:
                outs = layer(args, training=training)
                for j, out in enumerate(outs if isinstance(outs, list) else [outs]):
                    tensors[(lname, i, j)] = out
            except (TypeError, ValueError) as exc:
                raise ValueError(f"npconv: {path}: layer {lname!r} "
                                 f"({built[lname][1]['class_name']}): {exc}") from None
        if len(left) == len(pending):
            missing = sorted({h[0] for _, _, n in left for h in _flat(
                _node_inputs(n, path, "")[0]) if h not in tensors})
            raise ValueError(f"npconv: {path}: layer inputs from {missing} are never computed")
        pending = left
    ends = {}
    for key in ("input_layers", "output_layers"):
        spec = config.get(key)
        several = bool(spec) and isinstance(spec[0], list)
        histories = [tuple(h) for h in spec] if several else [tuple(spec or ())]
        for h in histories:
            if h not in tensors:
                raise ValueError(f"npconv: {path}: {key} names {list(h)}, which no layer makes")
        found = [tensors[h] for h in histories]
        ends[key] = found if several else found[0]
    try:
        model = Model(inputs=ends["input_layers"], outputs=ends["output_layers"], name=name)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"npconv: {path}: cannot build the functional model {name!r}: "
                         f"{exc}") from None
    return model, layers


def _flat(inputs):
    return inputs if isinstance(inputs, list) else [inputs]


def _sequential(config, name, path):
    """An npconv Sequential and its layers in Keras's order (the InputLayer is not one of
    ``model.layers`` there, so it has no group in the weights)."""
    from .models.sequential import Sequential

    specs = config.get("layers")
    if not isinstance(specs, list):
        raise ValueError(f"npconv: {path}: the Sequential config has no layers")
    built = [_build_op(spec, path) for spec in specs]
    layers = [layer for layer, _ in built]
    if not layers or built[0][1][1] != "InputLayer":
        shape = config.get("build_input_shape") or (config.get("build_config") or {}).get(
            "input_shape")
        if not shape:
            raise ValueError(f"npconv: {path}: the Sequential model has no input shape (it "
                             "was never built in Keras), so it has no weights to load")
        from .layers import InputLayer

        layers.insert(0, InputLayer(batch_shape=tuple(shape)))
    try:
        model = Sequential(layers, name=name)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"npconv: {path}: cannot build the Sequential model: {exc}") from None
    return model, [entry for _, entry in built if entry[1] != "InputLayer"]


def _compile(model, compile_config, path) -> None:
    """Compile ``model`` as ``compile_config`` says: its optimizer, and its loss, loss
    weights, metrics and weighted metrics (names and class records, one for the model, a
    list per output or a dict by output name, as Keras records them)."""
    from .training import losses, metrics, optimizers

    where = f"npconv: {path}: compile_config"
    advice = "; load_model(path, compile=False) loads the model without it"

    def loss_of(spec):
        spec = loss_or_metric(spec, where)
        if isinstance(spec, tuple):
            cls = getattr(losses, spec[0], None)
            if not isinstance(cls, type):
                raise KerasConfigError(f"{where}: npconv has no loss class {spec[0]!r}")
            return cls(**_without_default_axis(cls, spec[1]))
        return spec

    def metric_of(spec):
        spec = loss_or_metric(spec, where)
        if isinstance(spec, tuple):
            cls = getattr(metrics, spec[0], None)
            if not isinstance(cls, type):
                raise KerasConfigError(f"{where}: npconv has no metric class {spec[0]!r}")
            return cls.from_config(spec[1])
        return spec

    try:
        opt_name, opt_config = optimizer_config(compile_config.get("optimizer"), where)
        if opt_config:
            cls = getattr(optimizers, opt_name, None)
            if not (isinstance(cls, type) and issubclass(cls, optimizers.Optimizer)):
                raise KerasConfigError(f"{where}: npconv has no optimizer {opt_name!r}")
            optimizer = cls.from_config(opt_config)
        else:
            optimizer = opt_name
        loss = _per_output(compile_config.get("loss"), loss_of, "loss", where, nested=False)
        built_metrics = _per_output(compile_config.get("metrics"), metric_of, "metrics", where)
        weighted = _per_output(compile_config.get("weighted_metrics"), metric_of,
                               "weighted_metrics", where)
        loss_weights = _loss_weights(compile_config.get("loss_weights"), where)
        model.compile(optimizer=optimizer, loss=loss, metrics=built_metrics,
                      loss_weights=loss_weights, weighted_metrics=weighted)
    except KerasConfigError as exc:
        raise ValueError(f"{exc}{advice}") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: cannot restore the training configuration ({exc})"
                         f"{advice}") from None


def _per_output(value, build, what, where, nested=True):
    """A compile_config entry with ``build`` applied to each loss or metric in it: one, a
    list (of lists, for metrics per output), or a dict by output name; None stays None."""
    if value is None:
        return None
    if isinstance(value, dict) and "class_name" not in value:
        return {str(k): _per_output(v, build, what, where, nested) for k, v in value.items()}
    if isinstance(value, list):
        if nested:
            return [_per_output(v, build, what, where, nested=False) if isinstance(v, list)
                    else (None if v is None else build(v)) for v in value]
        return [None if v is None else build(v) for v in value]
    return build(value)


def _loss_weights(value, where):
    """compile_config's loss_weights (None, a number, a list or a dict of numbers)."""
    import numbers

    items = value.values() if isinstance(value, dict) else (
        value if isinstance(value, list) else [value])
    if value is not None and not all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                     for v in items):
        raise KerasConfigError(f"{where}: expected loss_weights to be numbers (one, a list "
                               f"in output order or a dict by output name). Received "
                               f"{value!r}")
    return value


def _without_default_axis(cls, config: dict) -> dict:
    """Keras's cross-entropies record ``axis=-1``; npconv's take the last axis and have no
    ``axis`` argument: dropped at -1 only (any other axis stays, and is then an error)."""
    import inspect

    if config.get("axis") == -1 and "axis" not in inspect.signature(cls).parameters:
        return {k: v for k, v in config.items() if k != "axis"}
    return config


def load_keras_model(path, compile=True):  # noqa: A002 - Keras's argument name
    """The npconv model a Keras 3 ``.keras`` file describes, with its weights; compiled as
    the file's ``compile_config`` says when ``compile``, its optimizer continuing from the
    state the file holds (iterations, learning rate, slots) for the classes
    ``npconv._keras_optimizer`` maps; for another the optimizer starts afresh, with a
    warning."""
    from .layers import base

    config, weight_bytes = _read_archive(path)
    kind = config["class_name"]
    body = config.get("config")
    if kind not in _MODEL_CLASSES or not isinstance(body, dict):
        raise ValueError(f"npconv: {path}: the file holds a {kind!r}, not a Sequential or "
                         "functional model (a subclassed Keras model cannot be rebuilt "
                         "without its Python code)")
    name = body.get("name")
    drawing, base.DRAW_WEIGHTS = base.DRAW_WEIGHTS, False  # the file has the weights
    try:
        model, layers = _build_model(kind, body, name, path)
    except KerasConfigError as exc:
        raise ValueError(str(exc)) from None
    except RecursionError:
        raise ValueError(f"npconv: {path}: the model config is nested too deeply") from None
    except (AttributeError, TypeError, KeyError, IndexError) as exc:
        # a record of the wrong JSON type (a list where Keras writes a dict, a number for a
        # class name): the file is not what Keras writes
        raise ValueError(f"npconv: {path}: the model config is not Keras's ("
                         f"{type(exc).__name__}: {exc}); nothing was loaded") from None
    finally:
        base.DRAW_WEIGHTS = drawing
    with _read_h5(weight_bytes, path) as h5:
        assignments = _matched_weights(h5, layers, path, check_names=True)
        optimizer_arrays, _ = _layer_vars(h5, "optimizer", path)
    for w, a in assignments:
        w.assign(a.astype(np.float32, copy=False))
    compile_config = config.get("compile_config")
    if compile and compile_config:
        _compile(model, compile_config, path)
        if optimizer_arrays:
            _restore_optimizer(model, optimizer_arrays, _trainable(layers), path)
    return model


def _trainable(entries) -> list:
    """The trainable weights in Keras's ``model.trainable_variables`` order (what its
    optimizer's slots follow)."""
    found = []
    for op, _, children in entries:
        found += _trainable(children) if children is not None else list(op.trainable_weights)
    return found


def _restore_optimizer(model, arrays, weights, path) -> None:
    """Continue ``model``'s optimizer from Keras's saved ``arrays`` (see
    npconv._keras_optimizer); a mismatch Keras would skip is skipped with a warning."""
    import warnings

    from ._keras_optimizer import state_from_keras

    optimizer = model.optimizer
    state, reason = state_from_keras(optimizer, arrays, weights, f"npconv: {path}")
    if state is None:
        if len(arrays) > 2 or int(np.asarray(arrays[0])) > 0:
            warnings.warn(f"npconv: {path}: the {type(optimizer).__name__} optimizer's saved "
                          f"state is not restored ({reason}); it starts afresh "
                          "(iterations 0, no momentum), so further training does not follow "
                          "the trajectory Keras would", UserWarning, stacklevel=4)
        return
    optimizer.set_state(state, weights)


def load_keras_weights(model, path) -> None:
    """Assign the weights of a Keras 3 ``.weights.h5`` file (``model.save_weights``) to the
    npconv ``model`` of the same architecture: layer by layer in ``model.layers`` order, as
    Keras matches them (by class and position, not by name); all are checked before any is
    assigned. The optimizer variables in the file are not read."""
    _load_weights_from(model, path, path)


def _load_weights_from(model, source, path) -> None:

    model._require_graph("load_weights")
    if model._subclassed():
        raise ValueError(f"npconv: {path}: {model.name!r} is a subclassed model; Keras "
                         "weights files are matched to Sequential and functional models")
    with _read_h5(source, path) as h5:
        assignments = _matched_weights(h5, _weight_entries(model), path, check_names=False)
    for w, a in assignments:
        w.assign(a.astype(np.float32, copy=False))


def load_keras_archive_weights(model, path) -> None:
    """``model.load_weights("model.keras")``: the weights of a ``.keras`` archive, matched
    as :func:`load_keras_weights` matches a ``.weights.h5`` file's."""
    _, weight_bytes = _read_archive(path)
    _load_weights_from(model, weight_bytes, path)


def save_keras_model(model, path, overwrite=True) -> None:
    """Write an npconv ``Sequential`` or functional model as a Keras 3 ``.keras`` file
    (config.json, metadata.json, model.weights.h5) that Keras's ``keras.models.load_model``
    reads: the architecture (branches, several inputs and outputs, merges, shared layers,
    models used as layers) and the weights; for a compiled model also its
    ``compile_config`` (optimizer, losses, loss weights, metrics) and the optimizer's state
    in Keras's layout, so that ``fit`` continues in Keras where it stopped here (for an
    optimizer npconv does not map, a warning: Keras starts it afresh). Layers npconv has
    and Keras lacks, subclassed models, dicts of inputs or outputs and learning-rate
    schedules are refused before anything is written, and so is a ``path`` not ending in
    ``.keras`` (Keras reads no other name as this format). Needs h5py; written
    atomically."""
    import time

    from ._atomic import atomic_path
    from ._keras_writer import compile_record, model_record, write_optimizer, write_weights
    from .io import _check_target

    where = f"{getattr(model, 'name', type(model).__name__)}.save_keras_model"
    if not hasattr(model, "_nodes"):
        raise TypeError(f"{where}: expected an npconv Sequential or functional Model. "
                        f"Received {type(model).__name__}")
    if not os.fspath(path).endswith(".keras"):
        # Keras's load_model reads a zip archive only under this name (".h5" is its legacy
        # HDF5 format, anything else "File format not supported"), and its save refuses
        # other names too
        raise ValueError(f"{where}: expected a file name ending in '.keras' (the name Keras "
                         f"3's load_model reads as this format). Received {os.fspath(path)!r}")
    path = _check_target(path, overwrite, where)
    model._require_graph("save_keras_model")
    h5py = _h5py()
    config = model_record(model, where)
    compile_config = compile_record(model, where)
    if compile_config is not None:
        config["compile_config"] = compile_config
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        write_weights(h5, model)
        if compile_config is not None and not write_optimizer(h5, model, where):
            import warnings

            warnings.warn(f"{where}: the {type(model.optimizer).__name__} optimizer's state "
                          "is not written (npconv writes Keras's optimizer variables for "
                          "SGD, RMSprop, Adam, AdamW, Nadam, Adamax, Adagrad and Lion only): "
                          "Keras will continue training with a fresh optimizer",
                          UserWarning, stacklevel=2)
    from . import __version__

    # (Keras does not read metadata.json on load; "3.0.0" names the file format's first
    # Keras, "written_by" says who actually wrote it)
    metadata = {"keras_version": "3.0.0", "written_by": f"npconv {__version__}",
                "date_saved": time.strftime("%Y-%m-%d@%H:%M:%S")}
    with atomic_path(path, where=where) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr("metadata.json", json.dumps(metadata))
        zf.writestr("config.json", json.dumps(config, default=_plain))
        zf.writestr(_WEIGHTS_MEMBER, buffer.getvalue())


def _plain(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
