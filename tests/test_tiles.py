"""Large frames in pieces (demosaic.tiles): tile plans, detection tile by tile, restoration crop by
crop with the network run tile by tile. The tile-size knobs make a small picture take the paths
an 8000×6000 photo takes."""
import cv2
import numpy as np
import pytest
from conftest import smooth_image

from demosaic.config import TileConfig
from demosaic.detect import DEFAULT_SEGMENTER, Detector, DetectorConfig, grid_line_error, iou
from demosaic.mosaic import MosaicRegion, pixelate
from demosaic.tiles import group_boxes, plan_tiles, spans

# A 480×360 picture cut into 3×2 tiles of 224×228 px: the tiles' cores meet at x 176 and 304, y 180.
SMALL_TILES = TileConfig(above=1, size=256, overlap=96, model_size=128, model_overlap=64)
WHOLE = TileConfig(above=10 ** 12)
MOSAICS = [MosaicRegion("rect", ((96, 112), (256, 256)), (16, 16)),  # over the corner where four tiles meet
           MosaicRegion("ellipse", ((260, 40), (420, 200)), (8, 8), align="region")]  # across two borders


@pytest.mark.parametrize("length,size,overlap,align", [(8000, 2048, 256, 1), (6000, 2048, 256, 1),
                                                       (2049, 2048, 256, 1), (999, 300, 50, 1),
                                                       (1504, 512, 128, 32), (96, 512, 128, 32)])
def test_spans__tiles_cover_the_axis_overlapping_and_cores_own_each_pixel_once(length, size, overlap, align):
    plan = spans(length, size, overlap, align)
    seen, owned = np.zeros(length, int), np.zeros(length, int)
    for s in plan:
        seen[s.start:s.stop] += 1
        owned[s.core_start:s.core_stop] += 1
        assert s.start <= s.core_start < s.core_stop <= s.stop and s.start % align == 0
    assert (seen >= 1).all() and (owned == 1).all()
    assert len({s.stop - s.start for s in plan}) == 1 and plan[0].stop - plan[0].start <= max(size, length)
    for a, b in zip(plan, plan[1:]):
        assert a.stop - b.start >= overlap  # neighbours share the overlap at least
        assert min(a.core_stop - b.start, a.stop - b.core_start) >= overlap // 2  # every owned pixel has context


def test_plan_tiles__cores_own_every_pixel_once():
    owned = np.zeros((600, 800), int)
    for tile in plan_tiles((600, 800), 256, 64):
        owned[tile.core] += 1
        rows, cols = tile.box
        assert (tile.core[0].start - rows.start, tile.core[1].start - cols.start) == \
               (tile.core_in_tile[0].start, tile.core_in_tile[1].start)
    assert (owned == 1).all()


def test_group_boxes__boxes_within_reach_share_a_crop_cut_to_the_frame():
    boxes = [(10, 10, 50, 50), (70, 10, 90, 40), (300, 300, 320, 320), (95, 45, 120, 60)]
    groups = group_boxes(boxes, [10, 10, 10, 0], (400, 330))
    assert [g.members for g in groups] == [(0, 1, 3), (2,)]  # 0-1 and 1-3 reach each other; 2 is far
    assert (groups[0].rows, groups[0].cols) == (slice(0, 60), slice(0, 120))
    assert (groups[1].rows, groups[1].cols) == (slice(290, 330), slice(290, 330))  # cut at the frame's edge


@pytest.fixture(scope="module")
def across_tiles():
    """(clean RGB, mosaic RGB, true mask): two mosaics that tiles of SMALL_TILES cut."""
    clean = smooth_image(np.random.default_rng(21), 360, 480)
    mosaic, truth = pixelate(clean, MOSAICS)
    return clean, mosaic, truth


@pytest.fixture(scope="module")
def detector_config():
    if not DEFAULT_SEGMENTER.exists():
        pytest.skip("no shipped segmenter")
    return DetectorConfig()


def test_detect__tiled__mosaics_across_tile_borders_found_whole_as_the_whole_frame_finds_them(across_tiles,
                                                                                                detector_config):
    _, mosaic, truth = across_tiles
    tiled = Detector(detector_config, SMALL_TILES).detect(mosaic)
    whole = Detector(detector_config, WHOLE).detect(mosaic)
    assert len(tiled.regions) == len(MOSAICS)  # one region each, not one per tile
    assert iou(tiled.mask, truth) >= 0.9 and iou(tiled.mask, whole.mask) >= 0.95
    for region in MOSAICS:
        inside = region.rasterise(*truth.shape)
        found = [r for k, r in enumerate(tiled.regions) if (tiled.labels[inside] == k + 1).mean() > 0.5]
        assert len(found) == 1 and grid_line_error(found[0].grid, region.grid(), found[0].bbox) <= 1.0
    assert np.array_equal(tiled.mask, tiled.labels > 0)


def region_psnr(a, b, mask):
    d = a[mask].astype(np.float64) - b[mask]
    return 10 * np.log10(255.0 ** 2 / np.mean(d * d))


