"""``Embedding``: integer ids -> rows of a learned table (Keras 3's ``layers.Embedding``).

    Embedding(input_dim, output_dim)   ids int (N, ...) -> (N, ..., output_dim)
                                       weight "embeddings" (input_dim, output_dim)

The maths lives in :mod:`npconv.ops.embedding`. The ids get no gradient (they are
integers): the layer's backward fills the table's ``grad`` and returns None.
"""

from __future__ import annotations

import warnings

from .. import initializers, regularizers
from .._checks import positive_int
from ..ops.embedding import checked_ids, embedding_backward, embedding_forward
from .base import Layer

__all__ = ["Embedding"]


class Embedding(Layer):
    """Turns integer ids in ``[0, input_dim)`` into vectors of ``output_dim`` values.

    Input: ids of any shape (N, ...), integers (or floats holding whole numbers, cast as
    Keras casts them); an id outside ``[0, input_dim)`` is refused. Output (N, ...,
    output_dim) in the table's dtype (float32 unless ``dtype="float64"``).
    ``embeddings_initializer`` defaults to Keras's ``"uniform"`` (RandomUniform(-0.05,
    0.05)); ``embeddings_regularizer`` / ``embeddings_constraint`` as Dense's kernel ones.
    ``weights=[matrix]`` (or the matrix itself) sets the initial table, building the layer
    at once, as Keras 3 does.

    Refused: ``mask_zero=True`` (npconv has no masks; the layers after would read id 0's
    row as a token, not skip it, so the model would differ from Keras's) and ``lora_rank``
    (no LoRA in npconv). ``input_length`` (Keras 2) is accepted with Keras 3's warning and
    ignored: the output shape follows the input's.
    """

    batch_independent = True
    keeps_integer_input = True
    _constraint_args = {"embeddings": "embeddings"}

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, lora_rank=None, **kwargs):
        input_length = kwargs.pop("input_length", None)
        super().__init__(embeddings_constraint=embeddings_constraint, **kwargs)
        if input_length is not None:  # Keras 3 warns the same and ignores it
            warnings.warn("Argument `input_length` is deprecated. Just remove it.",
                          stacklevel=2)
        self.input_dim = positive_int(input_dim, "input_dim", f"Embedding {self.name}")
        self.output_dim = positive_int(output_dim, "output_dim", f"Embedding {self.name}")
        self.embeddings_initializer = initializers.get(embeddings_initializer, self.name)
        try:
            self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{self.name}: embeddings_regularizer: {err}") from None
        if mask_zero:
            raise ValueError(f"{self.name}: mask_zero=True is not supported: npconv has no "
                             "masking, so the layers after this one would treat id 0 as a "
                             "token instead of skipping it. Received: mask_zero=True")
        self.mask_zero = False
        if lora_rank is not None:
            raise ValueError(f"{self.name}: lora_rank is not supported in npconv (no LoRA). "
                             f"Received: lora_rank={lora_rank!r}")
        self.embeddings = None
        self._cache = None
        if weights is not None:
            if not (isinstance(weights, (list, tuple)) and len(weights) == 1):
                weights = [weights]
            self._maybe_build((None,))
            self.set_weights(weights)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
            regularizer=self.embeddings_regularizer)

    def _check_input_shape(self, shape):
        if len(shape) < 1:
            raise ValueError(f"{self.name}: Embedding expects ids with a batch axis (N, ...). "
                             f"Received an input of shape {tuple(shape)}")

    def _prepare_input(self, x):
        return checked_ids(x, self.input_dim, self.name)

    def call(self, x, training=False):
        y, self._cache = embedding_forward(x, self.embeddings.value)
        return y

    def call_backward(self, d_out):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward called before a forward pass")
        self.embeddings.grad = embedding_backward(d_out, self._cache)
        return None  # integer ids: no gradient

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim, output_dim=self.output_dim,
            embeddings_initializer=initializers.serialize(self.embeddings_initializer),
            embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
            mask_zero=self.mask_zero)
        return config
