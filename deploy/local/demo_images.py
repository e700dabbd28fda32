"""Flat illustrations of the demo catalog's products, drawn as small PNGs with the standard library.

The catalog accepts PNG, JPEG, GIF and WebP only (no SVG: it can carry scripts), so the demo draws
its pictures here instead of shipping binary files: a few shapes per kind of product on a 4-colour
palette, a couple of KB each.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

SIZE = 320
RGB = tuple[int, int, int]
# Palette indices
BACKGROUND, BODY, ACCENT, SHADOW, LIGHT = range(5)


class Canvas:
    """One palette index per pixel; shapes are filled row by row."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self.pixels = bytearray(size * size)

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: int) -> None:
        for y in range(max(y0, 0), min(y1, self.size)):
            start = y * self.size
            self.pixels[start + x0 : start + x1] = bytes([colour]) * (x1 - x0)

    def ellipse(
        self, cx: int, cy: int, rx: int, ry: int, colour: int, rows: tuple[int, int] = (0, SIZE)
    ) -> None:
        """Filled; `rows` keeps only the rows in [first, last) (half an ellipse, a dome)."""
        for y in range(max(cy - ry, rows[0], 0), min(cy + ry + 1, rows[1], self.size)):
            dy = (y - cy) / ry
            half = int(rx * (1 - dy * dy) ** 0.5)
            start = y * self.size
            self.pixels[start + cx - half : start + cx + half + 1] = bytes([colour]) * (2 * half + 1)

    def png(self, palette: list[RGB]) -> bytes:
        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.size : (y + 1) * self.size]) for y in range(self.size)
        )
        header = struct.pack(">IIBBBBB", self.size, self.size, 8, 3, 0, 0, 0)  # 8-bit palette
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"PLTE", b"".join(bytes(c) for c in palette))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def _shadow(c: Canvas, width: int = 100) -> None:
    c.ellipse(160, 262, width, 14, SHADOW)


def _mug(c: Canvas) -> None:
    _shadow(c, 90)
    c.ellipse(218, 165, 46, 50, ACCENT)
    c.ellipse(218, 165, 26, 30, BACKGROUND)
    c.rect(90, 90, 210, 262, BODY)
    c.rect(90, 90, 210, 106, ACCENT)
    c.rect(108, 124, 118, 230, LIGHT)


def _bowl(c: Canvas) -> None:
    _shadow(c, 110)
    c.ellipse(160, 140, 130, 120, BODY, rows=(140, 262))
    c.ellipse(160, 140, 130, 22, ACCENT)
    c.ellipse(160, 144, 112, 14, SHADOW)
    c.ellipse(118, 200, 12, 30, LIGHT)


def _backpack(c: Canvas) -> None:
    _shadow(c, 100)
    c.ellipse(160, 60, 36, 30, ACCENT)
    c.ellipse(160, 60, 22, 18, BACKGROUND)
    c.ellipse(160, 120, 80, 50, BODY, rows=(70, 120))
    c.rect(80, 120, 241, 262, BODY)
    c.rect(100, 180, 221, 250, ACCENT)
    c.rect(100, 176, 221, 184, LIGHT)


def _water_bottle(c: Canvas) -> None:
    _shadow(c, 70)
    c.rect(138, 40, 183, 84, ACCENT)
    c.ellipse(160, 120, 44, 36, BODY, rows=(84, 120))
    c.rect(116, 120, 205, 262, BODY)
    c.rect(116, 160, 205, 210, ACCENT)
    c.rect(130, 120, 140, 250, LIGHT)


def _notebook(c: Canvas) -> None:
    _shadow(c, 100)
    c.rect(84, 50, 240, 262, BODY)
    c.rect(84, 50, 108, 262, ACCENT)
    c.rect(136, 100, 216, 140, LIGHT)
    c.rect(222, 50, 230, 180, ACCENT)


def _desk_lamp(c: Canvas) -> None:
    _shadow(c, 80)
    c.ellipse(160, 250, 70, 16, ACCENT)
    c.rect(152, 150, 168, 250, ACCENT)
    c.rect(152, 142, 232, 156, ACCENT)
    c.ellipse(226, 150, 60, 70, BODY, rows=(80, 150))
    c.ellipse(226, 150, 60, 10, ACCENT)
    c.ellipse(226, 166, 18, 10, LIGHT)


def _beanie(c: Canvas) -> None:
    _shadow(c, 100)
    c.ellipse(160, 60, 26, 26, LIGHT)
    c.ellipse(160, 200, 110, 130, BODY, rows=(70, 200))
    c.rect(50, 196, 271, 258, ACCENT)
    for x in range(66, 260, 28):
        c.rect(x, 196, x + 8, 258, BODY)


def _tote_bag(c: Canvas) -> None:
    _shadow(c, 100)
    c.ellipse(160, 110, 56, 70, ACCENT, rows=(0, 110))
    c.ellipse(160, 110, 42, 56, BACKGROUND, rows=(0, 110))
    c.rect(70, 104, 251, 262, BODY)
    c.rect(116, 150, 205, 210, LIGHT)


DRAW: dict[str, Callable[[Canvas], None]] = {
    "mug": _mug,
    "bowl": _bowl,
    "backpack": _backpack,
    "water bottle": _water_bottle,
    "notebook": _notebook,
    "desk lamp": _desk_lamp,
    "beanie": _beanie,
    "tote bag": _tote_bag,
}


def _darker(colour: RGB, factor: float) -> RGB:
    r, g, b = (int(v * factor) for v in colour)
    return r, g, b


def illustration(kind: str, body: RGB, background: RGB) -> bytes:
    """A PNG of `kind` (a key of DRAW) in the `body` colour on a `background`."""
    canvas = Canvas()
    canvas.rect(0, 0, SIZE, SIZE, BACKGROUND)
    DRAW[kind](canvas)
    return canvas.png([background, body, _darker(body, 0.7), _darker(background, 0.88), (255, 255, 255)])
