"""Keras-named layers over :mod:`npconv.ops` (``from npconv.layers import Conv2D``)."""

from .activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .augmentation import RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .base import Layer, SymbolicTensor, Weight
from .conv import Conv2D
from .conv1d import (
    Conv1D,
    Conv1DTranspose,
    Convolution1D,
    DepthwiseConv1D,
    SeparableConv1D,
    SeparableConvolution1D,
)
from .conv3d import Conv3D, Convolution3D
from .conv3d_transpose import Conv3DTranspose, Convolution3DTranspose
from .conv_transpose import Conv2DTranspose
from .core import (
    Activation,
    ActivityRegularization,
    Dense,
    Dropout,
    Flatten,
    Identity,
    SpatialDropout1D,
    SpatialDropout2D,
)
from .depthwise_conv import DepthwiseConv2D, SeparableConv2D
from .embedding import Embedding
from .image_preprocessing import CenterCrop, RandomBrightness, RandomContrast, RandomCrop, Resizing
from .input import Input, InputLayer
from .lambda_layer import Lambda
from .merge import (
    Add,
    Average,
    Concatenate,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    maximum,
    minimum,
    multiply,
    subtract,
)
from .noise import AlphaDropout, GaussianDropout, GaussianNoise
from .normalization import (
    BatchNormalization,
    GroupNormalization,
    LayerNormalization,
    UnitNormalization,
)
from .pooling import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    MaxPool2D,
    MaxPooling2D,
)
from .pooling1d import (
    AveragePooling1D,
    AvgPool1D,
    GlobalAveragePooling1D,
    GlobalAvgPool1D,
    GlobalMaxPool1D,
    GlobalMaxPooling1D,
    MaxPool1D,
    MaxPooling1D,
)
from .pooling3d import (
    AveragePooling3D,
    AvgPool3D,
    GlobalAveragePooling3D,
    GlobalAvgPool3D,
    GlobalMaxPool3D,
    GlobalMaxPooling3D,
    MaxPool3D,
    MaxPooling3D,
)
from .preprocessing import Normalization
from .reshaping import Cropping2D, UpSampling2D, ZeroPadding2D
from .reshaping1d import Cropping1D, UpSampling1D, ZeroPadding1D
from .reshaping3d import Cropping3D, SpatialDropout3D, UpSampling3D, ZeroPadding3D
from .scalar_ops import Absolute, FloorDivide, Mod, Power, TrueDivide  # (x / c, abs(x) ...)
from .shape import Permute, Rescaling, Reshape

Convolution2D = Conv2D



def serialize(layer) -> dict:
    """Keras's ``keras.layers.serialize(layer)``: ``{"module", "class_name", "config",
    "registered_name"}`` ("keras.layers" for npconv's layers, None for a custom class)."""
    if not isinstance(layer, Layer):
        raise TypeError(f"layers.serialize: expected a Layer. Received {type(layer).__name__}")
    name = type(layer).__name__
    builtin = type(layer).__module__.startswith("npconv.")
    return {"module": "keras.layers" if builtin else None, "class_name": name,
            "config": layer.get_config(),
            "registered_name": None if builtin else name}


def deserialize(config, custom_objects=None):
    """Keras's ``keras.layers.deserialize(config, custom_objects=None)``: the layer that
    :func:`serialize` (or ``{"class_name", "config"}``) describes."""
    from .base import get_layer_class

    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError("layers.deserialize: expected a dict with 'class_name' and 'config'. "
                        f"Received {config!r}")
    custom = custom_objects or {}
    name = config["class_name"]
    cls = custom.get(config.get("registered_name") or name) or custom.get(name)
    cls = cls or get_layer_class(name)
    return cls.from_config(dict(config.get("config", {})))


__all__ = [
    "deserialize", "serialize",
    "Activation", "Add", "AveragePooling2D", "AvgPool2D", "BatchNormalization", "Concatenate",
    "Conv2D", "Convolution2D", "Dense", "Dropout", "Flatten", "GlobalAveragePooling2D",
    "GlobalAvgPool2D", "GlobalMaxPool2D", "GlobalMaxPooling2D", "Input", "InputLayer", "Layer",
    "LayerNormalization",
    "LeakyReLU", "MaxPool2D", "MaxPooling2D", "Multiply", "Permute", "RandomFlip", "ReLU",
    "Rescaling",
    "Reshape", "Softmax", "SpatialDropout2D", "SymbolicTensor", "UpSampling2D", "Weight",
    "ZeroPadding2D", "add",
    "concatenate", "multiply",
    "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose",
    "Average", "Cropping2D", "Maximum", "Minimum", "Subtract", "average", "maximum", "minimum",
    "subtract", "Lambda", "Power", "TrueDivide", "Absolute", "FloorDivide", "Mod",
    "RandomRotation", "RandomTranslation",
    "RandomZoom", "CenterCrop", "GaussianDropout", "GaussianNoise", "Normalization",
    "RandomBrightness", "RandomContrast", "RandomCrop", "Resizing",
    "PReLU", "ELU", "GroupNormalization", "UnitNormalization", "Identity",
    "ActivityRegularization", "AlphaDropout",
    "Conv1D", "Conv1DTranspose", "Convolution1D", "DepthwiseConv1D", "SeparableConv1D",
    "SeparableConvolution1D",
    "AveragePooling1D", "AvgPool1D", "Cropping1D", "GlobalAveragePooling1D", "GlobalAvgPool1D",
    "GlobalMaxPool1D", "GlobalMaxPooling1D", "MaxPool1D", "MaxPooling1D", "SpatialDropout1D",
    "UpSampling1D", "ZeroPadding1D",
    "Embedding",
    "Conv3D", "Convolution3D", "Conv3DTranspose", "Convolution3DTranspose",
    "AveragePooling3D", "AvgPool3D", "Cropping3D", "GlobalAveragePooling3D", "GlobalAvgPool3D",
    "GlobalMaxPool3D", "GlobalMaxPooling3D", "MaxPool3D", "MaxPooling3D", "SpatialDropout3D",
    "UpSampling3D", "ZeroPadding3D",
]
