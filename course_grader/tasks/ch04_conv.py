"""Grading of assignment ch04_conv: output size, naive convolution forward/backward, im2col.

Registered in :data:`course_grader.grading.TASKS` when :mod:`course_grader.grading` is imported.
Every "recognised mistake" below is computed from the reference on the same input, so a message
names a bug only when the student's numbers are exactly what that bug produces.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from course_grader.checks import (
    Case,
    Layer,
    call_pair,
    expect_value_error,
    judge_layer_backward,
    safe_bugs,
)
from course_grader.engine import (
    Fail,
    MissingFunction,
    NotImplementedByStudent,
    Student,
    compare_alternatives,
    describe_case,
    ref,
    rng_for,
    task,
)

ASSIGNMENT = "ch04_conv"


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    return np.asarray(ref("conv", "conv_forward")(x, w, b, stride=stride, pad=pad)[0])


# =============================================================================================
# Task 1: output size
# =============================================================================================

_size = task(f"{ASSIGNMENT}.output_size", "conv_output_size", ["conv_output_size"], needs=["conv"])


def _size_bugs(n: int, k: int, pad: int, stride: int) -> dict[str, Any]:
    span = n + 2 * pad - k
    return {
        "the +1 is missing: a window fits at position 0 too, so count (n + 2·pad − k) // stride + 1": span // stride,
        "the padding is counted once: pad adds zeros on *each* side, n + 2·pad": (n + pad - k) // stride + 1,
        "the padding is subtracted: n + 2·pad − k, not n − 2·pad − k": (n - 2 * pad - k) // stride + 1,
        "the stride divides the +1 too: (n + 2·pad − k) // stride + 1, not (n + 2·pad − k + 1) // stride": (span + 1) // stride,
    }


def _size_case(S: Student, n: int, k: int, pad: int, stride: int) -> None:
    call = f"conv_output_size(n={n}, k={k}, pad={pad}, stride={stride})"
    got = S.fn("conv_output_size")(n, k, pad, stride)
    expected = ref("conv", "conv_output_size")(n, k, pad, stride)
    if isinstance(got, float | np.floating) and not float(got).is_integer():
        raise Fail(
            f"{call} returned {got!r}, expected {expected}: the result must be a whole number of "
            "windows. Use floor division // (the last, incomplete window is dropped)"
        )
    if isinstance(got, bool) or not isinstance(got, int | np.integer | float | np.floating):
        raise Fail(f"{call} returned {got!r} ({type(got).__name__}), expected the int {expected}")
    if isinstance(got, float | np.floating):
        raise Fail(
            f"{call} returned the float {got!r}: return an int ({expected}), it is used as an array "
            "size (np.zeros((N, F, Ho, Wo)) rejects floats). Use // instead of /"
        )
    if int(got) != expected:
        msg = f"{call} returned {int(got)}, expected {expected}"
        matches = [text for text, value in _size_bugs(n, k, pad, stride).items() if value == int(got)]
        if len(matches) == 1:
            msg += f"\n  recognised mistake: {matches[0]}"
        elif matches:  # several mistakes give this number here: name them all, not a guess
            msg += "\n  recognised mistake, one of these (each gives exactly your number here):"
            msg += "".join(f"\n    - {t}" for t in matches)
        raise Fail(msg)


_VISIBLE_SIZES = [(32, 5, 2, 1), (7, 3, 0, 1), (7, 3, 0, 2), (6, 3, 0, 2), (28, 5, 0, 1), (5, 3, 1, 2)]


@_size.check("six fixed cases: (n, k, pad, stride) = " + ", ".join(map(str, _VISIBLE_SIZES)), 1, tolerance='exact')
def _size_visible(S: Student) -> None:
    for case in _VISIBLE_SIZES:
        _size_case(S, *case)


@_size.check("raises ValueError when a 5-wide kernel does not fit a 3-wide input (pad 0)", 0.5, tolerance='a ValueError with a message')
def _size_error_visible(S: Student) -> None:
    expect_value_error(
        S, "conv_output_size", (3, 5, 0, 1), {}, "conv_output_size(n=3, k=5, pad=0, stride=1)",
        "the kernel (5) is larger than the padded input (3)",
    )


@_size.check("60 random (n, k, pad, stride), incl. windows that do not tile the input (floor)", 1, hidden=True, tolerance='exact')
def _size_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "sizes")
    for _ in range(60):
        n = int(rng.integers(1, 40))
        pad = int(rng.integers(0, 4))
        k = int(rng.integers(1, n + 2 * pad + 1))
        stride = int(rng.integers(1, 5))
        _size_case(S, n, k, pad, stride)
    _size_case(S, 1, 1, 0, 1)  # the smallest input


@_size.check("ValueError when the kernel does not fit, also with padding, and for stride 0", 1, hidden=True, tolerance='a ValueError with a message')
def _size_error_hidden(S: Student) -> None:
    for n, k, pad, stride, why in [
        (4, 7, 1, 1, "the kernel (7) is larger than the padded input (4 + 2·1 = 6)"),
        (1, 2, 0, 3, "the kernel (2) is larger than the input (1)"),
        (10, 11, 0, 1, "the kernel (11) is larger than the input (10)"),
        (5, 3, 0, 0, "stride 0 never moves the window (and divides by zero)"),
    ]:
        expect_value_error(
            S, "conv_output_size", (n, k, pad, stride), {},
            f"conv_output_size(n={n}, k={k}, pad={pad}, stride={stride})", why,
        )


# ---------------------------------------------------------------------------------------------
# Tasks 2-4 build on task 1: the template's conv_forward_naive and im2col call the student's own
# conv_output_size. One mistake must not cost points twice, so their checks give the student's
# code the reference conv_output_size (``given=``: the student's functions read it from their
# namespace; the grader itself still calls the student's own). What the student's
# conv_output_size gets wrong on a check's geometry is still said: as a note on a check that
# passes, and on a failure as the likely cause only when the output has exactly that wrong size
# (the size is computed inline, the same wrong way), else as a remark.
# ---------------------------------------------------------------------------------------------

#: The reference functions tasks 2-4 give the student's code (task 1's answer).
_GIVEN_SIZE = ("course_lib.conv:conv_output_size",)

#: Whether the failing call's output has the size (Ho, Wo) given: evidence that it used them.
Observed = Callable[[tuple[int, int]], bool]


def _size_verdict(S: Student, n: int, k: int, pad: int, stride: int) -> tuple[str, int | None, str] | None:
    """What the student's conv_output_size does on one axis, when that differs from the reference.

    Returns ``(description, size it returned or None, error text or "")``, or None when it is right
    (or cannot be judged: not written yet, missing, or the reference itself rejects the geometry).
    """
    try:
        expected = int(ref("conv", "conv_output_size")(n, k, pad, stride))
    except Exception:  # the case itself has no valid size: nothing to say about the student's
        return None
    call = f"conv_output_size(n={n}, k={k}, pad={pad}, stride={stride})"
    try:
        got = S.fn("conv_output_size")(n, k, pad, stride)
    except (NotImplementedByStudent, MissingFunction):  # reported as such by task 1 (and by this task, if it calls it)
        return None
    except Exception as e:  # Fail from the wrapper ("conv_output_size raised ValueError: ...")
        text = str(e).splitlines()[0].removeprefix("conv_output_size ")
        message = text.partition(": ")[2].strip()  # what a caller re-raising it would repeat
        return f"your {call} {text}, but {expected} windows fit", None, message
    if isinstance(got, bool) or not isinstance(got, int | np.integer | float | np.floating):
        kind = type(got).__name__
        return f"your {call} returns {got!r} ({kind}), not the int {expected}", None, kind
    if isinstance(got, float | np.floating):
        if float(got) == expected:
            return f"your {call} returns the float {got!r}: array sizes must be ints (use //)", None, "float"
        return f"your {call} returns the float {got!r}, but {expected} windows fit", None, "float"
    if int(got) == expected:
        return None
    return f"your {call} returns {int(got)}, but {expected} windows fit", int(got), ""


def _size_verdicts(S: Student, hw: tuple[int, int], kernel: tuple[int, int], stride: int, pad: int
                   ) -> dict[tuple[int, int], tuple[str, int | None, str]]:
    """:func:`_size_verdict` of each axis (H, W) of one geometry where the student's conv_output_size
    is wrong, one entry per distinct (n, k)."""
    verdicts = {}
    for n, k in dict.fromkeys([(hw[0], kernel[0]), (hw[1], kernel[1])]):
        v = _size_verdict(S, n, k, pad, stride)
        if v is not None:
            verdicts[n, k] = v
    return verdicts


def _size_hint(
    S: Student, fname: str, failure: str, hw: tuple[int, int], kernel: tuple[int, int], stride: int, pad: int,
    observed: Observed | None = None,
) -> str:
    """Lines to append to a failure of ``fname`` when the student's conv_output_size is wrong here.

    The check gave ``fname`` the reference conv_output_size, so a wrong output size comes from
    code that computes the size itself: ``observed((Ho, Wo))`` tells whether the failing call's
    output has the size the student's conv_output_size gives (then the same mistake made it fail:
    "likely cause"); otherwise the wrong conv_output_size is only a remark ("also").
    """
    axes = [(hw[0], kernel[0]), (hw[1], kernel[1])]
    verdicts = _size_verdicts(S, hw, kernel, stride, pad)
    if not verdicts:
        return ""
    sizes = [verdicts[a][1] if a in verdicts else int(ref("conv", "conv_output_size")(*a, pad, stride)) for a in axes]
    caused = False
    if all(s is not None for s in sizes) and observed is not None:
        try:
            caused = bool(observed((sizes[0], sizes[1])))
        except Exception:  # the student's code failed while looking: no evidence either way
            caused = False
    # an error (or a float) of conv_output_size that reappears in the failure is the same error
    caused = caused or any(err and err in failure for _, _, err in verdicts.values())
    what = "; ".join(text for text, _, _ in verdicts.values())
    if caused:
        return (
            f"\n  likely cause: {what}: fix task 1 (conv_output_size) first — your {fname} computes the "
            "output size the same way (this check gave it the reference conv_output_size); then call "
            f"conv_output_size in {fname}"
        )
    return (
        f"\n  also: {what}: fix task 1 (conv_output_size) too (this check gave your {fname} the "
        "reference conv_output_size, so that is not why it fails here)"
    )


#: How a note of :func:`_size_note` starts (every verdict starts "your conv_output_size(").
_NOTE = "note: your conv_output_size("


def _size_note(S: Student, fname: str, hw: tuple[int, int], kernel: tuple[int, int], stride: int, pad: int) -> str:
    """The remark for the first check of ``fname``'s task when it passed although the student's
    conv_output_size is wrong on its geometry (the checks give the reference), or ""."""
    verdicts = _size_verdicts(S, hw, kernel, stride, pad)
    if not verdicts:
        return ""
    what = "; ".join(text for text, _, _ in verdicts.values())
    return (
        f"note: {what}: fix task 1 (conv_output_size) first. The checks of this task give your {fname} "
        "the reference conv_output_size, so that mistake costs points in task 1 only."
    )


def _geometry(inputs: dict[str, np.ndarray], kw: dict[str, Any]) -> dict[str, Any]:
    x, w = inputs["x"], inputs["w"]
    return {
        "hw": (int(x.shape[2]), int(x.shape[3])), "kernel": (int(w.shape[2]), int(w.shape[3])),
        "stride": int(kw.get("stride", 1)), "pad": int(kw.get("pad", 0)),
    }


def _spatial(out: Any, ndim: int = 4) -> tuple[int, int] | None:
    shape = np.shape(out) if isinstance(out, np.ndarray | list | tuple) else None
    return (int(shape[-2]), int(shape[-1])) if shape is not None and len(shape) == ndim else None


def _student_forward_hw(S: Student, inputs: dict[str, np.ndarray], kw: dict[str, Any]) -> Observed:
    """Compares with (Ho, Wo) of the student's conv_forward_naive on ``inputs``, run only when asked."""
    return lambda hw: _spatial(call_pair(S, "conv_forward_naive", inputs, kw)[0]) == hw


