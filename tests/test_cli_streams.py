"""`posenet video` across frames and over time: tracking, smoothing, resuming, and being interrupted.

All on the shared clips with the real weights; the interruption tests signal a real subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from posenet_cli.media.video import VideoReader

from conftest import posenet

CLIP = "data/videos/walking-street.mp4"  # 144 frames, several people walking through


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_track_gives_ids_that_persist(env, shared, tmp_path, validator):
    out, drawn = tmp_path / "t.jsonl", tmp_path / "t.mp4"
    code, _, err = posenet("video", shared / CLIP, "--multi", "--track", "--scale-factor", "0.5",
                        "--end", "2", "--out", out, "--draw", drawn, "--quiet")
    assert code == 0, err
    records = lines(out)
    for r in records:
        validator.validate(r)
    ids_per_frame = [[p["id"] for p in r["poses"] if "id" in p] for r in records]
    assert all(len(ids) == len(set(ids)) for ids in ids_per_frame)  # never two people with one id
    first = set(ids_per_frame[0])
    assert first and all(first & set(ids) for ids in ids_per_frame)  # someone keeps an id throughout
    assert len({i for ids in ids_per_frame for i in ids}) <= 20  # not a new id per frame (60 frames)
    assert cv2.VideoCapture(str(drawn)).get(cv2.CAP_PROP_FRAME_COUNT) == len(records)


@pytest.mark.slow
def test_smooth_keeps_the_raw_positions_and_steadies_them(env, shared, tmp_path, validator):
    raw_out, smooth_out = tmp_path / "raw.jsonl", tmp_path / "smooth.jsonl"
    args = ("video", shared / "data/videos/dance.mp4", "--single", "--end", "1.5", "--quiet")
    assert posenet(*args, "--out", raw_out)[0] == 0
    code, _, err = posenet(*args, "--smooth", "--out", smooth_out)
    assert code == 0, err
    raw, smooth = lines(raw_out), lines(smooth_out)
    assert len(raw) == len(smooth) > 30
    for a, b in zip(raw, smooth):
        validator.validate(b)
        for ka, kb in zip(a["poses"][0]["keypoints"], b["poses"][0]["keypoints"]):
            assert kb["raw"] == ka["position"]  # the decoder's position, kept
    assert "id" not in smooth[0]["poses"][0]  # single-pose smoothing needs no tracking

    def xy(records: list[dict]) -> np.ndarray:  # (frames, 17, 2)
        return np.array([[[k["position"]["x"], k["position"]["y"]] for k in r["poses"][0]["keypoints"]]
                         for r in records])

    scores = np.array([[k["score"] for k in r["poses"][0]["keypoints"]] for r in raw])
    sure = scores.min(axis=0) >= 0.5  # parts seen confidently throughout: their shake is noise, not misses
    shake = {name: np.abs(np.diff(xy(records)[:, sure], n=2, axis=0)).mean()  # mean |second difference|, px
             for name, records in (("raw", raw), ("smooth", smooth))}
    print(f"jitter of {sure.sum()} confident keypoints: raw {shake['raw']:.2f} px, smoothed {shake['smooth']:.2f} px")
    assert sure.sum() >= 5
    assert shake["smooth"] < 0.6 * shake["raw"]


def test_smooth_with_multi_tracks(env, shared, tmp_path):
    out = tmp_path / "s.jsonl"
    code, _, err = posenet("video", shared / "data/videos/street-5frames.mp4", "--multi", "--smooth",
                        "--out", out, "--quiet")
    assert code == 0, err
    assert any("id" in p for r in lines(out) for p in r["poses"])


@pytest.mark.parametrize("extra", [[], ["--multi", "--track", "--smooth"]], ids=["plain", "track+smooth"])
def test_resume_after_a_cut_equals_an_uninterrupted_run(env, shared, tmp_path, monkeypatch, extra):
    args = ["video", shared / CLIP, "--end", "1", "--every", "2", "--scale-factor", "0.5", "--quiet", *extra]
    whole, cut = tmp_path / "whole.jsonl", tmp_path / "cut.jsonl"
    assert posenet(*args, "--out", whole)[0] == 0
    text = whole.read_text()
    keep = text.splitlines(keepends=True)[:6]
    cut.write_text("".join(keep) + text.splitlines()[6][:40])  # 6 whole lines, then half of one
    opened = []
    open_reader = VideoReader.__init__

    def counted(self, source, **kwargs):
        opened.append(source)
        open_reader(self, source, **kwargs)

    monkeypatch.setattr(VideoReader, "__init__", counted)
    code, _, err = posenet(*args, "--out", cut, "--resume")
    assert code == 0, err
    assert cut.read_text() == text  # byte for byte, ids and smoothing state included
    assert len(opened) == 1  # the reader that found what is left reads it: the source is opened once
    code, _, err = posenet(*args, "--out", cut, "--resume")  # nothing left to do
    assert code == 0 and cut.read_text() == text


@pytest.mark.parametrize(("args", "message"), [
    (["--resume"], "--out FILE.jsonl"),
    (["--resume", "--out", "{out}.json"], "--out FILE.jsonl"),
    (["--resume", "--out", "{out}.jsonl", "--draw", "{out}.mp4"], "cannot continue an annotated video"),
    (["--out", "{out}.jsonl"], "exists; pass --overwrite"),
])
def test_resume_and_overwrite_errors(env, shared, tmp_path, args, message):
    (tmp_path / "o.jsonl").write_text("")
    code, _, err = posenet("video", shared / CLIP, *[a.format(out=tmp_path / "o") for a in args])
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_run_keeps_every_finished_frame(env, shared, tmp_path, signum, exit_code):
    out, drawn = tmp_path / "p.jsonl", tmp_path / "p.mp4"
    args = ["video", str(shared / CLIP), "--multi", "--scale-factor", "0.5", "--quiet"]
    proc = subprocess.Popen([sys.executable, "-m", "posenet_cli", *args, "--out", str(out), "--draw", str(drawn)],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    deadline = time.monotonic() + 120
    while (not out.exists() or out.read_text().count("\n") < 10) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.01)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == exit_code, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] in ("posenet: interrupted",
                                                                       "posenet: terminated")
    records = lines(out)  # every line whole and valid JSON
    assert 10 <= len(records) < 144, "the signal came too late to test an interruption"
    assert [r["frame"] for r in records] == list(range(len(records)))
    video = cv2.VideoCapture(str(drawn))
    assert video.get(cv2.CAP_PROP_FRAME_COUNT) == len(records)  # finalised, one frame per JSON line
    assert sum(1 for _ in iter(lambda: video.read()[0], False)) == len(records)

    code, _, err = posenet(*args, "--out", out, "--resume")
    assert code == 0, err
    whole = tmp_path / "whole.jsonl"
    assert posenet(*args, "--out", whole)[0] == 0
    assert out.read_text() == whole.read_text()
