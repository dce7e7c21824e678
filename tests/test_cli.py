"""The `posenet` command, run as a user would, on the shared media and the real weights (no mocks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from conftest import SAMPLE, SHARED, posenet


def test_version():
    code, out, _ = posenet("--version")
    assert code == 0 and out.startswith("posenet-cli ")


def test_help_lists_commands_and_examples():
    code, out, _ = posenet("--help")
    assert code == 0 and all(c in out for c in ("image", "video", "webcam", "models"))
    code, out, _ = posenet("image", "--help")
    assert code == 0 and "Examples" in out and "--long-edge" in out


def test_with_no_options_everyone_is_found(env, validator, shared):
    """The defaults find both people of the couple photo, first; the others found are the partly seen
    guests at the top edge (heads out of frame) and faint partial poses, scoring far lower, highest first;
    no two poses match above the duplicate OKS threshold (tests/test_duplicates.py checks that)."""
    code, out, err = posenet("image", shared / "data" / "images" / "coral" / "couple.jpg", "--quiet")
    assert code == 0, err
    record = json.loads(out)
    validator.validate(record)
    assert (record["width"], record["height"]) == (640, 480)
    assert record["settings"] == {"model": "mobilenet-v1-075", "output_stride": 16, "decoder": "multi",
                                  "long_edge": 721, "max_detections": 20, "score_threshold": 0.15,
                                  "nms_radius": 20.0, "refine_steps": 2, "duplicate_oks": 0.9, "mirror": False,
                                  "min_pose_score": 0.0,
                                  "precision": 2}
    first, second, *others = record["poses"]
    assert min(first["score"], second["score"]) > 0.45 and all(p["score"] < 0.25 for p in others)
    scores = [p["score"] for p in record["poses"]]
    assert scores == sorted(scores, reverse=True) and len(others) <= 18
    left, right = sorted((first, second), key=lambda p: p["keypoints"][0]["position"]["x"])
    assert left["keypoints"][0]["position"]["x"] < 320 < right["keypoints"][0]["position"]["x"]  # one each side
    guests = [p for p in others if p["score"] >= 0.1]
    assert guests and all(p["keypoints"][0]["position"]["y"] < 0 for p in guests)  # noses above the frame


def test_one_image_prints_one_json_document(env, validator):
    code, out, err = posenet("image", SAMPLE, "--single", "--quiet")
    assert code == 0, err
    record = json.loads(out)
    validator.validate(record)
    assert (record["width"], record["height"]) == (512, 512)
    assert record["settings"]["decoder"] == "single" and record["settings"]["long_edge"] == 721
    (pose,) = record["poses"]
    nose = pose["keypoints"][0]
    assert nose["part"] == "nose" and nose["score"] > 0.5
    assert 150 < nose["position"]["x"] < 300 and 50 < nose["position"]["y"] < 200  # the astronaut's face


def test_a_folder_gives_json_lines_and_drawings(env, validator, shared, tmp_path):
    folder = shared / "data" / "images" / "tfjs-demo"
    code, out, err = posenet("image", folder, "--multi", "--draw", tmp_path / "drawn", "--quiet")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == len(list(folder.glob("*.jpg")))
    for record in records:
        validator.validate(record)
        assert 0 < len(record["poses"]) <= 20
    drawn = sorted(p.name for p in (tmp_path / "drawn").iterdir())
    assert drawn == sorted(p.name for p in folder.glob("*.jpg"))


def test_out_folder_and_single_drawing(env, validator, tmp_path):
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    code, _, err = posenet("image", SAMPLE, "--out", out_dir, "--draw", tmp_path / "pose.png", "--quiet")
    assert code == 0, err
    validator.validate(json.loads((out_dir / "astronaut.json").read_text()))
    drawn = cv2.imread(str(tmp_path / "pose.png"))
    assert drawn.shape == (512, 512, 3)
    assert (drawn != cv2.imread(str(SAMPLE))).any()


def test_coco_output_loads_in_pycocotools(env, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = tmp_path / "results.json"
    code, _, err = posenet("image", SAMPLE, "--multi", "--format", "coco", "--out", out, "--quiet")
    assert code == 0, err
    results = json.loads(out.read_text())
    assert results and all(len(r["keypoints"]) == 51 for r in results)
    gt = COCO()
    gt.dataset = {
        "images": [{"id": 1, "width": 512, "height": 512}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 40000.0,
                         "bbox": [100, 50, 250, 450], "num_keypoints": 17,
                         "keypoints": [v for r in results[:1] for v in _as_gt(r["keypoints"])]}],
        "categories": [{"id": 1, "name": "person"}],
    }
    gt.createIndex()
    ev = COCOeval(gt, gt.loadRes(str(out)), "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] > 0.5  # our own best pose as ground truth is found again


def _as_gt(keypoints: list[float]) -> list[float]:
    return [v if i % 3 != 2 else 2 for i, v in enumerate(keypoints)]


def test_video_writes_jsonl_and_a_playable_annotated_copy(env, validator, shared, tmp_path):
    clip = shared / "data" / "videos" / "street-5frames.mp4"
    out, drawn = tmp_path / "poses.jsonl", tmp_path / "drawn.mp4"
    code, _, err = posenet("video", clip, "--multi", "--out", out, "--draw", drawn, "--quiet")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2, 3, 4]
    for r in records:
        validator.validate(r)
    source, result = cv2.VideoCapture(str(clip)), cv2.VideoCapture(str(drawn))
    for prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT, cv2.CAP_PROP_FRAME_COUNT):
        assert result.get(prop) == source.get(prop)


def test_video_to_stdout_with_every_and_end(env, shared):
    clip = shared / "data" / "videos" / "street-5frames.mp4"
    code, out, err = posenet("video", clip, "--every", "2", "--quiet")
    assert code == 0, err
    assert [json.loads(line)["frame"] for line in out.splitlines()] == [0, 2, 4]


def test_webcam_driven_by_a_video_file(env, shared, tmp_path):
    clip = shared / "data" / "videos" / "street-5frames.mp4"
    out = tmp_path / "live.jsonl"
    code, _, err = posenet("webcam", "--device", clip, "--no-display", "--single", "--mirror", "--out", out,
                           "--quiet")
    assert code == 0, err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5 and all(len(r["poses"]) == 1 for r in records)


def test_accurate_and_its_parts_on_every_path(env, shared, tmp_path, posenet_factory):
    """--accurate is the core's preset, recorded with results, and image and video give what the Python API
    gives with it; --flip, --scales and --decode-stride work on the other paths too."""
    from posenet_cli.decode import DecoderOptions
    from posenet_cli.inference import ACCURATE
    from posenet_cli.media.images import read_image
    from posenet_cli.media.video import VideoReader
    from posenet_cli.sizing import SizingOptions

    net = posenet_factory("mobilenet-v1-075", 16)
    photo, clip = shared / "data" / "images" / "coral" / "couple.jpg", shared / "data" / "videos" / "dance.mp4"
    code, out, err = posenet("image", photo, "--accurate", "--quiet")
    assert code == 0, err
    record = json.loads(out)
    assert {k: record["settings"][k] for k in ("long_edge", "scales", "flip", "decode_stride")} == \
        {"long_edge": 721, "scales": [0.89, 1.33], "flip": [True, False], "decode_stride": 8}
    _same_poses(record["poses"], net.estimate(read_image(photo), inference=ACCURATE))

    code, _, err = posenet("video", clip, "--accurate", "--single", "--scale-factor", "0.5", "--end", "0.2",
                           "--out", tmp_path / "dance.jsonl", "--quiet")
    assert code == 0, err
    with VideoReader(clip, end=0.2) as reader:
        frames = list(reader)
    records = [json.loads(line) for line in (tmp_path / "dance.jsonl").read_text().splitlines()]
    assert len(records) == len(frames) > 1
    for r, frame in zip(records, frames):
        _same_poses(r["poses"], net.estimate(frame.image, SizingOptions(scale_factor=0.5),
                                             DecoderOptions(multi=False), ACCURATE))

    code, _, err = posenet("webcam", "--device", shared / "data" / "videos" / "street-5frames.mp4", "--no-display",
                           "--flip", "--out", tmp_path / "live.jsonl", "--quiet")
    assert code == 0 and len((tmp_path / "live.jsonl").read_text().splitlines()) == 5, err
    code, _, err = posenet("batch", photo, "--out-dir", tmp_path / "batch", "--scales", "1,1.5", "--flip",
                           "--decode-stride", "8", "--workers", "1", "--quiet")
    assert code == 0, err
    settings = json.loads((tmp_path / "batch" / "couple.json").read_text())["settings"]
    assert (settings["scales"], settings["flip"], settings["decode_stride"]) == ([1.0, 1.5], True, 8)


def _same_poses(written: list[dict], poses: list) -> None:
    """Poses as written (0.01 px, scores to 4 places) equal to the API's."""
    assert len(written) == len(poses)
    for w, p in zip(written, poses):
        assert w["score"] == pytest.approx(p.score, abs=1e-4)
        for k, (x, y, score) in zip(w["keypoints"], p.keypoints):
            assert (k["position"]["x"], k["position"]["y"], k["score"]) == pytest.approx((x, y, score), abs=0.006)


