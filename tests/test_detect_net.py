"""The learned segmenter: its block packing, weights files, training samples and loss, the
training command, and the shipped model's behaviour inside the detector."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import smooth_image

from demosaic.artifact import load_detector, save_detector
from demosaic.config import DetectNetConfig
from demosaic.detect import DEFAULT_SECOND_OPINION, DEFAULT_SEGMENTER, Detector, DetectorConfig, grid_line_error, iou
from demosaic.detect.config import NetConfig
from demosaic.detect.lattice import edge_lattice, edge_support
from demosaic.detect.learned import add_learned
from demosaic.detect.refits import split_lattices
from demosaic.detect_training import (CLASS, COLUMN_EDGE, FOCUS_CELL, IGNORE, MOSAIC, ROW_EDGE, coded_clip,
                                      flat_graphic, mosaic_sample, make_samples, masked_bce, scores, swap_edges)
from demosaic.errors import ModelError
from demosaic.mosaic import MosaicRegion, cell_edges, pixelate
from demosaic.video import h264_roundtrip


def test_space_to_depth__numpy_layout_and_inverse():
    from demosaic.detect_net import depth_to_space, space_to_depth

    x = np.arange(2 * 8 * 12 * 3, dtype=np.float32).reshape(2, 8, 12, 3)
    packed = np.asarray(space_to_depth(x, 4))
    assert packed.shape == (2, 2, 3, 48)
    # Block (1, 2) of image 1 holds its 4×4 pixels row by row, channels innermost.
    np.testing.assert_array_equal(packed[1, 1, 2], x[1, 4:8, 8:12].reshape(-1))
    np.testing.assert_array_equal(np.asarray(depth_to_space(packed, 4)), x)


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory):
    from demosaic.detect_net import build

    cfg = DetectNetConfig(width=4, context_width=4, dilations=(1, 2), borders=True)
    return save_detector(build(cfg), cfg, tmp_path_factory.mktemp("det") / "tiny", {"training": {"note": "test"}})


def test_segmenter__odd_frame_size__logits_per_pixel(tiny_detector, tmp_path):
    from demosaic.detect_net import Segmenter, build

    frame = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    logits = Segmenter.load(tiny_detector)(frame)  # mosaic, column borders, row borders
    assert logits.shape == (37, 53, 3) and logits.dtype == np.float32 and np.isfinite(logits).all()
    cfg = DetectNetConfig(width=4, context_width=4, dilations=(1,), borders=False)
    plain = save_detector(build(cfg), cfg, tmp_path / "plain")
    assert Segmenter.load(plain)(frame).shape == (37, 53, 1)


def test_segmenter__a_run__leaves_no_generated_source_in_the_temporary_directory(tiny_detector, tmp_path,
                                                                                 monkeypatch):
    """Each process traces the segmenter once; autograph would write its converted source to
    the temporary directory then, and leave it there: a studio's thousands of runs, as many
    files."""
    import tempfile

    from demosaic.detect_net import Segmenter

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    frame = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    assert Segmenter.load(tiny_detector)(frame).shape[:2] == (32, 48)  # a new function, traced here
    assert not list(tmp_path.glob("__autograph_generated_file*"))


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_segmenter__over_a_box__the_whole_frames_logits_there(precision):
    """`over` runs the network on a crop grown by its `reach`: the box gets the logits the
    whole frame gives it, at the frame's edges too (exactly in float32; in bfloat16 to its
    rounding, which depends on the kernels chosen for each size); a crop grown by one block
    lattice step less does not (the reach is no larger than it must be). Seeded weights,
    every one of them drawn, so that the widest dilation's taps carry signal."""
    from demosaic.config import to_dict
    from demosaic.detect_net import MULTIPLE, Segmenter, build, reach

    cfg = DetectNetConfig(width=4, context_width=4, dilations=(1, 2), borders=True)
    model = build(cfg)
    rng = np.random.default_rng(5)
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) for w in model.get_weights()])
    seg = Segmenter(model, {"config": to_dict(cfg)}, precision)
    assert reach(seg.net) == 40  # 4 px blocks: fine, stride-2 and spread layers, 2·(1 + 2) at 1/8, the block
    frame = np.random.default_rng(4).integers(0, 256, (203, 261, 3), dtype=np.uint8)
    whole = seg(frame)
    scale = np.abs(whole).max()
    for x0, y0, x1, y1 in [(100, 90, 150, 130), (0, 0, 30, 20), (230, 170, 261, 203), (41, 3, 260, 202), (77, 77, 78, 78)]:
        np.testing.assert_allclose(seg.over(frame, (x0, y0, x1, y1)), whole[y0:y1, x0:x1],
                                   rtol=0, atol=0 if precision == "float32" else 0.02 * scale)
    if precision != "float32":
        return
    short = reach(seg.net) - MULTIPLE
    crop = seg(frame[88 - short:130 + short, 96 - short:150 + short])
    assert not np.array_equal(crop[short + 2:short + 42, short + 4:short + 54], whole[90:130, 100:150])


