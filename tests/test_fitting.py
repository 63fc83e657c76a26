"""A detected region fitted to the mosaic under it (demosaic.fitting), against mosaics whose
truth the test made: ffmpeg's own crop + pixelize + overlay, and the synthesiser."""
import cv2
import numpy as np
import pytest

from conftest import ffmpeg, smooth_image
from demosaic.config import SafetyConfig
from demosaic.fitting import edge_gap, fit, fit_region, phase_shift
from demosaic.metrics import psnr
from demosaic.mosaic import Grid, GridArea, MosaicRegion, pixelate, without
from demosaic.safety import guard_frame, verify_region

# A 154 × 118 px box at (37, 29) in 12 px cells: its last column and row of cells are cut to 10 px.
BOX, CELL = (37, 29, 154, 118), 12


def textured(rng, h, w):
    """A picture whose own cells are never flat (σ 12 noise over smooth fields)."""
    image = smooth_image(rng, h, w).astype(float) + rng.normal(0, 12, (h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def box_mask(shape, x, y, w, h):
    mask = np.zeros(shape[:2], bool)
    mask[y:y + h, x:x + w] = True
    return mask


@pytest.fixture(scope="module")
def ffmpeg_mosaics(tmp_path_factory):
    """The box pixelated by ffmpeg (in RGB, so odd cells stay whole), as a PNG and after
    H.264 at CRF 20."""
    folder = tmp_path_factory.mktemp("fitting")
    cv2.imwrite(str(folder / "photo.png"), textured(np.random.default_rng(5), 240, 320))
    x, y, w, h = BOX
    graph = (f"format=gbrp,split[a][b];[b]crop={w}:{h}:{x}:{y},pixelize=w={CELL}:h={CELL}[p];"
             f"[a][p]overlay={x}:{y}:format=gbrp")
    ffmpeg("-i", folder / "photo.png", "-vf", graph + ",format=rgb24", folder / "mosaic.png")
    ffmpeg("-i", folder / "mosaic.png", "-vf", "format=yuv420p", "-c:v", "libx264", "-crf", "20", folder / "coded.mp4")
    ffmpeg("-i", folder / "coded.mp4", folder / "coded.png")
    return {name: cv2.cvtColor(cv2.imread(str(folder / f"{name}.png")), cv2.COLOR_BGR2RGB)
            for name in ("photo", "mosaic", "coded")}


def detected_like(frame):
    """The box as a detector might give it: reaching 3 px past its left and 5 px past its
    right side, 4 px short of its bottom, 2 px past its top, the grid 1 px off across and
    down."""
    x, y, w, h = BOX
    mask = box_mask(frame.shape, x - 3, y - 2, w + 8, h - 2)
    return GridArea(mask, Grid((CELL, CELL), (x + 1, y - 1)))


def ragged(mask: np.ndarray, rng: np.random.Generator, px: int) -> np.ndarray:
    """`mask` with each row's left and right end, and each column's top and bottom end, moved
    by up to `px` either way: a segmenter's outline wandering along a box's sides."""
    out = mask.copy()
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    for r in ys:
        out[r] = False
        out[r, xs[0] + rng.integers(-px, px + 1):xs[-1] + rng.integers(-px, px + 1) + 1] = True
    for c in xs:
        out[:ys[0] + px + 1, c] = False
        out[ys[0] + rng.integers(-px, px + 1):ys[0] + px + 1, c] = True
        out[ys[-1] - px:, c] = False
        out[ys[-1] - px:ys[-1] + rng.integers(-px, px + 1) + 1, c] = True
    return out


def on_same_lattice(a: Grid, b: Grid) -> bool:
    return all(abs(((p - q + c / 2) % c) - c / 2) < 1e-6 for p, q, c in zip(a.origin, b.origin, a.pitch))


@pytest.mark.parametrize("name", ["mosaic", "coded"])
def test_fit_region__ffmpeg_box_with_cut_cells__fitted_to_the_box(ffmpeg_mosaics, name):
    frame = ffmpeg_mosaics[name]
    x, y, w, h = BOX
    fitted = fit(frame, detected_like(frame))
    assert on_same_lattice(fitted.area.grid, Grid((CELL, CELL), (x, y)))
    truth = box_mask(frame.shape, *BOX)
    assert (fitted.area.mask ^ truth).sum() == 0
    assert fitted.ends is not None and not (fitted.ends & ~truth).any()


def test_fit_region__fitted_box__the_guards_restore_every_cell_of_it(ffmpeg_mosaics):
    frame = ffmpeg_mosaics["coded"]
    truth = box_mask(frame.shape, *BOX)
    guarded = guard_frame(frame, [detected_like(frame)], SafetyConfig())
    restored = np.zeros_like(truth)
    for area in guarded.areas:
        restored |= area.mask
    assert not (restored & ~truth).any()  # nothing of the picture around it
    x, y, w, h = BOX
    whole = box_mask(frame.shape, x, y, w - w % CELL, h - h % CELL)
    assert restored[whole].all()  # every whole cell
    # and the cut ones (the mean of their part only, ffmpeg's): the fit found the mosaic's end there
    assert restored[truth & ~whole].mean() > 0.9
    # Unfitted, cells a px off the mosaic's are restored: the picture beside it is restored too,
    # or mosaic cells are left as they came.
    unfitted = guard_frame(frame, [detected_like(frame)], SafetyConfig(fit=None))
    touched = np.zeros_like(truth)
    for area in unfitted.areas:
        touched |= area.mask
    assert (touched & ~truth).sum() + (whole & ~touched).sum() > 0.05 * whole.sum()


def test_verify_region__cut_cells_on_the_ends_the_fit_found__restored_not_doubted(ffmpeg_mosaics):
    # Cut cells beside a rough picture step from it by less than its own roughness: measured
    # cell by cell they look like the picture running on. The fit found the mosaic's end over
    # the whole side, so they are restored; without that, most stay as they came.
    frame = ffmpeg_mosaics["coded"]
    x, y, w, h = BOX
    cut = box_mask(frame.shape, *BOX) & ~box_mask(frame.shape, x, y, w - w % CELL, h - h % CELL)
    fitted = fit(frame, detected_like(frame))
    assert fitted.ends is not None
    found = verify_region(frame, fitted.area, SafetyConfig(), fitted.ends).area.mask
    doubted = verify_region(frame, fitted.area, SafetyConfig()).area.mask
    assert found[cut].mean() > 0.9 > 0.5 > doubted[cut].mean()


def test_restore__cut_cells_of_a_fitted_box__above_the_mosaic(ffmpeg_mosaics):
    from demosaic.restore import Restorer

    photo, frame = ffmpeg_mosaics["photo"], ffmpeg_mosaics["coded"]
    x, y, w, h = BOX
    cut = box_mask(frame.shape, *BOX) & ~box_mask(frame.shape, x, y, w - w % CELL, h - h % CELL)
    out = Restorer().restore(frame, [detected_like(frame)])
    assert psnr(out, photo, cut) > psnr(frame, photo, cut) + 0.3
    assert (out[~box_mask(frame.shape, *BOX)] == frame[~box_mask(frame.shape, *BOX)]).all()


@pytest.mark.parametrize("name", ["mosaic", "coded"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_region__ragged_outline_over_a_box__fitted_to_the_box(ffmpeg_mosaics, name, seed):
    # A segmenter's outline wandering 4 px either way along the box's sides: the mosaic under
    # it ends at one px on each side, and every side is moved there; a run of lines grows only
    # on its own cells' evidence (where neighbouring cells hardly differ, a few px stay out).
    frame = ffmpeg_mosaics[name]
    detected = detected_like(frame)
    wandering = detected._replace(mask=ragged(detected.mask, np.random.default_rng(seed), 4))
    truth = box_mask(frame.shape, *BOX)
    assert (wandering.mask & ~truth).sum() > 1000 and (truth & ~wandering.mask).sum() > 500
    fitted = fit(frame, wandering)
    assert not (fitted.area.mask & ~truth).any()
    assert (truth & ~fitted.area.mask).sum() < 0.02 * truth.sum()
    assert fitted.ends is not None and not (fitted.ends & ~truth).any()
    assert fitted.ends.sum() > 400  # most of the box's outline


def test_fit_region__ragged_side_excluded__never_grown(ffmpeg_mosaics):
    frame = ffmpeg_mosaics["mosaic"]
    detected = detected_like(frame)
    wandering = detected._replace(mask=ragged(detected.mask, np.random.default_rng(0), 4), grows=False)
    assert not (fit_region(frame, wandering).mask & ~wandering.mask).any()


def test_fit_region__flat_ellipse__its_outline_kept(rng):
    # A flat ellipse's top and bottom run within a cell of a lattice line over most of its
    # width: its lines' ends are near one another, but past the line its cut cells go on.
    region = MosaicRegion("ellipse", ((20, 60), (280, 130)), (10, 10))
    picture = np.clip(smooth_image(rng, 200, 300).astype(float) + rng.normal(0, 3, (200, 300, 3)), 0, 255)
    observed, mask = pixelate(picture.astype(np.uint8), [region])
    fitted = fit(observed, GridArea(mask, region.grid()))
    assert (fitted.area.mask == mask).all()
    assert fitted.ends is None or not (fitted.ends & ~mask).any()


@pytest.mark.parametrize("noise", [3, 12])
def test_fit_region__two_boxes_side_by_side__no_picture_taken(rng, noise):
    # Their tops 7 px apart: one side of the union, ragged, that no single end explains.
    picture = np.clip(smooth_image(rng, 200, 300).astype(float) + rng.normal(0, noise, (200, 300, 3)), 0, 255)
    regions = [MosaicRegion("rect", ((40, 40), (140, 150)), (10, 10)),
               MosaicRegion("rect", ((140, 47), (260, 150)), (10, 10))]
    observed, mask = pixelate(picture.astype(np.uint8), regions)
    fitted = fit(observed, GridArea(mask, Grid((10.0, 10.0), (0.0, 0.0))))
    assert not (fitted.area.mask & ~mask).any()
    assert fitted.ends is None or not (fitted.ends & ~mask).any()


def test_fit_region__the_true_area__the_same_area(ffmpeg_mosaics):
    frame = ffmpeg_mosaics["mosaic"]
    x, y, w, h = BOX
    area = GridArea(box_mask(frame.shape, *BOX), Grid((CELL, CELL), (x, y)))
    assert fit_region(frame, area) is area


def test_fit_region__ellipse__its_outline_kept_its_grid_fitted(rng):
    region = MosaicRegion("ellipse", ((40, 32), (200, 160)), (10, 10))
    observed, mask = pixelate(textured(rng, 192, 240), [region])
    grid = region.grid()
    off = GridArea(mask, Grid(grid.pitch, (grid.origin[0] + 2, grid.origin[1] - 1)))
    fitted = fit_region(observed, off)
    assert (fitted.mask == mask).all()  # no straight side to fit
    assert on_same_lattice(fitted.grid, grid)


def test_fit_region__no_mosaic_under_the_mask__never_grown(rng):
    # Smooth picture under the mask and 3 px past it, rough beyond: the walk finds an end, but
    # nothing there steps on a lattice's lines, so the mask may shrink and never grows.
    picture = textured(rng, 160, 200)
    picture[26:130, 36:164] = cv2.GaussianBlur(smooth_image(rng, 160, 200), (0, 0), 6)[26:130, 36:164]
    area = GridArea(box_mask(picture.shape, 40, 30, 120, 96), Grid((8, 8), (40, 30)))
    assert not (fit_region(picture, area).mask & ~area.mask).any()


def test_fit_region__user_mask__taken_as_drawn(ffmpeg_mosaics):
    frame = ffmpeg_mosaics["mosaic"]
    drawn = detected_like(frame)._replace(trusted=True)
    guarded = guard_frame(frame, [drawn], SafetyConfig())
    assert all(not (a.mask & ~drawn.mask).any() for a in guarded.areas)
    assert all(a.grid == drawn.grid for a in guarded.areas)


def test_phase_shift__steps_on_every_fifth_gap__lattice_moved_onto_them():
    profile = np.full(49, 0.5)
    profile[3::5] = 9.0  # lines between pixels 3 and 4, 8 and 9, ...: cells start at 4 (mod 5)
    count = np.ones(49, int)
    assert phase_shift(profile, count, 5.0, 3.0, 2) == 1
    assert phase_shift(profile, count, 5.0, 4.0, 2) == 0


def test_edge_gap__flat_run_then_picture__the_line_before_the_picture():
    # gaps 0..19 outward; lattice lines in gaps 4, 9, 14; the mosaic ends on the line in gap 9
    steps = np.array([0.5, 0.4, 0.6, 2.0, 12, 2.5, 0.5, 0.3, 0.4, 9.0, 6, 5, 7, 6, 8, 5, 6, 7, 5, 6])
    border = np.zeros(20, bool)
    border[[4, 9, 14]] = True
    assert edge_gap(steps, border, np.arange(20), 2.5, 2.0) == 9
    # All flat (a mosaic running on past the walk): no end found
    assert edge_gap(np.where(border, 9.0, 0.5), border, np.arange(20), 2.5, 2.0) is None


def crop_pixelize(image, x, y, w, h, cell):
    """ffmpeg's crop + pixelize, cell by cell: cells from the box's corner, a cut cell the mean
    of its part inside the box (as the ffmpeg fixture above shows)."""
    out = image.copy()
    for yy in range(y, y + h, cell):
        for xx in range(x, x + w, cell):
            block = image[yy:min(yy + cell, y + h), xx:min(xx + cell, x + w)]
            out[yy:yy + block.shape[0], xx:xx + block.shape[1]] = np.round(block.reshape(-1, 3).mean(axis=0))
    return out


def restored_pixels(frame, areas, cfg=SafetyConfig()):
    """Every pixel the guards hand on to be restored."""
    out = np.zeros(frame.shape[:2], bool)
    for area in guard_frame(frame, areas, cfg).areas:
        out |= area.mask
    return out


@pytest.mark.parametrize("past", [0, 3])
def test_fit_region__flat_wall_beside_the_mosaic__never_restored(rng, past):
    # A 6 px flat strip (a wall) right of the mosaic, then texture: it ends like a cut cell
    # along the walk, but does not step on the lattice's lines down the side.
    x, y, w, h = 36, 24, 144, 96
    picture = textured(rng, 180, 260)
    picture[:, x + w:x + w + 6] = (90, 120, 150)
    frame = crop_pixelize(picture, x, y, w, h, CELL)
    truth = box_mask(frame.shape, x, y, w, h)
    area = GridArea(box_mask(frame.shape, x, y, w + past, h), Grid((CELL, CELL), (x, y)))
    assert not (restored_pixels(frame, [area]) & ~truth).any()


def test_fit_region__a_notch_in_the_mosaic__not_filled(rng):
    x, y, w, h = 36, 24, 144, 96
    picture = cv2.GaussianBlur(smooth_image(rng, 180, 260), (0, 0), 4)  # smooth: flat as a cell
    frame = crop_pixelize(picture, x, y, w, h, CELL)
    truth = box_mask(frame.shape, x, y, w, h)
    truth[y + 36:y + 48, x + w - CELL:x + w] = False  # one edge cell is not pixelated
    frame[truth != box_mask(frame.shape, x, y, w, h)] = picture[truth != box_mask(frame.shape, x, y, w, h)]
    fitted = fit_region(frame, GridArea(truth, Grid((CELL, CELL), (x, y))))
    assert not (fitted.mask & ~truth).any()


def test_fit_region__excluded_pixels__never_grown_back(rng):
    x, y, w, h = 36, 24, 144, 96  # whole cells
    frame = crop_pixelize(textured(rng, 180, 260), x, y, w, h, CELL)
    area = GridArea(box_mask(frame.shape, x, y, w - 5, h), Grid((CELL, CELL), (x, y)))  # 5 px short of its side
    excluded = box_mask(frame.shape, x + w - 5, y, 5, h)  # those 5 px of mosaic: the user's call
    assert restored_pixels(frame, [area])[excluded].all()  # the side grows onto the mosaic ...
    assert not (restored_pixels(frame, without([area], excluded)) & excluded).any()  # ... not into what is excluded


@pytest.mark.parametrize("cut", [1, 2, CELL - 1])
def test_fit_region__exact_mask_with_cut_cells__not_moved_into_the_picture(rng, cut):
    x, y, w, h = 36, 24, 8 * CELL + cut, 96
    frame = crop_pixelize(textured(rng, 180, 260), x, y, w, h, CELL)
    truth = box_mask(frame.shape, x, y, w, h)
    fitted = fit_region(frame, GridArea(truth, Grid((CELL, CELL), (x, y))))
    assert not (fitted.mask & ~truth).any()


def test_fit_region__fractional_pitch__left_as_detected(rng):
    region = MosaicRegion("rect", ((40, 30), (166, 135)), (10.5, 10.5))
    observed, mask = pixelate(textured(rng, 180, 220), [region])
    area = GridArea(mask, Grid((10.5, 10.5), (1.0, 0.5)))
    assert fit_region(observed, area) is area


def test_fit_region__mirrored_frame__mirrored_fit_and_the_input_untouched(ffmpeg_mosaics):
    frame = ffmpeg_mosaics["coded"]
    area = detected_like(frame)
    before = area.mask.copy()
    fitted = fit_region(frame, area)
    assert (area.mask == before).all()
    width = frame.shape[1]
    (pw, ph), (ox, oy) = area.grid.pitch, area.grid.origin
    flipped = GridArea(area.mask[:, ::-1].copy(), Grid((pw, ph), (width - ox, oy)))
    mirrored = fit_region(np.ascontiguousarray(frame[:, ::-1]), flipped)
    assert (mirrored.mask[:, ::-1] == fitted.mask).all()


def test_fitted_areas__as_the_guards_take_them(ffmpeg_mosaics):
    """What `demosaic image` restores an alpha on and reports: the detected area fitted, the
    user's as drawn, every area as given without fitting."""
    from demosaic.safety import fitted_areas

    frame = ffmpeg_mosaics["coded"]
    detected = detected_like(frame)
    drawn = detected._replace(trusted=True)
    fitted, kept = fitted_areas(frame, [detected, drawn], SafetyConfig())
    assert on_same_lattice(fitted.grid, Grid((CELL, CELL), BOX[:2])) and (fitted.mask == box_mask(frame.shape, *BOX)).all()
    assert kept is drawn
    assert fitted_areas(frame, [detected], SafetyConfig(fit=None))[0] is detected
    assert fitted_areas(frame, [detected], None)[0] is detected


def test_fit__random_boxes_detected_a_few_px_off__ends_only_on_the_mosaic():
    # Boxes of 8, 10 and 16 px cells at random places over pictures smooth or rough, half of
    # them through JPEG, each found with every side up to 4 px off and the grid a px off: where
    # the fit says the mosaic ends, it is the mosaic's own outline (a side fitted a px into the
    # picture, as coding's rings beside a rough picture can have it, is not taken as its end).
    for seed in range(24):
        rng = np.random.default_rng(100 + seed)
        cell, noise = int(rng.choice([8, 10, 16])), float(rng.choice([3, 12]))
        picture = np.clip(smooth_image(rng, 200, 260).astype(float) + rng.normal(0, noise, (200, 260, 3)), 0, 255)
        x0, y0 = int(rng.integers(20, 60)), int(rng.integers(20, 50))
        w, h = int(rng.integers(100, 170)), int(rng.integers(80, 120))
        region = MosaicRegion("rect", ((x0, y0), (x0 + w, y0 + h)), (cell, cell))
        observed, truth = pixelate(picture.astype(np.uint8), [region])
        if seed % 2:
            _, buf = cv2.imencode(".jpg", observed[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
            observed = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
        d = rng.integers(-4, 5, 4)
        mask = box_mask(truth.shape, x0 + d[2], y0 + d[0], w + d[3] - d[2], h + d[1] - d[0])
        origin = region.grid().origin
        fitted = fit(observed, GridArea(mask, Grid((cell, cell), (origin[0] + rng.integers(-1, 2),
                                                                  origin[1] + rng.integers(-1, 2)))))
        assert fitted.ends is None or not (fitted.ends & ~truth).any(), seed
