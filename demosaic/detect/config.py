"""The detector's settings: one frozen dataclass, its defaults commented with their reasons."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DetectorConfig:
    flat: int = 3  # max |difference| between neighbours inside a cell (levels); coding noise needs > 1
    step: int = 8  # min |difference| across a cell border that counts as evidence
    exact_step: int = 3  # ... or this, between runs that are exactly flat (uncompressed mosaics); 0: off
    cell_std: float = 3.0  # max in-cell standard deviation (levels, borders excluded)
    min_pitch: int = 4
    max_pitch: int = 72
    evidence_window: int = 33  # px; density of border evidence is taken over this box
    min_evidence: float = 0.01  # fraction of border-evidence pixels to call an area a candidate
    min_cells: int = 6  # regions with fewer mosaic cells are dropped (fewer for cells over 16 px: same area)
    min_step_share: float = 0.3  # share of a region's cells that must show a step to a neighbour
    pixel_tolerance: float = 2.0  # edge cells keep pixels within max(this, 3σ+1) of the cell colour
    dilate: int = 0  # px to grow the final mask by, for feathered borders
    min_jump: float = 3.0  # min colour difference between flat neighbouring cells, on top of their noise
    exact_jump: float = 1.0  # ... between exactly flat ones (uncompressed mosaics)
    exact_jump_min_pitch: float = 17.0  # ... of cells larger than a codec's blocks
    small_exact_jump: float = 2.0  # ... of exactly flat cells up to that size
    coded_gap: int = 6  # px; widest blurred border between two coded pieces
    axis_share: float = 0.1  # a region must step both ways: the rarer at least this share of the other ...
    axis_min: int = 4  # ... once the other steps this often (fewer: too small to tell)
    refine_grid: bool = True  # fit each found region's lattice to its own borders
    coarser_grid: float = 0.25  # ... then take the lattice of every 2nd (3rd) line where the lines between carry at most this share of their steps (0: never)
    coarser_square: float = 0.5  # ... or this share, where the coarser lattice's cells are square (0: as any)
    finer_grid: float = 0.5  # ... or a finer lattice it is every k-th line of where the lines between carry this share of its steps (0: never)
    finer_square: float = 0.8  # ... or this share, where that would make square cells oblong (0: as any)
    union_split: float = 0.1  # a region whose lattice is two mosaics' lines together splits where each part's steps lie on every other line, the others carrying at most this share (0: never)
    union_cells: float = 4.0  # ... each part holding this many cells of its own (twice as coarse) lattice at least
    merge_lattices: float = 0.05  # touching regions whose pitches agree this closely, and whose lattices serve both, merge (0: never)
    merge_steps: float = 0.9  # ... (lines more than 1 px apart) the larger one's carrying this share of the steps the smaller one's do there
    grow_std: float = 1.0  # cells this flat join a neighbouring region cell of the same colour
    grow_px: int = 24  # ... about this deep (one to three cells)
    grow_px_exact: int = 8  # ... in an uncompressed region (one cell, two of cells under 6 px: there exact growth follows the stepping cells)
    exact_growth: bool = True  # uncompressed regions take in the exactly flat cells stepping from their neighbours they reach
    exact_seed: bool = True  # uncompressed frames: where the network proposes a little, groups of exact cells stepping to each other are a mosaic ...
    exact_seed_chance: float = 1.5  # ... if there are this many times those on the lattice half a cell off ...
    exact_seed_cells: float = 3.0  # ... and this many times the fewest cells of a region more
    tile: int = 96  # px; tiles of a candidate area vote for the lattice they see
    max_lattices: int = 4  # mosaics on different grids looked for in one candidate area
    margin_div: int = 8  # cells' inner pixels keep pitch // this (1 to 4) px off the cell border
    blob_flat: int = 2  # large cells: max 3×3 luma range inside a cell (levels)
    blob_min: int = 8  # px; smallest flat cell interior looked for (smaller cells: the evidence path)
    min_blobs: int = 2  # flat cells that must agree on one lattice
    # The learned segmenter (demosaic.detect_net): a model card path, "default" for the
    # shipped one, "" for the classical detector alone.
    learned: str = "default"
    net_threshold: float = 0.0  # logit above which a pixel is mosaic (tuned on held-out training photos)
    net_min_px: int = 400  # smaller net-only components are dropped
    net_min_score: float = 0.8  # ... and those whose mean probability is lower
    net_gate: int = 32  # px; the classical paths look only this near the network's proposals (0: everywhere)
    search_margin: int = 128  # px; the search runs in the box around what the gate leaves open, grown by this (the widest window it measures in: evidence 99 px, tiles 96, cells 64)
    net_gate_threshold: float = -1.0  # logit of a proposal (lower than net_threshold: the classical paths verify)
    net_coded_chroma: bool = True  # frames with 4:2:0 chroma (decoded video) have no uncompressed region, however exact its cells
    net_join_ratio: float = 16.0  # a component with this many times the pixels of the regions it touches joins them only if it passes as a network-only region (0: always joins)
    net_reopen: float = 1.0  # cells; exact regions the network's mosaic outgrows by this many are coded ones unless every cell is exact (0: never)
    net_trim: bool = True  # coded regions lose the pixels the network does not call mosaic
    net_region_score: float = 0.7  # ... and go where its mean probability over them is under this (old codecs' blocks; 0: never)
    net_soft_lattice: bool = True  # network-only regions: also a mean-step comb, and the flattest candidate grid
    net_flat_share: float = 0.3  # a network-only region needs this share of its whole cells flat inside ...
    net_cell_std: float = 6.0  # ... within this inner standard deviation (levels; coding noise included)
    net_drift: float = 4.0  # ... and whose luma drifts less than this (levels) from one side to the other
    net_step_share: float = 1.2  # ... and whose luma steps lie on its cell borders (±1 px) this many times more than chance, along both axes (0: not checked)
    net_step_excess: float = 0.12  # ... or, cells under 8 px, this share of the way from chance (three lines in a pitch) to all of them
    net_sure_support: float = 0.2  # ... or, where the border maps support the lattice this much (`net_edge_support`'s measure; 0: never) ...
    net_sure_steps: float = 1.0  # ... this many times chance
    net_rephase: float = 0.05  # network-only regions' lattices take the phase the border maps support most where that gains this much support (0: never)
    # Border maps (a segmenter trained with DetectNetConfig.borders): "" for the mask
    # segmenter's own (the shipped one has them: one network pass a frame), or another
    # segmenter's model card path.
    net_borders: str = ""
    # With border maps, the lattice their borders line up on:
    net_edge_grid: bool = True  # ... is a candidate grid of network-only regions
    net_edge_refine: bool = True  # ... refits the grid of coded regions
    net_edge_outline: bool = True  # ... (the refit) sees the region's outline too where the maps mark it
    net_edge_multiple: float = 0.1  # ... (the refit) takes a whole multiple of the found pitch only if its cells are flat this nearly as often (0: always)
    net_one_tooth: float = 0.25  # ... an axis with one border only takes its phase from it if it is this sure (0: off)
    net_split_gain: float = 0.25  # ... and the new lattice's support where it takes over must beat the old's by this
    net_split_pitch: float = 8.0  # px; finer lattices are not split (after coding their phase is too unsure)
    net_split_sure: float = 0.8  # regions whose border support is at least this hold one lattice
    net_split: float = 0.3  # a region's pixels whose local border support is below this share of the whole's get their own lattice if they fit one (0: never split)
    net_whole_pitch: float = 0.25  # px; border-map pitches this near a whole one take it if it fits the teeth (0: never)
    net_max_aspect: float = 2.0  # cells of network-only regions and border-map fits: at most this oblong
    net_edge_support: float = 0.06  # network-only regions: border probability on their grid's cell edges over that between
    net_flattest_support: bool = True  # ... and of the lattices their cells are flattest on, the one the border maps support most
    net_tie_tries: int = 3  # ... and if that one fails the checks, the next of those as flat (1: the first only)
    # Video (demosaic.keyframes): full detection on every `keyframe_every`-th frame; the frames
    # between take the keyframe's regions if both keyframes agree and the regions still hold.
    keyframe_every: int = 8  # 1: every frame (`demosaic ... --detect-every`)
    keyframe_iou: float = 0.8  # each region, moved, overlaps its match on the next keyframe at least this much
    keyframe_flat_drop: float = 0.2  # a region's whole cells (all; along each edge) flat: at most this share fewer than on the keyframe
    keyframe_outside_rise: float = 0.2  # the cells just outside each edge flat like its own: at most this share more
