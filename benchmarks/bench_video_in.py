"""Video decoding: PyAV (what `VideoReader` reads files and URLs with) against OpenCV's reader (what it read
them with before, and still reads them with where PyAV is missing), for speed and for the exactness of
frame times, measured in one run, interleaved.

Speed: every frame of walking-street.mp4 (1280x720, H.264) to RGB through `VideoReader` with each decoder,
and the whole `posenet video` path (decode, model, pose decoding, JSON) with each, alternating the two
round by round; best of the rounds (highest frames/s, lowest CPU ms per frame over all the process's
threads). Exactness: a variable-rate clip made here (20 frames 33 ms apart, then 20 frames 100 ms apart,
time base 1/90000, B-frames on) read by each; the error is |time_ms - PTS x time base| over its frames,
and "index / fps" is what `time_ms` was before (frame index over the average rate).
"""

from __future__ import annotations

import contextlib
import io
import math
import resource
import tempfile
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import bench_net, shared_dir
from posenet_cli.decode import DecoderOptions
from posenet_cli.jobs import JobOptions, run_video
from posenet_cli.media import encoders, video
from posenet_cli.media.video import VideoReader
from posenet_cli.output.writers import VIDEO, JsonLinesWriter
from posenet_cli.sizing import SizingOptions

CLIP = "data/videos/walking-street.mp4"
ROUNDS = 3
DECODERS = ("PyAV (default)", "OpenCV (before)")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def decoder(name: str) -> Iterator[None]:
    """VideoReader with PyAV, or as if PyAV were missing (OpenCV's reader)."""
    if name.startswith("PyAV"):
        yield
        return
    saved = video.pyav
    video.pyav = lambda: None  # type: ignore[assignment]
    try:
        yield
    finally:
        video.pyav = saved  # type: ignore[assignment]


def _read_all(clip: Path) -> int:
    with VideoReader(clip) as reader:
        return sum(1 for _ in reader)


def _video_path(net: Any, clip: Path, opts: JobOptions) -> int:
    with VideoReader(clip) as reader:
        writer = JsonLinesWriter(None, kind=VIDEO, settings={}, stream=io.StringIO())
        return run_video(net, reader, writer, opts).items


def speed_rows(clip: Path) -> list[dict[str, Any]]:
    net, _ = bench_net()
    opts = JobOptions(SizingOptions(scale_factor=0.5), DecoderOptions(multi=True))
    jobs = {"decode to RGB": lambda: _read_all(clip), "posenet video (multi, scale 0.5)":
            lambda: _video_path(net, clip, opts)}
    _video_path(net, clip, opts)  # warm-up
    best = {(j, d): (0.0, math.inf) for j in jobs for d in DECODERS}
    for _ in range(ROUNDS):
        for job, run in jobs.items():
            for name in DECODERS:
                with decoder(name):
                    t, c = time.perf_counter(), _cpu()
                    n = run()
                    fps, cpu = n / (time.perf_counter() - t), 1e3 * (_cpu() - c) / n
                f, cp = best[job, name]
                best[job, name] = (max(f, fps), min(cp, cpu))
    rows = []
    for (job, name), (fps, cpu) in best.items():
        f0, c0 = best[job, DECODERS[1]]
        rows.append({"what": job, "decoder": name, "frames/s": f"{fps:.1f}", "CPU ms/frame": f"{cpu:.1f}",
                     "frames/s ratio": f"{fps / f0:.2f}", "CPU ratio": f"{c0 / cpu:.2f}"})
    return rows


def _vfr_clip(path: Path) -> list[float]:
    """A variable-rate H.264 clip (with B-frames); returns its frame times in ms (PTS x time base)."""
    av = encoders.pyav()
    tb = Fraction(1, 90000)
    deltas = [33] * 20 + [100] * 20
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.time_base = 320, 240, "yuv420p", tb
        stream.codec_context.time_base = tb
        times, t = [], 0
        for i, d in enumerate(deltas):
            frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), i * 6, np.uint8), format="rgb24")
            frame.pts, frame.time_base = round(Fraction(t, 1000) / tb), tb
            times.append(float(frame.pts * tb * 1000))
            container.mux(stream.encode(frame))
            t += d
        container.mux(stream.encode(None))
    return times


def exactness_rows() -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "vfr.mp4"
        truth = _vfr_clip(clip)
        for name in DECODERS:
            with decoder(name), VideoReader(clip) as reader:
                frames = list(reader)
                fps = reader.fps
            got = [f.time_ms for f in frames]
            rows.append({"decoder": name, "frames": f"{len(got)} of {len(truth)}",
                         "max error, time_ms (ms)": f"{max(abs(a - b) for a, b in zip(got, truth)):.2g}",
                         "exact to the float": "yes" if got == truth else "no"})
        before = max(abs(i * 1000 / fps - t) for i, t in enumerate(truth))
        rows.append({"decoder": "index / fps (time_ms before)", "frames": f"{len(truth)} of {len(truth)}",
                     "max error, time_ms (ms)": f"{before:.0f}", "exact to the float": "no"})
    return rows


def tables() -> dict[str, list[dict[str, Any]]]:
    clip = shared_dir() / CLIP
    return {"Video decoding: frame times on a variable-rate clip": exactness_rows(),
            f"Video decoding: speed ({clip.name}, best of {ROUNDS} interleaved rounds)": speed_rows(clip)}


if __name__ == "__main__":
    from benchmarks.common import print_table

    for title, rows in tables().items():
        print_table(title, rows)