@pytest.mark.parametrize("borders", [True, False])
def test_segmenter__inference_graph__matches_the_keras_model(borders):
    """The rearranged inference graph (`_inference`) computes the Keras model's function: to
    float rounding in float32, and on the same side of 0 almost everywhere in bfloat16."""
    from demosaic.config import to_dict
    from demosaic.detect_net import Segmenter, build, pad_to_multiple

    cfg = DetectNetConfig(width=8, context_width=12, dilations=(1, 3), borders=borders)
    model = build(cfg)
    rng = np.random.default_rng(3)
    model.set_weights([w if w.ndim > 1 else rng.normal(0, 0.2, w.shape).astype(np.float32) for w in model.get_weights()])
    # Exactly flat cells and smooth picture: the steps' zero and size features both vary.
    frame = pixelate(smooth_image(rng, 45, 61), [MosaicRegion("rect", ((5, 3), (40, 30)), (6, 5))])[0]
    expected = np.asarray(model(pad_to_multiple(frame).astype(np.float32)[None], training=False))[0, :45, :61]
    card = {"config": to_dict(cfg)}
    exact = Segmenter(model, card, "float32")(frame)
    assert exact.shape == expected.shape == (45, 61, 3 if borders else 1)
    np.testing.assert_allclose(exact, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    fast = Segmenter(model, card, "bfloat16")(frame)
    assert np.abs(fast - expected).max() < 0.05 * np.abs(expected).max()
    assert ((fast > 0) == (expected > 0)).mean() > 0.98
    with pytest.raises(ValueError, match="precision"):
        Segmenter(model, card, "float16")


def test_load_detector__tampered_weights_or_wrong_card__refused(tiny_detector, tmp_path):
    model, card = load_detector(tiny_detector)
    assert card["format"] == "demosaic-detector/1" and model.count_params() == card["parameters"]
    weights = tiny_detector.with_suffix(".npz")
    bad = tmp_path / "bad.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    (tmp_path / "bad.json").write_text(json.dumps({**card, "weights_file": "bad.npz"}))
    with pytest.raises(ModelError, match="SHA-256"):
        load_detector(tmp_path / "bad.json")
    from demosaic.artifact import load_model

    with pytest.raises(ModelError, match="not a demosaic-model/1"):
        load_model(tiny_detector)  # a detector is not a restorer


def test_mosaic_sample__labels__mosaic_where_visible_ignore_where_flat():
    rng = np.random.default_rng(3)
    textured = smooth_image(np.random.default_rng(4), 256, 256)
    frame, label = mosaic_sample(rng, textured, 128)
    cls = label & CLASS
    assert frame.shape == (128, 128, 3) and label.shape == (128, 128)
    assert (cls == MOSAIC).mean() > 0.03 and (cls == IGNORE).mean() < 0.2 * (cls > 0).mean()
    flat = np.full((256, 256, 3), 90, np.uint8)  # a mosaic over a flat area changes nothing: no one can see it
    frame, label = mosaic_sample(np.random.default_rng(3), flat, 128)
    assert ((label & CLASS) == MOSAIC).sum() == 0 and ((label & CLASS) == IGNORE).sum() > 0
    np.testing.assert_array_equal(frame, 90)


def test_cell_edges__first_and_last_pixel_of_every_cell():
    # Cells of 8 px starting at x = 3: [-5, 3), [3, 11), [11, 19), [19, 27).
    np.testing.assert_array_equal(np.flatnonzero(cell_edges(20, 8.0, 3.0)), [2, 3, 10, 11, 18, 19])
    # Scaled video: 6.5 px cells from 0 start at 0, 6.5 -> pixel 7, 13, 19.5 -> pixel 20.
    np.testing.assert_array_equal(np.flatnonzero(cell_edges(21, 6.5, 0.0)), [0, 6, 7, 12, 13, 19, 20])
    # Resized 1.5× after pixelation: source pixel 8 first lies under output pixel 12's centre.
    np.testing.assert_array_equal(np.flatnonzero(cell_edges(20, 8.0, 0.0, 1.5)), [0, 11, 12])


def test_mosaic_sample__border_bits_sit_on_the_cells_steps():
    """Uncompressed samples: steps between two mosaic pixels lie between two pixels marked as
    a cell's last and first (but where two regions meet, or scaling spread a step over two)."""
    rng = np.random.default_rng(11)
    textured = smooth_image(np.random.default_rng(12), 256, 256)
    checked, on_edges = 0, 0
    for _ in range(12):
        frame, label = mosaic_sample(rng, textured, 128)
        mosaic = (label & CLASS) == MOSAIC
        for axis, bit in ((1, COLUMN_EDGE), (0, ROW_EDGE)):
            step = np.abs(np.diff(frame.astype(int), axis=axis)).max(axis=-1) > 0
            edge = (label & bit) > 0
            pair = lambda m: (m[:, 1:] & m[:, :-1]) if axis == 1 else (m[1:] & m[:-1])
            inner = step & pair(mosaic)
            checked += inner.sum()
            on_edges += (pair(edge) & inner).sum()
        assert not ((label & (COLUMN_EDGE | ROW_EDGE)) > 0)[(label & CLASS) == 0].any()
    assert checked > 1000 and on_edges >= 0.9 * checked
    labels = label[None]
    np.testing.assert_array_equal(swap_edges(swap_edges(labels)), labels)
    np.testing.assert_array_equal((swap_edges(labels) & ROW_EDGE) > 0, (labels & COLUMN_EDGE) > 0)


def test_make_samples__shapes_dtypes_and_label_values():
    photos = [smooth_image(np.random.default_rng(i), 160, 160) for i in range(3)]
    frames, labels = make_samples(np.random.default_rng(0), photos, 24, 64)
    assert frames.shape == (24, 64, 64, 3) and frames.dtype == np.uint8
    assert labels.shape == (24, 64, 64) and set(np.unique(labels & CLASS)) <= {0, MOSAIC, IGNORE}
    assert set(np.unique(labels & (255 - CLASS))) <= {0, COLUMN_EDGE, ROW_EDGE, COLUMN_EDGE | ROW_EDGE}
    assert 0 < (labels > 0).mean() < 0.6


def _widest_cell(label: np.ndarray) -> int:
    """The widest run of mosaic pixels between column-border marks along any row (a cell's
    first and last columns are both marked, so a cell of width w leaves w - 2 between)."""
    widest = 0
    for row in label:
        cols = np.flatnonzero(((row & CLASS) == MOSAIC) & ((row & COLUMN_EDGE) > 0))
        if len(cols) > 1:
            widest = max(widest, int(np.diff(cols).max()) + 1)
    return widest


def test_make_samples__focus__small_coded_cells_and_clean_old_codec_crops():
    photos = [smooth_image(np.random.default_rng(i), 200, 200) for i in range(3)]
    frames, labels = make_samples(np.random.default_rng(4), photos, 24, 128, focus=1.0)
    has_mosaic = ((labels & CLASS) == MOSAIC).any(axis=(1, 2))
    assert 0 < (~has_mosaic).sum() < has_mosaic.sum()  # one in four clean, by design
    # Cells of at most FOCUS_CELL px, 1/0.7 wider where the sample was scaled after pixelation.
    assert max(_widest_cell(l) for l in labels[has_mosaic]) <= FOCUS_CELL / 0.7 + 1
    # The plain recipe at this size draws cells up to 32 px.
    _, plain = make_samples(np.random.default_rng(4), photos, 24, 128)
    assert max(_widest_cell(l) for l in plain) > FOCUS_CELL / 0.7 + 1


def test_make_samples__graphics__drawn_frames_half_clean_half_under_mosaics():
    grey = [np.full((200, 200, 3), 128, np.uint8)]  # a photo no drawn sample can be mistaken for
    frames, labels = make_samples(np.random.default_rng(5), grey, 24, 128, graphics=1.0)
    # Drawn, not the photo: a few drawings may be one flat colour, the grey photo always is.
    assert sum(len(np.unique(f.reshape(-1, 3), axis=0)) > 1 for f in frames) >= 20
    under_mosaic = ((labels & CLASS) == MOSAIC).any(axis=(1, 2))
    clean = ~(labels > 0).any(axis=(1, 2))
    assert under_mosaic.sum() >= 6 and clean.sum() >= 6  # half and half by design
    drawing = flat_graphic(np.random.default_rng(7), 96)
    assert drawing.shape == (96, 96, 3) and drawing.dtype == np.uint8
    assert (flat_graphic(np.random.default_rng(7), 96) == drawing).all()  # seeded


@pytest.mark.parametrize("codec", ["mpeg2video", "mjpeg"])
def test_coded_clip__old_dct_codecs_leave_8x8_blocks(codec):
    # A gentle ramp: at qscale 31 each 8×8 block keeps only its mean, so the ramp turns to steps.
    ramp = np.tile(np.linspace(40, 90, 64, dtype=np.float32)[None, :, None], (64, 1, 3))
    frames = np.stack([ramp, ramp.transpose(1, 0, 2)]).astype(np.uint8)
    coded = coded_clip(frames, codec, 31, "").astype(np.float32)
    assert coded.shape == frames.shape
    steps = np.abs(np.diff(coded[0].mean(axis=-1), axis=1)).mean(axis=0)  # mean step between columns x, x+1
    at_blocks = steps[7::8]  # between columns 8k-1 and 8k
    assert at_blocks.mean() > 2 * np.delete(steps, np.s_[7::8]).mean()


def test_masked_bce__matches_numpy_and_skips_ignored():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, (2, 8, 8, 1)).astype(np.float32)
    logits = rng.normal(0, 3, (2, 8, 8, 1)).astype(np.float32)
    p = 1 / (1 + np.exp(-logits))
    t = (labels == MOSAIC).astype(np.float64)
    w = labels != IGNORE
    expected = (-(t * np.log(p) + (1 - t) * np.log(1 - p)))[w].sum() / (w.sum() + 1.0)
    assert float(masked_bce(labels, logits)) == pytest.approx(expected, rel=1e-5)
    s = scores(labels[..., 0].astype(np.uint8), logits[..., 0])
    found, truth = logits[..., 0] > 0, labels[..., 0] == MOSAIC
    assert s["iou"] == pytest.approx((found & truth & w[..., 0]).sum() / ((found | truth) & w[..., 0]).sum())


