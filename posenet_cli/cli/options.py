"""Every option shared by several commands, declared once, in groups: one group per concern (model, sizing,
inference, decoder, across frames, output, video frames, terminal), each building that concern's options
object by keyword.

A command says what it takes: `@command(model=MODEL, job=Job(sizing=SIZING, ...), ui=UI)` gives it the
parameters `model: ModelRef`, `job: JobOptions` and `ui: Ui`, each built from its group's options (Typer sees
the options; the command sees the objects). A `Job` names the parts of a JobOptions the command takes (the
others keep the core's defaults) and is checked against the command's model (its stride, where that is known
before loading), so a bad option fails before any model is loaded. Defaults come from the core's dataclasses,
so a default lives in one place.

Longer than most modules on purpose: every option the commands share is declared here, once, with its help.
"""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import typer

from ..decode import DecoderOptions
from ..inference import InferenceError, InferenceOptions, parse_scales
from ..jobs import JobOptions
from ..media.inputs import MediaError
from ..models import BACKENDS, ModelRef, check_stride
from ..models.backend import choose_backend
from ..motion import AnalysisOptions
from ..output import BACKGROUNDS, DRAW_STYLES, OutputOptions
from ..output.writers import FORMATS
from ..sizing import DEFAULT_LONG_EDGE, SizingOptions
from ..stream.frames import FrameSpan
from ..stream.smoothing import SmoothOptions
from ..stream.temporal import AcrossFramesOptions
from ..stream.tracking import MIN_TRACKED_POSE_SCORE, TrackOptions
from .help import number, unwrapped
from .ui import Ui

T = TypeVar("T")


@dataclass(frozen=True)
class Opt:
    """One option: its type with its Typer declaration (`Annotated[type, typer.Option(...)]`), and its
    default (the core dataclass's field, where the option sets one). Its name is the keyword it has in its
    group (or in `command`)."""

    annotation: Any
    default: Any

    def parameter(self, name: str) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=self.annotation,
                                 default=self.default)


class Group(Generic[T]):
    """The options of one concern and the object they make: `build(**values)`, each option's value under
    its keyword here (the dataclass's field names, where `build` is the dataclass)."""

    def __init__(self, build: Callable[..., T], **options: Opt) -> None:
        self.build, self.options = build, options

    def parameters(self) -> list[inspect.Parameter]:
        return [option.parameter(name) for name, option in self.options.items()]

    def make(self, values: Mapping[str, Any]) -> T:
        return self.build(**{name: values[name] for name in self.options})


@dataclass(frozen=True)
class AcrossRequest:
    """--track and --smooth as given: each on or off, with its options."""

    track: bool
    tracking: TrackOptions
    smooth: bool
    smoothing: SmoothOptions

    def options(self, multi: bool) -> AcrossFramesOptions:
        """Smoothing several people needs to know who is who, so with multi-pose decoding --smooth turns
        tracking on."""
        track = self.track or (self.smooth and multi)
        return AcrossFramesOptions(self.tracking if track else None, self.smoothing if self.smooth else None)


@dataclass(frozen=True)
class Job:
    """The parts of a JobOptions a command takes, each from its group; a part not taken keeps the core's
    default. `make` builds them and checks them at the model's stride."""

    sizing: Group[SizingOptions] | None = None
    inference: Group[InferenceOptions] | None = None
    decoder: Group[DecoderOptions] | None = None
    across: Group[AcrossRequest] | None = None
    output: Group[OutputOptions] | None = None
    analysis: Group[AnalysisOptions] | None = None

    def parameters(self) -> list[inspect.Parameter]:
        return [p for f in fields(self) if (part := getattr(self, f.name)) is not None for p in part.parameters()]

    def make(self, values: Mapping[str, Any], model: ModelRef) -> JobOptions:
        """The job's options, checked at `model`'s stride where it is known before loading (else each
        image's plan checks the sizing)."""
        sizing = self.sizing.make(values) if self.sizing else SizingOptions()
        inference = self.inference.make(values) if self.inference else InferenceOptions()
        decoder = self.decoder.make(values) if self.decoder else DecoderOptions()
        across = self.across.make(values).options(decoder.multi) if self.across else AcrossFramesOptions()
        output = self.output.make(values) if self.output else OutputOptions()
        stride = model.known_stride()
        if stride:
            sizing = sizing.check(stride)
            inference = inference.check(stride, sizing)
        else:
            sizing = sizing.parsed()
        return JobOptions(sizing=sizing, decoder=decoder, across=across, output=output, inference=inference,
                          analysis=self.analysis.make(values) if self.analysis else AnalysisOptions())


