"""``course autograde`` over a class: snapshots, sandboxed grading, and the trusted parent's records.

For each student the submitted notebooks are read **once** (regular files only: a symbolic link
is refused, never followed) and that snapshot is what :func:`course_grader.submission.grade_bytes`
grades, inside bubblewrap (no nbgrader kernel runs anything). Workers (``--jobs``) only compute;
the parent process alone writes: the autograded notebooks, the gradebook rows (nbgrader's API),
``reports/<assignment>/<student>.txt`` and the journal entry ``reports/<assignment>/<student>.json``
(written last: ``--resume`` trusts it only for the same bytes and the same assignment spec).

Instructor actions that change grades outside autograde (``course extra-credit``) are appended to
``journal.jsonl`` in the course directory; :func:`verify` compares the gradebook with the reports
and that journal.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from course_grader import submission
from course_grader.submission import AssignmentSpec, GradeResult

__all__ = [
    "Outcome",
    "Snapshot",
    "Stray",
    "collect",
    "default_jobs",
    "grade_snapshot",
    "gradebook_url",
    "journal_path",
    "read_regular",
    "record",
    "record_extra_credit",
    "report_path",
    "run",
    "snapshot",
    "strays",
    "verify",
]

_DB_TIMEOUT = 120.0


def gradebook_url(course: Path, db: str | None = None) -> str:
    """The gradebook: ``db`` (``--db``), else nbgrader_config.py's ``CourseDirectory.db_url``, else
    the course's SQLite file (:func:`course_grader.gradebook.db_url`); a SQLite writer waits up to
    120 s for another writer's transaction."""
    from course_grader import gradebook

    return gradebook.sqlite_wait(gradebook.db_url(course, db), _DB_TIMEOUT)


def report_path(course: Path, assignment: str, student: str) -> Path:
    """Where a student's report (``.txt``) and journal entry (``.json``) go."""
    return Path(course) / "reports" / assignment / f"{student}.txt"


def journal_path(course: Path) -> Path:
    """The journal of instructor actions that change grades (``course extra-credit``)."""
    return Path(course) / "journal.jsonl"


def default_jobs(n_submissions: int) -> int:
    """Parallel grading workers: the CPUs this process may use, at most one per submission."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, n_submissions))


# ---------------------------------------------------------------------------------------------
# Snapshots
# ---------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """One student's grading: results per notebook (None: the grading itself failed)."""

    student: str
    results: dict[str, GradeResult] | None
    notes: list[str] = field(default_factory=list)
    timestamp: str | None = None

    @property
    def statuses(self) -> list[str]:
        return [r.status for r in (self.results or {}).values()]

    @property
    def graded(self) -> bool:
        """Every notebook was graded (possibly with cells deleted); False when not graded or failed."""
        return self.results is not None and all(s in ("ok", "cells deleted") for s in self.statuses)


def _no_symlinks(course: Path, path: Path) -> str | None:
    """The first symbolic link on ``path`` below the course directory, or None."""
    rel = path.relative_to(course)
    cur = course
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            return str(cur.relative_to(course))
    return None


