"""Grading tasks of assignment ch07_batchnorm: batch normalisation forward (train and test mode,
running statistics), backward, and the spatial (per-channel) variant.

Every check feeds the student's functions fresh copies of deterministic inputs and compares with
:mod:`course_lib.batchnorm` (captured before any student code ran). Recognised mistakes are
recomputed from the reference's intermediate values on the same input, so a message can say
"the variance term is missing" instead of only "dx is wrong". Backward checks always use a random
upstream gradient: with dout constant per feature the correct dx is exactly 0 and so is the
variance term, which an all-ones check would never notice (see the docstring of
:mod:`course_lib.batchnorm`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from course_grader.engine import (
    Fail,
    Student,
    as_array,
    compare,
    compare_alternatives,
    judge_backward,
    ref,
    rng_for,
    task,
    trusted_report,
)
from course_lib import gradcheck

ASSIGNMENT = "ch07_batchnorm"

# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


def _fixed() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The visible example: x (4, 3) with columns of different means and scales."""
    x = np.array([[1.0, -2.0, 10.0], [2.0, 0.5, 12.0], [-1.0, 1.5, 9.0], [0.5, -0.5, 13.0]])
    return x, np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.3, 1.0])


def _random_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]]:
    """(label, x, gamma, beta, extra bn_param) on fresh shapes: odd sizes, one feature, N = 3."""
    cases = []
    for label, (n, d), scale, shift, extra in [
        ("odd sizes", (5, 7), 1.0, 0.0, {}),
        ("N = 3, one feature", (3, 1), 2.0, 1.0, {}),
        ("features with large means and scales, eps = 1e-3", (6, 4), 5.0, 20.0, {"eps": 1e-3}),
    ]:
        x = rng.standard_normal((n, d)) * scale * rng.uniform(0.5, 2.0, d) + shift * rng.standard_normal(d)
        cases.append((label, x, rng.uniform(0.5, 2.0, d), rng.standard_normal(d), extra))
    return cases


def _ctx(label: str, x: np.ndarray, bn_param: dict[str, Any]) -> str:
    opts = {k: v for k, v in bn_param.items() if not isinstance(v, np.ndarray)}
    stats = [k for k, v in bn_param.items() if isinstance(v, np.ndarray)]
    text = f"x of shape {x.shape}, bn_param {opts}" + (f" plus {' and '.join(stats)}" if stats else "")
    return f"{label}: {text}" if label else text


def _copy_param(p: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in p.items()}


# ---------------------------------------------------------------------------------------------
# Recognised mistakes
# ---------------------------------------------------------------------------------------------


def _forward_bugs(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, p: dict[str, Any]) -> dict[str, np.ndarray]:
    """Outputs of common wrong forward passes on the same input."""
    eps = p.get("eps", 1e-5)
    n, d = x.shape
    bugs: dict[str, np.ndarray] = {}
    if p.get("mode", "train") == "train":
        if d > 1:
            mu1, var1 = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
            bugs["normalised over the wrong axis: each example's features (axis=1) instead of each "
                 "feature over the batch (axis=0)"] = gamma * (x - mu1) / np.sqrt(var1 + eps) + beta
        mu, var = x.mean(axis=0), x.var(axis=0)
        bugs["normalised with the unbiased variance (N−1): the batch is normalised with the biased σ² "
             "(divide by N); only the running variance uses N/(N−1)"] = gamma * (x - mu) / np.sqrt(var * n / (n - 1) + eps) + beta
        bugs["divided by the variance instead of its square root"] = gamma * (x - mu) / (var + eps) + beta
        bugs["eps is added outside the square root: divide by sqrt(σ² + eps), not sqrt(σ²) + eps"] = (
            gamma * (x - mu) / (np.sqrt(var) + eps) + beta
        )
        bugs["gamma and beta are not applied (that is x̂)"] = (x - mu) / np.sqrt(var + eps)
    else:
        mu, var = x.mean(axis=0), x.var(axis=0)
        if n > 1:
            bugs["test mode uses the batch statistics: at test time normalise with "
                 "bn_param['running_mean'] and bn_param['running_var']"] = gamma * (x - mu) / np.sqrt(var + eps) + beta
        rm, rv = p.get("running_mean"), p.get("running_var")
        if rm is not None and rv is not None:
            bugs["test mode divides by the running variance instead of its square root"] = gamma * (x - rm) / (rv + eps) + beta
    return bugs


