"""The ``course`` command: instructor workflow on top of nbgrader, and a self-check for students.

Instructor (run in the repository, or pass ``--course DIR``)::

    course generate                     # spec -> exercises/source/*/ (the source notebooks)
    course release --all                # nbgrader generate_assignment -> exercises/release/
    course autograde ch01_neuron --submissions DIR   # DIR/<student>/ch01_neuron/*.ipynb
                                        # every student's code inside bubblewrap (--no-sandbox:
                                        # without); --jobs N in parallel, --resume after a kill
    course feedback ch01_neuron         # HTML feedback -> exercises/feedback/
    course export --csv grades.csv      # student, assignment, per-task points, total, max, status
    course verify ch01_neuron           # gradebook vs reports and the journal (exit 1 on a difference)
    course extra-credit ch01_neuron STUDENT GRADE_ID POINTS   # recorded in journal.jsonl
    course similarity ch01_neuron       # copy signals for review (never a score)
    course demo                         # the whole walk-through on the demo class

Student::

    course check ch01_neuron.ipynb      # run the notebook's visible tests, print a table

Everything is idempotent: a re-run regenerates, re-grades and overwrites.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from course_grader.course import CourseNotFound, find_course

__all__ = ["main"]

_DB_TIMEOUT = 120.0  # seconds a gradebook write waits for another worker's transaction
_KERNEL_ARGS = ("--IPKernelApp.log_level=ERROR", "--HistoryManager.hist_file=:memory:")


# ---------------------------------------------------------------------------------------------
# nbgrader plumbing
# ---------------------------------------------------------------------------------------------

def _course_dir(arg: str | None) -> Path:
    try:
        return find_course(arg)
    except CourseNotFound as e:
        raise SystemExit(f"course: {e}") from None


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block (a kernel started inside inherits them)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _in_course(course: Path) -> Iterator[None]:
    """cwd = the course, and this interpreter's bin/ on PATH (nbgrader runs `alembic` from it)."""
    from sqlalchemy.exc import SAWarning

    old_cwd, old_path = Path.cwd(), os.environ.get("PATH", "")
    os.chdir(course)
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + old_path
    try:
        with warnings.catch_warnings():
            # nbgrader's own ORM use triggers SQLAlchemy warnings (a RuntimeWarning subclass,
            # which the test suite turns into errors); they are harmless for the gradebook
            warnings.simplefilter("ignore", SAWarning)
            yield
    finally:
        os.chdir(old_cwd)
        os.environ["PATH"] = old_path


def _api(course: Path, db: str | None = None) -> Any:
    import logging

    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    from course_grader import batch

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    # --db, else the config's db_url, else gradebook.db; a SQLite writer waits for another's lock
    config.CourseDirectory.db_url = batch.gradebook_url(course, db)
    # the kernel's start-up warnings (TCP without encryption, …) would fill the terminal
    config.Execute.extra_arguments = list(_KERNEL_ARGS)
    api = NbGraderAPI(config=config)
    api.log.setLevel(logging.ERROR)
    return api


def _check_result(what: str, result: dict[str, Any]) -> bool:
    if result.get("success"):
        return True
    print(f"  {what} FAILED", file=sys.stderr)
    text = (result.get("error") or "") + "\n" + (result.get("log") or "")
    for line in text.strip().splitlines()[-15:]:
        print("    " + line, file=sys.stderr)
    return False


def _assignments(course: Path) -> list[str]:
    return sorted(p.name for p in (course / "source").iterdir() if p.is_dir() and not p.name.startswith("."))


def _students(course: Path, assignment: str) -> list[str]:
    root = course / "submitted"
    if not root.exists():
        return []
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir())


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

def cmd_generate(args: argparse.Namespace) -> int:
    from course_grader import generate

    course = ["--course", args.course] if args.course else []
    return generate.main([*args.assignments, *course, *(["--check"] if args.check else [])])


