"""The central-difference loop of :mod:`course_lib.gradcheck`, in a module of its own.

It depends on NumPy only, so the grader can send this file's text to its sandbox, where the
student's code runs and ``course_lib`` cannot be imported: a numerical gradient of a student's
function is then computed next to that function, with this same loop, in one round trip
(``course_grader.sandbox``). The NumPy names are bound when the module is executed (in the
sandbox: before any student code), so a later ``np.nditer = ...`` does not reach them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from numpy import ndarray, nditer, zeros_like

__all__ = ["central_differences", "weighted_difference"]


def central_differences(
    x: ndarray, h: float, probe: Callable[[], Any], diff: Callable[[Any, Any], Any]
) -> ndarray:
    """``grad[i] = diff(probe() at x[i] + h, probe() at x[i] − h) / 2h`` for every entry of ``x``.

    Args:
        x: float64 array of any shape, perturbed in place one entry at a time (C order) and
            always restored, even if ``probe`` raises; ``diff`` runs after the restore.
        h: the step, > 0 (checked by the callers).
        probe: the function's value at the current ``x``.
        diff: ``(value at x + h·e_i, value at x − h·e_i) -> number``.

    Returns:
        array of ``x.shape`` and dtype.
    """
    grad = zeros_like(x)
    it = nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        try:
            x[i] = old + h
            fp = probe()
            x[i] = old - h
            fm = probe()
        finally:
            x[i] = old
        grad[i] = diff(fp, fm) / (2 * h)
        it.iternext()
    return grad


def weighted_difference(pos: ndarray, neg: ndarray, dout: ndarray) -> Any:
    """``Σ (pos − neg)·dout``: the change of ``L = Σ f(x)·dout`` between two probes (shapes equal)."""
    return ((pos - neg) * dout).sum()
