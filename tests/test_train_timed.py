"""scripts/train_detector_timed.py, the recipe demosaic-detect-v5 was trained with: within
its wall-clock budget it makes samples, trains every shape asked for side by side, and
exports each as a detector that loads like the shipped one."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import smooth_image

from demosaic.artifact import load_detector

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_detector_timed.py"


@pytest.mark.slow
def test_train_detector_timed__two_shapes_within_budget__export_loadable_detectors(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(5)
    for k in range(3):
        cv2.imwrite(str(photos / f"p{k}.png"), smooth_image(rng, 288, 320)[..., ::-1])
    subprocess.run([sys.executable, str(SCRIPT), "--data", str(photos), "--out", str(tmp_path / "run"),
                    "--export-to", str(tmp_path / "models"), "--seconds", "40", "--sample-seconds", "10",
                    "--samples", "500", "--val-samples", "8", "--batch", "2", "--export-every", "1000",
                    "--net", "8,8", "--net", "8,16"], check=True, capture_output=True, timeout=300)
    for name, width, context in (("w8c8", 8, 8), ("w8c16", 8, 16)):
        model, card = load_detector(tmp_path / "models" / f"demosaic-detect-timed-{name}.json")
        assert card["config"] == {"width": width, "context_width": context, "dilations": [1, 2, 4, 8], "borders": True}
        assert card["training"]["final"] and card["training"]["steps"] > 0 and card["training"]["samples"] == 500
        # The script keeps its own budget (its clock starts after the imports; the machine's
        # load only slows what happens inside it, which it watches).
        assert card["training"]["wall_seconds"] <= 40 + 10
        assert model.output_shape[-1] == 3  # mask and both border maps
