"""Single images: `demosaic detect` and `demosaic image`."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from demosaic import fields
from demosaic.alpha import restore_alpha
from demosaic.config import KeyframeConfig, TileConfig
from demosaic.detect import Detection, Detector, DetectorConfig
from demosaic.images import atomic_output, read_mask, write_image
from demosaic.pictures import Picture, read_picture, write_picture
from demosaic.keyframes import KeyframeDetector
from demosaic.mosaic import AreaCrop, GridArea, area_crops, without

if TYPE_CHECKING:  # imported where it is used, as the restoring functions do
    from demosaic.restore import Restorer


def detection_json(detection: Detection) -> dict:
    return {"mosaic_pixels": int(detection.mask.sum()),
            "regions": [{**asdict(r), "bbox": [int(v) for v in r.bbox], "pitch": [float(v) for v in r.pitch],
                         "origin": [float(v) for v in r.origin], "cells": int(r.cells), "score": float(r.score),
                         "grid": {"pitch": [float(v) for v in r.pitch], "origin": [float(v) for v in r.origin]}}
                        for r in detection.regions]}


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the mask tinted red and outlined, for a quick look."""
    out = image.copy()
    tint = np.array([255, 0, 0], np.float32)
    out[mask] = (0.55 * out[mask] + 0.45 * tint).astype(np.uint8)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), 1)
    return out


def detect_image(src: Path, dst: Path, json_path: Path | None, overlay_path: Path | None,
                 cfg: DetectorConfig, tiles: TileConfig = TileConfig()) -> Detection:
    image = read_picture(src).rgb  # the stored layout: the mask fits `demosaic image --mask`
    detection = Detector(cfg, tiles).detect(image)
    write_image(dst, detection.mask.astype(np.uint8) * 255)
    if json_path is not None:
        json_path.write_text(json.dumps(detection_json(detection), indent=2) + "\n")
    if overlay_path is not None:
        write_image(overlay_path, overlay(image, detection.mask))
    return detection


def detect_video(src: Path, dst: Path, json_path: Path | None, cfg: DetectorConfig,
                 keyframes: KeyframeConfig = KeyframeConfig()) -> dict:
    """A mask video (255 = mosaic), frame for frame, and optionally the regions per frame
    (detected in full on keyframes: `keyframes.every`). Interlaced video is detected field
    by field, as `demosaic video` restores it: each frame's regions are given per field
    (`fields`: `top`, `bottom`, in the field's own rows)."""
    from demosaic.probe import probe
    from demosaic.video import read_frames, write_gray_video

    info = probe(src)
    detector = Detector(cfg)
    keyed = [KeyframeDetector.of_video(detector, info.lossy, keyframes) for _ in range(2 if info.interlaced else 1)]
    if info.interlaced:  # field by field, as `demosaic video` restores it (demosaic.fields)
        follow = fields.Lanes(*(fields.Step(lambda f, _, k=k: k.push(f), k.flush) for k in keyed))
        push, flush = follow.push, follow.flush
    else:
        push, flush = keyed[0].push, keyed[0].flush
    per_frame = []

    def mask_of(found) -> np.ndarray:
        if isinstance(found, fields.Fields):  # the regions are in each field's rows
            per_frame.append({"mosaic_pixels": sum(int(d.mask.sum()) for d in found),
                              "fields": {"top": detection_json(found.top), "bottom": detection_json(found.bottom)}})
            return fields.weave(found.top.mask, found.bottom.mask).astype(np.uint8) * 255
        per_frame.append(detection_json(found))
        return found.mask.astype(np.uint8) * 255

    def masks():
        for frame in read_frames(src):
            yield from (mask_of(found) for _, found in push(frame))
        yield from (mask_of(found) for _, found in flush())

    frames = write_gray_video(dst, masks(), info.width, info.height, info.rate)
    if json_path is not None:
        json_path.write_text(json.dumps({"frames": per_frame}) + "\n")
    return {"frames": frames, "frames_with_mosaic": sum(f["mosaic_pixels"] > 0 for f in per_frame),
            "frames_detected": max(k.detected for k in keyed)}  # per frame: a field lane's count


