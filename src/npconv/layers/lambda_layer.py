"""``Lambda``: a NumPy function as a layer (Keras's ``layers.Lambda``).

    Lambda(lambda x: x / 255.0)                       y = function(x, **arguments)
    Lambda(lambda xs: xs[0] - xs[1])([a, b])          several inputs: a list, as Keras passes
    Lambda(f, output_shape=(14, 14, 3))               output shape without the batch axis
    Lambda(f, output_shape=lambda s: (s[0], 10))      or a function of the input shape (batch
                                                      included), as Keras 3
    Lambda(f, backward=lambda d_out, x: ...)          npconv only: the gradient w.r.t. x

npconv has no automatic differentiation, so a Lambda has no gradient of its own. It trains
wherever no gradient has to flow through it: before every trainable layer (a scaling, a
resize or a crop of the input, say). Where a gradient would have to pass (a trainable layer
before it), ``compile`` and the first training step refuse, naming the layer; give it
``backward=`` (``(d_out, x, **arguments) -> dx``, a list of dx for several inputs) when you
know the derivative, or write a Layer subclass with ``call_backward``.

Saving keeps no code: the file records the function's name (``function.__name__``, and its
module for the error message), and ``load_model(path, custom_objects={"name": fn})``, or a
function registered with ``npconv.saving.register_keras_serializable()``, gives it back.
Nothing in a file is ever imported, evaluated or executed. A ``lambda`` is named
``"<lambda>"`` and cannot be found again: define it with ``def`` (or set its ``__name__``).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import threading

import numpy as np

from .base import Layer

__all__ = ["Lambda", "custom_object_scope", "register_function"]

#: Functions registered by name (``npconv.saving.register_keras_serializable``): Lambda's
#: ``from_config`` finds them there.
FUNCTION_REGISTRY: dict[str, object] = {}
_SCOPE = threading.local()


def register_function(function, name: str | None = None) -> str:
    """Register ``function`` under ``name`` (default ``function.__name__``); returns the name."""
    key = name or getattr(function, "__name__", None)
    if not callable(function) or not key or key == "<lambda>":
        raise ValueError("register_function: expected a named function (def f(x): ...) and "
                         f"a name. Received {function!r} with name {key!r}")
    FUNCTION_REGISTRY[key] = function
    return key


@contextlib.contextmanager
def custom_object_scope(custom_objects):
    """``with custom_object_scope({"name": fn}):`` Lambda's ``from_config`` (and so
    ``model_from_json``, ``clone_model``) finds ``fn`` by that name (Keras's
    ``keras.saving.custom_object_scope``)."""
    if not isinstance(custom_objects, dict):
        raise TypeError(f"custom_object_scope: expected a dict of names. "
                        f"Received {type(custom_objects).__name__}")
    stack = _scopes()
    stack.append(dict(custom_objects))
    try:
        yield
    finally:
        stack.pop()


@contextlib.contextmanager
def live_functions(layers):
    """While cloning a model in this process (``clone_model``): a Lambda rebuilt from its
    config takes the functions of the same-named Lambda among ``layers`` (the objects
    themselves, lambdas included), not a lookup by function name."""
    sources = {layer.name: layer for layer in layers if isinstance(layer, Lambda)}
    previous = getattr(_SCOPE, "live", None)
    _SCOPE.live = sources
    try:
        yield
    finally:
        _SCOPE.live = previous


def _scopes() -> list:
    if not hasattr(_SCOPE, "stack"):
        _SCOPE.stack = []
    return _SCOPE.stack


def _registered_name(function) -> str | None:
    for key, value in FUNCTION_REGISTRY.items():
        if value is function:
            return key
    return None


def _function_name(function) -> str:
    """The name a config records for ``function``: its registered name, else ``__name__``."""
    return _registered_name(function) or getattr(function, "__name__", None) or "<unnamed>"


def _lookup(spec, custom_objects, where: str, what: str):
    """The function named by a config entry ``spec`` (``{"name": ..., "module": ...}``), from
    ``custom_objects``, the scopes, then the registry. Never imports or evaluates anything."""
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ValueError(f"{where}: expected the {what} in the config as "
                         f"{{'name': ..., 'module': ...}} (npconv saves functions by name; a "
                         f"Keras file's bytecode is never loaded). Received {spec!r}")
    name, module = spec["name"], spec.get("module")
    tables = [custom_objects or {}, *reversed(_scopes()), FUNCTION_REGISTRY]
    for table in tables:
        if name in table and callable(table[name]):
            return table[name]
    origin = f" (defined in module {module!r})" if module else ""
    if name in ("<lambda>", "<unnamed>", None):
        raise ValueError(
            f"{where}: the {what} of this Lambda was an anonymous function{origin}; a model "
            "file keeps no code, so it cannot be found again. Define it with a name "
            "(def scale(x): return x / 255) and load with custom_objects={'scale': scale}; "
            "for a model saved with a lambda, build the same Lambda again and load only the "
            "weights (model.load_weights(path))")
    raise ValueError(
        f"{where}: cannot find the {what} {name!r}{origin}: a model file keeps only its name. "
        f"Pass it when loading: load_model(path, custom_objects={{{name!r}: {name}}}), or "
        "register it with @npconv.saving.register_keras_serializable()")


def _json_or_error(value, key: str, where: str):
    """``value`` as JSON data (tuples become lists), or a ValueError naming it."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise ValueError(
            f"{where}: {key}={value!r} cannot be saved in a model file (JSON only: numbers, "
            "strings, booleans, None, lists and dicts of them). Bind it inside a named "
            "function instead (def f(x): return g(x, w=W)) and give that to Lambda") from None


