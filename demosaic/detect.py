"""Find pixelation mosaics in a frame: a mask, and each region's cell grid.

By default a small learned segmenter (`demosaic.detect_net`, trained on the synthesiser's
mosaics through video codecs) proposes where mosaics are, and the classical detector below
(OpenCV/NumPy, one core) runs only near its proposals: it verifies them, fits every
region's cell grid and gives uncompressed cells exact borders. The network's pixels then
join the regions they touch; a network region touching none is kept only where a cell
lattice is found in it (`_add_learned`). A second network's border maps (where each cell's
first and last column and row lie, learned through the same codecs) then refit the grid of
every coded region: after coding they line up on the lattice where the steps between cells
no longer show (`_edge_lattice`). Without the segmenter (`learned=""`) the classical
detector works alone on the whole frame. Its four stages:

1. Evidence. A mosaic cell border is a step between two flat runs, and it continues
   along a straight line. Pixels showing that, horizontally or vertically, are "border
   evidence"; dense evidence marks candidate areas.
2. Lattice. Per candidate area, the column profile of vertical-border evidence (and the
   row profile of horizontal-border evidence) is a comb; its autocorrelation gives the
   pitch, and a least-squares fit of the comb's teeth the sub-pixel pitch and phase.
   A pitch twice the true one (every other border faint after coding) is halved where
   half-cells are flat. Large cells (a few per region, too few teeth for a comb) are
   found as flat rectangles instead, whose spacing gives the lattice; and a region only
   two or three large cells across, every cell cut, as flat pieces that meet on sharp
   straight borders (exactly flat in every colour when uncompressed; within a level or
   two, across a blurred gap, after coding), whose borders are the lattice.
3. Cells. On that grid, a mosaic cell is flat inside (borders excluded, so coding
   ringing does not count) and differs from a neighbour by a real step. Flat areas with no
   steps (sky, walls) and textures with no flat cells (brick, text) fail here; so do
   two-tone regions (photographed chessboards) and lattices much finer than the exactly
   flat runs they cover (a large-cell mosaic seen on a sub-lattice).
4. Cleanup. Holes in the cell map are filled, small regions dropped, and cells on the
   region's edge trimmed to the pixels of the cell's colour connected to the side facing
   the region, so cut cells get pixel-accurate borders. An uncompressed region (exact in
   every channel) keeps only pixels of exactly its cells' colours. Each region's lattice is
   then refitted through its own strongest borders, and checked against the steps on its
   own lines: coarser where every other line carries none (`_coarser_grid`), finer where the
   lines between carry steps too (`_finer_grid`). Two overlapping mosaics half a cell
   apart, whose lines together were fitted as one finer lattice, split in two, each on
   every other line (`_union_parts`). Touching regions on one lattice merge
   (`Detector._merge_lattices`). An optional dilation covers feathered edges.

Uncompressed mosaics over smooth content (sky, fog, a wallpaper's gradients) have cells a
level or two apart, too faint for the evidence; but their cells stay exactly one colour,
changing only on the lattice lines. A found uncompressed region follows such cells as far
as they reach (`_exact_growth`), and where the network proposes a little in an
uncompressed frame, groups of them seed a region (`Detector._exact_footholds`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from .mosaic import Grid, GridArea, cell_edges, cell_sums


@dataclass(frozen=True)
class DetectorConfig:
    flat: int = 3  # max |difference| between neighbours inside a cell (levels); coding noise needs > 1
    step: int = 8  # min |difference| across a cell border that counts as evidence
    exact_step: int = 3  # ... or this, between runs that are exactly flat (uncompressed mosaics); 0: off
    cell_std: float = 3.0  # max in-cell standard deviation (levels, borders excluded)
    min_pitch: int = 4
    max_pitch: int = 72
    evidence_window: int = 33  # px; density of border evidence is taken over this box
    min_evidence: float = 0.01  # fraction of border-evidence pixels to call an area a candidate
    min_cells: int = 6  # regions with fewer mosaic cells are dropped (fewer for cells over 16 px: same area)
    min_step_share: float = 0.3  # share of a region's cells that must show a step to a neighbour
    pixel_tolerance: float = 2.0  # edge cells keep pixels within max(this, 3σ+1) of the cell colour
    dilate: int = 0  # px to grow the final mask by, for feathered borders
    min_jump: float = 3.0  # min colour difference between flat neighbouring cells, on top of their noise
    exact_jump: float = 1.0  # ... between exactly flat ones (uncompressed mosaics)
    exact_jump_min_pitch: float = 17.0  # ... of cells larger than a codec's blocks
    small_exact_jump: float = 2.0  # ... of exactly flat cells up to that size
    coded_gap: int = 6  # px; widest blurred border between two coded pieces
    axis_share: float = 0.1  # a region must step both ways: the rarer at least this share of the other ...
    axis_min: int = 4  # ... once the other steps this often (fewer: too small to tell)
    refine_grid: bool = True  # fit each found region's lattice to its own borders
    coarser_grid: float = 0.25  # ... then take the lattice of every 2nd (3rd) line where the lines between carry at most this share of their steps (0: never)
    coarser_square: float = 0.5  # ... or this share, where the coarser lattice's cells are square (0: as any)
    finer_grid: float = 0.5  # ... or a finer lattice it is every k-th line of where the lines between carry this share of its steps (0: never)
    finer_square: float = 0.8  # ... or this share, where that would make square cells oblong (0: as any)
    union_split: float = 0.1  # a region whose lattice is two mosaics' lines together splits where each part's steps lie on every other line, the others carrying at most this share (0: never)
    union_cells: float = 4.0  # ... each part holding this many cells of its own (twice as coarse) lattice at least
    merge_lattices: float = 0.05  # touching regions whose pitches agree this closely, and whose lattices serve both, merge (0: never)
    merge_steps: float = 0.9  # ... (lines more than 1 px apart) the larger one's carrying this share of the steps the smaller one's do there
    grow_std: float = 1.0  # cells this flat join a neighbouring region cell of the same colour
    grow_px: int = 24  # ... about this deep (one to three cells)
    grow_px_exact: int = 8  # ... in an uncompressed region (one cell, two of cells under 6 px: there exact growth follows the stepping cells)
    exact_growth: bool = True  # uncompressed regions take in the exactly flat cells stepping from their neighbours they reach
    exact_seed: bool = True  # uncompressed frames: where the network proposes a little, groups of exact cells stepping to each other are a mosaic ...
    exact_seed_chance: float = 1.5  # ... if there are this many times those on the lattice half a cell off ...
    exact_seed_cells: float = 3.0  # ... and this many times the fewest cells of a region more
    tile: int = 96  # px; tiles of a candidate area vote for the lattice they see
    max_lattices: int = 4  # mosaics on different grids looked for in one candidate area
    margin_div: int = 8  # cells' inner pixels keep pitch // this (1 to 4) px off the cell border
    blob_flat: int = 2  # large cells: max 3×3 luma range inside a cell (levels)
    blob_min: int = 8  # px; smallest flat cell interior looked for (smaller cells: the evidence path)
    min_blobs: int = 2  # flat cells that must agree on one lattice
    # The learned segmenter (demosaic.detect_net): a model card path, "default" for the
    # shipped one, "" for the classical detector alone.
    learned: str = "default"
    net_threshold: float = 0.0  # logit above which a pixel is mosaic (tuned on held-out training photos)
    net_min_px: int = 400  # smaller net-only components are dropped
    net_min_score: float = 0.8  # ... and those whose mean probability is lower
    net_gate: int = 32  # px; the classical paths look only this near the network's proposals (0: everywhere)
    search_margin: int = 128  # px; the search runs in the box around what the gate leaves open, grown by this (the widest window it measures in: evidence 99 px, tiles 96, cells 64)
    net_gate_threshold: float = -1.0  # logit of a proposal (lower than net_threshold: the classical paths verify)
    net_coded_chroma: bool = True  # frames with 4:2:0 chroma (decoded video) have no uncompressed region, however exact its cells
    net_join_ratio: float = 16.0  # a component with this many times the pixels of the regions it touches joins them only if it passes as a network-only region (0: always joins)
    net_reopen: float = 1.0  # cells; exact regions the network's mosaic outgrows by this many are coded ones unless every cell is exact (0: never)
    net_trim: bool = True  # coded regions lose the pixels the network does not call mosaic
    net_region_score: float = 0.7  # ... and go where its mean probability over them is under this (old codecs' blocks; 0: never)
    net_soft_lattice: bool = True  # network-only regions: also a mean-step comb, and the flattest candidate grid
    net_flat_share: float = 0.3  # a network-only region needs this share of its whole cells flat inside ...
    net_cell_std: float = 6.0  # ... within this inner standard deviation (levels; coding noise included)
    net_drift: float = 4.0  # ... and whose luma drifts less than this (levels) from one side to the other
    net_step_share: float = 1.2  # ... and whose luma steps lie on its cell borders (±1 px) this many times more than chance, along both axes (0: not checked)
    net_step_excess: float = 0.12  # ... or, cells under 8 px, this share of the way from chance (three lines in a pitch) to all of them
    net_sure_support: float = 0.2  # ... or, where the border maps support the lattice this much (`net_edge_support`'s measure; 0: never) ...
    net_sure_steps: float = 1.0  # ... this many times chance
    net_rephase: float = 0.05  # network-only regions' lattices take the phase the border maps support most where that gains this much support (0: never)
    # Border maps (a segmenter trained with DetectNetConfig.borders): "" for the mask
    # segmenter's own (the shipped one has them: one network pass a frame), or another
    # segmenter's model card path.
    net_borders: str = ""
    # With border maps, the lattice their borders line up on:
    net_edge_grid: bool = True  # ... is a candidate grid of network-only regions
    net_edge_refine: bool = True  # ... refits the grid of coded regions
    net_edge_outline: bool = True  # ... (the refit) sees the region's outline too where the maps mark it
    net_edge_multiple: float = 0.1  # ... (the refit) takes a whole multiple of the found pitch only if its cells are flat this nearly as often (0: always)
    net_one_tooth: float = 0.25  # ... an axis with one border only takes its phase from it if it is this sure (0: off)
    net_split_gain: float = 0.25  # ... and the new lattice's support where it takes over must beat the old's by this
    net_split_pitch: float = 8.0  # px; finer lattices are not split (after coding their phase is too unsure)
    net_split_sure: float = 0.8  # regions whose border support is at least this hold one lattice
    net_split: float = 0.3  # a region's pixels whose local border support is below this share of the whole's get their own lattice if they fit one (0: never split)
    net_whole_pitch: float = 0.25  # px; border-map pitches this near a whole one take it if it fits the teeth (0: never)
    net_max_aspect: float = 2.0  # cells of network-only regions and border-map fits: at most this oblong
    net_edge_support: float = 0.06  # network-only regions: border probability on their grid's cell edges over that between
    net_flattest_support: bool = True  # ... and of the lattices their cells are flattest on, the one the border maps support most
    net_tie_tries: int = 3  # ... and if that one fails the checks, the next of those as flat (1: the first only)
    # Video (demosaic.keyframes): full detection on every `keyframe_every`-th frame; the frames
    # between take the keyframe's regions if both keyframes agree and the regions still hold.
    keyframe_every: int = 8  # 1: every frame (`demosaic ... --detect-every`)
    keyframe_iou: float = 0.8  # each region, moved, overlaps its match on the next keyframe at least this much
    keyframe_flat_drop: float = 0.2  # a region's whole cells (all; along each edge) flat: at most this share fewer than on the keyframe
    keyframe_outside_rise: float = 0.2  # the cells just outside each edge flat like its own: at most this share more


@dataclass(frozen=True)
class Region:
    """One detected mosaic region."""

    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (end exclusive)
    pitch: tuple[float, float]  # cell (width, height), sub-pixel where the video was scaled
    origin: tuple[float, float]  # (x, y) of a cell corner: the grid phase
    mode: str  # "mean" (assumed: one frame cannot tell mean from a sampled pixel)
    cells: int
    score: float  # share of the region's cells showing a step to a neighbour (for a region only
    # the segmenter found: its mean probability there)

    @property
    def grid(self) -> Grid:
        return Grid(self.pitch, self.origin)


@dataclass(frozen=True)
class Detection:
    mask: np.ndarray  # bool H×W, True = mosaic to restore
    regions: tuple[Region, ...] = ()
    labels: np.ndarray | None = field(default=None, repr=False)  # int32 H×W, region index + 1

    def areas(self) -> list[GridArea]:
        if self.labels is None:
            return []
        return [GridArea(self.labels == i + 1, r.grid, r.mode) for i, r in enumerate(self.regions)]


def _abs_diffs(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max over channels of |horizontal| (H, W-1) and |vertical| (H-1, W) neighbour differences."""
    dx = cv2.absdiff(frame[:, 1:], frame[:, :-1]).reshape(frame.shape[0], frame.shape[1] - 1, -1)
    dy = cv2.absdiff(frame[1:], frame[:-1]).reshape(frame.shape[0] - 1, frame.shape[1], -1)
    return dx.max(axis=2), dy.max(axis=2)


