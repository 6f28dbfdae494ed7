"""Grading tasks of assignment ch08_dropout: inverted dropout (forward, backward) and weight
initialisation (fans, He, Xavier).

Dropout is random, so the checks do not demand one particular mask: they check its *structure*
(every output is 0 or x/keep_prob), its statistics (the fraction kept, within a stated bound),
that one seed gives one mask, and that backward applies the mask forward drew (dx = dout·out/x for
the student's own out). The initialisers are checked the same way: shape, reproducibility, and the
sample variance against 2/fan_in (He) or 2/(fan_in + fan_out) (Xavier) within a stated bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from course_grader.engine import (
    Fail,
    Student,
    as_array,
    compare,
    ref,
    rng_for,
    task,
    trusted_report,
)
from course_lib import gradcheck

ASSIGNMENT = "ch08_dropout"


def _x(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Inputs bounded away from 0, so that out/x recovers the mask."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, 0.5, x)


def _ctx(x: np.ndarray, keep_prob: float, mode: str, seed: Any) -> str:
    return f"x of shape {x.shape}, keep_prob={keep_prob}, mode={mode!r}, rng={seed!r}"


def _forward(S: Student, x: np.ndarray, keep_prob: float, mode: str, seed: Any) -> tuple[np.ndarray, Any]:
    res = S.fn("dropout_forward")(x.copy(), keep_prob, mode=mode, rng=seed)
    if not isinstance(res, tuple | list) or len(res) != 2:
        raise Fail(f"dropout_forward must return a pair (out, cache), got {type(res).__name__}")
    out = as_array(res[0], "dropout_forward output")
    if out.shape != x.shape:
        raise Fail(f"dropout_forward output has shape {out.shape}, expected {x.shape} ({_ctx(x, keep_prob, mode, seed)})")
    return out, res[1]


def _mask_of(out: np.ndarray, x: np.ndarray, keep_prob: float, ctx: str, *, statistics: bool) -> np.ndarray:
    """The student's mask out/x, after checking it is 0 or 1/keep_prob and keeps ~keep_prob."""
    ratio = out / x
    dropped = np.isclose(ratio, 0.0, atol=1e-12)
    kept = ~dropped
    scale = 1.0 / keep_prob
    good = dropped | np.isclose(ratio, scale, rtol=1e-9)
    if not good.all():
        r = ratio[kept]
        if keep_prob < 1 and np.allclose(r, 1.0):
            why = ("the kept units are not divided by keep_prob (that is the old 'direct' dropout, which needs "
                   "a rescaling at test time): inverted dropout divides by keep_prob in training so that "
                   "E[out] = x and test mode is the identity")
        elif keep_prob < 1 and np.allclose(r, keep_prob):
            why = "the kept units are multiplied by keep_prob; inverted dropout DIVIDES them by keep_prob"
        elif np.all(np.isclose(r, r.flat[0])):
            why = f"the kept units are scaled by {r.flat[0]:.6g}, expected 1/keep_prob = {scale:.6g}"
        else:
            why = "the ratios out/x differ between kept units: every kept unit is scaled by the same 1/keep_prob"
        idx = tuple(int(i) for i in np.argwhere(~good)[0])
        raise Fail(
            f"dropout_forward output is wrong ({ctx}): each entry must be 0 (dropped) or x/keep_prob (kept); "
            f"at index {idx}: x = {x[idx]:.6g}, yours {out[idx]:.6g}, expected 0 or {x[idx] * scale:.6g}\n"
            f"  recognised mistake: {why}"
        )
    if statistics:
        m = x.size
        frac = float(kept.mean())
        bound = 5 * math.sqrt(keep_prob * (1 - keep_prob) / m) + 1e-9
        if abs(frac - keep_prob) > bound:
            msg = (
                f"dropout_forward keeps {frac:.4f} of the {m} units, expected keep_prob = {keep_prob} "
                f"(the check allows ±{bound:.4f}, five standard deviations) ({ctx})"
            )
            if abs(frac - (1 - keep_prob)) <= bound:
                msg += ("\n  recognised mistake: you DROP with probability keep_prob (inverted comparison): "
                        "keep a unit where u < keep_prob, u uniform in [0, 1)")
            raise Fail(msg)
    return np.where(kept, scale, 0.0)


# ---------------------------------------------------------------------------------------------
# Task 1: dropout_forward
# ---------------------------------------------------------------------------------------------

_fwd = task(f"{ASSIGNMENT}.forward", "dropout_forward (inverted dropout)", ["dropout_forward"], needs=["dropout"])


