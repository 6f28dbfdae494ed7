"""The ``course`` command: instructor workflow on top of nbgrader, and a self-check for students.

Instructor (run in the repository, or pass ``--course DIR``)::

    course generate                     # spec -> exercises/source/*/ (the source notebooks)
    course release --all                # nbgrader generate_assignment -> exercises/release/
    course autograde ch01_neuron --submissions DIR   # DIR/<student>/ch01_neuron/*.ipynb
                                        # (--jobs N in parallel, --resume after a kill)
    course feedback ch01_neuron         # HTML feedback -> exercises/feedback/
    course export --csv grades.csv      # student, assignment, per-task points, total, max
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


def _api(course: Path) -> Any:
    import logging

    from nbgrader.apps import NbGraderAPI
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    url = config.CourseDirectory.get("db_url") or "sqlite:///" + str(course / "gradebook.db")
    if url.startswith("sqlite:///") and "?" not in url:
        # parallel workers share the SQLite gradebook: wait for a lock instead of failing
        config.CourseDirectory.db_url = url + f"?timeout={_DB_TIMEOUT:g}"
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
        api = _api(course)
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
            shutil.copytree(sdir / assignment, dest)
        students.append(sdir.name)
    return students


def default_jobs(n_submissions: int) -> int:
    """Parallel grading workers: the CPUs this process may use, at most one per submission."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, n_submissions))


_GRADED_NOW: list[str] = []  # the students the last autograde() graded (the rest were resumed)

# The worker's state: one nbgrader API per process (loading the config and nbgrader is not free).
_WORKER: dict[str, Any] = {}


def _worker_init(course: str, trusted: bool) -> None:
    """Set up a grading worker process: cwd = the course, nbgrader's API, quiet warnings."""
    from sqlalchemy.exc import SAWarning

    os.chdir(course)
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    warnings.simplefilter("ignore", SAWarning)
    if trusted:
        os.environ[_DEFERRED] = "1"
    _WORKER.clear()
    _WORKER.update(course=course, api=_api(Path(course)))


_DEFERRED = "COURSE_GRADING_DEFERRED"


@contextlib.contextmanager
def _deferred(on: bool) -> Iterator[None]:
    """While on, test cells in nbgrader's kernel leave the grading to the trusted pass (their
    scores and outputs are replaced by it anyway): the checks do not run twice."""
    old = os.environ.get(_DEFERRED)
    if on:
        os.environ[_DEFERRED] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(_DEFERRED, None)
        else:
            os.environ[_DEFERRED] = old


def _grade_one(assignment: str, student: str, trusted: bool) -> tuple[str, bool, list[str]]:
    """nbgrader's autograde of one submission, then the trusted pass; never raises.

    Runs in a worker (after :func:`_worker_init`) or in-process. Returns the student, success,
    and the messages to print (the parent prints them, so they do not tear the progress bar).
    """
    from course_grader import sandbox

    api, course = _WORKER["api"], Path(_WORKER["course"])
    notes: list[str] = []
    # the old journal goes first: a run killed between nbgrader's write and the trusted pass (or
    # a --no-sandbox run) must not look finished to --resume; the old report goes with it
    journal = sandbox.report_path(course, assignment, student)
    for stale in (journal.with_suffix(".json"), journal):
        with contextlib.suppress(OSError):
            stale.unlink()
    try:
        res = api.autograde(assignment, student, force=True)
    except Exception as e:  # nbgrader itself failed on this submission: the batch goes on
        res = {"success": False, "error": f"{type(e).__name__}: {e}", "log": ""}
    if not trusted:
        ok = bool(res.get("success"))
        if not ok:
            notes.append(f"autograde {assignment} for {student} FAILED")
            text = (res.get("error") or "") + "\n" + (res.get("log") or "")
            notes.extend("    " + line for line in text.strip().splitlines()[-15:])
        return student, ok, notes
    if not res.get("success"):
        text = (res.get("error") or res.get("log") or "").strip().splitlines()
        notes.append(f"note: nbgrader could not run {student}'s notebook ({text[-1] if text else 'no log'}); "
                     "the trusted pass grades it")
    try:
        sandbox.trusted_autograde(course, assignment, student, nbgrader_ok=bool(res.get("success")))
        return student, True, notes
    except Exception as e:
        notes.append(f"trusted grading of {student} FAILED: {type(e).__name__}: {e}")
        return student, False, notes


