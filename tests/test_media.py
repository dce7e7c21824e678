"""Image and video I/O on real files: odd images made here, the shared clip, videos written and re-read."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet_cli.errors import WriteError
from posenet_cli.media.images import probe_image_size, read_image, write_image
from posenet_cli.media.inputs import IMAGE, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, MediaError, expand_inputs
from posenet_cli.media.video import VideoReader, VideoWriter
from posenet_cli.output.draw import draw_poses
from posenet_cli.pose import Pose
from posenet_cli.stream.frames import BrokenFrame, Frame


def expand_image_inputs(inputs: list[str]) -> list[Path]:
    return expand_inputs(inputs, kinds=(IMAGE,))

RED_BGR = (0, 0, 255)


def gradient(h: int = 48, w: int = 64) -> np.ndarray:
    """A smooth BGR test picture (compresses like a photo, so truncation lands mid-scan)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + y) % 256]).astype(np.uint8)


def jpeg_bytes(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr)
    assert ok
    return buf.tobytes()


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """Insert an APP1 EXIF segment holding only the Orientation tag (0x0112) right after SOI."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


# ------------------------------------------------------------------------------------------ read_image


def test_reads_rgb_in_rgb_order(tmp_path):
    bgr = np.zeros((10, 20, 3), np.uint8)
    bgr[:] = RED_BGR
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    image = read_image(tmp_path / "red.png")
    assert image.dtype == np.uint8 and image.shape == (10, 20, 3)
    assert tuple(image[0, 0]) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    bgr = np.zeros((20, 40, 3), np.uint8)  # 40 wide, 20 high; red in the top-left quarter
    bgr[:10, :20] = RED_BGR
    path = tmp_path / "rotated.jpg"
    path.write_bytes(with_exif_orientation(jpeg_bytes(bgr), 6))  # 6: rotate 90 degrees clockwise to view
    image = read_image(path)
    assert image.shape == (40, 20, 3)
    assert image[3, 16, 0] > 200 and image[3, 16, 2] < 60  # the red quarter is now top-right
    assert image[3, 3].max() < 60


# What a viewer does to the stored pixels for each EXIF orientation (the TIFF/EXIF definitions).
VIEW = {
    1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2), 6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2), 8: lambda a: np.rot90(a, 1),
}


@pytest.mark.parametrize("orientation", sorted(VIEW))
def test_every_exif_orientation_gives_the_displayed_picture(tmp_path, orientation):
    stored = jpeg_bytes(gradient(24, 40))
    raw = cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    path = tmp_path / "o.jpg"
    path.write_bytes(with_exif_orientation(stored, orientation))
    np.testing.assert_array_equal(read_image(path), VIEW[orientation](raw))


def test_not_regular_files_and_oversized_files(tmp_path, monkeypatch):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # reading it would block for ever
    with pytest.raises(MediaError, match=r"cannot read image '.*pipe.jpg': not a regular file"):
        read_image(fifo)
    with pytest.raises(MediaError, match="not a regular file"):
        expand_image_inputs([str(fifo)])
    with pytest.raises(MediaError, match="no images match"):  # globs and folders pass over it
        expand_image_inputs([str(tmp_path / "*.jpg")])
    (tmp_path / "ok.png").write_bytes(cv2.imencode(".png", gradient())[1].tobytes())
    assert expand_image_inputs([str(tmp_path)]) == [tmp_path / "ok.png"]
    monkeypatch.setattr("posenet_cli.media.images.MAX_FILE_BYTES", 100)
    with pytest.raises(MediaError, match="the file is larger than the limit of 0 MiB"):
        read_image(tmp_path / "ok.png")


def test_grayscale_rgba_and_16_bit(tmp_path):
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((5, 7), 90, np.uint8))
    rgba = np.zeros((5, 7, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 200, 0  # red, fully transparent
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((5, 7, 3), 40000, np.uint16))
    gray = read_image(tmp_path / "gray.png")
    assert gray.shape == (5, 7, 3) and (gray == 90).all()
    assert read_image(tmp_path / "rgba.png").shape == (5, 7, 3)
    assert tuple(read_image(tmp_path / "rgba.png")[0, 0]) == (200, 0, 0)
    deep = read_image(tmp_path / "deep.png")
    assert deep.dtype == np.uint8 and deep.shape == (5, 7, 3) and (deep == 40000 >> 8).all()


def test_tiny_images_are_fine(tmp_path):
    cv2.imwrite(str(tmp_path / "dot.png"), np.zeros((1, 1, 3), np.uint8))
    assert read_image(tmp_path / "dot.png").shape == (1, 1, 3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_text("not an image"), "not an image"),
        (lambda p: p.write_bytes(jpeg_bytes(gradient(200, 300))[:2000]), "truncated"),
        (lambda p: p.write_bytes(cv2.imencode(".png", gradient(200, 300))[1].tobytes()[:3000]), "truncated"),
        (lambda p: p.mkdir(), "directory"),
    ],
    ids=["zero-byte", "text", "truncated-jpeg", "truncated-png", "directory"],
)
def test_unreadable_images_raise_one_line(tmp_path, make, message):
    path = tmp_path / "bad.jpg"
    make(path)
    with pytest.raises(MediaError, match="cannot read image") as info:
        read_image(path)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_truncated_jpeg_cut_in_half(tmp_path):
    data = jpeg_bytes(gradient(200, 300))
    (tmp_path / "half.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="truncated"):
        read_image(tmp_path / "half.jpg")


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="no such file"):
        read_image(tmp_path / "missing.jpg")


def test_jpeg_with_exif_thumbnail_eoi_before_scan_is_not_truncated(tmp_path):
    # An EOI marker inside APP1 (as in an EXIF thumbnail) must not count as the image's end.
    data = jpeg_bytes(gradient())
    payload = b"Exif\x00\x00" + b"\xff\xd8\xff\xd9"
    fake = data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    (tmp_path / "thumb.jpg").write_bytes(fake)
    assert read_image(tmp_path / "thumb.jpg").shape == (48, 64, 3)
    (tmp_path / "cut.jpg").write_bytes(fake[: len(fake) - 100])
    with pytest.raises(MediaError, match="truncated"):
        read_image(tmp_path / "cut.jpg")


def png_claiming(width: int, height: int) -> bytes:
    """A small real PNG whose IHDR (with a correct CRC) claims another size."""
    data = bytearray(cv2.imencode(".png", gradient(8, 8))[1].tobytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_huge_images_are_refused_from_the_header(tmp_path):
    (tmp_path / "huge.png").write_bytes(png_claiming(40000, 30000))
    with pytest.raises(MediaError, match=r"40000x30000 is larger than the limit of 100 megapixels"):
        read_image(tmp_path / "huge.png")
    jpeg = bytearray(jpeg_bytes(gradient()))
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 50000, 60000)
    (tmp_path / "huge.jpg").write_bytes(bytes(jpeg))
    with pytest.raises(MediaError, match="60000x50000"):
        read_image(tmp_path / "huge.jpg")


def test_pixel_limit_is_configurable(tmp_path):
    cv2.imwrite(str(tmp_path / "img.png"), gradient(100, 100))
    with pytest.raises(MediaError, match="larger than the limit"):
        read_image(tmp_path / "img.png", max_pixels=5000)
    assert read_image(tmp_path / "img.png", max_pixels=None).shape == (100, 100, 3)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp", ".tiff", ".gif"])
def test_probe_reads_sizes_from_headers(ext):
    ok, buf = cv2.imencode(ext, gradient(33, 57))
    assert ok
    assert probe_image_size(buf.tobytes()) == (57, 33)


@pytest.mark.parametrize("ext", [".ppm", ".pgm", ".pbm", ".pam", ".pfm"])
def test_probe_reads_netpbm_headers(ext):
    image = gradient(33, 57).astype(np.float32 if ext == ".pfm" else np.uint8)
    ok, buf = cv2.imencode(ext, image[..., 0] if ext in (".pgm", ".pbm") else image)
    assert ok
    assert probe_image_size(buf.tobytes()) == (57, 33)


def test_huge_netpbm_is_refused_from_the_header(tmp_path):
    (tmp_path / "huge.ppm").write_bytes(b"P6\n# a comment\n20000 20000\n255\n" + bytes(100))
    with pytest.raises(MediaError, match="20000x20000 is larger than the limit"):
        read_image(tmp_path / "huge.ppm")
    assert probe_image_size(b"P6 not numbers") is None and probe_image_size(b"Photo") is None


def test_probe_of_lossless_webp_and_unknown_data():
    ok, buf = cv2.imencode(".webp", gradient(33, 57), [cv2.IMWRITE_WEBP_QUALITY, 101])
    assert ok and probe_image_size(buf.tobytes()) == (57, 33)
    assert probe_image_size(b"hello world") is None
    assert probe_image_size(b"\x89PNG\r\n\x1a\n") is None


# ------------------------------------------------------------------------------------------ write_image


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".webp"])
def test_write_image_round_trip(tmp_path, ext):
    rgb = cv2.cvtColor(gradient(), cv2.COLOR_BGR2RGB)
    path = tmp_path / f"out{ext}"
    write_image(path, rgb)
    back = read_image(path)
    assert back.shape == rgb.shape
    if ext in (".png", ".bmp"):
        assert (back == rgb).all()
    else:
        assert np.abs(back.astype(int) - rgb).mean() < 8
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{ext}"]  # no temp file left


def test_write_image_replaces_atomically_and_keeps_normal_permissions(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    write_image(path, np.zeros((4, 4, 3), np.uint8))
    assert read_image(path).shape == (4, 4, 3)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_write_image_errors(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(MediaError, match="does not exist"):
        write_image(tmp_path / "no" / "x.png", rgb)
    with pytest.raises(MediaError, match="unsupported image format '.xyz'"):
        write_image(tmp_path / "x.xyz", rgb)
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(WriteError, match="cannot write .*taken.png: Is a directory"):  # a failed write: exit 74
        write_image(tmp_path / "taken.png", rgb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.png"]


# ----------------------------------------------------------------------------------- expand_image_inputs


def test_expand_inputs(tmp_path):
    for name in ("b.jpg", "a.PNG", "c.txt", ".hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.jpg").write_bytes(b"x")
    assert expand_image_inputs([str(tmp_path)]) == [tmp_path / "a.PNG", tmp_path / "b.jpg"]
    assert expand_image_inputs([str(tmp_path / "*.jpg")]) == [tmp_path / "b.jpg"]
    assert expand_image_inputs([str(tmp_path / "**" / "*.jpg")]) == [tmp_path / "b.jpg", tmp_path / "sub" / "d.jpg"]
    # A named file is kept whatever its extension; duplicates are dropped, order kept.
    assert expand_image_inputs([str(tmp_path / "c.txt"), str(tmp_path), str(tmp_path / "b.jpg")]) == [
        tmp_path / "c.txt", tmp_path / "a.PNG", tmp_path / "b.jpg"]


def test_expand_inputs_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="no images found in"):
        expand_image_inputs([str(tmp_path / "empty")])
    with pytest.raises(MediaError, match="no images match"):
        expand_image_inputs([str(tmp_path / "*.jpg")])
    with pytest.raises(MediaError, match="no such file"):
        expand_image_inputs([str(tmp_path / "missing.jpg")])


def test_extension_sets():
    assert {".jpg", ".jpeg", ".png"} <= IMAGE_EXTENSIONS and {".mp4", ".avi", ".mov"} <= VIDEO_EXTENSIONS
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS | VIDEO_EXTENSIONS)


# ---------------------------------------------------------------------------------------------- videos


@pytest.fixture()
def clip(shared: Path) -> Path:
    return shared / "data" / "videos" / "street-5frames.mp4"


def test_reads_the_shared_clip(clip):
    with VideoReader(clip) as reader:
        assert (reader.width, reader.height, reader.frame_count, reader.fps) == (960, 540, 5, 5.0)
        frames = list(reader)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [f.time_ms for f in frames] == [0.0, 200.0, 400.0, 600.0, 800.0]
    assert all(isinstance(f, Frame) and f.image.shape == (540, 960, 3) and f.image.dtype == np.uint8
               for f in frames)
    first = cv2.VideoCapture(str(clip)).read()[1]
    assert (frames[0].image == first[:, :, ::-1]).all()  # RGB


def test_start_end_and_every(clip):
    with VideoReader(str(clip), every=2) as reader:
        assert [f.index for f in reader] == [0, 2, 4]
    with VideoReader(str(clip), start=0.4, end=0.8) as reader:  # seconds; end exclusive
        assert [(f.index, f.time_ms) for f in reader] == [(2, 400.0), (3, 600.0)]
    with VideoReader(str(clip), start=0.2, every=3) as reader:
        assert [f.index for f in reader] == [1, 4]
    with pytest.raises(MediaError, match="no frames after 2s"):
        VideoReader(clip, start=2.0)
    with pytest.raises(MediaError, match="must be after"):
        VideoReader(clip, start=1.0, end=0.5)


def make_avi(path: Path, n: int, size: tuple[int, int] = (64, 48)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(n):
        writer.write(np.full((size[1], size[0], 3), i * 20, np.uint8))
    writer.release()


def test_a_broken_frame_comes_in_its_place(tmp_path):
    path = tmp_path / "clip.avi"
    make_avi(path, 10)
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]  # each frame is a JPEG
    assert len(starts) == 10
    data[starts[5]:starts[5] + 200] = bytes(200)
    path.write_bytes(bytes(data))
    with VideoReader(path) as reader:
        items = list(reader)
    assert [f.index for f in items] == list(range(10))
    assert [type(f) for f in items] == [Frame] * 5 + [BrokenFrame] + [Frame] * 4
    frames = [f for f in items if isinstance(f, Frame)]
    assert [f.time_ms for f in frames][5] == 600.0
    assert abs(int(frames[5].image[0, 0, 0]) - 120) < 6  # really frame 6
    with VideoReader(path, every=2) as reader:  # the broken frame is one of those skipped: no error
        items = list(reader)
        assert [f.index for f in items] == [0, 2, 4, 6, 8] and all(isinstance(f, Frame) for f in items)


def test_videos_that_cannot_be_read(tmp_path):
    make_avi(tmp_path / "empty.avi", 0)
    with pytest.raises(MediaError, match="has no frames"):
        VideoReader(tmp_path / "empty.avi")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(MediaError, match="cannot open video"):
        VideoReader(tmp_path / "notes.mp4")
    with pytest.raises(MediaError, match="cannot open video .*no such file"):
        VideoReader(tmp_path / "missing.mp4")


def test_absent_camera(capfd):
    with pytest.raises(MediaError, match="cannot open video device 99"):
        VideoReader("99")
    assert capfd.readouterr().err == ""  # no backend noise on stderr


def test_frame_is_a_plain_record():
    f = Frame(3, 100.0, np.zeros((2, 2, 3), np.uint8))
    assert (f.index, f.time_ms) == (3, 100.0)


def test_annotated_copy_has_the_same_frames_and_size(clip, tmp_path):
    out = tmp_path / "drawn.mp4"
    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = np.linspace(100, 800, 17), np.linspace(50, 500, 17), 0.9
    with VideoReader(clip) as reader, VideoWriter(out, reader.fps, reader.width, reader.height) as writer:
        for frame in reader:
            writer.write(draw_poses(frame.image, [Pose(0.9, kp)]))
    assert writer.frames_written == 5
    with VideoReader(out) as again:
        assert (again.width, again.height, again.frame_count) == (960, 540, 5)
        assert len(list(again)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drawn.mp4"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
@pytest.mark.parametrize("ext", [".mp4", ".avi"])
def test_writer_interrupted_inside_with_keeps_a_playable_file(tmp_path, error, ext):
    out = tmp_path / f"partial{ext}"
    with pytest.raises(error), VideoWriter(out, 10.0, 64, 48) as writer:
        for i in range(3):
            writer.write(np.full((48, 64, 3), i * 60, np.uint8))
        assert not out.exists()  # written under a temporary name until closed
        raise error()
    with VideoReader(out) as reader:
        assert (reader.width, reader.height) == (64, 48)
        assert len(list(reader)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_writer_errors(tmp_path):
    with pytest.raises(MediaError, match="unsupported extension"):
        VideoWriter(tmp_path / "x.xyz", 10, 64, 48)
    with pytest.raises(MediaError, match="does not exist"):
        VideoWriter(tmp_path / "no" / "x.mp4", 10, 64, 48)
    with pytest.raises(MediaError, match="bad frame rate"):
        VideoWriter(tmp_path / "x.mp4", 0, 64, 48)
    with VideoWriter(tmp_path / "x.mp4", 10, 64, 48) as writer:
        with pytest.raises(MediaError, match="32x48, the video is uint8 64x48"):
            writer.write(np.zeros((48, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []  # closed with no frames: no file
    writer.close()  # idempotent
    with pytest.raises(MediaError, match="closed"):
        writer.write(np.zeros((48, 64, 3), np.uint8))
