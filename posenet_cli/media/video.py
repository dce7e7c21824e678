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
from pathlib import Path
from typing import Any

# Read by OpenCV when its FFmpeg backend first starts, so it must be set before the first VideoCapture.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ..errors import WriteError, write_error  # noqa: E402
from ..files import publish, temp_path, unwritable  # noqa: E402
from ..stream.frames import BrokenFrame, Frame  # noqa: E402
from .encoders import Encoder, open_encoder, quiet_opencv  # noqa: E402
from .inputs import MediaError  # noqa: E402

DEFAULT_FPS = 30.0


def frame_index(seconds: float, fps: float) -> int:
    """The first source frame at or after `seconds` (frame i is shown at i / fps): how --start and --end
    become frame positions, the same for every command and every part of a split video."""
    return math.ceil(seconds * fps - 1e-9)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class VideoReader:
    """Frames of a video file, a stream URL or a camera (an int, or a digit string that is not a file).

    `start` and `end` are in seconds (`end` exclusive, None for the whole source) and `every` keeps
    every Nth frame. For files and URLs with a known frame count, `Frame.index` counts frames from the
    start of the source and `time_ms = index * 1000 / fps`, so results are deterministic; for cameras
    and live streams `time_ms` is measured from the first frame and `start`/`end` apply to that clock.

    The first frame is read when the reader opens: an unopenable source or one without frames (in the
    range) raises MediaError at once, and `width`/`height` are the real frame size. A wanted frame that
    fails to decode in the middle is yielded as a `BrokenFrame` in its place (once a later frame decodes:
    failures that run to the end of the source are taken as its end).
    """

    def __init__(self, source: str | int | os.PathLike[str], *, start: float = 0.0, end: float | None = None,
                 every: int = 1, max_errors_in_a_row: int = 30) -> None:
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
        self.start, self.end, self.every = float(start), end, int(every)
        self.max_errors_in_a_row = max(1, int(max_errors_in_a_row))
        self._queue: collections.deque[Frame | BrokenFrame] = collections.deque()  # read, not yet yielded
        self._cap: cv2.VideoCapture | None = self._open()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps: float = float(fps) if math.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count: int = int(count) if math.isfinite(count) and count > 0 and not self.is_device else 0
        self.live: bool = self.is_device or (self.is_url and self.frame_count == 0)
        # Files: frame positions [first, stop) of the source. Live sources: times, checked per frame.
        self._first_index = 0 if self.live else frame_index(self.start, self.fps)
        self._stop_index = None if self.live or end is None else frame_index(end, self.fps)
        self._clock0: float | None = None
        self._index = 0  # the source position the next grab reads
        self._done = False
        try:
            first = self._read() if self._seek_to_start() else None
        except BaseException:
            self.close()
            raise
        if first is None:
            self.close()
            where = f" after {self.start:g}s" if self.start > 0 else ""
            raise MediaError(f"video {self._name} has no frames{where}")
        self.height, self.width = first.image.shape[:2]

    def frame_range(self) -> tuple[int, int] | None:
        """The source frames [first, stop) this reader covers (before `every`), or None for a live source
        or an unknown frame count."""
        if self.live or not self.frame_count:
            return None
        stop = self.frame_count if self._stop_index is None else min(self.frame_count, self._stop_index)
        return self._first_index, max(self._first_index, stop)

    @property
    def _name(self) -> str:
        return f"device {self.source}" if self.is_device else repr(self.source)

    def _open(self) -> cv2.VideoCapture:
        src = self.source
        if isinstance(src, str) and not self.is_url:
            p = Path(src)
            if not p.exists():
                raise MediaError(f"cannot open video {src!r}: no such file")
            if p.is_dir():
                raise MediaError(f"cannot open video {src!r}: it is a directory")
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

    def _seek_to_start(self) -> bool:
        """Position a file at its first wanted frame (seek, else decode forward); False if past the end."""
        target = self._first_index
        if target == 0:
            return True
        if self.frame_count and target >= self.frame_count:
            return False
        assert self._cap is not None
        if self._cap.set(cv2.CAP_PROP_POS_FRAMES, target) and int(self._cap.get(cv2.CAP_PROP_POS_FRAMES)) == target:
            self._index = target
            return True
        self._cap.release()  # the backend cannot seek: reopen and decode forward
        self._cap = self._open()
        while self._index < target:
            if not self._cap.grab():
                return False
            self._index += 1
        return True

    def _time_ms(self, index: int) -> float:
        if not self.live:
            return index * 1000.0 / self.fps
        now = time.monotonic()
        if self._clock0 is None:
            self._clock0 = now
        return (now - self._clock0) * 1000.0

    def _read(self) -> Frame | None:
        """Queue the next kept frame, after the wanted frames before it that failed to decode; returns
        it, or None at the end."""
        assert self._cap is not None
        # A live source may stall on each failed read (up to the read timeout): give up sooner.
        limit = min(self.max_errors_in_a_row, 5) if self.live else self.max_errors_in_a_row
        failed = 0
        broken: list[int] = []
        while True:
            index = self._index
            if self._stop_index is not None and index >= self._stop_index:
                return None
            wanted = (index - self._first_index) % self.every == 0
            ok = self._cap.grab()
            image = None
            if ok and wanted:
                ok, image = self._cap.retrieve()
                ok = ok and image is not None and image.size > 0
            self._index += 1
            if not ok:  # a broken frame, or the end: only a later good frame tells which
                failed += 1
                if wanted:
                    broken.append(index)
                if failed >= limit or (self.frame_count and index >= self.frame_count):
                    return None  # past the declared frame count a failure is the end
                continue
            if failed:
                self._queue.extend(BrokenFrame(i) for i in broken)
                failed = 0
                broken = []
            if not wanted:
                continue
            time_ms = self._time_ms(index)
            if self.live:
                if time_ms < self.start * 1000.0:
                    continue
                if self.end is not None and time_ms >= self.end * 1000.0:
                    return None
            frame = Frame(index, time_ms, _to_rgb(image))
            self._queue.append(frame)
            return frame

    def __iter__(self) -> Iterator[Frame | BrokenFrame]:
        return self

    def __next__(self) -> Frame | BrokenFrame:
        if not self._queue and not self._done and self._cap is not None and self._read() is None:
            self._done = True
        if not self._queue:
            raise StopIteration
        return self._queue.popleft()

    def close(self) -> None:
        """Release the source (idempotent)."""
        cap, self._cap = getattr(self, "_cap", None), None
        if cap is not None:
            cap.release()
        self._done = True
        if hasattr(self, "_queue"):
            self._queue.clear()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