def test_masked_bce__border_maps__numpy_over_mosaic_pixels():
    rng = np.random.default_rng(2)
    cls = rng.integers(0, 3, (2, 8, 8))
    column, row = rng.integers(0, 2, (2, 2, 8, 8))
    labels = (cls | np.where(cls > 0, column * COLUMN_EDGE | row * ROW_EDGE, 0)).astype(np.uint8)
    logits = rng.normal(0, 3, (2, 8, 8, 3)).astype(np.float32)

    def bce(t, z):
        p = 1 / (1 + np.exp(-z.astype(np.float64)))
        return -(t * np.log(p) + (1 - t) * np.log(1 - p))

    w, m = cls != IGNORE, cls == MOSAIC
    expected = (bce(m, logits[..., 0])[w].sum() / (w.sum() + 1.0)
                + (bce((labels & COLUMN_EDGE) > 0, logits[..., 1]) + bce((labels & ROW_EDGE) > 0, logits[..., 2]))[m].sum()
                / (m.sum() + 1.0))
    assert float(masked_bce(labels[..., None].astype(np.float32), logits)) == pytest.approx(expected, rel=1e-5)
    s = scores(labels, logits)
    f, t = (logits[..., 1] > 0) & m, ((labels & COLUMN_EDGE) > 0) & m
    g, u = (logits[..., 2] > 0) & m, ((labels & ROW_EDGE) > 0) & m
    assert s["border_iou"] == pytest.approx(((f & t).sum() / (f | t).sum() + (g & u).sum() / (g | u).sum()) / 2)


