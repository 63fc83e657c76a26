"""`demosaic video` on real footage and ffmpeg's own mosaics, scored against the clean frames
and against `--passthrough` (the same decode and encode, nothing restored)."""
import json
import subprocess

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ffmpeg
from cli import main
from demosaic.mosaic import pixelate_areas
from pipelines.evaluate_video import FootageCase, make_clips, opencv_clip

pytestmark = pytest.mark.slow


def video(*args):
    result = CliRunner().invoke(main, ["video", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result


def decoded(path, pix_fmt="rgb24"):
    """Every frame as ffmpeg itself decodes it (not the pipeline's reader)."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", pix_fmt, "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, np.uint8)


def frames_rgb(path, h, w):
    return decoded(path).reshape(-1, h, w, 3).astype(np.float64)


def region_psnr(a, b, box):
    x, y, w, h = box
    mse = np.mean((a[y:y + h, x:x + w] - b[y:y + h, x:x + w]) ** 2)
    return 10 * np.log10(255 ** 2 / mse)


def test_video__pixelized_vtest__gains_on_average_and_no_frame_worse_than_passthrough(tmp_path):
    """The issue's recipe, short: an 8 px pixelize patch on vtest.avi through H.264 CRF 20."""
    case = FootageCase(opencv_clip("vtest.avi"), 0, 12, 8, (240, 160, 160, 128), crf=20)
    clean, mosaic = make_clips(case, tmp_path)
    video(mosaic, tmp_path / "out.mp4", "--report", tmp_path / "r.json")
    video(mosaic, tmp_path / "pass.mp4", "--passthrough")
    c, o, p = (frames_rgb(f, 576, 768) for f in (clean, tmp_path / "out.mp4", tmp_path / "pass.mp4"))
    gains = [region_psnr(oi, ci, case.box) - region_psnr(pi, ci, case.box) for ci, oi, pi in zip(c, o, p)]
    assert len(gains) == 12
    assert np.mean(gains) > 0.5 and min(gains) > -0.05
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames_restored"] == 12 and set(report["fallbacks"]) == {"guide", "kept"}


def test_make_clips__moving_mosaic__each_frame_pixelates_its_own_clean_frame_where_area_says(tmp_path):
    """Frame n's cells are the means of clean frame n over `case.area(n)`, not one frame's
    motion away (ffmpeg's overlay and crop count `n` differently), nor more (timestamp gaps)."""
    # tree.avi: its timestamps have gaps, so frame n is not at n / rate in the source.
    case = FootageCase(opencv_clip("tree.avi"), 0, 8, 10, (40, 40, 100, 80), velocity=(3.0, 2.0), crf=12)
    clean, mosaic = make_clips(case, tmp_path)
    c, m = frames_rgb(clean, 240, 320), frames_rgb(mosaic, 240, 320)
    for n in (2, 5, 7):
        def error(k):
            truth, inside = pixelate_areas(c[n].astype(np.uint8), [case.area(k, 240, 320)])
            return np.abs(truth[inside] - m[n][inside]).mean()
        assert error(n) < 2.0 and error(n) < 0.5 * min(error(n - 1), error(n + 1)), (n, error(n - 1), error(n), error(n + 1))


@pytest.fixture(scope="module")
def patch_clip(tmp_path_factory):
    """A textured lavfi clip with a 16 px pixelize patch at x 48-143, y 32-95, H.264 CRF 18."""
    d = tmp_path_factory.mktemp("patch")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=192x128:rate=10:duration=1,noise=alls=24:allf=t:all_seed=5",
           "-filter_complex", "format=gbrp,split[a][b];[b]crop=96:64:48:32,pixelize=w=16:h=16[p];"
           "[a][p]overlay=48:32,format=yuv420p", "-c:v", "libx264", "-crf", "18", d / "mosaic.mp4")
    return d / "mosaic.mp4"


def test_video__mask_half_a_cell_too_big__outside_the_mosaic_matches_passthrough(patch_clip, tmp_path):
    mask = np.zeros((128, 192), np.uint8)
    mask[24:104, 40:152] = 255  # 8 px past the mosaic on every side
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    video(patch_clip, tmp_path / "out.mkv", "--lossless", "--mask", tmp_path / "mask.png")
    video(patch_clip, tmp_path / "pass.mkv", "--lossless", "--passthrough")
    out = decoded(tmp_path / "out.mkv", "yuv420p").reshape(10, -1)
    ref = decoded(tmp_path / "pass.mkv", "yuv420p").reshape(10, -1)
    luma_out, luma_ref = out[:, :128 * 192].reshape(10, 128, 192), ref[:, :128 * 192].reshape(10, 128, 192)
    outside = np.ones((128, 192), bool)
    outside[32:96, 48:144] = False
    np.testing.assert_array_equal(luma_out[:, outside], luma_ref[:, outside])
    assert (luma_out[:, ~outside] != luma_ref[:, ~outside]).any()  # the mosaic itself was restored


def test_video__exclude_over_half_the_mosaic__that_half_matches_passthrough(patch_clip, tmp_path):
    keep_out = np.zeros((128, 192), np.uint8)
    keep_out[:, 96:] = 255  # the patch's right half (x 96-143) and everything right of it
    cv2.imwrite(str(tmp_path / "exclude.png"), keep_out)
    video(patch_clip, tmp_path / "out.mkv", "--lossless", "--exclude", tmp_path / "exclude.png")
    video(patch_clip, tmp_path / "pass.mkv", "--lossless", "--passthrough")
    out = decoded(tmp_path / "out.mkv", "yuv420p").reshape(10, -1)[:, :128 * 192].reshape(10, 128, 192)
    ref = decoded(tmp_path / "pass.mkv", "yuv420p").reshape(10, -1)[:, :128 * 192].reshape(10, 128, 192)
    # Luma beside the exclusion's edge may share a chroma block with restored pixels: 2 px margin.
    np.testing.assert_array_equal(out[:, :, 98:], ref[:, :, 98:])
    assert (out[:, 32:96, 48:94] != ref[:, 32:96, 48:94]).any()  # the left half was restored


def test_video__mask_over_flat_content__equals_passthrough(tmp_path):
    """No cells to measure a grid on: the masked area is kept, the output is passthrough's."""
    ffmpeg("-f", "lavfi", "-i", "color=c=0x507090:size=128x96:rate=10:duration=0.5", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", tmp_path / "flat.mp4")
    mask = np.zeros((96, 128), np.uint8)
    mask[16:80, 32:96] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    video(tmp_path / "flat.mp4", tmp_path / "out.mp4", "--mask", tmp_path / "mask.png", "--report", tmp_path / "r.json")
    video(tmp_path / "flat.mp4", tmp_path / "pass.mp4", "--passthrough")
    assert decoded(tmp_path / "out.mp4").tobytes() == decoded(tmp_path / "pass.mp4").tobytes()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames_restored"] == 0 and report["fallbacks"]["kept"] == 5


@pytest.mark.parametrize("source", ["smptehdbars", "testsrc", "testsrc2"])
def test_video__clean_flat_graphics__nothing_restored_output_is_passthrough(tmp_path, source):
    ffmpeg("-f", "lavfi", "-i", f"{source}=size=640x480:rate=25:duration=0.6", "-c:v", "libx264", "-crf", "18",
           "-pix_fmt", "yuv420p", tmp_path / "in.mp4")
    video(tmp_path / "in.mp4", tmp_path / "out.mp4", "--report", tmp_path / "r.json")
    video(tmp_path / "in.mp4", tmp_path / "pass.mp4", "--passthrough")
    assert json.loads((tmp_path / "r.json").read_text())["frames_restored"] == 0
    assert decoded(tmp_path / "out.mp4").tobytes() == decoded(tmp_path / "pass.mp4").tobytes()


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le", "yuv444p"])
def test_video__passthrough__decodes_exactly_as_a_plain_reencode(tmp_path, pix_fmt):
    """Nothing restored: the input's own planes go to the same encoder settings, so the frames
    are those of `ffmpeg -c:v libx264 -crf 18 -preset medium`, bit for bit, bit depth and
    chroma format kept (no RGB round trip, no darkening)."""
    src = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x96:rate=10:duration=0.5", "-vf", f"format={pix_fmt}",
           "-c:v", "libx264", "-crf", "12", "-pix_fmt", pix_fmt, src)
    video(src, tmp_path / "pass.mp4", "--passthrough")
    ffmpeg("-i", src, "-c:v", "libx264", "-crf", "18", "-preset", "medium", tmp_path / "plain.mp4")
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=pix_fmt",
                            "-of", "csv=p=0", str(tmp_path / "pass.mp4")], capture_output=True, text=True).stdout
    assert probe.strip() == pix_fmt
    assert decoded(tmp_path / "pass.mp4", pix_fmt).tobytes() == decoded(tmp_path / "plain.mp4", pix_fmt).tobytes()


