"""Helpers shared by the task definitions of chapters 4-6 (forward/backward with named mistakes).

They only call the student's functions through :class:`course_lib.grading.Student`, so they work
the same in-process, in a forked child and in the sandbox of :mod:`course_lib.sandbox`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from course_lib.grading import (
    Fail,
    Student,
    _rng,
    compare_alternatives,
    describe_case,
)

Case = tuple[str, dict[str, np.ndarray], dict[str, Any]]
Bugs = Callable[..., Mapping[str, Any]]

__all__ = ["Case", "backward_matches", "call_pair", "expect_value_error", "forward_matches", "safe_bugs", "tupled"]


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


def backward_matches(
    S: Student,
    forward: str,
    backward: str,
    ref_forward: Callable[..., Any],
    ref_backward: Callable[..., Any],
    case: Case,
    *,
    grads: Sequence[str] | None = None,
    bugs: Bugs | None = None,
    seed: int = 0,
) -> None:
    """The student's gradients vs the reference's for the same random upstream gradient.

    Unlike :func:`course_lib.grading.check_against_reference` the forward *output* is not judged
    here (its own task does that): a wrong forward must not cost the backward's points twice.
    ``bugs(inputs, kw, dout)`` maps each gradient's name to ``{mistake: its result}``.
    """
    label, inputs, kw = case
    names = list(inputs)
    ctx = describe_case(label, inputs | kw) + "; random upstream gradient dout"
    ref_out, ref_cache = ref_forward(*(v.copy() for v in inputs.values()), **kw)
    dout = _rng("dout", seed, backward).standard_normal(np.shape(ref_out))
    expected = tupled(ref_backward(dout.copy(), ref_cache))
    _, cache = call_pair(S, forward, inputs, kw)
    got = S.fn(backward)(dout.copy(), cache)
    if got is None:
        raise Fail(f"{backward} returned None: is the `return` missing? ({ctx})")
    got = tupled(got)
    if len(got) < len(expected):
        raise Fail(
            f"{backward} returned {len(got)} value(s), expected {len(expected)}: the gradients "
            f"with respect to {', '.join(names[:len(expected)])}, in that order"
        )
    alts: dict[str, Any] = safe_bugs(bugs, {k: v.copy() for k, v in inputs.items()}, dict(kw), dout.copy())
    first = inputs[names[0]]
    batch = first.shape[0] if first.ndim else None
    for i, name in enumerate(names[:len(expected)]):
        if grads is not None and name not in grads:
            continue
        compare_alternatives(
            got[i], expected[i], f"d{name} from {backward}", alts.get(name, {}), context=ctx, batch_size=batch
        )


def expect_value_error(S: Student, fname: str, args: Sequence[Any], kw: Mapping[str, Any], call: str, why: str) -> None:
    """Fail unless the student's function raises ValueError (with a message) for a bad input."""
    try:
        got = S.fn(fname)(*args, **kw)
    except Fail as e:
        text = str(e)
        head = f"{fname} raised ValueError"
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