def _spatial_forward_bugs(x: np.ndarray, g: np.ndarray, b: np.ndarray, p: dict[str, Any]) -> dict[str, np.ndarray]:
    """Outputs of common wrong spatial (per-channel) forward passes on the same (N, C, H, W) input."""
    c = x.shape[1]
    eps = p.get("eps", 1e-5)
    bugs: dict[str, np.ndarray] = {}
    if p.get("mode", "train") == "train":
        rows = x.reshape(-1, c)  # the classic: reshape without moving C last
        xh = (rows - rows.mean(axis=0)) / np.sqrt(rows.var(axis=0) + eps)
        bugs["x.reshape(-1, C) without first moving the channel axis last: the columns are not the "
             "channels; use x.transpose(0, 2, 3, 1).reshape(-1, C) and undo both afterwards"] = (g * xh + b).reshape(x.shape)
        mu, var = x.mean(axis=(0,), keepdims=True), x.var(axis=(0,), keepdims=True)
        bugs["statistics over the batch axis only (one mean per channel AND position): a channel's "
             "statistics are over N, H and W"] = g[:, None, None] * (x - mu) / np.sqrt(var + eps) + b[:, None, None]
    return bugs


def _running_bugs(x: np.ndarray, p: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """Running statistics of common wrong updates (one train step from the state in ``p``)."""
    n, d = x.shape
    m = p.get("momentum", 0.9)
    rm = p.get("running_mean", np.zeros(d))
    rv = p.get("running_var", np.ones(d))
    fresh_var = "running_var" not in p
    mu, var = x.mean(axis=0), x.var(axis=0)
    unb = var * n / (n - 1)
    reversed_text = ("momentum used as the weight of the NEW batch (PyTorch's convention); here it is "
                     "the weight of the OLD average: running = momentum·running + (1 − momentum)·batch")
    return {
        "running_mean": {
            reversed_text: (1 - m) * rm + m * mu,
            "the running mean is not updated in train mode (store the new array in bn_param)": rm,
            "the running mean is replaced by the batch mean (no averaging)": mu,
        },
        "running_var": {
            reversed_text: (1 - m) * rv + m * unb,
            "the running variance is updated with the biased σ² (divide by N); use the unbiased "
            "N/(N−1)·σ², which estimates the population variance": m * rv + (1 - m) * var,
            "the running variance averages the standard deviation instead of the variance": m * rv + (1 - m) * np.sqrt(unb),
            "the running variance is not updated in train mode (store the new array in bn_param)": rv,
            **({"the running variance starts at zeros: create it as ones (the variance of a normalised "
                "feature), the running mean as zeros": (1 - m) * unb} if fresh_var else {}),
        },
    }


def _dx_bugs(xhat: np.ndarray, ivar: np.ndarray, gamma: np.ndarray, dout: np.ndarray) -> dict[str, np.ndarray]:
    n = dout.shape[0]
    dxhat = dout * gamma
    s1, s2 = dxhat.sum(axis=0), (dxhat * xhat).sum(axis=0)
    return {
        "the mean term is missing: μ depends on every x_i, which adds −(1/N)·Σ_i dx̂_i·ivar to each row":
            (ivar / n) * (n * dxhat - xhat * s2),
        "the variance term is missing: σ² depends on every x_i, which adds −(1/N)·x̂·Σ_i (dx̂_i·x̂_i)·ivar "
        "(an all-ones dout hides this: test with a random one)":
            (ivar / n) * (n * dxhat - s1),
        "mean and variance are treated as constants (dx = γ·ivar·dout): in train mode they depend on x":
            dxhat * ivar,
        "gamma is missing from dx (dx̂ = γ·dout)": (ivar / n) * (n * dout - dout.sum(axis=0) - xhat * (dout * xhat).sum(axis=0)),
        "the sign of dμ is wrong: μ is subtracted (x − μ), so dμ = −Σ_i (its incoming gradients)":
            (ivar / n) * (n * dxhat + s1 - xhat * s2),
    }


def _param_bugs(xhat: np.ndarray, x: np.ndarray, dout: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    n = dout.shape[0]
    return {
        "dgamma": {
            "dgamma is divided by N: it is a plain sum over the batch, Σ_i dout_i·x̂_i (no mean)": (dout * xhat).sum(axis=0) / n,
            "dgamma uses x instead of x̂: out = γ·x̂ + β": (dout * x).sum(axis=0),
        },
        "dbeta": {
            "dbeta is divided by N: it is a plain sum over the batch, Σ_i dout_i (no mean)": dout.sum(axis=0) / n,
        },
    }


# ---------------------------------------------------------------------------------------------
# Shared check bodies
# ---------------------------------------------------------------------------------------------


def _pair(res: Any, fname: str) -> tuple[Any, Any]:
    if not isinstance(res, tuple | list) or len(res) != 2:
        raise Fail(f"{fname} must return a pair (out, cache), got {type(res).__name__}")
    return res[0], res[1]


def _triple(res: Any, fname: str) -> tuple[Any, Any, Any]:
    if not isinstance(res, tuple | list) or len(res) != 3:
        got = f"{len(res)} values" if isinstance(res, tuple | list) else type(res).__name__
        raise Fail(f"{fname} must return three gradients (dx, dgamma, dbeta), got {got}")
    return res[0], res[1], res[2]


def _ref_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, p: dict[str, Any], spatial: bool = False) -> tuple[np.ndarray, Any, dict[str, Any]]:
    q = _copy_param(p)
    name = "spatial_batchnorm_forward" if spatial else "batchnorm_forward"
    out, cache = ref("batchnorm", name)(x.copy(), gamma.copy(), beta.copy(), q)
    return out, cache, q


def _forward_output(
    S: Student, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, p: dict[str, Any], label: str, *, spatial: bool = False
) -> dict[str, Any]:
    """The student's ``batchnorm_forward`` (or ``spatial_batchnorm_forward``) output vs the
    reference, naming known mistakes; the spatial version's train mode also has its running
    statistics compared (the plain version's have checks of their own, :func:`_running_stats`).
    Returns the student's bn_param after the call."""
    fname = "spatial_batchnorm_forward" if spatial else "batchnorm_forward"
    ctx = _ctx(label, x, p)
    expected, _, theirs = _ref_forward(x, gamma, beta, p, spatial=spatial)
    mine = _copy_param(p)
    out, _ = _pair(S.fn(fname, mutable=("bn_param",))(x.copy(), gamma.copy(), beta.copy(), mine), fname)
    bugs = (_spatial_forward_bugs if spatial else _forward_bugs)(x, gamma, beta, p)
    compare_alternatives(out, expected, f"{fname} output", bugs, context=ctx)
    if spatial and p.get("mode", "train") == "train":
        for key in ("running_mean", "running_var"):
            if key not in mine:
                raise Fail(f"bn_param has no {key!r} after a train-mode call ({ctx}): pass bn_param on to batchnorm_forward")
            compare(mine[key], theirs[key], f"bn_param[{key!r}] (shape (C,))", context=ctx)
    return mine


def _running_stats(S: Student, xs: list[np.ndarray], gamma: np.ndarray, beta: np.ndarray, p: dict[str, Any], label: str) -> None:
    """Several train steps: after each, the student's running statistics vs the reference's."""
    fwd = S.fn("batchnorm_forward", mutable=("bn_param",))
    mine, theirs = _copy_param(p), _copy_param(p)
    for k, x in enumerate(xs, start=1):
        before = _copy_param(mine)
        ctx = _ctx(f"{label}, step {k} of {len(xs)}", x, p)
        _pair(fwd(x.copy(), gamma.copy(), beta.copy(), mine), "batchnorm_forward")
        _, _, theirs = _ref_forward(x, gamma, beta, theirs)
        bugs = _running_bugs(x, before)
        for key in ("running_mean", "running_var"):
            if key not in mine:
                raise Fail(
                    f"after a train-mode call bn_param has no {key!r} ({ctx}): store the updated running "
                    "statistics in bn_param, test mode needs them"
                )
            compare_alternatives(mine[key], theirs[key], f"bn_param[{key!r}]", bugs[key], context=ctx)


def _check_backward_numeric(
    S: Student, fwd_name: str, bwd_name: str, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
    p: dict[str, Any], label: str, seed: int,
) -> None:
    """The student's backward vs central differences of the student's own forward, random dout."""
    fwd = S.fn(fwd_name, mutable=("bn_param",))

    def forward(xx: np.ndarray, gg: np.ndarray, bb: np.ndarray) -> tuple[Any, Any]:
        out, cache = _pair(fwd(xx, gg, bb, _copy_param(p)), fwd_name)
        return as_array(out, f"{fwd_name}(...)[0]"), cache

    def batched(name: str, arrays: Mapping[str, np.ndarray], dout: np.ndarray, h: float) -> np.ndarray | None:
        return S.numerical_gradient(fwd_name, [*arrays.values(), _copy_param(p)], at=[list(arrays).index(name)],
                                    dout=dout, h=h, pair=True, mutable=("bn_param",))

    report = trusted_report(gradcheck.check_layer(
        forward, S.fn(bwd_name), {"x": x.copy(), "gamma": gamma.copy(), "beta": beta.copy()}, seed=seed, tol=1e-6,
        numerical_of=batched,
    ))
    if not report.passed:
        raise Fail(f"{bwd_name} disagrees with the numerical gradient of your {fwd_name} ({_ctx(label, x, p)})\n{report}")


def _check_backward_reference(
    S: Student, fwd_name: str, bwd_name: str, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
    p: dict[str, Any], label: str, seed: int,
) -> None:
    """dx, dgamma, dbeta vs the reference for one random upstream gradient, naming known mistakes."""
    spatial = fwd_name.startswith("spatial")
    ctx = _ctx(label, x, p)
    ref_out, ref_cache, _ = _ref_forward(x, gamma, beta, p, spatial=spatial)
    dout = rng_for("dout", seed, fwd_name).standard_normal(ref_out.shape)
    expected = ref("batchnorm", "spatial_batchnorm_backward" if spatial else "batchnorm_backward")(dout.copy(), ref_cache)
    _out, cache = _pair(S.fn(fwd_name, mutable=("bn_param",))(x.copy(), gamma.copy(), beta.copy(), _copy_param(p)), fwd_name)
    # the output itself is judged by the forward's checks (the cascade rule: see _judged)
    dx, dgamma, dbeta = _triple(S.fn(bwd_name)(dout.copy(), cache), bwd_name)
    # the mistakes, recomputed on the (N·H·W, C) rows for the spatial version
    c = ref_cache.inner if spatial else ref_cache

    def rows(a: np.ndarray) -> np.ndarray:
        return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1]) if spatial else a

    def back(a: np.ndarray) -> np.ndarray:
        if not spatial:
            return a
        n, ch, h, w = x.shape
        return a.reshape(n, h, w, ch).transpose(0, 3, 1, 2)

    d2 = rows(dout)
    dx_bugs = {} if c.mode == "test" else {k: back(v) for k, v in _dx_bugs(c.xhat, c.ivar, c.gamma, d2).items()}
    if c.mode == "test":
        n = d2.shape[0]
        dx_bugs = {"test-mode backward uses the train-mode formula: at test time mean and variance are "
                   "constants, so dx = γ·dout/sqrt(running_var + eps)": back(
                       (c.ivar / n) * (n * d2 * c.gamma - (d2 * c.gamma).sum(axis=0) - c.xhat * (d2 * c.gamma * c.xhat).sum(axis=0)))}
    pb = _param_bugs(c.xhat, c.x, d2)
    n_rows = d2.shape[0]
    compare_alternatives(dx, expected[0], f"dx from {bwd_name}", dx_bugs, context=ctx, batch_size=x.shape[0])
    compare_alternatives(dgamma, expected[1], f"dgamma from {bwd_name}", pb["dgamma"], context=ctx, batch_size=n_rows)
    compare_alternatives(dbeta, expected[2], f"dbeta from {bwd_name}", pb["dbeta"], context=ctx, batch_size=n_rows)


