"""ffmpeg through pipes: small functions, one typed error that keeps ffmpeg's stderr.

File names always reach ffmpeg as `file:NAME`, so a name can never be read as an option
(`-i -x.mp4`) or a protocol (`http:...`, `concat:...`).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import ExternalToolError, InputError
from .planes import PlaneFormat, Planes, paste_changed, plane_format


def ffmpeg_binary(name: str = "ffmpeg") -> str:
    path = shutil.which(name)
    if path is None:
        raise ExternalToolError(f"{name} not found; install it (Debian: apt-get install ffmpeg)")
    return path


def file_arg(path: str | Path) -> str:
    """A file name ffmpeg cannot mistake for an option or a protocol."""
    return "file:" + str(Path(path).absolute())


def _run(args: list[str], data: bytes | None = None) -> bytes:
    proc = subprocess.run(args, input=data, capture_output=True)
    if proc.returncode != 0:
        raise ExternalToolError(f"{Path(args[0]).name} failed", proc.stderr.decode(errors="replace"))
    return proc.stdout


def write_gray_video(path: str | Path, frames, width: int, height: int, rate: str) -> int:
    """Encode single-channel uint8 frames losslessly (FFV1 in .mkv, else x264 -qp 0); returns the count.

    Writes to a temporary name beside `path` and renames it when ffmpeg has finished.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    codec = ["-c:v", "ffv1"] if path.suffix.lower() == ".mkv" else ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p"]
    proc = subprocess.Popen([ffmpeg_binary(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray",
                             "-s", f"{width}x{height}", "-framerate", rate, "-i", "pipe:", *codec, file_arg(tmp)],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    count = 0
    try:
        for frame in frames:
            proc.stdin.write(np.ascontiguousarray(frame, np.uint8).tobytes())
            count += 1
        proc.stdin.close()
        stderr = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise ExternalToolError("ffmpeg could not write the mask video", stderr)
        tmp.replace(path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tmp.unlink(missing_ok=True)
    return count


def read_frames(path: str | Path, every: int = 1, limit: int | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB frames (H×W×3 uint8), every `every`-th from the first, through a pipe."""
    info = probe(path)
    width, height = info.width, info.height
    frame_bytes = width * height * 3
    vf = [] if every == 1 else ["-vf", f"select=not(mod(n\\,{every}))", "-fps_mode", "passthrough"]
    proc = subprocess.Popen([ffmpeg_binary(), "-v", "error", "-nostdin", "-i", file_arg(path), *vf,
                             "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    count = 0
    try:
        while limit is None or count < limit:
            buf = proc.stdout.read(frame_bytes)
            if len(buf) < frame_bytes:
                break
            count += 1
            yield np.frombuffer(buf, np.uint8).reshape(height, width, 3)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        proc.wait()
        if count == 0 and proc.returncode not in (0, -9):
            raise ExternalToolError(f"ffmpeg could not decode {path}", stderr)


def h264_roundtrip(frame: np.ndarray, crf: int, preset: str = "medium") -> np.ndarray:
    """One RGB frame through libx264 (yuv420p, the given CRF) and back, as a video would be."""
    return h264_roundtrip_clip(frame[None], crf, preset)[0]


def h264_roundtrip_clip(frames: np.ndarray, crf: int, preset: str = "medium", rate: int = 25) -> np.ndarray:
    """RGB frames (N×H×W×3) coded as one libx264 stream (yuv420p, the given CRF, its usual
    predicted frames) and decoded again, as a video would be."""
    return _through_codec(frames, ["-c:v", "libx264", "-preset", preset, "-crf", str(crf)], "h264", rate)


def mpeg4_roundtrip(frame: np.ndarray, qscale: int) -> np.ndarray:
    """One RGB frame through MPEG-4 Part 2 (ffmpeg's `mpeg4`, as DivX/Xvid; yuv420p, fixed
    quantiser `qscale`, 2–31, higher is coarser) and back: the old codecs' 8×8 blocks, with no
    deblocking filter to smooth their edges."""
    return _through_codec(frame[None], ["-c:v", "mpeg4", "-q:v", str(qscale)], "m4v")[0]


def _through_codec(frames: np.ndarray, codec: list[str], fmt: str, rate: int = 25) -> np.ndarray:
    """RGB frames (N×H×W×3) encoded with ffmpeg's `codec` options (yuv420p) as a raw `fmt`
    stream, and decoded again."""
    n, h, w = frames.shape[:3]
    if h % 2 or w % 2:
        raise ValueError("yuv420p needs even frame sizes")
    encoded = _run([ffmpeg_binary(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-r", str(rate), "-i", "pipe:", *codec, "-pix_fmt", "yuv420p", "-f", fmt, "pipe:"],
                   np.ascontiguousarray(frames).tobytes())
    decoded = _run([ffmpeg_binary(), "-v", "error", "-f", fmt, "-i", "pipe:", "-fps_mode", "passthrough",
                    "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"], encoded)
    return np.frombuffer(decoded, np.uint8).reshape(n, h, w, 3)


TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}


# ffprobe codec names of lossless video codecs (H.264 at qp 0 is lossless too, but only its
# settings say so: counted as lossy, which only lets the detector grow exact regions).
LOSSLESS_CODECS = frozenset({"ffv1", "huffyuv", "ffvhuff", "utvideo", "rawvideo", "png", "apng", "qtrle",
                             "magicyuv", "lagarith", "zmbv", "r210", "v210", "v410", "ayuv", "y41p", "yuv4"})


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline keeps from ffprobe: enough to write the video back unchanged but for its pixels."""

    width: int
    height: int
    rate: str  # r_frame_rate, an exact fraction
    avg_rate: str
    frames: int | None
    pix_fmt: str
    sar: str
    rotation: int
    color_range: str | None
    color_space: str | None
    color_transfer: str | None
    color_primaries: str | None
    audio_streams: int
    subtitle_codecs: tuple[str, ...]
    other_streams: int
    codec: str = ""  # the video stream's codec_name

    @property
    def lossy(self) -> bool:
        """Whether the video's codec loses detail (H.264, HEVC, VP9, MPEG-4...): its frames
        hold no uncompressed mosaic. Lossless ones (FFV1, HuffYUV, ...) and unknown: False."""
        return bool(self.codec) and self.codec not in LOSSLESS_CODECS

    @property
    def variable_rate(self) -> bool:
        return self.rate != self.avg_rate and self.avg_rate not in ("0/0", "")


def probe(path: str | Path) -> VideoInfo:
    """ffprobe the file; InputError when it is missing, unreadable, or has no video stream."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    try:
        out = _run([ffmpeg_binary("ffprobe"), "-v", "error", "-show_streams", "-of", "json", file_arg(path)])
    except ExternalToolError as exc:
        raise InputError(f"{path}: not a readable video ({exc})") from None
    streams = json.loads(out or b"{}").get("streams", [])
    video = [s for s in streams if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    if not video:
        raise InputError(f"{path}: no video stream")
    v = video[0]
    rotation = 0
    for side in v.get("side_data_list", []):
        if "rotation" in side:
            rotation = int(side["rotation"])
    if "rotate" in v.get("tags", {}):
        rotation = int(v["tags"]["rotate"])
    frames = v.get("nb_frames")
    return VideoInfo(
        width=int(v["width"]), height=int(v["height"]), rate=v.get("r_frame_rate", "25/1"),
        avg_rate=v.get("avg_frame_rate", ""), frames=int(frames) if frames and frames.isdigit() else None,
        pix_fmt=v.get("pix_fmt", ""), sar=v.get("sample_aspect_ratio", "1:1") or "1:1", rotation=rotation,
        color_range=v.get("color_range"), color_space=v.get("color_space"),
        color_transfer=v.get("color_transfer"), color_primaries=v.get("color_primaries"),
        audio_streams=sum(s.get("codec_type") == "audio" for s in streams),
        subtitle_codecs=tuple(s.get("codec_name", "") for s in streams if s.get("codec_type") == "subtitle"),
        other_streams=sum(s.get("codec_type") not in ("video", "audio", "subtitle") for s in streams),
        codec=v.get("codec_name", ""),
    )


def _matrix(info: VideoInfo) -> tuple[str, str]:
    """swscale's names for the input's YUV matrix and range (BT.601/limited where untagged)."""
    space = {"bt709": "bt709", "smpte170m": "bt601", "bt470bg": "bt601", "fcc": "fcc", "smpte240m": "smpte240m",
             "bt2020nc": "bt2020", "bt2020c": "bt2020"}.get(info.color_space or "", "bt601")
    return space, "full" if info.color_range == "pc" else "limited"


# swscale's default rounding in YUV → RGB darkens every frame by about a level (measured on
# vtest: Y −1.08 through rgb24 and back); accurate rounding and full chroma interpolation
# leave −0.08, and `planes.rgb_to_yuv` inverts it.
SWS_FLAGS = "accurate_rnd+full_chroma_int"


class FrameReader:
    """RGB frames of the first video stream, in decode order, exactly as stored (no rate conversion).

    `start`/`stop` select frames by index (ffmpeg's trim filter counts decoded frames; no
    container seeking, so the choice is exact whatever the timestamps say). With `planes`
    a second decoder gives each frame's own planes in that format, and iterating yields
    (rgb, `Planes`) pairs. Two processes, each read in step, rather than one ffmpeg with two
    outputs: that one can stop on the output nobody is reading while its other output
    waits to be read (seen on a Cinepak clip), and decoding is the cheapest stage."""

    def __init__(self, path: str | Path, info: VideoInfo, start: int = 0, stop: int | None = None,
                 planes: PlaneFormat | None = None):
        space, rng = _matrix(info)
        self.info, self.planes = info, planes
        self.frame_bytes = info.width * info.height * 3
        trim = ""
        if start or stop is not None:
            trim = f"trim=start_frame={start}" + (f":end_frame={stop}" if stop is not None else "") + ","
        self.proc = self._decoder(path, f"{trim}scale=in_color_matrix={space}:in_range={rng}:flags={SWS_FLAGS}",
                                  "rgb24")
        self.planes_proc = None
        if planes is not None:
            self.planes_proc = self._decoder(path, trim.rstrip(",") or "null", planes.pix_fmt)

    @staticmethod
    def _decoder(path: str | Path, vf: str, pix_fmt: str) -> subprocess.Popen:
        return subprocess.Popen(
            [ffmpeg_binary(), "-v", "error", "-nostdin", "-noautorotate", "-i", file_arg(path), "-map", "0:v:0",
             "-vf", vf, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", pix_fmt, "pipe:"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def __iter__(self) -> Iterator:
        h, w = self.info.height, self.info.width
        size = None if self.planes is None else self.planes.frame_bytes(h, w)
        while True:
            buf = self.proc.stdout.read(self.frame_bytes)
            if len(buf) < self.frame_bytes:
                return
            frame = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
            if self.planes is None:
                yield frame
                continue
            raw = self.planes_proc.stdout.read(size)
            if len(raw) < size:
                return
            yield frame, Planes.from_bytes(raw, self.planes, h, w)

    def close(self) -> str:
        """Stop ffmpeg; returns its stderr (damaged-frame reports)."""
        errors = [_stop(p) for p in (self.proc, self.planes_proc) if p is not None]
        return errors[0]


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.kill()
    proc.stdout.close()
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.wait()
    return err


@dataclass(frozen=True)
class EncodeOptions:
    codec: str = "libx264"  # or libx265, ffv1
    crf: int = 18
    preset: str = "medium"
    lossless: bool = False
    metadata: tuple[tuple[str, str], ...] = ()


_X264 = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "yuv420p10le", "yuv422p10le",
         "yuv444p10le"}
# The planar YUV formats each encoder writes (ffmpeg 5.1's lists, -h encoder=NAME).
ENCODER_FORMATS = {
    "libx264": frozenset(_X264),
    "libx265": frozenset(_X264 | {"yuv420p12le", "yuv422p12le", "yuv444p12le"}),
    "ffv1": frozenset({"yuv420p", "yuv422p", "yuv444p", "yuv440p"}
                      | {f"yuv{s}p{d}le" for s in ("420", "422", "444") for d in (9, 10, 12, 14, 16)}
                      | {"yuv440p10le", "yuv440p12le"}),
}


def _encoder(opts: EncodeOptions, mkv: bool) -> str:
    if opts.codec == "ffv1" or (opts.lossless and mkv):
        return "ffv1"
    return "libx264" if opts.lossless else opts.codec


def output_planes(info: VideoInfo, opts: EncodeOptions, mkv: bool) -> PlaneFormat | None:
    """The input's own planar YUV format where the encoder can write it (then frames are
    encoded from the input's own planes, only restored pixels converted), else None (RGB)."""
    fmt = plane_format(info.pix_fmt)
    if fmt is None or fmt.pix_fmt not in ENCODER_FORMATS.get(_encoder(opts, mkv), ()):
        return None
    if (info.width % fmt.sub_x or info.height % fmt.sub_y) and _encoder(opts, mkv) != "ffv1":
        return None  # x264/x265 need whole chroma blocks
    return fmt


def _video_args(info: VideoInfo, opts: EncodeOptions, mkv: bool) -> list[str]:
    """Encoder, pixel format, colour conversion and colour tags for the restored frames:
    the input's own planes where `output_planes` allows, else RGB converted here."""
    planes = output_planes(info, opts, mkv)
    if planes is not None:
        encoder = _encoder(opts, mkv)
        if encoder == "ffv1":
            video = ["-c:v", "ffv1"]
        elif opts.lossless:
            video = ["-c:v", "libx264", "-qp", "0", "-preset", opts.preset]
        else:
            video = ["-c:v", encoder, "-crf", str(opts.crf), "-preset", opts.preset]
        return ["-vf", f"setsar={info.sar.replace(':', '/')}", *video, "-pix_fmt", planes.pix_fmt,
                *_colour_tags(info, info.color_space)]
    space, rng = _matrix(info)
    odd = info.width % 2 or info.height % 2
    if opts.codec == "ffv1" or (opts.lossless and mkv):
        video = ["-c:v", "ffv1", "-pix_fmt", "bgr0" if opts.lossless else "yuv444p"]
    elif opts.lossless:
        video = ["-c:v", "libx264rgb", "-qp", "0", "-preset", opts.preset, "-pix_fmt", "rgb24"]
    else:
        pix = "yuv444p" if odd else "yuv420p"  # 4:2:0 needs even sizes; keep them exact instead
        video = ["-c:v", opts.codec, "-crf", str(opts.crf), "-preset", opts.preset, "-pix_fmt", pix]
    scale = [] if opts.lossless else [
        "-vf", f"scale=out_color_matrix={space}:out_range={rng}:flags={SWS_FLAGS},setsar={info.sar.replace(':', '/')}"]
    # An RGB output has no YUV matrix: the source's matrix tag only applies to YUV outputs.
    return [*scale, *video, *_colour_tags(info, None if opts.lossless or info.color_space == "gbr" else info.color_space)]


def _colour_tags(info: VideoInfo, space: str | None) -> list[str]:
    tags = []
    for flag, value in (("-color_range", info.color_range), ("-colorspace", space),
                        ("-color_trc", info.color_transfer), ("-color_primaries", info.color_primaries)):
        if value and value not in ("unknown", "reserved"):
            tags += [flag, value]
    return tags


def _stream_args(info: VideoInfo, source_index: int, path: Path, opts: EncodeOptions, warn) -> list[str]:
    """Every audio stream copied from input `source_index`, the subtitles `path`'s container
    allows, the rotation, the source's metadata and ours."""
    s = source_index
    subs = []
    if info.subtitle_codecs:
        if path.suffix.lower() == ".mkv":
            # Matroska takes every subtitle codec but mov_text (MP4's own): that one becomes SRT.
            subs = ["-map", f"{s}:s?", "-c:s", "copy"]
            subs += [a for k, c in enumerate(info.subtitle_codecs) if c == "mov_text" for a in (f"-c:s:{k}", "srt")]
        elif all(c in TEXT_SUBTITLES for c in info.subtitle_codecs):
            subs = ["-map", f"{s}:s?", "-c:s", "mov_text"]
        else:
            warn(f"{len(info.subtitle_codecs)} subtitle stream(s) ({', '.join(info.subtitle_codecs)}) "
                 f"cannot go into {path.suffix}: not kept (use .mkv)")
    if info.other_streams:
        warn(f"{info.other_streams} data/attachment stream(s) not kept")
    meta = [a for k, v in opts.metadata for a in ("-metadata", f"{k}={v}")]
    rotate = ["-metadata:s:v:0", f"rotate={-info.rotation % 360}"] if info.rotation else []
    return ["-map", f"{s}:a?", "-c:a", "copy", *subs, *rotate, *meta, "-map_metadata", str(s)]


class FrameWriter:
    """Encode RGB frames to `path`, with every audio stream (and the subtitles the container
    allows) copied from `source`. Colour tags, sample aspect ratio and rotation are the source's.
    With `source=None` only the video is written: a segment, encoded as it would be for the
    final container `final_suffix`, joined and muxed later."""

    def __init__(self, path: str | Path, source: str | Path | None, info: VideoInfo, opts: EncodeOptions,
                 warn=lambda message: None, final_suffix: str | None = None):
        path = Path(path)
        mkv = (final_suffix or path.suffix).lower() == ".mkv"
        video = _video_args(info, opts, mkv)
        # Frames come as the input's own planes where the encoder writes that format (decode
        # them with `FrameReader(..., planes=writer.planes)`), else as RGB.
        self.planes = output_planes(info, opts, mkv)
        self.matrix, self.full_range = _matrix(info)[0], info.color_range == "pc"
        wanted = plane_format(info.pix_fmt)
        if source is not None and wanted is not None and self.planes is None and (wanted.depth > 8 or wanted.sub_y == 1):
            encoder = _encoder(opts, mkv)
            why = "at an odd frame size" if wanted.pix_fmt in ENCODER_FORMATS.get(encoder, ()) else "(try --codec libx265 or ffv1)"
            warn(f"{info.pix_fmt} cannot be written by {encoder} {why}: "
                 f"written as 8-bit {'yuv444p' if info.width % 2 or info.height % 2 else 'yuv420p'}")
        streams = ["-i", file_arg(source), *_stream_args(info, 1, path, opts, warn)] if source is not None else []
        self.proc = subprocess.Popen(
            [ffmpeg_binary(), "-v", "error", "-y", "-f", "rawvideo",
             "-pix_fmt", "rgb24" if self.planes is None else self.planes.pix_fmt,
             "-s", f"{info.width}x{info.height}", "-framerate", info.rate, "-i", "pipe:",
             *streams[:2], "-map", "0:v:0", *streams[2:], *video, "-fps_mode", "passthrough",
             file_arg(path)],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.count = 0

    def write(self, frame: np.ndarray, original: np.ndarray | None = None, planes: Planes | None = None) -> None:
        """Write one RGB frame; on the planes path also the frame as decoded (`original`, RGB)
        and its own `planes`: only the pixels that differ from `original` are converted."""
        if self.planes is not None:
            if planes is None or original is None:
                raise ValueError("this writer encodes the input's own planes: pass original and planes")
            data = paste_changed(planes, frame, original, self.planes, self.matrix, self.full_range).tobytes()
        else:
            data = np.ascontiguousarray(frame).tobytes()
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            raise ExternalToolError("ffmpeg stopped while encoding", self.proc.stderr.read().decode(errors="replace"))
        self.count += 1

    def finish(self) -> None:
        self.proc.stdin.close()
        err = self.proc.stderr.read().decode(errors="replace")
        if self.proc.wait() != 0:
            raise ExternalToolError("ffmpeg could not encode the output", err)

    def abort(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _concat_entry(path: Path) -> str:
    """One line of an ffmpeg concat list; quotes in the name escaped as the format requires."""
    return "file '" + file_arg(path).replace("'", "'\\''") + "'\n"


def join_segments(segments: list[Path], source: str | Path, dst: str | Path, info: VideoInfo,
                  opts: EncodeOptions, warn=lambda message: None, times: list[float] | None = None) -> None:
    """Join video-only segments without re-encoding (ffmpeg's concat demuxer, stream copy)
    and mux the source's audio, subtitles and metadata once, into `dst`. With `times` (one
    per frame, from `frame_times`) the joined video first gets those timestamps (mkvmerge):
    a variable frame rate kept exactly."""
    dst = Path(dst)
    listing = dst.with_name(f".{dst.name}.segments.txt")
    joined, timed = dst.with_name(f".{dst.name}.joined.mkv"), dst.with_name(f".{dst.name}.timed.mkv")
    listing.write_text("ffconcat version 1.0\n" + "".join(_concat_entry(p) for p in segments))
    concat = ["-f", "concat", "-safe", "0", "-i", file_arg(listing)]
    try:
        if times is not None:
            _run([ffmpeg_binary(), "-v", "error", "-y", *concat, "-map", "0:v:0", "-c:v", "copy", file_arg(joined)])
            retime(joined, times, timed)
            video = ["-i", file_arg(timed)]
        else:
            video = concat
        _run([ffmpeg_binary(), "-v", "error", "-y", *video, "-i", file_arg(source), "-map", "0:v:0", "-c:v", "copy",
              *_stream_args(info, 1, dst, opts, warn), file_arg(dst)])
    finally:
        for p in (listing, joined, timed):
            p.unlink(missing_ok=True)


def vfr_times(source: str | Path, info: VideoInfo, frames: int, warn=lambda message: None) -> list[float] | None:
    """The input's per-frame timestamps where they are needed (a variable frame rate) and
    usable (mkvmerge installed, one per restored frame); None otherwise, with a warning."""
    if not info.variable_rate:
        return None
    if shutil.which("mkvmerge") is None:
        warn(f"variable frame rate ({info.avg_rate} average, {info.rate} nominal): frames are kept, but their "
             "timestamps are rewritten at the nominal rate (install mkvtoolnix to keep them)")
        return None
    times = frame_times(source)
    if len(times) != frames:
        warn(f"variable frame rate, but {len(times)} timestamps for {frames} frames: "
             f"timestamps rewritten at the nominal rate {info.rate}")
        return None
    return times


def frame_times(path: str | Path) -> list[float]:
    """Presentation timestamps (s) of the first video stream's packets, in display order.
    Demuxing only (no decoding): fast even for long videos."""
    out = _run([ffmpeg_binary("ffprobe"), "-v", "error", "-select_streams", "v:0", "-show_entries",
                "packet=pts_time", "-of", "csv=p=0", file_arg(path)]).decode()
    times = []
    for line in out.split():
        try:
            times.append(float(line.strip(",")))
        except ValueError:
            continue  # a packet without a timestamp
    return sorted(times)


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
