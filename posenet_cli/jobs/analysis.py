"""Motion analysis between a stream and its writer: angles added as frames come, or, for what needs the
whole clip (filtering, gap filling), the frames kept until the end and written then; and the angle plot."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..motion import AnalysisOptions, add_angles, analyse_clip
from ..output.writers import Writer
from ..pose import Pose


@dataclass(frozen=True)
class HeldFrame:
    """A frame's poses held for offline analysis, with what its record needs."""

    item: str | int
    poses: list[Pose]
    width: int
    height: int
    time_ms: float


@dataclass(frozen=True)
class HeldError:
    """An error record held in its place among the frames."""

    item: str | int
    message: str


class AnalysedWriter(Writer):
    """A writer that analyses the poses it is given, then hands them to `inner` (None: nothing is written
    but the plot). Poses are taken as written (rounded to `precision`), so analysing a finished JSON lines
    file (posenet analyse) gives what analysing the stream gave. Offline analysis writes at `close`: an
    interrupted run keeps every frame, analysed; one whose analysis fails keeps them unanalysed."""

    def __init__(self, inner: Writer | None, options: AnalysisOptions, *, kind: str, min_part_score: float,
                 precision: int | None, plot: Path | None = None) -> None:
        super().__init__(kind, inner.settings if inner is not None else {}, precision)
        self.inner, self.options, self.plot = inner, options, plot
        self.min_part_score = min_part_score
        self.held: list[HeldFrame | HeldError] = []  # in stream order, until `close` (offline analysis)
        self.seen: list[tuple[float, list[Pose]]] = []  # what was written, for the plot

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        if self.options.offline:
            self.held.append(HeldFrame(item, poses, width, height, time_ms))
            return
        if self.options.angles:
            poses = add_angles(poses, self.min_part_score)
        self._forward(item, poses, width, height, time_ms)

    def _forward(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        if self.inner is not None:
            self.inner.write(item, poses, width=width, height=height, time_ms=time_ms)
        if self.plot is not None:
            self.seen.append((time_ms, poses))

    def error(self, item: str | int, message: str) -> None:
        if self.options.offline:
            self.held.append(HeldError(item, message))
        elif self.inner is not None:
            self.inner.error(item, message)

    def close(self) -> None:
        held, self.held = self.held, []
        try:
            if held:
                self._release(held)
            if self.plot is not None and self.seen:
                from ..output.plots import plot_angles

                plot_angles(self.plot, self.seen, self.min_part_score)
        finally:
            if self.inner is not None:
                self.inner.close()

    def _release(self, held: list[HeldFrame | HeldError]) -> None:
        """Analyse the held frames as a clip and write them, errors in their places; unanalysed if it fails."""
        frames = [h for h in held if isinstance(h, HeldFrame)]
        try:
            analysed = analyse_clip([f.time_ms for f in frames], [f.poses for f in frames], self.options,
                                    self.min_part_score)
        except BaseException:
            self._write_held(held, [f.poses for f in frames])
            raise
        self._write_held(held, analysed)

    def _write_held(self, held: list[HeldFrame | HeldError], poses: list[list[Pose]]) -> None:
        """The held records written in order, each frame with its poses in `poses` (the frames' order)."""
        frames = iter(poses)
        for entry in held:
            if isinstance(entry, HeldError):
                if self.inner is not None:
                    self.inner.error(entry.item, entry.message)
                continue
            self._forward(entry.item, next(frames), entry.width, entry.height, entry.time_ms)
