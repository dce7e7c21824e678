"""`posenet image`: poses in image files, to stdout, one file, or a folder of per-image results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..jobs import JobOptions, run_images
from ..media.inputs import IMAGE, expand_inputs
from ..models import ModelRef
from ..output import OutputOptions
from ..output.plan import Drawings, File, Folder, OutputPlan, Results, Stdout, Summary, names_folder
from ..output.writers import FOLDER_FORMATS, format_for
from .common import check_plan, load_net, run_job
from .errors import ExitStatus, echo_error, fail
from .options import IMAGE_JOB, MODEL, UI_VERBOSE, command, resume_option
from .signals import signals
from .ui import Ui


@command(model=MODEL, job=IMAGE_JOB, ui=UI_VERBOSE)
def image(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders, globs or @LIST files.",
                                                show_default=False)],
    out_arg: Annotated[str | None, typer.Option("--out", "-o", help="Output file, or a folder (an existing "
                                                "one, or ending in /) for one <name>.json per image "
                                                "(<name>_keypoints.json with --format openpose). Default "
                                                "(or -): stdout.", show_default=False)] = None,
    draw_arg: Annotated[str | None, typer.Option("--draw", help="Write annotated images: a file for one "
                                                 "input, a folder for several.", show_default=False)] = None,
    fail_fast: Annotated[bool, typer.Option("--fail-fast", help="Stop at the first unreadable image.")] = False,
    resume: Annotated[bool, resume_option("skip the images already in --out (JSON lines or a folder).")] = False,
    *,
    model: ModelRef,
    job: JobOptions,
    ui: Ui,
) -> int:
    """Poses in images: JSON for one image, JSON lines for several.

    One image's result goes to stdout as a JSON document, several images' as JSON lines (one per image).

    [bold]Examples[/bold]

      posenet image photo.jpg --stride 16

      posenet image photos/ --multi --out poses.jsonl --draw drawn/
    """
    paths = expand_inputs(inputs, kinds=(IMAGE,))
    plan = _plan(out_arg, draw_arg, len(paths), job.output, resume)
    if resume:
        paths = plan.images_left(paths)
        if not paths:
            ui.say(f"{out_arg} is already complete")
            return ExitStatus.SUCCESS
    check_plan(plan, paths)
    net = load_net(model, ui)
    writer = plan.writer(IMAGE, job.settings(net.output_stride, model.name, model.int8),
                         precision=job.output.precision, min_part_score=job.output.min_part_score, inputs=paths)
    assert writer is not None  # images always have results: a file, a folder or stdout
    one = len(paths) == 1
    summary = run_job(plan, writer, lambda: run_images(
        net, paths, writer, job, draw_to=plan.drawing if plan.drawings is not None else None, fail_fast=fail_fast,
        on_error=echo_error if ui.verbose or one else lambda m: None,
        progress=lambda it: ui.track(it, len(paths), "image"), stop=signals.requested))
    if not one:
        ui.summary("image", summary)
    if summary.errors:
        if one:
            return ExitStatus.ERROR
        fail(f"{summary.errors} of {len(paths)} images failed")
    return ExitStatus.SUCCESS


def _plan(out_arg: str | None, draw_arg: str | None, count: int, output: OutputOptions, resume: bool
          ) -> OutputPlan:
    """Where `count` images' results and drawings go: --out a file, a folder (named as one, or a folder
    format) or `-` (stdout); without --out, stdout, as a line per image on a terminal when --draw keeps
    the drawings; --draw a file for one image, else a folder."""
    out = None if out_arg in (None, "-") else Path(out_arg)
    fmt = format_for(out, output.format, "json" if count == 1 else "jsonl")
    results: Results
    if fmt in FOLDER_FORMATS or names_folder(out_arg):
        if out is None:
            fail(f"--format {fmt} writes a folder of files: give --out FOLDER/")
        results = Folder(out, fmt if fmt in FOLDER_FORMATS else "json")
    elif out is not None:
        results = File(out, fmt)
    elif out_arg is None and draw_arg is not None and sys.stdout.isatty():
        results = Summary()
    else:
        results = Stdout(fmt)
    drawings: Drawings = None
    if draw_arg is not None:
        one = count == 1 and not names_folder(draw_arg)
        drawings = File(Path(draw_arg)) if one else Folder(Path(draw_arg), None)
    plan = OutputPlan(results, drawings, overwrite=output.overwrite, resume=resume)
    if resume and not plan.resumable:
        fail("--resume continues a results folder or JSON lines file: give --out FOLDER/ or --out FILE.jsonl")
    return plan
