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

Not restored: the optimizer's state (its iterations and slots; the model is compiled with a
fresh optimizer of the file's class and configuration), and ``compile_config``'s
``loss_weights``, ``run_eagerly``, ``steps_per_execution`` and ``jit_compile``.

:func:`save_keras_model` writes the other way: an npconv ``Sequential`` as a ``.keras`` file
that Keras 3 loads (checked by hand with Keras 3.15.1 on the torch backend: the five
Sequential test models, predictions equal within 2.4e-7). ``model.save("x.keras")`` still
writes npconv's own file.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile

import numpy as np

from ._keras_configs import KerasConfigError, layer_config, loss_or_metric, optimizer_config

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_WEIGHTS_MEMBER = "model.weights.h5"
#: an archive member larger than this many times its compressed size (and than 256 MiB) is
#: refused before it is inflated (a zip bomb), as Keras does
_MAX_EXPANSION = 100
_BOMB_FLOOR = 1 << 28
_MODEL_CLASSES = ("Sequential", "Functional", "Model")
#: Keras layers whose __init__ has no **kwargs, so no ``trainable`` (Keras 3.15.1's
#: ``SpatialDropout2D(rate, data_format=None, seed=None, name=None, dtype=None)``): Keras
#: cannot load a record that has one
_NO_TRAINABLE_ARG = ("SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")


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


def _snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: the HDF5 group of a layer of class ``name``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


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


def _read_weights(source, pairs, path, check_names) -> list:
    """:func:`_matched_weights` of the HDF5 file ``source`` (a path or the bytes of an
    archive's member). h5py reports a damaged file's structure lazily, as OSError,
    RuntimeError or KeyError at the group it cannot walk: a ValueError here."""
    try:
        with _open_h5(source, path) as h5:
            return _matched_weights(h5, pairs, path, check_names)
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


def _keras_paths(layers) -> list[str]:
    """Each layer's HDF5 group, as Keras names it: ``layers/`` + its class in snake case,
    ``_1``, ``_2``... for the second and later of a class (in ``model.layers`` order)."""
    used: dict[str, int] = {}
    paths = []
    for class_name in layers:
        base = _snake_case(class_name)
        if base in used:
            used[base] += 1
            paths.append(f"layers/{base}_{used[base]}")
        else:
            used[base] = 0
            paths.append(f"layers/{base}")
    return paths


def _matched_weights(h5, pairs, path, check_names) -> list:
    """``[(npconv Weight, array)]`` for ``pairs`` of (npconv layer, its Keras class name),
    every count and shape checked first; ``check_names`` also compares the layer name Keras
    recorded with the layer's."""
    if "layers" not in h5:
        raise ValueError(f"npconv: {path} is an HDF5 file without Keras 3's 'layers' group "
                         f"(it holds {sorted(h5.keys())}): not a Keras 3 weights file (a Keras "
                         "2 .h5 file is not read; save it from Keras 3)")
    assignments = []
    paths = _keras_paths([keras_class for _, keras_class in pairs])
    expected_groups = {p.split("/", 1)[1] for p in paths}
    present = set(h5["layers"].keys()) if "layers" in h5 else set()
    extra = sorted(present - expected_groups)
    if extra:
        raise ValueError(f"npconv: {path} holds weights for layers the model lacks: "
                         f"{extra} (the model has {sorted(expected_groups)})")
    for (layer, _), group in zip(pairs, paths, strict=True):
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


def _build_layer(spec, path):
    """An npconv layer from one Keras layer record."""
    from .layers.base import LAYER_REGISTRY

    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"npconv: {path}: a layer record without class_name: {spec!r}")
    class_name = spec["class_name"]
    config = spec.get("config") or {}
    name = config.get("name", "?") if isinstance(config, dict) else "?"
    where = f"npconv: {path}: layer {name!r} ({class_name})"
    if class_name in _MODEL_CLASSES:
        raise ValueError(f"{where}: a model nested as a layer is not read from Keras files "
                         "yet; flatten it into one model in Keras before saving")
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
    """A node's inputs as histories: one, or a list (a merge layer's)."""
    if not isinstance(node, dict):
        raise ValueError(f"npconv: {path}: {where}: unreadable inbound node {node!r}")
    args, kwargs = node.get("args") or [], node.get("kwargs") or {}
    # Keras records mask=None for every layer whose call takes a mask (GlobalAveragePooling1D,
    # Softmax) even when none was passed: that call is the plain one-input call
    if isinstance(kwargs, dict) and "mask" in kwargs and kwargs["mask"] is None:
        kwargs = {k: v for k, v in kwargs.items() if k != "mask"}
    if kwargs or len(args) != 1:
        raise ValueError(f"npconv: {path}: {where}: a call with arguments other than one "
                         f"input (args={len(args)}, kwargs={sorted(kwargs)}) is not read")
    arg = args[0]
    if isinstance(arg, list):
        return [_history(a, path) for a in arg]
    return _history(arg, path)


