"""Ctrl-C and SIGTERM during a job: stop after the item in hand, so every output holds whole items."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, NoReturn


class Interrupted(BaseException):
    """SIGINT or SIGTERM as an exception, so outputs are closed on the way out; exit status 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.resumable = False  # whether the run's outputs can be continued with --resume


class Signals:
    """Ctrl-C (SIGINT) and SIGTERM. Outside a job they interrupt at once (an exception); while a job
    writes results (`deferred`) the first one asks it to stop after the item in hand, so that item is
    whole in every output, and a second one interrupts at once."""

    def __init__(self) -> None:
        self.deferring = False
        self.received: int | None = None

    def handle(self, signum: int, frame: Any) -> None:
        if self.deferring and self.received is None:
            self.received = signum
            return
        self.interrupt(signum)

    @staticmethod
    def interrupt(signum: int) -> NoReturn:
        raise Interrupted(signum)

    def requested(self) -> bool:
        return self.received is not None

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Within: signals become stop requests. On leaving (outputs closed by then), a request received
        is raised as the interruption it stands for."""
        self.deferring, self.received = True, None
        try:
            yield
        finally:
            self.deferring = False
        if self.received is not None:
            self.interrupt(self.received)


signals = Signals()
