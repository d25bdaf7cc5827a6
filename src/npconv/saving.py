"""Keras path ``npconv.saving`` (``keras.saving``): ``save_model`` and ``load_model``.

The same functions as :mod:`npconv.io`'s, so that ``keras.saving.load_model(path)`` and
``keras.saving.save_model(model, path, overwrite=True)`` run after changing the import line.
``register_keras_serializable`` and ``custom_object_scope`` make the functions of ``Lambda``
layers findable by name when a model is loaded (a model file keeps no code).
"""

from .io import load_model, save_model
from .layers.lambda_layer import FUNCTION_REGISTRY, custom_object_scope, register_function

__all__ = ["custom_object_scope", "get_registered_object", "load_model",
           "register_keras_serializable", "save_model"]


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
