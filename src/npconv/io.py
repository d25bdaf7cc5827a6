"""Saving and loading models: one safetensors file, no pickle anywhere.

A model file is a safetensors file whose header metadata holds JSON:
``npconv.format`` ("npconv-model" or "npconv-weights"), ``npconv.version`` (this format's
version), ``npconv.architecture`` (the model's config), ``npconv.compile`` (loss, metrics and
optimizer config) — and whose tensors are the weights (``w/0007/conv2d_1/kernel``: position,
layer, weight) and, optionally, the optimizer state (``opt/iterations``, ``opt/learning_rate``
and each slot under its weight's key: ``opt/momentum/w/0007/conv2d_1/kernel``).

``npconv.data_sha256`` is the SHA-256 of the tensor data section (safetensors has no checksum
of its own): a changed byte in a weight is a clear error on load rather than a silently
different model. ``npconv.header_sha256`` does the same for the header (the tensor index and
the metadata, this entry left out, as canonical JSON): a changed byte in a layer's
configuration is an error too. Files written before they were recorded load without the checks.

Writes are atomic: the bytes go to a temporary file in the same folder, which is then renamed
over the target, so a crash mid-save leaves the previous file intact. Reads validate everything
before changing anything: a truncated, corrupt, wrong-version or shape-mismatched file raises a
``ValueError`` naming the file and leaves the model as it was.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ._atomic import atomic_path, atomic_write_bytes, check_file_target  # noqa: F401 - run.py imports it here

FORMAT_VERSION = 1
_MODEL = "npconv-model"
_WEIGHTS = "npconv-weights"
_CHECKSUM = "npconv.data_sha256"
_HEADER_CHECKSUM = "npconv.header_sha256"


def _weight_keys(model) -> dict:
    """``{file key: Weight}`` for every weight of ``model``, layer by layer as the graph runs
    them (``model._file_weights()``; ``model.weights`` is in Keras's order, which differs
    for branching functional models); the key ``w/0007/conv2d_1/kernel`` is the weight's
    position, its layer and its name."""
    keyed = {}
    for layer in model._unique_layers():
        for w in layer._weights:
            keyed[f"w/{len(keyed):04d}/{layer.name}/{w.name}"] = w
    return keyed


def _weight_tensors(model) -> dict[str, np.ndarray]:
    return {k: np.asarray(w.value, order="C") for k, w in _weight_keys(model).items()}


def _model_kind(model) -> str:
    from .models.sequential import Sequential

    return "Sequential" if isinstance(model, Sequential) else "Model"


def _compile_config(model) -> dict | None:
    if not getattr(model, "compiled", False):
        return None
    opt = model.optimizer
    loss = model.loss
    return {
        "optimizer": {"class_name": type(opt).__name__, "config": opt.get_config()},
        "loss": {"class_name": type(loss).__name__,
                 "config": loss.get_config() if hasattr(loss, "get_config") else {}},
        "metrics": _metric_specs(model._metric_specs),
        "weighted_metrics": _metric_specs(getattr(model, "_weighted_metric_specs", None) or []),
    }


def _metric_specs(specs):
    """A list of specs, or ``{output name: [specs]}`` for several outputs."""
    if isinstance(specs, dict):
        return {name: [_metric_spec(m) for m in per_output] for name, per_output in specs.items()}
    return [_metric_spec(m) for m in specs]


def _metrics_from_specs(specs, custom=None):
    """The metrics a file's compile config names; ``custom`` is load_model's
    ``custom_objects`` (a metric function or class of the user's, by the name saved)."""
    custom = custom or {}
    if isinstance(specs, dict):
        return {name: [_metric_from_spec(m, custom) for m in per_output]
                for name, per_output in specs.items()}
    return [_metric_from_spec(m, custom) for m in specs]


def _metric_spec(metric):
    """A name ("accuracy", a function's or a class's name) or a Metric's class and config
    (so that TopKCategoricalAccuracy(k=2) comes back with k=2)."""
    from .layers.base import _snake_case
    from .training.losses import Loss

    if isinstance(metric, str):
        return metric
    if isinstance(metric, Loss):  # a loss object as a metric: rebuilt as that loss
        return {"class_name": type(metric).__name__, "config": metric.get_config(),
                "kind": "loss"}
    if isinstance(metric, type) or not hasattr(metric, "get_config"):
        # (a callable object has no __name__: the class's, as the metric is logged)
        return getattr(metric, "__name__", None) or _snake_case(type(metric).__name__)
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def _subclass_named(base, name):
    """The first subclass of ``base`` (at any depth, in definition order) called ``name``,
    or None."""
    found, todo = {}, [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.setdefault(sub.__name__, sub)
            todo.append(sub)
    return found.get(name)


def _metric_from_spec(spec, custom):
    from .training import metrics

    if not isinstance(spec, dict):
        return custom.get(spec, spec) if isinstance(spec, str) else spec
    if spec.get("kind") == "loss":
        from .training import losses

        cls = getattr(losses, spec["class_name"], None)
        if not (isinstance(cls, type) and issubclass(cls, losses.Loss)):
            cls = _subclass_named(losses.Loss, spec["class_name"])  # a user's Loss subclass
        if cls is None:
            raise ValueError(f"unknown loss class {spec['class_name']!r} (a metric)")
        return cls(**spec["config"])
    cls = custom.get(spec["class_name"]) or getattr(metrics, spec["class_name"], None)
    if not (isinstance(cls, type) and issubclass(cls, metrics.Metric)):
        # a custom Metric subclass, found by class name once its module is imported (as
        # custom layers are)
        cls = _subclass_named(metrics.Metric, spec["class_name"])
    if cls is None:
        raise ValueError(f"unknown metric class {spec['class_name']!r}")
    return cls.from_config(dict(spec["config"]))


def _numpy_scalar(value):
    """``json.dumps``'s fallback: a NumPy scalar that a config kept as given (a metric's
    ``thresholds=np.float32(0.3)``, a layer argument) as its Python number."""
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _serialize(tensors: dict, metadata: dict) -> list:
    """The file as pieces to write: the header (with the data's SHA-256 in its metadata) and
    the tensor data section, which is not copied."""
    # (hashlib is imported here, not at npconv's import: it loads libcrypto, ~3 MB, which the
    # helper processes would map for nothing)
    import hashlib

    from safetensors.numpy import save

    blob = save(tensors, metadata={k: json.dumps(v, default=_numpy_scalar)
                                   for k, v in metadata.items()})
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    header["__metadata__"][_CHECKSUM] = json.dumps(hashlib.sha256(data).hexdigest())
    header["__metadata__"][_HEADER_CHECKSUM] = json.dumps(_header_digest(header))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # safetensors pads its header to 8 bytes with spaces
    return [len(text).to_bytes(8, "little"), text, data]


def _header_digest(header: dict) -> str:
    """SHA-256 of the header (the tensor index and the metadata: architecture, training
    configuration, the data's checksum) without its own entry, in a canonical JSON form: a
    changed byte there (a layer's epsilon, a weight's name or dtype) is then caught too."""
    import hashlib

    meta = {k: v for k, v in header.get("__metadata__", {}).items() if k != _HEADER_CHECKSUM}
    canonical = json.dumps({**header, "__metadata__": meta}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _check_target(path, overwrite, where) -> str:
    """``path`` checked before anything is serialised: not a folder, not under a file, and
    not an existing file when ``overwrite`` is False (Keras 3 asks on a terminal; npconv
    raises ``FileExistsError``)."""
    path = check_file_target(path, where)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{where}: {path} already exists and overwrite=False; pass "
                              "overwrite=True to replace it")
    return path


def _write_file(path, pieces, where) -> None:
    with atomic_path(path, where=where) as tmp, open(tmp, "wb") as f:
        for piece in pieces:
            f.write(piece)


def save_model(model, path, overwrite=True, include_optimizer=True) -> None:
    """Save ``model``'s architecture, weights and (optionally) optimizer state to ``path``.

    ``overwrite=False`` refuses an existing ``path`` (``FileExistsError``); a folder, or a path
    under a file, is refused whatever ``overwrite`` says. Nothing is written then.

    The file is npconv's (safetensors + JSON) whatever its name: Keras code's
    ``"model.keras"`` or ``"ckpt.weights.h5"`` runs unchanged, but writes no zip or HDF5
    file that Keras or h5py could open. (npconv reads Keras 3's own files, though: see
    :func:`load_model` and :mod:`npconv.keras_files`.)
    """
    where = f"{model.name}.save"
    path = _check_target(path, overwrite, where)
    model._require_graph("save")
    tensors = _state_tensors(model, include_optimizer)
    metadata = {
        "npconv.format": _MODEL,
        "npconv.version": FORMAT_VERSION,
        "npconv.kind": _model_kind(model),
        "npconv.architecture": model._graph_config(),
        "npconv.compile": _compile_config(model),
    }
    _write_file(path, _serialize(tensors, metadata), where)


def _state_tensors(model, include_optimizer=True) -> dict[str, np.ndarray]:
    """The weights (``w/...``) and, for a compiled model when ``include_optimizer``, the
    optimizer state (``opt/...``) as a file holds them."""
    tensors = _weight_tensors(model)
    if include_optimizer and getattr(model, "compiled", False):
        # Each slot under its weight's file key (opt/momentum/w/0003/dense/kernel), not under
        # the order the optimizer first saw the weights: the trainable flags may have changed
        # since, so that order says nothing about which weight a slot belongs to.
        state = model.optimizer.get_state(_weight_keys(model))
        # np.asarray(order="C"), not np.ascontiguousarray: the latter turns the 0-d scalars
        # (iterations, learning_rate) into shape (1,), which set_state cannot read back.
        tensors.update({f"opt/{k}": np.asarray(v, order="C") for k, v in state.items()})
    return tensors


def save_weights(model, path, overwrite=True) -> None:
    """Save only the weights of ``model`` to ``path`` (``overwrite`` as :func:`save_model`);
    safetensors whatever the name, ``"x.weights.h5"`` included (see :func:`save_model`)."""
    where = f"{model.name}.save_weights"
    path = _check_target(path, overwrite, where)
    model._require_graph("save_weights")
    metadata = {"npconv.format": _WEIGHTS, "npconv.version": FORMAT_VERSION}
    _write_file(path, _serialize(_weight_tensors(model), metadata), where)


_MAX_HEADER = 100_000_000  # safetensors' own limit on the header's length


def _check_size(f, size: int, path) -> None:
    """Refuse, from its header alone, a file whose size is not what the header describes (a
    large file that is not a model, or one truncated or with bytes appended) before all of
    it is read into memory; ``f`` is left at its start."""
    def bad(reason):
        raise ValueError(f"npconv: {path} is not a valid npconv file (truncated or corrupt: "
                         f"{reason})")

    n = int.from_bytes(f.read(8), "little")
    if size < 8 or n > _MAX_HEADER or 8 + n > size:
        bad(f"its first 8 bytes announce a header of {n} bytes; the file has {size}")
    try:
        header = json.loads(f.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
                  default=0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError):
        bad("its header is not the JSON index of a safetensors file")
    if 8 + n + end != size:
        bad(f"its header describes {8 + n + end} bytes; the file has {size}")
    f.seek(0)


#: the opening bytes of the files Keras and PyTorch write, for a clear refusal (neither can
#: open a safetensors file: read as its header length they would be over 67 MB)
_FOREIGN_FORMATS = (
    (b"PK\x03\x04", "a zip archive (a Keras 3 .keras file, or a PyTorch .pt/.pth checkpoint)"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 / .weights.h5 file)"),
)


#: files a person may give where a model goes (a run folder's pictures and history, an
#: input image): named by what they are rather than called corrupt
_OTHER_FILES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x93NUMPY", "a NumPy .npy array"),
)
_TEXT_BYTES = frozenset(range(0x20, 0x7f)) | frozenset(b"\t\n\r")


def _check_foreign(opening: bytes, path) -> None:
    """Refuse a Keras or PyTorch file, an image, an array or a text file by what it is, from
    its first bytes. The last three only when those bytes cannot open an npconv file anyway
    (read as the header's length, more than a header may have), so no model is misnamed."""
    for magic, kind in _FOREIGN_FORMATS:
        if opening.startswith(magic):
            raise ValueError(
                f"npconv: {path} is {kind}, not an npconv file: npconv reads only its own "
                "files (safetensors + JSON, written by model.save / model.save_weights, "
                "whatever their extension) and never unpickles. Build the model with npconv "
                "layers and copy the weights in with model.set_weights(arrays)")
    if len(opening) == 8 and int.from_bytes(opening, "little") <= _MAX_HEADER:
        return
    kind = next((k for magic, k in _OTHER_FILES if opening.startswith(magic)), None)
    if kind is None and opening and set(opening) <= _TEXT_BYTES:
        kind = f"a text file (it begins {opening.decode('ascii')!r})"
    if kind is not None:
        raise ValueError(f"npconv: {path} is {kind}, not an npconv model file: give a file "
                         "written by model.save or model.save_weights (npconv train writes "
                         "best.npconv and last.npconv into its run folder)")


def _read(path) -> tuple[dict, dict[str, np.ndarray]]:
    """Read and validate a file: (metadata as parsed JSON, tensors)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    from ._atomic import file_path

    path = file_path(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"npconv: {path} is a folder, not a model file (npconv models "
                                "are single files, e.g. model.npconv)")
    if os.path.exists(path) and not os.path.isfile(path):  # (a pipe would be read forever)
        from ._atomic import _kind

        raise ValueError(f"npconv: {path} is {_kind(path)}, not a model file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"npconv: no such model file: {path}")
    with open(path, "rb") as f:
        _check_foreign(f.read(8), path)
        f.seek(0)
        _check_size(f, os.fstat(f.fileno()).st_size, path)
        data = f.read()
    try:
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + header_len])
        raw_meta = header.get("__metadata__") or {}
        # Only our keys are JSON; other writers' metadata (torch's {"format": "pt"}) is not.
        metadata = {k: json.loads(v) for k, v in raw_meta.items() if k.startswith("npconv.")}
    except (SafetensorError, ValueError, UnicodeDecodeError, OverflowError) as exc:
        raise ValueError(f"npconv: {path} is not a valid npconv file (truncated or corrupt: "
                         f"{exc})") from None
    except RecursionError:  # json's C decoder gives up on arrays nested ~1000 deep
        raise ValueError(f"npconv: {path} is not a valid npconv file (corrupt: its metadata "
                         "holds JSON nested too deeply to read)") from None
    fmt = metadata.get("npconv.format")
    if fmt not in (_MODEL, _WEIGHTS):
        raise ValueError(f"npconv: {path} is a safetensors file but not one npconv wrote "
                         "(no npconv.format in its metadata)")
    version = metadata.get("npconv.version")
    if type(version) is not int or version != FORMAT_VERSION:  # (True == 1.0 == 1)
        raise ValueError(f"npconv: {path} has format version {version!r}; this npconv reads "
                         f"version {FORMAT_VERSION}")
    expected = metadata.get(_HEADER_CHECKSUM)  # (files written before it have none)
    if expected is not None and expected != _header_digest(header):
        raise ValueError(f"npconv: {path} is corrupt: its header (architecture, training "
                         "configuration or tensor index) does not match the SHA-256 checksum "
                         "recorded when it was saved (some bytes changed on disk or in "
                         "transfer); nothing was loaded")
    expected = metadata.get(_CHECKSUM)  # files written before it was recorded have none
    if expected is not None:
        import hashlib

        actual = hashlib.sha256(memoryview(data)[8 + header_len:]).hexdigest()
        if actual != expected:
            raise ValueError(f"npconv: {path} is corrupt: its tensor data do not match the "
                             "SHA-256 checksum recorded when it was saved (some bytes changed "
                             "on disk or in transfer); nothing was loaded")
    return metadata, tensors


def _saved_weights(model, tensors, path) -> list:
    """``[(file key, the model's Weight)]``, every saved weight checked against the model
    (count and shapes): a ValueError naming ``path`` otherwise."""
    saved = sorted(k for k in tensors if k.startswith("w/"))
    ours = model._file_weights()
    if len(saved) != len(ours):
        raise ValueError(f"npconv: {path} holds {len(saved)} weight arrays but the model has "
                         f"{len(ours)}")
    for key, w in zip(saved, ours, strict=True):
        if tensors[key].shape != w.shape:
            raise ValueError(f"npconv: {path}: weight {key} has shape {tensors[key].shape} but "
                             f"the model's {w.name} expects {w.shape}")
    return list(zip(saved, ours, strict=True))


def _assign_weights(model, tensors, path) -> None:
    """Check every saved weight against the model, then assign them all (or none)."""
    for key, w in _saved_weights(model, tensors, path):
        w.assign(tensors[key])


def _keras_kind(path) -> str | None:
    """"keras" for a Keras 3 ``.keras`` archive, "h5" for an HDF5 file (Keras's
    ``.weights.h5``), None for anything else (npconv's files; errors are :func:`_read`'s)."""
    from ._atomic import file_path
    from .keras_files import HDF5_MAGIC, ZIP_MAGIC, is_keras_archive

    path = file_path(path)
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        opening = f.read(8)
    if opening.startswith(HDF5_MAGIC):
        return "h5"
    if opening.startswith(ZIP_MAGIC) and is_keras_archive(path):
        return "keras"
    return None


def load_weights(model, path) -> None:
    """Load weights from a file written by ``save_weights`` or ``save`` into ``model``; a
    Keras 3 ``.weights.h5`` file (``model.save_weights`` in Keras) is read too, layer by
    layer in ``model.layers`` order as Keras matches them (needs h5py; see
    :mod:`npconv.keras_files`)."""
    kind = _keras_kind(path)
    if kind == "h5":
        from .keras_files import load_keras_weights

        load_keras_weights(model, os.fspath(path))
        return
    if kind == "keras":
        from .keras_files import load_keras_archive_weights

        load_keras_archive_weights(model, os.fspath(path))
        return
    _, tensors = _read(path)
    model._require_graph("load_weights")
    _assign_weights(model, tensors, path)


def load_model(path, custom_objects=None, compile=True, safe_mode=True):  # noqa: A002
    """Rebuild a model saved by ``model.save(path)``: architecture, weights, optimizer state.

    As Keras 3's ``load_model(filepath, custom_objects=None, compile=True, safe_mode=True)``.
    ``custom_objects`` maps the names in the file to your own classes: Layer and Constraint
    subclasses (a class defined before loading is found by its name anyway) and Loss
    subclasses, and to
    the functions of ``Lambda`` layers (``{"scale": scale}``: the file holds only their
    names); other entries (a Model subclass: its graph loads as a functional Model) are not
    needed. The file never holds code, so ``safe_mode`` has nothing to refuse; it is
    accepted for Keras's sake.

    A Keras 3 ``.keras`` file (``model.save("model.keras")`` in Keras) loads too, as an
    npconv Sequential or functional Model of the layers npconv has (needs h5py; see
    :mod:`npconv.keras_files`; models used as layers included): compiled from its
    ``compile_config``, the optimizer continuing from the state the file holds (for the
    classes listed there; another starts afresh, with a warning). A Lambda layer holding
    marshalled Python bytecode is refused whatever ``safe_mode`` says."""
    from .layers.base import LAYER_REGISTRY, Layer
    from .models.functional import Model
    from .models.sequential import Sequential
    from .training.losses import Loss

    if not isinstance(custom_objects, (dict, type(None))):
        raise TypeError(f"load_model: expected custom_objects to be a dict of names. "
                        f"Received {type(custom_objects).__name__}")
    custom = dict(custom_objects or {})
    from .constraints import _CLASSES as CONSTRAINT_CLASSES
    from .constraints import Constraint

    for name, obj in custom.items():
        if isinstance(obj, type) and issubclass(obj, Layer):
            LAYER_REGISTRY[name] = obj
        if isinstance(obj, type) and issubclass(obj, Constraint):
            CONSTRAINT_CLASSES[name] = obj  # (a class defined before loading is found anyway)
    # (a Model subclass there is not needed: the file holds its graph, which loads as a
    # functional Model; initializer functions are not needed either: the file has the
    # weights)
    kind = _keras_kind(path)
    if kind == "keras":
        from .keras_files import load_keras_model

        _import_all_layers()
        return load_keras_model(os.fspath(path), compile=compile)
    if kind == "h5":
        raise ValueError(f"npconv: {path} is an HDF5 file: a Keras .weights.h5 file holds only "
                         "weights (build the model and call model.load_weights(path)); a Keras "
                         "2 .h5 model file is not read (save it from Keras 3 as .keras)")
    metadata, tensors = _read(path)
    if metadata["npconv.format"] != _MODEL:
        raise ValueError(f"npconv: {path} holds only weights; build the model and call "
                         "model.load_weights(path)")
    _import_all_layers()
    kind = metadata.get("npconv.kind")
    if kind not in (None, "Sequential", "Model"):
        raise ValueError(f"npconv: {path}: unknown model kind {kind!r}; expected 'Sequential' "
                         "or 'Model'")
    cls = Sequential if kind == "Sequential" else Model
    from .layers import base
    from .layers.lambda_layer import custom_object_scope

    drawing, base.DRAW_WEIGHTS = base.DRAW_WEIGHTS, False  # the file has the weights
    # no weight may be larger than what the file holds: a config asking for Dense(10**12)
    # fails there rather than allocating it (shapes are compared one by one afterwards)
    budget, base.WEIGHT_BUDGET = base.WEIGHT_BUDGET, sum(
        v.size for k, v in tensors.items() if k.startswith("w/"))
    try:
        with custom_object_scope(custom):  # a Lambda's function, by its name
            model = cls.from_config(metadata["npconv.architecture"])
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise ValueError(f"npconv: {path}: cannot rebuild the architecture: {exc}") from None
    finally:
        base.DRAW_WEIGHTS, base.WEIGHT_BUDGET = drawing, budget
    _assign_weights(model, tensors, path)
    compile_config = metadata.get("npconv.compile")
    if compile and compile_config:
        from .training import losses, optimizers

        try:
            opt_cls = getattr(optimizers, compile_config["optimizer"]["class_name"])
            optimizer = opt_cls.from_config(compile_config["optimizer"]["config"])
            loss_spec = compile_config["loss"]
            if loss_spec["class_name"] == "MultiOutputLoss":
                from .training.multi_output import MultiOutputLoss

                loss = MultiOutputLoss.from_config(loss_spec["config"])
            else:
                loss_cls = custom.get(loss_spec["class_name"])
                if not (isinstance(loss_cls, type) and issubclass(loss_cls, Loss)):
                    loss_cls = getattr(losses, loss_spec["class_name"])
                loss = loss_cls(**loss_spec["config"])
            metrics = _metrics_from_specs(compile_config["metrics"], custom)
            # (files written before weighted_metrics existed have none)
            weighted = _metrics_from_specs(compile_config.get("weighted_metrics") or [],
                                           custom)
            model.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                          weighted_metrics=weighted or None)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"npconv: {path}: cannot restore the training configuration "
                             f"({exc}); load_model(path, compile=False) loads the model "
                             "without it") from None
        _restore_optimizer_state(model, optimizer, tensors, path)
    return model


def _restore_optimizer_state(model, optimizer, tensors, path,
                             advice="load_model(path, compile=False) loads the model without "
                                    "it") -> None:
    """Put the file's optimizer state (``opt/...``) back onto the weights it belongs to; the
    optimizer is unchanged when the state does not fit it (a ValueError ending in
    ``advice``).

    Slots are keyed by the weights' file keys (``opt/velocity/w/0003/dense/kernel``), matched
    with the model's weights by position, as the weights themselves are. Files written before
    that hold ``opt/velocity.<i>``, ``i`` a position in the trainable weights in file order.
    """
    state = {k[len("opt/"):]: v for k, v in tensors.items() if k.startswith("opt/")}
    if not state:
        return
    for key in ("iterations", "learning_rate"):
        if key in state and state[key].size == 1:
            state[key] = state[key].reshape(())  # older files: shape (1,)
    if any("/" in k for k in state):
        saved = sorted(k for k in tensors if k.startswith("w/"))
        weights = dict(zip(saved, model._file_weights(), strict=True))
    else:  # (the file order's trainable weights: what model.trainable_weights was then)
        weights = ([w for layer in model._unique_layers() for w in layer.trainable_weights]
                   if model.trainable else [])
    try:
        optimizer.set_state(state, weights)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"npconv: {path}: cannot restore the optimizer state ({exc}); "
                         f"{advice}") from None


def _import_all_layers() -> None:
    """Import every layer module so that from_config finds the classes by name."""
    from . import layers  # noqa: F401
