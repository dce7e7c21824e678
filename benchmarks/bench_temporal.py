"""Tracking and smoothing: ID stability and keypoint jitter on real poses, lag on a synthetic motion.

Real poses come from JSONL files written by `posenet video CLIP --multi --out poses.jsonl`
(records {"frame", "time_ms", "poses": [pose dicts]}). Without files given, they are made from the
shared clips with that command (cached under .bench-cache/temporal/).

There is no ground truth for the real clips, so ID stability is shown by proxies: how many tracks
are born after the first frame and how many live less than SHORT_TRACK frames (a switch or a
flicker makes both grow). Jitter is the mean absolute second difference of keypoints confident
(score >= 0.5) in three frames in a row of one track, before and after smoothing.

The synthetic rows measure the smoother's defaults against the goals (>= 50 % less jitter on a
still keypoint; < 2 frames of lag at 300 px/s and 30 fps); `--grid` prints the parameter grid the
defaults were chosen from.

    python -m benchmarks.bench_temporal [--grid] [poses.jsonl ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CACHE, REPO
from posenet_cli.pose import Pose
from posenet_cli.stream.smoothing import DEFAULT_BETA, DEFAULT_MIN_CUTOFF, OneEuroFilter, PoseSmoother, jitter
from posenet_cli.stream.tracking import PoseTracker

CLIPS = ("data/videos/walking-street.mp4", "data/videos/dance.mp4")
SHORT_TRACK = 10  # frames: a track shorter than this is counted as a likely switch or flicker
JITTER_SCORE = 0.5  # keypoints at least this confident count in the jitter
FPS = 30.0

Frames = list[tuple[float, list[Pose]]]  # per frame: (time_ms, poses)


def read_jsonl(path: Path) -> Frames:
    """The frames of a `posenet video --out x.jsonl` file, in order; error records are skipped."""
    frames = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            if "poses" not in record:
                continue
            frames.append((float(record["time_ms"]), [Pose.from_dict(p) for p in record["poses"]]))
    return frames


def generate_jsonl(clip: Path, out: Path, timeout_s: float = 900) -> str | None:
    """Write `clip`'s poses to `out` with the CLI (multi-pose, default settings); returns an error or None."""
    if out.exists() and out.stat().st_mtime >= clip.stat().st_mtime:
        return None
    from benchmarks.common import model_env

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    cmd = [sys.executable, "-m", "posenet_cli", "video", str(clip), "--multi", "--out", str(partial), "--quiet"]
    try:
        done = subprocess.run(cmd, env=model_env(), capture_output=True, text=True, timeout=timeout_s, cwd=REPO)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout_s:.0f} s"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"posenet video failed ({done.returncode}): {lines[-1] if lines else ''}"
    partial.replace(out)
    return None


def track(frames: Frames, tracker: PoseTracker) -> tuple[list[list[Pose]], float]:
    """Run `tracker` over the frames; returns the tracked poses per frame and milliseconds per frame."""
    tracker.reset()
    start = time.perf_counter()
    tracked = [tracker.update(poses, t) for t, poses in frames]
    return tracked, 1000 * (time.perf_counter() - start) / max(len(frames), 1)


def id_stats(tracked: list[list[Pose]]) -> dict[str, Any]:
    """Track count, births after the first frame, tracks shorter than SHORT_TRACK frames, untracked poses."""
    first: dict[int, int] = {}
    length: dict[int, int] = defaultdict(int)
    untracked = 0
    for f, poses in enumerate(tracked):
        for p in poses:
            if p.id is None:  # below the tracker's min_pose_score
                untracked += 1
                continue
            first.setdefault(p.id, f)
            length[p.id] += 1
    return {
        "untracked": untracked,
        "tracks": len(first),
        "born later": sum(1 for f in first.values() if f > 0),  # births after the first frame
        f"< {SHORT_TRACK} frames": sum(1 for n in length.values() if n < SHORT_TRACK),  # short-lived tracks
    }


