"""Runtimes and precisions: TensorFlow running the SavedModel, LiteRT running its float32 and int8 `.tflite`
(mobilenet-v1-075, stride 16, every core), all measured in one run.

- model alone: ms per frame at batch 1 by input size, wall (median of rounds that alternate the runtimes, so
  a busy moment hits them alike) and process CPU time (steadier on a shared machine);
- the video path: `posenet video` frames/s on walking-street.mp4 (1280x720, long edge 641), each runtime at
  its preferred batch, and the process CPU time per frame (on a shared machine frames/s move with the
  neighbours' load; CPU time much less);
- cold start: `posenet image PHOTO` with the model cached, from process start to exit, against
  `python -c "import tensorflow"` (median of alternating runs);
- int8 accuracy: COCO keypoint AP on ../shared/data/coco-keypoints/ (75 photos, 194 people) of float32 and
  of int8 models keeping no layer in float32, or the output heads and some backbone layers (`RECIPES`; "LiteRT
  int8" elsewhere is the default, `litert_runner.DEFAULT_FLOAT_LAYERS`), with the CPU time per frame against
  TensorFlow's; calibrated on the shared photos and every 12th frame of the shared videos, none of which
  is in the evaluation set.
"""

from __future__ import annotations

import functools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.common import CACHE, REPO, bench_net, model_env, shared_dir
from posenet_cli.decode import DecoderOptions
from posenet_cli.estimator import PoseNet
from posenet_cli.jobs import JobOptions
from posenet_cli.jobs.bench import video_fps
from posenet_cli.jobs.calibration import calibration_inputs, describe
from posenet_cli.models.backend import quantize_model
from posenet_cli.models.litert_runner import DEFAULT_FLOAT_LAYERS, LiteRTRunner
from posenet_cli.output.evaluate import load_annotations, score
from posenet_cli.output.records import coco_results
from posenet_cli.resize import resize_bilinear
from posenet_cli.sizing import SizingOptions

MODEL = "mobilenet-v1-075"
SIZES = ((353, 641), (513, 513), (257, 257))  # a 720p frame at long edge 641; tfjs 2.x 513; tfjs 1.x default
SIZING = SizingOptions(long_edge=641)  # the video path, calibration and AP (not the product's default 721)
ROUNDS = 7
CLIP = "data/videos/walking-street.mp4"
PHOTO = "data/images/tfjs-demo/tennis_in_crowd.jpg"
# int8 recipes: no layer kept in float32, or the output heads and these backbone layers (0 Conv2d_0,
# 1 Conv2d_1_depthwise, 2 Conv2d_1_pointwise, 3 Conv2d_2_depthwise, ...)
RECIPES = (None, (), (0, 1, 2, 3, 4), (0, 1, 2, 3, 4, 5, 6), (0, 1, 2, 3, 4, 5, 6, 7, 8), (1, 3, 5, 7), (0, 1, 3, 5, 7))
DECODERS = {"tfjs": DecoderOptions(True, 5, 0.5, 20.0), "coco": DecoderOptions(True, 20, 0.1, 20.0)}


def calibration_paths() -> list[Path]:
    data = shared_dir() / "data"
    return [*sorted((data / "images").glob("*/*.jpg")),
            *sorted(p for p in (data / "videos").glob("*.mp4") if p.name != "street-5frames.mp4")]


@functools.cache
def calibration() -> list[np.ndarray]:
    return calibration_inputs(calibration_paths(), SIZING, 16)


def nets() -> dict[str, PoseNet]:
    """TensorFlow, LiteRT float32 and LiteRT int8 (the default recipe, made here)."""
    out = {"TensorFlow float32": bench_net(MODEL, 16, "tensorflow")[0],
           "LiteRT float32": bench_net(MODEL, 16, "litert")[0]}
    savedmodel = Path(out["TensorFlow float32"].runner.path)
    quantize_model(savedmodel, CACHE, calibration(), calibration=describe(calibration_paths()))
    out["LiteRT int8"] = bench_net(MODEL, 16, "litert", True)[0]
    return out


