"""Motion analysis of a clip's poses: the options, the main person, gap filling and filtering per person,
then angles. What runs frame by frame (the person, angles) and what needs the whole clip (gaps, filter)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..keypoints import NUM_KEYPOINTS
from ..pose import Pose
from .angles import pose_angles
from .filtering import AnalysisError, butterworth, butterworth_sos, fill_gaps, frame_step_ms
from .selection import PersonSelector, check_person

FILTERS = ("butterworth",)
DEFAULT_CUTOFF_HZ = 6.0  # human movement is mostly under 6 Hz: the usual cut-off for gait and exercise
DEFAULT_ORDER = 4


@dataclass(frozen=True)
class AnalysisOptions:
    """Motion analysis: joint and segment `angles` on each pose; one main `person` (largest, centre or a track
    id; needs tracking); an offline `filter` (butterworth, zero-phase, `filter_cutoff` Hz, `filter_order`);
    gaps of up to `fill_gaps` frames interpolated. Which keypoints count as seen is the output's
    min_part_score, given where these run."""

    angles: bool = False
    person: str | int | None = None
    filter: str | None = None
    filter_cutoff: float = DEFAULT_CUTOFF_HZ
    filter_order: int = DEFAULT_ORDER
    fill_gaps: int = 0

    def __post_init__(self) -> None:
        if self.filter is not None and self.filter not in FILTERS:
            raise AnalysisError(f"`filter` takes {', '.join(FILTERS)}, got {self.filter!r}")
        if self.person is not None:
            check_person(self.person)
        if self.fill_gaps < 0 or self.filter_order < 1 or self.filter_cutoff <= 0:
            raise AnalysisError(f"`fill_gaps` must be >= 0, `filter_cutoff` above 0 and `filter_order` 1 or more (got "
                                f"{self.fill_gaps}, {self.filter_cutoff:g} and {self.filter_order})")

    @property
    def offline(self) -> bool:
        """Whether the analysis needs the whole clip (filtering, gap filling) before anything is written."""
        return self.filter is not None or self.fill_gaps > 0

    @property
    def active(self) -> bool:
        return self.angles or self.person is not None or self.offline

    def settings(self) -> dict[str, Any]:
        """As recorded with results: {"analysis": {...}} when anything is asked for."""
        if not self.active:
            return {}
        out: dict[str, Any] = {"angles": self.angles}
        if self.person is not None:
            out["person"] = self.person
        if self.filter is not None:
            out.update(filter=self.filter, filter_cutoff=self.filter_cutoff, filter_order=self.filter_order)
        if self.fill_gaps:
            out["fill_gaps"] = self.fill_gaps
        return {"analysis": out}

    def selector(self, min_part_score: float) -> PersonSelector | None:
        return None if self.person is None else PersonSelector(self.person, min_part_score)


def add_angles(poses: list[Pose], min_part_score: float) -> list[Pose]:
    """Copies of `poses` with their `angles` set."""
    return [replace(p, angles=pose_angles(p, min_part_score)) for p in poses]


def _people(frames: Sequence[list[Pose]]) -> dict[Hashable, list[tuple[int, int]]]:
    """Each person's (frame, pose index) in order: by track id; in a clip without ids, by index in the frame
    (right for one person, single-pose decoding); untracked poses beside tracked ones are nobody's."""
    tracked = any(p.id is not None for poses in frames for p in poses)
    people: dict[Hashable, list[tuple[int, int]]] = {}
    for f, poses in enumerate(frames):
        for i, pose in enumerate(poses):
            if tracked and pose.id is None:
                continue
            people.setdefault(pose.id if tracked else ("index", i), []).append((f, i))
    return people


def analyse_clip(times: Sequence[float], frames: Sequence[list[Pose]], options: AnalysisOptions,
                 min_part_score: float) -> list[list[Pose]]:
    """Each frame's poses after the whole-clip steps: each person's gaps of up to `fill_gaps` frames filled
    (keypoints marked `filled`; a frame the person is missing from gets an `interpolated` pose) and their
    usable keypoints filtered (`raw` keeps the positions given), then angles when asked. `times` (ms) are
    the frames' presentation times; the person is chosen before (PersonSelector)."""
    out = [list(poses) for poses in frames]
    t = np.asarray(times, dtype=np.float64)
    if options.offline and len(t) >= 2:
        step = frame_step_ms(t)
        sos = butterworth_sos(options.filter_cutoff, options.filter_order, step) if options.filter else None
        for members in _people(frames).values():
            _process_person(t, frames, out, members, options.fill_gaps, sos, step, min_part_score)
    return [add_angles(poses, min_part_score) for poses in out] if options.angles else out


def _process_person(t: np.ndarray, frames: Sequence[list[Pose]], out: list[list[Pose]],
                    members: list[tuple[int, int]], max_gap: int, sos: np.ndarray | None, step: float,
                    min_part_score: float) -> None:
    """Fill and filter one person's series in place in `out`."""
    at = np.array([f for f, _ in members])
    first = at[0]
    span = np.arange(first, at[-1] + 1)  # frames from the first appearance to the last
    present = np.zeros(len(span), dtype=bool)
    present[at - first] = True
    given = [frames[f][i] for f, i in members]
    keypoints = np.zeros((len(span), NUM_KEYPOINTS, 3))
    keypoints[present] = np.stack([p.keypoints for p in given])
    ts = t[span]
    # Where the person is missing, any keypoint's place between the poses around the gap (inserted poses).
    for k in range(NUM_KEYPOINTS):
        for c in (0, 1):
            keypoints[~present, k, c] = np.interp(ts[~present], ts[present], keypoints[present, k, c])
    usable = present[:, None] & (keypoints[..., 2] >= min_part_score)  # (L, 17)
    xy, filled = fill_gaps(ts, keypoints[..., :2], usable, max_gap) if max_gap else (keypoints[..., :2], None)
    seen = usable if filled is None else usable | filled
    if sos is not None:
        xy = butterworth(ts, xy, seen, sos, step)
    for n, (f, i) in enumerate(members):
        pose, row = given[n], at[n] - first
        kp = pose.keypoints.copy()
        kp[:, :2] = xy[row]
        moved = sos is not None or (filled is not None and filled[row].any())  # raw: the positions given
        raw = pose.raw if pose.raw is not None or not moved else pose.keypoints[:, :2].copy()
        out[f][i] = replace(pose, keypoints=kp, raw=raw, filled=None if filled is None else filled[row])
    if filled is None:
        return
    scores = np.interp(ts, ts[present], [p.score for p in given])
    for row in np.flatnonzero(~present & filled.any(axis=1)):
        kp = np.concatenate([xy[row], np.zeros((NUM_KEYPOINTS, 1))], axis=1)  # nothing was seen: scores 0
        out[span[row]].append(Pose(float(scores[row]), kp, given[0].id, filled=filled[row], interpolated=True))
