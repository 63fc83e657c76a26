import numpy as np
import pytest
from conftest import smooth_image

from demosaic.config import KeyframeConfig
from demosaic.detect import Detector, DetectorConfig, grid_line_error, iou
from demosaic.keyframes import KeyframeDetector, shift_mask
from demosaic.mosaic import MosaicRegion, pixelate

CFG = DetectorConfig(learned="")  # the classical detector: exact on uncompressed frames, and fast
H, W = 240, 320


def run(frames, every):
    detector = Detector(CFG)
    keyed = KeyframeDetector(detector.detect, CFG, KeyframeConfig(every=every))
    out = []
    for f in frames:
        out += keyed.push(f)
    out += keyed.flush()
    assert [f for f, _ in out] == frames  # every frame, once, in order
    return [d for _, d in out], keyed.detected


def clip(regions_per_frame, seed=3, moving_content=True):
    """Frames of changing photo-like content (or one photo) with each frame's regions pixelated."""
    rng = np.random.default_rng(seed)
    still = smooth_image(rng, H, W)
    frames, truths = [], []
    for regions in regions_per_frame:
        mosaic, truth = pixelate(smooth_image(rng, H, W) if moving_content else still, regions)
        frames.append(mosaic)
        truths.append(truth)
    return frames, truths


BOX = MosaicRegion("rect", ((64, 48), (224, 176)), (16, 16), align="region")


def test_keyframes__static_mosaic_over_changing_content__only_keyframes_detected():
    frames, truths = clip([[BOX]] * 17)
    found, detected = run(frames, every=8)
    assert detected == 3  # frames 0, 8 and 16
    for d, truth in zip(found, truths):
        assert iou(d.mask, truth) >= 0.95
        assert len(d.regions) == 1 and grid_line_error(d.regions[0].grid, BOX.grid(), d.regions[0].bbox) <= 1.0


def test_keyframes__every_1__every_frame_detected():
    frames, _ = clip([[BOX]] * 5)
    assert run(frames, every=1)[1] == 5


def test_keyframes__mosaic_moving_with_its_grid__moved_between_keyframes():
    # An editor's mosaic following something: the region and its grid move 3 px a frame.
    regions = [[MosaicRegion("rect", ((40 + 3 * n, 56), (168 + 3 * n, 168)), (16, 16), align="region")]
               for n in range(9)]
    frames, truths = clip(regions, moving_content=False)
    found, detected = run(frames, every=8)
    assert detected == 2  # the frames between took frame 0's region, moved 3 px a frame
    for n, (d, truth) in enumerate(zip(found, truths)):
        assert iou(d.mask, truth) >= 0.95, n
        assert grid_line_error(d.regions[0].grid, regions[n][0].grid(), d.regions[0].bbox) <= 1.0, n


def test_keyframes__mosaic_appears_between_keyframes__found_from_its_first_frame():
    frames, truths = clip([[]] * 5 + [[BOX]] * 12)
    found, detected = run(frames, every=8)
    assert [bool(d.regions) for d in found] == [False] * 5 + [True] * 12
    assert detected < 17
    for d, truth in zip(found, truths):
        assert iou(d.mask, truth) >= 0.95


def test_keyframes__mosaic_gone_between_two_keyframes_that_show_it__those_frames_detected():
    frames, _ = clip([[BOX]] * 3 + [[]] * 3 + [[BOX]] * 3)
    found, _ = run(frames, every=8)
    assert [bool(d.regions) for d in found] == [True] * 3 + [False] * 3 + [True] * 3


def test_keyframes__mosaic_grows_between_keyframes_that_agree__frames_it_grew_in_detected():
    bigger = MosaicRegion("rect", ((64, 48), (272, 176)), (16, 16), align="region")  # three cells more on the right
    frames, truths = clip([[BOX]] * 3 + [[bigger]] * 3 + [[BOX]] * 3)
    found, _ = run(frames, every=8)
    for n, (d, truth) in enumerate(zip(found, truths)):
        assert iou(d.mask, truth) >= 0.95, n


@pytest.mark.parametrize("dx, dy", [(0, 0), (3, -2), (-5, 4), (400, 0)])
def test_shift__matches_numpy_roll_with_zeros(dx, dy):
    a = np.arange(1, 7 * 9 + 1).reshape(7, 9)
    expected = np.zeros_like(a)
    for y in range(7):
        for x in range(9):
            if 0 <= y - dy < 7 and 0 <= x - dx < 9:
                expected[y, x] = a[y - dy, x - dx]
    np.testing.assert_array_equal(shift_mask(a, dx, dy), expected)


def test_keyframes__mosaic_moving_over_a_fixed_grid__moved_between_keyframes():
    # A mosaic on the frame's grid following something: the region moves, its cells stay.
    regions = [[MosaicRegion("rect", ((40 + 2 * n, 48 + n), (184 + 2 * n, 168 + n)), (12, 12))] for n in range(9)]
    frames, truths = clip(regions, moving_content=False)
    found, detected = run(frames, every=8)
    assert detected == 2
    for n, (d, truth) in enumerate(zip(found, truths)):
        assert iou(d.mask, truth) >= 0.95, n
        assert grid_line_error(d.regions[0].grid, regions[n][0].grid(), d.regions[0].bbox) <= 1.0, n


def test_wants__keyframes__and_every_frame_while_the_last_keyframe_held_a_region():
    """What the decoding thread converts to rgb24 ahead of its turn (`rgbframes`)."""
    frames, _ = clip([[]] * 9 + [[BOX]] * 8)
    keyed = KeyframeDetector(Detector(CFG).detect, CFG, KeyframeConfig(every=8))
    wanted = []
    for n, f in enumerate(frames):
        wanted.append(keyed.wants(n))
        keyed.push(f)
    # Frames 0, 8 and 16 are keyframes; after clean frames 0 and 8 only they; frame 16 holds
    # the mosaic, and from then on every frame is wanted.
    assert [n for n, w in enumerate(wanted) if w] == [0, 8, 16]
    assert all(keyed.wants(n) for n in range(17, 24))
