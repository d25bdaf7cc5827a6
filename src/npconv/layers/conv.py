"""Conv2D: the Keras convolution layer over :mod:`npconv.ops.conv`.

    Conv2D(filters, kernel_size, strides=1, padding="valid", dilation_rate=1, activation=None,
           groups=1)
    input (N, H, W, C_in) -> output (N, H_out, W_out, filters)       (NCHW with channels_first)
    y = activation(conv2d(x, kernel) + bias)      kernel (kh, kw, C_in, filters), bias (filters,)

``groups=G`` (Keras 3, torch's ``groups``): output channel block g (``filters / G`` channels)
sees only input channel block g, and the kernel is ``(kh, kw, C_in / G, filters)``.

Output size (seed 000): ``H_out = floor((H + pad_total - d * (kh - 1) - 1) / s) + 1``;
``"same"`` gives ``ceil(H / s)`` as in Keras. Besides Keras's "valid"/"same", ``padding`` may be
an int, a pair or ``((top, bottom), (left, right))`` (PyTorch-style explicit zero padding).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import initializers
from .._checks import as_pair
from ..ops import activations
from ..ops.conv import conv2d_backward, conv2d_forward
from ..ops.padding import normalize_pads, resolve_padding
from .base import Layer

__all__ = ["Conv2D"]


def check_kernel_fits(layer, shape, *sizes) -> None:
    """A ValueError naming ``layer`` when its (dilated) kernel spans more pixels than the
    padded input of spatial ``sizes`` (height and width; None: not known yet)."""
    pads = layer._pads(*sizes)
    for unit, size, k, d, p in zip(layer._axis_units, sizes, layer._kernel_hw,
                                   layer._dilation_hw, pads, strict=True):
        if size is not None and d * (k - 1) + 1 > size + sum(p):
            raise ValueError(
                f"{layer.name}: the kernel {layer.kernel_size} (dilation {layer.dilation_rate}) "
                f"spans {d * (k - 1) + 1} {unit}, more than the padded input's "
                f"{size + sum(p)}. Received an input of shape {shape}"
            )


def _check_group_channels(layer, c_in, shape) -> None:
    """A ValueError naming ``layer`` when its ``groups`` do not divide ``c_in`` input channels."""
    if c_in % layer.groups:
        raise ValueError(f"{layer.name}: {type(layer).__name__} with groups={layer.groups} "
                         f"expects a number of input channels divisible by {layer.groups}. "
                         f"Received an input of shape {shape} with {c_in} channels")


def _check_padding(padding, where: str):
    """Keras's padding strings (lower-cased) or explicit pads as nested tuples."""
    if isinstance(padding, str):
        resolve_padding(padding, 1, 1, where=where)  # raises for an unknown string
        return padding.lower()
    return normalize_pads(padding, where)


def _output_size(size, kernel, stride, dilation, pads):
    if size is None:
        return None
    return (size + sum(pads) - dilation * (kernel - 1) - 1) // stride + 1


