"""The `posenet` command: its Typer apps, the commands registered on them, and `main(argv) -> ExitStatus`,
which runs it without exiting (for tests and embedding). Errors a user can cause come out as one
`posenet: error: ...` line, never a traceback."""

from __future__ import annotations

import os
import signal
import threading
from typing import Annotated

import typer

from .. import __version__
from ..errors import PoseNetError, WriteError
from . import analyse, batch, bench, eval, image, models, video
from .errors import ExitStatus, echo_error
from .signals import Interrupted, signals

app = typer.Typer(
    name="posenet",
    help="Find human poses (17 keypoints per person) in images, videos and webcams with Google's PoseNet.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
for command in (image.image, video.video, video.webcam, batch.batch, bench.bench):
    app.command()(command)
app.command("eval")(eval.evaluate_results)
app.command("analyse")(analyse.analyse)
app.add_typer(models.app, name="models")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"posenet-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Find human poses (17 keypoints per person) with Google's PoseNet."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (ExitStatus)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter is not for users
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, signals.handle)
    try:
        result = app(args=argv, prog_name="posenet", standalone_mode=False)
        return int(result) if isinstance(result, int) else ExitStatus.SUCCESS
    except typer.Exit as e:
        return e.exit_code
    except Interrupted as e:
        how = "; run the same command with --resume to continue" if e.resumable else ""
        echo_error(("terminated" if e.signum == signal.SIGTERM else "interrupted") + how)
        return ExitStatus.TERMINATED if e.signum == signal.SIGTERM else ExitStatus.INTERRUPTED
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C where no handler of ours was installed
        echo_error("interrupted")
        return ExitStatus.INTERRUPTED
    except WriteError as e:
        echo_error(f"error: {e}")
        return ExitStatus.WRITE_FAILED
    except PoseNetError as e:
        echo_error(f"error: {e}")
        return ExitStatus.ERROR
    except Exception as e:
        if hasattr(e, "show") and hasattr(e, "exit_code"):  # a usage error (Typer's ClickException)
            e.show()
            return int(e.exit_code)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