def keypoint_jitter(frames: Frames, tracked: list[list[Pose]], smoother: PoseSmoother) -> dict[str, Any]:
    """Jitter of confident keypoints per track, raw and after `smoother`, and the smoother's ms/frame."""
    smoother.reset()
    start = time.perf_counter()
    tracked = [[p for p in poses if p.id is not None] for poses in tracked]
    smoothed = [smoother.update(poses, t) for (t, _), poses in zip(frames, tracked)]
    ms = 1000 * (time.perf_counter() - start) / max(len(frames), 1)
    # Per track: frame index -> (17, 3) raw keypoints and (17, 2) smoothed positions.
    by_id: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    for f, poses in enumerate(smoothed):
        for p in poses:
            assert p.id is not None and p.raw is not None
            by_id[p.id][f] = (np.column_stack([p.raw, p.keypoints[:, 2]]), p.keypoints[:, :2])
    raw_d2: list[np.ndarray] = []
    smooth_d2: list[np.ndarray] = []
    for frames_of in by_id.values():
        for f in frames_of:
            if f + 1 in frames_of and f + 2 in frames_of:
                (r0, s0), (r1, s1), (r2, s2) = frames_of[f], frames_of[f + 1], frames_of[f + 2]
                ok = (r0[:, 2] >= JITTER_SCORE) & (r1[:, 2] >= JITTER_SCORE) & (r2[:, 2] >= JITTER_SCORE)  # (17,)
                raw_d2.append(np.abs(r0[ok, :2] - 2 * r1[ok, :2] + r2[ok, :2]).ravel())
                smooth_d2.append(np.abs(s0[ok] - 2 * s1[ok] + s2[ok]).ravel())
    raw = np.concatenate(raw_d2) if raw_d2 else np.zeros(0)
    if raw.size == 0:
        return {"smooth ms": round(ms, 3)}
    before, after = float(raw.mean()), float(np.concatenate(smooth_d2).mean())
    return {
        "jitter raw px": round(before, 2),
        "jitter out px": round(after, 2),
        "jitter drop %": round(100 * (1 - after / before), 1),
        "smooth ms": round(ms, 3),  # per frame
    }


TRACKERS: dict[str, dict[str, Any]] = {
    "default": {},  # Hungarian, matching against the constant-velocity prediction
    "last pose": {"predict": False},
    "greedy": {"assignment": "greedy"},
    "all poses": {"min_pose_score": 0.0},  # faint duplicate poses tracked too
}


def clip_rows(name: str, frames: Frames) -> list[dict[str, Any]]:
    """One row per tracker setting for one clip; the default's row also has the jitter figures."""
    rows = []
    people = np.mean([len(p) for _, p in frames]) if frames else 0.0
    for label, params in TRACKERS.items():
        tracked, ms = track(frames, PoseTracker(**params))
        row: dict[str, Any] = {"case": name, "setting": label, "frames": len(frames),
                               "poses/frame": round(float(people), 2), **id_stats(tracked),
                               "track ms": round(ms, 3)}  # per frame
        if not params:
            row.update(keypoint_jitter(frames, tracked, PoseSmoother()))
        rows.append(row)
    return rows


def _filter(values: np.ndarray, times_s: np.ndarray, min_cutoff: float, beta: float) -> np.ndarray:
    """Values (T, ...) through one OneEuroFilter at times (T,) seconds."""
    filt = OneEuroFilter(min_cutoff, beta)
    return np.stack([filt(v, t) for v, t in zip(values, times_s)])


