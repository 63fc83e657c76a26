"""`demosaic train-detector`: the learned segmenter (demosaic.detect_net), from scratch.

Samples: the synthesiser's mosaics (shapes, cell sizes 4-64 px, every mode, frame- and
region-aligned grids, some scaled after pixelation) on random crops of the training photos,
plus clean crops, hard clean content and, where asked (`graphics`), drawn flat graphics, clean
or under mosaics; each left uncompressed or coded as video would
be (see `make_samples`). They are made once, seeded, in chunks under OUT/samples (a killed run keeps the chunks
it finished). Batch `step` draws its samples and flips from `default_rng([seed, step])`,
so a resumed run sees exactly the batches an uninterrupted one would have.

Loss: per-pixel binary cross-entropy, except on IGNORE pixels: mosaic cells over content
that was already flat, which look exactly like it. With border maps (DetectNetConfig.borders)
also the cross-entropy of "first or last column (row) of its cell" over the mosaic pixels.

Labels are one byte per pixel: bits 0-1 the class (0 clean, MOSAIC, IGNORE), bit 2 a
column border, bit 3 a row border (`COLUMN_EDGE`, `ROW_EDGE`).
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .config import DetectTrainConfig, MaskConfig, from_dict, to_dict
from .data import find_images, is_validation, jpeg, load_images, random_crop
from .errors import InputError
from .masks import random_regions
from .mosaic import MODES, cell_edges, pixelate
from .training import STATE, checkpoint_on_interrupt, find_checkpoint, load_optimizer, replace_folder
from .ffmpeg import ffmpeg_binary, run_tool

MOSAIC, IGNORE = 1, 2  # sample classes (label bits 0-1); 0 is clean
CLASS, COLUMN_EDGE, ROW_EDGE = 3, 4, 8  # label bit masks: the class, first/last column or row of a cell
CHUNK = 500  # samples per stored chunk



def _negative(rng: np.random.Generator, size: int) -> np.ndarray:
    """Hard clean content the photos hold too rarely: tiles, flat and ramped areas, dark noise."""
    kind = rng.integers(4)
    if kind == 0:  # tiles / grid paper: regular lines, no flat cells of a mean colour
        period = int(rng.integers(8, 48))
        img = np.full((size, size, 3), rng.integers(120, 240, 3), np.float32)
        img[::period] = rng.integers(0, 120, 3)
        img[:, ::period] = rng.integers(0, 120, 3)
    elif kind == 1:  # chessboard photographed: blurred, not axis-aligned
        period = int(rng.integers(8, 48))
        yy, xx = np.mgrid[:size, :size].astype(np.float32)
        a = rng.uniform(-0.3, 0.3)
        u, v = xx * np.cos(a) - yy * np.sin(a), xx * np.sin(a) + yy * np.cos(a)
        board = ((np.floor(u / period) + np.floor(v / period)) % 2)[..., None]
        img = 60 + 140 * board * np.ones(3, np.float32)
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.7, 2.0))
    elif kind == 2:  # a ramp (sky, wall) with a little noise
        ramp = np.linspace(rng.uniform(0, 255), rng.uniform(0, 255), size, dtype=np.float32)
        img = np.repeat((ramp[:, None] if rng.random() < 0.5 else ramp[None, :])[..., None], 3, -1) * np.ones((size, size, 3))
        img = img * rng.uniform(0.6, 1.0, 3) + rng.normal(0, rng.uniform(0.3, 3), (size, size, 3))
    else:  # a dark, noisy, nearly flat scene: coding makes blocks of it
        img = rng.normal(rng.uniform(5, 40), rng.uniform(0.5, 4), (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def flat_graphic(rng: np.random.Generator, size: int) -> np.ndarray:
    """Drawn graphics with no mosaic: flat colours from a small palette, edges on a lattice.

    Slides, charts, captions, test cards and cartoons are flat cells on a lattice too, and the
    photos hold none: rectangles (half snapped to a random lattice), bar charts, colour bars,
    rows and grids of swatches, text, outlines, circles and lines on a flat or ramped ground,
    drawn crisp or at twice the size and shrunk (anti-aliased edges). Unlike a mosaic's
    cells, no cell here holds a mix of the colours around it."""
    palette = rng.integers(0, 256, (int(rng.integers(2, 9)), 3))
    if rng.random() < 0.3:  # test-card primaries
        palette = np.concatenate([palette, 255 * rng.integers(0, 2, (4, 3)) * rng.uniform(0.75, 1.0)])

    def colour() -> tuple[int, ...]:
        return tuple(int(c) for c in palette[rng.integers(len(palette))])

    big = 2 if rng.random() < 0.3 else 1
    s = size * big
    img = np.empty((s, s, 3), np.uint8)
    img[:] = colour()
    if rng.random() < 0.15:  # a ramped ground
        ramp = np.linspace(0.0, 1.0, s, dtype=np.float32)[:, None, None] if rng.random() < 0.5 else \
            np.linspace(0.0, 1.0, s, dtype=np.float32)[None, :, None]
        img = np.clip(img * (1 - ramp) + np.array(colour(), np.float32) * ramp, 0, 255).astype(np.uint8)
    pitch = int(rng.integers(4, 65)) * big
    off = int(rng.integers(pitch))

    def snap(v: int) -> int:  # onto the drawing's lattice
        return int(off + pitch * np.round((v - off) / pitch))

    aa = cv2.LINE_AA if rng.random() < 0.5 else cv2.LINE_8
    for _ in range(int(rng.integers(2, 16))):
        kind = rng.integers(7)
        x0, y0 = (int(v) for v in rng.integers(-s // 4, s, 2))
        w, h = (int(v) for v in rng.integers(pitch, max(pitch + 1, s // 2), 2))
        if kind == 0:  # a rectangle, snapped half the time
            if rng.random() < 0.5:
                x0, y0, w, h = snap(x0), snap(y0), max(pitch, snap(w)), max(pitch, snap(h))
            cv2.rectangle(img, (x0, y0), (x0 + w - 1, y0 + h - 1), colour(), -1)
        elif kind == 1:  # a bar chart on a baseline
            bw, gap, base = max(2, snap(w // 4) or pitch), int(rng.integers(0, 2)) * pitch, y0 + h
            for k in range(int(rng.integers(2, 8))):
                top = base - int(rng.integers(1, 8)) * max(pitch // 2, 2)
                cv2.rectangle(img, (x0 + k * (bw + gap), top), (x0 + k * (bw + gap) + bw - 1, base), colour(), -1)
        elif kind == 2:  # colour bars across a band
            n = int(rng.integers(3, 9))
            for k in range(n):
                cv2.rectangle(img, (k * s // n, y0), ((k + 1) * s // n - 1, y0 + h), colour(), -1)
        elif kind == 3:  # a row or grid of swatches
            q = max(2, int(rng.integers(2, 25)) * big)
            for i in range(int(rng.integers(1, 4))):
                for j in range(int(rng.integers(2, 12))):
                    cv2.rectangle(img, (x0 + j * q, y0 + i * q), (x0 + (j + 1) * q - 1, y0 + (i + 1) * q - 1), colour(), -1)
        elif kind == 4:  # text
            text = "".join(chr(int(c)) for c in rng.integers(33, 123, int(rng.integers(2, 16))))
            cv2.putText(img, text, (x0, y0 + h // 4), int(rng.choice([0, 1, 2, 3, 4, 6, 7])),
                        rng.uniform(0.4, 2.5) * big, colour(), int(rng.integers(1, 4)) * big, aa)
        elif kind == 5:  # a circle or ellipse, filled or outlined
            cv2.ellipse(img, (x0, y0), (w // 2, h // 2), 0, 0, 360, colour(),
                        -1 if rng.random() < 0.6 else int(rng.integers(1, 5)) * big, aa)
        else:  # a line or an outline
            if rng.random() < 0.5:
                cv2.line(img, (x0, y0), (x0 + w, y0 + h if rng.random() < 0.3 else y0), colour(), int(rng.integers(1, 5)) * big, aa)
            else:
                cv2.rectangle(img, (x0, y0), (x0 + w, y0 + h), colour(), int(rng.integers(1, 5)) * big, aa)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) if big > 1 else img


def mosaic_sample(rng: np.random.Generator, photo: np.ndarray, size: int, max_cell: int = 64):
    """One training sample from `photo`: a `size`² crop with synthesised mosaics, and its targets."""
    scale = rng.uniform(0.7, 1.3) if rng.random() < 0.1 else 1.0  # scaled after pixelation: fractional pitch
    side = int(round(size / scale))
    crop = random_crop(rng, photo, min(side, min(photo.shape[:2])))
    if crop.shape[0] != side:
        crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.1:  # dark scenes, where coding blocks are strongest
        crop = (crop.astype(np.float32) * rng.uniform(0.15, 0.5)).astype(np.uint8)
    cfg = MaskConfig(min_cell=4, max_cell=max_cell, max_regions=2, min_area=0.08, max_area=0.5)
    regions = random_regions(rng, side, side, cfg)
    regions = [replace(r, mode=str(rng.choice(MODES))) if rng.random() < 0.15 else r for r in regions]
    mosaic, truth = pixelate(crop, regions)
    scale = size / side  # the grids as the sample shows them, after any scaling
    edges = np.zeros((size, size), np.uint8)
    for r in regions:  # later regions cover earlier ones, as in pixelate
        inside = r.rasterise(side, side).astype(np.uint8)
        if side != size:
            inside = cv2.resize(inside, (size, size), interpolation=cv2.INTER_NEAREST)
        g = r.grid()
        cols = cell_edges(size, g.pitch[0], g.origin[0], scale)
        rows = cell_edges(size, g.pitch[1], g.origin[1], scale)
        bits = np.where(cols[None, :], COLUMN_EDGE, 0) | np.where(rows[:, None], ROW_EDGE, 0)
        edges = np.where(inside > 0, bits, edges).astype(np.uint8)
    # Cells over content that was already flat look exactly like it: no detector can see them,
    # and teaching the network to flag them would teach it to flag flat areas. They are
    # labelled IGNORE (no loss) rather than mosaic.
    changed = np.abs(mosaic.astype(np.int16) - crop).max(axis=-1) >= 3
    reach = int(max(max(r.cell) for r in regions))
    seen = cv2.dilate(changed.astype(np.uint8), np.ones((reach, reach), np.uint8)).astype(bool)
    label = np.where(truth, np.where(seen, MOSAIC, IGNORE), 0).astype(np.uint8)
    if side != size:
        mosaic = cv2.resize(mosaic, (size, size), interpolation=cv2.INTER_LINEAR)
        label = cv2.resize(label, (size, size), interpolation=cv2.INTER_NEAREST)
    return mosaic, label | np.where(label > 0, edges, 0).astype(np.uint8)


FOCUS_CELL, FOCUS_CRFS = 12, (20, 32)  # the focus's small cells and H.264 rates (see make_samples)
OLD_CODECS, OLD_QSCALES = ("mjpeg", "mpeg2video"), (4, 31)  # the focus's clean clips: codecs, qscale range


def make_samples(rng: np.random.Generator, photos, count: int, size: int = 256,
                 mosaic_share: float = 0.7, crfs: tuple[int, int] = (15, 36), focus: float = 0.0,
                 graphics: float = 0.0):
    """`count` (frame, label) pairs, uint8 (N, size, size, 3) and uint8 (N, size, size): the
    class (0 clean, MOSAIC or IGNORE) and the cell-border bits (see the module's doc).

    Codings, as video arrives: a fifth uncompressed, a tenth JPEG, a sixth MPEG-4 part 2
    (XVID's codec: flat 8×8 blocks that look most like a mosaic), an eighth low-resolution
    video scaled up (shrunk 2-3×, coded with Cinepak, MPEG-4 or H.264, enlarged again: its
    coding blocks become large flat blocks), the rest libx264 at a CRF drawn from `crfs`.
    Samples sharing a coding are coded as one clip of unrelated frames, so nearly every
    frame is an I-frame, as in the benchmark.

    `focus` (0 by default: the recipe above, draw for draw) is the share of samples made
    instead where the detector is weakest: three in four a mosaic of small cells (4 to
    FOCUS_CELL px) through H.264 at a CRF in FOCUS_CRFS, one in four a clean crop through
    an older DCT codec at a low rate (MPEG-2 or Motion JPEG, OLD_CODECS: flat 8×8 blocks).

    `graphics` (0 by default, likewise) is the share of the recipe's samples drawn instead
    as flat graphics (`flat_graphic`), half of them clean and half under the synthesiser's
    mosaics, coded as the rest: what tells a mosaic from drawn flat cells is its cells'
    mixed colours, not the lattice."""
    frames = np.zeros((count, size, size, 3), np.uint8)
    masks = np.zeros((count, size, size), np.uint8)
    coding = []
    for i in range(count):
        if focus > 0 and rng.random() < focus:
            photo = photos[int(rng.integers(len(photos)))]
            if rng.random() < 0.75:
                frames[i], masks[i] = mosaic_sample(rng, photo, size, FOCUS_CELL)
                coding.append(("libx264", int(rng.integers(FOCUS_CRFS[0], FOCUS_CRFS[1] + 1)),
                               str(rng.choice(["veryfast", "medium"])), 1.0))
            else:
                frames[i] = random_crop(rng, photo, size)
                coding.append((str(rng.choice(OLD_CODECS)), int(rng.integers(OLD_QSCALES[0], OLD_QSCALES[1] + 1)), "", 1.0))
            continue
        if graphics > 0 and rng.random() < graphics:
            if rng.random() < 0.5:
                frames[i] = flat_graphic(rng, size)
            else:  # drawn large enough for the sample's crop after any scaling
                frames[i], masks[i] = mosaic_sample(rng, flat_graphic(rng, size * 3 // 2), size)
        elif rng.random() < mosaic_share:
            frames[i], masks[i] = mosaic_sample(rng, photos[int(rng.integers(len(photos)))], size)
        elif rng.random() < 0.15:
            frames[i] = _negative(rng, size)
        else:
            frames[i] = random_crop(rng, photos[int(rng.integers(len(photos)))], size)
        u = rng.random()
        if u < 0.2:
            coding.append(None)
        elif u < 0.3:
            coding.append("jpeg")
        elif u < 0.47:
            coding.append(("mpeg4", int(rng.integers(3, 32)), "", 1.0))
        elif u < 0.6:
            codec = str(rng.choice(["cinepak", "mpeg4", "libx264"]))
            quality = {"cinepak": 0, "mpeg4": int(rng.integers(2, 20)), "libx264": int(rng.integers(18, 36))}[codec]
            coding.append((codec, quality, "medium", float(rng.choice([2.0, 2.4, 3.0]))))
        else:
            coding.append(("libx264", int(rng.integers(crfs[0], crfs[1] + 1)), str(rng.choice(["veryfast", "medium"])), 1.0))
    for i, c in enumerate(coding):
        if c == "jpeg":
            frames[i] = jpeg(rng, frames[i], (50, 95))
    for key in {c for c in coding if isinstance(c, tuple)}:
        idx = [i for i, c in enumerate(coding) if c == key]
        codec, quality, preset, shrink = key
        if shrink == 1.0:
            frames[idx] = coded_clip(frames[idx], codec, quality, preset)
            continue
        small = 4 * int(round(size / shrink / 4))  # Cinepak codes 4×4 blocks
        clip = np.stack([cv2.resize(f, (small, small), interpolation=cv2.INTER_AREA) for f in frames[idx]])
        clip = coded_clip(clip, codec, quality, preset)
        for i, f in zip(idx, clip):
            how = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST)[int(rng.integers(4))]
            frames[i] = cv2.resize(f, (size, size), interpolation=how)
    return frames, masks


def coded_clip(frames: np.ndarray, codec: str, quality: int, preset: str) -> np.ndarray:
    """(N, H, W, 3) RGB frames through a codec as one clip, and back: libx264 at CRF
    `quality` (yuv420p), mpeg4, mpeg2video or mjpeg at qscale `quality` (4:2:0), or Cinepak
    (its own RGB VQ)."""
    n, h, w = frames.shape[:3]
    qscale = ["-q:v", str(quality)]
    opts = {"libx264": ["-pix_fmt", "yuv420p", "-crf", str(quality), "-preset", preset],
            "mpeg4": ["-pix_fmt", "yuv420p", *qscale], "mpeg2video": ["-pix_fmt", "yuv420p", *qscale],
            "mjpeg": ["-pix_fmt", "yuvj420p", *qscale], "cinepak": []}[codec]
    encoded = run_tool([ffmpeg_binary(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-i", "pipe:", "-c:v", codec, *opts, "-f", "nut", "pipe:"], frames.tobytes())
    decoded = run_tool([ffmpeg_binary(), "-v", "error", "-f", "nut", "-i", "pipe:",
                    "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"], encoded)
    return np.frombuffer(decoded, np.uint8).reshape(n, h, w, 3)


def chunk_paths(out: Path, name: str, k: int) -> tuple[Path, Path]:
    """(frames, targets) .npy files of sample chunk `k` of `name` ("train" or "val") in `out`."""
    return out / f"{name}-{k:04d}-frames.npy", out / f"{name}-{k:04d}-targets.npy"


def make_chunk(out: Path, name: str, k: int, photos, count: int, seed: int, crop: int, focus: float = 0.0,
               graphics: float = 0.0) -> None:
    """Synthesise chunk `k` of `count` samples (seeded by `seed`, `k` and the split) into
    `chunk_paths`; the frames file is written last, so its presence marks the chunk done."""
    rng = np.random.default_rng([seed, k, 0 if name == "train" else 1])
    frames, labels = make_samples(rng, photos, count, crop, focus=focus, graphics=graphics)
    for path, array in zip(chunk_paths(out, name, k)[::-1], (labels, frames)):  # frames last: they mark it done
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, array)
        tmp.replace(path)


def _chunks(out: Path, name: str, photos, count: int, seed: int, crop: int, log) -> tuple[np.ndarray, np.ndarray]:
    """All `count` samples, made chunk by chunk (each from its own seeded generator, one
    process per core) and stored as .npy under `out`; chunks already there are reused."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    out.mkdir(parents=True, exist_ok=True)
    sizes = [min(CHUNK, count - k) for k in range(0, count, CHUNK)]
    todo = [k for k in range(len(sizes)) if not all(p.exists() for p in chunk_paths(out, name, k))]
    if todo:
        with ProcessPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1)) as pool:
            jobs = [pool.submit(make_chunk, out, name, k, photos, sizes[k], seed, crop) for k in todo]
            for done, job in enumerate(as_completed(jobs), 1):
                job.result()
                log(f"{name} samples: chunk {done}/{len(todo)} made")
    frames = [np.load(chunk_paths(out, name, k)[0], allow_pickle=False) for k in range(len(sizes))]
    labels = [np.load(chunk_paths(out, name, k)[1], allow_pickle=False) for k in range(len(sizes))]
    return np.concatenate(frames), np.concatenate(labels)