def model_alone(runs: dict[str, PoseNet]) -> list[dict[str, Any]]:
    rows = []
    rng = np.random.default_rng(0)
    for h, w in SIZES:
        image = rng.uniform(0, 255, (1, h, w, 3)).astype(np.float32)
        calls = max(3, int(2e6 / (h * w)))  # about 0.1-0.3 s a round
        wall: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        for net in runs.values():
            net.runner(image)
            net.runner(image)
        for _ in range(ROUNDS):
            for name, net in runs.items():
                t, c = time.perf_counter(), time.process_time()
                for _ in range(calls):
                    net.runner(image)
                wall[name].append((time.perf_counter() - t) / calls * 1e3)
                cpu[name].append((time.process_time() - c) / calls * 1e3)
        base = statistics.median(wall["TensorFlow float32"])
        base_cpu = statistics.median(cpu["TensorFlow float32"])
        for name in runs:
            ms, cpu_ms = statistics.median(wall[name]), statistics.median(cpu[name])
            rows.append({"runtime": name, "input": f"{w}x{h}", "ms/frame": f"{ms:.1f}",
                         "best": f"{min(wall[name]):.1f}", "CPU ms/frame": f"{cpu_ms:.1f}",
                         "speed-up vs TF": f"{base / ms:.2f}x", "CPU speed-up": f"{base_cpu / cpu_ms:.2f}x"})
    return rows


def stride8() -> list[dict[str, Any]]:
    """Stride 8 at 641x353, float32: its dilated depthwise convolutions are native ops in both runtimes."""
    runs = {f"{name}, stride 8": bench_net(MODEL, 8, backend)[0]
            for name, backend in (("TensorFlow float32", "tensorflow"), ("LiteRT float32", "litert"))}
    image = np.random.default_rng(0).uniform(0, 255, (1, 353, 641, 3)).astype(np.float32)
    cpu = {name: _cpu_ms(net, image, calls=5) for name, net in runs.items()}
    base = cpu["TensorFlow float32, stride 8"]
    return [{"runtime": name, "input": "641x353", "CPU ms/frame": f"{ms:.1f}", "CPU speed-up": f"{base / ms:.2f}x"}
            for name, ms in cpu.items()]


class _Alone:
    """A runner that is its own only worker: the pipeline as it ran LiteRT before `Runner.workers` (one
    interpreter splitting each op over every core)."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.runner, name)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        return self.runner(images)

    def workers(self) -> list[Any]:
        return [self]


def video_path(runs: dict[str, PoseNet], rounds: int = 3) -> list[dict[str, Any]]:
    """frames/s (median and best of rounds alternating the runtimes) and process CPU ms per frame; LiteRT
    float32 also on its one interpreter, as the pipeline ran it before it had workers."""
    import tensorflow as tf

    from posenet_cli import sizing

    def tf_resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
        return tf.raw_ops.ResizeBilinear(images=np.ascontiguousarray(image)[None], size=[height, width],
                                         align_corners=False, half_pixel_centers=False).numpy()[0]

    clip = shared_dir() / CLIP
    frames = int(cv2.VideoCapture(str(clip)).get(cv2.CAP_PROP_FRAME_COUNT))
    opts = JobOptions(SIZING, DecoderOptions(multi=True))
    tf_op = "TensorFlow float32, resizing with TensorFlow's op instead of numpy"
    alone = "LiteRT float32 on one interpreter of every thread (no workers)"
    cases = {**{name: (net, resize_bilinear) for name, net in runs.items()},
             alone: (PoseNet(runner=_Alone(runs["LiteRT float32"].runner)), resize_bilinear),
             tf_op: (runs["TensorFlow float32"], tf_resize)}  # the same values (tests/test_sizing.py)
    fps: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for name, (net, resize) in cases.items():
            sizing.resize_bilinear = resize
            try:
                start = time.process_time()
                fps[name].append(video_fps(net, clip, opts, net.runner.preferred_batch, repeats=1))
                cpu[name].append((time.process_time() - start) / frames * 1e3)
            finally:
                sizing.resize_bilinear = resize_bilinear
    base = statistics.median(fps["TensorFlow float32"])
    rows = [{"what": f"posenet video --multi, {name}", "batch": net.runner.preferred_batch,
             "frames/s": f"{statistics.median(fps[name]):.1f}", "best": f"{max(fps[name]):.1f}",
             "CPU ms/frame": f"{statistics.median(cpu[name]):.1f}",
             "vs TensorFlow": f"{statistics.median(fps[name]) / base:.2f}x"} for name, (net, _) in cases.items()]
    frame = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), np.uint8)
    rows.append({"what": "input resize 1280x720 -> 641x353 (ms): numpy (resize.py) vs TensorFlow's op",
                 "frames/s": f"{_time(lambda: resize_bilinear(frame, 353, 641)):.2f} vs "
                             f"{_time(lambda: tf_resize(frame, 353, 641)):.2f}"})
    return rows


def _time(fn: Any, repeats: int = 7, calls: int = 20) -> float:
    """The best of `repeats` rounds, in ms per call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls * 1e3)
    return best


