"""Frame times are presentation times: a variable-rate clip made here with PyAV (20 frames 33 ms apart, then
20 frames 100 ms apart, with an AAC track), read back by the reader and by `posenet video`."""

from __future__ import annotations

import json
import sys

import pytest

from posenet_cli.media.video import VideoReader
from posenet_cli.stream.frames import Frame

from clips import PHONE_DELTAS_MS, make_clip, stored_times
from conftest import posenet

INTENDED_MS = [float(sum(PHONE_DELTAS_MS[:i])) for i in range(len(PHONE_DELTAS_MS))]


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "phone.mp4"
    times = make_clip(path, PHONE_DELTAS_MS)
    assert times == INTENDED_MS
    return path


def test_times_are_the_presentation_times(phone_clip):
    with VideoReader(phone_clip) as reader:
        frames = list(reader)
        assert reader.timing.variable_rate and str(reader.timing.time_base) == "1/90000"
    assert [f.index for f in frames] == list(range(40))
    assert all(abs(f.time_ms - t) < 1 for f, t in zip(frames, INTENDED_MS))
    assert stored_times(phone_clip) == pytest.approx([f.time_ms for f in frames], abs=1e-9)
    assert frames[25].time_ms == 1160.0  # index / average fps would say 1542 ms


def test_start_end_select_by_time_and_every_counts_decoded_frames(phone_clip):
    with VideoReader(phone_clip, start=0.6, end=1.0) as reader:  # 594 ms is out, 660 ... 960 in
        assert [(f.index, f.time_ms) for f in reader] == [(19, 627.0), (20, 660.0), (21, 760.0), (22, 860.0),
                                                         (23, 960.0)]
    with VideoReader(phone_clip, start=0.627, every=7) as reader:  # exactly at --start is in
        assert [f.index for f in reader] == [19, 26, 33]
    with VideoReader(phone_clip, first=30, start=0.1, end=2.3) as reader:  # a resumed run: from index 30
        assert [f.index for f in reader] == list(range(30, 37))  # 1660 ms ... 2260 ms


def test_start_past_key_frames_skips_without_changing_indexes(tmp_path):
    """Groups of pictures before --start are counted, not decoded: indexes and pixels are those of a full
    decode."""
    clip = tmp_path / "gop.mp4"
    make_clip(clip, PHONE_DELTAS_MS, audio=False, gop=5)
    with VideoReader(clip) as reader:
        full = {f.index: f for f in reader if isinstance(f, Frame)}
    with VideoReader(clip, start=1.5) as reader:
        part = list(reader)
    assert [f.index for f in part] == [i for i, f in full.items() if f.time_ms >= 1500]
    assert all((f.image == full[f.index].image).all() and f.time_ms == full[f.index].time_ms for f in part)


def test_without_pyav_opencv_reads_the_same_times(phone_clip, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with VideoReader(phone_clip) as reader:
        assert all(abs(f.time_ms - t) < 1 for f, t in zip(reader, INTENDED_MS))


def test_json_lines_carry_the_presentation_times(env, shared, phone_clip, tmp_path):
    out = tmp_path / "poses.jsonl"
    code, _, err = posenet("video", phone_clip, "--out", out, "--quiet")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    frames = [r for r in records if "frame" in r]
    assert [r["frame"] for r in frames] == list(range(40))
    assert all(abs(r["time_ms"] - t) < 1 for r, t in zip(frames, INTENDED_MS))
    assert sum(len(r["poses"]) > 0 for r in frames) > 30


def test_json_lines_are_headed_by_how_the_source_is_timed(env, shared, phone_clip, tmp_path):
    import av

    with av.open(str(phone_clip)) as container:  # the facts, read independently of the reader
        stream = container.streams.video[0]
        facts = {"width": stream.codec_context.width, "height": stream.codec_context.height,
                 "time_base": str(stream.time_base)}
    out = tmp_path / "poses.jsonl"
    code, _, err = posenet("video", phone_clip, "--out", out, "--quiet")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    source = records[0]["settings"]["source"]
    assert {k: source[k] for k in facts} == facts
    assert source["variable_rate"] is True  # 33 ms then 100 ms steps
    assert list(records[0])[:3] == ["frame", "time_ms", "settings"]
    assert all("settings" not in r for r in records[1:])
    # a continued file keeps its one header
    out.write_text("".join(line + "\n" for line in out.read_text().splitlines()[:10]))
    code, _, err = posenet("video", phone_clip, "--out", out, "--resume", "--quiet")
    assert code == 0, err
    resumed = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in resumed] == list(range(40))
    assert [i for i, r in enumerate(resumed) if "settings" in r] == [0]
