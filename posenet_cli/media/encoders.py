"""The encoders behind `media.video.VideoWriter`: browser-playable video through PyAV, else OpenCV's own.

OpenCV's wheels carry no software H.264 encoder, and the MPEG-4 Part 2 (`mp4v`) they write in MP4 is not
played by browsers; their VP9 costs 0.5-1 s a 720p frame. PyAV (the `av` package, FFmpeg with libx264
and libvpx) encodes H.264 for about what `mp4v` costs (docs/benchmarks.md, "Annotated video"), so:

| extension | encoder, in order of preference |
|---|---|
| .mp4, .m4v, .mov | PyAV H.264 (libx264 ultrafast, CRF 23, yuv420p, fragmented); PyAV VP9 (.mp4 only); OpenCV mp4v |
| .webm | PyAV VP9 (libvpx realtime); OpenCV VP8 |
| .avi | OpenCV MJPG |

Only PyAV keeps the source's frame times and sound (media.audio); OpenCV's writer has a fixed rate and no sound.

Both kinds raise OSError when a frame or the finished file cannot be written. OpenCV reports nothing but
a False from `write`, and can leave a broken file with every write "done" (a disk that fills while the
index is written), so its file is read back when it closes. `av` is imported only here, and only after
cv2 (importing it first makes OpenCV's windows hang: PyAV-Org/PyAV#978).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .audio import AudioCopy, AudioSource

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
# MP4/MOV in fragments (moov first, a fragment at each key frame): what a killed run leaves still plays.
# frag_duration: a fragment at least every 0.5 s, so a kill loses at most that much of the picture.
# global_sidx: the finished file gets an index of its fragments after the moov, which browsers need for its
# duration and seeking (FFmpeg moves the fragments up to make room when the file is finished).
KILL_SAFE_EXTENSIONS = (".mp4", ".m4v", ".mov")
KEY_FRAME_S: float | None = 1.0  # seconds between key frames, where seeks land (None: the codec's own)
KILL_SAFE = {"movflags": "+frag_keyframe+empty_moov+default_base_moof+global_sidx", "frag_duration": "500000",
             "flush_packets": "1"}


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

    path: Path
    codec: str = ""
    fallback_reason: str = ""  # why PyAV did not write this file, when it would have
    kill_safe: bool = False  # a file cut off at any point plays up to there (fragmented MP4)
    sound: bool = False  # the source's sound is in it

    @property
    def browser_playable(self) -> bool:
        return self.codec in BROWSER_PLAYABLE

    def write(self, rgb: np.ndarray, time_ms: float | None = None) -> None:
        """Encode one RGB uint8 frame shown at `time_ms` (where the encoder keeps times); OSError if it
        cannot be written."""
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file; OSError if it cannot be."""
        raise NotImplementedError


