"""Quick region-PSNR check of a model against the mosaic and the bicubic cell-colour guide.

    python scripts/quick_eval.py models/demosaic-guided-small-v0.json --cells 8 16 24 --limit 12

On the evaluation photos (KDE Plasma wallpapers, never trained or tuned on), scaled to
768×576: one seeded rectangle/ellipse mosaic per photo and cell size, true mask and grid.
A stopgap until `demosaic evaluate` (SSIM, LPIPS, more baselines) exists.
"""
import argparse
import json

import numpy as np

from demosaic.data import evaluation_photos
from demosaic.images import read_image
from demosaic.mosaic import MosaicRegion, cell_colour_guide, enforce_cell_means, pixelate
from demosaic.restore import Restorer
from pipelines.benchmark_detect import fit_frame


def psnr(a, b, mask):
    err = np.mean((a.astype(np.float64) - b)[mask] ** 2)
    return 10 * np.log10(255 ** 2 / max(err, 1e-12))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--cells", type=int, nargs="+", default=[8, 16, 24])
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    restorer = Restorer(args.model)
    rng = np.random.default_rng(args.seed)
    rows = {c: {"mosaic": [], "bicubic": [], "bicubic+consistency": [], "model+consistency": []} for c in args.cells}
    for path in evaluation_photos()[: args.limit]:
        photo = fit_frame(read_image(path))
        for cell in args.cells:
            w, h = rng.uniform(120, 300), rng.uniform(100, 250)
            x0, y0 = rng.uniform(0, 768 - w), rng.uniform(0, 576 - h)
            region = MosaicRegion(str(rng.choice(["rect", "ellipse"])), ((x0, y0), (x0 + w, y0 + h)), (cell, cell))
            observed, mask = pixelate(photo, [region])
            area = region.area(576, 768)
            guide = cell_colour_guide(observed, [area])
            rows[cell]["mosaic"].append(psnr(observed, photo, mask))
            rows[cell]["bicubic"].append(psnr(np.rint(guide), photo, mask))
            rows[cell]["bicubic+consistency"].append(psnr(np.rint(enforce_cell_means(guide, observed, [area])), photo, mask))
            rows[cell]["model+consistency"].append(psnr(restorer.restore(observed, [area]), photo, mask))
    table = {c: {k: round(float(np.mean(v)), 2) for k, v in r.items()} for c, r in rows.items()}
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
