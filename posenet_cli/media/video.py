"""Video in and out: a frame reader for files, stream URLs and cameras, and a video file writer.

Frames are RGB uint8 [height, width, 3]. A frame that fails to decode in the middle of a source is not the
end: the reader yields a `BrokenFrame` in its place and goes on. FFmpeg's own log lines are silenced
(``OPENCV_FFMPEG_LOGLEVEL=-8`` unless already set) so a bad input gives one line on stderr, not a page of
decoder noise; set ``OPENCV_FFMPEG_LOGLEVEL=32`` to see them.
"""

from __future__ import annotations

import collections
import math
import os
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

# Read by OpenCV when its FFmpeg backend first starts, so it must be set before the first VideoCapture.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import WriteError, write_error  # noqa: E402
from ..files import publish, temp_path, unwritable  # noqa: E402
from ..stream.frames import BrokenFrame, Frame  # noqa: E402
from .audio import AudioSource  # noqa: E402
from .decoders import Decoded, PyAVFrames, Timing  # noqa: E402
from .encoders import Encoder, open_encoder, pyav, quiet_opencv  # noqa: E402
from .inputs import MediaError  # noqa: E402

DEFAULT_FPS = 30.0
EPSILON_MS = 1e-6  # a frame exactly at --start is in, one exactly at --end is out, whatever the float rounding


def frame_index(seconds: float, fps: float) -> int:
    """The first frame at or after `seconds` on a constant-rate grid of `fps` (frame i at i / fps): an
    estimate, for sizes and progress; the reader selects frames by their real times."""
    return math.ceil(seconds * fps - 1e-9)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class NoFramesError(MediaError):
    """A source without frames (in the range asked for)."""


