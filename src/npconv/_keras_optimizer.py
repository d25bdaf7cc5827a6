"""A Keras 3 optimizer's saved variables (``optimizer/vars`` in a ``.keras`` file's
``model.weights.h5``) as the state of npconv's optimizer of the same class, and back.

Keras saves ``vars/0`` = iterations, ``vars/1`` = learning rate, then the slots: in groups,
each group's slots interleaved per trainable variable in ``model.trainable_variables``
order. Adam's ``(momentum, velocity)`` is one group (``m_0, v_0, m_1, v_1 ...``), its
amsgrad ``velocity_hat`` a second; RMSprop makes three groups of one (velocities, then
momentums when ``momentum > 0``, then average gradients when ``centered``). The groups
depend on the optimizer's configuration, so they are derived from npconv's optimizer built
from the same config. Only the classes whose update npconv computes as Keras does from
exactly these slots are mapped (checked against a step in Keras: tests/
test_keras_optimizer_state.py); for any other the state is not restored, with a warning.
"""

from __future__ import annotations

import numpy as np


def slot_groups(optimizer) -> list[tuple[str, ...]] | None:
    """The slot groups Keras 3 creates for the Keras counterpart of the npconv
    ``optimizer``, in order; None for a class whose state is not mapped."""
    kind = type(optimizer).__name__
    if kind == "SGD":
        return [("momentum",)] if optimizer.momentum != 0 else []
    if kind == "RMSprop":
        return ([("velocity",)] + ([("momentum",)] if optimizer.momentum > 0 else [])
                + ([("average_gradient",)] if optimizer.centered else []))
    if kind in ("Adam", "AdamW"):
        return [("momentum", "velocity")] + ([("velocity_hat",)] if optimizer.amsgrad else [])
    if kind == "Nadam":  # (and a last variable, u_product: see _trailing)
        return [("momentum", "velocity")]
    if kind in ("Adamax",):
        return [("momentum", "norm")]
    if kind in ("Adagrad",):
        return [("accumulator",)]
    if kind in ("Lion",):
        return [("momentum",)]
    return None


MAPPED = ("SGD", "RMSprop", "Adam", "AdamW", "Nadam", "Adamax", "Adagrad", "Lion")


def _trailing(optimizer) -> int:
    """How many variables Keras keeps after the slots: Nadam's ``u_product`` (the momentum
    schedule's running product, which npconv recomputes from ``iterations``)."""
    return 1 if type(optimizer).__name__ == "Nadam" else 0


def state_from_keras(optimizer, arrays, weights, where: str):
    """npconv ``set_state`` input (``{"iterations", "learning_rate", "<slot>.<i>"}``) from
    Keras's optimizer ``arrays`` for the trainable ``weights`` (in Keras's order); or
    ``(None, reason)`` when the state cannot be mapped (an unmapped class, a count that does
    not fit: Keras then skips loading it too). A slot whose shape is not its weight's is a
    ``ValueError`` (the file contradicts itself)."""
    kind = type(optimizer).__name__
    groups = slot_groups(optimizer)
    if groups is None:
        return None, (f"npconv restores the optimizer variables of {', '.join(MAPPED)} only, "
                      f"not {kind}'s")
    per_weight = sum(len(g) for g in groups)
    expected = 2 + per_weight * len(weights) + _trailing(optimizer)
    if len(arrays) != expected:
        return None, (f"the file holds {len(arrays)} optimizer variables; {kind} as configured, "
                      f"over the model's {len(weights)} trainable weights, has "
                      f"{expected} (2 + {per_weight} per weight"
                      f"{' + 1' if _trailing(optimizer) else ''})")
    for k in (0, 1):
        if np.ndim(arrays[k]) != 0:
            raise ValueError(f"{where}: optimizer/vars/{k} (the "
                             f"{('iterations', 'learning rate')[k]}) has shape "
                             f"{np.shape(arrays[k])}, not a scalar")
    state = {"iterations": np.array(int(arrays[0]), dtype=np.int64),
             "learning_rate": np.array(float(arrays[1]), dtype=np.float64)}
    k = 2
    for group in groups:
        for i, w in enumerate(weights):
            for slot in group:
                a = np.asarray(arrays[k])
                if a.shape != tuple(w.value.shape):
                    raise ValueError(f"{where}: optimizer/vars/{k} ({kind} {slot} of weight "
                                     f"{w.name!r}, #{i} of the trainable weights) has shape "
                                     f"{a.shape}; the weight has shape {tuple(w.value.shape)}")
                state[f"{slot}.{i}"] = a
                k += 1
    if kind == "Nadam":
        saved, ours = float(np.asarray(arrays[k])), optimizer._u_product_at(int(arrays[0]))
        if not np.isclose(saved, ours, rtol=1e-5):
            raise ValueError(f"{where}: optimizer/vars/{k} (Nadam's u_product) is {saved!r}; "
                             f"after {int(arrays[0])} steps it is {ours!r}")
    return state, None


def state_to_keras(optimizer, weights) -> list[np.ndarray] | None:
    """Keras's optimizer variables for ``optimizer``'s state over trainable ``weights``
    (zeros for a slot not made yet, as Keras's build makes them); None for an unmapped
    class."""
    groups = slot_groups(optimizer)
    if groups is None:
        return None
    state = optimizer.get_state(weights)
    out = [np.array(optimizer.iterations, dtype=np.int64),
           np.array(optimizer.learning_rate, dtype=np.float32)]
    start = getattr(optimizer, "initial_accumulator_value", 0.0)  # (Adagrad's)
    for group in groups:
        for i, w in enumerate(weights):
            for slot in group:
                fresh = np.full(w.value.shape, start if slot == "accumulator" else 0.0)
                out.append(np.asarray(state.get(f"{slot}.{i}", fresh), dtype=np.float32))
    if type(optimizer).__name__ == "Nadam":
        out.append(np.array(optimizer._u_product_at(optimizer.iterations), dtype=np.float32))
    return out
