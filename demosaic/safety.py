"""The restore side's guards: restore only what is verifiably mosaic, never push a pixel past
what its neighbourhood supports, and keep a region as it came when the result fails the check.

A region arrives with a mask and a cell grid (detected, voted, dilated or given). A detected
one is first fitted to the mosaic in the frame (`fitting.fit`: the grid's phase, its
straight sides' ends); the user's is taken as drawn. Before the model runs, the region must
fit its grid (its cells flatter on it than half a cell off) and, unless the user gave the
mask, must not look like flat graphics. Then each cell on the region's edge is *verified*:
its masked pixels are smooth within the region's own noise (a mosaic cell holds one colour;
coding adds a little) and, where the mask cuts it, they step from the picture beside them
(unless the cut is on a side where the fit found the mosaic's end: `fitting.Fit.ends`).
Only verified cells (and every whole inner cell) are restored; masked pixels outside them
(a mask that reaches past the mosaic, a vote that lags a moving one) keep their input
pixels.

After the model, the consistency step moves each restored cell's mean to its observed
colour within per-pixel bounds (the 3×3 neighbouring cells' colour range and a margin), and
the result is re-pixelated on the grid and compared with the observed cells (the last
check). A region that fails it is restored with the guide (bicubic of the cells) through
the same bounded step and check; if that fails too, the region stays as it came.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .config import SafetyConfig
from .consistency import Bounds, Evidence, cell_errors
from .fitting import Fit, fit
from .mosaic import NEIGHBOURS, Grid, GridArea, cell_stats, channel_absdiff


class RegionBounds(NamedTuple):
    """What one verified region allows its restored pixels: per-pixel limits over its cells'
    window of the frame (`rows`, `cols`), set where `held` (the verified cells' masked pixels)."""

    rows: slice
    cols: slice
    held: np.ndarray  # bool (h, w)
    lo: np.ndarray  # float32 (h, w, C); only `held` pixels mean anything
    hi: np.ndarray


class Verified(NamedTuple):
    """One region after verification: the mask cut to its verified cells (None: the region
    is kept as it came), how many of its cells were flat / restored, and the limits on its
    restored pixels (None where nothing is restored)."""

    area: GridArea | None
    cells: int  # cells with masked pixels
    flat: int
    restored: int
    passed: bool = True  # False: kept whole (wrong grid, too little evidence, or flat graphics)
    bounds: RegionBounds | None = None


def neighbourhood_range(values: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, the (min, max) of (n, C) `values` over its 3×3 neighbourhood of cells."""
    grid = values.reshape(shape[0], shape[1], -1)
    padded = np.pad(grid, ((1, 1), (1, 1), (0, 0)), mode="edge")
    stack = np.stack([padded[dy:dy + shape[0], dx:dx + shape[1]] for dy in range(3) for dx in range(3)])
    return stack.min(axis=0).reshape(values.shape), stack.max(axis=0).reshape(values.shape)


def verify_region(observed: np.ndarray, area: GridArea, cfg: SafetyConfig, ends: np.ndarray | None = None) -> Verified:
    """Cut `area` to its verified cells (see the module's docstring), with each restored
    pixel's limits (`Verified.bounds`). `ends` (bool H×W, `fitting.Fit.ends`): masked pixels
    on a side where the fit found the mosaic's end; the cells it cuts there are not doubted
    as picture beside it."""
    if area.grid is None:  # no grid, no evidence to restore from: the mosaic stays
        return Verified(None, 0, 0, 0, passed=not area.mask.any())
    stats = cell_stats(observed, area, pad_cells=1)
    if stats is None or area.mode != "mean":
        return Verified(area if stats is not None else None, 0, 0, 0)
    masked = stats.in_counts > 0
    whole = masked & (stats.in_counts == stats.counts)
    typical = whole if whole.any() else masked
    noise = float(np.median(stats.spread[typical]))
    texture = float(np.median(stats.roughness[typical]))
    flat = masked & (stats.roughness <= max(cfg.flat_floor, cfg.flat_ratio * texture))
    cells, n_flat = int(masked.sum()), int(flat.sum())
    doubt = not area.trusted and (whole.sum() < cfg.min_cells or looks_like_graphics(stats, whole, noise, cfg))
    if n_flat < cfg.min_verified * cells or doubt or not _grid_fits(observed, area, noise, cfg):
        return Verified(None, cells, n_flat, 0, passed=False)
    # Inside the region, a cell that is not flat is still a mosaic cell (a region that passed
    # has its grid right), only coded worse: moving mosaics through H.264 have cells of 3–5×
    # the median spread. On the region's edge a cell that is not flat is mostly the picture
    # (a mask that reaches past the mosaic): it keeps its pixels.
    flat |= whole & ~_on_edge(whole, stats.shape)
    # A user's mask is verified here too, though its region is trusted to be a mosaic: users draw
    # past the mosaic. Measured on the tuning photos with the true masks grown by half a cell:
    # restoring every cell such a mask cuts took the picture past the mosaic 8–13 dB below
    # itself at CRF 23 (against 1–3 dB as here). With true masks it would have taken grid
    # visibility from 1.17 / 1.30 / 1.40 to 1.08 / 1.09 / 1.26 (8 / 16 / 24 px, uncompressed)
    # and region PSNR up by 0.1–0.4 dB at CRF 23: the flat blocks along the edge of a tight mask
    # are the cut cells kept here.
    # A side the fit found ending the mosaic, cleanly, showed that end on its lines' mean
    # steps (`fitting.Fit.ends`): a cut cell there is the mosaic's, however little its own
    # part steps from a smooth picture beside it. Measured on the tuning footage's moving
    # 10 px mosaic (ffmpeg's cut cells along two sides): 67 % of its cut cells were kept by
    # the per-cell test below, leaving their blocks along the edge.
    flat &= ~_continues_outside(observed, area.mask, stats, ends)
    inside = area.mask[stats.rows, stats.cols] & flat[stats.labels]
    mask = np.zeros_like(area.mask)
    mask[stats.rows, stats.cols] = inside
    if not inside.any():
        return Verified(None, cells, n_flat, int(flat.sum()))
    lo, hi = neighbourhood_range(stats.colour, stats.shape)
    # Per cell, then spread to its pixels (the same values as per pixel, without float64 copies of them).
    lo_px = np.clip(lo - cfg.bound_margin, 0, 255).astype(np.float32)[stats.labels]
    hi_px = np.clip(hi + cfg.bound_margin, 0, 255).astype(np.float32)[stats.labels]
    if area.trusted:
        # The user's (or the truth's) mask cuts cells where the mosaic's shape does: such a
        # cut cell shows the whole cell's mean (the synthesiser's and editors' convention),
        # whatever its masked part must then be. Only the 8-bit range bounds it.
        cut = ((stats.in_counts > 0) & (stats.in_counts < stats.counts))[stats.labels]
        lo_px[cut], hi_px[cut] = 0.0, 255.0
    held = RegionBounds(stats.rows, stats.cols, inside, lo_px, hi_px)
    return Verified(area._replace(mask=mask), cells, n_flat, int(flat.sum()), bounds=held)


def _grid_fits(observed: np.ndarray, area: GridArea, noise: float, cfg: SafetyConfig) -> bool:
    """Whether the cells are flatter on the grid than on the same grid half a cell off (the
    spread's median on it at most `grid_ratio` of the shifted one's, or within the floor).
    A spread measured against the region's own median cannot tell: on a wrong grid every
    cell is equally rough."""
    (pw, ph), (ox, oy) = area.grid.pitch, area.grid.origin
    shifted = cell_stats(observed, GridArea(area.mask, Grid(area.grid.pitch, (ox + pw / 2, oy + ph / 2))), 0,
                         texture=False)
    whole = (shifted.in_counts > 0) & (shifted.in_counts == shifted.counts)
    if not whole.any():
        return True
    return noise <= max(cfg.flat_floor, cfg.grid_ratio * float(np.median(shifted.spread[whole])))


def colour_variety(colours: np.ndarray, noise: float) -> float:
    """Distinct colours per cell among (n, C) cell colours, each channel binned by twice the
    noise (a level at least)."""
    if len(colours) == 0:
        return 0.0
    bins = np.round(colours / max(1.0, 2.0 * noise))
    return len(np.unique(bins, axis=0)) / len(colours)


def stepping_share(colours: np.ndarray, whole: np.ndarray, shape: tuple[int, int], noise: float) -> float:
    """The share of neighbouring whole cells whose colours differ by more than twice the
    noise (a level at least), any channel."""
    grid, ok = colours.reshape(shape[0], shape[1], -1), whole.reshape(shape)
    steps = np.concatenate([np.abs(grid[1:] - grid[:-1]).max(axis=2)[ok[1:] & ok[:-1]],
                            np.abs(grid[:, 1:] - grid[:, :-1]).max(axis=2)[ok[:, 1:] & ok[:, :-1]]])
    return float((steps > max(1.0, 2.0 * noise)).mean()) if steps.size else 0.0


def looks_like_graphics(stats, whole: np.ndarray, noise: float, cfg: SafetyConfig) -> bool:
    """Flat graphics a lattice happens to fit: few distinct colours *and* few neighbours that
    differ. A mosaic over a picture has both many; one over a smooth gradient few colours but
    steps everywhere; one over a flat colour neither, but restoring that gives it back anyway.
    Measured (tuning: mosaics over 24 mate-backgrounds, uncompressed and CRF 23, and the
    tuning footage; graphics: lavfi testsrc's detected regions): testsrc variety ≤ 0.11 with
    ≤ 0.30 of neighbours stepping; mosaics over pictures and gradients 0.22–1.0 or ≥ 0.43
    stepping (the exceptions: flat wallpapers, 0 and 0, and one graphic wallpaper, 0.14 and
    0.14–0.19)."""
    colours = stats.colour[whole]
    return (colour_variety(colours, noise) < cfg.min_variety
            and stepping_share(stats.colour, whole, stats.shape, noise) < cfg.min_stepping)


def _continues_outside(observed: np.ndarray, mask: np.ndarray, stats, ends: np.ndarray | None = None) -> np.ndarray:
    """(n,) cells the mask cuts whose masked part runs on into the unmasked part without a
    step: the picture, under a mask drawn or grown past the mosaic (a cut mosaic cell steps
    from its one colour to the picture beside it). Measured inside each cell: the mean
    |difference| across the mask's edge is within the unmasked part's own roughness
    (3 levels at least) and 1.5× it. The edge's pixels on `ends` (the mosaic's own end,
    found by the fit) are not measured: a cell cut only there is not doubted."""
    obs = observed[stats.rows, stats.cols]
    inside, labels = mask[stats.rows, stats.cols], stats.labels
    found = ends[stats.rows, stats.cols] if ends is not None else np.zeros_like(inside)
    n = len(stats.counts)
    across, n_across, rough, n_rough = (np.zeros(n) for _ in range(4))
    for a, b in NEIGHBOURS:
        same = labels[a] == labels[b]
        diff = channel_absdiff(obs[a], obs[b])
        cross = same & (inside[a] != inside[b]) & ~found[a] & ~found[b]
        out = same & ~inside[a] & ~inside[b]
        across += np.bincount(labels[a][cross], weights=diff[cross], minlength=n)
        n_across += np.bincount(labels[a][cross], minlength=n)
        rough += np.bincount(labels[a][out], weights=diff[out], minlength=n)
        n_rough += np.bincount(labels[a][out], minlength=n)
    cut = (n_across > 0) & (n_rough > 0)
    step = across / np.maximum(n_across, 1)
    picture = rough / np.maximum(n_rough, 1)
    return cut & (step <= np.maximum(3.0, 1.5 * picture))


def _on_edge(whole: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(n,) cells with a 4-neighbour that is not wholly masked (or none, at the frame's edge)."""
    grid = np.pad(whole.reshape(shape), 1, constant_values=False)
    inner = grid[:-2, 1:-1] & grid[2:, 1:-1] & grid[1:-1, :-2] & grid[1:-1, 2:]
    return ~inner.ravel()


class Guarded(NamedTuple):
    """One frame's regions ready to restore: verified masks, the per-pixel bounds, and counts."""

    areas: list[GridArea]  # the regions with verified cells, cut to them
    held: tuple[RegionBounds, ...]  # each restored region's limits, in the order of `areas`
    regions: int  # regions given
    kept: int  # regions kept as they came (too few flat cells: wrong grid or not a mosaic)

    def bounds(self, window: tuple[slice, slice], shape: tuple[int, ...]) -> Bounds:
        """The limits over `window` (rows, cols) of a frame of `shape` (H, W, C), as the frame's
        own slice of them: each region's where it holds them (a later region's over an earlier
        one's), the 8-bit range elsewhere. Only the regions' windows are held, not frame-sized
        arrays: allocating and filling two of those a frame was most of the guards' time."""
        rows, cols = (slice(*s.indices(n)[:2]) for s, n in zip(window, shape[:2]))
        h, w = max(0, rows.stop - rows.start), max(0, cols.stop - cols.start)
        lo, hi = np.zeros((h, w, shape[2]), np.float32), np.full((h, w, shape[2]), 255.0, np.float32)
        for b in self.held:
            y0, y1 = max(rows.start, b.rows.start), min(rows.stop, b.rows.stop)
            x0, x1 = max(cols.start, b.cols.start), min(cols.stop, b.cols.stop)
            if y0 >= y1 or x0 >= x1:
                continue
            src = (slice(y0 - b.rows.start, y1 - b.rows.start), slice(x0 - b.cols.start, x1 - b.cols.start))
            dst = (slice(y0 - rows.start, y1 - rows.start), slice(x0 - cols.start, x1 - cols.start))
            held = b.held[src][..., None]  # copied where held: no gathered copies of the pixels
            np.copyto(lo[dst], b.lo[src], where=held)
            np.copyto(hi[dst], b.hi[src], where=held)
        return Bounds(lo, hi)


def fitted_areas(observed: np.ndarray, areas: Sequence[GridArea], cfg: SafetyConfig | None) -> list[GridArea]:
    """Each detected area fitted to its mosaic in `observed` (`fitting.fit`), as the
    guards take it; the user's own masks as drawn, and every area as given without guards
    (`cfg` None) or fitting (`cfg.fit` None)."""
    return [f.area for f in _fits(observed, areas, cfg)]


def _fits(observed: np.ndarray, areas: Sequence[GridArea], cfg: SafetyConfig | None) -> list[Fit]:
    if cfg is None or cfg.fit is None:
        return [Fit(a, None) for a in areas]
    return [Fit(a, None) if a.trusted else fit(observed, a, cfg.fit) for a in areas]


def guard_frame(observed: np.ndarray, areas: Sequence[GridArea], cfg: SafetyConfig) -> Guarded:
    """Each area fitted to its mosaic (`fitted_areas`) and verified."""
    out, held, kept = [], [], 0
    for area, ends in _fits(observed, areas, cfg):
        v = verify_region(observed, area, cfg, ends)
        if v.area is not None:
            out.append(v.area)
            held.append(v.bounds)
        elif not v.passed:
            kept += 1
    return Guarded(out, tuple(held), len(areas), kept)


def passes_check(result: np.ndarray, observed: np.ndarray, area: GridArea, bounds: Bounds,
                 cfg: SafetyConfig, ev: Evidence | None = None) -> bool:
    """The last check: re-pixelated on its grid, the result shows the observed cells (the
    `check_quantile` of its cells' mean errors is within `check_levels`). `ev`: the area's
    `consistency.evidence`, where taken already."""
    errors = cell_errors(result, observed, area, bounds, ev)
    return errors.size == 0 or float(np.quantile(errors, cfg.check_quantile)) <= cfg.check_levels
