"""Cell verification of a candidate area: the mosaic's cells on a lattice, and its pixel-accurate outline."""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from ..mosaic import Grid, cell_sums
from .cellstats import border_distance, cell_stats, fill_holes, position_in_cell, too_fine, two_tone
from .config import DetectorConfig
from .lattice import evidence_lattice
from .regions import Found, Region, fewest_cells, mask_box


# Half the pitch is taken where its cells are clearly flatter: this share flat at least, and this much more than on
# the found lattice (reason for the values not recorded)
HALF_FLAT, HALF_GAIN = 0.75, 0.2

# The cleanup's tolerances follow the region's own noise (the kept cells' median spread, in
# levels): a floor plus a multiple of it, each capped by its `cells.*` setting. A region
# whose cells are exactly flat (uncompressed) starts from a lower floor, so only exactly
# flat cells and pixels join it (4f88544, d020e32; the values' reasons not recorded).
GROW_FLOOR, GROW_FLOOR_EXACT, GROW_NOISE = 0.3, 0.05, 1.5  # very flat cells the region grows by
PIXEL_FLOOR, PIXEL_NOISE = 0.5, 3  # an edge pixel's distance from its cell's colour
STRIP_FLOOR, STRIP_FLOOR_EXACT, STRIP_NOISE = 0.5, 0.05, 3  # a cut cell's strip's spread

# A cut cell's colour is read from the strip along its cut side, one pixel in (coding smears
# the border itself) where the cell is at least this many px across, else on the border.
STRIP_INSET_FROM = 5
# The strip holds the colour if at least this share of its pixels are within the pixel
# tolerance or this many strip spreads of it (a corner cell's strip may end in picture).
STRIP_INLIERS, STRIP_INLIER_SPREADS = 0.5, 2
# The cut part: pixels within the pixel tolerance or 3 strip spreads + 1 level of its colour,
# connected to the strip (reason for the values not recorded).
PART_SPREADS, PART_FLOOR = 3, 1


def _halve(cfg: DetectorConfig, frame: np.ndarray, grid: Grid, rows: slice, cols: slice, full: float) -> Grid:
    """Coding can weaken every other border of a small-cell mosaic until the comb finds
    twice the pitch: where cells of half the pitch (same phase) are clearly flatter, they
    are the cells. `full`: the share of flat cells on `grid` over (rows, cols)."""
    height, width = frame.shape[:2]
    for axis in (0, 1):
        if grid.pitch[axis] / 2 < max(cfg.lattice.min_pitch, 4):
            continue
        pitch = list(grid.pitch)
        pitch[axis] /= 2
        half = Grid(tuple(pitch), grid.origin)
        means, std = cell_stats(frame, half, rows, cols, cfg.cells.margin_div)[:2]
        std = std[np.isfinite(std)]
        share = float((std <= cfg.cells.cell_std).mean()) if std.size else 0.0
        if share < max(HALF_FLAT, full + HALF_GAIN):
            continue
        # ... and the two halves of most cells differ by a real step: the halves of one
        # true cell (subsets, so a little flatter) do not.
        first = half.cell_index(height, width)[1 - axis][(cols, rows)[axis].start]
        m = np.moveaxis(means, 1 - axis, 0)[first % 2:]
        pairs = np.abs(m[0:len(m) - 1:2] - m[1::2]).max(axis=-1)
        if pairs.size and np.median(pairs) >= cfg.cells.min_jump:
            grid, full = half, share
    return grid


class CellWindow(NamedTuple):
    """A lattice's cells over a candidate's box grown by one cell (`cell_stats`)."""

    grid: Grid
    rows: slice  # the window in the search's arrays
    cols: slice
    means: np.ndarray  # (ny, nx, C) cell means
    std: np.ndarray  # (ny, nx) inner standard deviation, inf where under two inner pixels
    labels: np.ndarray  # (h, w) int: each pixel's cell, row-major from the window's first


