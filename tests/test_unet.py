import numpy as np
import pytest

from demosaic.config import UNetConfig
from demosaic.unet import build_model, encoder_batchnorms, forward_flops

SMALL = UNetConfig(depth=4, base_channels=8, max_channels=32)


def inputs(rng, cfg, size, batch=2):
    valid = np.ones((batch, size, size, 1), np.float32)
    valid[:, size // 4: size // 2, size // 4: 3 * size // 4] = 0
    x = {"image": rng.random((batch, size, size, 3)).astype(np.float32), "valid": valid}
    if cfg.guided:
        x["guide"] = rng.random((batch, size, size, 3)).astype(np.float32)
    return x


def expected_params(cfg: UNetConfig) -> int:
    """Count from the paper's layout, independently of the builder."""
    kernels = [7, 5, 5] + [3] * (cfg.depth - 3)
    widths = cfg.encoder_channels()
    # The first layer sees the image, and for guided models (v1) also the guide and the valid map.
    total, cin = 0, 7 if cfg.guided and cfg.guide_encoder else 3
    for i, (k, c) in enumerate(zip(kernels, widths)):
        total += k * k * cin * c + c + (4 * c if i > 0 else 0)  # conv + bias (+ BN γ β μ σ²)
        cin = c
    g = 3 if cfg.guided else 0
    for level in reversed(range(cfg.depth)):
        skip = 3 if level == 0 else widths[level - 1]
        out = 3 if level == 0 else widths[level - 1]
        total += 9 * (cin + skip + g) * out + out + (4 * out if level > 0 else 0)
        cin = out
    return total


@pytest.mark.parametrize("cfg", [UNetConfig(), UNetConfig(guide_encoder=False), UNetConfig(guided=False), SMALL])
def test_unet__parameter_count__matches_the_papers_layout(cfg):
    assert build_model(cfg).count_params() == expected_params(cfg)


@pytest.mark.parametrize("size", [16, 48])
def test_unet__any_multiple_of_two_to_the_depth__keeps_its_size(rng, size):
    out = np.asarray(build_model(SMALL)(inputs(rng, SMALL, size)))
    assert out.shape == (2, size, size, 3)


def test_unet__guided_model_at_initialisation__returns_the_guide(rng):
    x = inputs(rng, SMALL, 32)
    np.testing.assert_allclose(np.asarray(build_model(SMALL)(x)), x["guide"], atol=1e-6)


@pytest.mark.parametrize("cfg", [SMALL, UNetConfig(depth=4, base_channels=8, max_channels=32, guided=False),
                                 UNetConfig(arch="pconv_ed7", guided=False)])
def test_unet__output__ignores_image_values_under_the_hole(rng, cfg):
    model = build_model(cfg)
    # Perturb the weights so the residual layer is not zero and the test can see a difference.
    for v in model.trainable_variables:
        v.assign(np.asarray(v) + rng.normal(0, 0.05, v.shape).astype(np.float32))
    x = inputs(rng, cfg, 32)
    y1 = np.asarray(model(x, training=False))
    x["image"] = np.where(x["valid"] > 0, x["image"], 100.0).astype(np.float32)
    y2 = np.asarray(model(x, training=False))
    np.testing.assert_allclose(y1, y2, atol=1e-4)
    if cfg.guided:
        x["guide"] = x["guide"] * 0.5
        assert not np.allclose(np.asarray(model(x, training=False)), y2, atol=1e-3)


def test_ed7__design_notes_layout__sigmoid_output(rng):
    cfg = UNetConfig(arch="pconv_ed7", guided=False)
    model = build_model(cfg)
    convs = [l for l in model.layers if l.name.startswith("ed") and hasattr(l, "filters")]
    assert [l.filters for l in convs] == [64, 128, 256, 256, 128, 128, 3]
    assert [l.strides for l in convs] == [2, 2, 2, 1, 1, 1, 1]
    out = np.asarray(model(inputs(rng, cfg, 32)))
    assert out.min() >= 0 and out.max() <= 1


def test_encoder_batchnorms__excludes_the_first_layer_and_the_decoder():
    names = [l.name for l in encoder_batchnorms(build_model(SMALL))]
    assert names == ["enc2_bn", "enc3_bn", "enc4_bn"]


def test_forward_flops__first_layer__counts_two_per_multiply_add():
    cfg = UNetConfig(depth=3, base_channels=4, max_channels=4, guided=False)
    flops = forward_flops(cfg, 32)
    first = 2 * 7 * 7 * 3 * 4 * 16 * 16 + 2 * 7 * 7 * 16 * 16
    assert flops > first and flops < 100 * first
