"""The Makefile's install split, as `make -n` (what make would run, without running it) shows it: the demo
installs only what the tool needs, with pip's progress shown; the test targets add the test extras."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def planned(target: str, tmp_path) -> list[str]:
    """The pip commands `make TARGET` would run in a fresh virtual environment."""
    done = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=REPO, capture_output=True,
                          text=True, check=True)
    return [line for line in done.stdout.splitlines() if "pip install" in line]


def test_the_demo_installs_the_tool_alone_with_progress(tmp_path):
    (install,) = planned("demo", tmp_path)
    assert install.endswith("-e .") and "[test]" not in install
    assert "--quiet" not in install and " -q" not in install


@pytest.mark.parametrize("target", ["test", "test-fast", "lint"])
def test_the_test_targets_add_the_test_extras(tmp_path, target):
    tool, extras = planned(target, tmp_path)
    assert tool.endswith("-e .") and extras.endswith("-e '.[test]'")
