"""Running a batch job: skip what is complete (--resume), plan tasks, hand them to a backend, write each
output when all its parts are in (atomically: a video's parts are appended in order to a temporary file
that is renamed at the end), and keep a manifest of what was done, skipped and failed."""

from __future__ import annotations

import contextlib
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
from ..files import atomic_write, close_all, publish, temp_path
from ..media.inputs import IMAGE, VIDEO
from ..output.plan import Folder, OutputPlan
from ..output.records import dumps, path_fields
from .backends import Backend
from .plan import MANIFEST, BatchError, BatchJob, WriteBy, output_complete, plan_tasks
from .worker import part_name

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
    frames: int = 0  # of finished tasks, plus `live`
    frames_total: int = 0
    live: int = 0  # frames of the tasks in hand (where the backend reports them)


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


def check_outputs(job: BatchJob, plan: OutputPlan) -> None:
    """Refuse to start over existing outputs unless `plan` overwrites or resumes them (OutputExists), and
    to resume with other settings than the manifest's."""
    manifest = Path(job.out_dir) / MANIFEST
    if plan.resume and manifest.is_file():
        try:
            before = json.loads(manifest.read_text(encoding="utf-8")).get("settings")
        except (OSError, ValueError, AttributeError):
            before = None
        if before is not None and before != json.loads(json.dumps(job.manifest_settings())):
            raise BatchError(f"--resume with other settings than {manifest} records; use the same options, "
                             f"or --overwrite to start again")
    plan.check([item.output for item in job.items], [item.draw for item in job.items if item.draw])


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
    out = Path(job.out_dir)
    for folder in (out, Path(job.draw_dir) if job.draw_dir else None):
        try:
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise write_error(folder, e) from None
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
    progress = JobProgress(items=len(failed), items_total=len(pending),
                        frames_total=sum(counts.values()) + sum(1 for i in pending if job.items[i].kind == IMAGE))
    on_progress(progress)
    parts_left = {}
    for t in tasks:
        parts_left[t.item] = t.parts
        reports[t.item].parts = t.parts
    assemblers: dict[int, _Assembler] = {}

    shown = 0.0  # when on_progress was last called from frame_done: at most ten times a second

    def frame_done(n: int) -> None:
        nonlocal shown
        progress.live += n
        progress.frames += n
        now = time.monotonic()
        if now - shown > 0.1:
            shown = now
            on_progress(progress)

    failure: WriteError | None = None
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
                if result.write_failed:
                    failure = WriteError(result.error)
                    break
                continue
            rep.frames += result.frames
            rep.poses += result.poses
            rep.frame_errors += result.frame_errors
            rep.seconds += result.seconds
            progress.frames += result.frames
            parts_left[result.item] -= 1
            try:
                if item.kind == VIDEO and (rep.parts > 1 or job.write_by == WriteBy.driver):
                    asm = assemblers.setdefault(result.item, _Assembler(out / item.output, rep.parts))
                    piece: str | Path = result.text if result.text is not None else \
                        out / part_name(item, result.part, rep.parts)
                    if asm.add(result.part, piece):
                        del assemblers[result.item]
                elif result.text is not None:
                    atomic_write(out / item.output, result.text)
            except OSError as e:
                failure = write_error(out / item.output, e, "not written; the outputs before it are whole")
                rep.status, rep.error = "failed", str(failure)
                break
            if parts_left[result.item] == 0:
                rep.status = "done"
                progress.items += 1
            on_progress(progress)
            if stop():
                break
    except BaseException as e:
        ending: BaseException | None = e
        raise
    else:
        ending = failure
    finally:
        for asm in assemblers.values():
            asm.discard()
        report.stopped = stop() or failure is not None or any(r.status == "pending" for r in reports)
        if not report.stopped or failure is not None:
            _clean_leftovers(out)  # parts of a video that failed (write_by="workers"); space, after a failure
        report.seconds = clock() - t0
        close_all((_Manifest(job, report, started),), ending)  # the manifest's own failure added to the ending's
    if failure is not None:
        raise failure
    return report


def _clean_leftovers(out: Path) -> None:
    """Remove the temp files and parts an interrupted run left (never a complete output); what cannot be
    removed (a read-only folder) is left."""
    for p in [*out.glob(".*.part*of*"), *out.glob(".*.tmp")]:  # .tmp: files.temp_path's names
        with contextlib.suppress(OSError):
            p.unlink(missing_ok=True)
