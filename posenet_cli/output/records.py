"""Output records and their serialisations: JSON records (with a JSON Schema), CSV rows and COCO keypoint
results.

Records carry the floats they are given (writers round them first, to OutputOptions.precision); which
keypoints to keep is the caller's decision, these functions only serialise. Non-finite numbers have no JSON
form, so a pose holding NaN or infinity raises FormatError instead of producing invalid JSON.
"""

from __future__ import annotations

import functools
import json
import os
import urllib.parse
import warnings
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PoseNetError
from ..keypoints import PART_IDS, PART_NAMES
from ..pose import BOX_MIN_PART_SCORE, Pose

# The 17 keypoints of COCO's "person" category, in COCO's order.
COCO_KEYPOINT_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
COCO_PERSON_CATEGORY = 1


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(w.capitalize() for w in rest)


# Row i of a COCO keypoint list is PoseNet part COCO_ORDER[i] (the orders match; this keeps it explicit).
COCO_ORDER: tuple[int, ...] = tuple(PART_IDS[_camel(name)] for name in COCO_KEYPOINT_NAMES)


class FormatError(PoseNetError, ValueError):
    """A record that cannot be serialised or validated, or a results file that cannot be resumed."""


# ---------------------------------------------------------------------------------------------- records


def _pose_dict(pose: Pose, where: str) -> dict[str, Any]:
    arrays = [pose.keypoints] if pose.raw is None else [pose.keypoints, np.asarray(pose.raw, dtype=np.float64)]
    if not (np.isfinite(pose.score) and all(np.isfinite(a).all() for a in arrays)):
        raise FormatError(f"{where}: a pose has non-finite values (NaN or infinity), which JSON cannot hold")
    out: dict[str, Any] = {}
    for key, value in pose.to_dict().items():  # the tfjs keys in their order, the box after the score
        out[key] = int(value) if key == "id" else value
        if key == "score":
            out["bbox"] = list(pose.box())
    return out


def valid_text(text: str) -> str:
    """`text` as valid Unicode, which every JSON parser accepts: a path named in another encoding than
    UTF-8 reaches Python with its undecodable bytes as lone surrogates (PEP 383), and those become
    U+FFFD, the replacement character."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that stand for no byte
        raw = text.encode("utf-8", "surrogatepass")
    return raw.decode("utf-8", "replace")


def path_fields(key: str, path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """A path as record fields: {key: the path}, and when it is not valid UTF-8, {key: the path with
    U+FFFD for its undecodable bytes, key + "_bytes": its exact bytes percent-encoded (RFC 3986)}."""
    if path is None:
        return {key: None}
    text = os.fspath(path)
    shown = valid_text(text)
    if shown == text:
        return {key: text}
    return {key: shown, f"{key}_bytes": urllib.parse.quote(os.fsencode(text), safe="/")}


def image_record(path: str | None, width: int, height: int, poses: Sequence[Pose],
                 settings: dict[str, Any]) -> dict[str, Any]:
    """One image's result: {"image", "width", "height", "settings", "poses": [tfjs-shaped poses]} (and
    "image_bytes" for a path that is not UTF-8: path_fields)."""
    where = f"image {path!r}"
    return {**path_fields("image", None if path is None else str(path)), "width": int(width),
            "height": int(height), "settings": dict(settings), "poses": [_pose_dict(p, where) for p in poses]}


def frame_record(frame: int, time_ms: float, poses: Sequence[Pose], settings: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """One video frame's result: {"frame", "time_ms", "poses"}; with `settings`, {"frame", "time_ms",
    "settings", "poses"} (the header of a JSON lines file)."""
    if not np.isfinite(time_ms):
        raise FormatError(f"frame {frame}: time_ms is {time_ms}")
    where = f"frame {frame}"
    header = {} if settings is None else {"settings": dict(settings)}
    return {"frame": int(frame), "time_ms": float(time_ms), **header, "poses": [_pose_dict(p, where) for p in poses]}


def error_record(item: str | int | os.PathLike[str] | None, message: str) -> dict[str, Any]:
    """An item that failed: {"image": path, "error"} for images, {"frame": index, "error"} for frames."""
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return {"frame": int(item), "error": valid_text(str(message))}
    return {**path_fields("image", item), "error": valid_text(str(message))}


def dumps(record: Any, pretty: bool = False) -> str:
    """Strictly valid JSON: one compact line, or indented for a person reading (stdout, a per-image file).
    NaN and infinity are refused with FormatError; text that is not valid Unicode (lone surrogates, from
    a path that is not UTF-8) is written with U+FFFD instead (valid_text), never as a lone "\\udcxx"."""
    try:
        text = _dumps(record, pretty)
        if "\\ud" in text:  # a surrogate escape: valid in pairs (emoji), not alone; rare, so checked only then
            text = _dumps(_valid_strings(record), pretty)
        return text
    except ValueError as e:
        raise FormatError(f"cannot write JSON: {e}") from None


def _dumps(record: Any, pretty: bool) -> str:
    if pretty:
        return json.dumps(record, indent=2, allow_nan=False)
    return json.dumps(record, separators=(",", ":"), allow_nan=False)


def _valid_strings(value: Any) -> Any:
    """`value` with every string made valid_text."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, dict):
        return {valid_text(k) if isinstance(k, str) else k: _valid_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_valid_strings(v) for v in value]
    return value


