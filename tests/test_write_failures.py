"""Writes that fail mid-run, on real file systems: a full disk (a small tmpfs mounted in the test, which
needs root, as CI runs) and a file size limit (RLIMIT_FSIZE, in this process: writes past it fail with
EFBIG, since CPython ignores SIGXFSZ). Every output kind: one `posenet: error: cannot write PATH: CAUSE`
line, exit status 74, what was written stays whole, and once the space is back `--resume` (or a rerun,
for outputs that cannot be continued) gives exactly what an uninterrupted run gives. Also: paths that
are not UTF-8 give records that strict parsers accept."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from posenet_cli.errors import WriteError
from posenet_cli.media.inputs import IMAGE
from posenet_cli.output.writers import VIDEO, open_writer
from posenet_cli.pose import Pose

from conftest import mounted_tmpfs, posenet

CLIP = "data/videos/street-5frames.mp4"
PHOTOS = "data/images/tfjs-demo"
WRITE_FAILED = 74


class FullDisk:
    """A tmpfs of its own; `on(total=...)` fills it with a file that leaves `total` bytes free, and removing
    that file gives the space back."""

    cause = "No space left on device"

    def __init__(self, mount: Path) -> None:
        self.mount, self.out = mount, mount / "out"
        self.out.mkdir()

    @contextlib.contextmanager
    def on(self, *, total: int, per_file: int) -> Iterator[None]:
        filler = self.mount / "filler"
        st = os.statvfs(self.mount)
        with open(filler, "wb") as f:
            f.write(bytes(max(0, st.f_bavail * st.f_frsize - total)))
        try:
            yield
        finally:
            filler.unlink()


class SizeLimit:
    """RLIMIT_FSIZE on this process: `on(per_file=...)` makes every write past that size fail (EFBIG)."""

    cause = "File too large"

    def __init__(self, folder: Path) -> None:
        self.out = folder
        self.out.mkdir()

    @contextlib.contextmanager
    def on(self, *, total: int, per_file: int) -> Iterator[None]:
        assert signal.getsignal(signal.SIGXFSZ) == signal.SIG_IGN  # so a write past the limit fails, not the process
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (per_file, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.fixture()
def tmpfs(tmp_path) -> Iterator[Path]:
    """An 8 MiB tmpfs mounted for this test; skipped, with the reason, where mounting is not permitted."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    with mounted_tmpfs(mount, "size=8m"):  # where it cannot be mounted, the file-size-limit cases still run
        yield mount


@pytest.fixture(params=["full-disk", "file-size-limit"])
def fault(request, tmp_path) -> FullDisk | SizeLimit:
    if request.param == "full-disk":
        return FullDisk(request.getfixturevalue("tmpfs"))
    return SizeLimit(tmp_path / "limited")


def one_line(run: tuple[int, str, str], path: Path, fault: FullDisk | SizeLimit) -> str:
    """The run failed as a failed write must: status 74, one line naming `path` and the cause."""
    code, stdout, err = run
    assert code == WRITE_FAILED, err
    assert err.count("\n") == 1 and err.startswith(f"posenet: error: cannot write {path}: {fault.cause}"), err
    return err


def tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.rglob(".*")], "temporary files left behind"


# ------------------------------------------------------------------------------------------ line formats


