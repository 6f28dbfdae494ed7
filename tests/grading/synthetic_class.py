"""A class of generated, honest submissions for one assignment (tests and benchmarks/grading_speed.py).

Each submission is the instructor's source notebook edited as a student would: **complete** (the
model solution), **buggy** (one or two functions replaced by a bug from the repository's bug
libraries, ``BUGS`` in tests/grading/test_bugs_*.py, or a correct alternative from
``ALTERNATIVES``), **partial** (some solution cells left as the template's stub, perhaps with a
bug elsewhere) and **stub** (nothing done). Hidden tests are removed as in a release notebook.
A bug's source replaces the function where the notebook defines it (appended to that cell, so it
is what the notebook's later cells call), renamed to the function it stands for.
"""

from __future__ import annotations

import importlib
import inspect
import json
import random
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
COURSE = HERE.parents[1] / "exercises"
BUG_MODULES = ("test_bugs_ch01_ch03", "test_bugs_ch04_ch06", "test_bugs_ch07_ch09")
KINDS = ("complete", "buggy", "buggy", "buggy", "partial", "partial", "stub")

_BEGIN, _END = "### BEGIN SOLUTION", "### END SOLUTION"
_HIDDEN = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)


def bug_library(assignment: str) -> list[tuple[str, dict[str, str]]]:
    """``[(kind, {function name: replacement source})]`` for ``assignment`` from the bug libraries:
    kind ``bug`` (loses points) or ``alternative`` (a correct variant)."""
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    out: list[tuple[str, dict[str, str]]] = []
    for name in BUG_MODULES:
        mod = importlib.import_module(name)
        for kind, entries in (("bug", getattr(mod, "BUGS", [])), ("alternative", getattr(mod, "ALTERNATIVES", []))):
            for entry in entries:
                task, overrides = entry[0], entry[1]
                if task.split(".")[0] != assignment:
                    continue
                sources = {fname: _renamed_source(fn, fname) for fname, fn in overrides.items()}
                if all(sources.values()):
                    out.append((kind, sources))  # type: ignore[arg-type]
    return out


def _renamed_source(fn: Callable[..., Any], name: str) -> str | None:
    if not inspect.isfunction(fn) or fn.__name__ == "<lambda>":
        return None
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        return None
    return re.sub(rf"^def {re.escape(fn.__name__)}\(", f"def {name}(", src, count=1, flags=re.M)


def _stub(source: str) -> str:
    """The template's stub: every solution region becomes ``raise NotImplementedError()``."""
    lines, out, inside = source.splitlines(keepends=True), [], False
    for line in lines:
        if _BEGIN in line:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError()\n")
        elif _END in line:
            inside = False
        elif not inside:
            out.append(line)
    return "".join(out)


def _text(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def make_submission(assignment: str, kind: str, rng: random.Random,
                    library: list[tuple[str, dict[str, str]]] | None = None) -> bytes:
    """One submission of ``kind`` (complete / buggy / partial / stub) as notebook bytes."""
    nb = json.loads((COURSE / "source" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    library = bug_library(assignment) if library is None else library
    solution_cells = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    code_solutions = [c for c in solution_cells if c["cell_type"] == "code"]
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["source"] = _HIDDEN.sub("", _text(cell))
            cell["outputs"], cell["execution_count"] = [], None
    stubbed: list[dict[str, Any]] = []
    if kind == "stub":
        stubbed = solution_cells
    elif kind == "partial":
        k = rng.randint(1, max(1, len(code_solutions) - 1))
        stubbed = rng.sample(code_solutions, k)
    for cell in stubbed:
        cell["source"] = _stub(_text(cell)) if cell["cell_type"] == "code" else "YOUR ANSWER HERE"
    replacements: list[dict[str, str]] = []
    if kind == "buggy" and library:
        replacements = [s for _, s in rng.sample(library, min(len(library), rng.choice((1, 1, 2))))]
    elif kind == "partial" and library and rng.random() < 0.5:
        replacements = [rng.choice(library)[1]]
    for sources in replacements:
        for fname, src in sources.items():
            for cell in code_solutions:
                if cell in stubbed or not re.search(rf"^def {re.escape(fname)}\(", _text(cell), re.M):
                    continue
                cell["source"] = _text(cell).rstrip("\n") + "\n\n\n# my version\n" + src
                break
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def make_class(assignment: str, n: int, seed: int = 0) -> list[tuple[str, str, bytes]]:
    """``n`` submissions ``(student id, kind, notebook bytes)``, the kinds in a fixed mix."""
    rng = random.Random(f"{assignment}:{seed}")
    library = bug_library(assignment)
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        out.append((f"s{i:04d}", kind, make_submission(assignment, kind, rng, library)))
    return out


def write_class(course: Path, assignment: str, n: int, seed: int = 0) -> dict[str, str]:
    """Write ``make_class`` into ``course/submitted/<student>/<assignment>/``; student -> kind."""
    kinds = {}
    for student, kind, data in make_class(assignment, n, seed):
        dest = course / "submitted" / student / assignment / f"{assignment}.ipynb"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        kinds[student] = kind
    return kinds
