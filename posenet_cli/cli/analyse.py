"""`posenet analyse`: motion analysis of a finished `posenet video` result (JSON lines, or a JSON document):
angles, one main person, offline filtering, plots, with the options `posenet video` takes for the same."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ..errors import PoseNetError
from ..files import close_all
from ..jobs import JobOptions
from ..motion import AnalysisOptions
from ..motion.filtering import frame_step_ms
from ..output import OutputOptions
from ..output.plan import File, OutputPlan, Stdout
from ..output.records import FormatError, read_results
from ..output.writers import format_for
from ..pose import Pose
from .common import check_plan
from .errors import ExitStatus, fail
from .motion import ANALYSIS, PLOT_HELP, check_analysis, results_writer
from .options import RESULTS_OUTPUT, UI, command
from .ui import Ui


def read_frames(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The settings (if recorded) and the frame and error records of a `posenet video` result."""
    document, is_lines = read_results(path)
    if is_lines:
        records = document
    elif isinstance(document, dict) and isinstance(document.get("frames"), list):
        return dict(document.get("settings") or {}), document["frames"]
    else:
        records = [document]  # a file of one JSON line
    if not all(isinstance(r, dict) and "frame" in r for r in records):
        raise FormatError(f"{path}: not the frames of a video ('posenet video' results: records with \"frame\")")
    headed = next((r for r in records if isinstance(r.get("settings"), dict)), None)  # JsonLinesWriter's header
    return dict(headed.pop("settings")) if headed else {}, records


@command(output=RESULTS_OUTPUT, analysis=ANALYSIS, ui=UI)
def analyse(
    results: Annotated[Path, typer.Argument(help="Frames written by 'posenet video' (JSON lines or JSON).",
                                            show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Analysed poses: .jsonl, .json or .csv "
                                             "(default: JSON lines on stdout unless --plot).",
                                             show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help=PLOT_HELP, show_default=False,
                                              rich_help_panel="Motion analysis")] = None,
    frame_size: Annotated[str | None, typer.Option("--frame-size", metavar="WxH", show_default=False,
                                                   rich_help_panel="Motion analysis",
                                                   help="The video's frame size, for --person centre.")] = None,
    *,
    output: OutputOptions,
    analysis: AnalysisOptions,
    ui: Ui,
) -> int:
    """Motion analysis of the poses 'posenet video' wrote.

    The same results as giving these options to 'posenet video', without running the model again.

    [bold]Examples[/bold]

      posenet analyse poses.jsonl --person largest --angles --out angles.csv

      posenet analyse poses.jsonl --angles --filter butterworth --plot angles.png
    """
    job = JobOptions(output=output, analysis=analysis)
    fmt = format_for(out, job.output.format, "jsonl")
    if fmt not in ("json", "jsonl", "csv"):
        fail(f"posenet analyse writes json, jsonl or csv, not {fmt}")
    check_analysis(job, fmt, plot, resume=False)
    plan = OutputPlan(File(out, fmt) if out is not None else Stdout(fmt) if plot is None else None,
                      overwrite=job.output.overwrite)
    check_plan(plan)
    width, height = _size(frame_size)
    if job.analysis.person == "centre" and width is None:
        fail("--person centre needs the video's frame size: give --frame-size WxH")
    settings, records = read_frames(results)
    source = settings.pop("source", None)
    settings.update(job.analysis.settings())
    if source is not None:
        settings["source"] = source  # last, as posenet video records it
    fps = _frame_rate(records) if job.analysis.filter else math.inf
    writer = results_writer(plan, job, settings, fps, plot=plot)
    assert writer is not None  # without results there is a plot, which analysed() writes
    selector = job.analysis.selector(job.output.min_part_score)
    try:
        for record in records:
            if "error" in record:
                writer.error(int(record["frame"]), str(record["error"]))
                continue
            poses = [Pose.from_dict(p) for p in record.get("poses", [])]
            if selector is not None:
                poses = selector(poses, width, height)
            writer.write(int(record["frame"]), poses, width=width or 0, height=height or 0,
                         time_ms=float(record["time_ms"]))
    except BaseException as e:
        close_all([writer], e)
        if isinstance(e, (KeyError, TypeError, ValueError)) and not isinstance(e, PoseNetError):
            raise FormatError(f"{results}: a frame record is not in the shape 'posenet video' writes ({e})") from None
        raise
    close_all([writer])
    ui.say(f"{len(records)} frames analysed" + (f"; plot: {plot}" if plot else ""))
    return ExitStatus.SUCCESS


def _size(text: str | None) -> tuple[int | None, int | None]:
    if text is None:
        return None, None
    w, _, h = text.lower().partition("x")
    if not (w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        fail(f"--frame-size takes WxH (e.g. 1280x720), got {text!r}")
    return int(w), int(h)


def _frame_rate(records: list[dict[str, Any]]) -> float:
    """Frames per second, from the median step of the records' times (inf with fewer than two)."""
    times = [r["time_ms"] for r in records if "error" not in r and isinstance(r.get("time_ms"), (int, float))]
    return 1000.0 / frame_step_ms(np.array(times)) if len(times) >= 2 else math.inf
