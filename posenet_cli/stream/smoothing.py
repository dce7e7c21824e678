"""Temporal smoothing of keypoints: the One Euro filter (Casiez, Roussel and Vogel, CHI 2012) per track.

The One Euro filter is an exponential smoother whose cutoff frequency rises with the signal's speed:
slow or still keypoints are smoothed hard (no jitter), fast ones lightly (little lag). It is driven
by real timestamps, so the amount of smoothing per second does not change with the frame rate and a
dropped or skipped frame simply means a longer time step.

Units: times in seconds for `OneEuroFilter`, milliseconds for `PoseSmoother.update` (the pipeline's
`time_ms`); cutoffs in Hz; `beta` in 1 / pixel, since the speed it multiplies is in pixels per second.
Because `beta` multiplies a speed in pixels, the same motion filmed at twice the resolution is
smoothed a little less; the defaults were chosen on poses of a few hundred pixels (see DEFAULT_*).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

from ..keypoints import NUM_KEYPOINTS
from ..pose import Pose

# Defaults, chosen by measurement against the two goals the product sets: the jitter of confident keypoints
# on dance.mp4 at least halved, and a lag under 2 frames behind a keypoint moving steadily at 300 px/s.
# The measurements, and the price in following fast limbs, are in docs/benchmarks.md ("Tracking and
# smoothing"); a higher beta trades steadiness for responsiveness.
DEFAULT_MIN_CUTOFF = 1.0  # Hz
DEFAULT_BETA = 0.008  # 1 / px
DEFAULT_D_CUTOFF = 1.0  # Hz


def smoothing_factor(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """The exponential smoothing weight of a first-order low-pass filter at `cutoff` Hz over `dt` seconds.

    alpha = 1 / (1 + tau / dt) with tau = 1 / (2 pi cutoff): the weight of the new sample.
    """
    r = 2.0 * math.pi * cutoff * dt
    return r / (r + 1.0)


class OneEuroFilter:
    """The One Euro filter over an array of independent values (any shape, e.g. (17, 2) keypoint x, y).

    Each element is filtered on its own: its speed is estimated from consecutive values given,
    low-pass filtered at `d_cutoff`, and sets that element's cutoff to `min_cutoff + beta * |speed|`.
    The time step is the difference of the timestamps passed in, so irregular sampling is handled.
    """

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA,
                 d_cutoff: float = DEFAULT_D_CUTOFF) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("min_cutoff and d_cutoff must be > 0 and beta >= 0")
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.reset()

    def reset(self) -> None:
        """Forget the state: the next value is passed through unchanged and starts the filter anew."""
        self.x: np.ndarray | None = None  # last filtered values
        self.raw: np.ndarray | None = None  # last values given, same shape
        self.dx: np.ndarray | None = None  # last filtered speed (units per second), same shape
        self.t: float | None = None  # time of the last value, seconds

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter the values `x` observed at time `t` (seconds); returns a new array of the same shape.

        A time that does not advance (t <= previous t) returns the last output unchanged, so repeated
        timestamps cannot divide by zero. The first call returns `x` as is.
        """
        x = np.asarray(x, dtype=np.float64)
        if self.x is None or self.raw is None or self.t is None or self.dx is None:
            self.x, self.raw, self.dx, self.t = x.copy(), x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        if x.shape != self.x.shape:
            raise ValueError(f"values of shape {x.shape} given to a filter of shape {self.x.shape}")
        dt = float(t) - self.t
        if dt <= 0:
            return self.x.copy()
        # The speed from the last value given, as in the authors' reference code (the paper's
        # pseudocode uses the last filtered value, which overstates the speed of a moving point
        # by its lag and so makes the smoothing depend on the frame rate).
        speed = (x - self.raw) / dt
        self.dx = self.dx + smoothing_factor(self.d_cutoff, dt) * (speed - self.dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self.dx)
        self.x = self.x + smoothing_factor(cutoff, dt) * (x - self.x)
        self.raw = x.copy()
        self.t = float(t)
        return self.x.copy()


class _Track:
    """Smoothing state of one person: a filter over its (17, 2) positions and when it was last updated."""

    __slots__ = ("filter", "last_ms", "stale")

    def __init__(self, filt: OneEuroFilter) -> None:
        self.filter = filt
        self.last_ms = -math.inf
        self.stale = np.zeros(NUM_KEYPOINTS, dtype=bool)  # (17,) keypoints last seen below min_part_score


@dataclass(frozen=True)
class SmoothOptions:
    """The One Euro filter's parameters as the commands expose them."""

    min_cutoff: float = DEFAULT_MIN_CUTOFF
    beta: float = DEFAULT_BETA
    d_cutoff: float = DEFAULT_D_CUTOFF

    def smoother(self) -> PoseSmoother:
        return PoseSmoother(self.min_cutoff, self.beta, self.d_cutoff)


