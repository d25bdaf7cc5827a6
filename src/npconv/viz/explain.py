"""Explain one output pixel of a convolution: its window, padding, receptive field, im2col row
and the dot product that gives its value.

    >>> e = explain_convolution((6, 6), 3, strides=2, padding="same", output_index=(1, 2))
    >>> print(e)            # the whole story as text
    >>> e.value, e.im2col_row, e.pads
    >>> e.to_png("explain.png")

The numbers are computed the way seed 002 teaches them -- take the window of the padded input,
multiply by the kernel, sum -- and the tests check them against npconv's im2col ``conv2d``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import as_pair
from ..ops.padding import resolve_padding
from ._util import atomic_save, format_number, load_font, require_pillow

__all__ = ["ConvExplanation", "explain_convolution"]


@dataclass(frozen=True)
class ConvExplanation:
    """What one output pixel of a single-output-channel convolution is made of.

    Coordinates: ``window_cells`` are ``(row, col)`` in the padded input, in kernel-tap order
    (row-major over ``(kh, kw)``); ``input_cells`` are the same cells in input coordinates
    (negative or ``>= H``/``W`` for padding cells).
    """

    input_shape: tuple[int, int, int]      # (H, W, C)
    kernel_size: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    padding: object                        # as given
    pads: tuple[tuple[int, int], tuple[int, int]]
    output_shape: tuple[int, int]
    output_index: tuple[int, int]
    x: np.ndarray                          # (H, W, C)
    kernel: np.ndarray                     # (kh, kw, C)
    window_cells: np.ndarray               # (kh * kw, 2)
    input_cells: np.ndarray                # (kh * kw, 2)
    padding_cells: np.ndarray              # (n, 2) input coordinates of touched padding cells
    receptive_field: tuple[tuple[int, int], tuple[int, int]]  # ((r0, r1), (c0, c1)), stop excl.
    im2col_row_index: int
    im2col_row: np.ndarray                 # (kh * kw * C,) in (i, j, c) order
    kernel_column: np.ndarray              # kernel.reshape(-1), same order
    value: float
    lines: tuple[str, ...]

    @property
    def pads_tblr(self) -> tuple[int, int, int, int]:
        """``(top, bottom, left, right)`` padding in pixels."""
        (t, b), (lft, r) = self.pads
        return (t, b, lft, r)

    def __str__(self) -> str:
        return "\n".join(self.lines)

    def to_png(self, path, cell: int = 34, font_size: int = 12) -> str:
        """Draw the padded input (channel 0) with the window, and the text, to a PNG."""
        return atomic_save(path, lambda tmp: self.to_image(cell, font_size).save(tmp, "PNG"))

    def to_image(self, cell: int = 34, font_size: int = 12):
        """The picture of :meth:`to_png` as a Pillow RGB image."""
        Image, ImageDraw, _ = require_pillow("explain_convolution")
        font, small = load_font(font_size), load_font(font_size - 1)
        (t, b), (lft, r) = self.pads
        h, w, _ = self.input_shape
        hp, wp = h + t + b, w + lft + r
        margin, top = 16, 40
        width = int(max(wp * cell + 2 * margin,
                        max(font.getlength(line) for line in self.lines) + 2 * margin))
        height = top + hp * cell + 16 + len(self.lines) * (font_size + 7) + margin
        img = Image.new("RGB", (width, height), (255, 255, 255))
        draw = ImageDraw.Draw(img)
        title = f"output pixel {self.output_index}: its window on the padded input"
        if self.input_shape[2] > 1:
            title += " (channel 0 shown)"
        draw.text((margin, 10), title, fill=(30, 30, 30), font=font)
        touched = {(int(a), int(c)) for a, c in self.window_cells}
        for row in range(hp):
            for col in range(wp):
                is_pad = not (t <= row < t + h and lft <= col < lft + w)
                hit = (row, col) in touched
                fill = ((236, 204, 160) if is_pad else (255, 196, 110)) if hit else (
                    (222, 222, 222) if is_pad else (255, 255, 255))
                box = (margin + col * cell, top + row * cell,
                       margin + (col + 1) * cell, top + (row + 1) * cell)
                draw.rectangle(box, fill=fill, outline=(150, 150, 150))
                text = "0" if is_pad else format_number(self.x[row - t, col - lft, 0])
                draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text,
                          fill=(140, 140, 140) if is_pad else (30, 30, 30), font=small,
                          anchor="mm")
        r0, c0 = self.window_cells.min(axis=0)
        r1, c1 = self.window_cells.max(axis=0) + 1
        draw.rectangle((margin + c0 * cell, top + r0 * cell, margin + c1 * cell,
                        top + r1 * cell), outline=(214, 110, 0), width=3)
        y = top + hp * cell + 16
        for line in self.lines:
            draw.text((margin, y), line, fill=(30, 30, 30), font=font)
            y += font_size + 7
        return img


def _same_text(axis: str, size: int, k: int, s: int, d: int, pads: tuple[int, int]) -> str:
    out = -(-size // s)
    total = pads[0] + pads[1]
    return (f"  {axis}: out = ceil({size}/{s}) = {out}; total = max(({out}-1)*{s} + {d}*({k}-1)"
            f" + 1 - {size}, 0) = {total} -> {pads[0]} before, {pads[1]} after")


def _dot_text(row: np.ndarray, col: np.ndarray, value: float, max_terms: int = 12) -> str:
    terms = [f"{format_number(a)}*{format_number(b)}" for a, b in zip(row, col, strict=True)]
    if len(terms) > max_terms:
        terms = terms[:max_terms - 2] + [f"... ({len(row) - max_terms + 1} more)", terms[-1]]
    return " + ".join(terms) + f" = {value:.6g}"


def explain_convolution(input_shape, kernel_size, strides=1, padding="valid", dilation=1,
                        output_index=(0, 0), x=None, kernel=None) -> ConvExplanation:
    """Explain output pixel ``output_index = (i, j)`` of a 2-D convolution.

    input_shape: ``(H, W)`` or ``(H, W, C)``. kernel_size, strides, dilation: int or pair.
    padding: ``"valid"``, ``"same"`` (Keras/TensorFlow, also at stride > 1), int, pair or
    ``((top, bottom), (left, right))``.
    x: the input, ``(H, W)`` or ``(H, W, C)``; default ``np.arange`` (seed 000's image).
    kernel: ``(kh, kw)``, ``(kh, kw, C)`` or ``(kh, kw, C, 1)``; default the average kernel.
    Negative indices count from the end as in NumPy.
    """
    where = "explain_convolution"
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 2:
        shape = shape + (1,)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{where}: expected input_shape (H, W) or (H, W, C) of positive ints. "
                         f"Received: input_shape={input_shape!r}")
    h, w, c = shape
    k = as_pair(kernel_size, "kernel_size", where)
    s = as_pair(strides, "strides", where)
    d = as_pair(dilation, "dilation", where)
    pads = resolve_padding(padding, (h, w), k, s, d, where)

    if x is None:
        x = np.arange(h * w * c, dtype=np.float64).reshape(h, w, c)
    else:
        x = np.asarray(x, dtype=np.float64)
        if x.shape == (h, w) and c == 1:
            x = x[:, :, None]
    if x.shape != (h, w, c):
        raise ValueError(f"{where}: expected x of shape {shape[:2] if c == 1 else shape}. "
                         f"Received shape {np.shape(x)}")
    kernel = (np.full(k + (c,), 1.0 / (k[0] * k[1] * c)) if kernel is None
              else np.asarray(kernel, dtype=np.float64))
    if kernel.shape in (k, k + (c, 1)) and kernel.size == k[0] * k[1] * c:
        kernel = kernel.reshape(k + (c,))
    if kernel.shape != k + (c,):
        raise ValueError(f"{where}: expected a kernel of shape {k + (c,)} (or {k} for one "
                         f"channel). Received shape {kernel.shape}")

    (top, bottom), (left, right) = pads
    reach = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    out_h = (h + top + bottom - reach[0]) // s[0] + 1
    out_w = (w + left + right - reach[1]) // s[1] + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"{where}: the kernel spans {reach} pixels, more than the padded input "
                         f"{(h + top + bottom, w + left + right)}")
    i, j = (int(v) for v in output_index)
    i, j = i + out_h if i < 0 else i, j + out_w if j < 0 else j
    if not (0 <= i < out_h and 0 <= j < out_w):
        raise ValueError(f"{where}: the output is {out_h}x{out_w}, so output_index must be "
                         f"within it. Received: output_index={tuple(output_index)!r}")

    taps = np.stack(np.meshgrid(np.arange(k[0]) * d[0], np.arange(k[1]) * d[1], indexing="ij"),
                    axis=-1).reshape(-1, 2)
    window_cells = taps + np.array([i * s[0], j * s[1]])
    input_cells = window_cells - np.array([top, left])
    inside = ((input_cells[:, 0] >= 0) & (input_cells[:, 0] < h)
              & (input_cells[:, 1] >= 0) & (input_cells[:, 1] < w))
    xp = np.zeros((h + top + bottom, w + left + right, c))
    xp[top:top + h, left:left + w] = x
    im2col_row = xp[window_cells[:, 0], window_cells[:, 1]].reshape(-1)   # (i, j, c) order
    kernel_column = kernel.reshape(-1)
    value = float(im2col_row @ kernel_column)
    rows, cols = input_cells[inside, 0], input_cells[inside, 1]
    field = ((int(rows.min()), int(rows.max()) + 1), (int(cols.min()), int(cols.max()) + 1)) \
        if inside.any() else ((0, 0), (0, 0))

    pad_desc = f"padding={padding!r}"
    lines = [
        f"Convolution: input {h}x{w}x{c}, kernel {k[0]}x{k[1]}, strides {s}, dilation {d}, "
        f"{pad_desc}",
    ]
    if isinstance(padding, str) and padding.lower() == "same":
        lines.append(f"'same' padding (TensorFlow/Keras rule, odd pixel after) at strides {s}:")
        lines.append(_same_text("rows", h, k[0], s[0], d[0], pads[0]))
        lines.append(_same_text("cols", w, k[1], s[1], d[1], pads[1]))
    lines.append(f"(top, bottom, left, right) padding = {(top, bottom, left, right)}")
    lines.append(f"output {out_h}x{out_w}: H_out = floor(({h} + {top}+{bottom} - {d[0]}*({k[0]}-1)"
                 f" - 1)/{s[0]}) + 1 = {out_h}, W_out = floor(({w} + {left}+{right} - "
                 f"{d[1]}*({k[1]}-1) - 1)/{s[1]}) + 1 = {out_w}")
    lines.append(f"output pixel ({i}, {j}):")
    lines.append(f"  window in the padded input: rows {window_cells[0, 0]}..{window_cells[-1, 0]}"
                 f" step {d[0]}, cols {window_cells[0, 1]}..{window_cells[-1, 1]} step {d[1]} "
                 f"({len(taps)} taps)")
    pad_cells = input_cells[~inside]
    if len(pad_cells):
        listed = ", ".join(f"({a},{b})" for a, b in pad_cells[:8])
        more = f", ... ({len(pad_cells)} in all)" if len(pad_cells) > 8 else ""
        lines.append(f"  padding cells touched (input coordinates): {listed}{more}")
    else:
        lines.append("  padding cells touched: none")
    lines.append(f"  receptive field in the input: rows {field[0][0]}..{field[0][1] - 1}, cols "
                 f"{field[1][0]}..{field[1][1] - 1} ({int(inside.sum())} real pixels touched"
                 f"{' per channel' if c > 1 else ''})")
    row_text = ", ".join(format_number(v) for v in im2col_row[:16])
    if len(im2col_row) > 16:
        row_text += ", ..."
    lines.append(f"  im2col row {i * out_w + j} (= {i}*{out_w} + {j}) of {out_h * out_w}: "
                 f"[{row_text}]")
    lines.append(f"  value = im2col row . kernel = {_dot_text(im2col_row, kernel_column, value)}")
    return ConvExplanation(
        (h, w, c), k, s, d, padding, pads, (out_h, out_w), (i, j), x, kernel, window_cells,
        input_cells, pad_cells, field, i * out_w + j, im2col_row, kernel_column, value,
        tuple(lines))
