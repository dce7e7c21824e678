"""`posenet eval`: COCO keypoint AP of results against a COCO annotation file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..files import atomic_write
from ..output.evaluate import STAT_NAMES, evaluate
from .common import check_output
from .errors import ExitStatus
from .options import OVERWRITE, command


@command(overwrite=OVERWRITE)
def evaluate_results(
    predictions: Annotated[Path, typer.Argument(help="Results of 'posenet image': JSON, JSON lines, or "
                                                "--format coco.", show_default=False)],
    annotations: Annotated[Path, typer.Argument(help="COCO person keypoints (e.g. "
                                                "person_keypoints_val2017.json).", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the figures as JSON.",
                                             show_default=False)] = None,
    covered_only: Annotated[bool, typer.Option(
        "--covered-only", help="Score only the images the results cover (COCO results: those with a "
        "detection) instead of every annotated image.")] = False,
    *,
    overwrite: bool,
) -> int:
    """COCO keypoint accuracy (AP, AR) of results against annotations.

    AP, AP50, AP75, APm, APl and AR, over every annotated image, as pycocotools scores (an image without
    results is all misses; --covered-only scores only the images the results cover). Images are matched by
    file name; COCO results by image id.

    [bold]Example[/bold]

      posenet image val2017/ --format coco --out results.json

      posenet eval results.json person_keypoints.json
    """
    from rich.console import Console
    from rich.table import Table

    check_output(out, overwrite)
    result = evaluate(predictions, annotations, covered_only)
    table = Table(title=f"{predictions.name}: {result['images']} images, {result['detections']} poses",
                  title_justify="left", header_style="bold")
    for name in STAT_NAMES:
        table.add_column(name, justify="right")
    table.add_row(*(f"{result['stats'][name]:.3f}" for name in STAT_NAMES))
    Console(width=120).print(table)
    if out is not None:
        atomic_write(out, json.dumps(result, indent=2) + "\n")
    return ExitStatus.SUCCESS
