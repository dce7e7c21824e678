"""OpenPose's JSON layout and drawing style, checked against OpenPose's own documentation of its COCO-18
output (the part order and names below are copied from it, not from the package) on hand-made poses,
and end to end on the shared media."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_draw import LAYOUT, figure
from test_video_out import frames_of

from posenet_cli.media.inputs import IMAGE
from posenet_cli.output import OutputOptions
from posenet_cli.output.draw import annotate
from posenet_cli.output.writers import VIDEO, open_writer
from posenet_cli.pose import Pose

from conftest import posenet

# OpenPose's doc/02_output.md, "COCO" body model: index -> name, and the PoseNet part each one is.
OPENPOSE_COCO = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "RHip", "RKnee",
                 "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar"]
OURS = {"Nose": "nose", "RShoulder": "rightShoulder", "RElbow": "rightElbow", "RWrist": "rightWrist",
        "LShoulder": "leftShoulder", "LElbow": "leftElbow", "LWrist": "leftWrist", "RHip": "rightHip",
        "RKnee": "rightKnee", "RAnkle": "rightAnkle", "LHip": "leftHip", "LKnee": "leftKnee", "LAnkle": "leftAnkle",
        "REye": "rightEye", "LEye": "leftEye", "REar": "rightEar", "LEar": "leftEar"}
PERSON_KEYS = {"person_id", "pose_keypoints_2d", "face_keypoints_2d", "hand_left_keypoints_2d",
               "hand_right_keypoints_2d", "pose_keypoints_3d", "face_keypoints_3d", "hand_left_keypoints_3d",
               "hand_right_keypoints_3d"}


def read_people(path: Path) -> list[dict[str, tuple[float, float, float]]]:
    """An OpenPose file read back: per person, OpenPose part name -> (x, y, c)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["version"] == 1.3
    out = []
    for person in doc["people"]:
        assert set(person) == PERSON_KEYS
        flat = person["pose_keypoints_2d"]
        assert len(flat) == 3 * 18
        out.append({name: tuple(flat[3 * i:3 * i + 3]) for i, name in enumerate(OPENPOSE_COCO)})
    return out


def test_layout_order_and_neck_rule_on_hand_made_poses(tmp_path):
    seen = figure(0.9, pose_id=7)
    one_shoulder = figure(0.8, dx=50.0, rightShoulder=0.1, leftKnee=0.3)  # no neck; knee unseen
    with open_writer("openpose", tmp_path, kind=IMAGE, settings={}, min_part_score=0.5) as writer:
        writer.write("photos/walk.jpg", [seen, one_shoulder], width=1000, height=1000)
        writer.write("empty.png", [], width=64, height=48)
        writer.error("bad.jpg", "cannot read image")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty_keypoints.json", "walk_keypoints.json"]
    first, second = read_people(tmp_path / "walk_keypoints.json")
    doc = json.loads((tmp_path / "walk_keypoints.json").read_text())
    assert [p["person_id"] for p in doc["people"]] == [[7], [-1]]
    for name, ours in OURS.items():
        assert first[name] == (*LAYOUT[ours], 0.9), name
    (lx, ly), (rx, ry) = LAYOUT["leftShoulder"], LAYOUT["rightShoulder"]
    assert first["Neck"] == ((lx + rx) / 2, (ly + ry) / 2, 0.9)
    assert second["Neck"] == (0, 0, 0) and second["RShoulder"] == (0, 0, 0) and second["LKnee"] == (0, 0, 0)
    assert second["LShoulder"] == (lx + 50.0, ly, 0.8)
    assert json.loads((tmp_path / "empty_keypoints.json").read_text())["people"] == []


def test_video_frames_get_twelve_digit_names(tmp_path):
    with open_writer("openpose", tmp_path / "out", kind=VIDEO, settings={}, stem="my clip", min_part_score=0.5) \
            as writer:
        writer.write(0, [figure()], width=1000, height=1000, time_ms=0.0)
        writer.write(12, [], width=1000, height=1000, time_ms=400.0)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "my clip_000000000000_keypoints.json", "my clip_000000000012_keypoints.json"]


def test_openpose_needs_a_folder(env, shared):
    code, _, err = posenet("image", shared / "data/images/coral/couple.jpg", "--format", "openpose")
    assert code == 1 and err == "posenet: error: --format openpose writes a folder of files: give --out FOLDER/\n"


# ---------------------------------------------------------------------------------------------- drawing


