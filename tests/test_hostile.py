"""Hostile or odd inputs through the real `posenet` command (issue #6), on the real shared weights.

Each case is generated here in tmp_path and run through `posenet_cli.cli.main` in-process (the huge
images also in a subprocess, to measure its peak memory). Every test checks what a user sees and
gets: the exit status, the exact stderr lines, no traceback, and exactly what is on disk afterwards.

stderr is read with capsys (what the program itself writes); decoder libraries' own lines written
straight to file descriptor 2 (libjpeg's "Corrupt JPEG data" warning) are not part of these checks.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet_cli.sizing import MAX_INPUT_PIXELS

from conftest import REPO, SAMPLE, SHARED, posenet

PACKAGE = REPO / "posenet_cli"
SUMMARY = r"{n} {what}s?, {poses} poses?, \d+\.\d {what}s/s"
ONE_PERSON = ("--min-pose-score", "0.25")  # the astronaut alone: the decoder's faint partial poses left out


def run(*args: object) -> tuple[int, str, list[str]]:
    """The command in-process: (exit status, stdout, stderr as lines)."""
    code, out, err = posenet(*args)
    return code, out, err.splitlines()


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (relative path -> contents), to compare what is on disk before and after."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def found(records: list[dict]) -> int:
    """How many poses the records hold (error records hold none)."""
    return sum(len(r.get("poses", ())) for r in records)


def summary_line(n: int, what: str, poses: int, errors: int = 0) -> str:
    """The summary's pattern; `poses` is counted from the records read back (the decoder may find faint
    partial poses beside a person)."""
    return SUMMARY.format(n=n, what=what, poses=poses) + (f", {errors} errors?" if errors else "")


# ------------------------------------------------------------------------------------------ image makers


def astronaut_bgr() -> np.ndarray:
    return cv2.imread(str(SAMPLE))


def jpeg_bytes(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", bgr)
    assert ok
    return buf.tobytes()


def png_bytes(bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", bgr)
    assert ok
    return buf.tobytes()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_of(pixels: np.ndarray, color_type: int, bit_depth: int = 8, palette: bytes | None = None) -> bytes:
    """A PNG of any colour type (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA) and depth (8 or 16),
    written by hand: OpenCV cannot write palette or gray+alpha PNGs."""
    h, w = pixels.shape[:2]
    data = pixels.astype(">u2" if bit_depth == 16 else np.uint8).reshape(h, -1)
    raw = b"".join(b"\x00" + row.tobytes() for row in data)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    plte = _chunk(b"PLTE", palette) if palette is not None else b""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + plte + _chunk(b"IDAT", zlib.compress(raw, 6))
            + _chunk(b"IEND", b""))


def png_claiming(width: int, height: int) -> bytes:
    """A small real PNG whose IHDR (CRC fixed up) claims another size."""
    data = bytearray(png_bytes(astronaut_bgr()[:8, :8]))
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def real_huge_png(side: int) -> bytes:
    """A complete, valid grayscale PNG of side x side black pixels (400 MB decoded at 20000, 0.4 MB here)."""
    deflate = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + pixels
    idat = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose frame header says width x height (a decoder that trusted it would fill that many
    pixels: 1.2 GB at 20000 x 20000)."""
    data = bytearray(jpeg_bytes(astronaut_bgr()[:64, :64]))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    """An APP1 EXIF segment holding only the Orientation tag (0x0112), inserted right after SOI."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def garbage_in_scan(jpeg: bytes) -> bytes:
    data = bytearray(jpeg)
    mid = len(data) // 2
    data[mid:mid + 300] = bytes(range(256)) + bytes(44)
    return bytes(data)


# ------------------------------------------------------------------------------ one image, every odd case

# (id, file name, its bytes, extra options, the error message or None for a pose record,
#  the record's (width, height))
IMAGE_CASES = [
    ("zero-byte", "zero.png", lambda: b"", [], "the file is empty", None),
    ("truncated-jpeg", "cut.jpg", lambda: half(jpeg_bytes(astronaut_bgr())), [], "the file is truncated", None),
    ("truncated-png", "cut.png", lambda: half(png_bytes(astronaut_bgr())), [], "the file is truncated", None),
    ("jpeg-headers-only", "head.jpg", lambda: jpeg_bytes(astronaut_bgr())[:600], [], "the file is truncated", None),
    ("text-named-jpeg", "notes.jpg", lambda: b"not an image at all\n", [], "not an image or truncated", None),
    ("png-signature-then-junk", "junk.png", lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, [],
     "the file is truncated", None),
    ("huge-png-header", "huge.png", lambda: png_claiming(20000, 20000), [],
     "20000x20000 is larger than the limit of 100 megapixels", None),
    ("huge-jpeg-header", "huge.jpg", lambda: jpeg_claiming(20000, 20000), [],
     "20000x20000 is larger than the limit of 100 megapixels", None),
    ("huge-ppm-header", "huge.ppm", lambda: b"P6\n20000 20000\n255\n" + bytes(300), [],
     "20000x20000 is larger than the limit of 100 megapixels", None),
    ("tiny-1x1", "dot.png", lambda: png_bytes(np.full((1, 1, 3), 128, np.uint8)), [], None, (1, 1)),
    ("tiny-5x5", "five.png", lambda: png_bytes(astronaut_bgr()[::103, ::103]), [], None, (5, 5)),
    ("sliver-3x200", "sliver.png", lambda: png_bytes(astronaut_bgr()[:200, :3]), [], None, (3, 200)),
    ("tiny-under-a-stride-at-scale-0.2", "dot2.png", lambda: png_bytes(np.zeros((1, 1, 3), np.uint8)),
     ["--scale-factor", "0.2"], "image 1x1 is too small for scale factor 0.2 at stride 16", None),
    ("elongated-padded-beyond-limit", "line.png", lambda: png_bytes(np.zeros((1, 100000, 3), np.uint8)),
     ["--resolution", "257"], "resolution 257x257 on a 100000x1 image pads the image to 100000x100001, over the "
     "limit of 100 megapixels (the image is too elongated for this aspect ratio); size it by long edge instead",
     None),
    ("network-input-beyond-limit", "big.png", lambda: png_bytes(np.zeros((4200, 4200), np.uint8)),
     ["--scale-factor", "1.0"], "image 4200x4200 at scale factor 1.0 gives a network input of 4193x4193, over the "
     f"limit of {MAX_INPUT_PIXELS / 1e6:.1f} megapixels; use a smaller size", None),
    ("jpeg-garbage-mid-scan", "noisy.jpg", lambda: garbage_in_scan(jpeg_bytes(astronaut_bgr())), [], None,
     (512, 512)),
]


@pytest.mark.parametrize(("name", "make", "extra", "message", "size"), [c[1:] for c in IMAGE_CASES],
                         ids=[c[0] for c in IMAGE_CASES])
def test_one_odd_image(env, validator, tmp_path, name, make, extra, message, size):
    """`posenet image FILE --out FILE.json`: a clear per-image line and an error record, or a valid record."""
    path = tmp_path / name
    path.write_bytes(make())
    out = tmp_path / "result.json"
    before = set(tree(tmp_path))
    code, stdout, err = run("image", path, "--out", out, "--single", "--min-pose-score", "0", *extra)  # one pose
    assert stdout == ""
    assert set(tree(tmp_path)) == before | {"result.json"}  # nothing else written, no temp files left
    record = json.loads(out.read_text())
    validator.validate(record)
    if message is None:
        assert (code, err) == (0, [])
        assert (record["width"], record["height"]) == size and record["image"] == str(path)
        (pose,) = record["poses"]
        assert all(math.isfinite(k["position"]["x"]) and math.isfinite(k["position"]["y"])
                   for k in pose["keypoints"])
    else:
        sizing = message.startswith(("image ", "resolution "))  # a SizingError, else a MediaError
        full = message if sizing else f"cannot read image {str(path)!r}: {message}"
        assert code == 1
        assert err == [f"posenet: {full}"]
        assert record == {"image": str(path), "error": full}


def test_a_fifo_among_the_inputs_is_refused_without_blocking(env, tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    code, stdout, err = run("image", SAMPLE, fifo, "--out", tmp_path / "res.jsonl")
    assert (code, stdout) == (1, "")
    assert err == [f"posenet: error: cannot read '{fifo}': not a regular file"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.jpg"]


# ------------------------------------------------------------------------------ batches: isolation, --fail-fast


@pytest.fixture()
def batch(tmp_path: Path) -> list[Path]:
    good, cut, zero, gray = (tmp_path / n for n in ("good.jpg", "cut.jpg", "zero.png", "gray.png"))
    good.write_bytes(jpeg_bytes(astronaut_bgr()))
    cut.write_bytes(half(good.read_bytes()))
    zero.write_bytes(b"")
    cv2.imwrite(str(gray), cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2GRAY))
    return [good, cut, zero, gray]


def test_bad_images_in_a_batch_are_recorded_and_the_run_goes_on(env, validator, tmp_path, batch):
    good, cut, zero, gray = batch
    out, drawn = tmp_path / "res.jsonl", tmp_path / "drawn"
    code, stdout, err = run("image", *batch, "--out", out, "--draw", drawn, *ONE_PERSON)
    assert (code, stdout) == (1, "")
    assert len(err) == 2
    records = jsonl(out)
    assert re.fullmatch(summary_line(2, "image", found(records), errors=2), err[0]), err
    assert err[1] == "posenet: error: 2 of 4 images failed"
    for r in records:
        validator.validate(r)
    assert [r["image"] for r in records] == [str(p) for p in batch]
    assert records[0]["poses"] and records[3]["poses"]  # the astronaut is found in colour and in grey
    assert records[1] == {"image": str(cut), "error": f"cannot read image {str(cut)!r}: the file is truncated"}
    assert records[2] == {"image": str(zero), "error": f"cannot read image {str(zero)!r}: the file is empty"}
    assert sorted(p.name for p in drawn.iterdir()) == ["good.jpg", "gray.png"]  # nothing drawn for failures

    # --verbose also names each failure as it happens; the same records to stdout without --out.
    code, stdout, err = run("image", *batch, "--verbose", *ONE_PERSON)
    assert code == 1
    assert err[:2] == [f"posenet: cannot read image {str(cut)!r}: the file is truncated",
                       f"posenet: cannot read image {str(zero)!r}: the file is empty"]
    assert err[3] == "posenet: error: 2 of 4 images failed"
    assert [json.loads(line) for line in stdout.splitlines()] == records


def test_fail_fast_stops_at_the_first_bad_image(env, tmp_path, batch):
    good, cut, zero, gray = batch
    out = tmp_path / "res.jsonl"
    code, stdout, err = run("image", *batch, "--out", out, "--fail-fast", *ONE_PERSON)
    assert (code, stdout) == (1, "")
    assert re.fullmatch(summary_line(1, "image", found(jsonl(out)), errors=1), err[0]) and len(err) == 2
    assert err[1] == "posenet: error: 1 of 4 images failed"
    records = jsonl(out)
    assert [r["image"] for r in records] == [str(good), str(cut)] and "error" in records[1]


def test_a_json_document_keeps_error_records_and_is_written_whole(env, validator, tmp_path, batch):
    out = tmp_path / "res.json"
    code, _, err = run("image", *batch, "--out", out, "--quiet")
    assert (code, err) == (1, ["posenet: error: 2 of 4 images failed"])
    doc = json.loads(out.read_text())
    assert [("error" in r) for r in doc] == [False, True, True, False]
    for r in doc:
        validator.validate(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([p.name for p in batch] + ["res.json"])


# ------------------------------------------------------------------------------------------- output safety


@pytest.mark.parametrize("command", ["image", "video"])
def test_an_existing_output_is_refused_and_left_untouched(env, shared, tmp_path, command):
    source = SAMPLE if command == "image" else shared / "data" / "videos" / "street-5frames.mp4"
    out = tmp_path / "poses.jsonl"
    out.write_bytes(b"precious\n")
    os.utime(out, (1_000_000, 1_000_000))
    code, stdout, err = run(command, source, "--out", out)
    assert (code, stdout, err) == (1, "", [f"posenet: error: {out} exists; pass --overwrite to replace it"])
    assert out.read_bytes() == b"precious\n" and out.stat().st_mtime == 1_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poses.jsonl"]
    code, _, err = run(command, source, "--out", out, "--overwrite", "--quiet")
    assert (code, err) == (0, [])
    assert out.read_bytes() != b"precious\n" and len(jsonl(out)) == (1 if command == "image" else 5)


def test_an_existing_drawing_is_refused(env, tmp_path):
    drawn = tmp_path / "drawn.png"
    drawn.write_bytes(b"keep")
    code, stdout, err = run("image", SAMPLE, "--draw", drawn)
    assert (code, stdout, err) == (1, "", [f"posenet: error: {drawn} exists; pass --overwrite to replace it"])
    assert tree(tmp_path) == {"drawn.png": b"keep"}


@pytest.mark.parametrize("args", [
    ["image", SAMPLE, "--out", "missing/poses.jsonl"],
    ["image", "{folder}", "--out", "missing/poses.json"],
    ["image", SAMPLE, "--draw", "missing/drawn.png"],
    ["video", "{clip}", "--out", "missing/poses.jsonl"],
    ["video", "{clip}", "--draw", "missing/drawn.mp4"],
], ids=["image-out", "folder-json", "image-draw", "video-out", "video-draw"])
def test_an_output_in_a_missing_folder_writes_nothing_anywhere(env, shared, tmp_path, monkeypatch, args):
    clip = shared / "data" / "videos" / "street-5frames.mp4"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    folder = shared / "data" / "images" / "tfjs-demo"
    args = [str(a).format(clip=clip, folder=folder) for a in args]
    target = Path(args[args.index("--out") + 1] if "--out" in args else args[args.index("--draw") + 1])
    code, stdout, err = run(*args)
    assert (code, stdout) == (1, "")
    assert err == [f"posenet: error: cannot write {target}: folder {target.parent} does not exist"]
    assert tree(tmp_path) == {"keep.txt": b"x"} and not (tmp_path / "missing").exists()


# ---------------------------------------------------------------------------------- colour types and depths


def test_grayscale_rgba_palette_and_16_bit_pngs_give_the_same_poses(env, tmp_path):
    """Each variant holds the same picture as its 8-bit RGB reference, so the poses must be the same."""
    rgb = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2RGB)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    alpha = np.broadcast_to(np.linspace(0, 255, rgb.shape[1]).astype(np.uint8), gray.shape)  # ignored
    files = {
        "rgb8.png": png_of(rgb, 2),
        "rgba8.png": png_of(np.dstack([rgb, alpha]), 6),
        "rgb16.png": png_of(rgb.astype(np.uint16) * 257, 2, 16),
        "rgba16.png": png_of(np.dstack([rgb, alpha]).astype(np.uint16) * 257, 6, 16),
        "gray-as-rgb8.png": png_of(np.dstack([gray] * 3), 2),
        "gray8.png": png_of(gray, 0),
        "gray16.png": png_of(gray.astype(np.uint16) * 257, 0, 16),
        "gray-alpha8.png": png_of(np.dstack([gray, alpha]), 4),
        "palette8.png": png_of(gray, 3, palette=bytes(np.repeat(np.arange(256, dtype=np.uint8), 3))),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = tmp_path / "res.jsonl"
    code, _, err = run("image", *(tmp_path / n for n in files), "--out", out, "--quiet", *ONE_PERSON)
    assert (code, err) == (0, [])
    poses = {Path(r["image"]).name: r["poses"] for r in jsonl(out)}

    def points(name: str) -> np.ndarray:
        pose = poses[name][0]  # the best pose (poses come highest score first)
        return np.array([[k["position"]["x"], k["position"]["y"], k["score"]] for k in pose["keypoints"]])

    assert points("rgb8.png")[0, 2] > 0.9  # the astronaut's nose is found
    for name in ("rgba8.png", "rgb16.png", "rgba16.png"):
        np.testing.assert_allclose(points(name), points("rgb8.png"), atol=1e-3, err_msg=name)
    for name in ("gray8.png", "gray16.png", "gray-alpha8.png", "palette8.png"):
        np.testing.assert_allclose(points(name), points("gray-as-rgb8.png"), atol=1e-3, err_msg=name)


# ------------------------------------------------------------------------------------------ EXIF orientation

# What a viewer does to the stored pixels for each EXIF orientation, and its inverse.
ORIENT = {3: lambda a: a[::-1, ::-1], 6: lambda a: np.rot90(a, -1), 8: lambda a: np.rot90(a, 1)}
UNORIENT = {3: lambda a: a[::-1, ::-1], 6: lambda a: np.rot90(a, 1), 8: lambda a: np.rot90(a, -1)}


def test_exif_rotated_jpegs_give_keypoints_in_the_displayed_frame(env, tmp_path):
    upright = np.ascontiguousarray(astronaut_bgr()[:, 64:448])  # 384 wide, 512 high
    names = []
    for o in ORIENT:
        stored = jpeg_bytes(np.ascontiguousarray(UNORIENT[o](upright)))  # as a sideways camera stores it
        (tmp_path / f"exif{o}.jpg").write_bytes(with_exif_orientation(stored, o))
        # The physically rotated copy: the stored pixels, decoded as they are, turned by numpy, lossless.
        raw = cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        cv2.imwrite(str(tmp_path / f"turned{o}.png"), np.ascontiguousarray(ORIENT[o](raw)))
        names += [f"exif{o}.jpg", f"turned{o}.png"]
    out = tmp_path / "res.jsonl"
    code, _, err = run("image", *(tmp_path / n for n in names), "--out", out, "--quiet")
    assert (code, err) == (0, [])
    records = {Path(r["image"]).name: r for r in jsonl(out)}
    for o in ORIENT:
        exif, turned = records[f"exif{o}.jpg"], records[f"turned{o}.png"]
        assert (exif["width"], exif["height"]) == (384, 512), o
        assert exif["poses"] == turned["poses"], o
        kp = {k["part"]: k["position"] for k in exif["poses"][0]["keypoints"]}
        assert kp["nose"]["y"] < kp["leftShoulder"]["y"] and kp["nose"]["y"] < kp["rightShoulder"]["y"], o


# ----------------------------------------------------------------------------------------------- videos


def make_avi(path: Path, n: int, size: tuple[int, int] = (160, 160)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    frame = cv2.resize(astronaut_bgr(), size)
    for _ in range(n):
        writer.write(frame)
    writer.release()


def break_frame(path: Path, k: int) -> None:
    """Blank out frame k's whole JPEG (an MJPG AVI stores each frame as one), keeping the container intact."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
    end = data.find(b"\xff\xd9", starts[k]) + 2
    data[starts[k]:end] = bytes(end - starts[k])
    path.write_bytes(bytes(data))


