"""Ray on loopback: one `ray start --head` for the module, token auth on, stopped in teardown.

The Ray path (segments on 2 CPU workers) must give the in-process path's frames and audio;
a worker killed mid-job must not cost a frame; `ray job submit` runs `demosaic batch`.
"""
import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import audio_md5, ffmpeg, photo_png, pixelize
from cli import main
from demosaic.video import read_frames

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
PIXELIZE = pixelize(48, 32, 96, 64, 16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node on 127.0.0.1 with 2 CPUs and token authentication; this process joins it."""
    saved = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER",
                                            "RAY_ADDRESS")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16),
                      RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    port, dashboard = free_port(), free_port()
    subprocess.run([str(BIN / "ray"), "start", "--head", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
                    f"--port={port}", f"--dashboard-port={dashboard}", "--num-cpus=2", "--disable-usage-stats"],
                   check=True, env=env, capture_output=True)
    import ray

    try:
        ray.init(address=f"127.0.0.1:{port}", log_to_driver=False)
        yield {"address": f"127.0.0.1:{port}", "dashboard": f"http://127.0.0.1:{dashboard}", "env": env}
    finally:
        ray.shutdown()
        subprocess.run([str(BIN / "ray"), "stop", "--force"], env=env, capture_output=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """30 frames panning over a photo-like picture, with a frame-aligned mosaic (restored on
    every frame), and a FLAC audio track."""
    d = tmp_path_factory.mktemp("rayclips")
    ffmpeg("-loop", "1", "-framerate", "10", "-i", photo_png(d / "photo.png", 160, 240, 11), "-f", "lavfi",
           "-i", "sine=frequency=330:duration=3", "-vf", f"crop=192:128:'floor(n*1.5)':'floor(n)',{PIXELIZE}",
           "-frames:v", "30", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "flac", "-shortest",
           str(d / "in.mkv"))
    return d / "in.mkv"


def frames(path):
    return np.stack(list(read_frames(path))).astype(np.int16)


@pytest.fixture(scope="module")
def reference(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref.mkv"
    # float32, as --ray takes auto to be (its nodes may differ): the Ray runs below name none.
    result = CliRunner().invoke(main, ["video", str(clip), str(out), "--lossless", "--precision", "float32",
                                       "--report", str(out.with_suffix(".json"))])
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_suffix(".json").read_text())["frames_restored"] == 30  # the comparisons see restoring
    return out


def test_ray__segments_on_two_workers__same_frames_and_audio_as_in_process(cluster, clip, reference, tmp_path):
    out = tmp_path / "ray.mkv"
    result = CliRunner().invoke(main, ["video", str(clip), str(out), "--lossless", "--ray", cluster["address"],
                                       "--workers", "2", "--segment-frames", "8", "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    a, b = frames(reference), frames(out)
    assert a.shape == b.shape == (30, 128, 192, 3)
    assert np.abs(a - b).max() <= 1
    assert audio_md5(out) == audio_md5(clip)
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["segments"] == 4 and report["frames"] == 30 and "2 CPU workers" in report["executor"]
    assert not list(tmp_path.glob(".*"))  # no parts, partial files or markers left


def test_ray__streams_timing_and_properties_kept(cluster, rich_clips, stream_properties, tmp_path):
    out = tmp_path / "out.mp4"
    result = CliRunner().invoke(main, ["video", str(rich_clips / "rich.mp4"), str(out), "--passthrough",
                                       "--ray", cluster["address"], "--workers", "2", "--segment-frames", "20"])
    assert result.exit_code == 0, result.output
    kept, before = stream_properties(out), stream_properties(rich_clips / "rich.mp4")
    assert kept["streams"] == before["streams"] and kept["offsets"] == pytest.approx(before["offsets"], abs=0.04)
    assert (kept["rotation"], kept["chapters"], kept["subtitle_text"]) == ([90], ["One", "Two"], ["hello there"])


def test_ray__a_stream_the_container_refuses__exit_2_before_ray_starts_work(cluster, tmp_path):
    src = tmp_path / "pcm.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=128x96:rate=25:duration=0.4", "-f", "lavfi", "-i", "sine=duration=0.4",
           "-c:v", "libx264", "-c:a", "pcm_s16le", src)
    result = CliRunner().invoke(main, ["video", str(src), str(tmp_path / "out.mp4"), "--passthrough",
                                       "--ray", cluster["address"], "--workers", "1"])
    assert result.exit_code == 2 and "cannot all go into .mp4" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pcm.mov"]


def test_ray__worker_dies_mid_job__segment_retried_no_frame_lost(cluster, clip, reference, tmp_path):
    from pipelines.batch import run_batch
    from pipelines.ray_executor import RayExecutor, RayOptions
    from pipelines.segments import Settings
    from demosaic.detect import DetectorConfig
    from demosaic.video import EncodeOptions

    flag = tmp_path / "die-once"
    flag.touch()
    settings = Settings(model_path=None, mode="guided", mask_path=None, encode=EncodeOptions(lossless=True),
                        detector=DetectorConfig())
    import ray

    executor = RayExecutor(RayOptions(address=cluster["address"], workers=2))
    try:
        where = ray.get([a.where.remote() for a in executor.actors])
        assert [w["intra_op_threads"] for w in where] == [1, 1]  # CPU actors: their share of the cores
        assert len({w["pid"] for w in where}) == 2
        out = tmp_path / "out" / "in.mkv"
        out.parent.mkdir()
        report = run_batch([(clip, out)], settings, executor, segment_frames=8, fail_flag=str(flag))
    finally:
        executor.close()
    assert (tmp_path / "die-once.claimed").exists()  # a worker really died
    assert report["videos"][0]["status"] == "done", report
    a, b = frames(reference), frames(out)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_ray_job_submit__batch_runs_on_the_cluster(cluster, clip, tmp_path):
    out_dir = tmp_path / "out"
    entry = f"{BIN / 'demosaic'} batch {clip} --out-dir {out_dir} --ray auto --workers 1 --crf 20"
    proc = subprocess.run([str(BIN / "ray"), "job", "submit", "--address", cluster["dashboard"], "--", *entry.split()],
                          env=cluster["env"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "succeeded" in proc.stdout.lower()
    assert len(list(read_frames(out_dir / "in.mkv"))) == 30
    assert audio_md5(out_dir / "in.mkv") == audio_md5(clip)
