"""What a command shows on the terminal besides its results: progress bars and summaries on stderr,
only on a terminal for bars, and nothing at all with --quiet."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import typer

from .errors import as_flags

T = TypeVar("T")


@dataclass(frozen=True)
class Ui:
    """The terminal side of a command: `quiet` silences progress and summaries, `verbose` reports each
    failed item too."""

    quiet: bool = False
    verbose: bool = False

    @property
    def bars(self) -> bool:
        """Whether progress bars are drawn: not when quiet, and only on a terminal."""
        return not self.quiet and sys.stderr.isatty()

    def say(self, message: str) -> None:
        """A line on stderr, unless quiet."""
        if not self.quiet:
            typer.echo(as_flags(message), err=True)

    def bar(self, total: int | None, unit: str, **kwargs: Any) -> Any:
        """A tqdm bar on stderr, or None when bars are off."""
        if not self.bars:
            return None
        from tqdm import tqdm

        return tqdm(total=total, unit=unit, leave=False, **kwargs)

    def track(self, items: Iterable[T], total: int, unit: str) -> Iterator[T]:
        """`items`, advancing a bar as each is taken (a bar only for more than one)."""
        bar = self.bar(total, unit) if total > 1 else None
        try:
            for item in items:
                yield item
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()

    def download(self, label: str, total: int | None) -> Callable[[int], None]:
        """A byte bar for one download (models.sources.Reporter); update(-1) closes it."""
        bar = self.bar(total, "B", desc=label, unit_scale=True)
        if bar is None:
            return lambda n: None

        def update(n: int) -> None:
            if n < 0:
                bar.close()
            else:
                bar.update(n)

        return update

    @contextlib.contextmanager
    def step(self, message: str) -> Iterator[None]:
        """A spinner with `message` while the block runs (a terminal only): a wait with nothing to count."""
        if not self.bars:
            yield
            return
        from rich.console import Console

        with Console(stderr=True).status(message):
            yield

    def note(self, message: str) -> None:
        """A line worth telling while working (a fallback taken), unless quiet."""
        self.say(f"posenet: {message}")

    def summary(self, what: str, summary: Any) -> None:
        """`N images, P poses, R images/s[, E errors]`."""
        line = (f"{summary.items} {plural(summary.items, what)}, {summary.poses} {plural(summary.poses, 'pose')}, "
                f"{summary.rate:.1f} {what}s/s")
        if summary.errors:
            line += f", {summary.errors} {plural(summary.errors, 'error')}"
        self.say(line)


def plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