def cmd_release(args: argparse.Namespace) -> int:
    course = _course_dir(args.course)
    names = _assignments(course) if args.all else args.assignments
    if not names:
        print("course release: name an assignment or pass --all", file=sys.stderr)
        return 2
    ok = True
    with _in_course(course):
        api = _api(course, getattr(args, "db", None))
        for a in names:
            t0 = time.perf_counter()
            good = _check_result(f"release {a}", api.generate_assignment(a, force=True))
            ok &= good
            if good:
                print(f"released {a} -> {course / 'release' / a} ({time.perf_counter() - t0:.1f} s)")
    return 0 if ok else 1


def _import_submissions(course: Path, src: Path, assignment: str) -> list[str]:
    """Copy SRC/<student>/<assignment>/ into the course's submitted/ (replacing older copies)."""
    students = []
    for sdir in sorted(p for p in src.iterdir() if (p / assignment).is_dir()):
        dest = course / "submitted" / sdir.name / assignment
        if dest.resolve() != (sdir / assignment).resolve():
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(sdir / assignment, dest, symlinks=True)  # a link is refused when graded, never followed
        students.append(sdir.name)
    return students


def default_jobs(n_submissions: int) -> int:
    """Parallel grading workers: the CPUs this process may use, at most one per submission."""
    from course_grader import batch

    return batch.default_jobs(n_submissions)


_GRADED_NOW: list[str] = []  # the students the last autograde() graded (the rest were resumed)


def autograde(
    course: Path,
    assignment: str,
    students: Sequence[str] | None = None,
    progress: bool = True,
    *,
    sandboxed: bool = True,
    resume: bool = False,
    jobs: int | None = None,
    cluster: str | None = None,
    db: str | None = None,
) -> dict[str, Any]:
    """Autograde ``assignment`` for ``students`` (default: every submission); student -> outcome.

    Each submission's notebook bytes are read once and graded by
    :func:`course_grader.submission.grade_bytes` inside bubblewrap (``sandboxed=False``: without
    it); no nbgrader kernel runs. ``jobs`` worker processes (default :func:`default_jobs`)
    compute, this process alone writes the autograded notebooks, the gradebook, the reports and
    the journal entries (:mod:`course_grader.batch`). ``resume`` skips students whose finished
    journal entry matches the same notebook bytes and assignment. Outcomes of skipped students
    are None.

    ``cluster`` (``tcp://HOST:8786`` or ``local``) grades on Dask workers instead
    (:mod:`course_grader.dispatch`); ``db`` is the gradebook's URL (default: the course's).
    The gradebook and the cluster (every worker's grader and bubblewrap) are checked before
    anything is graded or written.

    Raises:
        course_grader.bwrap.SandboxUnavailable: ``sandboxed`` and bubblewrap cannot run here.
        course_grader.gradebook.GradebookUnreachable: the gradebook cannot be opened.
        course_grader.dispatch.ClusterError: the scheduler cannot be reached (before grading) or
            went away (the outcomes recorded so far stand: ``resume`` finishes the batch).
        course_grader.dispatch.EnvironmentMismatch: a worker has another grader or no bubblewrap.
    """
    from tqdm.auto import tqdm

    from course_grader import batch, bwrap, dispatch, gradebook, submission

    if sandboxed:
        bwrap.require()
    course = Path(course).resolve()
    students = list(students if students is not None else _students(course, assignment))
    url = batch.gradebook_url(course, db)
    gradebook.check_reachable(url)
    runner = dispatch.DaskRunner(cluster, jobs) if cluster else None
    with _in_course(course), contextlib.ExitStack() as stack:
        if runner is not None:
            stack.callback(runner.close)
            runner.connect(need_bwrap=sandboxed)
        if not (course / "release" / assignment).exists() or not gradebook.has_assignment(url, assignment):
            # the gradebook learns the assignment's cells when it is released
            print(f"note: {assignment} was never released to the gradebook {gradebook.display_url(url)}; releasing it first")
            _check_result(f"release {assignment}", _api(course, db).generate_assignment(assignment, force=True))
        spec = submission.AssignmentSpec.from_gradebook(url, assignment)
        todo = [s for s in students if not (resume and batch.already_graded(course, assignment, s, spec))]
        jobs = default_jobs(len(todo)) if jobs is None else max(1, min(int(jobs), max(1, len(todo))))
        _GRADED_NOW.clear()
        bar = tqdm(total=len(students), initial=len(students) - len(todo), desc=f"autograde {assignment}",
                   unit="submission", disable=not progress)

        def finished(o: Any) -> None:
            _GRADED_NOW.append(o.student)
            for line in o.notes:
                bar.write(line, file=sys.stderr)
            bar.update(1)

        try:
            done: dict[str, Any] = dict(batch.run(course, assignment, todo, spec, sandboxed=sandboxed, jobs=jobs,
                                                  finished=finished, runner=runner, db=db))
        finally:
            bar.close()
    return {s: done.get(s) for s in students}


