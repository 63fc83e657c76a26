"""A video's own decoded planes, so that what is not restored leaves exactly as it came.

The detector and the restorer work on rgb24. Converting a whole YUV frame to RGB and back
costs every pixel a rounding (and swscale's default rounding darkens by about a level), and
8-bit RGB cannot hold 10-bit video. So the pipeline decodes each frame to the input's own
planes (bit depth, chroma subsampling) for the output, and converts to rgb24 only the frames
the detector and restorer look at (`rgbframes`; a passthrough run looks at none, and where
the planes path does not apply a second decoder gives rgb24, `video.FrameReader`). Only the pixels the restorer changed are
converted back, with the input's matrix and range: their luma, and the chroma of every chroma
block that holds one of them. Everything else is the decoder's own samples, bit for bit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .mosaic import channel_absdiff

# (Kr, Kb) of the YUV matrices swscale knows (`demosaic.video._matrix` names).
_MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722), "bt2020": (0.2627, 0.0593),
             "smpte240m": (0.212, 0.087), "fcc": (0.30, 0.11)}

_PLANAR = re.compile(r"^yuv(j?)(420|422|444|440)p(?:(9|10|12|14|16)le)?$")


@dataclass(frozen=True)
class PlaneFormat:
    """A planar YUV pixel format: what the input's frames are decoded to and encoded from."""

    pix_fmt: str
    depth: int  # bits per sample
    sub_x: int  # chroma subsampling: 2 for 4:2:x, else 1
    sub_y: int
    full_range: bool  # yuvj*: full range, whatever the tags say

    @property
    def dtype(self) -> type:
        return np.uint8 if self.depth == 8 else np.dtype("<u2").type

    def sizes(self, height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """(luma (h, w), chroma (h, w))."""
        return (height, width), (-(-height // self.sub_y), -(-width // self.sub_x))

    def frame_bytes(self, height: int, width: int) -> int:
        (h, w), (ch, cw) = self.sizes(height, width)
        return (h * w + 2 * ch * cw) * np.dtype(self.dtype).itemsize


def plane_format(pix_fmt: str) -> PlaneFormat | None:
    """The format for a decoder's pix_fmt, or None where the planes path does not apply
    (RGB, grey, packed, alpha, or formats no encoder here writes)."""
    m = _PLANAR.match(pix_fmt or "")
    if not m:
        return None
    j, sub, depth = m.group(1), m.group(2), int(m.group(3) or 8)
    sub_x, sub_y = {"420": (2, 2), "422": (2, 1), "444": (1, 1), "440": (1, 2)}[sub]
    return PlaneFormat(pix_fmt, depth, sub_x, sub_y, bool(j))


@dataclass(frozen=True)
class Planes:
    """One frame's Y, U, V planes as decoded."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @classmethod
    def from_bytes(cls, buf: bytes, fmt: PlaneFormat, height: int, width: int) -> "Planes":
        (h, w), (ch, cw) = fmt.sizes(height, width)
        a = np.frombuffer(buf, fmt.dtype)
        y = a[:h * w].reshape(h, w)
        u = a[h * w:h * w + ch * cw].reshape(ch, cw)
        v = a[h * w + ch * cw:h * w + 2 * ch * cw].reshape(ch, cw)
        return cls(y, u, v)

    def tobytes(self) -> bytes:
        return b"".join(np.ascontiguousarray(p).tobytes() for p in (self.y, self.u, self.v))


def rgb_to_yuv(rgb: np.ndarray, matrix: str, full_range: bool, depth: int) -> np.ndarray:
    """(…, 3) RGB 0–255 → (…, 3) float Y, Cb, Cr in the format's code values (unrounded)."""
    kr, kb = _MATRICES.get(matrix, _MATRICES["bt601"])
    x = rgb.astype(np.float64) / 255.0
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    cb = (x[..., 2] - y) / (2 * (1 - kb))
    cr = (x[..., 0] - y) / (2 * (1 - kr))
    scale = 2 ** (depth - 8)
    if full_range:
        top = 2 ** depth - 1
        return np.stack([y * top, cb * top + 128 * scale, cr * top + 128 * scale], axis=-1)
    return np.stack([(16 + 219 * y) * scale, (128 + 224 * cb) * scale, (128 + 224 * cr) * scale], axis=-1)


def paste_changed(planes: Planes, restored: np.ndarray, original: np.ndarray, fmt: PlaneFormat, matrix: str,
                  full_range: bool) -> Planes:
    """New planes: `planes` with the pixels where `restored` differs from `original` (both
    the rgb24 frames the pipeline saw) converted back; their chroma blocks whole."""
    changed = channel_absdiff(restored, original) > 0
    if not changed.any():
        return planes
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    # Out to whole chroma blocks, so every block holding a changed pixel is converted whole.
    y0, y1 = rows[0] // fmt.sub_y * fmt.sub_y, min(-(-(rows[-1] + 1) // fmt.sub_y) * fmt.sub_y, changed.shape[0])
    x0, x1 = cols[0] // fmt.sub_x * fmt.sub_x, min(-(-(cols[-1] + 1) // fmt.sub_x) * fmt.sub_x, changed.shape[1])
    yuv = rgb_to_yuv(restored[y0:y1, x0:x1], matrix, full_range or fmt.full_range, fmt.depth)
    top = 2 ** fmt.depth - 1
    y = planes.y.copy()
    box = changed[y0:y1, x0:x1]
    y[y0:y1, x0:x1][box] = np.clip(np.rint(yuv[..., 0][box]), 0, top).astype(fmt.dtype)
    u, v = planes.u.copy(), planes.v.copy()
    ch, cw = -(-(y1 - y0) // fmt.sub_y), -(-(x1 - x0) // fmt.sub_x)
    blocks = _block_mean(box.astype(np.float64), fmt, ch, cw) > 0
    cy0, cx0 = y0 // fmt.sub_y, x0 // fmt.sub_x
    for k, plane in ((1, u), (2, v)):
        mean = _block_mean(yuv[..., k], fmt, ch, cw)
        plane[cy0:cy0 + ch, cx0:cx0 + cw][blocks] = np.clip(np.rint(mean[blocks]), 0, top).astype(fmt.dtype)
    return Planes(y, u, v)


def _block_mean(a: np.ndarray, fmt: PlaneFormat, ch: int, cw: int) -> np.ndarray:
    """Mean over each chroma block (sub_y × sub_x; a block cut by the frame's edge: its part)."""
    h, w = a.shape
    pad = np.pad(a, ((0, ch * fmt.sub_y - h), (0, cw * fmt.sub_x - w)), mode="edge")
    return pad.reshape(ch, fmt.sub_y, cw, fmt.sub_x).mean(axis=(1, 3))
