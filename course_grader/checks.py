"""Reusable checks for the task modules: a forward/backward layer task, a loss task, and
forward/backward comparisons that name known mistakes.

They only call the student's functions through :class:`course_grader.engine.Student`, so they work
the same in-process, in a forked child and in the sandbox of :mod:`course_grader.sandbox`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from course_grader.engine import (
    Fail,
    Student,
    Task,
    as_array,
    check_pair,
    compare,
    compare_alternatives,
    describe_case,
    diagnose,
    judge_backward,
    ref,
    rng_for,
    task,
)
from course_lib import gradcheck

#: One input set of a check: (label for messages, named input arrays, keyword options).
Case = tuple[str, dict[str, np.ndarray], dict[str, Any]]
#: Builds the results of known mistakes for one input: {description: wrong result}.
Bugs = Callable[..., Mapping[str, Any]]

__all__ = [
    "Bugs",
    "Case",
    "Layer",
    "backward_matches",
    "call_pair",
    "expect_value_error",
    "first_output",
    "forward_matches",
    "judge_layer_backward",
    "layer_task",
    "loss_task",
    "matches_own_loss",
    "safe_bugs",
    "tupled",
]

def first_output(res: Any, fname: str) -> Any:
    if not isinstance(res, tuple | list) or len(res) != 2:
        raise Fail(f"{fname} must return a pair (out, cache), got {type(res).__name__}")
    return res[0]


def layer_task(
    task_id: str,
    title: str,
    module: str,
    forward: str,
    backward: str,
    visible: Callable[[], Case],
    hidden: Callable[[np.random.Generator], list[Case]],
    *,
    wrt: Sequence[str] | None = None,
    points: tuple[float, float, float, float, float] = (1, 1, 1, 1, 1),
    extra_functions: Sequence[str] = (),
    ref_forward: str | None = None,
    ref_backward: str | None = None,
    bugs: Bugs | None = None,
) -> Task:
    """A forward/backward pair: forward vs reference, backward vs numerical and vs reference.

    The backward checks keep the cascade rule (:func:`judge_layer_backward`); ``bugs(inputs, kw,
    dout)`` maps each gradient's name to ``{known mistake: its result}`` for the reference check.
    """
    t = task(task_id, title, [forward, backward, *extra_functions], needs=[module])
    rf = ref_forward or forward
    rb = ref_backward or backward

    @t.check(f"{forward} on a fixed example matches the reference (rtol 1e-6)", points[0])
    def fwd_visible(S: Student) -> None:
        label, inputs, kw = visible()
        ctx = describe_case(label, inputs | kw)
        expected = ref(module, rf)(*(v.copy() for v in inputs.values()), **kw)[0]
        got = first_output(S.fn(forward)(*(v.copy() for v in inputs.values()), **kw), forward)
        compare(got, expected, f"{forward} output", context=ctx)

    def judged(S: Student, case: Case, seed: int, numeric_first: bool) -> None:
        layer = Layer(forward, backward, ref(module, rf), ref(module, rb), wrt, bugs)
        judge_layer_backward(S, layer, case, seed=seed, numeric_first=numeric_first, assignment=task_id.split(".")[0])

    @t.check(f"{backward} agrees with the numerical gradient of your {forward} (fixed example; relative error ≤ 1e-6)", points[1])
    def bwd_visible(S: Student) -> None:
        judged(S, visible(), 0, True)

    @t.check(f"{forward} on random shapes (odd sizes, batch of 1, other options; rtol 1e-6)", points[2], hidden=True)
    def fwd_hidden(S: Student) -> None:
        for label, inputs, kw in hidden(rng_for(task_id, "forward")):
            ctx = describe_case(label, inputs | kw)
            expected = ref(module, rf)(*(v.copy() for v in inputs.values()), **kw)[0]
            got = first_output(S.fn(forward)(*(v.copy() for v in inputs.values()), **kw), forward)
            compare(got, expected, f"{forward} output", context=ctx)

    @t.check(f"{backward} agrees with the numerical gradient of your {forward} (random shapes; relative error ≤ 1e-6)", points[3], hidden=True)
    def bwd_numeric(S: Student) -> None:
        for k, case in enumerate(hidden(rng_for(task_id, "numeric"))):
            judged(S, case, k, True)

    @t.check(f"{backward} matches the reference gradients (random shapes, random upstream gradient; rtol 1e-6)", points[4], hidden=True)
    def bwd_reference(S: Student) -> None:
        for k, case in enumerate(hidden(rng_for(task_id, "reference"))):
            judged(S, case, k, False)

    return t


def loss_task(
    task_id: str,
    title: str,
    fname: str,
    visible: Callable[[], Case],
    hidden: Callable[[np.random.Generator], list[Case]],
    *,
    stable: Callable[[], Case] | None = None,
    points: tuple[float, ...] = (1, 1, 1, 1, 1),
    bugs: Bugs | None = None,
) -> Task:
    """A loss ``fname(scores, y, **kw) -> (loss, dscores)``: value and gradient.

    ``bugs(inputs, kw)`` gives ``{known mistake: the loss it returns}`` for the value checks.
    """
    t = task(task_id, title, [fname], needs=["loss"])

    def run(S: Student, case: Case) -> tuple[float, np.ndarray, float, np.ndarray, str]:
        label, inputs, kw = case
        ctx = describe_case(label, inputs | kw)
        args = list(inputs.values())
        exp_loss, exp_grad = ref("loss", fname)(*(a.copy() for a in args), **kw)
        res = S.fn(fname)(*(a.copy() for a in args), **kw)
        if not isinstance(res, tuple | list) or len(res) != 2:
            raise Fail(f"{fname} must return a pair (loss, gradient), got {type(res).__name__}")
        return res[0], res[1], exp_loss, exp_grad, ctx

    def value(S: Student, case: Case) -> None:
        got, _, exp, _, ctx = run(S, case)
        n = next(iter(case[1].values())).shape[0]
        alts = safe_bugs(bugs, {k: v.copy() for k, v in case[1].items()}, dict(case[2]))
        compare_alternatives(
            np.asarray(as_array(got, "loss")).reshape(()) if np.size(got) == 1 else got, exp, "loss", alts,
            context=ctx, batch_size=n,
        )

    def numeric(S: Student, case: Case) -> None:
        label, inputs, kw = case
        ctx = describe_case(label, inputs | kw)
        names = list(inputs)
        f = S.fn(fname)
        first = inputs[names[0]].copy()
        rest = [inputs[k].copy() for k in names[1:]]
        res = f(first.copy(), *rest, **kw)
        if not isinstance(res, tuple | list) or len(res) != 2:
            raise Fail(f"{fname} must return a pair (loss, gradient), got {type(res).__name__}")
        grad = res[1]

        def loss_of(v: np.ndarray) -> float:
            out = f(v.copy(), *rest, **kw)
            return float(np.asarray(out[0], dtype=np.float64).reshape(()))

        numerical = S.numerical_gradient(fname, [first.copy(), *rest], kw, at=[0])
        if numerical is None:
            numerical = gradcheck.numerical_gradient(loss_of, first.copy())
        matches_own_loss(grad, numerical, f"the gradient returned by {fname}", ctx, first.shape[0], who="your gradient")

    def grad_ref(S: Student, case: Case) -> None:
        _, got, _, exp, ctx = run(S, case)
        n = next(iter(case[1].values())).shape[0]
        compare(got, exp, "gradient", context=ctx, batch_size=n)

    @t.check(f"{fname} value on a fixed example (rtol 1e-6)", points[0])
    def v_visible(S: Student) -> None:
        value(S, visible())

    @t.check(f"{fname} gradient vs the numerical gradient of your loss (fixed example; relative error ≤ 1e-6)", points[1])
    def g_visible(S: Student) -> None:
        numeric(S, visible())

    @t.check(f"{fname} value on random shapes (batch of 1, odd sizes; rtol 1e-6)", points[2], hidden=True)
    def v_hidden(S: Student) -> None:
        for case in hidden(rng_for(task_id, "value")):
            value(S, case)

    @t.check(f"{fname} gradient vs numerical and reference (random shapes; relative error ≤ 1e-6)", points[3], hidden=True)
    def g_hidden(S: Student) -> None:
        for case in hidden(rng_for(task_id, "grad")):
            numeric(S, case)
            grad_ref(S, case)

    if stable is not None:
        @t.check(f"{fname} is numerically stable (scores around ±1000, a true class at −1000; rtol 1e-6)", points[4], hidden=True)
        def stable_check(S: Student) -> None:
            case = stable()
            value(S, case)
            grad_ref(S, case)

    return t


def matches_own_loss(
    got: Any, numerical: np.ndarray, label: str, context: str, batch_size: int, *, who: str | None = None
) -> None:
    """Fail unless the gradient ``got`` (called ``label``) is the numerical gradient of the
    student's own loss (relative error ≤ 1e-6): the shape, else the relative error, the worst
    entry (yours vs numerical) and a trusted likely cause. ``who`` names it in the second message
    ("your gradient"; default ``label``)."""
    a = as_array(got, label, numerical.shape)
    if a.shape != numerical.shape:
        hint = diagnose(a, numerical, batch_size)
        raise Fail(f"{label} has shape {a.shape}, expected {numerical.shape} ({context})"
                   + (f"\n  likely cause: {hint}" if hint else ""))
    err = gradcheck.rel_error(a, numerical)
    if err > 1e-6:
        idx, av, nv = gradcheck.worst_entry(a, numerical)
        hint = diagnose(a, numerical, batch_size)
        raise Fail(
            f"{who or label} disagrees with the numerical gradient of your own loss ({context}): relative "
            f"error {err:.2e}, worst at index {idx}: yours {av:.6g}, numerical {nv:.6g}"
            + (f"\n  likely cause: {hint}" if hint else "")
        )


def safe_bugs(make: Bugs | None, *args: Any) -> dict[str, Any]:
    """The known-mistake results for one input; a helper that cannot build one yields nothing."""
    if make is None:
        return {}
    try:
        return dict(make(*args))
    except Exception:  # a bug variant that does not apply to this geometry
        return {}


def call_pair(S: Student, fname: str, inputs: Mapping[str, np.ndarray], kw: Mapping[str, Any]) -> tuple[Any, Any]:
    """``fname(*inputs, **kw)`` on copies; Fail unless it returns a pair (out, cache)."""
    res = S.fn(fname)(*(v.copy() for v in inputs.values()), **kw)
    if not isinstance(res, tuple | list) or len(res) != 2:
        raise Fail(f"{fname} must return a pair (out, cache), got {type(res).__name__}")
    return res[0], res[1]


def tupled(res: Any) -> tuple[Any, ...]:
    return tuple(res) if isinstance(res, tuple | list) else (res,)


def forward_matches(
    S: Student, fname: str, ref_fn: Callable[..., Any], case: Case, bugs: Bugs | None = None
) -> None:
    """The student's forward output vs the reference, naming a known mistake it reproduces."""
    label, inputs, kw = case
    ctx = describe_case(label, inputs | kw)
    expected = ref_fn(*(v.copy() for v in inputs.values()), **kw)[0]
    got, _ = call_pair(S, fname, inputs, kw)
    alts = safe_bugs(bugs, {k: v.copy() for k, v in inputs.items()}, dict(kw))
    compare_alternatives(got, expected, f"{fname} output", alts, context=ctx)


