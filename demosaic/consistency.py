"""The consistency step: each restored cell's mean moved to the colour the mosaic shows for it,
with a smooth field rather than a constant per cell, within per-pixel bounds; and the checks
that measure how far a result is from that (`cell_errors`, `cell_means`, `cell_mean_error`).

Cut cells follow `demosaic.mosaic`'s convention (the whole cell's mean, part of it visible
outside the area), or, with bounds, ffmpeg's (the mean of the part inside): `_target_sums`.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import cv2
import numpy as np

from .mosaic import (CellTargets, CellWindow, Grid, GridArea, ObservedCells, cell_targets, cell_window, narrowed,
                     observed_cells, window_counts, window_sums)

SMOOTH_TOLERANCE = 0.05  # levels: back-projection stops once no cell needs more than this


class _Tent(NamedTuple):
    """Bilinear interpolation between cell centres over a window, one axis at a time: each
    pixel row (column) takes `w0` of cell row `i0` and 1 - `w0` of `i0` + 1 (edges replicated)."""

    i0y: np.ndarray  # (h,) int
    i1y: np.ndarray
    w0y: np.ndarray  # (h,) float
    i0x: np.ndarray  # (w,)
    i1x: np.ndarray
    w0x: np.ndarray


def _tent(grid: Grid, win: CellWindow) -> _Tent:
    def axis(start: int, stop: int, pitch: float, origin: float, first: int, n: int):
        u = (np.arange(start, stop) + 0.5 - origin) / pitch - 0.5 - first  # position among cell centres
        i0 = np.floor(u).astype(np.int64)
        frac = u - i0
        return np.clip(i0, 0, n - 1), np.clip(i0 + 1, 0, n - 1), 1.0 - frac

    ys = axis(win.rows.start, win.rows.stop, grid.pitch[1], grid.origin[1], win.first[0], win.shape[0])
    xs = axis(win.cols.start, win.cols.stop, grid.pitch[0], grid.origin[0], win.first[1], win.shape[1])
    return _Tent(*ys, *xs)


def _tent_field(values: np.ndarray, tent: _Tent, shape: tuple[int, int]) -> np.ndarray:
    """(h, w, C): per-cell `values` (n, C) interpolated bilinearly over the window."""
    v = values.reshape(shape[0], shape[1], -1)
    rows = tent.w0y[:, None, None] * v[tent.i0y] + (1 - tent.w0y)[:, None, None] * v[tent.i1y]
    return tent.w0x[None, :, None] * rows[:, tent.i0x] + (1 - tent.w0x)[None, :, None] * rows[:, tent.i1x]


def _tent_response(t: CellTargets, tent: _Tent) -> np.ndarray:
    """(n, 3, 3): how much cell j's mean moves per unit of the tent value at the cell (dy, dx)
    from it (the field moves the masked pixels only). A pixel of cell row r interpolates cell
    rows r - 1 .. r + 1 only, so a 3×3 stencil per cell holds the whole operator."""
    ncy, ncx = t.win.shape
    cy, cx = t.win.labels[:, :1] // ncx, t.win.labels[:1, :] % ncx  # (h, 1), (1, w)
    response = np.zeros(t.n * 9)
    for iy, wy in ((tent.i0y, tent.w0y), (tent.i1y, 1 - tent.w0y)):
        for ix, wx in ((tent.i0x, tent.w0x), (tent.i1x, 1 - tent.w0x)):
            weight = wy[:, None] * wx[None, :] * t.inside
            index = (t.win.labels * 3 + (iy[:, None] - cy + 1)) * 3 + (ix[None, :] - cx + 1)
            response += np.bincount(index.ravel(), weight.ravel(), minlength=t.n * 9)
    return response.reshape(t.n, 3, 3) / np.maximum(t.counts, 1)[:, None, None]


def _apply_response(response: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(n, C): each cell's mean change when the tent carries `values` (n, C)."""
    v = np.pad(values.reshape(shape[0], shape[1], -1), ((1, 1), (1, 1), (0, 0)))
    r = response.reshape(shape[0], shape[1], 3, 3, 1)
    out = sum(r[:, :, dy, dx] * v[dy:dy + shape[0], dx:dx + shape[1]] for dy in range(3) for dx in range(3))
    return out.reshape(values.shape)


