import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess

import numpy as np
import pytest


def ffmpeg(*args) -> None:
    """Run ffmpeg quietly (errors only, overwriting), every argument as a string; fail the test on error."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", *map(str, args)], check=True)


def audio_md5(path) -> bytes:
    """ffmpeg's MD5 of the file's audio packets, stream-copied: equal only when copied bit for bit."""
    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-c", "copy", "-f", "md5", "-"],
                          capture_output=True, check=True).stdout


def pixelize(x: int, y: int, w: int, h: int, cell: int) -> str:
    """A filter graph that pixelates the w×h box at (x, y) with ffmpeg's own pixelize (crop,
    pixelize, overlay): a real mosaic made by another tool than this project."""
    return f"split[a][b];[b]crop={w}:{h}:{x}:{y},pixelize=width={cell}:height={cell}[p];[a][p]overlay={x}:{y}"


def smooth_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A photo-like uint8 RGB image: smooth colour fields, edges, and some texture."""
    import cv2

    small = rng.uniform(0, 255, (max(2, height // 16), max(2, width // 16), 3)).astype(np.float32)
    image = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(4):
        c = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(image, centre, int(rng.integers(3, max(4, min(height, width) // 3))), c, -1)
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def photo_png(path, height: int, width: int, seed: int):
    """A photo-like PNG (`smooth_image`) for ffmpeg to pan over and pixelate: a mosaic over it
    is one both of the detector's segmenters call a mosaic (one over lavfi testsrc2's flat
    bars, mostly flat drawing under the cells, the second one doubts)."""
    import cv2

    cv2.imwrite(str(path), smooth_image(np.random.default_rng(seed), height, width))
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory):
    """Twelve small photo-like PNGs made here (nothing fetched)."""
    import cv2

    folder = tmp_path_factory.mktemp("photos")
    gen = np.random.default_rng(7)
    for i in range(12):
        cv2.imwrite(str(folder / f"img{i:02d}.png"), smooth_image(gen, 80, 96))
    return folder


@pytest.fixture(scope="session")
def rich_clips(tmp_path_factory):
    """An MP4 and an MKV made by ffmpeg with what a de-mosaic pass must keep: the video
    starting 0.5 s after the audio, two audio tracks with titles, languages and dispositions,
    a forced subtitle track with its title, chapters, and (MP4) a 90° display matrix."""
    d = tmp_path_factory.mktemp("rich")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x112:rate=25:duration=2", "-c:v", "libx264", "-crf", "18",
           "-pix_fmt", "yuv420p", d / "v.mkv")
    (d / "subs.srt").write_text("1\n00:00:00,600 --> 00:00:01,500\nhello there\n")
    (d / "chapters.txt").write_text(";FFMETADATA1\ntitle=Rich clip\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\n"
                                    "title=One\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=1000\nEND=2500\ntitle=Two\n")
    common = ["-itsoffset", "0.5", "-i", d / "v.mkv", "-f", "lavfi", "-i", "sine=frequency=440:duration=2.5",
              "-f", "lavfi", "-i", "sine=frequency=880:duration=2.5", "-i", d / "subs.srt", "-i", d / "chapters.txt",
              "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s", "-map_metadata", "4", "-map_chapters", "4",
              "-c:v", "copy", "-c:a", "aac",
              "-metadata:s:a:0", "title=Main", "-metadata:s:a:0", "language=eng",
              "-metadata:s:a:1", "title=Commentary", "-metadata:s:a:1", "language=fre",
              "-metadata:s:s:0", "title=Signs", "-metadata:s:s:0", "language=ger",
              "-disposition:a:0", "default", "-disposition:a:1", "0", "-disposition:s:0", "forced"]
    ffmpeg(*common, "-c:s", "mov_text", "-metadata:s:v:0", "rotate=90", d / "rich.mp4")
    ffmpeg(*common, "-c:s", "srt", d / "rich.mkv")
    return d


@pytest.fixture(scope="session")
def stream_properties():
    """A callable: what ffprobe says a file's streams are, in the terms a remux must keep
    (per stream: kind, disposition flags, title, language; each stream's start against the
    first audio stream; the display-matrix rotation; the chapters' titles; the subtitles' text)."""
    import json

    def properties(path) -> dict:
        out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_chapters", "-of", "json", str(path)],
                             capture_output=True, check=True).stdout
        info = json.loads(out)
        streams = info["streams"]
        audio_start = next(float(s["start_time"]) for s in streams if s["codec_type"] == "audio")
        text = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:s:0", "-f", "srt", "-"],
                              capture_output=True).stdout.decode()
        return {
            "streams": [(s["codec_type"], tuple(sorted(k for k, v in s.get("disposition", {}).items() if v)),
                         s.get("tags", {}).get("handler_name"),
                         s.get("tags", {}).get("title"), s.get("tags", {}).get("language")) for s in streams],
            "offsets": [round(float(s["start_time"]) - audio_start, 3) for s in streams],
            "rotation": [sd.get("rotation") for s in streams for sd in s.get("side_data_list", []) if "rotation" in sd],
            "chapters": [c.get("tags", {}).get("title") for c in info.get("chapters", [])],
            "subtitle_text": [line for line in text.splitlines() if line and line[0].isalpha()],
        }

    return properties
