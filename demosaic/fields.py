"""Interlaced video restored field by field.

An interlaced frame holds two pictures taken at different times: the top field (rows 0, 2,
4, ...) and the bottom field (rows 1, 3, ...). Where the picture moves, the woven frame is
combed, and a mosaic laid on each field (as a field-aware tool, or a broadcast chain working
in fields, lays it) shows as two interleaved lattices that no woven frame holds: its cells
are flat only within a field. So each field is detected, voted on, tracked and restored as a
picture of its own, in a lane per parity (each lane sees its fields in time order, one per
frame, as a progressive video of half the height), and the two restored fields are woven
back into the frame. A mosaic laid on the woven frame is a mosaic on each field too, with
cells half as tall (its cells' means are the means of both fields, which is each field's
observation where the fields agree).
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Generic, Iterator, NamedTuple, Sequence, TypeVar

import numpy as np

T = TypeVar("T")


class Fields(NamedTuple, Generic[T]):
    """One value per field of a frame: the top field's (even rows) and the bottom field's."""

    top: T
    bottom: T


def split(frame: np.ndarray) -> Fields[np.ndarray]:
    """A frame's two fields, each a contiguous picture of its rows."""
    return Fields(np.ascontiguousarray(frame[0::2]), np.ascontiguousarray(frame[1::2]))


def weave(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """The frame whose even rows are `top` and odd rows `bottom` (a new array)."""
    out = np.empty((top.shape[0] + bottom.shape[0],) + top.shape[1:], top.dtype)
    out[0::2], out[1::2] = top, bottom
    return out


def split_masks(masks: Iterator[np.ndarray]) -> Fields[Iterator[np.ndarray]]:
    """Two iterators over the top and the bottom rows of each mask `masks` gives, in step:
    either may run ahead of the other (what it has read waits for the other)."""
    waiting: Fields[deque] = Fields(deque(), deque())

    def lane(parity: int) -> Iterator[np.ndarray]:
        while True:
            if not waiting[parity]:
                mask = next(masks, None)
                if mask is None:
                    return
                for p, part in enumerate(split(mask)):
                    waiting[p].append(part)
            yield waiting[parity].popleft()

    return Fields(lane(0), lane(1))


class Step(NamedTuple):
    """One lane's stage that holds pictures back: `push(picture, value)` gives the items now
    ready, `flush()` the rest; an item is (picture, value, ...)."""

    push: Callable[[np.ndarray, Any], list]
    flush: Callable[[], list]


class Lanes:
    """A stage run as two lanes, one per field: each frame's fields go to their lanes, and
    the lanes' items, in order, are paired back into frame items: (the frame woven from the
    two fields, Fields of each further value). A lane may hand back its items later or
    sooner than the other (a scene cut seen in one field only), so each waits for its
    partner; at the end both lanes have handed back one item per frame."""

    def __init__(self, top: Step, bottom: Step):
        self.lanes = Fields(top, bottom)
        self.ready: Fields[deque] = Fields(deque(), deque())

    def push(self, frame: np.ndarray, value: Fields | None = None) -> list[tuple]:
        for parity, (lane, picture) in enumerate(zip(self.lanes, split(frame))):
            self.ready[parity].extend(lane.push(picture, None if value is None else value[parity]))
        return self._pairs()

    def flush(self) -> list[tuple]:
        for parity, lane in enumerate(self.lanes):
            self.ready[parity].extend(lane.flush())
        out = self._pairs()
        if self.ready.top or self.ready.bottom:
            raise RuntimeError("the field lanes handed back different numbers of fields")
        return out

    def _pairs(self) -> list[tuple]:
        out = []
        while self.ready.top and self.ready.bottom:
            top, bottom = self.ready.top.popleft(), self.ready.bottom.popleft()
            out.append((weave(top[0], bottom[0]), *(Fields(a, b) for a, b in zip(top[1:], bottom[1:]))))
        return out


class FieldRestorer:
    """A restorer's `restore_frames` for frames whose areas (and windows) are given per field
    (`Fields`): each lane's fields are restored together, and the results woven."""

    def __init__(self, restorer):
        self.restorer = restorer

    def restore_frames(self, frames: Sequence[np.ndarray], areas: Sequence[Fields], windows: Sequence[Fields] | None = None,
                       fusion=None) -> list:
        from .restore import Restored

        halves = [split(f) for f in frames]
        done = []
        for parity in (0, 1):
            pictures = [h[parity] for h in halves]
            lane_areas = [a[parity] for a in areas]
            if windows is None:
                done.append(self.restorer.restore_frames(pictures, lane_areas))
            else:
                done.append(self.restorer.restore_frames(pictures, lane_areas, [w[parity] for w in windows], fusion))
        # Each lane tracks its own mosaics: a track is numbered per lane, so the report's
        # numbers are made distinct (top 2k, bottom 2k + 1).
        return [Restored(weave(top.frame, bottom.frame), top.outcome + bottom.outcome,
                         tuple(f._replace(track=2 * f.track) for f in top.fusion)
                         + tuple(f._replace(track=2 * f.track + 1) for f in bottom.fusion))
                for top, bottom in zip(*done)]
