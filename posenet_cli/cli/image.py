"""`posenet image`: poses in image files, to stdout, one file, or a folder of per-image results."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from ..files import close_all
from ..jobs import JobOptions, run_images
from ..media.inputs import IMAGE, expand_inputs
from ..models import ModelRef
from ..output.openpose import openpose_name
from ..output.resume import read_jsonl_resume, recorded_path
from ..output.writers import FOLDER_FORMATS, FolderWriter, Writer, format_for, open_writer, result_name
from .common import check_output, check_outputs, load_net, make_folder
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
                                                "(<name>_keypoints.json with --format openpose). Default: "
                                                "stdout.", show_default=False)] = None,
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
    output = job.output
    paths = expand_inputs(inputs, kinds=(IMAGE,))
    out, draw = (Path(a) if a is not None else None for a in (out_arg, draw_arg))
    fmt = format_for(out, output.format, "json" if len(paths) == 1 else "jsonl")
    to_dir = fmt in FOLDER_FORMATS or _names_folder(out_arg)
    name = openpose_name if fmt in FOLDER_FORMATS else result_name  # an image's file in the --out folder
    if fmt in FOLDER_FORMATS and out is None:
        fail(f"--format {fmt} writes a folder of files: give --out FOLDER/")
    if resume:
        paths = _images_left(paths, out, to_dir, fmt, name)
        if not paths:
            ui.say(f"{out} is already complete")
            return ExitStatus.SUCCESS
    elif to_dir:
        check_outputs([out / name(p) for p in paths], output.overwrite)  # type: ignore[operator]
    else:
        check_output(out, output.overwrite)
    if to_dir:
        make_folder(out, "output folder")  # type: ignore[arg-type]
    draw_to = None
    if draw is not None:
        if len(paths) == 1 and not _names_folder(draw_arg):
            check_output(draw, output.overwrite)
            draw_to = lambda p: draw  # noqa: E731
        else:
            check_outputs([draw / p.name for p in paths], output.overwrite or resume)
            make_folder(draw, "drawings folder")
            draw_to = lambda p: draw / p.name  # noqa: E731
    net = load_net(model, ui)
    settings = job.settings(net.output_stride, model.name, model.int8)
    writer: Writer
    if to_dir and fmt not in FOLDER_FORMATS:
        writer = FolderWriter(out, settings, output.precision)  # type: ignore[arg-type]
    else:
        writer = open_writer(fmt, out, kind=IMAGE, settings=settings, append=resume, precision=output.precision,
                             inputs=paths, min_part_score=output.min_part_score)
    one = len(paths) == 1
    try:
        with signals.deferred():
            summary = run_images(net, paths, writer, job, draw_to=draw_to, fail_fast=fail_fast,
                                 on_error=echo_error if ui.verbose or one else lambda m: None,
                                 progress=lambda it: ui.track(it, len(paths), "image"), stop=signals.requested)
    except BaseException as e:
        close_all((writer,), e)  # the images done so far are kept, and a failure to keep them is said
        raise
    close_all((writer,))
    if not one:
        ui.summary("image", summary)
    if summary.errors:
        if one:
            return ExitStatus.ERROR
        fail(f"{summary.errors} of {len(paths)} images failed")
    return ExitStatus.SUCCESS


def _names_folder(arg: str | None) -> bool:
    """Whether an output argument names a folder: an existing one, or a path ending in a slash (hence
    strings, not Paths, up to here: a Path drops the trailing slash)."""
    return arg is not None and (Path(arg).is_dir() or arg.endswith(("/", os.sep)))


def _images_left(paths: list[Path], out: Path | None, to_dir: bool, fmt: str, name: Callable[[Path], str]
                 ) -> list[Path]:
    """The images an interrupted run has not written yet (failed ones count as done where they are
    recorded: in JSON lines and JSON folders, not in OpenPose folders, which have no error records)."""
    if out is None or (not to_dir and fmt != "jsonl"):
        fail("--resume continues a results folder or JSON lines file: give --out FOLDER/ or --out FILE.jsonl")
    if to_dir:
        return [p for p in paths if not (out / name(p)).is_file()]
    records, _ = read_jsonl_resume(out)
    done = {recorded_path(r) for r in records}
    return [p for p in paths if str(p) not in done]
