"""Frames decoded once, to their own planes, and converted to rgb24 only where looked at.

Most frames of most videos hold no mosaic: the detector looks at one in eight (its
keyframes) and nothing else looks at the rest, whose planes go to the encoder as they
came. Decoding every frame to rgb24 as well cost a second decoder: 1.7 s of CPU over the
400 frames of issue #11's clean clip, against 0.7 s for the planes alone. Here a frame
is its planes (`LazyFrame`); `pixels` gives its rgb24, converted on first use by one
ffmpeg process with the very scale filter the rgb decoder ran (`RgbConverter`), so
every pixel is what that decoder gave.

Frames likely to be looked at are sent to the converter as they are decoded
(`LazyFrame.prefetch`: the detector's keyframes, every frame while it follows a region),
so their rgb is ready when asked for, as the rgb decoder's was; any other is converted
when asked for.

ffmpeg hands out a converted frame only once a later frame has come in (its command line
tool holds one frame back whatever the buffering options, and under load now and then
two). A frame asked for that is the last one sent, or whose result is still held back
after a while, is followed by the frame decoded after it (if not sent yet), else by a copy
of itself whose result is thrown away. Frames are
counted in and out, so each gets its own result whatever ffmpeg holds.
"""
from __future__ import annotations

import subprocess
import tempfile
import threading
import time
import weakref

import numpy as np

from .errors import ExternalToolError
from .ffmpeg import ffmpeg_binary
from .planes import PlaneFormat, Planes


class RgbConverter:
    """One ffmpeg process that turns a video's planes (format `fmt`, `width`×`height`) into
    rgb24 with the scale filter `vf`; frames sent (`send`) from any thread, in any order."""

    def __init__(self, fmt: PlaneFormat, width: int, height: int, vf: str):
        self.shape = (height, width, 3)
        # ffmpeg's messages go to a file: a pipe nobody reads until something fails could
        # fill, and stop ffmpeg mid-run.
        self._messages = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [ffmpeg_binary(), "-v", "error", "-nostdin", "-f", "rawvideo", "-pix_fmt", fmt.pix_fmt,
             "-s", f"{width}x{height}", "-i", "pipe:", "-vf", vf, "-fps_mode", "passthrough",
             "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._messages)
        self._sending = threading.Lock()
        self._sent = 0  # frames written to ffmpeg
        self._owners: dict[int, LazyFrame] = {}  # by number sent: the frame whose result that is
        self._done = threading.Condition()
        self._ended = False
        # How long to wait for a result before pushing ffmpeg on (0.05 s a megapixel; a
        # frame converts in about 3 ms at 768×576 here): too short only costs a conversion
        # thrown away.
        self.patience = 0.05 * max(1.0, width * height / 1e6)
        # A thread takes every result as it comes: ffmpeg, blocked writing a result nobody
        # reads, would stop reading the frames sent to it (a deadlock).
        self._reader = threading.Thread(target=self._read, daemon=True, name="rgb24")
        self._reader.start()

    def _read(self) -> None:
        size = int(np.prod(self.shape))
        number = 0
        while True:
            buf = self.proc.stdout.read(size)
            with self._done:
                if len(buf) < size:
                    self._ended = True
                else:
                    frame = self._owners.pop(number, None)
                    if frame is not None:
                        frame._rgb = np.frombuffer(buf, np.uint8).reshape(self.shape)
                    number += 1
                self._done.notify_all()
            if self._ended:
                return

    def send(self, planes: Planes, owner: LazyFrame | None = None) -> bool:
        """Write one frame to ffmpeg; its result goes to `owner` (none: thrown away). False
        where `owner` was sent already."""
        with self._sending:
            if owner is not None:
                if owner._number is not None:  # sent already (by another thread)
                    return False
                owner._number = self._sent
                with self._done:
                    self._owners[self._sent] = owner
            try:
                self.proc.stdin.write(planes.tobytes())
                self.proc.stdin.flush()
            except (BrokenPipeError, ValueError):
                raise self._stopped() from None
            self._sent += 1
            return True

    def wait(self, frame: LazyFrame) -> np.ndarray:
        """The result of `frame`, once sent."""
        while True:
            deadline = time.monotonic() + self.patience
            with self._done:
                # Other frames' results wake this too: wait out the whole patience for its own.
                while frame._rgb is None and not self._ended and frame._number < self._sent - 1:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._done.wait(left)
                if frame._rgb is not None:
                    return frame._rgb
                if self._ended:
                    raise self._stopped()
            # Held back (the last frame sent, or ffmpeg two behind): one more frame moves it on,
            # the one decoded after it where that is not sent yet (frames looked at on demand
            # mostly are in order), else a copy of it whose result is thrown away.
            # (Never written while holding `_done`: the reader needs it to take results.)
            after = frame.following()
            if after is None or not self.send(after.planes, after):
                self.send(frame.planes)

    @property
    def sent(self) -> int:
        """Frames sent to ffmpeg so far, copies that moved it on included."""
        return self._sent

    def _stopped(self) -> ExternalToolError:
        return ExternalToolError("ffmpeg stopped while converting frames to RGB", self.stderr())

    def stderr(self) -> str:
        """ffmpeg's messages (it is stopped first)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self._messages.closed:
            return ""
        self._messages.seek(0)
        return self._messages.read().decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._reader.join()
        for pipe in (self.proc.stdin, self.proc.stdout, self._messages):
            try:
                pipe.close()
            except (BrokenPipeError, OSError):
                pass


class LazyFrame:
    """A decoded frame as its own planes; its rgb24 is converted when asked for (`rgb`,
    `pixels`), or sent ahead (`prefetch`), and kept. `shape` is the rgb frame's, known
    without converting."""

    __slots__ = ("planes", "shape", "_converter", "_rgb", "_number", "_next", "__weakref__")

    def __init__(self, planes: Planes, converter: RgbConverter, before: "LazyFrame | None" = None):
        """`before`: the frame decoded just before this one (it may push this one on, `RgbConverter.wait`)."""
        self.planes, self.shape, self._converter = planes, converter.shape, converter
        self._rgb: np.ndarray | None = None  # set by the converter's reader thread
        self._number: int | None = None  # as sent to the converter
        self._next: weakref.ref | None = None  # the frame decoded after this one (weak: no chain kept alive)
        if before is not None:
            before._next = weakref.ref(self)

    def following(self) -> "LazyFrame | None":
        """The frame decoded after this one, if it is decoded and still held somewhere."""
        return None if self._next is None else self._next()

    def prefetch(self) -> None:
        """Send this frame to be converted now (it will likely be looked at)."""
        if self._number is None:
            self._converter.send(self.planes, self)

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self.prefetch()
            return self._converter.wait(self)
        return self._rgb


def pixels(frame):
    """A frame's rgb24: a `LazyFrame` converted (once); anything else (an array) as it is."""
    return frame.rgb() if isinstance(frame, LazyFrame) else frame