VIDEO_EXTENSIONS_OUT = (".mp4", ".m4v", ".mov", ".webm", ".avi")  # what VideoWriter writes


class VideoWriter:
    """Writes RGB frames to an .mp4/.m4v/.mov (H.264), .webm (VP9) or .avi (MJPG) file at a fixed fps
    and size, through the best encoder available (media.encoders: PyAV, else OpenCV's mp4v/VP8, which
    `browser_playable` tells apart).

    Frames go to a hidden temporary file beside `path`, renamed to `path` by `close()`. Used as a
    context manager it closes on any exit, an exception or Ctrl-C included, so the frames written so far
    are kept as a playable file. A writer closed with no frames leaves no file. (yuv420p needs even sizes:
    an odd width or height loses its last column or row.)
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, width: int, height: int, *,
                 encoder: str = "auto") -> None:
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
        self._tmp = temp_path(self.path, f".part{ext}")  # the container is chosen by the extension
        try:
            self._encoder: Encoder | None = open_encoder(self._tmp, self.fps, self.width, self.height, encoder)
        except ValueError as e:
            self._tmp.unlink(missing_ok=True)
            raise MediaError(f"cannot write video '{self.path}': {e}") from None
        self.codec = self._encoder.codec
        self.browser_playable = self._encoder.browser_playable
        self.fallback_reason = self._encoder.fallback_reason  # why not PyAV, where PyAV would have written it

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 frame of the writer's size."""
        if self._encoder is None:
            raise MediaError(f"cannot write to video '{self.path}': it is closed")
        if rgb.shape[:2] != (self.height, self.width) or rgb.dtype != np.uint8:
            raise MediaError(f"cannot write to video '{self.path}': frame is {rgb.dtype} "
                             f"{rgb.shape[1]}x{rgb.shape[0]}, the video is uint8 {self.width}x{self.height}")
        if rgb.ndim == 2:
            rgb = cv2.cvtColor(rgb, cv2.COLOR_GRAY2RGB)
        try:
            self._encoder.write(rgb)
        except OSError as e:
            self._failed = True
            raise write_error(self.path, e, f"{self.frames_written} frames written before it") from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (idempotent): the container is finalised and moved to `path`. When that fails
        (a full disk, say) the unfinished file, which no player could open, is removed and WriteError says so."""
        encoder, self._encoder = self._encoder, None
        if encoder is None:
            return
        try:
            encoder.close()
            if self.frames_written == 0:
                self._tmp.unlink(missing_ok=True)
                return
            publish(self._tmp, self.path)
        except OSError as e:
            self._tmp.unlink(missing_ok=True)
            removed = f"its {self.frames_written} frames could not be finished as a video"
            if self._failed:  # the write that failed has said why
                raise WriteError(f"{self.path} removed: {removed}") from None
            raise write_error(self.path, e, f"removed: {removed}") from None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
