"""Uncompressed mosaics: which regions are, exact growth, and seeds where the network proposes a little."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import cv2
import numpy as np

from ..mosaic import Grid
from .cellstats import WHOLE_CELL
from .cellstats import border_distance, fill_holes
from .config import DetectorConfig
from .evidence import colour_code
from .regions import Region, fewest_cells, mask_box


# An uncompressed region's pixels (and probes) are exactly flat this often, of what its cells allow (reason for the slack not recorded)
EXACT_SHARE = 0.9
# px: cells this large can stay exact inside after coding (larger than a codec's 16 px blocks): the probe decides
LARGE_CELL = 17
# The probe: pixels second from a cell border, 3 px inside the region, 16 at least (reason not recorded)
PROBE_INSET, PROBE_LEAST = 7, 16
SEED_MIN_PITCH = 6  # px: finer than this, a smooth picture's levels fit a lattice too often
# The share of a 6 px cell exactly flat over 3×3: its inner 4×4
SEED_INNER = ((SEED_MIN_PITCH - 2) / SEED_MIN_PITCH) ** 2
# Half cells of a mosaic are exact too: of the lattices covering at least this share of the
# most pixels any covers, the coarsest is taken (reason for the value not recorded)
COVER_SHARE = 0.95


def uncompressed(own: np.ndarray, exact: np.ndarray, grid: Grid, x0: int, y0: int) -> bool:
    """Whether a region's cells are exact up to their borders, as only uncompressed ones are.

    Uncompressed cells are exactly flat in every channel (`exact`) but for a pixel at each
    border, so nearly (1 − 2/pitch)² of the region is. Coding leaves small cells far less
    exact, but large ones can stay exact inside; for them the pixels second from a cell
    border decide (their 3×3 neighbourhood is still inside the cell; coding rings and blurs
    chroma there). `own` and `exact` cover the region's box, whose corner is (x0, y0)."""
    inner = max(1.0 - 2.0 / min(grid.pitch), 0.0) ** 2
    if not own.any() or exact[own].mean() < EXACT_SHARE * inner:
        return False
    if min(grid.pitch) < LARGE_CELL:
        return True
    h, w = own.shape
    iy, ix = grid.cell_index(y0 + h, x0 + w)
    second = (border_distance(iy[y0:]) == 1)[:, None] | (border_distance(ix[x0:]) == 1)[None, :]
    probe = second & cv2.erode(own.astype(np.uint8), np.ones((PROBE_INSET,) * 2, np.uint8)).astype(bool)
    return bool(probe.sum() >= PROBE_LEAST and exact[probe].mean() >= EXACT_SHARE)


def constant_cells(colour: np.ndarray, own: np.ndarray, grid: Grid, x0: int, y0: int) -> float:
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
    whole = (np.bincount(cid[own], minlength=n) == size) & (size >= WHOLE_CELL * grid.pitch[0] * grid.pitch[1])  # not cut by the box
    breaks = np.zeros(n, np.int64)
    for step, ids in (((colour[:, 1:] != colour[:, :-1]).any(axis=-1) & (cid[:, 1:] == cid[:, :-1]), cid[:, 1:]),
                      ((colour[1:] != colour[:-1]).any(axis=-1) & (cid[1:] == cid[:-1]), cid[1:])):
        breaks += np.bincount(ids[step], minlength=n)
    return float((whole & (breaks == 0)).sum() / whole.sum()) if whole.any() else 0.0


def uncompressed_regions(labels: np.ndarray, regions: list, exact: np.ndarray, coded: bool) -> list[bool]:
    """By label (0 first): which regions are uncompressed mosaics (`uncompressed`; `exact`:
    the frame's exactly flat pixels). However exact its cells (a codec can leave large
    flat cells exactly one colour, to their borders), a `coded` frame holds none."""
    out = [False]
    for k, region in enumerate(regions, 1):
        x0, y0, x1, y1 = region.bbox
        out.append(not coded and uncompressed(labels[y0:y1, x0:x1] == k, exact[y0:y1, x0:x1], region.grid, x0, y0))
    return out


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