def test_batch__passthrough__nothing_restored(patch_clip, tmp_path):
    result = CliRunner().invoke(main, ["batch", str(patch_clip), "--out-dir", str(tmp_path / "out"), "--passthrough",
                                       "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    entry = json.loads((tmp_path / "r.json").read_text())["videos"][0]
    assert entry["frames"] == 10 and entry["frames_restored"] == 0
    mosaic = decoded(patch_clip).reshape(10, 128, 192, 3).astype(float)
    out = decoded(tmp_path / "out" / "mosaic.mp4").reshape(10, 128, 192, 3).astype(float)
    assert 10 * np.log10(255 ** 2 / np.mean((out - mosaic) ** 2)) > 40  # a re-encode at CRF 18, no more




def test_score_case__lpips__zero_for_a_perfect_restore_more_for_the_mosaic():
    """LPIPS in the footage figures, against known answers: a restore equal to the clean
    frames scores 0; the mosaic (passthrough) scores above bicubic of its true cells, which
    scores above 0."""
    from conftest import smooth_image

    from demosaic.metrics import LPIPS
    from pipelines.evaluate_video import score_case

    case = FootageCase("clip.avi", 0, 4, 8, (32, 24, 64, 48))
    clean = np.stack([smooth_image(np.random.default_rng(k), 96, 128) for k in range(4)])
    mosaic = np.stack([pixelate_areas(f, [case.area(i, 96, 128)])[0] for i, f in enumerate(clean)])
    scores = score_case(case, clean, mosaic, mosaic, clean, LPIPS())
    assert scores["lpips"] == 0.0
    assert scores["lpips_passthrough"] > scores["lpips_bicubic"] > 0.0
    assert "lpips" not in score_case(case, clean, mosaic, mosaic, clean)


def test_score_case__error_moving_with_a_pan__no_flicker_but_temporal_error():
    """The flicker compares each frame's error where the case moved the picture to: an error
    painted on the scene and panned with it is no flicker (the temporal error counts it), an
    error drawn afresh each frame is; with the camera still the two figures are one."""
    from conftest import smooth_image

    from pipelines.evaluate_video import score_case

    rng = np.random.default_rng(3)
    scene, stain = smooth_image(rng, 96, 200), rng.normal(0, 6, (96, 200, 3))
    case = FootageCase("clip.avi", 0, 6, 8, (32, 24, 64, 48), pan=(2.0, 0.0))
    offsets = case.content_offsets()
    assert offsets[:, 1].tolist() == [0, 2, 4, 6, 8, 10] and not offsets[:, 0].any()
    clean = np.stack([scene[:, 2 * n:2 * n + 128] for n in range(6)])
    mosaic = np.stack([pixelate_areas(f, [case.area(i, 96, 128)])[0] for i, f in enumerate(clean)])
    stained = np.stack([np.clip(scene + stain, 0, 255).astype(np.uint8)[:, 2 * n:2 * n + 128] for n in range(6)])
    painted = score_case(case, clean, mosaic, mosaic, stained)
    fresh = score_case(case, clean, mosaic, mosaic,
                       np.clip(clean + rng.normal(0, 6, clean.shape), 0, 255).astype(np.uint8))
    assert painted["flicker"] == 0.0 and painted["temporal_error"] > 3.0
    assert fresh["flicker"] > 3.0
    still = score_case(FootageCase("clip.avi", 0, 6, 8, (32, 24, 64, 48)), clean, mosaic, mosaic, stained)
    assert still["flicker"] == still["temporal_error"] > 0


def test_make_clips__photo_pan__the_clean_frames_move_as_content_offsets_says(tmp_path):
    """A photo clip's camera path (sub-pixel) is what `content_offsets` gives: each clean
    frame matches the one before read at that motion, far better than not moved."""
    case = FootageCase("photo:pan:0", 0, 6, 8, (224, 160, 192, 160), crf=20, split="tuning")
    clean, mosaic = make_clips(case, tmp_path)
    c = frames_rgb(clean, 480, 640).astype(np.float32)
    offsets = case.content_offsets()
    assert np.abs(np.diff(offsets, axis=0)).max() > 0.9  # 1–2.5 px a frame
    inner = (slice(20, -20), slice(20, -20))
    for n in range(1, 6):
        d = offsets[n] - offsets[n - 1]
        m = np.float32([[1, 0, d[1]], [0, 1, d[0]]])
        moved = cv2.warpAffine(c[n - 1], m, (640, 480), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        compensated, still = (np.abs(c[n] - x)[inner].mean() for x in (moved, c[n - 1]))
        assert compensated < 0.4 * still, (n, compensated, still)


def test_passthrough__decodes_only_the_planes(tmp_path, monkeypatch):
    """Nothing looks at the pixels of a passthrough run: its reader starts one decoder (the
    input's own planes), not the rgb24 one beside it, and the output is still the plain
    re-encode's, bit for bit (the test above checks that; here, the same with the count)."""
    from demosaic import video as dvideo

    started = []
    real = dvideo.FrameReader._decoder

    def counting(path, stream, vf, pix_fmt):
        started.append(pix_fmt)
        return real(path, stream, vf, pix_fmt)

    monkeypatch.setattr(dvideo.FrameReader, "_decoder", staticmethod(counting))
    src = tmp_path / "in.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x96:rate=10:duration=0.5", "-c:v", "libx264", "-crf", "12",
           "-pix_fmt", "yuv420p", src)
    video(src, tmp_path / "pass.mp4", "--passthrough")
    ffmpeg("-i", src, "-c:v", "libx264", "-crf", "18", "-preset", "medium", tmp_path / "plain.mp4")
    assert started == ["yuv420p"]
    assert decoded(tmp_path / "pass.mp4").tobytes() == decoded(tmp_path / "plain.mp4").tobytes()