def _forward_differs(S: Student, fwd_name: str, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, p: dict[str, Any]) -> bool:
    ref_out, _, _ = _ref_forward(x, gamma, beta, p, spatial=fwd_name.startswith("spatial"))
    try:
        out, _ = _pair(S.fn(fwd_name, mutable=("bn_param",))(x.copy(), gamma.copy(), beta.copy(), _copy_param(p)), fwd_name)
        a = np.asarray(out, dtype=np.float64)
    except Exception:
        return True
    return a.shape != ref_out.shape or not np.allclose(a, ref_out, rtol=1e-6, atol=1e-9)


def _judged(
    S: Student, fwd_name: str, bwd_name: str, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
    p: dict[str, Any], label: str, seed: int, *, numeric_first: bool,
) -> None:
    """One backward case under the cascade rule: judged against the student's own forward."""
    def numeric() -> None:
        _check_backward_numeric(S, fwd_name, bwd_name, x, gamma, beta, p, label, seed)

    def reference() -> None:
        _check_backward_reference(S, fwd_name, bwd_name, x, gamma, beta, p, label, seed)

    primary, fallback = (numeric, reference) if numeric_first else (reference, numeric)
    judge_backward(
        S, fwd_name, ref("batchnorm", fwd_name), {}, None, primary, fallback, assignment=ASSIGNMENT,
        differs=lambda: _forward_differs(S, fwd_name, x, gamma, beta, p),
    )


