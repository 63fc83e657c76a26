"""A detected region fitted, frame by frame, to the mosaic under it: its lattice's phase and
its straight edges.

Regions reach the restore side from a keyframe's detection, moved to the frames between by
the vote, or from a detector whose masks reach a few px past the mosaic. On the tuning
footage's moving mosaics, 40–45 % of frames had the grid one px off the cells (the vote
moves a region in proportion between keyframes; the mosaic moves by whole px), and the mask
lagged or over-reached by 1–7 px on each side. A grid one px off puts a strip of each
neighbour into every cell, and a mask cut short of the mosaic leaves its edge cells as
they came (`safety.verify_region` keeps a cut cell that runs on unmasked): measured there
with the true grid and mask put in, region PSNR +0.2 to +0.45 dB, grid visibility 1.9–2.2
to 1.1–1.5 and the temporal error 5–20 % lower.

Both fits read the steps between neighbouring pixels' luma inside the region. Across a lattice line a mosaic steps from one cell's colour to the next; inside a
cell it does not (within the coding noise); in the picture beyond its edge it steps as the
picture does.

- **Phase**: the grid is moved by whole px (at most `FitConfig.phase_search`) to where its
  lines carry the largest mean step, each axis on its own.
- **Edges**: each side of the mask that runs straight (a rectangle's: ffmpeg's crop and
  pixelize, editors' boxes) is moved to where the mosaic ends: walking outward from a cell
  inside, the first step off a lattice line above the noise is the picture. A partial cell
  (a crop that is not a whole number of cells) ends there too. A side with no such step
  within a cell of where it was, or no flat run before it, stays.
"""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from .config import FitConfig
from .mosaic import Grid, GridArea


class _Axis(NamedTuple):
    """One axis of a region, its gaps numbered as the pixels before them: gap g lies between
    pixels g and g + 1."""

    steps: np.ndarray  # (lines, gaps) float: the step across each gap, per line across the axis
    inside: np.ndarray  # (lines, gaps) bool: both pixels in the region's core
    border: np.ndarray  # (gaps,) bool: a lattice line lies in the gap


def _borders(n: int, pitch: float, origin: float) -> np.ndarray:
    """(n - 1,) bool: gap g (pixels g, g + 1) lies on a line of the lattice (pitch, origin)."""
    cell = np.floor((np.arange(n) - origin) / pitch + 1e-6)
    return cell[1:] != cell[:-1]