def restore_image(src: Path, dst: Path, mask_path: Path | None, model_path: Path | None, mode: str,
                  cfg: DetectorConfig, note: Callable[[str], None], exclude_path: Path | None = None,
                  tiles: TileConfig = TileConfig()) -> dict:
    """Detect (or take the mask and estimate its grid), restore, write. Returns a summary.
    The output keeps the input's depth, channels, alpha, metadata and (same format) quality;
    with nothing restored and the same format it is a copy of the input's bytes. A picture
    above `tiles.above` pixels is detected tile by tile and restored crop by crop around its
    regions (`demosaic.tiles`), so that its memory stays bounded."""
    from demosaic.restore import Restorer

    picture = read_picture(src)
    image = picture.rgb
    detector = Detector(cfg, tiles)
    areas = None  # None: detect them
    if mask_path is not None:
        mask = read_mask(mask_path, image.shape[:2])
        areas = detector.areas_in(image, mask)
        if all(a.grid is None for a in areas) and mode == "guided":
            # No cells to take evidence from (nearly flat content): the mosaic's own pixels are
            # the best fill there is. Pure inpainting would fill it from outside, far worse.
            note("no cell grid found inside the mask: the masked area is kept as it is")
            _unchanged(src, dst, picture)
            return {"restored_pixels": 0, "mode": mode}
    excluded = None if exclude_path is None else read_mask(exclude_path, image.shape[:2])
    if tiles.splits(image.shape):
        return _restore_large(src, dst, picture, image, detector, areas, excluded, model_path, mode, tiles, note)
    if areas is None:
        areas = detector.detect(image).areas()
    areas = without(areas, excluded)
    if not any(a.mask.any() for a in areas):
        note("no mosaic found: the output is the input unchanged")
        _unchanged(src, dst, picture)
        return {"restored_pixels": 0, "mode": mode}
    restorer = Restorer.for_mode(mode, model_path)
    restored = restorer.restore(image, areas)
    changed = np.any(restored != image, axis=2)
    out = picture.with_rgb(restored)
    fitted = restorer.fitted(image, areas)  # as the guards took them: the grids the colour was restored on
    if picture.alpha is not None:  # pixelated with its colour: restored where the colour was
        out = out.with_alpha(restore_alpha(picture.alpha, fitted, changed))
    write_picture(dst, out)
    return {"restored_pixels": int(changed.sum()), "mode": mode,
            "model": restorer.card.get("name"), "grids": [None if a.grid is None else asdict(a.grid) for a in fitted]}


def _restore_large(src: Path, dst: Path, picture: Picture, image: np.ndarray, detector: Detector,
                   areas: list[GridArea] | None, excluded: np.ndarray | None, model_path: Path | None, mode: str,
                   tiles: TileConfig, note: Callable[[str], None]) -> dict:
    """`restore_image` for a large picture: its areas (None: detected) restored crop by crop and
    written into the picture's own pixels, with no frame-sized copy between."""
    restorer, crops = _large_crops(image, detector, areas, excluded, model_path, mode)
    if not crops:
        note("no mosaic found: the output is the input unchanged")
        _unchanged(src, dst, picture)
        return {"restored_pixels": 0, "mode": mode}
    restored = restorer.restore_crops(image, crops, tiles)
    changes = [np.any(r.pixels != image[r.rows, r.cols], axis=2) for r in restored]
    alpha = None
    if picture.alpha is not None:  # as `restore_image`, crop by crop
        alpha = picture.alpha.copy()
        for r, changed in zip(restored, changes):
            fitted = restorer.fitted(image[r.rows, r.cols], r.areas)
            alpha[r.rows, r.cols] = restore_alpha(alpha[r.rows, r.cols], fitted, changed)
    write_picture(dst, picture.with_rgb_in([(r.rows, r.cols, r.pixels) for r in restored], alpha))
    changed = sum(int(c.sum()) for c in changes)
    grids = [None if a.grid is None else asdict(a.grid.moved(c.cols.start, c.rows.start))
             for c in crops for a in restorer.fitted(image[c.rows, c.cols], c.areas)]
    return {"restored_pixels": changed, "mode": mode, "model": restorer.card.get("name"), "grids": grids}


def _large_crops(image: np.ndarray, detector: Detector, areas: list[GridArea] | None, excluded: np.ndarray | None,
                 model_path: Path | None, mode: str) -> tuple[Restorer | None, list[AreaCrop]]:
    """(the restorer, the areas as crops around them) for a large picture; (None, []) without
    any. The detection's frame-sized labels are gone when it returns."""
    from demosaic.restore import Restorer

    detection = None
    if areas is None:
        detection = detector.detect(image)
        if not detection.regions:
            return None, []
    elif not any(a.mask.any() for a in areas):
        return None, []
    restorer = Restorer.for_mode(mode, model_path)
    crops = detection.crops(restorer.reach) if detection is not None else area_crops(areas, restorer.reach)
    return restorer, [c for c in (c.without(excluded) for c in crops) if c.areas]


def _unchanged(src: Path, dst: Path, picture: Picture) -> None:
    """Nothing restored: the input's own bytes where the format is the same (a lossy file is
    not coded again), else the picture in the output's format."""
    if src.suffix.lower() == dst.suffix.lower():
        with atomic_output(dst) as tmp:
            shutil.copyfile(src, tmp)
    else:
        write_picture(dst, picture)
