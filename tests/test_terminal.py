"""What a person at a terminal sees (#24): a line per image instead of JSON when --draw keeps the drawings,
JSON whenever stdout is piped or `--out -`; a webcam run that keeps nothing says so; stdout stays clean
when a run fails; `video` refuses an image as `image` refuses a video; Ctrl-C says how to continue."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys

from conftest import SAMPLE, posenet

CLIP = "data/videos/street-5frames.mp4"


def on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run `posenet ARGS` with stdout on a pseudo-terminal; its exit status and what the terminal showed."""
    main, child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "posenet_cli", *args, "--quiet"], stdout=child,
                            stderr=subprocess.DEVNULL, env={**os.environ, **env})
    os.close(child)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    return proc.wait(timeout=120), shown.decode().replace("\r\n", "\n")


def test_drawing_on_a_terminal_prints_a_line_per_image_and_json_when_piped(model_env, env, shared, tmp_path):
    photos = [shared / "data/images/coral/couple.jpg", SAMPLE]
    code, out, err = posenet("image", *photos, "--draw", tmp_path / "piped", "--quiet")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]  # piped: the JSON lines, as without --draw
    assert [r["image"] for r in records] == [str(p) for p in photos]

    code, shown = on_a_terminal(["image", *map(str, photos), "--draw", str(tmp_path / "drawn")], model_env)
    assert code == 0, shown
    lines = shown.splitlines()
    assert len(lines) == len(records)
    for line, r in zip(lines, records):  # `<image>: N poses (scores, best first, to 0.01)`
        n = len(r["poses"])
        head = f"{r['image']}: {n} pose{'' if n == 1 else 's'}"
        assert line.startswith(head)
        shown_scores = [float(v) for v in line[len(head):].strip(" ()").split(", ") if v]
        scores = sorted((p["score"] for p in r["poses"]), reverse=True)
        assert len(shown_scores) == n and all(abs(a - b) <= 0.0051 for a, b in zip(shown_scores, scores))
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == sorted(p.name for p in photos)

    code, shown = on_a_terminal(["image", str(SAMPLE), "--draw", str(tmp_path / "one.png"), "--out", "-"],
                                model_env)
    assert code == 0 and json.loads(shown)["image"] == str(SAMPLE)  # `--out -`: JSON on the terminal too


def test_a_webcam_run_that_keeps_nothing_warns(env, shared, tmp_path):
    code, out, err = posenet("webcam", "--device", shared / CLIP, "--no-display")
    assert (code, out) == (0, "")
    assert "posenet: warning: nothing will be written or shown" in err
    code, _, err = posenet("webcam", "--device", shared / CLIP, "--no-display", "--out", tmp_path / "live.jsonl")
    assert code == 0 and "warning" not in err
    assert len((tmp_path / "live.jsonl").read_text().splitlines()) == 5


def test_a_failed_drawing_leaves_stdout_empty(env):
    code, out, err = posenet("image", SAMPLE, "--draw", "/dev/full")
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and "/dev/full" in err


def test_video_refuses_an_image_as_image_refuses_a_video(env, shared, tmp_path):
    code, out, err = posenet("video", SAMPLE, "--out", tmp_path / "p.jsonl")
    assert (code, out) == (1, "")
    assert err == f"posenet: error: cannot read video {str(SAMPLE)!r}: it is an image; use 'posenet image' (or " \
                  "'posenet batch')\n"
    assert not (tmp_path / "p.jsonl").exists()
    code, _, err = posenet("image", shared / CLIP)
    assert code == 1 and "it is a video; use 'posenet video'" in err


def test_an_interrupted_run_says_how_to_continue(env, shared, tmp_path, monkeypatch):
    from posenet_cli.cli.signals import signals
    from posenet_cli.jobs import images

    photos = shared / "data/images/tfjs-demo"
    read = images.read_image

    def read_then_ctrl_c(path):  # Ctrl-C while the first image is read: the run stops after it
        signals.handle(signal.SIGINT, None)
        return read(path)

    monkeypatch.setattr(images, "read_image", read_then_ctrl_c)
    out = tmp_path / "p.jsonl"
    code, _, err = posenet("image", photos, "--out", out, "--quiet")
    assert code == 130
    assert err == "posenet: interrupted; run the same command with --resume to continue\n"
    assert len(out.read_text().splitlines()) == 1  # the image in hand was finished
    code, stdout, err = posenet("image", SAMPLE, "--quiet")  # stdout cannot be continued: no advice
    assert code == 130 and err == "posenet: interrupted\n"
    assert json.loads(stdout)["image"] == str(SAMPLE)

    monkeypatch.setattr(images, "read_image", read)
    code, _, err = posenet("image", photos, "--out", out, "--quiet", "--resume")
    assert code == 0, err
    whole = tmp_path / "whole.jsonl"
    assert posenet("image", photos, "--out", whole, "--quiet")[0] == 0
    assert out.read_text() == whole.read_text()
