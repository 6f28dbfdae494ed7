"""Trusted grading of untrusted notebooks: the score of record never depends on the student's code.

In a notebook kernel the student's code could rewrite anything a test cell uses (``np.allclose``,
``grading`` itself, IPython's display hook) and print any score it likes. So no kernel is used:

- the **grader** (this process) never executes a line of the student's code. It reads the
  notebook as JSON, keeps only the source of the code cells (outputs and metadata are ignored:
  a notebook saved with someone else's outputs scores by its code), and runs the sub-checks of
  :data:`course_grader.grading.TASKS` itself, with the reference functions it imported at start;
- the student's code runs in a **child process** (``python -I course_grader/sandbox_child.py``)
  inside bubblewrap (:mod:`course_grader.bwrap`: only the Python environment visible, read-only;
  a private ``/tmp``; no network; an unprivileged uid with a process limit), without ``course_lib``
  or ``course_grader`` on its path: ``from course_grader import grading``
  gets an inert stub, ``course_lib.validate`` (input checks, no graded answer) is sent by the
  parent, any other import of either package (the reference, the grader) raises ``ImportError``. The child
  has resource limits (address space, CPU time, file size), runs in an empty temporary folder, and
  an audit hook refuses subprocesses, network, reading course files, writing outside that folder
  and looking into the call stack. Each sub-check calls the student's functions in a fresh fork
  of that child (state cannot leak from one check to the next) through a pipe carrying plain data
  only (arrays are sent with ``np.save(allow_pickle=False)``, never pickled). A check's
  :attr:`~course_grader.engine.Check.given` functions (an earlier task's answer, as reference
  source) are defined in that fork only, where the student's other functions read them;
- time limits are enforced from here: per cell while the notebook's code runs (a cell that runs
  too long is skipped, the rest still run), per sub-check, and per notebook. A limit costs the
  sub-checks it stopped, never the points earned before. The limits count the **CPU time** of
  the sandboxed processes, read from ``/proc`` (a busy machine slows honest code down without
  costing it points); wall-clock time is only a backstop, ten times each limit (:class:`Limits`);
- a numerical gradient of a student's function is one request: the child runs the central
  differences next to the function (``course_lib.finite_differences``, the loop of
  ``course_lib.gradcheck``) and returns the gradient, which is checked here; anything unusual
  and the check makes the calls one at a time, as it always did
  (:meth:`course_grader.engine.Student.numerical_gradient`);
- the student's source is also scanned for **tampering** with the grading machinery (assignments
  to attributes of ``numpy``, ``builtins``, ``sys.modules``, ``course_lib``; rebinding
  ``grading``; importing the reference; frame/``gc``/``ctypes`` tricks). Such a task scores 0
  with a message naming the line, even when the (unfooled) checks would have passed.

The entry points are :func:`grade_code_cells` (already-read cells and the trusted list of grade
cells; what :func:`course_grader.submission.grade_bytes` uses), :func:`grade_notebook` (a file) and
:func:`grade_cells_from_notebook` (the list, from the instructor's source notebook). See
``exercises/SECURITY.md`` for the threat model and what is not defended.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import course_lib.validate  # noqa: F401  (its cache types cross the pipe by value)
from course_grader import engine, grading
from course_grader import sandbox_child as wire

wire.trust_cache_types()

__all__ = [
    "Finding",
    "GradeCell",
    "GradedCell",
    "GradingOptions",
    "Limits",
    "NotebookProblem",
    "SubmissionResult",
    "grade_cells_from_notebook",
    "grade_notebook",
    "load_code_cells",
    "report_sections",
    "scan_tampering",
    "truncate_outputs",
]

_CHILD = Path(wire.__file__).resolve()
_PACKAGE_DIR = Path(grading.__file__).resolve().parent


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's grading (seconds, megabytes, characters).

    The time limits are **CPU seconds** of the sandboxed processes (the child and every process
    under it, as the kernel accounts them; read by the trusted parent from ``/proc``): per cell
    while the notebook loads, per sub-check, and per notebook. A loaded machine stretches the
    wall-clock time of honest code, never its CPU time, so it cannot cost points. Wall-clock
    time is only a backstop, ``wall_factor`` times each limit, for code that sleeps or waits
    instead of computing. Where ``/proc`` cannot be read the limits apply to wall-clock time.
    """

    memory_mb: int = int(os.environ.get("COURSE_GRADING_MEMORY_MB", "2048"))
    cell_seconds: float = 30.0
    check_seconds: float = 20.0
    notebook_seconds: float = 300.0
    wall_factor: float = 10.0
    start_seconds: float = 60.0  # the child's start-up (Python, NumPy) before the first cell
    output_chars: int = 4000
    notebook_bytes: int = 20 * 2**20
    message_bytes: int = 64 * 2**20
    file_bytes: int = 16 * 2**20
    max_restarts: int = 4
    processes: int = 32  # RLIMIT_NPROC of the unprivileged user running the code (bubblewrap only)
    tmp_bytes: int = 64 * 2**20  # the private /tmp inside bubblewrap


@dataclass(frozen=True)
class GradingOptions:
    """How a submission is graded, apart from its code and the trusted grade cells.

    Attributes:
        limits: time, memory and output limits.
        protected: folders the student's code may not open (None: :func:`default_protected`).
        allowed: the ``course_lib`` imports the submission may use (:func:`allowed_imports` of
            the trusted source notebook); none but ``grading`` and ``validate`` by default.
        progress: called with "<grade id>: <check>" before each sub-check.
        isolation: ``"bwrap"`` (the student's code runs inside bubblewrap, see
            :mod:`course_grader.bwrap`) or ``"none"`` (a plain child process: trusted classes).
    """

    limits: Limits = Limits()
    protected: Sequence[str] | None = None
    allowed: frozenset[tuple[str, str]] = frozenset()
    progress: Callable[[str], None] | None = None
    isolation: str = "bwrap"


@dataclass(frozen=True)
class GradeCell:
    """A trusted grade cell: its id, the task and part it runs, and its points (from the gradebook)."""

    grade_id: str
    task_id: str
    hidden: bool
    max_score: float


@dataclass
class Finding:
    """A line of the student's code that tampers with the grader."""

    cell: int
    line: int
    code: str
    why: str
    tasks: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"cell {self.cell}, line {self.line}: `{self.code}` — {self.why}"


@dataclass
class GradedCell:
    """The trusted score of one grade cell and the report the student reads."""

    grade_id: str
    task_id: str
    hidden: bool
    score: float
    max_score: float
    report: str
    statuses: list[str] = field(default_factory=list)


