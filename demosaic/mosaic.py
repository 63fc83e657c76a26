"""Pixelation mosaics: the one synthesiser, the cell lattice and its windows, and the cell-colour guide
(the consistency step that uses them is `demosaic.consistency`).

A mosaic cell is not a hole: it holds the mean (sometimes min, max or one sampled pixel)
of what it covers. Everything here works on a `Grid` (the cell lattice) and a boolean
area (where the mosaic is), so synthetic regions (`MosaicRegion`) and detected ones
share the same guide and consistency code.

Cut cells follow what editors and ffmpeg's `pixelize` do: the whole frame is
pixelated, then the region's shape masks it. A border cell cut by the region therefore
shows the mean of the *whole* cell, part of which is still visible, unchanged, outside
the region. The consistency step uses exactly that relation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Literal, NamedTuple, Sequence

import cv2
import numpy as np

from .metrics import bounding_box
from .tiles import group_boxes

Shape = Literal["rect", "ellipse", "polygon"]
Align = Literal["frame", "region"]
Mode = Literal["mean", "min", "max", "sample"]
MODES: tuple[str, ...] = ("mean", "min", "max", "sample")


@dataclass(frozen=True)
class Grid:
    """A cell lattice: pixel (x, y) lies in cell (floor((y - oy) / ph), floor((x - ox) / pw))."""

    pitch: tuple[float, float]  # (width, height) of one cell in px; sub-pixel after scaling
    origin: tuple[float, float] = (0.0, 0.0)  # (x, y) of any cell's top-left corner

    def __post_init__(self):
        if min(self.pitch) <= 0:
            raise ValueError(f"cell pitch must be positive, got {self.pitch}")

    def cell_index(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column cell indices of every pixel: ((H,), (W,)) int64. Cells are separable."""
        pw, ph = self.pitch
        ox, oy = self.origin
        # The epsilon keeps fitted grids (origin 1e-14 off an integer) on the intended side.
        iy = np.floor((np.arange(height) - oy) / ph + 1e-6).astype(np.int64)
        ix = np.floor((np.arange(width) - ox) / pw + 1e-6).astype(np.int64)
        return iy, ix

    def moved(self, dx: float, dy: float) -> "Grid":
        """The same lattice in coordinates whose origin lies at (-dx, -dy): (dx, dy) added to
        its position (a crop starting at (x0, y0): moved(-x0, -y0))."""
        return Grid(self.pitch, (self.origin[0] + dx, self.origin[1] + dy))


def cell_edges(n: int, pitch: float, origin: float, scale: float = 1.0) -> np.ndarray:
    """Bool (n,): pixels that are the first or last of their cell along an axis of lattice
    (pitch, origin) (a border between pixels marks both), after the axis was resized by
    `scale`: then each pixel shows the source pixel under its centre (OpenCV's nearest)."""
    source = np.floor((np.arange(-1, n + 1) + 0.5) / scale)
    cell = np.floor((source - origin) / pitch + 1e-6)
    step = cell[1:] != cell[:-1]  # step[i]: a border between pixels i-1 and i
    return step[:-1] | step[1:]


class GridArea(NamedTuple):
    """Where a mosaic is (bool H×W) and the lattice its cells follow (None: unknown, so
    only pure inpainting applies)."""

    mask: np.ndarray
    grid: Grid | None
    mode: str = "mean"
    trusted: bool = False  # the user's own mask (or the truth): a mosaic for sure, not doubted as graphics
    # A detected area's mask may be grown onto the mosaic's cells past it (`fitting.fit_region`);
    # False after a user's --exclude, whose pixels it must never reach again.
    grows: bool = True


class AreaCrop(NamedTuple):
    """Areas over a crop of a frame (rows, cols), their masks and grids in the crop's
    coordinates: how a large frame's areas are restored, a crop at a time, without a mask the
    frame's size for each (`area_crops`, `detect.Detection.crops`)."""

    rows: slice
    cols: slice
    areas: tuple[GridArea, ...]
    # A piece of a larger mosaic (`area_pieces`): its areas reach past it to the crop's edges,
    # so that it is restored as the whole would be, and only these pixels are kept (None: all).
    keep: np.ndarray | None = None

    def without(self, excluded: np.ndarray | None) -> "AreaCrop":
        """`without` over the crop: `excluded` is the frame's (bool H×W)."""
        if excluded is None:
            return self
        return self._replace(areas=tuple(without(self.areas, excluded[self.rows, self.cols])))


