"""`demosaic benchmark model` and `demosaic benchmark video`: speed, as medians and ratios.

model: images/s and achieved GFLOP/s of each architecture's forward pass (inference, the
  product's hot path) at several sizes, next to this machine's own peak measured in the
  same run: the median GFLOP/s of a large float32 matmul through TensorFlow.
video: per-stage throughput (decode, detect, restore, encode: frames/s of the time each
  stage was busy) and end to end, with peak memory; the wall time against a plain ffmpeg
  transcode with the same encoder settings, with start-up and without; optionally frames/s
  at other sizes, and the same through Ray with N workers, for the Ray overhead per frame.
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ARCHS = {
    "guided-small (shipped)": dict(depth=5, base_channels=32, max_channels=256, guided=True),
    "pure-small (shipped)": dict(depth=5, base_channels=32, max_channels=256, guided=False),
    "paper (depth 7, 64-512)": dict(depth=7, base_channels=64, max_channels=512, guided=False),
}


def _median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_peak(n: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of an n×n float32 matmul through TensorFlow (median)."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    seconds = _median_seconds(lambda: tf.linalg.matmul(a, b).numpy(), repeats)
    return 2 * n ** 3 / seconds / 1e9


def model_benchmark(sizes=(128, 256, 512), batch: int = 4, repeats: int = 5, archs=None) -> dict:
    import tensorflow as tf

    from demosaic.config import UNetConfig
    from demosaic.unet import build_model, forward_flops

    peak = matmul_peak()
    rows = []
    for name, kw in (archs or ARCHS).items():
        cfg = UNetConfig(**kw)
        model = build_model(cfg)
        infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True, autograph=False)
        for size in sizes:
            if size % cfg.size_multiple:
                continue
            n = batch if size <= 256 else 1
            rng = np.random.default_rng(0)
            inputs = {"image": rng.random((n, size, size, 3), np.float32),
                      "valid": (rng.random((n, size, size, 1)) > 0.3).astype(np.float32)}
            if cfg.guided:
                inputs["guide"] = rng.random((n, size, size, 3), np.float32)
            inputs = {k: tf.constant(v) for k, v in inputs.items()}
            seconds = _median_seconds(lambda: infer(inputs).numpy(), repeats)
            flops = forward_flops(cfg, size)
            gflops = flops * n / seconds / 1e9
            rows.append({"arch": name, "size": size, "batch": n, "images_per_second": round(n / seconds, 2),
                         "gflop_per_image": round(flops / 1e9, 2), "gflops": round(gflops, 1),
                         "fraction_of_peak": round(gflops / peak, 3)})
    return {"matmul_peak_gflops": round(peak, 1), "cores": os.cpu_count(), "rows": rows}


def model_table(result: dict) -> str:
    lines = [f"matmul peak (TensorFlow, float32 2048²): {result['matmul_peak_gflops']} GFLOP/s on "
             f"{result['cores']} cores",
             f"{'architecture':26s} {'size':>5s} {'img/s':>8s} {'GFLOP/img':>10s} {'GFLOP/s':>8s} {'of peak':>8s}"]
    for r in result["rows"]:
        lines.append(f"{r['arch']:26s} {r['size']:5d} {r['images_per_second']:8.2f} {r['gflop_per_image']:10.2f} "
                     f"{r['gflops']:8.1f} {r['fraction_of_peak']:8.1%}")
    return "\n".join(lines)


def peak_rss_mb() -> dict:
    """Peak resident memory of this process and of the largest finished child (ffmpeg), in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"python_mb": round(own, 1), "largest_child_mb": round(children, 1)}