@pytest.mark.slow
@pytest.mark.parametrize(("args", "name", "total", "per_file", "line_end", "again"), [
    (("video", CLIP, "--multi", "--track"), "poses.jsonl", 49152, 50000, b"\n", "--resume"),  # tracking rebuilt
    (("image", PHOTOS, "--multi"), "poses.jsonl", 40960, 40000, b"\n", "--resume"),
    (("video", CLIP, "--multi"), "poses.csv", 8192, 10000, b"\r\n", "--overwrite"),  # CSV is not continued: rerun
], ids=["video-jsonl", "image-jsonl", "video-csv"])
def test_line_formats_end_at_a_whole_record_and_continue(env, shared, fault, tmp_path, args, name, total,
                                                         per_file, line_end, again):
    args = (args[0], shared / args[1], *args[2:], "--quiet", "--min-pose-score", "0.1")  # records of the sizes
    ref = tmp_path / name
    assert posenet(*args, "--out", ref)[0] == 0
    out = fault.out / name
    with fault.on(total=total, per_file=per_file):
        err = one_line(posenet(*args, "--out", out), out, fault)
    assert "it ends at its last whole record" in err
    kept = out.read_bytes()
    assert kept.endswith(line_end) and ref.read_bytes().startswith(kept)
    assert 0 < kept.count(line_end) < ref.read_bytes().count(line_end)
    code, _, err = posenet(*args, "--out", out, again)
    assert code == 0, err
    assert out.read_bytes() == ref.read_bytes()


# -------------------------------------------------------------------------------------- whole documents


