"""Keras's ``keras.backend`` settings that tutorials read: ``from npconv import backend as K``.

npconv has one backend (NumPy) and fixed settings, reported under Keras's names::

    floatx()             "float32"        the dtype of new weights (float64 input builds
                                          float64 layers, see npconv.layers.base)
    epsilon()            1e-07            Keras's fuzz factor (the cross-entropies clip
                                          probabilities to [epsilon, 1 - epsilon])
    image_data_format()  "channels_last"  NHWC; layers take data_format="channels_first"
    backend()            "numpy"
    clear_session()                       restart automatic layer names (conv2d, conv2d_1 ...)
"""

from __future__ import annotations

from .layers.base import reset_name_counters

__all__ = ["backend", "clear_session", "epsilon", "floatx", "image_data_format"]


def floatx() -> str:
    """The default float type of weights, as a string: ``"float32"``."""
    return "float32"


def epsilon() -> float:
    """The fuzz factor used in numeric expressions: ``1e-7`` (Keras's default)."""
    return 1e-7


def image_data_format() -> str:
    """The default image layout: ``"channels_last"`` (NHWC)."""
    return "channels_last"


def backend() -> str:
    """The name of the backend: ``"numpy"``."""
    return "numpy"


def clear_session() -> None:
    """Restart automatic layer names, as ``keras.backend.clear_session()``: the next Conv2D is
    named ``conv2d`` again. npconv keeps no other global graph state to free."""
    reset_name_counters()
