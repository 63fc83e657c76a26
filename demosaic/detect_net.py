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

from .config import DetectNetConfig, from_dict

BLOCK = 4  # space-to-depth factor of the input
MULTIPLE = 2 * BLOCK  # frame sides are padded to this (one stride-2 layer below the blocks)


def space_to_depth(x, block: int):
    """(B, H, W, C) → (B, H/block, W/block, C·block²): each block's pixels as channels."""
    from keras import ops
    b, h, w, c = ops.shape(x)
    x = ops.reshape(x, (b, h // block, block, w // block, block, c))
    x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
    return ops.reshape(x, (b, h // block, w // block, block * block * c))


def depth_to_space(x, block: int):
    """The inverse of `space_to_depth`."""
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
    x = layers.Lambda(lambda f: space_to_depth(_features(f), BLOCK), name="blocks")(frames)  # (B, H/4, W/4, 112)
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
    logits = layers.Lambda(lambda t: depth_to_space(t, BLOCK), name="logits")(x)  # (B, H, W, 1)
    if cfg.borders:  # a head of their own: the borders do not take the mask's last layer
        e = layers.Conv2D(cfg.width, 1, activation="relu", name="edge_head")(merged)
        e = layers.Conv2D(BLOCK * BLOCK * 2, 1, name="edge_blocks")(e)  # (B, H/4, W/4, 32)
        e = layers.Lambda(lambda t: depth_to_space(t, BLOCK), name="edges")(e)  # (B, H, W, 2)
        logits = layers.Concatenate(name="outputs")([logits, e])
    return keras.Model(frames, logits, name="detect_net")


def pad_to_multiple(frame: np.ndarray) -> np.ndarray:
    """Edge-pad H and W up to multiples of MULTIPLE."""
    h, w = frame.shape[:2]
    ph, pw = -h % MULTIPLE, -w % MULTIPLE
    return np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode="edge") if ph or pw else frame


def reach(cfg: DetectNetConfig) -> int:
    """px: how far from a pixel the network looks for its logits. In 4 px blocks: one each
    for the fine layer, the stride-2 layer and the 2×2 spread back, two per unit of each
    dilation at 1/8 resolution; and the block's own width. A crop grown by this much
    around a box gives the box the logits the whole frame gives it: exactly in float32, to
    bfloat16's rounding in bfloat16 (a test checks both)."""
    return BLOCK * (3 + 2 * sum(cfg.dilations)) + BLOCK


BFLOAT16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})  # /proc/cpuinfo: bfloat16 arithmetic in hardware


def bfloat16_is_fast(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (Intel AMX, or AVX-512 BF16 as on
    AMD Zen 4 and Intel Cooper Lake and later): the segmenter's convolutions then run 1.7–2×
    (AVX-512 BF16) to 2.5× (AMX) as fast as in float32 (measured: BENCHMARKS.md)."""
    try:
        with open(cpuinfo) as f:
            flags = {word for line in f if line.startswith("flags") for word in line.split(":", 1)[-1].split()}
    except OSError:
        return False
    return bool(flags & BFLOAT16_FLAGS)


def _inference(model, cfg: DetectNetConfig, compute):
    """The trained network as one TensorFlow graph for single-frame inference: the same
    function as `build`'s model, rearranged to move less memory on a CPU.

    - The block packing and the first 1×1 layer become stride-4 4×4 convolutions of the
      frame and of its luma steps (no 7-channel frame-size tensor, no transpose); the
      input's scaling to [-0.5, 0.5] folds into the RGB kernel and the bias.
    - The heads' 1×1 convolutions over [fine, upsampled context] split into one over the
      fine features plus the context's share, computed at 1/8 resolution and spread by a
      2×2 stride-2 transposed convolution (no upsampled copy, no concatenation); the mask
      and border heads run as one layer, their outputs interleaved so that one
      depth-to-space gives (B, H, W, C).
    - Biases and ReLUs are written so that oneDNN fuses them into the convolutions.

    `compute`: tf.float32 (matches the Keras model to ~1e-5), or tf.bfloat16 for every layer
    after the first (the steps' thresholds and the first layer stay float32; logits move
    by ~0.1, ~0.1 % of pixels change side)."""
    import tensorflow as tf

    def weights(name):
        return [np.asarray(w, np.float32) for w in model.get_layer(name).get_weights()]

    def const(a, dtype=compute):
        return tf.constant(a, dtype)

    f32 = tf.float32
    kernel, bias = weights("reduce")
    kernel = kernel.reshape(BLOCK, BLOCK, 7, -1)  # packed channel = (row·4 + column)·7 + feature
    rgb_k = const(kernel[:, :, :3] / 255.0, f32)
    size_k, zero_k = const(kernel[:, :, [3, 5]], f32), const(kernel[:, :, [4, 6]], f32)
    reduce_b = const(bias - 0.5 * kernel[:, :, :3].sum((0, 1, 2)), f32)
    steps_k = np.zeros((2, 2, 1, 2), np.float32)  # luma right step, down step (exact: weights ±1)
    steps_k[0, 0, 0] = -1
    steps_k[0, 1, 0, 0] = steps_k[1, 0, 0, 1] = 1
    steps_k = const(steps_k, f32)
    fine_k, fine_b = map(const, weights("fine"))
    down_k, down_b = map(const, weights("down"))
    context = [(d, *map(const, weights(f"ctx{d}"))) for d in cfg.dilations]

    heads = [("head", "logits_blocks", 1)] + ([("edge_head", "edge_blocks", 2)] if cfg.borders else [])
    channels = sum(c for *_, c in heads)
    width = cfg.width
    head_k, head_b, out_k, out_b = [], [], [], []
    for head, blocks, _ in heads:
        k, b = weights(head)
        head_k.append(k[0, 0])
        head_b.append(b)
        k, b = weights(blocks)
        out_k.append(k[0, 0])
        out_b.append(b)
    head_k, head_b = np.concatenate(head_k, 1), np.concatenate(head_b)  # (width + context, heads · width)
    fine_head_k = const(head_k[None, None, :width])
    context_head_k = const(np.broadcast_to(head_k[width:].T, (2, 2, *head_k[width:].T.shape)).copy())  # (2, 2, out, in)
    head_b = const(head_b)
    # One block-diagonal output layer; column for (block position p, channel c): p·C + c.
    out = np.zeros((len(heads) * width, BLOCK * BLOCK * channels), np.float32)
    bias = np.zeros(BLOCK * BLOCK * channels, np.float32)
    first = 0
    for j, (_, _, c) in enumerate(heads):
        for p in range(BLOCK * BLOCK):
            for ch in range(c):
                column = p * channels + first + ch
                out[j * width:(j + 1) * width, column] = out_k[j][:, p * c + ch]
                bias[column] = out_b[j][p * c + ch]
        first += c
    out_k, out_b = const(out[None, None]), const(bias)

    def conv(x, k, b=None, stride=1, padding="SAME", dilation=1):
        y = tf.nn.conv2d(x, k, stride, padding, dilations=dilation)
        return y if b is None else tf.nn.bias_add(y, b)

    # autograph=False: the body has no control flow on tensors (the loop over `context` is
    # Python's, unrolled as it traces), and autograph would leave its generated source in
    # the temporary directory on every run.
    @tf.function(reduce_retracing=True, autograph=False)
    def run(frames):
        x = tf.cast(frames, f32)
        luma = x[..., 0:1] * 0.299 + x[..., 1:2] * 0.587 + x[..., 2:3] * 0.114
        steps = tf.abs(conv(tf.pad(luma, [[0, 0], [0, 1], [0, 1], [0, 0]], "SYMMETRIC"), steps_k, padding="VALID"))
        h = (conv(x, rgb_k, reduce_b, BLOCK, "VALID") + conv(tf.minimum(steps / 16.0, 2.0), size_k, None, BLOCK, "VALID")
             + conv(tf.cast(steps < 0.5, f32), zero_k, None, BLOCK, "VALID"))
        fine = tf.nn.relu(conv(tf.cast(tf.nn.relu(h), compute), fine_k, fine_b))
        c = tf.nn.relu(conv(fine, down_k, down_b, 2))
        for d, k, b in context:
            c = c + tf.nn.relu(conv(c, k, b, dilation=d))
        shape = tf.shape(fine)
        spread = tf.nn.conv2d_transpose(c, context_head_k, (shape[0], shape[1], shape[2], len(heads) * width), 2, "VALID")
        h = tf.nn.relu(conv(fine, fine_head_k, head_b, padding="VALID") + spread)
        return tf.cast(tf.nn.depth_to_space(conv(h, out_k, out_b, padding="VALID"), BLOCK), f32)

    return run


class Segmenter:
    """The trained network, loaded once: frame (uint8 H×W×3 RGB) -> float32 H×W×C logits
    (C = 1, or 3 with border maps; see `build`).

    `precision`: "float32", "bfloat16" (see `_inference`), or "auto": bfloat16 where the CPU
    has bfloat16 arithmetic (`bfloat16_is_fast`) and TensorFlow sees no GPU, else float32.

    Weights are a plain `.npz` of arrays checked against the SHA-256 in the model card
    (`demosaic.artifact`), never unpickled."""

    PRECISIONS = ("auto", "float32", "bfloat16")

    def __init__(self, model, card: dict, precision: str = "auto"):
        import tensorflow as tf

        if precision not in self.PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(self.PRECISIONS)}, not {precision!r}")
        if precision == "auto":
            fast = bfloat16_is_fast() and not tf.config.list_physical_devices("GPU")
            precision = "bfloat16" if fast else "float32"
        self.model, self.card, self.precision = model, card, precision
        self.net = from_dict(DetectNetConfig, card["config"])
        self._run = _inference(model, self.net, getattr(tf, precision))

    @classmethod
    def load(cls, path, precision: str = "auto") -> "Segmenter":
        from .artifact import load_detector
        model, card = load_detector(path)
        return cls(model, card, precision)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        return self._run(pad_to_multiple(frame)[None]).numpy()[0, :h, :w]

    def over(self, frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The logits over `box` (x0, y0, x1, y1) of `frame`, as `self(frame)` gives them
        there (in bfloat16 to its rounding: 0.06–0.13 on logits up to 17, measured), from a
        crop grown by the network's `reach` (its corner on the blocks' own lattice of
        `MULTIPLE` px): a region's worth of network time, not a frame's."""
        x0, y0, x1, y1 = box
        grow = reach(self.net)
        h, w = frame.shape[:2]
        cx0, cy0 = max(0, x0 - grow) // MULTIPLE * MULTIPLE, max(0, y0 - grow) // MULTIPLE * MULTIPLE
        cx1, cy1 = min(w, x1 + grow), min(h, y1 + grow)
        # At the frame's far edges the crop is padded as the frame is (its corner is on the lattice).
        out = self(frame[cy0:cy1, cx0:cx1])
        return out[y0 - cy0:y1 - cy0, x0 - cx0:x1 - cx0]
