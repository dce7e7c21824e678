"""`posenet models`: list, fetch, convert and inspect models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..models import DEFAULT_MODEL, MODELS, ModelRef
from ..models.registry import is_cached
from ..models.signature import SIGNATURE_DOC
from .common import check_output, start_tensorflow
from .errors import fail
from .options import MODEL, MODEL_ARGUMENT, OUTPUT, UI, one_option, takes
from .ui import Ui

app = typer.Typer(help="List, download, convert and inspect PoseNet models.", no_args_is_help=True)
CACHE = one_option(MODEL, "cache_dir")  # all `models list` needs
OVERWRITE = one_option(OUTPUT, "overwrite")


@app.command("list")
@takes(CACHE)
def models_list(*, cache_dir: Path | None) -> None:
    """The named models: architecture, strides, download size, source and whether it is cached."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("name", "architecture", "multiplier", "strides", "size", "source", "cached"):
        table.add_column(col)
    for spec in MODELS.values():
        table.add_row(
            spec.name + (" (default)" if spec.name == DEFAULT_MODEL else ""),
            "MobileNetV1" if spec.architecture == "mobilenet_v1" else "ResNet50",
            f"{spec.multiplier:.2f}" if spec.multiplier else "-",
            ",".join(map(str, spec.strides)),
            f"{spec.size_mb:.1f} MB",
            spec.path + ("" if spec.kind == "checkpoint" else "model-stride*.json"),
            "yes" if is_cached(spec, cache_dir) else "no",
        )
    Console(width=200).print(table)


@app.command("fetch")
@takes(MODEL_ARGUMENT, UI)
def models_fetch(*, model: ModelRef, ui: Ui) -> None:
    """Download a model and convert it to a cached SavedModel, ready for offline use.

    [bold]Example[/bold]

      posenet models fetch mobilenet-v1-050 --stride 8
    """
    start_tensorflow(ui)
    typer.echo(model.resolve(ui).path)


@app.command("convert")
@takes(MODEL_ARGUMENT, OVERWRITE, UI)
def models_convert(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the SavedModel to.")],
    *,
    model: ModelRef,
    overwrite: bool,
    ui: Ui,
) -> None:
    """Convert any supported model to a TensorFlow SavedModel with posenet's serving signature."""
    check_output(out, overwrite, folder=True)
    start_tensorflow(ui)
    from ..models.savedmodel import copy_savedmodel

    try:
        copy_savedmodel(Path(model.resolve(ui).path), out)  # type: ignore[arg-type]
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror or e}")
    typer.echo(str(out))


@app.command("info")
@takes(MODEL_ARGUMENT, UI)
def models_info(*, model: ModelRef, ui: Ui) -> None:
    """The model's serving signature, output stride, input range and where it came from."""
    start_tensorflow(ui)
    runner = model.load(ui)
    info = {"model": model.name, "output_stride": runner.output_stride, **runner.metadata,
            "signature": SIGNATURE_DOC}
    typer.echo(json.dumps(info, indent=2))
