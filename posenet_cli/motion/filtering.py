"""Offline filtering of keypoint series: gaps filled by interpolation, then a zero-phase Butterworth low-pass.

Both work on one person's series, arrays over the frames from their first appearance to their last: times
(L,) in ms, positions (L, 17, 2) and which samples are usable (L, 17). Times are the frames' real
presentation times, which need not be evenly spaced (dropped or variable-rate frames, --every): the filter
runs on an even grid at the clip's median frame step, each run of usable samples resampled onto it by linear
interpolation and the result read back at the frames' own times (for evenly spaced frames the grid is the
frames' times, so nothing is resampled). filtfilt runs the filter forwards and backwards: no phase lag.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import PoseNetError


class AnalysisError(PoseNetError, ValueError):
    """Motion analysis that cannot be done as asked (a cut-off the frame rate cannot carry, no times)."""


def frame_step_ms(times: np.ndarray) -> float:
    """The clip's typical frame step: the median of its time differences (ms); AnalysisError unless times
    increase."""
    steps = np.diff(np.asarray(times, dtype=np.float64))
    if (steps <= 0).any():
        raise AnalysisError("frame times (time_ms) must increase to filter a series")
    return float(np.median(steps)) if len(steps) else 0.0


def fill_gaps(times: np.ndarray, xy: np.ndarray, usable: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions (L, K, 2) with gaps of up to `max_gap` unusable samples between two usable ones linearly
    interpolated in time, and the mask (L, K) of the samples filled. Gaps at either end stay as they are."""
    length = len(usable)
    at = np.arange(length)[:, None]  # (L, 1)
    before = np.maximum.accumulate(np.where(usable, at, -1), axis=0)  # (L, K) last usable sample at or before
    after = np.minimum.accumulate(np.where(usable, at, length)[::-1], axis=0)[::-1]  # first at or after
    filled = ~usable & (before >= 0) & (after < length) & (after - before - 1 <= max_gap)
    if not filled.any():
        return xy.copy(), filled
    b, a = np.where(filled, before, 0), np.where(filled, after, 0)  # (L, K) indexes, 0 where unused
    t = np.asarray(times, dtype=np.float64)
    span = np.where(filled, t[a] - t[b], 1.0)
    weight = np.where(filled, (t[:, None] - t[b]) / span, 0.0)[..., None]  # (L, K, 1)
    columns = np.arange(usable.shape[1])[None, :]
    start, end = xy[b, columns], xy[a, columns]  # (L, K, 2)
    return np.where(filled[..., None], start + weight * (end - start), xy), filled


def _signal() -> Any:
    try:
        from scipy import signal
    except ImportError:
        raise AnalysisError("`filter='butterworth'` needs SciPy: pip install 'posenet-cli[analysis]'") from None
    return signal


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def butterworth_sos(cutoff_hz: float, order: int, step_ms: float) -> np.ndarray:
    """The low-pass filter's second-order sections at the sampling rate of `step_ms`; AnalysisError when the
    cut-off is not below half that rate (the highest frequency the frames can carry)."""
    rate = 1000.0 / step_ms
    if not 0 < cutoff_hz < rate / 2:
        raise AnalysisError(f"`filter_cutoff` must be above 0 and under half the frame rate ({rate / 2:.3g} Hz "
                            f"here), got {cutoff_hz:g}")
    return _signal().butter(order, cutoff_hz, fs=rate, output="sos")


def butterworth(times: np.ndarray, xy: np.ndarray, usable: np.ndarray, sos: np.ndarray, step_ms: float
                ) -> np.ndarray:
    """Positions (L, K, 2) with each run of usable samples of each keypoint low-pass filtered forwards and
    backwards (scipy.signal.sosfiltfilt) on an even grid of `step_ms`; other samples unchanged."""
    signal = _signal()
    out = np.array(xy, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    default_pad = 3 * (2 * len(sos) + 1)  # sosfiltfilt's own default; shorter runs are padded less
    for k in range(usable.shape[1]):
        for start, stop in _runs(usable[:, k]):
            if stop - start < 2:
                continue
            ts = t[start:stop]
            grid = np.linspace(ts[0], ts[-1], int(round((ts[-1] - ts[0]) / step_ms)) + 1)  # (n,)
            if len(grid) < 2:
                continue
            values = np.stack([np.interp(grid, ts, out[start:stop, k, c]) for c in (0, 1)], axis=1)  # (n, 2)
            low = signal.sosfiltfilt(sos, values, axis=0, padlen=min(default_pad, len(grid) - 1))
            out[start:stop, k] = np.stack([np.interp(ts, grid, low[:, c]) for c in (0, 1)], axis=1)
    return out
