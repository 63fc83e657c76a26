"""The consistency step (`demosaic.consistency`) against NumPy references and grid visibility."""
import cv2
import numpy as np
import pytest

from demosaic.consistency import cell_mean_error, cell_means, enforce_cell_means
from demosaic.metrics import grid_visibility
from demosaic.mosaic import Grid, GridArea, MosaicRegion, cell_colour_guide, pixelate, pixelate_areas


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


@pytest.mark.parametrize("pitch,origin", [((8.0, 8.0), (0.0, 0.0)), ((7.5, 6.25), (3.3, 1.7))])
def test_smooth_step_alone__whole_cells_reach_their_colour(pitch, origin):
    """The smooth step works on the cells (each cell's response to its neighbours, computed
    once) and draws its field once: with no exact step after it (max_iter=0), the inner cells'
    means must still reach their colours, which they only do if the two agree. The area runs
    off the frame's left edge; the pitch is sub-pixel. (Cells on the edges converge slower;
    the exact step settles them.)"""
    from conftest import smooth_image

    original = (30 + 0.75 * smooth_image(np.random.default_rng(5), 90, 120)).astype(np.uint8)
    mask = np.zeros((90, 120), bool)
    mask[10:80, :100] = True
    area = GridArea(mask, Grid(pitch, origin))
    observed, _ = pixelate_areas(original, [area])
    guess = cell_colour_guide(observed, [area])
    smooth = enforce_cell_means(guess, observed, [area], max_iter=0)
    iy, ix = area.grid.cell_index(90, 120)
    ok = 0
    for cy in np.unique(iy):
        for cx in np.unique(ix):
            cell = (iy[:, None] == cy) & (ix[None, :] == cx)
            ring = cv2.dilate(cell.astype(np.uint8), np.ones((2 * 8 + 1, 2 * 8 + 1), np.uint8)).astype(bool)
            if cell.any() and (mask | ~ring).all() and not (ring[:, 0].any() or ring[:, -1].any()):
                np.testing.assert_allclose(smooth[cell].mean(0), observed[cell][0], atol=0.1)
                ok += 1
    assert ok > 20


def test_coding_noise__numpy_reference__zero_for_a_mosaic_as_drawn(rng):
    from conftest import smooth_image
    from demosaic.consistency import coding_noise
    from demosaic.mosaic import observed_cells

    original = smooth_image(rng, 64, 80)
    mask = np.zeros((64, 80), bool)
    mask[8:56, 4:70] = True  # cells cut on the right
    area = GridArea(mask, Grid((8, 8)))
    drawn, _ = pixelate_areas(original, [area])
    assert coding_noise(drawn, observed_cells(drawn, area, 1)) == 0.0
    noisy = np.clip(drawn + rng.normal(0, 3, drawn.shape), 0, 255).astype(np.uint8)
    # Reference: each whole masked cell's pixels' standard deviation (largest channel), median.
    spreads = [noisy[y:y + 8, x:x + 8].reshape(-1, 3).std(axis=0).max()
               for y in range(8, 56, 8) for x in range(0, 64, 8) if mask[y:y + 8, x:x + 8].all()]
    assert len(spreads) == 6 * 7
    assert coding_noise(noisy, observed_cells(noisy, area, 1)) == pytest.approx(np.median(spreads), abs=1e-9)


def test_evidence__cut_cells_narrowed_from_the_ring__equal_their_own_window(rng):
    from conftest import smooth_image
    from demosaic.mosaic import narrowed, observed_cells

    image = smooth_image(rng, 50, 70)
    for mask_box, grid in (((slice(5, 40), slice(3, 60)), Grid((8, 8), (2, 3))),
                           ((slice(0, 50), slice(50, 70)), Grid((7.5, 6.0), (1.0, 0.5)))):  # at the frame's edge
        mask = np.zeros((50, 70), bool)
        mask[mask_box] = True
        area = GridArea(mask, grid)
        direct, cut = observed_cells(image, area, 0), narrowed(observed_cells(image, area, 1), area, 0)
        assert direct.win.shape == cut.win.shape and direct.n == cut.n
        for a, b in zip(direct[2:], cut[2:]):
            np.testing.assert_array_equal(a, b)


def test_enforce_cell_means__cut_cells_coded__slack_keeps_the_sliver_near_the_truth(rng):
    """A 16 px mosaic whose right-hand column of cells the area cuts to 3 px; coding noise of
    σ 2 on every pixel and a 3-level error on each cut cell's colour. An exact mean has to move
    the 3 px sliver by 3 × 16 / 3 = 16 levels; with slack (4 × the region's noise) it stays near
    what it was given (the truth here), and the whole cells stay exact."""
    from conftest import smooth_image
    from demosaic.consistency import evidence

    truth = smooth_image(rng, 64, 64).astype(np.float64)
    mask = np.zeros((64, 64), bool)
    mask[:, :51] = True  # three whole columns of cells and 3 px of the fourth
    area = GridArea(mask, Grid((16, 16)))
    drawn, _ = pixelate_areas(truth.astype(np.uint8), [area])
    coded = drawn.astype(np.float64) + rng.normal(0, 2, drawn.shape)
    coded[:, 48:51] += 3.0
    coded = np.clip(np.rint(coded), 0, 255).astype(np.uint8)
    exact = enforce_cell_means(truth, coded, [area], evidences=[evidence(coded, area)])
    slack = enforce_cell_means(truth, coded, [area], evidences=[evidence(coded, area, cut_slack=4.0)])
    sliver = (slice(None), slice(48, 51))
    err_exact = np.abs(exact[sliver] - truth[sliver]).mean()
    err_slack = np.abs(slack[sliver] - truth[sliver]).mean()
    assert err_exact > 8 and err_slack < err_exact / 3
    from demosaic.consistency import cell_errors
    # The last check holds each result to the same targets: the slack's result passes with it,
    # and is far off without it.
    with_slack = evidence(coded, area, cut_slack=4.0)
    assert cell_errors(slack, coded, area, ev=with_slack).max() < 0.05
    assert cell_errors(slack, coded, area).max() > 5
    whole = GridArea(np.pad(np.ones((64, 48), bool), ((0, 0), (0, 16))), Grid((16, 16)))
    for result in (exact, slack):  # the whole cells show their observed colours, slack or not
        np.testing.assert_allclose(cell_means(result, whole)[0], cell_means(coded, whole)[0], atol=0.05)
