"""Mosaic regions that keep their identity from frame to frame (issue #9's region tracks).

Multi-frame fusion solves one region's hidden picture from the frames around it, so it
needs to know which area in the next frame is the same mosaic. The temporal vote gives
every frame its areas anew; a `Tracker` links them: an area continues the track whose last
area overlaps it most (boxes, intersection over union) and has the same cell pitch; a scene
cut ends every track. Each track keeps its grid per frame, as the frames found it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mosaic import GridArea

# The least overlap of consecutive boxes that is the same region. A mosaic that follows a
# face moves a few px a frame: a 64 px box moved 8 px still overlaps it by 0.78.
MIN_OVERLAP = 0.3
# Cell pitches that differ by more than this are different mosaics (a re-detected grid of
# the same mosaic agrees to a few hundredths of a px).
PITCH_TOLERANCE = 0.05


@dataclass(frozen=True)
class Box:
    y0: int
    x0: int
    y1: int  # end exclusive
    x1: int

    @classmethod
    def of(cls, mask: np.ndarray) -> "Box | None":
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if not len(rows):
            return None
        return cls(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)

    @property
    def size(self) -> int:
        return (self.y1 - self.y0) * (self.x1 - self.x0)

    def overlap(self, other: "Box") -> float:
        """Intersection over union."""
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        inter = max(h, 0) * max(w, 0)
        return inter / (self.size + other.size - inter) if inter else 0.0


@dataclass(frozen=True)
class TrackedArea:
    track: int  # the same number on every frame of one mosaic, until a cut or a gap
    area: GridArea
    box: Box


def _same_pitch(a: GridArea, b: GridArea) -> bool:
    if a.grid is None or b.grid is None:
        return a.grid is None and b.grid is None
    return all(abs(p - q) <= PITCH_TOLERANCE * max(p, q) for p, q in zip(a.grid.pitch, b.grid.pitch))


class Tracker:
    """Track numbers for each frame's areas, frame after frame."""

    def __init__(self):
        self._last: list[TrackedArea] = []  # the previous frame's
        self._next = 0

    def push(self, areas: list[GridArea], cut: bool = False) -> list[TrackedArea]:
        """This frame's areas with their tracks, in the order given. After a cut (or a frame
        where a track's mosaic is not found) the track ends; a later area starts a new one."""
        previous = [] if cut else self._last
        boxes = [Box.of(a.mask) for a in areas]
        pairs = sorted(((b.overlap(p.box), i, j) for i, b in enumerate(boxes) if b is not None
                        for j, p in enumerate(previous) if _same_pitch(areas[i], p.area)), reverse=True)
        track: dict[int, int] = {}
        taken: set[int] = set()
        for score, i, j in pairs:
            if score < MIN_OVERLAP:
                break
            if i not in track and j not in taken:
                track[i] = previous[j].track
                taken.add(j)
        out = []
        for i, (area, box) in enumerate(zip(areas, boxes)):
            if box is None:
                continue
            if i not in track:
                track[i], self._next = self._next, self._next + 1
            out.append(TrackedArea(track[i], area, box))
        self._last = out
        return out
