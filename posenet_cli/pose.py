"""Pose results: a small array-backed type that converts to the tfjs result shape."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np

from .keypoints import NUM_KEYPOINTS, PART_NAMES

SCORE_DECIMALS = 4  # scores in outputs: 0.0001 is far below any difference a score threshold makes
BOX_MIN_PART_SCORE = 0.5  # a pose's box spans its keypoints scoring at least this (all when none does)


def _written_difference(a: float, b: float) -> float:
    """a - b computed on the two numbers' shortest decimal forms (what JSON and CSV show of them)."""
    return float(Decimal(repr(a)) - Decimal(repr(b)))


@dataclass(frozen=True)
class Keypoint:
    """One body part: its name, position in image pixels and confidence in [0, 1]."""

    part: str
    x: float
    y: float
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"part": self.part, "position": {"x": self.x, "y": self.y}, "score": self.score}


@dataclass
class Pose:
    """One person.

    `keypoints` is a float64 array of shape (17, 3); each row is (x, y, score) for the part
    `PART_NAMES[row]`, in the pixel space of whatever image the pose refers to.
    `id` is set by tracking and stays None otherwise. Motion analysis (posenet_cli.motion) adds `angles`
    ({name: degrees or None}), `filled` (17,) marking keypoints whose positions were interpolated across a
    gap, and `interpolated`: the whole pose was filled in, its person not found in that frame.
    """

    score: float
    keypoints: np.ndarray
    id: int | None = None
    raw: np.ndarray | None = field(default=None, repr=False)  # (17, 2) unsmoothed (unfiltered) x, y
    angles: dict[str, float | None] | None = field(default=None, repr=False)
    filled: np.ndarray | None = field(default=None, repr=False)  # (17,) bool
    interpolated: bool = False

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
        if self.keypoints.shape != (NUM_KEYPOINTS, 3):
            raise ValueError(f"a pose needs keypoints of shape (17, 3), got {self.keypoints.shape}")
        self.score = float(self.score)
        if self.filled is not None:
            self.filled = np.asarray(self.filled, dtype=bool)

    @property
    def parts(self) -> list[Keypoint]:
        """The keypoints as named records, in PoseNet's part order."""
        return [Keypoint(PART_NAMES[i], float(x), float(y), float(s)) for i, (x, y, s) in enumerate(self.keypoints)]

    def __getitem__(self, part: str) -> Keypoint:
        i = PART_NAMES.index(part)
        x, y, s = self.keypoints[i]
        return Keypoint(part, float(x), float(y), float(s))

    def scaled(self, scale_x: float, scale_y: float, offset_x: float = 0.0, offset_y: float = 0.0) -> Pose:
        """A copy with positions mapped by x' = x * scale_x - offset_x (likewise y)."""
        kp = self.keypoints.copy()
        kp[:, 0] = kp[:, 0] * scale_x - offset_x
        kp[:, 1] = kp[:, 1] * scale_y - offset_y
        return Pose(self.score, kp, self.id)

    def mirrored(self, width: int) -> Pose:
        """A copy mirrored left-right in an image `width` pixels wide: x' = width - 1 - x, labels kept."""
        kp = self.keypoints.copy()
        kp[:, 0] = (width - 1) - kp[:, 0]
        return Pose(self.score, kp, self.id)

    def rounded(self, decimals: int) -> Pose:
        """A copy with positions (and `raw` ones) rounded to `decimals` places and scores to SCORE_DECIMALS:
        what outputs hold, so a stream's state rebuilt from them equals the state that wrote them."""
        kp = self.keypoints.copy()
        kp[:, :2] = np.round(kp[:, :2], decimals)
        kp[:, 2] = np.round(kp[:, 2], SCORE_DECIMALS)
        raw = None if self.raw is None else np.round(self.raw, decimals)
        angles = None if self.angles is None else {
            k: None if v is None else round(v, decimals) for k, v in self.angles.items()}
        return replace(self, score=float(np.round(self.score, SCORE_DECIMALS)), keypoints=kp, raw=raw, angles=angles)

    def box(self, min_part_score: float = BOX_MIN_PART_SCORE) -> tuple[float, float, float, float]:
        """x, y, width, height of the keypoints scoring at least `min_part_score` (of all 17 when none
        does), as detection tools give a person's box. Width and height are the differences of the
        positions as written (their shortest decimal forms), so they carry the positions' own decimals:
        426.76 - 323.59 is 103.17, not float subtraction's 103.16999999999996."""
        kp = self.keypoints
        sure = kp[kp[:, 2] >= min_part_score]
        pts = sure if len(sure) else kp
        x0, y0, x1, y1 = (float(v) for v in (pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()))
        return x0, y0, _written_difference(x1, x0), _written_difference(y1, y0)

    def to_dict(self) -> dict[str, Any]:
        """The tfjs result shape: {"score", "keypoints": [{"part", "position": {"x", "y"}, "score"}]}."""
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        if self.interpolated:
            out["filled"] = True
        out["score"] = self.score
        keypoints = [kp.to_dict() for kp in self.parts]
        if self.raw is not None:
            for entry, (rx, ry) in zip(keypoints, self.raw):
                entry["raw"] = {"x": float(rx), "y": float(ry)}
        if self.filled is not None:
            for entry, filled in zip(keypoints, self.filled):
                if filled:
                    entry["filled"] = True
        out["keypoints"] = keypoints
        if self.angles is not None:
            out["angles"] = dict(self.angles)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pose:
        """Read a pose in the tfjs result shape (keypoints in any order, matched by part name; `raw`
        positions, written when smoothing, come back as `raw`; angles and filled marks too)."""
        kp = np.zeros((NUM_KEYPOINTS, 3))
        raw = np.zeros((NUM_KEYPOINTS, 2))
        filled = np.zeros(NUM_KEYPOINTS, dtype=bool)
        has_raw = False
        for entry in data["keypoints"]:
            i = PART_NAMES.index(entry["part"])
            kp[i] = (entry["position"]["x"], entry["position"]["y"], entry["score"])
            if "raw" in entry:
                raw[i] = (entry["raw"]["x"], entry["raw"]["y"])
                has_raw = True
            filled[i] = bool(entry.get("filled", False))
        angles = data.get("angles")
        return cls(data["score"], kp, data.get("id"), raw if has_raw else None,
                   None if angles is None else dict(angles), filled if filled.any() else None,
                   bool(data.get("filled", False)))
