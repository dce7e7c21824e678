"""PoseTracker on synthetic sequences whose true identities are known: the IDs must never switch."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posenet_cli.keypoints import COCO_SIGMAS, pose_similarity
from posenet_cli.pose import Pose
from posenet_cli.stream.tracking import PoseTracker, assign, hungarian

# (17, 2) a standing person in units of their height, centred between the hips; PoseNet part order.
TEMPLATE = np.array([
    (0.0, -0.45), (0.03, -0.47), (-0.03, -0.47), (0.06, -0.46), (-0.06, -0.46),
    (0.12, -0.33), (-0.12, -0.33), (0.16, -0.15), (-0.16, -0.15), (0.17, 0.0), (-0.17, 0.0),
    (0.08, 0.02), (-0.08, 0.02), (0.09, 0.25), (-0.09, 0.25), (0.09, 0.48), (-0.09, 0.48),
])
WRISTS, ANKLES = [9, 10], [15, 16]


def person(cx: float, cy: float, height: float, score: float = 0.9, swing: float = 0.0) -> Pose:
    """A pose of a person `height` px tall at (cx, cy); `swing` in [-1, 1] moves arms and legs as in a stride."""
    kp = np.empty((17, 3))
    kp[:, :2] = TEMPLATE * height + (cx, cy)
    kp[WRISTS, 0] += np.array([1, -1]) * 0.06 * height * swing
    kp[ANKLES, 0] += np.array([-1, 1]) * 0.08 * height * swing
    kp[:, 2] = score
    return Pose(score, kp)


@dataclass
class Walker:
    """A person walking in a straight line: where they are at frame 0, velocity in px/frame, size."""

    x: float
    y: float
    vx: float
    vy: float = 0.0
    height: float = 200.0
    phase: float = 0.0

    def at(self, frame: int) -> Pose:
        return person(self.x + self.vx * frame, self.y + self.vy * frame, self.height,
                      swing=float(np.sin(2 * np.pi * frame / 24 + self.phase)))


def noisy(pose: Pose, rng: np.random.Generator, sigma: float) -> Pose:
    """Detector noise: Gaussian position noise, random scores, now and then an unsure keypoint far off."""
    kp = pose.keypoints.copy()
    kp[:, :2] += rng.normal(0, sigma, (17, 2))
    kp[:, 2] = rng.uniform(0.5, 1.0, 17)
    unsure = rng.random(17) < 0.1
    kp[unsure, 2] = rng.uniform(0.0, 0.2, unsure.sum())
    kp[unsure, :2] += rng.normal(0, 40, (unsure.sum(), 2))
    return Pose(float(kp[:, 2].mean()), kp)


Frame = list[tuple[str, Pose]]  # (true identity, detected pose)


def scene(walkers: dict[str, Walker], frames: int, rng: np.random.Generator, sigma: float = 2.0,
          absent: dict[str, range] | None = None) -> list[Frame]:
    """Detections of `walkers` per frame, in random order; `absent[name]` lists frames where they are missed."""
    absent = absent or {}
    out = []
    for f in range(frames):
        frame = [(name, noisy(w.at(f), rng, sigma)) for name, w in walkers.items() if f not in absent.get(name, ())]
        rng.shuffle(frame)  # type: ignore[arg-type]
        out.append(frame)
    return out


def track_ids(tracker: PoseTracker, frames: list[Frame], fps: float = 30.0) -> list[dict[str, int]]:
    """Run the tracker; per frame, true identity -> assigned id. Checks the output order and poses."""
    result = []
    for f, frame in enumerate(frames):
        poses = [pose for _, pose in frame]
        tracked = tracker.update(poses, time_ms=f * 1000 / fps)
        assert len(tracked) == len(poses)
        for given_pose, out in zip(poses, tracked):
            assert np.array_equal(out.keypoints, given_pose.keypoints) and given_pose.id is None
        ids = [p.id for p in tracked]
        assert len(set(ids)) == len(ids) and all(isinstance(i, int) and i >= 1 for i in ids)
        result.append({name: p.id for (name, _), p in zip(frame, tracked)})
    return result


def id_switches(per_frame: list[dict[str, int]]) -> int:
    """Times a true identity's id changes, plus ids ever given to more than one identity."""
    last: dict[str, int] = {}
    owners: dict[int, set[str]] = {}
    switches = 0
    for frame in per_frame:
        for name, i in frame.items():
            switches += name in last and last[name] != i
            last[name] = i
            owners.setdefault(i, set()).add(name)
    return switches + sum(len(o) - 1 for o in owners.values())


