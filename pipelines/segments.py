"""Videos in segments: planning, restoring one segment, joining them, and the markers that
make a batch resumable.

A long video is cut by frame index (ffmpeg's trim filter counts decoded frames; no container
seeking). Each segment decodes `temporal_radius` (plus `fuse_radius`) frames either side of
its own, so the temporal vote (and the fusion window) of every written frame sees the same
frames as in one piece; those overlap frames are not written. Segments are video-only Matroska files encoded as the final output
would be, joined by stream copy (the concat demuxer), and the input's audio, subtitles and
metadata are muxed once at the end. Matroska joins cleanly: every segment starts with a
key frame and carries its own timestamps from zero.

Work for OUT lives in `.OUT.parts/` beside it: `seg-00003.mkv` plus `seg-00003.json` (the
finished marker, written after the segment file is complete). OUT itself is finished when
`.OUT.done.json` exists and names the same input and settings; only then is a re-run's
work skipped.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from demosaic.config import COMPUTE_PRECISIONS, FusionConfig, KeyframeConfig
from demosaic.detect import DetectorConfig
from demosaic.errors import InputError
from demosaic.images import read_mask
from demosaic.ffmpeg import ffmpeg_binary, file_arg
from demosaic.mux import mux, video_timing
from demosaic.probe import VideoInfo, probe
from demosaic.video import EncodeOptions, FrameReader, FrameWriter, format_warnings

from .video import comment_tag, encoding, is_video_path, mask_frame_iter, open_mask_video

SEGMENT_FRAMES = 1500  # one minute at 25 fps: coarse enough that decoding up to a segment's start stays cheap


@dataclass(frozen=True)
class Settings:
    """Everything that decides a restored video's pixels; its hash goes into every marker."""

    model_path: str | None
    mode: str
    mask_path: str | None
    encode: EncodeOptions
    detector: DetectorConfig
    batch_frames: int = 8
    temporal_radius: int = 2
    fuse_radius: int = 0  # multi-frame fusion (demosaic.video_fusion): frames either side
    exclude_path: str | None = None  # a mask of pixels never restored (--exclude)
    keyframes: KeyframeConfig = KeyframeConfig()  # how often detection runs in full (--detect-every)
    precision: str = "float32"  # the network's arithmetic, resolved once per job (restore.resolve_precision)

    def __post_init__(self):
        if self.precision not in COMPUTE_PRECISIONS:  # resolved once per job, never "auto" here
            raise ValueError(f"precision must be float32 or bfloat16, not {self.precision!r}")

    def digest(self) -> str:
        from demosaic.restore import PASSTHROUGH, default_model_path

        data = asdict(self)
        # Where the keyframe settings were before they left DetectorConfig: the same
        # settings keep the same digest, so finished batches stay finished.
        data["detector"]["keyframes"] = data.pop("keyframes")
        if not self.fuse_radius:  # as before fusion existed: finished batches stay finished
            del data["fuse_radius"]
        if not self.exclude_path:  # likewise
            del data["exclude_path"]
        else:
            data["exclude_sha256"] = _file_sha256(Path(self.exclude_path))
        if not self.detector.learned or self.mode == PASSTHROUGH:  # no second segmenter runs: pixels as before it
            del data["detector"]["second_opinion"], data["detector"]["net"]["second_score"]
        if self.precision == "float32":  # likewise; bfloat16 computes other pixels
            del data["precision"]
        if self.mode != PASSTHROUGH:  # a new shipped model: new outputs
            model = Path(self.model_path) if self.model_path else default_model_path(self.mode)
            data["model_card_sha256"] = _file_sha256(model.with_suffix(".json"))
        if self.mask_path:  # the mask's contents, not only its name
            data["mask_sha256"] = _file_sha256(Path(self.mask_path))
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "unreadable"


@dataclass(frozen=True)
class SegmentJob:
    """Restore frames [start, stop) of `src` (stop None: to the end) into `path`."""

    src: str
    dst: str  # the final output, whose container decides the codec
    index: int
    start: int
    stop: int | None
    path: str
    settings: Settings
    digest: str
    fail_flag: str | None = None  # tests only: a worker that claims this file dies (a crash mid-job)

    @property
    def marker(self) -> Path:
        return Path(self.path).with_suffix(".json")

    def finished(self) -> bool:
        try:
            return json.loads(self.marker.read_text()).get("digest") == self.digest and Path(self.path).exists()
        except (OSError, ValueError):
            return False


