"""npconv.utils.plot_model / model_to_dot: DOT text of the graph, pictures, atomic writes."""

import os
import re
import stat
import sys

import pytest

import npconv
from npconv import Input, Model, Sequential, layers, utils
from npconv.viz import model_plot

_ID = r'"((?:[^"\\]|\\.)*)"'
_EDGE = re.compile(rf"^\s*{_ID}\s*->\s*{_ID}\s*;\s*$", re.M)
_NODE = re.compile(rf'^\s*{_ID}\s*\[label="((?:[^"\\]|\\.)*)"\];\s*$', re.M)


def _unescape(text):
    return re.sub(r"\\(.)", r"\1", text)


def edges(dot):
    return [(_unescape(a), _unescape(b)) for a, b in _EDGE.findall(str(dot))]


def nodes(dot):
    """{node id: [label fields]} parsed from the DOT text (braces of the record removed)."""
    out = {}
    for node_id, label in _NODE.findall(str(dot)):
        if label.startswith("{") and label.endswith("}"):
            label = label[1:-1]
        out[_unescape(node_id)] = _fields(label)
    return out


def _fields(label):
    """A record label's fields, unescaped (a backslash escapes the next character)."""
    fields, current, chars = [], [], iter(label)
    for ch in chars:
        if ch == "\\":
            current.append(next(chars))
        elif ch == "|":
            fields.append("".join(current))
            current = []
        else:
            current.append(ch)
    return [*fields, "".join(current)]


def sequential():
    return Sequential([Input((6,)), layers.Dense(5, activation="relu", name="hidden"),
                       layers.Dropout(0.5, name="drop"), layers.Dense(3, name="logits")],
                      name="seq")


def branching():
    """Two inputs, a residual Add, a Concatenate, two outputs."""
    a, b = Input((8,), name="in_a"), Input((4,), name="in_b")
    x = layers.Dense(8, activation="relu", name="d1")(a)
    y = layers.Add(name="residual")([x, a])
    z = layers.Concatenate(name="cat")([y, b])
    o1 = layers.Dense(2, name="out_1")(z)
    o2 = layers.Dense(3, activation="softmax", name="out_2")(z)
    return Model([a, b], [o1, o2], name="branchy")


@pytest.fixture
def no_graphviz(monkeypatch):
    monkeypatch.setattr(model_plot.shutil, "which", lambda *a, **k: None)


def test_exported_as_keras():
    assert utils.plot_model is model_plot.plot_model
    assert utils.model_to_dot is model_plot.model_to_dot
    assert "plot_model" in dir(utils)


def test_sequential_nodes_and_edges():
    dot = utils.model_to_dot(sequential())
    assert isinstance(dot, str) and dot.to_string() == str(dot)
    assert str(dot).startswith('digraph "seq" {') and str(dot).rstrip().endswith("}")
    assert nodes(dot) == {"hidden": ["hidden", "Dense"], "drop": ["drop", "Dropout"],
                          "logits": ["logits", "Dense"]}
    assert edges(dot) == [("hidden", "drop"), ("drop", "logits")]


def test_branching_model_edges_exactly():
    dot = utils.model_to_dot(branching())
    assert set(nodes(dot)) == {"in_a", "in_b", "d1", "residual", "cat", "out_1", "out_2"}
    assert nodes(dot)["residual"] == ["residual", "Add"]
    assert nodes(dot)["in_b"] == ["in_b", "InputLayer"]
    got = edges(dot)
    assert len(got) == len(set(got))
    assert set(got) == {("in_a", "d1"), ("d1", "residual"), ("in_a", "residual"),
                        ("residual", "cat"), ("in_b", "cat"), ("cat", "out_1"),
                        ("cat", "out_2")}


def test_shared_layer_is_one_node_with_an_edge_per_caller():
    a, b = Input((4,), name="a"), Input((4,), name="b")
    shared = layers.Dense(4, name="shared")
    out = layers.Add(name="add")([shared(a), shared(b)])
    dot = utils.model_to_dot(Model([a, b], out))
    assert set(nodes(dot)) == {"a", "b", "shared", "add"}
    assert sorted(edges(dot)) == [("a", "shared"), ("b", "shared"), ("shared", "add")]


