"""Motion analysis on the command line: its options (one group, for `video` and `analyse`), the checks
made before any work, and the results writer behind the analysis."""

from __future__ import annotations

import math
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..jobs import JobOptions
from ..jobs.analysis import AnalysedWriter
from ..motion import ANGLE_NAMES, FILTERS, AnalysisOptions, parse_person
from ..motion.filtering import butterworth_sos
from ..output.plan import OutputPlan
from ..output.plots import plot_format
from ..output.writers import VIDEO, Writer
from .common import check_output
from .errors import fail
from .help import number
from .options import ACROSS_FRAMES, DECODER, INFERENCE, OUTPUT, SIZING, Group, Job, Opt, choices

Filter = choices("Filter", FILTERS)
PLOT_HELP = ("Draw each joint and segment angle over time, per person, to this image (.png, .svg or .pdf); "
             "filled gaps marked.")
_MOTION_PANEL = "Motion analysis"


def _analysis(*, angles: bool, person: str | None, filter: Enum | None, filter_cutoff: float, fill_gaps: int
              ) -> AnalysisOptions:
    return AnalysisOptions(angles=angles, person=None if person is None else parse_person(person),
                           filter=None if filter is None else filter.value, filter_cutoff=filter_cutoff,
                           fill_gaps=fill_gaps)


ANALYSIS = Group(
    _analysis,
    angles=Opt(Annotated[bool, typer.Option("--angles", rich_help_panel=_MOTION_PANEL,
                                            help="Add joint angles (0-180, 180 = straight) and segment angles "
                                            "(against the horizontal, counter-clockwise) to each pose; null where "
                                            "a keypoint scores under --min-part-score.")], AnalysisOptions.angles),
    person=Opt(Annotated[str | None, typer.Option("--person", show_default=False, rich_help_panel=_MOTION_PANEL,
                                                  metavar="WHO",
                                                  help="Keep one person in every output: largest or centre (the "
                                                  "largest or most central in the first frame anyone is tracked), "
                                                  "or a track id. Turns on --track.")], None),
    filter=Opt(Annotated[Filter | None, typer.Option("--filter", show_default=False, rich_help_panel=_MOTION_PANEL,
                                                     help="Zero-phase low-pass filter of each person's keypoints "
                                                     "over the whole clip (raw positions kept as \"raw\"); "
                                                     "written when the run ends.")], None),
    filter_cutoff=Opt(Annotated[float, typer.Option("--filter-cutoff", parser=number(float, 0, above=True),
                                                    metavar="HZ", rich_help_panel=_MOTION_PANEL,
                                                    help="The filter's cut-off frequency (Hz).")],
                      AnalysisOptions.filter_cutoff),
    fill_gaps=Opt(Annotated[int, typer.Option("--fill-gaps", parser=number(int, 0), rich_help_panel=_MOTION_PANEL,
                                              metavar="N",
                                              help="Interpolate gaps of up to N frames in a person's keypoints "
                                              "(marked \"filled\"; a frame they are missing from gets a pose "
                                              "marked filled).")], AnalysisOptions.fill_gaps),
)

# a file's frames can be analysed as a whole clip (a live stream's cannot)
VIDEO_JOB = Job(sizing=SIZING, inference=INFERENCE, decoder=DECODER, across=ACROSS_FRAMES, output=OUTPUT,
                analysis=ANALYSIS)


def check_analysis(opts: JobOptions, fmt: str, plot: Path | None, resume: bool) -> None:
    """Motion analysis options that cannot be honoured with the rest fail before any work."""
    analysis = opts.analysis
    if analysis.angles and fmt not in ("json", "jsonl", "csv"):
        fail(f"--angles are written to json, jsonl and csv results, not {fmt}")
    if plot is not None:
        plot_format(plot)
        check_output(plot, opts.output.overwrite)
    if resume and (analysis.person is not None or analysis.offline or plot is not None):
        fail("--resume cannot continue --person, --filter, --fill-gaps or --plot; resume without them and run "
             "'posenet analyse' on the finished file")


def results_writer(plan: OutputPlan, opts: JobOptions, settings: dict[str, Any], fps: float, *,
                   plot: Path | None = None) -> Writer | None:
    """The writer of a stream's results at `fps` where `plan` puts them, with the columns motion analysis
    adds to CSV, behind motion analysis (analysed); a filter cut-off that rate cannot carry fails first,
    before any file is made."""
    if opts.analysis.filter is not None and math.isfinite(fps):
        butterworth_sos(opts.analysis.filter_cutoff, opts.analysis.filter_order, 1000.0 / fps)
    writer = plan.writer(VIDEO, settings, min_part_score=opts.output.min_part_score, precision=opts.output.precision,
                         angles=ANGLE_NAMES if opts.analysis.angles else (), filled=opts.analysis.fill_gaps > 0)
    return analysed(writer, opts, plot)


def analysed(writer: Writer | None, opts: JobOptions, plot: Path | None) -> Writer | None:
    """`writer` behind motion analysis when any is asked for (angles, filtering, a plot), else itself."""
    if not (opts.analysis.angles or opts.analysis.offline or plot is not None):
        return writer
    return AnalysedWriter(writer, opts.analysis, kind=VIDEO, min_part_score=opts.output.min_part_score,
                          precision=opts.output.precision, plot=plot)
