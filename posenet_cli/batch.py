"""Many images and videos in one job, on local worker processes or a Ray cluster (`posenet batch`).

    plan   inputs (files, folders, globs, list files) -> items, each with one output file in a folder
    tasks  one per image; one per video, or several frame ranges of a long one (merged in order)
    run    a backend runs the tasks (this process, spawned worker processes, or Ray); the driver
           writes each output atomically when all its parts are in, and a manifest of the job

Every task goes through the ordinary path (`jobs.run_images` / `jobs.run_video` into a `sinks` sink),
so an output is the same, byte for byte, as `posenet image ... --out DIR/` or `posenet video ... --out
FILE.jsonl` on that input. Ray is imported only by `RayBackend`.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import io
import json
import math
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .jobs import JobOptions, run_images, run_video
from .media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, VIDEO_FOURCC, Frame, MediaError, VideoReader, VideoWriter
from .runtime import import_tensorflow
from .sinks import DirSink, Sink, atomic_write_text

IMAGE, VIDEO = "image", "video"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
# Auto splitting of long videos: each part decodes (and drops) every frame before its range, so parts
# are kept long and few. `chunk_frames` overrides it.
MIN_AUTO_CHUNK = 64
MAX_AUTO_PARTS = 8
# `--workers` default, by measurement (benchmarks/bench_batch.py in `make bench`, on the 2-core machine,
# 46 shared photos and clips, 942 frames, best of 3 rounds, wall-clock frames/s, start-up included):
# 2 processes x 1 TensorFlow thread 70.1 (1.10x; 1.06x and 1.17x in other runs), 1 process x 2
# threads 63.9, local Ray 1 CPU a task 57.2 (its ~5 s start-up; 74.2 once running), Ray 2 CPUs 50.6. Each
# worker runs its own stages (decoding, pose decoding, JSON) beside its model, so one single-threaded
# worker per core, as many as half the memory holds at WORKER_MEMORY each (measured peak of a worker
# on a 720p clip: 0.85 GB). Beyond 2 cores this is the same rule, not measured: `make bench` there.
WORKER_MEMORY = 0.85e9


class BatchError(Exception):
    """A job that cannot start (no inputs, clashing outputs, existing outputs, ...); one line."""


def cpu_count() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(cores: int | None = None, memory: float | None = None) -> int:
    """The measured best number of local workers: one per core, as many as half the memory holds."""
    cores = cores or cpu_count()
    if memory is None:
        try:
            memory = float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (AttributeError, ValueError, OSError):
            return cores
    return max(1, min(cores, int(memory / 2 / WORKER_MEMORY)))


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """TensorFlow threads (intra- and inter-op) for each of `workers` processes: no oversubscription."""
    return max(1, (cores or cpu_count()) // max(1, workers))


# ------------------------------------------------------------------------------------------ planning


def kind_of(path: Path) -> str | None:
    """IMAGE or VIDEO by extension (.gif reads as an image, its first frame), else None."""
    ext = path.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return IMAGE
    if ext in VIDEO_EXTENSIONS:
        return VIDEO
    return None


def read_list(path: str | os.PathLike[str]) -> list[str]:
    """Inputs from a list file: one per line; blank lines and lines starting with # are skipped.
    Relative paths are taken from the current folder, as on the command line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise BatchError(f"cannot read list file '{path}': {reason}") from None
    return [s for s in (line.strip() for line in text.splitlines()) if s and not s.startswith("#")]


