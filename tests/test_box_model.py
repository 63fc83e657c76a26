"""The box model's fast readings against a dense NumPy reference: each label's mean over the
picture read bilinearly at the frame's shift, built pixel by pixel."""
import dataclasses

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
    np.testing.assert_array_equal(np.isfinite(f.residuals(PictureSums(x))), valid)  # NaN: reads outside
    expected = a @ x.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(f.means(PictureSums(x))[valid], expected[valid], atol=2e-3)


def test_observe__cell_ids_with_gaps_or_large__labelled_in_id_order(rng):
    """Cells are numbered in the order of their ids, whatever the ids (small ones are
    counted, large ones sorted), clean pixels after them in raster order."""
    patch = rng.uniform(0, 255, (6, 9, 3)).astype(np.float32)
    for ids in ((50, 5, 17), (10 ** 7, 3, 10 ** 6)):
        cells = np.full((6, 9), -1, np.int32)
        cells[0:3, 0:3], cells[0:3, 3:6], cells[3:6, 0:3] = ids
        known = cells < 0
        obs = observe(patch, cells, known)
        order = np.argsort(ids)
        for label, k in enumerate(order):
            np.testing.assert_allclose(obs.means[label], patch[cells == ids[k]].mean(axis=0), rtol=1e-5)
            assert tuple(obs.rects[label]) == (3 * (k == 2), 3 * (k == 1), 3, 3)
        ys, xs = np.nonzero(known)
        np.testing.assert_array_equal(obs.rects[3:, :2], np.stack([ys, xs], axis=1))
        np.testing.assert_array_equal(obs.means[3:], patch[known])


def test_observe__labels_not_rectangles__refused(rng):
    cells = np.full((8, 8), -1, np.int32)
    cells[0:4, 0:4] = 0
    cells[4:6, 0:2] = 0  # an L, not a rectangle
    with pytest.raises(ValueError, match="rectangle"):
        observe(rng.uniform(0, 255, (8, 8, 3)), cells, cells < 0)


def dense_normal(observations, shifts, mu, prior):
    """mu·I + Σ Aᵀ diag(count·trust) A, and mu·prior + Σ Aᵀ diag(count·trust) m."""
    size = prior.shape[0] * prior.shape[1]
    channels = prior.shape[2]
    m_dense = mu * np.eye(size)
    b_dense = mu * prior.reshape(-1, channels).astype(np.float64)
    for o, s in zip(observations, shifts):
        a, valid = dense(o, s)
        trust = np.ones(len(o.counts)) if o.weights is None else o.weights.astype(np.float64)
        d = o.counts * trust * valid
        m_dense += a.T @ (d[:, None] * a)
        b_dense += a.T @ (d[:, None] * o.means)
    return m_dense, b_dense


@pytest.mark.parametrize("channels", [1, 3])
def test_normal_equations__equal_the_dense_normal_equations(rng, channels):
    """Each frame at its own shift, some labels' trust lowered, a frame added after the
    equations were used (as registration's running estimate adds them)."""
    observations = frames(rng, channels=channels)
    shifts = SHIFTS[1:4]
    mu = 0.25
    observations[1] = dataclasses.replace(observations[1], weights=rng.uniform(0.1, 1.0, len(observations[1].counts))
                                          .astype(np.float32))
    shape = observations[0].shape
    prior = rng.uniform(0, 255, (*shape, channels)).astype(np.float32)
    x = rng.uniform(0, 255, (*shape, channels)).astype(np.float32)
    eq = NormalEquations([FrameModel(o, s) for o, s in zip(observations[:2], shifts[:2])], shape, channels, mu)
    m_two, _ = dense_normal(observations[:2], shifts[:2], mu, prior)
    np.testing.assert_allclose(eq.apply(x).reshape(-1, channels), m_two @ x.reshape(-1, channels).astype(np.float64),
                               rtol=1e-4, atol=0.05)
    eq.add(FrameModel(observations[2], shifts[2]))
    m_dense, b_dense = dense_normal(observations, shifts, mu, prior)
    np.testing.assert_allclose(eq.apply(x).reshape(-1, channels), m_dense @ x.reshape(-1, channels).astype(np.float64),
                               rtol=1e-4, atol=0.05)
    np.testing.assert_allclose(eq.rhs(prior).reshape(-1, channels), b_dense, rtol=1e-4, atol=0.05)


def test_normal_equations__an_observation_of_another_size__refused(rng):
    small, large = frames(rng, shape=(14, 17), n=1)[0], frames(rng, shape=(16, 17), n=1)[0]
    eq = NormalEquations([FrameModel(small, (0.0, 0.0))], small.shape, 3, 0.25)
    with pytest.raises(ValueError, match="canvas"):
        eq.add(FrameModel(large, (0.0, 0.0)))


@pytest.mark.parametrize("cap", [None, 40.0])
def test_shift_errors__equal_the_dense_errors_and_refuse_too_little_inside(rng, cap):
    obs = frames(rng, n=1)[0]
    x = rng.uniform(0, 255, (*obs.shape, 3)).astype(np.float32)
    shifts = SHIFTS + [(0.0, 9.0), (5.5, -6.0)]  # the last two leave most of the patch
    got = shift_errors(PictureSums(x), obs, shifts, cap, least=0.5)
    for s, g in zip(shifts, got):
        a, valid = dense(obs, s)
        c = obs.counts * valid
        if c.sum() < 0.5 * obs.counts.sum():
            assert g == np.inf
            continue
        d = np.abs(a @ x.reshape(-1, 3).astype(np.float64) - obs.means)
        d = d if cap is None else np.minimum(d, cap)
        assert g == pytest.approx(float((c[:, None] * d * d).sum() / (c.sum() * 3)), rel=1e-4)
        # One shift alone scores as it does in the batch.
        assert shift_errors(PictureSums(x), obs, [s], cap, least=0.5)[0] == pytest.approx(g, rel=1e-6)
    assert np.isinf(got[-1]) and np.isfinite(got[0])