def autograde(
    course: Path,
    assignment: str,
    students: Sequence[str] | None = None,
    progress: bool = True,
    *,
    trusted: bool = True,
    resume: bool = False,
    jobs: int | None = None,
) -> dict[str, bool]:
    """Autograde ``assignment`` for ``students`` (default: every submission); student -> success.

    After nbgrader, the trusted pass (:func:`course_grader.sandbox.trusted_autograde`) grades the
    submission again outside the kernel and its scores become the score of record; see
    exercises/SECURITY.md. One bad submission never stops the batch. ``resume`` skips students
    whose trusted result is complete for the same files (after a crash or a kill). ``jobs``
    worker processes (default :func:`default_jobs`) grade disjoint students at once; they share
    the SQLite gradebook, whose writes are short transactions that wait for each other.
    """
    from tqdm.auto import tqdm

    from course_grader import sandbox

    students = list(students if students is not None else _students(course, assignment))
    done: dict[str, bool] = {}
    course = Path(course).resolve()
    with _in_course(course):
        api = _api(course)
        if not (course / "release" / assignment).exists():
            # autograde needs the assignment in the gradebook; generate_assignment puts it there
            print(f"note: {assignment} was never released here; releasing it first")
            _check_result(f"release {assignment}", api.generate_assignment(assignment, force=True))
        todo = [s for s in students if not (resume and trusted and sandbox.already_graded(course, assignment, s))]
        done.update({s: True for s in students if s not in todo})
        jobs = default_jobs(len(todo)) if jobs is None else max(1, min(int(jobs), max(1, len(todo))))
        bar = None

        _GRADED_NOW.clear()

        def finished(student: str, ok: bool, notes: list[str]) -> None:
            done[student] = ok
            _GRADED_NOW.append(student)
            for line in notes:
                (bar.write if bar is not None else print)(line, file=sys.stderr)
            if bar is not None:
                bar.update(1)

        pool = _pool(jobs, course, trusted) if jobs > 1 else None
        # the bar starts after the workers are forked (its monitor thread must not be copied)
        bar = tqdm(total=len(students), initial=len(students) - len(todo), desc=f"autograde {assignment}",
                   unit="submission", disable=not progress)
        try:
            left = list(todo)
            if pool is not None:
                left = _run_pool(pool, assignment, todo, trusted, finished)
            if left:  # one worker (or a pool that broke): grade here, one after the other
                _WORKER.update(course=str(course), api=api)
                with _deferred(trusted):
                    for s in left:
                        finished(*_grade_one(assignment, s, trusted))
        finally:
            bar.close()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
    return {s: done[s] for s in students}