def expand_inputs(inputs: Sequence[str], list_files: Sequence[str] = ()) -> list[Path]:
    """Files, folders (their images and videos, sorted), globs and `@list.txt` / list files, in order,
    each file once."""
    args: list[str] = []
    for text in [*inputs, *(f"@{lf}" for lf in list_files)]:
        if text.startswith("@") and len(text) > 1 and not Path(text).exists():
            args.extend(read_list(text[1:]))  # in place; an entry may be a folder or a glob
        else:
            args.append(text)
    seen: set[Path] = set()
    out: list[Path] = []

    def add(p: Path) -> None:
        key = p.resolve()  # the same file named twice (relative and absolute) is one input
        if key not in seen:
            seen.add(key)
            out.append(p)

    def media(paths: Iterable[Path]) -> list[Path]:
        return sorted(p for p in paths if kind_of(p) and not p.name.startswith(".") and p.is_file())

    for text in args:
        p = Path(text)
        if p.is_dir():
            found = media(p.iterdir())
            if not found:
                raise BatchError(f"no images or videos found in '{text}'")
        elif p.is_file():
            if kind_of(p) is None:
                raise BatchError(f"cannot tell whether '{text}' is an image or a video (extension "
                                 f"{p.suffix or '(none)'!r})")
            found = [p]
        elif set("*?[") & set(text):
            found = media(Path(m) for m in glob.glob(text, recursive=True))
            if not found:
                raise BatchError(f"no images or videos match '{text}'")
        else:
            raise BatchError(f"cannot read '{text}': no such file or directory")
        for f in found:
            add(f)
    if not out:
        raise BatchError("no inputs: give images, videos, folders, globs or a list file")
    return out


@dataclass(frozen=True)
class Item:
    """One input and the file names it writes: `output` in the results folder, `draw` (annotated
    media, if asked) in the drawings folder."""

    source: str  # the path as given: recorded in image outputs, as `posenet image` does
    kind: str
    output: str
    draw: str | None = None


def plan_items(paths: Sequence[Path], *, draw: bool = False) -> list[Item]:
    """Items with their output names (`<stem>.json` / `<stem>.jsonl`); two inputs may not share one."""
    items: list[Item] = []
    names: dict[str, str] = {MANIFEST: "the manifest"}
    for p in paths:
        kind = kind_of(p)
        if kind is None:
            raise BatchError(f"cannot tell whether '{p}' is an image or a video")
        output = p.stem + (".json" if kind == IMAGE else ".jsonl")
        drawn = None
        if draw:
            ext = p.suffix.lower()
            drawn = p.name if kind == IMAGE else p.stem + (ext if ext in VIDEO_FOURCC else ".mp4")
        for name in (output, drawn):
            if name is None:
                continue
            if name in names:
                raise BatchError(f"'{p}' and {names[name]} would both write {name}; give inputs with different "
                                 f"names")
            names[name] = f"'{p}'"
        items.append(Item(str(p), kind, output, drawn))
    return items


@dataclass(frozen=True)
class Task:
    """What one worker call does: an image, or the frames [first, stop) of a video (stop None: to its
    end), part `part` of `parts`."""

    item: int
    part: int = 0
    parts: int = 1
    first: int = 0
    stop: int | None = None


@dataclass(frozen=True)
class ModelRef:
    """The model as workers load it: the SavedModel the driver resolved (converted and cached once,
    before any worker starts), else on a node without that path, the node's own cache."""

    model: str
    stride: int
    path: str
    cache_dir: str | None = None
    base_url: str | None = None

    def load(self) -> Any:
        from .estimator import PoseNet
        from .registry import create_model
        from .savedmodel import ModelRunner

        if Path(self.path, "saved_model.pb").is_file():
            runner = ModelRunner.load(Path(self.path))
        else:
            runner = create_model(self.model, self.stride, cache_dir=self.cache_dir, base_url=self.base_url)
        return PoseNet(runner=runner)


def resolve_model(model: str, stride: int, *, cache_dir: str | Path | None = None, base_url: str | None = None,
                  progress: Any = None) -> ModelRef:
    """Download and convert the model into the cache now (in the driver), so workers only load it."""
    from .registry import ensure_savedmodel
    from .sources import no_progress

    path = ensure_savedmodel(model, stride, cache_dir=cache_dir, base_url=base_url, progress=progress or no_progress)
    return ModelRef(model, stride, str(Path(path).resolve()), str(cache_dir) if cache_dir else None, base_url)


