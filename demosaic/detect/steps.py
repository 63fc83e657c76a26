"""Mean steps across a box's columns (rows), and the step on a lattice's lines."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..mosaic import Grid

# A column (row) pair counts where at least this share of the most pixels of any pair do (a
# box's ragged ends hold too few to judge; reason for the value not recorded)
COUNTED_SHARE = 0.25


def mean_steps(d: np.ndarray, mask: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean step `d` (a box's |differences| along `axis`, 0: between columns) across each
    column (row) pair inside `mask`, 0 where fewer than a quarter of the most pixels count,
    and which pairs count."""
    both = (mask[:, 1:] & mask[:, :-1]) if axis == 0 else (mask[1:] & mask[:-1])
    weight = both.sum(axis=axis)
    counted = weight >= max(COUNTED_SHARE * weight.max(initial=0), 2)  # a box one pixel across has no pair
    return np.where(counted, (d * both).sum(axis=axis) / np.maximum(weight, 1), 0.0), counted


class Steps(NamedTuple):
    """The mean |step| across each column (row) pair of a box inside a mask (`mean_steps`),
    where it counts, the median of those, and the box's first edge in the frame."""

    profile: np.ndarray
    counted: np.ndarray
    floor: float
    start: int

    @classmethod
    def of(cls, diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, axis: int, offset: tuple[int, int]) -> "Steps | None":
        """None where fewer than eight pixel pairs count."""
        profile, counted = mean_steps(diff[axis], mask, axis)
        if counted.sum() < 8:
            return None
        return cls(profile, counted, float(np.median(profile[counted])), offset[axis])

    def on_lines(self, pitch: float, origin: float, frac: float = 0.0, least: int = 2) -> float | None:
        """The mean step across the lines origin + (n + frac) * pitch, above the median (the
        largest of the three pixel pairs nearest each line: coding and scaling blur a border
        over two); None where fewer than `least` lines count."""
        first = np.floor((self.start - origin) / pitch) - 1
        lines = origin + (np.arange(first, first + self.profile.size / pitch + 3) + frac) * pitch
        idx = np.round(lines - self.start).astype(int) - 1  # index i: the border between pixels i and i+1
        idx = idx[(idx >= 1) & (idx < self.profile.size - 1)]
        idx = idx[self.counted[idx]]
        if idx.size < least:
            return None
        p = self.profile
        return float(np.maximum(np.maximum(p[idx - 1], p[idx]), p[idx + 1]).mean() - self.floor)


def quarter_steps(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, axis: int,
                  offset: tuple[int, int]) -> list[Steps]:
    """The step profiles (`Steps`) along `axis` of each quarter of a region's box that has
    one: a lattice is judged per quarter, so that a second mosaic over part of the region
    does not speak for all of it."""
    height, width = mask.shape
    out = []
    for rows in (slice(0, height // 2), slice(height // 2, height)):
        for cols in (slice(0, width // 2), slice(width // 2, width)):
            part = (diff[0][rows, cols.start:cols.stop - 1], diff[1][rows.start:rows.stop - 1, cols])
            steps = Steps.of(part, mask[rows, cols], axis, (offset[0] + cols.start, offset[1] + rows.start))
            if steps is not None:
                out.append(steps)
    return out


def line_steps(diff: tuple[np.ndarray, np.ndarray], mask: np.ndarray, grid: Grid, axis: int,
               offset: tuple[int, int] = (0, 0)) -> float | None:
    """The mean step across `grid`'s lines along `axis` (0: its columns' borders) inside
    `mask`, above the typical step there (`Steps.on_lines`). `diff`: the box's |steps|
    (`abs_diffs`), `offset`: the box's (x, y) in the frame."""
    steps = Steps.of(diff, mask, axis, offset)
    return None if steps is None else steps.on_lines(grid.pitch[axis], grid.origin[axis])