def smoother_figures(min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA,
                     seed: int = 0) -> dict[str, float]:
    """The smoother against its goals on synthetic keypoints (17 x 2 coordinates) at 30 fps.

    jitter drop % of a still keypoint under Gaussian noise of 1, 2, 4 px; lag in frames behind a
    keypoint at 300, 100, 30 px/s with 2 px noise (steady-state distance behind / speed); RMS error
    on a limb swinging at 1 Hz, +-50 px, with 2 px noise (the noise alone is 2 px).
    """
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    times = np.arange(300) / FPS
    for sigma in (1.0, 2.0, 4.0):
        raw = 300 + rng.normal(0, sigma, (300, 17, 2))  # (T, 17, 2)
        out[f"still {sigma:g} px: jitter drop %"] = 100 * (1 - jitter(_filter(raw, times, min_cutoff, beta)[15:])
                                                         / jitter(raw[15:]))
    for speed in (300.0, 100.0, 30.0):
        truth = speed * np.broadcast_to(times[:, None, None], (300, 17, 2))
        smoothed = _filter(truth + rng.normal(0, 2.0, truth.shape), times, min_cutoff, beta)
        out[f"{speed:g} px/s: lag frames"] = float(np.mean(truth[60:] - smoothed[60:])) / speed * FPS
    swing = 50 * np.sin(2 * np.pi * times)[:, None, None] + np.zeros((300, 17, 2))
    smoothed = _filter(swing + rng.normal(0, 2.0, swing.shape), times, min_cutoff, beta)
    out["swing 1 Hz: rms px"] = float(np.sqrt(np.mean((smoothed[30:] - swing[30:]) ** 2)))
    return out


def synthetic_rows() -> list[dict[str, Any]]:
    """The default smoother's synthetic figures, one row per measurement, with its goal."""
    goals = {"still": ">= 50", "300 px/s": "< 2"}
    setting = f"min_cutoff {DEFAULT_MIN_CUTOFF:g}, beta {DEFAULT_BETA:g}"
    rows = []
    for key, value in smoother_figures().items():
        case, metric = key.split(": ")
        goal = next((g for prefix, g in goals.items() if case.startswith(prefix)), "")
        row = {"case": f"synthetic: {case}", "setting": setting, "jitter drop %": "", "lag frames": "", "rms px": ""}
        rows.append({**row, metric: round(value, 2), "goal": goal})
    return rows


def grid_rows(min_cutoffs: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0),
              betas: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)) -> list[dict[str, Any]]:
    """smoother_figures over a grid of (min_cutoff, beta): what the defaults were chosen from."""
    return [{"min_cutoff": mc, "beta": b, **{k: round(v, 2) for k, v in smoother_figures(mc, b).items()}}
            for mc in min_cutoffs for b in betas]


def run(jsonl_paths: dict[str, Path] | None = None, shared: Path | None = None) -> list[dict[str, Any]]:
    """Rows for the real clips' poses (`jsonl_paths`: name -> JSONL file) and the synthetic figures.

    Without `jsonl_paths`, the poses of the shared clips are made with `posenet video --multi`
    (in `shared`, default $POSENET_SHARED or ../shared); a clip that cannot be done gets a row
    saying why, so the synthetic rows are still measured.
    """
    rows: list[dict[str, Any]] = []
    if jsonl_paths is None:
        shared = shared or Path(os.environ.get("POSENET_SHARED", REPO.parent / "shared"))
        jsonl_paths = {}
        for clip in CLIPS:
            path, out = shared / clip, CACHE / "temporal" / (Path(clip).stem + ".jsonl")
            error = generate_jsonl(path, out) if path.exists() else f"{path} not found"
            if error:
                rows.append({"case": Path(clip).name, "error": error})
            else:
                jsonl_paths[Path(clip).name] = out
    for name, path in jsonl_paths.items():
        rows += clip_rows(name, read_jsonl(path))
    return rows + synthetic_rows()


def tables() -> dict[str, list[dict[str, Any]]]:
    """`run()`'s rows as two tables: the real clips, and the smoother on synthetic keypoints."""
    rows = run()
    synthetic = [r for r in rows if r["case"].startswith("synthetic")]
    return {"Tracking and smoothing: the shared clips, poses from posenet video --multi":
            [r for r in rows if r not in synthetic],
            "Smoothing: synthetic keypoints at 30 fps (default parameters)":
            [{k: v for k, v in r.items() if v != ""} for r in synthetic]}


def main(argv: list[str]) -> None:
    from benchmarks.common import print_table

    if "--grid" in argv:
        print_table("One Euro parameter grid (synthetic, 30 fps)", grid_rows())
        argv = [a for a in argv if a != "--grid"]
    paths = {Path(a).name: Path(a) for a in argv} or None
    print_table("Tracking and smoothing", run(paths))


if __name__ == "__main__":
    main(sys.argv[1:])
