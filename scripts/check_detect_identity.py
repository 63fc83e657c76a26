"""Check that the detector's outputs are bit-identical to those of another revision, and
compare their speed in the same run.

    python scripts/check_detect_identity.py --base REV [--quick] [--rounds N]

Frames: the detection benchmark's cases (`pipelines/benchmark_detect.py`: mosaics on the
evaluation photos as made and through H.264 at each CRF, its clean frames, its scaled
cases), detected with the shipped segmenter and, on a subset, with the classical detector
alone; and short clips like those of `scripts/benchmarks.sh` (ffmpeg's pixelize over
vtest.avi, the benchmark's moving mosaics, a lavfi test pattern) through the keyframe
follower (`demosaic.keyframes.KeyframeDetector`). The frames are made once, by this tree's
code, and cached under /tmp; each detector then runs in a subprocess of its own with its
tree first on sys.path (REV checked out into a temporary git worktree, removed after).
Compared: each detection's mask, labels and every field of every region, bit for bit.

Prints `identical` or the first differences and exits 0 or 1, then the speed ratio: per
frame the median detection time over the rounds (base and current processes alternating,
OpenCV and TensorFlow on one thread), current / base as the median of the per-frame ratios
and as the ratio of the total times.

--quick: 4 photos instead of 12 (the classical detector on 2), clips of 12 frames instead
of 24. The full benchmark uses all 30 photos; 12 keep a run near 3 min on 2 cores.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve()
CACHE = Path(tempfile.gettempdir()) / "demosaic-detect-identity"
VTEST = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
FIELDS = ("bbox", "pitch", "origin", "cells", "score")  # Region's numeric fields; `mode` compared as text


# --- the frames (made by this tree's code, once) ---------------------------------------------

def _cases(photos: int, classical: int, clip_frames: int) -> tuple[list[dict], dict[str, np.ndarray]]:
    """(case list, frames by key). A case: {"key", "name", "detector": learned|classical,
    "coded": None|True} for single frames, {"key", "name", "clip": True, "every"} for clips."""
    sys.path.insert(0, str(ROOT))
    from demosaic.config import MaskConfig
    from demosaic.data import evaluation_photos
    from demosaic.images import read_image
    from demosaic.masks import random_regions
    from demosaic.mosaic import pixelate
    from demosaic.video import h264_roundtrip, h264_roundtrip_clip, read_frames
    from pipelines import benchmark_detect as bench

    cfg = bench.DetectBenchmarkConfig()
    paths = evaluation_photos()[:photos]
    fitted = [bench.fit_frame(read_image(p)) for p in paths]
    frames, cases = {}, []

    def add(name: str, frame: np.ndarray, detectors=("learned",), coded=None):
        key = f"f{len(frames)}"
        frames[key] = frame
        for d in detectors:
            cases.append({"key": key, "name": name, "detector": d, "coded": coded})

    # As `benchmark_detect.run` makes them (the same random draws, in the same order).
    rng = np.random.default_rng(cfg.seed)
    h, w = bench.FRAME[1], bench.FRAME[0]
    for i, photo in enumerate(fitted):
        both = ("learned", "classical") if i < classical else ("learned",)
        for c in range(cfg.cases_per_photo):
            cell = int(rng.choice(cfg.cell_sizes))
            masks = MaskConfig(min_cell=cell, max_cell=cell, max_area=0.25, min_area=0.05)
            mosaic, _ = pixelate(photo, list(random_regions(rng, h, w, masks)))
            for crf in cfg.crfs:
                add(f"{paths[i].parts[-4]} case {c} cell {cell} crf {crf}",
                    mosaic if crf is None else h264_roundtrip(mosaic, crf), both)
    clean = bench.clean_frames([(str(p), f) for p, f in zip(paths, fitted)], cfg)
    for n, (kind, name, frame) in enumerate(clean):
        add(f"clean {kind} {name}", frame, ("learned", "classical") if n % 3 == 0 else ("learned",))
    for photo in fitted:
        for scale in cfg.scales:
            frame, _, _ = bench.scaled_case(photo, scale, int(rng.choice(cfg.scaled_cells)), rng)
            for crf in cfg.scaled_crfs:
                add(f"scaled x{scale:.3g} crf {crf}", frame if crf is None else h264_roundtrip(frame, crf))

    # Clips, through H.264 as one stream each, for the keyframe follower (coded=True).
    source = list(read_frames(VTEST, limit=cfg.video_start + clip_frames))[cfg.video_start:]
    height, width = source[0].shape[:2]
    clips = {}
    scene = []
    for n, frame in enumerate(source):
        scene.append(pixelate(frame, bench.video_regions(n, len(source), width, height))[0])
    clips["vtest, the benchmark's moving mosaics"] = h264_roundtrip_clip(np.stack(scene), cfg.video_crf)
    clips["vtest, pixelize 12 px (scripts/benchmarks.sh)"] = _ffmpeg_clip(
        ["-i", VTEST], "split[a][b];[b]crop=240:180:300:200,pixelize=width=12:height=12[p];[a][p]overlay=300:200",
        clip_frames, 768, 576)
    clips["testsrc2, pixelize 16 px"] = _ffmpeg_clip(
        ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"],
        "split[a][b];[b]crop=200:160:120:80,pixelize=width=16:height=16[p];[a][p]overlay=120:80",
        clip_frames, 640, 360)
    for name, clip in clips.items():
        key = f"c{len([c for c in cases if c.get('clip')])}"
        frames[key] = np.ascontiguousarray(clip)
        cases.append({"key": key, "name": name, "clip": True, "every": 4})
    return cases, frames


def _ffmpeg_clip(source: list[str], graph: str, frames: int, width: int, height: int) -> np.ndarray:
    """`frames` frames of a filter graph, through libx264 CRF 18 as benchmarks.sh codes its clip, as RGB."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mkv"
        subprocess.run(["ffmpeg", "-v", "error", *source, "-frames:v", str(frames), "-filter_complex", graph,
                        "-c:v", "libx264", "-crf", "18", str(path)], check=True)
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                             check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def cached_cases(quick: bool) -> Path:
    """The frames' file, made if this tree's case code or these settings have not made it yet."""
    settings = (4, 2, 12) if quick else (12, 4, 24)
    digest = hashlib.sha256(repr(settings).encode())
    for part in (SCRIPT, ROOT / "pipelines" / "benchmark_detect.py"):
        digest.update(part.read_bytes())
    path = CACHE / f"cases-{digest.hexdigest()[:16]}.npz"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        cases, frames = _cases(*settings)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, cases=np.array(json.dumps(cases)), **frames)
        tmp.rename(path)
    return path


