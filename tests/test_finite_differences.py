"""course_lib.finite_differences: the central-difference loop gradcheck uses and the grader's
sandbox runs from this file's text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from course_lib import finite_differences
from course_lib.finite_differences import central_differences, weighted_difference


def test_each_entry_is_probed_at_plus_then_minus_h_in_c_order_and_restored():
    x = np.arange(6.0).reshape(2, 3)
    seen = []

    def probe() -> float:
        seen.append(x.copy())
        return float((x**2).sum())

    grad = central_differences(x, 0.5, probe, lambda fp, fm: fp - fm)
    np.testing.assert_allclose(grad, 2 * np.arange(6.0).reshape(2, 3))  # exact for a quadratic
    assert np.array_equal(x, np.arange(6.0).reshape(2, 3))
    bumps = [tuple(int(i) for i in np.argwhere(s != np.arange(6.0).reshape(2, 3))[0]) for s in seen]
    assert bumps == [(0, 0), (0, 0), (0, 1), (0, 1), (0, 2), (0, 2), (1, 0), (1, 0), (1, 1), (1, 1), (1, 2), (1, 2)]
    assert [s[b] - b[0] * 3 - b[1] for s, b in zip(seen, bumps)] == [0.5, -0.5] * 6


def test_the_input_is_restored_when_the_probe_raises():
    x = np.ones(4)
    calls = [0]

    def probe() -> float:
        calls[0] += 1
        if calls[0] == 3:
            raise ValueError("boom")
        return 0.0

    with pytest.raises(ValueError, match="boom"):
        central_differences(x, 1e-5, probe, lambda a, b: a - b)
    assert np.array_equal(x, np.ones(4))


def test_weighted_difference_is_the_change_of_the_sum_against_dout():
    rng = np.random.default_rng(0)
    pos, neg, dout = rng.standard_normal((3, 2, 5))
    assert weighted_difference(pos, neg, dout) == np.sum((pos - neg) * dout)


def test_run_from_its_text_it_keeps_the_numpy_it_started_with(monkeypatch):
    """The sandbox executes the file's text before any student code: patching NumPy afterwards
    does not reach the loop."""
    scope: dict = {"__name__": "sent"}
    exec(compile(Path(finite_differences.__file__).read_text(encoding="utf-8"), "sent", "exec"), scope)

    def broken(*args, **kwargs):
        raise AssertionError("patched NumPy reached the loop")

    monkeypatch.setattr(np, "nditer", broken)
    monkeypatch.setattr(np, "zeros_like", broken)
    x = np.array([1.0, 2.0])
    grad = scope["central_differences"](x, 1e-5, lambda: float(x @ x), lambda a, b: a - b)
    np.testing.assert_allclose(grad, [2.0, 4.0], rtol=1e-8)
