"""The `posenet` command: thin Typer adapters over the library (estimator, jobs, registry, sinks).

`main(argv) -> exit status` runs it without exiting, for tests and embedding; errors that a user can
cause come out as one `posenet: error: ...` line, never a traceback.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from . import __version__
from .estimator import MultiPoseParams, Sizing
from .registry import DEFAULT_MODEL, MODELS
from .runtime import import_tensorflow
from .smoothing import DEFAULT_BETA, DEFAULT_D_CUTOFF, DEFAULT_MIN_CUTOFF

app = typer.Typer(
    name="posenet",
    help="Find human poses (17 keypoints per person) in images, videos and webcams with Google's PoseNet.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List, download, convert and inspect PoseNet models.", no_args_is_help=True)
app.add_typer(models_app, name="models")


class Fmt(str, Enum):
    json = "json"
    jsonl = "jsonl"
    csv = "csv"
    coco = "coco"


class UserError(Exception):
    """Something the user can fix; printed as one line."""


def fail(message: str) -> NoReturn:
    raise UserError(message)


# Options shared by image, video and webcam (tfjs defaults unless said).
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Model name (see 'posenet models list'), a tfjs "
                                       "model folder/URL, or a SavedModel directory.", rich_help_panel="Model")]
StrideOpt = Annotated[int, typer.Option("--stride", "-s", help="Output stride: 8, 16 or 32 (smaller is more "
                                        "accurate and slower).", rich_help_panel="Model")]
CacheOpt = Annotated[Path | None, typer.Option("--cache-dir", envvar="POSENET_CACHE_DIR",
                                               help="Where models are cached.", rich_help_panel="Model")]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", envvar="POSENET_BASE_URL", help="Mirror of the "
                                                "official weights (URL or folder).", rich_help_panel="Model")]
MultiOpt = Annotated[bool, typer.Option("--multi/--single", help="Multi-pose decoding (several people) or "
                                        "single-pose.", rich_help_panel="Decoding")]
LongEdgeOpt = Annotated[int | None, typer.Option("--long-edge", help="Scale so the long side is about N px "
                                                 "(default 641).", rich_help_panel="Input size")]
ScaleOpt = Annotated[float | None, typer.Option("--scale-factor", help="tfjs 1.x sizing: scale each side by F "
                                                "(0.2-1.0).", rich_help_panel="Input size")]
ResolutionOpt = Annotated[str | None, typer.Option("--resolution", help="tfjs 2.x sizing: pad to the aspect "
                                                   "ratio of N or WxH, then resize.", rich_help_panel="Input size")]
MaxPosesOpt = Annotated[int, typer.Option("--max-poses", min=1, help="Most poses per image (multi-pose).",
                                          rich_help_panel="Decoding")]
ThresholdOpt = Annotated[float, typer.Option("--score-threshold", min=0.0, max=1.0, help="Smallest part score "
                                             "that can start a pose (multi-pose).", rich_help_panel="Decoding")]
NmsOpt = Annotated[float, typer.Option("--nms-radius", min=0.0, help="Poses whose same part lies within this "
                                       "many network-input pixels are suppressed.", rich_help_panel="Decoding")]
RefineOpt = Annotated[int, typer.Option("--refine-steps", min=1, max=10, help="Offset refinement steps (2: "
                                        "tfjs 2.x, 1: tfjs 1.x).", rich_help_panel="Decoding")]
MinPoseOpt = Annotated[float, typer.Option("--min-pose-score", min=0.0, max=1.0, help="Drop poses scoring "
                                           "below this.", rich_help_panel="Output")]
MinPartOpt = Annotated[float, typer.Option("--min-part-score", min=0.0, max=1.0, help="Leave parts scoring "
                                           "below this out of drawings.", rich_help_panel="Output")]
MirrorOpt = Annotated[bool, typer.Option("--mirror", help="Mirror left-right (a selfie view): drawings are "
                                         "flipped and x becomes width-1-x; part labels stay.",
                                         rich_help_panel="Output")]
FormatOpt = Annotated[Fmt | None, typer.Option("--format", "-f", help="json, jsonl, csv or coco (COCO "
                                               "keypoint results). Default: from --out's extension.",
                                               rich_help_panel="Output")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.",
                                            rich_help_panel="Output")]
TrackOpt = Annotated[bool, typer.Option("--track", help="Give each person an id that stays while they are in "
                                        "view (matched by keypoint similarity, OKS).", rich_help_panel="Across frames")]
MaxAgeOpt = Annotated[int, typer.Option("--track-max-age", min=0, help="Frames a lost person's id is kept "
                                        "for their return.", rich_help_panel="Across frames")]
MinSimilarityOpt = Annotated[float, typer.Option("--track-min-similarity", min=0.0, max=1.0,
                                                 help="Lowest OKS (or box IoU) that continues a track.",
                                                 rich_help_panel="Across frames")]
SmoothOpt = Annotated[bool, typer.Option("--smooth", help="Steady keypoints with a One Euro filter (raw "
                                         "positions kept as \"raw\"); with --multi it implies --track.",
                                         rich_help_panel="Across frames")]
MinCutoffOpt = Annotated[float, typer.Option("--smooth-min-cutoff", min=1e-6, help="One Euro min cutoff (Hz): "
                                             "lower is steadier when still.", rich_help_panel="Across frames")]
BetaOpt = Annotated[float, typer.Option("--smooth-beta", min=0.0, help="One Euro speed coefficient: higher "
                                        "lags less when moving.", rich_help_panel="Across frames")]
DCutoffOpt = Annotated[float, typer.Option("--smooth-d-cutoff", min=1e-6, help="One Euro cutoff (Hz) of the "
                                           "speed estimate.", rich_help_panel="Across frames")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Also report each failed item.")]


def job_options(multi: bool, long_edge: int | None, scale_factor: float | None, resolution: str | None,
                 max_poses: int, score_threshold: float, nms_radius: float, refine_steps: int,
                 min_pose_score: float, min_part_score: float, mirror: bool, *, stride: int = 16,
                 track: dict[str, Any] | None = None, smooth: dict[str, Any] | None = None):
    from .jobs import JobOptions
    from .sizing import SizingError, make_plan, parse_resolution

    try:
        res = parse_resolution(resolution) if resolution is not None else None
        sizing = Sizing(scale_factor, res, long_edge)
        make_plan(513, 513, stride if stride in (8, 16, 32) else 16, scale_factor=scale_factor, resolution=res,
                  long_edge=long_edge)  # options checked now, not at the first image
    except SizingError as e:
        fail(str(e))
    params = MultiPoseParams(max_poses, score_threshold, nms_radius, refine_steps) if multi else None
    return JobOptions(sizing, params, mirror, min_pose_score, min_part_score, track, smooth)


def across_frames(multi: bool, track: bool, max_age: int, min_similarity: float, smooth: bool,
                   min_cutoff: float, beta: float, d_cutoff: float) -> dict[str, Any]:
    """--track / --smooth as keyword arguments of PoseTracker / PoseSmoother (None when off).

    Smoothing several people needs to know who is who, so with --multi it turns tracking on."""
    track = track or (smooth and multi)
    return {"track": {"max_age": max_age, "min_similarity": min_similarity} if track else None,
            "smooth": {"min_cutoff": min_cutoff, "beta": beta, "d_cutoff": d_cutoff} if smooth else None}


def _load_net(model: str, stride: int, cache_dir: Path | None, base_url: str | None, quiet: bool):
    from .estimator import PoseNet
    from .registry import create_model
    from .sources import no_progress, tqdm_progress

    if stride not in (8, 16, 32):
        fail(f"--stride must be 8, 16 or 32 (got {stride})")
    import_tensorflow()
    runner = create_model(model, stride, cache_dir=cache_dir, base_url=base_url,
                          progress=no_progress if quiet else tqdm_progress)
    return PoseNet(runner=runner)


def _check_output(path: Path | None, overwrite: bool) -> None:
    if path is None:
        return
    if path.exists() and path.is_file() and not overwrite:
        fail(f"{path} exists; pass --overwrite to replace it")
    if not path.parent.exists():
        fail(f"cannot write {path}: folder {path.parent} does not exist")


def _fmt_for(path: Path | None, fmt: Fmt | None, default: str) -> str:
    if fmt is not None:
        return fmt.value
    if path is not None and path.suffix.lower() in (".json", ".jsonl", ".csv"):
        return path.suffix.lower()[1:]
    return default


def echo_error(message: str) -> None:
    typer.echo(f"posenet: {message}", err=True)


def _summary(quiet: bool, what: str, summary: Any) -> None:
    if quiet:
        return
    line = (f"{summary.items} {what}{'s' if summary.items != 1 else ''}, {summary.poses} poses, "
            f"{summary.rate:.1f} {what}s/s")
    if summary.errors:
        line += f", {summary.errors} errors"
    typer.echo(line, err=True)


@app.command()
def image(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or globs.", show_default=False)],
    out_arg: Annotated[str | None, typer.Option("--out", "-o", help="Output file, or a folder (an existing "
                                                "one, or ending in /) for one <name>.json per image. "
                                                "Default: stdout.", show_default=False)] = None,
    draw_arg: Annotated[str | None, typer.Option("--draw", help="Write annotated images: a file for one "
                                                 "input, a folder for several.", show_default=False)] = None,
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
    fmt: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first unreadable image.")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: skip the images "
                                         "already in --out (a JSON lines file or a folder).",
                                         rich_help_panel="Output")] = False,
    cache_dir: CacheOpt = None,
    base_url: BaseUrlOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Poses in images: JSON to stdout for one image, JSON lines for several.

    [bold]Examples[/bold]

      posenet image photo.jpg --stride 16

      posenet image photos/ --multi --out poses.jsonl --draw drawn/
    """
    from .jobs import run_images
    from .media import expand_image_inputs
    from .sinks import DirSink, Sink

    opts = job_options(multi, long_edge, scale_factor, resolution, max_poses, score_threshold, nms_radius,
                        refine_steps, min_pose_score, min_part_score, mirror, stride=stride)
    paths = expand_image_inputs(inputs)
    # Strings, not Paths, up to here: a Path drops the trailing slash that says "a folder".
    to_dir = out_arg is not None and (Path(out_arg).is_dir() or out_arg.endswith(("/", os.sep)))
    out, draw = (Path(a) if a is not None else None for a in (out_arg, draw_arg))
    fmt_name = _fmt_for(out, fmt, "json" if len(paths) == 1 else "jsonl")
    if resume:
        paths = _images_left(paths, out, to_dir, fmt_name)
        if not paths:
            if not quiet:
                typer.echo(f"{out} is already complete", err=True)
            return
    elif to_dir:
        _check_outputs([out / (p.stem + ".json") for p in paths], overwrite)  # type: ignore[operator]
    else:
        _check_output(out, overwrite)
    draw_to = None
    if draw is not None:
        if len(paths) == 1 and not (draw.is_dir() or str(draw_arg).endswith(("/", os.sep))):
            _check_output(draw, overwrite)
            draw_to = lambda p: draw  # noqa: E731
        else:
            _check_outputs([draw / p.name for p in paths], overwrite or resume)
            draw.mkdir(parents=True, exist_ok=True)
            draw_to = lambda p: draw / p.name  # noqa: E731
    net = _load_net(model, stride, cache_dir, base_url, quiet)
    settings = opts.settings(net.output_stride, model)
    if to_dir:
        sink: Any = DirSink(out, settings, overwrite)  # type: ignore[arg-type]
    else:
        sink = Sink(fmt_name, out, kind="image", settings=settings, append=resume)
    progress = _progress_over(quiet or len(paths) < 2, len(paths), "image")
    with sink, signals.deferred():
        summary = run_images(net, paths, sink, opts, draw_to=draw_to, fail_fast=fail_fast,
                             on_error=echo_error if verbose or len(paths) == 1 else lambda m: None,
                             progress=progress, stop=signals.requested)
    if len(paths) > 1:
        _summary(quiet, "image", summary)
    if summary.errors:
        if len(paths) == 1:
            raise typer.Exit(1)
        fail(f"{summary.errors} of {len(paths)} images failed")


