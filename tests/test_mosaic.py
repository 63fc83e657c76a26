import subprocess

import numpy as np
import pytest

from demosaic.mosaic import Grid, GridArea, MosaicRegion, cell_colour_guide, pixelate, pixelate_areas, without


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


def test_without__excluded_pixels_leave_every_area_and_empty_areas_go():
    a = np.zeros((8, 8), bool)
    a[0:4, 0:4] = True
    b = np.zeros((8, 8), bool)
    b[5:8, 5:8] = True
    excluded = np.zeros((8, 8), bool)
    excluded[0:2, :] = True
    excluded[5:8, 5:8] = True
    out = without([GridArea(a, Grid((2, 2))), GridArea(b, Grid((2, 2)))], excluded)
    assert len(out) == 1 and out[0].grid == Grid((2, 2))
    np.testing.assert_array_equal(out[0].mask, a & ~excluded)
    assert without([GridArea(a, Grid((2, 2)))], None)[0].mask is a


@pytest.mark.parametrize("pitch, origin, pad", [((16.0, 16.0), (3.0, 5.0), 1), ((8.0, 10.0), (0.0, 0.0), 0),
                                                ((7.5, 6.25), (1.3, 2.2), 1), ((0.8, 0.6), (0.1, 0.2), 0)])
@pytest.mark.parametrize("channels", [1, 3])
def test_window_sums__equal_a_loop_over_each_cells_pixels(pitch, origin, pad, channels):
    # Independent answer: each cell's pixels found from the lattice's definition (floor of
    # (x - ox) / pw), summed one cell at a time. A sub-pitch lattice has cells with no pixel.
    from demosaic.mosaic import cell_window, window_counts, window_sums

    rng = np.random.default_rng(7)
    mask = np.zeros((90, 120), bool)
    mask[10:70, 15:95] = True
    grid = Grid(pitch, origin)
    win = cell_window(mask, grid, pad)
    values = rng.integers(0, 256, mask.shape + (channels,)).astype(np.uint8)
    weights = rng.random(mask.shape) > 0.4
    ys, xs = np.arange(90), np.arange(120)
    cy = np.floor((ys - origin[1]) / pitch[1] + 1e-6).astype(int)
    cx = np.floor((xs - origin[0]) / pitch[0] + 1e-6).astype(int)
    sums = window_sums(values[win.rows, win.cols], win, weights[win.rows, win.cols])
    plain = window_sums(values[win.rows, win.cols], win)
    counts = window_counts(win, weights[win.rows, win.cols])
    for row in range(win.shape[0]):
        for col in range(win.shape[1]):
            cell = np.zeros(mask.shape, bool)
            cell[win.rows, win.cols] = True
            cell &= (cy == win.first[0] + row)[:, None] & (cx == win.first[1] + col)[None, :]
            k = row * win.shape[1] + col
            np.testing.assert_array_equal(plain[k], values[cell].sum(axis=0))
            np.testing.assert_array_equal(sums[k], values[cell & weights].sum(axis=0))
            assert counts[k] == (cell & weights).sum() and window_counts(win)[k] == cell.sum()
