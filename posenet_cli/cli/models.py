"""`posenet models`: list, fetch, convert and inspect models."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ..jobs import JobOptions
from ..models import DEFAULT_MODEL, DEFAULT_STRIDE, MODELS, ModelRef
from ..models.registry import cached_sources, copy_savedmodel
from ..models.signature import SIGNATURE_DOC
from ..models.sources import OFFICIAL_BASE_URL, base_url
from .common import check_output
from .errors import fail
from .options import CACHE_DIR, MODEL_ARGUMENT, OVERWRITE, SAVEDMODEL, SIZING, UI, Job, command
from .ui import Ui

app = typer.Typer(help="List, download, convert and inspect PoseNet models.", no_args_is_help=True)


@app.command("list")
@command(cache_dir=CACHE_DIR)
def models_list(*, cache_dir: Path | None) -> None:
    """The named models: architecture, strides, size, source, cache.

    Each model's architecture, output strides and download size, the strides converted in the cache, and
    where their weights came from (official, a mirror, or the npm fallback; for a model not cached, where
    they would come from)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for col in ("name", "architecture", "multiplier", "strides", "size", "cached", "source"):
        table.add_column(col)
    for spec in MODELS.values():
        labels = {stride: _source_label(source) for stride, source in cached_sources(spec, cache_dir).items()}
        distinct = set(labels.values())
        table.add_row(
            spec.name + (" (default)" if spec.name == DEFAULT_MODEL else ""),
            "MobileNetV1" if spec.architecture == "mobilenet_v1" else "ResNet50",
            f"{spec.multiplier:.2f}" if spec.multiplier else "-",
            ",".join(map(str, spec.strides)),
            f"{spec.size_mb:.1f} MB",
            ",".join(map(str, labels)) or "no",
            _source_label(None) if not labels else distinct.pop() if len(distinct) == 1 else
            ", ".join(f"{stride}: {label}" for stride, label in labels.items()),
        )
    Console(width=200).print(table)


def _source_label(source: str | None) -> str:
    """Where weights come from, in a word: official, npm fallback, or the mirror's URL."""
    source = source or base_url()
    if source.startswith("npm:"):
        return "npm fallback"
    return "official" if source.startswith(OFFICIAL_BASE_URL) else source.rsplit("/", 1)[0] + "/"


@app.command("fetch")
@command(model=MODEL_ARGUMENT, ui=UI)
def models_fetch(*, model: ModelRef, ui: Ui) -> None:
    """Download a model and convert it for offline use.

    The cached SavedModel, and its LiteRT model where LiteRT runs it.

    [bold]Example[/bold]

      posenet models fetch mobilenet-v1-050 --stride 8
    """
    typer.echo(model.resolve(ui).path)


@app.command("convert")
@command(model=SAVEDMODEL, overwrite=OVERWRITE, ui=UI)
def models_convert(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the SavedModel to.")],
    *,
    model: ModelRef,
    overwrite: bool,
    ui: Ui,
) -> None:
    """Convert any supported model to a SavedModel for TensorFlow.

    A TensorFlow SavedModel with posenet's serving signature, from any model posenet reads."""
    check_output(out, overwrite, folder=True)
    ref = replace(model, backend="tensorflow", int8=False).resolve(ui)  # the SavedModel alone
    try:
        copy_savedmodel(Path(ref.path or ""), out)
    except OSError as e:
        fail(f"cannot write {out}: {e.strerror or e}")
    typer.echo(str(out))


