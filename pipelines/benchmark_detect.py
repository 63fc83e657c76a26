"""`demosaic benchmark detect`: detection quality and speed on photos the detector was not tuned on.

Cases: the synthesiser's random regions (rectangles, ellipses, polygons; frame- and
region-aligned grids) at a fixed cell size per case, on photos scaled to 768×576, each
scored as it is and after an H.264 round trip at several CRFs. Clean frames (the photos
themselves, every third of them through MPEG-4 Part 2 at a coarse quantiser — an old
codec's flat 8×8 blocks —, real video frames, flat and textured frames) measure false
positives.
Scaled cases: the mosaic made on a smaller or larger frame, then the whole frame scaled to
768×576 (bicubic, as ffmpeg's scaler), so cells have a fractional pitch (10.67 px at 4/3).
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from demosaic.config import KeyframeConfig, MaskConfig
from demosaic.detect import Detector, DetectorConfig, grid_line_error, iou
from demosaic.images import read_image
from demosaic.masks import random_regions
from demosaic.metrics import psnr
from demosaic.keyframes import KeyframeDetector
from demosaic.mosaic import Grid, MosaicRegion, pixelate
from demosaic.video import h264_roundtrip, h264_roundtrip_clip, mpeg4_roundtrip, read_frames

FRAME = (768, 576)  # (width, height): the real clip in opencv-doc, vtest.avi
CELL_BINS = ((4, 5), (6, 11), (12, 23), (24, 64))


@dataclass(frozen=True)
class DetectBenchmarkConfig:
    cell_sizes: tuple[int, ...] = (4, 6, 8, 12, 16, 24, 32, 48, 64)
    crfs: tuple[int | None, ...] = (None, 18, 23, 28)  # None: uncompressed
    cases_per_photo: int = 2
    seed: int = 0
    clips: tuple[str, ...] = ("/usr/share/doc/opencv-doc/examples/data/vtest.avi",
                              "/usr/share/doc/opencv-doc/examples/data/tree.avi")
    clip_every: int = 60  # take every n-th frame of a clip as a clean frame
    # Old codecs: every n-th photo through MPEG-4 Part 2 at this quantiser (no deblocking:
    # flat 8×8 blocks over smooth content), as clean frames of their own kind (None: none).
    mpeg4_qscale: int | None = 10
    mpeg4_every: int = 3
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    # Video: mosaics that stay, move and flash by on real footage, through H.264 as one
    # stream, detected on every frame and on keyframes (`keyframes.every`). Frames 600- of
    # vtest.avi: the keyframe settings were chosen on frames 300-399 only.
    video: str | None = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
    video_start: int = 600
    video_frames: int = 100
    video_crf: int = 23
    video_every: tuple[int, ...] = (1, 8)
    # Mosaics scaled after pixelation: one case per photo and scale, cells of these sizes
    # before scaling, as made and after H.264 at each of `scaled_crfs`.
    scales: tuple[float, ...] = (0.75, 4 / 3, 1.5)
    scaled_cells: tuple[int, ...] = (8, 12, 16, 24)
    scaled_crfs: tuple[int | None, ...] = (None, 23)


def fit_frame(image: np.ndarray) -> np.ndarray:
    """Centre-crop to 4:3 and scale to 768×576 (area for shrinking, cubic for growing)."""
    h, w = image.shape[:2]
    tw = min(w, h * 4 // 3)
    th = tw * 3 // 4
    y, x = (h - th) // 2, (w - tw) // 2
    crop = image[y:y + th, x:x + tw]
    interp = cv2.INTER_AREA if tw >= FRAME[0] else cv2.INTER_CUBIC
    return cv2.resize(crop, FRAME, interpolation=interp)


def _bin(cell: int) -> str:
    for lo, hi in CELL_BINS:
        if lo <= cell <= hi:
            return f"{lo}-{hi}"
    return "other"


def clean_frames(photos: Sequence[tuple[str, np.ndarray]], cfg: DetectBenchmarkConfig) -> list[tuple[str, str, np.ndarray]]:
    """(kind, name, frame) of frames with no mosaic at all."""
    frames = [("photo", name, p) for name, p in photos]
    for clip in cfg.clips:
        if Path(clip).is_file():
            frames += [("video", f"{Path(clip).name}#{i * cfg.clip_every}",
                        cv2.resize(f, FRAME, interpolation=cv2.INTER_AREA) if f.shape[1] != FRAME[0] else f)
                       for i, f in enumerate(read_frames(clip, every=cfg.clip_every))]
    if cfg.mpeg4_qscale is not None:
        frames += [("mpeg4", f"{name} (MPEG-4 Part 2, q {cfg.mpeg4_qscale})", mpeg4_roundtrip(p, cfg.mpeg4_qscale))
                   for name, p in photos[::cfg.mpeg4_every]]
    w, h = FRAME
    rng = np.random.default_rng(cfg.seed)
    frames.append(("flat", "grey", np.full((h, w, 3), 118, np.uint8)))
    ramp = np.tile(np.linspace(10, 245, w, dtype=np.float32)[None, :, None], (h, 1, 3))
    frames.append(("flat", "noisy ramp", np.clip(ramp + rng.normal(0, 1.5, ramp.shape), 0, 255).astype(np.uint8)))
    dark = np.clip(rng.normal(20, 2, (h, w, 3)), 0, 255).astype(np.uint8)
    frames.append(("flat", "dark, H.264 CRF 28", h264_roundtrip(dark, 28)))  # coding blocks in a flat scene
    tiles = np.full((h, w, 3), 200, np.uint8)
    tiles[::32] = 90
    tiles[:, ::32] = 90
    frames.append(("texture", "tiles", np.clip(tiles + rng.normal(0, 4, tiles.shape), 0, 255).astype(np.uint8)))
    return frames


def visible_parts(regions: Sequence, height: int, width: int) -> list[np.ndarray]:
    """Each region's pixels that show its own lattice: later regions paint over earlier
    ones (`pixelate`), so where two overlap only the later one's cells are there to find."""
    parts, later = [], np.zeros((height, width), bool)
    for region in reversed(regions):
        mask = region.rasterise(height, width)
        parts.append(mask & ~later)
        later |= mask
    return parts[::-1]


