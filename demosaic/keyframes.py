"""Detection for video at a fraction of the cost: full detection on keyframes, a cheap check between.

A mosaic in a video mostly stays where it is for seconds while the picture under it changes.
Detecting every frame (network + lattice search, ~100 ms at 768×576 on one core) then
finds the same regions again and again. Here only every `every`-th frame is detected. The
frames between two keyframes take the earlier keyframe's regions, moved in proportion to
how they moved from one keyframe to the next (with their grid, or over the frame's fixed
grid), when

- both keyframes found the same mosaics: each region, moved, overlaps its counterpart by
  `KeyframeConfig.iou` on the same lattice, and neither keyframe has a region the other lacks;
- in each frame between, those regions still look like the mosaic they were: their whole
  cells, and those along each of their four edges, are still flat about as often as on the
  keyframe (`KeyframeConfig.flat_drop`), and the cells just outside each edge have not turned
  flat the way the region's own cells are (`KeyframeConfig.outside_rise`: a mosaic that grew, or
  moved other than the keyframes say).

Otherwise the middle frame is detected too and both halves are judged the same way, so a
mosaic that appears, moves or ends between keyframes costs a few more detections (about
log2(every)) and keeps every frame's own answer where it changed. What it can miss: a mosaic
that appears and ends between two keyframes that agree, shorter than `every` frames (one
shorter than the temporal vote's majority, 3 frames by default, is dropped by the vote
anyway); `every=1` detects every frame.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, NamedTuple

import cv2
import numpy as np

from .config import KeyframeConfig
from .detect import Detection, DetectorConfig, iou, window_cells
from .detect.cellstats import cell_stats
from .detect.combs import same_lattice
from .mosaic import Grid, cell_sums
from .rgbframes import pixels


class _Cells(NamedTuple):
    """Where one region's cells are checked: its box grown by two cells, and which cells count."""
    rows: slice
    cols: slice
    inside: np.ndarray  # bool (cells): whole cells all inside the region
    edges: tuple[np.ndarray, ...]  # bool (cells) each: its inside cells along its left, right, top, bottom edge
    outside: tuple[np.ndarray, ...]  # bool (cells) each: whole cells just outside those edges
    flat_inside: float  # shares of them flat on the keyframe
    flat_edges: tuple[float, ...]
    flat_outside: tuple[float, ...]


def _luma(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None]  # (H, W, 1)


def _flat(luma: np.ndarray, cells: _Cells, region, cfg: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per cell: flat as a mosaic's cells are after coding (`net.cell_std`), and flat as this
    region's own cells are in this frame (twice their median spread, at least 1 level: natural
    content around a region, noisy or smooth, rarely is; the mosaic grown into it is)."""
    _, std, _, _ = cell_stats(luma, region.grid, cells.rows, cells.cols)
    std = std.ravel()
    own = 2 * float(np.median(std[cells.inside])) if cells.inside.any() else cfg.net.cell_std
    return std <= cfg.net.cell_std, std <= max(1.0, min(own, cfg.net.cell_std))


def _share(flat: np.ndarray, cells: np.ndarray) -> float:
    return float(flat[cells].mean()) if cells.any() else 0.0


def _region_cells(luma: np.ndarray, detection: Detection, k: int) -> _Cells:
    """Where region k's cells lie (its shares left at 0: see `_reference`)."""
    region = detection.regions[k]
    height, width = luma.shape[:2]
    x0, y0, x1, y1 = region.bbox
    pw, ph = region.pitch
    rows = slice(max(0, int(y0 - 2 * ph)), min(height, int(np.ceil(y1 + 2 * ph))))
    cols = slice(max(0, int(x0 - 2 * pw)), min(width, int(np.ceil(x1 + 2 * pw))))
    _, _, labels, shape = window_cells(region.grid, (height, width), rows, cols)  # numbered as `cell_stats` does
    counts = np.bincount(labels.ravel(), minlength=shape[0] * shape[1]).reshape(shape)
    own = cell_sums(np.ones(labels.shape + (1,)), labels, counts.size,
                    weights=detection.labels[rows, cols] == k + 1)[0][:, 0].reshape(counts.shape)
    whole = np.zeros(counts.shape, bool)
    whole[1:-1, 1:-1] = True  # the window's outer cells may be cut by it
    inside = whole & (own == counts) & (counts > 0)
    touched, free = own > 0, whole & (own == 0)
    edges, outside = [], []
    for axis, step in ((1, 1), (1, -1), (0, 1), (0, -1)):  # left, right, top, bottom
        # A cell whose neighbour on the near side is not inside / whose neighbour on the far
        # side is the region's (np.roll wraps only into the window's outer, unused cells).
        edges.append((inside & ~np.roll(inside, step, axis)).ravel())
        outside.append((free & np.roll(touched, -step, axis)).ravel())
    return _Cells(rows, cols, inside.ravel(), tuple(edges), tuple(outside), 0.0, (), ())


