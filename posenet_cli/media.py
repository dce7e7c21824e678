"""Image and video I/O: every frame in and out is RGB uint8 [height, width, 3].

OpenCV does the decoding and encoding; this module adds what a command-line tool needs around it:
checks that give one clear line instead of a None or a half-grey picture (missing, empty, truncated,
not an image, too large to decode safely), inputs expanded from folders and globs, a frame reader that
skips a broken frame instead of stopping, and outputs that appear whole (atomic image writes, videos
renamed into place when closed, even after an exception).

FFmpeg's own log lines are silenced (``OPENCV_FFMPEG_LOGLEVEL=-8`` unless already set) so a bad input
gives one line on stderr, not a page of decoder noise; set ``OPENCV_FFMPEG_LOGLEVEL=32`` to see them.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import secrets
import stat
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Read by OpenCV when its FFmpeg backend first starts, so it must be set before the first VideoCapture.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff", ".gif", ".avif",
     ".jp2", ".pbm", ".pgm", ".ppm", ".pnm", ".pxm", ".sr", ".ras", ".hdr", ".pic"}
)
VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts",
     ".m2ts", ".3gp", ".ogv", ".gif"}
)
# Images above this many pixels are refused before decoding (an RGB copy of 100 MP is 300 MB, and the
# network input and drawings need more). Pass `max_pixels` to read_image to change it per call.
MAX_PIXELS = 100_000_000
MAX_FILE_BYTES = 1 << 30  # an image file larger than this is refused before it is read whole
DEFAULT_FPS = 30.0
_GLOB_CHARS = frozenset("*?[")


class MediaError(Exception):
    """An input that cannot be read or an output that cannot be written; the message is one line."""


# --------------------------------------------------------------------------------------------- images


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Read an image file as RGB uint8 [H, W, 3].

    EXIF orientation is applied; grayscale is expanded to 3 channels, alpha is dropped and 16-bit
    images are scaled to 8 bits. Missing, empty, truncated, undecodable or (above `max_pixels`, checked
    from the file header before decoding) oversized files raise MediaError.
    """
    name = os.fspath(path)
    try:
        mode = os.stat(name).st_mode
        if stat.S_ISDIR(mode):
            raise MediaError(f"cannot read image {name!r}: it is a directory")
        if not stat.S_ISREG(mode):  # a FIFO or a device would block or never end
            raise MediaError(f"cannot read image {name!r}: not a regular file")
        with open(name, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise MediaError(f"cannot read image {name!r}: no such file") from None
    except OSError as e:
        raise MediaError(f"cannot read image {name!r}: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise MediaError(f"cannot read image {name!r}: the file is larger than the limit of "
                         f"{MAX_FILE_BYTES >> 20} MiB")
    if not data:
        raise MediaError(f"cannot read image {name!r}: the file is empty")
    if max_pixels is not None:
        size = probe_image_size(data)
        if size is not None and size[0] * size[1] > max_pixels:
            raise MediaError(f"cannot read image {name!r}: {size[0]}x{size[1]} is larger than the limit of "
                             f"{max_pixels / 1e6:g} megapixels")
    if _looks_truncated(data):
        raise MediaError(f"cannot read image {name!r}: the file is truncated")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR_RGB)
    except cv2.error:
        image = None
    if image is None:
        raise MediaError(f"cannot read image {name!r}: not an image or truncated")
    if max_pixels is not None and image.shape[0] * image.shape[1] > max_pixels:  # formats the probe skips
        raise MediaError(f"cannot read image {name!r}: {image.shape[1]}x{image.shape[0]} is larger than the "
                         f"limit of {max_pixels / 1e6:g} megapixels")
    return image


def probe_image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header of a PNG, JPEG, GIF, BMP, WebP or TIFF, without decoding; else None."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return struct.unpack("<HH", data[6:10])
        if data[:2] == b"BM":
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_size(data)
        if data[:1] == b"P" and data[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"f", b"F"):
            return _pnm_size(data)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        if marker == 0xDA:  # start of scan before any frame header
            return None
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    endian = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(endian + "I", data[4:8])
    (count,) = struct.unpack(endian + "H", data[ifd:ifd + 2])
    found: dict[int, int] = {}
    for k in range(count):
        entry = data[ifd + 2 + 12 * k: ifd + 14 + 12 * k]
        tag, typ = struct.unpack(endian + "HH", entry[:4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            fmt = "H" if typ == 3 else "I"
            found[tag] = struct.unpack(endian + fmt, entry[8:8 + struct.calcsize(fmt)])[0]
    if 256 in found and 257 in found:
        return found[256], found[257]
    return None


def _pnm_size(data: bytes) -> tuple[int, int] | None:
    """Netpbm (PBM/PGM/PPM, PAM's WIDTH/HEIGHT lines) and PFM headers: ASCII numbers after the magic."""
    head = data[:1024]
    if head[1:2] == b"7":  # PAM: "P7\nWIDTH 640\nHEIGHT 480\n..."
        fields = dict(line.split(None, 1) for line in head.split(b"\n") if len(line.split(None, 1)) == 2)
        return int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])
    words: list[bytes] = []
    for line in head[2:].split(b"\n"):
        words.extend(line.split(b"#", 1)[0].split())
        if len(words) >= 2:
            return int(words[0]), int(words[1])
    return None


