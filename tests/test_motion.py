"""Motion analysis: angles on skeletons of known geometry, gap filling, the zero-phase filter on real times,
one main person, and `posenet analyse` against `posenet video` on a shared exercise clip."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from posenet_cli.keypoints import PART_IDS
from posenet_cli.motion import ANGLE_NAMES, AnalysisOptions, PersonSelector, analyse_clip, pose_angles
from posenet_cli.motion.filtering import fill_gaps
from posenet_cli.pose import Pose
from posenet_cli.stream.smoothing import jitter

from conftest import posenet

RNG = np.random.default_rng(25)


def _step(point: np.ndarray, direction_deg: float, length: float) -> np.ndarray:
    """`point` moved `length` px in a direction counter-clockwise from the horizontal as seen on screen."""
    a = np.radians(direction_deg)
    return point + length * np.array([np.cos(a), -np.sin(a)])  # image y grows downwards


def skeleton(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """Keypoints (17, 3) built limb by limb from chosen joint angles (and the side each joint bends to), and
    the angles they were built with: joint angles as set, segment directions as laid down."""
    kp = np.zeros((17, 3))
    kp[:, 2] = 0.9
    want: dict[str, float] = {}
    trunk = rng.uniform(-180, 180)
    want["trunk"] = trunk
    mid_hip = rng.uniform(200, 400, 2)
    across = _step(np.zeros(2), trunk - 90, rng.uniform(10, 40))
    for side, sign in (("left", 1), ("right", -1)):
        hip = mid_hip + sign * across
        shoulder = _step(hip, trunk, rng.uniform(80, 200))  # both shoulders shifted alike: trunk kept
        angles = {j: float(rng.choice([rng.uniform(1, 179), rng.uniform(179.5, 180), rng.uniform(0, 0.5)]))
                  for j in ("hip", "knee", "shoulder", "elbow")}
        thigh = trunk + rng.choice([-1, 1]) * angles["hip"]  # hip->shoulder is `trunk`; the hip angle from it
        shank = thigh + 180 + rng.choice([-1, 1]) * angles["knee"]  # knee->hip is thigh + 180
        upper_arm = trunk + 180 + rng.choice([-1, 1]) * angles["shoulder"]  # shoulder->hip is trunk + 180
        forearm = upper_arm + 180 + rng.choice([-1, 1]) * angles["elbow"]
        knee = _step(hip, thigh, rng.uniform(60, 150))
        elbow = _step(shoulder, upper_arm, rng.uniform(40, 120))
        for name, point in (("Hip", hip), ("Shoulder", shoulder), ("Knee", knee),
                            ("Ankle", _step(knee, shank, rng.uniform(60, 150))), ("Elbow", elbow),
                            ("Wrist", _step(elbow, forearm, rng.uniform(40, 120)))):
            kp[PART_IDS[side + name], :2] = point
        want.update({f"{side}_{j}": v for j, v in angles.items()})
        want.update({f"{side}_thigh": thigh, f"{side}_shank": shank, f"{side}_upper_arm": upper_arm,
                     f"{side}_forearm": forearm})
    return kp, want


def angle_error(got: float, want: float, joint: bool) -> float:
    if joint:
        return abs(got - want)
    return abs((got - want + 180) % 360 - 180)  # directions: the same angle modulo 360


def test_angles_of_known_skeletons_are_within_a_tenth_of_a_degree() -> None:
    worst = 0.0
    for _ in range(300):
        kp, want = skeleton(RNG)
        got = pose_angles(Pose(0.9, kp), 0.5)
        assert set(got) == set(ANGLE_NAMES) == set(want)
        for name, value in got.items():
            assert value is not None
            joint = not name.endswith(("trunk", "thigh", "shank", "arm"))
            if joint:
                assert 0 <= value <= 180
            else:
                assert -180 < value <= 180
            worst = max(worst, angle_error(value, want[name], joint))
    assert worst < 0.1


def test_segment_sign_convention_on_screen() -> None:
    """Counter-clockwise positive as seen on screen, proximal to distal: a thigh hanging down is -90, a trunk
    standing up 90, a forearm pointing right 0."""
    kp = np.zeros((17, 3))
    kp[:, 2] = 1.0
    for name, xy in (("leftHip", (100, 300)), ("rightHip", (140, 300)), ("leftShoulder", (100, 100)),
                     ("rightShoulder", (140, 100)), ("leftKnee", (100, 400)), ("leftElbow", (100, 150)),
                     ("leftWrist", (180, 150))):
        kp[PART_IDS[name], :2] = xy
    got = pose_angles(Pose(1.0, kp), 0.5)
    assert (got["trunk"], got["left_thigh"], got["left_forearm"], got["left_upper_arm"]) == (90, -90, 0, -90)
    assert got["left_elbow"] == 90 and got["left_hip"] == 180


def test_angles_are_null_where_a_keypoint_is_below_the_threshold() -> None:
    kp, _ = skeleton(RNG)
    kp[PART_IDS["leftKnee"], 2] = 0.49
    got = pose_angles(Pose(0.9, kp), 0.5)
    needs_knee = {"left_knee", "left_hip", "left_thigh", "left_shank"}
    assert {name for name, value in got.items() if value is None} == needs_knee
    kp[PART_IDS["rightShoulder"], 2] = 0.1
    got = pose_angles(Pose(0.9, kp), 0.5)
    assert got["trunk"] is None and got["right_elbow"] is None and got["left_elbow"] is not None


def test_angles_are_written_to_json_and_csv(tmp_path: Path, validator) -> None:
    """Through the writers: JSON null and an empty CSV cell for a missing angle; the record fits the schema."""
    from posenet_cli.motion import add_angles
    from posenet_cli.output.writers import VIDEO, open_writer

    kp, want = skeleton(RNG)
    kp[PART_IDS["rightAnkle"], 2] = 0.2
    poses = add_angles([Pose(0.9, kp, 1)], 0.5)
    for fmt in ("jsonl", "csv"):
        with open_writer(fmt, tmp_path / f"a.{fmt}", kind=VIDEO, settings={}, angles=ANGLE_NAMES) as w:
            w.write(3, poses, width=640, height=480, time_ms=100.0)
    record = json.loads((tmp_path / "a.jsonl").read_text())
    validator.validate(record)
    angles = record["poses"][0]["angles"]
    assert angles["right_knee"] is None and abs(angles["left_knee"] - want["left_knee"]) < 0.01
    (row,) = csv.DictReader((tmp_path / "a.csv").open())
    assert row["angle_right_knee"] == "" and abs(float(row["angle_left_knee"]) - want["left_knee"]) < 0.01


def track(times_ms: np.ndarray, xy: np.ndarray, score: float = 0.9, pose_id: int = 1) -> list[list[Pose]]:
    """Frames holding one person whose 17 keypoints are all at xy[t] (T, 2)."""
    return [[Pose(score, np.column_stack([np.tile(p, (17, 1)), np.full(17, score)]), pose_id)] for p in xy]


def test_gaps_up_to_n_frames_are_interpolated_and_flagged() -> None:
    times = np.arange(30) * 40.0
    xy = np.column_stack([100 + 3.0 * np.arange(30), 200 - 2.0 * np.arange(30)])  # steady motion: exact
    frames = track(times, xy)
    for f in (5, 6, 7):  # the person missed for 3 frames
        frames[f] = []
    for f in range(15, 20):  # the left knee faint for 5 frames: too long a gap for --fill-gaps 3
        frames[f][0].keypoints[PART_IDS["leftKnee"], 2] = 0.1
    out = analyse_clip(times, frames, AnalysisOptions(angles=True, fill_gaps=3), 0.5)
    for f in (5, 6, 7):
        (pose,) = out[f]
        assert pose.interpolated and pose.filled.all() and pose.id == 1
        assert np.allclose(pose.keypoints[:, :2], xy[f])
        assert (pose.keypoints[:, 2] == 0).all()  # nothing was seen there
    assert not out[4][0].interpolated and not out[4][0].filled.any()
    assert not out[16][0].filled.any()  # 5 frames: left as they were
    assert all(len(poses) == 1 for poses in out)
    # Directly: gaps of 1..3 between usable samples filled, one of 4 and one at the end not.
    usable = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], dtype=bool)[:, None]
    values = np.arange(13.0)[:, None, None] * np.ones((1, 1, 2))
    filled_xy, filled = fill_gaps(np.arange(13) * 10.0, np.where(usable[..., None], values, -1.0), usable, 3)
    assert filled[:, 0].tolist() == [False, True, False, True, True, True] + [False] * 7
    assert np.allclose(filled_xy[filled], values[filled])


def test_filled_records_fit_the_schema(validator) -> None:
    from posenet_cli.output.records import frame_record

    times = np.arange(10) * 33.0
    frames = track(times, np.column_stack([np.arange(10.0), np.arange(10.0)]))
    frames[4] = []
    out = analyse_clip(times, frames, AnalysisOptions(angles=True, fill_gaps=2, filter="butterworth"), 0.5)
    record = json.loads(json.dumps(frame_record(4, times[4], out[4])))
    validator.validate(record)
    assert record["poses"][0]["filled"] is True and record["poses"][0]["keypoints"][0]["filled"] is True


def cross_correlation_lag(a: np.ndarray, b: np.ndarray, most: int = 10) -> int:
    """The shift of `b` against `a` (frames) where their cross-correlation (means removed) peaks."""
    a, b = a - a.mean(), b - b.mean()
    lags = list(range(-most, most + 1))
    scores = [np.dot(a[max(0, -k):len(a) - max(0, k)], b[max(0, k):len(b) - max(0, -k)]) for k in lags]
    return lags[int(np.argmax(scores))]


def test_butterworth_on_irregular_times_removes_jitter_without_lag() -> None:
    """A 0.8 Hz movement with 2 px noise at about 30 fps, frames irregularly timed (and some dropped)."""
    n = 240
    times = np.cumsum(RNG.uniform(25, 42, n))  # 24-40 fps, varying
    truth = 150 + 60 * np.sin(2 * np.pi * 0.8 * times / 1000)
    noisy = truth + RNG.normal(0, 2.0, n)
    frames = track(times, np.column_stack([noisy, noisy]))
    out = analyse_clip(times, frames, AnalysisOptions(filter="butterworth", filter_cutoff=4.0), 0.5)
    filtered = np.array([poses[0].keypoints[0, 0] for poses in out])
    assert np.allclose([poses[0].raw[0, 0] for poses in out], noisy)  # the raw positions are kept
    # Unevenly timed samples of a smooth path have second differences of their own: the filter comes down to
    # the path's, from more than twice as much.
    assert jitter(filtered) < 0.5 * jitter(noisy)
    assert abs(jitter(filtered) - jitter(truth)) < 0.1 * jitter(truth)
    assert np.abs(filtered - truth)[20:-20].mean() < 0.6 * np.abs(noisy - truth)[20:-20].mean()
    assert cross_correlation_lag(noisy, filtered) == 0
    assert cross_correlation_lag(truth, filtered) == 0


def test_butterworth_on_even_times_is_sosfiltfilt_itself() -> None:
    from scipy import signal

    times = np.arange(100) * (1000 / 30)
    x = RNG.normal(0, 1, 100).cumsum()
    out = analyse_clip(times, track(times, np.column_stack([x, x])),
                       AnalysisOptions(filter="butterworth", filter_cutoff=5.0), 0.5)
    want = signal.sosfiltfilt(signal.butter(4, 5.0, fs=30, output="sos"), x)
    assert np.allclose([poses[0].keypoints[3, 1] for poses in out], want, atol=1e-9)


def test_person_largest_is_chosen_once_and_kept_by_id() -> None:
    def person(pid: int, size: float, x: float) -> Pose:
        kp = np.zeros((17, 3))
        kp[:, 0] = x + np.linspace(0, size, 17)
        kp[:, 1] = np.linspace(0, 2 * size, 17)
        kp[:, 2] = 0.9
        return Pose(0.8, kp, pid)

    selector = PersonSelector("largest", 0.5)
    assert selector([person(None, 500, 0)]) == []  # nobody tracked yet: nobody chosen
    assert [p.id for p in selector([person(1, 50, 0), person(2, 120, 300)])] == [2]
    assert [p.id for p in selector([person(1, 400, 0), person(2, 60, 300)])] == [2]  # kept, though smaller now
    assert selector([person(1, 400, 0)]) == []
    centre = PersonSelector("centre", 0.5)
    assert [p.id for p in centre([person(1, 50, 0), person(2, 50, 280)], 640, 200)] == [2]


def test_analyse_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    records = tmp_path / "p.jsonl"
    records.write_text("".join(json.dumps({"frame": i, "time_ms": i * 40.0, "poses": []}) + "\n" for i in range(5)))
    code, _, err = posenet("analyse", records, "--filter", "butterworth", "--filter-cutoff", "20",
                           "--out", tmp_path / "o.csv")
    assert code == 1 and err.startswith("posenet: error: --filter-cutoff") and "12.5 Hz" in err
    assert len(err.strip().splitlines()) == 1
    (tmp_path / "img.jsonl").write_text(json.dumps({"image": "a.jpg", "width": 1, "height": 1, "settings": {},
                                                     "poses": []}) + "\n")
    code, _, err = posenet("analyse", tmp_path / "img.jsonl")
    assert code == 1 and "not the frames of a video" in err
    code, _, err = posenet("analyse", records, "--plot", tmp_path / "a.gif")
    assert code == 1 and "--plot writes" in err
    code, _, err = posenet("analyse", records, "--person", "tallest")
    assert code == 1 and "--person takes largest, centre" in err


EXERCISE = "data/videos/exercise-1.mp4"  # squats: one person, and faint duplicates the tracker leaves untracked


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_exercise_clip_person_filter_and_analyse_equal_video(env, shared, tmp_path, validator) -> None:
    """On a real squat clip: one id in every frame with --person largest, the Butterworth series steadier
    than the raw one and not shifted in time, `posenet analyse` giving what `posenet video` gave, a plot."""
    clip = shared / EXERCISE
    options = ["--person", "largest", "--angles", "--filter", "butterworth", "--fill-gaps", "5"]
    plain, direct = tmp_path / "plain.jsonl", tmp_path / "direct.jsonl"
    code, _, err = posenet("video", clip, "--track", "--out", plain, "--quiet")
    assert code == 0, err
    code, _, err = posenet("video", clip, *options, "--out", direct, "--plot", tmp_path / "v.png", "--quiet")
    assert code == 0, err
    for name in ("a.jsonl", "a.csv"):
        code, _, err = posenet("analyse", plain, *options, "--out", tmp_path / name, "--quiet")
        assert code == 0, err
    assert (tmp_path / "a.jsonl").read_text() == direct.read_text()

    records = _lines(direct)
    assert len(records) == len(_lines(plain)) == 72
    for r in records:
        validator.validate(r)
    ids = {p["id"] for r in records for p in r["poses"]}
    assert len(ids) == 1 and all(len(r["poses"]) == 1 for r in records)  # seen in every frame, one id
    assert sum(len(r["poses"]) for r in _lines(plain)) > len(records)  # there were others to leave out

    rows = list(csv.DictReader((tmp_path / "a.csv").open()))
    assert [float(row["angle_left_knee"] or "nan") for row in rows] == pytest.approx(
        [r["poses"][0]["angles"]["left_knee"] or np.nan for r in records], nan_ok=True)

    knee = PART_IDS["leftKnee"]
    hip = PART_IDS["leftHip"]
    for part in (knee, hip):
        for axis in ("x", "y"):
            kept = [r["poses"][0]["keypoints"][part] for r in records]
            filtered = np.array([k["position"][axis] for k in kept])
            raw = np.array([k["raw"][axis] for k in kept])
            assert jitter(filtered) < 0.6 * jitter(raw), (part, axis)
            assert cross_correlation_lag(raw, filtered) == 0
    assert (tmp_path / "v.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_offline_analysis_writes_error_records_in_their_place(tmp_path: Path) -> None:
    """Frames held for the whole clip (gap filling) are written when the writer closes, in stream order: a
    broken frame's error record between the frames around it, a frame with no one filled from its neighbours."""
    from posenet_cli.jobs.analysis import AnalysedWriter
    from posenet_cli.output.writers import VIDEO, open_writer

    times = np.arange(6) * 40.0
    frames = track(times, np.column_stack([100 + 3.0 * np.arange(6), 200 - 2.0 * np.arange(6)]))
    frames[4] = []
    inner = open_writer("jsonl", tmp_path / "a.jsonl", kind=VIDEO, settings={})
    writer = AnalysedWriter(inner, AnalysisOptions(fill_gaps=1), kind=VIDEO, min_part_score=0.5, precision=None)
    for i, (t, poses) in enumerate(zip(times, frames)):
        if i == 2:
            writer.error(i, "the frame could not be decoded")
        else:
            writer.write(i, poses, width=640, height=480, time_ms=float(t))
    assert (tmp_path / "a.jsonl").read_text() == ""  # held until the clip is whole
    writer.close()
    records = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(6))
    assert records[2] == {"frame": 2, "error": "the frame could not be decoded"}
    assert [r["time_ms"] for r in records if "error" not in r] == [0, 40, 120, 160, 200]
    filled = records[4]["poses"][0]
    assert filled["filled"] is True and filled["keypoints"][0]["position"] == {"x": 112.0, "y": 192.0}
