"""Where a restored region's edge goes wrong, on tuning photos only (the held-out training
photos; never the evaluation wallpapers): the cells the region's edge cuts against its whole
cells. One seeded region per photo and cell size (as `demosaic evaluate` draws them), the
mosaic optionally coded with H.264, restored with the true mask and grid as a user's mask.

    python scripts/cut_cells.py parts  [--crf N] [--cut-slack K] [--precision P]
    python scripts/cut_cells.py loose  [--crf N] [--cut-slack K]
    python scripts/cut_cells.py errors

parts:  grid visibility (mean over photos, worst photo) over the whole region, its whole cells
        and its cut cells, and region PSNR, for the product and for the network alone.
loose:  the same mask grown by half a cell (a user's mask drawn past the mosaic): gain over the
        mosaic in the mask, and in the ring of picture past the mosaic.
errors: how far coding moves each cell's colour (levels, largest channel) by how much of the
        cell the region covers (amplification = cell size / its part inside), at CRF 18, 23, 28.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demosaic.config import SafetyConfig  # noqa: E402
from demosaic.metrics import grid_visibility, psnr  # noqa: E402
from demosaic.mosaic import cell_stats, cell_window, window_counts  # noqa: E402
from demosaic.video import h264_roundtrip  # noqa: E402
from pipelines.evaluate import tuning_cases  # noqa: E402

CELLS = (8, 16, 24)


def cases(crf: int | None):
    """(cell, photo, mosaic as observed, true mask, true area) for each tuning photo and cell size."""
    for cell, photo, mosaic, mask, area in tuning_cases(CELLS):
        yield cell, photo, mosaic if crf is None else h264_roundtrip(mosaic, crf), mask, area


def split(area) -> tuple[np.ndarray, np.ndarray]:
    """(whole cells' pixels, cut cells' pixels) of an area."""
    win = cell_window(area.mask, area.grid)
    inside = area.mask[win.rows, win.cols]
    whole = (window_counts(win, inside) == window_counts(win))[win.labels] & inside
    out = np.zeros_like(area.mask)
    out[win.rows, win.cols] = whole
    return out, area.mask & ~out


def visibility(image, photo, mask, grid) -> float:
    try:
        return grid_visibility(image, photo, mask, grid.pitch, grid.origin)
    except ValueError:  # no pair of neighbours across, or inside, a border
        return float("nan")


def parts(args) -> None:
    from demosaic.restore import Restorer

    product = Restorer(None, safety=SafetyConfig(cut_slack=args.cut_slack), precision=args.precision)
    network = Restorer(None, consistency=False, precision=args.precision)
    rows: dict = {}
    for cell, photo, observed, mask, area in cases(args.crf):
        whole, cut = split(area)
        out, net = product.restore(observed, [area]), network.restore(observed, [area])
        rows.setdefault(cell, []).append(
            [visibility(img, photo, m, area.grid) for img in (out, net) for m in (mask, whole, cut)]
            + [psnr(out, photo, mask), psnr(net, photo, mask), psnr(out, photo, cut), psnr(net, photo, cut)])
    print(f"CRF {args.crf or 'none'}, cut slack {args.cut_slack}, {args.precision}; grid visibility mean (worst): "
          "region / whole cells / cut cells; region PSNR; cut cells' PSNR")
    print("| cells | product | network alone | PSNR product | PSNR network | cut PSNR product | cut PSNR network |")
    print("|---|---|---|---:|---:|---:|---:|")
    for cell, v in rows.items():
        v = np.array(v)
        m, worst = np.nanmean(v, 0), np.nanmax(v, 0)
        print(f"| {cell} | {m[0]:.2f} ({worst[0]:.2f}) / {m[1]:.2f} / {m[2]:.2f} | {m[3]:.2f} ({worst[3]:.2f}) / "
              f"{m[4]:.2f} / {m[5]:.2f} | {m[6]:.2f} | {m[7]:.2f} | {m[8]:.2f} | {m[9]:.2f} |")


def loose(args) -> None:
    from demosaic.restore import Restorer

    restorer = Restorer(None, safety=SafetyConfig(cut_slack=args.cut_slack), precision=args.precision)
    rows: dict = {}
    for cell, photo, observed, mask, area in cases(args.crf):
        d = cell // 2
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * d + 1, 2 * d + 1), np.uint8)) > 0
        ring = grown & ~mask
        out = restorer.restore(observed, [area._replace(mask=grown)])
        gain = psnr(out, photo, grown) - psnr(observed, photo, grown)
        past = psnr(out, photo, ring) - psnr(observed, photo, ring) if args.crf else float("nan")
        rows.setdefault(cell, []).append((gain, past))
    print(f"CRF {args.crf or 'none'}, cut slack {args.cut_slack}; the true mask grown by half a cell, dB over the mosaic")
    print("| cells | in the mask: mean (least) | past the mosaic: mean (least) |\n|---|---|---|")
    for cell, v in rows.items():
        v = np.array(v)
        print(f"| {cell} | {v[:, 0].mean():+.2f} ({v[:, 0].min():+.2f}) | {v[:, 1].mean():+.2f} ({v[:, 1].min():+.2f}) |")


def errors(args) -> None:
    print("| CRF | cell share inside | cells | colour error median / 90th pct | × amplification median / 90th pct |")
    print("|---|---|---:|---|---|")
    for crf in (18, 23, 28):
        rows = []
        for cell, photo, observed, mask, area in cases(None):
            coded = h264_roundtrip(observed, crf)
            clean = cell_stats(observed, area, 0, texture=False)
            got = cell_stats(coded, area, 0, texture=False)
            masked = clean.in_counts > 0
            err = np.abs(got.colour - clean.colour).max(axis=1)
            amp = clean.counts / np.maximum(clean.in_counts, 1)
            rows += [(amp[k], err[k]) for k in np.flatnonzero(masked)]
        r = np.array(rows)
        for name, sel in (("whole", r[:, 0] == 1), ("½–1", (r[:, 0] > 1) & (r[:, 0] < 2)),
                          ("¼–½", (r[:, 0] >= 2) & (r[:, 0] < 4)), ("< ¼", r[:, 0] >= 4)):
            e, scaled = r[sel, 1], r[sel, 1] * r[sel, 0]
            print(f"| {crf} | {name} | {sel.sum()} | {np.median(e):.2f} / {np.percentile(e, 90):.2f} | "
                  f"{np.median(scaled):.2f} / {np.percentile(scaled, 90):.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("parts", "loose", "errors"))
    ap.add_argument("--crf", type=int)
    ap.add_argument("--cut-slack", type=float, default=SafetyConfig().cut_slack)
    ap.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    args = ap.parse_args()
    {"parts": parts, "loose": loose, "errors": errors}[args.what](args)


if __name__ == "__main__":
    main()
