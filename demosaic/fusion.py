"""The picture under a mosaic, solved from many frames: each frame's cells are box averages of
the hidden picture at that frame's offset, and clean pixels around the mosaic are samples of it.

The model (multi-frame super-resolution from box-averaged observations; Irani & Peleg 1991,
with the least-squares form of Elad & Feuer 1997): the hidden picture X lives on a canvas,
the reference frame's patch around the region. Frame t shows X shifted by d_t (sub-pixel,
bilinear). Each of its labels (a mosaic cell, or a single clean pixel) is observed as the
mean of X over the label's pixels. X minimises

    sum_t sum_labels count * (mean of X over the label at d_t - observed mean)^2 + mu * |X - P|^2

where P is the prior (the single-frame result): the data decide wherever the frames
constrain X, and the prior holds the rest (for example the vertical detail under a pure
horizontal pan). A cell's mean counts as many pixel samples as it covers: its noise is that
much lower. Solved by conjugate gradients on the normal equations.

Registration is against the running estimate, never a chain of frame pairs (a chain drifts):
a candidate shift is scored by re-pixelating the estimate on that frame's labels and comparing
with what the frame shows.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Observation:
    """What one frame shows of the hidden picture over the canvas's patch of frame coordinates."""

    labels: np.ndarray  # (h, w) int32: label of each patch pixel (a cell, or a clean pixel); -1 unused
    means: np.ndarray  # (n, C) float32: each label's observed mean
    counts: np.ndarray  # (n,) float32: pixels per label
    cells: int = 0  # labels 0 .. cells-1 are mosaic cells, the rest single clean pixels
    weights: np.ndarray | None = None  # (n,) float32: each label's trust (None: all 1; robust re-solves lower outliers')

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    @functools.cached_property
    def order(self) -> tuple[np.ndarray, np.ndarray]:
        """(flat canvas index, label) of every labelled pixel, sorted by label (each label's
        pixels in a row, `counts` of them)."""
        flat = self.labels.ravel()
        used = np.flatnonzero(flat >= 0)
        by_label = used[np.argsort(flat[used], kind="stable")]
        return by_label, flat[by_label]


def observe(patch: np.ndarray, cells: np.ndarray, known: np.ndarray) -> Observation:
    """One frame's observation: `patch` (h, w, C) as decoded, `cells` (h, w) int the mosaic
    cell of each pixel (-1 outside the mosaic), `known` (h, w) bool the clean pixels to use
    (each its own label). Cells cut by the patch's edge are whatever part lies inside."""
    patch = np.asarray(patch, np.float32).reshape(*cells.shape, -1)
    labels = np.full(cells.shape, -1, np.int32)
    inside = cells >= 0
    ids, first = np.unique(cells[inside], return_inverse=True)
    labels[inside] = first
    clean = known & ~inside
    labels[clean] = len(ids) + np.arange(int(clean.sum()))
    n = len(ids) + int(clean.sum())
    used = labels >= 0
    counts = np.bincount(labels[used], minlength=n).astype(np.float32)
    means = np.stack([np.bincount(labels[used], patch[..., c][used], minlength=n) for c in range(patch.shape[2])],
                     axis=1) / counts[:, None]
    return Observation(labels, means.astype(np.float32), counts, len(ids))


def sample(x: np.ndarray, shift: tuple[float, float], shape: tuple[int, int] | None = None) -> np.ndarray:
    """X read at every patch position v + shift (dy, dx), bilinear; zero where outside. The
    patch is X's size, or (h, w) `shape`."""
    dy, dx = shift
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = x.shape[:2] if shape is None else shape
    out = cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape((h, w) + x.shape[2:])