Part = Group[Any] | Job | Opt


class Command:
    """A command as Typer reads it: the signature of its own parameters and its parts' options; called
    with those values, it calls `body` with each part's object (a Job's checked against `model`)."""

    def __init__(self, body: Callable[..., Any], parts: dict[str, Part]) -> None:
        own = inspect.signature(body).parameters
        for name, part in parts.items():  # a wrong command definition fails at import, not at a user's run
            if name not in own:
                raise TypeError(f"{body.__name__} takes {name} but has no parameter for it")
            if isinstance(part, Job) and "model" not in parts:
                raise TypeError(f"{body.__name__} takes a job: it needs a model to check it against")
        hints = typing.get_type_hints(body, include_extras=True)
        params = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in own.values() if p.name not in parts]
        for name, part in parts.items():
            params += [part.parameter(name)] if isinstance(part, Opt) else part.parameters()
        self.body, self.parts = body, parts
        self.own = [name for name in own if name not in parts]
        self.__signature__ = inspect.Signature(params)  # what Typer reads the options from
        self.__annotations__ = {p.name: p.annotation for p in params}
        self.__name__, self.__qualname__, self.__doc__ = body.__name__, body.__qualname__, unwrapped(body.__doc__)
        self.__module__ = body.__module__

    def __call__(self, **values: Any) -> Any:
        built: dict[str, Any] = {}
        for name, part in self.parts.items():
            if isinstance(part, Opt):
                built[name] = values[name]
            elif isinstance(part, Group):
                built[name] = part.make(values)
        for name, part in self.parts.items():  # after the model they are checked against
            if isinstance(part, Job):
                built[name] = part.make(values, built["model"])
        return self.body(**{name: values[name] for name in self.own}, **built)


def command(**parts: Part) -> Callable[[Callable[..., Any]], Command]:
    """Give a command the options of `parts`, each received as the keyword parameter of its name: a
    Group's object, a Job's JobOptions, an Opt's value."""
    return lambda body: Command(body, parts)


def choices(name: str, values: tuple[str, ...]) -> Any:
    """A str Enum of a core tuple of choices, which is how Typer takes a choice (builders take its `.value`)."""
    return Enum(name, {v: v for v in values}, type=str)


# ------------------------------------------------------------------------------------------------ model

MODEL_HELP = "Model name (see 'posenet models list'), a tfjs model folder/URL, or a SavedModel directory."


Backend = choices("Backend", BACKENDS)


def _model(*, model: str, stride: int | None, cache_dir: Path | None, base_url: str | None,
           backend: Enum = Backend(ModelRef.backend), int8: bool = ModelRef.int8) -> ModelRef:
    name = os.path.expanduser(model)  # "~/models/x" as a quoted or --model=~/... argument too
    choose_backend(backend.value, int8)  # an impossible combination fails now, before any work
    return ModelRef(name=name, stride=None if stride is None else check_stride(stride),
                    cache_dir=None if cache_dir is None else str(cache_dir), base_url=base_url,
                    backend=backend.value, int8=int8)


MODEL_NAME = Opt(Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP, rich_help_panel="Model")],
                 ModelRef.name)
MODEL_NAME_ARGUMENT = Opt(Annotated[str, typer.Argument(help=MODEL_HELP, show_default=False)],
                          inspect.Parameter.empty)  # the `models` commands name the model as their argument
