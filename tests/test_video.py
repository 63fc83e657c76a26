import subprocess

import numpy as np
import pytest

from demosaic.errors import ExternalToolError, InputError
from demosaic.probe import probe
from demosaic.video import h264_roundtrip, read_frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 10-frame lossless clip made by ffmpeg itself, with a name that looks like an option."""
    path = tmp_path_factory.mktemp("clips") / "-weird name.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1",
                    "-c:v", "ffv1", "-pix_fmt", "bgr0", "file:" + str(path)], check=True)
    return path


def test_read_frames__lossless_clip__all_frames_in_order(clip):
    frames = list(read_frames(clip))
    assert len(frames) == 10 and frames[0].shape == (48, 64, 3)
    assert not np.array_equal(frames[0], frames[5])  # testsrc2 moves
    every = list(read_frames(clip, every=3))
    assert len(every) == 4
    np.testing.assert_array_equal(every[1], frames[3])


def test_probe__codec__lossy_or_not(clip, tmp_path):
    assert probe(clip).codec == "ffv1" and not probe(clip).lossy
    coded = tmp_path / "coded.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", "file:" + str(clip), "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "file:" + str(coded)], check=True)
    assert probe(coded).codec == "h264" and probe(coded).lossy


def test_probe__missing_file__input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "nope.mp4")


def test_probe__not_a_video__input_error_with_ffprobes_reason(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="not a readable video"):
        probe(bad)


def test_external_tool_error__keeps_stderr_and_shows_its_last_line():
    err = ExternalToolError("ffmpeg failed", "line one\nInvalid data found\n")
    assert err.stderr.startswith("line one") and str(err) == "ffmpeg failed: Invalid data found"


def test_h264_roundtrip__keeps_size_and_stays_close(rng):
    frame = (np.indices((48, 64)).sum(0)[..., None] * 2 % 256).repeat(3, 2).astype(np.uint8)
    out = h264_roundtrip(frame, 18)
    assert out.shape == frame.shape and np.abs(out.astype(int) - frame).mean() < 4


def test_mpeg4_roundtrip__keeps_size__coarser_quantiser_blocks_on_8px():
    """MPEG-4 Part 2 has no deblocking filter: a smooth ramp coded coarsely steps at its 8×8
    blocks' edges (x = 8 k), not between; coded finely it stays close."""
    from demosaic.video import mpeg4_roundtrip

    y, x = np.mgrid[0:96, 0:128]
    frame = np.clip(40 + 0.9 * x + 0.5 * y + 6 * np.sin(y / 9.0), 0, 255).astype(np.uint8)[..., None].repeat(3, 2)
    fine = mpeg4_roundtrip(frame, 2)
    assert fine.shape == frame.shape and np.abs(fine.astype(int) - frame).mean() < 3
    coarse = mpeg4_roundtrip(frame, 24).astype(np.float64)[..., 1]
    steps = np.abs(np.diff(coarse, axis=1)).mean(axis=0)  # the step between columns t and t+1
    on_edges = steps[7::8].mean()
    between = np.delete(steps, np.s_[7::8]).mean()
    assert on_edges > 2 * between
