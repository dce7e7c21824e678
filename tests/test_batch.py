"""`posenet batch`: its outputs equal `posenet image` / `posenet video` on the same inputs, byte for byte,
with 1 worker, 2 worker processes and a local Ray runtime; video parts hold exactly the unsplit run's
frames; a Ray worker killed mid-job and a driver killed mid-job (then --resume) lose nothing; bad
inputs give one line and a manifest entry. All on the shared media with the real weights.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from posenet_cli.batch import (
    BatchError,
    BatchJob,
    InlineBackend,
    default_workers,
    make_job,
    plan_items,
    plan_tasks,
    run_batch,
    threads_per_worker,
)
from posenet_cli.batch.worker import part_reader
from posenet_cli.files import part_path, remove_leftovers, temp_path
from posenet_cli.jobs import JobOptions
from posenet_cli.media.inputs import IMAGE, VIDEO, MediaError
from posenet_cli.media.inputs import expand_inputs as expand
from posenet_cli.media.video import NoFramesError, VideoReader
from posenet_cli.models import ModelRef
from posenet_cli.stream.temporal import AcrossFramesOptions
from posenet_cli.stream.tracking import TrackOptions

from clips import PHONE_DELTAS_MS, make_clip
from conftest import posenet

PHOTOS = ["data/images/tfjs-demo/tennis.jpg", "data/images/coral/couple.jpg", "data/images/tfjs-demo/skiing.jpg"]
CLIPS = ["data/videos/walking-street.mp4", "data/videos/street-5frames.mp4"]  # 30 and 5 frames up to --end 1
SETTINGS = ["--multi", "--end", "1"]
PARTS = ["--chunk-frames", "7"]  # walking-street in 5 parts, street-5frames in 1


def expand_inputs(args: list[str], lists: list[str] = ()) -> list[Path]:
    return expand(args, kinds=(IMAGE, VIDEO), list_files=lists)


def inputs(shared: Path) -> list[Path]:
    return [shared / p for p in PHOTOS + CLIPS]


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def assert_same_outputs(out: Path, reference: Path) -> None:
    """Every reference file has its twin in `out`, byte for byte, and `out` holds nothing else
    but the manifest (no temp files or parts left)."""
    expected = sorted(p.name for p in reference.iterdir())
    assert sorted(p.name for p in out.iterdir() if p.name != "manifest.json") == expected
    for name in expected:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


@pytest.fixture(scope="module")
def module_env(model_env):
    with pytest.MonkeyPatch.context() as mp:
        for k, v in model_env.items():
            mp.setenv(k, v)
        yield model_env


@pytest.fixture(scope="module")
def reference(module_env, shared, tmp_path_factory) -> Path:
    """What `posenet image PHOTOS --out DIR/` and `posenet video CLIP --out NAME.jsonl` write."""
    ref = tmp_path_factory.mktemp("reference")
    code, _, err = posenet("image", *[shared / p for p in PHOTOS], "--multi", "--out", f"{ref}/", "--quiet")
    assert code == 0, err
    for clip in CLIPS:
        out = ref / (Path(clip).stem + ".jsonl")
        code, _, err = posenet("video", shared / clip, *SETTINGS, "--out", out, "--quiet")
        assert code == 0, err
    return ref


# ---------------------------------------------------------------------------------- planning (no model)


def test_inputs_from_files_folders_globs_and_lists(shared, tmp_path, monkeypatch):
    folder = shared / "data/images/tfjs-demo"
    listing = tmp_path / "list.txt"
    listing.write_text(f"# inputs\n{shared / CLIPS[1]}\n\n{shared / PHOTOS[1]}\n")
    monkeypatch.chdir(shared)
    got = expand_inputs([PHOTOS[0], "data/videos/street-*.mp4", f"@{listing}", str(folder)])
    # in order; a file named twice (relative, then absolute: street-5frames, tennis) is one input
    assert got[:3] == [Path(PHOTOS[0]), Path(CLIPS[1]), shared / PHOTOS[1]]
    assert got[3:] == [p for p in sorted(folder.glob("*.jpg")) if p.name != "tennis.jpg"]
    assert expand_inputs([], [str(listing)]) == [shared / CLIPS[1], shared / PHOTOS[1]]


@pytest.mark.parametrize("args, message", [
    (["nope.jpg"], "cannot read 'nope.jpg': no such file or directory"),
    (["*.nothing"], "no images or videos match"),
    (["@missing.txt"], "cannot read list file 'missing.txt'"),
    ([], "no inputs"),
])
def test_bad_inputs_are_one_line(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MediaError, match=message.replace("*", r"\*")):
        expand_inputs(args)
    code, _, err = posenet("batch", *args, "--out-dir", tmp_path / "out")
    assert code == 1 and err.count("\n") == 1 and err.startswith("posenet: error: ") and message in err


def test_output_names_must_not_clash(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(BatchError, match="would both write x.json"):
        plan_items([tmp_path / "a/x.jpg", tmp_path / "b/x.png"])
    with pytest.raises(BatchError, match="would both write manifest.json"):
        plan_items([tmp_path / "manifest.jpg"])
    items = plan_items([Path("x.jpg"), Path("x.mp4")], draw=True)  # x.json + x.jpg, x.jsonl + x.mp4
    assert [(i.output, i.draw) for i in items] == [("x.json", "x.jpg"), ("x.jsonl", "x.mp4")]


def test_default_workers_one_per_core_as_memory_allows():
    assert [default_workers(c, memory=64e9) for c in (1, 2, 16, 64)] == [1, 2, 16, 37]  # 0.85 GB each, half the RAM
    assert default_workers(16, memory=4e9) == 2 and default_workers(2, memory=1e9) == 1
    assert [threads_per_worker(w, 16) for w in (1, 8, 16, 32)] == [16, 2, 1, 1]


def _job(shared: Path, opts: JobOptions = JobOptions(), **kw) -> BatchJob:
    items = plan_items([shared / c for c in CLIPS] + [shared / PHOTOS[0]])
    return BatchJob(tuple(items), "/nonexistent", ModelRef("m", 16, path="/nonexistent"), opts, **kw)


def test_long_videos_are_split_only_where_frames_are_independent(shared):
    tasks, failed, counts = plan_tasks(_job(shared, end=1.0, chunk_frames=7), [0, 1, 2], workers=2)
    assert not failed and counts == {0: 30, 1: 5}
    walking = [(t.part, t.parts, t.start, t.end, t.grid) for t in tasks if t.item == 0]
    bounds = [None, 0.2, 0.4, 0.6, 0.8, None]  # by time, of equal duration
    assert walking == [(k, 5, pytest.approx(bounds[k]), pytest.approx(bounds[k + 1]), 0) for k in range(5)]
    auto, _, _ = plan_tasks(_job(shared), [0, 1, 2], workers=2)  # 144 + 5 + 1 frames (4.8 s): 2 parts
    assert [(t.start, t.end) for t in auto if t.item == 0] == [(None, pytest.approx(2.4)), (pytest.approx(2.4), None)]
    tracked = _job(shared, JobOptions(across=AcrossFramesOptions(track=TrackOptions())), chunk_frames=7)
    assert sum(t.item == 0 for t in plan_tasks(tracked, [0, 1, 2], workers=2)[0]) == 1  # ids need every frame
    assert sum(t.item == 0 for t in plan_tasks(_job(shared, chunk_frames=0), [0], workers=2)[0]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("clip, start, end, every, chunk", [
    ("walking", 0.0, 2.0, 1, 13), ("walking", 0.5, 3.0, 3, 4), ("phone", 0.0, None, 1, 7), ("phone", 0.3, 2.5, 3, 3)])
def test_video_parts_hold_exactly_the_unsplit_frames(shared, tmp_path, clip, start, end, every, chunk):
    """Parts read by time give the unsplit run's frames: same indices, times and pixels, none missing or
    repeated, on a constant-rate clip and on a variable-rate one (20 frames 33 ms apart, then 100 ms)."""
    if clip == "phone":
        make_clip(tmp_path / "phone.mp4", PHONE_DELTAS_MS, audio=False)
    source = str(shared / CLIPS[0]) if clip == "walking" else str(tmp_path / "phone.mp4")
    items = (plan_items([Path(source)])[0],)
    job = BatchJob(items, "/nonexistent", ModelRef("m", 16, path="/nonexistent"), start=start, end=end,
                   every=every, chunk_frames=chunk)
    tasks = sorted((t for t in plan_tasks(job, [0], workers=2)[0]), key=lambda t: t.part)
    assert len(tasks) > 2
    with VideoReader(source, start=start, end=end, every=every) as reader:
        whole = list(reader)
    parts = []
    for t in tasks:
        try:
            with part_reader(job, t, source) as reader:
                parts += list(reader)
        except NoFramesError:  # a part shorter than the gap between two kept frames
            pass
    assert [f.index for f in parts] == [f.index for f in whole]
    assert [f.time_ms for f in parts] == [f.time_ms for f in whole]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(parts, whole))
    steps = np.diff([f.index for f in parts])
    assert (steps == every).all()


# -------------------------------------------------------------------- outputs equal image / video


def test_one_worker_equals_image_and_video(module_env, shared, reference, tmp_path):
    out = tmp_path / "out"
    code, _, err = posenet("batch", *inputs(shared), *SETTINGS, *PARTS, "--out-dir", out, "--workers", "1", "--quiet")
    assert code == 0, err
    assert_same_outputs(out, reference)
    m = manifest(out)
    assert m["counts"] == {"inputs": 5, "done": 5, "skipped": 0, "failed": 0, "pending": 0}
    assert m["frames"] == 3 + 30 + 5 and m["backend"] == "inline"
    assert {i["output"]: i["parts"] for i in m["items"]}["walking-street.jsonl"] == 5


def test_progress_counts_every_frame_once(module_env, shared, tmp_path):
    """What a progress bar is shown: never a frame backwards, and at the end every planned item and frame
    done, as many frames as the manifest counts (3 photos + 30 + 5 frames); a split video's frames are
    counted as they are done and once more never when its result comes."""
    job = make_job(plan_items(inputs(shared)), tmp_path / "out", ModelRef().resolve(),
                   JobOptions(), end=1.0, chunk_frames=7)
    seen: list[tuple[int, int, int, int]] = []
    report = run_batch(job, InlineBackend(), on_progress=lambda p: seen.append(
        (p.items, p.frames, p.items_total, p.frames_total)))
    assert [frames for _, frames, _, _ in seen] == sorted(frames for _, frames, _, _ in seen)
    assert seen[0] == (0, 0, 5, 38) and seen[-1] == (5, 38, 5, 38)
    assert report.frames == manifest(tmp_path / "out")["frames"] == 38
    assert len(seen) > 5  # the frames of the task in hand are shown as they are done, not per task only


def test_leftovers_are_the_names_temp_files_and_parts_get(tmp_path):
    """An interrupted run's temporary files and parts are what remove_leftovers removes, and nothing else:
    not complete outputs, nor hidden files of other tools."""
    target = tmp_path / "clip.jsonl"
    leftovers = [temp_path(target), temp_path(target, ".tmp"), part_path(target, 0, 2), part_path(target, 1, 2),
                 temp_path(target, ".part.webm")]  # an annotated video in the making (media/video.py)
    kept = [target, tmp_path / "photo.json", tmp_path / ".hidden", tmp_path / "manifest.json"]
    for path in leftovers + kept:
        path.write_text("x")
    assert all(p.name.startswith(".clip.jsonl.") for p in leftovers)
    remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)


def test_worker_processes_equal_image_and_video(module_env, shared, reference, tmp_path):
    """Two spawned workers, each writing straight to the folder (--write-by workers): parts merged in order."""
    out = tmp_path / "out"
    code, _, err = posenet("batch", *inputs(shared), *SETTINGS, *PARTS, "--out-dir", out, "--workers", "2",
                        "--write-by", "workers", "--quiet")
    assert code == 0, err
    assert_same_outputs(out, reference)
    m = manifest(out)
    assert m["backend"] == "local" and m["workers"] == 2 and m["counts"]["done"] == 5


# ------------------------------------------------------------------------------------------------ Ray


@pytest.fixture(scope="module")
def local_ray(module_env):
    """One local Ray runtime (2 CPUs: two worker processes) for this module's Ray tests."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'posenet-cli[ray]')")
    import logging

    ray.init(num_cpus=2, log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_equals_image_and_video(local_ray, shared, reference, tmp_path):
    out = tmp_path / "out"
    code, _, err = posenet("batch", *inputs(shared), *SETTINGS, *PARTS, "--out-dir", out, "--ray", "--threads", "1",
                        "--quiet")  # 1 CPU a task: two worker processes at once
    assert code == 0, err
    assert_same_outputs(out, reference)
    m = manifest(out)
    assert m["backend"] == "ray" and m["workers"] == 2 and m["counts"]["done"] == 5


def _ray_task_pids() -> list[int]:
    """Worker processes of this test's Ray runtime (descendants of this process: not another
    session's Ray) running one of our tasks right now (Ray titles them ray::<function>)."""
    parents, running = {}, []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            parents[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
            if cmdline.startswith(b"ray::_ray_task"):
                running.append(int(name))

    def ours(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return [pid for pid in running if ours(pid)]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds Ray's worker processes in /proc")
def test_a_ray_worker_killed_mid_job_loses_nothing(local_ray, shared, reference, tmp_path):
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        while not done.is_set() and not killed:
            for pid in _ray_task_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.01)

    thread = threading.Thread(target=killer)
    thread.start()
    out = tmp_path / "out"
    try:
        code, _, err = posenet("batch", *inputs(shared), *SETTINGS, "--chunk-frames", "3", "--out-dir", out, "--ray",
                            "--threads", "1", "--quiet")
    finally:
        done.set()
        thread.join()
    assert killed, "no Ray task was seen running"
    assert code == 0, err
    assert_same_outputs(out, reference)
    assert manifest(out)["counts"]["done"] == 5


# ------------------------------------------------------------------------------------- resume, errors


def test_resume_after_the_driver_is_killed_redoes_only_the_unfinished(module_env, shared, reference, tmp_path):
    out = tmp_path / "out"
    args = [sys.executable, "-m", "posenet_cli", "batch", *map(str, inputs(shared)), *SETTINGS, "--chunk-frames", "0",
            "--out-dir", str(out), "--workers", "1", "--quiet"]
    proc = subprocess.Popen(args, env={**os.environ, **module_env}, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "walking-street.jsonl").exists():  # the longest input goes first
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    complete = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith(".")}
    assert "manifest.json" not in complete and 0 < len(complete) < 5
    code, _, err = posenet("batch", *inputs(shared), *SETTINGS, "--out-dir", out, "--workers", "1", "--resume",
                        "--quiet")
    assert code == 0, err
    assert_same_outputs(out, reference)
    status = {i["output"]: i["status"] for i in manifest(out)["items"]}
    assert {name for name, s in status.items() if s == "skipped"} == set(complete)
    assert {name for name, s in status.items() if s == "done"} == set(status) - set(complete)
    assert all((out / name).stat().st_mtime_ns == t for name, t in complete.items())  # not rewritten
    code, _, err = posenet("batch", *inputs(shared), "--multi", "--out-dir", out, "--resume", "--quiet")
    assert code == 1 and "other settings" in err  # without --end 1: not the same job


def test_failed_inputs_are_recorded_and_exit_1(module_env, shared, tmp_path):
    bad_image, bad_video = tmp_path / "broken.jpg", tmp_path / "noise.mp4"
    bad_image.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    bad_video.write_bytes(b"not a video at all" * 100)
    out = tmp_path / "out"
    good = shared / PHOTOS[0]
    code, _, err = posenet("batch", bad_image, good, bad_video, "--out-dir", out, "--workers", "1", "--quiet")
    assert code == 1 and err.count("\n") == 1 and "2 of 3 inputs failed" in err
    items = {i["input"]: i for i in manifest(out)["items"]}
    assert items[str(good)]["status"] == "done" and (out / "tennis.json").is_file()
    assert items[str(bad_image)]["status"] == "failed" and "broken.jpg" in items[str(bad_image)]["error"]
    assert items[str(bad_video)]["status"] == "failed" and "noise.mp4" in items[str(bad_video)]["error"]
    assert not (out / "broken.json").exists() and not (out / "noise.jsonl").exists()
    code, _, err = posenet("batch", bad_image, good, bad_video, "--out-dir", out, "--workers", "1", "--quiet")
    assert code == 1 and "tennis.json exists; pass --overwrite" in err
    code, _, err = posenet("batch", bad_image, good, bad_video, "--out-dir", out, "--resume", "--quiet")
    statuses = [i["status"] for i in manifest(out)["items"]]
    assert code == 1 and statuses == ["failed", "skipped", "failed"]  # failures are tried again


def test_ray_missing_is_one_line(module_env, shared, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    code, _, err = posenet("batch", shared / PHOTOS[0], "--out-dir", tmp_path, "--ray", "--quiet")
    assert code == 1 and err == ("posenet: error: the Ray backend needs Ray: pip install 'posenet-cli[ray]' "
                                 "(or 'ray>=2.9')\n")


def test_a_broken_frame_at_a_part_boundary_is_recorded_as_unsplit(module_env, tmp_path):
    """A frame that fails to decode gets its error record in the same place as in `posenet video`,
    also when it is the last frame of a part; the input counts as failed (exit 1), its output kept."""
    import cv2

    clip = tmp_path / "clip.avi"
    sample = cv2.resize(cv2.imread(str(Path(__file__).resolve().parent.parent / "samples/astronaut.png")), (160, 160))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 160))
    for _ in range(10):
        writer.write(sample)
    writer.release()
    data = bytearray(clip.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]  # each frame one JPEG
    end = data.find(b"\xff\xd9", starts[5]) + 2
    data[starts[5]:end] = bytes(end - starts[5])  # frame 5: the last of part [3, 6)
    clip.write_bytes(bytes(data))
    reference = tmp_path / "reference.jsonl"
    code, _, _ = posenet("video", clip, "--out", reference, "--quiet")
    assert code == 1
    out = tmp_path / "out"
    code, _, err = posenet("batch", clip, "--out-dir", out, "--workers", "1", "--chunk-frames", "3", "--quiet")
    assert code == 1 and "1 of 1 inputs failed" in err
    assert (out / "clip.jsonl").read_bytes() == reference.read_bytes()
    assert '{"frame":5,"error"' in (out / "clip.jsonl").read_text()
    (item,) = manifest(out)["items"]
    assert (item["status"], item["frame_errors"], item["parts"]) == ("done", 1, 4)


