import cv2
import numpy as np
import pytest
from conftest import smooth_image

from demosaic.mosaic import Grid
from pipelines import benchmark_detect as bench


def test_benchmark_detect__small_run__scores_in_range_and_table(tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), smooth_image(np.random.default_rng(3), 300, 400))
    cfg = bench.DetectBenchmarkConfig(cell_sizes=(16,), crfs=(None, 23), cases_per_photo=1, clips=(), video=None)
    result = bench.run([photo], cfg)
    assert result["cases"] == 2
    for crf in ("none", "23"):
        scores = result["by_crf"][crf]["all"]
        assert scores["n"] == 1 and 0.0 <= scores["iou"] <= 1.0
    assert result["by_crf"]["none"]["all"]["iou"] >= 0.8  # a clean 16 px mosaic on a photo-like image
    assert {f["kind"] for f in result["per_clean_frame"]} == {"photo", "mpeg4", "flat", "texture"}
    assert result["frames_per_second_one_core"] > 0
    assert all(c["mosaic_psnr"] is None or c["mosaic_psnr"] > 10 for c in result["per_case"])
    text = bench.table(result)
    assert "CRF" in text and "frames/s" in text
    assert 0.0 <= result["grid_rendered_within_1px"] <= 1.0 and result["grid_within_1px"] <= result["grid_rendered_within_1px"]
    scaled = result["scaled"]["by_scale"]
    assert len(scaled) == len(cfg.scales) * len(cfg.scaled_crfs)
    for v in scaled.values():
        assert v["n"] == 1 and 0.0 <= v["iou"] <= 1.0 and 0.0 <= v["largest_share"] <= 1.0
    assert "scaled after pixelation" in text


