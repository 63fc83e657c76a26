"""A detected region fitted, frame by frame, to the mosaic under it: its lattice's phase and
its straight sides.

Regions reach the restore side from a keyframe's detection, moved to the frames between by
the vote, or from a detector whose masks reach a few px past the mosaic. On the tuning
footage's moving mosaics (`scripts/fit_bound.py`), 38–47 % of frames had the grid a px or
more off the cells (the vote moves a region in proportion between keyframes; the mosaic
moves by whole px) and 38–62 % of the regions' sides were more than a px off the mosaic's
(median 1–2, up to 15). A grid a px off puts a strip of each neighbour into every cell; a
side short of the mosaic leaves its edge cells as they came (`safety.verify_region` keeps a
cut cell that runs on unmasked). Fitted, those cases gained 0.07–0.40 dB, within 0.02–0.07
dB of the true grid and mask put in, and their grid visibility fell from 1.9–2.2 to 1.2–1.6.

Both fits read the steps between neighbouring pixels' luma. Across a lattice line a mosaic
steps from one cell's colour to the next; inside a cell it does not (within the coding
noise); in the picture beyond its edge it steps as the picture does.

- **Phase**: the grid is moved by whole px (at most `FitConfig.phase_search`) to where its
  lines carry the largest mean step inside the region's core (the mask less a cell each
  way), each axis on its own.
- **Sides**: each side of the mask that runs straight (a rectangle's: ffmpeg's crop and
  pixelize, editors' boxes) is moved to where the mosaic ends. Walking outward from two cells
  inside to one past the side, the end is the step that best splits the walk into the flat
  cells (their steps off the lattice lines) and the picture beyond (`edge_gap`). Moving in
  only takes pixels out. Moving out is held to more (`_fit_side`): the side's straight lines
  only, up to where most of them end, and past that only onto pixels that step on the other
  axis' lattice lines as the cells inside do, and never for an area a user's `--exclude` cut
  (`GridArea.grows`). A side whose walk finds no end, or one more than a cell away, stays;
  so does every side of a scaled mosaic (a pitch that is not whole px).
- **Ragged sides**: a detected mask's outline may wander by more than a few px along a
  mosaic's straight side. Where 80 % of a side's lines end within a cell of their median,
  they are fitted together to the end their mean steps show, but only where each of three
  runs of them agrees (`_one_end`): no run's cells go on past that end (an ellipse's cut
  cells beyond a lattice line do, `_cells_go_on`), no run has the mosaic's edge just inside
  it, and all but one step there (a smooth picture may meet one run's cells without a step).
  A run grows past its own lines' ends only on its own cells' evidence.
- **Ends**: where a side was fitted, `Fit.ends` holds its pixels, but only where its end is
  clean (`_clean_end`: the gap just inside steps within the noise or by at most half the end's
  step; a side a px into the picture has the mosaic's edge there) and not within a cell of a
  side whose end was not found. The guards do not doubt the cells such a side cuts as
  picture running on (`safety`).
- The fit can still move a side a px into a rough picture where coding rings beside it (as
  before ends); the guards keep those cells, since that end is not clean.
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


def lattice_gaps(n: int, pitch: float, origin: float) -> np.ndarray:
    """(n - 1,) bool: gap g (pixels g, g + 1) lies on a line of the lattice (pitch, origin)
    along an axis of n px, as `Grid.cell_index` draws the lines."""
    cell = Grid((pitch, pitch), (origin, 0.0)).cell_index(1, n)[1]
    return cell[1:] != cell[:-1]


def _luma(observed: np.ndarray) -> np.ndarray:
    """(h, w) float32 luma: the steps are read there, since 4:2:0 video halves the chroma's
    resolution and smears a cell's edge over two px in it (measured on ffmpeg's mosaic at an
    odd position after H.264: a lattice line stepping in two neighbouring gaps)."""
    if observed.ndim == 2 or observed.shape[2] == 1:
        return observed.reshape(observed.shape[:2]).astype(np.float32)
    if observed.dtype == np.uint8:
        return cv2.cvtColor(np.ascontiguousarray(observed[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return observed[..., :3].astype(np.float32) @ np.float32([0.299, 0.587, 0.114])  # 0–255 floats


def _axis(luma: np.ndarray, core: np.ndarray) -> _Axis:
    return _Axis(np.abs(luma[:, 1:] - luma[:, :-1]), core[:, 1:] & core[:, :-1])


def _profile(axis: _Axis) -> tuple[np.ndarray, np.ndarray]:
    """Per gap, the mean step over the lines where both its pixels are in the core, and their count."""
    count = axis.inside.sum(axis=0)
    total = np.where(axis.inside, axis.steps, 0.0).sum(axis=0)
    return total / np.maximum(count, 1), count


def phase_shift(profile: np.ndarray, count: np.ndarray, pitch: float, origin: float, search: int) -> int:
    """The whole px the lattice moves by so its lines carry the largest mean step."""
    reach = int(min(search, (pitch - 1) // 2))
    used = count > 0
    best, best_score = 0, -1.0
    for d in sorted(range(-reach, reach + 1), key=abs):  # ties keep the smaller move
        on = lattice_gaps(len(profile) + 1, pitch, origin + d) & used
        if not on.any():  # no line of this lattice inside the core: no evidence for it
            continue
        score = float(profile[on].mean())
        if score > best_score + 1e-9:
            best, best_score = d, score
    return best


def off_line_noise(profile: np.ndarray, count: np.ndarray, border: np.ndarray) -> float:
    """The region's noise: the median mean step off its lattice lines."""
    off = ~border & (count > 0)
    return float(np.median(profile[off])) if off.any() else 0.0