@dataclass
class SubmissionResult:
    """Everything the trusted grading found about one notebook's code."""

    status: str  # graded | unreadable | missing
    problems: list[str] = field(default_factory=list)
    cells: list[GradedCell] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    cell_errors: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.cells), 4)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.cells), 4)

    def by_grade_id(self) -> dict[str, GradedCell]:
        return {c.grade_id: c for c in self.cells}

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"], d["max_score"] = self.score, self.max_score
        d["cell_errors"] = {str(k): v for k, v in self.cell_errors.items()}
        return d

    def report(self) -> str:
        """The whole report, as the student's feedback shows it."""
        lines = [f"Automatic grade: {self.score:g} / {self.max_score:g} points"]
        lines += report_sections(self.problems, [f"{f} [{', '.join(f.tasks)}]" for f in self.findings],
                                 self.cell_errors, [c.report for c in self.cells])
        return "\n".join(lines)


def report_sections(problems: Sequence[str], findings: Sequence[str], cell_errors: Mapping[Any, str],
                    cell_reports: Sequence[str]) -> list[str]:
    """The body of a grading report: problems, tampering findings, cells that stopped, then each
    grade cell's report (blank lines between sections)."""
    lines: list[str] = []
    if problems:
        lines += ["", *(f"! {p}" for p in problems)]
    if findings:
        lines += ["", "Code that tampers with the grader (the tasks named score 0):", *(f"  {f}" for f in findings)]
    if cell_errors:
        lines += ["", "Cells that stopped with an error while your code was loaded:",
                  *(f"  cell {k}: {v}" for k, v in sorted(cell_errors.items(), key=lambda kv: int(kv[0])))]
    for r in cell_reports:
        if r:
            lines += ["", r]
    return lines


class NotebookProblem(Exception):
    """The file cannot be graded at all; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------
# Reading a submission: never trust its metadata, never execute it here
# ---------------------------------------------------------------------------------------------

def load_code_cells(path: Path | str, limits: Limits = Limits()) -> tuple[list[tuple[int, str]], list[str]]:
    """The code cells of a notebook file as ``[(cell number, python source)]``, and warnings.

    Only the cells' source is used: outputs, execution counts and nbgrader metadata of the
    submission are ignored. IPython syntax (``%magic``, ``!shell``) is turned into calls that fail
    harmlessly in the sandbox.

    Raises:
        NotebookProblem: missing, too large, not UTF-8, not JSON, not a notebook, or an
            unsupported nbformat; the message says which and where.
    """
    path = Path(path)
    if not path.is_file():
        raise NotebookProblem(f"no notebook at {path.name}")
    with path.open("rb") as fh:  # a huge file is refused without reading all of it
        raw = fh.read(limits.notebook_bytes + 1)
    data, warnings_ = parse_notebook(raw, path.name, limits)
    return code_cells(data, path.name, warnings_)


def parse_notebook(raw: bytes, name: str, limits: Limits = Limits()) -> tuple[dict[str, Any], list[str]]:
    """A submitted notebook's bytes -> its JSON (nbformat 4) and warnings; never executes anything.

    Raises:
        NotebookProblem: too large, empty, not UTF-8, not JSON, not a notebook, or an unsupported
            nbformat; the message names ``name`` and says which.
    """
    size = len(raw)
    if size > limits.notebook_bytes:
        raise NotebookProblem(
            f"{name} is {size / 2**20:.0f} MB or more, more than the {limits.notebook_bytes / 2**20:.0f} MB a "
            "submission may have: clear the outputs (Kernel → Restart & Clear Output) and save again"
        )
    if size == 0:
        raise NotebookProblem(f"{name} is an empty file (0 bytes): the notebook was not saved")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise NotebookProblem(
            f"{name} is not UTF-8 text (byte {e.start}: {raw[e.start:e.start + 4]!r}): it is damaged "
            "or not a notebook; save it again from Jupyter"
        ) from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        where = f"line {e.lineno}, column {e.colno}: {e.msg}" if isinstance(e, json.JSONDecodeError) else "nested too deeply"
        raise NotebookProblem(
            f"{name} is not valid JSON ({where}): the file is "
            "damaged, perhaps edited by hand or saved half-way; save it again from Jupyter"
        ) from None
    if not isinstance(data, dict):
        raise NotebookProblem(f"{name} is JSON but not a notebook (the top level is a {type(data).__name__})")
    major = data.get("nbformat")
    warnings_: list[str] = []
    if major == 3 or ("worksheets" in data and "cells" not in data):
        try:
            import nbformat

            data = json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
            warnings_.append(f"{name} is in the old nbformat 3; it was converted to nbformat 4 for grading")
        except Exception as e:
            raise NotebookProblem(f"{name} is an nbformat 3 notebook that could not be converted: {e}") from None
    elif major != 4:
        raise NotebookProblem(
            f"{name} has nbformat {major!r}; only nbformat 4 (what Jupyter saves) is supported"
        )
    if not isinstance(data.get("cells"), list):
        raise NotebookProblem(f"{name} has no list of cells: it is not a Jupyter notebook")
    return data, warnings_


def code_cells(data: Mapping[str, Any], name: str, warnings_: list[str] | None = None) -> tuple[list[tuple[int, str]], list[str]]:
    """``[(cell number, python source)]`` of a parsed notebook (:func:`parse_notebook`), and warnings."""
    warnings_ = list(warnings_ or [])
    out: list[tuple[int, str]] = []
    for i, cell in enumerate(data.get("cells") or []):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        if isinstance(src, list) and all(isinstance(s, str) for s in src):
            src = "".join(src)
        if not isinstance(src, str):
            warnings_.append(f"cell {i} has a source that is not text; it was skipped")
            continue
        out.append((i, _python_source(src)))
    if not out:
        warnings_.append(f"{name} has no code cells: nothing to grade")
    return out, warnings_


def _python_source(src: str) -> str:
    """Cell source -> plain Python (IPython magics become get_ipython() calls that fail harmlessly)."""
    try:
        compile(src, "<cell>", "exec", flags=__import__("__future__").annotations.compiler_flag, dont_inherit=True)
        return src
    except SyntaxError:
        pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(src)
    except Exception:
        return src


# ---------------------------------------------------------------------------------------------
# Static scan for tampering
# ---------------------------------------------------------------------------------------------

_PROTECTED_MODULES = ("numpy", "builtins", "course_lib", "course_grader", "sys", "gc", "importlib", "inspect", "ctypes", "IPython")
_ALWAYS = {"np": "numpy", "numpy": "numpy", "grading": "course_grader.grading", "__builtins__": "builtins",
           "builtins": "builtins", "sys": "sys"}
# What a submission may import of the two packages: the test cells' `grading` and the input checks.
_ALLOWED_MODULES = ("course_lib", "course_grader", "course_grader.grading", "course_lib.validate")
_ESCAPES = {
    ("sys", "_getframe"): "looks into the call stack",
    ("sys", "settrace"): "installs a tracer",
    ("sys", "setprofile"): "installs a profiler",
    ("sys", "addaudithook"): "installs an audit hook",
    ("inspect", "currentframe"): "looks into the call stack",
    ("inspect", "stack"): "looks into the call stack",
    ("gc", "get_objects"): "searches the interpreter's objects",
    ("gc", "get_referrers"): "searches the interpreter's objects",
    ("gc", "get_referents"): "searches the interpreter's objects",
}


def _root(node: ast.AST) -> tuple[str | None, str]:
    """The name at the root of ``a.b[c].d`` and the dotted text of the chain."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            parts.append("[…]")
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
            parts.append("()")
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return node.id, ".".join(reversed(parts)).replace(".[…]", "[…]").replace(".()", "()")
        else:
            return None, ""


