"""The stages of `demosaic video`, joined by bounded queues: decode → detect and vote →
restore (batches of frames, two in flight, handed on in order by the caller's thread) → encode.

Each stage reads its input until `END`, passes `END` on, and counts its busy seconds. A stage
that fails records its error and sets the shared stop flag; every other stage then ends
without waiting on a queue, and the caller raises the first error. Each stage is a plain
function of its queues, testable with lists in and out.
"""
from __future__ import annotations

import collections
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterable

from demosaic.restore import Outcome, Restored
from demosaic.rgbframes import pixels

END = object()
# Batches `Restoring.run` restores beside the one it hands on next (0: one at a time, as a tool
# that follows frames through `Restorer.restore_frames` in call order needs).
BATCHES_AHEAD = 1


@dataclass
class Flow:
    """What the stages share: the stop flag, the errors, and busy seconds per stage."""

    stop: threading.Event = field(default_factory=threading.Event)
    errors: list = field(default_factory=list)
    seconds: dict = field(default_factory=lambda: {"decode": 0.0, "detect": 0.0, "restore": 0.0, "encode": 0.0})

    def put(self, q: queue.Queue, item) -> None:
        """Put, unless the pipeline is stopping (then the item is dropped and nobody waits)."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue):
        """The next item, or END once the pipeline is stopping."""
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if self.stop.is_set():
                    return END

    def start(self, body: Callable[[], None], then: Callable[[], None] = lambda: None,
              name: str | None = None) -> threading.Thread:
        """Run `body` on a daemon thread (`name`: the stage's, as profiles show it); a failure is
        recorded and stops the pipeline; `then` always runs."""

        def run():
            try:
                body()
            except BaseException as exc:
                self.errors.append(exc)
                self.stop.set()
            finally:
                then()

        thread = threading.Thread(target=run, daemon=True, name=name)
        thread.start()
        return thread

    def timed(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] += now - since
        return now


def decode(flow: Flow, frames: Iterable, out: queue.Queue, planes: dict | None, kept: Callable[[int], bool],
           prefetch: Callable[[int, object], None] | None = None) -> None:
    """Decoded frames into `out`. With `planes`, the reader yields (rgb, own planes): the rgb
    frame goes on, and the planes of frames that will be written wait in `planes` by number.
    `prefetch(n, frame)` is told of each frame as it is decoded (`rgbframes`: converting
    those that will be looked at, ahead of their turn)."""
    t0 = time.perf_counter()
    for n, item in enumerate(frames):
        frame = item
        if planes is not None:
            frame, own = item
            if kept(n):
                planes[n] = own
        if prefetch is not None:
            prefetch(n, frame)
        flow.timed("decode", t0)
        flow.put(out, frame)
        if flow.stop.is_set():
            return
        t0 = time.perf_counter()


class Held:
    """Steps that each hold frames back until they have seen the frames around them (the
    temporal vote, then fusion's windows), as one `push`/`flush`: each step's output is the
    next one's input, and a step's items are (frame, areas, ...)."""

    def __init__(self, *steps):
        self.steps = [s for s in steps if s is not None]

    def push(self, frame, areas) -> list:
        items = [(frame, areas)]
        for step in self.steps:
            items = [out for item in items for out in step.push(*item[:2])]
        return items

    def flush(self) -> list:
        items: list = []
        for step in self.steps:
            items = [out for item in items for out in step.push(*item[:2])] + step.flush()
        return items


def detect(flow: Flow, inp: queue.Queue, out: queue.Queue, find: Callable, flush: Callable, vote,
           every_frame: bool = False) -> None:
    """Frames from `inp` → (frame, areas[, window]) into `out`, in order. `find(frame)` gives
    the (frame, areas) pairs that are ready (a keyframe detector holds frames back until the
    next keyframe), `flush()` the rest at the end; `vote` (a MaskStabiliser, a `Held` chain,
    or None) holds each frame until the frames around it have been seen. With `every_frame`
    each frame's rgb24 is taken first (`rgbframes.pixels`: for steps that look at every one)."""

    def send(found, end=False):
        ready = []
        for frame, areas in found:
            ready += vote.push(frame, areas) if vote else [(frame, areas)]
        if end and vote:
            ready += vote.flush()
        for item in ready:
            # The restorer reads the pixels of frames with areas: converted here, on this
            # thread (a frame that is still its planes, `rgbframes.LazyFrame`, stays so otherwise).
            flow.put(out, (pixels(item[0]),) + tuple(item[1:]) if item[1] else item)

    while not flow.stop.is_set():
        frame = flow.get(inp)
        if frame is END:
            break
        t0 = time.perf_counter()
        send(find(pixels(frame) if every_frame else frame))
        flow.timed("detect", t0)
    if not flow.stop.is_set():
        send(flush(), end=True)


def encode(flow: Flow, inp: queue.Queue, writer, planes: dict | None) -> None:
    """(number, restored, as decoded) from `inp` into `writer`; on the planes path with the
    frame's own planes."""
    while True:
        item = flow.get(inp)
        if item is END:
            return
        t0 = time.perf_counter()
        n, restored, original = item
        if planes is not None:
            writer.write(restored, original, planes.pop(n))
        else:
            writer.write(restored)
        flow.timed("encode", t0)


class _Busy:
    """A stage's busy seconds where several of its calls may overlap: the time while at least
    one is running (`with busy:` around each)."""

    def __init__(self, flow: Flow, stage: str):
        self.flow, self.stage = flow, stage
        self.lock = threading.Lock()
        self.running, self.since = 0, 0.0

    def __enter__(self) -> None:
        with self.lock:
            if not self.running:
                self.since = time.perf_counter()
            self.running += 1

    def __exit__(self, *exc) -> None:
        with self.lock:
            self.running -= 1
            if not self.running:
                self.flow.timed(self.stage, self.since)


class Restoring:
    """The caller's stage: (frame, areas) in batches → restored frames, numbered, to the encoder,
    in order, with two batches restored at once (`run`).

    The first `skip` frames and any after `skip + keep` only fed the vote (a segment's
    overlap): they are not written, and only those from frame `restore_from` on are restored
    (fusion solves a block with its first frame's restored picture as the prior: a segment
    restores the frames of its first block that lie in its overlap)."""

    def __init__(self, flow: Flow, restorer, out: queue.Queue, skip: int = 0, keep: int | None = None,
                 progress: Callable[[int, int | None, float], None] | None = None, total: int | None = None,
                 fusion=None, restore_from: int | None = None):
        """`fusion`: the FusionConfig items with windows are restored with."""
        self.flow, self.restorer, self.out = flow, restorer, out
        self.skip, self.keep, self.progress, self.total = skip, keep, progress, total
        self.restore_from = skip if restore_from is None else min(skip, restore_from)
        self.fusion = fusion
        self.seen = self.frames = self.restored = 0
        self.outcome = Outcome()
        self.tracks: dict[int, dict] = {}  # per fused track: regions, frames fused, cells, cells fused, used
        self.started = time.perf_counter()
        self._busy = _Busy(flow, "restore")

    def written(self, n: int) -> bool:
        """Whether frame `n` of the reader is written (not overlap)."""
        return n >= self.skip and (self.keep is None or n < self.skip + self.keep)

    def _taken(self, items: list) -> tuple[int, list]:
        """(the first kept item's frame number in the reader, the items to restore)."""
        first = max(0, self.restore_from - self.seen)
        last = len(items) if self.keep is None else max(first, min(len(items), self.skip + self.keep - self.seen))
        number = self.seen + first
        self.seen += len(items)
        return number, items[first:last]

    def _restore(self, taken: tuple[int, list]) -> tuple[int, list, list]:
        number, items = taken
        if not items:
            return number, [], []
        frames = [item[0] for item in items]
        windows = [item[2] for item in items] if all(len(item) > 2 for item in items) else None
        areas = [item[1] for item in items]
        with self._busy:
            if self.restorer is None:
                out = [Restored(f, Outcome()) for f in frames]
            elif windows is None:
                out = self.restorer.restore_frames(frames, areas)
            else:
                out = self.restorer.restore_frames(frames, areas, windows, self.fusion)
        return number, frames, out

    def _emit(self, number: int, frames: list, out: list) -> None:
        if not out:
            return
        for k, r in enumerate(out):
            if number + k < self.skip:
                continue  # restored only as the prior of its block
            self.frames += 1
            self.restored += r.outcome.restored + r.outcome.guide > 0
            self.outcome += r.outcome
            for f in r.fusion:
                t = self.tracks.setdefault(f.track, {"regions": 0, "frames_fused": 0, "cells": 0, "cells_fused": 0,
                                                     "written_fused": 0})
                t["regions"] += 1
                t["frames_fused"] += f.frames
                t["cells"] += f.cells
                t["cells_fused"] += f.fused_cells if f.used else 0
                t["written_fused"] += f.used
            self.flow.put(self.out, (number + k, r.frame, frames[k]))
        if self.progress is not None:
            self.progress(self.frames, self.total, time.perf_counter() - self.started)

    def run(self, inp: queue.Queue, batch_frames: int, ahead: int | None = None) -> None:
        """Every (frame, areas) from `inp`, `batch_frames` at a time, then END to the encoder.
        `ahead`: batches restored at once beyond the one handed on next (None: `BATCHES_AHEAD`;
        0: one at a time; fusion, whose blocks carry from batch to batch, is always one at a
        time). A batch that fails raises here once it is seen to (the newest is looked at before
        more frames are read, the oldest when it is due); batches already running finish first."""
        ahead = 0 if self.fusion is not None else BATCHES_AHEAD if ahead is None else ahead
        pool = ThreadPoolExecutor(ahead + 1, thread_name_prefix="batch") if ahead else None
        flight: collections.deque = collections.deque()

        def send(items: list) -> None:
            taken = self._taken(items)
            if pool is None:
                self._emit(*self._restore(taken))
                return
            flight.append(pool.submit(self._restore, taken))
            if len(flight) > ahead:
                self._emit(*flight.popleft().result())
            if flight and flight[-1].done() and flight[-1].exception() is not None:
                flight[-1].result()  # raises: no more frames are read for a run that has failed

        try:
            pending: list = []
            while True:
                item = self.flow.get(inp)
                if item is END:
                    break
                pending.append(item)
                if len(pending) >= batch_frames:
                    send(pending)
                    pending = []
            if pending and not self.flow.errors:
                send(pending)
            while flight and not self.flow.errors:
                self._emit(*flight.popleft().result())
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self.flow.put(self.out, END)