def edge_gap(steps: np.ndarray, border: np.ndarray, gaps: np.ndarray, threshold: float,
             contrast: float) -> int | None:
    """Walking the gaps `gaps` outward (the first inside the mosaic), the gap where it ends:
    a step above `threshold` that best splits the walk into a flat run and the picture beyond,
    as a change in the mean step off the lattice lines (least squares, on log steps). None
    where the picture's mean step is not `contrast` above the run's."""
    v = np.log1p(steps[gaps].astype(np.float64))  # a strong edge is one step, not a weight
    on = border[gaps]
    after = np.r_[False, on[:-1]]  # the gap just outward of a line
    w_in = (~on).astype(np.float64)
    n_in, s_in, q_in = np.cumsum(w_in), np.cumsum(w_in * v), np.cumsum(w_in * v * v)  # over gaps[0..i]
    rev = lambda a: np.cumsum(a[::-1])[::-1]  # noqa: E731  over gaps[i..]
    n_out, s_out, q_out = rev(w_in), rev(w_in * v), rev(w_in * v * v)
    raw = steps[gaps].astype(np.float64)
    lin_in, lin_out = np.cumsum(w_in * raw), rev(w_in * raw)
    m = len(gaps)
    best, best_cost = None, np.inf
    ok = np.zeros(m, bool)
    for i in range(1, m - 1):  # the end: gaps[i]; inside gaps[:i], outside gaps[i + 1:]
        if steps[gaps[i]] <= threshold or n_in[i - 1] == 0 or n_out[i + 1] == 0 or (after[i] and not on[i]):
            continue  # the px just past a line is the line's (coding rings there)
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


def lattice_steps(luma: np.ndarray, lines: np.ndarray, pixels: slice, other: np.ndarray) -> tuple[float, float]:
    """Over `pixels` of the `lines` (luma: lines × pixels), the mean step between neighbouring
    lines on the other axis' lattice lines (`other`: per gap between lines) and off them."""
    chosen = np.zeros(luma.shape[0], bool)
    chosen[lines] = True
    pairs = np.flatnonzero(chosen[:-1] & chosen[1:])
    if pairs.size == 0 or pixels.stop <= pixels.start:
        return 0.0, 0.0
    step = np.abs(luma[pairs + 1, pixels] - luma[pairs, pixels]).mean(axis=1)
    on = other[pairs]
    return (float(step[on].mean()) if on.any() else 0.0), (float(step[~on].mean()) if (~on).any() else 0.0)


