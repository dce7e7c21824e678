"""`posenet video` and `posenet webcam`: poses in every frame of a stream, as JSON lines, an annotated video
and/or a live window."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..files import close_all
from ..jobs import JobOptions, resume_span, run_video
from ..media.video import VideoReader, VideoWriter
from ..media.window import Window, display_problem
from ..models import ModelRef
from ..output.openpose import last_openpose_frame
from ..output.resume import read_jsonl_resume
from ..output.writers import FOLDER_FORMATS, format_for
from ..stream.frames import FrameSpan
from ..stream.temporal import AcrossFrames
from .common import check_output, load_net, make_folder
from .errors import ExitStatus, fail
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

      posenet video squats.mp4 --person largest --angles --filter butterworth --out angles.csv --plot angles.png
    """
    return stream(source, out, draw, job, model, ui, frames=frames, resume=resume, plot=plot)


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


def stream(source: str | int, out: Path | None, draw: Path | None, opts: JobOptions, model: ModelRef, ui: Ui, *,
           frames: FrameSpan = FrameSpan(), display: bool = False,
           resume: bool = False, stdout: bool = True, plot: Path | None = None) -> int:
    """The shared body of `video` and `webcam`: JSON lines to `out`, or to stdout when `stdout` and
    nothing else is asked for."""
    if display and (problem := display_problem()):
        fail(f"cannot open a window: {problem}; use --no-display")
    fmt = format_for(out, opts.output.format, "jsonl")
    to_dir = fmt in FOLDER_FORMATS
    stem = f"camera{source}" if isinstance(source, int) else Path(source.split("?", 1)[0]).stem or "stream"
    if to_dir and out is None:
        fail(f"--format {fmt} writes a folder of files: give --out FOLDER/")
    across = AcrossFrames(opts.across)
    check_analysis(opts, fmt, plot, resume)
    if resume:
        if out is None or fmt not in ("jsonl", *FOLDER_FORMATS):
            fail("--resume continues a JSON lines file or an OpenPose folder: give --out FILE.jsonl or "
                 "--format openpose --out FOLDER/")
        if draw is not None:
            fail("--resume cannot continue an annotated video; leave out --draw")
        if to_dir and opts.across.settings():
            fail("--resume cannot rebuild tracking or smoothing from OpenPose files; use --out FILE.jsonl")
        if to_dir:
            records, last = [], last_openpose_frame(out, stem)  # type: ignore[arg-type]
        else:
            records, last = read_jsonl_resume(out)  # type: ignore[arg-type]  # a cut-off last line is removed
        left = resume_span(source, last, frames)
        if left is None:
            ui.say(f"{out} is already complete")
            return ExitStatus.SUCCESS
        if last is not None:
            across.replay(records)  # tracking and smoothing continue as if never interrupted
        frames = left
    elif to_dir:
        _check_frames_folder(out, stem, opts.output.overwrite)  # type: ignore[arg-type]
    else:
        check_output(out, opts.output.overwrite)
    if to_dir:
        make_folder(out, "output folder")  # type: ignore[arg-type]
    check_output(draw, opts.output.overwrite)
    net = load_net(model, ui)
    settings = opts.settings(net.output_stride, model.name, model.int8)
    with VideoReader(source, start=frames.start, end=frames.end, every=frames.every) as reader:
        writer = results_writer(fmt, out if out is not None or (stdout and draw is None and plot is None) else False,
                                opts, settings, reader.fps / frames.every, plot=plot, append=resume, stem=stem)
        video = VideoWriter(draw, reader.fps / frames.every, reader.width, reader.height) if draw else None
        if video is not None and video.fallback_reason and not video.browser_playable:
            ui.say(f"note: {draw} is {video.codec}, which browsers do not play ({video.fallback_reason}; "
                   f"'pip install av' gives H.264)")
        window = Window() if display else None
        bar = ui.bar(reader.frame_count or None, "frame")
        outputs = (bar, writer, video, window)
        try:
            with signals.deferred():
                summary = run_video(net, reader, writer, opts, video=video, window=window, live=reader.live,
                                    across=across, stop=signals.requested,
                                    on_frame=bar.update if bar else lambda n: None)
        except BaseException as e:
            close_all(outputs, e)  # each output finished (or removed) with the frames so far, and said so
            raise
        close_all(outputs)
    ui.summary("frame", summary)
    if summary.errors:
        fail(f"{summary.errors} frames could not be processed")
    return ExitStatus.SUCCESS


def _check_frames_folder(folder: Path, stem: str, overwrite: bool) -> None:
    """An OpenPose folder for a video: not a file, and without that video's frames unless `overwrite`."""
    if folder.exists() and not folder.is_dir():
        fail(f"{folder} is a file; --format openpose writes a folder")
    if not overwrite and folder.is_dir() and last_openpose_frame(folder, stem) is not None:
        fail(f"{folder} holds OpenPose files of {stem}; pass --overwrite to replace them (or --resume to continue)")
