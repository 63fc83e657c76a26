"""The restore side's guards (demosaic.safety) against mosaics whose truth the test made."""
import numpy as np
import pytest

from conftest import smooth_image
from demosaic.config import SafetyConfig
from demosaic.consistency import Bounds, enforce_cell_means
from demosaic.mosaic import Grid, GridArea, MosaicRegion, pixelate
from demosaic.safety import colour_variety, guard_frame, verify_region

CFG = SafetyConfig()


def textured(rng, h=96, w=128):
    """A picture whose own 8 px cells are never flat (σ 12 noise over smooth fields)."""
    image = smooth_image(rng, h, w).astype(float) + rng.normal(0, 12, (h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture
def mosaic(rng):
    """An 8 px frame-aligned mosaic over rows 24-71, cols 32-95 of a textured picture."""
    region = MosaicRegion("rect", ((32, 24), (96, 72)), (8, 8))
    observed, mask = pixelate(textured(rng), [region])
    return observed, mask, region.grid()


def test_verify_region__true_grid__every_stepping_cell_restored(mosaic):
    observed, mask, grid = mosaic
    v = verify_region(observed, GridArea(mask, grid), CFG)
    assert v.passed and v.cells == 48 and v.flat == 48 and v.restored == 48
    np.testing.assert_array_equal(v.area.mask, mask)


def test_verify_region__grid_half_a_cell_off__kept_whole(mosaic):
    observed, mask, _ = mosaic
    v = verify_region(observed, GridArea(mask, Grid((8, 8), (4, 4))), CFG)
    assert not v.passed and v.area is None


def test_verify_region__mask_half_a_cell_too_big__the_picture_around_is_kept(mosaic):
    observed, mask, grid = mosaic
    grown = np.zeros_like(mask)
    grown[20:76, 28:100] = True  # 4 px past the mosaic on every side
    v = verify_region(observed, GridArea(grown, grid), CFG)
    assert v.passed
    assert not (v.area.mask & ~mask).any()  # nothing outside the true mosaic is restored


def test_verify_region__flat_graphics__kept_unless_the_user_says_mosaic(rng):
    image = np.zeros((64, 64, 3), np.uint8)
    image[:32, :32], image[:32, 32:], image[32:, :32], image[32:, 32:] = (200, 30, 30), (30, 200, 30), (30, 30, 200), 255
    mask = np.zeros((64, 64), bool)
    mask[8:56, 8:56] = True
    area = GridArea(mask, Grid((8, 8)))
    assert not verify_region(image, area, CFG).passed  # 4 colours over 36 cells, 12 of 60 pairs step
    trusted = verify_region(image, area._replace(trusted=True), CFG)
    assert trusted.passed and trusted.restored == 36


def test_looks_like_graphics__a_gradient_steps_everywhere(rng):
    ramp = np.repeat(np.repeat(np.arange(40, 88, 2, dtype=np.uint8)[None, :, None], 64, 0), 3, 2)
    image = np.repeat(ramp, 8, axis=1)[:, :192]  # 2 levels a cell across: rows repeat, so few colours
    mask = np.zeros(image.shape[:2], bool)
    mask[8:56, 8:184] = True
    assert verify_region(image, GridArea(mask, Grid((8, 8))), CFG).passed


def test_colour_variety__distinct_bins_per_cell():
    colours = np.array([[9, 10, 10], [10, 10, 10], [40, 10, 10], [40, 10, 10]], float)
    assert colour_variety(colours, noise=0.0) == pytest.approx(3 / 4)  # bins of a level
    assert colour_variety(colours, noise=50.0) == pytest.approx(1 / 4)  # bins of 100 levels
    assert colour_variety(np.zeros((0, 3)), 1.0) == 0.0


def test_enforce_cell_means__bounds__no_pixel_past_them(mosaic):
    observed, mask, grid = mosaic
    grown = np.zeros_like(mask)
    grown[20:76, 28:100] = True
    wild = observed.astype(float)
    wild[grown] = np.random.default_rng(3).uniform(0, 255, (grown.sum(), 3))
    lo = np.full(observed.shape, 40.0, np.float32)
    hi = np.full(observed.shape, 200.0, np.float32)
    out = enforce_cell_means(wild, observed, [GridArea(grown, grid)], bounds=Bounds(lo, hi))
    assert out[grown].min() >= 40 - 1e-3 and out[grown].max() <= 200 + 1e-3
    np.testing.assert_array_equal(out[~grown], observed[~grown])


def test_guard_frame__counts_and_bounds(mosaic):
    observed, mask, grid = mosaic
    wrong = GridArea(mask, Grid((8, 8), (4, 4)))
    g = guard_frame(observed, [GridArea(mask, grid), wrong, GridArea(mask, None)], CFG)
    assert (g.regions, g.kept, len(g.areas)) == (3, 2, 1)
    inside = g.areas[0].mask
    whole = g.bounds((slice(None), slice(None)), observed.shape)
    assert (whole.lo[inside] <= observed[inside]).all() and (whole.hi[inside] >= observed[inside]).all()
    assert (whole.lo[~mask] == 0).all() and (whole.hi[~mask] == 255).all()
    # A window of the frame reads the same limits as the whole frame's, past the frame's edge too.
    window = g.bounds((slice(30, 10_000), slice(20, 60)), observed.shape)
    np.testing.assert_array_equal(window.lo, whole.lo[30:, 20:60])
    np.testing.assert_array_equal(window.hi, whole.hi[30:, 20:60])