class CellSteps(NamedTuple):
    """Which cells are flat, which neighbours differ by a real step, and which flat cells step."""

    flat: np.ndarray  # (ny, nx) bool
    jump_x: np.ndarray  # (ny, nx - 1) bool: a real step between horizontal neighbours
    jump_y: np.ndarray  # (ny - 1, nx) bool
    stepped: np.ndarray  # (ny, nx) bool: a flat neighbour across a real step


class Tolerances(NamedTuple):
    """How exact the cleanup may be, set by the region's own noise (an uncompressed
    mosaic's cells are exactly flat; after coding the configured tolerances apply)."""

    uncompressed: bool  # exact in luma and, over whole cells, in every channel
    grow_std: float  # cells this flat join the region from its flat surroundings
    pixel_tolerance: float  # edge cells keep pixels this near the cell's colour
    strip_std: float  # an edge cell (or a cut cell's strip) this flat is whole (one colour)


# Under this share of flat cells in its own area, a lattice is tried at half the pitch (reason not recorded)
UNFLAT_HALVING = 0.9
EXACT_STD = 0.05  # levels: a cell's inner std under this is exactly flat (rounding only)
NO_NOISE = 1e3  # the noise of a cell with no inner pixels: no step from it counts


def candidate_region(cfg: DetectorConfig, frame, ev, eh, rows, cols, inside, grid: Grid | None = None,
                     taken: np.ndarray | None = None, colour: np.ndarray | None = None,
                     exact_flat: np.ndarray | None = None, spread: np.ndarray | None = None,
                     frame_origin: tuple[int, int] = (0, 0)) -> Found | None:
    """The mosaic on one lattice in a candidate area (rows, cols; `inside` its pixels), or
    None: the lattice (`grid`, else the evidence's), its flat cells stepping to each other,
    the checks that rule out stripes, a region found already and chessboards, then its
    pixels, cut cells to the pixel (`_outline`). `frame`: the luma (H, W, 1); `colour`:
    the RGB; `exact_flat`: exactly flat pixels (3×3, every channel); `spread`: 3×3 luma range."""
    cells = _lattice_cells(cfg, frame, ev, eh, rows, cols, inside, grid, frame_origin)
    if cells is None:
        return None
    steps = _cell_steps(cfg, cells, exact_flat, frame.shape[:2])
    keep = _kept_cells(cfg, steps, cells.grid)
    if keep is None or _ruled_out(cfg, cells, steps, keep, taken):
        return None
    tol = _tolerances(cfg, cells, keep, colour)
    keep = _grown(cfg, cells, steps, keep, tol)
    pixel_mask, claimed = _outline(cfg, frame, colour, spread, cells, keep, tol)
    if not pixel_mask.any():
        return None
    r, c = cells.rows, cells.cols
    n_cells = int(keep.sum())
    region = Region(mask_box(pixel_mask, r, c), cells.grid.pitch, cells.grid.origin, "mean", n_cells,
                    float((steps.stepped & keep).sum() / max(n_cells, 1)))
    return Found(region, pixel_mask, claimed, (r.start, c.start))


def _lattice_cells(cfg: DetectorConfig, frame, ev, eh, rows, cols, inside, grid: Grid | None,
                   frame_origin: tuple[int, int]) -> CellWindow | None:
    """The candidate's lattice (`grid`, else the evidence's; half its pitch where that is
    clearly flatter, `_halve`) and its cells over the box grown by one cell; None where no
    lattice is found or it is much finer than the flat runs it covers."""
    height, width = frame.shape[:2]
    grid = grid or evidence_lattice(cfg, ev, eh, rows, cols, inside, frame_origin)
    if grid is None:
        return None
    if too_fine(frame[rows, cols, 0], grid, 0):
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
        means, std, labels, counts = cell_stats(frame, grid, r, c, cfg.cells.margin_div)
        if attempt:
            break
        # Mostly unflat cells in its own area: perhaps the comb found twice the pitch.
        iy, ix = grid.cell_index(height, width)
        sub = std[iy[own[0].start] - iy[r.start]:iy[own[0].stop - 1] - iy[r.start] + 1,
                  ix[own[1].start] - ix[c.start]:ix[own[1].stop - 1] - ix[c.start] + 1]
        sub = sub[np.isfinite(sub)]
        full = float((sub <= cfg.cells.cell_std).mean()) if sub.size else 1.0
        if full >= UNFLAT_HALVING:
            break
        half = _halve(cfg, frame, grid, *own, full)
        if half == grid:
            break
        grid = half
    return CellWindow(grid, r, c, means, std, labels)


