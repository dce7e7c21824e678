"""The batched, threaded video path gives exactly what one frame at a time gives, in order, and stops cleanly."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet_cli.decode import DecoderOptions
from posenet_cli.estimator import PoseNet
from posenet_cli.inference import ACCURATE, InferenceOptions
from posenet_cli.jobs import JobOptions, run_images
from posenet_cli.media.images import read_image
from posenet_cli.media.inputs import MediaError
from posenet_cli.media.video import VideoReader
from posenet_cli.models.litert_runner import MAX_WORKERS, LiteRTRunner
from posenet_cli.sizing import SizingError, SizingOptions
from posenet_cli.stream.frames import BrokenFrame, Frame
from posenet_cli.stream.pipeline import Pipeline

CLIPS = [("data/videos/street-5frames.mp4", None), ("data/videos/walking-street.mp4", 1.0),
         ("data/videos/dance.mp4", 1.0)]


VIEWS = {"plain": InferenceOptions(), "accurate": ACCURATE}  # --accurate: two scales, one mirrored, a finer grid


@pytest.mark.slow
@pytest.mark.parametrize("clip,end,views", [(*c, "plain") for c in CLIPS] + [(CLIPS[0][0], None, "accurate")],
                         ids=[Path(c).stem for c, _ in CLIPS] + ["street-5frames-accurate"])
@pytest.mark.parametrize("multi", [False, True], ids=["single", "multi"])
def test_pipelined_equals_one_frame_at_a_time(shared: Path, posenet_factory, clip: str, end: float | None,
                                              views: str, multi: bool):
    """Batching frames (and, with extra views, their passes) across frames changes nothing, bit for bit."""
    net = posenet_factory("mobilenet-v1-075", 16)
    sizing, params, inference = SizingOptions(scale_factor=0.5), DecoderOptions(multi=multi), VIEWS[views]
    with VideoReader(shared / clip, end=end) as reader:
        frames = list(reader)
    expected = [net.estimate(f.image, sizing, params, inference) for f in frames]
    for batch_size in (1, 4):  # 4 leaves a partial last batch on these clips
        got = list(Pipeline(net, sizing, params, inference, batch_size=batch_size).run(frames))
        assert [f.index for f, _ in got] == [f.index for f in frames]
        for (_, poses), want in zip(got, expected):
            assert len(poses) == len(want)
            for p, q in zip(poses, want):
                np.testing.assert_array_equal(p.keypoints, q.keypoints)
                assert p.score == q.score


# ----------------------------------------------------------------------------------------------------
# Threading behaviour, on a fake network that is fast and deterministic


class _FakeRunner:
    """Outputs whose heatmap peak sits at a position given by the first pixel: poses encode the frame."""

    output_stride = 16
    preferred_batch = 4

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[int] = []
        self.shapes: list[tuple[int, int]] = []

    def workers(self) -> list[_FakeRunner]:
        return [self]

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        time.sleep(self.delay)
        self.batches.append(len(images))
        self.shapes.append(images.shape[1:3])
        b, h, w, _ = images.shape
        gh, gw = (h - 1) // 16 + 1, (w - 1) // 16 + 1
        heat = np.zeros((b, gh, gw, 17), np.float32)
        for i, image in enumerate(images):
            code = int(round(float(image[0, 0, 0])))
            heat[i, code % gh, (code // gh) % gw, :] = 0.9
        return {"heatmap_scores": heat, "offsets": np.zeros((b, gh, gw, 34), np.float32),
                "displacement_fwd": np.zeros((b, gh, gw, 32), np.float32),
                "displacement_bwd": np.zeros((b, gh, gw, 32), np.float32)}


def _frames(n: int, size: tuple[int, int] = (65, 97)) -> list[Frame]:
    frames = []
    for i in range(n):
        image = np.full((*size, 3), i % 5, np.uint8)  # code for the fake runner, constant under resizing
        frames.append(Frame(i, i * 33.3, image))
    return frames


def _fake_net(delay: float = 0.0) -> PoseNet:
    return PoseNet(runner=_FakeRunner(delay))  # type: ignore[arg-type]


def test_order_and_batches():
    net = _fake_net()
    frames = _frames(11)
    out = list(Pipeline(net, SizingOptions(long_edge=97), batch_size=4).run(frames))
    assert [f.index for f, _ in out] == list(range(11))
    assert net.runner.batches == [4, 4, 3]  # type: ignore[attr-defined]
    expected = [net.estimate(f.image, SizingOptions(long_edge=97)) for f in frames]
    for (_, got), want in zip(out, expected):
        np.testing.assert_array_equal(got[0].keypoints, want[0].keypoints)


def test_extra_views_run_in_the_batch_of_their_frames():
    net = _fake_net()
    views = InferenceOptions(scales=(1, 2), flip=(False, True))
    out = list(Pipeline(net, SizingOptions(long_edge=97), DecoderOptions(multi=False), views, batch_size=4)
               .run(_frames(6)))
    assert [f.index for f, _ in out] == list(range(6))
    # one call per scale and batch of frames, the mirrors in the call of their scale
    assert net.runner.batches == [4, 8, 2, 4]  # type: ignore[attr-defined]
    assert net.runner.shapes == [(65, 97), (129, 193)] * 2  # type: ignore[attr-defined]


def test_a_size_change_ends_the_batch():
    net = _fake_net()
    frames = _frames(3) + [Frame(i + 3, 0.0, f.image) for i, f in enumerate(_frames(3, (49, 49)))]
    out = list(Pipeline(net, SizingOptions(long_edge=97), batch_size=4).run(frames))
    assert [f.index for f, _ in out] == list(range(6))
    assert net.runner.batches == [3, 3]  # type: ignore[attr-defined]


def test_broken_frames_pass_through_in_their_place_without_a_model_run():
    net = _fake_net()
    frames: list = _frames(5)
    frames[1:1] = [BrokenFrame(100)]
    frames[4:4] = [BrokenFrame(101), BrokenFrame(102)]
    out = list(Pipeline(net, SizingOptions(long_edge=97), batch_size=2).run(frames))
    assert [r.index if isinstance(r, BrokenFrame) else r[0].index for r in out] == [0, 100, 1, 2, 101, 102, 3, 4]
    assert net.runner.batches == [2, 2, 1]  # type: ignore[attr-defined]  # broken frames take no batch slot
    expected = [net.estimate(f.image, SizingOptions(long_edge=97)) for f in _frames(5)]
    got = [r[1] for r in out if not isinstance(r, BrokenFrame)]
    for poses, want in zip(got, expected):
        np.testing.assert_array_equal(poses[0].keypoints, want[0].keypoints)


def test_a_reader_error_reaches_the_caller_after_the_good_frames():
    def frames():
        yield from _frames(5)
        raise OSError("disk gone")

    seen = []
    with pytest.raises(OSError, match="disk gone"):
        for frame, _ in Pipeline(_fake_net(), SizingOptions(long_edge=97), batch_size=2).run(frames()):
            seen.append(frame.index)
    assert seen == [0, 1, 2, 3]  # the last, partial batch never got its end


def test_stopping_early_joins_the_threads_and_reads_no_further():
    read = []

    def frames():
        for f in _frames(10_000):
            read.append(f.index)
            yield f

    before = threading.active_count()
    for frame, _ in Pipeline(_fake_net(), SizingOptions(long_edge=97), batch_size=2, queue_batches=2).run(frames()):
        if frame.index == 3:
            break
    assert threading.active_count() == before
    assert len(read) < 20  # bounded queues: the reader ran only a few batches ahead


def test_live_sources_drop_stale_frames_instead_of_lagging():
    pipeline = Pipeline(_fake_net(delay=0.02), SizingOptions(long_edge=97), batch_size=1, drop_stale=True)
    out = [f.index for f, _ in pipeline.run(_frames(60))]
    assert pipeline.dropped > 0 and len(out) + pipeline.dropped == 60
    assert out == sorted(out) and out[-1] == 59  # the newest frame is never the one dropped


class _Workers(_FakeRunner):
    """A runner whose workers take different times, so batches finish out of the order they started in."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = [_FakeRunner(delay=0.03), _FakeRunner(delay=0.0)]

    def workers(self) -> list[_FakeRunner]:
        return self.pool