def _check_outputs(paths: list[Path], overwrite: bool) -> None:
    """Per-input outputs in a folder: two inputs must not write the same file, nor any an existing one."""
    seen: set[Path] = set()
    for path in paths:
        if path in seen:
            fail(f"two inputs would both write {path}; give inputs with different names")
        seen.add(path)
        if not overwrite and path.exists():
            fail(f"{path} exists; pass --overwrite to replace it (or --resume to skip done images)")


def _images_left(paths: list[Path], out: Path | None, to_dir: bool, fmt_name: str) -> list[Path]:
    """The images an interrupted run has not written yet (failed ones count as done: they are recorded)."""
    from .formats import read_jsonl_resume

    if out is None or (not to_dir and fmt_name != "jsonl"):
        fail("--resume continues a results folder or JSON lines file: give --out FOLDER/ or --out FILE.jsonl")
    if to_dir:
        return [p for p in paths if not (out / (p.stem + ".json")).is_file()]
    records, _ = read_jsonl_resume(out)
    done = {r.get("image") for r in records}
    return [p for p in paths if str(p) not in done]


def _progress_over(disabled: bool, total: int, unit: str):
    if disabled:
        return lambda it: it
    from tqdm import tqdm

    return lambda it: tqdm(it, total=total, unit=unit, leave=False, disable=not sys.stderr.isatty())