def area_crops(areas: Sequence[GridArea], reach: Callable[[Grid | None], int]) -> list[AreaCrop]:
    """Frame-sized areas as crops: each area's box grown by `reach(grid)` (px), areas whose
    grown boxes overlap in one crop (`tiles.group_boxes`); areas with no pixels dropped."""
    boxes, kept = [], []
    for area in areas:
        rows, cols = np.flatnonzero(area.mask.any(axis=1)), np.flatnonzero(area.mask.any(axis=0))
        if rows.size:
            boxes.append((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
            kept.append(area)
    if not kept:
        return []
    groups = group_boxes(boxes, [reach(a.grid) for a in kept], kept[0].mask.shape)
    return [AreaCrop(g.rows, g.cols, tuple(cropped(kept[k], g.rows, g.cols) for k in g.members)) for g in groups]


def area_pieces(crop: AreaCrop, side: int, reach: Callable[[Grid | None], int]) -> list[AreaCrop]:
    """`crop` as pieces of at most about `side` px of mosaic each way, each grown by
    `reach(grid)`, so that restoring a huge mosaic takes memory for a piece at a time; `[crop]`
    where none of its areas is larger. A piece is a block of whole cells of one area (its
    grid's cells, `side // pitch` of them each way), its `keep`; the piece's area is the whole
    area over the piece's crop, so that the network, the guide and the consistency step see
    the mosaic around the block as the whole would, and what they do past the block, within
    `reach` of the crop's edge, is not kept."""
    height, width = crop.rows.stop - crop.rows.start, crop.cols.stop - crop.cols.start

    def large(area: GridArea) -> bool:
        rows, cols = bounding_box(area.mask)
        return area.grid is not None and max(rows.stop - rows.start, cols.stop - cols.start) > side

    if not any(large(a) for a in crop.areas if a.mask.any()):
        return [crop]
    out = []
    for area in crop.areas:
        if not area.mask.any():
            continue
        parts: Iterable[np.ndarray] = [area.mask]
        if large(area):  # one block's mask at a time: each is the crop's size
            iy, ix = area.grid.cell_index(height, width)
            by = iy // max(1, int(side // area.grid.pitch[1]))
            bx = ix // max(1, int(side // area.grid.pitch[0]))
            parts = (area.mask & (by == j)[:, None] & (bx == i)[None, :]
                     for j in np.unique(by) for i in np.unique(bx))
        grow = reach(area.grid)
        for part in parts:
            if not part.any():
                continue
            rows, cols = bounding_box(part, grow)
            piece = cropped(area, rows, cols)
            out.append(AreaCrop(slice(crop.rows.start + rows.start, crop.rows.start + rows.stop),
                                slice(crop.cols.start + cols.start, crop.cols.start + cols.stop),
                                (piece._replace(mask=piece.mask.copy()),),  # not views of crop-sized masks
                                None if part is area.mask else part[rows, cols].copy()))
    return out


def cropped(area: GridArea, rows: slice, cols: slice) -> GridArea:
    """A frame's area over the crop (rows, cols), in the crop's coordinates."""
    grid = None if area.grid is None else area.grid.moved(-cols.start, -rows.start)
    return area._replace(mask=area.mask[rows, cols], grid=grid)


def without(areas: Sequence[GridArea], excluded: np.ndarray | None) -> list[GridArea]:
    """`areas` with the `excluded` pixels (bool H×W: a user's --exclude) taken out of their
    masks, and no longer grown past them (`GridArea.grows`); an area left empty is dropped.
    The grids stay: cells the exclusion cuts are cut cells, whose excluded part is kept as it
    came."""
    if excluded is None:
        return list(areas)
    out = [a._replace(mask=a.mask & ~excluded, grows=False) for a in areas]
    return [a for a in out if a.mask.any()]


@dataclass(frozen=True)
class MosaicRegion:
    """One pixelated region for the synthesiser.

    `points` are the bounding box corners ((x0, y0), (x1, y1)), end exclusive, for
    "rect" and "ellipse", and the vertices for "polygon".
    """

    shape: Shape
    points: tuple[tuple[float, float], ...]
    cell: tuple[float, float]  # (width, height) in px
    align: Align = "frame"  # grid phase: the frame origin, or the region's own top-left corner
    mode: Mode = "mean"

    def __post_init__(self):
        if self.shape not in ("rect", "ellipse", "polygon"):
            raise ValueError(f"unknown region shape {self.shape!r}")
        if self.align not in ("frame", "region"):
            raise ValueError(f"unknown grid alignment {self.align!r}")
        if self.mode not in MODES:
            raise ValueError(f"unknown mosaic mode {self.mode!r}")
        if len(self.points) < (3 if self.shape == "polygon" else 2):
            raise ValueError(f"too few points for a {self.shape}")

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)

    def grid(self) -> Grid:
        x0, y0, _, _ = self.bbox
        return Grid(self.cell, (0.0, 0.0) if self.align == "frame" else (float(x0), float(y0)))

    def rasterise(self, height: int, width: int) -> np.ndarray:
        """Bool H×W: the pixels whose centres lie inside the shape."""
        if self.shape == "polygon":
            canvas = np.zeros((height, width), np.uint8)
            # 4 fractional bits: vertices keep sub-pixel precision.
            pts = np.round(np.asarray(self.points, np.float64) * 16).astype(np.int32)
            cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=4)
            return canvas.astype(bool)
        x0, y0, x1, y1 = self.bbox
        yc = np.arange(height)[:, None] + 0.5
        xc = np.arange(width)[None, :] + 0.5
        if self.shape == "rect":
            return (xc >= x0) & (xc < x1) & (yc >= y0) & (yc < y1)
        cx, cy, a, b = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        return ((xc - cx) / a) ** 2 + ((yc - cy) / b) ** 2 <= 1.0

    def area(self, height: int, width: int) -> GridArea:
        return GridArea(self.rasterise(height, width), self.grid(), self.mode)


