"""Lattices of a search area: from border evidence, from mean steps, from the border maps."""
from __future__ import annotations
from .evidence import sigmoid


import cv2
import numpy as np

from ..mosaic import Grid, cell_edges
from .combs import combs_grid, find_comb, on_edges, one_tooth, outline_profile, sparser_comb, two_teeth
from .config import DetectorConfig


MULTIPLE_PX = 1.5  # px: two teeth this near a whole multiple of the other axis's pitch are that lattice (reason not recorded)
WHOLE_PITCH = 0.05  # px: only a pitch this near a whole one is rephased (`snap`'s tolerance)


def evidence_lattice(cfg: DetectorConfig, ev, eh, rows: slice, cols: slice, inside: np.ndarray,
                     frame_origin: tuple[int, int] = (0, 0)) -> Grid | None:
    """The cell grid whose borders the evidence inside (rows, cols) lines up on, or None."""
    ev_in = ev[rows, cols.start:min(cols.stop, ev.shape[1])] & inside[:, :min(cols.stop, ev.shape[1]) - cols.start]
    eh_in = eh[rows.start:min(rows.stop, eh.shape[0]), cols] & inside[:min(rows.stop, eh.shape[0]) - rows.start]
    return combs_grid(find_comb(ev_in.sum(axis=0), cfg), find_comb(eh_in.sum(axis=1), cfg), rows, cols, frame_origin)


def soft_lattice(cfg: DetectorConfig, luma: np.ndarray, rows: slice, cols: slice, inside: np.ndarray,
                 frame_origin: tuple[int, int] = (0, 0)) -> Grid | None:
    """The lattice of a region the network is sure of, where too few borders survived
    coding as clean evidence: the comb of the mean luma step across each column (row),
    above its local level. Too loose to find mosaics with (it finds lattices in coding
    blocks and textures), but the network has ruled those out here."""
    block = luma[rows, cols, 0].astype(np.float32)
    dx = np.abs(np.diff(block, axis=1)) * (inside[:, 1:] & inside[:, :-1])
    dy = np.abs(np.diff(block, axis=0)) * (inside[1:] & inside[:-1])
    combs = []
    for profile in (dx.sum(axis=0), dy.sum(axis=1)):
        if profile.size < 3 * cfg.lattice.min_pitch:
            combs.append(None)
            continue
        level = np.convolve(profile, np.ones(9) / 9, mode="same")
        profile = np.maximum(profile - level, 0)
        combs.append(find_comb(profile, cfg) or two_teeth(profile, cfg))
    return combs_grid(*combs, rows, cols, frame_origin)


def edge_lattice(cfg: DetectorConfig, edges: np.ndarray, rows: slice, cols: slice, part: np.ndarray,
                 outline: bool = False,
                 frame_origin: tuple[int, int] = (0, 0)) -> Grid | None:
    """The lattice the segmenter's border maps line up on inside `part` of (rows, cols).

    Each map marks a cell's first and last column (row), so a border between pixels t
    and t+1 shows in both: its profile is the smaller of the two columns' summed
    probabilities, one sharp tooth per border, even where coding smeared the step. With
    `outline`, `part`'s outline counts too where the maps mark it (`outline_profile`)."""
    if outline:  # a pixel more each side, outside `part`: the outline where it meets the box
        height, width = edges.shape[:2]
        top, left = min(rows.start, 1), min(cols.start, 1)
        rows, cols = slice(rows.start - top, min(rows.stop + 1, height)), slice(cols.start - left, min(cols.stop + 1, width))
        part = np.pad(part, ((top, rows.stop - rows.start - top - part.shape[0]),
                             (left, cols.stop - cols.start - left - part.shape[1])))
    prob = part[..., None] * sigmoid(edges[rows, cols])  # part is 0 or 1: the same as dividing
    combs, full = [], []
    for axis, channel in ((0, 0), (1, 1)):  # column borders: summed down the rows
        a = prob[..., channel].sum(axis=axis)
        between = np.minimum(a[:-1], a[1:])
        if outline:
            between = between + outline_profile(prob[..., channel], part, axis)
        long_enough = between.size >= 3 * cfg.lattice.min_pitch
        comb = find_comb(between, cfg, cfg.net.whole_pitch) if long_enough else None
        if comb is not None and cfg.refits.coarser_grid:
            comb = sparser_comb(between, comb, cfg.refits.coarser_grid)
        full.append(comb is not None)
        if comb is None and long_enough:
            comb = two_teeth(between, cfg)
        if comb is None and cfg.net.one_tooth and between.size:
            # A border crossing a good part of the region, seen surely.
            comb = one_tooth(between, cfg.net.one_tooth * part.sum(axis=axis).max())
        combs.append(comb)
    for axis in (0, 1):
        # Two teeth a whole number of the other axis's (full comb's) pitches apart are
        # that lattice with borders missed between them: cells are usually square.
        mine, other = combs[axis], combs[1 - axis]
        if not full[axis] and full[1 - axis] and mine is not None and mine[0] is not None:
            times = round(mine[0] / other[0])
            if times >= 2 and abs(mine[0] - times * other[0]) <= MULTIPLE_PX:
                combs[axis] = (other[0], mine[1])
    return combs_grid(*combs, rows, cols, frame_origin)


def edge_support(edges: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray) -> float:
    """How much more the border maps see borders on `grid`'s cell edges than between them
    inside `part`: the difference of mean probability, averaged over both axes."""
    prob = sigmoid(edges[rows, cols])
    support = []
    for channel, on in enumerate(on_edges(grid, rows, cols)):
        p, a, b = prob[..., channel], part & on, part & ~on
        support.append(p[a].mean() - p[b].mean() if a.any() and b.any() else 0.0)
    return float(np.mean(support))


def rephased(edges: np.ndarray, grid: Grid, rows: slice, cols: slice, part: np.ndarray) -> Grid:
    """`grid` with, along each axis of whole-pixel pitch, the phase the border maps
    support most inside `part` (`edge_support`'s measure, which takes each axis's
    phase on its own); the other axes keep theirs. Coding can shift a comb's tooth by
    a pixel or more, and a lattice a pixel off fails the step check."""
    prob = sigmoid(edges[rows, cols])
    origin = list(grid.origin)
    for axis, (start, stop) in enumerate(((cols.start, cols.stop), (rows.start, rows.stop))):
        pitch = grid.pitch[axis]
        whole = round(pitch)
        if abs(pitch - whole) > WHOLE_PITCH or whole < 2:
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


def local_support(prob: np.ndarray, own: np.ndarray, grid: Grid, corner: tuple[int, int], window: int) -> np.ndarray:
    """Per pixel of `own` (a box whose top-left pixel is `corner` in the frame): how much more
    the border maps `prob` (h, w, 2) see borders on `grid`'s cell edges than between them,
    within `window`² around it; the two axes averaged where each has both kinds of pixel."""
    height, width = own.shape
    x0, y0 = corner
    total = np.zeros((height, width), np.float32)
    axes = np.zeros((height, width), np.float32)
    box = (window, window)
    for channel, on in enumerate(on_edges(grid, slice(y0, y0 + height), slice(x0, x0 + width))):
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