@dataclass(frozen=True)
class Layer:
    """A layer's backward pass to judge: the student's forward and backward (by name), the
    reference pair, the gradients judged (``wrt``, in the order of the inputs; None: all) and
    ``bugs(inputs, kw, dout)``, which maps each gradient's name to ``{known mistake: its result}``."""

    forward: str
    backward: str
    ref_forward: Callable[..., Any]
    ref_backward: Callable[..., Any]
    wrt: Sequence[str] | None = None
    bugs: Bugs | None = None


def backward_matches(S: Student, layer: Layer, case: Case, *, seed: int = 0) -> None:
    """The student's gradients vs the reference's for the same random upstream gradient.

    Unlike :func:`course_grader.grading.check_against_reference` the forward *output* is not judged
    here (its own task does that): a wrong forward must not cost the backward's points twice.
    """
    backward = layer.backward
    label, inputs, kw = case
    names = list(inputs)
    ctx = describe_case(label, inputs | kw) + "; random upstream gradient dout"
    ref_out, ref_cache = layer.ref_forward(*(v.copy() for v in inputs.values()), **kw)
    dout = rng_for("dout", seed, backward).standard_normal(np.shape(ref_out))
    expected = tupled(layer.ref_backward(dout.copy(), ref_cache))
    _, cache = call_pair(S, layer.forward, inputs, kw)
    got = S.fn(backward)(dout.copy(), cache)
    if got is None:
        raise Fail(f"{backward} returned None: is the `return` missing? ({ctx})")
    got = tupled(got)
    if len(got) < len(expected):
        raise Fail(
            f"{backward} returned {len(got)} value(s), expected {len(expected)}: the gradients "
            f"with respect to {', '.join(names[:len(expected)])}, in that order"
        )
    alts: dict[str, Any] = safe_bugs(layer.bugs, {k: v.copy() for k, v in inputs.items()}, dict(kw), dout.copy())
    first = inputs[names[0]]
    batch = first.shape[0] if first.ndim else None
    for i, name in enumerate(names[:len(expected)]):
        if layer.wrt is not None and name not in layer.wrt:
            continue
        compare_alternatives(
            got[i], expected[i], f"d{name} from {backward}", alts.get(name, {}), context=ctx, batch_size=batch
        )


