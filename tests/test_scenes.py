import numpy as np
import pytest

from demosaic.scenes import camera_frames, camera_path


def test_camera_path__pan_and_jitter__pace_and_reach_as_documented():
    rng = np.random.default_rng(0)
    pan = camera_path("pan", 31, rng)
    steps = np.linalg.norm(np.diff(pan, axis=0), axis=1)
    assert pan[15].tolist() == [0.0, 0.0] and 0.9 < np.median(steps) < 2.6
    jitter = camera_path("jitter", 31, rng)
    assert np.abs(jitter).max() <= 5.0 and np.abs(np.diff(jitter, axis=0)).max() > 0.3
    with pytest.raises(ValueError, match="camera motion"):
        camera_path("zoom", 5, rng)


def test_camera_frames__whole_pixel_path__crops_of_the_scene():
    """Whole-pixel positions read the scene exactly (a bicubic tap at an integer is the pixel):
    the window centred on the scene, moved by (dy, dx)."""
    scene = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
    frames = camera_frames(scene, np.array([[0.0, 0.0], [2.0, -3.0]]), (20, 30))
    assert np.array_equal(frames[0], scene[10:30, 15:45])
    assert np.array_equal(frames[1], scene[12:32, 12:42])