def test_an_unreachable_ray_address_is_one_line_at_once(module_env, shared, tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is not installed")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # as in a fresh process, whatever ran before
    t = time.monotonic()
    code, _, err = posenet("batch", shared / PHOTOS[0], "--out-dir", tmp_path, "--ray-address", "127.0.0.1:1",
                           "--quiet")
    assert code == 1 and err.startswith("posenet: error: cannot reach Ray at 127.0.0.1:1: ") and err.count("\n") == 1
    assert time.monotonic() - t < 10


def test_draw_writes_annotated_images_and_videos(module_env, shared, tmp_path):
    import cv2

    out, drawn = tmp_path / "out", tmp_path / "drawn"
    drawn.mkdir()
    temp_path(drawn / "clip.webm", ".part.webm").write_bytes(b"a killed run's drawing")  # removed: a leftover
    code, _, err = posenet("batch", shared / PHOTOS[0], shared / CLIPS[1], "--out-dir", out, "--draw", drawn,
                        "--workers", "1", "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in drawn.iterdir()) == ["street-5frames.mp4", "tennis.jpg"]
    assert int(cv2.VideoCapture(str(drawn / "street-5frames.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    assert cv2.imread(str(drawn / "tennis.jpg")).shape == cv2.imread(str(shared / PHOTOS[0])).shape


def test_batch_takes_the_options_image_takes(module_env, shared, tmp_path):
    """Options are checked at the stride given, as `posenet image` checks them (batch once checked sizing
    at stride 16 and refused a long edge of 12 at stride 8)."""
    photo, options = shared / PHOTOS[1], ["--stride", "8", "--long-edge", "12", "--multi", "--quiet"]
    code, _, err = posenet("image", photo, *options, "--out", f"{tmp_path}/image/")
    assert code == 0, err
    code, _, err = posenet("batch", photo, *options, "--out-dir", tmp_path / "batch")
    assert code == 0, err
    assert (tmp_path / "batch" / "couple.json").read_bytes() == (tmp_path / "image" / "couple.json").read_bytes()
    for command in (["image", photo, "--out", f"{tmp_path}/bad/"], ["batch", photo, "--out-dir", tmp_path / "bad"]):
        code, _, err = posenet(*command, "--stride", "8", "--long-edge", "8")  # below stride + 1: refused by both
        assert code == 1 and err == "posenet: error: long edge must be at least 9 px at stride 8\n"


def test_a_variable_rate_video_split_by_time_equals_the_unsplit_run(module_env, shared, tmp_path):
    """20 frames 33 ms apart, then 20 frames 100 ms apart: parts of equal duration hold unequal frame
    counts, and joined they are `posenet video`'s JSON lines, byte for byte."""
    clip = tmp_path / "phone.mp4"
    make_clip(clip, PHONE_DELTAS_MS)
    whole = tmp_path / "whole.jsonl"
    code, _, err = posenet("video", clip, "--multi", "--every", "2", "--out", whole, "--quiet")
    assert code == 0, err
    code, _, err = posenet("batch", clip, "--multi", "--every", "2", "--chunk-frames", "4", "--workers", "1",
                           "--out-dir", tmp_path / "out", "--quiet")
    assert code == 0, err
    assert (tmp_path / "out" / "phone.jsonl").read_bytes() == whole.read_bytes()
    assert manifest(tmp_path / "out")["counts"]["done"] == 1
