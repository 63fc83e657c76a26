"""`demosaic video` end to end on clips made by ffmpeg itself (lavfi sources, pixelize, sine audio)."""
import hashlib
import json
import subprocess

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import audio_md5, ffmpeg, pixelize
from cli import main
from demosaic.probe import probe
from demosaic.video import read_frames

pytestmark = pytest.mark.slow
PATCH = (slice(32, 96), slice(48, 144))  # rows, cols of the pixelized patch (16 px grid, frame-aligned)
NOISY = "testsrc2=size={size}:rate=10:duration=1,noise=alls=12:allf=t:all_seed=5"
PIXELIZE = pixelize(48, 32, 96, 64, 16)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    src = NOISY.format(size="192x128")
    ffmpeg("-f", "lavfi", "-i", src, "-c:v", "ffv1", "-pix_fmt", "bgr0", str(d / "clean.mkv"))
    ffmpeg("-i", str(d / "clean.mkv"), "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
           "-filter_complex", f"[0:v]{PIXELIZE}[v]", "-map", "[v]", "-map", "1:a", "-c:v", "ffv1", "-pix_fmt", "bgr0",
           "-c:a", "flac", str(d / "mosaic.mkv"))
    ffmpeg("-i", str(d / "mosaic.mkv"), "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(d / "-mosaic:x.mp4"))
    ffmpeg("-f", "lavfi", "-i", NOISY.format(size="200x130"), "-vf", "format=yuv444p,crop=193:121:0:0", "-c:v", "libx264",
           "-crf", "18", "-pix_fmt", "yuv444p", str(d / "odd.mp4"))
    mask = np.zeros((128, 192), np.uint8)
    mask[PATCH] = 255
    cv2.imwrite(str(d / "patch.png"), mask)
    (d / "subs.srt").write_text("1\n00:00:00,000 --> 00:00:00,800\nhello\n")
    ffmpeg("-i", str(d / "-mosaic:x.mp4"), "-i", str(d / "subs.srt"), "-map", "0", "-map", "1", "-c", "copy",
           "-c:s", "mov_text", str(d / "subs.mp4"))
    return d


def run(*args):
    return CliRunner().invoke(main, ["video", *map(str, args)])


def test_video__lossless_with_mask__frames_audio_and_outside_pixels_kept_mosaic_improved(clips, tmp_path):
    out = tmp_path / "out.mkv"
    result = run(clips / "mosaic.mkv", out, "--lossless", "--mask", clips / "patch.png", "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    src, dst = probe(clips / "mosaic.mkv"), probe(out)
    assert (dst.width, dst.height, dst.rate) == (src.width, src.height, src.rate)
    before = list(read_frames(clips / "mosaic.mkv"))
    after = list(read_frames(out))
    clean = list(read_frames(clips / "clean.mkv"))
    assert len(after) == len(before) == 10
    assert audio_md5(out) == audio_md5(clips / "mosaic.mkv")
    outside = np.ones(before[0].shape[:2], bool)
    outside[PATCH] = False
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a[outside], b[outside])

    def err(frames):
        return np.mean([np.mean((f[PATCH].astype(float) - c[PATCH]) ** 2) for f, c in zip(frames, clean)])
    assert err(after) < err(before)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames"] == 10 and report["frames_restored"] == 10
    assert report["model"] == "demosaic-guided-small-v3" and len(report["model_sha256"]) == 64
    from demosaic.detect_net import bfloat16_is_fast
    assert report["precision"] == ("bfloat16" if bfloat16_is_fast() else "float32")  # the default: auto, no GPU here


def test_video__detected_mosaic__restored_frames_counted(clips, tmp_path):
    out, rep = tmp_path / "out.mkv", tmp_path / "r.json"
    result = run(clips / "mosaic.mkv", out, "--report", rep)
    assert result.exit_code == 0, result.output
    report = json.loads(rep.read_text())
    assert report["frames"] == 10 and report["frames_restored"] >= 8
    tags = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=comment", "-of", "csv=p=0",
                           str(out)], capture_output=True, text=True, check=True).stdout
    assert report["model_sha256"] in tags


def test_video__bfloat16__restores_alike_and_says_so(clips, tmp_path):
    """The network in bfloat16: the same frames restored, each restored pixel within a few
    levels of float32's (the consistency step and last check run in float64 either way), and
    the report says which arithmetic ran."""
    outs = {}
    for precision in ("float32", "bfloat16"):
        out, rep = tmp_path / f"{precision}.mkv", tmp_path / f"{precision}.json"
        result = run(clips / "mosaic.mkv", out, "--lossless", "--report", rep, "--precision", precision)
        assert result.exit_code == 0, result.output
        report = json.loads(rep.read_text())
        assert report["precision"] == precision
        outs[precision] = (report["frames_restored"], np.stack(list(read_frames(out))).astype(int))
    assert outs["float32"][0] == outs["bfloat16"][0]
    diff = np.abs(outs["float32"][1] - outs["bfloat16"][1])
    assert 0 < diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 8