def _explained(S: Student, fname: str, inputs: dict[str, np.ndarray], kw: dict[str, Any],
               run: Callable[[], None], observed: Observed | None = None, note: bool = True) -> None:
    """``run()``, then say what the student's conv_output_size gets wrong on this case: on a
    failure appended to its message, else (``note``: only the first check of a task says it, so
    that a report does not repeat it on every check) as a note of the check."""
    try:
        run()
    except Fail as e:
        hint = _size_hint(S, fname, str(e), observed=observed, **_geometry(inputs, kw))
        if hint:
            raise Fail(f"{e}{hint}") from None
        raise
    if not note or any(n.startswith(_NOTE) for n in S.notes):  # one case of one check is enough
        return
    note = _size_note(S, fname, **_geometry(inputs, kw))
    if note:
        S.note(note)


# =============================================================================================
# Task 2: forward pass with loops
# =============================================================================================

_fwd = task(f"{ASSIGNMENT}.conv_forward", "conv_forward_naive", ["conv_forward_naive"], needs=["conv"], given=_GIVEN_SIZE)


def _conv_visible() -> list[Case]:
    x = np.linspace(-0.5, 0.5, 2 * 3 * 5 * 5).reshape(2, 3, 5, 5)
    w = np.linspace(-0.2, 0.3, 4 * 3 * 3 * 3).reshape(4, 3, 3, 3) ** 2 - 0.05  # not symmetric
    b = np.array([0.1, -0.2, 0.3, 0.0])
    label = "x = linspace(-0.5, 0.5, 150).reshape(2, 3, 5, 5), w = linspace(-0.2, 0.3, 108).reshape(4, 3, 3, 3)**2 - 0.05, b = [0.1, -0.2, 0.3, 0]"
    return [
        (label, {"x": x, "w": w, "b": b}, {"stride": 1, "pad": 1}),
        (label, {"x": x, "w": w, "b": b}, {"stride": 2, "pad": 1}),
    ]


