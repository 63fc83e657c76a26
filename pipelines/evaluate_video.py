"""The path users run, scored against clean frames (`scripts/eval_footage.py`).

Each case takes frames of a real clip, codes them once as the clean reference (H.264 CRF 18),
pixelates a region with ffmpeg's own `pixelize` filter (crop, pixelize, overlay; still or
moving, its cells aligned to the region's corner) and codes that as the input (H.264 at the
case's CRF). Then the whole `demosaic video` path runs on it (detector's masks, keyframes,
the vote), and so does `--passthrough` (the same decode and encode, nothing restored): every
gain is measured against that baseline, so the re-encode's own loss is not counted against
restoration. Bicubic interpolation of the true cells (from the decoded input) is the
reference a restorer should beat.

Figures per case (over the true mosaic, per frame): region PSNR gain over passthrough, the
share of frames worse by more than 0.05 dB, the worst frame, outlier pixels (> 80 levels off
the clean frame in any channel, over the true region grown by one cell, where border streaks
show; counted against the region's own pixels), grid visibility (`metrics.grid_visibility`:
steps across the true cells' borders over steps inside them, against the clean frame's; 1.0 is
natural), the temporal error (mean |(out_t − out_t−1) − (clean_t − clean_t−1)| inside the true
mask), the flicker (the same with each frame's error e = out − clean compared where the case
moved the content to, mean |e_t(x) − e_t−1(x + motion)|: under a camera's motion the temporal
error also counts the error moving with the picture, which is no flicker; equal to it where
the case moves nothing), what changed outside the true region grown by one cell (PSNR against passthrough) and,
given an LPIPS model, LPIPS over the true region's box on every third frame (restored,
passthrough and bicubic of the true cells; lower is closer).
"""
from __future__ import annotations

import json
import math
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from demosaic.data import evaluation_photos, tuning_photos
from demosaic.images import read_image
from demosaic.metrics import bounding_box, grid_visibility, psnr
from demosaic.mosaic import Grid, GridArea, cell_colour_guide
from demosaic.ffmpeg import ffmpeg_binary, file_arg
from demosaic.fusion import sample
from demosaic.probe import probe
from demosaic.scenes import KINDS, camera_frames, camera_path
from demosaic.video import FrameReader

LPIPS_EVERY = 3  # frames: LPIPS (VGG16 on the region's box) on every third frame keeps a case near a minute
OUTLIER_LEVELS = 80  # a pixel this far off the clean frame is a visible speck or streak
WORSE_DB = 0.05  # a frame counts as worse than passthrough below this gain


