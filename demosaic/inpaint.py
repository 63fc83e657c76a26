"""Pure inpainting across holes wider than the network reaches: coarse to fine.

The pure P-Conv U-Net (depth 5) fills pixels near known ones; deeper in a wide hole its
updated mask never arrives and the output stays dark (`models/README.md`: holes wider than
about 140 px). So a hole is filled at a scale where it is shallow. The image and its hole are
halved until no hole pixel lies more than `reach` px from a known one; the network fills
that level; each finer level then takes the coarser fill, upscaled, as known for its pixels
deeper than `reach`, so that the network only ever fills a ring `reach` px deep, with the
coarse picture on its inner side and the real one on its outer side.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

Fill = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (image H×W×3 uint8, hole H×W bool) -> filled uint8

# px from known pixels the network fills at each level. On the 10 held-out training photos of
# scripts/tune_inpaint_reach.py (benchmarks/inpaint-reach.txt; one 16 px region each, region PSNR): one pass 8.37 dB,
# reach 8 / 16 / 32 / 64: 12.07 / 11.95 / 11.67 / 10.26 dB (Telea 14.53). 8 and 16 tie; 16 needs
# one level fewer.
REACH = 16
MIN_SIDE = 64  # no level smaller than this: the network needs context around a hole


def hole_depth(hole: np.ndarray) -> np.ndarray:
    """Each hole pixel's distance (px) to the nearest known pixel; 0 outside the hole."""
    return cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)


def fill_coarse_to_fine(image: np.ndarray, hole: np.ndarray, fill: Fill, reach: int = REACH,
                        min_side: int = MIN_SIDE) -> np.ndarray:
    """`image` with `hole` filled by `fill` level by level (see the module's docstring). Pixels
    outside the hole are returned as they came."""
    if not hole.any():
        return image.copy()
    depth = hole_depth(hole)
    height, width = hole.shape
    half = ((width + 1) // 2, (height + 1) // 2)
    if depth.max() <= reach or min(half) < min_side:
        return fill(image, hole)
    small = cv2.resize(image, half, interpolation=cv2.INTER_AREA)
    # A small pixel is a hole pixel if any of the pixels it averages is one.
    small_hole = cv2.resize(hole.astype(np.float32), half, interpolation=cv2.INTER_AREA) > 0
    coarse = fill_coarse_to_fine(small, small_hole, fill, reach, min_side)
    up = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    deep = hole & (depth > reach)
    given = image.copy()
    given[deep] = up[deep]
    return fill(given, hole & ~deep)
