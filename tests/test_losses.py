import numpy as np
import pytest

from demosaic.config import LossWeights
from demosaic.losses import loss_terms, total_loss


def np_features(x):
    """A tiny stand-in for VGG that NumPy can mirror: two maps of different size."""
    b, h, w, c = x.shape
    pooled = x.reshape(b, h // 2, 2, w // 2, 2, c).mean((2, 4))
    return [np.concatenate([x, x ** 2], -1), pooled * 3.0]


def keras_features(x):
    from keras import ops

    b, h, w, c = x.shape
    pooled = ops.mean(ops.reshape(x, (b, h // 2, 2, w // 2, 2, c)), axis=(2, 4))
    return [ops.concatenate([x, x ** 2], -1), pooled * 3.0]


def np_gram(f):
    b, h, w, c = f.shape
    flat = f.reshape(b, h * w, c)
    return np.einsum("bnc,bnd->bcd", flat, flat) / (c * h * w)


def reference_terms(gt, out, valid):
    """The paper's eqs. 1–6, written independently in NumPy."""
    hole = 1 - valid
    comp = valid * gt + hole * out
    n = gt.size
    terms = {
        "valid": np.abs(valid * (out - gt)).sum() / n,
        "hole": np.abs(hole * (out - gt)).sum() / n,
    }
    # P: hole dilated by one pixel (3×3), then pairs of neighbours both in P.
    padded = np.pad(hole[..., 0], ((0, 0), (1, 1), (1, 1)))
    b, h, w = hole.shape[:3]
    region = np.zeros((b, h, w))
    for dy in range(3):
        for dx in range(3):
            region = np.maximum(region, padded[:, dy:dy + h, dx:dx + w])
    tv = 0.0
    for i in range(b):
        for y in range(h):
            for x in range(w):
                if x + 1 < w and region[i, y, x] and region[i, y, x + 1]:
                    tv += np.abs(comp[i, y, x + 1] - comp[i, y, x]).sum()
                if y + 1 < h and region[i, y, x] and region[i, y + 1, x]:
                    tv += np.abs(comp[i, y + 1, x] - comp[i, y, x]).sum()
    terms["tv"] = tv / n
    f_out, f_comp, f_gt = np_features(out), np_features(comp), np_features(gt)
    terms["perceptual"] = sum(np.abs(a - g).mean() + np.abs(c - g).mean() for a, c, g in zip(f_out, f_comp, f_gt))
    # 1/(C·C) · ||K (ψᵀψ_out − ψᵀψ_gt)||₁ per sample, averaged over the batch.
    terms["style_out"] = sum(np.abs(np_gram(a) - np_gram(g)).sum() / (b * g.shape[-1] ** 2) for a, g in zip(f_out, f_gt))
    terms["style_comp"] = sum(np.abs(np_gram(c) - np_gram(g)).sum() / (b * g.shape[-1] ** 2) for c, g in zip(f_comp, f_gt))
    return terms


def test_loss_terms__tiny_tensors__match_numpy_reference(rng):
    gt = rng.random((2, 6, 8, 3)).astype(np.float32)
    out = rng.random((2, 6, 8, 3)).astype(np.float32)
    valid = np.ones((2, 6, 8, 1), np.float32)
    valid[0, 1:4, 2:5] = 0
    valid[1, 3:6, 0:2] = 0
    got = {k: float(v) for k, v in loss_terms(gt, out, valid, keras_features).items()}
    want = reference_terms(gt.astype(np.float64), out.astype(np.float64), valid.astype(np.float64))
    assert set(got) == set(want)
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-4), name


def test_total_loss__uses_the_paper_weights():
    terms = {"valid": 1.0, "hole": 2.0, "tv": 3.0, "perceptual": 4.0, "style_out": 5.0, "style_comp": 6.0}
    assert float(total_loss(terms, LossWeights())) == pytest.approx(1 + 12 + 0.3 + 0.2 + 120 * 11)
    pixel_only = {k: terms[k] for k in ("valid", "hole", "tv")}
    assert float(total_loss(pixel_only, LossWeights())) == pytest.approx(1 + 12 + 0.3)


def test_loss_terms__perfect_output__is_zero(rng):
    gt = rng.random((1, 8, 8, 3)).astype(np.float32)
    valid = (rng.random((1, 8, 8, 1)) < 0.5).astype(np.float32)
    terms = loss_terms(gt, gt, valid, keras_features)
    for name in ("valid", "hole", "perceptual", "style_out", "style_comp"):
        assert float(terms[name]) == pytest.approx(0.0, abs=1e-7)


def test_consistent__cell_means_become_the_observed_colours_outside_unchanged(rng):
    """The training-time consistency step against a NumPy reference: per cell, the mean of the
    output equals the observed (pixelated) colour; pixels outside the mosaic do not move."""
    from conftest import smooth_image

    from demosaic.data import cell_labels
    from demosaic.losses import consistent
    from demosaic.mosaic import MosaicRegion, pixelate

    images, outs, labels = [], [], []
    for region in [MosaicRegion("ellipse", ((5, 6), (40, 30)), (6, 6)),
                   MosaicRegion("rect", ((10, 3), (44, 29)), (8, 5), align="region")]:
        observed, _ = pixelate(smooth_image(rng, 32, 48), [region])
        images.append(observed / 255.0)
        outs.append(rng.random((32, 48, 3)))
        own = cell_labels([region.area(32, 48)], 32, 48)
        offset = labels[-1].max() if labels else 0  # labels unique over the batch
        labels.append(np.where(own > 0, own + offset, 0))
    cells = np.stack(labels).astype(np.int32)
    image, out = np.stack(images).astype(np.float32), np.stack(outs).astype(np.float32)
    result = np.asarray(consistent(out, image, cells))
    for k in np.unique(cells[cells > 0]):
        where = cells == k
        np.testing.assert_allclose(result[where].mean(axis=0), image[where].mean(axis=0), atol=1e-5)
    np.testing.assert_array_equal(result[cells == 0], out[cells == 0])
