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
  the limit (or at most `gain` of the single-frame result's residual), and where a picture
  solved without every other frame predicts those frames' cells better than the prior does
  (`unsupported`); elsewhere it keeps the single-frame result. The restorer then runs the
  same bounded step and last check on it.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from .config import FusionConfig, SafetyConfig
from .fusion import Observation, label_residuals, observe, register_frames, sample, solve
from .mosaic import Grid, GridArea, cell_colour_guide
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
    index: int = 0  # the frame's number in the video (blocks of registration are counted from frame 0)


# Frame number → (dy, dx): how far that frame shows a track's picture moved, against one frame of the block.
Motion = dict[int, tuple[float, float]]


class Block:
    """One track over one block of frames: the frames its registration read (those within
    ±R of the block, in its shot, that show the track), the motion registered from them, and,
    once the restorer has the model's output for the block's first frame, the picture solved
    from all of them (`solve_block`). Made by the `Fuser`; shared by the windows of the
    block's frames, so the solve runs once a block, not once a frame."""

    def __init__(self, key: tuple[int, int], shows: tuple[tuple[Seen, GridArea], ...], motion: Motion | None):
        self.key, self.shows, self.motion = key, shows, motion
        self.solution: BlockSolution | None = None
        self.solved = False

    def settle(self, solution: BlockSolution | None) -> None:
        """Set the block's solution, once (None: nothing to fuse); it never changes after."""
        if self.solved:
            raise RuntimeError(f"block {self.key} solved twice")
        self.solution, self.solved = solution, True


class Window(NamedTuple):
    """A frame and its neighbours within ±R in the same shot, in frame order."""

    frames: tuple[Seen, ...]
    centre: int  # this frame's index in `frames`
    guarded: Guarded | None  # this frame's guards, bounds included
    blocks: tuple[Block, ...] = ()  # per region of this frame: its track's block
    previous: tuple[Block | None, ...] = ()  # per region: its track's block before (None: none, a cut, a new track)

    @property
    def seen(self) -> Seen:
        return self.frames[self.centre]


class Fuser:
    """The stage: (frame, areas) in, in order → (frame, areas, Window) out.

    Motion is registered once per track and block of `cfg.block` frames (counted from the
    video's frame 0, so a segment that starts elsewhere cuts the same blocks), from the cells
    of every frame within ±R of the block in the same shot: each frame's window takes its
    block's shifts. A frame is handed on once the frames R past the end of its block are in
    (or a cut, or the end): `cfg.block` − 1 + R frames later at most."""

    def __init__(self, cfg: FusionConfig, safety: SafetyConfig | None, cut_threshold: float = CUT_THRESHOLD,
                 start: int = 0):
        """`cut_threshold`: the temporal vote's, so both see the same shots; `start`: the
        number of the first frame pushed (a segment's first decoded frame)."""
        self.cfg, self.safety, self.cut_threshold = cfg, safety, cut_threshold
        self._tracker = Tracker()
        self._seen: list[Seen] = []  # the frames still needed: windows and blocks reach back R
        self._guards: list[Guarded | None] = []  # each waiting frame's guards, in step with `_seen`
        self._done = 0  # frames of `_seen` already handed on
        self._shot = 0
        self._next = start
        self._signature: np.ndarray | None = None
        self._blocks: dict[tuple[int, int], Block] = {}  # (track, block number)
        # Per track, (frame number, canvas) → the frame's observation there: a frame is in the
        # registration of up to 2R/block + 1 blocks, mostly on the same canvas.
        self._observed: dict[int, dict[tuple, Observation]] = {}

    def push(self, frame: np.ndarray, areas: Sequence[GridArea]) -> list[tuple[np.ndarray, list[GridArea], Window]]:
        sig = signature(frame)
        cut = is_cut(self._signature, sig, self.cut_threshold)
        self._signature = sig
        self._shot += cut
        guarded = guard_frame(frame, areas, self.safety) if self.safety is not None and areas else None
        regions = tuple(guarded.areas) if guarded else ()
        tracked = self._tracker.push(list(regions), cut)
        self._seen.append(Seen(frame, tuple(areas), regions, tuple(t.track for t in tracked), self._shot, self._next))
        self._next += 1
        self._guards.append(guarded)
        return self._ready(final=False)

    def flush(self) -> list[tuple[np.ndarray, list[GridArea], Window]]:
        return self._ready(final=True)

    def _block(self, index: int) -> tuple[int, int, int]:
        """The block's number and the frame numbers its registration reads: [first, last]."""
        b, r = self.cfg.block, self.cfg.radius
        k = index // b
        return k, k * b - r, k * b + b - 1 + r

    def _ready(self, final: bool) -> list[tuple[np.ndarray, list[GridArea], Window]]:
        r, out = self.cfg.radius, []
        while self._done < len(self._seen):
            t = self._done
            seen = self._seen[t]
            k, _, last = self._block(seen.index)
            later = self._seen[t + 1:]
            if not final and self._seen[-1].index < last and all(s.shot == seen.shot for s in later):
                break  # wait for the frames its block reads (a cut ends the wait)
            ids = [i for i, s in enumerate(self._seen) if abs(s.index - seen.index) <= r and s.shot == seen.shot]
            blocks = tuple(self._registered(track, seen) for track in seen.tracks)
            previous = tuple(self._blocks.get((track, k - 1)) for track in seen.tracks)
            window = Window(tuple(self._seen[i] for i in ids), ids.index(t), self._guards[t], blocks, previous)
            out.append((seen.frame, list(seen.areas), window))
            self._guards[t] = None  # handed on with its window
            self._done += 1
        # Keep what the next frame's window and block read, and its block and the one before on.
        k, keep, _ = self._block(self._seen[self._done].index if self._done < len(self._seen) else self._next)
        drop = sum(1 for s in self._seen[:self._done] if s.index < keep)
        self._seen, self._guards, self._done = self._seen[drop:], self._guards[drop:], self._done - drop
        self._blocks = {key: b for key, b in self._blocks.items() if key[1] >= k - 1}
        gone = min((s.index for s in self._seen), default=self._next)
        kept = ((t, {key: o for key, o in seen.items() if key[0] >= gone}) for t, seen in self._observed.items())
        self._observed = {t: seen for t, seen in kept if seen}  # an ended track's go with its frames
        return out

    def _registered(self, track: int, seen: Seen) -> Block:
        """The track's block for this frame, its motion registered on first use."""
        k, first, last = self._block(seen.index)
        if (track, k) not in self._blocks:
            shows = tuple((s, s.regions[s.tracks.index(track)]) for s in self._seen
                          if first <= s.index <= last and s.shot == seen.shot and track in s.tracks)
            motion = register_track(shows, k * self.cfg.block + (self.cfg.block - 1) / 2, self.cfg,
                                    self._observed.setdefault(track, {}))
            self._blocks[(track, k)] = Block((track, k), shows, motion)
        return self._blocks[(track, k)]


def register_track(shows: Sequence[tuple[Seen, GridArea]], centre: float, cfg: FusionConfig,
                   observed: dict[tuple, Observation] | None = None) -> Motion | None:
    """Frame number → the shift of the track's picture on that frame against the frame
    nearest `centre` (`fusion.register_frames`, from the cells alone, on that frame's canvas
    with its cells' bicubic guide as the prior: registration runs before the model). None
    where under two frames show it, or its area has no mean cells. `observed`: the track's
    observations made before, by (frame number, canvas), kept and added to."""
    if len(shows) < 2:
        return None
    ref = min(range(len(shows)), key=lambda i: (abs(shows[i][0].index - centre), i))
    seen, area = shows[ref]
    if area.grid is None or area.mode != "mean":
        return None
    pitch = max(area.grid.pitch)
    sl = _canvas(area.mask, int(np.ceil(pitch)) + cfg.search)
    observed = {} if observed is None else observed
    canvas = (sl[0].start, sl[0].stop, sl[1].start, sl[1].stop)
    obs = [observed.get((s.index, canvas)) or observed.setdefault((s.index, canvas), _observation(s, a, sl))
           for s, a in shows]
    if not obs[ref].cells:
        return None
    prior = cell_colour_guide(seen.frame[sl], [area._replace(mask=area.mask[sl], grid=Grid(
        area.grid.pitch, (area.grid.origin[0] - sl[1].start, area.grid.origin[1] - sl[0].start)))])
    shifts = register_frames(obs, ref, prior, cfg.mu, cfg.search, cfg.step_iterations, cfg.cap)
    return {s.index: d for (s, _), d in zip(shows, shifts)}


class FusedRegion(NamedTuple):
    """One region's fused picture, ready to go through the bounded step and last check."""

    slices: tuple[slice, slice]  # the canvas, in frame coordinates
    picture: np.ndarray  # (h, w, C) float: fused where accepted, the prior elsewhere
    frames: int  # frames fused
    cells: int  # the region's whole cells on this frame
    fused_cells: int  # of them, those that took the fused picture


def _canvas(mask: np.ndarray, margin: int, box: Box | None = None) -> tuple[slice, slice]:
    """The mask's box (or `box`) grown by `margin` px, within the mask's frame."""
    box = Box.of(mask) if box is None else box
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


def residual_map(residuals: np.ndarray, obs: Observation, shift: tuple[float, float]) -> np.ndarray:
    """(h, w) on the canvas: each of the observation's cells' residual (`label_residuals`
    at `shift`) on the canvas pixels it covers at `shift`; 0 where it has no cell."""
    r = np.nan_to_num(residuals, nan=0.0)
    cells = (obs.labels >= 0) & (obs.labels < obs.cells)
    img = np.zeros((*obs.shape, 1), np.float32)
    img[cells, 0] = r[obs.labels[cells]]
    return sample(img, (-shift[0], -shift[1]))[..., 0]


class BlockSolution(NamedTuple):
    """A block's picture, solved once from every frame its registration read."""

    slices: tuple[slice, slice]  # the canvas, in the coordinates of the frame whose prior it took
    picture: np.ndarray  # (h, w, C) float
    fails: np.ndarray  # (h, w) bool: where the picture does not explain some frame's cells
    frames: int  # frames fused
    index: int  # the frame whose prior it took (the block's first frame restored)


def _union_box(block: Block, d: dict[int, tuple[float, float]], first: int, last: int) -> Box:
    """The box, in the reference's picture, of every block frame's region (frames `first` to `last`)."""
    boxes = []
    for s, a in block.shows:
        if first <= s.index <= last and (b := Box.of(a.mask)) is not None:
            dy, dx = d[s.index]
            boxes.append(Box(int(np.floor(b.y0 + dy)), int(np.floor(b.x0 + dx)), int(np.ceil(b.y1 + dy)), int(np.ceil(b.x1 + dx))))
    return Box(min(b.y0 for b in boxes), min(b.x0 for b in boxes), max(b.y1 for b in boxes), max(b.x1 for b in boxes))


def solve_block(block: Block, index: int, prior: np.ndarray, cfg: FusionConfig) -> BlockSolution | None:
    """The block's hidden picture in the coordinates of frame `index` (one of its frames),
    solved from the cells of every frame it read and the clean pixels around them
    (`demosaic.fusion.solve`, the block's registered motion), with `prior` (that frame's
    single-frame result, float, whole frame) where the frames say nothing. None where the
    frames bring nothing new (every frame shows the same cells of the same picture), or
    disagree over most of the region (no motion of ours explains them).

    The limit of what the data may leave unexplained is the region's coding noise (the spread
    of its cells' own pixels on frame `index`); one robust re-solve lowers the weight of cells
    beyond it (an occluder, a part that moves on its own); `fails` marks where the result
    still leaves some frame's cells beyond it and beyond `gain` × the prior's residual, and,
    with `cfg.holdout`, where a picture solved without every other frame predicts those frames
    no better than the prior does (`unsupported`)."""
    shows, motion = block.shows, block.motion
    if motion is None or len(shows) < 2:
        return None
    ref = next(i for i, (s, _) in enumerate(shows) if s.index == index)
    seen, area = shows[ref]
    if area.grid is None or area.mode != "mean":  # the box model is of mean cells
        return None
    d = {s.index: (motion[s.index][0] - motion[index][0], motion[s.index][1] - motion[index][1]) for s, _ in shows}
    k, b = block.key[1], cfg.block
    box = _union_box(block, d, k * b, k * b + b - 1)
    margin = int(np.ceil(max(area.grid.pitch))) + cfg.search
    sl = _canvas(area.mask, margin, box)
    obs = [_observation(s, a, sl) for s, a in shows]
    shifts = [d[s.index] for s, _ in shows]
    if not obs[ref].cells:
        return None
    # Only frames with cells of their own can bring new cell means.
    if not new_phases(area, [a for (_, a), o in zip(shows, obs) if o.cells], [v for v, o in zip(shifts, obs) if o.cells]):
        return None
    p = np.asarray(prior[sl], np.float32)
    x = solve(obs, shifts, p, cfg.mu, cfg.iterations)
    limit = cfg.tolerance * max(cfg.floor, cell_noise(seen.frame[sl], obs[ref]))
    res = label_residuals(x, obs, shifts)
    weighted = [dataclasses.replace(o, weights=np.minimum(1.0, (limit / np.maximum(np.nan_to_num(r, nan=0.0), 1e-6)) ** 2)
                                    .astype(np.float32)) for o, r in zip(obs, res)]
    x = solve(weighted, shifts, p, cfg.mu, cfg.robust_iterations, start=x)
    res = label_residuals(x, obs, shifts)
    pooled = np.concatenate([r[:o.cells][np.isfinite(r[:o.cells])] for r, o in zip(res, obs)])
    if not pooled.size or float(np.median(pooled)) > limit:
        return None
    # Where, on some frame, the picture leaves the cells over a pixel beyond the limit and
    # not clearly better explained than the prior does (`gain`× its residual: residuals grow
    # with the picture's own contrast, from sub-pixel sampling and the prior's pull).
    fails = np.zeros(p.shape[:2], bool)
    prior_res = label_residuals(p, obs, shifts, cells_only=True)
    singles = [residual_map(r, o, v) for r, o, v in zip(prior_res, obs, shifts)]  # the prior's, on each frame
    for r, o, v, single_r in zip(res, obs, shifts, singles):
        fused_r = residual_map(r, o, v)
        fails |= (fused_r > limit) & (fused_r > cfg.gain * single_r)
    if cfg.holdout:
        fails |= unsupported(weighted, shifts, ref, p, singles, cfg, max(area.grid.pitch))
    return BlockSolution(sl, x, fails, len(shows), index)


def unsupported(obs: Sequence[Observation], shifts: Sequence[tuple[float, float]], ref: int, prior: np.ndarray,
                singles: Sequence[np.ndarray], cfg: FusionConfig, pitch: float) -> np.ndarray:
    """(h, w) bool on the canvas: where a picture solved without every other frame (counted
    from the reference, which it keeps) predicts those frames' cells no better than the prior
    does (`singles`: the prior's `residual_map` on each frame). A fit is judged by frames it
    was not solved from: the picture explains the frames it was solved from however wrong its
    motion (its detail fits each frame's cell means, not the content), but frames it never saw
    it explains only where the motion, and so the detail inside the cells, is right. Squared
    residuals summed over the held-out frames and averaged over a cell's width; False where
    no held-out frame has a cell (no evidence either way)."""
    fit = [i for i in range(len(obs)) if (i - ref) % 2 == 0]
    held = [i for i in range(len(obs)) if (i - ref) % 2 and obs[i].cells]
    out = np.zeros(prior.shape[:2], bool)
    if not held or len(fit) < 2:
        return out
    x = solve([obs[i] for i in fit], [shifts[i] for i in fit], prior, cfg.mu, cfg.iterations)
    fused, single, seen = (np.zeros(prior.shape[:2], np.float32) for _ in range(3))
    for i, r in zip(held, label_residuals(x, [obs[i] for i in held], [shifts[i] for i in held], cells_only=True)):
        o, v = obs[i], shifts[i]
        fused += residual_map(r, o, v) ** 2
        single += singles[i] ** 2
        cells = np.zeros((*o.shape, 1), np.float32)
        cells[(o.labels >= 0) & (o.labels < o.cells), 0] = 1.0
        seen += sample(cells, (-v[0], -v[1]))[..., 0]
    k = max(1, int(round(pitch)))
    fused, single = cv2.blur(fused, (k, k)), cv2.blur(single, (k, k))
    return (seen > 0) & (fused > single)


def _read(block: Block, sol: BlockSolution, index: int, sl: tuple[slice, slice]) -> tuple[np.ndarray, np.ndarray]:
    """The block's picture moved to frame `index` over its canvas `sl`, and where it may not be
    used there (it reads outside the block's canvas, or fails some frame's cells)."""
    motion = block.motion
    d = (motion[index][0] - motion[sol.index][0], motion[index][1] - motion[sol.index][1])
    shape = (sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
    at = (sl[0].start - sol.slices[0].start + d[0], sl[1].start - sol.slices[1].start + d[1])
    inside = sample(np.ones(sol.fails.shape, np.float32), at, shape) > 0.999
    fails = sample(sol.fails.astype(np.float32), at, shape) > 0
    return sample(sol.picture, at, shape), fails | ~inside


def fade(block: int, radius: int, position: int) -> float:
    """The previous block's share in the picture of a block's frame at `position` (0 first):
    from R/(R+1) on the block's first frame down to 0 by its (R+1)-th, so no frame's picture
    steps from one block's to the next (a frame within R of the previous block is in the
    frames that block was solved from). 0 for blocks of one frame."""
    ramp = min(block, radius + 1)
    return max(0.0, 1.0 - (position + 1) / ramp) if ramp > 1 else 0.0


def fuse_region(window: Window, k: int, prior: np.ndarray, cfg: FusionConfig) -> FusedRegion | None:
    """Guarded area `k` of the window's frame, its cells taken from its block's solved
    picture (moved to this frame by the block's motion) where that picture explains, on
    every frame of the block, the cells covering them; `prior` (the single-frame result,
    float, whole frame) elsewhere. On a block's first frames the same made from the block
    before is faded out (`fade`), cell by cell, so no cell steps between the two at a block's
    start. None where the block has no solution or the area no whole cell. The restorer then
    runs the same bounded step and last check on it."""
    block = window.blocks[k] if window.blocks else None
    sol = block.solution if block is not None else None
    if sol is None:
        return None
    seen = window.seen
    area = seen.regions[k]
    sl = _canvas(area.mask, int(np.ceil(max(area.grid.pitch))) + cfg.search)
    labels = whole_cells(area, sl)
    cell = labels >= 0
    if not cell.any():
        return None  # no whole cell on this frame: nothing to fuse into
    own = np.asarray(prior[sl], np.float32)
    n = int(labels.max()) + 1

    def taken(b: Block) -> tuple[np.ndarray, np.ndarray]:
        """The block's picture where a whole cell may take it, the prior elsewhere; the cells taken."""
        picture, bad_px = _read(b, b.solution, seen.index, sl)
        bad = np.bincount(labels[cell], weights=bad_px[cell], minlength=n) > 0
        take = cell & ~bad[np.maximum(labels, 0)]
        return np.where(take[..., None], picture, own), take

    out, take = taken(block)
    before = window.previous[k] if window.previous else None
    share = fade(cfg.block, cfg.radius, seen.index - block.key[1] * cfg.block)
    if before is not None and before.solution is not None and share > 0 and seen.index in before.motion:
        old, took = taken(before)
        out = share * old + (1 - share) * out
        take |= took
    return FusedRegion(sl, out, sol.frames, len(np.unique(labels[cell])), len(np.unique(labels[take])))
