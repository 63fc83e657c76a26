"""Where fusion's gain on the footage pans and photo clips goes: `scripts/eval_footage.py` with
the product's registration replaced by the true motion, and/or without the per-cell gate.

    python scripts/diagnose_fusion.py [--true-motion] [--no-gate] -- --split tuning --only photo1@0-c8-pan \\
        --fuse-radius 6 --precision float32 --no-lpips --out DIR

--true-motion: the motion the case gave the picture (`FootageCase.content_offsets`: a pan's
window, cropped at floor(pan × n), or a photo clip's camera path, sub-pixel): the hidden
picture on frame t sits at offset(t) − offset(reference) (logged against what registration
found). Only that motion: content that moves on its own (vtest's walkers, tree.avi's own
camera) is not in it. --no-gate: every whole cell takes the block's fused picture
(`BlockSolution.fails` emptied; the held-out check included). A diagnostic: it
replaces two functions of `demosaic.video_fusion` in this process.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import demosaic.restore as restore  # noqa: E402
import demosaic.video_fusion as video_fusion  # noqa: E402
import eval_footage  # noqa: E402
from pipelines.evaluate_video import default_cases  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--true-motion", action="store_true")
    ap.add_argument("--no-gate", action="store_true")
    args, rest = ap.parse_known_args()
    rest = [a for a in rest if a != "--"]
    only = rest[rest.index("--only") + 1] if "--only" in rest else ""
    split = rest[rest.index("--split") + 1] if "--split" in rest else "tuning"
    frames = int(rest[rest.index("--frames") + 1]) if "--frames" in rest else 0
    cases = [c for c in default_cases(split) if any(part in c.name for part in only.split(","))]
    if frames:  # as eval_footage has them: a jitter's path depends on the clip's length
        cases = [dataclasses.replace(c, frames=frames) for c in cases]
    motions = {c.content_offsets().tobytes(): c.content_offsets() for c in cases}
    if args.true_motion and len(motions) != 1:
        raise SystemExit(f"--true-motion needs cases that share one motion (--only), got {len(motions)}")
    offsets = next(iter(motions.values()), None)
    register, solve_block = video_fusion.register_track, video_fusion.solve_block

    def true_track(shows, centre, cfg, observed=None):
        found = register(shows, centre, cfg, observed)
        if found is None:
            return None
        ref = min(range(len(shows)), key=lambda i: (abs(shows[i][0].index - centre), i))
        oy, ox = offsets[shows[ref][0].index]
        truth = {s.index: (float(offsets[s.index][0] - oy), float(offsets[s.index][1] - ox)) for s, _ in shows}
        off = [math.hypot(found[k][0] - v[0], found[k][1] - v[1]) for k, v in truth.items()]
        print(f"  block at {centre:.1f}: registered against true motion {np.mean(off):.2f} px mean, "
              f"{np.max(off):.2f} max", flush=True)
        return truth

    def ungated(*a, **k):
        sol = solve_block(*a, **k)
        return sol if sol is None else sol._replace(fails=np.zeros_like(sol.fails))

    if args.true_motion:
        video_fusion.register_track = true_track
    if args.no_gate:
        video_fusion.solve_block = restore.solve_block = ungated
    sys.argv = [sys.argv[0], *rest]
    eval_footage.main()


if __name__ == "__main__":
    main()
