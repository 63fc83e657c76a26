"""Detector speed against an earlier revision, as a ratio: the same frames, the two detectors
interleaved, OpenCV on one thread, median ms per frame. Ratios hold on a shared machine where
absolute frames/s move ±10 % between runs.

    python scripts/bench_detect_ratio.py REV [--classical]  # REV: a git revision of this repo, e.g. fa4dc90
                                                           # --classical: both detectors without the segmenter
"""
from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

import demosaic.detect as current
from demosaic.config import MaskConfig
from demosaic.images import read_image
from demosaic.masks import random_regions
from demosaic.mosaic import pixelate
from demosaic.video import h264_roundtrip, read_frames
from pipelines.benchmark_detect import fit_frame

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = Path("/usr/share/backgrounds/mate/nature")  # training-side photos, not the evaluation set
CLIP = ROOT / "benchmarks" / "vtest-mosaic.mkv"


def _import_source(name: str, source: str, folder: Path):
    path = folder / f"{name}_then.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"demosaic.{name}_then", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def load_revision(rev: str):
    """demosaic/detect.py as it was at `rev`, imported as its own module, with the segmenter's
    code (demosaic/detect_net.py) as it was then too."""
    def show(name):
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:demosaic/{name}.py"],
                              check=True, capture_output=True, text=True).stdout

    folder = Path(tempfile.mkdtemp())
    _import_source("detect_net", show("detect_net"), folder)
    module = _import_source("detect", show("detect").replace("from .detect_net import", "from .detect_net_then import"),
                            folder)
    for name in ("DEFAULT_SEGMENTER", "DEFAULT_BORDERS"):  # the model cards it names, as they were at `rev`
        if hasattr(module, name):
            card = getattr(module, name)
            for suffix in (".json", ".npz"):
                data = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:models/{card.stem}{suffix}"],
                                      check=True, capture_output=True).stdout
                (folder / f"{card.stem}{suffix}").write_bytes(data)
            setattr(module, name, folder / card.name)
    return module


def frame_sets() -> dict[str, list[np.ndarray]]:
    photos = [fit_frame(read_image(p)) for p in sorted(PHOTOS.glob("*.jpg"))[:6]]
    rng = np.random.default_rng(0)
    mosaics = []
    for photo in photos:
        cell = int(rng.choice((8, 16, 32, 48)))
        masks = MaskConfig(min_cell=cell, max_cell=cell, max_area=0.25, min_area=0.05)
        mosaics.append(pixelate(photo, random_regions(rng, *photo.shape[:2], masks))[0])
    return {"clean photos": photos, "mosaics, uncompressed": mosaics,
            "mosaics, H.264 CRF 23": [h264_roundtrip(m, 23) for m in mosaics],
            f"{CLIP.name} frames": list(read_frames(str(CLIP), every=10))}


def main(rev: str, classical: bool = False, repeats: int = 3) -> None:
    cv2.setNumThreads(1)
    import tensorflow as tf  # the segmenters on one core too

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    before = load_revision(rev)
    if classical:
        then, now = before.Detector(before.DetectorConfig(learned="")), current.Detector(current.DetectorConfig(learned=""))
    else:
        then, now = before.Detector(), current.Detector()
    print(f"| frames | {rev} (ms) | now (ms) | now / {rev} |\n|---|---:|---:|---:|")
    for name, frames in frame_sets().items():
        times = ([], [])
        for _ in range(repeats):
            for frame in frames:
                for detector, spent in zip((then, now), times):
                    t0 = time.perf_counter()
                    detector.detect(frame)
                    spent.append(time.perf_counter() - t0)
        a, b = (1000 * statistics.median(t) for t in times)
        print(f"| {name} ({len(frames)}) | {a:.1f} | {b:.1f} | {b / a:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3) or sys.argv[2:] not in ([], ["--classical"]):
        sys.exit(__doc__.strip())
    main(sys.argv[1], classical=sys.argv[2:] == ["--classical"])
