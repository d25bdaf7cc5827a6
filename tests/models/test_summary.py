"""``model.summary()``: the Keras table, parameter totals with BatchNormalization, print_fn."""

from __future__ import annotations

import re

import pytest

from npconv.layers.conv import Conv2D
from npconv.layers.core import Dense, Flatten
from npconv.layers.input import Input
from npconv.layers.merge import Add
from npconv.layers.normalization import BatchNormalization
from npconv.models.functional import Model
from npconv.models.sequential import Sequential


def _lines(model, **kwargs):
    lines = []
    model.summary(print_fn=lines.append, **kwargs)
    return lines


def _total(lines, which):
    for line in lines:
        m = re.match(rf"{which} params: ([\d,]+) \(([\d.]+) (B|KB|MB)\)", line)
        if m:
            return int(m[1].replace(",", "")), m[2] + " " + m[3]
    raise AssertionError(f"no {which} line")


def test_totals_with_batch_normalization():
    model = Sequential([
        Input(shape=(6, 6, 3)),
        Conv2D(8, 3),                 # 3*9*8 + 8 = 224
        BatchNormalization(),         # gamma, beta trainable (16); moving stats not (16)
        Flatten(),
        Dense(5),                     # 128*5 + 5 = 645
    ])
    lines = _lines(model)
    assert lines[0] == 'Model: "sequential"' or lines[0].startswith('Model: "sequential')
    assert _total(lines, "Total") == (224 + 32 + 645, f"{(224 + 32 + 645) * 4 / 1024:.2f} KB")
    assert _total(lines, "Trainable")[0] == 224 + 16 + 645
    assert _total(lines, "Non-trainable") == (16, "64.00 B")
    # the long cell wraps: "batch_normalization" then "(BatchNormalization)" below it
    at = next(i for i, line in enumerate(lines) if line.startswith(" batch_normalization "))
    assert lines[at].split()[-5:] == ["(None,", "4,", "4,", "8)", "32"]
    assert lines[at + 1].strip() == "(BatchNormalization)"


def test_frozen_layer_counts_as_non_trainable():
    model = Sequential([Input(shape=(4,)), Dense(3, name="frozen", trainable=False), Dense(2)])
    lines = _lines(model)
    assert _total(lines, "Trainable")[0] == 8
    assert _total(lines, "Non-trainable")[0] == 15


def test_branching_model_shows_connections_and_cost():
    inputs = Input(shape=(5, 5, 2), name="img")
    a = Conv2D(2, 3, padding="same", name="left")(inputs)
    b = Conv2D(2, 1, name="right")(inputs)
    model = Model(inputs, Add(name="sum")([a, b]), name="branchy")
    lines = _lines(model, show_cost=True, batch_size=2)
    assert lines[0] == 'Model: "branchy"'
    assert "Connected to" in lines[2]
    sum_row = next(line for line in lines if line.startswith(" sum (Add)"))
    assert "left, right" in sum_row
    # multiply-adds: left 2*5*5*2 outputs x 3*3*2, right 2*5*5*2 x 1*1*2 (batch 2)
    macs = 2 * 5 * 5 * 2 * 18 + 2 * 5 * 5 * 2 * 2
    assert f"Forward multiply-adds at batch 2: {macs:,}" in lines


def test_line_length_and_default_print(capsys):
    model = Sequential([Input(shape=(4,)), Dense(3)])
    model.summary()
    printed = capsys.readouterr().out.splitlines()
    assert printed == _lines(model)
    wide = _lines(model, line_length=100)
    assert len(wide[1]) >= 98 and set(wide[1]) == {"_"}


def test_summary_of_an_unbuilt_sequential_lists_its_layers_as_keras_3():
    """Keras 3 prints the layers with output shape "?" and "0 (unbuilt)" params; this raised
    "not built". Calling the model afterwards gives the full table."""
    import numpy as np

    from npconv.layers.conv import Conv2D
    from npconv.layers.core import Dense, Flatten
    from npconv.models.sequential import Sequential

    model = Sequential([Conv2D(2, 3), Flatten(), Dense(2)])
    lines = []
    model.summary(print_fn=lines.append)
    rows = [line.split() for line in lines if line.split()[:1] in (["conv2d"], ["flatten"],
                                                                    ["dense"])]
    assert rows == [["conv2d", "(Conv2D)", "?", "0", "(unbuilt)"],
                    ["flatten", "(Flatten)", "?", "0"],
                    ["dense", "(Dense)", "?", "0", "(unbuilt)"]]
    assert "Total params: 0 (0.00 B)" in lines
    model(np.zeros((1, 6, 6, 1), np.float32))
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 86 (344.00 B)" in lines and not any("unbuilt" in t for t in lines)