def spread_back(g: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """The transpose of `sample`: for a translation, bilinear reading at −shift."""
    return sample(g, (-shift[0], -shift[1]))


class _Frame:
    """One observation at one shift: the labels whose every pixel reads inside the canvas.

    The operators gather the valid labels' pixels in label order (`Observation.order`), so a
    label's mean is one `np.add.reduceat` over all channels, and spread each label's value
    back with one `np.take`: about 2.5× as fast as the per-channel `np.bincount`s and the
    boolean gathers they replace, with the same sums (both add each label's pixels in order)."""

    def __init__(self, obs: Observation, shift: tuple[float, float]):
        self.obs, self.shift = obs, shift
        h, w = obs.shape
        # A pixel reads inside where both axes' bilinear taps do (the same warp as `sample`).
        rows = sample(np.ones((h, 1), np.float32), (shift[0], 0.0))[:, 0] > 0.999
        cols = sample(np.ones((1, w), np.float32), (0.0, shift[1]))[0] > 0.999
        inside = rows[:, None] & cols[None, :]
        used = obs.labels >= 0
        n = len(obs.counts)
        broken = np.bincount(obs.labels[used & ~inside], minlength=n) > 0
        self.valid = ~broken  # (n,)
        order, labels = obs.order
        keep = self.valid[labels]
        self._idx = order[keep]  # flat canvas index of each valid label's pixels, label by label
        self._ids = np.flatnonzero(self.valid)
        self._counts = obs.counts[self._ids].astype(np.intp)
        self._starts = np.concatenate([[0], np.cumsum(self._counts)[:-1]]).astype(np.intp)

    def means(self, x: np.ndarray) -> np.ndarray:
        """(n, C) the mean of X over each label at this shift (0 for invalid labels)."""
        channels = x.shape[2]
        out = np.zeros((len(self.obs.counts), channels))
        if len(self._ids):
            s = np.take(sample(x, self.shift).reshape(-1, channels), self._idx, axis=0)
            out[self._ids] = np.add.reduceat(s, self._starts, axis=0, dtype=np.float64) / self._counts[:, None]
        return out

    @functools.cached_property
    def _gather(self) -> np.ndarray:
        """(h·w,) each canvas pixel's row among the valid labels, or the zero row after them.
        Built on first use (the solves'), not for every shift registration scores."""
        h, w = self.obs.shape
        rows = np.full(h * w, len(self._ids), np.intp)
        rows[self._idx] = np.repeat(np.arange(len(self._ids)), self._counts)
        return rows

    def spread(self, per_label: np.ndarray, channels: int) -> np.ndarray:
        """Each valid label's value on each of its pixels, then back onto the canvas."""
        h, w = self.obs.shape
        table = np.zeros((len(self._ids) + 1, channels), np.float32)
        table[:-1] = per_label[self._ids]
        if self.obs.weights is not None:
            table[:-1] *= self.obs.weights[self._ids, None]
        return spread_back(np.take(table, self._gather, axis=0).reshape(h, w, channels), self.shift)

    def residuals(self, x: np.ndarray) -> np.ndarray:
        """(n,) the largest channel's |X's mean − the observed mean| per label; NaN where the
        label does not read wholly inside the canvas."""
        r = np.abs(self.means(x) - self.obs.means).max(axis=1)
        return np.where(self.valid, r, np.nan)

    def error(self, x: np.ndarray, cap: float | None = None) -> float:
        """Mean squared difference per pixel between X's means and the observed ones; with
        `cap` (levels), each difference counts at most that much: a part of the picture that
        moves on its own (a person crossing a still scene) then cannot outvote the rest."""
        d = self.means(x) - self.obs.means
        if cap is not None:
            d = np.minimum(np.abs(d), cap)
        c = self.obs.counts * self.valid
        return float((c[:, None] * d * d).sum() / max(c.sum() * d.shape[1], 1.0))


def solve(observations: list[Observation], shifts: list[tuple[float, float]], prior: np.ndarray, mu: float,
          iterations: int = 30, start: np.ndarray | None = None) -> np.ndarray:
    """X (h, w, C) minimising the data term of every observation at its shift plus
    mu·|X − prior|², by conjugate gradients from `start` (default: the prior)."""
    frames = [_Frame(o, s) for o, s in zip(observations, shifts)]
    prior = np.asarray(prior, np.float32)
    channels = prior.shape[2]

    def normal(x):
        out = mu * x
        for f in frames:
            out += f.spread(f.means(x), channels)
        return out

    b = mu * prior
    for f in frames:
        b += f.spread(f.obs.means, channels)
    x = (prior if start is None else np.asarray(start, np.float32)).copy()
    r = b - normal(x)
    p = r.copy()
    rr = float((r * r).sum())
    for _ in range(iterations):
        if rr < 1e-6:
            break
        q = normal(p)
        alpha = rr / max(float((p * q).sum()), 1e-12)
        x += alpha * p
        r -= alpha * q
        rr_new = float((r * r).sum())
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def register(x: np.ndarray, obs: Observation, around: tuple[float, float], radius: int,
             cap: float | None = None) -> tuple[float, float]:
    """The shift (dy, dx) within `radius` px of `around` at which X's means best explain
    `obs`: whole-pixel shifts two apart, then every whole shift around the best of them (the
    error varies over a cell's width: box averages are smooth), then sub-pixel (a parabola
    through each axis's neighbours, then a quarter-pixel check around it)."""
    cy, cx = round(around[0]), round(around[1])
    errors: dict[tuple[int, int], float] = {}

    def error(dy: int, dx: int) -> float:
        if abs(dy - cy) > radius or abs(dx - cx) > radius:
            return np.inf  # the search stays within `radius`
        if (dy, dx) not in errors:
            errors[(dy, dx)] = _score(x, obs, (dy, dx), cap=cap)
        return errors[(dy, dx)]

    coarse = [(dy, dx) for dy in range(cy - radius, cy + radius + 1, 2) for dx in range(cx - radius, cx + radius + 1, 2)]
    gy, gx = min(coarse, key=lambda s: error(*s))
    fine = [(dy, dx) for dy in range(gy - 1, gy + 2) for dx in range(gx - 1, gx + 2)]
    by, bx = min(fine, key=lambda s: error(*s))
    score = errors[(by, bx)]
    if not np.isfinite(score):
        return float(cy), float(cx)

    def vertex(minus, centre, plus):
        curve = minus - 2 * centre + plus
        return 0.0 if not np.isfinite(curve) or curve <= 0 else float(np.clip((minus - plus) / (2 * curve), -0.5, 0.5))

    fy = vertex(error(by - 1, bx), score, error(by + 1, bx))
    fx = vertex(error(by, bx - 1), score, error(by, bx + 1))
    centre = (by + fy, bx + fx)
    candidates = [(centre[0] + sy * 0.25, centre[1] + sx * 0.25) for sy in (-1, 0, 1) for sx in (-1, 0, 1)]
    candidates = [c for c in candidates if abs(c[0] - cy) <= radius and abs(c[1] - cx) <= radius]
    scored = [(e, c) for c in candidates if np.isfinite(e := _score(x, obs, c, cap=cap))]
    return min(scored)[1] if scored else (float(by), float(bx))


def _score(x: np.ndarray, obs: Observation, shift: tuple[float, float], least: float = 0.5,
           cap: float | None = None) -> float:
    """`_Frame.error` at this shift; inf where under `least` of the observed pixels' labels
    read wholly inside the canvas (too little of the frame to judge by)."""
    f = _Frame(obs, shift)
    if len(f._idx) < least * len(obs.order[0]):
        return np.inf
    return f.error(x, cap)


def label_residuals(x: np.ndarray, obs: Observation, shift: tuple[float, float]) -> np.ndarray:
    """(n,) per label of `obs`: how far X's mean over it at `shift` is from the observed mean
    (the largest channel's difference); NaN for labels that read outside the canvas."""
    return _Frame(obs, shift).residuals(x)


def _grey(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=2, keepdims=True)


@dataclass(frozen=True)
class Fused:
    picture: np.ndarray  # (h, w, C) the canvas
    shifts: tuple[tuple[float, float], ...]  # per observation, against the reference


def register_frames(observations: list[Observation], reference: int, prior: np.ndarray, mu: float, radius: int = 8,
                    step_iterations: int = 10, cap: float | None = None,
                    grey: bool = True) -> tuple[tuple[float, float], ...]:
    """Each observation's shift against observation `reference`, from the cells alone: each
    frame, nearest the reference first, is registered against the estimate so far (around its
    neighbour's shift, moved on by the neighbour's own step) and joins it (`step_iterations`
    of a solve); then every frame, the reference too, is registered again, within a pixel,
    against the full estimate, and the shifts are taken against the reference's. `grey`: on
    the channels' mean (a third of the work; colour rarely moves alone)."""
    if grey:
        observations = [dataclasses.replace(o, means=o.means.mean(axis=1, keepdims=True)) for o in observations]
        prior = _grey(np.asarray(prior, np.float32))
    n = len(observations)
    found: dict[int, tuple[float, float]] = {reference: (0.0, 0.0)}
    x = solve([observations[reference]], [(0.0, 0.0)], prior, mu, 3 * step_iterations)
    for t in sorted(range(n), key=lambda t: (abs(t - reference), t))[1:]:
        step = 1 if t > reference else -1
        near = found[t - step]
        before = found.get(t - 2 * step, near)
        guess = (2 * near[0] - before[0], 2 * near[1] - before[1])
        found[t] = register(x, observations[t], guess, radius, cap)
        ids = sorted(found)
        x = solve([observations[i] for i in ids], [found[i] for i in ids], prior, mu, step_iterations, x)
    # Every frame again, the reference too: the estimate holds the other frames' consensus,
    # and the reference's own cells weigh one frame in it, so its place is measured like theirs.
    final = [register(x, observations[t], found[t], 1, cap) for t in range(n)]
    oy, ox = final[reference]
    return tuple((dy - oy, dx - ox) for dy, dx in final)


def fuse(observations: list[Observation], reference: int, prior: np.ndarray, mu: float, radius: int = 8,
         iterations: int = 30, shifts: list[tuple[float, float]] | None = None, cap: float | None = None,
         step_iterations: int | None = None, grey: bool = False) -> Fused:
    """The hidden picture in frame `reference`'s coordinates, from every observation, solved
    with `shifts` (known motion) or with the shifts `register_frames` finds (`step_iterations`
    default a third of `iterations`; `grey`, `cap`: as there)."""
    if shifts is None:
        step = max(iterations // 3, 5) if step_iterations is None else step_iterations
        shifts = list(register_frames(observations, reference, prior, mu, radius, step, cap, grey))
    return Fused(solve(observations, shifts, prior, mu, iterations), tuple(shifts))
