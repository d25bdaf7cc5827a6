"""What calling a layer or a model on arrays returns.

Keras returns its backend's tensor there, and tutorials convert it with ``.numpy()`` (the
TensorFlow backend) or ``.cpu().numpy()`` (the torch backend). npconv's outputs are NumPy
arrays already; :class:`Tensor` is a view of that array (no copy) that also answers those two
calls, so such code runs unchanged. Everything else is plain NumPy.
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
