from dataclasses import replace

import cv2
import numpy as np
import pytest
from conftest import smooth_image

from demosaic.detect import DEFAULT_SEGMENTER, Detector, DetectorConfig, Region, grid_line_error, iou
from demosaic.detect.cells import median_rows
from demosaic.detect.config import ExactConfig, NetConfig
from demosaic.detect.cellstats import steps_on_borders
from demosaic.detect.combs import multiple_of, outline_profile
from demosaic.detect.evidence import abs_diffs
from demosaic.detect.exact import exact_seeds
from demosaic.detect.gridfit import coarser_grid, finer_grid, union_parts
from demosaic.detect.lattice import rephased
from demosaic.detect.learned import drop_unsure, flat_ties, steps_needed
from demosaic.mosaic import Grid, MosaicRegion, pixelate
from demosaic.video import h264_roundtrip


@pytest.fixture(scope="module", params=["learned", "classical"])
def detector(request):
    """Every known answer holds for the default detector (the segmenter with the classical
    paths near its proposals) and for the classical detector alone (`--detector classical`)."""
    if request.param == "learned" and not DEFAULT_SEGMENTER.exists():
        pytest.skip("no shipped segmenter")
    return Detector(DetectorConfig(learned="default" if request.param == "learned" else ""))


@pytest.fixture(scope="module")
def photo():
    return smooth_image(np.random.default_rng(5), 240, 320)


CASES = [
    MosaicRegion("rect", ((48, 32), (208, 176)), (16, 16)),
    MosaicRegion("rect", ((50, 41), (250, 201)), (10, 10), align="region"),
    MosaicRegion("ellipse", ((60, 30), (280, 210)), (12, 12)),
    MosaicRegion("polygon", ((40, 40), (260, 60), (220, 220), (70, 190)), (8, 8)),
    MosaicRegion("rect", ((40, 40), (280, 220)), (24, 16)),
    MosaicRegion("rect", ((64, 48), (256, 208)), (16, 16), mode="max"),
]


@pytest.mark.parametrize("region", CASES, ids=lambda r: f"{r.shape}-{r.cell[0]}x{r.cell[1]}-{r.align}-{r.mode}")
def test_detect__synthetic_mosaic__right_mask_and_grid(detector, photo, region):
    mosaic, truth = pixelate(photo, [region])
    found = detector.detect(mosaic)
    assert iou(found.mask, truth) >= 0.9
    assert len(found.regions) == 1
    r = found.regions[0]
    assert grid_line_error(r.grid, region.grid(), r.bbox) <= 1.0


def test_detect__two_regions_on_different_grids__both_found(detector, photo):
    regions = [MosaicRegion("rect", ((16, 16), (128, 112)), (8, 8)),
               MosaicRegion("rect", ((180, 99), (308, 227)), (16, 16), align="region")]
    mosaic, truth = pixelate(photo, regions)
    found = detector.detect(mosaic)
    assert iou(found.mask, truth) >= 0.9
    assert sorted(r.pitch for r in found.regions) == [(8.0, 8.0), (16.0, 16.0)]