def test_video__h264_with_audio_and_subtitles__streams_kept(clips, tmp_path):
    out = tmp_path / "out.mp4"
    result = run(clips / "subs.mp4", out)
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert info.audio_streams == 1 and info.subtitle_codecs == ("mov_text",)
    assert audio_md5(out) == audio_md5(clips / "subs.mp4")
    assert len(list(read_frames(out))) == 10


def test_video__mov_text_into_mkv__converted_to_srt_with_its_text(clips, tmp_path):
    out = tmp_path / "out.mkv"
    result = run(clips / "subs.mp4", out)
    assert result.exit_code == 0, result.output
    assert probe(out).subtitle_codecs == ("subrip",)
    text = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-map", "0:s:0", "-f", "srt", "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "hello" in text


def test_video__name_with_dash_and_colon__read_as_a_file(clips, tmp_path):
    out = tmp_path / "-out:put.mp4"
    result = run(clips / "-mosaic:x.mp4", out)
    assert result.exit_code == 0, result.output
    assert len(list(read_frames(out))) == 10


def test_video__odd_size__kept_exactly(clips, tmp_path):
    out = tmp_path / "odd.mp4"
    result = run(clips / "odd.mp4", out)
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert (info.width, info.height) == (193, 121)
    assert len(list(read_frames(out))) == 10


def test_video__mask_video__per_frame_mask_used_outside_unchanged(clips, tmp_path):
    masks = tmp_path / "masks.mkv"
    ffmpeg("-f", "lavfi", "-i", "color=black:size=192x128:rate=10:duration=1", "-vf",
           "drawbox=x=48:y=32:w=96:h=64:color=white:t=fill,format=gray", "-c:v", "ffv1", str(masks))
    out = tmp_path / "out.mkv"
    result = run(clips / "mosaic.mkv", out, "--lossless", "--mask", masks)
    assert result.exit_code == 0, result.output
    before, after = list(read_frames(clips / "mosaic.mkv")), list(read_frames(out))
    clean = list(read_frames(clips / "clean.mkv"))
    outside = np.ones(before[0].shape[:2], bool)
    outside[PATCH] = False
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a[outside], b[outside])
    err = lambda fs: np.mean([np.mean((f[PATCH].astype(float) - c[PATCH]) ** 2) for f, c in zip(fs, clean)])  # noqa
    assert err(after) < err(before)
    small = tmp_path / "small.mkv"
    ffmpeg("-f", "lavfi", "-i", "color=black:size=64x64:rate=10:duration=1", "-c:v", "ffv1", str(small))
    result = run(clips / "mosaic.mkv", tmp_path / "o2.mkv", "--mask", small)
    assert result.exit_code == 2 and "mask video is 64x64" in result.output


