"""Multi-frame fusion under a frame-fixed mosaic: detail finer than a cell comes back from
frames that see the picture at other offsets; registration finds those offsets from the cells."""
import cv2
import numpy as np
import pytest
from conftest import smooth_image

from demosaic.fusion import fuse, observe, register, solve

PITCH = 8


def cells_over(shape, box, pitch=PITCH):
    """(H, W) int: a frame-fixed grid's cell per pixel inside `box` (y0, x0, y1, x1), -1 outside."""
    y0, x0, y1, x1 = box
    cells = np.full(shape, -1, np.int32)
    r, c = np.arange(y1 - y0) // pitch, np.arange(x1 - x0) // pitch
    cells[y0:y1, x0:x1] = r[:, None] * (c.max() + 1) + c[None, :]
    return cells


def pixelated(frame, cells):
    """The frame with every cell replaced by its mean (NumPy reference, float)."""
    out = frame.astype(np.float64).copy()
    for k in np.unique(cells[cells >= 0]):
        out[cells == k] = out[cells == k].mean(axis=0)
    return out


def shifted(scene, dy, dx, size):
    """The scene read at (row + dy, col + dx) over `size` (bilinear: the model's own reading)."""
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(scene, m, (size[1], size[0]), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT).reshape(size[0], size[1], -1)


def test_observe__means_and_counts_match_numpy(rng):
    patch = rng.uniform(0, 255, (20, 24, 3)).astype(np.float32)
    cells = cells_over((20, 24), (4, 4, 20, 20))
    known = cells < 0
    obs = observe(patch, cells, known)
    n_cells = len(np.unique(cells[cells >= 0]))
    assert len(obs.counts) == n_cells + known.sum()
    for k in range(n_cells):
        np.testing.assert_allclose(obs.means[k], patch[cells == k].mean(axis=0), rtol=1e-5)
    assert np.all(obs.counts[n_cells:] == 1)


