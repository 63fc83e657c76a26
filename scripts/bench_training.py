"""Training throughput on this machine: images/s per crop size, pixel-only and with the VGG terms.

    python scripts/bench_training.py --sizes 128 256 --batch 8 --repeats 5

Reports the median step time over `repeats` timed steps (after two warm-up steps) and,
per architecture, parameters and forward GFLOPs at 256².
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np

from demosaic.config import MaskConfig, TrainConfig, UNetConfig
from demosaic.data import default_training_sources, find_images, load_images, make_batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument("--base-channels", type=int, default=32)
    ap.add_argument("--max-channels", type=int, default=256)
    args = ap.parse_args()

    import tensorflow as tf
    from demosaic.training import Trainer
    from demosaic.unet import build_model, forward_flops

    model_cfg = UNetConfig(depth=args.depth, base_channels=args.base_channels, max_channels=args.max_channels)
    rows = []
    for size in args.sizes:
        cfg = TrainConfig(data=tuple(default_training_sources()), out="/tmp/bench_training", model=model_cfg,
                          crop=size, batch=args.batch)
        trainer = Trainer(cfg, log=lambda m: None)
        batch = {k: tf.constant(v) for k, v in trainer.batch(0).items()}
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            trainer.batch(1)
        data_s = (time.perf_counter() - t0) / args.repeats
        for use_vgg in (False, True):
            step = trainer.train_step(use_vgg)
            for _ in range(2):
                step(batch)["loss"].numpy()
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                step(batch)["loss"].numpy()
                times.append(time.perf_counter() - t0)
            med = statistics.median(times)
            rows.append({"size": size, "batch": args.batch, "loss": "six terms" if use_vgg else "pixel terms",
                         "step_s": round(med, 3), "images_per_s": round(args.batch / med, 2),
                         "batch_synthesis_s": round(data_s, 3)})
            print(json.dumps(rows[-1]), flush=True)
    for cfg in (UNetConfig(), UNetConfig(guided=False), model_cfg, UNetConfig(arch="pconv_ed7", guided=False)):
        m = build_model(cfg)
        print(json.dumps({"arch": cfg.arch, "depth": cfg.depth, "base": cfg.base_channels, "max": cfg.max_channels,
                          "guided": cfg.guided, "params": m.count_params(),
                          "gflops_256": round(forward_flops(cfg, 256) / 1e9, 2)}))


if __name__ == "__main__":
    main()
