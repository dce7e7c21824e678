"""The work behind the commands: images and video streams through a PoseNet, into sinks and drawings.

No Typer here: the CLI turns options into these calls, and a script can make the same calls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .draw import draw_fps, draw_poses
from .estimator import MultiPoseParams, PoseNet, Sizing
from .media import MediaError, VideoWriter, read_image, write_image
from .pipeline import FrameLike, Pipeline
from .pose import Pose
from .sizing import DEFAULT_LONG_EDGE, SizingError
from .smoothing import PoseSmoother
from .tracking import PoseTracker


class PoseSink(Protocol):
    def write(self, item: str | int, poses: list[Pose], *, width: int, height: int, time_ms: float = 0.0) -> None: ...
    def error(self, item: str | int, message: str) -> None: ...


@dataclass(frozen=True)
class JobOptions:
    """What to estimate and what to keep: sizing, decoder, mirroring, score filters, and for streams
    tracking and smoothing (keyword arguments of PoseTracker / PoseSmoother; None: off)."""

    sizing: Sizing = Sizing()
    multi: MultiPoseParams | None = None
    mirror: bool = False
    min_pose_score: float = 0.0  # poses below are dropped from the results
    min_part_score: float = 0.5  # parts below are not drawn
    track: Mapping[str, Any] | None = None
    smooth: Mapping[str, Any] | None = None

    def settings(self, output_stride: int, model: str) -> dict[str, Any]:
        """The settings recorded with every output, so a result says how it was made."""
        s: dict[str, Any] = {"model": model, "output_stride": output_stride,
                             "decoder": "multi" if self.multi else "single"}
        sizing = {k: getattr(self.sizing, k) for k in ("scale_factor", "resolution", "long_edge")}
        sizing = {k: f"{v[0]}x{v[1]}" if isinstance(v, tuple) else v for k, v in sizing.items() if v is not None}
        s.update(sizing or {"long_edge": DEFAULT_LONG_EDGE})
        if self.multi:
            s.update(max_detections=self.multi.max_detections, score_threshold=self.multi.score_threshold,
                     nms_radius=self.multi.nms_radius, refine_steps=self.multi.refine_steps)
        s.update(mirror=self.mirror, min_pose_score=self.min_pose_score)
        if self.track is not None:
            s["track"] = dict(self.track)
        if self.smooth is not None:
            s["smooth"] = dict(self.smooth)
        return s


@dataclass
class Summary:
    """What a run did: items (images or frames) done, poses found, items that failed, elapsed time,
    and whether it was stopped early (a signal, or the user closing the window)."""

    items: int = 0
    poses: int = 0
    errors: int = 0
    seconds: float = 0.0
    stopped: bool = False
    messages: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


def estimate(net: PoseNet, image: np.ndarray, opts: JobOptions) -> list[Pose]:
    """Poses for one RGB image under the job's options."""
    poses = net.estimate(image, opts.sizing, opts.multi, flip_horizontal=opts.mirror)
    return [p for p in poses if p.score >= opts.min_pose_score]