def unchanged_cells(photo: np.ndarray, mosaic: np.ndarray, regions: Sequence,
                    parts: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """Bool H×W: mosaic pixels in cells the mosaic left exactly as they were (a cell of one
    flat colour, such as black or blown-out sky): no detector can see them there, and
    restoring or keeping them gives the same frame. The benchmark scores IoU with and
    without them ("don't care" pixels, as in segmentation benchmarks' void label).
    `parts`: the regions' `visible_parts`, if known."""
    height, width = photo.shape[:2]
    changed = (photo != mosaic).any(axis=-1)
    out = np.zeros((height, width), bool)
    for region, seen in zip(regions, parts or visible_parts(regions, height, width)):
        iy, ix = region.grid().cell_index(height, width)
        cells = (iy - iy.min())[:, None] * (ix.max() - ix.min() + 1) + (ix - ix.min())[None, :]
        out |= seen & ~np.isin(cells, np.unique(cells[seen & changed]))
    return out


def scored_iou(found: np.ndarray, truth: np.ndarray, ignore: np.ndarray) -> float | None:
    """IoU over the pixels outside `ignore`; None where no true pixel is left to find."""
    truth = truth & ~ignore
    if not truth.any():
        return None
    return iou(found & ~ignore, truth)


def grid_found(found, region, seen: np.ndarray, rendered: bool = False) -> bool | None:
    """Whether the detected region covering most of `seen` (a true region's visible pixels)
    has grid lines within 1 px of the truth over them (`rendered`: as the frame shows both,
    between whole pixels; see `grid_line_error`); None if no detected region covers more
    than half of them (a miss, counted by IoU, not as a grid error)."""
    if not seen.any():
        return None
    overlaps = [(int((found.labels == k + 1)[seen].sum()), r) for k, r in enumerate(found.regions)]
    best = max(overlaps, default=(0, None), key=lambda o: o[0])
    if best[1] is None or best[0] <= 0.5 * seen.sum():
        return None
    ys, xs = np.nonzero(seen)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return grid_line_error(best[1].grid, region.grid(), bbox, rendered) <= 1.0


def run(photo_paths: Sequence[Path], cfg: DetectBenchmarkConfig, progress: Callable[[str], None] = lambda m: None) -> dict:
    detector = Detector(cfg.detector)
    rng = np.random.default_rng(cfg.seed)
    photos = [fit_frame(read_image(p)) for p in photo_paths]
    per_case = []
    sample_mosaics = []  # for the speed measurement: frames with mosaics cost more than clean ones
    h, w = FRAME[1], FRAME[0]
    for i, photo in enumerate(photos):
        progress(f"photo {i + 1}/{len(photos)}")
        for _ in range(cfg.cases_per_photo):
            cell = int(rng.choice(cfg.cell_sizes))
            masks = MaskConfig(min_cell=cell, max_cell=cell, max_area=0.25, min_area=0.05)
            regions = [r for r in random_regions(rng, h, w, masks)]
            mosaic, truth = pixelate(photo, regions)
            seen = visible_parts(regions, h, w)
            unseen = unchanged_cells(photo, mosaic, regions, seen)  # after coding too: nothing of the mosaic is there to see
            damage = psnr(mosaic, photo, truth)  # how much the mosaic hides (high: over flat or smooth content)
            if len(sample_mosaics) < 4:
                sample_mosaics.append(mosaic)
            for crf in cfg.crfs:
                frame = mosaic if crf is None else h264_roundtrip(mosaic, crf)
                found = detector.detect(frame)
                tp = int((found.mask & truth).sum())
                grid_ok = [grid_found(found, region, part) for region, part in zip(regions, seen)]
                grid_px = [grid_found(found, region, part, rendered=True) for region, part in zip(regions, seen)]
                per_case.append({"photo": str(photo_paths[i]), "cell": cell, "crf": crf,
                                 "iou": iou(found.mask, truth),
                                 "iou_changed_cells": scored_iou(found.mask, truth, unseen),
                                 "unchanged_fraction": float(unseen.sum() / max(int(truth.sum()), 1)),
                                 "mosaic_psnr": damage if np.isfinite(damage) else None,
                                 "precision": tp / max(int(found.mask.sum()), 1),
                                 "recall": tp / max(int(truth.sum()), 1),
                                 "grid_within_1px": grid_ok, "grid_rendered_within_1px": grid_px})
    clean = []
    for kind, name, frame in clean_frames([(str(p), f) for p, f in zip(photo_paths, photos)], cfg):
        found = detector.detect(frame)
        sizes = [int((found.labels == k + 1).sum()) for k in range(len(found.regions))]
        clean.append({"kind": kind, "name": name, "fp_fraction": float(found.mask.mean()),
                      "largest_false_region": max(sizes, default=0) / frame[..., 0].size})
    one_core = _speed(detector, photos[:4] + sample_mosaics)
    result = summarise(per_case, clean, one_core, cfg)
    if cfg.scales:
        progress("scaled")
        result["scaled"] = scaled_run(photos, cfg, detector, rng)
    if cfg.video and Path(cfg.video).is_file():
        progress("video")
        result["video"] = video_run(cfg.video, cfg, detector)
    return result


def scaled_case(photo: np.ndarray, scale: float, cell: int, rng: np.random.Generator):
    """A mosaic made on `photo` shrunk (enlarged) to 768×576 / `scale`, then the frame scaled
    to 768×576 with bicubic: returns the frame, its true mask, and the true lattice as the
    frame shows it (pitch × scale; a cell border at source edge e sits at edge e × scale)."""
    h, w = int(round(FRAME[1] / scale)), int(round(FRAME[0] / scale))
    source = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA if scale > 1 else cv2.INTER_CUBIC)
    masks = MaskConfig(min_cell=cell, max_cell=cell, max_area=0.25, min_area=0.05, max_regions=1)
    regions = list(random_regions(rng, h, w, masks))
    mosaic, truth = pixelate(source, regions)
    frame = cv2.resize(mosaic, FRAME, interpolation=cv2.INTER_CUBIC)
    truth = cv2.resize(truth.astype(np.uint8), FRAME, interpolation=cv2.INTER_NEAREST) > 0
    g = regions[0].grid()
    sx, sy = FRAME[0] / w, FRAME[1] / h
    # Region-aligned lattices start at a fractional corner; the cells start at the next pixel.
    grid = Grid((g.pitch[0] * sx, g.pitch[1] * sy), (math.ceil(g.origin[0] - 1e-6) * sx, math.ceil(g.origin[1] - 1e-6) * sy))
    return frame, truth, grid


