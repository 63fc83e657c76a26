"""`demosaic train`: the paper's two-phase schedule with resumable checkpoints.

Phase 1: Adam at `lr`. Phase 2 (the paper's fine-tuning): the encoder's BatchNorm frozen
(inference statistics, no gradient), Adam at `finetune_lr`. Optionally the VGG terms join
only after `pixel_only_steps`, because on a CPU they cost several times the U-Net itself.

A checkpoint is a folder written whole and then swapped in: the model's weights, the
optimiser's variables, and state.json (step, phase, config, history, wall time). Batches
depend only on (seed, step) (see `data`), so a run killed at any point and resumed from
its last checkpoint continues exactly as if it had not stopped.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from .config import TrainConfig, from_dict, to_dict
from .data import VALIDATION_SEED, find_images, is_validation, load_images, make_batch, prefetch
from .errors import DemosaicError, InputError

STATE = "state.json"


class TrainingInterrupted(DemosaicError):
    exit_code = 130


def learning_rate(cfg: TrainConfig, step: int) -> float:
    return cfg.lr if step < cfg.steps else cfg.finetune_lr


def phase(cfg: TrainConfig, step: int) -> int:
    return 1 if step < cfg.steps else 2


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """PSNR in dB of [0, 1] images over the pixels where `where` (B,H,W,1) is 1."""
    err = ((a - b) ** 2 * where).sum() / max(where.sum() * a.shape[-1], 1)
    return float(10 * np.log10(1.0 / max(err, 1e-12)))


class Trainer:
    """Owns the model, optimiser and compiled steps of one run; `run()` trains to the end."""

    def __init__(self, cfg: TrainConfig, log: Callable[[str], None] = print):
        import keras

        from .unet import build_model

        self.cfg, self.log = cfg, log
        self.out = Path(cfg.out)
        files = find_images(cfg.data)
        train_files = [f for f in files if not is_validation(f)]
        val_files = [f for f in files if is_validation(f)] or train_files[-1:]
        self.train_images = load_images(train_files, cfg.crop)
        self.val_images = load_images(val_files, cfg.crop)
        if not self.train_images or not self.val_images:
            raise InputError(f"need images of at least {cfg.crop}² px for training and validation in {cfg.data}")
        keras.utils.set_random_seed(cfg.seed)  # initial weights only; data has its own seeded stream
        self.model = build_model(cfg.model)
        if cfg.init_from:  # a checkpoint, when there is one, replaces these in run()
            from .artifact import load_model

            start, card = load_model(cfg.init_from)
            if card["config"] != to_dict(cfg.model):
                raise InputError(f"{cfg.init_from}: a model of another config than this run's")
            self.model.set_weights(start.get_weights())
        self._features = None
        self._steps: dict = {}
        self.optimizer = None
        self.step, self.history, self.wall = 0, [], 0.0
        self._build_optimizer(phase(cfg, 0))

    # --- pieces -------------------------------------------------------------------------
    def features(self):
        if self._features is None:
            from .vgg import load_vgg16_features
            self._features = load_vgg16_features(weights=self.cfg.vgg_weights or None)
        return self._features

    def _build_optimizer(self, ph: int):
        import keras

        from .unet import encoder_batchnorms

        for bn in encoder_batchnorms(self.model):
            bn.trainable = ph == 1
        self.phase = ph
        lr = self.cfg.lr if ph == 1 else self.cfg.finetune_lr
        self.optimizer = keras.optimizers.Adam(learning_rate=lr)
        self.optimizer.build(self.model.trainable_variables)
        self._steps = {}

    def train_step(self, use_vgg: bool):
        """The compiled training step (batch dict -> its loss terms, weights updated), with the
        VGG terms or the pixel terms only; built once per kind."""
        import tensorflow as tf

        from .losses import loss_terms, total_loss

        if use_vgg in self._steps:
            return self._steps[use_vgg]
        model, opt, weights = self.model, self.optimizer, self.cfg.loss
        features = self.features() if use_vgg else None
        inputs = [k for k in ("image", "valid", "guide") if k in model.input]

        from .losses import consistent

        through_consistency = self.cfg.consistency_loss and "guide" in inputs

        # autograph=False: the step's branches are Python's (on the config and the terms'
        # names), settled as it traces; autograph would leave its generated source in the
        # temporary directory on every run.
        @tf.function(reduce_retracing=True, autograph=False)
        def step(batch):
            with tf.GradientTape() as tape:
                out = model({k: batch[k] for k in inputs}, training=True)
                if through_consistency:
                    out = consistent(out, batch["image"], batch["cells"])
                terms = loss_terms(batch["gt"], out, batch["valid"], features)
                total = total_loss(terms, weights)
            grads = tape.gradient(total, model.trainable_variables)
            opt.apply_gradients(zip(grads, model.trainable_variables))
            return {"loss": total, **terms}

        self._steps[use_vgg] = step
        return step

    def batch(self, step: int) -> dict:
        """Training step `step`'s batch (NumPy arrays by input name), the same for every run of this config."""
        c = self.cfg
        return make_batch(self.train_images, c.seed, step, c.batch, c.crop, c.masks, c.model.guided)

    def validate(self) -> dict:
        """The full six-term loss (always with VGG, paper weights) and hole PSNR on the fixed set;
        for guided models also the guide's own hole PSNR, the baseline the network must beat."""
        from .losses import loss_terms, total_loss

        c = self.cfg
        totals, psnrs, guide_psnrs, n = 0.0, [], [], 0
        inputs = [k for k in ("image", "valid", "guide") if k in self.model.input]
        per_batch = min(8, c.val_samples)
        for i in range(math.ceil(c.val_samples / per_batch)):
            b = make_batch(self.val_images, VALIDATION_SEED, i, per_batch, c.crop, c.masks, c.model.guided)
            out = self.model({k: b[k] for k in inputs}, training=False)
            if c.consistency_loss and "guide" in inputs:  # validate what inference would output
                from .losses import consistent

                out = consistent(out, b["image"], b["cells"])
            out = np.asarray(out)
            terms = loss_terms(b["gt"], out, b["valid"], self.features())
            totals += float(total_loss(terms, c.loss)) * len(out)
            comp = np.clip(b["valid"] * b["image"] + (1 - b["valid"]) * out, 0, 1)
            psnrs.append(psnr(comp, b["gt"], 1 - b["valid"]))
            if "guide" in b:
                guide_psnrs.append(psnr(b["guide"], b["gt"], 1 - b["valid"]))
            n += len(out)
        result = {"val_loss": totals / n, "val_hole_psnr": float(np.mean(psnrs))}
        if guide_psnrs:
            result["val_guide_psnr"] = float(np.mean(guide_psnrs))
        return result

    # --- checkpoints --------------------------------------------------------------------
    def save_checkpoint(self):
        final, tmp = self.out / "checkpoint", self.out / "checkpoint.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save_weights(tmp / "model.weights.h5")
        np.savez(tmp / "optimizer.npz", *[np.asarray(v.numpy()) for v in self.optimizer.variables])
        state = {"step": self.step, "phase": self.phase, "wall_seconds": self.wall,
                 "config": to_dict(self.cfg), "history": self.history}
        (tmp / STATE).write_text(json.dumps(state, indent=1))
        replace_folder(tmp, final)

    def restore_checkpoint(self) -> bool:
        folder = find_checkpoint(self.out)
        if folder is None:
            return False
        state = json.loads((folder / STATE).read_text())
        saved = from_dict(TrainConfig, state["config"])
        if to_dict(saved)["model"] != to_dict(self.cfg)["model"]:
            raise InputError(f"{self.out}: its checkpoint is for another model config; use a new --out")
        self.model.load_weights(folder / "model.weights.h5")
        self._build_optimizer(state["phase"])
        load_optimizer(self.optimizer, folder / "optimizer.npz")
        self.step, self.wall, self.history = state["step"], state["wall_seconds"], state["history"]
        return True

    # --- the loop -----------------------------------------------------------------------
    def run(self) -> dict:
        import keras
        import tensorflow as tf

        c = self.cfg
        if self.restore_checkpoint():
            self.log(f"resuming {self.out} at step {self.step}/{c.total_steps}")
        writer = tf.summary.create_file_writer(str(self.out / "tensorboard"))
        # A progress bar on a terminal; otherwise one line per validation (below).
        bar = keras.utils.Progbar(c.total_steps, verbose=1 if sys.stderr.isatty() else 0,
                                  stateful_metrics=["loss", "val_loss"], unit_name="step")
        started = time.monotonic() - self.wall
        try:
            with checkpoint_on_interrupt(self):
                for step, batch in prefetch(self.batch, range(self.step, c.total_steps)):
                    if phase(c, step) != self.phase:
                        self._build_optimizer(phase(c, step))
                    logs = self.train_step(step >= c.pixel_only_steps)(batch)
                    self.step = step + 1
                    self.wall = time.monotonic() - started
                    logs = {k: float(v) for k, v in logs.items()}
                    with writer.as_default(step=self.step):
                        for k, v in logs.items():
                            tf.summary.scalar(f"train/{k}", v)
                    if self.step % c.val_every == 0 or self.step == c.total_steps:
                        val = self.validate()
                        self.history.append({"step": self.step, "wall_seconds": round(self.wall, 1),
                                             "train_loss": logs["loss"], **val})
                        with writer.as_default(step=self.step):
                            for k, v in val.items():
                                tf.summary.scalar(f"val/{k.removeprefix('val_')}", v)
                        logs.update(val)
                        if not sys.stderr.isatty():
                            self.log(f"step {self.step}/{c.total_steps}: train loss {logs['loss']:.4f}, "
                                     f"val loss {val['val_loss']:.4f}, hole PSNR {val['val_hole_psnr']:.2f} dB"
                                     + (f" (guide {val['val_guide_psnr']:.2f})" if "val_guide_psnr" in val else "") + ", "
                                     f"{self.wall:.0f} s")
                        self.save_checkpoint()
                        write_curve(self.history, self.out / "validation.png")
                    elif self.step % c.checkpoint_every == 0:
                        self.save_checkpoint()
                    bar.update(self.step, [(k, v) for k, v in logs.items() if k in ("loss", "hole", "val_loss")])
        finally:
            writer.close()
        return {"step": self.step, "wall_seconds": self.wall, "history": self.history}

    def export(self, path: Path, extra: dict | None = None) -> Path:
        from .artifact import save_model

        card = {"training": {"config": to_dict(self.cfg), "steps": self.step,
                             "wall_seconds": round(self.wall, 1), "history": self.history,
                             "final_validation": self.history[-1] if self.history else None,
                             **(extra or {})}}
        return save_model(self.model, self.cfg.model, path, card)


