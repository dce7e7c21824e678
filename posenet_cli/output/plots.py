"""A picture of motion analysis: each angle over time, a row of two panels per person (joint angles, segment
angles), samples that rest on filled-in keypoints marked, frames where the person was interpolated shaded.

matplotlib (the `analysis` extra) is imported only here, when a plot is asked for, and drawn on its Agg
canvas (no window, no global backend chosen for the caller)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OutputError, write_error
from ..files import atomic_open
from ..motion import ANGLE_NAMES, JOINTS, SEGMENTS, angle_parts, pose_angles
from ..pose import Pose

MAX_PEOPLE = 8  # rows; the people seen in the most frames are drawn
PLOT_FORMATS = ("png", "svg", "pdf")


def plot_format(path: Path) -> str:
    """The image format a plot path names (png, svg, pdf); OutputError for another extension."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in PLOT_FORMATS:
        raise OutputError(f"`plot` writes {', '.join('.' + f for f in PLOT_FORMATS)}, not {path.name!r}")
    return fmt


def _degrees(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _series(frames: Sequence[tuple[float, list[Pose]]], min_part_score: float
            ) -> dict[Hashable, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per person (track id, else place in the frame): times (n,) in s, angles (n, A), filled (n, A) and
    interpolated (n,)."""
    rows: dict[Hashable, list[tuple[float, list[float], list[bool], bool]]] = {}
    parts = [list(angle_parts(name)) for name in ANGLE_NAMES]
    for time_ms, poses in frames:
        for i, pose in enumerate(poses):
            angles = pose.angles if pose.angles is not None else pose_angles(pose, min_part_score)
            values = [_degrees(angles.get(n)) for n in ANGLE_NAMES]
            filled = [bool(pose.interpolated or (pose.filled is not None and pose.filled[p].any())) for p in parts]
            key = pose.id if pose.id is not None else f"pose {i}"
            rows.setdefault(key, []).append((time_ms / 1000.0, values, filled, pose.interpolated))
    return {key: (np.array([r[0] for r in v]), np.array([r[1] for r in v]), np.array([r[2] for r in v]),
                  np.array([r[3] for r in v])) for key, v in rows.items()}


def _unwrapped(t: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The series with a break (NaN) where a direction crosses +-180 degrees, so no line spans the plot."""
    cross = np.flatnonzero(np.abs(np.diff(values)) > 180) + 1
    return np.insert(t, cross, np.nan), np.insert(values, cross, np.nan)


def _panel(ax: Any, t: np.ndarray, angles: np.ndarray, filled: np.ndarray, names: Sequence[str]) -> None:
    """One panel: the angles `names`, left solid, right dashed, filled samples marked with rings."""
    colours: dict[str, Any] = {}
    for name in names:
        a = ANGLE_NAMES.index(name)
        kind = name.removeprefix("left_").removeprefix("right_")
        line, = ax.plot(*_unwrapped(t, angles[:, a]), "--" if name.startswith("right_") else "-", lw=1.4,
                        color=colours.get(kind), label=name)
        colours[kind] = line.get_color()
        mask = filled[:, a] & np.isfinite(angles[:, a])
        if mask.any():
            ax.plot(t[mask], angles[mask, a], "o", mfc="none", ms=5, color=line.get_color())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def plot_angles(path: Path, frames: Sequence[tuple[float, list[Pose]]], min_part_score: float) -> None:
    """Draw every angle over time per person to `path` (PNG, or what its extension names), written whole."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise OutputError("`plot` needs matplotlib: pip install 'posenet-cli[analysis]'") from None
    fmt = plot_format(path)
    series = _series(frames, min_part_score)
    people = sorted(series, key=lambda k: -len(series[k][0]))[:MAX_PEOPLE]
    figure = Figure(figsize=(15, 3.4 * max(len(people), 1)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(max(len(people), 1), 2, squeeze=False)
    for row, key in enumerate(people):
        t, angles, filled, interpolated = series[key]
        half = 0.5 * _step(t)  # an interpolated frame is shaded a frame wide
        for ax, names, label in ((axes[row, 0], JOINTS, "joint angle (deg, 180 = straight)"),
                                 (axes[row, 1], SEGMENTS, "segment angle (deg, ccw from horizontal)")):
            for start in t[interpolated]:
                ax.axvspan(start - half, start + half, color="0.85", lw=0)
            _panel(ax, t, angles, filled, list(names))
            ax.set_title(f"person {key}" if isinstance(key, int) else str(key), fontsize=9, loc="left")
            ax.set_ylabel(label, fontsize=8)
            ax.set_xlabel("time (s)", fontsize=8)
    if not people:
        axes[0, 0].set_title("no poses")
    figure.suptitle("angles over time (rings: filled-in keypoints; grey: interpolated frames)", fontsize=10)
    try:
        with atomic_open(path, "wb") as f:
            figure.savefig(f, format=fmt, dpi=100)
    except OSError as e:
        raise write_error(path, e, "not written") from None


def _step(t: np.ndarray) -> float:
    return float(np.median(np.diff(t))) if len(t) > 1 else 0.04