def _functional(config, name, path):
    """An npconv functional Model and its layers in Keras's order, from a Functional
    config."""
    from .models.functional import Model

    specs = config.get("layers")
    if not isinstance(specs, list) or not specs:
        raise ValueError(f"npconv: {path}: the model config has no layers")
    layers, built = [], {}
    for spec in specs:
        layer = _build_layer(spec, path)
        lname = spec.get("name", layer.name)
        if lname in built:
            raise ValueError(f"npconv: {path}: two layers are named {lname!r}")
        built[lname] = (layer, spec)
        layers.append((layer, spec["class_name"]))
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
            inputs = _node_inputs(node, path, f"layer {lname!r}")
            wanted = inputs if isinstance(inputs, list) else [inputs]
            if not all(h in tensors for h in wanted):
                left.append((lname, i, node))
                continue
            layer = built[lname][0]
            args = [tensors[h] for h in wanted] if isinstance(inputs, list) else tensors[inputs]
            try:
                tensors[(lname, i, 0)] = layer(args)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"npconv: {path}: layer {lname!r} "
                                 f"({built[lname][1]['class_name']}): {exc}") from None
        if len(left) == len(pending):
            missing = sorted({h[0] for _, _, n in left for h in _flat(
                _node_inputs(n, path, "")) if h not in tensors})
            raise ValueError(f"npconv: {path}: layer inputs from {missing} are never computed")
        pending = left
    ends = {}
    for key in ("input_layers", "output_layers"):
        spec = config.get(key)
        histories = [tuple(h) for h in spec] if spec and isinstance(spec[0], list) \
            else [tuple(spec or ())]
        for h in histories:
            if h not in tensors:
                raise ValueError(f"npconv: {path}: {key} names {list(h)}, which no layer makes")
        ends[key] = [tensors[h] for h in histories]
    ins, outs = ends["input_layers"], ends["output_layers"]
    model = Model(inputs=ins if len(ins) > 1 else ins[0],
                  outputs=outs if len(outs) > 1 else outs[0], name=name)
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
    built = [(_build_layer(spec, path), spec["class_name"]) for spec in specs]
    layers = [layer for layer, _ in built]
    if not layers or built[0][1] != "InputLayer":
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
    return model, [(layer, cls) for layer, cls in built if cls != "InputLayer"]


def _compile(model, compile_config, path) -> None:
    """Compile ``model`` as ``compile_config`` says (names and class records); the optimizer
    starts afresh (its state in the file is not read)."""
    from .training import losses, metrics, optimizers

    where = f"npconv: {path}: compile_config"
    advice = "; load_model(path, compile=False) loads the model without it"
    try:
        opt_name, opt_config = optimizer_config(compile_config.get("optimizer"), where)
        if opt_config:
            cls = getattr(optimizers, opt_name, None)
            if not (isinstance(cls, type) and issubclass(cls, optimizers.Optimizer)):
                raise KerasConfigError(f"{where}: npconv has no optimizer {opt_name!r}")
            optimizer = cls.from_config(opt_config)
        else:
            optimizer = opt_name
        loss = loss_or_metric(compile_config.get("loss"), where)
        if isinstance(loss, tuple):
            cls = getattr(losses, loss[0], None)
            if not isinstance(cls, type):
                raise KerasConfigError(f"{where}: npconv has no loss class {loss[0]!r}")
            loss = cls(**_without_default_axis(cls, loss[1]))
        names = compile_config.get("metrics") or []
        if not isinstance(names, list):
            raise KerasConfigError(f"{where}: metrics per output ({names!r}) are not read")
        built_metrics = []
        for spec in names:
            spec = loss_or_metric(spec, where)
            if isinstance(spec, tuple):
                cls = getattr(metrics, spec[0], None)
                if not isinstance(cls, type):
                    raise KerasConfigError(f"{where}: npconv has no metric class {spec[0]!r}")
                spec = cls.from_config(spec[1])
            built_metrics.append(spec)
        if compile_config.get("weighted_metrics"):
            raise KerasConfigError(f"{where}: weighted_metrics are not read from Keras files")
        model.compile(optimizer=optimizer, loss=loss, metrics=built_metrics)
    except KerasConfigError as exc:
        raise ValueError(f"{exc}{advice}") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: cannot restore the training configuration ({exc})"
                         f"{advice}") from None


def _without_default_axis(cls, config: dict) -> dict:
    """Keras's cross-entropies record ``axis=-1``; npconv's take the last axis and have no
    ``axis`` argument: dropped at -1 only (any other axis stays, and is then an error)."""
    import inspect

    if config.get("axis") == -1 and "axis" not in inspect.signature(cls).parameters:
        return {k: v for k, v in config.items() if k != "axis"}
    return config