STRIDE = Opt(Annotated[int | None, typer.Option("--stride", "-s", show_default=False, rich_help_panel="Model",
                                                help="Output stride: 8, 16 or 32; smaller is more accurate and "
                                                "slower. Default: 16, or a SavedModel's own.")], ModelRef.stride)
CACHE_DIR = Opt(Annotated[Path | None, typer.Option("--cache-dir", envvar="POSENET_CACHE_DIR", show_default=False,
                                                    help="Where models are cached.", rich_help_panel="Model")],
                ModelRef.cache_dir)
BASE_URL = Opt(Annotated[str | None, typer.Option("--base-url", envvar="POSENET_BASE_URL", show_default=False,
                                                  help="Mirror of the official weights (URL or folder).",
                                                  rich_help_panel="Model")], ModelRef.base_url)
BACKEND = Opt(Annotated[Backend, typer.Option("--backend", envvar="POSENET_BACKEND", rich_help_panel="Model",
                                          metavar="NAME", help="What runs the model: litert (a .tflite converted "
                                          "from the SavedModel once, then no TensorFlow: fast start-up), "
                                          "tensorflow, or auto (LiteRT where it is installed).")],
              Backend(ModelRef.backend))
INT8 = Opt(Annotated[bool, typer.Option("--int8", rich_help_panel="Model", help="Run the int8 LiteRT model made "
                                        "by 'posenet models quantize': faster, slightly less accurate.")],
           ModelRef.int8)

MODEL = Group(_model, model=MODEL_NAME, stride=STRIDE, cache_dir=CACHE_DIR, base_url=BASE_URL, backend=BACKEND,
              int8=INT8)
MODEL_ARGUMENT = Group(_model, model=MODEL_NAME_ARGUMENT, stride=STRIDE, cache_dir=CACHE_DIR, base_url=BASE_URL,
                       backend=BACKEND, int8=INT8)
# convert and quantize make and use the SavedModel: how it would run is not theirs to say
SAVEDMODEL = Group(_model, model=MODEL_NAME_ARGUMENT, stride=STRIDE, cache_dir=CACHE_DIR, base_url=BASE_URL)

# ----------------------------------------------------------------------------------------------- sizing

SIZING = Group(
    SizingOptions,
    long_edge=Opt(Annotated[int | None, typer.Option("--long-edge", show_default=False, rich_help_panel="Input size",
                                                     help=f"Scale so the long side is about N px (default "
                                                     f"{DEFAULT_LONG_EDGE}), each side to the nearest size the "
                                                     "stride allows.")], SizingOptions.long_edge),
    scale_factor=Opt(Annotated[float | None, typer.Option("--scale-factor", show_default=False,
                                                          rich_help_panel="Input size",
                                                          help="tfjs 1.x sizing: scale each side by F "
                                                          "(0.2-1.0).")], SizingOptions.scale_factor),
    resolution=Opt(Annotated[str | None, typer.Option("--resolution", show_default=False,
                                                      rich_help_panel="Input size",
                                                      help="tfjs 2.x sizing: pad to the aspect ratio of N or WxH, "
                                                      "then resize.")], SizingOptions.resolution),
)

# -------------------------------------------------------------------------------------------- inference


def _inference(*, accurate: bool, scales: str | None, flip: bool | None, decode_stride: int | None
               ) -> InferenceOptions:
    """--accurate is the core's preset; --scales, --flip and --decode-stride, given with it, replace its own."""
    preset = InferenceOptions.accurate() if accurate else InferenceOptions()
    given: dict[str, Any] = {k: v for k, v in (("flip", flip), ("decode_stride", decode_stride)) if v is not None}
    if scales is not None:
        given["scales"] = parse_scales(scales)
        if not isinstance(preset.flip, bool) and "flip" not in given:
            raise InferenceError("--accurate mirrors some of its own scales only: with --scales, add --flip or "
                                 "--no-flip")
    return replace(preset, **given)


