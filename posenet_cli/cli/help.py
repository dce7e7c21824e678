"""What makes the help read at 80 columns (tests/test_help.py renders it): numbers parsed with their bounds
checked here rather than by Typer's min/max, whose ranges it prints beside each type ("FLOAT RANGE
[0.0<=x<=1.0]", a third of a row), and docstrings whose paragraphs Typer's rich help does not break early."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import typer


def number(kind: type[int] | type[float], low: float, high: float | None = None, *, above: bool = False
           ) -> Callable[[Any], Any]:
    """A parser (Typer's `parser=`) of a `kind` number from `low` (or above it, when `above`) up to `high`;
    a value out of bounds is a usage error that names them."""

    def parse(value: Any) -> Any:
        try:
            parsed = kind(value)
        except (TypeError, ValueError):
            raise typer.BadParameter(f"{value!r} is not {'a whole number' if kind is int else 'a number'}") from None
        if high is not None and not low <= parsed <= high:
            raise typer.BadParameter(f"{value} is not between {low:g} and {high:g}")
        if parsed < low or (above and parsed == low):
            raise typer.BadParameter(f"{value} is {'not above' if above else 'below'} {low:g}")
        return parsed

    parse.__name__ = kind.__name__  # the type Typer names, where it names one
    return parse


def unwrapped(doc: str | None) -> str | None:
    """A docstring as Typer's help: each prose paragraph on one line (Typer's rich help keeps a paragraph's
    line breaks, so a docstring's would break its lines early), indented ones (examples) as written."""
    if doc is None:
        return None
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(p if p.startswith(" ") else " ".join(p.split()) for p in paragraphs)

