"""What this machine offers the runtimes (its cores, the installed TensorFlow and LiteRT), and starting them
the way this tool wants them: quietly, with the thread budget it is given, and only when needed
(TensorFlow takes seconds to import; LiteRT, which runs a converted model, milliseconds)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .sources import SILENT, Reporter


@contextlib.contextmanager
def quiet_stderr(verbose_env: str = "TF_CPP_MIN_LOG_LEVEL", verbose_value: str = "0") -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null for the block: C++ notices bypass sys.stderr. Python's own
    sys.stderr (a spinner, say) keeps writing to where fd 2 went before. The environment variable
    `verbose_env` set to `verbose_value` lets the notices through."""
    if os.environ.get(verbose_env) == verbose_value:
        yield
        return
    sys.stderr.flush()
    python_stderr = sys.stderr
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        if _is_fd2(python_stderr):
            sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding,
                                   errors=python_stderr.errors)
        os.dup2(devnull, 2)
        yield
    finally:
        if sys.stderr is not python_stderr:
            sys.stderr.close()
            sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _is_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # a StringIO (captured output) has no descriptor
        return False


def import_tensorflow(threads: int | None = None) -> None:
    """Import TensorFlow with its C++ start-up notices (oneDNN, CPU features) kept off stderr, and give it
    `threads` intra- and inter-op threads if its runtime has not started yet.

    TF 2.21 prints those notices whatever TF_CPP_MIN_LOG_LEVEL says, so stderr itself is pointed at
    /dev/null for the import; TF_CPP_MIN_LOG_LEVEL=0 lets them through.
    """
    if "tensorflow" not in sys.modules:
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0":
            os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with quiet_stderr():
            import tensorflow  # noqa: F401
    if threads:
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):  # the runtime already started (this process ran TF before)
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)


def start_tensorflow(reporter: Reporter = SILENT, threads: int | None = None) -> None:
    """`import_tensorflow`, shown as a step the first time (it takes seconds)."""
    if "tensorflow" in sys.modules:
        import_tensorflow(threads)
        return
    with reporter.step("starting TensorFlow"):
        import_tensorflow(threads)


def cpu_count() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def have_litert() -> bool:
    """Whether the LiteRT wheel (`ai-edge-litert`) is installed, without importing it."""
    try:
        return importlib.util.find_spec("ai_edge_litert") is not None
    except (ImportError, ValueError):
        return False


def tensorflow_version() -> str | None:
    """The installed TensorFlow's version, from its wheel's metadata folder and without importing it
    (importlib.metadata scans every installed package: tens of ms); None when TensorFlow is not installed."""
    if sys.modules.get("tensorflow") is not None:
        return str(getattr(sys.modules["tensorflow"], "__version__", "unknown"))
    try:
        spec = importlib.util.find_spec("tensorflow")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    site = Path(spec.origin).parent.parent
    with contextlib.suppress(OSError):
        for entry in os.scandir(site):
            name = entry.name
            if name.endswith(".dist-info") and name.split("-")[0] in ("tensorflow", "tensorflow_cpu"):
                return name[: -len(".dist-info")].split("-")[1]
    return "unknown"