INFERENCE = Group(
    _inference,
    accurate=Opt(Annotated[bool, typer.Option("--accurate", rich_help_panel="Accuracy", help="More accurate "
                                              "keypoints for three network passes an image: the preset chosen by "
                                              "COCO keypoint AP (scales 0.89,1.33 with the smaller mirrored, "
                                              "decoded at stride 8; docs/accuracy.md).")], False),
    scales=Opt(Annotated[str | None, typer.Option("--scales", show_default=False, rich_help_panel="Accuracy",
                                                  help="Run at these multiples of the input size (e.g. 1,1.5) and "
                                                  "fuse the outputs on the largest one's grid: one network pass "
                                                  "each.")], None),
    flip=Opt(Annotated[bool | None, typer.Option("--flip/--no-flip", show_default=False, rich_help_panel="Accuracy",
                                                 help="Also run each input mirrored (in the same batch) and "
                                                 "average its outputs in: twice the network time.")], None),
    decode_stride=Opt(Annotated[int | None, typer.Option("--decode-stride", show_default=False,
                                                         parser=number(int, 1), metavar="N",
                                                         rich_help_panel="Accuracy",
                                                         help="Decode on a finer grid than the output stride "
                                                         "(e.g. 8 at stride 16; the outputs are upsampled): a "
                                                         "little more accurate, for little time.")],
                      InferenceOptions.decode_stride),
)

# ---------------------------------------------------------------------------------------------- decoder

DECODER = Group(
    DecoderOptions,
    multi=Opt(Annotated[bool, typer.Option("--multi/--single", help="Find everyone (multi-pose decoding), or the "
                                           "one best pose (single-pose, arg-max; also dropped below "
                                           "--min-pose-score).", rich_help_panel="Decoding")], DecoderOptions.multi),
    max_poses=Opt(Annotated[int, typer.Option("--max-poses", parser=number(int, 1), metavar="N",
                                              help="Most poses per image (multi-pose).",
                                              rich_help_panel="Decoding")], DecoderOptions.max_poses),
    score_threshold=Opt(Annotated[float, typer.Option("--score-threshold", parser=number(float, 0.0, 1.0),
                                                      metavar="SCORE",
                                                      rich_help_panel="Decoding", help="Smallest part score that "
                                                      "can start a pose (multi-pose).")],
                        DecoderOptions.score_threshold),
    nms_radius=Opt(Annotated[float, typer.Option("--nms-radius", parser=number(float, 0.0), metavar="PX",
                                                 rich_help_panel="Decoding",
                                                 help="Poses whose same part lies within this many network-input "
                                                 "pixels are suppressed.")], DecoderOptions.nms_radius),
    refine_steps=Opt(Annotated[int, typer.Option("--refine-steps", parser=number(int, 1, 10), metavar="N",
                                                 rich_help_panel="Decoding",
                                                 help="Offset refinement steps (2: tfjs 2.x, 1: tfjs 1.x).")],
                     DecoderOptions.refine_steps),
    duplicate_oks=Opt(Annotated[float, typer.Option("--duplicate-oks", parser=number(float, 0.0, 1.0), metavar="OKS",
                                                    rich_help_panel="Decoding",
                                                    help="Drop a pose whose keypoints match a higher-scoring "
                                                    "pose's with an OKS above this (1: keep all).")],
                      DecoderOptions.duplicate_oks),
    min_pose_score=Opt(Annotated[float, typer.Option("--min-pose-score", parser=number(float, 0.0, 1.0),
                                                     metavar="SCORE", rich_help_panel="Output",
                                                     help="Drop poses scoring below this.")],
                       DecoderOptions.min_pose_score),
    mirror=Opt(Annotated[bool, typer.Option("--mirror", rich_help_panel="Output", help="Mirror left-right (a selfie "
                                            "view): drawings are flipped and x becomes width-1-x; part labels "
                                            "stay.")], DecoderOptions.mirror),
)

# ---------------------------------------------------------------------------------------- across frames


