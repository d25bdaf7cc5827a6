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


def _layer_range_bounds(rows, layer_range, where):
    """Keras's ``layer_range``: the rows from the first whose name matches ``layer_range[0]``
    to the last matching ``layer_range[1]`` (names or regular expressions, ``re.match``)."""
    import re

    if isinstance(layer_range, str) or not isinstance(layer_range, (list, tuple)) \
            or len(layer_range) != 2 or not all(isinstance(n, str) for n in layer_range):
        raise ValueError(f"{where}: layer_range must be a list or tuple of 2 names (the first "
                         f"and the last layer shown). Received: layer_range={layer_range!r}")
    try:
        lower = [i for i, r in enumerate(rows) if re.match(layer_range[0], r["name"])]
        upper = [i for i, r in enumerate(rows) if re.match(layer_range[1], r["name"])]
    except re.error as err:
        raise ValueError(f"{where}: layer_range {list(layer_range)!r} is not a valid regular "
                         f"expression: {err}") from None
    if not lower or not upper:
        raise ValueError(f"{where}: layer_range {list(layer_range)!r} does not match the "
                         f"layer names {[r['name'] for r in rows]}")
    if min(lower) > max(upper):  # (as Keras: the two given the other way round)
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1


def _column_widths(positions, headers, total, where):
    """Keras's ``positions``: where each column ends, as fractions of the line (or, if the last
    is above 1, in characters)."""
    if isinstance(positions, str) or not isinstance(positions, (list, tuple)) \
            or len(positions) != len(headers):
        raise ValueError(f"{where}: expected {len(headers)} positions (one per column: "
                         f"{', '.join(headers)}). Received: positions={positions!r}")
    if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in positions):
        raise ValueError(f"{where}: expected positions to be numbers. Received: "
                         f"positions={positions!r}")
    ends = [int(p * total) for p in positions] if positions[-1] <= 1 else list(map(int, positions))
    widths = [b - a for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    if min(widths) < 4:
        raise ValueError(f"{where}: expected increasing positions, each column at least 4 "
                         f"characters wide. Received: positions={positions!r} "
                         f"(column widths {widths})")
    return widths


def print_summary(model, line_length=None, positions=None, print_fn=None, expand_nested=False,
                  show_trainable=False, layer_range=None, show_cost=False, batch_size=1):
    """Print ``model``'s summary through ``print_fn`` (default ``print``), one line per call."""
    where = f"{model.name}.summary"
    for name, value in (("expand_nested", expand_nested), ("show_trainable", show_trainable)):
        if not isinstance(value, bool):
            raise TypeError(f"{where}: expected {name} to be a bool. Received: "
                            f"{name}={value!r}")
    if print_fn is not None and not callable(print_fn):
        raise TypeError(f"{where}: expected print_fn to be a function called with each line. "
                        f"Received: print_fn={print_fn!r}")
    if line_length is not None and (not isinstance(line_length, int)
                                    or isinstance(line_length, bool) or line_length < 20):
        raise ValueError(f"{where}: expected line_length to be an int >= 20. Received: "
                         f"line_length={line_length!r}")
    print_fn = print_fn or print
    if not _unbuilt(model):
        model._require_graph("summary")
    rows = summary_rows(model, show_cost=show_cost, batch_size=batch_size)
    all_rows = rows
    if layer_range is not None:
        first, end = _layer_range_bounds(rows, layer_range, where)
        rows = rows[first:end]
    branching = any(len(r["connected_to"]) > 1 for r in all_rows) or (
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
    if positions is not None:
        widths = _column_widths(positions, headers, total, where)
    else:
        scale = total / sum(widths)
        widths = [max(8, int(w * scale)) for w in widths]
        widths[-1] = max(8, widths[-1] + total - sum(widths))  # the rounding: line_length

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
        macs = sum(r["macs"] for r in all_rows)
        print_fn(f"Forward multiply-adds at batch {batch_size}: {macs:,}")
    print_fn("_" * sum(widths))
