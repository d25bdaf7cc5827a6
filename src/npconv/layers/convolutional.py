"""Keras 2's path ``keras.layers.convolutional`` (seed 002: ``from keras.layers.convolutional
import Conv2D``)."""

from .conv import Conv2D
from .pooling import AveragePooling2D, MaxPooling2D
from .reshaping import ZeroPadding2D

__all__ = ["AveragePooling2D", "Conv2D", "MaxPooling2D", "ZeroPadding2D"]