def test_flags_shapes_dtype_activation_trainable():
    model = branching()
    model.get_layer("out_1").trainable = False
    plain = nodes(utils.model_to_dot(model))
    assert all("None" not in " ".join(f) for f in plain.values())
    full = nodes(utils.model_to_dot(model, show_shapes=True, show_dtype=True,
                                    show_layer_activations=True, show_trainable=True))
    assert full["d1"] == ["d1", "Dense", "(None, 8) -> (None, 8)", "dtype: float32",
                          "activation: relu", "trainable: True"]
    assert full["cat"][2] == "[(None, 8), (None, 4)] -> (None, 12)"
    assert full["in_a"][2] == "(None, 8)"  # an input: its shape only
    assert "activation: softmax" in full["out_2"]
    assert "activation: linear" in full["out_1"] and "trainable: False" in full["out_1"]
    assert not any(f.startswith("activation") for f in full["residual"])  # Add has none
    names_off = nodes(utils.model_to_dot(model, show_layer_names=False))
    assert names_off["d1"] == ["Dense"]


def test_float64_layer_dtype():
    model = Sequential([Input((3,)), layers.Dense(2, dtype="float64", name="d")])
    assert "dtype: float64" in nodes(utils.model_to_dot(model, show_dtype=True))["d"]


def test_rankdir():
    assert 'rankdir="TB"' in utils.model_to_dot(sequential())
    lr = utils.model_to_dot(sequential(), rankdir="LR")
    assert 'rankdir="LR"' in lr
    assert '[label="hidden|Dense"]' in lr  # LR: a record's fields stack without braces
    with pytest.raises(ValueError, match=r"rankdir.*Received: rankdir='XY'"):
        utils.model_to_dot(sequential(), rankdir="XY")


def test_labels_with_quotes_and_braces_are_escaped():
    model = sequential()
    layer = model.get_layer("hidden")
    layer.name = 'say "hi" {x|y} <z> \\'
    dot = str(utils.model_to_dot(model))
    assert '"say \\"hi\\" {x|y} <z> \\\\"' in dot  # the node id: quotes, backslash
    assert 'label="{say \\"hi\\" \\{x\\|y\\} \\<z\\> \\\\|Dense}"' in dot
    assert nodes(dot)[layer.name] == [layer.name, "Dense"]
    assert ("say \"hi\" {x|y} <z> \\", "drop") in edges(dot)


def test_write_dot_and_gv(tmp_path):
    model = branching()
    for ext in ("dot", "gv"):
        path = tmp_path / f"model.{ext}"
        assert utils.plot_model(model, path, show_shapes=True) is None  # no picture
        assert path.read_text() == str(utils.model_to_dot(model, show_shapes=True,
                                                          show_layer_names=False))
    mode = stat.S_IMODE(os.stat(tmp_path / "model.dot").st_mode)
    assert mode & 0o644 == 0o644  # an ordinary file, not mkstemp's 0600


def test_png_with_matplotlib(tmp_path, no_graphviz):
    from PIL import Image

    path = tmp_path / "model.png"
    utils.plot_model(branching(), str(path), show_shapes=True, show_layer_names=True)
    assert path.stat().st_size > 5000
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.width > 300 and im.height > 300
        colours = im.convert("L").getextrema()
    assert colours[0] < 100 and colours[1] > 200  # text and boxes on white
    assert os.listdir(tmp_path) == ["model.png"]  # no temporary file left


@pytest.mark.parametrize("rankdir", ["LR", "BT", "RL"])
def test_png_other_rankdirs(tmp_path, no_graphviz, rankdir):
    from PIL import Image

    path = tmp_path / "m.png"
    utils.plot_model(sequential(), path, rankdir=rankdir, dpi=50)
    with Image.open(path) as im:
        assert im.format == "PNG"
        if rankdir in ("LR", "RL"):
            assert im.width > im.height


def test_svg_and_pdf_with_matplotlib(tmp_path, no_graphviz):
    svg = tmp_path / "model.svg"
    utils.plot_model(sequential(), svg)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    pdf = tmp_path / "model.pdf"
    utils.plot_model(sequential(), pdf)
    assert pdf.read_bytes().startswith(b"%PDF")


