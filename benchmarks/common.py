"""What the benchmarks share: the shared data folder, a model cache, and the table printer."""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".bench-cache"  # converted models survive between benchmark runs


def shared_dir() -> Path:
    shared = Path(os.environ.get("POSENET_SHARED", REPO.parent / "shared"))
    if not (shared / "models").is_dir():
        sys.exit(f"benchmarks need the shared weights and media at {shared} (set POSENET_SHARED)")
    return shared


def model_env() -> dict[str, str]:
    """Environment for `posenet` subprocesses: the shared weights as mirror, the benchmark cache."""
    return {**os.environ, "POSENET_BASE_URL": str(shared_dir() / "models"), "POSENET_CACHE_DIR": str(CACHE)}


@cache
def bench_net(model: str = "mobilenet-v1-075", output_stride: int = 16, backend: str = "tensorflow",
              int8: bool = False):
    """A PoseNet from the shared weights (converted once into the benchmark cache) and its environment."""
    from posenet_cli.estimator import PoseNet
    from posenet_cli.models.environment import start_tensorflow

    if backend == "tensorflow":
        start_tensorflow()  # quietly: TensorFlow's start-up notices are not part of the tables
    net = PoseNet(model, output_stride, cache_dir=CACHE, base_url=str(shared_dir() / "models"), backend=backend,
                  int8=int8)
    return net, model_env()


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    table = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    Console(width=160).print(table)