def test_a_video_with_a_broken_middle_keeps_the_good_frames(env, tmp_path):
    clip = tmp_path / "clip.avi"
    make_avi(clip, 10)
    break_frame(clip, 5)
    out, drawn = tmp_path / "poses.jsonl", tmp_path / "drawn.avi"
    code, stdout, err = run("video", clip, "--out", out, "--draw", drawn, *ONE_PERSON)
    assert (code, stdout) == (1, "")
    assert len(err) == 2 and re.fullmatch(summary_line(9, "frame", found(jsonl(out)), errors=1), err[0]), err
    assert err[1] == "posenet: error: 1 frames could not be processed"
    records = jsonl(out)
    assert [r["frame"] for r in records] == list(range(10))  # frame 5 as an error record, in order
    assert records[5] == {"frame": 5, "error": "the frame could not be decoded"}
    good = records[:5] + records[6:]
    assert good[5]["time_ms"] == 600.0 and all(r["poses"] for r in good)
    assert int(cv2.VideoCapture(str(drawn)).get(cv2.CAP_PROP_FRAME_COUNT)) == 9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.avi", "drawn.avi", "poses.jsonl"]


def test_a_broken_frame_gets_an_error_record_in_order(env, tmp_path):
    clip = tmp_path / "clip.avi"
    make_avi(clip, 10)
    break_frame(clip, 5)
    out = tmp_path / "poses.jsonl"
    run("video", clip, "--out", out, "--quiet")
    records = jsonl(out)
    assert [r["frame"] for r in records] == list(range(10))
    assert set(records[5]) == {"frame", "error"}


