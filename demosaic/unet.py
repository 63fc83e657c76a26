"""The networks: the paper's P-Conv U-Net (optionally mosaic-guided) and the design notes' 7-layer model.

Model contract (fixed; `demosaic.restore` and training both rely on it):
  inputs   "image": (B, H, W, 3) float32 RGB in [0, 1], the observed frame; values under
                    the hole are ignored (the P-Conv encoder multiplies them by the mask).
           "valid": (B, H, W, 1) float32, 1 where a pixel is known, 0 where it is to be restored.
           "guide": (B, H, W, 3) float32 RGB in [0, 1], guided models only: the observed cell
                    colours interpolated bicubically over the mosaic (`mosaic.cell_colour_guide`),
                    equal to "image" outside it.
  output   (B, H, W, 3) float32 RGB, nominally [0, 1] (clip before use). Only the hole is used:
           composite = valid · image + (1 − valid) · output.
  H and W must be multiples of `config.size_multiple` (2**depth for the U-Net).

How the guide enters (the design decision): it joins every decoder layer, average-pooled to
that layer's resolution, as three extra channels whose mask is ones, and the network
predicts a residual over it: output = guide + U-Net(...). With `guide_encoder` (the default
since v1) it also enters the first encoder layer, beside the image (masked by `valid`) and
the valid map (both guide and valid map with masks of ones). v0 kept the encoder a pure
P-Conv encoder so holes shrank exactly as in the paper, but then the network never saw the
mosaic's structure at full resolution: it learnt almost nothing beyond the guide (measured:
validation hole PSNR within 0.02 dB of the guide's after 2,900 steps). A valid-everywhere
guide makes the mask full after the first layer, so the shrinking-hole mechanism is the
pure-inpainting mode's, as in the paper. With guided=False the model is the paper's, unchanged.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from .config import UNetConfig
from .pconv import PConv2D


# PyTorch's BatchNorm default (momentum 0.1 there), as in the paper's reference code; Keras's
# 0.99 leaves inference statistics far from the batch ones for thousands of steps.
BN_MOMENTUM = 0.9


def _full_mask(mask, channels: int):
    """Repeat a one-channel mask to one channel per feature, so concatenations weigh each channel."""
    return mask if channels == 1 else ops.repeat(mask, channels, axis=-1)


def _pconv_unet(cfg: UNetConfig, image, valid, guide):
    kernels = (7, 5, 5) + (3,) * (cfg.depth - 3)
    widths = cfg.encoder_channels()
    x, m = image, valid
    if guide is not None and cfg.guide_encoder:
        # The first layer sees the image where it is valid, and everywhere the guide and the
        # valid map itself (masks of ones): after it the mask is full, the hole is "filled" by
        # the guide, and the layers below still know where the mosaic was.
        x = layers.Concatenate(name="enc_in")([image, guide, valid])
        m = layers.Concatenate(name="enc_in_mask")([_full_mask(valid, 3), ops.ones_like(guide), ops.ones_like(valid)])
    skips = [(image, valid)]  # level 0 is the input itself: the last layer sees image and mask
    for i, (k, c) in enumerate(zip(kernels, widths)):
        x, m = PConv2D(c, k, strides=2, name=f"enc{i + 1}")([x, m])  # (B, H/2^(i+1), W/2^(i+1), c)
        if i > 0:  # the paper: no BatchNorm on the first encoder layer
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"enc{i + 1}_bn")(x)
        x = layers.ReLU(name=f"enc{i + 1}_relu")(x)
        skips.append((x, m))

    x, m = skips.pop()
    for level in reversed(range(cfg.depth)):  # decoder layer output resolution: H / 2**level
        skip_x, skip_m = skips[level]
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"dec{level + 1}_up")(x)
        m = layers.UpSampling2D(2, interpolation="nearest", name=f"dec{level + 1}_upmask")(m)
        feats = [x, skip_x]
        masks = [_full_mask(m, x.shape[-1]), _full_mask(skip_m, skip_x.shape[-1])]
        if guide is not None:
            g = guide if level == 0 else layers.AveragePooling2D(2 ** level, name=f"guide{level}")(guide)
            feats.append(g)
            masks.append(ops.ones_like(g))
        out_channels = 3 if level == 0 else widths[level - 1]
        # A guided model starts as the guide itself: its residual layer starts at zero.
        init = "zeros" if guide is not None and level == 0 else "he_normal"
        x, m = PConv2D(out_channels, 3, strides=1, kernel_initializer=init, name=f"dec{level + 1}")(
            [layers.Concatenate(name=f"dec{level + 1}_cat")(feats),
             layers.Concatenate(name=f"dec{level + 1}_catmask")(masks)])
        if level > 0:  # the last layer has neither BatchNorm nor activation
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"dec{level + 1}_bn")(x)
            x = layers.LeakyReLU(0.2, name=f"dec{level + 1}_lrelu")(x)
    return x if guide is None else layers.Add(name="residual")([guide, x])


def _pconv_ed7(image, valid):
    """The design notes' model: strides 2, 2, 2, 1, then three ×2 upsamplings; sigmoid output."""
    x, m = image, valid
    for i, (s, c) in enumerate(zip([2, 2, 2, 1, -2, -2, -2], [64, 128, 256, 256, 128, 128, 3])):
        if s < 0:
            x = layers.UpSampling2D(-s, name=f"ed{i + 1}_up")(x)
            m = layers.UpSampling2D(-s, name=f"ed{i + 1}_upmask")(m)
        x, m = PConv2D(c, 3, strides=max(s, 1), name=f"ed{i + 1}")([x, m])
        if c != 3:
            x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"ed{i + 1}_bn")(x)
            x = layers.ReLU(name=f"ed{i + 1}_relu")(x)
    return layers.Activation("sigmoid", name="ed_sigmoid")(x)


def build_model(cfg: UNetConfig, size: int | None = None) -> keras.Model:
    """The network for `cfg`; `size` fixes H = W (for FLOP counts), None accepts any multiple."""
    shape = (size, size)
    image = keras.Input(shape + (3,), name="image")
    valid = keras.Input(shape + (1,), name="valid")
    inputs = {"image": image, "valid": valid}
    if cfg.arch == "pconv_ed7":
        out = _pconv_ed7(image, valid)
    else:
        guide = keras.Input(shape + (3,), name="guide") if cfg.guided else None
        if guide is not None:
            inputs["guide"] = guide
        out = _pconv_unet(cfg, image, valid, guide)
    return keras.Model(inputs, out, name=cfg.arch + ("_guided" if cfg.guided else ""))


def encoder_batchnorms(model: keras.Model) -> list[layers.BatchNormalization]:
    """The encoder's BatchNorm layers, frozen for the paper's fine-tuning phase."""
    return [l for l in model.layers if isinstance(l, layers.BatchNormalization)
            and l.name.startswith(("enc", "ed1", "ed2", "ed3", "ed4"))]


def forward_flops(cfg: UNetConfig, size: int) -> int:
    """Multiply-adds × 2 of the convolutions for one size×size image (mask convolutions included)."""
    model = build_model(cfg, size)
    total = 0
    for layer in model.layers:
        if isinstance(layer, PConv2D):
            _, h, w, f = layer.output[0].shape
            k, cin = layer.kernel_size, layer.kernel.shape[2]
            total += 2 * k * k * cin * f * h * w + 2 * k * k * h * w  # features + 1-channel mask sum
    return int(total)
