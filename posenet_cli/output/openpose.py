"""OpenPose's JSON layout (`openpose --write_json`), so tools built around OpenPose read our poses.

One file per image (`<name>_keypoints.json`) or per video frame (`<stem>_<frame, 12 digits>_keypoints.json`),
each `{"version": 1.3, "people": [{"person_id": [id or -1], "pose_keypoints_2d": [x, y, c] * 18, ...}]}`.
The 18 points are OpenPose's COCO body model; PoseNet's 17 parts map onto them one to one, and the
neck, which PoseNet lacks, is the midpoint of the shoulders (score: their mean) when both are seen. A
part is seen when its score reaches `min_part_score` (the one that decides what is drawn); unseen parts
are 0, 0, 0, as OpenPose writes them. `canvas_width` / `canvas_height` are added for
sd-webui-controlnet's pose editor, which reads them; OpenPose's own readers ignore them.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..keypoints import PART_IDS
from ..pose import SCORE_DECIMALS, Pose

VERSION = 1.3
# OpenPose's COCO-18 body parts, in its order (row i of pose_keypoints_2d), by PoseNet's names.
OPENPOSE_PARTS: tuple[str, ...] = (
    "nose", "neck", "rightShoulder", "rightElbow", "rightWrist", "leftShoulder", "leftElbow", "leftWrist",
    "rightHip", "rightKnee", "rightAnkle", "leftHip", "leftKnee", "leftAnkle", "rightEye", "leftEye",
    "rightEar", "leftEar",
)
NECK = OPENPOSE_PARTS.index("neck")
# The PoseNet part of each OpenPose row (the neck row is filled from the shoulders).
_SOURCE = np.array([PART_IDS.get(name, 0) for name in OPENPOSE_PARTS], dtype=np.intp)
_SHOULDERS = np.array([PART_IDS["leftShoulder"], PART_IDS["rightShoulder"]], dtype=np.intp)
_EMPTY = ("face_keypoints_2d", "hand_left_keypoints_2d", "hand_right_keypoints_2d", "pose_keypoints_3d",
          "face_keypoints_3d", "hand_left_keypoints_3d", "hand_right_keypoints_3d")


def openpose_keypoints(pose: Pose, min_part_score: float, decimals: int | None = None) -> np.ndarray:
    """The pose as OpenPose's 18 points, an (18, 3) array of x, y, score: unseen parts (score below
    `min_part_score`, or not finite) are 0, 0, 0; the neck is the shoulders' midpoint when both are seen,
    rounded as the other points are (`decimals` for its position, SCORE_DECIMALS for its score) when given."""
    kp = pose.keypoints
    seen = (kp[:, 2] >= min_part_score) & np.isfinite(kp).all(axis=1)
    out = np.where(seen[:, None], kp, 0.0)[_SOURCE]
    out[NECK] = kp[_SHOULDERS].mean(axis=0) if seen[_SHOULDERS].all() else 0.0
    if decimals is not None:
        neck = out[NECK]
        out[NECK] = (round(neck[0], decimals), round(neck[1], decimals), round(neck[2], SCORE_DECIMALS))
    return out


def openpose_document(poses: Sequence[Pose], min_part_score: float, width: int, height: int,
                      decimals: int | None = None) -> dict[str, Any]:
    """One image's (or frame's) OpenPose JSON: a person per pose, `person_id` the track id or -1; `decimals`:
    those of the (rounded) poses' positions, which the neck gets too."""
    people = []
    for pose in poses:
        person: dict[str, Any] = {
            "person_id": [-1 if pose.id is None else int(pose.id)],
            "pose_keypoints_2d": [float(v) for v in openpose_keypoints(pose, min_part_score, decimals).reshape(-1)],
        }
        person.update((key, []) for key in _EMPTY)
        people.append(person)
    return {"version": VERSION, "people": people, "canvas_width": int(width), "canvas_height": int(height)}


def openpose_name(item: str | int | Path, stem: str | None = None) -> str:
    """An item's file: `<name>_keypoints.json` for an image, `<stem>_<frame:012d>_keypoints.json` for a
    frame of the video named `stem`."""
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return f"{stem}_{int(item):012d}_keypoints.json"
    return Path(str(item)).stem + "_keypoints.json"


def last_openpose_frame(folder: Path, stem: str) -> int | None:
    """The highest frame index among a video's OpenPose files in `folder` (None: none yet): where a
    resumed run goes on, since each file appears whole and frames are written in order."""
    frames = []
    for p in folder.glob(f"{glob.escape(stem)}_*_keypoints.json"):
        digits = p.name[len(stem) + 1:-len("_keypoints.json")]
        if len(digits) == 12 and digits.isdigit():
            frames.append(int(digits))
    return max(frames) if frames else None
