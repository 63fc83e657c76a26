"""Combs: the pitch and phase of a 1-D border profile, and lattice comparisons."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..mosaic import Grid, cell_edges
from .config import DetectorConfig
from .steps import Steps


# The comb (`find_comb`); reasons not recorded beyond its docstring's:
TOOTH_SHARE, TOOTH_LEAST = 0.2, 2.0  # a tooth: a local maximum of at least this share of the highest, and this weight
ON_TOOTH = 0.75  # px: a tooth this near a lattice point sits on it
EMPTY_PENALTY = 0.3  # each lattice point inside the teeth's span with no tooth costs this share of the mean tooth weight
COMB_WEIGHT = 0.5  # a comb's lattice carries more than this share of the teeth's weight
FIT_DRIFT = 0.5  # px: the least-squares pitch stays this near the searched one
SNAP_PX = 0.05  # px: fits of unscaled mosaics land this near whole pixels
SAME_PITCH_PX, SAME_PHASE_PX = 0.5, 1.5  # two grids are one lattice within these (coding moves a fit's phase a pixel)
FINE_STEP, FINE_REACH = 0.25, 0.75  # px: scaled video's pitches are searched in quarter pixels, ±3 of them around the best whole one


def find_teeth(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (sub-pixel centroids) and weights of a profile's clear local maxima."""
    p = profile.astype(np.float64)
    if p.size == 0 or p.max() <= 0:
        return np.zeros(0), np.zeros(0)
    left = np.r_[-1.0, p[:-1]]
    right = np.r_[p[1:], -1.0]
    peaks = np.flatnonzero((p >= left) & (p > right) & (p >= max(TOOTH_SHARE * p.max(), TOOTH_LEAST)))
    lo = np.maximum(peaks - 1, 0)
    hi = np.minimum(peaks + 1, len(p) - 1)
    w = p[lo] + p[peaks] + p[hi]
    pos = (lo * p[lo] + peaks * p[peaks] + hi * p[hi]) / w
    return pos, p[peaks]


def find_comb(profile: np.ndarray, cfg: DetectorConfig, whole_pitch: float = 0.0) -> tuple[float, float] | None:
    """(pitch, position of one tooth) of a comb-like 1-D profile, sub-pixel; None if no comb.

    Each candidate pitch p (quarter-pixel steps) and phase scores the weight of the teeth
    that sit on its lattice, minus a penalty for lattice points inside the teeth's span
    with no tooth. Divisors of the true pitch leave most of their lattice points empty and
    multiples miss most teeth, so the true pitch wins; a least-squares fit of the teeth on
    it then gives the sub-pixel pitch and phase (scaled video), or a whole pitch within
    `whole_pitch` of it where that fits every tooth within a pixel.
    """
    pos, w = find_teeth(profile)
    if len(pos) < 3:
        return None
    span = pos.max() - pos.min()
    mean_w = w.mean()
    top = min(cfg.lattice.max_pitch, span / 2)

    def scores(pitches: np.ndarray) -> list[tuple[float, float, float]]:
        """(score, pitch, phase) per candidate pitch, all pitches at once."""
        p = pitches[:, None]  # (P, 1)
        r = pos[None, :] % p  # (P, T)
        d = np.abs(r[:, :, None] - r[:, None, :])  # (P, T, T): tooth i against phase of tooth j
        d = np.minimum(d, p[:, :, None] - d)
        near = d <= ON_TOOTH
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
        value = on_weight[np.arange(len(pitches)), j] - EMPTY_PENALTY * mean_w * empty
        return list(zip(value, pitches, r[np.arange(len(pitches)), j]))

    # Whole pixels first, then quarter pixels around the best (scaled video).
    coarse = scores(np.arange(cfg.lattice.min_pitch, np.floor(top) + 1, dtype=np.float64))
    if not coarse:
        return None
    best = max(coarse, key=lambda s: (s[0], s[1]))
    fine_p = np.arange(best[1] - FINE_REACH, best[1] + (FINE_REACH + 0.01), FINE_STEP)
    fine = scores(fine_p[(fine_p >= cfg.lattice.min_pitch) & (fine_p <= top)])
    best = max(fine + [best], key=lambda s: (s[0], s[1]))
    value, p, phase = best
    if value <= COMB_WEIGHT * w.sum():
        return None
    on = np.abs(((pos - phase + p / 2) % p) - p / 2) <= ON_TOOTH
    if on.sum() < 3:
        return None
    index = np.round((pos[on] - phase) / p)
    pitch, first = np.polyfit(index, pos[on], 1)
    if abs(pitch - p) > FIT_DRIFT:
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


def two_teeth(profile: np.ndarray, cfg: DetectorConfig, min_pitch: float = 17.0) -> tuple[float, float] | None:
    """(pitch, position of a tooth) from the two strongest teeth of a profile: a region only
    two or three large cells across has too few borders for a comb."""
    pos, w = find_teeth(profile)
    if len(pos) < 2:
        return None
    a, b = pos[np.argsort(w)[-2:]]
    pitch = abs(a - b)
    return (float(pitch), float(a)) if min_pitch <= pitch <= cfg.lattice.max_pitch else None