def read_regular(path: Path, limit: int | None = None) -> bytes:
    """A regular file's bytes (at most ``limit`` + 1), refusing symbolic links and devices."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path.name} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read() if limit is None else fh.read(limit + 1)
    finally:
        os.close(fd)


@dataclass
class Snapshot:
    """A student's submission as read once, before anything runs: per notebook its bytes, or the
    reason it is not graded (``(status, why)``). Plain data: it travels to a grading worker."""

    student: str
    files: dict[str, bytes | tuple[str, str]]
    others: list[str] = field(default_factory=list)
    timestamp: str | None = None
    error: str | None = None


def snapshot(course: Path, assignment: str, student: str, spec: AssignmentSpec, *, limits: Any = None) -> Snapshot:
    """Read ``submitted/<student>/<assignment>/`` (regular files only); never raises."""
    from course_grader import sandbox as sb

    limits = limits if limits is not None else sb.Limits()
    course = Path(course).resolve()
    folder = course / "submitted" / student / assignment
    snap = Snapshot(student, {})
    try:
        link = _no_symlinks(course, folder)
        if link is not None:
            why = f"{link} is a symbolic link: a submission is graded only from regular files and folders"
            snap.files = {nb: ("not graded", why) for nb in spec.notebooks}
            return snap
        entries = {p.name: p for p in folder.iterdir()} if folder.is_dir() else {}
        with contextlib.suppress(OSError, ValueError):
            ts = entries.get("timestamp.txt")
            if ts is not None and not ts.is_symlink():
                snap.timestamp = read_regular(ts, 200).decode("utf-8").strip() or None
        wanted = {f"{nb}.ipynb" for nb in spec.notebooks}
        snap.others = sorted(n for n in entries if n not in wanted and n != "timestamp.txt")
        for nb in spec.notebooks:
            path = folder / f"{nb}.ipynb"
            if path.is_symlink():
                snap.files[nb] = ("not graded", f"{path.name} is a symbolic link (to {os.readlink(path)}): only a regular file is graded")
            elif path.is_file():
                try:
                    snap.files[nb] = read_regular(path, limits.notebook_bytes)
                except OSError as e:
                    snap.files[nb] = ("unreadable", f"{path.name} could not be read: {e}")
            else:
                found = [n for n in snap.others if n.endswith(".ipynb")]
                if found:
                    snap.files[nb] = ("notebook renamed", (
                        f"no notebook {path.name} in the submission; found {', '.join(found)} — notebooks must keep "
                        f"their name {path.name} (rename it and grade again)"))
                else:
                    snap.files[nb] = ("not graded", (
                        f"no notebook {path.name} in the submission; the folder holds {', '.join(snap.others) or 'nothing'}"))
    except Exception as e:  # an I/O error: this student is reported, the batch goes on
        snap.error = f"reading {student}'s submission FAILED: {type(e).__name__}: {e}"
    return snap


def grade_snapshot(snap: Snapshot, assignment: str, spec: AssignmentSpec, *, sandboxed: bool = True,
                   limits: Any = None) -> Outcome:
    """Grade a snapshot (:func:`course_grader.submission.grade_bytes` per notebook); writes nothing,
    never raises. This is the whole work of a grading worker, local or on a Dask cluster."""
    from course_grader import sandbox as sb

    limits = limits if limits is not None else sb.Limits()
    out = Outcome(snap.student, {}, timestamp=snap.timestamp)
    if snap.error:
        out.results = None
        out.notes.append(snap.error)
        return out
    assert out.results is not None
    try:
        for nb in spec.notebooks:
            item = snap.files.get(nb, ("not graded", "the notebook was not read"))
            if isinstance(item, tuple):
                out.results[nb] = submission.not_graded(spec, nb, item[0], item[1], sandboxed=sandboxed)
            else:
                out.results[nb] = submission.grade_bytes(item, assignment, spec=spec, notebook_name=nb,
                                                         sandbox=sandboxed, limits=limits)
        if snap.others:
            for res in out.results.values():
                if res.status in ("ok", "cells deleted"):
                    res.problems.append(f"ignored other files in the submission: {', '.join(snap.others[:10])}")
    except Exception as e:  # a bug: this student is reported, the batch goes on
        out.results = None
        out.notes.append(f"grading {snap.student} FAILED: {type(e).__name__}: {e}")
    return out


def collect(course: Path, assignment: str, student: str, spec: AssignmentSpec, *, sandboxed: bool = True,
            limits: Any = None) -> Outcome:
    """Snapshot ``submitted/<student>/<assignment>/`` and grade it; writes nothing, never raises."""
    return grade_snapshot(snapshot(course, assignment, student, spec, limits=limits), assignment, spec,
                          sandboxed=sandboxed, limits=limits)


# ---------------------------------------------------------------------------------------------
# The trusted parent's records
# ---------------------------------------------------------------------------------------------

def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _key(results: dict[str, GradeResult], spec: AssignmentSpec) -> str:
    h = hashlib.sha256(spec.digest().encode())
    for nb in sorted(results):
        h.update(f"{nb}:{results[nb].sha256}:{results[nb].status}\0".encode())
    return h.hexdigest()


def snapshot_key(course: Path, assignment: str, student: str, spec: AssignmentSpec) -> str | None:
    """The key a finished journal entry must carry for the files as they are now (resume)."""
    folder = Path(course) / "submitted" / student / assignment
    h = hashlib.sha256(spec.digest().encode())
    for nb in sorted(spec.notebooks):
        path = folder / f"{nb}.ipynb"
        try:
            digest = hashlib.sha256(read_regular(path)).hexdigest() if path.is_file() else "-"
        except OSError:
            return None
        h.update(f"{nb}:{digest}\0".encode())
    return h.hexdigest()


def already_graded(course: Path, assignment: str, student: str, spec: AssignmentSpec) -> bool:
    """True when a finished result exists for exactly these submitted notebooks and this spec."""
    try:
        data = json.loads(report_path(course, assignment, student).with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("complete") is True and data.get("files") == snapshot_key(course, assignment, student, spec)


def record(course: Path, assignment: str, outcome: Outcome, spec: AssignmentSpec, db: str | None = None) -> None:
    """Write one student's autograded notebooks, gradebook rows, report and journal entry.

    Idempotent (the same outcome twice leaves the same rows); safe beside other writers of a
    PostgreSQL gradebook (a write that loses a race on a new row is retried).
    """
    from nbgrader.utils import parse_utc

    from course_grader import gradebook

    course = Path(course).resolve()
    results = outcome.results
    if results is None:
        return
    journal = report_path(course, assignment, outcome.student)
    for stale in (journal.with_suffix(".json"), journal):  # a half-recorded student is not finished
        with contextlib.suppress(OSError):
            stale.unlink()
    for nb, res in results.items():
        _atomic_write(course / "autograded" / outcome.student / assignment / f"{nb}.ipynb", res.autograded)
    timestamp = None
    if outcome.timestamp:
        with contextlib.suppress(Exception):
            timestamp = parse_utc(outcome.timestamp)
    with gradebook.open_gradebook(gradebook_url(course, db)) as gb:
        gradebook.retry(lambda: submission.write_gradebook(gb, outcome.student, results, timestamp=timestamp), gb)
    text = f"{outcome.student} / {assignment}\n\n" + "\n\n".join(r.report() for r in results.values()) + "\n"
    _atomic_write(journal, text.encode("utf-8"))
    entry = {"student": outcome.student, "assignment": assignment, "complete": True,
             "files": snapshot_key(course, assignment, outcome.student, spec),
             "key": _key(results, spec), "notebooks": {k: v.to_json() for k, v in results.items()}}
    _atomic_write(journal.with_suffix(".json"), json.dumps(entry, indent=1).encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Submissions in the wrong place
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Stray:
    """A file or folder under ``submitted/`` that looks like this assignment but is not graded."""

    path: str  # relative to the course directory
    student: str | None
    why: str


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def strays(course: Path, assignment: str, spec: AssignmentSpec) -> list[Stray]:
    """What is not graded because it is not in ``submitted/<student>/<assignment>/``, and why."""
    root = Path(course) / "submitted"
    out: list[Stray] = []
    if not root.is_dir():
        return out
    expected = f"submitted/<student>/{assignment}/{next(iter(spec.notebooks))}.ipynb"
    names = {f"{nb}.ipynb" for nb in spec.notebooks}
    for entry in sorted(root.iterdir()):
        rel = str(entry.relative_to(course))
        if not entry.is_dir() or entry.is_symlink():
            if entry.name.endswith(".ipynb") or _norm(entry.name).startswith(_norm(assignment)):
                out.append(Stray(rel, None, f"not inside a student's folder (expected {expected})"))
            continue
        if (entry / assignment).is_dir():
            continue
        for sub in sorted(entry.iterdir()):
            wrong_folder = sub.is_dir() and _norm(sub.name).startswith(_norm(assignment)) and sub.name != assignment
            loose = sub.is_file() and (sub.name in names or (sub.suffix == ".ipynb" and _norm(sub.stem).startswith(_norm(assignment))))
            if wrong_folder or loose:
                where = expected.replace("<student>", entry.name)
                kind = "a folder named" if wrong_folder else "a notebook directly in the student's folder, named"
                out.append(Stray(str(sub.relative_to(course)), entry.name, f"{kind} {sub.name!r}; expected {where}"))
    return out


# ---------------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _worker_init() -> None:
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.simplefilter("ignore", SAWarning)


def _collect_task(course: str, assignment: str, student: str, spec: AssignmentSpec, sandboxed: bool) -> Outcome:
    return collect(Path(course), assignment, student, spec, sandboxed=sandboxed)


def run(course: Path, assignment: str, students: Sequence[str], spec: AssignmentSpec, *, sandboxed: bool = True,
        jobs: int = 1, finished: Callable[[Outcome], None] | None = None, runner: Any = None,
        db: str | None = None) -> dict[str, Outcome]:
    """Grade ``students`` (``jobs`` worker processes compute, this process records each outcome).

    A worker that dies costs nothing: the students it left are graded here afterwards. With a
    ``runner`` (:class:`course_grader.dispatch.DaskRunner`) the snapshots are read here and
    graded on its workers; exactly one outcome per student is recorded, as it arrives.
    """
    outcomes: dict[str, Outcome] = {}

    def done(o: Outcome) -> None:
        if o.student in outcomes:
            return  # a task that ran twice (its worker died after finishing): recorded once
        if o.results is not None:
            try:
                record(course, assignment, o, spec, db)
            except Exception as e:
                o.notes.append(f"recording {o.student} FAILED: {type(e).__name__}: {e}")
                o.results = None
        outcomes[o.student] = o
        if finished is not None:
            finished(o)

    left = list(students)
    if runner is not None:
        runner.run(course, assignment, left, spec, sandboxed, done)
        return {s: outcomes[s] for s in students}
    if jobs > 1 and len(left) > 1:
        left = _run_pool(course, assignment, left, spec, sandboxed, jobs, done)
    for s in left:
        done(_collect_task(str(course), assignment, s, spec, sandboxed))
    return {s: outcomes[s] for s in students}


def _run_pool(course: Path, assignment: str, students: list[str], spec: AssignmentSpec, sandboxed: bool,
              jobs: int, done: Callable[[Outcome], None]) -> list[str]:
    import multiprocessing as mp
    import warnings
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    left = set(students)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded fork" on 3.12+
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context(method), initializer=_worker_init)
    try:
        futures = {pool.submit(_collect_task, str(course), assignment, s, spec, sandboxed): s for s in students}
        for fut in as_completed(futures):
            o = fut.result()
            left.discard(o.student)
            done(o)
    except BrokenProcessPool:
        print(f"note: a grading worker stopped; grading the {len(left)} remaining submission(s) here", file=sys.stderr)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return [s for s in students if s in left]


# ---------------------------------------------------------------------------------------------
# Instructor actions and verification
# ---------------------------------------------------------------------------------------------

def record_extra_credit(course: Path, assignment: str, student: str, grade_id: str, points: float,
                        notebook: str | None = None, reason: str = "", db: str | None = None) -> None:
    """Set a grade cell's extra credit (an instructor action) and append it to the journal."""
    from nbgrader.api import Gradebook

    nb = notebook or assignment
    with Gradebook(gradebook_url(course, db)) as gb:
        g = gb.find_grade(grade_id, nb, assignment, student)
        g.extra_credit = float(points)
        gb.db.commit()
    entry = {"time": _dt.datetime.now(_dt.UTC).isoformat(), "action": "extra-credit",
             "assignment": assignment, "student": student, "notebook": nb, "grade_id": grade_id,
             "extra_credit": float(points), "reason": reason, "user": os.environ.get("USER", "")}
    with journal_path(course).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")


