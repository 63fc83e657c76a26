"""Score `demosaic video` on real footage against clean frames (pipelines.evaluate_video).

    python scripts/eval_footage.py --split tuning --out benchmarks/footage-tuning [--only NAME] [--frames N]

Tuning footage: tree.avi and vtest.avi frames 0-399. Evaluation footage (vtest.avi frames
400-794, Megamind.avi): report only, never tuned on.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demosaic.config import PRECISION_DEFAULT, PRECISIONS, SafetyConfig  # noqa: E402
from demosaic.detect import DetectorConfig  # noqa: E402
from demosaic.restore import PASSTHROUGH, resolve_precision  # noqa: E402
from demosaic.video import EncodeOptions  # noqa: E402
from demosaic.config import FusionConfig  # noqa: E402
from pipelines.evaluate_video import default_cases, evaluate_footage, table, write_results  # noqa: E402
from pipelines.video import Engine, restore_video  # noqa: E402


def with_fields(cls, text: str, **given):
    """`cls` with the fields of "name=value,name=value" (ints and floats) and `given` set."""
    kinds = {f.name: f.type for f in dataclasses.fields(cls)}
    pairs = (kv.split("=") for kv in text.split(",") if kv)
    return cls(**given, **{k: (int if kinds[k] in (int, "int") else float)(v) for k, v in pairs})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["tuning", "evaluation"], default="tuning")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=0, help="frames per case (0: the cases' own)")
    ap.add_argument("--only", default="", help="run only cases whose name contains this (or any of A,B,...)")
    ap.add_argument("--no-safety", action="store_true", help="the restorer without its guards (for comparison)")
    ap.add_argument("--fuse-radius", type=int, default=0, help="restore with multi-frame fusion (demosaic video --fuse-radius)")
    ap.add_argument("--fusion", default="", help="FusionConfig fields to change, e.g. tolerance=2,search=4")
    ap.add_argument("--no-fit", action="store_true", help="detected regions not fitted to their mosaic (for comparison)")
    ap.add_argument("--safety", default="", help="SafetyConfig fields to change, e.g. bound_margin=20,flat_ratio=3")
    ap.add_argument("--segmenter", default="default",
                    help="the detector's segmenter: a model card, or default (the shipped one)")
    ap.add_argument("--second-opinion", default="default",
                    help="the detector's second segmenter: a model card, default (the shipped one), or '' (none)")
    ap.add_argument("--no-lpips", action="store_true", help="skip LPIPS (VGG16 on each third frame's region box)")
    ap.add_argument("--precision", choices=PRECISIONS, default=PRECISION_DEFAULT,
                    help="the network's arithmetic, as demosaic video --precision (default: its default)")
    args = ap.parse_args()
    precision = resolve_precision(args.precision)
    print(f"the network in {precision}", flush=True)
    cases = [c for c in default_cases(args.split) if any(part in c.name for part in args.only.split(","))]
    if args.frames:
        cases = [dataclasses.replace(c, frames=args.frames) for c in cases]
    engines: dict = {}
    safety = with_fields(SafetyConfig, args.safety)
    if args.no_fit:
        safety = dataclasses.replace(safety, fit=None)
    fusion = with_fields(FusionConfig, args.fusion, radius=args.fuse_radius)

    detector = DetectorConfig(learned=args.segmenter, second_opinion=args.second_opinion)

    def restore(src, dst, passthrough):
        mode = PASSTHROUGH if passthrough else "guided"
        if mode not in engines:
            engines[mode] = Engine(None, mode, detector, safety=None if args.no_safety else safety, precision=precision)
        return restore_video(src, dst, model_path=None, mode=mode, mask_path=None, encode=EncodeOptions(),
                             detector=detector, engine=engines[mode], fusion=fusion)

    lpips = None
    if not args.no_lpips:
        from demosaic.metrics import LPIPS

        lpips = LPIPS()
    results = evaluate_footage(cases, restore, log=lambda m: print(m, flush=True), lpips=lpips)
    write_results(results, args.out)
    # What made these figures: the options (the segmenter, the precision) beside them.
    (args.out / "settings.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1) + "\n")
    print(table(results), flush=True)


if __name__ == "__main__":
    main()