def test_image__tiled__mosaics_across_tile_borders_restored_everything_else_bit_identical(across_tiles,
                                                                                          detector_config, tmp_path):
    from pipelines.images import restore_image

    clean, mosaic, truth = across_tiles
    src, dst = tmp_path / "in.png", tmp_path / "out.png"
    cv2.imwrite(str(src), mosaic[..., ::-1])
    summary = restore_image(src, dst, None, None, "guided", detector_config, note=print, tiles=SMALL_TILES)
    out = cv2.imread(str(dst))[..., ::-1]
    detected = Detector(detector_config, SMALL_TILES).detect(mosaic).mask
    assert np.array_equal(out[~detected], mosaic[~detected])
    # The detector takes in a few edge pixels the cells' colours happen to fit; nothing farther.
    near = cv2.dilate(truth.astype(np.uint8), np.ones((17, 17), np.uint8)) > 0
    assert np.array_equal(out[~near], mosaic[~near])
    for region in MOSAICS:
        inside = region.rasterise(*truth.shape)
        assert region_psnr(out, clean, inside) > region_psnr(mosaic, clean, inside) + 0.3
    assert summary["restored_pixels"] == int(np.any(out != mosaic, axis=2).sum())


def test_area_pieces__whole_cells_of_each_area_in_exactly_one_piece_within_reach():
    from demosaic.mosaic import AreaCrop, Grid, GridArea, area_pieces

    mask = np.zeros((300, 400), bool)
    mask[40:260, 30:370] = True  # 220 × 340 px of 16 px cells from (6, 8)
    grid = Grid((16.0, 16.0), (6.0, 8.0))
    crop = AreaCrop(slice(100, 400), slice(50, 450), (GridArea(mask, grid),))
    pieces = area_pieces(crop, 96, lambda g: 20)
    assert len(pieces) > 4
    owner = np.zeros(mask.shape, int)
    iy, ix = grid.cell_index(*mask.shape)
    for p in pieces:
        (area,) = p.areas
        rows, cols = slice(p.rows.start - 100, p.rows.stop - 100), slice(p.cols.start - 50, p.cols.stop - 50)
        assert rows.start >= 0 and cols.start >= 0 and rows.stop <= 300 and cols.stop <= 400
        assert np.array_equal(area.mask, mask[rows, cols])  # the whole area over the piece's crop ...
        assert not (p.keep & ~area.mask).any()  # ... of which the piece keeps its block
        owner[rows, cols] += p.keep
        cy, cx = np.nonzero(p.keep)
        cells_y, cells_x = np.unique(iy[cy + rows.start]), np.unique(ix[cx + cols.start])
        assert len(cells_y) <= 96 // 16 and len(cells_x) <= 96 // 16  # at most `side` px of cells
        # whole cells: every pixel of those cells inside the mask is in this piece
        ours = mask[rows, cols] & np.isin(iy[rows], cells_y)[:, None] & np.isin(ix[cols], cells_x)[None, :]
        assert np.array_equal(ours, p.keep)
        r0, r1 = cy.min(), cy.max() + 1
        assert r0 == min(20, rows.start + r0) and rows.stop - (rows.start + r1) in (20, 300 - rows.start - r1)  # grown by the reach
        assert area.grid == grid.moved(-cols.start, -rows.start)
    assert np.array_equal(owner, mask.astype(int))  # each mosaic pixel in exactly one piece
    small = AreaCrop(slice(0, 300), slice(0, 400), (GridArea(mask, grid),))
    assert area_pieces(small, 512, lambda g: 20) == [small]  # no larger than `side`: the crop itself


def test_image__mosaic_larger_than_area_size__restored_in_blocks_as_well_as_whole(across_tiles, detector_config,
                                                                                 tmp_path):
    """Blocks of whole cells (`area_size` lowered to 64 px: the 160 px mosaics in nine pieces)
    restore each mosaic about as well as one crop does, and change nothing outside them."""
    from dataclasses import replace

    from pipelines.images import restore_image

    clean, mosaic, truth = across_tiles
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), mosaic[..., ::-1])
    outs = {}
    for name, tiles in (("whole", SMALL_TILES), ("blocks", replace(SMALL_TILES, area_size=64))):
        restore_image(src, tmp_path / f"{name}.png", None, None, "guided", detector_config, note=print, tiles=tiles)
        outs[name] = cv2.imread(str(tmp_path / f"{name}.png"))[..., ::-1]
    near = cv2.dilate(truth.astype(np.uint8), np.ones((17, 17), np.uint8)) > 0  # as the test above
    assert np.array_equal(outs["blocks"][~near], mosaic[~near])
    assert not np.array_equal(outs["blocks"], outs["whole"])  # the blocks really took another path
    for region in MOSAICS:
        inside = region.rasterise(*truth.shape)
        blocks, whole = region_psnr(outs["blocks"], clean, inside), region_psnr(outs["whole"], clean, inside)
        assert blocks > region_psnr(mosaic, clean, inside) + 0.3 and abs(blocks - whole) < 0.3, (blocks, whole)
