"""The yardstick: tfjs PoseNet 2.2.2 on its WASM backend (the browser reference, run under Node.js from the npm
packages in benchmarks/tfjs/) against this product's Python API and `posenet image` on a folder, float32 and
int8, on the same photos at 641x481, multi-pose with tfjs's defaults, start-up excluded on every side.

    python -m benchmarks.bench_tfjs            # needs node and `npm ci` in benchmarks/tfjs (make bench does it)

Both sides run the same weights: tfjs the 2.x graph model, this product its import (mobilenet-v1-075-quant2;
the default mobilenet-v1-075 is the same network, from the 1.x checkpoint). The photos are the
reference's (../shared/reference/v2-q2m075-s16-r641x481.json: 16 tfjs demo photos and
couple.jpg), decoded once in Python and handed to tfjs as raw RGB, as `tf.browser.fromPixels` would. Rounds
interleave the sides, so a busy moment on the machine hits them alike: each round runs tfjs over every
photo, then each Python row over every photo, then the CLI on a folder of the photos (4 copies each) and on
one photo, whose difference, over the images between, is the CLI's time per image without its start-up.
Wall figures are medians over rounds; CPU time is the process's (all threads) beside it.
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import CACHE, REPO, bench_net, model_env, shared_dir
from posenet_cli.decode import TFJS_MULTI
from posenet_cli.estimator import PoseNet
from posenet_cli.media.images import read_image
from posenet_cli.models.litert_runner import LiteRTRunner
from posenet_cli.output.writers import open_writer
from posenet_cli.pose import Pose
from posenet_cli.sizing import SizingOptions
from posenet_cli.stream.pipeline import Pipeline

TFJS = REPO / "benchmarks" / "tfjs"
REFERENCE = "reference/v2-q2m075-s16-r641x481.json"
GRAPH_MODEL = "models/savedmodel/posenet/mobilenet/quant2/075/model-stride16.json"
RESOLUTION = (641, 481)
SIZING = SizingOptions(resolution=RESOLUTION)
MODEL = "mobilenet-v1-075-quant2"  # the graph model tfjs runs, imported: the same weights on both sides
ROUNDS = 5
COPIES = 4  # each photo this many times in the CLI's folder, so its start-up is small beside the images


def photos() -> list[Path]:
    shared = shared_dir()
    return [shared / r["image"] for r in json.loads((shared / REFERENCE).read_text())["results"]]


class Tfjs:
    """The Node.js process running tfjs on the photos: started (model loaded, one warm-up pass) once."""

    def __init__(self, images: list[np.ndarray], folder: Path) -> None:
        if not (TFJS / "node_modules" / "@tensorflow-models" / "posenet").is_dir():
            raise SystemExit(f"tfjs is not installed: run `npm ci` in {TFJS} (make bench does)")
        entries = []
        for i, image in enumerate(images):
            (folder / f"{i}.rgb").write_bytes(np.ascontiguousarray(image, np.uint8).tobytes())
            entries.append({"name": str(i), "width": image.shape[1], "height": image.shape[0], "file": f"{i}.rgb"})
        manifest = folder / "images.json"
        manifest.write_text(json.dumps({"width": RESOLUTION[0], "height": RESOLUTION[1], "images": entries}))
        self.process = subprocess.Popen(["node", str(TFJS / "posenet_wasm.js"), str(shared_dir() / GRAPH_MODEL),
                                         str(manifest)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the tfjs benchmark process failed (see its error above)")
        return json.loads(line)

    def round(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def default_int8() -> PoseNet:
    """The int8 model of MODEL as `posenet models quantize` makes it (the default recipe), calibrated on the
    shared photos and clips as bench_litert does; made once into the benchmark cache."""
    from benchmarks.bench_litert import calibration, calibration_paths
    from posenet_cli.jobs.calibration import describe
    from posenet_cli.models.backend import quantize_model

    try:
        return bench_net(MODEL, 16, "litert", True)[0]
    except Exception:  # noqa: BLE001 - no int8 model made yet: make it
        savedmodel = Path(bench_net(MODEL, 16, "litert")[0].runner.metadata["savedmodel"])
        quantize_model(savedmodel, CACHE, calibration(), calibration=describe(calibration_paths()))
        return bench_net(MODEL, 16, "litert", True)[0]


def one_at_a_time(net: PoseNet, images: list[np.ndarray]) -> list[list[Pose]]:
    return [net.estimate(image, SIZING, TFJS_MULTI) for image in images]


def pipelined(net: PoseNet, images: list[np.ndarray], parallel: bool = True) -> list[list[Pose]]:
    return list(Pipeline(net, SIZING, TFJS_MULTI, parallel=parallel).estimate_images(images))


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float, float]:
    """fn(*args), its wall and process CPU seconds."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t, time.process_time() - c