def test_several_workers_share_the_batches_and_the_results_keep_their_order():
    net = PoseNet(runner=_Workers())  # type: ignore[arg-type]
    frames: list = _frames(9)
    frames[3:3] = [BrokenFrame(100)]
    out = list(Pipeline(net, SizingOptions(long_edge=97), batch_size=2).run(frames))
    assert [r.index if isinstance(r, BrokenFrame) else r[0].index for r in out] == [0, 1, 2, 100, 3, 4, 5, 6, 7, 8]
    slow, fast = net.runner.pool  # type: ignore[attr-defined]
    assert slow.batches and fast.batches and sum(slow.batches + fast.batches) == 9
    assert not net.runner.batches  # type: ignore[attr-defined] - the runner itself ran none
    expected = [net.estimate(f.image, SizingOptions(long_edge=97)) for f in _frames(9)]
    for (_, poses), want in zip([r for r in out if not isinstance(r, BrokenFrame)], expected):
        np.testing.assert_array_equal(poses[0].keypoints, want[0].keypoints)


def test_live_sources_run_on_the_runner_itself():
    net = PoseNet(runner=_Workers())  # type: ignore[arg-type]
    assert len(list(Pipeline(net, SizingOptions(long_edge=97), batch_size=1, parallel=False).run(_frames(4)))) == 4
    assert net.runner.batches == [1, 1, 1, 1]  # type: ignore[attr-defined]
    assert all(not w.batches for w in net.runner.pool)  # type: ignore[attr-defined]