def _random_conv_case(
    rng: np.random.Generator, label: str, xs: tuple[int, ...], ws: tuple[int, ...], stride: int, pad: int
) -> Case:
    """ASSIGNMENT case with standard-normal x of shape ``xs``, w of shape ``ws`` and b (x, w, b drawn in that order)."""
    return (
        label,
        {"x": rng.standard_normal(xs), "w": rng.standard_normal(ws), "b": rng.standard_normal(ws[0])},
        {"stride": stride, "pad": pad},
    )


def _conv_hidden(rng: np.random.Generator) -> list[Case]:
    case = functools.partial(_random_conv_case, rng)
    return [
        case("batch of 1, pad 1", (1, 2, 5, 5), (2, 2, 3, 3), 1, 1),
        case("stride 2, the last column is never read (floor)", (2, 1, 7, 6), (3, 1, 3, 3), 2, 0),
        case("pad 2, a 3×2 kernel", (2, 3, 4, 5), (2, 3, 3, 2), 1, 2),
        case("stride 3, pad 1, one filter", (1, 2, 8, 8), (1, 2, 4, 4), 3, 1),
    ]


def _conv_numeric(rng: np.random.Generator) -> list[Case]:
    """Smaller versions of the hidden cases: every entry costs two forward passes here."""
    case = functools.partial(_random_conv_case, rng)
    return [
        case("batch of 1, pad 1", (1, 2, 4, 4), (2, 2, 3, 3), 1, 1),
        case("stride 2, the last row is never read (floor)", (2, 1, 5, 4), (2, 1, 3, 3), 2, 0),
        case("pad 2, a 3×2 kernel", (1, 2, 3, 4), (2, 2, 3, 2), 1, 2),
        case("stride 3, pad 1, one filter", (2, 1, 6, 6), (1, 1, 4, 4), 3, 1),
    ]


