"""Motion analysis between a stream and its writer: angles added as frames come, or, for what needs the
whole clip (filtering, gap filling), the frames kept until the end and written then; and the angle plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..motion import AnalysisOptions, add_angles, analyse_clip
from ..output.writers import Writer
from ..pose import Pose


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
        self.held: list[tuple[Any, ...]] = []  # ("poses", item, poses, width, height, time_ms) | ("error", item, msg)
        self.seen: list[tuple[float, list[Pose]]] = []  # what was written, for the plot

    def add(self, item: str | int, poses: list[Pose], width: int, height: int, time_ms: float) -> None:
        if self.options.offline:
            self.held.append(("poses", item, poses, width, height, time_ms))
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
            self.held.append(("error", item, message))
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

    def _release(self, held: list[tuple[Any, ...]]) -> None:
        """Analyse the held frames as a clip and write them, errors in their places; unanalysed if it fails."""
        frames = [h for h in held if h[0] == "poses"]
        try:
            analysed = analyse_clip([h[5] for h in frames], [h[2] for h in frames], self.options,
                                    self.min_part_score)
        except BaseException:
            self._write_held(held, [h[2] for h in frames])
            raise
        self._write_held(held, analysed)

    def _write_held(self, held: list[tuple[Any, ...]], poses: list[list[Pose]]) -> None:
        frames = iter(poses)
        for entry in held:
            if entry[0] == "error":
                if self.inner is not None:
                    self.inner.error(entry[1], entry[2])
                continue
            _, item, _, width, height, time_ms = entry
            self._forward(item, next(frames), width, height, time_ms)
