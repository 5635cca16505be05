"""Approximate-time matching of colour, depth and camera_info (grasp_perception.sync)."""
from __future__ import annotations

import pytest

from grasp_perception.sync import ApproximateTimeSync

MS = 1_000_000  # ns


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, *msgs):
        self.calls.append(msgs)


def test_matches_within_slop():
    rec = Recorder()
    s = ApproximateTimeSync(2, rec, slop_s=0.05)
    assert s.add(0, 1000 * MS, "c0") is False
    assert s.add(1, 1030 * MS, "d0") is True
    assert rec.calls == [("c0", "d0")]


def test_match_at_exactly_slop():
    rec = Recorder()
    s = ApproximateTimeSync(2, rec, slop_s=0.05)
    s.add(0, 1000 * MS, "c0")
    assert s.add(1, 1050 * MS, "d0") is True
    assert rec.calls == [("c0", "d0")]


def test_no_match_beyond_slop():
    rec = Recorder()
    s = ApproximateTimeSync(2, rec, slop_s=0.05)
    s.add(0, 1000 * MS, "c0")
    assert s.add(1, 1051 * MS, "d0") is False
    assert s.add(1, 1200 * MS, "d1") is False
    assert rec.calls == []
    # a later colour frame that fits does match
    assert s.add(0, 1190 * MS, "c1") is True
    assert rec.calls == [("c1", "d1")]


def test_callback_order_is_stream_order_not_arrival_order():
    rec = Recorder()
    s = ApproximateTimeSync(2, rec, slop_s=0.01)
    s.add(1, 500 * MS, "depth")
    s.add(0, 501 * MS, "colour")
    assert rec.calls == [("colour", "depth")]


def test_late_stream_matches_the_right_older_message():
    rec = Recorder()
    s = ApproximateTimeSync(2, rec, queue_size=10, slop_s=0.02)
    for i, t in enumerate([1000, 1033, 1066, 1100]):
        assert s.add(0, t * MS, f"c{i}") is False
    # depth lags: its frames arrive after four colour frames, stamped like the older ones
    assert s.add(1, 1034 * MS, "d1") is True
    assert rec.calls[-1] == ("c1", "d1")
    assert s.add(1, 1065 * MS, "d2") is True
    assert rec.calls[-1] == ("c2", "d2")
    assert len(rec.calls) == 2


def test_matched_and_older_messages_are_consumed():
    rec = Recorder()
    s = ApproximateTimeSync(2, rec, slop_s=0.02)
    s.add(0, 1000 * MS, "c0")
    s.add(0, 1033 * MS, "c1")
    assert s.add(1, 1033 * MS, "d1") is True
    assert rec.calls == [("c1", "d1")]
    # c1 is used up: another depth at the same time finds nothing (no double callback)
    assert s.add(1, 1034 * MS, "d1b") is False
    # c0 was older than the match: dropped too, so an old depth cannot pair with it
    assert s.add(1, 1001 * MS, "d0") is False
    assert rec.calls == [("c1", "d1")]
    # the depth frames left over are still there for the next colour frame
    assert s.add(0, 1035 * MS, "c2") is True
    assert rec.calls[-1] == ("c2", "d1b")


def test_repeated_adds_do_not_call_back_twice():
    rec = Recorder()
    s = ApproximateTimeSync(3, rec, slop_s=0.01)
    s.add(0, 100 * MS, "a")
    s.add(1, 100 * MS, "b")
    s.add(2, 100 * MS, "c")
    for stream, name in [(0, "a'"), (1, "b'")]:
        assert s.add(stream, 200 * MS, name) is False
    assert rec.calls == [("a", "b", "c")]


def test_three_streams_out_of_order():
    rec = Recorder()
    s = ApproximateTimeSync(3, rec, queue_size=10, slop_s=0.015)
    # frames k at ~33 ms intervals; each stream's stamps jitter a few ms; arrival order is shuffled
    arrivals = [
        (2, 1002, "i0"), (1, 1004, "d0"),
        (2, 1035, "i1"),
        (0, 1000, "c0"),                       # completes frame 0
        (1, 1038, "d1"), (1, 1069, "d2"),
        (2, 1066, "i2"),
        (0, 1067, "c2"),                       # completes frame 2 (colour frame 1 was dropped)
        (0, 1100, "c3"), (2, 1101, "i3"),
        (1, 1099, "d3"),                       # completes frame 3
    ]
    done = [s.add(stream, t * MS, msg) for stream, t, msg in arrivals]
    assert rec.calls == [("c0", "d0", "i0"), ("c2", "d2", "i2"), ("c3", "d3", "i3")]
    assert sum(done) == 3
    assert done[3] and done[7] and done[10]
    # d1 and i1 were older than the frame-2 match, so they are gone: a late c1 cannot match
    assert s.add(0, 1036 * MS, "c1") is False
    assert len(rec.calls) == 3


def test_queue_size_drops_oldest():
    rec = Recorder()
    s = ApproximateTimeSync(2, rec, queue_size=2, slop_s=0.005)
    for i, t in enumerate([1000, 1100, 1200]):
        s.add(0, t * MS, f"c{i}")
    assert s.add(1, 1000 * MS, "d0") is False   # c0 fell out of the queue
    assert s.add(1, 1100 * MS, "d1") is True
    assert rec.calls == [("c1", "d1")]


def test_single_stream_passes_through():
    rec = Recorder()
    s = ApproximateTimeSync(1, rec)
    assert s.add(0, 5, "x") is True and s.add(0, 6, "y") is True
    assert rec.calls == [("x",), ("y",)]


@pytest.mark.parametrize("args", [(0, 10, 0.05), (2, 0, 0.05), (2, 10, -0.1), (2, 10, float("nan"))])
def test_bad_arguments(args):
    n, q, slop = args
    with pytest.raises(ValueError):
        ApproximateTimeSync(n, lambda *m: None, queue_size=q, slop_s=slop)
