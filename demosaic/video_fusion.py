"""Video-native restoration (issue #9): each frame's mosaic region solved from the frames
around it, where the picture moves against the cell grid.

Two parts, one on each side of the model:

- `Fuser`, a pipeline stage after the temporal vote: it guards each frame's regions (the
  verified cells of `demosaic.safety`), links them into tracks (`demosaic.tracks`), ends the
  window at a scene cut, and hands each frame on with its `Window`: the frames within ±R of
  it in the same shot. A frame's window depends only on those frames (and the vote's), so a
  segment that decodes R plus the vote radius of overlap sees the same windows as one run.
- `fuse_region`, called by the restorer once the model has run: the region's hidden picture
  is solved from every window frame's whole verified cells and the clean pixels around them
  (`demosaic.fusion`: box model, least squares, each frame registered against the running
  estimate), with the model's output as the prior. The limit of what the data may leave
  unexplained is the region's coding noise (the spread of its cells' own pixels). One robust
  re-solve lowers the weight of cells beyond it (an occluder, a part that moves on its own);
  a region whose frames disagree over most of it is not fused. A cell of the frame takes the
  fused picture only where, on every fused frame, it explains the cells covering it within
  the limit (or at most `gain` of the single-frame result's residual); elsewhere it keeps
  the single-frame result. The restorer then runs the same bounded step and last check on it.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from .config import FusionConfig, SafetyConfig
from .fusion import Observation, fuse, label_residuals, observe, sample, solve
from .mosaic import Grid, GridArea
from .safety import Guarded, guard_frame
from .temporal import CUT_THRESHOLD, is_cut, signature
from .tracks import Box, Tracker


class Seen(NamedTuple):
    """One frame as fusion sees it."""

    frame: np.ndarray  # uint8 RGB as decoded
    areas: tuple[GridArea, ...]  # every area given (their pixels are never clean evidence)
    regions: tuple[GridArea, ...]  # the verified regions (`safety.guard_frame`'s areas)
    tracks: tuple[int, ...]  # the track of each region
    shot: int  # increases at every scene cut


class Window(NamedTuple):
    """A frame and its neighbours within ±R in the same shot, in frame order."""

    frames: tuple[Seen, ...]
    centre: int  # this frame's index in `frames`
    guarded: Guarded | None  # this frame's guards, bounds included (kept for this frame only: they are frame-sized)

    @property
    def seen(self) -> Seen:
        return self.frames[self.centre]


class Fuser:
    """The stage: (frame, areas) in, in order → (frame, areas, Window) out, R frames later."""

    def __init__(self, cfg: FusionConfig, safety: SafetyConfig | None, cut_threshold: float = CUT_THRESHOLD):
        """`cut_threshold`: the temporal vote's, so both see the same shots."""
        self.cfg, self.safety, self.cut_threshold = cfg, safety, cut_threshold
        self._tracker = Tracker()
        self._seen: list[Seen] = []  # the last 2R+1 frames
        self._guards: list[Guarded | None] = []  # each waiting frame's guards, in step with `_seen`
        self._done = 0  # frames of `_seen` already handed on
        self._shot = 0
        self._signature: np.ndarray | None = None

    def push(self, frame: np.ndarray, areas: Sequence[GridArea]) -> list[tuple[np.ndarray, list[GridArea], Window]]:
        sig = signature(frame)
        cut = is_cut(self._signature, sig, self.cut_threshold)
        self._signature = sig
        self._shot += cut
        guarded = guard_frame(frame, areas, self.safety) if self.safety is not None and areas else None
        regions = tuple(guarded.areas) if guarded else ()
        tracked = self._tracker.push(list(regions), cut)
        self._seen.append(Seen(frame, tuple(areas), regions, tuple(t.track for t in tracked), self._shot))
        self._guards.append(guarded)
        return self._ready(final=False)

    def flush(self) -> list[tuple[np.ndarray, list[GridArea], Window]]:
        return self._ready(final=True)

    def _ready(self, final: bool) -> list[tuple[np.ndarray, list[GridArea], Window]]:
        r, out = self.cfg.radius, []
        while self._done < len(self._seen):
            t = self._done
            later = self._seen[t + 1:t + r + 1]
            if not final and len(later) < r and all(s.shot == self._seen[t].shot for s in later):
                break  # wait for the frames after it (a cut ends the wait)
            shot = self._seen[t].shot
            lo = max(0, t - r)
            ids = [i for i in range(lo, min(len(self._seen), t + r + 1)) if self._seen[i].shot == shot]
            window = Window(tuple(self._seen[i] for i in ids), ids.index(t), self._guards[t])
            out.append((self._seen[t].frame, list(self._seen[t].areas), window))
            self._guards[t] = None  # handed on with its window
            self._done += 1
        drop = max(0, self._done - r)
        self._seen, self._guards, self._done = self._seen[drop:], self._guards[drop:], self._done - drop
        return out