def scaled_run(photos: Sequence[np.ndarray], cfg: DetectBenchmarkConfig, detector: Detector,
               rng: np.random.Generator) -> dict:
    """Per scale and CRF: mean IoU, the share of each mosaic its largest detected region
    holds (a mosaic found in pieces, each with its own lattice, scores low), and how often
    that region's grid lines lie within 1 px of the true ones (of regions holding > half)."""
    rows = []
    for photo in photos:
        for scale in cfg.scales:
            cell = int(rng.choice(cfg.scaled_cells))
            frame, truth, grid = scaled_case(photo, scale, cell, rng)
            ys, xs = np.nonzero(truth)
            bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            for crf in cfg.scaled_crfs:
                found = detector.detect(frame if crf is None else h264_roundtrip(frame, crf))
                held = np.bincount(found.labels[truth], minlength=len(found.regions) + 1)[1:]
                best = int(held.argmax()) if held.size else -1
                share = float(held[best] / truth.sum()) if held.size else 0.0
                ok = (grid_line_error(found.regions[best].grid, grid, bbox) <= 1.0) if share > 0.5 else None
                rows.append({"scale": scale, "cell": cell, "crf": crf, "pitch": list(grid.pitch),
                             "iou": iou(found.mask, truth), "largest_share": share, "grid_within_1px": ok})
    out = {}
    for scale in cfg.scales:
        for crf in cfg.scaled_crfs:
            sel = [r for r in rows if r["scale"] == scale and r["crf"] == crf]
            grids = [r["grid_within_1px"] for r in sel if r["grid_within_1px"] is not None]
            out[f"{scale:.3g} {'none' if crf is None else crf}"] = {
                "scale": scale, "crf": crf, "n": len(sel), "iou": float(np.mean([r["iou"] for r in sel])),
                "largest_share": float(np.mean([r["largest_share"] for r in sel])),
                "held_by_one_region": len(grids), "grid_within_1px": (sum(grids) / len(grids)) if grids else None}
    return {"by_scale": out, "per_case": rows}