def test_three_people_walking_across_keep_their_ids() -> None:
    rng = np.random.default_rng(1)
    walkers = {
        "near": Walker(50, 420, 9, height=260),
        "mid": Walker(1200, 330, -6, height=180, phase=1.0),
        "far": Walker(300, 260, 3, height=120, phase=2.0),
    }
    per_frame = track_ids(PoseTracker(), scene(walkers, 120, rng))
    assert id_switches(per_frame) == 0
    assert sorted(per_frame[-1].values()) == [1, 2, 3]


@pytest.mark.parametrize("assignment", ["hungarian", "greedy"])
def test_two_people_crossing_in_the_same_lane(assignment: str) -> None:
    # Same size, same lane, same stride, opposite directions at 300 px/s: they overlap mid-way.
    rng = np.random.default_rng(2)
    walkers = {"a": Walker(100, 300, 10), "b": Walker(705, 300, -10)}
    per_frame = track_ids(PoseTracker(assignment=assignment), scene(walkers, 60, rng))
    assert id_switches(per_frame) == 0


def test_crossing_needs_the_prediction() -> None:
    # Matched against last poses, the two swap IDs as they pass: what the velocity is there for.
    walkers = {"a": Walker(100, 300, 10), "b": Walker(705, 300, -10)}
    frames = scene(walkers, 60, np.random.default_rng(2))
    assert id_switches(track_ids(PoseTracker(predict=False), frames)) > 0
    assert id_switches(track_ids(PoseTracker(predict=True), frames)) == 0


def test_dropped_frames_use_the_real_time_step() -> None:
    # Four frames never reach the tracker just before the two cross: with the frames' times the
    # velocity still predicts where they are; counting calls instead of time, it cannot.
    walkers = {"a": Walker(100, 300, 10), "b": Walker(705, 300, -10)}
    frames = scene(walkers, 60, np.random.default_rng(2))
    kept = [f for f in range(60) if not 26 <= f < 30]
    for timed in (True, False):
        tracker, per_frame = PoseTracker(), []
        for f in kept:
            out = tracker.update([pose for _, pose in frames[f]], time_ms=f * 1000 / 30 if timed else None)
            per_frame.append({name: p.id for (name, _), p in zip(frames[f], out)})
        assert (id_switches(per_frame) == 0) is timed


def test_crossing_with_occlusion() -> None:
    # As they cross, the one behind is not detected for 8 frames; the prediction carries its track.
    rng = np.random.default_rng(3)
    walkers = {"front": Walker(100, 320, 8, height=210), "behind": Walker(740, 300, -8, height=190)}
    per_frame = track_ids(PoseTracker(), scene(walkers, 80, rng, absent={"behind": range(36, 44)}))
    assert id_switches(per_frame) == 0
    assert sorted(per_frame[-1].values()) == [1, 2]


def test_missed_detections_keep_the_id() -> None:
    rng = np.random.default_rng(4)
    walkers = {"a": Walker(100, 300, 6), "b": Walker(600, 330, -4, height=230)}
    absent = {"a": range(20, 24), "b": range(30, 32)}
    per_frame = track_ids(PoseTracker(), scene(walkers, 60, rng, absent=absent))
    assert id_switches(per_frame) == 0
    assert sorted(per_frame[-1].values()) == [1, 2]


@pytest.mark.parametrize(("gap", "same"), [(10, True), (11, False), (3, True)])
def test_leaving_and_coming_back(gap: int, same: bool) -> None:
    # "a" stands still, is missed for `gap` frames, and is seen again where it was: the track is kept
    # for max_age = 10 missed frames, after that the person is new.
    rng = np.random.default_rng(5)
    walkers = {"a": Walker(300, 300, 0), "b": Walker(800, 300, 0)}
    frames = scene(walkers, 20 + gap + 10, rng, absent={"a": range(20, 20 + gap)})
    per_frame = track_ids(PoseTracker(max_age=10), frames)
    before, after = per_frame[19]["a"], per_frame[-1]["a"]
    assert (before == after) is same
    if not same:
        assert after == 3  # a new id, never an old one
    assert per_frame[0]["b"] == per_frame[-1]["b"]