def test_a_corrupt_h264_middle_is_concealed_or_counted(env, shared, tmp_path):
    """FFmpeg conceals damage inside an H.264 stream, so each frame comes out, as a pose line or an error."""
    data = bytearray((shared / "data" / "videos" / "street-5frames.mp4").read_bytes())
    mid = len(data) // 2
    data[mid:mid + 2000] = bytes(range(250)) * 8
    clip = tmp_path / "damaged.mp4"
    clip.write_bytes(bytes(data))
    out = tmp_path / "poses.jsonl"
    code, _, err = run("video", clip, "--out", out)
    frames = [r["frame"] for r in jsonl(out)]
    errors = int(m.group(1)) if (m := re.search(r", (\d+) errors$", err[0])) else 0
    assert len(frames) + errors == 5 and frames == sorted(frames)
    assert code == (1 if errors else 0)


VIDEO_FAILURES = [
    ("no-frames", "empty.avi", lambda p: make_avi(p, 0), "video {path!r} has no frames"),
    ("zero-byte", "zero.mp4", lambda p: p.write_bytes(b""),
     "cannot open video {path!r}: not a video or an unsupported format"),
    ("cut-in-half", "cut.mp4", lambda p: p.write_bytes(half((SHARED / "data/videos/street-5frames.mp4").read_bytes())),
     "cannot open video {path!r}: not a video or an unsupported format"),
    ("text", "notes.mp4", lambda p: p.write_text("not a video"),
     "cannot open video {path!r}: not a video or an unsupported format"),
    ("past-the-end", "short.avi", lambda p: make_avi(p, 3), "video {path!r} has no frames after 5s"),
]


