"""Training input: photos in memory, seeded samples, and a background prefetcher.

Batch `step` is a pure function of (seed, step): `np.random.default_rng([seed, step])`.
A resumed run therefore sees exactly the batches the uninterrupted run would have, with
no generator state to checkpoint. Batches are NumPy, made on a background thread (OpenCV
releases the GIL), so the input pipeline overlaps the TensorFlow step and runs on any
Keras backend.
"""
from __future__ import annotations

import hashlib
import queue
import threading
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from .config import MaskConfig
from .errors import InputError
from .images import IMAGE_SUFFIXES, read_image
from .masks import random_areas
from .mosaic import cell_colour_guide, pixelate_areas

VALIDATION_SEED = 20180420  # fixed, independent of the training seed: one comparable number across runs


SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "motorcycle_right.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png")


def default_training_sources() -> list[str]:
    """The offline photos this project trains on (never plasma-workspace-wallpapers or
    libjxl-testdata: those are kept for evaluation)."""
    sources = [p for p in ("/usr/share/doc/opencv-doc/examples/data", "/usr/share/backgrounds/mate/nature")
               if Path(p).is_dir()]
    try:
        import importlib.util
        spec = importlib.util.find_spec("skimage")
        if spec and spec.submodule_search_locations:
            folder = Path(list(spec.submodule_search_locations)[0]) / "data"
            sources += [str(folder / n) for n in SKIMAGE_PHOTOS if (folder / n).is_file()]
    except ImportError:
        pass
    return sources


def tuning_photos() -> list[Path]:
    """The mate-backgrounds nature photos (trained on; motion and fusion settings are tuned
    on clips made from them, never on `evaluation_photos`)."""
    return sorted(Path("/usr/share/backgrounds/mate/nature").glob("*.jpg"))


def evaluation_photos() -> list[Path]:
    """One landscape photo per KDE Plasma wallpaper (never trained or tuned on): the
    smallest rendition at least 1920 px wide, else the largest."""
    root = Path("/usr/share/wallpapers")
    photos = []
    for folder in sorted(root.glob("*/contents/images")):
        sizes = []
        for f in folder.iterdir():
            try:
                w, h = (int(v) for v in f.stem.split("x"))
            except ValueError:
                continue
            if w > h and f.suffix.lower() in IMAGE_SUFFIXES:
                sizes.append((w, f))
        if sizes:
            wide = [s for s in sorted(sizes) if s[0] >= 1920]
            photos.append((wide[0] if wide else max(sizes))[1])
    return photos


def find_images(paths: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += [f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")
    return sorted(set(files))


def is_validation(path: Path) -> bool:
    """Hold out ~1/8 of the photos, chosen by a hash of the file name: stable as folders grow."""
    return hashlib.sha1(path.name.encode()).digest()[0] % 8 == 0


def read_rgb(path: Path) -> np.ndarray | None:
    """uint8 H×W×3 RGB, or None where the file is not a readable image (skipped in a folder)."""
    try:
        return read_image(path)
    except InputError:
        return None


def load_images(files: Sequence[Path], min_side: int, max_side: int = 768) -> list[np.ndarray]:
    """Decoded photos, large ones shrunk (INTER_AREA) so the short side is at most `max_side`:
    crops then hold scene content at roughly video scale, not 4K texture. Too small ones are skipped."""
    images = []
    for f in files:
        image = read_rgb(f)
        if image is None:
            continue
        short = min(image.shape[:2])
        if short > max_side:
            scale = max_side / short
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if min(image.shape[:2]) >= min_side:
            images.append(image)
    return images


def random_crop(rng: np.random.Generator, image: np.ndarray, size: int) -> np.ndarray:
    """A size×size crop at a random scale (0.5–1× where the photo allows) with a random flip."""
    h, w = image.shape[:2]
    zoom = rng.uniform(max(size / min(h, w), 0.5), 1.0)
    side = int(round(size / zoom))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = image[y:y + side, x:x + side]
    if side != size:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return crop[:, ::-1] if rng.random() < 0.5 else crop


def jpeg(rng: np.random.Generator, image: np.ndarray, quality: tuple[int, int]) -> np.ndarray:
    q = int(rng.integers(quality[0], quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def h264(rng: np.random.Generator, image: np.ndarray, crf: tuple[int, int]) -> np.ndarray:
    """`image` through libx264 at a CRF drawn from `crf` (yuv420p: even sizes only)."""
    from .video import h264_roundtrip

    return h264_roundtrip(image, int(rng.integers(crf[0], crf[1] + 1)))


def make_sample(rng: np.random.Generator, gt: np.ndarray, cfg: MaskConfig, guided: bool) -> dict:
    """One training sample in the model contract's form (float32, [0, 1])."""
    h, w = gt.shape[:2]
    areas = random_areas(rng, h, w, cfg)
    observed, hole = pixelate_areas(gt, areas)
    if guided:
        coding = rng.random()
        if coding < cfg.jpeg_prob:
            observed = jpeg(rng, observed, cfg.jpeg_quality)
        elif coding < cfg.jpeg_prob + cfg.h264_prob:
            observed = h264(rng, observed, cfg.h264_crf)
    sample = {
        "image": (observed if guided else gt).astype(np.float32) / 255.0,
        "valid": (~hole).astype(np.float32)[..., None],
        "gt": gt.astype(np.float32) / 255.0,
    }
    if guided:
        sample["guide"] = cell_colour_guide(observed, areas) / 255.0
        sample["cells"] = cell_labels(areas, h, w)
    return sample


def cell_labels(areas, height: int, width: int) -> np.ndarray:
    """int32 H×W: 0 outside the areas, else 1 + the index of the pixel's cell (unique over areas)."""
    labels = np.zeros((height, width), np.int32)
    offset = 0
    for area in areas:
        if area.grid is None:
            continue
        iy, ix = area.grid.cell_index(height, width)
        iy, ix = iy - iy.min(), ix - ix.min()
        ids = iy[:, None] * (ix.max() + 1) + ix[None, :] + offset + 1
        labels[area.mask] = ids[area.mask]
        offset = int(ids.max())
    return labels


def make_batch(images: Sequence[np.ndarray], seed: int, step: int, batch: int, crop: int,
               cfg: MaskConfig, guided: bool) -> dict:
    rng = np.random.default_rng([seed, step])
    samples = [make_sample(rng, random_crop(rng, images[int(rng.integers(len(images)))], crop), cfg, guided)
               for _ in range(batch)]
    batch_arrays = {k: np.stack([s[k] for s in samples]) for k in samples[0]}
    if "cells" in batch_arrays:  # unique over the batch: sample b's labels shifted past sample b-1's
        cells = batch_arrays["cells"]
        shift = np.concatenate([[0], np.cumsum(cells.reshape(len(cells), -1).max(axis=1))[:-1]]).astype(np.int32)
        batch_arrays["cells"] = np.where(cells > 0, cells + shift[:, None, None], 0)
    return batch_arrays


def prefetch(make, steps: range, depth: int = 3) -> Iterator[tuple[int, dict]]:
    """Yield (step, make(step)) with `depth` batches made ahead on a daemon thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def worker():
        try:
            for step in steps:
                if stop.is_set():
                    return
                q.put((step, make(step)))
        except BaseException as exc:  # surfaced in the consumer
            q.put((None, exc))

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        for _ in steps:
            step, item = q.get()
            if step is None:
                raise item
            yield step, item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)