@_fwd.check("train mode, x (50, 40), keep_prob 0.75, rng=0: every entry 0 or x/keep_prob, about 75 % kept", 1, tolerance='entries rtol 1e-9; the kept fraction within 5 standard deviations')
def _fwd_visible(S: Student) -> None:
    x = _x(np.random.default_rng(7), (50, 40))
    out, _ = _forward(S, x, 0.75, "train", 0)
    _mask_of(out, x, 0.75, _ctx(x, 0.75, "train", 0), statistics=True)


@_fwd.check("test mode is the identity (x (6, 5), keep_prob 0.5)", 0.5, tolerance='rtol 1e-12')
def _fwd_test_visible(S: Student) -> None:
    x = _x(np.random.default_rng(8), (6, 5))
    out, _ = _forward(S, x, 0.5, "test", 0)
    if not np.allclose(out, x, rtol=1e-12, atol=0):
        raise Fail(
            f"dropout_forward in test mode must return x unchanged ({_ctx(x, 0.5, 'test', 0)}): inverted "
            "dropout already rescaled in training\n  recognised mistake: test mode still drops or rescales units"
        )


@_fwd.check("the same seed gives the same mask, another seed another one", 0.5, tolerance='exact')
def _fwd_seed_visible(S: Student) -> None:
    x = _x(np.random.default_rng(9), (20, 30))
    a, _ = _forward(S, x, 0.5, "train", 123)
    b, _ = _forward(S, x, 0.5, "train", 123)
    c, _ = _forward(S, x, 0.5, "train", 124)
    if not np.array_equal(a, b):
        raise Fail("two calls with rng=123 gave different masks: draw the mask from np.random.default_rng(rng)")
    if np.array_equal(a, c):
        raise Fail("rng=123 and rng=124 gave the same mask: the mask must come from the generator made from rng")


@_fwd.check("statistics on 20 000 units for keep_prob 0.8 and 0.3; a 4-D input; keep_prob = 1", 1, hidden=True, tolerance='within 5 standard deviations')
def _fwd_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "forward")
    for shape, kp, seed in [((200, 100), 0.8, 5), ((100, 200), 0.3, 6), ((3, 4, 5, 7), 0.6, 11)]:
        x = _x(rng, shape)
        out, _ = _forward(S, x, kp, "train", seed)
        _mask_of(out, x, kp, _ctx(x, kp, "train", seed), statistics=x.size >= 10_000)
    x = _x(rng, (5, 3))
    out, _ = _forward(S, x, 1.0, "train", 1)
    compare(out, x, "dropout_forward output with keep_prob = 1 (nothing dropped)", context=_ctx(x, 1.0, "train", 1))


@_fwd.check("inverted dropout keeps the mean: E[out] = x (mean of out/x over 20 000 units)", 0.5, hidden=True, tolerance='within 5 standard deviations')
def _fwd_mean_hidden(S: Student) -> None:
    x = _x(rng_for(ASSIGNMENT, "mean"), (100, 200))
    out, _ = _forward(S, x, 0.4, "train", 3)
    m = float(np.mean(out / x))
    bound = 5 * math.sqrt((1 - 0.4) / 0.4 / x.size)
    if abs(m - 1) > bound:
        raise Fail(
            f"the mean of out/x is {m:.4f}, expected 1 ± {bound:.4f} (inverted dropout: E[out] = x). "
            "Divide the kept units by keep_prob."
        )


@_fwd.check("test mode on a 4-D input and keep_prob 0.2 is the identity", 0.5, hidden=True, tolerance='rtol 1e-12')
def _fwd_test_hidden(S: Student) -> None:
    x = _x(rng_for(ASSIGNMENT, "test"), (2, 3, 4, 5))
    out, _ = _forward(S, x, 0.2, "test", None)
    if not np.allclose(out, x, rtol=1e-12, atol=0):
        raise Fail(f"dropout_forward in test mode must return x unchanged ({_ctx(x, 0.2, 'test', None)})"
                   "\n  recognised mistake: test mode still drops or rescales units")


# ---------------------------------------------------------------------------------------------
# Task 2: dropout_backward
# ---------------------------------------------------------------------------------------------

_bwd = task(f"{ASSIGNMENT}.backward", "dropout_backward", ["dropout_forward", "dropout_backward"], needs=["dropout"])


