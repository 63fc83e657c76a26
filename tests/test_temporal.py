import numpy as np
import pytest

from demosaic.mosaic import Grid, GridArea
from demosaic.temporal import MaskStabiliser

SHAPE = (40, 60)


def area(y0, y1, x0, x1, pitch=8):
    mask = np.zeros(SHAPE, bool)
    mask[y0:y1, x0:x1] = True
    return GridArea(mask, Grid((pitch, pitch)))


def run(frames, detections, radius=2):
    stab = MaskStabiliser(radius=radius)
    out = []
    for f, d in zip(frames, detections):
        out += stab.push(f, d)
    return out + stab.flush()


def test_stabiliser__a_missed_frame_is_filled_and_a_one_frame_false_positive_dropped():
    frames = [np.full(SHAPE + (3,), 100, np.uint8) for _ in range(7)]
    persistent = area(8, 24, 8, 32)
    detections = [[persistent] for _ in range(7)]
    detections[3] = []  # the detector missed frame 3
    detections[5] = [persistent, area(30, 38, 40, 56, pitch=4)]  # and saw a ghost in frame 5
    out = run(frames, detections)
    assert len(out) == 7
    for i, (frame, areas) in enumerate(out):
        assert frame is frames[i]  # in order, the same frames
        union = np.zeros(SHAPE, bool)
        for a in areas:
            union |= a.mask
        np.testing.assert_array_equal(union, persistent.mask)
        assert all(a.grid == Grid((8, 8)) for a in areas)


def test_stabiliser__scene_cut__frames_across_it_do_not_vote():
    dark = [np.full(SHAPE + (3,), 10, np.uint8) for _ in range(3)]
    bright = [np.full(SHAPE + (3,), 200, np.uint8) for _ in range(3)]
    region = area(8, 24, 8, 32)
    detections = [[region]] * 3 + [[]] * 3  # the mosaic ends exactly at the cut
    out = run(dark + bright, detections)
    assert [bool(areas) for _, areas in out] == [True, True, True, False, False, False]


def test_vote__regions_and_their_order_as_over_the_whole_frame():
    """The vote counts over the detections' box only; its regions, their masks, grids and
    order are those of a majority count over the whole frame, labelled by OpenCV there (the
    reference below), for regions whose box starts on an odd row and column."""
    import cv2

    shapes = [[(3, 13, 5, 19, 4), (11, 17, 21, 33, 8), (21, 35, 1, 9, 6)] for _ in range(5)]
    shapes[1] = shapes[1][:2]  # frame 1 misses the third region
    shapes[4] = shapes[4][1:] + [(31, 39, 45, 59, 5)]  # frame 4 misses the first, has a ghost
    detections = [[area(y0, y1, x0, x1, p) for y0, y1, x0, x1, p in frame] for frame in shapes]
    got = MaskStabiliser.vote(SHAPE, detections)
    votes = sum(np.logical_or.reduce([a.mask for a in d]) for d in detections)
    count, labels = cv2.connectedComponents((votes * 2 > len(detections)).astype(np.uint8), connectivity=8)
    assert len(got) == count - 1 == 3
    for k, region in enumerate(got, 1):
        np.testing.assert_array_equal(region.mask, labels == k)
    assert [r.grid.pitch for r in got] == [(4, 4), (8, 8), (6, 6)]


def test_stabiliser__windows_without_detections__pixels_never_looked_at():
    from demosaic.rgbframes import LazyFrame

    class Unseen(LazyFrame):
        """A frame still its planes (`rgbframes`), whose rgb must not be asked for."""

        __slots__ = ()

        def __init__(self):
            self.shape, self._rgb, self._number = SHAPE + (3,), None, None

        def rgb(self):
            raise AssertionError("looked at a frame with nothing around it to vote on")

    frames = [Unseen() for _ in range(9)]
    out = run(frames, [[] for _ in frames])
    assert [f for f, _ in out] == frames and all(areas == [] for _, areas in out)


@pytest.mark.parametrize("radius", [0, 1, 2, 3])
def test_stabiliser__cuts_found_only_where_needed__votes_as_scenes_counted_over_every_frame(rng, radius):
    """Reference: every frame's scene numbered from the cuts between each two in a row, then
    each frame's vote over the frames of its window in its own scene."""
    from demosaic.temporal import is_cut, signature

    levels = [20] * 5 + [200] * 4 + [90] * 3 + [90] * 6 + [10] * 2  # cuts before frames 5, 9, 18
    frames = [np.full(SHAPE + (3,), v, np.uint8) for v in levels]
    boxes = [area(8, 24, 8, 32), area(4, 20, 30, 50, pitch=4), area(20, 36, 2, 26, pitch=6)]
    detections = [[b for b in boxes if rng.random() < 0.5] for _ in frames]
    detections[12:15] = [[], [], []]
    scenes, last = [], None
    for f in frames:
        sig = signature(f)
        scenes.append((scenes[-1] if scenes else 0) + is_cut(last, sig))
        last = sig
    out = run(frames, detections, radius=radius)
    assert len(out) == len(frames)
    for i, (frame, areas) in enumerate(out):
        assert frame is frames[i]
        window = [detections[j] for j in range(max(0, i - radius), min(len(frames), i + radius + 1))
                  if scenes[j] == scenes[i]]
        want = MaskStabiliser.vote(SHAPE, window)
        assert len(areas) == len(want)
        for a, b in zip(areas, want):
            np.testing.assert_array_equal(a.mask, b.mask)
            assert a.grid == b.grid