def _not_graded_students(course: Path, assignment: str, strays: Sequence[Any]) -> list[str]:
    """Students whose only trace of the assignment is in the wrong place (they get a row saying so)."""
    return sorted({s.student for s in strays if s.student is not None})


def cmd_autograde(args: argparse.Namespace) -> int:
    from course_grader import batch, bwrap, dispatch, gradebook, submission

    course = _course_dir(args.course)
    if args.jobs is not None and args.jobs < 1:
        print("course autograde: --jobs must be at least 1", file=sys.stderr)
        return 2
    sandboxed = not args.no_sandbox
    if sandboxed and bwrap.problem():
        print(f"course autograde: refusing to run students' code without a sandbox: {bwrap.problem()}", file=sys.stderr)
        return 2
    if not sandboxed:
        print("WARNING: --no-sandbox: the students' code runs WITHOUT bubblewrap, with your permissions "
              "(the grading is otherwise the same; every report says so)", file=sys.stderr)
    if args.submissions:
        src = Path(args.submissions).resolve()
        if not src.is_dir():
            print(f"course autograde: {src} is not a directory", file=sys.stderr)
            return 2
        students = _import_submissions(course, src, args.assignment)
    else:
        students = _students(course, args.assignment)
    if args.student:
        students = [s for s in students if s in args.student]
    t0 = time.perf_counter()
    try:
        done = autograde(course, args.assignment, students, progress=not args.quiet, sandboxed=sandboxed,
                         resume=args.resume, jobs=args.jobs, cluster=args.cluster, db=args.db) if students else {}
    except (gradebook.GradebookUnreachable, dispatch.ClusterError, dispatch.EnvironmentMismatch) as e:
        print(f"course autograde: {e}", file=sys.stderr)
        if isinstance(e, dispatch.ClusterError) and _GRADED_NOW:
            print(f"{len(_GRADED_NOW)} result(s) were recorded; run the same command with --resume to grade the rest",
                  file=sys.stderr)
        return 1
    spec = submission.AssignmentSpec.from_gradebook(batch.gradebook_url(course, args.db), args.assignment)
    strays = [] if args.student else batch.strays(course, args.assignment, spec)
    for student in _not_graded_students(course, args.assignment, strays):
        if student in done:
            continue
        why = "; ".join(s.why for s in strays if s.student == student)
        results = {nb: submission.not_graded(spec, nb, "not graded", why, sandboxed=sandboxed) for nb in spec.notebooks}
        batch.record(course, args.assignment, batch.Outcome(student, results), spec, args.db)
    dt = time.perf_counter() - t0
    skipped = len(done) - len(_GRADED_NOW)
    graded = [s for s, o in done.items() if o is None or o.graded]
    total = len(done) + len(strays)
    print(f"autograded {len(graded)}/{total} submissions of {args.assignment} in {dt:.1f} s"
          + (f" ({skipped} already graded, skipped by --resume)" if skipped else "")
          + ("" if sandboxed else " WITHOUT the sandbox (--no-sandbox)"))
    not_graded = [(s, o) for s, o in done.items() if o is not None and not o.graded]
    if not_graded or strays:
        print(f"not graded ({len(not_graded) + len(strays)}):", file=sys.stderr)
        for s, o in not_graded:
            why = "grading failed (see above)" if o.results is None else "; ".join(
                f"{r.status}: {r.problems[0] if r.problems else ''}" for r in o.results.values() if r.status not in ("ok", "cells deleted"))
            print(f"  {s}: {why}", file=sys.stderr)
        for st in strays:
            print(f"  {st.path}: {st.why}", file=sys.stderr)
    flagged = [(s, r.deleted) for s, o in done.items() if o is not None and o.results for r in o.results.values() if r.deleted]
    for s, deleted in flagged:
        print(f"  {s}: graded cells deleted from the submission: {', '.join(deleted)} (restored, flagged in the report)",
              file=sys.stderr)
    if not done and not strays:
        print(f"no submissions of {args.assignment} found (expected submitted/<student>/{args.assignment}/)")
        return 1
    return 0 if all(o is None or o.results is not None for o in done.values()) else 1


