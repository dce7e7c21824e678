"""`posenet eval`: the same AP as pycocotools called directly on the same predictions, whichever way the
predictions were written; a one-line error without pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from posenet_cli.keypoints import PART_NAMES

from conftest import posenet

STATS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


@pytest.fixture(scope="module")
def subset(shared, tmp_path_factory) -> tuple[Path, Path]:
    """12 of the labelled photos (copied to a folder of their own) and their annotation file."""
    folder = shared / "data" / "coco-keypoints"
    images = tmp_path_factory.mktemp("coco") / "images"
    images.mkdir()
    for p in sorted((folder / "images").glob("*.jpg"))[:12]:
        shutil.copy(p, images / p.name)
    return images, folder / "person_keypoints.json"


def pycocotools_directly(results: list[dict], annotations: Path, image_ids: list[int]) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(annotations))
        evaluation = COCOeval(truth, truth.loadRes(results), iouType="keypoints")
        evaluation.params.imgIds = sorted(image_ids)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return list(evaluation.stats)


def test_eval_equals_pycocotools_on_the_same_predictions(env, subset, tmp_path):
    """The same run written as COCO results and as JSON lines: both evaluate to what pycocotools gives on
    those results over those images (the COCO file lists only images with a detection)."""
    images, annotations = subset
    coco, lines = tmp_path / "results.json", tmp_path / "poses.jsonl"
    for out in (coco, lines):
        code, _, err = posenet("image", images, "--format", "coco" if out == coco else "jsonl", "--out", out,
                               "--quiet")
        assert code == 0, err
    results = json.loads(coco.read_text())
    ids = sorted(int(p.stem) for p in images.iterdir())  # COCO files are named by their id
    with_results = sorted({r["image_id"] for r in results})
    assert set(with_results) <= set(ids)
    for predictions, covered in ((coco, with_results), (lines, ids)):
        code, out, err = posenet("eval", predictions, annotations, "--out", tmp_path / f"{predictions.stem}.ap.json")
        assert code == 0, err
        got = json.loads((tmp_path / f"{predictions.stem}.ap.json").read_text())
        assert [got["stats"][k] for k in STATS] == pytest.approx(pycocotools_directly(results, annotations, covered),
                                                                 abs=1e-6)
        assert got["images"] == len(covered) and f"{got['stats']['AP']:.3f}" in out  # and the printed table
        assert 0.1 < got["stats"]["AP"] < 0.9


def test_the_labels_themselves_score_1_in_either_format(subset, tmp_path):
    """Ground truth fed back as predictions (seen parts at score 1) is perfect, as COCO results and as our
    JSON lines records, whichever images of the annotation file they cover."""
    images, annotations = subset
    truth = json.loads(annotations.read_text())
    names = {im["id"]: im["file_name"] for im in truth["images"] if (images / im["file_name"]).exists()}
    people = [a for a in truth["annotations"] if a["image_id"] in names and a["num_keypoints"] and not a["iscrowd"]]
    results = [{"image_id": a["image_id"], "category_id": 1, "score": 1.0, "bbox": a["bbox"],
                "keypoints": [v if i % 3 != 2 else float(v > 0) for i, v in enumerate(a["keypoints"])]}
               for a in people]
    (tmp_path / "coco.json").write_text(json.dumps(results))
    with (tmp_path / "poses.jsonl").open("w") as f:
        for image_id, name in names.items():
            poses = [{"score": 1.0, "keypoints": [
                {"part": part, "position": {"x": a["keypoints"][3 * i], "y": a["keypoints"][3 * i + 1]},
                 "score": float(a["keypoints"][3 * i + 2] > 0)} for i, part in enumerate(PART_NAMES)]}
                for a in people if a["image_id"] == image_id]
            f.write(json.dumps({"image": str(images / name), "width": 1, "height": 1, "settings": {}, "poses": poses})
                    + "\n")
    for predictions in ("coco.json", "poses.jsonl"):
        code, _, err = posenet("eval", tmp_path / predictions, annotations, "--out", tmp_path / "ap.json")
        assert code == 0, err
        assert json.loads((tmp_path / "ap.json").read_text())["stats"]["AP"] == pytest.approx(1.0)
        (tmp_path / "ap.json").unlink()


def test_without_pycocotools_one_line_says_how_to_install(subset, tmp_path, monkeypatch):
    for name in ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    (tmp_path / "p.json").write_text("[]")
    code, _, err = posenet("eval", tmp_path / "p.json", subset[1])
    assert code == 1 and err == ("posenet: error: posenet eval needs pycocotools: pip install 'posenet-cli[eval]' "
                                 "(or pycocotools)\n")


@pytest.mark.parametrize("text, message", [
    ("not json at all", "neither JSON nor JSON lines"),
    ('[{"image": "unknown.jpg", "poses": []}]', "no image of"),
    ('[{"image_id": 7, "category_id": 1, "keypoints": [0, 0, 0], "score": 1}]', "image ids of"),
])
def test_predictions_that_cannot_be_evaluated(subset, tmp_path, text, message):
    (tmp_path / "p.json").write_text(text)
    code, _, err = posenet("eval", tmp_path / "p.json", subset[1])
    assert code == 1 and message in err and err.count("\n") == 1
