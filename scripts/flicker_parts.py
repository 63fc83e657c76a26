"""Where `demosaic video`'s temporal error comes from, on footage-evaluation cases: inside
the true mosaic, pixel pairs (frame t−1, t) restored in both frames, kept as the mosaic in
both (the guards' fallbacks), or kept in one and restored in the other (toggled).

Temporal error, as the footage evaluation has it: mean |(out_t − out_t−1) − (clean_t −
clean_t−1)|, here per part, beside the same for the untouched mosaic (passthrough). The
output is written losslessly, so a kept pixel is one equal to the decoded input.

    python scripts/flicker_parts.py --work DIR [--split tuning] [--only c16-moving] [--fuse-radius R]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demosaic.video import read_frames  # noqa: E402
from pipelines.evaluate_video import default_cases, make_clips  # noqa: E402

PARTS = ("both restored", "both kept", "toggled")


def parts(case, work: Path, fuse_radius: int = 0) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "mosaic.mp4").exists():
        make_clips(case, work)
    out = work / "restored.mkv"
    subprocess.run([sys.executable, "-c", "from cli import main; main()", "video", "--overwrite", "--quiet",
                    "--lossless", "--fuse-radius", str(fuse_radius), str(work / "mosaic.mp4"), str(out)],
                   check=True, cwd=Path(__file__).resolve().parents[1], stderr=subprocess.DEVNULL)
    clean, mosaic, restored = (np.stack(list(read_frames(p))).astype(np.float32)
                               for p in (work / "clean.mp4", work / "mosaic.mp4", out))
    n, h, w, _ = clean.shape
    masks = np.stack([case.area(t, h, w).mask for t in range(n)])
    kept = (restored == mosaic).all(-1) & masks
    sums = {k: np.zeros(3) for k in PARTS}  # error sum, passthrough's error sum, pixel pairs
    for t in range(1, n):
        both = masks[t] & masks[t - 1]
        truth = clean[t] - clean[t - 1]
        err = np.abs(restored[t] - restored[t - 1] - truth).mean(-1)
        base = np.abs(mosaic[t] - mosaic[t - 1] - truth).mean(-1)
        for name, sel in zip(PARTS, (~kept[t] & ~kept[t - 1], kept[t] & kept[t - 1], kept[t] ^ kept[t - 1])):
            s = both & sel
            sums[name] += (err[s].sum(), base[s].sum(), s.sum())
    pairs = sum(v[2] for v in sums.values())
    total = sum(v[0] for v in sums.values())
    return {"kept_share": float(kept.sum() / masks.sum()), "temporal": total / pairs,
            "parts": {k: {"share": v[2] / pairs, "temporal": v[0] / max(v[2], 1), "passthrough": v[1] / max(v[2], 1),
                          "contribution": v[0] / total} for k, v in sums.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="where each case's clips are made (kept for reruns)")
    ap.add_argument("--split", choices=["tuning", "evaluation"], default="tuning")
    ap.add_argument("--only", default="moving", help="cases whose name contains this")
    ap.add_argument("--fuse-radius", type=int, default=0)
    args = ap.parse_args()
    for case in (c for c in default_cases(args.split) if args.only in c.name):
        r = parts(case, args.work / case.name, args.fuse_radius)
        print(f"{case.name}: temporal {r['temporal']:.2f}, pixels kept as the mosaic {r['kept_share']:.1%}")
        for name, p in r["parts"].items():
            print(f"  {name:14s} {p['share']:6.1%} of pixel pairs  temporal {p['temporal']:5.2f} "
                  f"(passthrough {p['passthrough']:5.2f})  {p['contribution']:6.1%} of the error")


if __name__ == "__main__":
    main()