def scan_tampering(
    cells: Sequence[tuple[int, str]],
    task_functions: Mapping[str, Sequence[str]],
    allowed: set[tuple[str, str]] = frozenset(),  # type: ignore[assignment]
) -> list[Finding]:
    """Lines that modify the grading machinery, each attributed to the tasks it affects.

    Flagged: assigning/deleting attributes or items of numpy, builtins, sys (``sys.modules``),
    course_lib or ``grading`` (also via setattr/delattr/vars/__dict__), rebinding the name
    ``grading``, importing ``course_lib`` beyond ``grading`` (the reference implementation),
    importing ctypes, frame/gc introspection, tracers and IPython event hooks. ``allowed``
    ``(module, name)`` imports (those of the trusted notebook, :func:`allowed_imports`) are fine.

    A finding inside a task's function or in a cell defining a task's function counts against
    that task; elsewhere (a cell of its own) against every task.
    """
    owner = {fn: task for task, fns in task_functions.items() for fn in fns}
    all_tasks = sorted(task_functions)
    aliases: dict[str, str] = dict(_ALWAYS)
    findings: list[Finding] = []

    parsed: list[tuple[int, str, ast.Module]] = []
    for index, src in cells:
        try:
            parsed.append((index, src, ast.parse(src)))
        except (SyntaxError, ValueError):
            continue
    for _, _, tree in parsed:  # aliases first: an import in a later cell counts too
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] in _PROTECTED_MODULES:
                        aliases[a.asname or a.name.split(".")[0]] = a.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in _PROTECTED_MODULES:
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    if node.module in ("course_lib", "course_grader") or full in ("numpy.testing", "numpy.random", "numpy.linalg") or node.module == "builtins":
                        aliases[a.asname or a.name] = full

    for index, src, tree in parsed:
        lines = src.splitlines()
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}
        cell_tasks = sorted({owner[f] for f in defined if f in owner})
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node

        def tasks_for(node: ast.AST, tree: ast.Module = tree, parents: dict = parents, cell_tasks: list = cell_tasks) -> list[str]:
            n: ast.AST | None = node
            while n is not None:
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name in owner and parents.get(n) is tree:
                    return [owner[n.name]]
                n = parents.get(n)
            return cell_tasks or all_tasks

        def flag(node: ast.AST, why: str, lines: list = lines, index: int = index, tasks_for: Callable = tasks_for) -> None:
            line = getattr(node, "lineno", 1)
            code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
            findings.append(Finding(index, line, code[:120], why, tasks_for(node)))

        for node in ast.walk(tree):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets = list(node.targets)
            elif isinstance(node, ast.AugAssign | ast.AnnAssign):
                targets = [node.target]
            elif isinstance(node, ast.Delete):
                targets = list(node.targets)
            flat: list[ast.AST] = []
            for t in targets:
                flat.extend(t.elts if isinstance(t, ast.Tuple | ast.List) else [t])
            for t in flat:
                if isinstance(t, ast.Attribute | ast.Subscript):
                    name, chain = _root(t)
                    if name in aliases:
                        flag(node, f"changes {chain} ({aliases[name]}), which the grader relies on")
                    elif name in ("globals", "locals", "vars") and isinstance(t, ast.Subscript):
                        key = t.slice.value if isinstance(t.slice, ast.Constant) else None
                        if key in aliases or key is None:
                            flag(node, "rebinds a name of the grader through globals()")
                elif isinstance(t, ast.Name) and t.id == "grading":
                    flag(node, "rebinds the name `grading` that the test cells call")
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == "grading":
                flag(node, "rebinds the name `grading` that the test cells call")
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for a in node.names:
                    if (a.asname or a.name) == "grading" and not (isinstance(node, ast.ImportFrom) and node.module == "course_grader" and a.name == "grading"):
                        flag(node, "rebinds the name `grading` that the test cells call")
                for m in mods:
                    top = m.split(".")[0]
                    if top in ("course_lib", "course_grader"):
                        if isinstance(node, ast.ImportFrom) and m in ("course_lib", "course_grader"):
                            names = [f"{m}.{a.name}" for a in node.names]
                        elif isinstance(node, ast.ImportFrom):
                            names = [f"{m}.{a.name}" for a in node.names if (m, a.name) not in allowed and m != "course_lib.validate"]
                        else:
                            names = [m]
                        bad = [n for n in names if n not in _ALLOWED_MODULES]
                        if bad:
                            bound = sorted({owner[a.asname or a.name] for a in node.names if (a.asname or a.name) in owner})
                            flag(node, f"imports {', '.join(bad)}: the reference implementation (not allowed in a submission)")
                            if bound and parents.get(node) is tree:  # a top-level import names its tasks
                                findings[-1].tasks = bound
                    elif top in ("ctypes", "_ctypes", "cffi"):
                        flag(node, f"imports {m}, which can rewrite the interpreter's memory")
            if isinstance(node, ast.Call):
                fname, chain = _root(node.func)
                if isinstance(node.func, ast.Name) and node.func.id in ("setattr", "delattr") and node.args:
                    name, _ = _root(node.args[0])
                    if name in aliases:
                        flag(node, f"{node.func.id} on {aliases[name]}, which the grader relies on")
                if isinstance(node.func, ast.Attribute) and fname in aliases:
                    mod = aliases[fname].split(".")[0]
                    why = _ESCAPES.get((mod, node.func.attr))
                    if why:
                        flag(node, why)
                if isinstance(node.func, ast.Attribute) and node.func.attr == "register" and "events" in chain:
                    flag(node, "registers an IPython event hook (code that runs around the test cells)")
                if isinstance(node.func, ast.Attribute | ast.Name):
                    called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                    if called in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                        target = str(node.args[0].value)
                        if target.split(".")[0] in ("course_lib", "course_grader") and target not in _ALLOWED_MODULES:
                            flag(node, f"imports {target}: the reference implementation (not allowed in a submission)")
    return findings