def test_models_list_info_and_convert(env, tmp_path):
    code, out, _ = posenet("models", "list")
    assert code == 0
    for name in ("mobilenet-v1-050", "mobilenet-v1-075", "mobilenet-v1-101", "mobilenet-v1-100-quant1",
                 "resnet50-quant2"):
        assert name in out
    target = tmp_path / "s8"
    code, _, err = posenet("models", "convert", "mobilenet-v1-050", "--stride", "8", "--out", target)
    assert code == 0, err
    # The SavedModel knows its stride: no --stride needed after the conversion.
    code, out, err = posenet("models", "info", target)
    assert code == 0, err
    info = json.loads(out)
    assert info["output_stride"] == 8 and "heatmap_scores" in info["signature"]["outputs"]
    code, out, err = posenet("image", SAMPLE, "--model", target, "--long-edge", "12", "--quiet")  # >= 9 at stride 8
    assert code == 0, err
    assert json.loads(out)["settings"]["output_stride"] == 8
    code, out, err = posenet("image", SAMPLE, "--model", target, "--stride", "8", "--quiet")
    assert code == 0 and json.loads(out)["settings"]["output_stride"] == 8, err
    code, _, err = posenet("image", SAMPLE, "--model", target, "--stride", "16", "--quiet")  # the one error
    assert code == 1 and err == (f"posenet: error: SavedModel {target} has output stride 8, not 16 "
                                 "(leave out --stride to use the model's own)\n")



