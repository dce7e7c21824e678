"""Running a batch job: skip what is complete (--resume), plan tasks, hand them to a backend, write each
output when all its parts are in (atomically: a video's parts are appended in order to a temporary file
that is renamed at the end), and keep a manifest of what was done, skipped and failed."""

from __future__ import annotations

import datetime
import io
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import WriteError, write_error
from ..files import atomic_write, close_all, part_path, publish, remove_leftovers, temp_path
from ..media.inputs import IMAGE, VIDEO
from ..output.plan import Folder, OutputPlan
from ..output.records import dumps, path_fields
from .backends import Backend
from .plan import MANIFEST, BatchError, BatchJob, WriteBy, output_complete, plan_tasks
from .worker import TaskResult

MANIFEST_VERSION = 1


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
        d: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if v is not None:  # paths not valid UTF-8 get their bytes too (records.path_fields)
                d.update(path_fields(k, v) if k in ("input", "output") else {k: v})
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
class JobProgress:
    """Where a job stands (for a progress bar): items and frames done, of the totals planned."""

    items: int = 0
    items_total: int = 0
    frames_total: int = 0
    finished_frames: int = 0  # of finished tasks, as their results count them
    live: int = 0  # of the task in hand, where the backend reports them; its result replaces them

    @property
    def frames(self) -> int:
        """Frames done: each counted once, live while its task runs, then from the task's result."""
        return self.finished_frames + self.live


class _Assembler:
    """A video's output from its parts, in order: parts are appended to a hidden temp file as soon as
    they are next in line, and the temp file is renamed to the output when the last is in."""

    def __init__(self, final: Path, parts: int) -> None:
        self.final, self.parts = final, parts
        self.next = 0
        self.waiting: dict[int, str | Path] = {}
        self.tmp = temp_path(final)
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
        publish(self.tmp, self.final)
        return True

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
        self.tmp.unlink(missing_ok=True)


def output_plan(job: BatchJob, *, resume: bool, overwrite: bool) -> OutputPlan:
    """A job's outputs: a file per input in its folder, and the drawings in theirs."""
    draw = Folder(Path(job.draw_dir), None) if job.draw_dir else None
    return OutputPlan(Folder(Path(job.out_dir), None), draw, overwrite=overwrite, resume=resume)


def check_resume(job: BatchJob, plan: OutputPlan) -> None:
    """Refuse to resume with other settings than the manifest's (BatchError); `plan.check` with the items'
    outputs then refuses to start over existing outputs unless `plan` overwrites or resumes them."""
    manifest = Path(job.out_dir) / MANIFEST
    if plan.resume and manifest.is_file():
        try:
            before = json.loads(manifest.read_text(encoding="utf-8")).get("settings")
        except (OSError, ValueError, AttributeError):
            before = None
        if before is not None and before != json.loads(json.dumps(job.manifest_settings())):
            raise BatchError(f"`resume` with other settings than {manifest} records; use the same options, "
                             f"or `overwrite` to start again")


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
    atomic_write(path, dumps(doc, pretty=True) + "\n")
    return path


class _Manifest:
    """The manifest as an output to close at the end of a job: written then (WriteError if it cannot be)."""

    def __init__(self, job: BatchJob, report: BatchReport, started: str) -> None:
        self.job, self.report, self.started = job, report, started

    def close(self) -> None:
        try:
            write_manifest(self.job, self.report, self.started)
        except OSError as e:
            raise write_error(Path(self.job.out_dir) / MANIFEST, e, "the manifest is as it was") from None


def run_batch(job: BatchJob, backend: Backend, *, resume: bool = False,
              on_progress: Callable[[JobProgress], None] = lambda p: None,
              stop: Callable[[], bool] = lambda: False, clock: Callable[[], float] = time.perf_counter
              ) -> BatchReport:
    """Run a job on a backend: skip complete outputs (`resume`), plan tasks, write each output when
    all its parts are in, and the manifest at the end (also when stopped). Outputs of failed inputs
    are not written, so --resume runs them again.

    An output that cannot be written (no space, ...) ends the job: the manifest records it as that
    input's failure, the outputs written before stay whole, and WriteError is raised; after space is
    freed, --resume does only what is missing."""
    t0 = clock()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    folders = _make_folders(job)
    for folder in folders:
        remove_leftovers(folder)
    run = _JobRun(job, backend, resume, on_progress)
    ending: BaseException | None = None
    try:
        for result in backend.run(job, run.tasks, stop, run.frame_done):
            written = run.take(result)
            if run.failure is not None or (written and stop()):
                break
        ending = run.failure
    except BaseException as e:
        ending = e
        raise
    finally:
        run.discard_unfinished()
        report = run.report
        report.stopped = stop() or run.failure is not None or any(r.status == "pending" for r in report.items)
        if not report.stopped or run.failure is not None:
            for folder in folders:  # parts of a video that failed (write_by="workers"); space, after a failure
                remove_leftovers(folder)
        report.seconds = clock() - t0
        close_all((_Manifest(job, report, started),), ending)  # the manifest's own failure added to the ending's
    if run.failure is not None:
        raise run.failure
    return report


