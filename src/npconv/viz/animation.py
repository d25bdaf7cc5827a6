"""Animated GIFs of a convolution or pooling window sliding over a small input (seed 000).

Two steps, kept apart so the numbers can be tested without looking at pictures:

1. :func:`conv_animation_frames` (pure NumPy) lists, for every output pixel in row-major order,
   which cells of the *padded* input the window touches and the value written::

       out[i, j] = sum over taps (a, b) of  padded[i*s + a*d, j*s + b*d] * kernel[a, b]

   (max or mean of the touched real pixels for pooling). The output size is seed 000's
   ``floor((in + 2p - d(k - 1) - 1) / s) + 1``.
2. :func:`animate_convolution` / :func:`animate_pooling` draw one picture per frame with
   Pillow's ``ImageDraw`` (small GIFs; no matplotlib): padding cells grey, the touched cells
   orange (with dilation, the gaps between taps stay white inside the window's outline), the
   output cell being written, the numbers, and the output-size formula with its values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._checks import as_pair, check_choice
from ..ops.padding import resolve_padding
from ._util import atomic_save, format_number, load_font, require_pillow

__all__ = [
    "AnimationFrame", "ConvAnimation", "conv_animation_frames", "output_size_formula",
    "animate_convolution", "animate_pooling", "draw_frames",
]


@dataclass(frozen=True)
class AnimationFrame:
    """One step: the output pixel written, the padded-input cells touched, the value."""

    output_index: tuple[int, int]
    cells: np.ndarray   # (taps, 2) int: (row, col) in padded coordinates, kernel-tap order
    value: float


@dataclass(frozen=True)
class ConvAnimation:
    """Everything an animation shows; arrays are in padded coordinates unless named otherwise."""

    mode: str                       # "conv", "max" or "average"
    values: np.ndarray              # (H, W) the input
    padded: np.ndarray              # (H + top + bottom, W + left + right)
    is_padding: np.ndarray          # bool, like ``padded``
    kernel: np.ndarray | None       # (kh, kw) for "conv", None for pooling
    kernel_size: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    output: np.ndarray              # (out_h, out_w) the finished output
    frames: tuple[AnimationFrame, ...]
    formulas: tuple[str, str]       # output height and width, values filled in

    @property
    def output_shape(self) -> tuple[int, int]:
        return self.output.shape

    @property
    def output_indices(self) -> np.ndarray:
        """``(frames, 2)``: the output pixel of each frame."""
        return np.array([f.output_index for f in self.frames], dtype=np.int64).reshape(-1, 2)

    @property
    def windows(self) -> np.ndarray:
        """``(frames, taps, 2)``: the padded-input cells of each frame's window."""
        return np.stack([f.cells for f in self.frames])

    @property
    def frame_values(self) -> np.ndarray:
        """``(frames,)``: the value written at each frame."""
        return np.array([f.value for f in self.frames], dtype=np.float64)


