"""Video clips made for tests with PyAV, with the properties phone videos have: a variable frame rate,
a sound track, a display matrix (rotation). Frames show a real picture (samples/astronaut.png, one person)
so the model finds someone, shifted a little each frame so the frames differ."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
PHONE_DELTAS_MS = [33] * 20 + [100] * 20  # 20 frames 33 ms apart, then 20 frames 100 ms apart


def picture(width: int = 320, height: int = 240) -> np.ndarray:
    """The astronaut sample as RGB at `width` x `height`."""
    bgr = cv2.imread(str(REPO / "samples" / "astronaut.png"))
    return cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)[:, :, ::-1].copy()


def frames_of(image: np.ndarray, n: int) -> list[np.ndarray]:
    """`n` frames of `image`, each shifted one more pixel to the right."""
    return [np.roll(image, i, axis=1) for i in range(n)]


def make_clip(path: Path, deltas_ms: list[int], *, images: list[np.ndarray] | None = None, audio: bool = True,
              rotation: int = 0, time_base: Fraction = Fraction(1, 90000), gop: int = 12, lossless: bool = False
              ) -> list[float]:
    """Write an H.264 MP4 (AAC sound when `audio`) whose frame i is shown at sum(deltas_ms[:i]) ms, with a
    display matrix of `rotation` degrees (counter-clockwise, as FFmpeg's -display_rotation), `lossless`
    (qp 0, and 4:4:4 chroma: every step per pixel, so a picture rotated before or after decodes the same)
    or not; returns the frame times in ms as stored (PTS x time base)."""
    images = images if images is not None else frames_of(picture(), len(deltas_ms))
    height, width = images[0].shape[:2]
    container = av.open(str(path), "w")
    video = container.add_stream("libx264", rate=30)
    video.width, video.height, video.time_base = width, height, time_base
    video.pix_fmt = "yuv444p" if lossless else "yuv420p"
    video.codec_context.time_base = time_base
    video.options = {"g": str(gop), "bf": "0", **({"qp": "0"} if lossless else {})}
    if rotation:
        video.set_display_rotation(rotation)
    sound = None
    if audio:
        sound = container.add_stream("aac", rate=48000)
        sound.layout = "mono"
    times, t = [], 0
    for image, delta in zip(images, deltas_ms):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts, frame.time_base = round(Fraction(t, 1000) / time_base), time_base
        times.append(float(frame.pts * time_base * 1000))
        container.mux(video.encode(frame))
        t += delta
    container.mux(video.encode(None))
    if sound is not None:
        _add_tone(container, sound, t)
    container.close()
    return times


def _add_tone(container: av.container.OutputContainer, sound: av.AudioStream, ms: int, rate: int = 48000) -> None:
    """A 440 Hz tone of `ms` milliseconds into the stream `sound`."""
    n = rate * ms // 1000
    samples = (0.3 * np.sin(np.arange(n) * 2 * np.pi * 440 / rate)).astype(np.float32)[None]
    for k in range(0, n, 1024):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024]), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, k, Fraction(1, rate)
        container.mux(sound.encode(frame))
    container.mux(sound.encode(None))


def stored_times(path: Path, stream: str = "video") -> list[float]:
    """The presentation times (ms from the stream's start) of a file's frames, read by PyAV directly."""
    with av.open(str(path)) as container:
        s = container.streams.video[0] if stream == "video" else container.streams.audio[0]
        start = s.start_time or 0
        return sorted(float((f.pts - start) * s.time_base * 1000) for f in container.decode(s))


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the ISO-BMFF boxes in data[start:end]."""
    end = len(data) if end is None else end
    out = []
    while start + 8 <= end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[start + 8:start + 16])[0], 16
        elif size == 0:
            size = end - start
        out.append((kind, start + header, start + size))
        start += size
    return out