def read_results(path: Path, what: str = "", error: type[PoseNetError] | None = None) -> tuple[Any, bool]:
    """A results file as written: (its JSON document, False) or, for JSON lines, (the list of its records,
    True); `error` (FormatError by default) with one line when it cannot be read or is neither. `what`
    names the file in messages ("predictions")."""
    error = error or FormatError
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"cannot read {what + ' ' if what else ''}{path}: {getattr(e, 'strerror', None) or e}") from None
    try:
        return json.loads(text), False
    except ValueError:  # JSON lines
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()], True
        except ValueError:
            raise error(f"{path} is neither JSON nor JSON lines") from None


# ---------------------------------------------------------------------------------------------- schema


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of image, frame and error records, shipped with the package."""
    text = resources.files("posenet_cli.output").joinpath("schema", "poses.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


_KINDS = ("imageRecord", "frameRecord", "errorRecord")


@functools.cache
def _validators() -> dict[str, Any] | None:
    """A validator for the whole schema and one per record kind (for precise error messages)."""
    try:
        import jsonschema
    except ImportError:
        return None
    schema = load_schema()
    defs = {k: v for k, v in schema.items() if k != "oneOf"}
    out: dict[str, Any] = {"record": jsonschema.Draft202012Validator(schema)}
    for kind in _KINDS:
        out[kind] = jsonschema.Draft202012Validator({**defs, "$ref": f"#/$defs/{kind}"})
    return out


def validate_record(record: Any) -> bool:
    """Check a record against the schema: True if valid, FormatError (one line) if not.

    jsonschema is an optional dependency: without it nothing is checked, a warning says so and the
    result is False.
    """
    validators = _validators()
    if validators is None:
        warnings.warn("jsonschema is not installed, so records are not validated (pip install jsonschema)",
                      stacklevel=2)
        return False
    from jsonschema.exceptions import best_match

    # Check against the kind the record looks like first: its errors point at the offending field.
    kind = "record"
    if isinstance(record, dict):
        kind = "errorRecord" if "error" in record else "frameRecord" if "frame" in record else "imageRecord"
    for name in (kind, "record"):
        best = best_match(validators[name].iter_errors(record))
        if best is not None:
            where = "/".join(str(p) for p in best.absolute_path) or "(record)"
            message = best.message
            if len(message) > 160:  # the message quotes the instance: name the failed rule instead
                rule = repr(best.validator_value)
                message = f"fails {best.validator!r} ({rule if len(rule) <= 60 else rule[:57] + '...'})"
            raise FormatError(f"record does not match the schema at {where}: {message}")
    return True


# ------------------------------------------------------------------------------------------------- CSV


def csv_header(angles: Sequence[str] = (), filled: bool = False) -> list[str]:
    """item, pose_index, pose_id, pose_score, the pose's box (bbox_x, bbox_y, bbox_width, bbox_height: Pose.box),
    then x, y, score for each part (nose_x, nose_y, nose_score, ...); with `angles`, a column angle_<name> for
    each; with `filled`, pose_filled (1: the pose was interpolated) and filled_parts (the parts filled in,
    space-separated)."""
    return ["item", "pose_index", "pose_id", "pose_score", "bbox_x", "bbox_y", "bbox_width", "bbox_height"] + [
        f"{name}_{field}" for name in PART_NAMES for field in ("x", "y", "score")] + [
        f"angle_{name}" for name in angles] + (["pose_filled", "filled_parts"] if filled else [])


def csv_rows(item: str | int | os.PathLike[str], poses: Sequence[Pose], angles: Sequence[str] = (),
             filled: bool = False) -> list[list[Any]]:
    """One row per pose, matching csv_header(angles, filled); an item without poses gives no rows; an angle
    that is None (or not computed) is an empty cell."""
    label: Any = int(item) if isinstance(item, (int, np.integer)) else valid_text(os.fspath(item))
    rows = []
    for i, pose in enumerate(poses):
        row: list[Any] = [label, i, "" if pose.id is None else int(pose.id), float(pose.score), *pose.box()]
        row.extend(float(v) for v in pose.keypoints.reshape(-1))
        values = pose.angles or {}
        row.extend("" if values.get(name) is None else float(values[name]) for name in angles)
        if filled:
            parts = [] if pose.filled is None else [PART_NAMES[k] for k in np.flatnonzero(pose.filled)]
            row.extend([int(pose.interpolated), " ".join(parts)])
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------------------ COCO


def coco_results(image_id: int, poses: Iterable[Pose], bbox_min_score: float = BOX_MIN_PART_SCORE) \
        -> list[dict[str, Any]]:
    """COCO keypoint detection results for one image, ready for pycocotools' `COCO.loadRes`.

    Each pose gives {"image_id", "category_id": 1, "keypoints": [x, y, score] * 17 in COCO order,
    "score", "bbox": [x, y, w, h]}; the box spans the keypoints scoring at least `bbox_min_score`
    (all of them when none does).
    """
    out = []
    for pose in poses:
        kp = pose.keypoints[list(COCO_ORDER)]
        if not (np.isfinite(kp).all() and np.isfinite(pose.score)):
            raise FormatError(f"image {image_id}: a pose has non-finite values (NaN or infinity)")
        out.append({
            "image_id": int(image_id),
            "category_id": COCO_PERSON_CATEGORY,
            "keypoints": [float(v) for v in kp.reshape(-1)],
            "score": float(pose.score),
            "bbox": list(pose.box(bbox_min_score)),
        })
    return out
