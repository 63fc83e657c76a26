"""The detector: one frame in, a mask and each region's cell grid out (see docs/detector.md)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from ..mosaic import Grid

DEFAULT_SEGMENTER = Path(__file__).resolve().parents[2] / "models" / "demosaic-detect-v5.json"
from .classical import classical_regions
from .config import DetectorConfig
from .evidence import abs_diffs, border_evidence, chroma_subsampled, colour_code, far_from, search_window
from .exact import exact_footholds, exact_growth, uncompressed_regions
from .lattice import evidence_lattice
from .learned import add_learned, drop_unsure
from .refits import drop_remnants, merge_lattices, refit, split_lattices, split_unions
from .regions import Detection, Region, mask_box, moved_region, tight_boxes


class Detector:
    def __init__(self, cfg: DetectorConfig = DetectorConfig()):
        self.cfg = cfg
        self._segmenter = self._border_segmenter = None

    @property
    def segmenter(self):
        """The learned segmenter, loaded on first use (it imports TensorFlow); None if off."""
        if self._segmenter is None and self.cfg.learned:
            from ..detect_net import Segmenter
            path = DEFAULT_SEGMENTER if self.cfg.learned == "default" else Path(self.cfg.learned)
            self._segmenter = Segmenter.load(path)
        return self._segmenter

    @property
    def border_segmenter(self):
        """The segmenter whose border maps fit the grids (`net_borders`), loaded on first use;
        None: the mask segmenter's own maps, if it has any."""
        if self._border_segmenter is None and self.cfg.learned and self.cfg.net_borders:
            from ..detect_net import Segmenter
            self._border_segmenter = Segmenter.load(Path(self.cfg.net_borders))
        return self._border_segmenter

    def __call__(self, frame: np.ndarray) -> Detection:
        return self.detect(frame)

    def detect(self, frame: np.ndarray, coded: bool | None = None) -> Detection:
        """`coded`: whether the frame was decoded from lossy video (then no region in it is
        an uncompressed mosaic, however exact its cells); None: tell from its chroma."""
        if frame.dtype != np.uint8 or frame.ndim != 3:
            raise ValueError("detect expects an H×W×3 uint8 frame")
        cfg = self.cfg
        height, width = frame.shape[:2]
        if min(height, width) < 2 * cfg.min_pitch:
            return Detection(np.zeros((height, width), bool), (), np.zeros((height, width), np.int32))
        # Luma only: video stores chroma at half resolution (4:2:0), which blurs colour
        # edges over two pixels, while luma keeps the cell borders sharp. Faster, too.
        colour = frame
        logits, edges, blocked = None, None, None
        if cfg.learned:
            out = self.segmenter(colour)
            logits, edges = out[..., 0], (out[..., 1:] if out.shape[-1] == 3 else None)
            if cfg.net_gate:
                # The classical search runs only near what the network proposes: it then
                # verifies, fits grids and sharpens borders, and clean frames cost little.
                near = (logits > cfg.net_gate_threshold).astype(np.uint8)
                if not near.any():
                    return Detection(np.zeros((height, width), bool), (), np.zeros((height, width), np.int32))
                blocked = far_from(near, cfg.net_gate)
            if self.border_segmenter is not None:  # only for frames with proposals: most frames have none
                edges = self.border_segmenter(colour)[..., 1:]
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None]  # (H, W, 1)
        dx, dy = abs_diffs(frame)
        # The search runs in the box around what the gate leaves open, grown by a margin wider
        # than any window it measures in (on most frames a small part of the frame); what
        # follows it (exact growth, grid refits, splits, merges) sees the whole frame.
        rows, cols = search_window((height, width), blocked, cfg.search_margin)
        box = (rows, cols)
        ev, eh = border_evidence(dx[rows, cols.start:cols.stop - 1], dy[rows.start:rows.stop - 1, cols], cfg)
        luma, part_colour = np.ascontiguousarray(frame[box]), np.ascontiguousarray(colour[box])
        part = np.zeros(luma.shape[:2], np.int32)
        regions: list[Region] = []
        # Where the frame's corner lies in the window the search looks at: a lattice phase
        # no border fixes.
        frame_origin = (-cols.start, -rows.start)
        exact = classical_regions(cfg, luma, part_colour, ev, eh, None if blocked is None else blocked[box], part, regions,
                                  frame_origin=frame_origin)
        if coded is None:
            # Decoded 4:2:0 video shows one chroma value per 2×2 block (not looked at where
            # the classical detector alone found nothing: nothing to tell).
            coded = cfg.net_coded_chroma and bool(regions or cfg.learned) and chroma_subsampled(colour)
        closed = uncompressed_regions(part, regions, exact, coded)
        if cfg.learned:
            closed = add_learned(cfg, logits[box], None if edges is None else edges[box], luma, part_colour, ev, eh,
                                 part, regions, closed, frame_origin=frame_origin)
            if cfg.exact_seed and not coded:
                closed += exact_footholds(cfg, logits[box], part_colour, exact, part, regions)
            if cfg.net_region_score:
                closed = drop_unsure(cfg, logits[box], part, regions, closed)
        labels = np.zeros((height, width), np.int32)
        labels[box] = part
        regions = [moved_region(r, cols.start, rows.start) for r in regions]
        if cfg.exact_growth and any(closed):
            code = colour_code(colour)
            for k, region in enumerate(regions, 1):
                if closed[k]:
                    grown = exact_growth(code, labels, k, region.grid, region.bbox)
                    if grown.any():
                        labels[grown] = k
                        (x0, y0, x1, y1), (gx0, gy0, gx1, gy1) = region.bbox, mask_box(grown, slice(0, height), slice(0, width))
                        pw, ph = region.pitch
                        regions[k - 1] = replace(region, bbox=(min(x0, gx0), min(y0, gy0), max(x1, gx1), max(y1, gy1)),
                                                 cells=region.cells + int(round(grown.sum() / (pw * ph))))
        if cfg.refine_grid and regions:
            for k, region in enumerate(regions):
                x0, y0, x1, y1 = region.bbox
                grid = refit(cfg, frame, (dx, dy), edges, labels[y0:y1, x0:x1] == k + 1, region.bbox, region.grid,
                             not closed[k + 1])
                regions[k] = replace(region, pitch=grid.pitch, origin=grid.origin)
        if cfg.union_split and regions:
            split_unions(cfg, frame, (dx, dy), edges, labels, regions, closed)
        if edges is not None and cfg.net_split and regions:
            split_lattices(cfg, edges, labels, regions)
        if cfg.merge_lattices and len(regions) > 1:
            labels, regions = merge_lattices(cfg, (dx, dy), labels, regions)
        if regions:
            labels, regions = drop_remnants(cfg, labels, regions)
        mask = labels > 0
        if cfg.dilate and mask.any():
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.dilate + 1,) * 2)
            grown = cv2.dilate(labels.astype(np.float32), kernel).astype(np.int32)
            labels = np.where(labels > 0, labels, grown)
            mask = labels > 0
        return Detection(mask, tuple(tight_boxes(labels, regions, cfg.dilate)), labels)

    def grid_in(self, frame: np.ndarray, mask: np.ndarray) -> Grid | None:
        """Estimate the cell grid of a mosaic whose extent is given (a user's mask)."""
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[..., None]
        ev, eh = border_evidence(*abs_diffs(luma), self.cfg)
        ys, xs = np.nonzero(mask)
        if ys.size == 0:
            return None
        rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
        inside = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8))[rows, cols].astype(bool)
        return evidence_lattice(self.cfg, ev, eh, rows, cols, inside)


def detect(frame: np.ndarray, cfg: DetectorConfig = DetectorConfig()) -> Detection:
    return Detector(cfg).detect(frame)
