"""Detector speed against an earlier revision, as a ratio: the same frames, the two detectors
interleaved, OpenCV on one thread, median ms per frame. Ratios hold on a shared machine where
absolute frames/s move ±10 % between runs. (`scripts/check_detect_identity.py` gives a ratio
too, on the detection benchmark's cases, with each detector in a process of its own.)

    python scripts/bench_detect_ratio.py REV [--classical]  # REV: a git revision of this repo, e.g. fa4dc90
                                                           # --classical: both detectors without the segmenter
"""
from __future__ import annotations

import atexit
import importlib
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


def load_revision(rev: str):
    """`demosaic.detect` as it was at `rev` (a module then, or a package), imported from a
    temporary git worktree of that revision as part of a package of its own
    (`demosaic_then`), with the model cards it names as they were then. The worktree is
    removed when this process ends."""
    tree = Path(tempfile.mkdtemp()) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev], check=True)
    atexit.register(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    spec = importlib.util.spec_from_file_location("demosaic_then", tree / "demosaic" / "__init__.py",
                                                  submodule_search_locations=[str(tree / "demosaic")])
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package  # its dataclasses look their modules up
    spec.loader.exec_module(package)
    return importlib.import_module("demosaic_then.detect")


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
