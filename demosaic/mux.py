"""The last step of every run: the restored video (one file, or segments) muxed with
everything else the input had, so that only the mosaic's pixels differ.

The video is always encoded alone, into Matroska, and muxed here with stream copy. That
one step, shared by `demosaic video`, `batch` and Ray jobs, is where the input's timing and
stream properties are put back:
- the video's start against the other streams (each input of ffmpeg starts at zero, so the
  video is offset by its own start within the source file), and a variable frame rate's
  own timestamps (mkvmerge);
- the display matrix (ffmpeg 5.1 writes it from `rotate` metadata on stream copy only,
  never while encoding);
- audio, subtitles (mov_text becomes SRT for Matroska, text becomes mov_text for MP4),
  cover art and Matroska attachments; every stream's disposition, title and language;
  chapters and the file's metadata.
What the output container cannot hold is named in one warning each.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import ExternalToolError, InputError, cause_line
from .ffmpeg import ffmpeg_binary, file_arg, run_tool
from .probe import TEXT_SUBTITLES, StreamInfo, VideoInfo, frame_times

@dataclass(frozen=True)
class Timing:
    """Where the restored video sits in time: its frames' own timestamps (a variable frame
    rate, relative to the first) or None (the nominal rate), and its first timestamp's
    distance from the start of the source file (the other streams keep theirs)."""

    times: tuple[float, ...] | None
    offset: float


def video_timing(source: str | Path, info: VideoInfo, frames: int, warn=lambda message: None) -> Timing:
    """The timing to give `frames` restored frames of `source`: per-frame timestamps where
    they are needed (a variable frame rate) and usable (mkvmerge installed, one per frame),
    with a warning where not; and the video's start offset within the file."""
    offset = info.start_time - info.file_start
    if not info.variable_rate:
        return Timing(None, offset)
    if shutil.which("mkvmerge") is None:
        warn(f"variable frame rate ({info.avg_rate} average, {info.rate} nominal): frames are kept, but their "
             "timestamps are rewritten at the nominal rate (install mkvtoolnix to keep them)")
        return Timing(None, offset)
    times = frame_times(source, info.video_index)
    if len(times) != frames:
        warn(f"variable frame rate, but {len(times)} timestamps for {frames} frames: "
             f"timestamps rewritten at the nominal rate {info.rate}")
        return Timing(None, offset)
    return Timing(tuple(t - times[0] for t in times), times[0] - info.file_start)


def mux(videos: list[Path], source: str | Path, dst: str | Path, info: VideoInfo, timing: Timing,
        metadata: tuple[tuple[str, str], ...] = (), warn=lambda message: None) -> None:
    """Join the video-only Matroska files `videos` without re-encoding (ffmpeg's concat
    demuxer, stream copy) and mux them with `source`'s other streams into `dst`."""
    dst = Path(dst)
    listing = dst.with_name(f".{dst.name}.segments.txt")
    joined, timed = dst.with_name(f".{dst.name}.joined.mkv"), dst.with_name(f".{dst.name}.timed.mkv")
    try:
        if len(videos) == 1:
            video = ["-i", file_arg(videos[0])]
        else:
            listing.write_text("ffconcat version 1.0\n" + "".join(_concat_entry(p) for p in videos))
            video = ["-f", "concat", "-safe", "0", "-i", file_arg(listing)]
        if timing.times is not None:
            run_tool([ffmpeg_binary(), "-v", "error", "-y", *video, "-map", "0:v:0", "-c:v", "copy", file_arg(joined)],
                     what="ffmpeg could not join the video")
            retime(joined, list(timing.times), timed)
            video = ["-i", file_arg(timed)]
        offset = ["-itsoffset", f"{timing.offset:.6f}"] if abs(timing.offset) > 1e-6 else []
        run_tool([ffmpeg_binary(), "-v", "error", "-y", *offset, *video, "-i", file_arg(source),
                  *stream_args(info, dst.suffix.lower(), warn), *[a for k, v in metadata for a in ("-metadata", f"{k}={v}")],
                  file_arg(dst)], what="ffmpeg could not write the output")
    finally:
        for p in (listing, joined, timed):
            p.unlink(missing_ok=True)