class FusedRegion(NamedTuple):
    """One region's fused picture, ready to go through the bounded step and last check."""

    slices: tuple[slice, slice]  # the canvas, in frame coordinates
    picture: np.ndarray  # (h, w, C) float: fused where accepted, the prior elsewhere
    frames: int  # frames fused
    cells: int  # the region's whole cells on this frame
    fused_cells: int  # of them, those that took the fused picture


def _canvas(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The mask's box grown by `margin` px, within the frame."""
    box = Box.of(mask)
    h, w = mask.shape
    return (slice(max(0, box.y0 - margin), min(h, box.y1 + margin)),
            slice(max(0, box.x0 - margin), min(w, box.x1 + margin)))


def whole_cells(area: GridArea, sl: tuple[slice, slice]) -> np.ndarray:
    """(h, w) int over the canvas `sl`: the cell of each pixel of the area's whole cells (every
    pixel of the cell masked, none on the canvas's edge), -1 elsewhere. A cell the mask cuts
    holds the mean of an unknown part (cut-cell conventions differ): it is not evidence."""
    mask = area.mask[sl]
    h, w = mask.shape
    ox, oy = area.grid.origin
    iy, ix = Grid(area.grid.pitch, (ox - sl[1].start, oy - sl[0].start)).cell_index(h, w)
    iy, ix = iy - iy.min(), ix - ix.min()
    labels = iy[:, None] * (ix.max() + 1) + ix[None, :]
    n = int(labels.max()) + 1
    total = np.bincount(labels.ravel(), minlength=n)
    inside = np.bincount(labels[mask], minlength=n)
    edge = np.zeros(n, bool)
    for strip in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        edge[strip] = True
    whole = (inside == total) & (total > 0) & ~edge
    return np.where(whole[labels], labels, -1).astype(np.int32)


# Clean pixels this close to any mosaic are not evidence: chroma subsampling and coding carry
# the mosaic's colour into them.
BLEED = 3


def _observation(seen: Seen, area: GridArea, sl: tuple[slice, slice]) -> Observation:
    h, w = seen.frame.shape[:2]
    y0, x0 = max(0, sl[0].start - BLEED), max(0, sl[1].start - BLEED)
    around = (slice(y0, min(h, sl[0].stop + BLEED)), slice(x0, min(w, sl[1].stop + BLEED)))
    near = np.zeros((around[0].stop - y0, around[1].stop - x0), np.uint8)
    for a in seen.areas:
        near |= a.mask[around].view(np.uint8)
    near = cv2.dilate(near, np.ones((2 * BLEED + 1, 2 * BLEED + 1), np.uint8))
    inner = (slice(sl[0].start - y0, sl[0].stop - y0), slice(sl[1].start - x0, sl[1].stop - x0))
    return observe(seen.frame[sl], whole_cells(area, sl), near[inner] == 0)


# Lattices closer than this (px, modulo the pitch) sample the same cell means.
SAME_PHASE = 0.25


def new_phases(area: GridArea, others: Sequence[GridArea], shifts: Sequence[tuple[float, float]],
               tolerance: float = SAME_PHASE) -> bool:
    """Whether any frame's cells sample the picture at another offset than `area`'s: frame s
    shows the picture moved by its shift, so its lattice lies at (its origin + shift) in the
    reference's picture; a lattice within `tolerance` px of the reference's, modulo the
    pitch, only repeats the same cell means (a mosaic that moves exactly with its content)."""
    (pw, ph), (ox, oy) = area.grid.pitch, area.grid.origin
    for a, (dy, dx) in zip(others, shifts):
        for offset, pitch in ((a.grid.origin[0] + dx - ox, pw), (a.grid.origin[1] + dy - oy, ph)):
            off = offset - round(offset / pitch) * pitch
            if abs(off) > tolerance:
                return True
    return False


def cell_noise(patch: np.ndarray, obs: Observation) -> float:
    """The median over the observation's cells of their pixels' spread (standard deviation,
    the largest channel's) in `patch`, the frame it was made from."""
    cell = (obs.labels >= 0) & (obs.labels < obs.cells)
    if not obs.cells or not cell.any():
        return 0.0
    lab = obs.labels[cell]
    px = np.asarray(patch, np.float64)[cell]
    n = np.bincount(lab, minlength=obs.cells).astype(np.float64)
    spread = []
    for c in range(px.shape[1]):
        m = np.bincount(lab, px[:, c], minlength=obs.cells) / np.maximum(n, 1)
        m2 = np.bincount(lab, px[:, c] ** 2, minlength=obs.cells) / np.maximum(n, 1)
        spread.append(np.sqrt(np.maximum(m2 - m * m, 0.0)))
    return float(np.median(np.max(spread, axis=0)[n > 0]))


def residual_map(x: np.ndarray, obs: Observation, shift: tuple[float, float]) -> np.ndarray:
    """(h, w) on the canvas: each of the observation's cells' residual (`label_residuals`)
    on the canvas pixels it covers at `shift`; 0 where it has no cell."""
    r = np.nan_to_num(label_residuals(x, obs, shift), nan=0.0)
    cells = (obs.labels >= 0) & (obs.labels < obs.cells)
    img = np.zeros((*obs.shape, 1), np.float32)
    img[cells, 0] = r[obs.labels[cells]]
    return sample(img, (-shift[0], -shift[1]))[..., 0]


def fuse_region(window: Window, k: int, prior: np.ndarray, cfg: FusionConfig) -> FusedRegion | None:
    """Guarded area `k` of the window's frame solved from every window frame that shows its
    track; `prior` is the single-frame result over the whole frame (float). None where fewer
    than two frames show it, or the area has no whole cell."""
    seen = window.seen
    area = seen.regions[k]
    if area.grid is None or area.mode != "mean":  # the box model is of mean cells
        return None
    track = seen.tracks[k]
    shows = [(s, s.regions[s.tracks.index(track)]) for s in window.frames if track in s.tracks]
    if len(shows) < 2:
        return None
    margin = int(np.ceil(max(area.grid.pitch))) + cfg.search
    sl = _canvas(area.mask, margin)
    centre = next(i for i, (s, _) in enumerate(shows) if s is seen)
    own = _observation(seen, area, sl)
    if not own.cells:
        return None  # no whole cell on this frame: nothing to fuse into
    obs = [own if i == centre else _observation(s, a, sl) for i, (s, a) in enumerate(shows)]
    p = np.asarray(prior[sl], np.float32)
    fused = fuse(obs, centre, p, cfg.mu, radius=cfg.search, iterations=cfg.iterations, cap=cfg.cap,
                 step_iterations=cfg.step_iterations, grey=True)
    x, shifts = fused.picture, fused.shifts
    # Only frames with cells of their own can bring new cell means.
    if not new_phases(area, [a for (_, a), o in zip(shows, obs) if o.cells], [d for d, o in zip(shifts, obs) if o.cells]):
        return None  # every frame shows the same cells of the same picture: nothing to gain
    # The region's noise: how far a mosaic cell's own pixels spread around its colour on this
    # frame (coding). A fused picture that is right explains every frame's cells within a few
    # times that; one that mixes parts moving apart does not.
    limit = cfg.tolerance * max(cfg.floor, cell_noise(seen.frame[sl], obs[centre]))
    # One robust re-solve: a cell that disagrees with the rest (an occluder, a part that moves
    # on its own) loses weight as (limit / residual)².
    res = [label_residuals(x, o, s) for o, s in zip(obs, shifts)]
    weighted = [dataclasses.replace(o, weights=np.minimum(1.0, (limit / np.maximum(np.nan_to_num(r, nan=0.0), 1e-6)) ** 2)
                                    .astype(np.float32)) for o, r in zip(obs, res)]
    x = solve(weighted, list(shifts), p, cfg.mu, cfg.robust_iterations, start=x)
    res = [label_residuals(x, o, s) for o, s in zip(obs, shifts)]
    pooled = np.concatenate([r[:o.cells][np.isfinite(r[:o.cells])] for r, o in zip(res, obs)])
    if not pooled.size or float(np.median(pooled)) > limit:
        return None  # the frames disagree over most of the region: no motion of ours explains them
    # Per cell of this frame: the fused picture only where, on every fused frame, it explains
    # the cells that cover the cell within the limit, or clearly better than the single-frame
    # result does (`gain`× its residual: residuals grow with the picture's own contrast, from
    # sub-pixel sampling and the prior's pull). A cell no other frame agrees on keeps the
    # single-frame result.
    fails = np.zeros(p.shape[:2], bool)
    for o, shift in zip(obs, shifts):
        fused_r, single_r = residual_map(x, o, shift), residual_map(p, o, shift)
        fails |= (fused_r > limit) & (fused_r > cfg.gain * single_r)
    labels = obs[centre].labels
    cell = (labels >= 0) & (labels < obs[centre].cells)
    bad = np.bincount(labels[cell], weights=fails[cell], minlength=obs[centre].cells) > 0
    take = cell & ~bad[np.clip(labels, 0, len(bad) - 1)]
    picture = p.copy()
    picture[take] = x[take]
    fused_cells = len(np.unique(labels[take]))
    return FusedRegion(sl, picture, len(shows), own.cells, fused_cells)
