"""COCO keypoint accuracy of results: pycocotools' AP and AR for predictions written by `posenet image` (JSON,
JSON lines, or `--format coco`) against a COCO person-keypoints annotation file.

pycocotools is an optional dependency (`pip install 'posenet-cli[eval]'`), imported only here.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from ..errors import PoseNetError, first_line
from ..pose import Pose
from .records import coco_results, read_results

# pycocotools' keypoint summary, in its order (COCOeval.stats).
STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


class EvalError(PoseNetError):
    """Predictions or annotations that cannot be evaluated; one line."""


def load_predictions(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The predictions in a results file: (records, is_coco). Records are our image records (JSON, a list
    of them, or JSON lines; an error record stands for an image with no poses) or, when `is_coco`, COCO
    keypoint results."""
    doc, is_lines = read_results(path, "predictions", EvalError)
    if is_lines:
        return [r for r in doc if isinstance(r, dict) and "image" in r], False
    items = doc if isinstance(doc, list) else [doc]
    if items and all(isinstance(r, dict) and "image_id" in r and "keypoints" in r for r in items):
        return items, True
    if not all(isinstance(r, dict) for r in items):
        raise EvalError(f"{path} holds neither posenet image records nor COCO keypoint results")
    return [r for r in items if "image" in r], False


def load_annotations(annotations: Path) -> Any:
    """A pycocotools COCO object for an annotation file (pycocotools imported here, with the one-line error)."""
    try:
        from pycocotools.coco import COCO
    except ImportError:
        raise EvalError("posenet eval needs pycocotools: pip install 'posenet-cli[eval]' (or pycocotools)") \
            from None
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        try:
            return COCO(str(annotations))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EvalError(f"cannot read COCO annotations {annotations}: {e}") from None


def evaluate(predictions: Path, annotations: Path, covered_only: bool = False) -> dict[str, Any]:
    """pycocotools' keypoint evaluation: {"stats": {AP, AP50, ...}, "images": n, "detections": n}.

    Over every annotated image, as pycocotools scores by default: an image the predictions do not mention,
    or where nobody was found, counts with no detections (its people are misses), so COCO results and JSON
    lines of the same run score the same. `covered_only` restricts the figures to the images the run
    covered: the records' images (matched by file name), or for COCO results, which cannot list an image
    without a detection, the images with at least one result."""
    truth = load_annotations(annotations)
    records, is_coco = load_predictions(predictions)
    if is_coco:
        results, covered = records, sorted({r["image_id"] for r in records})
        unknown = set(covered) - set(truth.getImgIds())
        if unknown:
            raise EvalError(f"{len(unknown)} image ids of {predictions} are not in {annotations} (e.g. "
                            f"{min(unknown)}); COCO results name images by the annotations' ids")
    else:
        results, covered = _records_as_results(records, truth, predictions)
        if not covered:
            raise EvalError(f"no image of {predictions} is in {annotations} (matched by file name)")
    return score(truth, results, covered if covered_only else truth.getImgIds())


def _records_as_results(records: list[dict[str, Any]], truth: Any, predictions: Path) \
        -> tuple[list[dict[str, Any]], list[int]]:
    """Our image records as COCO results, and the annotated image ids they cover (matched by file name)."""
    by_name = {Path(im["file_name"]).name: im["id"] for im in truth.dataset.get("images", [])}
    results: list[dict[str, Any]] = []
    covered: list[int] = []
    for record in records:
        image_id = by_name.get(Path(str(record.get("image"))).name)
        if image_id is None:
            continue
        covered.append(image_id)
        try:
            results.extend(coco_results(image_id, [Pose.from_dict(p) for p in record.get("poses", [])]))
        except (KeyError, TypeError, ValueError) as e:
            raise EvalError(f"{predictions}: a pose of {record['image']} is malformed ({e})") from None
    return results, covered


def score(truth: Any, results: list[dict[str, Any]], image_ids: list[int]) -> dict[str, Any]:
    """pycocotools' keypoint figures of COCO `results` on the annotated images `image_ids` of `truth`."""
    from pycocotools.cocoeval import COCOeval

    summary = {"images": len(set(image_ids)), "detections": len(results)}
    if not results:  # nothing found: nothing right
        return {"stats": dict.fromkeys(STAT_NAMES, 0.0), **summary}
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            detections = truth.loadRes(results)
        except (AssertionError, KeyError, TypeError, ValueError, IndexError) as e:
            raise EvalError(f"the results cannot be evaluated: {first_line(e)}") from None
        evaluation = COCOeval(truth, detections, iouType="keypoints")
        evaluation.params.imgIds = sorted(set(image_ids))
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {"stats": dict(zip(STAT_NAMES, map(float, evaluation.stats))), **summary}