def _make_folders(job: BatchJob) -> list[Path]:
    """The job's results folder and drawings folder (when it draws), made if missing."""
    folders = [Path(job.out_dir), *([Path(job.draw_dir)] if job.draw_dir else [])]
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(folder, e) from None
    return folders


class _JobRun:
    """One run of a job: the items' reports, the tasks planned, the progress (counted once: frames from each
    finished task's result, plus the frames of the task in hand as the backend reports them), and the
    outputs being put together from their parts. `failure`: the write that ended the job."""

    def __init__(self, job: BatchJob, backend: Backend, resume: bool,
                 on_progress: Callable[[JobProgress], None]) -> None:
        self.job, self.on_progress = job, on_progress
        self.out = Path(job.out_dir)
        reports = [ItemReport(it.source, it.kind, it.output) for it in job.items]
        pending = []
        for i, item in enumerate(job.items):
            if resume and output_complete(job, item):
                reports[i].status = "skipped"
            else:
                pending.append(i)
        self.report = BatchReport(reports, backend.name, backend.workers)
        self.tasks, failed, counts = plan_tasks(job, pending, backend.workers)
        for i, message in failed.items():
            reports[i].status, reports[i].error = "failed", message
        images = sum(1 for i in pending if job.items[i].kind == IMAGE)
        self.progress = JobProgress(items=len(failed), items_total=len(pending),
                                    frames_total=sum(counts.values()) + images)
        on_progress(self.progress)
        self.parts_left = {}
        for t in self.tasks:
            self.parts_left[t.item] = reports[t.item].parts = t.parts
        self.assemblers: dict[int, _Assembler] = {}
        self.failure: WriteError | None = None
        self.shown = 0.0  # when on_progress was last called from frame_done: at most ten times a second

    def frame_done(self, n: int) -> None:
        """`n` more frames of the task in hand are done (where the backend can tell)."""
        self.progress.live += n
        now = time.monotonic()
        if now - self.shown > 0.1:
            self.shown = now
            self.on_progress(self.progress)

    def take(self, result: TaskResult) -> bool:
        """Count one task's result and write what it completes; True when its output (or part) was written."""
        self.progress.live = 0  # the task's frames are counted from its result from here on
        report = self.report.items[result.item]
        if report.status == "failed":
            return False  # another part of this video failed already
        if not result.ok:
            if result.error is not None:  # None: stopped
                self._failed(result, report)
            return False
        report.frames += result.frames
        report.poses += result.poses
        report.frame_errors += result.frame_errors
        report.seconds += result.seconds
        self.progress.finished_frames += result.frames
        self.parts_left[result.item] -= 1
        output = self.out / self.job.items[result.item].output
        try:
            self._write(result, report, output)
        except OSError as e:
            self.failure = write_error(output, e, "not written; the outputs before it are whole")
            report.status, report.error = "failed", str(self.failure)
            return False
        if self.parts_left[result.item] == 0:
            report.status = "done"
            self.progress.items += 1
        self.on_progress(self.progress)
        return True

    def _failed(self, result: TaskResult, report: ItemReport) -> None:
        report.status, report.error = "failed", result.error
        if result.item in self.assemblers:
            self.assemblers.pop(result.item).discard()
        self.progress.items += 1
        self.on_progress(self.progress)
        if result.write_failed:
            self.failure = WriteError(result.error)

    def _write(self, result: TaskResult, report: ItemReport, output: Path) -> None:
        """The whole `output` written, or a video's part added to it (the output written when it is the last)."""
        item = self.job.items[result.item]
        if item.kind == VIDEO and (report.parts > 1 or self.job.write_by == WriteBy.driver):
            asm = self.assemblers.setdefault(result.item, _Assembler(output, report.parts))
            piece = result.text if result.text is not None else part_path(output, result.part, report.parts)
            if asm.add(result.part, piece):
                del self.assemblers[result.item]
        elif result.text is not None:
            atomic_write(output, result.text)

    def discard_unfinished(self) -> None:
        """Remove the temp files of outputs whose parts are not all in."""
        for asm in self.assemblers.values():
            asm.discard()
