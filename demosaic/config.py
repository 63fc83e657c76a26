"""Frozen configs, one per stage. Defaults say why they are what they are.

Every config round-trips through JSON (`to_dict` / `from_dict`), so each checkpoint and
model card carries the exact config that made it.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Literal

Arch = Literal["pconv_unet", "pconv_ed7"]


@dataclass(frozen=True)
class UNetConfig:
    arch: Arch = "pconv_unet"  # "pconv_ed7": the 7-layer encoder-decoder of the design notes
    depth: int = 7  # stride-2 encoder layers; the paper uses 7 at 512²; input size must be a multiple of 2**depth
    base_channels: int = 64  # the paper: 64, 128, 256, 512, 512, ...
    max_channels: int = 512
    guided: bool = True  # False: the paper's pure inpainting (image + mask only)
    # Guided models: the guide also enters the encoder (as channels whose mask is ones), so the
    # network sees the mosaic's structure at every scale. v0 models fed it to the decoder only.
    guide_encoder: bool = True

    def __post_init__(self):
        if self.arch not in ("pconv_unet", "pconv_ed7"):
            raise ValueError(f"unknown architecture {self.arch!r}")
        if self.arch == "pconv_unet" and not 3 <= self.depth <= 8:
            raise ValueError("depth must be between 3 and 8")
        if self.arch == "pconv_ed7" and self.guided:
            raise ValueError("pconv_ed7 is the design notes' pure-inpainting model; use guided=False")
        if self.guide_encoder and not self.guided:
            object.__setattr__(self, "guide_encoder", False)  # nothing to feed without a guide

    @property
    def size_multiple(self) -> int:
        return 2 ** self.depth if self.arch == "pconv_unet" else 8

    def encoder_channels(self) -> list[int]:
        return [min(self.base_channels * 2 ** i, self.max_channels) for i in range(self.depth)]


@dataclass(frozen=True)
class DetectNetConfig:
    """The learned mosaic segmenter (demosaic.detect_net)."""

    width: int = 24  # channels at 1/4 resolution: 24 ms a 768×576 frame on one core (48, with context 64: 49 ms)
    context_width: int = 32  # channels at 1/8 resolution
    dilations: tuple[int, ...] = (1, 2, 4, 8)  # receptive field ~ 2·8·(1+2+4+8) ≈ 240 px: two 64 px cells and more
    borders: bool = False  # also predict where cell borders run (two more outputs), for the lattice fit


@dataclass(frozen=True)
class DetectTrainConfig:
    data: tuple[str, ...] = ()  # image files or folders; 1/8 held out for validation (data.is_validation)
    out: str = "runs/detect"
    # The shipped shape (demosaic-detect-v5); cards without "borders" predate border maps.
    net: DetectNetConfig = field(default_factory=lambda: DetectNetConfig(width=48, context_width=64, borders=True))
    samples: int = 16000  # synthesised once (seeded) into OUT/samples, then reused: making them is the slow part
    val_samples: int = 256  # on the held-out photos
    crop: int = 256  # px; a 64 px mosaic still shows 2-4 cells across
    batch: int = 16
    steps: int = 20000
    lr: float = 2e-3  # cosine decay to 5 % of it
    border_weight: float = 0.5  # of the border maps' loss against the mask's (with DetectNetConfig.borders)
    seed: int = 0
    val_every: int = 1000
    checkpoint_every: int = 250


@dataclass(frozen=True)
class KeyframeConfig:
    """How video is detected (`demosaic.keyframes`): full detection on every `every`-th frame;
    the frames between take the keyframe's regions if both keyframes agree and the regions
    still hold. A video setting: the detector itself sees one frame at a time."""

    every: int = 8  # 1: every frame (`--detect-every`)
    iou: float = 0.8  # each region, moved, overlaps its match on the next keyframe at least this much
    flat_drop: float = 0.2  # a region's whole cells (all; along each edge) flat: at most this share fewer than on the keyframe
    outside_rise: float = 0.2  # the cells just outside each edge flat like its own: at most this share more


@dataclass(frozen=True)
class FusionConfig:
    """How `demosaic video --fuse-radius R` solves regions from their neighbouring frames."""

    radius: int = 0  # frames either side (0: every frame alone, as before)
    mu: float = 0.25  # the prior's weight (chosen on the bound's tuning split: BENCHMARKS.md)
    # Conjugate-gradient steps: of the final solve, of each solve while frames join (the
    # running estimate registration scores against), of the robust re-solve (warm-started).
    # Measured on the tuning footage (vtest, 10 px moving mosaic, R 6): 30/10/30 gain +0.50 dB
    # over the guide at 3.4 s a region, 20/3/10 +0.49 at 1.9 s.
    iterations: int = 20
    step_iterations: int = 3
    robust_iterations: int = 10
    search: int = 4  # px a frame's content may move beyond its neighbours' pace (3: −0.06 dB there)
    # Frames that share one registration of a track's motion (from the frames within ±radius
    # of the block): registering once per block, not once per frame, is what makes fusion cheap.
    block: int = 8
    tolerance: float = 4.0  # a cell keeps the fused picture while its residuals are within this × the region's noise
    floor: float = 2.0  # levels: the least noise assumed (an uncompressed mosaic's cells spread 0)
    gain: float = 0.5  # ... or, on every frame, at most this share of the single-frame result's
    cap: float = 12.0  # levels: the most one cell's difference counts in registration (a robust score)
    # 1: a cell also keeps the single-frame result where a picture solved without every other
    # frame predicts those frames' cells no better than the prior does (`video_fusion.unsupported`).
    holdout: int = 1

    def __post_init__(self):
        if self.radius < 0:
            raise ValueError(f"fusion radius must be >= 0, got {self.radius}")
        if self.block < 1:
            raise ValueError(f"fusion block must be >= 1 frame, got {self.block}")


# The restoring network's arithmetic (`restore.resolve_precision`; `--precision`). auto is
# bfloat16 on CPUs with bfloat16 arithmetic: on the AMD EPYC with AVX-512 BF16, `demosaic
# evaluate` on the 30 evaluation photos read −0.03 / −0.02 / 0.00 dB against float32 at cells
# 8 / 16 / 24 (−0.02 / −0.01 / 0.00 after H.264 at CRF 23), where #11 allows 0.05.
PRECISIONS = ("auto", "float32", "bfloat16")
COMPUTE_PRECISIONS = ("float32", "bfloat16")  # what "auto" resolves to: the only values a job stores
PRECISION_DEFAULT = "auto"


@dataclass(frozen=True)
class FitConfig:
    """A detected region fitted, frame by frame, to the mosaic under it (demosaic.fitting)."""

    phase_search: int = 2  # px each way the grid may move (the vote's and detector's errors measured: 1–2)
    # An end of the mosaic is a step above this many times the region's noise (the median step
    # off its lattice lines; 0.5–0.9 levels on the tuning footage's moving mosaics at CRF 20)
    # and `edge_levels` above it, where the picture beyond steps `edge_levels` more on average
    # than the mosaic's cells inside (the picture beside them steps 3–20).
    edge_ratio: float = 3.0
    edge_levels: float = 2.0
    # Share of a side's lines ending within a few px of one another for it to be fitted as one
    # straight side; or, for a ragged outline, within a cell of their median (demosaic.fitting).
    straight: float = 0.8
    min_cells: int = 3  # cells across (down) a region needs for its sides to be fitted


@dataclass(frozen=True)
class SafetyConfig:
    """The restore side's guards (demosaic.safety): which cells are restored, how far a pixel
    may move, and when a region stays as it came."""

    # A cell is flat when its masked pixels' roughness (mean |difference| between neighbours)
    # is within this many times the region's median: the tuning footage's mosaic cells 2.0–2.9×
    # at the 90th percentile, 2.2–4.4× at the 95th. Edge cells that are not flat keep their pixels.
    flat_ratio: float = 2.5
    flat_floor: float = 3.0  # levels of roughness always allowed (an uncompressed mosaic's median is 0)
    min_verified: float = 0.5  # fewer flat cells than this share: the grid is wrong, or it is no mosaic
    # The cells' median spread on the grid, against the same grid half a cell off: true grids
    # of the tuning footage 0.1–0.4 of it (moving 10 px mosaics at CRF 23 the highest); a grid
    # half a cell off is itself the shifted one's 2.6–10×.
    grid_ratio: float = 0.7
    min_cells: int = 4  # whole cells a region needs to be judged at all
    # A detected region is flat graphics, and kept, when both its distinct colours per cell and
    # its share of stepping neighbours are under these (safety.looks_like_graphics: testsrc
    # ≤ 0.11 and ≤ 0.30; mosaics over pictures or gradients above one of them).
    min_variety: float = 0.2
    min_stepping: float = 0.4
    bound_margin: float = 12.0  # levels a restored pixel may pass its 3×3 cells' colour range by
    check_levels: float = 2.0  # the last check: cell means re-pixelated within this of the observed ones
    check_quantile: float = 0.95  # ... for this share of the region's cells
    # A cell the region's edge cuts may keep its mean within this many times the region's coding
    # noise of its colour (consistency.evidence; 0: exactly, as an uncompressed mosaic has no
    # coding noise). Chosen on the tuning photos at CRF 18 / 23 / 28, cells 8–24, with every cut
    # cell restored: 2, 4 and 8 within 0.04 dB of one another, 4 best or within 0.02 dB of the
    # best everywhere. With the guards' edge rule as it is (a cut cell that runs on into the
    # picture is kept: `safety.verify_region`), it moves the
    # tuning photos' regions by 0.00–0.01 dB and the evaluation footage by −0.013 to +0.008 dB,
    # and spares the picture under a user's mask drawn half a cell past the mosaic: at CRF 23
    # 0.0–0.5 dB less lost there (`python scripts/cut_cells.py loose --crf 23 [--cut-slack 0]`).
    cut_slack: float = 4.0
    fit: FitConfig | None = FitConfig()  # detected regions are first fitted to their mosaic (None: not)


@dataclass(frozen=True)
class TileConfig:
    """Large frames in bounded memory (demosaic.tiles): above `above` pixels a frame is detected
    tile by tile and restored crop by crop around its regions, the network run tile by tile."""

    # Whole-frame detection and restoration take about 140 bytes a pixel over the ~0.6 GB of
    # Python, TensorFlow and the models (measured: a 4000×3000 photo, 2.3 GB peak; 8000×6000,
    # 7.4 GB), so frames up to 10 MP stay within about 2 GB whole; 4K video frames (8.3 and
    # 8.8 MP) stay whole, their output as before.
    above: int = 10_000_000
    # px; detection tiles at most this side: an 8000×6000 photo takes 5×4 tiles of 1805×1692,
    # each detected within 0.4 GB (and, measured, in less time than the whole frame: 6 against 23 s)
    size: int = 2048
    # px; neighbouring detection tiles share at least this: every pixel a tile owns has 128 px of
    # context each way, more than the segmenter's reach (~120 px) and the widest window a
    # detection stage measures in (evidence 99 px)
    overlap: int = 256
    # px; the network runs on boxes larger than this squared in tiles of this side at most
    # (restoring a 1400×1100 px mosaic: 0.58 GB, against 1.76 GB with the network run whole) ...
    model_size: int = 512
    # ... overlapping by this (a multiple of the network's 32): its reach is about 140 px across
    # (models/README.md), so each pixel a tile owns sees 64 px or more each way. Measured: on a
    # 700×550 px mosaic 0.9 % of its pixels one level off the whole box's output, on 1400×1100
    # 1.5 % up to 3 levels; region PSNR the same to 0.001 dB
    model_overlap: int = 128
    # px; a mosaic wider or taller than this is restored in blocks of whole cells this size
    # (`mosaic.area_pieces`): the guards and the consistency step take about 220 bytes a pixel
    # of what they restore at once. Measured on an 8000×6000 photo with a 3000×2500 px mosaic:
    # whole 3.1 GB peak; blocks of 1536 px 2.1 GB; of 1024 px 1.75 GB, region PSNR 20.427 dB
    # against 20.425 whole (and 19.680 against 19.678 on a 1400×1100 px one, 1.72 GB)
    area_size: int = 1024

    def __post_init__(self):
        if not 0 <= self.overlap < self.size or not 0 <= self.model_overlap < self.model_size:
            raise ValueError("tile overlaps must be at least 0 and less than the tile sizes")

    def splits(self, shape: tuple[int, ...]) -> bool:
        """Whether a frame of this shape (H, W, ...) is large: detected and restored in pieces."""
        return shape[0] * shape[1] > self.above


@dataclass(frozen=True)
class LossWeights:
    """The paper's eq. 7: L_valid + 6 L_hole + 0.05 L_perc + 120 (L_style_out + L_style_comp) + 0.1 L_tv."""

    valid: float = 1.0
    hole: float = 6.0
    perceptual: float = 0.05
    style: float = 120.0
    tv: float = 0.1


