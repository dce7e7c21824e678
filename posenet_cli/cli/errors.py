"""Exit statuses and the one-line error: what a user sees when a command cannot do what was asked."""

from __future__ import annotations

from enum import IntEnum
from typing import NoReturn

import typer

from ..errors import PoseNetError


class ExitStatus(IntEnum):
    """The `posenet` command's exit statuses (README, "Exit status")."""

    SUCCESS = 0
    ERROR = 1  # a bad input, an item that failed, an option value that cannot work
    USAGE = 2  # the command line itself (an unknown option, a missing argument): Typer's usage error
    WRITE_FAILED = 74  # an output could not be written mid-run (disk full, ...): sysexits' EX_IOERR
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)
    TERMINATED = 143  # SIGTERM (128 + SIGTERM)


class UserError(PoseNetError):
    """Something the user can fix, found by the CLI itself; printed as one line."""


def fail(message: str) -> NoReturn:
    raise UserError(message)


def echo_error(message: str) -> None:
    """`posenet: <message>` on stderr."""
    typer.echo(f"posenet: {message}", err=True)
