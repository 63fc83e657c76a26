"""What `demosaic video` would take on issue #11's clip if a part of it cost nothing: a ladder of bounds.

    python scripts/floor_video.py [--clean] [--rounds 2] [--out FILE]
    python scripts/floor_video.py --network [--precision auto|float32|bfloat16] [--rounds 2]

Each rung is one fresh process (start-up counted, as a user's command pays it), timed by the
wall clock and by the CPU it and its ffmpeg children used; the rungs run in turn, a round at
a time, and each round has its own plain transcode (`demosaic video`'s encoder settings:
libx264, CRF 18, preset medium, audio copied), so each ratio compares figures of one sitting:

- `shipped`: `demosaic video CLIP OUT`, default settings;
- `true masks`: the clip's own masks given as a mask video (`--mask`), so detection costs only
  the grid estimate inside each given mask (`Detector.areas_in`) instead of keyframes, following
  and the vote;
- `true masks, no guards or consistency`: that, with the restorer's guards, consistency step and
  last check off (its `consistency` off): the network's output pasted into the mask. Not a
  product setting. An upper bound on what is left with those steps free: the given masks have
  their own costs (the mask video decoded, every frame converted to rgb24 and its grid estimated
  inside the moved mask), and the guide, the crops and the composite still run;
- `passthrough`: `--passthrough`, the same decode and encode with nothing looked at;
- `network alone`: a process that imports TensorFlow, loads the restorer and runs its network on
  the clip's 400 crops (50 batches of 8 at 192², zeros): start-up and the network, no video.

With `--clean`, issue #11's clip with no mosaic (`benchmarks/clean-clip.mkv`: `ffmpeg -i
vtest.avi -frames:v 400 -c:v libx264 -crf 18 benchmarks/clean-clip.mkv`), whose cost over the
transcode is the detector's keyframes and the pipeline's own decode and encode: `shipped`,
`--detect-every 16` and `--detect-every 250` (two keyframes), and `passthrough`.

With `--network`, the network alone in this process, per 192² crop (wall and this process's
CPU, in turn, `--rounds` times): at the batch sizes 1, 4, 8 (the restorer's) and 16, and at 8
compiled by XLA (`tf.function(jit_compile=True)`), in `--precision` (`auto`: as `demosaic video` picks).

The mosaic clip is `benchmarks/speed-clip.mkv` (made if missing, `scripts/profile_video.py`); its true
masks are the 160 px box of `profile_video.make_clip` at each frame's place, written losslessly
beside it (`benchmarks/speed-clip-masks.mkv`, git-ignored like the clip).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

CLIP = ROOT / "benchmarks" / "speed-clip.mkv"
CLEAN = ROOT / "benchmarks" / "clean-clip.mkv"
MASKS = ROOT / "benchmarks" / "speed-clip-masks.mkv"
FRAMES, SIZE = 400, (576, 768)

NO_GUARDS = """
from demosaic import restore
_init = restore.Restorer.__init__
def __init__(self, *a, **k):
    _init(self, *a, **k)
    self.consistency, self.safety = False, None  # the network's output pasted as it comes
restore.Restorer.__init__ = __init__
"""

NETWORK_ALONE = """
import numpy as np
from demosaic.restore import Restorer, resolve_precision
r = Restorer.for_mode("guided", precision=resolve_precision("auto"))
z = np.zeros((8, 192, 192, 3), np.float32)
batch = {"image": z, "valid": np.ones((8, 192, 192, 1), np.float32), "guide": z}
for _ in range(50):
    r.infer(batch)
