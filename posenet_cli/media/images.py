"""Image files in and out: every image is RGB uint8 [height, width, 3].

OpenCV decodes and encodes; around it, checks that give one clear line instead of a None or a half-grey
picture (missing, empty, truncated, not an image, too large to decode safely) and image files that appear
whole (written atomically).
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..errors import write_error
from ..files import atomic_write
from .inputs import VIDEO, MediaError, kind_of

# Images above this many pixels are refused before decoding (an RGB copy of 100 MP is 300 MB, and the
# network input and drawings need more). Pass `max_pixels` to read_image to change it per call.
MAX_PIXELS = 100_000_000
MAX_FILE_BYTES = 1 << 30  # an image file larger than this is refused before it is read whole


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
        if kind_of(Path(name)) == VIDEO:
            raise MediaError(f"cannot read image {name!r}: it is a video; use 'posenet video' (or 'posenet batch')")
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


def _jpeg_segments(data: bytes) -> Iterator[tuple[int, int]]:
    """(marker, offset) of each JPEG segment up to and including the first start-of-scan; stops early on
    a malformed stream."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        yield marker, i
        if marker == 0xDA:
            return
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        i += 2 + length


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    for marker, i in _jpeg_segments(data):
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start-of-frame
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
    return None  # start of scan before any frame header, or a malformed stream


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
        sos = next((i for marker, i in _jpeg_segments(data) if marker == 0xDA), None)  # past any EXIF thumbnail
        return sos is None or data.find(b"\xff\xd9", sos) < 0
    return False


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
    try:
        atomic_write(target, encoded.tobytes())
    except OSError as e:
        raise write_error(target, e, "not written") from None


def _cv_reason(e: cv2.error) -> str:
    text = str(e).strip().splitlines()
    return text[-1].strip() if text else "OpenCV error"
