"""One submission's grading as a pure function: notebook bytes + assignment -> result.

:func:`grade_bytes` is the whole per-submission work of ``course autograde``: it parses the
submitted notebook's bytes (never a path: what is graded is the snapshot the caller read), runs
the student's code in the sandbox (:mod:`course_grader.sandbox`, inside bubblewrap unless
``sandbox=False``), scores every grade cell with the trusted checks, and builds the autograded
notebook (the student's cells and saved outputs as submitted, test cells restored from the
instructor's and showing the trusted report). It writes nothing and needs no gradebook: the
assignment's cells come from an :class:`AssignmentSpec` (read once from the gradebook by the
caller, or from the course directory when omitted). Results are plain, picklable data, so the
same call runs in a local worker or as a Dask task; :func:`write_gradebook` records a student's
results through nbgrader's API (SQLite or PostgreSQL), in the trusted parent only.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "AssignmentSpec",
    "CellResult",
    "GradeResult",
    "SpecCell",
    "grade_bytes",
    "load_spec",
    "not_graded",
    "write_gradebook",
]

STATUSES = ("ok", "cells deleted", "notebook renamed", "unreadable", "not graded", "ungraded written answers")


# ---------------------------------------------------------------------------------------------
# The assignment, as the instructor released it (from the gradebook)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpecCell:
    """A cell of the released notebook that nbgrader tracks (grade, solution, locked or task)."""

    grade_id: str
    cell_type: str  # "code" | "markdown"
    source: str  # the release's source; test cells with their hidden tests
    locked: bool
    checksum: str | None
    grade: bool
    solution: bool
    max_score: float = 0.0
    task_id: str | None = None  # auto-graded test cell: the task its grading.grade(...) runs
    hidden: bool = False

    @property
    def kind(self) -> str:
        """``"auto"`` (a test cell the grader scores), ``"manual"`` (graded by a person), or ``""``."""
        if not self.grade:
            return ""
        return "auto" if self.task_id is not None and not self.solution and self.cell_type == "code" else "manual"

    def nbgrader_metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"grade": self.grade, "grade_id": self.grade_id, "locked": self.locked,
                                "schema_version": 3, "solution": self.solution}
        if self.grade:
            meta["points"] = self.max_score
        if self.checksum:
            meta["checksum"] = self.checksum
        return meta


@dataclass(frozen=True)
class AssignmentSpec:
    """What an assignment's notebooks hold: ``notebooks[name]`` is its tracked cells in order."""

    assignment: str
    notebooks: dict[str, tuple[SpecCell, ...]]
    allowed: frozenset[tuple[str, str]] = frozenset()  # course_lib imports the template itself uses

    @classmethod
    def from_gradebook(cls, db_url: str, assignment: str) -> AssignmentSpec:
        """Read the released cells, points and checksums of ``assignment`` from a gradebook."""
        from nbgrader.api import Gradebook

        from course_grader import sandbox

        notebooks: dict[str, tuple[SpecCell, ...]] = {}
        code: list[tuple[int, str]] = []
        with Gradebook(db_url) as gb:
            a = gb.find_assignment(assignment)
            for nb in a.notebooks:
                grades = {g.name: g for g in nb.grade_cells}
                solutions = {s.name for s in nb.solution_cells}
                cells = []
                for sc in nb.source_cells:
                    g = grades.get(sc.name)
                    parsed = sandbox.parse_grade_call(sc.source) if g is not None and sc.cell_type == "code" else None
                    cells.append(SpecCell(sc.name, sc.cell_type, sc.source, bool(sc.locked), sc.checksum,
                                          g is not None, sc.name in solutions, float(g.max_score) if g else 0.0,
                                          parsed[0] if parsed else None, bool(parsed and parsed[1])))
                    if sc.cell_type == "code":
                        code.append((len(code), sc.source))
                notebooks[nb.name] = tuple(cells)
        return cls(assignment, notebooks, frozenset(sandbox.allowed_imports(code)))

    def grade_cells(self, notebook: str) -> list[Any]:
        """The notebook's auto-graded cells as :class:`course_grader.sandbox.GradeCell` objects."""
        from course_grader.sandbox import GradeCell

        return [GradeCell(c.grade_id, c.task_id, c.hidden, c.max_score)  # type: ignore[arg-type]
                for c in self.notebooks[notebook] if c.kind == "auto"]

    def digest(self) -> str:
        """SHA-256 of the spec (what a finished result was graded against)."""
        text = json.dumps({k: [asdict(c) for c in v] for k, v in self.notebooks.items()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=8)
def _spec_cached(course: str, assignment: str, mtime: float) -> AssignmentSpec:
    return AssignmentSpec.from_gradebook("sqlite:///" + str(Path(course) / "gradebook.db"), assignment)


def load_spec(assignment: str, course: str | os.PathLike[str] | None = None) -> AssignmentSpec:
    """The spec of ``assignment`` from the course directory's gradebook (cached per process)."""
    from course_grader.course import find_course

    root = find_course(course)
    db = root / "gradebook.db"
    if not db.exists():
        raise FileNotFoundError(f"{db} does not exist: release {assignment} first (`course release {assignment}`)")
    return _spec_cached(str(root), assignment, db.stat().st_mtime)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------

@dataclass
class CellResult:
    """One grade cell: its score (None = a person has to grade it), points and report."""

    grade_id: str
    kind: str  # "auto" | "manual"
    max_score: float
    score: float | None
    report: str = ""
    deleted: bool = False
    task_id: str | None = None
    hidden: bool = False


@dataclass
class GradeResult:
    """Everything grading one notebook produced; plain data (picklable, JSON via :meth:`to_json`)."""

    assignment: str
    notebook: str
    sha256: str  # of the bytes graded
    status: str  # one of STATUSES
    sandboxed: bool
    cells: list[CellResult] = field(default_factory=list)
    comments: dict[str, str | None] = field(default_factory=dict)  # nbgrader auto comments
    problems: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    cell_errors: dict[str, str] = field(default_factory=dict)
    autograded: bytes = b""  # the autograded notebook (UTF-8 JSON)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        """Automatic points earned (test cells only)."""
        return round(sum(c.score or 0.0 for c in self.cells if c.kind == "auto"), 4)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.cells if c.kind == "auto"), 4)

    @property
    def deleted(self) -> list[str]:
        return [c.grade_id for c in self.cells if c.deleted]

    def report(self) -> str:
        """The report the student and the instructor read (feedback, ``reports/``)."""
        from course_grader import sandbox as sb

        lines = [f"{self.notebook}.ipynb — Automatic grade: {self.score:g} / {self.max_score:g} points",
                 f"status: {self.status}",
                 f"graded file SHA-256: {self.sha256}",
                 ("isolation: bubblewrap sandbox" if self.sandboxed else
                  "isolation: NONE — graded with --no-sandbox (the code ran with the instructor's permissions)")]
        problems = list(self.problems)
        if self.deleted:
            problems.append("graded cells deleted from the submission (restored by the grader): " + ", ".join(self.deleted))
        lines += sb.report_sections(problems, self.findings, self.cell_errors, [c.report for c in self.cells])
        return "\n".join(lines)

    def to_json(self, notebook: bool = False) -> dict[str, Any]:
        """A JSON-ready dict (the autograded notebook included, base64, only when asked)."""
        d = asdict(self)
        d["autograded"] = base64.b64encode(self.autograded).decode() if notebook else None
        d["score"], d["max_score"] = self.score, self.max_score
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> GradeResult:
        d = dict(d)
        d.pop("score", None)
        d.pop("max_score", None)
        d["cells"] = [CellResult(**c) for c in d.get("cells", [])]
        d["autograded"] = base64.b64decode(d["autograded"]) if d.get("autograded") else b""
        return cls(**d)