def test_no_extension_writes_a_png(tmp_path, no_graphviz):
    path = tmp_path / "model"
    utils.plot_model(sequential(), path)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_failed_drawing_leaves_no_file(tmp_path, no_graphviz, monkeypatch):
    def broken(dot, path, ext, dpi):
        with open(path, "wb") as f:
            f.write(b"\x89PNG half")
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(model_plot, "_draw_matplotlib", broken)
    with pytest.raises(RuntimeError, match="drawing failed"):
        utils.plot_model(sequential(), tmp_path / "model.png")
    assert os.listdir(tmp_path) == []
    old = tmp_path / "old.png"
    old.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        utils.plot_model(sequential(), old)
    assert old.read_bytes() == b"previous"


def _fake_dot(folder, body):
    script = folder / "dot"
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    return str(script)


def test_graphviz_used_when_on_path(tmp_path, monkeypatch):
    fake = _fake_dot(tmp_path, "import sys\nargs = sys.argv[1:]\n"
                     "out = args[args.index('-o') + 1]\n"
                     "open(out, 'w').write(args[0] + '\\n' + sys.stdin.read())\n")
    monkeypatch.setattr(model_plot.shutil, "which", lambda name, *a, **k: fake)
    target = tmp_path / "out" / "model.pdf"  # (a .png/.svg would be shown by IPython)
    utils.plot_model(sequential(), target, show_shapes=True)
    written = target.read_text()
    assert written.startswith("-Tpdf\ndigraph")
    assert edges(written) == [("hidden", "drop"), ("drop", "logits")]


def test_graphviz_failure_is_reported_and_leaves_no_file(tmp_path, monkeypatch):
    fake = _fake_dot(tmp_path, "import sys\nsys.stderr.write('syntax error')\nsys.exit(2)\n")
    monkeypatch.setattr(model_plot.shutil, "which", lambda name, *a, **k: fake)
    with pytest.raises(RuntimeError, match="dot failed.*syntax error"):
        utils.plot_model(sequential(), tmp_path / "model.png")
    assert not (tmp_path / "model.png").exists()
    assert sorted(os.listdir(tmp_path)) == ["dot"]


def test_unbuilt_model_refused(tmp_path):
    model = Sequential([layers.Dense(3)])
    for call in (lambda: utils.plot_model(model, tmp_path / "m.png"),
                 lambda: utils.model_to_dot(model)):
        with pytest.raises(ValueError, match=r"This model has not yet been built\. Build the "
                                             r"model first by calling `build\(\)`"):
            call()
    assert os.listdir(tmp_path) == []
    model.build((None, 4))
    assert nodes(utils.model_to_dot(model))  # built now


def test_unknown_extension_refused(tmp_path):
    with pytest.raises(ValueError, match=r"unknown extension '\.jpg'.*\.png, \.pdf, \.svg"):
        utils.plot_model(sequential(), tmp_path / "model.jpg")
    assert os.listdir(tmp_path) == []


def test_argument_errors():
    with pytest.raises(TypeError, match="show_shapes to be a bool"):
        utils.model_to_dot(sequential(), show_shapes="yes")
    with pytest.raises(ValueError, match="Unrecognized keyword arguments: \\['colour'\\]"):
        utils.model_to_dot(sequential(), colour=1)
    with pytest.raises(TypeError, match="expected an npconv model"):
        utils.model_to_dot(layers.Dense(3))
    assert 'splines="ortho"' in utils.model_to_dot(sequential(), splines="ortho")


def test_without_matplotlib_names_the_extra(tmp_path, no_graphviz, monkeypatch):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"npconv\[viz\]"):
        utils.plot_model(sequential(), tmp_path / "m.png")
    utils.plot_model(sequential(), tmp_path / "m.dot")  # text needs no matplotlib
    assert os.listdir(tmp_path) == ["m.dot"]


def test_return_value_without_ipython(tmp_path, no_graphviz, monkeypatch):
    monkeypatch.setitem(sys.modules, "IPython", None)
    assert utils.plot_model(sequential(), tmp_path / "m.png") is None


