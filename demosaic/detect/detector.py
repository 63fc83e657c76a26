"""The detector: one frame in, a mask and each region's cell grid out (see docs/detector.md)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from ..config import TileConfig
from ..mosaic import Grid, GridArea
from .classical import classical_regions
from .config import DetectorConfig
from .evidence import (FrameEvidence, abs_diffs, border_evidence, chroma_subsampled, colour_code, far_from,
                       frame_evidence)
from .exact import exact_footholds, exact_growth, uncompressed_regions
from .lattice import evidence_lattice
from .learned import add_learned, drop_unsure
from .refits import drop_remnants, merge_lattices, refit, split_lattices, split_unions
from .regions import Detection, RegionSet, mask_box, tight_boxes
from .tiled import detect_tiled

DEFAULT_SEGMENTER = Path(__file__).resolve().parents[2] / "models" / "demosaic-detect-v5.json"
DEFAULT_SECOND_OPINION = Path(__file__).resolve().parents[2] / "models" / "demosaic-detect-g6-w48c64.json"


class Detector:
    """Finds mosaics in frames (`detect`); loads the segmenter on first use and keeps it.
    Frames above `tiles.above` pixels are detected tile by tile (`detect.tiled`)."""

    def __init__(self, cfg: DetectorConfig = DetectorConfig(), tiles: TileConfig = TileConfig()):
        self.cfg, self.tiles = cfg, tiles
        self._segmenter = self._border_segmenter = self._second_opinion = None

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

    @property
    def second_opinion(self):
        """The segmenter that must also call each coded region mosaic (`second_opinion`),
        loaded on first use; None if off."""
        if self._second_opinion is None and self.cfg.learned and self.cfg.second_opinion:
            from ..detect_net import Segmenter
            path = DEFAULT_SECOND_OPINION if self.cfg.second_opinion == "default" else Path(self.cfg.second_opinion)
            self._second_opinion = Segmenter.load(path)
        return self._second_opinion

    def __call__(self, frame: np.ndarray) -> Detection:
        return self.detect(frame)

    def detect(self, frame: np.ndarray, coded: bool | None = None) -> Detection:
        """`coded`: whether the frame was decoded from lossy video (then no region in it is
        an uncompressed mosaic, however exact its cells); None: tell from its chroma."""
        if frame.dtype != np.uint8 or frame.ndim != 3:
            raise ValueError("detect expects an H×W×3 uint8 frame")
        if self.tiles.splits(frame.shape):
            if coded is None:  # told once, from the whole frame's chroma, for every tile
                coded = self.cfg.net.coded_chroma and chroma_subsampled(frame)
            return detect_tiled(self._detect_whole, frame, self.tiles, self.cfg, coded)
        return self._detect_whole(frame, coded)

    def _detect_whole(self, frame: np.ndarray, coded: bool | None) -> Detection:
        cfg = self.cfg
        height, width = frame.shape[:2]
        if min(height, width) < 2 * cfg.lattice.min_pitch:
            return _nothing(height, width)
        maps = self._network(frame)
        if maps is None:
            return _nothing(height, width)
        evidence = frame_evidence(cfg, frame, *maps)
        # In the search window: the classical paths, then the network's regions.
        found, exact = _classical(cfg, evidence)
        if coded is None:
            # Decoded 4:2:0 video shows one chroma value per 2×2 block (not looked at where
            # the classical detector alone found nothing: nothing to tell).
            coded = cfg.net.coded_chroma and bool(found.regions or cfg.learned) and chroma_subsampled(frame)
        found = _uncompressed(found, exact, coded)
        if cfg.learned:
            found = _learned(cfg, evidence, found)
            if cfg.exact.seed and not coded:
                found = _exact_seeds(cfg, evidence, found, exact)
            if cfg.net.region_score:
                found = _unsure_dropped(cfg, evidence, found)
        # Over the whole frame: exact growth, grid refits, splits and merges.
        found = found.in_frame(evidence.rows, evidence.cols, (height, width))
        if cfg.exact.growth and any(found.uncompressed):
            found = _exact_grown(found, evidence.colour)
        if cfg.refits.refine_grid and found.regions:
            found = _refitted(cfg, evidence, found)
        if cfg.refits.union_split and found.regions:
            found = _unions_split(cfg, evidence, found)
        if evidence.edges is not None and cfg.net.split and found.regions:
            found = _lattices_split(cfg, evidence, found)
        if cfg.refits.merge_lattices and len(found.regions) > 1:
            found = _merged(cfg, evidence, found)
        if found.regions:
            found = _remnants_dropped(cfg, found)
        if cfg.learned and cfg.second_opinion and not all(found.uncompressed):
            found = _second_opinion_kept(cfg, self.second_opinion, frame, found)
        return _detection(cfg, found)

    def _network(self, frame: np.ndarray) -> tuple | None:
        """The segmenter's (logits, border maps, pixels blocked from the search), all None
        without the segmenter; None where it proposes nothing."""
        cfg = self.cfg
        logits, edges, blocked = None, None, None
        if cfg.learned:
            out = self.segmenter(frame)
            logits, edges = out[..., 0], (out[..., 1:] if out.shape[-1] == 3 else None)
            if cfg.net.gate:
                # The classical search runs only near what the network proposes: it then
                # verifies, fits grids and sharpens borders, and clean frames cost little.
                near = (logits > cfg.net.gate_threshold).astype(np.uint8)
                if not near.any():
                    return None
                blocked = far_from(near, cfg.net.gate)
            if self.border_segmenter is not None:  # only for frames with proposals: most frames have none
                edges = self.border_segmenter(frame)[..., 1:]
        return logits, edges, blocked

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

    def areas_in(self, frame: np.ndarray, mask: np.ndarray, fallback: Grid | None = None) -> list[GridArea]:
        """A user's mask as trusted areas: each connected part with the grid estimated inside
        it, or where none is found there (a part too small or too smooth to measure) the
        whole mask's, else `fallback`. One grid for the whole mask misfits where it covers two
        mosaics of different lattices: measured on two such mosaics (16 px frame-aligned, 8 px
        region-aligned) the second came out 0.56 dB worse than its mosaic."""
        whole = self.grid_in(frame, mask) or fallback
        count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        if count <= 2:
            return [GridArea(mask, whole, trusted=True)]
        parts = (labels == k for k in range(1, count))
        return [GridArea(part, self.grid_in(frame, part) or whole, trusted=True) for part in parts]


def detect(frame: np.ndarray, cfg: DetectorConfig = DetectorConfig()) -> Detection:
    return Detector(cfg).detect(frame)


# The stages as the detector joins them: each takes a RegionSet and returns a new one
# (the stage functions they call leave what they are given as it is and return new values).

def _nothing(height: int, width: int) -> Detection:
    return Detection(np.zeros((height, width), bool), (), np.zeros((height, width), np.int32))


def _classical(cfg: DetectorConfig, evidence: FrameEvidence) -> tuple[RegionSet, np.ndarray]:
    """The classical paths over the search window: the regions, and the exactly flat pixels (uint8)."""
    e = evidence
    labels, regions, exact = classical_regions(cfg, e.window_luma, e.window_colour, e.ev, e.eh, e.window(e.blocked),
                                               np.zeros(e.window_luma.shape[:2], np.int32), [],
                                               frame_origin=e.frame_origin)
    return RegionSet(labels, tuple(regions), (False,) * len(regions)), exact


def _uncompressed(found: RegionSet, exact: np.ndarray, coded: bool) -> RegionSet:
    closed = uncompressed_regions(found.labels, list(found.regions), exact, coded)
    return RegionSet.of(found.labels, found.regions, closed)


def _learned(cfg: DetectorConfig, evidence: FrameEvidence, found: RegionSet) -> RegionSet:
    e = evidence
    labels, regions, closed = add_learned(cfg, e.window(e.logits), e.window(e.edges), e.window_luma, e.window_colour,
                                          e.ev, e.eh, found.labels, found.regions, found.closed,
                                          frame_origin=e.frame_origin)
    return RegionSet.of(labels, regions, closed)


def _exact_seeds(cfg: DetectorConfig, evidence: FrameEvidence, found: RegionSet, exact: np.ndarray) -> RegionSet:
    labels, regions, closed = exact_footholds(cfg, evidence.window(evidence.logits), evidence.window_colour, exact,
                                              found.labels, found.regions, found.closed)
    return RegionSet.of(labels, regions, closed)


def _unsure_dropped(cfg: DetectorConfig, evidence: FrameEvidence, found: RegionSet) -> RegionSet:
    labels, regions, closed = drop_unsure(cfg, evidence.window(evidence.logits), found.labels, found.regions,
                                          found.closed)
    return RegionSet.of(labels, regions, closed)


def _exact_grown(found: RegionSet, colour: np.ndarray) -> RegionSet:
    """Uncompressed regions take in the exact stepping cells they reach (`exact_growth`)."""
    labels, regions, closed = found.unpacked()
    height, width = labels.shape
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
    return RegionSet.of(labels, regions, closed)


def _refitted(cfg: DetectorConfig, evidence: FrameEvidence, found: RegionSet) -> RegionSet:
    """Each region's lattice refitted to its own borders (`refit`)."""
    regions = list(found.regions)
    for k, region in enumerate(regions):
        x0, y0, x1, y1 = region.bbox
        own = found.labels[y0:y1, x0:x1] == k + 1
        grid = refit(cfg, evidence.luma, evidence.diffs, evidence.edges, own, region.bbox, region.grid,
                     not found.uncompressed[k])
        regions[k] = replace(region, pitch=grid.pitch, origin=grid.origin)
    return replace(found, regions=tuple(regions))