@pytest.mark.slow
def test_train_detector_cli__trains_exports_and_resumes(photo_dir, tmp_path):
    from cli import main

    args = ["train-detector", "--data", str(photo_dir), "--out", str(tmp_path / "run"), "--samples", "24",
            "--val-samples", "8", "--crop", "64", "--batch", "4", "--val-every", "2", "--width", "8", "--context-width", "12"]
    first = CliRunner().invoke(main, args + ["--steps", "2"])
    assert first.exit_code == 0, first.output
    card = json.loads((tmp_path / "run" / "model.json").read_text())
    assert card["training"]["steps"] == 2 and card["training"]["history"][-1]["step"] == 2
    again = CliRunner().invoke(main, args + ["--steps", "4"])
    assert again.exit_code == 0, again.output
    assert "resuming" in again.output and "trained 4 steps" in again.output
    model, card = load_detector(tmp_path / "run" / "model.json")
    assert card["training"]["steps"] == 4
    assert (card["config"]["width"], card["config"]["context_width"], card["config"]["borders"]) == (8, 12, True)


# --- the shipped segmenter inside the detector ----------------------------------------------

needs_model = pytest.mark.skipif(not (DEFAULT_SEGMENTER.exists() and DEFAULT_SECOND_OPINION.exists()),
                                 reason="no shipped segmenters")