def _stream(source: str | int, out: Path | None, draw: Path | None, opts: Any, model: str, stride: int,
            fmt: Fmt | None, overwrite: bool, cache_dir: Path | None, base_url: str | None, quiet: bool,
            *, start: float = 0.0, end: float | None = None, every: int = 1, display: bool = False,
            resume: bool = False) -> None:
    """The shared body of `video` and `webcam`."""
    from .jobs import AcrossFrames, Window, run_video
    from .media import VideoReader, VideoWriter
    from .sinks import Sink

    fmt_name = _fmt_for(out, fmt, "jsonl")
    across = AcrossFrames(opts)
    if resume:
        if out is None or fmt_name != "jsonl":
            fail("--resume continues a JSON lines file: give --out FILE.jsonl")
        if draw is not None:
            fail("--resume cannot continue an annotated video; leave out --draw")
        start = _resume_start(source, out, across, start, end, every)
        if start is None:
            if not quiet:
                typer.echo(f"{out} is already complete", err=True)
            return
    else:
        _check_output(out, overwrite)
    _check_output(draw, overwrite)
    net = _load_net(model, stride, cache_dir, base_url, quiet)
    settings = opts.settings(net.output_stride, model)
    with VideoReader(source, start=start, end=end, every=every) as reader:
        sink = Sink(fmt_name, out, kind="video", settings=settings, append=resume) \
            if out is not None or draw is None else None
        writer = VideoWriter(draw, reader.fps / every, reader.width, reader.height) if draw else None
        window = Window() if display else None
        bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            total = reader.frame_count or None
            bar = tqdm(total=total, unit="frame", leave=False)
        try:
            with signals.deferred():
                summary = run_video(net, reader, sink, opts, writer=writer, window=window,
                                    live=reader.live, across=across, stop=signals.requested,
                                    on_frame=bar.update if bar else lambda n: None)
        finally:
            if bar is not None:
                bar.close()
            if sink is not None:
                sink.close()
            if writer is not None:
                writer.close()
            if window is not None:
                window.close()
    _summary(quiet, "frame", summary)
    if summary.errors:
        fail(f"{summary.errors} frames could not be processed")