# ---------------------------------------------------------------------------------------------
# Task 1: forward, train and test mode, running statistics
# ---------------------------------------------------------------------------------------------

_fwd = task(f"{ASSIGNMENT}.forward", "batchnorm_forward (train and test mode)", ["batchnorm_forward"], needs=["batchnorm"])


@_fwd.check("train mode on a fixed 4×3 example: out = γ·(x − μ)/sqrt(σ² + eps) + β", 1, tolerance='rtol 1e-6')
def _fwd_train_visible(S: Student) -> None:
    x, g, b = _fixed()
    _forward_output(S, x, g, b, {"mode": "train"}, "x, gamma, beta of the fixed example")


@_fwd.check("running statistics after one train step (momentum 0.9 = weight of the old average, unbiased variance)", 1, tolerance='rtol 1e-6')
def _fwd_running_visible(S: Student) -> None:
    x, g, b = _fixed()
    p = {"mode": "train", "momentum": 0.9, "running_mean": np.array([0.5, 0.0, 5.0]), "running_var": np.array([2.0, 1.0, 3.0])}
    _running_stats(S, [x], g, b, p, "the fixed example, running_mean [0.5, 0, 5], running_var [2, 1, 3]")


@_fwd.check("test mode normalises with the running statistics (fixed example)", 0.5, tolerance='rtol 1e-6')
def _fwd_test_visible(S: Student) -> None:
    x, g, b = _fixed()
    p = {"mode": "test", "running_mean": np.array([0.5, 0.0, 11.0]), "running_var": np.array([2.0, 1.0, 3.0])}
    mine = _forward_output(S, x, g, b, p, "the fixed example, running_mean [0.5, 0, 11], running_var [2, 1, 3]")
    for key in ("running_mean", "running_var"):
        if key in mine and not np.array_equal(np.asarray(mine[key], dtype=np.float64), p[key]):
            raise Fail(f"test mode changed bn_param[{key!r}]: only train mode updates the running statistics")


