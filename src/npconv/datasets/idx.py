"""The IDX file format of MNIST and Fashion-MNIST, read and written with NumPy.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype> <ndim>``, then ``ndim`` big-endian
uint32 sizes, then the data in C order, big-endian. The data type codes are::

    0x08 uint8   0x09 int8   0x0B int16   0x0C int32   0x0D float32   0x0E float64

MNIST's ``train-images-idx3-ubyte`` is ``0x00000803`` (uint8, 3 dims: 60000 x 28 x 28) and its
labels file ``0x00000801`` (uint8, 1 dim). Files are often gzipped; :func:`read_idx` recognises
gzip by its magic bytes ``1f 8b``, whatever the file is called.

A file whose length does not match its header (truncated, or with trailing bytes), a bad magic
number or a broken gzip stream is a ``ValueError`` naming the file: never a partial array.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from .._atomic import atomic_write_bytes

# dtype code -> big-endian NumPy dtype, as in the format's specification.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


def _raw_bytes(path: Path) -> bytes:
    """The file's IDX bytes: decompressed if the file is gzip, else as stored."""
    if path.exists() and not path.is_file() and not path.is_dir():
        from .._atomic import _kind  # a pipe: reading it would wait for a writer forever

        raise ValueError(f"read_idx: {path} is {_kind(path)}, not an IDX file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"read_idx: no such file: {path}") from None
    except IsADirectoryError:
        raise ValueError(f"read_idx: {path} is a folder, not an IDX file") from None
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise ValueError(f"read_idx: {path}: broken gzip stream ({err})") from None


def read_idx(path) -> np.ndarray:
    """Read an IDX file (gzipped or raw) into a new, writable array of the declared shape.

    The result has the file's element type in native byte order (uint8 for MNIST images and
    labels). Raises ``FileNotFoundError`` if the file is missing and ``ValueError`` (naming the
    file and the problem) if it is not a complete, well-formed IDX file.
    """
    path = Path(path)
    data = _raw_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"read_idx: {path}: truncated: {len(data)} bytes, shorter than the 4-byte magic number"
        )
    zero1, zero2, code, ndim = data[0], data[1], data[2], data[3]
    if zero1 != 0 or zero2 != 0 or code not in IDX_DTYPES:
        raise ValueError(
            f"read_idx: {path}: bad magic number 0x{data[:4].hex()}: expected 0x0000 followed by "
            f"a type code in {{{', '.join(f'0x{c:02X}' for c in IDX_DTYPES)}}} and the number of "
            "dimensions (is this an IDX file?)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"read_idx: {path}: truncated header: {ndim} dimensions need {header} bytes, "
            f"the file has {len(data)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow on corrupt headers
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else f"{found - expected} trailing bytes"
        raise ValueError(
            f"read_idx: {path}: {what}: the header declares shape {shape} of "
            f"{dtype.newbyteorder('=').name}, i.e. {expected} bytes of data, but the file holds "
            f"{found}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a native-order, writable copy


def write_idx(path, array, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file, atomically (a temporary file in the same folder, renamed).

    ``compress=None`` gzips when the name ends in ``.gz``. Supported element types are those of
    the format: uint8, int8, int16, int32, float32, float64 (any byte order). Returns the path.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None or array.dtype.kind not in "uif":
        raise TypeError(
            "write_idx: expected an array of uint8, int8, int16, int32, float32 or float64. "
            f"Received dtype {array.dtype}"
        )
    if array.ndim > 255 or any(s >= 2**32 for s in array.shape):
        raise ValueError(f"write_idx: shape {array.shape} does not fit the IDX header")
    body = (
        bytes([0, 0, code, array.ndim])
        + np.asarray(array.shape, dtype=">u4").tobytes()
        + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    )
    if compress is None:
        compress = path.name.endswith(".gz")
    if compress:
        body = gzip.compress(body, mtime=0)
    atomic_write_bytes(path, body)
    return path
