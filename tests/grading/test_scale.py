"""Grading a class at scale with real components: a PostgreSQL server (started here, as the
`postgres` user when run as root), a Dask cluster of worker processes, a worker killed with
SIGKILL mid-batch, a scheduler that goes away; the gradebook must equal single-process grading
of the same submissions row for row, and bad addresses fail before anything is written."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import synthetic_class

from course_grader import batch, cli, dispatch, submission

COURSE = Path(__file__).resolve().parents[2] / "exercises"
ASSIGNMENT = "ch03_gradient_descent"  # the cheapest assignment to grade: the tests are about the plumbing

pytestmark = pytest.mark.xdist_group("scale")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found and shutil.which("initdb"):
        return Path(shutil.which("initdb")).parent  # type: ignore[arg-type]
    if not found:
        pytest.fail("PostgreSQL is not installed: `make postgres` (Debian package postgresql) installs it")
    return found[-1].parent


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server on a free localhost port; yields a function giving the URL
    of a new empty database."""
    bindir = _pg_bin()
    root = Path(tempfile.mkdtemp(prefix="course-pg-"))
    data = root / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb and pg_ctl refuse to run as root
        shutil.chown(root, "postgres", "postgres")
        root.chmod(0o700)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off", "start")
    counter = iter(range(1000))

    def new_db() -> str:
        name = f"grades{next(counter)}"
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{port}/{name}"

    try:
        yield new_db
    finally:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """A released course (SQLite gradebook) with 40 generated submissions of ASSIGNMENT."""
    course = tmp_path_factory.mktemp("class")
    shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(COURSE / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    assert cli.main(["release", "--course", str(course), ASSIGNMENT]) == 0
    kinds = synthetic_class.write_class(course, ASSIGNMENT, 40, seed=13)
    return course, kinds


def _copy_course(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("reports", "autograded", "feedback"))
    return dest


@pytest.fixture(scope="module")
def reference(klass, tmp_path_factory):
    """Single-process grading of the class (this process, SQLite): the rows every other way must equal."""
    course = _copy_course(klass[0], tmp_path_factory.mktemp("ref") / "course")
    done = cli.autograde(course, ASSIGNMENT, sorted(klass[1]), progress=False, jobs=1)
    assert len(done) == 40 and all(o.results is not None for o in done.values())
    _, rows = cli.gradebook_rows(course, [ASSIGNMENT])
    return course, rows


def _rows(course: Path, url: str) -> list[dict]:
    return cli.gradebook_rows(course, [ASSIGNMENT], url)[1]


def _journals(course: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (course / "reports" / ASSIGNMENT).glob("*.json")}


def test_the_generated_class_spans_the_scores(reference, klass):
    """The batch is a real mix: full marks (complete), zero (stubs) and partial credit in between."""
    totals = {r["student"]: r["total"] for r in reference[1]}
    kinds = klass[1]
    full = max(totals.values())
    assert all(totals[s] == full for s, k in kinds.items() if k == "complete")
    assert all(totals[s] == 0 for s, k in kinds.items() if k == "stub")
    assert any(0 < totals[s] < full for s, k in kinds.items() if k == "buggy")
    assert any(0 < totals[s] < full for s, k in kinds.items() if k == "partial")


def _course_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "course_grader.cli", *args]


_ENV = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).resolve().parents[1])}


