"""`posenet models`: list, fetch, convert and inspect models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from ..models import DEFAULT_MODEL, MODELS, ModelRef
from ..models.registry import is_cached
from ..models.signature import SIGNATURE_DOC
from .common import start_tensorflow, unwritable
from .errors import fail
from .options import MODEL, MODEL_ARGUMENT, OUTPUT, UI, Group, takes
from .ui import Ui

app = typer.Typer(help="List, download, convert and inspect PoseNet models.", no_args_is_help=True)
# `models list` takes only where models are cached.
CACHE = Group("cache_dir", tuple(o for o in MODEL.options if o.name == "cache_dir"), lambda v, _: v["cache_dir"],
              MODEL.defaults)
OVERWRITE = Group("overwrite", tuple(o for o in OUTPUT.options if o.name == "overwrite"), lambda v, _: v["overwrite"],
                  OUTPUT.defaults)


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
    if out.exists() and not overwrite:
        fail(f"{out} exists; pass --overwrite to replace it")
    if not out.parent.is_dir():
        fail(f"cannot write {out}: folder {out.parent} does not exist")
    reason = unwritable(out.parent)
    if reason:
        fail(f"cannot write {out}: {reason}")
    start_tensorflow(ui)
    path = model.resolve(ui).path
    try:
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(path, out)  # type: ignore[arg-type]
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
