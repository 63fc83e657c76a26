"""Image files in and out: clear errors for bad input, atomic writes, nothing overwritten by accident."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .errors import DemosaicError, InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _imread(path: str | os.PathLike, flags: int) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    image = cv2.imread(str(p), flags)
    if image is None:
        raise InputError(f"{p}: not a readable image")
    return image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """uint8 H×W×3 RGB; InputError for a missing or unreadable file."""
    return cv2.cvtColor(_imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_mask(path: str | os.PathLike, shape: tuple[int, int]) -> np.ndarray:
    """Bool H×W (nonzero = mosaic to restore), which must match the image's size."""
    mask = _imread(path, cv2.IMREAD_GRAYSCALE)
    if mask.shape != tuple(shape):
        raise InputError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]}, image is {shape[1]}x{shape[0]}")
    return mask > 127


def check_output(path: str | os.PathLike, overwrite: bool, inputs: tuple = (),
                 suffixes: tuple[str, ...] = IMAGE_SUFFIXES, needed: int = 0) -> Path:
    """Refuse, before any work, outputs that exist (without --overwrite), alias an input, or
    have the wrong extension, and output folders that do not exist, cannot be written, or
    have less than `needed` bytes free."""
    p = Path(path)
    if p.suffix.lower() not in suffixes:
        raise InputError(f"{p}: output must end in one of {', '.join(suffixes)}")
    for i in inputs:
        if i is not None and Path(i).exists() and p.exists() and p.resolve() == Path(i).resolve():
            raise InputError(f"{p}: output would overwrite an input")
    if p.exists() and not overwrite:
        raise InputError(f"{p}: exists; pass --overwrite to replace it")
    if not p.parent.is_dir():
        raise InputError(f"{p.parent}: no such folder")
    check_writable(p.parent, needed)
    return p


def check_writable(folder: Path, needed: int = 0) -> None:
    """InputError unless a file can be created in `folder` (tried for real: permissions,
    read-only file systems and root all answer truly) with `needed` bytes free."""
    try:
        fd, probe_file = tempfile.mkstemp(dir=folder, prefix=".demosaic-write-test.")
    except OSError as exc:
        raise InputError(f"{folder}: cannot write here ({exc.strerror})") from None
    os.close(fd)
    os.unlink(probe_file)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise InputError(f"{folder}: {free / 1e6:.0f} MB free, about {needed / 1e6:.0f} MB needed")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary name beside `path`, with its suffix (so writers pick the same format), to
    write in the block; renamed to `path` when the block ends, removed if it fails."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.stem}.", suffix=p.suffix)
    os.close(fd)
    os.unlink(tmp)  # the writer creates the file again, with the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, p)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write RGB (H×W×3) or single-channel (H×W) uint8 atomically."""
    with atomic_output(path) as tmp:
        data = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(tmp), data):
            raise DemosaicError(f"{path}: could not encode the image")