def output_size_formula(size: int, kernel: int, stride: int, pads: tuple[int, int],
                        dilation: int = 1, name: str = "out") -> str:
    """Seed 000's output-size formula with the numbers filled in, e.g.
    ``"out = floor((6 + 2*1 - 2*(3-1) - 1)/2) + 1 = 2"``."""
    before, after = pads
    pad_text = f"2*{before}" if before == after else f"{before}+{after}"
    out = (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
    return (f"{name} = floor(({size} + {pad_text} - {dilation}*({kernel}-1) - 1)/{stride}) + 1"
            f" = {out}")


def conv_animation_frames(input_size, kernel_size, stride=1, padding=0, dilation=1,
                          values=None, kernel=None, mode="conv") -> ConvAnimation:
    """The frames of a window sliding over a 2-D input, one per output pixel (row-major).

    input_size: int or ``(H, W)``. kernel_size, stride, dilation: int or pair (pixels).
    padding: int, pair, ``((top, bottom), (left, right))``, ``"valid"`` or ``"same"`` (Keras).
    values: ``(H, W)`` input; default ``np.arange(H * W).reshape(H, W)`` (seed 000's image).
    kernel: ``(kh, kw)``; default the average kernel ``ones / (kh * kw)`` (seed 000).
    mode: ``"conv"``; or ``"max"`` / ``"average"`` pooling, where padding cells never count
    (as npconv's and Keras's pooling) and only ``"valid"``/``"same"`` padding and dilation 1
    are allowed, as in the pooling ops.
    """
    where = "conv_animation_frames"
    mode = check_choice(mode, "mode", {"conv", "max", "average"}, where)
    h, w = as_pair(input_size, "input_size", where)
    k = as_pair(kernel_size, "kernel_size", where)
    s = as_pair(stride, "stride", where)
    d = as_pair(dilation, "dilation", where)
    if mode != "conv":
        if d != (1, 1):
            raise ValueError(f"{where}: pooling windows have no dilation. Received: "
                             f"dilation={dilation!r}")
        check_choice(padding, "padding", {"valid", "same"}, f"{where} (pooling)")
    pads = resolve_padding(padding, (h, w), k, s, d, where)

    if values is None:
        values = np.arange(h * w, dtype=np.float64).reshape(h, w)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != (h, w):
        raise ValueError(f"{where}: expected values of shape {(h, w)} (input_size). "
                         f"Received shape {values.shape}")
    if mode == "conv":
        kernel = (np.full(k, 1.0 / (k[0] * k[1])) if kernel is None
                  else np.asarray(kernel, dtype=np.float64))
        if kernel.shape != k:
            raise ValueError(f"{where}: expected kernel of shape {k} (kernel_size). "
                             f"Received shape {kernel.shape}")
    elif kernel is not None:
        raise ValueError(f"{where}: pooling has no kernel weights. Received a kernel")

    (top, bottom), (left, right) = pads
    padded = np.zeros((h + top + bottom, w + left + right))
    padded[top:top + h, left:left + w] = values
    is_padding = np.ones(padded.shape, dtype=bool)
    is_padding[top:top + h, left:left + w] = False

    reach = (d[0] * (k[0] - 1) + 1, d[1] * (k[1] - 1) + 1)
    out_h = (padded.shape[0] - reach[0]) // s[0] + 1
    out_w = (padded.shape[1] - reach[1]) // s[1] + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"{where}: the window spans {reach} pixels (kernel {k}, dilation {d}), "
                         f"more than the padded input {padded.shape}")

    # The taps of the window at output (0, 0), in kernel order; other windows are shifts of it.
    taps = np.stack(np.meshgrid(np.arange(k[0]) * d[0], np.arange(k[1]) * d[1],
                                indexing="ij"), axis=-1).reshape(-1, 2)
    frames = []
    output = np.zeros((out_h, out_w))
    for i in range(out_h):          # a teaching animation: one frame per output pixel
        for j in range(out_w):
            cells = taps + np.array([i * s[0], j * s[1]])
            window = padded[cells[:, 0], cells[:, 1]]
            real = ~is_padding[cells[:, 0], cells[:, 1]]
            if mode == "conv":
                value = float(window @ kernel.reshape(-1))
            elif mode == "max":
                value = float(window[real].max())
            else:
                value = float(window[real].mean())
            output[i, j] = value
            frames.append(AnimationFrame((i, j), cells, value))
    formulas = (output_size_formula(h, k[0], s[0], pads[0], d[0], "H_out"),
                output_size_formula(w, k[1], s[1], pads[1], d[1], "W_out"))
    return ConvAnimation(mode, values, padded, is_padding, kernel if mode == "conv" else None,
                         k, s, d, pads, output, tuple(frames), formulas)


# ---------------------------------------------------------------------------- drawing
_WHITE, _BLACK, _GREY_TEXT = (255, 255, 255), (30, 30, 30), (140, 140, 140)
_PAD_FILL = (222, 222, 222)
_TOUCH_FILL, _TOUCH_PAD_FILL, _TOUCH_LINE = (255, 196, 110), (236, 204, 160), (214, 110, 0)
_DONE_FILL, _CURRENT_FILL = (205, 234, 205), (255, 196, 110)


