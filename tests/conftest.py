"""Shared pytest configuration: hypothesis profiles and seeded RNG fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Deterministic in CI (same examples every run), a little more exploratory locally.
# The grader finds the course directory (exercises/) from COURSE_DIR when a test does not say.
os.environ.setdefault("COURSE_DIR", str(Path(__file__).resolve().parents[1] / "exercises"))

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator per test: tests never share random state."""
    return np.random.default_rng(1234)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse to run if xdist's `--dist loadgroup` is asked for but not applied.

    The book build and the nbgrader tests share on-disk state (book/_build, the execution cache)
    and must run in one worker. pytest-xdist marks grouped tests by suffixing their node id with
    ``@group``; with an incompatible pytest (9.x with xdist 3.8) the suffix silently disappears and
    two workers build the book at once, corrupting each other's files.
    """
    # A test that uses the book build must run in the book's group: the built_book fixture is
    # per worker, so a test elsewhere would build the book again into the same folder while the
    # group's tests read (and publish) it.
    for item in items:
        group = item.get_closest_marker("xdist_group")
        if "built_book" in getattr(item, "fixturenames", ()) and (group is None or group.args[:1] != ("book",)):
            raise pytest.UsageError(f"{item.nodeid} uses built_book but is not in xdist_group('book')")
    if os.environ.get("PYTEST_XDIST_WORKER") is None or config.getoption("dist", "no") != "loadgroup":
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is not None and "@" not in item.nodeid:
            raise pytest.UsageError(
                f"pytest-xdist did not apply the xdist_group of {item.nodeid}: grouped tests would "
                "run on several workers at once. Use the pinned versions (pip install -e '.[dev]')."
            )
