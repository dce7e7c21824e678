"""`posenet bench`: frames per second on this machine, the model alone and the whole video path."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..jobs import JobOptions
from ..models import ModelRef
from .common import load_net
from .errors import fail
from .options import BENCH_JOB, MODEL, UI, command
from .ui import Ui


@command(model=MODEL, job=BENCH_JOB, ui=UI)
def bench(
    clip: Annotated[Path | None, typer.Argument(help="A video: also time the whole 'posenet video' path on "
                                                "it against the model alone.", show_default=False)] = None,
    sizes: Annotated[str, typer.Option("--sizes", help="Square input sizes for the model-alone rows.")] = "257,513",
    *,
    model: ModelRef,
    job: JobOptions,
    ui: Ui,
) -> None:
    """Measure speed on this machine: the model alone, and a video's path.

    The model alone in frames/s by input size and batch and, given a video, the whole video path as a
    fraction of the model alone.

    [bold]Examples[/bold]

      posenet bench

      posenet bench street.mp4 --multi --scale-factor 0.5
    """
    from rich.console import Console
    from rich.table import Table

    from ..jobs.bench import measure

    try:
        square = [int(v) for v in sizes.split(",") if v.strip()]
    except ValueError:
        fail(f"--sizes must be comma-separated numbers (got {sizes!r})")
    if clip is not None and not clip.is_file():
        fail(f"cannot open video {str(clip)!r}: no such file")
    model = model.resolve(ui)  # its backend decided (auto may fall back on TensorFlow), for the title
    net = load_net(model, ui)
    if any(s < 1 or (s - 1) % net.output_stride for s in square):
        fail(f"--sizes must be multiples of the stride plus one, like 257 or 513 (got {sizes})")
    console = Console(stderr=True)
    with console.status("measuring") as status:
        rows = measure(net, clip, job, sizes=square, on_row=lambda row: status.update(
            f"measured {row['what']} {row['input']} batch {row['batch']}"))
    views = job.inference.settings()  # with views beyond one plain pass, the video path runs them all
    title = (f"{model.name}, stride {net.output_stride}, {model.backend}"
             f"{' int8' if model.int8 else ''}" + (f"; the video path with {views}" if views else ""))
    table = Table(title=title, title_justify="left", header_style="bold")
    columns = [c for c in ("what", "input", "batch", "frames/s", "ms/frame", "ratio") if any(c in r for r in rows)]
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    Console(width=120).print(table)
