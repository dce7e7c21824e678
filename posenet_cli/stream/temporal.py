"""Across frames: tracking (stable ids) then smoothing (One Euro), applied to a stream one frame at a time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..pose import Pose
from .smoothing import SmoothOptions
from .tracking import TrackOptions


@dataclass(frozen=True)
class AcrossFramesOptions:
    """What a stream remembers between frames: tracking and smoothing, each None when off."""

    track: TrackOptions | None = None
    smooth: SmoothOptions | None = None

    def settings(self) -> dict[str, Any]:
        """As recorded with results: {"track": {...}, "smooth": {...}} for what is on."""
        return {name: asdict(value) for name, value in (("track", self.track), ("smooth", self.smooth))
                if value is not None}


class AcrossFrames:
    """A stream's memory: its tracker, then its smoother, as the options ask; fed one frame at a time."""

    def __init__(self, options: AcrossFramesOptions = AcrossFramesOptions()) -> None:
        self.tracker = options.track.tracker() if options.track is not None else None
        self.smoother = options.smooth.smoother() if options.smooth is not None else None

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
