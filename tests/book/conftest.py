"""Fixtures shared by the book tests: one build of the book per test session, one Chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.book.browser import find_chromium

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "book" / "_build" / "html"


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Run scripts/build_book.py once per session (incremental: cached cells are reused).

    Session-scoped so that every book test module (build checks, browser checks, the published
    site) shares one build; the book tests run in one xdist group, hence in one worker.
    """
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_book.py"), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    log = (result.stdout + result.stderr)[-8000:]
    assert result.returncode == 0, f"book build failed (exit {result.returncode}):\n{log}"
    assert (HTML / "index.html").is_file(), log
    return HTML


@pytest.fixture(scope="session")
def chromium() -> str:
    """Headless Chromium's path (skips, or fails under CI=true, when it is not installed)."""
    return find_chromium()
