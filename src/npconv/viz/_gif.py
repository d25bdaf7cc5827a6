"""An animated-GIF writer that encodes one frame at a time, so memory stays bounded.

Pillow's ``save(save_all=True, append_images=...)`` keeps every frame of the animation in
memory until it writes the file (a 28 x 28 convolution animation is 676 frames of over a
megapixel each). :class:`GifWriter` writes each frame as it comes: only the region that changed
since the previous frame, with the unchanged pixels inside it transparent (as Pillow's
``optimize`` does), each frame with the colour table Pillow's own encoder gave it. Pillow does
the LZW compression (a one-frame GIF per frame, in memory); this module only assembles the file
(GIF89a: header, NETSCAPE looping extension, then a graphic control extension and an image
descriptor per frame).
"""

from __future__ import annotations

import io
import struct

import numpy as np

from ._util import require_pillow

__all__ = ["GifWriter"]


def _sub_blocks_end(data: bytes, pos: int) -> int:
    """The position after the data sub-blocks starting at ``pos`` (ending with a 0 block)."""
    while True:
        n = data[pos]
        pos += 1 + n
        if n == 0:
            return pos


def _encoded_frame(image) -> tuple[bytes, int, int | None, bytes]:
    """Pillow's encoding of one ``P`` image, not interlaced: (colour table, its size field,
    transparent index or None, LZW image data with its sub-blocks)."""
    buf = io.BytesIO()
    params = {"format": "GIF", "optimize": False, "interlace": False}
    if "transparency" in image.info:
        params["transparency"] = image.info["transparency"]
    image.save(buf, **params)
    data = buf.getvalue()
    if data[:3] != b"GIF":
        raise ValueError("GifWriter: Pillow did not write a GIF")
    packed = data[10]
    pos = 13
    table, bits = b"", 0
    if packed & 0x80:
        bits = packed & 7
        table = data[pos:pos + (3 << (bits + 1))]
        pos += len(table)
    transparent = None
    while pos < len(data):
        kind = data[pos]
        if kind == 0x21:  # extension: keep only the transparency of a graphic control block
            label = data[pos + 1]
            if label == 0xF9 and data[pos + 3] & 1:
                transparent = data[pos + 6]
            pos = _sub_blocks_end(data, pos + 2)
        elif kind == 0x2C:  # the image descriptor
            image_packed = data[pos + 9]
            if image_packed & 0x40:
                raise ValueError("GifWriter: Pillow wrote an interlaced frame")
            pos += 10
            if image_packed & 0x80:  # a local table replaces the global one
                bits = image_packed & 7
                table = data[pos:pos + (3 << (bits + 1))]
                pos += len(table)
            start = pos
            end = _sub_blocks_end(data, pos + 1)  # after the LZW minimum code size byte
            return table, bits, transparent, data[start:end]
        else:
            break
    raise ValueError("GifWriter: no image in Pillow's GIF")


class GifWriter:
    """Write an animated GIF to the binary file ``fh``, one frame per :meth:`add`.

    Every frame is a Pillow ``P`` image of ``size`` (e.g. from ``rgb.quantize(palette=...)``),
    shown for ``duration_ms``; ``loop=0`` repeats forever. Call :meth:`close` at the end.
    At most two frames are held: the previous one (to find what changed) and the next one
    (to fold an identical frame into its duration).
    """

    def __init__(self, fh, size: tuple[int, int], duration_ms: int = 700, loop: int = 0):
        self.fh, self.size = fh, (int(size[0]), int(size[1]))
        self.delay = max(int(round(duration_ms / 10)), 1)  # GIF delays are centiseconds
        self.frames = 0
        self._previous = None  # indices of the last frame added, (H, W) uint8
        self._pending = None   # (encoded pieces, offset, delay) not yet written
        width, height = self.size
        fh.write(b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0))
        fh.write(b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00")

    def add(self, frame) -> None:
        Image, _, _ = require_pillow("GifWriter")
        if frame.mode != "P" or frame.size != self.size:
            raise ValueError(f"GifWriter: expected a P image of size {self.size}. Received "
                             f"mode {frame.mode} of size {frame.size}")
        current = np.asarray(frame, dtype=np.uint8)
        palette = bytes((frame.getpalette() or [0, 0, 0])[:768])
        if len(palette) < 768:  # one spare entry: an index free for transparency
            palette += bytes(3)
        if self._previous is None:
            region, offset = current, (0, 0)
        else:
            changed = current != self._previous
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            if rows.size == 0:  # the same picture again: show the previous one longer
                encoded, offset, delay = self._pending
                self._pending = (encoded, offset, delay + self.delay)
                return
            r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            region, offset = current[r0:r1, c0:c1].copy(), (int(c0), int(r0))
            unchanged = ~changed[r0:r1, c0:c1]
            free = np.flatnonzero(np.bincount(region.reshape(-1), minlength=256) == 0)
            if unchanged.any() and free.size:  # unchanged pixels: transparent, one LZW run
                region[unchanged] = free[0]
                transparent = int(free[0])
            else:
                transparent = None
        piece = Image.fromarray(region, mode="P")
        piece.putpalette(palette)
        if self._previous is not None and transparent is not None:
            piece.info["transparency"] = transparent
        encoded = _encoded_frame(piece) + ((piece.width, piece.height),)
        self._flush()
        self._pending = (encoded, offset, self.delay)
        self._previous = current
        self.frames += 1

    def _flush(self) -> None:
        if self._pending is None:
            return
        (table, bits, transparent, lzw, (width, height)), (left, top), delay = self._pending
        flags = (1 << 2) | (1 if transparent is not None else 0)  # disposal 1: keep the frame
        self.fh.write(b"!\xf9\x04" + struct.pack("<BHB", flags, min(delay, 0xFFFF),
                                                 transparent or 0) + b"\x00")
        image_packed = (0x80 | bits) if table else 0
        self.fh.write(b"," + struct.pack("<HHHHB", left, top, width, height, image_packed))
        self.fh.write(table)
        self.fh.write(lzw)
        self._pending = None

    def close(self) -> None:
        self._flush()
        self.fh.write(b";")
