"""How much a video's other frames can recover under a frame-fixed mosaic (issue #9's bound).

A camera moves over a photo (a pan, or hand-held jitter); a frame-fixed mosaic covers a
window of every frame; the clip goes through H.264 (or not). The reference frame (the middle
one) is then solved from the cells of every frame in the window and the clean pixels around
them (demosaic.fusion), with the camera's motion known, and with it registered from the
frames alone. Scored as region PSNR against the clean reference frame, next to bicubic
interpolation of the reference frame's own cells.

    python scripts/bound_multiframe.py --split tuning --photos 3 --out benchmarks/fusion-bound-tuning
    python scripts/bound_multiframe.py --split evaluation --photos 6 --out benchmarks/fusion-bound-evaluation
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from demosaic.data import evaluation_photos, tuning_photos  # noqa: E402
from demosaic.fusion import fuse, observe  # noqa: E402
from demosaic.images import read_image  # noqa: E402
from demosaic.scenes import camera_frames, camera_path  # noqa: E402
from demosaic.video import h264_roundtrip_clip  # noqa: E402

WINDOW = (160, 192)  # rows, cols of the mosaic
MARGIN = 48  # frame = window + this on each side
PATCH = 24  # clean pixels used around the window (the canvas's margin)
ITERATIONS = 30  # CG iterations for every solve (100 gave the same figures to 0.01 dB on the tuning split)


def cell_map(size: tuple[int, int], box: tuple[int, int, int, int], pitch: int) -> np.ndarray:
    """(H, W) int: the cell of each pixel of a frame-fixed grid over `box` (y0, x0, y1, x1), -1 elsewhere."""
    y0, x0, y1, x1 = box
    cells = np.full(size, -1, np.int32)
    rows, cols = np.arange(y1 - y0) // pitch, np.arange(x1 - x0) // pitch
    cells[y0:y1, x0:x1] = rows[:, None] * (cols.max() + 1) + cols[None, :]
    return cells


def pixelate(frames: np.ndarray, cells: np.ndarray) -> np.ndarray:
    out = frames.copy()
    inside = cells >= 0
    lab = cells[inside]
    n = lab.max() + 1
    counts = np.bincount(lab, minlength=n)
    for f in out:
        for c in range(3):
            means = np.bincount(lab, f[..., c][inside].astype(np.float64), minlength=n) / counts
            f[..., c][inside] = np.round(means[lab]).astype(np.uint8)
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 10 * np.log10(255 ** 2 / max(mse, 1e-10))


def bicubic_of_cells(decoded: np.ndarray, box: tuple[int, int, int, int], pitch: int) -> np.ndarray:
    """The window from its cell means by bicubic interpolation of the cell centres (float)."""
    y0, x0, y1, x1 = box
    window = decoded[y0:y1, x0:x1].astype(np.float32)
    ch, cw = (y1 - y0) // pitch, (x1 - x0) // pitch
    cells = cv2.resize(window, (cw, ch), interpolation=cv2.INTER_AREA)
    return cv2.resize(cells, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)


def run_case(scene: np.ndarray, kind: str, pitch: int, crf: int | None, radius: int, rng: np.random.Generator,
             mu: float, registered: bool = True) -> dict:
    n = 2 * radius + 1
    size = (WINDOW[0] + 2 * MARGIN, WINDOW[1] + 2 * MARGIN)
    path = camera_path(kind, n, rng)
    clean = camera_frames(scene, path, size)
    box = (MARGIN, MARGIN, MARGIN + WINDOW[0], MARGIN + WINDOW[1])
    cells = cell_map(size, box, pitch)
    mosaic = pixelate(clean, cells)
    decoded = h264_roundtrip_clip(mosaic, crf) if crf is not None else mosaic
    # The canvas: the reference frame's window with PATCH clean pixels around it.
    py0, px0, py1, px1 = box[0] - PATCH, box[1] - PATCH, box[2] + PATCH, box[3] + PATCH
    patch_cells = cells[py0:py1, px0:px1]
    known = patch_cells < 0
    observations = [observe(d[py0:py1, px0:px1], patch_cells, known) for d in decoded]
    ref = radius
    prior = decoded[ref, py0:py1, px0:px1].astype(np.float32)
    bicubic = bicubic_of_cells(decoded[ref], box, pitch)
    prior[PATCH:-PATCH, PATCH:-PATCH] = bicubic
    truth = clean[ref, box[0]:box[2], box[1]:box[3]]
    inner = (slice(PATCH, -PATCH), slice(PATCH, -PATCH))
    known_shifts = [tuple(p - path[ref]) for p in path]  # frame t shows the canvas moved by its camera's offset
    t0 = time.perf_counter()
    fused_known = fuse(observations, ref, prior, mu, iterations=ITERATIONS, shifts=known_shifts)
    t1 = time.perf_counter()
    fused = fuse(observations, ref, prior, mu, iterations=ITERATIONS) if registered else fused_known
    t2 = time.perf_counter()
    path_error = float(np.mean(np.linalg.norm(np.array(fused.shifts) - np.array(known_shifts), axis=1)))
    return {"kind": kind, "pitch": pitch, "crf": crf, "frames": n,
            "mosaic": psnr(decoded[ref, box[0]:box[2], box[1]:box[3]], truth),
            "bicubic": psnr(np.clip(bicubic, 0, 255), truth),
            "known": psnr(np.clip(fused_known.picture[inner], 0, 255), truth),
            "registered": psnr(np.clip(fused.picture[inner], 0, 255), truth),
            "path_error_px": path_error, "seconds_known": t1 - t0, "seconds_registered": t2 - t1}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["tuning", "evaluation"], default="tuning")
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--kinds", default="pan,jitter")
    ap.add_argument("--pitches", default="8,16")
    ap.add_argument("--crfs", default="none,20,23")
    ap.add_argument("--radius", type=int, default=8, help="frames either side of the reference")
    ap.add_argument("--mu", type=float, default=0.25,
                    help="prior weight (tuned on the tuning split: 0.02 best without compression, 0.25 under H.264)")
    ap.add_argument("--known-only", action="store_true", help="skip registration (for tuning mu)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    photos = (tuning_photos() if args.split == "tuning" else evaluation_photos())[:args.photos]
    rows = []
    for i, photo in enumerate(photos):
        image = read_image(photo)
        scale = 720 / image.shape[1]  # video-like detail: the photo at 720 px wide
        scene = cv2.resize(image, (720, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        for kind in args.kinds.split(","):
            for pitch in map(int, args.pitches.split(",")):
                for crf in args.crfs.split(","):
                    rng = np.random.default_rng(1000 * i + pitch)
                    row = run_case(scene, kind, pitch, None if crf == "none" else int(crf), args.radius, rng, args.mu,
                                   not args.known_only)
                    row["photo"] = photo.name if args.split == "tuning" else photo.parent.parent.parent.name
                    rows.append(row)
                    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}),
                          flush=True)
    summary = {}
    for row in rows:
        key = (row["kind"], row["pitch"], row["crf"])
        summary.setdefault(key, []).append(row)
    lines = ["| motion | cells | CRF | mosaic | bicubic | fused, known motion | fused, registered | path error (px) |",
             "|---|---|---|---|---|---|---|---|"]
    for (kind, pitch, crf), group in summary.items():
        mean = {k: float(np.mean([g[k] for g in group])) for k in ("mosaic", "bicubic", "known", "registered",
                                                                     "path_error_px")}
        lines.append(f"| {kind} | {pitch} | {crf or 'none'} | {mean['mosaic']:.2f} | {mean['bicubic']:.2f} | "
                     f"{mean['known']:.2f} ({mean['known'] - mean['bicubic']:+.2f}) | "
                     f"{mean['registered']:.2f} ({mean['registered'] - mean['bicubic']:+.2f}) | "
                     f"{mean['path_error_px']:.2f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bound.json").write_text(json.dumps(rows, indent=1))
        import platform
        import subprocess

        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
        command = "python scripts/bound_multiframe.py " + " ".join(sys.argv[1:])
        (args.out / "bound.md").write_text(
            f"`{command}` (commit {commit}, {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores): {args.split} split, {len(photos)} photos, {2 * args.radius + 1} frames, "
            f"mu {args.mu}, {ITERATIONS} CG iterations\n\n{table}\n")


if __name__ == "__main__":
    main()