def test_return_value_with_ipython(tmp_path, no_graphviz):
    pytest.importorskip("IPython")
    image = utils.plot_model(sequential(), tmp_path / "m.png")
    assert type(image).__name__ == "Image"
    assert utils.plot_model(sequential(), tmp_path / "m.dot") is None


def test_keras_functional_api_guide(tmp_path, monkeypatch, no_graphviz):
    """The Keras functional-API guide's first model and its two plot_model calls."""
    monkeypatch.chdir(tmp_path)
    keras = npconv
    inputs = keras.Input(shape=(784,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    model = keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")
    keras.utils.plot_model(model, "my_first_model.png")
    keras.utils.plot_model(model, "my_first_model_with_shape_info.png", show_shapes=True)
    assert sorted(os.listdir(tmp_path)) == ["my_first_model.png",
                                            "my_first_model_with_shape_info.png"]
    labels = nodes(keras.utils.model_to_dot(model, show_shapes=True))
    assert [f[2] for f in labels.values()] == ["(None, 784)", "(None, 784) -> (None, 64)",
                                               "(None, 64) -> (None, 64)",
                                               "(None, 64) -> (None, 10)"]


def _nested_model():
    seq = npconv.Sequential([npconv.Input((4,)), layers.Dense(4, name="s1"),
                            layers.Dense(4, name="s2")], name="seq")
    ia, ib = npconv.Input((4,), name="ia"), npconv.Input((3,), name="ib")
    inner = npconv.Model([ia, ib], layers.Dense(2, name="inner_out")(
        layers.Concatenate(name="inner_cat")([seq(ia), ib])), name="inner")
    a, b = npconv.Input((4,), name="a"), npconv.Input((3,), name="b")
    side = layers.Dense(2, name="side")(b)
    return npconv.Model([a, b], layers.Dense(1, name="out")(
        layers.Add(name="add")([inner([a, b]), side])))


def test_a_nested_model_is_one_box_as_in_keras():
    """Keras's model_to_dot draws a Functional / Sequential used as a layer as one node
    (make_node(layer)) unless expand_nested; npconv drew its layers, flat."""
    dot = utils.model_to_dot(_nested_model(), show_shapes=True)
    assert [n for n, _ in dot.nodes] == ["a", "b", "inner", "side", "add", "out"]
    assert dict(dot.nodes)["inner"] == ["inner", "Functional",
                                        "[(None, 4), (None, 3)] -> (None, 2)"]
    assert dot.edges == [("a", "inner"), ("b", "inner"), ("b", "side"), ("inner", "add"),
                         ("side", "add"), ("add", "out")]
    assert "cluster" not in dot


def test_expand_nested_draws_the_layers_in_a_cluster_per_model():
    """Keras's expand_nested=True: each nested model a dashed pydot.Cluster labelled with
    its name (nested clusters for nested models), the arrows to and from its layers."""
    dot = utils.model_to_dot(_nested_model(), expand_nested=True)
    assert [n for n, _ in dot.nodes] == ["a", "b", "s1", "s2", "inner_cat", "inner_out",
                                         "side", "add", "out"]
    assert dot.edges == [("a", "s1"), ("s1", "s2"), ("s2", "inner_cat"), ("b", "inner_cat"),
                         ("inner_cat", "inner_out"), ("b", "side"), ("inner_out", "add"),
                         ("side", "add"), ("add", "out")]
    text = str(dot)
    inner = text.index('subgraph "cluster_inner" {')
    seq = text.index('subgraph "cluster_seq" {')
    assert inner < seq < text.index('"s1" [') < text.index('"s2" [') < text.index(
        '"inner_cat" [') < text.index('"side" [')
    assert 'label="seq"; style="dashed"; labeljust="l";' in text
    # each cluster closes after its last layer: seq's before inner_cat, inner's before side
    lines = text.splitlines()
    at = {line.strip().split(" ")[0]: k for k, line in enumerate(lines) if "[label=" in line}
    assert lines[at['"s2"'] + 1] == "    }" and lines[at['"inner_out"'] + 1] == "  }"
