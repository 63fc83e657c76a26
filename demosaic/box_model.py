"""What one frame shows of a hidden picture under a mosaic, and the linear model that reads it:
each label (a mosaic cell, or one clean pixel) is the mean of the picture over its rectangle,
read at the frame's sub-pixel shift (bilinear). `demosaic.fusion` solves and registers with it.

The model is read without warping the canvas once per frame:
- a cell's sum over a shifted rectangle is one bilinear reading of the picture's box sums
  (`PictureSums`), since box sums and translations commute; its transpose puts each value on
  the four corners about the cell's own and spreads every frame's corners over their boxes
  at once (`CellReadings`);
- clean pixels enter the normal equations through a nine-point stencil summed over the
  frames once per solve (`PixelStencil`): a translation's bilinear reading and its transpose
  only ever couple a pixel with its eight neighbours.
The same sums as reading the picture bilinearly and averaging each label's pixels
(`tests/test_box_model.py` holds that reference, built pixel by pixel), without the 1/32 px
rounding of the bilinear weights in OpenCV's warps, which the model read through before:
solved pictures differ from those by under 0.01 levels.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

# Shifts within this of a whole pixel read as that whole pixel.
EPS = 1e-6


def _taps(dy: float, dx: float) -> tuple[int, int, tuple[tuple[int, int, float], ...]]:
    """(whole rows, whole columns, taps) of a shift: the bilinear reading at v + shift takes
    pixel v + whole + (oy, ox) by each tap's weight (taps of weight 0 left out)."""
    fy, fx = int(np.floor(dy + EPS)), int(np.floor(dx + EPS))
    ay, ax = float(np.clip(dy - fy, 0.0, 1.0)), float(np.clip(dx - fx, 0.0, 1.0))
    taps = ((0, 0, (1 - ay) * (1 - ax)), (0, 1, (1 - ay) * ax), (1, 0, ay * (1 - ax)), (1, 1, ay * ax))
    return fy, fx, tuple(t for t in taps if t[2] > 0)


def _inside(tops, lefts, size: tuple[int, int], shape: tuple[int, int], dy, dx):
    """Whether boxes of `size` at (tops, lefts) read wholly inside a canvas of `shape` at the
    shift (dy, dx) (scalars, or columns of an array of shifts): a pixel reads inside where
    both axes' bilinear taps do, rows −dy to h − 1 − dy."""
    h, w = shape
    return ((tops >= -dy - EPS) & (tops + (size[0] - 1) <= h - 1 - dy + EPS)
            & (lefts >= -dx - EPS) & (lefts + (size[1] - 1) <= w - 1 - dx + EPS))