class VideoReader:
    """Frames of a video file, a stream URL or a camera (an int, or a digit string that is not a file).

    Files and URLs are decoded by PyAV (media.decoders): `Frame.time_ms` is the frame's presentation time
    (PTS x time base) from the stream's start, `Frame.index` its place in decode order from the start of
    the source, and frames come upright (the display matrix applied). Cameras are read by OpenCV and
    timed by the capture clock from their first frame. `start` and `end` are in seconds of that time
    (`end` exclusive, None for the whole source), `first` the first index kept (a resumed run), and
    `every` keeps every Nth position from the first one in range (from index `grid`, where given: a part
    of a run split by time keeps the run's grid). `timing` says how the source is timed.

    The first frame is read when the reader opens: an unopenable source or one without frames (in the
    range) raises MediaError at once, and `width`/`height` are the real (upright) frame size. A wanted
    frame that fails to decode in the middle is yielded as a `BrokenFrame` in its place (once a later frame
    decodes: failures that run to the end of the source are taken as its end).
    """

    def __init__(self, source: str | int | os.PathLike[str], *, start: float = 0.0, end: float | None = None,
                 every: int = 1, first: int = 0, grid: int | None = None, max_errors_in_a_row: int = 30) -> None:
        if isinstance(source, os.PathLike):
            source = os.fspath(source)
        if isinstance(source, str) and source.strip().isdigit() and not Path(source).exists():
            source = int(source)
        self.source: str | int = source
        self.is_device = isinstance(source, int)
        self.is_url = isinstance(source, str) and "://" in source
        if every < 1:
            raise MediaError(f"every must be 1 or more, got {every}")
        if start < 0:
            raise MediaError(f"start must be 0 or more seconds, got {start}")
        if end is not None and end <= start:
            raise MediaError(f"end ({end:g}s) must be after start ({start:g}s)")
        self.start, self.end, self.every, self.first = float(start), end, int(every), max(0, int(first))
        self.max_errors_in_a_row = max(1, int(max_errors_in_a_row))
        self._queue: collections.deque[Frame | BrokenFrame] = collections.deque()  # read, not yet yielded
        self._cap: cv2.VideoCapture | None = None
        self._decoder: PyAVFrames | None = None
        self._open()
        self._anchor: int | None = None  # the index of the first position in range
        self._grid = grid  # where the --every grid starts (None: at the anchor); a part of a split run: the run's
        self._done = False
        try:
            self._items = self._file_frames() if self._decoder is not None else self._capture_frames()
            first_frame = self._read()
        except BaseException:
            self.close()
            raise
        if first_frame is None:
            self.close()
            where = f" after {self.start:g}s" if self.start > 0 else ""
            raise NoFramesError(f"video {self._name} has no frames{where}")
        self.height, self.width = first_frame.image.shape[:2]
        self.first_index, self.first_ms = first_frame.index, first_frame.time_ms  # the first frame kept

    def _open(self) -> None:
        """Open the source: PyAV for files and URLs, OpenCV for cameras (and for files where PyAV is not
        installed: times from CAP_PROP_POS_MSEC); sets fps, frame_count, duration_s, live and timing."""
        src = self.source
        if isinstance(src, str) and not self.is_url:
            p = Path(src)
            if not p.exists():
                raise MediaError(f"cannot open video {src!r}: no such file")
            if p.is_dir():
                raise MediaError(f"cannot open video {src!r}: it is a directory")
        if not self.is_device and pyav() is not None:
            self._decoder = PyAVFrames(str(src), is_url=self.is_url)
            self.fps: float = self._decoder.fps or DEFAULT_FPS
            self.frame_count: int = self._decoder.frame_count
            self.duration_s: float | None = self._decoder.duration_s
            self.live: bool = self.is_url and not self.frame_count and not self.duration_s
            self.timing = Timing(self._decoder.time_base, self.fps, self._decoder.variable_rate)
            return
        self._cap = self._open_capture()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if math.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = int(count) if math.isfinite(count) and count > 0 and not self.is_device else 0
        self.duration_s = self.frame_count / self.fps if self.frame_count else None
        self.live = self.is_device or (self.is_url and self.frame_count == 0)
        self.timing = Timing(None if self.is_device else Fraction(1, 1000), self.fps, False)

    def settings(self) -> dict[str, Any]:
        """What results record of the source, enough to re-sync them with it: the (upright) frame size, the
        time base of its timestamps, its average frame rate and whether the rate varies."""
        return {"width": self.width, "height": self.height, **self.timing.settings()}

    def sound(self) -> AudioSource | None:
        """The source's sound, for an annotated video of the frames read (cut to `end`), or None: it has
        none, or it is a camera or a stream URL (a second connection would not be in sync)."""
        return self._decoder.sound(None if self.end is None else self.end * 1000.0) if self._decoder else None

    def frame_range(self) -> tuple[int, int] | None:
        """The source frames [first, stop) this reader covers (before `every`), estimated on the average
        rate, or None for a live source or an unknown frame count."""
        if self.live or not self.frame_count:
            return None
        first = max(self.first, frame_index(self.start, self.fps))
        stop = self.frame_count if self.end is None else min(self.frame_count, frame_index(self.end, self.fps))
        return first, max(first, stop)

    @property
    def _name(self) -> str:
        return f"device {self.source}" if self.is_device else repr(self.source)

    def _open_capture(self) -> cv2.VideoCapture:
        src = self.source
        cap = None
        with quiet_opencv():
            try:
                if self.is_url:
                    cap = cv2.VideoCapture(src, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 15000,
                                                                 cv2.CAP_PROP_READ_TIMEOUT_MSEC, 15000])
                else:
                    cap = cv2.VideoCapture(src)
            except cv2.error:
                pass
        if cap is None or not cap.isOpened():
            if cap is not None:
                cap.release()
            if self.is_device:
                raise MediaError(f"cannot open video device {src} (no such camera, or it is busy)")
            if self.is_url:
                raise MediaError(f"cannot open video stream {src!r}")
            raise MediaError(f"cannot open video {src!r}: not a video or an unsupported format")
        return cap

    def _file_frames(self) -> Iterator[Decoded]:
        assert self._decoder is not None
        start_ms, first = self.start * 1000.0, self.first

        def skip(next_key_ms: float, next_index: int) -> bool:  # a whole group before the range
            return next_key_ms <= start_ms + EPSILON_MS or next_index <= first

        return self._decoder.frames(skip if start_ms > 0 or first > 0 else None)

    def _capture_frames(self) -> Iterator[Decoded]:
        """Frames through OpenCV: a camera's timed by the capture clock (ms from its first frame), a file's
        by CAP_PROP_POS_MSEC; a failed read has no image, and past a file's frame count it is the end."""
        clock0: float | None = None
        index = 0
        while self._cap is not None:
            ok = self._cap.grab()
            image = None
            if ok:
                ok, image = self._cap.retrieve()
                ok = ok and image is not None and image.size > 0
            if not ok and self.frame_count and index >= self.frame_count:
                return
            if self.live:
                now = time.monotonic()
                clock0 = now if clock0 is None else clock0
                time_ms: float | None = (now - clock0) * 1000.0
            else:
                time_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC) if ok else None
            yield Decoded(index, time_ms, _to_rgb(image) if ok else None)
            index += 1

    def _in_range(self, item: Decoded) -> bool | None:
        """True in range, False before it, None at or past its end."""
        t = item.time_ms
        if t is not None and self.end is not None and t >= self.end * 1000.0 - EPSILON_MS:
            return None
        if item.index < self.first:
            return False
        if t is None:  # a broken packet without a time: in range once the range has begun
            return self._anchor is not None
        return t >= self.start * 1000.0 - EPSILON_MS

    def _read(self) -> Frame | None:
        """Queue the next kept frame, after the wanted frames before it that failed to decode; returns
        it, or None at the end."""
        # A live source may stall on each failed read (up to the read timeout): give up sooner.
        limit = min(self.max_errors_in_a_row, 5) if self.live else self.max_errors_in_a_row
        failed = 0
        broken: list[int] = []
        for item in self._items:
            where = self._in_range(item)
            if where is None:
                return None
            if not where:
                continue
            self._anchor = item.index if self._anchor is None else self._anchor
            wanted = (item.index - (self._anchor if self._grid is None else self._grid)) % self.every == 0
            if item.image is None:  # a broken frame, or the end: only a later good frame tells which
                failed += 1
                if wanted:
                    broken.append(item.index)
                if failed >= limit:
                    return None
                continue
            if failed:
                self._queue.extend(BrokenFrame(i) for i in broken)
                failed, broken = 0, []
            if wanted:
                frame = Frame(item.index, float(item.time_ms or 0.0), item.image)
                self._queue.append(frame)
                return frame
        return None

    def __iter__(self) -> Iterator[Frame | BrokenFrame]:
        return self

    def __next__(self) -> Frame | BrokenFrame:
        if not self._queue and not self._done and self._read() is None:
            self._done = True
        if not self._queue:
            raise StopIteration
        return self._queue.popleft()

    def close(self) -> None:
        """Release the source (idempotent)."""
        cap, self._cap = getattr(self, "_cap", None), None
        if cap is not None:
            cap.release()
        decoder, self._decoder = getattr(self, "_decoder", None), None
        if decoder is not None:
            decoder.close()
        self._done = True
        if hasattr(self, "_queue"):
            self._queue.clear()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