@pytest.mark.parametrize(("name", "make", "message"), [c[1:] for c in VIDEO_FAILURES],
                         ids=[c[0] for c in VIDEO_FAILURES])
def test_an_unusable_video_gets_one_line_and_leaves_nothing(env, shared, tmp_path, name, make, message):
    path = tmp_path / name
    make(path)
    before = tree(tmp_path)
    code, stdout, err = run("video", path, "--out", tmp_path / "poses.jsonl", "--draw",
                            tmp_path / "drawn.mp4", "--start", "5" if name == "short.avi" else "0")
    assert (code, stdout) == (1, "")
    assert err == ["posenet: error: " + message.format(path=str(path))]
    assert tree(tmp_path) == before


# ------------------------------------------------------------------------------------- sizes from options


@pytest.mark.parametrize(("option", "message"), [
    (["--long-edge", "20000"], "long edge 20000 gives a network input of 20001x20001, over the limit of "
     f"{MAX_INPUT_PIXELS / 1e6:.1f} megapixels; use a smaller size"),
    (["--resolution", "5000"], "resolution 4993x4993 on a 513x513 image gives a network input of 4993x4993, "
     f"over the limit of {MAX_INPUT_PIXELS / 1e6:.1f} megapixels; use a smaller size"),
    (["--long-edge", "0"], "long edge must be at least 17 px at stride 16"),
    (["--resolution", "0"], "resolution must be positive (got 0x0)"),
])
def test_sizes_that_cannot_work_are_refused_before_any_work(env, tmp_path, option, message):
    code, stdout, err = run("image", SAMPLE, "--out", tmp_path / "p.json", *option)
    assert (code, stdout) == (1, "")
    assert len(err) == 1 and err[0].startswith("posenet: error: " + message)
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------- huge images: bounded memory

