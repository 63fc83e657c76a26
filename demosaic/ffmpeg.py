"""Running ffmpeg's tools: where they are, how a file name reaches them, one typed error.

File names always reach ffmpeg as `file:NAME`, so a name can never be read as an option
(`-i -x.mp4`) or a protocol (`http:...`, `concat:...`).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .errors import ExternalToolError


def ffmpeg_binary(name: str = "ffmpeg") -> str:
    path = shutil.which(name)
    if path is None:
        raise ExternalToolError(f"{name} not found; install it (Debian: apt-get install ffmpeg)")
    return path


def file_arg(path: str | Path) -> str:
    """A file name ffmpeg cannot mistake for an option or a protocol."""
    return "file:" + str(Path(path).absolute())


def run_tool(args: list[str], data: bytes | None = None, what: str | None = None,
             timeout: float | None = None) -> bytes:
    """Run a tool to completion; its stdout, or ExternalToolError with its stderr
    (`what` failed: the cause line). `timeout` (s): subprocess.TimeoutExpired after it."""
    proc = subprocess.run(args, input=data, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        raise ExternalToolError(what or f"{Path(args[0]).name} failed", proc.stderr.decode(errors="replace"))
    return proc.stdout
