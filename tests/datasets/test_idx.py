"""The IDX reader and writer: every type code, gzipped or raw, and every way a file can be bad."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from npconv.datasets.idx import read_idx, write_idx

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
         np.float32: 0x0D, np.float64: 0x0E}


def sample(dtype, shape, rng):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype) * 1e3
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 0, 3), (1, 2, 1, 3)])
def test_round_trip_every_type(tmp_path, dtype, suffix, shape):
    arr = sample(dtype, shape, np.random.default_rng(len(shape)))
    path = write_idx(tmp_path / f"a-idx{suffix}", arr)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    assert out.shape == shape
    np.testing.assert_array_equal(out, arr)
    assert out.flags.writeable and out.flags.c_contiguous
    raw = gzip.decompress(path.read_bytes()) if suffix else path.read_bytes()
    assert raw[:4] == bytes([0, 0, CODES[dtype], len(shape)])


@pytest.mark.parametrize("dtype", list(CODES))
def test_reads_hand_built_big_endian_files(tmp_path, dtype):
    """A file built byte by byte (not by write_idx) reads back: the layout is the spec's."""
    arr = sample(dtype, (2, 3), np.random.default_rng(5))
    big = np.dtype(dtype).newbyteorder(">")
    data = bytes([0, 0, CODES[dtype], 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    data += arr.astype(big).tobytes()
    (tmp_path / "raw").write_bytes(data)
    (tmp_path / "zipped").write_bytes(gzip.compress(data))
    np.testing.assert_array_equal(read_idx(tmp_path / "raw"), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "zipped"), arr)  # gzip found by its magic


def test_writes_the_exact_mnist_header(tmp_path):
    path = write_idx(tmp_path / "labels-idx1-ubyte", np.array([5, 0, 4], dtype=np.uint8))
    assert path.read_bytes() == bytes.fromhex("00000801 00000003 050004")


def test_write_is_reproducible_and_accepts_byte_swapped_input(tmp_path):
    arr = np.arange(6, dtype=">i2").reshape(2, 3)
    a = write_idx(tmp_path / "a.gz", arr).read_bytes()
    b = write_idx(tmp_path / "b.gz", arr.astype("<i2")).read_bytes()
    assert a == b  # gzip mtime is fixed at 0
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), arr)


HEADER = bytes.fromhex("00000803 00000002 00000002 00000002")  # uint8 (2, 2, 2)


@pytest.mark.parametrize("data, message", [
    (b"", "truncated"),
    (b"\x00\x00\x08", "truncated"),
    (bytes.fromhex("00000803 00000002"), "truncated header"),
    (HEADER + bytes(7), "truncated"),
    (HEADER + bytes(9), "1 trailing bytes"),
    (b"\x01" + HEADER[1:] + bytes(8), "bad magic number"),
    (bytes.fromhex("0000 0A01 00000001") + bytes(1), "bad magic number"),  # no type 0x0A
    (b"PK\x03\x04 not an idx file", "bad magic number"),
])
@pytest.mark.parametrize("compressed", [False, True])
def test_bad_files_are_clear_errors(tmp_path, data, message, compressed):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(gzip.compress(data) if compressed else data)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_declared_size_is_compared_before_anything_is_allocated(tmp_path):
    path = tmp_path / "huge"
    path.write_bytes(bytes.fromhex("00000D03 FFFFFFFF FFFFFFFF 00000010") + bytes(64))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "trailing"])
def test_broken_gzip(tmp_path, damage):
    good = gzip.compress(HEADER + bytes(range(8)))
    if damage == "truncated":
        bad = good[:-6]
    elif damage == "corrupt":  # flip bytes of the deflate stream / CRC
        bad = good[:12] + bytes(b ^ 0xFF for b in good[12:])
    else:
        bad = good + b"garbage"
    path = tmp_path / "x.gz"
    path.write_bytes(bad)
    with pytest.raises(ValueError, match="broken gzip stream") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_idx(tmp_path / "nope.gz")
    with pytest.raises(ValueError, match="is a folder"):
        read_idx(tmp_path)


def test_a_pipe_is_refused_not_waited_on(tmp_path):
    # read_bytes() of a named pipe waited for a writer forever; /dev/null read as 0 bytes
    # (checked first: without the check, the test fails there instead of hanging)
    fifo = tmp_path / "train-images-idx3-ubyte"
    os.mkfifo(fifo)
    for path, kind in (("/dev/null", "a character device"), (fifo, "a named pipe")):
        with pytest.raises(ValueError, match=f"read_idx: {path} is {kind}, not an IDX file"):
            read_idx(path)


@pytest.mark.parametrize("arr", [np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.uint16),
                                 np.zeros(3, np.float16), np.array(["a"])])
def test_write_rejects_types_the_format_lacks(tmp_path, arr):
    with pytest.raises(TypeError, match=str(arr.dtype)):
        write_idx(tmp_path / "x", arr)
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "x.gz", np.arange(4, dtype=np.uint8))

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_idx(path, np.arange(9, dtype=np.uint8))
    monkeypatch.undo()
    np.testing.assert_array_equal(read_idx(path), np.arange(4))  # the old file is intact
    assert os.listdir(tmp_path) == ["x.gz"]  # and no temporary file is left