@dataclass(frozen=True)
class BatchJob:
    """Everything a worker needs to run a task. Video `start`/`end`/`every` as `posenet video`."""

    items: tuple[Item, ...]
    out_dir: str
    model: ModelRef
    opts: JobOptions = JobOptions()
    draw_dir: str | None = None
    start: float = 0.0
    end: float | None = None
    every: int = 1
    chunk_frames: int | None = None  # video part length in kept frames; None: automatic; 0: never split
    write_by: str = "driver"  # "driver", or "workers" (straight to out_dir, which they must share)
    cwd: str = field(default_factory=os.getcwd)  # relative inputs are relative to this

    def settings(self) -> dict[str, Any]:
        """The settings recorded in image outputs (as `posenet image` records them)."""
        return self.opts.settings(self.model.stride, self.model.model)

    def manifest_settings(self) -> dict[str, Any]:
        """Settings that make outputs differ: a resumed job must use the same."""
        return {**self.settings(), "video": {"start": self.start, "end": self.end, "every": self.every}}

    @property
    def splittable(self) -> bool:
        """Whether videos may be split into frame ranges: not when frames depend on earlier ones
        (tracking, smoothing) nor when an annotated video is drawn (one file per video)."""
        return self.opts.track is None and self.opts.smooth is None and self.draw_dir is None


def output_complete(job: BatchJob, item: Item) -> bool:
    """Whether an item's output is complete: outputs appear only whole (atomic write or rename)."""
    return (Path(job.out_dir) / item.output).is_file()


def _frame_range(reader: VideoReader, start: float, end: float | None, every: int) -> tuple[int, int] | None:
    """The source frame indices [first, stop) a `posenet video` run reads; None when the count is unknown."""
    if not reader.frame_count:
        return None
    first = math.ceil(start * reader.fps - 1e-9)
    stop = reader.frame_count if end is None else min(reader.frame_count, math.ceil(end * reader.fps - 1e-9))
    return first, max(first, stop)


def plan_tasks(job: BatchJob, pending: Sequence[int], workers: int
               ) -> tuple[list[Task], dict[int, str], dict[int, int]]:
    """Tasks for the pending items; videos are probed (frame count) and long ones split into parts.

    Returns the tasks, the items that failed already (unreadable video: its message) and each video's
    expected frame count (for progress)."""
    failed: dict[int, str] = {}
    counts: dict[int, int] = {}
    ranges: dict[int, tuple[int, int] | None] = {}
    with _in_folder(job.cwd):
        for i in pending:
            item = job.items[i]
            if item.kind != VIDEO:
                continue
            try:
                with VideoReader(item.source, start=job.start, end=job.end, every=job.every) as reader:
                    ranges[i] = _frame_range(reader, job.start, job.end, job.every)
            except MediaError as e:
                failed[i] = str(e)
                continue
            r = ranges[i]
            counts[i] = len(range(r[0], r[1], job.every)) if r else 0
    images = sum(1 for i in pending if job.items[i].kind == IMAGE)
    work = images + sum(counts.values())
    if job.chunk_frames is not None:
        chunk = job.chunk_frames or math.inf
    else:
        chunk = max(MIN_AUTO_CHUNK, math.ceil(work / max(1, workers)))
    tasks: list[Task] = []
    for i in pending:
        if i in failed:
            continue
        if job.items[i].kind == IMAGE:
            tasks.append(Task(i))
            continue
        r, n = ranges[i], counts[i]
        parts = 1 if not (job.splittable and r and n > chunk) else math.ceil(n / chunk)
        if job.chunk_frames is None:
            parts = min(parts, MAX_AUTO_PARTS)
        if parts == 1:
            tasks.append(Task(i))
            continue
        assert r is not None
        per = math.ceil(n / parts)  # kept frames per part, on the --every grid
        bounds = [r[0] + k * per * job.every for k in range(parts)]
        for k in range(parts):
            stop = bounds[k + 1] if k + 1 < parts else None  # the last part reads to the real end
            tasks.append(Task(i, k, parts, bounds[k], stop))
    # Longest work first, so a long video does not start last and leave the other workers idle.
    tasks.sort(key=lambda t: -(1 if job.items[t.item].kind == IMAGE else counts[t.item] / t.parts))
    return tasks, failed, counts


# -------------------------------------------------------------------------------------- worker side