def test_a_worker_error_reaches_the_caller_after_the_frames_before_it():
    class Failing(_FakeRunner):
        def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
            if round(float(images[0, 0, 0, 0])) == 4:  # frame 4 (see _frames)
                raise RuntimeError("model failed")
            return super().__call__(images)

    runner = _Workers()
    runner.pool = [Failing(), Failing()]
    seen = []
    with pytest.raises(RuntimeError, match="model failed"):
        for frame, _ in Pipeline(PoseNet(runner=runner), SizingOptions(long_edge=97),  # type: ignore[arg-type]
                                 batch_size=1).run(_frames(10)):
            seen.append(frame.index)
    assert seen == [0, 1, 2, 3]  # whichever worker ran frame 4, the frames before it came through


def test_bad_batch_size():
    with pytest.raises(ValueError, match="at least 1"):
        Pipeline(_fake_net(), batch_size=0)


# ----------------------------------------------------------------------------------------------------
# Images: the API's batch entry point and `posenet image`'s job, pipelined like the video path


class _Recorder:
    """A writer that keeps what it is given, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, object]] = []

    def write(self, item: str, poses: list, *, width: int, height: int, time_ms: float = 0.0) -> None:
        self.items.append((item, (poses, width, height)))

    def error(self, item: str, message: str) -> None:
        self.items.append((item, message))


def _assert_same_poses(got: list, want: list) -> None:
    assert len(got) == len(want)
    for p, q in zip(got, want):
        np.testing.assert_array_equal(p.keypoints, q.keypoints)
        assert p.score == q.score


def test_litert_workers_share_out_the_threads(posenet_factory):
    """One single-threaded interpreter per thread, at most MAX_WORKERS of them sharing the threads out."""
    runner = posenet_factory("mobilenet-v1-075", 16, "litert").runner
    alone = LiteRTRunner(runner.path, 1, runner.metadata)
    assert alone.workers() == [alone]
    for threads, shares in ((2, [1, 1]), (MAX_WORKERS + 2, [2, 2] + [1] * (MAX_WORKERS - 2))):
        one = LiteRTRunner(runner.path, threads, runner.metadata)
        assert [w.threads for w in one.workers()] == shares
        assert one.workers() is one.workers()  # made once, kept


def test_litert_workers_take_the_stride_they_were_given(posenet_factory, tmp_path: Path):
    """A `.tflite` without metadata has its stride probed once, by the runner; its workers are told it and
    keep no probe's interpreter allocated (each holds at most MAX_SHAPES)."""
    source = posenet_factory("mobilenet-v1-075", 16, "litert").runner
    bare = tmp_path / "model.tflite"
    bare.write_bytes(Path(source.path).read_bytes())  # no posenet.json beside it
    runner = LiteRTRunner(bare, 2)
    assert runner.output_stride == 16 and runner._interpreters  # probed
    assert all(w.output_stride == 16 and not w._interpreters for w in runner.workers())


class _Interpreter:
    """Stands in for a LiteRT interpreter: counts the calls running at once."""

    def __init__(self) -> None:
        self.running = self.most = 0

    def set_tensor(self, index: int, value: np.ndarray) -> None:
        pass

    def invoke(self) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        time.sleep(0.01)
        self.running -= 1

    def get_tensor(self, index: int) -> np.ndarray:
        return np.zeros(1)


