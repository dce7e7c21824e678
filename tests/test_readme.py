"""The README's examples, run as written: its Python block, and the shell commands of its Usage section on
stand-ins for the files they name (photo.jpg, photos/, in.mp4, clip.mp4) copied from the shared media."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import REPO, posenet

README = (REPO / "README.md").read_text()
# Commands that need what a test machine lacks: a camera, or minutes of measuring.
NOT_RUN = {"posenet webcam --mirror": "needs a camera", "posenet bench in.mp4 --multi": "measures for minutes"}


def blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def usage_commands() -> list[str]:
    section = README.split("## Usage", 1)[1].split("\n## ", 1)[0]
    lines = [line.split("#", 1)[0].strip() for block in blocks("sh", section) for line in block.splitlines()]
    return [line for line in lines if line.startswith("posenet ")]


@pytest.fixture()
def workdir(env, shared, tmp_path, monkeypatch) -> Path:
    """A folder holding the files the examples name."""
    photos = shared / "data" / "images" / "tfjs-demo"
    shutil.copy(shared / "data" / "images" / "coral" / "couple.jpg", tmp_path / "photo.jpg")
    (tmp_path / "photos").mkdir()
    for p in sorted(photos.glob("*.jpg"))[:3]:
        shutil.copy(p, tmp_path / "photos" / p.name)
    shutil.copy(shared / "data" / "videos" / "dance.mp4", tmp_path / "in.mp4")
    shutil.copy(shared / "data" / "videos" / "street-5frames.mp4", tmp_path / "clip.mp4")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_python_example_runs(workdir):
    (code,) = blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed and all("Keypoint(part='leftWrist'" in line for line in printed)


def test_the_usage_section_lists_commands():
    assert len(usage_commands()) >= 8


@pytest.mark.parametrize("command", usage_commands())
def test_a_usage_command_runs(workdir, command):
    if command in NOT_RUN:
        pytest.skip(f"{command!r} {NOT_RUN[command]}")
    args = shlex.split(command)[1:]
    if "*" in command:  # the shell would expand the glob
        args = [a for arg in args for a in (sorted(str(p) for p in workdir.glob(arg)) if "*" in arg else [arg])]
    code, out, err = posenet(*args)
    assert code == 0, err