def count_frames(src: Path, info: VideoInfo) -> int:
    """The container's frame count, else packets counted by ffprobe (demuxing only; no decode)."""
    if info.frames is not None:
        return info.frames
    out = subprocess.run([ffmpeg_binary("ffprobe"), "-v", "error", "-select_streams", "v:0", "-count_packets",
                          "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", file_arg(src)],
                         capture_output=True, text=True)
    try:
        return int(out.stdout.strip().split(",")[0])
    except ValueError:
        return 0


def plan_segments(frames: int, length: int) -> list[tuple[int, int | None]]:
    """[(start, stop)] covering all frames; the last one runs to the end (stop None), so frames
    the count missed are still restored. Short remainders join the previous segment."""
    bounds = list(range(0, max(frames, 1), length))
    if len(bounds) > 1 and frames - bounds[-1] < length // 4:
        bounds.pop()
    return [(a, b) for a, b in zip(bounds, bounds[1:] + [None])]


def parts_dir(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}.parts")


def done_marker(dst: Path) -> Path:
    return dst.with_name(f".{dst.name}.done.json")


def input_identity(src: Path) -> dict:
    st = src.stat()
    return {"input": str(src.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def video_digest(digest: str, info: VideoInfo) -> str:
    """The settings' digest as one video's markers carry it: an interlaced video is restored
    field by field (demosaic.fields), which it was not when earlier markers were written, so
    its digest says so; a progressive video's is the settings' own."""
    return f"{digest}-fields" if info.interlaced else digest


def is_finished(src: Path, dst: Path, digest: str) -> bool:
    try:
        marker = json.loads(done_marker(dst).read_text())
    except (OSError, ValueError):
        return False
    return dst.exists() and marker.get("digest") == digest and marker.get("source") == input_identity(src)


def video_jobs(src: Path, dst: Path, info: VideoInfo, settings: Settings, segment_frames: int,
               fail_flag: str | None = None, digest: str | None = None) -> list[SegmentJob]:
    """The segments of one video; their work folder is created here. A folder left by other
    settings or another input is cleared first."""
    digest = digest or video_digest(settings.digest(), info)
    work = parts_dir(dst)
    identity = {"source": input_identity(src), "digest": digest}
    stamp = work / "job.json"
    try:
        same = json.loads(stamp.read_text()) == identity
    except (OSError, ValueError):
        same = False
    if not same:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        stamp.write_text(json.dumps(identity))
    plan = plan_segments(count_frames(src, info), segment_frames)
    return [SegmentJob(str(src), str(dst), k, a, b, str(work / f"seg-{k:05d}.mkv"), settings, digest, fail_flag)
            for k, (a, b) in enumerate(plan)]


def restore_segment(engine, job: SegmentJob) -> dict:
    """Decode, restore and encode one segment with `engine` (a `pipelines.video.Engine`);
    the segment file and then its marker appear only when it is complete."""
    if job.fail_flag:
        try:
            os.rename(job.fail_flag, job.fail_flag + ".claimed")  # atomic: exactly one worker dies
            os._exit(3)
        except FileNotFoundError:
            pass
    src, info, s = Path(job.src), probe(job.src), job.settings
    radius = s.temporal_radius if s.mask_path is None else 0
    # A written frame's fusion window reaches `fuse_radius` frames out, the registration of
    # its block (`FusionConfig.block` frames) and of the block before (its first frames fade
    # from it) as far past those blocks' ends, and each of those frames' masks the vote's
    # radius further.
    reach = radius + (s.fuse_radius + 2 * FusionConfig().block - 1 if s.fuse_radius else 0)
    lo = max(0, job.start - reach)
    hi = None if job.stop is None else job.stop + reach
    if s.mask_path is None:
        # Detection runs on keyframes counted from the video's frame 0: start the segment on
        # one and end it on one, so every frame gets the answer the whole video would give.
        every = s.keyframes.every
        lo = lo // every * every
        hi = None if hi is None else -(-(hi - 1) // every) * every + 1
    mask_video = s.mask_path is not None and is_video_path(Path(s.mask_path))
    static_mask = read_mask(Path(s.mask_path), (info.height, info.width)) if s.mask_path and not mask_video else None
    mask_reader = open_mask_video(Path(s.mask_path), info, lo, hi) if mask_video else None
    exclude = read_mask(Path(s.exclude_path), (info.height, info.width)) if s.exclude_path else None
    first = None
    if static_mask is not None and job.start > 0:
        head = FrameReader(src, info, 0, 1)
        first = next(iter(head), None)
        head.close()
    path = Path(job.path)
    tmp = path.with_name(path.stem + ".partial.mkv")
    writer = FrameWriter(tmp, info, EncodeOptions(**asdict(s.encode)), final_suffix=Path(job.dst).suffix)
    with encoding(writer, tmp, closing=mask_reader):
        result = engine.process(engine.reader(src, info, writer, lo, hi), writer, static_mask=static_mask, first_frame=first,
                                mask_frames=mask_frame_iter(mask_reader) if mask_reader else None,
                                batch_frames=s.batch_frames, temporal_radius=radius, skip=job.start - lo,
                                fusion=FusionConfig(radius=s.fuse_radius), exclude=exclude, keyframes=s.keyframes,
                                keep=None if job.stop is None else job.stop - job.start, start=lo)
        if result["frames"]:
            writer.finish()
            tmp.replace(path)
        else:  # nothing decodable here (a damaged tail): an empty segment, no file
            writer.abort()
            tmp.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
    result.update(index=job.index, start=job.start, pid=os.getpid(),
                  model=engine.card.get("name"), model_sha256=engine.card.get("sha256"), precision=engine.precision)
    job.marker.write_text(json.dumps({"digest": job.digest, **result}))
    return result


def join_video(jobs: list[SegmentJob], info: VideoInfo, warn=lambda m: None) -> dict:
    """Join finished segments into the output (atomically), write its done marker, drop the parts."""
    src, dst = Path(jobs[0].src), Path(jobs[0].dst)
    results = [json.loads(j.marker.read_text()) for j in jobs]
    model, sha = results[0].get("model"), results[0].get("model_sha256")
    metadata = (("comment", comment_tag({"name": model, "sha256": sha})),)
    files = [Path(j.path) for j, r in zip(jobs, results) if r["frames"]]
    if not files:
        raise InputError(f"{src}: no frames could be decoded")
    tmp = dst.with_name(f".{dst.stem}.partial{dst.suffix}")
    for message in format_warnings(info, EncodeOptions(**asdict(jobs[0].settings.encode)), dst.suffix):
        warn(message)
    timing = video_timing(src, info, sum(r["frames"] for r in results), warn)  # variable frame rates kept
    try:
        mux(files, src, tmp, info, timing, metadata, warn)
        tmp.replace(dst)
    finally:
        tmp.unlink(missing_ok=True)
    seconds: dict = {}
    for r in results:
        for k, v in r["seconds"].items():
            seconds[k] = round(seconds.get(k, 0.0) + v, 3)
    summary = {"input": str(src), "output": str(dst), "segments": len(jobs),
               "frames": sum(r["frames"] for r in results),
               "frames_restored": sum(r["frames_restored"] for r in results),
               "regions": sum(r["regions"] for r in results),
               "fallbacks": {k: sum(r.get("fallbacks", {}).get(k, 0) for r in results) for k in ("guide", "kept")},
               "frames_detected": sum(r.get("frames_detected", 0) for r in results),
               "frames_to_rgb": sum(r.get("frames_to_rgb", 0) for r in results), "worker_seconds": seconds,
               # Track numbers restart in every segment: the totals only.
               "fusion": {"radius": max((r.get("fusion", {}).get("radius", 0) for r in results), default=0),
                          "regions_fused": sum(r.get("fusion", {}).get("regions_fused", 0) for r in results)},
               "model": model, "model_sha256": sha,
               "precision": results[0].get("precision", jobs[0].settings.precision),
               "damaged_input": any(r["decoder_messages"] for r in results)}
    marker = done_marker(dst)
    tmp_marker = marker.with_name(marker.name + ".tmp")
    tmp_marker.write_text(json.dumps({"source": input_identity(src), "digest": jobs[0].digest, **summary}, indent=1))
    tmp_marker.replace(marker)
    shutil.rmtree(parts_dir(dst), ignore_errors=True)
    return summary