@_fwd.check("train mode on random shapes (odd sizes, one feature, N = 3, large means, other eps)", 1, hidden=True, tolerance='rtol 1e-6')
def _fwd_train_hidden(S: Student) -> None:
    for label, x, g, b, extra in _random_cases(rng_for(ASSIGNMENT, "forward-train")):
        _forward_output(S, x, g, b, {"mode": "train", **extra}, label)


@_fwd.check("running statistics over three train steps: created as zeros/ones, momentum 0.8, other shapes", 1, hidden=True, tolerance='rtol 1e-6')
def _fwd_running_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "running")
    xs = [rng.standard_normal((n, 5)) * 3 + 2 for n in (4, 7, 3)]
    g, b = rng.uniform(0.5, 2, 5), rng.standard_normal(5)
    _running_stats(S, xs, g, b, {"mode": "train", "momentum": 0.8}, "no running statistics at the first call")
    xs2 = [rng.standard_normal((6, 2)) * 0.5 - 1 for _ in range(2)]
    p = {"momentum": 0.95, "running_mean": rng.standard_normal(2), "running_var": rng.uniform(0.5, 2, 2)}
    _running_stats(S, xs2, rng.uniform(0.5, 2, 2), rng.standard_normal(2), p, "mode not given (default 'train')")


