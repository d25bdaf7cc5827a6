"""Every layer's gradients have the dtype its forward pass computed in: a float64 d_out to a
float32 layer gives a float32 dx and float32 weight grads (and float64 ones for a float64
layer), whatever the layer."""

import inspect

import numpy as np
import pytest

import npconv.layers as L
from npconv.layers.base import Layer

IMAGE = (2, 6, 6, 3)
FLAT = (2, 5)
SEQUENCE = (2, 9, 3)
VOLUME = (2, 4, 5, 4, 3)
# class name -> (make the layer, input shape(s)); every Layer class npconv.layers exports
CASES = {
    "Activation": (lambda: L.Activation("tanh"), FLAT),
    "Add": (lambda: L.Add(), [FLAT, FLAT]),
    "AveragePooling2D": (lambda: L.AveragePooling2D(), IMAGE),
    "AvgPool2D": (lambda: L.AvgPool2D(), IMAGE),
    "BatchNormalization": (lambda: L.BatchNormalization(), IMAGE),
    "Concatenate": (lambda: L.Concatenate(), [FLAT, FLAT]),
    "Conv2D": (lambda: L.Conv2D(2, 3, activation="relu"), IMAGE),
    "Convolution2D": (lambda: L.Convolution2D(2, 3), IMAGE),
    "Dense": (lambda: L.Dense(3, activation="sigmoid"), FLAT),
    "Dropout": (lambda: L.Dropout(0.5, seed=1), FLAT),
    "Flatten": (lambda: L.Flatten(), IMAGE),
    "GlobalAveragePooling2D": (lambda: L.GlobalAveragePooling2D(), IMAGE),
    "GlobalAvgPool2D": (lambda: L.GlobalAvgPool2D(), IMAGE),
    "GlobalMaxPool2D": (lambda: L.GlobalMaxPool2D(), IMAGE),
    "GlobalMaxPooling2D": (lambda: L.GlobalMaxPooling2D(), IMAGE),
    "LayerNormalization": (lambda: L.LayerNormalization(), IMAGE),
    "LeakyReLU": (lambda: L.LeakyReLU(), FLAT),
    "MaxPool2D": (lambda: L.MaxPool2D(), IMAGE),
    "MaxPooling2D": (lambda: L.MaxPooling2D(), IMAGE),
    "Multiply": (lambda: L.Multiply(), [FLAT, FLAT]),
    "Permute": (lambda: L.Permute((2, 1)), FLAT[:1] + (3, 4)),
    "RandomFlip": (lambda: L.RandomFlip(seed=0), IMAGE),
    "ReLU": (lambda: L.ReLU(), FLAT),
    "Rescaling": (lambda: L.Rescaling(0.5, 1.0), FLAT),
    "Reshape": (lambda: L.Reshape((5, 1)), FLAT),
    "Softmax": (lambda: L.Softmax(), FLAT),
    "SpatialDropout2D": (lambda: L.SpatialDropout2D(0.5, seed=1), IMAGE),
    "UpSampling2D": (lambda: L.UpSampling2D(interpolation="bilinear"), IMAGE),
    "ZeroPadding2D": (lambda: L.ZeroPadding2D(1), IMAGE),
    "MaxPooling1D": (lambda: L.MaxPooling1D(3, 2, "same"), SEQUENCE),
    "MaxPool1D": (lambda: L.MaxPool1D(data_format="channels_first"), SEQUENCE),
    "AveragePooling1D": (lambda: L.AveragePooling1D(2, 1), SEQUENCE),
    "AvgPool1D": (lambda: L.AvgPool1D(3, padding="same", data_format="channels_first"), SEQUENCE),
    "GlobalAveragePooling1D": (lambda: L.GlobalAveragePooling1D(keepdims=True), SEQUENCE),
    "GlobalAvgPool1D": (lambda: L.GlobalAvgPool1D(data_format="channels_first"), SEQUENCE),
    "GlobalMaxPooling1D": (lambda: L.GlobalMaxPooling1D(), SEQUENCE),
    "GlobalMaxPool1D": (lambda: L.GlobalMaxPool1D(data_format="channels_first"), SEQUENCE),
    "UpSampling1D": (lambda: L.UpSampling1D(3), SEQUENCE),
    "ZeroPadding1D": (lambda: L.ZeroPadding1D((1, 2), data_format="channels_first"), SEQUENCE),
    "Cropping1D": (lambda: L.Cropping1D((2, 1)), SEQUENCE),
    "SpatialDropout1D": (lambda: L.SpatialDropout1D(0.5, seed=1), SEQUENCE),
    "DepthwiseConv2D": (lambda: L.DepthwiseConv2D(3), IMAGE),
    "SeparableConv2D": (lambda: L.SeparableConv2D(2, 3), IMAGE),
    "Conv2DTranspose": (lambda: L.Conv2DTranspose(2, 3, strides=2), IMAGE),
    "Conv3D": (lambda: L.Conv3D(2, 2, strides=(1, 2, 1), activation="relu"), (2, 4, 5, 5, 3)),
    "Convolution3D": (lambda: L.Convolution3D(2, 2, data_format="channels_first"),
                      (2, 3, 4, 5, 5)),
    "Average": (lambda: L.Average(), [FLAT, FLAT]),
    "Cropping2D": (lambda: L.Cropping2D(1), IMAGE),
    "Maximum": (lambda: L.Maximum(), [FLAT, FLAT]),
    "Minimum": (lambda: L.Minimum(), [FLAT, FLAT]),
    "Subtract": (lambda: L.Subtract(), [FLAT, FLAT]),
    # a user's backward that promotes (a float64 constant): brought back too
    "Lambda": (lambda: L.Lambda(lambda x: x * 2, backward=lambda d, x: d * np.float64(2)),
               FLAT),
    "Power": (lambda: L.Power(3), FLAT),
    "Absolute": (lambda: L.Absolute(), FLAT),
    "FloorDivide": (lambda: L.FloorDivide(0.5), FLAT),
    "Mod": (lambda: L.Mod(2.0, reflected=True), FLAT),
    "RandomRotation": (lambda: L.RandomRotation(0.2, seed=1), IMAGE),
    "RandomZoom": (lambda: L.RandomZoom(0.2, seed=1), IMAGE),
    "RandomTranslation": (lambda: L.RandomTranslation(0.2, 0.2, seed=1), IMAGE),
    "RandomCrop": (lambda: L.RandomCrop(4, 4, seed=1), IMAGE),
    "RandomContrast": (lambda: L.RandomContrast(0.3, value_range=(0, 2), seed=1), IMAGE),
    "RandomBrightness": (lambda: L.RandomBrightness(0.1, value_range=(0, 2), seed=1), IMAGE),
    "GaussianNoise": (lambda: L.GaussianNoise(0.1, seed=1), IMAGE),
    "GaussianDropout": (lambda: L.GaussianDropout(0.3, seed=1), IMAGE),
    "Resizing": (lambda: L.Resizing(4, 5), IMAGE),
    "CenterCrop": (lambda: L.CenterCrop(4, 4), IMAGE),
    "Normalization": (lambda: L.Normalization(mean=1.0, variance=0.25), IMAGE),
    "TrueDivide": (lambda: L.TrueDivide(3.0, reflected=True), FLAT),
    "PReLU": (lambda: L.PReLU(shared_axes=[1, 2], alpha_initializer="random_normal"), IMAGE),
    "ELU": (lambda: L.ELU(), FLAT),
    "GroupNormalization": (lambda: L.GroupNormalization(3), IMAGE),
    "UnitNormalization": (lambda: L.UnitNormalization(axis=[1, 2]), IMAGE),
    "Identity": (lambda: L.Identity(), FLAT),
    "ActivityRegularization": (lambda: L.ActivityRegularization(0.01, 0.02), IMAGE),
    "AlphaDropout": (lambda: L.AlphaDropout(0.3, seed=1), IMAGE),
    "Conv1D": (lambda: L.Conv1D(2, 3, padding="causal", activation="relu"), SEQUENCE),
    "Convolution1D": (lambda: L.Convolution1D(2, 3), SEQUENCE),
    "Conv1DTranspose": (lambda: L.Conv1DTranspose(2, 3, strides=2), SEQUENCE),
    "DepthwiseConv1D": (lambda: L.DepthwiseConv1D(3, data_format="channels_first"), SEQUENCE),
    "SeparableConv1D": (lambda: L.SeparableConv1D(2, 3), SEQUENCE),
    "SeparableConvolution1D": (lambda: L.SeparableConvolution1D(2, 3), SEQUENCE),
    "Conv3DTranspose": (lambda: L.Conv3DTranspose(2, 2, strides=(2, 1, 2), padding="same",
                                                  activation="relu"), VOLUME),
    "Convolution3DTranspose": (lambda: L.Convolution3DTranspose(
        2, 3, output_padding=(0, 0, 1), strides=(1, 1, 2), data_format="channels_first"),
        VOLUME),
    "MaxPooling3D": (lambda: L.MaxPooling3D(2, 1, "same"), VOLUME),
    "MaxPool3D": (lambda: L.MaxPool3D(data_format="channels_first"), VOLUME),
    "AveragePooling3D": (lambda: L.AveragePooling3D(2, 1), VOLUME),
    "AvgPool3D": (lambda: L.AvgPool3D(3, padding="same", data_format="channels_first"), VOLUME),
    "GlobalAveragePooling3D": (lambda: L.GlobalAveragePooling3D(keepdims=True), VOLUME),
    "GlobalAvgPool3D": (lambda: L.GlobalAvgPool3D(data_format="channels_first"), VOLUME),
    "GlobalMaxPooling3D": (lambda: L.GlobalMaxPooling3D(), VOLUME),
    "GlobalMaxPool3D": (lambda: L.GlobalMaxPool3D(data_format="channels_first"), VOLUME),
    "UpSampling3D": (lambda: L.UpSampling3D((1, 2, 3)), VOLUME),
    "ZeroPadding3D": (lambda: L.ZeroPadding3D(1, data_format="channels_first"), VOLUME),
    "Cropping3D": (lambda: L.Cropping3D(1), VOLUME),
    "SpatialDropout3D": (lambda: L.SpatialDropout3D(0.5, seed=1), VOLUME),
}
SKIPPED = {"Layer", "InputLayer",  # (the base class; an input has no backward)
           "Embedding"}  # (integer inputs: test_embedding_layer checks its gradient dtype)