# ffmpeg's words when a container refuses a stream (a codec it has no tag for, a subtitle
# format it cannot hold); any other failure of the trial is not the streams' fault.
_REFUSED = re.compile(r"tag for codec|not currently supported in container|codec .* is not supported|"
                      r"incorrect codec parameters|Subtitle codec|Attachment", re.IGNORECASE)
CHECK_SECONDS = 10.0  # a trial still running after this has written its header: the streams fit


def check_streams(source: str | Path, dst: str | Path, info: VideoInfo) -> None:
    """Mux a tenth of a second of `source`'s streams the way `mux` will, into a scratch file
    beside `dst` (a tiny MPEG-4 video, ffmpeg's own encoder, standing in for the restored
    one): a stream the output container refuses (PCM audio in MP4, say) fails here, before
    any work, with ffmpeg's reason (InputError), not after the whole video was restored.
    A sparse stream (cover art, late subtitles) can keep ffmpeg reading the source: a trial
    past `CHECK_SECONDS` has written its header, so it passes."""
    dst = Path(dst)
    scratch = dst.with_name(f".{dst.stem}.streams-check{dst.suffix}")
    try:
        run_tool([ffmpeg_binary(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=size=64x64:duration=0.1",
                  "-i", file_arg(source), *stream_args(info, dst.suffix.lower(), lambda message: None, video="mpeg4"),
                  "-t", "0.1", file_arg(scratch)], what="ffmpeg could not try the output's streams",
                 timeout=CHECK_SECONDS)
    except subprocess.TimeoutExpired:
        pass
    except ExternalToolError as exc:
        cause = cause_line(exc.stderr)
        if not _REFUSED.search(exc.stderr):
            raise
        raise InputError(f"{source}: its streams cannot all go into {dst.suffix} ({cause}); try .mkv") from None
    finally:
        scratch.unlink(missing_ok=True)


def stream_args(info: VideoInfo, suffix: str, warn, video: str = "copy") -> list[str]:
    """ffmpeg's output options for input 0 (the restored video, `video` its codec option:
    copied) and input 1 (the source): which streams go in, how, and with what properties.
    Output streams are numbered per kind in the order mapped, which is how the per-stream
    options address them."""
    mkv = suffix == ".mkv"
    # Naming one stream's metadata source turns off ffmpeg's own per-stream copy: every
    # stream's is named. The video is new: it gets the source's title and language and its
    # dispositions, not tags that describe the old stream (Matroska's BPS, NUMBER_OF_FRAMES...).
    original = _source_video(info)
    args = ["-map", "0:v:0", "-c:v:0", video, "-map_metadata:s:v:0", "-1"]
    if original is not None:
        args += [a for k in ("title", "language") if getattr(original, k)
                 for a in ("-metadata:s:v:0", f"{k}={getattr(original, k)}")]
        args += _dispositions("v:0", original)
    if info.rotation:
        if mkv:
            warn(f"rotation {info.rotation}° cannot be stored in .mkv by this ffmpeg: the output plays unrotated "
                 "(use .mp4 or .mov)")
        else:
            args += ["-metadata:s:v:0", f"rotate={info.rotation % 360}"]  # ffprobe shows it as it was
    out = {"v": 1, "a": 0, "s": 0, "t": 0}
    lost: list[StreamInfo] = []

    def keep(kind: str, stream: StreamInfo, codec: str = "copy") -> None:
        spec = f"{kind}:{out[kind]}"
        args.extend(["-map", f"1:{stream.index}", f"-c:{spec}", codec, *_properties(spec, stream)])
        out[kind] += 1

    for stream in info.of_kind("audio"):
        keep("a", stream)
    for stream in info.of_kind("subtitle"):
        if mkv:  # Matroska takes every subtitle codec but MP4's own mov_text: that one becomes SRT
            keep("s", stream, "srt" if stream.codec == "mov_text" else "copy")
        elif stream.codec in TEXT_SUBTITLES:  # MP4 and MOV hold text as mov_text; bitmaps not at all
            keep("s", stream, "mov_text")
        else:
            lost.append(stream)
    for stream in info.of_kind("video"):
        # Cover art: MP4 and MOV keep it as such; ffmpeg 5.1's Matroska muxer would make it
        # a one-frame video track.
        if stream.cover and not mkv:
            keep("v", stream)
        else:
            lost.append(stream)
    for stream in info.of_kind("attachment"):  # fonts for styled subtitles: Matroska only
        if mkv:
            keep("t", stream)
        else:
            lost.append(stream)
    # An MP4 chapter track (a data stream tagged "text") is made anew from the chapters.
    lost += [s for s in info.of_kind("data") if s.tag != "text"]
    if lost:
        warn(f"{len(lost)} stream(s) not kept in {suffix}: " + ", ".join(f"#{s.index} {s.kind} {s.codec}"
                                                                         + (" (cover art)" if s.cover else "")
                                                                         for s in lost)
             + ("" if mkv else " (use .mkv)" if any(s.kind in ("subtitle", "attachment") for s in lost) else ""))
    return [*args, "-map_metadata", "1", "-map_chapters", "1"]


def _source_video(info: VideoInfo) -> StreamInfo | None:
    return next((s for s in info.streams if s.index == info.video_index), None)


def _properties(spec: str, stream: StreamInfo) -> list[str]:
    """Output stream `spec` gets the source stream's metadata (title, language; an
    attachment's file name and type) and its dispositions."""
    return [f"-map_metadata:s:{spec}", f"1:s:{stream.index}", *_dispositions(spec, stream)]


def _dispositions(spec: str, stream: StreamInfo) -> list[str]:
    """The source stream's dispositions, set explicitly: without them ffmpeg marks the first
    stream of each kind default (an SRT converted for MP4 would show unasked)."""
    if spec.startswith("t:"):
        return []  # attachments have none
    flags = [f for f in stream.disposition if f != "attached_pic" or spec.startswith("v:")]
    return [f"-disposition:{spec}", "+".join(flags) if flags else "0"]


def _concat_entry(path: Path) -> str:
    """One line of an ffmpeg concat list; quotes in the name escaped as the format requires
    (a line break would end the line: such names are refused)."""
    if any(c in str(path) for c in "\r\n"):
        raise InputError(f"{path!r}: a file name with a line break cannot be joined")
    return "file '" + file_arg(path).replace("'", "'\\''") + "'\n"


def retime(video: Path, times: list[float], dst: Path) -> None:
    """Copy the single video track of Matroska `video` to `dst` with these per-frame
    timestamps (mkvmerge, timestamp format v2): a variable frame rate restored exactly."""
    mkvmerge = shutil.which("mkvmerge")
    if mkvmerge is None:
        raise ExternalToolError("mkvmerge not found; install it (Debian: apt-get install mkvtoolnix)")
    table = dst.with_name(f".{dst.name}.timestamps.txt")
    start = times[0]
    table.write_text("# timestamp format v2\n" + "".join(f"{(t - start) * 1000:.6f}\n" for t in times))
    try:
        proc = subprocess.run([mkvmerge, "-q", "-o", str(dst.absolute()), "--timestamps", f"0:{table.absolute()}",
                               str(video.absolute())], capture_output=True)  # absolute: never an option
        if proc.returncode not in (0, 1):  # 1: warnings only
            raise ExternalToolError("mkvmerge could not apply the timestamps", proc.stdout.decode(errors="replace"))
    finally:
        table.unlink(missing_ok=True)
