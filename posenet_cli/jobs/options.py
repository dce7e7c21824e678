"""A job's options (the option objects of sizing, inference, decoder, across frames and output together) and
what a job reports."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..decode import DecoderOptions
from ..inference import InferenceOptions
from ..motion import AnalysisOptions
from ..output import OutputOptions
from ..sizing import SizingOptions
from ..stream.temporal import AcrossFramesOptions
from ..stream.tracking import TrackOptions


@dataclass(frozen=True)
class JobOptions:
    """What to estimate and keep (sizing, decoder, and the views the network runs on: inference), what a
    stream remembers (across frames), how results are written (output) and analysed (motion analysis).
    One main person is a track: asking for one turns tracking on."""

    sizing: SizingOptions = SizingOptions()
    decoder: DecoderOptions = DecoderOptions()
    across: AcrossFramesOptions = AcrossFramesOptions()
    output: OutputOptions = OutputOptions()
    inference: InferenceOptions = InferenceOptions()
    analysis: AnalysisOptions = AnalysisOptions()

    def __post_init__(self) -> None:
        if self.analysis.person is not None and self.across.track is None:
            object.__setattr__(self, "across", replace(self.across, track=TrackOptions()))

    def settings(self, output_stride: int, model: str, int8: bool = False) -> dict[str, Any]:
        """The settings recorded with every result, so a result says how it was made (an int8 model's
        results say so: they differ from the float model's by about a pixel)."""
        decoder = self.decoder.settings()
        return {"model": model, **({"int8": True} if int8 else {}), "output_stride": output_stride,
                "decoder": decoder.pop("decoder"),
                **self.sizing.settings(), **self.inference.settings(), **decoder, "mirror": self.decoder.mirror,
                "min_pose_score": self.decoder.min_pose_score, **self.across.settings(),
                "precision": self.output.precision, **self.analysis.settings()}


@dataclass
class Summary:
    """What a run did: items (images or frames) done, poses found, items that failed, elapsed time,
    and whether it was stopped early (a signal, or the user closing the window)."""

    items: int = 0
    poses: int = 0
    errors: int = 0
    seconds: float = 0.0
    stopped: bool = False

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0