def _bce(target, logits):
    """Per-element binary cross-entropy from logits (numerically stable form)."""
    from keras import ops
    return ops.maximum(logits, 0.0) - logits * target + ops.log1p(ops.exp(-ops.abs(logits)))


def masked_bce(labels, logits, border_weight: float = 1.0):
    """Mean binary cross-entropy of the mosaic output over the pixels not labelled IGNORE;
    with border outputs plus `border_weight` × that of both border maps over the mosaic pixels."""
    from keras import ops
    labels = labels[..., 0]
    cls = labels - 4.0 * ops.floor(labels / 4.0)
    weight = ops.cast(ops.not_equal(cls, IGNORE), "float32")
    mosaic = ops.cast(ops.equal(cls, MOSAIC), "float32")
    loss = ops.sum(_bce(mosaic, logits[..., 0]) * weight) / (ops.sum(weight) + 1.0)
    if logits.shape[-1] == 3:
        column = ops.floor(labels / 4.0) - 2.0 * ops.floor(labels / 8.0)
        row = ops.floor(labels / 8.0)
        edges = _bce(column, logits[..., 1]) + _bce(row, logits[..., 2])
        loss = loss + border_weight * ops.sum(edges * mosaic) / (ops.sum(mosaic) + 1.0)
    return loss


