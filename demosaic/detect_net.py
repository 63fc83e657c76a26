"""A small learned mosaic segmenter: frame -> per-pixel mosaic probability.

Why a network beside the classical detector (`demosaic.detect`): after H.264 at CRF 23–28
cell borders are smeared, ringing and coding blocks break flatness, and the hand-made
lattice evidence misses whole regions or stops a cell short of the true border. A network
trained on the synthesiser's mosaics, coded at random CRFs, learns what survives coding.
The classical detector stays as the source of each region's grid and as the exact path for
uncompressed frames (see `Detector`).

Shape (cheap enough for one CPU core): the frame's pixels and luma steps are packed 4×4 into
channels (space-to-depth), so every layer runs at 1/4 resolution or below, yet the last
layer still predicts all 16 pixels of each 4×4 block (depth-to-space), so borders are
pixel-accurate. Context for 64 px cells comes from dilated convolutions at 1/8 resolution.

With `borders` the network also says, per pixel, whether it is the first or last column
(row) of a mosaic cell: after coding smears the steps between cells, those maps still line
up on the lattice, and the detector fits each region's pitch and phase to them.
"""
from __future__ import annotations

import numpy as np

from .config import DetectNetConfig

BLOCK = 4  # space-to-depth factor of the input
MULTIPLE = 2 * BLOCK  # frame sides are padded to this (one stride-2 layer below the blocks)


def _space_to_depth(x, block: int):
    from keras import ops
    b, h, w, c = ops.shape(x)
    x = ops.reshape(x, (b, h // block, block, w // block, block, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, h // block, w // block, block * block * c))


def _depth_to_space(x, block: int):
    from keras import ops
    b, h, w, c = ops.shape(x)
    x = ops.reshape(x, (b, h, w, block, block, c // (block * block)))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, h * block, w * block, c // (block * block)))


def _features(frames):
    """(B, H, W, 3) float RGB in [0, 255] -> (B, H, W, 7): RGB, and for the luma's right and
    down steps their size and whether they are exactly zero (uncompressed cells are exact)."""
    from keras import ops
    luma = frames[..., 0:1] * 0.299 + frames[..., 1:2] * 0.587 + frames[..., 2:3] * 0.114
    dx = ops.abs(luma[:, :, 1:] - luma[:, :, :-1])
    dx = ops.concatenate([dx, ops.zeros_like(dx[:, :, :1])], axis=2)
    dy = ops.abs(luma[:, 1:] - luma[:, :-1])
    dy = ops.concatenate([dy, ops.zeros_like(dy[:, :1])], axis=1)
    parts = [frames / 255.0 - 0.5]
    for d in (dx, dy):
        parts += [ops.minimum(d / 16.0, 2.0), ops.cast(d < 0.5, frames.dtype)]
    return ops.concatenate(parts, axis=-1)


def build(cfg: DetectNetConfig = DetectNetConfig()):
    """The segmenter: input (B, H, W, 3) float32 RGB in [0, 255], H and W multiples of 8;
    output (B, H, W, 1) logits (mosaic where > 0), or with `cfg.borders` (B, H, W, 3): mosaic,
    first/last column of a cell, first/last row of a cell."""
    import keras
    from keras import layers

    frames = keras.Input((None, None, 3), name="frames")
    x = layers.Lambda(lambda f: _space_to_depth(_features(f), BLOCK), name="blocks")(frames)  # (B, H/4, W/4, 112)
    x = layers.Conv2D(cfg.width, 1, activation="relu", name="reduce")(x)
    fine = layers.Conv2D(cfg.width, 3, padding="same", activation="relu", name="fine")(x)  # (B, H/4, W/4, w)
    c = layers.Conv2D(cfg.context_width, 3, strides=2, padding="same", activation="relu", name="down")(fine)
    for d in cfg.dilations:  # (B, H/8, W/8, cw), residual so depth does not hurt training
        c = layers.Add(name=f"ctx{d}_add")(
            [c, layers.Conv2D(cfg.context_width, 3, padding="same", dilation_rate=d, activation="relu", name=f"ctx{d}")(c)])
    up = layers.UpSampling2D(2, name="up")(c)
    merged = layers.Concatenate(name="merge")([fine, up])
    x = layers.Conv2D(cfg.width, 1, activation="relu", name="head")(merged)
    x = layers.Conv2D(BLOCK * BLOCK, 1, name="logits_blocks")(x)  # (B, H/4, W/4, 16)
    logits = layers.Lambda(lambda t: _depth_to_space(t, BLOCK), name="logits")(x)  # (B, H, W, 1)
    if cfg.borders:  # a head of their own: the borders do not take the mask's last layer
        e = layers.Conv2D(cfg.width, 1, activation="relu", name="edge_head")(merged)
        e = layers.Conv2D(BLOCK * BLOCK * 2, 1, name="edge_blocks")(e)  # (B, H/4, W/4, 32)
        e = layers.Lambda(lambda t: _depth_to_space(t, BLOCK), name="edges")(e)  # (B, H, W, 2)
        logits = layers.Concatenate(name="outputs")([logits, e])
    return keras.Model(frames, logits, name="detect_net")


def pad_to_multiple(frame: np.ndarray) -> np.ndarray:
    """Edge-pad H and W up to multiples of MULTIPLE."""
    h, w = frame.shape[:2]
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    return np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else frame


class Segmenter:
    """The trained network, loaded once: frame (uint8 H×W×3 RGB) -> float32 H×W×C logits
    (C = 1, or 3 with border maps; see `build`).

    Weights are a plain `.npz` of arrays checked against the SHA-256 in the model card
    (`demosaic.artifact`), never unpickled."""

    def __init__(self, model, card: dict):
        import tensorflow as tf
        self.model, self.card = model, card
        self._run = tf.function(lambda x: model(x, training=False), reduce_retracing=True)

    @classmethod
    def load(cls, path) -> "Segmenter":
        from .artifact import load_detector
        model, card = load_detector(path)
        return cls(model, card)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        x = pad_to_multiple(frame).astype(np.float32)[None]
        return np.asarray(self._run(x))[0, :h, :w]
