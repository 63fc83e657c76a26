"""Compare segmenters on the detector's tuning set and on drawn flat graphics (tuning only).

For each segmenter card (or "default"), the whole detector (`--detector learned`) runs on:
- set A: `pipelines.benchmark_detect.run` with seed 5, 2 cases a photo, cells 4-64 (10
  included), over 19 opencv-doc colour photos and mate-backgrounds' nature photos, each as
  made and through H.264 at CRF 18 / 23 / 28; clean frames: those photos, the same through
  MPEG-4 Part 2, and every 25th frame of vtest.avi and tree.avi (no evaluation footage);
- graphics: 30 frames each of ffmpeg's lavfi testsrc, rgbtestsrc, smptebars, pal75bars,
  yuvtestsrc and mptestsrc through H.264 CRF 18, and 60 frames drawn by
  `demosaic.detect_training.flat_graphic` (seed 99, 640×480, CRF 18): frames with any region
  found and the share of pixels marked. testsrc2, smptehdbars and the slide and cartoon
  clips of `scripts/make_graphics_clips.py` are the evaluation's and are not here.

    python scripts/compare_segmenters.py default models/demosaic-detect-g6-w48c64.json --second-opinion '' --out DIR
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demosaic.detect import Detector, DetectorConfig  # noqa: E402
from demosaic.detect_training import flat_graphic  # noqa: E402
from demosaic.video import read_frames  # noqa: E402
from pipelines.benchmark_detect import DetectBenchmarkConfig, run, table  # noqa: E402

DATA = Path("/usr/share/doc/opencv-doc/examples/data")
PHOTOS = ["aero1", "aero3", "aloeL", "apple", "baboon", "board", "building", "butterfly", "fruits", "home",
          "left", "leuvenA", "messi5", "orange", "rubberwhale1", "smarties", "squirrel_cls", "starry_night", "stuff"]
LAVFI = ["testsrc", "rgbtestsrc", "smptebars", "pal75bars", "yuvtestsrc", "mptestsrc"]


def photos() -> list[Path]:
    found = [next(iter(sorted(DATA.glob(f"{n}.*"))), None) for n in PHOTOS]
    if None in found:
        raise SystemExit(f"missing in {DATA}: {PHOTOS[found.index(None)]} (apt-get install opencv-doc)")
    return found + sorted(Path("/usr/share/backgrounds/mate/nature").glob("*.jpg"))


def graphics_clips(work: Path) -> dict[str, Path]:
    work.mkdir(parents=True, exist_ok=True)
    clips = {}
    for name in LAVFI:
        source = f"{name}=rate=25" if name == "mptestsrc" else f"{name}=size=640x480:rate=25"  # mptestsrc: 256² only
        out = work / f"{name}.mp4"
        if not out.exists():
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", source,
                            "-frames:v", "30", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(out)],
                           check=True)
        clips[name] = out
    out = work / "drawn.mp4"
    if not out.exists():
        rng = np.random.default_rng(99)
        enc = subprocess.Popen(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "640x480",
                                "-r", "25", "-i", "pipe:", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p",
                                str(out)], stdin=subprocess.PIPE)
        for _ in range(60):
            enc.stdin.write(flat_graphic(rng, 640)[:480].tobytes())
        enc.stdin.close()
        if enc.wait():
            raise SystemExit("ffmpeg failed")
    clips["drawn"] = out
    return clips


def graphics_scores(detector: Detector, clips: dict[str, Path]) -> dict:
    rows = {}
    for name, clip in clips.items():
        hits, marked, n = 0, 0.0, 0
        for frame in read_frames(clip):
            found = detector.detect(frame)
            hits += bool(found.regions)
            marked += float(found.mask.mean())
            n += 1
        rows[name] = {"frames": n, "frames_with_regions": hits, "marked_pct": round(100 * marked / n, 3)}
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("segmenters", nargs="+", help='model cards, or "default"')
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--skip-set-a", action="store_true", help="only the graphics (a minute, not five)")
    ap.add_argument("--second-opinion", default="default",
                    help="the detector's second segmenter: a model card, default (the shipped one), or '' (none: "
                         "each segmenter alone, as the runs before it was shipped)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clips = graphics_clips(args.out / "clips")
    results = {}
    for card in args.segmenters:
        det_cfg = DetectorConfig(learned=card, second_opinion=args.second_opinion)
        row = {"graphics": graphics_scores(Detector(det_cfg), clips)}
        print(card, json.dumps(row["graphics"]), flush=True)
        if not args.skip_set_a:
            cfg = replace(DetectBenchmarkConfig(), seed=5, cases_per_photo=2,
                          cell_sizes=(4, 6, 8, 10, 12, 16, 24, 32, 48, 64),
                          clips=(str(DATA / "vtest.avi"), str(DATA / "tree.avi")), clip_every=25,
                          mpeg4_every=1, video=None, scales=(), detector=det_cfg)
            row["set_a"] = run(photos(), cfg)
            print(table(row["set_a"]), flush=True)
        results[card] = row
        (args.out / "compare.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
