"""`demosaic batch` in-process: many inputs, a corrupt one, re-runs that skip or resume."""
import json
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ffmpeg, photo_png, pixelize
from cli import main
from demosaic.config import KeyframeConfig
from demosaic.detect import DetectorConfig
from demosaic.probe import probe
from demosaic.video import EncodeOptions, read_frames
from pipelines.batch import LocalExecutor, find_inputs, run_batch
from pipelines.segments import Settings, plan_segments, restore_segment, video_jobs

pytestmark = pytest.mark.slow
PIXELIZE = pixelize(16, 16, 64, 48, 8)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("batch")
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=128x96:rate=10:duration=2,{PIXELIZE}", "-f", "lavfi",
           "-i", "sine=duration=2", "-c:v", "libx264", "-crf", "18", "-c:a", "aac", "-shortest", str(d / "a.mp4"))
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=96x64:rate=5:duration=2,{PIXELIZE.replace('64:48:16:16', '32:32:8:8')}",
           "-c:v", "ffv1", str(d / "b.mkv"))
    (d / "broken.mp4").write_bytes((d / "a.mp4").read_bytes()[:2000])
    return d


class Counting(LocalExecutor):
    """The in-process executor, counting the segments it is given."""

    def __init__(self):
        super().__init__()
        self.ran = 0

    def run(self, jobs, done):
        self.ran += len(jobs)
        super().run(jobs, done)


def settings(every=8):
    return Settings(model_path=None, mode="guided", mask_path=None, encode=EncodeOptions(lossless=True),
                    detector=DetectorConfig(), keyframes=KeyframeConfig(every=every))


def test_plan_segments__cover_every_frame_once():
    assert plan_segments(30, 8) == [(0, 8), (8, 16), (16, 24), (24, None)]
    assert plan_segments(25, 8) == [(0, 8), (8, 16), (16, None)]  # a 1-frame tail joins the last segment
    assert plan_segments(0, 8) == [(0, None)]


def test_find_inputs__folders_and_manifests(inputs, tmp_path):
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"# clips\n{inputs / 'a.mp4'}\n\n{inputs / 'b.mkv'}\n")
    assert find_inputs([manifest]) == [inputs / "a.mp4", inputs / "b.mkv"]
    assert [p.name for p in find_inputs([inputs])] == ["a.mp4", "b.mkv", "broken.mp4"]


