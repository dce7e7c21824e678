"""`posenet video` and `posenet webcam`: poses in every frame of a stream, as JSON lines, an annotated video
and/or a live window."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from ..jobs import JobOptions, open_span, resume_reader, run_video
from ..media.images import read_image
from ..media.inputs import IMAGE, MediaError, kind_of
from ..media.video import VideoReader, VideoWriter, annotated_video
from ..media.window import Window, display_problem
from ..models import ModelRef
from ..output.plan import File, Folder, OutputPlan, Results, Stdout
from ..output.writers import FOLDER_FORMATS, format_for
from ..stream.frames import FrameSpan
from ..stream.temporal import AcrossFrames
from .common import check_plan, load_net, run_job
from .errors import ExitStatus, echo_error, fail
from .motion import PLOT_HELP, VIDEO_JOB, check_analysis, results_writer
from .options import FRAMES, MODEL, STREAM_JOB, UI, command, resume_option
from .signals import signals
from .ui import Ui

DRAW_VIDEO_HELP = ("Write the annotated video: .mp4 (H.264, which browsers play, through PyAV; without PyAV "
                   "OpenCV's mp4v, which they do not), .webm (VP9; VP8 without PyAV) or .avi (MJPG).")


@command(model=MODEL, job=VIDEO_JOB, frames=FRAMES, ui=UI)
def video(
    source: Annotated[str, typer.Argument(help="A video file or stream URL.", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Poses file: one JSON line per frame "
                                             "(default: stdout unless --draw); with --format openpose a folder "
                                             "for one <stem>_<frame>_keypoints.json per frame.",
                                             show_default=False)] = None,
    draw: Annotated[Path | None, typer.Option("--draw", help=DRAW_VIDEO_HELP, show_default=False)] = None,
    resume: Annotated[bool, resume_option("keep the complete frames already in --out (JSON lines) and "
                                          "process the rest.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help=PLOT_HELP, show_default=False,
                                              rich_help_panel="Motion analysis")] = None,
    audio: Annotated[bool, typer.Option("--audio/--no-audio", help="Keep the source's sound in the --draw video "
                                        "(copied as it is, cut with --start/--end).")] = True,
    *,
    model: ModelRef,
    frames: FrameSpan,
    job: JobOptions,
    ui: Ui,
) -> int:
    """Poses in every frame of a video: JSON lines and/or a drawn video.

    A JSON line per frame, {"frame", "time_ms", "poses"}, and/or an annotated video.

    [bold]Examples[/bold]

      posenet video in.mp4 --multi --out poses.jsonl

      posenet video in.mp4 --draw annotated.mp4 --start 10 --end 20

      posenet video squats.mp4 --person largest --angles --out angles.csv

      posenet video squats.mp4 --angles --filter butterworth --plot angles.png
    """
    if _is_image(Path(source)):
        fail(f"cannot read video {source!r}: it is an image; use 'posenet image' (or 'posenet batch')")
    return stream(source, out, draw, job, model, ui, frames=frames, resume=resume, plot=plot, sound=audio)


@command(model=MODEL, job=STREAM_JOB, ui=UI)
def webcam(
    device: Annotated[str, typer.Option("--device", "-d", help="Camera index, device path or stream URL.")] = "0",
    display: Annotated[bool, typer.Option("--display/--no-display", help="Show a live window (q or Esc "
                                          "quits).")] = True,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Poses file, one JSON line per frame.",
                                             show_default=False)] = None,
    draw: Annotated[Path | None, typer.Option("--draw", help=DRAW_VIDEO_HELP, show_default=False)] = None,
    *,
    model: ModelRef,
    job: JobOptions,
    ui: Ui,
) -> int:
    """Live poses from a camera, drawn in a window with an FPS counter.

    [bold]Examples[/bold]

      posenet webcam --mirror

      posenet webcam --device 1 --no-display --out live.jsonl
    """
    source: str | int = int(device) if device.isdigit() else device
    return stream(source, out, draw, job, model, ui, display=display, stdout=False)


def _is_image(path: Path) -> bool:
    """Whether `path` is a still image (by its name, and it reads as one; a .gif may be an animation)."""
    if kind_of(path) != IMAGE or path.suffix.lower() == ".gif" or not path.is_file():
        return False
    try:
        read_image(path)
    except MediaError:
        return False
    return True


def stream(source: str | int, out: Path | None, draw: Path | None, opts: JobOptions, model: ModelRef, ui: Ui, *,
           frames: FrameSpan = FrameSpan(), display: bool = False,
           resume: bool = False, stdout: bool = True, plot: Path | None = None, sound: bool = True) -> int:
    """The shared body of `video` and `webcam`: JSON lines to `out`, or to stdout when `stdout` and
    nothing else is asked for."""
    if display and (problem := display_problem()):
        fail(f"cannot open a window: {problem}; use --no-display")
    stem = f"camera{source}" if isinstance(source, int) else Path(source.split("?", 1)[0]).stem or "stream"
    fmt = format_for(out, opts.output.format, "jsonl")
    plan = _plan(out, draw, opts, fmt, stem, resume, stdout and plot is None)
    check_analysis(opts, fmt, plot, resume)
    across = AcrossFrames(opts.across)
    with contextlib.ExitStack() as held:
        reader: VideoReader | None = None
        if resume:
            records, last = plan.frames_done()
            if last is not None:
                reader = resume_reader(source, last, frames)
                if reader is None:
                    ui.say(f"{out} is already complete")
                    return ExitStatus.SUCCESS
                held.enter_context(reader)
                across.replay(records)  # tracking and smoothing continue as if never interrupted
        check_plan(plan)
        net = load_net(model, ui)
        if reader is None:  # a run from the start opens its source once the model is in hand
            reader = held.enter_context(open_span(source, frames))
        settings = opts.settings(net.output_stride, model.name, model.int8)
        if plan.results is None and draw is None and plot is None and not display:  # once the source opens
            echo_error("warning: nothing will be written or shown; give --out, --draw or --display")
        writer = results_writer(plan, opts, {**settings, "source": reader.settings()}, reader.fps / frames.every,
                                plot=plot)
        video = _video_writer(draw, reader, ui, sound)
        window = Window() if display else None
        bar = ui.bar(reader.frame_count or None, "frame")
        summary = run_job(plan, writer, lambda: run_video(
            net, reader, writer, opts, video=video, window=window, live=reader.live, across=across,
            stop=signals.requested, on_frame=bar.update if bar else lambda n: None),
            others=(video, window, bar), resumable=plan.resumable and draw is None)
    ui.summary("frame", summary)
    if summary.errors:
        fail(f"{summary.errors} frames could not be processed")
    return ExitStatus.SUCCESS


def _plan(out: Path | None, draw: Path | None, opts: JobOptions, fmt: str, stem: str, resume: bool, stdout: bool
          ) -> OutputPlan:
    """Where a stream's results in `fmt` go: --out a JSON lines (or JSON, CSV) file, an OpenPose folder of a
    file per frame, or `-` (stdout); without --out, stdout when `stdout` and nothing is drawn."""
    to_stdout = out == Path("-") or (out is None and stdout and draw is None)
    results: Results
    if fmt in FOLDER_FORMATS:
        if out is None or out == Path("-"):
            fail(f"--format {fmt} writes a folder of files: give --out FOLDER/")
        results = Folder(out, fmt, stem=stem)
    else:
        results = Stdout(fmt) if to_stdout else File(out, fmt) if out is not None else None
    plan = OutputPlan(results, File(draw) if draw is not None else None, overwrite=opts.output.overwrite,
                      resume=resume)
    if resume:
        if not plan.resumable:
            fail("--resume continues a JSON lines file or an OpenPose folder: give --out FILE.jsonl or "
                 "--format openpose --out FOLDER/")
        if draw is not None:
            fail("--resume cannot continue an annotated video; leave out --draw")
        if isinstance(results, Folder) and opts.across.settings():
            fail("--resume cannot rebuild tracking or smoothing from OpenPose files; use --out FILE.jsonl")
    return plan


def _video_writer(draw: Path | None, reader: VideoReader, ui: Ui, sound: bool) -> VideoWriter | None:
    """The annotated video (each frame's time, the sound unless not `sound`); a note when browsers will not
    play it, or when the source's sound cannot be kept."""
    if draw is None:
        return None
    video = annotated_video(draw, reader, sound=sound)
    if video.fallback_reason and not video.browser_playable:
        ui.say(f"note: {draw} is {video.codec}, which browsers do not play ({video.fallback_reason}; "
               f"'pip install av' gives H.264)")
    if video.audio is not None and not video.sound:
        ui.say(f"note: {draw} has no sound: {video.codec} is written by OpenCV, which writes none")
    return video