# ---------------------------------------------------------------------------------------------
# What a submission may import from course_lib: course_lib.validate, nothing else
# ---------------------------------------------------------------------------------------------

def allowed_imports(cells: Sequence[tuple[int, str]] | Path | str) -> set[tuple[str, str]]:
    """``(module, name)`` pairs the trusted (source) notebook imports from ``course_lib``.

    The release notebook's own cells and the instructor's solutions may use helpers such as
    ``course_lib._validate.check_array`` or ``course_lib.validate.check_dout``; a submission may
    import the same names and nothing else from ``course_lib``.
    """
    if isinstance(cells, Path | str):
        nb = json.loads(Path(cells).read_text(encoding="utf-8"))
        cells = [(i, "".join(c["source"])) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"]
    out: set[tuple[str, str]] = set()
    for _, src in cells:
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("course_lib."):
                out.update((node.module, a.name) for a in node.names)
    return out


def _private_sources() -> list[tuple[str, str]]:
    """``[(module name, source)]`` the child runs before the student's code and keeps to itself
    (not importable there): ``course_lib.finite_differences``, the loop of a numerical gradient,
    so that one is computed next to the student's function in one round trip."""
    from course_lib import finite_differences

    return [("course_lib.finite_differences", Path(finite_differences.__file__).read_text(encoding="utf-8"))]


def _helper_sources() -> list[tuple[str, str]]:
    """``[(module name, source)]`` of the modules the child may import: ``course_lib.validate``.

    It holds the input checks and cache types the notebooks' templates and model solutions use,
    and no graded answer; every other ``course_lib`` module stays out of the child's reach.
    """
    from course_lib import validate

    return [("course_lib.validate", Path(validate.__file__).read_text(encoding="utf-8"))]


# ---------------------------------------------------------------------------------------------
# The sandbox child and the calls into it
# ---------------------------------------------------------------------------------------------

class _ChildGone(BaseException):
    """The child died or broke the protocol (BaseException: must pass the checks' except clauses)."""


class _Timeout(BaseException):
    """A cell or a sub-check passed its limit: ``kind`` "cpu" (its CPU time) or "wall" (the
    backstop); ``cpu`` and ``wall`` are the seconds used (``cpu`` None when unknown)."""

    def __init__(self, kind: str = "wall", cpu: float | None = None, wall: float = 0.0):
        super().__init__(kind)
        self.kind, self.cpu, self.wall = kind, cpu, wall


class _Budget(BaseException):
    pass


_POLL_SECONDS = 0.5  # how often the CPU time of a busy child is read while waiting for it
_wall_clock = time.monotonic


def _process_tree(pid: int) -> list[tuple[int, list[bytes]]] | None:
    """``pid`` and every process under it, each with the fields of its ``/proc/PID/stat`` after
    the command name (parents before their children); None when ``/proc`` (or its list of a
    process's children, ``CONFIG_PROC_CHILDREN``) cannot be read for ``pid``."""
    tree: list[tuple[int, list[bytes]]] = []
    stack = [pid]
    while stack:
        p = stack.pop()
        try:  # the process's own line first, then its children: a child reaped between the two
            with open(f"/proc/{p}/stat", "rb") as fh:  # reads is missed, never counted twice
                fields = fh.read().rsplit(b")", 1)[1].split()
            tasks = os.listdir(f"/proc/{p}/task")
        except (OSError, IndexError):
            if p == pid:
                return None
            continue
        tree.append((p, fields))
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children", "rb") as fh:
                    stack.extend(int(c) for c in fh.read().split())
            except FileNotFoundError:
                if p == pid and t == str(pid) and not os.path.exists(f"/proc/{p}/task/{t}/children"):
                    return None  # a kernel without CONFIG_PROC_CHILDREN: the tree cannot be seen
            except (OSError, ValueError):
                pass
    return tree


def sandbox_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid`` and every process under it.

    Read from ``/proc``: the kernel's accounting, which code in the sandbox cannot change. Exited
    processes count once their parent has waited for them (their time is then in the parent's
    ``cutime``); one exiting between two reads may be missed by that one read, never counted twice.
    None when ``/proc`` (or its list of a process's children) cannot be read.
    """
    tree = _process_tree(pid)
    if tree is None:
        return None
    try:  # utime stime cutime cstime: stat fields 14-17
        ticks = sum(int(f) for _, fields in tree for f in fields[11:15])
    except ValueError:
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class _Deadline:
    """A limit on the sandbox's CPU time with a wall-clock backstop (see :class:`Limits`).

    ``cpu_start`` None: the CPU time cannot be read, and ``cpu_seconds`` limits wall time.
    """

    cpu_seconds: float
    wall_seconds: float
    cpu_start: float | None
    wall_start: float

    def over(self, cpu: float | None, now: float) -> str | None:
        """"cpu" or "wall" when the limit is passed at CPU reading ``cpu`` and time ``now``."""
        if self.cpu_start is None:
            return "wall" if now - self.wall_start > self.cpu_seconds else None
        if cpu is not None and cpu - self.cpu_start > self.cpu_seconds:
            return "cpu"
        return "wall" if now - self.wall_start > self.wall_seconds else None

    def wall_left(self, now: float) -> float:
        return self.wall_start + (self.wall_seconds if self.cpu_start is not None else self.cpu_seconds) - now

    def used(self, cpu: float | None, now: float) -> tuple[float | None, float]:
        """(CPU seconds, wall seconds) since the start."""
        return (None if cpu is None or self.cpu_start is None else cpu - self.cpu_start), now - self.wall_start


class _Session:
    """One sandbox child holding the student's namespace; restarted after anything abnormal."""

    def __init__(self, cells: Sequence[tuple[int, str]], limits: Limits, protected: Sequence[str],
                 helpers: Sequence[tuple[str, str]] = (), isolation: str = "bwrap",
                 cpu_reader: Callable[[int], float | None] | None = None, clock: Callable[[], float] | None = None):
        self.isolation = isolation
        self.cells = list(cells)
        self.helpers = list(helpers)
        self.limits = limits
        self.protected = [str(p) for p in protected]
        # how CPU and wall time are read (the module's functions unless a test says otherwise)
        self.cpu_reader = cpu_reader or sandbox_cpu_seconds
        self.clock = clock or _wall_clock
        self.spent = 0.0  # CPU seconds of the children killed so far (restarts)
        self.notebook = _Deadline(limits.notebook_seconds, limits.notebook_seconds * limits.wall_factor,
                                  0.0 if self.cpu_reader(os.getpid()) is not None else None, self.clock())
        self.step = self.notebook
        self.next_poll = 0.0
        self.skip: dict[int, str] = {}
        self.cell_errors: dict[int, str] = {}
        self.cell_violations: dict[int, list[str]] = {}
        self.names: dict[str, Any] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.tmp = tempfile.TemporaryDirectory(prefix="course-sandbox-")

    # -- process management ------------------------------------------------------------------
    def close(self) -> None:
        """End the child: end of input first (it exits, and its CPU time is accounted to this
        process), a kill after a second."""
        if self.proc is not None:
            with contextlib.suppress(OSError):
                os.close(self.wfd)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1.0)
        self._kill()
        self.tmp.cleanup()

    def _kill(self) -> None:
        """Kill the child and every process under it. Inside bubblewrap the child leads a session
        of its own (``--new-session``) and its parent-death signal was cleared when it switched
        to its uid, so killing bwrap's process group alone would leave it running (up to its
        RLIMIT_CPU); it is the PID namespace's init, and its death ends every process there."""
        if self.proc is not None:
            tree = _process_tree(self.proc.pid) or []
            self.spent += self._tree_cpu() or 0.0
            for pid, _ in reversed(tree[1:]):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self.proc.wait(timeout=5)
            for fd in (self.rfd, self.wfd, self.life_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.proc = None

    def _send(self, msg: Any) -> None:
        try:
            wire.write_frame(self.wfd, wire.encode(msg))
        except (BrokenPipeError, OSError):
            raise _ChildGone("the process running your code stopped") from None

    # -- time limits: CPU time of the sandbox, wall time as a backstop ---------------------------
    def _tree_cpu(self) -> float | None:
        return self.cpu_reader(self.proc.pid) if self.proc is not None else None

    def _limit(self, cpu_seconds: float) -> _Deadline:
        """A limit on what the sandbox does from now on (a cell, a sub-check)."""
        cpu = self._tree_cpu()
        self.next_poll = self.clock() + _POLL_SECONDS
        return _Deadline(cpu_seconds, cpu_seconds * self.limits.wall_factor,
                         cpu if self.notebook.cpu_start is not None else None, self.clock())

    def _enforce(self) -> None:
        """Raise :class:`_Timeout` (this cell or sub-check) or :class:`_Budget` (the notebook)
        when a limit is passed; one read of the sandbox's CPU time."""
        cpu, now = self._tree_cpu(), self.clock()
        kind = self.step.over(cpu, now)
        if kind is not None and self.step is not self.notebook:
            used, wall = self.step.used(cpu, now)
            raise _Timeout(kind, used, wall)
        if self.notebook.over(None if cpu is None else self.spent + cpu, now) is not None:
            raise _Budget()

    def _read_exact(self, n: int) -> bytes:
        parts, left = [], n
        while left:
            now = self.clock()
            wall_left = min(self.step.wall_left(now), self.notebook.wall_left(now))
            if now >= self.next_poll or wall_left <= 0:  # the CPU time is read every _POLL_SECONDS
                self._enforce()
                self.next_poll = now + _POLL_SECONDS
            ready, _, _ = select.select([self.rfd], [], [], max(0.0, min(self.next_poll - now, wall_left)))
            if not ready:
                continue
            chunk = os.read(self.rfd, min(left, 1 << 20))
            if not chunk:
                raise _ChildGone("the process running your code stopped")
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def _recv(self) -> dict[str, Any]:
        import struct

        (n,) = struct.unpack("<Q", self._read_exact(8))
        if n > self.limits.message_bytes:
            raise _ChildGone(f"your code returned more than {self.limits.message_bytes // 2**20} MB of data")
        try:
            msg = wire.decode(self._read_exact(n))
        except (wire.EncodeError, ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError) as e:
            raise _ChildGone(f"garbled data from the process running your code ({e})") from None
        if not isinstance(msg, dict):
            raise _ChildGone("garbled data from the process running your code")
        return msg

    def ensure(self) -> None:
        """A child with the student's code loaded (start, or restart after a kill)."""
        while self.proc is None:
            if self.restarts > self.limits.max_restarts:
                raise _ChildGone("your code stopped the grader too often; the remaining checks were not run")
            self.restarts += 1
            self._start()

    def _start(self) -> None:
        from course_grader import bwrap

        p2c_r, p2c_w = os.pipe()
        c2p_r, c2p_w = os.pipe()
        # the lifeline: only this process holds its write end, so the child sees its end of file
        # when this process is gone (killed, a Dask worker lost) and ends the sandbox then
        life_r, self.life_w = os.pipe()
        boxed = self.isolation == "bwrap"
        home = "/tmp" if boxed else self.tmp.name
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
               "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MPLCONFIGDIR": home, "MPLBACKEND": "Agg"}
        if boxed:
            uid = bwrap.drop_to()
            argv = [sys.executable, "-I", bwrap.CHILD_PATH, str(p2c_r), str(c2p_w), *([str(uid)] if uid is not None else [])]
            cmd = bwrap.command(argv, tmp_bytes=self.limits.tmp_bytes, child_script=str(_CHILD),
                                hidden=[*self.protected, str(Path.home())])
            cwd = "/"
        else:
            cmd = [sys.executable, "-I", str(_CHILD), str(p2c_r), str(c2p_w)]
            cwd = self.tmp.name
        self.proc = subprocess.Popen(
            cmd, pass_fds=(p2c_r, c2p_w, life_r), cwd=cwd, env=env, start_new_session=True,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(p2c_r)
        os.close(c2p_w)
        os.close(life_r)
        self.rfd, self.wfd = c2p_r, p2c_w
        cells = [(i, s) for i, s in self.cells if i not in self.skip]
        cpu = int(self.limits.notebook_seconds + 30)
        self._send({"cells": cells, "helpers": self.helpers, "private": _private_sources(),
                    "protected": self.protected, "sandbox": home,
                    "memory_mb": self.limits.memory_mb, "cpu_seconds": cpu, "processes": self.limits.processes if boxed else 0,
                    "file_bytes": self.limits.file_bytes, "output_chars": self.limits.output_chars,
                    "lifeline": life_r})
        current: int | None = None
        self.step = self._limit(self.limits.start_seconds)
        try:
            while True:
                msg = self._recv()
                ev = msg.get("ev")
                if ev == "cell":
                    current = int(msg["index"])
                    self.step = self._limit(self.limits.cell_seconds)
                elif ev == "cell_done":
                    err = msg.get("error")
                    if err:
                        self.cell_errors[int(msg["index"])] = _exc_text(err)
                    if msg.get("violations"):
                        self.cell_violations.setdefault(int(msg["index"]), []).extend(map(str, msg["violations"]))
                    current = None
                elif ev == "ready":
                    self.names = dict(msg.get("names") or {})
                    return
                else:
                    raise _ChildGone("unexpected message")
        except (_Timeout, _ChildGone) as e:
            self._kill()
            if current is None:
                raise _ChildGone(f"the grading process did not start: {e}") from None
            why = (_timeout_text(e, self.limits.cell_seconds, "an infinite loop, or very slow code?")
                   if isinstance(e, _Timeout) else f"ended the process running it ({e}: sys.exit/os._exit, or out of memory?)")
            self.skip[current] = why
            self.cell_errors[current] = f"{why}; the cell was skipped and the rest of the notebook loaded without it"
        except _Budget:
            self._kill()
            raise

    # -- one sub-check ------------------------------------------------------------------------
    def run_check(self, check: engine.Check, seconds: float) -> dict[str, Any]:
        """Run ``check`` against the student's functions; never raises for what the student did."""
        try:
            self.ensure()
        except _ChildGone as e:
            return {"status": "crash", "message": str(e), "output": ""}
        except _Budget:
            return _budget_outcome(self.limits)
        self.step = self._limit(seconds)
        output: list[str] = []
        violations: list[str] = []
        try:
            fork: dict[str, Any] = {"cmd": "fork"}
            if check.given:  # the reference functions the check gives the student's code, as source
                fork["given"] = {"source": engine.given_source(check.given), "names": engine.given_names(check.given)}
            self._send(fork)
            msg = self._recv()
            if msg.get("ev") != "forked":
                raise _ChildGone("unexpected message")
            ns = {name: self._proxy(name, info, output, violations) for name, info in self.names.items()}
            raw = _execute(check, ns)
            self._send({"cmd": "end"})
            bye = self._recv()
            output.append(str(bye.get("output", "")))
            violations.extend(map(str, bye.get("violations") or []))
            ended = self._recv()
            if ended.get("ev") != "ended":
                raise _ChildGone("unexpected message")
        except _Timeout as e:
            self._kill()
            return {"status": "timeout", "message": (
                _timeout_text(e, seconds, "an infinite loop, or a loop over far more elements than needed?")
                + " (the points of the checks before this one are kept)"), "output": "".join(output)[-2000:]}
        except _Budget:
            self._kill()
            return _budget_outcome(self.limits)
        except _ChildGone as e:
            self._kill()
            return {"status": "crash", "message": (
                f"the process running your code stopped: {e} (out of memory — the limit is "
                f"{self.limits.memory_mb} MB — or sys.exit/os._exit in your code?)"), "output": "".join(output)[-2000:]}
        raw["output"] = (raw.get("output", "") + "".join(output))[-self.limits.output_chars:]
        if violations:
            raw["status"] = "forbidden"
            raw["message"] = (
                "your code did something not allowed while grading: " + "; ".join(sorted(set(violations))[:3])
                + ". Submissions may only compute with their inputs (no files, processes, network, "
                "or the course's own implementation)."
            )
        return raw

    def _proxy(self, name: str, info: Mapping[str, Any], output: list[str], violations: list[str]) -> Any:
        if not info.get("callable"):
            return type(str(info.get("type") or "object"), (), {})()
        proxy = _Proxy(self, name, output, violations)
        params = info.get("params")
        if params is not None:
            with contextlib.suppress(ValueError, TypeError):
                proxy.__signature__ = inspect.Signature([
                    inspect.Parameter(str(n), inspect._ParameterKind(int(k)),
                                      default=None if d else inspect.Parameter.empty)
                    for n, k, d in params
                ])
        return proxy


class _Proxy(engine.RemoteFunction):
    """The student's function ``name`` in the sandbox child, as the checks call it."""

    def __init__(self, session: _Session, name: str, output: list[str], violations: list[str]):
        self.session, self.__name__, self.output, self.violations = session, name, output, violations

    def _exchange(self, request: dict[str, Any], reply: str) -> dict[str, Any]:
        self.session._send(request)
        msg = self.session._recv()
        if msg.get("ev") != reply:
            raise _ChildGone("unexpected message")
        self.output.append(str(msg.get("output", "")))
        self.violations.extend(map(str, msg.get("violations") or []))
        return msg

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        msg = self._exchange({"cmd": "call", "name": self.__name__, "args": args, "kwargs": kwargs}, "result")
        _write_back(args, msg.get("args"))
        _write_back(kwargs, msg.get("kwargs"))
        err = msg.get("error")
        if err:
            raise _remote_exception(err)
        return msg.get("result")

    def numerical_gradient(self, args: Sequence[Any], kwargs: Mapping[str, Any], at: Sequence[int | str],
                           dout: np.ndarray | None, h: float, pair: bool, keep: Sequence[int | str]) -> Any:
        """One round trip: the child runs the central differences itself (``_numgrad`` in
        :mod:`course_grader.sandbox_child`) and returns the gradient, or None when anything
        was unusual (then the check calls the function once per perturbed entry)."""
        msg = self._exchange({"cmd": "numgrad", "name": self.__name__, "args": list(args), "kwargs": dict(kwargs),
                              "at": list(at), "dout": dout, "h": float(h), "pair": bool(pair), "keep": list(keep),
                              "message_bytes": self.session.limits.message_bytes}, "numgrad")
        return msg.get("grad")


def _budget_outcome(limits: Limits) -> dict[str, Any]:
    return {"status": "timeout", "message": (
        f"not run: grading this notebook used up its time budget ({limits.notebook_seconds:g} s of CPU time, "
        f"or {limits.notebook_seconds * limits.wall_factor:g} s of waiting) in earlier checks"), "output": ""}


def _timeout_text(e: _Timeout, limit: float, guess: str) -> str:
    """What a student reads when a cell or a sub-check was stopped (``limit``: its CPU seconds)."""
    if e.kind == "cpu":
        return f"stopped after {limit:g} s of CPU time: {guess}"
    if e.cpu is None:  # the CPU time could not be read: the limit was wall-clock time
        return f"stopped after {limit:g} s: {guess}"
    return (f"stopped after {e.wall:.0f} s of waiting, in which it used {e.cpu:.1f} s of CPU time (the limit is "
            f"{limit:g} s): does it sleep, or wait for something that never comes?")


def _exc_text(err: Mapping[str, Any]) -> str:
    text = f"{err.get('type')}: {err.get('message')}"
    if err.get("where"):
        text += f" ({err['where']})"
    return text


def _remote_exception(err: Mapping[str, Any]) -> BaseException:
    """An exception standing for the one the student's code raised in the child."""
    msg = str(err.get("message", ""))
    if err.get("where"):
        msg += f"\n  {err['where']}"
    if err.get("not_implemented"):
        return NotImplementedError(msg)
    if err.get("memory"):
        msg += "\n  (the grader's memory limit was reached: does your code build a huge array?)"
    base: type[BaseException] = RuntimeWarning if err.get("runtime_warning") else Exception
    name = re.sub(r"\W", "", str(err.get("type") or "Error"))[:60] or "Error"
    exc = type(name, (base,), {})(msg)
    exc.deliberate = bool(err.get("deliberate", True))  # read by course_grader.engine.Student
    return exc


def _write_back(parent: Any, child: Any) -> None:
    """Apply in-place changes the student's function made to its arguments (so they are detected)."""
    if isinstance(parent, np.ndarray) and isinstance(child, np.ndarray):
        if parent.shape == child.shape and parent.flags.writeable:
            with contextlib.suppress(TypeError, ValueError):
                if not np.array_equal(parent, child, equal_nan=True):
                    np.copyto(parent, child, casting="unsafe")
    elif isinstance(parent, tuple | list) and isinstance(child, tuple | list) and len(parent) == len(child):
        for p, c in zip(parent, child):
            _write_back(p, c)
        if isinstance(parent, list):
            for i, c in enumerate(child):
                if not isinstance(parent[i], np.ndarray | tuple | list | dict):
                    parent[i] = c
    elif isinstance(parent, dict) and isinstance(child, dict):
        for k in list(parent):
            if k in child:
                if isinstance(parent[k], np.ndarray | tuple | list | dict):
                    _write_back(parent[k], child[k])
                else:
                    parent[k] = child[k]
        for k in child:
            if k not in parent:
                parent[k] = child[k]


def _execute(check: engine.Check, namespace: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`course_grader.engine.run_check`, letting the sandbox's own signals (and a Ctrl-C of
    the grader) through. The check's given functions are in the child's namespace (sent with the
    fork), so the parent's namespace of proxies stays as it is: the student's own functions."""
    return engine.run_check(check, namespace, reraise=(_Timeout, _ChildGone, _Budget, KeyboardInterrupt, SystemExit))


# ---------------------------------------------------------------------------------------------
# Grading a notebook
# ---------------------------------------------------------------------------------------------

def grade_cells_from_notebook(path: Path | str) -> list[GradeCell]:
    """The grade cells of a trusted (instructor's source or release) notebook, in order.

    A test cell is recognised by its nbgrader metadata and its one call
    ``grading.grade("<task>", globals()[, hidden=True])``.
    """
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or not meta.get("grade"):
            continue
        src = "".join(cell["source"])
        parsed = parse_grade_call(src)
        if parsed:
            cells.append(GradeCell(meta["grade_id"], parsed[0], parsed[1], float(meta["points"])))
    return cells


def parse_grade_call(source: str) -> tuple[str, bool] | None:
    """``(task_id, hidden)`` of a test cell's ``grading.grade(...)`` call, or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "grade"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            hidden = any(k.arg == "hidden" and isinstance(k.value, ast.Constant) and bool(k.value.value) for k in node.keywords)
            return node.args[0].value, hidden
    return None


def default_protected(course: Path | str | None = None) -> list[str]:
    """Folders the student's code may not open while grading: course_lib, the course, and (in a
    development checkout) the repository's exercises/, tests/, book/ and .git/ — never the
    interpreter's own folders, which the student's imports need."""
    import course_lib

    lib_dir = Path(course_lib.__file__).resolve().parent
    roots = {str(_PACKAGE_DIR), str(lib_dir)}
    repo = _PACKAGE_DIR.parent
    if (repo / "pyproject.toml").exists():  # an editable install
        roots.update(str(repo / d) for d in ("exercises", "tests", "book", ".git", "course_lib.egg-info") if (repo / d).exists())
    if course is not None:
        roots.add(str(Path(course).resolve()))
    prefix = os.path.realpath(sys.prefix) + os.sep
    return sorted(r for r in roots if not prefix.startswith(os.path.realpath(r) + os.sep))


def grade_notebook(
    path: Path | str, grade_cells: Sequence[GradeCell], options: GradingOptions = GradingOptions()
) -> SubmissionResult:
    """Grade one submitted notebook in the sandbox; never raises for anything in the submission.

    Args:
        path: the submitted ``.ipynb`` (only read).
        grade_cells: the trusted grade cells (from the gradebook or the source notebook), whose
            task ids and points are used; the submission's own metadata never is.
        options: limits, protected folders, allowed imports, isolation (:class:`GradingOptions`).

    Returns:
        a :class:`SubmissionResult` with one :class:`GradedCell` per grade cell.

    Raises:
        course_grader.bwrap.SandboxUnavailable: ``options.isolation="bwrap"`` and bubblewrap cannot run.
    """
    t0 = time.monotonic()
    try:
        cells, warns = load_code_cells(path, options.limits)
    except NotebookProblem as e:
        result = unreadable_result(grade_cells, str(e), "missing" if not Path(path).exists() else "unreadable")
        result.seconds = time.monotonic() - t0
        return result
    return grade_code_cells(cells, grade_cells, options, warnings=warns)


def unreadable_result(grade_cells: Sequence[GradeCell], why: str, status: str = "unreadable") -> SubmissionResult:
    """Every grade cell 0 with ``why``: a notebook that could not be read (nothing ran)."""
    result = SubmissionResult(status=status, problems=[why])
    for gc in grade_cells:
        result.cells.append(GradedCell(gc.grade_id, gc.task_id, gc.hidden, 0.0, gc.max_score,
                                       f"{_title(gc)}: 0 / {gc.max_score:g} points\n  not graded: {why}", ["unreadable"]))
    return result


def grade_code_cells(
    cells: Sequence[tuple[int, str]],
    grade_cells: Sequence[GradeCell],
    options: GradingOptions = GradingOptions(),
    *,
    warnings: Sequence[str] = (),
) -> SubmissionResult:
    """Grade already-read code cells ``[(cell number, source)]`` (see :func:`grade_notebook`);
    ``warnings`` (from reading the notebook) go into the result's problems."""
    from course_grader import bwrap

    if options.isolation not in ("bwrap", "none"):
        raise ValueError(f"isolation must be 'bwrap' or 'none', not {options.isolation!r}")
    if options.isolation == "bwrap":
        bwrap.require()
    limits = options.limits
    t0 = time.monotonic()
    cells = list(cells)
    result = SubmissionResult(status="graded", problems=list(warnings))
    task_functions = {gc.task_id: grading.TASKS[gc.task_id].functions for gc in grade_cells if gc.task_id in grading.TASKS}
    result.findings = scan_tampering(cells, task_functions, set(options.allowed))
    protected = options.protected if options.protected is not None else default_protected()
    session = _Session(cells, limits, protected, _helper_sources(), isolation=options.isolation)
    try:
        for gc in grade_cells:
            result.cells.append(_grade_cell(session, gc, result.findings, limits, options.progress))
    finally:
        session.close()
    result.cell_errors = dict(session.cell_errors)
    for index, v in session.cell_violations.items():
        result.cell_errors[index] = (result.cell_errors.get(index, "") + " | not allowed: " + "; ".join(sorted(set(v)))).lstrip(" |")
    # a refused action while the notebook loaded counts like tampering for the tasks of that cell
    task_fns = {gc.task_id: grading.TASKS[gc.task_id].functions for gc in grade_cells if gc.task_id in grading.TASKS}
    for index, v in session.cell_violations.items():
        tasks = _tasks_of_cell(dict(cells).get(index, ""), task_fns) or sorted(task_fns)
        finding = Finding(index, 0, "(while the cell ran)", "did something not allowed while grading: " + "; ".join(sorted(set(v))[:3]), tasks)
        result.findings.append(finding)
        for c in result.cells:
            if c.task_id in tasks and c.score:
                c.report += f"\n  TAMPERING: {finding} -> this part scores 0"
                c.score = 0.0
    result.seconds = time.monotonic() - t0
    return result


def _tasks_of_cell(src: str, task_functions: Mapping[str, Sequence[str]]) -> list[str]:
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        return []
    defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    # a top-level import binds names too (`from course_lib.neuron import relu_forward`)
    defined |= {a.asname or a.name for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
    return sorted(t for t, fns in task_functions.items() if defined & set(fns))


def _title(gc: GradeCell) -> str:
    task = grading.TASKS.get(gc.task_id)
    name = task.title if task else gc.task_id
    return f"{name} — {'hidden tests' if gc.hidden else 'tests'}"


def _grade_cell(session: _Session, gc: GradeCell, findings: Sequence[Finding], limits: Limits,
                progress: Callable[[str], None] | None) -> GradedCell:
    task = grading.TASKS.get(gc.task_id)
    if task is None:
        return GradedCell(gc.grade_id, gc.task_id, gc.hidden, 0.0, gc.max_score,
                          f"{gc.task_id}: unknown task (the course and course_lib disagree: ask the instructor)", ["error"])
    result = engine.TaskResult(task.id, task.title, gc.hidden)
    for check in (c for c in task.checks if c.hidden == gc.hidden):
        if progress:
            progress(f"{gc.grade_id}: {check.what}")
        raw = session.run_check(check, min(check.timeout, limits.check_seconds))
        if raw["status"] == "timeout" and "time budget" not in raw["message"]:
            raw["message"] = f"timed out in task {task.id} ({'hidden' if gc.hidden else 'visible'} tests): {raw['message']}"
        earned = check.points if raw["status"] == "pass" else 0.0
        result.outcomes.append(engine.CheckOutcome(check.what, check.points, earned, raw["status"], raw["message"], raw.get("output", "")))
    report = str(result)
    score = min(result.earned, gc.max_score)
    mine = [f for f in findings if gc.task_id in f.tasks]
    if mine:
        report += "\n  TAMPERING with the grader -> this part scores 0 (ask your instructor if this is a mistake):"
        report += "".join(f"\n    {f}" for f in mine)
        score = 0.0
    return GradedCell(gc.grade_id, gc.task_id, gc.hidden, float(score), gc.max_score, report,
                      [o.status for o in result.outcomes] + (["tampering"] if mine else []))


# ---------------------------------------------------------------------------------------------
# Output sanitising (graded copies and feedback)
# ---------------------------------------------------------------------------------------------

def truncate_outputs(nb: dict[str, Any], max_chars: int = 20_000, max_total: int = 2_000_000) -> int:
    """Shorten huge outputs of a notebook (a dict as read from JSON) in place; returns chars removed.

    Streams and text keep their head and a note; images and other rich outputs larger than
    ``max_chars`` are replaced by a note. The total over the notebook is capped at ``max_total``.
    """
    removed, total = 0, 0
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            continue
        outs = cell.get("outputs")
        if not isinstance(outs, list):
            continue
        for o in outs:
            if not isinstance(o, dict):
                continue
            budget = max(0, min(max_chars, max_total - total))
            if "text" in o:
                text = "".join(o["text"]) if isinstance(o["text"], list) else str(o["text"])
                if len(text) > budget:
                    removed += len(text) - budget
                    o["text"] = text[:budget] + f"\n... output truncated by the grader ({len(text) - budget} characters removed)\n"
                total += min(len(text), budget)
            if isinstance(o.get("data"), dict):
                for mime, val in list(o["data"].items()):
                    text = "".join(val) if isinstance(val, list) else (val if isinstance(val, str) else json.dumps(val))
                    if len(text) > budget:
                        removed += len(text)
                        o["data"][mime] = (f"... output truncated by the grader ({len(text)} characters) ..."
                                           if mime.startswith("text/") else "")
                        if not mime.startswith("text/"):
                            del o["data"][mime]
                    else:
                        total += len(text)
            if isinstance(o.get("traceback"), list) and len(o["traceback"]) > 60:
                removed += len(o["traceback"]) - 60
                o["traceback"] = [*o["traceback"][:30], "... traceback truncated by the grader ...", *o["traceback"][-29:]]
        if isinstance(cell.get("outputs"), list):
            for o in cell["outputs"]:
                if isinstance(o, dict) and isinstance(o.get("data"), dict) and not o["data"]:
                    o["data"]["text/plain"] = "... output removed by the grader (too large) ..."
    return removed



def grade_submission(
    folder: Path | str,
    notebook: str,
    grade_cells: Sequence[GradeCell],
    options: GradingOptions = GradingOptions(),
) -> SubmissionResult:
    """Grade ``folder/<notebook>.ipynb`` (a student's submitted assignment folder); only reads it.

    A missing notebook or one under another name scores 0 with a message naming what was found
    (the instructor may rename it and grade again); other files are listed and ignored.
    """
    folder = Path(folder)
    path = folder / f"{notebook}.ipynb"
    others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name != path.name) if folder.is_dir() else []
    if not path.exists():
        found = [n for n in others if n.endswith(".ipynb")]
        result = grade_notebook(path, grade_cells, options)
        result.status = "missing"
        hint = (f"; found {', '.join(found)} — notebooks must keep their name {path.name}" if found
                else f"; the folder holds {', '.join(others) or 'nothing'}")
        result.problems = [f"no notebook {path.name} in the submission{hint}"]
        for c in result.cells:
            c.report = c.report.split("not graded:")[0] + "not graded: " + result.problems[0]
        return result
    result = grade_notebook(path, grade_cells, options)
    if others:
        result.problems.append(f"ignored other files in the submission: {', '.join(others[:10])}")
    return result
