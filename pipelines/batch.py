"""`demosaic batch`: many videos, each cut into segments, restored by an executor, joined.

The executor is where the segments run: `LocalExecutor` in this process, one after another
(the default: no cluster needed), or `pipelines.ray_executor.RayExecutor` on Ray workers.
Both take the same `SegmentJob`s and call back as each one ends, so the planning, resume
and joining logic here is shared. A video is joined as soon as its last segment is done;
a failed video is reported and the others still finish.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from demosaic.errors import DemosaicError, InputError
from demosaic.mux import check_streams
from demosaic.probe import VideoInfo, probe
from demosaic.video import check_format

from .segments import (SEGMENT_FRAMES, SegmentJob, Settings, done_marker, is_finished, join_video, parts_dir,
                       restore_segment, video_digest, video_jobs)

VIDEO_SUFFIXES = (".mkv", ".mp4", ".mov", ".avi", ".webm", ".m4v", ".ts", ".mpg", ".mpeg", ".wmv", ".flv")
OUTPUT_SUFFIXES = (".mkv", ".mp4", ".mov")

Done = Callable[[SegmentJob, "dict | BaseException"], None]


def find_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files as given, video files found in folders (recursively, sorted), and the lines of a
    manifest (a .txt or .list file: one path per line, # comments, relative to the manifest)."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES
                            and not f.name.startswith("."))
        elif p.suffix.lower() in (".txt", ".list") and p.is_file():
            for line in p.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    entry = Path(line)
                    found.append(entry if entry.is_absolute() else p.parent / entry)
        else:
            found.append(p)
    unique, seen = [], set()
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def output_for(src: Path, out_dir: Path, suffix: str | None) -> Path:
    """OUT_DIR/NAME with the input's container where it is one we write, else .mkv."""
    ext = suffix or (src.suffix.lower() if src.suffix.lower() in OUTPUT_SUFFIXES else ".mkv")
    return out_dir / (src.stem + ext)


class LocalExecutor:
    """Runs segments in this process, in order, with one engine per settings."""

    name = "in-process"

    def __init__(self):
        self._engines: dict = {}

    def run(self, jobs: Sequence[SegmentJob], done: Done) -> None:
        from .video import Engine

        for job in jobs:
            s = job.settings
            key = (s.model_path, s.mode, s.detector, s.precision)
            try:
                if key not in self._engines:
                    self._engines[key] = Engine(s.model_path, s.mode, s.detector, precision=s.precision)
                result = restore_segment(self._engines[key], job)
            except DemosaicError as exc:
                done(job, exc)
            else:
                done(job, result)

    def close(self) -> None:
        self._engines.clear()


@dataclass
class _Video:
    src: Path
    dst: Path
    info: VideoInfo | None = None
    jobs: list[SegmentJob] = field(default_factory=list)
    left: int = 0
    error: str | None = None
    summary: dict | None = None
    skipped: bool = False


def run_batch(pairs: Sequence[tuple[Path, Path]], settings: Settings, executor, *, overwrite: bool = False,
              segment_frames: int = SEGMENT_FRAMES,
              log: Callable[[str], None] = lambda m: None, warn: Callable[[str], None] = lambda m: None,
              fail_flag: str | None = None) -> dict:
    """Restore every (input, output) pair; returns a report with one entry per input.

    Finished outputs (their done marker names the same input and settings) are skipped unless
    `overwrite`; unfinished ones resume at segment granularity."""
    started = time.perf_counter()
    digest = settings.digest()  # hashes the model card and mask files: once per batch
    videos: list[_Video] = []
    targets: dict[Path, Path] = {}
    for src, dst in pairs:
        v = _Video(src, dst)
        videos.append(v)
        if v.dst.resolve() in targets:
            v.error = f"same output name as {targets[v.dst.resolve()]}"
            continue
        targets[v.dst.resolve()] = src
        try:
            v.info = probe(src)
            if v.dst.resolve() == src.resolve():
                raise InputError("output would replace the input")
            if is_finished(src, v.dst, video_digest(digest, v.info)) and not overwrite:
                v.skipped = True
                continue
            if v.dst.exists() and not overwrite and not done_marker(v.dst).exists():
                raise InputError(f"{v.dst} exists (not made by this batch); use --overwrite")
            check_streams(src, v.dst, v.info)  # a stream the container refuses fails now, not after the work
            check_format(v.info, settings.encode, v.dst.suffix)
            done_marker(v.dst).unlink(missing_ok=True)
            if overwrite:
                shutil.rmtree(parts_dir(v.dst), ignore_errors=True)
            v.jobs = video_jobs(src, v.dst, v.info, settings, segment_frames, fail_flag, video_digest(digest, v.info))
        except DemosaicError as exc:
            v.error = str(exc)
    by_path = {j.path: v for v in videos for j in v.jobs}
    pending = []
    for v in videos:
        todo = [j for j in v.jobs if not j.finished()]
        v.left = len(todo)
        if v.jobs and not todo:
            _finish(v, warn, log)
        pending += todo
    log(f"{len(videos)} input(s): {sum(v.skipped for v in videos)} already done, "
        f"{sum(v.error is not None for v in videos)} unreadable, {len(pending)} segment(s) to restore "
        f"({executor.name})")

    def done(job: SegmentJob, result) -> None:
        v = by_path[job.path]
        if isinstance(result, BaseException):
            if v.error is None:
                v.error = f"segment {job.index} (frames {job.start}-{'' if job.stop is None else job.stop - 1}): {result}"
            log(f"{v.src}: failed: {v.error}")
        v.left -= 1
        if v.left == 0 and v.error is None:
            _finish(v, warn, log)

    if pending:
        executor.run(pending, done)
    entries = []
    for v in videos:
        entry = {"input": str(v.src), "output": str(v.dst)}
        if v.error:
            entry.update(status="failed", error=v.error)
        elif v.skipped:
            entry.update(status="skipped (already done)")
        elif v.summary:
            entry.update(status="done", **{k: v.summary[k] for k in ("segments", "frames", "frames_restored",
                                                                       "regions", "fusion", "damaged_input")})
        else:
            entry.update(status="failed", error="not finished")
        entries.append(entry)
    return {"executor": executor.name, "videos": entries, "wall_seconds": round(time.perf_counter() - started, 3),
            "failed": sum(e["status"] == "failed" for e in entries)}


def _finish(v: _Video, warn, log) -> None:
    try:
        v.summary = join_video(v.jobs, v.info, warn)
        log(f"{v.src} -> {v.dst}: {v.summary['frames']} frames, {v.summary['frames_restored']} restored")
    except DemosaicError as exc:
        v.error = str(exc)
        log(f"{v.src}: failed: {exc}")
