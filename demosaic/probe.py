"""What ffprobe says of an input: enough to write it back unchanged but for its pixels."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import ExternalToolError, InputError
from .ffmpeg import ffmpeg_binary, file_arg, run_tool

TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"})

# ffprobe codec names of lossless video codecs (H.264 at qp 0 is lossless too, but only its
# settings say so: counted as lossy, which only lets the detector grow exact regions).
LOSSLESS_CODECS = frozenset({"ffv1", "huffyuv", "ffvhuff", "utvideo", "rawvideo", "png", "apng", "qtrle",
                             "magicyuv", "lagarith", "zmbv", "r210", "v210", "v410", "ayuv", "y41p", "yuv4"})


@dataclass(frozen=True)
class StreamInfo:
    """One stream of the input, as the muxing step needs it."""

    index: int  # in the file
    kind: str  # ffprobe's codec_type: video, audio, subtitle, data, attachment
    codec: str
    tag: str  # the container's codec tag ("text" for an MP4 chapter track)
    disposition: tuple[str, ...]  # the flags that are set: default, forced, attached_pic...
    title: str | None
    language: str | None
    start_time: float | None = None  # s; None where the container gives none

    @property
    def cover(self) -> bool:
        """A still picture stored as a video stream (cover art), not a second video."""
        return "attached_pic" in self.disposition


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream (its pixels, timing and tags) and the file's other streams."""

    width: int
    height: int
    rate: str  # r_frame_rate, an exact fraction
    avg_rate: str
    frames: int | None
    pix_fmt: str
    sar: str
    rotation: int  # ffprobe's display-matrix angle (degrees, counter-clockwise)
    color_range: str | None
    color_space: str | None
    color_transfer: str | None
    color_primaries: str | None
    codec: str = ""  # the video stream's codec_name
    start_time: float = 0.0  # the video stream's first timestamp (s), as the demuxer gives it
    field_order: str = "progressive"  # ffprobe's: progressive, tt, bb, tb, bt (or unknown)
    streams: tuple[StreamInfo, ...] = ()
    video_index: int = 0  # the restored stream's index in the file
    file_start: float = 0.0  # the file's start (s) as ffmpeg takes it: each input is moved to start at 0
    hdr: "HdrInfo | None" = None  # HDR10 static metadata of an HDR (PQ/HLG) stream, where it has some

    @property
    def lossy(self) -> bool:
        """Whether the video's codec loses detail (H.264, HEVC, VP9, MPEG-4...): its frames
        hold no uncompressed mosaic. Lossless ones (FFV1, HuffYUV, ...) and unknown: False."""
        return bool(self.codec) and self.codec not in LOSSLESS_CODECS

    @property
    def variable_rate(self) -> bool:
        return self.rate != self.avg_rate and self.avg_rate not in ("0/0", "")

    @property
    def interlaced(self) -> bool:
        return self.field_order in ("tt", "bb", "tb", "bt")

    def of_kind(self, kind: str) -> tuple[StreamInfo, ...]:
        """The streams of one kind, in file order; for "video", the ones besides the restored one."""
        return tuple(s for s in self.streams if s.kind == kind and s.index != self.video_index)

    @property
    def audio_streams(self) -> int:
        return len(self.of_kind("audio"))

    @property
    def subtitle_codecs(self) -> tuple[str, ...]:
        return tuple(s.codec for s in self.of_kind("subtitle"))


@dataclass(frozen=True)
class HdrInfo:
    """HDR10 static metadata, in x265's units: mastering display primaries and white point
    (0.00002), its luminance (0.0001 cd/m²); content light levels (cd/m²)."""

    master_display: str | None  # "G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)"
    max_cll: str | None  # "max_content,max_average"


HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})


