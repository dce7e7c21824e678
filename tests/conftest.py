"""Shared test fixtures: where ../shared is, a loopback server for the weights, a session model cache.

Model tests run on the real shared weights through the real download path (HTTP on 127.0.0.1).
They are skipped, with the reason, only where ../shared does not exist; CI sets
POSENET_REQUIRE_SHARED=1 so that a missing shared folder fails the run instead.

Marks: `model` (given here to every test whose fixtures reach the weights, and by hand to the few that read
../shared/models directly) and `slow`; `make test-fast` runs the tests with neither.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import io
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from posenet_cli.cli import main

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "astronaut.png"
SHARED = Path(os.environ.get("POSENET_SHARED", REPO.parent / "shared"))
HAVE_SHARED = (SHARED / "models").is_dir() and (SHARED / "reference").is_dir()
SHARED_REASON = f"needs the shared weights and reference data at {SHARED} (set POSENET_SHARED to point elsewhere)"

if os.environ.get("POSENET_REQUIRE_SHARED") and not HAVE_SHARED:
    raise pytest.UsageError(f"POSENET_REQUIRE_SHARED is set but {SHARED} has no models/ and reference/")

# Fixtures that serve the shared weights: a test using any of them (directly or through another fixture) needs
# the real weights, and gets the `model` mark without a decorator (`make test-fast` leaves these out).
WEIGHT_FIXTURES = frozenset({"weights_url"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `model` every test whose fixtures reach the shared weights."""
    for item in items:
        if WEIGHT_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.model)


requires_shared = pytest.mark.skipif(not HAVE_SHARED, reason=SHARED_REASON)
needs_litert = pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert") is None,
                                  reason="needs LiteRT (the ai-edge-litert package)")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder; tests using it are skipped (with the reason) only when it does not exist."""
    if not HAVE_SHARED:
        pytest.skip(SHARED_REASON)
    return SHARED


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_folder(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Serve `folder` over HTTP on 127.0.0.1 (a free port); returns the server and its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


@pytest.fixture(scope="session")
def weights_url(shared: Path) -> Iterator[str]:
    """The shared weights, in the official URL layout, served on loopback."""
    server, url = serve_folder(shared / "models")
    yield url
    server.shutdown()


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the whole session, so each model is downloaded and converted once."""
    return tmp_path_factory.mktemp("posenet-cache")


@pytest.fixture(scope="session")
def model_env(weights_url: str, model_cache: Path) -> dict[str, str]:
    """Environment variables pointing the CLI at the loopback mirror and the session cache."""
    return {"POSENET_BASE_URL": weights_url, "POSENET_CACHE_DIR": str(model_cache)}


@pytest.fixture(scope="session")
def posenet_factory(weights_url: str, model_cache: Path):
    """PoseNet(name, stride, backend) built through the real download + conversion path, memoised per session."""
    from posenet_cli.estimator import PoseNet

    @functools.cache
    def make(model: str = "mobilenet-v1-075", output_stride: int = 16, backend: str = "tensorflow") -> PoseNet:
        return PoseNet(model, output_stride, cache_dir=model_cache, base_url=weights_url, backend=backend)

    return make


@pytest.fixture()
def env(model_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """model_env set in this process's environment, for tests that run the CLI in-process."""
    for k, v in model_env.items():
        monkeypatch.setenv(k, v)
    return model_env


@pytest.fixture(scope="session")
def validator():
    """A validator for the JSON Schema of the output records."""
    import jsonschema

    from posenet_cli.output.records import load_schema

    return jsonschema.Draft202012Validator(load_schema())


class Run(NamedTuple):
    """What a run of the command gave: its exit status, stdout and stderr."""

    code: int
    out: str
    err: str


def posenet(*args: object) -> Run:
    """Run the `posenet` command in this process as a user would (arguments as text), capturing its output.
    Whatever happens, it must not print a traceback."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return Run(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def mounted_tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted on `folder` with mount `options` (e.g. "size=8m", "ro,size=64k") for the duration; the
    test is skipped, with the reason, where mounting is not permitted (it needs root, as CI runs)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                          text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
