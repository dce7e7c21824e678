"""`posenet video` and `posenet webcam`: poses in every frame of a stream, as JSON lines, an annotated video
and/or a live window."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from ..jobs import JobOptions, run_video
from ..media.video import VideoReader, VideoWriter, frame_index
from ..media.window import Window, display_problem
from ..models import ModelRef
from ..output.resume import read_jsonl_resume
from ..output.writers import VIDEO, format_for, open_writer
from ..temporal import AcrossFrames
from .common import check_output, load_net
from .errors import ExitStatus, fail
from .options import ACROSS_FRAMES, DECODER, INFERENCE, MODEL, OUTPUT, SIZING, UI, resume_option, takes
from .signals import signals
from .ui import Ui


@takes(MODEL, SIZING, INFERENCE, DECODER, ACROSS_FRAMES, OUTPUT, UI)
def video(
    source: Annotated[str, typer.Argument(help="A video file or stream URL.", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Poses file: one JSON line per frame "
                                             "(default: stdout unless --draw).", show_default=False)] = None,
    draw: Annotated[Path | None, typer.Option("--draw", help="Write the annotated video (.mp4 or .avi).",
                                              show_default=False)] = None,
    start: Annotated[float, typer.Option("--start", min=0.0, help="Start at this second.")] = 0.0,
    end: Annotated[float | None, typer.Option("--end", min=0.0, help="Stop at this second.",
                                              show_default=False)] = None,
    every: Annotated[int, typer.Option("--every", min=1, help="Process every Nth frame.")] = 1,
    resume: Annotated[bool, resume_option("keep the complete frames already in --out (JSON lines) and "
                                          "process the rest.")] = False,
    *,
    model: ModelRef,
    job: JobOptions,
    ui: Ui,
) -> int:
    """Poses in every frame of a video: JSON lines {"frame", "time_ms", "poses"} and/or an annotated video.

    [bold]Examples[/bold]

      posenet video in.mp4 --multi --out poses.jsonl

      posenet video in.mp4 --draw annotated.mp4 --start 10 --end 20
    """
    if end is not None and end <= start:
        fail(f"--end ({end}) must be after --start ({start})")
    return stream(source, out, draw, job, model, ui,
                  start=start, end=end, every=every, resume=resume)


@takes(MODEL, SIZING, INFERENCE, DECODER, ACROSS_FRAMES, OUTPUT, UI)
def webcam(
    device: Annotated[str, typer.Option("--device", "-d", help="Camera index, device path or stream URL.")] = "0",
    display: Annotated[bool, typer.Option("--display/--no-display", help="Show a live window (q or Esc "
                                          "quits).")] = True,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Poses file, one JSON line per frame.",
                                             show_default=False)] = None,
    draw: Annotated[Path | None, typer.Option("--draw", help="Record the annotated video.",
                                              show_default=False)] = None,
    *,
    model: ModelRef,
    job: JobOptions,
    ui: Ui,
) -> int:
    """Live poses from a camera, with skeletons and an FPS counter in a window.

    [bold]Examples[/bold]

      posenet webcam --mirror

      posenet webcam --device 1 --no-display --out live.jsonl
    """
    source: str | int = int(device) if device.isdigit() else device
    return stream(source, out, draw, job, model, ui, display=display, stdout=False)


def stream(source: str | int, out: Path | None, draw: Path | None, opts: JobOptions, model: ModelRef, ui: Ui, *,
           start: float = 0.0, end: float | None = None, every: int = 1, display: bool = False,
           resume: bool = False, stdout: bool = True) -> int:
    """The shared body of `video` and `webcam`: JSON lines to `out`, or to stdout when `stdout` and
    nothing else is asked for."""
    if display and (problem := display_problem()):
        fail(f"cannot open a window: {problem}; use --no-display")
    fmt = format_for(out, opts.output.format, "jsonl")
    across = AcrossFrames(opts.across)
    if resume:
        if out is None or fmt != "jsonl":
            fail("--resume continues a JSON lines file: give --out FILE.jsonl")
        if draw is not None:
            fail("--resume cannot continue an annotated video; leave out --draw")
        resumed = _resume_start(source, out, across, start, end, every)
        if resumed is None:
            ui.say(f"{out} is already complete")
            return ExitStatus.SUCCESS
        start = resumed
    else:
        check_output(out, opts.output.overwrite)
    check_output(draw, opts.output.overwrite)
    net = load_net(model, ui)
    settings = opts.settings(net.output_stride, model.name)
    with VideoReader(source, start=start, end=end, every=every) as reader:
        writer = open_writer(fmt, out, kind=VIDEO, settings=settings, append=resume, precision=opts.output.precision) \
            if out is not None or (stdout and draw is None) else None
        video = VideoWriter(draw, reader.fps / every, reader.width, reader.height) if draw else None
        window = Window() if display else None
        bar = ui.bar(reader.frame_count or None, "frame")
        try:
            with signals.deferred():
                summary = run_video(net, reader, writer, opts, video=video, window=window, live=reader.live,
                                    across=across, stop=signals.requested,
                                    on_frame=bar.update if bar else lambda n: None)
        finally:
            for closing in (bar, writer, video, window):
                if closing is not None:
                    closing.close()
    ui.summary("frame", summary)
    if summary.errors:
        fail(f"{summary.errors} frames could not be processed")
    return ExitStatus.SUCCESS


def _resume_start(source: str | int, out: Path, across: AcrossFrames, start: float, end: float | None,
                  every: int) -> float | None:
    """Where a resumed run starts (seconds): after the last complete frame in `out`, whose records
    also rebuild the tracking and smoothing state; None when nothing is left to do."""
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
        stop = min(stop, frame_index(end, fps))
    if first >= stop:
        return None
    return first / fps