@_fwd.check("test mode on random shapes, a batch of 1, other eps", 0.5, hidden=True, tolerance='rtol 1e-6')
def _fwd_test_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "forward-test")
    for label, (n, d), extra in [("batch of 1", (1, 6), {}), ("odd sizes", (5, 3), {"eps": 1e-2})]:
        x = rng.standard_normal((n, d)) * 2 + 1
        p = {"mode": "test", "running_mean": rng.standard_normal(d), "running_var": rng.uniform(0.2, 3, d), **extra}
        _forward_output(S, x, rng.uniform(0.5, 2, d), rng.standard_normal(d), p, label)


# ---------------------------------------------------------------------------------------------
# Task 2: backward
# ---------------------------------------------------------------------------------------------

_bwd = task(f"{ASSIGNMENT}.backward", "batchnorm_backward", ["batchnorm_forward", "batchnorm_backward"], needs=["batchnorm"])


@_bwd.check("dx, dgamma, dbeta vs the numerical gradient of your batchnorm_forward (fixed example, random dout)", 1, tolerance='relative error ≤ 1e-6')
def _bwd_numeric_visible(S: Student) -> None:
    x, g, b = _fixed()
    _judged(S, "batchnorm_forward", "batchnorm_backward", x, g, b, {"mode": "train"}, "the fixed example", 0, numeric_first=True)


@_bwd.check("dx, dgamma, dbeta vs the reference (fixed example, random dout)", 1, tolerance='rtol 1e-6')
def _bwd_reference_visible(S: Student) -> None:
    x, g, b = _fixed()
    _judged(S, "batchnorm_forward", "batchnorm_backward", x, g, b, {"mode": "train"}, "the fixed example", 0, numeric_first=False)


@_bwd.check("numerical gradient of your forward on random shapes (random dout)", 1, hidden=True, tolerance='relative error ≤ 1e-6')
def _bwd_numeric_hidden(S: Student) -> None:
    for k, (label, x, g, b, extra) in enumerate(_random_cases(rng_for(ASSIGNMENT, "backward-numeric"))):
        _judged(S, "batchnorm_forward", "batchnorm_backward", x, g, b, {"mode": "train", **extra}, label, k + 1, numeric_first=True)


@_bwd.check("reference gradients on random shapes (random dout)", 1, hidden=True, tolerance='rtol 1e-6')
def _bwd_reference_hidden(S: Student) -> None:
    for k, (label, x, g, b, extra) in enumerate(_random_cases(rng_for(ASSIGNMENT, "backward-reference"))):
        _judged(S, "batchnorm_forward", "batchnorm_backward", x, g, b, {"mode": "train", **extra}, label, k + 1, numeric_first=False)


@_bwd.check(
    "backward of a test-mode forward on the fixed example: the running statistics are constants (rtol 1e-6)", 0.5,
)
def _bwd_test_visible(S: Student) -> None:
    x, g, b = _fixed()
    p = {"mode": "test", "running_mean": np.array([0.5, 0.0, 11.0]), "running_var": np.array([2.0, 1.0, 3.0])}
    _judged(S, "batchnorm_forward", "batchnorm_backward", x, g, b, p, "the fixed example in test mode", 3, numeric_first=False)