SCENES = ("one that stays", "four that stay, move and flash by")


def video_regions(n: int, frames: int, width: int, height: int, scene: str = SCENES[1]) -> list[MosaicRegion]:
    """The mosaics on frame `n` of a clip `frames` long, placed in proportion to its size.
    SCENES[0]: one 12 px mosaic on the whole clip (a censored logo or plate). SCENES[1]: the
    same one on frames 5-85 %, one that moves with its own grid (3 px a frame at 768 px
    wide; 15-75 %), one that moves over the frame's grid, its cells cut anew at its edges
    every frame (2 px a frame; 30-90 %), and one that flashes by for 5 % of the clip."""
    sx, sy = width / FRAME[0], height / FRAME[1]
    at = n / frames

    def rect(shape, x0, y0, x1, y1, cell, align):
        return MosaicRegion(shape, ((x0 * sx, y0 * sy), (x1 * sx, y1 * sy)), (cell * sx, cell * sx), align)

    if scene == SCENES[0]:
        return [rect("rect", 420, 300, 660, 480, 12, "frame")]
    regions = []
    if 0.05 <= at < 0.85:
        regions.append(rect("rect", 420, 300, 660, 480, 12, "frame"))
    if 0.15 <= at < 0.75:
        x = 40 + 3 * (at - 0.15) * frames
        regions.append(rect("ellipse", x, 60, x + 128, 172, 16, "region"))
    if 0.30 <= at < 0.90:
        x = 40 + 2 * (at - 0.30) * frames
        regions.append(rect("rect", x, 400, x + 100, 480, 10, "frame"))
    if 0.50 <= at < 0.55:
        regions.append(rect("rect", 600, 60, 696, 156, 8, "frame"))
    return regions