def test_a_litert_runner_runs_one_call_at_a_time(posenet_factory, monkeypatch):
    """Threads that share a runner (a stopped pipeline's call still running as the next one starts) take
    turns: an interpreter is not thread-safe."""
    source = posenet_factory("mobilenet-v1-075", 16, "litert").runner
    runner = LiteRTRunner(source.path, 1, source.metadata)
    fake = _Interpreter()
    monkeypatch.setattr(runner, "_interpreter_for", lambda shape: fake)
    threads = [threading.Thread(target=runner, args=(np.zeros((1, 33, 33, 3), np.float32),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake.most == 1


def test_a_runner_without_workers_runs_the_pipeline_alone():
    """A user's own runner written before `workers` joined the Runner protocol still runs a Pipeline."""

    class Plain(_FakeRunner):
        workers = None  # type: ignore[assignment]

    net = PoseNet(runner=Plain())  # type: ignore[arg-type]
    pipeline = Pipeline(net, SizingOptions(long_edge=97), batch_size=2)
    assert pipeline.runners == [net.runner]
    assert [f.index for f, _ in pipeline.run(_frames(5))] == list(range(5))


def test_images_pipelined_equal_one_at_a_time(shared: Path, posenet_factory):
    """Pipeline.estimate_images gives, image by image, what PoseNet.estimate gives on each alone."""
    net = posenet_factory("mobilenet-v1-075", 16, "litert")
    images = [read_image(p) for p in sorted((shared / "data/images").glob("*/*.jpg"))[:8]]
    sizing = SizingOptions(resolution="641x481")
    pipeline = Pipeline(net, sizing)
    assert len(pipeline.runners) == min(net.runner.threads, MAX_WORKERS)  # type: ignore[attr-defined]
    got = list(pipeline.estimate_images(images))
    assert len(got) == len(images)
    for poses, image in zip(got, images):
        _assert_same_poses(poses, net.estimate(image, sizing))


def test_run_images_reports_failures_in_place(shared: Path, posenet_factory, tmp_path: Path):
    """`posenet image`'s job over many files writes what a plain loop over them would, in the same order: an
    unreadable file and an image too small for the sizing each get their error record in their place."""
    net = posenet_factory("mobilenet-v1-075", 16, "litert")
    photos = sorted((shared / "data/images").glob("*/*.jpg"))[:5]
    (tmp_path / "broken.jpg").write_bytes(b"not a JPEG")
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((2, 2, 3), np.uint8))
    paths = [photos[0], tmp_path / "broken.jpg", *photos[1:3], tmp_path / "tiny.png", *photos[3:]]
    opts = JobOptions(SizingOptions(scale_factor=0.2))
    writer = _Recorder()
    summary = run_images(net, paths, writer, opts)  # type: ignore[arg-type]
    expected: list[tuple[str, object]] = []
    for path in paths:  # the naive loop
        try:
            image = read_image(path)
            expected.append((str(path), (net.estimate(image, opts.sizing, opts.decoder), image.shape[1],
                                         image.shape[0])))
        except (MediaError, SizingError) as e:
            expected.append((str(path), str(e)))
    assert [item for item, _ in writer.items] == [str(p) for p in paths]
    for (_, got), (_, want) in zip(writer.items, expected):
        if isinstance(want, str):
            assert got == want
        else:
            _assert_same_poses(got[0], want[0])  # type: ignore[index]
            assert got[1:] == want[1:]  # type: ignore[index]
    assert (summary.items, summary.errors) == (len(photos), 2)


def test_run_images_plans_each_image_size_once(tmp_path: Path, monkeypatch):
    """Each image's size is checked against the sizing by the plan the pipeline then uses: one per size."""
    paths = []
    for i, size in enumerate([(65, 97)] * 4 + [(49, 49)] * 2):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((*size, 3), i % 5, np.uint8))
    planned = []
    plans = InferenceOptions.plans

    def counted(self, sizing, height, width, output_stride):
        planned.append((height, width))
        return plans(self, sizing, height, width, output_stride)

    monkeypatch.setattr(InferenceOptions, "plans", counted)
    writer = _Recorder()
    summary = run_images(_fake_net(), paths, writer, JobOptions(SizingOptions(long_edge=97)))  # type: ignore[arg-type]
    assert (summary.items, summary.errors) == (6, 0) and [item for item, _ in writer.items] == [str(p) for p in paths]
    assert sorted(planned) == [(49, 49), (65, 97)]