def border_evidence(dx: np.ndarray, dy: np.ndarray, cfg: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """(vertical-border evidence on dx's grid, horizontal-border evidence on dy's grid), bool.

    A vertical cell border between columns x and x+1: a step there, flat on both sides,
    and the step continuing in the row above or below.
    """
    # Coded video: a clear step between nearly flat runs. Uncompressed (lossless) mosaics
    # over smooth content: any step between exactly flat runs two pixels deep, which natural
    # images almost never show and which is how low-contrast mosaics are found at all.
    exact_x, exact_y = dx == 0, dy == 0
    flat_x = dx <= cfg.flat
    flat_y = dy <= cfg.flat
    step_x = dx >= cfg.step
    step_y = dy >= cfg.step
    if cfg.exact_step:
        deep_x = np.zeros_like(exact_x)
        deep_x[:, 2:-2] = exact_x[:, :-4] & exact_x[:, 1:-3] & exact_x[:, 3:-1] & exact_x[:, 4:]
        deep_y = np.zeros_like(exact_y)
        deep_y[2:-2] = exact_y[:-4] & exact_y[1:-3] & exact_y[3:-1] & exact_y[4:]
        step_x |= (dx >= cfg.exact_step) & deep_x
        step_y |= (dy >= cfg.exact_step) & deep_y
        flat_x |= exact_x
        flat_y |= exact_y
    ev = np.zeros_like(step_x)
    ev[:, 1:-1] = step_x[:, 1:-1] & flat_x[:, :-2] & flat_x[:, 2:]
    ev[1:-1] &= ev[:-2] | ev[2:]
    eh = np.zeros_like(step_y)
    eh[1:-1] = step_y[1:-1] & flat_y[:-2] & flat_y[2:]
    eh[:, 1:-1] &= eh[:, :-2] | eh[:, 2:]
    return ev, eh


def _teeth(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (sub-pixel centroids) and weights of a profile's clear local maxima."""
    p = profile.astype(np.float64)
    if p.size == 0 or p.max() <= 0:
        return np.zeros(0), np.zeros(0)
    left = np.r_[-1.0, p[:-1]]
    right = np.r_[p[1:], -1.0]
    peaks = np.flatnonzero((p >= left) & (p > right) & (p >= max(0.2 * p.max(), 2.0)))
    lo = np.maximum(peaks - 1, 0)
    hi = np.minimum(peaks + 1, len(p) - 1)
    w = p[lo] + p[peaks] + p[hi]
    pos = (lo * p[lo] + peaks * p[peaks] + hi * p[hi]) / w
    return pos, p[peaks]


def _comb(profile: np.ndarray, cfg: DetectorConfig, whole_pitch: float = 0.0) -> tuple[float, float] | None:
    """(pitch, position of one tooth) of a comb-like 1-D profile, sub-pixel; None if no comb.

    Each candidate pitch p (quarter-pixel steps) and phase scores the weight of the teeth
    that sit on its lattice, minus a penalty for lattice points inside the teeth's span
    with no tooth. Divisors of the true pitch leave most of their lattice points empty and
    multiples miss most teeth, so the true pitch wins; a least-squares fit of the teeth on
    it then gives the sub-pixel pitch and phase (scaled video), or a whole pitch within
    `whole_pitch` of it where that fits every tooth within a pixel.
    """
    pos, w = _teeth(profile)
    if len(pos) < 3:
        return None
    span = pos.max() - pos.min()
    mean_w = w.mean()
    top = min(cfg.max_pitch, span / 2)

    def scores(pitches: np.ndarray) -> list[tuple[float, float, float]]:
        """(score, pitch, phase) per candidate pitch, all pitches at once."""
        p = pitches[:, None]  # (P, 1)
        r = pos[None, :] % p  # (P, T)
        d = np.abs(r[:, :, None] - r[:, None, :])  # (P, T, T): tooth i against phase of tooth j
        d = np.minimum(d, p[:, :, None] - d)
        near = d <= 0.75
        on_weight = (near * w[None, :, None]).sum(axis=1)  # (P, T)
        j = np.argmax(on_weight, axis=1)  # best phase per pitch
        on = near[np.arange(len(pitches)), :, j]  # (P, T)
        lowest = np.where(on, pos[None, :], np.inf).min(axis=1, keepdims=True)
        hit = np.where(on, np.round((pos[None, :] - lowest) / p), np.inf)
        hit.sort(axis=1)  # lattice indices of the teeth on it, finite ones first
        with np.errstate(invalid="ignore"):
            steps = (np.diff(hit, axis=1) > 0) & np.isfinite(hit[:, 1:])
        distinct = np.isfinite(hit[:, 0]) + steps.sum(axis=1)  # lattice points with a tooth
        empty = np.maximum(np.floor(span / pitches) + 1 - distinct, 0)
        value = on_weight[np.arange(len(pitches)), j] - 0.3 * mean_w * empty
        return list(zip(value, pitches, r[np.arange(len(pitches)), j]))

    # Whole pixels first, then quarter pixels around the best (scaled video).
    coarse = scores(np.arange(cfg.min_pitch, np.floor(top) + 1, dtype=np.float64))
    if not coarse:
        return None
    best = max(coarse, key=lambda s: (s[0], s[1]))
    fine_p = np.arange(best[1] - 0.75, best[1] + 0.76, 0.25)
    fine = scores(fine_p[(fine_p >= cfg.min_pitch) & (fine_p <= top)])
    best = max(fine + [best], key=lambda s: (s[0], s[1]))
    value, p, phase = best
    if value <= 0.5 * w.sum():
        return None
    on = np.abs(((pos - phase + p / 2) % p) - p / 2) <= 0.75
    if on.sum() < 3:
        return None
    index = np.round((pos[on] - phase) / p)
    pitch, first = np.polyfit(index, pos[on], 1)
    if abs(pitch - p) > 0.5:
        return None
    whole = round(pitch)
    if abs(pitch - whole) <= whole_pitch:
        # A whole pitch that fits every tooth within a pixel: a fractional one fitted to
        # a few blurred teeth drifts off the lattice away from them (unscaled mosaics
        # are the common case; scaled ones drift more than that over their teeth).
        off = pos[on] - whole * index
        if np.abs(off - np.median(off)).max() <= 1.0:
            return float(whole), float(np.median(off))
    return float(pitch), float(first)


def _two_teeth(profile: np.ndarray, cfg: DetectorConfig, min_pitch: float = 17.0) -> tuple[float, float] | None:
    """(pitch, position of a tooth) from the two strongest teeth of a profile: a region only
    two or three large cells across has too few borders for a comb."""
    pos, w = _teeth(profile)
    if len(pos) < 2:
        return None
    a, b = pos[np.argsort(w)[-2:]]
    pitch = abs(a - b)
    return (float(pitch), float(a)) if min_pitch <= pitch <= cfg.max_pitch else None


def _one_tooth(profile: np.ndarray, least: float) -> tuple[None, float] | None:
    """(None, position) of a profile's strongest tooth if it weighs at least `least`: the one
    border inside a region only two large cells across, which still fixes that axis's phase."""
    pos, w = _teeth(profile)
    if not len(pos) or w.max() < least:
        return None
    return None, float(pos[np.argmax(w)])


def _sparser_comb(profile: np.ndarray, comb: tuple[float, float], share: float = 0.25) -> tuple[float, float]:
    """A comb (pitch, tooth) of `profile`, or the one of every other of its lines where the
    others hold at most `share` of their weight (the largest value within a pixel of each
    line): few teeth fit half the pitch as well as the pitch, with a line in every gap."""
    pitch, tooth = comb
    # Tooth t is the profile's index t itself: a box starting at edge -1 (`_Steps.on_lines`).
    lines = _Steps(profile, np.ones(profile.size, bool), 0.0, -1)
    while 2 * pitch <= profile.size:
        classes = [lines.on_lines(2 * pitch, tooth + j * pitch, least=1) for j in (0, 1)]
        if None in classes:
            break
        strong = int(np.argmax(classes))
        if classes[1 - strong] > share * classes[strong]:
            break
        pitch, tooth = 2 * pitch, tooth + strong * pitch
    return pitch, tooth


def _combs_grid(comb_x, comb_y, rows: slice, cols: slice, frame_origin: tuple[int, int] = (0, 0)) -> Grid | None:
    """The grid of a column comb and a row comb ((pitch, tooth), (None, tooth) where only a
    tooth was seen, or None each) measured over (rows, cols) of a step profile. An axis with
    no tooth takes its phase from the frame's corner (`frame_origin`, where the arrays are a
    window of the frame): most mosaics are aligned to it."""
    if (comb_x is None or comb_x[0] is None) and (comb_y is None or comb_y[0] is None):
        return None
    # Cells are usually square: a comb found one way lends its pitch to the other.
    def lent(comb, other):
        if comb is None:
            return other[0], None
        return comb if comb[0] is not None else (other[0], comb[1])

    comb_x, comb_y = lent(comb_x, comb_y), lent(comb_y, comb_x)
    # A tooth at dx index t is the border between pixels t and t+1: a cell starts at t+1.
    ox = float(frame_origin[0]) if comb_x[1] is None else cols.start + comb_x[1] + 1
    oy = float(frame_origin[1]) if comb_y[1] is None else rows.start + comb_y[1] + 1
    px, py = _snap(comb_x[0]), _snap(comb_y[0])
    return Grid((px, py), (_snap(ox) % px, _snap(oy) % py))


def _on_edges(grid: Grid, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
    """Over the frame's (rows, cols): which columns (1, w) and rows (h, 1) are a first or last
    pixel of one of `grid`'s cells."""
    return (cell_edges(cols.stop, grid.pitch[0], grid.origin[0])[cols][None, :],
            cell_edges(rows.stop, grid.pitch[1], grid.origin[1])[rows][:, None])


def _local_support(prob: np.ndarray, own: np.ndarray, grid: Grid, corner: tuple[int, int], window: int) -> np.ndarray:
    """Per pixel of `own` (a box whose top-left pixel is `corner` in the frame): how much more
    the border maps `prob` (h, w, 2) see borders on `grid`'s cell edges than between them,
    within `window`² around it; the two axes averaged where each has both kinds of pixel."""
    height, width = own.shape
    x0, y0 = corner
    total = np.zeros((height, width), np.float32)
    axes = np.zeros((height, width), np.float32)
    box = (window, window)
    for channel, on in enumerate(_on_edges(grid, slice(y0, y0 + height), slice(x0, x0 + width))):
        p = prob[..., channel].astype(np.float32)
        means = []
        for where in (own & on, own & ~on):
            w = where.astype(np.float32)
            n = cv2.boxFilter(w, -1, box, normalize=False, borderType=cv2.BORDER_CONSTANT)
            means.append((cv2.boxFilter(p * w, -1, box, normalize=False, borderType=cv2.BORDER_CONSTANT), n))
        (on_sum, on_n), (off_sum, off_n) = means
        valid = (on_n > 0.5) & (off_n > 0.5)
        total += np.where(valid, on_sum / np.maximum(on_n, 1) - off_sum / np.maximum(off_n, 1), 0)
        axes += valid
    return total / np.maximum(axes, 1)


def _same_lattice(a: Grid, b: Grid, frame_origin: tuple[int, int] = (0, 0)) -> bool:
    """Equal pitch (±0.5 px) and phase (±1.5 px, modulo the pitch) on both axes, the phases
    compared at the lines nearest past the frame's corner (`frame_origin`, where the grids
    are a window's): where pitches differ a little, the answer depends on where."""
    for axis in (0, 1):
        pa, pb = a.pitch[axis], b.pitch[axis]
        if abs(pa - pb) > 0.5:
            return False
        f = frame_origin[axis]
        d = abs((a.origin[axis] - f) % pa - (b.origin[axis] - f) % pb) % pa
        if min(d, pa - d) > 1.5:
            return False
    return True


def _multiple_of(coarse: Grid, fine: Grid, tolerance: float = 0.04) -> bool:
    """Whether `coarse`'s pitch is a whole multiple of `fine`'s on each axis (within
    `tolerance` of it), at least twice on one: every other (third, ...) line of `fine`."""
    ratios = [c / f for c, f in zip(coarse.pitch, fine.pitch)]
    return (max(ratios) >= 2 - tolerance * 2
            and all(r >= 1 - tolerance and abs(r - round(r)) <= tolerance * r for r in ratios))


def _snap(v: float) -> float:
    """Fits of unscaled mosaics land within a hair of whole pixels: make them whole."""
    r = round(v)
    return float(r) if abs(v - r) < 0.05 else float(v)


def _position_in_cell(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel along one axis: pixels from its cell's first one, and to its cell's last one."""
    pos = np.arange(len(index))
    starts = np.r_[True, index[1:] != index[:-1]]
    ends = np.r_[index[1:] != index[:-1], True]
    from_start = pos - np.maximum.accumulate(np.where(starts, pos, 0))
    to_end = np.minimum.accumulate(np.where(ends, pos, len(index))[::-1])[::-1] - pos
    return from_start, to_end


def _steps_on_borders(luma: np.ndarray, pitch, iy: np.ndarray, ix: np.ndarray, part: np.ndarray) -> float:
    """How much more of the luma's steps inside `part` lie within a pixel of a cell border
    (cell indices `iy`, `ix`) than chance would put there, along the axis where that is least.

    A mosaic's cells change only at their borders, along both axes (coding smears each step
    over a pixel or two). Stripes shaded smoothly across them have flat cells on any pitch
    along the shading, but their steps there fall anywhere. Cells under 6 px tell too little
    (three lines of six are half of them): those axes pass."""
    block = luma[..., 0] if luma.ndim == 3 else luma
    least = np.inf
    for axis, index, p in ((1, ix, pitch[0]), (0, iy, pitch[1])):
        if p < 6:
            continue
        steps = np.abs(np.diff(block, axis=axis))
        both = part[:, 1:] & part[:, :-1] if axis == 1 else part[1:] & part[:-1]
        near = np.convolve((index[1:] != index[:-1]).astype(np.float32), np.ones(3, np.float32), "same") > 0
        near = near[None, :] if axis == 1 else near[:, None]
        total = steps[both].sum()
        share = steps[both & near].sum() / total if total > 0 else 0.0
        chance = max(np.broadcast_to(near, both.shape)[both].mean(), 1e-6) if both.any() else 1.0
        least = min(least, share / chance)
    return float(least)


def _outline_profile(prob: np.ndarray, part: np.ndarray, axis: int) -> np.ndarray:
    """The border maps' say on the borders between `part` and what lies outside it, per gap
    between columns (axis 0) or rows (axis 1): only the inside pixel can be summed there.

    The profile inside takes the smaller of both columns' sums, and outside `part` there is
    nothing to sum, so a region's own outline gave no tooth: a region two cells across
    showed one border each way. The maps mark only true cell borders (a cut cell's edge is
    no border in their labels), so where the outline runs along a cell border they see it,
    and where it cuts cells they do not."""
    if axis == 1:
        return _outline_profile(prob.T, part.T, 0)
    before, after = part[:, :-1], part[:, 1:]
    return (np.where(before & ~after, prob[:, :-1], 0.0) + np.where(after & ~before, prob[:, 1:], 0.0)).sum(axis=0)


def _border_distance(index: np.ndarray) -> np.ndarray:
    """Per pixel along one axis: how many pixels lie between it and its cell's nearer border."""
    return np.minimum(*_position_in_cell(index))


def window_cells(grid: Grid, shape: tuple[int, int], rows: slice, cols: slice):
    """The cells of `grid` over a window of a frame of `shape` (H, W): the window's row and
    column cell indices (frame numbering), each pixel's cell label there (row-major from the
    window's first cell), and the window's (cells down, cells across)."""
    iy, ix = grid.cell_index(*shape)
    iy, ix = iy[rows], ix[cols]
    ny, nx = iy[-1] - iy[0] + 1, ix[-1] - ix[0] + 1
    labels = (iy - iy[0])[:, None] * nx + (ix - ix[0])[None, :]
    return iy, ix, labels, (int(ny), int(nx))


def _cell_stats(frame: np.ndarray, grid: Grid, rows: slice, cols: slice, margin_div: int = 8):
    """Per cell over a window: mean (ny, nx, C), inner std (ny, nx), and the pixel→cell labels."""
    iy, ix, labels, (ny, nx) = window_cells(grid, frame.shape[:2], rows, cols)
    block = frame[rows, cols].astype(np.float64)
    n = ny * nx
    sums, counts = cell_sums(block, labels, n)
    means = sums / np.maximum(counts, 1)[:, None]
    # Inner pixels: away from their cell's border, which coding smears (one pixel deep, up to
    # four for large cells, whose coding blocks ring further).
    if grid.pitch[0] < 5 or grid.pitch[1] < 5:
        inner = np.ones((len(iy), len(ix)), bool)
    else:
        my, mx = (int(np.clip(p // margin_div, 1, 4)) for p in (grid.pitch[1], grid.pitch[0]))
        inner = (_border_distance(iy) >= my)[:, None] & (_border_distance(ix) >= mx)[None, :]
    s1, n_in = cell_sums(block, labels, n, weights=inner)
    s2, _ = cell_sums(block * block, labels, n, weights=inner)
    m = s1 / np.maximum(n_in, 1)[:, None]
    var = (s2 / np.maximum(n_in, 1)[:, None] - m * m).max(axis=1)  # the noisiest channel
    std = np.sqrt(np.maximum(var, 0)).reshape(ny, nx)
    std[(n_in < 2).reshape(ny, nx)] = np.inf
    return means.reshape(ny, nx, -1), std, labels, counts.reshape(ny, nx)


def _fill_holes(cells: np.ndarray) -> np.ndarray:
    """Fill enclosed holes of a small bool grid (flood fill from the border)."""
    padded = np.pad(cells, 1).astype(np.uint8)
    flood = padded.copy()
    mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, mask, (0, 0), 1)
    return (cells | (flood[1:-1, 1:-1] == 0))


def _median_rows(values: np.ndarray) -> np.ndarray:
    """np.median(values, axis=0), without its overhead (called for every strip of every cut
    cell: a few pixels each)."""
    ordered = np.sort(values, axis=0)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def _cut_cell(cell: np.ndarray, kept: tuple[bool, bool, bool, bool], strip_std: float,
              pixel_tolerance: float) -> np.ndarray | None:
    """The part of a cell on a region's edge that carries a mosaic colour (bool, the cell's
    shape), or None.

    A cut cell shows its colour only on the side inside the region, which is the side facing
    a kept neighbour (`kept`: up, down, left, right). Its colour is read from the strip of
    pixels along that side (one pixel in, where coding smears the border itself), and the
    part is the pixels of that colour connected to the strip: matching pixels elsewhere in
    the cell belong to the picture.
    """
    h, w = cell.shape[:2]
    c = cell.astype(np.float64)
    best = None
    for side, has in zip(("up", "down", "left", "right"), kept):
        if not has:
            continue
        across = h if side in ("up", "down") else w
        for depth in ((1, 0) if across >= 5 else (0,)):
            line = {"up": (slice(depth, depth + 1), slice(None)), "down": (slice(h - 1 - depth, h - depth), slice(None)),
                    "left": (slice(None), slice(depth, depth + 1)), "right": (slice(None), slice(w - 1 - depth, w - depth))}[side]
            strip = c[line].reshape(-1, c.shape[-1])
            colour = _median_rows(strip)
            # A corner cell is cut on two sides: its strip may end in picture pixels.
            inliers = np.abs(strip - colour).max(axis=1) <= max(pixel_tolerance, 2 * strip_std)
            if inliers.mean() < 0.5:
                continue
            spread = float(strip[inliers].std(axis=0).max())
            if best is None or spread < best[0]:
                best = (spread, line, colour)
    if best is None or best[0] > strip_std:
        return None
    spread, line, colour = best
    close = (np.abs(c - colour).max(axis=2) <= max(pixel_tolerance, 3 * spread + 1)).astype(np.uint8)
    _, comp = cv2.connectedComponents(close, connectivity=4)
    touching = np.unique(comp[line][close[line] > 0])
    return np.isin(comp, touching[touching > 0])


def _flat_runs(luma: np.ndarray, flat: int) -> np.ndarray:
    """Lengths (px) of the horizontal runs of neighbours within `flat` levels, 3 px or longer."""
    same = np.abs(np.diff(luma.astype(np.int16), axis=1)) <= flat
    padded = np.pad(same, ((0, 0), (1, 1))).astype(np.int8)
    edges = np.diff(padded, axis=1)
    starts, ends = np.nonzero(edges == 1), np.nonzero(edges == -1)
    runs = ends[1] - starts[1] + 1  # row-major order pairs each start with its end
    return runs[runs >= 3]


def _too_fine(luma: np.ndarray, grid: Grid, flat: int) -> bool:
    """Whether flat runs in the box are much longer than the lattice's cells: the lattice is
    a finer one fitted to a large-cell mosaic (its cells are flat, its steps on true borders)."""
    for block, pitch in ((luma, grid.pitch[0]), (luma.T, grid.pitch[1])):
        runs = _flat_runs(block, flat)
        if runs.size >= 8 and runs[runs > 2.5 * pitch].sum() >= 0.5 * runs.sum():
            return True
    return False


def _two_tone(values: np.ndarray, gap: float = 60.0) -> bool:
    """Whether the values fall into two clusters, each a quarter or more of them, far apart
    compared with their own spread (a chessboard's dark and light squares, lighting and all)."""
    if values.size < 3:
        return False
    v = np.sort(values)
    cut = int(np.argmax(np.diff(v))) + 1
    low, high = v[:cut], v[cut:]
    between = v[cut] - v[cut - 1]
    return bool(between >= gap and min(cut, v.size - cut) >= v.size / 4
                and max(np.ptp(low), np.ptp(high)) <= 0.4 * between)


class _Flat(NamedTuple):
    """A frame's flat areas at one tolerance: the map, and its cores (the map shrunk by 2 px,
    which removes a picture's many small flat specks and keeps labelling fast), labelled."""

    flat: np.ndarray  # uint8 H×W, 1 = flat
    core: np.ndarray  # int32 H×W core labels, 0 = none
    stats: np.ndarray  # (labels, 5) x, y, w, h, area of each core (cv2's layout)
    centroids: np.ndarray  # (labels, 2) x, y


def _flat_areas(flat: np.ndarray) -> _Flat:
    core = cv2.erode(flat, np.ones((5, 5), np.uint8))
    _, labels, stats, centroids = cv2.connectedComponentsWithStats(core, connectivity=4)
    return _Flat(flat, labels, stats, centroids)


def _flat_maps(spread: np.ndarray, colour: np.ndarray, cfg: DetectorConfig) -> tuple[_Flat, _Flat]:
    """(flat within `blob_flat` luma levels over 3×3, exactly flat in every channel over 3×3);
    `spread`: the luma's 3×3 range."""
    kernel = np.ones((3, 3), np.uint8)
    rgb = cv2.absdiff(cv2.dilate(colour, kernel), cv2.erode(colour, kernel))
    exact = ((rgb[..., 0] | rgb[..., 1] | rgb[..., 2]) == 0).astype(np.uint8)
    return _flat_areas((spread <= cfg.blob_flat).astype(np.uint8)), _flat_areas(exact)


def _piece_boxes(areas: _Flat, taken: np.ndarray, cfg: DetectorConfig):
    """Boxes of the flat pieces (whole, not shrunk) whose cores fit a cell of `blob_min` to
    `max_pitch` px, outside regions already found: (x, y, w, h per core label, ids of the
    pieces), or None if fewer than three."""
    x, y, w, h = (areas.stats[:, i].astype(np.int64) for i in range(4))
    height, width = areas.core.shape
    x0, y0 = np.maximum(x - 2, 0), np.maximum(y - 2, 0)  # the core's box, grown back
    x, y, w, h = x0, y0, np.minimum(x + w + 2, width) - x0, np.minimum(y + h + 2, height) - y0
    side = cfg.blob_min - 2
    usable = (w >= side) & (h >= side) & (w <= cfg.max_pitch) & (h <= cfg.max_pitch)
    usable[0] = False
    if taken.any():
        usable[np.bincount(areas.core[taken], minlength=len(usable)) > 0] = False  # bincount: unique's hash is slow on a frame
    ids = np.flatnonzero(usable)
    return None if len(ids) < 3 else (x, y, w, h, ids)


def _piece_labels(areas: _Flat, ids: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Labels (H×W int32, 0 outside `box` x0, y0, x1, y1) of the given pieces, whole: each
    core grown back by 2 px within the flat map."""
    x0, y0, x1, y1 = box
    core = areas.core[y0:y1, x0:x1]
    keep = np.zeros(len(areas.stats), np.float32)
    keep[ids] = ids
    labels = np.zeros(areas.core.shape, np.int32)
    labels[y0:y1, x0:x1] = cv2.dilate(keep[core], np.ones((5, 5), np.uint8)) * areas.flat[y0:y1, x0:x1]
    return labels


def _sample(values: np.ndarray, areas: _Flat, ids: np.ndarray) -> np.ndarray:
    """Each piece's value (values: H×W or H×W×C) at a pixel of its core: its centroid if the
    core covers it, else the core's first pixel."""
    out = np.zeros((len(areas.stats),) + values.shape[2:], values.dtype)
    cx, cy = np.round(areas.centroids[ids]).astype(np.int64).T
    hit = areas.core[cy, cx] == ids
    out[ids[hit]] = values[cy[hit], cx[hit]]
    for i in ids[~hit]:
        x0, y0, w, h = (int(v) for v in areas.stats[i, :4])
        ys, xs = np.nonzero(areas.core[y0:y0 + h, x0:x0 + w] == i)
        out[i] = values[y0 + ys[0], x0 + xs[0]]
    return out


def _box_around(pieces, boxes: tuple[np.ndarray, ...], shape: tuple[int, int], pad: int) -> tuple[int, int, int, int]:
    """The box (x0, y0, x1, y1) around the given pieces (`boxes`: x, y, w, h per piece),
    grown by `pad` px and kept inside a frame of `shape` (height, width)."""
    x, y, w, h = boxes
    pieces = np.asarray(pieces)
    return (max(int(x[pieces].min()) - pad, 0), max(int(y[pieces].min()) - pad, 0),
            min(int((x + w)[pieces].max()) + pad, shape[1]), min(int((y + h)[pieces].max()) + pad, shape[0]))


def _blob_lattices(shape: tuple[int, int], maps: tuple[_Flat, _Flat], taken: np.ndarray, cfg: DetectorConfig):
    """(grid, box x0, y0, x1, y1) of groups of flat rectangles that sit on one lattice.

    A large mosaic cell's inside is a flat rectangle (3×3 range ≤ `blob_flat`, or 0), a little
    smaller than the cell; flat picture areas are rarely rectangles. Rectangles of about
    one size whose centres fall on one lattice make a candidate mosaic; its pitch is the
    spacing that puts most of them on the lattice, its phase their centres' median.
    """
    found = []
    # Coded cells are flat within a few levels; exactly flat ones (uncompressed) are looked
    # for on their own too, since a step of a level or two between them merges them otherwise.
    # The cores (flat areas shrunk by 2 px) are grown back to rectangles.
    for areas in maps:
        comp, stats = areas.core, areas.stats[1:].astype(np.float64)
        w, h, area = stats[:, 2], stats[:, 3], stats[:, 4]
        ok = ((w + 4 >= cfg.blob_min) & (h + 4 >= cfg.blob_min) & (w + 4 <= cfg.max_pitch) & (h + 4 <= cfg.max_pitch)
              & (area >= 0.75 * w * h))
        ok &= np.bincount(comp[taken], minlength=len(ok) + 1)[1:] == 0  # flat rectangles of a region already found
        rects = stats[ok] + np.array([-2, -2, 4, 4, 0])
        if found and len(rects):  # the same cell found at both levels counts once
            prev = found[0]
            centre_x, centre_y = rects[:, 0] + rects[:, 2] / 2, rects[:, 1] + rects[:, 3] / 2
            inside = ((centre_x[:, None] >= prev[None, :, 0]) & (centre_x[:, None] < prev[None, :, 0] + prev[None, :, 2])
                      & (centre_y[:, None] >= prev[None, :, 1]) & (centre_y[:, None] < prev[None, :, 1] + prev[None, :, 3]))
            rects = rects[~inside.any(axis=1)]
        found.append(rects)
    blobs = np.concatenate(found)
    if len(blobs) < cfg.min_blobs:
        return []
    cx = blobs[:, 0] + (blobs[:, 2] - 1) / 2
    cy = blobs[:, 1] + (blobs[:, 3] - 1) / 2
    used = np.zeros(len(blobs), bool)
    out = []
    for i in np.argsort(-blobs[:, 4]):
        if used[i]:
            continue
        bw, bh = blobs[i, 2], blobs[i, 3]
        similar = ~used & (np.abs(blobs[:, 2] - bw) <= max(2, 0.15 * bw)) & (np.abs(blobs[:, 3] - bh) <= max(2, 0.15 * bh))
        if similar.sum() < cfg.min_blobs:
            continue
        # The seed's neighbours: similar rectangles chained to it, at most a cell gap apart.
        near = np.zeros(len(blobs), bool)
        near[i] = True
        while True:
            members = np.flatnonzero(near)
            reach = (np.abs(cx[:, None] - cx[members][None]) <= 1.6 * (bw + 10)) & \
                    (np.abs(cy[:, None] - cy[members][None]) <= 1.6 * (bh + 10))
            grown = near | (similar & reach.any(axis=1))
            if grown.sum() == near.sum():
                break
            near = grown
        if near.sum() < cfg.min_blobs:
            continue
        # Pitch per axis: centre spacings of rectangles side by side in one row (column),
        # divided by the number of cells between them; their size + 2 where there are none.
        members = np.flatnonzero(near)
        grid_axes = []
        for c, other, size, other_size in ((cx, cy, bw, bh), (cy, cx, bh, bw)):
            a, b = np.triu_indices(len(members), 1)
            a, b = members[a], members[b]
            d = np.abs(c[a] - c[b])
            row = (np.abs(other[a] - other[b]) <= other_size / 2) & (d >= size)
            steps = np.maximum(np.round(d[row] / (size + 2)), 1)
            spacing = d[row] / steps
            spacing = spacing[(spacing >= size) & (spacing <= size + 10)]
            grid_axes.append(float(np.median(spacing)) if spacing.size else float(size + 2))
        if abs(grid_axes[0] - grid_axes[1]) > 0.3 * max(grid_axes) and min(bw, bh) >= 0.8 * max(bw, bh):
            grid_axes = [max(grid_axes)] * 2  # square rectangles: one spacing was measured across a gap
        # Phase: the members' cell edges, each from its centre; those off the lattice drop out.
        fitted = []
        on = near.copy()
        for c, p in zip((cx, cy), grid_axes):
            edge = c - (p - 1) / 2
            left = edge[i] % p
            off = (edge - left + p / 2) % p - p / 2
            on &= np.abs(off) <= max(1.5, 0.1 * p)
            fitted.append((p, left))
        if on.sum() < cfg.min_blobs:
            continue
        used |= near
        near = on
        # Least squares over the members' centres: the sub-pixel pitch and phase (scaled video).
        grid_axes = []
        for c, (p, left) in zip((cx, cy), fitted):
            k = np.round((c[near] - (p - 1) / 2 - left) / p)
            if np.ptp(k) >= 1:
                p, left = np.polyfit(k, c[near] - (p - 1) / 2, 1)
            else:
                left = float(np.median(c[near] - (p - 1) / 2 - k * p))
            grid_axes.append((float(p), float(left) % p))
        (px, ox), (py, oy) = grid_axes
        x0 = int(max(blobs[near, 0].min() - px, 0))
        y0 = int(max(blobs[near, 1].min() - py, 0))
        x1 = int(min((blobs[near, 0] + blobs[near, 2]).max() + px, shape[1]))
        y1 = int(min((blobs[near, 1] + blobs[near, 3]).max() + py, shape[0]))
        out.append((Grid((_snap(px), _snap(py)), (_snap(ox) % _snap(px), _snap(oy) % _snap(py))), (x0, y0, x1, y1)))
    return out


def _bbox(mask: np.ndarray, rows: slice, cols: slice) -> tuple[int, int, int, int]:
    """Frame box (x0, y0, x1, y1) of a non-empty mask over the window (rows, cols)."""
    ys, xs = np.nonzero(mask)
    return (int(cols.start + xs.min()), int(rows.start + ys.min()),
            int(cols.start + xs.max() + 1), int(rows.start + ys.max() + 1))


def _split_region(labels: np.ndarray, regions: list, k: int, rows: slice, cols: slice,
                  parts: Sequence[tuple[np.ndarray, Grid]]) -> None:
    """Region k (label k + 1) becomes two, in place: the first part, over the window (rows,
    cols), keeps its label, the second is a new region at the end; each with its own grid."""
    for c, (part, grid) in enumerate(parts):
        label = k + 1 if c == 0 else len(regions) + 1
        labels[rows, cols][part] = label
        r = replace(regions[k], bbox=_bbox(part, rows, cols), pitch=grid.pitch, origin=grid.origin,
                    cells=max(1, int(round(part.sum() / (grid.pitch[0] * grid.pitch[1])))))
        if c == 0:
            regions[k] = r
        else:
            regions.append(r)


def _piece_region(mask: np.ndarray, rows: slice, cols: slice, pitch, origin, pieces: int):
    """A piece path's find, as `_region` returns one: (region, pixel mask, claimed, window origin)."""
    region = Region(_bbox(mask, rows, cols), (float(pitch[0]), float(pitch[1])), (float(origin[0]), float(origin[1])),
                    "mean", pieces, 1.0)
    return region, mask, mask, (rows.start, cols.start)


def _piece_lattices(links: list, ids: np.ndarray, boxes: tuple[np.ndarray, ...], cfg: DetectorConfig,
                    slack: float = 0.0):
    """Groups of pieces linked by borders both ways, each with the lattice its borders lie on:
    (pieces, (pitch x, y), (origin x, y)). `links`: (a, b, axis, border position); `boxes`:
    the pieces' (x, y, w, h); `slack`: how far (px) a border may sit off the lattice (coded
    borders are blurred)."""
    x, y, w, h = boxes
    parent = {int(i): int(i) for i in ids}

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _, _ in links:
        parent[root(a)] = root(b)
    groups = {}
    for link in links:
        groups.setdefault(root(link[0]), []).append(link)
    for group in groups.values():
        pieces = sorted({i for a, b, _, _ in group for i in (a, b)})
        borders = [sorted({pos for _, _, ax, pos in group if ax == axis}) for axis in (1, 0)]
        if len(pieces) < 3 or not borders[0] or not borders[1]:
            continue
        grid_axes = []
        for axis, lines in zip((1, 0), borders):
            extent = int(max((w if axis == 1 else h)[pieces])) + 2  # a cell holds its piece and two rims
            lines = np.asarray(lines, np.float64)
            if slack:  # one border seen from several pairs: blurred positions a pixel apart
                lines = lines[np.r_[True, np.diff(lines) > 2 * slack]]
            steps = np.diff(lines)
            if steps.size:
                pitch = float(steps.min())
                n = np.round(steps / pitch)
                if pitch < extent - 2 * slack or np.any(np.abs(steps - n * pitch) > max(0.02 * steps.max(), 2 * slack)):
                    break  # borders off one lattice, or a piece larger than a cell: not a mosaic
                if n.max() > 1:  # least squares over all borders: the sub-pixel pitch
                    pitch = float(np.polyfit(np.r_[0, np.cumsum(n)], lines, 1)[0])
            else:
                pitch = float(extent)
            grid_axes.append((pitch, float(lines[0]) % pitch))
        if len(grid_axes) < 2:
            continue
        # One border per axis leaves that pitch open: a square cell's other side stands in
        # (with one border both ways, the smaller extent: two cells a level apart can merge
        # into one piece, never split one).
        (px, ox), (py, oy) = grid_axes
        if len(borders[0]) == 1 and len(borders[1]) > 1 and py >= px:
            px, ox = py, borders[0][0] % py
        if len(borders[1]) == 1 and len(borders[0]) > 1 and px >= py:
            py, oy = px, borders[1][0] % px
        if len(borders[0]) == 1 and len(borders[1]) == 1:
            # Exact pieces: no line may cross one either, so a cell reaches from its border
            # past the farthest piece beside it (and its rim), wherever the region cut the
            # others. (Exactly equal neighbours are rare; coded ones blur into one piece.)
            (bx,), (by,) = borders
            px = py = min(px, py)
            if not slack:
                px = py = max(px, _reach(bx, x[pieces], w[pieces]), _reach(by, y[pieces], h[pieces]))
            ox, oy = bx % px, by % py
        # A codec's flat blocks (8 or 16 px) meet on sharp borders too.
        if min(px, py) < cfg.exact_jump_min_pitch:
            continue
        yield pieces, (_snap(px), _snap(py)), (_snap(ox), _snap(oy))


def _reach(border: float, start: np.ndarray, size: np.ndarray) -> float:
    """Px from a cell border (the first pixel after it) to the far rim of the farthest piece
    (box start, size along the axis) on either side of it."""
    return float(max(np.max(border - start + 1), np.max(start + size + 1 - border)))


def _facing_pairs(ids: np.ndarray, boxes: tuple[np.ndarray, ...], gaps: tuple[int, int],
                  overlap: int) -> list[tuple[int, int, int, int, int]]:
    """(a, b, lo, hi, axis) of pieces a before b: side by side (axis 1, vertical border)
    or one above the other (axis 0), b's box starting `gaps` (min, max) px after a's ends,
    the two overlapping by `overlap` px or more across that axis, over [lo, hi)."""
    x, y, w, h = boxes
    pairs = []
    for axis, (start, size, cross, cross_size) in ((1, (x, w, y, h)), (0, (y, h, x, w))):
        by_end = ids[np.argsort(start[ids] + size[ids], kind="stable")]
        ends = start[by_end] + size[by_end]
        first = np.searchsorted(ends, start[ids] - gaps[1], "left")
        n = np.searchsorted(ends, start[ids] - gaps[0], "right") - first
        b = np.repeat(ids, n)
        a = by_end[np.repeat(first, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)]
        lo = np.maximum(cross[a], cross[b])
        hi = np.minimum(cross[a] + cross_size[a], cross[b] + cross_size[b])
        ok = hi - lo >= overlap
        pairs += [(*pair, axis) for pair in zip(a[ok].tolist(), b[ok].tolist(), lo[ok].tolist(), hi[ok].tolist())]
    return pairs


def _code(rgb: np.ndarray) -> np.ndarray:
    """One number per colour (exact in float32)."""
    return _colour_code(rgb).astype(np.float32)


def _exact_pieces(colour: np.ndarray, areas: _Flat, taken: np.ndarray, cfg: DetectorConfig):
    """Small uncompressed mosaics of large cells, found as exactly flat pieces that meet.

    A region only two or three large cells across has few whole cells, too few for the
    comb or for rectangles of one size; but each cell, cut or not, leaves an exactly flat
    piece, and two neighbouring pieces meet along a straight line where the colour jumps
    from one flat value to the other between two pixels. A picture almost never shows that
    (a drawn line between two flat areas is a third colour). Pieces linked by such borders,
    both ways, give the region (the pieces, each grown by its rim of the same colour) and
    its lattice (the borders; the pitch from their spacing, or from the largest piece where
    a region holds one border per axis). Yields (region, pixel mask, claimed, origin).
    """
    height, width = colour.shape[:2]
    kernel = np.ones((3, 3), np.uint8)
    found = _piece_boxes(areas, taken, cfg)
    if found is None:
        return
    x, y, w, h, ids = found
    boxes = (x, y, w, h)
    count = len(areas.stats)
    side = cfg.blob_min - 2
    piece_rgb = _sample(colour, areas, ids).astype(np.int32)
    value = _code(piece_rgb)  # pieces are flat in every channel at once
    pairs = [pair for pair in _facing_pairs(ids, boxes, (2, 2), side) if value[pair[0]] != value[pair[1]]]
    if len(pairs) < 2:
        return
    comp = _piece_labels(areas, ids, _box_around([i for pair in pairs for i in pair[:2]], boxes, (height, width), 3))
    links = []  # (a, b, axis, border position: first pixel of b's cell)
    for a, b, lo, hi, axis in pairs:
        start, size = (x, w) if axis == 1 else (y, h)
        edge = int(start[a] + size[a])  # a's rim; b's rim follows
        if axis == 1:
            seen_a, seen_b = comp[lo:hi, edge - 1] == a, comp[lo:hi, edge + 2] == b
            rims = _code(colour[lo:hi, edge:edge + 2]).T
        else:
            seen_a, seen_b = comp[edge - 1, lo:hi] == a, comp[edge + 2, lo:hi] == b
            rims = _code(colour[edge:edge + 2, lo:hi])
        both = seen_a & seen_b
        sharp = both & (rims[0] == value[a]) & (rims[1] == value[b])
        if both.sum() >= side and sharp.sum() >= 0.9 * both.sum():
            links.append((a, b, axis, edge + 1))
    for pieces, (px, py), (ox, oy) in _piece_lattices(links, ids, boxes, cfg):
        # A smooth rendered gradient is quantised into exactly flat bands one level apart
        # (blocky after JPEG): a mosaic over a picture shows some larger step.
        if max(np.abs(piece_rgb[a] - piece_rgb[b]).max() for a, b, _, _ in links if a in pieces) < cfg.exact_step:
            continue
        x0, y0, x1, y1 = _box_around(pieces, boxes, (height, width), 1)
        r, c = slice(y0, y1), slice(x0, x1)
        sub = comp[r, c]
        member = np.isin(sub, pieces)
        piece = np.where(member, sub, 0).astype(np.float32)
        # Each piece's rim: the pixels around it of exactly its colour, every channel.
        grown = member.copy()
        colour_code = _code(colour[r, c])
        for near in (cv2.dilate(piece, kernel), -cv2.dilate(np.where(member, -piece, -1e9).astype(np.float32), kernel)):
            k = np.clip(near, 0, count - 1).astype(np.int64)
            grown |= (k > 0) & (near < count) & (value[k] == colour_code)
        yield _piece_region(grown, r, c, (px, py), (ox, oy), len(pieces))


def _coded_pieces(luma: np.ndarray, areas: _Flat, taken: np.ndarray, cfg: DetectorConfig):
    """The coded counterpart of `_exact_pieces`: after H.264 a large cell's inside is flat
    within a level or two (3×3 luma range ≤ `blob_flat`) and its borders are blurred over
    a few pixels. Two pieces are linked when they face each other across a gap of 2 to
    `coded_gap` px, along straight sides, with a clear step between them; the border sits in
    the middle of the gap. The region is the pieces, the gaps between linked pieces, and
    each piece's ring of pixels near its level. Yields (region, pixel mask, claimed, origin)."""
    height, width = luma.shape
    found = _piece_boxes(areas, taken, cfg)
    if found is None:
        return
    x, y, w, h, ids = found
    boxes = (x, y, w, h)
    side = cfg.blob_min - 2
    level = _sample(luma.astype(np.float64), areas, ids)
    pairs = [pair for pair in _facing_pairs(ids, boxes, (1, cfg.coded_gap), side)
             if abs(level[pair[0]] - level[pair[1]]) >= cfg.step]
    if len(pairs) < 2:
        return
    comp = _piece_labels(areas, ids, _box_around([i for pair in pairs for i in pair[:2]], boxes, (height, width),
                                                 cfg.coded_gap + 3))
    links, gaps = [], []
    for a, b, lo, hi, axis in pairs:
        start, size = (x, w) if axis == 1 else (y, h)
        # Coded sides are ragged: each piece's side is its last line (first, for b) that
        # it fills along most of the overlap; the border is the largest mean step between.
        s0 = max(int(start[a] + size[a]) - cfg.coded_gap, 0)
        s1 = int(start[b]) + cfg.coded_gap
        band = comp[lo:hi, s0:s1] if axis == 1 else comp[s0:s1, lo:hi].T
        fill_a, fill_b = (band == a).mean(axis=0), (band == b).mean(axis=0)
        side_a, side_b = np.flatnonzero(fill_a >= 0.7), np.flatnonzero(fill_b >= 0.7)
        if not side_a.size or not side_b.size or side_b[0] - side_a[-1] > cfg.coded_gap + 1:
            continue
        g0, g1 = s0 + side_a[-1] + 1, s0 + side_b[0]  # the gap: [g0, g1)
        strip = luma[lo:hi, g0 - 1:g1 + 1] if axis == 1 else luma[g0 - 1:g1 + 1, lo:hi].T
        steps = np.abs(np.diff(strip.astype(np.int16), axis=1)).mean(axis=0)
        border = g0 + int(np.argmax(steps))  # first pixel of b's cell
        links.append((a, b, axis, float(border)))
        gaps.append((axis, g0, g1, lo, hi))
    if not links:
        return
    for pieces, (px, py), (ox, oy) in _piece_lattices(links, ids, boxes, cfg, slack=1.0):
        x0, y0, x1, y1 = _box_around(pieces, boxes, (height, width), 3)
        r, c = slice(y0, y1), slice(x0, x1)
        sub = comp[r, c]
        member = np.isin(sub, pieces)
        mask = member.copy()
        for (axis, g0, g1, lo, hi), (a, b, _, _) in zip(gaps, links):
            if a in pieces:
                if axis == 1:
                    mask[max(lo - r.start, 0):hi - r.start, max(g0 - c.start, 0):g1 - c.start] = True
                else:
                    mask[max(g0 - r.start, 0):g1 - r.start, max(lo - c.start, 0):hi - c.start] = True
        # The ring: pixels a little way out from a piece, still near its level.
        piece = np.where(member, sub, 0).astype(np.float32)
        near = cv2.dilate(piece, np.ones((5, 5), np.uint8)).astype(np.int64)
        ring = (near > 0) & ~mask & (np.abs(luma[r, c] - level[near]) <= 2 * cfg.blob_flat)
        mask |= ring
        yield _piece_region(mask, r, c, (px, py), (ox, oy), len(pieces))


def _tooth_error(teeth: np.ndarray, pitch: float, origin: float) -> float:
    """Largest distance (px) from a border (tooth t: a step between pixels t and t+1) to the
    nearest border of lattice (pitch, origin)."""
    off = (teeth + 1 - origin) % pitch
    return float(np.minimum(off, pitch - off).max())


def _mean_steps(d: np.ndarray, mask: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean step `d` (a box's |differences| along `axis`, 0: between columns) across each
    column (row) pair inside `mask`, 0 where fewer than a quarter of the most pixels count,
    and which pairs count."""
    both = (mask[:, 1:] & mask[:, :-1]) if axis == 0 else (mask[1:] & mask[:-1])
    weight = both.sum(axis=axis)
    counted = weight >= max(0.25 * weight.max(initial=0), 2)  # a box one pixel across has no pair
    return np.where(counted, (d * both).sum(axis=axis) / np.maximum(weight, 1), 0.0), counted


class _Steps(NamedTuple):
    """The mean |step| across each column (row) pair of a box inside a mask (`_mean_steps`),
    where it counts, the median of those, and the box's first edge in the frame."""

    profile: np.ndarray
    counted: np.ndarray
    floor: float
    start: int

    @classmethod
    def of(cls, diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, axis: int, offset: tuple[int, int]) -> "_Steps | None":
        """None where fewer than eight pixel pairs count."""
        profile, counted = _mean_steps(diff[axis], mask, axis)
        if counted.sum() < 8:
            return None
        return cls(profile, counted, float(np.median(profile[counted])), offset[axis])

    def on_lines(self, pitch: float, origin: float, frac: float = 0.0, least: int = 2) -> float | None:
        """The mean step across the lines origin + (n + frac) * pitch, above the median (the
        largest of the three pixel pairs nearest each line: coding and scaling blur a border
        over two); None where fewer than `least` lines count."""
        first = np.floor((self.start - origin) / pitch) - 1
        lines = origin + (np.arange(first, first + self.profile.size / pitch + 3) + frac) * pitch
        idx = np.round(lines - self.start).astype(int) - 1  # index i: the border between pixels i and i+1
        idx = idx[(idx >= 1) & (idx < self.profile.size - 1)]
        idx = idx[self.counted[idx]]
        if idx.size < least:
            return None
        p = self.profile
        return float(np.maximum(np.maximum(p[idx - 1], p[idx]), p[idx + 1]).mean() - self.floor)


def _quarter_steps(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, axis: int,
                   offset: tuple[int, int]) -> list[_Steps]:
    """The step profiles (`_Steps`) along `axis` of each quarter of a region's box that has
    one: a lattice is judged per quarter, so that a second mosaic over part of the region
    does not speak for all of it."""
    height, width = mask.shape
    out = []
    for rows in (slice(0, height // 2), slice(height // 2, height)):
        for cols in (slice(0, width // 2), slice(width // 2, width)):
            part = (diff[0][rows, cols.start:cols.stop - 1], diff[1][rows.start:rows.stop - 1, cols])
            steps = _Steps.of(part, mask[rows, cols], axis, (offset[0] + cols.start, offset[1] + rows.start))
            if steps is not None:
                out.append(steps)
    return out


def _line_steps(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid, axis: int,
                offset: tuple[int, int] = (0, 0)) -> float | None:
    """The mean step across `grid`'s lines along `axis` (0: its columns' borders) inside
    `mask`, above the typical step there (`_Steps.on_lines`). `diff`: the box's |steps|
    (`_abs_diffs`), `offset`: the box's (x, y) in the frame."""
    steps = _Steps.of(diff, mask, axis, offset)
    return None if steps is None else steps.on_lines(grid.pitch[axis], grid.origin[axis])


def _finer_grid(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid,
                offset: tuple[int, int] = (0, 0), most: int = 6, share: float = 0.5,
                min_pitch: float = 4.0, square_share: float = 0.0) -> Grid:
    """`grid`, or the finest lattice it is every k-th line of (k up to `most`, per axis) whose
    lines in between all carry steps too: at each j/k of the pitch, `share` of the step its
    own lines carry (`_Steps.on_lines`), in the median quarter of the region and a third of
    that in every quarter (two mosaics on different lattices in one region put the other's
    lines between this one's over part of it only).

    A mosaic scaled after pixelation by 4/3 has cells of 10.67 px, whose rounded borders
    repeat exactly every 32 px (three cells); the combs, and the border maps, then often see
    that period, or 64 px, rather than the cells. Inside a mosaic's true cells there is no
    step, so a lattice that splits them finds none on the lines it adds.

    Square cells split along one axis only (into oblong ones, as mosaics' seldom are) need
    `square_share` (if larger): after coding, an 8 px codec block's edge falls within a
    pixel of a 10 px cell's middle at every other cell."""
    pitch = list(grid.pitch)
    chosen = [{}, {}]  # per axis: the finest k passing, by threshold
    for axis in (0, 1):
        p, o = grid.pitch[axis], grid.origin[axis]
        ratios = {k: [] for k in range(2, most + 1) if p / k >= min_pitch}
        if not ratios:
            continue
        for steps in _quarter_steps(diff, mask, axis, offset):
            own = steps.on_lines(p, o)
            if own is None or own <= 0:
                continue
            for k in ratios:
                between = [steps.on_lines(p, o, j / k) for j in range(1, k)]
                ratios[k].append(min((v if v is not None else -np.inf) for v in between) / own)
        for least in {share, max(share, square_share)}:
            passing = [k for k, r in ratios.items() if r and np.median(r) >= least and min(r) >= least / 3]
            chosen[axis][least] = max(passing, default=1)
    square = abs(grid.pitch[0] - grid.pitch[1]) <= 0.04 * max(grid.pitch)
    loose = [c.get(share, 1) for c in chosen]
    for axis in (0, 1):
        k = loose[axis]
        if square and loose[0] != loose[1]:  # the cells would turn oblong
            k = chosen[axis].get(max(share, square_share), 1)
        pitch[axis] = grid.pitch[axis] / k
    return Grid((pitch[0], pitch[1]), grid.origin)


def _coarser_grid(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid,
                  offset: tuple[int, int] = (0, 0), share: float = 0.25, max_pitch: float = 72.0,
                  square_share: float = 0.0) -> Grid:
    """`grid`, or the coarser lattice of every k-th of its lines (k = 2 or 3, per axis, again
    while it holds) where only those carry steps: the other lines carry at most `share` of
    their step (`_Steps.on_lines`) in the median quarter of the region, and at most twice
    that in every quarter, with two quarters at least to tell. A mosaic's half cells are as flat as its cells, so flatness and
    the combs can settle on half the pitch along one axis; but no step runs through the
    middle of a cell.

    Where k times one axis's pitch is the other's (cells 1:k oblong, as mosaics' seldom are),
    the lines between may carry up to `square_share` (if larger): after coding, an 8 px
    codec block's edge falls within a pixel of a 10 px cell's middle at every other cell."""
    pitch, origin = list(grid.pitch), list(grid.origin)
    for axis in (0, 1):
        profiles = _quarter_steps(diff, mask, axis, offset)
        changed = True
        while changed and profiles:
            changed = False
            p, o = pitch[axis], origin[axis]
            for k in (2, 3):
                if k * p > max_pitch:
                    break
                # Per quarter: each class j of lines (o + (n k + j) p), relative to the strongest.
                by_class = np.full((len(profiles), k), np.nan)
                for q, steps in enumerate(profiles):
                    for j in range(k):
                        v = steps.on_lines(k * p, o + j * p)
                        by_class[q, j] = np.nan if v is None else v
                by_class = by_class[~np.isnan(by_class).any(axis=1)]
                best = int(by_class.sum(axis=0).argmax()) if len(by_class) else 0
                by_class = by_class[by_class[:, best] > 0]
                if len(by_class) < 2:
                    continue  # one quarter's say is not enough
                ratios = np.delete(by_class, best, axis=1).max(axis=1) / by_class[:, best]
                square = abs(k * p - pitch[1 - axis]) <= 0.04 * pitch[1 - axis]
                most = max(share, square_share) if square else share
                if np.median(ratios) <= most and ratios.max() <= 2 * most:
                    pitch[axis], origin[axis] = k * p, (o + best * p) % (k * p)
                    changed = True
                    break
    return Grid((pitch[0], pitch[1]), (origin[0], origin[1]))


def _parts_by_lines(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, axis: int, offset: tuple[int, int],
                    lattices: Sequence[tuple[float, float]], window: int, share: float,
                    least: float) -> tuple[np.ndarray, np.ndarray] | None:
    """`mask` as two parts, each on its own of two lattices' lines along `axis` (each a
    (pitch, origin); their lines at least 3 px apart), or None. Each pixel goes to the
    lattice whose lines (±1 px) carry the larger mean step within `window`² around it; it
    is two parts if both hold `least` pixels and in each the other lattice's lines carry
    at most `share` of its own lines' step (`_Steps.on_lines`). Pixels the parts'
    cleaning takes off go to the nearer part."""
    d = diff[axis].astype(np.float32)
    both = (mask[:, 1:] & mask[:, :-1]) if axis == 0 else (mask[1:] & mask[:-1])
    at = offset[axis] + np.arange(d.shape[1 - axis]) + 1.0  # pair i: the border before pixel i + 1
    local = []
    for p, o in lattices:
        near = np.abs(at - o - np.round((at - o) / p) * p) <= 1.0
        w = (both & (near[None, :] if axis == 0 else near[:, None])).astype(np.float32)
        total = cv2.boxFilter(d * w, -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
        count = cv2.boxFilter(w, -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
        local.append(np.where(count > 0.5, total / np.maximum(count, 1), 0.0))
    first = np.pad(local[0] >= local[1], ((0, 0), (0, 1)) if axis == 0 else ((0, 1), (0, 0)), mode="edge")
    kernel = np.ones((5, 5), np.uint8)
    parts = [cv2.morphologyEx((mask & side).astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0 for side in (first, ~first)]
    if min(part.sum() for part in parts) < least:
        return None
    for c, part in enumerate(parts):
        steps = _Steps.of(diff, part, axis, offset)
        if steps is None:
            return None
        own, other = steps.on_lines(*lattices[c]), steps.on_lines(*lattices[1 - c])
        if own is None or other is None or own <= 0 or other > share * own:
            return None
    rest = mask & ~parts[0] & ~parts[1]
    if rest.any():
        dist = [cv2.distanceTransform((~part).astype(np.uint8), cv2.DIST_L2, 3) for part in parts]
        parts[0] = parts[0] | (rest & (dist[0] <= dist[1]))
        parts[1] = mask & ~parts[0]
    return parts[0], parts[1]


def _union_parts(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid,
                 offset: tuple[int, int], share: float, least: float,
                 max_pitch: float) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Two mosaics of one pitch P on lattices about P/2 apart, overlapping into one region,
    have lines every P/2 between them, and the fit takes that finer lattice for the whole
    region (two region-aligned mosaics side by side, or one aligned to the frame beside one
    aligned to its corner). Each part of such a region has steps on every other line only:
    one part on the even lines, the other on the odd ones (`_parts_by_lines`). Only
    whole-pixel pitches: the union of two unscaled mosaics' lines is one, and a fractional
    fit to it (lines drifting from one mosaic's to the other's) serves neither.
    Returns (axis, part on the even lines, part on the odd ones), or None."""
    for axis in (0, 1):
        p, o = grid.pitch[axis], grid.origin[axis]
        if 2 * p > max_pitch or abs(p - round(p)) > 0.05:
            continue
        window = int(np.clip(4 * p, 16, 160)) | 1  # four lines of the finer lattice
        parts = _parts_by_lines(diff, mask, axis, offset, [(2 * p, o), (2 * p, o + p)], window, share, least)
        if parts is not None:
            return (axis, *parts)
    return None


def _refine_grid(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid,
                 offset: tuple[int, int] = (0, 0)) -> Grid:
    """The lattice through a found region's own strong borders. Large cells give the first fit
    few lines, and coding blurs them: the steps across the whole region, averaged along each
    border, place every line inside it. The pitch (within ±20 %) comes from their spacings,
    the phase from a least-squares fit; kept only if it passes closer to every line.
    `diff`, `mask`: the region's box; `offset`: the box's (x, y) in the frame."""
    pitch, origin = list(grid.pitch), list(grid.origin)
    for axis, d in ((0, diff[0]), (1, diff[1])):
        profile, _ = _mean_steps(d, mask, axis)
        pos, w = _teeth(profile)
        pos = pos + offset[axis]
        strong = pos[w >= 0.3 * w.max()] if w.size else pos
        if strong.size == 0:
            continue
        p0, o0 = pitch[axis], origin[axis]
        if strong.size >= 2:
            gaps = np.diff(strong)
            n = np.round(gaps / p0)
            ok = (n >= 1) & (np.abs(gaps / np.maximum(n, 1) - p0) <= 0.2 * p0)
            if not ok.all():
                continue  # borders off any lattice near this pitch: leave it
            index = np.r_[0, np.cumsum(n)]
            p, first = np.polyfit(index, strong, 1) if np.ptp(index) >= 1 else (p0, strong[0])
        else:
            p, first = p0, strong[0]
        o = (first + 1) % p
        if _tooth_error(strong, p, o) + 0.25 < _tooth_error(strong, p0, o0):
            pitch[axis], origin[axis] = float(p), float(o)
    px, py = _snap(pitch[0]), _snap(pitch[1])
    return Grid((px, py), (_snap(origin[0]) % px, _snap(origin[1]) % py))


def _uncompressed(own: np.ndarray, exact: np.ndarray, grid: Grid, x0: int, y0: int) -> bool:
    """Whether a region's cells are exact up to their borders, as only uncompressed ones are.

    Uncompressed cells are exactly flat in every channel (`exact`) but for a pixel at each
    border, so nearly (1 − 2/pitch)² of the region is. Coding leaves small cells far less
    exact, but large ones can stay exact inside; for them the pixels second from a cell
    border decide (their 3×3 neighbourhood is still inside the cell; coding rings and blurs
    chroma there). `own` and `exact` cover the region's box, whose corner is (x0, y0)."""
    inner = max(1.0 - 2.0 / min(grid.pitch), 0.0) ** 2
    if not own.any() or exact[own].mean() < 0.9 * inner:
        return False
    if min(grid.pitch) < 17:
        return True
    h, w = own.shape
    iy, ix = grid.cell_index(y0 + h, x0 + w)
    second = (_border_distance(iy[y0:]) == 1)[:, None] | (_border_distance(ix[x0:]) == 1)[None, :]
    probe = second & cv2.erode(own.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    return bool(probe.sum() >= 16 and exact[probe].mean() >= 0.9)


def _constant_cells(colour: np.ndarray, own: np.ndarray, grid: Grid, x0: int, y0: int) -> float:
    """Share of the whole cells inside `own` (a box of `colour` whose corner is (x0, y0))
    that are exactly one colour, border pixels included: all of an uncompressed mosaic's,
    fewer of a coded one's (ringing and deblocking at cell borders), though large flat
    coded cells can stay exact even there."""
    h, w = own.shape
    iy, ix = grid.cell_index(y0 + h, x0 + w)
    iy, ix = iy[y0:] - iy[y0:].min(), ix[x0:] - ix[x0:].min()
    cid = iy[:, None] * (int(ix.max()) + 1) + ix[None, :]
    n = int(cid.max()) + 1
    size = np.bincount(cid.ravel(), minlength=n)
    whole = (np.bincount(cid[own], minlength=n) == size) & (size >= 0.9 * grid.pitch[0] * grid.pitch[1])  # not cut by the box
    breaks = np.zeros(n, np.int64)
    for step, ids in (((colour[:, 1:] != colour[:, :-1]).any(axis=-1) & (cid[:, 1:] == cid[:, :-1]), cid[:, 1:]),
                      ((colour[1:] != colour[:-1]).any(axis=-1) & (cid[1:] == cid[:-1]), cid[1:])):
        breaks += np.bincount(ids[step], minlength=n)
    return float((whole & (breaks == 0)).sum() / whole.sum()) if whole.any() else 0.0


def _uncompressed_regions(labels: np.ndarray, regions: list, exact: np.ndarray, coded: bool) -> list[bool]:
    """By label (0 first): which regions are uncompressed mosaics (`_uncompressed`; `exact`:
    the frame's exactly flat pixels). However exact its cells (a codec can leave large
    flat cells exactly one colour, to their borders), a `coded` frame holds none."""
    out = [False]
    for k, region in enumerate(regions, 1):
        x0, y0, x1, y1 = region.bbox
        out.append(not coded and _uncompressed(labels[y0:y1, x0:x1] == k, exact[y0:y1, x0:x1], region.grid, x0, y0))
    return out


def _chroma_subsampled(colour: np.ndarray) -> bool:
    """Whether a frame's chroma is one value per aligned 2×2 block, as decoded 4:2:0 video
    (H.264, HEVC, MPEG-4...) shows it: the colour steps inside the blocks are a small share
    of those between them. Frames without colour texture (grey ones) cannot tell: False.
    Every 8th row pair is enough (a third of the frame's rows read)."""
    h, w = colour.shape[0] // 2 * 2, colour.shape[1] // 2 * 2
    if h < 4 or w < 4:
        return False
    first = np.arange(0, h - 2, 8)
    rows = (first[:, None] + np.arange(3)).ravel()  # rows 8k, 8k+1 (one block), 8k+2 (the next)
    ycc = cv2.cvtColor(np.ascontiguousarray(colour[rows, :w]), cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.int16)
    ycc = ycc.reshape(len(first), 3, w, 2)
    top = ycc[:, 0]
    inside = np.abs(top[:, 0::2] - top[:, 1::2]).mean() + np.abs(ycc[:, 0] - ycc[:, 1]).mean()
    between = np.abs(top[:, 1:-1:2] - top[:, 2::2]).mean() + np.abs(ycc[:, 1] - ycc[:, 2]).mean()
    return bool(between >= 0.05 and inside < 0.3 * between)


def _colour_code(colour: np.ndarray) -> np.ndarray:
    """One int32 per RGB colour (exact)."""
    code = colour.astype(np.int32)
    return (code[..., 0] << 16) | (code[..., 1] << 8) | code[..., 2]


class _ExactCells(NamedTuple):
    """A grid's cells over a window (rows, cols) of a frame's colour codes: which are exactly
    one colour, border pixels included, and which of those differ from a 4-neighbour that is."""

    iy: np.ndarray  # (h,) the window's rows' cell row, from 0
    ix: np.ndarray  # (w,)
    cid: np.ndarray  # (h, w) cell id, iy * nx + ix
    size: np.ndarray  # (ny, nx) pixels of each cell in the window
    constant: np.ndarray  # (ny, nx) bool
    stepped: np.ndarray  # (ny, nx) bool

    @classmethod
    def of(cls, code: np.ndarray, grid: Grid, rows: slice, cols: slice) -> "_ExactCells":
        iy, ix = grid.cell_index(rows.stop, cols.stop)
        iy, ix = iy[rows] - iy[rows][0], ix[cols] - ix[cols][0]
        ny, nx = int(iy[-1]) + 1, int(ix[-1]) + 1
        cid = iy[:, None] * nx + ix[None, :]
        c = code[rows, cols]
        breaks = (np.bincount(cid[:, 1:][(c[:, 1:] != c[:, :-1]) & (cid[:, 1:] == cid[:, :-1])], minlength=ny * nx)
                  + np.bincount(cid[1:][(c[1:] != c[:-1]) & (cid[1:] == cid[:-1])], minlength=ny * nx))
        constant = (breaks == 0).reshape(ny, nx)
        value = c[np.searchsorted(iy, np.arange(ny))][:, np.searchsorted(ix, np.arange(nx))]  # each cell's first pixel
        step_x = (value[:, 1:] != value[:, :-1]) & constant[:, 1:] & constant[:, :-1]
        step_y = (value[1:] != value[:-1]) & constant[1:] & constant[:-1]
        stepped = np.zeros((ny, nx), bool)
        stepped[:, 1:] |= step_x
        stepped[:, :-1] |= step_x
        stepped[1:] |= step_y
        stepped[:-1] |= step_y
        size = np.bincount(cid.ravel(), minlength=ny * nx).reshape(ny, nx)
        return cls(iy, ix, cid, size, constant, stepped)

    def share(self, mask: np.ndarray) -> np.ndarray:
        """(ny, nx): the share of each cell's pixels (in the window) inside `mask`."""
        inside = np.bincount(self.cid.ravel(), weights=mask.ravel(), minlength=self.size.size).reshape(self.size.shape)
        return inside / np.maximum(self.size, 1)

    def pixels(self, cells: np.ndarray) -> np.ndarray:
        """Bool (h, w): the pixels of the given cells."""
        return cells[self.iy][:, self.ix]


def _exact_growth(code: np.ndarray, labels: np.ndarray, label: int, grid: Grid, bbox: tuple[int, int, int, int],
                  reach: tuple[int, ...] = (1, 8)) -> np.ndarray:
    """Bool H×W: the whole cells of `grid` an uncompressed region (pixels `labels == label`,
    inside `bbox`) reaches through cells that are exactly one colour, border pixels
    included, and differ from a neighbouring such cell, none of them another region's.
    `code`: the frame's `_colour_code`.

    Over smooth content (sky, fog, a defocused background) a mosaic's cells differ by a
    level or two, too little for the lattice evidence, and the network proposes little
    there; but they stay exactly flat, with their steps on the lattice lines. A smooth
    picture of 8-bit levels changes a level along its own contours, not along a cell's
    straight borders; a flat picture area has no step between its cells at all (but the
    row of its cells next to the mosaic has one, where the area's edge lies on a lattice
    line: a letterbox bar's edge on a frame-aligned lattice gives a row of bar cells).
    Looked for `reach` cells around the region first (most regions have nothing to take:
    one cell around tells), then farther, then over the frame while it gets to the edge."""
    height, width = labels.shape
    x0, y0, x1, y1 = bbox
    out = np.zeros((height, width), bool)
    boxes = [(max(y0 - int(np.ceil(r * grid.pitch[1])), 0), min(y1 + int(np.ceil(r * grid.pitch[1])), height),
              max(x0 - int(np.ceil(r * grid.pitch[0])), 0), min(x1 + int(np.ceil(r * grid.pitch[0])), width)) for r in reach]
    for box in boxes + [(0, height, 0, width)]:
        rows, cols = slice(box[0], box[1]), slice(box[2], box[3])
        cells = _ExactCells.of(code, grid, rows, cols)
        lab = labels[rows, cols]
        own = cells.share(lab == label) >= 0.5
        other = cells.share((lab > 0) & (lab != label)) > 0
        reachable = cells.constant & cells.stepped & ~other & ~own
        if not reachable.any():
            return out
        _, comp = cv2.connectedComponents((own | reachable).astype(np.uint8), connectivity=4)
        reached = np.unique(comp[own])
        grown = np.isin(comp, reached[reached > 0]) & reachable
        if not grown.any():
            return out
        if box == (0, height, 0, width) or not (grown[0].any() or grown[-1].any() or grown[:, 0].any() or grown[:, -1].any()):
            out[rows, cols] = cells.pixels(grown) & (lab == 0)
            return out
    return out


def _seed_cells(code: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray, fewest: int) -> tuple[int, np.ndarray]:
    """The groups of `grid`'s whole exact cells (one colour, border pixels included;
    4-connected) lying (90 %) inside `part` of the window (rows, cols) of which at least
    `fewest` differ from a neighbour so: (how many cells differ so, bool (h, w) the pixels
    of those and of the exact cells they enclose)."""
    cells = _ExactCells.of(code, grid, rows, cols)
    whole = cells.size >= 0.9 * grid.pitch[0] * grid.pitch[1]  # not cut by the frame (or window) edge
    exact = cells.constant & whole & (cells.share(part) >= 0.9)
    _, comp = cv2.connectedComponents(exact.astype(np.uint8), connectivity=4)
    seeds = np.bincount(comp[exact & cells.stepped], minlength=comp.max() + 1)
    seeds[0] = 0
    groups = np.flatnonzero(seeds >= fewest)
    keep = np.isin(comp, groups) & cells.stepped
    keep |= _fill_holes(keep) & exact  # and the exact cells they enclose (equal to all their neighbours)
    return int(seeds[groups].sum()), cells.pixels(keep)


def _exact_runs(code: np.ndarray, rows: slice, cols: slice, part: np.ndarray, axis: int,
                shortest: int, longest: int, most: int = 2) -> list[int]:
    """The commonest lengths (`shortest` to `longest` px, up to `most` of them) of the runs
    of one colour along `axis` (0: along rows) inside `part` of the window (rows, cols),
    between two changes: an uncompressed mosaic's cells, where neighbouring cells differ."""
    c = code[rows, cols] if axis == 0 else code[rows, cols].T
    m = part if axis == 0 else part.T
    ys, xs = np.nonzero((c[:, 1:] != c[:, :-1]) & m[:, 1:] & m[:, :-1])
    runs = (xs[1:] - xs[:-1])[ys[1:] == ys[:-1]]
    runs = runs[(runs >= shortest) & (runs <= longest)]
    if not runs.size:
        return []
    votes = np.bincount(runs)
    return [int(r) for r in np.argsort(-votes, kind="stable")[:most] if votes[r] > 0]


def _exact_phases(code: np.ndarray, pitch: int, rows: slice, cols: slice, part: np.ndarray, axis: int,
                  most: int = 2) -> list[int]:
    """The likeliest phases of an uncompressed mosaic's lattice of whole `pitch` along `axis`
    (0: x) inside `part` of the window (rows, cols): where most colour changes between
    neighbours inside it lie (in a mosaic each is a cell border), up to `most` of them
    (two mosaics side by side), best first."""
    c = code[rows, cols]
    if axis == 0:
        at = np.nonzero((c[:, 1:] != c[:, :-1]) & part[:, 1:] & part[:, :-1])[1] + 1 + cols.start  # the next cell's first pixel
    else:
        at = np.nonzero((c[1:] != c[:-1]) & part[1:] & part[:-1])[0] + 1 + rows.start
    if at.size == 0:
        return []
    votes = np.bincount(at % pitch, minlength=pitch)
    order = np.argsort(-votes, kind="stable")[:most]
    return [int(o) for o in order if votes[o] > 0]


def _fewest_cells(cfg: DetectorConfig, pitch: tuple[float, float]) -> int:
    """The fewest mosaic cells a region of this pitch needs (`min_cells`; fewer for cells over
    16 px: the same area)."""
    return int(np.clip(round(cfg.min_cells * (16 / max(pitch)) ** 2), 2, cfg.min_cells))


def _search_window(shape: tuple[int, int], blocked: np.ndarray | None, margin: int) -> tuple[slice, slice]:
    """Rows and columns of the box around the pixels `blocked` leaves open, grown by
    `margin` px (the whole frame where nothing is blocked)."""
    height, width = shape
    if blocked is None:
        return slice(0, height), slice(0, width)
    open_rows, open_cols = np.flatnonzero(~blocked.all(axis=1)), np.flatnonzero(~blocked.all(axis=0))
    if not len(open_rows):
        return slice(0, height), slice(0, width)
    return (slice(max(int(open_rows[0]) - margin, 0), min(int(open_rows[-1]) + 1 + margin, height)),
            slice(max(int(open_cols[0]) - margin, 0), min(int(open_cols[-1]) + 1 + margin, width)))


def _moved(region: Region, dx: int, dy: int) -> Region:
    """`region` found in a window whose corner is (dx, dy) of the frame, in frame coordinates."""
    (x0, y0, x1, y1), (ox, oy) = region.bbox, region.origin
    return replace(region, bbox=(x0 + dx, y0 + dy, x1 + dx, y1 + dy), origin=(ox + dx, oy + dy))


def _far_from(near: np.ndarray, distance: float) -> np.ndarray:
    """Pixels farther than `distance` px from every nonzero pixel of `near` (uint8 H×W): an
    exact distance transform, over the box around those pixels grown by `distance` only
    (everything outside it is farther): on most frames a small part of the frame."""
    height, width = near.shape
    rows, cols = np.flatnonzero(near.any(axis=1)), np.flatnonzero(near.any(axis=0))
    far = np.ones((height, width), bool)
    if not len(rows):
        return far
    reach = int(np.ceil(distance)) + 1
    box = (slice(max(int(rows[0]) - reach, 0), min(int(rows[-1]) + 1 + reach, height)),
           slice(max(int(cols[0]) - reach, 0), min(int(cols[-1]) + 1 + reach, width)))
    far[box] = cv2.distanceTransform(1 - near[box], cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > distance
    return far


def _kept(labels: np.ndarray, regions: list, keep: Sequence[bool]) -> tuple[np.ndarray, list]:
    """The labels (1 + region index) and regions left once those not `keep` go, numbered again."""
    renumber = np.zeros(len(regions) + 1, np.int32)
    renumber[1:][np.asarray(keep, bool)] = np.arange(1, sum(keep) + 1)
    return renumber[labels], [r for r, k in zip(regions, keep) if k]


def _tight_boxes(labels: np.ndarray, regions: list, grown: int) -> list:
    """The regions with their boxes shrunk to their pixels (the search boxes they were found
    in reach a cell or more past them; `grown`: px the labels were dilated by since)."""
    counts = np.bincount(labels.ravel(), minlength=len(regions) + 1)
    out = []
    for k, region in enumerate(regions):
        x0, y0, x1, y1 = region.bbox
        r0, c0 = max(0, y0 - grown - 1), max(0, x0 - grown - 1)
        own = labels[r0:y1 + grown + 1, c0:x1 + grown + 1] == k + 1
        if own.sum() != counts[k + 1]:  # not all inside the box: look everywhere
            own, r0, c0 = labels == k + 1, 0, 0
        rows, cols = np.flatnonzero(own.any(axis=1)), np.flatnonzero(own.any(axis=0))
        if len(rows):
            region = replace(region, bbox=(c0 + int(cols[0]), r0 + int(rows[0]), c0 + int(cols[-1]) + 1,
                                           r0 + int(rows[-1]) + 1))
        out.append(region)
    return out


def _claim(labels: np.ndarray, regions: list, found) -> bool:
    """Label a found region's new pixels and append it, unless most of it is labelled already
    (the same mosaic found again). Returns whether it was taken."""
    region, pixel_mask, _, (r0, c0) = found
    view = labels[r0:r0 + pixel_mask.shape[0], c0:c0 + pixel_mask.shape[1]]
    fresh = pixel_mask & (view == 0)
    if fresh.sum() < 0.5 * pixel_mask.sum():
        return False
    view[fresh] = len(regions) + 1
    regions.append(region)
    return True


DEFAULT_SEGMENTER = Path(__file__).resolve().parents[1] / "models" / "demosaic-detect-v5.json"


class Detector:
    def __init__(self, cfg: DetectorConfig = DetectorConfig()):
        self.cfg = cfg
        self._segmenter = self._border_segmenter = None
        # Where the frame's corner lies in the arrays the search is looking at (the search
        # runs in a window of the frame: see `detect`): a lattice phase no border fixes.
        self._frame_origin = (0, 0)

    @property
    def segmenter(self):
        """The learned segmenter, loaded on first use (it imports TensorFlow); None if off."""
        if self._segmenter is None and self.cfg.learned:
            from .detect_net import Segmenter
            path = DEFAULT_SEGMENTER if self.cfg.learned == "default" else Path(self.cfg.learned)
            self._segmenter = Segmenter.load(path)
        return self._segmenter

    @property
    def border_segmenter(self):
        """The segmenter whose border maps fit the grids (`net_borders`), loaded on first use;
        None: the mask segmenter's own maps, if it has any."""
        if self._border_segmenter is None and self.cfg.learned and self.cfg.net_borders:
            from .detect_net import Segmenter
            self._border_segmenter = Segmenter.load(Path(self.cfg.net_borders))
        return self._border_segmenter

    def __call__(self, frame: np.ndarray) -> Detection:
        return self.detect(frame)

    def detect(self, frame: np.ndarray, coded: bool | None = None) -> Detection:
        """`coded`: whether the frame was decoded from lossy video (then no region in it is
        an uncompressed mosaic, however exact its cells); None: tell from its chroma."""
        if frame.dtype != np.uint8 or frame.ndim != 3:
            raise ValueError("detect expects an H×W×3 uint8 frame")
        cfg = self.cfg
        height, width = frame.shape[:2]
        if min(height, width) < 2 * cfg.min_pitch:
            return Detection(np.zeros((height, width), bool), (), np.zeros((height, width), np.int32))
        # Luma only: video stores chroma at half resolution (4:2:0), which blurs colour
        # edges over two pixels, while luma keeps the cell borders sharp. Faster, too.
        colour = frame
        logits, edges, blocked = None, None, None
        if cfg.learned:
            out = self.segmenter(colour)
            logits, edges = out[..., 0], (out[..., 1:] if out.shape[-1] == 3 else None)
            if cfg.net_gate:
                # The classical search runs only near what the network proposes: it then
                # verifies, fits grids and sharpens borders, and clean frames cost little.
                near = (logits > cfg.net_gate_threshold).astype(np.uint8)
                if not near.any():
                    return Detection(np.zeros((height, width), bool), (), np.zeros((height, width), np.int32))
                blocked = _far_from(near, cfg.net_gate)
            if self.border_segmenter is not None:  # only for frames with proposals: most frames have none
                edges = self.border_segmenter(colour)[..., 1:]
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None]  # (H, W, 1)
        dx, dy = _abs_diffs(frame)
        # The search runs in the box around what the gate leaves open, grown by a margin wider
        # than any window it measures in (on most frames a small part of the frame); what
        # follows it (exact growth, grid refits, splits, merges) sees the whole frame.
        rows, cols = _search_window((height, width), blocked, cfg.search_margin)
        box = (rows, cols)
        ev, eh = border_evidence(dx[rows, cols.start:cols.stop - 1], dy[rows.start:rows.stop - 1, cols], cfg)
        luma, part_colour = np.ascontiguousarray(frame[box]), np.ascontiguousarray(colour[box])
        part = np.zeros(luma.shape[:2], np.int32)
        regions: list[Region] = []
        self._frame_origin = (-cols.start, -rows.start)
        try:
            exact = self._classical(luma, part_colour, ev, eh, None if blocked is None else blocked[box], part, regions)
            if coded is None:
                # Decoded 4:2:0 video shows one chroma value per 2×2 block (not looked at where
                # the classical detector alone found nothing: nothing to tell).
                coded = cfg.net_coded_chroma and bool(regions or cfg.learned) and _chroma_subsampled(colour)
            closed = _uncompressed_regions(part, regions, exact, coded)
            if cfg.learned:
                closed = self._add_learned(logits[box], None if edges is None else edges[box], luma, part_colour, ev, eh,
                                           part, regions, closed)
                if cfg.exact_seed and not coded:
                    closed += self._exact_footholds(logits[box], part_colour, exact, part, regions)
                if cfg.net_region_score:
                    closed = self._drop_unsure(logits[box], part, regions, closed)
        finally:
            self._frame_origin = (0, 0)
        labels = np.zeros((height, width), np.int32)
        labels[box] = part
        regions = [_moved(r, cols.start, rows.start) for r in regions]
        if cfg.exact_growth and any(closed):
            code = _colour_code(colour)
            for k, region in enumerate(regions, 1):
                if closed[k]:
                    grown = _exact_growth(code, labels, k, region.grid, region.bbox)
                    if grown.any():
                        labels[grown] = k
                        (x0, y0, x1, y1), (gx0, gy0, gx1, gy1) = region.bbox, _bbox(grown, slice(0, height), slice(0, width))
                        pw, ph = region.pitch
                        regions[k - 1] = replace(region, bbox=(min(x0, gx0), min(y0, gy0), max(x1, gx1), max(y1, gy1)),
                                                 cells=region.cells + int(round(grown.sum() / (pw * ph))))
        if cfg.refine_grid and regions:
            for k, region in enumerate(regions):
                x0, y0, x1, y1 = region.bbox
                grid = self._refit(frame, (dx, dy), edges, labels[y0:y1, x0:x1] == k + 1, region.bbox, region.grid,
                                   not closed[k + 1])
                regions[k] = replace(region, pitch=grid.pitch, origin=grid.origin)
        if cfg.union_split and regions:
            self._split_unions(frame, (dx, dy), edges, labels, regions, closed)
        if edges is not None and cfg.net_split and regions:
            self._split_lattices(edges, labels, regions)
        if cfg.merge_lattices and len(regions) > 1:
            labels, regions = self._merge_lattices((dx, dy), labels, regions)
        if regions:
            labels, regions = self._drop_remnants(labels, regions)
        mask = labels > 0
        if cfg.dilate and mask.any():
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.dilate + 1,) * 2)
            grown = cv2.dilate(labels.astype(np.float32), kernel).astype(np.int32)
            labels = np.where(labels > 0, labels, grown)
            mask = labels > 0
        return Detection(mask, tuple(_tight_boxes(labels, regions, cfg.dilate)), labels)

    def _drop_unsure(self, logits: np.ndarray, labels: np.ndarray, regions: list, closed: list[bool]) -> list[bool]:
        """Coded regions (not `closed`) over whose pixels the network's mean probability of
        mosaic is under `net_region_score` go, in place; returns `closed` for those left.

        An old codec without a deblocking filter (MPEG-4 Part 2, MPEG-2, MJPEG) leaves flat
        8×8 blocks over smooth content: a lattice of flat cells, which the classical paths
        take for a mosaic wherever the network proposes a little. Over a true coded mosaic
        the network is sure (mean probability 0.8–1.0 on the tuning set), over such blocks
        it mostly is not (under 0.7 for 82 % of those false pixels)."""
        if not regions:
            return closed
        prob = 1.0 / (1.0 + np.exp(-logits))
        sums = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=len(regions) + 1)
        counts = np.bincount(labels.ravel(), minlength=len(regions) + 1)
        keep = [closed[k] or counts[k] == 0 or sums[k] / counts[k] >= self.cfg.net_region_score
                for k in range(1, len(regions) + 1)]
        if all(keep):
            return closed
        labels[...], regions[:] = _kept(labels, regions, keep)
        return [False] + [c for c, k in zip(closed[1:], keep) if k]

    def _drop_remnants(self, labels: np.ndarray, regions: list) -> tuple[np.ndarray, list]:
        """Regions left with less than half the pixels of the fewest cells a region may have
        (later regions took the rest of them) are gone; the others are numbered again."""
        counts = np.bincount(labels.ravel(), minlength=len(regions) + 1)[1:]
        keep = []
        for k, region in enumerate(regions):
            pw, ph = region.pitch
            keep.append(counts[k] >= 0.5 * _fewest_cells(self.cfg, region.pitch) * pw * ph)
        return (labels, regions) if all(keep) else _kept(labels, regions, keep)

    def _classical(self, frame: np.ndarray, colour: np.ndarray, ev, eh, blocked: np.ndarray | None,
                   labels: np.ndarray, regions: list) -> np.ndarray:
        """The classical paths (see the module's doc), outside `blocked`: grow `labels` and
        `regions` in place. Returns the map of exactly flat pixels (uint8)."""
        cfg = self.cfg
        height, width = labels.shape
        evidence = np.zeros((height, width), np.float32)
        evidence[:, :-1] += ev
        evidence[:-1] += eh
        # Two scales: small cells give dense evidence; 64 px cells only a line every 64 px.
        candidate = np.zeros((height, width), np.uint8)
        for window, share in ((cfg.evidence_window, 1.0), (3 * cfg.evidence_window, 0.5)):
            density = cv2.boxFilter(evidence, -1, (window, window), borderType=cv2.BORDER_CONSTANT)
            candidate |= density >= cfg.min_evidence * share
        if blocked is not None:
            candidate[blocked] = 0
        kernel = np.ones((3, 3), np.uint8)
        spread = cv2.dilate(frame[..., 0], kernel) - cv2.erode(frame[..., 0], kernel)  # 3×3 luma range
        maps = _flat_maps(spread, colour, cfg)
        count, comp, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
        for k in range(1, count):
            x, y, w, h, area = stats[k]
            if area < (2 * cfg.min_pitch) ** 2:
                continue
            rows, cols = slice(y, y + h), slice(x, x + w)
            inside = comp[rows, cols] == k
            # One candidate area may hold several mosaics on different lattices. Tiles vote
            # for lattices; each lattice is then checked on the tiles that voted for it.
            # With no votes (cells too big for a tile), the whole area is tried, strongest
            # lattice first, its evidence removed, again.
            voted = self._tile_areas(ev, eh, rows, cols, inside)
            for area_inside in voted or [inside] * cfg.max_lattices:
                area = area_inside & inside
                if voted and area.any():  # the voting tiles' box, a tile wider each way: less to measure
                    ys, xs = np.flatnonzero(area.any(axis=1)), np.flatnonzero(area.any(axis=0))
                    sub_r = slice(max(ys[0] - cfg.tile, 0), min(ys[-1] + 1 + cfg.tile, h))
                    sub_c = slice(max(xs[0] - cfg.tile, 0), min(xs[-1] + 1 + cfg.tile, w))
                    found = self._region(frame, ev, eh, slice(y + sub_r.start, y + sub_r.stop),
                                         slice(x + sub_c.start, x + sub_c.stop), area[sub_r, sub_c],
                                         taken=self._taken(labels, blocked), colour=colour, exact_flat=maps[1].flat, spread=spread)
                else:
                    found = self._region(frame, ev, eh, rows, cols, area, taken=self._taken(labels, blocked), colour=colour,
                                         exact_flat=maps[1].flat, spread=spread)
                if found is None:
                    if voted:
                        continue  # the next lattice's tiles are independent of this one
                    break
                if not _claim(labels, regions, found):  # the same mosaic again
                    if voted:
                        continue
                    break
                _, pixel_mask, claimed, (r0, c0) = found
                taken = np.zeros((height, width), np.uint8)
                taken[r0:r0 + pixel_mask.shape[0], c0:c0 + pixel_mask.shape[1]] = claimed
                taken = cv2.dilate(taken, np.ones((3, 3), np.uint8)).astype(bool)
                inside &= ~taken[rows, cols]
        # Small mosaics of a few large cells: flat pieces meeting on sharp borders.
        for found in _exact_pieces(colour, maps[1], self._taken(labels, blocked), cfg):
            _claim(labels, regions, found)
        # Large cells leave too few border lines for a comb: find them as flat rectangles
        # that agree on one lattice, where the evidence path found nothing.
        for grid, (x0, y0, x1, y1) in _blob_lattices((height, width), maps, self._taken(labels, blocked), cfg):
            rows, cols = slice(y0, y1), slice(x0, x1)
            # The border comb over the same box, where it agrees, is the more exact fit.
            comb = self._lattice(ev, eh, rows, cols, np.ones((y1 - y0, x1 - x0), bool))
            if comb is not None and _same_lattice(comb, grid, self._frame_origin):
                grid = comb
            found = self._region(frame, ev, eh, rows, cols, None, grid, taken=self._taken(labels, blocked), colour=colour,
                                 exact_flat=maps[1].flat, spread=spread)
            if found is not None:
                _claim(labels, regions, found)
        for found in _coded_pieces(frame[..., 0], maps[0], self._taken(labels, blocked), cfg):
            _claim(labels, regions, found)
        return maps[1].flat

    @staticmethod
    def _taken(labels: np.ndarray, blocked: np.ndarray | None) -> np.ndarray:
        """Pixels the next path must leave alone: claimed ones, and those the network rules out."""
        return labels > 0 if blocked is None else (labels > 0) | blocked

    def _soft_lattice(self, luma: np.ndarray, rows: slice, cols: slice, inside: np.ndarray) -> Grid | None:
        """The lattice of a region the network is sure of, where too few borders survived
        coding as clean evidence: the comb of the mean luma step across each column (row),
        above its local level. Too loose to find mosaics with (it finds lattices in coding
        blocks and textures), but the network has ruled those out here."""
        cfg = self.cfg
        block = luma[rows, cols, 0].astype(np.float32)
        dx = np.abs(np.diff(block, axis=1)) * (inside[:, 1:] & inside[:, :-1])
        dy = np.abs(np.diff(block, axis=0)) * (inside[1:] & inside[:-1])
        combs = []
        for profile in (dx.sum(axis=0), dy.sum(axis=1)):
            if profile.size < 3 * cfg.min_pitch:
                combs.append(None)
                continue
            level = np.convolve(profile, np.ones(9) / 9, mode="same")
            profile = np.maximum(profile - level, 0)
            combs.append(_comb(profile, cfg) or _two_teeth(profile, cfg))
        return _combs_grid(*combs, rows, cols, self._frame_origin)

    def _edge_lattice(self, edges: np.ndarray, rows: slice, cols: slice, part: np.ndarray,
                      outline: bool = False) -> Grid | None:
        """The lattice the segmenter's border maps line up on inside `part` of (rows, cols).

        Each map marks a cell's first and last column (row), so a border between pixels t
        and t+1 shows in both: its profile is the smaller of the two columns' summed
        probabilities, one sharp tooth per border, even where coding smeared the step. With
        `outline`, `part`'s outline counts too where the maps mark it (`_outline_profile`)."""
        cfg = self.cfg
        if outline:  # a pixel more each side, outside `part`: the outline where it meets the box
            height, width = edges.shape[:2]
            top, left = min(rows.start, 1), min(cols.start, 1)
            rows, cols = slice(rows.start - top, min(rows.stop + 1, height)), slice(cols.start - left, min(cols.stop + 1, width))
            part = np.pad(part, ((top, rows.stop - rows.start - top - part.shape[0]),
                                 (left, cols.stop - cols.start - left - part.shape[1])))
        prob = part[..., None] / (1.0 + np.exp(-edges[rows, cols]))
        combs, full = [], []
        for axis, channel in ((0, 0), (1, 1)):  # column borders: summed down the rows
            a = prob[..., channel].sum(axis=axis)
            between = np.minimum(a[:-1], a[1:])
            if outline:
                between = between + _outline_profile(prob[..., channel], part, axis)
            long_enough = between.size >= 3 * cfg.min_pitch
            comb = _comb(between, cfg, cfg.net_whole_pitch) if long_enough else None
            if comb is not None and cfg.coarser_grid:
                comb = _sparser_comb(between, comb, cfg.coarser_grid)
            full.append(comb is not None)
            if comb is None and long_enough:
                comb = _two_teeth(between, cfg)
            if comb is None and cfg.net_one_tooth and between.size:
                # A border crossing a good part of the region, seen surely.
                comb = _one_tooth(between, cfg.net_one_tooth * part.sum(axis=axis).max())
            combs.append(comb)
        for axis in (0, 1):
            # Two teeth a whole number of the other axis's (full comb's) pitches apart are
            # that lattice with borders missed between them: cells are usually square.
            mine, other = combs[axis], combs[1 - axis]
            if not full[axis] and full[1 - axis] and mine is not None and mine[0] is not None:
                times = round(mine[0] / other[0])
                if times >= 2 and abs(mine[0] - times * other[0]) <= 1.5:
                    combs[axis] = (other[0], mine[1])
        return _combs_grid(*combs, rows, cols, self._frame_origin)

    def _refit(self, frame: np.ndarray, diff: tuple[np.ndarray, np.ndarray], edges: np.ndarray | None,
               own: np.ndarray, bbox: tuple[int, int, int, int], grid: Grid, coded: bool) -> Grid:
        """A found region's lattice refitted: for a coded region, to the border maps' lines;
        else (or where the maps see none that serves), to its own strongest borders
        (`_refine_grid`); then coarser or finer where the steps on its lines ask for it.
        `own`: the region's pixels in its box `bbox`; `diff`: the frame's |steps|."""
        cfg = self.cfg
        x0, y0, x1, y1 = bbox
        box = (slice(y0, y1), slice(x0, x1))
        found = None
        if edges is not None and cfg.net_edge_refine and coded:
            # Coded regions: the border maps place the lines where coding blurred the steps
            # (uncompressed ones keep their exact fit).
            found = self._edge_lattice(edges, box[0], box[1], own, cfg.net_edge_outline)
            if found is not None and max(found.pitch) > cfg.net_max_aspect * min(found.pitch):
                found = None
            if found is not None and cfg.net_edge_multiple and _multiple_of(found, grid):
                # The maps' comb on every other line: taken only if the cells stay as flat on
                # it (a mosaic's half cells are flat too, but its double cells hold four
                # colours; scaled video blurs the maps more than the steps).
                coarse, fine = (self._flat_share(frame, g, box[0], box[1], own) for g in (found, grid))
                if coarse < fine - cfg.net_edge_multiple:
                    found = None
        steps = (diff[0][y0:y1, x0:x1 - 1], diff[1][y0:y1 - 1, x0:x1])  # the box's
        if found is None:
            found = _refine_grid(steps, own, grid, (x0, y0))
        if cfg.coarser_grid:
            found = _coarser_grid(steps, own, found, (x0, y0), share=cfg.coarser_grid, max_pitch=cfg.max_pitch,
                                  square_share=cfg.coarser_square)
        if cfg.finer_grid:
            found = _finer_grid(steps, own, found, (x0, y0), share=cfg.finer_grid, min_pitch=cfg.min_pitch,
                                square_share=cfg.finer_square)
        return found

    def _split_unions(self, frame: np.ndarray, diff: tuple[np.ndarray, np.ndarray], edges: np.ndarray | None,
                      labels: np.ndarray, regions: list, closed: list[bool]) -> None:
        """Split, in place, regions whose lattice is two overlapping mosaics' lines together
        (`_union_parts`): each part takes every other line of it along that axis and is
        refitted (`_refit`); `closed` (whether each label is an uncompressed region) grows
        with them."""
        cfg = self.cfg
        dx, dy = diff
        for k in range(len(regions)):
            region = regions[k]
            x0, y0, x1, y1 = region.bbox
            own = labels[y0:y1, x0:x1] == k + 1
            steps = (dx[y0:y1, x0:x1 - 1], dy[y0:y1 - 1, x0:x1])
            pw, ph = region.pitch
            least = max(cfg.union_cells * 2 * pw * ph, 400.0)  # a part's cell: two of the found lattice's
            found = _union_parts(steps, own, region.grid, (x0, y0), cfg.union_split, least, cfg.max_pitch)
            if found is None:
                continue
            axis, *parts = found
            rows, cols = slice(y0, y1), slice(x0, x1)
            grids = []
            for c, part in enumerate(parts):
                pitch, origin = list(region.pitch), list(region.origin)
                origin[axis] = (origin[axis] + c * pitch[axis]) % (2 * pitch[axis])
                pitch[axis] *= 2
                bx0, by0, bx1, by1 = bbox = _bbox(part, rows, cols)
                grids.append(self._refit(frame, diff, edges, part[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0], bbox,
                                         Grid((pitch[0], pitch[1]), (origin[0], origin[1])), not closed[k + 1]))
            closed.append(closed[k + 1])
            _split_region(labels, regions, k, rows, cols, list(zip(parts, grids)))

    def _split_lattices(self, edges: np.ndarray, labels: np.ndarray, regions: list) -> None:
        """Split, in place, regions that hold two lattices: overlapping mosaics whose grids
        differ in phase (each aligned to its own corner) join into one region, and one grid
        cannot serve both. Where the border maps see the region's lattice less than surely,
        lattices are fitted to tiles of it and to the pixels where they do not see it; a
        lattice unlike the region's takes the pixels it is seen better around, and the rest
        of the region is refitted."""
        cfg = self.cfg
        prob = 1.0 / (1.0 + np.exp(-edges))
        for k in range(len(regions)):
            region = regions[k]
            x0, y0, x1, y1 = region.bbox
            rows, cols = slice(y0, y1), slice(x0, x1)
            own = labels[rows, cols] == k + 1
            pw, ph = region.pitch
            least = max(pw * ph, 400.0, 0.05 * own.sum())
            if own.sum() < 2 * least or min(pw, ph) < cfg.net_split_pitch:
                continue
            window = int(np.clip(1.5 * max(pw, ph), 12, 96)) | 1
            s1 = _local_support(prob[rows, cols], own, region.grid, (x0, y0), window)
            whole = float(s1[own].mean())
            if whole >= cfg.net_split_sure:
                continue
            misfit = own & (s1 < cfg.net_split * whole)
            misfit = cv2.morphologyEx(misfit.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)) > 0
            parts = [misfit] if misfit.sum() >= least else []
            tile = int(np.clip(4 * max(pw, ph), 48, 160))
            for ty in range(0, own.shape[0], tile):
                for tx in range(0, own.shape[1], tile):
                    part = np.zeros_like(own)
                    part[ty:ty + tile, tx:tx + tile] = own[ty:ty + tile, tx:tx + tile]
                    if part.sum() >= max(least, 0.25 * tile * tile):
                        parts.append(part)
            candidates = []
            for part in parts:
                other = self._edge_lattice(edges, rows, cols, part)
                if (other is None or _same_lattice(other, region.grid) or min(other.pitch) < cfg.net_split_pitch
                        or max(other.pitch) > cfg.net_max_aspect * min(other.pitch)
                        or any(_same_lattice(other, c) for c in candidates)):
                    continue
                candidates.append(other)
            best = None
            for other in candidates:
                s2 = _local_support(prob[rows, cols], own, other, (x0, y0), window)
                second = own & (s2 > s1)
                first = own & ~second
                if second.sum() < least or first.sum() < least:
                    continue
                gain = float((s2 - s1)[second].mean())
                if gain >= cfg.net_split_gain and (best is None or gain * second.sum() > best[0]):
                    best = (gain * second.sum(), other, first, second)
            if best is None:
                continue
            _, other, first, second = best
            grid = self._edge_lattice(edges, rows, cols, first)
            if grid is None or max(grid.pitch) > cfg.net_max_aspect * min(grid.pitch):
                grid = region.grid
            _split_region(labels, regions, k, rows, cols, [(first, grid), (second, other)])

    def _merge_lattices(self, diff: tuple[np.ndarray, np.ndarray], labels: np.ndarray,
                        regions: list) -> tuple[np.ndarray, list]:
        """Touching regions on one lattice become one region. The paths find a mosaic in
        pieces where its evidence breaks (a mosaic scaled after pixelation, whose borders
        blur unevenly, came out in three to ten pieces, each with its own fit). A smaller
        region joins a larger one it touches if their pitches agree (within
        `merge_lattices`) and the larger one's lattice serves it: its lines stay within a
        pixel of the smaller one's over it, or carry its steps as well (`merge_steps`). The
        merged region keeps the larger one's lattice: refitted to the borders of all of
        it, 64 px cells came out at 63 where a piece's borders were off."""
        cfg = self.cfg
        height, width = labels.shape
        counts = np.bincount(labels.ravel(), minlength=len(regions) + 1)[1:]
        order = sorted(range(len(regions)), key=lambda k: -counts[k])
        into = list(range(len(regions)))  # each region's label after merging (index)
        kernel = np.ones((3, 3), np.uint8)
        for i, a in enumerate(order):
            if into[a] != a:
                continue
            for b in order[i + 1:]:
                if into[b] != b:
                    continue
                ra, rb = regions[a], regions[b]
                if any(abs(pa / pb - 1) > cfg.merge_lattices for pa, pb in zip(ra.pitch, rb.pitch)):
                    continue
                x0, y0, x1, y1 = rb.bbox
                rows, cols = slice(max(y0 - 2, 0), min(y1 + 2, height)), slice(max(x0 - 2, 0), min(x1 + 2, width))
                mine = labels[rows, cols] == b + 1
                grown = cv2.dilate(mine.astype(np.uint8), kernel, iterations=2) > 0
                if not (grown & (np.isin(labels[rows, cols], [k + 1 for k in range(len(regions)) if into[k] == a]))).any():
                    continue  # not touching
                if grid_line_error(ra.grid, rb.grid, rb.bbox) > 1.0:
                    # Lines apart: the larger one's must carry the smaller one's steps as well
                    # as its own do, along both axes (one lattice fitted better than the other).
                    box = (diff[0][rows, cols.start:cols.stop - 1], diff[1][rows.start:rows.stop - 1, cols])
                    corner = (cols.start, rows.start)
                    theirs = [_line_steps(box, mine, ra.grid, axis, corner) for axis in (0, 1)]
                    ours = [_line_steps(box, mine, rb.grid, axis, corner) for axis in (0, 1)]
                    if any(t is None or o is None or o <= 0 or t < cfg.merge_steps * o for t, o in zip(theirs, ours)):
                        continue
                into[b] = a
        if all(into[k] == k for k in range(len(regions))):
            return labels, regions
        keep = [k for k in range(len(regions)) if into[k] == k]
        renumber = np.zeros(len(regions) + 1, np.int32)
        for new, k in enumerate(keep, 1):
            renumber[[j + 1 for j in range(len(regions)) if into[j] == k]] = new
        labels = renumber[labels]
        merged = []
        for new, k in enumerate(keep, 1):
            members = [j for j in range(len(regions)) if into[j] == k]
            region = regions[k]
            if len(members) > 1:
                x0 = min(regions[j].bbox[0] for j in members)
                y0 = min(regions[j].bbox[1] for j in members)
                x1 = max(regions[j].bbox[2] for j in members)
                y1 = max(regions[j].bbox[3] for j in members)
                region = replace(region, bbox=(x0, y0, x1, y1), cells=sum(regions[j].cells for j in members))
            merged.append(region)
        return labels, merged

    @staticmethod
    def _edge_support(edges: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray) -> float:
        """How much more the border maps see borders on `grid`'s cell edges than between them
        inside `part`: the difference of mean probability, averaged over both axes."""
        prob = 1.0 / (1.0 + np.exp(-edges[rows, cols]))
        support = []
        for channel, on in enumerate(_on_edges(grid, rows, cols)):
            p, a, b = prob[..., channel], part & on, part & ~on
            support.append(p[a].mean() - p[b].mean() if a.any() and b.any() else 0.0)
        return float(np.mean(support))

    @staticmethod
    def _rephased(edges: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray) -> Grid:
        """`grid` with, along each axis of whole-pixel pitch, the phase the border maps
        support most inside `part` (`_edge_support`'s measure, which takes each axis's
        phase on its own); the other axes keep theirs. Coding can shift a comb's tooth by
        a pixel or more, and a lattice a pixel off fails the step check."""
        prob = 1.0 / (1.0 + np.exp(-edges[rows, cols]))
        origin = list(grid.origin)
        for axis, (start, stop) in enumerate(((cols.start, cols.stop), (rows.start, rows.stop))):
            pitch = grid.pitch[axis]
            whole = round(pitch)
            if abs(pitch - whole) > 0.05 or whole < 2:
                continue
            # Sums and pixel counts of the map over `part`, per column (axis 0) or row (1).
            sums = (prob[..., axis] * part).sum(axis=axis)
            counts = part.sum(axis=axis).astype(np.float64)
            total, pixels = sums.sum(), counts.sum()
            best, phase = -np.inf, origin[axis]
            for shift in range(whole):
                on = cell_edges(stop, pitch, float(shift))[start:stop]
                n_on = counts[on].sum()
                if n_on <= 0 or n_on >= pixels:
                    continue
                support = sums[on].sum() / n_on - (total - sums[on].sum()) / (pixels - n_on)
                if support > best + 1e-9:
                    best, phase = support, float(shift)
            origin[axis] = phase
        return Grid(grid.pitch, (origin[0], origin[1]))

    def _whole_cells(self, luma: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray):
        """Inner std per cell of `grid` over (rows, cols), the pixel→cell labels, and which
        cells lie (90 %) inside `part`."""
        _, std, cell_of, _ = _cell_stats(luma, grid, rows, cols, self.cfg.margin_div)
        inside = np.bincount(cell_of.ravel(), weights=part.ravel(), minlength=std.size).reshape(std.shape)
        return std, cell_of, inside >= 0.9 * grid.pitch[0] * grid.pitch[1]

    def _flat_ties(self, luma: np.ndarray, grids: list, rows: slice, cols: slice, part: np.ndarray,
                   edges: np.ndarray | None = None) -> list[Grid]:
        """Of the combs' grids (at most `net_max_aspect` oblong) and their doubles and halves,
        the one whose whole cells inside `part` are flat most often; among near ties, the one
        the border maps `edges` support most (`net_flattest_support`), else the largest pitch
        (half-cells of a mosaic are flat too; but over smooth content so are double cells,
        and cells a few px off the lattice's phase, which the border maps tell apart).
        Returns the near ties in that order (a choice that fails the checks has a next one),
        or the first of `grids` given if no candidate has two whole cells."""
        cfg = self.cfg
        candidates = []
        for g in grids:
            if g is None or max(g.pitch) > cfg.net_max_aspect * min(g.pitch):
                continue  # too oblong for a mosaic's cells: the region would be dropped for it
            for f in (1.0, 2.0, 0.5):
                pitch = (g.pitch[0] * f, g.pitch[1] * f)
                grid = Grid(pitch, g.origin)
                if (cfg.min_pitch <= min(pitch) and max(pitch) <= cfg.max_pitch
                        and not any(_same_lattice(grid, c, self._frame_origin) for c in candidates)):  # combs often agree
                    candidates.append(grid)
        scored = []
        for g in candidates:
            std, _, whole = self._whole_cells(luma, g, rows, cols, part)
            if whole.sum() >= 2:
                scored.append(((std[whole] <= cfg.net_cell_std).mean(), g))
        if not scored:
            return [g for g in grids if g is not None][:1]
        best = max(v for v, _ in scored)
        ties = [g for v, g in scored if v >= best - 0.05]
        if edges is not None and cfg.net_flattest_support:
            # Only for cells of 8 px and more (`net_split_pitch`): finer, the maps' choice of
            # phase let upscaled low-resolution video through as a mosaic.
            by_support = sorted(ties, key=lambda g: -self._edge_support(edges, g, rows, cols, part))
            if min(by_support[0].pitch) >= cfg.net_split_pitch:
                return by_support
        return sorted(ties, key=lambda g: -g.pitch[0] * g.pitch[1])

    def _verified(self, luma: np.ndarray, edges: np.ndarray | None, grid: Grid | None,
                  rows: slice, cols: slice, part: np.ndarray) -> bool:
        """Whether a network-only region holds a mosaic on `grid`: the border maps see its
        lattice (`net_edge_support`), its cells are not too oblong, and they agree; where the
        maps see it surely (`net_sure_support`), its luma steps need only not shun the cell
        borders (`net_sure_steps`): coding at CRF 28 smears 6–10 px cells' steps to near
        chance, and there the maps still find the lattice."""
        cfg = self.cfg
        if grid is None or max(grid.pitch) > cfg.net_max_aspect * min(grid.pitch):
            return False
        support = None if edges is None else self._edge_support(edges, grid, rows, cols, part)
        if support is not None and support < cfg.net_edge_support:
            return False  # the network's own border maps do not see this lattice
        sure = cfg.net_sure_support > 0 and support is not None and support >= cfg.net_sure_support
        return self._cells_agree(luma, grid, rows, cols, part, sure)

    def _flat_share(self, luma: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray) -> float:
        """The share of `grid`'s whole cells inside `part` that are flat (`net_cell_std`); 0 if none."""
        std, _, whole = self._whole_cells(luma, grid, rows, cols, part)
        return float((std[whole] <= self.cfg.net_cell_std).mean()) if whole.any() else 0.0

    def _cells_agree(self, luma: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray,
                     sure: bool = False) -> bool:
        """Whether enough of the whole cells inside `part` (`net_flat_share`) are a mosaic's
        cells: flat inside, and not drifting from one side to the other; and whether the
        luma changes on their borders rather than anywhere (`net_step_share`)."""
        cfg = self.cfg
        std, cell_of, whole = self._whole_cells(luma, grid, rows, cols, part)
        # Drift: the luma a few pixels in from a cell's left (top) border against its right
        # (bottom) one. Flat cells have none; smooth shading seen on a lattice of coding
        # blocks keeps a small spread inside large cells but drifts across each of them.
        height, width = luma.shape[:2]
        iy, ix = grid.cell_index(height, width)
        (fy, ty), (fx, tx) = _position_in_cell(iy[rows]), _position_in_cell(ix[cols])
        margin = max(2, int(min(grid.pitch)) // 6)
        block = luma[rows, cols].astype(np.float64)
        drift = np.zeros(std.shape)
        for first, last in (((fx == margin)[None, :], (tx == margin)[None, :]),
                            ((fy == margin)[:, None], (ty == margin)[:, None])):
            ends = []
            for side in (first, last):
                sums, counts = cell_sums(block, cell_of, std.size, weights=np.broadcast_to(side, cell_of.shape))
                ends.append(sums[:, 0] / np.maximum(counts, 1))
            drift = np.maximum(drift, np.abs(ends[1] - ends[0]).reshape(std.shape))
        flat = (std <= cfg.net_cell_std) & (drift <= cfg.net_drift)
        return (bool(whole.any() and flat[whole].mean() >= cfg.net_flat_share)
                and (cfg.net_step_share <= 0 or _steps_on_borders(block, grid.pitch, iy[rows], ix[cols], part)
                     >= (cfg.net_sure_steps if sure else self._steps_needed(grid))))

    def _steps_needed(self, grid: Grid) -> float:
        """The `_steps_on_borders` a network-only region's cells need: `net_step_share`, or
        `net_step_excess` of the way from chance to every step, if less. Three lines of a
        6 px cell lie within a pixel of a border: there even a perfect mosaic's steps stand at
        twice chance, and coding smears them toward chance (about 1.2 at CRF 28), while
        shaded stripes stay at 1."""
        cfg = self.cfg
        return min(cfg.net_step_share, 1.0 + cfg.net_step_excess * (min(grid.pitch) / 3.0 - 1.0))

    def _add_learned(self, logits: np.ndarray, edges: np.ndarray | None, luma: np.ndarray, colour: np.ndarray, ev, eh,
                     labels: np.ndarray, regions: list, closed: list[bool]) -> list[bool]:
        """Grow `labels`/`regions` in place by the segmenter's mosaic pixels; returns, by
        label (0 first), which regions are uncompressed (`closed`: which were, on entry).

        A segmenter component touching found regions joins them, pixel by pixel to the
        nearest one (their grids hold), except uncompressed regions (exactly flat in every
        channel up to a pixel from each cell border): their borders are exact already,
        unless the component runs `net_reopen` cells beyond them. A component far larger
        than the regions it touches joins them only if it passes as a network-only one
        (`net_join_ratio`). Coded regions first lose the pixels the network does not call
        mosaic. A component touching none becomes a region only if it is large and
        confident enough, a cell lattice is found in it and enough of its cells are a
        mosaic's (`_cells_agree`): the classical evidence verifies the network."""
        cfg = self.cfg
        closed = list(closed)
        mosaic = logits > cfg.net_threshold
        if cfg.net_trim:
            # Coded regions keep only what the network calls mosaic: after coding it draws
            # borders better than the cells' flatness does.
            keep = np.asarray(closed)[labels] | mosaic
            labels[~keep] = 0
        count, comp, stats, _ = cv2.connectedComponentsWithStats(mosaic.astype(np.uint8), connectivity=8)
        found = np.bincount(labels.ravel(), minlength=len(regions) + count)  # each region's pixels before the network's
        for k in range(1, count):
            x, y, w, h, area = stats[k]
            rows, cols = slice(y, y + h), slice(x, x + w)
            part = comp[rows, cols] == k
            near = labels[rows, cols]
            if (near[part] > 0).any():
                # Nearest labelled pixel for every unlabelled one of the part.
                _, idx = cv2.distanceTransformWithLabels((near == 0).astype(np.uint8), cv2.DIST_L2, 3,
                                                            labelType=cv2.DIST_LABEL_PIXEL)
                owner = np.zeros(idx.max() + 1, np.int32)
                owner[idx[near > 0]] = near[near > 0]
                grow = part & (near == 0)
                joined = near[part]
                joined = np.unique(joined[joined > 0])
                if cfg.net_join_ratio and grow.sum() > cfg.net_join_ratio * found[joined].sum():
                    # A component far larger than the regions it touches would carry them
                    # (a few flat pieces in defocused cobbles, then half the frame): it
                    # joins only if it holds a mosaic on its own, as a network-only one must.
                    largest = regions[int(joined[np.argmax(found[joined])]) - 1]
                    if self._net_lattice(luma, edges, ev, eh, rows, cols, grow, first=largest.grid) is None:
                        continue
                if cfg.net_reopen > 0:
                    # An exact region the network's mosaic outgrows by a cell's worth of
                    # pixels, and whose whole cells are not all exactly one colour border
                    # pixels included, is not an uncompressed mosaic but the cells of a coded
                    # one that stayed exact inside (large flat cells can): it grows, and is
                    # refitted, like a coded one.
                    # A truly uncompressed region keeps its exact borders against the
                    # network's ragged rim (restoring that rim cost 0.4 dB at 8 px cells).
                    mine = owner[idx[grow]]
                    for label in np.unique(mine):
                        if closed[label]:
                            r = regions[label - 1]
                            pw, ph = r.pitch
                            x0, y0, x1, y1 = r.bbox
                            closed[label] = (np.count_nonzero(mine == label) < cfg.net_reopen * pw * ph
                                             or _constant_cells(colour[y0:y1, x0:x1], labels[y0:y1, x0:x1] == label,
                                                                r.grid, x0, y0) >= 0.9)
                grow[grow] = ~np.array(closed)[owner[idx[grow]]]
                near[grow] = owner[idx[grow]]
                for label in np.unique(near[grow]):
                    ys, xs = np.nonzero(grow & (near == label))
                    r = regions[label - 1]
                    regions[label - 1] = replace(r, bbox=(int(min(r.bbox[0], x + xs.min())), int(min(r.bbox[1], y + ys.min())),
                                                          int(max(r.bbox[2], x + xs.max() + 1)), int(max(r.bbox[3], y + ys.max() + 1))))
                continue
            if area < cfg.net_min_px:
                continue
            score = float(np.mean(1.0 / (1.0 + np.exp(-logits[rows, cols][part]))))
            if score < cfg.net_min_score:
                continue
            grid = self._net_lattice(luma, edges, ev, eh, rows, cols, part)
            if grid is None:
                continue
            near[part] = len(regions) + 1
            closed.append(False)
            pw, ph = grid.pitch
            regions.append(Region((int(x), int(y), int(x + w), int(y + h)), grid.pitch, grid.origin, "mean",
                                  max(1, int(round(area / (pw * ph)))), score))
        # Regions the trim emptied go; labels stay 1 + the index of their region.
        present = np.bincount(labels.ravel(), minlength=len(regions) + 1) > 0
        present[0] = False
        if not present[1:].all():
            new_label = np.cumsum(present) * present
            labels[...] = new_label[labels]
            regions[:] = [r for r, p in zip(regions, present[1:]) if p]
            closed = [False] + [c for c, p in zip(closed[1:], present[1:]) if p]
        return closed

    def _net_lattice(self, luma: np.ndarray, edges: np.ndarray | None, ev, eh, rows: slice, cols: slice,
                     part: np.ndarray, first: Grid | None = None) -> Grid | None:
        """The lattice of a network-only region (`part` of the box rows, cols) that passes
        `_verified`, or None: `first` if given, then the combs' and border maps' grids,
        flattest first (`_flat_ties`)."""
        cfg = self.cfg
        inside = cv2.dilate(part.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        tries = [self._lattice(ev, eh, rows, cols, inside)]
        if cfg.net_soft_lattice:
            grids = [tries[0], self._soft_lattice(luma, rows, cols, inside)]
            if edges is not None and cfg.net_edge_grid:
                grids.append(self._edge_lattice(edges, rows, cols, part))
            tries = self._flat_ties(luma, grids, rows, cols, part, edges)[:max(1, cfg.net_tie_tries)]
            # A second choice must pass every check: the step check passes cells under
            # 6 px, and there coding blocks (JPEG's, scaled) are flat and seen as borders.
            tries[1:] = [g for g in tries[1:] if min(g.pitch) >= 6]
        if first is not None:
            tries.insert(0, first)
        if edges is not None and cfg.net_rephase:
            tries = [self._better_phase(edges, g, rows, cols, part) for g in tries]
        return next((g for g in tries if self._verified(luma, edges, g, rows, cols, part)), None)

    def _better_phase(self, edges: np.ndarray, grid: Grid | None, rows: slice, cols: slice, part: np.ndarray) -> Grid | None:
        """`grid`, or its `_rephased` lattice if the border maps support that one
        `net_rephase` more."""
        if grid is None:
            return None
        other = self._rephased(edges, grid, rows, cols, part)
        if _same_lattice(other, grid, self._frame_origin):
            return grid
        gain = self._edge_support(edges, other, rows, cols, part) - self._edge_support(edges, grid, rows, cols, part)
        return other if gain >= self.cfg.net_rephase else grid

    def _exact_footholds(self, logits: np.ndarray, colour: np.ndarray, exact: np.ndarray, labels: np.ndarray,
                         regions: list) -> list[bool]:
        """Uncompressed frames: faint mosaics (cells a level or two apart) where the network
        proposes a little (`net_gate_threshold`) but no region was found: the groups of exact
        cells stepping to each other there (`_exact_seeds`) become regions, and exact growth
        (`_exact_growth`) then follows their cells beyond the proposals. Appends to `labels`
        and `regions` in place; returns their closed flags (all True: uncompressed).
        `exact`: the frame's exactly flat pixels (3×3, every channel): a seed's cells hold
        their insides, so places with too few of them are passed over unmeasured."""
        cfg = self.cfg
        height, width = labels.shape
        least = cfg.exact_seed_cells * _fewest_cells(cfg, (6, 6)) * 36  # px: the smallest seed (cells of 6 px and up)
        near = (logits > cfg.net_gate_threshold) & (labels == 0)
        if np.count_nonzero(near & (exact > 0)) < least * (4 / 6) ** 2 / 2:
            return []  # not enough exactly flat pixels near all the proposals for one seed
        count, comp, stats, _ = cv2.connectedComponentsWithStats(near.astype(np.uint8), connectivity=8)
        added, code = [], None
        pad = 2 * cfg.min_pitch
        for k in range(1, count):
            x, y, w, h, area = stats[k]
            if (w + 2 * pad) * (h + 2 * pad) < least:
                continue
            rows, cols = slice(max(y - pad, 0), min(y + h + pad, height)), slice(max(x - pad, 0), min(x + w + pad, width))
            part = cv2.dilate((comp[rows, cols] == k).astype(np.uint8), np.ones((2 * pad + 1,) * 2, np.uint8)) > 0
            part &= labels[rows, cols] == 0
            if part.sum() < least or np.count_nonzero(exact[rows, cols][part]) < least * (4 / 6) ** 2:
                continue
            if code is None:
                code = _colour_code(colour)
            for grid, pixels, stepped in self._exact_seeds(code, rows, cols, part):
                view = labels[rows, cols]
                pixels &= view == 0
                if not pixels.any():
                    continue
                view[pixels] = len(regions) + 1
                cells = max(1, int(round(pixels.sum() / (grid.pitch[0] * grid.pitch[1]))))
                regions.append(Region(_bbox(pixels, rows, cols), grid.pitch, grid.origin, "mean", cells,
                                      min(1.0, stepped / cells)))
                added.append(True)
        return added

    def _exact_seeds(self, code: np.ndarray, rows: slice, cols: slice,
                     part: np.ndarray) -> list[tuple[Grid, np.ndarray, int]]:
        """Uncompressed mosaics in `part` of the box (rows, cols) too faint for the lattice
        evidence (cells a level or two apart): on a whole pitch, 6 px and up, read from the
        commonest one-colour runs (`_exact_runs`), at a phase where many colour changes lie
        (`_exact_phases`), groups of whole exact cells stepping to each other
        (`_seed_cells`). A picture's flat areas are exact cells too, but with no step
        between them; a smooth picture changes along its contours, not along cell borders,
        yet here and there its levels fit a lattice: a seed needs `exact_seed_chance` times
        the stepping cells a lattice half a cell off finds in the same place, plus
        `exact_seed_cells` times a region's fewest cells. Up to `max_lattices` mosaics, the
        largest first (of lattices covering about as much, the coarsest). Returns (grid,
        the pixels of its cells in the box, how many of them step) for each."""
        cfg = self.cfg
        # Pitches per axis: the commonest runs of one colour between changes (a cell, where
        # neighbouring cells differ; two where they do not). Finer than 6 px, a smooth
        # picture's levels fit a lattice too often.
        pitches = [_exact_runs(code, rows, cols, part, axis, cfg.min_pitch, cfg.max_pitch) for axis in (0, 1)]
        shapes = [(px, py) for px in pitches[0] for py in pitches[1]
                  if min(px, py) >= 6 and max(px, py) <= cfg.net_max_aspect * min(px, py)]
        found, left = [], part.copy()
        for _ in range(cfg.max_lattices):
            options = []
            for pitch in shapes:
                phases = [_exact_phases(code, pitch[a], rows, cols, left, a) for a in (0, 1)]
                for ox in phases[0]:
                    for oy in phases[1]:
                        grid = Grid((float(pitch[0]), float(pitch[1])), (float(ox), float(oy)))
                        stepped, pixels = _seed_cells(code, grid, rows, cols, left, _fewest_cells(cfg, grid.pitch))
                        if stepped:
                            options.append((int(pixels.sum()), pitch[0] * pitch[1], grid, pixels, stepped))
            if not options:
                break
            # Half cells of a mosaic are exact too: of lattices covering about as much, the coarsest.
            most = max(o[0] for o in options)
            _, _, grid, pixels, stepped = max((o for o in options if o[0] >= 0.95 * most), key=lambda o: (o[1], o[0]))
            # Chance: over smooth content, where a level changes every few pixels, a lattice
            # half a cell off finds about as many exact cells stepping to each other in the
            # same place; over a mosaic, its cells straddle the true ones.
            px, py = (int(v) for v in grid.pitch)
            ox, oy = grid.origin
            chance = max(_seed_cells(code, Grid(grid.pitch, ((ox + dx) % px, (oy + dy) % py)), rows, cols, pixels,
                                     _fewest_cells(cfg, grid.pitch))[0]
                         for dx, dy in ((px // 2, 0), (0, py // 2), (px // 2, py // 2)))
            if stepped - cfg.exact_seed_chance * chance < cfg.exact_seed_cells * _fewest_cells(cfg, grid.pitch):
                break
            found.append((grid, pixels, stepped))
            left &= ~pixels
        return found

    def _lattice(self, ev, eh, rows: slice, cols: slice, inside: np.ndarray) -> Grid | None:
        """The cell grid whose borders the evidence inside (rows, cols) lines up on, or None."""
        cfg = self.cfg
        ev_in = ev[rows, cols.start:min(cols.stop, ev.shape[1])] & inside[:, :min(cols.stop, ev.shape[1]) - cols.start]
        eh_in = eh[rows.start:min(rows.stop, eh.shape[0]), cols] & inside[:min(rows.stop, eh.shape[0]) - rows.start]
        return _combs_grid(_comb(ev_in.sum(axis=0), cfg), _comb(eh_in.sum(axis=1), cfg), rows, cols, self._frame_origin)

    def _tile_areas(self, ev, eh, rows: slice, cols: slice, inside: np.ndarray) -> list[np.ndarray]:
        """Parts of a candidate area (bool, like `inside`), one per lattice that its tiles vote for."""
        cfg, tile = self.cfg, self.cfg.tile
        votes: list[tuple[Grid, slice, slice]] = []
        for ty in range(rows.start, rows.stop, tile):
            for tx in range(cols.start, cols.stop, tile):
                r, c = slice(ty, min(ty + tile, rows.stop)), slice(tx, min(tx + tile, cols.stop))
                sub = inside[r.start - rows.start:r.stop - rows.start, c.start - cols.start:c.stop - cols.start]
                if sub.mean() >= 0.25:
                    grid = self._lattice(ev, eh, r, c, sub)
                    if grid is not None:
                        votes.append((grid, r, c))
        clusters: list[list[tuple[Grid, slice, slice]]] = []
        for vote in votes:
            for cluster in clusters:
                if _same_lattice(cluster[0][0], vote[0], self._frame_origin):
                    cluster.append(vote)
                    break
            else:
                clusters.append([vote])
        clusters.sort(key=len, reverse=True)
        areas = []
        for cluster in clusters[:cfg.max_lattices]:
            area = np.zeros(inside.shape, np.uint8)
            for _, r, c in cluster:
                area[r.start - rows.start:r.stop - rows.start, c.start - cols.start:c.stop - cols.start] = 1
            grow = int(np.ceil(max(cluster[0][0].pitch))) * 2 + 1
            areas.append(cv2.dilate(area, np.ones((grow, grow), np.uint8)).astype(bool))
        return areas

    def grid_in(self, frame: np.ndarray, mask: np.ndarray) -> Grid | None:
        """Estimate the cell grid of a mosaic whose extent is given (a user's mask)."""
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None]
        ev, eh = border_evidence(*_abs_diffs(luma), self.cfg)
        ys, xs = np.nonzero(mask)
        if ys.size == 0:
            return None
        rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
        inside = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))[rows, cols].astype(bool)
        return self._lattice(ev, eh, rows, cols, inside)

    def _halve(self, frame: np.ndarray, grid: Grid, rows: slice, cols: slice, full: float) -> Grid:
        """Coding can weaken every other border of a small-cell mosaic until the comb finds
        twice the pitch: where cells of half the pitch (same phase) are clearly flatter, they
        are the cells. `full`: the share of flat cells on `grid` over (rows, cols)."""
        height, width = frame.shape[:2]
        for axis in (0, 1):
            if grid.pitch[axis] / 2 < max(self.cfg.min_pitch, 4):
                continue
            pitch = list(grid.pitch)
            pitch[axis] /= 2
            half = Grid(tuple(pitch), grid.origin)
            means, std = _cell_stats(frame, half, rows, cols, self.cfg.margin_div)[:2]
            std = std[np.isfinite(std)]
            share = float((std <= self.cfg.cell_std).mean()) if std.size else 0.0
            if share < max(0.75, full + 0.2):
                continue
            # ... and the two halves of most cells differ by a real step: the halves of one
            # true cell (subsets, so a little flatter) do not.
            first = half.cell_index(height, width)[1 - axis][(cols, rows)[axis].start]
            m = np.moveaxis(means, 1 - axis, 0)[first % 2:]
            pairs = np.abs(m[0:len(m) - 1:2] - m[1::2]).max(axis=-1)
            if pairs.size and np.median(pairs) >= self.cfg.min_jump:
                grid, full = half, share
        return grid

    def _region(self, frame, ev, eh, rows, cols, inside, grid: Grid | None = None, taken: np.ndarray | None = None,
                colour: np.ndarray | None = None, exact_flat: np.ndarray | None = None,
                spread: np.ndarray | None = None):
        cfg = self.cfg
        height, width = frame.shape[:2]
        grid = grid or self._lattice(ev, eh, rows, cols, inside)
        if grid is None:
            return None
        if _too_fine(frame[rows, cols, 0], grid, 0):
            return None
        if inside is not None and inside.any():  # this lattice's own area, for the halving test
            ys, xs = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
            own = (slice(rows.start + ys[0], rows.start + ys[-1] + 1), slice(cols.start + xs[0], cols.start + xs[-1] + 1))
        else:
            own = (rows, cols)
        for attempt in (0, 1):
            # Cell statistics over the candidate's box grown by one cell.
            pad_x, pad_y = int(np.ceil(grid.pitch[0])), int(np.ceil(grid.pitch[1]))
            r = slice(max(rows.start - pad_y, 0), min(rows.stop + pad_y, height))
            c = slice(max(cols.start - pad_x, 0), min(cols.stop + pad_x, width))
            means, std, labels, counts = _cell_stats(frame, grid, r, c, cfg.margin_div)
            if attempt:
                break
            # Mostly unflat cells in its own area: perhaps the comb found twice the pitch.
            iy, ix = grid.cell_index(height, width)
            sub = std[iy[own[0].start] - iy[r.start]:iy[own[0].stop - 1] - iy[r.start] + 1,
                      ix[own[1].start] - ix[c.start]:ix[own[1].stop - 1] - ix[c.start] + 1]
            sub = sub[np.isfinite(sub)]
            full = float((sub <= cfg.cell_std).mean()) if sub.size else 1.0
            if full >= 0.9:
                break
            half = self._halve(frame, grid, *own, full)
            if half == grid:
                break
            grid = half
        flat = std <= cfg.cell_std
        # Two flat cells whose colours differ by more than their noise can explain: a real step.
        noise = np.where(np.isfinite(std), std, 1e3)
        # Between two exactly flat cells (uncompressed mosaics) any step is real: natural
        # pictures do not hold side-by-side exactly flat squares. Cells up to 16 px could be
        # a codec's flat DC-only blocks a level apart: for them a step of two levels, and
        # only where they are exact in every channel, which a codec's blocks are not (their
        # chroma comes from blocks of another size). That is read from the exactly flat map
        # two pixels in from each cell's border (one for tiny cells), where 3×3
        # neighbourhoods stay inside the cell even on a lattice a pixel off.
        exact = noise < 0.05
        if min(grid.pitch) >= cfg.exact_jump_min_pitch:
            exact_need = cfg.exact_jump
        else:
            exact_need = cfg.small_exact_jump
            if exact_flat is not None and exact.any():
                iy, ix = grid.cell_index(height, width)
                depth = 2 if min(grid.pitch) >= 6 else 1
                deep = (_border_distance(iy[r]) >= depth)[:, None] & (_border_distance(ix[c]) >= depth)[None, :]
                off = np.bincount(labels.ravel(), weights=(deep & (exact_flat[r, c] == 0)).ravel(),
                                  minlength=exact.size)
                exact &= off.reshape(exact.shape) == 0
        need_x = np.where(exact[:, 1:] & exact[:, :-1], exact_need, cfg.min_jump + 2 * (noise[:, 1:] + noise[:, :-1]))
        need_y = np.where(exact[1:] & exact[:-1], exact_need, cfg.min_jump + 2 * (noise[1:] + noise[:-1]))
        jump_x = np.abs(np.diff(means, axis=1)).max(axis=2) >= need_x
        jump_y = np.abs(np.diff(means, axis=0)).max(axis=2) >= need_y
        stepped = np.zeros_like(flat)
        stepped[:, :-1] |= jump_x & flat[:, 1:]
        stepped[:, 1:] |= jump_x & flat[:, :-1]
        stepped[:-1] |= jump_y & flat[1:]
        stepped[1:] |= jump_y & flat[:-1]
        cells = flat & stepped
        # Evidence is area: a few large flat cells weigh as much as many small ones.
        min_cells = _fewest_cells(cfg, grid.pitch)
        cells = _fill_holes(cells) & flat | cells
        count, comp = cv2.connectedComponents(cells.astype(np.uint8), connectivity=4)
        keep = np.zeros_like(cells)
        for k in range(1, count):
            part = comp == k
            n_cells = int(part.sum())
            if n_cells >= min_cells and (stepped & part).sum() >= cfg.min_step_share * n_cells:
                keep |= part
        keep = _fill_holes(keep)
        if keep.sum() < min_cells:
            return None
        # Stripes and bands (a 1-D texture) step one way only, where a mosaic over a picture
        # steps both ways somewhere.
        sx = int((jump_x & keep[:, 1:] & keep[:, :-1]).sum())
        sy = int((jump_y & keep[1:] & keep[:-1]).sum())
        if min(sx, sy) < cfg.axis_share * max(sx, sy) and max(sx, sy) >= cfg.axis_min:
            return None
        # The same mosaic again (another lattice vote over a region already found): stop
        # before the costly pixel cleanup.
        if taken is not None and taken[r, c][keep.ravel()[labels]].mean() > 0.5:
            return None
        # A photographed chessboard has flat squares with steps, but two colours only: cell
        # means of a mosaic over a picture spread over many.
        if _two_tone(means[keep][:, 0] if means.shape[-1] == 1 else means[keep].mean(axis=1)):
            return None
        # The region's own noise sets how exact the cleanup may be: an uncompressed mosaic's
        # cells are exactly flat, so only exactly flat cells and pixels may join it; after
        # coding the configured tolerances apply.
        noise_level = float(np.median(std[keep & np.isfinite(std)])) if (keep & np.isfinite(std)).any() else cfg.cell_std
        exact_region = noise_level < 0.05
        if exact_region and colour is not None:
            # Exact in luma, and exact in every channel over whole cells, borders included:
            # uncompressed. (A codec's chroma, stored at half resolution, blurs cell borders.)
            rgb = colour[r, c].astype(np.float64)
            s1, n = cell_sums(rgb, labels, keep.size)
            s2, _ = cell_sums(rgb * rgb, labels, keep.size)
            var = (s2 / np.maximum(n, 1)[:, None] - (s1 / np.maximum(n, 1)[:, None]) ** 2).max(axis=1)
            exact_region = float(np.median(var.reshape(keep.shape)[keep])) < 0.05 ** 2
        grow_std = min(cfg.grow_std, 0.05 + 1.5 * noise_level if exact_region else 0.3 + 1.5 * noise_level)
        pixel_tolerance = min(cfg.pixel_tolerance, 0.5 + 3 * noise_level)
        strip_std = min(cfg.cell_std, 0.05 + 3 * noise_level if exact_region else 0.5 + 3 * noise_level)
        # Mosaic cells over flat image areas show no step to their neighbours: take in very
        # flat cells of the same colour next to the region, a few cells deep at most.
        very_flat = std <= grow_std
        same_x = ~jump_x & very_flat[:, 1:] & very_flat[:, :-1]
        same_y = ~jump_y & very_flat[1:] & very_flat[:-1]
        for _ in range(int(np.clip(round((cfg.grow_px_exact if exact_region else cfg.grow_px) / max(grid.pitch)), 1, 3))):
            grown = keep.copy()
            grown[:, 1:] |= keep[:, :-1] & same_x
            grown[:, :-1] |= keep[:, 1:] & same_x
            grown[1:] |= keep[:-1] & same_y
            grown[:-1] |= keep[1:] & same_y
            if (grown == keep).all():
                break
            keep = grown
        # Pixel mask: whole cells inside; on the region's edge, only the pixels carrying the cell
        # colour. A cell on the edge counts as whole only if it is as flat as the region's own
        # noise allows (a cut cell with a flat piece of picture in it passes the looser test above).
        inner = np.zeros_like(keep)
        inner[1:-1, 1:-1] = keep[:-2, 1:-1] & keep[2:, 1:-1] & keep[1:-1, :-2] & keep[1:-1, 2:]
        solid = keep & (inner | (std <= strip_std))
        up, down = np.pad(solid, 1)[:-2, 1:-1], np.pad(solid, 1)[2:, 1:-1]
        left, right = np.pad(solid, 1)[1:-1, :-2], np.pad(solid, 1)[1:-1, 2:]
        edge = solid & ~(up & down & left & right)
        ring = ~solid & (up | down | left | right)
        block = frame[r, c]
        # An exactly flat mosaic's cut cells match their colour exactly, in every channel:
        # a smooth picture's pixels rarely do, though their luma may.
        cut_block = colour[r, c] if exact_region and colour is not None else block
        # Edge cells flat over all their pixels, border included, are whole: no cut to find.
        values = block.astype(np.float64)
        s1, n_all = cell_sums(values, labels, keep.size)
        s2, _ = cell_sums(values * values, labels, keep.size)
        mean_all = s1 / np.maximum(n_all, 1)[:, None]
        std_all = np.sqrt(np.maximum(s2 / np.maximum(n_all, 1)[:, None] - mean_all ** 2, 0)).max(axis=1)
        whole = edge & (std_all.reshape(keep.shape) <= strip_std)
        pixel_mask = ((solid & ~edge) | whole).ravel()[labels]
        row_cell, col_cell = labels[:, 0] // keep.shape[1], labels[0] % keep.shape[1]
        # A ring cell can hold a cut cell's mosaic part only if the band along a kept side
        # has flat pixels (3×3 range within the strip tolerance); most ring cells are picture.
        if spread is None:
            kernel = np.ones((3, 3), np.uint8)
            spread = cv2.dilate(frame[..., 0], kernel) - cv2.erode(frame[..., 0], kernel)
        flat_px = spread[r, c] <= max(1.0, 2 * strip_std)
        (top, bottom), (first, last) = _position_in_cell(row_cell), _position_in_cell(col_cell)
        maybe = np.zeros_like(ring)
        for kept_side, band in ((up, (top <= 2)[:, None]), (down, (bottom <= 2)[:, None]),
                                (left, (first <= 2)[None, :]), (right, (last <= 2)[None, :])):
            count = np.bincount(labels.ravel(), weights=(flat_px & band).ravel(), minlength=keep.size)
            maybe |= kept_side & (count.reshape(keep.shape) >= 3)
        for cy, cx in zip(*np.nonzero((edge & ~whole) | (ring & maybe))):
            ys, xs = np.flatnonzero(row_cell == cy), np.flatnonzero(col_cell == cx)
            part = _cut_cell(cut_block[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1],
                             (up[cy, cx], down[cy, cx], left[cy, cx], right[cy, cx]), strip_std, pixel_tolerance)
            if part is not None:
                pixel_mask[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1] |= part
        claimed = (ring | keep).ravel()[labels]  # whole cells, for removing their evidence
        if not pixel_mask.any():
            return None
        bbox = _bbox(pixel_mask, r, c)
        n_cells = int(keep.sum())
        region = Region(bbox, grid.pitch, grid.origin, "mean", n_cells,
                        float((stepped & keep).sum() / max(n_cells, 1)))
        return region, pixel_mask, claimed, (r.start, c.start)


def detect(frame: np.ndarray, cfg: DetectorConfig = DetectorConfig()) -> Detection:
    return Detector(cfg).detect(frame)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def grid_line_error(found: Grid, truth: Grid, bbox: Sequence[float], rendered: bool = False) -> float:
    """Largest distance (px) inside bbox (x0, y0, x1, y1) from a true cell border to the
    nearest found one, and from a found border to the nearest true one: a lattice with
    every true line and more between (half the pitch) has lines in mid-cell, 4 px off at
    8 px cells.

    `rendered`: compare the borders as a frame shows them, between whole pixels (a border
    at x lies before pixel ceil(x), as `Grid.cell_index` puts it): a true line at 18.55 and
    a found one at 19.0 give the same cells; 18.55 and 19.77 are a pixel apart."""
    worst = 0.0
    for axis in (0, 1):
        lo, hi = bbox[axis], bbox[axis + 2]
        for a, b in ((truth, found), (found, truth)):
            p_a, o_a = a.pitch[axis], a.origin[axis]
            p_b, o_b = b.pitch[axis], b.origin[axis]
            lines = o_a + p_a * np.arange(np.floor((lo - o_a) / p_a), np.ceil((hi - o_a) / p_a) + 1)
            lines = lines[(lines > lo) & (lines < hi)]
            near = o_b + p_b * (np.round((lines - o_b) / p_b)[:, None] + np.arange(-1, 2))
            if rendered:
                lines, near = np.ceil(lines - 1e-6), np.ceil(near - 1e-6)
            worst = max(worst, float(np.abs(near - lines[:, None]).min(axis=1).max(initial=0.0)))
    return worst