def load_keras_model(path, compile=True):  # noqa: A002 - Keras's argument name
    """The npconv model a Keras 3 ``.keras`` file describes, with its weights; compiled as
    the file's ``compile_config`` says when ``compile`` (a fresh optimizer: its saved state
    is not read)."""
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
        build = _sequential if kind == "Sequential" else _functional
        model, layers = build(body, name, path)
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
    assignments = _read_weights(weight_bytes, layers, path, check_names=True)
    for w, a in assignments:
        w.assign(a.astype(np.float32, copy=False))
    compile_config = config.get("compile_config")
    if compile and compile_config:
        _compile(model, compile_config, path)
    return model


def load_keras_weights(model, path) -> None:
    """Assign the weights of a Keras 3 ``.weights.h5`` file (``model.save_weights``) to the
    npconv ``model`` of the same architecture: layer by layer in ``model.layers`` order, as
    Keras matches them (by class and position, not by name); all are checked before any is
    assigned. The optimizer variables in the file are not read."""
    _load_weights_from(model, path, path)


def _load_weights_from(model, source, path) -> None:
    from .models.sequential import Sequential

    model._require_graph("load_weights")
    layers = [layer for layer in model.layers
              if not (isinstance(model, Sequential) and type(layer).__name__ == "InputLayer")]
    pairs = [(layer, type(layer).__name__) for layer in layers]
    assignments = _read_weights(source, pairs, path, check_names=False)
    for w, a in assignments:
        w.assign(a.astype(np.float32, copy=False))


def load_keras_archive_weights(model, path) -> None:
    """``model.load_weights("model.keras")``: the weights of a ``.keras`` archive, matched
    as :func:`load_keras_weights` matches a ``.weights.h5`` file's."""
    _, weight_bytes = _read_archive(path)
    _load_weights_from(model, weight_bytes, path)


def save_keras_model(model, path, overwrite=True) -> None:
    """Write an npconv ``Sequential`` as a Keras 3 ``.keras`` file (config.json,
    metadata.json, model.weights.h5) that Keras's ``keras.models.load_model`` reads: the
    architecture and the weights, not the training configuration or the optimizer state.
    Layers npconv has and Keras lacks, convolutions with explicit pads (npconv's extension)
    and functional models are refused. Needs h5py;
    written atomically."""
    import time

    from ._atomic import atomic_path
    from .io import _check_target
    from .models.sequential import Sequential

    where = f"{model.name}.save_keras_model"
    path = _check_target(path, overwrite, where)
    if not isinstance(model, Sequential):
        raise ValueError(f"{where}: only Sequential models are written as Keras files so far "
                         f"(Received {type(model).__name__})")
    model._require_graph("save_keras_model")
    h5py = _h5py()
    records = [_input_record(model.inputs[0])]
    for layer in model.layers:
        records.append(_layer_record(layer, where))
    batch_shape = records[0]["config"]["batch_shape"]
    config = {"module": "keras", "class_name": "Sequential", "registered_name": None,
              "config": {"name": model.name, "trainable": True, "layers": records,
                         "build_input_shape": batch_shape},
              "build_config": {"input_shape": batch_shape}}
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("vars").attrs["name"] = model.name
        for layer, group in zip(model.layers, _keras_paths(
                [type(layer).__name__ for layer in model.layers]), strict=True):
            g = h5.create_group(group).create_group("vars")
            g.attrs["name"] = layer.name
            for i, w in enumerate(layer._weights):
                g[str(i)] = np.asarray(w.value, dtype=np.float32)
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


def _input_record(tensor) -> dict:
    shape = [None, *tensor.shape[1:]] if tensor.shape else None
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
            "config": {"batch_shape": shape, "dtype": str(getattr(tensor, "dtype", "float32")),
                       "sparse": False, "ragged": False, "name": tensor.layer.name}}


def _layer_record(layer, where) -> dict:
    class_name = type(layer).__name__
    if not type(layer).__module__.startswith("npconv.layers") or class_name in (
            "Absolute", "FloorDivide", "Mod", "Power", "TrueDivide", "Lambda"):
        raise ValueError(f"{where}: layer {layer.name!r} ({class_name}) has no Keras "
                         "equivalent that Keras would read")
    config = {**layer.get_config(), "dtype": "float32"}
    if not class_name.startswith("ZeroPadding") and not isinstance(
            config.get("padding", ""), str):
        # npconv's convolutions also take explicit pads; Keras's only 'valid', 'same' (and
        # 'causal' in 1-D), and its loader refuses the file
        raise ValueError(f"{where}: layer {layer.name!r} ({class_name}) has explicit "
                         f"padding={config['padding']!r}, which Keras's {class_name} does not "
                         "take: put a ZeroPadding layer before it with padding='valid'")
    if class_name in _NO_TRAINABLE_ARG:
        del config["trainable"]
    record = {"module": "keras.layers", "class_name": class_name, "registered_name": None,
              "config": config}
    shape = getattr(layer, "input_shape", None)
    if layer._weights and shape is not None:
        record["build_config"] = {"input_shape": [None, *shape[1:]]}
    return record
