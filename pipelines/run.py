"""Where a command's videos run: in this process, or in segments on Ray.

`demosaic video` and `demosaic batch` call these; the CLI only parses options."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from demosaic.errors import DemosaicError
from demosaic.mux import check_streams
from demosaic.video import check_format
from demosaic.probe import probe
from demosaic.config import FusionConfig
from .batch import LocalExecutor, run_batch
from .segments import Settings, done_marker
from .video import restore_video


def make_executor(ray_address: str | None, workers: int = 0, gpus_per_worker: float = 0.0):
    """In-process segments, or Ray actors at `ray_address` ('local', 'auto' or host:port)."""
    if not ray_address:
        return LocalExecutor()
    from .ray_executor import RayExecutor, RayOptions

    return RayExecutor(RayOptions(address=ray_address, workers=workers, gpus_per_worker=gpus_per_worker))


def restore_one(src: Path, dst: Path, settings: Settings, *, ray_address: str | None = None, workers: int = 0,
                gpus_per_worker: float = 0.0, segment_frames: int = 1500, strict: bool = False,
                warn: Callable[[str], None] = lambda m: None, log: Callable[[str], None] = lambda m: None,
                progress: Callable[[int, int | None, float], None] | None = None) -> dict:
    """One video, its report: in this process as one stream, or (with `ray_address`) cut
    into segments run on Ray and joined (no resume bookkeeping is left behind)."""
    if not ray_address:
        return restore_video(src, dst, model_path=Path(settings.model_path) if settings.model_path else None,
                             mode=settings.mode, mask_path=Path(settings.mask_path) if settings.mask_path else None,
                             encode=settings.encode, detector=settings.detector,
                             batch_frames=settings.batch_frames, temporal_radius=settings.temporal_radius,
                             fusion=FusionConfig(radius=settings.fuse_radius), keyframes=settings.keyframes,
                             exclude_path=Path(settings.exclude_path) if settings.exclude_path else None,
                             warn=warn, strict=strict, progress=progress, precision=settings.precision)
    info = probe(src)
    check_streams(src, dst, info)  # before Ray starts: a stream the container refuses is bad input (exit 2)
    check_format(info, settings.encode, dst.suffix)
    executor = make_executor(ray_address, workers, gpus_per_worker)
    try:
        result = run_batch([(src, dst)], settings, executor, overwrite=True, segment_frames=segment_frames,
                           warn=warn, log=log)
    finally:
        executor.close()
    done_marker(dst).unlink(missing_ok=True)
    entry = result["videos"][0]
    if entry["status"] != "done":
        raise DemosaicError(f"{src}: {entry.get('error')}")
    if strict and entry["damaged_input"]:
        dst.unlink(missing_ok=True)
        raise DemosaicError(f"{src}: damaged input (decoder errors); nothing written (--strict)")
    return {**entry, "executor": result["executor"], "seconds": {"wall": result["wall_seconds"]},
            "frames_per_second": round(entry["frames"] / result["wall_seconds"], 2)}