def test_library_errors_name_parameters_and_the_command_shows_flags(tmp_path):
    """A Python caller is told the parameters it passed; the same error on the command line names the flags
    (cli/errors.FLAGS), and the run stops before any model is fetched."""
    from posenet_cli.models.backend import choose_backend
    from posenet_cli.models.base import ModelError

    with pytest.raises(ModelError) as raised:
        choose_backend("tensorflow", int8=True)
    assert str(raised.value) == ("`int8=True` runs on LiteRT only; leave out `backend='tensorflow'` (and install "
                                 "ai-edge-litert)")
    code, out, err = posenet("image", SAMPLE, "--backend", "tensorflow", "--int8", "--out", tmp_path / "p.json")
    assert (code, out, err) == (1, "", "posenet: error: --int8 runs on LiteRT only; leave out --backend tensorflow "
                                       "(and install ai-edge-litert)\n")
    code, _, err = posenet("analyse", tmp_path / "p.jsonl", "--person", "tallest")
    assert (code, err) == (1, "posenet: error: --person takes largest, centre or a track id (a positive integer), "
                              "got 'tallest'\n")
    assert not (tmp_path / "p.json").exists()
    from posenet_cli.cli.errors import as_flags

    assert as_flags("`workers` must be 1 or more; `fmt='openpose'`, `path=FOLDER/`, `filter_order` 2, `x`") == \
        "--workers must be 1 or more; --format openpose, --out FOLDER/, `filter_order` 2, `x`"

