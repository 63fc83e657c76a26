"""Two runs of scripts/eval_footage.py side by side (the single-frame path against
--fuse-radius R, say): per case the gain over passthrough, frames worse, the worst frame, the
temporal error and the flicker of each, as a markdown table.

    python scripts/compare_footage.py SINGLE_DIR [SINGLE_DIR ...] --against FUSED_DIR [FUSED_DIR ...] [--out T.md]

Each DIR holds a footage.json; cases are matched by split and name (the first directory holding one wins).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(dirs: list[Path]) -> dict[tuple[str, str], dict]:
    """Each run's cases by (split, name): the photo clips' names repeat across the splits."""
    cases: dict[tuple[str, str], dict] = {}
    for d in dirs:
        for r in json.loads((d / "footage.json").read_text()):
            cases.setdefault((r["split"], r["case"]), r)
    return cases


def table(single: dict[tuple[str, str], dict], fused: dict[tuple[str, str], dict]) -> str:
    rows = ["| case | gain dB, single → fused | Δ dB | frames worse % | worst frame dB | temporal (passthrough) "
            "| flicker (passthrough) |",
            "|---|---|---:|---|---|---|---|"]
    for key, f in fused.items():
        s = single.get(key)
        if s is None:
            continue
        rows.append(f"| {key[1]} | {s['gain_db_mean']:+.2f} → {f['gain_db_mean']:+.2f} "
                    f"| {f['gain_db_mean'] - s['gain_db_mean']:+.2f} "
                    f"| {100 * s['frames_worse_share']:.1f} → {100 * f['frames_worse_share']:.1f} "
                    f"| {s['gain_db_worst']:+.2f} → {f['gain_db_worst']:+.2f} "
                    f"| {s['temporal_error']:.2f} → {f['temporal_error']:.2f} ({f['temporal_error_passthrough']:.2f}) "
                    f"| {_flicker(s, f)} |")
    return "\n".join(rows) + "\n"


def _flicker(single: dict, fused: dict) -> str:
    """The flicker of each run (runs made before it was measured have none: –)."""
    if single.get("flicker") is None or fused.get("flicker") is None:
        return "–"
    return f"{single['flicker']:.2f} → {fused['flicker']:.2f} ({fused['flicker_passthrough']:.2f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("single", type=Path, nargs="+")
    ap.add_argument("--against", type=Path, nargs="+", required=True)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    text = table(load(args.single), load(args.against))
    if args.out:
        args.out.write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
