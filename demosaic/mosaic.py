"""Pixelation mosaics: the one synthesiser, the cell-colour guide, and the cell-mean consistency step.

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
from typing import Literal, NamedTuple, Sequence

import cv2
import numpy as np

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


class _CellWindow(NamedTuple):
    """The rows/cols covering every cell that touches an area, and each pixel's cell label there."""

    rows: slice
    cols: slice
    labels: np.ndarray  # (h, w) int64, row-major cell number inside the window
    shape: tuple[int, int]  # (cells down, cells across)
    first: tuple[int, int]  # cell index (row, col) of the window's first cell


def _cell_window(area_mask: np.ndarray, grid: Grid, pad_cells: int = 0) -> _CellWindow | None:
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
    labels = (iy[rows_s] - cy0)[:, None] * ncx + (ix[cols_s] - cx0)[None, :]
    return _CellWindow(rows_s, cols_s, labels, (int(ncy), int(ncx)), (int(cy0), int(cx0)))


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
        win = _cell_window(area.mask, area.grid)
        if win is None:
            continue
        n = win.shape[0] * win.shape[1]
        values = _cell_values(out[win.rows, win.cols], win.labels, n, area.mode)
        cells = values[win.labels].astype(np.uint8)  # (h, w, C)
        inside = area.mask[win.rows, win.cols]
        out[win.rows, win.cols][inside] = cells[inside]
        mask |= area.mask
    return out, mask


def _observed_cell_colours(observed: np.ndarray, mask: np.ndarray, win: _CellWindow):
    """(n, C) colour each cell shows: its masked pixels' mean, or the plain mean where unmasked."""
    n = win.shape[0] * win.shape[1]
    obs = observed[win.rows, win.cols].astype(np.float64)
    inside = mask[win.rows, win.cols]
    in_sums, in_counts = cell_sums(obs, win.labels, n, weights=inside)
    all_sums, all_counts = cell_sums(obs, win.labels, n)
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
    win = _cell_window(area.mask, area.grid, pad_cells)
    if win is None:
        return None
    n = win.shape[0] * win.shape[1]
    colour, in_counts = _observed_cell_colours(observed, area.mask, win)
    obs = observed[win.rows, win.cols].astype(np.float64)
    inside = area.mask[win.rows, win.cols]
    sq, _ = cell_sums(obs * obs, win.labels, n, weights=inside)
    mean_in = np.where((in_counts > 0)[:, None], colour, 0.0)
    var = sq / np.maximum(in_counts, 1)[:, None] - mean_in ** 2
    spread = np.sqrt(np.maximum(var, 0.0)).max(axis=1)
    counts = np.bincount(win.labels.ravel(), minlength=n).astype(np.float64)
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


