"""Interlaced video restored field by field (demosaic.fields, and `demosaic video` on it)."""
import json
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ffmpeg

from cli import main
from demosaic.config import KeyframeConfig
from demosaic.detect import DetectorConfig
from demosaic.fields import Fields, Lanes, Step, split, split_masks, weave
from demosaic.probe import probe
from demosaic.video import EncodeOptions, read_frames
from pipelines.batch import LocalExecutor, run_batch
from pipelines.segments import Settings


def test_split_weave__rows_by_parity__round_trip():
    frame = np.arange(7 * 4 * 3).reshape(7, 4, 3)
    top, bottom = split(frame)
    assert np.array_equal(top, frame[[0, 2, 4, 6]]) and np.array_equal(bottom, frame[[1, 3, 5]])
    assert top.flags.c_contiguous and np.array_equal(weave(top, bottom), frame)


def test_split_masks__each_lane_gets_its_rows_of_the_same_mask_whichever_reads_first():
    masks = [np.full((4, 2), k) for k in range(3)]
    top, bottom = split_masks(iter(masks))
    assert [next(bottom)[0, 0], next(bottom)[0, 0], next(top)[0, 0], next(bottom)[0, 0]] == [0, 1, 0, 2]
    assert [m[0, 0] for m in top] == [1, 2] and next(bottom, None) is None


def test_lanes__one_lane_later_than_the_other__frames_paired_in_order():
    held = []

    def late(picture, value):  # hands each field back one frame late
        held.append((picture, value))
        return [held.pop(0)] if len(held) > 1 else []

    lanes = Lanes(Step(late, lambda: held[:]), Step(lambda p, v: [(p, v)], list))
    frames = [np.full((6, 2), k) for k in range(4)]
    out = []
    for k, f in enumerate(frames):
        out += lanes.push(f, Fields(f"t{k}", f"b{k}"))
    out += lanes.flush()
    assert [o[1] for o in out] == [Fields(f"t{k}", f"b{k}") for k in range(4)]
    assert all(np.array_equal(o[0], f) for o, f in zip(out, frames))


BOX = (96, 64, 128, 96)  # x, y, w, h of the mosaic on the woven frame


def _psnr(a, b):
    return 10 * np.log10(255 ** 2 / max(float(np.mean((a.astype(float) - b.astype(float)) ** 2)), 1e-3))


@pytest.fixture(scope="module")
def interlaced(tmp_path_factory):
    """vtest.avi made interlaced (two frames a frame: moving people are combed), and the same
    with a mosaic laid on each field (16 × 8 cells a field), as ffmpeg's pixelize makes it."""
    from pipelines.evaluate_video import opencv_clip

    d = tmp_path_factory.mktemp("interlaced")
    coded = ["-c:v", "libx264", "-flags", "+ildct+ilme", "-x264opts", "tff=1", "-field_order", "tt",
             "-pix_fmt", "yuv420p"]
    ffmpeg("-i", opencv_clip("vtest.avi"), "-vf", "scale=384:288,tinterlace=mode=interleave_top,setfield=tff",
           "-frames:v", "16", *coded, "-crf", "14", d / "clean.mp4")
    x, y, w, h = BOX
    fields = (f"[0:v]format=gbrp,il=l=d:c=d:a=d,split=3[a][b][c];[b]crop={w}:{h // 2}:{x}:{y // 2},"
              f"pixelize=w=16:h=8[p];[c]crop={w}:{h // 2}:{x}:{y // 2 + 144},pixelize=w=16:h=8[q];"
              f"[a][p]overlay={x}:{y // 2}[t];[t][q]overlay={x}:{y // 2 + 144},il=l=i:c=i:a=i,setfield=tff")
    ffmpeg("-i", d / "clean.mp4", "-filter_complex", fields, *coded, "-crf", "16", d / "mosaic.mp4")
    assert probe(d / "mosaic.mp4").field_order == "tt"
    return d


def test_video__mosaic_laid_on_each_field__restored_per_field(interlaced, tmp_path):
    """The fields' lattices interleave, so no woven frame shows flat cells: restored per field,
    the region comes out closer to the clean frames than the mosaic (passthrough) does, and
    nothing outside it changes."""
    out, passed, report = tmp_path / "out.mkv", tmp_path / "pass.mkv", tmp_path / "r.json"
    # Lossless, so that what the encoder does with the changed region cannot reach the rest.
    for args in ([str(out), "--report", str(report)], [str(passed), "--passthrough"]):
        result = CliRunner().invoke(main, ["video", str(interlaced / "mosaic.mp4"), "--lossless", *args])
        assert result.exit_code == 0, result.output
    assert probe(out).field_order == "tt"
    clean, ours, base = (np.stack(list(read_frames(p))) for p in (interlaced / "clean.mp4", out, passed))
    x, y, w, h = BOX
    box = (slice(y, y + h), slice(x, x + w))
    gain = [_psnr(o[box], c[box]) - _psnr(b[box], c[box]) for c, o, b in zip(clean, ours, base)]
    assert json.loads(report.read_text())["frames_restored"] >= 12
    # Per field: +1.18 dB, the least frame +0.99; restored as woven frames (before): +0.39, least +0.09.
    assert np.mean(gain) > 0.8 and min(gain) > 0.5, gain
    outside = np.ones(clean.shape[1:3], bool)
    outside[y - 8:y + h + 8, x - 8:x + w + 8] = False
    assert np.array_equal(ours[:, outside], base[:, outside])


