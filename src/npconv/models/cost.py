"""What a layer costs: multiply-adds, activation memory and im2col buffer bytes.

Used by ``model.summary(show_cost=True)`` and ``npconv bench``.
"""

from __future__ import annotations

import math

import numpy as np


def layer_cost(layer, batch_size: int = 1, output_shape=None) -> dict:
    """Forward cost of ``layer`` at ``batch_size``, from its built shapes (or ``output_shape``,
    the one it has in a given model).

    macs: multiply-adds of the forward pass. A convolution layer counts its own
    (``layer._forward_cost``: a conv ``k * C_in / groups`` per output value, a transposed one
    ``k * filters`` per input value, a depthwise one ``k`` per output value, a separable one
    both steps; ``k`` the kernel's window size); another layer with a ``kernel`` weight does
    prod(kernel.shape[:-1]) of them per output element (Dense); other layers count 0.
    activation_bytes: size of the output. im2col_bytes: the patch matrix a convolution
    builds (batch * H_out * W_out * kh * kw * c_in elements; a separable convolution's
    pointwise step: C_in * depth_multiplier per output position; depthwise and transposed
    convolutions build none), 0 for other layers.
    """
    out_shape = layer.output_shape if output_shape is None else output_shape
    if isinstance(out_shape, list):  # pragma: no cover - merge layers have one output
        out_shape = out_shape[0]
    itemsize = np.dtype(layer.dtype or np.float32).itemsize
    out_elems = batch_size * math.prod(d for d in out_shape[1:] if d is not None)
    kernel = next((w for w in layer._weights if w.name == "kernel"), None)
    macs = 0
    im2col = 0
    counter = getattr(layer, "_forward_cost", None)
    if counter is not None:
        macs, patch_values = counter(batch_size, out_elems)
        im2col = patch_values * itemsize
    elif kernel is not None:
        per_output = math.prod(kernel.shape[:-1])
        macs = out_elems * per_output
        if kernel.value.ndim == 4:
            # (a grouped kernel holds C_in / groups per filter; the patches hold every channel)
            im2col = (out_elems // kernel.shape[-1] * per_output * getattr(layer, "groups", 1)
                      * itemsize)
    return {"macs": int(macs), "activation_bytes": int(out_elems * itemsize),
            "im2col_bytes": int(im2col)}