class CellWindow(NamedTuple):
    """The rows/cols covering every cell that touches an area, and each pixel's cell label there."""

    rows: slice
    cols: slice
    labels: np.ndarray  # (h, w) int64, row-major cell number inside the window
    shape: tuple[int, int]  # (cells down, cells across)
    first: tuple[int, int]  # cell index (row, col) of the window's first cell
    down: np.ndarray  # (h,) each pixel row's cell row
    across: np.ndarray  # (w,) each pixel column's cell column
    row_runs: np.ndarray  # where each run of one cell row's pixel rows starts (`np.add.reduceat`'s indices)
    col_runs: np.ndarray


def cell_window(area_mask: np.ndarray, grid: Grid, pad_cells: int = 0) -> CellWindow | None:
    height, width = area_mask.shape
    iy, ix = grid.cell_index(height, width)
    rows = np.flatnonzero(area_mask.any(axis=1))
    cols = np.flatnonzero(area_mask.any(axis=0))
    if rows.size == 0:
        return None
    cy0, cy1 = iy[rows[0]] - pad_cells, iy[rows[-1]] + pad_cells
    cx0, cx1 = ix[cols[0]] - pad_cells, ix[cols[-1]] + pad_cells
    r = np.flatnonzero((iy >= cy0) & (iy <= cy1))
    c = np.flatnonzero((ix >= cx0) & (ix <= cx1))
    rows_s, cols_s = slice(r[0], r[-1] + 1), slice(c[0], c[-1] + 1)
    cy0, cx0 = iy[r[0]], ix[c[0]]  # padding may have been cut by the frame edge
    ncy, ncx = iy[r[-1]] - cy0 + 1, ix[c[-1]] - cx0 + 1
    down, across = iy[rows_s] - cy0, ix[cols_s] - cx0
    labels = down[:, None] * ncx + across[None, :]
    return CellWindow(rows_s, cols_s, labels, (int(ncy), int(ncx)), (int(cy0), int(cx0)), down, across,
                      np.flatnonzero(np.diff(down, prepend=-1)), np.flatnonzero(np.diff(across, prepend=-1)))


def window_sums(values: np.ndarray, win: CellWindow, mask: np.ndarray | None = None) -> np.ndarray:
    """(n, C) float64 per-cell sums of (h, w, C) `values` over a window's cells, counting only
    the pixels of `mask` (h, w) bool where given. `cell_sums` for a lattice's window, whose
    cells are runs of rows times runs of columns: two `np.add.reduceat`s, about a third of
    `cell_sums`' time on a region's window. Exact alike for integer-valued pixels; float sums
    may differ from `cell_sums`' in the last bits (another summation order)."""
    ncy, ncx = win.shape
    rows, cols = win.row_runs, win.col_runs
    if mask is not None:  # zero outside the mask (OpenCV: a fifth of multiplying by it)
        values = cv2.copyTo(np.ascontiguousarray(values), mask.view(np.uint8)).reshape(values.shape)
    sums = np.add.reduceat(np.add.reduceat(values, cols, axis=1, dtype=np.float64), rows, axis=0)
    if len(rows) == ncy and len(cols) == ncx:
        return sums.reshape(ncy * ncx, -1)
    out = np.zeros((ncy, ncx, values.shape[-1]))  # a sub-pixel pitch: some cells hold no pixel
    out[np.ix_(win.down[rows], win.across[cols])] = sums
    return out.reshape(ncy * ncx, -1)