def _conv_fwd_bugs(inp: dict[str, np.ndarray], kw: dict[str, Any]) -> dict[str, Any]:
    x, w, b = inp["x"], inp["w"], inp["b"]
    s, p = kw.get("stride", 1), kw.get("pad", 0)
    _N, _C, H, W = x.shape
    bugs: dict[str, Any] = {
        "the kernel is flipped (a true convolution): the 'convolution' of deep learning is a "
        "cross-correlation, multiply the window by w[f] as it is": _conv(x, np.ascontiguousarray(w[:, :, ::-1, ::-1]), b, s, p),
        "the bias b[f] is not added": _conv(x, w, np.zeros_like(b), s, p),
    }
    if p:
        bugs["the padding is ignored: pad x with `pad` zeros on each side of H and W first (np.pad)"] = _conv(x, w, b, s, 0)
        one_side = np.pad(x, ((0, 0), (0, 0), (0, 2 * p), (0, 2 * p)))
        bugs["the zeros are added on one side only: pad `pad` rows/columns before AND after"] = _conv(one_side, w, b, s, 0)
    if s > 1:
        full = _conv(x, w, b, 1, p)
        Ho, Wo = (H + 2 * p - w.shape[2]) // s + 1, (W + 2 * p - w.shape[3]) // s + 1
        bugs["the stride is ignored: window (i, j) starts at row i·stride, column j·stride"] = full[:, :, :Ho, :Wo]
        bugs["the stride is ignored (stride 1 used for the size and the windows)"] = full
    return bugs