def _same_mask(S: Student, x: np.ndarray, keep_prob: float, mode: str, seed: Any, dseed: int) -> None:
    ctx = _ctx(x, keep_prob, mode, seed)
    out, cache = _forward(S, x, keep_prob, mode, seed)
    mask = np.ones_like(x) if mode == "test" else _mask_of(out, x, keep_prob, ctx, statistics=False)
    dout = np.random.default_rng(dseed).standard_normal(x.shape)
    res = S.fn("dropout_backward")(dout.copy(), cache)
    dx = as_array(res, "dx from dropout_backward")
    if dx.shape != x.shape:
        raise Fail(f"dx from dropout_backward has shape {dx.shape}, expected {x.shape} ({ctx})")
    expected = dout * mask
    if np.allclose(dx, expected, rtol=1e-9, atol=1e-12):
        return
    if mode == "test":
        raise Fail(f"in test mode dropout is the identity, so dx = dout ({ctx})")
    zeros_mine, zeros_fwd = np.isclose(dx, 0, atol=1e-12), mask == 0
    if np.allclose(dx, dout):
        why = "backward ignores the mask: dx = dout·mask, with the mask forward used (keep it in the cache)"
    elif np.allclose(dx, dout * mask * keep_prob):
        why = "the mask is applied but not divided by keep_prob: dx = dout·mask with the same scaled mask as forward"
    elif not np.array_equal(zeros_mine, zeros_fwd):
        why = ("backward drops other units than forward did (a fresh mask drawn in backward?): "
               "store forward's mask in the cache and multiply dout by it")
    else:
        why = "dx must be dout·mask, the mask of the forward pass"
    idx = tuple(int(i) for i in np.argwhere(~np.isclose(dx, expected, rtol=1e-9, atol=1e-12))[0])
    raise Fail(
        f"dx from dropout_backward is wrong ({ctx}, random dout): at index {idx} yours {dx[idx]:.6g}, "
        f"expected {expected[idx]:.6g}\n  recognised mistake: {why}"
    )


def _numeric(S: Student, x: np.ndarray, keep_prob: float, seed: int, dseed: int) -> None:
    fwd = S.fn("dropout_forward")

    def forward(xx: np.ndarray) -> tuple[Any, Any]:
        res = fwd(xx, keep_prob, mode="train", rng=seed)
        if not isinstance(res, tuple | list) or len(res) != 2:
            raise Fail(f"dropout_forward must return a pair (out, cache), got {type(res).__name__}")
        return as_array(res[0], "dropout_forward(...)[0]"), res[1]

    def batched(name: str, arrays: Mapping[str, np.ndarray], dout: np.ndarray, h: float) -> np.ndarray | None:
        return S.numerical_gradient("dropout_forward", [arrays["x"], keep_prob], {"mode": "train", "rng": seed},
                                    at=[0], dout=dout, h=h, pair=True)

    report = trusted_report(gradcheck.check_layer(forward, S.fn("dropout_backward"), {"x": x.copy()}, seed=dseed, tol=1e-7,
                                                  numerical_of=batched))
    if not report.passed:
        raise Fail(
            f"dropout_backward disagrees with the numerical gradient of your dropout_forward "
            f"({_ctx(x, keep_prob, 'train', seed)}; the seed fixes the mask)\n{report}"
        )


@_bwd.check("dx = dout·mask with forward's mask (x (8, 6), keep_prob 0.5, random dout)", 1, tolerance='rtol 1e-9, atol 1e-12')
def _bwd_visible(S: Student) -> None:
    _same_mask(S, _x(np.random.default_rng(1), (8, 6)), 0.5, "train", 0, 0)


@_bwd.check("dropout_backward vs the numerical gradient of your forward (fixed seed, x (4, 5))", 0.5, tolerance='relative error ≤ 1e-7')
def _bwd_numeric_visible(S: Student) -> None:
    _numeric(S, _x(np.random.default_rng(2), (4, 5)), 0.6, 3, 0)


@_bwd.check("same mask on random shapes (4-D, batch of 1, keep_prob 0.9 and 0.25); test-mode backward", 1, hidden=True, tolerance='rtol 1e-9, atol 1e-12')
def _bwd_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "backward")
    for k, (shape, kp) in enumerate([((2, 3, 4, 5), 0.9), ((1, 17), 0.25), ((30, 20), 0.5)]):
        _same_mask(S, _x(rng, shape), kp, "train", 40 + k, k)
    _same_mask(S, _x(rng, (3, 4)), 0.5, "test", None, 9)


@_bwd.check("numerical gradient of your forward on random shapes", 0.5, hidden=True, tolerance='relative error ≤ 1e-7')
def _bwd_numeric_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "numeric")
    for k, (shape, kp) in enumerate([((3, 7), 0.3), ((2, 2, 3, 3), 0.8)]):
        _numeric(S, _x(rng, shape), kp, 70 + k, k + 1)


# ---------------------------------------------------------------------------------------------
# Task 3: initialisation
# ---------------------------------------------------------------------------------------------

_init = task(f"{ASSIGNMENT}.init", "fan_in/fan_out, He and Xavier initialisation", ["fans", "he_init", "xavier_init"], needs=["init"])


