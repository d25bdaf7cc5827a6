"""What calling a layer or a model on arrays returns, and what a metric's result is.

Keras returns its backend's tensor there, and tutorials convert it with ``.numpy()`` (the
TensorFlow backend) or ``.cpu().numpy()`` (the torch backend). npconv's outputs are NumPy
arrays already; :class:`Tensor` is a view of that array (no copy) that also answers those two
calls, so such code runs unchanged. A metric's ``result()`` is a tensor in Keras too
(``m.result().numpy()``): one number comes as :class:`Scalar`, a float that answers the same
calls, several (one per class or threshold) as :class:`Tensor`. Everything else is plain NumPy.
"""

from __future__ import annotations

import numpy as np


class Tensor(np.ndarray):
    """A NumPy array with Keras/TensorFlow's ``numpy()`` and torch's ``cpu()``."""

    def __array_wrap__(self, array, context=None, return_scalar=False):
        if return_scalar:  # a reduction to one number gives a NumPy scalar, as for ndarray
            return array[()]
        return super().__array_wrap__(array, context, return_scalar)

    def numpy(self) -> np.ndarray:
        """The values as a plain ``numpy.ndarray`` (a view, as TensorFlow's may share memory)."""
        return self.view(np.ndarray)

    def cpu(self) -> Tensor:
        """The tensor itself: npconv computes on the CPU."""
        return self


def as_tensor(result):
    """``result`` (an array, or a list of arrays for several outputs) viewed as Tensor."""
    if isinstance(result, np.ndarray):
        return result.view(Tensor)
    if isinstance(result, (list, tuple)):
        return type(result)(as_tensor(r) for r in result)
    return result


class Scalar(np.float64):
    """One number as a Python float (``numpy.float64`` is one) with ``numpy()`` and ``cpu()``:
    ``float()``, ``round()``, formatting and ``json`` work as on any float; arithmetic on it
    gives plain NumPy numbers."""

    def numpy(self) -> np.float64:
        """The value as a plain ``numpy.float64`` (TensorFlow gives a NumPy scalar too)."""
        return np.float64(self)

    def cpu(self) -> Scalar:
        """The number itself: npconv computes on the CPU."""
        return self


def as_result(value):
    """A metric's ``result()`` as Keras code reads it: a real number (or a 0-d array) as
    :class:`Scalar`, an array of several values viewed as :class:`Tensor`; anything else
    (a dict of results, say) unchanged."""
    if isinstance(value, (Scalar, Tensor)) or isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return Scalar(value)
    if isinstance(value, np.ndarray):
        if value.ndim == 0 and value.dtype.kind in "iuf":
            return Scalar(value[()])
        return value.view(Tensor)
    return value
