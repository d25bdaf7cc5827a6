"""Keras's ``utils.model_to_dot`` and ``utils.plot_model``: a model's graph of layers as a
picture, without pydot or Graphviz as a dependency.

``model_to_dot`` writes the graph as Graphviz DOT text itself (a :class:`DotGraph`, a ``str``
with pydot's ``to_string()``): one record node per layer, one edge per connection.
``plot_model`` writes that text (``.dot``/``.gv``), or a picture (``.png``/``.pdf``/``.svg``)
drawn by Graphviz's ``dot`` program when it is on PATH and by matplotlib otherwise (boxes in
rows by longest-path depth, arrows between them). Every file is written atomically.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .._atomic import atomic_path

__all__ = ["DotGraph", "model_to_dot", "plot_model"]

_NOT_BUILT = ("This model has not yet been built. Build the model first by calling `build()` "
              "or by calling the model on a batch of data.")
_RANKDIRS = ("TB", "LR", "BT", "RL")
_PICTURES = ("png", "pdf", "svg")
_TEXT = ("dot", "gv")


class DotGraph(str):
    """Graphviz DOT text of a model (a ``str``; ``to_string()`` as pydot's ``Dot``).

    ``nodes`` lists ``(node_id, label_lines)`` in graph order and ``edges`` the
    ``(source_id, target_id)`` pairs, for drawing without parsing the text again.
    """

    nodes: list
    edges: list

    def to_string(self) -> str:
        return str(self)


def _check_flag(where: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{where}: expected {name} to be a bool. Received: {name}={value!r}")


def _graph(model, expand_nested=False):
    """The model's boxes (graph order) and connections.

    Returns ``(layers, edges, clusters)``: ``layers`` a list of ``(layer, in_shapes,
    out_shape, dtype)``, ``edges`` pairs of positions in ``layers`` (one per distinct
    connection), ``clusters`` per box the models used as layers it sits in, outermost first
    (empty unless ``expand_nested``). A model used as a layer is one box, as Keras draws it,
    unless ``expand_nested``: then its layers are boxes, inside a cluster named after it. A
    Sequential lists its stack (no InputLayer, as Keras draws it).
    """
    from ..models.summary import _node_entries

    shapes = [t.shape for t in model.inputs] + [None] * len(model._nodes)
    dtypes = [t.dtype for t in model.inputs] + [None] * len(model._nodes)
    node_shapes = getattr(model, "_node_shapes", None) or [None] * len(model._nodes)
    for node, shape in zip(model._nodes, node_shapes, strict=True):
        shapes[node.out] = shape if shape is not None else node.layer.output_shape
    entries = ([n.layer for n in model._nodes] if expand_nested else _node_entries(model))
    sequential = hasattr(model, "_input_layer")
    position: dict[int, int] = {}  # id(box) -> index in `layers`
    layers: list = []
    producer = {}  # tensor index -> index in `layers` (None: a Sequential's input)
    for i, t in enumerate(model.inputs):
        if sequential:
            producer[i] = None
            continue
        position[id(t.layer)] = len(layers)
        producer[i] = len(layers)
        layers.append((t.layer, None, t.shape, dtypes[i]))
    edges: list = []
    calls = getattr(model, "_node_calls", None) or [None] * len(model._nodes)
    for node, box, call in zip(model._nodes, entries, calls, strict=True):
        if id(box) not in position:
            reads = (node.parents if box is node.layer or call is None
                     else [t for t in model._call_io[id(call)][0] if t is not None])
            in_shapes = [shapes[p] for p in reads]
            dtype = getattr(box, "dtype", None) or (dtypes[node.parents[0]] if node.parents
                                                    else None)
            position[id(box)] = len(layers)
            layers.append((box, in_shapes, shapes[node.out], dtype))
        k = position[id(box)]
        if box is not node.layer:  # a model as one box: its output shape is its last node's
            layers[k] = (box, layers[k][1], _model_out_shape(box, shapes[node.out]),
                         layers[k][3])
        producer[node.out] = k
        dtypes[node.out] = layers[k][3]
        for p in node.parents:
            src = producer.get(p)
            if src is not None and src != k and (src, k) not in edges:
                edges.append((src, k))
    clusters = [_clusters(model, box) if expand_nested else [] for box, *_ in layers]
    return layers, edges, clusters


def _model_out_shape(sub, last_shape):
    """A model drawn as one box: its outputs' shapes (a list for several)."""
    if getattr(sub, "_multi_output", False):
        return [t.shape for t in sub.outputs]
    return last_shape


def _clusters(model, layer) -> list:
    """The models used as layers that ``layer`` runs inside of in ``model``, outermost
    first (each model's own entries say which of its nested models holds the layer)."""
    from ..models.functional import Model
    from ..models.summary import _node_entries

    if not hasattr(model, "_nodes"):
        return []
    for node, entry in zip(model._nodes, _node_entries(model), strict=True):
        if node.layer is layer:
            return [entry, *_clusters(entry, layer)] if isinstance(entry, Model) else []
    return []


def _shape_text(shape) -> str:
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (
        ",)" if len(shape) == 1 else ")")


def _label_lines(layer, in_shapes, out_shape, dtype, show_shapes, show_dtype,
                 show_layer_names, show_layer_activations, show_trainable) -> list[str]:
    import numpy as np

    lines = []
    if show_layer_names:
        lines.append(layer.name)
    from ..models.summary import _type_name

    lines.append(_type_name(layer))  # (a functional model is "Functional", as in Keras)
    if show_shapes:
        out = _shape_text(out_shape)
        if in_shapes is None:
            lines.append(out)
        else:
            ins = _shape_text(in_shapes[0] if len(in_shapes) == 1 else list(in_shapes))
            lines.append(f"{ins} -> {out}")
    if show_dtype:
        lines.append(f"dtype: {np.dtype(dtype or 'float32').name}")
    if show_layer_activations and _has_activation(layer):
        from ..ops.activations import serialize

        try:
            name = serialize(layer.activation)
        except TypeError:
            name = getattr(layer.activation, "__name__", repr(layer.activation))
        lines.append(f"activation: {name}")
    if show_trainable:
        lines.append(f"trainable: {bool(layer.trainable)}")
    return lines


def _has_activation(layer) -> bool:
    """Whether the layer takes an ``activation=`` argument (Keras: "only for layers that have
    an activation property"; npconv's base Layer holds one for every layer, None mostly)."""
    import inspect

    try:
        return "activation" in inspect.signature(type(layer).__init__).parameters
    except (TypeError, ValueError):
        return False


def _escape_id(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_field(text: str) -> str:
    """A record-label field: the characters that structure a record are escaped, then the
    string is made safe inside DOT's double quotes."""
    out = text.replace("\\", "\\\\")
    for ch in '{}|<>"':
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", " ")


def model_to_dot(model, show_shapes=False, show_dtype=False, show_layer_names=True,
                 rankdir="TB", expand_nested=False, dpi=200, subgraph=False,
                 show_layer_activations=False, show_trainable=False, **kwargs) -> DotGraph:
    """The model's graph as Graphviz DOT text (Keras's ``utils.model_to_dot``).

    One record node per layer (its name, class, and with the flags its ``input shape ->
    output shape``, dtype, activation and whether it is trainable) and one edge per
    connection between layers. Returns a :class:`DotGraph`: a ``str`` with ``to_string()``,
    where pydot's ``Dot`` would be returned by Keras. A model used as a layer is one box
    (its name and ``Functional``/``Sequential``), as in Keras; with ``expand_nested=True``
    its layers are boxes inside a dashed cluster labelled with its name (the arrows go
    straight to its layers: npconv draws no box for a nested model's InputLayer, where
    Keras does). ``subgraph`` is accepted. ``splines=`` (Keras 3) is passed to Graphviz.
    """
    where = "model_to_dot"
    splines = kwargs.pop("splines", None)
    if kwargs:
        raise ValueError(f"{where}: Unrecognized keyword arguments: {sorted(kwargs)}")
    for name, value in (("show_shapes", show_shapes), ("show_dtype", show_dtype),
                        ("show_layer_names", show_layer_names),
                        ("expand_nested", expand_nested), ("subgraph", subgraph),
                        ("show_layer_activations", show_layer_activations),
                        ("show_trainable", show_trainable)):
        _check_flag(where, name, value)
    if rankdir not in _RANKDIRS:
        raise ValueError(f"{where}: expected rankdir to be one of {list(_RANKDIRS)}. "
                         f"Received: rankdir={rankdir!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not dpi > 0:
        raise ValueError(f"{where}: expected dpi to be a positive number. Received: dpi={dpi!r}")
    from ..models.functional import Model

    if not isinstance(model, Model):
        raise TypeError(f"{where}: expected an npconv model (Sequential or Model). Received: "
                        f"{type(model).__name__}")
    if not model.built:
        raise ValueError(_NOT_BUILT)
    layers, edge_list, clusters = _graph(model, expand_nested)
    ids, seen = [], set()
    for layer, *_ in layers:
        node_id, n = layer.name, 2
        while node_id in seen:  # (names are unique in a model; a rebuilt file may repeat)
            node_id, n = f"{layer.name}_{n}", n + 1
        seen.add(node_id)
        ids.append(node_id)
    nodes = [(ids[k], _label_lines(layer, ins, out, dt, show_shapes, show_dtype,
                                   show_layer_names, show_layer_activations, show_trainable))
             for k, (layer, ins, out, dt) in enumerate(layers)]
    graph_attrs = f'rankdir="{rankdir}", dpi={dpi:g}'
    if splines is not None:
        graph_attrs += f', splines="{_escape_id(str(splines))}"'
    lines = [f'digraph "{_escape_id(model.name)}" {{',
             f"  graph [{graph_attrs}];",
             '  node [shape=record, fontname="Helvetica"];']
    open_clusters: list = []
    for (node_id, label), inside in zip(nodes, clusters, strict=True):
        # a model used as a layer, expanded: its boxes in a dashed cluster with its name
        # (Keras's pydot.Cluster); its layers run in one stretch of the graph order
        while open_clusters and (len(open_clusters) > len(inside)
                                 or open_clusters[-1] is not inside[len(open_clusters) - 1]):
            open_clusters.pop()
            lines.append("  " * (len(open_clusters) + 1) + "}")
        for sub in inside[len(open_clusters):]:
            indent = "  " * (len(open_clusters) + 1)
            lines.append(f'{indent}subgraph "cluster_{_escape_id(sub.name)}" {{')
            lines.append(f'{indent}  label="{_escape_id(sub.name)}"; style="dashed"; '
                         'labeljust="l";')
            open_clusters.append(sub)
        fields = "|".join(_escape_field(t) for t in label)
        if rankdir in ("TB", "BT"):  # a record's fields stack across the rank direction:
            fields = "{" + fields + "}"  # braces turn them to stack down the box
        indent = "  " * (len(open_clusters) + 1)
        lines.append(f'{indent}"{_escape_id(node_id)}" [label="{fields}"];')
    while open_clusters:
        open_clusters.pop()
        lines.append("  " * (len(open_clusters) + 1) + "}")
    for a, b in edge_list:
        lines.append(f'  "{_escape_id(ids[a])}" -> "{_escape_id(ids[b])}";')
    lines.append("}")
    dot = DotGraph("\n".join(lines) + "\n")
    dot.nodes = nodes
    dot.edges = [(ids[a], ids[b]) for a, b in edge_list]
    dot.rankdir = rankdir
    return dot


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False,
               show_layer_names=False, rankdir="TB", expand_nested=False, dpi=200,
               show_layer_activations=False, show_trainable=False, **kwargs):
    """Write a picture of the model's graph to ``to_file`` (Keras's ``utils.plot_model``).

    The extension picks the format: ``.dot``/``.gv`` write the DOT text of
    :func:`model_to_dot`; ``.png``/``.pdf``/``.svg`` are rendered by Graphviz's ``dot``
    when it is on PATH, else drawn with matplotlib (``pip install 'npconv[viz]'``); no
    extension writes a PNG under that name, as Keras. The file is written atomically: a
    failure leaves no partial file. Returns an IPython ``Image`` (``SVG`` for ``.svg``)
    when IPython is importable, for display in a notebook, else None.
    """
    from ..models.functional import Model

    if isinstance(model, Model) and not model.built:
        raise ValueError(_NOT_BUILT)
    to_file = os.fspath(to_file)
    ext = os.path.splitext(to_file)[1].lower().lstrip(".") or "png"
    if ext not in _TEXT + _PICTURES:
        raise ValueError(f"plot_model: cannot write {to_file!r}: unknown extension '.{ext}'. "
                         "Expected .png, .pdf, .svg (a picture) or .dot, .gv (Graphviz text)")
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, **kwargs)
    with atomic_path(to_file, suffix="." + ext, where="plot_model") as tmp:
        if ext in _TEXT:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(dot)
        else:
            program = shutil.which("dot")
            if program is not None:
                _render_graphviz(program, dot, tmp, ext)
            else:
                _draw_matplotlib(dot, tmp, ext, dpi)
    return _notebook_image(to_file, ext)


def _render_graphviz(program: str, dot: str, path: str, ext: str) -> None:
    done = subprocess.run([program, f"-T{ext}", "-o", path], input=dot.encode("utf-8"),
                          capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"plot_model: Graphviz's dot failed (exit {done.returncode}): "
                           f"{done.stderr.decode('utf-8', 'replace').strip()}")


def _depths(dot: DotGraph) -> list[int]:
    """Each node's longest-path depth from the nodes without inputs (edges run forward in
    graph order, so one pass in order is enough)."""
    index = {node_id: k for k, (node_id, _) in enumerate(dot.nodes)}
    depth = [0] * len(dot.nodes)
    for a, b in sorted(dot.edges, key=lambda e: index[e[1]]):
        depth[index[b]] = max(depth[index[b]], depth[index[a]] + 1)
    return depth


def _draw_matplotlib(dot: DotGraph, path: str, ext: str, dpi) -> None:
    """Boxes in rows by depth (columns for LR/RL), in graph order within a row, joined by
    arrows; sizes in inches from the text's length at a 9-point font."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch
    except ImportError as exc:
        raise ImportError("npconv.utils.plot_model draws pictures with matplotlib when "
                          "Graphviz's dot is not on PATH: pip install 'npconv[viz]' (or "
                          "write a .dot file)") from exc
    font, char_w, line_h, pad, gap_across, gap_along = 9, 0.075, 0.19, 0.12, 0.35, 0.45
    depth = _depths(dot)
    n_levels = max(depth) + 1 if depth else 1
    levels: list[list[int]] = [[] for _ in range(n_levels)]
    for k, d in enumerate(depth):
        levels[d].append(k)
    sizes = [(max(len(t) for t in lines) * char_w + 2 * pad, len(lines) * line_h + 2 * pad)
             for _, lines in dot.nodes]
    box_w = max(w for w, _ in sizes)
    box_h = max(h for _, h in sizes)
    vertical = dot.rankdir in ("TB", "BT")
    across = max(len(level) for level in levels)
    cell_across = (box_w if vertical else box_h) + gap_across
    cell_along = (box_h if vertical else box_w) + gap_along
    span_across = across * cell_across
    span_along = n_levels * cell_along
    width, height = (span_across, span_along) if vertical else (span_along, span_across)
    centers = {}
    for d, level in enumerate(levels):
        along = (d + 0.5) * cell_along
        if dot.rankdir in ("BT", "RL"):
            along = span_along - along
        start = (span_across - len(level) * cell_across) / 2
        for j, k in enumerate(level):
            a = start + (j + 0.5) * cell_across
            # TB: rows go down the page (y measured from the top); LR: columns go right
            centers[k] = (a, height - along) if vertical else (along, height - a)
    fig = Figure(figsize=(max(width, 1.0), max(height, 1.0)), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, max(width, 1.0))
    ax.set_ylim(0, max(height, 1.0))
    ax.axis("off")
    for k, (_, lines) in enumerate(dot.nodes):
        x, y = centers[k]
        w, h = sizes[k]
        ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h,
                                    boxstyle="round,pad=0,rounding_size=0.05",
                                    facecolor="#eef3fb", edgecolor="#33507a", linewidth=1))
        ax.text(x, y, "\n".join(lines), ha="center", va="center", fontsize=font,
                family="DejaVu Sans", linespacing=1.35)
    index = {node_id: k for k, (node_id, _) in enumerate(dot.nodes)}
    n_into = {}  # a box's incoming arrows end spread along its side, in edge order
    for _, b in dot.edges:
        n_into[b] = n_into.get(b, 0) + 1
    seen_into: dict = {}
    for a, b in dot.edges:
        (xa, ya), (xb, yb) = centers[index[a]], centers[index[b]]
        ha, hb = sizes[index[a]], sizes[index[b]]
        j = seen_into[b] = seen_into.get(b, -1) + 1
        offset = (j + 1) / (n_into[b] + 1) - 0.5
        if vertical:
            sign = -1 if yb < ya else 1
            start = (xa, ya + sign * ha[1] / 2)
            end = (xb + offset * hb[0] * 0.8, yb - sign * hb[1] / 2)
        else:
            sign = 1 if xb > xa else -1
            start = (xa + sign * ha[0] / 2, ya)
            end = (xb - sign * hb[0] / 2, yb - offset * hb[1] * 0.8)
        ax.annotate("", xy=end, xytext=start,
                    arrowprops={"arrowstyle": "-|>", "color": "#33507a", "lw": 1,
                                "shrinkA": 0, "shrinkB": 0})
    fig.savefig(path, format=ext, dpi=dpi)


def _notebook_image(path: str, ext: str):
    try:
        from IPython import display
    except ImportError:
        return None
    with open(path, "rb") as f:  # (by content: a name without extension holds a PNG too)
        data = f.read()
    if ext == "png":
        return display.Image(data=data, format="png")
    if ext == "svg":
        return display.SVG(data=data.decode("utf-8"))
    return None