def verify(course: Path, assignment: str, db: str | None = None) -> list[str]:
    """Differences between the gradebook and the records: every auto score against the student's
    report (journal entry), every extra credit against the journal of instructor actions, and
    every submission row against a report. Empty when all agree."""
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course).resolve()
    credit: dict[tuple[str, str, str], float] = {}
    with contextlib.suppress(OSError):
        for line in journal_path(course).read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError, KeyError):
                e = json.loads(line)
                if e.get("action") == "extra-credit" and e["assignment"] == assignment:
                    credit[(e["student"], e["notebook"], e["grade_id"])] = float(e["extra_credit"])
    diffs: list[str] = []
    with Gradebook(gradebook_url(course, db)) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            return [f"{assignment} is not in the gradebook"]
        for sub in a.submissions:
            student = sub.student.id
            try:
                entry = json.loads(report_path(course, assignment, student).with_suffix(".json").read_text(encoding="utf-8"))
                results = {k: GradeResult.from_json(v) for k, v in entry["notebooks"].items()}
            except (OSError, ValueError, KeyError, TypeError):
                diffs.append(f"{student}: a gradebook row but no finished report (reports/{assignment}/{student}.json)")
                results = {}
            for nb in sub.notebooks:
                cells = {c.grade_id: c for c in results[nb.name].cells} if nb.name in results else {}
                for g in nb.grades:
                    where = f"{student} / {nb.name} / {g.name}"
                    if cells:
                        want = cells[g.name].score if g.name in cells else "(no such cell in the report)"
                        if want != g.auto_score and not (isinstance(want, float) and g.auto_score is not None
                                                         and abs(want - g.auto_score) < 1e-9):
                            diffs.append(f"{where}: auto score {g.auto_score} in the gradebook, {want} in the report")
                    expected = credit.get((student, nb.name, g.name))
                    if (g.extra_credit or 0.0) != (expected or 0.0):
                        diffs.append(f"{where}: extra credit {g.extra_credit} in the gradebook, "
                                     f"{expected if expected is not None else 'none'} in the journal of instructor actions")
    return diffs
