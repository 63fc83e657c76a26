"""Seeded training damage: mosaic regions like those found in real video, and the paper's irregular holes.

Every function takes a `np.random.Generator`; nothing touches process-wide random state.
"""
from __future__ import annotations

import cv2
import numpy as np

from .config import MaskConfig
from .mosaic import Grid, GridArea, MosaicRegion


def random_cell(rng: np.random.Generator, cfg: MaskConfig, size: int) -> tuple[int, int]:
    """Cell (w, h): log-uniform over [min_cell, max_cell], capped so a region holds a few cells;
    mostly square, sometimes not (editors allow rectangular cells)."""
    hi = max(cfg.min_cell, min(cfg.max_cell, size // 4))
    w = int(np.clip(round(np.exp(rng.uniform(np.log(cfg.min_cell), np.log(hi)))), cfg.min_cell, hi))
    h = w if rng.random() < 0.8 else int(np.clip(round(w * rng.uniform(0.6, 1.6)), cfg.min_cell, hi))
    return w, h


def random_regions(rng: np.random.Generator, height: int, width: int, cfg: MaskConfig) -> list[MosaicRegion]:
    """1..max_regions rectangles, ellipses and polygons covering roughly min_area..max_area of the frame."""
    count = int(rng.integers(1, cfg.max_regions + 1))
    share = rng.uniform(cfg.min_area, cfg.max_area) / count
    regions = []
    for _ in range(count):
        cell = random_cell(rng, cfg, min(height, width))
        aspect = rng.uniform(0.6, 1.6)
        rw = np.clip(np.sqrt(share * height * width * aspect), 2 * cell[0], width)
        rh = np.clip(share * height * width / rw, 2 * cell[1], height)
        x0 = rng.uniform(0, max(width - rw, 0))
        y0 = rng.uniform(0, max(height - rh, 0))
        shape = rng.choice(["rect", "ellipse", "polygon"], p=[0.5, 0.3, 0.2])
        align = "region" if rng.random() < cfg.region_aligned else "frame"
        if shape == "polygon":
            n = int(rng.integers(3, 8))
            angles = np.sort(rng.uniform(0, 2 * np.pi, n))
            radii = rng.uniform(0.6, 1.0, n)
            cx, cy = x0 + rw / 2, y0 + rh / 2
            points = tuple((float(cx + r * np.cos(a) * rw / 2), float(cy + r * np.sin(a) * rh / 2))
                           for a, r in zip(angles, radii))
        else:
            points = ((float(x0), float(y0)), (float(x0 + rw), float(y0 + rh)))
        regions.append(MosaicRegion(str(shape), points, cell, align))
    return regions


def random_strokes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """The paper's kind of irregular hole: thick random-walk strokes and a few blobs. Bool H×W."""
    canvas = np.zeros((height, width), np.uint8)
    scale = min(height, width)
    for _ in range(int(rng.integers(1, 5))):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        thickness = int(rng.integers(max(2, scale // 32), max(3, scale // 8)))
        for _ in range(int(rng.integers(2, 8))):
            angle = rng.uniform(0, 2 * np.pi)
            length = rng.uniform(0.05, 0.3) * scale
            nx = float(np.clip(x + length * np.cos(angle), 0, width - 1))
            ny = float(np.clip(y + length * np.sin(angle), 0, height - 1))
            cv2.line(canvas, (int(x), int(y)), (int(nx), int(ny)), 1, thickness)
            x, y = nx, ny
    for _ in range(int(rng.integers(0, 3))):
        centre = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        axes = (int(rng.uniform(0.03, 0.15) * scale) + 1, int(rng.uniform(0.03, 0.15) * scale) + 1)
        cv2.ellipse(canvas, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return canvas.astype(bool)


def random_areas(rng: np.random.Generator, height: int, width: int, cfg: MaskConfig) -> list[GridArea]:
    """The damage of one training sample, as mosaic areas: shaped regions, or (with
    probability `stroke_prob`) irregular strokes pixelated on a random grid."""
    if rng.random() < cfg.stroke_prob:
        cell = random_cell(rng, cfg, min(height, width))
        origin = (0.0, 0.0) if rng.random() >= cfg.region_aligned else (
            float(rng.integers(0, cell[0])), float(rng.integers(0, cell[1])))
        return [GridArea(random_strokes(rng, height, width), Grid(cell, origin))]
    return [r.area(height, width) for r in random_regions(rng, height, width, cfg)]