def _clean_end(profile: np.ndarray, border: np.ndarray, end: int, inside: int, threshold: float) -> bool:
    """Whether gap `end` of a side's mean `profile` is the mosaic's end itself and not a px past
    it: the gap just `inside` it is off the lattice's lines and steps within the noise
    `threshold`, or by at most half the end's step (coding rings beside an edge, more weakly).
    A side fitted a px into the picture has the mosaic's edge there instead."""
    if not 0 <= inside < len(profile):
        return False
    return not border[inside] and profile[inside] <= max(threshold, 0.5 * profile[end])


def _shows_cells(luma: np.ndarray, lines: np.ndarray, pixels: slice, inside: slice, other: np.ndarray,
                 threshold: float) -> bool:
    """Whether `pixels` of `lines` show a mosaic's cells across the other axis: stepping on its
    lattice lines (`other`) by more than `threshold` and half as much as the cells `inside` a
    side do, and between them by at most half that (`lattice_steps`). A flat wall or sky
    steps on neither, a picture as much between the lines as on them."""
    on, off = lattice_steps(luma, lines, pixels, other)
    return on >= max(threshold, 0.5 * lattice_steps(luma, lines, inside, other)[0]) and off <= 0.5 * on


def _cells_go_on(luma: np.ndarray, lines: np.ndarray, past: slice, inside: slice, other: np.ndarray,
                 threshold: float) -> bool:
    """Whether the mosaic's cells go on into the px `past` a side's end, on `lines`: they step
    on the other axis' lattice lines (`other`) at least half as much as the cells `inside`
    the end do (and above the noise `threshold`), and between those lines at most twice as
    much as inside (or the noise). Past a mosaic's end the picture steps between the lines as
    it does on them, or (smooth) on neither; H.264 carries the cells' steps a px or two into
    it, but not their flatness."""
    on_past, off_past = lattice_steps(luma, lines, past, other)
    on_in, off_in = lattice_steps(luma, lines, inside, other)
    return on_past >= max(threshold, 0.5 * on_in) and off_past <= max(threshold, 2.0 * off_in)


def _one_end(luma: np.ndarray, steps: np.ndarray, lines: np.ndarray, border: np.ndarray, other: np.ndarray,
             threshold: float, end: int, inside_gap: int, past: slice, inside: slice, parts: int = 3) -> bool:
    """Whether the mosaic ends at gap `end` along each of `parts` runs of the `lines` taken in
    order (`steps`: the step across each gap, line by line): in no run do its cells go on into
    the px just `past` the end (`_cells_go_on`, against the px `inside` it: an ellipse's cut
    cells beyond a lattice line do), every run's end is clean (`_clean_end`, with the gap
    `inside_gap`), and all but one run (a smooth picture may meet one run's cells without a
    step) step there by more than `threshold`. An ellipse's side, or a union's with px
    between its parts, ends elsewhere run by run."""
    if len(lines) < parts:
        return False
    stepping = 0
    for run in np.array_split(lines, parts):
        profile = steps[run].mean(axis=0)
        if (not _clean_end(profile, border, end, inside_gap, threshold)
                or _cells_go_on(luma, run, past, inside, other, threshold)):
            return False
        stepping += profile[end] > threshold
    return stepping >= parts - 1


class _Side(NamedTuple):
    """One side's fit: the mask with the side moved (None: it stays as it was) and the px its
    straight lines now end at where that is the mosaic's end (None: no end found there, or the
    mask stops short of it)."""

    mask: np.ndarray | None
    lines: np.ndarray | None  # the lines that end at `end` (the straight ones that reached it)
    end: int | None