VIDEO_EXTENSIONS_OUT = (".mp4", ".m4v", ".mov", ".webm", ".avi")  # what VideoWriter writes


class VideoWriter:
    """Writes RGB frames to an .mp4/.m4v/.mov (H.264), .webm (VP9) or .avi (MJPG) file of a fixed size,
    through the best encoder available (media.encoders: PyAV, else OpenCV's mp4v/VP8, which
    `browser_playable` tells apart).

    With a `time_base` (PyAV) each frame keeps the time given to `write` (a variable rate stays variable),
    else frames are 1/fps apart; `audio` is the source's sound to copy beside them (`sound`: whether it is
    in the file). MP4/MOV through PyAV are fragmented (`kill_safe`): written at `path` from the start, and a killed
    run leaves it playable to its last fragment. Other files are made under a hidden temporary
    name, renamed to `path` by `close()`. Used as a context manager it closes on any exit, an exception or
    Ctrl-C included, so the frames written so far are kept as a playable file. A writer closed with no
    frames leaves no file. (yuv420p needs even sizes: an odd width or height loses its last column or row.)
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, width: int, height: int, *,
                 encoder: str = "auto", time_base: Fraction | None = None, audio: AudioSource | None = None
                 ) -> None:
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in VIDEO_EXTENSIONS_OUT:
            raise MediaError(f"cannot write video '{self.path}': unsupported extension "
                             f"{ext or '(none)'!r} (use {', '.join(VIDEO_EXTENSIONS_OUT)})")
        if not self.path.parent.is_dir():
            raise MediaError(f"cannot write video '{self.path}': directory '{self.path.parent}' does not exist")
        reason = unwritable(self.path.parent)  # also a read-only file system or a quota, which os.access misses
        if reason:
            raise MediaError(f"cannot write video '{self.path}': directory '{self.path.parent}': {reason}")
        if not (math.isfinite(fps) and fps > 0):
            raise MediaError(f"cannot write video '{self.path}': bad frame rate {fps}")
        if width < 1 or height < 1:
            raise MediaError(f"cannot write video '{self.path}': bad frame size {width}x{height}")
        self.fps, self.width, self.height = float(fps), int(width), int(height)
        self.frames_written = 0
        self._failed = False  # a frame could not be written
        # A fragmented file is written in place (it plays at any moment); others under a temporary name: the
        # encoder that opens says which (an OpenCV fallback for .mp4 is not fragmented).
        part = temp_path(self.path, f".part{ext}")  # the extension: the container
        try:
            self._encoder: Encoder | None = open_encoder(self.path, self.fps, self.width, self.height, encoder,
                                                         time_base=time_base, audio=audio, part=part)
        except ValueError as e:
            part.unlink(missing_ok=True)
            raise MediaError(f"cannot write video '{self.path}': {e}") from None
        self._file = self._encoder.path
        self.codec = self._encoder.codec
        self.browser_playable = self._encoder.browser_playable
        self.fallback_reason = self._encoder.fallback_reason  # why not PyAV, where PyAV would have written it
        self.kill_safe, self.sound = self._encoder.kill_safe, self._encoder.sound
        self.audio = audio  # the sound asked for: not in the file (`sound` False) where the encoder writes none

    def write(self, rgb: np.ndarray, time_ms: float | None = None) -> None:
        """Append one RGB uint8 frame of the writer's size, shown at `time_ms` (where frames keep times)."""
        if self._encoder is None:
            raise MediaError(f"cannot write to video '{self.path}': it is closed")
        if rgb.shape[:2] != (self.height, self.width) or rgb.dtype != np.uint8:
            raise MediaError(f"cannot write to video '{self.path}': frame is {rgb.dtype} "
                             f"{rgb.shape[1]}x{rgb.shape[0]}, the video is uint8 {self.width}x{self.height}")
        if rgb.ndim == 2:
            rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB)
        try:
            self._encoder.write(rgb, time_ms)
        except OSError as e:
            self._failed = True
            raise write_error(self.path, e, f"{self.frames_written} frames written before it") from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (idempotent): the container is finalised and moved to `path`. When that fails
        (a full disk, say) the unfinished file is removed and WriteError says so."""
        encoder, self._encoder = self._encoder, None
        if encoder is None:
            return
        try:
            encoder.close()
            if self.frames_written == 0:
                self._file.unlink(missing_ok=True)
                return
            if self._file != self.path:
                publish(self._file, self.path)
        except OSError as e:
            self._file.unlink(missing_ok=True)
            removed = f"its {self.frames_written} frames could not be finished as a video"
            if self._failed:  # the write that failed has said why
                raise WriteError(f"{self.path} removed: {removed}") from None
            raise write_error(self.path, e, f"removed: {removed}") from None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def annotated_video(path: str | os.PathLike[str], reader: VideoReader, *, sound: bool = True) -> VideoWriter:
    """The writer for an annotated copy of what `reader` reads: its upright size, each frame's time, and
    its sound unless `sound` is False (`--no-audio`); the nominal rate is that of the frames kept."""
    return VideoWriter(path, reader.fps / reader.every, reader.width, reader.height, time_base=reader.timing.clock,
                       audio=reader.sound() if sound else None)
