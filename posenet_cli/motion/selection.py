"""One main person: the track a clip is about (the athlete among spotters and bystanders), kept by id.

The choice is made in the first frame where anyone is tracked, among the poses with an id there, and kept
by that id in every frame after: `largest` is the person whose confident keypoints span the largest box,
`centre` the one whose box centre is nearest the frame's centre, an integer that track id itself. Poses
without an id (faint ones the tracker leaves out) are never the main person.
"""

from __future__ import annotations

import numpy as np

from ..keypoints import keypoint_boxes
from ..pose import Pose
from .filtering import AnalysisError

PERSON_CHOICES = ("largest", "centre")


def check_person(person: str | int) -> str | int:
    """`person` itself when it is `largest`, `centre` or a track id (a positive integer); AnalysisError
    otherwise."""
    if person in PERSON_CHOICES or (isinstance(person, int) and not isinstance(person, bool) and person > 0):
        return person
    raise AnalysisError(f"`person` takes largest, centre or a track id (a positive integer), got {person!r}")


def parse_person(text: str) -> str | int:
    """`largest`, `centre` (or `center`), or a track id, from text; AnalysisError otherwise."""
    value = text.strip().lower()
    return check_person(int(value) if value.isdigit() else "centre" if value == "center" else value)


class PersonSelector:
    """Keeps only the main person's pose in each frame; fed one frame at a time."""

    def __init__(self, person: str | int, min_part_score: float) -> None:
        self.person = check_person(person)
        self.min_part_score = min_part_score
        self.chosen: int | None = person if isinstance(person, int) else None

    def choose(self, poses: list[Pose], width: float | None, height: float | None) -> int | None:
        """The id of the main person among `poses` (None when none has an id)."""
        tracked = [p for p in poses if p.id is not None]
        if not tracked:
            return None
        boxes = keypoint_boxes(np.stack([p.keypoints for p in tracked]), self.min_part_score)  # (P, 4)
        if self.person == "largest":
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            return tracked[int(np.argmax(area))].id
        if width is None or height is None:
            raise AnalysisError("`person='centre'` needs the frame size (the frames' width and height)")
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # (P, 2)
        distance = np.hypot(centres[:, 0] - (width - 1) / 2, centres[:, 1] - (height - 1) / 2)
        return tracked[int(np.argmin(distance))].id

    def __call__(self, poses: list[Pose], width: float | None = None, height: float | None = None) -> list[Pose]:
        if self.chosen is None:
            self.chosen = self.choose(poses, width, height)
        return [p for p in poses if p.id is not None and p.id == self.chosen]