def _reference(luma: np.ndarray, detection: Detection, k: int, cfg: DetectorConfig) -> _Cells:
    """Region k's cells with their shares of flat cells on the keyframe itself."""
    cells = _region_cells(luma, detection, k)
    flat, like = _flat(luma, cells, detection.regions[k], cfg)
    return cells._replace(flat_inside=_share(flat, cells.inside), flat_edges=tuple(_share(flat, e) for e in cells.edges),
                          flat_outside=tuple(_share(like, o) for o in cells.outside))


def shift_mask(a: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """`a` moved right by dx and down by dy, zeros where nothing moved in."""
    out = np.zeros_like(a)
    h, w = a.shape[:2]
    if abs(dx) < w and abs(dy) < h:
        out[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = a[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out


def _best_shift(a: np.ndarray, b: np.ndarray, search: int = 2) -> tuple[int, int, float]:
    """The whole-px shift (dx, dy) that makes mask `a` overlap `b` most, within `search` px
    of the one that moves its centroid onto `b`'s (edges found a pixel off pull centroids
    about), the nearest of equals; and that IoU."""
    (ya, xa), (yb, xb) = (np.argwhere(m).mean(axis=0) for m in (a, b))
    cx, cy = int(round(xb - xa)), int(round(yb - ya))
    ys, xs = np.nonzero(a | shift_mask(b, -cx, -cy))  # both, in a's place: the window to compare in
    pad = search + 1
    y0, x0 = max(0, ys.min() - pad), max(0, xs.min() - pad)
    y1, x1 = min(a.shape[0], ys.max() + pad + 1), min(a.shape[1], xs.max() + pad + 1)
    window = a[y0:y1, x0:x1]
    offsets = sorted(((dx, dy) for dy in range(-search, search + 1) for dx in range(-search, search + 1)),
                     key=lambda o: abs(o[0]) + abs(o[1]))
    best = (cx, cy, -1.0)
    for ox, oy in offsets:
        dx, dy = cx + ox, cy + oy
        there = b[max(0, y0 + dy):y1 + dy, max(0, x0 + dx):x1 + dx]
        # Near the frame's edge the window may reach out of it: then the whole masks.
        score = iou(window, there) if there.shape == window.shape else iou(shift_mask(a, dx, dy), b)
        if score > best[2]:
            best = (dx, dy, score)
    return best


class Move(NamedTuple):
    dx: int  # px
    dy: int
    with_grid: bool  # the lattice moves with the region (aligned to its corner), or stays (aligned to the frame)


def motion(a: Detection, b: Detection, min_iou: float) -> list[list[Move]] | None:
    """How each region of `a` may have moved to become `b`'s, the likelier first; None where
    the two do not hold the same mosaics: each region of `a`, moved, must overlap the `b`
    region it meets most by `min_iou` and lie on its lattice (moved along, or where it was),
    and `b` must have no other region."""
    if len(a.regions) != len(b.regions):
        return None
    moves, paired = [], set()
    for k, region in enumerate(a.regions):
        own = a.labels == k + 1
        overlap = np.bincount(b.labels[own], minlength=len(b.regions) + 1)[1:]
        if not overlap.any():
            return None
        j = int(overlap.argmax())
        theirs = b.labels == j + 1
        if j in paired:
            return None
        other = b.regions[j]
        dx, dy, fit = _best_shift(own, theirs)
        options = []  # (overlap, move)
        if same_lattice(region.grid, other.grid):
            # A mosaic on the frame's grid (or one that stayed) ...
            options.append((fit, Move(dx, dy, False)))
            # ... or one whose grid moved with it by whole cells: a multiple of the pitch,
            # which the masks' edges (a few px off after coding) may not say.
            gx, gy = (int(round(p * round(d / p))) for d, p in ((dx, region.pitch[0]), (dy, region.pitch[1])))
            if (gx, gy) != (0, 0) and (gx, gy) != (dx, dy):
                options.append((iou(shift_mask(own, gx, gy), theirs), Move(gx, gy, True)))
        else:
            # A mosaic whose grid moved with it: the move is its lattice's, modulo the pitch;
            # the masks say which multiple.
            gx, gy = (int(round(d + p * round((c - d) / p)))
                      for c, d, p in ((dx, other.origin[0] - region.origin[0], region.pitch[0]),
                                      (dy, other.origin[1] - region.origin[1], region.pitch[1])))
            if same_lattice(Grid(region.pitch, (region.origin[0] + gx, region.origin[1] + gy)), other.grid):
                options.append((iou(shift_mask(own, gx, gy), theirs), Move(gx, gy, True)))
        options = sorted((o for o in options if o[0] >= min_iou), key=lambda o: -o[0])
        if not options:
            return None
        moves.append([m for _, m in options])
        paired.add(j)
    return moves


def moved(detection: Detection, moves: list[Move], fraction: float) -> Detection:
    """`detection` with each region moved by `fraction` of its move (rounded to whole px)."""
    steps = [(int(round(fraction * m.dx)), int(round(fraction * m.dy)), m.with_grid) for m in moves]
    if not any(dx or dy for dx, dy, _ in steps):
        return detection
    height, width = detection.mask.shape
    labels = np.zeros_like(detection.labels)
    regions = []
    for k, (region, (dx, dy, with_grid)) in enumerate(zip(detection.regions, steps)):
        labels[shift_mask(detection.labels == k + 1, dx, dy)] = k + 1
        x0, y0, x1, y1 = region.bbox
        origin = (region.origin[0] + dx, region.origin[1] + dy) if with_grid else region.origin
        regions.append(replace(region, bbox=(min(max(x0 + dx, 0), width), min(max(y0 + dy, 0), height),
                                             min(max(x1 + dx, 0), width), min(max(y1 + dy, 0), height)),
                               origin=origin))
    return Detection(labels > 0, tuple(regions), labels)


class KeyframeDetector:
    """Feeds frames in order; hands them back in order with a `Detection` each, up to
    `keyframes.every` frames late (the frames since the last keyframe wait for the next).
    `cfg` is the detector's own (what counts as a flat cell). Frames may be
    `rgbframes.LazyFrame`s: only those it looks at are converted to rgb24."""

    def __init__(self, detect: Callable[[np.ndarray], Detection], cfg: DetectorConfig,
                 keyframes: KeyframeConfig = KeyframeConfig()):
        self.detect, self.cfg, self.keyframes = detect, cfg, keyframes
        self.every = keyframes.every
        self._key: tuple[np.ndarray, Detection] | None = None  # the last keyframe, already handed back
        self._pending: list[np.ndarray] = []
        self.detected = 0  # frames detected in full (the rest took a keyframe's regions)

    @classmethod
    def of_video(cls, detector, lossy: bool, keyframes: KeyframeConfig = KeyframeConfig()) -> "KeyframeDetector":
        """For the frames of one video, with `detector` (a `Detector`)."""
        # Frames of a lossy video hold no uncompressed mosaic (grey ones cannot show it).
        coded = lossy or None
        return cls(lambda frame: detector.detect(frame, coded=coded), detector.cfg, keyframes)

    def push(self, frame: np.ndarray) -> list[tuple[np.ndarray, Detection]]:
        if self._key is None:
            self._key = (frame, self._detect(frame))
            return [self._key]
        self._pending.append(frame)
        return self._close() if len(self._pending) >= self.every else []

    def flush(self) -> list[tuple[np.ndarray, Detection]]:
        return self._close() if self._pending else []

    def wants(self, n: int) -> bool:
        """Whether the `n`-th frame pushed (from 0) will likely be looked at: a keyframe, or
        any while the last keyframe held regions (they are followed between keyframes).
        A hint, read ahead of the pushes (by the thread decoding them)."""
        key = self._key
        return n % self.every == 0 or (key is not None and bool(key[1].regions))

    def _detect(self, frame: np.ndarray) -> Detection:
        self.detected += 1
        return self.detect(pixels(frame))

    def _close(self) -> list[tuple[np.ndarray, Detection]]:
        frames, self._pending = self._pending, []
        last = (frames[-1], self._detect(frames[-1]))
        out = self._fill(self._key, frames[:-1], last) + [last]
        self._key = last
        return out

    def _fill(self, lo, between: list[np.ndarray], hi) -> list[tuple[np.ndarray, Detection]]:
        if not between:
            return []
        options = motion(lo[1], hi[1], self.keyframes.iou)
        if options is not None:
            span = len(between) + 1
            # The likelier move of every region, then the other where a region has two.
            tries = [[o[0] for o in options], [o[-1] for o in options]]
            # The keyframe's own cells, where it has regions (a clean pair needs no look at it).
            luma = _luma(pixels(lo[0])) if lo[1].regions else None
            refs = [_reference(luma, lo[1], k, self.cfg) for k in range(len(lo[1].regions))]
            for moves in tries[:1 if tries[0] == tries[1] else 2]:
                guesses = [(frame, moved(lo[1], moves, (i + 1) / span)) for i, frame in enumerate(between)]
                if self._holds(lo[1], refs, guesses):
                    return guesses
        m = len(between) // 2
        middle = (between[m], self._detect(between[m]))
        return self._fill(lo, between[:m], middle) + [middle] + self._fill(middle, between[m + 1:], hi)

    def _holds(self, detection: Detection, refs: list[_Cells], guesses: list[tuple[np.ndarray, Detection]]) -> bool:
        """Whether the keyframe's regions (`detection`, their cells on the keyframe `refs`),
        where each frame's guess puts them, are still the mosaic they were on the keyframe."""
        if not detection.regions:
            return True
        cfg = self.cfg
        for other, guess in guesses:
            luma = _luma(pixels(other))
            for k, (region, ref) in enumerate(zip(guess.regions, refs)):
                cells = ref if guess is detection else _region_cells(luma, guess, k)
                flat, like = _flat(luma, cells, region, cfg)
                drop, rise = self.keyframes.flat_drop, self.keyframes.outside_rise
                if any(part.any() and _share(flat, part) < was - drop
                       for part, was in zip((cells.inside,) + cells.edges, (ref.flat_inside,) + ref.flat_edges)):
                    return False
                if any(part.any() and _share(like, part) > was + rise for part, was in zip(cells.outside, ref.flat_outside)):
                    return False
        return True
