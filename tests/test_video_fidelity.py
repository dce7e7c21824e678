"""What the source has, the annotated video keeps: each frame's time (a variable rate stays variable), the
sound (copied packet for packet, cut with the picture), and an index first with fragments after it, so a
file cut off anywhere plays up to its last whole fragment. Rotated sources are read upright.

Clips are made here with PyAV (tests/clips.py) and the results read back by PyAV directly, not through the
package's reader."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from posenet_cli.media.video import VideoReader, VideoWriter

from clips import PHONE_DELTAS_MS, boxes, frames_of, make_clip, picture, stored_times
from conftest import posenet

INTENDED_MS = [float(sum(PHONE_DELTAS_MS[:i])) for i in range(len(PHONE_DELTAS_MS))]


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "phone.mp4"
    make_clip(path, PHONE_DELTAS_MS)
    return path


def redraw(source: Path, out: Path, **span) -> VideoWriter:
    """The source's frames through VideoReader into VideoWriter, as `posenet video --draw` does."""
    with VideoReader(source, **span) as reader, \
            VideoWriter(out, reader.fps, reader.width, reader.height, time_base=reader.timing.clock,
                        audio=reader.sound()) as writer:
        for frame in reader:
            writer.write(frame.image, frame.time_ms)
    return writer


def audio_packets(path: Path) -> list[tuple[float, bytes]]:
    """(time in ms from the stream's start, payload) of every audio packet, read by PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        start = stream.start_time or 0
        return [(float((p.pts - start) * stream.time_base * 1000), bytes(p))
                for p in container.demux(stream) if p.size]


def decodable_times(path: Path) -> list[float]:
    """The times (ms) of the frames PyAV decodes from `path`, up to the first packet that does not decode."""
    times = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            try:
                times += [float(f.pts * stream.time_base * 1000) for f in packet.decode()]
            except av.FFmpegError:
                break
    return times


def test_variable_rate_and_sound_are_kept(phone_clip, tmp_path):
    writer = redraw(phone_clip, tmp_path / "a.mp4")
    assert writer.sound and writer.kill_safe
    times = stored_times(tmp_path / "a.mp4")
    assert len(times) == len(INTENDED_MS) and max(abs(a - b) for a, b in zip(times, INTENDED_MS)) < 2
    source, copied = audio_packets(phone_clip), audio_packets(tmp_path / "a.mp4")
    source = [(t, data) for t, data in source if t >= 0]  # the encoder's priming packet is before the picture
    assert [data for _, data in copied] == [data for _, data in source]  # copied, not re-encoded
    assert max(abs(a - b) for (a, _), (b, _) in zip(copied, source)) < 1e-6


def test_start_and_end_cut_the_sound_with_the_picture(phone_clip, tmp_path):
    redraw(phone_clip, tmp_path / "a.mp4", start=0.6, end=1.0)  # frames at 627 ... 960 ms
    assert stored_times(tmp_path / "a.mp4") == pytest.approx([0, 33, 133, 233, 333], abs=2)
    source = audio_packets(phone_clip)
    expected = [data for t, data in source if 627 <= t < 1000]
    copied = audio_packets(tmp_path / "a.mp4")
    assert [data for _, data in copied] == expected
    first = next(t for t, _ in source if t >= 627) - 627  # packets are whole: the cut is on the next one
    assert [t for t, _ in copied][1:] == pytest.approx([t - 627 for t, _ in source if 627 <= t < 1000][1:])
    assert 0 <= first < 1024 / 48  # within one AAC packet of the picture


def test_webm_gets_the_sound_as_opus(phone_clip, tmp_path):
    writer = redraw(phone_clip, tmp_path / "a.webm")
    assert writer.sound and not writer.kill_safe
    with av.open(str(tmp_path / "a.webm")) as container:
        assert container.streams.audio[0].codec_context.name == "opus"  # WebM cannot hold AAC
    sound = stored_times(tmp_path / "a.webm", "audio")
    assert sound[0] == 0 and 2600 < sound[-1] <= 2660  # the whole 2.66 s tone, re-encoded
    assert max(abs(a - b) for a, b in zip(stored_times(tmp_path / "a.webm"), INTENDED_MS)) < 2


def test_a_file_without_sound_gets_none(tmp_path):
    make_clip(tmp_path / "silent.mp4", [40] * 10, audio=False)
    writer = redraw(tmp_path / "silent.mp4", tmp_path / "a.mp4")
    assert not writer.sound
    with av.open(str(tmp_path / "a.mp4")) as container:
        assert not container.streams.audio and len(stored_times(tmp_path / "a.mp4")) == 10


def test_mp4_is_fragmented_and_a_cut_off_file_plays_to_its_last_fragment(phone_clip, tmp_path):
    redraw(phone_clip, tmp_path / "a.mp4")
    data = (tmp_path / "a.mp4").read_bytes()
    top = [kind.decode() for kind, _, _ in boxes(data)]
    assert top[:3] == ["ftyp", "moov", "sidx"] and top.count("moof") >= 2  # indexes first, then fragments
    fragments = [a - 8 for kind, a, _ in boxes(data) if kind == b"moof"]
    for k, at in enumerate(fragments[1:], 1):  # cut in the middle of fragment k: fragments before it play
        (tmp_path / "cut.mp4").write_bytes(data[:at + (fragments[k + 1] - at) // 2 if k + 1 < len(fragments)
                                                else at + 64])
        times = decodable_times(tmp_path / "cut.mp4")
        assert len(times) >= sum(1 for t in INTENDED_MS if t < INTENDED_MS[len(times) - 1] + 1) > 0
        assert times == pytest.approx(INTENDED_MS[:len(times)], abs=2)
        assert len(times) >= k  # at least one frame a fragment
    with av.open(str(tmp_path / "a.mp4")) as container:  # the finished file seeks
        stream = container.streams.video[0]
        container.seek(round(2.0 / stream.time_base), stream=stream)
        first = next(container.decode(stream))
        assert 1000 <= float(first.pts * stream.time_base) * 1000 <= 2000  # the key frame before 2 s


def test_a_written_fragment_is_in_the_file_before_close(tmp_path):
    """A kill loses nothing already flushed: the bytes are in the file while the writer is still open."""
    image = picture(160, 120)
    writer = VideoWriter(tmp_path / "a.mp4", 10, 160, 120, time_base=Fraction(1, 1000))
    try:
        for i in range(40):  # 4 s at 10 fps: key frames (and fragments) every second
            writer.write(np.roll(image, i, axis=1), i * 100.0)
        assert (tmp_path / "a.mp4").exists()
        assert len(decodable_times(tmp_path / "a.mp4")) >= 20
    finally:
        writer.close()
    assert len(decodable_times(tmp_path / "a.mp4")) == 40


def test_rotated_clip_gives_the_keypoints_of_the_clip_rotated_by_hand(env, shared, tmp_path):
    images = frames_of(picture(320, 240), 6)
    make_clip(tmp_path / "rotated.mp4", [40] * 6, images=images, audio=False, rotation=90, lossless=True)
    upright = [np.ascontiguousarray(np.rot90(image)) for image in images]  # 90 degrees counter-clockwise
    make_clip(tmp_path / "by-hand.mp4", [40] * 6, images=upright, audio=False, lossless=True)
    with VideoReader(tmp_path / "rotated.mp4") as reader:
        assert (reader.width, reader.height) == (240, 320)  # the upright size
    results = {}
    for name in ("rotated", "by-hand"):
        out = tmp_path / f"{name}.jsonl"
        code, _, err = posenet("video", tmp_path / f"{name}.mp4", "--single", "--out", out, "--quiet")
        assert code == 0, err
        results[name] = [json.loads(line) for line in out.read_text().splitlines() if '"frame"' in line]
    assert len(results["rotated"]) == len(results["by-hand"]) == 6
    for a, b in zip(results["rotated"], results["by-hand"]):
        assert len(a["poses"]) == len(b["poses"]) == 1
        for pa, pb in zip(a["poses"], b["poses"]):
            xy_a = np.array([[k["position"]["x"], k["position"]["y"]] for k in pa["keypoints"]])
            xy_b = np.array([[k["position"]["x"], k["position"]["y"]] for k in pb["keypoints"]])
            assert np.abs(xy_a - xy_b).max() <= 1.0


@pytest.mark.slow
def test_a_killed_run_leaves_a_video_that_plays_to_near_its_last_line(env, shared, tmp_path):
    """SIGKILL (the OOM killer, a power cut): no handler runs, yet the annotated video plays to within about
    a second (a fragment) of the last frame in the JSON lines, with its sound."""
    clip, out, drawn = tmp_path / "long.mp4", tmp_path / "p.jsonl", tmp_path / "p.mp4"
    make_clip(clip, [33] * 20 + [50] * 280, images=frames_of(picture(160, 120), 300))  # 14.6 s
    args = ["video", str(clip), "--single", "--quiet", "--out", str(out), "--draw", str(drawn)]
    proc = subprocess.Popen([sys.executable, "-m", "posenet_cli", *args], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env})
    deadline = time.monotonic() + 300
    while (not out.exists() or out.read_text().count("\n") < 120) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.01)
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.endswith("}")]
    last_ms = max(r["time_ms"] for r in lines if "frame" in r)
    assert last_ms < 14_000  # killed mid-run
    times = decodable_times(drawn)
    assert times == pytest.approx([r["time_ms"] for r in lines if "frame" in r][:len(times)], abs=2)
    assert last_ms - 1000 <= times[-1] <= last_ms  # fragments: at each key frame (1 s), and every 0.5 s
    sound = audio_packets(drawn)
    assert sound and sound[-1][0] > times[-1] - 1000


def test_json_results_say_how_the_source_is_timed_and_its_upright_size(env, shared, phone_clip, tmp_path):
    make_clip(tmp_path / "rotated.mp4", [40] * 3, images=frames_of(picture(320, 240), 3), audio=False, rotation=90)
    for clip, size, variable in ((phone_clip, (320, 240), True), (tmp_path / "rotated.mp4", (240, 320), False)):
        out = tmp_path / "poses.json"
        code, _, err = posenet("video", clip, "--single", "--end", "0.1", "--format", "json", "--out", out,
                               "--overwrite", "--quiet")
        assert code == 0, err
        source = json.loads(out.read_text())["settings"]["source"]
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            time_base, fps = str(stream.time_base), float(stream.average_rate)
        assert source == {"width": size[0], "height": size[1], "time_base": time_base,
                          "fps": pytest.approx(fps), "variable_rate": variable}


def test_posenet_video_draw_keeps_times_and_sound_and_no_audio_drops_it(env, shared, phone_clip, tmp_path):
    out, drawn, silent = tmp_path / "p.jsonl", tmp_path / "a.mp4", tmp_path / "b.mp4"
    code, _, err = posenet("video", phone_clip, "--single", "--out", out, "--draw", drawn, "--quiet")
    assert code == 0, err
    frames = [json.loads(line) for line in out.read_text().splitlines()]
    assert max(abs(r["time_ms"] - t) for r, t in zip(frames, INTENDED_MS)) < 1 and len(frames) == 40
    times = stored_times(drawn)
    assert len(times) == 40 and max(abs(a - b) for a, b in zip(times, INTENDED_MS)) < 2
    source = [data for t, data in audio_packets(phone_clip) if t >= 0]
    assert [data for _, data in audio_packets(drawn)] == source
    code, _, err = posenet("video", phone_clip, "--single", "--draw", silent, "--no-audio", "--quiet")
    assert code == 0, err
    with av.open(str(silent)) as container:
        assert not container.streams.audio and len(stored_times(silent)) == 40


def test_a_drawn_video_without_the_sources_sound_says_so(env, shared, phone_clip, tmp_path):
    note = "has no sound: mjpg is written by OpenCV, which writes none"
    code, _, err = posenet("video", phone_clip, "--single", "--end", "0.3", "--draw", tmp_path / "a.avi")
    assert code == 0 and note in err
    silent = shared / "data/videos/street-5frames.mp4"  # a clip without sound
    for source, extra in ((phone_clip, ["--no-audio"]), (silent, [])):  # no sound asked for, or none to keep
        code, _, err = posenet("video", source, "--single", "--end", "0.3", "--draw", tmp_path / "b.avi",
                               "--overwrite", *extra)
        assert code == 0 and "has no sound" not in err and (tmp_path / "b.avi").is_file()
