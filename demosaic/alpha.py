"""A pixelated alpha channel, restored with the colour it belongs to.

A tool that pixelates an RGBA picture averages the alpha channel over each cell too: a
cut-out's edge comes back as a staircase of cells. Where the colour of a region was restored
and its alpha is itself pixelated on the region's grid (its whole cells flat, and not all one
value), the alpha is restored the way the guide restores colour: each cell's alpha at its
centre, interpolated bicubically between centres, then shifted so that every cell's mean is
again the alpha it showed (`consistency.enforce_cell_means`). Nothing is invented from the
colour: an alpha has no texture for a network to supply, and the cell means are all the
evidence there is. An alpha that is not pixelated (a uniform or smooth one drawn over the
mosaic) is left exactly as it came.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .consistency import enforce_cell_means
from .mosaic import GridArea, cell_colour_guide, cell_stats

# An area's alpha is pixelated where at least this share of its whole cells is exactly flat
# at the stored depth (alpha is stored losslessly: PNG, TIFF, WebP's alpha plane; a pixelated
# one is one value a cell, while a fade or a soft edge of the picture's own varies inside
# cells: a fade of 10 levels over 128 px already does under 16 px cells) ...
FLAT_SHARE = 0.9
# Exactly flat, as the cells' spread reads it (a standard deviation from sums: rounding leaves
# under 0.001 on a flat cell of 16-bit values; one pixel a unit off in a 16 × 16 cell reads 0.06).
FLAT_SPREAD = 0.01
# ... and its cells differ: a uniform alpha (most RGBA pictures: opaque) holds nothing to restore.
CELLS_DIFFER = 2.0  # levels on the 8-bit scale between its lowest and highest cell


def pixelated(alpha: np.ndarray, area: GridArea) -> bool:
    """Whether `alpha` (H×W, as stored: uint8 or uint16) is pixelated on `area`'s grid over
    its whole cells."""
    if area.grid is None or not area.mask.any():
        return False
    stats = cell_stats(alpha.astype(np.float64)[..., None], area, pad_cells=0, texture=False)
    if stats is None:
        return False
    whole = (stats.in_counts > 0) & (stats.in_counts == stats.counts)
    if not whole.any():
        return False
    values = stats.colour[whole, 0]
    flat = float((stats.spread[whole] < FLAT_SPREAD).mean())
    scale = 257.0 if alpha.dtype == np.uint16 else 1.0
    return flat >= FLAT_SHARE and float(values.max() - values.min()) >= CELLS_DIFFER * scale


def restore_alpha(alpha: np.ndarray, areas: Sequence[GridArea], restored: np.ndarray) -> np.ndarray:
    """`alpha` (H×W, uint8 or uint16) with each area's pixelated alpha restored where the
    colour was (`restored`: bool H×W, the pixels whose colour changed); a new array, equal to
    `alpha` everywhere else, and everywhere when no area's alpha is pixelated."""
    scale = 257.0 if alpha.dtype == np.uint16 else 1.0
    level = alpha.astype(np.float32) / scale  # the 8-bit scale the guide and the steps work on
    todo = [GridArea(a.mask & restored, a.grid, a.mode, a.trusted) for a in areas
            if a.grid is not None and (a.mask & restored).any() and pixelated(alpha, a)]
    if not todo:
        return alpha.copy()
    observed = level[..., None]
    guide = cell_colour_guide(observed, todo)
    smooth = enforce_cell_means(guide, observed, todo)[..., 0]
    out = alpha.copy()
    where = np.zeros(alpha.shape, bool)
    for a in todo:
        where |= a.mask
    top = np.iinfo(alpha.dtype).max
    out[where] = np.clip(np.rint(smooth[where] * scale), 0, top).astype(alpha.dtype)
    return out