CLASSICAL = DetectorConfig(learned="")


@pytest.fixture(scope="module")
def learned():
    return Detector(DetectorConfig())


@needs_model
@pytest.mark.parametrize("cell,crf", [(12, 28), (24, 28), (8, 23)])
def test_learned__coded_mosaic__found_with_its_grid(learned, cell, crf):
    photo = smooth_image(np.random.default_rng(cell + crf), 288, 384)
    region = MosaicRegion("ellipse", ((70, 50), (310, 240)), (cell, cell))
    mosaic, truth = pixelate(photo, [region])
    frame = h264_roundtrip(mosaic, crf)
    found = learned.detect(frame)
    assert iou(found.mask, truth) >= 0.7
    assert iou(found.mask, truth) >= iou(Detector(CLASSICAL).detect(frame).mask, truth)
    # The region covering the mosaic has its grid: every true cell border within 1 px.
    main = max(range(len(found.regions)), key=lambda k: (found.labels == k + 1)[truth].sum())
    assert grid_line_error(found.regions[main].grid, region.grid(), region.bbox) <= 1.0


@needs_model
@pytest.mark.parametrize("crf", [None, 23])
def test_learned__clean_frames__no_mask(learned, crf):
    photo = smooth_image(np.random.default_rng(9), 288, 384)
    tiles = np.full((288, 384, 3), 200, np.uint8)
    tiles[::32] = 90
    tiles[:, ::32] = 90
    for frame in (photo, tiles, np.full((288, 384, 3), 40, np.uint8)):
        frame = frame if crf is None else h264_roundtrip(frame, crf)
        assert learned.detect(frame).mask.mean() < 0.005


@needs_model
def test_learned__drawn_flat_graphics__the_second_opinion_leaves_them_alone(learned):
    """Drawings (flat colours, edges on a lattice; no mosaic) after H.264: the first segmenter
    alone marks a tenth to half of each of these frames, and the detector with the shipped
    second opinion marks nothing."""
    alone = Detector(DetectorConfig(second_opinion=""))
    for seed in (0, 1, 2, 3):
        frame = h264_roundtrip(flat_graphic(np.random.default_rng(seed), 384)[:288], 18)
        assert alone.detect(frame).mask.mean() > 0.1
        assert not learned.detect(frame).mask.any()


@needs_model
def test_learned__uncompressed_mosaic_over_a_drawing__kept_though_the_second_opinion_doubts_it(learned):
    """Uncompressed regions are exact (every cell one colour, exact borders): evidence enough,
    so the second segmenter is not asked about them, even where it doubts them (a mosaic over
    a drawing shows mostly flat cells, as the drawing does)."""
    from demosaic.detect.evidence import sigmoid

    drawing = flat_graphic(np.random.default_rng(211), 512)[:384]
    mosaic, truth = pixelate(drawing, [MosaicRegion("rect", ((96, 64), (352, 288)), (16, 16))])
    assert sigmoid(learned.second_opinion(mosaic)[..., 0])[truth].mean() < learned.cfg.net.second_score
    found = learned.detect(mosaic, coded=False)
    assert iou(found.mask, truth) > 0.8
    np.testing.assert_array_equal(found.mask, Detector(DetectorConfig(second_opinion="")).detect(mosaic, coded=False).mask)


# --- fitting a lattice to border maps (no trained model needed) -----------------------------