def _unions_split(cfg: DetectorConfig, evidence: FrameEvidence, found: RegionSet) -> RegionSet:
    labels, regions, closed = split_unions(cfg, evidence.luma, evidence.diffs, evidence.edges, found.labels,
                                           found.regions, found.closed)
    return RegionSet.of(labels, regions, closed)


def _lattices_split(cfg: DetectorConfig, evidence: FrameEvidence, found: RegionSet) -> RegionSet:
    labels, regions, closed = split_lattices(cfg, evidence.edges, found.labels, found.regions, found.closed)
    return RegionSet.of(labels, regions, closed)


def _merged(cfg: DetectorConfig, evidence: FrameEvidence, found: RegionSet) -> RegionSet:
    labels, regions, closed = merge_lattices(cfg, evidence.diffs, found.labels, found.regions, found.closed)
    return RegionSet.of(labels, regions, closed)


def _remnants_dropped(cfg: DetectorConfig, found: RegionSet) -> RegionSet:
    labels, regions, closed = drop_remnants(cfg, found.labels, found.regions, found.closed)
    return RegionSet.of(labels, regions, closed)


def _second_opinion_kept(cfg: DetectorConfig, second, frame: np.ndarray, found: RegionSet) -> RegionSet:
    """The regions the second segmenter also calls mosaic (`drop_unsure` with its logits and
    `net.second_score`), which it sees only over the box around the coded regions
    (`Segmenter.over`: the logits the whole frame gives there, to bfloat16's rounding; on a
    tiled frame, the tile's). Drawn flat graphics fall on a lattice of flat
    cells, as a mosaic does, and the first segmenter proposes them (its mean probability
    0.81–0.90 on lavfi `testsrc2`); the second, trained on such drawings too, does not
    (tuning set: under 0.7 on all 36 regions found in lavfi `testsrc` and 39 of 40 in
    drawings, 0.94–1.0 on every region found over the tuning footage's mosaics)."""
    coded = np.array([False, *(not exact for exact in found.uncompressed)])[found.labels]
    x, y, w, h = cv2.boundingRect(coded.astype(np.uint8))
    logits = np.full(found.labels.shape, np.inf, np.float32)  # elsewhere only uncompressed regions: not its say
    logits[y:y + h, x:x + w] = second.over(frame, (x, y, x + w, y + h))[..., 0]
    labels, regions, closed = drop_unsure(cfg, logits, found.labels, found.regions, found.closed,
                                          least=cfg.net.second_score)
    return RegionSet.of(labels, regions, closed)


def _detection(cfg: DetectorConfig, found: RegionSet) -> Detection:
    """The result: the labels grown by `dilate` (feathered edges), the boxes tight around them."""
    labels = found.labels
    mask = labels > 0
    if cfg.dilate and mask.any():
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * cfg.dilate + 1,) * 2)
        grown = cv2.dilate(labels.astype(np.float32), kernel).astype(np.int32)
        labels = np.where(labels > 0, labels, grown)
        mask = labels > 0
    return Detection(mask, tuple(tight_boxes(labels, list(found.regions), cfg.dilate)), labels)
