"""Restore the mosaic areas of frames: crop, batch, run the model, keep cell means, composite.

Only masked pixels ever change: every output pixel outside the mosaic areas is the input
pixel, bit for bit. The video and Ray pipelines reuse `Restorer` unchanged.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Sequence

import cv2
import numpy as np

from .config import PRECISIONS, FusionConfig, SafetyConfig, TileConfig
from .errors import InputError, ModelError
from .inpaint import fill_coarse_to_fine
from .metrics import bounding_box
from .consistency import enforce_cell_means, evidence
from .mosaic import AreaCrop, Grid, GridArea, area_pieces, cell_colour_guide
from .safety import Guarded, fitted_areas, guard_frame, passes_check
from .tiles import plan_tiles
from .video_fusion import Block, Window, fuse_region, solve_block

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODELS = {"guided": "demosaic-guided-small-v3", "inpaint": "demosaic-pure-small-v0"}
# The video mode that restores nothing: the same decode and encode, the baseline to score against.
PASSTHROUGH = "passthrough"


def default_model_path(mode: str = "guided") -> Path:
    """The shipped model for a mode ("guided", or "inpaint": the paper's pure inpainting);
    $DEMOSAIC_MODEL overrides the guided one."""
    if mode == "guided" and os.environ.get("DEMOSAIC_MODEL"):
        return Path(os.environ["DEMOSAIC_MODEL"])
    return MODELS_DIR / f"{DEFAULT_MODELS[mode]}.json"


def resolve_precision(precision: str) -> str:
    """"float32" or "bfloat16" for a `--precision`: "auto" is bfloat16 where the CPU has
    bfloat16 arithmetic (AVX512-BF16 or AMX) and TensorFlow sees no GPU. A job resolves it
    once, so every segment and Ray node of it computes alike."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision != "auto":
        return precision
    from .detect_net import bfloat16_is_fast

    if not bfloat16_is_fast():
        return "float32"
    import tensorflow as tf

    return "float32" if tf.config.list_physical_devices("GPU") else "bfloat16"


def check_model(mode: str, model_path: Path | str | None) -> None:
    """Read the model card before any work starts (and before TensorFlow loads): a model the
    user named that is missing or unreadable is bad input (InputError, exit 2); a broken
    shipped one, ModelError (exit 1)."""
    from .artifact import read_card

    if mode == PASSTHROUGH:
        return
    try:
        read_card(model_path or default_model_path(mode))
    except ModelError as exc:
        if model_path is not None:
            raise InputError(str(exc)) from None
        raise


class Box(NamedTuple):
    y0: int
    x0: int
    y1: int
    x1: int


def plan_crops(mask: np.ndarray, multiple: int, margin: int) -> list[Box]:
    """Boxes covering every masked pixel with `margin` px of context, sides a multiple of `multiple`.

    Nearby regions whose margins touch share one box. A box grows inside the frame where it
    can; a frame smaller than the multiple is handled by padding at run time.
    """
    height, width = mask.shape
    if not mask.any():
        return []
    # The dilation reaches only the margin around the masked pixels' box: label there (the same
    # boxes; labelling the whole frame cost about 1.4 ms a frame at 768×576).
    # OpenCV labels in 2×2 blocks: a window starting on even rows and columns numbers the boxes
    # in the same order as the whole frame.
    rows, cols = bounding_box(mask, margin)
    top, left = rows.start - rows.start % 2, cols.start - cols.start % 2
    grown = cv2.dilate(mask[top:rows.stop, left:cols.stop].astype(np.uint8),
                       np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    boxes = []
    for x, y, w, h, _ in stats[1:count]:
        x, y = x + left, y + top
        y0, y1 = _grow(y, y + h, height, multiple)
        x0, x1 = _grow(x, x + w, width, multiple)
        boxes.append(Box(y0, x0, y1, x1))
    return boxes


def _grow(lo: int, hi: int, limit: int, multiple: int) -> tuple[int, int]:
    """Widen [lo, hi) to a multiple of `multiple`, centred, shifted to stay inside [0, limit)."""
    size = min(-(-(hi - lo) // multiple) * multiple, max(limit // multiple * multiple, multiple))
    lo = max(0, min(lo - (size - (hi - lo)) // 2, limit - size))
    return lo, min(lo + size, limit)


class Outcome(NamedTuple):
    """What restoring one frame did, region by region."""

    regions: int = 0  # regions given
    restored: int = 0  # restored by the model
    guide: int = 0  # restored by the guide: the model's result failed the last check
    kept: int = 0  # left as they came: grid unfit, flat graphics, no grid, or both results failed the check
    fused: int = 0  # of `restored`, restored from the picture fused from neighbouring frames

    def __add__(self, other: "Outcome") -> "Outcome":  # type: ignore[override]
        return Outcome(*(a + b for a, b in zip(self, other)))


class TrackFusion(NamedTuple):
    """What fusion did for one region on one frame (`--fuse-radius`)."""

    track: int
    frames: int  # frames fused
    cells: int  # the region's whole cells
    fused_cells: int  # of them, those that took the fused picture (before the last check)
    used: bool  # the fused result passed the last check and was written


class Restored(NamedTuple):
    frame: np.ndarray  # uint8 RGB; the frame given itself (not a copy) where nothing was to be restored
    outcome: Outcome
    fusion: tuple[TrackFusion, ...] = ()


class RestoredCrop(NamedTuple):
    """One crop of a large frame, restored (`Restorer.restore_crops`)."""

    rows: slice
    cols: slice
    pixels: np.ndarray  # uint8 RGB over (rows, cols): the input there, its areas restored
    outcome: Outcome
    areas: tuple[GridArea, ...] = ()  # what was asked for, before the guards fit and cut it (crop coordinates)


class Restorer:
    """Holds one model; `restore(frame, areas)` returns the restored frame (uint8 RGB)."""

    def __init__(self, model_path: str | os.PathLike | None = None, margin: int = 16, batch_size: int = 8,
                 consistency: bool | None = None, threads: int = 0, safety: SafetyConfig | None = SafetyConfig(),
                 precision: str = "float32"):
        """`threads`: for each frame's guide and consistency step (0: the cores this process
        may run on, at most 8). `safety`: the guards of `demosaic.safety` (None: restore every
        masked pixel and force every cell mean, as the still-photo benchmark with true masks
        did before them). `precision`: the network's arithmetic (`resolve_precision`)."""
        from .artifact import load_model

        path = Path(model_path) if model_path else default_model_path()
        if not path.with_suffix(".json").exists():
            raise ModelError(f"model not found: {path.with_suffix('.json')}")
        import tensorflow as tf

        self.precision = resolve_precision(precision)
        self.model, self.card = load_model(path, self.precision)
        self.guided = bool(self.card["config"]["guided"])
        # One traced graph instead of ~700 eager ops a batch: 19 % less restore time a frame on
        # the video benchmark, outputs bit for bit the same. Traced once, for any batch and crop
        # size: shape by shape, a moving region's crops traced it three times in a clip's first
        # frames, about 0.5 s each on 2 cores.
        channels = {"image": 3, "valid": 1, **({"guide": 3} if self.guided else {})}
        signature = {k: tf.TensorSpec([None, None, None, c], tf.float32, name=k) for k, c in channels.items()}
        # autograph=False: nothing to convert (the model's branches are on its config), and
        # autograph would leave the converted source in the temporary directory every run.
        self._infer = tf.function(lambda batch: tf.cast(self.model(batch, training=False), tf.float32),
                                  input_signature=[signature], autograph=False)
        self.multiple = int(self.card["size_multiple"])
        self.margin, self.batch_size = margin, batch_size
        if not threads:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            threads = min(8, cores)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="restore")
        # Pure inpainting reproduces the paper: it does not use the cell colours at all (and
        # has no consistency step, whatever `consistency` says).
        self.consistency = self.guided if consistency is None else consistency
        self.safety = safety if self.guided and self.consistency else None

    @classmethod
    def for_mode(cls, mode: str, model_path: str | os.PathLike | None = None, threads: int = 0,
                 safety: SafetyConfig | None = SafetyConfig(), precision: str = "float32") -> "Restorer":
        """The given model (or the shipped one for `mode`), refused if it is not of that mode."""
        path = Path(model_path) if model_path else default_model_path(mode)
        restorer = cls(path, threads=threads, safety=safety, precision=precision)
        if restorer.guided != (mode == "guided"):
            raise InputError(f"{path}: a {'guided' if restorer.guided else 'pure-inpainting'} model, "
                             f"but --mode {mode} was asked for")
        return restorer

    def restore(self, frame: np.ndarray, areas: Sequence[GridArea]) -> np.ndarray:
        return self.restore_many([frame], [areas])[0]

    def fitted(self, frame: np.ndarray, areas: Sequence[GridArea]) -> list[GridArea]:
        """`areas` as this restorer's guards take them in `frame`: the detected ones fitted to
        their mosaic (`safety.fitted_areas`); what an alpha restored with the colour, and a
        report of the grids restored, follow."""
        return fitted_areas(frame, areas, self.safety)

    def reach(self, grid: Grid | None) -> int:
        """px around an area that restoring it reads: two cells (the guards' and the guide's ring
        of cells, the box of the bounded step and the last check) and a cell to spare, plus
        the network's crop margin grown to its size multiple. A crop that holds this much
        around its areas restores them as the whole frame would (`restore_crops`)."""
        cells = 0 if grid is None else int(np.ceil(max(grid.pitch)))
        return 3 * cells + self.margin + self.multiple + 2

    def restore_crops(self, frame: np.ndarray, crops: Sequence[AreaCrop], tiles: TileConfig) -> list[RestoredCrop]:
        """A large frame's areas restored a crop at a time (crops reaching `reach` around their
        areas, as `Detection.crops` and `mosaic.area_crops` make them), the network run tile by
        tile over boxes wider than `tiles.model_size`: nothing the frame's size is made. Each
        crop comes back whole, for the caller to write the pixels that changed. A mosaic larger
        than `tiles.area_size` is restored in blocks of whole cells (`mosaic.area_pieces`), so
        memory grows with a block (about 220 bytes a pixel of it), not with the mosaic or the frame."""
        out = []
        for crop in (piece for c in crops for piece in area_pieces(c, tiles.area_size, self.reach)):
            done = self.restore_frames([np.ascontiguousarray(frame[crop.rows, crop.cols])], [list(crop.areas)],
                                       tiles=tiles)[0]
            pixels, areas = done.frame, crop.areas
            if crop.keep is not None:  # a piece of a larger mosaic: its own block only
                pixels = np.where(crop.keep[..., None], done.frame, frame[crop.rows, crop.cols])
                areas = tuple(a._replace(mask=a.mask & crop.keep) for a in crop.areas)
            out.append(RestoredCrop(crop.rows, crop.cols, pixels, done.outcome, areas))
        return out

    def restore_many(self, frames: Sequence[np.ndarray], areas: Sequence[Sequence[GridArea]]) -> list[np.ndarray]:
        return [r.frame for r in self.restore_frames(frames, areas)]

    def restore_frames(self, frames: Sequence[np.ndarray], areas: Sequence[Sequence[GridArea]],
                       windows: Sequence[Window] | None = None, fusion: FusionConfig | None = None,
                       tiles: TileConfig | None = None) -> list[Restored]:
        """Restore several frames, batching equal-sized crops across them. Each frame's guards,
        guide and consistency step (NumPy and OpenCV, which release the GIL) run on a thread
        pool: on the video benchmark's frames 57 against 71 ms a frame on 2 cores. With
        `tiles`, the network's memory is bounded (`_run`).

        With `windows` (from a `video_fusion.Fuser` given this restorer's `safety`) and
        `fusion`, each region is first tried as fused from its window's frames, with the
        model's output as the prior; the frames' guards come from the windows."""
        if windows is None and not any(areas):
            # Nothing to restore in the whole batch (most frames of most clips): every frame
            # leaves as it came, without a trip through the pool or a float copy of it.
            return [Restored(f, Outcome()) for f in frames]

        def guard(i) -> Guarded | None:
            if windows is not None:
                return windows[i].guarded
            return guard_frame(frames[i], areas[i], self.safety) if self.safety is not None and areas[i] else None

        guarded = list(self._pool.map(guard, range(len(frames))))
        # Without guards a guided model still needs a grid: an area without one stays as it came.
        todo = [[a for a in areas[i] if a.grid is not None or not self.guided] if g is None else g.areas
                for i, g in enumerate(guarded)]
        jobs = []  # (frame index, box, image crop, valid crop, guide crop)
        masks = []
        for frame, frame_areas in zip(frames, todo):
            mask = np.zeros(frame.shape[:2], bool)
            for a in frame_areas:
                mask |= a.mask
            masks.append(mask)
        # A frame with nothing to restore leaves as the very frame it came as: the encoder then
        # writes its planes as decoded without comparing every pixel (`video.FrameWriter.write`).
        results = [f.copy() if m.any() else f for f, m in zip(frames, masks)]

        if not self.guided:  # the paper's pure inpainting: no cells; coarse to fine across wide holes
            restored = [len(todo[i]) if masks[i].any() else 0 for i in range(len(frames))]
            return [Restored(fill_coarse_to_fine(frames[i], masks[i], self.fill_once) if masks[i].any() else frames[i],
                             Outcome(len(areas[i]), restored[i], 0, len(areas[i]) - restored[i]))
                    for i in range(len(frames))]

        def guide(i):
            return cell_colour_guide(frames[i], todo[i]) if masks[i].any() else None

        guides = list(self._pool.map(guide, range(len(frames))))
        for i, frame_guide in enumerate(guides):
            if not masks[i].any():
                continue
            for box in plan_crops(masks[i], self.multiple, self.margin):
                sl = (slice(box.y0, box.y1), slice(box.x0, box.x1))
                jobs.append((i, box, frames[i][sl], masks[i][sl], None if frame_guide is None else frame_guide[sl]))
        outputs = self._run(jobs, tiles)
        # Float copies only of the frames that are restored, or whose fused block is solved here.
        solving = {i for i, w in enumerate(windows or ()) if w.blocks}
        composite = [r.astype(np.float32) if m.any() or i in solving else None
                     for i, (r, m) in enumerate(zip(results, masks))]
        for (i, box, _, crop_mask, _), out in zip(jobs, outputs):
            sl = (slice(box.y0, box.y1), slice(box.x0, box.x1))
            composite[i][sl][crop_mask] = out[crop_mask] * 255.0

        fusing = windows is not None and fusion is not None and fusion.radius > 0
        if fusing:
            # Each block's picture is solved once, with the model's output for the first of its
            # frames restored as the prior (the earliest batch that holds one: the same frame
            # whatever the threads do); the block's later frames, here or in later batches, read it.
            first: dict[int, tuple[Block, int]] = {}
            for i, window in enumerate(windows):
                for block in window.blocks:
                    if not block.solved and id(block) not in first:
                        first[id(block)] = (block, i)

            def settle(item):
                block, i = item
                block.settle(solve_block(block, windows[i].seen.index, composite[i], fusion))

            list(self._pool.map(settle, first.values()))

        def consistent(i) -> tuple[Outcome, tuple[TrackFusion, ...]]:
            g = guarded[i]
            given, done = len(areas[i]), len(todo[i])
            if not masks[i].any():
                return Outcome(given, 0, 0, given), ()
            if not self.consistency:
                results[i][masks[i]] = _to_uint8(composite[i][masks[i]])
                return Outcome(given, done, 0, given - done), ()
            if g is None:
                kept = enforce_cell_means(composite[i], frames[i], todo[i])
                results[i][masks[i]] = _to_uint8(kept[masks[i]])
                return Outcome(given, done, 0, given - done), ()
            window = windows[i] if fusing else None
            return self._checked(frames[i], composite[i], guides[i], g, results[i], window, fusion)

        done = list(self._pool.map(consistent, range(len(frames))))
        return [Restored(r, o, f) for r, (o, f) in zip(results, done)]

    def _checked(self, frame: np.ndarray, composite: np.ndarray, guide: np.ndarray, g: Guarded,
                 result: np.ndarray, window: Window | None = None,
                 fusion: FusionConfig | None = None) -> tuple[Outcome, tuple[TrackFusion, ...]]:
        """The bounded consistency step and the last check, region by region: the fused
        picture (with a window), else the model's result, else the guide's, else the region
        as it came. Writes into `result`."""
        restored = via_guide = via_fusion = 0
        tracks = []
        for n, area in enumerate(g.areas):
            # On the region's box (two cells around it: every cell it touches and the ring the
            # smooth step reads), not the frame: the step and the check copy what they get.
            sl, local = _around(area)
            bounds = g.bounds(sl, frame.shape)
            candidates = [composite[sl], guide[sl]]
            fused = fuse_region(window, n, composite, fusion) if window is not None else None
            if fused is not None and fused.fused_cells:
                candidates.insert(0, _pasted(composite[sl], sl, fused.picture, fused.slices))
            used = False
            ev = evidence(frame[sl], local, bounds, self.safety.cut_slack)  # what every candidate is held to
            for k, candidate in enumerate(candidates):
                fixed = enforce_cell_means(candidate, frame[sl], [local], bounds=bounds, evidences=[ev])
                if passes_check(fixed, frame[sl], local, bounds, self.safety, ev):
                    result[sl][local.mask] = _to_uint8(fixed[local.mask])
                    role = k - (len(candidates) - 2)  # -1 fused, 0 the model, 1 the guide
                    restored += role <= 0
                    via_fusion += role < 0
                    via_guide += role == 1
                    used = role < 0
                    break
            if fused is not None:
                tracks.append(TrackFusion(window.seen.tracks[n], fused.frames, fused.cells, fused.fused_cells, used))
        outcome = Outcome(g.regions, restored, via_guide, g.regions - restored - via_guide, via_fusion)
        return outcome, tuple(tracks)

    def fill_once(self, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        """`image` with the network's output in `hole`, one pass over crops around it (pure
        inpainting goes through `inpaint.fill_coarse_to_fine`, which calls this per level)."""
        out = image.copy()
        boxes = plan_crops(hole, self.multiple, self.margin)
        slices = [(slice(b.y0, b.y1), slice(b.x0, b.x1)) for b in boxes]
        jobs = [(0, box, image[sl], hole[sl], None) for box, sl in zip(boxes, slices)]
        for sl, (_, _, _, crop_hole, _), result in zip(slices, jobs, self._run(jobs)):
            out[sl][crop_hole] = _to_uint8(result[crop_hole] * 255.0)
        return out

    def _run(self, jobs, tiles: TileConfig | None = None) -> list[np.ndarray]:
        """Model outputs (h, w, 3) float in [0, 1]-ish for each job, batched by crop shape. With
        `tiles`, a batch holds at most `tiles.model_size`² pixels, and a crop wider than that
        runs tile by tile (`_tiled`)."""
        outputs: list = [None] * len(jobs)
        by_shape: dict = {}
        for j, job in enumerate(jobs):
            by_shape.setdefault(job[2].shape[:2], []).append(j)
        for shape, idx in by_shape.items():
            ph, pw = (-(-s // self.multiple) * self.multiple for s in shape)  # frames smaller than the multiple
            batch_size = self.batch_size
            if tiles is not None:
                batch_size = min(batch_size, max(1, tiles.model_size ** 2 // (ph * pw)))
            for start in range(0, len(idx), batch_size):
                chunk = idx[start:start + batch_size]
                batch = self._batch([jobs[j] for j in chunk], ph, pw)
                if tiles is not None and ph * pw > tiles.model_size ** 2:
                    out = self._tiled(batch, tiles)[None]
                else:
                    out = self.infer(batch)
                for k, j in enumerate(chunk):
                    outputs[j] = out[k, :shape[0], :shape[1]]
        return outputs

    def infer(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """The network's output (N, H, W, 3) float32 for a batch of its inputs (`image`, `valid`,
        and `guide` for a guided model: float32 N×H×W×C, H and W multiples of `multiple`), in
        the one traced graph every batch runs through."""
        return np.asarray(self._infer(batch))

    def _batch(self, jobs, height: int, width: int) -> dict[str, np.ndarray]:
        """The network's inputs for jobs of one crop shape, padded to (height, width)."""
        batch = {
            "image": np.stack([_pad(job[2] / 255.0, height, width) for job in jobs]).astype(np.float32),
            "valid": np.stack([_pad((~job[3])[..., None], height, width, 1.0) for job in jobs]).astype(np.float32),
        }
        if self.guided:
            batch["guide"] = np.stack([_pad(job[4] / 255.0, height, width) for job in jobs]).astype(np.float32)
        return batch

    def _tiled(self, batch: dict[str, np.ndarray], tiles: TileConfig) -> np.ndarray:
        """The output (H, W, 3) for a batch of one crop, the network run on overlapping tiles of
        `tiles.model_size` px at most, each tile's output kept where it owns the pixels
        (`tiles.Tile.core`). Tiles start on multiples of the network's size multiple, so its
        strides and the guide's pooling fall where they fall over the whole crop: a pixel that
        the network's reach keeps inside its tile comes out as from the whole crop."""
        _, height, width, _ = batch["image"].shape
        out = np.empty((height, width, 3), np.float32)
        for tile in plan_tiles((height, width), tiles.model_size, tiles.model_overlap, self.multiple):
            rows, cols = tile.box
            part = self.infer({k: np.ascontiguousarray(v[:, rows, cols]) for k, v in batch.items()})
            out[tile.core] = part[0][tile.core_in_tile]
        return out


def _around(area: GridArea) -> tuple[tuple[slice, slice], GridArea]:
    """The frame's slice two cells around `area`, and the area in that slice's coordinates."""
    ys, xs = np.nonzero(area.mask.any(axis=1))[0], np.nonzero(area.mask.any(axis=0))[0]
    (pw, ph), (ox, oy) = area.grid.pitch, area.grid.origin
    y0, x0 = max(0, int(ys[0] - 2 * ph - 1)), max(0, int(xs[0] - 2 * pw - 1))
    sl = (slice(y0, int(ys[-1] + 2 * ph + 2)), slice(x0, int(xs[-1] + 2 * pw + 2)))
    return sl, area._replace(mask=area.mask[sl], grid=Grid(area.grid.pitch, (ox - x0, oy - y0)))


def _pasted(base: np.ndarray, at: tuple[slice, slice], patch: np.ndarray, where: tuple[slice, slice]) -> np.ndarray:
    """A copy of `base` (the frame's slice `at`) with `patch` (the frame's slice `where`) over it."""
    out = base.copy()
    y0, y1 = max(at[0].start, where[0].start), min(at[0].stop, where[0].stop)
    x0, x1 = max(at[1].start, where[1].start), min(at[1].stop, where[1].stop)
    if y0 < y1 and x0 < x1:
        out[y0 - at[0].start:y1 - at[0].start, x0 - at[1].start:x1 - at[1].start] = \
            patch[y0 - where[0].start:y1 - where[0].start, x0 - where[1].start:x1 - where[1].start]
    return out


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _pad(a: np.ndarray, height: int, width: int, value: float | None = None) -> np.ndarray:
    """Pad to (height, width): repeating the edge for pixels, with `value` for masks."""
    dy, dx = height - a.shape[0], width - a.shape[1]
    if not dy and not dx:
        return a
    pads = ((0, dy), (0, dx), (0, 0))
    return np.pad(a, pads, mode="edge") if value is None else np.pad(a, pads, constant_values=value)