def _resume_start(source: str | int, out: Path, across: Any, start: float, end: float | None,
                  every: int) -> float | None:
    """Where a resumed run starts (seconds): after the last complete frame in `out`, whose records
    also rebuild the tracking and smoothing state; None when nothing is left to do."""
    from .formats import read_jsonl_resume
    from .media import VideoReader

    records, last = read_jsonl_resume(out)  # a cut-off last line is removed here
    if last is None:
        return start
    across.replay(records)
    with VideoReader(source) as probe:
        if probe.live:
            fail("--resume needs a video file, not a live source")
        fps, count = probe.fps, probe.frame_count
    first = last + every  # the next frame of the same --every grid
    stop = count or math.inf  # 0: unknown
    if end is not None:
        stop = min(stop, math.ceil(end * fps - 1e-9))
    if first >= stop:
        return None
    return first / fps


@app.command()
def video(
    source: Annotated[str, typer.Argument(help="A video file or stream URL.", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Poses file: one JSON line per frame "
                                             "(default: stdout unless --draw).")] = None,
    draw: Annotated[Path | None, typer.Option("--draw", help="Write the annotated video (.mp4 or .avi).")] = None,
    start: Annotated[float, typer.Option("--start", min=0.0, help="Start at this second.")] = 0.0,
    end: Annotated[float | None, typer.Option("--end", min=0.0, help="Stop at this second.")] = None,
    every: Annotated[int, typer.Option("--every", min=1, help="Process every Nth frame.")] = 1,
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
    fmt: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run: keep the complete "
                                         "frames already in --out (JSON lines) and process the rest.",
                                         rich_help_panel="Output")] = False,
    cache_dir: CacheOpt = None,
    base_url: BaseUrlOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Poses in every frame of a video: JSON lines {"frame", "time_ms", "poses"} and/or an annotated video.

    [bold]Examples[/bold]

      posenet video in.mp4 --multi --out poses.jsonl

      posenet video in.mp4 --draw annotated.mp4 --start 10 --end 20
    """
    opts = job_options(multi, long_edge, scale_factor, resolution, max_poses, score_threshold, nms_radius,
                        refine_steps, min_pose_score, min_part_score, mirror, stride=stride,
                        **across_frames(multi, track, track_max_age, track_min_similarity, smooth,
                                         smooth_min_cutoff, smooth_beta, smooth_d_cutoff))
    if end is not None and end <= start:
        fail(f"--end ({end}) must be after --start ({start})")
    _stream(source, out, draw, opts, model, stride, fmt, overwrite, cache_dir, base_url, quiet,
            start=start, end=end, every=every, resume=resume)


@app.command()
def webcam(
    device: Annotated[str, typer.Option("--device", "-d", help="Camera index, device path or stream URL.")] = "0",
    display: Annotated[bool, typer.Option("--display/--no-display", help="Show a live window (q or Esc "
                                          "quits).")] = True,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Poses file, one JSON line per frame.")] = None,
    draw: Annotated[Path | None, typer.Option("--draw", help="Record the annotated video.")] = None,
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
    fmt: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    cache_dir: CacheOpt = None,
    base_url: BaseUrlOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Live poses from a camera, with skeletons and an FPS counter in a window.

    [bold]Examples[/bold]

      posenet webcam --mirror

      posenet webcam --device 1 --no-display --out live.jsonl
    """
    opts = job_options(multi, long_edge, scale_factor, resolution, max_poses, score_threshold, nms_radius,
                        refine_steps, min_pose_score, min_part_score, mirror, stride=stride,
                        **across_frames(multi, track, track_max_age, track_min_similarity, smooth,
                                         smooth_min_cutoff, smooth_beta, smooth_d_cutoff))
    source: str | int = int(device) if device.isdigit() else device
    _stream(source, out, draw, opts, model, stride, fmt, overwrite, cache_dir, base_url, quiet,
            display=display)


