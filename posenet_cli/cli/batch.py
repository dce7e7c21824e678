"""`posenet batch`: many images and videos, one output each plus a manifest, on worker processes or Ray."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from ..batch import (
    Backend,
    BatchReport,
    InlineBackend,
    JobProgress,
    LocalBackend,
    RayBackend,
    WriteBy,
    check_resume,
    cpu_count,
    default_workers,
    make_job,
    output_plan,
    plan_items,
    run_batch,
    threads_per_worker,
)
from ..jobs import JobOptions
from ..media.inputs import IMAGE, VIDEO, expand_inputs
from ..models import ModelRef
from ..output.plan import Folder, OutputPlan
from ..stream.frames import FrameSpan
from .common import check_plan, run_job
from .errors import ExitStatus, echo_error, fail
from .help import number
from .options import (
    ACROSS_FRAMES,
    BATCH_OUTPUT,
    DECODER,
    FRAMES,
    INFERENCE,
    MODEL,
    SIZING,
    UI_VERBOSE,
    Group,
    Job,
    Opt,
    command,
    resume_option,
)
from .signals import signals
from .ui import Ui

_PANEL = "Scale"  # the help panel of the options that say where and how wide the job runs


@dataclass(frozen=True)
class Scale:
    """Where and how wide a batch runs: worker processes and their threads, or Ray; who writes the outputs;
    how videos are split; how often a task whose worker died runs again."""

    workers: int | None
    threads: int | None
    ray: bool
    ray_address: str | None
    write_by: WriteBy
    chunk_frames: int | None
    retries: int


SCALE = Group(
    Scale,
    workers=Opt(Annotated[int | None, typer.Option("--workers", "-w", parser=number(int, 1), metavar="N",
                                                   help="Worker processes on this machine (default: one per core). "
                                                   "With --ray: sets the threads per task to cores // N (default "
                                                   "there: 1).",
                                                   show_default=False, rich_help_panel=_PANEL)], None),
    threads=Opt(Annotated[int | None, typer.Option("--threads", parser=number(int, 1), metavar="N",
                                                   help="Runtime threads per worker (default: cores // workers).",
                                                   show_default=False,
                                                   rich_help_panel=_PANEL)], None),
    ray=Opt(Annotated[bool, typer.Option("--ray", help="Run on Ray: a local Ray runtime, or the cluster at "
                                         "--ray-address.", rich_help_panel=_PANEL)], False),
    ray_address=Opt(Annotated[str | None, typer.Option("--ray-address", help="A Ray cluster (host:port, "
                                                       "ray://host:port, auto); implies --ray. --ray alone uses "
                                                       "$RAY_ADDRESS if set.", show_default=False,
                                                       rich_help_panel=_PANEL)], None),
    write_by=Opt(Annotated[WriteBy, typer.Option("--write-by", metavar="WHO", help="Who writes the outputs: "
                                                 "the driver (this process), or the workers straight to --out-dir "
                                                 "(shared storage on a cluster).", rich_help_panel=_PANEL)],
                 WriteBy.driver),
    chunk_frames=Opt(Annotated[int | None, typer.Option("--chunk-frames", parser=number(int, 0), metavar="N",
                                                        help="Split videos into parts "
                                                        "of N frames run in parallel and merged in order (0: "
                                                        "never; default: automatic).", show_default=False,
                                                        rich_help_panel=_PANEL)], None),
    retries=Opt(Annotated[int, typer.Option("--retries", parser=number(int, 0), metavar="N",
                                            help="Runs of a task again when its worker "
                                            "process dies.", rich_help_panel=_PANEL)], 2),
)


@command(scale=SCALE, model=MODEL, job=Job(sizing=SIZING, inference=INFERENCE, decoder=DECODER,
                                           across=ACROSS_FRAMES, output=BATCH_OUTPUT), frames=FRAMES, ui=UI_VERBOSE)
def batch(
    inputs: Annotated[list[str] | None, typer.Argument(help="Images and videos: files, folders, globs, or "
                                                       "@LIST (a file naming one input per line).",
                                                       show_default=False)] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", "-o", help="Folder for the results (required): "
                                                 "<name>.json per image, <name>.jsonl per video, and "
                                                 "manifest.json.", show_default=False)] = None,
    from_list: Annotated[list[Path] | None, typer.Option("--from-list", help="A file naming one input per line "
                                                         "(repeatable).", show_default=False)] = None,
    draw: Annotated[Path | None, typer.Option("--draw", help="Folder for annotated copies (images; videos keep "
                                              "their .mp4/.m4v/.mov/.webm/.avi extension, others become .mp4: "
                                              "H.264 through PyAV, else OpenCV's mp4v).", show_default=False)] = None,
    resume: Annotated[bool, resume_option("skip the inputs whose output is complete.")] = False,
    *,
    scale: Scale,
    model: ModelRef,
    frames: FrameSpan,
    job: JobOptions,
    ui: Ui,
) -> int:
    """Poses for many images and videos: one output each, in parallel.

    One output per input in a folder and a manifest, on worker processes or a Ray cluster. Outputs equal
    `posenet image ... --out DIR/` and `posenet video ... --out FILE.jsonl`.

    [bold]Examples[/bold]

      posenet batch photos/ clips/*.mp4 --out-dir results/ --multi

      posenet batch @inputs.txt --out-dir results/ --workers 2 --resume

      posenet batch clips/ --out-dir results/ --ray   # a local Ray runtime

      posenet batch clips/ -o /nfs/out --ray-address head:6379 --write-by workers
    """
    if out_dir is None:
        fail("give --out-dir DIR: the folder for one output per input and the manifest")
    if job.output.overwrite and resume:
        fail("--overwrite and --resume contradict each other; give one")
    # the folders are made now, before any input is read or model fetched
    check_plan(OutputPlan(Folder(out_dir, None), Folder(draw, None) if draw is not None else None))
    paths = expand_inputs(list(inputs or []), kinds=(IMAGE, VIDEO), list_files=list(from_list or []))
    items = plan_items(paths, draw=draw is not None)
    # The model is downloaded and converted here, once, before any worker starts; workers only load it.
    # TensorFlow is imported here only to convert, or later to run in this process.
    batch_job = make_job(items, out_dir, model.resolve(ui), job, draw_dir=draw, start=frames.start,
                         end=frames.end, every=frames.every, chunk_frames=scale.chunk_frames,
                         write_by=scale.write_by)
    plan = output_plan(batch_job, resume=resume, overwrite=job.output.overwrite)
    check_resume(batch_job, plan)
    check_plan(plan, [item.output for item in batch_job.items], [item.draw for item in batch_job.items if item.draw])
    backend = _backend(len(items), scale)
    bars = _Bars(len(items), ui)
    try:
        report = run_job(plan, None, lambda: run_batch(batch_job, backend, resume=resume, on_progress=bars.update,
                                                       stop=signals.requested))
    finally:
        bars.close()
        backend.close()
    return _report(report, Path(batch_job.out_dir) / "manifest.json", ui)


def _backend(items: int, scale: Scale) -> Backend:
    """Where the tasks run: Ray, this process (one worker, or one input given all cores), or worker
    processes (one per core by default)."""
    workers, threads, retries = scale.workers, scale.threads, scale.retries
    if scale.ray or scale.ray_address is not None:
        # Threads a task: 1 CPU a task by default, the measured best (docs/benchmarks.md, "Batch").
        per_task = threads or (threads_per_worker(workers, cpu_count()) if workers is not None else 1)
        return RayBackend(scale.ray_address or os.environ.get("RAY_ADDRESS") or None, threads=per_task, retries=retries)
    count = workers or default_workers()
    if count == 1 or (workers is None and items == 1):  # one input: all cores in-process
        return InlineBackend(threads)
    return LocalBackend(count, threads, retries=retries)


def _report(report: BatchReport, manifest: Path, ui: Ui) -> int:
    """The run's one summary line (and with --verbose each failure), and its exit status."""
    if ui.verbose:
        for r in report.items:
            if r.status == "failed" or r.frame_errors:
                echo_error(f"{r.input}: {r.error or f'{r.frame_errors} frames could not be processed'}")
    rate = report.frames / report.seconds if report.seconds > 0 else 0.0
    done = report.count("done")
    ui.say(f"{len(report.items)} inputs: {done} done, {report.count('skipped')} skipped, "
           f"{report.count('failed')} failed; {report.frames} frames, {rate:.1f} frames/s, "
           f"{done / report.seconds if report.seconds > 0 else 0.0:.2f} items/s ({report.backend}, "
           f"{report.workers} workers); manifest: {manifest}")
    if report.failed:
        fail(f"{report.failed} of {len(report.items)} inputs failed (see {manifest})")
    return ExitStatus.SUCCESS


class _Bars:
    """Two bars (a terminal only): inputs and frames over the whole job."""

    def __init__(self, total: int, ui: Ui) -> None:
        self.items = ui.bar(total, "input", position=0, desc="inputs")
        self.frames = ui.bar(None, "frame", position=1, desc="frames") if self.items is not None else None

    def update(self, p: JobProgress) -> None:
        if self.items is None or self.frames is None:
            return
        self.items.total = p.items_total
        self.items.n = p.items
        self.frames.total = p.frames_total or None
        self.frames.n = p.frames
        self.items.refresh()
        self.frames.refresh()

    def close(self) -> None:
        for bar in (self.items, self.frames):
            if bar is not None:
                bar.close()
