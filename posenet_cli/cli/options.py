"""Every option shared by several commands, declared once, in groups: one group per concern (model, sizing,
inference, decoder, across frames, output, terminal), each building that concern's options object.

A command is decorated with `@takes(MODEL, SIZING, ...)`: the decorator puts the groups' options into the
signature Typer reads, and calls the command with the objects the groups built, each as the keyword
parameter of the group's name (`model: ModelRef`, ...). A command with a `job` parameter gets the sizing,
inference, decoder, across-frames and output objects together, as one `JobOptions`. Defaults come from the core's
dataclasses, so a default lives in one place; options are checked when they are built (sizing at the
stride the user chose), before any model is loaded.
"""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..decode import DecoderOptions
from ..frames import FrameSpan
from ..inference import InferenceError, InferenceOptions, parse_scales
from ..jobs import JobOptions
from ..media.inputs import MediaError
from ..models import BACKENDS, ModelRef, check_stride
from ..models.runtime import choose_backend
from ..motion import FILTERS, AnalysisOptions, parse_person
from ..output import BACKGROUNDS, DRAW_STYLES, OutputOptions
from ..output.writers import FORMATS
from ..sizing import DEFAULT_LONG_EDGE, SizingOptions
from ..smoothing import SmoothOptions
from ..temporal import AcrossFramesOptions
from ..tracking import MIN_TRACKED_POSE_SCORE, TrackOptions
from .ui import Ui

# The groups whose objects make a JobOptions.
JOB_PARTS = ("sizing", "decoder", "across", "output", "inference", "analysis")
_FROM_DEFAULTS: Any = object()  # an Opt's default: the field of the same name in its group's dataclass


@dataclass(frozen=True)
class Opt:
    """One option: the parameter name, its type, its Typer declaration, and its default."""

    name: str
    type: Any
    option: Any  # typer.Option(...)
    default: Any = _FROM_DEFAULTS


@dataclass(frozen=True)
class Group:
    """The options of one concern and how their values become its options object (`build(values, built)`,
    where `built` holds the objects of the groups before it, by name)."""

    name: str  # the keyword the command receives the object as
    options: tuple[Opt, ...]
    build: Callable[[dict[str, Any], dict[str, Any]], Any]
    defaults: Any = None  # a dataclass instance whose fields give the options' defaults
    needs: tuple[str, ...] = ()  # groups `build` reads from `built`: they must come before this one

    def parameters(self) -> list[inspect.Parameter]:
        known = {f.name: getattr(self.defaults, f.name) for f in fields(self.defaults)} if self.defaults else {}
        return [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[o.type, o.option],
                                  default=known[o.name] if o.default is _FROM_DEFAULTS else o.default)
                for o in self.options]


def without(group: Group, *names: str) -> Group:
    """`group` without the options `names` (a command they do not apply to): they build as their defaults."""
    kept = tuple(o for o in group.options if o.name not in names)
    dropped = {o.name: getattr(group.defaults, o.name) if o.default is _FROM_DEFAULTS else o.default
               for o in group.options if o.name in names}
    return Group(group.name, kept, lambda v, built: group.build({**dropped, **v}, built), group.defaults,
                 group.needs)


def one_option(group: Group, name: str) -> Group:
    """A group of one option of `group`, received as that option's value under its own name."""
    (option,) = [o for o in group.options if o.name == name]
    return Group(name, (option,), lambda v, _: v[name], group.defaults)


