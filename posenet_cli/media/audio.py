"""The sound of the source in the annotated video: its audio streams copied packet by packet (no re-encoding,
so no loss) where the output container can hold the codec, else re-encoded (AAC in MP4/MOV, Opus in WebM).

Packets are muxed as the picture reaches them (`feed`), so sound and picture are interleaved in each MP4
fragment and a killed run keeps the sound of what it drew. The cut is the picture's: sound from the first
frame written to the end of the range (`AudioSource.end_ms`), with the first frame's time as 0 in both.
Packets are whole (AAC: 1024 samples, 21 ms at 48 kHz), so a cut falls on the first packet that starts in it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

# What each output container holds without re-encoding (FFmpeg's mov and webm muxers), and what it gets else.
COPYABLE = {
    ".mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    ".m4v": {"aac", "mp3", "ac3", "eac3", "alac"},
    ".mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_f32le"},
    ".webm": {"opus", "vorbis"},
}
REENCODE = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".webm": "libopus"}
EPSILON_MS = 1e-6


@dataclass(frozen=True)
class AudioSource:
    """The sound to put beside the picture: the audio streams of the file `path`, on a clock that starts
    with the video stream (`video_start_s`, the video's first timestamp in seconds), up to `end_ms` on that
    clock (None: to the end)."""

    path: str
    video_start_s: float
    end_ms: float | None = None


class AudioCopy:
    """The audio streams of `source` into the output `container` (extension `ext`), fed in time order."""

    def __init__(self, av: Any, source: AudioSource, container: Any, ext: str) -> None:
        self.av, self.source, self.container = av, source, container
        self.input = av.open(source.path)
        self.outputs: dict[int, tuple[Any, bool]] = {}  # input stream index: (output stream, copied)
        for stream in self.input.streams.audio:
            self.outputs[stream.index] = self._output(stream, ext)
        self.offset_ms: float | None = None  # the first frame's time: 0 in the output
        self._packets = self._demux()
        self._next: Any = None

    def _output(self, stream: Any, ext: str) -> tuple[Any, bool]:
        if stream.codec_context.name in COPYABLE.get(ext, ()):
            return self.container.add_stream_from_template(stream), True
        rate = stream.codec_context.sample_rate or 48000
        if REENCODE[ext] == "libopus":  # Opus runs at 48 kHz only
            rate = 48000
        out = self.container.add_stream(REENCODE[ext], rate=rate)
        out.layout = stream.codec_context.layout.name if stream.codec_context.layout else "stereo"
        return out, False

    def _demux(self) -> Iterator[Any]:
        """The audio packets in file order; a demuxing error ends the sound."""
        try:
            for packet in self.input.demux(*self.input.streams.audio):
                if packet.size and packet.pts is not None:
                    yield packet
        except (self.av.FFmpegError, OSError):
            return

    def _time_ms(self, packet: Any) -> float:
        """A packet's time on the video's clock (ms from the video stream's first timestamp)."""
        return float(packet.pts * packet.time_base) * 1000.0 - self.source.video_start_s * 1000.0

    def start(self, offset_ms: float) -> None:
        """Sound from `offset_ms` on (the first frame's time) becomes sound from 0."""
        self.offset_ms = offset_ms
        if offset_ms > 2000:  # far into the file: start demuxing from a key frame a second before
            try:
                self.input.seek(int((self.source.video_start_s + offset_ms / 1000 - 1) * 1_000_000))
            except (self.av.FFmpegError, OSError):
                pass
            self._packets = self._demux()

    def feed(self, until_ms: float) -> None:
        """Mux the sound up to `until_ms` of the output (the time of the frame just written)."""
        if self.offset_ms is None:
            return
        end = math.inf if self.source.end_ms is None else self.source.end_ms - EPSILON_MS
        while True:
            packet = self._next if self._next is not None else next(self._packets, None)
            self._next = None
            if packet is None:
                return
            t = self._time_ms(packet)
            if t >= end:
                self._packets = iter(())
                return
            if t - self.offset_ms > until_ms + EPSILON_MS:
                self._next = packet
                return
            if t >= self.offset_ms - EPSILON_MS:
                self._mux(packet, t - self.offset_ms)

    def _mux(self, packet: Any, out_ms: float) -> None:
        stream, copied = self.outputs[packet.stream.index]
        if copied:
            tb = packet.time_base
            shift = packet.pts - round(Fraction(out_ms) / 1000 / tb)
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = stream
            self.container.mux(packet)
            return
        try:
            frames = packet.decode()
        except (self.av.FFmpegError, ValueError):
            return
        for frame in frames:
            frame.pts = round(Fraction(out_ms) / 1000 * stream.codec_context.sample_rate)
            frame.time_base = Fraction(1, stream.codec_context.sample_rate)
            self.container.mux(stream.encode(frame))
            out_ms += 1000.0 * frame.samples / frame.sample_rate

    def finish(self, until_ms: float) -> None:
        """The sound up to `until_ms` (the end of the last frame: a run stopped early keeps the sound of its
        picture only), the encoders flushed, the source closed."""
        try:
            self.feed(until_ms)
            for stream, copied in self.outputs.values():
                if not copied:
                    self.container.mux(stream.encode(None))
        finally:
            self.input.close()

    def close(self) -> None:
        self.input.close()
