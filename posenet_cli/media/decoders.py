"""The decoder behind `media.video.VideoReader` for files and stream URLs: PyAV (FFmpeg), which gives each
frame its presentation timestamp (PTS), the stream's time base, its display matrix (rotation) and its
sound. OpenCV's reader gives a time too (`CAP_PROP_POS_MSEC`), but no time base, no sound and no way to
copy the stream; on the shared clips the two decode the same pixels at about the same speed
(docs/benchmarks.md, "Video decoding"), so PyAV reads files and URLs and OpenCV only cameras.

`PyAVFrames` yields `Decoded` items in decode order: a frame (upright: its display matrix applied) with its
time from the stream's start, or the place of a packet that did not decode. Before the wanted range it
skips whole groups of pictures without decoding them (`skip`): a group can go once the next key frame
starts at or before the range, and a packet is a frame, so indexes stay those of a decode from the start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import cv2  # noqa: F401  # before av (media.encoders)
import numpy as np

from .audio import AudioSource
from .encoders import pyav
from .inputs import MediaError

URL_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Decoded:
    """One decoded position of the stream: `image` (RGB, upright) or None where the packet failed."""

    index: int
    time_ms: float | None
    image: np.ndarray | None


@dataclass(frozen=True)
class Timing:
    """How a source's frames are timed, enough to re-sync results with it: the time base of its timestamps
    (None: a camera, timed by the capture clock), its average frame rate and whether the rate varies."""

    time_base: Fraction | None
    fps: float
    variable_rate: bool

    @property
    def clock(self) -> Fraction:
        """The time base frame times are exact in: the stream's, or a camera's milliseconds."""
        return self.time_base or Fraction(1, 1000)

    def settings(self) -> dict[str, Any]:
        """As recorded with results: {"time_base": "1/15360", "fps": 30.0, "variable_rate": false}."""
        return {"time_base": None if self.time_base is None else str(self.time_base), "fps": self.fps,
                "variable_rate": self.variable_rate}


def _rate(value: Any) -> float:
    return float(value) if value and 0 < float(value) < 1000 else 0.0


class PyAVFrames:
    """A file or URL opened with PyAV: its first video stream's frames, timing and size facts."""

    def __init__(self, source: str, *, is_url: bool) -> None:
        av = pyav()
        if av is None:
            raise MediaError(f"cannot open video {source!r}: reading videos needs PyAV (pip install av)")
        self.av, self.source, self.is_url = av, source, is_url
        timeout = (URL_TIMEOUT_S, URL_TIMEOUT_S) if is_url else None
        try:
            self.container = av.open(source, "r", timeout=timeout)
        except (av.FFmpegError, OSError, ValueError, UnicodeError):
            what = "video stream" if is_url else "video"
            raise MediaError(f"cannot open {what} {source!r}"
                             + ("" if is_url else ": not a video or an unsupported format")) from None
        if not self.container.streams.video:
            self.container.close()
            raise MediaError(f"cannot open video {source!r}: not a video or an unsupported format")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"  # frame threads: faster, the same pixels
        self.time_base: Fraction = self.stream.time_base or Fraction(1, 90000)
        self.start_pts: int | None = self.stream.start_time
        self.frame_count = max(0, int(self.stream.frames or 0)) or self._indexed_frames()
        self.duration_s = self._duration()
        self.fps = _rate(self.stream.average_rate) or _rate(self.stream.guessed_rate)
        self.variable_rate = self._variable()

    def _indexed_frames(self) -> int:
        """The frames an MP4 indexes where its header does not count them (a fragmented one: every sample of
        its fragments is an index entry; a Matroska index holds only key frames)."""
        if "mp4" not in self.container.format.name:
            return 0
        try:
            return len(self.stream.index_entries)
        except (AttributeError, TypeError, ValueError):
            return 0

    def _duration(self) -> float | None:
        if self.stream.duration:
            return float(self.stream.duration * self.time_base)
        if self.container.duration:
            return self.container.duration / 1_000_000
        return None

    def _variable(self) -> bool:
        """Whether frames are unevenly spaced: from the container's index where it has one (MP4, MKV), else
        whether the average rate differs from the stream's base rate."""
        try:
            stamps = sorted(e.timestamp for e in self.stream.index_entries)
        except (AttributeError, TypeError, ValueError):
            stamps = []
        if len(stamps) > 2:
            steps = np.diff(np.asarray(stamps, dtype=np.int64))
            return bool(steps.max() - steps.min() > max(1, int(0.001 / self.time_base)))
        base, average = self.stream.base_rate, self.stream.average_rate
        return bool(base and average and abs(float(base) - float(average)) > 1e-3 * float(base))

    def sound(self, end_ms: float | None) -> AudioSource | None:
        """The audio streams of a file, on the clock of its video (None: it has none, or it is a URL)."""
        if self.is_url or not self.container.streams.audio:
            return None
        start = float((self.start_pts or 0) * self.time_base)
        return AudioSource(self.source, start, end_ms)

    def time_ms(self, pts: int | None) -> float | None:
        """A timestamp in ms from the stream's start (exact to the float: computed as a fraction)."""
        if pts is None:
            return None
        if self.start_pts is None:
            self.start_pts = pts
        return float((pts - self.start_pts) * self.time_base * 1000)

    def _upright(self, frame: Any) -> np.ndarray:
        rgb = frame.to_ndarray(format="rgb24")
        turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
        return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb

    def frames(self, skip: Callable[[float, int], bool] | None = None) -> Iterator[Decoded]:
        """Every position in decode order. With `skip`, a group of pictures for which `skip(time of the next
        key frame, index after the group)` holds is counted, not decoded (what a --start or a resumed run
        passes over: a decode from the start would drop those frames)."""
        index = 0
        held: list[Any] = []  # the packets of the group of pictures that may yet be skipped
        skipping = skip is not None
        for packet in self._packets():
            if skipping and packet is not None:
                if not (packet.is_keyframe and held):
                    held.append(packet)
                    continue
                if skip is not None and skip(self.time_ms(packet.pts) or 0.0, index + len(held)):
                    index += len(held)
                    held = [packet]
                    continue
                skipping = False
            pending, held = [*held, packet], []
            for p in pending:
                for item in self._decode(p, index):
                    index += 1
                    yield item

    def _packets(self) -> Iterator[Any]:
        """The video packets, then None (flush the decoder); demuxing errors end the stream."""
        try:
            for packet in self.container.demux(self.stream):
                if packet.size:
                    yield packet
        except (self.av.FFmpegError, OSError):
            pass
        yield None

    def _decode(self, packet: Any, index: int) -> Iterator[Decoded]:
        try:
            frames = self.stream.decode(packet)
        except (self.av.FFmpegError, ValueError):
            if packet is not None:
                yield Decoded(index, self.time_ms(packet.pts), None)
            return
        for k, frame in enumerate(frames):
            pts = frame.pts if frame.pts is not None else frame.dts
            yield Decoded(index + k, self.time_ms(pts), self._upright(frame))

    def close(self) -> None:
        self.container.close()
