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


def pycocotools_directly(results: list[dict], annotations: Path, image_ids: list[int] | None) -> list[float]:
    """pycocotools' own figures: over `image_ids`, or (None) over every annotated image, its default."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(annotations))
        evaluation = COCOeval(truth, truth.loadRes(results), iouType="keypoints")
        if image_ids is not None:
            evaluation.params.imgIds = sorted(image_ids)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return list(evaluation.stats)


def eval_figures(predictions: Path, annotations: Path, out: Path, *options: str) -> tuple[dict, str]:
    code, printed, err = posenet("eval", predictions, annotations, "--out", out, *options)
    assert code == 0, err
    return json.loads(out.read_text()), printed


def test_eval_equals_pycocotools_on_the_same_predictions(env, subset, tmp_path):
    """The same run written as COCO results and as JSON lines gives the same figures: pycocotools' own on
    those results over every annotated image (the 63 photos the run did not see count as misses), and with
    --covered-only pycocotools' over the images each file covers (COCO results list only images with a
    detection)."""
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
    everything = pycocotools_directly(results, annotations, None)
    annotated = len(json.loads(annotations.read_text())["images"])
    for predictions, covered in ((coco, with_results), (lines, ids)):
        got, printed = eval_figures(predictions, annotations, tmp_path / f"{predictions.stem}.ap.json")
        assert [got["stats"][k] for k in STATS] == pytest.approx(everything, abs=1e-6)
        assert got["images"] == annotated and f"{got['stats']['AP']:.3f}" in printed  # and the printed table
        only, _ = eval_figures(predictions, annotations, tmp_path / f"{predictions.stem}.c.json", "--covered-only")
        assert [only["stats"][k] for k in STATS] == pytest.approx(pycocotools_directly(results, annotations, covered),
                                                                  abs=1e-6)
        assert only["images"] == len(covered) and 0.1 < only["stats"]["AP"] < 0.9
        assert got["stats"]["AP"] < only["stats"]["AP"] - 0.05  # the unseen photos' people are misses


def test_an_image_where_nobody_was_found_counts_in_both_formats(env, subset, tmp_path):
    """Equal AP through JSON lines and COCO results of one run, on an annotation file of exactly the run's
    images, when some image has no detection: the COCO file cannot list it, yet it is scored."""
    images, annotations = subset
    truth = json.loads(annotations.read_text())
    names = {p.name for p in images.iterdir()}
    truth["images"] = [im for im in truth["images"] if im["file_name"] in names]
    ids = {im["id"] for im in truth["images"]}
    truth["annotations"] = [a for a in truth["annotations"] if a["image_id"] in ids]
    (tmp_path / "truth.json").write_text(json.dumps(truth))
    coco, lines = tmp_path / "results.json", tmp_path / "poses.jsonl"
    for out in (coco, lines):  # a strict decoder: some photos get no pose at all
        code, _, err = posenet("image", images, "--format", "coco" if out == coco else "jsonl", "--out", out,
                               "--quiet", "--min-pose-score", "0.5")
        assert code == 0, err
    missing = ids - {r["image_id"] for r in json.loads(coco.read_text())}
    assert missing and len(missing) < len(ids)
    from_coco, _ = eval_figures(coco, tmp_path / "truth.json", tmp_path / "a.json")
    from_lines, _ = eval_figures(lines, tmp_path / "truth.json", tmp_path / "b.json")
    assert from_coco == from_lines and from_coco["images"] == len(ids)


def test_the_labels_themselves_score_1_in_either_format(subset, tmp_path):
    """Ground truth fed back as predictions (seen parts at score 1) is perfect, as COCO results and as our
    JSON lines records, over the images of the annotation file they cover (--covered-only)."""
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
        got, _ = eval_figures(tmp_path / predictions, annotations, tmp_path / f"{predictions}.ap", "--covered-only")
        assert got["stats"]["AP"] == pytest.approx(1.0)


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
