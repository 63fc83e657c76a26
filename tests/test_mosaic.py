import subprocess

import numpy as np
import pytest

from demosaic.metrics import grid_visibility
from demosaic.mosaic import (Grid, GridArea, MosaicRegion, cell_colour_guide, cell_mean_error, cell_means,
                             enforce_cell_means, pixelate, pixelate_areas)


def block_reduce(image, cell, fn):
    """NumPy reference: reduce each cell×cell block of an image whose sides are multiples of cell."""
    h, w, c = image.shape
    blocks = image.reshape(h // cell, cell, w // cell, cell, c).astype(np.float64)
    return fn(blocks, axis=(1, 3))


@pytest.mark.parametrize("mode,fn", [("mean", np.mean), ("min", np.min), ("max", np.max)])
def test_pixelate__frame_aligned_rect__matches_numpy_block_reduce(rng, mode, fn):
    image = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    region = MosaicRegion("rect", ((16, 8), (80, 56)), (8, 8), mode=mode)
    out, mask = pixelate(image, [region])
    ref = block_reduce(image, 8, fn)
    expected = np.repeat(np.repeat(np.rint(ref) if mode == "mean" else ref, 8, 0), 8, 1)
    assert mask.sum() == 64 * 48 and mask[8:56, 16:80].all()
    np.testing.assert_array_equal(out[mask], expected[mask])
    np.testing.assert_array_equal(out[~mask], image[~mask])


def test_pixelate__sample_mode__takes_the_cell_centre_pixel(rng):
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out, _ = pixelate(image, [MosaicRegion("rect", ((0, 0), (32, 32)), (8, 8), mode="sample")])
    np.testing.assert_array_equal(out[0:8, 8:16], np.broadcast_to(image[4, 12], (8, 8, 3)))


def test_pixelate__region_aligned_grid__cells_start_at_region_corner(rng):
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    out, mask = pixelate(image, [MosaicRegion("rect", ((5, 3), (45, 43)), (10, 10), align="region")])
    ref = block_reduce(image[3:43, 5:45], 10, np.mean)
    np.testing.assert_array_equal(out[3:43, 5:45], np.repeat(np.repeat(np.rint(ref), 10, 0), 10, 1))


def test_pixelate__cut_border_cell__holds_the_whole_cell_mean(rng):
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    region = MosaicRegion("ellipse", ((4, 4), (60, 60)), (16, 16))
    out, mask = pixelate(image, [region])
    # The top-left cell is cut by the ellipse: visible pixels keep their values,
    # masked ones show the mean of the whole 16×16 cell.
    cell_mask = mask[:16, :16]
    assert 0 < cell_mask.sum() < 256
    expected = np.rint(image[:16, :16].reshape(-1, 3).mean(0))
    np.testing.assert_array_equal(out[:16, :16][cell_mask], np.broadcast_to(expected, (cell_mask.sum(), 3)))
    np.testing.assert_array_equal(out[:16, :16][~cell_mask], image[:16, :16][~cell_mask])


def test_rasterise__shapes__agree_with_point_in_shape_references():
    from matplotlib.path import Path

    h, w = 80, 100
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    ellipse = MosaicRegion("ellipse", ((10, 20), (90, 60)), (8, 8)).rasterise(h, w)
    np.testing.assert_array_equal(ellipse, ((xx - 50) / 40) ** 2 + ((yy - 40) / 20) ** 2 <= 1)
    pts = ((10.0, 10.0), (90.0, 20.0), (60.0, 75.0), (15.0, 60.0))
    poly = MosaicRegion("polygon", pts, (8, 8)).rasterise(h, w)
    ref = Path(pts).contains_points(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(h, w)
    assert (poly != ref).mean() < 0.02  # only boundary pixels may differ


def test_pixelate__several_regions__each_on_its_own_grid(rng):
    image = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
    regions = [MosaicRegion("rect", ((0, 0), (32, 32)), (8, 8)),
               MosaicRegion("rect", ((64, 16), (112, 64)), (16, 16))]
    out, mask = pixelate(image, regions)
    np.testing.assert_array_equal(out[:32, :32], pixelate(image, regions[:1])[0][:32, :32])
    np.testing.assert_array_equal(out[16:64, 64:112], pixelate(image, regions[1:])[0][16:64, 64:112])
    assert mask.sum() == 32 * 32 + 48 * 48


def test_pixelate__matches_ffmpeg_pixelize_filter(rng, tmp_path):
    """ffmpeg's pixelize (avg mode, frame-aligned) is an independent implementation."""
    image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    raw = tmp_path / "in.rgb"
    raw.write_bytes(image.tobytes())
    cmd = ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "gbrp", "-s", "64x48", "-i", "-",
           "-vf", "pixelize=width=8:height=8:mode=avg", "-f", "rawvideo", "-pix_fmt", "gbrp", "-"]
    planar = np.ascontiguousarray(image[..., [1, 2, 0]].transpose(2, 0, 1))  # gbrp planes
    result = subprocess.run(cmd, input=planar.tobytes(), capture_output=True, check=True).stdout
    theirs = np.frombuffer(result, np.uint8).reshape(3, 48, 64).transpose(1, 2, 0)[..., [2, 0, 1]]
    ours, _ = pixelate(image, [MosaicRegion("rect", ((0, 0), (64, 48)), (8, 8))])
    assert np.abs(ours.astype(int) - theirs).max() <= 1  # rounding conventions may differ by one


def test_enforce_cell_means__restores_observed_cell_colours(rng):
    original = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    region = MosaicRegion("ellipse", ((6, 2), (58, 62)), (12, 12))
    observed, mask = pixelate(original, [region])
    restored = np.where(mask[..., None], rng.uniform(0, 255, original.shape), original)
    fixed = enforce_cell_means(restored, observed, [region.area(64, 64)])
    np.testing.assert_array_equal(fixed[~mask], original[~mask])
    # NumPy reference, cell by cell: the whole cell's mean (cut cells included) must equal
    # the colour the mosaic shows for it, unless the masked pixels cannot reach it in [0, 255].
    checked = 0
    for y0 in range(0, 64, 12):
        for x0 in range(0, 64, 12):
            cell = (slice(y0, y0 + 12), slice(x0, x0 + 12))
            inside = mask[cell]
            if not inside.any():
                continue
            shown = observed[cell][inside][0].astype(float)
            n = inside.size
            known = original[cell][~inside].astype(float).sum(0)
            reachable = (known <= shown * n) & (shown * n <= known + 255 * inside.sum())
            mean = fixed[cell].reshape(-1, 3).mean(0)
            np.testing.assert_allclose(mean[reachable], shown[reachable], atol=1e-3)
            for ch in np.flatnonzero(~reachable):
                assert np.all(np.isin(fixed[cell][inside][:, ch], (0.0, 255.0)))
            checked += int(reachable.sum())
    assert checked > 60


def test_enforce_cell_means__clipping__redistributes_the_remainder():
    observed = np.full((8, 8, 3), 250, np.uint8)
    mask = np.ones((8, 8), bool)
    restored = np.full((8, 8, 3), 200.0)
    restored[:4] = 255.0  # already at the ceiling: the deficit must go to the other half
    area = GridArea(mask, Grid((8, 8)))
    fixed = enforce_cell_means(restored, observed, [area])
    assert fixed.max() <= 255 and abs(fixed.mean() - 250) < 1e-4
    np.testing.assert_allclose(fixed[:4], 255.0)


def test_enforce_cell_means__impossible_target__clips_at_255():
    original = np.zeros((8, 8, 3), np.uint8)
    observed = original.copy()
    mask = np.zeros((8, 8), bool)
    mask[:, :2] = True  # only 16 of 64 pixels may move: a mean of 250 is out of reach
    observed[mask] = 250
    fixed = enforce_cell_means(original.astype(float), observed, [GridArea(mask, Grid((8, 8)))])
    np.testing.assert_allclose(fixed[mask], 255.0)
    np.testing.assert_array_equal(fixed[~mask], 0)


def test_guide__linear_ramp__is_reproduced_inside_the_area():
    ramp = np.tile(np.linspace(0, 240, 96)[None, :, None], (64, 1, 3)).astype(np.uint8)
    region = MosaicRegion("rect", ((16, 16), (80, 48)), (8, 8))
    observed, mask = pixelate(ramp, [region])
    guide = cell_colour_guide(observed, [region.area(64, 96)])
    assert np.abs(guide[mask] - ramp[mask]).max() <= 2.0
    np.testing.assert_array_equal(guide[~mask], ramp[~mask])
    assert np.abs(observed[mask].astype(float) - ramp[mask]).max() > 8  # the mosaic itself is far off


def test_guide__sub_pixel_pitch__interpolates_cell_centres():
    area = GridArea(np.ones((30, 30), bool), Grid((7.5, 7.5), (0.0, 0.0)))
    yy, xx = np.mgrid[0:30, 0:30]
    cells = np.floor(xx / 7.5) * 7.5 + 3.75  # a mosaic of x: each cell shows its centre's x
    observed = np.repeat(cells[..., None], 3, 2).astype(np.uint8)
    guide = cell_colour_guide(observed, [area])
    interior = (xx > 8) & (xx < 22)
    assert np.abs(guide[..., 0][interior] - (xx[interior] + 0.5)).max() <= 1.5


def test_pixelate_areas__irregular_mask__pixelates_only_the_mask(rng):
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[5:20, 3:9] = True
    out, got = pixelate_areas(image, [GridArea(mask, Grid((4, 4)))])
    np.testing.assert_array_equal(got, mask)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    ref = np.rint(image[4:8, 4:8].reshape(-1, 3).mean(0))
    np.testing.assert_array_equal(out[5, 4], ref)


@pytest.mark.parametrize("pitch", [8, 16, 24])
def test_enforce_cell_means__corrected_exactly_without_drawing_the_grid(pitch):
    from conftest import smooth_image

    # Kept off 0 and 255, so that no clipping is needed (the clipping tests are above).
    original = (30 + 0.75 * smooth_image(np.random.default_rng(3), 96, 96)).astype(np.uint8)
    area = GridArea(np.ones((96, 96), bool), Grid((pitch, pitch)))
    observed, _ = pixelate(original, [MosaicRegion("rect", ((0, 0), (96, 96)), (pitch, pitch))])
    guess = cell_colour_guide(observed, [area])  # smooth, but off the cell means
    fixed = enforce_cell_means(guess, observed, [area])
    np.testing.assert_allclose(cell_means(fixed, area)[0], cell_means(observed, area)[0], atol=1e-3)
    # NumPy reference: the same means by a constant offset per cell.
    offset = (observed.astype(float) - guess).reshape(96 // pitch, pitch, 96 // pitch, pitch, 3).mean(axis=(1, 3))
    constant = guess + np.repeat(np.repeat(offset, pitch, 0), pitch, 1)
    np.testing.assert_allclose(cell_means(constant, area)[0], cell_means(observed, area)[0], atol=1e-3)
    given, ours, theirs = (grid_visibility(x, original, area.mask, (pitch, pitch), (0, 0))
                           for x in (guess, fixed, constant))
    # The step adds little grid to the picture it is given; a constant per cell draws it.
    assert ours < given + 0.15 and theirs > 2 * ours, (given, ours, theirs)
    assert np.abs(fixed - original).mean() <= 1.02 * np.abs(constant - original).mean()


def test_enforce_cell_means__a_cut_cell_off_by_coding__does_not_move_its_neighbours(rng):
    """A cut cell with 2 of its 16 columns masked: coding moved its colour by 12 levels. Scaled
    by 16/2 and spread over its neighbours, that offset would move the whole cells' pixels by up
    to 100 levels; it must stay in the cut cell."""
    from conftest import smooth_image

    original = (30 + 0.75 * smooth_image(rng, 48, 64)).astype(np.uint8)
    mask = np.zeros((48, 64), bool)
    mask[:, :34] = True  # two whole columns of 16 px cells and 2 px of the third
    area = GridArea(mask, Grid((16, 16)))
    observed, _ = pixelate_areas(original, [area])
    coded = observed.copy()
    coded[16:32, 32:34] += 12
    guide = cell_colour_guide(observed, [area])
    a, b = (enforce_cell_means(guide, o, [area]) for o in (observed, coded))
    np.testing.assert_allclose(a[:, :32], b[:, :32], atol=1e-3)
    assert np.abs(a[16:32, 32:34] - b[16:32, 32:34]).max() > 1  # the cut cell itself follows its colour


def test_cell_mean_error__numpy_reference(rng):
    original = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    area = GridArea(np.ones((32, 32), bool), Grid((8, 8)))
    observed, _ = pixelate(original, [MosaicRegion("rect", ((0, 0), (32, 32)), (8, 8))])
    restored = observed.astype(float)
    restored[8:16, 16:24, 1] += 3.0  # one cell's green mean off by 3 levels
    assert cell_mean_error(restored, observed, [area]) == pytest.approx(3.0)
    assert cell_mean_error(enforce_cell_means(restored, observed, [area]), observed, [area]) < 1e-4  # float32