def cmd_feedback(args: argparse.Namespace) -> int:
    course = _course_dir(args.course)
    with _in_course(course):
        api = _api(course, getattr(args, "db", None))
        ok = _check_result(f"feedback {args.assignment}", api.generate_feedback(args.assignment, force=True))
    if ok:
        n = len(list((course / "feedback").glob(f"*/{args.assignment}/*.html")))
        print(f"feedback for {args.assignment}: {n} HTML file(s) under {course / 'feedback'}")
    # the trusted report of every student, also those whose notebook could not be read
    reports = sorted((course / "reports" / args.assignment).glob("*.txt"))
    for rep in reports:
        dest = course / "feedback" / rep.stem / args.assignment / "grading_report.txt"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(rep, dest)
    if reports:
        print(f"grading reports for {args.assignment}: {len(reports)} (feedback/<student>/{args.assignment}/grading_report.txt)")
    return 0 if ok or reports else 1


def _task_of(grade_name: str) -> str:
    for suffix in ("-tests", "-hidden"):
        if grade_name.endswith(suffix):
            return grade_name[: -len(suffix)]
    return grade_name


def _statuses(course: Path, assignment: str, student: str) -> tuple[list[str], list[str]]:
    """A student's notebook statuses and deleted cells, from the finished report; ["not graded"] without one."""
    from course_grader import batch

    try:
        entry = json.loads(batch.report_path(course, assignment, student).with_suffix(".json").read_text(encoding="utf-8"))
        nbs = entry["notebooks"].values()
        return [str(n["status"]) for n in nbs], [str(c["grade_id"]) for n in nbs for c in n["cells"] if c.get("deleted")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ["not graded"], []


def gradebook_rows(course: Path, assignments: Sequence[str] | None = None,
                   db: str | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Per (student, assignment): points per task (visible + hidden cells summed) in notebook order,
    extra credit, total, max, and a status (ok / cells deleted / notebook renamed / unreadable /
    not graded / ungraded written answers). A written answer nobody has graded yet is empty."""
    from nbgrader.api import Gradebook, MissingEntry

    from course_grader import batch

    rows: list[dict[str, Any]] = []
    columns: list[str] = []
    with Gradebook(batch.gradebook_url(course, db)) as gb:
        names = [a.name for a in gb.assignments if not assignments or a.name in assignments]
        multi = len(names) > 1
        for a in sorted(names):
            order = {c.name: i for nb in gb.find_assignment(a).notebooks for i, c in enumerate(nb.source_cells)}
            for student in sorted(s.id for s in gb.students):
                try:
                    sub = gb.find_submission(a, student)
                except MissingEntry:
                    continue
                row: dict[str, Any] = {"student": student, "assignment": a}
                total = maximum = extra = 0.0
                ungraded = False
                for nb in sub.notebooks:
                    for g in sorted(nb.grades, key=lambda g: (order.get(g.name, len(order)), g.name)):
                        col = f"{a}/{_task_of(g.name)}" if multi else _task_of(g.name)
                        if col not in columns:
                            columns.append(col)
                        score = g.manual_score if g.manual_score is not None else g.auto_score
                        if score is None:  # a written answer waiting for a person: empty, not 0
                            ungraded = True
                            row[col] = ""
                        elif row.get(col) != "":
                            row[col] = round(float(row.get(col, 0.0)) + score, 4)
                        total += score or 0.0
                        extra += g.extra_credit or 0.0
                        maximum += g.max_score
                statuses, deleted = _statuses(course, a, student)
                bad = [st for st in dict.fromkeys(statuses) if st != "ok"]
                row["extra_credit"] = round(extra, 4)
                row["total"] = round(total + extra, 4)
                row["max"] = round(maximum, 4)
                row["status"] = "; ".join(bad) if bad else ("ungraded written answers" if ungraded else "ok")
                row["deleted_cells"] = " ".join(deleted)
                rows.append(row)
    return ["student", "assignment", *columns, "extra_credit", "total", "max", "status", "deleted_cells"], rows


def cmd_export(args: argparse.Namespace) -> int:
    course = _course_dir(args.course)
    header, rows = gradebook_rows(course, args.assignment, getattr(args, "db", None))
    out = Path(args.csv)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, restval="")
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {len(rows)} row(s) to {out}")
    # on screen one table per assignment (the CSV has every column): narrower, and a task
    # column is not blank for every other row
    for a in sorted({r["assignment"] for r in rows}):
        mine = [r for r in rows if r["assignment"] == a]
        cols = [h for h in header[2:-5] if any(h in r for r in mine)]
        short = {h: h.split("/", 1)[-1] for h in cols}
        print(f"\n{a}  (points per task; a blank written answer waits to be graded by hand)")
        _print_table(["student", *short.values(), "total", "max", "status"],
                     [{"student": r["student"], **{short[h]: r.get(h, "") for h in cols},
                       "total": r["total"], "max": r["max"],
                       "status": r["status"] + (f" ({r['deleted_cells']})" if r["deleted_cells"] else "")} for r in mine])
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from course_grader import batch

    course = _course_dir(args.course)
    diffs = batch.verify(course, args.assignment, args.db)
    for d in diffs:
        print(d)
    print(f"verify {args.assignment}: " + (f"{len(diffs)} difference(s) between the gradebook and the reports/journal"
                                           if diffs else "the gradebook agrees with the reports and the journal"))
    return 1 if diffs else 0


def cmd_similarity(args: argparse.Namespace) -> int:
    from course_grader import similarity

    course = _course_dir(args.course)
    matches, notes = similarity.scan_course(course, args.assignment, threshold=args.threshold, min_tokens=args.min_tokens)
    text = similarity.render(matches, notes, args.assignment, args.threshold)
    out = course / "reports" / args.assignment / "similarity.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(similarity.to_json(matches), encoding="utf-8")
    print(text, end="")
    print(f"(written to {out}; grades are not changed)")
    return 0


def cmd_extra_credit(args: argparse.Namespace) -> int:
    from nbgrader.api import MissingEntry

    from course_grader import batch

    course = _course_dir(args.course)
    try:
        batch.record_extra_credit(course, args.assignment, args.student, args.grade_id, args.points,
                                  notebook=args.notebook, reason=args.reason or "", db=args.db)
    except MissingEntry as e:
        print(f"course extra-credit: no such grade ({e})", file=sys.stderr)
        return 2
    print(f"extra credit {args.points:g} for {args.student} / {args.assignment} / {args.grade_id} "
          f"(recorded in {batch.journal_path(course)})")
    return 0


def _print_table(header: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    cells = [[str(h) for h in header]] + [[_cell(r.get(h, "")) for h in header] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    # numbers right-aligned (a blank means no points for that task), text left-aligned
    numeric = [all(isinstance(r.get(h, ""), int | float) or r.get(h, "") == "" for r in rows) for h in header]
    for k, row in enumerate(cells):
        print("  ".join(c.rjust(w) if numeric[i] else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if k == 0:
            print("  ".join("-" * w for w in widths))


def _cell(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# ---------------------------------------------------------------------------------------------
# course check: the student's self-check
# ---------------------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def cell_errors(nb: Any) -> list[str]:
    """What went wrong in the code cells that are not test cells, as the student should read it:
    the cell's number and first line, then the traceback's end (for a ``SyntaxError``: the line,
    its number and the caret). A test cell's error is its own report."""
    found = []
    for i, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            lines = _ANSI.sub("", "\n".join(o.get("traceback", []))).splitlines()
            lines = [ln for ln in lines if ln.strip() and not set(ln.strip()) <= {"-"}]
            first = next((ln for ln in cell.source.splitlines() if ln.strip()), "")
            head = f"cell {i} ({first.strip()[:60]}) stopped with {o.get('ename')}: {o.get('evalue')}"
            found.append("\n".join([head, *("    " + ln for ln in lines[-10:])]))
    return found


def check_notebook(path: Path, timeout: int = 600, errors: list[str] | None = None) -> list[dict[str, Any]]:
    """Execute a notebook top to bottom and score its test cells as nbgrader would.

    Returns one dict per grade cell: ``task``, ``cell``, ``score``, ``max``, ``hidden`` (True for
    a hidden-test cell without its tests, as in a release notebook) and ``report`` (its output).
    ``errors``, when given, receives :func:`cell_errors` of the executed notebook.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbgrader.utils import determine_grade

    nb = nbformat.read(path, as_version=4)
    # the kernel's grader finds the course (chapter 9's reference) from the notebook's folder
    env = {}
    with contextlib.suppress(CourseNotFound):
        env["COURSE_DIR"] = str(find_course(start=path.parent.resolve()))
    with tempfile.TemporaryDirectory() as tmp, _environ(env):
        client = NotebookClient(
            nb, timeout=timeout, allow_errors=True, kernel_name="python3", extra_arguments=list(_KERNEL_ARGS),
            resources={"metadata": {"path": str(path.parent.resolve())}},
        )
        del tmp
        client.execute()
    if errors is not None:
        errors.extend(cell_errors(nb))
    results = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        hidden = "grading.grade(" not in cell.source
        score, maximum = determine_grade(cell)
        task_id = cell.source.split('grading.grade("', 1)[-1].split('"', 1)[0] if not hidden else ""
        report = "".join(
            o.get("text", "") if o.output_type == "stream" else
            (f"{o.ename}: {o.evalue}" if o.output_type == "error" else "")
            for o in cell.outputs
        )
        results.append({
            "task": _task_of(meta["grade_id"]),
            "task_id": task_id,
            "cell": meta["grade_id"],
            "score": None if hidden else score,
            "max": maximum,
            "hidden": hidden,
            "report": report,
        })
    return results


def _check_status(r: dict[str, Any]) -> str:
    """One word or two for the table: what the student should do about this test cell."""
    if r["score"] is None:
        return ""
    report = r["report"]
    if r["score"] >= r["max"]:
        return "passed"
    if "[TODO]" in report and "[FAIL]" not in report and "[PASS]" not in report:
        return "not implemented yet"
    if not report.strip():
        return "did not run (an error in an earlier cell?)"
    return "some checks failed" if r["score"] > 0 else "failed"


def cmd_check(args: argparse.Namespace) -> int:
    from course_grader import grading

    path = Path(args.notebook)
    if not path.exists():
        print(f"course check: no such notebook {path}", file=sys.stderr)
        return 2
    print(f"running {path} top to bottom in a fresh kernel (usually 5 to 30 seconds) ...", flush=True)
    t0 = time.perf_counter()
    errors: list[str] = []
    results = check_notebook(path, errors=errors)
    if errors:
        print("\nyour notebook stopped with an error outside the test cells (fix it first: the code after it "
              "did not run, so tests that need it fail):\n")
        for e in errors:
            print(e + "\n")
    header = ["task", "score", "max", "result"]
    rows = []
    got = possible = hidden_pts = 0.0
    for r in results:
        if r["hidden"]:
            hidden_pts += r["max"]
            continue
        task = grading.TASKS.get(r["task_id"])
        rows.append({"task": task.title if task else r["task"], "score": float(r["score"]),
                     "max": float(r["max"]), "result": _check_status(r)})
        got += r["score"]
        possible += r["max"]
    if args.verbose:
        for r in results:
            if not r["hidden"] and r["score"] < r["max"]:
                print(r["report"].rstrip() or f"{r['task']}: the test cell printed nothing (did an earlier cell fail?)")
                print()
    _print_table(header, rows)
    print(f"\nvisible tests: {got:g} / {possible:g} points ({time.perf_counter() - t0:.0f} s)")
    if hidden_pts:
        print(f"hidden tests worth {hidden_pts:g} more points run when your notebook is graded.")
    if got < possible and not args.verbose:
        print("run with -v to see what failed, or read the output of the test cells in the notebook")
    return 0 if got == possible else 1


# ---------------------------------------------------------------------------------------------
# course demo: the instructor walk-through on exercises/examples
# ---------------------------------------------------------------------------------------------

def cmd_demo(args: argparse.Namespace) -> int:
    repo_course = _course_dir(args.course)
    examples = repo_course / "examples" / "submitted"
    work = Path(args.workdir).resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="course-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    demo_assignments = sorted({p.parent.name for p in examples.glob("*/*/*.ipynb")})
    print(f"demo class: {len(list(examples.iterdir()))} students, assignments {', '.join(demo_assignments)}")
    print(f"working copy of the course: {work}\n")
    shutil.copy2(repo_course / "nbgrader_config.py", work / "nbgrader_config.py")
    for a in demo_assignments:
        dest = work / "source" / a
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(repo_course / "source" / a, dest)
    print("1. release (nbgrader generate_assignment)")
    if cmd_release(argparse.Namespace(course=str(work), all=False, assignments=demo_assignments)):
        return 1
    print("\n2. collect the submissions and autograde them")
    for a in demo_assignments:
        students = _import_submissions(work, examples, a)
        t0 = time.perf_counter()
        done = autograde(work, a, students, progress=not args.quiet)
        graded = sum(1 for o in done.values() if o is not None and o.graded)
        print(f"   {a}: {graded}/{len(done)} graded in {time.perf_counter() - t0:.1f} s")
    print("\n3. feedback (HTML, one file per student and assignment)")
    for a in demo_assignments:
        cmd_feedback(argparse.Namespace(course=str(work), assignment=a))
    print("\n4. export the gradebook")
    rc = cmd_export(argparse.Namespace(course=str(work), csv=str(work / "grades.csv"), assignment=None))
    example = sorted((work / "autograded").glob("*/*/*.ipynb"))
    if example:
        print(f"\nautograded notebooks (with each test cell's report): {work / 'autograded'}")
        _show_one_report(example)
    return rc


def _show_one_report(notebooks: Sequence[Path]) -> None:
    """Print the first failing test report found, as a student would read it."""
    for path in notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] != "code" or not meta.get("grade"):
                continue
            text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            if "[FAIL]" in text:
                student = path.parent.parent.name
                print(f"\nfor example, {student} / {path.parent.name} / {meta['grade_id']}:\n")
                print(text.rstrip())
                return


# ---------------------------------------------------------------------------------------------
# argument parsing
# ---------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str, func: Any, course: bool = True) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_, description=help_)
        if course:
            sp.add_argument("--course", metavar="DIR", help="nbgrader course directory (default: the working directory or a parent with nbgrader_config.py, or its exercises/; or $COURSE_DIR)")
        sp.set_defaults(func=func)
        return sp

    sp = add("generate", "generate the source notebooks from the course's spec/ (python -m course_grader.generate)", cmd_generate)
    sp.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    sp.add_argument("--check", action="store_true", help="exit 1 if a committed notebook is stale")

    sp = add("release", "nbgrader generate_assignment: source/ -> release/ (solutions and hidden tests removed)", cmd_release)
    sp.add_argument("assignments", nargs="*", metavar="ASSIGNMENT")
    sp.add_argument("--all", action="store_true", help="every assignment in source/")

    sp = add("autograde", "autograde every submission of an assignment (submitted/<student>/<assignment>/)", cmd_autograde)
    sp.add_argument("assignment", metavar="ASSIGNMENT")
    sp.add_argument("--submissions", metavar="DIR", help="copy DIR/<student>/<assignment>/ into the course first")
    sp.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable)")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.add_argument("--resume", action="store_true", help="skip submissions whose trusted grading finished (after a crash)")
    sp.add_argument("--no-sandbox", action="store_true", help="the same grading without bubblewrap: trusted classes or machines without user namespaces (said in every report; see exercises/SECURITY.md)")
    sp.add_argument("--jobs", "-j", type=int, metavar="N", help="grade N submissions at once (default: the number of CPUs)")
    sp.add_argument("--cluster", metavar="ADDRESS", help="grade on a Dask cluster: tcp://HOST:8786 (a `dask scheduler`), or `local` for one on this machine (exercises/README.md, 'Grading a large class')")

    sp = add("feedback", "generate HTML feedback for every autograded submission of an assignment", cmd_feedback)
    sp.add_argument("assignment", metavar="ASSIGNMENT")

    sp = add("export", "export the gradebook: student, assignment, points per task, total, max", cmd_export)
    sp.add_argument("--csv", required=True, metavar="FILE")
    sp.add_argument("--assignment", action="append", metavar="ASSIGNMENT", help="only this assignment (repeatable)")

    sp = add("verify", "check the gradebook: auto scores against the reports, extra credit against the journal (exit 1 on a difference)", cmd_verify)
    sp.add_argument("assignment", metavar="ASSIGNMENT")

    sp = add("similarity", "copy signals for review: submissions whose graded functions match the reference or each other (token-level)", cmd_similarity)
    sp.add_argument("assignment", metavar="ASSIGNMENT")
    sp.add_argument("--threshold", type=float, default=0.8, help="flag pairs at or above this share of fingerprints (default 0.8)")
    sp.add_argument("--min-tokens", type=int, default=40, help="do not compare functions shorter than this (default 40)")

    sp = add("extra-credit", "give extra credit on one grade cell, recorded in the course's journal.jsonl", cmd_extra_credit)
    sp.add_argument("assignment", metavar="ASSIGNMENT")
    sp.add_argument("student", metavar="STUDENT")
    sp.add_argument("grade_id", metavar="GRADE_ID")
    sp.add_argument("points", type=float, metavar="POINTS")
    sp.add_argument("--notebook", metavar="NAME", help="the notebook (default: named like the assignment)")
    sp.add_argument("--reason", metavar="TEXT")

    for name in ("release", "autograde", "feedback", "export", "verify", "extra-credit"):
        sub.choices[name].add_argument("--db", metavar="URL", help=(
            "the gradebook: postgresql+psycopg://USER:PASSWORD@HOST:5432/DB or sqlite:///FILE (default: "
            "CourseDirectory.db_url in nbgrader_config.py, else gradebook.db in the course)"))

    sp = add("check", "students: run a notebook's visible tests and print a table of scores", cmd_check, course=False)
    sp.add_argument("notebook", metavar="NOTEBOOK")
    sp.add_argument("-v", "--verbose", action="store_true", help="print the report of every test that lost points")

    sp = add("demo", "instructor walk-through on the demo class in exercises/examples", cmd_demo)
    sp.add_argument("--workdir", metavar="DIR", help="where to build the demo course (default: a new temporary folder)")
    sp.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``course`` console script."""
    args = _parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
