"""The encoders behind `media.video.VideoWriter`: browser-playable video through PyAV, else OpenCV's own.

OpenCV's wheels carry no software H.264 encoder, and the MPEG-4 Part 2 (`mp4v`) they write in MP4 is not
played by browsers; their VP9 costs 0.5-1 s a 720p frame. PyAV (the `av` package, FFmpeg with libx264
and libvpx) encodes H.264 for about what `mp4v` costs (docs/benchmarks.md, "Annotated video"), so:

| extension | encoder, in order of preference |
|---|---|
| .mp4, .m4v, .mov | PyAV H.264 (libx264 ultrafast, CRF 23, yuv420p, moov first); PyAV VP9 (.mp4 only); OpenCV mp4v |
| .webm | PyAV VP9 (libvpx realtime); OpenCV VP8 |
| .avi | OpenCV MJPG |

Both kinds raise OSError when a frame or the finished file cannot be written. OpenCV reports nothing but
a False from `write`, and can leave a broken file with every write "done" (a disk that fills while the
index is written), so its file is read back when it closes. `av` is imported only here, and only after
cv2 (importing it first makes OpenCV's windows hang: PyAV-Org/PyAV#978).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

try:
    import resource
except ImportError:  # not POSIX
    resource = None  # type: ignore[assignment]

OPENCV_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".webm": "VP80", ".avi": "MJPG"}
PYAV_CODECS = {".mp4": ("libx264", "libvpx-vp9"), ".m4v": ("libx264",), ".mov": ("libx264",),
               ".webm": ("libvpx-vp9",)}
CODEC_OPTIONS = {
    # ultrafast: the cheapest preset, about mp4v's cost; veryfast files are 4x smaller but cost 2-3x the CPU.
    "libx264": {"preset": "ultrafast", "crf": "23"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1", "crf": "32", "b": "0"},
}
CODEC_NAMES = {"libx264": "h264", "libvpx-vp9": "vp9", "mp4v": "mp4v", "VP80": "vp8", "MJPG": "mjpg"}
BROWSER_PLAYABLE = {"h264", "vp9", "vp8"}


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log lines (e.g. each backend's warning when a camera index is absent)."""
    log = cv2.utils.logging
    previous = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(previous)


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null: OpenCV's FFmpeg writer prints a harmless line ("tag ... is not
    supported with codec id ... and format 'webm'") with fprintf, past its own log levels."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def pyav() -> Any | None:
    """The `av` module, or None where it is not installed (or does not load)."""
    try:
        import av
    except ImportError:
        return None
    return av


class Encoder:
    """Frames into one video file: `codec` (h264, vp9, mp4v, vp8, mjpg) and whether browsers play it."""

    codec: str = ""
    fallback_reason: str = ""  # why PyAV did not write this file, when it would have

    @property
    def browser_playable(self) -> bool:
        return self.codec in BROWSER_PLAYABLE

    def write(self, rgb: np.ndarray) -> None:
        """Encode one RGB uint8 frame; OSError if it cannot be written."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file; OSError if it cannot be."""
        raise NotImplementedError


class PyAVEncoder(Encoder):
    """H.264 or VP9 through PyAV. yuv420p needs even sides: an odd last row or column is dropped, as
    OpenCV's writer does."""

    def __init__(self, av: Any, path: Path, fps: float, width: int, height: int, codecs: tuple[str, ...]) -> None:
        self.av = av
        self.width, self.height = width & ~1, height & ~1
        if self.width < 2 or self.height < 2:
            raise ValueError(f"{width}x{height} is too small for yuv420p video")
        options = {"movflags": "+faststart"} if path.suffix.lower() != ".webm" else {}
        self.container = av.open(str(path), "w", options=options)
        for name in codecs:
            try:
                self.stream = self.container.add_stream(name, rate=Fraction(fps).limit_denominator(1001))
            except (av.FFmpegError, ValueError):  # this build lacks the encoder
                continue
            self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, "yuv420p"
            self.stream.options = dict(CODEC_OPTIONS[name])
            self.codec = CODEC_NAMES[name]
            break
        else:
            self.container.close()
            raise ValueError(f"this PyAV has none of the encoders {', '.join(codecs)}")
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        yuv = cv2.cvtColor(np.ascontiguousarray(rgb[:self.height, :self.width]), cv2.COLOR_RGB2YUV_I420)
        frame = self.av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self.frames
        self.frames += 1
        self._encode(frame)

    def _encode(self, frame: Any) -> None:
        try:
            self.container.mux(self.stream.encode(frame))
        except self.av.FFmpegError as e:
            raise _os_error(e) from None

    def close(self) -> None:
        try:
            self._encode(None)  # the frames the encoder still holds
        finally:
            try:
                self.container.close()
            except self.av.FFmpegError as e:
                raise _os_error(e) from None