def exact_growth(code: np.ndarray, labels: np.ndarray, label: int, grid: Grid, bbox: tuple[int, int, int, int],
                 reach: tuple[int, ...] = (1, 8)) -> np.ndarray:
    """Bool H×W: the whole cells of `grid` an uncompressed region (pixels `labels == label`,
    inside `bbox`) reaches through cells that are exactly one colour, border pixels
    included, and differ from a neighbouring such cell, none of them another region's.
    `code`: the frame's `colour_code`.

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
    whole = cells.size >= WHOLE_CELL * grid.pitch[0] * grid.pitch[1]  # not cut by the frame (or window) edge
    exact = cells.constant & whole & (cells.share(part) >= WHOLE_CELL)
    _, comp = cv2.connectedComponents(exact.astype(np.uint8), connectivity=4)
    seeds = np.bincount(comp[exact & cells.stepped], minlength=comp.max() + 1)
    seeds[0] = 0
    groups = np.flatnonzero(seeds >= fewest)
    keep = np.isin(comp, groups) & cells.stepped
    keep |= fill_holes(keep) & exact  # and the exact cells they enclose (equal to all their neighbours)
    return int(seeds[groups].sum()), cells.pixels(keep)


def exact_runs(code: np.ndarray, rows: slice, cols: slice, part: np.ndarray, axis: int,
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


def exact_phases(code: np.ndarray, pitch: int, rows: slice, cols: slice, part: np.ndarray, axis: int,
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


def exact_footholds(cfg: DetectorConfig, logits: np.ndarray, colour: np.ndarray, exact: np.ndarray, labels: np.ndarray,
                    regions: Sequence[Region], closed: Sequence[bool]) -> tuple[np.ndarray, list[Region], list[bool]]:
    """Uncompressed frames: faint mosaics (cells a level or two apart) where the network
    proposes a little (`net.gate_threshold`) but no region was found: the groups of exact
    cells stepping to each other there (`exact_seeds`) become regions, and exact growth
    (`exact_growth`) then follows their cells beyond the proposals. Returns `labels`,
    `regions` and `closed` (by label) with them added (closed: uncompressed); new values,
    those given are left as they are.
    `exact`: the frame's exactly flat pixels (3×3, every channel): a seed's cells hold
    their insides, so places with too few of them are passed over unmeasured."""
    # Working copies, edited in place below (later seeds leave earlier ones' pixels alone).
    labels, regions, closed = labels.copy(), list(regions), list(closed)
    height, width = labels.shape
    least = cfg.exact.seed_cells * fewest_cells(cfg, (SEED_MIN_PITCH,) * 2) * SEED_MIN_PITCH ** 2  # px: the smallest seed (cells of 6 px and up)
    near = (logits > cfg.net.gate_threshold) & (labels == 0)
    if np.count_nonzero(near & (exact > 0)) < least * SEED_INNER / 2:
        return labels, regions, closed  # not enough exactly flat pixels near all the proposals for one seed
    count, comp, stats, _ = cv2.connectedComponentsWithStats(near.astype(np.uint8), connectivity=8)
    code = None
    pad = 2 * cfg.lattice.min_pitch
    for k in range(1, count):
        x, y, w, h, area = stats[k]
        if (w + 2 * pad) * (h + 2 * pad) < least:
            continue
        rows, cols = slice(max(y - pad, 0), min(y + h + pad, height)), slice(max(x - pad, 0), min(x + w + pad, width))
        part = cv2.dilate((comp[rows, cols] == k).astype(np.uint8), np.ones((2 * pad + 1,) * 2, np.uint8)) > 0
        part &= labels[rows, cols] == 0
        if part.sum() < least or np.count_nonzero(exact[rows, cols][part]) < least * SEED_INNER:
            continue
        if code is None:
            code = colour_code(colour)
        for grid, pixels, stepped in exact_seeds(cfg, code, rows, cols, part):
            view = labels[rows, cols]
            pixels &= view == 0
            if not pixels.any():
                continue
            view[pixels] = len(regions) + 1
            cells = max(1, int(round(pixels.sum() / (grid.pitch[0] * grid.pitch[1]))))
            regions.append(Region(mask_box(pixels, rows, cols), grid.pitch, grid.origin, "mean", cells,
                                  min(1.0, stepped / cells)))
            closed.append(True)
    return labels, regions, closed


def exact_seeds(cfg: DetectorConfig, code: np.ndarray, rows: slice, cols: slice,
                part: np.ndarray) -> list[tuple[Grid, np.ndarray, int]]:
    """Uncompressed mosaics in `part` of the box (rows, cols) too faint for the lattice
    evidence (cells a level or two apart): on a whole pitch, 6 px and up, read from the
    commonest one-colour runs (`exact_runs`), at a phase where many colour changes lie
    (`exact_phases`), groups of whole exact cells stepping to each other
    (`_seed_cells`). A picture's flat areas are exact cells too, but with no step
    between them; a smooth picture changes along its contours, not along cell borders,
    yet here and there its levels fit a lattice: a seed needs `exact.seed_chance` times
    the stepping cells a lattice half a cell off finds in the same place, plus
    `exact.seed_cells` times a region's fewest cells. Up to `lattice.max_lattices` mosaics, the
    largest first (of lattices covering about as much, the coarsest). Returns (grid,
    the pixels of its cells in the box, how many of them step) for each."""
    # Pitches per axis: the commonest runs of one colour between changes (a cell, where
    # neighbouring cells differ; two where they do not). Finer than 6 px, a smooth
    # picture's levels fit a lattice too often.
    pitches = [exact_runs(code, rows, cols, part, axis, cfg.lattice.min_pitch, cfg.lattice.max_pitch) for axis in (0, 1)]
    shapes = [(px, py) for px in pitches[0] for py in pitches[1]
              if min(px, py) >= SEED_MIN_PITCH and max(px, py) <= cfg.net.max_aspect * min(px, py)]
    found, left = [], part.copy()
    for _ in range(cfg.lattice.max_lattices):
        options = []
        for pitch in shapes:
            phases = [exact_phases(code, pitch[a], rows, cols, left, a) for a in (0, 1)]
            for ox in phases[0]:
                for oy in phases[1]:
                    grid = Grid((float(pitch[0]), float(pitch[1])), (float(ox), float(oy)))
                    stepped, pixels = _seed_cells(code, grid, rows, cols, left, fewest_cells(cfg, grid.pitch))
                    if stepped:
                        options.append((int(pixels.sum()), pitch[0] * pitch[1], grid, pixels, stepped))
        if not options:
            break
        # Half cells of a mosaic are exact too: of lattices covering about as much, the coarsest.
        most = max(o[0] for o in options)
        _, _, grid, pixels, stepped = max((o for o in options if o[0] >= COVER_SHARE * most), key=lambda o: (o[1], o[0]))
        # Chance: over smooth content, where a level changes every few pixels, a lattice
        # half a cell off finds about as many exact cells stepping to each other in the
        # same place; over a mosaic, its cells straddle the true ones.
        px, py = (int(v) for v in grid.pitch)
        ox, oy = grid.origin
        chance = max(_seed_cells(code, Grid(grid.pitch, ((ox + dx) % px, (oy + dy) % py)), rows, cols, pixels,
                                 fewest_cells(cfg, grid.pitch))[0]
                     for dx, dy in ((px // 2, 0), (0, py // 2), (px // 2, py // 2)))
        if stepped - cfg.exact.seed_chance * chance < cfg.exact.seed_cells * fewest_cells(cfg, grid.pitch):
            break
        found.append((grid, pixels, stepped))
        left &= ~pixels
    return found
