"""Shared helpers of the grader's tests: the solution notebook's namespace and a grading shortcut."""

from __future__ import annotations
import __future__

import json
from pathlib import Path
from typing import Any

from course_lib import grading

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
