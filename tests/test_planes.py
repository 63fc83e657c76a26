"""The planes path: ffmpeg's own conversions are the reference for `demosaic.planes`."""
import subprocess

import numpy as np
import pytest

from conftest import smooth_image
from demosaic.planes import Planes, paste_changed, plane_format, rgb_to_yuv


def ffmpeg_convert(data: bytes, src_fmt: str, dst_fmt: str, w: int, h: int, vf: str = "") -> bytes:
    args = ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", src_fmt, "-s", f"{w}x{h}", "-i", "pipe:"]
    args += ["-vf", vf] if vf else []
    return subprocess.run([*args, "-f", "rawvideo", "-pix_fmt", dst_fmt, "pipe:"], input=data,
                          capture_output=True, check=True).stdout


def test_plane_format__names__depth_and_subsampling():
    f = plane_format("yuv420p10le")
    assert (f.depth, f.sub_x, f.sub_y, f.full_range) == (10, 2, 2, False)
    assert (plane_format("yuvj422p").sub_x, plane_format("yuvj422p").sub_y, plane_format("yuvj422p").full_range) == (2, 1, True)
    assert plane_format("yuv444p").frame_bytes(3, 5) == 45
    assert plane_format("yuv420p").frame_bytes(3, 5) == 15 + 2 * 2 * 3  # chroma planes round up
    for other in ("rgb24", "gbrp", "gray", "nv12", "yuva420p", ""):
        assert plane_format(other) is None


@pytest.mark.parametrize("matrix,rng_name", [("bt601", "tv"), ("bt709", "tv"), ("bt709", "pc")])
def test_rgb_to_yuv__matches_ffmpeg(rng, matrix, rng_name):
    """ffmpeg (swscale, accurate rounding) converts the same RGB to yuv444p: within a level."""
    rgb = smooth_image(rng, 32, 48)
    out = ffmpeg_convert(rgb.tobytes(), "rgb24", "yuv444p", 48, 32,
                         f"scale=out_color_matrix={matrix}:out_range={rng_name}:flags=accurate_rnd+full_chroma_int")
    theirs = np.frombuffer(out, np.uint8).reshape(3, 32, 48).transpose(1, 2, 0).astype(float)
    ours = np.rint(rgb_to_yuv(rgb, matrix, rng_name == "pc", 8))
    assert np.abs(ours - theirs).max() <= 1


def test_rgb_to_yuv__ten_bit_is_eight_bit_times_four(rng):
    rgb = smooth_image(rng, 8, 8)
    np.testing.assert_allclose(rgb_to_yuv(rgb, "bt709", False, 10), 4 * rgb_to_yuv(rgb, "bt709", False, 8))


def test_paste_changed__only_changed_pixels_and_their_chroma_blocks(rng):
    fmt = plane_format("yuv420p")
    h, w = 24, 32
    planes = Planes.from_bytes(rng.integers(16, 236, fmt.frame_bytes(h, w), dtype=np.uint8).tobytes(), fmt, h, w)
    original = smooth_image(rng, h, w)
    restored = original.copy()
    restored[5:9, 7:12] = 250  # odd corners: chroma blocks rows 2-4, cols 3-5
    out = paste_changed(planes, restored, original, fmt, "bt601", False)
    changed = np.zeros((h, w), bool)
    changed[5:9, 7:12] = True
    np.testing.assert_array_equal(out.y[~changed], planes.y[~changed])
    assert np.all(np.abs(out.y[changed].astype(int) - np.rint(rgb_to_yuv(np.full(3, 250.0), "bt601", False, 8)[0])) <= 0)
    blocks = np.zeros((h // 2, w // 2), bool)
    blocks[2:5, 3:6] = True
    np.testing.assert_array_equal(out.u[~blocks], planes.u[~blocks])
    np.testing.assert_array_equal(out.v[~blocks], planes.v[~blocks])
    # A block wholly inside the change takes the change's own chroma.
    cb = np.rint(rgb_to_yuv(np.full(3, 250.0), "bt601", False, 8)[1])
    assert out.u[3, 4] == cb
    assert paste_changed(planes, original, original, fmt, "bt601", False) is planes


def test_planes__bytes_round_trip(rng):
    fmt = plane_format("yuv422p10le")
    data = rng.integers(0, 1024, fmt.frame_bytes(6, 10) // 2, dtype=np.uint16).astype("<u2").tobytes()
    p = Planes.from_bytes(data, fmt, 6, 10)
    assert p.y.shape == (6, 10) and p.u.shape == (6, 5)
    assert p.tobytes() == data
