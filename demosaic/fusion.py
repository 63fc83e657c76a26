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

The model's readings and normal equations are `demosaic.box_model`'s; this module solves
and registers with them.

Registration is against the running estimate, never a chain of frame pairs (a chain drifts):
a candidate shift is scored by re-pixelating the estimate on that frame's labels and comparing
with what the frame shows.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from .box_model import FrameModel, NormalEquations, Observation, PictureSums, observe, shift_errors

__all__ = ["Fused", "Observation", "fuse", "label_residuals", "observe", "register", "register_frames", "sample",
           "solve"]

# Registration judges a shift only where at least this share of the observed pixels' labels
# read wholly inside the canvas (less of the frame is too little to judge by).
LEAST = 0.5


def sample(x: np.ndarray, shift: tuple[float, float], shape: tuple[int, int] | None = None) -> np.ndarray:
    """X read at every patch position v + shift (dy, dx), bilinear (OpenCV's warp, its
    weights in 1/32 px); zero where outside. The patch is X's size, or (h, w) `shape`."""
    dy, dx = shift
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = x.shape[:2] if shape is None else shape
    out = cv2.warpAffine(x, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape((h, w) + x.shape[2:])


def solve(observations: list[Observation], shifts: list[tuple[float, float]], prior: np.ndarray, mu: float,
          iterations: int = 30, start: np.ndarray | None = None) -> np.ndarray:
    """X (h, w, C) minimising the data term of every observation at its shift plus
    mu·|X − prior|², by conjugate gradients from `start` (default: the prior)."""
    prior = np.asarray(prior, np.float32)
    equations = NormalEquations((FrameModel(o, s) for o, s in zip(observations, shifts)), prior.shape[:2],
                                prior.shape[2], mu)
    return _conjugate_gradients(equations, prior, iterations, prior if start is None else start)


def _conjugate_gradients(equations: NormalEquations, prior: np.ndarray, iterations: int,
                         start: np.ndarray) -> np.ndarray:
    """`iterations` conjugate-gradient steps on the equations (with `prior` in their
    right-hand side) from `start`; float32."""
    normal = equations.apply
    b = equations.rhs(prior)
    x = np.array(start, np.float32)
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
    if x.shape[:2] != obs.shape:
        raise ValueError(f"a picture of {x.shape[:2]} against an observation of {obs.shape}")
    cy, cx = round(around[0]), round(around[1])
    errors: dict[tuple[int, int], float] = {}
    sums = PictureSums(x)

    def judge(shifts: list[tuple[int, int]]) -> None:
        """Scores the shifts not scored yet, all at once; inf beyond `radius` (the search stays within it)."""
        todo = [s for s in dict.fromkeys(shifts) if s not in errors]
        inside = [s for s in todo if abs(s[0] - cy) <= radius and abs(s[1] - cx) <= radius]
        errors.update({s: np.inf for s in todo})
        if inside:
            errors.update(zip(inside, shift_errors(sums, obs, inside, cap, LEAST).tolist()))

    def error(dy: int, dx: int) -> float:
        judge([(dy, dx)])
        return errors[(dy, dx)]

    coarse = [(dy, dx) for dy in range(cy - radius, cy + radius + 1, 2) for dx in range(cx - radius, cx + radius + 1, 2)]
    judge(coarse)
    gy, gx = min(coarse, key=lambda s: errors[s])
    fine = [(dy, dx) for dy in range(gy - 1, gy + 2) for dx in range(gx - 1, gx + 2)]
    judge(fine)
    by, bx = min(fine, key=lambda s: errors[s])
    judge([(by - 1, bx), (by + 1, bx), (by, bx - 1), (by, bx + 1)])
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
    scored = [(e, c) for e, c in zip(shift_errors(sums, obs, candidates, cap, LEAST).tolist(), candidates)
              if np.isfinite(e)]
    return min(scored)[1] if scored else (float(by), float(bx))


def label_residuals(x: np.ndarray, observations: list[Observation], shifts: list[tuple[float, float]],
                    cells_only: bool = False) -> list[np.ndarray]:
    """Per observation, (n,) per label: how far X's mean over it at that observation's shift
    is from the observed mean (the largest channel's difference); NaN for labels that read
    outside the canvas (and, with `cells_only`, for the clean pixels, not read)."""
    sums = PictureSums(x)
    return [FrameModel(o, s).residuals(sums, cells_only) for o, s in zip(observations, shifts)]


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
    prior = np.asarray(prior, np.float32)
    found: dict[int, tuple[float, float]] = {reference: (0.0, 0.0)}
    equations = NormalEquations([FrameModel(observations[reference], (0.0, 0.0))], prior.shape[:2], prior.shape[2], mu)
    x = _conjugate_gradients(equations, prior, 3 * step_iterations, prior)
    for t in sorted(range(n), key=lambda t: (abs(t - reference), t))[1:]:
        step = 1 if t > reference else -1
        near = found[t - step]
        before = found.get(t - 2 * step, near)
        guess = (2 * near[0] - before[0], 2 * near[1] - before[1])
        found[t] = register(x, observations[t], guess, radius, cap)
        equations.add(FrameModel(observations[t], found[t]))
        x = _conjugate_gradients(equations, prior, step_iterations, x)
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
