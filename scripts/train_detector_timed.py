"""Train several segmenter shapes side by side for a fixed wall-clock budget (a GPU recipe).

`demosaic train-detector` is the reproducible path: seeded batches, a step count, resumable.
This script is for a borrowed accelerator with minutes, not hours: it makes the samples
with every core until a deadline, then trains one process per `--net` shape at once (a
small segmenter leaves a GPU nearly idle), each with a cosine learning rate over the time
left rather than over a step count, and exports each as a detector card + weights (the same
format `demosaic.artifact.load_detector` reads) every minute and at the end.

Any Keras 3 backend works; on a machine without TensorFlow use JAX:

    KERAS_BACKEND=jax python scripts/train_detector_timed.py --data PHOTOS --out runs/timed \\
        --export-to models-new --seconds 480 --net 24,32 --net 32,48

`--net W,CW` is DetectNetConfig(width=W, context_width=CW, borders=True).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from demosaic.config import DetectNetConfig, DetectTrainConfig, to_dict  # noqa: E402
from demosaic.data import find_images, is_validation, load_images  # noqa: E402
from demosaic.detect_training import CHUNK, chunk_paths, make_chunk, augment  # noqa: E402

from pipelines.stages import Flow  # noqa: E402


def make_samples(args, deadline: float) -> int:
    """Chunks of training samples until `deadline` (those finished count), then the
    validation chunk; returns how many training chunks there are."""
    files = find_images(args.data)
    train = load_images([f for f in files if not is_validation(f)], args.crop)
    val = load_images([f for f in files if is_validation(f)] or files[-1:], args.crop)  # as DetectTrainer
    if not train or not val:
        raise SystemExit(f"need images of at least {args.crop}² px for training and validation in {args.data}")
    out = Path(args.out) / "samples"
    out.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        val_job = pool.submit(make_chunk, out, "val", 0, val, args.val_samples, args.seed, args.crop)
        jobs = [pool.submit(make_chunk, out, "train", k, train, CHUNK, args.seed, args.crop, args.focus,
                              args.graphics)
                for k in range(args.samples // CHUNK)]
        wait(jobs, timeout=max(deadline - time.time(), 1))
        for job in jobs:
            job.cancel()
        val_job.result()
    done = 0
    while all(p.exists() for p in chunk_paths(out, "train", done)):
        done += 1
    return done


def load(out: Path, name: str, chunks: int):
    """All chunks in memory, copied once (mapped, then concatenated)."""
    return tuple(np.concatenate([np.load(chunk_paths(out, name, k)[i], mmap_mode="r") for k in range(chunks)])
                 for i in (0, 1))


def batches(frames, labels, batch: int, seed: int, flow: Flow, depth: int = 6):
    """Augmented batches (`augment`) made by two threads, until `flow.stop`."""
    q: queue.Queue = queue.Queue(depth)

    def fill(rng):
        while not flow.stop.is_set():
            idx = np.sort(rng.integers(0, len(frames), batch))
            flow.put(q, augment(rng, frames[idx], labels[idx][..., None]))

    for i in range(2):
        threading.Thread(target=fill, args=(np.random.default_rng([seed, i]),), daemon=True).start()
    while True:
        yield q.get()


def train_one(args) -> None:
    """One shape, in its own process: trains until args.deadline, exporting as it goes."""
    import keras

    from demosaic.artifact import save_detector
    from demosaic.detect_net import build
    from demosaic.detect_training import masked_bce, scores

    width, context = map(int, args.net[-1].split(","))
    net = DetectNetConfig(width=width, context_width=context, borders=True)
    name = f"{args.name_prefix}-w{width}c{context}"
    out = Path(args.out)
    frames, labels = load(out / "samples", "train", args.chunks)
    val_frames, val_labels = load(out / "samples", "val", 1)
    val_frames = val_frames.astype(np.float32)
    keras.utils.set_random_seed(args.seed)
    model = build(net)
    if args.init:  # go on from an exported detector of this shape
        from demosaic.artifact import DETECTOR_FORMAT, assign_weights, read_card
        from demosaic.config import from_dict
        card = read_card(args.init, DETECTOR_FORMAT)
        if from_dict(DetectNetConfig, card["config"]) != net:
            raise SystemExit(f"{args.init}: another shape than {net}")
        assign_weights(model, args.init, card)
    optimizer = keras.optimizers.Adam(args.lr)
    model.compile(optimizer=optimizer, loss=lambda y, z: masked_bce(y, z, args.border_weight))
    flow = Flow()
    feed = batches(frames, labels, args.batch, args.seed, flow)
    started = time.time()
    budget = args.deadline - started
    step, losses, history, last_export = 0, [], [], started
    log = open(out / f"{name}.log", "a")

    def say(text):
        print(f"[{name}] {text}", flush=True)
        log.write(text + "\n")
        log.flush()

    def export(final: bool):
        val = {f"val_{k}": v for k, v in scores(val_labels, model.predict(val_frames, batch_size=32, verbose=0)).items()}
        history.append({"step": step, "wall_seconds": round(time.time() - started, 1),
                        "train_loss": float(np.mean(losses)) if losses else None, **val})
        losses.clear()
        say(json.dumps(history[-1]))
        card = {"training": {
            "recipe": "scripts/train_detector_timed.py (cosine learning rate over wall-clock time)",
            "command": " ".join(sys.argv), "backend": keras.backend.backend(), "net": to_dict(net),
            "samples": args.chunks * CHUNK, "batch": args.batch, "lr": args.lr, "border_weight": args.border_weight,
            "seed": args.seed, "focus": args.focus, "graphics": args.graphics,
            "steps": step, "wall_seconds": round(time.time() - started, 1), "final": final,
            "history": history}}
        save_detector(model, net, Path(args.export_to) / name, card)

    # One round at least, however late this process started (a slow machine's imports can eat
    # a short budget): an export is always of a trained model.
    while step == 0 or time.time() < args.deadline:
        t = (time.time() - started) / budget if budget > 0 else 1.0
        optimizer.learning_rate = args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))
        for _ in range(50):
            losses.append(float(model.train_on_batch(*next(feed))))
            step += 1
        if time.time() - last_export > args.export_every and time.time() < args.deadline:
            export(False)
            last_export = time.time()
    flow.stop.set()
    export(True)
    log.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--out", default="runs/timed")
    p.add_argument("--export-to", default="runs/timed/models")
    p.add_argument("--name-prefix", default="demosaic-detect-timed")
    p.add_argument("--net", action="append", help="W,CW (repeat for several shapes side by side)")
    p.add_argument("--seconds", type=float, default=480, help="the whole budget: samples, training, export")
    p.add_argument("--sample-seconds", type=float, default=150, help="at most this long making samples")
    p.add_argument("--samples", type=int, default=32000)
    p.add_argument("--val-samples", type=int, default=DetectTrainConfig.val_samples)
    p.add_argument("--crop", type=int, default=DetectTrainConfig.crop)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=DetectTrainConfig.lr)
    p.add_argument("--border-weight", type=float, default=DetectTrainConfig.border_weight)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--focus", type=float, default=0.0,
                   help="share of training samples made where the detector is weakest "
                        "(demosaic.detect_training.make_samples; validation keeps the plain recipe)")
    p.add_argument("--graphics", type=float, default=0.0,
                   help="share of the recipe's training samples (those --focus leaves) drawn as flat graphics, "
                        "half clean, half under mosaics (demosaic.detect_training.flat_graphic; validation keeps "
                        "the plain recipe)")
    p.add_argument("--init", help="a detector card of the (single) --net shape to start from")
    p.add_argument("--export-every", type=float, default=60)
    p.add_argument("--chunks", type=int, help=argparse.SUPPRESS)  # set for the per-shape processes
    p.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.deadline is not None:
        return train_one(args)
    start = time.time()
    Path(args.export_to).mkdir(parents=True, exist_ok=True)
    chunks = make_samples(args, start + args.sample_seconds)
    print(f"{chunks * CHUNK} training samples in {time.time() - start:.0f} s", flush=True)
    deadline = start + args.seconds - min(30.0, args.seconds / 4)  # then the final validation and export
    procs = [subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--chunks", str(chunks),
                               "--deadline", str(deadline), "--net", net])
             for net in args.net or ["24,32"]]
    # each child is given every --net and then its own, last: it trains the last
    codes = [p.wait() for p in procs]
    print(f"shapes {args.net}: exit codes {codes}", flush=True)
    sys.exit(1 if any(codes) else 0)


if __name__ == "__main__":
    main()
