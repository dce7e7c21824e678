"""Annotated video: what each encoder costs, and `posenet video --draw` with today's encoder against OpenCV's
mp4v (what --draw wrote before it became browser-playable), measured in one run, interleaved.

The encoders get the same 100 decoded 1280x720 frames of walking-street.mp4; CPU time counts every thread
of the process (x264 and FFmpeg run their own). The --draw rows run the whole video path (decode, model,
pose decoding, drawing, encoding) on the same clip, alternating the variants round by round so a busy
moment of the machine hits each alike; each figure is the best of the rounds: the highest frames/s and
the lowest CPU time per frame (all the process's threads). Ratios are against mp4v: frames/s, and CPU
inverted (above 1: cheaper), which other users' load on the machine disturbs much less. "Encoder on a
thread" hands frames to a writer thread through a queue of 4, to see whether encoding off the main
thread pays.
"""

from __future__ import annotations

import contextlib
import math
import queue
import resource
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.common import bench_net, shared_dir
from posenet_cli.decode import DecoderOptions
from posenet_cli.jobs import JobOptions, run_video
from posenet_cli.media import encoders
from posenet_cli.media.video import VideoReader, VideoWriter, annotated_video
from posenet_cli.sizing import SizingOptions

CLIP = "data/videos/walking-street.mp4"
ROUNDS = 5


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def _x264_preset(preset: str | None) -> Iterator[None]:
    """libx264 at another preset than the shipped one, for comparison."""
    saved = encoders.CODEC_OPTIONS["libx264"]
    if preset is not None:
        encoders.CODEC_OPTIONS["libx264"] = {**saved, "preset": preset}
    try:
        yield
    finally:
        encoders.CODEC_OPTIONS["libx264"] = saved


@contextlib.contextmanager
def _before_22() -> Iterator[None]:
    """The MP4 writing before #22: one index written at the end (faststart), the codec's own key frame
    interval (x264: 250 frames), frames 1/fps apart, no sound."""
    saved = encoders.KILL_SAFE, encoders.KEY_FRAME_S
    encoders.KILL_SAFE, encoders.KEY_FRAME_S = {"movflags": "+faststart"}, None
    try:
        yield
    finally:
        encoders.KILL_SAFE, encoders.KEY_FRAME_S = saved


def encoder_rows(frames: list[np.ndarray], fps: float) -> list[dict[str, Any]]:
    h, w = frames[0].shape[:2]
    variants = [("OpenCV mp4v (before)", ".mp4", "opencv", None),
                (f"PyAV H.264 {encoders.CODEC_OPTIONS['libx264']['preset']} (default)", ".mp4", "pyav", None),
                ("PyAV H.264 ultrafast, before #22 (one index at the end)", ".mp4", "pyav", "before"),
                ("PyAV H.264 superfast", ".mp4", "pyav", "superfast"),
                ("PyAV H.264 veryfast", ".mp4", "pyav", "veryfast"),
                ("PyAV VP9 realtime", ".webm", "pyav", None),
                ("OpenCV VP8 (no PyAV)", ".webm", "opencv", None)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, ext, encoder, preset in variants:
            path = Path(tmp) / f"out{ext}"
            with _before_22() if preset == "before" else _x264_preset(preset):
                t, c = time.perf_counter(), _cpu()
                with VideoWriter(path, fps, w, h, encoder=encoder) as writer:
                    for frame in frames:
                        writer.write(frame)
                wall, cpu = time.perf_counter() - t, _cpu() - c
            rows.append({"encoder": name, "codec": writer.codec, "ms/frame": f"{1e3 * wall / len(frames):.1f}",
                         "CPU ms/frame": f"{1e3 * cpu / len(frames):.1f}",
                         "MB / 100 frames": f"{path.stat().st_size / 1e6 * 100 / len(frames):.2f}",
                         "browsers play it": "yes" if writer.browser_playable else "no"})
    return rows


class _OnAThread:
    """A VideoWriter fed from a writer thread (the experiment behind the last --draw row)."""

    def __init__(self, writer: VideoWriter) -> None:
        self.writer, self.frames = writer, queue.Queue(4)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.frames.get()) is not None:
            self.writer.write(*item)

    def write(self, rgb: np.ndarray, time_ms: float | None = None) -> None:
        self.frames.put((rgb, time_ms))

    def close(self) -> None:
        self.frames.put(None)
        self.thread.join()
        self.writer.close()


