"""npconv: convolutional neural networks in NumPy."""

__version__ = "0.1.0"
