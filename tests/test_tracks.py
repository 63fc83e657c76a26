"""Region tracks: the same mosaic keeps its number from frame to frame; cuts and gaps end it."""
import numpy as np

from demosaic.mosaic import Grid, GridArea
from demosaic.tracks import Box, Tracker


def area(y, x, h=48, w=64, pitch=8.0, shape=(120, 160)):
    mask = np.zeros(shape, bool)
    mask[y:y + h, x:x + w] = True
    return GridArea(mask, Grid((pitch, pitch), (float(x), float(y))))


def test_box__overlap_is_intersection_over_union():
    a, b = Box(0, 0, 10, 10), Box(5, 0, 15, 10)
    assert a.overlap(b) == 50 / 150 and a.overlap(Box(20, 20, 30, 30)) == 0.0
    assert Box.of(np.zeros((4, 4), bool)) is None


def test_tracker__moving_mosaics_keep_their_numbers_in_any_order():
    tracker = Tracker()
    first = tracker.push([area(10, 10), area(60, 90)])
    moved = tracker.push([area(62, 93), area(13, 14)])  # the same pitch: the overlap decides, whatever the order
    assert [t.track for t in first] == [0, 1]
    assert [t.track for t in moved] == [1, 0]


def test_tracker__other_pitch_cut_or_gap__a_new_track():
    tracker = Tracker()
    assert [t.track for t in tracker.push([area(10, 10)])] == [0]
    assert [t.track for t in tracker.push([area(10, 10, pitch=12.0)])] == [1]  # another mosaic there now
    assert [t.track for t in tracker.push([area(10, 10, pitch=12.0)], cut=True)] == [2]
    assert tracker.push([]) == []
    assert [t.track for t in tracker.push([area(10, 10, pitch=12.0)])] == [3]  # after a frame without it


def test_tracker__one_region_cannot_continue_two_tracks():
    tracker = Tracker()
    tracker.push([area(10, 10), area(10, 40)])  # two mosaics side by side
    merged = tracker.push([area(10, 10, w=84)])  # detected as one: it continues the one it overlaps most
    assert [t.track for t in merged] == [0]
