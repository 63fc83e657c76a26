"""Choose `demosaic.inpaint.REACH` on tuning photos only (the held-out training photos; never
the evaluation wallpapers): region PSNR of pure inpainting, coarse to fine at each reach,
against one pass of the network (the old path) and Telea, and with Telea's fill where the
hole is deeper than the reach and the network in the ring, over `demosaic evaluate`'s mosaic
regions (5-25 % of the photo, rectangles and ellipses).

    python scripts/tune_inpaint_reach.py [--photos 12] [--reach 8,16,32,64]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demosaic.data import default_training_sources, find_images, is_validation, read_rgb  # noqa: E402
from demosaic.inpaint import fill_coarse_to_fine, hole_depth  # noqa: E402
from demosaic.metrics import psnr  # noqa: E402
from demosaic.mosaic import pixelate  # noqa: E402
from demosaic.restore import Restorer  # noqa: E402
from pipelines.evaluate import fit, random_region  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--reach", default="8,16,32,64")
    args = ap.parse_args()
    reaches = [int(r) for r in args.reach.split(",")]
    photos = [p for p in find_images(default_training_sources()) if is_validation(p)]
    images = [im for im in (read_rgb(p) for p in photos) if im is not None and min(im.shape[:2]) >= 256]
    images = images[:args.photos]
    pure = Restorer.for_mode("inpaint")
    rng = np.random.default_rng(0)
    scores: dict[str, list[float]] = {}
    for image in images:
        photo = fit(image, 768)
        h, w = photo.shape[:2]
        region = random_region(rng, h, w, 16)
        observed, hole = pixelate(photo, [region])
        results = {"telea": cv2.inpaint(observed, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA),
                   "one pass": pure.fill_once(observed, hole)}
        depth = hole_depth(hole)
        for reach in reaches:
            results[f"reach {reach}"] = fill_coarse_to_fine(observed, hole, pure.fill_once, reach=reach)
            # Telea where the hole is deeper than `reach`, the network in the ring it reaches.
            given, deep = observed.copy(), hole & (depth > reach)
            given[deep] = results["telea"][deep]
            results[f"Telea deep, network {reach} px ring"] = pure.fill_once(given, hole & ~deep)
        for name, out in results.items():
            scores.setdefault(name, []).append(psnr(out, photo, hole))
    print(f"{len(images)} tuning photos, one region each (cells 16), region PSNR dB:")
    print("| method | mean | worst |\n|---|---:|---:|")
    for name, values in scores.items():
        print(f"| {name} | {np.mean(values):.2f} | {np.min(values):.2f} |")


if __name__ == "__main__":
    main()
