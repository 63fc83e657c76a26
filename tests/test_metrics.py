"""Metrics against known answers, and `demosaic evaluate` writing its report."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from cli import main
import cv2

from demosaic.metrics import LPIPS, STEP_FLOOR, border_step_ratio, grid_visibility, psnr, ssim
from demosaic.mosaic import Grid, GridArea, cell_colour_guide, pixelate_areas


def test_psnr__known_values():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255  # MSE = 255² / 48
    assert psnr(a, b) == pytest.approx(10 * np.log10(48))
    assert psnr(a, a) == float("inf")
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True  # MSE over that pixel's 3 values = 255² / 3
    assert psnr(a, b, mask) == pytest.approx(10 * np.log10(3))


def test_border_step_ratio__hand_computed():
    # Rows [0 1 5 6] twice, 2 px cells: across the border one step of 4 a row; inside, steps of
    # 1, 1 a row and the four vertical steps of 0 (both rows are in one cell): mean 0.5.
    image = np.array([[0, 1, 5, 6], [0, 1, 5, 6]], np.float64)
    assert border_step_ratio(image, np.ones((2, 4), bool), (2.0, 2.0), (0.0, 0.0)) == pytest.approx((4 + STEP_FLOOR) / (0.5 + STEP_FLOOR))
    # The lattice moved by one pixel: the steps of 4 are inside cells now (with the four 0s), the 1s across.
    assert border_step_ratio(image, np.ones((2, 4), bool), (2.0, 2.0), (1.0, 0.0)) == pytest.approx((1 + STEP_FLOOR) / (8 / 6 + STEP_FLOOR))


def test_grid_visibility__truth_is_one_mosaic_far_above_bicubic_between(rng):
    truth = cv2.GaussianBlur(rng.uniform(0, 255, (96, 128, 3)), (0, 0), 3).astype(np.uint8)
    mask = np.zeros((96, 128), bool)
    mask[16:80, 16:112] = True
    area = GridArea(mask, Grid((8.0, 8.0), (16.0, 16.0)))
    mosaic, _ = pixelate_areas(truth, [area])
    bicubic = np.clip(np.rint(cell_colour_guide(mosaic, [area])), 0, 255).astype(np.uint8)
    vis = {name: grid_visibility(img, truth, mask, (8.0, 8.0), (16.0, 16.0))
           for name, img in (("truth", truth), ("mosaic", mosaic), ("bicubic", bicubic))}
    assert vis["truth"] == pytest.approx(1.0)
    assert vis["mosaic"] > 20
    assert 0.5 < vis["bicubic"] < 2.0, vis


def test_ssim__identical_is_one_and_noise_lowers_it(rng):
    from conftest import smooth_image

    image = smooth_image(rng, 40, 50)
    assert ssim(image, image) == pytest.approx(1.0)
    noisy = np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    assert ssim(image, noisy) < 0.8
    # A constant offset keeps structure: SSIM stays high, unlike PSNR.
    flat = np.full((40, 50, 3), 100, np.uint8)
    assert ssim(flat, flat + 5) > 0.99


@pytest.mark.slow
def test_lpips__zero_for_identical_large_for_different(rng):
    from conftest import smooth_image

    lpips = LPIPS()
    a = smooth_image(rng, 64, 64)
    assert lpips(a, a) == pytest.approx(0.0, abs=1e-6)
    blurred = np.asarray(__import__("cv2").GaussianBlur(a, (9, 9), 3))
    other = rng.integers(0, 256, a.shape).astype(np.uint8)
    assert 0 < lpips(a, blurred) < lpips(a, other)
    assert lpips(a, other) > 0.3


@pytest.mark.slow
def test_evaluate__writes_report_metrics_charts_and_crops(photo_dir, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["evaluate", "--images", str(photo_dir), "--limit", "2", "--cells", "8",
                                       "--out", str(out), "--no-paper"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"report.md", "metrics.json", "psnr_by_cell.png", "lpips_by_cell.png", "crops_1.png"} <= names
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["summary"]) == {"mosaic", "bicubic", "lanczos", "telea", "pconv (pure)", "guided",
                                       "guided (detected)"}
    assert metrics["summary"]["bicubic"]["8"]["psnr"] > metrics["summary"]["mosaic"]["8"]["psnr"]
    # The consistency step holds every reachable cell's mean to its colour (uint8 output: within 1 level).
    assert metrics["summary"]["guided"]["8"]["cell_mean_error_max"] < 1.0
    assert metrics["summary"]["bicubic"]["8"]["cell_mean_error_max"] > 1.0
    assert "| guided |" in (out / "report.md").read_text()
    again = CliRunner().invoke(main, ["evaluate", "--images", str(photo_dir), "--out", str(out)])
    assert again.exit_code == 2 and "not empty" in again.output
    # As video arrives: the same mosaics through H.264 first; the consistency step holds the
    # cell means to what the coded frame shows.
    coded = tmp_path / "coded"
    result = CliRunner().invoke(main, ["evaluate", "--images", str(photo_dir), "--limit", "2", "--cells", "8",
                                       "--out", str(coded), "--no-paper", "--crf", "30"])
    assert result.exit_code == 0, result.output
    after = json.loads((coded / "metrics.json").read_text())
    assert after["config"]["crf"] == 30 and "CRF 30" in (coded / "report.md").read_text()
    assert after["summary"]["mosaic"]["8"]["psnr"] != metrics["summary"]["mosaic"]["8"]["psnr"]
    # Whole cells exactly; a cut cell may keep its mean within the slack of a few times the
    # coding noise (consistency.evidence), so over all cells only that bound holds.
    assert after["summary"]["guided"]["8"]["whole_cell_mean_error_max"] < 1.0


def test_evaluate__bad_cells_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["evaluate", "--cells", "8,x", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--cells" in result.output