def test_dask_batch_survives_a_killed_worker_and_equals_single_process_grading(klass, reference, postgres, tmp_path):
    """`course autograde --cluster` (a separate process, as an instructor runs it) on a cluster of
    two worker processes; one is SIGKILLed while it grades."""
    from distributed import Client, LocalCluster

    course = _copy_course(klass[0], tmp_path / "course")
    url = postgres()
    killed: list[int] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=50) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]
        proc = subprocess.Popen(_course_cmd("autograde", ASSIGNMENT, "--course", str(course), "--quiet",
                                            "--cluster", cluster.scheduler_address, "--db", url),
                                env=_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline and not killed:
            if len(list((course / "reports" / ASSIGNMENT).glob("*.json"))) >= 4 and client.processing().get(victim):
                os.kill(pids[victim], signal.SIGKILL)
                killed.append(pids[victim])
            time.sleep(0.05)
        out, _ = proc.communicate(timeout=600)
        rc = proc.returncode
    assert rc == 0, out
    assert killed, "the worker was never killed while busy: the test did not test anything"
    journals = _journals(course)
    assert sorted(journals) == sorted(klass[1])  # exactly one result per student
    assert _rows(course, url) == reference[1]
    # formgrader/feedback/export work on the PostgreSQL gradebook
    assert cli.main(["feedback", ASSIGNMENT, "--course", str(course), "--db", url]) == 0
    assert len(list((course / "feedback").glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.html"))) == 40
    assert cli.main(["export", "--course", str(course), "--db", url, "--csv", str(tmp_path / "g.csv")]) == 0
    assert len((tmp_path / "g.csv").read_text().splitlines()) == 41


def test_local_pool_and_concurrent_writers_equal_single_process_grading(klass, reference, postgres, tmp_path):
    """Two `course autograde` processes write one PostgreSQL gradebook at once (halves of the
    class, two local workers each), then a third re-records everything (idempotent upserts)."""
    course = _copy_course(klass[0], tmp_path / "course")
    url = postgres()
    students = sorted(klass[1])
    # the assignment goes into the new database first (release), then two writers race
    assert cli.main(["autograde", ASSIGNMENT, "--course", str(course), "--db", url, "--quiet",
                     "--student", students[0]]) == 0
    procs = [subprocess.Popen(_course_cmd("autograde", ASSIGNMENT, "--course", str(course), "--db", url, "--jobs", "2",
                                          "--quiet", *[a for s in half for a in ("--student", s)]),
                              env=_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for half in (students[0::2], students[1::2])]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out
    assert _rows(course, url) == reference[1]
    # again, for a few: the same rows (an upsert, not a second submission)
    again = [a for s in students[:5] for a in ("--student", s)]
    assert cli.main(["autograde", ASSIGNMENT, "--course", str(course), "--db", url, "--jobs", "2", "--quiet", *again]) == 0
    assert _rows(course, url) == reference[1]


def test_resume_after_the_scheduler_went_away(klass, reference, tmp_path, capsys):
    from distributed import LocalCluster

    course = _copy_course(klass[0], tmp_path / "course")
    url = batch.gradebook_url(course)
    students = sorted(klass[1])[:12]
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50)
    stop = threading.Event()

    def close_after_three() -> None:
        while not stop.is_set():
            if len(list((course / "reports" / ASSIGNMENT).glob("*.json"))) >= 3:
                cluster.close()
                return
            time.sleep(0.05)

    t = threading.Thread(target=close_after_three, daemon=True)
    t.start()
    argv = ["autograde", ASSIGNMENT, "--course", str(course), "--cluster", cluster.scheduler_address, "--quiet",
            *[a for s in students for a in ("--student", s)]]
    try:
        rc = cli.main(argv)
    finally:
        stop.set()
        t.join(timeout=30)
        cluster.close()
    err = capsys.readouterr().err
    assert rc == 1 and "lost the Dask scheduler" in err and "--resume" in err, err
    first = set(_journals(course))
    assert 3 <= len(first) < len(students)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50) as c2:
        argv[argv.index("--cluster") + 1] = c2.scheduler_address
        assert cli.main([*argv, "--resume"]) == 0
    out = capsys.readouterr().out
    assert f"({len(first)} already graded, skipped by --resume)" in out
    assert sorted(_journals(course)) == students
    ref = [r for r in reference[1] if r["student"] in students]
    assert _rows(course, url) == ref


def _nothing_written(course: Path) -> None:
    assert not (course / "reports").exists()
    assert not (course / "autograded").exists()


def test_unreachable_scheduler_fails_before_grading(klass, tmp_path, monkeypatch, capsys):
    course = _copy_course(klass[0], tmp_path / "course")
    monkeypatch.setattr(dispatch, "CONNECT_TIMEOUT", 2.0)
    rc = cli.main(["autograde", ASSIGNMENT, "--course", str(course), "--quiet",
                   "--cluster", f"tcp://127.0.0.1:{_free_port()}"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:" in err and "dask scheduler" in err
    _nothing_written(course)
    assert cli.gradebook_rows(course, [ASSIGNMENT])[1] == []
    assert cli.main(["autograde", ASSIGNMENT, "--course", str(course), "--quiet", "--cluster", "example.org:8786"]) == 1
    assert "tcp://HOST:8786" in capsys.readouterr().err


def test_unreachable_database_fails_before_grading(klass, tmp_path, capsys):
    course = _copy_course(klass[0], tmp_path / "course")
    bad = f"postgresql+psycopg://grader:s3cret@127.0.0.1:{_free_port()}/grades"  # nothing listens there
    rc = cli.main(["autograde", ASSIGNMENT, "--course", str(course), "--quiet", "--db", bad])
    err = capsys.readouterr().err
    assert rc == 1
    assert "cannot open the gradebook postgresql+psycopg://grader:***@127.0.0.1:" in err
    assert "s3cret" not in err
    _nothing_written(course)


def test_a_worker_with_another_grader_is_refused(klass):
    ours = dispatch.environment()
    theirs = {**ours, "fingerprint": "0" * 64, "version": "0.0.9"}
    with pytest.raises(dispatch.EnvironmentMismatch, match=r"different course_grader.*version 0\.0\.9"):
        dispatch.check_environment(theirs, ours, "tcp://10.0.0.7:40000", need_bwrap=False)
    with pytest.raises(dispatch.EnvironmentMismatch, match="no working bubblewrap"):
        dispatch.check_environment({**ours, "bwrap_problem": "bwrap: not found"}, ours, "tcp://10.0.0.7:40000",
                                   need_bwrap=True)
    dispatch.check_environment(dict(ours), ours, "localhost", need_bwrap=True)
    # a task itself refuses to run on a grader other than the one the batch was built with
    spec = submission.AssignmentSpec.from_gradebook(batch.gradebook_url(klass[0]), ASSIGNMENT)
    snap = batch.snapshot(klass[0], ASSIGNMENT, sorted(klass[1])[0], spec)
    with pytest.raises(dispatch.EnvironmentMismatch, match="different course_grader"):
        dispatch.grade_job(dispatch.Job(ASSIGNMENT, snap, spec, True, "f" * 64))


def test_a_job_grades_its_snapshot(klass, tmp_path):
    """The job carries bytes read once: changing the folder afterwards changes nothing graded."""
    course = _copy_course(klass[0], tmp_path / "course")
    spec = submission.AssignmentSpec.from_gradebook(batch.gradebook_url(course), ASSIGNMENT)
    student = next(s for s, k in sorted(klass[1].items()) if k == "complete")
    job = dispatch.Job(ASSIGNMENT, batch.snapshot(course, ASSIGNMENT, student, spec), spec, True,
                       dispatch.code_fingerprint())
    (course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text("{}")
    outcome = dispatch.grade_job(job)
    res = outcome.results[ASSIGNMENT]
    assert res.status == "ok" and res.score == res.max_score > 0
    again = dispatch.Job(ASSIGNMENT, batch.snapshot(course, ASSIGNMENT, student, spec), spec, True, job.fingerprint)
    assert again.key != job.key


def test_demo_class_on_a_local_cluster_equals_single_process_grading(tmp_path):
    """The demo class (exercises/examples): `--cluster local` with two workers and `--jobs 1` in
    this process give the same gradebook rows."""
    examples = COURSE / "examples" / "submitted"
    assignments = sorted({p.parent.name for p in examples.glob("*/*/*.ipynb")})
    rows = {}
    for mode, extra in (("single", ["--jobs", "1"]), ("cluster", ["--cluster", "local", "--jobs", "2"])):
        course = tmp_path / mode
        course.mkdir()
        shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
        for a in assignments:
            shutil.copytree(COURSE / "source" / a, course / "source" / a)
        for a in assignments:
            assert cli.main(["autograde", a, "--course", str(course), "--quiet", "--submissions", str(examples), *extra]) == 0
        rows[mode] = cli.gradebook_rows(course)[1]
    assert len(rows["single"]) == 3 * len(assignments)
    assert {r["total"] for r in rows["single"]} != {0.0}  # the demo students earn points
    assert rows["cluster"] == rows["single"]


def test_a_job_carries_the_course_files_its_checks_read(tmp_path, monkeypatch):
    """Chapter 9's checks read the course's solutions/: a worker with no course directory (no
    COURSE_DIR, another working directory) grades the model solution to full marks from the job."""
    a = "ch09_architectures"
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy2(COURSE / "nbgrader_config.py", course / "nbgrader_config.py")
    shutil.copytree(COURSE / "source" / a, course / "source" / a)
    assert cli.main(["release", "--course", str(course), a]) == 0
    (course / "submitted" / "ada" / a).mkdir(parents=True)
    shutil.copy2(COURSE / "source" / a / f"{a}.ipynb", course / "submitted" / "ada" / a / f"{a}.ipynb")
    spec = submission.AssignmentSpec.from_gradebook(batch.gradebook_url(course), a)
    job = dispatch.Job(a, batch.snapshot(course, a, "ada", spec), spec, True, dispatch.code_fingerprint(),
                       dispatch.course_files(COURSE))
    assert [rel for rel, _ in job.course_files] == sorted(f"solutions/{p.name}" for p in (COURSE / "solutions").glob("*.py"))
    monkeypatch.delenv("COURSE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    res = dispatch.grade_job(job).results[a]
    assert res.score == res.max_score > 0, res.report()
