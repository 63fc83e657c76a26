"""`demosaic video`: decode → detect → restore → encode, in-process, with bounded queues.

Decoding, detection (with the vote) and encoding run in their own threads (ffmpeg does its
work in its own processes); the caller's thread takes batches of frames and restores them
two at a time (`stages.Restoring`: the network on one while the NumPy steps of the other
run), so the slowest stage sets the pace and at most a few batches of frames are held in
memory. The video is encoded alone under a temporary name, muxed with the input's
other streams (`demosaic.mux`), and renamed on success; on any failure or interrupt the
temporary files are removed.
"""
from __future__ import annotations

import contextlib
import json
import queue
import time
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from demosaic import fields
from demosaic.config import FusionConfig, KeyframeConfig, SafetyConfig
from demosaic.detect import Detector, DetectorConfig
from demosaic.errors import DemosaicError, InputError
from demosaic.images import read_mask
from demosaic.keyframes import KeyframeDetector
from demosaic.mosaic import GridArea, without
from demosaic.temporal import MaskStabiliser
from demosaic.video_fusion import Fuser
from demosaic.mux import check_streams, mux, video_timing
from demosaic.probe import probe
from demosaic.rgbframes import LazyFrame
from demosaic.video import EncodeOptions, FrameReader, FrameWriter, check_format, format_warnings

from . import stages

def partial_path(dst: Path) -> Path:
    """The temporary name beside the target, same extension (so ffmpeg picks the same muxer)."""
    return dst.with_name(f".{dst.stem}.partial{dst.suffix}")