class PoseSmoother:
    """One Euro smoothing of pose keypoints, one filter state per person, fed one frame at a time.

    Who is who: poses with an `id` (set by `posenet_cli.tracking.PoseTracker`) are smoothed per id.
    In a frame where no pose has an id (no tracker), poses are smoothed by their index in the list;
    with one person in view (single-pose decoding) that is exactly right, with several it is only
    right if the order is stable, which the multi-pose decoder does not promise: run a tracker
    first. In a frame where some poses have ids, those without are ones the tracker left out (too
    faint) and are returned unsmoothed.

    Returned poses have smoothed x, y, unchanged scores and `raw` set to the positions given (or kept,
    if the given pose already carries `raw`, which then is the decoder's).

    Low-confidence keypoints (score < `min_part_score`): with the default 0 every keypoint is
    filtered whatever its score. The decoder still places unsure keypoints plausibly, and a keypoint
    whose score hovers around a threshold would otherwise lose its smoothing in every other frame;
    the filter's speed term follows a real jump within a frame or two. With `min_part_score` > 0,
    keypoints below it are returned unsmoothed and their state is dropped, so that smoothed
    positions are only ever built from confident ones (the next confident sample restarts them).

    States of ids not seen for `max_idle_ms` are dropped; a timestamp going backwards (a new clip,
    a seek) restarts the state of the track it arrives on.
    """

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA,
                 d_cutoff: float = DEFAULT_D_CUTOFF, min_part_score: float = 0.0,
                 max_idle_ms: float = 1000.0) -> None:
        OneEuroFilter(min_cutoff, beta, d_cutoff)  # validates the parameters
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.min_part_score = min_part_score
        self.max_idle_ms = max_idle_ms
        self._tracks: dict[Hashable, _Track] = {}

    def reset(self) -> None:
        """Forget every track."""
        self._tracks.clear()

    @property
    def track_count(self) -> int:
        """How many per-person states are held."""
        return len(self._tracks)

    def update(self, poses: list[Pose], time_ms: float) -> list[Pose]:
        """Smooth one frame's poses, observed at `time_ms`; returns new poses (the inputs are unchanged)."""
        out: list[Pose] = []
        seen: set[Hashable] = set()
        anonymous = 0
        tracked = any(pose.id is not None for pose in poses)
        t = time_ms / 1000.0
        for pose in poses:
            if pose.id is not None:
                key: Hashable = ("id", pose.id)
            elif tracked:
                raw = pose.raw.copy() if pose.raw is not None else pose.keypoints[:, :2].copy()
                out.append(Pose(pose.score, pose.keypoints.copy(), None, raw))
                continue
            else:
                key, anonymous = ("index", anonymous), anonymous + 1
            seen.add(key)
            track = self._tracks.get(key)
            if track is None:
                track = self._tracks[key] = _Track(OneEuroFilter(self.min_cutoff, self.beta, self.d_cutoff))
            elif time_ms < track.last_ms:
                track.filter.reset()
            track.last_ms = time_ms

            xy = pose.keypoints[:, :2]  # (17, 2) positions as given
            smoothed = track.filter(xy, t)  # (17, 2)
            if self.min_part_score > 0:
                # Keypoints below the threshold come out unsmoothed and are marked stale; a stale
                # keypoint restarts from its next confident position (output = that position, speed 0).
                low = pose.keypoints[:, 2] < self.min_part_score  # (17,)
                restart = low | track.stale  # (17,)
                if restart.any():
                    fx, fdx = track.filter.x, track.filter.dx
                    assert fx is not None and fdx is not None
                    smoothed[restart] = fx[restart] = xy[restart]
                    fdx[restart] = 0.0
                track.stale = low
            keypoints = pose.keypoints.copy()
            keypoints[:, :2] = smoothed
            raw = pose.raw.copy() if pose.raw is not None else xy.copy()
            out.append(Pose(pose.score, keypoints, pose.id, raw))

        for key in [k for k, tr in self._tracks.items() if k not in seen and time_ms - tr.last_ms > self.max_idle_ms]:
            del self._tracks[key]
        return out


def jitter(positions: np.ndarray) -> float:
    """Mean absolute second difference along axis 0 (time): how much a trajectory shakes.

    `positions` is (frames, ...) e.g. (T,) or (T, 2); a smooth motion at constant speed scores 0.
    """
    positions = np.asarray(positions, dtype=np.float64)
    if len(positions) < 3:
        return 0.0
    return float(np.mean(np.abs(np.diff(positions, n=2, axis=0))))
