"""Annotated video files: the codec browsers play (read from the file's own boxes by a parser written here
from ISO/IEC 14496-12, not by the package), the OpenCV fallback when PyAV is missing, and odd sizes.

Chromium itself is not run here (it is not a test dependency): `python tools/browser_check.py FILE` is the
one-off check that a file plays, recorded in docs/benchmarks.md."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet_cli.errors import WriteError
from posenet_cli.media import encoders
from posenet_cli.media.video import VideoReader, VideoWriter

from clips import boxes
from conftest import posenet

CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def mp4_summary(path: Path) -> tuple[list[str], list[str]]:
    """The top-level box types, and the sample entry (codec) of every track: avc1 for H.264."""
    data = path.read_bytes()
    codecs: list[str] = []

    def walk(start: int, end: int) -> None:
        for kind, a, b in boxes(data, start, end):
            if kind in CONTAINERS:
                walk(a, b)
            elif kind == b"stsd":  # version+flags, entry count, then the sample entries (boxes)
                codecs.extend(k.decode() for k, _, _ in boxes(data, a + 8, b))

    walk(0, len(data))
    return [k.decode() for k, _, _ in boxes(data)], codecs


def frames_of(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (got := capture.read())[0]:
        frames.append(got[1])
    return frames


def write_clip(path: Path, n: int = 10, size: tuple[int, int] = (64, 48), **kwargs) -> VideoWriter:
    w, h = size
    with VideoWriter(path, 10.0, w, h, **kwargs) as writer:
        for i in range(n):
            writer.write(np.full((h, w, 3), (i * 20, 100, 200 - i * 10), np.uint8))
    return writer


@pytest.fixture()
def no_pyav(monkeypatch):
    """PyAV as if it were not installed: `import av` fails."""
    monkeypatch.setitem(sys.modules, "av", None)


def test_mp4_is_h264_with_its_index_first(tmp_path):
    writer = write_clip(tmp_path / "a.mp4")
    assert (writer.codec, writer.browser_playable) == ("h264", True)
    top, codecs = mp4_summary(tmp_path / "a.mp4")
    assert codecs == ["avc1"]
    assert top.index("moov") < top.index("mdat")  # playable while downloading
    frames = frames_of(tmp_path / "a.mp4")
    assert len(frames) == 10 and frames[0].shape == (48, 64, 3)
    assert abs(int(frames[9][20, 30, 2]) - 9 * 20) < 8  # RGB in, BGR back: the red channel carries i * 20


def test_without_pyav_mp4_falls_back_to_opencv_mp4v(tmp_path, no_pyav):
    writer = write_clip(tmp_path / "a.mp4")
    assert (writer.codec, writer.browser_playable) == ("mp4v", False)
    assert mp4_summary(tmp_path / "a.mp4")[1] == ["mp4v"]
    assert len(frames_of(tmp_path / "a.mp4")) == 10


def test_a_pyav_without_its_encoders_falls_back_to_opencv_under_a_temporary_name(tmp_path, monkeypatch):
    monkeypatch.setitem(encoders.PYAV_CODECS, ".mp4", ("no-such-encoder",))  # a PyAV built without H.264/VP9
    target = tmp_path / "a.mp4"
    with VideoWriter(target, 10.0, 64, 48) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        assert (writer.codec, writer.kill_safe) == ("mp4v", False) and "no-such-encoder" in writer.fallback_reason
        assert not target.exists()  # not fragmented, so made under a hidden name and renamed once whole
    assert mp4_summary(target)[1] == ["mp4v"] and len(frames_of(target)) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]


def test_opencv_can_be_asked_for(tmp_path):
    assert write_clip(tmp_path / "a.mp4", encoder="opencv").codec == "mp4v"
    assert mp4_summary(tmp_path / "a.mp4")[1] == ["mp4v"]


@pytest.mark.parametrize(("pyav", "codec_id"), [(True, b"V_VP9"), (False, b"V_VP8")])
def test_webm_is_vp9_or_vp8(tmp_path, monkeypatch, pyav, codec_id):
    if not pyav:
        monkeypatch.setitem(sys.modules, "av", None)
    write_clip(tmp_path / "a.webm")
    data = (tmp_path / "a.webm").read_bytes()
    assert data[:4] == b"\x1a\x45\xdf\xa3" and codec_id in data  # EBML header; Matroska CodecID
    with VideoReader(tmp_path / "a.webm") as reader:
        assert len(list(reader)) == 10


def test_odd_sizes_lose_a_row_and_a_column(tmp_path):
    write_clip(tmp_path / "odd.mp4", size=(65, 49))
    frames = frames_of(tmp_path / "odd.mp4")
    assert len(frames) == 10 and frames[0].shape == (48, 64, 3)


def test_video_draw_is_h264_and_says_when_it_is_not(env, shared, tmp_path, monkeypatch):
    clip = shared / "data" / "videos" / "street-5frames.mp4"
    code, _, err = posenet("video", clip, "--draw", tmp_path / "a.mp4")
    assert code == 0 and "browsers" not in err
    assert mp4_summary(tmp_path / "a.mp4")[1] == ["avc1"] and len(frames_of(tmp_path / "a.mp4")) == 5
    monkeypatch.setitem(sys.modules, "av", None)
    code, _, err = posenet("video", clip, "--draw", tmp_path / "b.mp4")
    assert code == 0
    assert f"note: {tmp_path / 'b.mp4'} is mp4v, which browsers do not play (PyAV is not installed; " in err
    assert mp4_summary(tmp_path / "b.mp4")[1] == ["mp4v"] and len(frames_of(tmp_path / "b.mp4")) == 5


class _FailingEncoder:
    """Stands in for an encoder whose third frame meets a full disk; it finishes its file all the same."""

    codec, browser_playable, fallback_reason, kill_safe, sound = "h264", True, "", False, False

    def __init__(self, path: Path) -> None:
        self.path, self.frames = path, 0

    def write(self, rgb, time_ms=None) -> None:
        if self.frames == 2:
            raise OSError(28, "No space left on device")
        self.frames += 1

    def close(self) -> None:
        self.path.write_bytes(b"video")


def test_a_frame_that_fails_is_reported_at_that_frame(tmp_path, monkeypatch):
    monkeypatch.setattr("posenet_cli.media.video.open_encoder", lambda path, *a, **kw: _FailingEncoder(path))
    writer = VideoWriter(tmp_path / "a.mp4", 10.0, 64, 48)
    for _ in range(2):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(WriteError) as info:
        writer.write(np.zeros((48, 64, 3), np.uint8))
    assert str(info.value) == f"cannot write {tmp_path / 'a.mp4'}: No space left on device (2 frames written before it)"
    writer.close()  # the encoder could finish its file: the frames before are kept
    assert writer.frames_written == 2 and (tmp_path / "a.mp4").read_bytes() == b"video"