class AcrossFrames:
    """A stream's memory: tracking (ids) then smoothing, as the job's options ask; one frame at a time."""

    def __init__(self, opts: JobOptions) -> None:
        self.tracker = PoseTracker(**opts.track) if opts.track is not None else None
        self.smoother = PoseSmoother(**opts.smooth) if opts.smooth is not None else None

    def __call__(self, poses: list[Pose], time_ms: float) -> list[Pose]:
        if self.tracker is not None:
            poses = self.tracker.update(poses, time_ms)
        if self.smoother is not None:
            poses = self.smoother.update(poses, time_ms)
        return poses

    def replay(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Rebuild the state from the frame records of an earlier run (to resume it): each frame's
        poses as the decoder gave them (`raw` positions where smoothed), ids dropped."""
        if self.tracker is None and self.smoother is None:
            return
        for record in records:
            if "poses" not in record:
                continue
            poses = []
            for pose in map(Pose.from_dict, record["poses"]):
                keypoints = pose.keypoints.copy()
                if pose.raw is not None:
                    keypoints[:, :2] = pose.raw
                poses.append(Pose(pose.score, keypoints))
            self(poses, float(record["time_ms"]))


def annotate(image: np.ndarray, poses: list[Pose], opts: JobOptions) -> np.ndarray:
    """The drawn result: the (mirrored, if asked) image with its skeletons."""
    canvas = np.ascontiguousarray(image[:, ::-1]) if opts.mirror else image
    return draw_poses(canvas, poses, min_part_score=opts.min_part_score)


def run_images(
    net: PoseNet,
    paths: list[Path],
    sink: PoseSink,
    opts: JobOptions,
    *,
    draw_to: Callable[[Path], Path] | None = None,
    fail_fast: bool = False,
    on_error: Callable[[str], None] = lambda msg: None,
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda it: it,
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.perf_counter,
) -> Summary:
    """Estimate poses on each image; a bad image is reported and skipped unless `fail_fast`.

    `stop()` is asked between images: once true the run ends with every finished image written."""
    summary = Summary()
    start = clock()
    for path in progress(paths):
        if stop():
            summary.stopped = True
            break
        try:
            image = read_image(path)
            poses = estimate(net, image, opts)
        except (MediaError, SizingError) as e:
            summary.errors += 1
            message = str(e)
            sink.error(str(path), message)
            on_error(message)
            if fail_fast:
                break
            continue
        sink.write(str(path), poses, width=image.shape[1], height=image.shape[0])
        if draw_to is not None:
            write_image(draw_to(path), annotate(image, poses, opts))
        summary.items += 1
        summary.poses += len(poses)
    summary.seconds = clock() - start
    return summary


class Window:
    """A live OpenCV window: shows RGB frames, reports whether the user asked to quit (q or Esc)."""

    def __init__(self, title: str = "posenet") -> None:
        import cv2

        self.cv2 = cv2
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise MediaError("cannot open a window (no display?); use --no-display") from None

    def show(self, rgb: np.ndarray) -> bool:
        """Show a frame; False once the user pressed q or Esc or closed the window."""
        self.cv2.imshow(self.title, rgb[:, :, ::-1])
        key = self.cv2.waitKey(1) & 0xFF
        return key not in (ord("q"), 27)

    def close(self) -> None:
        self.cv2.destroyWindow(self.title)


def run_video(
    net: PoseNet,
    frames: Iterable[FrameLike],
    sink: PoseSink | None,
    opts: JobOptions,
    *,
    writer: VideoWriter | None = None,
    window: Window | None = None,
    batch_size: int = 4,
    live: bool = False,
    across: AcrossFrames | None = None,
    on_frame: Callable[[int], None] = lambda n: None,
    stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.perf_counter,
) -> Summary:
    """Estimate poses on a stream; JSON lines and drawn frames go out as each frame is done.

    Frames go through the batched `Pipeline`; `live` (a camera) uses batch 1 and drops stale frames.
    `across` carries tracking and smoothing state in (a resumed run); by default it starts afresh.
    `stop()` is asked between frames: once true the run ends, and every frame it wrote is whole in
    every output (its JSON line and its video frame).
    """
    pipeline = Pipeline(net, opts.sizing, opts.multi, flip_horizontal=opts.mirror,
                        batch_size=1 if live else batch_size, drop_stale=live)
    across = across or AcrossFrames(opts)
    summary = Summary()
    start = last = clock()
    fps = 0.0
    broken: list[int] = getattr(frames, "broken", [])  # indexes of frames that failed to decode, in order
    reported = 0

    def report_broken(before: float) -> None:
        nonlocal reported
        while reported < len(broken) and broken[reported] < before:
            if sink is not None:
                sink.error(broken[reported], "the frame could not be decoded")
            reported += 1

    for frame, poses in pipeline.run(frames, stop):
        poses = across([p for p in poses if p.score >= opts.min_pose_score], frame.time_ms)
        height, width = frame.image.shape[:2]
        report_broken(frame.index)  # the reader lists a broken frame before it yields the next good one
        if sink is not None:
            sink.write(frame.index, poses, width=width, height=height, time_ms=frame.time_ms)
        summary.items += 1
        summary.poses += len(poses)
        if writer is not None or window is not None:
            drawn = annotate(frame.image, poses, opts)
            if writer is not None:
                writer.write(drawn)
            if window is not None:
                now = clock()
                fps = 1.0 / max(now - last, 1e-6) if not fps else 0.9 * fps + 0.1 / max(now - last, 1e-6)
                last = now
                if not window.show(draw_fps(drawn, fps)):
                    summary.stopped = True
                    break
        on_frame(1)
    summary.stopped = summary.stopped or stop()
    if not summary.stopped:
        report_broken(math.inf)
    summary.errors += getattr(frames, "errors", 0)
    summary.seconds = clock() - start
    return summary