def video_run(clip: str, cfg: DetectBenchmarkConfig, detector: Detector) -> dict:
    """Detection on a clip with each of `video_regions`' scenes, every frame against
    keyframes: IoU against the truth, true regions missed (under half found), false
    pixels, frames detected in full and frames/s on one core."""
    source = list(read_frames(clip, limit=cfg.video_start + cfg.video_frames))[cfg.video_start:]
    height, width = source[0].shape[:2]
    scenes = {}
    for scene in SCENES:
        frames, truths, parts = [], [], []
        for n, frame in enumerate(source):
            regions = video_regions(n, len(source), width, height, scene)
            mosaic, truth = pixelate(frame, regions)
            frames.append(mosaic)
            truths.append(truth)
            parts.append(visible_parts(regions, height, width))
        coded = list(h264_roundtrip_clip(np.stack(frames), cfg.video_crf))
        scenes[scene] = {"true_regions": sum(int(p.any()) for ps in parts for p in ps),
                         "by_every": _video_scores(coded, truths, parts, cfg, detector)}
    return {"clip": f"{Path(clip).name} frames {cfg.video_start}-{cfg.video_start + len(source) - 1}",
            "size": [width, height], "crf": cfg.video_crf, "scenes": scenes}


def _video_scores(coded, truths, parts, cfg: DetectBenchmarkConfig, detector: Detector) -> dict:
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    runs, reference = {}, None
    try:
        for every in cfg.video_every:
            keyed = KeyframeDetector(lambda f: detector.detect(f, coded=True), cfg.detector,
                                     KeyframeConfig(every=every))
            t0 = time.perf_counter()
            found = [d for f in coded for _, d in keyed.push(f)] + [d for _, d in keyed.flush()]
            seconds = time.perf_counter() - t0
            masks = [d.mask for d in found]
            reference = reference or masks
            runs[str(every)] = {
                "frames_per_second_one_core": len(coded) / seconds,
                "frames_detected": keyed.detected,
                "iou": float(np.mean([iou(m, t) for m, t in zip(masks, truths)])),
                "regions_missed": sum(int((m & p).sum() < 0.5 * p.sum()) for m, ps in zip(masks, parts) for p in ps if p.any()),
                "false_pixels": float(np.mean([(m & ~t).mean() for m, t in zip(masks, truths)])),
                "agreement_with_every_frame": float(np.mean([iou(m, r) for m, r in zip(masks, reference)])),
            }
    finally:
        cv2.setNumThreads(threads)
    return runs


