"""A video stream (file, URL or camera) through the batched pipeline and across-frames memory, into a
writer, an annotated video and/or a live window, frame by frame."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from ..estimator import PoseNet
from ..media.inputs import MediaError
from ..media.video import NoFramesError, VideoReader, VideoWriter
from ..media.window import Window
from ..output.draw import annotate, draw_fps
from ..output.writers import Writer
from ..stream.frames import BrokenFrame, Frame, FrameSpan
from ..stream.pipeline import Pipeline
from ..stream.temporal import AcrossFrames
from .options import JobOptions, Summary


def run_video(
    net: PoseNet,
    frames: Iterable[Frame | BrokenFrame],
    writer: Writer | None,
    opts: JobOptions,
    *,
    video: VideoWriter | None = None,
    window: Window | None = None,
    batch_size: int | None = None,
    live: bool = False,
    across: AcrossFrames | None = None,
    on_frame: Callable[[int], None] = lambda n: None,
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.perf_counter,
) -> Summary:
    """Estimate poses on a stream; JSON records, drawn frames and the window are fed as each frame is done.
    A broken frame gets an error record in its place and counts in `Summary.errors`.

    `batch_size`: frames per model call (None: the runner's `preferred_batch`). `live` (a camera) runs
    batch 1 on the runner itself (the least latency) and drops stale frames. `across` carries tracking and
    smoothing state in (a resumed run); by default it starts afresh. `stop()` is asked between frames: once true the run
    ends, and every frame it wrote is whole in every output (its JSON line and its video frame).
    """
    pipeline = Pipeline(net, opts.sizing, opts.decoder, opts.inference, batch_size=1 if live else batch_size,
                        drop_stale=live, parallel=not live)
    across = across or AcrossFrames(opts.across)
    selector = opts.analysis.selector(opts.output.min_part_score)  # one main person, in every output
    summary = Summary()
    start = last = clock()
    fps = 0.0
    for result in pipeline.run(frames, stop):
        if isinstance(result, BrokenFrame):
            summary.errors += 1
            if writer is not None:
                writer.error(result.index, result.error)
            continue
        frame, poses = result
        if opts.output.precision is not None:  # across frames works on what is written, so resuming replays it
            poses = [p.rounded(opts.output.precision) for p in poses]
        poses = across(poses, frame.time_ms)
        height, width = frame.image.shape[:2]
        if selector is not None:
            poses = selector(poses, width, height)
        if writer is not None:
            writer.write(frame.index, poses, width=width, height=height, time_ms=frame.time_ms)
        summary.items += 1
        summary.poses += len(poses)
        if video is not None or window is not None:
            drawn = annotate(frame.image, poses, mirror=opts.decoder.mirror, output=opts.output)
            if video is not None:
                video.write(drawn, frame.time_ms)
            if window is not None:
                now = clock()
                fps = 1.0 / max(now - last, 1e-6) if not fps else 0.9 * fps + 0.1 / max(now - last, 1e-6)
                last = now
                if not window.show(draw_fps(drawn, fps)):
                    summary.stopped = True
                    break
        on_frame(1)
    summary.stopped = summary.stopped or stop()
    summary.seconds = clock() - start
    return summary


def open_span(source: str | int, frames: FrameSpan) -> VideoReader:
    """A reader of `frames` of `source` (MediaError when it cannot be read)."""
    return VideoReader(source, start=frames.start, end=frames.end, every=frames.every, first=frames.first)


def resume_reader(source: str | int, last: int, frames: FrameSpan) -> VideoReader | None:
    """A reader of what is left of `frames` of a video file when a run already wrote every frame up to `last`:
    the span from the next frame on the same `every` grid, or None when nothing is left. It is the reader the
    run goes on with, so the source is opened once. A live source cannot be resumed (MediaError)."""
    try:
        reader = open_span(source, replace(frames, first=last + frames.every))
    except NoFramesError:
        return None
    if reader.live:
        reader.close()
        raise MediaError("a live source cannot be resumed: only a video file can be continued")
    return reader