def _smooth_correction(out: np.ndarray, area: GridArea, rounds: int, ring: HeldCells) -> None:
    """Move `out`'s masked pixels (in place) to the observed cell means with a smooth field
    rather than a constant per cell, so no cell edges are drawn in.

    The field is a tent: values at the cell centres, interpolated bilinearly. Each round adds
    every cell's remaining offset to its value (zero in the unmasked cells around the area):
    iterative back-projection, run on the cells (the response of every cell's mean to its
    3×3 neighbours' values is computed once) until no cell is off by more than
    `SMOOTH_TOLERANCE` or `rounds` are done; then the field is drawn once. Bilinear: inside
    the area the cell average of a tent keeps 1/4 to 1 of any pattern of offsets, so the rounds
    converge (at 0.75 a round at worst); a cell that a frame edge or a sub-pixel pitch cuts can
    converge far slower (0.98), and what the rounds leave there the exact step settles. (Solving
    exactly instead, by least squares, needs wild values there: ±80 levels for a 1-level gap.) Only
    cells at least half inside the area take part: a cut cell with a few masked pixels would
    scale its offset by its size over theirs and spread that to its neighbours (measured: one
    ellipse at 24 px cells lost 4.5 dB that way); the exact step after this one settles them.
    """
    t = cell_targets(out, ring.cells)
    share = np.where(2 * t.in_counts >= t.counts, t.counts / np.maximum(t.in_counts, 1), 0.0)[:, None]
    sums = window_sums(t.block, t.win)
    fixed = window_sums(t.block, t.win, ~t.inside)
    # (n, C) how far each cell's mean is from where the exact step will put it (with bounds, a
    # cut cell may follow ffmpeg's convention: `_target_sums`).
    gap = (_aimed(_target_sums(t, fixed, ring.sums), sums, ring.slack) - sums) / np.maximum(t.counts, 1)[:, None]
    tent = _tent(area.grid, t.win)
    response = _tent_response(t, tent)
    values = np.zeros_like(gap)
    for _ in range(rounds):
        # The change each masked pixel of a cell needs on average for the cell to reach its colour.
        need = (gap - _apply_response(response, values, t.win.shape)) * share
        if np.abs(need).max() <= SMOOTH_TOLERANCE:
            break
        values += need
    # In place where masked (no gathered copies of the window's pixels).
    inside = t.inside[..., None]
    np.add(t.block, _tent_field(values, tent, t.win.shape), out=t.block, where=inside)
    np.clip(t.block, *ring.window, out=t.block, where=inside)  # what clipping takes, the exact step redistributes


