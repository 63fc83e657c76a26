import json

import numpy as np
import pytest
from conftest import smooth_image

from demosaic.artifact import load_model, save_model
from demosaic.config import UNetConfig
from demosaic.errors import ModelError
from demosaic.consistency import cell_means
from demosaic.mosaic import MosaicRegion, pixelate
from demosaic.restore import Restorer, plan_crops
from demosaic.unet import build_model

CFG = UNetConfig(depth=3, base_channels=8, max_channels=16)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A small guided model with non-zero residual weights, saved in the shipped format."""
    model = build_model(CFG)
    rng = np.random.default_rng(0)
    for v in model.trainable_variables:
        v.assign(np.asarray(v) + rng.normal(0, 0.02, v.shape).astype(np.float32))
    return save_model(model, CFG, tmp_path_factory.mktemp("model") / "tiny", {"training": {"note": "test"}})


def test_save_and_load__round_trip__same_outputs(model_path, rng):
    model, card = load_model(model_path)
    assert card["config"]["depth"] == 3 and card["size_multiple"] == 8 and len(card["sha256"]) == 64
    x = {"image": rng.random((1, 16, 16, 3), np.float32), "valid": np.ones((1, 16, 16, 1), np.float32),
         "guide": rng.random((1, 16, 16, 3), np.float32)}
    again, _ = load_model(model_path)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(again(x)), atol=1e-6)


def test_load_model__tampered_weights__refused(model_path, tmp_path):
    weights = tmp_path / "bad.npz"
    weights.write_bytes(model_path.with_suffix(".npz").read_bytes()[:-10] + b"0123456789")
    card = json.loads(model_path.read_text())
    (tmp_path / "bad.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="SHA-256"):
        load_model(tmp_path / "bad.json")


def test_load_model__wrong_shapes__refused(model_path, tmp_path):
    other = UNetConfig(depth=3, base_channels=4, max_channels=8)
    card_path = save_model(build_model(other), other, tmp_path / "other")
    card = json.loads(card_path.read_text())
    card["config"] = json.loads(model_path.read_text())["config"]  # claims the other architecture
    card_path.write_text(json.dumps(card))
    with pytest.raises(ModelError, match="shape"):
        load_model(card_path)


@pytest.mark.parametrize("size", [(75, 101), (6, 9)])
def test_restore__outside_the_mask__bit_identical(model_path, size):
    frame = smooth_image(np.random.default_rng(2), *size)
    h, w = size
    region = MosaicRegion("ellipse", ((w * 0.2, h * 0.2), (w * 0.8, h * 0.85)), (4, 4))
    observed, mask = pixelate(frame, [region])
    out = Restorer(model_path).restore(observed, [region.area(h, w)])
    assert out.shape == observed.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[~mask], observed[~mask])


def test_restore__a_run__leaves_no_generated_source_in_the_temporary_directory(model_path, tmp_path, monkeypatch):
    """A new restorer traces its network on first use; autograph would write the converted
    source to the temporary directory then, and leave it there, on every run."""
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    frame = smooth_image(np.random.default_rng(4), 48, 64)
    region = MosaicRegion("rect", ((8, 8), (56, 40)), (8, 8))
    observed, _ = pixelate(frame, [region])
    Restorer(model_path).restore(observed, [region.area(48, 64)])
    assert not list(tmp_path.glob("__autograph_generated_file*"))


def test_restore__mean_cells__keep_the_observed_colour(model_path):
    frame = smooth_image(np.random.default_rng(3), 96, 128)
    region = MosaicRegion("rect", ((16, 16), (112, 80)), (8, 8))
    observed, mask = pixelate(frame, [region])
    area = region.area(96, 128)
    out = Restorer(model_path).restore(observed, [area])
    got, _ = cell_means(out.astype(float), area)
    want, _ = cell_means(observed.astype(float), area)
    assert np.abs(got - want).max() <= 1.0  # within 1/255 of the scale
    assert np.abs(out[mask].astype(int) - observed[mask]).max() > 0  # and the cells did change


def test_restore_many__batched__equals_one_at_a_time(model_path):
    frames, areas = [], []
    for seed in range(3):
        frame = smooth_image(np.random.default_rng(seed), 64, 64)
        region = MosaicRegion("rect", ((8, 8), (40, 40)), (8, 8))
        frames.append(pixelate(frame, [region])[0])
        areas.append([region.area(64, 64)])
    frames.append(smooth_image(np.random.default_rng(9), 64, 64))  # no mosaic: untouched
    areas.append([])
    restorer = Restorer(model_path)
    together = restorer.restore_many(frames, areas)
    for frame, area, got in zip(frames, areas, together):
        np.testing.assert_array_equal(got, restorer.restore(frame, area))
    np.testing.assert_array_equal(together[-1], frames[-1])
    # The per-frame steps on one thread (a Ray CPU actor's share) give the same frames.
    for got, alone in zip(together, Restorer(model_path, threads=1).restore_many(frames, areas)):
        np.testing.assert_array_equal(got, alone)


def test_restorer__bfloat16__close_to_float32_and_says_so(model_path, rng):
    from demosaic.errors import InputError
    from demosaic.restore import resolve_precision

    frame = smooth_image(rng, 64, 96)
    region = MosaicRegion("rect", ((16, 16), (80, 56)), (8, 8))
    observed, mask = pixelate(frame, [region])
    areas = [region.area(64, 96)]
    wide, narrow = Restorer(model_path), Restorer(model_path, precision="bfloat16")
    assert (wide.precision, narrow.precision) == ("float32", "bfloat16")
    a, b = wide._run([(0, None, observed, mask, observed)])[0], narrow._run([(0, None, observed, mask, observed)])[0]
    assert a.dtype == b.dtype == np.float32
    # bfloat16 keeps 8 bits of mantissa: the network's output moves, by well under a level on average.
    assert 0 < np.abs(a - b).mean() * 255 < 1.0
    np.testing.assert_array_equal(wide.restore(observed, areas)[~mask], narrow.restore(observed, areas)[~mask])
    # One trace for any crop size and batch (an input signature), in either arithmetic.
    other = smooth_image(rng, 96, 128)
    wide.restore(other, [MosaicRegion("rect", ((8, 8), (120, 88)), (8, 8)).area(96, 128)])
    assert wide._infer.experimental_get_tracing_count() == 1
    with pytest.raises(InputError):
        resolve_precision("float16")
    assert resolve_precision("float32") == "float32"


def test_plan_crops__cover_the_mask_with_multiples():
    mask = np.zeros((100, 150), bool)
    mask[10:20, 10:30] = True
    mask[70:95, 100:148] = True
    boxes = plan_crops(mask, 16, 4)
    covered = np.zeros_like(mask)
    for b in boxes:
        assert (b.y1 - b.y0) % 16 == 0 and (b.x1 - b.x0) % 16 == 0
        assert 0 <= b.y0 < b.y1 <= 100 and 0 <= b.x0 < b.x1 <= 150
        covered[b.y0:b.y1, b.x0:b.x1] = True
    assert covered[mask].all() and len(boxes) == 2


def test_plan_crops__labelled_near_the_mask__same_boxes_in_the_same_order_as_the_whole_frame():
    # The reference labels the whole frame (what plan_crops did before it worked on the mask's
    # box): the boxes and their order (which decides the network's batches) must not change.
    import cv2
    from demosaic.restore import Box

    def whole_frame(mask, multiple, margin):
        def grow(lo, hi, limit):
            size = min(-(-(hi - lo) // multiple) * multiple, max(limit // multiple * multiple, multiple))
            lo = max(0, min(lo - (size - (hi - lo)) // 2, limit - size))
            return lo, min(lo + size, limit)
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
        out = []
        for x, y, w, h, _ in stats[1:count]:
            (y0, y1), (x0, x1) = grow(y, y + h, mask.shape[0]), grow(x, x + w, mask.shape[1])
            out.append(Box(y0, x0, y1, x1))
        return out

    rng = np.random.default_rng(3)
    for _ in range(300):
        height, width = rng.integers(20, 300, 2)
        mask = np.zeros((height, width), bool)
        for _ in range(rng.integers(0, 8)):
            y, x = rng.integers(0, height), rng.integers(0, width)
            mask[y:y + rng.integers(1, 50), x:x + rng.integers(1, 50)] = True
        for multiple, margin in ((16, 16), (8, 0), (32, 5), (8, 1)):
            assert plan_crops(mask, multiple, margin) == whole_frame(mask, multiple, margin)


def test_restore_frames__grid_half_a_cell_off__region_kept_as_it_came(model_path):
    frame = smooth_image(np.random.default_rng(5), 64, 96)
    frame = np.clip(frame + np.random.default_rng(6).normal(0, 12, frame.shape), 0, 255).astype(np.uint8)
    region = MosaicRegion("rect", ((16, 16), (80, 56)), (8, 8))
    observed, mask = pixelate(frame, [region])
    restorer = Restorer(model_path)
    wrong = region.area(64, 96)._replace(grid=region.grid().__class__((8, 8), (4, 4)))
    (out, outcome, _), = restorer.restore_frames([observed], [[wrong]])
    assert outcome == (1, 0, 0, 1, 0)
    np.testing.assert_array_equal(out, observed)
    (out, outcome, _), = restorer.restore_frames([observed], [[region.area(64, 96)]])
    assert outcome.regions == 1 and outcome.restored + outcome.guide == 1
    assert (out != observed).any()
