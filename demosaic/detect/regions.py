"""Found regions: `Region` and `Detection`, and the label-map operations the stages share."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, NamedTuple, Sequence

import numpy as np

from ..mosaic import AreaCrop, Grid, GridArea
from ..tiles import group_boxes
from .config import DetectorConfig


@dataclass(frozen=True)
class Region:
    """One detected mosaic region."""

    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 (end exclusive)
    pitch: tuple[float, float]  # cell (width, height), sub-pixel where the video was scaled
    origin: tuple[float, float]  # (x, y) of a cell corner: the grid phase
    mode: str  # "mean" (assumed: one frame cannot tell mean from a sampled pixel)
    cells: int
    score: float  # share of the region's cells showing a step to a neighbour (for a region only
    # the segmenter found: its mean probability there)

    @property
    def grid(self) -> Grid:
        return Grid(self.pitch, self.origin)


@dataclass(frozen=True)
class Detection:
    mask: np.ndarray  # bool H×W, True = mosaic to restore
    regions: tuple[Region, ...] = ()
    labels: np.ndarray | None = field(default=None, repr=False)  # int32 H×W, region index + 1

    def areas(self) -> list[GridArea]:
        if self.labels is None:
            return []
        return [GridArea(self.labels == i + 1, r.grid, r.mode) for i, r in enumerate(self.regions)]

    def crops(self, reach: Callable[[Grid | None], int]) -> list[AreaCrop]:
        """The areas as crops (`mosaic.AreaCrop`), each region's box grown by `reach(grid)` px,
        regions whose grown boxes overlap in one crop: no mask the frame's size per region."""
        if self.labels is None:
            return []
        groups = group_boxes([r.bbox for r in self.regions], [reach(r.grid) for r in self.regions], self.mask.shape)
        return [AreaCrop(g.rows, g.cols, tuple(GridArea(self.labels[g.rows, g.cols] == k + 1,
                                                        self.regions[k].grid.moved(-g.cols.start, -g.rows.start),
                                                        self.regions[k].mode) for k in g.members))
                for g in groups]


@dataclass(frozen=True)
class RegionSet:
    """Found regions over an array (the search window, or the frame): a label map, the
    regions, and per region whether it is an uncompressed mosaic (exact cells, exact
    borders). The stages between search and result each take one and return a new one."""

    labels: np.ndarray  # int32 (h, w): 1 + the region's index, 0 = none
    regions: tuple[Region, ...] = ()
    uncompressed: tuple[bool, ...] = ()  # by region

    @classmethod
    def of(cls, labels: np.ndarray, regions: Sequence[Region], closed: Sequence[bool]) -> "RegionSet":
        """From the stages' working form: `closed` by label, label 0 (none) first."""
        return cls(labels, tuple(regions), tuple(bool(c) for c in closed[1:]))

    @property
    def closed(self) -> list[bool]:
        """`uncompressed` by label, label 0 (none) first: the stages' working form."""
        return [False, *self.uncompressed]

    def unpacked(self) -> tuple[np.ndarray, list[Region], list[bool]]:
        """A copy in the stages' working form (labels, regions, closed by label), theirs to edit."""
        return self.labels.copy(), list(self.regions), self.closed

    def in_frame(self, rows: slice, cols: slice, shape: tuple[int, int]) -> "RegionSet":
        """Found over the window (rows, cols) of a frame of `shape` (H, W): in the frame's coordinates."""
        labels = np.zeros(shape, np.int32)
        labels[rows, cols] = self.labels
        return replace(self, labels=labels, regions=tuple(moved_region(r, cols.start, rows.start) for r in self.regions))


class Found(NamedTuple):
    """One path's find over a window of the search's arrays."""

    region: Region
    pixels: np.ndarray  # bool (h, w): the region's pixels in the window
    claimed: np.ndarray  # bool (h, w): the whole cells it covers (their evidence is spent)
    corner: tuple[int, int]  # (row, column) of the window's first pixel


def mask_box(mask: np.ndarray, rows: slice, cols: slice) -> tuple[int, int, int, int]:
    """Frame box (x0, y0, x1, y1) of a non-empty mask over the window (rows, cols)."""
    ys, xs = np.nonzero(mask)
    return (int(cols.start + xs.min()), int(rows.start + ys.min()),
            int(cols.start + xs.max() + 1), int(rows.start + ys.max() + 1))