def test_console_script_runs(env, tmp_path):
    exe = Path(sys.executable).parent / "posenet"
    proc = subprocess.run([str(exe), "image", str(SAMPLE), "--quiet"], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    person, *faint = [p["score"] for p in json.loads(proc.stdout)["poses"]]  # one person, then faint partial poses
    assert person > 0.25 and all(s < 0.1 for s in faint)


@pytest.mark.slow
def test_no_tensorflow_log_lines_on_any_command(model_env, tmp_path):
    """Converting (TensorFlow, and LiteRT where installed), copying, inspecting and running a model print
    nothing on stderr with --quiet: none of TensorFlow's C++ or Python log lines reach the user. Run as
    processes, since those lines are written to file descriptor 2, past Python's sys.stderr."""
    exe = Path(sys.executable).parent / "posenet"
    env = {**os.environ, **model_env, "POSENET_CACHE_DIR": str(tmp_path / "cache")}  # a conversion happens here
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    for args in (["models", "fetch", "mobilenet-v1-050"],
                 ["models", "convert", "mobilenet-v1-050", "--out", str(tmp_path / "copy")],
                 ["models", "info", "mobilenet-v1-050"],
                 ["image", str(SAMPLE), "--model", "mobilenet-v1-050", "--backend", "tensorflow"]):
        proc = subprocess.run([str(exe), *args, "--quiet"], capture_output=True, text=True, env=env, timeout=600)
        assert proc.returncode == 0 and proc.stderr == "", (args, proc.stderr)


BAD_INPUTS = [
    (["image", "missing.jpg"], "no such file"),
    (["image", "{text}"], "cannot read image"),
    (["image", "{empty_dir}"], "no images found"),
    (["image", str(SAMPLE), "--stride", "12"], "stride"),
    (["image", str(SAMPLE), "--scale-factor", "0"], "scale factor"),
    (["image", str(SAMPLE), "--out", "/nonexistent-dir/x.json"], "does not exist"),
    (["image", str(SAMPLE), "--model", "mobilenet-v1-200"], "unknown model"),
    (["image", str(SAMPLE), "--model", "mobilenet-v1-075", "--stride", "32"], "stride 32"),
    (["video", "{text}"], "has no frames"),
    (["webcam", "--device", "99", "--no-display"], "cannot open"),
    (["image", str(SHARED / "data" / "videos" / "street-5frames.mp4")], "it is a video; use 'posenet video'"),
    (["image", str(SAMPLE), "--decode-stride", "3"], "divide the output stride 16"),
    (["image", str(SAMPLE), "--scales", "1;1.5"], "comma-separated"),
    (["video", "{text}", "--scales", "0"], "positive"),
    (["image", str(SAMPLE), "--accurate", "--scales", "1"], "add --flip or --no-flip"),
    (["image", str(SAMPLE), "--scale-factor", "0.8", "--scales", "1,1.5"], "at scale 1.5: scale factor must be"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_gets_one_clear_line(env, tmp_path, args, message):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    (tmp_path / "empty").mkdir()
    args = [a.format(text=text, empty_dir=tmp_path / "empty") for a in args]
    code, _, err = posenet(*args)
    assert code != 0
    assert message in err.lower() or message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_bench_prints_a_table_with_the_video_ratio(env, shared):
    code, out, err = posenet("bench", shared / "data" / "videos" / "street-5frames.mp4", "--sizes", "33",
                         "--scale-factor", "0.25")
    assert code == 0, err
    rows = [line for line in out.splitlines() if "│" in line]
    assert sum("model alone" in r and "33x33" in r for r in rows) == 4  # batches 1, 2, 4, 8
    video = next(r for r in rows if "posenet video street-5frames.mp4" in r)
    ratio = float(video.split("│")[-2].split()[0])
    assert 0 < ratio < 5
    code, _, err = posenet("bench", "--sizes", "100")
    assert code == 1 and "multiples of the stride plus one" in err


def test_image_resume_skips_what_is_done(env, shared, tmp_path):
    folder = shared / "data" / "images" / "tfjs-demo"
    whole, cut = tmp_path / "whole.jsonl", tmp_path / "cut.jsonl"
    assert posenet("image", folder, "--out", whole, "--quiet")[0] == 0
    text = whole.read_text()
    cut.write_text("".join(text.splitlines(keepends=True)[:3]) + '{"image": "half')
    code, _, err = posenet("image", folder, "--out", cut, "--quiet", "--resume")
    assert code == 0, err
    assert cut.read_text() == text
    code, _, err = posenet("image", folder, "--out", cut, "--resume")
    assert code == 0 and "already complete" in err


def test_per_image_outputs_never_clash_or_overwrite(env, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "same.png").write_bytes(SAMPLE.read_bytes())
    results = tmp_path / "results"
    code, _, err = posenet("image", a / "same.png", b / "same.png", "--out", f"{results}/", "--quiet")
    assert code == 1 and "two inputs would both write" in err and not results.exists()
    code, _, err = posenet("image", a / "same.png", "--out", f"{results}/", "--quiet")
    assert code == 0, err
    before = (results / "same.json").read_bytes()
    code, _, err = posenet("image", a / "same.png", SAMPLE, "--out", f"{results}/", "--quiet")
    assert code == 1 and "same.json exists; pass --overwrite" in err
    assert (results / "same.json").read_bytes() == before and not (results / "astronaut.json").exists()
    code, _, err = posenet("image", a / "same.png", SAMPLE, "--out", f"{results}/", "--quiet", "--resume")
    assert code == 0, err
    assert (results / "same.json").read_bytes() == before and (results / "astronaut.json").is_file()


def test_positions_are_written_to_the_chosen_precision(env, shared):
    photo = shared / "data" / "images" / "coral" / "couple.jpg"

    def keypoints(*options: str) -> list[dict]:
        code, out, err = posenet("image", photo, "--multi", *options, "--quiet")
        assert code == 0, err
        record = json.loads(out)
        return [k for pose in record["poses"] for k in pose["keypoints"]]

    default, fine = keypoints(), keypoints("--precision", "6")
    assert len(default) == len(fine) > 17
    for a, b in zip(default, fine):  # 2 decimals (0.01 px) by default, scores to 4
        assert a["position"] == {axis: round(b["position"][axis], 2) for axis in "xy"}
        assert a["score"] == round(b["score"], 4)
    assert any(round(k["position"]["x"], 2) != k["position"]["x"] for k in fine)  # 6 decimals really are finer


def test_a_stride_that_is_not_the_savedmodels_is_refused_everywhere(env, tmp_path):
    """Every command that takes a model checks an explicit --stride against a SavedModel's own, before any
    work (batch once ran at the model's stride and recorded the one asked for)."""
    target = tmp_path / "s8"
    code, _, err = posenet("models", "convert", "mobilenet-v1-050", "--stride", "8", "--out", target, "--quiet")
    assert code == 0, err
    mismatch = f"posenet: error: SavedModel {target} has output stride 8, not 16 (leave out --stride to use the " \
               "model's own)\n"
    for command in (["image", SAMPLE, "--model", target],
                    ["batch", SAMPLE, "--model", target, "--out-dir", tmp_path / "b"],
                    ["models", "fetch", target], ["models", "convert", target, "--out", tmp_path / "copy"],
                    ["models", "info", target]):
        code, _, err = posenet(*command, "--stride", "16", "--quiet")
        assert (code, err) == (1, mismatch), command
    assert not (tmp_path / "b" / "astronaut.json").exists() and not (tmp_path / "copy").exists()


def test_converting_a_savedmodel_onto_itself_keeps_it(env, tmp_path):
    target = tmp_path / "s16"
    assert posenet("models", "convert", "mobilenet-v1-050", "--out", target, "--quiet")[0] == 0
    code, out, err = posenet("models", "convert", target, "--out", target, "--overwrite", "--quiet")
    assert code == 0, err
    assert (target / "saved_model.pb").is_file() and posenet("image", SAMPLE, "--model", target, "--quiet")[0] == 0
    (tmp_path / "notes").mkdir()  # --overwrite replaces a SavedModel, never another kind of folder
    code, _, err = posenet("models", "convert", target, "--out", tmp_path / "notes", "--overwrite", "--quiet")
    assert code == 1 and "is not a SavedModel; not replacing it" in err and (tmp_path / "notes").is_dir()