# --- one side: run in a subprocess with its tree first on sys.path ---------------------------

def worker(tree: str, cases_path: str, out_path: str, export: bool) -> None:
    sys.path.insert(0, tree)
    import cv2

    import demosaic
    assert Path(demosaic.__file__).resolve().is_relative_to(Path(tree).resolve()), demosaic.__file__
    import tensorflow as tf

    from demosaic.detect import Detector, DetectorConfig
    from demosaic.keyframes import KeyframeDetector
    try:  # the keyframe settings' own class (a revision before it took `every` alone)
        from demosaic.config import KeyframeConfig

        keyframes = lambda every: KeyframeConfig(every=every)  # noqa: E731
    except ImportError:
        keyframes = lambda every: every  # noqa: E731

    cv2.setNumThreads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    data = np.load(cases_path)
    cases = json.loads(str(data["cases"]))
    detectors = {"learned": Detector(DetectorConfig()), "classical": Detector(DetectorConfig(learned=""))}
    detectors["learned"].detect(data[cases[0]["key"]])  # load the segmenter outside the timings
    out, times = {}, []
    for n, case in enumerate(cases):
        frames = data[case["key"]]
        t0 = time.perf_counter()
        if case.get("clip"):
            learned = detectors["learned"]
            keyed = KeyframeDetector(lambda f: learned.detect(f, coded=True), learned.cfg, keyframes(case["every"]))
            found = [d for f in frames for _, d in keyed.push(f)] + [d for _, d in keyed.flush()]
        else:
            found = [detectors[case["detector"]].detect(frames, coded=case["coded"])]
        times.append(time.perf_counter() - t0)
        if export:
            for i, d in enumerate(found):
                _export(out, f"{n}.{i}", d)
    np.savez(out_path, times=np.array(times), **out)


