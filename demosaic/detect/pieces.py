"""Small mosaics of a few large cells: flat pieces meeting on sharp straight borders."""
from __future__ import annotations


import cv2
import numpy as np
from .combs import snap
from .config import DetectorConfig
from .evidence import FlatAreas, colour_code
from .regions import Found, Region, mask_box


SHARP_SHARE = 0.9  # exact pieces are linked where this share of their common border jumps between two pixels (reason not recorded)
SIDE_FILL = 0.7  # a coded piece's side is its last line it fills this much of along the overlap ("most of"; reason not recorded)
BORDER_DRIFT = 0.02  # pieces' borders sit on one lattice within this share of the widest step, or 2 slack (reason not recorded)


def _piece_boxes(areas: FlatAreas, taken: np.ndarray, cfg: DetectorConfig):
    """Boxes of the flat pieces (whole, not shrunk) whose cores fit a cell of `pieces.blob_min` to
    `lattice.max_pitch` px, outside regions already found: (x, y, w, h per core label, ids of the
    pieces), or None if fewer than three."""
    x, y, w, h = (areas.stats[:, i].astype(np.int64) for i in range(4))
    height, width = areas.core.shape
    x0, y0 = np.maximum(x - 2, 0), np.maximum(y - 2, 0)  # the core's box, grown back
    x, y, w, h = x0, y0, np.minimum(x + w + 2, width) - x0, np.minimum(y + h + 2, height) - y0
    side = cfg.pieces.blob_min - 2
    usable = (w >= side) & (h >= side) & (w <= cfg.lattice.max_pitch) & (h <= cfg.lattice.max_pitch)
    usable[0] = False
    if taken.any():
        usable[np.bincount(areas.core[taken], minlength=len(usable)) > 0] = False  # bincount: unique's hash is slow on a frame
    ids = np.flatnonzero(usable)
    return None if len(ids) < 3 else (x, y, w, h, ids)


def _piece_labels(areas: FlatAreas, ids: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Labels (H×W int32, 0 outside `box` x0, y0, x1, y1) of the given pieces, whole: each
    core grown back by 2 px within the flat map."""
    x0, y0, x1, y1 = box
    core = areas.core[y0:y1, x0:x1]
    keep = np.zeros(len(areas.stats), np.float32)
    keep[ids] = ids
    labels = np.zeros(areas.core.shape, np.int32)
    labels[y0:y1, x0:x1] = cv2.dilate(keep[core], np.ones((5, 5), np.uint8)) * areas.flat[y0:y1, x0:x1]
    return labels


def _sample(values: np.ndarray, areas: FlatAreas, ids: np.ndarray) -> np.ndarray:
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


def piece_region(mask: np.ndarray, rows: slice, cols: slice, pitch, origin, pieces: int) -> Found:
    """A piece path's find over the window (rows, cols): its pixels are the cells it claims."""
    region = Region(mask_box(mask, rows, cols), (float(pitch[0]), float(pitch[1])), (float(origin[0]), float(origin[1])),
                    "mean", pieces, 1.0)
    return Found(region, mask, mask, (rows.start, cols.start))


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
                if pitch < extent - 2 * slack or np.any(np.abs(steps - n * pitch) > max(BORDER_DRIFT * steps.max(), 2 * slack)):
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
        if min(px, py) < cfg.cells.exact_jump_min_pitch:
            continue
        yield pieces, (snap(px), snap(py)), (snap(ox), snap(oy))


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
    return colour_code(rgb).astype(np.float32)


def exact_pieces(colour: np.ndarray, areas: FlatAreas, taken: np.ndarray, cfg: DetectorConfig):
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
    side = cfg.pieces.blob_min - 2
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
        if both.sum() >= side and sharp.sum() >= SHARP_SHARE * both.sum():
            links.append((a, b, axis, edge + 1))
    for pieces, (px, py), (ox, oy) in _piece_lattices(links, ids, boxes, cfg):
        # A smooth rendered gradient is quantised into exactly flat bands one level apart
        # (blocky after JPEG): a mosaic over a picture shows some larger step.
        if max(np.abs(piece_rgb[a] - piece_rgb[b]).max() for a, b, _, _ in links if a in pieces) < cfg.evidence.exact_step:
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
        yield piece_region(grown, r, c, (px, py), (ox, oy), len(pieces))


def coded_pieces(luma: np.ndarray, areas: FlatAreas, taken: np.ndarray, cfg: DetectorConfig):
    """The coded counterpart of `exact_pieces`: after H.264 a large cell's inside is flat
    within a level or two (3×3 luma range ≤ `pieces.blob_flat`) and its borders are blurred over
    a few pixels. Two pieces are linked when they face each other across a gap of 2 to
    `pieces.coded_gap` px, along straight sides, with a clear step between them; the border sits in
    the middle of the gap. The region is the pieces, the gaps between linked pieces, and
    each piece's ring of pixels near its level. Yields (region, pixel mask, claimed, origin)."""
    height, width = luma.shape
    found = _piece_boxes(areas, taken, cfg)
    if found is None:
        return
    x, y, w, h, ids = found
    boxes = (x, y, w, h)
    side = cfg.pieces.blob_min - 2
    level = _sample(luma.astype(np.float64), areas, ids)
    pairs = [pair for pair in _facing_pairs(ids, boxes, (1, cfg.pieces.coded_gap), side)
             if abs(level[pair[0]] - level[pair[1]]) >= cfg.evidence.step]
    if len(pairs) < 2:
        return
    comp = _piece_labels(areas, ids, _box_around([i for pair in pairs for i in pair[:2]], boxes, (height, width),
                                                 cfg.pieces.coded_gap + 3))
    links, gaps = [], []
    for a, b, lo, hi, axis in pairs:
        start, size = (x, w) if axis == 1 else (y, h)
        # Coded sides are ragged: each piece's side is its last line (first, for b) that
        # it fills along most of the overlap; the border is the largest mean step between.
        s0 = max(int(start[a] + size[a]) - cfg.pieces.coded_gap, 0)
        s1 = int(start[b]) + cfg.pieces.coded_gap
        band = comp[lo:hi, s0:s1] if axis == 1 else comp[s0:s1, lo:hi].T
        fill_a, fill_b = (band == a).mean(axis=0), (band == b).mean(axis=0)
        side_a, side_b = np.flatnonzero(fill_a >= SIDE_FILL), np.flatnonzero(fill_b >= SIDE_FILL)
        if not side_a.size or not side_b.size or side_b[0] - side_a[-1] > cfg.pieces.coded_gap + 1:
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
        ring = (near > 0) & ~mask & (np.abs(luma[r, c] - level[near]) <= 2 * cfg.pieces.blob_flat)
        mask |= ring
        yield piece_region(mask, r, c, (px, py), (ox, oy), len(pieces))