def video_benchmark(src: Path, work: Path, *, ray_workers=(), repeats: int = 1, lossless: bool = False,
                    detector=None, keyframes=None, fuse_radius: int = 0,
                    sizes: tuple[tuple[int, int], ...] = (), precision: str = "float32") -> dict:
    """In-process `restore_video` on `src` (per-stage figures); the same against a plain ffmpeg
    transcode with the same encoder settings, in turn, with start-up counted (a fresh
    `demosaic video` process) and without (the in-process runs), medians of `repeats`; for
    each (width, height) in `sizes`, end-to-end frames/s on the clip scaled to it; then, for
    each N in `ray_workers`, the same through a local Ray with N CPU workers (segments of 1/N of the video).
    `detector`, `keyframes`: a DetectorConfig and a KeyframeConfig (default: the default
    ones). With `fuse_radius`, the single-frame path and fusion at that radius run in turn,
    `repeats` times each: their CPU seconds a frame (this process's, every thread) and
    restore-stage seconds a frame, medians, and the ratios. `precision`: the network's
    arithmetic, resolved ("float32" or "bfloat16"), in every run here and the fresh process."""
    from demosaic.config import KeyframeConfig
    from demosaic.detect import DetectorConfig
    from demosaic.probe import probe
    from demosaic.video import EncodeOptions
    from pipelines.video import Engine, restore_video

    from .segments import count_frames

    info = probe(src)
    opts = EncodeOptions(lossless=lossless)
    detector = detector or DetectorConfig()
    keyframes = keyframes or KeyframeConfig()
    engine = Engine(None, "guided", detector, precision=precision)
    runs = []
    for i in range(repeats):
        dst = work / f"bench-{i}.mkv"
        runs.append(restore_video(src, dst, model_path=None, mode="guided", mask_path=None, encode=opts,
                                  detector=detector, engine=engine, keyframes=keyframes))
        dst.unlink(missing_ok=True)
    best = min(runs, key=lambda r: r["seconds"]["wall"])
    frames = best["frames"]
    stages = {k: round(frames / v, 2) if v else None for k, v in best["seconds"].items() if k != "wall"}
    result = {"input": str(src), "size": f"{info.width}x{info.height}", "frames": frames,
              "frames_restored": best["frames_restored"], "cores": os.cpu_count(),
              "detect_every": keyframes.every, "frames_detected": best["frames_detected"],
              "frames_to_rgb": best["frames_to_rgb"], "precision": precision,
              "in_process": {"stage_frames_per_second": stages, "end_to_end_fps": best["frames_per_second"],
                             "wall_seconds": best["seconds"]["wall"]}}
    slowest = min(v for v in stages.values() if v)
    result["in_process"]["end_to_end_over_slowest_stage"] = round(slowest / best["frames_per_second"], 3)
    result["against_transcode"] = _against_transcode(src, work, opts, info, detector, keyframes, repeats,
                                                     [r["seconds"]["wall"] for r in runs], precision)
    for size in sizes:
        result.setdefault("sizes", []).append(_at_size(src, work, engine, opts, detector, keyframes, size))
    if fuse_radius:
        result["fusion"] = _fusion_cost(src, work, engine, opts, detector, keyframes, fuse_radius, repeats)
    result["peak_memory"] = peak_rss_mb()  # before Ray starts: its workers are child processes too
    if ray_workers:
        from .batch import run_batch
        from .ray_executor import RayExecutor, RayOptions
        from .segments import Settings

        total = count_frames(src, info)
        result["ray"] = []
        import ray

        for n in ray_workers:
            t0 = time.perf_counter()
            executor = RayExecutor(RayOptions(address="local", workers=n))
            try:
                ray.get([a.where.remote() for a in executor.actors])  # started, TensorFlow imported
                startup = time.perf_counter() - t0
                settings = Settings(None, "guided", None, opts, detector, keyframes=keyframes, precision=precision)
                dst = work / f"ray-{n}.mkv"
                t0 = time.perf_counter()
                report = run_batch([(src, dst)], settings, executor, overwrite=True,
                                   segment_frames=max(8, -(-total // n)))
                wall = time.perf_counter() - t0
            finally:
                executor.close()
            for p in work.glob(f".ray-{n}*"):
                p.unlink()
            dst.unlink(missing_ok=True)
            entry = report["videos"][0]
            result["ray"].append({"workers": n, "startup_seconds": round(startup, 2), "wall_seconds": round(wall, 2),
                                  "segments": entry.get("segments"),
                                  "end_to_end_fps": round(entry.get("frames", 0) / wall, 2),
                                  "speedup_vs_in_process": round(best["seconds"]["wall"] / wall, 3),
                                  # With one worker, the whole difference is Ray's (and the model load in the actor).
                                  "extra_ms_per_frame_vs_in_process":
                                      round((wall - best["seconds"]["wall"]) / max(frames, 1) * 1000, 1)})
    return result


def _against_transcode(src: Path, work: Path, opts, info, detector, keyframes, repeats: int,
                       in_process: list[float], precision: str = "float32") -> dict:
    """Wall seconds of a plain transcode (`ffmpeg -i IN -c:v ENC -crf N -preset P -c:a copy OUT`,
    the encoder settings `demosaic video` uses) and of a fresh `demosaic video` process, in
    turn, `repeats` times each; medians, and the ratios with and without start-up."""
    from demosaic.ffmpeg import ffmpeg_binary, file_arg
    from demosaic.video import for_input

    enc = for_input(opts, info)
    video = ["-c:v", "libx264", "-qp", "0"] if enc.lossless else ["-c:v", enc.codec, "-crf", str(enc.crf)]
    transcode = [ffmpeg_binary(), "-v", "error", "-nostdin", "-y", "-i", file_arg(src), *video,
                 "-preset", enc.preset, "-c:a", "copy", file_arg(work / "plain.mkv")]
    command = [sys.executable, "-c", "from cli import main; main()", "video", "--overwrite",
               "--detector", "learned" if detector.learned else "classical",
               "--detect-every", str(keyframes.every), "--precision", precision,
               *(["--lossless"] if opts.lossless else []),
               "--", str(src), str(work / "fresh.mkv")]
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    plain, fresh = [], []
    for _ in range(repeats):
        for times, cmd in ((plain, transcode), (fresh, command)):
            t0 = time.perf_counter()
            _run_tool(cmd, env)
            times.append(time.perf_counter() - t0)
    for name in ("plain.mkv", "fresh.mkv"):
        (work / name).unlink(missing_ok=True)
    plain_s, fresh_s, warm_s = (float(np.median(t)) for t in (plain, fresh, in_process))
    return {"transcode": " ".join(["ffmpeg", "-i", "IN", *video, "-preset", enc.preset, "-c:a", "copy", "OUT"]),
            "runs_each": repeats, "transcode_seconds": round(plain_s, 3),
            "demosaic_seconds_with_startup": round(fresh_s, 3), "demosaic_seconds_in_process": round(warm_s, 3),
            "ratio_with_startup": round(fresh_s / plain_s, 3), "ratio_without_startup": round(warm_s / plain_s, 3)}


def _run_tool(cmd: list[str], env: dict | None = None) -> None:
    """Run a command the benchmark times; its failure is a DemosaicError with its cause line."""
    from demosaic.errors import DemosaicError, cause_line

    proc = subprocess.run(cmd, capture_output=True, env=env)
    if proc.returncode != 0:
        raise DemosaicError(f"benchmark: {Path(cmd[0]).name} failed: "
                            f"{cause_line(proc.stderr.decode(errors='replace')) or proc.returncode}")


def _at_size(src: Path, work: Path, engine, opts, detector, keyframes, size: tuple[int, int]) -> dict:
    """End-to-end frames/s of `restore_video` on `src` scaled to `size` (coded at CRF 18)."""
    from demosaic.ffmpeg import ffmpeg_binary, file_arg
    from pipelines.video import restore_video

    scaled, dst = work / f"scaled-{size[0]}x{size[1]}.mkv", work / "scaled-out.mkv"
    _run_tool([ffmpeg_binary(), "-v", "error", "-nostdin", "-y", "-i", file_arg(src), "-vf",
               f"scale={size[0]}:{size[1]}", "-c:v", "libx264", "-crf", "18", "-an", file_arg(scaled)])
    try:
        run = restore_video(scaled, dst, model_path=None, mode="guided", mask_path=None, encode=opts,
                            detector=detector, engine=engine, keyframes=keyframes)
    finally:
        scaled.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)
    return {"size": f"{size[0]}x{size[1]}", "frames": run["frames"], "end_to_end_fps": run["frames_per_second"]}


def _fusion_cost(src: Path, work: Path, engine, opts, detector, keyframes, radius: int, repeats: int) -> dict:
    """Single-frame and fused runs in turn on one engine: medians of CPU and restore seconds a frame."""
    from demosaic.config import FusionConfig
    from pipelines.video import restore_video

    cost: dict = {0: [], radius: []}
    for i in range(repeats):
        for r in (0, radius):
            dst = work / f"fuse-{r}-{i}.mkv"
            cpu = time.process_time()
            run = restore_video(src, dst, model_path=None, mode="guided", mask_path=None, encode=opts,
                                detector=detector, engine=engine, fusion=FusionConfig(radius=r),
                                keyframes=keyframes)
            frames = max(run["frames"], 1)
            cost[r].append(((time.process_time() - cpu) / frames, run["seconds"]["restore"] / frames,
                            run["fusion"]["regions_fused"]))
            dst.unlink(missing_ok=True)
    single = [float(np.median([c[k] for c in cost[0]])) for k in range(2)]
    fused = [float(np.median([c[k] for c in cost[radius]])) for k in range(2)]
    return {"radius": radius, "runs_each": repeats, "regions_fused": cost[radius][-1][2],
            "cpu_ms_per_frame": {"single": round(1000 * single[0], 1), "fused": round(1000 * fused[0], 1)},
            "restore_ms_per_frame": {"single": round(1000 * single[1], 1), "fused": round(1000 * fused[1], 1)},
            "cpu_ratio": round(fused[0] / max(single[0], 1e-9), 2),
            "restore_ratio": round(fused[1] / single[1], 2) if single[1] else None}


def video_table(result: dict) -> str:
    ip = result["in_process"]
    every = result.get("detect_every", 1)
    lines = [f"{result['input']} ({result['size']}, {result['frames']} frames, {result['frames_restored']} with "
             f"mosaics), {result['cores']} cores",
             f"detection: {'every frame' if every == 1 else f'keyframes every {every}'}, "
             f"{result.get('frames_detected', result['frames'])} frames detected in full, "
             f"{result.get('frames_to_rgb', result['frames'])} made rgb24; "
             f"the network in {result.get('precision', 'float32')}",
             "stage frames/s (busy time): " + ", ".join(f"{k} {v}" for k, v in ip["stage_frames_per_second"].items()),
             f"end to end: {ip['end_to_end_fps']} frames/s ({ip['end_to_end_over_slowest_stage']}x the slowest "
             f"stage's time)"]
    t = result.get("against_transcode")
    if t:
        lines.append(f"against a plain transcode ({t['transcode']}: {t['transcode_seconds']} s, median of "
                     f"{t['runs_each']}): x{t['ratio_with_startup']} with start-up ({t['demosaic_seconds_with_startup']} s, "
                     f"a fresh process), x{t['ratio_without_startup']} without ({t['demosaic_seconds_in_process']} s)")
    for s in result.get("sizes", []):
        lines.append(f"at {s['size']}: {s['end_to_end_fps']} frames/s end to end ({s['frames']} frames)")
    for r in result.get("ray", []):
        lines.append(f"ray, {r['workers']} CPU worker(s): {r['end_to_end_fps']} frames/s, {r['wall_seconds']} s wall "
                     f"(in-process {ip['wall_seconds']} s; x{r['speedup_vs_in_process']}), "
                     f"{r['extra_ms_per_frame_vs_in_process']} ms/frame extra, startup {r['startup_seconds']} s")
    if "fusion" in result:
        f = result["fusion"]
        lines.append(f"fusion ±{f['radius']} against single frames ({f['runs_each']} runs each, medians): CPU "
                     f"{f['cpu_ms_per_frame']['single']} → {f['cpu_ms_per_frame']['fused']} ms/frame "
                     f"(x{f['cpu_ratio']}), restore stage {f['restore_ms_per_frame']['single']} → "
                     f"{f['restore_ms_per_frame']['fused']} ms/frame (x{f['restore_ratio']}), "
                     f"{f['regions_fused']} regions fused")
    m = result["peak_memory"]
    lines.append(f"peak memory in-process: python {m['python_mb']} MB, largest ffmpeg child {m['largest_child_mb']} MB")
    return "\n".join(lines)


def write_json(result: dict, path: Path) -> None:
    """A benchmark's results as JSON, written atomically."""
    import json

    from demosaic.artifact import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(result, indent=1) + "\n").encode())