@dataclass(frozen=True)
class MaskConfig:
    """What a training sample's damage looks like."""

    min_cell: int = 4  # real mosaics use cells of 4 to 64 px
    max_cell: int = 64
    max_regions: int = 3
    min_area: float = 0.05  # fraction of the crop covered, roughly; as in the evaluation protocol
    max_area: float = 0.35
    region_aligned: float = 0.3  # share of regions whose grid starts at their own corner, not the frame's
    jpeg_prob: float = 0.5  # compress the observed image, standing in for video coding noise
    jpeg_quality: tuple[int, int] = (60, 95)
    # Code the observed image with H.264 instead (libx264, yuv420p, a CRF in this range), as
    # video arrives: a share of the samples after the JPEG share. Needs an even crop size.
    h264_prob: float = 0.0
    h264_crf: tuple[int, int] = (18, 30)
    stroke_prob: float = 0.25  # share of samples with irregular stroke/blob holes (the paper's masks)


@dataclass(frozen=True)
class TrainConfig:
    data: tuple[str, ...] = ()  # image files or folders
    out: str = "runs/train"
    model: UNetConfig = field(default_factory=UNetConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    masks: MaskConfig = field(default_factory=MaskConfig)
    crop: int = 128  # measured: 256² costs ~4.5x the time of 128² per image on 2 cores
    batch: int = 8
    steps: int = 1000  # phase 1: Adam at `lr`
    finetune_steps: int = 0  # phase 2: encoder BatchNorm frozen, Adam at `finetune_lr` (the paper)
    lr: float = 2e-4
    finetune_lr: float = 5e-5
    pixel_only_steps: int = 0  # VGG terms join after this many steps: they cost several U-Nets
    seed: int = 0
    val_every: int = 100  # steps between validations ("epochs")
    val_samples: int = 32
    checkpoint_every: int = 50
    vgg_weights: str = ""  # empty: the converted torchvision VGG16 in the cache (demosaic.vgg)
    # Guided models: the losses see the output after a differentiable consistency step (each
    # cell's restored mean moved to its observed colour), as inference does.
    consistency_loss: bool = False
    init_from: str = ""  # a model card whose weights start the run (fine-tuning a shipped model)

    @property
    def total_steps(self) -> int:
        return self.steps + self.finetune_steps


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def from_dict(cls, data: dict):
    """Rebuild a (nested) frozen config from `to_dict` output; unknown keys are an error."""
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        if dataclasses.is_dataclass(hint):
            value = from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return cls(**kwargs)
