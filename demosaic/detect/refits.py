"""After the search, over the whole frame: grid refits, union and lattice splits, merges, remnants."""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import cv2
import numpy as np

from ..mosaic import Grid
from .combs import grid_line_error, multiple_of, same_lattice
from .config import DetectorConfig
from .evidence import sigmoid
from .gridfit import coarser_grid, finer_grid, refine_grid, union_parts
from .lattice import edge_lattice, local_support
from .learned import flat_share
from .regions import Region, fewest_cells, keep_regions, mask_box, split_region
from .steps import line_steps


PART_LEAST_PX = 400.0  # px: the fewest pixels a part of a split region holds, about 20×20 (reason not recorded)
SPLIT_LEAST_SHARE = 0.05  # ... and in a lattice split, this share of the region at least (reason not recorded)
# Local border support is taken over 1.5 cells, 12-96 px across (reason not recorded)
SUPPORT_CELLS, SUPPORT_PX = 1.5, (12, 96)
TILE_CELLS, TILE_PX = 4, (48, 160)  # lattices are fitted to tiles of 4 cells, 48-160 px (reason not recorded)
TILE_FILL = 0.25  # ... where the region fills this share of the tile (reason not recorded)
MISFIT_OPEN = 5  # px: the opening that cleans the pixels the region's lattice misfits (reason not recorded)
TOUCH_PX = 2  # px: regions this near each other touch, for a merge (reason not recorded)
SAME_LINES_PX = 1.0  # px: lattices whose lines stay this near over a region serve it alike (grid_line_error's 1 px)


def refit(cfg: DetectorConfig, frame: np.ndarray, diff: tuple[np.ndarray, np.ndarray], edges: np.ndarray | None,
          own: np.ndarray, bbox: tuple[int, int, int, int], grid: Grid, coded: bool) -> Grid:
    """A found region's lattice refitted: for a coded region, to the border maps' lines;
    else (or where the maps see none that serves), to its own strongest borders
    (`refine_grid`); then coarser or finer where the steps on its lines ask for it.
    `own`: the region's pixels in its box `bbox`; `diff`: the frame's |steps|."""
    x0, y0, x1, y1 = bbox
    box = (slice(y0, y1), slice(x0, x1))
    found = None
    if edges is not None and cfg.net.edge_refine and coded:
        # Coded regions: the border maps place the lines where coding blurred the steps
        # (uncompressed ones keep their exact fit).
        found = edge_lattice(cfg, edges, box[0], box[1], own, cfg.net.edge_outline)
        if found is not None and max(found.pitch) > cfg.net.max_aspect * min(found.pitch):
            found = None
        if found is not None and cfg.net.edge_multiple and multiple_of(found, grid):
            # The maps' comb on every other line: taken only if the cells stay as flat on
            # it (a mosaic's half cells are flat too, but its double cells hold four
            # colours; scaled video blurs the maps more than the steps).
            coarse, fine = (flat_share(cfg, frame, g, box[0], box[1], own) for g in (found, grid))
            if coarse < fine - cfg.net.edge_multiple:
                found = None
    steps = (diff[0][y0:y1, x0:x1 - 1], diff[1][y0:y1 - 1, x0:x1])  # the box's
    if found is None:
        found = refine_grid(steps, own, grid, (x0, y0))
    if cfg.refits.coarser_grid:
        found = coarser_grid(steps, own, found, (x0, y0), share=cfg.refits.coarser_grid, max_pitch=cfg.lattice.max_pitch,
                              square_share=cfg.refits.coarser_square)
    if cfg.refits.finer_grid:
        found = finer_grid(steps, own, found, (x0, y0), share=cfg.refits.finer_grid, min_pitch=cfg.lattice.min_pitch,
                            square_share=cfg.refits.finer_square)
    return found


