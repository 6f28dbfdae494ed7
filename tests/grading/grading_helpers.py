"""Shared helpers of the grader's tests: the solution notebook's namespace, a grading shortcut and the checks every chapter's bug tests make."""

from __future__ import annotations
import __future__

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from course_grader import grading

COURSE = Path(__file__).resolve().parents[2] / "exercises"


def notebook_namespace(assignment: str) -> dict[str, Any]:
    """Run the code cells of the source (solution) notebook, except the test cells, in a fresh dict.

    Like a notebook kernel, every function shares one global namespace, so replacing a helper
    (``ns["sigmoid"] = buggy``) changes what the other functions call, as in a student's notebook.
    """
    nb = json.loads((COURSE / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    ns: dict[str, Any] = {"__name__": "__main__"}
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or meta.get("grade"):
            continue
        code = compile("".join(cell["source"]), f"<{assignment} cell {i}>", "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)
        exec(code, ns)
    return ns


def grade_both(task_id: str, ns: dict[str, Any], **kw: Any) -> tuple[float, float, str]:
    """(earned, possible, all messages) over the visible and the hidden part of a task."""
    vis = grading.run_task(task_id, ns, **kw)
    hid = grading.run_task(task_id, ns, hidden=True, **kw)
    return vis.earned + hid.earned, vis.points + hid.points, f"{vis}\n{hid}"


def student_namespace(task_id: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """A fresh namespace of the task's solution notebook with some functions replaced, as a student would."""
    ns = notebook_namespace(task_id.split(".")[0])
    ns.update(overrides)
    return ns


def assert_loses_points(task_id: str, ns: dict[str, Any], phrase: str, **kw: Any) -> None:
    """A buggy version earns less than full marks and the report names the bug with ``phrase``."""
    earned, possible, report = grade_both(task_id, ns, **kw)
    assert earned < possible, report
    assert phrase in report, report


def assert_full_marks(task_id: str, ns: dict[str, Any], **kw: Any) -> None:
    earned, possible, report = grade_both(task_id, ns, **kw)
    assert earned == possible, report


def assert_reference_full_and_stub_zero(
    task_id: str, student: Callable[[str, dict[str, Any]], dict[str, Any]], **kw: Any
) -> None:
    """The reference solution earns every point (> 0); the template's stubs earn none and say so."""
    earned, possible, report = grade_both(task_id, student(task_id, {}), **kw)
    assert earned == possible > 0, report

    def stub(*args: Any, **kwargs: Any) -> None:
        raise NotImplementedError()

    stubs = {f: stub for f in grading.TASKS[task_id].functions}
    earned, possible, report = grade_both(task_id, student(task_id, stubs), **kw)
    assert earned == 0, report
    assert "not implemented yet" in report
