"""A camera moving over a still photo: the frames it sees, sub-pixel, for #9's bound
(`scripts/bound_multiframe.py`) and the footage evaluation's photo clips
(`pipelines.evaluate_video`). The scene is rigid, so one translation per frame explains every
pixel: the kind of clip multi-frame fusion is built for, where the frames' phases against a
frame-fixed grid carry detail no single frame holds.
"""
from __future__ import annotations

import cv2
import numpy as np

KINDS = ("pan", "jitter")


def camera_path(kind: str, frames: int, rng: np.random.Generator) -> np.ndarray:
    """(frames, 2) camera positions (dy, dx), the middle frame at (0, 0): a steady `pan` (1.0–2.5
    px a frame in a random direction, with shake of σ 0.15 px a frame) or hand-held `jitter`
    (steps of σ 1.2 px, held within ±5 px of its aim)."""
    if kind == "pan":
        angle = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(1.0, 2.5)
        steps = speed * np.array([np.sin(angle), np.cos(angle)]) + rng.normal(0, 0.15, (frames, 2))
    elif kind == "jitter":
        steps = rng.normal(0, 1.2, (frames, 2))
    else:
        raise ValueError(f"camera motion {kind!r}: expected one of {', '.join(KINDS)}")
    path = np.cumsum(steps, axis=0)
    path -= path[frames // 2]
    if kind == "jitter":  # a hand holds its aim: keep within ±5 px of it
        path = np.clip(path, -5, 5)
    return path


def camera_frames(scene: np.ndarray, path: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Frames (N, H, W, 3) uint8 of `scene` seen from each camera position of `path` (bicubic;
    the scene reflected past its edges), the window centred on the scene at (0, 0)."""
    h, w = size
    cy, cx = (scene.shape[0] - h) / 2, (scene.shape[1] - w) / 2
    out = []
    for dy, dx in path:
        m = np.float32([[1, 0, cx + dx], [0, 1, cy + dy]])
        out.append(cv2.warpAffine(scene, m, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                                  borderMode=cv2.BORDER_REFLECT))
    return np.stack(out)
