"""Multi-frame least squares on a footage pan or photo clip with its true motion, as the
bound (`scripts/bound_multiframe.py`) solves its rendered pans: the true box and cells, the
reference frame's bicubic as the prior, no robust re-solve, no per-cell gate. It shows what
the footage's frames hold for the plain box model.

    python scripts/bound_footage.py vtest@0-c8-pan-crf20 [--radii 0,1,2,6] [--split tuning]

The clips are the real-footage evaluation's own (`pipelines.evaluate_video.make_clips`); the
motion is `FootageCase.content_offsets` (a pan's window, a photo clip's camera path). Region
PSNR against the clean clip, averaged over references every 4 frames.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bound_multiframe import PATCH, bicubic_of_cells, cell_map  # noqa: E402

from demosaic.fusion import observe, solve  # noqa: E402
from demosaic.metrics import psnr  # noqa: E402
from pipelines.evaluate_video import default_cases, make_clips, probe  # noqa: E402


def frames(path: Path) -> np.ndarray:
    info = probe(str(path))
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, info.height, info.width, 3).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("case")
    ap.add_argument("--split", default="tuning")
    ap.add_argument("--radii", default="0,1,2,6")
    ap.add_argument("--mu", type=float, default=0.25)
    args = ap.parse_args()
    case = next(c for c in default_cases(args.split) if c.name == args.case)
    offsets = case.content_offsets()
    if not offsets.any():
        raise SystemExit(f"{case.name}: the case does not move the picture (a pan or photo clip does)")
    with tempfile.TemporaryDirectory() as tmp:
        clean, mosaic = make_clips(case, Path(tmp))
        truth_frames, coded = frames(clean), frames(mosaic)
    x0, y0, bw, bh = case.box
    box = (y0, x0, y0 + bh, x0 + bw)
    cells = cell_map(coded.shape[1:3], box, case.cell)
    py0, px0, py1, px1 = box[0] - PATCH, box[1] - PATCH, box[2] + PATCH, box[3] + PATCH
    if py0 < 0 or px0 < 0 or py1 > coded.shape[1] or px1 > coded.shape[2]:
        raise SystemExit(f"{case.name}: the mosaic lies within {PATCH} px of the frame's edge")
    patch_cells = cells[py0:py1, px0:px1]
    radii = [int(r) for r in args.radii.split(",")]
    top = max(radii)
    rows = []
    for ref in range(top, len(coded) - top, 4):
        truth = truth_frames[ref, box[0]:box[2], box[1]:box[3]]
        prior = coded[ref, py0:py1, px0:px1].copy()
        prior[PATCH:-PATCH, PATCH:-PATCH] = bicubic_of_cells(coded[ref], box, case.cell)
        oy, ox = offsets[ref]
        row = [psnr(coded[ref, box[0]:box[2], box[1]:box[3]], truth),
               psnr(np.clip(prior[PATCH:-PATCH, PATCH:-PATCH], 0, 255), truth)]
        for r in radii:
            ids = range(ref - r, ref + r + 1)
            obs = [observe(coded[t, py0:py1, px0:px1], patch_cells, patch_cells < 0) for t in ids]
            shifts = [(float(offsets[t][0] - oy), float(offsets[t][1] - ox)) for t in ids]
            x = solve(obs, shifts, prior, args.mu, 30)
            row.append(psnr(np.clip(x[PATCH:-PATCH, PATCH:-PATCH], 0, 255), truth))
        rows.append(row)
    r = np.array(rows)
    print(f"{case.name}: {len(rows)} references; region PSNR (dB) over the mosaic's "
          f"{r[:, 0].mean():.2f}: bicubic {r[:, 1].mean() - r[:, 0].mean():+.2f}, "
          + ", ".join(f"±{rad} frames {r[:, 2 + i].mean() - r[:, 0].mean():+.2f}" for i, rad in enumerate(radii)))


if __name__ == "__main__":
    main()
