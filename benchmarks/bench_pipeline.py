"""Throughput of the video path against the SavedModel alone, cold start, and memory on long inputs.

All figures come from one run on this machine, so the ratios compare like with like.

Where the time goes on a 2-core machine (walking-street.mp4, 1280x720, scale factor 0.5 -> 625x353):
TensorFlow spreads the model over both cores (57 -> 101 frames/s from 1 to 2 threads: ~20 ms of CPU
per frame), and decoding the H.264 frame (3.5 ms of CPU over FFmpeg's threads, whatever their number),
resizing (~1.1 ms) and pose decoding and JSON (~0.7 ms) need ~5.3 ms of CPU per frame from the same
two cores. Perfect overlap then caps the video path at ~20 / 25.3 = 0.79 of the model alone; it
reaches 0.72-0.76. The "TF on 1 thread" rows leave a core free for the other stages: there the
pipeline hides all but the model (0.90), though the model itself is slower.
"""

from __future__ import annotations

import json
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
from posenet_cli.decode import DecoderOptions
from posenet_cli.jobs import JobOptions
from posenet_cli.jobs.bench import measure
from posenet_cli.sizing import SizingOptions

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


_ONE_THREAD = """
import json, sys
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from pathlib import Path
from benchmarks.common import bench_net
from posenet_cli.jobs.bench import model_fps, prepared_frames, video_fps
from posenet_cli.decode import DecoderOptions
from posenet_cli.sizing import SizingOptions
from posenet_cli.jobs import JobOptions
net, _ = bench_net()
opts = JobOptions(SizingOptions(scale_factor=0.5), DecoderOptions(multi=True))
clip = Path(sys.argv[1])
print(json.dumps([model_fps(net, prepared_frames(net, clip, opts), 4), video_fps(net, clip, opts, 4)]))
"""


def one_thread(clip: Path) -> tuple[float, float]:
    """Model alone and the video path (multi, batch 4) with TensorFlow on one thread, in a fresh process:
    a core is left for decoding, which shows what the pipeline hides when it has a core to hide it on."""
    done = subprocess.run([sys.executable, "-c", _ONE_THREAD, str(clip)], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parent.parent)
    alone, video = json.loads(done.stdout.strip().splitlines()[-1])
    return alone, video


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
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (this benchmark, with
    # its frames in memory), while VmHWM belongs to the process's own address space.
    code = ("import sys\nfrom posenet_cli.cli import main\n"
            "rc = main(sys.argv[1:])\n"
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
            "print(int(hwm) / 1024)\nsys.exit(rc)")
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
    rows = []
    for multi in (False, True):
        opts = JobOptions(SizingOptions(scale_factor=0.5), DecoderOptions(multi=multi))
        measured = measure(net, clip, opts, sizes=(), batches=(1, 2, 4, 8))
        for row in measured if multi else measured[-1:]:
            rows.append({"what": row["what"], "input": row["input"], "batch": row["batch"],
                         "value": f"{row['frames/s']} frames/s", "ratio": row.get("ratio", "")})
    alone, video = one_thread(clip)
    rows.append({"what": "TF on 1 thread: model alone", "input": rows[-1]["input"], "batch": 4,
                 "value": f"{alone:.1f} frames/s"})
    rows.append({"what": "TF on 1 thread: posenet video (multi)", "input": rows[-1]["input"], "batch": 4,
                 "value": f"{video:.1f} frames/s", "ratio": f"{video / alone:.2f} of the model alone"})
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
