"""Frames through ffmpeg pipes: decoding the input, encoding the restored video.

The encoded video is written alone, into Matroska; `mux.mux` then gives it the input's
other streams, timing and properties.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import ExternalToolError, InputError
from .ffmpeg import ffmpeg_binary, file_arg, run_tool
from .planes import PlaneFormat, Planes, paste_changed, plane_format
from .probe import VideoInfo, probe
from .rgbframes import LazyFrame, RgbConverter


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
    # As stored (no autorotation: the probed size is the stored one), the restored stream only.
    proc = subprocess.Popen([ffmpeg_binary(), "-v", "error", "-nostdin", "-noautorotate", "-i", file_arg(path),
                             "-map", f"0:{info.video_index}", *vf, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"],
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
    encoded = run_tool([ffmpeg_binary(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-r", str(rate), "-i", "pipe:", *codec, "-pix_fmt", "yuv420p", "-f", fmt, "pipe:"],
                   np.ascontiguousarray(frames).tobytes())
    decoded = run_tool([ffmpeg_binary(), "-v", "error", "-f", fmt, "-i", "pipe:", "-fps_mode", "passthrough",
                    "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"], encoded)
    return np.frombuffer(decoded, np.uint8).reshape(n, h, w, 3)


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
    waits to be read (seen on a Cinepak clip), and decoding is the cheapest stage. With
    `rgb` False (needs `planes`: nothing will look at the pixels, as in a passthrough run)
    only the planes are decoded, and the pairs are (None, `Planes`). With `lazy` (needs
    `planes` too) only the planes are decoded, and each pair's frame is a
    `rgbframes.LazyFrame`: converted to the same rgb24 where something looks at it."""

    def __init__(self, path: str | Path, info: VideoInfo, start: int = 0, stop: int | None = None,
                 planes: PlaneFormat | None = None, rgb: bool = True, lazy: bool = False):
        if (lazy or not rgb) and planes is None:
            raise ValueError("a reader without rgb frames, or with lazy ones, needs the planes")
        space, rng = _matrix(info)
        self.info, self.planes = info, planes
        self.frame_bytes = info.width * info.height * 3
        trim = ""
        if start or stop is not None:
            trim = f"trim=start_frame={start}" + (f":end_frame={stop}" if stop is not None else "") + ","
        to_rgb = f"scale=in_color_matrix={space}:in_range={rng}:flags={SWS_FLAGS}"
        self.proc = self.converter = None
        self._decoded_rgb = 0
        if rgb and lazy:
            self.converter = RgbConverter(planes, info.width, info.height, to_rgb)
        elif rgb:
            self.proc = self._decoder(path, info.video_index, trim + to_rgb, "rgb24")
        self.planes_proc = None
        if planes is not None:
            self.planes_proc = self._decoder(path, info.video_index, trim.rstrip(",") or "null", planes.pix_fmt)

    @staticmethod
    def _decoder(path: str | Path, stream: int, vf: str, pix_fmt: str) -> subprocess.Popen:
        return subprocess.Popen(
            [ffmpeg_binary(), "-v", "error", "-nostdin", "-noautorotate", "-i", file_arg(path), "-map", f"0:{stream}",
             "-vf", vf, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", pix_fmt, "pipe:"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def __iter__(self) -> Iterator:
        h, w = self.info.height, self.info.width
        size = None if self.planes is None else self.planes.frame_bytes(h, w)
        if self.converter is not None:
            yield from self._lazy(size)
            return
        while True:
            frame = None
            if self.proc is not None:
                buf = self.proc.stdout.read(self.frame_bytes)
                if len(buf) < self.frame_bytes:
                    return
                frame = np.frombuffer(buf, np.uint8).reshape(h, w, 3)
                self._decoded_rgb += 1
            if self.planes is None:
                yield frame
                continue
            raw = self.planes_proc.stdout.read(size)
            if len(raw) < size:
                return
            yield frame, Planes.from_bytes(raw, self.planes, h, w)

    def _lazy(self, size: int) -> Iterator[tuple[LazyFrame, Planes]]:
        before = None
        while True:
            raw = self.planes_proc.stdout.read(size)
            if len(raw) < size:
                return
            own = Planes.from_bytes(raw, self.planes, self.info.height, self.info.width)
            before = LazyFrame(own, self.converter, before)
            yield before, own

    @property
    def rgb_frames(self) -> int:
        """Frames made rgb24 so far: every frame read from the rgb decoder, or those sent to
        the converter (`rgbframes`; copies that moved ffmpeg on included)."""
        return self.converter.sent if self.converter is not None else self._decoded_rgb

    def close(self) -> str:
        """Stop ffmpeg; returns its stderr (damaged-frame reports)."""
        if self.converter is not None:
            self.converter.close()
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
    codec: str = "auto"  # libx264, libx265, ffv1; auto: the one that fits the input (`for_input`)
    crf: int = 18
    preset: str = "medium"
    lossless: bool = False


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


# The encoder `auto` picks for an input's codec: H.265 stays H.265; everything else is
# written as H.264 (Debian's libx264 also takes 10-bit and 4:2:2/4:4:4).
AUTO_ENCODERS = {"hevc": "libx265"}


def for_input(opts: EncodeOptions, info: VideoInfo) -> EncodeOptions:
    """`opts` with `auto` replaced by the encoder that fits the input's codec, or libx265
    where that encoder cannot write the input's pixel format and libx265 can (12-bit)."""
    if opts.codec != "auto":
        return opts
    codec = AUTO_ENCODERS.get(info.codec, "libx264")
    fmt = plane_format(info.pix_fmt)
    if fmt is not None and fmt.pix_fmt not in ENCODER_FORMATS[codec] and fmt.pix_fmt in ENCODER_FORMATS["libx265"]:
        codec = "libx265"
    return replace(opts, codec=codec)


def check_format(info: VideoInfo, opts: EncodeOptions, suffix: str) -> None:
    """InputError (exit 2, before any work) where the encoder the user named (`--codec`, or
    `--lossless` into .mp4/.mov: libx264) cannot write the input's pixel format while another
    can; `--codec auto` picks one that can, and only warns where none of them can."""
    if opts.codec == "auto" and not opts.lossless:
        return
    encoder = _encoder(for_input(opts, info), suffix.lower() == ".mkv")
    fmt = plane_format(info.pix_fmt)
    if fmt is None or fmt.pix_fmt in ENCODER_FORMATS[encoder]:
        return
    if opts.lossless:
        if fmt.pix_fmt in ENCODER_FORMATS["ffv1"]:
            raise InputError(f"--lossless: {encoder} cannot write {info.pix_fmt} (the input's {fmt.depth}-bit "
                             "format); a lossless .mkv (FFV1) can")
        return
    able = [e for e in ("libx264", "libx265", "ffv1") if fmt.pix_fmt in ENCODER_FORMATS[e]]
    if able:
        raise InputError(f"--codec {encoder} cannot write {info.pix_fmt} (the input's {fmt.depth}-bit format): "
                         f"use --codec auto or {' or '.join(able)}")


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
            video = ["-c:v", encoder, "-crf", str(opts.crf), "-preset", opts.preset, *_x265(encoder, info)]
        return ["-vf", f"setsar={info.sar.replace(':', '/')}", *video, "-pix_fmt", planes.pix_fmt,
                *_field_args(info, encoder), *_colour_tags(info, info.color_space)]
    space, rng = _matrix(info)
    odd = info.width % 2 or info.height % 2
    if opts.codec == "ffv1" or (opts.lossless and mkv):
        video = ["-c:v", "ffv1", "-pix_fmt", "bgr0" if opts.lossless else "yuv444p"]
    elif opts.lossless:
        video = ["-c:v", "libx264rgb", "-qp", "0", "-preset", opts.preset, "-pix_fmt", "rgb24"]
    else:
        pix = "yuv444p" if odd else "yuv420p"  # 4:2:0 needs even sizes; keep them exact instead
        video = ["-c:v", opts.codec, "-crf", str(opts.crf), "-preset", opts.preset, *_x265(opts.codec, info), "-pix_fmt", pix]
    scale = [] if opts.lossless else [
        "-vf", f"scale=out_color_matrix={space}:out_range={rng}:flags={SWS_FLAGS},setsar={info.sar.replace(':', '/')}"]
    # An RGB output has no YUV matrix: the source's matrix tag only applies to YUV outputs.
    tags = _colour_tags(info, None if opts.lossless or info.color_space == "gbr" else info.color_space)
    return [*scale, *video, *_field_args(info, video[1]), *tags]


def _x265(encoder: str, info: VideoInfo) -> list[str]:
    """x265's own parameters: errors only in its log (it writes to stderr itself, not through
    ffmpeg's -v), and the input's HDR10 metadata (mastering display, content light level)."""
    if encoder != "libx265":
        return []
    params = ["log-level=error"]
    if info.hdr is not None:
        params += ["hdr10=1"] + ([f"master-display={info.hdr.master_display}"] if info.hdr.master_display else [])
        params += [f"max-cll={info.hdr.max_cll}"] if info.hdr.max_cll else []
    return ["-x265-params", ":".join(params)]


def _field_args(info: VideoInfo, encoder: str) -> list[str]:
    """Interlaced input stays interlaced: x264 codes fields (top or bottom first, as the
    input's field order says), and the container gets the field order. x265 codes fields
    only from separated field pictures: there (and for libx264rgb) the tag alone."""
    if not info.interlaced:
        return []
    order = ["-field_order", info.field_order]
    if encoder == "libx264":
        first = "tff" if info.field_order in ("tt", "tb") else "bff"
        return ["-flags", "+ildct+ilme", "-x264-params", f"{first}=1", *order]
    return order


def format_warnings(info: VideoInfo, opts: EncodeOptions, suffix: str) -> list[str]:
    """What of the input's pixel format, field coding and HDR metadata this encoder cannot keep."""
    opts = for_input(opts, info)
    mkv = suffix.lower() == ".mkv"
    encoder = _encoder(opts, mkv)
    wanted = plane_format(info.pix_fmt)
    warnings = []
    if wanted is not None and output_planes(info, opts, mkv) is None and (wanted.depth > 8 or wanted.sub_y == 1):
        why = "at an odd frame size" if wanted.pix_fmt in ENCODER_FORMATS.get(encoder, ()) else "(try --codec libx265 or ffv1)"
        warnings.append(f"{info.pix_fmt} cannot be written by {encoder} {why}: "
                        f"written as 8-bit {'yuv444p' if info.width % 2 or info.height % 2 else 'yuv420p'}")
    if info.interlaced and encoder == "libx265":
        warnings.append(f"interlaced input ({info.field_order}) is coded progressive by libx265 (try --codec libx264)")
    if info.hdr is not None and encoder != "libx265":
        warnings.append(f"HDR10 mastering metadata is written by libx265 only: not kept by {encoder} "
                        "(try --codec libx265)")
    return warnings


def _colour_tags(info: VideoInfo, space: str | None) -> list[str]:
    tags = []
    for flag, value in (("-color_range", info.color_range), ("-colorspace", space),
                        ("-color_trc", info.color_transfer), ("-color_primaries", info.color_primaries)):
        if value and value not in ("unknown", "reserved"):
            tags += [flag, value]
    return tags


class FrameWriter:
    """Encode frames to `path`, a video-only Matroska file that `mux.mux` later muxes with
    the input's other streams. It is encoded as it should be for the final container
    `final_suffix` (FFV1 where a lossless .mkv is wanted). Pixel format, colour tags, sample
    aspect ratio and field coding are the input's."""

    def __init__(self, path: str | Path, info: VideoInfo, opts: EncodeOptions, final_suffix: str):
        opts = for_input(opts, info)
        mkv = final_suffix.lower() == ".mkv"
        video = _video_args(info, opts, mkv)
        # Frames come as the input's own planes where the encoder writes that format (decode
        # them with `FrameReader(..., planes=writer.planes)`), else as RGB.
        self.planes = output_planes(info, opts, mkv)
        self.matrix, self.full_range = _matrix(info)[0], info.color_range == "pc"
        self.proc = subprocess.Popen(
            [ffmpeg_binary(), "-v", "error", "-y", "-f", "rawvideo",
             "-pix_fmt", "rgb24" if self.planes is None else self.planes.pix_fmt,
             "-s", f"{info.width}x{info.height}", "-framerate", info.rate, "-i", "pipe:",
             "-map", "0:v:0", *video, "-fps_mode", "passthrough", "-f", "matroska", file_arg(path)],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.count = 0

    def write(self, frame: np.ndarray | None, original: np.ndarray | None = None, planes: Planes | None = None) -> None:
        """Write one RGB frame; on the planes path also the frame as decoded (`original`, RGB)
        and its own `planes`: only the pixels that differ from `original` are converted. A
        `frame` that is `original` itself (nothing restored; None for both where no rgb was
        decoded) writes the planes as they are."""
        if self.planes is not None:
            unchanged = frame is original
            if planes is None or (not unchanged and (frame is None or original is None)):
                raise ValueError("this writer encodes the input's own planes: pass original and planes")
            changed = planes if unchanged else paste_changed(planes, frame, original, self.planes, self.matrix,
                                                             self.full_range)
            data = changed.tobytes()
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