def _interpolate_cells(values: np.ndarray, grid: Grid, win: _CellWindow, interpolation: int,
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
        win = _cell_window(area.mask, area.grid, pad_cells=1)
        if win is None:
            continue
        colour, _ = _observed_cell_colours(observed, area.mask, win)
        interp = _interpolate_cells(colour, area.grid, win, interpolation, cv2.BORDER_REPLICATE)
        inside = area.mask[win.rows, win.cols]
        guide[win.rows, win.cols][inside] = interp[inside]
    return np.clip(guide, 0, 255)


class _CellTargets(NamedTuple):
    """One area's cells over an image: the window, each cell's observed colour, and the pixels."""

    win: _CellWindow
    n: int  # cells in the window
    colour: np.ndarray  # (n, C) the colour each cell shows in the observed image
    in_counts: np.ndarray  # (n,) masked pixels per cell
    counts: np.ndarray  # (n,) all pixels per cell (a cut cell's visible part included)
    block: np.ndarray  # (h, w, C) the window of the image: a view, writes go through
    inside: np.ndarray  # (h, w) bool, the area's pixels in the window


def _cell_targets(image: np.ndarray, observed: np.ndarray, area: GridArea, pad_cells: int = 0) -> _CellTargets | None:
    win = _cell_window(area.mask, area.grid, pad_cells)
    if win is None:
        return None
    n = win.shape[0] * win.shape[1]
    colour, in_counts = _observed_cell_colours(observed, area.mask, win)
    block = image[win.rows, win.cols]
    _, counts = cell_sums(block[..., :1], win.labels, n)
    return _CellTargets(win, n, colour, in_counts, counts, block, area.mask[win.rows, win.cols])


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


def _tent(grid: Grid, win: _CellWindow) -> _Tent:
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


def _tent_response(t: _CellTargets, tent: _Tent) -> np.ndarray:
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


def _smooth_correction(out: np.ndarray, observed: np.ndarray, area: GridArea, rounds: int,
                       bounds: Bounds | None = None) -> None:
    """Move `out`'s masked pixels (in place) to the observed cell means with a smooth field
    rather than a constant per cell, so no cell edges are drawn in.

    The field is a tent: values at the cell centres, interpolated bilinearly. Each round adds
    every cell's remaining offset to its value (zero in the unmasked cells around the area):
    iterative back-projection, run on the cells (the response of every cell's mean to its
    3×3 neighbours' values is computed once) until no cell is off by more than
    `SMOOTH_TOLERANCE` or `rounds` are done; then the field is drawn once. Bilinear: the cell
    average of a tent keeps 1/4 to 1 of any pattern of offsets, so the rounds converge. Only
    cells at least half inside the area take part: a cut cell with a few masked pixels would
    scale its offset by its size over theirs and spread that to its neighbours (measured: one
    ellipse at 24 px cells lost 4.5 dB that way); the exact step after this one settles them.
    """
    t = _cell_targets(out, observed, area, pad_cells=1)
    if t is None:
        return
    share = np.where(2 * t.in_counts >= t.counts, t.counts / np.maximum(t.in_counts, 1), 0.0)[:, None]
    sums, _ = cell_sums(t.block, t.win.labels, t.n)
    gap = t.colour - sums / np.maximum(t.counts, 1)[:, None]  # (n, C) each cell's mean is off by
    tent = _tent(area.grid, t.win)
    response = _tent_response(t, tent)
    values = np.zeros_like(gap)
    for _ in range(rounds):
        # The change each masked pixel of a cell needs on average for the cell to reach its colour.
        need = (gap - _apply_response(response, values, t.win.shape)) * share
        if np.abs(need).max() <= SMOOTH_TOLERANCE:
            break
        values += need
    t.block[t.inside] += _tent_field(values, tent, t.win.shape)[t.inside]
    lo, hi = _pixel_bounds(t, bounds)
    t.block[t.inside] = np.clip(t.block[t.inside], lo, hi)  # what clipping takes, the exact step redistributes


def _tent_weights(t: _CellTargets, pitch: tuple[float, float]) -> np.ndarray:
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


def _pixel_bounds(t: _CellTargets, bounds: Bounds | None) -> tuple[np.ndarray | float, np.ndarray | float]:
    """(lo, hi) of the area's pixels in the window, (k, C) arrays, or the 8-bit range."""
    if bounds is None:
        return 0.0, 255.0
    return bounds.lo[t.win.rows, t.win.cols][t.inside], bounds.hi[t.win.rows, t.win.cols][t.inside]


def _target_sums(t: _CellTargets, fixed: np.ndarray, bounds: Bounds | None) -> np.ndarray:
    """(n, C) the sum each cell's pixels must reach; `fixed` (n, C): each cell's unmasked sum.

    A whole cell: its observed colour times its size. A cut cell (part of it outside the
    area) has two conventions in the wild: the synthesiser and editors pixelate the whole
    frame and mask the result, so the cut cell shows the mean of the *whole* cell, whose
    visible part is still there; ffmpeg's crop + pixelize shows the mean of the in-crop part
    only. Without bounds the first holds. With bounds, a cut cell follows the first only
    where the mean it implies for the masked part lies within what the bounds allow, and
    the second otherwise: a mask that reaches past a mosaic (detected, dilated) must not
    have its real pixels' colour forced into the masked ones as streaks."""
    whole = t.colour * t.counts[:, None]
    if bounds is None:
        return whole
    lo_sum, _ = cell_sums(bounds.lo[t.win.rows, t.win.cols], t.win.labels, t.n, weights=t.inside)
    hi_sum, _ = cell_sums(bounds.hi[t.win.rows, t.win.cols], t.win.labels, t.n, weights=t.inside)
    fits = (whole - fixed >= lo_sum) & (whole - fixed <= hi_sum)  # (n, C): channel by channel
    return np.where(fits, whole, t.colour * t.in_counts[:, None] + fixed)


def enforce_cell_means(
    restored: np.ndarray, observed: np.ndarray, areas: Sequence[GridArea], max_iter: int = 32,
    smooth_rounds: int = 30, bounds: Bounds | None = None,
) -> np.ndarray:
    """Shift restored pixels so each mean-mode cell's mean equals the colour it was observed with.

    `restored` is the composite (H×W×C, float or uint8): restored inside the areas,
    unchanged outside. Only masked pixels move. A whole cell's mean (visible part of a
    cut cell included) must equal the observed cell colour; where clipping to [0, 255]
    stops a pixel, the remainder goes to the cell's other masked pixels. Returns float32.

    The correction is smooth first (up to `smooth_rounds` of back-projection, see
    `_smooth_correction`); then an exact step takes up what is left, each cell's remainder
    shared out in a tent that is near zero at its borders with other masked cells
    (`_tent_weights`). A constant per cell would draw the cell grid: on held-out training
    photos its grid visibility (`metrics.grid_visibility`) was 3.5–5.4 at 16–24 px cells,
    against 1.2 for the network's own output.

    With `bounds` no pixel leaves [lo, hi] (instead of [0, 255]): where an exact mean would
    need a pixel past them, the cell stays approximate (see `_target_sums` for cut cells).
    """
    out = restored.astype(np.float64).copy()
    for area in areas:
        if area.mode != "mean":
            continue
        if smooth_rounds:
            _smooth_correction(out, observed, area, smooth_rounds, bounds)
        t = _cell_targets(out, observed, area)
        if t is None:
            continue
        win, n, block, inside, all_counts = t.win, t.n, t.block, t.inside, t.counts
        fixed, _ = cell_sums(block, win.labels, n, weights=~inside)  # visible parts of cut cells
        target = _target_sums(t, fixed, bounds)  # the sum each cell must reach
        lab = win.labels[inside]
        tent = _tent_weights(t, area.grid.pitch)[inside][:, None]
        lo, hi = _pixel_bounds(t, bounds)
        pix = np.clip(block[inside], lo, hi)  # (k, C) the pixels free to move
        for _ in range(max_iter):
            current = fixed + np.stack(
                [np.bincount(lab, weights=pix[:, ch], minlength=n) for ch in range(pix.shape[1])],
                axis=-1)
            deficit = target - current  # (n, C)
            # Pixels that can still move in the needed direction share the deficit by their tent weight.
            d = deficit[lab]
            free = np.where(d > 0, pix < hi, pix > lo) * tent
            w_free = np.stack([np.bincount(lab, weights=free[:, ch], minlength=n)
                               for ch in range(pix.shape[1])], axis=-1)
            # Done when every cell is on target or has no pixel left that can move (clipped).
            if np.all((np.abs(deficit) <= 1e-6 * np.maximum(all_counts, 1)[:, None]) | (w_free == 0)):
                break
            step = deficit / np.maximum(w_free, 1e-12)
            pix = np.clip(pix + free * step[lab], lo, hi)
        block[inside] = pix
    return out.astype(np.float32)


def cell_means(image: np.ndarray, area: GridArea) -> tuple[np.ndarray, np.ndarray]:
    """(means (n, C), counts (n,)) of `image` over the whole cells touching `area` (for checks)."""
    win = _cell_window(area.mask, area.grid)
    if win is None:
        return np.zeros((0, image.shape[-1])), np.zeros(0)
    n = win.shape[0] * win.shape[1]
    sums, counts = cell_sums(image[win.rows, win.cols].astype(np.float64), win.labels, n)
    keep = counts > 0
    return sums[keep] / counts[keep][:, None], counts[keep]


def cell_errors(restored: np.ndarray, observed: np.ndarray, area: GridArea, bounds: Bounds | None = None) -> np.ndarray:
    """|sum of each cell of `restored` − the sum it must have| (levels, largest channel),
    one value per masked cell, with `enforce_cell_means`' targets: the re-pixelated result
    against the observed cells, as the shift the cell's masked pixels would still need (a
    cut cell's whole-cell error times its size over its masked part). Mean-mode areas only."""
    if area.mode != "mean":
        return np.zeros(0)
    t = _cell_targets(restored.astype(np.float64), observed, area)
    if t is None:
        return np.zeros(0)
    sums, _ = cell_sums(t.block, t.win.labels, t.n)
    # Per masked pixel: the shift the cell's masked pixels would still need.
    fixed, _ = cell_sums(t.block, t.win.labels, t.n, weights=~t.inside)
    error = np.abs(sums - _target_sums(t, fixed, bounds)) / np.maximum(t.in_counts, 1)[:, None]
    return error[t.in_counts > 0].max(axis=1)


def cell_mean_error(restored: np.ndarray, observed: np.ndarray, areas: Sequence[GridArea],
                    changed_only: bool = False) -> float:
    """Largest |whole-cell mean of `restored` − the cell's observed colour| (levels, any channel)
    over the mean-mode cells whose colour the masked pixels can reach in [0, 255] (with
    `changed_only`, over the cells with a masked pixel `restored` changed: a cell the
    restorer kept as the mosaic is not its error)."""
    worst = 0.0
    for area in areas:
        if area.mode != "mean":
            continue
        t = _cell_targets(restored.astype(np.float64), observed, area)
        if t is None:
            continue
        sums, _ = cell_sums(t.block, t.win.labels, t.n)
        fixed, _ = cell_sums(t.block, t.win.labels, t.n, weights=~t.inside)
        target = t.colour * t.counts[:, None]
        reachable = (t.in_counts[:, None] > 0) & (target >= fixed) & (target <= fixed + 255 * t.in_counts[:, None])
        error = np.abs(sums / np.maximum(t.counts, 1)[:, None] - t.colour)
        if changed_only:
            moved = np.any(restored[t.win.rows, t.win.cols] != observed[t.win.rows, t.win.cols], axis=-1) & t.inside
            reachable &= (np.bincount(t.win.labels[moved], minlength=t.n) > 0)[:, None]
        worst = max(worst, float(error[reachable].max(initial=0.0)))
    return worst

