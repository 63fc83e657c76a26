"""The box model's fast readings against a dense NumPy reference: each label's mean over the
picture read bilinearly at the frame's shift, built pixel by pixel."""
import numpy as np
import pytest

from demosaic.box_model import FrameModel, NormalEquations, PictureSums, observe, shift_errors


def bilinear_row(shape, y, x):
    """(h·w,) the weights by which the bilinear reading at (y, x) takes each pixel; None
    where the reading leaves the picture (as `sample` reads it, taps of weight 0 aside)."""
    h, w = shape
    if not (-1e-9 <= y <= h - 1 + 1e-9 and -1e-9 <= x <= w - 1 + 1e-9):
        return None
    row = np.zeros(h * w)
    y0, x0 = int(np.floor(y + 1e-9)), int(np.floor(x + 1e-9))
    ay, ax = y - y0, x - x0
    for oy, ox, wt in ((0, 0, (1 - ay) * (1 - ax)), (0, 1, (1 - ay) * ax), (1, 0, ay * (1 - ax)), (1, 1, ay * ax)):
        if wt > 1e-12:
            row[(y0 + oy) * w + x0 + ox] += wt
    return row


def dense(obs, shift):
    """(n, h·w) each label's mean as weights on the picture, and (n,) bool: whether it reads inside."""
    n = len(obs.counts)
    a = np.zeros((n, obs.shape[0] * obs.shape[1]))
    valid = np.ones(n, bool)
    for lab in range(n):
        ys, xs = np.nonzero(obs.labels == lab)
        for y, x in zip(ys, xs):
            row = bilinear_row(obs.shape, y + shift[0], x + shift[1])
            if row is None:
                valid[lab] = False
                break
            a[lab] += row / len(ys)
    return a * valid[:, None], valid


def frames(rng, shape=(14, 17), channels=3, n=3):
    """Observations of a random picture: 3 × 4 cells over part of it, clean pixels elsewhere
    (some left out), cells cut at the patch's edge too."""
    h, w = shape
    cells = np.full(shape, -1, np.int32)
    rows, cols = np.arange(2, h) // 3, np.arange(3, w) // 4
    cells[2:, 3:] = rows[:, None] * 10 + cols[None, :]
    out = []
    for _ in range(n):
        known = rng.uniform(size=shape) < 0.8
        patch = rng.uniform(0, 255, (h, w, channels)).astype(np.float32)
        obs = observe(patch, cells, known)
        out.append(obs)
    return out


SHIFTS = [(0.0, 0.0), (0.25, -1.5), (-1.0, 2.0), (1.6, 0.7), (-0.3, -0.45)]


@pytest.mark.parametrize("shift", SHIFTS)
def test_frame_model__means__equal_the_dense_reading(rng, shift):
    obs = frames(rng, n=1)[0]
    x = rng.uniform(0, 255, (*obs.shape, 3)).astype(np.float32)
    a, valid = dense(obs, shift)
    f = FrameModel(obs, shift)
    np.testing.assert_array_equal(f.valid, valid)
    expected = a @ x.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(f.means(PictureSums(x))[valid], expected[valid], atol=2e-3)
    assert f.pixels == pytest.approx(float(obs.counts[valid].sum()))


def test_observe__labels_not_rectangles__refused(rng):
    cells = np.full((8, 8), -1, np.int32)
    cells[0:4, 0:4] = 0
    cells[4:6, 0:2] = 0  # an L, not a rectangle
    with pytest.raises(ValueError, match="rectangle"):
        observe(rng.uniform(0, 255, (8, 8, 3)), cells, cells < 0)


def test_normal_equations__equal_the_dense_normal_equations(rng):
    """mu·x + Σ Aᵀ diag(count·trust) A x, and mu·prior + Σ Aᵀ diag(count·trust) m, with
    each frame at its own shift and some labels' trust lowered."""
    observations = frames(rng)
    shifts = SHIFTS[1:4]
    mu = 0.25
    observations[1] = type(observations[1])(**{**observations[1].__dict__,
                                               "weights": rng.uniform(0.1, 1.0, len(observations[1].counts))
                                               .astype(np.float32)})
    shape = observations[0].shape
    eq = NormalEquations([FrameModel(o, s) for o, s in zip(observations, shifts)], shape, 3, mu)
    size = shape[0] * shape[1]
    m_dense, b_dense = mu * np.eye(size), np.zeros((size, 3))
    prior = rng.uniform(0, 255, (*shape, 3)).astype(np.float32)
    b_dense += mu * prior.reshape(-1, 3)
    for o, s in zip(observations, shifts):
        a, valid = dense(o, s)
        trust = np.ones(len(o.counts)) if o.weights is None else o.weights.astype(np.float64)
        d = o.counts * trust * valid
        m_dense += a.T @ (d[:, None] * a)
        b_dense += a.T @ (d[:, None] * o.means)
    x = rng.uniform(0, 255, (*shape, 3)).astype(np.float32)
    np.testing.assert_allclose(eq.apply(x).reshape(-1, 3), m_dense @ x.reshape(-1, 3).astype(np.float64),
                               rtol=1e-4, atol=0.05)
    np.testing.assert_allclose(eq.rhs(prior).reshape(-1, 3), b_dense, rtol=1e-4, atol=0.05)


def test_shift_errors__equal_the_dense_errors_and_refuse_too_little_inside(rng):
    obs = frames(rng, n=1)[0]
    x = rng.uniform(0, 255, (*obs.shape, 3)).astype(np.float32)
    shifts = SHIFTS + [(0.0, 9.0), (5.5, -6.0)]  # the last two leave most of the patch
    cap = 40.0
    got = shift_errors(PictureSums(x), obs, shifts, cap, least=0.5)
    for s, g in zip(shifts, got):
        a, valid = dense(obs, s)
        c = obs.counts * valid
        if c.sum() < 0.5 * obs.counts.sum():
            assert g == np.inf
            continue
        d = np.minimum(np.abs(a @ x.reshape(-1, 3).astype(np.float64) - obs.means), cap)
        assert g == pytest.approx(float((c[:, None] * d * d).sum() / (c.sum() * 3)), rel=1e-4)
    assert np.isinf(got[-1]) and np.isfinite(got[0])
