"""Training: the loss falls, checkpoints resume exactly, Ctrl-C saves. Marked slow (still run by .ci/run)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from demosaic.config import TrainConfig, UNetConfig

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
TINY = UNetConfig(depth=3, base_channels=8, max_channels=16)


def config(photo_dir, out, **kw):
    base = dict(data=(str(photo_dir),), out=str(out), model=TINY, crop=32, batch=4, steps=40,
                val_every=20, val_samples=8, checkpoint_every=5, lr=2e-3)
    base.update(kw)
    return TrainConfig(**base)


def test_train__a_few_dozen_steps__lower_the_validation_loss(photo_dir, tmp_path):
    from demosaic.training import Trainer

    # The pure model: a guided one starts as its guide (a zero residual), already a strong baseline,
    # which a few dozen steps need not beat; from random weights the loss must fall.
    pure = UNetConfig(depth=3, base_channels=8, max_channels=16, guided=False)
    trainer = Trainer(config(photo_dir, tmp_path / "run", pixel_only_steps=20, model=pure), log=lambda m: None)
    before = trainer.validate()["val_loss"]
    result = trainer.run()
    assert result["step"] == 40
    assert result["history"][-1]["val_loss"] < before
    out = tmp_path / "run"
    assert (out / "validation.png").stat().st_size > 1000
    assert any((out / "tensorboard").iterdir())
    state = json.loads((out / "checkpoint" / "state.json").read_text())
    assert state["step"] == 40 and state["config"]["model"]["depth"] == 3


def test_train__killed_and_resumed__continues_from_the_checkpoint_step(photo_dir, tmp_path):
    """A SIGKILLed run resumes at its last checkpoint and ends with the weights of an uninterrupted run."""
    import tensorflow as tf

    from demosaic.training import Trainer

    straight = Trainer(config(photo_dir, tmp_path / "straight", steps=12, val_every=100), log=lambda m: None)
    straight.run()

    out = tmp_path / "killed"
    cmd = [sys.executable, str(ROOT / "cli.py"), "train", "--data", str(photo_dir), "--out", str(out),
           "--depth", "3", "--base-channels", "8", "--max-channels", "16", "--crop", "32", "--batch", "4",
           "--steps", "12", "--lr", "2e-3", "--val-every", "100", "--val-samples", "8", "--checkpoint-every", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    state = out / "checkpoint" / "state.json"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not (state.exists() and json.loads(state.read_text())["step"] >= 4):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    killed_at = json.loads(state.read_text())["step"]
    assert 4 <= killed_at < 12, "the run should have been killed mid-way"

    resumed = Trainer(config(photo_dir, out, steps=12, val_every=100), log=lambda m: None)
    messages = []
    resumed.log = messages.append
    resumed.run()
    assert messages and f"at step {killed_at}/12" in messages[0]
    assert resumed.step == 12
    for a, b in zip(straight.model.weights, resumed.model.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-3, atol=2e-4, err_msg=a.path)


def test_train__ctrl_c__saves_a_checkpoint_and_exits_130(photo_dir, tmp_path):
    out = tmp_path / "interrupted"
    cmd = [sys.executable, str(ROOT / "cli.py"), "train", "--data", str(photo_dir), "--out", str(out),
           "--depth", "3", "--base-channels", "8", "--max-channels", "16", "--crop", "32", "--batch", "4",
           "--steps", "100000", "--val-every", "100000", "--checkpoint-every", "3"]
    # A shell's background job starts with SIGINT ignored, and a child inherits that (Python
    # then never raises KeyboardInterrupt): give the trainer the default, as a terminal would.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        state = out / "checkpoint" / "state.json"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not state.exists():
            time.sleep(0.05)
        time.sleep(0.5)  # a step or two past the checkpoint
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:  # never leave a trainer running
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130
    lines = [l for l in err.strip().splitlines() if l.startswith("Error")]
    assert len(lines) == 1 and "checkpoint saved" in lines[0]
    assert "Traceback" not in err
    saved = json.loads(state.read_text())["step"]
    assert saved >= 3 and f"interrupted at step {saved};" in lines[0]


def test_train__finetune_phase__freezes_encoder_batchnorm(photo_dir, tmp_path):
    from demosaic.training import Trainer
    from demosaic.unet import encoder_batchnorms

    trainer = Trainer(config(photo_dir, tmp_path / "ft", steps=2, finetune_steps=2, val_every=100,
                             pixel_only_steps=100), log=lambda m: None)
    before = {l.name: np.asarray(l.moving_mean).copy() for l in encoder_batchnorms(trainer.model)}
    trainer.run()
    assert trainer.phase == 2
    assert float(trainer.optimizer.learning_rate) == pytest.approx(5e-5)
    assert all(not l.trainable for l in encoder_batchnorms(trainer.model))
    # Phase 1 moved the statistics; to check phase 2 froze them, run one more phase-2 step.
    frozen = {l.name: np.asarray(l.moving_mean).copy() for l in encoder_batchnorms(trainer.model)}
    import tensorflow as tf
    trainer.train_step(False)({k: tf.constant(v) for k, v in trainer.batch(99).items()})
    for l in encoder_batchnorms(trainer.model):
        np.testing.assert_array_equal(np.asarray(l.moving_mean), frozen[l.name])
    assert any(not np.array_equal(frozen[n], before[n]) for n in before)


def test_train__init_from_a_model__then_through_the_consistency_step(photo_dir, tmp_path):
    from demosaic.errors import InputError
    from demosaic.training import Trainer

    first = Trainer(config(photo_dir, tmp_path / "a", steps=2, val_every=100), log=lambda m: None)
    first.run()
    card = first.export(tmp_path / "start")
    second = Trainer(config(photo_dir, tmp_path / "b", steps=3, val_every=3, consistency_loss=True,
                            init_from=str(card)), log=lambda m: None)
    for a, b in zip(first.model.weights, second.model.weights):  # float16 on disk
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-3, atol=2e-3)
    result = second.run()
    assert result["step"] == 3 and np.isfinite(result["history"][-1]["val_loss"])
    with pytest.raises(InputError, match="another config"):
        Trainer(config(photo_dir, tmp_path / "c", model=UNetConfig(depth=3, base_channels=4, max_channels=8),
                       init_from=str(card)), log=lambda m: None)


def test_make_sample__h264__the_observed_image_is_the_mosaic_through_libx264(rng):
    """--h264-prob: the same sample as without coding, its observed image through libx264 at
    the drawn CRF (an independent round trip here)."""
    from conftest import smooth_image
    from demosaic.config import MaskConfig
    from demosaic.data import make_sample
    from demosaic.video import h264_roundtrip

    gt = smooth_image(rng, 64, 96)
    plain = make_sample(np.random.default_rng(7), gt, MaskConfig(jpeg_prob=0.0), guided=True)
    coded = make_sample(np.random.default_rng(7), gt, MaskConfig(jpeg_prob=0.0, h264_prob=1.0, h264_crf=(28, 28)),
                        guided=True)
    np.testing.assert_array_equal(plain["valid"], coded["valid"])
    mosaic = np.rint(plain["image"] * 255).astype(np.uint8)
    np.testing.assert_array_equal(np.rint(coded["image"] * 255).astype(np.uint8), h264_roundtrip(mosaic, 28))
    assert np.abs(coded["image"] - plain["image"]).max() > 2 / 255  # the codec did change it
