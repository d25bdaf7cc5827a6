"""Keras 3's layer and optimizer configs (as a ``.keras`` file's ``config.json`` holds them)
turned into the arguments npconv's classes take.

npconv's layers take Keras's argument names, so most of a config passes as it is. What Keras
records and npconv has no use for is dropped only at the value that changes nothing (a
``quantization_config`` of None, ``renorm=False``, a float32 dtype policy); any other value
is an error naming the layer, so that a file never loads as a silently different model.
"""

from __future__ import annotations

#: per layer-config key: the values at which npconv may drop it (the key has no effect then)
_NEUTRAL_LAYER_KEYS = {
    "quantization_config": (None,),
    "sparse": (False,),
    "ragged": (False,),
    "optional": (False,),
    "synchronized": (False,),
    "renorm": (False,),
    "renorm_clipping": (None,),
    "rms_scaling": (False,),
    "lora_rank": (None, 0),
    "lora_alpha": (None,),
}

#: keys that mean something only together with another key at a non-neutral value
#: (renorm_momentum without renorm)
_DEPENDENT_LAYER_KEYS = {"renorm_momentum": ("renorm", True)}

#: Keras's per-layer regularizers that npconv's layer of that class lacks: dropped when None
_NONE_ONLY_KEYS = ("beta_regularizer", "gamma_regularizer")

#: initializer arguments Keras 3.x added that npconv's initializers lack, at their default
_NEUTRAL_INITIALIZER_KEYS = {"input_axes": None, "output_axes": None}

_OPTIMIZER_NEUTRAL = {
    "use_ema": (False,),
    "ema_momentum": None,  # any value: it matters only with use_ema
    "ema_overwrite_frequency": None,
    "loss_scale_factor": (None,),
    "gradient_accumulation_steps": (None,),
}


class KerasConfigError(ValueError):
    """A Keras config npconv cannot rebuild exactly (the message names layer and class)."""


def _is_float32_policy(dtype) -> bool:
    if dtype is None or dtype == "float32":
        return True
    if isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicy":
        return (dtype.get("config") or {}).get("name") == "float32"
    return False


def _initializer(spec):
    """A Keras 3 initializer record without the arguments npconv lacks (at their default)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        return spec
    config = dict(spec["config"])
    for key, default in _NEUTRAL_INITIALIZER_KEYS.items():
        if key in config and config[key] == default:
            del config[key]
    return {**spec, "config": config}


def layer_config(class_name: str, config: dict, where: str) -> dict:
    """npconv's ``from_config`` arguments for a Keras layer ``config`` of ``class_name``;
    ``where`` names the file and the layer in errors."""
    if not isinstance(config, dict):
        raise KerasConfigError(f"{where}: expected the layer's config to be a dict. "
                               f"Received {type(config).__name__}")
    out = {}
    for key, value in config.items():
        if key == "dtype":
            # An input's dtype says what it takes (int32 token ids): npconv's InputLayer
            # keeps it; a computing layer's must be float32, the only dtype npconv computes in
            if class_name == "InputLayer":
                out[key] = value
            elif not _is_float32_policy(value):
                raise KerasConfigError(f"{where}: dtype {value!r} is not supported: npconv "
                                       "computes in float32 only")
            continue
        if key in _NEUTRAL_LAYER_KEYS:
            if value not in _NEUTRAL_LAYER_KEYS[key]:
                raise KerasConfigError(f"{where}: {key}={value!r} is not supported by npconv's "
                                       f"{class_name}")
            continue
        if key in _DEPENDENT_LAYER_KEYS:
            other, active = _DEPENDENT_LAYER_KEYS[key]
            if config.get(other) == active:
                raise KerasConfigError(f"{where}: {other}={active!r} is not supported by "
                                       f"npconv's {class_name}")
            continue
        if key in _NONE_ONLY_KEYS:
            if value is not None:
                raise KerasConfigError(f"{where}: {key} is not supported by npconv's "
                                       f"{class_name} (Received {value!r})")
            continue
        if key.endswith("_initializer"):
            value = _initializer(value)
        out[key] = value
    if class_name == "Lambda":
        _check_lambda(config, where)
    return out


def _check_lambda(config: dict, where: str) -> None:
    """Refuse a Lambda whose function Keras stored as marshalled bytecode, as Keras's
    safe_mode does (npconv never runs code from a file, whatever ``safe_mode`` says)."""
    for key in ("function", "output_shape", "mask"):
        spec = config.get(key)
        if isinstance(spec, dict) and spec.get("class_name") == "__lambda__":
            raise KerasConfigError(
                f"{where}: the Lambda layer's {key} is Python bytecode that Keras marshalled "
                "into the file; loading it would run arbitrary code, which npconv never does "
                "(Keras refuses it too unless safe_mode=False). Rebuild the model in npconv "
                "code, or save it with a named function instead of a lambda")
    spec = config.get("function")
    if isinstance(spec, dict):
        raise KerasConfigError(
            f"{where}: the Lambda layer's function is a Keras-serialized function "
            f"({spec.get('registered_name') or spec.get('config')!r}); npconv does not read "
            "Keras functions from a .keras file: rebuild the model in npconv code")


def optimizer_config(spec, where: str) -> tuple[str, dict]:
    """(npconv optimizer class name, from_config arguments) for a compile_config's
    optimizer (a name such as "adam", or ``{"class_name", "config"}``)."""
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise KerasConfigError(f"{where}: unreadable optimizer {spec!r}")
    config = {}
    for key, value in (spec.get("config") or {}).items():
        if key in _OPTIMIZER_NEUTRAL:
            allowed = _OPTIMIZER_NEUTRAL[key]
            if allowed is not None and value not in allowed:
                raise KerasConfigError(f"{where}: optimizer {spec['class_name']}: "
                                       f"{key}={value!r} is not supported by npconv")
            continue
        config[key] = value
    if isinstance(config.get("learning_rate"), dict):
        raise KerasConfigError(f"{where}: optimizer {spec['class_name']}: a learning-rate "
                               "schedule in a Keras file is not read by npconv")
    return spec["class_name"], config


def loss_or_metric(spec, where: str):
    """A compile_config's loss or metric as npconv's compile takes it: a name as it is, a
    Keras record ``{"class_name", "config"}`` as ``(class name, config)``."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        config = dict(spec.get("config") or {})
        for key, neutral in (("reduction", "sum_over_batch_size"), ("dtype", None)):
            if key in config and config[key] in (neutral, "float32"):
                del config[key]
        return spec["class_name"], config
    raise KerasConfigError(f"{where}: unreadable loss or metric {spec!r} (npconv reads names "
                           "and Keras class records)")