@app.command()
def bench(
    clip: Annotated[Path | None, typer.Argument(help="A video: also time the whole 'posenet video' path on "
                                                "it against the model alone.", show_default=False)] = None,
    model: ModelOpt = DEFAULT_MODEL,
    stride: StrideOpt = 16,
    multi: MultiOpt = False,
    long_edge: LongEdgeOpt = None,
    scale_factor: ScaleOpt = None,
    resolution: ResolutionOpt = None,
    sizes: Annotated[str, typer.Option("--sizes", help="Square input sizes for the model-alone rows.")] = "257,513",
    cache_dir: CacheOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Measure speed on this machine: the model alone (frames/s by input size and batch) and, given a
    video, the whole video path as a fraction of the model alone.

    [bold]Examples[/bold]

      posenet bench

      posenet bench street.mp4 --multi --scale-factor 0.5
    """
    from rich.console import Console
    from rich.table import Table

    from .bench import measure

    try:
        square = [int(v) for v in sizes.split(",") if v.strip()]
    except ValueError:
        fail(f"--sizes must be comma-separated numbers (got {sizes!r})")
    if any(s < 1 or (s - 1) % stride for s in square):
        fail(f"--sizes must be multiples of the stride plus one, like 257 or 513 (got {sizes})")
    opts = job_options(multi, long_edge, scale_factor, resolution, 5, 0.5, 20.0, 2, 0.0, 0.5, False,
                        stride=stride)
    if clip is not None and not clip.is_file():
        fail(f"cannot open video {str(clip)!r}: no such file")
    net = _load_net(model, stride, cache_dir, base_url, quiet=True)
    console = Console(stderr=True)
    with console.status("measuring") as status:
        rows = measure(net, clip, opts, sizes=square, on_row=lambda row: status.update(
            f"measured {row['what']} {row['input']} batch {row['batch']}"))
    table = Table(title=f"{model}, stride {stride}", title_justify="left", header_style="bold")
    columns = [c for c in ("what", "input", "batch", "frames/s", "ms/frame", "ratio") if any(c in r for r in rows)]
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    Console(width=120).print(table)


@models_app.command("list")
def models_list(cache_dir: CacheOpt = None) -> None:
    """The named models: architecture, strides, download size, source and whether it is cached."""
    from rich.console import Console
    from rich.table import Table

    from .registry import is_cached

    table = Table(box=None, header_style="bold")
    for col in ("name", "architecture", "multiplier", "strides", "size", "source", "cached"):
        table.add_column(col)
    for spec in MODELS.values():
        table.add_row(
            spec.name + (" (default)" if spec.name == DEFAULT_MODEL else ""),
            "MobileNetV1" if spec.architecture == "mobilenet_v1" else "ResNet50",
            f"{spec.multiplier:.2f}" if spec.multiplier else "-",
            ",".join(map(str, spec.strides)),
            f"{spec.size_mb:.1f} MB",
            spec.path + ("" if spec.kind == "checkpoint" else "model-stride*.json"),
            "yes" if is_cached(spec, cache_dir) else "no",
        )
    Console(width=200).print(table)


@models_app.command("fetch")
def models_fetch(
    name: Annotated[str, typer.Argument(help="A model name from 'posenet models list'.")],
    stride: StrideOpt = 16,
    cache_dir: CacheOpt = None,
    base_url: BaseUrlOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Download a model and convert it to a cached SavedModel, ready for offline use."""
    from .registry import ensure_savedmodel, get_spec
    from .sources import no_progress, tqdm_progress

    import_tensorflow()
    get_spec(name)
    path = ensure_savedmodel(name, stride, cache_dir=cache_dir, base_url=base_url,
                             progress=no_progress if quiet else tqdm_progress)
    typer.echo(str(path))


@models_app.command("convert")
def models_convert(
    source: Annotated[str, typer.Argument(help="A model name, tfjs model folder/URL/JSON, or SavedModel.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the SavedModel to.")],
    stride: StrideOpt = 16,
    overwrite: OverwriteOpt = False,
    cache_dir: CacheOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """Convert any supported model to a TensorFlow SavedModel with posenet's serving signature."""
    from .registry import ensure_savedmodel

    if out.exists() and not overwrite:
        fail(f"{out} exists; pass --overwrite to replace it")
    import_tensorflow()
    path = ensure_savedmodel(source, stride, cache_dir=cache_dir, base_url=base_url)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(path, out)
    typer.echo(str(out))


@models_app.command("info")
def models_info(
    model: Annotated[str, typer.Argument(help="A model name, tfjs model folder/URL, or SavedModel.")],
    stride: StrideOpt = 16,
    cache_dir: CacheOpt = None,
    base_url: BaseUrlOpt = None,
) -> None:
    """The model's serving signature, output stride, input range and where it came from."""
    import json

    from .registry import create_model

    import_tensorflow()
    runner = create_model(model, stride, cache_dir=cache_dir, base_url=base_url)
    info = {"model": model, "output_stride": runner.output_stride, **runner.metadata,
            "signature": {"inputs": {"image": "float32 [batch, height, width, 3], RGB 0..255, "
                                     "height and width = k * stride + 1"},
                          "outputs": {"heatmap_scores": "float32 [batch, h, w, 17] (sigmoid applied)",
                                      "offsets": "float32 [batch, h, w, 34] (y 0..16, x 17..33)",
                                      "displacement_fwd": "float32 [batch, h, w, 32] (y 0..15, x 16..31)",
                                      "displacement_bwd": "float32 [batch, h, w, 32] (y 0..15, x 16..31)"}}}
    typer.echo(json.dumps(info, indent=2))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"posenet-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Find human poses (17 keypoints per person) with Google's PoseNet."""


class _Interrupted(BaseException):
    """SIGINT or SIGTERM as an exception, so outputs are closed on the way out; exit status 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Signals:
    """Ctrl-C (SIGINT) and SIGTERM. Outside a job they interrupt at once (an exception); while a job
    writes results (`deferred`) the first one asks it to stop after the item in hand, so that item is
    whole in every output, and a second one interrupts at once."""

    def __init__(self) -> None:
        self.deferring = False
        self.received: int | None = None

    def handle(self, signum: int, frame: Any) -> None:
        if self.deferring and self.received is None:
            self.received = signum
            return
        self.interrupt(signum)

    @staticmethod
    def interrupt(signum: int) -> NoReturn:
        raise _Interrupted(signum)

    def requested(self) -> bool:
        return self.received is not None

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Within: signals become stop requests. On leaving (outputs closed by then), a request received
        is raised as the interruption it stands for."""
        self.deferring, self.received = True, None
        try:
            yield
        finally:
            self.deferring = False
        if self.received is not None:
            self.interrupt(self.received)


signals = _Signals()


def _user_errors() -> tuple[type[BaseException], ...]:
    from .formats import FormatError
    from .media import MediaError
    from .registry import ModelError
    from .sinks import OutputError
    from .sizing import SizingError
    from .sources import FetchError
    from .weights import WeightsError

    return (UserError, MediaError, ModelError, OutputError, SizingError, FetchError, WeightsError, FormatError)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failed, 2 usage, 130 Ctrl-C, 143 SIGTERM)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for users
    previous = {}
    if _in_main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, signals.handle)
    try:
        result = app(args=argv, prog_name="posenet", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except _Interrupted as e:
        echo_error("terminated" if e.signum == signal.SIGTERM else "interrupted")
        return 128 + e.signum
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C where no handler of ours was installed
        echo_error("interrupted")
        return 130
    except _user_errors() as e:
        echo_error(f"error: {e}")
        return 1
    except Exception as e:
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # a usage error (Typer's click exceptions)
            e.show()
            return int(e.exit_code)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

from . import batch_cli as _batch_cli  # noqa: E402,F401 - registers `posenet batch`