@pytest.mark.slow
def test_coco_is_written_whole_or_not_at_all(env, shared, fault, tmp_path):
    args = ("image", shared / PHOTOS, "--multi", "--format", "coco", "--quiet")
    ref = tmp_path / "ref.json"
    assert posenet(*args, "--out", ref)[0] == 0
    out = fault.out / "coco.json"
    size = ref.stat().st_size
    with fault.on(total=size // 2, per_file=size - 1):
        err = one_line(posenet(*args, "--out", out), out, fault)
    assert "not written" in err and tree(fault.out) == {}
    assert posenet(*args, "--out", out)[0] == 0
    assert out.read_bytes() == ref.read_bytes()


@pytest.mark.parametrize("fmt", ["json", "openpose"])
def test_result_folders_hold_whole_files_and_resume(env, shared, fault, tmp_path, fmt):
    args = ("image", shared / PHOTOS, "--multi", "--format", fmt, "--quiet")
    ref = tmp_path / "ref"
    assert posenet(*args, "--out", f"{ref}/")[0] == 0
    sizes = {name: len(data) for name, data in tree(ref).items()}
    largest = max(sizes, key=lambda n: sizes[n])
    out = fault.out / "results"
    # A file size limit stops the run at the largest file; a full disk part way through.
    with fault.on(total=sum(sizes.values()) // 2, per_file=sizes[largest] - 1):
        run = posenet(*args, "--out", f"{out}/")
    written = tree(out)
    failed = out / (largest if isinstance(fault, SizeLimit) else sorted(set(sizes) - set(written))[0])
    one_line(run, failed, fault)
    assert 0 < len(written) < len(sizes) and failed.name not in written
    assert all(ref_bytes == tree(ref)[name] for name, ref_bytes in written.items())  # each one whole
    no_temp_files(out)
    assert posenet(*args, "--out", f"{out}/", "--resume")[0] == 0
    assert tree(out) == tree(ref)


def test_video_openpose_folder_resumes(env, shared, fault, tmp_path):
    args = ("video", shared / CLIP, "--multi", "--format", "openpose", "--quiet")
    ref = tmp_path / "ref"
    assert posenet(*args, "--out", ref)[0] == 0
    sizes = {name: len(data) for name, data in tree(ref).items()}
    out = fault.out / "frames"
    with fault.on(total=3 * 4096, per_file=max(sizes.values()) - 1):
        run = posenet(*args, "--out", out)
    written = tree(out)
    one_line(run, out / sorted(set(sizes) - set(written))[0], fault)
    assert len(written) < len(sizes) and all(data == tree(ref)[name] for name, data in written.items())
    no_temp_files(out)
    assert posenet(*args, "--out", out, "--resume")[0] == 0
    assert tree(out) == tree(ref)


# ---------------------------------------------------------------------------------------------- drawings


@pytest.mark.parametrize("pyav", [True, False], ids=["pyav", "opencv"])
def test_annotated_video_is_removed_and_said_so(env, shared, fault, monkeypatch, pyav):
    if not pyav:  # OpenCV's writer, which fails silently unless checked
        monkeypatch.setitem(sys.modules, "av", None)
    drawn = fault.out / "drawn.mp4"
    with fault.on(total=150_000, per_file=150_000):
        err = one_line(posenet("video", shared / CLIP, "--draw", drawn, "--quiet"), drawn, fault)
    assert "removed" in err and tree(fault.out) == {}  # no unplayable file, no temporary one
    assert posenet("video", shared / CLIP, "--draw", drawn, "--quiet")[0] == 0
    assert cv2.VideoCapture(str(drawn)).get(cv2.CAP_PROP_FRAME_COUNT) == 5


def test_json_lines_failing_first_leaves_a_video_of_the_same_frames(env, shared, tmpfs):
    disk = FullDisk(tmpfs)
    out, drawn = disk.out / "poses.jsonl", disk.out / "drawn.mp4"
    with disk.on(total=120_000, per_file=0):
        code, _, err = posenet("video", shared / CLIP, "--multi", "--out", out, "--draw", drawn, "--quiet")
    assert code == WRITE_FAILED and err.count("\n") == 1 and err.startswith("posenet: error: cannot write "), err
    frames = out.read_text().count("\n")
    if drawn.exists():  # finished with the frames whose records are in the JSON lines
        assert cv2.VideoCapture(str(drawn)).get(cv2.CAP_PROP_FRAME_COUNT) == frames and "removed" not in err
    else:
        assert f"cannot write {drawn}" in err and "removed" in err
    no_temp_files(disk.out)


def test_drawn_images_are_whole_and_resume_redraws_what_is_missing(env, shared, fault, tmp_path):
    photos = shared / PHOTOS
    assert posenet("image", photos, "--multi", "--out", tmp_path / "ref.jsonl", "--draw", f"{tmp_path}/ref/",
                   "--quiet")[0] == 0
    sizes = {name: len(data) for name, data in tree(tmp_path / "ref").items()}
    largest = max(sizes, key=lambda n: sizes[n])
    out, drawn = fault.out / "poses.jsonl", fault.out / "drawn"
    with fault.on(total=sum(sizes.values()) // 2, per_file=sizes[largest] - 1):
        code, _, err = posenet("image", photos, "--multi", "--out", out, "--draw", f"{drawn}/", "--quiet")
    assert code == WRITE_FAILED and err.count("\n") == 1, err
    done = [json.loads(line)["image"] for line in out.read_text().splitlines()]
    assert sorted(tree(drawn)) == sorted(Path(p).name for p in done)  # a record only with its drawing
    assert all(cv2.imread(str(p)) is not None for p in drawn.iterdir())
    no_temp_files(drawn)
    assert posenet("image", photos, "--multi", "--out", out, "--draw", f"{drawn}/", "--resume", "--quiet")[0] == 0
    assert out.read_bytes() == (tmp_path / "ref.jsonl").read_bytes() and sorted(tree(drawn)) == sorted(sizes)


# ------------------------------------------------------------------------------------------------- batch


@pytest.mark.parametrize("write_by", ["driver", "workers"])
def test_batch_records_the_failure_and_resume_does_only_what_is_missing(env, shared, fault, tmp_path,
                                                                        write_by):
    # Every input one item of work (the clip at --every 5 is one frame), so they run in the order given.
    inputs = [shared / PHOTOS / "tennis.jpg", shared / PHOTOS / "skiing.jpg", shared / CLIP]
    opts = ("--workers", "1", "--multi", "--every", "5", "--write-by", write_by, "--quiet")
    ref = tmp_path / "ref"
    assert posenet("batch", *inputs, *opts, "--out-dir", ref)[0] == 0
    sizes = {name: len(data) for name, data in tree(ref).items() if name != "manifest.json"}
    names = {p: p.stem + (".jsonl" if p.suffix == ".mp4" else ".json") for p in inputs}
    inputs.sort(key=lambda p: sizes[names[p]])  # the largest output last: the one that does not fit
    failed = names[inputs[-1]]
    out = fault.out / "results"
    room = sum(-(-sizes[names[p]] // 4096) * 4096 for p in inputs[:-1])  # the others, in tmpfs pages
    with fault.on(total=room, per_file=sizes[failed] - 1):
        run = posenet("batch", *inputs, *opts, "--out-dir", out)
    err = one_line(run, out / failed, fault)
    outputs = {k: v for k, v in tree(out).items() if k != "manifest.json"}
    assert sorted(outputs) == sorted(names[p] for p in inputs[:-1])
    assert all(data == tree(ref)[name] for name, data in outputs.items())  # each one whole
    no_temp_files(out)
    if (out / "manifest.json").exists():
        items = {i["output"]: i for i in json.loads((out / "manifest.json").read_text())["items"]}
        assert items[failed]["status"] == "failed"
        assert items[failed]["error"].startswith(f"cannot write {out / failed}: {fault.cause}")
    else:
        assert f"cannot write {out / 'manifest.json'}" in err  # said, when it could not be written either
    code, _, err = posenet("batch", *inputs, *opts, "--out-dir", out, "--resume")
    assert code == 0, err
    statuses = {item["output"]: item["status"] for item in json.loads((out / "manifest.json").read_text())["items"]}
    assert statuses == {**dict.fromkeys(outputs, "skipped"), failed: "done"}  # only what was missing is done
    assert {k: v for k, v in tree(out).items() if k != "manifest.json"} == \
        {k: v for k, v in tree(ref).items() if k != "manifest.json"}


# ------------------------------------------------------------------------------------------- model cache


def test_the_model_cache_is_never_half_written(weights_url, fault):
    cache = fault.out / "cache"
    fetch = ("models", "fetch", "mobilenet-v1-050", "--cache-dir", cache, "--base-url", weights_url)
    # A full disk stops the weights' download; a 1.5 MB limit lets the weights in (1 MB files at most) and
    # stops the SavedModel (2.3 MB of variables).
    with fault.on(total=256 * 1024, per_file=1_500_000):
        code, _, err = posenet(*fetch)
    assert code == WRITE_FAILED and err.count("\n") == 1, err
    assert err.startswith(f"posenet: error: cannot write {cache}/") and fault.cause in err
    assert not list(cache.rglob("saved_model.pb")) and not list(cache.rglob("savedmodels/*/*"))
    assert not [p for p in cache.rglob("*") if p.name.startswith(".") or p.name.endswith(".part")]
    code, _, err = posenet(*fetch)
    assert code == 0, err
    assert len(list(cache.rglob("saved_model.pb"))) == 1


def test_the_litert_model_cache_is_never_half_written(fault):
    """A .tflite that cannot be written into the cache is one WriteError, and leaves no part of it behind."""
    from posenet_cli.models.litert_runner import publish_model

    savedmodel, cache = fault.out / "savedmodel", fault.out / "cache"
    savedmodel.mkdir(parents=True)
    (savedmodel / "saved_model.pb").write_bytes(b"stands in for a SavedModel")
    with fault.on(total=64 * 1024, per_file=64 * 1024), pytest.raises(WriteError) as failed:
        publish_model(bytes(1_000_000), savedmodel, cache, "float32", {})
    message = str(failed.value)
    assert message.startswith(f"cannot write {cache}/litert/") and fault.cause in message
    assert message.endswith("(the model cache keeps no part of it)") and "\n" not in message
    assert not [p for p in cache.rglob("*") if p.is_file()]
    assert publish_model(bytes(1_000), savedmodel, cache, "float32", {}).stat().st_size == 1_000  # space again


# ------------------------------------------------------------------------------ outputs that disappear


def test_a_results_folder_made_read_only_mid_run(tmpfs):
    pose = Pose(0.9, [[float(i), float(i), 0.9] for i in range(17)])
    with open_writer("openpose", tmpfs / "out", kind=IMAGE, settings={}) as writer:
        writer.write("a.jpg", [pose], width=64, height=64)
        subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
        with pytest.raises(WriteError, match=r"cannot write .*b_keypoints.json: Read-only file system \(not written"):
            writer.write("b.jpg", [pose], width=64, height=64)
    subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=True)
    assert sorted(tree(tmpfs / "out")) == ["a_keypoints.json"]


def test_json_lines_whose_folder_is_removed_mid_run(tmp_path):
    folder = tmp_path / "gone"
    folder.mkdir()
    writer = open_writer("jsonl", folder / "poses.jsonl", kind=VIDEO, settings={})
    writer.write(0, [], width=64, height=64)
    shutil.rmtree(folder)  # writes to the open file would still succeed, and be lost
    with pytest.raises(WriteError, match="poses.jsonl: it was deleted while being written"):
        writer.write(1, [], width=64, height=64)
    writer.close()  # said once


# ------------------------------------------------------------------------------------ non-UTF-8 paths


def strict(text: bytes) -> list[dict]:
    """JSON lines read as a strict parser would: UTF-8 without surrogates, every string encodable."""
    records = [json.loads(line) for line in text.decode("utf-8").splitlines()]

    def check(value: object) -> None:
        if isinstance(value, str):
            value.encode("utf-8")  # raises on a lone surrogate
        elif isinstance(value, dict):
            for k, v in value.items():
                check(k)
                check(v)
        elif isinstance(value, list):
            for v in value:
                check(v)

    for r in records:
        check(r)
    return records


def test_latin1_file_names_give_valid_utf8_records(env, shared, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    photos = Path(os.fsdecode(b"fotos"))
    photos.mkdir()
    good, bad = os.fsdecode(b"fotos/caf\xe9.jpg"), os.fsdecode(b"fotos/r\xe9sum\xe9 \xff.jpg")
    shutil.copy(shared / PHOTOS / "tennis.jpg", good)
    Path(bad).write_bytes(b"not an image")
    code, _, err = posenet("image", photos, "--out", "poses.jsonl", "--quiet")
    assert code == 1 and "1 of 2 images failed" in err
    failed, done = sorted(strict(Path("poses.jsonl").read_bytes()), key=lambda r: "error" not in r)
    assert failed["image"] == "fotos/r\ufffdsum\ufffd \ufffd.jpg" and "error" in failed
    assert done["image"] == "fotos/caf\ufffd.jpg" and done["poses"]
    assert urllib.parse.unquote_to_bytes(done["image_bytes"]) == b"fotos/caf\xe9.jpg"
    assert urllib.parse.unquote_to_bytes(failed["image_bytes"]) == b"fotos/r\xe9sum\xe9 \xff.jpg"
    if shutil.which("jq"):
        subprocess.run(["jq", "-e", ".image", "poses.jsonl"], check=True, capture_output=True)
    assert posenet("image", photos, "--out", "poses.jsonl", "--resume", "--quiet")[0] == 0  # both recorded
    assert Path("poses.jsonl").read_text(encoding="utf-8").count("\n") == 2
    assert posenet("image", good, "--out", "poses.csv", "--quiet")[0] == 0
    assert "fotos/caf\ufffd.jpg" in Path("poses.csv").read_bytes().decode("utf-8")
    assert posenet("batch", good, "--out-dir", "batch", "--workers", "1", "--quiet")[0] == 0
    manifest = json.loads(Path("batch/manifest.json").read_bytes().decode("utf-8"))
    (item,) = manifest["items"]
    assert urllib.parse.unquote_to_bytes(item["input_bytes"]) == b"fotos/caf\xe9.jpg"
    assert strict(Path(os.fsdecode(b"batch/caf\xe9.json")).read_bytes().replace(b"\n", b" "))
