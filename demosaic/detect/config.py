"""The detector's settings: one frozen dataclass per stage, grouped in `DetectorConfig`; each default
commented with its reason."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EvidenceConfig:
    """Border evidence (`evidence.border_evidence`) and candidate areas (`classical`)."""

    flat: int = 3  # max |difference| between neighbours inside a cell (levels); coding noise needs > 1
    step: int = 8  # min |difference| across a cell border that counts as evidence
    exact_step: int = 3  # ... or this, between runs that are exactly flat (uncompressed mosaics); 0: off
    window: int = 33  # px; density of border evidence is taken over this box
    min_density: float = 0.01  # fraction of border-evidence pixels to call an area a candidate


@dataclass(frozen=True)
class LatticeConfig:
    """Lattice search: the pitches looked for, tile votes (`lattice`, `combs`, `classical`)."""

    min_pitch: int = 4
    max_pitch: int = 72
    tile: int = 96  # px; tiles of a candidate area vote for the lattice they see
    max_lattices: int = 4  # mosaics on different grids looked for in one candidate area


@dataclass(frozen=True)
class CellConfig:
    """Cell verification and the outline of a candidate region (`cells`)."""

    cell_std: float = 3.0  # max in-cell standard deviation (levels, borders excluded)
    margin_div: int = 8  # cells' inner pixels keep pitch // this (1 to 4) px off the cell border
    min_cells: int = 6  # regions with fewer mosaic cells are dropped (fewer for cells over 16 px: same area)
    min_step_share: float = 0.3  # share of a region's cells that must show a step to a neighbour
    min_jump: float = 3.0  # min colour difference between flat neighbouring cells, on top of their noise
    exact_jump: float = 1.0  # ... between exactly flat ones (uncompressed mosaics)
    exact_jump_min_pitch: float = 17.0  # ... of cells larger than a codec's blocks
    small_exact_jump: float = 2.0  # ... of exactly flat cells up to that size
    axis_share: float = 0.1  # a region must step both ways: the rarer at least this share of the other ...
    axis_min: int = 4  # ... once the other steps this often (fewer: too small to tell)
    pixel_tolerance: float = 2.0  # edge cells keep pixels within max(this, 3σ+1) of the cell colour
    grow_std: float = 1.0  # cells this flat join a neighbouring region cell of the same colour
    grow_px: int = 24  # ... about this deep (one to three cells)
    grow_px_exact: int = 8  # ... in an uncompressed region (one cell, two of cells under 6 px: there exact growth follows the stepping cells)


@dataclass(frozen=True)
class PieceConfig:
    """Large cells: flat rectangles (`blobs`) and pieces (`pieces`)."""

    blob_flat: int = 2  # large cells: max 3×3 luma range inside a cell (levels)
    blob_min: int = 8  # px; smallest flat cell interior looked for (smaller cells: the evidence path)
    min_blobs: int = 2  # flat cells that must agree on one lattice
    coded_gap: int = 6  # px; widest blurred border between two coded pieces


@dataclass(frozen=True)
class ExactConfig:
    """Uncompressed mosaics: exact growth and seeds (`exact`)."""

    growth: bool = True  # uncompressed regions take in the exactly flat cells stepping from their neighbours they reach
    seed: bool = True  # uncompressed frames: where the network proposes a little, groups of exact cells stepping to each other are a mosaic ...
    seed_chance: float = 1.5  # ... if there are this many times those on the lattice half a cell off ...
    seed_cells: float = 3.0  # ... and this many times the fewest cells of a region more


@dataclass(frozen=True)
class RefitConfig:
    """Grid refits, union splits and merges over the whole frame (`refits`, `gridfit`)."""

    refine_grid: bool = True  # fit each found region's lattice to its own borders
    coarser_grid: float = 0.25  # ... then take the lattice of every 2nd (3rd) line where the lines between carry at most this share of their steps (0: never)
    coarser_square: float = 0.5  # ... or this share, where the coarser lattice's cells are square (0: as any)
    finer_grid: float = 0.5  # ... or a finer lattice it is every k-th line of where the lines between carry this share of its steps (0: never)
    finer_square: float = 0.8  # ... or this share, where that would make square cells oblong (0: as any)
    union_split: float = 0.1  # a region whose lattice is two mosaics' lines together splits where each part's steps lie on every other line, the others carrying at most this share (0: never)
    union_cells: float = 4.0  # ... each part holding this many cells of its own (twice as coarse) lattice at least
    merge_lattices: float = 0.05  # touching regions whose pitches agree this closely, and whose lattices serve both, merge (0: never)
    merge_steps: float = 0.9  # ... (lines more than 1 px apart) the larger one's carrying this share of the steps the smaller one's do there


@dataclass(frozen=True)
class NetConfig:
    """The segmenter's proposals, regions and border maps (`detector`, `learned`, `lattice`, `refits`)."""

    threshold: float = 0.0  # logit above which a pixel is mosaic (tuned on held-out training photos)
    min_px: int = 400  # smaller net-only components are dropped
    min_score: float = 0.8  # ... and those whose mean probability is lower
    gate: int = 32  # px; the classical paths look only this near the network's proposals (0: everywhere)
    search_margin: int = 128  # px; the search runs in the box around what the gate leaves open, grown by this (the widest window it measures in: evidence 99 px, tiles 96, cells 64)
    gate_threshold: float = -1.0  # logit of a proposal (lower than `threshold`: the classical paths verify)
    coded_chroma: bool = True  # frames with 4:2:0 chroma (decoded video) have no uncompressed region, however exact its cells
    join_ratio: float = 16.0  # a component with this many times the pixels of the regions it touches joins them only if it passes as a network-only region (0: always joins)
    reopen: float = 1.0  # cells; exact regions the network's mosaic outgrows by this many are coded ones unless every cell is exact (0: never)
    trim: bool = True  # coded regions lose the pixels the network does not call mosaic
    region_score: float = 0.7  # ... and go where its mean probability over them is under this (old codecs' blocks; 0: never)
    second_score: float = 0.7  # the second opinion's mean probability a coded region needs (`DetectorConfig.second_opinion`; v5's region_score, not tuned apart)
    soft_lattice: bool = True  # network-only regions: also a mean-step comb, and the flattest candidate grid
    flat_share: float = 0.3  # a network-only region needs this share of its whole cells flat inside ...
    cell_std: float = 6.0  # ... within this inner standard deviation (levels; coding noise included)
    drift: float = 4.0  # ... and whose luma drifts less than this (levels) from one side to the other
    step_share: float = 1.2  # ... and whose luma steps lie on its cell borders (±1 px) this many times more than chance, along both axes (0: not checked)
    step_excess: float = 0.12  # ... or, cells under 8 px, this share of the way from chance (three lines in a pitch) to all of them
    sure_support: float = 0.2  # ... or, where the border maps support the lattice this much (`edge_support`'s measure; 0: never) ...
    sure_steps: float = 1.0  # ... this many times chance
    rephase: float = 0.05  # network-only regions' lattices take the phase the border maps support most where that gains this much support (0: never)
    # With border maps, the lattice their borders line up on:
    edge_grid: bool = True  # ... is a candidate grid of network-only regions
    edge_refine: bool = True  # ... refits the grid of coded regions
    edge_outline: bool = True  # ... (the refit) sees the region's outline too where the maps mark it
    edge_multiple: float = 0.1  # ... (the refit) takes a whole multiple of the found pitch only if its cells are flat this nearly as often (0: always)
    one_tooth: float = 0.25  # ... an axis with one border only takes its phase from it if it is this sure (0: off)
    split_gain: float = 0.25  # ... and the new lattice's support where it takes over must beat the old's by this
    split_pitch: float = 8.0  # px; finer lattices are not split (after coding their phase is too unsure)
    split_sure: float = 0.8  # regions whose border support is at least this hold one lattice
    split: float = 0.3  # a region's pixels whose local border support is below this share of the whole's get their own lattice if they fit one (0: never split)
    whole_pitch: float = 0.25  # px; border-map pitches this near a whole one take it if it fits the teeth (0: never)
    max_aspect: float = 2.0  # cells of network-only regions and border-map fits: at most this oblong
    edge_support: float = 0.06  # network-only regions: border probability on their grid's cell edges over that between
    flattest_support: bool = True  # ... and of the lattices their cells are flattest on, the one the border maps support most
    tie_tries: int = 3  # ... and if that one fails the checks, the next of those as flat (1: the first only)


@dataclass(frozen=True)
class DetectorConfig:
    """Every setting of the detector, by stage."""

    # The learned segmenter (demosaic.detect_net): a model card path, "default" for the
    # shipped one, "" for the classical detector alone.
    learned: str = "default"
    # Border maps (a segmenter trained with DetectNetConfig.borders): "" for the mask
    # segmenter's own (the shipped one has them: one network pass a frame), or another
    # segmenter's model card path.
    net_borders: str = ""
    # A second segmenter that must also call each coded region mosaic (its mean probability
    # over the region at least `net.second_score`), or the region goes: a model card path,
    # "default" for the shipped one (demosaic-detect-g6-w48c64: trained on drawn flat
    # graphics as well, which the first proposes as mosaics), "" for none.
    second_opinion: str = "default"
    dilate: int = 0  # px to grow the final mask by, for feathered borders
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    lattice: LatticeConfig = field(default_factory=LatticeConfig)
    cells: CellConfig = field(default_factory=CellConfig)
    pieces: PieceConfig = field(default_factory=PieceConfig)
    exact: ExactConfig = field(default_factory=ExactConfig)
    refits: RefitConfig = field(default_factory=RefitConfig)
    net: NetConfig = field(default_factory=NetConfig)