@pytest.mark.parametrize("scale, cell", [(4 / 3, 8), (1.5, 12), (0.75, 16)])
def test_scaled_case__true_lattice_as_the_frame_shows_it(scale, cell):
    """The true grid of a scaled case, checked against the frame itself: away from its lines
    the mosaic's cells are flat (bicubic rings only near a border), across them they step."""
    photo = bench.fit_frame(smooth_image(np.random.default_rng(2), 300, 400))
    frame, truth, grid = bench.scaled_case(photo, scale, cell, np.random.default_rng(1))
    assert grid.pitch == pytest.approx((cell * scale, cell * scale), rel=0.01)
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64)
    iy, ix = grid.cell_index(*luma.shape)
    # Distance of each pixel centre (x + 0.5) from the nearest vertical / horizontal line.
    dist_x = np.abs((np.arange(luma.shape[1]) + 0.5 - grid.origin[0] + grid.pitch[0] / 2) % grid.pitch[0] - grid.pitch[0] / 2)
    dist_y = np.abs((np.arange(luma.shape[0]) + 0.5 - grid.origin[1] + grid.pitch[1] / 2) % grid.pitch[1] - grid.pitch[1] / 2)
    inner = truth & (dist_x[None, :] >= 2.5) & (dist_y[:, None] >= 2.5)
    inner &= cv2.erode(truth.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    cells = iy[:, None] * 10_000 + ix[None, :]
    ids, inverse = np.unique(cells[inner], return_inverse=True)
    values = luma[inner]
    mean = np.bincount(inverse, values) / np.bincount(inverse)
    spread = np.sqrt(np.bincount(inverse, (values - mean[inverse]) ** 2) / np.bincount(inverse))
    assert np.median(spread) < 1.0  # flat inside the true cells
    # On a lattice shifted by half a cell the same pixels straddle borders: far from flat.
    shifted = Grid(grid.pitch, (grid.origin[0] + grid.pitch[0] / 2, grid.origin[1] + grid.pitch[1] / 2))
    sy, sx = shifted.cell_index(*luma.shape)
    ids2, inverse2 = np.unique((sy[:, None] * 10_000 + sx[None, :])[inner], return_inverse=True)
    mean2 = np.bincount(inverse2, values) / np.bincount(inverse2)
    spread2 = np.sqrt(np.bincount(inverse2, (values - mean2[inverse2]) ** 2) / np.bincount(inverse2))
    assert np.median(spread2) > 3 * max(np.median(spread), 0.3)


def test_fit_frame__any_photo__becomes_768x576():
    for shape in [(1080, 1920, 3), (300, 200, 3), (576, 768, 3)]:
        assert bench.fit_frame(np.zeros(shape, np.uint8)).shape == (576, 768, 3)


def test_grid_found__overlapping_regions__scored_where_each_shows():
    """The later of two overlapping mosaics paints over the earlier: the earlier's grid is
    checked only where it still shows, against the detected region covering that."""
    from demosaic.detect import Detection, Region
    from demosaic.mosaic import MosaicRegion

    first = MosaicRegion("rect", ((0, 0), (120, 100)), (16, 16))
    second = MosaicRegion("rect", ((60, 40), (200, 160)), (16, 16), align="region")  # lines at x ≡ 12, y ≡ 8
    seen = bench.visible_parts([first, second], 200, 240)
    assert not seen[0][40:100, 60:120].any() and seen[0].sum() == 120 * 100 - 60 * 60
    assert seen[1].sum() == 140 * 120
    # Detected: the earlier mosaic's visible pixels as region 1 with its grid, the later as 2.
    labels = np.where(seen[0], 1, np.where(seen[1], 2, 0)).astype(np.int32)
    regions = (Region((0, 0, 120, 100), (16.0, 16.0), (0.0, 0.0), "mean", 1, 1.0),
               Region((60, 40, 200, 160), (16.0, 16.0), (60.0, 40.0), "mean", 1, 1.0))
    found = Detection(labels > 0, regions, labels)
    assert bench.grid_found(found, first, seen[0]) and bench.grid_found(found, second, seen[1])
    # One region with the first grid over both: the second's grid is wrong (4 and 8 px off).
    merged = Detection(labels > 0, regions[:1], (labels > 0).astype(np.int32))
    assert bench.grid_found(merged, first, seen[0]) and not bench.grid_found(merged, second, seen[1])
    assert not bench.grid_found(merged, second, seen[1], rendered=True)
    # Nothing detected: a miss, not a grid error.
    assert bench.grid_found(Detection(np.zeros(labels.shape, bool), (), np.zeros_like(labels)), first, seen[0]) is None


def test_unchanged_cells__flat_half__only_its_whole_cells_are_unscored():
    """A 16 px mosaic over a photo that is flat black on the left of x=40, textured right:
    cells wholly left of x=40 are pixel for pixel the photo; the cell holding x=40 is not."""
    from demosaic.mosaic import MosaicRegion, pixelate

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    photo[:, :40] = 0
    region = MosaicRegion("rect", ((0, 0), (96, 64)), (16, 16))
    mosaic, truth = pixelate(photo, [region])
    unseen = bench.unchanged_cells(photo, mosaic, [region])
    expect = np.zeros(truth.shape, bool)
    expect[:, :32] = True  # cells 0 and 1 across; cell 2 (x 32-47) mixes black and texture
    np.testing.assert_array_equal(unseen, expect)
    # Scored IoU: finding only the textured part is a full score; missing it is none.
    found = ~expect
    assert bench.scored_iou(found, truth, unseen) == 1.0
    assert abs(bench.iou(found, truth) - 64 / 96) < 1e-9
    assert bench.scored_iou(expect, truth, unseen) == 0.0
    assert bench.scored_iou(found, truth, truth) is None  # nothing left to find


def test_benchmark_detect_video__moving_mosaics__keyframes_detect_fewer_frames_and_agree(tmp_path):
    """The video part on a clip made here: slowly panning photo-like frames, ffmpeg-coded."""
    import subprocess

    from demosaic.detect import Detector, DetectorConfig

    rng = np.random.default_rng(4)
    big = smooth_image(rng, 576 + 48, 768 + 96)
    frames = np.stack([big[n:n + 576, 2 * n:2 * n + 768] for n in range(48)])
    clip = tmp_path / "pan.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "768x576", "-r", "25",
                    "-i", "pipe:", "-c:v", "ffv1", str(clip)], input=frames.tobytes(), check=True)
    detector = DetectorConfig(learned="")
    cfg = bench.DetectBenchmarkConfig(video=str(clip), video_start=0, video_frames=48, video_every=(1, 8), detector=detector)
    result = bench.video_run(str(clip), cfg, Detector(detector))
    assert result["size"] == [768, 576] and list(result["scenes"]) == list(bench.SCENES)
    one, four = (result["scenes"][s] for s in bench.SCENES)
    assert one["true_regions"] == 48 and four["true_regions"] > 48
    for scene in (one, four):
        every, keyed = scene["by_every"]["1"], scene["by_every"]["8"]
        assert every["frames_detected"] == 48 and keyed["frames_detected"] < 48
        assert every["iou"] >= 0.8 and keyed["agreement_with_every_frame"] >= 0.9
    # Keyframes 0, 8, ..., 40 and the last frame, and around the classical detector's few
    # blips (a false region in one keyframe makes the frames next to it detected too).
    assert one["by_every"]["8"]["frames_detected"] <= 24
    assert "keyframes every 8" in bench.table({"by_crf": {}, "grid_within_1px": None, "clean": {}, "frame": [768, 576],
                                                "frames_per_second_one_core": 1.0, "video": result})