def test_leaving_the_frame_and_walking_back_in() -> None:
    # Walks out to the right, is gone for 15 frames (max_age 30), walks back in the other way.
    rng = np.random.default_rng(6)
    frames = []
    for f in range(70):
        if 30 <= f < 45:
            frames.append([])
            continue
        x = 1100 + 5 * f if f < 30 else 1245 - 5 * (f - 45)
        frames.append([("a", noisy(person(x, 300, 200), rng, 2.0))])
    per_frame = track_ids(PoseTracker(), frames)
    assert {f["a"] for f in per_frame if f} == {1}


def test_faint_duplicates_are_not_tracked() -> None:
    # The multi-pose decoder adds faint copies ("ghosts") of people it has found, scoring ~0.05 since
    # their parts overlap the real pose's. Tracked, a ghost gets a track of its own that can take
    # the person over when it matches them better for a frame; untracked, it changes nothing.
    rng = np.random.default_rng(9)
    walkers = {"a": Walker(100, 300, 6), "b": Walker(700, 320, -5, height=220)}
    frames = scene(walkers, 60, rng)
    for f in range(0, 60, 3):
        for name, pose in list(frames[f]):
            ghost = noisy(pose, rng, 3.0)
            frames[f].append((f"ghost of {name}", Pose(0.05, ghost.keypoints)))
    tracker = PoseTracker()
    per_frame = []
    for f, frame in enumerate(frames):
        out = tracker.update([pose for _, pose in frame], f * 33.3)
        assert all((p.id is None) == name.startswith("ghost") for (name, _), p in zip(frame, out))
        per_frame.append({name: p.id for (name, _), p in zip(frame, out) if p.id is not None})
    assert id_switches(per_frame) == 0 and tracker.track_ids == [1, 2]
    # With every pose tracked, the ghosts start tracks of their own.
    assert len({i for f in track_ids(PoseTracker(min_pose_score=0.0), frames) for i in f.values()}) > 2


def test_ids_follow_each_other_and_reset_restarts_them() -> None:
    tracker = PoseTracker(max_age=0)
    far_apart = [person(100 + 400 * i, 300, 200) for i in range(3)]
    assert [p.id for p in tracker.update(far_apart)] == [1, 2, 3]
    assert tracker.update([]) == []
    assert [p.id for p in tracker.update(far_apart[:1])] == [4]  # tracks died after one missed frame
    tracker.reset()
    assert [p.id for p in tracker.update(far_apart[1:])] == [1, 2]
    assert tracker.track_ids == [1, 2]


def test_greedy_is_wrong_where_hungarian_is_right() -> None:
    # Two people side by side (40 px apart) both move 24 px left (a camera pan). A's last pose is
    # closest to B's new one, so greedy pairs them and leaves B's track and A's pose over; the best
    # total pairs each with their own.
    first = [person(0, 0, 200), person(40, 0, 200)]
    second = [person(-24, 0, 200), person(16, 0, 200)]
    ids = {}
    for method in ("hungarian", "greedy"):
        tracker = PoseTracker(assignment=method)  # type: ignore[arg-type]
        a, b = (p.id for p in tracker.update(first, 0.0))
        ids[method] = [p.id for p in tracker.update(second, 33.0)]
        assert (a, b) == (1, 2)
    assert ids["hungarian"] == [1, 2]
    assert ids["greedy"] == [3, 1]


def test_assignment_on_a_matrix() -> None:
    similarity = np.array([[0.9, 0.8], [0.7, 0.1]])
    assert assign(similarity, 0.3, "greedy") == [(0, 0)]
    assert assign(similarity, 0.3, "hungarian") == [(0, 1), (1, 0)]
    assert assign(similarity, 0.75, "hungarian") == [(0, 0)]  # below the threshold never matches
    assert assign(np.zeros((0, 3)), 0.3) == []
    with pytest.raises(ValueError):
        assign(similarity, 0.3, "best")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.data())