# ---------------------------------------------------------------------------------------------
# The pure function
# ---------------------------------------------------------------------------------------------

def grade_bytes(
    notebook: bytes,
    assignment: str,
    *,
    spec: AssignmentSpec | None = None,
    notebook_name: str | None = None,
    sandbox: bool = True,
    limits: Any = None,
) -> GradeResult:
    """Grade one submitted notebook given as bytes; writes nothing, never raises for its content.

    Args:
        notebook: the submitted ``.ipynb`` file's bytes (the snapshot; its SHA-256 is reported).
        assignment: the assignment's name (``"ch04_conv"``).
        spec: the assignment's cells and points (:meth:`AssignmentSpec.from_gradebook`); default
            :func:`load_spec` of the course directory (``--course``/``COURSE_DIR``/cwd).
        notebook_name: which of the assignment's notebooks this is (default: the one named like
            the assignment, or its only notebook).
        sandbox: run the student's code inside bubblewrap (default); ``False`` is ``--no-sandbox``
            (a plain child process), and the report says so.
        limits: :class:`course_grader.sandbox.Limits` (time, memory, processes, /tmp size).

    Returns:
        a :class:`GradeResult`: per-cell scores and reports (manual cells score None, or 0 when
        unanswered or deleted), problems, the autograded notebook's bytes, the SHA-256, the status.

    Raises:
        course_grader.bwrap.SandboxUnavailable: ``sandbox=True`` and bubblewrap cannot run here.
        KeyError: ``notebook_name`` is not a notebook of the assignment.
    """
    from course_grader import bwrap
    from course_grader import sandbox as sb

    t0 = time.monotonic()
    if sandbox:
        bwrap.require()
    spec = spec if spec is not None else load_spec(assignment)
    name = _notebook_name(spec, notebook_name)
    limits = limits if limits is not None else sb.Limits()
    digest = hashlib.sha256(notebook).hexdigest()
    try:
        data, warnings = sb.parse_notebook(notebook, f"{name}.ipynb", limits)
        cells, warnings = sb.code_cells(data, f"{name}.ipynb", warnings)
    except sb.NotebookProblem as e:
        result = not_graded(spec, name, "unreadable", str(e), sandboxed=sandbox, sha256=digest)
        result.seconds = time.monotonic() - t0
        return result
    options = sb.GradingOptions(limits=limits, allowed=frozenset(spec.allowed), isolation="bwrap" if sandbox else "none")
    trusted = sb.grade_code_cells(cells, spec.grade_cells(name), options, warnings=warnings)
    auto = trusted.by_grade_id()
    present = _present_grade_ids(data, spec.notebooks[name])
    result = GradeResult(assignment, name, digest, "ok", sandbox, problems=list(trusted.problems),
                         findings=[f"{f} [{', '.join(f.tasks)}]" for f in trusted.findings],
                         cell_errors={str(k): v for k, v in trusted.cell_errors.items()})
    for sc in spec.notebooks[name]:
        if not sc.grade:
            continue
        deleted = sc.grade_id not in present
        if sc.kind == "auto":
            g = auto[sc.grade_id]
            report = g.report + ("\n  (this test cell was deleted from the submission; it was restored and graded)" if deleted else "")
            result.cells.append(CellResult(sc.grade_id, "auto", sc.max_score, float(g.score), report, deleted, sc.task_id, sc.hidden))
        else:
            answered = not deleted and not _unchanged(present[sc.grade_id], sc)
            note = ("deleted from the submission: 0 points" if deleted else
                    "graded by your instructor" if answered else "no answer (unchanged from the release): 0 points")
            result.cells.append(CellResult(sc.grade_id, "manual", sc.max_score, None if answered else 0.0,
                                           f"{sc.grade_id} (written answer, {sc.max_score:g} points): {note}", deleted))
    for sc in spec.notebooks[name]:
        if sc.solution and sc.grade_id in present:
            result.comments[sc.grade_id] = "No response." if _unchanged(present[sc.grade_id], sc) else None
        elif sc.solution:
            result.comments[sc.grade_id] = "This cell was deleted from the submission."
    if result.deleted:
        result.status = "cells deleted"
    result.autograded = _autograded_notebook(data, spec.notebooks[name], result)
    result.seconds = time.monotonic() - t0
    return result


