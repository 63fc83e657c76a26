"""The segmenter's regions: joining found ones, network-only regions and their checks, unsure ones dropped."""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import cv2
import numpy as np

from ..mosaic import Grid, cell_sums
from .cellstats import WHOLE_CELL
from .cellstats import cell_stats, position_in_cell, steps_on_borders
from .combs import same_lattice
from .config import DetectorConfig
from .evidence import sigmoid
from .exact import constant_cells
from .lattice import edge_lattice, edge_support, evidence_lattice, rephased, soft_lattice
from .regions import Region, keep_regions


# Share of an exact region's whole cells exactly one colour, borders included, that keeps it uncompressed against the network (reason for 0.9 over 1.0 not recorded)
ALL_CONSTANT = 0.9
# px: a lattice other than the flattest needs cells this large: under 6 px the step check passes, and coding blocks (JPEG's, scaled) are flat and seen as borders
SECOND_CHOICE_MIN_PITCH = 6
NEAR_TIE = 0.05  # lattices whose shares of flat cells lie this near the best tie (reason not recorded)


def add_learned(cfg: DetectorConfig, logits: np.ndarray, edges: np.ndarray | None, luma: np.ndarray, colour: np.ndarray, ev, eh,
                labels: np.ndarray, regions: Sequence[Region], closed: Sequence[bool],
                frame_origin: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, list[Region], list[bool]]:
    """`labels`/`regions` grown by the segmenter's mosaic pixels, and by label (0 first)
    which regions are uncompressed (`closed`: which were, on entry); new values, those
    given are left as they are.

    A segmenter component touching found regions joins them, pixel by pixel to the
    nearest one (their grids hold), except uncompressed regions (exactly flat in every
    channel up to a pixel from each cell border): their borders are exact already,
    unless the component runs `net.reopen` cells beyond them. A component far larger
    than the regions it touches joins them only if it passes as a network-only one
    (`net.join_ratio`). Coded regions first lose the pixels the network does not call
    mosaic. A component touching none becomes a region only if it is large and
    confident enough, a cell lattice is found in it and enough of its cells are a
    mosaic's (`cells_agree`): the classical evidence verifies the network."""
    # Working copies, edited in place below (later components see earlier ones' pixels).
    labels, regions, closed = labels.copy(), list(regions), list(closed)
    mosaic = logits > cfg.net.threshold
    if cfg.net.trim:
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
            if cfg.net.join_ratio and grow.sum() > cfg.net.join_ratio * found[joined].sum():
                # A component far larger than the regions it touches would carry them
                # (a few flat pieces in defocused cobbles, then half the frame): it
                # joins only if it holds a mosaic on its own, as a network-only one must.
                largest = regions[int(joined[np.argmax(found[joined])]) - 1]
                if _net_lattice(cfg, luma, edges, ev, eh, rows, cols, grow, first=largest.grid,
                                    frame_origin=frame_origin) is None:
                    continue
            if cfg.net.reopen > 0:
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
                        closed[label] = (np.count_nonzero(mine == label) < cfg.net.reopen * pw * ph
                                         or constant_cells(colour[y0:y1, x0:x1], labels[y0:y1, x0:x1] == label,
                                                            r.grid, x0, y0) >= ALL_CONSTANT)
            grow[grow] = ~np.array(closed)[owner[idx[grow]]]
            near[grow] = owner[idx[grow]]
            for label in np.unique(near[grow]):
                ys, xs = np.nonzero(grow & (near == label))
                r = regions[label - 1]
                regions[label - 1] = replace(r, bbox=(int(min(r.bbox[0], x + xs.min())), int(min(r.bbox[1], y + ys.min())),
                                                      int(max(r.bbox[2], x + xs.max() + 1)), int(max(r.bbox[3], y + ys.max() + 1))))
            continue
        if area < cfg.net.min_px:
            continue
        score = float(np.mean(sigmoid(logits[rows, cols][part])))
        if score < cfg.net.min_score:
            continue
        grid = _net_lattice(cfg, luma, edges, ev, eh, rows, cols, part, frame_origin=frame_origin)
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
        labels = new_label[labels].astype(np.int32)
        regions = [r for r, p in zip(regions, present[1:]) if p]
        closed = [False] + [c for c, p in zip(closed[1:], present[1:]) if p]
    return labels, regions, closed


