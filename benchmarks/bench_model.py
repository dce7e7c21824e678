"""The SavedModel alone: ms per frame for MobileNet 0.50 / 0.75 (1.x checkpoints, stride 16) at 257 and 513 px,
batch 1 and 8 (median of several runs after warm-up), and the cold load time of ModelRunner.load.

Models are exported from the shared checkpoints into a temporary folder, then loaded back with ModelRunner,
so the timing is of exactly what the CLI runs. Cold load is measured in a fresh Python process (TensorFlow
import, ModelRunner.load, first call at 257 px each timed separately).

`python -m benchmarks.bench_model --jit` also times the same models exported with XLA (jit_compile=True).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import REPO, print_table, shared_dir

MULTIPLIERS = ("050", "075")
SIZES = (257, 513)
BATCHES = (1, 8)
STRIDE = 16


def export_models(folder: Path, jit_compile: bool = False) -> dict[str, Path]:
    """Export the 0.50 and 0.75 checkpoints at stride 16 into `folder`; name -> SavedModel dir."""
    from posenet_cli.models import network
    from posenet_cli.models.savedmodel import export_savedmodel
    from posenet_cli.models.weights import read_checkpoint

    saved = network.JIT_COMPILE
    network.JIT_COMPILE = jit_compile  # read when a network is built
    try:
        out = {}
        for m in MULTIPLIERS:
            src = shared_dir() / "models" / "weights" / "posenet" / f"mobilenet_v1_{m}"
            net = network.build_mobilenet_v1(read_checkpoint(lambda rel, src=src: src / rel), STRIDE)
            out[m] = folder / f"mobilenet-v1-{m}-stride{STRIDE}{'-xla' if jit_compile else ''}"
            export_savedmodel(net, out[m], {"source": str(src), "jit_compile": jit_compile})
        return out
    finally:
        network.JIT_COMPILE = saved


def time_runner(path: Path, size: int, batch: int, label: str) -> dict[str, Any]:
    """Median ms per frame of ModelRunner on random images, after two warm-up calls."""
    from posenet_cli.models.savedmodel import ModelRunner

    runner = ModelRunner.load(path)
    images = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    start = time.perf_counter()
    runner(images)
    first = time.perf_counter() - start
    runner(images)
    repeats = max(5, int(2.0 / max(first, 1e-3)))  # about two seconds per row, at least 5 runs
    times = []
    for _ in range(min(repeats, 30)):
        start = time.perf_counter()
        runner(images)
        times.append((time.perf_counter() - start) * 1e3)
    per_batch = statistics.median(times)
    return {"model": label, "input px": f"{size}x{size}", "batch": batch, "runs": len(times),
            "ms/frame": f"{per_batch / batch:.2f}", "ms/batch": f"{per_batch:.1f}",
            "frames/s": f"{1e3 * batch / per_batch:.0f}", "first call ms": f"{first * 1e3:.0f}"}


_COLD = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np, tensorflow as tf
t1 = time.perf_counter()
from posenet_cli.models.savedmodel import ModelRunner
runner = ModelRunner.load(sys.argv[1])
t2 = time.perf_counter()
runner(np.zeros((1, 257, 257, 3), np.float32))
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first": t3 - t2}))
"""


def cold_load(path: Path, label: str) -> dict[str, Any]:
    """ModelRunner.load in a fresh process (median of 3): TensorFlow import, load, first 257 px call."""
    runs = []
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", _COLD, str(path)], capture_output=True, text=True, cwd=REPO,
                              check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return {"model": label, "cold load": "ModelRunner.load", "load ms": f"{med['load'] * 1e3:.0f}",
            "first call ms": f"{med['first'] * 1e3:.0f}", "import tensorflow ms": f"{med['import'] * 1e3:.0f}"}


def run(jit_compile: bool = False) -> list[dict[str, Any]]:
    """The table rows: per-frame times for every model/size/batch, then the cold loads."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="posenet-bench-") as tmp:
        models = export_models(Path(tmp), jit_compile)
        for m, path in models.items():
            label = f"mobilenet-v1-{m} s{STRIDE}{' xla' if jit_compile else ''}"
            for size in SIZES:
                for batch in BATCHES:
                    rows.append(time_runner(path, size, batch, label))
        for m, path in models.items():
            rows.append(cold_load(path, f"mobilenet-v1-{m} s{STRIDE}{' xla' if jit_compile else ''}"))
    return rows


def main() -> None:
    print_table("SavedModel alone (ms/frame) and cold load", run())
    if "--jit" in sys.argv[1:]:
        print_table("The same exported with jit_compile=True (XLA)", run(jit_compile=True))


if __name__ == "__main__":
    main()