def test_hungarian_is_optimal(rows: int, cols: int, data: st.DataObject) -> None:
    values = data.draw(st.lists(st.floats(-10, 10, allow_nan=False), min_size=rows * cols, max_size=rows * cols))
    cost = np.array(values).reshape(rows, cols)
    pairs = hungarian(cost)
    assert len(pairs) == min(rows, cols)
    assert len({r for r, _ in pairs}) == len({c for _, c in pairs}) == len(pairs)
    wide = cost if rows <= cols else cost.T  # every row assigned, to distinct columns
    best = min(sum(wide[r, c] for r, c in enumerate(cs))
               for cs in itertools.permutations(range(wide.shape[1]), wide.shape[0]))
    assert sum(cost[r, c] for r, c in pairs) == pytest.approx(best, abs=1e-9)


def test_similarity_is_oks_with_iou_fallback() -> None:
    a = person(100, 300, 200).keypoints
    assert pose_similarity(a[None], a[None])[0, 0] == pytest.approx(1.0)
    # One keypoint moved by d: OKS = (16 + exp(-d^2 / (2 area (2 sigma)^2))) / 17.
    b = a.copy()
    b[0, 0] += 10
    area = (0.34 * 200) * (0.95 * 200)  # the template spans x -0.17..0.17 and y -0.47..0.48 person heights
    expected = (16 + np.exp(-100 / (2 * area * (2 * COCO_SIGMAS[0]) ** 2))) / 17
    assert pose_similarity(a[None], b[None])[0, 0] == pytest.approx(expected)
    # Unsure keypoints do not count.
    b[0, 2] = 0.1
    assert pose_similarity(a[None], b[None])[0, 0] == pytest.approx(1.0)
    # Fewer than 3 shared confident keypoints: IoU of the keypoint boxes.
    c = a.copy()
    c[2:, 2] = 0.0
    c[:, 0] += 5
    # c's box: nose (105, 210) and leftEye (111, 206), 6 x 4 px, inside a's box
    iou = (6 * 4) / area
    assert pose_similarity(a[None], c[None])[0, 0] == pytest.approx(iou)
    assert pose_similarity(np.zeros((0, 17, 3)), a[None]).shape == (0, 1)


def naive_similarity(track: np.ndarray, pose: np.ndarray, min_part_score: float = 0.3) -> float:
    """The similarity of one track and one pose ((17, 3) each) as the docstring of pose_similarity states it,
    written out keypoint by keypoint in plain Python: OKS over the keypoints confident in both, with the area of
    the track's box of confident keypoints (all keypoints when fewer than 2 are confident); fewer than 3 shared
    keypoints: the IoU of the two boxes."""
    def box(kp: np.ndarray) -> tuple[float, float, float, float]:
        rows = [r for r in kp.tolist() if r[2] >= min_part_score]
        rows = rows if len(rows) >= 2 else kp.tolist()
        xs, ys = [r[0] for r in rows], [r[1] for r in rows]
        return min(xs), min(ys), max(xs), max(ys)

    (tx0, ty0, tx1, ty1), (px0, py0, px1, py1) = box(track), box(pose)
    shared = [k for k in range(17) if track[k, 2] >= min_part_score and pose[k, 2] >= min_part_score]
    if len(shared) < 3:
        inter = max(0.0, min(tx1, px1) - max(tx0, px0)) * max(0.0, min(ty1, py1) - max(ty0, py0))
        union = (tx1 - tx0) * (ty1 - ty0) + (px1 - px0) * (py1 - py0) - inter
        return inter / union if union > 0 else 0.0
    area = max((tx1 - tx0) * (ty1 - ty0), 1.0)
    terms = []
    for k in shared:
        d2 = (float(track[k, 0]) - float(pose[k, 0])) ** 2 + (float(track[k, 1]) - float(pose[k, 1])) ** 2
        terms.append(math.exp(-d2 / (2 * area * (2 * float(COCO_SIGMAS[k])) ** 2)))
    return sum(terms) / len(terms)


def test_similarity_matrix_matches_a_pair_by_pair_computation() -> None:
    """Every cell of the (T, P) matrix is the similarity of its pair computed independently: OKS for poses
    that share keypoints, box IoU for a pose with only two confident keypoints, 0 for a pose far away."""
    rng = np.random.default_rng(7)
    tracks = np.stack([noisy(person(x, 300, 200), rng, 5).keypoints for x in (100, 130, 400)])
    faint = noisy(person(120, 310, 180), rng, 5).keypoints
    faint[2:, 2] = 0.1  # two confident keypoints: IoU with every track
    poses = np.stack([noisy(person(x, 300, 200), rng, 5).keypoints for x in (110, 390, 900)] + [faint])
    matrix = pose_similarity(tracks, poses)
    assert matrix.shape == (3, 4)
    expected = np.array([[naive_similarity(t, p) for p in poses] for t in tracks])
    np.testing.assert_allclose(matrix, expected, rtol=1e-9, atol=1e-12)
    assert expected[0, 0] > 0.5 and expected[2, 1] > 0.5 and expected[0, 1] < 0.01 and 0 < expected[0, 3] < 1


