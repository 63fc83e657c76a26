"""`demosaic evaluate`: restoration quality against baselines, on photos the models never saw.

Mosaic protocol: per photo (scaled so its long side is at most 768 px) and cell size, one
seeded rectangle or ellipse covering 5–25 % of the photo, pixelated with a frame-aligned
grid. Every method restores the same observed image; PSNR is over the mosaic's pixels,
SSIM and LPIPS over the mosaic's bounding box (outside the mask every method returns the
observed pixels, so the box is mostly mosaic). Methods with the true mask and grid, and the
product's default once more with the detector's mask and grid (scored on the true mask),
so detection errors show. With `crf`, each mosaic goes through H.264 first (as video
arrives): every method restores the coded frame, scored against the photo.

Paper protocol (pure inpainting): the paper's kind of irregular holes, one per photo and
hole-ratio bin; L1 (%), PSNR and SSIM over the whole image, as in Liu et al. 2018 Table 1.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import cv2
import numpy as np

from demosaic.images import read_image, write_image
from demosaic.masks import random_strokes
from demosaic.metrics import LPIPS, bounding_box, grid_visibility, psnr, ssim
from demosaic.consistency import cell_mean_error
from demosaic.mosaic import GridArea, MosaicRegion, cell_colour_guide, pixelate
from demosaic.video import h264_roundtrip

METHODS = ("mosaic", "bicubic", "lanczos", "telea", "pconv (pure)", "guided", "guided (detected)")
HOLE_BINS = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))
PAPER = {"PConv, Places2 (Liu et al. 2018)": {"0.1-0.2": 28.32, "0.2-0.3": 25.25, "0.3-0.4": 22.89},
         "MMagic PConv, Places365": {"all": 22.76}}


@dataclass(frozen=True)
class EvalConfig:
    cells: tuple[int, ...] = (8, 16, 24)
    seed: int = 0
    max_side: int = 768
    crops: int = 4  # photos shown side by side in the report
    paper_protocol: bool = True
    crf: int | None = None  # H.264 CRF the mosaic is coded at before restoring (None: as it is)
    precision: str = "float32"  # the guided network's arithmetic (restore.resolve_precision), resolved


def fit(image: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return image


def random_region(rng: np.random.Generator, height: int, width: int, cell: int) -> MosaicRegion:
    share = rng.uniform(0.05, 0.25)
    aspect = rng.uniform(0.6, 1.6)
    shape = str(rng.choice(["rect", "ellipse"]))
    if shape == "ellipse":
        share *= 4 / np.pi  # the ellipse fills π/4 of its box
    w = float(np.clip(np.sqrt(share * height * width * aspect), 3 * cell, width))
    h = float(np.clip(share * height * width / w, 3 * cell, height))
    x0, y0 = rng.uniform(0, width - w), rng.uniform(0, height - h)
    return MosaicRegion(shape, ((x0, y0), (x0 + w, y0 + h)), (cell, cell))


class TuningCase(NamedTuple):
    """One tuning photo with one seeded mosaic (uncoded), its true mask and area (a user's)."""

    cell: int
    photo: np.ndarray
    mosaic: np.ndarray
    mask: np.ndarray
    area: GridArea


def tuning_cases(cells: Sequence[int] = (8, 16, 24), seed: int = 0, max_side: int = 768):
    """The tuning photos (held-out training photos, never the evaluation wallpapers), each with
    one region per cell size drawn as `evaluate` draws them: for choosing settings."""
    from demosaic.data import default_training_sources, find_images, is_validation, read_rgb

    photos = [p for p in find_images(default_training_sources()) if is_validation(p)]
    images = [im for im in (read_rgb(p) for p in photos) if im is not None and min(im.shape[:2]) >= 256]
    rng = np.random.default_rng(seed)
    for image in images:
        photo = fit(image, max_side)
        photo = photo[:photo.shape[0] // 2 * 2, :photo.shape[1] // 2 * 2]
        h, w = photo.shape[:2]
        for cell in cells:
            region = random_region(rng, h, w, cell)
            mosaic, mask = pixelate(photo, [region])
            yield TuningCase(cell, photo, mosaic, mask, region.area(h, w)._replace(trusted=True))


def holes_in_bin(rng: np.random.Generator, height: int, width: int, lo: float, hi: float) -> np.ndarray:
    """Irregular strokes whose hole ratio lies in [lo, hi): strokes are added or the mask eroded until it does."""
    for _ in range(200):
        hole = random_strokes(rng, height, width)
        while hole.mean() < lo:
            hole |= random_strokes(rng, height, width)
        if hole.mean() < hi:
            return hole
    raise RuntimeError("no stroke mask in the bin")  # not reached for the bins above


class Methods:
    """Each method: observed image, true areas → restored uint8 image."""

    def __init__(self, guided_model: str | None, pure_model: str | None, precision: str = "float32"):
        from demosaic.detect import Detector, DetectorConfig
        from demosaic.restore import Restorer

        self.guided = Restorer.for_mode("guided", guided_model, precision=precision)
        self.pure = Restorer.for_mode("inpaint", pure_model)
        self.detector = Detector(DetectorConfig())

    def run(self, observed: np.ndarray, areas, mask: np.ndarray, coded: bool | None = None) -> dict[str, np.ndarray]:
        """`coded`: the observed frame came from lossy video (the detector is told, as the
        video pipeline tells it)."""
        out = {"mosaic": observed}
        for name, kernel in (("bicubic", cv2.INTER_CUBIC), ("lanczos", cv2.INTER_LANCZOS4)):
            guide = cell_colour_guide(observed, areas, kernel)
            out[name] = np.clip(np.rint(guide), 0, 255).astype(np.uint8)
        out["telea"] = cv2.inpaint(observed, mask.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        out["pconv (pure)"] = self.pure.restore(observed, areas)
        out["guided"] = self.guided.restore(observed, areas)
        out["guided (detected)"] = self.guided.restore(observed, self.detector.detect(observed, coded=coded).areas())
        return out


def evaluate(photos: Sequence[Path], out_dir: Path, cfg: EvalConfig = EvalConfig(), guided_model=None,
             pure_model=None, progress: Callable[[str], None] = lambda m: None) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    methods = Methods(guided_model, pure_model, cfg.precision)
    lpips = LPIPS()
    rng = np.random.default_rng(cfg.seed)
    rows = []  # one per photo, cell, method
    crops = []
    started = time.perf_counter()
    for n, path in enumerate(photos):
        photo = fit(read_image(path), cfg.max_side)
        if cfg.crf is not None:  # the codec's 4:2:0 chroma needs even sides
            photo = photo[:photo.shape[0] // 2 * 2, :photo.shape[1] // 2 * 2]
        h, w = photo.shape[:2]
        for cell in cfg.cells:
            region = random_region(rng, h, w, cell)
            observed, mask = pixelate(photo, [region])
            if cfg.crf is not None:
                observed = h264_roundtrip(observed, cfg.crf)
            areas = [region.area(h, w)._replace(trusted=True)]  # the true mask, as a user's would be
            box = bounding_box(mask)
            results = methods.run(observed, areas, mask, coded=True if cfg.crf is not None else None)
            grid = areas[0].grid
            for name, restored in results.items():
                rows.append({"photo": path.name, "cell": cell, "method": name,
                             "psnr": psnr(restored, photo, mask), "ssim": ssim(restored[box], photo[box]),
                             "lpips": lpips(restored[box], photo[box]),
                             "grid_visibility": grid_visibility(restored, photo, mask, grid.pitch, grid.origin),
                             "cell_mean_error": cell_mean_error(restored, observed, areas, changed_only=True),
                             "whole_cell_mean_error": cell_mean_error(restored, observed, areas, changed_only=True,
                                                                      whole_only=True)})
            if n < cfg.crops and cell == cfg.cells[len(cfg.cells) // 2]:
                crops.append(_side_by_side(photo, results, box, path.name))
        progress(f"{n + 1}/{len(photos)} {path.name}")
    paper = _paper_protocol(photos, cfg, methods) if cfg.paper_protocol else []
    summary = _summarise(rows, cfg.cells)
    result = {"photos": [p.name for p in photos], "config": cfg.__dict__ | {"cells": list(cfg.cells)},
              "models": {"guided": methods.guided.card.get("name"), "pure": methods.pure.card.get("name")},
              "summary": summary, "paper_protocol": paper, "rows": rows,
              "seconds": round(time.perf_counter() - started, 1)}
    (out_dir / "metrics.json").write_text(json.dumps(result, indent=1) + "\n")
    _charts(summary, cfg.cells, out_dir)
    for i, image in enumerate(crops):
        write_image(out_dir / f"crops_{i + 1}.png", image)
    (out_dir / "report.md").write_text(report_markdown(result, len(crops)))
    return result


def _paper_protocol(photos, cfg: EvalConfig, methods: Methods) -> list[dict]:
    from demosaic.mosaic import GridArea

    rng = np.random.default_rng([cfg.seed, 1])
    out = []
    for lo, hi in HOLE_BINS:
        l1s, psnrs, ssims = [], [], []
        for path in photos:
            photo = fit(read_image(path), 512)
            hole = holes_in_bin(rng, *photo.shape[:2], lo, hi)
            restored = methods.pure.restore(photo, [GridArea(hole, None)])
            l1s.append(float(np.abs(restored.astype(float) - photo).mean() / 255 * 100))
            psnrs.append(psnr(restored, photo))
            ssims.append(ssim(restored, photo))
        out.append({"bin": f"{lo}-{hi}", "l1_percent": float(np.mean(l1s)), "psnr": float(np.mean(psnrs)),
                    "ssim": float(np.mean(ssims)), "images": len(photos)})
    return out


def _summarise(rows, cells) -> dict:
    summary: dict = {}
    for r in rows:
        summary.setdefault(r["method"], {}).setdefault(str(r["cell"]), []).append(r)
    return {m: {c: {k: float(np.mean([r[k] for r in rs])) for k in ("psnr", "ssim", "lpips", "grid_visibility")}
                | {"cell_mean_error_max": float(max(r["cell_mean_error"] for r in rs)),
                   "whole_cell_mean_error_max": float(max(r["whole_cell_mean_error"] for r in rs)),
                   "grid_visibility_max": float(max(r["grid_visibility"] for r in rs)), "n": len(rs)}
                for c, rs in by_cell.items()} for m, by_cell in summary.items()}


def _side_by_side(photo, results, box, name) -> np.ndarray:
    ys, xs = box
    pad = 16
    ys = slice(max(0, ys.start - pad), min(photo.shape[0], ys.stop + pad))
    xs = slice(max(0, xs.start - pad), min(photo.shape[1], xs.stop + pad))
    tiles = [("original", photo)] + [(k, results[k]) for k in ("mosaic", "bicubic", "telea", "pconv (pure)", "guided")]
    out = []
    for label, image in tiles:
        tile = np.ascontiguousarray(image[ys, xs])
        scale = 200 / max(tile.shape[:2])
        tile = cv2.resize(tile, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA)
        canvas = np.full((tile.shape[0] + 18, tile.shape[1], 3), 255, np.uint8)
        canvas[18:] = tile
        cv2.putText(canvas, label, (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        out.append(canvas)
    height = max(t.shape[0] for t in out)
    out = [np.pad(t, ((0, height - t.shape[0]), (0, 4), (0, 0)), constant_values=255) for t in out]
    return np.concatenate(out, axis=1)


def _charts(summary, cells, out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for metric, label in (("psnr", "region PSNR (dB), higher is better"), ("lpips", "LPIPS (VGG), lower is better")):
        fig, ax = plt.subplots(figsize=(6, 3.8), dpi=100)
        for method, by_cell in summary.items():
            ax.plot(cells, [by_cell[str(c)][metric] for c in cells], "o-", label=method)
        ax.set_xlabel("cell size (px)")
        ax.set_ylabel(label)
        ax.set_xticks(list(cells))
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out_dir / f"{metric}_by_cell.png")
        plt.close(fig)


def report_markdown(result: dict, crops: int) -> str:
    cells = result["config"]["cells"]
    s = result["summary"]
    crf = result["config"].get("crf")
    lines = [f"# Restoration quality on {len(result['photos'])} photos"
             + ("" if crf is None else f", mosaics coded with H.264 at CRF {crf}"), "",
             f"Models: guided `{result['models']['guided']}`, pure `{result['models']['pure']}`. "
             "PSNR over the mosaic's pixels; SSIM and LPIPS (VGG) over its bounding box. "
             "Every method but *guided (detected)* gets the true mask and grid.", ""]
    for metric, better in (("psnr", "higher"), ("ssim", "higher"), ("lpips", "lower")):
        lines += [f"## {metric.upper()} ({better} is better)", "",
                  "| method | " + " | ".join(f"cell {c}" for c in cells) + " |",
                  "|---|" + "---:|" * len(cells)]
        for method, by_cell in s.items():
            lines.append(f"| {method} | " + " | ".join(f"{by_cell[str(c)][metric]:.4f}" if metric != "psnr"
                                                      else f"{by_cell[str(c)][metric]:.2f}" for c in cells) + " |")
        lines.append("")
    lines += ["## Grid visibility (1.0 is natural)", "",
              "Mean |step| between neighbours across the mosaic's cell borders over mean |step| inside its "
              "cells, over the mosaic's pixels, divided by the same ratio in the original: mean over the "
              "photos (worst photo). Above 1 the cell grid shows; the mosaic is far above.", "",
              "| method | " + " | ".join(f"cell {c}" for c in cells) + " |", "|---|" + "---:|" * len(cells)]
    for method, by_cell in s.items():
        lines.append(f"| {method} | " + " | ".join(
            f"{by_cell[str(c)]['grid_visibility']:.2f} ({by_cell[str(c)]['grid_visibility_max']:.2f})" for c in cells) + " |")
    lines.append("")
    lines += ["## Cell means: largest error over all cells (levels, 0-255)", "",
              "How far a whole cell's mean (visible part of a cut cell included) lies from the colour the "
              "mosaic shows for it, worst cell of all photos, over the cells each method changed (a cell "
              "the restorer's guards kept as the mosaic is not counted); cells whose colour no masked pixel "
              "values in [0, 255] can reach are left out; in brackets, the cells wholly inside the mosaic "
              "(after coding, a cut cell may keep its mean within a few times the coding noise of its "
              "colour: `SafetyConfig.cut_slack`). The consistency step's target: under 1 level (1/255).", "",
              "| method | " + " | ".join(f"cell {c}" for c in cells) + " |", "|---|" + "---:|" * len(cells)]
    for method, by_cell in s.items():
        lines.append(f"| {method} | " + " | ".join(f"{by_cell[str(c)]['cell_mean_error_max']:.2f} "
                                                  f"({by_cell[str(c)]['whole_cell_mean_error_max']:.2f})"
                                                  for c in cells) + " |")
    lines.append("")
    if result["paper_protocol"]:
        lines += ["## Paper protocol: pure inpainting, irregular holes (whole image, 512 px long side)", "",
                  "| hole ratio | L1 (%) | PSNR | SSIM |", "|---|---:|---:|---:|"]
        for r in result["paper_protocol"]:
            lines.append(f"| {r['bin']} | {r['l1_percent']:.2f} | {r['psnr']:.2f} | {r['ssim']:.3f} |")
        lines += ["", "For reference (other data, other resolution, far longer training): the paper's PConv on "
                  "Places2, PSNR 28.32 / 25.25 / 22.89 for the 0.1-0.2 / 0.2-0.3 / 0.3-0.4 bins; MMagic's "
                  "PConv on Places365, PSNR 22.76, SSIM 0.801.", ""]
    lines += ["## Charts and crops", "", "![PSNR](psnr_by_cell.png) ![LPIPS](lpips_by_cell.png)", ""]
    lines += [f"![crops {i + 1}](crops_{i + 1}.png)" for i in range(crops)]
    return "\n".join(lines) + "\n"
