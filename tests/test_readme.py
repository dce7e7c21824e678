"""The README's examples, run as written: its Python block, and the shell commands of its Usage section, in
order in one folder, on stand-ins for the files they name (photo.jpg, photos/, in.mp4, clip.mp4,
person_keypoints.json) copied from the shared media."""

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
NOT_RUN = {"posenet webcam --mirror": "needs a camera", "posenet bench in.mp4": "measures for minutes"}


def blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def usage_commands() -> list[str]:
    section = README.split("## Usage", 1)[1].split("\n## ", 1)[0]
    lines = [line.split("#", 1)[0].strip() for block in blocks("sh", section) for line in block.splitlines()]
    return [line for line in lines if line.startswith("posenet ")]


def stand_ins(shared: Path, folder: Path) -> Path:
    """A folder holding the files the examples name."""
    labelled = shared / "data" / "coco-keypoints"
    folder.mkdir()
    shutil.copy(shared / "data" / "images" / "coral" / "couple.jpg", folder / "photo.jpg")
    shutil.copy(labelled / "person_keypoints.json", folder / "person_keypoints.json")
    (folder / "photos").mkdir()
    for p in sorted((labelled / "images").glob("*.jpg"))[:3]:
        shutil.copy(p, folder / "photos" / p.name)
    shutil.copy(shared / "data" / "videos" / "dance.mp4", folder / "in.mp4")
    shutil.copy(shared / "data" / "videos" / "street-5frames.mp4", folder / "clip.mp4")
    return folder


@pytest.fixture()
def workdir(env, shared, tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(stand_ins(shared, tmp_path / "work"))
    return tmp_path / "work"


def test_the_python_example_runs(workdir):
    (code,) = blocks("python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed and all("Keypoint(part='leftWrist'" in line for line in printed)


def test_the_usage_section_lists_commands():
    assert len(usage_commands()) >= 8


@pytest.mark.slow
def test_the_usage_commands_run(env, shared, tmp_path, monkeypatch):
    """Each line as a user would type it, in a fresh folder of stand-ins (`a && b` runs b after a there);
    the two that need a camera or minutes are named in NOT_RUN."""
    ran = []
    for n, line in enumerate(usage_commands()):
        if line in NOT_RUN:
            continue
        folder = stand_ins(shared, tmp_path / f"line{n}")
        monkeypatch.chdir(folder)
        for command in line.split("&&"):
            args = shlex.split(command)[1:]
            if "*" in command:  # the shell would expand the glob
                args = [a for arg in args for a in (sorted(str(p) for p in folder.glob(arg)) if "*" in arg else [arg])]
            code, out, err = posenet(*args)
            assert code == 0, f"{command}: {err}"
        ran.append(line)
    assert len(ran) == len(usage_commands()) - len(NOT_RUN)