def judge_layer_backward(
    S: Student, layer: Layer, case: Case, *, seed: int = 0, numeric_first: bool = True, tol: float = 1e-6,
    assignment: str,
) -> None:
    """One backward case under the cascade rule (:func:`course_grader.engine.judge_backward`).

    ``numeric_first``: the sub-check is "vs the numerical gradient of your forward" (else "vs the
    reference gradients"); the other comparison is the fallback used when the student's forward
    differs from the reference.
    """
    label, inputs, kw = case
    ctx = describe_case(label, inputs | kw)

    def numeric() -> None:
        check_pair(S, layer.forward, layer.backward, inputs, kwargs=kw, wrt=layer.wrt, seed=seed, context=ctx, tol=tol)

    def reference() -> None:
        backward_matches(S, layer, case, seed=seed)

    primary, fallback = (numeric, reference) if numeric_first else (reference, numeric)
    judge_backward(S, layer.forward, layer.ref_forward, inputs, kw, primary, fallback, assignment=assignment)


def expect_value_error(S: Student, fname: str, args: Sequence[Any], kw: Mapping[str, Any], call: str, why: str) -> None:
    """Fail unless the student's function raises ValueError (with a message) for a bad input."""
    try:
        got = S.fn(fname)(*args, **kw)
    except Fail as e:
        text = str(e)
        head = f"{fname} raised ValueError"
        if text.startswith(head) and getattr(e, "deliberate", True) is False:
            raise Fail(
                f"{call} raised a ValueError, but not one of yours: NumPy raised it while your code went on "
                f"with sizes that do not fit ({why}):\n  {text}\n  Check the sizes first and `raise ValueError(...)` "
                "with a message saying what does not fit"
            ) from None
        if text.startswith(head):
            if not text[len(head):].lstrip(":").strip():
                raise Fail(
                    f"{call} raised a ValueError without a message: say what does not fit, with the numbers ({why})"
                ) from None
            return
        raise Fail(f"{call} should raise ValueError ({why}), but:\n  {text}") from None
    raise Fail(
        f"{call} returned {got!r}, but {why}: raise ValueError with a message saying so "
        "(a wrong size here only fails later, far from the cause)"
    )

