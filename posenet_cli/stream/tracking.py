"""Stable person IDs across frames: match each frame's poses to the tracks of the frames before.

Each track remembers the last pose matched to it (its "last pose") and a translation velocity. A new
frame's poses are compared with every track by OKS, the COCO object keypoint similarity, and the
pairs are chosen to maximise the total similarity (Hungarian method) or greedily. Poses left over
start new tracks; tracks left over age and are dropped after `max_age` frames without a match.

Why the velocity: two people crossing in the same lane look alike in the frame they overlap, and
the last pose of A is then closer to B's new pose than to A's own. Matching against the position
predicted at constant velocity keeps them apart (tests/test_tracking.py has the case: with
`predict=False` they swap IDs), and carries a person hidden for a few frames behind another (on
walking-street.mp4, a woman passing behind the walking man keeps her ID with it, not without).
A lost track (missed in the last frame) is compared both where it was last seen and where it
would be by now, whichever is more similar: people who stop, turn round or walk back into the
frame where they left it are found as well as people who walked on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from ..keypoints import MIN_SHARED_KEYPOINTS, keypoint_boxes, pose_similarity
from ..pose import Pose

DEFAULT_MAX_AGE = 30  # frames
DEFAULT_MIN_SIMILARITY = 0.3
MIN_TRACKED_POSE_SCORE = 0.25  # fainter poses are left untracked: no id (see PoseTracker)
EXACT_LIMIT = 64  # the Hungarian method is O(n^3); beyond this many tracks or poses, assign greedily

Assignment = Literal["hungarian", "greedy"]


def hungarian(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost assignment of a (R, C) cost matrix: min(R, C) (row, col) pairs, each row and col once.

    The O(n^2 m) shortest augmenting path form of the Hungarian method with row and column potentials
    (Kuhn-Munkres as written by Jonker and Volgenant); exact for any finite costs.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.size == 0:
        return []
    if cost.shape[0] > cost.shape[1]:
        return sorted((r, c) for c, r in hungarian(cost.T))
    n, m = cost.shape
    u = np.zeros(n + 1)  # row potentials (index 0 unused)
    v = np.zeros(m + 1)  # column potentials; column 0 is a virtual start column
    owner = np.zeros(m + 1, dtype=int)  # owner[j]: 1-based row assigned to column j, 0 if none
    way = np.zeros(m + 1, dtype=int)  # way[j]: previous column on the shortest path to j
    for i in range(1, n + 1):
        # Add row i: grow a shortest path tree from it over the reduced costs until a free column.
        owner[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)  # shortest reduced distance to each column so far
        used = np.zeros(m + 1, dtype=bool)  # columns in the tree
        while True:
            used[j0] = True
            i0 = owner[j0]
            free = ~used[1:]  # (m,) columns not yet in the tree
            reduced = cost[i0 - 1] - u[i0] - v[1:]  # (m,) reduced costs from row i0
            better = free & (reduced < minv[1:])
            minv[1:][better] = reduced[better]
            way[1:][better] = j0
            j1 = 1 + int(np.argmin(np.where(free, minv[1:], np.inf)))
            delta = minv[j1]
            # Shift the potentials so that the tree's edges stay tight and j1's edge becomes tight.
            u[owner[used]] += delta
            v[used] -= delta
            minv[~used] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # augment: flip the assignments along the path back to the start
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    return sorted((int(owner[j]) - 1, j - 1) for j in range(1, m + 1) if owner[j])


def assign(similarity: np.ndarray, min_similarity: float, method: Assignment = "hungarian") -> list[tuple[int, int]]:
    """Matched (track, pose) pairs for a (T, P) similarity matrix; pairs below `min_similarity` never match.

    "hungarian" maximises the total similarity of the matched pairs (the pairs below the threshold
    count as 0, which is the same as leaving them unmatched); "greedy" takes the most similar
    remaining pair first. Beyond EXACT_LIMIT tracks or poses, greedy is used.
    """
    if method not in ("hungarian", "greedy"):
        raise ValueError(f"unknown assignment {method!r} (hungarian or greedy)")
    if similarity.size == 0:
        return []
    allowed = similarity >= min_similarity
    if method == "hungarian" and max(similarity.shape) <= EXACT_LIMIT:
        pairs = hungarian(np.where(allowed, -similarity, 0.0))
        return [(t, p) for t, p in pairs if allowed[t, p]]
    pairs = []
    used_t, used_p = set(), set()
    order = np.argsort(-similarity, axis=None, kind="stable")
    for t, p in zip(*np.unravel_index(order, similarity.shape)):
        if not allowed[t, p]:
            break
        if t not in used_t and p not in used_p:
            pairs.append((int(t), int(p)))
            used_t.add(t)
            used_p.add(p)
    return sorted(pairs)


@dataclass
class _Track:
    id: int
    keypoints: np.ndarray  # (17, 3) the last pose matched: x, y, score
    time: float  # when it was matched: time_ms, or the frame number when no times are given
    velocity: np.ndarray | None = None  # (2,) pixels per time unit; None until matched twice
    missed: int = 0  # frames in a row without a match

    def predicted(self, now: float) -> np.ndarray:
        """The last pose (17, 3) moved at constant velocity to `now`."""
        if self.velocity is None:
            return self.keypoints
        out = self.keypoints.copy()
        out[:, :2] += self.velocity * max(now - self.time, 0.0)
        return out

    def observe(self, keypoints: np.ndarray, now: float, min_part_score: float) -> None:
        """Take a matched pose: update the velocity from the translation since the last match."""
        dt = now - self.time
        if dt > 0:
            shared = (keypoints[:, 2] >= min_part_score) & (self.keypoints[:, 2] >= min_part_score)  # (17,)
            if shared.sum() >= MIN_SHARED_KEYPOINTS:
                shift = (keypoints[shared, :2] - self.keypoints[shared, :2]).mean(axis=0)
            else:
                both = keypoint_boxes(np.stack([self.keypoints, keypoints]), min_part_score)  # (2, 4)
                centres = (both[:, :2] + both[:, 2:]) / 2  # (2, 2)
                shift = centres[1] - centres[0]
            measured = shift / dt
            self.velocity = measured if self.velocity is None else 0.5 * (self.velocity + measured)
        self.keypoints = keypoints
        self.time = now
        self.missed = 0


@dataclass(frozen=True)
class TrackOptions:
    """Tracking as the commands expose it: frames a lost person's id waits (`max_age`) and the lowest OKS
    (or box IoU) that continues a track (`min_similarity`)."""

    max_age: int = DEFAULT_MAX_AGE
    min_similarity: float = DEFAULT_MIN_SIMILARITY

    def tracker(self) -> PoseTracker:
        return PoseTracker(max_age=self.max_age, min_similarity=self.min_similarity)


class PoseTracker:
    """Gives each person a stable `id` across frames; fed one frame of poses at a time.

    IDs start at 1 and are never reused (until `reset`). A track not matched for more than
    `max_age` frames in a row is dropped; a person who comes back later gets a new ID.
    `min_similarity` is the lowest OKS (or box IoU) at which a pose may continue a track.
    `min_part_score` decides which keypoints count in the similarity.
    `min_pose_score`: poses scoring below it are not tracked (returned with `id` None) and touch no
    track. The multi-pose decoder returns faint, partial duplicates of people it has already found
    (their parts overlap the real pose's, which the pose score discounts: typically 0.03-0.25);
    tracked, they start tracks of their own and take a person's track over in frames where they
    happen to match it better. The default leaves them out and keeps real people in (how it was chosen:
    docs/benchmarks.md, "Tracking and smoothing").
    `predict` matches against each track's constant-velocity prediction rather than its last pose
    (a lost track: the better of the two).
    """

    def __init__(self, max_age: int = DEFAULT_MAX_AGE, min_similarity: float = DEFAULT_MIN_SIMILARITY,
                 min_part_score: float = 0.3,
                 assignment: Assignment = "hungarian", predict: bool = True,
                 min_pose_score: float = MIN_TRACKED_POSE_SCORE) -> None:
        if assignment not in ("hungarian", "greedy"):
            raise ValueError(f"unknown assignment {assignment!r} (hungarian or greedy)")
        if max_age < 0:
            raise ValueError("max_age must be >= 0")
        self.max_age = max_age
        self.min_similarity = min_similarity
        self.min_part_score = min_part_score
        self.assignment: Assignment = assignment
        self.predict = predict
        self.min_pose_score = min_pose_score
        self.reset()

    def reset(self) -> None:
        """Forget every track and start numbering at 1 again (a new clip)."""
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._frame = 0

    @property
    def track_ids(self) -> list[int]:
        """IDs of the tracks alive now (matched this frame or lost for at most `max_age` frames)."""
        return [t.id for t in self._tracks]

    def update(self, poses: list[Pose], time_ms: float | None = None) -> list[Pose]:
        """Match one frame's poses to the tracks; returns copies of `poses`, in the same order, with `id` set
        (None for poses scoring under `min_pose_score`).

        `time_ms` (the frame's time) lets the velocity follow dropped or irregular frames; without it
        frames are taken as evenly spaced. Pass it for every frame or for none.
        """
        self._frame += 1
        now = float(time_ms) if time_ms is not None else float(self._frame)

        ids: list[int | None] = [None] * len(poses)
        tracked = [i for i, p in enumerate(poses) if p.score >= self.min_pose_score]  # the poses we track
        matched_tracks: set[int] = set()
        if self._tracks and tracked:
            pose_kps = np.stack([poses[i].keypoints for i in tracked])  # (P, 17, 3)
            last = np.stack([t.keypoints for t in self._tracks])  # (T, 17, 3)
            similarity = pose_similarity(last, pose_kps, self.min_part_score)  # (T, P)
            if self.predict:
                ahead = np.stack([t.predicted(now) for t in self._tracks])  # (T, 17, 3)
                lost = np.array([t.missed > 0 for t in self._tracks])  # (T,)
                predicted = pose_similarity(ahead, pose_kps, self.min_part_score)  # (T, P)
                similarity = np.where(lost[:, None], np.maximum(similarity, predicted), predicted)
            for t, p in assign(similarity, self.min_similarity, self.assignment):
                track = self._tracks[t]
                track.observe(poses[tracked[p]].keypoints.copy(), now, self.min_part_score)
                ids[tracked[p]] = track.id
                matched_tracks.add(t)

        survivors = []
        for t, track in enumerate(self._tracks):
            if t not in matched_tracks:
                track.missed += 1
            if track.missed <= self.max_age:
                survivors.append(track)
        self._tracks = survivors

        for p in tracked:
            if ids[p] is None:
                self._tracks.append(_Track(self._next_id, poses[p].keypoints.copy(), now))
                ids[p] = self._next_id
                self._next_id += 1
        return [replace(pose, id=i) for pose, i in zip(poses, ids)]