def _cell_steps(cfg: DetectorConfig, cells: CellWindow, exact_flat: np.ndarray | None,
                shape: tuple[int, int]) -> CellSteps:
    """Flat cells, and real steps between neighbours: a difference their noise cannot
    explain (`cells.min_jump` on top of it), or between two exactly flat cells any step of
    `cells.exact_jump` (`cells.small_exact_jump` for cells up to `cells.exact_jump_min_pitch`)."""
    grid, std, labels, r, c = cells.grid, cells.std, cells.labels, cells.rows, cells.cols
    height, width = shape
    flat = std <= cfg.cells.cell_std
    # Two flat cells whose colours differ by more than their noise can explain: a real step.
    noise = np.where(np.isfinite(std), std, NO_NOISE)
    # Between two exactly flat cells (uncompressed mosaics) any step is real: natural
    # pictures do not hold side-by-side exactly flat squares. Cells up to 16 px could be
    # a codec's flat DC-only blocks a level apart: for them a step of two levels, and
    # only where they are exact in every channel, which a codec's blocks are not (their
    # chroma comes from blocks of another size). That is read from the exactly flat map
    # two pixels in from each cell's border (one for tiny cells), where 3×3
    # neighbourhoods stay inside the cell even on a lattice a pixel off.
    exact = noise < EXACT_STD
    if min(grid.pitch) >= cfg.cells.exact_jump_min_pitch:
        exact_need = cfg.cells.exact_jump
    else:
        exact_need = cfg.cells.small_exact_jump
        if exact_flat is not None and exact.any():
            iy, ix = grid.cell_index(height, width)
            depth = 2 if min(grid.pitch) >= 6 else 1
            deep = (border_distance(iy[r]) >= depth)[:, None] & (border_distance(ix[c]) >= depth)[None, :]
            off = np.bincount(labels.ravel(), weights=(deep & (exact_flat[r, c] == 0)).ravel(),
                              minlength=exact.size)
            exact &= off.reshape(exact.shape) == 0
    need_x = np.where(exact[:, 1:] & exact[:, :-1], exact_need, cfg.cells.min_jump + 2 * (noise[:, 1:] + noise[:, :-1]))
    need_y = np.where(exact[1:] & exact[:-1], exact_need, cfg.cells.min_jump + 2 * (noise[1:] + noise[:-1]))
    jump_x = np.abs(np.diff(cells.means, axis=1)).max(axis=2) >= need_x
    jump_y = np.abs(np.diff(cells.means, axis=0)).max(axis=2) >= need_y
    stepped = np.zeros_like(flat)
    stepped[:, :-1] |= jump_x & flat[:, 1:]
    stepped[:, 1:] |= jump_x & flat[:, :-1]
    stepped[:-1] |= jump_y & flat[1:]
    stepped[1:] |= jump_y & flat[:-1]
    return CellSteps(flat, jump_x, jump_y, stepped)


def _kept_cells(cfg: DetectorConfig, steps: CellSteps, grid: Grid) -> np.ndarray | None:
    """The groups of flat stepping cells (holes filled) that hold a region's fewest cells,
    `cells.min_step_share` of them stepping; None where too few cells are left."""
    flat, stepped = steps.flat, steps.stepped
    cells = flat & stepped
    # Evidence is area: a few large flat cells weigh as much as many small ones.
    min_cells = fewest_cells(cfg, grid.pitch)
    cells = fill_holes(cells) & flat | cells
    count, comp = cv2.connectedComponents(cells.astype(np.uint8), connectivity=4)
    keep = np.zeros_like(cells)
    for k in range(1, count):
        part = comp == k
        n_cells = int(part.sum())
        if n_cells >= min_cells and (stepped & part).sum() >= cfg.cells.min_step_share * n_cells:
            keep |= part
    keep = fill_holes(keep)
    return None if keep.sum() < min_cells else keep