def test_batch__interlaced_over_segments__same_frames_as_one_piece(interlaced, tmp_path):
    """Each field's lane counts its keyframes from the video's frame 0, so a segmented run
    restores every frame as the run in one piece does."""
    src = interlaced / "mosaic.mp4"
    whole = tmp_path / "whole.mkv"
    result = CliRunner().invoke(main, ["video", str(src), str(whole), "--lossless", "--detect-every", "4",
                                       "--precision", "float32"])  # as the Settings below
    assert result.exit_code == 0, result.output
    settings = Settings(model_path=None, mode="guided", mask_path=None, encode=EncodeOptions(lossless=True),
                        detector=DetectorConfig(), keyframes=KeyframeConfig(every=4))
    dst = tmp_path / "seg.mkv"
    assert run_batch([(src, dst)], settings, LocalExecutor(), segment_frames=6)["videos"][0]["status"] == "done"
    a = np.stack(list(read_frames(whole))).astype(int)
    b = np.stack(list(read_frames(dst))).astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1
    flags = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "frame=interlaced_frame", "-of", "csv=p=0",
                            str(dst)], capture_output=True, text=True, check=True).stdout.split()
    assert flags and all(f.strip(",") == "1" for f in flags)


def test_detect__interlaced__mask_video_of_both_fields_and_regions_per_field(interlaced, tmp_path):
    """`demosaic detect` finds the mosaic laid on each field, as `video` does: each field's
    region in its own rows, within a cell of the box, and the mask video both fields woven."""
    src, masks, found = interlaced / "mosaic.mp4", tmp_path / "m.mkv", tmp_path / "m.json"
    result = CliRunner().invoke(main, ["detect", str(src), str(masks), "--json", str(found)])
    assert result.exit_code == 0, result.output
    frames = json.loads(found.read_text())["frames"]
    assert len(frames) == 16 and all(set(f["fields"]) == {"top", "bottom"} for f in frames)
    x, y, w, h = BOX
    for f in frames[2:-2]:  # the first and last frames aside, each field finds the box in its own rows
        for part in f["fields"].values():
            (x0, y0, x1, y1), = [r["bbox"] for r in part["regions"]]
            assert abs(x0 - x) <= 16 and abs(x1 - (x + w)) <= 16 and abs(y0 - y // 2) <= 8 and abs(y1 - (y + h) // 2) <= 8
    mask = np.stack(list(read_frames(masks)))[..., 0] > 127
    inside, near = np.zeros(mask.shape[1:], bool), np.zeros(mask.shape[1:], bool)
    inside[y:y + h, x:x + w] = True
    near[y - 16:y + h + 16, x - 16:x + w + 16] = True  # a cell around it
    assert mask[:, inside].mean() > 0.9 and not mask[:, ~near].any()


def test_video__interlaced_with_a_static_mask__each_field_takes_its_rows_of_it(interlaced, tmp_path):
    """A user's mask over the field-laid mosaic: split per field (each lane's grid measured in
    its rows), the region is restored as with detection, nothing outside it changes."""
    import cv2

    x, y, w, h = BOX
    mask = np.zeros((288, 384), np.uint8)
    mask[y:y + h, x:x + w] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    out, passed = tmp_path / "out.mkv", tmp_path / "pass.mkv"
    for args in ([str(out), "--mask", str(tmp_path / "mask.png")], [str(passed), "--passthrough"]):
        result = CliRunner().invoke(main, ["video", str(interlaced / "mosaic.mp4"), "--lossless", *args])
        assert result.exit_code == 0, result.output
    clean, ours, base = (np.stack(list(read_frames(p))) for p in (interlaced / "clean.mp4", out, passed))
    box = (slice(y, y + h), slice(x, x + w))
    gain = [_psnr(o[box], c[box]) - _psnr(b[box], c[box]) for c, o, b in zip(clean, ours, base)]
    assert np.mean(gain) > 0.8 and min(gain) > 0.3, gain
    outside = mask == 0
    assert np.array_equal(ours[:, outside], base[:, outside])