def not_graded(spec: AssignmentSpec, notebook: str, status: str, why: str, *, sandboxed: bool = True,
               sha256: str = "") -> GradeResult:
    """A result scoring every cell 0 because the notebook was not graded (``why``); nothing ran.

    Its autograded notebook is the release's tracked cells with the reason on top, so feedback
    and the gradebook have a row for every student.
    """
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    result = GradeResult(spec.assignment, notebook, sha256, status, sandboxed, problems=[why])
    for sc in spec.notebooks[notebook]:
        if sc.grade:
            result.cells.append(CellResult(sc.grade_id, sc.kind, sc.max_score, 0.0,
                                           f"{sc.grade_id}: 0 / {sc.max_score:g} points\n  not graded: {why}",
                                           False, sc.task_id, sc.hidden))
    skeleton = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": f"**Not graded:** {why}"}]}
    result.autograded = _autograded_notebook(skeleton, spec.notebooks[notebook], result)
    return result


def _notebook_name(spec: AssignmentSpec, name: str | None) -> str:
    if name is not None:
        if name not in spec.notebooks:
            raise KeyError(f"{spec.assignment} has no notebook {name!r} (it has {', '.join(spec.notebooks)})")
        return name
    if spec.assignment in spec.notebooks:
        return spec.assignment
    if len(spec.notebooks) == 1:
        return next(iter(spec.notebooks))
    raise KeyError(f"{spec.assignment} has several notebooks ({', '.join(spec.notebooks)}): name one")