@dataclass(frozen=True)
class FootageCase:
    """One clip, one pixelated rectangle (moving `velocity` px a frame), one H.264 CRF."""

    clip: str
    start: int  # first frame of the clip used
    frames: int
    cell: int
    box: tuple[int, int, int, int]  # x, y, width, height at the first frame
    velocity: tuple[float, float] = (0.0, 0.0)  # px per frame (x, y); the cells move with the region
    crf: int = 20
    split: str = "tuning"  # "tuning" or "evaluation": never tune on the second
    # px per frame (x, y) of a camera pan: the clean clip is a window moving across the source
    # (whole px a frame, ffmpeg's floor; cropped in RGB with `exact`: on yuv420p crop rounds the
    # corner down to even, or with `exact` moves the chroma by half, showing the grid half the
    # phases), under a mosaic fixed in the frame.
    pan: tuple[float, float] = (0.0, 0.0)

    @property
    def name(self) -> str:
        moving = "pan" if any(self.pan) else "moving" if any(self.velocity) else "still"
        clip = Path(self.clip.replace(':', '')).stem
        if self.photo is not None:  # the camera moves over a photo, under a frame-fixed mosaic
            moving, clip = self.photo[0], f"photo{self.photo[1]}"
        return f"{clip}@{self.start}-c{self.cell}-{moving}-crf{self.crf}"

    @property
    def photo(self) -> tuple[str, int] | None:
        """(the camera's motion, the photo's index) of a photo clip (`PHOTO`), else None."""
        if not self.clip.startswith(PHOTO):
            return None
        kind, index = self.clip[len(PHOTO):].split(":")
        return kind, int(index)

    def position(self, n: int) -> tuple[int, int]:
        """The region's top-left corner on frame n (ffmpeg evaluates the same floor())."""
        return (int(math.floor(self.box[0] + self.velocity[0] * n)), int(math.floor(self.box[1] + self.velocity[1] * n)))

    def content_offsets(self) -> np.ndarray:
        """(frames, 2) where each frame's view of the scene sits (dy, dx), as far as the case
        moved it: the camera's path of a photo clip, the window of a pan (whole px), else none.
        Motion of the clip's own (people walking, a film's camera) is not in it."""
        if self.photo is not None:
            kind, index = self.photo
            return camera_path(kind, self.frames, np.random.default_rng(index))
        return np.floor(np.array(self.pan[::-1]) * np.arange(self.frames)[:, None])

    def area(self, n: int, height: int, width: int) -> GridArea:
        x, y = self.position(n)
        mask = np.zeros((height, width), bool)
        mask[y:y + self.box[3], x:x + self.box[2]] = True
        return GridArea(mask, Grid((float(self.cell), float(self.cell)), (float(x), float(y))))


def opencv_clip(name: str) -> str:
    """Path of one of opencv-doc's example clips (vtest.avi, tree.avi, Megamind.avi)."""
    out = subprocess.run(["dpkg", "-L", "opencv-doc"], capture_output=True, text=True).stdout.split()
    found = [p for p in out if p.endswith("/" + name)]
    if not found:
        raise FileNotFoundError(f"{name} not found (apt-get install opencv-doc)")
    return found[0]


def default_cases(split: str) -> list[FootageCase]:
    """The tuning footage (tree.avi, vtest.avi frames 0–399, the layers clips) or the
    evaluation footage (vtest.avi frames 400–794, Megamind.avi), each with a frame-aligned
    still 8 px mosaic, a 10/16 px region-aligned moving one, and an 8/16 px frame-fixed one
    under a camera pan (1.5 px a frame across, 0.5 down), at CRF 20 and 23; and the split's
    photo clips (a camera panning or held by hand over a photo, `write_photo_clip`) under a
    frame-fixed 8/16 px mosaic at CRF 20 and 23."""
    cases = []
    if split == "tuning":
        clips = [("vtest.avi", 0, (240, 160, 160, 128)), ("tree.avi", 0, (48, 40, 96, 80))]
    else:
        clips = [("vtest.avi", 400, (320, 200, 160, 128)), ("Megamind.avi", 0, (272, 176, 160, 128))]
    for clip, start, box in clips:
        path = opencv_clip(clip)
        for crf in (20, 23):
            cases.append(FootageCase(path, start, 60, 8, box, crf=crf, split=split))
            moving = (box[0] - 29, box[1] + 3, box[2] - 2, box[3] - 4)
            cases.append(FootageCase(path, start, 60, 10, moving, velocity=(0.9, -0.3), crf=crf, split=split))
            cases.append(FootageCase(path, start, 60, 16, box, velocity=(-0.6, 0.4), crf=crf, split=split))
            panned = (max(16, box[0] - 48), box[1] - 16, box[2], box[3])  # the window is 90 × 30 px smaller
            for cell in (8, 16):
                cases.append(FootageCase(path, start, 60, cell, panned, pan=(1.5, 0.5), crf=crf, split=split))
        # The ends of the coding range (the CRF 18 and 28), on the still 8 px mosaic and
        # the moving 16 px one: the core grid stays within its 45 minutes on 2 cores.
        for crf in (18, 28):
            cases.append(FootageCase(path, start, 60, 8, box, crf=crf, split=split))
            cases.append(FootageCase(path, start, 60, 16, box, velocity=(-0.6, 0.4), crf=crf, split=split))
    if split == "tuning":  # motion no single shift explains (`write_layers_clip`), at CRF 20
        for seed in (0, 1):
            for cell in (8, 16):
                cases.append(FootageCase(f"{LAYERS}{seed}", 0, 60, cell, (224, 160, 192, 160), crf=20, split=split))
    # A camera panning or held by hand over the split's photos (`write_photo_clip`), sub-pixel,
    # under a frame-fixed mosaic: the rigid motion #9's bound was measured on, through the
    # whole path. Two photos per motion, the pans' first two and the jitters' next two.
    for k, kind in enumerate(KINDS):
        for index in (2 * k, 2 * k + 1):
            for crf in (20, 23):
                for cell in (8, 16):
                    cases.append(FootageCase(f"{PHOTO}{kind}:{index}", 0, 60, cell, (224, 160, 192, 160), crf=crf,
                                             split=split))
    return cases


