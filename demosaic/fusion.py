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


def sample(x: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """X read at every patch position v + shift (dy, dx), bilinear; zero where outside."""
    dy, dx = shift
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = x.shape[:2]
    out = cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(x.shape)


def spread_back(g: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """The transpose of `sample`: for a translation, bilinear reading at −shift."""
    return sample(g, (-shift[0], -shift[1]))


class _Frame:
    """One observation at one shift: the labels whose every pixel reads inside the canvas."""

    def __init__(self, obs: Observation, shift: tuple[float, float]):
        self.obs, self.shift = obs, shift
        h, w = obs.shape
        inside = sample(np.ones((h, w), np.float32), shift) > 0.999
        used = obs.labels >= 0
        n = len(obs.counts)
        broken = np.bincount(obs.labels[used & ~inside], minlength=n) > 0
        self.valid = ~broken  # (n,)
        self.pixels = used & self.valid[np.maximum(obs.labels, 0)]  # (h, w): pixels of valid labels
        self._labels = obs.labels[self.pixels]

    @functools.cached_property
    def _gather(self) -> np.ndarray:
        """Each pixel's row in a label table whose last row is zero: `spread` is one gather.
        Built on first use (the solves'), not for every shift registration scores."""
        return np.where(self.pixels, self.obs.labels, len(self.obs.counts)).astype(np.intp)

    def means(self, x: np.ndarray) -> np.ndarray:
        """(n, C) the mean of X over each label at this shift (garbage for invalid labels)."""
        s = sample(x, self.shift)[self.pixels]
        n = len(self.obs.counts)
        sums = np.stack([np.bincount(self._labels, s[:, c], minlength=n) for c in range(x.shape[2])], axis=1)
        return sums / self.obs.counts[:, None]

    def spread(self, per_label: np.ndarray, channels: int) -> np.ndarray:
        """Each valid label's value on each of its pixels, then back onto the canvas."""
        table = np.zeros((len(self.obs.counts) + 1, channels), np.float32)
        table[:-1] = per_label if self.obs.weights is None else per_label * self.obs.weights[:, None]
        return spread_back(table[self._gather], self.shift)

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
    if f.pixels.sum() < least * (obs.labels >= 0).sum():
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


def fuse(observations: list[Observation], reference: int, prior: np.ndarray, mu: float, radius: int = 8,
         iterations: int = 30, shifts: list[tuple[float, float]] | None = None, cap: float | None = None,
         step_iterations: int | None = None, grey: bool = False) -> Fused:
    """The hidden picture in frame `reference`'s coordinates, from every observation.

    With `shifts` given (known motion), one solve. Otherwise each frame, nearest the reference
    first, is registered against the estimate so far (around its neighbour's shift, moved on
    by the neighbour's own step) and joins it; then every frame is registered again against
    the full estimate, and X is solved once more. `cap`: see `_Frame.error`;
    `step_iterations`: of each solve as a frame joins (default a third of `iterations`);
    `grey`: register on the channels' mean (a third of the work; colour rarely moves alone)."""
    if shifts is not None:
        return Fused(solve(observations, shifts, prior, mu, iterations), tuple(shifts))
    n = len(observations)
    found: dict[int, tuple[float, float]] = {reference: (0.0, 0.0)}
    x = solve([observations[reference]], [(0.0, 0.0)], prior, mu, iterations)
    seen = [dataclasses.replace(o, means=o.means.mean(axis=1, keepdims=True)) for o in observations] if grey \
        else observations
    order = sorted(range(n), key=lambda t: (abs(t - reference), t))[1:]
    for t in order:
        step = 1 if t > reference else -1
        near = found[t - step]
        before = found.get(t - 2 * step, near)
        guess = (2 * near[0] - before[0], 2 * near[1] - before[1])
        found[t] = register(_grey(x) if grey else x, seen[t], guess, radius, cap)
        ids = sorted(found)
        step = max(iterations // 3, 5) if step_iterations is None else step_iterations
        x = solve([observations[i] for i in ids], [found[i] for i in ids], prior, mu, step, x)
    gx = _grey(x) if grey else x
    final = [found[t] if t == reference else register(gx, seen[t], found[t], 1, cap) for t in range(n)]
    return Fused(solve(observations, final, prior, mu, iterations, x), tuple(final))
