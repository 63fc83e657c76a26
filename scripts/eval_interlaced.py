"""Score `demosaic video` on interlaced footage against the clean frames.

    python scripts/eval_interlaced.py --split tuning|evaluation --out DIR [--frames N]

Each clip is made interlaced by ffmpeg (`tinterlace=interleave_top`: two frames of the
progressive source become the top and the bottom field of one frame, so moving content is
combed) and coded as interlaced H.264 (top field first, CRF 16: the clean frames). Two
mosaics are laid on a 160×128 box at CRF 20 and 23, as they come in practice:

- `frame`: ffmpeg's `pixelize` (16 × 16) on the woven frame: each cell holds the mean of
  both fields;
- `field`: `pixelize` (16 × 8) on each field (`il` splits the fields into the frame's top
  and bottom halves and weaves them back), as a field-aware tool or a broadcast chain
  working in fields lays it: the woven frame shows two interleaved lattices.

Each mosaic clip is restored by `restore_video` (the detector's masks, default settings) and
passed through (`--passthrough`); the figures are region PSNR against the clean frames, the
gain over passthrough, the share of frames worse than passthrough by more than 0.05 dB and
the worst frame. Tuning: vtest.avi from frame 0; evaluation: vtest.avi from frame 400 and
Megamind.avi (never tuned on).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demosaic.config import PRECISION_DEFAULT, PRECISIONS  # noqa: E402
from demosaic.detect import DetectorConfig  # noqa: E402
from demosaic.ffmpeg import ffmpeg_binary, file_arg, run_tool  # noqa: E402
from demosaic.metrics import psnr  # noqa: E402
from demosaic.probe import probe  # noqa: E402
from demosaic.restore import PASSTHROUGH, resolve_precision  # noqa: E402
from demosaic.video import EncodeOptions  # noqa: E402
from pipelines.evaluate_video import frames_of, opencv_clip  # noqa: E402
from pipelines.video import Engine, restore_video  # noqa: E402

INTERLACED = ["-flags", "+ildct+ilme", "-x264opts", "tff=1", "-field_order", "tt", "-pix_fmt", "yuv420p"]
CLIPS = {"tuning": [("vtest.avi", 0, (240, 160))],
         "evaluation": [("vtest.avi", 400, (320, 200)), ("Megamind.avi", 0, (272, 176))]}
BOX = (160, 128)  # w, h


def ffmpeg(*args: str) -> None:
    run_tool([ffmpeg_binary(), "-v", "error", "-y", "-nostdin", *args])


def make_clips(clip: str, start: int, frames: int, at: tuple[int, int], work: Path) -> dict[str, Path]:
    """The clean interlaced clip and, per kind and CRF, its mosaic clip."""
    (x, y), (w, h) = at, BOX
    clean = work / "clean.mp4"
    ffmpeg("-i", file_arg(opencv_clip(clip)), "-vf",
           f"select=gte(n\\,{start}),setpts=N/FRAME_RATE/TB,tinterlace=mode=interleave_top,setfield=tff",
           "-frames:v", str(frames), "-c:v", "libx264", "-crf", "16", *INTERLACED, file_arg(clean))
    half = probe(clean).height // 2  # the bottom field's first row in the split frame
    graphs = {
        "frame": f"[0:v]split[a][b];[b]crop={w}:{h}:{x}:{y},pixelize=w=16:h=16[p];[a][p]overlay={x}:{y},setfield=tff",
        # il=l=d: the top field in the frame's top half, the bottom field in its bottom half.
        "field": (f"[0:v]format=gbrp,il=l=d:c=d:a=d,split=3[a][b][c];"
                  f"[b]crop={w}:{h // 2}:{x}:{y // 2},pixelize=w=16:h=8[p];"
                  f"[c]crop={w}:{h // 2}:{x}:{y // 2 + half},pixelize=w=16:h=8[q];"
                  f"[a][p]overlay={x}:{y // 2}[t];[t][q]overlay={x}:{y // 2 + half},"
                  f"il=l=i:c=i:a=i,setfield=tff"),
    }
    out = {"clean": clean}
    for kind, graph in graphs.items():
        for crf in (20, 23):
            path = work / f"{kind}-crf{crf}.mp4"
            ffmpeg("-i", file_arg(clean), "-filter_complex", graph, "-c:v", "libx264", "-crf", str(crf),
                   *INTERLACED, file_arg(path))
            out[f"{kind}-crf{crf}"] = path
    return out



def score(clean: np.ndarray, restored: np.ndarray, passed: np.ndarray, at: tuple[int, int]) -> dict:
    (x, y), (w, h) = at, BOX
    box = (slice(y, y + h), slice(x, x + w))
    n = min(len(clean), len(restored), len(passed))
    ours = np.array([psnr(restored[i][box], clean[i][box]) for i in range(n)])
    base = np.array([psnr(passed[i][box], clean[i][box]) for i in range(n)])
    gain = ours - base
    return {"frames": n, "psnr": round(float(ours.mean()), 2), "passthrough": round(float(base.mean()), 2),
            "gain": round(float(gain.mean()), 2), "worse_share": round(float((gain < -0.05).mean()), 3),
            "worst": round(float(gain.min()), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=sorted(CLIPS), default="tuning")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--frames", type=int, default=60, help="interlaced frames per clip (two source frames each)")
    ap.add_argument("--precision", choices=PRECISIONS, default=PRECISION_DEFAULT,
                    help="the network's arithmetic, as demosaic video --precision (default: its default)")
    args = ap.parse_args()
    precision = resolve_precision(args.precision)
    engines = {m: Engine(None, m, DetectorConfig(), precision=precision) for m in ("guided", PASSTHROUGH)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="demosaic-interlaced-") as tmp:
        work = Path(tmp)
        for clip, start, at in CLIPS[args.split]:
            clips = make_clips(clip, start, args.frames, at, work)
            clean = frames_of(clips["clean"])
            for name, path in clips.items():
                if name == "clean":
                    continue
                runs = {}
                for mode, engine in engines.items():
                    dst = work / f"{name}-{mode}.mkv"
                    report = restore_video(path, dst, model_path=None, mode=mode, mask_path=None,
                                           encode=EncodeOptions(), detector=DetectorConfig(), engine=engine)
                    runs[mode] = (frames_of(dst), report)
                row = {"case": f"{clip}@{start} {name}", **score(clean, runs["guided"][0], runs[PASSTHROUGH][0], at),
                       "frames_restored": runs["guided"][1]["frames_restored"],
                       "regions": runs["guided"][1]["regions"], "kept": runs["guided"][1]["fallbacks"]["kept"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "interlaced.json").write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["| case | region dB (passthrough) | gain dB | frames worse | worst frame dB | frames restored |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['case']} | {r['psnr']:.2f} ({r['passthrough']:.2f}) | {r['gain']:+.2f} | "
              f"{100 * r['worse_share']:.1f} % | {r['worst']:+.2f} | {r['frames_restored']}/{r['frames']} |" for r in rows]
    (args.out / "interlaced.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