def _speed(detector: Detector, frames: Sequence[np.ndarray], repeats: int = 3) -> float:
    """Frames/s at 768×576 with OpenCV on one thread (NumPy here is single-threaded; the
    benchmark command limits the segmenter's TensorFlow to one thread too)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        times = []
        for _ in range(repeats):
            for f in frames:
                t0 = time.perf_counter()
                detector.detect(f)
                times.append(time.perf_counter() - t0)
    finally:
        cv2.setNumThreads(threads)
    return 1.0 / statistics.median(times)



def summarise(per_case: list[dict], clean: list[dict], fps: float, cfg: DetectBenchmarkConfig) -> dict:
    table = {}
    for crf in cfg.crfs:
        key = "none" if crf is None else str(crf)
        rows = [c for c in per_case if c["crf"] == crf]
        table[key] = {"all": _scores(rows), "cells>=6": _scores([c for c in rows if c["cell"] >= 6])}
        for lo, hi in CELL_BINS:
            table[key][f"{lo}-{hi}"] = _scores([c for c in rows if lo <= c["cell"] <= hi])
    grids = [g for c in per_case for g in c["grid_within_1px"] if g is not None]
    rendered = [g for c in per_case for g in c.get("grid_rendered_within_1px", []) if g is not None]
    return {
        "frame": list(FRAME),
        "detector": "learned" if cfg.detector.learned else "classical",
        "cases": len(per_case),
        "by_crf": table,
        "grid_within_1px": (sum(grids) / len(grids)) if grids else None,
        "grid_rendered_within_1px": (sum(rendered) / len(rendered)) if rendered else None,
        "clean": {kind: {"frames": len(rows), "fp_fraction_mean": float(np.mean([r["fp_fraction"] for r in rows])),
                         "largest_false_region_max": float(max(r["largest_false_region"] for r in rows))}
                  for kind in sorted({r["kind"] for r in clean})
                  for rows in [[r for r in clean if r["kind"] == kind]]},
        "clean_fp_fraction_mean": float(np.mean([r["fp_fraction"] for r in clean])),
        "clean_frames_with_false_region_over_1pct": int(sum(r["largest_false_region"] > 0.01 for r in clean)),
        "frames_per_second_one_core": fps,
        "per_case": per_case,
        "per_clean_frame": clean,
    }


def _scores(rows: list[dict]) -> dict:
    if not rows:
        return {"n": 0}
    changed = [r["iou_changed_cells"] for r in rows if r.get("iou_changed_cells") is not None]
    return {"n": len(rows), "iou": float(np.mean([r["iou"] for r in rows])),
            "precision": float(np.mean([r["precision"] for r in rows])),
            "recall": float(np.mean([r["recall"] for r in rows])),
            "iou_changed_cells": float(np.mean(changed)) if changed else None}


def table(result: dict) -> str:
    lines = [f"detector: {result.get('detector', 'classical')}", "mean IoU / precision / recall by CRF and cell size (px)",
             f"{'CRF':>6} " + " ".join(f"{k:>18}" for k in ["all", "cells>=6"] + [f"{lo}-{hi}" for lo, hi in CELL_BINS])]
    for crf, row in result["by_crf"].items():
        cells = []
        for k in ["all", "cells>=6"] + [f"{lo}-{hi}" for lo, hi in CELL_BINS]:
            s = row[k]
            cells.append(f"{s['iou']:.2f}/{s['precision']:.2f}/{s['recall']:.2f}" if s["n"] else "-")
        lines.append(f"{crf:>6} " + " ".join(f"{c:>18}" for c in cells))
    lines.append("mean IoU not scoring the cells the mosaic left unchanged (flat black, blown-out sky)")
    for crf, row in result["by_crf"].items():
        cells = [row[k].get("iou_changed_cells") for k in ["all", "cells>=6"] + [f"{lo}-{hi}" for lo, hi in CELL_BINS]]
        lines.append(f"{crf:>6} " + " ".join(f"{'-' if c is None else f'{c:.2f}':>18}" for c in cells))
    g = result["grid_within_1px"]
    r = result.get("grid_rendered_within_1px")
    lines.append(f"grid lines within 1 px: {'-' if g is None else f'{100 * g:.1f}%'} of found regions"
                 f" ({'-' if r is None else f'{100 * r:.1f}%'} as the frame shows them, between whole pixels)")
    for kind, s in result["clean"].items():
        lines.append(f"clean {kind:<8} {s['frames']:>3} frames: false-positive pixels {100 * s['fp_fraction_mean']:.3f}%"
                     f", largest false region {100 * s['largest_false_region_max']:.2f}% of a frame")
    lines.append(f"frames/s at {result['frame'][0]}x{result['frame'][1]}, one core: {result['frames_per_second_one_core']:.1f}")
    scaled = result.get("scaled")
    if scaled:
        lines.append("scaled after pixelation (bicubic): mean IoU | share of the mosaic its largest region holds |"
                     " grid lines within 1 px (of mosaics one region holds over half of)")
        for v in scaled["by_scale"].values():
            g = v["grid_within_1px"]
            lines.append(f"  x{v['scale']:<5.3g} CRF {'none' if v['crf'] is None else v['crf']:>4} {v['n']:>3} cases: IoU {v['iou']:.2f}"
                         f" | held {v['largest_share']:.2f} | grid {'-' if g is None else f'{100 * g:.0f}%'}"
                         f" ({v['held_by_one_region']})")
    video = result.get("video")
    if video:
        lines.append(f"video: {video['clip']} ({video['size'][0]}x{video['size'][1]}), H.264 CRF {video['crf']}")
        for scene, sc in video["scenes"].items():
            lines.append(f" mosaics: {scene} ({sc['true_regions']} true regions over the frames)")
            for every, v in sc["by_every"].items():
                how = "every frame" if every == "1" else f"keyframes every {every}"
                lines.append(f"  {how:<18} {v['frames_per_second_one_core']:5.1f} frames/s one core, {v['frames_detected']:>3} "
                             f"detected in full | IoU {v['iou']:.3f}, regions missed {v['regions_missed']}, false pixels "
                             f"{100 * v['false_pixels']:.3f}%, agreement with every frame {v['agreement_with_every_frame']:.3f}")
    return "\n".join(lines)


def network_on_one_core() -> bool:
    """TensorFlow on one core, as the classical detector runs; False where it is already
    running (then it cannot be changed, and the figures are not one core's)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        return True
    except RuntimeError:
        return False