def split_region(labels: np.ndarray, regions: list, k: int, rows: slice, cols: slice,
                 parts: Sequence[tuple[np.ndarray, Grid]], closed: list[bool] | None = None) -> None:
    """Region k (label k + 1) becomes two, in place: the first part, over the window (rows,
    cols), keeps its label, the second is a new region at the end; each with its own grid.
    `closed` (by label, whether each region is uncompressed), if given, grows with them.
    A helper of the split stages: it writes into `labels`, `regions` and `closed`, which
    must be the stage's own working copies, never what the stage was given."""
    if closed is not None:
        closed.append(closed[k + 1])
    for c, (part, grid) in enumerate(parts):
        label = k + 1 if c == 0 else len(regions) + 1
        labels[rows, cols][part] = label
        r = replace(regions[k], bbox=mask_box(part, rows, cols), pitch=grid.pitch, origin=grid.origin,
                    cells=max(1, int(round(part.sum() / (grid.pitch[0] * grid.pitch[1])))))
        if c == 0:
            regions[k] = r
        else:
            regions.append(r)


def moved_region(region: Region, dx: int, dy: int) -> Region:
    """`region` found in a window whose corner is (dx, dy) of the frame, in frame coordinates."""
    (x0, y0, x1, y1), (ox, oy) = region.bbox, region.origin
    return replace(region, bbox=(x0 + dx, y0 + dy, x1 + dx, y1 + dy), origin=(ox + dx, oy + dy))


def keep_regions(labels: np.ndarray, regions: list, keep: Sequence[bool]) -> tuple[np.ndarray, list]:
    """The labels (1 + region index) and regions left once those not `keep` go, numbered again."""
    renumber = np.zeros(len(regions) + 1, np.int32)
    renumber[1:][np.asarray(keep, bool)] = np.arange(1, sum(keep) + 1)
    return renumber[labels], [r for r, k in zip(regions, keep) if k]


def tight_boxes(labels: np.ndarray, regions: list, grown: int) -> list:
    """The regions with their boxes shrunk to their pixels (the search boxes they were found
    in reach a cell or more past them; `grown`: px the labels were dilated by since)."""
    counts = np.bincount(labels.ravel(), minlength=len(regions) + 1)
    out = []
    for k, region in enumerate(regions):
        x0, y0, x1, y1 = region.bbox
        r0, c0 = max(0, y0 - grown - 1), max(0, x0 - grown - 1)
        own = labels[r0:y1 + grown + 1, c0:x1 + grown + 1] == k + 1
        if own.sum() != counts[k + 1]:  # not all inside the box: look everywhere
            own, r0, c0 = labels == k + 1, 0, 0
        rows, cols = np.flatnonzero(own.any(axis=1)), np.flatnonzero(own.any(axis=0))
        if len(rows):
            region = replace(region, bbox=(c0 + int(cols[0]), r0 + int(rows[0]), c0 + int(cols[-1]) + 1,
                                           r0 + int(rows[-1]) + 1))
        out.append(region)
    return out


def claim(labels: np.ndarray, regions: list, found: Found) -> bool:
    """Label a found region's new pixels and append it, unless most of it is labelled already
    (the same mosaic found again). Returns whether it was taken. A helper of
    `classical_regions`: it writes into `labels` and `regions`, which must be the stage's own
    working copies, never what the stage was given."""
    pixel_mask, (r0, c0) = found.pixels, found.corner
    view = labels[r0:r0 + pixel_mask.shape[0], c0:c0 + pixel_mask.shape[1]]
    fresh = pixel_mask & (view == 0)
    if fresh.sum() < 0.5 * pixel_mask.sum():
        return False
    view[fresh] = len(regions) + 1
    regions.append(found.region)
    return True


def fewest_cells(cfg: DetectorConfig, pitch: tuple[float, float]) -> int:
    """The fewest mosaic cells a region of this pitch needs (`cells.min_cells`; fewer for cells over
    16 px: the same area)."""
    return int(np.clip(round(cfg.cells.min_cells * (16 / max(pitch)) ** 2), 2, cfg.cells.min_cells))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