@pytest.fixture(scope="module")
def damaged(clips):
    """An MPEG-TS stream with 3 kB of garbage in the middle: decodable, with decoder errors."""
    ts = clips / "whole.ts"
    ffmpeg("-i", str(clips / "mosaic.mkv"), "-c:v", "libx264", "-crf", "18", "-an", "-f", "mpegts", str(ts))
    data = bytearray(ts.read_bytes())
    rng = np.random.default_rng(1)
    data[len(data) // 2:len(data) // 2 + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    (clips / "damaged.ts").write_bytes(bytes(data))
    return clips / "damaged.ts"


def test_video__damaged_input__warned_and_restored__strict_fails_nothing_written(damaged, tmp_path):
    out = tmp_path / "out.mkv"
    result = run(damaged, out, "--report", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    assert "damaged input" in result.stderr and out.exists()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["damaged_input"] and report["decoder_errors"] and report["frames"] > 0
    strict = tmp_path / "strict.mkv"
    result = run(damaged, strict, "--strict")
    assert result.exit_code == 1 and "--strict" in result.stderr
    assert not strict.exists() and not list(tmp_path.glob(".*partial*"))


def packet_times(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                          "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
    return sorted(float(t) for t in out.split())


def test_video__variable_frame_rate__each_frame_keeps_its_timestamp(tmp_path):
    vfr = tmp_path / "vfr.mp4"  # 10 fps with frames 5-14 dropped: a one-second gap
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=10:duration=3", "-f", "lavfi", "-i", "sine=duration=3",
           "-vf", "select='not(between(n\\,5\\,14))'", "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "aac",
           "-shortest", str(vfr))
    assert probe(vfr).variable_rate
    out = tmp_path / "out.mp4"
    result = run(vfr, out)
    assert result.exit_code == 0, result.output
    assert "variable frame rate" not in result.stderr
    assert packet_times(out) == pytest.approx(packet_times(vfr), abs=0.002)
    assert packet_times(out)[5] == pytest.approx(1.5, abs=0.002)
    assert audio_md5(out) == audio_md5(vfr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "vfr.mp4"]


def test_video__zero_frames__exit_2_nothing_written(tmp_path):
    empty = tmp_path / "empty.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-frames:v", "0", "-c:v", "ffv1", str(empty))
    out = tmp_path / "out.mkv"
    result = run(empty, out)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_debug_flag__shows_the_traceback_of_an_internal_error(monkeypatch, tmp_path):
    import pipelines.images

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipelines.images, "detect_image", boom)
    monkeypatch.setenv("DEMOSAIC_DEBUG", "")  # restored (unset) after the test, though --debug sets it
    image = tmp_path / "in.png"
    import cv2
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    plain = CliRunner().invoke(main, ["detect", str(image), str(tmp_path / "m.png")])
    assert plain.exit_code == 1 and "internal error (RuntimeError: boom)" in plain.output
    debug = CliRunner().invoke(main, ["--debug", "detect", str(image), str(tmp_path / "m2.png")])
    assert isinstance(debug.exception, RuntimeError)


@pytest.mark.parametrize("case", ["missing", "not a video", "exists", "no folder", "same as input", "audio only",
                                  "unknown codec", "missing model"])
def test_video__bad_input__one_line_exit_2_nothing_left(clips, tmp_path, case):
    src, out = clips / "mosaic.mkv", tmp_path / "out.mkv"
    extra = []
    if case == "audio only":
        src = tmp_path / "sound.mka"
        ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "flac", str(src))
    elif case == "unknown codec":
        extra = ["--codec", "mpeg9"]
    elif case == "missing model":
        extra = ["--model", str(tmp_path / "nope.json")]
    if case == "missing":
        src = tmp_path / "nope.mp4"
    elif case == "not a video":
        src = tmp_path / "text.mp4"
        src.write_text("hello")
    elif case == "exists":
        out.write_bytes(b"keep")
    elif case == "no folder":
        out = tmp_path / "missing" / "out.mkv"
    elif case == "same as input":
        out = src
    digest = hashlib.sha256((clips / "mosaic.mkv").read_bytes()).hexdigest()
    result = run(src, out, *extra)
    assert result.exit_code == 2, result.output
    assert len([l for l in result.stderr.splitlines() if l.strip()]) == 1
    assert "Traceback" not in result.output
    assert hashlib.sha256((clips / "mosaic.mkv").read_bytes()).hexdigest() == digest
    if case == "exists":
        assert out.read_bytes() == b"keep"
    assert not list(tmp_path.glob(".*partial*"))


def test_progress_line__with_and_without_a_frame_count():
    from pipelines.video import progress_line

    assert progress_line(50, 100, 10.0) == "frames 50/100  5.0 fps  ETA 10 s"
    assert progress_line(7, None, 2.0) == "frames 7  3.5 fps"
    assert progress_line(0, 100, 0.0) == "frames 0/100  0.0 fps"


def test_video__not_a_terminal__no_progress_output(clips, tmp_path):
    result = run(clips / "-mosaic:x.mp4", tmp_path / "q.mp4")
    assert result.exit_code == 0 and "fps" not in result.stderr


def test_video__a_stage_fails_mid_video__exit_1_nothing_left_no_hang(clips, tmp_path, monkeypatch):
    from demosaic.detect import Detector

    original, calls = Detector.detect, []

    def failing(self, frame, coded=None):
        calls.append(1)
        if len(calls) == 2:  # the second keyframe (frame 8), or frame 1 with --detect-every 1
            raise RuntimeError("detector crashed")
        return original(self, frame, coded)

    monkeypatch.setattr(Detector, "detect", failing)
    monkeypatch.setenv("DEMOSAIC_DEBUG", "")
    out = tmp_path / "out.mkv"
    result = run(clips / "mosaic.mkv", out)
    assert result.exit_code == 1 and "detector crashed" in result.stderr
    assert not out.exists() and not list(tmp_path.glob(".*"))
