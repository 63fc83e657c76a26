"""A found region's lattice refitted from the steps on its own lines: refine, finer, coarser, union split."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from ..mosaic import Grid
from .combs import find_teeth, snap, tooth_error
from .steps import Steps, mean_steps, quarter_steps


SQUARE_TOLERANCE = 0.04  # pitches within 4 % of each other make square cells (reason not recorded)
WHOLE_PITCH = 0.05  # px: a pitch this near a whole one is whole (unscaled mosaics; `snap`'s tolerance)
UNION_LINES, UNION_WINDOW_PX = 4, (16, 160)  # the union split judges each pixel over four lines of the finer lattice, 16-160 px
STRONG_BORDER = 0.3  # a refit's lines: the borders with this share of the strongest one's mean step (reason not recorded)
REFIT_GAIN_PX = 0.25  # px: a refit is kept where it passes this much closer to every line (reason not recorded)
REFIT_GAP = 0.2  # a refit's strong borders: every gap within this share of the pitch of a whole number of cells (reason not recorded)


def finer_grid(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid,
               offset: tuple[int, int] = (0, 0), most: int = 6, share: float = 0.5,
               min_pitch: float = 4.0, square_share: float = 0.0) -> Grid:
    """`grid`, or the finest lattice it is every k-th line of (k up to `most`, per axis) whose
    lines in between all carry steps too: at each j/k of the pitch, `share` of the step its
    own lines carry (`Steps.on_lines`), in the median quarter of the region and a third of
    that in every quarter (two mosaics on different lattices in one region put the other's
    lines between this one's over part of it only).

    A mosaic scaled after pixelation by 4/3 has cells of 10.67 px, whose rounded borders
    repeat exactly every 32 px (three cells); the combs, and the border maps, then often see
    that period, or 64 px, rather than the cells. Inside a mosaic's true cells there is no
    step, so a lattice that splits them finds none on the lines it adds.

    Square cells split along one axis only (into oblong ones, as mosaics' seldom are) need
    `square_share` (if larger): after coding, an 8 px codec block's edge falls within a
    pixel of a 10 px cell's middle at every other cell."""
    pitch = list(grid.pitch)
    chosen = [{}, {}]  # per axis: the finest k passing, by threshold
    for axis in (0, 1):
        p, o = grid.pitch[axis], grid.origin[axis]
        ratios = {k: [] for k in range(2, most + 1) if p / k >= min_pitch}
        if not ratios:
            continue
        for steps in quarter_steps(diff, mask, axis, offset):
            own = steps.on_lines(p, o)
            if own is None or own <= 0:
                continue
            for k in ratios:
                between = [steps.on_lines(p, o, j / k) for j in range(1, k)]
                ratios[k].append(min((v if v is not None else -np.inf) for v in between) / own)
        for least in {share, max(share, square_share)}:
            passing = [k for k, r in ratios.items() if r and np.median(r) >= least and min(r) >= least / 3]
            chosen[axis][least] = max(passing, default=1)
    square = abs(grid.pitch[0] - grid.pitch[1]) <= SQUARE_TOLERANCE * max(grid.pitch)
    loose = [c.get(share, 1) for c in chosen]
    for axis in (0, 1):
        k = loose[axis]
        if square and loose[0] != loose[1]:  # the cells would turn oblong
            k = chosen[axis].get(max(share, square_share), 1)
        pitch[axis] = grid.pitch[axis] / k
    return Grid((pitch[0], pitch[1]), grid.origin)


def coarser_grid(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid,
                 offset: tuple[int, int] = (0, 0), share: float = 0.25, max_pitch: float = 72.0,
                 square_share: float = 0.0) -> Grid:
    """`grid`, or the coarser lattice of every k-th of its lines (k = 2 or 3, per axis, again
    while it holds) where only those carry steps: the other lines carry at most `share` of
    their step (`Steps.on_lines`) in the median quarter of the region, and at most twice
    that in every quarter, with two quarters at least to tell. A mosaic's half cells are as flat as its cells, so flatness and
    the combs can settle on half the pitch along one axis; but no step runs through the
    middle of a cell.

    Where k times one axis's pitch is the other's (cells 1:k oblong, as mosaics' seldom are),
    the lines between may carry up to `square_share` (if larger): after coding, an 8 px
    codec block's edge falls within a pixel of a 10 px cell's middle at every other cell."""
    pitch, origin = list(grid.pitch), list(grid.origin)
    for axis in (0, 1):
        profiles = quarter_steps(diff, mask, axis, offset)
        changed = True
        while changed and profiles:
            changed = False
            p, o = pitch[axis], origin[axis]
            for k in (2, 3):
                if k * p > max_pitch:
                    break
                # Per quarter: each class j of lines (o + (n k + j) p), relative to the strongest.
                by_class = np.full((len(profiles), k), np.nan)
                for q, steps in enumerate(profiles):
                    for j in range(k):
                        v = steps.on_lines(k * p, o + j * p)
                        by_class[q, j] = np.nan if v is None else v
                by_class = by_class[~np.isnan(by_class).any(axis=1)]
                best = int(by_class.sum(axis=0).argmax()) if len(by_class) else 0
                by_class = by_class[by_class[:, best] > 0]
                if len(by_class) < 2:
                    continue  # one quarter's say is not enough
                ratios = np.delete(by_class, best, axis=1).max(axis=1) / by_class[:, best]
                square = abs(k * p - pitch[1 - axis]) <= SQUARE_TOLERANCE * pitch[1 - axis]
                most = max(share, square_share) if square else share
                if np.median(ratios) <= most and ratios.max() <= 2 * most:
                    pitch[axis], origin[axis] = k * p, (o + best * p) % (k * p)
                    changed = True
                    break
    return Grid((pitch[0], pitch[1]), (origin[0], origin[1]))


def _parts_by_lines(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, axis: int, offset: tuple[int, int],
                    lattices: Sequence[tuple[float, float]], window: int, share: float,
                    least: float) -> tuple[np.ndarray, np.ndarray] | None:
    """`mask` as two parts, each on its own of two lattices' lines along `axis` (each a
    (pitch, origin); their lines at least 3 px apart), or None. Each pixel goes to the
    lattice whose lines (±1 px) carry the larger mean step within `window`² around it; it
    is two parts if both hold `least` pixels and in each the other lattice's lines carry
    at most `share` of its own lines' step (`Steps.on_lines`). Pixels the parts'
    cleaning takes off go to the nearer part."""
    d = diff[axis].astype(np.float32)
    both = (mask[:, 1:] & mask[:, :-1]) if axis == 0 else (mask[1:] & mask[:-1])
    at = offset[axis] + np.arange(d.shape[1 - axis]) + 1.0  # pair i: the border before pixel i + 1
    local = []
    for p, o in lattices:
        near = np.abs(at - o - np.round((at - o) / p) * p) <= 1.0
        w = (both & (near[None, :] if axis == 0 else near[:, None])).astype(np.float32)
        total = cv2.boxFilter(d * w, -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
        count = cv2.boxFilter(w, -1, (window, window), normalize=False, borderType=cv2.BORDER_CONSTANT)
        local.append(np.where(count > 0.5, total / np.maximum(count, 1), 0.0))
    first = np.pad(local[0] >= local[1], ((0, 0), (0, 1)) if axis == 0 else ((0, 1), (0, 0)), mode="edge")
    kernel = np.ones((5, 5), np.uint8)
    parts = [cv2.morphologyEx((mask & side).astype(np.uint8), cv2.MORPH_OPEN, kernel) > 0 for side in (first, ~first)]
    if min(part.sum() for part in parts) < least:
        return None
    for c, part in enumerate(parts):
        steps = Steps.of(diff, part, axis, offset)
        if steps is None:
            return None
        own, other = steps.on_lines(*lattices[c]), steps.on_lines(*lattices[1 - c])
        if own is None or other is None or own <= 0 or other > share * own:
            return None
    rest = mask & ~parts[0] & ~parts[1]
    if rest.any():
        dist = [cv2.distanceTransform((~part).astype(np.uint8), cv2.DIST_L2, 3) for part in parts]
        parts[0] = parts[0] | (rest & (dist[0] <= dist[1]))
        parts[1] = mask & ~parts[0]
    return parts[0], parts[1]


def union_parts(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid,
                offset: tuple[int, int], share: float, least: float,
                max_pitch: float) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Two mosaics of one pitch P on lattices about P/2 apart, overlapping into one region,
    have lines every P/2 between them, and the fit takes that finer lattice for the whole
    region (two region-aligned mosaics side by side, or one aligned to the frame beside one
    aligned to its corner). Each part of such a region has steps on every other line only:
    one part on the even lines, the other on the odd ones (`_parts_by_lines`). Only
    whole-pixel pitches: the union of two unscaled mosaics' lines is one, and a fractional
    fit to it (lines drifting from one mosaic's to the other's) serves neither.
    Returns (axis, part on the even lines, part on the odd ones), or None."""
    for axis in (0, 1):
        p, o = grid.pitch[axis], grid.origin[axis]
        if 2 * p > max_pitch or abs(p - round(p)) > WHOLE_PITCH:
            continue
        window = int(np.clip(UNION_LINES * p, *UNION_WINDOW_PX)) | 1
        parts = _parts_by_lines(diff, mask, axis, offset, [(2 * p, o), (2 * p, o + p)], window, share, least)
        if parts is not None:
            return (axis, *parts)
    return None


def refine_grid(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid,
                offset: tuple[int, int] = (0, 0)) -> Grid:
    """The lattice through a found region's own strong borders. Large cells give the first fit
    few lines, and coding blurs them: the steps across the whole region, averaged along each
    border, place every line inside it. The pitch (within ±20 %) comes from their spacings,
    the phase from a least-squares fit; kept only if it passes closer to every line.
    `diff`, `mask`: the region's box; `offset`: the box's (x, y) in the frame."""
    pitch, origin = list(grid.pitch), list(grid.origin)
    for axis, d in ((0, diff[0]), (1, diff[1])):
        profile, _ = mean_steps(d, mask, axis)
        pos, w = find_teeth(profile)
        pos = pos + offset[axis]
        strong = pos[w >= STRONG_BORDER * w.max()] if w.size else pos
        if strong.size == 0:
            continue
        p0, o0 = pitch[axis], origin[axis]
        if strong.size >= 2:
            gaps = np.diff(strong)
            n = np.round(gaps / p0)
            ok = (n >= 1) & (np.abs(gaps / np.maximum(n, 1) - p0) <= REFIT_GAP * p0)
            if not ok.all():
                continue  # borders off any lattice near this pitch: leave it
            index = np.r_[0, np.cumsum(n)]
            p, first = np.polyfit(index, strong, 1) if np.ptp(index) >= 1 else (p0, strong[0])
        else:
            p, first = p0, strong[0]
        o = (first + 1) % p
        if tooth_error(strong, p, o) + REFIT_GAIN_PX < tooth_error(strong, p0, o0):
            pitch[axis], origin[axis] = float(p), float(o)
    px, py = snap(pitch[0]), snap(pitch[1])
    return Grid((px, py), (snap(origin[0]) % px, snap(origin[1]) % py))
