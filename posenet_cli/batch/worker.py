"""The worker side of a batch job: one task (an image, a video or a frame range of one) run in this process
through the ordinary path (`jobs.run_images` / `jobs.run_video` into a writer), so an output is the same,
byte for byte, as `posenet image ... --out DIR/` or `posenet video ... --out FILE.jsonl` on that input."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import WriteError, first_line, write_error
from ..estimator import PoseNet
from ..files import atomic_write, close_all, part_path
from ..jobs import run_images, run_video
from ..media.inputs import IMAGE
from ..media.video import NoFramesError, VideoReader, annotated_video
from ..models import ModelRef
from ..output.writers import VIDEO, JsonLinesWriter, JsonWriter
from .plan import BatchJob, Item, Task, WriteBy, in_folder


@dataclass
class TaskResult:
    """What a task did. `text`: its output (or its part of a video's) when the driver writes outputs."""

    item: int
    part: int
    ok: bool
    frames: int = 0
    poses: int = 0
    frame_errors: int = 0
    seconds: float = 0.0
    text: str | None = None
    error: str | None = None
    write_failed: bool = False  # an output could not be written (no space, ...): the job ends


_NETS: dict[ModelRef, PoseNet] = {}  # per worker process: each model is loaded once, then reused


def worker_net(ref: ModelRef, threads: int | None = None) -> PoseNet:
    """This process's PoseNet for `ref`, loaded on first use (its runtime given `threads` threads)."""
    if ref not in _NETS:
        _NETS[ref] = PoseNet(runner=ref.load(threads=threads))
    return _NETS[ref]


def part_reader(job: BatchJob, task: Task, source: str) -> VideoReader:
    """The frames of a task's part of a video: those shown in [task.start, task.end) within the job's range,
    on the unsplit run's --every grid, so the joined parts are the frames (indices, times, pixels) of the
    unsplit run. The reader passes over the groups of pictures before the part without decoding them.
    NoFramesError when the part holds no frame."""
    start = job.start if task.start is None else max(job.start, task.start)
    end = task.end if job.end is None else job.end if task.end is None else min(job.end, task.end)
    return VideoReader(source, start=start, end=end, every=job.every, grid=task.grid)


def run_task(job: BatchJob, task: Task, threads: int | None = None, stop: Callable[[], bool] = lambda: False,
             on_frame: Callable[[int], None] = lambda n: None) -> TaskResult:
    """Run one task in this process. Failures of the input (unreadable, ...) come back as a result
    with `error`; a task stopped by `stop()` comes back not ok with error None. `on_frame(1)` is
    called as each video frame is done (live progress)."""
    item = job.items[task.item]
    t0 = time.perf_counter()
    try:
        net = worker_net(job.model, threads)
        with in_folder(job.cwd):
            result = (_image_task if item.kind == IMAGE else _video_task)(net, job, task, item, stop, on_frame)
    except WriteError as e:  # a drawing that could not be written: writing will not work for the next either
        result = TaskResult(task.item, task.part, False, error=first_line(e), write_failed=True)
    except Exception as e:  # noqa: BLE001 - one input's failure must not end the job
        result = TaskResult(task.item, task.part, False, error=first_line(e))
    result.seconds = time.perf_counter() - t0
    if result.ok and result.text is not None and job.write_by == WriteBy.workers:
        path = Path(job.out_dir) / item.output  # a part of a split video (WriteBy.workers) waits beside it
        path = path if task.parts == 1 else part_path(path, task.part, task.parts)
        try:
            atomic_write(path, result.text)
        except OSError as e:
            return TaskResult(task.item, task.part, False, error=str(write_error(path, e, "not written")),
                              write_failed=True)
        result.text = None
    return result


def _image_task(net: PoseNet, job: BatchJob, task: Task, item: Item, stop: Callable[[], bool],
                on_frame: Callable[[int], None]) -> TaskResult:
    draw = Path(job.draw_dir) / item.draw if job.draw_dir and item.draw else None
    messages: list[str] = []
    buf = io.StringIO()
    writer = JsonWriter(None, kind=IMAGE, settings=job.settings(net.output_stride), stream=buf,
                        precision=job.opts.output.precision)
    summary = run_images(net, [Path(item.source)], writer, job.opts, draw_to=(lambda p: draw) if draw else None,
                         on_error=messages.append, stop=stop)
    if summary.errors:
        return TaskResult(task.item, task.part, False, error=messages[0] if messages else "failed")
    if summary.stopped or not summary.items:
        return TaskResult(task.item, task.part, False)
    writer.close()  # the record, as `posenet image ... --out DIR/` writes it to <name>.json
    return TaskResult(task.item, task.part, True, frames=1, poses=summary.poses, text=buf.getvalue())


def _video_task(net: PoseNet, job: BatchJob, task: Task, item: Item, stop: Callable[[], bool],
                on_frame: Callable[[int], None]) -> TaskResult:
    buf = io.StringIO()
    try:
        reader = part_reader(job, task, item.source)
    except NoFramesError:  # a part shorter than the gap between two kept frames
        if task.parts > 1:
            return TaskResult(task.item, task.part, True, text="")
        raise
    with reader:
        video = annotated_video(Path(job.draw_dir) / item.draw, reader) if job.draw_dir and item.draw else None
        try:
            settings = job.settings(net.output_stride)
            if task.part == 0:  # the joined parts are headed as `posenet video` heads its file
                settings = {**settings, "source": reader.settings()}
            writer = JsonLinesWriter(None, kind=VIDEO, settings=settings, stream=buf,
                                     precision=job.opts.output.precision)
            summary = run_video(net, reader, writer, job.opts, video=video,
                                stop=stop, on_frame=on_frame)
        except BaseException as e:
            close_all((video,), e)
            raise
        close_all((video,))
    if summary.stopped:
        return TaskResult(task.item, task.part, False)
    return TaskResult(task.item, task.part, True, frames=summary.items, poses=summary.poses,
                      frame_errors=summary.errors, text=buf.getvalue())
