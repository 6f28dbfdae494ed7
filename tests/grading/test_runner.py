"""The grading runner itself: interrupted checks leave no process behind; the parallel batch
(`course autograde --jobs`) grades every student once, survives a dying worker, and defers the
in-kernel checks to the trusted pass. In-process and fast: nbgrader is replaced by a stub."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from grading_helpers import notebook_namespace

from course_grader import cli, grading


class _Interrupt(BaseException):
    """Stands for the KeyboardInterrupt nbgrader sends the kernel at its cell timeout."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_interrupted_check_kills_and_reaps_its_child(tmp_path):
    pid_file = tmp_path / "pid"
    ns = notebook_namespace("ch02_loss")

    def mse_loss(pred, target):  # the student's infinite loop, in the forked child
        pid_file.write_text(str(os.getpid()))
        while True:
            pass

    ns["mse_loss"] = mse_loss

    def interrupt(signum, frame):
        raise _Interrupt()

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.5)
        with pytest.raises(_Interrupt):
            grading.run_task("ch02_loss.mse", ns, timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert pid_file.exists(), "the check never reached the student's loop"
    child = int(pid_file.read_text())
    # reaped, not a zombie: the pid no longer exists at all
    assert not _alive(child), f"the child {child} outlived the interrupted check"


def test_deferred_grade_leaves_the_checks_to_the_trusted_pass(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_GRADING_DEFERRED", "1")
    assert grading.grade("ch02_loss.mse", {}) == 0.0
    assert "graded outside the notebook" in capsys.readouterr().out
    monkeypatch.delenv("COURSE_GRADING_DEFERRED")
    assert grading.grade("ch02_loss.mse", notebook_namespace("ch02_loss")) == grading.task_points("ch02_loss.mse")


def _course(tmp_path: Path) -> Path:
    (tmp_path / "release" / "a1").mkdir(parents=True)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    return tmp_path


def _fake_grade_one(log: Path, parent: int):
    def _grade_one(assignment: str, student: str, trusted: bool):
        in_worker = os.getpid() != parent
        with log.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps([student, os.getpid(), os.environ.get("COURSE_GRADING_DEFERRED")]) + "\n")
        if student == "boom" and in_worker:
            os._exit(1)  # the worker dies (out of memory, killed)
        time.sleep(0.05)
        return student, student != "boom", ([f"{student} failed"] if student == "boom" else [])

    _grade_one.__module__, _grade_one.__qualname__ = "course_grader.cli", "_grade_one"  # pickled by name
    return _grade_one


def _log(path: Path) -> list[list]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_parallel_batch_grades_every_student_in_workers(tmp_path, monkeypatch):
    course, log = _course(tmp_path / "c"), tmp_path / "log"
    monkeypatch.setattr(cli, "_grade_one", _fake_grade_one(log, os.getpid()))
    students = [f"s{i}" for i in range(6)]
    done = cli.autograde(course, "a1", students, progress=False, trusted=True, jobs=2)
    assert done == {s: True for s in students} and list(done) == students
    entries = _log(log)
    assert sorted(e[0] for e in entries) == students  # each exactly once
    assert all(e[1] != os.getpid() for e in entries), "graded in the parent, not in the workers"
    assert all(e[2] == "1" for e in entries), "the in-kernel checks were not deferred"
    assert "COURSE_GRADING_DEFERRED" not in os.environ


def test_a_dying_worker_costs_nothing_the_rest_is_graded_here(tmp_path, monkeypatch, capsys):
    course, log = _course(tmp_path / "c"), tmp_path / "log"
    monkeypatch.setattr(cli, "_grade_one", _fake_grade_one(log, os.getpid()))
    students = ["s0", "boom", "s1", "s2", "s3"]
    done = cli.autograde(course, "a1", students, progress=False, trusted=False, jobs=2)
    assert done == {"s0": True, "boom": False, "s1": True, "s2": True, "s3": True}
    graded = {e[0] for e in _log(log)}
    assert graded == set(students)
    err = capsys.readouterr().err
    assert "boom failed" in err and "a grading worker stopped" in err


def test_one_job_grades_in_process_and_jobs_are_capped(tmp_path, monkeypatch):
    course, log = _course(tmp_path / "c"), tmp_path / "log"
    monkeypatch.setattr(cli, "_grade_one", _fake_grade_one(log, os.getpid()))
    done = cli.autograde(course, "a1", ["s0", "s1"], progress=False, trusted=False, jobs=1)
    assert done == {"s0": True, "s1": True}
    assert {e[1] for e in _log(log)} == {os.getpid()}
    assert cli.default_jobs(1) == 1 and 1 <= cli.default_jobs(100) <= (os.cpu_count() or 1)