def _takes_two_positional(function) -> bool:
    """Whether ``function(d_out, x)`` can bind (True when the signature is unknown)."""
    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return True
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params) >= 2


class Lambda(Layer):
    """``y = function(x, **arguments)`` on NumPy arrays (Keras's ``Lambda``).

    function: called with the input array (N, ...) (a list of arrays when the layer is
        called on a list), plus ``training=`` when it takes that argument; returns one array
        whose first axis is the batch.
    output_shape: None (inferred by calling ``function`` on a zeros batch of 2 samples of
        the input shape), a tuple without the batch axis, or a function of the input shape
        (batch included; a list of shapes for several inputs) returning the whole output
        shape. The output of every call is checked against it.
    mask: not supported (npconv has no masking); must be None.
    arguments: a dict of keyword arguments for ``function`` (saved when JSON-able).
    backward: npconv only. ``backward(d_out, x, **arguments) -> dx``, the gradient w.r.t.
        the input(s) given the gradient w.r.t. the output (a list for several inputs).
        Without it the layer has no gradient (see the module docstring).

    No weights. A Lambda is never split over a batch (its function may mix samples): a
    model holding one runs each batch in one piece.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, *,
                 backward=None, **kwargs):
        if "data_format" in kwargs:
            raise TypeError("Lambda: unexpected keyword argument(s): data_format (the "
                            "function receives the array as it comes)")
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"{self.name}: Lambda expects a callable function. "
                            f"Received: function={function!r}")
        if mask is not None:
            raise ValueError(f"{self.name}: Lambda's mask is not supported (npconv has no "
                             f"masking). Received: mask={mask!r}")
        if arguments is not None and not isinstance(arguments, dict):
            raise TypeError(f"{self.name}: Lambda expects arguments to be a dict of keyword "
                            f"arguments. Received: arguments={arguments!r}")
        if backward is not None and not callable(backward):
            raise TypeError(f"{self.name}: Lambda expects backward to be None or a callable "
                            f"(d_out, x) -> dx. Received: backward={backward!r}")
        if backward is not None and not _takes_two_positional(backward):
            raise TypeError(f"{self.name}: Lambda's backward is called as backward(d_out, x); "
                            f"it takes fewer positional arguments. Received {backward!r}")
        if output_shape is not None and not callable(output_shape):
            try:
                output_shape = tuple(None if d is None else int(d) for d in output_shape)
            except (TypeError, ValueError):
                raise ValueError(f"{self.name}: Lambda expects output_shape to be a tuple of "
                                 "ints without the batch axis, or a function of the input "
                                 f"shape. Received: output_shape={output_shape!r}") from None
        self.function = function
        self.arguments = dict(arguments or {})
        self.mask = None
        self.backward_function = backward
        self._output_shape = output_shape
        self._takes_training = "training" in _parameters(function)
        self._inferred: dict = {}  # input shape -> inferred output shape
        self._cache = None

    @property
    def differentiable(self) -> bool:
        """Whether a gradient can flow through this layer (``backward=`` was given)."""
        return self.backward_function is not None

    # ------------------------------------------------------------------ inputs
    def _set_arity(self, inputs) -> None:
        several = isinstance(inputs, (list, tuple))
        if self.built and several != self.multiple_inputs:
            raise ValueError(f"{self.name}: this Lambda was called on "
                             f"{'a list of inputs' if self.multiple_inputs else 'one input'} "
                             f"first; it cannot now take "
                             f"{'a list' if several else 'a single input'}")
        self.multiple_inputs = several

    def _call_symbolic(self, inputs, training=None):
        self._set_arity(inputs)
        return super()._call_symbolic(inputs, training)

    def forward(self, inputs, training=False, *, activation=True):
        self._set_arity(inputs)
        return super().forward(inputs, training=training, activation=activation)

    # ------------------------------------------------------------------ forward / backward
    def _apply(self, x, training):
        kwargs = dict(self.arguments)
        if self._takes_training:
            kwargs["training"] = bool(training)
        return self.function(x, **kwargs)

    def call(self, x, training=False):
        y = self._apply(x, training)
        if isinstance(y, (list, tuple)):
            raise ValueError(f"{self.name}: a Lambda returns one array here (npconv layers "
                             f"have one output). Its function returned a "
                             f"{type(y).__name__} of {len(y)}")
        y = np.asarray(y)
        if y.dtype.kind not in "biuf" or y.ndim == 0:
            raise ValueError(f"{self.name}: expected the Lambda's function to return a real "
                             f"numeric array with a batch axis. Received dtype {y.dtype}, "
                             f"shape {y.shape}")
        shapes = [a.shape for a in x] if self.multiple_inputs else x.shape
        expected = self.compute_output_shape(shapes)
        if len(expected) != y.ndim or any(e is not None and e != g
                                          for e, g in zip(expected, y.shape, strict=False)):
            raise ValueError(f"{self.name}: expected the Lambda's output to have shape "
                             f"{tuple(expected)} (from output_shape or the shape inferred "
                             f"when it was built). Received shape {y.shape}")
        self._cache = x if self.backward_function is not None else None  # backward(d_out, x)
        return y

    def call_backward(self, d_out):
        if not self.need_input_grad:
            return None  # nothing before this layer learns: no gradient is needed
        if self.backward_function is None:
            raise RuntimeError(no_gradient_message(self))
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        x = self._cache
        dx = self.backward_function(d_out, x, **self.arguments)
        xs = x if self.multiple_inputs else [x]
        dxs = dx if self.multiple_inputs else [dx]
        if self.multiple_inputs and (not isinstance(dx, (list, tuple)) or len(dx) != len(xs)):
            raise ValueError(f"{self.name}: expected backward to return a list of "
                             f"{len(xs)} gradients (one per input). Received {type(dx).__name__}")
        out = []
        for a, g in zip(xs, dxs, strict=True):
            g = np.asarray(g)
            if g.shape != a.shape:
                raise ValueError(f"{self.name}: expected backward to return a gradient of the "
                                 f"input's shape {a.shape}. Received shape {g.shape}")
            out.append(g)
        return out if self.multiple_inputs else out[0]

    # ------------------------------------------------------------------ shapes
    def compute_output_shape(self, input_shape):
        several = self.multiple_inputs
        shapes = [tuple(s) for s in input_shape] if several else tuple(input_shape)
        batch = shapes[0][0] if several else shapes[0]
        if callable(self._output_shape):
            try:
                out = tuple(self._output_shape(shapes))
            except Exception as err:
                raise ValueError(f"{self.name}: the Lambda's output_shape function failed on "
                                 f"the input shape {shapes}: {type(err).__name__}: "
                                 f"{err}") from None
            return out
        if self._output_shape is not None:
            return (batch,) + self._output_shape
        key = tuple(s[1:] for s in shapes) if several else shapes[1:]
        if key not in self._inferred:
            self._inferred[key] = self._infer(shapes)
        return (batch,) + self._inferred[key]

    def _infer(self, shapes):
        """The output shape (without the batch axis) from calling the function on zeros: a
        batch of 2 samples of each input's shape."""
        several = self.multiple_inputs
        rests = [s[1:] for s in shapes] if several else [shapes[1:]]
        if any(d is None for rest in rests for d in rest):
            raise ValueError(f"{self.name}: cannot infer the Lambda's output shape for an "
                             f"input of unknown size {shapes}; give output_shape=(...) "
                             "(without the batch axis)")
        dtype = self.dtype or np.dtype(np.float32)
        probes = [np.zeros((2, *rest), dtype) for rest in rests]
        try:
            with np.errstate(all="ignore"):
                y = self._apply(probes if several else probes[0], False)
            y = np.asarray(y)
        except Exception as err:
            raise ValueError(f"{self.name}: cannot infer the Lambda's output shape: its "
                             f"function failed on a zeros batch of shape "
                             f"{[p.shape for p in probes] if several else probes[0].shape} "
                             f"({type(err).__name__}: {err}); give output_shape=(...) "
                             "(without the batch axis)") from None
        if y.ndim == 0 or y.shape[0] != 2:
            raise ValueError(f"{self.name}: cannot infer the Lambda's output shape: on a batch "
                             f"of 2 samples its function returned shape {y.shape}, which has "
                             "no batch axis of 2; give output_shape=(...)")
        return tuple(int(d) for d in y.shape[1:])

    # ------------------------------------------------------------------ config
    def get_config(self):
        where = f"{self.name} (Lambda)"
        config = {**super().get_config(), "function": _spec(self.function)}
        if callable(self._output_shape):
            config["output_shape"] = _spec(self._output_shape)
        else:
            config["output_shape"] = (None if self._output_shape is None
                                      else list(self._output_shape))
        config["arguments"] = _json_or_error(self.arguments, "arguments", where)
        if self.backward_function is not None:
            config["backward"] = _spec(self.backward_function)
        if self.multiple_inputs:
            config["multiple_inputs"] = True
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        where = f"{config.get('name', 'lambda')} (Lambda)"
        several = config.pop("multiple_inputs", False)
        source = (getattr(_SCOPE, "live", None) or {}).get(config.get("name"))
        function, shape = config.pop("function"), config.pop("output_shape", None)
        backward = config.pop("backward", None)
        if source is not None:  # clone_model: the same function objects
            function, backward = source.function, source.backward_function
            shape = source._output_shape
        else:
            function = _lookup(function, custom_objects, where, "function")
            if isinstance(shape, dict):
                shape = _lookup(shape, custom_objects, where, "output_shape function")
            if backward is not None:
                backward = _lookup(backward, custom_objects, where, "backward function")
        layer = cls(function, output_shape=shape, backward=backward, **config)
        layer.multiple_inputs = bool(several)
        return layer

    def __repr__(self) -> str:
        extra = f", backward={_function_name(self.backward_function)}" if self.differentiable \
            else ""
        return (f"<Lambda name={self.name}, function={_function_name(self.function)}{extra}, "
                f"built={self.built}>")


def _parameters(function) -> dict:
    try:
        return dict(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return {}


def _spec(function) -> dict:
    """A function as a config records it: its name and, when known, its module."""
    spec = {"name": _function_name(function)}
    module = getattr(function, "__module__", None)
    if module:
        spec["module"] = module
    return spec


def no_gradient_message(layer, trainable_before=None) -> str:
    """Why a Lambda without ``backward=`` cannot be trained through, and what to do."""
    before = (f" (trainable layers before it: {', '.join(trainable_before)})"
              if trainable_before else "")
    return (f"{layer.name}: a gradient would have to flow back through this Lambda layer"
            f"{before}, but a Lambda has no gradient in npconv (no automatic "
            "differentiation), and training would leave the layers before it wrong. Put the "
            "Lambda before every trainable layer (e.g. as the model's first layer), freeze "
            "the layers before it (layer.trainable = False), give "
            "Lambda(function, backward=lambda d_out, x: dx) with the gradient w.r.t. x "
            "(npconv only), or write a Layer subclass with call and call_backward")