def test_every_exported_layer_is_covered():
    exported = {name for name in L.__all__
                if inspect.isclass(getattr(L, name)) and issubclass(getattr(L, name), Layer)}
    assert exported - SKIPPED == set(CASES)


def _inputs(shape, dtype, rng):
    if isinstance(shape, list):
        return [rng.uniform(0.5, 1.5, s).astype(dtype) for s in shape]
    return rng.uniform(0.5, 1.5, shape).astype(dtype)


@pytest.mark.parametrize("layer_dtype, d_dtype", [(np.float32, np.float64),
                                                  (np.float64, np.float32)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradients_have_the_compute_dtype(name, training, layer_dtype, d_dtype):
    make, shape = CASES[name]
    layer = make()
    rng = np.random.default_rng(0)
    x = _inputs(shape, layer_dtype, rng)
    y = np.asarray(layer.forward(x, training=training))
    assert y.dtype == layer_dtype
    d = rng.standard_normal(y.shape).astype(d_dtype)
    dx = layer.backward(d)
    for g in dx if isinstance(dx, list) else [dx]:
        assert g.dtype == layer_dtype, name
    for w in layer.trainable_weights:
        assert w.grad is not None and w.grad.dtype == w.dtype == layer_dtype, (name, w.name)
    # the same numbers as the same d_out given in the compute dtype
    again = layer.backward(d.astype(layer_dtype))
    for g, h in zip(dx if isinstance(dx, list) else [dx],
                    again if isinstance(again, list) else [again], strict=True):
        np.testing.assert_array_equal(g, h)


def test_no_copy_when_the_dtype_matches():
    layer = L.Reshape((5, 1))
    x = np.ones(FLAT, np.float32)
    layer(x)
    d = np.ones((2, 5, 1), np.float32)
    assert np.shares_memory(layer.backward(d), d)  # (a view: d_out was not cast)