def _source_text(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _grade_id(cell: Any) -> str | None:
    if not isinstance(cell, dict) or not isinstance(cell.get("metadata"), dict):
        return None
    meta = cell["metadata"].get("nbgrader")
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def _present_grade_ids(data: Mapping[str, Any], spec_cells: Sequence[SpecCell]) -> dict[str, dict[str, Any]]:
    """grade_id -> the submission's first cell carrying it (of the right type), for tracked cells."""
    known = {c.grade_id: c for c in spec_cells}
    out: dict[str, dict[str, Any]] = {}
    for cell in data.get("cells") or []:
        gid = _grade_id(cell)
        if gid in known and gid not in out and cell.get("cell_type") == known[gid].cell_type:
            out[gid] = cell
    return out


def _unchanged(cell: Mapping[str, Any], sc: SpecCell) -> bool:
    """The student's cell is the released one (nbgrader's checksum of source and metadata)."""
    if not sc.checksum:
        return False
    from nbformat import from_dict
    from nbgrader.utils import compute_checksum

    probe = {"cell_type": sc.cell_type, "metadata": {"nbgrader": sc.nbgrader_metadata()}, "source": _source_text(cell)}
    if sc.cell_type == "code":
        probe.update(outputs=[], execution_count=None)
    try:
        return compute_checksum(from_dict(probe)) == sc.checksum
    except Exception:
        return False


_KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def _autograded_notebook(data: Mapping[str, Any], spec_cells: Sequence[SpecCell], result: GradeResult) -> bytes:
    """The submission with tracked cells restored from the release and test cells showing the
    trusted report; every output truncated; cells nbgrader does not know lose their nbgrader
    metadata (a forged grade cell cannot reach the gradebook)."""
    import nbformat

    from course_grader import sandbox as sb

    known = {c.grade_id: c for c in spec_cells}
    by_id = {c.grade_id: c for c in result.cells}
    seen: set[str] = set()
    cells: list[dict[str, Any]] = []
    for raw in data.get("cells") or []:
        if not isinstance(raw, dict) or raw.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        cell = _clean_cell(raw)
        gid = _grade_id(raw)
        sc = known.get(gid) if gid is not None else None
        if sc is None or gid in seen or cell["cell_type"] != sc.cell_type:
            cells.append(cell)
            continue
        seen.add(sc.grade_id)
        cells.append(_tracked(cell, sc, by_id.get(sc.grade_id)))
    # tracked cells the student deleted go back after the tracked cell that preceded them
    order = [c.grade_id for c in spec_cells]
    for i, sc in enumerate(spec_cells):
        if sc.grade_id in seen:
            continue
        at = 0
        for prev in reversed(order[:i]):
            idx = next((k for k, c in enumerate(cells) if _grade_id(c) == prev), None)
            if idx is not None:
                at = idx + 1
                break
        base = {"cell_type": sc.cell_type, "metadata": {}, "source": sc.source}
        if sc.cell_type == "code":
            base.update(outputs=[], execution_count=None)
        restored = _tracked(base, sc, by_id.get(sc.grade_id))
        if sc.grade and not sc.kind == "auto":
            note = "This cell was deleted from the submission; the grader restored it empty.\n\n"
            restored["source"] = (note if sc.cell_type == "markdown" else "# " + note.strip() + "\n") + sc.source
        cells.insert(at, restored)
        seen.add(sc.grade_id)
    for i, c in enumerate(cells):
        c["id"] = f"cell-{i}"
    nb = {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
          "metadata": {"kernelspec": dict(_KERNELSPEC), "language_info": {"name": "python"}}}
    sb.truncate_outputs(nb)
    for attempt in range(2):
        try:
            node = nbformat.from_dict(copy.deepcopy(nb))
            nbformat.validate(node)
            break
        except Exception:
            if attempt:
                raise
            for c in nb["cells"]:  # outputs the student forged in a shape nbformat refuses
                gid = _grade_id(c)
                if c["cell_type"] == "code" and not (gid in by_id and by_id[gid].kind == "auto"):
                    c["outputs"] = []
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def _clean_cell(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A cell with only what nbformat 4 allows (no attachments, ids or odd metadata)."""
    cell: dict[str, Any] = {"cell_type": raw["cell_type"], "metadata": {}, "source": _source_text(raw)}
    if cell["cell_type"] == "code":
        outs = raw.get("outputs")
        cell["outputs"] = [copy.deepcopy(o) for o in outs if isinstance(o, dict)] if isinstance(outs, list) else []
        cell["execution_count"] = raw.get("execution_count") if isinstance(raw.get("execution_count"), int) else None
    return cell


def _tracked(cell: dict[str, Any], sc: SpecCell, graded: CellResult | None) -> dict[str, Any]:
    """A tracked cell as nbgrader expects it: the release's metadata; locked cells and tests the release's source."""
    cell = dict(cell)
    cell["metadata"] = {"nbgrader": sc.nbgrader_metadata()}
    if sc.locked or sc.kind == "auto":
        cell["source"] = sc.source
        cell["metadata"].update(deletable=False, editable=False)
    if sc.kind == "auto" and graded is not None:
        cell["outputs"] = [
            {"output_type": "stream", "name": "stdout", "text": graded.report + "\n"},
            {"output_type": "execute_result", "execution_count": None, "metadata": {},
             "data": {"text/plain": repr(float(graded.score or 0.0))}},
        ]
        cell["execution_count"] = None
    return cell


# ---------------------------------------------------------------------------------------------
# Recording results (the trusted parent only)
# ---------------------------------------------------------------------------------------------

def write_gradebook(gb: Any, student: str, results: Mapping[str, GradeResult], *, timestamp: Any = None) -> None:
    """Record one student's results of one assignment in an open nbgrader ``Gradebook``.

    Creates the student and submission rows if needed (nbgrader's ``update_or_create_submission``
    keeps one per student), sets every auto-graded cell's ``auto_score`` to the trusted score,
    leaves written answers to a person (``auto_score`` None and ``needs_manual_grade``) unless
    unanswered or deleted (0, as nbgrader does), and never touches manual scores or extra credit.
    """
    assignment = next(iter(results.values())).assignment
    gb.update_or_create_student(student)
    if timestamp is not None:
        gb.update_or_create_submission(assignment, student, timestamp=timestamp)
    else:
        gb.update_or_create_submission(assignment, student)
    for nbname, res in results.items():
        for cell in res.cells:
            g = gb.find_grade(cell.grade_id, nbname, assignment, student)
            g.auto_score = cell.score
            g.needs_manual_grade = bool(g.manual_score is not None or cell.score is None)
        for gid, text in res.comments.items():
            c = gb.find_comment(gid, nbname, assignment, student)
            c.auto_comment = text
    gb.db.commit()