def cold_start(repeats: int = 5) -> list[dict[str, Any]]:
    photo = shared_dir() / PHOTO
    env = model_env()
    commands = {
        'python -c "import tensorflow"': [sys.executable, "-c", "import tensorflow"],
        "posenet image PHOTO (LiteRT float32, the default)": [sys.executable, "-m", "posenet_cli", "image", str(photo)],
        "posenet image PHOTO --int8": [sys.executable, "-m", "posenet_cli", "image", str(photo), "--int8"],
        "posenet image PHOTO --backend tensorflow": [sys.executable, "-m", "posenet_cli", "image", str(photo),
                                                     "--backend", "tensorflow"],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    for i in range(repeats + 1):
        for name, command in commands.items():
            t = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env, cwd=REPO)
            if i:  # the first round warms the page cache
                times[name].append(time.perf_counter() - t)
    base = statistics.median(times['python -c "import tensorflow"'])
    return [{"command (model cached)": name, "seconds": f"{statistics.median(v):.2f}", "best": f"{min(v):.2f}",
             "vs import tensorflow": f"{statistics.median(v) / base:.2f}"} for name, v in times.items()]


def accuracy(runs: dict[str, PoseNet]) -> list[dict[str, Any]]:
    folder = shared_dir() / "data" / "coco-keypoints"
    truth = load_annotations(folder / "person_keypoints.json")
    ids = sorted(truth.getImgIds())
    images = {i: cv2.imread(str(folder / "images" / truth.imgs[i]["file_name"])) for i in ids}

    def ap(net: PoseNet) -> dict[str, str]:
        found: dict[str, list] = {k: [] for k in DECODERS}
        for i in ids:
            plan, outputs = net.infer(images[i], SIZING, bgr=True)
            for name, decoder in DECODERS.items():
                found[name] += coco_results(i, net.decode(plan, outputs, decoder))
        return {f"AP ({name} decoding)": f"{score(truth, results, ids)['stats']['AP']:.3f}"
                for name, results in found.items()}

    tf_net = runs["TensorFlow float32"]
    image = np.random.default_rng(0).uniform(0, 255, (1, 353, 641, 3)).astype(np.float32)

    def row(name: str, net: PoseNet) -> dict[str, Any]:
        return {"model": name, **ap(net), "CPU speed-up vs TF": f"{_cpu_ratio(tf_net, net, image):.2f}x"}

    rows = [row(name, runs[name]) for name in ("TensorFlow float32", "LiteRT float32")]
    from posenet_cli.models.litert_convert import quantize_int8

    with tempfile.TemporaryDirectory() as tmp:
        for layers in RECIPES:
            kept = "none" if layers is None else f"heads + layers {','.join(map(str, layers)) or '-'}"
            if layers == DEFAULT_FLOAT_LAYERS:
                net = runs["LiteRT int8"]  # made by nets() from the same calibration
            else:
                path = Path(tmp) / f"int8-{len(rows)}.tflite"
                path.write_bytes(quantize_int8(Path(tf_net.runner.path), calibration(), layers))
                net = PoseNet(runner=LiteRTRunner(path, metadata=tf_net.runner.metadata))
            rows.append(row(f"LiteRT int8, float32: {kept}", net))
    rows.append({"model": f"(calibration: {len(calibration())} inputs from {describe(calibration_paths())}; "
                          f"evaluated on {len(ids)} other photos)"})
    return rows


def _cpu_ms(net: PoseNet, image: np.ndarray, calls: int = 15, rounds: int = 3) -> float:
    """Process CPU ms per call: the median of `rounds` rounds of `calls` calls, after a warm-up call."""
    net.runner(image)
    times = []
    for _ in range(rounds):
        c = time.process_time()
        for _ in range(calls):
            net.runner(image)
        times.append((time.process_time() - c) / calls * 1e3)
    return statistics.median(times)


def _cpu_ratio(base: PoseNet, net: PoseNet, image: np.ndarray, rounds: int = 5) -> float:
    """How many times less CPU `net` takes than `base` per call: the median of per-round ratios, each round
    timing both back to back, so load from other users in a round weighs on both alike."""
    return statistics.median(_cpu_ms(base, image, 8, 1) / _cpu_ms(net, image, 8, 1) for _ in range(rounds))


def tables() -> dict[str, list[dict[str, Any]]]:
    runs = nets()
    return {
        f"Runtimes: {MODEL} alone, batch 1 (ms/frame; stride 16 unless said)": model_alone(runs) + stride8(),
        "Runtimes: the video path (walking-street.mp4, long edge 641)": video_path(runs),
        "Runtimes: cold start": cold_start(),
        "int8 accuracy: COCO keypoint AP (coco-keypoints, long edge 641)": accuracy(runs),
    }


if __name__ == "__main__":
    from benchmarks.common import print_table

    for title, rows in tables().items():
        print_table(title, rows)
