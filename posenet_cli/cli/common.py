"""Steps several commands share: loading the model with progress, checking the output plan before any work
(an output that exists told as the flags that replace or continue it), and running a job so that every
output is finished, stdout stays clean on an error, and an interruption says how to continue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..estimator import PoseNet
from ..files import close_all
from ..models import ModelRef
from ..output.plan import OutputExists, OutputPlan, Stdout, check_file
from ..output.writers import Writer
from .errors import fail
from .signals import Interrupted, signals
from .ui import Ui

T = TypeVar("T")


def load_net(model: ModelRef, ui: Ui) -> PoseNet:
    """The PoseNet for `model`: downloaded and converted on first use (with progress), loaded from the
    cache after (TensorFlow started only where it is needed, with a spinner: it takes seconds)."""
    return PoseNet(runner=model.load(ui))


def exists_advice(error: OutputExists) -> str:
    """What to pass to replace (or continue) an output that exists."""
    it = "it" if error.what == "exists" else "them"
    return f"{error}; pass --overwrite to replace {it}" + (" (or --resume to continue)" if error.resumable else "")


def check_plan(plan: OutputPlan, items: Sequence[str | int | Path] = (),
               drawn: Sequence[str | int | Path] | None = None) -> None:
    """`plan.check`, before any work, in the words of the command line."""
    try:
        plan.check(items, drawn)
    except OutputExists as e:
        fail(exists_advice(e))


def check_output(path: Path | None, overwrite: bool, *, folder: bool = False) -> None:
    """One output file (or with `folder`, a folder made whole) that may be written (plan.check_file)."""
    if path is None:
        return
    try:
        check_file(path, overwrite, folder=folder)
    except OutputExists as e:
        fail(exists_advice(e))


def run_job(plan: OutputPlan, writer: Writer | None, work: Callable[[], T], others: Sequence[Any] = (), *,
            resumable: bool | None = None) -> T:
    """Run `work` with Ctrl-C and SIGTERM deferred to the end of the item in hand, then close the results'
    `writer` and the `others` (each finished, or removed, with the items so far, even when another fails).
    On an error, results for stdout that hold no item are left unwritten, so stdout shows nothing rather
    than an empty document; an interruption of a run that --resume can continue (`resumable`, by default
    the plan's) says so."""
    outputs = [writer, *others]
    try:
        with signals.deferred():
            result = work()
    except BaseException as e:
        if isinstance(plan.results, Stdout) and writer is not None and writer.count == 0:
            outputs.remove(writer)
        close_all(outputs, e)
        if isinstance(e, Interrupted):
            e.resumable = plan.resumable if resumable is None else resumable
        raise
    close_all(outputs)
    return result
