"""Throughput of the video path against the SavedModel alone, cold start, and memory on long inputs.

All figures come from one run on this machine, so the ratios compare like with like.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from benchmarks.common import bench_net, shared_dir
from posenet_cli.estimator import MultiPoseParams, Sizing
from posenet_cli.jobs import JobOptions, run_video
from posenet_cli.media import VideoReader
from posenet_cli.sinks import Sink

CLIP = "data/videos/walking-street.mp4"


def _frames(path: Path, limit: int | None = None) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while limit is None or len(frames) < limit:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr[:, :, ::-1].copy())
    cap.release()
    return frames


def model_alone(net, inputs: np.ndarray, batch: int, repeats: int = 2) -> float:
    """Frames per second of the SavedModel alone on prepared inputs, in batches of `batch`."""
    net.runner(inputs[:batch])  # warm-up (first call builds the kernels)
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(0, len(inputs) - batch + 1, batch):
            net.runner(inputs[i:i + batch])
        n = (len(inputs) // batch) * batch
        best = max(best, n / (time.perf_counter() - t))
    return best


def end_to_end(net, clip: Path, multi: bool, batch: int, repeats: int = 2) -> float:
    """Frames per second of the whole video path: decode, resize, inference, pose decoding, JSONL."""
    opts = JobOptions(Sizing(scale_factor=0.5), MultiPoseParams() if multi else None)
    best = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            with VideoReader(str(clip)) as reader, Sink("jsonl", Path(tmp) / "p.jsonl", kind="video",
                                                       settings={}) as sink:
                summary = run_video(net, reader, sink, opts, batch_size=batch)
            best = max(best, summary.items / summary.seconds)
    return best


def cold_start(env: dict[str, str], clip: Path, repeats: int = 3) -> float:
    """Seconds from starting `posenet video` (model cached) to its first JSON line on stdout."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "posenet_cli", "video", str(clip), "--quiet"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        assert proc.stdout is not None
        proc.stdout.readline()
        times.append(time.perf_counter() - t)
        proc.kill()
        proc.wait()
    return statistics.median(times)


def import_time() -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True, capture_output=True)
    return time.perf_counter() - t


def _long_clip(src: Path, out: Path, frames: int, size: tuple[int, int] = (320, 180)) -> Path:
    """A generated long video: the clip, downscaled, looped to `frames` frames."""
    base = [cv2.resize(f[:, :, ::-1], size, interpolation=cv2.INTER_AREA) for f in _frames(src)]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, size)
    for i in range(frames):
        writer.write(base[i % len(base)])
    writer.release()
    return out


def peak_rss_mb(env: dict[str, str], clip: Path, end_s: float | None) -> float:
    """Peak resident memory (MB) of a `posenet video` run (its own process, so nothing else counts)."""
    code = ("import resource, sys\nfrom posenet_cli.cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\nsys.exit(rc)")
    args = [sys.executable, "-c", code, "video", str(clip), "--scale-factor", "0.5", "--multi",
            "--out", os.devnull, "--quiet"]
    if end_s is not None:
        args += ["--end", str(end_s)]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def run(long_frames: int = 10_000) -> list[dict]:
    shared = shared_dir()
    net, env = bench_net()
    clip = shared / CLIP
    frames = _frames(clip)
    plan = Sizing(scale_factor=0.5).plan(frames[0].shape[0], frames[0].shape[1], net.output_stride)
    inputs = np.stack([plan.prepare(f) for f in frames])
    size = f"{plan.input_width}x{plan.input_height}"
    rows = []
    alone = {b: model_alone(net, inputs, b) for b in (1, 2, 4, 8)}
    best_batch = max(alone, key=alone.get)
    for b, fps in alone.items():
        rows.append({"what": f"SavedModel alone, batch {b}", "input": size, "value": f"{fps:.1f} frames/s"})
    for multi in (False, True):
        fps = end_to_end(net, clip, multi, best_batch)
        rows.append({"what": f"posenet video ({'multi' if multi else 'single'}), batch {best_batch}",
                     "input": size, "value": f"{fps:.1f} frames/s",
                     "ratio": f"{fps / alone[best_batch]:.2f} of SavedModel alone"})
    rows.append({"what": "TensorFlow import alone", "input": "", "value": f"{import_time():.2f} s"})
    rows.append({"what": "cold start to first JSON line (model cached)", "input": "",
                 "value": f"{cold_start(env, shared / 'data/videos/street-5frames.mp4'):.2f} s"})
    with tempfile.TemporaryDirectory() as tmp:
        long_clip = _long_clip(clip, Path(tmp) / "long.mp4", long_frames)
        short = peak_rss_mb(env, long_clip, end_s=100 / 30)
        long = peak_rss_mb(env, long_clip, end_s=None)
    rows.append({"what": "peak RSS, 100 frames", "input": "320x180 clip", "value": f"{short:.0f} MB"})
    rows.append({"what": f"peak RSS, {long_frames} frames", "input": "320x180 clip", "value": f"{long:.0f} MB",
                 "ratio": f"{long / short:.2f}x the 100-frame run"})
    return rows


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table("Video pipeline (mobilenet-v1-075, stride 16, scale factor 0.5)", run())