def test_inputs_are_not_changed() -> None:
    pose = person(100, 300, 200)
    pose.raw = pose.keypoints[:, :2].copy()
    out = PoseTracker().update([pose])[0]
    assert pose.id is None and out.id == 1 and out.raw is pose.raw


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        PoseTracker(assignment="best")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        PoseTracker(max_age=-1)


def random_pose(draw: st.DrawFn) -> Pose:
    coords = draw(st.lists(st.floats(-50, 700, allow_nan=False), min_size=34, max_size=34))
    scores = draw(st.lists(st.floats(0, 1), min_size=17, max_size=17))
    kp = np.column_stack([np.array(coords).reshape(17, 2), scores])
    return Pose(float(np.mean(scores)), kp)


@st.composite
def sequences(draw: st.DrawFn) -> list[list[Pose]]:
    frames = draw(st.integers(1, 12))
    return [[random_pose(draw) for _ in range(draw(st.integers(0, 5)))] for _ in range(frames)]


@pytest.mark.slow
@settings(max_examples=80, deadline=None)
@given(sequences(), st.integers(0, 3), st.sampled_from(["hungarian", "greedy"]), st.booleans(), st.booleans())
def test_random_poses_never_break_the_tracker(frames: list[list[Pose]], max_age: int, method: str,
                                              predict: bool, timed: bool) -> None:
    tracker = PoseTracker(max_age=max_age, assignment=method, predict=predict)  # type: ignore[arg-type]
    last_seen: dict[int, int] = {}
    highest = 0
    for f, poses in enumerate(frames):
        out = tracker.update(poses, time_ms=f * 33.3 if timed else None)
        assert len(out) == len(poses)
        for given_pose, p in zip(poses, out):
            assert (p.id is None) is (given_pose.score < tracker.min_pose_score)  # weak poses are not tracked
        ids = [p.id for p in out if p.id is not None]
        assert all(isinstance(i, int) and i >= 1 for i in ids)
        assert len(set(ids)) == len(ids)  # unique within a frame
        for i in ids:
            if i in last_seen:
                assert f - last_seen[i] - 1 <= max_age  # a dead track's id never comes back
            else:
                assert i == highest + 1  # new ids count up from 1
                highest = i
            last_seen[i] = f
        assert len(tracker.track_ids) == len(set(tracker.track_ids))


def test_temporal_benchmark_on_a_small_jsonl(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # benchmarks/bench_temporal.py reads `posenet video --multi --out x.jsonl` files: feed it one
    # written from a synthetic scene (two walkers, one missed for 3 frames, and an error record).
    import json
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))
    from benchmarks import bench_temporal

    rng = np.random.default_rng(8)
    frames = scene({"a": Walker(100, 300, 6), "b": Walker(600, 330, -4, height=230)}, 40, rng,
                   absent={"a": range(10, 13)})
    path = tmp_path / "poses.jsonl"
    with open(path, "w") as f:
        for i, frame in enumerate(frames):
            f.write(json.dumps({"frame": i, "time_ms": i * 1000 / 30, "poses": [p.to_dict() for _, p in frame]}) + "\n")
        f.write(json.dumps({"frame": 40, "error": "could not decode"}) + "\n")
    assert len(bench_temporal.read_jsonl(path)) == 40

    rows = bench_temporal.run({"synthetic.jsonl": path})
    default = next(r for r in rows if r["case"] == "synthetic.jsonl" and r["setting"] == "default")
    assert default["frames"] == 40 and default["tracks"] == 2 and default["born later"] == 0
    assert default["< 10 frames"] == 0
    assert default["jitter drop %"] > 0
    assert default["jitter out px"] < default["jitter raw px"]
    lag = next(r for r in rows if r["case"] == "synthetic: 300 px/s")
    assert 0 < lag["lag frames"] < 2
    still = next(r for r in rows if r["case"] == "synthetic: still 2 px")
    assert still["jitter drop %"] >= 50
