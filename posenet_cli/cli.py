"""The `posenet` command: thin Typer adapters over the library (estimator, jobs, registry, sinks).

`main(argv) -> exit status` runs it without exiting, for tests and embedding; errors that a user can
cause come out as one `posenet: error: ...` line, never a traceback.
"""

from __future__ import annotations

import shutil
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from . import __version__
from .estimator import MultiPoseParams, Sizing
from .registry import DEFAULT_MODEL, MODELS

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
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Also report each failed item.")]


def _job_options(multi: bool, long_edge: int | None, scale_factor: float | None, resolution: str | None,
                 max_poses: int, score_threshold: float, nms_radius: float, refine_steps: int,
                 min_pose_score: float, min_part_score: float, mirror: bool):
    from .jobs import JobOptions
    from .sizing import SizingError, make_plan, parse_resolution

    try:
        res = parse_resolution(resolution) if resolution is not None else None
        sizing = Sizing(scale_factor, res, long_edge)
        make_plan(513, 513, 16, scale_factor=scale_factor, resolution=res, long_edge=long_edge)  # validate now
    except SizingError as e:
        fail(str(e))
    params = MultiPoseParams(max_poses, score_threshold, nms_radius, refine_steps) if multi else None
    return JobOptions(sizing, params, mirror, min_pose_score, min_part_score)


def _load_net(model: str, stride: int, cache_dir: Path | None, base_url: str | None, quiet: bool):
    from .estimator import PoseNet
    from .registry import create_model
    from .sources import no_progress, tqdm_progress

    if stride not in (8, 16, 32):
        fail(f"--stride must be 8, 16 or 32 (got {stride})")
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


def _err(message: str) -> None:
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
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output file, or a folder for one "
                                             "<name>.json per image. Default: stdout.")] = None,
    draw: Annotated[Path | None, typer.Option("--draw", help="Write annotated images: a file for one "
                                              "input, a folder for several.")] = None,
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

    opts = _job_options(multi, long_edge, scale_factor, resolution, max_poses, score_threshold, nms_radius,
                        refine_steps, min_pose_score, min_part_score, mirror)
    paths = expand_image_inputs(inputs)
    to_dir = out is not None and (out.is_dir() or str(out).endswith(("/", "\\")))
    if not to_dir:
        _check_output(out, overwrite)
    draw_to = None
    if draw is not None:
        if len(paths) == 1 and not (draw.is_dir() or str(draw).endswith(("/", "\\"))):
            _check_output(draw, overwrite)
            draw_to = lambda p: draw  # noqa: E731
        else:
            draw.mkdir(parents=True, exist_ok=True)
            draw_to = lambda p: draw / p.name  # noqa: E731
    net = _load_net(model, stride, cache_dir, base_url, quiet)
    settings = opts.settings(net, model)
    if to_dir:
        sink: Any = DirSink(out, settings, overwrite)  # type: ignore[arg-type]
    else:
        sink = Sink(_fmt_for(out, fmt, "json" if len(paths) == 1 else "jsonl"), out, kind="image",
                    settings=settings)
    progress = _progress_over(quiet or len(paths) < 2, len(paths), "image")
    with sink:
        summary = run_images(net, paths, sink, opts, draw_to=draw_to, fail_fast=fail_fast,
                             on_error=_err if verbose or len(paths) == 1 else lambda m: None,
                             progress=progress)
    if len(paths) > 1:
        _summary(quiet, "image", summary)
    if summary.errors:
        if len(paths) == 1:
            raise typer.Exit(1)
        fail(f"{summary.errors} of {len(paths)} images failed")


def _progress_over(disabled: bool, total: int, unit: str):
    if disabled:
        return lambda it: it
    from tqdm import tqdm

    return lambda it: tqdm(it, total=total, unit=unit, leave=False, disable=not sys.stderr.isatty())


def _stream(source: str | int, out: Path | None, draw: Path | None, opts: Any, model: str, stride: int,
            fmt: Fmt | None, overwrite: bool, cache_dir: Path | None, base_url: str | None, quiet: bool,
            *, start: float = 0.0, end: float | None = None, every: int = 1, display: bool = False) -> None:
    """The shared body of `video` and `webcam`."""
    from .jobs import Window, run_video
    from .media import VideoReader, VideoWriter
    from .sinks import Sink

    _check_output(out, overwrite)
    _check_output(draw, overwrite)
    net = _load_net(model, stride, cache_dir, base_url, quiet)
    settings = opts.settings(net, model)
    with VideoReader(source, start=start, end=end, every=every) as reader:
        sink = Sink(_fmt_for(out, fmt, "jsonl"), out, kind="video", settings=settings) \
            if out is not None or draw is None else None
        writer = VideoWriter(draw, reader.fps / every, reader.width, reader.height) if draw else None
        window = Window() if display else None
        bar = None
        if not quiet and sys.stderr.isatty():
            from tqdm import tqdm

            total = reader.frame_count or None
            bar = tqdm(total=total, unit="frame", leave=False)
        try:
            summary = run_video(net, reader, sink or _NullSink(), opts, writer=writer, window=window,
                                live=reader.live, on_frame=bar.update if bar else lambda n: None)
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


class _NullSink:
    def write(self, *a: Any, **k: Any) -> None:
        pass

    def error(self, *a: Any, **k: Any) -> None:
        pass


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
    fmt: FormatOpt = None,
    overwrite: OverwriteOpt = False,
    cache_dir: CacheOpt = None,
    base_url: BaseUrlOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Poses in every frame of a video: JSON lines {"frame", "time_ms", "poses"} and/or an annotated video.

    [bold]Examples[/bold]

      posenet video in.mp4 --multi --out poses.jsonl

      posenet video in.mp4 --draw annotated.mp4 --start 10 --end 20
    """
    opts = _job_options(multi, long_edge, scale_factor, resolution, max_poses, score_threshold, nms_radius,
                        refine_steps, min_pose_score, min_part_score, mirror)
    if end is not None and end <= start:
        fail(f"--end ({end}) must be after --start ({start})")
    _stream(source, out, draw, opts, model, stride, fmt, overwrite, cache_dir, base_url, quiet,
            start=start, end=end, every=every)


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
    opts = _job_options(multi, long_edge, scale_factor, resolution, max_poses, score_threshold, nms_radius,
                        refine_steps, min_pose_score, min_part_score, mirror)
    source: str | int = int(device) if device.isdigit() else device
    _stream(source, out, draw, opts, model, stride, fmt, overwrite, cache_dir, base_url, quiet,
            display=display)


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


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so outputs are closed as on Ctrl-C."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


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
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for users
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _in_main_thread() else None
    try:
        result = app(args=argv, prog_name="posenet", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt):  # Typer turns Ctrl-C into Abort
        _err("interrupted")
        return 130
    except _Terminated:
        _err("terminated")
        return 143
    except _user_errors() as e:
        _err(f"error: {e}")
        return 1
    except Exception as e:
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # a usage error (Typer's click exceptions)
            e.show()
            return int(e.exit_code)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