_PEAK = """
import sys
from posenet_cli.cli import main
code = main(sys.argv[2:])
try:  # VmHWM: this process's own peak (ru_maxrss would include the forking pytest's, inherited over exec)
    peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
except OSError:
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
open(sys.argv[1], "w").write(str(peak))
sys.exit(code)
"""


@pytest.mark.slow
def test_huge_images_are_refused_from_the_header_in_bounded_memory(model_env, tmp_path):
    """A real 20000x20000 PNG (and a JPEG saying it is one) would take 1.2 GB each as RGB: refused from the
    header, the good image still done, and the whole process (TensorFlow and the model included) stays small."""
    huge_png, huge_jpg, good = tmp_path / "huge.png", tmp_path / "huge.jpg", tmp_path / "good.png"
    huge_png.write_bytes(real_huge_png(20000))
    huge_jpg.write_bytes(jpeg_claiming(20000, 20000))
    good.write_bytes(SAMPLE.read_bytes())
    out, peak = tmp_path / "res.jsonl", tmp_path / "peak"
    proc = subprocess.run([sys.executable, "-c", _PEAK, str(peak), "image", str(huge_png), str(huge_jpg), str(good),
                           "--out", str(out), *ONE_PERSON], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, **model_env})
    assert (proc.returncode, proc.stdout) == (1, ""), proc.stderr
    err = proc.stderr.splitlines()
    assert len(err) == 2 and re.fullmatch(summary_line(1, "image", found(jsonl(out)), errors=2), err[0]), proc.stderr
    assert err[1] == "posenet: error: 2 of 3 images failed"
    limit = "20000x20000 is larger than the limit of 100 megapixels"
    assert jsonl(out)[:2] == [{"image": str(p), "error": f"cannot read image {str(p)!r}: {limit}"}
                              for p in (huge_png, huge_jpg)]
    assert jsonl(out)[2]["poses"]
    assert int(peak.read_text()) < 1.5e9