class FrameRange:
    """The frames [first, stop) of a `posenet video` run (`start`, `end`, `every`), exactly.

    Seeking is not frame-exact in every container (OpenCV on mp4), so the reader decodes from the
    same place an unsplit run does and drops the frames before `first`: a part gets the very frames,
    indices and times the unsplit run gets (a test checks this on the shared clips)."""

    def __init__(self, source: str, *, start: float = 0.0, end: float | None = None, every: int = 1,
                 first: int = 0, stop: int | None = None) -> None:
        self.reader = VideoReader(source, start=start, end=end, every=every)
        self.fps, self.width, self.height = self.reader.fps, self.reader.width, self.reader.height
        self.first, self.stop = first, stop
        # Frames of this range that failed to decode, in order (run_video writes an error record for
        # each, where the unsplit run does), and their count.
        self.broken: list[int] = []
        self.errors = 0

    def __iter__(self) -> Iterator[Frame]:
        source = getattr(self.reader, "broken", [])  # the reader lists a broken frame before the next good one
        seen = 0

        def sync() -> None:
            nonlocal seen
            for index in source[seen:]:
                if index >= self.first and (self.stop is None or index < self.stop):
                    self.broken.append(index)
            seen = len(source)
            self.errors = len(self.broken)

        for frame in self.reader:
            sync()
            if frame.index < self.first:
                continue
            if self.stop is not None and frame.index >= self.stop:
                break
            yield frame
        sync()

    def close(self) -> None:
        self.reader.close()


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
    pid: int = field(default_factory=os.getpid)


_NETS: dict[ModelRef, Any] = {}  # per worker process: each model is loaded once, then reused
_SCRATCH: list[Path] = []


def worker_net(ref: ModelRef, threads: int | None = None) -> Any:
    """This process's PoseNet for `ref`, loaded on first use (TensorFlow given `threads` threads)."""
    if ref not in _NETS:
        import_tensorflow(threads)
        _NETS[ref] = ref.load()
    return _NETS[ref]


@contextlib.contextmanager
def _in_folder(folder: str) -> Iterator[None]:
    """Run with `folder` as the current directory (Ray workers start elsewhere), if it exists here."""
    here = os.getcwd()
    if folder == here or not os.path.isdir(folder):
        yield
        return
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(here)


def _scratch() -> Path:
    if not _SCRATCH:
        _SCRATCH.append(Path(tempfile.mkdtemp(prefix="posenet-batch-")))
    return _SCRATCH[0]


def part_name(item: Item, part: int, parts: int) -> str:
    """Where a worker leaves one part of a split video (write_by="workers"), next to the output."""
    return f".{item.output}.part{part:04d}of{parts:04d}"


def run_task(job: BatchJob, task: Task, threads: int | None = None, stop: Callable[[], bool] = lambda: False,
             on_frame: Callable[[int], None] = lambda n: None) -> TaskResult:
    """Run one task in this process. Failures of the input (unreadable, ...) come back as a result
    with `error`; a task stopped by `stop()` comes back not ok with error None. `on_frame(1)` is
    called as each video frame is done (live progress)."""
    item = job.items[task.item]
    t0 = time.perf_counter()
    try:
        net = worker_net(job.model, threads)
        with _in_folder(job.cwd):
            result = (_image_task if item.kind == IMAGE else _video_task)(net, job, task, item, stop, on_frame)
    except Exception as e:  # noqa: BLE001 - one input's failure must not end the job
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        result = TaskResult(task.item, task.part, False, error=message)
    result.seconds = time.perf_counter() - t0
    if result.ok and result.text is not None and job.write_by == "workers":
        name = item.output if task.parts == 1 else part_name(item, task.part, task.parts)
        atomic_write_text(Path(job.out_dir) / name, result.text)
        result.text = None
    return result