def test_batch__corrupt_input_reported_others_written__rerun_does_nothing(inputs, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["batch", str(inputs), "--out-dir", str(out), "--segment-frames", "8",
                                       "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 1, result.output
    assert "failed: " in result.output and "broken.mp4" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    status = {e["input"].rsplit("/", 1)[1]: e["status"] for e in report["videos"]}
    assert status == {"a.mp4": "done", "b.mkv": "done", "broken.mp4": "failed"}
    assert len(list(read_frames(out / "a.mp4"))) == 20 and len(list(read_frames(out / "b.mkv"))) == 10
    assert probe(out / "a.mp4").audio_streams == 1
    assert sorted(p.name for p in out.iterdir()) == [".a.mp4.done.json", ".b.mkv.done.json", "a.mp4", "b.mkv"]
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    again = Counting()
    from demosaic.config import PRECISION_DEFAULT
    from demosaic.restore import resolve_precision

    cli_defaults = Settings(model_path=None, mode="guided", mask_path=None, encode=EncodeOptions(),
                            detector=DetectorConfig(), precision=resolve_precision(PRECISION_DEFAULT))
    rerun = run_batch([(inputs / n, out / n) for n in ("a.mp4", "b.mkv")], cli_defaults, again)
    assert again.ran == 0 and [e["status"] for e in rerun["videos"]] == ["skipped (already done)"] * 2
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps


def test_batch__interrupted_video_resumes_at_segment_granularity(inputs, tmp_path):
    from pipelines.video import Engine

    src, dst = inputs / "a.mp4", tmp_path / "a.mkv"
    jobs = video_jobs(src, dst, probe(src), settings(), 8)
    assert len(jobs) == 3
    restore_segment(Engine(None, "guided", DetectorConfig()), jobs[0])  # "killed" after its first segment
    executor = Counting()
    report = run_batch([(src, dst)], settings(), executor, segment_frames=8)
    assert executor.ran == 2 and report["videos"][0]["status"] == "done"
    whole = tmp_path / "whole.mkv"
    # The library's Settings default to float32; the CLI's default (auto) may be bfloat16.
    assert CliRunner().invoke(main, ["video", str(src), str(whole), "--lossless", "--precision", "float32"]).exit_code == 0
    a = np.stack(list(read_frames(whole))).astype(int)
    b = np.stack(list(read_frames(dst))).astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1, np.abs(a - b).max()


def test_batch__segments_not_on_keyframes__same_frames_as_the_whole_video(inputs, tmp_path):
    """Segments of 6 frames with keyframes every 4: each segment reads from the keyframe
    before its overlap to the one after, so detection sees what the whole video's does."""
    dst = tmp_path / "a.mkv"
    report = run_batch([(inputs / "a.mp4", dst)], settings(every=4), LocalExecutor(), segment_frames=6)
    assert report["videos"][0]["status"] == "done"
    whole = tmp_path / "whole.mkv"
    result = CliRunner().invoke(main, ["video", str(inputs / "a.mp4"), str(whole), "--lossless", "--detect-every", "4",
                                       "--precision", "float32"])
    assert result.exit_code == 0, result.output
    a = np.stack(list(read_frames(whole))).astype(int)
    b = np.stack(list(read_frames(dst))).astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1, np.abs(a - b).max()


def test_batch__existing_output_not_ours_is_refused_unless_overwrite(inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "b.mkv").write_bytes(b"precious")
    result = CliRunner().invoke(main, ["batch", str(inputs / "b.mkv"), "--out-dir", str(out)])
    assert result.exit_code == 1 and "exists" in result.output
    assert (out / "b.mkv").read_bytes() == b"precious"
    result = CliRunner().invoke(main, ["batch", str(inputs / "b.mkv"), "--out-dir", str(out), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert len(list(read_frames(out / "b.mkv"))) == 10


def test_batch__bad_usage_exits_2(tmp_path):
    result = CliRunner().invoke(main, ["batch", str(tmp_path / "nope.mp4"), "--out-dir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no such file" in result.output
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["batch", str(tmp_path / "empty"), "--out-dir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "no videos" in result.output


def test_settings_digest__changes_with_anything_that_changes_pixels(tmp_path):
    a = settings()
    assert a.digest() == settings().digest()
    # The digest since the detector's second opinion (4fd5d8c), which changes what is detected
    # (flat graphics, a few coded mosaics): batches finished before it are done again.
    # Before it, "7d7f9ee55fed948c" (from c26f110: float32 kept it when `precision` joined).
    assert a.digest() == "8a6979bf6f94b96c"
    # Where no second segmenter runs (the classical detector, passthrough) the pixels are
    # those of before it, and so are the digests (ee1ce48's).
    assert Settings(**{**a.__dict__, "detector": DetectorConfig(learned="")}).digest() == "48c68f58c8e5ff37"
    assert Settings(**{**a.__dict__, "mode": "passthrough"}).digest() == "2c4da18ad6c1aa40"
    with pytest.raises(ValueError):
        Settings(**{**a.__dict__, "precision": "auto"})  # resolved once per job, never stored unresolved
    assert a.digest() != Settings(**{**a.__dict__, "encode": EncodeOptions(crf=23)}).digest()
    assert a.digest() != Settings(**{**a.__dict__, "temporal_radius": 3}).digest()
    assert a.digest() != Settings(**{**a.__dict__, "fuse_radius": 2}).digest()
    assert a.digest() != Settings(**{**a.__dict__, "precision": "bfloat16"}).digest()
    exclude = tmp_path / "exclude.png"
    exclude.write_bytes(b"one")
    with_exclude = Settings(**{**a.__dict__, "exclude_path": str(exclude)}).digest()
    assert with_exclude != a.digest()
    exclude.write_bytes(b"two")  # same name, other pixels kept out
    assert Settings(**{**a.__dict__, "exclude_path": str(exclude)}).digest() != with_exclude
    model = tmp_path / "m.json"
    model.write_text("{}")
    before = Settings(**{**a.__dict__, "model_path": str(model)}).digest()
    model.write_text('{"retrained": true}')  # same name, other weights: not the same output
    assert Settings(**{**a.__dict__, "model_path": str(model)}).digest() != before


def test_settings_digest__keyframes_count_and_interlaced_videos_say_so(inputs):
    """--detect-every changes what is detected, so the digest; an interlaced video's markers
    carry that it is restored field by field (its older markers no longer match)."""
    from dataclasses import replace as _with

    from pipelines.segments import video_digest

    a = settings()
    assert a.digest() != settings(every=4).digest()
    info = probe(inputs / "a.mp4")
    assert not info.interlaced
    assert video_digest(a.digest(), info) == a.digest()
    assert video_digest(a.digest(), _with(info, field_order="tt")) != a.digest()


def test_batch__static_mask_over_segments__same_frames_as_one_piece(inputs, tmp_path):
    """Every segment takes the mask's grid from the video's frame 0, as the one-piece path does."""
    import cv2

    mask = np.zeros((96, 128), np.uint8)
    mask[16:64, 16:80] = 255
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    src = inputs / "a.mp4"
    whole = tmp_path / "whole.mkv"
    assert CliRunner().invoke(main, ["video", str(src), str(whole), "--lossless", "--mask", str(tmp_path / "m.png")]
                              ).exit_code == 0
    result = CliRunner().invoke(main, ["batch", str(src), "--out-dir", str(tmp_path / "out"), "--suffix", ".mkv",
                                       "--lossless", "--mask", str(tmp_path / "m.png"), "--segment-frames", "6"])
    assert result.exit_code == 0, result.output
    a = np.stack(list(read_frames(whole))).astype(int)
    b = np.stack(list(read_frames(tmp_path / "out" / "a.mkv"))).astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1, np.abs(a - b).max()


def test_batch__variable_frame_rate__segments_joined_with_every_timestamp(tmp_path):
    vfr = tmp_path / "vfr.mp4"  # 10 fps with frames 5-14 dropped: a one-second gap inside segment 1
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=10:duration=3", "-f", "lavfi", "-i", "sine=duration=3",
           "-vf", "select='not(between(n\\,5\\,14))'", "-fps_mode", "vfr", "-c:v", "libx264", "-c:a", "aac",
           "-shortest", str(vfr))

    def times(path):
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time",
                              "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
        return sorted(float(t) for t in out.split())

    result = CliRunner().invoke(main, ["batch", str(vfr), "--out-dir", str(tmp_path / "out"), "--segment-frames", "6"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "vfr.mp4"
    assert times(out) == pytest.approx(times(vfr), abs=0.002) and len(times(out)) == 20
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".vfr.mp4.done.json", "vfr.mp4"]


def test_batch__fusion_over_segments__same_frames_as_one_piece(tmp_path):
    """With --fuse-radius, each segment decodes the vote's radius plus the fusion radius and
    two registration blocks of overlap, and restores the overlap frames of its first block
    and the one before (their priors; a block's first frames fade from the block before): a
    40-frame clip panning over a photo-like picture under a frame-fixed mosaic, cut into
    6-frame segments (most starting mid-block), comes out as the whole video's run does, and
    that run did fuse."""
    src = tmp_path / "pan.mp4"
    ffmpeg("-loop", "1", "-framerate", "10", "-i", photo_png(tmp_path / "photo.png", 240, 320, 12),
           "-vf", f"crop=128:96:'floor(n*1.5)':16,{PIXELIZE}", "-frames:v", "40", "-c:v", "libx264", "-crf", "18",
           "-pix_fmt", "yuv420p", str(src))
    dst = tmp_path / "a.mkv"
    fused = Settings(**{**settings(every=4).__dict__, "fuse_radius": 2})
    report = run_batch([(src, dst)], fused, LocalExecutor(), segment_frames=6)
    assert report["videos"][0]["status"] == "done"
    whole, log = tmp_path / "whole.mkv", tmp_path / "whole.json"
    result = CliRunner().invoke(main, ["video", str(src), str(whole), "--lossless", "--detect-every", "4",
                                       "--fuse-radius", "2", "--report", str(log), "--precision", "float32"])
    assert result.exit_code == 0, result.output
    fusion = json.loads(log.read_text())["fusion"]
    assert fusion["radius"] == 2 and fusion["regions_fused"] > 0, fusion
    segmented = report["videos"][0]["fusion"]
    assert segmented == {"radius": 2, "regions_fused": fusion["regions_fused"]}, (segmented, fusion)
    a = np.stack(list(read_frames(whole))).astype(int)
    b = np.stack(list(read_frames(dst))).astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() == 0, np.abs(a - b).max()
