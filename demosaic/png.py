"""PNG chunks: what OpenCV does not read or write.

OpenCV 5.0 reads a grey+alpha PNG (colour type 4) as BGRA and cannot write one (two channels
are refused), nor read back the ICC profile it writes. This module reads the chunks
(`colour_type`, `icc_profile`) and writes grey+alpha files itself (`encode_grey_alpha`), with the
ancillary chunks (EXIF, XMP, ICC) OpenCV makes for the same metadata.
"""
from __future__ import annotations

import zlib
from typing import Iterator

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY_ALPHA = 4  # IHDR colour type
ROWS_PER_PASS = 256  # rows filtered and compressed at a time: a large picture's memory stays small


def chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of each chunk of a PNG file's bytes (none if it is not one)."""
    if data[:8] != SIGNATURE:
        return
    i = 8
    while i + 8 <= len(data):
        length, kind = int.from_bytes(data[i:i + 4], "big"), data[i + 4:i + 8]
        yield kind, data[i + 8:i + 8 + length]
        if kind == b"IEND":
            return
        i += 12 + length


def colour_type(data: bytes) -> int | None:
    """The IHDR's colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA), or None."""
    for kind, body in chunks(data):
        return body[9] if kind == b"IHDR" and len(body) == 13 else None
    return None


def icc_profile(data: bytes) -> bytes | None:
    """The ICC profile in a PNG's iCCP chunk (name, NUL, method 0, zlib data), or None."""
    for kind, body in chunks(data):
        if kind == b"iCCP":
            try:
                return zlib.decompress(body[body.index(b"\0") + 2:])
            except (ValueError, zlib.error):
                return None
        if kind == b"IDAT":
            return None  # iCCP comes before the image data
    return None


def ancillary(data: bytes) -> bytes:
    """A PNG's chunks other than the header, image data and end, as they are in the file."""
    out = []
    for kind, body in chunks(data):
        if kind not in (b"IHDR", b"IDAT", b"IEND"):
            out.append(_chunk(kind, body))
    return b"".join(out)


def encode_grey_alpha(pixels: np.ndarray, extra: bytes = b"", level: int = 6) -> bytes:
    """A grey+alpha PNG (colour type 4) of `pixels` (H×W×2 uint8 or uint16: grey, alpha), with
    the `extra` chunks (`ancillary`'s form) before the image data. Each row takes the PNG
    filter whose output has the least sum of absolute values (libpng's own heuristic)."""
    if pixels.ndim != 3 or pixels.shape[2] != 2 or pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError("grey+alpha pixels must be H×W×2 uint8 or uint16")
    height, width = pixels.shape[:2]
    depth = 8 * pixels.dtype.itemsize
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([depth, GREY_ALPHA, 0, 0, 0])
    step = 2 * pixels.dtype.itemsize  # bytes a pixel: what the filters look back by
    packer = zlib.compressobj(level)
    data = []
    above = np.zeros((1, width * step), np.uint8)
    for y in range(0, height, ROWS_PER_PASS):
        rows = pixels[y:y + ROWS_PER_PASS].astype(pixels.dtype.newbyteorder(">")).view(np.uint8)
        rows = rows.reshape(rows.shape[0], width * step)
        data.append(packer.compress(_filtered(rows, above, step).tobytes()))
        above = rows[-1:]
    data.append(packer.flush())
    return SIGNATURE + _chunk(b"IHDR", header) + extra + _chunk(b"IDAT", b"".join(data)) + _chunk(b"IEND", b"")


def _filtered(rows: np.ndarray, above: np.ndarray, step: int) -> np.ndarray:
    """Rows (n, bytes) filtered (PNG spec section 9), each led by its filter type byte;
    `above`: the row before the first (zeros at the top of the image)."""
    x = rows.astype(np.int16)
    b = np.concatenate([above, rows[:-1]]).astype(np.int16)  # the byte above
    a = np.zeros_like(x)
    a[:, step:] = x[:, :-step]  # the byte to the left, a pixel back
    c = np.zeros_like(x)
    c[:, step:] = b[:, :-step]  # above and to the left
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    options = np.stack([x, x - a, x - b, x - (a + b) // 2, x - paeth]).astype(np.uint8)  # (5, n, bytes), mod 256
    cost = np.abs(options.view(np.int8).astype(np.int32)).sum(axis=2)  # (5, n)
    best = cost.argmin(axis=0)
    chosen = options[best, np.arange(rows.shape[0])]
    return np.concatenate([best.astype(np.uint8)[:, None], chosen], axis=1)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")