@dataclass(frozen=True)
class Observation:
    """What one frame shows of the hidden picture over the canvas's patch of frame coordinates.
    Every label covers a whole rectangle of the patch: a grid cell (whole, or cut by the
    patch's edge), or one clean pixel."""

    labels: np.ndarray  # (h, w) int32: label of each patch pixel (a cell, or a clean pixel); -1 unused
    means: np.ndarray  # (n, C) float32: each label's observed mean
    counts: np.ndarray  # (n,) float32: pixels per label
    cells: int = 0  # labels 0 .. cells-1 are mosaic cells, the rest single clean pixels
    weights: np.ndarray | None = None  # (n,) float32: each label's trust (None: all 1; robust re-solves lower outliers')
    # (n, 4) int: each label's rectangle (top, left, height, width); found from `labels` when
    # not given (ValueError where a label does not fill one), and kept by `dataclasses.replace`.
    rects: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self):
        if self.rects is None:
            object.__setattr__(self, "rects", label_rects(self.labels, len(self.counts)))

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    @functools.cached_property
    def cell_groups(self) -> tuple[tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray], ...]:
        """The cells by size: ((height, width), their labels, tops, lefts) for each size."""
        top, left, h, w = (np.ascontiguousarray(a) for a in self.rects[:self.cells].T)
        key = h * (self.shape[1] + 1) + w
        groups = []
        for k in np.unique(key):
            i = np.flatnonzero(key == k)
            groups.append(((int(h[i[0]]), int(w[i[0]])), i, top[i], left[i]))
        return tuple(groups)

    @functools.cached_property
    def pixel_places(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) of the clean pixels, labels `cells` onwards."""
        top, left = self.rects[self.cells:, 0], self.rects[self.cells:, 1]
        return np.ascontiguousarray(top), np.ascontiguousarray(left)


def label_rects(labels: np.ndarray, n: int) -> np.ndarray:
    """(n, 4) int (top, left, height, width) of each label 0..n-1 of `labels` (-1 unused);
    ValueError where a label does not fill its bounding rectangle, or has no pixel."""
    h, w = labels.shape
    flat = labels.ravel()
    used = np.flatnonzero(flat >= 0)
    lab = flat[used]
    ys, xs = np.divmod(used, w)
    top, left = np.full(n, h, np.int64), np.full(n, w, np.int64)
    bottom, right = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    np.minimum.at(top, lab, ys)
    np.minimum.at(left, lab, xs)
    np.maximum.at(bottom, lab, ys)
    np.maximum.at(right, lab, xs)
    height, width = bottom - top + 1, right - left + 1
    if np.any(height <= 0) or np.any(np.bincount(lab, minlength=n) != height * width):
        raise ValueError("every label must fill a rectangle (a grid cell, or a single pixel)")
    return np.stack([top, left, height, width], axis=1)


def observe(patch: np.ndarray, cells: np.ndarray, known: np.ndarray) -> Observation:
    """One frame's observation: `patch` (h, w, C) as decoded, `cells` (h, w) int the mosaic
    cell of each pixel (-1 outside the mosaic; each cell a rectangle, else ValueError),
    `known` (h, w) bool the clean pixels to use (each its own label). Cells cut by the
    patch's edge are whatever part lies inside."""
    patch = np.asarray(patch, np.float32).reshape(*cells.shape, -1)
    labels = np.full(cells.shape, -1, np.int32)
    inside = cells >= 0
    ids = cells[inside]
    if ids.size and ids.max() < 4 * cells.size:  # small ids (a grid's): counted, not sorted
        present = np.bincount(ids) > 0
        labels[inside] = (np.cumsum(present) - 1)[ids]  # ids in order, as np.unique numbers them
        n_cells = int(present.sum())
    else:
        uniq, labels[inside] = np.unique(ids, return_inverse=True)
        n_cells = len(uniq)
    clean = known & ~inside
    n_clean = int(clean.sum())
    labels[clean] = n_cells + np.arange(n_clean)
    lab = labels[inside]
    counts = np.concatenate([np.bincount(lab, minlength=n_cells), np.ones(n_clean)]).astype(np.float32)
    means = np.empty((n_cells + n_clean, patch.shape[2]), np.float32)
    for c in range(patch.shape[2]):
        means[:n_cells, c] = np.bincount(lab, patch[..., c][inside], minlength=n_cells) / counts[:n_cells]
    means[n_cells:] = patch[clean]  # in raster order, as the labels were given
    ys, xs = np.nonzero(clean)
    rects = np.concatenate([label_rects(np.where(inside, labels, -1), n_cells),
                            np.stack([ys, xs, np.ones_like(ys), np.ones_like(xs)], axis=1)]).astype(np.int64)
    return Observation(labels, means, counts, n_cells, rects=rects)


def box_sums(a: np.ndarray, size: tuple[int, int], anchor: tuple[int, int]) -> np.ndarray:
    """(h, w, C) float32: at each pixel, the sum of `a` over the `size` (bh, bw) box whose
    pixel `anchor` (ay, ax) it is; zero outside `a`."""
    if size == (1, 1):
        return a
    out = cv2.boxFilter(a, -1, (size[1], size[0]), anchor=(anchor[1], anchor[0]), normalize=False,
                        borderType=cv2.BORDER_CONSTANT)
    return out.reshape(a.shape)