class _WindowConv(Layer):
    """What the windowed convolutions share: geometry arguments, input checks, output size,
    the common part of get_config and repr. Subclasses set ``_kernel_weight`` (the weight
    whose axis ``_kernel_in_axis`` is the input's channels) and ``_out_channels``.

    The ops are 2-D. The geometry the user gave (``kernel_size``, ``strides``,
    ``dilation_rate``, ``padding``: pairs here) reaches them through the hooks below
    (``_kernel_hw``, ``_op_padding``, ``_op_value`` ...), which are the identity for the 2-D
    layers; the 1-D layers (:mod:`npconv.layers.conv1d`) override them to run the same ops on
    an ``(N, 1, steps, C)`` view with ``(1, k)`` kernels.
    """

    batch_independent = True
    _kernel_in_axis = -2  # (from the end: the same for the 1-D layers' kernels)
    _rank = 2  # spatial axes of the input
    _layouts = {"channels_last": "(batch, height, width, channels)",
                "channels_first": "(batch, channels, height, width)"}
    _axis_units = ("pixels in height", "pixels in width")  # (error messages)

    def __init__(self, kernel_size, strides, padding, dilation_rate, activation, use_bias,
                 data_format, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.kernel_size = self._window_arg(kernel_size, "kernel_size")
        self.strides = self._window_arg(strides, "strides")
        self.dilation_rate = self._window_arg(dilation_rate, "dilation_rate")
        self.padding = self._parse_padding(padding)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.bias = None
        self._cache = None

    @property
    def _where(self):
        return f"{type(self).__name__} {self.name}"

    # ------------------------------------------------------------------ geometry hooks
    def _window_arg(self, value, name, minimum=1):
        """A geometry argument (int or one int per spatial axis) as a tuple per axis."""
        return as_pair(value, name, self._where, minimum=minimum)

    def _parse_padding(self, padding):
        return _check_padding(padding, self._where)

    def _as_hw(self, values, fill):
        """Per-axis ``values`` as the 2-D ops' (height, width) pair (``fill``: the value of
        an axis the layer does not have)."""
        return values

    @property
    def _kernel_hw(self):
        return self._as_hw(self.kernel_size, 1)

    @property
    def _strides_hw(self):
        return self._as_hw(self.strides, 1)

    @property
    def _dilation_hw(self):
        return self._as_hw(self.dilation_rate, 1)

    @property
    def _op_padding(self):
        """``padding`` as the 2-D ops take it."""
        return self.padding

    def _op_value(self, weight):
        """``weight``'s array in the shape the 2-D ops take (a view)."""
        return weight.value

    def _weight_grad(self, grad, weight):
        """An op's gradient for ``weight``, in the weight's shape."""
        return grad

    def _pads(self, height, width):
        return resolve_padding(self._op_padding, (height or 1, width or 1), self._kernel_hw,
                               self._strides_hw, self._dilation_hw, self._where)

    def _check_input_shape(self, shape):
        shape = tuple(shape)
        if shape == getattr(self, "_shape_ok", None) and self.built:
            return  # checked at the previous call (the check costs more than a small conv)
        kind = type(self).__name__
        if len(shape) != self._rank + 2:
            raise ValueError(f"{self.name}: {kind} expects a {self._rank + 2}-D input "
                             f"{self._layouts[self.data_format]}. "
                             f"Received an input of shape {shape}")
        _, *sizes, c = self._to_internal_shape(shape)
        if c is None:
            raise ValueError(f"{self.name}: the channel dimension of the input to {kind} must "
                             f"be known. Received an input of shape {shape}")
        groups = getattr(self, "groups", 1)
        kernel = getattr(self, self._kernel_weight, None)
        if self.built and c != kernel.shape[self._kernel_in_axis] * groups:
            per_group = f", {groups} groups of {kernel.shape[self._kernel_in_axis]}"
            raise ValueError(f"{self.name}: expected an input with "
                             f"{kernel.shape[self._kernel_in_axis] * groups} channels "
                             f"(the {self._kernel_weight} {kernel.shape} was built for it"
                             f"{per_group if groups != 1 else ''}). "
                             f"Received an input of shape {shape} with {c} channels")
        if groups != 1:
            _check_group_channels(self, c, shape)
        self._check_fits(shape, *sizes)
        if self.built and None not in shape:
            self._shape_ok = shape

    def _check_fits(self, shape, *sizes):
        check_kernel_fits(self, shape, *sizes)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        pads = self._pads(h, w)
        k, s, d = self._kernel_hw, self._strides_hw, self._dilation_hw
        return (n, _output_size(h, k[0], s[0], d[0], pads[0]),
                _output_size(w, k[1], s[1], d[1], pads[1]), self._out_channels(c))

    def _store_gradients(self, d_kernel, d_bias) -> None:
        kernel = getattr(self, self._kernel_weight)
        kernel.grad = self._weight_grad(d_kernel, kernel)
        if self.use_bias:
            self.bias.grad = d_bias

    def _backward_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        return self._cache

    def get_config(self):
        padding = (self.padding if isinstance(self.padding, str)
                   else [list(p) for p in self.padding])
        return {**super().get_config(), "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": padding,
                "dilation_rate": list(self.dilation_rate),
                "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias, "data_format": self.data_format}

    def _repr_args(self):
        args = [f"kernel_size={self.kernel_size}"]
        if any(s != 1 for s in self.strides):
            args.append(f"strides={self.strides}")
        if self.padding != "valid":
            args.append(f"padding={self.padding!r}")
        if any(d != 1 for d in self.dilation_rate):
            args.append(f"dilation_rate={self.dilation_rate}")
        if getattr(self, "groups", 1) != 1:
            args.append(f"groups={self.groups}")
        if getattr(self, "depth_multiplier", 1) != 1:
            args.append(f"depth_multiplier={self.depth_multiplier}")
        if self.activation is not None:
            args.append(f"activation={activations.serialize(self.activation)!r}")
        if not self.use_bias:
            args.append("use_bias=False")
        if self.data_format != "channels_last":
            args.append(f"data_format={self.data_format!r}")
        return args


class _Conv(_WindowConv):
    """The convolution layer of :class:`Conv2D` and ``Conv1D`` (:mod:`npconv.layers.conv1d`):
    weights, both passes over :func:`npconv.ops.conv.conv2d_forward`, blocked inference,
    config."""

    _kernel_weight = "kernel"
    _constraint_args = {"kernel": "kernel", "bias": "bias"}  # Keras's *_constraint arguments

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", data_format="channels_last", groups=1, **kwargs):
        super().__init__(kernel_size, strides, padding, dilation_rate, activation, use_bias,
                         data_format, **kwargs)
        filters_ok = isinstance(filters, (numbers.Integral, np.integer))
        if not filters_ok or isinstance(filters, bool) or filters < 1:
            raise ValueError(f"{self._where}: expected filters to be a positive int. "
                             f"Received: filters={filters!r}")
        self.filters = int(filters)
        groups_ok = isinstance(groups, (numbers.Integral, np.integer))
        if not groups_ok or isinstance(groups, bool) or groups < 1:
            raise ValueError(f"{self._where}: expected groups to be a positive int. "
                             f"Received: groups={groups!r}")
        self.groups = int(groups)
        if self.filters % self.groups:
            raise ValueError(f"{self._where}: expected filters to be divisible by groups "
                             f"(each group has filters / groups output channels). "
                             f"Received: filters={self.filters}, groups={self.groups}")
        self.kernel_initializer = initializers.get(kernel_initializer, self.name)
        self.bias_initializer = initializers.get(bias_initializer, self.name)
        self.kernel = None

    def _out_channels(self, c_in):
        return self.filters

    def _forward_cost(self, batch_size, out_values):
        """(multiply-adds, patch-matrix values) of a forward pass that gives ``out_values``
        output values (:func:`npconv.models.cost.layer_cost`)."""
        per_output = math.prod(self.kernel.shape[:-1])  # k * C_in / groups
        # (a grouped kernel holds C_in / groups per filter; the patches hold every channel)
        return out_values * per_output, out_values // self.filters * per_output * self.groups

    # ------------------------------------------------------------------ weights and passes
    def build(self, input_shape):
        c_in = input_shape[-1]
        if self.groups != 1:  # (the shape in the user's layout, as they gave it)
            _check_group_channels(self, c_in, self._from_internal_shape(tuple(input_shape)))
        self.kernel = self.add_weight("kernel",
                                      (*self.kernel_size, c_in // self.groups, self.filters),
                                      self.kernel_initializer)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer)

    def call(self, x, training=False):
        bias = self.bias.value if self.use_bias else None
        args = (self._op_value(self.kernel), bias, self._strides_hw, self._op_padding,
                self._dilation_hw)
        groups = self.groups
        self._inference_input = None
        step = x.shape[0] if training else self._block_images(x.shape)
        if step >= x.shape[0]:
            y, self._cache = conv2d_forward(x, *args, groups=groups)
            return y
        # Inference on a large batch: convolve blocks of images, so that each block's patch
        # matrix and output are still in the CPU cache for the matrix multiply and the fused
        # activation (1.5-2x faster than one pass of each over the whole batch at batch 256).
        # A backward after it rebuilds the patch matrix from x (see call_backward).
        y = np.empty((x.shape[0], *self.compute_output_shape((None, *x.shape[1:]))[1:]),
                     dtype=np.result_type(x.dtype, self.kernel.value.dtype))
        activation = self.fused_activation
        for start in range(0, x.shape[0], step):
            block = y[start:start + step]
            conv2d_forward(x[start:start + step], *args, groups=groups, out=block)
            if activation is not None:
                activation.apply_inplace(block)
        self._activation_applied = activation is not None
        self._cache, self._inference_input = None, x
        return y

    #: Patch matrix + output bytes per block of images in inference (about half the L2 + L3
    #: share one core sees on a typical 2-core VM; measured: 2-4 MB blocks are fastest).
    _BLOCK_BYTES = 3 << 20

    def _block_images(self, shape):
        """Images per block for an inference pass over ``shape`` (the whole batch if small or
        if the activation cannot run in place)."""
        activation = self.fused_activation
        if activation is not None and not getattr(activation, "inplace", False):
            return shape[0]
        _, h_out, w_out, c_out = self.compute_output_shape(tuple(shape))
        kh, kw = self._kernel_hw
        per_image = h_out * w_out * (kh * kw * shape[3] + 1 + c_out) * self.kernel.value.itemsize
        step = max(8, self._BLOCK_BYTES // per_image)
        return shape[0] if shape[0] < 2 * step else step

    def call_backward(self, d_out):
        if self._cache is None and getattr(self, "_inference_input", None) is not None:
            bias = self.bias.value if self.use_bias else None
            _, self._cache = conv2d_forward(self._inference_input, self._op_value(self.kernel),
                                            bias, self._strides_hw, self._op_padding,
                                            self._dilation_hw, groups=self.groups)
            self._inference_input = None
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        dx, d_kernel, d_bias = conv2d_backward(
            d_out, self._cache, need_dx=getattr(self, "need_input_grad", True))
        self._store_gradients(d_kernel, d_bias)
        return dx

    # ------------------------------------------------------------------ config
    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "groups": self.groups,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer)}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.filters}, {', '.join(self._repr_args())}, "
                f"name={self.name!r})")


class Conv2D(_Conv):
    """2-D convolution layer (Keras semantics, NHWC inside).

    Weights in Keras order: ``kernel`` (kh, kw, C_in / groups, filters), then ``bias``
    (filters,). ``activation`` is a name, an ``npconv.ops.activations.Activation`` or None.
    ``groups`` must divide both ``filters`` (checked here) and the input channels (at build).
    ``kernel_constraint`` / ``bias_constraint``: ``npconv.constraints`` (e.g. ``max_norm(3,
    axis=[0, 1, 2])`` bounds each filter's norm).
    """