@pytest.mark.parametrize("kind", ["photo", "flat", "gradient", "texture", "text"])
def test_detect__clean_frames__give_no_mask(detector, photo, kind):
    if kind == "photo":
        frame = photo
    elif kind == "flat":
        frame = np.full((240, 320, 3), 127, np.uint8)
    elif kind == "gradient":
        frame = np.tile(np.linspace(0, 255, 320, dtype=np.float32)[None, :, None], (240, 1, 3)).astype(np.uint8)
    elif kind == "texture":  # bricks: a regular lattice of edges, but no flat cells
        frame = np.full((240, 320, 3), 150, np.uint8)
        for y in range(0, 240, 20):
            frame[y:y + 2] = 60
            off = 0 if (y // 20) % 2 else 20
            for x in range(off, 320, 40):
                frame[y:y + 20, x:x + 2] = 60
        frame = np.clip(frame + np.random.default_rng(1).normal(0, 8, frame.shape), 0, 255).astype(np.uint8)
    else:
        frame = np.full((240, 320, 3), 255, np.uint8)
        for i in range(8):
            cv2.putText(frame, "Lorem ipsum dolor sit", (5, 25 + 28 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    assert detector.detect(frame).mask.mean() <= 0.001


def test_detect__after_jpeg__still_found(detector, photo):
    region = MosaicRegion("rect", ((48, 32), (240, 192)), (16, 16))
    mosaic, truth = pixelate(photo, [region])
    ok, buf = cv2.imencode(".jpg", mosaic[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    jpeg = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    assert iou(detector.detect(jpeg).mask, truth) >= 0.8


def test_detect__after_h264__still_found(detector, photo):
    region = MosaicRegion("rect", ((48, 32), (240, 192)), (16, 16))
    mosaic, truth = pixelate(photo, [region])
    found = detector.detect(h264_roundtrip(mosaic, 23))
    assert iou(found.mask, truth) >= 0.7
    assert grid_line_error(found.regions[0].grid, region.grid(), found.regions[0].bbox) <= 1.0


def test_grid_in__a_given_mask__estimates_pitch_and_phase(photo):
    region = MosaicRegion("ellipse", ((60, 40), (260, 200)), (12, 12), align="region")
    mosaic, truth = pixelate(photo, [region])
    grid = Detector().grid_in(mosaic, truth)
    assert grid is not None
    assert grid_line_error(grid, region.grid(), (60, 40, 260, 200)) <= 1.0


def test_grid_line_error__known_offsets():
    truth = Grid((10.0, 10.0), (0.0, 0.0))
    assert grid_line_error(Grid((10.0, 10.0), (2.0, 0.0)), truth, (0, 0, 100, 100)) == pytest.approx(2.0)
    assert grid_line_error(Grid((10.1, 10.0), (0.0, 0.0)), truth, (0, 0, 100, 100)) == pytest.approx(0.9, abs=0.01)
    # Every true line and one between each: the lines between lie mid-cell (both ways count).
    assert grid_line_error(Grid((5.0, 10.0), (0.0, 0.0)), truth, (0, 0, 100, 100)) == pytest.approx(5.0)
    assert grid_line_error(truth, Grid((5.0, 10.0), (0.0, 0.0)), (0, 0, 100, 100)) == pytest.approx(5.0)
    # As a frame shows them: a true line at 18.55 (+32k) lies before pixel 19.
    truth = Grid((32.0, 32.0), (18.55, 0.0))
    for found, continuous, rendered in ((19.0, 0.45, 0.0), (19.77, 1.22, 1.0), (20.2, 1.65, 2.0), (18.0, 0.55, 1.0)):
        grid = Grid((32.0, 32.0), (found, 0.0))
        assert grid_line_error(grid, truth, (0, 0, 200, 200)) == pytest.approx(continuous)
        assert grid_line_error(grid, truth, (0, 0, 200, 200), rendered=True) == rendered
        iy, ix = grid.cell_index(200, 200)  # the same cells exactly where the rendered error is 0
        assert (np.array_equal(ix, truth.cell_index(200, 200)[1] + (ix[0] - truth.cell_index(200, 200)[1][0]))
                == (rendered == 0.0))


def test_detect__dilate__grows_the_mask(detector, photo):
    mosaic, _ = pixelate(photo, [MosaicRegion("rect", ((48, 32), (208, 176)), (16, 16))])
    plain = detector.detect(mosaic).mask
    from demosaic.detect import DetectorConfig
    grown = Detector(replace(detector.cfg, dilate=3)).detect(mosaic).mask
    assert grown.sum() > plain.sum() and (grown | plain).sum() == grown.sum()


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (5, 300), (300, 7), (97, 193)])
def test_detect__odd_and_tiny_frames__no_error(detector, shape):
    frame = np.random.default_rng(0).integers(0, 256, shape + (3,), dtype=np.uint8)
    found = detector.detect(frame)
    assert found.mask.shape == shape


def test_detect__cells_cut_by_the_region__pixel_accurate_border(detector, photo):
    # Region edges at fractional positions cut every border cell; the cut cells' visible parts
    # carry the whole cell's mean, the rest is picture.
    region = MosaicRegion("rect", ((37.4, 29.6), (243.3, 190.2)), (16, 16))
    mosaic, truth = pixelate(photo, [region])
    found = detector.detect(mosaic)
    tp = (found.mask & truth).sum()
    assert tp / found.mask.sum() >= 0.97 and tp / truth.sum() >= 0.97


@pytest.mark.parametrize("cell, align", [(48, "frame"), (64, "region")])
def test_detect__large_cells__few_of_them__found_with_their_grid(detector, cell, align):
    photo = smooth_image(np.random.default_rng(11), 480, 640)
    region = MosaicRegion("rect", ((70.5, 50.5), (70.5 + 3.6 * cell, 50.5 + 3.3 * cell)), (cell, cell), align=align)
    mosaic, truth = pixelate(photo, [region])
    found = detector.detect(mosaic)
    assert iou(found.mask, truth) >= 0.85
    assert grid_line_error(found.regions[0].grid, region.grid(), region.bbox) <= 1.0


def test_detect__low_contrast_large_cells__exactly_flat__found(detector):
    # A mosaic over a bright, nearly flat sky: steps of a level or two between exactly flat cells.
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:240, 0:320]
    sky = np.clip((205 + 0.05 * xx + 0.06 * yy)[..., None] + rng.normal(0, 1.2, (240, 320, 3)), 0, 255).astype(np.uint8)
    region = MosaicRegion("ellipse", ((60, 40), (260, 200)), (24, 24))
    mosaic, truth = pixelate(sky, [region])
    assert iou(detector.detect(mosaic).mask, truth) >= 0.75  # cut cells over a flat sky are ambiguous by a pixel or two


def test_detect__photographed_chessboard__no_mask(detector):
    board = np.kron((np.indices((6, 8)).sum(axis=0) % 2), np.ones((40, 40))).astype(np.float32)
    board = board * 200 + 30 + np.linspace(0, 25, 320)[None, :]  # light falls off across the board
    src = np.float32([[0, 0], [320, 0], [320, 240], [0, 240]])
    dst = np.float32([[12, 6], [309, 14], [316, 232], [4, 236]])  # a slight perspective
    photo = cv2.warpPerspective(board, cv2.getPerspectiveTransform(src, dst), (320, 240), borderMode=cv2.BORDER_REPLICATE)
    photo = cv2.GaussianBlur(photo, (0, 0), 0.8)  # the lens
    frame = np.clip(np.repeat(photo[..., None], 3, axis=2) + np.random.default_rng(4).normal(0, 1.0, (240, 320, 3)), 0, 255)
    ok, buf = cv2.imencode(".jpg", frame.astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert detector.detect(cv2.imdecode(buf, cv2.IMREAD_COLOR)).mask.mean() <= 0.001



@pytest.mark.parametrize("shape", ["ellipse", "rect"])
def test_detect__small_region_of_large_cells__every_cell_cut__found(detector, shape):
    # About two 48 px cells each way, none of them whole: no comb, no rectangles of one size.
    # (A strip of cells cut to 6 px along one side is left out: 0.93 for the rectangle.)
    photo = smooth_image(np.random.default_rng(12), 240, 320)
    region = MosaicRegion(shape, ((70.5, 60.5), (165.5, 150.5)), (48, 48))
    mosaic, truth = pixelate(photo, [region])
    found = detector.detect(mosaic)
    assert iou(found.mask, truth) >= 0.9
    assert grid_line_error(found.regions[0].grid, region.grid(), region.bbox) <= 1.0


def test_detect__one_border_each_way__no_line_through_the_cells(detector):
    # 64 px cells, region x 170-250, y 140-220: one border each way (x = y = 192), every
    # cell cut. Taken from the widest piece, the pitch came out ~54 and put a line at x ≈ 246
    # through the cell right of 192: the pitch must reach past every piece.
    photo = smooth_image(np.random.default_rng(15), 320, 320)
    region = MosaicRegion("rect", ((170, 140), (250, 220)), (64, 64))
    mosaic, truth = pixelate(photo, [region])
    found = detector.detect(mosaic)
    assert iou(found.mask, truth) >= 0.9 and len(found.regions) == 1
    (pw, ph), (ox, oy) = found.regions[0].pitch, found.regions[0].origin
    for lo, hi, pitch, origin in ((170, 250, pw, ox), (140, 220, ph, oy)):
        lines = origin + pitch * np.arange(-20, 20)
        inside = lines[(lines > lo + 1) & (lines < hi - 1)]
        assert inside.size == 1 and abs(inside[0] - 192) <= 1, (pitch, origin)


def test_detect__rendered_gradient_in_one_level_bands__no_mask(detector):
    # A smooth rendered background: exactly flat bands one level apart, blocky after JPEG.
    yy, xx = np.mgrid[0:240, 0:320]
    grey = np.round(190 + 12 * (xx + yy) / 560).astype(np.uint8)
    frame = np.repeat(grey[..., None], 3, axis=2)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    for f in (frame, cv2.imdecode(buf, cv2.IMREAD_COLOR)):
        assert detector.detect(f).mask.mean() <= 0.001


def test_detect__stripes_with_a_gradient__no_mask(detector):
    # A 1-D texture: flat vertical stripes that step across, shaded smoothly down.
    yy, xx = np.mgrid[0:240, 0:320]
    stripes = np.where((xx // 14) % 2 == 0, 80.0, 110.0) + (xx // 28) * 6
    frame = np.repeat(np.clip(stripes + 0.25 * yy, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    for f in (frame, cv2.imdecode(buf, cv2.IMREAD_COLOR)):
        assert detector.detect(f).mask.mean() <= 0.001


def test_steps_on_borders__mosaic_against_shaded_stripes():
    # A mosaic's luma changes only between cells; stripes shaded down change between rows anywhere.
    grid = Grid((12.0, 12.0), (0.0, 0.0))
    iy, ix = grid.cell_index(120, 144)
    part = np.ones((120, 144), bool)
    smooth = cv2.cvtColor(smooth_image(np.random.default_rng(3), 120, 144), cv2.COLOR_RGB2GRAY)
    mosaic = smooth.reshape(10, 12, 12, 12).mean(axis=(1, 3)).repeat(12, 0).repeat(12, 1)
    assert steps_on_borders(mosaic, grid.pitch, iy, ix, part) >= 3.0  # chance: 3 lines of 12
    yy, xx = np.mgrid[0:120, 0:144]
    stripes = np.floor(np.where((xx // 12) % 2 == 0, 80.0, 110.0) + 0.3 * yy)  # steps every 3-4 rows
    assert steps_on_borders(stripes, grid.pitch, iy, ix, part) < 1.2  # columns fine, rows at chance
    fine = Grid((4.0, 4.0), (0.0, 0.0))  # cells under 6 px: too few lines between borders to tell
    assert steps_on_borders(stripes, fine.pitch, *fine.cell_index(120, 144), part) == np.inf


def test_outline_profile__only_the_inside_pixel_counts_where_the_part_ends():
    # Border probability per pixel; the part: rows 1-4, columns 2-7 of a 6×10 box.
    rng = np.random.default_rng(0)
    prob = rng.uniform(0, 1, (6, 10))
    part = np.zeros((6, 10), bool)
    part[1:5, 2:8] = True
    columns = outline_profile(prob, part, 0)  # per gap between columns t and t+1
    expected = np.zeros(9)
    expected[1] = prob[1:5, 2].sum()  # entering the part: its first column
    expected[7] = prob[1:5, 7].sum()  # leaving it: its last column
    np.testing.assert_allclose(columns, expected)
    rows = outline_profile(prob, part, 1)
    expected = np.zeros(5)
    expected[0], expected[4] = prob[1, 2:8].sum(), prob[4, 2:8].sum()
    np.testing.assert_allclose(rows, expected)


def test_detect__small_region_of_large_cells__after_h264__found_by_its_pieces(detector):
    # Two 48 px cells each way after H.264: the comb has one line per axis, no two cells are
    # whole; the coded flat pieces and the blurred borders between them give region and grid.
    photo = smooth_image(np.random.default_rng(14), 240, 320)
    region = MosaicRegion("ellipse", ((70.5, 60.5), (165.5, 150.5)), (48, 48))
    mosaic, truth = pixelate(photo, [region])
    found = detector.detect(h264_roundtrip(mosaic, 23))
    assert iou(found.mask, truth) >= 0.7
    assert grid_line_error(found.regions[0].grid, region.grid(), region.bbox) <= 1.0


def test_detect__small_cells_two_levels_apart__uncompressed__found(detector):
    # 8 px cells over a faint, noisy gradient: neighbouring cells often differ by two levels.
    yy, xx = np.mgrid[0:240, 0:320]
    noise = np.random.default_rng(2).normal(0, 1.5, (240, 320, 3))
    sky = np.clip((120 + 0.25 * (xx + yy))[..., None] + noise, 0, 255).astype(np.uint8)
    region = MosaicRegion("rect", ((60, 40), (260, 200)), (8, 8))
    mosaic, truth = pixelate(sky, [region])
    assert iou(detector.detect(mosaic).mask, truth) >= 0.95


@pytest.mark.parametrize("dilate", [0, 3])
def test_detect__region_boxes__tight_around_their_pixels(detector, photo, dilate):
    regions = [MosaicRegion("rect", ((16, 16), (128, 112)), (8, 8)),
               MosaicRegion("ellipse", ((170, 90), (310, 230)), (12, 12), align="region")]
    mosaic, _ = pixelate(photo, regions)
    found = Detector(replace(detector.cfg, dilate=dilate)).detect(mosaic)
    assert len(found.regions) == 2
    for k, region in enumerate(found.regions):
        ys, xs = np.nonzero(found.labels == k + 1)
        assert region.bbox == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


@pytest.mark.parametrize("support, expected", [(True, 16.0), (False, 32.0)])
def test_flattest__smooth_mosaic__the_border_maps_pick_the_lattice_among_flat_ties(support, expected):
    """Over smooth content a 16 px mosaic's double cells (32 px) are flat too: by flatness
    alone the largest pitch wins; the border maps, which mark the true cells' first and last
    columns and rows, pick 16."""
    from demosaic.mosaic import cell_edges

    h, w = 128, 160
    ramp = np.add.outer(np.arange(h) * 0.05, np.arange(w) * 0.05) + 100  # a level every 20 px
    luma = np.repeat(np.repeat(ramp[::16, ::16], 16, axis=0), 16, axis=1)[:h, :w].round()[..., None]
    edges = np.stack([np.broadcast_to(np.where(cell_edges(w, 16, 0)[None, :], 5.0, -5.0), (h, w)),
                      np.broadcast_to(np.where(cell_edges(h, 16, 0)[:, None], 5.0, -5.0), (h, w))], axis=-1)
    part = np.ones((h, w), bool)
    det = Detector(DetectorConfig(learned="", net=NetConfig(flattest_support=support)))
    grid = flat_ties(det.cfg, luma, [Grid((16.0, 16.0), (0.0, 0.0))], slice(0, h), slice(0, w), part, edges)[0]
    assert grid.pitch == (expected, expected)


@pytest.mark.parametrize("pitch, needed", [(6.0, 1.12), (7.0, 1.16), (8.0, 1.2), (24.0, 1.2)])
def test_steps_needed__fine_cells_need_less_above_chance(pitch, needed):
    # Three lines of a 6 px cell lie within a pixel of a border: even a perfect mosaic's
    # steps stand at only twice chance there; 12 % of the way from chance to all of them.
    det = Detector(DetectorConfig(learned=""))
    assert steps_needed(det.cfg, Grid((pitch, pitch), (0.0, 0.0))) == pytest.approx(needed)


@pytest.mark.parametrize("coarse, fine, expected", [
    ((32.0, 32.0), (32 / 3, 32 / 3), True),   # every third line
    ((21.3, 10.67), (10.67, 10.67), True),    # every other one, one axis
    ((64.0, 64.0), (20.0, 20.0), False),      # 3.2 times: no line in common but the first
    ((16.0, 16.0), (16.2, 16.0), False),      # the same lattice, not a multiple
])
def test_multiple_of__known_pairs(coarse, fine, expected):
    assert multiple_of(Grid(coarse, (0.0, 0.0)), Grid(fine, (0.0, 0.0))) is expected


@pytest.mark.parametrize("cell, fitted, expected", [(10, 30.0, 10.0), (10, 20.0, 10.0), (30, 30.0, 30.0), (12, 12.0, 12.0)])
def test_finer_grid__steps_between_the_lines_split_the_cells(photo, cell, fitted, expected):
    # A mosaic of `cell` px seen on a lattice of `fitted` px: if the lines between carry
    # steps too, the cells are finer; inside a true cell there is none.
    mosaic, truth = pixelate(photo, [MosaicRegion("rect", ((0, 0), (300, 240)), (cell, cell))])
    dx, dy = abs_diffs(cv2.cvtColor(mosaic, cv2.COLOR_RGB2GRAY)[..., None])
    grid = finer_grid((dx, dy), truth, Grid((fitted, fitted), (0.0, 0.0)))
    assert grid.pitch == pytest.approx((expected, expected))


@pytest.fixture(scope="module")
def default_detector():
    if not DEFAULT_SEGMENTER.exists():
        pytest.skip("no shipped segmenter")
    return Detector(DetectorConfig())


@pytest.mark.parametrize("seed, crf, held", [(0, 23, 0.9), (2, 23, 0.9), (3, 23, 0.9), (6, 23, 0.9),
                                             (1, None, 0.95), (3, None, 0.95), (4, None, 0.95), (6, None, 0.95)])
def test_detect__mosaic_scaled_by_four_thirds__one_region_on_its_own_cells(default_detector, seed, crf, held):
    """8 px cells scaled to 320x240 from 240x180 with bicubic: 10.67 px, the rounded borders
    repeating every 32 px. After H.264 the combs and border maps saw that period (32 or
    64 px); as made, the paths found the mosaic in four to seven pieces, each with its own
    fit. One region holds it, on the cells' own lattice within a pixel."""
    small = smooth_image(np.random.default_rng(seed), 180, 240)
    mosaic, truth = pixelate(small, [MosaicRegion("rect", ((24, 24), (216, 160)), (8, 8))])
    frame = cv2.resize(mosaic, (320, 240), interpolation=cv2.INTER_CUBIC)
    frame = frame if crf is None else h264_roundtrip(frame, crf)
    truth = cv2.resize(truth.astype(np.uint8), (320, 240), interpolation=cv2.INTER_NEAREST) > 0
    found = default_detector.detect(frame)
    cover = [int((found.labels == k + 1)[truth].sum()) for k in range(len(found.regions))]
    assert max(cover, default=0) >= held * truth.sum()
    region = found.regions[int(np.argmax(cover))]
    assert grid_line_error(region.grid, Grid((32 / 3, 32 / 3), (0.0, 0.0)), (32, 32, 288, 213)) <= 1.0


def test_detect__touching_mosaics_on_lattices_apart__stay_two_regions(detector, photo):
    # Same 12 px cells, phases 0 and 10 (lines 2 px apart): one grid cannot serve both.
    left = MosaicRegion("rect", ((20, 30), (166, 210)), (12, 12))
    right = MosaicRegion("rect", ((166, 30), (300, 210)), (12, 12), align="region")
    mosaic, truth = pixelate(photo, [left, right])
    found = detector.detect(mosaic)
    assert iou(found.mask, truth) >= 0.9
    for region in (left, right):
        part = region.rasterise(*truth.shape)
        cover = [int((found.labels == k + 1)[part].sum()) for k in range(len(found.regions))]
        assert max(cover) >= 0.9 * part.sum()
        best = found.regions[int(np.argmax(cover))]
        ys, xs = np.nonzero(part)
        assert grid_line_error(best.grid, region.grid(), (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)) <= 1.0


# Two region-aligned 10 px mosaics overlapping, their column lines 5.5 px apart (x from 22.3
# and 47.8; rows from 16.5 and 46.8): together their lines come every ~5 px.
UNION = [MosaicRegion("rect", ((22.3, 16.5), (155.4, 207.9)), (10, 10), align="region"),
         MosaicRegion("ellipse", ((47.8, 46.8), (231.9, 185.2)), (10, 10), align="region")]


def _each_on_its_own_lattice(found, regions, shape, held):
    later = np.zeros(shape, bool)
    for region in reversed(regions):  # the part of each that shows (later ones paint over)
        part = region.rasterise(*shape) & ~later
        later |= region.rasterise(*shape)
        cover = [int((found.labels == k + 1)[part].sum()) for k in range(len(found.regions))]
        assert max(cover) >= held * part.sum()
        best = found.regions[int(np.argmax(cover))]
        ys, xs = np.nonzero(part)
        assert grid_line_error(best.grid, region.grid(), (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)) <= 1.0


def test_detect__overlapping_mosaics_half_a_cell_apart__two_regions_not_one_finer(detector, photo):
    mosaic, truth = pixelate(photo, UNION)
    found = detector.detect(mosaic)
    assert iou(found.mask, truth) >= 0.9
    assert sorted(r.pitch for r in found.regions) == [(10.0, 10.0), (10.0, 10.0)]  # not one region of 5 × 10 px
    _each_on_its_own_lattice(found, UNION, truth.shape, 0.9)


def test_detect__overlapping_mosaics_half_a_cell_apart__after_h264__two_regions(default_detector, photo):
    mosaic, truth = pixelate(photo, UNION)
    found = default_detector.detect(h264_roundtrip(mosaic, 23))
    assert iou(found.mask, truth) >= 0.85
    _each_on_its_own_lattice(found, UNION, truth.shape, 0.85)


def test_union_parts__steps_on_even_lines_left_odd_lines_right():
    # |steps| between columns: 20 on the lines of an 8 px lattice (x = 8k), on the even ones
    # (16k) in the left half, the odd ones (16k + 8) in the right; noise of 1 elsewhere.
    rng = np.random.default_rng(0)
    h, w = 96, 192
    dx = rng.uniform(0, 1, (h, w - 1)).astype(np.float32)
    dy = rng.uniform(0, 1, (h - 1, w)).astype(np.float32)
    lines = np.arange(8, w, 8)  # the border before pixel x lies between pairs x-1 and x: index x-1
    for x in lines:
        if (x % 16 == 0) == (x < w // 2):
            dx[:, x - 1] = 20
    mask = np.ones((h, w), bool)
    axis, even, odd = union_parts((dx, dy), mask, Grid((8.0, 8.0), (0.0, 0.0)), (0, 0), 0.1, 400, 72)
    assert axis == 0
    assert even[:, :w // 2 - 16].all() and odd[:, w // 2 + 16:].all()
    assert not (even & odd).any() and (even | odd).all()
    # Steps on every line: one lattice, no split.
    dx[:, lines - 1] = 20
    assert union_parts((dx, dy), mask, Grid((8.0, 8.0), (0.0, 0.0)), (0, 0), 0.1, 400, 72) is None


@pytest.mark.parametrize("cell, fitted, expected", [
    ((16, 16), (8.0, 16.0), (16.0, 16.0)),    # half the pitch across: the lines between carry no step
    ((24, 24), (8.0, 8.0), (24.0, 24.0)),     # a third both ways
    ((16, 16), (16.0, 16.0), (16.0, 16.0)),   # right already
    ((8, 8), (8.0, 8.0), (8.0, 8.0)),
])
def test_coarser_grid__no_step_through_the_middle_of_a_cell(photo, cell, fitted, expected):
    region = MosaicRegion("rect", ((4, 12), (300, 236)), cell, align="region")  # lines at x = 4 + k cell
    mosaic, truth = pixelate(photo, [region])
    dx, dy = abs_diffs(cv2.cvtColor(mosaic, cv2.COLOR_RGB2GRAY)[..., None])
    grid = coarser_grid((dx, dy), truth, Grid(fitted, (4.0 % fitted[0], 12.0 % fitted[1])))
    assert grid.pitch == pytest.approx(expected)
    assert grid_line_error(grid, region.grid(), (4, 12, 300, 236)) <= 1.0


@pytest.mark.parametrize("teeth, comb, expected", [
    (40, (20.0, 9.0), (40.0, 9.0)),    # every other line of the comb has no tooth
    (40, (20.0, 29.0), (40.0, 49.0)),  # ... the other class holds them
    (40, (10.0, 9.0), (40.0, 9.0)),    # twice over
    (20, (20.0, 9.0), (20.0, 9.0)),    # right already
])
def test_sparser_comb__few_teeth_fit_half_the_pitch_too(teeth, comb, expected):
    from demosaic.detect.combs import sparser_comb

    profile = np.full(160, 2.0)
    profile[9::teeth] = 50.0
    assert sparser_comb(profile, comb) == pytest.approx(expected)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (5, 1), (2, 2), (3, 40), (40, 3)])
def test_lattice_checks__boxes_too_small_to_tell__keep_the_grid(shape):
    # A region box a pixel or two across (its quarters none): nothing to judge, no error.
    h, w = shape
    diff = (np.zeros((h, w - 1), np.uint8), np.zeros((h - 1, w), np.uint8))
    grid = Grid((8.0, 8.0), (0.0, 0.0))
    assert finer_grid(diff, np.ones(shape, bool), grid) == grid
    assert coarser_grid(diff, np.ones(shape, bool), grid) == grid


def _sky_beside(photo: np.ndarray, slope: float, column: int) -> np.ndarray:
    """The photo left of `column`; right of it a noiseless 8-bit sky, `slope` levels a pixel."""
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    sky = np.stack([90 + slope * xx + 0.5 * slope * yy, 120 + slope * yy, 160 - 0.5 * slope * xx], -1)
    frame = photo.copy()
    frame[:, column:] = np.round(sky[:, column:]).astype(np.uint8)
    return frame


@pytest.mark.parametrize("slope", [0.08, 0.2])
def test_detect__uncompressed_mosaic_running_onto_smooth_sky__found_whole(detector, photo, slope):
    # Over the sky the cells step a level or none: too little for the lattice evidence
    # (without following the exact cells the mask stops near the sky, IoU 0.57-0.63).
    frame = _sky_beside(photo, slope, 150)
    region = MosaicRegion("rect", ((48, 40), (296, 200)), (8, 8))
    mosaic, truth = pixelate(frame, [region])
    assert iou(detector.detect(mosaic).mask, truth) >= 0.95
    assert not detector.detect(frame).mask.any()


def test_exact_growth__known_cells():
    """Against cells counted by hand: from the labelled left part of an 8 px mosaic over a
    sky, growth takes the other whole cells of the mosaic, not the flat patch beside it (no
    step between its cells), not another region's cells, and not the sky."""
    from demosaic.detect.evidence import colour_code
    from demosaic.detect.exact import exact_growth

    sky = _sky_beside(np.zeros((240, 320, 3), np.uint8), 0.15, 0)
    sky[40:200, 243:296] = 77  # a flat patch, its cells exact but all one colour
    region = MosaicRegion("rect", ((48, 40), (240, 200)), (8, 8))
    mosaic, truth = pixelate(sky, [region])
    labels = np.zeros((240, 320), np.int32)
    labels[40:200, 48:96] = 1
    labels[40:80, 200:240] = 2  # another region's cells
    grown = exact_growth(colour_code(mosaic), labels, 1, region.grid(), (48, 40, 96, 200))
    expected = truth & (labels == 0)
    assert (grown == expected).all()
    assert not exact_growth(colour_code(sky), labels, 1, region.grid(), (48, 40, 96, 200)).any()  # no mosaic: the sky's cells are not exact


LEUVEN = "/usr/share/doc/opencv-doc/examples/data/leuvenA.jpg"


@pytest.mark.parametrize("join_ratio, clean", [(16.0, True), (0.0, False)])
def test_detect__defocused_photo__the_network_does_not_carry_a_tiny_region_over_it(join_ratio, clean):
    """A real photo blurred as if out of focus (cobbles, brick): the coded-pieces path finds
    three flat pieces (0.1 % of the frame), and the network proposes a tenth of the frame
    around them. Joined to the pieces unchecked (ratio 0) it became an 11 % false region;
    checked as a network-only region must be, it is not a mosaic. (The network's doubt over
    the joined region, `net.region_score`, would drop it too: off here, to see this check.)"""
    from pathlib import Path

    from pipelines.benchmark_detect import fit_frame
    from demosaic.images import read_image

    if not DEFAULT_SEGMENTER.exists() or not Path(LEUVEN).exists():
        pytest.skip("no shipped segmenter or no opencv-doc photos")
    photo = fit_frame(read_image(Path(LEUVEN)))
    blurred = np.clip(np.round(cv2.GaussianBlur(photo.astype(np.float32), (0, 0), 3)), 0, 255).astype(np.uint8)
    found = Detector(DetectorConfig(net=NetConfig(join_ratio=join_ratio, region_score=0.0))).detect(blurred)
    assert (found.mask.mean() < 0.01) == clean


def _faint_field(seed: int, height: int = 240, width: int = 320, span: float = 60.0) -> np.ndarray:
    """A noiseless smooth colour field (a wallpaper's gradients): levels change every few
    pixels, so a mosaic's cells over it differ by a level or two at most."""
    small = np.random.default_rng(seed).uniform(100, 100 + span, (3, 4, 3)).astype(np.float32)
    return np.clip(np.round(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", [3, 10])
def test_detect__faint_uncompressed_mosaics_over_a_smooth_field__found(default_detector, seed):
    # The network proposes a little of each; the lattice evidence sees nothing (without
    # exact seeds: IoU 0.0 on both fields).
    field = _faint_field(seed)
    regions = [MosaicRegion("rect", ((40, 40), (140, 200)), (8, 8)),
               MosaicRegion("ellipse", ((170, 60), (300, 190)), (6, 6), align="region")]
    mosaic, truth = pixelate(field, regions)
    found = default_detector.detect(mosaic)
    assert iou(found.mask, truth) >= 0.9
    assert not default_detector.detect(field).mask.any()


def test_exact_seeds__known_lattice_and_cells():
    """An 8 px mosaic at phase (3, 5) over a very faint field (a level every ten pixels or
    so), looked for where a network would propose it (its box and a cell around): the
    commonest one-colour runs are its pitch, the changes lie at its phase, and the one seed
    is the mosaic's cells on its lattice. Over the whole frame the field's own levels fit
    a lattice here and there too: the chance and size checks drop most of those (the
    network's proposals keep the search near mosaics in the first place)."""
    from demosaic.detect.evidence import colour_code
    from demosaic.detect.exact import exact_phases, exact_runs

    field = _faint_field(3, span=10)
    region = MosaicRegion("rect", ((35, 29), (235, 189)), (8, 8), align="region")  # cells from x 35, y 29
    mosaic, truth = pixelate(field, [region])
    code, rows, cols = colour_code(mosaic), slice(0, 240), slice(0, 320)
    assert exact_runs(code, rows, cols, truth, 0, 4, 72)[0] == 8
    assert exact_phases(code, 8, rows, cols, truth, 0)[0] == 35 % 8
    assert exact_phases(code, 8, rows, cols, truth, 1)[0] == 29 % 8
    proposed = cv2.dilate(truth.astype(np.uint8), np.ones((17, 17), np.uint8)) > 0
    seeds = exact_seeds(DetectorConfig(learned=""), code, rows, cols, proposed)
    assert len(seeds) == 1
    grid, pixels, _ = seeds[0]
    assert grid == Grid((8.0, 8.0), (3.0, 5.0))
    assert iou(pixels, truth) >= 0.95  # a few constant field cells beside it step to it too
    everywhere = np.ones((240, 320), bool)
    checked = exact_seeds(DetectorConfig(learned=""), code, rows, cols, everywhere)
    unchecked = exact_seeds(DetectorConfig(learned="", exact=ExactConfig(seed_chance=0.0, seed_cells=1.0)), 
        code, rows, cols, everywhere)
    assert checked[0][0] == grid and len(unchecked) > len(checked)


def test_far_from__the_exact_distance_transform_over_the_frame():
    """The gate's distance, measured in the box around the proposals only, against OpenCV's
    over the whole frame."""
    from demosaic.detect.evidence import far_from

    rng = np.random.default_rng(5)
    for _ in range(20):
        near = np.zeros((rng.integers(40, 200), rng.integers(40, 200)), np.uint8)
        for _ in range(rng.integers(0, 4)):
            y, x = rng.integers(0, near.shape[0]), rng.integers(0, near.shape[1])
            near[y:y + rng.integers(1, 20), x:x + rng.integers(1, 20)] = 1
        exact = cv2.distanceTransform(1 - near, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > 12.0
        np.testing.assert_array_equal(far_from(near, 12.0), exact if near.any() else np.ones(near.shape, bool))


@pytest.mark.parametrize("crf", [None, 23])
def test_detect__search_window__same_answer_as_searching_the_whole_frame(crf):
    """The search runs in the box around what the gate leaves open (`net.search_margin`): on a
    large frame with small mosaics in one corner, the answer is the whole-frame search's,
    moved to frame coordinates."""
    if not DEFAULT_SEGMENTER.exists():
        pytest.skip("no shipped segmenter")
    rng = np.random.default_rng(11)
    frame = smooth_image(rng, 480, 640)
    regions = [MosaicRegion("rect", ((21, 300), (141, 420)), (12, 12)),
               MosaicRegion("ellipse", ((150, 330), (250, 450)), (10, 10), align="region")]
    mosaic, truth = pixelate(frame, regions)
    if crf is not None:
        mosaic = h264_roundtrip(mosaic, crf)
    windowed = Detector(DetectorConfig()).detect(mosaic)
    whole = Detector(DetectorConfig(net=NetConfig(search_margin=10_000))).detect(mosaic)
    assert iou(windowed.mask, truth) >= 0.8
    np.testing.assert_array_equal(windowed.labels, whole.labels)
    assert windowed.regions == whole.regions


def test_rephased__takes_the_phase_the_border_maps_mark():
    """A lattice's phase from the border maps, per axis: maps that mark the first and last
    column (row) of every cell of a (7, 9) px lattice at (3, 5), with noise, inside an
    ellipse of a window; from a grid at the right pitch but the wrong phase, `_rephased`
    returns the maps' phase. An axis whose pitch is not a whole number keeps its phase."""
    rng = np.random.default_rng(2)
    height, width = 200, 260
    truth = Grid((7.0, 9.0), (3.0, 5.0))
    y, x = np.mgrid[0:height, 0:width]
    columns = np.isin((x - 3) % 7, (0, 6))  # a cell's first or last column: cells start at x = 3 + 7 k
    rows_on = np.isin((y - 5) % 9, (0, 8))
    edges = np.stack([np.where(columns, 2.0, -2.0), np.where(rows_on, 2.0, -2.0)], axis=-1)
    edges += rng.normal(0, 1.5, edges.shape)
    rows, cols = slice(30, 170), slice(40, 230)
    yy, xx = np.mgrid[rows, cols]
    part = ((xx - 135) / 90.0) ** 2 + ((yy - 100) / 65.0) ** 2 <= 1
    found = rephased(edges, Grid((7.0, 9.0), (0.0, 0.0)), rows, cols, part)
    assert found.pitch == truth.pitch and found.origin == truth.origin
    kept = rephased(edges, Grid((7.4, 9.0), (1.5, 0.0)), rows, cols, part)
    assert kept.origin == (1.5, 5.0)


def _steps_with_middles(share: float, height: int = 200, width: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """|steps| of a 10 px lattice at (0, 0): 20 levels across its lines, `share` of that
    across the columns' middles (x = 5 + 10 k; a codec's block edges near them), 1 elsewhere."""
    rng = np.random.default_rng(4)
    dx = rng.uniform(0, 2, (height, width - 1))
    dy = rng.uniform(0, 2, (height - 1, width))
    dx[:, 9::10] = 20.0  # the step between pixels 9 and 10: a line at x = 10
    dx[:, 4::10] = 20.0 * share
    dy[9::10, :] = 20.0
    return dx, dy


@pytest.mark.parametrize("share, square_share, expected", [
    (0.4, 0.0, (5.0, 10.0)),   # the middles carry too much for `share` (0.25)
    (0.4, 0.5, (10.0, 10.0)),  # ... but not for square cells' `square_share`
    (0.9, 0.5, (5.0, 10.0)),   # a true 5 × 10 lattice stays
])
def test_coarser_grid__square_cells_allow_more_between(share, square_share, expected):
    diff = _steps_with_middles(share)
    grid = coarser_grid(diff, np.ones((200, 240), bool), Grid((5.0, 10.0), (0.0, 0.0)), square_share=square_share)
    assert grid.pitch == pytest.approx(expected)


@pytest.mark.parametrize("share, square_share, expected", [
    (0.6, 0.0, (5.0, 10.0)),   # the middles carry `share` (0.5): split
    (0.6, 0.8, (10.0, 10.0)),  # ... but square cells would turn oblong: `square_share` needed
    (0.95, 0.8, (5.0, 10.0)),  # a true 5 × 10 lattice splits
])
def test_finer_grid__square_cells_split_one_way_only_when_sure(share, square_share, expected):
    diff = _steps_with_middles(share)
    grid = finer_grid(diff, np.ones((200, 240), bool), Grid((10.0, 10.0), (0.0, 0.0)), square_share=square_share)
    assert grid.pitch == pytest.approx(expected)


def test_drop_unsure__coded_regions_the_network_doubts_go():
    """Coded regions over which the network's mean probability is under `net.region_score`
    go and the rest are numbered again; uncompressed (`closed`) regions stay whatever it says."""
    labels = np.zeros((40, 90), np.int32)
    labels[5:25, 0:20], labels[5:25, 30:50], labels[5:25, 60:80] = 1, 2, 3
    logits = np.full(labels.shape, -4.0)
    logits[labels == 1] = np.log(0.6 / 0.4)  # doubted, coded: goes
    logits[labels == 2] = np.log(0.9 / 0.1)  # sure, coded: stays
    logits[labels == 3] = np.log(0.3 / 0.7)  # doubted, but uncompressed: stays
    regions = [Region((0, 5, 20, 25), (5.0, 5.0), (0.0, 0.0), "mean", 16, 1.0),
               Region((30, 5, 50, 25), (5.0, 5.0), (0.0, 0.0), "mean", 16, 1.0),
               Region((60, 5, 80, 25), (5.0, 5.0), (0.0, 0.0), "mean", 16, 1.0)]
    before = labels.copy()
    got, kept, closed = drop_unsure(DetectorConfig(net=NetConfig(region_score=0.7)), logits, labels, regions,
                                    [False, False, False, True])
    assert closed == [False, False, True]
    assert [r.bbox[0] for r in kept] == [30, 60]
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.select([before == 2, before == 3], [1, 2], 0))
    np.testing.assert_array_equal(labels, before)  # what it was given is left as it was
    assert len(regions) == 3


@pytest.mark.parametrize("n", [1, 2, 3, 8, 23, 64])
def test_median_rows__numpy_median(n):
    values = np.random.default_rng(n).integers(0, 256, (n, 3)).astype(np.float64)
    np.testing.assert_array_equal(median_rows(values), np.median(values, axis=0))


def test_region_set__in_frame__labels_and_regions_move_with_the_window():
    from demosaic.detect.regions import RegionSet

    labels = np.zeros((4, 6), np.int32)
    labels[1:3, 2:5] = 1
    region = Region((2, 1, 5, 3), (3.0, 2.0), (2.0, 1.0), "mean", 1, 1.0)
    found = RegionSet(labels, (region,), (True,)).in_frame(slice(10, 14), slice(20, 26), (30, 40))
    assert found.labels.shape == (30, 40) and (found.labels == 1).sum() == 6
    assert found.labels[11:13, 22:25].all()
    assert found.regions[0].bbox == (22, 11, 25, 13) and found.regions[0].origin == (22.0, 11.0)
    assert found.uncompressed == (True,)
    working = found.unpacked()
    working[0][...] = 0  # the working copy is the caller's to edit
    assert (found.labels == 1).sum() == 6 and working[2] == [False, True]


def test_frame_evidence__frame_corner_in_the_search_window():
    from demosaic.detect.evidence import frame_evidence

    frame = np.zeros((300, 400, 3), np.uint8)
    blocked = np.ones((300, 400), bool)
    blocked[150:160, 200:210] = False  # open: a 10 px box, the window that box grown by the margin
    evidence = frame_evidence(DetectorConfig(net=NetConfig(search_margin=20)), frame, blocked=blocked)
    assert (evidence.rows, evidence.cols) == (slice(130, 180), slice(180, 230))
    assert evidence.frame_origin == (-180, -130)
    assert evidence.window_luma.shape == (50, 50, 1) and evidence.ev.shape == (50, 49)