def table_shape(shape: tuple[int, int], size: tuple[int, int]) -> tuple[int, int]:
    """(rows, columns) of a box-sum table of `size` over a canvas of `shape`: every box
    corner inside the canvas, and one more row and column, where a whole-pixel shift's
    second bilinear tap (of weight 0) reads."""
    return shape[0] - size[0] + 2, shape[1] - size[1] + 2


class PictureSums:
    """A picture (h, w, C) and its box sums, one table per cell size: `table(size)[y, x]` is
    the sum over the box of that size whose top-left pixel is (y, x), for y up to h − bh + 1
    (one row of zeros past the picture, where a whole-pixel shift's second bilinear tap, of
    weight 0, reads)."""

    def __init__(self, x: np.ndarray):
        x = np.asarray(x, np.float32)
        self.x = cv2.copyMakeBorder(x, 0, 1, 0, 1, cv2.BORDER_CONSTANT, value=0).reshape(
            x.shape[0] + 1, x.shape[1] + 1, x.shape[2])
        self._tables: dict[tuple[int, int], np.ndarray] = {}

    def table(self, size: tuple[int, int]) -> np.ndarray:
        if size not in self._tables:
            th, tw = table_shape((self.x.shape[0] - 1, self.x.shape[1] - 1), size)
            self._tables[size] = box_sums(self.x, size, (0, 0))[:th, :tw]
        return self._tables[size]