def split_unions(cfg: DetectorConfig, frame: np.ndarray, diff: tuple[np.ndarray, np.ndarray], edges: np.ndarray | None,
                 labels: np.ndarray, regions: Sequence[Region],
                 closed: Sequence[bool]) -> tuple[np.ndarray, list[Region], list[bool]]:
    """Regions whose lattice is two overlapping mosaics' lines together (`union_parts`)
    split: each part takes every other line of it along that axis and is refitted
    (`refit`); `closed` (whether each label is an uncompressed region) grows with them.
    Returns the labels, regions and closed after the splits (new values; those given are
    left as they are)."""
    # Working copies, split in place below (a later region sees the labels earlier splits left).
    labels, regions, closed = labels.copy(), list(regions), list(closed)
    dx, dy = diff
    for k in range(len(regions)):
        region = regions[k]
        x0, y0, x1, y1 = region.bbox
        own = labels[y0:y1, x0:x1] == k + 1
        steps = (dx[y0:y1, x0:x1 - 1], dy[y0:y1 - 1, x0:x1])
        pw, ph = region.pitch
        least = max(cfg.refits.union_cells * 2 * pw * ph, PART_LEAST_PX)  # a part's cell: two of the found lattice's
        found = union_parts(steps, own, region.grid, (x0, y0), cfg.refits.union_split, least, cfg.lattice.max_pitch)
        if found is None:
            continue
        axis, *parts = found
        rows, cols = slice(y0, y1), slice(x0, x1)
        grids = []
        for c, part in enumerate(parts):
            pitch, origin = list(region.pitch), list(region.origin)
            origin[axis] = (origin[axis] + c * pitch[axis]) % (2 * pitch[axis])
            pitch[axis] *= 2
            bx0, by0, bx1, by1 = bbox = mask_box(part, rows, cols)
            grids.append(refit(cfg, frame, diff, edges, part[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0], bbox,
                                     Grid((pitch[0], pitch[1]), (origin[0], origin[1])), not closed[k + 1]))
        split_region(labels, regions, k, rows, cols, list(zip(parts, grids)), closed)
    return labels, regions, closed


def split_lattices(cfg: DetectorConfig, edges: np.ndarray, labels: np.ndarray, regions: Sequence[Region],
                   closed: Sequence[bool] | None = None) -> tuple[np.ndarray, list[Region], list[bool] | None]:
    """Regions that hold two lattices split: overlapping mosaics whose grids differ in
    phase (each aligned to its own corner) join into one region, and one grid cannot
    serve both. Where the border maps see the region's lattice less than surely,
    lattices are fitted to tiles of it and to the pixels where they do not see it; a
    lattice unlike the region's takes the pixels it is seen better around, and the rest
    of the region is refitted. Returns the labels, regions and `closed` (None if not
    given) after the splits (new values; those given are left as they are)."""
    # Working copies, split in place below (a later region sees the labels earlier splits left).
    labels, regions = labels.copy(), list(regions)
    closed = None if closed is None else list(closed)
    prob = sigmoid(edges)
    for k in range(len(regions)):
        region = regions[k]
        x0, y0, x1, y1 = region.bbox
        rows, cols = slice(y0, y1), slice(x0, x1)
        own = labels[rows, cols] == k + 1
        pw, ph = region.pitch
        least = max(pw * ph, PART_LEAST_PX, SPLIT_LEAST_SHARE * own.sum())
        if own.sum() < 2 * least or min(pw, ph) < cfg.net.split_pitch:
            continue
        window = int(np.clip(SUPPORT_CELLS * max(pw, ph), *SUPPORT_PX)) | 1
        s1 = local_support(prob[rows, cols], own, region.grid, (x0, y0), window)
        whole = float(s1[own].mean())
        if whole >= cfg.net.split_sure:
            continue
        misfit = own & (s1 < cfg.net.split * whole)
        misfit = cv2.morphologyEx(misfit.astype(np.uint8), cv2.MORPH_OPEN, np.ones((MISFIT_OPEN,) * 2, np.uint8)) > 0
        parts = [misfit] if misfit.sum() >= least else []
        tile = int(np.clip(TILE_CELLS * max(pw, ph), *TILE_PX))
        for ty in range(0, own.shape[0], tile):
            for tx in range(0, own.shape[1], tile):
                part = np.zeros_like(own)
                part[ty:ty + tile, tx:tx + tile] = own[ty:ty + tile, tx:tx + tile]
                if part.sum() >= max(least, TILE_FILL * tile * tile):
                    parts.append(part)
        candidates = []
        for part in parts:
            other = edge_lattice(cfg, edges, rows, cols, part)
            if (other is None or same_lattice(other, region.grid) or min(other.pitch) < cfg.net.split_pitch
                    or max(other.pitch) > cfg.net.max_aspect * min(other.pitch)
                    or any(same_lattice(other, c) for c in candidates)):
                continue
            candidates.append(other)
        best = None
        for other in candidates:
            s2 = local_support(prob[rows, cols], own, other, (x0, y0), window)
            second = own & (s2 > s1)
            first = own & ~second
            if second.sum() < least or first.sum() < least:
                continue
            gain = float((s2 - s1)[second].mean())
            if gain >= cfg.net.split_gain and (best is None or gain * second.sum() > best[0]):
                best = (gain * second.sum(), other, first, second)
        if best is None:
            continue
        _, other, first, second = best
        grid = edge_lattice(cfg, edges, rows, cols, first)
        if grid is None or max(grid.pitch) > cfg.net.max_aspect * min(grid.pitch):
            grid = region.grid
        split_region(labels, regions, k, rows, cols, [(first, grid), (second, other)], closed)
    return labels, regions, closed


