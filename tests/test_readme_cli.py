"""README and CLI agree: every option the README names exists, and every `posenet ...` command it shows (in
code blocks and inline code) parses as the CLI parses it: its command, its options, their choices and
numbers. Fast: the commands are parsed by the CLI's own parser, not run (tests/test_readme.py runs the Usage
section's)."""

from __future__ import annotations

import re
import shlex
from typing import Any

import pytest
import typer

from posenet_cli.cli.main import app

from conftest import REPO

README = (REPO / "README.md").read_text()
ROOT = typer.main.get_command(app)
NOT_OURS = {"--write_json": "OpenPose's own flag, named for the layout --format openpose writes"}


def _commands(command: Any) -> list[Any]:
    return [command, *(c for sub in getattr(command, "commands", {}).values() for c in _commands(sub))]


def _option_names() -> set[str]:
    names = set()
    for command in _commands(ROOT):
        names.update(command.get_help_option_names(command.context_class(command)))
        for param in command.params:
            names.update(getattr(param, "opts", ()), getattr(param, "secondary_opts", ()))
    return names


def readme_commands(text: str = README) -> list[str]:
    """The `posenet ...` commands of the README: lines of its code blocks (comments off, `a && b` and pipes
    split) and inline code spans."""
    found = []
    for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            for part in re.split(r"&&|\|", line.split(" #", 1)[0]):
                found.append(part.strip())
    found += re.findall(r"`(posenet [^`]+)`", text)
    return [c for c in found if c.startswith("posenet ")]


def test_every_option_the_readme_names_exists():
    named = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", README)) - set(NOT_OURS)
    assert named - _option_names() == set()


def test_the_readme_shows_many_commands():
    assert len(readme_commands()) >= 30


@pytest.mark.parametrize("line", readme_commands())
def test_each_readme_command_parses(line):
    """Unknown options, wrong choices, numbers out of range and missing arguments fail here as they would
    for a user. A command named in prose (no arguments) and help lines are checked for their command only."""
    args = shlex.split(line)[1:]
    command = ROOT
    while hasattr(command, "commands") and args and args[0] in command.commands:
        command, args = command.commands[args[0]], args[1:]
    if not args:  # a command named in prose
        return
    if hasattr(command, "commands") or {"--help", "--version"} & set(args):
        assert not args or args[0].startswith("-") or args[0] in {"COMMAND"}, f"{line}: no such command"
        return
    try:
        command.make_context("posenet", args)
    except Exception as e:  # Typer's bundled click raises its own UsageError classes
        pytest.fail(f"{line}: {e.format_message() if hasattr(e, 'format_message') else e}")
