"""An image file kept as it came: depth, channels, alpha, metadata and the file's own quality.

The detector and the restorer work on 8-bit RGB. A `Picture` holds the file's pixels as
stored (grey, grey+alpha, BGR or BGRA; 8 or 16 bits; EXIF orientation not applied, so the
layout and its orientation tag travel together), its EXIF, XMP and ICC chunks, and, for lossy
files, the quality to write it back at. Only pixels the restorer changed are written into the
stored pixels; alpha is kept as it was. A grey+alpha PNG, which OpenCV reads as BGRA and
cannot write, is read as grey+alpha and written by `demosaic.png`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from . import png
from .errors import DemosaicError, InputError
from .images import atomic_output

# JPEG's luminance table at quality 50 (ITU T.81 Annex K), in natural order, and the
# zigzag order tables are stored in: the IJG library scales this table for its quality.
_LUMA_50 = np.array([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
                     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
                     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
_ZIGZAG = np.array([0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13,
                    6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45,
                    38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63])


@dataclass(frozen=True)
class Picture:
    """An image as stored in its file, and what writing it back in kind needs."""

    pixels: np.ndarray  # H×W (grey), H×W×2 (grey+alpha), H×W×3 (BGR) or H×W×4 (BGRA); uint8 or uint16
    metadata: tuple[tuple[int, bytes], ...]  # (cv2.IMAGE_METADATA_*, chunk): EXIF, XMP, ICC
    params: tuple[int, ...]  # cv2.imwrite parameters that keep the file's kind (quality, sampling, lossless)
    params_for: tuple[str, ...] = ()  # the output suffixes they apply to (the input's format)

    @property
    def grey(self) -> bool:
        return self.pixels.ndim == 2 or self.pixels.shape[2] == 2

    @property
    def colour(self) -> np.ndarray:
        """The picture's colour channels as stored (H×W grey or H×W×3 BGR), without alpha."""
        if self.pixels.ndim == 2:
            return self.pixels
        return self.pixels[..., 0] if self.grey else self.pixels[..., :3]

    @property
    def alpha(self) -> np.ndarray | None:
        """The alpha channel as stored (H×W), or None."""
        if self.pixels.ndim == 2 or self.pixels.shape[2] in (1, 3):
            return None
        return self.pixels[..., -1]

    def with_alpha(self, alpha: np.ndarray) -> "Picture":
        """A new picture with `alpha` (H×W, the stored depth) as its alpha channel."""
        pixels = self.pixels.copy()
        pixels[..., -1] = alpha
        return replace(self, pixels=pixels)

    @property
    def rgb(self) -> np.ndarray:
        """8-bit RGB (H×W×3), what the detector and the restorer see."""
        return self.rgb_in(slice(None), slice(None))

    def rgb_in(self, rows: slice, cols: slice) -> np.ndarray:
        """`rgb` over (rows, cols) only."""
        c = self.colour[rows, cols]
        if c.dtype == np.uint16:
            c = ((c.astype(np.uint32) + 128) // 257).astype(np.uint8)
        return np.repeat(c[..., None], 3, axis=2) if c.ndim == 2 else cv2.cvtColor(c, cv2.COLOR_BGR2RGB)

    def with_rgb(self, restored: np.ndarray) -> "Picture":
        """A new picture where the pixels that `restored` (8-bit RGB) changed against `rgb` are
        written in the stored depth and channels; every other pixel and alpha as they were."""
        return self.with_rgb_in([(slice(None), slice(None), restored)])

    def with_rgb_in(self, crops: Iterable[tuple[slice, slice, np.ndarray]], alpha: np.ndarray | None = None) -> "Picture":
        """`with_rgb` crop by crop: (rows, cols, 8-bit RGB over them), no array the picture's
        size but the new pixels. Where crops overlap, each writes only what it changed. With
        `alpha` (H×W, the stored depth), that as the alpha channel."""
        pixels = self.pixels.copy()
        if alpha is not None:
            pixels[..., -1] = alpha
        if pixels.ndim == 2:
            colour = pixels
        else:
            colour = pixels[..., 0] if self.grey else pixels[..., :3]  # a view: writes go into `pixels`
        for rows, cols, restored in crops:
            changed = np.any(restored != self.rgb_in(rows, cols), axis=2)
            if colour.ndim == 2:
                values = cv2.cvtColor(restored, cv2.COLOR_RGB2GRAY)[changed]
            else:
                values = restored[changed][:, ::-1]
            colour[rows, cols][changed] = values.astype(colour.dtype) * (257 if colour.dtype == np.uint16 else 1)
        return replace(self, pixels=pixels)


def read_picture(path: str | os.PathLike) -> Picture:
    """The file's pixels as stored, its metadata and its writing parameters; InputError for
    a missing or unreadable file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    pixels, types, chunks = cv2.imreadWithMetadata(str(p), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        raise InputError(f"{p}: not a readable image")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{p}: {pixels.dtype} samples are not supported (8 or 16 bits)")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    data = p.read_bytes()
    if pixels.ndim == 3 and pixels.shape[2] == 4 and png.colour_type(data) == png.GREY_ALPHA:
        pixels = np.ascontiguousarray(pixels[..., [0, 3]])  # OpenCV's BGRA of a grey+alpha file: B = G = R
    metadata = tuple((int(t), np.asarray(c, np.uint8).tobytes())
                     for t, c in zip(() if types is None else types, () if chunks is None else chunks))
    if data[:8] == png.SIGNATURE and not any(t == cv2.IMAGE_METADATA_ICCP for t, _ in metadata):
        profile = png.icc_profile(data)  # OpenCV 5.0 writes a PNG's profile but cannot read it back
        if profile is not None:
            metadata += ((cv2.IMAGE_METADATA_ICCP, profile),)
    kinds = {b"\xff\xd8": (".jpg", ".jpeg"), b"RIFF": (".webp",)}
    return Picture(pixels, metadata, _params(data, p), kinds.get(data[:2], kinds.get(data[:4], ())))


def write_picture(path: str | os.PathLike, picture: Picture) -> None:
    """Write atomically, with the picture's metadata and, when the output has the input's
    format, its file's writing parameters. Grey+alpha stays grey+alpha in a PNG (written by
    `demosaic.png`); other formats take it as BGRA, as OpenCV writes a grey+alpha file it read."""
    types = [t for t, _ in picture.metadata]
    chunks = [np.frombuffer(c, np.uint8) for _, c in picture.metadata]
    pixels = picture.pixels
    grey_alpha = pixels.ndim == 3 and pixels.shape[2] == 2
    with atomic_output(path) as tmp:
        if grey_alpha and Path(path).suffix.lower() == ".png":
            # The metadata chunks OpenCV makes, from a one-pixel grey picture of the same depth.
            ok, made = cv2.imencodeWithMetadata(".png", pixels[:1, :1, 0], types, chunks, [])
            if not ok:
                raise DemosaicError(f"{path}: could not encode the image's metadata")
            tmp.write_bytes(png.encode_grey_alpha(pixels, png.ancillary(made.tobytes())))
            return
        if grey_alpha:
            pixels = cv2.merge([pixels[..., 0], pixels[..., 0], pixels[..., 0], pixels[..., 1]])
        params = list(picture.params) if Path(path).suffix.lower() in picture.params_for else []
        if not cv2.imwriteWithMetadata(str(tmp), pixels, types, chunks, params):
            raise DemosaicError(f"{path}: could not encode the image")


def _params(data: bytes, path: Path) -> tuple[int, ...]:
    """How to write the file back in kind: a JPEG at the quality its tables were made with
    and its chroma sampling; a lossy WebP at the quality that gives the input's size; a
    lossless WebP lossless. Other formats are lossless and need nothing."""
    if data[:2] == b"\xff\xd8":
        return _jpeg_params(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp_params(path, data)
    return ()


def _jpeg_segments(data: bytes):
    """(marker, payload) of each JPEG segment before the image data."""
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        yield marker, data[i + 4:i + 2 + length]
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            return
        i += 2 + length


def jpeg_quality(data: bytes) -> int | None:
    """The IJG quality (1–100) whose scaled Annex K table is nearest the file's luminance
    table; None without one. Exact for files written by libjpeg and its descendants."""
    for marker, payload in _jpeg_segments(data):
        if marker != 0xDB or not payload:
            continue
        precision = payload[0] >> 4
        width = 2 if precision else 1
        zigzag = np.frombuffer(payload[1:1 + 64 * width], ">u2" if width == 2 else np.uint8).astype(int)
        if zigzag.size != 64:
            return None
        table = np.empty(64, int)
        table[_ZIGZAG] = zigzag
        best, error = None, None
        for q in range(1, 101):
            scale = 5000 // q if q < 50 else 200 - 2 * q
            candidate = np.clip((_LUMA_50 * scale + 50) // 100, 1, 255)
            e = int(np.abs(candidate - table).sum())
            if error is None or e < error:
                best, error = q, e
        return best
    return None


def _jpeg_params(data: bytes) -> tuple[int, ...]:
    params: list[int] = []
    quality = jpeg_quality(data)
    if quality is not None:
        params += [cv2.IMWRITE_JPEG_QUALITY, quality]
    for marker, payload in _jpeg_segments(data):
        if marker in (0xC0, 0xC1, 0xC2) and len(payload) >= 9 and payload[5] == 3:
            h, v = payload[7] >> 4, payload[7] & 15  # the first component's sampling factors
            sampling = {(1, 1): cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444, (2, 1): cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
                        (2, 2): cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420, (1, 2): cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440}
            if (h, v) in sampling:
                params += [cv2.IMWRITE_JPEG_SAMPLING_FACTOR, sampling[(h, v)]]
            break
    return tuple(params)


def _webp_params(path: Path, data: bytes) -> tuple[int, ...]:
    chunks, i = set(), 12
    while i + 8 <= len(data):  # RIFF chunks: fourcc, little-endian size, payload padded to even
        chunks.add(data[i:i + 4])
        i += 8 + int.from_bytes(data[i + 4:i + 8], "little") + (data[i + 4] & 1)
    if b"VP8 " not in chunks:
        return (cv2.IMWRITE_WEBP_QUALITY, 101)  # lossless (OpenCV: above 100)
    # No quality is stored in a lossy WebP: the one that gives the input's size, by bisection
    # (size grows with quality), so the output is about as big and as good as what came in.
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    lo, hi = 1, 100
    while lo < hi:
        q = (lo + hi + 1) // 2
        ok, encoded = cv2.imencode(".webp", pixels, [cv2.IMWRITE_WEBP_QUALITY, q])
        if ok and encoded.size <= len(data):
            lo = q
        else:
            hi = q - 1
    return (cv2.IMWRITE_WEBP_QUALITY, lo)
