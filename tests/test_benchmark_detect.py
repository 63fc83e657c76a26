import cv2
import numpy as np
from conftest import smooth_image

from pipelines import benchmark_detect as bench


def test_benchmark_detect__small_run__scores_in_range_and_table(tmp_path):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), smooth_image(np.random.default_rng(3), 300, 400))
    cfg = bench.DetectBenchmarkConfig(cell_sizes=(16,), crfs=(None, 23), cases_per_photo=1, clips=())
    result = bench.run([photo], cfg)
    assert result["cases"] == 2
    for crf in ("none", "23"):
        scores = result["by_crf"][crf]["all"]
        assert scores["n"] == 1 and 0.0 <= scores["iou"] <= 1.0
    assert result["by_crf"]["none"]["all"]["iou"] >= 0.8  # a clean 16 px mosaic on a photo-like image
    assert {f["kind"] for f in result["per_clean_frame"]} == {"photo", "flat", "texture"}
    assert result["frames_per_second_one_core"] > 0
    text = bench.table(result)
    assert "CRF" in text and "frames/s" in text


def test_fit_frame__any_photo__becomes_768x576():
    for shape in [(1080, 1920, 3), (300, 200, 3), (576, 768, 3)]:
        assert bench.fit_frame(np.zeros(shape, np.uint8)).shape == (576, 768, 3)