def draw_fps(net: Any, clip: Path, opts: JobOptions, encoder: str | None, threaded: bool = False
             ) -> tuple[float, float]:
    """Frames per second of `posenet video CLIP --draw OUT.mp4` (encoder None: no --draw; "before": as
    before #22), and the CPU milliseconds the process spent per frame (all its threads; steadier than
    frames/s while other users load the machine)."""
    with tempfile.TemporaryDirectory() as tmp, VideoReader(clip) as reader, \
            _before_22() if encoder == "before" else contextlib.nullcontext():
        video: Any = None
        if encoder == "before":
            video = VideoWriter(Path(tmp) / "drawn.mp4", reader.fps, reader.width, reader.height)
        elif encoder == "auto":
            video = annotated_video(Path(tmp) / "drawn.mp4", reader)  # frame times, sound, fragments
        elif encoder is not None:
            video = VideoWriter(Path(tmp) / "drawn.mp4", reader.fps, reader.width, reader.height, encoder=encoder)
        video = _OnAThread(video) if threaded and video is not None else video
        t, c = time.perf_counter(), _cpu()
        summary = run_video(net, reader, None, opts, video=video)
        if video is not None:
            video.close()
        return summary.items / (time.perf_counter() - t), 1e3 * (_cpu() - c) / summary.items


def draw_rows(clip: Path) -> list[dict[str, Any]]:
    net, _ = bench_net()
    opts = JobOptions(SizingOptions(scale_factor=0.5), DecoderOptions(multi=True))
    variants = {"posenet video (no --draw)": (None, False), "--draw, OpenCV mp4v (before)": ("opencv", False),
                "--draw, PyAV H.264 before #22 (constant rate, no sound, one index)": ("before", False),
                "--draw, PyAV H.264 (default: frame times, sound, fragments)": ("auto", False),
                "--draw, PyAV H.264, encoder on a thread": ("auto", True)}
    draw_fps(net, clip, opts, "auto")  # warm-up: model kernels, codec libraries
    fps = {name: 0.0 for name in variants}
    cpu = {name: math.inf for name in variants}
    for _ in range(ROUNDS):
        for name, (encoder, threaded) in variants.items():
            f, c = draw_fps(net, clip, opts, encoder, threaded)
            fps[name], cpu[name] = max(fps[name], f), min(cpu[name], c)
    before = "--draw, OpenCV mp4v (before)"
    return [{"what": name, "frames/s": f"{fps[name]:.1f}", "CPU ms/frame": f"{cpu[name]:.1f}",
             "frames/s ratio": "" if variants[name][0] is None else f"{fps[name] / fps[before]:.2f}",
             "CPU ratio": "" if variants[name][0] is None else f"{cpu[before] / cpu[name]:.2f}"}
            for name in variants]


def tables() -> dict[str, list[dict[str, Any]]]:
    clip = shared_dir() / CLIP
    capture = cv2.VideoCapture(str(clip))
    frames = []
    while len(frames) < 100 and (got := capture.read())[0]:
        frames.append(cv2.cvtColor(got[1], cv2.COLOR_BGR2RGB))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    h, w = frames[0].shape[:2]
    return {f"Annotated video encoders ({len(frames)} frames, {w}x{h})": encoder_rows(frames, fps),
            f"posenet video --draw ({clip.name}, multi, scale factor 0.5; best of {ROUNDS} interleaved rounds)":
                draw_rows(clip)}


if __name__ == "__main__":
    from benchmarks.common import print_table

    for title, rows in tables().items():
        print_table(title, rows)