def _computation_text(anim: ConvAnimation, frame: AnimationFrame, max_terms: int = 9) -> str:
    cells = frame.cells
    real = ~anim.is_padding[cells[:, 0], cells[:, 1]]
    window = anim.padded[cells[:, 0], cells[:, 1]]
    i, j = frame.output_index
    if anim.mode == "conv":
        terms = [f"{format_number(a)}*{format_number(b)}"
                 for a, b in zip(window, anim.kernel.reshape(-1), strict=True)]
    else:
        terms = [format_number(a) for a in window[real]]
    if len(terms) > max_terms:
        terms = terms[:max_terms - 2] + ["...", terms[-1]]
    value = format_number(frame.value)
    if anim.mode == "conv":
        return f"out[{i},{j}] = " + " + ".join(terms) + f" = {value}"
    name = "max" if anim.mode == "max" else "mean"
    return f"out[{i},{j}] = {name}(" + ", ".join(terms) + f") = {value}"


def _title(anim: ConvAnimation) -> str:
    k, s, d, pads = anim.kernel_size, anim.strides, anim.dilation, anim.pads
    what = "convolution" if anim.mode == "conv" else f"{anim.mode} pooling"
    pair = lambda v: str(v[0]) if v[0] == v[1] else f"{v[0]}x{v[1]}"  # noqa: E731
    text = f"{what}  {k[0]}x{k[1]}  stride {pair(s)}"
    (t, b), (lft, r) = pads
    if len({t, b, lft, r}) == 1:
        text += f"  padding {t}"
    else:
        text += f"  padding (top {t}, bottom {b}, left {lft}, right {r})"
    if anim.mode == "conv":
        text += f"  dilation {pair(d)}"
    return text


def draw_frames(anim: ConvAnimation, cell: int = 34, font_size: int = 12):
    """One Pillow RGB image per frame of ``anim`` (see the module docstring for the legend)."""
    Image, ImageDraw, _ = require_pillow("draw_frames")
    font, small = load_font(font_size), load_font(font_size - 1)
    hp, wp = anim.padded.shape
    oh, ow = anim.output.shape
    margin, gap, top = 16, 36, 44
    kh, kw = anim.kernel.shape if anim.kernel is not None else (0, 0)
    x_in = margin
    x_kernel = x_in + wp * cell + gap
    x_out = x_kernel + (kw * cell + gap if kw else 0)
    lines = [*anim.formulas, *(_computation_text(anim, f) for f in anim.frames)]
    text_w = int(max(font.getlength(line) for line in lines)) + 2 * margin
    width = max(x_out + ow * cell + margin, text_w, 360)
    grid_h = max(hp, oh, kh) * cell
    height = top + grid_h + 16 + 3 * (font_size + 8) + margin

    def grid(draw, x0, y0, rows, cols, fill, text, text_fill):
        for r in range(rows):
            for c in range(cols):
                box = (x0 + c * cell, y0 + r * cell, x0 + (c + 1) * cell, y0 + (r + 1) * cell)
                draw.rectangle(box, fill=fill(r, c), outline=(150, 150, 150))
                t = text(r, c)
                if t:
                    draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), t,
                              fill=text_fill(r, c), font=small, anchor="mm")

    images = []
    done = np.zeros((oh, ow), dtype=bool)
    for frame in anim.frames:
        img = Image.new("RGB", (width, height), _WHITE)
        draw = ImageDraw.Draw(img)
        draw.text((margin, 8), _title(anim), fill=_BLACK, font=font)
        draw.text((x_in, top - 18), "input (grey: padding)", fill=_BLACK, font=small)
        touched = np.zeros((hp, wp), dtype=bool)
        touched[frame.cells[:, 0], frame.cells[:, 1]] = True
        pad_text = "0" if anim.mode == "conv" else ""

        def in_fill(r, c, touched=touched):
            if touched[r, c]:
                return _TOUCH_PAD_FILL if anim.is_padding[r, c] else _TOUCH_FILL
            return _PAD_FILL if anim.is_padding[r, c] else _WHITE

        grid(draw, x_in, top, hp, wp, in_fill,
             lambda r, c, pad_text=pad_text: (pad_text if anim.is_padding[r, c]
                                              else format_number(anim.padded[r, c])),
             lambda r, c: _GREY_TEXT if anim.is_padding[r, c] else _BLACK)
        r0, c0 = frame.cells.min(axis=0)
        r1, c1 = frame.cells.max(axis=0) + 1
        draw.rectangle((x_in + c0 * cell, top + r0 * cell, x_in + c1 * cell, top + r1 * cell),
                       outline=_TOUCH_LINE, width=3)
        if anim.kernel is not None:
            draw.text((x_kernel, top - 18), "kernel", fill=_BLACK, font=small)
            grid(draw, x_kernel, top, kh, kw, lambda r, c: _TOUCH_FILL,
                 lambda r, c: format_number(anim.kernel[r, c]), lambda r, c: _BLACK)
        draw.text((x_out, top - 18), "output", fill=_BLACK, font=small)
        i, j = frame.output_index
        done[i, j] = True
        grid(draw, x_out, top, oh, ow,
             lambda r, c, now=(i, j), done=done: (
                 _CURRENT_FILL if (r, c) == now else _DONE_FILL if done[r, c] else _WHITE),
             lambda r, c, done=done: format_number(anim.output[r, c]) if done[r, c] else "",
             lambda r, c: _BLACK)
        draw.rectangle((x_out + j * cell, top + i * cell, x_out + (j + 1) * cell,
                        top + (i + 1) * cell), outline=_TOUCH_LINE, width=3)
        y = top + grid_h + 16
        for line in (anim.formulas[0], anim.formulas[1], _computation_text(anim, frame)):
            draw.text((margin, y), line, fill=_BLACK, font=font)
            y += font_size + 8
        images.append(img)
    return images


