"""CSVLogger's file as Keras 3.15.1 writes it: columns, ``NA`` cells, append, separator.

Each case runs the fits that were run with Keras 3.15.1 (torch backend) on
``Input((4,)) -> Dense(1, sigmoid)``, binary cross-entropy, ``metrics=["accuracy"]``; the
expected files are Keras's with its numbers replaced by ``#`` (the two frameworks draw
different initial weights). Keras's files, as ``repr(open(path, newline="").read())``:

- no validation data:
  'epoch,accuracy,loss,val_accuracy,val_loss\\r\\n0,0.6875,0.5713643431663513,NA,NA\\r\\n1,...'
- separator ";" and an epoch without "accuracy": '1;NA;0.5712211728096008;0.6875;0.5711737871170044'
- a second fit of the same logger with ReduceLROnPlateau before it:
  'epoch,accuracy,learning_rate,loss,val_accuracy,val_learning_rate,val_loss\\r\\n0,...,NA,NA,NA'
"""

from __future__ import annotations

import numpy as np

import npconv as keras
from npconv import callbacks, layers
from npconv.viz.plots import read_history


class _Drop(callbacks.Callback):
    """Takes "accuracy" out of epoch 1's logs: a value missing from one epoch."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            logs.pop("accuracy")


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(inputs))
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4)).astype("float32")
    return model, x, (rng.random((16, 1)) > 0.5).astype("float32")


def _number(cell) -> str:
    assert np.isfinite(float(cell)), cell
    return "#"


def _shape(path, sep=","):
    """The file with every number but the epoch replaced by '#'."""
    text = open(path, newline="").read()
    lines = text.split("\r\n")
    assert lines[-1] == ""  # Keras's csv.excel dialect ends each row with \r\n
    out = [lines[0]]
    for line in lines[1:-1]:
        epoch, *cells = line.split(sep)
        out.append(sep.join([epoch, *(c if c == "NA" else _number(c) for c in cells)]))
    return out


def test_a_fit_without_validation_has_the_val_columns_as_na(tmp_path):
    model, x, y = _model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.CSVLogger(tmp_path / "a.csv")])
    assert _shape(tmp_path / "a.csv") == ["epoch,accuracy,loss,val_accuracy,val_loss",
                                          "0,#,#,NA,NA", "1,#,#,NA,NA"]
    # the curves leave the empty columns out
    assert sorted(read_history(tmp_path / "a.csv")) == ["accuracy", "loss"]


def test_a_missing_value_is_na_with_any_separator(tmp_path):
    model, x, y = _model()
    model.fit(x, y, epochs=3, verbose=0, validation_data=(x, y),
              callbacks=[_Drop(), callbacks.CSVLogger(tmp_path / "s.csv", separator=";")])
    assert _shape(tmp_path / "s.csv", ";") == ["epoch;accuracy;loss;val_accuracy;val_loss",
                                               "0;#;#;#;#", "1;NA;#;#;#", "2;#;#;#;#"]


def test_append_adds_rows_without_a_second_header(tmp_path):
    model, x, y = _model()
    logger = callbacks.CSVLogger(tmp_path / "app.csv", append=True)
    model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[logger])
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    assert _shape(tmp_path / "app.csv") == ["epoch,accuracy,loss,val_accuracy,val_loss",
                                            "0,#,#,#,#", "0,#,#,NA,NA"]
    (tmp_path / "empty.csv").write_text("")
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[callbacks.CSVLogger(tmp_path / "empty.csv", append=True)])
    assert _shape(tmp_path / "empty.csv") == ["epoch,accuracy,loss,val_accuracy,val_loss",
                                              "0,#,#,NA,NA"]


def test_each_fit_chooses_its_columns_again(tmp_path):
    # npconv kept the first fit's columns, so the learning rate was never written
    model, x, y = _model()
    logger = callbacks.CSVLogger(tmp_path / "r.csv")
    model.fit(x, y, epochs=1, verbose=0, callbacks=[logger])
    model.fit(x, y, epochs=1, verbose=0,
              callbacks=[callbacks.ReduceLROnPlateau(monitor="loss"), logger])
    assert _shape(tmp_path / "r.csv") == [
        "epoch,accuracy,learning_rate,loss,val_accuracy,val_learning_rate,val_loss",
        "0,#,#,#,NA,NA,NA"]