def _image_task(net: Any, job: BatchJob, task: Task, item: Item, stop: Callable[[], bool],
                on_frame: Callable[[int], None]) -> TaskResult:
    scratch = _scratch()
    path = Path(item.source)
    draw_to = (lambda p: Path(job.draw_dir) / item.draw) if job.draw_dir and item.draw else None  # type: ignore[arg-type]
    messages: list[str] = []
    sink = DirSink(scratch, job.opts.settings(net.output_stride, job.model.model), overwrite=True)
    summary = run_images(net, [path], sink, job.opts, draw_to=draw_to, on_error=messages.append, stop=stop)
    written = scratch / (path.stem + ".json")  # what `posenet image ... --out DIR/` writes, byte for byte
    try:
        text = written.read_text(encoding="utf-8") if written.exists() else None
    finally:
        written.unlink(missing_ok=True)
    if summary.errors:
        return TaskResult(task.item, task.part, False, error=messages[0] if messages else "failed")
    if summary.stopped or text is None:
        return TaskResult(task.item, task.part, False)
    return TaskResult(task.item, task.part, True, frames=1, poses=summary.poses, text=text)


def _video_task(net: Any, job: BatchJob, task: Task, item: Item, stop: Callable[[], bool],
                on_frame: Callable[[int], None]) -> TaskResult:
    frames = FrameRange(item.source, start=job.start, end=job.end, every=job.every, first=task.first, stop=task.stop)
    buf = io.StringIO()
    writer = None
    try:
        if job.draw_dir and item.draw:
            writer = VideoWriter(Path(job.draw_dir) / item.draw, frames.fps / job.every, frames.width, frames.height)
        settings = job.opts.settings(net.output_stride, job.model.model)
        sink = Sink("jsonl", None, kind="video", settings=settings, stdout=buf)
        summary = run_video(net, frames, sink, job.opts, writer=writer, stop=stop, on_frame=on_frame)
    finally:
        frames.close()
        if writer is not None:
            writer.close()
    if summary.stopped:
        return TaskResult(task.item, task.part, False)
    return TaskResult(task.item, task.part, True, frames=summary.items, poses=summary.poses,
                      frame_errors=summary.errors, text=buf.getvalue())


# ------------------------------------------------------------------------------------------ backends


class Backend(Protocol):
    """Runs tasks and yields their results as they finish (any order)."""

    name: str

    @property
    def workers(self) -> int: ...

    def run(self, job: BatchJob, tasks: Sequence[Task], stop: Callable[[], bool],
            on_frame: Callable[[int], None]) -> Iterator[TaskResult]:
        """`on_frame(1)` per video frame done, where the backend can tell (else progress moves per task)."""

    def close(self) -> None: ...


class InlineBackend:
    """One worker: this process (TensorFlow with its default threads), no start-up cost."""

    name = "inline"
    workers = 1

    def run(self, job: BatchJob, tasks: Sequence[Task], stop: Callable[[], bool],
            on_frame: Callable[[int], None] = lambda n: None) -> Iterator[TaskResult]:
        for task in tasks:
            if stop():
                return
            yield run_task(job, task, None, stop, on_frame)

    def close(self) -> None:
        pass


def _lost(task: Task, why: str) -> TaskResult:
    return TaskResult(task.item, task.part, False, error=why)


_WORKER: dict[str, Any] = {}


