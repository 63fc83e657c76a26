"""Large frames detected tile by tile (`TileConfig`): each tile alone, then one set of regions.

A tile is detected as a frame of its own. Where tiles overlap, a mosaic is found by each that
sees it; pieces of one mosaic are one region when they touch and their lattices agree (the
pitches within `refits.merge_lattices` and the lines within a pixel where both lie, as
`refits.merge_lattices` joins pieces inside a frame). Each pixel takes the region of the tile
that owns it (`tiles.Tile.core`: the one it lies deepest in, with the most context every way);
where that tile found nothing, a neighbour's find there stands (a mosaic cut by the owner's
edge, too few cells there to be found). The result is a `Detection` of the whole frame, as
one detection of the frame would give.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, NamedTuple, Sequence

import cv2
import numpy as np

from ..config import TileConfig
from ..tiles import Tile, join_groups, plan_tiles
from .combs import grid_line_error
from .config import DetectorConfig
from .refits import SAME_LINES_PX, TOUCH_PX  # pieces join as `refits.merge_lattices` merges regions
from .regions import Detection, Region, moved_region


Detect = Callable[[np.ndarray, "bool | None"], Detection]  # (frame, coded) -> its detection


class Piece(NamedTuple):
    """One region a tile found, in the frame's coordinates."""

    region: Region
    pixels: np.ndarray  # bool over region.bbox
    tile: int  # index into the plan


def detect_tiled(detect: Detect, frame: np.ndarray, tiles: TileConfig, cfg: DetectorConfig,
                 coded: bool | None) -> Detection:
    """`frame` (H×W×3 uint8 RGB) detected tile by tile with `detect`, the pieces joined (see the
    module's docstring). `coded`: as `Detector.detect` takes it, the same for every tile."""
    height, width = frame.shape[:2]
    plan = plan_tiles((height, width), tiles.size, tiles.overlap)
    pieces: list[Piece] = []
    for t, tile in enumerate(plan):
        rows, cols = tile.box
        found = detect(np.ascontiguousarray(frame[rows, cols]), coded)
        pieces += tile_pieces(found, t, (cols.start, rows.start))
    group = same_mosaics(cfg, pieces)
    labels, regions = painted((height, width), pieces, group, plan)
    return Detection(labels > 0, tuple(regions), labels)


def tile_pieces(found: Detection, tile: int, corner: tuple[int, int]) -> list[Piece]:
    """A tile's regions as pieces in the frame's coordinates; `corner`: the tile's (x, y) there."""
    out = []
    for k, region in enumerate(found.regions):
        x0, y0, x1, y1 = region.bbox
        out.append(Piece(moved_region(region, *corner), found.labels[y0:y1, x0:x1] == k + 1, tile))
    return out


def same_mosaics(cfg: DetectorConfig, pieces: Sequence[Piece]) -> list[int]:
    """Each piece's group (the index of its first piece): pieces of different tiles that touch
    and whose lattices agree, transitively."""
    return join_groups(len(pieces), lambda i, j: pieces[i].tile != pieces[j].tile
                       and _one_mosaic(cfg, pieces[i], pieces[j]))


def _one_mosaic(cfg: DetectorConfig, a: Piece, b: Piece) -> bool:
    ra, rb = a.region, b.region
    if any(abs(pa / pb - 1) > cfg.refits.merge_lattices for pa, pb in zip(ra.pitch, rb.pitch)):
        return False
    x0, y0 = max(ra.bbox[0], rb.bbox[0]) - TOUCH_PX, max(ra.bbox[1], rb.bbox[1]) - TOUCH_PX
    x1, y1 = min(ra.bbox[2], rb.bbox[2]) + TOUCH_PX, min(ra.bbox[3], rb.bbox[3]) + TOUCH_PX
    if x0 >= x1 or y0 >= y1:
        return False
    box = (x0, y0, x1, y1)
    near = cv2.dilate(_over(a, box).astype(np.uint8), np.ones((2 * TOUCH_PX + 1,) * 2, np.uint8)) > 0
    if not (near & _over(b, box)).any():
        return False
    # Where both lie (the tiles' overlap): a lattice a little off in pitch drifts over a whole
    # region, but both pieces measured the cells there.
    return grid_line_error(ra.grid, rb.grid, box) <= SAME_LINES_PX


def _over(piece: Piece, box: tuple[int, int, int, int]) -> np.ndarray:
    """The piece's pixels over `box` (x0, y0, x1, y1, frame coordinates), False outside its own box."""
    x0, y0, x1, y1 = box
    out = np.zeros((y1 - y0, x1 - x0), bool)
    px0, py0, px1, py1 = piece.region.bbox
    ix0, iy0, ix1, iy1 = max(x0, px0), max(y0, py0), min(x1, px1), min(y1, py1)
    if ix0 < ix1 and iy0 < iy1:
        out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = piece.pixels[iy0 - py0:iy1 - py0, ix0 - px0:ix1 - px0]
    return out


def painted(shape: tuple[int, int], pieces: Sequence[Piece], group: Sequence[int],
            plan: Sequence[Tile]) -> tuple[np.ndarray, list[Region]]:
    """int32 labels and one region per group that kept pixels (`joined_region`), labelled in the
    order of their first pieces: first each tile's pieces over the pixels it owns, then over
    the pixels their owners left empty. Only the groups' boxes are looked at: a large frame's
    labels are not counted whole (NumPy's counts would copy them at 64 bits)."""
    order = sorted(set(group))
    rank = {g: n for n, g in enumerate(order)}
    labels = np.zeros(shape, np.int32)
    for owned in (True, False):
        for piece, g in zip(pieces, group):
            x0, y0, x1, y1 = piece.region.bbox
            view = labels[y0:y1, x0:x1]
            rows, cols = plan[piece.tile].core
            ys, xs = np.arange(y0, y1), np.arange(x0, x1)
            core = ((ys >= rows.start) & (ys < rows.stop))[:, None] & ((xs >= cols.start) & (xs < cols.stop))[None, :]
            paint = piece.pixels & (core if owned else ~core & (view == 0))
            view[paint] = rank[g] + 1
    regions = []
    for g in order:  # numbered again without the groups that kept no pixel
        members = [p for p, m in zip(pieces, group) if m == g]
        x0, y0 = min(p.region.bbox[0] for p in members), min(p.region.bbox[1] for p in members)
        x1, y1 = max(p.region.bbox[2] for p in members), max(p.region.bbox[3] for p in members)
        view = labels[y0:y1, x0:x1]
        own = view == rank[g] + 1
        if not own.any():
            continue
        view[own] = len(regions) + 1  # no later label is lower: renumbering never meets itself
        ys, xs = np.flatnonzero(own.any(axis=1)), np.flatnonzero(own.any(axis=0))
        box = (x0 + int(xs[0]), y0 + int(ys[0]), x0 + int(xs[-1]) + 1, y0 + int(ys[-1]) + 1)
        regions.append(joined_region(members, box, int(own.sum())))
    return labels, regions


def joined_region(members: Sequence[Piece], box: tuple[int, int, int, int], pixels: int) -> Region:
    """The region of one mosaic's pieces: the lattice of the piece with the most pixels, the
    box around its labels, the cells they hold, the pieces' scores weighed by their pixels."""
    sizes = [int(p.pixels.sum()) for p in members]
    best = members[int(np.argmax(sizes))].region
    pw, ph = best.pitch
    score = float(np.average([p.region.score for p in members], weights=np.maximum(sizes, 1)))
    return replace(best, bbox=box, cells=max(1, int(round(pixels / (pw * ph)))), score=score)