def _border_logits(height, width, grid, part, rng, noise=1.0):
    """Border-map logits as a good segmenter would give them: +4 on each cell's first and
    last column (row) inside `part`, -4 elsewhere, plus noise."""
    logits = np.full((height, width, 2), -4.0)
    logits[..., 0][:, cell_edges(width, grid.pitch[0], grid.origin[0])] = 4.0
    logits[..., 1][cell_edges(height, grid.pitch[1], grid.origin[1]), :] = 4.0
    logits += rng.normal(0, noise, logits.shape)
    return np.where(part[..., None], logits, -4.0).astype(np.float32)


@pytest.mark.parametrize("pitch,origin", [((8.0, 8.0), (0.0, 0.0)), ((13.0, 11.0), (5.0, 2.0)), ((5.0, 5.0), (2.0, 4.0)),
                                          ((7.0, 10.0), (1.0, 5.0)), ((40.0, 40.0), (17.0, 9.0))])
def test_edge_lattice__recovers_the_grid_from_border_maps(pitch, origin):
    from demosaic.mosaic import Grid

    grid = Grid(pitch, origin)
    part = MosaicRegion("ellipse", ((30, 20), (230, 170)), (8, 8)).rasterise(200, 260)
    edges = _border_logits(200, 260, grid, part, np.random.default_rng(0))
    det = Detector(DetectorConfig(learned=""))
    found = edge_lattice(det.cfg, edges, slice(20, 170), slice(30, 230), part[20:170, 30:230])
    assert found is not None and grid_line_error(found, grid, (30, 20, 230, 170)) <= 1.0
    # Border support: high on the true lattice, none on one shifted by half a cell.
    everywhere = (slice(0, 200), slice(0, 260), part)
    shifted = Grid(pitch, (origin[0] + pitch[0] / 2, origin[1] + pitch[1] / 2))
    assert edge_support(edges, grid, *everywhere) > 0.5 > 0.1 > edge_support(edges, shifted, *everywhere)


def test_edge_lattice__one_border_on_an_axis__fixes_its_phase():
    """A region two 40 px cells tall shows one row border: the comb across (pitch 40) stands
    in for the rows' pitch and that border gives their phase (not the frame's origin)."""
    from demosaic.mosaic import Grid

    grid = Grid((40.0, 40.0), (17.0, 29.0))
    part = np.zeros((200, 260), bool)
    part[55:105, 30:230] = True  # rows 55-104: one border, between rows 68 and 69
    edges = _border_logits(200, 260, grid, part, np.random.default_rng(1))
    det = Detector(DetectorConfig(learned=""))
    found = edge_lattice(det.cfg, edges, slice(55, 105), slice(30, 230), part[55:105, 30:230])
    assert found is not None and grid_line_error(found, grid, (30, 55, 230, 105)) <= 1.0
    off = edge_lattice(DetectorConfig(learned="", net=NetConfig(one_tooth=0)),
        edges, slice(55, 105), slice(30, 230), part[55:105, 30:230])
    assert off is not None and grid_line_error(off, grid, (30, 55, 230, 105)) > 5  # phase 0 instead


def test_edge_lattice__two_teeth_a_multiple_apart__take_the_other_axis_pitch():
    """Rows show only the borders at 64 and 128 px of a 32 px lattice (the one between is
    missed): the two teeth say 64, the full comb across says 32, and the rows take 32."""
    from demosaic.mosaic import Grid

    grid = Grid((32.0, 32.0), (0.0, 0.0))
    part = np.zeros((200, 260), bool)
    part[40:150, 20:240] = True
    edges = _border_logits(200, 260, grid, part, np.random.default_rng(2))
    rows = np.arange(200)
    edges[..., 1][(np.abs(rows - 96) <= 1) | (np.abs(rows - 95) <= 1), :] = -4.0  # the border at 96 unseen
    det = Detector(DetectorConfig(learned=""))
    found = edge_lattice(det.cfg, edges, slice(40, 150), slice(20, 240), part[40:150, 20:240])
    assert found is not None and found.pitch[1] == pytest.approx(32.0, abs=0.5)
    assert grid_line_error(found, grid, (20, 40, 240, 150)) <= 1.0