"""


def make_masks() -> None:
    """The clip's true masks: `profile_video`'s box at each frame's place, floored
    as its filter graph floors it."""
    import numpy as np
    from demosaic.video import write_gray_video
    from profile_video import BOX, VELOCITY

    x0, y0, w, h = BOX

    def frames():
        for n in range(FRAMES):
            m = np.zeros(SIZE, np.uint8)
            x, y = int(np.floor(x0 + VELOCITY[0] * n)), int(np.floor(y0 + VELOCITY[1] * n))
            m[y:y + h, x:x + w] = 255
            yield m

    write_gray_video(MASKS, frames(), SIZE[1], SIZE[0], "10")


def rungs(clip: Path, out: Path) -> dict[str, list[str]]:
    video = [sys.executable, "-c", "import sys; from cli import main; sys.argv[0] = 'demosaic'; main()",
             "video", str(clip), str(out), "--overwrite", "--quiet"]
    patched = [sys.executable, "-c", NO_GUARDS + "import sys; from cli import main; sys.argv[0] = 'demosaic'; main()",
               *video[3:]]
    transcode = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(clip), "-c:v", "libx264", "-crf", "18",
                 "-preset", "medium", "-c:a", "copy", str(out)]
    if clip == CLEAN:
        return {"transcode": transcode, "shipped": video, "--detect-every 16": [*video, "--detect-every", "16"],
                "--detect-every 250": [*video, "--detect-every", "250"], "passthrough": [*video, "--passthrough"]}
    return {
        "transcode": transcode,
        "shipped": video,
        "true masks": [*video, "--mask", str(MASKS)],
        "true masks, no guards or consistency": [*patched, "--mask", str(MASKS)],
        "passthrough": [*video, "--passthrough"],
        "network alone": [sys.executable, "-c", NETWORK_ALONE],
    }


def network(rounds: int, precision: str) -> None:
    import numpy as np
    import tensorflow as tf
    from demosaic.restore import Restorer, resolve_precision

    precision = resolve_precision(precision)
    r = Restorer.for_mode("guided", precision=precision)
    rng = np.random.default_rng(0)

    def batch(n: int) -> dict[str, np.ndarray]:
        image = rng.random((n, 192, 192, 3), dtype=np.float32)
        return {"image": image, "valid": (rng.random((n, 192, 192, 1)) > 0.5).astype(np.float32), "guide": image}

    xla = tf.function(lambda b: tf.cast(r.model(b, training=False), tf.float32), jit_compile=True)
    runs = {f"batch {n}": (r.infer, batch(n)) for n in (1, 4, 8, 16)}
    runs["batch 8, XLA"] = (xla, runs["batch 8"][1])
    for f, b in runs.values():  # traced (and compiled) before timing
        np.asarray(f(b))
    print(f"the restorer's network ({precision}), per 192² crop, 64 crops a run: wall ms / CPU ms")
    figures: dict[str, list[str]] = {}
    for _ in range(rounds):
        for name, (f, b) in runs.items():
            n = len(b["image"])
            t, c = time.perf_counter(), time.process_time()
            for _ in range(64 // n):
                np.asarray(f(b))
            figures.setdefault(name, []).append(
                f"{1000 * (time.perf_counter() - t) / 64:.1f} / {1000 * (time.process_time() - c) / 64:.1f}")
    for name, rows in figures.items():
        print(f"  {name:14s} " + "   ".join(rows))


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall s, CPU s of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:6])} ... failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-800:]}")
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clean", action="store_true", help="the clip with no mosaic (benchmarks/clean-clip.mkv)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, help="also write the figures as JSON")
    ap.add_argument("--network", action="store_true", help="the network alone, in this process")
    ap.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto", help="with --network")
    args = ap.parse_args()
    if args.network:
        network(args.rounds, args.precision)
        return
    clip = CLEAN if args.clean else CLIP
    if not clip.exists():
        if args.clean:
            sys.exit(f"{clip} is missing: see this script's help for the command that makes it")
        import profile_video
        profile_video.make_clip(CLIP)
    if not args.clean and not MASKS.exists():
        make_masks()
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        steps = rungs(clip, Path(tmp) / "out.mkv")
        for _ in range(args.rounds):
            base = None
            for name, cmd in steps.items():
                wall, cpu = timed(cmd)
                base = wall if name == "transcode" else base
                results.setdefault(name, []).append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                                     "ratio": round(wall / base, 2)})
    figures = {"clip": clip.name, "cores": os.cpu_count(), "rungs": results}
    print(report(figures))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1) + "\n")


def report(figures: dict) -> str:
    """The ladder as a table (what `--out` wrote, or a run's figures)."""
    lines = [f"{figures['clip']}: {FRAMES} frames 768x576, {figures['cores']} cores; each rung a fresh process, "
             "rounds in turn", f"{'':38s} {'wall s':>14s} {'CPU s':>14s} {'x transcode':>14s}"]
    for name, rows in figures["rungs"].items():
        cols = ["/".join(f"{r[k]:.2f}" for r in rows) for k in ("wall_s", "cpu_s", "ratio")]
        lines.append(f"{name:38s} {cols[0]:>14s} {cols[1]:>14s} {cols[2]:>14s}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
