"""Large cells as flat rectangles that sit on one lattice."""
from __future__ import annotations


import numpy as np

from ..mosaic import Grid
from .combs import snap
from .config import DetectorConfig
from .evidence import FlatAreas


# Reasons beyond `blob_lattices`' docstring not recorded:
RECT_FILL = 0.75  # a flat core filling this share of its box is a rectangle (flat picture areas rarely are)
SIZE_SLACK_PX, SIZE_SLACK = 2, 0.15  # rectangles of one size: within 2 px or 15 % of each other
CHAIN_REACH, CHAIN_GAP_PX = 1.6, 10  # neighbours: centres within 1.6 times (size + 10 px), at most a cell gap apart
SPACING_DISAGREE, SQUARE_RECT = 0.3, 0.8  # square rectangles whose two spacings differ by 30 %: one was measured across a gap
ON_LATTICE_PX, ON_LATTICE = 1.5, 0.1  # a member's edge within 1.5 px or 10 % of the pitch of the lattice stays on it


def blob_lattices(shape: tuple[int, int], maps: tuple[FlatAreas, FlatAreas], taken: np.ndarray, cfg: DetectorConfig):
    """(grid, box x0, y0, x1, y1) of groups of flat rectangles that sit on one lattice.

    A large mosaic cell's inside is a flat rectangle (3×3 range ≤ `pieces.blob_flat`, or 0), a little
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
        ok = ((w + 4 >= cfg.pieces.blob_min) & (h + 4 >= cfg.pieces.blob_min)
              & (w + 4 <= cfg.lattice.max_pitch) & (h + 4 <= cfg.lattice.max_pitch)
              & (area >= RECT_FILL * w * h))
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
    if len(blobs) < cfg.pieces.min_blobs:
        return []
    cx = blobs[:, 0] + (blobs[:, 2] - 1) / 2
    cy = blobs[:, 1] + (blobs[:, 3] - 1) / 2
    used = np.zeros(len(blobs), bool)
    out = []
    for i in np.argsort(-blobs[:, 4]):
        if used[i]:
            continue
        bw, bh = blobs[i, 2], blobs[i, 3]
        similar = ~used & ((np.abs(blobs[:, 2] - bw) <= max(SIZE_SLACK_PX, SIZE_SLACK * bw))
                            & (np.abs(blobs[:, 3] - bh) <= max(SIZE_SLACK_PX, SIZE_SLACK * bh)))
        if similar.sum() < cfg.pieces.min_blobs:
            continue
        # The seed's neighbours: similar rectangles chained to it, at most a cell gap apart.
        near = np.zeros(len(blobs), bool)
        near[i] = True
        while True:
            members = np.flatnonzero(near)
            reach = (np.abs(cx[:, None] - cx[members][None]) <= CHAIN_REACH * (bw + CHAIN_GAP_PX)) & \
                    (np.abs(cy[:, None] - cy[members][None]) <= CHAIN_REACH * (bh + CHAIN_GAP_PX))
            grown = near | (similar & reach.any(axis=1))
            if grown.sum() == near.sum():
                break
            near = grown
        if near.sum() < cfg.pieces.min_blobs:
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
        if abs(grid_axes[0] - grid_axes[1]) > SPACING_DISAGREE * max(grid_axes) and min(bw, bh) >= SQUARE_RECT * max(bw, bh):
            grid_axes = [max(grid_axes)] * 2  # square rectangles: one spacing was measured across a gap
        # Phase: the members' cell edges, each from its centre; those off the lattice drop out.
        fitted = []
        on = near.copy()
        for c, p in zip((cx, cy), grid_axes):
            edge = c - (p - 1) / 2
            left = edge[i] % p
            off = (edge - left + p / 2) % p - p / 2
            on &= np.abs(off) <= max(ON_LATTICE_PX, ON_LATTICE * p)
            fitted.append((p, left))
        if on.sum() < cfg.pieces.min_blobs:
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
        out.append((Grid((snap(px), snap(py)), (snap(ox) % snap(px), snap(oy) % snap(py))), (x0, y0, x1, y1)))
    return out