@app.command("info")
@command(model=MODEL_ARGUMENT, ui=UI)
def models_info(*, model: ModelRef, ui: Ui) -> None:
    """A model's signature, stride, source, backend and cached files.

    The serving signature, output stride and source, the backend that runs it, and what is cached of it
    (the SavedModel, its LiteRT models)."""
    from ..models.environment import tensorflow_version
    from ..models.litert_runner import PRECISIONS, cached_model, read_model_metadata
    from ..models.sources import cache_root

    ref = model.resolve(ui)  # fetched, converted and its backend decided once
    runner = ref.load(ui)
    savedmodel = Path(ref.path or "")
    cache = cache_root(model.cache_dir)
    cached: dict[str, object] = {"savedmodel": str(savedmodel)}
    for precision in PRECISIONS:
        found = cached_model(savedmodel, cache, precision, tensorflow_version())
        cached[f"litert {precision}"] = None if found is None else {
            "path": str(found), "size_mb": round(found.stat().st_size / 1e6, 2),
            **{k: v for k, v in read_model_metadata(found.parent).items()
               if k in ("tensorflow", "calibration", "calibration_inputs", "float_layers")}}
    info = {"model": model.name, "output_stride": runner.output_stride,
            "backend": ref.backend + (" int8" if ref.int8 else ""),
            **runner.metadata, "cached": cached, "signature": SIGNATURE_DOC}
    typer.echo(json.dumps(info, indent=2))


@app.command("quantize")
@command(model=SAVEDMODEL, job=Job(sizing=SIZING), ui=UI)
def models_quantize(
    calibration: Annotated[list[Path], typer.Option("--calibration", "-c", show_default=False, help="Photos, "
                                                    "videos or folders like the ones the model will see "
                                                    "(repeatable); not the ones you evaluate it on.")],
    float_layers: Annotated[str | None, typer.Option("--float-layers", show_default=False, help="Backbone layers "
                                                     "kept in float32 beside the output heads, by number in running "
                                                     "order (0 Conv2d_0, 1 Conv2d_1_depthwise, 2 Conv2d_1_pointwise, "
                                                     "...), like 0,1,3,5,7 (the default, the measured best); "
                                                     "'none' quantises every layer, heads too.")] = None,
    *,
    model: ModelRef,
    job: JobOptions,
    ui: Ui,
) -> None:
    """Make the int8 LiteRT model that --int8 runs, from your photos.

    Full-integer quantisation calibrated on your photos or videos, prepared as estimation prepares them
    (the same input sizing). It replaces the model's int8 model made before, with a note saying what that
    was calibrated on.

    [bold]Example[/bold]

      posenet models quantize mobilenet-v1-075 -c photos/ -c clip.mp4
    """
    from ..jobs.calibration import calibration_inputs, describe
    from ..media.inputs import IMAGE, VIDEO, expand_inputs
    from ..models.backend import quantize_model
    from ..models.litert_runner import DEFAULT_FLOAT_LAYERS, cached_model, read_model_metadata
    from ..models.sources import cache_root

    layers = DEFAULT_FLOAT_LAYERS if float_layers is None else _layer_list(float_layers)
    paths = expand_inputs([str(p) for p in calibration], kinds=(IMAGE, VIDEO))
    ref = replace(model, backend="tensorflow", int8=False).resolve(ui)  # the SavedModel is what gets quantised
    with ui.step(f"preparing calibration inputs from {len(paths)} files"):
        inputs = calibration_inputs(paths, job.sizing, ref.known_stride() or DEFAULT_STRIDE)
    if (previous := cached_model(Path(ref.path or ""), cache_root(model.cache_dir), "int8")) is not None:
        made = read_model_metadata(previous.parent)
        ui.note(f"replacing the int8 model of {model.name} calibrated on {made.get('calibration') or 'unknown inputs'}"
                f" (float32: {made.get('float_layers', 'unknown')}): {previous}")
    out = quantize_model(Path(ref.path or ""), cache_root(model.cache_dir), inputs, layers,
                         calibration=describe(paths), reporter=ui)
    typer.echo(str(out))


def _layer_list(text: str) -> tuple[int, ...] | None:
    """--float-layers: 'none', or layer numbers separated by commas."""
    if text.strip().lower() == "none":
        return None
    try:
        return tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        fail(f"--float-layers takes layer numbers separated by commas, or 'none' (got {text!r})")
