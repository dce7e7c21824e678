"""Planning a batch job: inputs -> items (each with its output names), and items -> tasks (an image, a video,
or an exact frame range of a long video)."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import PoseNetError
from ..jobs import JobOptions
from ..media.inputs import IMAGE, VIDEO, MediaError, kind_of
from ..media.video import VIDEO_EXTENSIONS_OUT, VideoReader
from ..models import ModelRef

MANIFEST = "manifest.json"
# Auto splitting of long videos: each part demuxes (without decoding) the groups of pictures before its
# range and decodes from the key frame before it, so parts are kept long and few. `chunk_frames` overrides it.
MIN_AUTO_CHUNK = 64
MAX_AUTO_PARTS = 8


class BatchError(PoseNetError):
    """A job that cannot start (no inputs, clashing outputs, existing outputs, ...); one line."""


class WriteBy(str, Enum):
    """Who writes the outputs: the driver (this process), or the workers straight to the output folder
    (which they must share, as on a cluster with shared storage)."""

    driver = "driver"
    workers = "workers"


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
            raise BatchError(f"cannot tell whether '{p}' is an image or a video (extension "
                             f"{p.suffix or '(none)'!r})")
        output = p.stem + (".json" if kind == IMAGE else ".jsonl")
        drawn = None
        if draw:
            ext = p.suffix.lower()
            drawn = p.name if kind == IMAGE else p.stem + (ext if ext in VIDEO_EXTENSIONS_OUT else ".mp4")
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
    """What one worker call does: an image, or the frames of a video shown from `start` to `end` seconds
    (presentation time; None: the job's), part `part` of `parts`, on the --every grid from source frame
    `grid` (the unsplit run's: its first frame), so the joined parts are the unsplit run."""

    item: int
    part: int = 0
    parts: int = 1
    start: float | None = None
    end: float | None = None
    grid: int | None = None


@dataclass(frozen=True)
class BatchJob:
    """Everything a worker needs to run a task. Video `start`/`end`/`every` as `posenet video`; `model`
    resolved (its `path` set) by the driver before any worker starts."""

    items: tuple[Item, ...]
    out_dir: str
    model: ModelRef
    opts: JobOptions = JobOptions()
    draw_dir: str | None = None
    start: float = 0.0
    end: float | None = None
    every: int = 1
    chunk_frames: int | None = None  # video part length in kept frames; None: automatic; 0: never split
    write_by: WriteBy = WriteBy.driver
    cwd: str = field(default_factory=os.getcwd)  # relative inputs are relative to this

    def settings(self, output_stride: int | None = None) -> dict[str, Any]:
        """The settings recorded in image outputs (as `posenet image` records them)."""
        return self.opts.settings(output_stride or self.model.known_stride(), self.model.name, self.model.int8)

    def manifest_settings(self) -> dict[str, Any]:
        """Settings that make outputs differ: a resumed job must use the same."""
        return {**self.settings(), "video": {"start": self.start, "end": self.end, "every": self.every}}

    @property
    def splittable(self) -> bool:
        """Whether videos may be split into frame ranges: not when frames depend on earlier ones
        (tracking, smoothing) nor when an annotated video is drawn (one file per video)."""
        across = self.opts.across
        return across.track is None and across.smooth is None and self.draw_dir is None


def make_job(items: Sequence[Item], out_dir: str | Path, model: ModelRef, opts: JobOptions, *,
             draw_dir: str | Path | None = None, **kwargs: Any) -> BatchJob:
    """A BatchJob with absolute folders (workers may run elsewhere: another cwd, another node)."""
    return BatchJob(tuple(items), str(Path(out_dir).resolve()), model, opts,
                    str(Path(draw_dir).resolve()) if draw_dir else None, **kwargs)


def _probe(job: BatchJob, source: str) -> tuple[tuple[float, float, int] | None, int]:
    """A video's span as the job reads it: (its first frame's time and the end of the range, in seconds,
    and the first frame's index), None when its length is unknown (a live stream); and its frame count
    as estimated on the average rate (for progress and part sizes)."""
    with VideoReader(source, start=job.start, end=job.end, every=job.every) as reader:
        r = reader.frame_range()
        count = len(range(r[0], r[1], job.every)) if r else 0
        end = job.end if job.end is not None else reader.duration_s
        if reader.live or end is None or end * 1000 <= reader.first_ms:
            return None, count
        return (reader.first_ms / 1000, end, reader.first_index), count


def output_complete(job: BatchJob, item: Item) -> bool:
    """Whether an item's output is complete: outputs appear only whole (atomic write or rename)."""
    return (Path(job.out_dir) / item.output).is_file()


@contextlib.contextmanager
def in_folder(folder: str) -> Iterator[None]:
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


def plan_tasks(job: BatchJob, pending: Sequence[int], workers: int
               ) -> tuple[list[Task], dict[int, str], dict[int, int]]:
    """Tasks for the pending items; videos are probed and long ones split by time into parts of about
    equal duration (a variable frame rate does not move frames between parts: each frame's own time
    decides its part).

    Returns the tasks, the items that failed already (unreadable video: its message) and each video's
    expected frame count (for progress)."""
    failed: dict[int, str] = {}
    counts: dict[int, int] = {}
    spans: dict[int, tuple[float, float, int] | None] = {}  # first frame's time, end (s), first frame's index
    with in_folder(job.cwd):
        for i in pending:
            if job.items[i].kind != VIDEO:
                continue
            try:
                spans[i], counts[i] = _probe(job, job.items[i].source)
            except MediaError as e:
                failed[i] = str(e)
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
        span, n = spans.get(i), counts.get(i, 0)
        parts = 1 if not (job.items[i].kind == VIDEO and job.splittable and span and n > chunk) \
            else math.ceil(n / chunk)
        if job.chunk_frames is None:
            parts = min(parts, MAX_AUTO_PARTS)
        if parts == 1:
            tasks.append(Task(i))
            continue
        assert span is not None
        t0, t1, grid = span
        bounds = [t0 + (t1 - t0) * k / parts for k in range(parts)]
        for k in range(parts):  # the first part from the job's start, the last to the job's end
            tasks.append(Task(i, k, parts, None if k == 0 else bounds[k], bounds[k + 1] if k + 1 < parts else None,
                              grid))
    # Longest work first, so a long video does not start last and leave the other workers idle.
    tasks.sort(key=lambda t: -(1 if job.items[t.item].kind == IMAGE else counts[t.item] / t.parts))
    return tasks, failed, counts
