"""The Layer contract shared by every npconv layer.

A layer is a callable object that
- builds its weights from the input shape on first call (``build``),
- computes its output (``call``) and remembers what its backward pass needs,
- propagates a gradient (``call_backward``), writing each weight's ``grad``,
- applies an optional fused activation after ``call`` and before ``call_backward``,
- speaks Keras: ``get_weights/set_weights`` in Keras order, ``get_config/from_config``,
  ``count_params``, ``name``, ``trainable``, ``training=`` as an argument (no global flag),
- takes Keras's ``kernel_regularizer=`` / ``bias_regularizer=`` (``npconv.regularizers``) for
  any layer with a weight named ``"kernel"`` / ``"bias"``: ``layer.losses`` lists the penalties
  and ``add_regularization_gradients()`` adds their gradients to the weights' ``grad``,
- takes Keras's ``<prefix>_constraint=`` arguments (``npconv.constraints``) that its class
  lists in ``_constraint_args`` (prefix -> weight name; Dense: ``kernel``, ``bias``):
  ``add_weight`` stores the constraint on the ``Weight`` (``weight.constraint``, also given
  as ``add_weight(constraint=...)``) and the optimizer projects the weight after each update.

Layout: inside, 4-D tensors are NHWC. A layer created with ``data_format="channels_first"``
accepts and returns NCHW; the transposes happen here, at the boundary, so subclasses only
ever see NHWC.

Subclass hooks (all shapes include the batch dimension, ``None`` when unknown):
    build(input_shape)                  create weights with ``add_weight``
    call(x, training) -> y              forward, before the fused activation
    call_backward(d_y) -> d_x           backward, after the fused activation
    compute_output_shape(input_shape)   output shape, before data_format conversion
    get_config()                        constructor arguments (extend ``super().get_config()``)

A ``call`` may apply the fused activation itself, in place, block by block while the data is
in the CPU cache (Conv2D in inference on large batches): it then sets
``self._activation_applied = True`` and the base only records the activation's backward cache
(``Activation.output_cache(y)``); only activations with ``Activation.inplace`` qualify.
Such a ``call`` reads the activation from :attr:`Layer.fused_activation`, which is None while
``forward(..., activation=False)`` runs.

A layer that holds layers as attributes and defines ``call`` but not ``call_backward`` is
built from them (Keras's composable layers): on build its ``call`` is traced into a graph of
its sublayers (``self._graph``, :mod:`npconv.models.composite`), which then runs its
forward and backward passes and holds its weights. A layer with its own ``call_backward``
keeps this contract as written.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from collections import defaultdict

import numpy as np

from .. import _malloc, constraints, initializers, regularizers
from .._checks import check_choice, float_array
from ..random import global_generator
from ..tensor import as_tensor

_malloc.keep_heap_top()  # each step's freed arrays are reused, not page-faulted back in

_NAME_COUNTS: defaultdict[str, int] = defaultdict(int)
LAYER_REGISTRY: dict[str, type] = {}
#: False in npconv's helper processes: the weights of the models they build are replaced at
#: once by views of their parent's (zeros meanwhile; no generator, no numpy.random import).
DRAW_WEIGHTS = True
#: While ``npconv.io.load_model`` rebuilds a file's architecture: how many weight values the
#: file holds and no weight has claimed yet (None otherwise). A config naming an absurd size
#: (Dense(10**12), edited or corrupt) then fails at that weight, before allocating terabytes.
WEIGHT_BUDGET: int | None = None


def unique_name(prefix: str) -> str:
    """Keras-style automatic names: ``conv2d``, ``conv2d_1``, ``conv2d_2`` ..."""
    count = _NAME_COUNTS[prefix]
    _NAME_COUNTS[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reserve_names(names) -> None:
    """Automatic names skip ``names`` from now on: after a model is rebuilt from its config
    (``load_model``, ``model_from_json``, ``clone_model``), whose layers carry the names of the
    session that built them (``dense``, ``dense_1``), the next ``Dense()`` of this session is
    ``dense_2``, not a second ``dense`` that a model holding both refuses (Keras 3 repeats the
    name; its users meet 'The name "dense" is used 2 times' when adding a head to a loaded
    model in a fresh session)."""
    for name in names:
        match = re.fullmatch(r"(.+?)(?:_(\d+))?", name)
        prefix, count = match.group(1), int(match.group(2) or 0)
        _NAME_COUNTS[prefix] = max(_NAME_COUNTS[prefix], count + 1)


def reset_name_counters() -> None:
    """Start automatic layer names afresh (Keras's ``clear_session``)."""
    _NAME_COUNTS.clear()


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _operator(ufunc, reflected=False):
    """A Weight's arithmetic operator: ``ufunc`` on its array (the other side unwraps itself
    through Weight.__array_ufunc__)."""
    if reflected:
        return lambda self, other: ufunc(other, self.value)
    return lambda self, other: ufunc(self.value, other)


class Weight:
    """A named parameter: ``value`` (updated in place by optimizers) and its ``grad``."""

    __slots__ = ("name", "value", "grad", "trainable", "regularizer", "constraint")

    def __init__(self, name: str, value: np.ndarray, trainable: bool = True,
                 regularizer=None, constraint=None):
        self.name = name
        self.value = value
        self.grad: np.ndarray | None = None
        self.trainable = trainable
        #: An ``npconv.regularizers.Regularizer`` penalising ``value``, or None.
        self.regularizer = regularizer
        #: An ``npconv.constraints.Constraint`` (or a function ``w -> w'``) the optimizer
        #: applies to ``value`` after each of its updates, or None.
        self.constraint = constraint

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    def numpy(self) -> np.ndarray:
        """A copy of the values (Keras's ``variable.numpy()``)."""
        return self.value.copy()

    def assign(self, new_value, where: str = "") -> None:
        """Copy ``new_value`` into ``value`` in place; the shape must match exactly."""
        np.copyto(self.value, self._checked_value(new_value, where), casting="unsafe")

    def _checked_value(self, new_value, where: str = "") -> np.ndarray:
        """``new_value`` as an array of this weight's shape and real numbers, or a clear error
        (a complex value would lose its imaginary part, a string fail half-way through a
        ``set_weights``)."""
        new_value = np.asarray(new_value)
        if new_value.shape != self.value.shape:
            raise ValueError(
                f"{where or self.name}: weight '{self.name}' expects shape {self.value.shape}. "
                f"Received shape {new_value.shape}"
            )
        if new_value.dtype.kind not in "biuf":
            raise TypeError(f"{where or self.name}: weight '{self.name}' expects real numbers. "
                            f"Received dtype {new_value.dtype}")
        return new_value

    def assign_add(self, delta) -> None:
        """``value += delta`` in place (Keras's ``assign_add``); same shape or a scalar."""
        self.value += self._same_shape(delta, "assign_add")

    def assign_sub(self, delta) -> None:
        """``value -= delta`` in place (Keras's ``assign_sub``); same shape or a scalar."""
        self.value -= self._same_shape(delta, "assign_sub")

    def _same_shape(self, delta, where):
        delta = np.asarray(delta)
        if delta.ndim and delta.shape != self.value.shape:
            raise ValueError(f"{where}: weight '{self.name}' expects shape {self.value.shape} "
                             f"(or a scalar). Received shape {delta.shape}")
        return delta.astype(self.value.dtype, copy=False)

    # -- a weight reads as its array, as a Keras variable does: np.asarray(w), w * 2,
    # np.sum(w), w[0]. The results are new arrays; only assign* and optimizers change value.
    # (== stays identity: weights are looked up in lists and sets.)
    def __array__(self, dtype=None, copy=None):
        if copy:
            return np.array(self.value, dtype=dtype, copy=True)
        if dtype is None or np.dtype(dtype) == self.value.dtype:
            return self.value
        if copy is False:
            raise ValueError(f"weight '{self.name}': a {self.value.dtype} array cannot be "
                             f"read as {np.dtype(dtype)} without a copy (copy=False)")
        return self.value.astype(dtype)

    # ``kernel += 1`` changes the weight in place (it would otherwise rebind the layer's
    # attribute to a plain array)
    def __iadd__(self, other):
        self.value += self._same_shape(other, "+=")
        return self

    def __isub__(self, other):
        self.value -= self._same_shape(other, "-=")
        return self

    def __imul__(self, other):
        self.value *= self._same_shape(other, "*=")
        return self

    def __itruediv__(self, other):
        self.value /= self._same_shape(other, "/=")
        return self

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(x.value if isinstance(x, Weight) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(o.value if isinstance(o, Weight) else o
                                  for o in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __len__(self) -> int:
        return len(self.value)

    def __bool__(self) -> bool:  # a weight is a thing, not a truth value (len() must not decide)
        return True

    def __getitem__(self, key):
        return self.value[key].copy()

    def __float__(self) -> float:
        return float(self.value)

    def __neg__(self):
        return -self.value

    def __pos__(self):
        return +self.value

    def __abs__(self):
        return np.abs(self.value)

    __add__, __radd__ = _operator(np.add), _operator(np.add, reflected=True)
    __sub__, __rsub__ = _operator(np.subtract), _operator(np.subtract, reflected=True)
    __mul__, __rmul__ = _operator(np.multiply), _operator(np.multiply, reflected=True)
    __truediv__ = _operator(np.true_divide)
    __rtruediv__ = _operator(np.true_divide, reflected=True)
    __floordiv__ = _operator(np.floor_divide)
    __rfloordiv__ = _operator(np.floor_divide, reflected=True)
    __pow__, __rpow__ = _operator(np.power), _operator(np.power, reflected=True)
    __matmul__, __rmatmul__ = _operator(np.matmul), _operator(np.matmul, reflected=True)
    __lt__, __le__ = _operator(np.less), _operator(np.less_equal)
    __gt__, __ge__ = _operator(np.greater), _operator(np.greater_equal)

    def __repr__(self) -> str:
        return f"Weight({self.name!r}, shape={self.shape}, dtype={self.value.dtype})"


class SymbolicTensor:
    """A placeholder flowing through layer calls to describe a functional model.

    ``shape`` includes the batch dimension (``None``). ``layer`` produced it from ``parents``
    (an empty tuple for an ``Input``).
    """

    def __init__(self, shape, layer=None, parents=(), dtype="float32", training=None):
        self.shape = tuple(shape)
        self.layer = layer
        self.parents = tuple(parents)
        self.dtype = dtype
        #: ``training=`` given at this call (Keras: it overrides the model's mode for this
        #: call, e.g. ``base(x, training=False)`` keeps BatchNormalization in inference);
        #: None follows the model
        self.training = training

    @property
    def ndim(self) -> int:
        return len(self.shape)

    # Keras's arithmetic on symbolic tensors: ``a + b`` is ``Add()([a, b])``, ``a - b``
    # ``Subtract()([a, b])`` and ``a * b`` ``Multiply()([a, b])`` (a layer each, so they
    # have a backward). With a number, ``x * c``, ``x + c``, ``c - x``, ``-x`` ... are a
    # ``Rescaling(scale, offset)`` (offset -0.0 where the expression adds nothing), ``x / c``
    # and ``c / x`` a ``TrueDivide``, ``//`` a ``FloorDivide``, ``%`` a ``Mod``, ``x ** c``
    # and ``c ** x`` a ``Power``, ``abs(x)`` an ``Absolute`` (npconv.layers.scalar_ops), each
    # exactly NumPy's result for the expression.
    # Anything else is refused (NotImplemented: Python's TypeError).
    __array_ufunc__ = None  # np.float32(2) * x comes here too (not an object array)

    def _merge(self, other, kind, reflected=False):
        from . import merge

        pair = [other, self] if reflected else [self, other]
        return getattr(merge, kind)()(pair)

    def _scalar(self, other, make):
        from .scalar_ops import _number

        if isinstance(other, SymbolicTensor) or not isinstance(other, numbers.Real) \
                or isinstance(other, (bool, np.bool_)):
            return NotImplemented
        return make(_number(other, "the number", "symbolic tensor arithmetic"))(self)

    def __add__(self, other):
        if isinstance(other, SymbolicTensor):
            return self._merge(other, "Add")
        return self._scalar(other, lambda c: _rescaling(1, c))

    __radd__ = __add__

    def __sub__(self, other):
        if isinstance(other, SymbolicTensor):
            return self._merge(other, "Subtract")
        return self._scalar(other, lambda c: _rescaling(1, -float(c)))  # (x - 0: x + -0.0)

    def __rsub__(self, other):
        return self._scalar(other, lambda c: _rescaling(-1, c))

    def __mul__(self, other):
        if isinstance(other, SymbolicTensor):
            return self._merge(other, "Multiply")
        return self._scalar(other, lambda c: _rescaling(c, -0.0))

    __rmul__ = __mul__

    def __truediv__(self, other):
        from .scalar_ops import TrueDivide

        return self._scalar(other, TrueDivide)

    def __rtruediv__(self, other):
        from .scalar_ops import TrueDivide

        return self._scalar(other, lambda c: TrueDivide(c, reflected=True))

    def __floordiv__(self, other):
        from .scalar_ops import FloorDivide

        return self._scalar(other, FloorDivide)

    def __rfloordiv__(self, other):
        from .scalar_ops import FloorDivide

        return self._scalar(other, lambda c: FloorDivide(c, reflected=True))

    def __mod__(self, other):
        from .scalar_ops import Mod

        return self._scalar(other, Mod)

    def __rmod__(self, other):
        from .scalar_ops import Mod

        return self._scalar(other, lambda c: Mod(c, reflected=True))

    def __pow__(self, other):
        from .scalar_ops import Power

        return self._scalar(other, Power)

    def __rpow__(self, other):
        from .scalar_ops import Power

        return self._scalar(other, lambda c: Power(base=c))

    def __neg__(self):
        return _rescaling(-1, -0.0)(self)

    def __abs__(self):
        from .scalar_ops import Absolute

        return Absolute()(self)

    def _apply_activation(self, activation):
        """``npconv.activations.relu(t)`` on a symbolic tensor: an ``Activation`` layer, or
        the layer that saves its options (``ReLU``, ``LeakyReLU``, ``Softmax``)."""
        from . import activation as layers_of
        from .core import Activation

        options = dict(activation.kwargs)
        if not options:
            return Activation(activation)(self)
        kinds = {"relu": layers_of.ReLU, "softmax": layers_of.Softmax,
                 "leaky_relu": lambda negative_slope=0.2: layers_of.LeakyReLU(negative_slope)}
        if activation.name not in kinds:
            given = ", ".join(f"{k}={v!r}" for k, v in options.items())
            raise TypeError(f"activations.{activation.name}({given}) on a layer output: a "
                            "model file keeps only an activation's name, so these options "
                            "are not supported here; use the defaults, or a layer of your "
                            "own")
        return kinds[activation.name](**options)(self)

    def __repr__(self) -> str:
        producer = f", layer={self.layer.name}" if self.layer is not None else ""
        return f"<SymbolicTensor shape={self.shape}{producer}>"


def _rescaling(scale, offset):
    from .shape import Rescaling

    return Rescaling(scale, offset)


def _draw(init, shape, dtype):
    """``init(shape, dtype, rng)``: npconv's initializers draw from the shared generator; a
    user's initializer gets the generator only as its signature asks (a third positional
    parameter, or one named ``rng``); Keras's ``(shape, dtype=None, **kwargs)`` gets none."""
    if type(init).__module__.startswith("npconv."):
        return init(shape, dtype, global_generator())
    how = _rng_argument(init)
    if how == "positional":
        return init(shape, dtype, global_generator())
    if how == "keyword":
        return init(shape, dtype, rng=global_generator())
    return init(shape, dtype)


def _rng_argument(function) -> str | None:
    import inspect

    try:
        params = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return "positional"
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 3 or any(p.kind is p.VAR_POSITIONAL for p in params):
        return "positional"
    if any(p.name == "rng" for p in params):
        return "keyword"
    return None


#: Layer class -> whether its ``call`` takes a ``training`` argument (see Layer._call).
_CALL_TAKES_TRAINING: dict = {}


def _takes_training(call) -> bool:
    import inspect

    try:
        params = inspect.signature(call).parameters
    except (TypeError, ValueError):
        return True
    return "training" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _holds_layers(layer) -> bool:
    """Whether ``layer``'s own ``call`` (not npconv's) may call layers it holds."""
    return type(layer).call is not Layer.call and bool(held_layers(layer))


def _is_symbolic(inputs) -> bool:
    if isinstance(inputs, SymbolicTensor):
        return True
    return isinstance(inputs, (list, tuple)) and any(isinstance(t, SymbolicTensor) for t in inputs)


#: The kinds of object a layer may hold as sublayers: Layer, and Model once models are
#: imported (npconv.models.functional adds it; layers never import models).
LAYER_HOLDERS: list[type] = []


def held_layers(owner, kinds=None) -> list:
    """The layers (and models) ``owner`` holds as attributes, also in lists, tuples and
    dicts (Keras tracks those too), in assignment order, each once."""
    kinds = tuple(kinds or LAYER_HOLDERS)
    found: dict[int, object] = {}
    for value in vars(owner).values():
        items = value.values() if isinstance(value, dict) else (
            value if isinstance(value, (list, tuple)) else [value])
        for item in items:
            if isinstance(item, kinds) and item is not owner:
                found.setdefault(id(item), item)
    return list(found.values())


def _public_build(hook):
    """A subclass's ``build`` as Keras users call it: ``layer.build((None, 28, 28, 1))`` by
    hand takes the public shape (NCHW for ``channels_first``) and leaves the layer built, its
    weights made once, as Keras's does. Inside npconv's own build (and a subclass's
    ``super().build(shape)`` there) it is the hook itself, on the NHWC shape."""

    @functools.wraps(hook)
    def build(self, input_shape):
        if getattr(self, "_in_build", False):
            return hook(self, input_shape)
        self._maybe_build(input_shape)
        return None

    return build


class Layer:
    """Base class of all layers. See the module docstring for the contract."""

    #: The mode of a direct call on arrays that does not say (``layer(x)``, ``model(x)``):
    #: False, except for the augmentation layers (``RandomFlip``, ``RandomRotation`` ...),
    #: whose Keras ``call`` defaults to ``training=True``, so that ``augment(images)``
    #: augments. ``fit`` trains, ``predict``/``evaluate`` infer, whatever this says.
    training_by_default = False

    #: Layers whose inputs are a list of tensors (Add, Concatenate) set this to True.
    multiple_inputs = False
    #: A composite layer's traced graph (npconv.models.composite.LayerGraph), else None,
    #: and its sublayers in Keras order.
    _graph = None
    _sublayer_list: tuple = ()
    #: True while a layer with its own call_backward holds sublayers not yet built: their
    #: weights join its own after a forward pass (see _adopt_sublayer_weights).
    _adopting = False
    activity_regularizer = None
    _activity_loss = _activity_output = None
    #: Keras's ``<prefix>_constraint`` arguments of this layer class: prefix -> the name of
    #: the weight it constrains (``{"kernel": "kernel", "bias": "bias"}`` for Dense). Each is
    #: kept as ``self.<prefix>_constraint`` and saved in ``get_config`` (None too).
    _constraint_args: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        LAYER_REGISTRY[cls.__name__] = cls
        if "build" in cls.__dict__:
            cls.build = _public_build(cls.__dict__["build"])

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 data_format="channels_last", **kwargs):
        if "input_dim" in kwargs:  # Keras's old Dense(…, input_dim=n)
            input_dim = kwargs.pop("input_dim")
            input_shape = input_shape or (input_dim,)
        where = name if isinstance(name, str) and name else type(self).__name__
        #: Regularizers for the weights named "kernel" and "bias" (attached by add_weight).
        self._weight_regularizers = {}
        for weight_name in ("kernel", "bias"):
            identifier = kwargs.pop(f"{weight_name}_regularizer", None)
            try:
                regularizer = regularizers.get(identifier)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{where}: {weight_name}_regularizer: {err}") from None
            if regularizer is not None:
                self._weight_regularizers[weight_name] = regularizer
        try:
            #: Keras's ``activity_regularizer``: its penalty of the layer's output (after the
            #: activation) joins ``losses`` at each call, its gradient the backward's d_out
            self.activity_regularizer = regularizers.get(kwargs.pop("activity_regularizer",
                                                                    None))
        except (TypeError, ValueError) as err:
            raise type(err)(f"{where}: activity_regularizer: {err}") from None
        self._activity_loss = self._activity_output = None
        #: Constraints by weight name (attached by add_weight), from ``_constraint_args``.
        self._weight_constraints = {}
        for prefix, weight_name in self._constraint_args.items():
            try:
                constraint = constraints.get(kwargs.pop(f"{prefix}_constraint", None))
            except (TypeError, ValueError) as err:
                raise type(err)(f"{where}: {prefix}_constraint: {err}") from None
            setattr(self, f"{prefix}_constraint", constraint)
            if constraint is not None:
                self._weight_constraints[weight_name] = constraint
        if kwargs:
            unexpected = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s): {unexpected}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: expected name to be a non-empty string. "
                             f"Received: name={name!r}")
        self.name = name or unique_name(_snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.dtype = None if dtype is None else np.dtype(dtype)
        if self.dtype is not None and self.dtype not in (np.float32, np.float64):
            raise ValueError(f"{self.name}: expected dtype 'float32' or 'float64'. "
                             f"Received: dtype={dtype!r}")
        self.data_format = check_choice(  # None: Keras's default image_data_format()
            data_format or "channels_last", "data_format", {"channels_last", "channels_first"},
            self.name)
        self.input_shape_arg = None if input_shape is None else tuple(input_shape)
        self.activation = None
        self.built = False
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self._weights: list[Weight] = []
        self._activation_cache = None
        #: Set False by a model when nobody needs d_input (the first layer): call_backward
        #: may then skip computing it and return None.
        self.need_input_grad = True

    # ------------------------------------------------------------------ weights
    def add_weight(self, *args, shape=None, initializer=None, dtype=None, trainable=True,
                   regularizer=None, name=None, constraint=None, **kwargs) -> Weight:
        """Create a weight, drawn from the shared generator; Keras 3's call
        ``add_weight(shape=..., initializer=..., trainable=..., name=...)`` (``shape`` first
        when positional) and npconv's and Keras 2's ``add_weight(name, shape, initializer)``.

        ``initializer`` defaults to ``"glorot_uniform"`` (as in Keras), ``dtype`` to the
        layer's (float32 unless the layer is float64), ``name`` to ``"variable"``.
        ``regularizer`` defaults to the layer's ``kernel_regularizer`` / ``bias_regularizer``
        for the weights named "kernel" / "bias", ``constraint`` (``npconv.constraints``:
        applied by the optimizer after each update) to the layer's constraint argument for
        that weight (``kernel_constraint`` ...). Keras's ``autocast`` and ``aggregation`` are
        accepted and have no effect here (no mixed precision, one device).
        """
        if args and isinstance(args[0], str):  # (name, shape, initializer, trainable, reg.)
            order = ("name", "shape", "initializer", "trainable", "regularizer")
        else:  # Keras 3: (shape, initializer, dtype, trainable)
            order = ("shape", "initializer", "dtype", "trainable")
        if len(args) > len(order):
            raise TypeError(f"{self.name}.add_weight: expected at most {len(order)} "
                            f"positional arguments {order}. Received {len(args)}")
        given = dict(zip(order, args, strict=False))  # (fewer arguments than names)
        explicit = {"shape": shape, "initializer": initializer, "dtype": dtype,
                    "trainable": trainable, "regularizer": regularizer, "name": name}
        for key in given:
            if key != "trainable" and explicit[key] is not None or (
                    key == "trainable" and trainable is not True):
                raise TypeError(f"{self.name}.add_weight: got {key} both by position and "
                                "by keyword")
        values = {**explicit, **given}
        unknown = sorted(set(kwargs) - {"autocast", "aggregation", "synchronization"})
        if unknown:
            raise TypeError(f"{self.name}.add_weight: unexpected keyword argument(s): "
                            f"{', '.join(unknown)}")
        try:
            constraint = constraints.get(constraint)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{self.name}.add_weight: constraint: {err}") from None
        return self._new_weight(values["name"], values["shape"], values["initializer"],
                                values["dtype"], values["trainable"], values["regularizer"],
                                constraint)

    def _new_weight(self, name, shape, initializer, dtype, trainable, regularizer,
                    constraint=None) -> Weight:
        name = "variable" if name is None else name
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.name}.add_weight: expected name to be a non-empty string. "
                            f"Received: name={name!r}")
        if shape is None:
            raise TypeError(f"{self.name}.add_weight: the weight {name!r} needs a shape")
        shape = (shape,) if isinstance(shape, (numbers.Integral, np.integer)) else shape
        try:
            shape = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise TypeError(f"{self.name}.add_weight: expected the shape of {name!r} to be a "
                            f"tuple of ints. Received: shape={shape!r}") from None
        if any(d < 0 for d in shape):
            raise ValueError(f"{self.name}.add_weight: expected the shape of {name!r} to have "
                             f"no negative size. Received: shape={shape}")
        init = initializers.get("glorot_uniform" if initializer is None else initializer,
                                self.name)
        if dtype is None:
            dtype = self.dtype or np.dtype(np.float32)
        elif np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"{self.name}.add_weight: expected dtype float32 or float64 for "
                             f"{name!r}. Received: dtype={dtype!r}")
        dtype = np.dtype(dtype)
        global WEIGHT_BUDGET
        if WEIGHT_BUDGET is not None:
            size = math.prod(shape)
            if size > WEIGHT_BUDGET:
                raise ValueError(f"{self.name}.add_weight: the weight {name!r} of shape {shape} "
                                 f"needs {size} values, more than the file's weights still "
                                 f"hold ({WEIGHT_BUDGET}): the architecture does not match them")
            WEIGHT_BUDGET -= size
        if DRAW_WEIGHTS:
            value = np.array(_draw(init, shape, dtype), dtype=dtype, order="C")  # (0-d stays)
        else:
            value = np.zeros(shape, dtype=dtype)
        if regularizer is None:
            regularizer = self._weight_regularizers.get(name)
        if constraint is None:
            constraint = self._weight_constraints.get(name)
        weight = Weight(name, value, bool(trainable), regularizers.get(regularizer),
                        constraint)
        self._weights.append(weight)
        return weight

    @property
    def kernel_regularizer(self):
        return self._weight_regularizers.get("kernel")

    @property
    def bias_regularizer(self):
        return self._weight_regularizers.get("bias")

    @property
    def losses(self) -> list[float]:
        """The regularization penalties of the trainable weights, and the activity
        regularizer's of the last call's output, as Keras's ``layer.losses``."""
        found = [w.regularizer(w.value) for w in self.trainable_weights
                 if w.regularizer is not None]
        if getattr(self, "_activity_loss", None) is not None:
            found.append(self._activity_loss)
        return found

    def add_regularization_gradients(self) -> None:
        """Add each trainable weight's penalty gradient to its ``grad`` (after ``backward``)."""
        for w in self.trainable_weights:
            if w.regularizer is not None:
                g = w.regularizer.gradient(w.value)
                w.grad = g if w.grad is None else w.grad + g

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value) -> None:
        """As in Keras, ``layer.trainable = False`` freezes the layers it holds too (and a
        frozen BatchNormalization among them runs in inference mode)."""
        self._trainable = bool(value)
        for sub in held_layers(self) + list(self._sublayer_list):
            sub.trainable = self._trainable

    @property
    def weights(self) -> list[Weight]:
        """All weights in Keras order (trainable ones first, as Keras lists them; a layer
        built from other layers lists them sublayer by sublayer, as Keras, which is also
        the order of its ``get_weights``)."""
        if self._graph is not None:
            return [w for sub in self._sublayer_list for w in sub.weights]
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[Weight]:
        """The weights an optimizer updates (none while ``trainable`` is False)."""
        if not self.trainable:
            return []
        if self._graph is not None:  # each sublayer says which of its own are trainable
            return [w for sub in self._sublayer_list for w in sub.trainable_weights]
        return [w for w in self._weights if w.trainable]

    @property
    def non_trainable_weights(self) -> list[Weight]:
        """The other weights (moving statistics; every weight while ``trainable`` is False)."""
        if not self.trainable:
            return list(self._weights)
        if self._graph is not None:
            return [w for sub in self._sublayer_list for w in sub.non_trainable_weights]
        return [w for w in self._weights if not w.trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights' values, in the order of ``_weights`` (Keras's order)."""
        return [w.value.copy() for w in self._weights]

    def set_weights(self, weights) -> None:
        """Set every weight from a list in ``get_weights`` order; shapes must match exactly."""
        weights = list(weights)
        if not self.built:
            raise ValueError(f"{self.name}: call the layer on an input (or build it) before "
                             "set_weights, so its weights exist")
        if len(weights) != len(self._weights):
            raise ValueError(
                f"{self.name}: expected a list of {len(self._weights)} weight arrays "
                f"{[w.shape for w in self._weights]}. Received {len(weights)} arrays"
            )
        arrays = [w._checked_value(new, self.name)  # all checked before any is written
                  for w, new in zip(self._weights, weights, strict=True)]
        for w, new in zip(self._weights, arrays, strict=True):
            w.assign(new, self.name)

    def count_params(self) -> int:
        """The number of values in all the layer's weights (the summary's "Param #")."""
        if not self.built:
            raise ValueError(f"{self.name}: the layer is not built yet, so it has no weights")
        return int(sum(w.value.size for w in self._weights))

    # ------------------------------------------------------------------ shapes
    def _to_internal_shape(self, shape):
        if self.data_format == "channels_first" and len(shape) == 4:
            return (shape[0], shape[2], shape[3], shape[1])
        return shape

    def _from_internal_shape(self, shape):
        if self.data_format == "channels_first" and len(shape) == 4:
            return (shape[0], shape[3], shape[1], shape[2])
        return shape

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (NHWC, batch included). Default: unchanged."""
        return input_shape

    def output_shape_for(self, input_shape):
        """Public output shape in this layer's ``data_format``."""
        if self._graph is not None:  # what the traced call gives
            return (tuple(input_shape)[0],) + tuple(self._graph.outputs[0].shape[1:])
        if self.multiple_inputs:
            return self.compute_output_shape([tuple(s) for s in input_shape])
        inner = self.compute_output_shape(self._to_internal_shape(tuple(input_shape)))
        return self._from_internal_shape(tuple(inner))

    def build(self, input_shape) -> None:
        """Create weights for ``input_shape`` (NHWC, batch included). Default: no weights."""

    def _maybe_build(self, input_shape, dtype=None) -> None:
        if self.built:
            return
        if self.dtype is None and dtype is not None and np.dtype(dtype) == np.float64:
            self.dtype = np.dtype(np.float64)
        internal = (
            [tuple(s) for s in input_shape]
            if self.multiple_inputs
            else self._to_internal_shape(tuple(input_shape))
        )
        self._in_build = True  # build() runs the subclass's hook (see _public_build)
        try:
            if self._graph is None and _holds_layers(self):
                self._build_from_sublayers(internal)
            elif not self._weights:  # (weights made by hand with add_weight stay)
                self.build(internal)
        finally:
            self._in_build = False
        names = {w.name for w in self._weights}
        for weight_name in self._weight_regularizers:
            # Dense(use_bias=False, bias_regularizer=...) is accepted, as Keras does
            if weight_name not in names and "kernel" not in names:
                raise ValueError(f"{self.name}: {weight_name}_regularizer was given, but "
                                 f"{type(self).__name__} has no weight named '{weight_name}' "
                                 f"(its weights: {sorted(names)})")
        self.built = True
        self.input_shape = (
            [tuple(s) for s in input_shape] if self.multiple_inputs else tuple(input_shape)
        )
        batchless = (
            [(None,) + tuple(s[1:]) for s in input_shape]
            if self.multiple_inputs
            else (None,) + tuple(input_shape[1:])
        )
        self.output_shape = self.output_shape_for(batchless)

    def _build_from_sublayers(self, input_shape) -> None:
        """A layer holding layers: traced into a graph of them unless it defines its own
        ``call_backward`` (then its sublayers' weights join its own once they are built)."""
        if type(self).call_backward is not Layer.call_backward:
            if not self._weights:
                self.build(input_shape)
            self._adopting = True
            return
        from ..models.composite import build_graph

        build_graph(self, input_shape)

    def _adopt_sublayer_weights(self) -> None:
        """After a forward pass of a layer with its own ``call_backward``: the weights of the
        sublayers its ``call`` built are listed after its own (trained, saved, counted)."""
        subs = [sub for sub in held_layers(self, (Layer,))]
        ours = {id(w) for w in self._weights}
        for sub in subs:
            self._weights.extend(w for w in sub._weights if id(w) not in ours)
        self._adopting = not all(sub.built for sub in subs)

    def _call_state(self):
        """What this layer's last call left for its backward (a shared layer's call
        keeps it between its forward and backward)."""
        graph = self._graph
        return dict(vars(self)), None if graph is None else graph.pass_state()

    def _restore_call_state(self, state) -> None:
        own, inner = state
        vars(self).update(own)
        if inner is not None:
            self._graph.restore_pass_state(inner)

    # ------------------------------------------------------------------ calling
    def __call__(self, inputs, training=None, **kwargs):
        """On symbolic tensors: a node of a functional model (``training=True/False`` fixes
        the mode of this call; None follows the model's). On arrays: the output as a
        :class:`npconv.tensor.Tensor` (an ndarray that also has Keras's ``.numpy()``)."""
        if _is_symbolic(inputs):
            return self._call_symbolic(inputs, training)
        if training is None and not self._runs_graph():
            training = self.training_by_default  # Keras: its call's default (True to augment)
        # A layer built from other layers passes None on: each sublayer takes its own default
        # (Keras: a custom layer's data_augmentation sublayers augment in a direct call)
        return as_tensor(self.forward(inputs, training=None if training is None
                                      else bool(training), **kwargs))

    def _runs_graph(self) -> bool:
        """Whether :meth:`forward` runs a traced graph of sublayers (a composite layer)."""
        return self._graph is not None or (not self.built and _holds_layers(self)
                                           and type(self).call_backward is Layer.call_backward)

    def _augments_by_default(self) -> bool:
        """Whether this layer, or a sublayer of a composite one, trains when called without
        a mode (:attr:`training_by_default`)."""
        if self.training_by_default:
            return True
        if self._graph is not None:
            return any(n.layer._augments_by_default() for n in self._graph._nodes)
        return False

    def _call(self, x, training):
        """``call``, with ``training`` only when it takes one (Keras passes it only then)."""
        takes = _CALL_TAKES_TRAINING.get(type(self))
        if takes is None:
            takes = _CALL_TAKES_TRAINING[type(self)] = _takes_training(type(self).call)
        return self.call(x, training=training) if takes else self.call(x)

    def _call_symbolic(self, inputs, training=None):
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not all(isinstance(t, SymbolicTensor) for t in tensors):
            raise TypeError(f"{self.name}: cannot mix symbolic tensors and arrays in one call")
        if self.multiple_inputs:
            shapes = [t.shape for t in tensors]
        else:
            if len(tensors) != 1:
                raise ValueError(f"{self.name}: expected one input tensor. "
                                 f"Received {len(tensors)}")
            shapes = tensors[0].shape
        self._check_input_shape(shapes)
        self._maybe_build(shapes)
        out_shape = self.output_shape_for(shapes)
        out = SymbolicTensor(out_shape, layer=self, parents=tensors,
                             training=None if training is None else bool(training))
        # Keras's layer.input / layer.output (feature extraction): the latest symbolic call's.
        self.input = tensors if self.multiple_inputs else tensors[0]
        self.output = out
        return out

    def _prepare_input(self, x) -> np.ndarray:
        """Convert one input to an array: floats kept, ints cast (to the weights' dtype if any)."""
        arr = np.asarray(x)
        if self._weights or self.dtype is not None:
            target = self.dtype or np.dtype(np.float32)
            return arr if arr.dtype == target else float_array(arr, self.name, target)
        if arr.dtype.kind in "biu" and not getattr(self, "keeps_integer_input", False):
            return arr.astype(np.float32)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{self.name}: expected a real numeric array. "
                            f"Received dtype {arr.dtype}")
        return arr

    def _check_input_shape(self, shape) -> None:
        """Hook for subclasses: raise a ValueError for an input shape they cannot take."""

    @property
    def fused_activation(self):
        """The activation this forward pass applies after ``call``: ``self.activation``, or
        None in a ``forward(..., activation=False)``."""
        return None if getattr(self, "_activation_skipped", False) else self.activation

    def forward(self, inputs, training=False, *, activation=True):
        """Run the layer on arrays: build if needed, ``call``, then the fused activation.

        ``activation=False`` returns the output before the fused activation, and the next
        ``backward`` then starts from that output (a model uses it to apply a ReLU after the
        max pool that follows, on 4x fewer values: the two commute).
        """
        if self._runs_graph():
            return self._forward_graph(inputs, training)
        self._activation_skipped = self.activation is not None and not activation
        self._forward_owner = None  # a model running this layer records itself (after)
        self._caches_released = False
        # The last pass's caches go before this pass makes its own, not after: the peak
        # memory of a training step would otherwise hold both (e.g. two patch matrices).
        self._cache = self._activation_cache = None
        if self.multiple_inputs:
            if not isinstance(inputs, (list, tuple)):
                raise TypeError(f"{self.name}: expected a list of input arrays. "
                                f"Received {type(inputs).__name__}")
            xs = [np.asarray(x) for x in inputs]
            self._check_input_shape([x.shape for x in xs])
            self._maybe_build([x.shape for x in xs], xs[0].dtype)
            xs = [self._prepare_input(x) for x in xs]
            y = self._call(xs, training)
        else:
            x = np.asarray(inputs)
            self._check_input_shape(x.shape)
            self._maybe_build(x.shape, x.dtype if x.dtype.kind == "f" else None)
            x = self._prepare_input(x)
            transposed = self.data_format == "channels_first" and x.ndim == 4
            if transposed:
                x = x.transpose(0, 2, 3, 1)
            y = self._call(x, training)
            if transposed and y.ndim == 4:
                y = y.transpose(0, 3, 1, 2)
            self._output_transposed = transposed and y.ndim == 4
            self._input_transposed = transposed
        if self._activation_skipped:
            self._activation_applied = False
        elif self.activation is not None:
            if getattr(self, "_activation_applied", False):  # call ran it in place (above)
                self._activation_applied = False
                self._activation_cache = self.activation.output_cache(y)
            else:
                y, self._activation_cache = self.activation.forward(y)
        self._output_seen = np.shape(y)
        self._output_dtype = getattr(y, "dtype", None)
        if self.activity_regularizer is not None:
            if self._activation_skipped:  # (a model never asks: fusion.moves_activation)
                raise RuntimeError(f"{self.name}: forward(activation=False) with an "
                                   "activity_regularizer, which reads the activation's output")
            self._activity_output = y
            self._activity_loss = float(self.activity_regularizer(y))
        if self._adopting:
            self._adopt_sublayer_weights()
        return y

    def _forward_graph(self, inputs, training):
        """A composite layer's forward pass: its traced graph (built on the first input)."""
        from ..models.composite import check_input

        if self.activity_regularizer is not None:
            raise ValueError(f"{self.name}: an activity_regularizer on a layer built from "
                             "other layers is not supported in npconv; give it to the "
                             "sublayer whose output it should penalise")
        self._forward_owner = None
        self._caches_released = False
        x = check_input(self, inputs)
        self._maybe_build(x.shape, x.dtype if x.dtype.kind == "f" else None)
        x = check_input(self, x)
        # None (a direct call without a mode): each sublayer its own default
        y = self._graph._forward_serial([x], None if training is None else bool(training))
        self._output_seen = np.shape(y)
        return y

    def backward(self, d_out, *, through_activation=True):
        """Gradient of the loss w.r.t. the input, given ``d_out`` w.r.t. the output.

        Writes each trainable weight's ``grad`` (overwriting, never accumulating), never
        modifies ``d_out``. ``through_activation=False`` treats ``d_out`` as the gradient
        w.r.t. the pre-activation output (used for the fused softmax + cross-entropy); so is
        every ``d_out`` after a ``forward(..., activation=False)``.
        """
        if not self.built:
            raise RuntimeError(f"{self.name}: backward called before the layer was called")
        self._check_caches_kept()
        d = np.asarray(d_out)
        seen = getattr(self, "_output_seen", None)
        if seen is not None and d.shape != seen:
            raise ValueError(f"{self.name}: expected a gradient of the output's shape {seen} "
                             f"(the last forward pass's). Received shape {d.shape}")
        if d.dtype.kind not in "biuf":  # a complex one would lose its imaginary part
            raise TypeError(f"{self.name}: expected a real numeric gradient. Received dtype "
                            f"{d.dtype}")
        if self._graph is not None:  # the sublayers' backward; the fused output activation
            # is the graph's output layer's (see LayerGraph.output_activation)
            return self._graph._backward_serial(
                d, fused_output_activation=not through_activation,
                need_input_grad=self.need_input_grad)
        # The gradients have the dtype the forward pass computed in (a float64 d_out to a
        # float32 layer gives float32 dx and weight grads, in every layer), cast once here
        # (no copy when it is that dtype already)
        compute = getattr(self, "_output_dtype", None)
        if compute is not None and compute.kind == "f" and d.dtype != compute:
            d = d.astype(compute)
        activity = getattr(self, "_activity_output", None)
        if activity is not None:  # d penalty / d output, after the activation
            g = self.activity_regularizer.gradient(activity).astype(d.dtype, copy=False)
            if through_activation or self.activation is None:
                d = d + g
            else:  # d is w.r.t. the pre-activation already (fused softmax + cross-entropy)
                d = d + self.activation.backward(g, self._activation_cache)
        if (self.activation is not None and through_activation
                and not getattr(self, "_activation_skipped", False)):
            d = self.activation.backward(d, self._activation_cache)
        if self.multiple_inputs:
            return self._cast_grads(self.call_backward(d), compute)
        if getattr(self, "_output_transposed", False):
            d = d.transpose(0, 2, 3, 1)
        dx = self._cast_grads(self.call_backward(d), compute)
        if getattr(self, "_input_transposed", False) and dx is not None:
            dx = dx.transpose(0, 3, 1, 2)
        return dx

    def _cast_grads(self, dx, compute):
        """A subclass's ``call_backward`` given a ``d_out`` of the compute dtype may still
        promote (a float64 constant, a user's layer): ``dx`` (each of a list) and the
        weights' ``grad`` are brought to the compute dtype, the weights' to their own."""
        for w in self._weights:
            if w.grad is not None and w.grad.dtype != w.value.dtype:
                w.grad = w.grad.astype(w.value.dtype)
        if compute is None or compute.kind != "f":
            return dx
        if isinstance(dx, list):
            return [g if g is None or g.dtype == compute else np.asarray(g).astype(compute)
                    for g in dx]
        if dx is not None and dx.dtype != compute:
            dx = np.asarray(dx).astype(compute)
        return dx

    def _check_caches_kept(self) -> None:
        if getattr(self, "_caches_released", False):
            raise RuntimeError(f"{self.name}: the caches of the last forward pass were released "
                               "by a backward with release_caches=True (a training step's); "
                               "run the forward pass again before another backward")

    def release_caches(self) -> None:
        """Drop what the last forward pass kept for the backward (patch matrices, masks ...):
        a training step does after each layer's backward, so that its peak memory holds only
        the layers not yet back-propagated. A later backward raises until the next forward."""
        self._cache = self._activation_cache = None
        self._activity_output = None  # (its penalty stays in losses)
        if hasattr(self, "_inference_input"):
            self._inference_input = None
        self._caches_released = True
        if self._graph is not None:
            self._graph.release_caches()

    #: True for layers whose output for a sample depends on that sample alone, in both modes:
    #: a model may then run parts of a batch through shallow copies of the layer (same
    #: weights) in parallel threads (see npconv.models.parallel and :meth:`splits_batch`).
    batch_independent = False

    def splits_batch(self, training) -> bool:
        """Whether a model may run this layer on parts of a batch at once, in mode
        ``training``: :attr:`batch_independent`, and no fused activation along the batch
        axis (a softmax over axis 0)."""
        if self._graph is not None:
            return self._graph.splits_batch(training)
        if not self.batch_independent or self.activity_regularizer is not None:
            return False  # (a penalty of the whole batch's output: one piece)
        axis = getattr(self.activation, "kwargs", {}).get("axis")
        return axis is None or not self._is_batch_axis(axis)

    def _is_batch_axis(self, axis) -> bool:
        """True if ``axis`` (of this layer's output, as the user sees it) is the batch axis,
        or, for a tuple or list of axes (a softmax over several), holds it."""
        if isinstance(axis, (tuple, list)):
            return any(self._is_batch_axis(a) for a in axis)
        rank = len(self.output_shape) if isinstance(self.output_shape, tuple) else None
        return axis == 0 or (rank is not None and axis == -rank)

    def call(self, x, training=False):
        raise TypeError(f"{type(self).__name__} does not define call(); layers must")

    def call_backward(self, d_out):
        raise TypeError(f"{type(self).__name__} does not define call_backward(); "
                        "layers that are trained must")

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        if self.dtype is not None:
            config["dtype"] = self.dtype.name
        if self.input_shape_arg is not None:
            config["input_shape"] = list(self.input_shape_arg)
        for weight_name, regularizer in self._weight_regularizers.items():
            config[f"{weight_name}_regularizer"] = regularizers.serialize(regularizer)
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        for prefix in self._constraint_args:
            config[f"{prefix}_constraint"] = constraints.serialize(
                getattr(self, f"{prefix}_constraint", None))
        return config

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


LAYER_HOLDERS.append(Layer)


def get_layer_class(class_name: str) -> type:
    """The layer class registered under ``class_name`` (for ``from_config``)."""
    if class_name not in LAYER_REGISTRY:
        raise ValueError(f"unknown layer class {class_name!r}; known: {sorted(LAYER_REGISTRY)}")
    return LAYER_REGISTRY[class_name]
