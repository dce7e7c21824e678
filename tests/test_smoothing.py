"""One Euro smoothing: less jitter on still keypoints, little lag on moving ones, driven by real time."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posenet_cli.pose import Pose
from posenet_cli.stream.smoothing import OneEuroFilter, PoseSmoother, jitter, smoothing_factor

FPS = 30.0


def pose_at(xy: np.ndarray, score: float = 0.9, pose_id: int | None = None) -> Pose:
    """A pose whose 17 keypoints are at `xy` (17, 2) with one score."""
    kp = np.column_stack([xy, np.full(17, score)])
    return Pose(score, kp, pose_id)


def smooth_track(positions: np.ndarray, times_s: np.ndarray, **params: float) -> np.ndarray:
    """Positions (T, 17, 2) of one person through a PoseSmoother; returns the smoothed (T, 17, 2)."""
    smoother = PoseSmoother(**params)
    return np.stack([smoother.update([pose_at(xy)], t * 1000)[0].keypoints[:, :2]
                     for xy, t in zip(positions, times_s)])


def lag_frames(times_s: np.ndarray, truth: np.ndarray, smoothed: np.ndarray, fps: float = FPS) -> float:
    """The time shift (in frames at `fps`) that best aligns `smoothed` (T,) with the true path `truth` (T,).

    Searched on a grid of 1/100 frame: smoothed(t) is compared with truth(t - shift), interpolated.
    """
    shifts = np.arange(0, 5, 0.01)
    errors = [np.mean((smoothed - np.interp(times_s - s / fps, times_s, truth)) ** 2) for s in shifts]
    return float(shifts[int(np.argmin(errors))])


def test_smoothing_factor() -> None:
    # tau = 1 / (2 pi fc): one time constant over dt = tau gives alpha = 1/2.
    assert smoothing_factor(1.0, 1 / (2 * np.pi)) == pytest.approx(0.5)
    assert smoothing_factor(np.array([1.0, 100.0]), 1 / 30)[1] > 0.95


@pytest.mark.parametrize("sigma", [1.0, 2.0, 4.0])
def test_jitter_of_a_still_pose_drops_by_half(sigma: float) -> None:
    rng = np.random.default_rng(int(sigma))
    times = np.arange(300) / FPS
    truth = np.random.default_rng(0).uniform(100, 500, (17, 2))
    raw = truth + rng.normal(0, sigma, (300, 17, 2))  # (T, 17, 2)
    smoothed = smooth_track(raw, times)
    before, after = jitter(raw[15:]), jitter(smoothed[15:])
    assert after <= 0.5 * before, (before, after)
    # ... and it is closer to where the keypoints are.
    assert np.abs(smoothed[15:] - truth).mean() < np.abs(raw[15:] - truth).mean()


@pytest.mark.parametrize("speed", [300.0, 600.0])
def test_lag_behind_steady_motion_is_under_two_frames(speed: float) -> None:
    # Every keypoint moves right at `speed` px/s, with 2 px of detector noise, sampled at 30 fps.
    # (Slower motion lags more frames: 2.6 at 100 px/s with the defaults, chosen for steadiness.)
    rng = np.random.default_rng(1)
    times = np.arange(150) / FPS
    start = rng.uniform(100, 300, (17, 2))
    truth = start + np.stack([speed * times, np.zeros_like(times)], axis=1)[:, None, :]  # (T, 17, 2)
    raw = truth + rng.normal(0, 2.0, truth.shape)
    smoothed = smooth_track(raw, times)
    steady = slice(30, None)
    x_true, x_smooth = truth[:, :, 0].mean(axis=1), smoothed[:, :, 0].mean(axis=1)  # (T,)
    lag = lag_frames(times[steady], x_true[steady], x_smooth[steady])
    assert lag < 2.0
    # The same from the steady-state error: mean distance behind / speed, in frames.
    behind = float(np.mean(truth[steady, :, 0] - smoothed[steady, :, 0])) / speed * FPS
    assert abs(behind - lag) < 0.2
    assert 0 < behind < 2.0


def path(times_s: np.ndarray) -> np.ndarray:
    """A smooth 1-D path: drift plus a swing, speeds up to about 440 px/s."""
    return 200 + 120 * np.sin(2 * np.pi * 0.5 * times_s) + 60 * times_s


def filtered(times_s: np.ndarray, values: np.ndarray) -> np.ndarray:
    filt = OneEuroFilter()
    return np.array([filt(np.array([v]), t)[0] for v, t in zip(values, times_s)])


def test_the_same_motion_at_30_and_15_fps_comes_out_the_same() -> None:
    t30 = np.arange(90) / 30
    t15 = t30[::2]  # every other frame
    at30, at15 = filtered(t30, path(t30)), filtered(t15, path(t15))
    diff = np.abs(at30[::2] - at15)[5:]  # at the times both have, after the start
    assert diff.max() < 4.0 and diff.mean() < 1.0
    # A filter counting frames instead of seconds (the 15 fps clip fed as if it were 30 fps) is not.
    as_if_30 = filtered(np.arange(len(t15)) / 30, path(t15))
    assert np.abs(at30[::2] - as_if_30)[5:].mean() > 2 * diff.mean()


@pytest.mark.parametrize("speed", [300.0, 100.0])
def test_lag_in_milliseconds_does_not_depend_on_the_frame_rate(speed: float) -> None:
    lags = []
    for fps in (30, 15, 10):
        times = np.arange(4 * fps) / fps
        out = filtered(times, speed * times)
        lags.append(np.mean(speed * times[2 * fps:] - out[2 * fps:]) / speed)  # seconds behind
    assert max(lags) < 1.2 * min(lags)
    if speed >= 300:
        assert max(lags) < 2 / FPS  # the product's goal: under two frames at 30 fps


def test_dropped_frames_are_a_longer_time_step() -> None:
    # Ten frames missing from a 300 px/s motion: the first output after the gap is no further behind
    # than the filter runs anyway (a filter counting frames would have fallen ten frames behind).
    times = np.arange(60) / FPS
    kept = np.r_[0:30, 40:60]
    out = filtered(times[kept], 300 * times[kept])
    after_gap = list(kept).index(40)
    steady = 300 * times[29] - out[29]
    assert 300 * times[40] - out[after_gap] < steady + 300 / FPS


def test_raw_positions_and_scores_are_kept() -> None:
    rng = np.random.default_rng(2)
    smoother = PoseSmoother()
    for f in range(5):
        kp = np.column_stack([rng.uniform(0, 640, (17, 2)), rng.uniform(0, 1, 17)])
        given_pose = Pose(0.7, kp.copy(), 3)
        out = smoother.update([given_pose], f * 33.3)[0]
        assert out.raw is not None and np.array_equal(out.raw, kp[:, :2])
        assert np.array_equal(out.keypoints[:, 2], kp[:, 2]) and out.score == 0.7 and out.id == 3
        assert np.array_equal(given_pose.keypoints, kp) and given_pose.raw is None  # input unchanged
        if f == 0:
            assert np.array_equal(out.keypoints, kp)  # the first frame passes through
        else:
            assert not np.array_equal(out.keypoints[:, :2], kp[:, :2])
    as_dict = out.to_dict()
    assert as_dict["keypoints"][0]["raw"] == {"x": kp[0, 0], "y": kp[0, 1]}
    # A pose already carrying the decoder's positions keeps them.
    decoder = np.zeros((17, 2))
    again = smoother.update([Pose(0.7, kp, 3, decoder)], 200.0)[0]
    assert again.raw is not None and np.array_equal(again.raw, decoder)


def test_state_is_per_id_whatever_the_order() -> None:
    a, b = np.full((17, 2), 100.0), np.full((17, 2), 500.0)
    smoother = PoseSmoother()
    for f in range(20):
        poses = [pose_at(a, pose_id=1), pose_at(b, pose_id=2)]
        out = smoother.update(poses[::-1] if f % 2 else poses, f * 33.3)
        by_id = {p.id: p.keypoints[:, :2] for p in out}
        assert np.allclose(by_id[1], 100.0) and np.allclose(by_id[2], 500.0)
    assert smoother.track_count == 2


def test_without_ids_poses_are_smoothed_by_index() -> None:
    smoother = PoseSmoother()
    smoother.update([pose_at(np.full((17, 2), 100.0))], 0.0)
    out = smoother.update([pose_at(np.full((17, 2), 110.0)), pose_at(np.full((17, 2), 900.0))], 33.3)
    assert 100 < out[0].keypoints[0, 0] < 110  # continues the one person before
    assert out[1].keypoints[0, 0] == 900.0  # a new state


def test_untracked_poses_beside_tracked_ones_pass_through() -> None:
    # The tracker leaves faint poses without an id: they are not smoothed by index among themselves.
    smoother = PoseSmoother()
    for f, x in enumerate((100.0, 300.0, 500.0)):
        out = smoother.update([pose_at(np.full((17, 2), 50.0), pose_id=1), pose_at(np.full((17, 2), x))], f * 33.3)
        assert out[1].id is None and np.all(out[1].keypoints[:, :2] == x)
        assert out[1].raw is not None and np.all(out[1].raw == x)
    assert smoother.track_count == 1


def test_states_of_people_gone_for_long_are_dropped() -> None:
    smoother = PoseSmoother(max_idle_ms=500)
    smoother.update([pose_at(np.zeros((17, 2)), pose_id=1), pose_at(np.ones((17, 2)), pose_id=2)], 0.0)
    for t in (100.0, 400.0):
        smoother.update([pose_at(np.ones((17, 2)), pose_id=2)], t)
        assert smoother.track_count == 2
    smoother.update([pose_at(np.ones((17, 2)), pose_id=2)], 600.0)
    assert smoother.track_count == 1
    smoother.reset()
    assert smoother.track_count == 0


def test_time_going_backwards_restarts_the_track() -> None:
    smoother = PoseSmoother()
    smoother.update([pose_at(np.zeros((17, 2)))], 5000.0)
    out = smoother.update([pose_at(np.full((17, 2), 300.0))], 0.0)  # a new clip
    assert np.all(out[0].keypoints[:, :2] == 300.0)


def test_low_confidence_keypoints() -> None:
    still = np.full((17, 2), 100.0)
    moved = still + 50
    # Default: every keypoint is smoothed, whatever its score.
    smoother = PoseSmoother()
    smoother.update([pose_at(still)], 0.0)
    out = smoother.update([pose_at(moved, score=0.1)], 33.3)[0]
    assert np.all((out.keypoints[:, :2] > 100) & (out.keypoints[:, :2] < 150))
    # With a threshold: unsure keypoints come out raw, and restart when sure again.
    smoother = PoseSmoother(min_part_score=0.3)
    smoother.update([pose_at(still)], 0.0)
    out = smoother.update([pose_at(moved, score=0.1)], 33.3)[0]
    assert np.all(out.keypoints[:, :2] == 150)
    out = smoother.update([pose_at(moved + 10, score=0.9)], 66.7)[0]
    assert np.all(out.keypoints[:, :2] == 160)  # restarted from the first confident position
    out = smoother.update([pose_at(moved + 10, score=0.9)], 100.0)[0]
    assert np.all(out.keypoints[:, :2] == 160)
    out = smoother.update([pose_at(moved + 20, score=0.9)], 133.3)[0]
    assert np.all((out.keypoints[:, :2] > 160) & (out.keypoints[:, :2] < 170))  # smoothed again


def test_one_euro_filter_edges() -> None:
    filt = OneEuroFilter()
    assert np.array_equal(filt(np.array([1.0, 2.0]), 0.0), [1.0, 2.0])
    first = filt(np.array([3.0, 4.0]), 0.1)
    assert np.array_equal(filt(np.array([9.0, 9.0]), 0.1), first)  # time did not advance
    with pytest.raises(ValueError):
        filt(np.zeros(3), 0.2)
    filt.reset()
    assert np.array_equal(filt(np.zeros(3), 0.2), np.zeros(3))
    for bad in ({"min_cutoff": 0.0}, {"beta": -1.0}, {"d_cutoff": 0.0}):
        with pytest.raises(ValueError):
            OneEuroFilter(**bad)
        with pytest.raises(ValueError):
            PoseSmoother(**bad)


def test_jitter_metric() -> None:
    assert jitter(np.arange(10.0)) == 0.0
    assert jitter(np.array([0.0, 1.0, 0.0, 1.0])) == 2.0
    assert jitter(np.zeros(2)) == 0.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 200), st.lists(st.floats(-1e4, 1e4), min_size=34, max_size=34)),
                min_size=1, max_size=20),
       st.floats(0.1, 5), st.floats(0, 2))
def test_output_stays_within_what_was_seen(steps: list[tuple[float, list[float]]], min_cutoff: float,
                                           beta: float) -> None:
    # An exponential smoother only ever mixes what it was given: each output lies between the
    # smallest and largest input so far, and nothing becomes NaN.
    smoother = PoseSmoother(min_cutoff=min_cutoff, beta=beta)
    t, seen = 0.0, []
    for dt, values in steps:
        t += dt
        xy = np.array(values).reshape(17, 2)
        seen.append(xy)
        out = smoother.update([pose_at(xy)], t)[0].keypoints[:, :2]
        low, high = np.min(seen, axis=0), np.max(seen, axis=0)
        assert np.all(np.isfinite(out))
        assert np.all(out >= low - 1e-6 * (1 + np.abs(low))) and np.all(out <= high + 1e-6 * (1 + np.abs(high)))
