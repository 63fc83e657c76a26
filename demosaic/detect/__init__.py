"""Find pixelation mosaics in a frame: a mask, and each region's cell grid.

A package of stages (docs/detector.md walks through them in order): `evidence` (steps,
border evidence, flat maps), `classical` (the search over a window: `lattice`, `cells`,
`pieces`, `blobs`), `learned` (the segmenter's regions), `exact` (uncompressed mosaics),
`refits` (grid refits, splits, merges), joined by `detector.Detector`.
"""
from .cellstats import window_cells
from .combs import grid_line_error
from .config import (CellConfig, DetectorConfig, EvidenceConfig, ExactConfig, LatticeConfig, NetConfig,
                     PieceConfig, RefitConfig)
from .detector import DEFAULT_SECOND_OPINION, DEFAULT_SEGMENTER, Detector, detect
from .evidence import border_evidence
from .regions import Detection, Region, iou

__all__ = ["DEFAULT_SECOND_OPINION", "DEFAULT_SEGMENTER", "CellConfig", "Detection", "Detector", "DetectorConfig", "EvidenceConfig", "ExactConfig",
           "LatticeConfig", "NetConfig", "PieceConfig", "RefitConfig", "Region", "border_evidence",
           "detect", "grid_line_error", "iou", "window_cells"]