def merge_lattices(cfg: DetectorConfig, diff: tuple[np.ndarray, np.ndarray], labels: np.ndarray,
                   regions: Sequence[Region],
                   closed: Sequence[bool] | None = None) -> tuple[np.ndarray, list[Region], list[bool] | None]:
    """Touching regions on one lattice become one region. The paths find a mosaic in
    pieces where its evidence breaks (a mosaic scaled after pixelation, whose borders
    blur unevenly, came out in three to ten pieces, each with its own fit). A smaller
    region joins a larger one it touches if their pitches agree (within
    `refits.merge_lattices`) and the larger one's lattice serves it: its lines stay within a
    pixel of the smaller one's over it, or carry its steps as well (`refits.merge_steps`). The
    merged region keeps the larger one's lattice: refitted to the borders of all of
    it, 64 px cells came out at 63 where a piece's borders were off. Returns the labels,
    regions and `closed` (None if not given) after the merges (new values; those given
    are left as they are)."""
    regions, closed = list(regions), None if closed is None else list(closed)
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
            if any(abs(pa / pb - 1) > cfg.refits.merge_lattices for pa, pb in zip(ra.pitch, rb.pitch)):
                continue
            x0, y0, x1, y1 = rb.bbox
            rows, cols = slice(max(y0 - TOUCH_PX, 0), min(y1 + TOUCH_PX, height)), slice(max(x0 - TOUCH_PX, 0), min(x1 + TOUCH_PX, width))
            mine = labels[rows, cols] == b + 1
            grown = cv2.dilate(mine.astype(np.uint8), kernel, iterations=TOUCH_PX) > 0
            if not (grown & (np.isin(labels[rows, cols], [k + 1 for k in range(len(regions)) if into[k] == a]))).any():
                continue  # not touching
            if grid_line_error(ra.grid, rb.grid, rb.bbox) > SAME_LINES_PX:
                # Lines apart: the larger one's must carry the smaller one's steps as well
                # as its own do, along both axes (one lattice fitted better than the other).
                box = (diff[0][rows, cols.start:cols.stop - 1], diff[1][rows.start:rows.stop - 1, cols])
                corner = (cols.start, rows.start)
                theirs = [line_steps(box, mine, ra.grid, axis, corner) for axis in (0, 1)]
                ours = [line_steps(box, mine, rb.grid, axis, corner) for axis in (0, 1)]
                if any(t is None or o is None or o <= 0 or t < cfg.refits.merge_steps * o for t, o in zip(theirs, ours)):
                    continue
            into[b] = a
    if all(into[k] == k for k in range(len(regions))):
        return labels.copy(), regions, closed
    keep = [k for k in range(len(regions)) if into[k] == k]
    if closed is not None:
        closed = [closed[0]] + [closed[k + 1] for k in keep]
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
    return labels, merged, closed


def drop_remnants(cfg: DetectorConfig, labels: np.ndarray, regions: Sequence[Region],
                  closed: Sequence[bool] | None = None) -> tuple[np.ndarray, list[Region], list[bool] | None]:
    """Regions left with less than half the pixels of the fewest cells a region may have
    (later regions took the rest of them) are gone; the others are numbered again.
    Returns the labels, regions and `closed` (None if not given) left (new values; those
    given are left as they are)."""
    regions, closed = list(regions), None if closed is None else list(closed)
    counts = np.bincount(labels.ravel(), minlength=len(regions) + 1)[1:]
    keep = []
    for k, region in enumerate(regions):
        pw, ph = region.pitch
        keep.append(counts[k] >= 0.5 * fewest_cells(cfg, region.pitch) * pw * ph)
    if all(keep):
        return labels.copy(), regions, closed
    if closed is not None:
        closed = [closed[0]] + [c for c, kept in zip(closed[1:], keep) if kept]
    labels, regions = keep_regions(labels, regions, keep)
    return labels, regions, closed
