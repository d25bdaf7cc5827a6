"""The real Fashion-MNIST files of Debian's dataset-fashion-mnist package."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from npconv.datasets import available, fashion_mnist, lookup

SYSTEM = Path("/usr/share/datasets")
if not (SYSTEM / "fashion-mnist").is_dir():
    pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def data():
    return fashion_mnist.load_data(path=SYSTEM / "fashion-mnist")


def test_shapes_and_types_as_keras(data):
    (x_train, y_train), (x_test, y_test) = data
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8


def test_known_values(data):
    """Computed once from the files; the first labels and the mean are the published ones."""
    (x_train, y_train), (x_test, y_test) = data
    assert y_train[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert y_test[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
    assert int(x_train.sum(dtype=np.int64)) == 3431114169
    assert int(x_test.sum(dtype=np.int64)) == 573469082
    assert int(x_train[0].sum()) == 76247 and int(x_test[0].sum()) == 33456
    assert round(float(x_train.mean()) / 255, 4) == 0.2860


def test_found_in_the_system_folder_by_default(monkeypatch):
    monkeypatch.setattr(lookup, "SYSTEM_ROOTS", [SYSTEM])
    located = lookup.locate(fashion_mnist.SPEC, download=False)
    assert located.source == "system" and located.folder == SYSTEM / "fashion-mnist"
    status = {s.module: s for s in available()}["fashion_mnist"]
    assert status.found and status.source == "system"
    assert str(SYSTEM / "fashion-mnist") in status.summary()