def _fwd_case(S: Student, case: Case, note: bool = False) -> None:
    """:func:`~course_grader.tasks._common.forward_matches`, keeping the student's output so
    that a wrong size can be traced back to their conv_output_size."""
    label, inputs, kw = case
    seen: list[Any] = []

    def run() -> None:
        expected = ref("conv", "conv_forward_naive")(*(v.copy() for v in inputs.values()), **kw)[0]
        got, _ = call_pair(S, "conv_forward_naive", inputs, kw)
        seen.append(got)
        alts = safe_bugs(_conv_fwd_bugs, {k: v.copy() for k, v in inputs.items()}, dict(kw))
        compare_alternatives(got, expected, "conv_forward_naive output", alts, context=describe_case(label, inputs | kw))

    _explained(S, "conv_forward_naive", inputs, kw, run, observed=lambda hw: bool(seen) and _spatial(seen[0]) == hw,
               note=note)


@_fwd.check("two fixed examples: stride 1 and 2, pad 1", 1.5, tolerance='rtol 1e-6')
def _fwd_visible(S: Student) -> None:
    for case in _conv_visible():
        _fwd_case(S, case, note=True)


@_fwd.check("random shapes: batch of 1, stride 2 and 3, pad 2, a 3×2 kernel, one filter", 2, hidden=True, tolerance='rtol 1e-6')
def _fwd_hidden(S: Student) -> None:
    for case in _conv_hidden(rng_for(ASSIGNMENT, "forward")):
        _fwd_case(S, case)


@_fwd.check("the defaults stride=1, pad=0 (called without keywords)", 0.5, tolerance='rtol 1e-6')
def _fwd_defaults(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "defaults")
    inputs = {"x": rng.standard_normal((2, 2, 4, 5)), "w": rng.standard_normal((3, 2, 2, 3)), "b": rng.standard_normal(3)}
    _fwd_case(S, ("defaults", inputs, {}))


# =============================================================================================
# Task 3: backward pass with loops
# =============================================================================================