def _export(out: dict, key: str, d) -> None:
    out[f"{key}.mask"] = np.packbits(d.mask)
    out[f"{key}.shape"] = np.array(d.mask.shape)
    out[f"{key}.labels"] = np.zeros(0, np.int32) if d.labels is None else d.labels
    out[f"{key}.modes"] = np.array(json.dumps([r.mode for r in d.regions]))
    for f in FIELDS:
        out[f"{key}.{f}"] = np.array([getattr(r, f) for r in d.regions], np.float64)
    out[f"{key}.types"] = np.array(json.dumps([[type(getattr(r, f)).__name__ for f in FIELDS] for r in d.regions]))


def run_side(tree: Path, cases: Path, out: Path, export: bool) -> np.lib.npyio.NpzFile:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--worker", str(tree), str(cases), str(out)]
                          + ([] if export else ["--times-only"]), env=env, cwd=str(tree),
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"detection failed in {tree}:\n{proc.stderr[-4000:]}")
    return np.load(out)


# --- the comparison ---------------------------------------------------------------------------

def differences(cases: list[dict], base, current, most: int = 10) -> list[str]:
    found = []
    keys = sorted((set(base.files) | set(current.files)) - {"times"},
                  key=lambda k: (int(k.split(".")[0]), int(k.split(".")[1]), k))
    for key in keys:
        if key not in base.files or key not in current.files:
            found.append(f"{key}: only in {'current' if key in current.files else 'base'}")
        else:
            a, b = base[key], current[key]
            if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
                n, i = key.split(".")[:2]
                what = str(a) if a.size < 40 else f"{a.dtype}{a.shape}"
                now = str(b) if b.size < 40 else f"{b.dtype}{b.shape}"
                found.append(f"{cases[int(n)]['name']} ({cases[int(n)].get('detector', 'keyframes')}), "
                             f"detection {i}, {key.split('.')[-1]}: base {what} / current {now}")
        if len(found) >= most:
            break
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="a git revision of this repository")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=2, help="timing rounds per side (the first also exports)")
    args = parser.parse_args()
    cases_path = cached_cases(args.quick)
    cases = json.loads(str(np.load(cases_path)["cases"]))
    frames = sum(1 for c in cases if not c.get("clip"))
    clip_frames = sum(len(np.load(cases_path)[c["key"]]) for c in cases if c.get("clip"))
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base], check=True,
                         capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        base_tree = Path(tmp) / f"base-{rev}"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(base_tree), rev], check=True)
        try:
            times = {"base": [], "current": []}
            outputs = {}
            for r in range(args.rounds):
                order = (("base", base_tree), ("current", ROOT)) if r % 2 == 0 else (("current", ROOT), ("base", base_tree))
                for side, tree in order:
                    result = run_side(tree, cases_path, Path(tmp) / f"{side}-{r}.npz", export=r == 0)
                    times[side].append(result["times"])
                    if r == 0:
                        outputs[side] = result
            diff = differences(cases, outputs["base"], outputs["current"])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=True)
    kinds = {d: sum(1 for c in cases if c.get("detector") == d) for d in ("learned", "classical")}
    print(f"{frames} single-frame cases ({kinds['learned']} with the segmenter, {kinds['classical']} classical), "
          f"{sum(1 for c in cases if c.get('clip'))} clips ({clip_frames} frames, keyframes every 4); base {rev}")
    print("identical" if not diff else "DIFFERENT:\n  " + "\n  ".join(diff))
    base_t, cur_t = (np.median(np.stack(times[s]), axis=0) for s in ("base", "current"))
    single = np.array([not c.get("clip") for c in cases])
    ratios = cur_t[single] / base_t[single]
    print(f"speed, current / base ({args.rounds} rounds, alternating, one thread): median per frame "
          f"{statistics.median(ratios):.3f}, total {cur_t.sum() / base_t.sum():.3f} "
          f"({1000 * np.median(base_t[single]):.1f} / {1000 * np.median(cur_t[single]):.1f} ms median per frame)")
    return 1 if diff else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(*sys.argv[2:5], export="--times-only" not in sys.argv)
    else:
        sys.exit(main())
