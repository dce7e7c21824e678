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
# Auto splitting of long videos: each part decodes (and drops) every frame before its range, so parts
# are kept long and few. `chunk_frames` overrides it.
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
    """What one worker call does: an image, or the frames [first, stop) of a video (stop None: to its
    end), part `part` of `parts`."""

    item: int
    part: int = 0
    parts: int = 1
    first: int = 0
    stop: int | None = None


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
    """Tasks for the pending items; videos are probed (frame count) and long ones split into parts.

    Returns the tasks, the items that failed already (unreadable video: its message) and each video's
    expected frame count (for progress)."""
    failed: dict[int, str] = {}
    counts: dict[int, int] = {}
    ranges: dict[int, tuple[int, int] | None] = {}
    with in_folder(job.cwd):
        for i in pending:
            item = job.items[i]
            if item.kind != VIDEO:
                continue
            try:
                with VideoReader(item.source, start=job.start, end=job.end, every=job.every) as reader:
                    ranges[i] = reader.frame_range()
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
