"""``model.summary()``: the Keras table of layers, output shapes and parameter counts."""

from __future__ import annotations

import textwrap

from ..layers.input import InputLayer


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} GB"


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in pieces of at most ``width - 1`` characters, broken at spaces when possible
    (Keras wraps long cells onto continuation lines rather than cutting them)."""
    return textwrap.wrap(text, width - 1, break_on_hyphens=False) or [""]


def _unbuilt(model) -> bool:
    """A Sequential without an input shape yet (no Input, not called, not built)."""
    return hasattr(model, "_input_layer") and not model._graph_ready


def _unbuilt_rows(model, show_cost):
    """Keras 3's rows for an unbuilt Sequential: output shape ``?``, and ``0 (unbuilt)`` for
    a layer that will create weights when built (``0`` for one that has none)."""
    from ..layers.base import Layer

    rows = []
    for layer in model.layers:
        has_weights = layer.built or type(layer).build is not Layer.build
        row = {"name": layer.name, "type": type(layer).__name__, "output_shape": "?",
               "params": layer.count_params() if layer.built else 0,
               "params_text": None if layer.built or not has_weights else "0 (unbuilt)",
               "connected_to": [], "trainable": bool(layer.trainable),
               "has_weights": bool(has_weights)}
        if show_cost:
            row.update({"macs": "?", "activation_bytes": None})
        rows.append(row)
    return rows


def summary_rows(model, show_cost=False, batch_size=1):
    """One dict per layer: name, type, output shape, params, inbound names (and cost columns).

    An unbuilt Sequential gives Keras 3's rows: output shape ``"?"`` and, for a layer that
    will have weights, ``params_text`` ``"0 (unbuilt)"``.
    """
    from .cost import layer_cost

    if _unbuilt(model):
        return _unbuilt_rows(model, show_cost)
    rows = []
    layers = model.layers if not hasattr(model, "_input_layer") else model._stack
    inbound = {}
    if not hasattr(model, "_input_layer"):
        for node in model._nodes:  # a shared layer: the inputs of every call
            inbound.setdefault(id(node.layer), []).extend(node.parents)
        names = {i: t.layer.name for i, t in enumerate(model.inputs)}
        names.update({n.out: n.layer.name for n in model._nodes})
    node_shapes = {}  # a layer's output shape in this model (its first call here)
    for node, shape in zip(model._nodes, getattr(model, "_node_shapes", ()), strict=False):
        node_shapes.setdefault(id(node.layer), shape)
    for layer in layers:
        row = {
            "name": layer.name,
            "type": type(layer).__name__,
            "output_shape": node_shapes.get(id(layer), layer.output_shape),
            "params": 0 if isinstance(layer, InputLayer) else layer.count_params(),
            "connected_to": [names[p] for p in inbound.get(id(layer), [])] if inbound else [],
            "trainable": bool(layer.trainable),
            "has_weights": bool(layer.weights),
        }
        if show_cost:
            row.update(layer_cost(layer, batch_size, node_shapes.get(id(layer))))
        rows.append(row)
    return rows


def print_summary(model, print_fn=None, line_length=None, show_cost=False, batch_size=1,
                  expand_nested=False, show_trainable=False):
    """Print ``model``'s summary through ``print_fn`` (default ``print``), one line per call."""
    for name, value in (("expand_nested", expand_nested), ("show_trainable", show_trainable)):
        if not isinstance(value, bool):
            raise TypeError(f"{model.name}.summary: expected {name} to be a bool. Received: "
                            f"{name}={value!r}")
    print_fn = print_fn or print
    if not _unbuilt(model):
        model._require_graph("summary")
    rows = summary_rows(model, show_cost=show_cost, batch_size=batch_size)
    branching = any(len(r["connected_to"]) > 1 for r in rows) or (
        not hasattr(model, "_input_layer") and any(
            sum(n.parents.count(i) for n in model._nodes) > 1 for i in range(model._n_tensors)))
    headers = ["Layer (type)", "Output Shape", "Param #"]
    widths = [33, 26, 12]
    if branching:
        headers.append("Connected to")
        widths.append(30)
    if show_cost:
        headers += [f"MACs (batch {batch_size})", "Activations"]
        widths += [20, 14]
    if show_trainable:
        headers.append("Trainable")
        widths.append(11)
    total = line_length or sum(widths)
    scale = total / sum(widths)
    widths = [max(8, int(w * scale)) for w in widths]

    def line(cells):
        pieces = [_wrap(c, w) for c, w in zip(cells, widths, strict=True)]
        return "\n".join(
            "".join((" " + (p[i] if i < len(p) else "")).ljust(w)
                    for p, w in zip(pieces, widths, strict=True)).rstrip()
            for i in range(max(len(p) for p in pieces)))

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * sum(widths))
    for text in line(headers).split("\n"):
        print_fn(text)
    print_fn("=" * sum(widths))
    for i, r in enumerate(rows):
        cells = [f"{r['name']} ({r['type']})", str(r["output_shape"]),
                 r.get("params_text") or f"{r['params']:,}"]
        if branching:
            cells.append(", ".join(r["connected_to"]))
        if show_cost and r["activation_bytes"] is None:  # unbuilt: not known yet
            cells += ["?", "?"]
        elif show_cost:
            cells += [f"{r['macs']:,}", _human_bytes(r["activation_bytes"])]
        if show_trainable:  # as Keras 3: "-" for a layer without weights
            cells.append(("Y" if r["trainable"] else "N") if r["has_weights"] else "-")
        for text in line(cells).split("\n"):
            print_fn(text)
        if i < len(rows) - 1:
            print_fn("")
    print_fn("=" * sum(widths))
    trainable = sum(w.value.size for w in model.trainable_weights)
    non_trainable = sum(w.value.size for w in model.non_trainable_weights)
    t_bytes = sum(w.value.nbytes for w in model.trainable_weights)
    n_bytes = sum(w.value.nbytes for w in model.non_trainable_weights)
    print_fn(f"Total params: {trainable + non_trainable:,} ({_human_bytes(t_bytes + n_bytes)})")
    print_fn(f"Trainable params: {trainable:,} ({_human_bytes(t_bytes)})")
    print_fn(f"Non-trainable params: {non_trainable:,} ({_human_bytes(n_bytes)})")
    if show_cost and not _unbuilt(model):
        macs = sum(r["macs"] for r in rows)
        print_fn(f"Forward multiply-adds at batch {batch_size}: {macs:,}")
    print_fn("_" * sum(widths))