def _across(*, track: bool, track_max_age: int, track_min_similarity: float, smooth: bool,
            smooth_min_cutoff: float, smooth_beta: float, smooth_d_cutoff: float) -> AcrossRequest:
    return AcrossRequest(
        track=track, tracking=TrackOptions(max_age=track_max_age, min_similarity=track_min_similarity),
        smooth=smooth, smoothing=SmoothOptions(min_cutoff=smooth_min_cutoff, beta=smooth_beta,
                                               d_cutoff=smooth_d_cutoff))


_FRAMES_PANEL = "Across frames"
ACROSS_FRAMES = Group(
    _across,
    track=Opt(Annotated[bool, typer.Option("--track", rich_help_panel=_FRAMES_PANEL, help="Give each person an id "
                                           "that stays while they are in view (matched by keypoint similarity, "
                                           f"OKS); poses scoring under {MIN_TRACKED_POSE_SCORE} (faint duplicates) "
                                           "get no id.")], False),
    track_max_age=Opt(Annotated[int, typer.Option("--track-max-age", parser=number(int, 0), metavar="FRAMES",
                                                  rich_help_panel=_FRAMES_PANEL,
                                                  help="Frames a lost person's id is kept for their return.")],
                      TrackOptions.max_age),
    track_min_similarity=Opt(Annotated[float, typer.Option("--track-min-similarity", parser=number(float, 0.0, 1.0),
                                                           metavar="OKS",
                                                           rich_help_panel=_FRAMES_PANEL,
                                                           help="Lowest OKS (or box IoU) that continues a "
                                                           "track.")], TrackOptions.min_similarity),
    smooth=Opt(Annotated[bool, typer.Option("--smooth", rich_help_panel=_FRAMES_PANEL, help="Steady keypoints with "
                                            "a One Euro filter (raw positions kept as \"raw\"); with --multi it "
                                            "implies --track.")], False),
    smooth_min_cutoff=Opt(Annotated[float, typer.Option("--smooth-min-cutoff", parser=number(float, 0, above=True),
                                                        metavar="HZ", rich_help_panel=_FRAMES_PANEL,
                                                        help="One Euro min cutoff (Hz): lower is steadier when "
                                                        "still.")], SmoothOptions.min_cutoff),
    smooth_beta=Opt(Annotated[float, typer.Option("--smooth-beta", parser=number(float, 0.0), metavar="BETA",
                                                  rich_help_panel=_FRAMES_PANEL,
                                                  help="One Euro speed coefficient: higher lags less when "
                                                  "moving.")], SmoothOptions.beta),
    smooth_d_cutoff=Opt(Annotated[float, typer.Option("--smooth-d-cutoff", parser=number(float, 0, above=True),
                                                      metavar="HZ", rich_help_panel=_FRAMES_PANEL,
                                                      help="One Euro cutoff (Hz) of the speed estimate.")],
                        SmoothOptions.d_cutoff),
)

# ------------------------------------------------------------------------------------------ video frames


def _frames(*, start: float, end: float | None, every: int) -> FrameSpan:
    if end is not None and end <= start:
        raise MediaError(f"--end ({end}) must be after --start ({start})")
    return FrameSpan(start=start, end=end, every=every)


FRAMES = Group(
    _frames,
    start=Opt(Annotated[float, typer.Option("--start", parser=number(float, 0.0), metavar="SEC",
                                            help="Start at this second.",
                                            rich_help_panel="Video frames")], FrameSpan.start),
    end=Opt(Annotated[float | None, typer.Option("--end", parser=number(float, 0.0), metavar="SEC",
                                                 help="Stop at this second.", show_default=False,
                                                 rich_help_panel="Video frames")], FrameSpan.end),
    every=Opt(Annotated[int, typer.Option("--every", parser=number(int, 1), metavar="N",
                                          help="Process every Nth frame.",
                                          rich_help_panel="Video frames")], FrameSpan.every),
)

# ----------------------------------------------------------------------------------------------- output

