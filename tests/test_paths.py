"""Every path a user gives (outputs, drawings, folders, the model cache, a conversion target) that cannot be
written fails at once with one `posenet: error:` line naming it, exit status 1, and no traceback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SAMPLE, mounted_tmpfs, posenet

CLIP = "data/videos/street-5frames.mp4"


@pytest.fixture()
def readonly(tmp_path: Path) -> Iterator[Path]:
    """A folder in which no file can be made: permission bits for a normal user, a read-only tmpfs for
    root (whom permission bits do not stop), as in CI."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    with mounted_tmpfs(folder, "ro,size=64k"):
        yield folder


CASES = {
    "image --out FILE": ["image", SAMPLE, "--out", "{ro}/poses.json"],
    "image --out FOLDER/": ["image", SAMPLE, "--out", "{ro}/results/"],
    "image --draw FILE": ["image", SAMPLE, "--draw", "{ro}/drawn.png"],
    "image --draw FOLDER": ["image", SAMPLE, SAMPLE.parent / "README.md", "--draw", "{ro}/drawn/"],
    "video --out": ["video", "{shared}/" + CLIP, "--out", "{ro}/poses.jsonl"],
    "video --draw": ["video", "{shared}/" + CLIP, "--draw", "{ro}/drawn.mp4"],
    "webcam --out": ["webcam", "--device", "{shared}/" + CLIP, "--no-display", "--out", "{ro}/live.jsonl"],
    "webcam --draw": ["webcam", "--device", "{shared}/" + CLIP, "--no-display", "--draw", "{ro}/live.mp4"],
    "batch --out-dir": ["batch", SAMPLE, "--out-dir", "{ro}/results"],
    "batch --draw": ["batch", SAMPLE, "--out-dir", "{tmp}/results", "--draw", "{ro}/drawn"],
    "models convert --out": ["models", "convert", "mobilenet-v1-050", "--out", "{ro}/model"],
    "--cache-dir": ["image", SAMPLE, "--model", "mobilenet-v1-050", "--cache-dir", "{ro}/cache"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_unwritable_path_is_one_line_and_exit_1(env, shared, readonly, tmp_path, case):
    args = [str(a).format(ro=readonly, shared=shared, tmp=tmp_path) for a in CASES[case]]
    code, out, err = posenet(*args, "--quiet")
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("posenet: error: ") and str(readonly) in err, err
    assert out == ""


def test_the_cache_from_the_environment_too(env, readonly, monkeypatch):
    monkeypatch.setenv("POSENET_CACHE_DIR", str(readonly / "cache"))
    code, _, err = posenet("image", SAMPLE, "--model", "mobilenet-v1-050", "--quiet")
    assert code == 1 and err.startswith(f"posenet: error: cannot write the model cache {readonly}/cache: ")
    assert "POSENET_CACHE_DIR" in err and err.count("\n") == 1


def test_a_pipe_is_written_in_place(env, tmp_path):
    """--out naming a FIFO (or a device) writes into it, whatever the format, rather than replacing it."""
    import threading

    fifo = tmp_path / "poses.json"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    code, _, err = posenet("image", SAMPLE, "--out", fifo, "--quiet")
    reader.join(timeout=60)
    assert code == 0, err
    assert fifo.is_fifo() and b'"poses"' in received[0]