class PyAVEncoder(Encoder):
    """H.264 or VP9 through PyAV, with the source's sound (`audio`, media.audio). yuv420p needs even sides:
    an odd last row or column is dropped, as OpenCV's writer does.

    With a `time_base` each frame keeps its time (`write(rgb, time_ms)`, from the first frame's), so a
    variable-rate source keeps its timing; without, frames are 1/fps apart. MP4 and MOV are written
    fragmented (FFmpeg's frag_keyframe+empty_moov: the index first, a fragment at each key frame, one a
    second, and every 0.5 s), so a killed run leaves a file that plays to its last fragment; the finished file has an
    index of its fragments (sidx) after the moov, and seeks."""

    def __init__(self, av: Any, path: Path, fps: float, width: int, height: int, codecs: tuple[str, ...], *,
                 time_base: Fraction | None = None, audio: AudioSource | None = None) -> None:
        self.av, self.path = av, path
        self.width, self.height = width & ~1, height & ~1
        if self.width < 2 or self.height < 2:
            raise ValueError(f"{width}x{height} is too small for yuv420p video")
        ext = path.suffix.lower()
        self.kill_safe = ext in KILL_SAFE_EXTENSIONS
        # flush_packets: each packet reaches the file at once, not a 32 kB buffer later (a kill loses none)
        self.container = av.open(str(path), "w", options=KILL_SAFE if self.kill_safe else {})
        rate = Fraction(fps).limit_denominator(1001)
        self.time_base = time_base or 1 / rate
        self.timed = time_base is not None
        for name in codecs:
            try:
                self.stream = self.container.add_stream(name, rate=rate)
            except (av.FFmpegError, ValueError):  # this build lacks the encoder
                continue
            self.stream.width, self.stream.height, self.stream.pix_fmt = self.width, self.height, "yuv420p"
            self.stream.time_base = self.stream.codec_context.time_base = self.time_base
            self.stream.options = dict(CODEC_OPTIONS[name])
            if KEY_FRAME_S:  # a key frame every KEY_FRAME_S, where seeks land (fragments also come every 0.5 s)
                self.stream.options["g"] = str(max(1, round(fps * KEY_FRAME_S)))
            self.codec = CODEC_NAMES[name]
            break
        else:
            self.container.close()
            raise ValueError(f"this PyAV has none of the encoders {', '.join(codecs)}")
        self.frames = 0
        self.first_ms: float | None = None
        self.last_pts = -1
        self.step = max(1, round(1 / (rate * self.time_base)))  # the longest a frame is shown, in time_base
        self.audio = AudioCopy(av, audio, self.container, ext) if audio is not None else None
        self.sound = bool(self.audio and self.audio.outputs)

    def write(self, rgb: np.ndarray, time_ms: float | None = None) -> None:
        yuv = cv2.cvtColor(np.ascontiguousarray(rgb[:self.height, :self.width]), cv2.COLOR_RGB2YUV_I420)
        frame = self.av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        if self.timed and time_ms is not None:
            if self.first_ms is None:
                self.first_ms = time_ms
                if self.audio is not None:
                    self.audio.start(time_ms)
            pts = round(Fraction(time_ms - self.first_ms) / 1000 / self.time_base)
        else:
            pts = self.frames
            if self.first_ms is None and self.audio is not None:
                self.first_ms = 0.0
                self.audio.start(0.0)
        pts = max(pts, self.last_pts + 1)  # strictly increasing, whatever the source
        if self.frames:
            self.step = max(self.step, pts - self.last_pts)
        frame.pts = self.last_pts = pts
        self.frames += 1
        self._encode(frame)
        if self.audio is not None:
            self._guard(self.audio.feed, float(frame.pts * self.time_base) * 1000.0)

    def _encode(self, frame: Any) -> None:
        self._guard(lambda: self.container.mux(self.stream.encode(frame)))

    def _guard(self, call: Callable[..., None], *args: Any) -> None:
        """Run a muxing call with FFmpeg's errors as the OSError they stand for."""
        try:
            call(*args)
        except self.av.FFmpegError as e:
            raise _os_error(e) from None

    def close(self) -> None:
        """Finish the file, then read it back: FFmpeg's MP4 muxer loses a write error in its last fragment."""
        try:
            self._encode(None)  # the frames the encoder still holds
            if self.audio is not None:
                self._guard(self.audio.finish, float((self.last_pts + self.step) * self.time_base) * 1000.0)
        finally:
            if self.audio is not None:
                self.audio.close()
            try:
                self.container.close()
            except self.av.FFmpegError as e:
                raise _os_error(e) from None
        if self.kill_safe and self.frames and (count := frames_in(self.av, self.path)) < self.frames:
            raise write_failure(self.path, f"the finished file reads back with {count} of {self.frames} frames")


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

    def write(self, rgb: np.ndarray, time_ms: float | None = None) -> None:
        with quiet_opencv():  # its warning on a failed write is ours to report, in one line
            written = self.writer.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
        if not written:
            raise write_failure(self.path, "OpenCV could not write the frame")
        self.frames += 1

    def close(self) -> None:
        self.writer.release()
        if self.frames:
            capture = cv2.VideoCapture(str(self.path))
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
            capture.release()
            if count < self.frames:
                raise write_failure(self.path, f"the finished file reads back with {count} of {self.frames} frames")

def write_failure(path: Path, what: str) -> OSError:
    """A failure the encoder did not report, as the OSError it must have been: a full disk when the folder has
    no space left, a file size limit (RLIMIT_FSIZE) when the file has reached it (less FFmpeg's 32 kB write
    buffer), else an I/O error."""
    try:
        full = os.statvfs(path.parent).f_bavail == 0
        size = path.stat().st_size
    except OSError:
        full, size = False, 0
    at_limit = False
    if resource is not None:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        at_limit = limit != resource.RLIM_INFINITY and size > limit - (1 << 15)
    code = errno.ENOSPC if full else errno.EFBIG if at_limit else errno.EIO
    return OSError(code, f"{os.strerror(code)} ({what})")


def frames_in(av: Any, path: Path) -> int:
    """How many video packets a file holds, read back by demuxing (no decoding)."""
    try:
        with av.open(str(path)) as container:
            return sum(1 for p in container.demux(container.streams.video[0]) if p.size)
    except (av.FFmpegError, OSError, IndexError):
        return 0


def open_encoder(path: Path, fps: float, width: int, height: int, encoder: str = "auto", *,
                 time_base: Fraction | None = None, audio: AudioSource | None = None,
                 part: Path | None = None) -> Encoder:
    """The best encoder for `path`'s extension (`encoder`: "auto", or only "pyav" / only "opencv"), frames
    timed in `time_base` (None: 1/fps apart) with the sound of `audio`; ValueError (one line) when none
    can write it. The encoder that opens writes in place at `path` when it writes fragmented (PyAV's
    MP4/MOV: playable at any moment, and FFmpeg reopens the file by its name to finish it), else at `part`
    (None: `path`), the name a file in the making has; its `path` says which."""
    ext = path.suffix.lower()
    reasons = []
    if encoder in ("auto", "pyav") and ext in PYAV_CODECS:
        av = pyav()
        if av is not None:
            file = path if ext in KILL_SAFE_EXTENSIONS or part is None else part
            try:
                return PyAVEncoder(av, file, fps, width, height, PYAV_CODECS[ext], time_base=time_base,
                                   audio=audio)
            except (ValueError, av.FFmpegError) as e:
                with contextlib.suppress(OSError):
                    os.unlink(file)
                reasons.append(str(e))
        else:
            reasons.append("PyAV is not installed")
    if encoder in ("auto", "opencv") and ext in OPENCV_FOURCC:
        try:
            fallback = OpenCVEncoder(path if part is None else part, fps, width, height)
        except ValueError as e:
            reasons.append(str(e))
        else:
            fallback.fallback_reason = "; ".join(reasons)
            return fallback
    raise ValueError("; ".join(reasons) or f"no {encoder} encoder writes {ext}")