OVERWRITE = Opt(Annotated[bool, typer.Option("--overwrite", help="Replace existing output files.",
                                             rich_help_panel="Output")], OutputOptions.overwrite)
Format = choices("Format", FORMATS)
DrawStyle = choices("DrawStyle", DRAW_STYLES)
Background = choices("Background", BACKGROUNDS)


def _output(*, format: Enum | None = None, overwrite: bool, min_part_score: float, precision: int,
            draw_style: Enum = DrawStyle(OutputOptions.draw_style),
            background: Enum = Background(OutputOptions.background)) -> OutputOptions:
    return OutputOptions(format=None if format is None else format.value, overwrite=overwrite,
                         min_part_score=min_part_score, precision=precision, draw_style=draw_style.value,
                         background=background.value)


_FORMAT = Opt(Annotated[Format | None, typer.Option("--format", "-f", show_default=False, rich_help_panel="Output",
                                                 metavar="FORMAT", help="json, jsonl, csv, coco (COCO keypoint "
                                                 "results) or openpose (OpenPose's JSON: a <name>_keypoints.json "
                                                 "per image or frame in the --out folder). Default: from --out's "
                                                 "extension.")], OutputOptions.format)
_WRITING = dict(
    min_part_score=Opt(Annotated[float, typer.Option("--min-part-score", parser=number(float, 0.0, 1.0),
                                                     metavar="SCORE", rich_help_panel="Output",
                                                     help="Leave parts scoring below this out of drawings (and "
                                                     "out of OpenPose files: 0, 0, 0).")],
                       OutputOptions.min_part_score),
    precision=Opt(Annotated[int, typer.Option("--precision", parser=number(int, 0, 17), metavar="N",
                                              rich_help_panel="Output",
                                              help="Decimals of positions in results (2: 0.01 px; scores keep "
                                              "4).")], OutputOptions.precision),
    draw_style=Opt(Annotated[DrawStyle, typer.Option("--draw-style", rich_help_panel="Output", metavar="STYLE",
                                               help="How --draw draws: posenet (a colour per person) or openpose "
                                               "(OpenPose's 18-point skeleton and limb colours, as ControlNet "
                                               "takes).")], DrawStyle(OutputOptions.draw_style)),
    background=Opt(Annotated[Background, typer.Option("--background", rich_help_panel="Output",
                                               help="What --draw draws on: the input image, or black (a pose "
                                               "image of the input's size).")], Background(OutputOptions.background)),
)
OUTPUT = Group(_output, format=_FORMAT, overwrite=OVERWRITE, **_WRITING)
# batch writes <name>.json per image and <name>.jsonl per video: --format is not one of its options
BATCH_OUTPUT = Group(_output, overwrite=OVERWRITE, **_WRITING)
RESULTS_OUTPUT = Group(_output, format=_FORMAT, overwrite=OVERWRITE, min_part_score=_WRITING["min_part_score"],
                       precision=_WRITING["precision"])

# --------------------------------------------------------------------------------------------- terminal

QUIET = Opt(Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")], Ui.quiet)
UI = Group(Ui, quiet=QUIET)
UI_VERBOSE = Group(Ui, quiet=QUIET, verbose=Opt(Annotated[bool, typer.Option("--verbose", "-v", help="Also "
                                                                            "report each failed item.")],
                                                Ui.verbose))

# The jobs the commands take: what a stream remembers is for streams; bench writes nothing
STREAM_JOB = Job(sizing=SIZING, inference=INFERENCE, decoder=DECODER, across=ACROSS_FRAMES, output=OUTPUT)
IMAGE_JOB = Job(sizing=SIZING, inference=INFERENCE, decoder=DECODER, output=OUTPUT)
BENCH_JOB = Job(sizing=SIZING, inference=INFERENCE, decoder=DECODER)


def resume_option(what: str) -> Any:
    """`--resume` as each command means it: `what` it keeps from an interrupted run."""
    return typer.Option("--resume", help=f"Continue an interrupted run: {what}", rich_help_panel="Output")