def find_checkpoint(out: Path) -> Path | None:
    """The run's checkpoint folder (or the previous one, if a swap was cut short), or None."""
    for folder in (out / "checkpoint", out / "checkpoint.old"):
        if (folder / STATE).exists():
            return folder
    return None


def load_optimizer(optimizer, path: Path) -> None:
    with np.load(path, allow_pickle=False) as arrays:
        for v, key in zip(optimizer.variables, arrays.files):
            v.assign(arrays[key])


def replace_folder(tmp: Path, final: Path) -> None:
    """Swap a finished folder in for `final`; a crash at any point leaves `final` or
    `final`.old whole (restore_checkpoint looks at both)."""
    old = final.with_name(final.name + ".old")
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def checkpoint_on_interrupt(trainer):
    """Ctrl-C or SIGTERM inside: the trainer's checkpoint is saved and TrainingInterrupted
    (exit 130) says how to resume."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    except KeyboardInterrupt:
        trainer.save_checkpoint()
        raise TrainingInterrupted(f"interrupted at step {trainer.step}; checkpoint saved in {trainer.out}; "
                                  "run the same command to resume")
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def write_curve(history: list[dict], path: Path) -> None:
    """Validation loss and hole PSNR against step, as a PNG."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(steps, [h["val_loss"] for h in history], "o-", color="tab:blue")
    ax.set_xlabel("step")
    ax.set_ylabel("validation loss (six terms)", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(steps, [h["val_hole_psnr"] for h in history], "s--", color="tab:red", label="model")
    if all("val_guide_psnr" in h for h in history):
        ax2.plot(steps, [h["val_guide_psnr"] for h in history], ":", color="tab:gray", label="guide alone")
        ax2.legend(loc="lower right")
    ax2.set_ylabel("hole PSNR (dB)", color="tab:red")
    fig.tight_layout()
    tmp = path.with_name(path.name + ".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def train(cfg: TrainConfig, export_to: str | None = None, log=print, card_extra: dict | None = None) -> dict:
    trainer = Trainer(cfg, log)
    result = trainer.run()
    card = trainer.export(Path(export_to) if export_to else Path(cfg.out) / "model", card_extra)
    result["model_card"] = str(card)
    return result
