"""Records, schema, CSV, COCO results (evaluated with pycocotools) and resumable JSON lines."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from posenet_cli.keypoints import NUM_KEYPOINTS, PART_NAMES
from posenet_cli.output import records as formats
from posenet_cli.output.records import (
    COCO_KEYPOINT_NAMES,
    COCO_ORDER,
    FormatError,
    coco_results,
    csv_header,
    csv_rows,
    dumps,
    error_record,
    frame_record,
    image_record,
    load_schema,
    validate_record,
)
from posenet_cli.output.resume import read_jsonl_resume
from posenet_cli.output.writers import VIDEO, OutputError, open_writer
from posenet_cli.pose import Pose

SETTINGS = {"model": "mobilenet-v1-075", "output_stride": 16, "decoder": "single"}


def pose(seed: int = 0, pose_id: int | None = None, raw: bool = False) -> Pose:
    rng = np.random.default_rng(seed)
    kp = np.column_stack([rng.uniform(0, 640, 17), rng.uniform(0, 480, 17), rng.uniform(0, 1, 17)])
    return Pose(float(kp[:, 2].mean()), kp, pose_id, raw=kp[:, :2] + 0.5 if raw else None)


# -------------------------------------------------------------------------------------------- records


def test_image_record_keeps_full_precision_and_validates():
    p = pose(1)
    p.keypoints[0, 0] = 1 / 3
    record = image_record("photo.jpg", 640, 480, [p], SETTINGS)
    assert list(record) == ["image", "width", "height", "settings", "poses"]
    tfjs = p.to_dict()
    assert record["poses"][0] == {"score": tfjs["score"], "bbox": list(p.box()), "keypoints": tfjs["keypoints"]}
    text = dumps(record)
    assert " " not in text.replace("photo.jpg", "") and "\n" not in text  # compact
    back = json.loads(text)
    assert back["poses"][0]["keypoints"][0]["position"]["x"] == 1 / 3
    assert validate_record(back)
    assert validate_record(image_record(None, 1, 1, [], {}))


def test_frame_and_error_records_validate():
    frame = frame_record(np.int64(12), 400.0, [pose(2, pose_id=np.int64(5), raw=True)])
    assert frame["frame"] == 12 and frame["time_ms"] == 400.0
    assert type(frame["poses"][0]["id"]) is int and "raw" in frame["poses"][0]["keypoints"][0]
    assert validate_record(json.loads(dumps(frame)))
    assert error_record("x.jpg", "cannot read image 'x.jpg': no such file") == {
        "image": "x.jpg", "error": "cannot read image 'x.jpg': no such file"}
    assert error_record(Path("x.jpg"), "bad")["image"] == "x.jpg"
    assert error_record(7, "broken frame") == {"frame": 7, "error": "broken frame"}
    for record in (error_record("x.jpg", "bad"), error_record(7, "bad")):
        assert validate_record(record)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda r: r["poses"][0]["keypoints"].pop(), "poses/0/keypoints: fails 'minItems' (17)"),
        (lambda r: r["poses"][0]["keypoints"].reverse(), "poses/0/keypoints/"),
        (lambda r: r["poses"][0]["keypoints"][3].update(part="tail"), "poses/0/keypoints/3/part"),
        (lambda r: r["poses"][0].update(score="high"), "poses/0/score"),
        (lambda r: r.pop("width"), "(record): 'width' is a required property"),
        (lambda r: r.update(error="also failed"), "(record): Additional properties"),
    ],
    ids=["16-keypoints", "wrong-order", "unknown-part", "score-type", "no-width", "poses-and-error"],
)
def test_the_schema_rejects_broken_records(change, where):
    record = json.loads(dumps(image_record("a.jpg", 10, 10, [pose()], SETTINGS)))
    change(record)
    with pytest.raises(FormatError, match="does not match the schema") as info:
        validate_record(record)
    assert f"schema at {where}" in str(info.value) and "\n" not in str(info.value)
    assert len(str(info.value)) < 250


def test_schema_ships_with_the_package_and_lists_the_parts():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$defs"]["keypoint"]["properties"]["part"]["enum"] == list(PART_NAMES)
    packaged = Path(formats.__file__).parent / "schema" / "poses.schema.json"
    assert json.loads(packaged.read_text()) == schema
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema)


def test_non_finite_values_are_refused():
    bad = pose()
    bad.keypoints[4, 1] = np.nan
    with pytest.raises(FormatError, match="non-finite"):
        image_record("a.jpg", 10, 10, [bad], SETTINGS)
    with pytest.raises(FormatError, match="non-finite"):
        frame_record(0, 0.0, [Pose(float("inf"), pose().keypoints)])
    with pytest.raises(FormatError, match="non-finite"):
        coco_results(1, [bad])
    with pytest.raises(FormatError, match="cannot write JSON"):
        dumps({"x": float("nan")})


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(xy=arrays(np.float64, (NUM_KEYPOINTS, 2), elements=finite),
       scores=arrays(np.float64, NUM_KEYPOINTS, elements=st.floats(0, 1)),
       pose_id=st.none() | st.integers(0, 10**6))
def test_any_finite_pose_round_trips_exactly(xy, scores, pose_id):
    p = Pose(float(scores.mean()), np.column_stack([xy, scores]), pose_id)
    record = json.loads(dumps(frame_record(3, 100.0, [p])))
    validate_record(record)
    back = Pose.from_dict(record["poses"][0])
    assert (back.keypoints == p.keypoints).all() and back.score == p.score and back.id == pose_id


# ------------------------------------------------------------------------------------------------ CSV


def test_csv_rows_match_the_header(tmp_path):
    header = csv_header()
    assert header[:8] == ["item", "pose_index", "pose_id", "pose_score", "bbox_x", "bbox_y", "bbox_width",
                          "bbox_height"]
    assert header[8:11] == ["nose_x", "nose_y", "nose_score"] and header[-1] == "rightAnkle_score"
    assert len(header) == 8 + 3 * 17
    poses = [pose(1), pose(2, pose_id=9)]
    rows = csv_rows("a.jpg", poses)
    assert [r[:3] for r in rows] == [["a.jpg", 0, ""], ["a.jpg", 1, 9]]
    assert all(len(r) == len(header) for r in rows)
    assert csv_rows(4, poses)[0][0] == 4 and csv_rows(4, []) == []
    with open(tmp_path / "poses.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    with open(tmp_path / "poses.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert float(table[1]["leftWrist_y"]) == poses[1]["leftWrist"].y  # full precision survives
    assert float(table[0]["pose_score"]) == poses[0].score


# ----------------------------------------------------------------------------------------------- COCO


def test_posenet_and_coco_keypoint_orders_match():
    assert len(COCO_KEYPOINT_NAMES) == NUM_KEYPOINTS
    assert COCO_ORDER == tuple(range(NUM_KEYPOINTS))
    for coco, ours in zip(COCO_KEYPOINT_NAMES, PART_NAMES):
        assert coco.replace("_", "") == ours.lower()


def test_coco_result_layout():
    p = pose(3)
    p.keypoints[:, 2] = 0.1
    p.keypoints[[0, 5, 6], 2] = 0.9
    (result,) = coco_results(42, [p])
    assert result["image_id"] == 42 and result["category_id"] == 1 and result["score"] == p.score
    assert result["keypoints"] == [float(v) for v in p.keypoints.reshape(-1)]
    sure = p.keypoints[[0, 5, 6]]
    x0, y0 = sure[:, 0].min(), sure[:, 1].min()
    assert result["bbox"] == pytest.approx([x0, y0, sure[:, 0].max() - x0, sure[:, 1].max() - y0], rel=1e-15)
    p.keypoints[:, 2] = 0.1  # nothing confident: the box spans every keypoint
    (result,) = coco_results(42, [p])
    assert result["bbox"][0] == p.keypoints[:, 0].min()
    assert result["bbox"][2] == pytest.approx(np.ptp(p.keypoints[:, 0]), rel=1e-15)
    assert coco_results(1, []) == []


def coco_eval(results: list[dict], gt_poses: list[Pose]) -> float:
    """AP (OKS 0.50:0.95) of `results` against one ground-truth image holding `gt_poses`."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations = []
    for i, p in enumerate(gt_poses, 1):
        kp = p.keypoints[list(COCO_ORDER)]
        x0, y0 = kp[:, :2].min(axis=0)
        x1, y1 = kp[:, :2].max(axis=0)
        annotations.append({"id": i, "image_id": 1, "category_id": 1, "iscrowd": 0,
                            "area": float((x1 - x0) * (y1 - y0)), "bbox": [float(x0), float(y0), float(x1 - x0),
                                                                         float(y1 - y0)],
                            "num_keypoints": 17,
                            "keypoints": [v for x, y, _ in kp for v in (float(x), float(y), 2)]})
    gt = COCO()
    gt.dataset = {"images": [{"id": 1, "width": 640, "height": 480}], "annotations": annotations,
                  "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES),
                                  "skeleton": []}]}
    gt.createIndex()
    ev = COCOeval(gt, gt.loadRes(json.loads(json.dumps(results))), "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return float(ev.stats[0])


def test_pycocotools_scores_a_perfect_prediction_1():
    truth = [pose(4), pose(5)]
    assert coco_eval(coco_results(1, truth), truth) == pytest.approx(1.0)
    shifted = [Pose(p.score, p.keypoints + [25, 25, 0]) for p in truth]
    assert coco_eval(coco_results(1, shifted), truth) < 0.9


# ----------------------------------------------------------------------------------------- JSON lines


def frames_writer(path: Path, append: bool = False):
    return open_writer("jsonl", path, kind=VIDEO, settings=SETTINGS, append=append)


def test_jsonl_writer_flushes_each_line(tmp_path):
    path = tmp_path / "poses.jsonl"
    with frames_writer(path) as writer:
        writer.write(0, [pose()], width=640, height=480, time_ms=0.0)
        assert len(path.read_text().splitlines()) == 1  # on disk before close
        writer.write(1, [], width=640, height=480, time_ms=33.3)
    assert writer.count == 2
    lines = path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == [frame_record(0, 0.0, [pose()]), frame_record(1, 33.3, [])]
    assert all(": " not in line and ", " not in line for line in lines)
    with frames_writer(path, append=True) as writer:
        writer.error(2, "broken frame")
    assert json.loads(path.read_text().splitlines()[2]) == error_record(2, "broken frame")
    assert read_jsonl_resume(path)[1] == 2
    with frames_writer(path):  # not appending: starts over
        pass
    assert path.read_text() == ""
    with pytest.raises(OutputError, match="cannot write"):
        frames_writer(tmp_path / "no" / "x.jsonl")


def test_a_file_of_frames_is_headed_once_whatever_the_first_run_wrote(tmp_path):
    """Settings that say how the source is timed head a file of frames once: a continued file keeps the
    first run's header, and one whose first run wrote only errors gets it with its first frame."""
    settings = {**SETTINGS, "source": {"width": 640, "height": 480, "time_base": "1/600", "fps": 30.0}}

    def headers(path: Path) -> list[int]:
        return [r["frame"] for r in map(json.loads, path.read_text().splitlines()) if "settings" in r]

    for first in ("frame", "error"):
        path = tmp_path / f"{first}.jsonl"
        with open_writer("jsonl", path, kind=VIDEO, settings=settings) as writer:
            if first == "frame":
                writer.write(0, [pose()], width=640, height=480, time_ms=0.0)
            else:
                writer.error(0, "broken frame")
        read_jsonl_resume(path)
        with open_writer("jsonl", path, kind=VIDEO, settings=settings, append=True) as writer:
            writer.write(1, [pose()], width=640, height=480, time_ms=33.3)
            writer.write(2, [pose()], width=640, height=480, time_ms=66.7)
        assert headers(path) == ([0] if first == "frame" else [1]), path.read_text()


def test_resume_drops_a_cut_off_last_line(tmp_path):
    path = tmp_path / "poses.jsonl"
    with frames_writer(path) as writer:
        for i in range(3):
            writer.write(i, [pose(i)], width=640, height=480, time_ms=i * 40.0)
    complete = path.read_bytes()
    line = dumps(frame_record(3, 120.0, [pose(3)])) + "\n"
    path.write_bytes(complete + line[: len(line) // 2].encode())  # killed mid-write
    records, last = read_jsonl_resume(path)
    assert [r["frame"] for r in records] == [0, 1, 2] and last == 2
    assert path.read_bytes() == complete
    with frames_writer(path, append=True) as writer:
        writer.write(3, [pose(3)], width=640, height=480, time_ms=120.0)
    assert [json.loads(x)["frame"] for x in path.read_text().splitlines()] == [0, 1, 2, 3]


def test_resume_edge_cases(tmp_path):
    assert read_jsonl_resume(tmp_path / "missing.jsonl") == ([], None)
    path = tmp_path / "poses.jsonl"
    path.write_text(dumps(frame_record(5, 0.0, [])))  # a complete last line without its newline
    records, last = read_jsonl_resume(path)
    assert last == 5 and path.read_text().endswith("\n") and len(records) == 1
    path.write_text(dumps(image_record("a.jpg", 2, 2, [], {})) + "\n")
    assert read_jsonl_resume(path)[1] is None  # image records have no frame
    path.write_text('{"frame": 0, "poses": []}\nnot json\n{"frame": 2, "poses": []}\n')
    with pytest.raises(FormatError, match="line 2 is not a JSON object"):
        read_jsonl_resume(path)
    assert path.read_text().count("\n") == 3  # left alone


def test_coco_image_ids_come_from_file_names_only_when_every_input_has_one():
    from posenet_cli.output.writers import coco_image_ids

    assert coco_image_ids(["a/000000252219.jpg", "b/000000000139.png"]) == {"a/000000252219.jpg": 252219,
                                                                            "b/000000000139.png": 139}
    # One name that is not a number (or two numbers alike) and ids are the inputs' places: no collisions.
    assert coco_image_ids(["1.jpg", "photo.jpg", "3.jpg"]) == {"1.jpg": 1, "photo.jpg": 2, "3.jpg": 3}
    assert coco_image_ids(["x/7.jpg", "y/007.jpg"]) == {"x/7.jpg": 1, "y/007.jpg": 2}
