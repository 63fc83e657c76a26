"""Large frames in bounded memory: overlapping tiles, the part of each tile that decides its
pixels, and boxes grouped by what they reach.

Above `TileConfig.above` pixels a frame is detected tile by tile (`detect.tiled`) and restored
crop by crop around its regions (`Restorer.restore_crops`), the network itself run tile by tile
over crops wider than `TileConfig.model_size`. Everything below the threshold runs whole, as it
always did. The tiles of one plan are one size (one traced graph for the network), overlap by at
least `overlap` px, and each owns its *core*: the pixels nearer its middle than any other
tile's (every overlap split in its middle), so each pixel is decided where it has the most
context on every side.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Sequence


class Span(NamedTuple):
    """One tile along an axis: the pixels it sees [start, stop) and those it owns [core_start, core_stop)."""

    start: int
    stop: int
    core_start: int
    core_stop: int


def spans(length: int, size: int, overlap: int, align: int = 1) -> list[Span]:
    """The fewest tiles of at most `size` px that cover [0, length) with neighbours overlapping
    by `overlap` px at least: all one size (the least that does), spread evenly, their size and
    starts multiples of `align` (`size` and `overlap` must be too). One tile, the whole length,
    where it is no longer than `size`. Cores meet in the middle of each overlap."""
    if length <= size:
        return [Span(0, length, 0, length)]
    if not 0 <= overlap < size or size % align or overlap % align:
        raise ValueError(f"tile size {size} and overlap {overlap} must be multiples of {align}, the overlap less")
    count = 1 + -(-(length - size) // (size - overlap))
    tile = -(-(length + (count - 1) * overlap) // (count * align)) * align  # at most `size`
    if (length - tile) % align:
        raise ValueError(f"length {length} must be a multiple of {align}")
    starts = [(i * (length - tile) // (count - 1)) // align * align for i in range(count)]
    cuts = [0] + [(starts[i + 1] + starts[i] + tile) // 2 for i in range(count - 1)] + [length]
    return [Span(s, s + tile, cuts[i], cuts[i + 1]) for i, s in enumerate(starts)]


class Tile(NamedTuple):
    rows: Span
    cols: Span

    @property
    def box(self) -> tuple[slice, slice]:
        """The frame's pixels the tile sees."""
        return slice(self.rows.start, self.rows.stop), slice(self.cols.start, self.cols.stop)

    @property
    def core(self) -> tuple[slice, slice]:
        """The frame's pixels the tile owns."""
        return slice(self.rows.core_start, self.rows.core_stop), slice(self.cols.core_start, self.cols.core_stop)

    @property
    def core_in_tile(self) -> tuple[slice, slice]:
        """The pixels the tile owns, in the tile's coordinates."""
        r, c = self.rows, self.cols
        return (slice(r.core_start - r.start, r.core_stop - r.start),
                slice(c.core_start - c.start, c.core_stop - c.start))


def plan_tiles(shape: tuple[int, int], size: int, overlap: int, align: int = 1) -> list[Tile]:
    """Tiles over a frame of `shape` (H, W), row by row (see `spans`)."""
    return [Tile(r, c) for r in spans(shape[0], size, overlap, align) for c in spans(shape[1], size, overlap, align)]


class Group(NamedTuple):
    """Boxes that reach one another, and the crop that holds all they reach."""

    rows: slice
    cols: slice
    members: tuple[int, ...]  # indices into the boxes given


def group_boxes(boxes: Sequence[tuple[int, int, int, int]], reaches: Sequence[int],
                shape: tuple[int, int]) -> list[Group]:
    """Boxes (x0, y0, x1, y1, end exclusive) grown by their reach (px) and cut to the frame
    (H, W) go together, transitively, where the grown boxes overlap or touch; each group's crop
    is the box around its grown boxes. Groups come in the order of their first box."""
    height, width = shape
    grown = [(max(0, x0 - r), max(0, y0 - r), min(width, x1 + r), min(height, y1 + r))
             for (x0, y0, x1, y1), r in zip(boxes, reaches)]

    def touching(i: int, j: int) -> bool:  # overlapping or touching
        a, b = grown[i], grown[j]
        return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]

    members: dict[int, list[int]] = {}
    for i, group in enumerate(join_groups(len(grown), touching)):
        members.setdefault(group, []).append(i)
    groups = []
    for idx in sorted(members.values(), key=lambda m: m[0]):
        x0, y0 = min(grown[i][0] for i in idx), min(grown[i][1] for i in idx)
        x1, y1 = max(grown[i][2] for i in idx), max(grown[i][3] for i in idx)
        groups.append(Group(slice(y0, y1), slice(x0, x1), tuple(idx)))
    return groups


def join_groups(n: int, joined: Callable[[int, int], bool]) -> list[int]:
    """Each of `n` items' group, named by its smallest index: items i > j go together where
    `joined(i, j)` (asked only while they are apart), and transitively."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i):
            ri, rj = root(i), root(j)
            if ri != rj and joined(i, j):
                parent[max(ri, rj)] = min(ri, rj)
    return [root(i) for i in range(n)]
