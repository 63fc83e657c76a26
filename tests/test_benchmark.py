"""`demosaic benchmark model|video`: they run, and their figures are consistent with each other."""
import json
import subprocess

import pytest
from click.testing import CliRunner

from cli import main

pytestmark = pytest.mark.slow


def test_benchmark_model__flops_and_fraction_of_peak_agree(tmp_path):
    out = tmp_path / "m.json"
    result = CliRunner().invoke(main, ["benchmark", "model", "--sizes", "64", "--batch", "2", "--repeats", "1",
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["matmul_peak_gflops"] > 0 and len(data["rows"]) == 2  # the depth-7 model needs 128 px
    for r in data["rows"]:
        assert r["gflops"] == pytest.approx(r["images_per_second"] * r["gflop_per_image"], rel=0.02)
        assert r["fraction_of_peak"] == pytest.approx(r["gflops"] / data["matmul_peak_gflops"], rel=0.02)


def test_benchmark_video__stages_and_end_to_end(tmp_path):
    clip = tmp_path / "c.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=128x96:rate=10:duration=1,split[a][b];[b]crop=64:48:16:16,pixelize=width=8:height=8[p];"
                    "[a][p]overlay=16:16", "-c:v", "libx264", str(clip)], check=True)
    out = tmp_path / "v.json"
    result = CliRunner().invoke(main, ["benchmark", "video", str(clip), "--sizes", "160x120", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["frames"] == 10
    stages = data["in_process"]["stage_frames_per_second"]
    assert set(stages) == {"decode", "detect", "restore", "encode"}
    assert data["in_process"]["end_to_end_fps"] <= min(v for v in stages.values() if v) * 1.05
    t = data["against_transcode"]
    assert t["transcode"] == "ffmpeg -i IN -c:v libx264 -crf 18 -preset medium -c:a copy OUT"
    assert t["ratio_with_startup"] == pytest.approx(t["demosaic_seconds_with_startup"] / t["transcode_seconds"], rel=0.05)
    assert t["ratio_without_startup"] == pytest.approx(t["demosaic_seconds_in_process"] / t["transcode_seconds"], rel=0.05)
    # A fresh process pays the imports and the model load that the in-process runs do not.
    assert t["demosaic_seconds_with_startup"] > t["demosaic_seconds_in_process"]
    assert [s["size"] for s in data["sizes"]] == ["160x120"] and data["sizes"][0]["frames"] == 10
    assert "against a plain transcode" in result.output and "at 160x120" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4", "v.json"]


def test_benchmark_video__fusion_cost_against_single_frames(tmp_path):
    """--fuse-radius: both paths run in turn, and the ratios are those of the figures shown."""
    clip = tmp_path / "c.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=256x128:rate=10:duration=1,crop=128:96:'floor(n*1.5)':16,split[a][b];"
                    "[b]crop=64:48:16:16,pixelize=width=8:height=8[p];[a][p]overlay=16:16", "-c:v", "libx264",
                    str(clip)], check=True)
    out = tmp_path / "v.json"
    result = CliRunner().invoke(main, ["benchmark", "video", str(clip), "--fuse-radius", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    f = json.loads(out.read_text())["fusion"]
    assert f["radius"] == 2 and f["runs_each"] == 1 and f["regions_fused"] > 0
    cpu, restore = f["cpu_ms_per_frame"], f["restore_ms_per_frame"]
    assert f["cpu_ratio"] == pytest.approx(cpu["fused"] / cpu["single"], rel=0.02)
    assert f["restore_ratio"] == pytest.approx(restore["fused"] / restore["single"], rel=0.02)
    assert "fusion ±2" in result.output
