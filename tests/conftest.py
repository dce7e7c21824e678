"""Shared test fixtures: where ../shared is, and skipping model tests only when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("POSENET_SHARED", REPO.parent / "shared"))
HAVE_SHARED = (SHARED / "models").is_dir() and (SHARED / "reference").is_dir()
SHARED_REASON = f"needs the shared weights and reference data at {SHARED} (set POSENET_SHARED to point elsewhere)"

requires_shared = pytest.mark.skipif(not HAVE_SHARED, reason=SHARED_REASON)


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared folder; tests using it are skipped (with the reason) only when it does not exist."""
    if not HAVE_SHARED:
        pytest.skip(SHARED_REASON)
    return SHARED
