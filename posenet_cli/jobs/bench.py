"""Throughput on this machine: the model alone, and the whole video path against it.

Used by `posenet bench` (a user checking their machine) and by `make bench`. Every figure is a best of
a few repeats after a warm-up call, so one-off costs (kernel set-up, a busy moment) do not count.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..estimator import PoseNet
from ..media.video import VideoReader
from ..output.writers import VIDEO, open_writer
from ..stream.frames import Frame
from .options import JobOptions
from .video import run_video

BATCHES = (1, 2, 4, 8)


def model_fps(net: PoseNet, inputs: np.ndarray, batch: int, repeats: int = 2) -> float:
    """Frames per second of the model alone (its runner) on prepared float32 inputs [n, h, w, 3], `batch` at
    a time."""
    if len(inputs) < batch:
        inputs = np.concatenate([inputs] * (batch // len(inputs) + 1))
    net.runner(inputs[:batch])  # warm-up: the first call of a shape sets up its kernels
    n = (len(inputs) // batch) * batch
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, n, batch):
            net.runner(inputs[i:i + batch])
        best = max(best, n / (time.perf_counter() - start))
    return best


def video_fps(net: PoseNet, clip: Path, opts: JobOptions, batch: int, repeats: int = 2) -> float:
    """Frames per second of the whole video path (decode, resize, inference, pose decoding, JSON lines)."""
    best = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            with VideoReader(clip) as reader, open_writer("jsonl", Path(tmp) / "poses.jsonl", kind=VIDEO,
                                                          settings={}) as writer:
                summary = run_video(net, reader, writer, opts, batch_size=batch)
            best = max(best, summary.items / summary.seconds)
    return best


def prepared_frames(net: PoseNet, clip: Path, opts: JobOptions, limit: int = 64) -> np.ndarray:
    """The network inputs of the clip's first `limit` frames, as the video path prepares them."""
    with VideoReader(clip, end=None) as reader:
        frames = [f.image for _, f in zip(range(limit), reader) if isinstance(f, Frame)]
    plan = opts.sizing.plan(frames[0].shape[0], frames[0].shape[1], net.output_stride)
    return np.stack([plan.prepare(f) for f in frames])


def measure(net: PoseNet, clip: Path | None, opts: JobOptions, sizes: Iterable[int] = (257, 513),
            batches: Iterable[int] = BATCHES, on_row: Callable[[dict[str, Any]], None] = lambda row: None
            ) -> list[dict[str, Any]]:
    """Rows of a throughput table: the model alone on square inputs of `sizes` at each batch size, and,
    given a clip, the model alone on the clip's own input size and the video path against it, at the
    model's best batch size. `on_row` sees each row as soon as it is measured."""
    rows: list[dict[str, Any]] = []

    def add(row: dict[str, Any]) -> None:
        rows.append(row)
        on_row(row)

    rng = np.random.default_rng(0)
    batches = tuple(batches)
    for size in sizes:
        inputs = rng.uniform(0, 255, (16, size, size, 3)).astype(np.float32)
        for batch in batches:
            fps = model_fps(net, inputs, batch)
            add({"what": "model alone", "input": f"{size}x{size}", "batch": batch,
                 "frames/s": f"{fps:.1f}", "ms/frame": f"{1e3 / fps:.2f}"})
    if clip is None:
        return rows
    inputs = prepared_frames(net, clip, opts)
    size = f"{inputs.shape[2]}x{inputs.shape[1]}"
    alone = {b: model_fps(net, inputs, b) for b in batches}
    best = max(alone, key=lambda b: alone[b])
    add({"what": f"model alone on {clip.name}", "input": size, "batch": best,
         "frames/s": f"{alone[best]:.1f}", "ms/frame": f"{1e3 / alone[best]:.2f}"})
    fps = video_fps(net, clip, opts, best)
    add({"what": f"posenet video {clip.name} ({'multi' if opts.decoder.multi else 'single'})", "input": size,
         "batch": best, "frames/s": f"{fps:.1f}", "ms/frame": f"{1e3 / fps:.2f}",
         "ratio": f"{fps / alone[best]:.2f} of the model alone"})
    return rows
