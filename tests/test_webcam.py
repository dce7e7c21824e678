"""`posenet webcam`: without a display it says so in one line; with one (a virtual X server, Xvfb) the
window is the video's size with no toolbar, Qt prints nothing, and JSON goes only where --out says."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import time

import pytest

from conftest import posenet

CLIP = "data/videos/street-5frames.mp4"  # 960x540, 5 frames


@pytest.mark.parametrize("display", ["", ":987"], ids=["unset", "no-server"])
def test_without_a_display_one_line_names_no_display(env, shared, monkeypatch, display):
    monkeypatch.setenv("DISPLAY", display)
    code, out, err = posenet("webcam", "--device", shared / CLIP)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("posenet: error: cannot open a window: ") and "--no-display" in err


def test_no_json_on_stdout_without_out(env, shared):
    code, out, err = posenet("webcam", "--device", shared / CLIP, "--no-display", "--quiet")
    assert (code, out) == (0, ""), err


@pytest.fixture()
def xvfb(tmp_path):
    """A virtual X display for the test's window (skipped, with the reason, where Xvfb is not installed).

    Xvfb picks a free display itself and writes its number once it accepts clients (-displayfd): a number
    chosen here could be taken by another server, or a stale socket could pass for one not yet listening."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb x11-utils)")
    read_end, write_end = os.pipe()
    log = tmp_path / "xvfb.log"
    with log.open("w") as server_stderr:
        server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1600x1000x24",
                                   "-nolisten", "tcp"], pass_fds=(write_end,),
                                  stdout=subprocess.DEVNULL, stderr=server_stderr)
    os.close(write_end)
    try:
        number = _display_number(read_end, XVFB_START_S)
        if not number:
            pytest.fail(f"Xvfb gave no display within {XVFB_START_S} s: {log.read_text().strip()}")
        yield f":{number}"
    finally:
        os.close(read_end)
        server.kill()
        server.wait()


XVFB_START_S = 15  # a server that has not given its display number by then never will: fail, not hang


def _display_number(fd: int, seconds: float) -> str:
    """The display number Xvfb writes to `fd` (a line), or "" when it ends or stays silent for `seconds`."""
    deadline, text = time.monotonic() + seconds, b""
    while b"\n" not in text:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 64) if ready else b""
        if not chunk:
            return ""
        text += chunk
    return text.decode().strip()


def test_the_window_fits_the_video_and_qt_stays_quiet(model_env, shared, tmp_path, xvfb):
    if shutil.which("xwininfo") is None:
        pytest.skip("xwininfo is not installed (apt-get install x11-utils)")
    out = tmp_path / "live.jsonl"
    env = {**os.environ, **model_env, "DISPLAY": xvfb}
    env.pop("QT_QPA_PLATFORM", None)
    # A real process, as a user runs it: Qt's messages would reach its stderr. It shows each frame and ends
    # with the clip; a watcher reads the window's size meanwhile.
    clip = shared / "data/videos/walking-street.mp4"  # 1280x720, 144 frames: seconds of window to look at
    proc = subprocess.Popen([sys.executable, "-m", "posenet_cli", "webcam", "--device", str(clip),
                             "--out", str(out), "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    sizes, deadline = set(), time.monotonic() + 120  # the clip shows for seconds: a run this long is stuck
    while proc.poll() is None and time.monotonic() < deadline:
        tree = subprocess.run(["xwininfo", "-display", xvfb, "-root", "-tree"], capture_output=True, text=True).stdout
        sizes |= set(re.findall(r'"posenet".*?\s(\d+x\d+)\+', tree))
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
    stdout, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    assert stderr == "" and stdout == ""  # no Qt font warnings, no JSON on stdout
    # The video's size once it shows frames (Qt maps a small placeholder first); a toolbar and a status bar
    # would make it 1280 x 780.
    assert "1280x720" in sizes and all(int(s.split("x")[1]) <= 720 for s in sizes), sizes
    frames = [json.loads(line)["frame"] for line in out.read_text().splitlines()]
    assert frames == sorted(frames) and len(frames) > 10  # a live source drops stale frames, never reorders
