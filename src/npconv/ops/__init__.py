"""Pure functions on arrays: every CNN block's forward and backward.

Each block has ``name_forward(...) -> (out, cache)`` and ``name_backward(d_out, cache)``
returning the gradients. Layout NHWC; kernels (kh, kw, c_in, c_out). See docs/internals.md.
"""

from .activations import (
    Activation,
    leaky_relu,
    leaky_relu_backward,
    leaky_relu_forward,
    linear,
    relu,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softmax,
    softmax_backward,
    softmax_forward,
    tanh,
    tanh_backward,
    tanh_forward,
)
from .affine import affine_transform_backward, affine_transform_forward
from .conv import col2im, conv2d_backward, conv2d_forward, conv_single_step, im2col
from .conv3d import conv3d_backward, conv3d_forward
from .conv3d_transpose import conv3d_transpose_backward, conv3d_transpose_forward
from .conv_transpose import conv2d_transpose_backward, conv2d_transpose_forward
from .core import (
    dense_backward,
    dense_forward,
    dropout_backward,
    dropout_forward,
    flatten_backward,
    flatten_forward,
)
from .depthwise_conv import (
    depthwise_conv2d_backward,
    depthwise_conv2d_forward,
    separable_conv2d_backward,
    separable_conv2d_forward,
)
from .embedding import embedding_backward, embedding_forward
from .losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from .merge import (
    average_backward,
    average_forward,
    maximum_backward,
    maximum_forward,
    minimum_backward,
    minimum_forward,
    multiply_backward,
    multiply_forward,
    subtract_backward,
    subtract_forward,
)
from .norm import batch_norm_backward, batch_norm_forward
from .padding import (
    conv_output_size,
    crop2d_backward,
    crop2d_forward,
    resolve_padding,
    zero_pad,
)
from .pool import (
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d_backward,
    global_avg_pool2d_forward,
    global_max_pool2d_backward,
    global_max_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from .resize import upsampling2d_backward, upsampling2d_forward
from .signal import convolve, convolve2d, correlate2d

__all__ = [
    "affine_transform_backward", "affine_transform_forward",
    "Activation", "avg_pool2d_backward", "avg_pool2d_forward", "batch_norm_backward",
    "batch_norm_forward", "col2im", "conv2d_backward", "conv2d_forward", "conv3d_backward",
    "conv3d_forward", "conv3d_transpose_backward", "conv3d_transpose_forward", "conv_output_size",
    "conv_single_step", "convolve", "convolve2d", "correlate2d", "dense_backward",
    "dense_forward", "dropout_backward", "dropout_forward", "flatten_backward", "flatten_forward",
    "global_avg_pool2d_backward", "global_avg_pool2d_forward", "global_max_pool2d_backward",
    "global_max_pool2d_forward", "im2col", "leaky_relu", "leaky_relu_backward",
    "leaky_relu_forward", "linear", "max_pool2d_backward", "max_pool2d_forward",
    "multiply_backward", "multiply_forward", "relu",
    "relu_backward", "relu_forward", "resolve_padding", "sigmoid", "sigmoid_backward",
    "sigmoid_forward", "softmax", "softmax_backward", "softmax_cross_entropy_backward",
    "softmax_cross_entropy_forward", "softmax_forward", "tanh", "tanh_backward", "tanh_forward",
    "upsampling2d_backward", "upsampling2d_forward", "zero_pad",
    "depthwise_conv2d_backward", "depthwise_conv2d_forward", "separable_conv2d_backward",
    "separable_conv2d_forward", "conv2d_transpose_backward", "conv2d_transpose_forward",
    "average_backward", "average_forward", "maximum_backward", "maximum_forward",
    "minimum_backward", "minimum_forward", "subtract_backward", "subtract_forward",
    "crop2d_backward", "crop2d_forward",
    "embedding_backward", "embedding_forward",
]


def __getattr__(name):
    """An unknown name: the error says what this module is. A Keras user's ``keras.ops.mean``
    (``import npconv as keras``) finds npconv's forward/backward functions here, not Keras 3's
    NumPy-like ``keras.ops``; its tensor functions are NumPy's."""
    if name.startswith("__"):
        raise AttributeError(f"module 'npconv.ops' has no attribute {name!r}")
    import numpy

    hint = f"; use numpy.{name}" if hasattr(numpy, name) else ""
    raise AttributeError(
        f"module 'npconv.ops' has no attribute {name!r}: npconv.ops holds the CNN blocks' "
        "forward/backward functions (conv2d_forward, max_pool2d_backward, ...), not Keras 3's "
        f"keras.ops; npconv's arrays are NumPy arrays{hint}")