_bwd = task(
    f"{ASSIGNMENT}.conv_backward", "conv_backward_naive", ["conv_forward_naive", "conv_backward_naive"], needs=["conv"],
    given=_GIVEN_SIZE,
)


def _scatter(x_pad: np.ndarray, w: np.ndarray, dout: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """dx_pad and dw when window (i, j) starts at (i·step, j·step) (step 1 = stride ignored)."""
    _, _, HH, WW = w.shape
    dxp, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * step, i * step + HH), slice(j * step, j * step + WW)
            g = dout[:, :, i, j]
            dxp[:, :, rows, cols] += np.einsum("nf,fcpq->ncpq", g, w)
            dw += np.einsum("nf,ncpq->fcpq", g, x_pad[:, :, rows, cols])
    return dxp, dw


def _conv_bwd_bugs(inp: dict[str, np.ndarray], kw: dict[str, Any], dout: np.ndarray) -> dict[str, dict[str, Any]]:
    x, w = inp["x"], inp["w"]
    s, p = kw.get("stride", 1), kw.get("pad", 0)
    N, _C, H, W = x.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    dxp, dw = _scatter(x_pad, w, dout, s)
    dx_bugs: dict[str, Any] = {}
    dw_bugs: dict[str, Any] = {}
    if p:
        dx_bugs["dx still contains the padding: return dx_pad[:, :, pad:pad+H, pad:pad+W], the gradient of x itself"] = dxp
        dx_bugs["dx is cropped from one side only: drop `pad` rows/columns at the start AND at the end of dx_pad"] = dxp[:, :, :H, :W]
        dx_bugs["dx is cropped from the wrong side: dx_pad[:, :, 2·pad:, 2·pad:] shifts the gradient; use dx_pad[:, :, pad:pad+H, pad:pad+W]"] = dxp[:, :, 2 * p:, 2 * p:]
    else:
        dx_bugs["dx is cropped as dx_pad[:, :, pad:-pad, pad:-pad], which is empty when pad = 0 (-0 is 0): "
                "use dx_pad[:, :, pad:pad+H, pad:pad+W]"] = dxp[:, :, 0:0, 0:0]
    flipped = np.ascontiguousarray(w[:, :, ::-1, ::-1])
    dx_bugs["the kernel is flipped in the input gradient: each window receives dout[n, f, i, j]·w[f], the same w[f] as in the forward pass, not rotated"] = (
        _scatter(x_pad, flipped, dout, s)[0][:, :, p:p + H, p:p + W]
    )
    dw_bugs["dw is flipped (rotated by 180°): dw[f] accumulates dout[n, f, i, j] times the window itself"] = dw[:, :, ::-1, ::-1]
    dw_bugs["dw has its F and C axes swapped: it must have the shape of w, (F, C, HH, WW)"] = dw.transpose(1, 0, 2, 3)
    Ho, Wo = dout.shape[2], dout.shape[3]
    if Ho * Wo > 1 or N > 1:
        # loops n, f, i, j with `dw[f] = ...`: every window overwrites the one before; the last stays
        rows, cols = slice((Ho - 1) * s, (Ho - 1) * s + w.shape[2]), slice((Wo - 1) * s, (Wo - 1) * s + w.shape[3])
        dw_bugs["dw[f] is assigned (=) for every window, so only the last window's contribution is left: "
                "add (+=) the contributions of every window and every example"] = (
            dout[-1, :, Ho - 1, Wo - 1][:, None, None, None] * x_pad[-1, None, :, rows, cols]
        )
    if N > 1:
        last = _scatter(x_pad[-1:], w, dout[-1:], s)[1]
        first = _scatter(x_pad[:1], w, dout[:1], s)[1]
        dw_bugs["dw holds only the last example's contribution: w is shared by the whole batch, add (+=) over every n instead of assigning (=)"] = last
        dw_bugs["dw holds only the first example's contribution: sum over every example of the batch"] = first
    if s > 1:
        dxp1, dw1 = _scatter(x_pad, w, dout, 1)
        dx_bugs["the stride is ignored in the backward pass: window (i, j) starts at (i·stride, j·stride)"] = dxp1[:, :, p:p + H, p:p + W]
        dw_bugs["the stride is ignored in the backward pass: window (i, j) starts at (i·stride, j·stride)"] = dw1
    db_bugs = {
        "db is summed over the output positions but not over the batch (only the first example)": dout[0].sum(axis=(1, 2)),
        "db is summed over the batch but not over the output positions: sum over axes (0, 2, 3)": dout.sum(axis=0),
        "db is a mean: the bias is added at every position of every example, so its gradient is the sum": dout.mean(axis=(0, 2, 3)),
    }
    return {"x": dx_bugs, "w": dw_bugs, "b": db_bugs}


