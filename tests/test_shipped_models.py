"""The models in models/: they load as weights (checksum, shapes), and the default one
restores a synthetic mosaic closer to the original than the mosaic was."""
import json

import numpy as np
import pytest
from conftest import smooth_image

from demosaic.artifact import DETECTOR_FORMAT, load_detector, load_model
from demosaic.detect import DEFAULT_SECOND_OPINION, DEFAULT_SEGMENTER
from demosaic.mosaic import MosaicRegion, pixelate
from demosaic.restore import MODELS_DIR, Restorer, default_model_path

CARDS = sorted(MODELS_DIR.glob("*.json"))
SHIPPED = [c for c in CARDS if json.loads(c.read_text())["format"] != DETECTOR_FORMAT]  # restorers


def test_shipped__default_models_exist():
    assert default_model_path("guided").exists()
    assert default_model_path("inpaint").exists()


@pytest.mark.parametrize("card", SHIPPED, ids=lambda p: p.stem)
def test_shipped__card_and_weights__load_with_checksum(card):
    model, meta = load_model(card)
    assert meta["sha256"] and meta["notice"].startswith("Restored detail is synthesised")
    assert meta["training"]["steps"] > 0 and "command" in meta["training"]
    assert model.count_params() == meta["parameters"]
    assert card.with_suffix(".npz").stat().st_size < 50 * 2 ** 20


def test_shipped__segmenter__loads_with_checksum_and_was_trained():
    model, meta = load_detector(DEFAULT_SEGMENTER)
    assert meta["training"]["steps"] > 0 and all("command" in stage for stage in meta["training"]["stages"])
    assert model.count_params() == meta["parameters"]
    assert meta["config"]["borders"] and model.output_shape[-1] == 3  # mask, column and row borders


def test_shipped__second_opinion__loads_with_checksum_and_was_trained_on_drawn_graphics():
    model, meta = load_detector(DEFAULT_SECOND_OPINION)
    assert meta["training"]["steps"] > 0 and meta["training"]["graphics"] > 0
    assert "--init models/demosaic-detect-v5.json" in meta["training"]["command"]  # fine-tuned from the first
    assert model.count_params() == meta["parameters"]


def test_shipped__guided_model__beats_the_mosaic_inside_it():
    original = smooth_image(np.random.default_rng(21), 192, 256)
    region = MosaicRegion("ellipse", ((40, 30), (220, 170)), (12, 12))
    observed, mask = pixelate(original, [region])
    restored = Restorer().restore(observed, [region.area(192, 256)])

    def mse(a):
        return np.mean((a.astype(float) - original)[mask] ** 2)

    assert mse(restored) < mse(observed)
    np.testing.assert_array_equal(restored[~mask], observed[~mask])
