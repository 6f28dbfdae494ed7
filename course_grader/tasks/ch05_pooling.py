"""Grading of assignment ch05_pooling: max pooling forward/backward, average pooling.

Registered in :data:`course_grader.grading.TASKS` when :mod:`course_grader.grading` is imported. The
known mistakes are computed on the same input by :func:`_max_backward_variant`, so a message names
a bug only when the student's numbers are exactly what it produces.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from course_grader.checks import (
    Case,
    Layer,
    expect_value_error,
    forward_matches,
    judge_layer_backward,
)
from course_grader.engine import Student, ref, rng_for, task

ASSIGNMENT = "ch05_pooling"


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values 0.03 apart in random order: no ties, and no finite-difference step crosses a maximum."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n / 2) * 0.03


def _geom(x: np.ndarray, kw: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    ps = kw.get("pool_size", 2)
    ph, pw = (ps, ps) if np.ndim(ps) == 0 else ps
    st = kw.get("stride")
    sh, sw = (ph, pw) if st is None else ((st, st) if np.ndim(st) == 0 else st)
    return ph, pw, sh, sw, (x.shape[2] - ph) // sh + 1, (x.shape[3] - pw) // sw + 1


def _pool_cases(rng: np.random.Generator, values: Any = None) -> list[Case]:
    values = values or (lambda shape: _distinct(rng, shape))
    return [
        ("batch of 1, default stride (= the window)", {"x": values((1, 2, 4, 6))}, {"pool_size": 2}),
        ("overlapping 3×3 windows, stride 2", {"x": values((2, 2, 7, 7))}, {"pool_size": 3, "stride": 2}),
        ("windows that do not tile the input (the last row and column are never read)", {"x": values((2, 3, 5, 7))}, {"pool_size": 2, "stride": 2}),
        ("a 2×3 window, stride (1, 2)", {"x": values((1, 2, 5, 7))}, {"pool_size": (2, 3), "stride": (1, 2)}),
    ]


def _ref_max(x: np.ndarray, **kw: Any) -> tuple[np.ndarray, Any]:
    return ref("pooling", "max_pool_forward")(x, **kw)


def _ref_avg(x: np.ndarray, **kw: Any) -> tuple[np.ndarray, Any]:
    return ref("pooling", "avg_pool_forward")(x, **kw)


def _fwd_bugs(kind: str) -> Any:
    def bugs(inp: dict[str, np.ndarray], kw: dict[str, Any]) -> dict[str, Any]:
        x = inp["x"]
        ph, pw, *_ = _geom(x, kw)
        this, other = (_ref_max, _ref_avg) if kind == "max" else (_ref_avg, _ref_max)
        out: dict[str, Any] = {
            f"that is {'average' if kind == 'max' else 'max'} pooling: take the {kind} of each window":
                other(x, **kw)[0],
        }
        if kw.get("stride") is None:
            out["the stride defaults to 1: stride=None means the window size (non-overlapping windows)"] = (
                this(x, **(kw | {"stride": 1}))[0]
            )
        if ph != pw:
            swapped = kw | {"pool_size": (pw, ph)}
            if kw.get("stride") is not None and np.ndim(kw["stride"]):
                swapped["stride"] = tuple(reversed(kw["stride"]))
            out["height and width are swapped: pool_size = (ph, pw) and stride = (sh, sw) are (rows, columns)"] = this(x, **swapped)[0]
        if kind == "avg":
            out["the window is summed, not averaged: divide by ph·pw"] = this(x, **kw)[0] * (ph * pw)
        return out

    return bugs


# =============================================================================================
# Task 1: max pooling forward
# =============================================================================================

_maxf = task(f"{ASSIGNMENT}.max_forward", "max_pool_forward", ["pool_geometry", "max_pool_forward"], needs=["pooling"])

_X_FIXED = np.array(
    [[[[1.0, 5.0, 2.0, 0.0], [3.0, -1.0, 4.0, 6.0], [7.0, 2.0, -3.0, 1.0], [0.0, 8.0, 2.0, 2.5]],
      [[-1.0, -2.0, -3.0, -4.0], [-5.0, -6.0, -7.0, -8.0], [0.5, 0.25, 0.125, 0.0], [9.0, 1.0, 1.0, 9.0]]]]
)


@_maxf.check("a fixed 1×2×4×4 input: 2×2 windows (default stride) and 3×3 windows with stride 1 (rtol 1e-6)", 1)
def _maxf_visible(S: Student) -> None:
    for kw in ({"pool_size": 2}, {"pool_size": 3, "stride": 1}):
        forward_matches(S, "max_pool_forward", _ref_max, ("the 1×2×4×4 example", {"x": _X_FIXED.copy()}, kw), _fwd_bugs("max"))


@_maxf.check("random shapes: batch of 1, overlapping windows, floor, a 2×3 window (rtol 1e-6)", 1.5, hidden=True)
def _maxf_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "max forward")
    for case in _pool_cases(rng, lambda shape: rng.standard_normal(shape)):
        forward_matches(S, "max_pool_forward", _ref_max, case, _fwd_bugs("max"))


@_maxf.check("ValueError (raised by your code, with a message) when the window is larger than the input", 0.5, hidden=True, tolerance='exact')
def _maxf_error(S: Student) -> None:
    x = np.zeros((1, 1, 3, 5))
    expect_value_error(S, "max_pool_forward", (x,), {"pool_size": 4}, "max_pool_forward(x of shape (1, 1, 3, 5), pool_size=4)",
                       "a 4×4 window does not fit 3 rows")


# =============================================================================================
# Task 2: max pooling backward
# =============================================================================================

_maxb = task(f"{ASSIGNMENT}.max_backward", "max_pool_backward", ["max_pool_forward", "max_pool_backward"], needs=["pooling"])


def _max_backward_variant(x: np.ndarray, dout: np.ndarray, kw: dict[str, Any], mode: str) -> np.ndarray:
    """dx of max pooling computed the wrong way ``mode`` (or the right way, "first")."""
    ph, pw, sh, sw, Ho, Wo = _geom(x, kw)
    N, C = x.shape[:2]
    dx = np.zeros_like(x)
    for i in range(Ho):
        for j in range(Wo):
            rows, cols = slice(i * sh, i * sh + ph), slice(j * sw, j * sw + pw)
            win = x[:, :, rows, cols]
            g = dout[:, :, i, j][:, :, None, None]
            hit = win == win.max(axis=(2, 3), keepdims=True)
            flat = hit.reshape(N, C, -1)
            first = np.zeros_like(flat)
            first[np.arange(N)[:, None], np.arange(C)[None, :], flat.argmax(axis=2)] = True
            last = np.zeros_like(flat)
            last[np.arange(N)[:, None], np.arange(C)[None, :], ph * pw - 1 - flat[:, :, ::-1].argmax(axis=2)] = True
            first, last = first.reshape(hit.shape), last.reshape(hit.shape)
            if mode == "all_ties":
                dx[:, :, rows, cols] += hit * g
            elif mode == "split_ties":
                dx[:, :, rows, cols] += hit * g / hit.sum(axis=(2, 3), keepdims=True)
            elif mode == "last":
                dx[:, :, rows, cols] += last * g
            elif mode == "window":
                dx[:, :, rows, cols] += g
            elif mode == "overwrite":
                dx[:, :, rows, cols] = first * g
            else:
                dx[:, :, rows, cols] += first * g
    return dx


_MAX_BUGS = {
    "window": "the gradient is sent to every entry of the window: only the maximum influenced the output, the others get 0",
    "all_ties": "every tied maximum receives the full gradient: with ties only the first maximum in row-major order (np.argmax of the flattened window) gets it, else it is counted twice",
    "split_ties": "the gradient is split among the tied maxima: the rule of this course gives all of it to the first maximum (np.argmax of the flattened window)",
    "last": "the gradient goes to the last of the tied maxima: give it to the first one (np.argmax of the flattened window)",
    "overwrite": "overlapping windows overwrite each other (dx[window] = ...): an entry that is the maximum of several windows must receive the sum (+=) of their gradients",
}


def _max_bwd_bugs(inp: dict[str, np.ndarray], kw: dict[str, Any], dout: np.ndarray) -> dict[str, dict[str, Any]]:
    x = inp["x"]
    return {"x": {text: _max_backward_variant(x, dout, kw, mode) for mode, text in _MAX_BUGS.items()}}


def _max_judged(S: Student, cases: list[Case], seed: int = 0, *, numeric_first: bool = False) -> None:
    """Backward cases under the cascade rule (judged against the student's own forward)."""
    for k, case in enumerate(cases):
        layer = Layer("max_pool_forward", "max_pool_backward", _ref_max, ref("pooling", "max_pool_backward"), bugs=_max_bwd_bugs)
        judge_layer_backward(S, layer, case, seed=seed + k, numeric_first=numeric_first, assignment=ASSIGNMENT)


def _max_reference(S: Student, cases: list[Case], seed: int = 0) -> None:
    _max_judged(S, cases, seed)


def _avg_judged(S: Student, cases: list[Case], seed: int = 0, *, numeric_first: bool = False) -> None:
    for k, case in enumerate(cases):
        layer = Layer("avg_pool_forward", "avg_pool_backward", _ref_avg, ref("pooling", "avg_pool_backward"), bugs=_avg_bwd_bugs)
        judge_layer_backward(S, layer, case, seed=seed + k, numeric_first=numeric_first, assignment=ASSIGNMENT)


def _visible_backward_cases(x: np.ndarray) -> list[Case]:
    """Non-overlapping 2×2 windows, overlapping 3×3 windows with stride 2, and 2×2 windows with
    stride 3 (a stride other than the window, skipping entries)."""
    return [
        ("x of shape (2, 2, 5, 5)", {"x": x}, {"pool_size": 2}),
        ("x of shape (2, 2, 5, 5), overlapping windows", {"x": x}, {"pool_size": 3, "stride": 2}),
        ("x of shape (2, 2, 5, 5), stride ≠ window", {"x": x}, {"pool_size": 2, "stride": 3}),
    ]


def _x_ties() -> np.ndarray:
    x = _X_FIXED.copy()
    x[0, 0, 0, :2] = 5.0         # window (0, 0): 5 and 5 tie in the first row
    x[0, 0, 2:, 2:] = 2.0        # window (1, 1): all four tie
    x[0, 1, 2:, :2] = 0.0        # a window of zeros, as after a ReLU
    return x


@_maxb.check(
    "dx vs the numerical gradient of your max_pool_forward (distinct values, 2×2×5×5: 2×2 windows, overlapping 3×3 "
    "windows with stride 2, 2×2 windows with stride 3; relative error ≤ 1e-6)", 1,
)
def _maxb_visible(S: Student) -> None:
    _max_judged(S, _visible_backward_cases(_distinct(np.random.default_rng(0), (2, 2, 5, 5))), numeric_first=True)


@_maxb.check("ties: a window whose maximum appears twice, one of four equal entries, one of zeros (rtol 1e-6)", 0.5)
def _maxb_ties_visible(S: Student) -> None:
    _max_reference(S, [("the 1×2×4×4 example with tied maxima", {"x": _x_ties()}, {"pool_size": 2})])


@_maxb.check("dx vs numerical gradients of your forward (random shapes, overlapping windows; relative error ≤ 1e-6)", 1, hidden=True)
def _maxb_numeric(S: Student) -> None:
    _max_judged(S, _pool_cases(rng_for(ASSIGNMENT, "max numeric")), numeric_first=True)


@_maxb.check("dx matches the reference (random shapes, random upstream gradient; rtol 1e-6)", 1, hidden=True)
def _maxb_reference(S: Student) -> None:
    _max_reference(S, _pool_cases(rng_for(ASSIGNMENT, "max reference")))


@_maxb.check("ties after a ReLU: many windows full of zeros (first maximum gets the gradient; rtol 1e-6)", 0.5, hidden=True)
def _maxb_relu(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "relu ties")
    cases = _pool_cases(rng, lambda shape: np.maximum(np.round(rng.standard_normal(shape), 1), 0.0) * (rng.random(shape) < 0.5))
    _max_reference(S, cases, seed=10)


@_maxb.check("overlapping windows that share their maximum add up their gradients (rtol 1e-6)", 0.5, hidden=True)
def _maxb_overlap(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "overlap")
    x = _distinct(rng, (2, 1, 5, 5)) * 0.1
    x[:, :, 2, 2] = 10.0  # the maximum of all four overlapping 3×3 windows
    x[1, 0, 0, 4] = 9.0   # and one shared by two windows
    _max_reference(S, [("one entry is the maximum of every overlapping 3×3 window", {"x": x}, {"pool_size": 3, "stride": 2}),
                       ("stride 1", {"x": x}, {"pool_size": 2, "stride": 1})], seed=20)


# =============================================================================================
# Task 3: average pooling
# =============================================================================================

_avg = task(f"{ASSIGNMENT}.avg_pool", "average pooling forward and backward", ["avg_pool_forward", "avg_pool_backward"], needs=["pooling"])


def _avg_bwd_bugs(inp: dict[str, np.ndarray], kw: dict[str, Any], dout: np.ndarray) -> dict[str, dict[str, Any]]:
    x = inp["x"]
    ph, pw, sh, sw, Ho, Wo = _geom(x, kw)
    rb = ref("pooling", "avg_pool_backward")
    _, cache = _ref_avg(x, **kw)
    good = rb(dout, cache)
    over = np.zeros_like(x)
    for i in range(Ho):
        for j in range(Wo):
            over[:, :, i * sh:i * sh + ph, j * sw:j * sw + pw] = dout[:, :, i, j, None, None] / (ph * pw)
    return {"x": {
        "the gradient is not divided by the window size ph·pw: each of the ph·pw entries contributed 1/(ph·pw) of the mean": good * (ph * pw),
        "overlapping windows overwrite each other (dx[window] = ...): add (+=) the share of every window": over,
        "the gradient is divided by the window size twice": good / (ph * pw),
    }}


@_avg.check("avg_pool_forward on the fixed 1×2×4×4 input, 2×2 windows and 3×3 windows with stride 1 (rtol 1e-6)", 0.5)
def _avg_fwd_visible(S: Student) -> None:
    for kw in ({"pool_size": 2}, {"pool_size": 3, "stride": 1}):
        forward_matches(S, "avg_pool_forward", _ref_avg, ("the 1×2×4×4 example", {"x": _X_FIXED.copy()}, kw), _fwd_bugs("avg"))


@_avg.check(
    "avg_pool_backward vs the numerical gradient of your forward (2×2×5×5: 2×2 windows, overlapping 3×3 windows "
    "with stride 2, 2×2 windows with stride 3; relative error ≤ 1e-6)", 0.5,
)
def _avg_bwd_visible(S: Student) -> None:
    _avg_judged(S, _visible_backward_cases(np.random.default_rng(1).standard_normal((2, 2, 5, 5))), numeric_first=True)


@_avg.check("avg_pool_forward on random shapes (batch of 1, overlapping windows, floor, 2×3 window; rtol 1e-6)", 0.5, hidden=True)
def _avg_fwd_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "avg forward")
    for case in _pool_cases(rng, lambda shape: rng.standard_normal(shape)):
        forward_matches(S, "avg_pool_forward", _ref_avg, case, _fwd_bugs("avg"))


@_avg.check("avg_pool_backward vs numerical gradients of your forward (random shapes; relative error ≤ 1e-6)", 0.5, hidden=True)
def _avg_numeric(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "avg numeric")
    _avg_judged(S, _pool_cases(rng, lambda shape: rng.standard_normal(shape)), numeric_first=True)


@_avg.check("avg_pool_backward matches the reference (random shapes, random upstream gradient; rtol 1e-6)", 1, hidden=True)
def _avg_reference(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "avg reference")
    _avg_judged(S, _pool_cases(rng, lambda shape: rng.standard_normal(shape)))
