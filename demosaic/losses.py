"""The paper's six-term loss (Liu et al. 2018, eqs. 1–7), in keras.ops.

    L_total = L_valid + 6 L_hole + 0.05 L_perceptual + 120 (L_style_out + L_style_comp) + 0.1 L_tv

Normalisation as in the paper: each L1 term is divided by the element count of the whole
tensor it is taken over (so: a mean over all elements, masked ones included); Gram
matrices are divided by C·H·W; L_tv runs over the composite on the hole dilated by one
pixel (P in eq. 6), pairs counted only where both pixels lie in P.
Image tensors are (B, H, W, 3) in [0, 1]; `valid` is (B, H, W, 1), 1 where known.
"""
from __future__ import annotations

from typing import Callable, Sequence

from keras import ops

from .config import LossWeights

Features = Callable[[object], Sequence[object]]
PIXEL_TERMS = ("valid", "hole", "tv")
VGG_TERMS = ("perceptual", "style_out", "style_comp")


def l1_mean(x):
    return ops.mean(ops.abs(x))


def gram(features):
    """(B, H, W, C) -> (B, C, C), divided by C·H·W (the paper's K_p)."""
    _, h, w, c = ops.shape(features)
    flat = ops.reshape(features, (ops.shape(features)[0], h * w, c))  # (B, HW, C)
    return ops.einsum("bnc,bnd->bcd", flat, flat) / ops.cast(c * h * w, features.dtype)


def dilated_hole(valid):
    """P: the hole grown by one pixel (3×3), as the region of the TV term."""
    hole = 1.0 - valid
    return ops.max_pool(hole, pool_size=3, strides=1, padding="same")


def tv_loss(comp, region):
    """Eq. 6: L1 of horizontal and vertical neighbour differences of `comp`, both pixels in `region`."""
    n = ops.cast(ops.size(comp), comp.dtype)
    pair_h = region[:, :, 1:, :] * region[:, :, :-1, :]
    pair_v = region[:, 1:, :, :] * region[:, :-1, :, :]
    dh = ops.abs(comp[:, :, 1:, :] - comp[:, :, :-1, :]) * pair_h
    dv = ops.abs(comp[:, 1:, :, :] - comp[:, :-1, :, :]) * pair_v
    return (ops.sum(dh) + ops.sum(dv)) / n


def loss_terms(gt, out, valid, features: Features | None) -> dict:
    """Each named term, unweighted. `features` maps an (N, H, W, 3) batch to VGG feature maps;
    None leaves the VGG terms out (the pixel-only warm-up)."""
    comp = valid * gt + (1.0 - valid) * out
    terms = {
        "valid": l1_mean(valid * (out - gt)),
        "hole": l1_mean((1.0 - valid) * (out - gt)),
        "tv": tv_loss(comp, dilated_hole(valid)),
    }
    if features is None:
        return terms
    batch = ops.shape(gt)[0]
    # Output and composite share one VGG pass; the ground truth's features need no gradient,
    # so they get their own pass, which keeps a third of the batch out of backpropagation.
    maps = features(ops.concatenate([out, comp], axis=0))
    gt_maps = [ops.stop_gradient(f) for f in features(gt)]
    perceptual = style_out = style_comp = 0.0
    for f, f_gt in zip(maps, gt_maps):
        f_out, f_comp = f[:batch], f[batch:]
        perceptual = perceptual + l1_mean(f_out - f_gt) + l1_mean(f_comp - f_gt)
        g_gt = gram(f_gt)
        style_out = style_out + l1_mean(gram(f_out) - g_gt)
        style_comp = style_comp + l1_mean(gram(f_comp) - g_gt)
    terms.update(perceptual=perceptual, style_out=style_out, style_comp=style_comp)
    return terms


def total_loss(terms: dict, weights: LossWeights):
    total = weights.valid * terms["valid"] + weights.hole * terms["hole"] + weights.tv * terms["tv"]
    if "perceptual" in terms:
        total = (total + weights.perceptual * terms["perceptual"]
                 + weights.style * (terms["style_out"] + terms["style_comp"]))
    return total


def consistent(out, observed, cells):
    """The inference-time consistency step, differentiable: inside each cell (`cells` (B,H,W)
    int, 0 outside the mosaic, unique per cell over the batch) the output is shifted so its
    mean equals the observed image's mean there (the cell colour). Outside: unchanged."""
    b, h, w = ops.shape(cells)
    n = b * h * w  # an upper bound on the cell count that needs no data-dependent shape
    ids = ops.reshape(cells, (-1,))
    flat_out = ops.reshape(out, (-1, 3))
    flat_obs = ops.reshape(observed, (-1, 3))
    ones = ops.ones_like(flat_out[:, :1])
    count = ops.maximum(ops.segment_sum(ones, ids, num_segments=n), 1.0)
    shift = (ops.segment_sum(flat_obs, ids, num_segments=n) - ops.segment_sum(flat_out, ids, num_segments=n)) / count
    inside = ops.cast(ids > 0, out.dtype)[:, None]
    return ops.reshape(flat_out + ops.take(shift, ids, axis=0) * inside, ops.shape(out))