def _ruled_out(cfg: DetectorConfig, cells: CellWindow, steps: CellSteps, keep: np.ndarray,
               taken: np.ndarray | None) -> bool:
    """Whether the kept cells are stripes (steps one way only), a region found already, or
    a chessboard (two tones)."""
    jump_x, jump_y = steps.jump_x, steps.jump_y
    # Stripes and bands (a 1-D texture) step one way only, where a mosaic over a picture
    # steps both ways somewhere.
    sx = int((jump_x & keep[:, 1:] & keep[:, :-1]).sum())
    sy = int((jump_y & keep[1:] & keep[:-1]).sum())
    if min(sx, sy) < cfg.cells.axis_share * max(sx, sy) and max(sx, sy) >= cfg.cells.axis_min:
        return True
    # The same mosaic again (another lattice vote over a region already found): stop
    # before the costly pixel cleanup.
    if taken is not None and taken[cells.rows, cells.cols][keep.ravel()[cells.labels]].mean() > 0.5:
        return True
    # A photographed chessboard has flat squares with steps, but two colours only: cell
    # means of a mosaic over a picture spread over many.
    means = cells.means
    return two_tone(means[keep][:, 0] if means.shape[-1] == 1 else means[keep].mean(axis=1))


def _tolerances(cfg: DetectorConfig, cells: CellWindow, keep: np.ndarray, colour: np.ndarray | None) -> Tolerances:
    """The cleanup's tolerances from the kept cells' median noise."""
    std, labels = cells.std, cells.labels
    # The region's own noise sets how exact the cleanup may be: an uncompressed mosaic's
    # cells are exactly flat, so only exactly flat cells and pixels may join it; after
    # coding the configured tolerances apply.
    noise_level = float(np.median(std[keep & np.isfinite(std)])) if (keep & np.isfinite(std)).any() else cfg.cells.cell_std
    exact_region = noise_level < EXACT_STD
    if exact_region and colour is not None:
        # Exact in luma, and exact in every channel over whole cells, borders included:
        # uncompressed. (A codec's chroma, stored at half resolution, blurs cell borders.)
        rgb = colour[cells.rows, cells.cols].astype(np.float64)
        s1, n = cell_sums(rgb, labels, keep.size)
        s2, _ = cell_sums(rgb * rgb, labels, keep.size)
        var = (s2 / np.maximum(n, 1)[:, None] - (s1 / np.maximum(n, 1)[:, None]) ** 2).max(axis=1)
        exact_region = float(np.median(var.reshape(keep.shape)[keep])) < EXACT_STD ** 2
    grow_floor, strip_floor = (GROW_FLOOR_EXACT, STRIP_FLOOR_EXACT) if exact_region else (GROW_FLOOR, STRIP_FLOOR)
    grow_std = min(cfg.cells.grow_std, grow_floor + GROW_NOISE * noise_level)
    pixel_tolerance = min(cfg.cells.pixel_tolerance, PIXEL_FLOOR + PIXEL_NOISE * noise_level)
    strip_std = min(cfg.cells.cell_std, strip_floor + STRIP_NOISE * noise_level)
    return Tolerances(exact_region, grow_std, pixel_tolerance, strip_std)


