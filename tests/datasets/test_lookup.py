"""Where datasets are looked for: path= beats $NPCONV_DATA beats the cache beats the system."""

from __future__ import annotations

import os

import numpy as np
import pytest

from npconv.datasets import DatasetNotFoundError, available, available_report, fashion_mnist, mnist
from npconv.datasets.idx import write_idx
from npconv.datasets.lookup import cache_root, locate

from .helpers import MNIST_NAMES, write_tiny_mnist


def marker(data) -> int:
    (x_train, _), _ = data
    return int(x_train[0, 0, 0])


def test_loads_tiny_files_exactly(tmp_path):
    arrays = write_tiny_mnist(tmp_path / "m", marker=3)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=tmp_path / "m")
    np.testing.assert_array_equal(x_train, arrays[mnist.TRAIN_IMAGES])
    np.testing.assert_array_equal(y_train, arrays[mnist.TRAIN_LABELS])
    np.testing.assert_array_equal(x_test, arrays[mnist.TEST_IMAGES])
    np.testing.assert_array_equal(y_test, arrays[mnist.TEST_LABELS])


def test_uncompressed_files_are_accepted(tmp_path):
    write_tiny_mnist(tmp_path / "m", marker=4, gz=False)
    assert marker(mnist.load_data(path=tmp_path / "m")) == 4
    assert sorted(os.listdir(tmp_path / "m")) == sorted(n[:-3] for n in MNIST_NAMES)


def test_lookup_order(tmp_path, monkeypatch, isolated):
    write_tiny_mnist(tmp_path / "explicit", marker=1)
    write_tiny_mnist(tmp_path / "env" / "mnist", marker=2)
    write_tiny_mnist(isolated["cache"] / "mnist", marker=3)
    write_tiny_mnist(isolated["system"] / "mnist", marker=4)
    monkeypatch.setenv("NPCONV_DATA", str(tmp_path / "env"))
    assert marker(mnist.load_data(path=tmp_path / "explicit")) == 1
    assert marker(mnist.load_data()) == 2
    assert locate(mnist.SPEC).source == "NPCONV_DATA"
    monkeypatch.delenv("NPCONV_DATA")
    assert marker(mnist.load_data()) == 3
    assert locate(mnist.SPEC).source == "cache"
    for name in MNIST_NAMES:
        (isolated["cache"] / "mnist" / name).unlink()
    assert marker(mnist.load_data()) == 4
    assert locate(mnist.SPEC).source == "system"


def test_incomplete_folders_are_skipped(tmp_path, monkeypatch, isolated):
    write_tiny_mnist(tmp_path / "env" / "mnist", marker=2, skip={mnist.TEST_LABELS})
    write_tiny_mnist(isolated["system"] / "mnist", marker=4)
    monkeypatch.setenv("NPCONV_DATA", str(tmp_path / "env"))
    assert marker(mnist.load_data()) == 4
    assert "lacks t10k-labels-idx1-ubyte.gz" in available_report()


def test_npconv_data_holds_several_roots(tmp_path, monkeypatch):
    write_tiny_mnist(tmp_path / "b" / "mnist", marker=7)
    monkeypatch.setenv("NPCONV_DATA", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert marker(mnist.load_data()) == 7


def test_explicit_path_is_the_only_place_looked_at(tmp_path, isolated):
    write_tiny_mnist(isolated["system"] / "mnist", marker=4)
    write_tiny_mnist(tmp_path / "mine", marker=1, skip={mnist.TRAIN_LABELS})
    with pytest.raises(DatasetNotFoundError, match="lacks train-labels-idx1-ubyte.gz") as info:
        mnist.load_data(path=tmp_path / "mine")
    assert str(tmp_path / "mine") in str(info.value)


def test_cache_root_settings(tmp_path, monkeypatch, isolated):
    assert cache_root() == isolated["home"] / ".cache" / "npconv"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "npconv"
    monkeypatch.setenv("NPCONV_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"


def test_not_found_offline_lists_places_and_ways(isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        fashion_mnist.load_data(download=False)
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "NPCONV_DATA: not set" in msg
    assert str(isolated["cache"] / "fashion-mnist") in msg
    assert str(isolated["system"] / "fashion-mnist") in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "path=" in msg


def test_one_line_summaries(tmp_path, isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_data(download=False)
    line = info.value.one_line()
    assert "\n" not in line and line.startswith("MNIST (mnist) was not found. Searched: ")
    assert str(isolated["cache"] / "mnist") in line and str(isolated["system"] / "mnist") in line
    assert "not attempted" in line and "allow the download" in line
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_data(path=tmp_path / "nowhere")
    line = info.value.one_line()
    assert "\n" not in line and f"{tmp_path / 'nowhere'} (no such folder)" in line
    with pytest.raises(DatasetNotFoundError) as info:  # the download fails: closed port
        mnist.load_data()
    line = info.value.one_line()
    assert "\n" not in line and "Download failed: could not download " in line
    assert "ConnectionRefusedError" in line and "allow the download" not in line
    assert info.value.failures and "ConnectionRefusedError" in info.value.failures[0]
    assert "allow the download" not in str(info.value)  # the full message neither


def test_bad_contents_are_value_errors(tmp_path):
    folder = tmp_path / "m"
    write_tiny_mnist(folder, marker=1)
    write_idx(folder / mnist.TRAIN_LABELS, np.array([1, 2, 10, 0, 0, 0], np.uint8))
    with pytest.raises(ValueError, match="labels in \\[0, 9\\]. Received a label 10"):
        mnist.load_data(path=folder)
    write_idx(folder / mnist.TRAIN_LABELS, np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="expected 6 uint8 labels"):
        mnist.load_data(path=folder)
    write_idx(folder / mnist.TRAIN_IMAGES, np.zeros((5, 784), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(N, H, W\)"):
        mnist.load_data(path=folder)
    (folder / mnist.TEST_IMAGES).write_bytes(b"\x1f\x8b broken")
    write_tiny_mnist(folder, marker=1, skip={mnist.TEST_IMAGES})
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: broken gzip"):
        mnist.load_data(path=folder)


def test_available_lists_every_dataset(isolated):
    write_tiny_mnist(isolated["cache"] / "mnist", marker=1)
    status = {s.module: s for s in available()}
    assert set(status) == {"mnist", "fashion_mnist", "cifar10"}
    assert status["mnist"].found and status["mnist"].source == "cache"
    assert not status["cifar10"].found and status["cifar10"].folder is None
    report = available_report()
    assert "found (cache)" in report and "not found locally" in report
