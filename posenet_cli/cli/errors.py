"""Exit statuses and the one-line error: what a user sees when a command cannot do what was asked.

The library's messages name its parameters in backticks (`int8=True`, `backend='tensorflow'`, `workers`), so a
Python caller reads what it passed; `as_flags` shows them as the command-line flags that set them. The mapping
is here, once: FLAGS.
"""

from __future__ import annotations

import re
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


# A library parameter (or function) -> what sets it on the command line.
FLAGS = {
    "backend": "--backend", "int8": "--int8", "stride": "--stride", "cache_dir": "--cache-dir",
    "base_url": "--base-url", "model": "--model", "workers": "--workers", "resume": "--resume",
    "overwrite": "--overwrite", "fmt": "--format", "path": "--out",  # open_writer's format and output path
    "plot": "--plot", "person": "--person",
    "filter": "--filter", "filter_cutoff": "--filter-cutoff", "fill_gaps": "--fill-gaps",
    "quantize_model": "'posenet models quantize MODEL --calibration PHOTOS'",
}
_PARAMETER = re.compile(r"`(?P<name>\w+)(?:=(?P<value>[^`]*))?`")


def as_flags(message: str) -> str:
    """`message` with each parameter it names in backticks shown as its flag: `workers` -> --workers,
    `int8=True` -> --int8, `backend='tensorflow'` -> --backend tensorflow. Names without a flag stay."""
    def flag(match: re.Match[str]) -> str:
        name, value = match["name"], match["value"]
        if name not in FLAGS:
            return match[0]
        if value is None or value == "True":
            return FLAGS[name]
        return f"{FLAGS[name]} {value.strip(chr(39))}"

    return _PARAMETER.sub(flag, message)


def fail(message: str) -> NoReturn:
    raise UserError(message)


def echo_error(message: str) -> None:
    """`posenet: <message>` on stderr."""
    typer.echo(f"posenet: {as_flags(message)}", err=True)