# A clip made by `write_layers_clip` (with the seed after it), not a file.
LAYERS = "layers:"
# A clip made by `write_photo_clip`: "photo:KIND:INDEX", the camera's motion (`scenes.KINDS`)
# over the INDEX-th photo of the case's split, the path seeded by INDEX.
PHOTO = "photo:"
LAYER_PHOTOS = ("/usr/share/backgrounds/mate/nature/Garden.jpg", "/usr/share/backgrounds/mate/nature/LadyBird.jpg",
                "/usr/share/backgrounds/mate/nature/Dune.jpg", "/usr/share/backgrounds/mate/nature/FreshFlower.jpg")


def write_layers_clip(out: Path, seed: int = 0, frames: int = 60, size: tuple[int, int] = (640, 480)) -> Path:
    """A 25 fps lossless clip (FFV1) of two tuning photos (mate-backgrounds): one pans behind
    (0.7-1.4 px a frame, sub-pixel), a 200×150 patch of the other moves 1.5-2.5 px a frame
    another way and turns 0.4° a frame in front. Motion no single shift explains, the kind a
    film has and the tuning clips (still cameras) lack."""
    import cv2

    rng = np.random.default_rng(seed)
    w, h = size
    missing = [p for p in LAYER_PHOTOS if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: the layers clips need mate-backgrounds (apt-get install mate-backgrounds)")
    back_path, front_path = (LAYER_PHOTOS[i] for i in rng.choice(len(LAYER_PHOTOS), 2, replace=False))
    back = cv2.cvtColor(cv2.imread(back_path), cv2.COLOR_BGR2RGB)
    back = cv2.resize(back, (w + 160, int((w + 160) * back.shape[0] / back.shape[1])), interpolation=cv2.INTER_AREA)
    front = cv2.cvtColor(cv2.imread(front_path), cv2.COLOR_BGR2RGB)
    front = cv2.resize(front, (400, int(400 * front.shape[0] / front.shape[1])), interpolation=cv2.INTER_AREA)
    patch = front[:150, :200]
    pan = rng.uniform(0.7, 1.4) * np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a)])
    move = rng.uniform(1.5, 2.5) * np.array([np.cos(b := a + rng.uniform(2.0, 4.3)), np.sin(b)])

    def pictures():
        for n in range(frames):
            ox, oy = 80 + pan[0] * n - 40, 40 + pan[1] * n - 20
            m = np.float32([[1, 0, -ox], [0, 1, -oy]])
            frame = cv2.warpAffine(back, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
            cx, cy = w / 2 - 60 + move[0] * n, h / 2 - 20 + move[1] * n
            rot = cv2.getRotationMatrix2D((100, 75), 0.4 * n, 1.0)
            rot[:, 2] += (cx - 100, cy - 75)
            layer = cv2.warpAffine(patch, rot, (w, h), flags=cv2.INTER_CUBIC)
            inside = cv2.warpAffine(np.ones(patch.shape[:2], np.float32), rot, (w, h)) > 0.5
            frame[inside] = layer[inside]
            yield frame

    return _write_lossless(pictures(), out, size)


def write_photo_clip(out: Path, kind: str, index: int, split: str, frames: int = 60,
                     size: tuple[int, int] = (640, 480)) -> Path:
    """A 25 fps lossless clip (FFV1) of a camera moving over the `index`-th photo of `split`
    (tuning: mate-backgrounds; evaluation: the Plasma wallpapers), `kind` a pan or hand-held
    jitter (`scenes.camera_path`, seeded by `index`), sub-pixel. The photo is scaled to cover
    the frame with 100 px to spare on each side, about as far as a 60-frame pan travels."""
    import cv2

    photos = tuning_photos() if split == "tuning" else evaluation_photos()
    if len(photos) <= index:
        source = "mate-backgrounds" if split == "tuning" else "plasma-workspace-wallpapers"
        raise FileNotFoundError(f"photo {index} of the {split} split not found (apt-get install {source})")
    photo = read_image(photos[index])
    w, h = size
    scale = max((w + 200) / photo.shape[1], (h + 200) / photo.shape[0])
    scene = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    path = camera_path(kind, frames, np.random.default_rng(index))
    return _write_lossless(camera_frames(scene, path, (h, w)), out, size)


def _write_lossless(pictures: Iterable[np.ndarray], out: Path, size: tuple[int, int]) -> Path:
    """RGB uint8 pictures of `size` (width, height) to a 25 fps FFV1 clip at `out`."""
    w, h = size
    proc = subprocess.Popen([ffmpeg_binary(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                             "-r", "25", "-i", "-", "-c:v", "ffv1", file_arg(out)], stdin=subprocess.PIPE)
    for picture in pictures:
        try:
            proc.stdin.write(np.ascontiguousarray(picture).tobytes())
        except BrokenPipeError:
            break  # ffmpeg stopped: its exit status says why
    try:
        proc.stdin.close()
    except BrokenPipeError:
        pass
    if proc.wait():
        raise RuntimeError(f"ffmpeg could not write {out}")
    return out


def make_clips(case: FootageCase, work: Path) -> tuple[Path, Path]:
    """(clean.mp4, mosaic.mp4) for a case, both made by ffmpeg alone."""
    clean, mosaic = work / "clean.mp4", work / "mosaic.mp4"
    if case.clip.startswith(LAYERS):
        case = replace(case, clip=str(write_layers_clip(work / "layers.mkv", int(case.clip[len(LAYERS):]), case.frames)))
    elif case.photo is not None:
        if case.start:
            raise ValueError(f"{case.name}: a photo clip starts at frame 0 (its camera path does)")
        kind, index = case.photo
        case = replace(case, clip=str(write_photo_clip(work / "photo.mkv", kind, index, case.split, case.frames)))
    info = probe(case.clip)
    reach = [math.floor(p * (case.frames - 1)) for p in case.pan]  # how far the window travels
    w, h = (info.width - reach[0]) // 2 * 2, (info.height - reach[1]) // 2 * 2
    _ffmpeg(["-i", file_arg(case.clip), "-vf",
             f"trim=start_frame={case.start}:end_frame={case.start + case.frames},settb=AVTB,setpts=N/FRAME_RATE/TB,"
             f"{'format=gbrp,' if any(case.pan) else ''}crop={w}:{h}:'floor({case.pan[0]}*n)':'floor({case.pan[1]}*n)':exact=1", "-fps_mode", "passthrough", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", file_arg(clean)])
    # The clean clip's timestamps are renumbered n / rate above, so a source with gaps in its
    # timestamps (tree.avi has them) cannot shift the moving mosaic's frame count.
    graph = moving_pixelize_graph(case.box, case.velocity, case.cell, probe(clean).rate)
    _ffmpeg(["-i", file_arg(clean), "-filter_complex", graph, "-fps_mode", "passthrough", "-c:v", "libx264",
             "-crf", str(case.crf),
             file_arg(mosaic)])
    return clean, mosaic


def moving_pixelize_graph(box: tuple[int, int, int, int], velocity: tuple[float, float], cell: int,
                          rate: str) -> str:
    """An ffmpeg filter graph that pixelates `box` (x, y, width, height at frame 0) moving
    `velocity` px a frame, with cells aligned to the box, on a clip of constant `rate`.

    Frame n from its timestamp, in both filters: ffmpeg 5.1's overlay counts `n` from 1 where
    crop counts from 0 (measured), which put each frame's cells one frame's motion away from
    the content they average. All in RGB: on yuv420p, crop and overlay would round positions,
    and pixelize cell sizes, to even, and pixelize would halve the chroma cells."""
    x0, y0, bw, bh = box
    n = f"round(t*{rate})"
    px, py = f"floor({x0}+{velocity[0]}*{n})", f"floor({y0}+{velocity[1]}*{n})"
    return (f"[0:v]format=gbrp,split[a][b];[b]crop={bw}:{bh}:'{px}':'{py}',pixelize=w={cell}:h={cell}[p];"
            f"[a][p]overlay=x='{px}':y='{py}':eval=frame:format=gbrp,format=yuv420p")


def _ffmpeg(args: list[str]) -> None:
    proc = subprocess.run([ffmpeg_binary(), "-v", "error", "-y", "-nostdin", *args], capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode(errors="replace"))


def frames_of(path: Path) -> np.ndarray:
    """All frames of a video, RGB uint8 (N, H, W, 3), as the pipeline itself decodes them."""
    info = probe(path)
    reader = FrameReader(path, info)
    try:
        return np.stack([f.copy() for f in reader])
    finally:
        reader.close()


def bicubic_of_cells(frame: np.ndarray, area: GridArea) -> np.ndarray:
    """The mosaic's true cells interpolated bicubically over it (the reference restorer)."""
    guide = cell_colour_guide(frame, [area])
    out = frame.copy()
    out[area.mask] = np.clip(np.rint(guide[area.mask]), 0, 255).astype(np.uint8)
    return out


def score_case(case: FootageCase, clean: np.ndarray, mosaic: np.ndarray, passthrough: np.ndarray,
               restored: np.ndarray, lpips: Callable[[np.ndarray, np.ndarray], float] | None = None) -> dict:
    """The case's figures (see the module's docstring) from its decoded frames; with `lpips`
    (`metrics.LPIPS()`), also LPIPS."""
    n, h, w = clean.shape[:3]
    if not (len(mosaic) == len(passthrough) == len(restored) == n):
        raise ValueError(f"frame counts differ: clean {n}, mosaic {len(mosaic)}, passthrough {len(passthrough)}, "
                         f"restored {len(restored)}")
    if n > case.frames:
        raise ValueError(f"{case.name}: {n} frames decoded, the case has {case.frames}")
    gains, bicubic_gains, outliers, bicubic_outliers, outside = [], [], [], [], []
    temporal = {"restored": [], "passthrough": []}
    flicker = {"restored": [], "passthrough": []}
    offsets = case.content_offsets()
    visibility = {"restored": [], "bicubic": [], "passthrough": []}
    perceptual: dict[str, list[float]] = {"restored": [], "bicubic": [], "passthrough": []}
    region_px = 0
    for i in range(n):
        area = case.area(i, h, w)
        ring = _grow(area.mask, case.cell)
        gains.append(_capped_psnr(restored[i], clean[i], area.mask) - _capped_psnr(passthrough[i], clean[i], area.mask))
        bicubic = bicubic_of_cells(mosaic[i], area)
        bicubic_gains.append(_capped_psnr(bicubic, clean[i], area.mask) - _capped_psnr(mosaic[i], clean[i], area.mask))
        off = np.abs(restored[i].astype(np.int16) - clean[i]).max(axis=2)
        outliers.append(int((off[ring] > OUTLIER_LEVELS).sum()))
        off_b = np.abs(bicubic.astype(np.int16) - clean[i]).max(axis=2)
        bicubic_outliers.append(int((off_b[ring] > OUTLIER_LEVELS).sum()))
        region_px += int(area.mask.sum())
        for key, video in (("restored", restored[i]), ("bicubic", bicubic), ("passthrough", passthrough[i])):
            visibility[key].append(grid_visibility(video, clean[i], area.mask, area.grid.pitch, area.grid.origin))
        outside.append(psnr(restored[i], passthrough[i], ~ring))
        if lpips is not None and i % LPIPS_EVERY == 0:
            box = bounding_box(area.mask)
            for key, video in (("restored", restored[i]), ("bicubic", bicubic), ("passthrough", passthrough[i])):
                perceptual[key].append(lpips(video[box], clean[i][box]))
        both = area.mask & case.area(i - 1, h, w).mask if i else None
        if both is not None and both.any():
            for key, video in (("restored", restored), ("passthrough", passthrough)):
                # (out_t − out_t−1) − (clean_t − clean_t−1) is e_t − e_t−1, exactly (integers).
                error, before = (video[k].astype(np.float64) - clean[k] for k in (i, i - 1))
                temporal[key].append(float(np.abs(error - before)[both].mean()))
                moved = sample(before, offsets[i] - offsets[i - 1])  # the mask lies far from the frame's edge
                flicker[key].append(float(np.abs(error - moved)[both].mean()))
    gains_a = np.array(gains)
    finite_outside = [v for v in outside if np.isfinite(v)]
    return {
        "case": case.name, "split": case.split, "cell": case.cell, "crf": case.crf,
        "moving": bool(any(case.velocity)), "pan": bool(any(case.pan)), "frames": n,
        "gain_db_mean": round(float(gains_a.mean()), 3),
        "gain_db_worst": round(float(gains_a.min()), 3),
        "worst_frame": int(gains_a.argmin()),
        "frames_worse_share": round(float((gains_a < -WORSE_DB).mean()), 3),
        "frames_worse_0_5db": int((gains_a < -0.5).sum()),
        "bicubic_gain_db_mean": round(float(np.mean(bicubic_gains)), 3),
        "outlier_share": round(sum(outliers) / max(region_px, 1), 5),
        "bicubic_outlier_share": round(sum(bicubic_outliers) / max(region_px, 1), 5),
        "temporal_error": round(float(np.mean(temporal["restored"])), 3) if temporal["restored"] else None,
        "temporal_error_passthrough": round(float(np.mean(temporal["passthrough"])), 3) if temporal["passthrough"] else None,
        "flicker": round(float(np.mean(flicker["restored"])), 3) if flicker["restored"] else None,
        "flicker_passthrough": round(float(np.mean(flicker["passthrough"])), 3) if flicker["passthrough"] else None,
        "grid_visibility": round(float(np.mean(visibility["restored"])), 3),
        "grid_visibility_bicubic": round(float(np.mean(visibility["bicubic"])), 3),
        "grid_visibility_passthrough": round(float(np.mean(visibility["passthrough"])), 3),
        "outside_psnr_min": round(min(finite_outside), 2) if finite_outside else None,
        **({f"lpips{'' if key == 'restored' else '_' + key}": round(float(np.mean(v)), 4)
            for key, v in perceptual.items()} if perceptual["restored"] else {}),
        "outside_frames_changed": int(sum(np.isfinite(v) for v in outside)),
        "gains_db": [round(float(g), 3) for g in gains],
    }


def _capped_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR capped at 100 dB: a region equal in both (a black frame's) gains nothing, not inf − inf."""
    return min(psnr(a, b, mask), 100.0)


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def run_case(case: FootageCase, restore: Callable[[Path, Path, bool], dict], work: Path,
             lpips: Callable[[np.ndarray, np.ndarray], float] | None = None) -> dict:
    """Make the case's clips, run `restore(src, dst, passthrough)` twice, score. `restore` is
    the product's own video path (`pipelines.video.restore_video` with its defaults)."""
    clean_path, mosaic_path = make_clips(case, work)
    out_path, pass_path = work / "restored.mp4", work / "passthrough.mp4"
    report = restore(mosaic_path, out_path, False)
    restore(mosaic_path, pass_path, True)
    scores = score_case(case, frames_of(clean_path), frames_of(mosaic_path), frames_of(pass_path),
                        frames_of(out_path), lpips)
    scores["frames_restored"] = report.get("frames_restored")
    scores["fallbacks"] = report.get("fallbacks")
    return scores


def evaluate_footage(cases: list[FootageCase], restore: Callable[[Path, Path, bool], dict],
                     log: Callable[[str], None] = lambda m: None,
                     lpips: Callable[[np.ndarray, np.ndarray], float] | None = None) -> list[dict]:
    results = []
    for case in cases:
        with tempfile.TemporaryDirectory(prefix="demosaic-footage-") as tmp:
            result = run_case(case, restore, Path(tmp), lpips)
        log(summary_line(result))
        results.append(result)
    return results


def summary_line(r: dict) -> str:
    return (f"{r['case']:<36} gain {r['gain_db_mean']:+6.2f} dB (bicubic {r['bicubic_gain_db_mean']:+5.2f})  "
            f"worse {100 * r['frames_worse_share']:5.1f} %  worst {r['gain_db_worst']:+6.2f}  "
            f"outliers {100 * r['outlier_share']:.3f} % (bicubic {100 * r['bicubic_outlier_share']:.3f})  "
            f"temporal {r['temporal_error']} (pass {r['temporal_error_passthrough']})  "
            f"flicker {r.get('flicker')} (pass {r.get('flicker_passthrough')})  "
            f"grid {r['grid_visibility']} (bicubic {r['grid_visibility_bicubic']}, pass {r['grid_visibility_passthrough']})  "
            f"outside min {r['outside_psnr_min']} dB"
            + (f"  LPIPS {r['lpips']:.4f} (bicubic {r['lpips_bicubic']:.4f}, pass {r['lpips_passthrough']:.4f})"
               if "lpips" in r else ""))


def table(results: list[dict]) -> str:
    head = ("| case | split | gain dB | bicubic dB | frames worse | worst dB | frames < −0.5 dB | outliers % "
            "| bicubic outliers % | temporal (passthrough) | flicker (passthrough) "
            "| grid visibility (bicubic; passthrough) | outside PSNR min | LPIPS (bicubic; passthrough) |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    rows = [f"| {r['case']} | {r['split']} | {r['gain_db_mean']:+.2f} | {r['bicubic_gain_db_mean']:+.2f} | "
            f"{100 * r['frames_worse_share']:.1f} % | {r['gain_db_worst']:+.2f} | {r['frames_worse_0_5db']} | "
            f"{100 * r['outlier_share']:.3f} | {100 * r['bicubic_outlier_share']:.3f} | "
            f"{r['temporal_error']} ({r['temporal_error_passthrough']}) | "
            f"{r.get('flicker')} ({r.get('flicker_passthrough')}) | {r['grid_visibility']:.2f} "
            f"({r['grid_visibility_bicubic']:.2f}; {r['grid_visibility_passthrough']:.1f}) | {r['outside_psnr_min']} | "
            + (f"{r['lpips']:.4f} ({r['lpips_bicubic']:.4f}; {r['lpips_passthrough']:.4f}) |" if "lpips" in r else "– |")
            for r in results]
    return head + "\n".join(rows) + "\n"


def write_results(results: list[dict], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "footage.json").write_text(json.dumps(results, indent=1) + "\n")
    (out_dir / "footage.md").write_text(table(results))
