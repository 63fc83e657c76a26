"""The classical search over a window: candidate areas, tile votes, the piece and blob paths."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..mosaic import Grid
from .blobs import blob_lattices
from .cells import candidate_region
from .combs import same_lattice
from .config import DetectorConfig
from .evidence import flat_maps
from .lattice import evidence_lattice
from .pieces import coded_pieces, exact_pieces
from .regions import Region, claim


# Evidence density's second scale: a window 3 times wider, at half the density (large cells leave a line every cell)
COARSE_WINDOW, COARSE_SHARE = 3, 0.5
TILE_FILL = 0.25  # a tile votes for a lattice where the candidate area fills this share of it (reason not recorded)


def classical_regions(cfg: DetectorConfig, frame: np.ndarray, colour: np.ndarray, ev, eh, blocked: np.ndarray | None,
                      labels: np.ndarray, regions: Sequence[Region],
                      frame_origin: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, list[Region], np.ndarray]:
    """The classical paths (see the module's doc), outside `blocked`: `labels` and `regions`
    grown by what they find (new ones; those given are left as they are), and the map of
    exactly flat pixels (uint8)."""
    labels, regions = labels.copy(), list(regions)
    height, width = labels.shape
    evidence = np.zeros((height, width), np.float32)
    evidence[:, :-1] += ev
    evidence[:-1] += eh
    # Two scales: small cells give dense evidence; 64 px cells only a line every 64 px.
    candidate = np.zeros((height, width), np.uint8)
    for window, share in ((cfg.evidence.window, 1.0), (COARSE_WINDOW * cfg.evidence.window, COARSE_SHARE)):
        density = cv2.boxFilter(evidence, -1, (window, window), borderType=cv2.BORDER_CONSTANT)
        candidate |= density >= cfg.evidence.min_density * share
    if blocked is not None:
        candidate[blocked] = 0
    kernel = np.ones((3, 3), np.uint8)
    spread = cv2.dilate(frame[..., 0], kernel) - cv2.erode(frame[..., 0], kernel)  # 3×3 luma range
    maps = flat_maps(spread, colour, cfg)
    count, comp, stats, _ = cv2.connectedComponentsWithStats(candidate, connectivity=8)
    for k in range(1, count):
        x, y, w, h, area = stats[k]
        if area < (2 * cfg.lattice.min_pitch) ** 2:
            continue
        rows, cols = slice(y, y + h), slice(x, x + w)
        inside = comp[rows, cols] == k
        # One candidate area may hold several mosaics on different lattices. Tiles vote
        # for lattices; each lattice is then checked on the tiles that voted for it.
        # With no votes (cells too big for a tile), the whole area is tried, strongest
        # lattice first, its evidence removed, again.
        voted = _tile_areas(cfg, ev, eh, rows, cols, inside, frame_origin)
        for area_inside in voted or [inside] * cfg.lattice.max_lattices:
            area = area_inside & inside
            if voted and area.any():  # the voting tiles' box, a tile wider each way: less to measure
                ys, xs = np.flatnonzero(area.any(axis=1)), np.flatnonzero(area.any(axis=0))
                sub_r = slice(max(ys[0] - cfg.lattice.tile, 0), min(ys[-1] + 1 + cfg.lattice.tile, h))
                sub_c = slice(max(xs[0] - cfg.lattice.tile, 0), min(xs[-1] + 1 + cfg.lattice.tile, w))
                found = candidate_region(cfg, frame, ev, eh, slice(y + sub_r.start, y + sub_r.stop),
                                     slice(x + sub_c.start, x + sub_c.stop), area[sub_r, sub_c],
                                     taken=_taken(labels, blocked), colour=colour, exact_flat=maps[1].flat, spread=spread,
                                         frame_origin=frame_origin)
            else:
                found = candidate_region(cfg, frame, ev, eh, rows, cols, area, taken=_taken(labels, blocked), colour=colour,
                                         exact_flat=maps[1].flat, spread=spread, frame_origin=frame_origin)
            if found is None:
                if voted:
                    continue  # the next lattice's tiles are independent of this one
                break
            if not claim(labels, regions, found):  # the same mosaic again
                if voted:
                    continue
                break
            pixel_mask, claimed, (r0, c0) = found.pixels, found.claimed, found.corner
            taken = np.zeros((height, width), np.uint8)
            taken[r0:r0 + pixel_mask.shape[0], c0:c0 + pixel_mask.shape[1]] = claimed
            taken = cv2.dilate(taken, np.ones((3, 3), np.uint8)).astype(bool)
            inside &= ~taken[rows, cols]
    # Small mosaics of a few large cells: flat pieces meeting on sharp borders.
    for found in exact_pieces(colour, maps[1], _taken(labels, blocked), cfg):
        claim(labels, regions, found)
    # Large cells leave too few border lines for a comb: find them as flat rectangles
    # that agree on one lattice, where the evidence path found nothing.
    for grid, (x0, y0, x1, y1) in blob_lattices((height, width), maps, _taken(labels, blocked), cfg):
        rows, cols = slice(y0, y1), slice(x0, x1)
        # The border comb over the same box, where it agrees, is the more exact fit.
        comb = evidence_lattice(cfg, ev, eh, rows, cols, np.ones((y1 - y0, x1 - x0), bool), frame_origin)
        if comb is not None and same_lattice(comb, grid, frame_origin):
            grid = comb
        found = candidate_region(cfg, frame, ev, eh, rows, cols, None, grid, taken=_taken(labels, blocked), colour=colour,
                                 exact_flat=maps[1].flat, spread=spread, frame_origin=frame_origin)
        if found is not None:
            claim(labels, regions, found)
    for found in coded_pieces(frame[..., 0], maps[0], _taken(labels, blocked), cfg):
        claim(labels, regions, found)
    return labels, regions, maps[1].flat


def _taken(labels: np.ndarray, blocked: np.ndarray | None) -> np.ndarray:
    """Pixels the next path must leave alone: claimed ones, and those the network rules out."""
    return labels > 0 if blocked is None else (labels > 0) | blocked


def _tile_areas(cfg: DetectorConfig, ev, eh, rows: slice, cols: slice, inside: np.ndarray,
                frame_origin: tuple[int, int] = (0, 0)) -> list[np.ndarray]:
    """Parts of a candidate area (bool, like `inside`), one per lattice that its tiles vote for."""
    tile = cfg.lattice.tile
    votes: list[tuple[Grid, slice, slice]] = []
    for ty in range(rows.start, rows.stop, tile):
        for tx in range(cols.start, cols.stop, tile):
            r, c = slice(ty, min(ty + tile, rows.stop)), slice(tx, min(tx + tile, cols.stop))
            sub = inside[r.start - rows.start:r.stop - rows.start, c.start - cols.start:c.stop - cols.start]
            if sub.mean() >= TILE_FILL:
                grid = evidence_lattice(cfg, ev, eh, r, c, sub, frame_origin)
                if grid is not None:
                    votes.append((grid, r, c))
    clusters: list[list[tuple[Grid, slice, slice]]] = []
    for vote in votes:
        for cluster in clusters:
            if same_lattice(cluster[0][0], vote[0], frame_origin):
                cluster.append(vote)
                break
        else:
            clusters.append([vote])
    clusters.sort(key=len, reverse=True)
    areas = []
    for cluster in clusters[:cfg.lattice.max_lattices]:
        area = np.zeros(inside.shape, np.uint8)
        for _, r, c in cluster:
            area[r.start - rows.start:r.stop - rows.start, c.start - cols.start:c.stop - cols.start] = 1
        grow = int(np.ceil(max(cluster[0][0].pitch))) * 2 + 1
        areas.append(cv2.dilate(area, np.ones((grow, grow), np.uint8)).astype(bool))
    return areas