class CellReadings:
    """Every frame's cells of one size, stacked: where each reads its size's box-sum table
    (four corners and their bilinear weights), its trust and its observed mean. `read` is
    every cell's sum at once; `spread` its transpose, every value added to the pixels of the
    box at each corner, by its weight."""

    def __init__(self, size: tuple[int, int], shape: tuple[int, int]):
        self.size, self.shape = size, shape
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self._stacked: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, corners: np.ndarray, weights: np.ndarray, trust: np.ndarray, means: np.ndarray) -> None:
        """`corners` (k, 4) flat in the table, `weights` (k, 4), `trust` (k,), `means` (k, C)."""
        self._parts.append((corners, weights, trust, means))
        self._stacked = None

    @property
    def stacked(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if self._stacked is None:
            self._stacked = tuple(np.concatenate(p) for p in zip(*self._parts))
        return self._stacked

    def read(self, table: np.ndarray) -> np.ndarray:
        """(m, C) each cell's sum over `table` (its size's, from `PictureSums`)."""
        corners, weights, _, _ = self.stacked
        flat = table.reshape(-1, table.shape[2])
        return np.einsum("mk,mkc->mc", weights, np.take(flat, corners, axis=0))

    def spread(self, values: np.ndarray) -> np.ndarray:
        """(h, w, C) float32: each cell's value (m, C), times its trust, on every pixel of the
        box at each of its corners, by the corner's weight."""
        corners, weights, trust, _ = self.stacked
        h, w = self.shape
        bh, bw = self.size
        th, tw = table_shape(self.shape, self.size)
        channels = values.shape[1]
        at = corners.ravel()
        per = (weights * trust[:, None]).ravel()
        v = np.repeat(values, 4, axis=0)
        z = np.zeros((max(h, th), max(w, tw), channels), np.float32)
        z[:th, :tw] = np.stack([np.bincount(at, per * v[:, c], minlength=th * tw)
                                for c in range(channels)], axis=1).reshape(th, tw, channels)
        return box_sums(z, (bh, bw), (bh - 1, bw - 1))[:h, :w]


class PixelStencil:
    """The clean pixels' part of the normal equations, summed over frames: each frame reads a
    clean pixel bilinearly at its shift, so (reading)ᵀ·weight·(reading) couples each canvas
    pixel only with its eight neighbours: `apply(x)` is nine products with x moved a pixel,
    plus `diagonal`·x (the prior's weight, folded into the centre's coefficient). `rhs` holds
    (reading)ᵀ·weight·(observed value)."""

    def __init__(self, shape: tuple[int, int], channels: int, diagonal: float = 0.0):
        self.shape, self.channels, self.diagonal = shape, channels, diagonal
        self.coefficients: dict[tuple[int, int], np.ndarray] = {}  # (oy, ox) → (h, w) float32
        self.rhs = np.zeros((*shape, channels), np.float32)
        self._planes: list[tuple[tuple[int, int], np.ndarray]] | None = None

    def add(self, taps: tuple[tuple[int, int, float], ...], weight: np.ndarray, values: np.ndarray) -> None:
        """One frame's clean pixels: `weight` (h, w) and `values` (h, w, C) (weight × observed
        value) at the canvas pixel each pixel's first tap reads, `taps` (oy, ox, bilinear
        weight) its taps about that pixel (those of weight 0 left out)."""
        h, w = self.shape
        for ky, kx, wk in taps:
            self.rhs[ky:, kx:] += wk * values[:h - ky, :w - kx]
            moved = weight[:h - ky, :w - kx]
            for ly, lx, wl in taps:
                offset = (ly - ky, lx - kx)
                if offset not in self.coefficients:
                    self.coefficients[offset] = np.zeros(self.shape, np.float32)
                self.coefficients[offset][ky:, kx:] += (wk * wl) * moved
        self._planes = None

    def apply(self, x: np.ndarray) -> np.ndarray:
        """(h, w, C) float32: the stencil applied to x (float32)."""
        h, w = self.shape
        if self._planes is None:  # each coefficient once per channel, for OpenCV's products
            centre = self.coefficients.get((0, 0), np.zeros(self.shape, np.float32)) + np.float32(self.diagonal)
            self._planes = [(o, np.ascontiguousarray(np.repeat(c[..., None], self.channels, axis=2), dtype=np.float32))
                            for o, c in {**self.coefficients, (0, 0): centre}.items()]
        xp = cv2.copyMakeBorder(x, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0).reshape(h + 2, w + 2, self.channels)
        out = np.zeros((h, w, self.channels), np.float32)
        for (oy, ox), c in self._planes:
            cv2.accumulateProduct(c, np.ascontiguousarray(xp[1 + oy:1 + oy + h, 1 + ox:1 + ox + w]),
                                  out.reshape(c.shape))
        return out


class FrameModel:
    """One observation at one shift (dy, dx): the labels whose every pixel reads inside the
    canvas, each cell with the corner it reads its size's box-sum table at, each clean pixel
    with the canvas pixel its first bilinear tap reads."""

    def __init__(self, obs: Observation, shift: tuple[float, float]):
        self.obs = obs
        fy, fx, self.taps = _taps(*shift)
        self.groups = []  # (size, cell labels, corner rows, corner columns)
        for size, ids, tops, lefts in obs.cell_groups:
            ok = _inside(tops, lefts, size, obs.shape, *shift)
            if ok.any():
                self.groups.append((size, ids[ok], tops[ok] + fy, lefts[ok] + fx))
        rows, cols = obs.pixel_places
        ok = _inside(rows, cols, (1, 1), obs.shape, *shift)
        self.pixel_ids = obs.cells + np.flatnonzero(ok)
        self.pixel_rows, self.pixel_cols = rows[ok] + fy, cols[ok] + fx

    def cell_sums(self, sums: PictureSums) -> list[np.ndarray]:
        """Per size group, (k, C): the picture's sum over each valid cell at this shift."""
        out = []
        for size, g, cy, cx in self.groups:
            table = sums.table(size)
            flat = table.reshape(-1, table.shape[2])
            acc = 0.0
            for oy, ox, wt in self.taps:
                acc = acc + wt * np.take(flat, (cy + oy) * table.shape[1] + (cx + ox), axis=0)
            out.append(acc)
        return out

    def _pixel_values(self, sums: PictureSums) -> np.ndarray:
        """(k, C) the picture read at each valid clean pixel at this shift."""
        flat = sums.x.reshape(-1, sums.x.shape[2])
        width = sums.x.shape[1]
        acc = 0.0
        for oy, ox, wt in self.taps:
            acc = acc + wt * np.take(flat, (self.pixel_rows + oy) * width + (self.pixel_cols + ox), axis=0)
        return acc

    def means(self, sums: PictureSums) -> np.ndarray:
        """(n, C) the mean of the picture over each label at this shift (0 for invalid labels)."""
        out = np.zeros((len(self.obs.counts), sums.x.shape[2]), np.float32)
        for (size, g, _, _), s in zip(self.groups, self.cell_sums(sums)):
            out[g] = s / (size[0] * size[1])
        if len(self.pixel_ids):
            out[self.pixel_ids] = self._pixel_values(sums)
        return out

    def cell_readings(self) -> Iterable[tuple[tuple[int, int], np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per size group: (size, corners (k, 4) flat in the size's table, their bilinear
        weights (k, 4), trust (k,), observed means (k, C)): what `CellReadings.add` takes."""
        weight = dict(((oy, ox), wt) for oy, ox, wt in self.taps)
        taps = ((0, 0), (0, 1), (1, 0), (1, 1))
        for size, g, cy, cx in self.groups:
            width = table_shape(self.obs.shape, size)[1]
            corners = np.stack([(cy + oy) * width + (cx + ox) for oy, ox in taps], axis=1)
            weights = np.broadcast_to(np.float32([weight.get(t, 0.0) for t in taps]), corners.shape)
            trust = np.ones(len(g), np.float32) if self.obs.weights is None else self.obs.weights[g]
            yield size, corners, weights, trust, self.obs.means[g]

    def couple_pixels(self, stencil: PixelStencil) -> None:
        """Adds its clean pixels' (reading)ᵀ·weight·(reading), and (reading)ᵀ·weight·(value)."""
        if not len(self.pixel_ids):
            return
        wts = None if self.obs.weights is None else self.obs.weights[self.pixel_ids]
        weight = np.zeros(self.obs.shape, np.float32)
        values = np.zeros((*self.obs.shape, self.obs.means.shape[1]), np.float32)
        at = (self.pixel_rows, self.pixel_cols)
        weight[at] = 1.0 if wts is None else wts
        values[at] = self.obs.means[self.pixel_ids] * weight[at][:, None]
        stencil.add(self.taps, weight, values)

    def residuals(self, sums: PictureSums, cells_only: bool = False) -> np.ndarray:
        """(n,) the largest channel's |the picture's mean − the observed mean| per label; NaN
        where the label does not read wholly inside the canvas (and, with `cells_only`, for
        the clean pixels, not read)."""
        r = np.full(len(self.obs.counts), np.nan, np.float32)
        for (size, g, _, _), s in zip(self.groups, self.cell_sums(sums)):
            r[g] = np.abs(s / (size[0] * size[1]) - self.obs.means[g]).max(axis=1)
        if len(self.pixel_ids) and not cells_only:
            r[self.pixel_ids] = np.abs(self._pixel_values(sums) - self.obs.means[self.pixel_ids]).max(axis=1)
        return r


class NormalEquations:
    """The least-squares problem of `demosaic.fusion.solve` over these frames: `apply(x)` is
    mu·x + Σ (reading)ᵀ·weight·(mean reading) x, and `rhs(prior)` mu·prior + Σ (reading)ᵀ·
    weight·(observed means). A cell's mean counts as many samples as it has pixels. Frames
    may join (`add`): the clean pixels' stencil is a sum over frames."""

    def __init__(self, frames: Iterable[FrameModel], shape: tuple[int, int], channels: int, mu: float):
        self.shape, self.channels, self.mu = shape, channels, mu
        self.stencil = PixelStencil(shape, channels, diagonal=mu)
        self.cells: dict[tuple[int, int], CellReadings] = {}
        for f in frames:
            self.add(f)

    def add(self, frame: FrameModel) -> None:
        if frame.obs.shape != self.shape:
            raise ValueError(f"an observation of {frame.obs.shape} on a canvas of {self.shape}")
        frame.couple_pixels(self.stencil)
        for size, *reading in frame.cell_readings():
            if size not in self.cells:
                self.cells[size] = CellReadings(size, self.shape)
            self.cells[size].add(*reading)

    def apply(self, x: np.ndarray) -> np.ndarray:
        sums = PictureSums(x)
        out = self.stencil.apply(x)  # with mu·x
        for size, cells in self.cells.items():
            out += cells.spread(cells.read(sums.table(size)) / (size[0] * size[1]))
        return out

    def rhs(self, prior: np.ndarray) -> np.ndarray:
        out = self.mu * prior + self.stencil.rhs
        for cells in self.cells.values():
            out += cells.spread(cells.stacked[3])
        return out


def shift_errors(sums: PictureSums, obs: Observation, shifts: list[tuple[float, float]], cap: float | None,
                 least: float) -> np.ndarray:
    """At each shift (dy, dx): the mean squared difference per pixel between the picture's
    means over the labels that read wholly inside the canvas and the observed ones, each
    difference counted at most `cap` levels (a part of the picture that moves on its own, a
    person crossing a still scene, then cannot outvote the rest); inf where under `least` of
    the observed pixels' labels read inside. Every whole-pixel offset the batch reads is
    gathered once for all its shifts."""
    d = np.asarray(shifts, np.float64).reshape(-1, 2)
    # Each shift reads whole-pixel offsets (its floor plus its taps) by bilinear weights:
    # every offset the batch needs is gathered once (sub-pixel candidates about one centre
    # share most of theirs), and each shift's reading is its weights over them.
    offsets: dict[tuple[int, int], int] = {}
    weights: list[list[tuple[int, float]]] = []
    for dy, dx in d:
        fy, fx, taps = _taps(dy, dx)
        weights.append([(offsets.setdefault((fy + oy, fx + ox), len(offsets)), wt) for oy, ox, wt in taps])
    mix = np.zeros((len(d), len(offsets)))
    for i, row in enumerate(weights):
        for j, wt in row:
            mix[i, j] += wt
    whole = np.array(list(offsets))  # (m, 2)
    identity = len(offsets) == len(d) and np.array_equal(mix, np.eye(len(d)))
    total = np.zeros(len(d))
    pixels = np.zeros(len(d))
    rows, cols = obs.pixel_places
    parts = [((1, 1), obs.cells + np.arange(len(rows)), rows, cols, sums.x)]
    parts += [(size, ids, tops, lefts, sums.table(size)) for size, ids, tops, lefts in obs.cell_groups]
    for size, ids, tops, lefts, table in parts:
        if not len(ids):
            continue
        ok = _inside(tops[None, :], lefts[None, :], size, obs.shape, d[:, :1], d[:, 1:])
        flat = table.reshape(-1, table.shape[2])
        at = (tops[None, :] + whole[:, :1]) * table.shape[1] + (lefts[None, :] + whole[:, 1:])  # (m, k)
        got = np.take(flat, np.clip(at, 0, len(flat) - 1), axis=0)  # (m, k, C); out of range only where not ok
        read = got if identity else np.einsum("sm,mkc->skc", mix, got)
        diff = read / (size[0] * size[1]) - obs.means[ids][None]
        if cap is not None:
            diff = np.minimum(np.abs(diff), cap)
        count = size[0] * size[1]
        total += count * np.einsum("skc,skc,sk->s", diff, diff, ok.astype(diff.dtype))
        pixels += count * ok.sum(axis=1)
    out = total / np.maximum(pixels * obs.means.shape[1], 1.0)
    return np.where(pixels < least * float(obs.counts.sum()), np.inf, out)
