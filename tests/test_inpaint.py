"""Pure inpainting coarse to fine (`demosaic.inpaint`), with a stand-in network of known reach."""
import cv2
import numpy as np
import pytest

from demosaic.inpaint import fill_coarse_to_fine, hole_depth

REACH = 12


def short_reach_fill(image, hole):
    """Like the pure U-Net: fills the hole only within REACH px of known pixels (by Telea there),
    and leaves black deeper in."""
    filled = cv2.inpaint(image, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    out = image.copy()
    out[hole] = filled[hole]
    out[hole_depth(hole) > REACH] = 0
    return out


@pytest.fixture
def ramp():
    yy, xx = np.mgrid[0:160, 0:240]
    return np.stack([40 + xx * 0.6, 60 + yy * 0.8, np.full_like(xx, 120.0)], -1).astype(np.uint8)


def test_hole_depth__distance_to_the_nearest_known_pixel():
    hole = np.zeros((9, 9), bool)
    hole[2:7, 2:7] = True
    depth = hole_depth(hole)
    assert depth[4, 4] == pytest.approx(3, abs=0.1) and depth[2, 4] == pytest.approx(1, abs=0.1)
    assert depth[0, 0] == 0


def test_fill_coarse_to_fine__a_hole_past_the_reach__filled_without_black(ramp):
    hole = np.zeros(ramp.shape[:2], bool)
    hole[30:130, 60:180] = True  # 50 px deep: one pass of the stand-in leaves its middle black
    one_pass = short_reach_fill(ramp, hole)
    assert (one_pass[hole] == 0).all(axis=1).mean() > 0.3
    out = fill_coarse_to_fine(ramp, hole, short_reach_fill, reach=REACH, min_side=16)
    np.testing.assert_array_equal(out[~hole], ramp[~hole])
    assert not (out[hole] == 0).all(axis=1).any()
    # A ramp is what Telea reproduces: the coarse levels must not spoil it.
    assert np.abs(out[hole].astype(int) - ramp[hole]).mean() < 6


def test_fill_coarse_to_fine__a_shallow_hole__is_one_pass(ramp):
    hole = np.zeros(ramp.shape[:2], bool)
    hole[40:60, 40:200] = True  # 10 px deep at most
    np.testing.assert_array_equal(fill_coarse_to_fine(ramp, hole, short_reach_fill, reach=REACH),
                                  short_reach_fill(ramp, hole))


@pytest.mark.slow
def test_shipped_pure_model__a_256_px_hole__no_dark_middle():
    """The shipped pure model's mask update does not reach the middle of a 256 px hole in one
    pass: 37 % of it came out darker than 30 levels on this picture. Coarse to fine: none."""
    from conftest import smooth_image
    from demosaic.mosaic import GridArea
    from demosaic.restore import Restorer

    image = (60 + 0.6 * smooth_image(np.random.default_rng(0), 384, 384)).astype(np.uint8)  # 60-213 levels
    hole = np.zeros((384, 384), bool)
    hole[64:320, 64:320] = True
    out = Restorer.for_mode("inpaint").restore(image, [GridArea(hole, None)])
    np.testing.assert_array_equal(out[~hole], image[~hole])
    assert (out[hole].mean(axis=1) < 30).mean() == 0
