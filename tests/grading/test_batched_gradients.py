"""A numerical gradient of a student's function is computed in the sandbox in one round trip.

The checks ask :meth:`course_grader.engine.Student.numerical_gradient`; the sandbox child runs the
central differences of ``course_lib.finite_differences`` next to the student's function. The
score and the report must be exactly what the call-by-call path (one round trip per perturbed
entry, what the grader did before) gives: every bug and correct alternative of the repository's
bug libraries, and submissions that do unusual things only while the gradient is taken, are
graded both ways and compared. A plain child (``isolation="none"``) speaks the same protocol as
the one inside bubblewrap and keeps these tests light.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from course_grader import engine, grading, sandbox

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import synthetic_class  # noqa: E402

COURSE = HERE.parents[1] / "exercises"
#: the assignments whose checks take numerical gradients of the student's functions
NUMERIC = ("ch01_neuron", "ch02_loss", "ch04_conv", "ch05_pooling", "ch06_backprop", "ch07_batchnorm",
           "ch08_dropout", "ch09_architectures")


def _cells(assignment: str, source: bytes) -> list[tuple[int, str]]:
    data, warns = sandbox.parse_notebook(source, f"{assignment}.ipynb")
    return sandbox.code_cells(data, assignment, warns)[0]


def _grade(assignment: str, nb: bytes, grade_cells: list[sandbox.GradeCell], batched: bool,
           monkeypatch: pytest.MonkeyPatch, counts: dict[str, int] | None = None) -> sandbox.SubmissionResult:
    src = COURSE / "source" / assignment / f"{assignment}.ipynb"
    with monkeypatch.context() as m:
        if not batched:
            m.setattr(sandbox._Proxy, "numerical_gradient", lambda self, *a, **k: None)
        if counts is not None:
            send = sandbox._Session._send

            def counting(self: Any, msg: Any) -> None:
                key = str(msg.get("cmd", "start")) if isinstance(msg, dict) else "other"
                counts[key] = counts.get(key, 0) + 1
                send(self, msg)

            m.setattr(sandbox._Session, "_send", counting)
        options = sandbox.GradingOptions(allowed=frozenset(sandbox.allowed_imports(src)), isolation="none")
        return sandbox.grade_code_cells(_cells(assignment, nb), grade_cells, options)


def _variant(assignment: str, sources: dict[str, str]) -> bytes:
    """The solution notebook with ``sources`` replacing those functions (as a student's edit)."""
    return synthetic_class.make_submission(assignment, "buggy", random.Random(0), [("bug", sources)])


def _relevant(assignment: str, fnames: set[str]) -> list[sandbox.GradeCell]:
    cells = sandbox.grade_cells_from_notebook(COURSE / "source" / assignment / f"{assignment}.ipynb")
    return [c for c in cells if fnames & set(grading.TASKS[c.task_id].functions)]


def _same(a: sandbox.SubmissionResult, b: sandbox.SubmissionResult) -> None:
    assert [(c.grade_id, c.score, c.statuses) for c in a.cells] == [(c.grade_id, c.score, c.statuses) for c in b.cells]
    assert a.report() == b.report()


@pytest.mark.parametrize("assignment", NUMERIC)
def test_complete_submission_takes_each_numerical_gradient_in_one_round_trip(assignment, monkeypatch):
    nb = (COURSE / "source" / assignment / f"{assignment}.ipynb").read_bytes()
    cells = sandbox.grade_cells_from_notebook(COURSE / "source" / assignment / f"{assignment}.ipynb")
    fast_counts: dict[str, int] = {}
    slow_counts: dict[str, int] = {}
    fast = _grade(assignment, nb, cells, True, monkeypatch, fast_counts)
    slow = _grade(assignment, nb, cells, False, monkeypatch, slow_counts)
    _same(fast, slow)
    assert fast.score == fast.max_score > 0, fast.report()
    assert fast_counts.get("numgrad", 0) > 0, fast_counts
    # each numerical gradient replaced at least 2 calls (one per side of one entry) by one message
    assert sum(fast_counts.values()) < sum(slow_counts.values()) - fast_counts["numgrad"], (fast_counts, slow_counts)


@pytest.mark.parametrize("assignment", NUMERIC)
def test_every_bug_of_the_libraries_scores_and_reads_the_same_both_ways(assignment, monkeypatch):
    library = synthetic_class.bug_library(assignment)
    assert library
    for _kind, sources in library:
        nb = _variant(assignment, sources)
        cells = _relevant(assignment, set(sources))
        _same(_grade(assignment, nb, cells, True, monkeypatch), _grade(assignment, nb, cells, False, monkeypatch))


# Forward passes that misbehave only while the numerical gradient is taken (the first calls, made
# one at a time by the checks, are ordinary): each must get the call-by-call verdict.
_ODD_FORWARDS = {
    "changes its input on the 5th call": """
_calls = [0]
def max_pool_forward(x, *, pool_size=2, stride=None):
    _calls[0] += 1
    if _calls[0] == 5:
        x[...] = 0.0
    return _mpf(x, pool_size=pool_size, stride=stride)
""",
    "raises on the 7th call": """
_calls = [0]
def max_pool_forward(x, *, pool_size=2, stride=None):
    _calls[0] += 1
    if _calls[0] == 7:
        raise ValueError("an odd failure")
    return _mpf(x, pool_size=pool_size, stride=stride)
""",
    "returns a list on later calls": """
_calls = [0]
def max_pool_forward(x, *, pool_size=2, stride=None):
    _calls[0] += 1
    out, cache = _mpf(x, pool_size=pool_size, stride=stride)
    return (out.tolist() if _calls[0] > 3 else out), cache
""",
    "prints on every call": """
def max_pool_forward(x, *, pool_size=2, stride=None):
    print("called with", x.shape, float(x.sum()))
    return _mpf(x, pool_size=pool_size, stride=stride)
""",
    "returns inf on later calls": """
_calls = [0]
def max_pool_forward(x, *, pool_size=2, stride=None):
    _calls[0] += 1
    out, cache = _mpf(x, pool_size=pool_size, stride=stride)
    if _calls[0] > 3:
        out = out.copy()
        out.flat[0] = float("inf")
    return out, cache
""",
    "returns float32 on later calls": """
_calls = [0]
def max_pool_forward(x, *, pool_size=2, stride=None):
    _calls[0] += 1
    out, cache = _mpf(x, pool_size=pool_size, stride=stride)
    return (out.astype("float32") if _calls[0] > 3 else out), cache
""",
}


@pytest.mark.parametrize("what", list(_ODD_FORWARDS))
def test_a_forward_misbehaving_during_the_gradient_gets_the_call_by_call_verdict(what, monkeypatch):
    a = "ch05_pooling"
    src = json.loads((COURSE / "source" / a / f"{a}.ipynb").read_text(encoding="utf-8"))
    # the student's own max_pool_forward, renamed, wrapped by the odd one (appended to its cell)
    for cell in src["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "def max_pool_forward(" in text:
            cell["source"] = text + "\n\n_mpf = max_pool_forward\n" + _ODD_FORWARDS[what]
            break
    nb = json.dumps(src).encode()
    cells = _relevant(a, {"max_pool_backward"})
    fast_counts: dict[str, int] = {}
    fast = _grade(a, nb, cells, True, monkeypatch, fast_counts)
    _same(fast, _grade(a, nb, cells, False, monkeypatch))
    assert fast_counts.get("numgrad", 0) > 0


class _Liar(engine.RemoteFunction):
    """A stand-in for the sandbox's proxy returning a given "gradient"."""

    def __init__(self, value: Any):
        self.value = value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return np.asarray(args[0]).sum(), None

    def numerical_gradient(self, *args: Any) -> Any:
        return self.value


@pytest.mark.parametrize("value", [
    None, "not an array", np.zeros((3, 4)), np.zeros((2, 3), dtype=np.float32), np.full((2, 3), np.nan),
    np.array([[1.0, np.inf, 0], [0, 0, 0]]), np.zeros((2, 3), dtype=object), [[0.0] * 3] * 2,
], ids=["none", "str", "shape", "float32", "nan", "inf", "object", "list"])
def test_what_comes_back_from_the_sandbox_is_validated(value):
    x = np.ones((2, 3))
    S = engine.Student({"f": _Liar(value)})
    assert S.numerical_gradient("f", [x], at=[0]) is None


def test_a_valid_batched_gradient_is_used_and_plain_functions_are_left_to_the_caller():
    x = np.ones((2, 3))
    g = np.arange(6.0).reshape(2, 3)
    assert S_grad(engine.Student({"f": _Liar(g)}), x) is g
    # a function of this process (a notebook's own kernel): the caller loops with course_lib.gradcheck
    assert S_grad(engine.Student({"f": lambda v: (v.sum(), None)}), x) is None
    # the perturbed argument must be a float64 array where `at` says
    assert engine.Student({"f": _Liar(g)}).numerical_gradient("f", [x.astype(np.float32)], at=[0]) is None
    assert engine.Student({"f": _Liar(g)}).numerical_gradient("f", [x], at=[1]) is None
    assert engine.Student({"f": _Liar(g)}).numerical_gradient("f", [{"w": x}], at=[0, "w"]) is g


def S_grad(S: engine.Student, x: np.ndarray) -> Any:
    return S.numerical_gradient("f", [x], at=[0])