def _net_lattice(cfg: DetectorConfig, luma: np.ndarray, edges: np.ndarray | None, ev, eh, rows: slice, cols: slice,
                 part: np.ndarray, first: Grid | None = None,
                 frame_origin: tuple[int, int] = (0, 0)) -> Grid | None:
    """The lattice of a network-only region (`part` of the box rows, cols) that passes
    `verified`, or None: `first` if given, then the combs' and border maps' grids,
    flattest first (`flat_ties`)."""
    inside = cv2.dilate(part.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    tries = [evidence_lattice(cfg, ev, eh, rows, cols, inside, frame_origin)]
    if cfg.net.soft_lattice:
        grids = [tries[0], soft_lattice(cfg, luma, rows, cols, inside, frame_origin)]
        if edges is not None and cfg.net.edge_grid:
            grids.append(edge_lattice(cfg, edges, rows, cols, part, frame_origin=frame_origin))
        tries = flat_ties(cfg, luma, grids, rows, cols, part, edges, frame_origin)[:max(1, cfg.net.tie_tries)]
        # A second choice must pass every check: the step check passes cells under
        # 6 px, and there coding blocks (JPEG's, scaled) are flat and seen as borders.
        tries[1:] = [g for g in tries[1:] if min(g.pitch) >= SECOND_CHOICE_MIN_PITCH]
    if first is not None:
        tries.insert(0, first)
    if edges is not None and cfg.net.rephase:
        tries = [_better_phase(cfg, edges, g, rows, cols, part, frame_origin) for g in tries]
    return next((g for g in tries if verified(cfg, luma, edges, g, rows, cols, part)), None)


def _better_phase(cfg: DetectorConfig, edges: np.ndarray, grid: Grid | None, rows: slice, cols: slice, part: np.ndarray,
                  frame_origin: tuple[int, int] = (0, 0)) -> Grid | None:
    """`grid`, or its `rephased` lattice if the border maps support that one
    `net.rephase` more."""
    if grid is None:
        return None
    other = rephased(edges, grid, rows, cols, part)
    if same_lattice(other, grid, frame_origin):
        return grid
    gain = edge_support(edges, other, rows, cols, part) - edge_support(edges, grid, rows, cols, part)
    return other if gain >= cfg.net.rephase else grid


def whole_cells(cfg: DetectorConfig, luma: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray):
    """Inner std per cell of `grid` over (rows, cols), the pixel→cell labels, and which
    cells lie (90 %) inside `part`."""
    _, std, cell_of, _ = cell_stats(luma, grid, rows, cols, cfg.cells.margin_div)
    inside = np.bincount(cell_of.ravel(), weights=part.ravel(), minlength=std.size).reshape(std.shape)
    return std, cell_of, inside >= WHOLE_CELL * grid.pitch[0] * grid.pitch[1]


def flat_ties(cfg: DetectorConfig, luma: np.ndarray, grids: list, rows: slice, cols: slice, part: np.ndarray,
              edges: np.ndarray | None = None,
              frame_origin: tuple[int, int] = (0, 0)) -> list[Grid]:
    """Of the combs' grids (at most `net.max_aspect` oblong) and their doubles and halves,
    the one whose whole cells inside `part` are flat most often; among near ties, the one
    the border maps `edges` support most (`net.flattest_support`), else the largest pitch
    (half-cells of a mosaic are flat too; but over smooth content so are double cells,
    and cells a few px off the lattice's phase, which the border maps tell apart).
    Returns the near ties in that order (a choice that fails the checks has a next one),
    or the first of `grids` given if no candidate has two whole cells."""
    candidates = []
    for g in grids:
        if g is None or max(g.pitch) > cfg.net.max_aspect * min(g.pitch):
            continue  # too oblong for a mosaic's cells: the region would be dropped for it
        for f in (1.0, 2.0, 0.5):
            pitch = (g.pitch[0] * f, g.pitch[1] * f)
            grid = Grid(pitch, g.origin)
            if (cfg.lattice.min_pitch <= min(pitch) and max(pitch) <= cfg.lattice.max_pitch
                    and not any(same_lattice(grid, c, frame_origin) for c in candidates)):  # combs often agree
                candidates.append(grid)
    scored = []
    for g in candidates:
        std, _, whole = whole_cells(cfg, luma, g, rows, cols, part)
        if whole.sum() >= 2:
            scored.append(((std[whole] <= cfg.net.cell_std).mean(), g))
    if not scored:
        return [g for g in grids if g is not None][:1]
    best = max(v for v, _ in scored)
    ties = [g for v, g in scored if v >= best - NEAR_TIE]
    if edges is not None and cfg.net.flattest_support:
        # Only for cells of 8 px and more (`net.split_pitch`): finer, the maps' choice of
        # phase let upscaled low-resolution video through as a mosaic.
        by_support = sorted(ties, key=lambda g: -edge_support(edges, g, rows, cols, part))
        if min(by_support[0].pitch) >= cfg.net.split_pitch:
            return by_support
    return sorted(ties, key=lambda g: -g.pitch[0] * g.pitch[1])


def verified(cfg: DetectorConfig, luma: np.ndarray, edges: np.ndarray | None, grid: Grid | None,
             rows: slice, cols: slice, part: np.ndarray) -> bool:
    """Whether a network-only region holds a mosaic on `grid`: the border maps see its
    lattice (`net.edge_support`), its cells are not too oblong, and they agree; where the
    maps see it surely (`net.sure_support`), its luma steps need only not shun the cell
    borders (`net.sure_steps`): coding at CRF 28 smears 6–10 px cells' steps to near
    chance, and there the maps still find the lattice."""
    if grid is None or max(grid.pitch) > cfg.net.max_aspect * min(grid.pitch):
        return False
    support = None if edges is None else edge_support(edges, grid, rows, cols, part)
    if support is not None and support < cfg.net.edge_support:
        return False  # the network's own border maps do not see this lattice
    sure = cfg.net.sure_support > 0 and support is not None and support >= cfg.net.sure_support
    return cells_agree(cfg, luma, grid, rows, cols, part, sure)


def flat_share(cfg: DetectorConfig, luma: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray) -> float:
    """The share of `grid`'s whole cells inside `part` that are flat (`net.cell_std`); 0 if none."""
    std, _, whole = whole_cells(cfg, luma, grid, rows, cols, part)
    return float((std[whole] <= cfg.net.cell_std).mean()) if whole.any() else 0.0


def cells_agree(cfg: DetectorConfig, luma: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray,
                sure: bool = False) -> bool:
    """Whether enough of the whole cells inside `part` (`net.flat_share`) are a mosaic's
    cells: flat inside, and not drifting from one side to the other; and whether the
    luma changes on their borders rather than anywhere (`net.step_share`)."""
    std, cell_of, whole = whole_cells(cfg, luma, grid, rows, cols, part)
    # Drift: the luma a few pixels in from a cell's left (top) border against its right
    # (bottom) one. Flat cells have none; smooth shading seen on a lattice of coding
    # blocks keeps a small spread inside large cells but drifts across each of them.
    height, width = luma.shape[:2]
    iy, ix = grid.cell_index(height, width)
    (fy, ty), (fx, tx) = position_in_cell(iy[rows]), position_in_cell(ix[cols])
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
    flat = (std <= cfg.net.cell_std) & (drift <= cfg.net.drift)
    return (bool(whole.any() and flat[whole].mean() >= cfg.net.flat_share)
            and (cfg.net.step_share <= 0 or steps_on_borders(block, grid.pitch, iy[rows], ix[cols], part)
                 >= (cfg.net.sure_steps if sure else steps_needed(cfg, grid))))


def steps_needed(cfg: DetectorConfig, grid: Grid) -> float:
    """The `steps_on_borders` a network-only region's cells need: `net.step_share`, or
    `net.step_excess` of the way from chance to every step, if less. Three lines of a
    6 px cell lie within a pixel of a border: there even a perfect mosaic's steps stand at
    twice chance, and coding smears them toward chance (about 1.2 at CRF 28), while
    shaded stripes stay at 1."""
    return min(cfg.net.step_share, 1.0 + cfg.net.step_excess * (min(grid.pitch) / 3.0 - 1.0))


def drop_unsure(cfg: DetectorConfig, logits: np.ndarray, labels: np.ndarray, regions: Sequence[Region],
                closed: Sequence[bool], least: float | None = None) -> tuple[np.ndarray, list[Region], list[bool]]:
    """Coded regions (not `closed`) over whose pixels the network's mean probability of
    mosaic is under `least` (default `net.region_score`) go: returns the labels, regions and
    `closed` left (new values; those given are left as they are).

    An old codec without a deblocking filter (MPEG-4 Part 2, MPEG-2, MJPEG) leaves flat
    8×8 blocks over smooth content: a lattice of flat cells, which the classical paths
    take for a mosaic wherever the network proposes a little. Over a true coded mosaic
    the network is sure (mean probability 0.8–1.0 on the tuning set), over such blocks
    it mostly is not (under 0.7 for 82 % of those false pixels)."""
    if not regions:
        return labels.copy(), list(regions), list(closed)
    prob = sigmoid(logits)
    sums = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=len(regions) + 1)
    counts = np.bincount(labels.ravel(), minlength=len(regions) + 1)
    least = cfg.net.region_score if least is None else least
    keep = [closed[k] or counts[k] == 0 or sums[k] / counts[k] >= least for k in range(1, len(regions) + 1)]
    if all(keep):
        return labels.copy(), list(regions), list(closed)
    labels, regions = keep_regions(labels, list(regions), keep)
    return labels, regions, [False] + [c for c, k in zip(closed[1:], keep) if k]
