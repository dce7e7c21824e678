"""Every command's help as an 80-column terminal shows it: nothing wider than the terminal, no word or choice
broken across lines, each command's summary on one line of its group's list, and room for the descriptions.

The words checked come from the commands' own declarations (the click parameters Typer builds; Typer bundles
its own click, so they are read by their attributes), the text checked is what `posenet ... --help` prints."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from posenet_cli.cli.main import app

from conftest import posenet

COLUMNS = 80
MIN_DESCRIPTION = 34  # characters an option's description gets a line, at least (21 when Typer printed ranges)


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(typer.main.get_command(app)))


@pytest.fixture(params=list(COMMANDS), ids=lambda path: " ".join(("posenet", *path)))
def rendered(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    monkeypatch.setenv("COLUMNS", str(COLUMNS))
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    code, out, err = posenet(*request.param, "--help")
    assert code == 0, err
    return COMMANDS[request.param], out.splitlines()


def _words(text: str | None) -> list[str]:
    """The words of a help text as printed: rich markup ([bold]...) is not printed, so words with brackets
    are left out."""
    return [w for w in (text or "").split() if "[" not in w and "]" not in w]


def _names(text: str | None, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(str(word))}(?![\w-])", text or "") is not None


def _options(command: Any) -> list[Any]:
    return [p for p in command.params if p.param_type_name == "option" and not p.hidden]


def _metavar(option: Any, command: Any) -> str:
    return option.make_metavar(command.context_class(command))


def test_nothing_is_wider_than_the_terminal(rendered):
    _, lines = rendered
    assert [line for line in lines if len(line) > COLUMNS] == []


def test_no_word_and_no_choice_is_broken_across_lines(rendered):
    command, lines = rendered
    printed = set(" ".join(lines).split())
    texts = [command.help.partition("\f")[0] if command.help else ""] + [o.help or "" for o in _options(command)]
    broken = [w for text in texts for w in _words(text) if w not in printed]
    assert broken == [], f"words split across lines: {broken}"
    for option in _options(command):
        if not hasattr(option.type, "choices"):
            continue
        metavar = _metavar(option, command)
        assert any(metavar in line for line in lines), f"{option.name}'s {metavar} is split"
        unnamed = [c for c in option.type.choices if not (_names(metavar, c) or _names(option.help, c))]
        assert unnamed == [], f"{option.name}: choices neither in its metavar nor in its help: {unnamed}"


def test_each_command_summary_is_one_line(rendered):
    command, lines = rendered
    if not hasattr(command, "commands"):
        return
    for name, sub in command.commands.items():
        summary = " ".join((sub.short_help or sub.help or "").split("\n\n")[0].split())
        row = [line for line in lines if re.match(rf"│ {re.escape(name)}\s", line)]
        assert len(row) == 1 and summary in row[0], f"{name}: {summary!r} is not one line of {command.name}'s list"


def test_descriptions_have_room(rendered):
    """An option's description starts early enough in its row to get MIN_DESCRIPTION characters a line."""
    command, lines = rendered
    narrow = []
    for option in _options(command):
        first = next(iter(_words(option.help)), None)
        long_name = max(option.opts, key=len)
        row = next((line for line in lines if re.match(rf"│ (\* +)?{re.escape(long_name)}\b", line)), None)
        if first is None or row is None:
            continue
        start = row.find(first, row.index(long_name) + len(long_name))
        if start < 0 or COLUMNS - 2 - start < MIN_DESCRIPTION:
            narrow.append(f"{long_name} ({COLUMNS - 2 - start if start >= 0 else 'elsewhere'})")
    assert narrow == [], f"descriptions narrower than {MIN_DESCRIPTION} characters: {narrow}"


def test_each_example_is_one_line(rendered):
    """The examples (a docstring's indented lines) print whole, ready to copy."""
    command, lines = rendered
    examples = [line.strip() for line in (command.help or "").splitlines() if line.startswith(" ") and line.strip()]
    assert [e for e in examples if not any(e in line for line in lines)] == []


def test_prose_fills_its_lines(rendered):
    """A paragraph outside the panels breaks a line only where its next word would not fit."""
    _, lines = rendered
    prose = [line.strip() if not line.startswith(("│", "╭", "╰")) else "" for line in lines]
    early = [a for a, b in zip(prose, prose[1:]) if a and b and len(a) + 1 + len(b.split()[0]) <= COLUMNS - 4]
    assert early == [], f"lines broken early: {early}"


@pytest.mark.parametrize(("args", "message"), [
    (("--min-pose-score", "1.5"), "'--min-pose-score': 1.5 is not between 0 and 1"),
    (("--max-poses", "0"), "'--max-poses': 0 is below 1"),
    (("--max-poses", "2.5"), "'--max-poses': '2.5' is not a whole number"),
    (("--smooth-min-cutoff", "0"), "'--smooth-min-cutoff': 0 is not above 0"),
    (("--start", "x"), "'--start': 'x' is not a number"),
])
def test_a_number_out_of_its_range_is_refused_with_the_range(args, message):
    """The ranges the help no longer prints beside the types are still enforced, and the error names them."""
    code, out, err = posenet("video", "clip.mp4", *args)
    assert code == 2 and out == "" and message in err


def test_numbers_in_range_are_taken(tmp_path):
    """The bounds themselves are allowed: the run gets as far as the missing input."""
    code, _, err = posenet("video", tmp_path / "none.mp4", "--min-pose-score", "1", "--max-poses", "1",
                           "--smooth-beta", "0", "--precision", "17")
    assert code != 2 and "Invalid value" not in err, err
