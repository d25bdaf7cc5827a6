"""Keras path ``npconv.saving`` (``keras.saving``): ``save_model`` and ``load_model``.

The same functions as :mod:`npconv.io`'s, so that ``keras.saving.load_model(path)`` and
``keras.saving.save_model(model, path, overwrite=True)`` run after changing the import line.
``register_keras_serializable`` and ``custom_object_scope`` make the functions of ``Lambda``
layers findable by name when a model is loaded (a model file keeps no code).
"""

from .io import load_model, save_model
from .layers.lambda_layer import FUNCTION_REGISTRY, custom_object_scope, register_function

__all__ = ["custom_object_scope", "deserialize_keras_object", "get_custom_objects",
           "get_registered_object", "load_model", "register_keras_serializable", "save_model",
           "serialize_keras_object"]


def register_keras_serializable(package="Custom", name=None):
    """Decorator (Keras's): ``@register_keras_serializable()`` over ``def scale(x): ...``
    registers the function as ``"Custom>scale"``, the name a ``Lambda``'s config then records
    and ``load_model`` finds without ``custom_objects``. A name registered again is
    replaced, as in Keras 3 (Keras 2 raised "already registered"): a notebook cell run twice
    works. On a Layer subclass it changes nothing: layer classes are found by their class
    name once defined."""
    if not isinstance(package, str) or not package:
        raise ValueError(f"register_keras_serializable: expected package to be a non-empty "
                         f"string. Received: package={package!r}")

    def decorator(obj):
        if isinstance(obj, type):
            return obj
        base = name or getattr(obj, "__name__", None)
        if not base or base == "<lambda>":
            raise ValueError("register_keras_serializable: a lambda has no name; define the "
                             "function with def, or pass name='...'")
        register_function(obj, f"{package}>{base}")
        return obj

    return decorator


def get_registered_object(name, custom_objects=None):
    """The function registered (or given in ``custom_objects``) as ``name``, else None."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return FUNCTION_REGISTRY.get(name)


def get_custom_objects() -> dict:
    """The live dict of registered custom objects (Keras's): the functions registered with
    :func:`register_keras_serializable`, by their ``"package>name"``; the saving guide's
    ``get_custom_objects().clear()`` forgets them. (Layer classes are not in it: npconv finds
    them by class name once defined.)"""
    return FUNCTION_REGISTRY


def serialize_keras_object(obj):
    """Keras's ``{"module", "class_name", "config", "registered_name"}`` dict of a layer, a
    regularizer or a constraint (``None``, strings and numbers are returned as they are);
    :func:`deserialize_keras_object` rebuilds it."""
    from .constraints import Constraint
    from .layers.base import Layer
    from .regularizers import Regularizer

    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, Layer):
        from .layers import serialize
        return serialize(obj)
    if isinstance(obj, Regularizer):
        return {"module": "keras.regularizers", "class_name": type(obj).__name__,
                "config": obj.get_config(), "registered_name": None}
    if isinstance(obj, Constraint):
        return {"module": "keras.constraints", "class_name": type(obj).__name__,
                "config": obj.get_config(), "registered_name": None}
    raise TypeError("serialize_keras_object: npconv serializes layers and regularizers (and "
                    f"constraints). Received {type(obj).__name__}")


def deserialize_keras_object(config, custom_objects=None):
    """The layer or regularizer that :func:`serialize_keras_object` (or
    ``keras.layers.serialize``) described; ``custom_objects`` maps class names to classes."""
    if config is None or isinstance(config, (str, int, float, bool)):
        return config
    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError("deserialize_keras_object: expected a dict with 'class_name' and "
                        f"'config'. Received {config!r}")
    if config.get("module") == "keras.constraints":
        from .constraints import deserialize as deserialize_constraint
        return deserialize_constraint(config, custom_objects=custom_objects)
    if config.get("module") == "keras.regularizers":
        from .regularizers import deserialize
        return deserialize({"class_name": config["class_name"],
                            "config": config.get("config", {})})
    from .layers import deserialize
    return deserialize(config, custom_objects=custom_objects)