def _save_gif(images, path, duration_ms: int) -> str:
    Image, _, _ = require_pillow("animate_convolution")
    # One shared palette (taken from the frame with the most highlights) keeps pixels that do
    # not change identical between frames, so the GIF stores only each frame's changed box.
    palette = images[-1].quantize(colors=48, dither=Image.Dither.NONE)
    frames = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]

    def write(tmp):
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                       duration=duration_ms, loop=0, optimize=True)

    return atomic_save(path, write)


def animate_convolution(input_size, kernel_size, stride=1, padding=0, dilation=1, path=None,
                        values=None, kernel=None, duration_ms=700, cell=34, font_size=12):
    """Animate a convolution window sliding over a small input (seed 000's GIFs).

    Arguments as :func:`conv_animation_frames`; defaults show seed 000's ``6x6`` ``np.arange``
    image under the ``3x3`` average kernel. Writes a GIF with one frame per output pixel to
    ``path`` (atomically) and returns the path; with ``path=None`` returns the list of Pillow
    images instead. Needs Pillow.
    """
    anim = conv_animation_frames(input_size, kernel_size, stride, padding, dilation,
                                 values=values, kernel=kernel, mode="conv")
    images = draw_frames(anim, cell=cell, font_size=font_size)
    return images if path is None else _save_gif(images, path, duration_ms)


def animate_pooling(input_size, pool_size, strides=None, padding="valid", mode="max", path=None,
                    values=None, duration_ms=700, cell=34, font_size=12):
    """Animate a pooling window (``mode="max"`` or ``"average"``); strides default to the pool
    size, padding is ``"valid"`` or ``"same"`` (padding cells never count). Returns the path, or
    the frames when ``path=None``. Needs Pillow."""
    mode = check_choice(mode, "mode", {"max", "average"}, "animate_pooling")
    anim = conv_animation_frames(input_size, pool_size, pool_size if strides is None else strides,
                                 padding, 1, values=values, mode=mode)
    images = draw_frames(anim, cell=cell, font_size=font_size)
    return images if path is None else _save_gif(images, path, duration_ms)