def _fans(S: Student, shape: tuple[int, ...]) -> None:
    expected = ref("init", "fans")(shape)
    got = S.fn("fans")(shape)
    if not isinstance(got, tuple | list) or len(got) != 2:
        raise Fail(f"fans{shape} must return a pair (fan_in, fan_out), got {got!r}")
    if tuple(int(v) for v in got) != tuple(expected):
        hint = ""
        if len(shape) == 4 and tuple(got) == (shape[1], shape[0]):
            hint = "\n  recognised mistake: the kernel size is missing: each output sees C·HH·WW inputs"
        elif tuple(got) == tuple(expected)[::-1]:
            hint = "\n  recognised mistake: fan_in and fan_out are swapped (x @ w: w has shape (fan_in, fan_out))"
        raise Fail(f"fans{shape} returned {tuple(got)}, expected (fan_in, fan_out) = {tuple(expected)}{hint}")


def _init_stats(S: Student, fname: str, shape: tuple[int, ...], seed: int) -> None:
    fan_in, fan_out = ref("init", "fans")(shape)
    target = 2.0 / fan_in if fname == "he_init" else 2.0 / (fan_in + fan_out)
    w = as_array(S.fn(fname)(shape, seed), f"{fname}{shape}")
    if w.shape != tuple(shape):
        raise Fail(f"{fname}{shape} returned an array of shape {w.shape}")
    again = as_array(S.fn(fname)(shape, seed), f"{fname}{shape}")
    if not np.array_equal(w, again):
        raise Fail(f"{fname}({shape}, rng={seed}) gave different arrays on two calls: draw from np.random.default_rng(rng)")
    n = w.size
    var = float(np.mean(w**2))  # the mean is 0 by design: the second moment is the variance
    mean = float(np.mean(w))
    # var/target − 1 has standard deviation sqrt(2/n) for normal entries; allow five of them
    bound = 5 * math.sqrt(2.0 / n)
    if abs(mean) > 5 * math.sqrt(target / n):
        raise Fail(f"{fname}{shape}: the entries have mean {mean:.3g}, expected 0 (± {5 * math.sqrt(target / n):.2g})")
    if abs(var / target - 1) > bound:
        cands = {
            "the variance uses fan_out instead of fan_in": 2.0 / fan_out,
            "the variance is 1/fan_in (LeCun); He uses 2/fan_in because ReLU zeroes half the units": 1.0 / fan_in,
            "the standard deviation is set to the variance (use np.sqrt of it)": target**2,
            "the variance is 2/(fan_in + fan_out) (Xavier), He uses 2/fan_in": 2.0 / (fan_in + fan_out),
            "the variance is 2/fan_in (He), Xavier uses 2/(fan_in + fan_out)": 2.0 / fan_in,
            "the variance is 1/(fan_in + fan_out): Xavier's is 2/(fan_in + fan_out)": 1.0 / (fan_in + fan_out),
            "unit variance: the weights are not scaled at all": 1.0,
        }
        if len(shape) == 4:
            f, c = shape[0], shape[1]
            cands["the fans count only the channels (C and F); a conv weight has fan_in = C·HH·WW and fan_out = F·HH·WW"] = (
                2.0 / c if fname == "he_init" else 2.0 / (c + f)
            )
        hint = next((t for t, v in cands.items() if abs(var / v - 1) <= bound and abs(v / target - 1) > 2 * bound), None)
        raise Fail(
            f"{fname}{shape}: the sample variance of the {n} entries is {var:.4g}, expected {target:.4g} "
            f"(fan_in = {fan_in}, fan_out = {fan_out}; the check allows a relative error of {bound:.3f}, five "
            "standard deviations)" + (f"\n  recognised mistake: {hint}" if hint else "")
        )


@_init.check("fans of an affine (D, M) and a conv (F, C, HH, WW) weight", 0.5, tolerance='exact')
def _fans_visible(S: Student) -> None:
    _fans(S, (300, 100))
    _fans(S, (16, 8, 3, 3))


@_init.check("he_init((400, 300), 0): shape, reproducible, variance 2/fan_in within 5 standard deviations", 1, tolerance='statistical: 5 standard deviations')
def _he_visible(S: Student) -> None:
    _init_stats(S, "he_init", (400, 300), 0)


@_init.check("xavier_init((400, 300), 0): variance 2/(fan_in + fan_out)", 0.5, tolerance='within 5 standard deviations')
def _xavier_visible(S: Student) -> None:
    _init_stats(S, "xavier_init", (400, 300), 0)


@_init.check("fans, he_init and xavier_init for conv weights and other shapes", 1, hidden=True, tolerance='exact fans; variances within 5 standard deviations')
def _init_hidden(S: Student) -> None:
    for shape in [(7, 13), (5, 3, 5, 5), (1, 1)]:
        _fans(S, shape)
    for fname, shape in [("he_init", (64, 16, 3, 3)), ("he_init", (50, 700)), ("xavier_init", (32, 8, 5, 5)), ("xavier_init", (900, 60))]:
        _init_stats(S, fname, shape, 17)
