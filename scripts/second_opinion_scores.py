"""What the second segmenter says of each region the detector finds without it (tuning data only).

For every region `Detector(DetectorConfig(second_opinion=""))` finds, the second segmenter's
mean probability of mosaic over the region's pixels (the detector keeps a coded region where
it is at least `net.region_score`). On:
- `graphics`: `scripts/compare_segmenters.py`'s tuning graphics (lavfi testsrc, rgbtestsrc,
  smptebars, pal75bars, yuvtestsrc, mptestsrc; `flat_graphic` drawings at seed 99), every frame;
- `footage`: the tuning footage's cases (`pipelines.evaluate_video.default_cases("tuning")`,
  clips made by ffmpeg as the footage evaluation makes them), every 4th frame, with the
  share of each region inside the true mosaic;
- `over-graphics`: what the second opinion costs where a mosaic is laid over drawings: 30
  `flat_graphic` frames (seeds 200–229, 512 × 384) each with an 8, 12 or 16 px mosaic over a
  box (the synthesiser), H.264 CRF 18: the detector's IoU with the truth, without and with it.

    python scripts/second_opinion_scores.py graphics|footage|over-graphics --work DIR [--out scores.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_segmenters import graphics_clips  # noqa: E402

from demosaic.detect import DEFAULT_SECOND_OPINION, Detector, DetectorConfig  # noqa: E402
from demosaic.detect.evidence import sigmoid  # noqa: E402
from demosaic.detect_net import Segmenter  # noqa: E402
from demosaic.video import read_frames  # noqa: E402
from pipelines.evaluate_video import default_cases, make_clips  # noqa: E402


def scores(detector: Detector, second: Segmenter, frames, truth=None, every: int = 1) -> list[dict]:
    rows = []
    for n, frame in enumerate(frames):
        if n % every:
            continue
        found = detector.detect(frame, coded=True)
        if not found.regions:
            continue
        prob = sigmoid(second(frame)[..., 0])
        for k, region in enumerate(found.regions, 1):
            pixels = found.labels == k
            if pixels.any():
                rows.append({"frame": n, "bbox": list(region.bbox), "pixels": int(pixels.sum()),
                             "second_opinion": round(float(prob[pixels].mean()), 4),
                             "inside_truth": None if truth is None else round(float(truth(n, frame.shape)[pixels].mean()), 3)})
    return rows


def over_graphics() -> list[dict]:
    from demosaic.detect import iou
    from demosaic.detect_training import flat_graphic
    from demosaic.mosaic import MosaicRegion, pixelate
    from demosaic.video import h264_roundtrip

    alone, both = Detector(DetectorConfig(second_opinion="")), Detector(DetectorConfig())
    rows = []
    for seed in range(200, 230):
        rng = np.random.default_rng(seed)
        drawing = flat_graphic(rng, 512)[:384]
        cell = int(rng.choice([8, 12, 16]))
        x0, y0 = int(rng.integers(32, 200)), int(rng.integers(32, 150))
        x1, y1 = min(500, x0 + int(rng.integers(120, 260))), min(370, y0 + int(rng.integers(96, 200)))
        mosaic, truth = pixelate(drawing, [MosaicRegion("rect", ((x0, y0), (x1, y1)), (cell, cell))])
        frame = h264_roundtrip(mosaic, 18)
        rows.append({"seed": seed, "cell": cell, "iou_without": round(iou(alone.detect(frame, coded=True).mask, truth), 4),
                     "iou_with": round(iou(both.detect(frame, coded=True).mask, truth), 4)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", choices=["graphics", "footage", "over-graphics"])
    ap.add_argument("--work", type=Path, required=True, help="where the clips are made (kept for reruns)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--second", default=str(DEFAULT_SECOND_OPINION), help="the second segmenter's model card")
    args = ap.parse_args()
    if args.which == "over-graphics":
        rows = over_graphics()
        without, with_ = (np.array([r[k] for r in rows]) for k in ("iou_without", "iou_with"))
        print(f"mean IoU without / with the second opinion: {without.mean():.3f} / {with_.mean():.3f}; "
              f"over 0.5: {int((without > 0.5).sum())} / {int((with_ > 0.5).sum())} of {len(rows)}")
        if args.out:
            args.out.write_text(json.dumps(rows, indent=1) + "\n")
        return
    detector = Detector(DetectorConfig(second_opinion=""))
    second = Segmenter.load(Path(args.second))
    results = {}
    if args.which == "graphics":
        for name, clip in graphics_clips(args.work).items():
            results[name] = scores(detector, second, read_frames(clip))
    else:
        for case in default_cases("tuning"):
            work = args.work / case.name
            work.mkdir(parents=True, exist_ok=True)
            if not (work / "mosaic.mp4").exists():
                make_clips(case, work)
            truth = (lambda n, shape, c=case: c.area(n, shape[0], shape[1]).mask)
            results[case.name] = scores(detector, second, read_frames(work / "mosaic.mp4"), truth, every=4)
    for name, rows in results.items():
        p = np.array([r["second_opinion"] for r in rows])
        print(f"{name:32s} {len(rows):4d} regions" + (
            f"  min {p.min():.3f}  median {np.median(p):.3f}  under 0.7: {int((p < 0.7).sum())}" if len(p) else ""))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