def _pool(jobs: int, course: Path, trusted: bool) -> Any:
    """A pool of ``jobs`` grading workers; forked where possible (nbgrader and NumPy already loaded)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context(method),
                               initializer=_worker_init, initargs=(str(course), trusted))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded fork" on 3.12+
        # a forking pool starts all its workers at the first task: now, before the progress
        # bar's monitor thread exists
        pool.submit(os.getpid).result()
    return pool


def _run_pool(pool: Any, assignment: str, students: Sequence[str], trusted: bool, finished: Any) -> list[str]:
    """Grade ``students`` on the pool as they complete; the students a broken pool left undone."""
    from concurrent.futures import as_completed
    from concurrent.futures.process import BrokenProcessPool

    futures = {pool.submit(_grade_one, assignment, s, trusted): s for s in students}
    left = set(students)
    try:
        for fut in as_completed(futures):
            try:
                student, ok, notes = fut.result()
            except BrokenProcessPool:
                raise
            except Exception as e:  # pragma: no cover - _grade_one does not raise
                student, ok, notes = futures[fut], False, [f"grading {futures[fut]} FAILED: {e}"]
            left.discard(student)
            finished(student, ok, notes)
    except BrokenProcessPool:
        # a worker died (killed, out of memory): the rest are graded in this process
        print(f"note: a grading worker stopped; grading the {len(left)} remaining submission(s) here",
              file=sys.stderr)
    return [s for s in students if s in left]


def cmd_autograde(args: argparse.Namespace) -> int:
    course = _course_dir(args.course)
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
    if not students:
        print(f"no submissions of {args.assignment} found (expected submitted/<student>/{args.assignment}/)")
        return 1
    t0 = time.perf_counter()
    if args.jobs is not None and args.jobs < 1:
        print("course autograde: --jobs must be at least 1", file=sys.stderr)
        return 2
    done = autograde(course, args.assignment, students, progress=not args.quiet,
                     trusted=not args.no_sandbox, resume=args.resume, jobs=args.jobs)
    dt = time.perf_counter() - t0
    skipped = len(done) - len(_GRADED_NOW)
    print(f"autograded {sum(done.values())}/{len(done)} submissions of {args.assignment} in {dt:.1f} s"
          + (f" ({skipped} already graded, skipped by --resume)" if skipped else ""))
    failed = sorted(s for s, ok in done.items() if not ok)
    if failed:
        print(f"not graded: {', '.join(failed)} (see the messages above)", file=sys.stderr)
    return 0 if all(done.values()) else 1


def cmd_feedback(args: argparse.Namespace) -> int:
    course = _course_dir(args.course)
    with _in_course(course):
        api = _api(course)
        ok = _check_result(f"feedback {args.assignment}", api.generate_feedback(args.assignment, force=True))
    if ok:
        n = len(list((course / "feedback").glob(f"*/{args.assignment}/*.html")))
        print(f"feedback for {args.assignment}: {n} HTML file(s) under {course / 'feedback'}")
    # the trusted pass's report for every student, also those nbgrader could not grade
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


def gradebook_rows(course: Path, assignments: Sequence[str] | None = None) -> tuple[list[str], list[dict[str, Any]]]:
    """Per (student, assignment): points per task (visible + hidden cells summed), total, max."""
    from nbgrader.api import Gradebook, MissingEntry

    url = "sqlite:///" + str(course / "gradebook.db")
    rows: list[dict[str, Any]] = []
    columns: list[str] = []
    with Gradebook(url) as gb:
        names = [a.name for a in gb.assignments if not assignments or a.name in assignments]
        multi = len(names) > 1
        for a in sorted(names):
            for student in sorted(s.id for s in gb.students):
                try:
                    sub = gb.find_submission(a, student)
                except MissingEntry:
                    continue
                row: dict[str, Any] = {"student": student, "assignment": a}
                total = maximum = 0.0
                for nb in sub.notebooks:
                    for g in sorted(nb.grades, key=lambda g: g.name):
                        col = f"{a}/{_task_of(g.name)}" if multi else _task_of(g.name)
                        if col not in columns:
                            columns.append(col)
                        score = g.score if g.score is not None else 0.0
                        row[col] = round(row.get(col, 0.0) + score, 4)
                        total += score
                        maximum += g.max_score
                row["total"] = round(total, 4)
                row["max"] = round(maximum, 4)
                rows.append(row)
    return ["student", "assignment", *columns, "total", "max"], rows


def cmd_export(args: argparse.Namespace) -> int:
    course = _course_dir(args.course)
    header, rows = gradebook_rows(course, args.assignment)
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
        cols = [h for h in header[2:-2] if any(h in r for r in mine)]
        short = {h: h.split("/", 1)[-1] for h in cols}
        print(f"\n{a}  (points per task; written answers count once graded by hand)")
        _print_table(["student", *short.values(), "total", "max"],
                     [{"student": r["student"], **{short[h]: r.get(h, "") for h in cols},
                       "total": r["total"], "max": r["max"]} for r in mine])
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

def check_notebook(path: Path, timeout: int = 600) -> list[dict[str, Any]]:
    """Execute a notebook top to bottom and score its test cells as nbgrader would.

    Returns one dict per grade cell: ``task``, ``cell``, ``score``, ``max``, ``hidden`` (True for
    a hidden-test cell without its tests, as in a release notebook) and ``report`` (its output).
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
    print(f"running {path} top to bottom in a fresh kernel (a minute or so) ...", flush=True)
    t0 = time.perf_counter()
    results = check_notebook(path)
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
        print(f"   {a}: {sum(done.values())}/{len(done)} graded in {time.perf_counter() - t0:.1f} s")
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
    sp.add_argument("--no-sandbox", action="store_true", help="nbgrader's in-kernel scores only (no trusted pass; see exercises/SECURITY.md)")
    sp.add_argument("--jobs", "-j", type=int, metavar="N", help="grade N submissions at once (default: the number of CPUs)")

    sp = add("feedback", "generate HTML feedback for every autograded submission of an assignment", cmd_feedback)
    sp.add_argument("assignment", metavar="ASSIGNMENT")

    sp = add("export", "export the gradebook: student, assignment, points per task, total, max", cmd_export)
    sp.add_argument("--csv", required=True, metavar="FILE")
    sp.add_argument("--assignment", action="append", metavar="ASSIGNMENT", help="only this assignment (repeatable)")

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
