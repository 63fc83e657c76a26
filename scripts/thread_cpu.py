"""CPU seconds of one `demosaic video` run, by thread and by child process, from the kernel's counts.

    python scripts/thread_cpu.py [--clip CLIP] [--out FILE] [-- MORE_VIDEO_ARGS...]

A sampling profile (`scripts/profile_video.py`) on 2 busy cores counts a thread as busy while
the kernel has it waiting for a core; this counts what each thread and process was given:

- each Python thread by name (`detect`, `decode`, `encode`, `rgb24`, the restore pool's
  `restore_N`, the batches in flight `batch_N`, `MainThread`: start-up and the hand-offs),
  from `time.thread_time()` when it ends (a `sitecustomize` put on the child's path);
- what the Python threads do not account for: TensorFlow's thread pools, which run both
  networks (the restorer's and the detector's segmenter), and any Python thread still running
  when the process exits (none in a run that ends normally: every stage has ended);
- the ffmpeg processes (decode, rgb24 conversion, encode), polled from /proc every 0.2 s (a
  process's last reading may miss its last 0.2 s);
- and, after it, a plain transcode of the clip with `demosaic video`'s encoder settings.

The clip defaults to issue #11's (`benchmarks/speed-clip.mkv`, made by `scripts/profile_video.py`).
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SITECUSTOMIZE = '''
import atexit, collections, json, os, re, threading, time
_cpu = collections.Counter()
_run = threading.Thread.run
def run(self):
    try:
        _run(self)
    finally:
        _cpu[re.sub(r"_[0-9]+$", "_N", self.name)] += time.thread_time()
threading.Thread.run = run
@atexit.register
def _dump():
    _cpu["MainThread"] += time.thread_time()
    with open(os.environ["DEMOSAIC_THREAD_CPU"], "w") as f:
        json.dump({"process": time.process_time(), "threads": dict(_cpu)}, f)
'''


def _role(cmdline: list[str]) -> str:
    name = Path(cmdline[0]).name if cmdline else "?"
    if name != "ffmpeg" or "-i" not in cmdline:
        return name
    if cmdline[cmdline.index("-i") + 1] == "pipe:":  # frames from the pipeline
        return "ffmpeg encode" if "-c:v" in cmdline else "ffmpeg rgb24"
    return "ffmpeg mux" if "copy" in cmdline else "ffmpeg decode"


def _children(pid: int) -> list[int]:
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def _cpu_of(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(clip: Path, more: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sitecustomize.py").write_text(SITECUSTOMIZE)
        report = Path(tmp) / "threads.json"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([tmp, str(ROOT)]), DEMOSAIC_THREAD_CPU=str(report))
        out = Path(tmp) / "out.mkv"
        start = time.perf_counter()
        errors = open(Path(tmp) / "stderr.txt", "w+")  # a file: a pipe nobody reads could fill and stop it
        proc = subprocess.Popen([sys.executable, "-m", "cli", "video", str(clip), str(out), "--quiet", *more],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors, text=True)
        seen: dict[int, tuple[str, float]] = {}
        while proc.poll() is None:
            todo = _children(proc.pid)
            while todo:
                pid = todo.pop()
                cpu = _cpu_of(pid)
                if cpu is None:
                    continue
                if pid not in seen:
                    try:
                        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    except OSError:
                        continue
                    seen[pid] = (_role([c.decode(errors="replace") for c in cmd if c]), cpu)
                seen[pid] = (seen[pid][0], cpu)
                todo += _children(pid)
            time.sleep(0.2)
        wall = time.perf_counter() - start
        errors.seek(0)
        message = errors.read().strip()
        errors.close()
        if proc.returncode:
            raise SystemExit(f"demosaic video failed: {message}")
        inside = json.loads(report.read_text())
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(clip), "-c:v", "libx264", "-crf", "18",
                        "-preset", "medium", "-c:a", "copy", str(Path(tmp) / "plain.mkv")], check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        plain = {"wall": time.perf_counter() - t0,
                 "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime}
    children = collections.Counter()
    for role, cpu in seen.values():
        children[role] += cpu
    threads = inside["threads"]
    return {"clip": str(clip), "wall": wall, "python_process": inside["process"], "threads": threads,
            "not_python_threads": inside["process"] - sum(threads.values()), "children": dict(children),
            "transcode": plain}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=ROOT / "benchmarks" / "speed-clip.mkv")
    ap.add_argument("--out", type=Path, help="also write the figures as JSON")
    ap.add_argument("more", nargs="*", help="more `demosaic video` options, after --")
    args = ap.parse_args()
    if not args.clip.is_file():
        raise SystemExit(f"no clip at {args.clip} (scripts/profile_video.py makes issue #11's)")
    r = measure(args.clip, args.more)
    total = r["python_process"] + sum(r["children"].values())
    lines = [f"{args.clip.name}: {r['wall']:.1f} s wall, {total:.1f} s of CPU "
             f"(a plain transcode: {r['transcode']['wall']:.2f} s wall, {r['transcode']['cpu']:.2f} s of CPU)"]
    rows = [(f"thread {k}", v) for k, v in r["threads"].items()]
    rows += [("not Python threads: TensorFlow's pools", r["not_python_threads"])]
    rows += [(k, v) for k, v in r["children"].items()]
    lines += [f"  {name:36s} {sec:6.2f} s  {100 * sec / total:5.1f} %" for name, sec in sorted(rows, key=lambda x: -x[1])]
    print("\n".join(lines))
    if args.out:
        args.out.write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()