class Engine:
    """The model and the detector of one process, loaded once and reused for every video and
    segment it is given (the in-process path, and each Ray worker).

    Mode `PASSTHROUGH` loads neither: every frame goes through the same decode and encode
    with nothing detected or restored, the baseline that restored videos are scored against
    (the re-encode's own loss) and a preview of what the encode costs."""

    def __init__(self, model_path: Path | str | None, mode: str, detector: DetectorConfig, threads: int = 0,
                 safety: SafetyConfig | None = SafetyConfig(), precision: str = "float32"):
        """`threads`: the CPU threads the restorer's per-frame steps may use (0: its default);
        `safety`: the restorer's guards (None: off, for comparisons only); `precision`: the
        network's arithmetic ("float32" or "bfloat16", resolved: `restore.resolve_precision`)."""
        from demosaic.restore import PASSTHROUGH, Restorer

        passthrough = mode == PASSTHROUGH
        self.restorer = None if passthrough else Restorer.for_mode(mode, model_path, threads=threads, safety=safety,
                                                                   precision=precision)
        self.find = None if passthrough else Detector(detector)

    def reader(self, path: Path | str, info, writer: FrameWriter, start: int = 0,
               stop: int | None = None) -> FrameReader:
        """The reader `process` wants for `writer`: the input's own planes where the writer
        encodes them, and rgb frames unless nothing will look at them (passthrough onto planes);
        on the planes path rgb frames converted only where looked at (`rgbframes`)."""
        looks = self.restorer is not None or writer.planes is None
        return FrameReader(path, info, start, stop, planes=writer.planes, rgb=looks,
                           lazy=looks and writer.planes is not None)

    @property
    def precision(self) -> str | None:
        """The network's arithmetic ("float32" or "bfloat16"; None: passthrough runs none)."""
        return None if self.restorer is None else self.restorer.precision

    @property
    def card(self) -> dict:
        return {"name": "passthrough", "sha256": None} if self.restorer is None else self.restorer.card

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("comment", comment_tag(self.card)),)

    def process(self, reader: FrameReader, writer: FrameWriter, *, static_mask=None, first_frame=None, mask_frames=None,
                batch_frames: int = 8, temporal_radius: int = 2, skip: int = 0, keep: int | None = None,
                progress: Callable[[int, int | None, float], None] | None = None, total: int | None = None,
                fusion: FusionConfig = FusionConfig(), exclude: np.ndarray | None = None,
                keyframes: KeyframeConfig = KeyframeConfig(), start: int = 0) -> dict:
        """Frames from `reader` → detect → stabilise → restore in batches → `writer`, with decoding
        and encoding on their own threads and bounded queues between the stages.

        The first `skip` restored frames are not written and at most `keep` are (a segment's
        overlap: those frames only feed the temporal vote). `first_frame` is the video's frame 0,
        where a static mask's grid is estimated (a segment does not start there). `mask_frames`
        (bool H×W per frame, in step with `reader`) replaces detection: a user's mask video.
        `fusion` (radius > 0): each region is solved from the frames within ±radius of its own
        (`demosaic.video_fusion`; needs the restorer's guards). `exclude` (bool H×W): pixels
        no region may touch, taken out of every frame's areas before the vote. `keyframes`: how
        often detection runs in full (`demosaic.keyframes`). `start`: the video's number of the
        reader's first frame (fusion registers motion in blocks counted from frame 0)."""
        flow = stages.Flow()
        decoded, detected, encoded = (queue.Queue(maxsize=2 * batch_frames) for _ in range(3))
        fusing = fusion.radius > 0 and self.restorer is not None and self.restorer.safety is not None
        by_field = reader.info.interlaced and self.restorer is not None
        restorer = fields.FieldRestorer(self.restorer) if by_field else self.restorer
        # A fused block takes its first frame's restored picture as its prior, and a block's
        # first frames fade from the block before: restore the overlap frames of the first
        # written frame's block and the one before, so a segment solves both as one run does.
        restore_from = ((start + skip) // fusion.block - 1) * fusion.block - start if fusing else None
        restoring = stages.Restoring(flow, restorer, encoded, skip, keep, progress, total,
                                     fusion if fusing else None, restore_from)
        # On the planes path each frame's own planes wait here, by frame number, for the
        # encoder (only the RGB frame goes through detection and restoration); only frames
        # that will be written (not a segment's overlap) are kept.
        planes: dict | None = {} if reader.planes is not None else None
        # Detection gets one core beside the model's threads: OpenCV's own thread pool would
        # fight TensorFlow's for the same cores (measured on 2 cores: detection 2.3× slower).
        cv2.setNumThreads(1)
        # A given mask needs no vote; radius 0 turns the vote off.
        given = static_mask is not None or mask_frames is not None or self.restorer is None
        voting = not given and temporal_radius > 0

        def lane(static, first, masks, out):
            """The areas (and the vote, and fusion's windows) of one picture stream: the
            frames, or one field of each frame."""
            find, flush, keyed = self._areas(reader, static, first, masks, keyframes)
            if out is not None:
                found, flushed = find, flush
                find = lambda frame: [(f, without(a, out)) for f, a in found(frame)]  # noqa: E731
                flush = lambda: [(f, without(a, out)) for f, a in flushed()]  # noqa: E731
            vote = MaskStabiliser(temporal_radius) if voting else None
            if fusing:
                vote = stages.Held(vote, Fuser(fusion, self.restorer.safety, start=start))
            return find, flush, keyed, vote

        if by_field:
            # Interlaced: a lane per field (demosaic.fields), each with its own detection,
            # vote and tracks; the restorer restores each lane's fields and weaves them.
            halves = [None, None] if static_mask is None else list(fields.split(static_mask))
            firsts = [None, None] if first_frame is None else list(fields.split(first_frame))
            masks = [None, None] if mask_frames is None else list(fields.split_masks(iter(mask_frames)))
            outs = [None, None] if exclude is None else list(fields.split(exclude))
            lanes = [lane(halves[p], firsts[p], masks[p], outs[p]) for p in (0, 1)]
            finding = fields.Lanes(*(fields.Step(lambda f, _, find=ln[0]: find(f), ln[1]) for ln in lanes))
            find, flush = finding.push, finding.flush
            keyed = [ln[2] for ln in lanes if ln[2] is not None]
            vote = fields.Lanes(*(fields.Step(ln[3].push, ln[3].flush) for ln in lanes)) if lanes[0][3] else None
        else:
            find, flush, one, vote = lane(static_mask, first_frame, mask_frames, exclude)
            keyed = [one] if one is not None else []
        # On the keyframe detector's path a frame stays its planes unless looked at
        # (`rgbframes`): keyframes, and every frame while a region is followed, are
        # converted as they are decoded. Fusion, fields and given masks look at every frame.
        lazy = not fusing and not by_field and static_mask is None and mask_frames is None and len(keyed) == 1

        def prefetch(n: int, frame) -> None:
            if isinstance(frame, LazyFrame) and (not lazy or keyed[0].wants(n)):
                frame.prefetch()

        flow.start(lambda: stages.decode(flow, reader, decoded, planes, restoring.written, prefetch),
                   then=lambda: flow.put(decoded, stages.END), name="decode")
        encoder = flow.start(lambda: stages.encode(flow, encoded, writer, planes), name="encode")
        # Its own thread, so detection overlaps the model (OpenCV and NumPy release the GIL).
        flow.start(lambda: stages.detect(flow, decoded, detected, find, flush, vote, every_frame=not lazy),
                   then=lambda: flow.put(detected, stages.END), name="detect")
        try:
            restoring.run(detected, batch_frames)
            encoder.join()
            if flow.errors:
                raise flow.errors[0]
        finally:
            flow.stop.set()
            stderr = reader.close()
        return {"frames": restoring.frames, "frames_restored": restoring.restored, "regions": restoring.outcome.regions,
                "fallbacks": {"guide": restoring.outcome.guide, "kept": restoring.outcome.kept},
                # Per frame: a field lane's count (the lanes follow one keyframe schedule).
                "frames_detected": max((k.detected for k in keyed), default=0), "frames_to_rgb": reader.rgb_frames,
                "fusion": fusion_report(fusion.radius if fusing else 0, restoring.outcome.fused, restoring.tracks),
                "seconds": {k: round(v, 3) for k, v in flow.seconds.items()}, "decoder_messages": stderr.strip()}

    def _areas(self, reader: FrameReader, static_mask, first_frame, mask_frames, keyframes: KeyframeConfig):
        """(find, flush, keyframe detector or None): where each frame's areas come from."""
        if self.restorer is None:
            return (lambda frame: [(frame, [])]), list, None
        if mask_frames is not None or static_mask is not None:
            areas_of = (MaskVideoAreas(self.find, mask_frames) if mask_frames is not None
                        else StaticMaskAreas(self.find, static_mask, first_frame))
            return (lambda frame: [(frame, areas_of(frame))]), list, None
        keyed = KeyframeDetector.of_video(self.find, reader.info.lossy, keyframes)
        return ((lambda frame: [(f, d.areas()) for f, d in keyed.push(frame)]),
                (lambda: [(f, d.areas()) for f, d in keyed.flush()]), keyed)


def restore_video(src: Path, dst: Path, *, model_path: Path | None, mode: str, mask_path: Path | None,
                  encode: EncodeOptions, detector: DetectorConfig, batch_frames: int = 8, temporal_radius: int = 2,
                  warn: Callable[[str], None] = lambda m: None,
                  progress: Callable[[int, int | None, float], None] | None = None,
                  engine: Engine | None = None, strict: bool = False, fusion: FusionConfig = FusionConfig(),
                  exclude_path: Path | None = None, keyframes: KeyframeConfig = KeyframeConfig(),
                  precision: str = "float32") -> dict:
    """Restore one video in this process; the output appears under `dst` only when complete.

    A damaged input is decoded as far as ffmpeg can (its errors are warned about and counted in
    the report); with `strict` it is an error and nothing is written."""
    info = probe(src)
    check_streams(src, dst, info)  # a stream the container refuses fails now, not after the work
    check_format(info, encode, dst.suffix)  # ... and a named encoder that cannot write the input's format
    mask_video = mask_path is not None and is_video_path(mask_path)
    static_mask = read_mask(mask_path, (info.height, info.width)) if mask_path and not mask_video else None
    exclude = read_mask(exclude_path, (info.height, info.width)) if exclude_path else None
    engine = engine or Engine(model_path, mode, detector, precision=precision)
    for message in format_warnings(info, encode, dst.suffix):
        warn(message)
    tmp = partial_path(dst)
    video_only = dst.with_name(f".{dst.stem}.partial-video.mkv")
    mask_reader = open_mask_video(mask_path, info) if mask_video else None
    writer = FrameWriter(video_only, info, encode, final_suffix=dst.suffix)
    started = time.perf_counter()
    with encoding(writer, tmp, video_only, closing=mask_reader):
        reader = engine.reader(src, info, writer)
        result = engine.process(reader, writer, static_mask=static_mask, batch_frames=batch_frames,
                                mask_frames=mask_frame_iter(mask_reader) if mask_reader else None,
                                temporal_radius=temporal_radius, progress=progress, total=info.frames,
                                fusion=fusion, exclude=exclude, keyframes=keyframes)
        if result["frames"] == 0:
            messages = result["decoder_messages"]
            reason = messages.splitlines()[-1] if messages else "empty"
            raise InputError(f"{src}: no frames could be decoded ({reason})")
        damage = [line for line in result["decoder_messages"].splitlines() if line.strip()]
        if damage and strict:
            raise DemosaicError(f"{src}: damaged input ({len(damage)} decoder error(s), first: {damage[0].strip()}); "
                                "nothing written (--strict)")
        if damage:
            warn(f"damaged input: {len(damage)} decoder error(s) (first: {damage[0].strip()}); "
                 f"{result['frames']} frames decoded and restored")
        writer.finish()
        mux([video_only], src, tmp, info, video_timing(src, info, result["frames"], warn), engine.metadata(), warn)
        video_only.unlink()
        tmp.replace(dst)
    wall = time.perf_counter() - started
    card = engine.card
    frames = result["frames"]
    return {"input": str(src), "output": str(dst), "frames": frames, "frames_restored": result["frames_restored"],
            "regions": result["regions"], "fallbacks": result["fallbacks"], "frames_detected": result["frames_detected"],
            "frames_to_rgb": result["frames_to_rgb"],
            "temporal_radius": 0 if mask_path else temporal_radius, "fusion": result["fusion"],
            "model": card.get("name"), "model_sha256": card.get("sha256"), "precision": engine.precision,
            "seconds": result["seconds"] | {"wall": round(wall, 3)},
            "frames_per_second": round(frames / wall, 2) if wall else None,
            "damaged_input": bool(result["decoder_messages"]),
            "decoder_errors": result["decoder_messages"].splitlines()[:20]}


@contextlib.contextmanager
def encoding(writer: FrameWriter, *partial: Path, closing: FrameReader | None = None):
    """Around an encode: on any failure or interrupt the writer's ffmpeg is stopped and the
    partial files are removed; `closing` (a mask video's reader) is closed either way."""
    try:
        yield
    except BaseException:
        writer.abort()
        for p in partial:
            p.unlink(missing_ok=True)
        raise
    finally:
        if closing is not None:
            closing.close()


def fusion_report(radius: int, regions: int, tracks: dict[int, dict]) -> dict:
    """The report's fusion part: the radius, the regions written from a fused picture, and per
    track the regions tried, the mean frames fused and the share of cells that took it."""
    return {"radius": radius, "regions_fused": regions,
            "tracks": [{"track": k, "regions": t["regions"], "regions_fused": t["written_fused"],
                        "frames_fused_mean": round(t["frames_fused"] / t["regions"], 2),
                        "cells_fused_share": round(t["cells_fused"] / max(t["cells"], 1), 3)}
                       for k, t in sorted(tracks.items())]}


def comment_tag(card: dict) -> str:
    """The output's `comment` metadata: which model restored it (or that nothing was)."""
    if card.get("name") == "passthrough":
        return "demosaic: passthrough (nothing restored)"
    return f"demosaic: restored with {card.get('name')} sha256={card.get('sha256')}"


class StaticMaskAreas:
    """The user's static mask as areas for every frame, each part's grid estimated once from
    the first frame (`Detector.areas_in`)."""

    def __init__(self, find: Detector, mask, first_frame=None):
        self.find, self.mask = find, mask
        self.first_frame = first_frame  # the video's frame 0 when the frames given start later
        self.areas: list[GridArea] | None = None

    def __call__(self, frame) -> list[GridArea]:
        if self.areas is None:
            reference = frame if self.first_frame is None else self.first_frame
            self.areas = self.find.areas_in(reference, self.mask)
        # Without a grid a guided restorer keeps the area as it came (counted as kept).
        return self.areas


class MaskVideoAreas:
    """The user's mask video, one mask per frame; the grids (one per part of the mask,
    `Detector.areas_in`) are estimated again only when the mask changes, and a part where none
    is found takes the last grid found."""

    def __init__(self, find: Detector, masks: Iterator[np.ndarray]):
        self.find, self.masks = find, masks
        self.previous, self.grid = None, None
        self.areas: list[GridArea] = []

    def __call__(self, frame) -> list[GridArea]:
        mask = next(self.masks, None)
        if mask is None:
            raise InputError("the mask video has fewer frames than the video")
        if not mask.any():
            return []
        if self.previous is None or not np.array_equal(mask, self.previous):
            self.areas = self.find.areas_in(frame, mask, fallback=self.grid)
            self.grid = next((a.grid for a in self.areas if a.grid is not None), self.grid)
            self.previous = mask
        return self.areas


MASK_VIDEO_SUFFIXES = (".mkv", ".mp4", ".mov", ".avi", ".webm", ".m4v")


def is_video_path(path: Path) -> bool:
    return Path(path).suffix.lower() in MASK_VIDEO_SUFFIXES


def open_mask_video(path: Path, info, start: int = 0, stop: int | None = None) -> FrameReader:
    """A mask video (nonzero = mosaic) of the video's size, decoded frame for frame in step with it."""
    minfo = probe(path)
    if (minfo.width, minfo.height) != (info.width, info.height):
        raise InputError(f"{path}: mask video is {minfo.width}x{minfo.height}, video is {info.width}x{info.height}")
    return FrameReader(path, minfo, start, stop)


def mask_frame_iter(reader: FrameReader) -> Iterator[np.ndarray]:
    for frame in reader:
        yield frame.max(axis=2) > 127


def progress_line(done: int, total: int | None, seconds: float) -> str:
    """'frames 120/795  14.8 fps  ETA 46 s' (no total, no ETA)."""
    fps = done / seconds if seconds > 0 else 0.0
    if total:
        eta = f"  ETA {(total - done) / fps:.0f} s" if fps > 0 else ""
        return f"frames {done}/{total}  {fps:.1f} fps{eta}"
    return f"frames {done}  {fps:.1f} fps"


def write_report(report: dict, path: Path) -> None:
    """`--report`: the run's summary as JSON, written atomically (as benchmark results are)."""
    from demosaic.artifact import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(report, indent=2) + "\n").encode())