def _bwd_judged(S: Student, case: Case, seed: int, *, grads: list[str] | None, numeric_first: bool,
                note: bool = False) -> None:
    """One backward case under the cascade rule (judged against the student's own forward), with
    a wrong conv_output_size named when it explains the failure."""
    _label, inputs, kw = case
    _explained(
        S, "conv_forward_naive", inputs, kw,
        lambda: judge_layer_backward(
            S, Layer("conv_forward_naive", "conv_backward_naive", ref("conv", "conv_forward"), ref("conv", "conv_backward"),
                     grads, _conv_bwd_bugs),
            case, seed=seed, numeric_first=numeric_first, assignment=ASSIGNMENT,
        ),
        observed=_student_forward_hw(S, inputs, kw), note=note,
    )


def _bwd_reference(S: Student, grad: str) -> None:
    for k, case in enumerate(_conv_hidden(rng_for(ASSIGNMENT, "reference"))):
        _bwd_judged(S, case, k, grads=[grad], numeric_first=False)


def _small(case: Case, h: int, w: int, stride: int, pad: int) -> Case:
    """The visible forward example cut to x[:, :2, :h, :w], w[:2, :2], b[:2] (cheap numerical gradients)."""
    _label, inputs, _kw = case
    small = {"x": inputs["x"][:, :2, :h, :w].copy(), "w": inputs["w"][:2, :2].copy(), "b": inputs["b"][:2].copy()}
    return f"x[:, :2, :{h}, :{w}], w[:2, :2], b[:2] of the forward example", small, {"stride": stride, "pad": pad}


@_bwd.check(
    "dx, dw, db vs the numerical gradient of your conv_forward_naive (parts of the forward example: "
    "stride 1 pad 1, stride 2 pad 0; relative error ≤ 1e-6)", 1.5,
)
def _bwd_visible(S: Student) -> None:
    base = _conv_visible()[0]
    for k, geometry in enumerate([(3, 4, 1, 1), (5, 5, 2, 0)]):
        _bwd_judged(S, _small(base, *geometry), k, grads=None, numeric_first=True, note=True)


@_bwd.check("dx, dw, db vs numerical gradients of your forward (random shapes, stride, padding; relative error ≤ 1e-6)", 1.5, hidden=True)
def _bwd_numeric(S: Student) -> None:
    for k, case in enumerate(_conv_numeric(rng_for(ASSIGNMENT, "numeric"))):
        _bwd_judged(S, case, k, grads=None, numeric_first=True)


@_bwd.check("dx matches the reference (random shapes, random upstream gradient; rtol 1e-6)", 1, hidden=True)
def _bwd_dx(S: Student) -> None:
    _bwd_reference(S, "x")


@_bwd.check("dw matches the reference (random shapes, random upstream gradient; rtol 1e-6)", 1, hidden=True)
def _bwd_dw(S: Student) -> None:
    _bwd_reference(S, "w")


@_bwd.check("db matches the reference (random shapes, random upstream gradient; rtol 1e-6)", 0.5, hidden=True)
def _bwd_db(S: Student) -> None:
    _bwd_reference(S, "b")