def test_local_support__matches_a_numpy_window_reference():
    from demosaic.detect.lattice import local_support
    from demosaic.mosaic import Grid

    rng = np.random.default_rng(3)
    prob = rng.random((30, 40, 2)).astype(np.float32)
    own = rng.random((30, 40)) < 0.7
    grid, corner, window = Grid((6.0, 5.0), (2.0, 1.0)), (11, 7), 7
    got = local_support(prob, own, grid, corner, window)
    on = [cell_edges(corner[0] + 40, 6.0, 2.0)[corner[0]:][None, :].repeat(30, 0),
          cell_edges(corner[1] + 30, 5.0, 1.0)[corner[1]:][:, None].repeat(40, 1)]
    r = window // 2
    for y in range(30):
        for x in range(40):
            box = (slice(max(y - r, 0), y + r + 1), slice(max(x - r, 0), x + r + 1))
            diffs = []
            for c in (0, 1):
                a, b = own[box] & on[c][box], own[box] & ~on[c][box]
                if a.any() and b.any():
                    diffs.append(prob[box][..., c][a].mean() - prob[box][..., c][b].mean())
            assert got[y, x] == pytest.approx(np.mean(diffs) if diffs else 0.0, abs=1e-4)


def test_split_lattices__two_overlapping_mosaics__get_a_grid_each():
    """One region whose left part has cells at phase 0 and right part at phase 8 (16 px
    cells, as two overlapping mosaics each aligned to its own corner): it splits in two
    along the seam, each part with its own grid."""
    from demosaic.detect import Region
    from demosaic.mosaic import Grid

    rng = np.random.default_rng(4)
    left, right = Grid((16.0, 16.0), (0.0, 0.0)), Grid((16.0, 16.0), (8.0, 8.0))
    part = np.zeros((240, 320), bool)
    part[32:208, 32:288] = True
    seam = np.zeros_like(part)
    seam[:, 160:] = True
    edges = np.where(seam[..., None], _border_logits(240, 320, right, part, rng), _border_logits(240, 320, left, part, rng))
    given = part.astype(np.int32)
    given_regions = [Region((32, 32, 288, 208), left.pitch, left.origin, "mean", 176, 1.0)]
    labels, regions, closed = split_lattices(DetectorConfig(learned=""), edges, given, given_regions)
    assert closed is None
    assert len(given_regions) == 1 and (given == part).all()  # what it was given is left as it was
    assert len(regions) == 2 and set(np.unique(labels)) == {0, 1, 2}
    assert (labels > 0).sum() == part.sum()  # the mask is unchanged; only its labels split
    for truth, side in ((left, ~seam), (right, seam)):
        k = np.bincount(labels[part & side]).argmax()
        assert (labels[part & side] == k).mean() > 0.9  # the seam within a window of the truth
        x0, y0, x1, y1 = regions[k - 1].bbox
        assert grid_line_error(regions[k - 1].grid, truth, (x0, y0, x1, y1)) <= 1.0
    # One lattice throughout: nothing to split.
    edges = _border_logits(240, 320, left, part, rng)
    labels, regions = part.astype(np.int32), [Region((32, 32, 288, 208), left.pitch, left.origin, "mean", 176, 1.0)]
    labels, regions, _ = split_lattices(DetectorConfig(learned=""), edges, labels, regions)
    assert len(regions) == 1 and labels.max() == 1


@pytest.mark.parametrize("reopen,uncompressed,grows,coded", [(1.0, False, True, False), (8.0, False, True, False),
                                                             (0.0, False, False, False), (10.0, False, False, False),
                                                             (1.0, True, False, False), (0.0, True, True, True)])
def test_add_learned__exact_region_the_network_outgrows__grows_when_told(reopen, uncompressed, grows, coded):
    """A region of exactly flat 32 px cells (as coded large cells can stay) with the network's
    mosaic running nine cells beyond it: it is part of a larger coded mosaic and grows, unless
    reopening is off or asks for more cells than that, or its cells are exactly one colour to
    their borders (an uncompressed mosaic: its exact borders stand against the network's).
    In a frame decoded from lossy video (`coded`) no region is uncompressed: it grows."""
    from demosaic.detect import Region
    from demosaic.detect.exact import uncompressed_regions

    height = width = 256
    labels = np.zeros((height, width), np.int32)
    labels[32:128, 32:128] = 1
    regions = [Region((32, 32, 128, 128), (32.0, 32.0), (0.0, 0.0), "mean", 9, 1.0)]
    logits = np.full((height, width), -5.0, np.float32)
    logits[32:128, 32:224] = 5.0
    exact = np.ones((height, width), bool)
    none = np.zeros((height, width), bool)
    det = Detector(DetectorConfig(learned="", net=NetConfig(reopen=reopen)))
    colour = np.zeros((height, width, 3), np.uint8)
    if not uncompressed:
        colour[:, ::32] = 9  # each cell's first column a shade off: not exactly one colour, as coded cells
    given, given_regions = labels.copy(), list(regions)
    labels, regions, closed = add_learned(det.cfg, logits, None, colour[..., :1], colour, none, none, labels, regions,
                                          uncompressed_regions(labels, regions, exact, coded))
    assert (given == 1).sum() == 96 * 96 and given_regions[0].bbox == (32, 32, 128, 128)  # left as they were
    assert labels.dtype == np.int32
    assert closed == [False, not grows]
    assert (labels == 1).sum() == 96 * (192 if grows else 96)
    assert regions[0].bbox == ((32, 32, 224, 128) if grows else (32, 32, 128, 128))