def _looks_truncated(data: bytes) -> bool:
    """A JPEG without its end-of-image marker after the first scan, or a PNG without its IEND chunk.

    Some OpenCV versions decode such files into a partly grey picture (with a warning on stderr) rather
    than failing; checking the structure first gives the same clear error everywhere.
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data.rfind(b"IEND") < 0
    if data[:2] == b"\xff\xd8":
        sos = _jpeg_first_scan(data)
        return sos is None or data.find(b"\xff\xd9", sos) < 0
    return False


def _jpeg_first_scan(data: bytes) -> int | None:
    """Offset of the first start-of-scan segment (past any EXIF thumbnail, which has its own EOI)."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            i += 2
            continue
        if marker == 0xDA:
            return i
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        i += 2 + length
    return None


def write_image(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write an RGB (or grayscale) uint8 image atomically; the format comes from the file extension.

    The bytes go to a temporary file in the same folder which then replaces `path`, so a reader never
    sees half an image and an interrupted run leaves no broken file.
    """
    target = Path(path)
    ext = target.suffix.lower()
    if not ext or not cv2.haveImageWriter("x" + ext):
        raise MediaError(f"cannot write image '{target}': unsupported image format {ext or '(no extension)'!r}")
    if not target.parent.is_dir():
        raise MediaError(f"cannot write image '{target}': directory '{target.parent}' does not exist")
    image = np.asarray(rgb)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise MediaError(f"cannot write image '{target}': expected uint8 [H, W, 3], got {image.dtype} "
                         f"{list(image.shape)}")
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    try:
        ok, encoded = cv2.imencode(ext, image)
    except cv2.error as e:
        raise MediaError(f"cannot write image '{target}': {_cv_reason(e)}") from None
    if not ok:
        raise MediaError(f"cannot write image '{target}': encoding failed")
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(encoded.tobytes())
        os.replace(tmp, target)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise MediaError(f"cannot write image '{target}': {e.strerror or e}") from None


def _cv_reason(e: cv2.error) -> str:
    text = str(e).strip().splitlines()
    return text[-1].strip() if text else "OpenCV error"


def expand_image_inputs(paths: list[str] | list[Path] | list[str | Path]) -> list[Path]:
    """Files, folders (their images, sorted, not recursive) and globs, as a list of image paths.

    A named file is kept whatever its extension (reading it says what is wrong); folders and globs
    contribute only files with an image extension and skip hidden files. Duplicates are dropped.
    A missing path or a folder/glob without images raises MediaError.
    """
    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        if p not in seen:
            seen.add(p)
            out.append(p)

    for item in paths:
        text = os.fspath(item)
        p = Path(text)
        if p.is_dir():
            found = sorted(c for c in p.iterdir() if _is_image_file(c))
            if not found:
                raise MediaError(f"no images found in '{text}'")
            for c in found:
                add(c)
        elif p.is_file():
            add(p)
        elif _GLOB_CHARS & set(text):
            found = sorted(Path(m) for m in glob.glob(text, recursive=True) if _is_image_file(Path(m)))
            if not found:
                raise MediaError(f"no images found in '{text}'")
            for c in found:
                add(c)
        elif p.exists():
            raise MediaError(f"cannot read image '{text}': not a regular file")
        else:
            raise MediaError(f"cannot read image '{text}': no such file or directory")
    if not out:
        raise MediaError("no images found in the inputs")
    return out


def _is_image_file(p: Path) -> bool:
    return p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()


# --------------------------------------------------------------------------------------------- videos


@dataclass(frozen=True)
class Frame:
    """One video frame: its index in the source, its time in milliseconds and the RGB image."""

    index: int
    time_ms: float
    image: np.ndarray


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own log lines (e.g. each backend's warning when a camera index is absent)."""
    log = cv2.utils.logging
    previous = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(previous)


class VideoReader:
    """Frames of a video file, a stream URL or a camera (an int, or a digit string that is not a file).

    `start` and `end` are in seconds (`end` exclusive, None for the whole source) and `every` keeps
    every Nth frame. For files and URLs with a known frame count, `Frame.index` counts frames from the
    start of the source and `time_ms = index * 1000 / fps`, so results are deterministic; for cameras
    and live streams `time_ms` is measured from the first frame and `start`/`end` apply to that clock.

    The first frame is read when the reader opens: an unopenable source or one without frames (in the
    range) raises MediaError at once, and `width`/`height` are the real frame size. A frame that fails
    to decode in the middle is skipped, counted in `errors` and its index added to `broken` (before the
    next good frame is returned, so a consumer can report it in order); failures that run to the end of
    the source are taken as its end.
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
        self.errors = 0
        self.broken: list[int] = []  # source indexes of the wanted frames that failed (`errors` of them)
        self._cap: cv2.VideoCapture | None = self._open()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps: float = float(fps) if math.isfinite(fps) and 0 < fps < 1000 else DEFAULT_FPS
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count: int = int(count) if math.isfinite(count) and count > 0 and not self.is_device else 0
        self.live: bool = self.is_device or (self.is_url and self.frame_count == 0)
        # Files: frame positions [first, stop) of the source. Live sources: times, checked per frame.
        self._first_index = 0 if self.live else math.ceil(self.start * self.fps - 1e-9)
        self._stop_index = None if self.live or end is None else math.ceil(end * self.fps - 1e-9)
        self._clock0: float | None = None
        self._index = 0  # the source position the next grab reads
        try:
            self._first: Frame | None = self._next_frame() if self._seek_to_start() else None
        except BaseException:
            self.close()
            raise
        if self._first is None:
            self.close()
            where = f" after {self.start:g}s" if self.start > 0 else ""
            raise MediaError(f"video {self._name} has no frames{where}")
        self.height, self.width = self._first.image.shape[:2]
        self._done = False

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
        with _quiet_opencv():
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

    def _next_frame(self) -> Frame | None:
        """The next kept frame, or None at the end; broken frames between good ones go into `errors`."""
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
                self.errors += len(broken)
                self.broken.extend(broken)
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
            return Frame(index, time_ms, _to_rgb(image))

    def __iter__(self) -> Iterator[Frame]:
        return self

    def __next__(self) -> Frame:
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        if self._done or self._cap is None:
            raise StopIteration
        frame = self._next_frame()
        if frame is None:
            self._done = True
            raise StopIteration
        return frame

    def close(self) -> None:
        """Release the source (idempotent)."""
        cap, self._cap = getattr(self, "_cap", None), None
        if cap is not None:
            cap.release()
        self._done = True
        self._first = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


VIDEO_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}


class VideoWriter:
    """Writes RGB frames to an .mp4/.m4v/.mov (mp4v) or .avi (MJPG) file at a fixed fps and size.

    Frames go to a hidden temporary file beside `path`, renamed to `path` by `close()`. Used as a
    context manager it closes on any exit, an exception or Ctrl-C included, so the frames written so far
    are kept as a playable file. A writer closed with no frames leaves no file. (mp4v needs even sizes;
    FFmpeg trims an odd width or height by one pixel.)
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, width: int, height: int) -> None:
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in VIDEO_FOURCC:
            raise MediaError(f"cannot write video '{self.path}': unsupported extension "
                             f"{ext or '(none)'!r} (use .mp4 or .avi)")
        if not self.path.parent.is_dir():
            raise MediaError(f"cannot write video '{self.path}': directory '{self.path.parent}' does not exist")
        if not os.access(self.path.parent, os.W_OK):
            raise MediaError(f"cannot write video '{self.path}': directory '{self.path.parent}' is not writable")
        if not (math.isfinite(fps) and fps > 0):
            raise MediaError(f"cannot write video '{self.path}': bad frame rate {fps}")
        if width < 1 or height < 1:
            raise MediaError(f"cannot write video '{self.path}': bad frame size {width}x{height}")
        self.fps, self.width, self.height = float(fps), int(width), int(height)
        self.frames_written = 0
        self._tmp = self.path.parent / f".{self.path.stem}.{secrets.token_hex(4)}.part{ext}"
        with _quiet_opencv():
            self._writer: cv2.VideoWriter | None = cv2.VideoWriter(
                str(self._tmp), cv2.VideoWriter_fourcc(*VIDEO_FOURCC[ext]), self.fps, (self.width, self.height))
        if not self._writer.isOpened():
            self._writer.release()
            self._writer = None
            with contextlib.suppress(OSError):
                self._tmp.unlink()
            raise MediaError(f"cannot write video '{self.path}': no encoder for {VIDEO_FOURCC[ext]} in this OpenCV")

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 frame of the writer's size."""
        if self._writer is None:
            raise MediaError(f"cannot write to video '{self.path}': it is closed")
        if rgb.shape[:2] != (self.height, self.width) or rgb.dtype != np.uint8:
            raise MediaError(f"cannot write to video '{self.path}': frame is {rgb.dtype} "
                             f"{rgb.shape[1]}x{rgb.shape[0]}, the video is uint8 {self.width}x{self.height}")
        self._writer.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR if rgb.ndim == 3
                                        else cv2.COLOR_GRAY2BGR))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (idempotent): the container is finalised and moved to `path`."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        writer.release()
        if self.frames_written == 0:
            with contextlib.suppress(OSError):
                self._tmp.unlink()
            return
        try:
            os.replace(self._tmp, self.path)
        except OSError as e:
            raise MediaError(f"cannot write video '{self.path}': {e.strerror or e} "
                             f"(the frames are in '{self._tmp}')") from None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