def _grown(cfg: DetectorConfig, cells: CellWindow, steps: CellSteps, keep: np.ndarray, tol: Tolerances) -> np.ndarray:
    """`keep` with the very flat cells of the same colour next to it, a few cells deep
    (`cells.grow_px`, `cells.grow_px_exact`): mosaic cells over flat image areas show no step to their
    neighbours."""
    very_flat = cells.std <= tol.grow_std
    same_x = ~steps.jump_x & very_flat[:, 1:] & very_flat[:, :-1]
    same_y = ~steps.jump_y & very_flat[1:] & very_flat[:-1]
    depth = (cfg.cells.grow_px_exact if tol.uncompressed else cfg.cells.grow_px) / max(cells.grid.pitch)
    for _ in range(int(np.clip(round(depth), 1, 3))):
        grown = keep.copy()
        grown[:, 1:] |= keep[:, :-1] & same_x
        grown[:, :-1] |= keep[:, 1:] & same_x
        grown[1:] |= keep[:-1] & same_y
        grown[:-1] |= keep[1:] & same_y
        if (grown == keep).all():
            break
        keep = grown
    return keep


def _outline(cfg: DetectorConfig, frame: np.ndarray, colour: np.ndarray | None, spread: np.ndarray | None,
             cells: CellWindow, keep: np.ndarray, tol: Tolerances) -> tuple[np.ndarray, np.ndarray]:
    """(the region's pixels, the whole cells it claims) over the window: whole cells
    inside; on the region's edge, only the pixels carrying the cell colour (`_cut_cell`).
    A cell on the edge counts as whole only if it is as flat as the region's own noise
    allows (a cut cell with a flat piece of picture in it passes the looser test above)."""
    r, c, labels = cells.rows, cells.cols, cells.labels
    strip_std, exact_region = tol.strip_std, tol.uncompressed
    inner = np.zeros_like(keep)
    inner[1:-1, 1:-1] = keep[:-2, 1:-1] & keep[2:, 1:-1] & keep[1:-1, :-2] & keep[1:-1, 2:]
    solid = keep & (inner | (cells.std <= strip_std))
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
    (top, bottom), (first, last) = position_in_cell(row_cell), position_in_cell(col_cell)
    maybe = np.zeros_like(ring)
    for kept_side, band in ((up, (top <= 2)[:, None]), (down, (bottom <= 2)[:, None]),
                            (left, (first <= 2)[None, :]), (right, (last <= 2)[None, :])):
        count = np.bincount(labels.ravel(), weights=(flat_px & band).ravel(), minlength=keep.size)
        maybe |= kept_side & (count.reshape(keep.shape) >= 3)
    for cy, cx in zip(*np.nonzero((edge & ~whole) | (ring & maybe))):
        ys, xs = np.flatnonzero(row_cell == cy), np.flatnonzero(col_cell == cx)
        part = _cut_cell(cut_block[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1],
                         (up[cy, cx], down[cy, cx], left[cy, cx], right[cy, cx]), strip_std, tol.pixel_tolerance)
        if part is not None:
            pixel_mask[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1] |= part
    claimed = (ring | keep).ravel()[labels]  # whole cells, for removing their evidence
    return pixel_mask, claimed


def median_rows(values: np.ndarray) -> np.ndarray:
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
        for depth in ((1, 0) if across >= STRIP_INSET_FROM else (0,)):
            line = {"up": (slice(depth, depth + 1), slice(None)), "down": (slice(h - 1 - depth, h - depth), slice(None)),
                    "left": (slice(None), slice(depth, depth + 1)), "right": (slice(None), slice(w - 1 - depth, w - depth))}[side]
            strip = c[line].reshape(-1, c.shape[-1])
            colour = median_rows(strip)
            # A corner cell is cut on two sides: its strip may end in picture pixels.
            inliers = np.abs(strip - colour).max(axis=1) <= max(pixel_tolerance, STRIP_INLIER_SPREADS * strip_std)
            if inliers.mean() < STRIP_INLIERS:
                continue
            spread = float(strip[inliers].std(axis=0).max())
            if best is None or spread < best[0]:
                best = (spread, line, colour)
    if best is None or best[0] > strip_std:
        return None
    spread, line, colour = best
    close = (np.abs(c - colour).max(axis=2) <= max(pixel_tolerance, PART_SPREADS * spread + PART_FLOOR)).astype(np.uint8)
    _, comp = cv2.connectedComponents(close, connectivity=4)
    touching = np.unique(comp[line][close[line] > 0])
    return np.isin(comp, touching[touching > 0])