def _os_error(e: Exception) -> OSError:
    """An FFmpeg error as the OSError it stands for (PyAV raises most I/O errors as OSError already)."""
    if isinstance(e, OSError):
        return e
    code = getattr(e, "errno", None) or errno.EIO
    return OSError(code, getattr(e, "strerror", None) or str(e))


class OpenCVEncoder(Encoder):
    """OpenCV's writer (mp4v, VP8 or MJPG by extension), checked: a failed write is an OSError, and the
    closed file must read back with every frame."""

    def __init__(self, path: Path, fps: float, width: int, height: int) -> None:
        self.path = path
        fourcc = OPENCV_FOURCC[path.suffix.lower()]
        with quiet_opencv(), _stderr_silenced():
            self.writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
        if not self.writer.isOpened():
            self.writer.release()
            raise ValueError(f"no encoder for {fourcc} in this OpenCV")
        self.codec = CODEC_NAMES[fourcc]
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        with quiet_opencv():  # its warning on a failed write is ours to report, in one line
            written = self.writer.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        if not written:
            raise self._failure("OpenCV could not write the frame")
        self.frames += 1

    def close(self) -> None:
        self.writer.release()
        if self.frames:
            capture = cv2.VideoCapture(str(self.path))
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
            capture.release()
            if count < self.frames:
                raise self._failure(f"the finished file reads back with {count} of {self.frames} frames")

    def _failure(self, what: str) -> OSError:
        """OpenCV gives no cause, so it is inferred: a full disk when the folder has no space left, a file
        size limit (RLIMIT_FSIZE) when the file has reached it (less FFmpeg's 32 kB write buffer), else an
        I/O error."""
        try:
            full = os.statvfs(self.path.parent).f_bavail == 0
            size = self.path.stat().st_size
        except OSError:
            full, size = False, 0
        at_limit = False
        if resource is not None:
            limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
            at_limit = limit != resource.RLIM_INFINITY and size > limit - (1 << 15)
        code = errno.ENOSPC if full else errno.EFBIG if at_limit else errno.EIO
        return OSError(code, f"{os.strerror(code)} ({what})")


def open_encoder(path: Path, fps: float, width: int, height: int, encoder: str = "auto") -> Encoder:
    """The best encoder for `path`'s extension (`encoder`: "auto", or only "pyav" / only "opencv");
    ValueError (one line) when none can write it."""
    ext = path.suffix.lower()
    reasons = []
    if encoder in ("auto", "pyav") and ext in PYAV_CODECS:
        av = pyav()
        if av is not None:
            try:
                return PyAVEncoder(av, path, fps, width, height, PYAV_CODECS[ext])
            except (ValueError, av.FFmpegError) as e:
                with contextlib.suppress(OSError):
                    os.unlink(path)
                reasons.append(str(e))
        else:
            reasons.append("PyAV is not installed")
    if encoder in ("auto", "opencv") and ext in OPENCV_FOURCC:
        try:
            fallback = OpenCVEncoder(path, fps, width, height)
        except ValueError as e:
            reasons.append(str(e))
        else:
            fallback.fallback_reason = "; ".join(reasons)
            return fallback
    raise ValueError("; ".join(reasons) or f"no {encoder} encoder writes {ext}")
