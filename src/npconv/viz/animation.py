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

Memory stays bounded whatever the input: frames are drawn incrementally (the fixed grid once,
then each frame's window, output cell and sum) and each is quantized and written into the GIF
as it is drawn (:class:`npconv.viz._gif.GifWriter`), never all kept. A frame has at most
:data:`MAX_FRAME_PIXELS` pixels (larger inputs get smaller cells and numbers, down to
:data:`MIN_CELL` pixels), an animation at most :data:`MAX_FRAMES` frames; beyond, a ValueError
says so before anything is drawn.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .._checks import as_pair, check_choice
from ..ops.padding import resolve_padding
from ._util import atomic_save, format_number, load_font, require_pillow

__all__ = [
    "AnimationFrame", "ConvAnimation", "conv_animation_frames", "output_size_formula",
    "animate_convolution", "animate_pooling", "draw_frames", "iter_frames",
    "MAX_FRAME_PIXELS", "MAX_FRAMES", "MIN_CELL",
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
                          values=None, kernel=None, mode="conv",
                          max_frames=None) -> ConvAnimation:
    """The frames of a window sliding over a 2-D input, one per output pixel (row-major).

    input_size: int or ``(H, W)``. kernel_size, stride, dilation: int or pair (pixels).
    padding: int, pair, ``((top, bottom), (left, right))``, ``"valid"`` or ``"same"`` (Keras).
    values: ``(H, W)`` input; default ``np.arange(H * W).reshape(H, W)`` (seed 000's image).
    kernel: ``(kh, kw)``; default the average kernel ``ones / (kh * kw)`` (seed 000).
    mode: ``"conv"``; or ``"max"`` / ``"average"`` pooling, where padding cells never count
    (as npconv's and Keras's pooling) and only ``"valid"``/``"same"`` padding and dilation 1
    are allowed, as in the pooling ops.
    max_frames: refuse (ValueError) an animation with more frames (output pixels) than this,
    before any is made; None: no limit.
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
    if max_frames is not None and out_h * out_w > max_frames:
        raise ValueError(f"{where}: a {h}x{w} input gives a {out_h}x{out_w} output, i.e. "
                         f"{out_h * out_w:,} frames (one per output pixel), more than the "
                         f"{max_frames:,} an animation may have; use a smaller input or a "
                         "larger stride")

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


#: Largest frame drawn, in pixels: bigger inputs get smaller cells (down to MIN_CELL pixels).
MAX_FRAME_PIXELS = 1_500_000
#: Smallest cell, in pixels; an input that needs smaller cells is refused.
MIN_CELL = 4
#: Most frames (output pixels) an animation may have; more is refused before any drawing.
MAX_FRAMES = 4096
#: Most bytes of RGB frames :func:`draw_frames` returns as a list (a GIF is written frame by
#: frame and needs no such list).
MAX_FRAME_LIST_BYTES = 512 * 2**20


@dataclass(frozen=True)
class _Layout:
    cell: int
    width: int
    height: int
    x_in: int
    x_kernel: int
    x_out: int
    top: int
    text_y: int
    font_size: int
    cell_font_size: int | None  # None: the cells are too small for numbers
    fit_labels: bool            # True: skip the numbers wider than their cell


_MARGIN, _GAP, _TOP = 16, 36, 44


def _size_for(anim: ConvAnimation, cell: int, font_size: int, text_w: int) -> tuple[int, int]:
    hp, wp = anim.padded.shape
    oh, ow = anim.output.shape
    kh, kw = anim.kernel.shape if anim.kernel is not None else (0, 0)
    x_out = _MARGIN + wp * cell + _GAP + (kw * cell + _GAP if kw else 0)
    width = max(x_out + ow * cell + _MARGIN, text_w, 360)
    height = _TOP + max(hp, oh, kh) * cell + 16 + 3 * (font_size + 8) + _MARGIN
    return width, height


def _layout(anim: ConvAnimation, cell: int, font_size: int) -> _Layout:
    """Where everything goes; ``cell`` shrinks until a frame has at most MAX_FRAME_PIXELS."""
    where = "animate_convolution"
    if isinstance(cell, bool) or not isinstance(cell, (int, np.integer)) or cell < 1:
        raise ValueError(f"{where}: expected cell to be an int >= 1. Received: cell={cell!r}")
    if isinstance(font_size, bool) or not isinstance(font_size, (int, np.integer)) \
            or font_size < 6:
        raise ValueError(f"{where}: expected font_size to be an int >= 6. Received: "
                         f"font_size={font_size!r}")
    font = load_font(font_size)
    lines = [_title(anim), *anim.formulas, *(_computation_text(anim, f) for f in anim.frames)]
    text_w = int(max(font.getlength(line) for line in lines)) + 2 * _MARGIN
    wanted = cell = int(cell)
    while cell > MIN_CELL and math.prod(_size_for(anim, cell, font_size, text_w)) \
            > MAX_FRAME_PIXELS:
        cell -= 1
    width, height = _size_for(anim, cell, font_size, text_w)
    if width * height > MAX_FRAME_PIXELS:
        raise ValueError(
            f"{where}: a {anim.values.shape[0]}x{anim.values.shape[1]} input (padded "
            f"{anim.padded.shape[0]}x{anim.padded.shape[1]}, output {anim.output.shape[0]}x"
            f"{anim.output.shape[1]}) is too large to draw: even with {MIN_CELL}-pixel cells a "
            f"frame is {width}x{height} pixels, more than {MAX_FRAME_PIXELS:,}; animate a "
            "smaller input")
    if cell == wanted:
        cell_font, fit = font_size - 1, False
    else:  # smaller cells: smaller numbers, and those that do not fit are left out
        size = round((font_size - 1) * cell / wanted)
        cell_font, fit = (size if size >= 6 else None), True
    hp, wp = anim.padded.shape
    kw = anim.kernel.shape[1] if anim.kernel is not None else 0
    x_kernel = _MARGIN + wp * cell + _GAP
    x_out = x_kernel + (kw * cell + _GAP if kw else 0)
    grid_h = max(hp, anim.output.shape[0], anim.kernel.shape[0] if kw else 0) * cell
    return _Layout(cell, width, height, _MARGIN, x_kernel, x_out, _TOP, _TOP + grid_h + 16,
                   font_size, cell_font, fit)


class _Painter:
    """Draws the frames of ``anim`` incrementally: what never changes is drawn once, each
    frame copies the picture of the cells written so far and adds its window, its output
    cell and its sum (a frame is a few dozen cells, not the whole grid)."""

    def __init__(self, anim: ConvAnimation, layout: _Layout):
        Image, ImageDraw, _ = require_pillow("draw_frames")
        self.anim, self.lay, self.ImageDraw = anim, layout, ImageDraw
        self.font = load_font(layout.font_size)
        self.small = load_font(layout.cell_font_size) if layout.cell_font_size else None
        self.pad_text = "0" if anim.mode == "conv" else ""
        base = Image.new("RGB", (layout.width, layout.height), _WHITE)
        draw = ImageDraw.Draw(base)
        title_font = load_font(layout.font_size - 1)
        draw.text((_MARGIN, 8), _title(anim), fill=_BLACK, font=self.font)
        draw.text((layout.x_in, layout.top - 18), "input (grey: padding)", fill=_BLACK,
                  font=title_font)
        hp, wp = anim.padded.shape
        for r in range(hp):
            for c in range(wp):
                self._input_cell(draw, r, c, touched=False)
        if anim.kernel is not None:
            draw.text((layout.x_kernel, layout.top - 18), "kernel", fill=_BLACK, font=title_font)
            kh, kw = anim.kernel.shape
            for r in range(kh):
                for c in range(kw):
                    self._cell(draw, layout.x_kernel, r, c, _TOUCH_FILL,
                               format_number(anim.kernel[r, c]), _BLACK)
        draw.text((layout.x_out, layout.top - 18), "output", fill=_BLACK, font=title_font)
        oh, ow = anim.output.shape
        for r in range(oh):
            for c in range(ow):
                self._cell(draw, layout.x_out, r, c, _WHITE, "", _BLACK)
        y = layout.text_y
        for line in anim.formulas:
            draw.text((_MARGIN, y), line, fill=_BLACK, font=self.font)
            y += layout.font_size + 8
        self.sum_y = y
        self.progress = base  # the output cells written so far

    def _cell(self, draw, x0, r, c, fill, text, text_fill):
        n = self.lay.cell
        box = (x0 + c * n, self.lay.top + r * n, x0 + (c + 1) * n, self.lay.top + (r + 1) * n)
        draw.rectangle(box, fill=fill, outline=(150, 150, 150))
        if text and self.small is not None and (
                not self.lay.fit_labels or self.small.getlength(text) <= n - 2):
            draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text, fill=text_fill,
                      font=self.small, anchor="mm")

    def _input_cell(self, draw, r, c, touched):
        anim = self.anim
        pad = anim.is_padding[r, c]
        if touched:
            fill = _TOUCH_PAD_FILL if pad else _TOUCH_FILL
        else:
            fill = _PAD_FILL if pad else _WHITE
        text = self.pad_text if pad else format_number(anim.padded[r, c])
        self._cell(draw, self.lay.x_in, r, c, fill, text, _GREY_TEXT if pad else _BLACK)

    def _output_cell(self, draw, i, j, fill):
        self._cell(draw, self.lay.x_out, i, j, fill, format_number(self.anim.output[i, j]),
                   _BLACK)

    def _window(self, img, frame):
        """Draw ``frame``'s window, output cell and sum on ``img``."""
        lay, draw = self.lay, self.ImageDraw.Draw(img)
        for r, c in frame.cells:
            self._input_cell(draw, int(r), int(c), touched=True)
        r0, c0 = frame.cells.min(axis=0)
        r1, c1 = frame.cells.max(axis=0) + 1
        n = lay.cell
        draw.rectangle((lay.x_in + c0 * n, lay.top + r0 * n, lay.x_in + c1 * n,
                        lay.top + r1 * n), outline=_TOUCH_LINE, width=3)
        i, j = frame.output_index
        self._output_cell(draw, i, j, _CURRENT_FILL)
        draw.rectangle((lay.x_out + j * n, lay.top + i * n, lay.x_out + (j + 1) * n,
                        lay.top + (i + 1) * n), outline=_TOUCH_LINE, width=3)
        draw.text((_MARGIN, self.sum_y), _computation_text(self.anim, frame), fill=_BLACK,
                  font=self.font)

    def frames(self):
        """Each frame in turn, as a new RGB image."""
        for frame in self.anim.frames:
            img = self.progress.copy()
            self._window(img, frame)
            yield img
            self._output_cell(self.ImageDraw.Draw(self.progress), *frame.output_index,
                              _DONE_FILL)

    def last_frame(self):
        """The last frame, drawn directly (the one with the most colours: a palette)."""
        img = self.progress.copy()
        draw = self.ImageDraw.Draw(img)
        for frame in self.anim.frames[:-1]:
            self._output_cell(draw, *frame.output_index, _DONE_FILL)
        self._window(img, self.anim.frames[-1])
        return img


def iter_frames(anim: ConvAnimation, cell: int = 34, font_size: int = 12):
    """The frames of ``anim`` one at a time, as Pillow RGB images (see the module docstring for
    the legend). ``cell`` is the side of a grid cell in pixels; for large inputs it is made
    smaller so that a frame has at most :data:`MAX_FRAME_PIXELS` pixels (the numbers shrink
    with it, or are left out of cells too small for them: the sum below still shows them)."""
    return _Painter(anim, _layout(anim, cell, font_size)).frames()


def draw_frames(anim: ConvAnimation, cell: int = 34, font_size: int = 12):
    """One Pillow RGB image per frame of ``anim``, as a list (see :func:`iter_frames`).

    A list that would exceed :data:`MAX_FRAME_LIST_BYTES` is refused: write the GIF instead
    (``path=``), which draws and encodes one frame at a time.
    """
    layout = _layout(anim, cell, font_size)
    size = len(anim.frames) * layout.width * layout.height * 3
    if size > MAX_FRAME_LIST_BYTES:
        raise ValueError(
            f"draw_frames: {len(anim.frames)} frames of {layout.width}x{layout.height} RGB "
            f"pixels take {size / 2**20:,.0f} MiB, more than {MAX_FRAME_LIST_BYTES // 2**20} "
            "MiB; give path= to write the GIF frame by frame instead")
    return list(_Painter(anim, layout).frames())


#: The animation formats by file extension: GIF, animated PNG (APNG), animated WebP.
ANIMATION_FORMATS = {".gif": "gif", ".png": "png", ".apng": "png", ".webp": "webp"}


def animation_format(path, where: str) -> str:
    """``"gif"``, ``"png"`` (APNG) or ``"webp"`` from ``path``'s extension, as the plot
    functions pick theirs; any other extension (or none, or WebP without Pillow's WebP
    support) is a ValueError naming ``where`` and the supported extensions."""
    import os

    ext = os.path.splitext(os.fspath(path))[1].lower()
    fmt = ANIMATION_FORMATS.get(ext)
    if fmt == "webp":
        from PIL import features

        if not features.check("webp"):
            raise ValueError(f"{where}: this Pillow has no WebP support; write {path} as .gif "
                             "or .png (animated PNG) instead")
    if fmt is None:
        raise ValueError(f"{where}: cannot tell the animation format from {os.fspath(path)!r}: "
                         "expected a file name ending in .gif, .png or .apng (animated PNG) "
                         f"or .webp. Received extension {ext or '(none)'!r}")
    return fmt


def _save_animation(anim: ConvAnimation, path, duration_ms: int, cell: int, font_size: int,
                    where: str) -> str:
    """Draw and encode the frames into ``path`` (atomically), in the format its extension
    names (:func:`animation_format`), checked before anything is drawn.

    A GIF is written one frame at a time (:class:`npconv.viz._gif.GifWriter`): memory stays
    bounded. Pillow's APNG and WebP writers read their frames from a list (they go over them
    twice), so those hold every frame: palette frames for APNG (1 byte a pixel), RGB for
    WebP (3 bytes; lossless, so the numbers stay sharp), refused beyond
    :data:`MAX_FRAME_LIST_BYTES` with a hint to write a GIF.
    """
    fmt = animation_format(path, where)
    Image, _, _ = require_pillow(where)
    layout = _layout(anim, cell, font_size)
    size = len(anim.frames) * layout.width * layout.height * (3 if fmt == "webp" else 1)
    if fmt != "gif" and size > MAX_FRAME_LIST_BYTES:
        raise ValueError(
            f"{where}: {len(anim.frames)} frames of {layout.width}x{layout.height} pixels "
            f"take {size / 2**20:,.0f} MiB in Pillow's {fmt.upper()} writer, more than "
            f"{MAX_FRAME_LIST_BYTES // 2**20} MiB; write a .gif (encoded frame by frame)")
    painter = _Painter(anim, layout)
    # One shared palette (taken from the frame with the most highlights) keeps pixels that do
    # not change identical between frames, so the GIF stores only each frame's changed box.
    palette = painter.last_frame().quantize(colors=48, dither=Image.Dither.NONE)

    def quantized():
        for image in painter.frames():
            yield image.quantize(palette=palette, dither=Image.Dither.NONE)

    def write(tmp):
        if fmt == "gif":
            from ._gif import GifWriter

            with open(tmp, "wb") as fh:
                gif = GifWriter(fh, (layout.width, layout.height), duration_ms)
                for image in quantized():
                    gif.add(image)
                gif.close()
            return
        frames = list(quantized() if fmt == "png" else painter.frames())
        extra = {"lossless": True} if fmt == "webp" else {}
        frames[0].save(tmp, format=fmt.upper(), save_all=True, append_images=frames[1:],
                       duration=int(duration_ms), loop=0, **extra)

    return atomic_save(path, write, example=f"conv.{fmt}")


def _check_duration(duration_ms):
    if isinstance(duration_ms, bool) or not isinstance(duration_ms, numbers.Real) \
            or not 10 <= duration_ms <= 655_350:
        raise ValueError("animate_convolution: expected duration_ms between 10 and 655350. "
                         f"Received: duration_ms={duration_ms!r}")


def animate_convolution(input_size, kernel_size, stride=1, padding=0, dilation=1, path=None,
                        values=None, kernel=None, duration_ms=700, cell=34, font_size=12):
    """Animate a convolution window sliding over a small input (seed 000's GIFs).

    Arguments as :func:`conv_animation_frames`; defaults show seed 000's ``6x6`` ``np.arange``
    image under the ``3x3`` average kernel. Writes an animation with one frame per output
    pixel to ``path`` (atomically), in the format of its extension: ``.gif`` (drawn and
    encoded one frame at a time), ``.png``/``.apng`` (animated PNG) or ``.webp``; any other
    extension is a ValueError before anything is drawn. Returns the path; with
    ``path=None`` returns the list of Pillow images instead. At most :data:`MAX_FRAMES` frames;
    large inputs are drawn with smaller cells (see :func:`iter_frames`). Needs Pillow.
    """
    require_pillow("animate_convolution")
    _check_duration(duration_ms)
    anim = conv_animation_frames(input_size, kernel_size, stride, padding, dilation,
                                 values=values, kernel=kernel, mode="conv",
                                 max_frames=MAX_FRAMES)
    if path is None:
        return draw_frames(anim, cell=cell, font_size=font_size)
    return _save_animation(anim, path, duration_ms, cell, font_size, "animate_convolution")


def animate_pooling(input_size, pool_size, strides=None, padding="valid", mode="max", path=None,
                    values=None, duration_ms=700, cell=34, font_size=12):
    """Animate a pooling window (``mode="max"`` or ``"average"``); strides default to the pool
    size, padding is ``"valid"`` or ``"same"`` (padding cells never count). Returns the path, or
    the frames when ``path=None``. Limits as :func:`animate_convolution`. Needs Pillow."""
    require_pillow("animate_pooling")
    mode = check_choice(mode, "mode", {"max", "average"}, "animate_pooling")
    _check_duration(duration_ms)
    anim = conv_animation_frames(input_size, pool_size, pool_size if strides is None else strides,
                                 padding, 1, values=values, mode=mode, max_frames=MAX_FRAMES)
    if path is None:
        return draw_frames(anim, cell=cell, font_size=font_size)
    return _save_animation(anim, path, duration_ms, cell, font_size, "animate_pooling")
