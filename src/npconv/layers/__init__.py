"""Keras-named layers over :mod:`npconv.ops` (``from npconv.layers import Conv2D``)."""

from .activation import ELU, LeakyReLU, PReLU, ReLU, Softmax
from .augmentation import RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .base import Layer, SymbolicTensor, Weight
from .conv import Conv2D
from .conv_transpose import Conv2DTranspose
from .core import (
    Activation,
    ActivityRegularization,
    Dense,
    Dropout,
    Flatten,
    Identity,
    SpatialDropout2D,
)
from .depthwise_conv import DepthwiseConv2D, SeparableConv2D
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
from .preprocessing import Normalization
from .reshaping import Cropping2D, UpSampling2D, ZeroPadding2D
from .scalar_ops import Power, TrueDivide  # (symbolic x / c, x ** c)
from .shape import Permute, Rescaling, Reshape

Convolution2D = Conv2D

__all__ = [
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
    "subtract", "Lambda", "Power", "TrueDivide", "RandomRotation", "RandomTranslation",
    "RandomZoom", "CenterCrop", "GaussianDropout", "GaussianNoise", "Normalization",
    "RandomBrightness", "RandomContrast", "RandomCrop", "Resizing",
    "PReLU", "ELU", "GroupNormalization", "UnitNormalization", "Identity",
    "ActivityRegularization", "AlphaDropout",
]
