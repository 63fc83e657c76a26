"""Masks that hold still in time: a majority vote of detections over neighbouring frames.

A mosaic that follows a face must not flicker in and out because one frame's detection
missed it, and a false detection in a single frame must not alter that frame. Each
frame's mask is the set of pixels detected in most frames of a window around it (the
window stops at scene cuts); each stable region takes the cell grid of the detection that
overlaps it most. Frames come out in order, `radius` frames late.
"""
from __future__ import annotations

from collections import deque
from typing import Sequence

import cv2
import numpy as np

from .metrics import bounding_box
from .mosaic import GridArea
from .rgbframes import pixels


# Mean |difference| of consecutive thumbnails (levels) that marks a new scene.
CUT_THRESHOLD = 30.0


def signature(frame: np.ndarray) -> np.ndarray:
    """A tiny grey thumbnail: cheap to compare, blind to noise."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (32, 18), interpolation=cv2.INTER_AREA).astype(np.float32)


def is_cut(before: np.ndarray | None, after: np.ndarray, threshold: float = CUT_THRESHOLD) -> bool:
    """Whether two consecutive frames' signatures belong to different scenes."""
    return before is not None and float(np.abs(after - before).mean()) > threshold


class MaskStabiliser:
    """Frames with their detections in (`push`), the same frames with voted areas out, in
    order and `radius` frames late. Where a window holds no detection its frames' pixels
    are never looked at: the scene cuts (thumbnails of two frames in a row) are found only
    inside windows that have something to vote on, so frames that are still their planes
    (`rgbframes.LazyFrame`) stay so."""

    def __init__(self, radius: int = 2, cut_threshold: float = CUT_THRESHOLD):
        self.radius = radius  # the window is 2·radius + 1 frames
        self.cut_threshold = cut_threshold  # mean |Δ| of the thumbnails (levels) that marks a new scene
        self._frames: deque = deque()  # (frame, areas)
        self._signatures: dict[int, np.ndarray] = {}  # by buffer index, as needed
        self._cuts: dict[int, bool] = {}  # by buffer index i: a cut between frames i − 1 and i
        self._emitted = 0  # index (in the buffer's numbering) of the next frame to emit
        self._first = 0  # buffer index of self._frames[0]

    def push(self, frame, areas: Sequence[GridArea]) -> list[tuple[object, list[GridArea]]]:
        """Add a frame and its detections; returns the frames now ready, with stable areas."""
        self._frames.append((frame, list(areas)))
        ready = []
        while self._emitted + self.radius < self._first + len(self._frames):
            ready.append(self._emit())
        return ready

    def flush(self) -> list[tuple[object, list[GridArea]]]:
        ready = []
        while self._emitted < self._first + len(self._frames):
            ready.append(self._emit())
        return ready

    def _signature(self, i: int) -> np.ndarray:
        if i not in self._signatures:
            self._signatures[i] = signature(pixels(self._frames[i - self._first][0]))
        return self._signatures[i]

    def _cut_before(self, i: int) -> bool:
        if i not in self._cuts:
            self._cuts[i] = is_cut(self._signature(i - 1), self._signature(i), self.cut_threshold)
        return self._cuts[i]

    def _emit(self) -> tuple[object, list[GridArea]]:
        centre = self._emitted
        lo = max(self._first, centre - self.radius)
        hi = min(self._first + len(self._frames), centre + self.radius + 1)
        frame = self._frames[centre - self._first][0]
        areas: list[GridArea] = []
        if any(self._frames[i - self._first][1] for i in range(lo, hi)):
            # The window stops at a cut on either side of its centre.
            start = next((i for i in range(centre, lo, -1) if self._cut_before(i)), lo)
            stop = next((i for i in range(centre + 1, hi) if self._cut_before(i)), hi)
            window = [self._frames[i - self._first][1] for i in range(start, stop)]
            areas = self.vote(frame.shape[:2], window)
        self._emitted += 1
        while self._emitted - self._first > self.radius:  # older frames can no longer vote
            self._frames.popleft()
            self._signatures.pop(self._first, None)
            self._cuts.pop(self._first, None)
            self._cuts.pop(self._first + 1, None)
            self._first += 1
        return frame, areas

    @staticmethod
    def vote(shape: tuple[int, int], detections: Sequence[Sequence[GridArea]]) -> list[GridArea]:
        """Pixels detected in more than half of the frames, grouped into regions with a grid each.
        Counted over the box that holds every detection (from even rows and columns, where
        OpenCV numbers the regions as over the whole frame), not the whole frame."""
        candidates = [a for areas in detections for a in areas]
        held = [a.mask for a in candidates if a.mask.any()]
        if not held:
            return []
        rows, cols = bounding_box(np.logical_or.reduce(held) if len(held) > 1 else held[0])
        box = (slice(rows.start - rows.start % 2, rows.stop), slice(cols.start - cols.start % 2, cols.stop))
        votes = np.zeros((box[0].stop - box[0].start, box[1].stop - box[1].start), np.int32)
        for areas in detections:
            union = np.zeros(votes.shape, bool)
            for a in areas:
                union |= a.mask[box]
            votes += union
        stable = votes * 2 > len(detections)
        if not stable.any():
            return []
        count, labels = cv2.connectedComponents(stable.astype(np.uint8), connectivity=8)
        regions = []
        for k in range(1, count):
            part = labels == k
            best = max(candidates, key=lambda a: int((a.mask[box] & part).sum()))
            whole = np.zeros(shape, bool)
            whole[box] = part
            regions.append(GridArea(whole, best.grid, best.mode))
        return regions