# ----------------------------------------------------------------------------------- model files are data


def _copy_model(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def test_broken_model_folders_get_one_line(env, shared, tmp_path):
    ckpt = shared / "models" / "weights" / "posenet" / "mobilenet_v1_050"
    cases = []
    cut = _copy_model(ckpt, tmp_path / "cut")
    shard = cut / "MobilenetV1_Conv2d_10_pointwise_weights"
    shard.write_bytes(shard.read_bytes()[:1000])
    cases.append((f"{cut}/", f"{shard} is 1000 bytes, expected 262144 (truncated or corrupt)"))
    evil = _copy_model(ckpt, tmp_path / "evil")
    manifest = json.loads((evil / "manifest.json").read_text())
    next(iter(manifest.values()))["filename"] = "../../../etc/passwd"
    (evil / "manifest.json").write_text(json.dumps(manifest))
    cases.append((f"{evil}/", "refusing model file path '../../../etc/passwd': outside the model folder"))
    graph = _copy_model(shared / "models" / "savedmodel" / "posenet" / "mobilenet" / "quant2" / "075",
                        tmp_path / "graph")
    bin_ = graph / "group1-shard1of1.bin"
    bin_.write_bytes(bin_.read_bytes()[:-10])
    cases.append((str(graph / "model-stride16.json"), "model-stride16.json weightsManifest[0]: shards "
                  "group1-shard1of1.bin hold 2516380 bytes but the manifest's weights need 2516390; a shard is "
                  "truncated or missing"))
    for model, message in cases:
        code, stdout, err = run("image", SAMPLE, "--model", model, "--quiet")
        assert (code, stdout, err) == (1, "", [f"posenet: error: {message}"])


@pytest.mark.parametrize("manifest", ["5", "[1, 2]", '"text"', "null", '{"a": {"filename": "a", "shape": [Infinity]}}'])
def test_a_manifest_that_is_not_an_object_gets_one_line(env, tmp_path, manifest):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "manifest.json").write_text(manifest)
    code, stdout, err = run("image", SAMPLE, "--model", f"{folder}/", "--quiet")
    assert (code, stdout) == (1, "") and len(err) == 1 and err[0].startswith("posenet: error: ")


def test_a_broken_manifest_is_named_in_the_error(env, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"a": ')
    _, _, err = run("image", SAMPLE, "--model", f"{folder}/", "--quiet")
    assert len(err) == 1 and "manifest.json is not valid JSON" in err[0]


def test_no_pickle_or_eval_anywhere_in_the_package():
    """Model files and inputs are data: nothing in the package may unpickle or evaluate code."""
    forbidden = re.compile(r"\bpickle\b|\bcPickle\b|(?<![\w.])eval\(|(?<![\w.])exec\(|allow_pickle\s*=\s*True"
                           r"|\bmarshal\.loads?\(|\byaml\.load\(|\bshelve\b")
    found = [f"{p.relative_to(REPO)}:{i}: {line.strip()}"
             for p in sorted(PACKAGE.rglob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1) if forbidden.search(line)]
    assert found == []
