import numpy as np
import pytest

from demosaic.pconv import PConv2D


def same_pad(n, k, s):
    """TensorFlow/Keras 'same' padding: output ceil(n/s), extra padding at the end."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return out, total // 2, total - total // 2


def pconv_reference(x, mask, kernel, bias, stride):
    """The paper's eq. 1–2 in plain NumPy, one output position at a time."""
    b, h, w, c = x.shape
    k, f = kernel.shape[0], kernel.shape[-1]
    mask = np.broadcast_to(mask, x.shape)  # a 1-channel mask stands for C equal channels
    oh, pt, pb = same_pad(h, k, stride)
    ow, pl, pr = same_pad(w, k, stride)
    xp = np.pad(x * mask, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    mp = np.pad(mask, ((0, 0), (pt, pb), (pl, pr), (0, 0)))  # padding counts as hole
    y = np.zeros((b, oh, ow, f))
    m = np.zeros((b, oh, ow, 1))
    for n in range(b):
        for i in range(oh):
            for j in range(ow):
                win_x = xp[n, i * stride:i * stride + k, j * stride:j * stride + k]
                win_m = mp[n, i * stride:i * stride + k, j * stride:j * stride + k]
                sum_m = win_m.sum()
                if sum_m > 0:
                    y[n, i, j] = np.tensordot(win_x, kernel, axes=3) * (k * k * c) / sum_m + bias
                    m[n, i, j] = 1
    return y, m


def run(layer, x, mask):
    y, m = layer([x.astype(np.float32), mask.astype(np.float32)])
    return np.asarray(y), np.asarray(m)


@pytest.mark.parametrize("k,stride,mask_channels", [(3, 1, 1), (2, 2, 4), (5, 2, 1), (7, 2, 4), (4, 1, 4), (3, 3, 4)])
def test_pconv__random_inputs_and_masks__match_numpy_reference(rng, k, stride, mask_channels):
    x = rng.normal(size=(2, 11, 9, 4))
    mask = (rng.random((2, 11, 9, mask_channels)) < 0.4).astype(np.float64)
    mask[0, :6, :5] = 0  # a hole wider than the kernel: outputs there must be exactly 0
    layer = PConv2D(5, k, strides=stride)
    layer.build(((None, None, None, 4), (None, None, None, mask_channels)))
    kernel = rng.normal(size=(k, k, 4, 5))
    bias = rng.normal(size=5)
    layer.set_weights([kernel, bias])
    y, m = run(layer, x, mask)
    y_ref, m_ref = pconv_reference(x, mask, kernel, bias, stride)
    np.testing.assert_allclose(y, y_ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(m, m_ref)
    assert (y[m[..., 0] == 0] == 0).all()  # no bias inside holes


def test_pconv__all_ones_mask__interior_matches_conv2d(rng):
    from scipy.signal import correlate

    x = rng.normal(size=(1, 12, 12, 3))
    layer = PConv2D(2, 3)
    layer.build(((None, None, None, 3), (None, None, None, 1)))
    kernel, bias = rng.normal(size=(3, 3, 3, 2)), rng.normal(size=2)
    layer.set_weights([kernel, bias])
    y, m = run(layer, x, np.ones((1, 12, 12, 1)))
    for f in range(2):
        plain = correlate(x[0], kernel[..., f], mode="valid")[..., 0] + bias[f]  # (10, 10)
        np.testing.assert_allclose(y[0, 1:-1, 1:-1, f], plain, rtol=1e-4, atol=1e-4)
    assert m.all()
    # At the border the padding is a hole: the window is renormalised, not a plain conv.
    assert not np.allclose(y[0, 0, 0], (x[0, :2, :2, :, None] * kernel[1:, 1:]).sum((0, 1, 2)) + bias)


def test_pconv__output__ignores_values_under_the_mask(rng):
    x = rng.normal(size=(1, 16, 16, 3))
    mask = (rng.random((1, 16, 16, 1)) < 0.5).astype(np.float64)
    layer = PConv2D(4, 5, strides=2)
    y1, _ = run(layer, x, mask)
    y2, _ = run(layer, np.where(mask > 0, x, 1e3 * rng.normal(size=x.shape)), mask)
    np.testing.assert_allclose(y1, y2, rtol=1e-5, atol=1e-5)


def test_pconv__stacked_layers__holes_shrink(rng):
    mask = np.ones((1, 32, 32, 1))
    mask[0, 4:28, 4:28] = 0
    x = rng.normal(size=(1, 32, 32, 3))
    holes = [1 - mask.mean()]
    for _ in range(4):
        x, mask = run(PConv2D(3, 3), x, mask)
        holes.append(1 - mask.mean())
    assert all(a > b for a, b in zip(holes, holes[1:]))
    assert holes[-1] == pytest.approx((16 * 16) / (32 * 32))  # each 3×3 layer eats one pixel per side


def test_pconv__get_config__round_trips():
    layer = PConv2D(7, 5, strides=2, use_bias=False, name="p")
    clone = PConv2D.from_config(layer.get_config())
    assert (clone.filters, clone.kernel_size, clone.strides, clone.use_bias, clone.name) == (7, 5, 2, False, "p")


def test_pconv__mask_with_wrong_channel_count__is_rejected():
    with pytest.raises(ValueError, match="channels"):
        PConv2D(2, 3).build(((None, 8, 8, 3), (None, 8, 8, 2)))
