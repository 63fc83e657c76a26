"""Compare guided models on tuning photos only (the held-out training photos; never the
evaluation wallpapers), on mosaics coded the way video arrives: region PSNR of each model
through the product's restore (guards, consistency step, true mask and grid), and of bicubic.

    python scripts/compare_models_coded.py MODEL.json [MODEL.json ...] [--crf none,18,23,28]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demosaic.metrics import psnr  # noqa: E402
from demosaic.mosaic import cell_colour_guide  # noqa: E402
from demosaic.restore import Restorer  # noqa: E402
from demosaic.video import h264_roundtrip  # noqa: E402
from pipelines.evaluate import tuning_cases  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--crf", default="none,18,23,28")
    ap.add_argument("--cells", default="8,16,24")
    args = ap.parse_args()
    crfs = [None if c == "none" else int(c) for c in args.crf.split(",")]
    cells = [int(c) for c in args.cells.split(",")]
    restorers = {m.stem: Restorer(m) for m in args.models}
    scores: dict = {}
    cases = 0
    for cell, photo, mosaic, mask, area in tuning_cases(cells):
        cases += 1
        for crf in crfs:
            observed = mosaic if crf is None else h264_roundtrip(mosaic, crf)
            bicubic = np.clip(np.rint(cell_colour_guide(observed, [area], cv2.INTER_CUBIC)), 0, 255).astype(np.uint8)
            scores.setdefault((crf, cell, "bicubic"), []).append(psnr(bicubic, photo, mask))
            for name, restorer in restorers.items():
                scores.setdefault((crf, cell, name), []).append(psnr(restorer.restore(observed, [area]), photo, mask))
    names = ["bicubic", *restorers]
    print(f"{cases // len(cells)} tuning photos, one region per cell size; region PSNR dB (mean)")
    print("| CRF | cells | " + " | ".join(names) + " |\n|---|---|" + "---:|" * len(names))
    for crf in crfs:
        for cell in cells:
            print(f"| {crf or 'none'} | {cell} | " + " | ".join(f"{np.mean(scores[(crf, cell, n)]):.2f}" for n in names) + " |")


if __name__ == "__main__":
    main()