@_bwd.check("backward of a test-mode forward (running statistics are constants; rtol 1e-6)", 0.5, hidden=True)
def _bwd_test_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "backward-test")
    x = rng.standard_normal((4, 3)) * 2 + 1
    p = {"mode": "test", "running_mean": rng.standard_normal(3), "running_var": rng.uniform(0.5, 2, 3)}
    _judged(S, "batchnorm_forward", "batchnorm_backward", x, rng.uniform(0.5, 2, 3), rng.standard_normal(3), p, "test mode", 7, numeric_first=False)


# ---------------------------------------------------------------------------------------------
# Task 3: spatial batch normalisation
# ---------------------------------------------------------------------------------------------

_sp = task(
    f"{ASSIGNMENT}.spatial",
    "spatial batch normalisation (per channel)",
    ["spatial_batchnorm_forward", "spatial_batchnorm_backward"],
    needs=["batchnorm"],
)


def _spatial_cases(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]]:
    cases = []
    for label, shape in [("odd sizes", (3, 4, 3, 5)), ("batch of 1 (statistics over H and W)", (1, 3, 4, 4))]:
        c = shape[1]
        x = rng.standard_normal(shape) * rng.uniform(0.5, 3, c)[:, None, None] + rng.standard_normal(c)[:, None, None] * 3
        cases.append((label, x, rng.uniform(0.5, 2, c), rng.standard_normal(c), {"mode": "train", "momentum": 0.7}))
    return cases


def _spatial_fixed() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.linspace(-3, 5, 2 * 3 * 2 * 2).reshape(2, 3, 2, 2) ** 2 / 4 - np.array([0.0, 2.0, -1.0])[:, None, None]
    return x, np.array([1.0, 2.0, 0.5]), np.array([0.0, 0.5, -1.0])


@_sp.check("spatial_batchnorm_forward on a fixed (2, 3, 2, 2) example", 0.5, tolerance='rtol 1e-6')
def _sp_fwd_visible(S: Student) -> None:
    x, g, b = _spatial_fixed()
    _forward_output(S, x, g, b, {"mode": "train"}, "the fixed example", spatial=True)


@_sp.check("spatial_batchnorm_backward vs the numerical gradient of your forward (fixed example, random dout)", 0.5, tolerance='relative error ≤ 1e-6')
def _sp_bwd_visible(S: Student) -> None:
    x, g, b = _spatial_fixed()
    _judged(S, "spatial_batchnorm_forward", "spatial_batchnorm_backward", x, g, b, {"mode": "train"}, "the fixed example", 0, numeric_first=True)


@_sp.check("forward on random shapes (odd sizes, batch of 1), running statistics, test mode", 0.5, hidden=True, tolerance='rtol 1e-6')
def _sp_fwd_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "spatial-forward")
    for label, x, g, b, p in _spatial_cases(rng):
        _forward_output(S, x, g, b, p, label, spatial=True)
    x = rng.standard_normal((2, 2, 3, 3))
    p = {"mode": "test", "running_mean": rng.standard_normal(2), "running_var": rng.uniform(0.5, 2, 2)}
    _forward_output(S, x, rng.uniform(0.5, 2, 2), rng.standard_normal(2), p, "test mode", spatial=True)


@_sp.check("backward vs numerical and reference gradients on random shapes (random dout)", 1, hidden=True, tolerance='relative error ≤ 1e-6; rtol 1e-6')
def _sp_bwd_hidden(S: Student) -> None:
    for k, (label, x, g, b, p) in enumerate(_spatial_cases(rng_for(ASSIGNMENT, "spatial-backward"))):
        _judged(S, "spatial_batchnorm_forward", "spatial_batchnorm_backward", x, g, b, p, label, k + 1, numeric_first=True)
        _judged(S, "spatial_batchnorm_forward", "spatial_batchnorm_backward", x, g, b, p, label, k + 1, numeric_first=False)

