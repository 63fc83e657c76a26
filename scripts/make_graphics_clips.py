"""Clean flat-graphics clips with no mosaic, for checking that nothing in them is restored:
a slide (title bar, bullet text, a four-bar chart whose bars move a little) and a cartoon
frame (flat shapes with dark outlines, one moving). 640×480, 25 frames/s, 30 frames, H.264
CRF 18, drawn with OpenCV (deterministic).

    python scripts/make_graphics_clips.py OUT_DIR
    demosaic video OUT_DIR/slide.mp4 out.mp4 --report r.json   # frames_restored should be 0
"""
from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import cv2
import numpy as np

H, W, FRAMES = 480, 640, 30


def slide(t: int) -> np.ndarray:
    im = np.full((H, W, 3), (245, 245, 240), np.uint8)
    cv2.rectangle(im, (0, 0), (W, 70), (40, 70, 140), -1)
    cv2.putText(im, "Quarterly results", (30, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.3, (255, 255, 255), 2, cv2.LINE_AA)
    for i, line in enumerate(["Revenue up 12 %", "New markets: 3", "Headcount flat"]):
        cv2.circle(im, (50, 130 + 50 * i), 6, (40, 70, 140), -1)
        cv2.putText(im, line, (70, 140 + 50 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (30, 30, 30), 2, cv2.LINE_AA)
    colours = [(200, 80, 60), (60, 160, 80), (60, 90, 200), (220, 180, 40)]
    for k, h in enumerate([80, 120, 160, 200]):
        x = 380 + 60 * k
        cv2.rectangle(im, (x, 420 - h - t % 5), (x + 40, 420), colours[k], -1)
    cv2.line(im, (360, 420), (630, 420), (0, 0, 0), 2)
    return im


def cartoon(t: int) -> np.ndarray:
    im = np.full((H, W, 3), (120, 200, 250), np.uint8)
    cv2.rectangle(im, (0, 330), (W, H), (80, 170, 60), -1)
    cv2.circle(im, (520, 90), 50, (255, 220, 60), -1)
    cv2.circle(im, (520, 90), 50, (30, 30, 30), 3)
    cx = 200 + 3 * t
    cv2.ellipse(im, (cx, 300), (70, 90), 0, 0, 360, (230, 120, 150), -1)
    cv2.ellipse(im, (cx, 300), (70, 90), 0, 0, 360, (30, 30, 30), 4)
    for ex in (cx - 25, cx + 25):
        cv2.circle(im, (ex, 270), 14, (255, 255, 255), -1)
        cv2.circle(im, (ex, 272), 6, (0, 0, 0), -1)
    roof = np.array([[420, 330], [480, 200], [540, 330]], np.int32)
    cv2.fillPoly(im, [roof], (110, 90, 70))
    cv2.polylines(im, [roof], True, (30, 30, 30), 3)
    for k in range(6):
        cv2.rectangle(im, (40 + 60 * k, 360), (80 + 60 * k, 400), (250, 250, 250) if k % 2 else (200, 60, 60), -1)
    return im


def write(path: Path, draw) -> None:
    enc = subprocess.Popen(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
                            "-r", "25", "-i", "pipe:", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p",
                            str(path)], stdin=subprocess.PIPE)
    for t in range(FRAMES):
        enc.stdin.write(cv2.cvtColor(draw(t), cv2.COLOR_BGR2RGB).tobytes())  # drawn in OpenCV's BGR order
    enc.stdin.close()
    if enc.wait():
        raise SystemExit(f"ffmpeg failed writing {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in (("slide", slide), ("cartoon", cartoon)):
        write(args.out / f"{name}.mp4", draw)
        print(args.out / f"{name}.mp4")


if __name__ == "__main__":
    main()