def _fit_side(mask: np.ndarray, luma: np.ndarray, steps: np.ndarray, border: np.ndarray, other: np.ndarray,
              pitch: float, threshold: float, cfg: FitConfig, last: bool, grow: bool) -> _Side:
    """`mask` (lines × pixels) with its `last` (else first) straight end along the pixels moved
    to where the mosaic ends (a copy, or None where it stays), and that end where the mask's
    straight lines reach it.

    Moving in only takes pixels out. Moving out adds pixels, so it is held to more: only the
    straight lines move out (a notch or a second region's side stays), up to where most of
    them end (the outline's own raggedness) and past that only with `grow` and only where
    the pixels it adds show the mosaic's cells across the other axis: stepping on
    its lattice lines at least half as much as the cells inside the end do, and half as much
    or less between them (a flat wall or sky beside a mosaic steps on neither, a picture as
    much between the lines as on them). A ragged side's lines (see the module's docstring)
    move together, and grow past their own ends only on that evidence."""
    stays = _Side(None, None, None)
    lines = np.flatnonzero(mask.any(axis=1))
    if lines.size == 0:
        return stays
    n = mask.shape[1]
    ends = (n - 1 - np.argmax(mask[lines, ::-1], axis=1)) if last else np.argmax(mask[lines], axis=1)
    values, counts = np.unique(ends, return_counts=True)
    end = int(values[np.argmax(counts)])
    reach = int(np.ceil(pitch))
    sign = 1 if last else -1
    straight = np.abs(ends - end) <= max(2, reach // 4)  # an outline's own px of raggedness
    ragged = straight.sum() < cfg.straight * len(lines)
    if ragged:
        # A detected mask's outline may wander by more than that along a mosaic's straight
        # side (on the tuning footage's moving 10 px mosaic, its ends spread over 9 px on most
        # frames). The lines within a cell of their median are fitted together only where the
        # mosaic under them ends at one px (`_one_end`); and none of them grows without the
        # cells' evidence, as if the side ended at its innermost line.
        straight = np.abs(ends - np.median(ends)) <= reach
        if straight.sum() < cfg.straight * len(lines):
            return stays
        end = int(sign * np.min(sign * ends[straight]))
    outer = int(sign * np.max(sign * ends[straight])) if ragged else end  # the band's outermost end
    profile = steps[lines[straight]].mean(axis=0)
    if last:  # gaps from two cells inside to one cell past the end
        gaps = np.arange(max(0, end - 2 * reach), min(n - 1, outer + reach + 1))
    else:
        gaps = np.arange(min(n - 2, end + 2 * reach - 1), max(-1, outer - reach - 2), -1)
    b = edge_gap(profile, border, gaps, threshold, cfg.edge_levels)
    if b is None:
        return stays
    new_end = b if last else b + 1  # the last (first) masked pixel
    if sign * (new_end - outer) > reach or sign * (end - new_end) > reach:
        return stays
    near_px = max(2, reach // 4)
    past = slice(new_end + 1, new_end + 1 + near_px) if last else slice(max(0, new_end - near_px), new_end)
    within = slice(max(0, new_end - reach + 1), new_end + 1) if last else slice(new_end, new_end + reach)
    if ragged and not _one_end(luma, steps, lines[straight], border, other, threshold, b, b - sign, past, within):
        return stays
    px = np.arange(n)[None, :]
    out = mask.copy()
    # In: every line within a cell of the side gives up what lies past the new end.
    near = lines[straight] if ragged else lines[np.abs(ends - end) <= reach]
    out[near] &= (px <= new_end) if last else (px >= new_end)
    # Out, on the straight lines only: up to the side where most lines end (an outline's
    # raggedness), and past it only where the pixels added show the cells. A ragged side's
    # lines are judged run by run (`_one_end`'s runs): one run's cells must not carry another's.
    which = np.flatnonzero(straight)
    added = slice(end + 1, new_end + 1) if last else slice(new_end, end)
    inside = slice(max(0, end - reach + 1), end + 1) if last else slice(end, min(n, end + reach))
    reaching = []
    for run in np.array_split(which, 3) if ragged else [which]:
        reached = min(new_end, end) if last else max(new_end, end)
        if grow and sign * (new_end - end) > 0:
            if _shows_cells(luma, lines[run], added, inside, other, threshold):
                reached = new_end
        for line, own in zip(lines[run], ends[run]) if grow else ():
            lo, hi = (own + 1, reached + 1) if last else (reached, own)
            out[line, lo:hi] = True
        if reached == new_end:
            reaching.append(lines[run])
    # Where the lines now end is the mosaic's end only where that end is clean.
    found = stays
    if reaching and _clean_end(profile, border, b, b - sign, threshold):
        found = _Side(None, np.concatenate(reaching), new_end)
    return found if (out == mask).all() else found._replace(mask=out)


class Fit(NamedTuple):
    """A region fitted to its mosaic (`fit`): the area, and the pixels of its sides where the
    fit found the mosaic's own end (bool H×W, on the area's mask; None where it found none)."""

    area: GridArea
    ends: np.ndarray | None


def fit_region(observed: np.ndarray, area: GridArea, cfg: FitConfig = FitConfig()) -> GridArea:
    """`area` with its grid moved onto the cells and its straight sides onto the mosaic's
    edges (a new area; the same one where nothing moved, or without a grid)."""
    return fit(observed, area, cfg).area


def fit(observed: np.ndarray, area: GridArea, cfg: FitConfig = FitConfig()) -> Fit:
    """`fit_region`, and where the fitted sides end the mosaic (`Fit.ends`)."""
    if area.grid is None or not area.mask.any():
        return Fit(area, None)
    if any(abs(p - round(p)) > 1e-6 for p in area.grid.pitch):
        return Fit(area, None)  # a scaled mosaic's lines fall between px: whole-px moves cannot follow them
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
    across, down = _axis(luma, core), _axis(luma.T, core.T)
    pa, ca = _profile(across)
    pd, cd = _profile(down)
    dx = phase_shift(pa, ca, pw, ox - x0, cfg.phase_search)
    dy = phase_shift(pd, cd, ph, oy - y0, cfg.phase_search)
    grid = Grid((pw, ph), (ox + dx, oy + dy)) if dx or dy else area.grid
    border_a = lattice_gaps(obs.shape[1], pw, grid.origin[0] - x0)
    border_d = lattice_gaps(obs.shape[0], ph, grid.origin[1] - y0)
    fitted, moved, found = mask, False, []
    if len(cols) >= cfg.min_cells * pw and len(rows) >= cfg.min_cells * ph:
        sigma = max(off_line_noise(pa, ca, border_a), off_line_noise(pd, cd, border_d))
        threshold = max(cfg.edge_ratio * sigma, sigma + cfg.edge_levels)
        for transposed in (False, True):
            for last in (True, False):
                lines = fitted.T if transposed else fitted
                side = _fit_side(lines, luma.T if transposed else luma, (down if transposed else across).steps,
                                 border_d if transposed else border_a, border_a if transposed else border_d,
                                 ph if transposed else pw, threshold, cfg, last, area.grows)
                if side.mask is not None:
                    fitted, moved = (side.mask.T if transposed else side.mask), True
                if side.end is not None:
                    found.append((transposed, last, side.lines, side.end))
    ends = None
    if found:  # on the final mask: a later side may have cut an earlier one's lines short
        local = np.zeros_like(fitted)
        sides = {(t, last) for t, last, _, _ in found}
        fitted_rows, fitted_cols = np.flatnonzero(fitted.any(axis=1)), np.flatnonzero(fitted.any(axis=0))
        for transposed, last, on, end in found:
            # Within a cell of a side whose end was not found, where the mosaic stops along
            # this side is not known: its lines there may run on into the picture.
            span, pitch = (fitted_cols, pw) if transposed else (fitted_rows, ph)
            lo = span[0] + (0 if (not transposed, False) in sides else pitch)
            hi = span[-1] - (0 if (not transposed, True) in sides else pitch)
            on = on[(on >= lo) & (on <= hi)]
            if transposed:
                local[end, on] = fitted[end, on]
            else:
                local[on, end] = fitted[on, end]
        if local.any():
            ends = np.zeros_like(area.mask)
            ends[y0:y1, x0:x1] = local
    if not moved and grid is area.grid:
        return Fit(area, ends)
    out = area.mask
    if moved:
        out = area.mask.copy()
        out[y0:y1, x0:x1] = fitted
    return Fit(area._replace(mask=out, grid=grid), ends)