def one_tooth(profile: np.ndarray, least: float) -> tuple[None, float] | None:
    """(None, position) of a profile's strongest tooth if it weighs at least `least`: the one
    border inside a region only two large cells across, which still fixes that axis's phase."""
    pos, w = find_teeth(profile)
    if not len(pos) or w.max() < least:
        return None
    return None, float(pos[np.argmax(w)])


def sparser_comb(profile: np.ndarray, comb: tuple[float, float], share: float = 0.25) -> tuple[float, float]:
    """A comb (pitch, tooth) of `profile`, or the one of every other of its lines where the
    others hold at most `share` of their weight (the largest value within a pixel of each
    line): few teeth fit half the pitch as well as the pitch, with a line in every gap."""
    pitch, tooth = comb
    # Tooth t is the profile's index t itself: a box starting at edge -1 (`Steps.on_lines`).
    lines = Steps(profile, np.ones(profile.size, bool), 0.0, -1)
    while 2 * pitch <= profile.size:
        classes = [lines.on_lines(2 * pitch, tooth + j * pitch, least=1) for j in (0, 1)]
        if None in classes:
            break
        strong = int(np.argmax(classes))
        if classes[1 - strong] > share * classes[strong]:
            break
        pitch, tooth = 2 * pitch, tooth + strong * pitch
    return pitch, tooth


def combs_grid(comb_x, comb_y, rows: slice, cols: slice, frame_origin: tuple[int, int] = (0, 0)) -> Grid | None:
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
    px, py = snap(comb_x[0]), snap(comb_y[0])
    return Grid((px, py), (snap(ox) % px, snap(oy) % py))


def snap(v: float) -> float:
    """Fits of unscaled mosaics land within a hair of whole pixels: make them whole."""
    r = round(v)
    return float(r) if abs(v - r) < SNAP_PX else float(v)


def same_lattice(a: Grid, b: Grid, frame_origin: tuple[int, int] = (0, 0)) -> bool:
    """Equal pitch (±0.5 px) and phase (±1.5 px, modulo the pitch) on both axes, the phases
    compared at the lines nearest past the frame's corner (`frame_origin`, where the grids
    are a window's): where pitches differ a little, the answer depends on where."""
    for axis in (0, 1):
        pa, pb = a.pitch[axis], b.pitch[axis]
        if abs(pa - pb) > SAME_PITCH_PX:
            return False
        f = frame_origin[axis]
        d = abs((a.origin[axis] - f) % pa - (b.origin[axis] - f) % pb) % pa
        if min(d, pa - d) > SAME_PHASE_PX:
            return False
    return True


def multiple_of(coarse: Grid, fine: Grid, tolerance: float = 0.04) -> bool:
    """Whether `coarse`'s pitch is a whole multiple of `fine`'s on each axis (within
    `tolerance` of it), at least twice on one: every other (third, ...) line of `fine`."""
    ratios = [c / f for c, f in zip(coarse.pitch, fine.pitch)]
    return (max(ratios) >= 2 - tolerance * 2
            and all(r >= 1 - tolerance and abs(r - round(r)) <= tolerance * r for r in ratios))


def on_edges(grid: Grid, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
    """Over the frame's (rows, cols): which columns (1, w) and rows (h, 1) are a first or last
    pixel of one of `grid`'s cells."""
    return (cell_edges(cols.stop, grid.pitch[0], grid.origin[0])[cols][None, :],
            cell_edges(rows.stop, grid.pitch[1], grid.origin[1])[rows][:, None])


def outline_profile(prob: np.ndarray, part: np.ndarray, axis: int) -> np.ndarray:
    """The border maps' say on the borders between `part` and what lies outside it, per gap
    between columns (axis 0) or rows (axis 1): only the inside pixel can be summed there.

    The profile inside takes the smaller of both columns' sums, and outside `part` there is
    nothing to sum, so a region's own outline gave no tooth: a region two cells across
    showed one border each way. The maps mark only true cell borders (a cut cell's edge is
    no border in their labels), so where the outline runs along a cell border they see it,
    and where it cuts cells they do not."""
    if axis == 1:
        return outline_profile(prob.T, part.T, 0)
    before, after = part[:, :-1], part[:, 1:]
    return (np.where(before & ~after, prob[:, :-1], 0.0) + np.where(after & ~before, prob[:, 1:], 0.0)).sum(axis=0)


def tooth_error(teeth: np.ndarray, pitch: float, origin: float) -> float:
    """Largest distance (px) from a border (tooth t: a step between pixels t and t+1) to the
    nearest border of lattice (pitch, origin)."""
    off = (teeth + 1 - origin) % pitch
    return float(np.minimum(off, pitch - off).max())


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