def swap_edges(labels: np.ndarray) -> np.ndarray:
    """Labels of the transposed frame: column and row border bits trade places."""
    return (labels & CLASS) | np.where(labels & COLUMN_EDGE, ROW_EDGE, 0) | np.where(labels & ROW_EDGE, COLUMN_EDGE, 0)


def augment(rng: np.random.Generator, frames: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A batch (N, H, W, 3) / (N, H, W, 1) flipped left-right and transposed, each half the
    time (transposed, rows and columns of cells trade places), as contiguous float32."""
    if rng.random() < 0.5:
        frames, labels = frames[:, :, ::-1], labels[:, :, ::-1]
    if rng.random() < 0.5:
        frames, labels = frames.transpose(0, 2, 1, 3), swap_edges(labels.transpose(0, 2, 1, 3))
    return np.ascontiguousarray(frames, np.float32), np.ascontiguousarray(labels, np.float32)


def scores(labels: np.ndarray, logits: np.ndarray) -> dict:
    """IoU and false-positive share (of clean pixels) over pixels not labelled IGNORE; with
    border outputs also the mean IoU of both border maps over the mosaic pixels."""
    logits = logits.reshape(labels.shape + (-1,))
    cls = labels & CLASS
    found, truth, counted = logits[..., 0] > 0, cls == MOSAIC, cls != IGNORE
    union = ((found | truth) & counted).sum()
    out = {"iou": float((found & truth).sum() / max(union, 1)),
           "fp": float((found & ~truth & counted).sum() / max((~truth & counted).sum(), 1))}
    if logits.shape[-1] == 3:
        ious = []
        for channel, bit in ((1, COLUMN_EDGE), (2, ROW_EDGE)):
            f, t = (logits[..., channel] > 0) & truth, ((labels & bit) > 0) & truth
            ious.append((f & t).sum() / max((f | t).sum(), 1))
        out["border_iou"] = float(np.mean(ious))
    return out


class DetectTrainer:
    def __init__(self, cfg: DetectTrainConfig, log: Callable[[str], None] = print):
        import keras

        from .detect_net import build

        self.cfg, self.log, self.out = cfg, log, Path(cfg.out)
        files = find_images(cfg.data)
        train_files = [f for f in files if not is_validation(f)]
        val_files = [f for f in files if is_validation(f)] or train_files[-1:]
        train_photos, val_photos = load_images(train_files, cfg.crop), load_images(val_files, cfg.crop)
        if not train_photos or not val_photos:
            raise InputError(f"need images of at least {cfg.crop}² px for training and validation in {cfg.data}")
        self.frames, self.labels = _chunks(self.out / "samples", "train", train_photos, cfg.samples, cfg.seed, cfg.crop, log)
        self.val_frames, self.val_labels = _chunks(self.out / "samples", "val", val_photos, cfg.val_samples,
                                                   cfg.seed, cfg.crop, log)
        keras.utils.set_random_seed(cfg.seed)
        self.model = build(cfg.net)
        schedule = keras.optimizers.schedules.CosineDecay(cfg.lr, cfg.steps, alpha=0.05)
        self.optimizer = keras.optimizers.Adam(schedule)
        self.model.compile(optimizer=self.optimizer, loss=lambda y, z: masked_bce(y, z, cfg.border_weight))
        self.optimizer.build(self.model.trainable_variables)
        self.step, self.history, self.wall = 0, [], 0.0

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.cfg.seed, step])
        idx = np.sort(rng.integers(0, len(self.frames), self.cfg.batch))
        return augment(rng, self.frames[idx], self.labels[idx][..., None])

    def validate(self) -> dict:
        logits = self.model.predict(self.val_frames.astype(np.float32), batch_size=32, verbose=0)
        return {f"val_{k}": v for k, v in scores(self.val_labels, logits).items()}

    def save_checkpoint(self) -> None:
        tmp = self.out / "checkpoint.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        np.savez(tmp / "weights.npz", **{v.path: v.numpy() for v in self.model.weights})
        np.savez(tmp / "optimizer.npz", *[np.asarray(v.numpy()) for v in self.optimizer.variables])
        (tmp / STATE).write_text(json.dumps({"step": self.step, "wall_seconds": self.wall,
                                             "config": to_dict(self.cfg), "history": self.history}, indent=1))
        replace_folder(tmp, self.out / "checkpoint")

    def restore_checkpoint(self) -> bool:
        folder = find_checkpoint(self.out)
        if folder is None:
            return False
        state = json.loads((folder / STATE).read_text())
        saved = to_dict(from_dict(DetectTrainConfig, state["config"]))
        if {k: v for k, v in saved.items() if k != "steps"} != {k: v for k, v in to_dict(self.cfg).items() if k != "steps"}:
            raise InputError(f"{self.out}: its checkpoint is for another config; use a new --out")
        with np.load(folder / "weights.npz", allow_pickle=False) as arrays:
            for v in self.model.weights:
                v.assign(arrays[v.path])
        load_optimizer(self.optimizer, folder / "optimizer.npz")
        self.step, self.wall, self.history = state["step"], state["wall_seconds"], state["history"]
        return True

    def run(self) -> dict:
        c = self.cfg
        if self.restore_checkpoint():
            self.log(f"resuming {self.out} at step {self.step}/{c.steps}")
        started, losses = time.monotonic() - self.wall, []
        with checkpoint_on_interrupt(self):
            while self.step < c.steps:
                losses.append(float(self.model.train_on_batch(*self.batch(self.step))))
                self.step += 1
                self.wall = time.monotonic() - started
                if self.step % c.val_every == 0 or self.step == c.steps:
                    val = self.validate()
                    self.history.append({"step": self.step, "wall_seconds": round(self.wall, 1),
                                         "train_loss": float(np.mean(losses)), **val})
                    losses = []
                    self.log(f"step {self.step}/{c.steps}: train loss {self.history[-1]['train_loss']:.4f}, "
                             f"val IoU {val['val_iou']:.3f}, false positives {100 * val['val_fp']:.2f}%"
                             + (f", border IoU {val['val_border_iou']:.3f}" if "val_border_iou" in val else "")
                             + f", {self.wall:.0f} s")
                    self.save_checkpoint()
                elif self.step % c.checkpoint_every == 0:
                    self.save_checkpoint()
        return {"step": self.step, "wall_seconds": self.wall, "history": self.history}

    def export(self, path: Path, extra: dict | None = None) -> Path:
        from .artifact import save_detector

        card = {"training": {"config": to_dict(self.cfg), "steps": self.step, "wall_seconds": round(self.wall, 1),
                             "history": self.history, "final_validation": self.history[-1] if self.history else None,
                             **(extra or {})}}
        return save_detector(self.model, self.cfg.net, path, card)


def train_detector(cfg: DetectTrainConfig, export_to: str | None = None, log=print, card_extra: dict | None = None) -> dict:
    trainer = DetectTrainer(cfg, log)
    result = trainer.run()
    result["model_card"] = str(trainer.export(Path(export_to) if export_to else Path(cfg.out) / "model", card_extra))
    return result
