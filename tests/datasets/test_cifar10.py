"""CIFAR-10 from hand-made binary archives: layout, order, and every way an archive can be bad."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import numpy as np
import pytest

from npconv.datasets import cifar10
from npconv.datasets.cifar10 import ARCHIVE, RECORD, read_binary

from .helpers import LocalServer, cifar_members, spec_for, tar_gz


def write_archive(folder, members, extra=()):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ARCHIVE).write_bytes(tar_gz(members, list(extra)))
    return folder


def expected(records: dict[str, np.ndarray], names):
    rec = np.concatenate([records[n] for n in names])
    x = np.empty((len(rec), 32, 32, 3), np.uint8)
    for c in range(3):  # the record is label, then the R, G, B planes of 32 x 32
        x[..., c] = rec[:, 1 + 1024 * c: 1 + 1024 * (c + 1)].reshape(-1, 32, 32)
    return x, rec[:, :1]


TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]


def test_loads_as_keras(tmp_path):
    members, records = cifar_members()
    # members stored out of order: batches are still concatenated 1..5
    shuffled = dict(sorted(members.items(), reverse=True))
    (x_train, y_train), (x_test, y_test) = cifar10.load_data(write_archive(tmp_path, shuffled))
    assert x_train.shape == (12, 32, 32, 3) and y_train.shape == (12, 1)
    assert x_test.shape == (3, 32, 32, 3) and y_test.shape == (3, 1)
    assert all(a.dtype == np.uint8 for a in (x_train, y_train, x_test, y_test))
    ex, ey = expected(records, TRAIN)
    np.testing.assert_array_equal(x_train, ex)
    np.testing.assert_array_equal(y_train, ey)
    ex, ey = expected(records, ["test_batch.bin"])
    np.testing.assert_array_equal(x_test, ex)
    np.testing.assert_array_equal(y_test, ey)
    assert x_train.flags.c_contiguous and x_train.flags.writeable


def test_one_pixel_is_where_the_format_says(tmp_path):
    members, records = cifar_members(sizes=(1, 1, 1, 1, 1), n_test=1)
    rec = records["data_batch_1.bin"][0]
    (x_train, y_train), _ = cifar10.load_data(write_archive(tmp_path, members))
    h, w = 5, 17
    assert x_train[0, h, w].tolist() == [rec[1 + c * 1024 + h * 32 + w] for c in range(3)]
    assert y_train[0, 0] == rec[0]


def test_extracted_folder(tmp_path):
    members, records = cifar_members()
    for name, data in members.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (x_train, _), (_, y_test) = cifar10.load_data(tmp_path)
    np.testing.assert_array_equal(x_train, expected(records, TRAIN)[0])
    np.testing.assert_array_equal(y_test, expected(records, ["test_batch.bin"])[1])


def bad(members, name, data):
    members = dict(members)
    members[f"cifar-10-batches-bin/{name}"] = data
    return members


@pytest.mark.parametrize("change, message", [
    (lambda m: {k: v for k, v in m.items() if "data_batch_3" not in k}, "lacks data_batch_3.bin"),
    (lambda m: bad(m, "data_batch_2.bin", b"\x00" * (RECORD + 1)), "3073-byte records"),
    (lambda m: bad(m, "test_batch.bin", b""), "3073-byte records"),
    (lambda m: bad(m, "data_batch_1.bin", b"\x0a" + bytes(RECORD - 1)), "labels 0-9"),
])
def test_bad_archives(tmp_path, change, message):
    members, _ = cifar_members()
    path = write_archive(tmp_path, change(members))
    with pytest.raises(ValueError, match=message) as info:
        cifar10.load_data(path)
    assert str(path / ARCHIVE) in str(info.value)


def test_member_too_large_is_rejected_before_reading(tmp_path):
    members, _ = cifar_members()
    info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_4.bin")
    info.size = RECORD * 10001
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:  # header only: the size is a lie
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    (tmp_path / ARCHIVE).write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="1 to 10000"):
        read_binary(tmp_path / ARCHIVE)


def test_links_and_duplicates_are_rejected(tmp_path):
    members, _ = cifar_members()
    link = tarfile.TarInfo("cifar-10-batches-bin/data_batch_5.bin")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    five = {k: v for k, v in members.items() if "data_batch_5" not in k}
    with pytest.raises(ValueError, match="not a regular file"):
        read_binary(write_archive(tmp_path / "a", five, [link]) / ARCHIVE)
    dup = tarfile.TarInfo("other/data_batch_1.bin")
    dup.size = RECORD
    (tmp_path / ARCHIVE).write_bytes(tar_gz(members, [(dup, bytes(RECORD))]))
    with pytest.raises(ValueError, match="appears twice"):
        read_binary(tmp_path / ARCHIVE)


@pytest.mark.parametrize("damage", ["truncated", "not gzip"])
def test_broken_archive(tmp_path, damage):
    members, _ = cifar_members()
    data = tar_gz(members)
    data = data[: len(data) // 2] if damage == "truncated" else b"just some bytes" * 100
    (tmp_path / ARCHIVE).write_bytes(data)
    with pytest.raises(ValueError, match="broken, corrupted or truncated archive"):
        cifar10.load_data(tmp_path)


def _stored_gzip_archive(members) -> bytes:
    """The tar of ``members`` gzipped without compression: its bytes are the tar's, in order,
    so one pixel can be changed without breaking the deflate stream."""
    return gzip.compress(tar_gz(members, compression=""), compresslevel=0, mtime=0)


def test_a_changed_pixel_fails_the_gzip_crc(tmp_path):
    """A damaged local archive was read silently with wrong pixels: only downloads were
    checked, and a tar reader never reads the gzip trailer that holds the CRC."""
    members, _ = cifar_members()
    data = bytearray(_stored_gzip_archive(members))
    at = data.index(members["cifar-10-batches-bin/data_batch_2.bin"][100:140])
    data[at] ^= 0x01  # one pixel of data_batch_2, still a valid (stored) deflate stream
    (tmp_path / ARCHIVE).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC check failed") as info:
        cifar10.load_data(tmp_path)
    assert str(tmp_path / ARCHIVE) in str(info.value)


def test_a_wrong_crc_or_length_in_the_trailer_is_an_error(tmp_path):
    members, _ = cifar_members()
    good = tar_gz(members)
    for name, at in (("crc", -8), ("length", -1)):
        data = bytearray(good)
        data[at] ^= 0xFF
        (tmp_path / ARCHIVE).write_bytes(bytes(data))
        with pytest.raises(ValueError, match="corrupted") as info:
            read_binary(tmp_path / ARCHIVE)
        assert str(tmp_path / ARCHIVE) in str(info.value), name
    (tmp_path / ARCHIVE).write_bytes(good + b"trailing junk")
    with pytest.raises(ValueError, match="corrupted"):
        read_binary(tmp_path / ARCHIVE)


def test_a_file_of_the_official_size_must_have_the_official_sha256(tmp_path, monkeypatch):
    members, records = cifar_members()
    payload = tar_gz(members)
    monkeypatch.setattr(cifar10, "SPEC", spec_for(cifar10.SPEC, {ARCHIVE: payload}))
    (tmp_path / ARCHIVE).write_bytes(payload)
    (x_train, _), _ = cifar10.load_data(tmp_path)  # the official bytes load
    np.testing.assert_array_equal(x_train, expected(records, TRAIN)[0])
    changed = bytearray(payload)
    changed[4] ^= 0x01  # the gzip header's mtime: not covered by the CRC, same size
    (tmp_path / ARCHIVE).write_bytes(bytes(changed))
    with pytest.raises(ValueError, match="size of the official .* but not its SHA-256") as info:
        cifar10.load_data(tmp_path)
    assert str(tmp_path / ARCHIVE) in str(info.value)


def test_download_from_local_server(tmp_path, isolated, monkeypatch):
    members, records = cifar_members()
    payload = tar_gz(members)
    monkeypatch.setattr(cifar10, "SPEC", spec_for(cifar10.SPEC, {ARCHIVE: payload}))
    with LocalServer({f"/kriz/{ARCHIVE}": payload}) as server:
        (x_train, _), _ = cifar10.load_data(download_base=f"{server.url}/kriz/")
    np.testing.assert_array_equal(x_train, expected(records, TRAIN)[0])
    assert os.listdir(isolated["cache"] / "cifar-10") == [ARCHIVE]
