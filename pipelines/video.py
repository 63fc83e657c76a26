"""`demosaic video`: decode → detect → restore → encode, in-process, with bounded queues.

Decoding and encoding run in their own threads (ffmpeg does the work in its own
processes); detection and the model run in the caller's thread in batches of frames, so
the slowest stage sets the pace and at most a few batches of frames are held in memory.
The output is written under a temporary name beside the target and renamed on success;
on any failure or interrupt the temporary file is removed.
"""
from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Callable

from demosaic.detect import Detector, DetectorConfig
from demosaic.errors import InputError
from demosaic.images import read_mask
from demosaic.mosaic import GridArea
from demosaic.temporal import MaskStabiliser
from demosaic.video import EncodeOptions, FrameReader, FrameWriter, probe

_END = object()


def partial_path(dst: Path) -> Path:
    """The temporary name beside the target, same extension (so ffmpeg picks the same muxer)."""
    return dst.with_name(f".{dst.stem}.partial{dst.suffix}")


def restore_video(src: Path, dst: Path, *, model_path: Path | None, mode: str, mask_path: Path | None,
                  encode: EncodeOptions, detector: DetectorConfig, batch_frames: int = 8, temporal_radius: int = 2,
                  warn: Callable[[str], None] = lambda m: None,
                  progress: Callable[[int, int | None, float], None] | None = None) -> dict:
    from demosaic.restore import Restorer

    info = probe(src)
    if info.variable_rate:
        warn(f"variable frame rate ({info.avg_rate} average, {info.rate} nominal): frames are kept, "
             "but their timestamps are rewritten at the nominal rate")
    static_mask = read_mask(mask_path, (info.height, info.width)) if mask_path else None
    restorer = Restorer.for_mode(mode, model_path)
    card = restorer.card
    opts = EncodeOptions(**{**encode.__dict__,
                            "metadata": (("comment", f"demosaic: restored with {card.get('name')} "
                                                     f"sha256={card.get('sha256')}"),)})
    find = Detector(detector)
    tmp = partial_path(dst)
    reader = FrameReader(src, info)
    writer = FrameWriter(tmp, src, info, opts, warn)
    decoded: queue.Queue = queue.Queue(maxsize=2 * batch_frames)
    encoded: queue.Queue = queue.Queue(maxsize=2 * batch_frames)
    errors: list[BaseException] = []
    timing = {"decode": 0.0, "detect": 0.0, "restore": 0.0, "encode": 0.0}
    stop = threading.Event()

    def decode():
        try:
            t0 = time.perf_counter()
            for frame in reader:
                timing["decode"] += time.perf_counter() - t0
                while not stop.is_set():
                    try:
                        decoded.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
                t0 = time.perf_counter()
        except BaseException as exc:
            errors.append(exc)
        finally:
            decoded.put(_END)

    def encode_frames():
        try:
            while (frame := encoded.get()) is not _END:
                t0 = time.perf_counter()
                writer.write(frame)
                timing["encode"] += time.perf_counter() - t0
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=decode, daemon=True), threading.Thread(target=encode_frames, daemon=True)]
    for t in threads:
        t.start()
    counts = {"frames": 0, "restored": 0, "regions": 0}
    areas_of = (StaticMaskAreas(find, static_mask, restorer.guided) if static_mask is not None
                else lambda frame: find.detect(frame).areas())
    # A static mask needs no vote; radius 0 turns the vote off.
    stabiliser = MaskStabiliser(temporal_radius) if static_mask is None and temporal_radius > 0 else None
    started = time.perf_counter()

    def restore_and_send(items):
        t0 = time.perf_counter()
        out = restorer.restore_many([f for f, _ in items], [a for _, a in items])
        timing["restore"] += time.perf_counter() - t0
        for (_, areas), frame in zip(items, out):
            counts["frames"] += 1
            counts["restored"] += any(a.mask.any() for a in areas)
            counts["regions"] += len(areas)
            encoded.put(frame)
        if progress is not None:
            progress(counts["frames"], info.frames, time.perf_counter() - started)

    try:
        pending: list = []  # (frame, areas) ready to restore, in order
        while not stop.is_set():
            frame = decoded.get()
            if frame is _END:
                break
            t0 = time.perf_counter()
            areas = areas_of(frame)
            pending += stabiliser.push(frame, areas) if stabiliser else [(frame, areas)]
            timing["detect"] += time.perf_counter() - t0
            if len(pending) >= batch_frames:
                restore_and_send(pending)
                pending = []
        if stabiliser:
            pending += stabiliser.flush()
        if pending:
            restore_and_send(pending)
        frames = counts["frames"]
        encoded.put(_END)
        threads[1].join()
        if errors:
            raise errors[0]
        stderr = reader.close()
        if frames == 0:
            reason = stderr.strip().splitlines()[-1] if stderr.strip() else "empty"
            raise InputError(f"{src}: no frames could be decoded ({reason})")
        writer.finish()
        tmp.replace(dst)
    except BaseException:
        stop.set()
        writer.abort()
        reader.close()
        tmp.unlink(missing_ok=True)
        raise
    wall = time.perf_counter() - started
    return {"input": str(src), "output": str(dst), "frames": frames, "frames_restored": counts["restored"],
            "regions": counts["regions"], "temporal_radius": temporal_radius if stabiliser else 0,
            "model": card.get("name"), "model_sha256": card.get("sha256"),
            "seconds": {k: round(v, 3) for k, v in timing.items()} | {"wall": round(wall, 3)},
            "frames_per_second": round(frames / wall, 2) if wall else None,
            "damaged_input": bool(stderr.strip())}


class StaticMaskAreas:
    """The user's static mask as areas for every frame, its grid estimated once from the first frame."""

    def __init__(self, find: Detector, mask, needs_grid: bool):
        self.find, self.mask, self.needs_grid = find, mask, needs_grid
        self.grid = None
        self.estimated = False

    def __call__(self, frame) -> list[GridArea]:
        if not self.estimated:
            self.grid, self.estimated = self.find.grid_in(frame, self.mask), True
            if self.grid is None and self.needs_grid:
                raise InputError("no cell grid found inside --mask on the first frame; use --mode inpaint")
        return [GridArea(self.mask, self.grid)]


def progress_line(done: int, total: int | None, seconds: float) -> str:
    """'frames 120/795  14.8 fps  ETA 46 s' (no total, no ETA)."""
    fps = done / seconds if seconds > 0 else 0.0
    if total:
        eta = f"  ETA {(total - done) / fps:.0f} s" if fps > 0 else ""
        return f"frames {done}/{total}  {fps:.1f} fps{eta}"
    return f"frames {done}  {fps:.1f} fps"


def write_report(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=2) + "\n")
