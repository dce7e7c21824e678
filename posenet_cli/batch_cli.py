"""`posenet batch`: a thin Typer adapter over `posenet_cli.batch` (registered by the last line of cli.py)."""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from .cli import (
    BaseUrlOpt,
    BetaOpt,
    CacheOpt,
    DCutoffOpt,
    LongEdgeOpt,
    MaxAgeOpt,
    MaxPosesOpt,
    MinCutoffOpt,
    MinPartOpt,
    MinPoseOpt,
    MinSimilarityOpt,
    MirrorOpt,
    ModelOpt,
    MultiOpt,
    NmsOpt,
    OverwriteOpt,
    QuietOpt,
    RefineOpt,
    ResolutionOpt,
    ScaleOpt,
    SmoothOpt,
    StrideOpt,
    ThresholdOpt,
    TrackOpt,
    VerboseOpt,
    across_frames,
    app,
    echo_error,
    fail,
    job_options,
    signals,
)
from .registry import DEFAULT_MODEL
from .runtime import import_tensorflow
from .smoothing import DEFAULT_BETA, DEFAULT_D_CUTOFF, DEFAULT_MIN_CUTOFF


class WriteBy(str, Enum):
    driver = "driver"
    workers = "workers"


@app.command()
def batch(
    inputs: Annotated[list[str] | None, typer.Argument(help="Images and videos: files, folders, globs, or "
                                                       "@LIST (a file naming one input per line).",
                                                       show_default=False)] = None,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", "-o", help="Folder for the results (required): "
                                                 "<name>.json per image, <name>.jsonl per video, and "
                                                 "manifest.json.", show_default=False)] = None,
    from_list: Annotated[list[Path] | None, typer.Option("--from-list", help="A file naming one input per line "
                                                         "(repeatable).", show_default=False)] = None,
    draw: Annotated[Path | None, typer.Option("--draw", help="Folder for annotated copies (images, and videos "
                                              "as .mp4/.avi).", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1, help="Worker processes on this "
                                                "machine (default: one per core, the measured best). "
                                                "With --ray: sets the threads per task to cores // N "
                                                "(default there: 1).",
                                                show_default=False, rich_help_panel="Scale")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="TensorFlow threads per worker "
                                                "(default: cores // workers).", show_default=False,
                                                rich_help_panel="Scale")] = None,
    ray: Annotated[bool, typer.Option("--ray", help="Run on Ray: a local Ray runtime, or the cluster at "
                                      "--ray-address.", rich_help_panel="Scale")] = False,
    ray_address: Annotated[str | None, typer.Option("--ray-address", help="A Ray cluster (host:port, "
                                                    "ray://host:port, auto); implies --ray. --ray alone uses "
                                                    "$RAY_ADDRESS if set.", show_default=False,
                                                    rich_help_panel="Scale")] = None,
    write_by: Annotated[WriteBy, typer.Option("--write-by", help="Who writes the outputs: the driver (this "
                                              "process), or the workers straight to --out-dir (shared "
                                              "storage on a cluster).", rich_help_panel="Scale")] = WriteBy.driver,
    chunk_frames: Annotated[int | None, typer.Option("--chunk-frames", min=0, help="Split videos into parts "
                                                     "of N frames run in parallel and merged in order (0: "
                                                     "never; default: automatic).", show_default=False,
                                                     rich_help_panel="Scale")] = None,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Runs of a task again when its worker "
                                         "process dies.", rich_help_panel="Scale")] = 2,
    start: Annotated[float, typer.Option("--start", min=0.0, help="Videos: start at this second.")] = 0.0,
    end: Annotated[float | None, typer.Option("--end", min=0.0, help="Videos: stop at this second.")] = None,
    every: Annotated[int, typer.Option("--every", min=1, help="Videos: process every Nth frame.")] = 1,
    model: ModelOpt = DEFAULT_MODEL,
    stride: StrideOpt = 16,
    multi: MultiOpt = False,
    long_edge: LongEdgeOpt = None,
    scale_factor: ScaleOpt = None,
    resolution: ResolutionOpt = None,
    max_poses: MaxPosesOpt = 5,
    score_threshold: ThresholdOpt = 0.5,
    nms_radius: NmsOpt = 20.0,
    refine_steps: RefineOpt = 2,
    min_pose_score: MinPoseOpt = 0.0,
    min_part_score: MinPartOpt = 0.5,
    mirror: MirrorOpt = False,
    track: TrackOpt = False,
    track_max_age: MaxAgeOpt = 30,
    track_min_similarity: MinSimilarityOpt = 0.3,
    smooth: SmoothOpt = False,
    smooth_min_cutoff: MinCutoffOpt = DEFAULT_MIN_CUTOFF,
    smooth_beta: BetaOpt = DEFAULT_BETA,
    smooth_d_cutoff: DCutoffOpt = DEFAULT_D_CUTOFF,
    overwrite: OverwriteOpt = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted job: skip the inputs whose "
                                         "output is complete.", rich_help_panel="Output")] = False,
    cache_dir: CacheOpt = None,
    base_url: BaseUrlOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Poses for many images and videos: one output per input in a folder, a manifest, worker processes
    or a Ray cluster. Outputs equal `posenet image ... --out DIR/` and `posenet video ... --out FILE.jsonl`.

    [bold]Examples[/bold]

      posenet batch photos/ clips/*.mp4 --out-dir results/ --multi

      posenet batch @inputs.txt --out-dir results/ --workers 2 --resume

      posenet batch clips/ --out-dir results/ --ray            # a local Ray runtime

      posenet batch clips/ --out-dir /shared/results --ray-address ray://head:10001 --write-by workers
    """
    from .batch import BatchError

    inputs = list(inputs or [])
    if out_dir is None:
        fail("give --out-dir DIR: the folder for one output per input and the manifest")
    if overwrite and resume:
        fail("--overwrite and --resume contradict each other; give one")
    if end is not None and end <= start:
        fail(f"--end ({end}) must be after --start ({start})")
    opts = job_options(multi, long_edge, scale_factor, resolution, max_poses, score_threshold, nms_radius,
                        refine_steps, min_pose_score, min_part_score, mirror,
                        **across_frames(multi, track, track_max_age, track_min_similarity, smooth,
                                         smooth_min_cutoff, smooth_beta, smooth_d_cutoff))
    if stride not in (8, 16, 32):
        fail(f"--stride must be 8, 16 or 32 (got {stride})")
    try:
        _run(inputs, from_list or [], out_dir, draw, opts, model, stride, cache_dir, base_url,
             workers=workers, threads=threads, ray=ray or ray_address is not None, ray_address=ray_address,
             write_by=write_by.value, chunk_frames=chunk_frames,
             retries=retries, start=start, end=end, every=every, resume=resume, overwrite=overwrite,
             quiet=quiet, verbose=verbose)
    except BatchError as e:
        fail(str(e))


def _run(inputs: list[str], lists: list[Path], out_dir: Path, draw: Path | None, opts: Any, model: str,
         stride: int, cache_dir: Path | None, base_url: str | None, *, workers: int | None, threads: int | None,
         ray: bool, ray_address: str | None, write_by: str, chunk_frames: int | None, retries: int, start: float,
         end: float | None, every: int, resume: bool, overwrite: bool, quiet: bool, verbose: bool) -> None:
    from .batch import (
        InlineBackend,
        LocalBackend,
        RayBackend,
        check_outputs,
        cpu_count,
        default_workers,
        expand_inputs,
        make_job,
        plan_items,
        resolve_model,
        run_batch,
        threads_per_worker,
    )
    from .sources import no_progress, tqdm_progress

    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out-dir {out_dir} is a file, not a folder")
    paths = expand_inputs(inputs, [str(p) for p in lists])
    items = plan_items(paths, draw=draw is not None)
    workers_given = workers is not None
    workers = workers or default_workers()
    # The model is downloaded and converted here, once, before any worker starts; workers only load it.
    # TensorFlow is imported here (quietly) only to convert, or to run in this process.
    if workers == 1 and not ray or not _cached(model, stride, cache_dir):
        import_tensorflow()
    ref = resolve_model(model, stride, cache_dir=cache_dir, base_url=base_url,
                        progress=no_progress if quiet else tqdm_progress)
    job = make_job(items, out_dir, ref, opts, draw_dir=draw, start=start, end=end, every=every,
                   chunk_frames=chunk_frames, write_by=write_by)
    check_outputs(job, resume=resume, overwrite=overwrite)
    if ray:
        # Threads a task: measured on 2 cores (bench_batch), 1 CPU a task beat 2 (57.2 vs 50.6 frames/s).
        per_task = threads or (threads_per_worker(workers, cpu_count()) if workers_given else 1)
        backend: Any = RayBackend(ray_address or os.environ.get("RAY_ADDRESS") or None, threads=per_task,
                                  retries=retries)
    elif workers == 1 or (not workers_given and len(items) == 1):  # one input: all cores in-process
        backend = InlineBackend()
    else:
        backend = LocalBackend(workers, threads, retries=retries)
    bars = _Bars(len(items), disabled=quiet or not sys.stderr.isatty())
    try:
        with signals.deferred():
            report = run_batch(job, backend, resume=resume, on_progress=bars.update, stop=signals.requested)
    finally:
        bars.close()
        backend.close()
    manifest = Path(job.out_dir) / "manifest.json"
    if verbose:
        for r in report.items:
            if r.status == "failed" or r.frame_errors:
                echo_error(f"{r.input}: {r.error or f'{r.frame_errors} frames could not be processed'}")
    if not quiet:
        rate = report.frames / report.seconds if report.seconds > 0 else 0.0
        done = report.count("done")
        line = (f"{len(report.items)} inputs: {done} done, {report.count('skipped')} skipped, "
                f"{report.count('failed')} failed; {report.frames} frames, {rate:.1f} frames/s, "
                f"{done / report.seconds if report.seconds > 0 else 0.0:.2f} items/s ({report.backend}, "
                f"{report.workers} workers); manifest: {manifest}")
        typer.echo(line, err=True)
    if report.failed:
        fail(f"{report.failed} of {len(report.items)} inputs failed (see {manifest})")


def _cached(model: str, stride: int, cache_dir: Path | None) -> bool:
    """Whether the model needs no download or conversion (a SavedModel folder, or in the cache)."""
    from .registry import MODELS, is_savedmodel, savedmodel_dir
    from .sources import cache_root

    if is_savedmodel(Path(model)):
        return True
    return model in MODELS and is_savedmodel(savedmodel_dir(cache_root(cache_dir), model, stride))


class _Bars:
    """Two tqdm bars on stderr (a terminal only): inputs and frames over the whole job."""

    def __init__(self, total: int, disabled: bool) -> None:
        self.items = self.frames = None
        if disabled:
            return
        from tqdm import tqdm

        self.items = tqdm(total=total, unit="input", position=0, leave=False, desc="inputs")
        self.frames = tqdm(total=None, unit="frame", position=1, leave=False, desc="frames")

    def update(self, p: Any) -> None:
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
