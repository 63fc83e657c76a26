"""Per-cell statistics on a lattice: means, inner spread, positions in the cell, flat runs."""
from __future__ import annotations


import cv2
import numpy as np

from ..mosaic import Grid, cell_sums


# A cell with this share of its pixels in a window (or region) counts as whole there (reason not recorded)
WHOLE_CELL = 0.9
# A finer lattice fitted to a large-cell mosaic: at least this many flat runs, and this share of
# their length in runs over this many pitches long (reason for the values not recorded)
LONG_RUNS_LEAST, LONG_RUN_PITCHES, LONG_RUN_SHARE = 8, 2.5, 0.5
# Two tones: each cluster's own range at most this share of the gap between them (reason not recorded)
TONE_SPREAD = 0.4


def position_in_cell(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel along one axis: pixels from its cell's first one, and to its cell's last one."""
    pos = np.arange(len(index))
    starts = np.r_[True, index[1:] != index[:-1]]
    ends = np.r_[index[1:] != index[:-1], True]
    from_start = pos - np.maximum.accumulate(np.where(starts, pos, 0))
    to_end = np.minimum.accumulate(np.where(ends, pos, len(index))[::-1])[::-1] - pos
    return from_start, to_end


def steps_on_borders(luma: np.ndarray, pitch, iy: np.ndarray, ix: np.ndarray, part: np.ndarray) -> float:
    """How much more of the luma's steps inside `part` lie within a pixel of a cell border
    (cell indices `iy`, `ix`) than chance would put there, along the axis where that is least.

    A mosaic's cells change only at their borders, along both axes (coding smears each step
    over a pixel or two). Stripes shaded smoothly across them have flat cells on any pitch
    along the shading, but their steps there fall anywhere. Cells under 6 px tell too little
    (three lines of six are half of them): those axes pass."""
    block = luma[..., 0] if luma.ndim == 3 else luma
    least = np.inf
    for axis, index, p in ((1, ix, pitch[0]), (0, iy, pitch[1])):
        if p < 6:
            continue
        steps = np.abs(np.diff(block, axis=axis))
        both = part[:, 1:] & part[:, :-1] if axis == 1 else part[1:] & part[:-1]
        near = np.convolve((index[1:] != index[:-1]).astype(np.float32), np.ones(3, np.float32), "same") > 0
        near = near[None, :] if axis == 1 else near[:, None]
        total = steps[both].sum()
        share = steps[both & near].sum() / total if total > 0 else 0.0
        chance = max(np.broadcast_to(near, both.shape)[both].mean(), 1e-6) if both.any() else 1.0
        least = min(least, share / chance)
    return float(least)


def border_distance(index: np.ndarray) -> np.ndarray:
    """Per pixel along one axis: how many pixels lie between it and its cell's nearer border."""
    return np.minimum(*position_in_cell(index))


def window_cells(grid: Grid, shape: tuple[int, int], rows: slice, cols: slice):
    """The cells of `grid` over a window of a frame of `shape` (H, W): the window's row and
    column cell indices (frame numbering), each pixel's cell label there (row-major from the
    window's first cell), and the window's (cells down, cells across)."""
    iy, ix = grid.cell_index(*shape)
    iy, ix = iy[rows], ix[cols]
    ny, nx = iy[-1] - iy[0] + 1, ix[-1] - ix[0] + 1
    labels = (iy - iy[0])[:, None] * nx + (ix - ix[0])[None, :]
    return iy, ix, labels, (int(ny), int(nx))


def cell_stats(frame: np.ndarray, grid: Grid, rows: slice, cols: slice, margin_div: int = 8):
    """Per cell over a window: mean (ny, nx, C), inner std (ny, nx), and the pixel→cell labels."""
    iy, ix, labels, (ny, nx) = window_cells(grid, frame.shape[:2], rows, cols)
    block = frame[rows, cols].astype(np.float64)
    n = ny * nx
    sums, counts = cell_sums(block, labels, n)
    means = sums / np.maximum(counts, 1)[:, None]
    # Inner pixels: away from their cell's border, which coding smears (one pixel deep, up to
    # four for large cells, whose coding blocks ring further).
    if grid.pitch[0] < 5 or grid.pitch[1] < 5:
        inner = np.ones((len(iy), len(ix)), bool)
    else:
        my, mx = (int(np.clip(p // margin_div, 1, 4)) for p in (grid.pitch[1], grid.pitch[0]))
        inner = (border_distance(iy) >= my)[:, None] & (border_distance(ix) >= mx)[None, :]
    s1, n_in = cell_sums(block, labels, n, weights=inner)
    s2, _ = cell_sums(block * block, labels, n, weights=inner)
    m = s1 / np.maximum(n_in, 1)[:, None]
    var = (s2 / np.maximum(n_in, 1)[:, None] - m * m).max(axis=1)  # the noisiest channel
    std = np.sqrt(np.maximum(var, 0)).reshape(ny, nx)
    std[(n_in < 2).reshape(ny, nx)] = np.inf
    return means.reshape(ny, nx, -1), std, labels, counts.reshape(ny, nx)


def fill_holes(cells: np.ndarray) -> np.ndarray:
    """Fill enclosed holes of a small bool grid (flood fill from the border)."""
    padded = np.pad(cells, 1).astype(np.uint8)
    flood = padded.copy()
    mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, mask, (0, 0), 1)
    return (cells | (flood[1:-1, 1:-1] == 0))


def _flat_runs(luma: np.ndarray, flat: int) -> np.ndarray:
    """Lengths (px) of the horizontal runs of neighbours within `evidence.flat` levels, 3 px or longer."""
    same = np.abs(np.diff(luma.astype(np.int16), axis=1)) <= flat
    padded = np.pad(same, ((0, 0), (1, 1))).astype(np.int8)
    edges = np.diff(padded, axis=1)
    starts, ends = np.nonzero(edges == 1), np.nonzero(edges == -1)
    runs = ends[1] - starts[1] + 1  # row-major order pairs each start with its end
    return runs[runs >= 3]


def too_fine(luma: np.ndarray, grid: Grid, flat: int) -> bool:
    """Whether flat runs in the box are much longer than the lattice's cells: the lattice is
    a finer one fitted to a large-cell mosaic (its cells are flat, its steps on true borders)."""
    for block, pitch in ((luma, grid.pitch[0]), (luma.T, grid.pitch[1])):
        runs = _flat_runs(block, flat)
        if runs.size >= LONG_RUNS_LEAST and runs[runs > LONG_RUN_PITCHES * pitch].sum() >= LONG_RUN_SHARE * runs.sum():
            return True
    return False


def two_tone(values: np.ndarray, gap: float = 60.0) -> bool:
    """Whether the values fall into two clusters, each a quarter or more of them, far apart
    compared with their own spread (a chessboard's dark and light squares, lighting and all)."""
    if values.size < 3:
        return False
    v = np.sort(values)
    cut = int(np.argmax(np.diff(v))) + 1
    low, high = v[:cut], v[cut:]
    between = v[cut] - v[cut - 1]
    return bool(between >= gap and min(cut, v.size - cut) >= v.size / 4
                and max(np.ptp(low), np.ptp(high)) <= TONE_SPREAD * between)