def test_fuse__lines_finer_than_a_cell__come_back_from_moving_frames():
    """Vertical lines with a 6 px period under an 8 px frame-fixed grid: one frame's cells
    alias them away; frames that see the scene at other horizontal offsets hold them. (A 4 px
    period could not come back at all: an 8 px box average cancels it at every offset.)"""
    size, box = (48, 64), (8, 8, 40, 56)
    cols = np.arange(200)
    scene = np.tile((128 + 60 * np.sin(2 * np.pi * cols / 6.0))[None, :, None], (200, 1, 1)).astype(np.float32)
    scene += np.linspace(0, 40, 200)[:, None, None].astype(np.float32)  # a vertical ramp: not all one row
    offsets = [(0.0, 0.0), (0.0, 1.0), (0.0, 2.0), (0.0, 3.0), (1.0, 0.5), (2.0, 1.5), (3.0, 2.5), (0.0, -1.0)]
    base = (60.0, 60.0)
    frames = [shifted(scene, base[0] + dy, base[1] + dx, size) for dy, dx in offsets]
    cells = cells_over(size, box)
    observations = [observe(pixelated(f, cells), cells, cells < 0) for f in frames]
    prior = pixelated(frames[0], cells).astype(np.float32)
    fused = fuse(observations, 0, prior, mu=0.01, iterations=80, shifts=offsets).picture
    truth = frames[0]
    y0, x0, y1, x1 = box

    def modulation(image):  # amplitude of the 6 px period across the window's columns
        rows = np.asarray(image, np.float64)[y0 + 2:y1 - 2, x0:x1, 0]
        rows = rows - rows.mean(axis=1, keepdims=True)
        spectrum = np.abs(np.fft.rfft(rows, axis=1)).mean(axis=0)
        return spectrum[(x1 - x0) // 6]

    single = cv2.resize(cv2.resize(frames[0][y0:y1, x0:x1], (6, 4), interpolation=cv2.INTER_AREA),
                        (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)
    padded_single = frames[0].copy()
    padded_single[y0:y1, x0:x1, 0] = single
    assert modulation(padded_single) < 0.1 * modulation(truth)
    assert modulation(fused) > 0.5 * modulation(truth)


@pytest.mark.parametrize("truth, radius", [((1.5, -2.25), 4), ((-1.0, 0.75), 1), ((2.75, 3.0), 3)])
def test_register__finds_a_known_subpixel_shift_from_the_cells(rng, truth, radius):
    scene = smooth_image(rng, 160, 160).astype(np.float32)
    size, box = (72, 80), (16, 16, 56, 64)
    cells = cells_over(size, box)
    ref = shifted(scene, 40, 40, size)
    other = shifted(scene, 40 + truth[0], 40 + truth[1], size)
    x = solve([observe(ref, cells, cells < 0)], [(0.0, 0.0)], ref, mu=1.0)
    found = register(x, observe(pixelated(other, cells), cells, cells < 0), (0.0, 0.0), radius=radius)
    assert abs(found[0] - truth[0]) <= 0.25 and abs(found[1] - truth[1]) <= 0.25
    assert max(abs(found[0]), abs(found[1])) <= radius  # never past the search radius


def test_register__truth_past_the_radius__stays_within_it(rng):
    scene = smooth_image(rng, 160, 160).astype(np.float32)
    size, box = (72, 80), (16, 16, 56, 64)
    cells = cells_over(size, box)
    ref = shifted(scene, 40, 40, size)
    x = solve([observe(ref, cells, cells < 0)], [(0.0, 0.0)], ref, mu=1.0)
    other = shifted(scene, 40 - 1.0, 40 + 2.5, size)
    found = register(x, observe(pixelated(other, cells), cells, cells < 0), (0.0, 0.0), radius=1)
    assert max(abs(found[0]), abs(found[1])) <= 1


def test_register__no_shift_within_the_radius_reads_enough__stays_where_it_was_asked(rng):
    """A search around a shift where every candidate leaves the canvas has nothing to judge
    by: it answers the shift it was asked about."""
    scene = smooth_image(rng, 60, 60).astype(np.float32)
    cells = cells_over((30, 30), (6, 6, 22, 22))
    x = solve([observe(scene[:30, :30], cells, cells < 0)], [(0.0, 0.0)], scene[:30, :30], mu=1.0)
    other = observe(pixelated(scene[:30, :30], cells), cells, cells < 0)
    assert register(x, other, (40.0, 40.0), radius=2) == (40.0, 40.0)


def test_fuse__no_relative_motion__many_frames_give_what_one_frame_gives(rng):
    """Frames that all see the scene at the same offset hold nothing one frame does not: the
    fused picture equals one frame's (the data term is the same, counted N times, against a
    prior N times weaker), and its cells explain the observed cells."""
    scene = smooth_image(rng, 120, 120).astype(np.float32)
    size, box = (48, 56), (8, 8, 40, 48)
    cells = cells_over(size, box)
    frame = shifted(scene, 30, 30, size)
    obs = observe(pixelated(frame, cells), cells, cells < 0)
    prior = (pixelated(frame, cells) + rng.normal(0, 8, frame.shape)).astype(np.float32)  # not yet consistent
    one = fuse([obs], 0, prior, mu=0.05, iterations=200, shifts=[(0.0, 0.0)]).picture
    many = fuse([obs] * 5, 2, prior, mu=0.25, iterations=200, shifts=[(0.0, 0.0)] * 5).picture
    np.testing.assert_allclose(many, one, atol=0.5)
    cell_means = observe(one, cells, np.zeros(size, bool)).means
    np.testing.assert_allclose(cell_means, obs.means[:len(cell_means)], atol=1.0)
    assert np.abs(one - prior).max() > 2  # the prior did move: the test is not the prior against itself


def test_fuse__registered_from_the_cells_alone__known_shifts_found_and_detail_gained(rng):
    scene = smooth_image(rng, 200, 200).astype(np.float32)
    size, box = (64, 72), (12, 12, 52, 60)
    cells = cells_over(size, box)
    path = [(0.0, 0.0), (0.75, 1.5), (1.5, 3.25), (2.5, 4.5), (3.25, 6.0)]  # a pan, a little uneven
    frames = [shifted(scene, 60 + dy, 60 + dx, size) for dy, dx in path]
    observations = [observe(pixelated(f, cells), cells, cells < 0) for f in frames]
    reference = 2
    truth = frames[reference]
    prior = pixelated(truth, cells).astype(np.float32)
    fused = fuse(observations, reference, prior, mu=0.05, radius=3)
    expected = [(dy - path[reference][0], dx - path[reference][1]) for dy, dx in path]
    assert np.abs(np.array(fused.shifts) - np.array(expected)).max() <= 0.25
    y0, x0, y1, x1 = box
    err_prior = np.abs(prior - truth)[y0:y1, x0:x1].mean()
    err_fused = np.abs(fused.picture - truth)[y0:y1, x0:x1].mean()
    assert err_fused < 0.7 * err_prior