def _remainder_weights(t: CellTargets, pitch: tuple[float, float]) -> np.ndarray:
    """(h, w) weights for the exact step's share of a cell's remaining offset: small next to
    a border with another masked cell, rising to 1 half a cell away, so that what is left
    after the smooth step draws no edge between masked cells. Borders with unmasked pixels
    do not count: the offset has to go somewhere."""
    labels = np.where(t.inside, t.win.labels, -1)
    edge = np.zeros(labels.shape, bool)
    for a, b in (((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                 ((slice(1, None), slice(None)), (slice(None, -1), slice(None)))):
        differs = (labels[a] != labels[b]) & (labels[a] >= 0) & (labels[b] >= 0)
        edge[a] |= differs
        edge[b] |= differs
    dist = cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 3)
    return np.clip((dist + 0.5) / (min(pitch) / 2), 0.05, 1.0)


class Bounds(NamedTuple):
    """Per-pixel limits (H×W×C float) the consistency step may not push a restored pixel past."""

    lo: np.ndarray
    hi: np.ndarray


class HeldCells(NamedTuple):
    """An area's observed cells on one window, with what the bounds allow there."""

    cells: ObservedCells
    sums: tuple[np.ndarray, np.ndarray] | None  # (n, C) each cell's masked pixels' lo and hi summed
    window: tuple[np.ndarray | float, np.ndarray | float]  # (h, w, C) lo and hi over the window, or the 8-bit range
    # (k, C) each masked pixel's lo and hi, or the 8-bit range; None where not taken (the smooth
    # step's ring reads `window`)
    pixels: tuple[np.ndarray | float, np.ndarray | float] | None
    slack: np.ndarray | None  # (n,) how far each cell's sum may stay from its target (None: nowhere)


def _held_cells(cells: ObservedCells, bounds: Bounds | None, slack: np.ndarray | None,
                pixels: bool = True) -> HeldCells:
    if bounds is None:
        return HeldCells(cells, None, (0.0, 255.0), (0.0, 255.0), slack)
    win, inside = cells.win, cells.inside
    lo, hi = bounds.lo[win.rows, win.cols], bounds.hi[win.rows, win.cols]
    sums = (window_sums(lo, win, inside), window_sums(hi, win, inside))
    return HeldCells(cells, sums, (lo, hi), (lo[inside], hi[inside]) if pixels else None, slack)


class Evidence(NamedTuple):
    """What one area's observed cells ask of any result: its cells with a ring of cells around
    them (the smooth step's window) and without (the exact step's and the last check's), and
    what the bounds allow on each. The same for every candidate result of the area, so
    `evidence` is taken once and handed to `enforce_cell_means` and `cell_errors`."""

    ring: HeldCells
    cells: HeldCells


def coding_noise(observed: np.ndarray, cells: ObservedCells) -> float:
    """Levels: the median, over the area's whole cells (its masked cells where none is whole),
    of each cell's masked pixels' standard deviation (largest channel). 0 for a mosaic as
    drawn; coding adds about 1 at CRF 18–23 and 2.5 at CRF 28."""
    win, inside = cells.win, cells.inside
    obs = observed[win.rows, win.cols].astype(np.float64)
    masked = cells.in_counts > 0
    mean = np.where(masked[:, None], cells.colour, 0.0)
    var = window_sums(obs * obs, win, inside) / np.maximum(cells.in_counts, 1)[:, None] - mean ** 2
    spread = np.sqrt(np.maximum(var, 0.0)).max(axis=1)
    whole = masked & (cells.in_counts == cells.counts)
    typical = whole if whole.any() else masked
    return float(np.median(spread[typical])) if typical.any() else 0.0


def evidence(observed: np.ndarray, area: GridArea, bounds: Bounds | None = None,
             cut_slack: float = 0.0) -> Evidence | None:
    """`area`'s evidence in `observed` (None: a mask with no pixel).

    `cut_slack`: a cell the area's edge cuts may keep its mean within this many times the
    area's `coding_noise` of the colour it shows (0: exactly). A coded cell's colour is off by
    about 2 levels, whole or cut; a cut cell's masked part must carry the whole cell's error
    times the cell's size over its part's, so an exact mean there pushes a sliver of it by
    tens of levels (measured on the tuning photos at CRF 18–28: 18–36 levels median, 150–380
    at the 90th percentile, for cells less than a quarter inside). Whole cells stay exact."""
    ring = observed_cells(observed, area, pad_cells=1)
    if ring is None:
        return None
    inner = narrowed(ring, area, 0)
    noise = coding_noise(observed, ring) if cut_slack > 0 else 0.0

    def slack(cells: ObservedCells) -> np.ndarray | None:
        if noise <= 0:
            return None
        cut = (cells.in_counts > 0) & (cells.in_counts < cells.counts)
        return np.where(cut, cut_slack * noise * cells.counts, 0.0)

    return Evidence(_held_cells(ring, bounds, slack(ring), pixels=False), _held_cells(inner, bounds, slack(inner)))


def _aimed(target: np.ndarray, current: np.ndarray, slack: np.ndarray | None) -> np.ndarray:
    """(n, C) where each cell's sum goes: `target`, or as near `current` as `slack` lets it stay."""
    if slack is None:
        return target
    return np.clip(current, target - slack[:, None], target + slack[:, None])


def _target_sums(t: CellTargets, fixed: np.ndarray, limits: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """(n, C) the sum each cell's pixels must reach; `fixed` (n, C): each cell's unmasked sum;
    `limits`: the sums of the bounds over each cell's masked pixels (None: no bounds).

    A whole cell: its observed colour times its size. A cut cell (part of it outside the
    area) has two conventions in the wild: the synthesiser and editors pixelate the whole
    frame and mask the result, so the cut cell shows the mean of the *whole* cell, whose
    visible part is still there; ffmpeg's crop + pixelize shows the mean of the in-crop part
    only. Without bounds the first holds. With bounds, a cut cell follows the first only
    where the mean it implies for the masked part lies within what the bounds allow, and
    the second otherwise: a mask that reaches past a mosaic (detected, dilated) must not
    have its real pixels' colour forced into the masked ones as streaks."""
    whole = t.colour * t.counts[:, None]
    if limits is None:
        return whole
    lo_sum, hi_sum = limits
    fits = (whole - fixed >= lo_sum) & (whole - fixed <= hi_sum)  # (n, C): channel by channel
    return np.where(fits, whole, t.colour * t.in_counts[:, None] + fixed)


def enforce_cell_means(
    restored: np.ndarray, observed: np.ndarray, areas: Sequence[GridArea], max_iter: int = 32,
    smooth_rounds: int = 30, bounds: Bounds | None = None, evidences: Sequence[Evidence | None] | None = None,
) -> np.ndarray:
    """Shift restored pixels so each mean-mode cell's mean equals the colour it was observed with.

    `restored` is the composite (H×W×C, float or uint8): restored inside the areas,
    unchanged outside. Only masked pixels move. A whole cell's mean (visible part of a
    cut cell included) must equal the observed cell colour; where clipping to [0, 255]
    stops a pixel, the remainder goes to the cell's other masked pixels. Returns float32.

    The correction is smooth first (up to `smooth_rounds` of back-projection, see
    `_smooth_correction`); then an exact step takes up what is left, each cell's remainder
    shared out by weights near zero at its borders with other masked cells
    (`_remainder_weights`). A constant per cell would draw the cell grid: on held-out training
    photos its grid visibility (`metrics.grid_visibility`) was 3.3–5.4 at 16–24 px cells,
    against 1.2 for the network's own output.

    With `bounds` no pixel leaves [lo, hi] (instead of [0, 255]): where an exact mean would
    need a pixel past them, the cell stays approximate (see `_target_sums` for cut cells).
    `evidences` (one per area, from `evidence(observed, area, bounds)`) saves taking them again;
    given, they stand for `observed` and `bounds` (taken with them), which are not read again.
    """
    out = restored.astype(np.float64)  # a copy
    for k, area in enumerate(areas):
        if area.mode != "mean":
            continue
        ev = evidences[k] if evidences is not None else evidence(observed, area, bounds)
        if ev is None:
            continue
        if smooth_rounds:
            _smooth_correction(out, area, smooth_rounds, ev.ring)
        t = cell_targets(out, ev.cells.cells)
        win, n, block, inside, all_counts = t.win, t.n, t.block, t.inside, t.counts
        fixed = window_sums(block, win, ~inside)  # visible parts of cut cells
        target = _target_sums(t, fixed, ev.cells.sums)  # the sum each cell must reach ...
        if ev.cells.slack is not None:  # ... or, a coded cut cell, come near
            target = _aimed(target, window_sums(block, win), ev.cells.slack)
        lab = win.labels[inside]
        weight = _remainder_weights(t, area.grid.pitch)[inside][:, None]
        lo, hi = ev.cells.pixels
        pix = np.clip(block[inside], lo, hi)  # (k, C) the pixels free to move
        channels = pix.shape[1]
        # One bincount for every channel: each (cell, channel) a bin, summed in the same order.
        bins = (lab[:, None] * channels + np.arange(channels)).ravel()
        for _ in range(max_iter):
            current = fixed + np.bincount(bins, weights=pix.ravel(), minlength=n * channels).reshape(n, channels)
            deficit = target - current  # (n, C)
            # Pixels that can still move in the needed direction share the deficit by their weight.
            d = deficit[lab]
            free = np.where(d > 0, pix < hi, pix > lo) * weight
            w_free = np.bincount(bins, weights=free.ravel(), minlength=n * channels).reshape(n, channels)
            # Done when every cell is on target or has no pixel left that can move (clipped).
            if np.all((np.abs(deficit) <= 1e-6 * np.maximum(all_counts, 1)[:, None]) | (w_free == 0)):
                break
            step = deficit / np.maximum(w_free, 1e-12)
            pix = np.clip(pix + free * step[lab], lo, hi)
        block[inside] = pix
    return out.astype(np.float32)


def cell_means(image: np.ndarray, area: GridArea) -> tuple[np.ndarray, np.ndarray]:
    """(means (n, C), counts (n,)) of `image` over the whole cells touching `area` (for checks)."""
    win = cell_window(area.mask, area.grid)
    if win is None:
        return np.zeros((0, image.shape[-1])), np.zeros(0)
    sums, counts = window_sums(image[win.rows, win.cols], win), window_counts(win)
    keep = counts > 0
    return sums[keep] / counts[keep][:, None], counts[keep]


def cell_errors(restored: np.ndarray, observed: np.ndarray, area: GridArea, bounds: Bounds | None = None,
                ev: Evidence | None = None) -> np.ndarray:
    """|sum of each cell of `restored` − the sum it must have| (levels, largest channel),
    one value per masked cell, with `enforce_cell_means`' targets: the re-pixelated result
    against the observed cells, as the shift the cell's masked pixels would still need (a
    cut cell's whole-cell error times its size over its masked part). Mean-mode areas only.
    `ev`: `evidence(observed, area, bounds)`, taken already (then `observed` and `bounds` are not read)."""
    if area.mode != "mean":
        return np.zeros(0)
    ev = ev if ev is not None else evidence(observed, area, bounds)
    if ev is None:
        return np.zeros(0)
    t = cell_targets(restored, ev.cells.cells)
    sums = window_sums(t.block, t.win)
    # Per masked pixel: the shift the cell's masked pixels would still need.
    fixed = window_sums(t.block, t.win, ~t.inside)
    error = np.abs(sums - _target_sums(t, fixed, ev.cells.sums))
    if ev.cells.slack is not None:
        error = np.maximum(error - ev.cells.slack[:, None], 0.0)
    error /= np.maximum(t.in_counts, 1)[:, None]
    return error[t.in_counts > 0].max(axis=1)


def cell_mean_error(restored: np.ndarray, observed: np.ndarray, areas: Sequence[GridArea],
                    changed_only: bool = False, whole_only: bool = False) -> float:
    """Largest |whole-cell mean of `restored` − the cell's observed colour| (levels, any channel)
    over the mean-mode cells whose colour the masked pixels can reach in [0, 255] (with
    `changed_only`, over the cells with a masked pixel `restored` changed: a cell the
    restorer kept as the mosaic is not its error; with `whole_only`, over the cells wholly
    inside an area: coded cut cells may keep their means within `SafetyConfig.cut_slack`)."""
    worst = 0.0
    for area in areas:
        if area.mode != "mean":
            continue
        cells = observed_cells(observed, area)
        if cells is None:
            continue
        t = cell_targets(restored, cells)
        sums = window_sums(t.block, t.win)
        fixed = window_sums(t.block, t.win, ~t.inside)
        target = t.colour * t.counts[:, None]
        reachable = (t.in_counts[:, None] > 0) & (target >= fixed) & (target <= fixed + 255 * t.in_counts[:, None])
        error = np.abs(sums / np.maximum(t.counts, 1)[:, None] - t.colour)
        if changed_only:
            moved = np.any(restored[t.win.rows, t.win.cols] != observed[t.win.rows, t.win.cols], axis=-1) & t.inside
            reachable &= (np.bincount(t.win.labels[moved], minlength=t.n) > 0)[:, None]
        if whole_only:
            reachable &= (t.in_counts == t.counts)[:, None]
        worst = max(worst, float(error[reachable].max(initial=0.0)))
    return worst