def test_show_trainable_adds_keras_trainable_column_and_expand_nested_is_accepted():
    """The transfer-learning guide calls model.summary(show_trainable=True) after freezing a
    base; summary had no show_trainable or expand_nested (TypeError)."""
    base = Sequential([Input((6, 6, 1)), Conv2D(2, 3, name="frozen_conv"), Flatten(name="flat")],
                      name="base")
    base.trainable = False
    inputs = Input((6, 6, 1), name="img")
    outputs = Dense(3, name="head")(base(inputs))
    model = Model(inputs, outputs)
    lines = _lines(model, show_trainable=True, expand_nested=True)
    header = next(line for line in lines if line.startswith(" Layer (type)"))
    assert header.split()[-1] == "Trainable"
    cells = {line.split("└")[-1].split()[0]: line.split()[-1] for line in lines
             if line.split("└")[-1].split()[:1] in (["img"], ["base"], ["frozen_conv"],
                                                    ["flat"], ["head"])}
    assert cells == {"img": "-", "base": "N", "frozen_conv": "N", "flat": "-", "head": "Y"}
    shown = [line.split()[0] for line in _lines(model) if line.startswith(" ")]
    assert shown[1:] == ["img", "base", "head"]  # the nested model as one row, as Keras
    unbuilt = Sequential([Dense(2, name="later")])
    assert any(line.split()[:1] == ["later"] and line.split()[-1] == "Y"
               for line in _lines(unbuilt, show_trainable=True))
    with pytest.raises(TypeError, match="summary: expected show_trainable to be a bool"):
        model.summary(show_trainable="yes")


def test_output_shapes_are_those_of_this_model_for_layers_built_elsewhere():
    """The TensorFlow augmentation tutorial calls its data_augmentation Sequential on the
    full-size images, then stacks it after a Resizing: the summary showed the flip's and the
    rotation's shapes from that first model, (None, 40, 50, 3), not the (None, 18, 18, 3)
    they get in this one."""
    import numpy as np

    from npconv import layers

    augmentation = Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.2)])
    augmentation(np.zeros((1, 40, 50, 3), "float32"))
    model = Sequential([Input(shape=(40, 50, 3)), layers.Resizing(18, 18), augmentation,
                        Conv2D(4, 3), Flatten(), Dense(2)])
    rows = {line.split()[1]: line for line in _lines(model, expand_nested=True)
            if line.lstrip().startswith("└ random")}
    assert "(None, 18, 18, 3)" in rows["random_flip"]
    assert "(None, 18, 18, 3)" in rows["random_rotation"]
    costs = {line.split()[1]: line for line in _lines(model, show_cost=True, expand_nested=True)
             if line.lstrip().startswith("└ random")}
    assert costs["random_flip"].rstrip().endswith("3.80 KB")  # 18 * 18 * 3 float32, batch 1
    flip = layers.RandomFlip("vertical", name="flip")
    flip(np.zeros((1, 40, 50, 3), "float32"))
    inputs = Input(shape=(40, 50, 3))
    functional = Model(inputs, flip(layers.Resizing(10, 12)(inputs)))
    rows = {line.split()[0]: line for line in _lines(functional) if line.startswith(" ")}
    assert "(None, 40, 50, 3)" in next(v for k, v in rows.items() if k.startswith("input"))
    assert "(None, 10, 12, 3)" in rows["flip"]


def _cnn():
    return Sequential([Input(shape=(8, 8, 1)), Conv2D(2, 3, name="c1"), Conv2D(3, 3, name="c2"),
                       Flatten(name="flat"), Dense(4, name="out")])


def test_keras_positional_order_line_length_first(capsys):
    """Keras's summary(line_length=None, positions=None, print_fn=None, ...): summary(80) was
    npconv's print_fn=80, a TypeError "'int' object is not callable" after the first line."""
    model = _cnn()
    model.summary(80)
    lines = capsys.readouterr().out.splitlines()
    assert lines == _lines(model, line_length=80)
    assert len(lines[1]) == 80 and set(lines[1]) == {"_"}
    assert any(line.startswith(" out (Dense)") for line in lines)


def test_positions_place_the_columns():
    lines = _lines(_cnn(), line_length=60, positions=[0.5, 0.75, 1.0])
    header = [line for line in lines if line.startswith(" Layer (type)")][0]
    assert header.index("Output Shape") == 31 and header.index("Param #") == 46
    assert len(lines[1]) == 60
    with pytest.raises(ValueError, match=r"summary: expected 3 positions \(one per column: "
                                         r"Layer \(type\), Output Shape, Param #\)"):
        _cnn().summary(print_fn=lambda line: None, positions=[0.5, 1.0])
    with pytest.raises(ValueError, match="summary: expected increasing positions"):
        _cnn().summary(print_fn=lambda line: None, positions=[0.5, 0.4, 1.0])


def test_layer_range_prints_the_rows_between_two_names():
    """Keras's layer_range=[first, last] (names or regular expressions, both inclusive) was a
    TypeError (unexpected keyword)."""
    lines = _lines(_cnn(), layer_range=["c2", "flat"])
    rows = [line.split()[0] for line in lines if re.match(r" \w+ \(", line)]
    assert rows == ["Layer", "c2", "flat"]
    assert _total(lines, "Total")[0] == _cnn().count_params()   # totals: the whole model
    assert [line.split()[0] for line in _lines(_cnn(), layer_range=["c.*", "c.*"])
            if re.match(r" \w+ \(", line)] == ["Layer", "c1", "c2"]
    with pytest.raises(ValueError, match=r"layer_range \['c9', 'out'\] does not match"):
        _cnn().summary(print_fn=lambda line: None, layer_range=["c9", "out"])
    with pytest.raises(ValueError, match="layer_range must be a list or tuple of 2 names"):
        _cnn().summary(print_fn=lambda line: None, layer_range=["c1"])
