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


def test_eval_equals_pycocotools_on_coco_results_and_on_json_lines(env, subset, tmp_path):
    images, annotations = subset
    coco, lines = tmp_path / "results.json", tmp_path / "poses.jsonl"
    for out in (coco, lines):
        code, _, err = posenet("image", images, "--format", "coco" if out == coco else "jsonl", "--out", out,
                               "--quiet")
        assert code == 0, err
    results = json.loads(coco.read_text())
    ids = sorted(int(p.stem) for p in images.iterdir())  # COCO files are named by their id
    assert {r["image_id"] for r in results} <= set(ids)
    truth = json.loads(annotations.read_text())
    expected_all = pycocotools_directly(results, annotations, [im["id"] for im in truth["images"]])
    expected_subset = pycocotools_directly(results, annotations, ids)
    for predictions, expected in ((coco, expected_all), (lines, expected_subset)):
        code, out, err = posenet("eval", predictions, annotations, "--out", tmp_path / f"{predictions.stem}.ap.json")
        assert code == 0, err
        got = json.loads((tmp_path / f"{predictions.stem}.ap.json").read_text())
        assert [got["stats"][k] for k in STATS] == pytest.approx(expected, abs=1e-6)
        assert f"{got['stats']['AP']:.3f}" in out  # the printed table
    assert got["images"] == 12 and 0.1 < got["stats"]["AP"] < 0.9


def test_without_pycocotools_one_line_says_how_to_install(subset, tmp_path, monkeypatch):
    for name in ("pycocotools", "pycocotools.coco", "pycocotools.cocoeval"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    (tmp_path / "p.json").write_text("[]")
    code, _, err = posenet("eval", tmp_path / "p.json", subset[1])
    assert code == 1 and err == ("posenet: error: posenet eval needs pycocotools: pip install 'posenet-cli[eval]' "
                                 "(or pycocotools)\n")


@pytest.mark.parametrize("text, message", [("not json at all", "neither JSON nor JSON lines"),
                                           ('[{"image": "unknown.jpg", "poses": []}]', "no image of")])
def test_predictions_that_cannot_be_evaluated(subset, tmp_path, text, message):
    (tmp_path / "p.json").write_text(text)
    code, _, err = posenet("eval", tmp_path / "p.json", subset[1])
    assert code == 1 and message in err and err.count("\n") == 1