def takes(*groups: Group) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the options of `groups`: its own parameters stay, the groups' are added (Typer sees
    them all), and the command is called with each group's object under the group's name."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(command, include_extras=True)
        declared = set(inspect.signature(command).parameters)
        wants_job = "job" in declared
        for n, group in enumerate(groups):  # a wrong command definition fails at import, not at a user's run
            missing = set(group.needs) - {g.name for g in groups[:n]}
            if missing:
                raise TypeError(f"{command.__name__}: group {group.name} needs {', '.join(sorted(missing))} first")
            if group.name not in declared and not (wants_job and group.name in JOB_PARTS):
                raise TypeError(f"{command.__name__} takes group {group.name} but has no parameter for it")
        received = {g.name for g in groups} | {"job"}
        own = [p.replace(annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(command).parameters.values() if p.name not in received]
        params = own + [p for g in groups for p in g.parameters()]

        def run(**values: Any) -> Any:
            built: dict[str, Any] = {}
            for group in groups:
                built[group.name] = group.build({o.name: values.pop(o.name) for o in group.options}, built)
            if wants_job:  # the parts the command does not also take by name go into its JobOptions only
                job = JobOptions(**{k: built[k] for k in JOB_PARTS if k in built})
                built = {k: v for k, v in built.items() if k in declared or k not in JOB_PARTS}
                built["job"] = job
            return command(**values, **built)

        run.__name__, run.__qualname__, run.__doc__ = command.__name__, command.__qualname__, command.__doc__
        run.__module__ = command.__module__
        run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        return run

    return decorate


# ------------------------------------------------------------------------------------------------ model

MODEL_HELP = "Model name (see 'posenet models list'), a tfjs model folder/URL, or a SavedModel directory."


def choices(name: str, values: tuple[str, ...]) -> Any:
    """A str Enum of a core tuple of choices, which is how Typer takes a choice."""
    return Enum(name, {v: v for v in values}, type=str)


Backend = choices("Backend", BACKENDS)


def _model(v: dict[str, Any], _: dict[str, Any]) -> ModelRef:
    name = os.path.expanduser(v["model"])  # "~/models/x" as a quoted or --model=~/... argument too
    cache_dir = None if v["cache_dir"] is None else str(v["cache_dir"])
    stride = None if v["stride"] is None else check_stride(v["stride"])
    backend = Backend(v["backend"]).value
    choose_backend(backend, v["int8"])  # an impossible combination fails now, before any work
    return ModelRef(name, stride, cache_dir, v["base_url"], backend=backend, int8=v["int8"])


MODEL = Group("model", (
    Opt("model", str, typer.Option("--model", "-m", help=MODEL_HELP, rich_help_panel="Model"), ModelRef.name),
    Opt("stride", int | None, typer.Option("--stride", "-s", show_default=False, rich_help_panel="Model",
                                           help="Output stride: 8, 16 or 32; smaller is more accurate and slower. "
                                           "Default: 16, or a SavedModel's own.")),
    Opt("cache_dir", Path | None, typer.Option("--cache-dir", envvar="POSENET_CACHE_DIR", show_default=False,
                                               help="Where models are cached.", rich_help_panel="Model")),
    Opt("base_url", str | None, typer.Option("--base-url", envvar="POSENET_BASE_URL", show_default=False,
                                             help="Mirror of the official weights (URL or folder).",
                                             rich_help_panel="Model")),
    Opt("backend", Backend, typer.Option("--backend", envvar="POSENET_BACKEND", rich_help_panel="Model",
                                         help="What runs the model: LiteRT (a .tflite converted from the SavedModel "
                                         "once, then no TensorFlow: fast start-up), TensorFlow, or auto (LiteRT "
                                         "where it is installed).")),
    Opt("int8", bool, typer.Option("--int8", rich_help_panel="Model",
                                   help="Run the int8 LiteRT model made by 'posenet models quantize': faster, "
                                   "slightly less accurate.")),
), _model, ModelRef())
# The `models` commands name the model as their argument.
MODEL_ARGUMENT = Group("model", (Opt("model", str, typer.Argument(help=MODEL_HELP, show_default=False),
                                     inspect.Parameter.empty), *MODEL.options[1:]), _model, ModelRef())

# ----------------------------------------------------------------------------------------------- sizing


def _sizing(v: dict[str, Any], built: dict[str, Any]) -> SizingOptions:
    """Checked at the model's stride where it is known before loading (else each image's plan checks)."""
    sizing = SizingOptions(v["scale_factor"], v["resolution"], v["long_edge"])
    stride = built["model"].known_stride()
    return sizing.check(stride) if stride else sizing.parsed()


SIZING = Group("sizing", (
    Opt("long_edge", int | None, typer.Option("--long-edge", show_default=False, rich_help_panel="Input size",
                                              help=f"Scale so the long side is about N px (default "
                                              f"{DEFAULT_LONG_EDGE}), each side to the nearest size the stride "
                                              "allows.")),
    Opt("scale_factor", float | None, typer.Option("--scale-factor", show_default=False, rich_help_panel="Input size",
                                                   help="tfjs 1.x sizing: scale each side by F (0.2-1.0).")),
    Opt("resolution", str | None, typer.Option("--resolution", show_default=False, rich_help_panel="Input size",
                                               help="tfjs 2.x sizing: pad to the aspect ratio of N or WxH, then "
                                               "resize.")),
), _sizing, SizingOptions(), needs=("model",))

# -------------------------------------------------------------------------------------------- inference


def _inference(v: dict[str, Any], built: dict[str, Any]) -> InferenceOptions:
    """--accurate is the core's preset; --scales, --flip and --decode-stride, given with it, replace its own."""
    preset = InferenceOptions.accurate() if v["accurate"] else InferenceOptions()
    given = {k: v[k] for k in ("flip", "decode_stride") if v[k] is not None}
    if v["scales"] is not None:
        given["scales"] = parse_scales(v["scales"])
        if not isinstance(preset.flip, bool) and "flip" not in given:
            raise InferenceError("--accurate mirrors some of its own scales only: with --scales, add --flip or "
                                 "--no-flip")
    inference = replace(preset, **given)
    stride = built["model"].known_stride()
    return inference.check(stride, built["sizing"]) if stride else inference


INFERENCE = Group("inference", (
    Opt("accurate", bool, typer.Option("--accurate", rich_help_panel="Accuracy", help="More accurate keypoints, "
                                       "several times slower: the preset chosen by measured COCO keypoint AP "
                                       "(scales 0.89,1.33 with the smaller mirrored, decoded at stride 8)."),
        False),
    Opt("scales", str | None, typer.Option("--scales", show_default=False, rich_help_panel="Accuracy",
                                           help="Run at these multiples of the input size (e.g. 1,1.5) and fuse "
                                           "the outputs on the largest one's grid: one network pass each."),
        None),
    Opt("flip", bool | None, typer.Option("--flip/--no-flip", show_default=False, rich_help_panel="Accuracy",
                                          help="Also run each input mirrored (in the same batch) and average "
                                          "its outputs in: twice the network time."), None),
    Opt("decode_stride", int | None, typer.Option("--decode-stride", show_default=False, min=1,
                                                  rich_help_panel="Accuracy",
                                                  help="Decode on a finer grid than the output stride (e.g. 8 "
                                                  "at stride 16; the outputs are upsampled): a little more "
                                                  "accurate, for little time."), None),
), _inference, InferenceOptions(), needs=("model", "sizing"))

# ---------------------------------------------------------------------------------------------- decoder

DECODER = Group("decoder", (
    Opt("multi", bool, typer.Option("--multi/--single", help="Find everyone (multi-pose decoding), or the one best "
                                    "pose (single-pose, arg-max; also dropped below --min-pose-score).",
                                    rich_help_panel="Decoding")),
    Opt("max_poses", int, typer.Option("--max-poses", min=1, help="Most poses per image (multi-pose).",
                                       rich_help_panel="Decoding")),
    Opt("score_threshold", float, typer.Option("--score-threshold", min=0.0, max=1.0, rich_help_panel="Decoding",
                                               help="Smallest part score that can start a pose (multi-pose).")),
    Opt("nms_radius", float, typer.Option("--nms-radius", min=0.0, rich_help_panel="Decoding",
                                          help="Poses whose same part lies within this many network-input pixels "
                                          "are suppressed.")),
    Opt("refine_steps", int, typer.Option("--refine-steps", min=1, max=10, rich_help_panel="Decoding",
                                          help="Offset refinement steps (2: tfjs 2.x, 1: tfjs 1.x).")),
    Opt("min_pose_score", float, typer.Option("--min-pose-score", min=0.0, max=1.0, rich_help_panel="Output",
                                              help="Drop poses scoring below this.")),
    Opt("mirror", bool, typer.Option("--mirror", rich_help_panel="Output", help="Mirror left-right (a selfie view): "
                                     "drawings are flipped and x becomes width-1-x; part labels stay.")),
), lambda v, _: DecoderOptions(**v), DecoderOptions())

# ---------------------------------------------------------------------------------------- across frames


def _across(v: dict[str, Any], built: dict[str, Any]) -> AcrossFramesOptions:
    """--track / --smooth. Smoothing several people needs to know who is who, so with --multi it turns
    tracking on."""
    track = v["track"] or (v["smooth"] and built["decoder"].multi)
    return AcrossFramesOptions(
        TrackOptions(v["track_max_age"], v["track_min_similarity"]) if track else None,
        SmoothOptions(v["smooth_min_cutoff"], v["smooth_beta"], v["smooth_d_cutoff"]) if v["smooth"] else None)


ACROSS_FRAMES = Group("across", (
    Opt("track", bool, typer.Option("--track", rich_help_panel="Across frames", help="Give each person an id that "
                                    "stays while they are in view (matched by keypoint similarity, OKS); poses "
                                    f"scoring under {MIN_TRACKED_POSE_SCORE} (faint duplicates) get no id."),
        False),
    Opt("track_max_age", int, typer.Option("--track-max-age", min=0, rich_help_panel="Across frames",
                                           help="Frames a lost person's id is kept for their return."),
        TrackOptions.max_age),
    Opt("track_min_similarity", float, typer.Option("--track-min-similarity", min=0.0, max=1.0,
                                                    rich_help_panel="Across frames",
                                                    help="Lowest OKS (or box IoU) that continues a track."),
        TrackOptions.min_similarity),
    Opt("smooth", bool, typer.Option("--smooth", rich_help_panel="Across frames", help="Steady keypoints with a One "
                                     "Euro filter (raw positions kept as \"raw\"); with --multi it implies --track."),
        False),
    Opt("smooth_min_cutoff", float, typer.Option("--smooth-min-cutoff", min=1e-6, rich_help_panel="Across frames",
                                                 help="One Euro min cutoff (Hz): lower is steadier when still."),
        SmoothOptions.min_cutoff),
    Opt("smooth_beta", float, typer.Option("--smooth-beta", min=0.0, rich_help_panel="Across frames",
                                           help="One Euro speed coefficient: higher lags less when moving."),
        SmoothOptions.beta),
    Opt("smooth_d_cutoff", float, typer.Option("--smooth-d-cutoff", min=1e-6, rich_help_panel="Across frames",
                                               help="One Euro cutoff (Hz) of the speed estimate."),
        SmoothOptions.d_cutoff),
), _across, needs=("decoder",))

# ------------------------------------------------------------------------------------------ video frames


def _frames(v: dict[str, Any], _: dict[str, Any]) -> FrameSpan:
    if v["end"] is not None and v["end"] <= v["start"]:
        raise MediaError(f"--end ({v['end']}) must be after --start ({v['start']})")
    return FrameSpan(**v)


FRAMES = Group("frames", (
    Opt("start", float, typer.Option("--start", min=0.0, help="Start at this second.",
                                     rich_help_panel="Video frames")),
    Opt("end", float | None, typer.Option("--end", min=0.0, help="Stop at this second.", show_default=False,
                                          rich_help_panel="Video frames")),
    Opt("every", int, typer.Option("--every", min=1, help="Process every Nth frame.",
                                   rich_help_panel="Video frames")),
), _frames, FrameSpan())

# ----------------------------------------------------------------------------------------------- output


Format = choices("Format", FORMATS)
DrawStyle = choices("DrawStyle", DRAW_STYLES)
Background = choices("Background", BACKGROUNDS)


def _output(v: dict[str, Any], _: dict[str, Any]) -> OutputOptions:
    return OutputOptions(v["fmt"].value if v["fmt"] else None, v["overwrite"], v["min_part_score"], v["precision"],
                         v["draw_style"].value, v["background"].value)


OUTPUT = Group("output", (
    Opt("fmt", Format | None, typer.Option("--format", "-f", show_default=False, rich_help_panel="Output",
                                           help="json, jsonl, csv, coco (COCO keypoint results) or openpose "
                                           "(OpenPose's JSON: a <name>_keypoints.json per image or frame in "
                                           "the --out folder). Default: from --out's extension."), None),
    Opt("overwrite", bool, typer.Option("--overwrite", help="Replace existing output files.",
                                        rich_help_panel="Output")),
    Opt("min_part_score", float, typer.Option("--min-part-score", min=0.0, max=1.0, rich_help_panel="Output",
                                              help="Leave parts scoring below this out of drawings (and out of "
                                              "OpenPose files: 0, 0, 0).")),
    Opt("precision", int, typer.Option("--precision", min=0, max=17, rich_help_panel="Output",
                                       help="Decimals of positions in results (2: 0.01 px; scores keep 4).")),
    Opt("draw_style", DrawStyle, typer.Option("--draw-style", rich_help_panel="Output",
                                              help="How --draw draws: posenet (a colour per person) or openpose "
                                              "(OpenPose's 18-point skeleton and limb colours, as ControlNet "
                                              "takes)."), DrawStyle(OutputOptions.draw_style)),
    Opt("background", Background, typer.Option("--background", rich_help_panel="Output",
                                               help="What --draw draws on: the input image, or black (a pose "
                                               "image of the input's size)."), Background(OutputOptions.background)),
), _output, OutputOptions())

# ------------------------------------------------------------------------------------------- analysis

Filter = choices("Filter", FILTERS)
PLOT_HELP = ("Draw each joint and segment angle over time, per person, to this image (.png, .svg or .pdf); "
             "filled gaps marked.")


def _analysis(v: dict[str, Any], _: dict[str, Any]) -> AnalysisOptions:
    return AnalysisOptions(v["angles"], None if v["person"] is None else parse_person(v["person"]),
                           None if v["filter"] is None else Filter(v["filter"]).value, v["filter_cutoff"],
                           fill_gaps=v["fill_gaps"])


ANALYSIS = Group("analysis", (
    Opt("angles", bool, typer.Option("--angles", rich_help_panel="Motion analysis",
                                     help="Add joint angles (0-180, 180 = straight) and segment angles (against "
                                     "the horizontal, counter-clockwise) to each pose; null where a keypoint "
                                     "scores under --min-part-score.")),
    Opt("person", str | None, typer.Option("--person", show_default=False, rich_help_panel="Motion analysis",
                                           metavar="largest|centre|ID",
                                           help="Keep one person in every output: the largest or the most "
                                           "central in the first frame anyone is tracked, or a track id. "
                                           "Turns on --track."), None),
    Opt("filter", Filter | None, typer.Option("--filter", show_default=False, rich_help_panel="Motion analysis",
                                              help="Zero-phase low-pass filter of each person's keypoints over "
                                              "the whole clip (raw positions kept as \"raw\"); written when the "
                                              "run ends."), None),
    Opt("filter_cutoff", float, typer.Option("--filter-cutoff", min=1e-6, rich_help_panel="Motion analysis",
                                             help="The filter's cut-off frequency (Hz).")),
    Opt("fill_gaps", int, typer.Option("--fill-gaps", min=0, rich_help_panel="Motion analysis", metavar="N",
                                       help="Interpolate gaps of up to N frames in a person's keypoints (marked "
                                       "\"filled\"; a frame they are missing from gets a pose marked filled).")),
), _analysis, AnalysisOptions())

# --------------------------------------------------------------------------------------------- terminal

QUIET = Opt("quiet", bool, typer.Option("--quiet", "-q", help="No progress or summary."), False)
UI = Group("ui", (QUIET,), lambda v, _: Ui(quiet=v["quiet"]))
UI_VERBOSE = Group("ui", (QUIET, Opt("verbose", bool, typer.Option("--verbose", "-v", help="Also report each "
                                                                   "failed item."), False)),
                   lambda v, _: Ui(quiet=v["quiet"], verbose=v["verbose"]))


def resume_option(what: str) -> Any:
    """`--resume` as each command means it: `what` it keeps from an interrupted run."""
    return typer.Option("--resume", help=f"Continue an interrupted run: {what}", rich_help_panel="Output")
