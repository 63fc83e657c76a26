"""Per-frame evidence: neighbour steps, border evidence, flat maps, the search window, the chroma test."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
from .config import DetectorConfig


# 4:2:0 chroma: the mean step between 2×2 blocks at least this (levels; below it the frame has no
# colour texture to tell by), and the step inside them under this share of it (reason not recorded)
CHROMA_STEPS_LEAST, CHROMA_INSIDE_SHARE = 0.05, 0.3


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The segmenter's logits as probabilities (in the logits' dtype)."""
    return 1.0 / (1.0 + np.exp(-logits))


def abs_diffs(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max over channels of |horizontal| (H, W-1) and |vertical| (H-1, W) neighbour differences."""
    dx = cv2.absdiff(frame[:, 1:], frame[:, :-1]).reshape(frame.shape[0], frame.shape[1] - 1, -1)
    dy = cv2.absdiff(frame[1:], frame[:-1]).reshape(frame.shape[0] - 1, frame.shape[1], -1)
    return dx.max(axis=2), dy.max(axis=2)


def border_evidence(dx: np.ndarray, dy: np.ndarray, cfg: DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """(vertical-border evidence on dx's grid, horizontal-border evidence on dy's grid), bool.

    A vertical cell border between columns x and x+1: a step there, flat on both sides,
    and the step continuing in the row above or below.
    """
    # Coded video: a clear step between nearly flat runs. Uncompressed (lossless) mosaics
    # over smooth content: any step between exactly flat runs two pixels deep, which natural
    # images almost never show and which is how low-contrast mosaics are found at all.
    exact_x, exact_y = dx == 0, dy == 0
    flat_x = dx <= cfg.evidence.flat
    flat_y = dy <= cfg.evidence.flat
    step_x = dx >= cfg.evidence.step
    step_y = dy >= cfg.evidence.step
    if cfg.evidence.exact_step:
        deep_x = np.zeros_like(exact_x)
        deep_x[:, 2:-2] = exact_x[:, :-4] & exact_x[:, 1:-3] & exact_x[:, 3:-1] & exact_x[:, 4:]
        deep_y = np.zeros_like(exact_y)
        deep_y[2:-2] = exact_y[:-4] & exact_y[1:-3] & exact_y[3:-1] & exact_y[4:]
        step_x |= (dx >= cfg.evidence.exact_step) & deep_x
        step_y |= (dy >= cfg.evidence.exact_step) & deep_y
        flat_x |= exact_x
        flat_y |= exact_y
    ev = np.zeros_like(step_x)
    ev[:, 1:-1] = step_x[:, 1:-1] & flat_x[:, :-2] & flat_x[:, 2:]
    ev[1:-1] &= ev[:-2] | ev[2:]
    eh = np.zeros_like(step_y)
    eh[1:-1] = step_y[1:-1] & flat_y[:-2] & flat_y[2:]
    eh[:, 1:-1] &= eh[:, :-2] | eh[:, 2:]
    return ev, eh


class FlatAreas(NamedTuple):
    """A frame's flat areas at one tolerance: the map, and its cores (the map shrunk by 2 px,
    which removes a picture's many small flat specks and keeps labelling fast), labelled."""

    flat: np.ndarray  # uint8 H×W, 1 = flat
    core: np.ndarray  # int32 H×W core labels, 0 = none
    stats: np.ndarray  # (labels, 5) x, y, w, h, area of each core (cv2's layout)
    centroids: np.ndarray  # (labels, 2) x, y


def _flat_areas(flat: np.ndarray) -> FlatAreas:
    core = cv2.erode(flat, np.ones((5, 5), np.uint8))
    _, labels, stats, centroids = cv2.connectedComponentsWithStats(core, connectivity=4)
    return FlatAreas(flat, labels, stats, centroids)


def flat_maps(spread: np.ndarray, colour: np.ndarray, cfg: DetectorConfig) -> tuple[FlatAreas, FlatAreas]:
    """(flat within `pieces.blob_flat` luma levels over 3×3, exactly flat in every channel over 3×3);
    `spread`: the luma's 3×3 range."""
    kernel = np.ones((3, 3), np.uint8)
    rgb = cv2.absdiff(cv2.dilate(colour, kernel), cv2.erode(colour, kernel))
    exact = ((rgb[..., 0] | rgb[..., 1] | rgb[..., 2]) == 0).astype(np.uint8)
    return _flat_areas((spread <= cfg.pieces.blob_flat).astype(np.uint8)), _flat_areas(exact)


def search_window(shape: tuple[int, int], blocked: np.ndarray | None, margin: int) -> tuple[slice, slice]:
    """Rows and columns of the box around the pixels `blocked` leaves open, grown by
    `margin` px (the whole frame where nothing is blocked)."""
    height, width = shape
    if blocked is None:
        return slice(0, height), slice(0, width)
    open_rows, open_cols = np.flatnonzero(~blocked.all(axis=1)), np.flatnonzero(~blocked.all(axis=0))
    if not len(open_rows):
        return slice(0, height), slice(0, width)
    return (slice(max(int(open_rows[0]) - margin, 0), min(int(open_rows[-1]) + 1 + margin, height)),
            slice(max(int(open_cols[0]) - margin, 0), min(int(open_cols[-1]) + 1 + margin, width)))


def far_from(near: np.ndarray, distance: float) -> np.ndarray:
    """Pixels farther than `distance` px from every nonzero pixel of `near` (uint8 H×W): an
    exact distance transform, over the box around those pixels grown by `distance` only
    (everything outside it is farther): on most frames a small part of the frame."""
    height, width = near.shape
    rows, cols = np.flatnonzero(near.any(axis=1)), np.flatnonzero(near.any(axis=0))
    far = np.ones((height, width), bool)
    if not len(rows):
        return far
    reach = int(np.ceil(distance)) + 1
    box = (slice(max(int(rows[0]) - reach, 0), min(int(rows[-1]) + 1 + reach, height)),
           slice(max(int(cols[0]) - reach, 0), min(int(cols[-1]) + 1 + reach, width)))
    far[box] = cv2.distanceTransform(1 - near[box], cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > distance
    return far


def chroma_subsampled(colour: np.ndarray) -> bool:
    """Whether a frame's chroma is one value per aligned 2×2 block, as decoded 4:2:0 video
    (H.264, HEVC, MPEG-4...) shows it: the colour steps inside the blocks are a small share
    of those between them. Frames without colour texture (grey ones) cannot tell: False.
    Every 8th row pair is enough (a third of the frame's rows read)."""
    h, w = colour.shape[0] // 2 * 2, colour.shape[1] // 2 * 2
    if h < 4 or w < 4:
        return False
    first = np.arange(0, h - 2, 8)
    rows = (first[:, None] + np.arange(3)).ravel()  # rows 8k, 8k+1 (one block), 8k+2 (the next)
    ycc = cv2.cvtColor(np.ascontiguousarray(colour[rows, :w]), cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.int16)
    ycc = ycc.reshape(len(first), 3, w, 2)
    top = ycc[:, 0]
    inside = np.abs(top[:, 0::2] - top[:, 1::2]).mean() + np.abs(ycc[:, 0] - ycc[:, 1]).mean()
    between = np.abs(top[:, 1:-1:2] - top[:, 2::2]).mean() + np.abs(ycc[:, 1] - ycc[:, 2]).mean()
    return bool(between >= CHROMA_STEPS_LEAST and inside < CHROMA_INSIDE_SHARE * between)


def colour_code(colour: np.ndarray) -> np.ndarray:
    """One int32 per RGB colour (exact)."""
    code = colour.astype(np.int32)
    return (code[..., 0] << 16) | (code[..., 1] << 8) | code[..., 2]


@dataclass(frozen=True)
class FrameEvidence:
    """What the stages measure in, for one frame: the frame, its luma and steps, the
    segmenter's maps, and the search window (the box around what the network's gate leaves
    open, grown by `net.search_margin`) with the border evidence and copies of the frame there.
    The window stages work in the window's coordinates; the frame's corner lies at
    `frame_origin` there (a lattice phase no border fixes: most mosaics are aligned to it)."""

    colour: np.ndarray  # (H, W, 3) uint8 RGB
    luma: np.ndarray  # (H, W, 1) uint8
    diffs: tuple[np.ndarray, np.ndarray]  # luma |steps|: (H, W-1) between columns, (H-1, W) between rows
    logits: np.ndarray | None  # (H, W) the segmenter's mosaic logits; None: classical detector alone
    edges: np.ndarray | None  # (H, W, 2) border-map logits (a cell's first/last column, row); None: none
    blocked: np.ndarray | None  # bool (H, W): farther than `net.gate` from every proposal; None: nothing blocked
    rows: slice  # the search window
    cols: slice
    ev: np.ndarray  # bool (h, w-1) vertical-border evidence in the window (`border_evidence`)
    eh: np.ndarray  # bool (h-1, w) horizontal-border evidence
    window_luma: np.ndarray  # (h, w, 1) contiguous
    window_colour: np.ndarray  # (h, w, 3) contiguous

    @property
    def box(self) -> tuple[slice, slice]:
        return self.rows, self.cols

    @property
    def frame_origin(self) -> tuple[int, int]:
        """(x, y) of the frame's corner in the window's coordinates."""
        return -self.cols.start, -self.rows.start

    def window(self, a: np.ndarray | None) -> np.ndarray | None:
        """`a` (H, W, ...) over the search window."""
        return None if a is None else a[self.box]


def frame_evidence(cfg: DetectorConfig, colour: np.ndarray, logits: np.ndarray | None = None,
                   edges: np.ndarray | None = None, blocked: np.ndarray | None = None) -> FrameEvidence:
    """The evidence of an RGB frame (H, W, 3 uint8), given the segmenter's maps."""
    # Luma only: video stores chroma at half resolution (4:2:0), which blurs colour
    # edges over two pixels, while luma keeps the cell borders sharp. Faster, too.
    height, width = colour.shape[:2]
    luma = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)[..., None]  # (H, W, 1)
    dx, dy = abs_diffs(luma)
    # The search runs in the box around what the gate leaves open, grown by a margin wider
    # than any window it measures in (on most frames a small part of the frame); what
    # follows it (exact growth, grid refits, splits, merges) sees the whole frame.
    rows, cols = search_window((height, width), blocked, cfg.net.search_margin)
    ev, eh = border_evidence(dx[rows, cols.start:cols.stop - 1], dy[rows.start:rows.stop - 1, cols], cfg)
    return FrameEvidence(colour, luma, (dx, dy), logits, edges, blocked, rows, cols, ev, eh,
                         np.ascontiguousarray(luma[rows, cols]), np.ascontiguousarray(colour[rows, cols]))
