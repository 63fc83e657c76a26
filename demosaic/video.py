"""ffmpeg through pipes: small functions, one typed error that keeps ffmpeg's stderr.

File names always reach ffmpeg as `file:NAME`, so a name can never be read as an option
(`-i -x.mp4`) or a protocol (`http:...`, `concat:...`).
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import ExternalToolError, InputError


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


def probe_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of the first video stream."""
    if not Path(path).is_file():
        raise InputError(f"{path}: no such file")
    try:
        out = _run([ffmpeg_binary("ffprobe"), "-v", "error", "-select_streams", "v:0",
                    "-show_entries", "stream=width,height", "-of", "json", file_arg(path)])
    except ExternalToolError as exc:  # the input, not the tool, is at fault
        raise InputError(f"{path}: not a readable video ({exc})") from None
    streams = json.loads(out or b"{}").get("streams", [])
    if not streams:
        raise InputError(f"{path}: no video stream")
    return int(streams[0]["width"]), int(streams[0]["height"])


def probe_rate(path: str | Path) -> str:
    """The first video stream's frame rate as ffprobe's exact fraction ("30000/1001")."""
    out = _run([ffmpeg_binary("ffprobe"), "-v", "error", "-select_streams", "v:0",
                "-show_entries", "stream=r_frame_rate", "-of", "json", file_arg(path)])
    streams = json.loads(out or b"{}").get("streams", [])
    return streams[0]["r_frame_rate"] if streams else "25/1"


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
    width, height = probe_size(path)
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
        proc.kill() if proc.poll() is None else None
        stderr = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        proc.wait()
        if count == 0 and proc.returncode not in (0, -9):
            raise ExternalToolError(f"ffmpeg could not decode {path}", stderr)


def h264_roundtrip(frame: np.ndarray, crf: int, preset: str = "medium") -> np.ndarray:
    """One RGB frame through libx264 (yuv420p, the given CRF) and back, as a video would be."""
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
        raise ValueError("yuv420p needs even frame sizes")
    encoded = _run([ffmpeg_binary(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-i", "pipe:", "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
                    "-pix_fmt", "yuv420p", "-f", "h264", "pipe:"], frame.tobytes())
    decoded = _run([ffmpeg_binary(), "-v", "error", "-f", "h264", "-i", "pipe:",
                    "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"], encoded)
    return np.frombuffer(decoded, np.uint8).reshape(h, w, 3)