def test_comb__near_whole_pitch__whole_where_it_fits_the_teeth():
    """Four blurred borders of a 32 px lattice, each off by up to ±0.4 px: the least-squares
    pitch is fractional and drifts, the whole pitch fits every tooth within a pixel. A scaled
    lattice (12.2 px over 12 borders) drifts 2.4 px on a whole pitch, so it stays fractional."""
    from demosaic.detect.combs import find_comb

    cfg = DetectorConfig()
    teeth = [(np.array([10.0, 42.0, 74.0, 106.0]) + np.array([0.4, -0.3, 0.2, -0.4]), 140),
             (5.0 + 12.2 * np.arange(12), 160)]
    for k, (pos, n) in enumerate(teeth):
        profile = np.zeros(n)
        for t in pos:  # a tooth as two pixels sharing its weight, centroid at t
            i = int(np.floor(t))
            profile[i], profile[i + 1] = 10 * (1 - (t - i)), 10 * (t - i)
        fractional = find_comb(profile, cfg)
        whole = find_comb(profile, cfg, whole_pitch=0.25)
        if k == 0:
            assert fractional[0] != 32.0 and whole[0] == 32.0
            assert np.abs((pos - whole[1]) - 32 * np.round((pos - whole[1]) / 32)).max() <= 1.0
        else:
            assert whole == fractional and abs(whole[0] - 12.2) < 0.05


def test_chroma_subsampled__decoded_video_only():
    """Decoded 4:2:0 video shows one chroma value per aligned 2×2 block; a photo does not,
    and a grey frame cannot tell (no colour texture)."""
    import cv2

    from demosaic.detect.evidence import chroma_subsampled
    from demosaic.video import h264_roundtrip

    rng = np.random.default_rng(5)
    photo = smooth_image(rng, 240, 320)
    assert not chroma_subsampled(photo)
    assert chroma_subsampled(h264_roundtrip(photo, 23))
    grey = np.repeat(photo.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    assert not chroma_subsampled(h264_roundtrip(grey, 23))
    # The same test on a NumPy 4:2:0 frame: chroma averaged over 2×2 blocks and repeated.
    ycc = cv2.cvtColor(photo, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    chroma = ycc[..., 1:].reshape(120, 2, 160, 2, 2).mean(axis=(1, 3))
    ycc[..., 1:] = np.repeat(np.repeat(chroma, 2, axis=0), 2, axis=1)
    assert chroma_subsampled(cv2.cvtColor(np.round(ycc).astype(np.uint8), cv2.COLOR_YCrCb2RGB))


@pytest.mark.parametrize("flags, fast", [
    ("fpu vme avx2 avx512f avx512_bf16 avx512_vnni", True),     # AMD Zen 4
    ("fpu avx512f amx_bf16 amx_tile amx_int8", True),           # Intel Sapphire Rapids
    ("fpu vme avx2 avx512f avx512_vnni", False),                # AVX-512 without BF16
    ("fpu vme avx2 avx512_bf16x", False),                       # a flag only alike
])
def test_bfloat16_is_fast__reads_the_cpu_flags(tmp_path, flags, fast):
    from demosaic.detect_net import bfloat16_is_fast

    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: {flags}\nbogomips\t: 1\n\n"
                    f"processor\t: 1\nflags\t\t: {flags}\n")
    assert bfloat16_is_fast(str(info)) is fast
    assert bfloat16_is_fast(str(tmp_path / "missing")) is False
