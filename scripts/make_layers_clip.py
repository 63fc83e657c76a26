"""A tuning clip with motion that no single shift explains: a photo panning behind a second
photo's patch that moves another way and turns (`pipelines.evaluate_video`'s "layers" cases;
mate-backgrounds photos, never evaluated on).

    python scripts/make_layers_clip.py OUT.mkv [--seed N] [--frames 60]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.evaluate_video import write_layers_clip  # noqa: E402

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=60)
    args = ap.parse_args()
    write_layers_clip(args.out, args.seed, args.frames)