def _init_local_worker(job: BatchJob, threads: int) -> None:
    """A spawned worker: Ctrl-C is the driver's to handle; keep the job for its tasks."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER.update(job=job, threads=threads)


def _run_local_task(task: Task) -> TaskResult:
    return run_task(_WORKER["job"], task, _WORKER["threads"])


class LocalBackend:
    """`workers` spawned processes on this machine (fewer when there are fewer tasks), each with its
    own TensorFlow runtime on `threads` threads (default: cores // the processes started). If a
    worker process dies, the tasks it took down with it are run again on fresh processes, up to
    `retries` times."""

    name = "local"

    def __init__(self, workers: int, threads: int | None = None, retries: int = 2) -> None:
        if workers < 1:
            raise BatchError(f"--workers must be 1 or more (got {workers})")
        self._workers = workers
        self.threads = threads  # None: cores // the processes started (fewer tasks than workers: more each)
        self.retries = retries

    @property
    def workers(self) -> int:
        return self._workers

    def run(self, job: BatchJob, tasks: Sequence[Task], stop: Callable[[], bool],
            on_frame: Callable[[int], None] = lambda n: None) -> Iterator[TaskResult]:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        attempts = dict.fromkeys(tasks, 0)
        remaining = list(tasks)
        while remaining:
            procs = min(self._workers, len(remaining))
            pool = ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_init_local_worker,
                                       initargs=(job, self.threads or threads_per_worker(procs)))
            futures = {pool.submit(_run_local_task, t): t for t in remaining}
            remaining = []
            try:
                while futures:
                    done, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                    if stop():
                        return
                    for fut in done:
                        task = futures.pop(fut)
                        try:
                            yield fut.result()
                        except BrokenProcessPool:  # a worker died: every unfinished task is lost with it
                            attempts[task] += 1
                            if attempts[task] > self.retries:
                                yield _lost(task, f"worker process died ({attempts[task]} tries)")
                            else:
                                remaining.append(task)
            finally:
                for proc in list(getattr(pool, "_processes", {}).values()):  # stopping: don't wait for tasks
                    if futures and proc.is_alive():
                        proc.terminate()
                pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        pass


def _ray_task(job: BatchJob, task: Task, threads: int) -> TaskResult:
    return run_task(job, task, threads)


def _check_reachable(address: str) -> None:
    """Fail in seconds, with one line, on a Ray address nothing listens at (Ray itself retries for
    minutes, printing C++ warnings). "auto" and other addresses without a port are left to Ray."""
    import socket

    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise BatchError(f"cannot reach Ray at {address}: {e.strerror or e}") from None


class RayBackend:
    """The tasks on a Ray cluster (`address`), or on a local Ray runtime started here (None).

    Each task asks Ray for `threads` CPUs and its worker runs TensorFlow on that many threads; a
    worker process keeps its model loaded for the tasks after. A task whose worker dies is run again
    by Ray, up to `retries` times. `ray` is imported here, not with the package."""

    name = "ray"

    def __init__(self, address: str | None = None, threads: int = 1, retries: int = 3,
                 num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise BatchError("--ray needs Ray: pip install 'posenet-cli[ray]' (or 'ray>=2.9')") from None
        self.ray = ray
        self.threads, self.retries = max(1, threads), retries
        self.started = False
        if not ray.is_initialized():
            import logging

            kwargs: dict[str, Any] = dict(log_to_driver=False, include_dashboard=False, logging_level=logging.ERROR)
            if address is None:  # "local": a new runtime here, even where RAY_ADDRESS is set
                address, kwargs["num_cpus"] = "local", num_cpus or cpu_count()
            else:
                _check_reachable(address)
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, ValueError, RuntimeError) as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise BatchError(f"cannot start Ray ({address}): {first}") from None
            self.started = True

    @property
    def workers(self) -> int:
        cpus = self.ray.cluster_resources().get("CPU", 1)
        return max(1, int(cpus // self.threads))

    def run(self, job: BatchJob, tasks: Sequence[Task], stop: Callable[[], bool],
            on_frame: Callable[[int], None] = lambda n: None) -> Iterator[TaskResult]:
        ray = self.ray
        remote = ray.remote(_ray_task).options(num_cpus=self.threads, max_retries=self.retries,
                                               retry_exceptions=False)
        job_ref = ray.put(job)
        pending = {remote.remote(job_ref, t, self.threads): t for t in tasks}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.2)
                if stop():
                    return
                for ref in done:
                    task = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayError as e:  # the worker died more often than retries allow
                        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                        yield _lost(task, f"Ray task failed: {first}")
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def close(self) -> None:
        if self.started:
            self.ray.shutdown()
            self.started = False


# --------------------------------------------------------------------------------------------- driver


@dataclass
class ItemReport:
    """One input in the manifest."""

    input: str
    kind: str
    output: str
    status: str = "pending"  # done, skipped (complete already: --resume), failed, or pending (stopped)
    frames: int = 0
    poses: int = 0
    frame_errors: int = 0
    parts: int = 1
    seconds: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if v is not None}
        d["seconds"] = round(self.seconds, 3)
        if self.status in ("skipped", "pending", "failed"):
            for k in ("frames", "poses", "frame_errors", "seconds"):
                d.pop(k, None)
        return d


@dataclass
class BatchReport:
    """What a job did, item by item; written as the manifest."""

    items: list[ItemReport]
    backend: str = ""
    workers: int = 1
    seconds: float = 0.0
    stopped: bool = False

    def count(self, status: str) -> int:
        return sum(1 for r in self.items if r.status == status)

    @property
    def frames(self) -> int:
        return sum(r.frames for r in self.items if r.status == "done")

    @property
    def failed(self) -> int:
        return sum(1 for r in self.items if r.status == "failed" or (r.status == "done" and r.frame_errors))


@dataclass
class Progress:
    """Where a job stands (for a progress bar): items and frames done, of the totals planned."""

    items: int = 0
    items_total: int = 0
    frames: int = 0  # of finished tasks, plus `live`
    frames_total: int = 0
    live: int = 0  # frames of the tasks in hand (where the backend reports them)
    _shown: float = 0.0


class _Assembler:
    """A video's output from its parts, in order: parts are appended to a hidden temp file as soon as
    they are next in line, and the temp file is renamed to the output when the last is in."""

    def __init__(self, final: Path, parts: int) -> None:
        self.final, self.parts = final, parts
        self.next = 0
        self.waiting: dict[int, str | Path] = {}
        self.tmp = final.parent / f".{final.name}.{secrets.token_hex(4)}.tmp"
        self.file: io.TextIOWrapper | None = None

    def add(self, part: int, text: str | Path) -> bool:
        """Take one part (its text, or the file a worker wrote); True once the output is complete."""
        self.waiting[part] = text
        while self.next in self.waiting:
            if self.file is None:
                self.file = open(self.tmp, "w", encoding="utf-8", newline="")
            piece = self.waiting.pop(self.next)
            if isinstance(piece, Path):
                with open(piece, encoding="utf-8", newline="") as f:
                    shutil.copyfileobj(f, self.file)
            else:
                self.file.write(piece)
            self.next += 1
        if self.next < self.parts:
            return False
        assert self.file is not None
        self.file.close()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o666 & ~umask)
        os.replace(self.tmp, self.final)
        return True

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
        self.tmp.unlink(missing_ok=True)


def check_outputs(job: BatchJob, *, resume: bool, overwrite: bool) -> None:
    """Refuse to start over existing outputs unless --overwrite or --resume, and --resume with other
    settings than the manifest's."""
    out = Path(job.out_dir)
    manifest = out / MANIFEST
    if resume and manifest.is_file():
        try:
            before = json.loads(manifest.read_text(encoding="utf-8")).get("settings")
        except (OSError, ValueError, AttributeError):
            before = None
        if before is not None and before != json.loads(json.dumps(job.manifest_settings())):
            raise BatchError(f"--resume with other settings than {manifest} records; use the same options, "
                             f"or --overwrite to start again")
    if resume or overwrite:
        return
    for item in job.items:
        for path in (out / item.output, Path(job.draw_dir) / item.draw if job.draw_dir and item.draw else None):
            if path is not None and path.exists():
                raise BatchError(f"{path} exists; pass --overwrite to replace it, or --resume to skip complete "
                                 f"outputs")


def write_manifest(job: BatchJob, report: BatchReport, started: str) -> Path:
    """DIR/manifest.json: the settings and, per input, done / skipped / failed (written atomically)."""
    doc = {
        "version": MANIFEST_VERSION,
        "started": started,
        "seconds": round(report.seconds, 3),
        "backend": report.backend,
        "workers": report.workers,
        "stopped": report.stopped,
        "settings": job.manifest_settings(),
        "counts": {"inputs": len(report.items), "done": report.count("done"), "skipped": report.count("skipped"),
                   "failed": report.count("failed"), "pending": report.count("pending")},
        "frames": report.frames,
        "items": [r.to_dict() for r in report.items],
    }
    path = Path(job.out_dir) / MANIFEST
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return path


def run_batch(job: BatchJob, backend: Backend, *, resume: bool = False,
              on_progress: Callable[[Progress], None] = lambda p: None,
              stop: Callable[[], bool] = lambda: False, clock: Callable[[], float] = time.perf_counter
              ) -> BatchReport:
    """Run a job on a backend: skip complete outputs (`resume`), plan tasks, write each output when
    all its parts are in, and the manifest at the end (also when stopped). Outputs of failed inputs
    are not written, so --resume runs them again."""
    t0 = clock()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    out = Path(job.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if job.draw_dir:
        Path(job.draw_dir).mkdir(parents=True, exist_ok=True)
    _clean_leftovers(out)
    reports = [ItemReport(it.source, it.kind, it.output) for it in job.items]
    pending = []
    for i, item in enumerate(job.items):
        if resume and output_complete(job, item):
            reports[i].status = "skipped"
        else:
            pending.append(i)
    report = BatchReport(reports, backend.name, backend.workers)
    tasks, failed, counts = plan_tasks(job, pending, backend.workers)
    for i, message in failed.items():
        reports[i].status, reports[i].error = "failed", message
    progress = Progress(items=len(failed), items_total=len(pending),
                        frames_total=sum(counts.values()) + sum(1 for i in pending if job.items[i].kind == IMAGE))
    on_progress(progress)
    parts_left = {}
    for t in tasks:
        parts_left[t.item] = t.parts
        reports[t.item].parts = t.parts
    assemblers: dict[int, _Assembler] = {}

    def frame_done(n: int) -> None:
        progress.live += n
        progress.frames += n
        now = time.monotonic()
        if now - progress._shown > 0.1:
            progress._shown = now
            on_progress(progress)

    try:
        for result in backend.run(job, tasks, stop, frame_done):
            progress.frames -= progress.live  # the finished task's frames are counted from its result
            progress.live = 0
            rep, item = reports[result.item], job.items[result.item]
            if rep.status == "failed":
                continue  # another part of this video failed already
            if not result.ok:
                if result.error is None:  # stopped
                    continue
                rep.status, rep.error = "failed", result.error
                if result.item in assemblers:
                    assemblers.pop(result.item).discard()
                progress.items += 1
                on_progress(progress)
                continue
            rep.frames += result.frames
            rep.poses += result.poses
            rep.frame_errors += result.frame_errors
            rep.seconds += result.seconds
            progress.frames += result.frames
            parts_left[result.item] -= 1
            if item.kind == VIDEO and (rep.parts > 1 or job.write_by == "driver"):
                asm = assemblers.setdefault(result.item, _Assembler(out / item.output, rep.parts))
                piece: str | Path = result.text if result.text is not None else \
                    out / part_name(item, result.part, rep.parts)
                if asm.add(result.part, piece):
                    del assemblers[result.item]
            elif result.text is not None:
                atomic_write_text(out / item.output, result.text)
            if parts_left[result.item] == 0:
                rep.status = "done"
                progress.items += 1
            on_progress(progress)
            if stop():
                break
    finally:
        for asm in assemblers.values():
            asm.discard()
        report.stopped = stop() or any(r.status == "pending" for r in reports)
        if not report.stopped:
            _clean_leftovers(out)  # parts of a video that failed (write_by="workers")
        report.seconds = clock() - t0
        write_manifest(job, report, started)
    return report


def _clean_leftovers(out: Path) -> None:
    """Remove the temp files and parts an interrupted run left (never a complete output)."""
    for p in out.glob(".*.part*of*"):
        p.unlink(missing_ok=True)
    for pattern in (".*.tmp", "*.json.*.tmp", "*.jsonl.*.tmp"):  # ours, and atomic_write_text's
        for p in out.glob(pattern):
            p.unlink(missing_ok=True)


def make_job(items: Sequence[Item], out_dir: str | Path, model: ModelRef, opts: JobOptions, **kwargs: Any) -> BatchJob:
    """A BatchJob with absolute folders (workers may run elsewhere: another cwd, another node)."""
    draw_dir = kwargs.pop("draw_dir", None)
    return BatchJob(tuple(items), str(Path(out_dir).resolve()), model, opts,
                    str(Path(draw_dir).resolve()) if draw_dir else None, **kwargs)


__all__ = ["BatchError", "BatchJob", "BatchReport", "Backend", "InlineBackend", "Item", "LocalBackend", "ModelRef",
           "Progress", "RayBackend", "Task", "TaskResult", "FrameRange", "check_outputs", "default_workers",
           "expand_inputs", "make_job", "plan_items", "plan_tasks", "resolve_model", "run_batch", "run_task"]
