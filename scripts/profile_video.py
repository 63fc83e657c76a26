"""Where `demosaic video` spends its time: a sampling profile (py-spy) of one whole run,
every thread, idle samples included, grouped by stage.

    pip install py-spy
    python scripts/profile_video.py [--clip CLIP] [--out DIR] [--rate 100]

The clip (made when missing, as issue #11 describes it): 400 frames of opencv-doc's
vtest.avi (768×576) with a 160×160 region pixelated at 16 px moving across it, coded with
libx264 at CRF 18. Each sample is one thread's stack at one instant; a thread's samples are
put in the first group whose pattern its stack contains, from the innermost frame out, so
the table says, for each thread, where it was (running, or waiting for a queue, a pipe or
the GIL). `--gil` samples only the thread holding the GIL instead.
"""
from __future__ import annotations

import argparse
import collections
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# A stack through the segmenter is detection's, whatever runs inside it.
SEGMENTER = ("detection: segmenter network", ("detect_net.py",))
# (group, substrings of a frame "function (file:line)"), innermost match wins.
GROUPS = [
    ("restore: the model", ("_infer", "tensorflow", "keras")),
    ("guide", ("cell_colour_guide",)),
    ("guards", ("guard_frame", "verify_region")),
    ("consistency + last check", ("enforce_cell_means", "passes_check", "cell_errors")),
    ("fusion", ("fuse_region", "video_fusion")),
    ("detection, full frame", ("detect (demosaic/detect/detector.py",)),
    ("keyframes: following", ("keyframes.py",)),
    ("temporal vote", ("temporal.py",)),
    ("rgb24 on demand (converter pipes)", ("rgbframes.py",)),
    ("decode (pipe read)", ("FrameReader", "video.py:read", "_read_exact")),
    ("encode (pipe write)", ("FrameWriter", "write (demosaic/video.py")),
    ("planes (YUV ↔ RGB)", ("planes.py",)),
    ("restore: crops, composite", ("restore.py",)),
    ("queue waits", ("queue.py",)),
    ("waiting for the thread pool", ("thread.py:_worker", "concurrent/futures", "_base.py")),
    ("start-up: imports", ("_find_and_load", "<module>")),
    ("mux", ("mux.py",)),
]


# The clip's region: x, y, width, height at frame 0, moving by VELOCITY px a frame (its corner
# from (40, 100) to (568, 316) over 400 frames; vtest.avi: 10 frames/s), CELL px cells.
BOX, VELOCITY, CELL, RATE = (40, 100, 160, 160), (1.32, 0.54), 16, "10"


def make_clip(path: Path) -> None:
    vtest = subprocess.run(["dpkg", "-L", "opencv-doc"], capture_output=True, text=True).stdout.split()
    src = next(p for p in vtest if p.endswith("vtest.avi"))
    from pipelines.evaluate_video import moving_pixelize_graph

    graph = moving_pixelize_graph(BOX, VELOCITY, CELL, RATE)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", src, "-frames:v", "400", "-filter_complex", graph,
                    "-c:v", "libx264", "-crf", "18", str(path)], check=True)


def group_of(stack: str) -> str:
    if any(p in stack for p in SEGMENTER[1]):
        return SEGMENTER[0]
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, patterns in GROUPS:
            if any(p in frame for p in patterns):
                return name
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=ROOT / "benchmarks" / "speed-clip.mkv")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "profile")
    ap.add_argument("--rate", type=int, default=100, help="samples a second")
    ap.add_argument("--gil", action="store_true", help="only the thread holding the GIL")
    ap.add_argument("--busy", action="store_true",
                    help="only threads on a CPU (idle and blocked samples left out): where the CPU time goes; "
                         "TensorFlow's own worker threads are not Python threads and are not seen")
    args = ap.parse_args()
    if not args.clip.exists():
        make_clip(args.clip)
    args.out.mkdir(parents=True, exist_ok=True)
    kind = "gil" if args.gil else "busy" if args.busy else ""
    raw = args.out / f"py-spy{'-' + kind if kind else ''}.txt"
    out = args.out / "out.mkv"
    which = {"gil": ["--gil"], "busy": []}.get(kind, ["--idle"])
    cmd = ["py-spy", "record", "--format", "raw", "--threads", "-r", str(args.rate), "-o", str(raw), *which,
           "--", sys.executable, "-c", "from cli import main; main()",
           "video", "--overwrite", "--quiet", "--", str(args.clip), str(out)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    out.unlink(missing_ok=True)
    by_thread: dict = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        thread = stack.split(";", 1)[0]
        by_thread[thread][group_of(stack)] += int(count)
    total = sum(sum(c.values()) for c in by_thread.values())
    lines = [f"{args.clip.name}: {total} samples at {args.rate}/s over every thread"
             + {"gil": " holding the GIL", "busy": " on a CPU"}.get(kind, ", idle included"), ""]
    for thread, counts in sorted(by_thread.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(counts.values())
        lines.append(f"{thread}: {n} samples ({n / args.rate:.1f} s)")
        for name, c in counts.most_common():
            lines.append(f"  {name:28s} {c / n:6.1%}  ({c / args.rate:.1f} s)")
    text = "\n".join(lines) + "\n"
    (args.out / f"profile{'-' + kind if kind else ''}.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