def window_counts(win: CellWindow, mask: np.ndarray | None = None) -> np.ndarray:
    """(n,) pixels of each of a window's cells (those of `mask` (h, w) bool, where given)."""
    if mask is None:
        ncy, ncx = win.shape
        down = np.bincount(win.down, minlength=ncy)
        across = np.bincount(win.across, minlength=ncx)
        return np.outer(down, across).ravel().astype(np.float64)
    return window_sums(mask[..., None], win)[:, 0]


def cell_sums(values: np.ndarray, labels: np.ndarray, n: int, weights: np.ndarray | None = None):
    """Per-cell, per-channel sums and counts of (h, w, C) values over (h, w) labels."""
    flat = labels.ravel()
    w = None if weights is None else weights.ravel().astype(np.float64)
    counts = np.bincount(flat, weights=w, minlength=n)
    sums = np.stack(
        [np.bincount(flat, weights=values[..., ch].ravel() * (1 if w is None else w), minlength=n)
         for ch in range(values.shape[-1])],
        axis=-1,
    )
    return sums, counts


def _cell_values(window: np.ndarray, labels: np.ndarray, n: int, mode: str) -> np.ndarray:
    """(n, C) float64 value of each cell from the pixels it covers."""
    flat = window.reshape(-1, window.shape[-1]).astype(np.float64)
    lab = labels.ravel()
    if mode == "mean":
        sums, counts = cell_sums(window.astype(np.float64), labels, n)
        return np.rint(sums / np.maximum(counts, 1)[:, None])
    if mode in ("min", "max"):
        out = np.full((n, flat.shape[1]), np.inf if mode == "min" else -np.inf)
        (np.minimum if mode == "min" else np.maximum).at(out, lab, flat)
        return out
    # "sample": the pixel nearest each cell's centre (the middle of its in-frame rows/cols).
    ncx = int(labels[0].max()) + 1
    row_cells, col_cells = labels[:, 0] // ncx, labels[0] % ncx
    out = np.zeros((n, flat.shape[1]))
    for cy in np.unique(row_cells):
        rr = np.flatnonzero(row_cells == cy)
        for cx in np.unique(col_cells):
            cc = np.flatnonzero(col_cells == cx)
            out[cy * ncx + cx] = window[rr[len(rr) // 2], cc[len(cc) // 2]]
    return out


def pixelate(image: np.ndarray, regions: Sequence[MosaicRegion]) -> tuple[np.ndarray, np.ndarray]:
    """Pixelate `regions` of an H×W×C uint8 image; returns (mosaic image, bool mask of all regions)."""
    height, width = image.shape[:2]
    return pixelate_areas(image, [r.area(height, width) for r in regions])


def pixelate_areas(image: np.ndarray, areas: Sequence[GridArea]) -> tuple[np.ndarray, np.ndarray]:
    """Pixelate arbitrary areas (any mask shape, e.g. irregular strokes) on their grids.

    Areas apply in order, each to the result of the previous ones, as chained editor
    effects do.
    """
    if image.dtype != np.uint8 or image.ndim != 3:
        raise ValueError("pixelate expects an H×W×C uint8 image")
    out = image.copy()
    mask = np.zeros(image.shape[:2], bool)
    for area in areas:
        win = cell_window(area.mask, area.grid)
        if win is None:
            continue
        n = win.shape[0] * win.shape[1]
        values = _cell_values(out[win.rows, win.cols], win.labels, n, area.mode)
        cells = values[win.labels].astype(np.uint8)  # (h, w, C)
        inside = area.mask[win.rows, win.cols]
        out[win.rows, win.cols][inside] = cells[inside]
        mask |= area.mask
    return out, mask


def observed_cell_colours(observed: np.ndarray, mask: np.ndarray, win: CellWindow):
    """(n, C) colour each cell shows: its masked pixels' mean, or the plain mean where unmasked."""
    obs = observed[win.rows, win.cols]
    inside = mask[win.rows, win.cols]
    in_sums, in_counts = window_sums(obs, win, inside), window_counts(win, inside)
    all_sums, all_counts = window_sums(obs, win), window_counts(win)
    colour = np.where(
        (in_counts > 0)[:, None],
        in_sums / np.maximum(in_counts, 1e-9)[:, None],
        all_sums / np.maximum(all_counts, 1e-9)[:, None],
    )
    return colour, in_counts


class CellStats(NamedTuple):
    """An area's cells as observed: the window of rows/cols covering them (and `pad_cells`
    rings around), each pixel's cell number there, and per cell (row-major, `shape`)."""

    rows: slice
    cols: slice
    labels: np.ndarray  # (h, w) int64 cell number of each window pixel
    shape: tuple[int, int]  # (cells down, cells across)
    colour: np.ndarray  # (n, C) the masked pixels' mean, or the plain mean where none is masked
    spread: np.ndarray  # (n,) standard deviation of the masked pixels, largest channel (0 where none)
    roughness: np.ndarray  # (n,) mean |difference| between masked neighbours in the cell, largest channel
    in_counts: np.ndarray  # (n,) masked pixels
    counts: np.ndarray  # (n,) pixels in the frame


# (later, earlier) slices of a 2-D window: horizontal neighbours, then vertical ones.
NEIGHBOURS = (((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
              ((slice(1, None), slice(None)), (slice(None, -1), slice(None))))


def channel_absdiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a − b| (h, w), the largest over channels: OpenCV's saturating difference for uint8
    (a tenth of NumPy's float time on a frame), channel by channel maxima."""
    if a.dtype == np.uint8 and b.dtype == np.uint8:
        d = cv2.absdiff(np.ascontiguousarray(a), np.ascontiguousarray(b)).reshape(a.shape)
    else:
        d = np.abs(a.astype(np.float64) - b)
    if d.ndim == 2:
        return d
    out = d[..., 0]
    for c in range(1, d.shape[-1]):
        out = np.maximum(out, d[..., c])
    return out


def cell_stats(observed: np.ndarray, area: GridArea, pad_cells: int = 1, texture: bool = True) -> CellStats | None:
    """What each cell touching `area` (and `pad_cells` rings of cells around it) shows
    (`texture` False: roughness left at 0, half the time)."""
    win = cell_window(area.mask, area.grid, pad_cells)
    if win is None:
        return None
    n = win.shape[0] * win.shape[1]
    colour, in_counts = observed_cell_colours(observed, area.mask, win)
    obs = observed[win.rows, win.cols].astype(np.float64)
    inside = area.mask[win.rows, win.cols]
    sq = window_sums(obs * obs, win, inside)
    mean_in = np.where((in_counts > 0)[:, None], colour, 0.0)
    var = sq / np.maximum(in_counts, 1)[:, None] - mean_in ** 2
    spread = np.sqrt(np.maximum(var, 0.0)).max(axis=1)
    counts = window_counts(win)
    # Texture, not level: a coded mosaic cell drifts smoothly (ringing), a picture is rough.
    rough, pairs = np.zeros(n), np.zeros(n)
    raw = observed[win.rows, win.cols]
    for a, b in NEIGHBOURS if texture else ():
        same = inside[a] & inside[b] & (win.labels[a] == win.labels[b])
        diff = channel_absdiff(raw[a], raw[b])
        rough += np.bincount(win.labels[a][same], weights=diff[same], minlength=n)
        pairs += np.bincount(win.labels[a][same], minlength=n)
    roughness = rough / np.maximum(pairs, 1)
    return CellStats(win.rows, win.cols, win.labels, win.shape, colour, spread, roughness, in_counts, counts)


def _interpolate_cells(values: np.ndarray, grid: Grid, win: CellWindow, interpolation: int,
                       border: int) -> np.ndarray:
    """(h, w, C) float32 over the window: per-cell values (n, C) placed at the cells' centres
    and interpolated between them with a cv2.remap kernel."""
    small = values.reshape(win.shape[0], win.shape[1], -1).astype(np.float32)
    pw, ph = grid.pitch
    ox, oy = grid.origin
    xs = np.arange(win.cols.start, win.cols.stop)
    ys = np.arange(win.rows.start, win.rows.stop)
    # Pixel centre -> position on the small image, whose sample k sits at cell k's centre.
    u = ((xs + 0.5 - ox) / pw - 0.5 - win.first[1]).astype(np.float32)
    v = ((ys + 0.5 - oy) / ph - 0.5 - win.first[0]).astype(np.float32)
    map_x = np.broadcast_to(u[None, :], (len(ys), len(xs))).copy()
    map_y = np.broadcast_to(v[:, None], (len(ys), len(xs))).copy()
    out = cv2.remap(small, map_x, map_y, interpolation, borderMode=border)
    return out.reshape(len(ys), len(xs), -1)


def cell_colour_guide(observed: np.ndarray, areas: Sequence[GridArea], interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    """The guide: each area's cell colours interpolated bicubically over it (H×W×C float32, 0–255).
    (`interpolation`: another cv2.remap kernel, e.g. INTER_LANCZOS4, for the evaluation's baselines.)

    Outside the areas the guide equals `observed`. Each cell colour sits at its cell's
    centre; one ring of neighbouring cells (real, unmasked colour) is included so the
    interpolation at the area's border bends towards what surrounds it.
    """
    guide = observed.astype(np.float32)
    height, width = observed.shape[:2]
    for area in areas:
        win = cell_window(area.mask, area.grid, pad_cells=1)
        if win is None:
            continue
        colour, _ = observed_cell_colours(observed, area.mask, win)
        interp = _interpolate_cells(colour, area.grid, win, interpolation, cv2.BORDER_REPLICATE)
        inside = area.mask[win.rows, win.cols]
        # Only the interpolated values can leave 0–255 (the rest is `observed`): clipped here,
        # not over the whole frame; copied where masked (no gathered copies).
        np.copyto(guide[win.rows, win.cols], np.clip(interp, 0, 255), where=inside[..., None])
    return guide


class ObservedCells(NamedTuple):
    """One area's cells as the observed frame shows them, over a window (`cell_window`): what any
    result restored there is held to. Computed once per area, for every candidate result."""

    win: CellWindow
    n: int  # cells in the window
    colour: np.ndarray  # (n, C) the colour each cell shows in the observed image
    in_counts: np.ndarray  # (n,) masked pixels per cell
    counts: np.ndarray  # (n,) all pixels per cell (a cut cell's visible part included)
    inside: np.ndarray  # (h, w) bool, the area's pixels in the window


def observed_cells(observed: np.ndarray, area: GridArea, pad_cells: int = 0) -> ObservedCells | None:
    win = cell_window(area.mask, area.grid, pad_cells)
    if win is None:
        return None
    colour, in_counts = observed_cell_colours(observed, area.mask, win)
    return ObservedCells(win, win.shape[0] * win.shape[1], colour, in_counts, window_counts(win),
                         area.mask[win.rows, win.cols])


def narrowed(cells: ObservedCells, area: GridArea, pad_cells: int = 0) -> ObservedCells | None:
    """`cells` (taken with more rings of cells around `area`) on the window of `pad_cells` rings:
    the same values, cut out rather than summed again (each window holds every pixel of its
    cells that the frame holds)."""
    win = cell_window(area.mask, area.grid, pad_cells)
    if win is None:
        return None
    dy, dx = win.first[0] - cells.win.first[0], win.first[1] - cells.win.first[1]
    (ny, nx), (wy, wx) = win.shape, cells.win.shape

    def cut(values: np.ndarray) -> np.ndarray:
        return values.reshape((wy, wx) + values.shape[1:])[dy:dy + ny, dx:dx + nx].reshape((ny * nx,) + values.shape[1:])

    return ObservedCells(win, ny * nx, cut(cells.colour), cut(cells.in_counts), cut(cells.counts),
                         area.mask[win.rows, win.cols])


class CellTargets(NamedTuple):
    """One area's cells over an image: the window, each cell's observed colour, and the pixels."""

    win: CellWindow
    n: int  # cells in the window
    colour: np.ndarray  # (n, C) the colour each cell shows in the observed image
    in_counts: np.ndarray  # (n,) masked pixels per cell
    counts: np.ndarray  # (n,) all pixels per cell (a cut cell's visible part included)
    block: np.ndarray  # (h, w, C) the window of the image: a view, writes go through
    inside: np.ndarray  # (h, w) bool, the area's pixels in the window


def cell_targets(image: np.ndarray, cells: ObservedCells) -> CellTargets:
    """`cells` over `image`: its window of pixels (a view) beside what the cells showed."""
    win = cells.win
    return CellTargets(win, cells.n, cells.colour, cells.in_counts, cells.counts, image[win.rows, win.cols],
                       cells.inside)
