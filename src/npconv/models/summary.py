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


def _type_name(entry) -> str:
    """The type column: a functional model is "Functional", as Keras shows it."""
    from .functional import Model

    return "Functional" if type(entry) is Model else type(entry).__name__


def _unbuilt_rows(model, show_cost, expand_nested, depth):
    """Keras 3's rows for an unbuilt Sequential: output shape ``?``, and ``0 (unbuilt)`` for
    a layer that will create weights when built (``0`` for one that has none)."""
    from ..layers.base import Layer
    from .functional import Model

    rows = []
    for layer in model.layers:
        if isinstance(layer, Model):
            has_weights = True
        else:
            has_weights = layer.built or type(layer).build is not Layer.build
        row = {"name": layer.name, "type": _type_name(layer), "output_shape": "?",
               "params": layer.count_params() if layer.built else 0,
               "params_text": None if layer.built or not has_weights else "0 (unbuilt)",
               "connected_to": [], "trainable": bool(layer.trainable),
               "has_weights": bool(has_weights), "depth": depth}
        if show_cost:
            row.update({"macs": "?", "activation_bytes": None})
        rows.append(row)
        if expand_nested and isinstance(layer, Model):
            rows += summary_rows(layer, show_cost, expand_nested=True, _depth=depth + 1)
    return rows


def _node_entries(model) -> list:
    """Per node of ``model``'s graph, the entry of :attr:`layers` it belongs to: its layer,
    or the model used as a layer whose layers run there."""
    from .functional import Model

    if hasattr(model, "_input_layer"):  # a Sequential: its entries' layers, in order
        entry_of = {}
        for entry in model._entries:
            inner = entry._unique_layers() if isinstance(entry, Model) else [entry]
            entry_of.update((id(layer), entry) for layer in inner)
        return [entry_of.get(id(n.layer), n.layer) for n in model._nodes]
    owners = getattr(model, "_node_owners", None) or [None] * len(model._nodes)
    return [n.layer if o is None else o for n, o in zip(model._nodes, owners, strict=True)]


def summary_rows(model, show_cost=False, batch_size=1, expand_nested=False, _depth=0,
                 _shapes_here=None):
    """One dict per entry of ``model.layers``: name, type, output shape, params, inbound
    names (and cost columns); ``depth`` 0. A model used as a layer is one row (its params,
    its output shape, its layers' cost summed); ``expand_nested=True`` follows it with its
    own rows, ``depth`` one more.

    ``_shapes_here``: the output shapes the layers of a nested model have in the model that
    uses it (an augmentation Sequential built on other images, stacked after a Resizing).

    An unbuilt Sequential gives Keras 3's rows: output shape ``"?"`` and, for a layer that
    will have weights, ``params_text`` ``"0 (unbuilt)"``.
    """
    from .cost import layer_cost
    from .functional import Model

    if _unbuilt(model):
        return _unbuilt_rows(model, show_cost, expand_nested, _depth)
    sequential = hasattr(model, "_input_layer")
    entries = model._entries if sequential else model.layers
    node_entry = _node_entries(model)
    producer = {}  # tensor index -> the entry that writes it
    if not sequential:
        producer.update((i, t.layer) for i, t in enumerate(model.inputs))
    producer.update((n.out, e) for n, e in zip(model._nodes, node_entry, strict=True))
    inbound = {}  # id(entry) -> the entries it reads (a shared layer: every call's)
    nodes_of = {}  # id(entry) -> the indices of its nodes
    for k, (node, entry) in enumerate(zip(model._nodes, node_entry, strict=True)):
        nodes_of.setdefault(id(entry), []).append(k)
        if not sequential:
            inbound.setdefault(id(entry), []).extend(
                producer[p].name for p in node.parents if producer[p] is not entry)
    shapes = getattr(model, "_node_shapes", ())
    rows = []
    for entry in entries:
        ks = nodes_of.get(id(entry), [])
        nested = isinstance(entry, Model)
        if nested and entry._multi_output:
            shape = entry.output_shape
        elif ks and len(shapes) > ks[-1]:
            # a layer: its first call here; a model: its output, the last of its nodes
            shape = shapes[ks[-1] if nested else ks[0]]
        else:
            shape = entry.output_shape
        if _shapes_here:
            last = entry._unique_layers()[-1:] if nested else [entry]
            shape = _shapes_here.get(id(last[0]), shape) if last else shape
        row = {
            "name": entry.name,
            "type": _type_name(entry),
            "output_shape": shape,
            "params": 0 if isinstance(entry, InputLayer) else entry.count_params(),
            "connected_to": (list(dict.fromkeys(inbound.get(id(entry), []))) if nested
                             else inbound.get(id(entry), [])),  # (a model: each input once)
            "trainable": bool(entry.trainable),
            "has_weights": bool(entry.weights),
            "depth": _depth,
        }
        if show_cost and nested:  # its layers' cost, each at its place here
            costs = [layer_cost(model._nodes[k].layer, batch_size,
                                (_shapes_here or {}).get(id(model._nodes[k].layer), shapes[k]))
                     for k in ks]
            row.update({key: sum(c[key] for c in costs) for key in costs[0]})
        elif show_cost:
            row.update(layer_cost(entry, batch_size, shape))
        rows.append(row)
        if expand_nested and nested:
            here = {}
            for k in ks:
                here.setdefault(id(model._nodes[k].layer), shapes[k])
            rows += summary_rows(entry, show_cost, batch_size, True, _depth + 1,
                                 {**here, **(_shapes_here or {})})
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


def _forks(model) -> bool:
    """Whether a tensor of a functional ``model`` is read by several entries of its layers
    (reads inside a model used as a layer do not count: its row stands for them)."""
    if hasattr(model, "_input_layer"):
        return False
    node_entry = _node_entries(model)
    producer = {i: t.layer for i, t in enumerate(model.inputs)}
    producer.update((n.out, e) for n, e in zip(model._nodes, node_entry, strict=True))
    readers: dict[int, set] = {}
    for node, entry in zip(model._nodes, node_entry, strict=True):
        for p in node.parents:
            if producer[p] is not entry:
                readers.setdefault(p, set()).add(id(entry))
    return any(len(r) > 1 for r in readers.values())


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
    rows = summary_rows(model, show_cost=show_cost, batch_size=batch_size,
                        expand_nested=expand_nested)
    all_rows = [r for r in rows if r["depth"] == 0]
    if layer_range is not None:
        first, end = _layer_range_bounds(rows, layer_range, where)
        rows = rows[first:end]
    branching = any(len(r["connected_to"]) > 1 for r in all_rows) or _forks(model)
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
        nesting = "   " * r["depth"] + "└ " if r["depth"] else ""  # (Keras's mark)
        cells = [f"{nesting}{r['name']} ({r['type']})", str(r["output_shape"]),
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
