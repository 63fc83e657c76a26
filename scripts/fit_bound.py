"""What fitting a detected region to its mosaic can buy, on footage cases: `demosaic video`'s
own path with each detected region, before the guards, left as detected (`off`), fitted
(`fitted`, the product), given the true grid's phase (`grid`), or the true grid and the
true mask (`truth`, where the region overlaps the true mosaic by half). Tuning footage only.
For `off` and `fitted`, also how far the regions on the true mosaic were off it: the share
of frames whose grid lines are a px or more off the cells', and the sides' errors.

    python scripts/fit_bound.py --work DIR [--only moving-crf20] [--modes off,fitted,grid,truth]

Each region's frame is known by wrapping `Restorer.restore_frames` (the frames of one run come
in order: the pipeline restores one batch at a time here, `stages.BATCHES_AHEAD`), and the
truth is put in place of `safety.fit`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import demosaic.safety as safety  # noqa: E402
from demosaic.fitting import Fit, lattice_gaps  # noqa: E402
from demosaic.mosaic import Grid  # noqa: E402
from demosaic.restore import Restorer  # noqa: E402
from pipelines import stages  # noqa: E402
from pipelines.evaluate_video import default_cases, frames_of, make_clips, score_case, summary_line  # noqa: E402

stages.BATCHES_AHEAD = 0  # batches in call order, for `Truth.frames`

MODES = ("off", "fitted", "grid", "truth")


class Truth:
    """Stands in for `safety.fit`: the region as `mode` has it on the current frame (with the
    mosaic's ends the fit found, for `fitted` only)."""

    def __init__(self, fit):
        self.fit, self.mode, self.case, self.seen, self.frame_of = fit, "fitted", None, 0, {}
        self.geometry: dict[int, tuple] = {}  # frame: (px the grid is off across, down; px each side is off)

    def frames(self, restore_frames):
        def wrapped(restorer, frames, areas, *args, **kwargs):
            self.frame_of = {id(f): self.seen + i for i, f in enumerate(frames)}
            self.seen += len(frames)
            return restore_frames(restorer, frames, areas, *args, **kwargs)
        return wrapped

    def __call__(self, observed, area, cfg):
        t, cell = self.frame_of.get(id(observed)), self.case.cell
        if t is None or area.grid is None or area.grid.pitch != (cell, cell):
            return Fit(area, None) if self.mode != "fitted" else self.fit(observed, area, cfg)
        true = self.case.area(t, *area.mask.shape)
        if self.mode in ("off", "fitted"):
            seen = Fit(area, None) if self.mode == "off" else self.fit(observed, area, cfg)
            if (seen.area.mask & true.mask).sum() > 0.5 * true.mask.sum():
                self.geometry[t] = _geometry(seen.area, true)
            return seen
        snapped = []
        for o, p in zip(area.grid.origin, true.grid.origin):
            d = (p - o + cell / 2) % cell - cell / 2  # to the true phase, where within 2 px
            snapped.append(o + d if abs(d) <= 2.01 else o)
        area = area._replace(grid=Grid(area.grid.pitch, tuple(snapped)))
        if self.mode == "truth" and (area.mask & true.mask).sum() > 0.5 * true.mask.sum():
            area = area._replace(mask=true.mask.copy())
        return Fit(area, None)


def _start(origin: float, pitch: float) -> int:
    """The first px of a cell at or after 0 on an axis (as `Grid.cell_index` draws the lines)."""
    return int(np.flatnonzero(lattice_gaps(int(2 * pitch) + 2, pitch, origin))[0] + 1) % int(pitch)


def _geometry(area, true) -> tuple:
    """How far `area` is off `true`: its cells' lines across and down (px, signed), and each
    side of its box (left, right, top, bottom; px, + outward)."""
    pitch = int(true.grid.pitch[0])
    off = [(_start(a, pitch) - _start(b, pitch) + pitch // 2) % pitch - pitch // 2
           for a, b in zip(area.grid.origin, true.grid.origin)]
    (ay, ax), (ty, tx) = (np.nonzero(m) for m in (area.mask, true.mask))
    sides = (tx.min() - ax.min(), ax.max() - tx.max(), ty.min() - ay.min(), ay.max() - ty.max())
    return tuple(off), tuple(int(v) for v in sides)


def summary(geometry: dict) -> str:
    if not geometry:
        return "no region on the true mosaic"
    offs = np.array([g[0] for g in geometry.values()])
    sides = np.abs(np.array([g[1] for g in geometry.values()]))
    return (f"{len(geometry)} frames: grid off by a px or more {np.mean((offs != 0).any(axis=1)):.0%}, "
            f"sides off by > 1 px {np.mean(sides > 1):.0%} (median {np.median(sides):.0f}, max {sides.max()} px)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="where each case's clips are made (kept for reruns)")
    ap.add_argument("--only", default="moving-crf20", help="tuning cases whose name contains this")
    ap.add_argument("--modes", default=",".join(MODES))
    args = ap.parse_args()
    from cli import main

    def cli(argv):
        try:
            main(argv)
        except SystemExit as e:
            if e.code:
                raise

    truth = Truth(safety.fit)
    safety.fit = truth
    Restorer.restore_frames = truth.frames(Restorer.restore_frames)
    for case in (c for c in default_cases("tuning") if args.only in c.name):
        work = args.work / case.name
        work.mkdir(parents=True, exist_ok=True)
        clean, mosaic = work / "clean.mp4", work / "mosaic.mp4"
        if not mosaic.exists():
            make_clips(case, work)
        passthrough = work / "passthrough.mp4"
        if not passthrough.exists():
            cli(["video", "--quiet", "--passthrough", str(mosaic), str(passthrough)])
        for mode in args.modes.split(","):
            truth.mode, truth.case, truth.seen, truth.geometry = mode, case, 0, {}
            out = work / f"restored-{mode}.mp4"
            cli(["video", "--quiet", "--overwrite", "--precision", "float32", str(mosaic), str(out)])
            r = score_case(case, frames_of(clean), frames_of(mosaic), frames_of(passthrough), frames_of(out))
            print(f"{mode:7s} {summary_line(r)}", flush=True)
            if mode in ("off", "fitted"):
                print(f"        regions {mode}: {summary(truth.geometry)}", flush=True)


if __name__ == "__main__":
    main()