def cli_round(folder: Path, one: Path, int8: bool, out: Path) -> tuple[float, float]:
    """`posenet image` per image without start-up: (folder run - one-photo run) / the images between; wall and
    CPU (the child processes' user + system) seconds."""
    args = ["--model", MODEL, "--resolution", f"{RESOLUTION[0]}x{RESOLUTION[1]}",
            "--max-poses", str(TFJS_MULTI.max_poses), "--score-threshold", str(TFJS_MULTI.score_threshold),
            "--min-pose-score", "0", "--overwrite", "-q"]
    args += ["--int8"] if int8 else []
    times = []
    for target in (folder, one):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "posenet_cli", "image", str(target), "--out", str(out), *args],
                       check=True, env=model_env(), capture_output=True, cwd=REPO)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        times.append((wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
    n = len(list(folder.iterdir())) - 1
    return (times[0][0] - times[1][0]) / n, (times[0][1] - times[1][1]) / n


def max_difference(a: list[list[Pose]], b: list[list[Pose]]) -> float:
    """The largest keypoint position difference (px) between two runs' poses; inf if the pose counts differ."""
    worst = 0.0
    for pa, pb in zip(a, b, strict=True):
        if len(pa) != len(pb):
            return float("inf")
        for x, y in zip(pa, pb):
            worst = max(worst, float(np.abs(x.keypoints[:, :2] - y.keypoints[:, :2]).max()))
    return worst


def tfjs_poses(round_: dict[str, Any], images: list[np.ndarray]) -> list[list[Pose]]:
    """tfjs's poses of one round as ours (keypoints in tfjs's part order, which is ours)."""
    return [[Pose(p["score"], [[k["position"]["x"], k["position"]["y"], k["score"]] for k in p["keypoints"]])
             for p in poses] for poses in round_["poses"]]


def python_rows(int8_net: PoseNet | None) -> dict[str, tuple[PoseNet, Callable[..., list[list[Pose]]]]]:
    float_net = bench_net(MODEL, 16, "litert")[0]
    rows = {"API float32, one at a time (PoseNet.estimate)": (float_net, one_at_a_time),
            "API float32, pipelined (Pipeline.estimate_images)": (float_net, pipelined)}
    if int8_net is not None:
        rows.update({"API int8, one at a time": (int8_net, one_at_a_time),
                     "API int8, pipelined": (int8_net, pipelined)})
    return rows


def run(int8_net: PoseNet | None = None) -> list[dict[str, Any]]:
    images = [read_image(p) for p in photos()]
    rows = python_rows(int8_net)
    wall: dict[str, list[float]] = {"tfjs": [], **{k: [] for k in rows}}
    cpu: dict[str, list[float]] = {k: [] for k in wall}
    same: dict[str, float] = {}
    clis = {"posenet image FOLDER (float32)": False, **({"posenet image FOLDER --int8": True} if int8_net else {})}
    for name in clis:
        wall[name], cpu[name] = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        for k in range(COPIES):
            for p in photos():
                shutil.copy(p, folder / f"{k}-{p.parent.name}-{p.name}")
        tfjs = Tfjs(images, Path(tmp))
        try:
            for _ in range(ROUNDS):
                result = tfjs.round()
                wall["tfjs"].append(statistics.fmean(result["wall_ms"]))
                cpu["tfjs"].append(result["cpu_ms"] / len(images))
                for name, (net, fn) in rows.items():
                    poses, w, c = timed(fn, net, images)
                    wall[name].append(w * 1e3 / len(images))
                    cpu[name].append(c * 1e3 / len(images))
                    same[name] = max_difference(poses, one_at_a_time(net, images))
                for name, int8 in clis.items():
                    w, c = cli_round(folder, photos()[0], int8, Path(tmp) / "out.jsonl")
                    wall[name].append(w * 1e3)
                    cpu[name].append(c * 1e3)
            reference = max_difference(tfjs_poses(result, images), one_at_a_time(rows[next(iter(rows))][0], images))
        finally:
            tfjs.close()
    return table(wall, cpu, same, tfjs.info, reference)


def table(wall: dict[str, list[float]], cpu: dict[str, list[float]], same: dict[str, float], info: dict[str, Any],
          reference: float) -> list[dict[str, Any]]:
    base, base_cpu = statistics.median(wall["tfjs"]), statistics.median(cpu["tfjs"])
    rows = []
    for name in wall:
        ms, cpu_ms = statistics.median(wall[name]), statistics.median(cpu[name])
        label = (f"tfjs {info['posenet']} on tfjs-core {info['tfjs']} WASM (SIMD {info['simd']}, threads "
                 f"{info['threads']}), Node.js" if name == "tfjs" else name)
        rows.append({"what (641x481, multi-pose, 17 photos)": label, "ms/image": f"{ms:.1f}",
                     "best round": f"{min(wall[name]):.1f}", "CPU ms/image": f"{cpu_ms:.1f}",
                     "vs tfjs": f"{base / ms:.2f}x", "CPU vs tfjs": f"{base_cpu / cpu_ms:.2f}x",
                     "max px vs one at a time": "" if name not in same else f"{same[name]:.2g}"})
    rows.append({"what (641x481, multi-pose, 17 photos)":
                 f"(the product's float32 poses differ from tfjs's by at most {reference:.2g} px; "
                 f"{ROUNDS} interleaved rounds)"})
    return rows


def threads(int8_net: PoseNet | None = None, rounds: int = ROUNDS) -> list[dict[str, Any]]:
    """Interpreter threads against pipeline threads on 2 cores: LiteRT on 1 or 2 threads, one image at a time
    or pipelined (reading, resizing and decoding on threads beside the model), the pipeline's images on the
    one interpreter or on one single-threaded interpreter per thread (`Runner.workers`), interleaved rounds."""
    images = [read_image(p) for p in photos()]
    base = bench_net(MODEL, 16, "litert")[0]
    precisions = {"float32": base.runner.path, **({"int8": int8_net.runner.path} if int8_net else {})}
    cases = {}
    for precision, path in precisions.items():
        for n in (1, 2):
            net = PoseNet(runner=LiteRTRunner(path, n, metadata=base.runner.metadata))
            label = f"{precision}, 1 interpreter of {n} thread{'s' if n > 1 else ''}"
            cases[f"{label}, one at a time"] = (net, one_at_a_time)
            cases[f"{label}, pipelined"] = (net, partial(pipelined, parallel=False))
        cases[f"{precision}, 2 interpreters of 1 thread, pipelined (the default)"] = (net, pipelined)
    wall: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    for net, fn in cases.values():
        fn(net, images[:2])  # allocate each interpreter at its input size
    for _ in range(rounds):
        for name, (net, fn) in cases.items():
            _, w, c = timed(fn, net, images)
            wall[name].append(w * 1e3 / len(images))
            cpu[name].append(c * 1e3 / len(images))
    return [{"API, 641x481 multi-pose": name, "ms/image": f"{statistics.median(wall[name]):.1f}",
             "best round": f"{min(wall[name]):.1f}", "CPU ms/image": f"{statistics.median(cpu[name]):.1f}"}
            for name in cases]


def stages(int8_net: PoseNet | None = None, rounds: int = 3) -> list[dict[str, Any]]:
    """Where an image's time goes, one stage after another on one thread (the model on every core): reading
    (JPEG decoding), sizing (the bilinear resize), the model, pose decoding and writing the JSON lines record;
    wall and process CPU ms per image, medians over the photos and rounds."""
    paths = photos()
    nets = {"model, float32": bench_net(MODEL, 16, "litert")[0], **({"model, int8": int8_net} if int8_net else {})}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in ("read", "resize", *nets, "decode", "write")}
    with tempfile.TemporaryDirectory() as tmp:
        writer = open_writer("jsonl", Path(tmp) / "poses.jsonl", kind="image", settings={})
        for net in nets.values():
            one_at_a_time(net, [read_image(p) for p in paths[:2]])  # allocate the interpreters
        for _ in range(rounds):
            for path in paths:
                image, *t = timed(read_image, path)
                times["read"].append(tuple(t))
                plan = SIZING.plan(image.shape[0], image.shape[1], 16)
                x, *t = timed(plan.prepare, image)
                times["resize"].append(tuple(t))
                for name, net in nets.items():
                    outputs, *t = timed(net.runner, x)
                    times[name].append(tuple(t))
                outputs = {k: v[0] for k, v in outputs.items()}
                poses, *t = timed(net.decode, plan, outputs, TFJS_MULTI)
                times["decode"].append(tuple(t))
                _, *t = timed(partial(writer.write, str(path), poses, width=image.shape[1], height=image.shape[0]))
                times["write"].append(tuple(t))
        writer.close()
    return [{"stage (641x481, multi-pose)": name, "ms/image": f"{statistics.median(w for w, _ in v) * 1e3:.2f}",
             "CPU ms/image": f"{statistics.median(c for _, c in v) * 1e3:.2f}"} for name, v in times.items()]


def tables() -> dict[str, list[dict[str, Any]]]:
    int8_net = default_int8()
    return {"The browser reference: tfjs WASM against the API and posenet image (start-up excluded)": run(int8_net),
            "Threads: LiteRT's against the pipeline's (17 photos, 641x481)": threads(int8_net),
            "Where an image's time goes (stages one after another)": stages(int8_net)}


if __name__ == "__main__":
    from benchmarks.common import print_table

    for title, rows in tables().items():
        print_table(title, rows)