def test_openpose_style_on_black(tmp_path):
    image = np.full((1000, 1000, 3), 200, np.uint8)
    out = annotate(image, [figure()], output=OutputOptions(draw_style="openpose", background="black"))
    assert out.shape == image.shape and out.dtype == np.uint8

    def at(x: float, y: float) -> tuple[int, ...]:
        return tuple(int(v) for v in out[round(y), round(x)])

    (lx, ly), (rx, ry) = LAYOUT["leftShoulder"], LAYOUT["rightShoulder"]
    neck = ((lx + rx) / 2, (ly + ry) / 2)
    # OpenPose's colours (RGB): points at full colour, limbs at 60 %.
    assert at(*LAYOUT["nose"]) == (255, 0, 0)
    assert at(*neck) == (255, 85, 0)
    assert at(*LAYOUT["rightShoulder"]) == (255, 170, 0)
    assert at(*LAYOUT["leftAnkle"]) == (85, 0, 255)
    assert at((neck[0] + rx) / 2, (neck[1] + ry) / 2) == (153, 0, 0)  # neck - right shoulder
    hip, knee = LAYOUT["rightHip"], LAYOUT["rightKnee"]
    assert at((hip[0] + knee[0]) / 2, (hip[1] + knee[1]) / 2) == (0, 153, 51)  # right hip - right knee: limb 7
    assert at(*LAYOUT["rightHip"]) == (0, 255, 170)
    assert at(5, 5) == (0, 0, 0) and at(995, 995) == (0, 0, 0)  # the background is black, not the image
    # The hips are not joined in OpenPose's skeleton (each joins the neck), unlike PoseNet's.
    assert at((hip[0] + LAYOUT["leftHip"][0]) / 2, hip[1]) == (0, 0, 0)


def test_posenet_style_on_black_and_openpose_style_on_the_image():
    image = np.full((400, 400, 3), 200, np.uint8)
    black = annotate(image, [], output=OutputOptions(background="black"))
    assert black.shape == image.shape and not black.any()
    drawn = annotate(image, [Pose(0.9, np.column_stack([np.linspace(50, 350, 17), np.linspace(50, 350, 17),
                                                        np.full(17, 0.9)]))],
                     output=OutputOptions(draw_style="openpose"))
    assert (drawn[0, 0] == 200).all() and (drawn != 200).any()


# ------------------------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_image_folder_to_openpose_files_matches_the_json_lines(env, shared, tmp_path):
    photos = shared / "data/images/tfjs-demo"
    jsonl = tmp_path / "poses.jsonl"
    assert posenet("image", photos, "--multi", "--out", jsonl, "--quiet")[0] == 0
    code, _, err = posenet("image", photos, "--multi", "--format", "openpose", "--out", tmp_path / "op/", "--quiet",
                           "--draw", tmp_path / "drawn/", "--draw-style", "openpose", "--background", "black")
    assert code == 0, err
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert sorted(p.name for p in (tmp_path / "op").iterdir()) == sorted(
        Path(r["image"]).stem + "_keypoints.json" for r in records)
    for record in records:
        people = read_people(tmp_path / "op" / (Path(record["image"]).stem + "_keypoints.json"))
        assert len(people) == len(record["poses"])
        for person, pose in zip(people, record["poses"]):
            by_part = {k["part"]: k for k in pose["keypoints"]}
            for name, ours in OURS.items():
                k = by_part[ours]
                want = (k["position"]["x"], k["position"]["y"], k["score"]) if k["score"] >= 0.5 else (0, 0, 0)
                assert person[name] == want
        drawn = cv2.imread(str(tmp_path / "drawn" / Path(record["image"]).name))
        assert drawn.shape[:2] == (record["height"], record["width"])
        assert (drawn.max(axis=2) < 16).mean() > 0.5  # a pose image: black but for the skeletons (JPEG)


def test_video_to_openpose_files_with_track_ids(env, shared, tmp_path):
    clip = shared / "data/videos/street-5frames.mp4"
    jsonl = tmp_path / "poses.jsonl"
    args = ("video", clip, "--multi", "--track", "--quiet")
    assert posenet(*args, "--out", jsonl)[0] == 0
    code, _, err = posenet(*args, "--format", "openpose", "--out", tmp_path / "op", "--draw", tmp_path / "pose.mp4",
                           "--draw-style", "openpose", "--background", "black")
    assert code == 0, err
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    names = sorted(p.name for p in (tmp_path / "op").iterdir())
    assert names == [f"street-5frames_{r['frame']:012d}_keypoints.json" for r in records]
    for record, name in zip(records, names):
        doc = json.loads((tmp_path / "op" / name).read_text())
        assert [p["person_id"] for p in doc["people"]] == [[p.get("id", -1)] for p in record["poses"]]  # untracked: -1
    frames = frames_of(tmp_path / "pose.mp4")
    assert len(frames) == len(records) and frames[0].shape[:2] == (540, 960)
    assert all((f.max(axis=2) < 16).mean() > 0.8 for f in frames)  # pose frames: mostly black