def hdr_info(path: str | Path, stream: int) -> HdrInfo | None:
    """The first frame's mastering display and content light level side data, or None."""
    out = run_tool([ffmpeg_binary("ffprobe"), "-v", "error", "-select_streams", str(stream), "-read_intervals",
                    "%+#1", "-show_frames", "-show_entries", "frame=side_data_list", "-of", "json", file_arg(path)])
    frames = json.loads(out or b"{}").get("frames", [])
    side = {d.get("side_data_type"): d for f in frames[:1] for d in f.get("side_data_list", [])}

    def units(value: str, per: int) -> int:
        num, _, den = str(value).partition("/")
        return round(int(num) * per / int(den or 1))

    master = light = None
    m = side.get("Mastering display metadata")
    if m and "red_x" in m:
        xy = {k: units(m[k], 50000) for k in ("red_x", "red_y", "green_x", "green_y", "blue_x", "blue_y",
                                                  "white_point_x", "white_point_y")}
        master = (f"G({xy['green_x']},{xy['green_y']})B({xy['blue_x']},{xy['blue_y']})R({xy['red_x']},{xy['red_y']})"
                  f"WP({xy['white_point_x']},{xy['white_point_y']})"
                  f"L({units(m['max_luminance'], 10000)},{units(m['min_luminance'], 10000)})")
    c = side.get("Content light level metadata")
    if c and "max_content" in c:
        light = f"{c['max_content']},{c['max_average']}"
    return HdrInfo(master, light) if master or light else None


def _hdr_or_none(path: str | Path, video: dict) -> HdrInfo | None:
    """HDR10 metadata for a PQ/HLG stream; None otherwise, or where its first frame cannot be
    read (the decoder will say why, in its place)."""
    if video.get("color_transfer") not in HDR_TRANSFERS:
        return None
    try:
        return hdr_info(path, int(video.get("index", 0)))
    except ExternalToolError:
        return None


def probe(path: str | Path) -> VideoInfo:
    """ffprobe the file; InputError when it is missing, unreadable, or has no video stream."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    try:
        out = run_tool([ffmpeg_binary("ffprobe"), "-v", "error", "-show_streams", "-show_format", "-of", "json",
                        file_arg(path)])
    except ExternalToolError as exc:
        raise InputError(f"{path}: not a readable video ({exc})") from None
    parsed = json.loads(out or b"{}")
    raw = parsed.get("streams", [])
    streams = tuple(_stream(s) for s in raw)
    video = [s for s in raw if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")]
    if not video:
        raise InputError(f"{path}: no video stream")
    v = video[0]
    rotation = 0
    for side in v.get("side_data_list", []):
        if "rotation" in side:
            rotation = int(side["rotation"])
    frames = v.get("nb_frames")
    return VideoInfo(
        width=int(v["width"]), height=int(v["height"]), rate=v.get("r_frame_rate", "25/1"),
        avg_rate=v.get("avg_frame_rate", ""), frames=int(frames) if frames and frames.isdigit() else None,
        pix_fmt=v.get("pix_fmt", ""), sar=v.get("sample_aspect_ratio", "1:1") or "1:1", rotation=rotation,
        color_range=v.get("color_range"), color_space=v.get("color_space"),
        color_transfer=v.get("color_transfer"), color_primaries=v.get("color_primaries"),
        codec=v.get("codec_name", ""), start_time=_seconds(v.get("start_time")) or 0.0,
        field_order=v.get("field_order") or "progressive", streams=streams, video_index=int(v.get("index", 0)),
        file_start=_seconds(parsed.get("format", {}).get("start_time")) or 0.0,
        hdr=_hdr_or_none(path, v),
    )


def _stream(s: dict) -> StreamInfo:
    tags = {k.lower(): v for k, v in s.get("tags", {}).items()}
    flags = tuple(sorted(k for k, v in s.get("disposition", {}).items() if v))
    return StreamInfo(index=int(s.get("index", 0)), kind=s.get("codec_type", ""), codec=s.get("codec_name", ""),
                      tag=s.get("codec_tag_string", ""), disposition=flags, title=tags.get("title"), language=tags.get("language"),
                      start_time=_seconds(s.get("start_time"), None))


def _seconds(value: str | None, missing: float | None = 0.0) -> float | None:
    try:
        return float(value) if value not in (None, "N/A") else missing
    except ValueError:
        return missing


def frame_times(path: str | Path, stream: int = 0) -> list[float]:
    """Presentation timestamps (s) of stream `stream`'s packets (its index in the file), in
    display order. Demuxing only (no decoding): fast even for long videos."""
    out = run_tool([ffmpeg_binary("ffprobe"), "-v", "error", "-select_streams", str(stream), "-show_entries",
                    "packet=pts_time", "-of", "csv=p=0", file_arg(path)]).decode()
    times = []
    for line in out.split():
        try:
            times.append(float(line.strip(",")))
        except ValueError:
            continue  # a packet without a timestamp
    return sorted(times)