# =============================================================================================
# Task 4: im2col
# =============================================================================================

_im2col = task(f"{ASSIGNMENT}.im2col", "im2col", ["im2col"], needs=["conv"], given=_GIVEN_SIZE)


def _im2col_bugs(x: np.ndarray, HH: int, WW: int, stride: int, pad: int) -> dict[str, Any]:
    f = ref("conv", "im2col")
    cols = f(x, HH, WW, stride, pad)
    N, C = x.shape[:2]
    M = cols.shape[0]
    L = M // N
    bugs = {
        "each row lists the window in (p, q, c) order: flatten it channel first, (c, p, q), the order of w.reshape(F, -1)":
            cols.reshape(M, C, HH, WW).transpose(0, 2, 3, 1).reshape(M, -1),
        "the rows are ordered (i, j, n): row n·Ho·Wo + i·Wo + j must hold example n's window (i, j)":
            cols.reshape(N, L, -1).transpose(1, 0, 2).reshape(M, -1),
        "each window is flattened in (c, q, p) order: rows p of the kernel first, (c, p, q)":
            cols.reshape(M, C, HH, WW).transpose(0, 1, 3, 2).reshape(M, -1),
    }
    if stride > 1:
        bugs["the stride is ignored: window (i, j) starts at (i·stride, j·stride)"] = f(x, HH, WW, 1, pad)
    if pad:
        bugs["the padding is ignored: pad x with zeros first"] = f(x, HH, WW, stride, 0)
    return bugs


def _im2col_case(S: Student, label: str, x: np.ndarray, HH: int, WW: int, stride: int, pad: int,
                 note: bool = False) -> None:
    ctx = f"{label}: x of shape {x.shape}, HH={HH}, WW={WW}, stride={stride}, pad={pad}"
    seen: list[Any] = []

    def run() -> None:
        expected = ref("conv", "im2col")(x.copy(), HH, WW, stride, pad)
        got = S.fn("im2col")(x.copy(), HH, WW, stride, pad)
        seen.append(got)
        compare_alternatives(got, expected, "im2col(x, HH, WW, stride, pad)", _im2col_bugs(x, HH, WW, stride, pad), context=ctx)

    def observed(hw: tuple[int, int]) -> bool:
        # one row per window of every example: N·Ho·Wo rows
        return bool(seen) and np.ndim(seen[0]) == 2 and np.shape(seen[0])[0] == x.shape[0] * hw[0] * hw[1]

    _explained(S, "im2col", {"x": x, "w": np.empty((1, 1, HH, WW))}, {"stride": stride, "pad": pad}, run, observed,
               note=note)


@_im2col.check("x = arange(2·2·4·4).reshape(2, 2, 4, 4), a 2×3 kernel, stride 1 and stride 2 pad 1", 1, tolerance='rtol 1e-6')
def _im2col_visible(S: Student) -> None:
    x = np.arange(2 * 2 * 4 * 4, dtype=np.float64).reshape(2, 2, 4, 4)
    _im2col_case(S, "fixed", x, 2, 3, 1, 0, note=True)
    _im2col_case(S, "fixed", x, 2, 3, 2, 1, note=True)


@_im2col.check("random shapes: batch of 1, stride 3, pad 2, a 1×1 kernel, floor cases", 1.5, hidden=True, tolerance='rtol 1e-6')
def _im2col_hidden(S: Student) -> None:
    rng = rng_for(ASSIGNMENT, "im2col")
    for label, shape, HH, WW, stride, pad in [
        ("batch of 1", (1, 3, 5, 5), 3, 3, 1, 1),
        ("stride 3, floor", (2, 2, 8, 7), 3, 2, 3, 0),
        ("pad 2", (3, 1, 4, 6), 3, 3, 2, 2),
        ("a 1×1 kernel", (2, 4, 3, 3), 1, 1, 1, 0),
    ]:
        _im2col_case(S, label, rng.standard_normal(shape), HH, WW, stride, pad)