def _luma(observed: np.ndarray) -> np.ndarray:
    """(h, w) float32 luma: the steps are read there, since 4:2:0 video halves the chroma's
    resolution and smears a cell's edge over two px in it (measured on ffmpeg's mosaic at an
    odd position after H.264: a lattice line stepping in two neighbouring gaps)."""
    if observed.ndim == 2 or observed.shape[2] == 1:
        return observed.reshape(observed.shape[:2]).astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(observed[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32) \
        if observed.dtype == np.uint8 else (observed[..., :3].astype(np.float32) @ np.float32([0.299, 0.587, 0.114]))


def _axis(luma: np.ndarray, mask: np.ndarray, pitch: float, origin: float) -> _Axis:
    steps = np.abs(luma[:, 1:] - luma[:, :-1])
    return _Axis(steps, mask[:, 1:] & mask[:, :-1], _borders(luma.shape[1], pitch, origin))


def _profile(axis: _Axis) -> tuple[np.ndarray, np.ndarray]:
    """Per gap, the mean step over the lines where both its pixels are masked, and their count."""
    count = axis.inside.sum(axis=0)
    total = np.where(axis.inside, axis.steps, 0.0).sum(axis=0)
    return total / np.maximum(count, 1), count


def phase_shift(profile: np.ndarray, count: np.ndarray, pitch: float, origin: float, search: int) -> int:
    """The whole px the lattice moves by so its lines carry the largest mean step."""
    reach = int(min(search, (pitch - 1) // 2))
    used = count > 0
    best, best_score = 0, -1.0
    for d in sorted(range(-reach, reach + 1), key=abs):  # ties keep the smaller move
        on = _borders(len(profile) + 1, pitch, origin + d) & used
        if not on.any():
            return 0
        score = float(profile[on].mean())
        if score > best_score + 1e-9:
            best, best_score = d, score
    return best


def noise(profile: np.ndarray, count: np.ndarray, border: np.ndarray) -> float:
    """The region's noise: the median mean step off its lattice lines."""
    off = ~border & (count > 0)
    return float(np.median(profile[off])) if off.any() else 0.0


def edge_gap(steps: np.ndarray, border: np.ndarray, gaps: np.ndarray, threshold: float,
             contrast: float) -> int | None:
    """Walking the gaps `gaps` outward (the first inside the mosaic), the gap where it ends:
    a step above `threshold` that best splits the walk into a flat run (its steps off the
    lattice lines) and the picture beyond, as a change in the mean step (least squares; the
    lattice lines themselves not counted inside). None where the picture's mean step is not
    `contrast` above the run's."""
    v = np.log1p(steps[gaps].astype(np.float64))  # a strong edge is one step, not a weight
    on = border[gaps]
    near = on | np.r_[on[1:], False] | np.r_[False, on[:-1]]
    w_in = (~on).astype(np.float64)
    n_in, s_in, q_in = np.cumsum(w_in), np.cumsum(w_in * v), np.cumsum(w_in * v * v)  # over gaps[0..i]
    rev = lambda a: np.cumsum(a[::-1])[::-1]  # noqa: E731  over gaps[i..]
    n_out, s_out, q_out = rev(np.ones_like(v)), rev(v), rev(v * v)
    raw = steps[gaps].astype(np.float64)
    lin_in, lin_out = np.cumsum(w_in * raw), rev(raw)
    m = len(gaps)
    best, best_cost = None, np.inf
    ok = np.zeros(m, bool)
    for i in range(1, m - 1):  # the end: gaps[i]; inside gaps[:i], outside gaps[i + 1:]
        if steps[gaps[i]] <= threshold or n_in[i - 1] == 0 or (near[i] and not on[i]):
            continue  # ends a px beside a lattice line are taken as the line (coding rings there)
        mean_in, mean_out = s_in[i - 1] / n_in[i - 1], s_out[i + 1] / n_out[i + 1]
        if lin_out[i + 1] / n_out[i + 1] < lin_in[i - 1] / n_in[i - 1] + contrast:
            continue
        ok[i] = True
        cost = (q_in[i - 1] - s_in[i - 1] * mean_in) + (q_out[i + 1] - s_out[i + 1] * mean_out)
        if cost < best_cost - 1e-9:
            best, best_cost = i, cost
    if best is None:
        return None
    # Coding rings beside an edge too, more weakly than the edge steps: of the end and the
    # gaps either side of it that could end the mosaic, the largest step.
    best = max((j for j in (best - 1, best, best + 1) if 0 <= j < m and ok[j]), key=lambda j: steps[gaps[j]])
    return int(gaps[best])


def _fit_side(mask: np.ndarray, steps: np.ndarray, border: np.ndarray, pitch: float, threshold: float,
              cfg: FitConfig, last: bool) -> np.ndarray | None:
    """`mask` (lines, pixels) with its `last` (else first) straight end along the pixels moved
    to where the mosaic ends (a copy), or None where it stays."""
    lines = np.flatnonzero(mask.any(axis=1))
    if lines.size == 0:
        return None
    n = mask.shape[1]
    ends = (n - 1 - np.argmax(mask[lines, ::-1], axis=1)) if last else np.argmax(mask[lines], axis=1)
    values, counts = np.unique(ends, return_counts=True)
    end = int(values[np.argmax(counts)])
    reach = int(np.ceil(pitch))
    straight = np.abs(ends - end) <= max(2, reach // 4)  # an outline's own px of raggedness
    if straight.sum() < cfg.straight * len(lines):
        return None
    profile = steps[lines[straight]].mean(axis=0)
    near = np.abs(ends - end) <= reach  # the lines the fitted end applies to
    lines, ends = lines[near], ends[near]
    if last:  # gaps from two cells inside to one cell past the end
        gaps = np.arange(max(0, end - 2 * reach), min(n - 1, end + reach + 1))
    else:
        gaps = np.arange(min(n - 2, end + 2 * reach - 1), max(-1, end - reach - 2), -1)
    b = edge_gap(profile, border, gaps, threshold, cfg.edge_levels)
    if b is None:
        return None
    new_end = b if last else b + 1  # the last (first) masked pixel
    if abs(new_end - end) > reach or (ends == new_end).all():
        return None
    out = mask.copy()
    px = np.arange(n)[None, :]
    side = out[lines]
    inward = ends[:, None]  # each line keeps what lies inward of its own end
    if last:
        side = np.where(px <= new_end, side | (px > inward - 1), False)
    else:
        side = np.where(px >= new_end, side | (px < inward + 1), False)
    out[lines] = side
    return out


def fit_region(observed: np.ndarray, area: GridArea, cfg: FitConfig = FitConfig()) -> GridArea:
    """`area` with its grid moved onto the cells and its straight sides onto the mosaic's
    edges (a new area; the same one where nothing moved, or without a grid)."""
    if area.grid is None or not area.mask.any():
        return area
    rows, cols = np.flatnonzero(area.mask.any(axis=1)), np.flatnonzero(area.mask.any(axis=0))
    (pw, ph), (ox, oy) = area.grid.pitch, area.grid.origin
    # The region's box grown by a cell and a half each way: room for the edges to move into.
    gy, gx = int(np.ceil(1.5 * ph)) + 1, int(np.ceil(1.5 * pw)) + 1
    h, w = area.mask.shape
    y0, y1 = max(0, rows[0] - gy), min(h, rows[-1] + 1 + gy)
    x0, x1 = max(0, cols[0] - gx), min(w, cols[-1] + 1 + gx)
    obs, mask = observed[y0:y1, x0:x1], area.mask[y0:y1, x0:x1]
    # Phase and noise are read a cell inside the mask: past the mosaic it reaches into the
    # picture, whose steps fall anywhere.
    core = cv2.erode(mask.view(np.uint8), np.ones((2 * int(np.ceil(ph)) + 1, 2 * int(np.ceil(pw)) + 1), np.uint8),
                     borderValue=0).astype(bool)
    if not core.any():
        core = mask
    luma = _luma(obs)
    across = _axis(luma, core, pw, ox - x0)
    down = _axis(luma.T, core.T, ph, oy - y0)
    pa, ca = _profile(across)
    pd, cd = _profile(down)
    dx = phase_shift(pa, ca, pw, ox - x0, cfg.phase_search)
    dy = phase_shift(pd, cd, ph, oy - y0, cfg.phase_search)
    grid = Grid((pw, ph), (ox + dx, oy + dy)) if dx or dy else area.grid
    border_a = _borders(obs.shape[1], pw, grid.origin[0] - x0)
    border_d = _borders(obs.shape[0], ph, grid.origin[1] - y0)
    fitted, moved = mask, False
    if len(cols) >= cfg.min_cells * pw and len(rows) >= cfg.min_cells * ph:
        sigma = max(noise(pa, ca, border_a), noise(pd, cd, border_d))
        threshold = max(cfg.edge_ratio * sigma, sigma + cfg.edge_levels)
        for transposed in (False, True):
            for last in (True, False):
                lines = fitted.T if transposed else fitted
                side = _fit_side(lines, (down if transposed else across).steps,
                                 border_d if transposed else border_a, ph if transposed else pw, threshold, cfg, last)
                if side is not None:
                    fitted, moved = (side.T if transposed else side), True
    if not moved and grid is area.grid:
        return area
    out = area.mask
    if moved:
        out = area.mask.copy()
        out[y0:y1, x0:x1] = fitted
    return area._replace(mask=out, grid=grid)
