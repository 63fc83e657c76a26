"""The video pipeline's stages one at a time, with plain queues and lists."""
import queue
import threading

import numpy as np
import pytest

from demosaic.restore import Outcome, Restored
from pipelines import stages


def drain(q: queue.Queue) -> list:
    items = []
    while True:
        item = q.get(timeout=5)
        if item is stages.END:
            return items
        items.append(item)


def frames(n: int) -> list[np.ndarray]:
    return [np.full((2, 2, 3), k, np.uint8) for k in range(n)]


def queued(items) -> queue.Queue:
    """A stage's input: `items`, then END."""
    q = queue.Queue()
    for item in items:
        q.put(item)
    q.put(stages.END)
    return q


def test_decode__planes_kept_only_for_written_frames():
    flow, out, planes = stages.Flow(), queue.Queue(), {}
    items = [(f, f"planes {k}") for k, f in enumerate(frames(5))]
    stages.decode(flow, items, out, planes, kept=lambda n: 1 <= n < 3)
    out.put(stages.END)
    assert [int(f[0, 0, 0]) for f in drain(out)] == [0, 1, 2, 3, 4]
    assert planes == {1: "planes 1", 2: "planes 2"}


def test_detect__held_back_frames_and_the_flush_come_out_in_order():
    flow, inp, out = stages.Flow(), queued(frames(5)), queue.Queue()
    held = []

    def find(frame):  # a keyframe detector: answers two frames at a time
        held.append(frame)
        if len(held) == 2:
            ready = [(f, [int(f[0, 0, 0])]) for f in held]
            held.clear()
            return ready
        return []

    stages.detect(flow, inp, out, find, flush=lambda: [(f, ["flushed"]) for f in held], vote=None)
    out.put(stages.END)
    assert [a for _, a in drain(out)] == [[0], [1], [2], [3], ["flushed"]]


class Doubler:
    """A restorer that marks each frame it restores (×2) and says so in the outcome."""

    def restore_frames(self, frames, areas):
        return [Restored(f * 2, Outcome(regions=1, restored=1)) for f in frames]


def test_restoring__overlap_frames_feed_nothing_kept_frames_numbered_in_order():
    flow, inp, out = stages.Flow(), queued((f, []) for f in frames(7)), queue.Queue()
    restoring = stages.Restoring(flow, Doubler(), out, skip=2, keep=3)
    restoring.run(inp, batch_frames=2)
    sent = drain(out)
    assert [n for n, _, _ in sent] == [2, 3, 4]
    assert all(int(r[0, 0, 0]) == 2 * n and int(o[0, 0, 0]) == n for n, r, o in sent)
    assert (restoring.frames, restoring.restored, restoring.outcome.regions) == (3, 3, 3)
    assert [restoring.written(n) for n in range(7)] == [False, False, True, True, True, False, False]


def test_flow__a_failing_stage_stops_the_others_and_keeps_its_error():
    flow, out = stages.Flow(), queue.Queue(maxsize=1)

    def broken():
        yield np.zeros((2, 2, 3), np.uint8)
        raise OSError("pipe closed")

    thread = flow.start(lambda: stages.decode(flow, broken(), out, None, kept=lambda n: True))
    thread.join(timeout=5)
    assert not thread.is_alive() and flow.stop.is_set()
    assert [type(e) for e in flow.errors] == [OSError]
    assert flow.get(queue.Queue()) is stages.END  # a stage waiting on a queue is released


class Overlapping:
    """A restorer whose first batch is the slowest: the next one starts and ends while it runs."""

    def __init__(self, wait: float = 5.0):
        self.wait, self.first_done = wait, threading.Event()
        self.overlapped = False

    def restore_frames(self, frames, areas):
        first = int(frames[0][0, 0, 0])
        if first == 0:
            # Held until the second batch has run beside it (or a while, when run one at a time).
            self.overlapped = self.first_done.wait(timeout=self.wait)
        else:
            self.first_done.set()
        return [Restored(f * 2, Outcome(regions=1, restored=1)) for f in frames]


def test_restoring__two_batches_in_flight_are_handed_on_in_order():
    flow, inp, out = stages.Flow(), queued((f, []) for f in frames(7)), queue.Queue()
    restorer = Overlapping()
    restoring = stages.Restoring(flow, restorer, out)
    restoring.run(inp, batch_frames=2, ahead=1)
    sent = drain(out)
    assert restorer.overlapped  # the second batch ran while the first was still running
    assert [n for n, _, _ in sent] == list(range(7))
    assert all(int(r[0, 0, 0]) == 2 * n for n, r, _ in sent)
    assert restoring.frames == 7


def test_restoring__busy_time_is_the_union_of_batches_that_overlap():
    import time

    class Sleeper:
        def restore_frames(self, frames, areas):
            time.sleep(0.2)
            return [Restored(f, Outcome()) for f in frames]

    flow, inp, out = stages.Flow(), queued((f, []) for f in frames(4)), queue.Queue()
    t0 = time.perf_counter()
    stages.Restoring(flow, Sleeper(), out).run(inp, batch_frames=2, ahead=1)
    wall = time.perf_counter() - t0
    # Two batches of 0.2 s side by side: busy about 0.2 s, never more than the run's own time
    # (their sum, 0.4 s, would be).
    assert 0.19 <= flow.seconds["restore"] <= wall + 1e-3


class Failing:
    """A restorer whose batch starting at frame `bad` fails."""

    def __init__(self, bad: int):
        self.bad, self.calls = bad, 0

    def restore_frames(self, frames, areas):
        self.calls += 1
        if int(frames[0][0, 0, 0]) == self.bad:
            raise RuntimeError("restore failed")
        return [Restored(f, Outcome()) for f in frames]


@pytest.mark.parametrize("bad", [0, 2, 4])
def test_restoring__a_failing_batch_raises_and_nothing_after_it_is_handed_on(bad):
    flow, inp, out = stages.Flow(), queued((f, []) for f in frames(8)), queue.Queue()
    with pytest.raises(RuntimeError, match="restore failed"):
        stages.Restoring(flow, Failing(bad), out).run(inp, batch_frames=2, ahead=1)
    sent = []
    while not out.empty():
        sent.append(out.get())
    assert stages.END not in sent and all(n < bad for n, _, _ in sent)


def test_restoring__fusion_restores_one_batch_at_a_time():
    flow, inp, out = stages.Flow(), queued((f, [], "window") for f in frames(4)), queue.Queue()

    class Fused(Overlapping):
        def restore_frames(self, frames, areas, windows=None, fusion=None):
            return super().restore_frames(frames, areas)

    restorer = Fused(wait=0.3)
    stages.Restoring(flow, restorer, out, fusion="fusion").run(inp, batch_frames=2, ahead=1)
    assert not restorer.overlapped and [n for n, _, _ in drain(out)] == [0, 1, 2, 3]


def test_restoring__one_at_a_time_without_ahead():
    flow, inp, out = stages.Flow(), queued((f, []) for f in frames(4)), queue.Queue()
    restorer = Overlapping(wait=0.3)
    stages.Restoring(flow, restorer, out).run(inp, batch_frames=2, ahead=0)
    assert not restorer.overlapped and [n for n, _, _ in drain(out)] == [0, 1, 2, 3]
